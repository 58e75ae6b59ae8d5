//! `TokenReview` and `SubjectAccessReview`, answered as kube-apiserver answers them: tokens
//! from the token file, decisions from the policy.

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::{
    TokenReview, TokenReviewStatus, UserInfo as K8sUserInfo,
};
use k8s_openapi::api::authorization::v1::{SubjectAccessReview, SubjectAccessReviewStatus};
use serde_json::Value;

use crate::policy::{Action, Outcome, Policy, Subject};
use crate::status::{ApiError, Cause};
use crate::tokens::TokenTable;

/// kube-apiserver's bearer token authenticator error for a token nobody knows.
pub const INVALID_TOKEN: &str = "invalid bearer token";

fn decode<T: serde::de::DeserializeOwned>(body: &[u8], kind: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "the object provided is unrecognized (must be of type {kind}): {e}"
        ))
    })
}

/// Reviews `body` (a TokenReview). `api_audiences` empty means audience-agnostic: requested
/// audiences are echoed back. Otherwise kube's rule: the token is valid only for the
/// intersection of the requested (default: API) audiences and the API audiences.
pub fn token_review(
    body: &[u8],
    tokens: &TokenTable,
    api_audiences: &[String],
) -> Result<TokenReview, ApiError> {
    let mut review: TokenReview = decode(body, "TokenReview")?;
    let token = review.spec.token.clone();
    if token.is_empty() {
        return Err(ApiError::BadRequest(
            "token is required for TokenReview in authentication".into(),
        ));
    }
    let requested = review
        .spec
        .audiences
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| api_audiences.to_vec());
    let audiences: Vec<String> = if api_audiences.is_empty() {
        requested
    } else {
        requested
            .into_iter()
            .filter(|a| api_audiences.contains(a))
            .collect()
    };
    let audience_ok = api_audiences.is_empty() || !audiences.is_empty();
    let user = tokens.lookup(&token).filter(|_| audience_ok);
    review.status = Some(match user {
        Some(u) => {
            let u = u.clone().authenticated();
            TokenReviewStatus {
                authenticated: Some(true),
                user: Some(K8sUserInfo {
                    username: Some(u.username),
                    uid: Some(u.uid).filter(|s| !s.is_empty()),
                    groups: Some(u.groups),
                    extra: None,
                }),
                audiences: Some(audiences).filter(|a| !a.is_empty()),
                error: None,
            }
        }
        None => TokenReviewStatus {
            authenticated: Some(false),
            user: None,
            audiences: None,
            error: Some(INVALID_TOKEN.into()),
        },
    });
    Ok(review)
}

fn json_value<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// kube-apiserver's `ValidateSubjectAccessReview`.
fn validate(review: &SubjectAccessReview) -> Result<(), ApiError> {
    let spec = &review.spec;
    let mut causes = Vec::new();
    match (&spec.resource_attributes, &spec.non_resource_attributes) {
        (Some(_), Some(n)) => causes.push(Cause::invalid(
            "spec.nonResourceAttributes",
            &json_value(n),
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => causes.push(Cause::invalid(
            "spec.resourceAttributes",
            "\"null\"",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    let user = spec.user.as_deref().unwrap_or_default();
    if user.is_empty() && spec.groups.as_ref().is_none_or(Vec::is_empty) {
        causes.push(Cause::invalid(
            "spec.user",
            &format!("{user:?}"),
            "at least one of user or group must be specified",
        ));
    }
    let m = &review.metadata;
    if m.name.is_some() || m.namespace.is_some() || m.labels.is_some() || m.annotations.is_some() {
        causes.push(Cause::invalid("metadata", &json_value(m), "must be empty"));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid {
            kind: "SubjectAccessReview".into(),
            group: "authorization.k8s.io".into(),
            causes,
        })
    }
}

/// The action a SubjectAccessReview spec asks about.
fn action(review: &SubjectAccessReview) -> Action {
    if let Some(r) = &review.spec.resource_attributes {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        return Action::Resource {
            verb: s(&r.verb),
            group: s(&r.group),
            resource: s(&r.resource),
            subresource: s(&r.subresource),
            namespace: s(&r.namespace),
            name: s(&r.name),
        };
    }
    let n = review
        .spec
        .non_resource_attributes
        .clone()
        .unwrap_or_default();
    Action::NonResource {
        verb: n.verb.unwrap_or_default(),
        path: n.path.unwrap_or_default(),
    }
}

pub fn subject_access_review(
    body: &[u8],
    policy: &Policy,
) -> Result<SubjectAccessReview, ApiError> {
    let mut review: SubjectAccessReview = decode(body, "SubjectAccessReview")?;
    validate(&review)?;
    let groups = review.spec.groups.clone().unwrap_or_default();
    let extra: BTreeMap<String, Vec<String>> = review.spec.extra.clone().unwrap_or_default();
    let decision = policy.authorize(
        &Subject {
            user: review.spec.user.as_deref().unwrap_or_default(),
            uid: review.spec.uid.as_deref().unwrap_or_default(),
            groups: &groups,
            extra: &extra,
        },
        &action(&review),
    );
    review.status = Some(SubjectAccessReviewStatus {
        allowed: decision.outcome == Outcome::Allow,
        denied: (decision.outcome == Outcome::Deny).then_some(true),
        reason: Some(decision.reason).filter(|r| !r.is_empty()),
        evaluation_error: None,
    });
    Ok(review)
}

/// `spec` and `status` of an answered review, for the request log.
pub fn parts<T: serde::Serialize>(review: &T) -> (Value, Option<Value>) {
    let v = serde_json::to_value(review).unwrap_or(Value::Null);
    (
        v.get("spec").cloned().unwrap_or(Value::Null),
        v.get("status").cloned(),
    )
}

/// The `spec` of a request body that could not be answered, when it has one.
pub fn spec_of(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("spec").cloned())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tokens() -> TokenTable {
        TokenTable::from_reader("t-alice,alice,uid-alice,acme\n".as_bytes(), "t").unwrap()
    }

    fn tr(body: Value, auds: &[&str]) -> Result<Value, ApiError> {
        let auds: Vec<String> = auds.iter().map(|s| s.to_string()).collect();
        token_review(body.to_string().as_bytes(), &tokens(), &auds)
            .map(|r| serde_json::to_value(r).unwrap())
    }

    #[test]
    fn token_reviews() {
        let ok = tr(json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": "t-alice"}}), &[]).unwrap();
        assert_eq!(
            ok["status"],
            json!({"authenticated": true, "user": {"username": "alice", "uid": "uid-alice", "groups": ["acme", "system:authenticated"]}})
        );
        assert_eq!(ok["apiVersion"], "authentication.k8s.io/v1");
        assert_eq!(ok["spec"]["token"], "t-alice");
        let bad = tr(json!({"spec": {"token": "nope"}}), &[]).unwrap();
        assert_eq!(
            bad["status"],
            json!({"authenticated": false, "error": "invalid bearer token"})
        );
        let e = tr(json!({"spec": {}}), &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "token is required for TokenReview in authentication"
        );
        assert_eq!(tr(json!({"kind": "Pod"}), &[]).unwrap_err().code(), 400);
        assert_eq!(tr(json!([1]), &[]).unwrap_err().code(), 400);
    }

    #[test]
    fn token_review_audiences() {
        let echoed = tr(
            json!({"spec": {"token": "t-alice", "audiences": ["a"]}}),
            &[],
        )
        .unwrap();
        assert_eq!(echoed["status"]["audiences"], json!(["a"]));
        let api = tr(json!({"spec": {"token": "t-alice"}}), &["milo"]).unwrap();
        assert_eq!(api["status"]["audiences"], json!(["milo"]));
        let wrong = tr(
            json!({"spec": {"token": "t-alice", "audiences": ["other"]}}),
            &["milo"],
        )
        .unwrap();
        assert_eq!(wrong["status"]["authenticated"], false);
    }

    fn sar(spec: Value) -> Result<Value, ApiError> {
        let policy: Policy = serde_json::from_value(json!({
            "organizations": {"acme": {"users": ["alice"]}},
            "denied": {"users": ["mallory"]}
        }))
        .unwrap();
        subject_access_review(json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}).to_string().as_bytes(), &policy)
            .map(|r| serde_json::to_value(r).unwrap())
    }

    #[test]
    fn subject_access_reviews() {
        let extra = json!({
            "iam.miloapis.com/parent-type": ["Organization"],
            "iam.miloapis.com/parent-name": ["acme"],
            "iam.miloapis.com/parent-api-group": ["resourcemanager.miloapis.com"]
        });
        let allowed = sar(json!({"user": "alice", "extra": extra, "resourceAttributes": {"verb": "create", "resource": "events", "namespace": "default"}})).unwrap();
        assert_eq!(
            allowed["status"],
            json!({"allowed": true, "reason": "allowed by organizations[\"acme\"] to User \"alice\""})
        );
        let none = sar(json!({"user": "alice", "resourceAttributes": {"verb": "create", "resource": "events"}})).unwrap();
        assert_eq!(none["status"]["allowed"], false);
        assert!(none["status"].get("denied").is_none());
        let denied = sar(
            json!({"user": "mallory", "resourceAttributes": {"verb": "get", "resource": "events"}}),
        )
        .unwrap();
        assert_eq!(denied["status"]["denied"], true);
    }

    #[test]
    fn subject_access_review_validation() {
        let e = sar(json!({"resourceAttributes": {"verb": "get"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified"#
        );
        let e = sar(json!({"user": "a"})).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified"#
        );
        let e = sar(json!({"groups": ["g"], "resourceAttributes": {}, "nonResourceAttributes": {"path": "/api", "verb": "get"}})).unwrap_err();
        assert!(e
            .to_string()
            .contains("cannot be specified in combination with resourceAttributes"));
        assert_eq!(e.code(), 422);
    }
}
