//! Byte scanners of the response walker: find the next byte that matters a block at a time
//! (SIMD in the wasm build, eight bytes at a time natively), since most of a JSON body is
//! string content nothing needs to look at.

use super::bytemask::{self, Masks, BLOCK};

/// A container value being skipped or captured, across chunks.
#[derive(Debug, Default)]
pub(super) struct Capture {
    pub(super) buf: Vec<u8>,
    pub(super) depth: usize,
    pub(super) in_string: bool,
    pub(super) escape: bool,
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of `x` that equals `b`; exact for the lowest match.
fn bytes_equal(x: u64, b: u8) -> u64 {
    let v = x ^ (LO * u64::from(b));
    v.wrapping_sub(LO) & !v & HI
}

/// Where the next `"` or `\\` is: sixteen bytes at a time, since most of a JSON body is
/// string content.
pub fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    let mut base = 0;
    while let Some(lane) = s.get(base..).and_then(<[u8]>::first_chunk::<16>) {
        if let Some(at) = bytemask::first_quote_or_backslash(lane) {
            return Some(base + at);
        }
        base += 16;
    }
    s.get(base..)
        .unwrap_or_default()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| base + p)
}

/// Bit 7 of every byte of `x` that may change string or nesting state: `"`, `\\`, brackets
/// and braces (`[`/`]` fold onto `{`/`}` with bit 5 set). A superset: a bit above a true match
/// can be a false one (the borrow of the subtraction), so each is checked against its byte.
fn special_candidates(x: u64) -> u64 {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let folded = x | CASE;
    bytes_equal(x, b'"')
        | bytes_equal(x, b'\\')
        | bytes_equal(folded, b'{')
        | bytes_equal(folded, b'}')
}

/// One byte that may matter inside a container being skipped; `Some` once the container ends.
/// An escape is not handled here: the caller skips the byte after a backslash in a string.
fn container_byte(state: &mut Capture, b: u8) -> Option<()> {
    if state.in_string {
        if b == b'"' {
            state.in_string = false;
        }
        return None;
    }
    match b {
        b'"' => state.in_string = true,
        b'{' | b'[' => state.depth += 1,
        b'}' | b']' => {
            state.depth = state.depth.saturating_sub(1);
            if state.depth == 0 {
                return Some(());
            }
        }
        _ => {}
    }
    None
}

/// Advance through a container value: `Some(n)` when it ends after `n` bytes of `input`.
/// Whole blocks are read from their masks, with no step per byte (a skipped container is
/// mostly short keys and strings, a quote every few bytes); a block with a backslash in it,
/// or right after one, and the last bytes of the chunk are read candidate by candidate.
pub(super) fn scan_value_end(state: &mut Capture, input: &[u8]) -> Option<usize> {
    let mut idx = 0;
    while let Some(block) = input.get(idx..).and_then(<[u8]>::first_chunk::<BLOCK>) {
        let masks = bytemask::block(block);
        let end = if state.escape || masks.backslash != 0 {
            scan_candidates(state, block)
        } else {
            scan_masks(state, &masks)
        };
        if let Some(n) = end {
            return Some(idx + n);
        }
        idx += BLOCK;
    }
    scan_candidates(state, input.get(idx..).unwrap_or_default()).map(|n| idx + n)
}

/// Bit `i` set where an odd number of the bits `0..=i` of `x` are.
pub(super) fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// One block without backslashes: which bytes are inside strings follows from the quotes
/// alone, and the brackets outside them change the depth. They are only walked one by one
/// when the block may close the container.
fn scan_masks(state: &mut Capture, m: &Masks) -> Option<usize> {
    // Set from an opening quote up to (not including) its closing one.
    let mut inside = prefix_xor(m.quote);
    if state.in_string {
        inside = !inside;
    }
    let opens = m.open & !inside;
    let closes = m.close & !inside;
    let (n_open, n_close) = (opens.count_ones() as usize, closes.count_ones() as usize);
    if n_close < state.depth {
        state.depth = state.depth + n_open - n_close;
    } else {
        let mut brackets = opens | closes;
        while brackets != 0 {
            let at = brackets.trailing_zeros();
            brackets &= brackets - 1;
            if opens >> at & 1 == 1 {
                state.depth += 1;
            } else {
                state.depth = state.depth.saturating_sub(1);
                if state.depth == 0 {
                    return Some(at as usize + 1);
                }
            }
        }
    }
    state.in_string = inside >> 63 == 1;
    None
}

/// Advance through a container value, candidate by candidate: eight bytes are tested at
/// once, and every candidate of a word is taken from its mask before the next word is loaded.
fn scan_candidates(state: &mut Capture, input: &[u8]) -> Option<usize> {
    let mut idx = 0;
    if state.escape {
        // The byte after a backslash that ended the previous chunk.
        state.escape = false;
        idx = 1;
    }
    while let Some(word) = input.get(idx..idx + 8) {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let mut hits = special_candidates(u64::from_le_bytes(bytes));
        // Where the next word starts: past this one, or past the byte a backslash escapes.
        let mut next = idx + 8;
        // Bytes of this word before this one are escaped (consumed by a backslash).
        let mut from = idx;
        while hits != 0 {
            let at = idx + (hits.trailing_zeros() / 8) as usize;
            hits &= hits - 1;
            if at < from {
                continue;
            }
            let b = bytes.get(at - idx).copied().unwrap_or_default();
            if state.in_string && b == b'\\' {
                from = at + 2;
                next = next.max(from);
                continue;
            }
            if container_byte(state, b).is_some() {
                return Some(at + 1);
            }
        }
        idx = next;
    }
    if idx > input.len() {
        // The backslash was the last byte: its escaped byte starts the next chunk.
        state.escape = true;
        return None;
    }
    while let Some(&b) = input.get(idx) {
        if state.in_string && b == b'\\' {
            if idx + 1 >= input.len() {
                state.escape = true;
                return None;
            }
            idx += 2;
            continue;
        }
        if container_byte(state, b).is_some() {
            return Some(idx + 1);
        }
        idx += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The container scan one byte at a time, the plain way: where it ends, or its state.
    fn naive_end(input: &[u8]) -> Result<usize, (usize, bool, bool)> {
        let (mut depth, mut in_string, mut escape) = (0usize, false, false);
        for (i, &b) in input.iter().enumerate() {
            if escape {
                escape = false;
            } else if in_string {
                match b {
                    b'"' => in_string = false,
                    b'\\' => escape = true,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                    }
                    _ => {}
                }
            }
        }
        Err((depth, in_string, escape))
    }

    /// Feed `input` (after its opening bracket) cut at `cuts`, as the walker does.
    fn chunked_end(input: &[u8], cuts: &[usize]) -> Result<usize, (usize, bool, bool)> {
        let mut state = Capture {
            depth: 1,
            ..Capture::default()
        };
        let mut last = 1;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let c = c.clamp(last, input.len());
            if c == last {
                continue;
            }
            if let Some(n) = scan_value_end(&mut state, &input[last..c]) {
                return Ok(last + n);
            }
            last = c;
        }
        Err((state.depth, state.in_string, state.escape))
    }

    #[test]
    fn container_scan_matches_the_byte_at_a_time_one_at_every_cut() {
        // Escapes at every position of a word and at word and chunk ends, brackets and
        // backslashes in strings, runs of escaped backslashes and quotes, a long string.
        let long = format!("{{\"m\":\"{}\\\\\"}}\"}}", "x{]\\\"".repeat(40));
        let inputs: Vec<Vec<u8>> = vec![
            br#"{"a":"b\"c","d":[1,{"e":"]}"}]}"#.to_vec(),
            br#"{"\\\\\\\"":"\\","x":"a\"]}"}"#.to_vec(),
            br#"[1234567\"x",["\\"],"\\\"",{}]"#.to_vec(),
            br#"{"k":"1234567\\","l":"123456\"7\"","m":"\\\\\\\\"}"#.to_vec(),
            "{\"é\":\"ſ\u{212A}\\\"\",\"x\":\"\\u00e9\"}"
                .as_bytes()
                .to_vec(),
            long.into_bytes(),
            br#"{"unterminated":"abc\"#.to_vec(),
            br#"{"a":[{"b":"#.to_vec(),
        ];
        for input in &inputs {
            let want = naive_end(input);
            assert_eq!(
                chunked_end(input, &[]),
                want,
                "{}",
                String::from_utf8_lossy(input)
            );
            for a in 1..input.len() {
                assert_eq!(chunked_end(input, &[a]), want, "cut {a}");
                for b in (a..input.len()).step_by(3) {
                    assert_eq!(chunked_end(input, &[a, b]), want, "cuts {a} {b}");
                }
            }
        }
        // Random bytes of the kinds that matter, at random cuts.
        let mut next = xorshift(12345);
        for _ in 0..3000 {
            let len = 1 + (next() % 70) as usize;
            same_at_random_cuts(len, b"\"\\{}[]a\x01\x21", 4, &mut next);
        }
    }

    /// Reproducible pseudo-random numbers (xorshift32).
    fn xorshift(mut x: u32) -> impl FnMut() -> u32 {
        move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        }
    }

    /// A container of `len` random bytes of `alphabet`, fed in at up to `max_cuts - 1` random
    /// cuts, ends where the byte-at-a-time scan says.
    fn same_at_random_cuts(
        len: usize,
        alphabet: &[u8],
        max_cuts: u32,
        next: &mut impl FnMut() -> u32,
    ) {
        let mut buf = vec![b'{'];
        buf.extend((0..len).map(|_| alphabet[next() as usize % alphabet.len()]));
        let want = naive_end(&buf);
        let mut cuts: Vec<usize> = (0..next() % max_cuts)
            .map(|_| (next() as usize) % buf.len())
            .collect();
        cuts.sort_unstable();
        assert_eq!(chunked_end(&buf, &cuts), want, "{buf:?} {cuts:?}");
    }

    #[test]
    fn whole_blocks_match_the_byte_at_a_time_scan() {
        // Long containers, so that most bytes go through whole blocks: without backslashes
        // (strings from quotes alone), with a rare one (a block read candidate by candidate,
        // an escape carried into the next block), deep and shallow, cut anywhere.
        let mut next = xorshift(777);
        for round in 0..4000 {
            let len = 1 + (next() % 600) as usize;
            let alphabet: &[u8] = match round % 4 {
                0 => b"\"{}[]aaaa",
                1 => b"\"\"{[aaaaa]}",
                2 => b"\"aaaaaaaaaa{}",
                _ => b"\"{}[]aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\",
            };
            same_at_random_cuts(len, alphabet, 3, &mut next);
        }
        // A container that ends exactly at, just before and just after block boundaries.
        for pad in 0..200 {
            let mut buf = br#"{"a":[{"b":"}]"#.to_vec();
            buf.extend(std::iter::repeat_n(b'x', pad));
            buf.extend_from_slice(br#"","c":{}}],"d":"\\"}"#);
            buf.extend_from_slice(b"}, \"after\": 1");
            let want = naive_end(&buf);
            assert!(want.is_ok());
            for cut in [0, 1, 63, 64, 65, buf.len() / 2] {
                assert_eq!(chunked_end(&buf, &[cut]), want, "pad {pad} cut {cut}");
            }
        }
    }

    #[test]
    fn quote_search_matches_the_naive_one() {
        let mut next = xorshift(99);
        for len in 0..80 {
            for _ in 0..50 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| b"ab\"\\\x00\xff\x22\x5c"[(next() % 8) as usize])
                    .collect();
                let naive = buf.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(find_quote_or_backslash(&buf), naive, "{buf:?}");
            }
        }
    }
}
