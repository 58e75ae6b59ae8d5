//! Objects: core/v1 ⇄ events.k8s.io/v1, a rename of top-level fields with Go's zero-value
//! serialization (see the module doc of [`super`]).

use serde_json::{Map, Value};

use super::fields::*;

/// How a field is serialized by the Go type it ends up in.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// `string` with `omitempty`: omitted when `""` or null.
    Str,
    /// `string` without `omitempty`: `""` when absent.
    StrAlways,
    /// `metav1.Time`/`MicroTime` (a struct): always present, `null` when zero.
    Time,
    /// `int32` with `omitempty`.
    Count,
    /// `ObjectReference` value: always present, `{}` when empty.
    Ref,
    /// `*ObjectReference`: omitted when nil.
    RefPtr,
    /// `EventSource` value: always present.
    Source,
    /// `*EventSeries` of events.k8s.io/v1: `count` and `lastObservedTime` without `omitempty`.
    SeriesV1,
    /// `*EventSeries` of core/v1: `count` with `omitempty`, `lastObservedTime` a struct.
    SeriesCore,
}

pub(super) const CORE_TO_V1: [(&str, &str, Shape); 14] = [
    ("action", "action", Shape::Str),
    ("count", "deprecatedCount", Shape::Count),
    ("eventTime", "eventTime", Shape::Time),
    ("firstTimestamp", "deprecatedFirstTimestamp", Shape::Time),
    ("involvedObject", "regarding", Shape::Ref),
    ("lastTimestamp", "deprecatedLastTimestamp", Shape::Time),
    ("message", "note", Shape::Str),
    ("reason", "reason", Shape::Str),
    ("related", "related", Shape::RefPtr),
    ("reportingComponent", "reportingController", Shape::Str),
    ("reportingInstance", "reportingInstance", Shape::Str),
    ("series", "series", Shape::SeriesV1),
    ("source", "deprecatedSource", Shape::Source),
    ("type", "type", Shape::Str),
];

pub(super) const V1_TO_CORE: [(&str, &str, Shape); 14] = [
    ("action", "action", Shape::Str),
    ("deprecatedCount", "count", Shape::Count),
    ("deprecatedFirstTimestamp", "firstTimestamp", Shape::Time),
    ("deprecatedLastTimestamp", "lastTimestamp", Shape::Time),
    ("deprecatedSource", "source", Shape::Source),
    ("eventTime", "eventTime", Shape::Time),
    ("note", "message", Shape::Str),
    ("reason", "reason", Shape::Str),
    ("regarding", "involvedObject", Shape::Ref),
    ("related", "related", Shape::RefPtr),
    (
        "reportingController",
        "reportingComponent",
        Shape::StrAlways,
    ),
    ("reportingInstance", "reportingInstance", Shape::StrAlways),
    ("series", "series", Shape::SeriesCore),
    ("type", "type", Shape::Str),
];

pub(super) const OBJECT_REFERENCE_FIELDS: [&str; 7] = [
    "apiVersion",
    "fieldPath",
    "kind",
    "name",
    "namespace",
    "resourceVersion",
    "uid",
];
pub(super) const EVENT_SOURCE_FIELDS: [&str; 2] = ["component", "host"];

/// A stored core-shaped Event (any `apiVersion`) becomes the events.k8s.io/v1 Event
/// kube-apiserver would return: `apiVersion: events.k8s.io/v1`, `kind: Event`, fields renamed
/// and serialized as described in the module documentation. Fields core/v1 does not know are
/// dropped. Values of the wrong JSON type are moved as they are (never a panic).
pub fn core_to_events_v1(obj: &mut Map<String, Value>) {
    let mut sink = Unknown::Ignore;
    convert_object(obj, &CORE_TO_V1, &mut sink);
    obj.insert(
        "apiVersion".to_owned(),
        Value::String(EVENTS_V1_API_VERSION.to_owned()),
    );
    obj.insert("kind".to_owned(), Value::String("Event".to_owned()));
}

/// A core-shaped `EventList` (any `apiVersion`) becomes an events.k8s.io/v1 `EventList`: every
/// object in `items` is converted with [`core_to_events_v1`].
pub fn core_list_to_events_v1(list: &mut Map<String, Value>) {
    if let Some(Value::Array(items)) = list.get_mut("items") {
        for item in items.iter_mut() {
            if let Value::Object(obj) = item {
                core_to_events_v1(obj);
            }
        }
    }
    list.insert(
        "apiVersion".to_owned(),
        Value::String(EVENTS_V1_API_VERSION.to_owned()),
    );
    list.insert("kind".to_owned(), Value::String("EventList".to_owned()));
}

/// An events.k8s.io/v1 request body (create, update) becomes the core/v1 shape, as kube-apiserver
/// would serialize the converted object. `apiVersion` and `kind` are left for the caller (who
/// checks them and re-tags the body with the upstream's `apiVersion`).
///
/// Returns the fields that events.k8s.io/v1 does not know and that were dropped (JSON paths in
/// events.k8s.io/v1 names, e.g. `message`, `series.state`, `regarding.foo`), so the caller can
/// apply `fieldValidation` (`Strict`: [`ConvertError::UnknownFields`]; `Warn`: a warning per
/// field). Values of the wrong JSON type are moved as they are; [`check_events_v1_types`] refuses
/// them the way the API server's decoder does.
pub fn events_v1_to_core(obj: &mut Map<String, Value>) -> Vec<String> {
    let mut unknown = Unknown::Collect(Vec::new());
    convert_object(obj, &V1_TO_CORE, &mut unknown);
    match unknown {
        Unknown::Collect(list) => list,
        Unknown::Ignore => Vec::new(),
    }
}

pub(super) enum Unknown {
    Ignore,
    Collect(Vec<String>),
}

impl Unknown {
    fn push(&mut self, path: impl FnOnce() -> String) {
        if let Unknown::Collect(list) = self {
            list.push(path());
        }
    }
}

pub(super) fn convert_object(
    obj: &mut Map<String, Value>,
    table: &[(&str, &str, Shape)],
    unknown: &mut Unknown,
) {
    let mut old = std::mem::take(obj);
    for key in ["apiVersion", "kind", "metadata"] {
        if let Some((k, v)) = old.remove_entry(key) {
            obj.insert(k, v);
        }
    }
    for &(from, to, shape) in table {
        place(obj, from, to, old.remove(from), shape, unknown);
    }
    for (key, _) in old {
        unknown.push(|| key);
    }
}

pub(super) fn is_null_or_empty_str(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

pub(super) fn is_int_zero(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.as_i64() == Some(0) || n.as_u64() == Some(0))
}

pub(super) fn place(
    out: &mut Map<String, Value>,
    from: &str,
    to: &str,
    value: Option<Value>,
    shape: Shape,
    unknown: &mut Unknown,
) {
    let value = match (shape, value) {
        (Shape::Str, None) => return,
        (Shape::Str, Some(v)) if is_null_or_empty_str(&v) => return,
        (Shape::StrAlways, None | Some(Value::Null)) => Value::String(String::new()),
        (Shape::Time, None | Some(Value::Null)) => Value::Null,
        (Shape::Count, None | Some(Value::Null)) => return,
        (Shape::Count, Some(v)) if is_int_zero(&v) => return,
        (Shape::Ref | Shape::Source, None | Some(Value::Null)) => Value::Object(Map::new()),
        (Shape::RefPtr | Shape::SeriesV1 | Shape::SeriesCore, None | Some(Value::Null)) => return,
        (Shape::Ref | Shape::RefPtr, Some(Value::Object(m))) => {
            Value::Object(string_struct(m, &OBJECT_REFERENCE_FIELDS, from, unknown))
        }
        (Shape::Source, Some(Value::Object(m))) => {
            Value::Object(string_struct(m, &EVENT_SOURCE_FIELDS, from, unknown))
        }
        (Shape::SeriesV1 | Shape::SeriesCore, Some(Value::Object(m))) => {
            Value::Object(series(m, matches!(shape, Shape::SeriesV1), from, unknown))
        }
        (_, Some(v)) => v,
    };
    out.insert(to.to_owned(), value);
}

/// A struct of `omitempty` strings: known keys kept unless empty, unknown keys dropped.
pub(super) fn string_struct(
    m: Map<String, Value>,
    fields: &[&str],
    parent: &str,
    unknown: &mut Unknown,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        if !fields.contains(&k.as_str()) {
            unknown.push(|| format!("{parent}.{k}"));
        } else if !is_null_or_empty_str(&v) {
            out.insert(k, v);
        }
    }
    out
}

pub(super) fn series(
    mut m: Map<String, Value>,
    events_v1: bool,
    parent: &str,
    unknown: &mut Unknown,
) -> Map<String, Value> {
    let mut out = Map::new();
    match m.remove("count") {
        None | Some(Value::Null) if events_v1 => {
            out.insert("count".to_owned(), Value::from(0));
        }
        None | Some(Value::Null) => {}
        Some(v) if !events_v1 && is_int_zero(&v) => {}
        Some(v) => {
            out.insert("count".to_owned(), v);
        }
    }
    let last = m.remove("lastObservedTime").unwrap_or(Value::Null);
    out.insert("lastObservedTime".to_owned(), last);
    for (k, _) in m {
        unknown.push(|| format!("{parent}.{k}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::events::test_support::*;
    use crate::k8s::events::*;
    use crate::k8s::names::go_quote;
    use crate::k8s::status::KubeError;
    use serde_json::json;

    #[test]
    fn core_fixtures_convert_to_events_v1() {
        for name in PAIRS.iter().chain(["sparse"].iter()) {
            let mut core = obj(fixture(&format!("{name}-core")));
            core_to_events_v1(&mut core);
            assert_eq!(
                Value::Object(core),
                fixture(&format!("{name}-events-v1")),
                "{name}"
            );
        }
    }

    #[test]
    fn events_v1_fixtures_convert_to_core() {
        for name in PAIRS {
            let mut v1 = obj(fixture(&format!("{name}-events-v1")));
            let unknown = events_v1_to_core(&mut v1);
            assert!(unknown.is_empty(), "{name}: {unknown:?}");
            // apiVersion is the caller's: it re-tags the body for the upstream.
            assert_eq!(v1.get("apiVersion"), Some(&json!("events.k8s.io/v1")));
            v1.insert("apiVersion".into(), json!("v1"));
            assert_eq!(
                Value::Object(v1),
                fixture(&format!("{name}-core")),
                "{name}"
            );
        }
    }

    #[test]
    fn round_trips_are_lossless() {
        for name in PAIRS {
            let core = fixture(&format!("{name}-core"));
            let mut m = obj(core.clone());
            core_to_events_v1(&mut m);
            events_v1_to_core(&mut m);
            m.insert("apiVersion".into(), json!("v1"));
            assert_eq!(Value::Object(m), core, "{name} core→v1→core");

            let v1 = fixture(&format!("{name}-events-v1"));
            let mut m = obj(v1.clone());
            events_v1_to_core(&mut m);
            core_to_events_v1(&mut m);
            assert_eq!(Value::Object(m), v1, "{name} v1→core→v1");
        }
    }

    #[test]
    fn sparse_core_is_canonicalized_like_go_would() {
        // Non-Go upstreams may omit zero values, keep series.state or carry extra fields.
        let mut m = obj(fixture("sparse-core"));
        core_to_events_v1(&mut m);
        assert_eq!(
            m.get("regarding"),
            Some(&json!({"kind": "Pod", "name": "p", "namespace": "ns1"}))
        );
        assert_eq!(m.get("deprecatedSource"), Some(&json!({})));
        assert_eq!(m.get("eventTime"), Some(&Value::Null));
        assert!(m.get("deprecatedCount").is_none());
        assert!(m.get("related").is_none());
        assert!(m.get("reportingController").is_none());
        assert!(m.get("unknownField").is_none());
        assert_eq!(
            m.get("series"),
            Some(&json!({"count": 2, "lastObservedTime": "2024-05-01T10:00:00.000001Z"}))
        );
    }

    #[test]
    fn reporting_component_empty_source_component_set_has_no_fallback() {
        let mut m = obj(fixture("source-only-core"));
        core_to_events_v1(&mut m);
        assert!(m.get("reportingController").is_none());
        assert_eq!(
            m.get("deprecatedSource"),
            Some(&json!({"component": "kubelet", "host": "node-a"}))
        );
    }

    #[test]
    fn empty_regarding_and_series_defaults() {
        let mut m = obj(json!({"series": {}}));
        core_to_events_v1(&mut m);
        assert_eq!(m.get("regarding"), Some(&json!({})));
        assert_eq!(
            m.get("series"),
            Some(&json!({"count": 0, "lastObservedTime": null}))
        );

        let mut m = obj(json!({"series": {"count": 0}}));
        events_v1_to_core(&mut m);
        assert_eq!(m.get("involvedObject"), Some(&json!({})));
        assert_eq!(m.get("series"), Some(&json!({"lastObservedTime": null})));
        assert_eq!(m.get("reportingComponent"), Some(&json!("")));
        assert_eq!(m.get("reportingInstance"), Some(&json!("")));
    }

    #[test]
    fn times_are_copied_verbatim() {
        let mut m = obj(
            json!({"eventTime": "2024-05-01T10:00:00.1Z", "firstTimestamp": "2024-05-01T10:00:00+02:00",
            "series": {"count": 2, "lastObservedTime": "2024-05-01T10:00:00.123456789Z"}}),
        );
        core_to_events_v1(&mut m);
        assert_eq!(m.get("eventTime"), Some(&json!("2024-05-01T10:00:00.1Z")));
        assert_eq!(
            m.get("deprecatedFirstTimestamp"),
            Some(&json!("2024-05-01T10:00:00+02:00"))
        );
        assert_eq!(
            m.get("series").and_then(|s| s.get("lastObservedTime")),
            Some(&json!("2024-05-01T10:00:00.123456789Z"))
        );
    }

    #[test]
    fn events_v1_body_drops_and_reports_unknown_fields() {
        let mut m = obj(json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "note": "n", "message": "sneaky", "involvedObject": {"name": "x"}, "count": 3,
            "regarding": {"name": "p", "foo": 1}, "series": {"count": 2, "lastObservedTime": "t", "state": "Ongoing"},
            "deprecatedSource": {"component": "c", "bar": true}
        }));
        let unknown = events_v1_to_core(&mut m);
        assert_eq!(
            unknown,
            vec![
                "deprecatedSource.bar",
                "regarding.foo",
                "series.state",
                "count",
                "involvedObject",
                "message"
            ]
        );
        assert_eq!(m.get("message"), Some(&json!("n")));
        assert_eq!(m.get("involvedObject"), Some(&json!({"name": "p"})));
        assert!(m.get("count").is_none());
        assert_eq!(
            m.get("series"),
            Some(&json!({"count": 2, "lastObservedTime": "t"}))
        );
        let r = ConvertError::UnknownFields(unknown).rejection();
        assert_eq!(r.code(), 400);
        assert!(r.message.starts_with(
            "Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \"count\", unknown field \"deprecatedSource.bar\", "
        ));
    }

    #[test]
    fn list_conversion_converts_items() {
        let mut list = obj(
            json!({"apiVersion": "activity.miloapis.com/v1alpha1", "kind": "EventList",
            "metadata": {"resourceVersion": "9"}, "items": [fixture("full-core"), 5]}),
        );
        core_list_to_events_v1(&mut list);
        assert_eq!(list.get("apiVersion"), Some(&json!("events.k8s.io/v1")));
        assert_eq!(list.get("kind"), Some(&json!("EventList")));
        let items = list.get("items").and_then(Value::as_array).unwrap();
        assert_eq!(items[0], fixture("full-events-v1"));
        assert_eq!(items[1], json!(5));
    }

    #[test]
    fn odd_inputs_never_panic_and_convert_leniently() {
        let odd = [
            json!({"regarding": "x", "note": 5, "series": [1, 2], "deprecatedSource": [], "related": "r",
                "deprecatedCount": "7", "eventTime": 12, "metadata": "m", "reportingController": {"a": 1}}),
            json!({"involvedObject": [], "message": {}, "series": "s", "source": 1, "count": 1.5,
                "reportingComponent": false, "firstTimestamp": {}}),
            json!({"series": {"count": "x", "lastObservedTime": []}, "regarding": {"name": 5}}),
            json!({}),
        ];
        for v in odd {
            let mut a = obj(v.clone());
            core_to_events_v1(&mut a);
            let mut b = obj(v.clone());
            let _ = events_v1_to_core(&mut b);
            let _ = validate_events_v1_create(&obj(v.clone()));
            let _ = check_events_v1_types(&obj(v.clone()));
            let mut p = v.clone();
            let _ = merge_patch_events_v1_to_core(&mut p);
            let mut p = v.clone();
            let _ = strategic_merge_patch_events_v1_to_core(&mut p);
            let mut p = json!([v.clone()]);
            let _ = json_patch_events_v1_to_core(&mut p);
        }
        // Wrong types are moved, not dropped: the upstream's decoder refuses them.
        let mut m = obj(json!({"regarding": "x", "note": 5}));
        events_v1_to_core(&mut m);
        assert_eq!(m.get("involvedObject"), Some(&json!("x")));
        assert_eq!(m.get("message"), Some(&json!(5)));
        for v in [json!(null), json!("x"), json!(3), json!([])] {
            let mut p = v.clone();
            assert!(matches!(
                merge_patch_events_v1_to_core(&mut p),
                Err(ConvertError::InvalidPatch(_))
            ));
            let mut p = v.clone();
            if !v.is_array() {
                assert!(matches!(
                    json_patch_events_v1_to_core(&mut p),
                    Err(ConvertError::InvalidPatch(_))
                ));
            }
        }
        let _ = field_selector_events_v1_to_core("\\");
        let _ = field_selector_events_v1_to_core("é=\u{0}ü,,=,!");
        let _ = go_quote("\u{0}\u{85}\u{10ffff}é");
    }
}
