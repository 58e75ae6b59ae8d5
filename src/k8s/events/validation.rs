//! `ValidateEventCreate` for events.k8s.io/v1 creates, and the 422 Status kube-apiserver
//! answers with.

use serde_json::{Map, Value};

use super::error::*;
use super::fields::*;
use super::meta::*;
use crate::k8s::names::*;
use crate::k8s::status::*;

/// The causes kube-apiserver reports when an events.k8s.io/v1 Event is created
/// (`ValidateEventCreate` with request version events.k8s.io/v1), in its order, with its field
/// paths (core names, see the module documentation), reasons and messages. Empty when valid.
///
/// `obj` is the events.k8s.io/v1 body *before* conversion, after [`apply_request_namespace`].
/// Checked: the legacy rules (namespace agreement with `regarding.namespace`; with `eventTime`
/// set, `reportingController` required and a qualified name, `reportingInstance`, `action`,
/// `reason` required and ≤128 bytes, `note` ≤1024 bytes; namespace a DNS subdomain), then the
/// strict ones (`metadata`: name/generateName DNS subdomain, namespace required and a DNS label,
/// generation ≥0, label keys and values, annotation keys and total size; `series.count` ≥2 and
/// `series.lastObservedTime` required; `eventTime` required; `type` Normal or Warning; the
/// deprecated fields unset). Not checked: `ownerReferences`, `finalizers`, `managedFields` (left to
/// the upstream, same type on both sides). Values of the wrong JSON type count as empty (refuse
/// them first with [`check_events_v1_types`]). A name still to be generated from `generateName`
/// is checked as `generateName` plus five valid characters.
pub fn validate_events_v1_create(obj: &Map<String, Value>) -> Vec<Cause> {
    let mut e = Errs::default();
    legacy(obj, &mut e);
    let meta = obj.get("metadata").and_then(Value::as_object);
    let event_time_set = time_is_set(obj.get("eventTime"));

    // Strict validation for events.k8s.io/v1.
    validate_object_meta(meta, &mut e);
    series(obj.get("series"), &mut e);
    if !event_time_set {
        e.required("eventTime", "");
    }
    let ty = str_of(obj.get("type"));
    if ty != "Normal" && ty != "Warning" {
        e.invalid("type", "", &format!("has invalid value: {ty}"));
    }
    for (v1, core) in [
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
    ] {
        if time_is_set(obj.get(v1)) {
            e.invalid(core, "", "needs to be unset");
        }
    }
    if matches!(obj.get("deprecatedCount"), Some(Value::Number(n)) if n.as_i64() != Some(0)) {
        e.invalid("count", "", "needs to be unset");
    }
    let source = obj.get("deprecatedSource").and_then(Value::as_object);
    let component = str_of(source.and_then(|s| s.get("component")));
    let host = str_of(source.and_then(|s| s.get("host")));
    if !component.is_empty() || !host.is_empty() {
        e.invalid("source", "", "needs to be unset");
    }
    e.0
}

/// `legacyValidateEvent`: what every create and every update of an Event must pass, whatever
/// the request version and whether or not the event exists.
fn legacy(obj: &Map<String, Value>, e: &mut Errs) {
    let meta = obj.get("metadata").and_then(Value::as_object);
    let namespace = str_of(meta.and_then(|m| m.get("namespace")));
    let event_time_set = time_is_set(obj.get("eventTime"));
    let regarding_ns = str_of(
        obj.get("regarding")
            .and_then(Value::as_object)
            .and_then(|r| r.get("namespace")),
    );

    if !event_time_set {
        let mismatch = if regarding_ns.is_empty() {
            !namespace.is_empty() && namespace != "default"
        } else {
            namespace != regarding_ns
        };
        if mismatch {
            e.invalid(
                "involvedObject.namespace",
                regarding_ns,
                "does not match event.namespace",
            );
        }
    } else {
        if regarding_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
            e.invalid(
                "involvedObject.namespace",
                regarding_ns,
                "does not match event.namespace",
            );
        }
        let controller = str_of(obj.get("reportingController"));
        if controller.is_empty() {
            e.required("reportingController", "");
        }
        for msg in qualified_name_errors(controller) {
            e.invalid("reportingController", controller, &msg);
        }
        for (field, limit) in [
            ("reportingInstance", REPORTING_INSTANCE_LENGTH_LIMIT),
            ("action", ACTION_LENGTH_LIMIT),
            ("reason", REASON_LENGTH_LIMIT),
        ] {
            let value = str_of(obj.get(field));
            if value.is_empty() {
                e.required(field, "");
            }
            if value.len() > limit {
                e.invalid(field, "", &format!("can have at most {limit} characters"));
            }
        }
        if str_of(obj.get("note")).len() > NOTE_LENGTH_LIMIT {
            e.invalid(
                "message",
                "",
                &format!("can have at most {NOTE_LENGTH_LIMIT} characters"),
            );
        }
    }
    for msg in dns1123_subdomain_errors(namespace.as_bytes(), LenUnit::Characters) {
        e.invalid("namespace", namespace, &msg);
    }
}

/// `validateV1EventSeries` for a series given whole (a create or update body, or a JSON-patch
/// value that replaces it): `count` at least 2, `lastObservedTime` set.
fn series(series: Option<&Value>, e: &mut Errs) {
    if let Some(series) = series.and_then(Value::as_object) {
        let count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
        if count < 2 {
            e.invalid("series.count", "", "should be at least 2");
        }
        if !time_is_set(series.get("lastObservedTime")) {
            e.required("series.lastObservedTime", "");
        }
    }
}

/// The causes of `ValidateEventUpdate` (request version events.k8s.io/v1) that can be known
/// from the new object alone, in kube-apiserver's order: the legacy rules, then a present
/// `series` checked as `validateV1EventSeries` does.
///
/// An events.k8s.io/v1 PUT may create the event (kube-apiserver validates that as a create) or
/// replace it (validated as an update); which one depends on whether it exists, which the filter
/// cannot see. So a PUT gets only the rules both paths apply. The create rules are *not* applied
/// to every PUT: a valid update of an event written through core/v1 (no `eventTime`,
/// `deprecatedCount`/`deprecatedSource` set, any `type`) fails them, and kube-apiserver accepts
/// it because those fields are immutable and only compared with the stored ones. Not checked
/// here, since they need the stored object: the immutable fields (`regarding`, `note`,
/// `reason`, `type`, `eventTime`, `action`, `related`, the reporting and deprecated fields, and
/// name, namespace, uid, creationTimestamp); the create rules of a PUT that creates; and that
/// `series` changed at all (kube-apiserver checks an unchanged series not again, so a stored
/// invalid series written through core/v1 is refused here and kept there).
pub fn validate_events_v1_update(obj: &Map<String, Value>) -> Vec<Cause> {
    let mut e = Errs::default();
    legacy(obj, &mut e);
    series(obj.get("series"), &mut e);
    e.0
}

/// [`validate_events_v1_update`] as a `Result`.
pub fn check_events_v1_update(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    invalid_unless_empty(name_of(obj), validate_events_v1_update(obj))
}

/// The series causes an events.k8s.io/v1 patch (written against events.k8s.io/v1, before
/// translation) is certain to produce, whatever the stored event: a `series.count` below 2
/// that the patch writes, and a `series.lastObservedTime` it clears (or leaves out of a
/// series it replaces whole). A patch that writes the series also changes it, but for the one
/// case where the stored series already had exactly these values (then kube-apiserver does not
/// check it again). `name` is the event's name from the URL.
pub fn check_events_v1_patch(
    kind: PatchKind,
    patch: &Value,
    name: &str,
) -> Result<(), ConvertError> {
    let mut e = Errs::default();
    match kind {
        PatchKind::Merge => {
            if let Some(s) = patch.get("series").and_then(Value::as_object) {
                partial_series(s.get("count"), s.get("lastObservedTime"), &mut e);
            }
        }
        PatchKind::Json => {
            for op in patch.as_array().into_iter().flatten() {
                let verb = str_of(op.get("op"));
                if verb != "add" && verb != "replace" {
                    continue;
                }
                let value = op.get("value");
                match str_of(op.get("path")) {
                    "/series" => series(value, &mut e),
                    "/series/count" => partial_series(value, None, &mut e),
                    "/series/lastObservedTime" => partial_series(None, value, &mut e),
                    _ => {}
                }
            }
        }
    }
    invalid_unless_empty(name, e.0)
}

/// Which patch document [`check_events_v1_patch`] reads: merge patches and strategic merge
/// patches treat the series struct alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
}

/// Series fields a patch writes (`None`: not written, so the stored value stays).
fn partial_series(count: Option<&Value>, last_observed: Option<&Value>, e: &mut Errs) {
    if let Some(c) = count.and_then(Value::as_i64) {
        if c < 2 {
            e.invalid("series.count", "", "should be at least 2");
        }
    }
    if matches!(last_observed, Some(Value::Null)) {
        e.required("series.lastObservedTime", "");
    }
}

fn name_of(obj: &Map<String, Value>) -> &str {
    obj.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn invalid_unless_empty(name: &str, causes: Vec<Cause>) -> Result<(), ConvertError> {
    if causes.is_empty() {
        return Ok(());
    }
    Err(ConvertError::Invalid {
        name: name.to_owned(),
        causes,
    })
}

/// [`validate_events_v1_create`] as a `Result`: [`ConvertError::Invalid`] when anything failed.
pub fn check_events_v1_create(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    invalid_unless_empty(name_of(obj), validate_events_v1_create(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::events::test_support::*;
    use crate::k8s::events::*;
    use crate::k8s::status::KubeError;
    use serde_json::json;

    #[test]
    fn valid_event_has_no_causes() {
        assert!(validate_events_v1_create(&valid()).is_empty());
        assert!(check_events_v1_create(&valid()).is_ok());
        // kube-system and default need no regarding.namespace once eventTime is set.
        for ns in ["default", "kube-system"] {
            let c = causes_after(|o| {
                set(o, &["metadata", "namespace"], json!(ns));
                o.remove("regarding");
            });
            assert!(c.is_empty(), "{ns}: {c:?}");
        }
        // A series with count ≥ 2 and lastObservedTime is fine.
        let c = causes_after(|o| {
            set(
                o,
                &["series"],
                json!({"count": 2, "lastObservedTime": "2024-05-01T10:00:00.000000Z"}),
            )
        });
        assert!(c.is_empty());
    }

    #[test]
    fn cause_event_time_required() {
        let c = causes_after(|o| {
            o.remove("eventTime");
        });
        assert_eq!(c, one("eventTime", "FieldValueRequired", "Required value"));
    }

    #[test]
    fn cause_event_time_unset_with_namespace_mismatch_uses_legacy_rule() {
        let c = causes_after(|o| {
            o.remove("eventTime");
            set(o, &["regarding", "namespace"], json!("other"));
        });
        assert_eq!(
            c,
            vec![
                (
                    "involvedObject.namespace".into(),
                    "FieldValueInvalid".into(),
                    "Invalid value: \"other\": does not match event.namespace".into()
                ),
                (
                    "eventTime".into(),
                    "FieldValueRequired".into(),
                    "Required value".into()
                ),
            ]
        );
    }

    #[test]
    fn cause_regarding_namespace_missing() {
        let c = causes_after(|o| {
            set(o, &["metadata", "namespace"], json!("team-a"));
            o.remove("regarding");
        });
        assert_eq!(
            c,
            one(
                "involvedObject.namespace",
                "FieldValueInvalid",
                "Invalid value: \"\": does not match event.namespace"
            )
        );
    }

    #[test]
    fn cause_reporting_controller_required() {
        let c = causes_after(|o| {
            o.remove("reportingController");
        });
        assert_eq!(
            c,
            vec![
                (
                    "reportingController".into(),
                    "FieldValueRequired".into(),
                    "Required value".into()
                ),
                (
                    "reportingController".into(),
                    "FieldValueInvalid".into(),
                    "Invalid value: \"\": name part must be non-empty".into()
                ),
                (
                    "reportingController".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"\": {NAME_PART_MSG}")
                ),
            ]
        );
    }

    #[test]
    fn cause_reporting_controller_not_qualified() {
        let c = causes_after(|o| set(o, &["reportingController"], json!("my-contr@ller")));
        assert_eq!(
            c,
            one(
                "reportingController",
                "FieldValueInvalid",
                &format!("Invalid value: \"my-contr@ller\": {NAME_PART_MSG}")
            )
        );
        let c = causes_after(|o| set(o, &["reportingController"], json!("/x")));
        assert_eq!(
            c,
            one(
                "reportingController",
                "FieldValueInvalid",
                "Invalid value: \"/x\": prefix part must be non-empty"
            )
        );
        let c = causes_after(|o| set(o, &["reportingController"], json!("Bad_Prefix/x")));
        assert_eq!(
            c,
            one(
                "reportingController",
                "FieldValueInvalid",
                &format!("Invalid value: \"Bad_Prefix/x\": prefix part {DNS_SUBDOMAIN_MSG}")
            )
        );
        let c = causes_after(|o| set(o, &["reportingController"], json!("a/b/c")));
        assert_eq!(c.len(), 1);
        assert!(c[0]
            .2
            .starts_with("Invalid value: \"a/b/c\": a valid label key must consist of"));
    }

    #[test]
    fn cause_reporting_instance_required_and_too_long() {
        let c = causes_after(|o| {
            o.remove("reportingInstance");
        });
        assert_eq!(
            c,
            one("reportingInstance", "FieldValueRequired", "Required value")
        );
        let c = causes_after(|o| set(o, &["reportingInstance"], json!("x".repeat(129))));
        assert_eq!(
            c,
            one(
                "reportingInstance",
                "FieldValueInvalid",
                "Invalid value: \"\": can have at most 128 characters"
            )
        );
        assert!(
            causes_after(|o| set(o, &["reportingInstance"], json!("x".repeat(128)))).is_empty()
        );
    }

    #[test]
    fn cause_action_required_and_too_long() {
        let c = causes_after(|o| {
            o.remove("action");
        });
        assert_eq!(c, one("action", "FieldValueRequired", "Required value"));
        let c = causes_after(|o| set(o, &["action"], json!("a".repeat(129))));
        assert_eq!(
            c,
            one(
                "action",
                "FieldValueInvalid",
                "Invalid value: \"\": can have at most 128 characters"
            )
        );
    }

    #[test]
    fn cause_reason_required_and_too_long() {
        let c = causes_after(|o| set(o, &["reason"], json!("")));
        assert_eq!(c, one("reason", "FieldValueRequired", "Required value"));
        let c = causes_after(|o| set(o, &["reason"], json!("r".repeat(129))));
        assert_eq!(
            c,
            one(
                "reason",
                "FieldValueInvalid",
                "Invalid value: \"\": can have at most 128 characters"
            )
        );
    }

    #[test]
    fn cause_note_too_long_is_reported_as_message() {
        let c = causes_after(|o| set(o, &["note"], json!("n".repeat(1025))));
        assert_eq!(
            c,
            one(
                "message",
                "FieldValueInvalid",
                "Invalid value: \"\": can have at most 1024 characters"
            )
        );
        assert!(causes_after(|o| set(o, &["note"], json!("n".repeat(1024)))).is_empty());
    }

    #[test]
    fn cause_type_not_supported() {
        let c = causes_after(|o| set(o, &["type"], json!("Info")));
        assert_eq!(
            c,
            one(
                "type",
                "FieldValueInvalid",
                "Invalid value: \"\": has invalid value: Info"
            )
        );
        let c = causes_after(|o| {
            o.remove("type");
        });
        assert_eq!(
            c,
            one(
                "type",
                "FieldValueInvalid",
                "Invalid value: \"\": has invalid value: "
            )
        );
    }

    #[test]
    fn cause_series_count_and_last_observed_time() {
        let c = causes_after(|o| set(o, &["series"], json!({"count": 1})));
        assert_eq!(
            c,
            vec![
                (
                    "series.count".into(),
                    "FieldValueInvalid".into(),
                    "Invalid value: \"\": should be at least 2".into()
                ),
                (
                    "series.lastObservedTime".into(),
                    "FieldValueRequired".into(),
                    "Required value".into()
                ),
            ]
        );
    }

    #[test]
    fn cause_deprecated_fields_must_be_unset() {
        let cases = [
            (
                "deprecatedFirstTimestamp",
                json!("2024-05-01T10:00:00Z"),
                "firstTimestamp",
            ),
            (
                "deprecatedLastTimestamp",
                json!("2024-05-01T10:00:00Z"),
                "lastTimestamp",
            ),
            ("deprecatedCount", json!(2), "count"),
            (
                "deprecatedSource",
                json!({"component": "kubelet"}),
                "source",
            ),
            ("deprecatedSource", json!({"host": "node-a"}), "source"),
        ];
        for (field, value, core) in cases {
            let c = causes_after(|o| set(o, &[field], value));
            assert_eq!(
                c,
                one(
                    core,
                    "FieldValueInvalid",
                    "Invalid value: \"\": needs to be unset"
                ),
                "{field}"
            );
        }
        // Zero values are unset.
        assert!(causes_after(|o| set(o, &["deprecatedCount"], json!(0))).is_empty());
        assert!(
            causes_after(|o| set(o, &["deprecatedSource"], json!({"component": ""}))).is_empty()
        );
    }

    #[test]
    fn invalid_rejection_matches_kube_apiserver() {
        let mut o = valid();
        o.remove("eventTime");
        set(&mut o, &["deprecatedCount"], json!(3));
        let err = check_events_v1_create(&o).unwrap_err();
        let r = err.rejection();
        assert_eq!(r.code(), 422);
        assert_eq!(r.message, "Event \"web-0.17a3\" is invalid: [eventTime: Required value, count: Invalid value: \"\": needs to be unset]");
        let body: Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(
            body,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Event \"web-0.17a3\" is invalid: [eventTime: Required value, count: Invalid value: \"\": needs to be unset]",
                "reason": "Invalid",
                "details": {"name": "web-0.17a3", "kind": "Event", "causes": [
                    {"reason": "FieldValueRequired", "message": "Required value", "field": "eventTime"},
                    {"reason": "FieldValueInvalid", "message": "Invalid value: \"\": needs to be unset", "field": "count"}
                ]},
                "code": 422
            })
        );
        // One error: no brackets; duplicates collapse in the message but not in causes.
        let r = invalid_event(
            "e",
            vec![
                Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: "eventTime".into(),
                },
                Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: "eventTime".into(),
                },
            ],
        );
        assert_eq!(
            r.message,
            "Event \"e\" is invalid: eventTime: Required value"
        );
        assert_eq!(r.details.unwrap().causes.len(), 2);
    }

    #[test]
    fn updates_get_the_rules_that_need_no_stored_object() {
        assert!(check_events_v1_update(&valid()).is_ok());
        // A legacy event (written through core/v1) is a valid update: no create rules here.
        let legacy = obj(json!({
            "metadata": {"name": "old", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
            "deprecatedCount": 3, "deprecatedSource": {"component": "kubelet"},
            "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z", "type": "Info"
        }));
        assert!(validate_events_v1_update(&legacy).is_empty());
        assert!(!validate_events_v1_create(&legacy).is_empty());
        // The legacy rules hold for updates too.
        let mut o = valid();
        o.remove("reportingController");
        let c = validate_events_v1_update(&o);
        assert_eq!(c[0].field, "reportingController");
        assert_eq!(c[0].reason, "FieldValueRequired");
        // A series below 2, and one without lastObservedTime.
        let mut o = valid();
        set(&mut o, &["series"], json!({"count": 1}));
        let err = check_events_v1_update(&o).unwrap_err().rejection();
        assert_eq!(err.code(), 422);
        assert_eq!(
            err.message,
            "Event \"web-0.17a3\" is invalid: [series.count: Invalid value: \"\": should be at least 2, series.lastObservedTime: Required value]"
        );
    }

    #[test]
    fn patches_that_write_a_series_below_two_are_refused() {
        let refused = |kind, patch: Value| {
            check_events_v1_patch(kind, &patch, "e")
                .err()
                .map(|e| e.rejection().message)
        };
        assert_eq!(
            refused(PatchKind::Merge, json!({"series": {"count": 1}})).as_deref(),
            Some("Event \"e\" is invalid: series.count: Invalid value: \"\": should be at least 2")
        );
        assert_eq!(
            refused(
                PatchKind::Merge,
                json!({"series": {"count": 3, "lastObservedTime": null}})
            )
            .as_deref(),
            Some("Event \"e\" is invalid: series.lastObservedTime: Required value")
        );
        for fine in [
            json!({"series": {"count": 2}}),
            json!({"series": null}),
            json!({"series": {"lastObservedTime": "2024-05-01T10:00:00.000000Z"}}),
            json!({"note": "n"}),
        ] {
            assert_eq!(refused(PatchKind::Merge, fine.clone()), None, "{fine}");
        }
        assert!(refused(
            PatchKind::Json,
            json!([{"op": "replace", "path": "/series/count", "value": 0}])
        )
        .is_some());
        assert_eq!(
            refused(
                PatchKind::Json,
                json!([{"op": "add", "path": "/series", "value": {"count": 5}}])
            )
            .as_deref(),
            Some("Event \"e\" is invalid: series.lastObservedTime: Required value")
        );
        for fine in [
            json!([{"op": "test", "path": "/series/count", "value": 1}]),
            json!([{"op": "remove", "path": "/series"}]),
            json!([{"op": "replace", "path": "/series/count", "value": 2}]),
            json!({"not": "a patch"}),
        ] {
            assert_eq!(refused(PatchKind::Json, fine.clone()), None, "{fine}");
        }
    }

    #[test]
    fn request_namespace_is_applied_like_the_api_server() {
        let mut o = obj(json!({"metadata": {"name": "e"}}));
        apply_request_namespace(&mut o, "ns").unwrap();
        assert_eq!(o["metadata"]["namespace"], "ns");
        let mut o = obj(json!({}));
        apply_request_namespace(&mut o, "ns").unwrap();
        assert_eq!(o["metadata"]["namespace"], "ns");
        let mut o = obj(json!({"metadata": {"namespace": "other"}}));
        let r = apply_request_namespace(&mut o, "ns")
            .unwrap_err()
            .rejection();
        assert_eq!(r.code(), 400);
        assert_eq!(
            r.message,
            "the namespace of the provided object does not match the namespace sent on the request"
        );
    }
}
