//! Errors as Kubernetes `Status` objects, worded and shaped like kube-apiserver's (field order
//! included, so a client sees the same bytes as from a real API server).

use serde::Serialize;

/// Every error the stand-in answers with, mapped to a Kubernetes reason and HTTP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("Unauthorized")]
    Unauthorized,
    /// kube-apiserver's `forbidden` message; `reason` is the authorizer's, when it gave one.
    #[error("{}", forbidden_message(.group, .resource, .name, .message, .reason))]
    Forbidden {
        group: String,
        resource: String,
        name: String,
        message: String,
        reason: String,
    },
    /// A path nothing serves.
    #[error("the server could not find the requested resource")]
    PathNotFound,
    #[error("{resource} {} not found", crate::path::go_quote(.name.as_bytes()))]
    NotFound {
        group: String,
        resource: String,
        name: String,
    },
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("only the following media types are accepted: {0}")]
    NotAcceptable(String),
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json"
    )]
    UnsupportedMediaType,
    #[error("{}", invalid_message(.kind, .group, .causes))]
    Invalid {
        kind: String,
        group: String,
        causes: Vec<Cause>,
    },
    #[error("the request entity is too large: limit is {0} bytes")]
    RequestEntityTooLarge(usize),
    #[error("Internal error occurred: {0}")]
    Internal(String),
    /// A test fault: this status, with the matching reason.
    #[error("injected fault: {}", injected_reason(*.0))]
    Injected(u16),
}

fn injected_reason(code: u16) -> &'static str {
    match code {
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// One field error of an `Invalid` Status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub reason: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Cause {
    /// `field.Invalid(path, value, detail)`.
    pub fn invalid(field: &str, value: &str, detail: &str) -> Self {
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {value}: {detail}"),
            field: field.to_string(),
        }
    }
}

fn forbidden_message(
    group: &str,
    resource: &str,
    name: &str,
    message: &str,
    reason: &str,
) -> String {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let mut m = if qualified.is_empty() {
        format!("forbidden: {message}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {message}")
    } else {
        format!("{qualified} {name:?} is forbidden: {message}")
    };
    if !reason.is_empty() {
        m.push_str(": ");
        m.push_str(reason);
    }
    m
}

fn invalid_message(kind: &str, group: &str, causes: &[Cause]) -> String {
    let errs: Vec<String> = causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect();
    let list = match errs.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    format!("{kind}.{group} \"\" is invalid: {list}")
}

/// kube-apiserver's authorization failure text for a non-resource path.
pub fn cannot_path(user: &str, verb: &str, path: &str) -> String {
    format!("User {user:?} cannot {verb} path {path:?}")
}

/// kube-apiserver's authorization failure text (`forbiddenMessage`).
pub fn cannot(user: &str, verb: &str, group: &str, resource: &str, namespace: &str) -> String {
    if namespace.is_empty() {
        format!("User {user:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope")
    } else {
        format!("User {user:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {namespace:?}")
    }
}

impl ApiError {
    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::PathNotFound | ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::NotAcceptable(_) => 406,
            ApiError::RequestEntityTooLarge(_) => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Invalid { .. } => 422,
            ApiError::Internal(_) => 500,
            ApiError::Injected(code) => *code,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::PathNotFound | ApiError::NotFound { .. } => "NotFound",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable(_) => "NotAcceptable",
            ApiError::RequestEntityTooLarge(_) => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType => "UnsupportedMediaType",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::Internal(_) => "InternalError",
            ApiError::Injected(code) => injected_reason(*code),
        }
    }

    fn details(&self) -> Option<Details> {
        let d = match self {
            ApiError::BadRequest(_)
            | ApiError::Unauthorized
            | ApiError::NotAcceptable(_)
            | ApiError::UnsupportedMediaType
            | ApiError::RequestEntityTooLarge(_)
            | ApiError::Injected(_) => return None,
            ApiError::PathNotFound | ApiError::MethodNotAllowed => Details::default(),
            ApiError::Forbidden {
                group,
                resource,
                name,
                ..
            }
            | ApiError::NotFound {
                group,
                resource,
                name,
            } => Details {
                name: name.clone(),
                group: group.clone(),
                kind: resource.clone(),
                causes: Vec::new(),
            },
            ApiError::Invalid {
                kind,
                group,
                causes,
            } => Details {
                name: String::new(),
                group: group.clone(),
                kind: kind.clone(),
                causes: causes.clone(),
            },
            ApiError::Internal(msg) => Details {
                causes: vec![Cause {
                    reason: "",
                    message: msg.clone(),
                    field: String::new(),
                }],
                ..Details::default()
            },
        };
        Some(d)
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Status {
        Status {
            kind: "Status",
            api_version: "v1",
            metadata: Empty {},
            status: "Failure",
            message: self.to_string(),
            reason: self.reason(),
            details: self.details(),
            code: self.code(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Empty {}

/// `meta/v1 Status` with kube-apiserver's field order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    kind: &'static str,
    api_version: &'static str,
    metadata: Empty,
    status: &'static str,
    message: String,
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
    code: u16,
}

#[derive(Debug, Default, Serialize)]
struct Details {
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    causes: Vec<Cause>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(e: &ApiError) -> String {
        serde_json::to_string(&e.status()).unwrap()
    }

    #[test]
    fn unauthorized_is_byte_for_byte_kube_apiserver() {
        assert_eq!(
            json(&ApiError::Unauthorized),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
    }

    #[test]
    fn not_found_shapes() {
        assert_eq!(
            json(&ApiError::PathNotFound),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#
        );
        assert_eq!(
            json(&ApiError::NotFound {
                group: String::new(),
                resource: "namespaces".into(),
                name: "Bad".into()
            }),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \"Bad\" not found","reason":"NotFound","details":{"name":"Bad","kind":"namespaces"},"code":404}"#
        );
    }

    #[test]
    fn forbidden_and_invalid_messages() {
        let e = ApiError::Forbidden {
            group: "authentication.k8s.io".into(),
            resource: "tokenreviews".into(),
            name: String::new(),
            message: cannot("eve", "create", "authentication.k8s.io", "tokenreviews", ""),
            reason: String::new(),
        };
        assert_eq!(
            e.to_string(),
            r#"tokenreviews.authentication.k8s.io is forbidden: User "eve" cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope"#
        );
        let e = ApiError::Forbidden {
            group: String::new(),
            resource: "namespaces".into(),
            name: "default".into(),
            message: cannot("eve", "get", "", "namespaces", "default"),
            reason: "no rule".into(),
        };
        assert_eq!(
            e.to_string(),
            r#"namespaces "default" is forbidden: User "eve" cannot get resource "namespaces" in API group "" in the namespace "default": no rule"#
        );
        let e = ApiError::Invalid {
            kind: "SubjectAccessReview".into(),
            group: "authorization.k8s.io".into(),
            causes: vec![Cause::invalid(
                "spec.user",
                "\"\"",
                "at least one of user or group must be specified",
            )],
        };
        assert_eq!(
            e.to_string(),
            r#"SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified"#
        );
        assert_eq!(e.code(), 422);
        assert_eq!(
            json(&ApiError::Internal("injected fault".into())),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: injected fault","reason":"InternalError","details":{"causes":[{"message":"injected fault"}]},"code":500}"#
        );
    }
}
