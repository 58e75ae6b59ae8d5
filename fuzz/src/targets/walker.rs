//! The response rewriting (`response::ResponsePlan::rewriter`, driving `response/walker.rs` with
//! the events.k8s.io converter): whatever Activity answers, the client is never shown Activity's
//! `apiVersion` (`activity.miloapis.com/v1alpha1`) for an Event or EventList — at the root, in
//! `items[*]`, in `rows[*].object`, in a watch event's `object` — in any JSON escaping, any
//! duplicate, or in half a document. The output is found by a tolerant reader written here that
//! decodes keys and strings as a client does and judges what it read before any syntax error.
//! Also: the output does not depend on where the body was cut into chunks, and a layout that
//! promises to keep the length keeps it (but for watches, which have no content-length).
//!
//! Input: a selector byte (bit 0 API, bits 1-3 operation, bit 4 an error status, bit 5
//! `?pretty`, bit 6 a small object limit), a chunking seed byte, then the body.

use activity_events_filter::k8s::api::{Api, Operation};
use activity_events_filter::response::output::Output;
use activity_events_filter::response::ResponsePlan;
use proptest::prelude::*;

use super::json_str_noise;
use crate::mutate::Rng;
use crate::{fail, show, Target};

pub fn target() -> Target {
    Target {
        name: "walker",
        about: "no Event/EventList in the output carries Activity's apiVersion in any escaping; chunking does not change the output",
        check,
        strategy,
        dictionary: &[
            "\"apiVersion\":\"activity.miloapis.com/v1alpha1\"",
            "\"api\\u0056ersion\"",
            "\"activity.miloapis.com\\/v1alpha1\"",
            "\"kind\":\"Event\"",
            "\"items\":[",
            "\"rows\":[{\"object\":",
            "{\"type\":\"ADDED\",\"object\":",
            "\n",
            "\\u0061",
        ],
    }
}

const ACT: &str = "activity.miloapis.com/v1alpha1";

pub struct Setup {
    pub plan: ResponsePlan,
    pub status: u16,
}

pub fn setup(selector: u8) -> Setup {
    let operation = Operation::ALL[usize::from((selector >> 1) & 7) % Operation::ALL.len()];
    Setup {
        plan: ResponsePlan {
            api: if selector & 1 == 0 {
                Api::CoreV1
            } else {
                Api::EventsV1
            },
            operation,
            upstream_api_version: ACT.into(),
            pretty: selector & 32 != 0,
            max_object_bytes: if selector & 64 != 0 { 300 } else { 1 << 20 },
        },
        status: if selector & 16 != 0 { 404 } else { 200 },
    }
}

/// Rewrite `body` cut at the given points, each chunk as the host writes it back (the head
/// that changed, then the chunk's rest as it came; the whole output once the rewrite failed);
/// the output and whether the stream was ended.
fn rewrite(s: &Setup, body: &[u8], cuts: &[usize]) -> (Vec<u8>, bool, bool) {
    let mut r = s.plan.rewriter(s.status);
    let mut out = Vec::new();
    let mut last = 0;
    let mut ended = false;
    for &c in cuts.iter().chain(std::iter::once(&body.len())) {
        let c = c.clamp(last, body.len());
        let chunk = &body[last..c];
        let mut chunk_out = Output::over(chunk, Vec::new());
        if !r.push_to(chunk, &mut chunk_out) {
            out.extend(chunk_out.into_vec());
            ended = true;
            break;
        }
        let (replaced, head) = chunk_out.into_head();
        out.extend(head);
        out.extend_from_slice(&chunk[replaced..]);
        last = c;
    }
    if !ended {
        // A body refused at its end (truncated) is ended too: reset or replaced.
        ended = !r.finish_into(&mut out);
    }
    (out, ended, r.preserves_length())
}

/// Where an object sits in a response document.
#[derive(Clone, Copy, PartialEq)]
enum Pos {
    /// What the client decodes as a whole: a top-level document (not of a watch), a watch
    /// event's `object`, a Table row's `object`: an Event, a list, a Table, a Status.
    Doc,
    /// A top-level document of a watch stream: `{"type": ..., "object": ...}`.
    WatchEvent,
    /// The `items` array of a list.
    Items,
    /// The `rows` array of a Table.
    Rows,
    /// An element of `items`.
    Item,
    /// An element of `rows`.
    Row,
    Other,
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    leak: Option<String>,
    /// The last string read had an escape.
    escaped: bool,
    /// An error status: the client reads the body as a Status.
    error: bool,
    /// A list answer (or a watch, whose objects may be lists of a Table watch).
    list: bool,
}

type R = Result<(), ()>;

impl Scan<'_> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string, decoded, and whether it was written with escapes.
    fn string(&mut self) -> Result<String, ()> {
        let start = self.i;
        let s = self.string_inner()?;
        if self.b[start..self.i].contains(&b'\\') {
            self.escaped = true;
        }
        Ok(s)
    }

    fn string_inner(&mut self) -> Result<String, ()> {
        self.i += 1;
        let mut raw = Vec::new();
        loop {
            let c = *self.b.get(self.i).ok_or(())?;
            self.i += 1;
            match c {
                b'"' => return Ok(String::from_utf8_lossy(&raw).into_owned()),
                b'\\' => {
                    let e = *self.b.get(self.i).ok_or(())?;
                    self.i += 1;
                    match e {
                        b'u' => {
                            let h = self.b.get(self.i..self.i + 4).ok_or(())?;
                            let h = std::str::from_utf8(h).map_err(|_| ())?;
                            let mut u = u32::from_str_radix(h, 16).map_err(|_| ())?;
                            self.i += 4;
                            if (0xD800..0xDC00).contains(&u)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let lo = self
                                    .b
                                    .get(self.i + 2..self.i + 6)
                                    .and_then(|h| std::str::from_utf8(h).ok())
                                    .and_then(|h| u32::from_str_radix(h, 16).ok());
                                if let Some(lo @ 0xDC00..=0xDFFF) = lo {
                                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                    self.i += 6;
                                }
                            }
                            let ch = char::from_u32(u).unwrap_or('\u{fffd}');
                            raw.extend_from_slice(ch.to_string().as_bytes());
                        }
                        b'n' => raw.push(b'\n'),
                        b't' => raw.push(b'\t'),
                        b'r' => raw.push(b'\r'),
                        b'b' => raw.push(8),
                        b'f' => raw.push(12),
                        b'"' | b'\\' | b'/' => raw.push(e),
                        _ => return Err(()),
                    }
                }
                _ => raw.push(c),
            }
        }
    }

    fn scalar(&mut self) -> R {
        let start = self.i;
        while matches!(self.b.get(self.i), Some(c) if c.is_ascii_alphanumeric() || b"+-.".contains(c))
        {
            self.i += 1;
        }
        let word = &self.b[start..self.i];
        let ok = matches!(word, b"true" | b"false" | b"null")
            || (!word.is_empty()
                && std::str::from_utf8(word).is_ok_and(|w| w.parse::<f64>().is_ok()));
        if ok {
            Ok(())
        } else {
            Err(())
        }
    }

    /// One value at `pos`; a string value is returned for its member to judge.
    fn value(&mut self, pos: Pos, depth: usize) -> Result<Option<String>, ()> {
        if depth > 200 {
            return Err(());
        }
        self.ws();
        match self.b.get(self.i) {
            None => Err(()),
            Some(b'"') => self.string().map(Some),
            Some(b'{') => {
                let pos = if matches!(pos, Pos::Items | Pos::Rows) {
                    Pos::Other
                } else {
                    pos
                };
                self.object(pos, depth).map(|()| None)
            }
            Some(b'[') => {
                self.i += 1;
                let inner = match pos {
                    Pos::Items => Pos::Item,
                    Pos::Rows => Pos::Row,
                    _ => Pos::Other,
                };
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(None);
                }
                loop {
                    self.value(inner, depth + 1)?;
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(None);
                        }
                        _ => return Err(()),
                    }
                }
            }
            Some(_) => self.scalar().map(|()| None),
        }
    }

    fn object(&mut self, pos: Pos, depth: usize) -> R {
        self.i += 1;
        let mut kind: Option<String> = None;
        let mut versions: Vec<(String, bool)> = Vec::new();
        let result = (|| -> R {
            self.ws();
            if self.b.get(self.i) == Some(&b'}') {
                self.i += 1;
                return Ok(());
            }
            loop {
                self.ws();
                if self.b.get(self.i) != Some(&b'"') {
                    return Err(());
                }
                self.escaped = false;
                let key = self.string()?;
                let key_escaped = self.escaped;
                self.ws();
                if self.b.get(self.i) != Some(&b':') {
                    return Err(());
                }
                self.i += 1;
                let child = match (pos, key.as_str()) {
                    // An error answer is read as a Status: only its root counts.
                    // Only a list answer has items; a single object's `items` is just a field.
                    (Pos::Doc, "items") if !self.error && self.list => Pos::Items,
                    (Pos::Doc, "rows") if !self.error => Pos::Rows,
                    (Pos::WatchEvent | Pos::Row, "object") => Pos::Doc,
                    _ => Pos::Other,
                };
                self.escaped = false;
                let v = self.value(child, depth + 1)?;
                let value_escaped = self.escaped;
                match (key.as_str(), v) {
                    ("apiVersion", Some(s)) => versions.push((s, key_escaped || value_escaped)),
                    ("kind", Some(s)) => kind = Some(s),
                    _ => {}
                }
                self.ws();
                match self.b.get(self.i) {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(());
                    }
                    _ => return Err(()),
                }
            }
        })();
        let candidate = matches!(pos, Pos::Doc | Pos::Item);
        let eventish = match kind.as_deref() {
            Some("Event" | "EventList") => true,
            // List items may go without a kind; so may half an object.
            None => pos == Pos::Item || result.is_err(),
            Some(_) => false,
        };
        if candidate && eventish && self.leak.is_none() {
            if let Some((v, escaped)) = versions.iter().find(|(v, _)| v == ACT) {
                // The class of the leak, so each is reported on its own.
                let form = if *escaped {
                    "escaped"
                } else if versions.len() > 1 {
                    "duplicate apiVersion"
                } else if result.is_err() {
                    "incomplete"
                } else {
                    "plain"
                };
                let place = if pos == Pos::Item {
                    "list item"
                } else {
                    "document"
                };
                self.leak = Some(format!("{form} {place}: apiVersion {v:?}, kind {kind:?}"));
            }
        }
        result
    }
}

/// Activity's `apiVersion` on an Event the client would read, if any. `watch`: the body is a
/// stream of watch events; `list`: a list answer; `error`: an error answer.
pub fn leak(out: &[u8], watch: bool, list: bool, error: bool) -> Option<String> {
    let mut s = Scan {
        b: out,
        i: 0,
        leak: None,
        escaped: false,
        error,
        list,
    };
    loop {
        s.ws();
        let top = if watch { Pos::WatchEvent } else { Pos::Doc };
        if s.i >= out.len() || s.value(top, 0).is_err() {
            break;
        }
    }
    s.leak
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let [selector, chunking, body @ ..] = input else {
        return Ok(());
    };
    let s = setup(*selector);
    let (whole, ended, keeps_length) = rewrite(&s, body, &[]);
    let mut rng = Rng::new(u64::from(*chunking) * 0x9E37_79B9 + body.len() as u64);
    let mut cuts: Vec<usize> = (0..1 + rng.below(6))
        .map(|_| rng.below(body.len() + 1))
        .collect();
    if *chunking & 1 == 1 {
        // Byte at a time through the first part: every state boundary.
        cuts.extend(0..body.len().min(200));
    }
    cuts.sort_unstable();
    let (chunked, chunked_ended, _) = rewrite(&s, body, &cuts);
    let what = format!(
        "{:?} {:?} status {} pretty {}",
        s.plan.api, s.plan.operation, s.status, s.plan.pretty
    );
    // A refusal is the one place chunking may matter: a held document already sent when the
    // fault arrives can only be cut, where the whole body gets a Status in its place. Both
    // outputs are still checked for leaks.
    let both_refused = ended && chunked_ended;
    if !both_refused && (chunked.as_slice(), chunked_ended) != (whole.as_slice(), ended) {
        return Err(fail(
            "output depends on chunking",
            format!(
                "{what}: cuts {cuts:?}:\n whole   {}\n chunked {}",
                show(&whole, 300),
                show(&chunked, 300)
            ),
        ));
    }
    // A watch has no content-length to keep (and may end with an ERROR event).
    let watch = s.plan.operation == Operation::Watch && s.status < 300;
    if keeps_length && !ended && !watch && whole.len() != body.len() {
        return Err(fail(
            "length-preserving layout changed the length",
            format!("{what}: {} -> {}", body.len(), whole.len()),
        ));
    }
    let list = s.plan.operation == Operation::List;
    let leaked = leak(&whole, watch, list, s.status >= 300)
        .or_else(|| leak(&chunked, watch, list, s.status >= 300));
    if let Some(l) = leaked {
        let (form, rest) = l.split_once(':').unwrap_or((&l, ""));
        return Err(fail(
            &format!(
                "Activity's apiVersion reaches the client ({:?}, {form})",
                s.plan.api
            ),
            format!(
                "{what}:{rest}\n in  {}\n out {}",
                show(body, 400),
                show(&whole, 400)
            ),
        ));
    }
    Ok(())
}

fn key(rng: &mut Rng, k: &str) -> String {
    json_str_noise(rng, k, 12)
}

fn event(rng: &mut Rng, with_kind: bool) -> String {
    let mut m = Vec::new();
    let av = if rng.chance(10) {
        "v1".to_owned()
    } else {
        ACT.to_owned()
    };
    m.push(format!(
        "{}:{}",
        key(rng, "apiVersion"),
        json_str_noise(rng, &av, 12)
    ));
    if with_kind || rng.chance(2) {
        m.push(format!(
            "{}:{}",
            key(rng, "kind"),
            json_str_noise(rng, "Event", 16)
        ));
    }
    m.push(
        "\"metadata\":{\"name\":\"e1\",\"namespace\":\"default\",\"resourceVersion\":\"7\"}".into(),
    );
    m.push(format!(
        "\"involvedObject\":{{\"apiVersion\":\"{ACT}\",\"kind\":\"Event\",\"name\":\"x\"}}"
    ));
    m.push("\"message\":\"m \\\"q\\\" \\\\ done\",\"count\":2,\"source\":{}".into());
    if rng.chance(8) {
        m.push(format!("\"apiVersion\":\"{ACT}\""));
    }
    let r = rng.below(m.len());
    m.rotate_left(r);
    format!("{{{}}}", m.join(","))
}

pub(super) fn document(rng: &mut Rng, op: Operation) -> String {
    let shape = if rng.chance(6) {
        rng.below(5)
    } else {
        match op {
            Operation::List => rng.below(2) + 1,
            Operation::Watch => 3,
            _ => 0,
        }
    };
    match shape {
        0 => event(rng, true),
        1 => {
            let items: Vec<String> = (0..rng.below(4)).map(|_| event(rng, false)).collect();
            format!(
                "{{\"kind\":\"EventList\",{}:\"{ACT}\",\"metadata\":{{\"resourceVersion\":\"9\"}},\"items\":[{}]}}",
                key(rng, "apiVersion"),
                items.join(",")
            )
        }
        2 => {
            let rows: Vec<String> = (0..rng.below(3))
                .map(|_| format!("{{\"cells\":[\"a\",1],\"object\":{}}}", event(rng, true)))
                .collect();
            format!(
                "{{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"columnDefinitions\":[],\"rows\":[{}]}}",
                rows.join(",")
            )
        }
        3 => (0..1 + rng.below(3))
            .map(|_| {
                let t = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK"][rng.below(4)];
                format!("{{\"type\":\"{t}\",\"object\":{}}}\n", event(rng, true))
            })
            .collect(),
        _ => "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"events.activity.miloapis.com \\\"x\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":\"x\",\"group\":\"activity.miloapis.com\",\"kind\":\"events\"},\"code\":404}"
            .to_owned(),
    }
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (any::<u8>(), any::<u8>(), any::<u64>())
        .prop_map(|(selector, chunking, seed)| {
            let mut rng = Rng::new(seed);
            let s = setup(selector);
            let mut body = document(&mut rng, s.plan.operation).into_bytes();
            match rng.below(10) {
                0 => {
                    let cut = rng.below(body.len());
                    body.truncate(cut);
                }
                1 => {
                    let at = rng.below(body.len());
                    body.insert(at, b"x{}\"\\]"[rng.below(6)]);
                }
                _ => {}
            }
            let mut out = vec![selector, chunking];
            out.extend_from_slice(&body);
            out
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leak_reader_sees_through_escapes_and_halves() {
        let cases: [(&[u8], bool, bool); 9] = [
            (br#"{"items":{"apiVersion":"activity.miloapis.com/v1alpha1"}}"#, false, false),
            (br#"{"kind":"Event","api\u0056ersion":"activity.miloapis.com\/v1alpha1"}"#, false, true),
            (br#"{"kind":"EventList","apiVersion":"v1","items":[{"apiVersion":"activity.miloapis.com/v1alpha1"}]}"#, false, true),
            (br#"{"type":"ADDED","object":{"apiVersion":"activity.miloapis.com/v1alpha1","metadata":{"#, true, true),
            // Not what a client decodes: a list response shaped like a watch event.
            (br#"{"type":"ADDED","object":{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1"}}"#, false, false),
            (br#"{"kind":"Event","apiVersion":"v1","involvedObject":{"apiVersion":"activity.miloapis.com/v1alpha1"}}"#, false, false),
            (br#"{"kind":"Status","apiVersion":"activity.miloapis.com/v1alpha1"}"#, false, false),
            (br#"{"kind":"Event","apiVersion":"v1"}"#, false, false),
            (br#"{"kind":"Table","rows":[{"object":{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1"}}]}"#, false, true),
        ];
        for (body, watch, leaks) in cases {
            assert_eq!(
                leak(body, watch, true, false).is_some(),
                leaks,
                "{}",
                show(body, 200)
            );
        }
    }
}
