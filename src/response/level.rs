//! The members of one open object read a block at a time, to find the first one the walker
//! must look at itself.
//!
//! Inside an Event the walker acts on a few keys only (`apiVersion`, `rows`); every other member
//! is copied through unchanged, whatever its value. Reading those members token by token (key,
//! colon, value, comma, each a step) was most of the walker's cost on a list. Here the blocks'
//! masks give which bytes are inside strings (quotes, minus those a backslash escapes) and which
//! brackets outside strings change the depth, so the object's own level is known without a step
//! per byte; only the strings that start at that level are looked at, and of those only keys are
//! judged.
//!
//! Whatever this cannot read exactly as the walker's single steps would (a backslash outside a
//! string, a string at the object's level after anything but `,` or `:`, a key with an escape
//! or a byte outside ASCII, the end of the chunk), it leaves to them: it stops at a point where
//! their state is known, the opening quote of a key of the object.

use super::bytemask::{self, Masks, BLOCK};
use super::scan::{find_quote_or_backslash, prefix_xor};

/// Alternating bits, the even positions of a word.
const EVEN: u64 = 0x5555_5555_5555_5555;

/// Where the open object's members stop needing no look. `input` starts with the opening
/// quote of a key of the object (the walker expects a key there), outside any string;
/// `plain` says of a key's raw bytes (only ever ASCII without a backslash) whether the walker
/// would copy its member through unchanged whatever the value. It is asked only of keys whose
/// length `n` is 64 or more or has bit `n` of `asked` set: every other key is plain (the walker
/// knows a few keys, all short; most keys of an object are read from the masks alone).
///
/// Returns the number of bytes before the first thing the walker must read itself: the
/// opening quote of a key `plain` refuses or cannot be shown (an escape, a byte outside ASCII,
/// cut by the chunk), or the object's closing bracket. Where neither is reached (the chunk
/// ends, or something is not read exactly here), the opening quote of the last key seen, or
/// 0. Everything before the returned offset is members the walker copies as they are.
pub(super) fn plain_members_len(input: &[u8], asked: u64, plain: impl Fn(&[u8]) -> bool) -> usize {
    let plain = |raw: &[u8]| {
        let n = raw.len();
        (n < 64 && asked >> n & 1 == 0) || plain(raw)
    };
    // The first key decides whether the blocks are worth reading at all.
    if !key_at(input, 0).is_some_and(&plain) {
        return 0;
    }
    let plain_in_block = |m: &Masks, closing: u64, p: u32, base: usize| {
        // The key's closing quote, if it is in this block: its bytes are judged from the masks.
        let after = closing & !bits(0, p + 1);
        if after == 0 {
            return key_at(input, base + p as usize).is_some_and(&plain);
        }
        let end = after.trailing_zeros();
        if (m.backslash | m.high) & bits(p + 1, end) != 0 {
            return false;
        }
        // Judged from its length alone where it can be (`end - p - 1` is under 64).
        asked >> (end - p - 1) & 1 == 0
            || input
                .get(base + p as usize + 1..base + end as usize)
                .is_some_and(&plain)
    };
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped_carry = 0u64;
    // The opening quote of the last key seen: the walker can take over there.
    let mut safe = 0;
    let mut base = 0;
    let mut tail = [b' '; BLOCK];
    while base < input.len() {
        let rest = input.get(base..).unwrap_or_default();
        let block = match rest.first_chunk::<BLOCK>() {
            Some(b) => b,
            None => {
                // The chunk's last bytes, padded with whitespace: nothing there starts or ends.
                if let Some(head) = tail.get_mut(..rest.len()) {
                    head.copy_from_slice(rest);
                }
                &tail
            }
        };
        let m = bytemask::block(block);
        let quotes = m.quote & !escaped(m.backslash, &mut escaped_carry);
        // Set from an opening quote up to (not including) its closing one.
        let mut inside = prefix_xor(quotes);
        if in_string {
            inside = !inside;
        }
        // Outside a string a backslash escapes nothing for the walker: from the first such
        // one on, the masks' quotes are not the walker's, and the block is read up to it.
        let stray = m.backslash & !inside;
        let (level, end) = object_level(&mut depth, m.open & !inside, m.close & !inside);
        let end = end.filter(|&e| e < stray.trailing_zeros());
        let mut starts = quotes & inside & level & bits(0, end.unwrap_or(stray.trailing_zeros()));
        while starts != 0 {
            let p = starts.trailing_zeros();
            let at = base + p as usize;
            starts &= starts - 1;
            if at == 0 {
                // The first key, judged above.
                continue;
            }
            match previous_token(input, at) {
                // A value: the walker passes a string under a plain key.
                Some(b':') => continue,
                Some(b',') => {}
                _ => return safe,
            }
            if !plain_in_block(&m, quotes & !inside, p, base) {
                return at;
            }
            safe = at;
        }
        if let Some(end) = end {
            return base + end as usize;
        }
        if stray != 0 {
            return safe;
        }
        in_string = inside >> 63 == 1;
        base += BLOCK;
    }
    safe
}

/// The raw bytes of the key whose opening quote is at `at`; `None` if it holds a backslash or
/// a byte outside ASCII, or does not end in `input`.
fn key_at(input: &[u8], at: usize) -> Option<&[u8]> {
    let body = input.get(at + 1..)?;
    let n = find_quote_or_backslash(body)?;
    if body.get(n) != Some(&b'"') {
        return None;
    }
    body.get(..n).filter(|k| k.is_ascii())
}

/// The byte before `at`, past JSON whitespace.
fn previous_token(input: &[u8], at: usize) -> Option<u8> {
    input
        .get(..at)?
        .iter()
        .rev()
        .copied()
        .find(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The bytes of a block a backslash escapes (within strings, where backslashes stand). A run
/// of backslashes escapes every second byte from its start; `carry` is 1 when the block's
/// first byte is escaped by the previous block's last backslash, and is set likewise for the
/// next block. (The carry-propagating addition of simdjson's first stage.)
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    if backslash == 0 && *carry == 0 {
        return 0;
    }
    // A backslash escaped by the previous block starts no escape.
    let backslash = backslash & !*carry;
    let follows = (backslash << 1) | *carry;
    // Runs that start on an odd bit: adding them to the backslashes carries out through the
    // run, so that the bit after a run of odd length marks where parity flips.
    let odd_starts = backslash & !EVEN & !follows;
    let (runs_from_even, overflow) = odd_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    (EVEN ^ (runs_from_even << 1)) & follows
}

/// Which bytes of a block are at the object's own level, from the brackets outside strings and
/// the depth below the object at the block's start (updated for the next block). Also where
/// the object's closing bracket is, if it is in the block (nothing after it is counted).
fn object_level(depth: &mut usize, opens: u64, closes: u64) -> (u64, Option<u32>) {
    let mut brackets = opens | closes;
    if brackets == 0 {
        return (if *depth == 0 { u64::MAX } else { 0 }, None);
    }
    let mut level = 0u64;
    // Where the current stretch at the object's level began.
    let mut from = 0u32;
    while brackets != 0 {
        let at = brackets.trailing_zeros();
        brackets &= brackets - 1;
        if opens >> at & 1 == 1 {
            if *depth == 0 {
                level |= bits(from, at);
            }
            *depth += 1;
        } else if *depth == 0 {
            return (level | bits(from, at), Some(at));
        } else {
            *depth -= 1;
            if *depth == 0 {
                from = at + 1;
            }
        }
    }
    if *depth == 0 {
        level |= bits(from, 64);
    }
    (level, None)
}

/// Bits `from..to` of a word.
fn bits(from: u32, to: u32) -> u64 {
    let below = |n: u32| 1u64.checked_shl(n).map_or(u64::MAX, |b| b - 1);
    below(to) & !below(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escaped bytes of a sequence of blocks, one byte at a time.
    fn naive_escaped(bytes: &[u8]) -> Vec<bool> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut escape = false;
        for &b in bytes {
            out.push(escape);
            escape = !escape && b == b'\\';
        }
        out
    }

    #[test]
    fn escapes_match_the_byte_at_a_time_reading_across_blocks() {
        let mut r = Rng(0x9e37_79b9);
        for round in 0..5000 {
            let len = BLOCK * (1 + round % 3);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match r.below(2 + round % 5) {
                    0 => b'a',
                    _ => b'\\',
                })
                .collect();
            let want = naive_escaped(&bytes);
            let mut carry = 0;
            for (k, block) in bytes.chunks(BLOCK).enumerate() {
                let mask = block
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, &b)| m | u64::from(b == b'\\') << i);
                let got = escaped(mask, &mut carry);
                for i in 0..BLOCK {
                    assert_eq!(
                        got >> i & 1 == 1,
                        want[k * BLOCK + i],
                        "{bytes:?} at {k}:{i}"
                    );
                }
            }
        }
    }

    #[test]
    fn level_and_end_from_brackets() {
        let mask = |s: &str| {
            s.bytes()
                .enumerate()
                .fold(0u64, |m, (i, b)| m | u64::from(b == b'1') << i)
        };
        // `{` at 2, `}` at 5, `}` (the object's) at 8.
        let opens = mask("001");
        let closes = mask("000001001");
        let mut depth = 0;
        let (level, end) = object_level(&mut depth, opens, closes);
        assert_eq!(end, Some(8));
        assert_eq!(level, mask("11000011"));
        // Starting one level down: the first close returns to the object's level.
        let mut depth = 1;
        let (level, end) = object_level(&mut depth, 0, mask("0001"));
        assert_eq!((level, end, depth), (!0u64 << 4, None, 0));
        assert_eq!(bits(0, 64), u64::MAX);
        assert_eq!(bits(64, 64), 0);
        assert_eq!(bits(3, 5), 0b11000);
    }

    fn plain(k: &[u8]) -> bool {
        assert!(k.is_ascii() && !k.contains(&b'\\'), "{k:?}");
        !k.eq_ignore_ascii_case(b"apiversion")
    }

    /// [`plain_members_len`] with `plain` asked only of keys as long as `apiVersion`; the same
    /// as when it is asked of every key.
    fn members_len(body: &[u8]) -> usize {
        let n = plain_members_len(body, 1 << 10, plain);
        assert_eq!(n, plain_members_len(body, u64::MAX, plain), "{body:?}");
        n
    }

    #[test]
    fn stops_at_the_first_key_that_matters_at_the_objects_level() {
        let body = br#""a":{"apiVersion":"x"},"b":"apiVersion","apiVersion":"y"}"#;
        let at = body
            .windows(13)
            .position(|w| w == br#","apiVersion""#)
            .unwrap()
            + 1;
        assert_eq!(members_len(body), at);
        // None at the object's level: up to its closer.
        let body = br#""a":{"apiVersion":"x"},"b":[{"c":"}"}],"d":"\"apiVersion\":"}, "e":1"#;
        assert_eq!(members_len(body), body.len() - 8);
    }

    #[test]
    fn leaves_to_the_walker_what_it_does_not_read_exactly() {
        // The first key matters.
        assert_eq!(members_len(br#""apiVersion":"x"}"#), 0);
        // A backslash outside a string: back to the last key.
        let body = br#""a":1,"b":\"c","apiVersion":2}"#;
        assert_eq!(members_len(body), 6);
        // A string after a value with no separator.
        let body = br#""a":"b" "apiVersion":1}"#;
        assert_eq!(members_len(body), 0);
        // A key with an escape or outside ASCII, or cut by the chunk: stop at its quote.
        for body in [
            &br#""a":1,"b\u0061":2}"#[..],
            "\"a\":1,\"ſ\":2}".as_bytes(),
            br#""a":1,"bbb"#,
        ] {
            assert_eq!(members_len(body), 6, "{body:?}");
        }
        // The chunk ends inside a member: the last key.
        let body = br#""a":1,"b":{"c":"#;
        assert_eq!(members_len(body), 6);
    }

    /// Reproducible pseudo-random numbers (xorshift32).
    struct Rng(u32);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0 as usize % n.max(1)
        }

        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
    }

    const ACT: &str = "activity.miloapis.com/v1alpha1";

    /// Whitespace, usually none (as Go writes it).
    fn gap(r: &mut Rng, out: &mut String) {
        if r.below(6) == 0 {
            out.push_str(r.pick(&[" ", "\n", "\t ", "\r\n  "]));
        }
    }

    /// A random key: mostly plain, sometimes one the walker acts on, in any spelling.
    fn key(r: &mut Rng) -> &'static str {
        r.pick(&[
            "metadata",
            "reason",
            "message",
            "source",
            "count",
            "a",
            "type",
            "reportingInstance",
            "apiVersion",
            "APIVERSION",
            "api\\u0056ersion",
            "apiVer\u{17F}ion",
            "rows",
            "ROWS",
            "items",
            "object",
            "kind",
            "cells",
            "\u{e9}",
            "\\\"",
            "apiversio",
            "rowss",
        ])
    }

    /// A random JSON value, `depth` levels at most; objects are Event-like.
    fn value(r: &mut Rng, depth: usize, out: &mut String) {
        match r.below(if depth == 0 { 4 } else { 7 }) {
            0 => out.push_str(r.pick(&[
                "\"Pulled\"",
                "\"a\\\"b\\\\\"",
                "\"}]{[\"",
                "\"\\u0041\"",
                "\"activity.miloapis.com/v1alpha1\"",
                "\"activity.miloapis.com\\/v1alpha1\"",
                "\"v1\"",
                "\"\"",
                "\"\\\\\"",
                "\"x\\\\\\\"y\"",
            ])),
            1 => out.push_str(r.pick(&["1", "-2.5e3", "true", "null", "0"])),
            2 => {
                let n = 20 + r.below(200);
                out.push('"');
                for _ in 0..n {
                    out.push_str(r.pick(&["x", "x", "x", "\\\"", "\\\\", "{", "]", ",", ":"]));
                }
                out.push('"');
            }
            3 => out.push_str("{}"),
            4 | 5 => object(r, depth - 1, out),
            _ => {
                out.push('[');
                for i in 0..r.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    gap(r, out);
                    value(r, depth - 1, out);
                }
                out.push(']');
            }
        }
    }

    fn object(r: &mut Rng, depth: usize, out: &mut String) {
        out.push('{');
        for i in 0..r.below(14) {
            if i > 0 {
                out.push(',');
            }
            gap(r, out);
            out.push('"');
            out.push_str(key(r));
            out.push('"');
            gap(r, out);
            out.push(':');
            gap(r, out);
            value(r, depth, out);
            gap(r, out);
        }
        out.push('}');
    }

    /// A random body of the shapes Activity answers: one Event, a list, a Table, a watch
    /// stream; then, now and then, a few bytes broken.
    fn body(r: &mut Rng) -> Vec<u8> {
        let mut out = String::new();
        let shape = r.below(4);
        let docs = if shape == 3 { 1 + r.below(4) } else { 1 };
        for _ in 0..docs {
            match shape {
                0 => object(r, 3, &mut out),
                1 => {
                    out.push_str(&format!(
                        r#"{{"kind":"EventList","apiVersion":"{ACT}","items":["#
                    ));
                    for i in 0..r.below(5) {
                        if i > 0 {
                            out.push(',');
                        }
                        gap(r, &mut out);
                        object(r, 3, &mut out);
                    }
                    out.push_str("]}");
                }
                2 => {
                    out.push_str(r#"{"kind":"Table","rows":["#);
                    for i in 0..r.below(4) {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(r#"{"cells":["a",1],"object":"#);
                        object(r, 3, &mut out);
                        out.push('}');
                    }
                    out.push_str("]}");
                }
                _ => {
                    out.push_str(r#"{"type":"ADDED","object":"#);
                    object(r, 3, &mut out);
                    out.push_str("}\n");
                }
            }
        }
        let mut bytes = out.into_bytes();
        if r.below(3) == 0 {
            for _ in 0..1 + r.below(3) {
                let at = r.below(bytes.len() + 1);
                let alphabet = b"{}[]\":,\\ a\xc5";
                let b = alphabet[r.below(alphabet.len())];
                match r.below(3) {
                    0 => bytes.insert(at, b),
                    1 if at < bytes.len() => bytes[at] = b,
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
        }
        bytes
    }

    /// Everything the walker gives for `input` cut at `cuts`: the output and, if it refused,
    /// why and where the last whole document ended.
    fn walk(
        walker: Walker,
        input: &[u8],
        cuts: &[usize],
    ) -> (Vec<u8>, Option<(UpstreamFault, Option<usize>)>) {
        let mut w = walker;
        let mut out = Vec::new();
        let mut cb = |v: &[u8], out: &mut Vec<u8>| {
            out.push(b'<');
            out.extend_from_slice(v);
            Ok(())
        };
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let c = c.clamp(last, input.len());
            if let Err(e) = w.push(&input[last..c], &mut out, &mut cb) {
                return (out, Some((e, w.last_boundary())));
            }
            last = c;
        }
        let end = w.finish().err().map(|e| (e, None));
        (out, end)
    }

    use super::super::walker::{Layout, Walker};
    use crate::k8s::status::UpstreamFault;

    #[test]
    fn the_walker_gives_the_same_with_and_without_block_reading() {
        let mut r = Rng(0x1234_5678);
        let layouts = [
            Layout::RewriteApiVersion {
                from: ACT.into(),
                to: "v1".into(),
            },
            Layout::ListItems {
                from: ACT.into(),
                to: "events.k8s.io/v1".into(),
            },
        ];
        let mut refused = 0;
        for round in 0..20_000 {
            let input = body(&mut r);
            let layout = layouts[usize::from(round % 5 == 0)].clone();
            let limit = (round % 7 == 0).then(|| 50 + r.below(400));
            let mut cuts: Vec<usize> = (0..r.below(4)).map(|_| r.below(input.len() + 1)).collect();
            cuts.sort_unstable();
            let make = || {
                let w = Walker::new(layout.clone(), 1 << 20);
                match limit {
                    Some(l) => w.with_document_limit(l),
                    None => w,
                }
            };
            let fast = walk(make(), &input, &cuts);
            let slow = walk(make().member_by_member(), &input, &cuts);
            let show = || {
                format!(
                    "{:?} cuts {cuts:?} limit {limit:?}",
                    String::from_utf8_lossy(&input)
                )
            };
            assert_eq!(fast.1, slow.1, "{}", show());
            if fast.1.is_some() {
                refused += 1;
            }
            // Bytes copied before a document limit refused a watch event are never sent.
            if limit.is_none() || fast.1.is_none() {
                assert_eq!(
                    String::from_utf8_lossy(&fast.0),
                    String::from_utf8_lossy(&slow.0),
                    "{}",
                    show()
                );
            }
        }
        // Both kinds of input were met.
        assert!(refused > 1000 && refused < 19_000, "{refused}");
    }
}
