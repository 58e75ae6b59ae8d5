//! The Kubernetes `Status` replies the authorizer has Envoy send when it does not allow a
//! request, worded as kube-apiserver words them.

use serde::Serialize;

use crate::attributes::{EventAttributes, RESOURCE};
use crate::filter::go_quote;

/// A refusal: HTTP code, Kubernetes reason and the `Status` JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub reason: &'static str,
    pub body: Vec<u8>,
    /// `Retry-After` seconds: nothing reached the upstream, so any verb may be retried.
    pub retry_after: Option<u32>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Details<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    group: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_seconds: Option<u32>,
}

#[derive(Serialize)]
struct Meta {}

/// Fields in the order kube-apiserver writes them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: Meta,
    status: &'static str,
    message: &'a str,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details<'a>>,
    code: u16,
}

fn reply(code: u16, reason: &'static str, message: &str, details: Option<Details<'_>>) -> Reply {
    let retry_after = details.as_ref().and_then(|d| d.retry_after_seconds);
    let status = Status {
        kind: "Status",
        api_version: "v1",
        metadata: Meta {},
        status: "Failure",
        message,
        reason,
        details,
        code,
    };
    // A struct of strings always serializes; keep a fixed body anyway.
    let body = serde_json::to_vec(&status).unwrap_or_else(|_| {
        format!(r#"{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure","reason":"{reason}","code":{code}}}"#).into_bytes()
    });
    Reply {
        code,
        reason,
        body,
        retry_after,
    }
}

/// No token, or Milo did not authenticate it: kube-apiserver's 401, byte for byte.
pub fn unauthorized() -> Reply {
    reply(401, "Unauthorized", "Unauthorized", None)
}

/// kube-apiserver's `forbiddenMessage` wrapped by `NewForbidden`, with the authorizer's reason
/// appended when it gave one:
/// `events "x" is forbidden: User "bob" cannot get resource "events" in API group "" in the
/// namespace "default": <reason>`.
pub fn forbidden_message(attrs: &EventAttributes, username: &str, reason: &str) -> String {
    let mut msg = format!(
        "User {} cannot {} resource {} in API group {}",
        go_quote(username),
        attrs.verb.as_str(),
        go_quote(RESOURCE),
        go_quote(attrs.group.as_str()),
    );
    match attrs.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => {
            msg.push_str(" in the namespace ");
            msg.push_str(&go_quote(ns));
        }
        _ => msg.push_str(" at the cluster scope"),
    }
    if !reason.is_empty() {
        msg.push_str(": ");
        msg.push_str(reason);
    }
    let qualified = attrs.qualified_resource();
    match attrs.name.as_deref() {
        Some(name) if !name.is_empty() => {
            format!("{qualified} {} is forbidden: {msg}", go_quote(name))
        }
        _ => format!("{qualified} is forbidden: {msg}"),
    }
}

/// Milo denied the SubjectAccessReview: 403 with the details kube-apiserver sets.
pub fn forbidden(attrs: &EventAttributes, username: &str, reason: &str) -> Reply {
    let message = forbidden_message(attrs, username, reason);
    let details = Details {
        name: attrs.name.as_deref().unwrap_or_default(),
        group: attrs.group.as_str(),
        kind: RESOURCE,
        retry_after_seconds: None,
    };
    reply(403, "Forbidden", &message, Some(details))
}

/// Milo could not be asked (unreachable, timed out, answered 5xx): retryable.
pub fn unavailable(message: &str) -> Reply {
    let details = Details {
        retry_after_seconds: Some(1),
        ..Details::default()
    };
    reply(503, "ServiceUnavailable", message, Some(details))
}

/// Milo answered, but not with a usable review (refused the authorizer, contradictory status).
pub fn internal(message: &str) -> Reply {
    reply(500, "InternalError", message, None)
}

/// A refusal the filter would answer for this path, passed on unchanged.
pub fn refused(code: u16, reason: &'static str, body: Vec<u8>) -> Reply {
    Reply {
        code,
        reason,
        body,
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{ApiGroup, Verb};

    fn attrs(verb: Verb, group: ApiGroup, ns: Option<&str>, name: Option<&str>) -> EventAttributes {
        EventAttributes {
            verb,
            group,
            namespace: ns.map(str::to_owned),
            name: name.map(str::to_owned),
            parent: None,
        }
    }

    #[test]
    fn unauthorized_is_kube_apiservers_body() {
        let r = unauthorized();
        assert_eq!(r.code, 401);
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
    }

    #[test]
    fn forbidden_messages_are_worded_like_kube_apiserver() {
        let list = attrs(Verb::List, ApiGroup::Core, Some("default"), None);
        assert_eq!(
            forbidden_message(&list, "bob", ""),
            r#"events is forbidden: User "bob" cannot list resource "events" in API group "" in the namespace "default""#
        );
        let get = attrs(Verb::Get, ApiGroup::Core, Some("default"), Some("x"));
        assert_eq!(
            forbidden_message(&get, "bob", ""),
            r#"events "x" is forbidden: User "bob" cannot get resource "events" in API group "" in the namespace "default""#
        );
        let all = attrs(Verb::Watch, ApiGroup::Events, None, None);
        assert_eq!(
            forbidden_message(&all, "system:serviceaccount:a:b", ""),
            r#"events.events.k8s.io is forbidden: User "system:serviceaccount:a:b" cannot watch resource "events" in API group "events.k8s.io" at the cluster scope"#
        );
        let patch = attrs(Verb::Patch, ApiGroup::Events, Some("ns1"), Some("e1"));
        assert_eq!(
            forbidden_message(&patch, "bob", "no RBAC policy matched"),
            r#"events.events.k8s.io "e1" is forbidden: User "bob" cannot patch resource "events" in API group "events.k8s.io" in the namespace "ns1": no RBAC policy matched"#
        );
        // Names are quoted as Go's %q quotes them.
        assert_eq!(
            forbidden_message(&list, "a\"b\n", ""),
            r#"events is forbidden: User "a\"b\n" cannot list resource "events" in API group "" in the namespace "default""#
        );
    }

    #[test]
    fn forbidden_status_has_kube_apiservers_details() {
        let r = forbidden(
            &attrs(Verb::Get, ApiGroup::Events, Some("ns1"), Some("e1")),
            "bob",
            "",
        );
        assert_eq!(r.code, 403);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["reason"], "Forbidden");
        assert_eq!(v["code"], 403);
        assert_eq!(
            v["details"],
            serde_json::json!({"name":"e1","group":"events.k8s.io","kind":"events"})
        );
        let r = forbidden(&attrs(Verb::List, ApiGroup::Core, None, None), "bob", "");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["details"], serde_json::json!({"kind":"events"}));
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let r = unavailable("Milo is unavailable");
        assert_eq!((r.code, r.retry_after), (503, Some(1)));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["reason"], "ServiceUnavailable");
        assert_eq!(v["details"]["retryAfterSeconds"], 1);
        assert_eq!(internal("x").code, 500);
    }
}
