//! `wire::pairs` against a reference decoder written from the format's description: the same
//! buffers decode, to the same entries; what decodes re-encodes to the same bytes (the format
//! has one spelling per map); the builder gives `encode`'s bytes whatever capacity it started
//! with.
//!
//! Input: the raw buffer the host would hand over.

use activity_events_filter::wire::pairs::{decode, encode, PairsBuilder};
use proptest::prelude::*;

use crate::{fail, show, Target};

pub fn target() -> Target {
    Target {
        name: "pairs",
        about: "decode agrees with a reference decoder, re-encodes byte for byte, builder equals encode",
        check,
        strategy,
        dictionary: &["\0\0\0\0", "\u{1}\0\0\0", "\u{ff}\u{ff}\u{ff}\u{ff}", "\0"],
    }
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// `u32 count`, `count` × (`u32 key_len`, `u32 value_len`), then each key and value with a NUL.
fn reference(buf: &[u8]) -> Option<Entries> {
    if buf.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<u64> {
        let b = buf.get(at..at.checked_add(4)?)?;
        Some(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    };
    let count = u32_at(0)?;
    let header = 4u64.checked_add(count.checked_mul(8)?)?;
    if header > buf.len() as u64 {
        return None;
    }
    let mut at = header as usize;
    let mut out = Vec::new();
    for i in 0..count as usize {
        let k = u32_at(4 + 8 * i)? as usize;
        let v = u32_at(8 + 8 * i)? as usize;
        let mut take = |len: usize| -> Option<Vec<u8>> {
            let end = at.checked_add(len)?;
            let item = buf.get(at..end)?.to_vec();
            if buf.get(end) != Some(&0) {
                return None;
            }
            at = end + 1;
            Some(item)
        };
        let key = take(k)?;
        let value = take(v)?;
        out.push((key, value));
    }
    (at == buf.len()).then_some(out)
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let got = decode(input);
    let want = reference(input);
    match (&got, &want) {
        (Ok(g), Some(w)) => {
            let g: Entries = g.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
            if &g != w {
                return Err(fail(
                    "decoded entries differ from the reference",
                    show(input, 200),
                ));
            }
        }
        (Err(_), None) => return Ok(()),
        (Ok(_), None) => return Err(fail("accepted a malformed buffer", show(input, 200))),
        (Err(e), Some(_)) => {
            return Err(fail(
                "refused a well-formed buffer",
                format!("{e}: {}", show(input, 200)),
            ))
        }
    }
    let entries = want.unwrap_or_default();
    let again = encode(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    let canonical = if input.is_empty() {
        &[0, 0, 0, 0][..]
    } else {
        input
    };
    if again != canonical {
        return Err(fail("re-encoding differs", show(input, 200)));
    }
    for slots in [0, 1, entries.len(), entries.len() + 3] {
        let mut b = PairsBuilder::with_capacity(slots, 16);
        for (k, v) in &entries {
            b.push(k, v);
        }
        if b.len() != entries.len() || b.finish() != again {
            return Err(fail(
                "builder differs from encode",
                format!("{slots} slots"),
            ));
        }
    }
    Ok(())
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    let entries = proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 0..12),
            proptest::collection::vec(any::<u8>(), 0..24),
        ),
        0..8,
    );
    (entries, 0usize..8, any::<u16>(), any::<u8>())
        .prop_map(|(entries, damage, at, byte)| {
            let mut buf = encode(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
            let i = usize::from(at) % buf.len().max(1);
            match damage {
                0 if !buf.is_empty() => buf[i] = byte,
                1 => buf.truncate(i),
                2 => buf.push(byte),
                3 if buf.len() >= 4 => buf[0] = buf[0].wrapping_add(byte | 1),
                _ => {}
            }
            buf
        })
        .boxed()
}
