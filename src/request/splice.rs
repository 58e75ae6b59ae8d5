//! Whole-object write bodies (create, update) that need no decision beyond inserting the
//! caller's scope and re-tagging `apiVersion`, rewritten by splicing into the client's bytes
//! instead of a parse into a `serde_json::Value` and a serialization again.
//!
//! The splice never refuses anything: a body it cannot prove plain is [`Spliced::NotPlain`], and
//! the `Value` path in [`crate::request::body`] decides it, so that path stays the only author
//! of every refusal and of every unusual shape. "Plain" is chosen so that, for every body
//! spliced, the `Value` path would accept it and forward a document equal to the splice's as a
//! `serde_json::Value`:
//!
//! - the whole document is valid by `serde_json::from_slice::<Value>`'s rules: UTF-8 (checked
//!   over the whole body: outside strings only ASCII is valid JSON anyway), escapes including
//!   surrogate pairing, no raw control characters, numbers the parser can represent (any token
//!   that is not a short integer is handed to serde_json itself), and a nesting depth below
//!   serde_json's limit of 128;
//! - at the top level, in `metadata` and in `metadata.annotations` every key is ASCII without
//!   escapes, so its bytes are the key every decoder reads and case folding is ASCII only; no key
//!   there repeats (serde keeps the last, Go merges or keeps the last: the splice would write
//!   into only one of them); no key is a case variant of a field the `Value` path guards
//!   ([`crate::k8s::fold::variant_of`], the same function the `Value` path refuses with);
//! - `metadata` and `annotations`, when present, are objects (`null` is left to the `Value`
//!   path, which replaces it);
//! - when re-tagging, `apiVersion` is absent or exactly the client's version without escapes,
//!   and `kind` is absent or exactly `"Event"` (everything else, `null` included, goes to the
//!   `Value` path).
//!
//! Then every member of the three levels is one member for serde_json, Go's `encoding/json` and
//! `sigs.k8s.io/json` alike, and writing a scope annotation means replacing the value of its one
//! member or adding the member. Below those levels the bytes are forwarded as sent: what the
//! upstream decodes there (duplicate keys included) is what the client wrote, as for a platform
//! user's body in standard-paths mode.

use core::ops::Range;

use serde_json::Value;

use crate::k8s::events::EVENT_TOP_FIELDS;
use crate::k8s::fold::variant_of;
use crate::request::scope::{Scope, SCOPE_NAME_ANNOTATION, SCOPE_TYPE_ANNOTATION};

/// Deeper bodies go to the `Value` path: serde_json refuses depth 128, and a margin keeps an
/// off-by-one in counting on the safe side. No Event nests anywhere near this.
const MAX_DEPTH: usize = 64;

/// Integers with at most this many digits fit `i64`/`u64`, so serde_json takes them as they are.
const SHORT_INTEGER_DIGITS: usize = 18;

/// What the splice made of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spliced {
    /// Not provably plain: the `Value` path decides.
    NotPlain,
    /// Forward the body as sent (nothing to change, nothing changed).
    AsSent,
    /// Forward these bytes instead.
    Rewritten(Vec<u8>),
}

/// The `apiVersion` an object must carry (when it carries one) and the one it is re-tagged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retag<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

/// Splice a whole-object body: `scope` is written into `metadata.annotations`, `retag` replaces
/// `apiVersion`. With neither the body is forwarded as sent once it is known plain.
pub fn object(body: &[u8], scope: Option<&Scope>, retag: Option<Retag<'_>>) -> Spliced {
    match plan(body, scope, retag) {
        Some(edits) if scope.is_none() && retag.is_none() && edits.is_empty() => Spliced::AsSent,
        Some(edits) => {
            write(body, &edits, scope, retag).map_or(Spliced::NotPlain, Spliced::Rewritten)
        }
        None => Spliced::NotPlain,
    }
}

/// One member of a captured object: its key (without the quotes) and its value.
#[derive(Debug)]
struct Member {
    key: Range<usize>,
    value: Range<usize>,
}

/// A captured object: where its `{` is, and its members in order.
#[derive(Debug)]
struct Obj {
    open: usize,
    members: Vec<Member>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Metadata,
    Annotations,
    /// Anywhere else: validated, not captured.
    Other,
}

#[derive(Debug, Default)]
struct Found {
    top: Option<Obj>,
    metadata: Option<Obj>,
    annotations: Option<Obj>,
}

/// A change to the body: the bytes in `at` are replaced by what `what` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    at: Range<usize>,
    what: Insert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insert {
    /// The re-tagged `apiVersion` string.
    ApiVersion,
    /// The scope kind or name as a JSON string (replacing a forged value).
    Value(Annotation),
    /// Members for the scope annotations that are absent, written right after an object's `{`:
    /// `depth` says how many of `metadata`/`annotations` must be opened around them, `comma`
    /// whether the object already had members.
    Members {
        depth: u8,
        kind: bool,
        name: bool,
        comma: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Annotation {
    Kind,
    Name,
}

/// The edits for a plain body, or `None` when it is not plain.
fn plan(body: &[u8], scope: Option<&Scope>, retag: Option<Retag<'_>>) -> Option<Vec<Edit>> {
    let text = core::str::from_utf8(body).ok()?;
    let mut scan = Scan { b: body, i: 0 };
    let mut found = Found::default();
    scan.ws();
    if scan.peek() != Some(b'{') {
        return None;
    }
    scan.object(1, Level::Top, &mut found)?;
    scan.ws();
    if scan.i != body.len() {
        return None;
    }
    let top = found.top.as_ref()?;
    let key = |m: &Member| text.get(m.key.clone());
    let value = |m: &Member| text.get(m.value.clone());
    check_keys(top, text, &EVENT_TOP_FIELDS)?;
    let mut edits = Vec::new();
    if let Some(retag) = retag {
        if let Some(m) = member(top, text, "apiVersion") {
            if unquoted(value(m)?)? != retag.from {
                return None;
            }
            edits.push(Edit {
                at: m.value.clone(),
                what: Insert::ApiVersion,
            });
        }
        if let Some(m) = member(top, text, "kind") {
            if unquoted(value(m)?)? != "Event" {
                return None;
            }
        }
    }
    let metadata = match member(top, text, "metadata") {
        None => None,
        Some(m) => Some(captured(m, found.metadata.as_ref())?),
    };
    let annotations = match metadata {
        None => None,
        Some(meta) => {
            check_keys(meta, text, &["annotations"])?;
            match member(meta, text, "annotations") {
                None => None,
                Some(m) => Some(captured(m, found.annotations.as_ref())?),
            }
        }
    };
    if let Some(ann) = annotations {
        check_keys(ann, text, &[])?;
    }
    if scope.is_none() {
        return Some(edits);
    }
    let (container, depth) = match (metadata, annotations) {
        (_, Some(ann)) => (ann, 0),
        (Some(meta), None) => (meta, 1),
        (None, _) => (top, 2),
    };
    let (mut kind, mut name) = (true, true);
    if let Some(ann) = annotations {
        for m in &ann.members {
            let which = match key(m)? {
                SCOPE_TYPE_ANNOTATION => Annotation::Kind,
                SCOPE_NAME_ANNOTATION => Annotation::Name,
                _ => continue,
            };
            match which {
                Annotation::Kind => kind = false,
                Annotation::Name => name = false,
            }
            edits.push(Edit {
                at: m.value.clone(),
                what: Insert::Value(which),
            });
        }
    }
    if kind || name {
        let at = container.open + 1;
        edits.push(Edit {
            at: at..at,
            what: Insert::Members {
                depth,
                kind,
                name,
                comma: !container.members.is_empty(),
            },
        });
    }
    // At most four edits (apiVersion, the two annotations, one insertion).
    crate::sort::stable_small_by(&mut edits, |a, b| a.at.start < b.at.start);
    Some(edits)
}

/// The object a member's value was captured as; `None` unless the value is that object.
fn captured<'o>(m: &Member, obj: Option<&'o Obj>) -> Option<&'o Obj> {
    obj.filter(|o| o.open == m.value.start)
}

/// The one member named `name` (keys are known unique by then).
fn member<'o>(obj: &'o Obj, text: &str, name: &str) -> Option<&'o Member> {
    obj.members
        .iter()
        .find(|m| text.get(m.key.clone()) == Some(name))
}

/// No key repeats and none is a case variant of a guarded name.
fn check_keys(obj: &Obj, text: &str, guarded: &[&'static str]) -> Option<()> {
    for m in &obj.members {
        let k = text.get(m.key.clone())?;
        // Keys here are ASCII, for which folding onto a guarded name needs the same length and
        // equality ignoring ASCII case: a cheap necessary condition before the real test.
        let near = guarded.iter().any(|g| {
            g.len() == k.len()
                && g.bytes().next().map(|c| c | 0x20) == k.bytes().next().map(|c| c | 0x20)
                && *g != k
                && g.eq_ignore_ascii_case(k)
        });
        if near && variant_of(k, guarded).is_some() {
            return None;
        }
    }
    if has_duplicates(obj, text) {
        return None;
    }
    Some(())
}

/// Below this many members every pair is compared (no allocation, and most pairs differ in
/// length); above it the keys are sorted.
const PAIRWISE: usize = 32;

fn has_duplicates(obj: &Obj, text: &str) -> bool {
    let key = |m: &Member| text.get(m.key.clone());
    if obj.members.len() <= PAIRWISE {
        return obj.members.iter().enumerate().any(|(i, a)| {
            obj.members
                .iter()
                .skip(i + 1)
                .any(|b| a.key.len() == b.key.len() && key(a) == key(b))
        });
    }
    let mut keys: Vec<Option<&str>> = obj.members.iter().map(key).collect();
    crate::sort::unstable(&mut keys);
    keys.windows(2).any(|w| matches!(w, [a, b] if a == b))
}

/// The content of a string literal without escapes, `None` for anything else.
fn unquoted(literal: &str) -> Option<&str> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\') && !inner.contains('"')).then_some(inner)
}

/// The body with the edits applied; `None` only if serde_json could not write a string.
fn write(
    body: &[u8],
    edits: &[Edit],
    scope: Option<&Scope>,
    retag: Option<Retag<'_>>,
) -> Option<Vec<u8>> {
    let extra = scope.map_or(0, |s| s.kind.len() + s.name.len() + 128)
        + retag.map_or(0, |r| r.to.len() + 2);
    let mut out = Vec::with_capacity(body.len() + extra);
    let mut pos = 0;
    for edit in edits {
        out.extend_from_slice(body.get(pos..edit.at.start)?);
        match edit.what {
            Insert::ApiVersion => string(&mut out, retag?.to)?,
            Insert::Value(which) => string(&mut out, scope_value(scope?, which))?,
            Insert::Members {
                depth,
                kind,
                name,
                comma,
            } => {
                let scope = scope?;
                if depth >= 2 {
                    out.extend_from_slice(b"\"metadata\":{");
                }
                if depth >= 1 {
                    out.extend_from_slice(b"\"annotations\":{");
                }
                let mut first = true;
                for (wanted, which) in [(kind, Annotation::Kind), (name, Annotation::Name)] {
                    if !wanted {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    string(&mut out, annotation_key(which))?;
                    out.push(b':');
                    string(&mut out, scope_value(scope, which))?;
                }
                out.extend(core::iter::repeat_n(b'}', usize::from(depth)));
                if comma {
                    out.push(b',');
                }
            }
        }
        pos = edit.at.end;
    }
    out.extend_from_slice(body.get(pos..)?);
    Some(out)
}

fn annotation_key(which: Annotation) -> &'static str {
    match which {
        Annotation::Kind => SCOPE_TYPE_ANNOTATION,
        Annotation::Name => SCOPE_NAME_ANNOTATION,
    }
}

fn scope_value(scope: &Scope, which: Annotation) -> &str {
    match which {
        Annotation::Kind => &scope.kind,
        Annotation::Name => &scope.name,
    }
}

/// A JSON string as serde_json escapes it, so the spliced bytes hold what the `Value` path
/// would have written.
fn string(out: &mut Vec<u8>, s: &str) -> Option<()> {
    serde_json::to_writer(out, s).ok()
}

/// A validating scan by serde_json's grammar that captures the three levels the splice edits.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

/// Bytes looked at one by one before the word scan starts: most keys and values are shorter,
/// and for them setting up the word scan costs more than it saves.
const SHORT: usize = 16;

/// Where the first quote, backslash or control character is: byte by byte for short strings,
/// then eight bytes at a time while there is none (long strings are much of a body), then byte
/// by byte again to find it exactly.
fn stop_at(bytes: &[u8]) -> Option<usize> {
    let stop = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    let head = bytes.get(..SHORT).unwrap_or(bytes);
    if let Some(at) = head.iter().position(|&c| stop(c)) {
        return Some(at);
    }
    let rest = bytes.get(head.len()..)?;
    words_then_bytes(rest).map(|at| head.len() + at)
}

fn words_then_bytes(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    // Exact "some byte is zero" and "some byte is below n" tests (no false positives when no
    // byte qualifies), so a clean word is skipped and a word that is not is searched bytewise.
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGH;
    let mut skipped = 0;
    for word in bytes.chunks_exact(8) {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let v = u64::from_le_bytes(word);
        let quote = v ^ (ONES * u64::from(b'"'));
        let backslash = v ^ (ONES * u64::from(b'\\'));
        if zero(quote) | zero(backslash) | below(v, 0x20) != 0 {
            break;
        }
        skipped += 8;
    }
    let at = bytes
        .get(skipped..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    Some(skipped + at)
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// serde_json's whitespace.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\t' | b'\r')) {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize, found: &mut Found) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, Level::Other, found),
            b'[' => self.array(depth + 1, found),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// An object at `{`; at the three captured levels its members are recorded, and their keys
    /// must be ASCII without escapes.
    fn object(&mut self, depth: usize, level: Level, found: &mut Found) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let open = self.i;
        self.eat(b'{')?;
        let capture = level != Level::Other;
        // An Event's top level has about 15 members and its metadata fewer: one allocation.
        let mut members = Vec::with_capacity(if capture { 16 } else { 0 });
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return None;
                }
                let (key, escaped) = self.string()?;
                if capture && (escaped || !self.b.get(key.clone())?.is_ascii()) {
                    return None;
                }
                self.ws();
                self.eat(b':')?;
                self.ws();
                let start = self.i;
                let k = self.b.get(key.clone())?;
                let child = match level {
                    Level::Top if k == b"metadata" => Level::Metadata,
                    Level::Metadata if k == b"annotations" => Level::Annotations,
                    _ => Level::Other,
                };
                if child != Level::Other && self.peek() == Some(b'{') {
                    self.object(depth + 1, child, found)?;
                } else {
                    self.value(depth, found)?;
                }
                if capture {
                    members.push(Member {
                        key,
                        value: start..self.i,
                    });
                }
                self.ws();
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let obj = Some(Obj { open, members });
        match level {
            Level::Top => found.top = obj,
            Level::Metadata => found.metadata = obj,
            Level::Annotations => found.annotations = obj,
            Level::Other => {}
        }
        Some(())
    }

    fn array(&mut self, depth: usize, found: &mut Found) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            self.value(depth, found)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string at `"`: the range of its content and whether it has escapes. Escapes are checked
    /// as serde_json checks them for a `String` (surrogates must pair); UTF-8 is checked over
    /// the whole body beforehand.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        self.eat(b'"')?;
        let start = self.i;
        let mut escaped = false;
        loop {
            self.i += stop_at(self.b.get(self.i..)?)?;
            match self.peek()? {
                b'"' => {
                    let content = start..self.i;
                    self.i += 1;
                    return Some((content, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    self.escape()?;
                }
                _ => return None,
            }
        }
    }

    fn escape(&mut self) -> Option<()> {
        let c = self.peek()?;
        self.i += 1;
        match c {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => match self.hex4()? {
                0xDC00..=0xDFFF => None,
                0xD800..=0xDBFF => {
                    self.eat(b'\\')?;
                    self.eat(b'u')?;
                    match self.hex4()? {
                        0xDC00..=0xDFFF => Some(()),
                        _ => None,
                    }
                }
                _ => Some(()),
            },
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut n = 0u16;
        for &d in digits {
            let v = char::from(d).to_digit(16)?;
            n = n * 16 + u16::try_from(v).ok()?;
        }
        self.i += 4;
        Some(n)
    }

    /// A number by serde_json's grammar; anything but a short integer is handed to serde_json,
    /// which refuses what it cannot represent (`1e400`).
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        let _ = self.eat(b'-');
        let digits_start = self.i;
        match self.peek()? {
            b'0' => {
                self.i += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return None;
                }
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let integer_digits = self.i - digits_start;
        let mut simple = integer_digits <= SHORT_INTEGER_DIGITS;
        if self.eat(b'.').is_some() {
            simple = false;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            simple = false;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            self.digits();
        }
        if simple {
            return Some(());
        }
        let token = self.b.get(start..self.i)?;
        serde_json::from_slice::<Value>(token).ok().map(|_| ())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::api::{Api, BodyKind, Operation};
    use crate::request::body::{BodyJob, FieldValidation};

    const ACT: &str = "activity.miloapis.com/v1alpha1";
    const RETAG: Retag<'static> = Retag {
        from: "v1",
        to: ACT,
    };

    fn org() -> Scope {
        Scope {
            kind: "Organization".into(),
            name: "acme".into(),
        }
    }

    fn job(scope: Option<&Scope>, retag: Option<Retag<'_>>) -> BodyJob {
        BodyJob {
            kind: BodyKind::Object,
            operation: Operation::Create,
            api: Api::CoreV1,
            scope: scope.cloned(),
            upstream_api_version: retag.map(|r| r.to.to_owned()),
            namespace: "default".into(),
            name: None,
            field_validation: FieldValidation::Warn,
            max_bytes: 1 << 20,
        }
    }

    /// Every combination of a scoped or platform user and Activity-group or standard paths.
    fn modes(scope: &Scope) -> [(Option<&Scope>, Option<Retag<'static>>); 4] {
        [
            (Some(scope), Some(RETAG)),
            (Some(scope), None),
            (None, Some(RETAG)),
            (None, None),
        ]
    }

    fn parse(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    /// The splice's answer, checked against the `Value` path when it is not `NotPlain`.
    fn checked(body: &[u8], scope: Option<&Scope>, retag: Option<Retag<'_>>) -> Spliced {
        let spliced = object(body, scope, retag);
        let reference = job(scope, retag).run_unspliced(body, &mut Vec::new());
        let shown = String::from_utf8_lossy(body);
        match (&spliced, reference) {
            (Spliced::NotPlain, _) => {}
            (Spliced::AsSent, Ok(None)) => {}
            (Spliced::Rewritten(out), Ok(Some(r))) => {
                assert_eq!(parse(out), parse(&r), "{shown}");
            }
            (s, r) => panic!("{shown}: spliced {s:?}, value path {r:?}"),
        }
        spliced
    }

    fn plain(body: &str, scope: Option<&Scope>, retag: Option<Retag<'_>>) -> Spliced {
        let s = checked(body.as_bytes(), scope, retag);
        assert_ne!(s, Spliced::NotPlain, "{body} {scope:?} {retag:?}");
        s
    }

    fn rewritten(body: &str, scope: Option<&Scope>, retag: Option<Retag<'_>>) -> String {
        match plain(body, scope, retag) {
            Spliced::Rewritten(b) => String::from_utf8(b).unwrap(),
            other => panic!("{body}: {other:?}"),
        }
    }

    fn not_plain(body: &[u8], scope: Option<&Scope>, retag: Option<Retag<'_>>) {
        assert_eq!(
            checked(body, scope, retag),
            Spliced::NotPlain,
            "{} {scope:?} {retag:?}",
            String::from_utf8_lossy(body)
        );
    }

    const PLAIN: &[&str] = &[
        r#"{}"#,
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"e","namespace":"default"},"reason":"R","count":3}"#,
        r#"{"metadata":{"annotations":{}}}"#,
        r#"{"metadata":{"annotations":{"a":"b","c":"d"},"labels":{"x":"y"}}}"#,
        r#"{"metadata":{}}"#,
        r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Evil","platform.miloapis.com/scope.name":{"x":[1]}}}}"#,
        r#"{"metadata":{"annotations":{"keep":"x","platform.miloapis.com/scope.name":"victim"}}}"#,
        " \r\n\t{ \"metadata\" : { \"annotations\" : { } , \"name\" : \"e\" } , \"apiVersion\" :\t\"v1\" }\n ",
        r#"{"involvedObject":{"kind":"Pod","Kind":"x","KIND":"y","metadata":null,"METADATA":1},"note":"n"}"#,
        r#"{"metadata":{"labels":{"Annotations":"v","annotation\u017f":"w","annotations":null}}}"#,
        r#"{"related":[{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Evil"}}},{"a":1,"a":2}]}"#,
        r#"{"metadata":{"annotations":{"Annotations":"v","METADATA":"w","apiversion":"x"}}}"#,
        r#"{"message":"caf\u00e9 \ud83d\ude00 \" \\ \/ \b\f\n\r\t é 😀","n":[-0,0.5,1e-400,1E+2,-12.5e-3,123456789012345678901234567890]}"#,
        r#"{"a":{},"b":[],"c":[[],{}],"d":true,"e":false,"f":null,"g":""}"#,
    ];

    #[test]
    fn plain_bodies_are_spliced_in_every_mode_like_the_value_path() {
        let scope = org();
        for body in PLAIN {
            for (s, r) in modes(&scope) {
                plain(body, s, r);
            }
        }
    }

    #[test]
    fn the_scope_goes_into_existing_empty_or_absent_containers() {
        let s = Some(&org());
        assert_eq!(
            rewritten(r#"{"metadata":{"annotations":{"a":"b"}}}"#, s, None),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme","a":"b"}}}"#
        );
        assert_eq!(
            rewritten(r#"{"metadata":{"annotations":{}}}"#, s, None),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"}}}"#
        );
        assert_eq!(
            rewritten(r#"{"metadata":{"name":"e"}}"#, s, None),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"},"name":"e"}}"#
        );
        assert_eq!(
            rewritten(r#"{ "metadata" : { } }"#, s, None),
            r#"{ "metadata" : {"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"} } }"#
        );
        assert_eq!(
            rewritten(r#"{"kind":"Event"}"#, s, None),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"}},"kind":"Event"}"#
        );
        assert_eq!(
            rewritten("{}", s, None),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"}}}"#
        );
    }

    #[test]
    fn a_forged_scope_is_overwritten_in_place() {
        let s = Some(&org());
        assert_eq!(
            rewritten(
                r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.name": {"x":"y"} ,"k":"v","platform.miloapis.com/scope.type":"Evil"}}}"#,
                s,
                None
            ),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.name": "acme" ,"k":"v","platform.miloapis.com/scope.type":"Organization"}}}"#
        );
        // One of the two forged: it is replaced, the other added.
        assert_eq!(
            rewritten(
                r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.name":"victim"}}}"#,
                s,
                None
            ),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"}}}"#
        );
    }

    #[test]
    fn scope_values_are_escaped_as_serde_json_writes_them() {
        let odd = Scope {
            kind: "Org\"}, \"x\":{\"".into(),
            name: "a\\b\n\u{1}\u{7f}\u{2028}é😀</script>".into(),
        };
        let out = rewritten(
            r#"{"metadata":{"annotations":{}}}"#,
            Some(&odd),
            Some(RETAG),
        );
        assert!(out.contains(r#""Org\"}, \"x\":{\"""#), "{out}");
        assert!(
            out.contains("\"a\\\\b\\n\\u0001\u{7f}\u{2028}é😀</script>\""),
            "{out}"
        );
        let v = parse(out.as_bytes());
        let ann = v["metadata"]["annotations"].as_object().unwrap();
        assert_eq!(ann.len(), 2);
        assert_eq!(ann[SCOPE_TYPE_ANNOTATION], odd.kind.as_str());
        assert_eq!(ann[SCOPE_NAME_ANNOTATION], odd.name.as_str());
    }

    #[test]
    fn api_version_is_retagged_and_absent_stays_absent() {
        assert_eq!(
            rewritten(r#"{"apiVersion" : "v1","kind":"Event"}"#, None, Some(RETAG)),
            r#"{"apiVersion" : "activity.miloapis.com/v1alpha1","kind":"Event"}"#
        );
        assert_eq!(
            rewritten(r#"{"kind":"Event","x":1}"#, None, Some(RETAG)),
            r#"{"kind":"Event","x":1}"#
        );
        let both = rewritten(
            r#"{"metadata":{"annotations":{"a":"b"}},"apiVersion":"v1"}"#,
            Some(&org()),
            Some(RETAG),
        );
        assert_eq!(
            both,
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme","a":"b"}},"apiVersion":"activity.miloapis.com/v1alpha1"}"#
        );
        // Standard paths: nothing checked or changed in apiVersion and kind.
        assert_eq!(
            rewritten(r#"{"apiVersion":"x","kind":5}"#, Some(&org()), None),
            r#"{"metadata":{"annotations":{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"acme"}},"apiVersion":"x","kind":5}"#
        );
    }

    #[test]
    fn platform_bodies_in_standard_mode_pass_as_sent() {
        for body in PLAIN {
            assert_eq!(plain(body, None, None), Spliced::AsSent, "{body}");
        }
        assert_eq!(
            plain(r#"{"apiVersion":"anything","kind":[]}"#, None, None),
            Spliced::AsSent
        );
    }

    #[test]
    fn anything_not_plain_is_left_to_the_value_path() {
        let scope = org();
        let everywhere: &[&[u8]] = &[
            // Not a single object, or not JSON at all.
            b"[]",
            b"\"s\"",
            b"1",
            b"null",
            b"{",
            b"{}x",
            b"{} {}",
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            br#"{"a":1 "b":2}"#,
            br#"{a:1}"#,
            br#"{"a":[1,]}"#,
            br#"{"a":tru}"#,
            br#"{"a":nul}"#,
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":.5}"#,
            br#"{"a":-}"#,
            br#"{"a":1e}"#,
            br#"{"a":+1}"#,
            b"\xef\xbb\xbf{}",
            // What serde_json's IgnoredAny would let through but a Value does not.
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\xc3\"}",
            b"{\"\xed\xa0\x80\":1}",
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\udc00"}"#,
            br#"{"a":"\ud800\u0041"}"#,
            br#"{"a":"\ud800\n"}"#,
            br#"{"a":"\ud800\ud800"}"#,
            br#"{"a":{"\udfff":1}}"#,
            br#"{"a":"\x"}"#,
            br#"{"a":"\u12"}"#,
            br#"{"a":"\u12g4"}"#,
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\t\"}",
            br#"{"a":1e400}"#,
            br#"{"a":-1e400}"#,
            // Keys at the captured levels with escapes or non-ASCII bytes.
            br#"{"meta\u0064ata":{}}"#,
            br#"{"x\/y":1}"#,
            "{\"é\":1}".as_bytes(),
            br#"{"metadata":{"n\u0061me":"x"}}"#,
            "{\"metadata\":{\"annotation\u{17f}\":{}}}".as_bytes(),
            br#"{"metadata":{"annotations":{"platform.miloapis.com\/scope.name":"evil"}}}"#,
            "{\"metadata\":{\"annotations\":{\"ключ\":\"v\"}}}".as_bytes(),
            // Case variants of guarded names.
            br#"{"Metadata":{}}"#,
            br#"{"METADATA":{},"metadata":{}}"#,
            br#"{"KIND":"Pod"}"#,
            br#"{"apiversion":"x"}"#,
            br#"{"Message":"m"}"#,
            br#"{"involvedobject":{}}"#,
            br#"{"metadata":{"Annotations":{}}}"#,
            br#"{"metadata":{"ANNOTATIONS":null,"annotations":{}}}"#,
            // Duplicates at the captured levels.
            br#"{"metadata":{},"metadata":{}}"#,
            br#"{"reason":"a","reason":"b"}"#,
            br#"{"metadata":{"name":"a","name":"b"}}"#,
            br#"{"metadata":{"annotations":{},"annotations":{}}}"#,
            br#"{"metadata":{"annotations":{"a":"1","a":"2"}}}"#,
            br#"{"metadata":{"annotations":{"platform.miloapis.com/scope.name":"x","platform.miloapis.com/scope.name":"y"}}}"#,
            // metadata or annotations that are not objects.
            br#"{"metadata":null}"#,
            br#"{"metadata":[]}"#,
            br#"{"metadata":"x"}"#,
            br#"{"metadata":{"annotations":null}}"#,
            br#"{"metadata":{"annotations":"x"}}"#,
            br#"{"metadata":{"annotations":[1]}}"#,
        ];
        for body in everywhere {
            for (s, r) in modes(&scope) {
                not_plain(body, s, r);
            }
        }
        // Re-tagging: the apiVersion must be the client's exactly, the kind Event exactly.
        let retagging: &[&[u8]] = &[
            br#"{"apiVersion":"events.k8s.io/v1"}"#,
            br#"{"apiVersion":"v\u0031"}"#,
            br#"{"apiVersion":"v1 "}"#,
            br#"{"apiVersion":null}"#,
            br#"{"apiVersion":5}"#,
            br#"{"apiVersion":["v1"]}"#,
            br#"{"kind":"Pod"}"#,
            br#"{"kind":"Even\u0074"}"#,
            br#"{"kind":null}"#,
            br#"{"kind":{}}"#,
        ];
        for body in retagging {
            not_plain(body, Some(&scope), Some(RETAG));
            not_plain(body, None, Some(RETAG));
            plain(std::str::from_utf8(body).unwrap(), Some(&scope), None);
        }
    }

    #[test]
    fn duplicates_are_found_among_few_and_many_keys() {
        for n in [2, PAIRWISE, PAIRWISE + 1, 200] {
            let mut keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":\"v\"")).collect();
            let body = |keys: &[String]| {
                format!(
                    "{{\"metadata\":{{\"annotations\":{{{}}}}}}}",
                    keys.join(",")
                )
            };
            plain(&body(&keys), Some(&org()), Some(RETAG));
            keys.push(format!("\"k{}\":\"w\"", n / 2));
            not_plain(body(&keys).as_bytes(), Some(&org()), Some(RETAG));
            // Same length, different bytes: not a duplicate.
            keys.pop();
            keys.push("\"kX\":1".into());
            plain(&body(&keys), None, None);
        }
    }

    #[test]
    fn nesting_deeper_than_the_margin_is_left_to_the_value_path() {
        let nested = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        plain(&nested(MAX_DEPTH - 1), Some(&org()), Some(RETAG));
        // serde_json itself accepts this depth, so the fallback is a margin, not a refusal.
        let deeper = nested(MAX_DEPTH);
        assert!(serde_json::from_str::<serde_json::Value>(&deeper).is_ok());
        not_plain(deeper.as_bytes(), Some(&org()), Some(RETAG));
        let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        plain(&objects(MAX_DEPTH), None, None);
        not_plain(objects(MAX_DEPTH + 1).as_bytes(), None, None);
    }

    #[test]
    fn the_word_scan_finds_the_first_stop_like_a_byte_scan() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        // Bytes around the stops and the word tricks' edges (0x80 and up, one off each stop).
        let fill = [
            b'a', 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff, 0x20,
        ];
        let stops = [b'"', b'\\', 0x00, 0x01, 0x1f, b'\n'];
        for len in 0..40 {
            for f in fill {
                let mut b = vec![f; len];
                assert_eq!(stop_at(&b), naive(&b), "{b:?}");
                for at in 0..len {
                    for stop in stops {
                        b[at] = stop;
                        assert_eq!(stop_at(&b), naive(&b), "{b:?}");
                        b[at] = f;
                    }
                }
            }
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let b: Vec<u8> = (0..1 + (x % 29) as usize)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8 | if x % 7 == 0 { 0 } else { 0x20 }
                })
                .collect();
            assert_eq!(stop_at(&b), naive(&b), "{b:?}");
        }
    }

    #[test]
    fn numbers_are_judged_by_serde_json() {
        for n in [
            "0",
            "-0",
            "1.5",
            "1e-400",
            "0e999999",
            "123456789012345678901234567890",
            "-9223372036854775809",
            "1E+2",
        ] {
            plain(&format!("{{\"count\":{n}}}"), Some(&org()), Some(RETAG));
        }
        for n in ["1e400", "1".repeat(400).as_str(), "-1.8e308"] {
            not_plain(format!("{{\"count\":{n}}}").as_bytes(), None, None);
        }
    }
}
