//! How a served API version presents the stored core/v1-shaped Events: as they are, or converted
//! to events.k8s.io/v1 on the way out, the way kube-apiserver serves both versions from one
//! storage (conversion from the filter crate's `activity_events_filter::k8s::events`).

use activity_events_filter::k8s::events as convert;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// The stored shape and `apiVersion` (`v1`, or the Activity group's).
    Stored,
    /// events.k8s.io/v1 (`regarding`, `note`, `reportingController`, ...).
    EventsV1,
}

impl Repr {
    /// One stored object (or a watch BOOKMARK object) as this version returns it.
    pub fn object(self, stored: &Value) -> Value {
        let mut out = stored.clone();
        if let (Repr::EventsV1, Value::Object(map)) = (self, &mut out) {
            convert::core_to_events_v1(map);
        }
        out
    }

    /// A stored-shape `EventList` as this version returns it (items, `apiVersion`, `kind`).
    pub fn list(self, mut list: Value) -> Value {
        if let (Repr::EventsV1, Value::Object(map)) = (self, &mut list) {
            convert::core_list_to_events_v1(map);
        }
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored() -> Value {
        json!({
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": "e", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p"},
            "message": "hi", "reportingComponent": "ctrl", "count": 2,
            "source": {"component": "kubelet"}
        })
    }

    #[test]
    fn stored_is_untouched() {
        assert_eq!(Repr::Stored.object(&stored()), stored());
        let list = json!({"kind": "EventList", "apiVersion": "v1", "items": [stored()]});
        assert_eq!(Repr::Stored.list(list.clone()), list);
    }

    #[test]
    fn events_v1_renames_fields() {
        let o = Repr::EventsV1.object(&stored());
        assert_eq!(o["apiVersion"], "events.k8s.io/v1");
        assert_eq!(o["kind"], "Event");
        assert_eq!(o["regarding"]["name"], "p");
        assert_eq!(o["note"], "hi");
        assert_eq!(o["reportingController"], "ctrl");
        assert_eq!(o["deprecatedCount"], 2);
        assert_eq!(o["deprecatedSource"]["component"], "kubelet");
        assert!(o.get("message").is_none());
        assert_eq!(o["metadata"], stored()["metadata"]);

        let list =
            json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": [stored()]});
        let l = Repr::EventsV1.list(list);
        assert_eq!(l["apiVersion"], "events.k8s.io/v1");
        assert_eq!(l["kind"], "EventList");
        assert_eq!(l["items"][0]["note"], "hi");
    }

    #[test]
    fn bookmark_objects_are_converted_too() {
        let b = json!({"kind": "Event", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}});
        let o = Repr::EventsV1.object(&b);
        assert_eq!(o["apiVersion"], "events.k8s.io/v1");
        assert_eq!(o["metadata"]["resourceVersion"], "9");
        assert_eq!(o["regarding"], json!({}));
    }
}
