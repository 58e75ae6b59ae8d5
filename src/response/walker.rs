//! A streaming JSON walker for response bodies that arrive in chunks.
//!
//! It copies bytes through while tracking just enough structure to act at a few fixed places:
//! it can replace a string value in place (the `apiVersion` of every Event inside a document) or
//! hold back a whole value (a watch event, a list item) and hand it to a callback once it is
//! complete. Containers nothing inside of which matters are copied through without being looked
//! at beyond their brackets and strings. Memory is the open-container stack, one held string and
//! at most one captured value, whose size is capped.
//!
//! The walker is not a validator, but it never lets an upstream `apiVersion` through where a
//! decoder would read one: keys are matched after JSON unescaping and with the case folding Go's
//! `encoding/json` applies (client-go reads `apiVersion` and `kind` that way), every member of an
//! Event is looked at (a duplicate `apiVersion` wins in most decoders), an escaped value is
//! compared unescaped, and a value naming the upstream group in any other form is refused. What
//! cannot be a complete JSON value (stray bytes at the top level, mismatched brackets, a body
//! that ends inside a value) is refused too; nothing held back is ever flushed half-read.

use super::level::plain_members_len;
use super::output::Output;
use super::scan::{find_quote_or_backslash, scan_value_end, Capture};
use crate::k8s::status::UpstreamFault;

/// Keys the layouts care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    ApiVersion,
    Items,
    Rows,
    Object,
    Other,
}

/// Longest raw key looked at: `apiVersion` with every letter `\u`-escaped fits.
const MAX_KEY: usize = 64;

fn classify_key(raw: &[u8]) -> Result<Key, UpstreamFault> {
    // Captured only up to about this length (possibly cut mid-escape): too long to be a key
    // the layouts care about.
    if raw.len() > MAX_KEY {
        return Ok(Key::Other);
    }
    if raw.is_ascii() && !raw.contains(&b'\\') {
        return Ok(classify_ascii(raw));
    }
    // Escapes and non-ASCII bytes: a bad escape or invalid UTF-8 is not JSON, refused rather
    // than passed on for each decoder to read its own way.
    let text = unescape(raw).ok_or(UpstreamFault::Malformed)?;
    Ok(classify_folded(&text))
}

/// [`classify_key`] for a raw key known to hold no backslash (read in place, where the search
/// for its closing quote has just shown that).
fn classify_unescaped_key(raw: &[u8]) -> Result<Key, UpstreamFault> {
    if raw.is_ascii() {
        return Ok(classify_ascii(raw));
    }
    classify_key(raw)
}

/// The raw lengths of the keys [`classify_ascii`] knows (bit `n`: length `n`): a plain ASCII
/// key of any other length is [`Key::Other`].
const KNOWN_KEY_LENGTHS: u64 = 1 << 4 | 1 << 5 | 1 << 6 | 1 << 10;

/// A plain ASCII key: it folds as ASCII case alone, compared in place, nothing allocated.
fn classify_ascii(raw: &[u8]) -> Key {
    // Keys of another length cannot fold onto a known one.
    match raw.len() {
        4 if raw.eq_ignore_ascii_case(b"rows") => Key::Rows,
        5 if raw.eq_ignore_ascii_case(b"items") => Key::Items,
        6 if raw.eq_ignore_ascii_case(b"object") => Key::Object,
        10 if raw.eq_ignore_ascii_case(b"apiversion") => Key::ApiVersion,
        _ => Key::Other,
    }
}

/// The slow path: fold the way Go's `encoding/json` matches a key to a field (ASCII case, plus
/// the two non-ASCII letters that fold onto ASCII ones: U+017F `ſ` onto `s` and U+212A Kelvin
/// onto `k`).
fn classify_folded(text: &str) -> Key {
    let folded: String = text.chars().map(fold_char).collect();
    match folded.as_str() {
        "apiversion" => Key::ApiVersion,
        "items" => Key::Items,
        "rows" => Key::Rows,
        "object" => Key::Object,
        _ => Key::Other,
    }
}

/// One character folded for key matching.
pub(super) fn fold_char(c: char) -> char {
    match c {
        '\u{017F}' => 's',
        '\u{212A}' => 'k',
        c => c.to_ascii_lowercase(),
    }
}

/// Whether a decoded key is one a Go client reads as `apiVersion`.
pub(super) fn folds_to_api_version(key: &str) -> bool {
    key.chars().map(fold_char).eq("apiversion".chars())
}

/// The text of a JSON string's inner bytes; `None` for a bad escape or invalid UTF-8.
fn unescape(inner: &[u8]) -> Option<String> {
    let mut quoted = Vec::with_capacity(inner.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(inner);
    quoted.push(b'"');
    // As a `Value`, not a `String`: a typed read can report an "invalid type", whose formatter
    // would pull core's float printing into the `.wasm` (see `wire::strict_json`).
    match serde_json::from_slice::<serde_json::Value>(&quoted) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Whether `haystack` contains `needle` (bytes).
pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A byte that ends a run of whitespace, a number or a literal.
fn is_structural(c: u8) -> bool {
    matches!(c, b'"' | b'{' | b'[' | b'}' | b']' | b':' | b',')
}

/// Where the first byte after `from` that is not JSON whitespace is.
fn skip_whitespace(input: &[u8], from: usize) -> usize {
    let rest = input.get(from..).unwrap_or_default();
    from + rest
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(rest.len())
}

/// The length of the string at the start of `value` (which starts with its opening quote),
/// closing quote included; `None` if it does not end in `value`.
fn string_len(value: &[u8]) -> Option<usize> {
    let mut at = 1;
    loop {
        let rest = value.get(at..)?;
        let n = find_quote_or_backslash(rest)?;
        if rest.get(n) == Some(&b'"') {
            return Some(at + n + 1);
        }
        // The byte after a backslash never ends the string; it must be here too.
        at += n + 2;
        if at > value.len() {
            return None;
        }
    }
}

/// Which values the walker acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Replace the string `from` by `to` wherever it is the `apiVersion` of an object in a
    /// document: the root, `items[*]`, `rows[*].object`, and the same below a watch event's
    /// `object`. Nothing is held back but the string itself. A shorter `to` is padded with
    /// spaces after the string (insignificant JSON whitespace), so the body keeps its length and
    /// its `content-length` stays right.
    RewriteApiVersion { from: String, to: String },
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
    /// Not valid JSON here.
    Refuse,
}

/// Longest string value held back for a possible rewrite. An `apiVersion` of an Event that is
/// longer is refused: no real one is, and it could hide the upstream group.
const MAX_HELD: usize = 256;

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

/// The streaming walker. Feed chunks with [`Walker::push`], then call [`Walker::finish`].
pub struct Walker {
    layout: Layout,
    /// The upstream API group (`from` before the `/`): no Event's `apiVersion` may name it.
    group: Vec<u8>,
    limit: usize,
    frames: Vec<Frame>,
    lex: Lex,
    key: Vec<u8>,
    held: Vec<u8>,
    capture: Option<Capture>,
    skip: Option<Capture>,
    /// Where in the output of the running `push` the last top-level value ended.
    boundary: Option<usize>,
    /// Most input bytes of one top-level value (a watch event), if capped.
    document_limit: Option<usize>,
    /// Input bytes of the running top-level value so far.
    document_len: usize,
    /// Members nothing is done with are found from block masks (`level.rs`); off, every member
    /// is read one by one (the reference the block reading is tested against).
    level_scan: bool,
}

impl Layout {
    /// Whether the output is exactly as long as the input.
    pub fn preserves_length(&self) -> bool {
        match self {
            Layout::RewriteApiVersion { from, to } => to.len() <= from.len(),
            _ => false,
        }
    }

    fn versions(&self) -> Option<(&str, &str)> {
        match self {
            Layout::RewriteApiVersion { from, to } | Layout::ListItems { from, to } => {
                Some((from, to))
            }
            Layout::Documents => None,
        }
    }
}

impl Walker {
    /// `limit` caps a captured value (bytes).
    pub fn new(layout: Layout, limit: usize) -> Self {
        let group = layout
            .versions()
            .and_then(|(from, _)| from.split_once('/'))
            .map(|(g, _)| g.as_bytes().to_vec())
            .unwrap_or_default();
        Walker {
            layout,
            group,
            limit,
            frames: Vec::with_capacity(8),
            lex: Lex::Normal,
            key: Vec::with_capacity(MAX_KEY),
            held: Vec::new(),
            capture: None,
            skip: None,
            boundary: None,
            document_limit: None,
            document_len: 0,
            level_scan: true,
        }
    }

    /// Read every member one by one, never from block masks: the same output, slower. For
    /// tests and fuzzing, which compare the two.
    #[doc(hidden)]
    pub fn member_by_member(mut self) -> Self {
        self.level_scan = false;
        self
    }

    /// Cap every top-level value (a watch event) at `limit` input bytes, however the body is
    /// cut into chunks: a longer one is refused with [`UpstreamFault::TooLarge`], and
    /// [`Self::last_boundary`] then names the end of the value before it.
    pub fn with_document_limit(mut self, limit: usize) -> Self {
        self.document_limit = Some(limit);
        self
    }

    /// Process one chunk, appending output to `out`. `on_value` receives every captured value
    /// and appends its replacement to `out`. After an error the walker must not be fed again.
    pub fn push<F>(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        on_value: &mut F,
    ) -> Result<(), UpstreamFault>
    where
        F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), UpstreamFault>,
    {
        // All of it ends up in `out`: room for it at once.
        out.reserve(input.len());
        let mut output = Output::over(input, std::mem::take(out));
        let result = self.push_to(input, &mut output, on_value);
        *out = output.into_vec();
        result
    }

    /// [`Self::push`] into an [`Output`] over `input`, which copies none of the bytes that go
    /// through unchanged.
    pub fn push_to<F>(
        &mut self,
        input: &[u8],
        out: &mut Output<'_>,
        on_value: &mut F,
    ) -> Result<(), UpstreamFault>
    where
        F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), UpstreamFault>,
    {
        self.boundary = None;
        let mut i = 0;
        while i < input.len() {
            let rest = input.get(i..).unwrap_or_default();
            let before = self.boundary;
            let n = if self.skip.is_some() {
                self.step_skip(rest, out)
            } else if self.capture.is_some() {
                self.step_capture(rest, out, on_value)?
            } else {
                let budget = self
                    .document_limit
                    .map_or(usize::MAX, |l| l.saturating_sub(self.document_len));
                self.step_members(rest, out, budget)?
            };
            i += n;
            if let Some(limit) = self.document_limit {
                // Steps that end a top-level value end exactly there, so the count is exact.
                self.document_len = self.document_len.saturating_add(n);
                if self.document_len > limit {
                    self.boundary = before;
                    return Err(UpstreamFault::TooLarge { limit });
                }
                if self.boundary != before {
                    self.document_len = 0;
                }
            }
        }
        Ok(())
    }

    /// End of the body. A body that ends inside a value is refused; what was held back of it
    /// is dropped, never flushed half-read.
    pub fn finish(&mut self) -> Result<(), UpstreamFault> {
        let open = !self.frames.is_empty()
            || self.lex != Lex::Normal
            || !self.held.is_empty()
            || self.capture.is_some()
            || self.skip.is_some();
        self.held.clear();
        self.capture = None;
        if open {
            return Err(UpstreamFault::Truncated);
        }
        Ok(())
    }

    /// Whether the output is exactly as long as the input.
    pub fn preserves_length(&self) -> bool {
        self.layout.preserves_length()
    }

    /// The offset in the last `push`'s output right after the last top-level value that
    /// ended in it.
    pub fn last_boundary(&self) -> Option<usize> {
        self.boundary
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
        self.decide_at(node, key, string)
    }

    /// [`Self::decide`] for a value under `key` in a container at `node` (`None`: top level).
    fn decide_at(&self, node: Option<Node>, key: Key, string: bool) -> Action {
        let capture_items = matches!(self.layout, Layout::ListItems { .. });
        match (node, key) {
            // A top-level value: only objects and arrays are documents.
            (None, _) if string => Action::Refuse,
            (None, _) => match self.layout {
                Layout::Documents => Action::Capture,
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

    /// Strings, keys, punctuation and scalars inside an entered container, one after another
    /// without going back to [`Self::push`] for each: bytes are consumed as the single steps
    /// would, and it stops wherever `push` has to look (a top-level value ended or may start,
    /// a container is skipped or captured, the chunk ends), or once more than `budget` bytes
    /// are used, so a document limit fails at the same step as if each had been taken alone.
    fn step_members(
        &mut self,
        input: &[u8],
        out: &mut Output<'_>,
        budget: usize,
    ) -> Result<usize, UpstreamFault> {
        // At the top level every step ends or may start a value: one at a time.
        let top = self.frames.is_empty();
        let mut used = 0;
        while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
            if self.lex == Lex::Normal && rest.first() == Some(&b'"') {
                let left = budget.saturating_sub(used);
                let n = match self.plain_members(rest, left) {
                    0 => self.members_in_place(rest, left),
                    n => n,
                };
                if n > 0 {
                    out.extend_from_slice(rest.get(..n).unwrap_or_default());
                    used += n;
                    if used > budget {
                        break;
                    }
                    continue;
                }
            }
            // Only a bracket read outside a string can close the last frame or start a skip
            // or capture. (One call site per step, so that they stay inlined.)
            let bracket =
                self.lex == Lex::Normal && matches!(rest.first(), Some(b'{' | b'[' | b'}' | b']'));
            used += match self.lex {
                Lex::InString { kind, escape } => self.step_string(rest, kind, escape, out)?,
                Lex::Normal => self.step_normal(rest, out)?,
            };
            if top
                || used > budget
                || (bracket
                    && (self.frames.is_empty() || self.skip.is_some() || self.capture.is_some()))
            {
                break;
            }
        }
        Ok(used)
    }

    /// Members of the open object that are copied through whatever their value, found from
    /// block masks without a step per token (`level.rs`); `input` starts at a key's opening
    /// quote. Stops where the single steps or [`Self::members_in_place`] must look: a key
    /// that matters, the object's closer, the end of the chunk or, as there, a little past
    /// `budget`. The frame's state needs no change: it stops before a key or a closer.
    fn plain_members(&self, input: &[u8], budget: usize) -> usize {
        let Some(&Frame {
            node,
            is_object: true,
            expect_key: true,
            ..
        }) = self.frames.last().filter(|_| self.level_scan)
        else {
            return 0;
        };
        let input = input.get(..budget.saturating_add(1)).unwrap_or(input);
        // As the single steps would decide for a key (ASCII, without escapes), whatever its value.
        let plain = |key| {
            matches!(self.decide_at(Some(node), key, true), Action::Pass)
                && matches!(self.decide_at(Some(node), key, false), Action::Skip)
        };
        let other_plain = plain(Key::Other);
        // Keys of other lengths are `Key::Other`: asked only when that is not plain itself.
        let asked = if other_plain {
            KNOWN_KEY_LENGTHS
        } else {
            u64::MAX
        };
        plain_members_len(input, asked, |raw| match classify_ascii(raw) {
            Key::Other => other_plain,
            key => plain(key),
        })
    }

    /// Whole members of the open object read straight from `input` (which starts at a key's
    /// opening quote), with exactly the effects the single steps would have, but without a
    /// step per token: the bytes used are returned for the caller to copy through at once.
    /// It stops, leaving the rest to the single steps, at whatever they must see themselves:
    /// a key with an escape (or not valid UTF-8), a value that is rewritten or held, a
    /// container that is entered or captured (or one the chunk cuts), a closer, anything
    /// unexpected, a token the chunk cuts, or past `budget`. Most members of an Event are a
    /// plain key and a string, a scalar or a skipped container: per-token dispatch was most
    /// of the walker's cost on a list.
    fn members_in_place(&mut self, input: &[u8], budget: usize) -> usize {
        let Some(&Frame {
            node,
            is_object: true,
            mut key,
            expect_key: true,
        }) = self.frames.last()
        else {
            return 0;
        };
        // The frame stays the innermost one throughout, so what a value under a key the
        // layouts ignore gets is decided once; its key and state are written back at the end.
        let other_string_passes =
            matches!(self.decide_at(Some(node), Key::Other, true), Action::Pass);
        let other_container_skips =
            matches!(self.decide_at(Some(node), Key::Other, false), Action::Skip);
        let mut expect_key = true;
        // Bytes whose effects are applied: everything before `done` is the caller's to copy.
        let mut done = 0;
        while done <= budget && input.get(done) == Some(&b'"') {
            let body = input.get(done + 1..).unwrap_or_default();
            let Some(q) = find_quote_or_backslash(body) else {
                break;
            };
            if body.get(q) != Some(&b'"') {
                break;
            }
            let Ok(k) = classify_unescaped_key(body.get(..q).unwrap_or_default()) else {
                break;
            };
            key = k;
            done = skip_whitespace(input, done + 1 + q + 1);
            if input.get(done) != Some(&b':') {
                break;
            }
            expect_key = false;
            done = skip_whitespace(input, done + 1);
            let value = input.get(done..).unwrap_or_default();
            let (string_passes, container_skips) = match key {
                Key::Other => (other_string_passes, other_container_skips),
                _ => (
                    matches!(self.decide_at(Some(node), key, true), Action::Pass),
                    matches!(self.decide_at(Some(node), key, false), Action::Skip),
                ),
            };
            let len = match value.first() {
                Some(b'"') if string_passes => string_len(value),
                // A container nothing inside is acted on, whole in this chunk: what a skip
                // would copy, read here without the steps around it. (Past the budget it fails
                // in this same push, as the skip would.)
                Some(b'{' | b'[') if container_skips => {
                    let mut skip = Capture {
                        depth: 1,
                        ..Capture::default()
                    };
                    scan_value_end(&mut skip, value.get(1..).unwrap_or_default()).map(|n| n + 1)
                }
                Some(b'"' | b'{' | b'[') | None => None,
                // A number or a literal: the run up to the next structural byte, as the
                // single step copies it.
                Some(_) => value.iter().position(|&c| is_structural(c)),
            };
            let Some(len) = len else {
                break;
            };
            done = skip_whitespace(input, done + len);
            if input.get(done) != Some(&b',') {
                break;
            }
            expect_key = true;
            done = skip_whitespace(input, done + 1);
            if self.level_scan {
                // The next members may be read from the block masks again.
                break;
            }
        }
        if let Some(f) = self.frames.last_mut() {
            f.key = key;
            f.expect_key = expect_key;
        }
        done
    }

    fn step_normal(&mut self, input: &[u8], out: &mut Output<'_>) -> Result<usize, UpstreamFault> {
        let Some(&b) = input.first() else {
            return Ok(0);
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
                    out.extend_from_slice(input.get(..1).unwrap_or_default());
                } else {
                    match self.decide(true) {
                        Action::Refuse => return Err(UpstreamFault::Malformed),
                        Action::Rewrite => {
                            self.held.clear();
                            self.held.push(b);
                            self.lex = Lex::InString {
                                kind: Str::Held,
                                escape: false,
                            };
                        }
                        _ => {
                            self.lex = Lex::InString {
                                kind: Str::Pass,
                                escape: false,
                            };
                            out.extend_from_slice(input.get(..1).unwrap_or_default());
                        }
                    }
                }
                Ok(1)
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
                        out.extend_from_slice(input.get(..1).unwrap_or_default());
                    }
                    Action::Refuse => return Err(UpstreamFault::Malformed),
                    _ => {
                        self.skip = Some(state);
                        out.extend_from_slice(input.get(..1).unwrap_or_default());
                    }
                }
                Ok(1)
            }
            b'}' | b']' => {
                // A closer must close the innermost open container of its own kind.
                match self.frames.pop() {
                    Some(f) if f.is_object == (b == b'}') => {}
                    _ => return Err(UpstreamFault::Malformed),
                }
                out.extend_from_slice(input.get(..1).unwrap_or_default());
                if self.frames.is_empty() {
                    self.boundary = Some(out.len());
                }
                Ok(1)
            }
            b':' | b',' if self.frames.is_empty() => Err(UpstreamFault::Malformed),
            b':' => {
                if let Some(f) = self.frames.last_mut() {
                    f.expect_key = false;
                }
                out.extend_from_slice(input.get(..1).unwrap_or_default());
                Ok(1)
            }
            b',' => {
                if let Some(f) = self.frames.last_mut() {
                    if f.is_object {
                        f.expect_key = true;
                    }
                }
                out.extend_from_slice(input.get(..1).unwrap_or_default());
                Ok(1)
            }
            _ => {
                // Whitespace, numbers, literals: copy the whole run at once. Between documents
                // only whitespace may stand.
                let n = input
                    .iter()
                    .position(|&c| is_structural(c))
                    .unwrap_or(input.len());
                let run = input.get(..n).unwrap_or_default();
                if self.frames.is_empty()
                    && !run
                        .iter()
                        .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                {
                    return Err(UpstreamFault::Malformed);
                }
                out.extend_from_slice(run);
                if self.frames.is_empty() {
                    self.boundary = Some(out.len());
                }
                Ok(n)
            }
        }
    }

    fn step_string(
        &mut self,
        input: &[u8],
        kind: Str,
        escape: bool,
        out: &mut Output<'_>,
    ) -> Result<usize, UpstreamFault> {
        if escape {
            // The byte after a backslash never ends the string.
            self.string_bytes(kind, input.get(..1).unwrap_or_default(), out)?;
            self.lex = Lex::InString {
                kind,
                escape: false,
            };
            return Ok(1);
        }
        let stop = find_quote_or_backslash(input);
        let Some(n) = stop else {
            self.string_bytes(kind, input, out)?;
            return Ok(input.len());
        };
        self.string_bytes(kind, input.get(..n).unwrap_or_default(), out)?;
        let b = input.get(n).copied().unwrap_or_default();
        let byte = input.get(n..n + 1).unwrap_or_default();
        if b == b'\\' {
            self.string_bytes(kind, byte, out)?;
            self.lex = Lex::InString { kind, escape: true };
            return Ok(n + 1);
        }
        // Closing quote.
        self.lex = Lex::Normal;
        match kind {
            Str::Key => {
                out.extend_from_slice(byte);
                let key = classify_key(&self.key)?;
                if let Some(f) = self.frames.last_mut() {
                    f.key = key;
                }
            }
            Str::Pass => out.extend_from_slice(byte),
            Str::Held => {
                self.held.push(b);
                self.release_held(out)?;
            }
        }
        Ok(n + 1)
    }

    fn string_bytes(
        &mut self,
        kind: Str,
        bytes: &[u8],
        out: &mut Output<'_>,
    ) -> Result<(), UpstreamFault> {
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
                    self.held.clear();
                    return Err(UpstreamFault::ForeignApiVersion);
                }
            }
        }
        Ok(())
    }

    /// A held `apiVersion` of an Event is complete: replace it if it is the upstream version
    /// (in any escaping), refuse it if it names the upstream group otherwise, else let it be.
    fn release_held(&mut self, out: &mut Output<'_>) -> Result<(), UpstreamFault> {
        let Some((from, to)) = self.layout.versions() else {
            out.written().append(&mut self.held);
            return Ok(());
        };
        let inner = self
            .held
            .get(1..self.held.len().saturating_sub(1))
            .unwrap_or_default();
        let is_from = if inner == from.as_bytes() {
            true
        } else if inner.contains(&b'\\') {
            match unescape(inner) {
                Some(text) if text == from => true,
                Some(text) if contains(text.as_bytes(), &self.group) => {
                    return Err(UpstreamFault::ForeignApiVersion)
                }
                Some(_) => false,
                None => return Err(UpstreamFault::Malformed),
            }
        } else if contains(inner, &self.group) {
            return Err(UpstreamFault::ForeignApiVersion);
        } else {
            false
        };
        if !is_from {
            out.written().append(&mut self.held);
            return Ok(());
        }
        out.push(b'"');
        out.extend_from_slice(to.as_bytes());
        out.push(b'"');
        if matches!(self.layout, Layout::RewriteApiVersion { .. }) {
            // Keep the length: pad up to what was read (an escaped value is longer).
            let pad = self.held.len().saturating_sub(to.len() + 2);
            out.written().extend(std::iter::repeat_n(b' ', pad));
        }
        self.held.clear();
        Ok(())
    }

    /// Copy a skipped container through, tracking only strings and depth.
    fn step_skip(&mut self, input: &[u8], out: &mut Output<'_>) -> usize {
        let Some(sk) = self.skip.as_mut() else {
            return 0;
        };
        let used = scan_value_end(sk, input);
        let done = used.is_some();
        let used = used.unwrap_or(input.len());
        out.extend_from_slice(input.get(..used).unwrap_or_default());
        if done {
            self.skip = None;
        }
        used
    }

    fn step_capture<F>(
        &mut self,
        input: &[u8],
        out: &mut Output<'_>,
        on_value: &mut F,
    ) -> Result<usize, UpstreamFault>
    where
        F: FnMut(&[u8], &mut Vec<u8>) -> Result<(), UpstreamFault>,
    {
        let Some(cap) = self.capture.as_mut() else {
            return Ok(0);
        };
        let end = scan_value_end(cap, input);
        let used = end.unwrap_or(input.len());
        cap.buf
            .extend_from_slice(input.get(..used).unwrap_or_default());
        if cap.buf.len() > self.limit {
            self.capture = None;
            return Err(UpstreamFault::TooLarge { limit: self.limit });
        }
        if end.is_some() {
            if let Some(done) = self.capture.take() {
                on_value(&done.buf, out.written())?;
                if self.frames.is_empty() {
                    self.boundary = Some(out.len());
                }
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
            Ok(())
        };
        for c in input.chunks(chunk.max(1)) {
            w.push(c, &mut out, &mut cb).unwrap();
        }
        w.finish().unwrap();
        out
    }

    fn core() -> Layout {
        Layout::RewriteApiVersion {
            from: ACT.into(),
            to: "v1".into(),
        }
    }

    /// Feed in chunks; the first error, from a push or the finish.
    fn fault_of(layout: Layout, input: &[u8], chunk: usize) -> Option<UpstreamFault> {
        let mut w = Walker::new(layout, 1 << 20);
        let mut out = Vec::new();
        let mut cb = |v: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(v);
            Ok(())
        };
        for c in input.chunks(chunk.max(1)) {
            if let Err(e) = w.push(c, &mut out, &mut cb) {
                return Some(e);
            }
        }
        w.finish().err()
    }

    #[test]
    fn only_keys_of_the_known_lengths_are_known() {
        // Every key the walker knows, in two spellings, and one it does not.
        let spellings = [
            "rows",
            "ROWS",
            "items",
            "Items",
            "object",
            "OBJECT",
            "apiversion",
            "apiVersion",
            "x",
        ];
        for n in 0..64 {
            let named = spellings
                .iter()
                .any(|k| k.len() == n && classify_ascii(k.as_bytes()) != Key::Other);
            assert_eq!(KNOWN_KEY_LENGTHS >> n & 1 == 1, named, "length {n}");
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
    fn every_member_of_an_event_is_read_so_duplicates_are_rewritten() {
        // Most decoders keep the last of duplicate keys: each occurrence is rewritten, the
        // nested one (not the Event's own) stays.
        let input = br#"{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","x":{"apiVersion":"activity.miloapis.com/v1alpha1"},"apiVersion":"activity.miloapis.com/v1alpha1"}"#;
        let want = br#"{"kind":"Event","apiVersion":"v1","x":{"apiVersion":"activity.miloapis.com/v1alpha1"},"apiVersion":"v1"}"#;
        for chunk in 1..input.len() + 1 {
            assert_eq!(
                rewrite_all(core(), input, chunk),
                want.to_vec(),
                "chunk {chunk}"
            );
        }
        // A Table (root apiVersion not ours) is still read to its rows.
        let table = br#"{"kind":"Table","apiVersion":"meta.k8s.io/v1","rows":[{"object":{"apiVersion":"activity.miloapis.com/v1alpha1","kind":"Event"}}]}"#;
        let out = String::from_utf8(rewrite_all(core(), table, 3)).unwrap();
        assert!(
            out.contains(r#""object":{"apiVersion":"v1","kind":"Event"}"#),
            "{out}"
        );
    }

    #[test]
    fn escaped_and_folded_keys_are_matched_like_decoders_do() {
        // Every decoder unescapes keys; Go's encoding/json (client-go's apiVersion/kind
        // sniffing) also folds case, with U+017F onto s.
        for key in [
            r#"api\u0056ersion"#,
            r#"\u0061\u0070\u0069\u0056\u0065\u0072\u0073\u0069\u006f\u006e"#,
            "APIVERSION",
            "apiversion",
            "apiVer\u{17F}ion",
            r#"apiVer\u017fion"#,
        ] {
            let input = format!(r#"{{"items":[{{"{key}":"activity.miloapis.com/v1alpha1"}}]}}"#);
            for chunk in [1, 3, input.len()] {
                let out = String::from_utf8(rewrite_raw(core(), input.as_bytes(), chunk)).unwrap();
                assert!(
                    !out.contains("activity.miloapis.com"),
                    "{key} chunk {chunk}: {out}"
                );
            }
        }
        // Escaped container keys are entered.
        let input = br#"{"\u0069tems":[{"apiVersion":"activity.miloapis.com/v1alpha1"}]}"#;
        let out = String::from_utf8(rewrite_raw(core(), input, 2)).unwrap();
        assert!(!out.contains("activity.miloapis.com"), "{out}");
        let watch =
            br#"{"type":"ADDED","obj\u0065ct":{"apiVersion":"activity.miloapis.com/v1alpha1"}}
"#;
        let out = String::from_utf8(rewrite_raw(core(), watch, 4)).unwrap();
        assert!(!out.contains("activity.miloapis.com"), "{out}");
        // Other keys are left alone, however close.
        let input = br#"{"apiVersionX":"activity.miloapis.com/v1alpha1","ap\u0069":"activity.miloapis.com/v1alpha1"}"#;
        assert_eq!(rewrite_all(core(), input, 5), input.to_vec());
    }

    #[test]
    fn the_upstream_group_in_any_other_form_is_refused() {
        for value in [
            "activity.miloapis.com/v1",
            " activity.miloapis.com/v1alpha1",
            "activity.miloapis.com/v1alpha1 ",
            "activity.miloapis.com",
            r#"activity.miloapis.com\/v1"#,
            r#"\u0061ctivity.miloapis.com/v2"#,
        ] {
            let input = format!(r#"{{"kind":"Event","apiVersion":"{value}"}}"#);
            for layout in [
                core(),
                Layout::ListItems {
                    from: ACT.into(),
                    to: "events.k8s.io/v1".into(),
                },
            ] {
                assert_eq!(
                    fault_of(layout, input.as_bytes(), 3),
                    Some(UpstreamFault::ForeignApiVersion),
                    "{value}"
                );
            }
        }
        // Invalid UTF-8 next to the group (Go would read U+FFFD) and an over-long value.
        let mut bad = br#"{"apiVersion":"activity.miloapis.com/v1alpha1"#.to_vec();
        bad.extend_from_slice(b"\xff\"}");
        assert_eq!(
            fault_of(core(), &bad, 4),
            Some(UpstreamFault::ForeignApiVersion)
        );
        let long = format!(r#"{{"apiVersion":"{}"}}"#, "x".repeat(300));
        assert_eq!(
            fault_of(core(), long.as_bytes(), 50),
            Some(UpstreamFault::ForeignApiVersion)
        );
        // A bad escape in the value is malformed JSON.
        assert_eq!(
            fault_of(
                core(),
                br#"{"apiVersion":"activity\qmiloapis.com/v1alpha1"}"#,
                2
            ),
            Some(UpstreamFault::Malformed)
        );
    }

    #[test]
    fn what_cannot_be_json_is_refused() {
        for layout in [core(), Layout::Documents] {
            // (Mismatched brackets inside a captured document are the parser's to refuse.)
            let mismatched: &[&[u8]] = if layout == Layout::Documents {
                &[]
            } else {
                &[b"{\"a\":1]", b"[1}"]
            };
            // A key with a bad escape or invalid UTF-8 (found by the walker fuzz target).
            let bad_keys: &[&[u8]] = if layout == Layout::Documents {
                &[]
            } else {
                &[
                    b"{\"a\\u0070iVe\\u+073ion\":\"activity.miloapis.com/v1alpha1\"}",
                    b"{\"ki\xffd\":1}",
                ]
            };
            for input in [&b"plain text"[..], b"\"a string\"", b"}", b"{},", b"{} x"]
                .iter()
                .chain(mismatched)
                .chain(bad_keys)
            {
                assert_eq!(
                    fault_of(layout.clone(), input, 2),
                    Some(UpstreamFault::Malformed),
                    "{layout:?} {}",
                    String::from_utf8_lossy(input)
                );
            }
            for input in [
                &b"{"[..],
                b"{\"a\":\"",
                b"{\"apiVersion\":\"act",
                b"[{\"a\":[1,2",
            ] {
                assert_eq!(
                    fault_of(layout.clone(), input, 1),
                    Some(UpstreamFault::Truncated),
                    "{layout:?} {}",
                    String::from_utf8_lossy(input)
                );
            }
            assert_eq!(fault_of(layout.clone(), b"  \n{}\n\t", 1), None);
        }
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
        // An escaped apiVersion value is rewritten all the same, padded to its length.
        let input = br#"{"apiVersion":"activity.miloapis.com\/v1alpha1"}"#;
        for chunk in 1..input.len() {
            let out = rewrite_raw(core(), input, chunk);
            assert_eq!(out.len(), input.len());
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["apiVersion"], "v1", "chunk {chunk}");
        }
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
        let mut cb = |v: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(v);
            Ok(())
        };
        assert_eq!(
            w.push(b"{\"a\":\"0123456789\"}", &mut out, &mut cb),
            Err(UpstreamFault::TooLarge { limit: 16 })
        );
        let mut w = Walker::new(Layout::Documents, 16);
        w.push(b"{\"a\":1}", &mut out, &mut cb).unwrap();
        assert!(w.held_bytes() == 0);
    }

    #[test]
    fn core_rewrite_pads_to_keep_the_length() {
        let input = br#"{"apiVersion":"activity.miloapis.com/v1alpha1","kind":"Event"}"#;
        let out = rewrite_raw(core(), input, 5);
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
        let input = format!(r#"{{"kind":"Event","message":"{long}"}}"#);
        let mut w = Walker::new(core(), 1 << 20);
        let mut out = Vec::new();
        let mut cb = |_: &[u8], _: &mut Vec<u8>| Ok(());
        for c in input.as_bytes().chunks(100) {
            w.push(c, &mut out, &mut cb).unwrap();
            assert!(w.held_bytes() <= MAX_HELD + 100);
        }
        w.finish().unwrap();
        assert_eq!(out, input.as_bytes());
    }

    /// Every way of cutting `input` in two or three: the output is the one of a single push.
    fn same_at_every_cut(layout: &Layout, input: &[u8]) -> Vec<u8> {
        let whole = rewrite_raw(layout.clone(), input, input.len());
        for a in 1..input.len() {
            for b in a..input.len() {
                let mut w = Walker::new(layout.clone(), 1 << 20);
                let mut out = Vec::new();
                let mut cb = |v: &[u8], out: &mut Vec<u8>| {
                    out.extend_from_slice(b"<");
                    out.extend_from_slice(v);
                    out.extend_from_slice(b">");
                    Ok(())
                };
                for part in [&input[..a], &input[a..b], &input[b..]] {
                    w.push(part, &mut out, &mut cb).unwrap();
                }
                w.finish().unwrap();
                assert_eq!(out, whole, "cuts {a} {b}");
            }
        }
        whole
    }

    #[test]
    fn members_read_back_to_back_give_the_same_output_at_every_cut() {
        // Runs of string bytes ending exactly at a cut, escapes (a backslash, `\u`) at cut
        // ends, a key and a multi-byte letter (U+017F, three bytes of U+212A) split across
        // cuts, a long string, skipped containers: in an Event (every member read) and in a
        // list item.
        let long = r#"y\\\""#.repeat(30);
        let input = format!(
            r#"{{"items":[{{"message":"1234567\"8\\","meta":{{"a":["}}\"]"],"b":{{}}}},"list":[1,[2,"]"]],"apiVer{}ion":"activity.miloapis.com\/v1alpha1","{}ind":"Event","note":"{long}","n":-1.5e3,"ok":true,"API\u0056ERSION":"activity.miloapis.com/v1alpha1"}}]}}"#,
            '\u{17F}', '\u{212A}'
        );
        let out = same_at_every_cut(&core(), input.as_bytes());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.len(), input.len());
        assert!(!text.contains("activity.miloapis.com"), "{text}");
        assert!(text.contains(&format!(r#""note":"{long}""#)), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["items"][0]["apiVer\u{17F}ion"], "v1");
        assert_eq!(v["items"][0]["APIVERSION"], "v1");
        // Keys that only look close are passed as they are, wherever cut.
        let input = br#"{"kind":"Event","apiVersio":"activity.miloapis.com","apiVersionn":"x","\u0061piVersion":"v1"}"#;
        assert_eq!(same_at_every_cut(&core(), input), input.to_vec());
        // Captured items and a rewritten root between them.
        let layout = Layout::ListItems {
            from: ACT.into(),
            to: "events.k8s.io/v1".into(),
        };
        let input = br#"{"apiVersion":"activity.miloapis.com\/v1alpha1","items":[{"a":"\"}"},{"b":["\\"]}],"x":"\u00e9"}"#;
        let out = String::from_utf8(same_at_every_cut(&layout, input)).unwrap();
        assert_eq!(
            out,
            r#"{"apiVersion":"events.k8s.io/v1","items":[<{"a":"\"}"}>,<{"b":["\\"]}>],"x":"\u00e9"}"#
        );
    }

    #[test]
    fn a_document_limit_fails_at_the_same_byte_however_members_are_cut() {
        // Whitespace between events counts toward neither.
        let event = br#"{"type":"ADDED","object":{"kind":"Event","m":{"x":["]"]},"a":"0123456"}}"#;
        let mut watch = Vec::new();
        for _ in 0..3 {
            watch.extend_from_slice(event);
            watch.push(b'\n');
        }
        let len = event.len();
        for (limit, fits) in [(len, true), (len + 1, true), (len - 1, false), (20, false)] {
            for chunk in 1..watch.len() + 1 {
                let mut w = Walker::new(core(), 1 << 20).with_document_limit(limit);
                let mut out = Vec::new();
                let mut cb = |v: &[u8], out: &mut Vec<u8>| {
                    out.extend_from_slice(v);
                    Ok(())
                };
                let mut fault = None;
                let mut read = 0;
                for c in watch.chunks(chunk) {
                    if let Err(e) = w.push(c, &mut out, &mut cb) {
                        fault = Some(e);
                        break;
                    }
                    read += c.len();
                }
                if fits {
                    assert_eq!(fault, None, "limit {limit} chunk {chunk}");
                    assert_eq!(w.finish(), Ok(()));
                    assert_eq!(out, watch);
                } else {
                    assert_eq!(
                        fault,
                        Some(UpstreamFault::TooLarge { limit }),
                        "limit {limit} chunk {chunk}"
                    );
                    // Refused within the first event, by the chunk holding its byte past the
                    // limit.
                    assert!(
                        read <= limit && read + chunk > limit,
                        "limit {limit} chunk {chunk}"
                    );
                }
            }
        }
        // Malformed past the limit: the limit is what refuses it, as it is reached first.
        let bad = br#"{"type":"ADDED","object":{"kind":"Event","a":"0123456"]}"#;
        for chunk in 1..bad.len() + 1 {
            assert_eq!(
                fault_of_limited(bad, 40, chunk),
                Some(UpstreamFault::TooLarge { limit: 40 }),
                "chunk {chunk}"
            );
            assert_eq!(
                fault_of_limited(bad, 1000, chunk),
                Some(UpstreamFault::Malformed),
                "chunk {chunk}"
            );
        }
    }

    fn fault_of_limited(input: &[u8], limit: usize, chunk: usize) -> Option<UpstreamFault> {
        let mut w = Walker::new(core(), 1 << 20).with_document_limit(limit);
        let mut out = Vec::new();
        let mut cb = |v: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(v);
            Ok(())
        };
        for c in input.chunks(chunk) {
            if let Err(e) = w.push(c, &mut out, &mut cb) {
                return Some(e);
            }
        }
        w.finish().err()
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
                let mut cb = |v: &[u8], out: &mut Vec<u8>| {
                    out.extend_from_slice(v);
                    Ok(())
                };
                if w.push(&buf, &mut out, &mut cb).is_ok() {
                    let _ = w.finish();
                }
            }
        }
    }
}
