//! Decoder-like type checks: what `json.Unmarshal` into the Go Event type would refuse, and
//! the request namespace the API server applies.

use serde_json::{Map, Value};

use super::error::*;
use super::object::*;
use crate::k8s::fold::{first_variant, variant_of};

/// Every top-level name of an Event in either API (the names the conversion renames, from and
/// to, and those it keeps) plus `apiVersion`, `kind` and `metadata`: a key that folds onto one of
/// them without being spelled like it is refused (see [`crate::k8s::fold`]).
pub const EVENT_TOP_FIELDS: [&str; 24] = [
    "apiVersion",
    "kind",
    "metadata",
    "action",
    "count",
    "deprecatedCount",
    "eventTime",
    "firstTimestamp",
    "deprecatedFirstTimestamp",
    "involvedObject",
    "regarding",
    "lastTimestamp",
    "deprecatedLastTimestamp",
    "message",
    "note",
    "reason",
    "related",
    "reportingComponent",
    "reportingController",
    "reportingInstance",
    "series",
    "source",
    "deprecatedSource",
    "type",
];

/// The `metadata` fields the filter reads in an events.k8s.io/v1 body (request namespace,
/// `ValidateObjectMeta`, the scope annotations).
const META_FIELDS: [&str; 6] = [
    "name",
    "generateName",
    "namespace",
    "generation",
    "labels",
    "annotations",
];

const SERIES_FIELDS: [&str; 2] = ["count", "lastObservedTime"];

/// The fields of the nested object under a top-level Event field (either API's name).
pub(super) fn nested_fields(top: &str) -> &'static [&'static str] {
    match top {
        "metadata" => &META_FIELDS,
        "regarding" | "involvedObject" | "related" => &OBJECT_REFERENCE_FIELDS,
        "deprecatedSource" | "source" => &EVENT_SOURCE_FIELDS,
        "series" => &SERIES_FIELDS,
        _ => &[],
    }
}

/// Refuse (400) an events.k8s.io/v1 object or merge patch with a key, at the top or one level
/// down in the nested types, that Go's `encoding/json` would fold onto a field the filter
/// converts or checks (`notE`, `deprecatedCounT`, `annotationſ`): the conversion would drop it
/// as unknown, or pass it on, while a folding decoder would read it as the field.
pub fn check_event_case_variants(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    if let Some(field) = first_variant(obj.keys(), &EVENT_TOP_FIELDS) {
        return Err(ConvertError::CaseVariant(field));
    }
    for (key, value) in obj {
        if let Value::Object(inner) = value {
            if let Some(field) = first_variant(inner.keys(), nested_fields(key)) {
                return Err(ConvertError::CaseVariant(field));
            }
        }
    }
    Ok(())
}

/// [`check_event_case_variants`] for the first two tokens of a decoded JSON pointer.
pub(super) fn check_pointer_case_variants(tokens: &[String]) -> Result<(), ConvertError> {
    let variant = match tokens {
        [first, ..] if !EVENT_TOP_FIELDS.contains(&first.as_str()) => {
            variant_of(first, &EVENT_TOP_FIELDS)
        }
        [first, second, ..] => variant_of(second, nested_fields(first)),
        _ => None,
    };
    match variant {
        Some(field) => Err(ConvertError::CaseVariant(field)),
        None => Ok(()),
    }
}

/// Refuse (400) an events.k8s.io/v1 body whose fields have JSON types the Go type cannot decode,
/// with the API server's wording, e.g. `Event in version "v1" cannot be handled as a Event: json:
/// cannot unmarshal number into Go struct field Event.note of type string`. `null` is accepted
/// everywhere (Go leaves the zero value). Unknown fields and `metadata` contents are not checked
/// here (the first are reported by [`events_v1_to_core`], the second has the same type upstream).
/// Time strings are not parsed: the upstream's `MicroTime`/`Time` decoding rejects bad ones.
pub fn check_events_v1_types(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    check_event_case_variants(obj)?;
    for (key, v) in obj {
        let k = key.as_str();
        match k {
            "apiVersion"
            | "kind"
            | "reportingController"
            | "reportingInstance"
            | "action"
            | "reason"
            | "note"
            | "type" => expect_string(v, "Event", k, "string")?,
            "metadata" => {
                expect_object(v, "Event", k, "v1.ObjectMeta")?;
            }
            "eventTime" | "deprecatedFirstTimestamp" | "deprecatedLastTimestamp" => expect_time(v)?,
            "deprecatedCount" => expect_int32(v, "Event", k)?,
            "regarding" | "related" => {
                if let Some(m) = expect_object(v, "Event", k, "v1.ObjectReference")? {
                    for (sub, sv) in m {
                        if OBJECT_REFERENCE_FIELDS.contains(&sub.as_str()) {
                            let ty = if sub == "uid" { "types.UID" } else { "string" };
                            expect_string(sv, "ObjectReference", &format!("{k}.{sub}"), ty)?;
                        }
                    }
                }
            }
            "deprecatedSource" => {
                if let Some(m) = expect_object(v, "Event", k, "v1.EventSource")? {
                    for (sub, sv) in m {
                        if EVENT_SOURCE_FIELDS.contains(&sub.as_str()) {
                            expect_string(sv, "EventSource", &format!("{k}.{sub}"), "string")?;
                        }
                    }
                }
            }
            "series" => {
                if let Some(m) = expect_object(v, "Event", k, "v1.EventSeries")? {
                    if let Some(c) = m.get("count") {
                        expect_int32(c, "EventSeries", "series.count")?;
                    }
                    if let Some(t) = m.get("lastObservedTime") {
                        expect_time(t)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

pub(super) fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "bool".to_owned(),
        Value::Number(_) => "number".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

pub(super) fn type_error(value: String, strukt: &str, field: &str, ty: &str) -> ConvertError {
    ConvertError::WrongType(format!(
        "json: cannot unmarshal {value} into Go struct field {strukt}.{field} of type {ty}"
    ))
}

pub(super) fn expect_string(
    v: &Value,
    strukt: &str,
    field: &str,
    ty: &str,
) -> Result<(), ConvertError> {
    match v {
        Value::Null | Value::String(_) => Ok(()),
        other => Err(type_error(json_kind(other), strukt, field, ty)),
    }
}

pub(super) fn expect_object<'a>(
    v: &'a Value,
    strukt: &str,
    field: &str,
    ty: &str,
) -> Result<Option<&'a Map<String, Value>>, ConvertError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(type_error(json_kind(other), strukt, field, ty)),
    }
}

pub(super) fn expect_int32(v: &Value, strukt: &str, field: &str) -> Result<(), ConvertError> {
    match v {
        Value::Null => Ok(()),
        Value::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => Ok(()),
            _ => Err(type_error(format!("number {n}"), strukt, field, "int32")),
        },
        other => Err(type_error(json_kind(other), strukt, field, "int32")),
    }
}

/// `metav1.Time`/`MicroTime` unmarshal a JSON string themselves, so a wrong type surfaces as the
/// error of that inner `json.Unmarshal`.
pub(super) fn expect_time(v: &Value) -> Result<(), ConvertError> {
    match v {
        Value::Null | Value::String(_) => Ok(()),
        other => Err(ConvertError::WrongType(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_kind(other)
        ))),
    }
}

/// `EnsureObjectNamespaceMatchesRequestNamespace`: an object without a namespace gets the one
/// from the URL; a different one is refused (400). Call before [`validate_events_v1_create`].
pub fn apply_request_namespace(
    obj: &mut Map<String, Value>,
    request_namespace: &str,
) -> Result<(), ConvertError> {
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    let Value::Object(meta) = meta else {
        return Ok(());
    };
    let current = meta.get("namespace").and_then(Value::as_str).unwrap_or("");
    if current == request_namespace || request_namespace.is_empty() {
        return Ok(());
    }
    if current.is_empty() {
        meta.insert(
            "namespace".to_owned(),
            Value::String(request_namespace.to_owned()),
        );
        return Ok(());
    }
    Err(ConvertError::NamespaceMismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::events::object::{CORE_TO_V1, V1_TO_CORE};
    use crate::k8s::events::test_support::*;
    use crate::k8s::status::KubeError;
    use serde_json::json;

    #[test]
    fn wrong_types_are_refused_like_the_decoder() {
        let cases = [
            (json!({"note": 5}), "json: cannot unmarshal number into Go struct field Event.note of type string"),
            (json!({"regarding": "x"}), "json: cannot unmarshal string into Go struct field Event.regarding of type v1.ObjectReference"),
            (json!({"regarding": {"uid": 1}}), "json: cannot unmarshal number into Go struct field ObjectReference.regarding.uid of type types.UID"),
            (json!({"deprecatedSource": []}), "json: cannot unmarshal array into Go struct field Event.deprecatedSource of type v1.EventSource"),
            (json!({"deprecatedSource": {"host": true}}), "json: cannot unmarshal bool into Go struct field EventSource.deprecatedSource.host of type string"),
            (json!({"series": {"count": "2"}}), "json: cannot unmarshal string into Go struct field EventSeries.series.count of type int32"),
            (json!({"deprecatedCount": 1.5}), "json: cannot unmarshal number 1.5 into Go struct field Event.deprecatedCount of type int32"),
            (json!({"deprecatedCount": 3000000000u64}), "json: cannot unmarshal number 3000000000 into Go struct field Event.deprecatedCount of type int32"),
            (json!({"eventTime": 5}), "json: cannot unmarshal number into Go value of type string"),
            (json!({"metadata": []}), "json: cannot unmarshal array into Go struct field Event.metadata of type v1.ObjectMeta"),
        ];
        for (v, want) in cases {
            let err = check_events_v1_types(&obj(v.clone())).unwrap_err();
            assert_eq!(err, ConvertError::WrongType(want.to_owned()), "{v}");
            let r = err.rejection();
            assert_eq!(r.code(), 400);
            assert_eq!(
                r.message,
                format!("Event in version \"v1\" cannot be handled as a Event: {want}")
            );
        }
        assert!(check_events_v1_types(&obj(fixture("full-events-v1"))).is_ok());
        assert!(check_events_v1_types(&obj(
            json!({"note": null, "regarding": null, "deprecatedCount": null})
        ))
        .is_ok());
    }

    #[test]
    fn guarded_names_cover_both_sides_of_the_conversion() {
        for (a, b, _) in V1_TO_CORE.iter().chain(CORE_TO_V1.iter()) {
            assert!(EVENT_TOP_FIELDS.contains(a), "{a}");
            assert!(EVENT_TOP_FIELDS.contains(b), "{b}");
        }
    }

    #[test]
    fn keys_go_folds_onto_event_fields_are_refused() {
        for (v, field) in [
            (json!({"notE": "x"}), "note"),
            (json!({"note": "ok", "NOTE": "x"}), "note"),
            (
                json!({"deprecatedCoun\u{74}": 1, "deprecatedCounT": 2}),
                "deprecatedCount",
            ),
            (
                json!({"reportingControlle\u{72}": "a", "REPORTINGCONTROLLER": "b"}),
                "reportingController",
            ),
            (
                json!({"message": "core name", "me\u{17f}\u{17f}age": "x"}),
                "message",
            ),
            (json!({"\u{212A}ind": "Pod"}), "kind"),
            (json!({"metadata": {"namespacE": "other"}}), "namespace"),
            (
                json!({"metadata": {"annotation\u{17f}": {}}}),
                "annotations",
            ),
            (json!({"regarding": {"\u{212A}ind": "Pod"}}), "kind"),
            (json!({"series": {"coun\u{54}": 1}}), "count"),
            (json!({"deprecatedSource": {"HOST": "h"}}), "host"),
        ] {
            let err = check_events_v1_types(&obj(v.clone())).unwrap_err();
            assert_eq!(err, ConvertError::CaseVariant(field), "{v}");
            let r = err.rejection();
            assert_eq!(r.code(), 400);
            assert_eq!(
                r.message,
                format!("the request body has a field that differs from '{field}' only by case")
            );
        }
        // Unknown names that fold onto nothing, and maps the filter does not read, are fine.
        assert!(check_events_v1_types(&obj(json!({
            "notes": "x", "metadata": {"labels": {"NAME": "v"}, "annotations": {"Kind": "v"}},
            "regarding": {"fieldpath2": "x"}
        })))
        .is_ok());
    }

    // --- patches ---------------------------------------------------------------------------
}
