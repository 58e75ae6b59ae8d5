//! Conversion between the two Kubernetes Event APIs, the way kube-apiserver does it.
//!
//! The Activity server stores **core/v1-shaped** Events. Clients of `events.k8s.io/v1` must see
//! `events.k8s.io/v1` objects, and what they write must reach Activity in the core shape. This
//! module holds that pure logic; it never panics, whatever JSON it is handed.
//!
//! # What is converted, and where the rules come from
//!
//! Everything below was read from kubernetes/kubernetes, not guessed:
//!
//! - **Objects** ([`core_to_events_v1`], [`events_v1_to_core`]): `pkg/apis/events/v1/conversion.go`
//!   (`Convert_v1_Event_To_core_Event`, `Convert_core_Event_To_v1_Event`) and the generated
//!   `pkg/apis/events/v1/zz_generated.conversion.go`. The mapping is a pure rename:
//!
//!   | events.k8s.io/v1 | core/v1 |
//!   |---|---|
//!   | `regarding` | `involvedObject` |
//!   | `note` | `message` |
//!   | `reportingController` | `reportingComponent` |
//!   | `deprecatedSource` | `source` |
//!   | `deprecatedFirstTimestamp` | `firstTimestamp` |
//!   | `deprecatedLastTimestamp` | `lastTimestamp` |
//!   | `deprecatedCount` | `count` |
//!   | `eventTime`, `series`, `action`, `reason`, `type`, `related`, `reportingInstance` | same |
//!
//!   There is **no fallback** between fields: an event whose `reportingComponent` is empty but
//!   whose `source.component` is set keeps an empty (omitted) `reportingController` and shows the
//!   component only in `deprecatedSource.component` (kubernetes/kubernetes#116444). The only
//!   place Kubernetes falls back from `source.component` to the reporting controller is the
//!   server-side `source` field-selector attribute (`pkg/apis/events/selection.go`), which is the
//!   Activity server's business.
//!
//!   `EventSeries` is `{count, lastObservedTime}` on both sides: core/v1's `state` was removed
//!   (only a protobuf reservation is left), so a stored `series.state` is dropped, as decoding
//!   into the Go type would.
//!
//!   The output is what kube-apiserver would *serialize* after a real conversion: fields the Go
//!   types do not know are dropped; `omitempty` strings and counts are omitted when zero; but Go's
//!   `omitempty` never omits a struct, so `regarding`/`involvedObject` and
//!   `deprecatedSource`/`source` are always present (`{}` when empty), and zero `metav1.Time` /
//!   `MicroTime` values (`eventTime`, the first/last timestamps, `series.lastObservedTime`)
//!   appear as `null` (`"eventTime": null` is what `kubectl get events.events.k8s.io -o json`
//!   shows for legacy events). `series.count` is not `omitempty` in events.k8s.io/v1, and
//!   `reportingComponent`/`reportingInstance` are not `omitempty` in core/v1 (`""` when empty).
//!   `metadata` is the same Go type on both sides and is passed through untouched. Time strings
//!   are copied as they are, never reformatted (core timestamps are RFC 3339 seconds,
//!   `eventTime` and `series.lastObservedTime` RFC 3339 with microseconds).
//!
//! - **Patches** ([`merge_patch_events_v1_to_core`],
//!   [`strategic_merge_patch_events_v1_to_core`], [`json_patch_events_v1_to_core`]): Kubernetes
//!   applies an events.k8s.io/v1 patch to the events.k8s.io/v1 JSON of the object and decodes the
//!   result, so a patch naming a core-only or unknown field (`message`, `involvedObject`, `foo`)
//!   never changes anything there. Here top-level names are renamed, such names are dropped (a
//!   JSON-patch `add` of one is a no-op; any other operation on one fails with 422, as applying
//!   it to a document without that member does), and nested content is kept: the nested types
//!   (`ObjectReference`, `EventSource`, `EventSeries`) are the same on both sides.
//!
//! - **Field selectors** ([`field_selector_events_v1_to_core`]): parsing as in
//!   `staging/src/k8s.io/apimachinery/pkg/fields/selector.go`; label mapping from
//!   `AddFieldLabelConversionsForEvent` in `pkg/apis/events/v1/conversion.go`; the core/v1 label
//!   set from `pkg/apis/core/v1/conversion.go` ([`CORE_EVENT_FIELD_LABELS`]).
//!
//! - **Validation** ([`validate_events_v1_create`]): `ValidateEventCreate` in
//!   `pkg/apis/core/validation/events.go` with request version events.k8s.io/v1 (legacy checks +
//!   strict checks), `ValidateObjectMeta` in `staging/src/k8s.io/apimachinery/pkg/api/validation/
//!   objectmeta.go`, name/label rules in `.../pkg/util/validation/validation.go` and
//!   `.../pkg/api/validate/content/`, messages in `.../pkg/util/validation/field/errors.go`, and
//!   the 422 Status from `errors.NewInvalid`. kube-apiserver validates the *internal* (core)
//!   object and does not translate field paths, so it reports core names for events.k8s.io
//!   requests: `involvedObject.namespace`, `message`, `count`, `source`, `firstTimestamp`,
//!   `lastTimestamp` (the internal field `reportingController` happens to carry the
//!   events.k8s.io name). The kind in the message and in `details` is the internal core kind:
//!   `Event "x" is invalid: ...` with no group — the form real clusters return for
//!   events.k8s.io creates (e.g. `Event "…" is invalid: [eventTime: Required value,
//!   firstTimestamp: Invalid value: "": needs to be unset, ...]`).

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::status::{Cause, Details, KubeError, Reason, Rejection};

/// `apiVersion` of events.k8s.io/v1 objects.
pub const EVENTS_V1_API_VERSION: &str = "events.k8s.io/v1";

/// `(events.k8s.io/v1 name, core/v1 name)` of every top-level Event field (besides `apiVersion`,
/// `kind` and `metadata`, which keep their names).
pub const FIELD_RENAMES: [(&str, &str); 14] = [
    ("action", "action"),
    ("deprecatedCount", "count"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedSource", "source"),
    ("eventTime", "eventTime"),
    ("note", "message"),
    ("reason", "reason"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("series", "series"),
    ("type", "type"),
];

/// The field labels core/v1 Events support (`AddFieldLabelConversionsForEvent` in
/// `pkg/apis/core/v1/conversion.go`): the vocabulary of the stored core shape.
pub const CORE_EVENT_FIELD_LABELS: [&str; 13] = [
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];

/// `(events.k8s.io/v1 label, core/v1 label)`: the events.k8s.io/v1 field-label conversion
/// (`AddFieldLabelConversionsForEvent` in `pkg/apis/events/v1/conversion.go`). Any other label is
/// refused with `field label not supported: <label>`.
pub const EVENTS_V1_FIELD_LABELS: [(&str, &str); 13] = [
    ("reason", "reason"),
    ("regarding.kind", "involvedObject.kind"),
    ("regarding.namespace", "involvedObject.namespace"),
    ("regarding.name", "involvedObject.name"),
    ("regarding.uid", "involvedObject.uid"),
    ("regarding.apiVersion", "involvedObject.apiVersion"),
    (
        "regarding.resourceVersion",
        "involvedObject.resourceVersion",
    ),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("source", "source"),
    ("type", "type"),
    ("metadata.namespace", "metadata.namespace"),
    ("metadata.name", "metadata.name"),
];

// Limits from pkg/apis/core/validation/events.go and apimachinery.
const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
const ACTION_LENGTH_LIMIT: usize = 128;
const REASON_LENGTH_LIMIT: usize = 128;
const NOTE_LENGTH_LIMIT: usize = 1024;
const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * (1 << 10);
const MAX_GENERATED_NAME_LENGTH: usize = 63 - 5;

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
}

const DECODE_PREFIX: &str = "Event in version \"v1\" cannot be handled as a Event: ";

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
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Objects
// ---------------------------------------------------------------------------------------------

/// How a field is serialized by the Go type it ends up in.
#[derive(Debug, Clone, Copy)]
enum Shape {
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

const CORE_TO_V1: [(&str, &str, Shape); 14] = [
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

const V1_TO_CORE: [(&str, &str, Shape); 14] = [
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

const OBJECT_REFERENCE_FIELDS: [&str; 7] = [
    "apiVersion",
    "fieldPath",
    "kind",
    "name",
    "namespace",
    "resourceVersion",
    "uid",
];
const EVENT_SOURCE_FIELDS: [&str; 2] = ["component", "host"];

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

enum Unknown {
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

fn convert_object(
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

fn is_null_or_empty_str(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn is_int_zero(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.as_i64() == Some(0) || n.as_u64() == Some(0))
}

fn place(
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
fn string_struct(
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

fn series(
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

// ---------------------------------------------------------------------------------------------
// Decoder-like type checks
// ---------------------------------------------------------------------------------------------

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

fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(_) => "bool".to_owned(),
        Value::Number(_) => "number".to_owned(),
        Value::String(_) => "string".to_owned(),
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
    }
}

fn type_error(value: String, strukt: &str, field: &str, ty: &str) -> ConvertError {
    ConvertError::WrongType(format!(
        "json: cannot unmarshal {value} into Go struct field {strukt}.{field} of type {ty}"
    ))
}

fn expect_string(v: &Value, strukt: &str, field: &str, ty: &str) -> Result<(), ConvertError> {
    match v {
        Value::Null | Value::String(_) => Ok(()),
        other => Err(type_error(json_kind(other), strukt, field, ty)),
    }
}

fn expect_object<'a>(
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

fn expect_int32(v: &Value, strukt: &str, field: &str) -> Result<(), ConvertError> {
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
fn expect_time(v: &Value) -> Result<(), ConvertError> {
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

// ---------------------------------------------------------------------------------------------
// Patches
// ---------------------------------------------------------------------------------------------

fn v1_to_core_name(name: &str) -> Option<&'static str> {
    FIELD_RENAMES
        .iter()
        .find(|(v1, _)| *v1 == name)
        .map(|(_, core)| *core)
}

fn version_mismatch(got: &Value) -> ConvertError {
    ConvertError::TypeMismatch(format!(
        "the API version in the data ({}) does not match the expected API version ({EVENTS_V1_API_VERSION})",
        got.as_str().unwrap_or("non-string")
    ))
}

fn kind_mismatch(got: &Value) -> ConvertError {
    ConvertError::TypeMismatch(format!(
        "the kind in the data ({}) does not match the expected kind (Event)",
        got.as_str().unwrap_or("non-string")
    ))
}

/// Whether a patch value for `apiVersion`/`kind` leaves the events.k8s.io/v1 object as it is.
/// `Err` when it would turn it into another type.
fn type_meta_is_noop(key: &str, v: &Value) -> Result<(), ConvertError> {
    let expected = if key == "apiVersion" {
        EVENTS_V1_API_VERSION
    } else {
        "Event"
    };
    match v {
        Value::Null => Ok(()),
        Value::String(s) if s == expected => Ok(()),
        other if key == "apiVersion" => Err(version_mismatch(other)),
        other => Err(kind_mismatch(other)),
    }
}

/// An RFC 7386 JSON merge patch written against events.k8s.io/v1 becomes one for the stored
/// core shape: top-level keys renamed (`note` → `message`, ...), values kept as they are (`null`
/// still deletes; nested objects are the same types on both sides). Keys events.k8s.io/v1 does
/// not know (including core-only names like `message`) are dropped and returned: Kubernetes would
/// drop them when decoding the patched object (or refuse them under `fieldValidation=Strict`).
/// `apiVersion: events.k8s.io/v1` / `kind: Event` (or `null`) are no-ops and dropped; any other
/// value is refused (400), as is a patch that is not a JSON object.
pub fn merge_patch_events_v1_to_core(patch: &mut Value) -> Result<Vec<String>, ConvertError> {
    rename_patch(patch, false)
}

/// [`merge_patch_events_v1_to_core`] for a strategic merge patch. Directives are carried over:
/// `$retainKeys` entries and the field named in `$setElementOrder/<field>` and
/// `$deleteFromPrimitiveList/<field>` are renamed (directives naming unknown fields are dropped);
/// a top-level `$patch: replace` makes the patch a whole object, which is then converted like a
/// create body ([`events_v1_to_core`]). Other `$` keys pass through.
pub fn strategic_merge_patch_events_v1_to_core(
    patch: &mut Value,
) -> Result<Vec<String>, ConvertError> {
    rename_patch(patch, true)
}

fn rename_patch(patch: &mut Value, strategic: bool) -> Result<Vec<String>, ConvertError> {
    let Value::Object(obj) = patch else {
        return Err(ConvertError::InvalidPatch(format!(
            "the patch must be a JSON object, not {}",
            json_kind(patch)
        )));
    };
    let mut unknown = Vec::new();
    if strategic && obj.get("$patch").and_then(Value::as_str) == Some("replace") {
        let directive = obj.remove("$patch");
        for key in ["apiVersion", "kind"] {
            if let Some(v) = obj.remove(key) {
                type_meta_is_noop(key, &v)?;
            }
        }
        unknown = events_v1_to_core(obj);
        if let Some(d) = directive {
            obj.insert("$patch".to_owned(), d);
        }
        return Ok(unknown);
    }
    let old = std::mem::take(obj);
    for (key, value) in old {
        match key.as_str() {
            "apiVersion" | "kind" => type_meta_is_noop(&key, &value)?,
            "metadata" => {
                obj.insert(key, value);
            }
            k if strategic && k.starts_with('$') => {
                if let Some((k, v)) = smp_directive(key, value) {
                    obj.insert(k, v);
                }
            }
            k => match v1_to_core_name(k) {
                Some(core) => {
                    obj.insert(core.to_owned(), value);
                }
                None => unknown.push(key),
            },
        }
    }
    Ok(unknown)
}

/// Top-level strategic-merge-patch directives, with the field names they carry renamed.
fn smp_directive(key: String, value: Value) -> Option<(String, Value)> {
    for prefix in ["$setElementOrder/", "$deleteFromPrimitiveList/"] {
        if let Some(field) = key.strip_prefix(prefix) {
            return v1_to_core_name(field).map(|core| (format!("{prefix}{core}"), value));
        }
    }
    if key == "$retainKeys" {
        if let Value::Array(names) = value {
            let renamed = names
                .into_iter()
                .filter_map(|n| match n {
                    Value::String(s) => match s.as_str() {
                        "apiVersion" | "kind" | "metadata" => Some(Value::String(s)),
                        other => v1_to_core_name(other).map(|c| Value::String(c.to_owned())),
                    },
                    other => Some(other),
                })
                .collect();
            return Some((key, Value::Array(renamed)));
        }
        return Some((key, value));
    }
    Some((key, value))
}

/// Where a JSON pointer lands in an Event document.
enum Target<'a> {
    /// `""`: the whole document.
    Root,
    /// `apiVersion` or `kind` (`rest` is what follows the first token).
    TypeMeta { key: &'static str, rest: &'a str },
    /// A field both shapes have: the core name and the rest of the pointer.
    Field { core: &'static str, rest: &'a str },
    /// A member events.k8s.io/v1 does not have (core-only names included).
    Unknown { name: String, rest: &'a str },
}

fn target(pointer: &str) -> Option<Target<'_>> {
    if pointer.is_empty() {
        return Some(Target::Root);
    }
    let body = pointer.strip_prefix('/')?;
    let (token, rest) = match body.find('/') {
        Some(i) => (body.get(..i)?, body.get(i..)?),
        None => (body, ""),
    };
    let name = token.replace("~1", "/").replace("~0", "~");
    Some(match name.as_str() {
        "apiVersion" => Target::TypeMeta {
            key: "apiVersion",
            rest,
        },
        "kind" => Target::TypeMeta { key: "kind", rest },
        "metadata" => Target::Field {
            core: "metadata",
            rest,
        },
        other => match v1_to_core_name(other) {
            Some(core) => Target::Field { core, rest },
            None => Target::Unknown { name, rest },
        },
    })
}

fn unprocessable(path: &str, detail: impl Into<String>) -> ConvertError {
    ConvertError::UnprocessablePatch {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

fn missing(op: &str, path: &str) -> ConvertError {
    unprocessable(
        path,
        format!("{op} operation does not apply: doc is missing path: {path}"),
    )
}

/// An RFC 6902 JSON patch written against events.k8s.io/v1 becomes one for the stored core shape.
///
/// - `path`/`from`: the first token is renamed (`/note` → `/message`, `/regarding/name` →
///   `/involvedObject/name`, `/deprecatedCount` → `/count`); the rest is kept, since the nested
///   types are the same on both sides.
/// - `add`/`replace` of the whole document (`path: ""`) with an object: the value is converted
///   like a create body ([`events_v1_to_core`]), its `apiVersion`/`kind` (which must be
///   events.k8s.io/v1 `Event` or absent) removed so the upstream keeps its own.
/// - A member events.k8s.io/v1 does not have (`/message`, `/foo`): `add` of exactly that member is
///   a no-op in Kubernetes (the member is dropped when the result is decoded), so the operation is
///   dropped and the name returned; `move` of a field *to* such a member removes the field;
///   `copy` to it is dropped; any other use fails with 422 as it does in Kubernetes (the member is
///   missing from the events.k8s.io/v1 document).
/// - `apiVersion`/`kind`: `test` or `add`/`replace` with events.k8s.io/v1 / `Event`, and `remove`,
///   are no-ops and dropped; a failing `test` is 422, another value 400.
/// - Refused with 422: `test`/`remove` of the whole document, `move`/`copy` from or to the whole
///   document or `apiVersion`/`kind`, pointers not starting with `/`, a missing `path`, unknown
///   operations. A body that is not an array of objects is 400.
pub fn json_patch_events_v1_to_core(ops: &mut Value) -> Result<Vec<String>, ConvertError> {
    let Value::Array(list) = ops else {
        return Err(ConvertError::InvalidPatch(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(ops)
        )));
    };
    if let Some(bad) = list.iter().find(|op| !op.is_object()) {
        return Err(ConvertError::InvalidPatch(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_kind(bad)
        )));
    }
    let mut unknown = Vec::new();
    let old = std::mem::take(list);
    for op in old {
        let Value::Object(mut op) = op else {
            continue;
        };
        if translate_op(&mut op, &mut unknown)? {
            list.push(Value::Object(op));
        }
    }
    Ok(unknown)
}

/// Rewrites one operation; `Ok(false)` when it is to be dropped.
fn translate_op(
    op: &mut Map<String, Value>,
    unknown: &mut Vec<String>,
) -> Result<bool, ConvertError> {
    let kind = match op.get("op") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(unprocessable("", "Unexpected kind: unknown")),
    };
    let path = match op.get("path") {
        Some(Value::String(p)) => p.clone(),
        _ => return Err(unprocessable("", format!("{kind} operation missing path"))),
    };
    let to = target(&path)
        .ok_or_else(|| unprocessable(&path, format!("invalid JSON pointer: {path}")))?;
    match kind.as_str() {
        "add" | "replace" | "test" | "remove" => match to {
            Target::Root => match (kind.as_str(), op.get_mut("value")) {
                ("add" | "replace", Some(Value::Object(value))) => {
                    for key in ["apiVersion", "kind"] {
                        if let Some(v) = value.remove(key) {
                            type_meta_is_noop(key, &v)?;
                        }
                    }
                    unknown.extend(events_v1_to_core(value));
                    Ok(true)
                }
                _ => Err(unprocessable(
                    &path,
                    format!(
                        "{kind} of the whole document is not supported for events.k8s.io/v1 Events"
                    ),
                )),
            },
            Target::TypeMeta { key, rest } => {
                if !rest.is_empty() {
                    return Err(missing(&kind, &path));
                }
                if kind == "remove" {
                    return Ok(false);
                }
                let value = op.get("value").unwrap_or(&Value::Null);
                let noop = type_meta_is_noop(key, value);
                if kind == "test" {
                    // The events.k8s.io/v1 document always carries its own apiVersion and kind.
                    return match noop {
                        Ok(()) if !value.is_null() => Ok(false),
                        _ => Err(unprocessable(
                            &path,
                            format!("testing value {path} failed: test failed"),
                        )),
                    };
                }
                // Writing the same type (or null: the decoder defaults it) changes nothing.
                noop.map(|()| false)
            }
            Target::Field { core, rest } => {
                op.insert("path".to_owned(), Value::String(format!("/{core}{rest}")));
                Ok(true)
            }
            Target::Unknown { name, rest } => {
                if kind == "add" && rest.is_empty() {
                    unknown.push(name);
                    Ok(false)
                } else {
                    Err(missing(&kind, &path))
                }
            }
        },
        "move" | "copy" => {
            let from = match op.get("from") {
                Some(Value::String(f)) => f.clone(),
                _ => {
                    return Err(unprocessable(
                        &path,
                        format!("{kind} operation missing from"),
                    ))
                }
            };
            let source = target(&from)
                .ok_or_else(|| unprocessable(&from, format!("invalid JSON pointer: {from}")))?;
            let (core_from, from_rest) = match source {
                Target::Field { core, rest } => (core, rest),
                Target::Unknown { .. } => return Err(missing(&kind, &from)),
                Target::Root | Target::TypeMeta { .. } => {
                    return Err(unprocessable(
                        &from,
                        format!(
                            "{kind} from {from:?} is not supported for events.k8s.io/v1 Events"
                        ),
                    ))
                }
            };
            let new_from = format!("/{core_from}{from_rest}");
            match to {
                Target::Field { core, rest } => {
                    op.insert("from".to_owned(), Value::String(new_from));
                    op.insert("path".to_owned(), Value::String(format!("/{core}{rest}")));
                    Ok(true)
                }
                Target::Unknown { name, rest: "" } => {
                    unknown.push(name);
                    if kind == "copy" {
                        return Ok(false);
                    }
                    // The value leaves `from` and lands in a member that decoding drops.
                    op.clear();
                    op.insert("op".to_owned(), Value::String("remove".to_owned()));
                    op.insert("path".to_owned(), Value::String(new_from));
                    Ok(true)
                }
                Target::Unknown { .. } => Err(missing(&kind, &path)),
                Target::Root | Target::TypeMeta { .. } => Err(unprocessable(
                    &path,
                    format!("{kind} to {path:?} is not supported for events.k8s.io/v1 Events"),
                )),
            }
        }
        other => Err(unprocessable(&path, format!("Unexpected kind: {other}"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------------------------

/// An events.k8s.io/v1 field selector (the decoded query value, e.g.
/// `regarding.name=my-pod,type!=Normal`) in the stored core shape's labels
/// (`involvedObject.name=my-pod,type!=Normal`).
///
/// Parsing follows `fields.ParseSelector`: terms split on unescaped `,`; each term split at the
/// first `!=`, `==` or `=`; values may escape `\\`, `\,` and `\=`. Errors are reported for the
/// terms in sorted order, parse errors before label errors, with kube-apiserver's messages (both
/// 400): `invalid selector: '<selector>'; can't understand '<term>'`, `invalid field selector:
/// invalid escape sequence: \x`, `invalid field selector: unescaped character in value: 61`,
/// `field label not supported: <label>`. The output keeps the terms in their order with their
/// operators and (still escaped) values; only the labels change. Empty terms are dropped.
pub fn field_selector_events_v1_to_core(selector: &str) -> Result<String, ConvertError> {
    let terms = split_terms(selector);
    let mut sorted: Vec<&str> = terms.clone();
    sorted.sort_unstable();
    for part in sorted.iter().filter(|p| !p.is_empty()) {
        let (_, _, rhs) = split_term(part).ok_or_else(|| {
            ConvertError::InvalidFieldSelector(format!(
                "invalid selector: '{selector}'; can't understand '{part}'"
            ))
        })?;
        check_selector_value(rhs)?;
    }
    for part in sorted.iter().filter(|p| !p.is_empty()) {
        if let Some((lhs, _, _)) = split_term(part) {
            if field_label_to_core(lhs).is_none() {
                return Err(ConvertError::UnsupportedFieldLabel(lhs.to_owned()));
            }
        }
    }
    let mut out = String::with_capacity(selector.len() + 16);
    for part in terms.iter().filter(|p| !p.is_empty()) {
        if let Some((lhs, op, rhs)) = split_term(part) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(field_label_to_core(lhs).unwrap_or(lhs));
            out.push_str(op);
            out.push_str(rhs);
        }
    }
    Ok(out)
}

fn field_label_to_core(label: &str) -> Option<&'static str> {
    EVENTS_V1_FIELD_LABELS
        .iter()
        .find(|(v1, _)| *v1 == label)
        .map(|(_, core)| *core)
}

fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(selector.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    terms.push(selector.get(start..).unwrap_or(""));
    terms
}

fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let remaining = term.get(i..)?;
        for op in ["!=", "==", "="] {
            if remaining.starts_with(op) {
                return Some((term.get(..i)?, op, term.get(i + op.len()..)?));
            }
        }
    }
    None
}

fn check_selector_value(s: &str) -> Result<(), ConvertError> {
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(ConvertError::InvalidFieldSelector(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(ConvertError::InvalidFieldSelector(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                )))
            }
            _ => {}
        }
    }
    if in_slash {
        return Err(ConvertError::InvalidFieldSelector(
            "invalid field selector: invalid escape sequence: \\".to_owned(),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Errs(Vec<Cause>);

impl Errs {
    fn push(&mut self, reason: &str, field: &str, message: String) {
        self.0.push(Cause {
            reason: reason.to_owned(),
            message,
            field: field.to_owned(),
        });
    }

    fn required(&mut self, field: &str, detail: &str) {
        let mut m = "Required value".to_owned();
        if !detail.is_empty() {
            m.push_str(": ");
            m.push_str(detail);
        }
        self.push("FieldValueRequired", field, m);
    }

    fn invalid(&mut self, field: &str, value: &str, detail: &str) {
        self.push(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {}: {detail}", go_quote(value)),
        );
    }

    fn invalid_int(&mut self, field: &str, value: i64, detail: &str) {
        self.push(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {value}: {detail}"),
        );
    }

    fn too_long(&mut self, field: &str, max: usize) {
        self.push(
            "FieldValueTooLong",
            field,
            format!("Too long: must have at most {max} bytes"),
        );
    }
}

fn str_of(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

/// A `metav1.Time`/`MicroTime` is zero when absent or `null`.
fn time_is_set(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null))
}

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
    let meta = obj.get("metadata").and_then(Value::as_object);
    let namespace = str_of(meta.and_then(|m| m.get("namespace")));
    let event_time_set = time_is_set(obj.get("eventTime"));
    let regarding_ns = str_of(
        obj.get("regarding")
            .and_then(Value::as_object)
            .and_then(|r| r.get("namespace")),
    );

    // legacyValidateEvent
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
        for msg in is_qualified_name(controller) {
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
    for msg in is_dns1123_subdomain(namespace.as_bytes(), LenUnit::Characters) {
        e.invalid("namespace", namespace, &msg);
    }

    // Strict validation for events.k8s.io/v1.
    validate_object_meta(meta, &mut e);
    if let Some(series) = obj.get("series").and_then(Value::as_object) {
        let count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
        if count < 2 {
            e.invalid("series.count", "", "should be at least 2");
        }
        if !time_is_set(series.get("lastObservedTime")) {
            e.required("series.lastObservedTime", "");
        }
    }
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

fn validate_object_meta(meta: Option<&Map<String, Value>>, e: &mut Errs) {
    let get = |k: &str| str_of(meta.and_then(|m| m.get(k)));
    let generate_name = get("generateName");
    let name = get("name");
    if !generate_name.is_empty() {
        for msg in is_dns1123_subdomain(&mask_trailing_dash(generate_name), LenUnit::Characters) {
            e.invalid("metadata.generateName", generate_name, &msg);
        }
    }
    if name.is_empty() && generate_name.is_empty() {
        e.required("metadata.name", "name or generateName is required");
    } else if name.is_empty() {
        // names.SimpleNameGenerator: the base cut to 58 bytes plus 5 random [b-z2-9] characters.
        let base = generate_name.as_bytes();
        let mut generated = base
            .get(..MAX_GENERATED_NAME_LENGTH)
            .unwrap_or(base)
            .to_vec();
        generated.extend_from_slice(b"bcdfg");
        for msg in is_dns1123_subdomain(&generated, LenUnit::Characters) {
            e.invalid("metadata.name", &String::from_utf8_lossy(&generated), &msg);
        }
    } else {
        for msg in is_dns1123_subdomain(name.as_bytes(), LenUnit::Characters) {
            e.invalid("metadata.name", name, &msg);
        }
    }
    let namespace = get("namespace");
    if namespace.is_empty() {
        e.required("metadata.namespace", "");
    } else {
        for msg in is_dns1123_label(namespace.as_bytes()) {
            e.invalid("metadata.namespace", namespace, &msg);
        }
    }
    if let Some(g) = meta
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
    {
        if g < 0 {
            e.invalid_int(
                "metadata.generation",
                g,
                "must be greater than or equal to 0",
            );
        }
    }
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            for msg in is_qualified_name(k) {
                e.invalid("metadata.labels", k, &msg);
            }
            let v = v.as_str().unwrap_or("");
            for msg in is_label_value(v) {
                e.invalid("metadata.labels", v, &msg);
            }
        }
    }
    if let Some(annotations) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0usize;
        for (k, v) in annotations {
            for msg in is_qualified_name(&k.to_lowercase()) {
                e.invalid("metadata.annotations", k, &msg);
            }
            total = total
                .saturating_add(k.len())
                .saturating_add(v.as_str().map_or(0, str::len));
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
            e.too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT_B);
        }
    }
}

/// The 422 `Invalid` Status kube-apiserver answers an invalid Event with (`errors.NewInvalid`
/// with the internal kind `Event`, group empty): message `Event "<name>" is invalid: <errors>`
/// (one error as is, several deduplicated and bracketed), and the causes in `details`.
pub fn invalid_event(name: &str, causes: Vec<Cause>) -> Rejection {
    let mut seen: Vec<String> = Vec::with_capacity(causes.len());
    for c in &causes {
        let m = format!("{}: {}", c.field, c.message);
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    let quoted = go_quote(name);
    let message = match seen.as_slice() {
        [] => format!("Event {quoted} is invalid"),
        [one] => format!("Event {quoted} is invalid: {one}"),
        many => format!("Event {quoted} is invalid: [{}]", many.join(", ")),
    };
    Rejection::new(Reason::Invalid, message).with_details(Details {
        name: name.to_owned(),
        group: String::new(),
        kind: "Event".to_owned(),
        causes,
    })
}

/// [`validate_events_v1_create`] as a `Result`: [`ConvertError::Invalid`] when anything failed.
pub fn check_events_v1_create(obj: &Map<String, Value>) -> Result<(), ConvertError> {
    let causes = validate_events_v1_create(obj);
    if causes.is_empty() {
        return Ok(());
    }
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    Err(ConvertError::Invalid { name, causes })
}

// --- apimachinery name rules -----------------------------------------------------------------

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `util/validation.MaxLenError` says "characters", `validate/content.MaxLenError` "bytes"
/// (both count bytes).
#[derive(Clone, Copy)]
enum LenUnit {
    Characters,
    Bytes,
}

fn max_len_error(n: usize, unit: LenUnit) -> String {
    match unit {
        LenUnit::Characters => format!("must be no more than {n} characters"),
        LenUnit::Bytes => format!("must be no more than {n} bytes"),
    }
}

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut out = msg.to_owned();
    out.push_str(" (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(ex);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(fmt);
    out.push_str("')");
    out
}

fn dns1123_subdomain_fmt() -> String {
    format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*")
}

fn matches_dns1123_label(b: &[u8]) -> bool {
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first) && alnum(last) && b.iter().all(|c| alnum(c) || *c == b'-')
        }
        _ => false,
    }
}

fn matches_dns1123_subdomain(b: &[u8]) -> bool {
    b.split(|c| *c == b'.').all(matches_dns1123_label)
}

fn matches_label_key_name(b: &[u8]) -> bool {
    let alnum = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            alnum(first)
                && alnum(last)
                && b.iter()
                    .all(|c| alnum(c) || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_dns1123_label(b: &[u8]) -> Vec<String> {
    let mut errs = Vec::new();
    if b.len() > 63 {
        errs.push(max_len_error(63, LenUnit::Characters));
    }
    if !matches_dns1123_label(b) {
        if matches_dns1123_subdomain(b) {
            errs.push("must not contain dots".to_owned());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

fn is_dns1123_subdomain(b: &[u8], unit: LenUnit) -> Vec<String> {
    let mut errs = Vec::new();
    if b.len() > 253 {
        errs.push(max_len_error(253, unit));
    }
    if !matches_dns1123_subdomain(b) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            &dns1123_subdomain_fmt(),
            &["example.com"],
        ));
    }
    errs
}

/// `maskTrailingDash`, quirk included: a trailing `-` replaces the last *two* bytes with `a`.
fn mask_trailing_dash(name: &str) -> Vec<u8> {
    let b = name.as_bytes();
    if b.len() > 1 && b.last() == Some(&b'-') {
        let mut out = b.get(..b.len() - 2).unwrap_or(&[]).to_vec();
        out.push(b'a');
        return out;
    }
    b.to_vec()
}

/// `IsQualifiedName` (= `content.IsLabelKey`).
fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                for msg in is_dns1123_subdomain(prefix.as_bytes(), LenUnit::Bytes) {
                    errs.push(format!("prefix part {msg}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(LABEL_KEY_ERR, LABEL_KEY_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63, LenUnit::Bytes)));
    }
    if !matches_label_key_name(name.as_bytes()) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

fn is_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63, LenUnit::Bytes));
    }
    if !value.is_empty() && !matches_label_key_name(value.as_bytes()) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            &format!("({LABEL_KEY_FMT})?"),
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Go's `%q`: a double-quoted string with Go escapes. Which characters count as printable follows
/// Go's `unicode.IsPrint` for control, space and common format characters; rarer non-printable
/// code points are shown as they are.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            c if !go_printable(c) => {
                let n = u32::from(c);
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(u32::from(c),
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
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
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn fixture(name: &str) -> Value {
        let text = match name {
            "full-core" => include_str!("../testdata/convert/full-core.json"),
            "full-events-v1" => include_str!("../testdata/convert/full-events-v1.json"),
            "legacy-core" => include_str!("../testdata/convert/legacy-core.json"),
            "legacy-events-v1" => include_str!("../testdata/convert/legacy-events-v1.json"),
            "minimal-core" => include_str!("../testdata/convert/minimal-core.json"),
            "minimal-events-v1" => include_str!("../testdata/convert/minimal-events-v1.json"),
            "source-only-core" => include_str!("../testdata/convert/source-only-core.json"),
            "source-only-events-v1" => {
                include_str!("../testdata/convert/source-only-events-v1.json")
            }
            "sparse-core" => include_str!("../testdata/convert/sparse-core.json"),
            "sparse-events-v1" => include_str!("../testdata/convert/sparse-events-v1.json"),
            "merge-patches" => include_str!("../testdata/convert/merge-patches.json"),
            "strategic-merge-patches" => {
                include_str!("../testdata/convert/strategic-merge-patches.json")
            }
            "json-patches" => include_str!("../testdata/convert/json-patches.json"),
            "field-selectors" => include_str!("../testdata/convert/field-selectors.json"),
            other => panic!("no fixture {other}"),
        };
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    const PAIRS: [&str; 4] = ["full", "legacy", "minimal", "source-only"];

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
            "Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \"deprecatedSource.bar\", "
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

    fn run_patch_cases(fixture_name: &str, f: fn(&mut Value) -> Result<Vec<String>, ConvertError>) {
        let cases = fixture(fixture_name);
        for case in cases.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let mut patch = case["events_v1"].clone();
            let got = f(&mut patch);
            if let Some(code) = case.get("error") {
                let err = got.expect_err(name);
                assert_eq!(
                    u64::from(err.rejection().code()),
                    code.as_u64().unwrap(),
                    "{name}"
                );
                continue;
            }
            let unknown = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(patch, case["core"], "{name}");
            let want_unknown: Vec<String> = case
                .get("unknown")
                .map(|u| serde_json::from_value(u.clone()).unwrap())
                .unwrap_or_default();
            assert_eq!(unknown, want_unknown, "{name}");
        }
    }

    #[test]
    fn merge_patches_follow_fixtures() {
        run_patch_cases("merge-patches", merge_patch_events_v1_to_core);
    }

    #[test]
    fn strategic_merge_patches_follow_fixtures() {
        run_patch_cases(
            "strategic-merge-patches",
            strategic_merge_patch_events_v1_to_core,
        );
    }

    #[test]
    fn json_patches_follow_fixtures() {
        run_patch_cases("json-patches", json_patch_events_v1_to_core);
    }

    #[test]
    fn merge_patch_renames_every_field() {
        for (v1, core) in FIELD_RENAMES {
            let mut p = json!({ v1: "x" });
            merge_patch_events_v1_to_core(&mut p).unwrap();
            assert_eq!(p, json!({ core: "x" }), "{v1}");
            let mut p = json!([{"op": "replace", "path": format!("/{v1}/sub"), "value": 1}]);
            json_patch_events_v1_to_core(&mut p).unwrap();
            assert_eq!(
                p,
                json!([{"op": "replace", "path": format!("/{core}/sub"), "value": 1}]),
                "{v1}"
            );
        }
    }

    #[test]
    fn json_patch_errors_are_422_with_kubernetes_message() {
        let mut p = json!([{"op": "remove", "path": "/message"}]);
        let r = json_patch_events_v1_to_core(&mut p)
            .unwrap_err()
            .rejection();
        assert_eq!(r.code(), 422);
        assert_eq!(r.reason, Reason::Invalid);
        assert_eq!(
            r.message,
            "the server rejected our request due to an error in our request"
        );
        let details = r.details.unwrap();
        assert_eq!(details.causes[0].field, "/message");
    }

    // --- field selectors -------------------------------------------------------------------

    #[test]
    fn field_selectors_follow_fixtures() {
        let cases = fixture("field-selectors");
        for case in cases.as_array().unwrap() {
            let input = case["in"].as_str().unwrap();
            let got = field_selector_events_v1_to_core(input);
            match case.get("error") {
                Some(msg) => {
                    let r = got.expect_err(input).rejection();
                    assert_eq!(r.code(), 400, "{input}");
                    assert_eq!(r.message, msg.as_str().unwrap(), "{input}");
                }
                None => assert_eq!(got.unwrap(), case["out"].as_str().unwrap(), "{input}"),
            }
        }
    }

    #[test]
    fn every_events_v1_label_maps_to_a_core_label() {
        for (v1, core) in EVENTS_V1_FIELD_LABELS {
            assert!(CORE_EVENT_FIELD_LABELS.contains(&core), "{core}");
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{v1}=a")).unwrap(),
                format!("{core}=a")
            );
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{v1}!=a")).unwrap(),
                format!("{core}!=a")
            );
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{v1}==a")).unwrap(),
                format!("{core}==a")
            );
        }
        // Core-only labels are not events.k8s.io/v1 labels.
        for core in CORE_EVENT_FIELD_LABELS {
            if EVENTS_V1_FIELD_LABELS.iter().any(|(v1, _)| *v1 == core) {
                continue;
            }
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{core}=a")),
                Err(ConvertError::UnsupportedFieldLabel(core.to_owned()))
            );
        }
    }

    // --- validation ------------------------------------------------------------------------

    fn valid() -> Map<String, Value> {
        obj(json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web-0.17a3", "namespace": "default"},
            "eventTime": "2024-05-01T10:00:00.123456Z",
            "regarding": {"kind": "Pod", "name": "web-0", "namespace": "default"},
            "reportingController": "example.com/controller",
            "reportingInstance": "controller-0",
            "action": "Reconcile", "reason": "Synced", "type": "Normal", "note": "ok",
            "deprecatedSource": {}, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
        }))
    }

    fn causes_after(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<(String, String, String)> {
        let mut o = valid();
        edit(&mut o);
        validate_events_v1_create(&o)
            .into_iter()
            .map(|c| (c.field, c.reason, c.message))
            .collect()
    }

    fn one(field: &str, reason: &str, message: &str) -> Vec<(String, String, String)> {
        vec![(field.to_owned(), reason.to_owned(), message.to_owned())]
    }

    fn set(o: &mut Map<String, Value>, path: &[&str], v: Value) {
        let mut cur = o;
        for (i, k) in path.iter().enumerate() {
            if i + 1 == path.len() {
                cur.insert((*k).to_owned(), v);
                return;
            }
            cur = cur
                .entry(*k)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap();
        }
    }

    const DNS_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

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
    fn cause_metadata_name_required_and_invalid() {
        let c = causes_after(|o| {
            o.get_mut("metadata")
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("name");
        });
        assert_eq!(
            c,
            one(
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required"
            )
        );
        let c = causes_after(|o| set(o, &["metadata", "name"], json!("Web_0")));
        assert_eq!(
            c,
            one(
                "metadata.name",
                "FieldValueInvalid",
                &format!("Invalid value: \"Web_0\": {DNS_SUBDOMAIN_MSG}")
            )
        );
        let long = "a".repeat(254);
        let c = causes_after(|o| set(o, &["metadata", "name"], json!(long)));
        assert_eq!(
            c,
            one(
                "metadata.name",
                "FieldValueInvalid",
                &format!("Invalid value: \"{long}\": must be no more than 253 characters")
            )
        );
    }

    #[test]
    fn cause_metadata_generate_name() {
        // A generated name is valid when the prefix is (trailing dash allowed).
        let c = causes_after(|o| {
            let m = o.get_mut("metadata").unwrap().as_object_mut().unwrap();
            m.remove("name");
            m.insert("generateName".into(), json!("web-"));
        });
        assert!(c.is_empty(), "{c:?}");
        let c = causes_after(|o| {
            let m = o.get_mut("metadata").unwrap().as_object_mut().unwrap();
            m.remove("name");
            m.insert("generateName".into(), json!("Web-"));
        });
        assert_eq!(
            c,
            vec![
                (
                    "metadata.generateName".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"Web-\": {DNS_SUBDOMAIN_MSG}")
                ),
                (
                    "metadata.name".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"Web-bcdfg\": {DNS_SUBDOMAIN_MSG}")
                ),
            ]
        );
    }

    #[test]
    fn cause_metadata_namespace_required_and_dns_label() {
        let c = causes_after(|o| {
            o.get_mut("metadata")
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("namespace");
            o.remove("regarding");
        });
        assert_eq!(
            c,
            vec![
                (
                    "involvedObject.namespace".into(),
                    "FieldValueInvalid".into(),
                    "Invalid value: \"\": does not match event.namespace".into()
                ),
                (
                    "namespace".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"\": {DNS_SUBDOMAIN_MSG}")
                ),
                (
                    "metadata.namespace".into(),
                    "FieldValueRequired".into(),
                    "Required value".into()
                ),
            ]
        );
        let c = causes_after(|o| {
            set(o, &["metadata", "namespace"], json!("a.b"));
            set(o, &["regarding", "namespace"], json!("a.b"));
        });
        assert_eq!(
            c,
            one(
                "metadata.namespace",
                "FieldValueInvalid",
                "Invalid value: \"a.b\": must not contain dots"
            )
        );
    }

    #[test]
    fn cause_metadata_generation_labels_annotations() {
        let c = causes_after(|o| set(o, &["metadata", "generation"], json!(-1)));
        assert_eq!(
            c,
            one(
                "metadata.generation",
                "FieldValueInvalid",
                "Invalid value: -1: must be greater than or equal to 0"
            )
        );
        let c = causes_after(|o| set(o, &["metadata", "labels"], json!({"ok": "-bad"})));
        assert_eq!(c, one("metadata.labels", "FieldValueInvalid",
            "Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
        let c = causes_after(|o| set(o, &["metadata", "labels"], json!({"bad key": "v"})));
        assert_eq!(
            c,
            one(
                "metadata.labels",
                "FieldValueInvalid",
                &format!("Invalid value: \"bad key\": {NAME_PART_MSG}")
            )
        );
        // Annotation keys are checked lower-cased.
        assert!(causes_after(|o| set(
            o,
            &["metadata", "annotations"],
            json!({"Example.COM/Key": "v"})
        ))
        .is_empty());
        let c = causes_after(|o| {
            set(
                o,
                &["metadata", "annotations"],
                json!({"k": "v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B)}),
            )
        });
        assert_eq!(
            c,
            one(
                "metadata.annotations",
                "FieldValueTooLong",
                "Too long: must have at most 262144 bytes"
            )
        );
    }

    #[test]
    fn cause_namespace_dns_subdomain() {
        let c = causes_after(|o| {
            set(o, &["metadata", "namespace"], json!("Team"));
            set(o, &["regarding", "namespace"], json!("Team"));
        });
        assert_eq!(c, vec![
            ("namespace".into(), "FieldValueInvalid".into(), format!("Invalid value: \"Team\": {DNS_SUBDOMAIN_MSG}")),
            ("metadata.namespace".into(), "FieldValueInvalid".into(),
                "Invalid value: \"Team\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into()),
        ]);
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

    #[test]
    fn go_quote_matches_go() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\n\t\u{1}\u{7f}"), r#""\n\t\x01\x7f""#);
        assert_eq!(go_quote("é\u{a0}\u{200b}"), "\"é\\u00a0\\u200b\"");
    }

    #[test]
    fn unknown_field_warnings_are_sorted_and_unique() {
        let w = unknown_field_warnings(&["b".into(), "a".into(), "b".into()]);
        assert_eq!(w, vec!["unknown field \"a\"", "unknown field \"b\""]);
    }
}
