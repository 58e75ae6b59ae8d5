//! `meta.k8s.io` Table rendering of Events, matching kube-apiserver's event printer
//! (pkg/printers/internalversion `printEvent`, always generated "wide" on the server;
//! kubectl hides the priority-1 columns unless `-o wide`).

use serde_json::{json, Map, Value};
use time::OffsetDateTime;

use crate::event;
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
#[derive(Debug, Clone, Copy)]
pub struct TableShape {
    /// `v1` or `v1beta1` of meta.k8s.io.
    pub version: &'static str,
    pub include: IncludeObject,
    pub repr: Repr,
}

impl TableShape {
    pub fn api_version(&self) -> String {
        format!("meta.k8s.io/{}", self.version)
    }
}

/// A Table over `objects`. `headers: false` leaves `columnDefinitions` null, as the API server
/// does for every watch event after the first.
pub fn table(
    objects: &[&Value],
    list_meta: Value,
    headers: bool,
    shape: TableShape,
    now: OffsetDateTime,
) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| row(o, shape, now)).collect();
    json!({
        "kind": "Table",
        "apiVersion": shape.api_version(),
        "metadata": list_meta,
        "columnDefinitions": if headers { column_definitions() } else { Value::Null },
        "rows": rows,
    })
}

pub fn row(obj: &Value, shape: TableShape, now: OffsetDateTime) -> Value {
    let mut r = Map::new();
    r.insert("cells".into(), Value::Array(cells(obj, now)));
    let object = match shape.include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => shape.repr.object(obj),
        IncludeObject::Metadata => partial_metadata(obj, shape.version),
    };
    r.insert("object".into(), object);
    Value::Object(r)
}

/// `PartialObjectMetadata` of `meta.k8s.io/{version}`.
pub fn partial_metadata(obj: &Value, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

fn since(t: Option<OffsetDateTime>, now: OffsetDateTime) -> String {
    match t {
        None => "<unknown>".to_string(),
        Some(t) => human_duration((now - t).whole_seconds()),
    }
}

fn str_field<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

/// Last Seen, Type, Reason, Object, Subobject, Source, Message, First Seen, Count, Name.
pub fn cells(obj: &Value, now: OffsetDateTime) -> Vec<Value> {
    let first_ts = event::parse_time(obj.get("firstTimestamp"));
    let first = match first_ts {
        Some(t) => since(Some(t), now),
        None => since(event::parse_time(obj.get("eventTime")), now),
    };
    let mut last = match event::parse_time(obj.get("lastTimestamp")) {
        Some(t) => since(Some(t), now),
        None => first.clone(),
    };
    let series = obj.get("series").filter(|s| s.is_object());
    let count = match series {
        Some(s) => {
            last = since(event::parse_time(s.get("lastObservedTime")), now);
            s.get("count").and_then(Value::as_i64).unwrap_or(0)
        }
        None => match obj.get("count").and_then(Value::as_i64).unwrap_or(0) {
            // Singleton events of the new API have no count.
            0 => 1,
            c => c,
        },
    };
    let kind = str_field(obj, &["involvedObject", "kind"]).to_lowercase();
    let involved_name = str_field(obj, &["involvedObject", "name"]);
    let target = if involved_name.is_empty() {
        kind
    } else {
        format!("{kind}/{involved_name}")
    };
    let component = first_non_empty(
        str_field(obj, &["source", "component"]),
        str_field(obj, &["reportingComponent"]),
    );
    let instance = first_non_empty(
        str_field(obj, &["source", "host"]),
        str_field(obj, &["reportingInstance"]),
    );
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(str_field(obj, &["type"])),
        json!(str_field(obj, &["reason"])),
        json!(target),
        json!(str_field(obj, &["involvedObject", "fieldPath"])),
        json!(source),
        json!(str_field(obj, &["message"]).trim()),
        json!(first),
        json!(count),
        json!(event::name(obj)),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() {
        b
    } else {
        a
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
        let e = json!({
            "metadata": {"name": "p.1", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
            "reason": "Pulled", "type": "Normal", "message": " pulled image \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-06-01T11:50:00Z", "lastTimestamp": "2024-06-01T11:59:00Z",
            "count": 3
        });
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
        let e = json!({
            "metadata": {"name": "n"},
            "involvedObject": {"kind": "Node"},
            "eventTime": "2024-06-01T11:59:30.000000Z",
            "reportingComponent": "ctrl", "reportingInstance": "ctrl-1",
            "firstTimestamp": null, "lastTimestamp": null
        });
        let c = cells(&e, NOW);
        assert_eq!(c[0], json!("30s"));
        assert_eq!(c[3], json!("node"));
        assert_eq!(c[5], json!("ctrl, ctrl-1"));
        assert_eq!(c[7], json!("30s"));
        assert_eq!(c[8], json!(1));
        let mut s = e.clone();
        s["series"] = json!({"count": 7, "lastObservedTime": "2024-06-01T11:59:55.000000Z"});
        let c = cells(&s, NOW);
        assert_eq!(c[0], json!("5s"));
        assert_eq!(c[8], json!(7));
        let c = cells(&json!({"metadata": {"name": "x"}}), NOW);
        assert_eq!(c[0], json!("<unknown>"));
    }

    #[test]
    fn table_shapes() {
        let e = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "a", "resourceVersion": "5"}});
        let shape = TableShape {
            version: "v1",
            include: IncludeObject::Metadata,
            repr: Repr::Stored,
        };
        let t = table(&[&e], json!({"resourceVersion": "5"}), true, shape, NOW);
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
            TableShape {
                version: "v1",
                include: IncludeObject::Object,
                repr: Repr::Stored,
            },
            NOW,
        );
        assert!(no_headers["columnDefinitions"].is_null());
        assert_eq!(no_headers["rows"][0]["object"]["kind"], "Event");
        assert_eq!(no_headers["rows"][0]["object"]["apiVersion"], "v1");
        let converted = row(
            &e,
            TableShape {
                version: "v1",
                include: IncludeObject::Object,
                repr: Repr::EventsV1,
            },
            NOW,
        );
        assert_eq!(converted["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(converted["object"]["regarding"], json!({}));
        assert_eq!(converted["cells"], row(&e, shape, NOW)["cells"]);
        let none = row(
            &e,
            TableShape {
                version: "v1",
                include: IncludeObject::None,
                repr: Repr::Stored,
            },
            NOW,
        );
        assert!(none["object"].is_null());
    }
}
