//! One module per filter module under test. Shared here: small strategy helpers and the
//! encodings that turn generated text into the spellings parsers must see through.

pub mod body;
pub mod convert;
pub mod headers;
pub mod pairs;
pub mod patch;
pub mod route;
pub mod splice;
pub mod userinfo;
pub mod walker;
pub mod walker_blocks;

use activity_events_filter::identity::source::{IdentitySource, SourceError};
use activity_events_filter::wire::pairs::encode;
use proptest::prelude::*;

use crate::mutate::Rng;

/// A host whose metadata namespace is this pairs-encoded struct.
pub struct Source(pub Vec<u8>);

impl Source {
    /// A structured identity: the user and single-valued extras.
    pub fn user(name: &[u8], extras: &[(&str, &str)]) -> Source {
        let values: Vec<(Vec<u8>, Vec<u8>)> = extras
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), list(&[v.as_bytes().to_vec()])))
            .collect();
        let extra = encode(values.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
        Source(encode([(&b"user"[..], name), (b"extra", &extra)]))
    }
}

impl IdentitySource for Source {
    fn namespace(&mut self, _: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(Some(self.0.clone()))
    }
    fn field(&mut self, _: &str, _: &[String]) -> Result<Option<Vec<u8>>, SourceError> {
        Ok(None)
    }
}

/// A list as Envoy encodes it: a map whose keys are the elements.
pub fn list(items: &[Vec<u8>]) -> Vec<u8> {
    encode(items.iter().map(|i| (i.as_slice(), &b""[..])))
}

/// One of the given strings.
pub fn pick(options: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(options)
        .prop_map(str::to_owned)
        .boxed()
}

/// Percent-escape some bytes of `s` (upper- or lower-case hex), as a client may.
pub fn percent_noise(rng: &mut Rng, s: &str, one_in: usize) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if rng.chance(one_in) {
            if rng.chance(2) {
                out.push_str(&format!("%{b:02X}"));
            } else {
                out.push_str(&format!("%{b:02x}"));
            }
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// A JSON string literal for `s` with some characters written as `\u` escapes (and `/` as
/// `\/`): the same string to any JSON decoder, different bytes to a byte matcher.
pub fn json_str_noise(rng: &mut Rng, s: &str, one_in: usize) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        let escape = rng.chance(one_in);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape && rng.chance(2) => out.push_str("\\/"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if escape => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    if rng.chance(2) {
                        out.push_str(&format!("\\u{unit:04X}"));
                    } else {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key spelled the way Go's `encoding/json` would still match it to `key`: an ASCII case
/// change, or a letter replaced by a rune that folds onto it.
pub fn fold_variant(rng: &mut Rng, key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let foldable: Vec<usize> = chars
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, 's' | 'k' | 'i' | 'S' | 'K' | 'I'))
        .map(|(i, _)| i)
        .collect();
    let mut out = chars.clone();
    if !foldable.is_empty() && rng.chance(2) {
        let i = foldable[rng.below(foldable.len())];
        out[i] = match out[i].to_ascii_lowercase() {
            's' => '\u{17f}',
            'k' => '\u{212a}',
            _ => {
                if rng.chance(2) {
                    '\u{131}'
                } else {
                    '\u{130}'
                }
            }
        };
    } else if !out.is_empty() {
        let i = rng.below(out.len());
        out[i] = if out[i].is_ascii_lowercase() {
            out[i].to_ascii_uppercase()
        } else {
            out[i].to_ascii_lowercase()
        };
    }
    out.into_iter().collect()
}
