//! The Event types as Go's `encoding/json` sees them on kube-apiserver: which JSON type each
//! field takes, which fields carry `omitempty`, which Go type names appear in decoding errors.
//!
//! k8s-openapi's structs hold the data but not these rules (they skip every `None` on output and
//! ignore unknown fields on input), so this table, written from the Go struct tags in
//! `k8s.io/api/core/v1`, `k8s.io/api/events/v1` and `k8s.io/apimachinery/pkg/apis/meta/v1`,
//! supplies them:
//!
//! - [`decode`] reads a request body the way the API server's decoder does: a value of the wrong
//!   JSON type is refused with Go's wording (`json: cannot unmarshal number into Go struct field
//!   Event.note of type string`), `metav1.Time`/`MicroTime` strings are parsed with Go's layouts,
//!   fields the Go type does not have are dropped and reported by path (for `fieldValidation`),
//!   and Go zero values are dropped too, so a typed `None` always means "Go's zero value".
//! - [`present`] puts back what Go always writes: fields without `omitempty` (`reportingComponent:
//!   ""`), structs (`involvedObject: {}`), and zero times as `null` (`eventTime: null`); and drops
//!   what `omitempty` omits (`""`, `0`, empty maps and lists).

use serde_json::{Map, Value};

/// A Go field type, as far as JSON decoding and encoding care.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    /// `types.UID`: a string with its own Go type name.
    Uid,
    Int32,
    Int64,
    /// `*bool`.
    BoolPtr,
    /// `*int64`.
    Int64Ptr,
    /// `metav1.Time`: a struct with its own JSON form, never omitted, `null` when zero.
    Time,
    /// `metav1.MicroTime`.
    MicroTime,
    /// `*metav1.Time`: omitted when nil.
    TimePtr,
    /// A struct value: never omitted by `omitempty`.
    Struct(&'static Struct),
    /// A pointer to a struct: omitted when nil.
    Ptr(&'static Struct),
    /// `map[string]string`.
    StrMap,
    /// `[]string` with `+listType=set` (`metadata.finalizers`).
    StrSet,
    /// `[]Struct` with `+listType=map` keyed by one string field (`metadata.ownerReferences`).
    KeyedList(&'static Struct, &'static str),
    /// `[]Struct` without list-type markers.
    List(&'static Struct),
    /// `FieldsV1`: raw JSON kept as sent.
    Raw,
}

#[derive(Debug)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub omitempty: bool,
}

/// A Go struct: its type name (as decoding errors print it), its fields, and whether server-side
/// field management treats it as one value (`+structType=atomic`).
#[derive(Debug)]
pub struct Struct {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub atomic: bool,
}

impl Struct {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

const fn f(name: &'static str, ty: Ty, omitempty: bool) -> Field {
    Field {
        name,
        ty,
        omitempty,
    }
}

pub static OBJECT_REFERENCE: Struct = Struct {
    name: "ObjectReference",
    atomic: true,
    fields: &[
        f("kind", Ty::Str, true),
        f("namespace", Ty::Str, true),
        f("name", Ty::Str, true),
        f("uid", Ty::Uid, true),
        f("apiVersion", Ty::Str, true),
        f("resourceVersion", Ty::Str, true),
        f("fieldPath", Ty::Str, true),
    ],
};

pub static EVENT_SOURCE: Struct = Struct {
    name: "EventSource",
    atomic: false,
    fields: &[f("component", Ty::Str, true), f("host", Ty::Str, true)],
};

/// core/v1 `EventSeries` (its deprecated `state` field is gone from the Go type).
pub static CORE_EVENT_SERIES: Struct = Struct {
    name: "EventSeries",
    atomic: false,
    fields: &[
        f("count", Ty::Int32, true),
        f("lastObservedTime", Ty::MicroTime, true),
    ],
};

/// events.k8s.io/v1 `EventSeries`: neither field is `omitempty`.
pub static EVENTS_V1_EVENT_SERIES: Struct = Struct {
    name: "EventSeries",
    atomic: false,
    fields: &[
        f("count", Ty::Int32, false),
        f("lastObservedTime", Ty::MicroTime, false),
    ],
};

pub static OWNER_REFERENCE: Struct = Struct {
    name: "OwnerReference",
    atomic: true,
    fields: &[
        f("apiVersion", Ty::Str, false),
        f("kind", Ty::Str, false),
        f("name", Ty::Str, false),
        f("uid", Ty::Uid, false),
        f("controller", Ty::BoolPtr, true),
        f("blockOwnerDeletion", Ty::BoolPtr, true),
    ],
};

pub static MANAGED_FIELDS_ENTRY: Struct = Struct {
    name: "ManagedFieldsEntry",
    atomic: false,
    fields: &[
        f("manager", Ty::Str, true),
        f("operation", Ty::Str, true),
        f("apiVersion", Ty::Str, true),
        f("time", Ty::TimePtr, true),
        f("fieldsType", Ty::Str, true),
        f("fieldsV1", Ty::Raw, true),
        f("subresource", Ty::Str, true),
    ],
};

pub static OBJECT_META: Struct = Struct {
    name: "ObjectMeta",
    atomic: false,
    fields: &[
        f("name", Ty::Str, true),
        f("generateName", Ty::Str, true),
        f("namespace", Ty::Str, true),
        f("selfLink", Ty::Str, true),
        f("uid", Ty::Uid, true),
        f("resourceVersion", Ty::Str, true),
        f("generation", Ty::Int64, true),
        f("creationTimestamp", Ty::Time, true),
        f("deletionTimestamp", Ty::TimePtr, true),
        f("deletionGracePeriodSeconds", Ty::Int64Ptr, true),
        f("labels", Ty::StrMap, true),
        f("annotations", Ty::StrMap, true),
        f(
            "ownerReferences",
            Ty::KeyedList(&OWNER_REFERENCE, "uid"),
            true,
        ),
        f("finalizers", Ty::StrSet, true),
        f("managedFields", Ty::List(&MANAGED_FIELDS_ENTRY), true),
    ],
};

/// core/v1 `Event` (`k8s.io/api/core/v1/types.go`).
pub static CORE_EVENT: Struct = Struct {
    name: "Event",
    atomic: false,
    fields: &[
        f("metadata", Ty::Struct(&OBJECT_META), false),
        f("involvedObject", Ty::Struct(&OBJECT_REFERENCE), false),
        f("reason", Ty::Str, true),
        f("message", Ty::Str, true),
        f("source", Ty::Struct(&EVENT_SOURCE), true),
        f("firstTimestamp", Ty::Time, true),
        f("lastTimestamp", Ty::Time, true),
        f("count", Ty::Int32, true),
        f("type", Ty::Str, true),
        f("eventTime", Ty::MicroTime, true),
        f("series", Ty::Ptr(&CORE_EVENT_SERIES), true),
        f("action", Ty::Str, true),
        f("related", Ty::Ptr(&OBJECT_REFERENCE), true),
        f("reportingComponent", Ty::Str, false),
        f("reportingInstance", Ty::Str, false),
    ],
};

/// events.k8s.io/v1 `Event` (`k8s.io/api/events/v1/types.go`).
pub static EVENTS_V1_EVENT: Struct = Struct {
    name: "Event",
    atomic: false,
    fields: &[
        f("metadata", Ty::Struct(&OBJECT_META), true),
        f("eventTime", Ty::MicroTime, false),
        f("series", Ty::Ptr(&EVENTS_V1_EVENT_SERIES), true),
        f("reportingController", Ty::Str, true),
        f("reportingInstance", Ty::Str, true),
        f("action", Ty::Str, true),
        f("reason", Ty::Str, true),
        f("regarding", Ty::Struct(&OBJECT_REFERENCE), true),
        f("related", Ty::Ptr(&OBJECT_REFERENCE), true),
        f("note", Ty::Str, true),
        f("type", Ty::Str, true),
        f("deprecatedSource", Ty::Struct(&EVENT_SOURCE), true),
        f("deprecatedFirstTimestamp", Ty::Time, true),
        f("deprecatedLastTimestamp", Ty::Time, true),
        f("deprecatedCount", Ty::Int32, true),
    ],
};

/// Go's `time.RFC3339`, the layout `metav1.Time` parses with.
pub const RFC3339: &str = "2006-01-02T15:04:05Z07:00";
/// `metav1.RFC3339Micro`, the layout `metav1.MicroTime` parses with.
pub const RFC3339_MICRO: &str = "2006-01-02T15:04:05.000000Z07:00";
/// Go's zero `time.Time` as `MicroTime` text. A value the typed model must hold (the
/// events.k8s.io/v1 series time) is given this for Go's zero; [`present`] writes it as `null`.
pub const ZERO_MICRO_TIME: &str = "0001-01-01T00:00:00.000000Z";

/// What the Go decoder refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// `json: cannot unmarshal <value> into Go struct field <Struct>.<path> of type <type>`.
    Type {
        value: String,
        strukt: &'static str,
        path: String,
        go_type: String,
    },
    /// A time field that is not a JSON string: `metav1.Time.UnmarshalJSON` decodes it as one.
    TimeNotString { value: String },
    /// `parsing time "<text>" as "<layout>": cannot parse "<rest>" as "<element>"`.
    Time {
        text: String,
        layout: &'static str,
        rest: String,
        element: &'static str,
    },
    /// Anything else the typed structs refuse.
    Other(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Type {
                value,
                strukt,
                path,
                go_type,
            } => write!(
                f,
                "json: cannot unmarshal {value} into Go struct field {strukt}.{path} of type {go_type}"
            ),
            DecodeError::TimeNotString { value } => {
                write!(f, "json: cannot unmarshal {value} into Go value of type string")
            }
            DecodeError::Time {
                text,
                layout,
                rest,
                element,
            } => write!(
                f,
                "parsing time {} as {}: cannot parse {} as {}",
                quote(text),
                quote(layout),
                quote(rest),
                quote(element)
            ),
            DecodeError::Other(m) => f.write_str(m),
        }
    }
}

/// A body as the Go type decoded it: Go zero values and unknown fields removed, and the paths of
/// the unknown ones in Go's strict-decoding form (`involvedObject.foo`,
/// `metadata.ownerReferences[0].foo`), in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub value: Map<String, Value>,
    pub unknown: Vec<String>,
}

/// Decodes an object of `top` (without `apiVersion`/`kind`, which the caller checks).
pub fn decode(top: &'static Struct, mut obj: Map<String, Value>) -> Result<Decoded, DecodeError> {
    obj.remove("apiVersion");
    obj.remove("kind");
    let mut walk = Walk {
        unknown: Vec::new(),
    };
    let value = walk.object(top, obj, &mut Vec::new())?;
    Ok(Decoded {
        value,
        unknown: walk.unknown,
    })
}

struct Walk {
    unknown: Vec<String>,
}

fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if !p.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(p);
    }
    out
}

/// Go's name for a JSON value in `cannot unmarshal <value>`.
fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

impl Walk {
    /// The fields of one struct value.
    fn object(
        &mut self,
        s: &'static Struct,
        obj: Map<String, Value>,
        path: &mut Vec<String>,
    ) -> Result<Map<String, Value>, DecodeError> {
        let mut out = Map::new();
        for (key, v) in obj {
            let Some(field) = s.field(&key) else {
                path.push(key);
                self.unknown.push(dotted(path));
                path.pop();
                continue;
            };
            path.push(key.clone());
            let kept = self.value(field, s, v, path)?;
            path.pop();
            if let Some(v) = kept {
                out.insert(key, v);
            }
        }
        // The typed model needs these even when Go has its zero value.
        for field in s.fields.iter().filter(|f| !f.omitempty) {
            if out.contains_key(field.name) {
                continue;
            }
            match (field.ty, s.name) {
                (Ty::MicroTime, "EventSeries") => {
                    out.insert(field.name.into(), Value::String(ZERO_MICRO_TIME.into()));
                }
                (Ty::Int32, "EventSeries") => {
                    out.insert(field.name.into(), Value::from(0));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn type_error(
        &self,
        v: &Value,
        s: &'static Struct,
        path: &[String],
        go_type: String,
    ) -> DecodeError {
        DecodeError::Type {
            value: json_kind(v),
            strukt: s.name,
            path: dotted(path),
            go_type,
        }
    }

    /// One field's value; `None` when Go's zero value (or null) leaves nothing to keep.
    fn value(
        &mut self,
        field: &'static Field,
        parent: &'static Struct,
        v: Value,
        path: &mut Vec<String>,
    ) -> Result<Option<Value>, DecodeError> {
        if v.is_null() {
            return Ok(None);
        }
        let go_name = go_type_name(field.ty);
        let keep = |v: Value| Ok((!is_zero(&v)).then_some(v));
        match field.ty {
            Ty::Str | Ty::Uid => match v {
                Value::String(_) => keep(v),
                other => Err(self.type_error(&other, parent, path, go_name)),
            },
            Ty::BoolPtr => match v {
                Value::Bool(_) => Ok(Some(v)),
                other => Err(self.type_error(&other, parent, path, go_name)),
            },
            Ty::Int32 | Ty::Int64 | Ty::Int64Ptr => {
                let fits = match (&v, field.ty) {
                    (Value::Number(n), Ty::Int32) => {
                        n.as_i64().is_some_and(|i| i32::try_from(i).is_ok())
                    }
                    (Value::Number(n), _) => n.as_i64().is_some(),
                    _ => false,
                };
                match (&v, fits) {
                    (_, true) if matches!(field.ty, Ty::Int64Ptr) => Ok(Some(v)),
                    (_, true) => keep(v),
                    (Value::Number(n), false) => Err(DecodeError::Type {
                        value: format!("number {n}"),
                        strukt: parent.name,
                        path: dotted(path),
                        go_type: go_name,
                    }),
                    (other, _) => Err(self.type_error(other, parent, path, go_name)),
                }
            }
            Ty::Time | Ty::TimePtr | Ty::MicroTime => {
                let Value::String(text) = &v else {
                    return Err(DecodeError::TimeNotString {
                        value: json_kind(&v),
                    });
                };
                let micro = matches!(field.ty, Ty::MicroTime);
                let t = parse_go_time(text, micro)?;
                if is_go_zero(t) && !matches!(field.ty, Ty::TimePtr) {
                    return Ok(None);
                }
                Ok(Some(Value::String(format_time(t, micro))))
            }
            Ty::Struct(s) | Ty::Ptr(s) => match v {
                Value::Object(obj) => {
                    let inner = self.object(s, obj, path)?;
                    // A nil pointer and a zero struct differ in Go only for pointers.
                    if inner.is_empty() && matches!(field.ty, Ty::Struct(_)) {
                        Ok(None)
                    } else {
                        Ok(Some(Value::Object(inner)))
                    }
                }
                other => Err(self.type_error(&other, parent, path, go_name)),
            },
            Ty::StrMap => match v {
                Value::Object(obj) => {
                    for (k, item) in &obj {
                        if !item.is_string() && !item.is_null() {
                            path.push(k.clone());
                            let e = self.type_error(
                                item,
                                parent,
                                &path[..path.len() - 1],
                                "string".into(),
                            );
                            path.pop();
                            return Err(e);
                        }
                    }
                    let obj: Map<String, Value> = obj
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k,
                                if v.is_null() {
                                    Value::String(String::new())
                                } else {
                                    v
                                },
                            )
                        })
                        .collect();
                    keep(Value::Object(obj))
                }
                other => Err(self.type_error(&other, parent, path, go_name)),
            },
            Ty::StrSet => match v {
                Value::Array(items) => {
                    if let Some(bad) = items.iter().find(|i| !i.is_string()) {
                        return Err(self.type_error(bad, parent, path, "string".into()));
                    }
                    keep(Value::Array(items))
                }
                other => Err(self.type_error(&other, parent, path, go_name)),
            },
            Ty::KeyedList(s, _) | Ty::List(s) => match v {
                Value::Array(items) => {
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.into_iter().enumerate() {
                        path.push(format!("[{i}]"));
                        let decoded = match item {
                            Value::Object(obj) => self.object(s, obj, path).map(Value::Object),
                            Value::Null => Ok(Value::Object(Map::new())),
                            other => Err(self.type_error(
                                &other,
                                parent,
                                &path[..path.len() - 1],
                                format!("v1.{}", s.name),
                            )),
                        };
                        path.pop();
                        out.push(decoded?);
                    }
                    keep(Value::Array(out))
                }
                other => Err(self.type_error(&other, parent, path, go_name)),
            },
            Ty::Raw => Ok(Some(v)),
        }
    }
}

/// The Go type a decoding error names for a field.
fn go_type_name(ty: Ty) -> String {
    match ty {
        Ty::Str => "string".into(),
        Ty::Uid => "types.UID".into(),
        Ty::Int32 => "int32".into(),
        Ty::Int64 | Ty::Int64Ptr => "int64".into(),
        Ty::BoolPtr => "bool".into(),
        Ty::Time | Ty::TimePtr => "v1.Time".into(),
        Ty::MicroTime => "v1.MicroTime".into(),
        Ty::Struct(s) | Ty::Ptr(s) => format!("v1.{}", s.name),
        Ty::StrMap => "map[string]string".into(),
        Ty::StrSet => "[]string".into(),
        Ty::KeyedList(s, _) | Ty::List(s) => format!("[]v1.{}", s.name),
        Ty::Raw => "v1.FieldsV1".into(),
    }
}

/// Go's zero `time.Time` (January 1, year 1, 00:00:00 UTC) as a timestamp.
pub fn go_zero() -> jiff::Timestamp {
    // -62135596800 is 0001-01-01T00:00:00Z in Unix seconds, well inside jiff's range.
    jiff::Timestamp::new(-62_135_596_800, 0).unwrap_or(jiff::Timestamp::MIN)
}

/// True for Go's zero time.
pub fn is_go_zero(t: jiff::Timestamp) -> bool {
    t == go_zero()
}

/// `metav1.Time` keeps whole seconds (its wire forms drop the rest), `MicroTime` microseconds.
pub fn truncate(t: jiff::Timestamp, micro: bool) -> jiff::Timestamp {
    let nanos = i64::from(t.subsec_nanosecond());
    let keep = if micro { nanos - nanos % 1000 } else { 0 };
    let keep = i32::try_from(keep).unwrap_or(0);
    jiff::Timestamp::new(t.as_second(), keep).unwrap_or(t)
}

/// A time as Go writes it: UTC, `Z`, seconds (`Time`) or six fractional digits (`MicroTime`).
pub fn format_time(t: jiff::Timestamp, micro: bool) -> String {
    let layout = if micro {
        "%Y-%m-%dT%H:%M:%S%.6fZ"
    } else {
        "%Y-%m-%dT%H:%M:%SZ"
    };
    jiff::fmt::strtime::format(layout, truncate(t, micro)).unwrap_or_default()
}

/// Parses like Go's `time.Parse(time.RFC3339, ..)` (fractional seconds optional) or, for
/// `MicroTime`, `time.Parse(metav1.RFC3339Micro, ..)` (exactly six fractional digits).
pub fn parse_go_time(text: &str, micro: bool) -> Result<jiff::Timestamp, DecodeError> {
    let layout = if micro { RFC3339_MICRO } else { RFC3339 };
    let err = |rest: &str, element: &'static str| DecodeError::Time {
        text: text.to_string(),
        layout,
        rest: rest.to_string(),
        element,
    };
    // "2006-01-02T15:04:05" is 19 bytes; Go reports the first element that does not match.
    let head = text.get(..19).filter(|h| shaped_like_seconds(h));
    let Some(_) = head else {
        return Err(err(text, "2006"));
    };
    let rest = text.get(19..).unwrap_or("");
    let digits = rest
        .strip_prefix('.')
        .map(|r| r.bytes().take_while(u8::is_ascii_digit).count());
    if micro && digits != Some(6) {
        return Err(err(rest, ".000000"));
    }
    let zone = match digits {
        Some(n) => rest.get(1 + n..).unwrap_or(""),
        None => rest,
    };
    let zone_ok = zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes().first(), Some(b'+' | b'-'))
            && zone.as_bytes().get(3) == Some(&b':'));
    if !zone_ok {
        return Err(err(zone, "Z07:00"));
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| truncate(t, micro))
        .map_err(|_| err(text, "2006"))
}

fn shaped_like_seconds(h: &str) -> bool {
    h.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    })
}

/// Puts `obj` (k8s-openapi's serialization of a `top`) into the shape Go writes: fields without
/// `omitempty` and struct values always present, zero times as `null`, `omitempty` zeros
/// dropped.
pub fn present(top: &'static Struct, obj: &mut Map<String, Value>) {
    for field in top.fields {
        let slot = obj.remove(field.name);
        if let Some(v) = present_value(field, slot) {
            obj.insert(field.name.to_string(), v);
        }
    }
}

fn present_value(field: &'static Field, v: Option<Value>) -> Option<Value> {
    let v = v.filter(|v| !v.is_null());
    match field.ty {
        Ty::Time | Ty::MicroTime => Some(match v {
            Some(Value::String(s)) if !is_zero_time_text(&s) => Value::String(s),
            _ => Value::Null,
        }),
        Ty::TimePtr => v,
        Ty::Struct(s) => {
            let mut inner = match v {
                Some(Value::Object(m)) => m,
                _ => Map::new(),
            };
            present(s, &mut inner);
            Some(Value::Object(inner))
        }
        Ty::Ptr(s) => match v {
            Some(Value::Object(mut m)) => {
                present(s, &mut m);
                Some(Value::Object(m))
            }
            other => other,
        },
        Ty::KeyedList(s, _) | Ty::List(s) => {
            let items = match v {
                Some(Value::Array(items)) if !items.is_empty() => items,
                _ => return None,
            };
            let items = items
                .into_iter()
                .map(|item| match item {
                    Value::Object(mut m) => {
                        present(s, &mut m);
                        Value::Object(m)
                    }
                    other => other,
                })
                .collect();
            Some(Value::Array(items))
        }
        Ty::BoolPtr | Ty::Int64Ptr | Ty::Raw => v,
        Ty::Str | Ty::Uid | Ty::Int32 | Ty::Int64 | Ty::StrMap | Ty::StrSet => {
            match (v.filter(|v| !is_zero(v)), field.omitempty) {
                (Some(v), _) => Some(v),
                (None, true) => None,
                (None, false) => Some(match field.ty {
                    Ty::Int32 | Ty::Int64 => Value::from(0),
                    Ty::StrMap | Ty::StrSet => Value::Null,
                    _ => Value::String(String::new()),
                }),
            }
        }
    }
}

fn is_zero_time_text(s: &str) -> bool {
    s.starts_with("0001-01-01T00:00:00") && s.parse::<jiff::Timestamp>().is_ok_and(is_go_zero)
}

/// Go's `%q` of a string: double quotes, backslash escapes for quotes, backslashes and control
/// characters (`\n`, `\t`, `\r`, `\x01`, …), printable Unicode kept.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let escaped: String = c.escape_debug().collect();
        match escaped.strip_prefix("\\u{") {
            // Rust's `\u{1}` is Go's `\x01` below 0x80 and `\u0001`-style above.
            Some(hex) => {
                let code = u32::from(c);
                let hex = hex.trim_end_matches('}');
                if code < 0x80 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code <= 0xFFFF {
                    out.push_str(&format!("\\u{hex:0>4}"));
                } else {
                    out.push_str(&format!("\\U{hex:0>8}"));
                }
            }
            None if c == '\'' => out.push('\''),
            None => out.push_str(&escaped),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn decoding_drops_zeros_and_reports_unknown_fields_by_path() {
        let d = decode(
            &CORE_EVENT,
            obj(json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": "e", "labels": {}, "foo": 1,
                             "ownerReferences": [{"uid": "u", "bar": true}]},
                "involvedObject": {"name": "p", "extra": "x"},
                "message": "", "count": 0, "reportingComponent": "",
                "source": {}, "related": {}, "firstTimestamp": null,
                "eventTime": "0001-01-01T00:00:00.000000Z", "zzz": [1]
            })),
        )
        .unwrap();
        assert_eq!(
            Value::Object(d.value),
            json!({
                "metadata": {"name": "e", "ownerReferences": [{"uid": "u"}]},
                "involvedObject": {"name": "p"},
                "related": {}
            })
        );
        assert_eq!(
            d.unknown,
            vec![
                "involvedObject.extra",
                "metadata.foo",
                "metadata.ownerReferences[0].bar",
                "zzz"
            ]
        );
    }

    #[test]
    fn type_errors_read_like_go() {
        let e = |v: Value| decode(&EVENTS_V1_EVENT, obj(v)).unwrap_err().to_string();
        assert_eq!(
            e(json!({"note": 5})),
            "json: cannot unmarshal number into Go struct field Event.note of type string"
        );
        assert_eq!(
            e(json!({"regarding": {"uid": 5}})),
            "json: cannot unmarshal number into Go struct field ObjectReference.regarding.uid of type types.UID"
        );
        assert_eq!(
            e(json!({"deprecatedCount": 1.5})),
            "json: cannot unmarshal number 1.5 into Go struct field Event.deprecatedCount of type int32"
        );
        assert_eq!(
            e(json!({"regarding": "pod"})),
            "json: cannot unmarshal string into Go struct field Event.regarding of type v1.ObjectReference"
        );
        assert_eq!(
            e(json!({"metadata": {"labels": {"a": 1}}})),
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"
        );
        assert_eq!(
            e(json!({"eventTime": 5})),
            "json: cannot unmarshal number into Go value of type string"
        );
        assert_eq!(
            e(json!({"eventTime": "2024-01-02T03:04:05Z"})),
            "parsing time \"2024-01-02T03:04:05Z\" as \"2006-01-02T15:04:05.000000Z07:00\": cannot parse \"Z\" as \".000000\""
        );
        assert_eq!(
            e(json!({"deprecatedFirstTimestamp": "yesterday"})),
            "parsing time \"yesterday\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"yesterday\" as \"2006\""
        );
    }

    #[test]
    fn times_are_normalised_to_utc() {
        let d = decode(
            &CORE_EVENT,
            obj(json!({
                "firstTimestamp": "2024-01-02T04:04:05.9+01:00",
                "eventTime": "2024-01-02T03:04:05.123456-00:30",
                "series": {"lastObservedTime": "2024-01-02T03:04:05.000001Z"}
            })),
        )
        .unwrap();
        assert_eq!(d.value["firstTimestamp"], "2024-01-02T03:04:05Z");
        assert_eq!(d.value["eventTime"], "2024-01-02T03:34:05.123456Z");
        assert_eq!(
            d.value["series"]["lastObservedTime"],
            "2024-01-02T03:04:05.000001Z"
        );
    }

    #[test]
    fn events_v1_series_keeps_its_required_members() {
        let d = decode(&EVENTS_V1_EVENT, obj(json!({"series": {}}))).unwrap();
        assert_eq!(
            d.value["series"],
            json!({"count": 0, "lastObservedTime": ZERO_MICRO_TIME})
        );
    }

    #[test]
    fn presence_matches_go() {
        let mut core = obj(json!({"metadata": {"name": "e"}, "message": "", "count": 0}));
        present(&CORE_EVENT, &mut core);
        assert_eq!(
            Value::Object(core),
            json!({
                "metadata": {"name": "e", "creationTimestamp": null},
                "involvedObject": {}, "source": {},
                "firstTimestamp": null, "lastTimestamp": null, "eventTime": null,
                "reportingComponent": "", "reportingInstance": ""
            })
        );
        let mut v1 = obj(json!({"series": {"count": 2, "lastObservedTime": ZERO_MICRO_TIME}}));
        present(&EVENTS_V1_EVENT, &mut v1);
        assert_eq!(
            Value::Object(v1),
            json!({
                "metadata": {"creationTimestamp": null}, "eventTime": null,
                "series": {"count": 2, "lastObservedTime": null},
                "regarding": {}, "deprecatedSource": {},
                "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
            })
        );
    }

    #[test]
    fn quoting_is_gos() {
        assert_eq!(quote("a\"b\\c\n\t\u{1}é'"), "\"a\\\"b\\\\c\\n\\t\\x01é'\"");
        assert_eq!(quote("\u{7f}"), "\"\\x7f\"");
        assert_eq!(quote("\u{200b}"), "\"\\u200b\"");
    }
}
