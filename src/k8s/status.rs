//! Kubernetes `Status` replies for every request the filter refuses.

use serde::Serialize;

use crate::k8s::names::go_quote;

/// The Kubernetes `StatusReason`s the filter can answer with, each tied to its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    Invalid,
    InternalError,
    /// The events server's answer could not be brought into the client's API. Kubernetes has no
    /// reason of its own for a 502; this is the status text, which clients treat as unknown.
    BadGateway,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Reason::BadRequest,
        Reason::Unauthorized,
        Reason::Forbidden,
        Reason::NotFound,
        Reason::MethodNotAllowed,
        Reason::NotAcceptable,
        Reason::RequestEntityTooLarge,
        Reason::UnsupportedMediaType,
        Reason::Invalid,
        Reason::InternalError,
        Reason::BadGateway,
    ];

    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::RequestEntityTooLarge => 413,
            Reason::UnsupportedMediaType => 415,
            Reason::Invalid => 422,
            Reason::InternalError => 500,
            Reason::BadGateway => 502,
        }
    }

    /// The `reason` string Kubernetes clients switch on.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::InternalError => "InternalError",
            Reason::BadGateway => "BadGateway",
        }
    }

    /// Stable lower-case name for metrics.
    pub fn metric_name(self) -> &'static str {
        match self {
            Reason::BadRequest => "bad_request",
            Reason::Unauthorized => "unauthorized",
            Reason::Forbidden => "forbidden",
            Reason::NotFound => "not_found",
            Reason::MethodNotAllowed => "method_not_allowed",
            Reason::NotAcceptable => "not_acceptable",
            Reason::RequestEntityTooLarge => "request_entity_too_large",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::Invalid => "invalid",
            Reason::InternalError => "internal_error",
            Reason::BadGateway => "bad_gateway",
        }
    }
}

/// One `details.causes[]` entry of an Invalid status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl Cause {
    fn new(reason: &str, field: &str, message: String) -> Self {
        Cause {
            reason: reason.to_owned(),
            message,
            field: field.to_owned(),
        }
    }

    /// `field.Required`: `Required value[: detail]`.
    pub fn required(field: &str, detail: &str) -> Self {
        let mut m = "Required value".to_owned();
        if !detail.is_empty() {
            m.push_str(": ");
            m.push_str(detail);
        }
        Cause::new("FieldValueRequired", field, m)
    }

    /// `field.Invalid` with a string value: `Invalid value: "<value>": detail`.
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        let message = format!("Invalid value: {}: {detail}", go_quote(value));
        Cause::new("FieldValueInvalid", field, message)
    }

    /// `field.Invalid` with an integer value.
    pub fn invalid_int(field: &str, value: i64, detail: &str) -> Self {
        let message = format!("Invalid value: {value}: {detail}");
        Cause::new("FieldValueInvalid", field, message)
    }

    /// `field.TooLong` (byte limit).
    pub fn too_long(field: &str, max: usize) -> Self {
        let message = format!("Too long: must have at most {max} bytes");
        Cause::new("FieldValueTooLong", field, message)
    }
}

/// `details` of a Status: which object the failure is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

/// A refused request: what the client is told, as a Kubernetes `Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
    pub details: Option<Box<Details>>,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// `errors.NewUnauthorized("")`: what kube-apiserver answers a request it cannot
    /// authenticate.
    pub fn unauthorized() -> Self {
        Rejection::new(Reason::Unauthorized, "Unauthorized")
    }

    /// `errors.NewNotFound`: `<resource>[.<group>] "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let message = format!(
            "{} {} not found",
            qualified_resource(group, resource),
            go_quote(name)
        );
        Rejection::new(Reason::NotFound, message).with_details(Details {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: resource.to_owned(),
            ..Details::default()
        })
    }

    /// `errors.NewInvalid`: `<Kind>[.<group>] "<name>" is invalid: <errors>`, one error as it
    /// is, several deduplicated and bracketed; the causes go into `details`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let mut seen: Vec<String> = Vec::with_capacity(causes.len());
        for c in &causes {
            let m = format!("{}: {}", c.field, c.message);
            if !seen.contains(&m) {
                seen.push(m);
            }
        }
        let what = format!("{} {}", qualified_resource(group, kind), go_quote(name));
        let message = match seen.as_slice() {
            [] => format!("{what} is invalid"),
            [one] => format!("{what} is invalid: {one}"),
            many => format!("{what} is invalid: [{}]", many.join(", ")),
        };
        Rejection::new(Reason::Invalid, message).with_details(Details {
            name: name.to_owned(),
            group: group.to_owned(),
            kind: kind.to_owned(),
            causes,
        })
    }

    /// kube-apiserver's refusal of an unauthorized request (`responsewriters.Forbidden`:
    /// `forbiddenMessage` wrapped in `errors.NewForbidden`), e.g.
    /// `events is forbidden: User "bob" cannot list resource "events" in API group "" in the
    /// namespace "default"`.
    pub fn forbidden(request: &Forbidden<'_>) -> Self {
        let mut resource = request.resource.to_owned();
        if !request.subresource.is_empty() {
            resource.push('/');
            resource.push_str(request.subresource);
        }
        let mut why = format!(
            "User {} cannot {} resource {} in API group {}",
            go_quote(request.user),
            request.verb,
            go_quote(&resource),
            go_quote(request.group)
        );
        match request.namespace {
            Some(ns) if !ns.is_empty() => {
                why.push_str(" in the namespace ");
                why.push_str(&go_quote(ns));
            }
            _ => why.push_str(" at the cluster scope"),
        }
        if !request.reason.is_empty() {
            why.push_str(": ");
            why.push_str(request.reason);
        }
        // Avoid output that looks like HTML, as the API server's sanitizer does.
        let why = why
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let qualified = qualified_resource(request.group, request.resource);
        let message = if request.name.is_empty() {
            format!("{qualified} is forbidden: {why}")
        } else {
            format!("{qualified} {} is forbidden: {why}", go_quote(request.name))
        };
        Rejection::new(Reason::Forbidden, message).with_details(Details {
            name: request.name.to_owned(),
            group: request.group.to_owned(),
            kind: request.resource.to_owned(),
            ..Details::default()
        })
    }

    /// The events server answered with something the proxy will not pass on (it would carry
    /// the server's own API to the client): 502, except an object over the proxy's own size
    /// limit (500, the proxy's failing). The message never quotes the body.
    pub fn upstream(what: &UpstreamFault) -> Self {
        let why = match what {
            UpstreamFault::Encoding(e) => {
                format!("its content-encoding {} cannot be read", go_quote(e))
            }
            UpstreamFault::Malformed => "it is not valid JSON".to_owned(),
            UpstreamFault::Truncated => "it ended in the middle of a JSON value".to_owned(),
            UpstreamFault::ForeignApiVersion => {
                "an Event in it has an apiVersion the proxy cannot convert".to_owned()
            }
            UpstreamFault::TooLarge { limit } => {
                return Rejection::new(
                    Reason::InternalError,
                    format!("an object in the events server's response is larger than the proxy's limit of {limit} bytes"),
                );
            }
        };
        Rejection::new(
            Reason::BadGateway,
            format!("the events server sent a response the proxy cannot pass on: {why}"),
        )
    }

    pub fn with_details(mut self, details: Details) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn code(&self) -> u16 {
        self.reason.code()
    }

    /// The `Status` JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Meta {}
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
            details: Option<&'a Details>,
            code: u16,
        }
        let status = Status {
            kind: "Status",
            api_version: "v1",
            metadata: Meta {},
            status: "Failure",
            message: &self.message,
            reason: self.reason.as_str(),
            details: self.details.as_deref(),
            code: self.code(),
        };
        // Serializing plain structs of strings cannot fail; keep a fixed fallback anyway.
        serde_json::to_vec(&status).unwrap_or_else(|_| {
            br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","reason":"InternalError","code":500}"#.to_vec()
        })
    }
}

/// What was wrong with an events server response (see [`Rejection::upstream`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamFault {
    /// A `content-encoding` other than identity reached the filter.
    Encoding(String),
    /// Not valid JSON (or not a JSON object where one must be).
    Malformed,
    /// The body ended inside a value.
    Truncated,
    /// An Event whose `apiVersion` names the upstream group in a form that is not exactly the
    /// upstream version (escaped differently is fine; another version, padding, or invalid UTF-8
    /// is not).
    ForeignApiVersion,
    /// An object larger than `max_response_object_bytes`.
    TooLarge { limit: usize },
}

/// The authorization attributes of a refused request, as kube-apiserver words them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forbidden<'a> {
    pub user: &'a str,
    /// The Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`.
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    /// `None` (or empty): a cluster-scoped request, e.g. a list across all namespaces.
    pub namespace: Option<&'a str>,
    /// The object's name for named requests; empty otherwise.
    pub name: &'a str,
    /// The authorizer's reason, appended after `: ` when not empty.
    pub reason: &'a str,
}

/// `schema.GroupResource.String()` (and `GroupKind`): `resource` or `resource.group`.
fn qualified_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

/// Every module's error enum maps onto a Kubernetes reason and message this way.
pub trait KubeError {
    fn rejection(&self) -> Rejection;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_json_matches_kubernetes_shape() {
        let r = Rejection::new(Reason::BadRequest, "bad \"thing\"");
        let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":"bad \"thing\"","reason":"BadRequest","code":400})
        );
    }

    #[test]
    fn details_are_included_when_set() {
        let r = Rejection::new(Reason::NotFound, "events \"x\" not found").with_details(Details {
            name: "x".into(),
            kind: "events".into(),
            ..Details::default()
        });
        let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(
            v["details"],
            serde_json::json!({"name":"x","kind":"events"})
        );
        assert_eq!(v["code"], 404);
    }

    #[test]
    fn every_reason_has_distinct_code_and_name() {
        let mut codes: Vec<u16> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }

    #[test]
    fn forbidden_is_worded_like_kube_apiserver() {
        let list = Forbidden {
            user: "bob",
            verb: "list",
            resource: "events",
            namespace: Some("default"),
            ..Forbidden::default()
        };
        let r = Rejection::forbidden(&list);
        assert_eq!(r.code(), 403);
        assert_eq!(
            r.message,
            r#"events is forbidden: User "bob" cannot list resource "events" in API group "" in the namespace "default""#
        );
        let v: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(v["reason"], "Forbidden");
        assert_eq!(v["details"], serde_json::json!({"kind": "events"}));

        let named = Forbidden {
            verb: "get",
            group: "events.k8s.io",
            name: "x",
            ..list
        };
        assert_eq!(
            Rejection::forbidden(&named).message,
            r#"events.events.k8s.io "x" is forbidden: User "bob" cannot get resource "events" in API group "events.k8s.io" in the namespace "default""#
        );
        let all = Forbidden {
            namespace: None,
            reason: "no RBAC policy matched",
            ..list
        };
        assert_eq!(
            Rejection::forbidden(&all).message,
            r#"events is forbidden: User "bob" cannot list resource "events" in API group "" at the cluster scope: no RBAC policy matched"#
        );
        let odd = Forbidden {
            user: "<a&b>",
            subresource: "status",
            ..list
        };
        assert_eq!(
            Rejection::forbidden(&odd).message,
            r#"events is forbidden: User "&lt;a&amp;b&gt;" cannot list resource "events/status" in API group "" in the namespace "default""#
        );
    }

    #[test]
    fn unauthorized_and_not_found() {
        let r = Rejection::unauthorized();
        assert_eq!((r.code(), r.message.as_str()), (401, "Unauthorized"));
        let r = Rejection::not_found("events.k8s.io", "events", "x");
        assert_eq!(r.message, r#"events.events.k8s.io "x" not found"#);
        assert_eq!(r.code(), 404);
    }
}
