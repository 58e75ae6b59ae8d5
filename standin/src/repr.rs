//! The two ways the stand-in speaks about one stored Event: in the stored core/v1 shape (under the
//! served `apiVersion`: `v1` or the Activity group's) or as events.k8s.io/v1, the way
//! kube-apiserver serves both versions from one storage. Both directions go through the typed
//! k8s-openapi structs: JSON in is decoded like the Go decoder ([`crate::gojson`]), JSON out is
//! what Go's encoder writes.

use serde_json::{Map, Value};

use crate::conversion;
use crate::gojson::{self, DecodeError};
use crate::model::Event;

/// `apiVersion` of events.k8s.io/v1 objects.
pub const EVENTS_V1_API_VERSION: &str = "events.k8s.io/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// The stored shape (core/v1 fields) under the stored `apiVersion`.
    Stored,
    /// events.k8s.io/v1 (`regarding`, `note`, `reportingController`, ...).
    EventsV1,
}

/// A request body decoded into the stored shape, and the fields the Go type does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    pub event: Event,
    pub unknown: Vec<String>,
}

impl Repr {
    /// The Go type of this version's Event.
    pub fn schema(self) -> &'static gojson::Struct {
        match self {
            Repr::Stored => &gojson::CORE_EVENT,
            Repr::EventsV1 => &gojson::EVENTS_V1_EVENT,
        }
    }

    /// One event as this version returns it; `stored_api_version` tags the stored shape.
    pub fn object(self, e: &Event, stored_api_version: &str) -> Value {
        let (fields, api_version) = match self {
            Repr::Stored => (serde_json::to_value(e), stored_api_version),
            Repr::EventsV1 => (
                serde_json::to_value(conversion::to_events_v1(e)),
                EVENTS_V1_API_VERSION,
            ),
        };
        let mut map = match fields {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        gojson::present(self.schema(), &mut map);
        map.insert("kind".into(), Value::String("Event".into()));
        map.insert("apiVersion".into(), Value::String(api_version.into()));
        Value::Object(map)
    }

    /// An `EventList` of this version.
    pub fn list<'a>(
        self,
        items: impl IntoIterator<Item = &'a Event>,
        list_meta: Value,
        stored_api_version: &str,
    ) -> Value {
        let api_version = match self {
            Repr::Stored => stored_api_version,
            Repr::EventsV1 => EVENTS_V1_API_VERSION,
        };
        let items: Vec<Value> = items
            .into_iter()
            .map(|e| self.object(e, stored_api_version))
            .collect();
        serde_json::json!({
            "kind": "EventList",
            "apiVersion": api_version,
            "metadata": list_meta,
            "items": items,
        })
    }

    /// A body of this version (`apiVersion`/`kind` already checked) in the stored shape.
    pub fn decode(self, body: Map<String, Value>) -> Result<DecodedEvent, DecodeError> {
        let decoded = gojson::decode(self.schema(), body)?;
        let value = Value::Object(decoded.value);
        let event = match self {
            Repr::Stored => serde_json::from_value::<Event>(value),
            Repr::EventsV1 => serde_json::from_value::<k8s_openapi::api::events::v1::Event>(value)
                .map(conversion::from_events_v1),
        }
        // The walk above refused every value these types cannot hold.
        .map_err(|e| DecodeError::Other(e.to_string()))?;
        Ok(DecodedEvent {
            event,
            unknown: decoded.unknown,
        })
    }
}

/// An event's `metadata` as Go writes it (for `PartialObjectMetadata`).
pub fn metadata(e: &Event) -> Value {
    let mut m = match serde_json::to_value(&e.metadata) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    gojson::present(&gojson::OBJECT_META, &mut m);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    /// The hand-written fixture pairs in `testdata/convert/` (see its README).
    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../testdata/convert/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        // Go writes a zero creationTimestamp as null; the fixtures leave it out where unset.
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.entry("creationTimestamp").or_insert(Value::Null);
        }
        v
    }

    #[test]
    fn fixtures_convert_core_to_events_v1() {
        for name in ["full", "legacy", "minimal", "source-only", "sparse"] {
            let core = Repr::Stored
                .decode(obj(fixture(&format!("{name}-core"))))
                .unwrap();
            // The sparse fixture carries fields core/v1 does not have; they are dropped.
            let unknown: &[&str] = match name {
                "sparse" => &["involvedObject.extra", "series.state", "unknownField"],
                _ => &[],
            };
            assert_eq!(core.unknown, unknown, "{name}");
            assert_eq!(
                Repr::EventsV1.object(&core.event, "v1"),
                fixture(&format!("{name}-events-v1")),
                "{name}"
            );
        }
    }

    #[test]
    fn fixtures_convert_events_v1_to_core() {
        for name in ["full", "legacy", "minimal", "source-only"] {
            let v1 = Repr::EventsV1
                .decode(obj(fixture(&format!("{name}-events-v1"))))
                .unwrap();
            assert!(v1.unknown.is_empty(), "{name}: {:?}", v1.unknown);
            assert_eq!(
                Repr::Stored.object(&v1.event, "v1"),
                fixture(&format!("{name}-core")),
                "{name}"
            );
        }
    }

    #[test]
    fn stored_objects_carry_the_served_api_version() {
        let e = Repr::Stored
            .decode(obj(json!({"reason": "R"})))
            .unwrap()
            .event;
        let o = Repr::Stored.object(&e, "activity.miloapis.com/v1alpha1");
        assert_eq!(o["apiVersion"], "activity.miloapis.com/v1alpha1");
        assert_eq!(o["kind"], "Event");
        let l = Repr::EventsV1.list([&e], json!({"resourceVersion": "3"}), "v1");
        assert_eq!(l["apiVersion"], "events.k8s.io/v1");
        assert_eq!(l["kind"], "EventList");
        assert_eq!(l["items"][0]["reason"], "R");
        assert_eq!(l["metadata"]["resourceVersion"], "3");
    }

    #[test]
    fn unknown_fields_are_dropped_and_named() {
        let d = Repr::EventsV1
            .decode(obj(
                json!({"note": "n", "message": "core name", "regarding": {"foo": 1}}),
            ))
            .unwrap();
        assert_eq!(d.unknown, vec!["message", "regarding.foo"]);
        assert_eq!(d.event.message.as_deref(), Some("n"));
    }
}
