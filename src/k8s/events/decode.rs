//! Decoder-like type checks: what `json.Unmarshal` into the Go Event type would refuse, and
//! the request namespace the API server applies.

use serde_json::{Map, Value};

use super::error::*;
use super::object::*;

/// Refuse (400) an events.k8s.io/v1 body whose fields have JSON types the Go type cannot decode,
/// with the API server's wording, e.g. `Event in version "v1" cannot be handled as a Event: json:
/// cannot unmarshal number into Go struct field Event.note of type string`. `null` is accepted
/// everywhere (Go leaves the zero value). Unknown fields and `metadata` contents are not checked
/// here (the first are reported by [`events_v1_to_core`], the second has the same type upstream).
/// Time strings are not parsed: the upstream's `MicroTime`/`Time` decoding rejects bad ones.
pub fn check_events_v1_types(obj: &Map<String, Value>) -> Result<(), ConvertError> {
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

    // --- patches ---------------------------------------------------------------------------
}
