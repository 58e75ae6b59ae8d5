//! How the Go API servers behind the filter read a JSON body, written from Go's sources
//! (`encoding/json` decode.go and fold.go; `sigs.k8s.io/json`, its case-sensitive fork that
//! kube-apiserver decodes with), independent of the filter's code and of the stand-in:
//!
//! - objects keep every member in order, duplicates included ([`J`]);
//! - strings decode the way Go's scanner does (invalid UTF-8 and lone surrogates become U+FFFD);
//! - a struct field is found by its exact name first, then — in `encoding/json` only — by its
//!   folded name. Go's `foldName` takes each rune to the smallest of its `unicode.SimpleFold`
//!   orbit (`ſ` is `S`, Kelvin `K` is `K`, while `ı` and `İ` stay themselves); the model folds
//!   with `ToUpper(ToLower(r))`, which agrees on every ASCII target and also takes `ı` and `İ`
//!   to `I`, as case-mapping decoders do: a superset, so the invariant is stricter than Go;
//! - decoding an object into a struct or map that already holds values merges into it, so of
//!   two members landing in the same field the later one wins key by key; `null` leaves a struct
//!   alone, clears a map, and stores `""` as a map's string value.

use std::collections::BTreeMap;

use serde_json::Value;

/// A JSON value as Go's decoder sees it: object members in order, duplicates kept.
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// Go's `maxNestingDepth`.
const MAX_DEPTH: usize = 10_000;

/// Parse one JSON document (surrounding whitespace allowed) the way Go's scanner accepts it.
pub fn parse(bytes: &[u8]) -> Result<J, String> {
    let mut p = Parser { b: bytes, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(format!("trailing bytes at {}", p.i));
    }
    Ok(v)
}

/// Parse a stream of JSON documents (a watch body); `Err` carries the documents read so far.
pub fn parse_stream(bytes: &[u8]) -> Result<Vec<J>, (Vec<J>, String)> {
    let mut p = Parser { b: bytes, i: 0 };
    let mut out = Vec::new();
    loop {
        p.ws();
        if p.i >= bytes.len() {
            return Ok(out);
        }
        match p.value(0) {
            Ok(v) => out.push(v),
            Err(e) => return Err((out, e)),
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: J) -> Result<J, String> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(format!("bad literal at {}", self.i))
        }
    }

    fn value(&mut self, depth: usize) -> Result<J, String> {
        if depth > MAX_DEPTH {
            return Err("exceeded max depth".into());
        }
        match self.peek() {
            None => Err("unexpected end".into()),
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(J::Obj(members));
                }
                loop {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return Err(format!("expected key at {}", self.i));
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return Err(format!("expected ':' at {}", self.i));
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    members.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(J::Obj(members));
                        }
                        _ => return Err(format!("expected ',' or '}}' at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(J::Arr(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(J::Arr(items));
                        }
                        _ => return Err(format!("expected ',' or ']' at {}", self.i)),
                    }
                }
            }
            Some(b'"') => Ok(J::Str(self.string()?)),
            Some(b't') => self.lit(b"true", J::Bool(true)),
            Some(b'f') => self.lit(b"false", J::Bool(false)),
            Some(b'n') => self.lit(b"null", J::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) => Err(format!("unexpected byte {c:#x} at {}", self.i)),
        }
    }

    fn number(&mut self) -> Result<J, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return Err(format!("bad number at {start}")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(format!("bad fraction at {}", self.i));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(format!("bad exponent at {}", self.i));
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        Ok(J::Num(
            String::from_utf8_lossy(&self.b[start..self.i]).into_owned(),
        ))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .b
            .get(self.i..self.i + 4)
            .ok_or_else(|| "short \\u escape".to_string())?;
        let s = std::str::from_utf8(h).map_err(|_| "bad \\u escape".to_string())?;
        if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err("bad \\u escape".into());
        }
        self.i += 4;
        u32::from_str_radix(s, 16).map_err(|e| e.to_string())
    }

    /// A string: Go's `unquote` (lone surrogates and invalid UTF-8 become U+FFFD).
    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut raw: Vec<u8> = Vec::new();
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err("unterminated string".into());
            };
            match c {
                b'"' => {
                    self.i += 1;
                    out.push_str(&String::from_utf8_lossy(&raw));
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(&String::from_utf8_lossy(&raw));
                    raw.clear();
                    self.i += 1;
                    let e = self
                        .peek()
                        .ok_or_else(|| "unterminated escape".to_string())?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u) {
                                // A high surrogate pairs with a following \uDC00-\uDFFF.
                                let save = self.i;
                                if self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                                    self.i += 2;
                                    if let Ok(lo) = self.hex4() {
                                        if (0xDC00..0xE000).contains(&lo) {
                                            let c = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                            out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                                            continue;
                                        }
                                    }
                                }
                                self.i = save;
                                out.push('\u{fffd}');
                            } else {
                                out.push(char::from_u32(u).unwrap_or('\u{fffd}'));
                            }
                        }
                        _ => return Err("bad escape".into()),
                    }
                }
                0..=0x1f => return Err("control character in string".into()),
                _ => {
                    raw.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

impl J {
    /// From a serde value, object members sorted by key as Go's `json.Marshal` writes a map
    /// (what an API server holds after applying a patch to a `map[string]interface{}`).
    pub fn from_value_sorted(v: &Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::Arr(a.iter().map(J::from_value_sorted).collect()),
            Value::Object(o) => {
                let mut members: Vec<(String, J)> = o
                    .iter()
                    .map(|(k, v)| (k.clone(), J::from_value_sorted(v)))
                    .collect();
                members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                J::Obj(members)
            }
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn members(&self) -> &[(String, J)] {
        match self {
            J::Obj(m) => m,
            _ => &[],
        }
    }
}

/// How struct field names are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `encoding/json`: exact, else case-insensitive with Unicode simple folding.
    EncodingJson,
    /// `sigs.k8s.io/json` as kube-apiserver uses it: exact only.
    CaseSensitive,
}

fn single(mut it: impl Iterator<Item = char>) -> Option<char> {
    let first = it.next()?;
    match it.next() {
        None => Some(first),
        Some(_) => None,
    }
}

/// Go's `unicode.ToLower` for one rune (simple mapping).
fn go_lower(c: char) -> char {
    if c == '\u{130}' {
        // Simple lowercase of `İ` is `i`; Rust's full mapping adds a combining dot.
        return 'i';
    }
    single(c.to_lowercase()).unwrap_or(c)
}

/// Go's `unicode.ToUpper` for one rune (simple mapping).
fn go_upper(c: char) -> char {
    single(c.to_uppercase()).unwrap_or(c)
}

/// `encoding/json`'s `foldName`, widened to case mappings (see the module comment).
pub fn fold_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_ascii_uppercase()
            } else {
                go_upper(go_lower(c))
            }
        })
        .collect()
}

/// Whether a member named `key` lands in the struct field `field` (whose struct has no other
/// field with the same folded name, true of every field matched here).
pub fn lands_in(key: &str, field: &str, mode: Mode) -> bool {
    key == field || (mode == Mode::EncodingJson && fold_name(key) == fold_name(field))
}

/// `metadata.annotations` of an Event decoded from `doc` by Go: `Ok(None)` for a nil map,
/// `Err` when the decoder refuses the body (the API server then refuses the request).
/// Only `metadata` and `annotations` are typed; other fields are ignored, which can only make
/// the check stricter (a body Go would refuse for another field is still checked).
pub fn event_annotations(doc: &J, mode: Mode) -> Result<Option<BTreeMap<String, String>>, String> {
    let members = match doc {
        J::Obj(m) => m,
        J::Null => return Ok(None),
        _ => return Err("cannot unmarshal non-object into Event".into()),
    };
    let mut annotations: Option<BTreeMap<String, String>> = None;
    let mut error = None;
    for (k, v) in members {
        if !lands_in(k, "metadata", mode) {
            continue;
        }
        match v {
            J::Null => {}
            J::Obj(meta) => {
                for (mk, mv) in meta {
                    if !lands_in(mk, "annotations", mode) {
                        continue;
                    }
                    match mv {
                        J::Null => annotations = None,
                        J::Obj(entries) => {
                            let map = annotations.get_or_insert_with(BTreeMap::new);
                            for (ak, av) in entries {
                                match av {
                                    J::Str(s) => {
                                        map.insert(ak.clone(), s.clone());
                                    }
                                    J::Null => {
                                        map.insert(ak.clone(), String::new());
                                    }
                                    _ => error = Some(format!("annotation {ak:?} is not a string")),
                                }
                            }
                        }
                        _ => error = Some(format!("{mk:?} is not an object")),
                    }
                }
            }
            _ => error = Some(format!("{k:?} is not an object")),
        }
    }
    match error {
        Some(e) => Err(e),
        None => Ok(annotations),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_like_go() {
        assert_eq!(fold_name("annotation\u{17f}"), "ANNOTATIONS");
        assert_eq!(fold_name("\u{212a}ind"), "KIND");
        assert_eq!(fold_name("annotat\u{131}ons"), "ANNOTATIONS");
        assert_eq!(fold_name("annotat\u{130}ons"), "ANNOTATIONS");
        assert_ne!(fold_name("annotation\u{df}"), "ANNOTATIONS");
    }

    #[test]
    fn later_members_merge_and_win() {
        let doc = parse(
            br#"{"metadata":{"annotations":{"a":"1","b":"2"}},"Metadata":{"annotation\u017f":{"a":"x"}}}"#,
        )
        .unwrap();
        let go = event_annotations(&doc, Mode::EncodingJson)
            .unwrap()
            .unwrap();
        assert_eq!(go.get("a").map(String::as_str), Some("x"));
        assert_eq!(go.get("b").map(String::as_str), Some("2"));
        let k8s = event_annotations(&doc, Mode::CaseSensitive)
            .unwrap()
            .unwrap();
        assert_eq!(k8s.get("a").map(String::as_str), Some("1"));
        let doc = parse(br#"{"metadata":{"annotations":{"a":"1"},"annotations":null}}"#).unwrap();
        assert_eq!(event_annotations(&doc, Mode::CaseSensitive).unwrap(), None);
    }

    #[test]
    fn strings_decode_like_go() {
        assert_eq!(
            parse(br#""a\u0056\/\ud800x\ud83d\ude00""#).unwrap(),
            J::Str("aV/\u{fffd}x\u{1f600}".into())
        );
        assert_eq!(parse(b"\"\xff\"").unwrap(), J::Str("\u{fffd}".into()));
        assert!(parse(b"{\"a\":1,}").is_err());
        assert!(parse(b"\"\x01\"").is_err());
        let stream = parse_stream(b"{}\n{\"a\":[1,2]}\n{").unwrap_err();
        assert_eq!(stream.0.len(), 2);
    }
}
