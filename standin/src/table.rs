//! `meta.k8s.io` Table rendering of Events, matching kube-apiserver's event printer
//! (pkg/printers/internalversion `printEvent`, always generated "wide" on the server;
//! kubectl hides the priority-1 columns unless `-o wide`).

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::model::{self, Event};
use crate::negotiate::IncludeObject;
use crate::repr::Repr;

pub fn column_definitions() -> Value {
    let col = |name: &str, priority: u8, format: &str, description: &str| json!({"name": name, "type": "string", "format": format, "description": description, "priority": priority});
    json!([
        col("Last Seen", 0, "", "The time at which the most recent occurrence of this event was recorded."),
        col("Type", 0, "", "Type of this event (Normal, Warning), new types could be added in the future"),
        col("Reason", 0, "", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        col("Object", 0, "", "The object that this event is about."),
        col("Subobject", 1, "", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]."),
        col("Source", 1, "", "The component reporting this event. Should be a short machine understandable string."),
        col("Message", 0, "", "A human-readable description of the status of this operation."),
        col("First Seen", 1, "", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
        col("Count", 1, "", "The number of times this event has occurred."),
        col("Name", 1, "name", "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically."),
    ])
}

/// Table options that shape every row. Cells always come from the stored shape (kube-apiserver
/// prints the internal object for every served version); `repr` shapes `rows[].object` under
/// `includeObject=Object`.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// `v1` or `v1beta1` of meta.k8s.io.
    pub version: &'static str,
    pub include: IncludeObject,
    pub repr: Repr,
    /// The served `apiVersion` of stored-shape objects.
    pub api_version: String,
}

impl TableShape {
    pub fn table_api_version(&self) -> String {
        format!("meta.k8s.io/{}", self.version)
    }
}

/// A Table over `objects`. `headers: false` leaves `columnDefinitions` null, as the API server
/// does for every watch event after the first.
pub fn table(
    objects: &[&Event],
    list_meta: Value,
    headers: bool,
    shape: TableShape,
    now: OffsetDateTime,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(o, &shape, now)).collect();
    json!({
        "kind": "Table",
        "apiVersion": shape.table_api_version(),
        "metadata": list_meta,
        "columnDefinitions": if headers { column_definitions() } else { Value::Null },
        "rows": rows,
    })
}

pub fn row(obj: &Event, shape: &TableShape, now: OffsetDateTime) -> Value {
    let mut r = Map::new();
    r.insert("cells".into(), Value::Array(cells(obj, now)));
    let object = match shape.include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => shape.repr.object(obj, &shape.api_version),
        IncludeObject::Metadata => partial_metadata(obj, shape.version),
    };
    r.insert("object".into(), object);
    Value::Object(r)
}

/// `PartialObjectMetadata` of `meta.k8s.io/{version}`.
pub fn partial_metadata(obj: &Event, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": crate::repr::metadata(obj),
    })
}

/// Seconds since a time, as the printer's `translateTimestampSince` shows it.
fn since(t: Option<jiff::Timestamp>, now: OffsetDateTime) -> String {
    match t.filter(|t| !crate::gojson::is_go_zero(*t)) {
        None => "<unknown>".to_string(),
        Some(t) => human_duration(now.unix_timestamp() - t.as_second()),
    }
}

/// Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen, Count, Name.
pub fn cells(e: &Event, now: OffsetDateTime) -> Vec<Value> {
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    let first = match &e.first_timestamp {
        Some(t) => since(Some(t.0), now),
        None => since(e.event_time.as_ref().map(|t| t.0), now),
    };
    let mut last = match &e.last_timestamp {
        Some(t) => since(Some(t.0), now),
        None => first.clone(),
    };
    let count = match &e.series {
        Some(series) => {
            last = since(series.last_observed_time.as_ref().map(|t| t.0), now);
            series.count.unwrap_or(0)
        }
        // Singleton events of the new API have no count.
        None => e.count.filter(|c| *c != 0).unwrap_or(1),
    };
    let io = &e.involved_object;
    let kind = s(&io.kind).to_lowercase();
    let target = match io.name.as_deref() {
        None | Some("") => kind,
        Some(name) => format!("{kind}/{name}"),
    };
    let source = e.source.clone().unwrap_or_default();
    let component = s(&source.component).or_if_empty(s(&e.reporting_component));
    let instance = s(&source.host).or_if_empty(s(&e.reporting_instance));
    let source = if instance.is_empty() {
        component
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(s(&e.type_)),
        json!(s(&e.reason)),
        json!(target),
        json!(s(&io.field_path)),
        json!(source),
        json!(s(&e.message).trim()),
        json!(first),
        json!(count),
        json!(model::name(e)),
    ]
}

trait OrIfEmpty {
    fn or_if_empty(self, other: String) -> String;
}

impl OrIfEmpty for String {
    fn or_if_empty(self, other: String) -> String {
        if self.is_empty() {
            other
        } else {
            self
        }
    }
}

/// apimachinery's `duration.HumanDuration`, from whole seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ev(v: Value) -> Event {
        Repr::Stored
            .decode(v.as_object().cloned().unwrap_or_default())
            .unwrap()
            .event
    }

    fn shape(include: IncludeObject, repr: Repr) -> TableShape {
        TableShape {
            version: "v1",
            include,
            repr,
            api_version: "v1".into(),
        }
    }

    const NOW: OffsetDateTime = datetime!(2024-06-01 12:00:00 UTC);

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(-5), "<invalid>");
        assert_eq!(human_duration(-1), "0s");
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(180), "3m");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(10 * 3600), "10h");
        assert_eq!(human_duration(50 * 3600), "2d2h");
        assert_eq!(human_duration(10 * 86400), "10d");
        assert_eq!(human_duration(800 * 86400), "2y70d");
        assert_eq!(human_duration(9 * 365 * 86400), "9y");
    }

    #[test]
    fn classic_event_row() {
        let e = ev(json!({
            "metadata": {"name": "p.1", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
            "reason": "Pulled", "type": "Normal", "message": " pulled image \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-06-01T11:50:00Z", "lastTimestamp": "2024-06-01T11:59:00Z",
            "count": 3
        }));
        let c = cells(&e, NOW);
        assert_eq!(
            c,
            vec![
                json!("60s"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/p"),
                json!("spec.containers{c}"),
                json!("kubelet, node-1"),
                json!("pulled image"),
                json!("10m"),
                json!(3),
                json!("p.1")
            ]
        );
    }

    #[test]
    fn new_api_event_row_uses_event_time_and_series() {
        let e = ev(json!({
            "metadata": {"name": "n"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2024-06-01T11:59:30.000000Z",
            "reportingComponent": "ctrl", "reportingInstance": "ctrl-1",
            "firstTimestamp": null, "lastTimestamp": null
        }));
        let c = cells(&e, NOW);
        assert_eq!(c[0], json!("30s"));
        assert_eq!(c[3], json!("node"));
        assert_eq!(c[5], json!("ctrl, ctrl-1"));
        assert_eq!(c[7], json!("30s"));
        assert_eq!(c[8], json!(1));
        let mut s = e.clone();
        s.series =
            ev(json!({"series": {"count": 7, "lastObservedTime": "2024-06-01T11:59:55.000000Z"}}))
                .series;
        let c = cells(&s, NOW);
        assert_eq!(c[0], json!("5s"));
        assert_eq!(c[8], json!(7));
        let c = cells(&ev(json!({"metadata": {"name": "x"}})), NOW);
        assert_eq!(c[0], json!("<unknown>"));
    }

    #[test]
    fn table_shapes() {
        let e = ev(
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "a", "resourceVersion": "5"}}),
        );
        let meta_shape = shape(IncludeObject::Metadata, Repr::Stored);
        let t = table(
            &[&e],
            json!({"resourceVersion": "5"}),
            true,
            meta_shape.clone(),
            NOW,
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["columnDefinitions"].as_array().unwrap().len(), 10);
        assert_eq!(t["columnDefinitions"][4]["priority"], 1);
        assert_eq!(t["columnDefinitions"][0]["priority"], 0);
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["rows"][0]["object"]["metadata"]["name"], "a");
        let no_headers = table(
            &[&e],
            json!({}),
            false,
            shape(IncludeObject::Object, Repr::Stored),
            NOW,
        );
        assert!(no_headers["columnDefinitions"].is_null());
        assert_eq!(no_headers["rows"][0]["object"]["kind"], "Event");
        assert_eq!(no_headers["rows"][0]["object"]["apiVersion"], "v1");
        let converted = row(&e, &shape(IncludeObject::Object, Repr::EventsV1), NOW);
        assert_eq!(converted["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(converted["object"]["regarding"], json!({}));
        assert_eq!(converted["cells"], row(&e, &meta_shape, NOW)["cells"]);
        let none = row(&e, &shape(IncludeObject::None, Repr::Stored), NOW);
        assert!(none["object"].is_null());
    }
}
