//! The Event validation kube-apiserver runs on writes through events.k8s.io/v1
//! (`pkg/apis/core/validation/events.go` with request version events.k8s.io/v1).
//!
//! - Create (and create-on-update): `ValidateEventCreate`, from the filter crate
//!   (`convert::check_events_v1_create`), on the events.k8s.io/v1 form of the object.
//! - Update and patch: the strict part of `ValidateEventUpdate` — a changed `series` must be
//!   valid, and `involvedObject`, `reason`, `type`, `eventTime` (to the microsecond), `action`,
//!   `related`, `reportingController` and `reportingInstance` are immutable. `note` and the
//!   deprecated fields may change.
//!
//! Like kube-apiserver, causes use the internal (core) field names and the 422 names the
//! internal kind: `Event "x" is invalid: reason: Invalid value: "B": field is immutable`.

use activity_events_filter::k8s::events as convert;
use activity_events_filter::k8s::status::Cause;
use serde_json::{Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::event;
use crate::events_v1::{api_error, from_rejection, go_quote};
use crate::repr::Repr;
use crate::status::ApiError;

/// 422 unless `stored` (core shape, namespace already set) is a valid events.k8s.io/v1 create.
pub fn check_create(stored: &Value) -> Result<(), ApiError> {
    let v1 = events_v1_form(stored);
    convert::check_events_v1_create(&v1).map_err(|e| api_error(&e))
}

/// 422 when updating `old` to `new` (both core shape) is refused for events.k8s.io/v1.
pub fn check_update(new: &Value, old: &Value) -> Result<(), ApiError> {
    let causes = update_causes(&events_v1_form(new), &events_v1_form(old));
    if causes.is_empty() {
        return Ok(());
    }
    Err(from_rejection(convert::invalid_event(
        event::name(new),
        causes,
    )))
}

/// The events.k8s.io/v1 object kube-apiserver would decode: normalized the same way on both
/// sides, so equal Go values compare equal here.
fn events_v1_form(stored: &Value) -> Map<String, Value> {
    match Repr::EventsV1.object(stored) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// How an immutable field's new value is printed in its cause.
#[derive(Clone, Copy)]
enum Print {
    Str,
    Reference,
    ReferencePtr,
    MicroTime,
}

/// `(events.k8s.io/v1 field, cause field, printer)` in `ValidateEventUpdate`'s order.
const IMMUTABLE: [(&str, &str, Print); 8] = [
    ("regarding", "involvedObject", Print::Reference),
    ("reason", "reason", Print::Str),
    ("type", "type", Print::Str),
    ("eventTime", "eventTime", Print::MicroTime),
    ("action", "action", Print::Str),
    ("related", "related", Print::ReferencePtr),
    ("reportingController", "reportingController", Print::Str),
    ("reportingInstance", "reportingInstance", Print::Str),
];

fn update_causes(new: &Map<String, Value>, old: &Map<String, Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if new.get("series") != old.get("series") {
        if let Some(series) = new.get("series").and_then(Value::as_object) {
            if series.get("count").and_then(Value::as_i64).unwrap_or(0) < 2 {
                causes.push(cause(
                    "FieldValueInvalid",
                    "series.count",
                    "Invalid value: \"\": should be at least 2".into(),
                ));
            }
            if matches!(series.get("lastObservedTime"), None | Some(Value::Null)) {
                causes.push(cause(
                    "FieldValueRequired",
                    "series.lastObservedTime",
                    "Required value".into(),
                ));
            }
        }
    }
    for (v1, field, print) in IMMUTABLE {
        let (now, before) = (new.get(v1), old.get(v1));
        let same = match print {
            Print::MicroTime => micros(now) == micros(before),
            _ => now == before,
        };
        if !same {
            causes.push(cause(
                "FieldValueInvalid",
                field,
                format!("Invalid value: {}: field is immutable", render(print, now)),
            ));
        }
    }
    causes
}

fn cause(reason: &str, field: &str, message: String) -> Cause {
    Cause {
        reason: reason.into(),
        message,
        field: field.into(),
    }
}

/// A `MicroTime` compared to the microsecond (kubernetes/kubernetes#111928); unparsable values
/// compare as their text.
fn micros(v: Option<&Value>) -> Result<Option<i128>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match OffsetDateTime::parse(s, &Rfc3339) {
            Ok(t) => Ok(Some(t.unix_timestamp_nanos().div_euclid(1000))),
            Err(_) => Err(s.clone()),
        },
        Some(other) => Err(other.to_string()),
    }
}

/// The bad value as apimachinery's `field.Invalid` prints it: strings quoted, structs as Go's
/// `%#v`, a nil pointer as `"null"`, times through `time.Time.String()`.
fn render(print: Print, v: Option<&Value>) -> String {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    match (print, v) {
        (Print::Str, v) => go_quote(&s(v)),
        (Print::ReferencePtr, None | Some(Value::Null)) => go_quote("null"),
        (Print::Reference | Print::ReferencePtr, v) => {
            let r = v.and_then(Value::as_object);
            let f = |k: &str| {
                go_quote(
                    r.and_then(|r| r.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                )
            };
            format!(
                "core.ObjectReference{{Kind:{}, Namespace:{}, Name:{}, UID:{}, APIVersion:{}, ResourceVersion:{}, FieldPath:{}}}",
                f("kind"),
                f("namespace"),
                f("name"),
                f("uid"),
                f("apiVersion"),
                f("resourceVersion"),
                f("fieldPath")
            )
        }
        (Print::MicroTime, v) => {
            let t = v
                .and_then(Value::as_str)
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok());
            match t {
                Some(t) => go_time_string(t.to_offset(UtcOffset::UTC)),
                None => "0001-01-01 00:00:00 +0000 UTC".to_string(),
            }
        }
    }
}

/// Go's `time.Time.String()` of a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time_string(t: OffsetDateTime) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
            "reason": "Started", "type": "Normal", "message": "m",
            "eventTime": "2024-06-01T12:00:00.123456Z",
            "action": "Start", "reportingComponent": "ctrl", "reportingInstance": "ctrl-1",
            "source": {}, "firstTimestamp": null, "lastTimestamp": null
        })
    }

    #[test]
    fn create_validation_uses_the_filter_rules() {
        assert!(check_create(&stored()).is_ok());
        let mut bad = stored();
        bad["eventTime"] = Value::Null;
        bad["type"] = json!("Odd");
        let e = check_create(&bad).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e.message.starts_with("Event \"e\" is invalid: ["), "{e}");
        let fields: Vec<&str> = e.details.as_ref().unwrap()["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"eventTime"), "{fields:?}");
        assert!(fields.contains(&"type"), "{fields:?}");
    }

    #[test]
    fn note_and_deprecated_fields_may_change() {
        let mut new = stored();
        new["message"] = json!("changed");
        new["count"] = json!(4);
        new["series"] = json!({"count": 2, "lastObservedTime": "2024-06-01T12:01:00.000000Z"});
        // Normalization differences are not changes.
        new["involvedObject"]["uid"] = json!("");
        new["eventTime"] = json!("2024-06-01T12:00:00.1234561Z");
        assert!(check_update(&new, &stored()).is_ok());
    }

    #[test]
    fn immutable_fields_are_refused_in_order() {
        let mut new = stored();
        new["reason"] = json!("Other");
        new["involvedObject"]["name"] = json!("q");
        new["eventTime"] = json!("2024-06-01T12:00:01Z");
        new["related"] = json!({"kind": "Node", "name": "n"});
        let e = check_update(&new, &stored()).unwrap_err();
        assert_eq!(e.code, 422);
        let causes = e.details.as_ref().unwrap()["causes"]
            .as_array()
            .unwrap()
            .clone();
        let fields: Vec<&str> = causes
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            vec!["involvedObject", "reason", "eventTime", "related"]
        );
        assert_eq!(
            causes[0]["message"],
            "Invalid value: core.ObjectReference{Kind:\"Pod\", Namespace:\"default\", Name:\"q\", UID:\"\", APIVersion:\"\", ResourceVersion:\"\", FieldPath:\"\"}: field is immutable"
        );
        assert_eq!(
            causes[1]["message"],
            "Invalid value: \"Other\": field is immutable"
        );
        assert_eq!(
            causes[2]["message"],
            "Invalid value: 2024-06-01 12:00:01 +0000 UTC: field is immutable"
        );
        assert!(e
            .message
            .starts_with("Event \"e\" is invalid: [involvedObject: "));
        assert!(e.details.as_ref().unwrap().get("group").is_none());

        let mut removed = stored();
        removed["related"] = json!({"kind": "Node"});
        let e = check_update(&stored(), &removed).unwrap_err();
        assert_eq!(
            e.details.unwrap()["causes"][0]["message"],
            "Invalid value: \"null\": field is immutable"
        );
    }

    #[test]
    fn a_changed_series_must_be_valid() {
        let mut new = stored();
        new["series"] = json!({"count": 1});
        let e = check_update(&new, &stored()).unwrap_err();
        let causes = e.details.unwrap()["causes"].clone();
        assert_eq!(causes[0]["field"], "series.count");
        assert_eq!(causes[1]["field"], "series.lastObservedTime");
        assert_eq!(causes[1]["reason"], "FieldValueRequired");
    }

    #[test]
    fn go_time_strings() {
        let t = OffsetDateTime::parse("2024-06-01T12:00:00.120Z", &Rfc3339).unwrap();
        assert_eq!(go_time_string(t), "2024-06-01 12:00:00.12 +0000 UTC");
        assert_eq!(
            render(Print::MicroTime, None),
            "0001-01-01 00:00:00 +0000 UTC"
        );
    }
}
