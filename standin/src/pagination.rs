//! Opaque `continue` tokens, shaped like kube-apiserver's: base64 of
//! `{"v":"meta.k8s.io/v1","rv":N,"start":"namespace/name\u0000"}`. The next page is served from
//! the snapshot at `rv`, so pages stay consistent while objects change.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Token {
    v: String,
    rv: u64,
    start: String,
}

/// Where the next page starts: the list's resourceVersion and the first key after the last item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue {
    pub rv: u64,
    /// Items with (namespace, name) strictly greater than this are on the next page.
    pub after: (String, String),
}

pub fn encode(c: &Continue) -> String {
    let token = Token {
        v: "meta.k8s.io/v1".into(),
        rv: c.rv,
        start: format!("{}/{}\u{0}", c.after.0, c.after.1),
    };
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode(s: &str) -> Result<Continue, String> {
    let bad = |why: &str| format!("continue key is not valid: {why}");
    let raw = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|e| bad(&e.to_string()))?;
    let token: Token = serde_json::from_slice(&raw).map_err(|e| bad(&e.to_string()))?;
    if token.v != "meta.k8s.io/v1" {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let start = token.start.strip_suffix('\u{0}').unwrap_or(&token.start);
    let (ns, name) = start
        .split_once('/')
        .ok_or_else(|| bad("malformed start key"))?;
    Ok(Continue {
        rv: token.rv,
        after: (ns.to_string(), name.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Continue {
            rv: 42,
            after: ("ns".into(), "ev.1".into()),
        };
        let t = encode(&c);
        assert!(!t.contains('/'));
        assert_eq!(decode(&t).unwrap(), c);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("not base64 !!").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("{}")).is_err());
        let wrong = URL_SAFE_NO_PAD.encode(r#"{"v":"x","rv":1,"start":"a/b"}"#);
        assert!(decode(&wrong).is_err());
    }
}
