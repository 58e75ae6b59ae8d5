//! Kubernetes `Status` bodies (k8s-openapi's `Status`), the way kube-apiserver shapes them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
use serde_json::Value;

use crate::resource::Resource;

/// An API error answered as a `Status` object with `status: Failure`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// Boxed: `StatusDetails` is large and every handler returns `Result<_, ApiError>`.
    pub details: Option<Box<StatusDetails>>,
    /// Warning texts recorded before the request failed (kube-apiserver sends them with the
    /// error, e.g. unknown fields found while decoding a body that then fails validation).
    pub warnings: Vec<String>,
}

/// One entry of `details.causes` on a 422 Invalid: a `field.Error` of apimachinery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: &'static str,
    pub message: String,
    pub field: String,
}

impl Cause {
    /// `field.Required`: `Required value` (with `: detail` when there is one).
    pub fn required(field: &str, detail: &str) -> Self {
        let message = match detail {
            "" => "Required value".to_string(),
            d => format!("Required value: {d}"),
        };
        Self {
            reason: "FieldValueRequired",
            message,
            field: field.into(),
        }
    }

    /// `field.Invalid` with the bad value already printed the way apimachinery prints it.
    pub fn invalid(field: &str, printed_value: &str, detail: &str) -> Self {
        Self {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {printed_value}: {detail}"),
            field: field.into(),
        }
    }

    fn to_status_cause(&self) -> StatusCause {
        StatusCause {
            reason: Some(self.reason.to_string()).filter(|r| !r.is_empty()),
            message: Some(self.message.clone()),
            field: Some(self.field.clone()),
        }
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            warnings: Vec::new(),
        }
    }

    pub fn with_warnings(mut self, warnings: &[String]) -> Self {
        self.warnings = warnings.to_vec();
        self
    }

    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    pub fn not_found(res: &Resource, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", res.qualified_resource(), name),
        )
        .with_details(res.details(name, None))
    }

    /// An unknown URL: kube-apiserver answers these without details.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(StatusDetails::default())
    }

    pub fn already_exists(res: &Resource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", res.qualified_resource(), name),
        )
        .with_details(res.details(name, None))
    }

    pub fn conflict(res: &Resource, name: &str, why: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                res.qualified_resource(),
                name,
                why
            ),
        )
        .with_details(res.details(name, None))
    }

    /// 422 Invalid with field causes, worded like `errors.NewInvalid`.
    pub fn invalid(res: &Resource, name: &str, causes: Vec<Cause>) -> Self {
        // `ToAggregate`: the message lists each distinct error once; the causes keep them all.
        let mut summary: Vec<String> = Vec::with_capacity(causes.len());
        for c in &causes {
            let line = format!("{}: {}", c.field, c.message);
            if !summary.contains(&line) {
                summary.push(line);
            }
        }
        let summary = match summary.len() {
            1 => summary.concat(),
            _ => format!("[{}]", summary.join(", ")),
        };
        let details = StatusDetails {
            name: some(name),
            group: some(&res.kind_group),
            kind: Some("Event".into()),
            causes: Some(causes.iter().map(Cause::to_status_cause).collect()),
            ..StatusDetails::default()
        };
        Self::new(
            422,
            "Invalid",
            format!(
                "{} \"{}\" is invalid: {}",
                res.qualified_kind(),
                name,
                summary
            ),
        )
        .with_details(details)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(StatusDetails::default())
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({content_type:?}) - \
                 accepted media types include: {accepted}"
            ),
        )
    }

    pub fn not_acceptable() -> Self {
        Self::new(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, \
             application/json;as=Table;v=v1;g=meta.k8s.io",
        )
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The reason kube-apiserver uses for a bare HTTP code (used by fault injection).
    pub fn reason_for_code(code: u16) -> &'static str {
        match code {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            405 => "MethodNotAllowed",
            406 => "NotAcceptable",
            409 => "Conflict",
            410 => "Expired",
            413 => "RequestEntityTooLarge",
            415 => "UnsupportedMediaType",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "Unknown",
        }
    }

    pub fn to_status(&self) -> Value {
        status_json(&Status {
            status: Some("Failure".into()),
            message: Some(self.message.clone()),
            reason: Some(self.reason.clone()),
            details: self.details.as_deref().cloned(),
            code: Some(i32::from(self.code)),
            ..Status::default()
        })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The `Status` answered for a successful delete.
pub fn delete_success(res: &Resource, name: &str, uid: &str) -> Value {
    status_json(&Status {
        status: Some("Success".into()),
        details: Some(res.details(name, Some(uid))),
        ..Status::default()
    })
}

fn status_json(s: &Status) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn not_found_shape_for_group_resource() {
        let res = Resource::from_prefix("/apis/activity.miloapis.com/v1alpha1").unwrap();
        let s = ApiError::not_found(&res, "e1").to_status();
        assert_eq!(s["code"], 404);
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(
            s["message"],
            "events.activity.miloapis.com \"e1\" not found"
        );
        assert_eq!(s["details"]["name"], "e1");
        assert_eq!(s["details"]["kind"], "events");
        assert_eq!(s["details"]["group"], "activity.miloapis.com");
    }

    #[test]
    fn core_resource_has_no_group() {
        let res = Resource::from_prefix("/api/v1").unwrap();
        let s = ApiError::not_found(&res, "e1").to_status();
        assert_eq!(s["message"], "events \"e1\" not found");
        assert!(s["details"].get("group").is_none());
    }

    #[test]
    fn events_v1_names_its_group_except_in_invalid() {
        let res = Resource::events_v1();
        let s = ApiError::not_found(&res, "e1").to_status();
        assert_eq!(s["message"], "events.events.k8s.io \"e1\" not found");
        assert_eq!(
            s["details"],
            json!({"name": "e1", "group": "events.k8s.io", "kind": "events"})
        );
        let s = ApiError::conflict(&res, "e1", "why").to_status();
        assert_eq!(
            s["message"],
            "Operation cannot be fulfilled on events.events.k8s.io \"e1\": why"
        );
        // kube-apiserver validates the internal core object: no group in Invalid.
        let s = ApiError::invalid(&res, "e1", vec![]).to_status();
        assert!(s["message"]
            .as_str()
            .unwrap()
            .starts_with("Event \"e1\" is invalid"));
        assert!(s["details"].get("group").is_none());
        let s = delete_success(&res, "e1", "u");
        assert_eq!(s["details"]["group"], "events.k8s.io");
    }

    #[test]
    fn activity_mode_reads_like_an_aggregated_api_server() {
        let res = Resource::from_prefix("/apis/activity.miloapis.com/v1alpha1").unwrap();
        let s = ApiError::already_exists(&res, "e1").to_status();
        assert_eq!(
            s["message"],
            "events.activity.miloapis.com \"e1\" already exists"
        );
        assert_eq!(s["details"]["group"], "activity.miloapis.com");
        let s = ApiError::invalid(&res, "e1", vec![]).to_status();
        assert!(s["message"]
            .as_str()
            .unwrap()
            .starts_with("Event.activity.miloapis.com \"e1\" is invalid"));
        assert_eq!(s["details"]["group"], "activity.miloapis.com");
        assert_eq!(s["details"]["kind"], "Event");
    }

    #[test]
    fn invalid_lists_causes() {
        let res = Resource::from_prefix("/api/v1").unwrap();
        let e = ApiError::invalid(
            &res,
            "",
            vec![Cause {
                reason: "FieldValueRequired",
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }],
        );
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"][0]["field"], "metadata.name");
        assert_eq!(s["details"]["kind"], "Event");
    }
}
