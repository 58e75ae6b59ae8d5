//! Authentication of the stand-in's own requests, in kube-apiserver's order: a client
//! certificate signed by the configured client CA (CN = user, O = groups), then a bearer token
//! from the token file. The authenticated group is added as kube-apiserver does.

use http::HeaderMap;

use crate::tokens::{TokenTable, UserInfo};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authn {
    /// No credentials at all.
    Anonymous,
    /// A bearer token that is not in the token file.
    Failed,
    Ok {
        user: UserInfo,
        /// `certificate` or `token`.
        by: &'static str,
    },
}

/// The bearer token of an `Authorization` header, read like kube-apiserver's bearer token
/// authenticator (scheme case-insensitive, one space, empty tokens ignored).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub fn authenticate(
    headers: &HeaderMap,
    client_cert: Option<&UserInfo>,
    tokens: &TokenTable,
) -> Authn {
    if let Some(user) = client_cert {
        return Authn::Ok {
            user: user.clone().authenticated(),
            by: "certificate",
        };
    }
    match bearer_token(headers) {
        None => Authn::Anonymous,
        Some(token) => match tokens.lookup(token) {
            Some(user) => Authn::Ok {
                user: user.clone().authenticated(),
                by: "token",
            },
            None => Authn::Failed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(auth).unwrap(),
        );
        h
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&headers("  BEARER abc  ")), Some("abc"));
        assert_eq!(bearer_token(&headers("Bearer abc def")), Some("abc"));
        assert_eq!(bearer_token(&headers("Bearer  abc")), None);
        assert_eq!(bearer_token(&headers("Basic abc")), None);
        assert_eq!(bearer_token(&headers("Bearer")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }

    #[test]
    fn certificate_then_token() {
        let tokens = TokenTable::from_reader("t1,alice,uid-a,g1\n".as_bytes(), "t").unwrap();
        match authenticate(&headers("Bearer t1"), None, &tokens) {
            Authn::Ok { user, by } => {
                assert_eq!(by, "token");
                assert_eq!(user.username, "alice");
                assert_eq!(user.groups, vec!["g1", "system:authenticated"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            authenticate(&headers("Bearer nope"), None, &tokens),
            Authn::Failed
        );
        assert_eq!(
            authenticate(&HeaderMap::new(), None, &tokens),
            Authn::Anonymous
        );
        let cert = UserInfo {
            username: "authz".into(),
            groups: vec!["reviewers".into()],
            ..UserInfo::default()
        };
        match authenticate(&headers("Bearer nope"), Some(&cert), &tokens) {
            Authn::Ok { user, by } => {
                assert_eq!(by, "certificate");
                assert_eq!(user.username, "authz");
            }
            other => panic!("{other:?}"),
        }
    }
}
