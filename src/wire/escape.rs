//! Percent-encoding in the three places the filter needs it: extra-header keys (client-go's
//! `headerKeyEscape`), query values, and decoding path segments / query components.

/// RFC 7230 `tchar`: the bytes that may appear in a header name unescaped.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn hex_digit(n: u8) -> char {
    char::from(if n < 10 { b'0' + n } else { b'A' + (n - 10) })
}

fn push_pct(out: &mut String, b: u8) {
    out.push('%');
    out.push(hex_digit(b >> 4));
    out.push(hex_digit(b & 0x0f));
}

/// Escape an extra key for `X-Remote-Extra-<key>` like client-go's `headerKeyEscape` (every
/// byte that is not a token byte, and `%` itself, becomes `%XX`, upper-case hex), and also every
/// upper-case ASCII letter: the API server lower-cases the name before it `url.PathUnescape`s
/// it (and Envoy lower-cases header names anyway), so an unescaped `A` would come back as `a`
/// while `%41` comes back as `A`.
pub fn header_key_escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 8);
    for &b in key.as_bytes() {
        if is_token_byte(b) && b != b'%' && !b.is_ascii_uppercase() {
            out.push(char::from(b));
        } else {
            push_pct(&mut out, b);
        }
    }
    out
}

/// Escape a query parameter value: everything but RFC 3986 unreserved bytes is encoded.
pub fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            push_pct(&mut out, b);
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Why percent-decoding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Percent-decode; with `plus_as_space` for `application/x-www-form-urlencoded` query parts.
pub fn percent_decode(input: &str, plus_as_space: bool) -> Result<String, DecodeError> {
    let bytes = input.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_as_space && b == b'+'))
    {
        return Ok(input.to_owned());
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex_val);
                let lo = bytes.get(i + 2).copied().and_then(hex_val);
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(DecodeError::BadEscape),
                }
                i += 3;
            }
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
}

/// Decode a request path the way Go's `url.PathUnescape` does for `req.URL.Path` (what Milo's
/// handlers read): every `%XX` becomes its byte, `%2F` included, `+` stays, and the result
/// need not be UTF-8. A `%` without two hex digits is kept as it is and reported with `false`
/// (Go refuses such a request; callers that only look for what a server could make of a path
/// read the rest anyway).
pub fn path_unescape_lossy(input: &str) -> (Vec<u8>, bool) {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut valid = true;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex_val);
            let lo = bytes.get(i + 2).copied().and_then(hex_val);
            if let (Some(h), Some(l)) = (hi, lo) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            valid = false;
        }
        out.push(b);
        i += 1;
    }
    (out, valid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_client_go() {
        assert_eq!(
            header_key_escape("iam.miloapis.com/parent-type"),
            "iam.miloapis.com%2Fparent-type"
        );
        assert_eq!(header_key_escape("a%b"), "a%25b");
        assert_eq!(header_key_escape("with space"), "with%20space");
        assert_eq!(header_key_escape("ünï"), "%C3%BCn%C3%AF");
        assert_eq!(
            header_key_escape("ok!#$&'*+-.^_`|~09AZaz"),
            "ok!#$&'*+-.^_`|~09%41%5Aaz"
        );
        assert_eq!(header_key_escape("a:b=c\"d"), "a%3Ab%3Dc%22d");
        assert_eq!(header_key_escape(""), "");
    }

    #[test]
    fn escape_then_decode_round_trips() {
        // What the requestheader authenticator does with the name: lower-case, then unescape.
        for key in [
            "iam.miloapis.com/parent-name",
            "a%b/c d",
            "ü/%2F",
            "Example.COM/Team",
            "ALL-CAPS",
            "comma,separated",
        ] {
            let escaped = header_key_escape(key);
            assert!(escaped.bytes().all(is_token_byte));
            let read = percent_decode(&escaped.to_ascii_lowercase(), false).unwrap();
            assert_eq!(read, key);
        }
    }

    #[test]
    fn query_escape_encodes_reserved() {
        assert_eq!(
            query_escape("metadata.name=a&b+c"),
            "metadata.name%3Da%26b%2Bc"
        );
    }

    #[test]
    fn percent_decode_handles_errors() {
        assert_eq!(percent_decode("ev%65nts", false).unwrap(), "events");
        assert_eq!(percent_decode("a%2Fb", false).unwrap(), "a/b");
        assert_eq!(percent_decode("a+b", true).unwrap(), "a b");
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("%zz", false), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%4", false), Err(DecodeError::BadEscape));
        assert_eq!(percent_decode("%ff", false), Err(DecodeError::NotUtf8));
    }
    #[test]
    fn path_unescape_is_gos_and_keeps_bad_escapes() {
        assert_eq!(
            path_unescape_lossy("/%61pi/v1"),
            (b"/api/v1".to_vec(), true)
        );
        assert_eq!(path_unescape_lossy("/a%2Fb%2f"), (b"/a/b/".to_vec(), true));
        assert_eq!(path_unescape_lossy("/a+b"), (b"/a+b".to_vec(), true));
        assert_eq!(path_unescape_lossy("/%ff"), (vec![b'/', 0xff], true));
        assert_eq!(path_unescape_lossy("/%zz%4"), (b"/%zz%4".to_vec(), false));
        assert_eq!(path_unescape_lossy("%3F%252F"), (b"?%2F".to_vec(), true));
    }
}
