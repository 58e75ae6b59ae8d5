//! Request paths read the way Go's net/http reads them (Milo is a Go server), and the small
//! string rules Kubernetes applies to the names found in them.

use std::fmt::Write as _;

/// Why Go's `url.ParseRequestURI` would refuse the request target. Go's server then answers
/// `400 Bad Request` in plain text before any handler runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("invalid URL escape {0:?}")]
    InvalidEscape(String),
    #[error("invalid control character in URL")]
    ControlCharacter,
}

/// `url.PathUnescape` semantics for a request path: every `%XX` becomes its byte (`%2F` too),
/// `+` stays `+`, and a `%` not followed by two hex digits is an error. The result is bytes:
/// like a Go string it need not be UTF-8.
pub fn decode(raw: &str) -> Result<Vec<u8>, PathError> {
    let bytes = raw.as_bytes();
    if bytes.iter().any(|b| *b < 0x20 || *b == 0x7f) {
        return Err(PathError::ControlCharacter);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hi = bytes.get(i + 1).copied().and_then(hex);
        let lo = bytes.get(i + 2).copied().and_then(hex);
        match (hi, lo) {
            (Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            _ => {
                // Go quotes the escape it choked on: up to three bytes from the '%'.
                let end = (i + 3).min(bytes.len());
                let bad = raw.get(i..end).unwrap_or("%").to_string();
                return Err(PathError::InvalidEscape(bad));
            }
        }
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Go's `%q` (`strconv.Quote`): what kube-apiserver and Milo use to quote names in messages.
/// Printable characters stay, `"` and `\` are escaped, the rest become `\a`..`\v`, `\xNN`
/// (also for bytes that are not UTF-8) or `\uNNNN`.
pub fn go_quote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                // Rust has no unicode.IsPrint; control and format characters are the
                // non-printable ones that matter in a path.
                c if c.is_control() || is_format(c) => {
                    if (c as u32) <= 0xffff {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    } else {
                        let _ = write!(out, "\\U{:08x}", c as u32);
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

fn is_format(c: char) -> bool {
    matches!(c as u32, 0xad | 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2064 | 0xfeff)
}

/// `validation.IsValidLabelValue`: empty, or at most 63 characters of `[A-Za-z0-9_.-]`
/// starting and ending with an alphanumeric.
pub fn is_label_value(s: &[u8]) -> bool {
    if s.is_empty() {
        return true;
    }
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    s.len() <= 63
        && s.first().is_some_and(alnum)
        && s.last().is_some_and(alnum)
        && s.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// `validation.IsDNS1123Label`: what a namespace name must be.
pub fn is_dns1123_label(s: &[u8]) -> bool {
    let lower_alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.first().is_some_and(lower_alnum)
        && s.last().is_some_and(lower_alnum)
        && s.iter().all(|b| lower_alnum(b) || *b == b'-')
}

/// Index of the first occurrence of `needle` in `hay` (Go's `strings.Index`).
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Lossy text of a decoded path for logs and the request log.
pub fn display(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        assert_eq!(decode("/api/v1").unwrap(), b"/api/v1");
        assert_eq!(decode("/a%2Fb%2fc").unwrap(), b"/a/b/c");
        assert_eq!(decode("/a+b%20c").unwrap(), b"/a+b c");
        assert_eq!(decode("/%ff").unwrap(), vec![b'/', 0xff]);
        assert_eq!(
            decode("/a%zz").unwrap_err(),
            PathError::InvalidEscape("%zz".into())
        );
        assert_eq!(
            decode("/a%4").unwrap_err(),
            PathError::InvalidEscape("%4".into())
        );
        assert_eq!(decode("/a\u{1}").unwrap_err(), PathError::ControlCharacter);
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"acme"), r#""acme""#);
        assert_eq!(go_quote(b"Bad_Org!"), r#""Bad_Org!""#);
        assert_eq!(go_quote(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote(b"a\nb\x01"), r#""a\nb\x01""#);
        assert_eq!(go_quote(&[b'a', 0xff]), r#""a\xff""#);
        assert_eq!(go_quote("é".as_bytes()), "\"é\"");
        assert_eq!(go_quote("a\u{200b}".as_bytes()), r#""a\u200b""#);
        assert_eq!(go_quote(b""), r#""""#);
    }

    #[test]
    fn label_values() {
        for ok in ["", "acme", "a", "web-app", "A.b_c-9", &"x".repeat(63)] {
            assert!(is_label_value(ok.as_bytes()), "{ok:?}");
        }
        for bad in [
            "-a",
            "a-",
            "a/b",
            "alice@acme.example",
            "a b",
            &"x".repeat(64),
        ] {
            assert!(!is_label_value(bad.as_bytes()), "{bad:?}");
        }
    }

    #[test]
    fn dns_labels() {
        for ok in ["default", "a", "kube-system", "x1", &"x".repeat(63)] {
            assert!(is_dns1123_label(ok.as_bytes()), "{ok:?}");
        }
        for bad in ["", "Default", "-a", "a-", "a.b", "a_b", &"x".repeat(64)] {
            assert!(!is_dns1123_label(bad.as_bytes()), "{bad:?}");
        }
    }
}
