//! Which bytes of a block are the ones JSON scanning stops at, as bit masks (bit `i` is byte
//! `i`). The wasm build has `simd128` (V8 and wasmtime support it): sixteen bytes per compare.
//! Native builds (tests, profiles) compute the same masks eight bytes at a time, so the scans
//! built on them are tested natively, and the wasm masks through the built `.wasm`.

/// Bytes per block of [`block`].
pub(super) const BLOCK: usize = 64;

/// The bytes of one block that may change string or nesting state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Masks {
    pub(super) quote: u64,
    pub(super) backslash: u64,
    /// `{` and `[`.
    pub(super) open: u64,
    /// `}` and `]`.
    pub(super) close: u64,
    /// Bytes outside ASCII (bit 7 set).
    pub(super) high: u64,
}

/// `[`/`]` fold onto `{`/`}` with bit 5 set, and no other byte does.
const CASE: u8 = 0x20;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use super::{Masks, BLOCK, CASE};
    use core::arch::wasm32::{
        u8x16, u8x16_bitmask, u8x16_eq, u8x16_splat, v128, v128_any_true, v128_or,
    };

    fn load(b: &[u8; 16]) -> v128 {
        let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15] = *b;
        u8x16(
            a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,
        )
    }

    #[inline(always)]
    pub(in crate::response) fn block(b: &[u8; BLOCK]) -> Masks {
        let lanes = b
            .chunks_exact(16)
            .filter_map(|l| <&[u8; 16]>::try_from(l).ok());
        let (quote, backslash) = (u8x16_splat(b'"'), u8x16_splat(b'\\'));
        let (open, close, case) = (u8x16_splat(b'{'), u8x16_splat(b'}'), u8x16_splat(CASE));
        let mut m = Masks::default();
        let mut any_slash = u8x16_splat(0);
        for (k, lane) in lanes.clone().enumerate() {
            let v = load(lane);
            let folded = v128_or(v, case);
            let shift = 16 * k as u32;
            m.quote |= u64::from(u8x16_bitmask(u8x16_eq(v, quote))) << shift;
            any_slash = v128_or(any_slash, u8x16_eq(v, backslash));
            m.open |= u64::from(u8x16_bitmask(u8x16_eq(folded, open))) << shift;
            m.close |= u64::from(u8x16_bitmask(u8x16_eq(folded, close))) << shift;
            m.high |= u64::from(u8x16_bitmask(v)) << shift;
        }
        // Backslashes are rare: one test for the block, the mask only where there are some.
        if v128_any_true(any_slash) {
            for (k, lane) in lanes.enumerate() {
                let v = load(lane);
                m.backslash |= u64::from(u8x16_bitmask(u8x16_eq(v, backslash))) << (16 * k as u32);
            }
        }
        m
    }

    pub(in crate::response) fn first_quote_or_backslash(b: &[u8; 16]) -> Option<usize> {
        let v = load(b);
        let hits = v128_or(
            u8x16_eq(v, u8x16_splat(b'"')),
            u8x16_eq(v, u8x16_splat(b'\\')),
        );
        if !v128_any_true(hits) {
            return None;
        }
        Some(u8x16_bitmask(hits).trailing_zeros() as usize)
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use super::{Masks, BLOCK, CASE};

    const LO: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

    /// Bit `i` set where byte `i` of `x` (little-endian) equals `b`: exact, carry-free.
    fn equal_bits(x: u64, b: u8) -> u64 {
        let v = x ^ (LO * u64::from(b));
        gather(!(((v & LOW7) + LOW7) | v | LOW7))
    }

    /// Bit 7 of each byte of `x`, gathered into the low byte.
    fn gather(x: u64) -> u64 {
        ((x & !LOW7) >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
    }

    #[inline(always)]
    pub(in crate::response) fn block(b: &[u8; BLOCK]) -> Masks {
        let words = b
            .chunks_exact(8)
            .filter_map(|w| <[u8; 8]>::try_from(w).ok());
        let mut m = Masks::default();
        for (k, word) in words.enumerate() {
            let x = u64::from_le_bytes(word);
            let folded = x | (LO * u64::from(CASE));
            let shift = 8 * k as u32;
            m.quote |= equal_bits(x, b'"') << shift;
            m.backslash |= equal_bits(x, b'\\') << shift;
            m.open |= equal_bits(folded, b'{') << shift;
            m.close |= equal_bits(folded, b'}') << shift;
            m.high |= gather(x) << shift;
        }
        m
    }

    pub(in crate::response) fn first_quote_or_backslash(b: &[u8; 16]) -> Option<usize> {
        let words = b
            .chunks_exact(8)
            .filter_map(|w| <[u8; 8]>::try_from(w).ok());
        let mut base = 0;
        for word in words {
            let x = u64::from_le_bytes(word);
            let hits = equal_bits(x, b'"') | equal_bits(x, b'\\');
            if hits != 0 {
                return Some(base + hits.trailing_zeros() as usize);
            }
            base += 8;
        }
        None
    }
}

pub(super) use imp::{block, first_quote_or_backslash};

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(b: &[u8]) -> Masks {
        let mut m = Masks::default();
        for (i, &c) in b.iter().enumerate() {
            let bit = 1u64 << i;
            match c {
                b'"' => m.quote |= bit,
                b'\\' => m.backslash |= bit,
                b'{' | b'[' => m.open |= bit,
                b'}' | b']' => m.close |= bit,
                _ => {}
            }
            if c >= 0x80 {
                m.high |= bit;
            }
        }
        m
    }

    #[test]
    fn masks_match_the_byte_at_a_time_ones() {
        // Every byte value at every position, next to the bytes that matter (a borrow from a
        // match must not mark its neighbour).
        let mut block_bytes = [0u8; BLOCK];
        for value in 0..=255u8 {
            for at in 0..BLOCK {
                for (i, b) in block_bytes.iter_mut().enumerate() {
                    *b = b"\"\\{}[]a\x00\xff\x7b\x5b\x22"[(i * 7 + usize::from(value)) % 12];
                }
                block_bytes[at] = value;
                assert_eq!(block(&block_bytes), naive(&block_bytes), "{value} at {at}");
                let lane: [u8; 16] = block_bytes[at / 16 * 16..at / 16 * 16 + 16]
                    .try_into()
                    .unwrap();
                let want = lane.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(first_quote_or_backslash(&lane), want);
                // Alone among plain bytes too.
                let mut lane = [b'a'; 16];
                lane[at % 16] = value;
                let want = lane.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(
                    first_quote_or_backslash(&lane),
                    want,
                    "{value} alone at {at}"
                );
            }
        }
    }
}
