//! Which identity values survive the trip through `X-Remote-*` headers unchanged.
//!
//! The receiving API server reads them with k8s.io/apiserver's requestheader authenticator
//! (`pkg/authentication/request/headerrequest`) on top of Go's `net/http`:
//! - `net/textproto` trims leading and trailing SP and HTAB from every field value, and Go's
//!   server refuses values with other control characters (`httpguts.ValidHeaderFieldValue`);
//!   Envoy trims the same whitespace and refuses CR, LF and NUL;
//! - the user is the first non-empty `X-Remote-User`, groups are every non-empty
//!   `X-Remote-Group` (empty ones are dropped), extras keep every value of
//!   `X-Remote-Extra-<key>`; values are never split at commas or unescaped;
//! - extra keys are lower-cased and then `url.PathUnescape`d: that is
//!   [`crate::wire::escape::header_key_escape`]'s side, which escapes every byte that would
//!   change (upper-case letters included), so keys need no check here.
//!
//! So a value is forwarded only if it has no control character (HTAB included: it is trimmed at
//! the ends and folded by some proxies inside), no leading or trailing space, and, for a group,
//! is not empty. Everything else, non-ASCII text and Unicode spaces included, is carried
//! byte for byte (Go trims only SP and HTAB).

/// Why a value would be read back differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    ControlCharacter,
    SurroundingSpace,
    Empty,
}

impl Problem {
    pub fn describe(self) -> &'static str {
        match self {
            Problem::ControlCharacter => "contains a control character",
            Problem::SurroundingSpace => "has leading or trailing whitespace",
            Problem::Empty => "is empty",
        }
    }
}

/// What a value is, for the rules that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `X-Remote-User`, `X-Remote-Uid`, `X-Remote-Extra-*`: an empty value is absent (user, uid)
    /// or kept (extra values), as the filter itself treats it.
    Value,
    /// `X-Remote-Group`: the authenticator drops empty values.
    Group,
}

/// `Ok` when the requestheader authenticator reads back exactly `value`.
pub fn check(value: &str, slot: Slot) -> Result<(), Problem> {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(Problem::ControlCharacter);
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(Problem::SurroundingSpace);
    }
    if slot == Slot::Group && value.is_empty() {
        return Err(Problem::Empty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reading side, written from net/textproto and requestheader: trim SP/HTAB, and a
    /// value with another control character is refused (`None`).
    fn go_reads(value: &str) -> Option<&str> {
        let trimmed = value.trim_matches([' ', '\t']);
        if trimmed
            .bytes()
            .any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return None;
        }
        Some(trimmed)
    }

    #[test]
    fn accepted_values_read_back_unchanged() {
        for v in [
            "admin",
            "alice@example.com",
            "system:serviceaccount:ns:sa",
            "a b",
            "a,b",
            "100%25",
            "ünïcödé ✓",
            "\u{a0}nbsp\u{a0}",
            "\u{3000}wide\u{3000}",
            "\u{212A}elvin",
        ] {
            assert_eq!(check(v, Slot::Value), Ok(()), "{v:?}");
            assert_eq!(check(v, Slot::Group), Ok(()), "{v:?}");
            assert_eq!(go_reads(v), Some(v), "{v:?}");
        }
        assert_eq!(check("", Slot::Value), Ok(()));
    }

    #[test]
    fn values_go_would_change_are_refused() {
        for (v, why) in [
            (" admin", Problem::SurroundingSpace),
            ("admin ", Problem::SurroundingSpace),
            (" admin ", Problem::SurroundingSpace),
            ("admin\t", Problem::ControlCharacter),
            ("\tadmin", Problem::ControlCharacter),
            ("ad\tmin", Problem::ControlCharacter),
            (
                "a\r\nx-remote-group: system:masters",
                Problem::ControlCharacter,
            ),
            ("nul\0", Problem::ControlCharacter),
            ("del\x7f", Problem::ControlCharacter),
            ("\x1b[31m", Problem::ControlCharacter),
        ] {
            assert_eq!(check(v, Slot::Value), Err(why), "{v:?}");
            // Inner HTAB survives Go's reading; it is refused anyway (see the module doc).
            if v != "ad\tmin" {
                assert_ne!(
                    go_reads(v),
                    Some(v),
                    "{v:?} would survive: the rule is too strict"
                );
            }
        }
        assert_eq!(check("", Slot::Group), Err(Problem::Empty));
    }

    #[test]
    fn every_single_byte_agrees_with_the_reading_side() {
        // A one-character value surrounded by letters, and alone: the check accepts exactly
        // what Go reads back unchanged, except inner HTAB (refused to stay clear of folding).
        for b in 0u8..0x80 {
            let c = char::from(b);
            for v in [format!("a{c}b"), c.to_string()] {
                let survives = go_reads(&v) == Some(v.as_str());
                let accepted = check(&v, Slot::Value).is_ok();
                if b == b'\t' {
                    assert!(!accepted);
                } else {
                    assert_eq!(accepted, survives, "{v:?}");
                }
            }
        }
    }
}
