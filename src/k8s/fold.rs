//! How Go's `encoding/json` matches object keys to struct fields, so the filter can refuse keys
//! that a Go decoder would read as a field the filter guards while the filter reads them as
//! something else.
//!
//! `encoding/json` (`fold.go`: `foldName`, `appendFoldedName`, `foldRune`) first looks for a
//! field whose name is exactly the key and otherwise for one whose *folded* name equals the
//! folded key, where folding maps every rune to the smallest rune of its `unicode.SimpleFold`
//! orbit (ASCII letters to upper case). Duplicate keys: the last one wins. `sigs.k8s.io/json`,
//! which kube-apiserver decodes with, is case-sensitive; but a body the filter forwards may also
//! meet `encoding/json` (Activity's own code, webhooks, tools), and the filter must not depend on
//! which decoder that is.
//!
//! Every field the filter guards has an ASCII name, and only two non-ASCII runes have an ASCII
//! letter in their simple-folding orbit (Go's `caseOrbit` table): U+017F LATIN SMALL LETTER LONG
//! S (orbit `S s ſ`) and U+212A KELVIN SIGN (orbit `K k K`). So a key folds onto an ASCII field
//! exactly when, rune by rune, ASCII letters match ignoring case, those two runes stand for `s`
//! and `k`, and every other rune is equal. Keys are compared as serde_json decoded them, so JSON
//! escapes (`"annot\u0061tions"`) are already resolved.
//!
//! U+0130 and U+0131 fold to themselves in Go, but Unicode's simple case mappings pair them
//! with `i` and `I`, so a decoder that compares `ToUpper(ToLower(r))` (as some do) reads
//! `annotat\u{0131}ons` as `annotations`. No field name contains them, so they are treated as
//! `i` as well: refusing costs nothing and the filter does not depend on which decoder it meets.

use crate::k8s::status::{Reason, Rejection};

/// The ASCII byte (upper case for letters) that `c` folds to under Go's simple folding, or
/// `None` when its fold is not ASCII.
pub fn ascii_fold(c: char) -> Option<u8> {
    match c {
        '\u{017F}' => Some(b'S'),
        '\u{212A}' => Some(b'K'),
        // Not Go's folding (see the module comment): the dotted and dotless i.
        '\u{0130}' | '\u{0131}' => Some(b'I'),
        c if c.is_ascii() => u8::try_from(c).ok().map(|b| b.to_ascii_uppercase()),
        _ => None,
    }
}

/// Whether Go's `encoding/json` would match `key` to a struct field named `field` (an ASCII
/// name), exactly or by folding.
pub fn folds_onto(key: &str, field: &str) -> bool {
    let mut want = field.bytes();
    for c in key.chars() {
        match (ascii_fold(c), want.next()) {
            (Some(got), Some(w)) if got == w.to_ascii_uppercase() => {}
            _ => return false,
        }
    }
    want.next().is_none()
}

/// The guarded field that `key` folds onto without being spelled exactly like it, if any. A key
/// spelled exactly like one guarded field is never a variant of another.
pub fn variant_of(key: &str, guarded: &[&'static str]) -> Option<&'static str> {
    if guarded.contains(&key) {
        return None;
    }
    guarded.iter().copied().find(|f| folds_onto(key, f))
}

/// The first key of `keys` that is a case variant of a guarded field: that field.
pub fn first_variant<'k>(
    keys: impl IntoIterator<Item = &'k String>,
    guarded: &[&'static str],
) -> Option<&'static str> {
    keys.into_iter().find_map(|k| variant_of(k, guarded))
}

/// The 400 refusal of a body with a key that differs from a guarded field only by case (as Go's
/// `encoding/json` folds it); one wording for every body and patch type.
pub fn case_variant_rejection(field: &str) -> Rejection {
    Rejection::new(
        Reason::BadRequest,
        format!("the request body has a field that differs from '{field}' only by case"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `unicode` tables (`src/unicode/tables.go`): `asciiFold` maps `K` to U+212A and `S`
    /// to U+017F (every other ASCII letter to its other case), and `caseOrbit` holds the only
    /// orbits with more than two runes that reach ASCII: K → k → U+212A → K and
    /// S → s → U+017F → S. `caseOrbit` also pins U+0130 and U+0131 to themselves, although
    /// Unicode's simple case mappings pair them with `i` and `I`.
    const GO_ORBITS: [[char; 3]; 2] = [['K', 'k', '\u{212A}'], ['S', 's', '\u{017F}']];
    const GO_SELF_FOLDED: [char; 2] = ['\u{0130}', '\u{0131}'];

    #[test]
    fn go_orbits_fold_together() {
        for orbit in GO_ORBITS {
            for a in orbit {
                for b in orbit {
                    assert_eq!(ascii_fold(a), ascii_fold(b), "{a:?} {b:?}");
                }
            }
        }
        assert_eq!(ascii_fold('\u{017F}'), Some(b'S'));
        assert_eq!(ascii_fold('\u{212A}'), Some(b'K'));
        // Stricter than Go: the two i's that Unicode's case mappings pair with `i`.
        for c in GO_SELF_FOLDED {
            assert_eq!(ascii_fold(c), Some(b'I'));
        }
    }

    /// Independently of the function under test: every non-ASCII char whose single-char upper or
    /// lower case mapping (Rust's Unicode tables) is an ASCII letter is either in one of Go's
    /// orbits or pinned to itself by Go; and `ascii_fold` is `Some` for exactly the orbit runes.
    #[test]
    fn no_other_non_ascii_rune_folds_onto_ascii() {
        let single = |mut it: std::iter::Peekable<std::vec::IntoIter<char>>| {
            let first = it.next();
            if it.peek().is_some() {
                None
            } else {
                first
            }
        };
        let mut reaching_ascii = Vec::new();
        for c in (0x80u32..=0x10FFFF).filter_map(char::from_u32) {
            let lower = single(c.to_lowercase().collect::<Vec<_>>().into_iter().peekable());
            let upper = single(c.to_uppercase().collect::<Vec<_>>().into_iter().peekable());
            if [lower, upper]
                .iter()
                .flatten()
                .any(|m| m.is_ascii_alphabetic())
            {
                reaching_ascii.push(c);
            }
            let in_go_orbit = GO_ORBITS.iter().any(|o| o.contains(&c));
            assert_eq!(
                ascii_fold(c).is_some(),
                in_go_orbit || GO_SELF_FOLDED.contains(&c),
                "{c:?} U+{:04X}",
                c as u32
            );
        }
        reaching_ascii.retain(|c| !GO_SELF_FOLDED.contains(c));
        assert_eq!(reaching_ascii, vec!['\u{017F}', '\u{212A}']);
    }

    #[test]
    fn keys_fold_like_encoding_json() {
        assert!(folds_onto("annotations", "annotations"));
        assert!(folds_onto("ANNOTATIONS", "annotations"));
        assert!(folds_onto("annotation\u{017F}", "annotations"));
        assert!(folds_onto("\u{212A}ind", "kind"));
        assert!(folds_onto("apiVer\u{017F}ion", "apiVersion"));
        assert!(folds_onto("METADATA", "metadata"));
        assert!(!folds_onto("annotation", "annotations"));
        assert!(!folds_onto("annotationss", "annotations"));
        assert!(!folds_onto("annotati\u{00F6}ns", "annotations"));
        // U+0131 (dotless i) and U+0130 fold to themselves in Go, and are refused all the same.
        assert!(folds_onto("k\u{0131}nd", "kind"));
        assert!(folds_onto("K\u{0130}ND", "kind"));
        assert!(folds_onto("annotat\u{0131}ons", "annotations"));
        // Not letters: '_' and '-' are significant in encoding/json v1.
        assert!(!folds_onto("meta_data", "metadata"));
        assert!(!folds_onto("", "metadata"));
        assert!(folds_onto("", ""));
    }

    #[test]
    fn variants_exclude_exact_spellings() {
        let guarded = ["metadata", "apiVersion", "kind"];
        assert_eq!(variant_of("metadata", &guarded), None);
        assert_eq!(variant_of("kind", &guarded), None);
        assert_eq!(variant_of("Metadata", &guarded), Some("metadata"));
        assert_eq!(variant_of("apiversion", &guarded), Some("apiVersion"));
        assert_eq!(variant_of("\u{212A}IND", &guarded), Some("kind"));
        assert_eq!(variant_of("other", &guarded), None);
        let keys = ["a".to_owned(), "kinD".to_owned()];
        assert_eq!(first_variant(&keys, &guarded), Some("kind"));
    }

    #[test]
    fn escaped_keys_are_compared_decoded() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"annot\u0061tion\u017f":1,"\u212Aind":2}"#).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(
            first_variant(obj.keys(), &["annotations"]),
            Some("annotations")
        );
        assert_eq!(first_variant(obj.keys(), &["kind"]), Some("kind"));
    }

    #[test]
    fn the_refusal_is_a_400_worded_like_the_ascii_one() {
        let r = case_variant_rejection("annotations");
        assert_eq!(r.code(), 400);
        assert_eq!(
            r.message,
            "the request body has a field that differs from 'annotations' only by case"
        );
    }
}
