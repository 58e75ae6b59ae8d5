//! Query-string handling. The filter forwards query strings byte for byte; it only reads a few
//! parameters and, for the legacy `/watch/` paths, adds the ones Kubernetes would imply.

use crate::wire::escape::{percent_decode, query_escape};

/// Raw `key=value` pieces of a query string (without the leading `?`), in order.
pub fn raw_params(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k, v),
            None => (p, ""),
        })
}

/// The decoded value of the first parameter whose decoded name is `name`, as Go's
/// `url.Values.Get` would see it. `Err` when that value is not decodable.
pub fn first(query: &str, name: &str) -> Option<Result<String, String>> {
    raw_params(query)
        .find(|(k, _)| decoded_key_is(k, name))
        .map(|(_, v)| percent_decode(v, true).map_err(|_| format!("invalid {name} parameter")))
}

fn decoded_key_is(raw_key: &str, name: &str) -> bool {
    if raw_key == name {
        return true;
    }
    if !raw_key.contains(['%', '+']) {
        return false;
    }
    percent_decode(raw_key, true).is_ok_and(|k| k == name)
}

/// Kubernetes' boolean query parameter semantics (`Convert_Slice_string_To_bool`): absent,
/// `0` and `false` (any case) are false; anything else, even an empty value, is true.
pub fn flag(query: &str, name: &str) -> Result<bool, String> {
    match first(query, name) {
        None => Ok(false),
        Some(Ok(v)) => Ok(!(v == "0" || v.eq_ignore_ascii_case("false"))),
        Some(Err(e)) => Err(e),
    }
}

/// The query without any parameter named `name` (decoded comparison), other bytes untouched.
pub fn without(query: &str, name: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for piece in query.split('&') {
        let key = piece.split_once('=').map_or(piece, |(k, _)| k);
        if piece.is_empty() || decoded_key_is(key, name) {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(piece);
    }
    out
}

/// The query with the first parameter named `name` given a new (escaped) value; every other
/// byte is kept, and later duplicates are dropped so no reader can pick another one.
pub fn replace(query: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(query.len() + value.len());
    let mut done = false;
    for piece in query.split('&') {
        let key = piece.split_once('=').map_or(piece, |(k, _)| k);
        if piece.is_empty() {
            continue;
        }
        let this = decoded_key_is(key, name);
        if this && done {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        if this {
            out.push_str(name);
            out.push('=');
            out.push_str(&query_escape(value));
            done = true;
        } else {
            out.push_str(piece);
        }
    }
    out
}

/// Append `name=value` (value escaped) to a query.
pub fn append(query: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(query.len() + name.len() + value.len() + 2);
    out.push_str(query);
    if !query.is_empty() && !query.ends_with('&') {
        out.push('&');
    }
    out.push_str(name);
    out.push('=');
    out.push_str(&query_escape(value));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_flag_follows_kubernetes() {
        for (q, want) in [
            ("", false),
            ("watch=true", true),
            ("watch=1", true),
            ("watch=", true),
            ("watch", true),
            ("watch=yes", true),
            ("watch=0", false),
            ("watch=false", false),
            ("watch=FALSE", false),
            ("limit=5&watch=true", true),
            ("wat%63h=1", true),
            ("watchx=1", false),
            ("watch=0&watch=1", false),
        ] {
            assert_eq!(flag(q, "watch").unwrap(), want, "{q}");
        }
        assert!(flag("watch=%zz", "watch").is_err());
    }

    #[test]
    fn first_decodes_values() {
        assert_eq!(
            first(
                "fieldSelector=involvedObject.name%3Dmy-pod&x=1",
                "fieldSelector"
            ),
            Some(Ok("involvedObject.name=my-pod".into()))
        );
        assert_eq!(first("a=b+c", "a"), Some(Ok("b c".into())));
        assert_eq!(first("a=b", "c"), None);
    }

    #[test]
    fn without_and_append_keep_other_bytes() {
        assert_eq!(without("a=1&watch=0&b=%2F", "watch"), "a=1&b=%2F");
        assert_eq!(without("watch=1", "watch"), "");
        assert_eq!(append("", "watch", "true"), "watch=true");
        assert_eq!(append("a=1", "watch", "true"), "a=1&watch=true");
        assert_eq!(
            append("a=1", "fieldSelector", "metadata.name=x"),
            "a=1&fieldSelector=metadata.name%3Dx"
        );
        assert_eq!(
            replace(
                "a=1&fieldSelector=regarding.name%3Dx&b=2&fieldSelector=y",
                "fieldSelector",
                "involvedObject.name=x"
            ),
            "a=1&fieldSelector=involvedObject.name%3Dx&b=2"
        );
    }
}
