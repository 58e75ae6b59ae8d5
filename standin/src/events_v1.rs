//! events.k8s.io/v1 requests in the stored core shape: bodies decoded and converted, patches and
//! field selectors translated, refusals worded like kube-apiserver. All of it goes through the
//! filter crate's pure `activity_events_filter::k8s::events`, so the stand-in in "standard paths"
//! mode converts exactly as the filter (and kube-apiserver) does.

use activity_events_filter::k8s::events::{self as convert, ConvertError};
use activity_events_filter::k8s::status::{KubeError, Rejection};
use serde_json::{json, Map, Value};

use crate::patch::PatchType;
use crate::status::ApiError;

/// `fieldValidation`: what happens to fields events.k8s.io/v1 does not know (they are dropped
/// when the body is decoded into the Go type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    /// kube-apiserver's default: one `Warning` header per dropped field.
    Warn,
    /// 400 `strict decoding error: unknown field "..."`.
    Strict,
}

impl FieldValidation {
    /// The `fieldValidation` query value. Unsupported values are refused like kube-apiserver
    /// validates `CreateOptions`/`UpdateOptions`/`PatchOptions` (`options`): 422 Invalid.
    pub fn parse(v: Option<&str>, options: &str) -> Result<Self, ApiError> {
        match v.unwrap_or("") {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => {
                let message = format!(
                    "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                    go_quote(other)
                );
                Err(ApiError::new(
                    422,
                    "Invalid",
                    format!("{options}.meta.k8s.io \"\" is invalid: fieldValidation: {message}"),
                )
                .with_details(json!({
                    "group": "meta.k8s.io",
                    "kind": options,
                    "causes": [{"reason": "FieldValueNotSupported", "message": message, "field": "fieldValidation"}],
                })))
            }
        }
    }

    /// What to do with the fields a conversion or patch translation dropped: an error under
    /// Strict, otherwise the warnings to send (none under Ignore).
    fn unknown_fields(self, unknown: &[String]) -> Result<Vec<String>, ApiError> {
        match self {
            _ if unknown.is_empty() => Ok(Vec::new()),
            Self::Strict => {
                let mut fields: Vec<String> = Vec::with_capacity(unknown.len());
                for f in unknown {
                    if !fields.contains(f) {
                        fields.push(f.clone());
                    }
                }
                Err(api_error(&ConvertError::UnknownFields(fields)))
            }
            Self::Warn => Ok(convert::unknown_field_warnings(unknown)),
            Self::Ignore => Ok(Vec::new()),
        }
    }
}

/// A request translated to the stored shape, and the `Warning`s to answer with.
#[derive(Debug)]
pub struct Translated<T> {
    pub value: T,
    pub warnings: Vec<String>,
}

/// A create or update body (a JSON object whose `apiVersion`/`kind` the caller checked) in the
/// stored core shape, in kube-apiserver's order: field types checked like its decoder (400),
/// unknown fields dropped (`fieldValidation`), then the namespace taken from the URL (400 when
/// the body names another). `apiVersion`/`kind` are left for the caller to re-tag.
pub fn decode(
    mut body: Map<String, Value>,
    namespace: &str,
    fv: FieldValidation,
) -> Result<Translated<Value>, ApiError> {
    convert::check_events_v1_types(&body).map_err(|e| api_error(&e))?;
    let unknown = convert::events_v1_to_core(&mut body);
    let warnings = fv.unknown_fields(&unknown)?;
    convert::apply_request_namespace(&mut body, namespace).map_err(|e| api_error(&e))?;
    Ok(Translated {
        value: Value::Object(body),
        warnings,
    })
}

/// A PATCH body written against events.k8s.io/v1 as a patch of the stored core shape.
pub fn patch(
    kind: PatchType,
    body: &[u8],
    fv: FieldValidation,
) -> Result<Translated<Vec<u8>>, ApiError> {
    let mut doc: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(match kind {
            PatchType::Json => format!("invalid JSON patch: {e}"),
            PatchType::Merge | PatchType::Strategic => format!("invalid JSON in patch: {e}"),
        })
    })?;
    let unknown = match kind {
        PatchType::Merge => convert::merge_patch_events_v1_to_core(&mut doc),
        PatchType::Strategic => convert::strategic_merge_patch_events_v1_to_core(&mut doc),
        PatchType::Json => convert::json_patch_events_v1_to_core(&mut doc),
    }
    .map_err(|e| api_error(&e))?;
    let warnings = fv.unknown_fields(&unknown)?;
    let value = serde_json::to_vec(&doc)
        .map_err(|e| ApiError::internal(format!("encoding the translated patch: {e}")))?;
    Ok(Translated { value, warnings })
}

/// An events.k8s.io/v1 `fieldSelector` in the stored shape's labels (`regarding.name` →
/// `involvedObject.name`, `reportingController` → `reportingComponent`); other labels → 400
/// `field label not supported: <label>`.
pub fn field_selector(selector: &str) -> Result<String, ApiError> {
    convert::field_selector_events_v1_to_core(selector).map_err(|e| api_error(&e))
}

/// A conversion refusal as the Status kube-apiserver answers.
pub fn api_error(e: &ConvertError) -> ApiError {
    from_rejection(e.rejection())
}

/// The filter crate's `Rejection` as this server's `ApiError` (same code, reason, message and
/// details).
pub fn from_rejection(r: Rejection) -> ApiError {
    let err = ApiError::new(r.code(), r.reason.as_str(), r.message);
    match r.details.map(|d| serde_json::to_value(*d)) {
        Some(Ok(details)) => err.with_details(details),
        _ => err,
    }
}

/// Go's `%q` for the strings that appear in messages (ASCII escapes; printable non-ASCII kept).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn decode_converts_and_applies_the_namespace() {
        let t = decode(
            obj(json!({
                "metadata": {"name": "e"},
                "regarding": {"kind": "Pod", "name": "p"},
                "note": "hi", "reportingController": "ctrl", "foo": 1
            })),
            "ns",
            FieldValidation::Warn,
        )
        .unwrap();
        assert_eq!(t.value["involvedObject"]["name"], "p");
        assert_eq!(t.value["message"], "hi");
        assert_eq!(t.value["reportingComponent"], "ctrl");
        assert_eq!(t.value["metadata"]["namespace"], "ns");
        assert!(t.value.get("foo").is_none());
        assert_eq!(t.warnings, vec!["unknown field \"foo\"".to_string()]);
    }

    #[test]
    fn decode_refusals() {
        let e = decode(obj(json!({"note": 5})), "ns", FieldValidation::Warn).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("Event.note of type string"), "{e}");
        let e = decode(
            obj(json!({"message": "x", "foo": 1})),
            "ns",
            FieldValidation::Strict,
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message.contains(
                "strict decoding error: unknown field \"message\", unknown field \"foo\""
            ) || e.message.contains(
                "strict decoding error: unknown field \"foo\", unknown field \"message\""
            ),
            "{e}"
        );
        let e = decode(
            obj(json!({"metadata": {"namespace": "other"}})),
            "ns",
            FieldValidation::Warn,
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
        let t = decode(obj(json!({"foo": 1})), "ns", FieldValidation::Ignore).unwrap();
        assert!(t.warnings.is_empty());
    }

    #[test]
    fn patches_are_translated() {
        let t = patch(
            PatchType::Merge,
            br#"{"note":"n","regarding":{"name":"p"}}"#,
            FieldValidation::Warn,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&t.value).unwrap();
        assert_eq!(v, json!({"message": "n", "involvedObject": {"name": "p"}}));
        let t = patch(
            PatchType::Json,
            br#"[{"op":"replace","path":"/deprecatedCount","value":3}]"#,
            FieldValidation::Warn,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&t.value).unwrap();
        assert_eq!(v[0]["path"], "/count");
        assert_eq!(
            patch(PatchType::Merge, b"{", FieldValidation::Warn)
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            patch(
                PatchType::Json,
                br#"[{"op":"remove","path":"/message"}]"#,
                FieldValidation::Warn
            )
            .unwrap_err()
            .code,
            422
        );
    }

    #[test]
    fn selectors_and_field_validation() {
        assert_eq!(
            field_selector("regarding.name=p,reportingController!=c").unwrap(),
            "involvedObject.name=p,reportingComponent!=c"
        );
        let e = field_selector("note=x").unwrap_err();
        assert_eq!(e.code, 400);
        assert_eq!(e.message, "field label not supported: note");
        assert_eq!(
            FieldValidation::parse(None, "CreateOptions").unwrap(),
            FieldValidation::Warn
        );
        let e = FieldValidation::parse(Some("Loud"), "PatchOptions").unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e
            .message
            .starts_with("PatchOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Loud\""));
    }

    #[test]
    fn rejections_keep_their_details() {
        let e = api_error(&ConvertError::Invalid {
            name: "x".into(),
            causes: vec![],
        });
        assert_eq!(e.code, 422);
        assert_eq!(e.message, "Event \"x\" is invalid");
        assert_eq!(e.details.unwrap(), json!({"name": "x", "kind": "Event"}));
        assert_eq!(go_quote("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
