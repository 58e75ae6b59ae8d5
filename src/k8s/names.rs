//! apimachinery's name rules (DNS-1123 labels and subdomains, qualified names, label values)
//! with their messages, and Go's `%q`.

pub const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
pub const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
pub const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
pub const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
pub const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
pub const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `util/validation.MaxLenError` says "characters", `validate/content.MaxLenError` "bytes"
/// (both count bytes).
#[derive(Clone, Copy)]
pub enum LenUnit {
    Characters,
    Bytes,
}

pub fn max_len_error(n: usize, unit: LenUnit) -> String {
    match unit {
        LenUnit::Characters => format!("must be no more than {n} characters"),
        LenUnit::Bytes => format!("must be no more than {n} bytes"),
    }
}

pub fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = msg.to_owned();
    out.push_str(" (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(ex);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

pub fn dns1123_subdomain_fmt() -> String {
    format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*")
}

fn matches_dns1123_label(b: &[u8]) -> bool {
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

fn matches_dns1123_subdomain(b: &[u8]) -> bool {
    b.split(|c| *c == b'.').all(matches_dns1123_label)
}

fn matches_label_key_name(b: &[u8]) -> bool {
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first)
                && alnum(last)
                && b.iter()
                    .all(|c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

pub fn dns1123_label_errors(b: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if b.len() > 63 {
        errs.push(max_len_error(63, LenUnit::Characters));
    }
    if !matches_dns1123_label(b) {
        if matches_dns1123_subdomain(b) {
            errs.push("must not contain dots".to_owned());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

pub fn dns1123_subdomain_errors(b: &[u8], unit: LenUnit) -> Vec<String> {
    let mut errs = Vec::new();
    if b.len() > 253 {
        errs.push(max_len_error(253, unit));
    }
    if !matches_dns1123_subdomain(b) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            &dns1123_subdomain_fmt(),
            &["example.com"],
        ));
    }
    errs
}

/// `maskTrailingDash`, quirk included: a trailing `-` replaces the last *two* bytes with `a`.
pub fn mask_trailing_dash(name: &str) -> Vec<u8> {
    let b = name.as_bytes();
    if b.len() > 1 && b.last() == Some(&b'-') {
        let mut out = b.get(..b.len() - 2).unwrap_or(&[]).to_vec();
        out.push(b'a');
        return out;
    }
    b.to_vec()
}

/// `IsQualifiedName` (= `content.IsLabelKey`).
pub fn qualified_name_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                for msg in dns1123_subdomain_errors(prefix.as_bytes(), LenUnit::Bytes) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63, LenUnit::Bytes)));
    }
    if !matches_label_key_name(name.as_bytes()) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Runes whose lowercase is a different number of UTF-8 bytes long, with that number; every other
/// rune lowers to one of its own length. Checked against core's case tables for every rune in the
/// tests; U+0130 and U+212A, which lower to ASCII, are handled apart.
const LOWERCASE_LENGTH_CHANGES: &[(char, usize)] = &[
    ('\u{023A}', 3),
    ('\u{023E}', 3),
    ('\u{1E9E}', 2),
    ('\u{2126}', 2),
    ('\u{212B}', 2),
    ('\u{2C62}', 2),
    ('\u{2C64}', 2),
    ('\u{2C6D}', 2),
    ('\u{2C6E}', 2),
    ('\u{2C6F}', 2),
    ('\u{2C70}', 2),
    ('\u{2C7E}', 2),
    ('\u{2C7F}', 2),
    ('\u{A78D}', 2),
    ('\u{A7AA}', 2),
    ('\u{A7AB}', 2),
    ('\u{A7AC}', 2),
    ('\u{A7AD}', 2),
    ('\u{A7AE}', 2),
    ('\u{A7B0}', 2),
    ('\u{A7B1}', 2),
    ('\u{A7B2}', 2),
    ('\u{A7C5}', 2),
    ('\u{A7CB}', 2),
    ('\u{A7DC}', 2),
];

/// Go's `strings.ToLower(key)` as far as [`qualified_name_errors`] can tell, for
/// `ValidateAnnotations`, which checks the lowercased key. ASCII letters lower as usual, and so do
/// the two runes Go lowers to ASCII (U+0130 to `i`, U+212A KELVIN SIGN to `k`). Any other rune
/// lowers to a non-ASCII rune, which the key pattern refuses whichever it is: it stays as it is,
/// or is stood in for by a rune as long as its lowercase when the lengths differ, so length
/// limits count what Go counts. Core's `to_lowercase` would put its case tables (18 KB) into the
/// `.wasm`, and lowers U+0130 to two runes where Go gives one.
pub fn go_lower_for_name_check(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        let lowered = match c {
            '\u{0130}' => 'i',
            '\u{212A}' => 'k',
            c if c.is_ascii() => c.to_ascii_lowercase(),
            c => match LOWERCASE_LENGTH_CHANGES.iter().find(|(from, _)| *from == c) {
                Some((_, 2)) => '\u{E9}',
                Some(_) => '\u{2C65}',
                None => c,
            },
        };
        out.push(lowered);
    }
    out
}

pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63, LenUnit::Bytes));
    }
    if !value.is_empty() && !matches_label_key_name(value.as_bytes()) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            &format!("({LABEL_KEY_FMT})?"),
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// RFC 1123 label: what a Kubernetes namespace name must be.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && matches_dns1123_label(s.as_bytes())
}

/// apimachinery's `IsValidLabelValue`, without the empty value: at most 63 characters,
/// alphanumerics at both ends, `-`, `_` and `.` between.
pub fn is_label_value(v: &str) -> bool {
    !v.is_empty() && v.len() <= 63 && matches_label_key_name(v.as_bytes())
}

/// Go's `%q`: a double-quoted string with Go escapes. Which characters count as printable follows
/// Go's `unicode.IsPrint` for control, space and common format characters; rarer non-printable
/// code points are shown as they are.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
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
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if !go_printable(c) => {
                let n = u32::from(c);
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u32::from(c),
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_matches_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\n\t\u{1}\u{7f}"), r#""\n\t\x01\x7f""#);
        assert_eq!(go_quote("é\u{a0}\u{200b}"), "\"é\\u00a0\\u200b\"");
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns1123_label("default"));
        assert!(is_dns1123_label("a-1"));
        assert!(!is_dns1123_label("A"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a-"));
        assert!(!is_dns1123_label(""));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn go_lowering_is_what_the_key_check_sees_for_every_rune() {
        // What the check can tell about a lowered rune: the ASCII byte it is, or that it is not
        // ASCII and how many bytes it takes.
        let seen = |c: char| {
            if c.is_ascii() {
                (Some(c), 1)
            } else {
                (None, c.len_utf8())
            }
        };
        for c in (0..=0x10FFFF_u32).filter_map(char::from_u32) {
            let ours: Vec<char> = go_lower_for_name_check(&c.to_string()).chars().collect();
            assert_eq!(ours.len(), 1, "U+{:04X}", c as u32);
            // Go's simple case mapping is core's full one except where that gives two runes.
            let core: Vec<char> = c.to_lowercase().collect();
            let want = match core.as_slice() {
                [one] => *one,
                _ => {
                    assert_eq!(c, '\u{0130}', "only U+0130 lowers to two runes");
                    'i'
                }
            };
            assert_eq!(seen(ours[0]), seen(want), "U+{:04X}", c as u32);
        }
        assert_eq!(
            go_lower_for_name_check("Example.COM/\u{212A}ey"),
            "example.com/key"
        );
        // 62 Ω (3 bytes each) lower to ω (2 bytes): 124 bytes either way, but 186 unlowered.
        let omegas = "\u{2126}".repeat(62);
        assert_eq!(go_lower_for_name_check(&omegas).len(), 124);
    }
}
