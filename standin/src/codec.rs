//! Request bodies the way kube-apiserver's decoder treats them: Go type errors as 400, and
//! fields the Go type does not have handled by `fieldValidation` — dropped with a
//! `Warning: 299 - "unknown field \"foo\""` header (`Warn`, the default), refused with 400
//! `strict decoding error: unknown field "foo"` (`Strict`, kubectl's default), or dropped
//! silently (`Ignore`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

use crate::gojson::{quote, DecodeError};
use crate::status::ApiError;

/// The `fieldValidation` query parameter of a create, update or patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

impl FieldValidation {
    /// Parses the parameter; other values are refused like apiserver validates
    /// `CreateOptions`/`UpdateOptions`/`PatchOptions` (`options`): 422 Invalid.
    pub fn parse(v: Option<&str>, options: &str) -> Result<Self, ApiError> {
        match v.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => {
                let message = format!(
                    "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                    quote(other)
                );
                Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("{options}.meta.k8s.io \"\" is invalid: fieldValidation: {message}"),
                )
                .with_details(StatusDetails {
                    group: Some("meta.k8s.io".into()),
                    kind: Some(options.into()),
                    causes: Some(vec![StatusCause {
                        reason: Some("FieldValueNotSupported".into()),
                        message: Some(message),
                        field: Some("fieldValidation".into()),
                    }]),
                    ..StatusDetails::default()
                }))
            }
        }
    }

    /// What the unknown fields of a body of `Event` in `version` come to: the warnings to
    /// answer with, or the Strict refusal.
    pub fn unknown_fields(
        self,
        unknown: &[String],
        version: &str,
    ) -> Result<Vec<String>, ApiError> {
        let mut texts: Vec<String> = Vec::new();
        for f in unknown {
            let text = format!("unknown field {}", quote(f));
            if !texts.contains(&text) {
                texts.push(text);
            }
        }
        match self {
            Self::Strict if !texts.is_empty() => Err(ApiError::bad_request(format!(
                "{}strict decoding error: {}",
                prefix(version),
                texts.join(", ")
            ))),
            Self::Ignore | Self::Strict => Ok(Vec::new()),
            Self::Warn => Ok(texts),
        }
    }
}

/// How apiserver introduces every decoding failure of a body.
fn prefix(version: &str) -> String {
    format!(
        "Event in version {} cannot be handled as a Event: ",
        quote(version)
    )
}

/// A body the Go decoder refused: 400 in apiserver's words.
pub fn decode_error(e: &DecodeError, version: &str) -> ApiError {
    ApiError::bad_request(format!("{}{e}", prefix(version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_validation_values() {
        assert_eq!(
            FieldValidation::parse(None, "CreateOptions").unwrap(),
            FieldValidation::Warn
        );
        assert_eq!(
            FieldValidation::parse(Some("Strict"), "CreateOptions").unwrap(),
            FieldValidation::Strict
        );
        let e = FieldValidation::parse(Some("Loud"), "PatchOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Loud\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
        );
    }

    #[test]
    fn unknown_fields_per_mode() {
        let unknown = vec![
            "foo".to_string(),
            "involvedObject.bar".to_string(),
            "foo".to_string(),
        ];
        assert_eq!(
            FieldValidation::Warn
                .unknown_fields(&unknown, "v1")
                .unwrap(),
            vec![
                "unknown field \"foo\"",
                "unknown field \"involvedObject.bar\""
            ]
        );
        assert!(FieldValidation::Ignore
            .unknown_fields(&unknown, "v1")
            .unwrap()
            .is_empty());
        let e = FieldValidation::Strict
            .unknown_fields(&unknown, "v1")
            .unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            "Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \"foo\", unknown field \"involvedObject.bar\""
        );
        assert!(FieldValidation::Strict
            .unknown_fields(&[], "v1")
            .unwrap()
            .is_empty());
    }
}
