//! Front-proxy identity: the `X-Remote-*` headers a Kubernetes requestheader authenticator reads.
//!
//! Only trusted on mTLS connections whose client certificate chains to the configured CA; the main
//! port accepts no other connections, so the headers are always read there.

use std::collections::BTreeMap;

use http::HeaderMap;

pub const USER_HEADER: &str = "x-remote-user";
pub const UID_HEADER: &str = "x-remote-uid";
pub const GROUP_HEADER: &str = "x-remote-group";
pub const EXTRA_PREFIX: &str = "x-remote-extra-";

/// The authenticated caller, as forwarded by the front proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

/// Reads the caller from the headers; `None` when there is no non-empty `X-Remote-User`.
pub fn user_from_headers(headers: &HeaderMap) -> Option<UserInfo> {
    let username = first_value(headers, USER_HEADER).filter(|v| !v.is_empty())?;
    let uid = first_value(headers, UID_HEADER).filter(|v| !v.is_empty());
    let groups = headers
        .get_all(GROUP_HEADER)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in headers.keys() {
        // HeaderName is already lower-case, so the prefix match is case-insensitive.
        let Some(suffix) = name.as_str().strip_prefix(EXTRA_PREFIX) else {
            continue;
        };
        let key = decode_extra_key(suffix);
        let values = extra.entry(key).or_default();
        for v in headers.get_all(name) {
            values.push(String::from_utf8_lossy(v.as_bytes()).into_owned());
        }
    }
    Some(UserInfo {
        username,
        uid,
        groups,
        extra,
    })
}

fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Decodes the part after `X-Remote-Extra-` like kube-apiserver: lower-case, then path-unescape.
/// A malformed escape keeps the lower-cased text as is (Kubernetes records it anyway).
pub fn decode_extra_key(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    path_unescape(&lower).unwrap_or(lower)
}

/// Go's `url.PathUnescape`: `%XX` escapes only, no `+` handling; `None` on a bad escape.
fn path_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn decodes_extra_keys_like_kubernetes() {
        assert_eq!(
            decode_extra_key("iam.miloapis.com%2Fparent-type"),
            "iam.miloapis.com/parent-type"
        );
        assert_eq!(
            decode_extra_key("IAM.miloapis.com%2fParent-Name"),
            "iam.miloapis.com/parent-name"
        );
        assert_eq!(decode_extra_key("a%25b"), "a%b");
        // Malformed escapes are kept, lower-cased.
        assert_eq!(decode_extra_key("Bad%zz"), "bad%zz");
        assert_eq!(decode_extra_key("trail%2"), "trail%2");
    }

    #[test]
    fn reads_user_groups_and_repeated_extras_in_order() {
        let h = headers(&[
            ("X-Remote-User", "alice"),
            ("X-Remote-Uid", "u-1"),
            ("X-Remote-Group", "g1"),
            ("X-Remote-Group", "g2"),
            (
                "X-Remote-Extra-Iam.miloapis.com%2Fparent-type",
                "Organization",
            ),
            ("x-remote-extra-iam.miloapis.com%2fparent-name", "acme"),
            ("X-REMOTE-EXTRA-scopes", "a"),
            ("x-remote-extra-scopes", "b"),
        ]);
        let u = user_from_headers(&h).unwrap();
        assert_eq!(u.username, "alice");
        assert_eq!(u.uid.as_deref(), Some("u-1"));
        assert_eq!(u.groups, vec!["g1", "g2"]);
        assert_eq!(
            u.extra.get("iam.miloapis.com/parent-type").unwrap(),
            &vec!["Organization".to_string()]
        );
        assert_eq!(
            u.extra.get("iam.miloapis.com/parent-name").unwrap(),
            &vec!["acme".to_string()]
        );
        assert_eq!(u.extra.get("scopes").unwrap(), &vec!["a", "b"]);
    }

    #[test]
    fn missing_or_empty_user_is_unauthenticated() {
        assert!(user_from_headers(&headers(&[("X-Remote-Group", "g")])).is_none());
        assert!(user_from_headers(&headers(&[("X-Remote-User", "")])).is_none());
        let u =
            user_from_headers(&headers(&[("X-Remote-User", "bob"), ("X-Remote-Uid", "")])).unwrap();
        assert_eq!(u.uid, None);
    }
}
