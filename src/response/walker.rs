//! A streaming JSON walker for response bodies that arrive in chunks.
//!
//! It copies bytes through while tracking just enough structure to act at a few fixed places:
//! it can replace a string value in place (the `apiVersion` of every Event inside a document) or
//! hold back a whole value (a watch event, a list item) and hand it to a callback once it is
//! complete. Containers nothing inside of which matters are copied through without being looked
//! at beyond their brackets and strings. Memory is the open-container stack, one held string and
//! at most one captured value, whose size is capped. The walker does not validate JSON: what it
//! does not understand passes through unchanged.

use super::scan::{find_quote_or_backslash, scan_value_end, Capture};

/// Keys the layouts care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    ApiVersion,
    Items,
    Rows,
    Object,
    Other,
}

fn classify_key(raw: &[u8]) -> Key {
    match raw {
        b"apiVersion" => Key::ApiVersion,
        b"items" => Key::Items,
        b"rows" => Key::Rows,
        b"object" => Key::Object,
        _ => Key::Other,
    }
}

/// Which values the walker acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Replace the string `from` by `to` wherever it is the `apiVersion` of an object in a
    /// document: the root, `items[*]`, `rows[*].object`, and the same below a watch event's
    /// `object`. Nothing is held back but the string itself. Once an object's `apiVersion`
    /// is replaced, the rest of that object is copied through unread; with `single`, that goes
    /// for the root object too (a response holding one Event, not a list). A shorter `to` is
    /// padded with spaces after the string (insignificant JSON whitespace), so the body keeps
    /// its length and its `content-length` stays right.
    RewriteApiVersion {
        from: String,
        to: String,
        single: bool,
    },
    /// Hand every top-level value (a single object, each event of a watch stream) to the
    /// callback whole.
    Documents,
    /// A list: replace the root `apiVersion` (`from` → `to`) in place and hand each
    /// `items[*]` and `rows[*].object` to the callback whole.
    ListItems { from: String, to: String },
}

/// Where a container sits, as far as the layout is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    /// A top-level value: list, Table, single object, or watch event.
    Root,
    /// `items` of a list.
    Items,
    /// `rows` of a Table.
    Rows,
    /// One Table row.
    Row,
    /// An object whose own `apiVersion` is rewritten: an Event, or a watch event's `object`.
    Object,
}

enum Action {
    Pass,
    Rewrite,
    Capture,
    /// A container nothing below which is acted on: copied through without looking inside.
    Skip,
    /// A container to descend into, with its node.
    Enter(Node),
}

/// Longest string value held back for a possible rewrite; longer ones cannot match.
const MAX_HELD: usize = 256;
/// Longest key remembered for matching; longer keys are `Other`.
const MAX_KEY: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Frame {
    node: Node,
    is_object: bool,
    /// In an object: the key of the member being read.
    key: Key,
    /// In an object: the next string is a key.
    expect_key: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Str {
    Key,
    Pass,
    Held,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Normal,
    InString { kind: Str, escape: bool },
}

/// Why a stream could not be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// A value to be held back grew past the limit.
    TooLarge { limit: usize },
}

/// The streaming walker. Feed chunks with [`Walker::push`], then call [`Walker::finish`].
pub struct Walker {
    layout: Layout,
    limit: usize,
    frames: Vec<Frame>,
    lex: Lex,
    key: Vec<u8>,
    held: Vec<u8>,
    capture: Option<Capture>,
    skip: Option<Capture>,
    /// The running skip is the rest of the innermost open object (pop it when done).
    skip_closes_frame: bool,
}

impl Layout {
    /// Whether the output is exactly as long as the input.
    pub fn preserves_length(&self) -> bool {
        match self {
            Layout::RewriteApiVersion { from, to, .. } => to.len() <= from.len(),
            _ => false,
        }
    }
}

impl Walker {
    /// `limit` caps a captured value (bytes).
    pub fn new(layout: Layout, limit: usize) -> Self {
        Walker {
            layout,
            limit,
            frames: Vec::with_capacity(8),
            lex: Lex::Normal,
            key: Vec::with_capacity(MAX_KEY),
            held: Vec::new(),
            capture: None,
            skip: None,
            skip_closes_frame: false,
        }
    }

    /// Process one chunk, appending output to `out`. `on_value` receives every captured value
    /// and appends its replacement to `out`.
    pub fn push<F>(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        on_value: &mut F,
    ) -> Result<(), StreamError>
    where
        F: FnMut(&[u8], &mut Vec<u8>),
    {
        let mut i = 0;
        while i < input.len() {
            let rest = input.get(i..).unwrap_or_default();
            i += if self.skip.is_some() {
                self.step_skip(rest, out)
            } else if self.capture.is_some() {
                self.step_capture(rest, out, on_value)?
            } else {
                match self.lex {
                    Lex::InString { kind, escape } => self.step_string(rest, kind, escape, out),
                    Lex::Normal => self.step_normal(rest, out),
                }
            };
        }
        Ok(())
    }

    /// End of the body: whatever is still held back goes out as it is (a truncated upstream
    /// body stays truncated rather than being invented).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.held);
        if let Some(cap) = self.capture.take() {
            out.extend_from_slice(&cap.buf);
        }
    }

    /// Whether the output is exactly as long as the input.
    pub fn preserves_length(&self) -> bool {
        self.layout.preserves_length()
    }

    /// Bytes held back right now (for memory accounting and tests).
    pub fn held_bytes(&self) -> usize {
        self.held.len() + self.capture.as_ref().map_or(0, |c| c.buf.len())
    }

    /// What to do with a value starting here (`string`: it is a string, else a container).
    fn decide(&self, string: bool) -> Action {
        let (node, key) = match self.frames.last() {
            None => (None, Key::Other),
            Some(f) if f.is_object => (Some(f.node), f.key),
            Some(f) => (Some(f.node), Key::Other),
        };
        let capture_items = matches!(self.layout, Layout::ListItems { .. });
        match (node, key) {
            // A top-level value.
            (None, _) => match self.layout {
                Layout::Documents if !string => Action::Capture,
                _ if string => Action::Pass,
                _ => Action::Enter(Node::Root),
            },
            (Some(Node::Root | Node::Object), Key::ApiVersion) if string => {
                if matches!(self.layout, Layout::Documents) {
                    Action::Pass
                } else {
                    Action::Rewrite
                }
            }
            (Some(_), _) if string => Action::Pass,
            (Some(Node::Root), Key::Items) => Action::Enter(Node::Items),
            (Some(Node::Root | Node::Object), Key::Rows) => Action::Enter(Node::Rows),
            (Some(Node::Root), Key::Object) if !capture_items => Action::Enter(Node::Object),
            (Some(Node::Items), _) if capture_items => Action::Capture,
            (Some(Node::Items), _) => Action::Enter(Node::Object),
            (Some(Node::Rows), _) => Action::Enter(Node::Row),
            (Some(Node::Row), Key::Object) if capture_items => Action::Capture,
            (Some(Node::Row), Key::Object) => Action::Enter(Node::Object),
            _ => Action::Skip,
        }
    }

    fn step_normal(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let Some(&b) = input.first() else {
            return 0;
        };
        match b {
            b'"' => {
                let expects_key = self
                    .frames
                    .last()
                    .is_some_and(|f| f.is_object && f.expect_key);
                if expects_key {
                    self.key.clear();
                    self.lex = Lex::InString {
                        kind: Str::Key,
                        escape: false,
                    };
                    out.push(b);
                } else if matches!(self.decide(true), Action::Rewrite) {
                    self.held.clear();
                    self.held.push(b);
                    self.lex = Lex::InString {
                        kind: Str::Held,
                        escape: false,
                    };
                } else {
                    self.lex = Lex::InString {
                        kind: Str::Pass,
                        escape: false,
                    };
                    out.push(b);
                }
                1
            }
            b'{' | b'[' => {
                let state = Capture {
                    buf: Vec::new(),
                    depth: 1,
                    in_string: false,
                    escape: false,
                };
                match self.decide(false) {
                    Action::Capture => {
                        let mut buf = Vec::with_capacity(1024);
                        buf.push(b);
                        self.capture = Some(Capture { buf, ..state });
                    }
                    Action::Enter(node) => {
                        self.frames.push(Frame {
                            node,
                            is_object: b == b'{',
                            key: Key::Other,
                            expect_key: b == b'{',
                        });
                        out.push(b);
                    }
                    _ => {
                        self.skip = Some(state);
                        out.push(b);
                    }
                }
                1
            }
            b'}' | b']' => {
                self.frames.pop();
                out.push(b);
                1
            }
            b':' => {
                if let Some(f) = self.frames.last_mut() {
                    f.expect_key = false;
                }
                out.push(b);
                1
            }
            b',' => {
                if let Some(f) = self.frames.last_mut() {
                    if f.is_object {
                        f.expect_key = true;
                    }
                }
                out.push(b);
                1
            }
            _ => {
                // Whitespace, numbers, literals: copy the whole run at once.
                let n = input
                    .iter()
                    .position(|c| matches!(c, b'"' | b'{' | b'[' | b'}' | b']' | b':' | b','))
                    .unwrap_or(input.len());
                out.extend_from_slice(input.get(..n).unwrap_or_default());
                n
            }
        }
    }

    fn step_string(&mut self, input: &[u8], kind: Str, escape: bool, out: &mut Vec<u8>) -> usize {
        if escape {
            // The byte after a backslash never ends the string.
            let b = input.first().copied().unwrap_or_default();
            self.string_bytes(kind, &[b], out);
            let kind = self.string_kind(kind);
            self.lex = Lex::InString {
                kind,
                escape: false,
            };
            return 1;
        }
        let stop = find_quote_or_backslash(input);
        let Some(n) = stop else {
            self.string_bytes(kind, input, out);
            return input.len();
        };
        self.string_bytes(kind, input.get(..n).unwrap_or_default(), out);
        // A held string that grew too long has become a pass-through one.
        let kind = self.string_kind(kind);
        let b = input.get(n).copied().unwrap_or_default();
        if b == b'\\' {
            self.string_bytes(kind, &[b], out);
            let kind = self.string_kind(kind);
            self.lex = Lex::InString { kind, escape: true };
            return n + 1;
        }
        // Closing quote.
        self.lex = Lex::Normal;
        match kind {
            Str::Key => {
                out.push(b);
                let key = if self.key.len() > MAX_KEY {
                    Key::Other
                } else {
                    classify_key(&self.key)
                };
                if let Some(f) = self.frames.last_mut() {
                    f.key = key;
                }
            }
            Str::Pass => out.push(b),
            Str::Held => {
                self.held.push(b);
                self.release_held(out);
            }
        }
        n + 1
    }

    fn string_kind(&self, default: Str) -> Str {
        match self.lex {
            Lex::InString { kind, .. } => kind,
            Lex::Normal => default,
        }
    }

    fn string_bytes(&mut self, kind: Str, bytes: &[u8], out: &mut Vec<u8>) {
        match kind {
            Str::Key => {
                if self.key.len() <= MAX_KEY {
                    self.key.extend_from_slice(bytes);
                }
                out.extend_from_slice(bytes);
            }
            Str::Pass => out.extend_from_slice(bytes),
            Str::Held => {
                self.held.extend_from_slice(bytes);
                if self.held.len() > MAX_HELD {
                    // Too long to be the value being replaced: let it through.
                    out.append(&mut self.held);
                    self.lex = match self.lex {
                        Lex::InString { escape, .. } => Lex::InString {
                            kind: Str::Pass,
                            escape,
                        },
                        Lex::Normal => Lex::Normal,
                    };
                }
            }
        }
    }

    /// A held string value is complete: replace it if it is the one to rewrite.
    fn release_held(&mut self, out: &mut Vec<u8>) {
        let (from, to, single) = match &self.layout {
            Layout::RewriteApiVersion { from, to, single } => (from, to, *single),
            Layout::ListItems { from, to } => (from, to, false),
            Layout::Documents => {
                out.append(&mut self.held);
                return;
            }
        };
        let inner = self
            .held
            .get(1..self.held.len().saturating_sub(1))
            .unwrap_or_default();
        if inner != from.as_bytes() {
            out.append(&mut self.held);
            return;
        }
        out.push(b'"');
        out.extend_from_slice(to.as_bytes());
        out.push(b'"');
        if matches!(self.layout, Layout::RewriteApiVersion { .. }) {
            let pad = from.len().saturating_sub(to.len());
            out.extend(std::iter::repeat_n(b' ', pad));
        }
        self.held.clear();
        // Nothing else in this object is touched: copy the rest through unread.
        let done_with_object = matches!(self.layout, Layout::RewriteApiVersion { .. })
            && match self.frames.last().map(|f| f.node) {
                Some(Node::Object) => true,
                Some(Node::Root) => single,
                _ => false,
            };
        if done_with_object {
            self.skip = Some(Capture {
                buf: Vec::new(),
                depth: 1,
                in_string: false,
                escape: false,
            });
            self.skip_closes_frame = true;
        }
    }

    /// Copy a skipped container through, tracking only strings and depth.
    fn step_skip(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        let Some(sk) = self.skip.as_mut() else {
            return 0;
        };
        let used = scan_value_end(sk, input);
        let done = used.is_some();
        let used = used.unwrap_or(input.len());
        out.extend_from_slice(input.get(..used).unwrap_or_default());
        if done {
            self.skip = None;
            if std::mem::take(&mut self.skip_closes_frame) {
                self.frames.pop();
            }
        }
        used
    }

    fn step_capture<F>(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        on_value: &mut F,
    ) -> Result<usize, StreamError>
    where
        F: FnMut(&[u8], &mut Vec<u8>),
    {
        let Some(cap) = self.capture.as_mut() else {
            return Ok(0);
        };
        let end = scan_value_end(cap, input);
        let used = end.unwrap_or(input.len());
        cap.buf
            .extend_from_slice(input.get(..used).unwrap_or_default());
        if cap.buf.len() > self.limit {
            return Err(StreamError::TooLarge { limit: self.limit });
        }
        if end.is_some() {
            if let Some(done) = self.capture.take() {
                on_value(&done.buf, out);
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACT: &str = "activity.miloapis.com/v1alpha1";

    /// Padding after a rewritten `"v1"`: the length of the replaced version minus two.
    const PAD: &str = "                            ";

    /// Rewrite in chunks; for length-preserving layouts check the length, then drop the
    /// padding so expectations read naturally.
    fn rewrite_all(layout: Layout, input: &[u8], chunk: usize) -> Vec<u8> {
        let keeps_length = layout.preserves_length();
        let out = rewrite_raw(layout, input, chunk);
        if keeps_length {
            assert_eq!(out.len(), input.len(), "length must be preserved");
            let text = String::from_utf8(out).unwrap();
            return text.replace(&format!("\"v1\"{PAD}"), "\"v1\"").into_bytes();
        }
        out
    }

    fn rewrite_raw(layout: Layout, input: &[u8], chunk: usize) -> Vec<u8> {
        let mut w = Walker::new(layout, 1 << 20);
        let mut out = Vec::new();
        let mut cb = |v: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(b"<");
            out.extend_from_slice(v);
            out.extend_from_slice(b">");
        };
        for c in input.chunks(chunk.max(1)) {
            w.push(c, &mut out, &mut cb).unwrap();
        }
        w.finish(&mut out);
        out
    }

    fn core() -> Layout {
        Layout::RewriteApiVersion {
            from: ACT.into(),
            to: "v1".into(),
            single: false,
        }
    }

    fn core_single() -> Layout {
        Layout::RewriteApiVersion {
            from: ACT.into(),
            to: "v1".into(),
            single: true,
        }
    }

    #[test]
    fn rewrites_only_the_objects_own_api_version() {
        let input = br#"{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","involvedObject":{"apiVersion":"activity.miloapis.com/v1alpha1","kind":"Thing"},"related":{"apiVersion":"activity.miloapis.com/v1alpha1"},"message":"apiVersion activity.miloapis.com/v1alpha1"}"#;
        let want = br#"{"kind":"Event","apiVersion":"v1","involvedObject":{"apiVersion":"activity.miloapis.com/v1alpha1","kind":"Thing"},"related":{"apiVersion":"activity.miloapis.com/v1alpha1"},"message":"apiVersion activity.miloapis.com/v1alpha1"}"#;
        for chunk in 1..input.len() + 1 {
            assert_eq!(
                String::from_utf8(rewrite_all(core(), input, chunk)).unwrap(),
                String::from_utf8(want.to_vec()).unwrap(),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn single_objects_stop_reading_after_the_rewrite() {
        // The root's own apiVersion is rewritten; a later one (not possible in a real Event,
        // but here to prove nothing is read) stays.
        let input = br#"{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","x":{"apiVersion":"activity.miloapis.com/v1alpha1"},"apiVersion":"activity.miloapis.com/v1alpha1"}"#;
        let want = br#"{"kind":"Event","apiVersion":"v1","x":{"apiVersion":"activity.miloapis.com/v1alpha1"},"apiVersion":"activity.miloapis.com/v1alpha1"}"#;
        for chunk in 1..input.len() + 1 {
            assert_eq!(
                rewrite_all(core_single(), input, chunk),
                want.to_vec(),
                "chunk {chunk}"
            );
        }
        // A Table (root apiVersion not ours) is still read to its rows.
        let table = br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":[{"object":{"apiVersion":"activity.miloapis.com/v1alpha1","kind":"Event"}}]}"#;
        let out = String::from_utf8(rewrite_all(core_single(), table, 3)).unwrap();
        assert!(
            out.contains(r#""object":{"apiVersion":"v1","kind":"Event"}"#),
            "{out}"
        );
    }

    #[test]
    fn watch_events_after_a_skipped_remainder_are_still_rewritten() {
        let watch = b"{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"activity.miloapis.com/v1alpha1\",\"m\":{\"a\":[1,{\"b\":\"}\"}]}},\"after\":1}\n{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"activity.miloapis.com/v1alpha1\"}}\n";
        for chunk in 1..watch.len() + 1 {
            let out = String::from_utf8(rewrite_all(core(), watch, chunk)).unwrap();
            assert_eq!(
                out.matches("\"apiVersion\":\"v1\"").count(),
                2,
                "chunk {chunk}: {out}"
            );
            assert!(out.contains(",\"after\":1}"), "{out}");
        }
    }

    #[test]
    fn lists_tables_and_watch_events() {
        let list = br#"{"kind":"EventList","apiVersion":"activity.miloapis.com/v1alpha1","metadata":{},"items":[{"apiVersion":"activity.miloapis.com/v1alpha1","involvedObject":{"apiVersion":"activity.miloapis.com/v1alpha1"}},{"apiVersion":"other"}]}"#;
        let out = String::from_utf8(rewrite_all(core(), list, 7)).unwrap();
        assert_eq!(
            out,
            r#"{"kind":"EventList","apiVersion":"v1","metadata":{},"items":[{"apiVersion":"v1","involvedObject":{"apiVersion":"activity.miloapis.com/v1alpha1"}},{"apiVersion":"other"}]}"#
        );
        let table = br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":[{"cells":["a"],"object":{"apiVersion":"activity.miloapis.com/v1alpha1"}}]}"#;
        let out = String::from_utf8(rewrite_all(core(), table, 3)).unwrap();
        assert!(out.contains(r#""object":{"apiVersion":"v1"}"#), "{out}");
        assert!(out.contains(r#""apiVersion":"meta.k8s.io/v1""#));
        let watch = b"{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"activity.miloapis.com/v1alpha1\"}}\n{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Event\",\"apiVersion\":\"activity.miloapis.com/v1alpha1\"}}\n";
        let out = String::from_utf8(rewrite_all(core(), watch, 5)).unwrap();
        assert_eq!(
            out,
            "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\"}}\n{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Event\",\"apiVersion\":\"v1\"}}\n"
        );
    }

    #[test]
    fn escapes_and_tricky_strings() {
        // An escaped quote inside a string, a key that looks like apiVersion in a value.
        let input = br#"{"message":"a \"quoted\" \\ \"apiVersion\":\"x\"","apiVersion":"activity.miloapis.com/v1alpha1","k\"ey":"v"}"#;
        let out = String::from_utf8(rewrite_all(core(), input, 1)).unwrap();
        assert_eq!(
            out,
            r#"{"message":"a \"quoted\" \\ \"apiVersion\":\"x\"","apiVersion":"v1","k\"ey":"v"}"#
        );
        // An escaped apiVersion value is left alone (not byte-equal) and not corrupted.
        let input = br#"{"apiVersion":"activity.miloapis.com\/v1alpha1"}"#;
        assert_eq!(rewrite_all(core(), input, 2), input.to_vec());
    }

    #[test]
    fn documents_are_captured_whole_at_any_split() {
        let input = b"{\"a\":{\"b\":[1,\"}\"]}}\n  {\"c\":\"\\\"{\"}\n";
        for chunk in 1..input.len() + 1 {
            let out = String::from_utf8(rewrite_all(Layout::Documents, input, chunk)).unwrap();
            assert_eq!(
                out, "<{\"a\":{\"b\":[1,\"}\"]}}>\n  <{\"c\":\"\\\"{\"}>\n",
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn list_items_are_captured_and_root_rewritten() {
        let layout = Layout::ListItems {
            from: ACT.into(),
            to: "events.k8s.io/v1".into(),
        };
        let input = br#"{"kind":"EventList","apiVersion":"activity.miloapis.com/v1alpha1","items":[{"x":1},{"y":[2]}],"rows":[{"cells":[],"object":{"z":3}}]}"#;
        let out = String::from_utf8(rewrite_all(layout, input, 4)).unwrap();
        assert_eq!(
            out,
            r#"{"kind":"EventList","apiVersion":"events.k8s.io/v1","items":[<{"x":1}>,<{"y":[2]}>],"rows":[{"cells":[],"object":<{"z":3}>}]}"#
        );
    }

    #[test]
    fn captures_over_the_limit_fail_cleanly() {
        let mut w = Walker::new(Layout::Documents, 16);
        let mut out = Vec::new();
        let mut cb = |v: &[u8], out: &mut Vec<u8>| out.extend_from_slice(v);
        assert!(w
            .push(b"{\"a\":\"0123456789\"}", &mut out, &mut cb)
            .is_err());
        let mut w = Walker::new(Layout::Documents, 16);
        w.push(b"{\"a\":1}", &mut out, &mut cb).unwrap();
        assert!(w.held_bytes() == 0);
    }

    #[test]
    fn core_rewrite_pads_to_keep_the_length() {
        let input = br#"{"apiVersion":"activity.miloapis.com/v1alpha1","kind":"Event"}"#;
        let out = rewrite_raw(core_single(), input, 5);
        assert_eq!(out.len(), input.len());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert!(!Layout::ListItems {
            from: ACT.into(),
            to: "v1".into()
        }
        .preserves_length());
    }

    #[test]
    fn long_strings_are_not_held() {
        let long = "x".repeat(10_000);
        let input = format!(r#"{{"apiVersion":"{long}"}}"#);
        let mut w = Walker::new(core(), 1 << 20);
        let mut out = Vec::new();
        let mut cb = |_: &[u8], _: &mut Vec<u8>| {};
        for c in input.as_bytes().chunks(100) {
            w.push(c, &mut out, &mut cb).unwrap();
            assert!(w.held_bytes() <= MAX_HELD + 100);
        }
        w.finish(&mut out);
        assert_eq!(out, input.as_bytes());
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 7;
        for len in 0..200 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    b"{}[]\":,\\ a1"[(x % 11) as usize]
                })
                .collect();
            for layout in [
                core(),
                Layout::Documents,
                Layout::ListItems {
                    from: ACT.into(),
                    to: "v".into(),
                },
            ] {
                let mut w = Walker::new(layout, 64);
                let mut out = Vec::new();
                let mut cb = |v: &[u8], out: &mut Vec<u8>| out.extend_from_slice(v);
                let _ = w.push(&buf, &mut out, &mut cb);
                w.finish(&mut out);
            }
        }
    }
}
