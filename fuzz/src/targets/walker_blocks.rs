//! The response walker's block reading (`response/level.rs`: an Event's members found from
//! 64-byte masks) against its member-by-member reading, which the `walker` target judges with an
//! independent reader: for any body, layout, document limit and chunking, both give the same
//! output and the same refusal. A body is several documents of the `walker` target's shapes with
//! long strings (so members cross blocks and chunks), whitespace, escapes, non-ASCII keys and
//! stray bytes.
//!
//! Input: a selector byte (bit 0: the events.k8s.io layout that captures list items; bit 1: a
//! document limit, its size from bits 2-7), a chunking seed byte, then the body.

use activity_events_filter::k8s::api::Operation;
use activity_events_filter::k8s::status::UpstreamFault;
use activity_events_filter::response::walker::{Layout, Walker};
use proptest::prelude::*;

use super::walker::document;
use crate::mutate::Rng;
use crate::{fail, show, Target};

pub fn target() -> Target {
    Target {
        name: "walker_blocks",
        about: "the walker reads an Event's members from block masks exactly as it reads them one by one",
        check,
        strategy,
        dictionary: &[
            "\"apiVersion\":\"activity.miloapis.com/v1alpha1\"",
            "\"api\\u0056ersion\"",
            "\"rows\":[",
            "\"items\":[",
            "\"message\":\"\\\"\\\\\"",
            ",\"\u{17F}\":1",
            " \n\t",
            "\\",
        ],
    }
}

const ACT: &str = "activity.miloapis.com/v1alpha1";

type Walked = (Vec<u8>, Option<(UpstreamFault, Option<usize>)>);

/// The output and, if refused, why and where the last whole document ended.
fn walk(mut w: Walker, body: &[u8], cuts: &[usize]) -> Walked {
    let mut out = Vec::new();
    let mut cb = |v: &[u8], out: &mut Vec<u8>| {
        out.push(b'<');
        out.extend_from_slice(v);
        Ok(())
    };
    let mut last = 0;
    for &c in cuts.iter().chain(std::iter::once(&body.len())) {
        let c = c.clamp(last, body.len());
        if let Err(e) = w.push(&body[last..c], &mut out, &mut cb) {
            return (out, Some((e, w.last_boundary())));
        }
        last = c;
    }
    let end = w.finish().err().map(|e| (e, None));
    (out, end)
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let [selector, chunking, body @ ..] = input else {
        return Ok(());
    };
    let layout = if selector & 1 == 0 {
        Layout::RewriteApiVersion {
            from: ACT.into(),
            to: "v1".into(),
        }
    } else {
        Layout::ListItems {
            from: ACT.into(),
            to: "events.k8s.io/v1".into(),
        }
    };
    let limit = (selector & 2 != 0).then(|| 40 + usize::from(selector >> 2) * 24);
    let make = || {
        let w = Walker::new(layout.clone(), 1 << 20);
        match limit {
            Some(l) => w.with_document_limit(l),
            None => w,
        }
    };
    let mut rng = Rng::new(u64::from(*chunking) * 0x9E37_79B9 + body.len() as u64);
    let mut cuts: Vec<usize> = (0..rng.below(8))
        .map(|_| rng.below(body.len() + 1))
        .collect();
    cuts.sort_unstable();
    let blocks = walk(make(), body, &cuts);
    let members = walk(make().member_by_member(), body, &cuts);
    // Bytes copied before a document limit refused a watch event are never sent; everything
    // else must be the same.
    let same =
        blocks.1 == members.1 && (blocks.0 == members.0 || (limit.is_some() && blocks.1.is_some()));
    if same {
        return Ok(());
    }
    Err(fail(
        "block reading differs from member-by-member reading",
        format!(
            "limit {limit:?} cuts {cuts:?}\n blocks  {:?} {}\n members {:?} {}",
            blocks.1,
            show(&blocks.0, 300),
            members.1,
            show(&members.0, 300)
        ),
    ))
}

/// Noise a byte at a time: what breaks the masks' reading if anything does.
fn noise(rng: &mut Rng, body: &mut Vec<u8>) {
    const BYTES: &[u8] = b"{}[]\":,\\ \n\xc5\xbfax";
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(body.len() + 1);
        let b = BYTES[rng.below(BYTES.len())];
        match rng.below(3) {
            0 => body.insert(at, b),
            1 if at < body.len() => body[at] = b,
            _ if at < body.len() => {
                body.remove(at);
            }
            _ => {}
        }
    }
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (any::<u8>(), any::<u8>(), any::<u64>())
        .prop_map(|(selector, chunking, seed)| {
            let mut rng = Rng::new(seed);
            let op = [Operation::Get, Operation::List, Operation::Watch][rng.below(3)];
            let mut text = String::new();
            for _ in 0..1 + rng.below(3) {
                text.push_str(&document(&mut rng, op));
            }
            // Long members, so that they cross 64-byte blocks; whitespace as a pretty printer
            // writes it.
            let long = format!(",\"note\":\"{}\"", "xy\\\"z{]".repeat(rng.below(40)));
            text = text.replacen(",\"count\":", &format!("{long},\"count\":"), 2);
            if rng.chance(4) {
                text = text.replace(",\"", ", \n \"").replace("\":", "\" : ");
            }
            let mut body = text.into_bytes();
            if rng.chance(3) {
                noise(&mut rng, &mut body);
            }
            let mut out = vec![selector, chunking];
            out.extend_from_slice(&body);
            out
        })
        .boxed()
}
