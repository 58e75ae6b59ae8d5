//! Byte scanners of the response walker: find the next byte that matters eight bytes at a time
//! (SWAR), since most of a JSON body is string content nothing needs to look at.

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

/// Where the next `"` or `\\` is: eight bytes at a time, since most of a JSON body is string
/// content.
pub fn find_quote_or_backslash(s: &[u8]) -> Option<usize> {
    let mut base = 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(bytes);
        let hits = bytes_equal(x, b'"') | bytes_equal(x, b'\\');
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == b'"' || c == b'\\')
        .map(|p| base + p)
}

/// Where the next byte is that can change string or nesting state: `"`, `\\`, brackets and
/// braces. Eight bytes at a time; `[`/`]` fold onto `{`/`}` with bit 5 set.
fn find_special(s: &[u8]) -> Option<usize> {
    const CASE: u64 = 0x2020_2020_2020_2020;
    let mut base = 0;
    let mut chunks = s.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let x = u64::from_le_bytes(bytes);
        let folded = x | CASE;
        let hits = bytes_equal(x, b'"')
            | bytes_equal(x, b'\\')
            | bytes_equal(folded, b'{')
            | bytes_equal(folded, b'}');
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| matches!(c, b'"' | b'\\' | b'{' | b'}' | b'[' | b']'))
        .map(|p| base + p)
}

/// Advance through a container value: `Some(n)` when it ends after `n` bytes of `input`.
/// Only quotes, backslashes and brackets are looked at, found eight bytes at a time.
pub(super) fn scan_value_end(state: &mut Capture, input: &[u8]) -> Option<usize> {
    let mut idx = 0;
    if state.escape {
        // The byte after a backslash that ended the previous chunk.
        state.escape = false;
        idx = 1;
    }
    while idx < input.len() {
        let off = find_special(input.get(idx..).unwrap_or_default())?;
        idx += off;
        let b = input.get(idx).copied().unwrap_or_default();
        if state.in_string {
            match b {
                b'"' => state.in_string = false,
                b'\\' => {
                    if idx + 1 >= input.len() {
                        state.escape = true;
                        return None;
                    }
                    idx += 2;
                    continue;
                }
                _ => {}
            }
        } else {
            match b {
                b'"' => state.in_string = true,
                b'{' | b'[' => state.depth += 1,
                b'}' | b']' => {
                    state.depth = state.depth.saturating_sub(1);
                    if state.depth == 0 {
                        return Some(idx + 1);
                    }
                }
                _ => {}
            }
        }
        idx += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_search_matches_the_naive_one() {
        let mut x: u32 = 99;
        for len in 0..80 {
            for _ in 0..50 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        b"ab\"\\\x00\xff\x22\x5c"[(x % 8) as usize]
                    })
                    .collect();
                let naive = buf.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(find_quote_or_backslash(&buf), naive, "{buf:?}");
            }
        }
    }
}
