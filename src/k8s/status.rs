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
}

impl Reason {
    pub const ALL: [Reason; 10] = [
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
}
