//! The filter's own sorts, in place of the standard library's.
//!
//! Every `sort`, `sort_unstable` or `sort_by_key` call instantiates the standard library's
//! pattern-defeating quicksort or driftsort for its element type: 6–14 KB of wasm each, about
//! 35 KB for the filter's four call sites, all for a few elements (the terms of a field selector,
//! the members of one JSON object, at most four edits). These two generic functions are a few
//! hundred bytes per type. Both stay correct and bounded on hostile input: the unstable one is a
//! heapsort (O(n log n) worst case, no allocation, no recursion) above [`SMALL`] elements.

/// Up to this many elements insertion sort is used (fewest comparisons and moves for tiny
/// slices); above it heapsort, so that a hostile input cannot make it quadratic.
const SMALL: usize = 16;

/// Sorts `v` by `less` (a strict "goes before" order), keeping equal elements in their order.
/// Quadratic: only for slices whose length the filter itself bounds.
pub fn stable_small_by<T>(v: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    insertion(v, &mut less);
}

/// Sorts `v` by `less` (a strict "goes before" order); equal elements may be reordered.
/// O(n log n) comparisons at worst.
pub fn unstable_by<T>(v: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    if v.len() <= SMALL {
        insertion(v, &mut less);
        return;
    }
    for node in (0..v.len() / 2).rev() {
        sift_down(v, node, &mut less);
    }
    for end in (1..v.len()).rev() {
        // `end < v.len()`: the largest of the heap goes to the end of the sorted tail.
        v.swap(0, end);
        if let Some(heap) = v.get_mut(..end) {
            sift_down(heap, 0, &mut less);
        }
    }
}

/// Sorts `v` ascending; equal elements may be reordered. O(n log n) at worst.
pub fn unstable<T: Ord>(v: &mut [T]) {
    unstable_by(v, |a, b| a < b);
}

fn insertion<T>(v: &mut [T], less: &mut impl FnMut(&T, &T) -> bool) {
    for i in 1..v.len() {
        let mut j = i;
        // Move element `i` left past every element it goes strictly before (so stable).
        while let Some(pair) = j.checked_sub(1).and_then(|k| v.get_mut(k..=j)) {
            match pair {
                [a, b] if less(b, a) => core::mem::swap(a, b),
                _ => break,
            }
            j -= 1;
        }
    }
}

/// Restores the max-heap order below `node`, whose children are already heaps.
fn sift_down<T>(v: &mut [T], mut node: usize, less: &mut impl FnMut(&T, &T) -> bool) {
    loop {
        let mut child = 2 * node + 1;
        let Some(left) = v.get(child) else {
            return;
        };
        if let Some(right) = v.get(child + 1) {
            if less(left, right) {
                child += 1;
            }
        }
        match (v.get(node), v.get(child)) {
            (Some(parent), Some(larger)) if less(parent, larger) => v.swap(node, child),
            _ => return,
        }
        node = child;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence (xorshift), so no test dependency is needed.
    fn noise(n: usize, seed: u64, modulo: u64) -> Vec<u64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % modulo
            })
            .collect()
    }

    #[test]
    fn unstable_sorts_like_the_standard_library() {
        for n in [0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 100, 1000] {
            for (seed, modulo) in [(1, 1_000_000), (7, 3), (99, 1)] {
                let mut ours = noise(n, seed, modulo);
                let mut std = ours.clone();
                unstable(&mut ours);
                std.sort_unstable();
                assert_eq!(ours, std, "n={n} seed={seed} modulo={modulo}");
            }
            let mut rising: Vec<usize> = (0..n).collect();
            let mut falling: Vec<usize> = (0..n).rev().collect();
            unstable(&mut rising);
            unstable(&mut falling);
            assert_eq!(rising, falling);
            assert_eq!(rising, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn stable_keeps_equal_elements_in_order() {
        let mut v: Vec<(u64, usize)> = noise(40, 5, 4).into_iter().zip(0..).collect();
        let mut std = v.clone();
        stable_small_by(&mut v, |a, b| a.0 < b.0);
        std.sort_by_key(|e| e.0);
        assert_eq!(v, std);
    }

    #[test]
    fn strings_sort_bytewise() {
        let mut v = vec!["b", "", "a=1", "a", "a!=1", "B"];
        unstable(&mut v);
        assert_eq!(v, ["", "B", "a", "a!=1", "a=1", "b"]);
    }
}
