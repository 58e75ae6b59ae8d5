//! Why a conversion or check refused its input, as a Kubernetes Status; and the warnings for
//! unknown fields.

use std::collections::BTreeSet;

use crate::k8s::names::go_quote;
use crate::k8s::status::{Cause, Details, KubeError, Reason, Rejection};

/// Why a conversion, patch translation, selector translation or check refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertError {
    /// 400: the field selector does not parse (message as `fields.ParseSelector` words it).
    InvalidFieldSelector(String),
    /// 400: `field label not supported: <label>`.
    UnsupportedFieldLabel(String),
    /// 400: the patch document has the wrong JSON shape (not decodable by the API server).
    InvalidPatch(String),
    /// 422: a JSON-patch operation that cannot be applied to the events.k8s.io/v1 document (or
    /// cannot be carried over to the core shape). kube-apiserver answers every failed JSON-patch
    /// application with `the server rejected our request due to an error in our request`; the
    /// detail is added as the single cause.
    UnprocessablePatch { path: String, detail: String },
    /// 400: the `apiVersion`/`kind` in a patch is not events.k8s.io/v1 `Event`.
    TypeMismatch(String),
    /// 400: a field of the wrong JSON type, as the API server's decoder reports it.
    WrongType(String),
    /// 400: unknown fields under `fieldValidation=Strict`.
    UnknownFields(Vec<String>),
    /// 400: `metadata.namespace` differs from the namespace in the URL.
    NamespaceMismatch,
    /// 422: validation failed.
    Invalid { name: String, causes: Vec<Cause> },
    /// 400: a key that differs from this field only by (Go's Unicode) case folding.
    CaseVariant(&'static str),
}

pub(super) const DECODE_PREFIX: &str = "Event in version \"v1\" cannot be handled as a Event: ";

impl KubeError for ConvertError {
    fn rejection(&self) -> Rejection {
        match self {
            ConvertError::InvalidFieldSelector(m)
            | ConvertError::InvalidPatch(m)
            | ConvertError::TypeMismatch(m) => Rejection::new(Reason::BadRequest, m.clone()),
            ConvertError::UnsupportedFieldLabel(label) => Rejection::new(
                Reason::BadRequest,
                format!("field label not supported: {label}"),
            ),
            ConvertError::UnprocessablePatch { path, detail } => Rejection::new(
                Reason::Invalid,
                "the server rejected our request due to an error in our request",
            )
            .with_details(Details {
                causes: vec![Cause {
                    reason: String::new(),
                    message: detail.clone(),
                    field: path.clone(),
                }],
                ..Details::default()
            }),
            ConvertError::WrongType(m) => {
                Rejection::new(Reason::BadRequest, format!("{DECODE_PREFIX}{m}"))
            }
            ConvertError::UnknownFields(fields) => {
                let list: Vec<String> = fields
                    .iter()
                    .map(|f| format!("unknown field {}", go_quote(f)))
                    .collect();
                Rejection::new(
                    Reason::BadRequest,
                    format!("{DECODE_PREFIX}strict decoding error: {}", list.join(", ")),
                )
            }
            ConvertError::NamespaceMismatch => Rejection::new(
                Reason::BadRequest,
                "the namespace of the provided object does not match the namespace sent on the request",
            ),
            ConvertError::Invalid { name, causes } => invalid_event(name, causes.clone()),
            ConvertError::CaseVariant(field) => crate::k8s::fold::case_variant_rejection(field),
        }
    }
}

/// The 422 `Invalid` Status kube-apiserver answers an invalid Event with: `errors.NewInvalid`
/// with the internal kind `Event` and no group, so `Event "<name>" is invalid: <errors>`.
pub fn invalid_event(name: &str, causes: Vec<Cause>) -> Rejection {
    Rejection::invalid("", "Event", name, causes)
}

/// The warnings kube-apiserver adds under `fieldValidation=Warn` for the unknown fields
/// [`events_v1_to_core`] and the patch translators return: `unknown field "<path>"`, sorted and
/// deduplicated.
pub fn unknown_field_warnings(fields: &[String]) -> Vec<String> {
    let unique: BTreeSet<&String> = fields.iter().collect();
    unique
        .into_iter()
        .map(|f| format!("unknown field {}", go_quote(f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_warnings_are_sorted_and_unique() {
        let w = unknown_field_warnings(&["b".into(), "a".into(), "b".into()]);
        assert_eq!(w, vec!["unknown field \"a\"", "unknown field \"b\""]);
    }
}
