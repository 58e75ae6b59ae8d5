//! The caller's identity: the bearer token it presented, the user Milo reviewed it as, the
//! parent context its URL adds, and the form the filter reads it in.

use base64::Engine;
use k8s_openapi::api::authentication::v1::UserInfo;

use crate::attributes::ParentContext;
use crate::filter::{PARENT_API_GROUP_EXTRA, PARENT_NAME_EXTRA, PARENT_TYPE_EXTRA};

/// The metadata key the filter reads the identity from (in `envoy.filters.http.ext_authz`).
pub const USERINFO_KEY: &str = "userinfo";

/// The bearer token of an `Authorization` header value, read the way kube-apiserver's bearer
/// token authenticator reads it: trimmed, split at spaces into at most three parts, scheme
/// `Bearer` in any letter case, the second part the token. Anything else carries no token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let mut parts = authorization.trim().splitn(3, ' ');
    let scheme = parts.next()?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    parts.next().filter(|t| !t.is_empty())
}

/// The user with the URL's parent context, as Milo's context decorators set it after
/// authentication: the three parent keys are set (replacing the user's own values), every
/// other extra is kept. Without a prefix the user's extras stand as reviewed.
pub fn with_parent(mut user: UserInfo, parent: Option<&ParentContext>) -> UserInfo {
    if let Some(p) = parent {
        let extra = user.extra.get_or_insert_with(Default::default);
        extra.insert(
            PARENT_API_GROUP_EXTRA.to_owned(),
            vec![p.api_group.to_owned()],
        );
        extra.insert(PARENT_TYPE_EXTRA.to_owned(), vec![p.kind.to_owned()]);
        extra.insert(PARENT_NAME_EXTRA.to_owned(), vec![p.name.clone()]);
    }
    user
}

/// The `userinfo` metadata value: base64 of the `authentication.k8s.io/v1` UserInfo JSON.
pub fn metadata_userinfo(user: &UserInfo) -> String {
    // Serializing a struct of strings cannot fail; an empty object would be refused by the
    // filter (no user), never taken as someone.
    let json = serde_json::to_vec(user).unwrap_or_else(|_| b"{}".to_vec());
    base64::engine::general_purpose::STANDARD.encode(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_like_kube_apiserver() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("  Bearer abc  "), Some("abc"));
        // A third part is ignored, as kube-apiserver ignores it.
        assert_eq!(bearer_token("Bearer abc def"), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        // "Bearer  abc": the token part is empty.
        assert_eq!(bearer_token("Bearer  abc"), None);
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer_token(""), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    fn user() -> UserInfo {
        UserInfo {
            username: Some("bob".into()),
            uid: Some("b-1".into()),
            groups: Some(vec!["g".into()]),
            extra: Some(
                [
                    (
                        PARENT_TYPE_EXTRA.to_owned(),
                        vec!["Organization".to_owned()],
                    ),
                    (
                        PARENT_NAME_EXTRA.to_owned(),
                        vec!["acme".to_owned(), "x".to_owned()],
                    ),
                    ("example.com/other".to_owned(), vec!["kept".to_owned()]),
                ]
                .into_iter()
                .collect(),
            ),
        }
    }

    #[test]
    fn the_url_parent_overrides_the_three_keys_and_keeps_the_rest() {
        let parent = ParentContext {
            kind: "Project",
            api_group: "resourcemanager.miloapis.com",
            name: "web-app".into(),
        };
        let u = with_parent(user(), Some(&parent));
        let extra = u.extra.unwrap();
        assert_eq!(extra[PARENT_TYPE_EXTRA], ["Project"]);
        assert_eq!(extra[PARENT_NAME_EXTRA], ["web-app"]);
        assert_eq!(
            extra[PARENT_API_GROUP_EXTRA],
            ["resourcemanager.miloapis.com"]
        );
        assert_eq!(extra["example.com/other"], ["kept"]);
        assert_eq!(extra.len(), 4);
        assert_eq!(u.username.as_deref(), Some("bob"));
    }

    #[test]
    fn without_a_prefix_the_reviewed_extras_stand() {
        assert_eq!(with_parent(user(), None), user());
        let bare = UserInfo {
            username: Some("alice".into()),
            ..UserInfo::default()
        };
        assert_eq!(with_parent(bare.clone(), None), bare);
        let parent = ParentContext {
            kind: "User",
            api_group: "iam.miloapis.com",
            name: "u-1".into(),
        };
        let extra = with_parent(bare, Some(&parent)).extra.unwrap();
        assert_eq!(extra[PARENT_TYPE_EXTRA], ["User"]);
        assert_eq!(extra[PARENT_API_GROUP_EXTRA], ["iam.miloapis.com"]);
    }

    #[test]
    fn metadata_is_base64_of_the_userinfo_json() {
        let b64 = metadata_userinfo(&user());
        let json = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["username"], "bob");
        assert_eq!(v["uid"], "b-1");
        assert_eq!(v["groups"], serde_json::json!(["g"]));
        assert_eq!(v["extra"]["example.com/other"], serde_json::json!(["kept"]));
    }
}
