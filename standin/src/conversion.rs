//! events.k8s.io/v1 ⇄ core/v1, field by field, as kube-apiserver converts between the versions it
//! serves from one storage: `Convert_v1_Event_To_core_Event` and `Convert_core_Event_To_v1_Event`
//! in `pkg/apis/events/v1/conversion.go` on top of the generated
//! `pkg/apis/events/v1/zz_generated.conversion.go`.
//!
//! The renames are `regarding` ⇄ `involvedObject`, `note` ⇄ `message`, `reportingController` ⇄
//! `reportingComponent`, `deprecatedSource` ⇄ `source`, `deprecatedFirstTimestamp` ⇄
//! `firstTimestamp`, `deprecatedLastTimestamp` ⇄ `lastTimestamp`, `deprecatedCount` ⇄ `count`;
//! everything else keeps its name. Nothing falls back from one field to another (an event with
//! only `source.component` has no `reportingController`).
//!
//! Typed values follow one rule throughout the stand-in: `None` is Go's zero value (see
//! [`crate::gojson`]), so the conversion only moves values.

use k8s_openapi::api::core::v1::{EventSeries, ObjectReference};
use k8s_openapi::api::events::v1 as events_v1;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

use crate::gojson;
use crate::model::Event;

/// The core/v1 name of an events.k8s.io/v1 top-level field (`metadata` aside), if it has one.
pub fn core_name(events_v1: &str) -> Option<&'static str> {
    let core = match events_v1 {
        "regarding" => "involvedObject",
        "note" => "message",
        "reportingController" => "reportingComponent",
        "deprecatedSource" => "source",
        "deprecatedFirstTimestamp" => "firstTimestamp",
        "deprecatedLastTimestamp" => "lastTimestamp",
        "deprecatedCount" => "count",
        // The rest keep their names.
        same => same,
    };
    gojson::CORE_EVENT
        .field(core)
        .filter(|f| f.name != "metadata" && gojson::EVENTS_V1_EVENT.field(events_v1).is_some())
        .map(|f| f.name)
}

/// The events.k8s.io/v1 name of a core/v1 top-level field, if it has one.
pub fn events_v1_name(core: &str) -> Option<&'static str> {
    gojson::EVENTS_V1_EVENT
        .fields
        .iter()
        .map(|f| f.name)
        .find(|v1| core_name(v1) == Some(core))
}

fn nonempty_reference(r: &ObjectReference) -> Option<ObjectReference> {
    (*r != ObjectReference::default()).then(|| r.clone())
}

/// `Convert_core_Event_To_v1_Event`.
pub fn to_events_v1(e: &Event) -> events_v1::Event {
    events_v1::Event {
        metadata: e.metadata.clone(),
        event_time: e.event_time.clone(),
        series: e.series.as_ref().map(|s| events_v1::EventSeries {
            count: s.count.unwrap_or(0),
            last_observed_time: s
                .last_observed_time
                .clone()
                .unwrap_or_else(|| MicroTime(gojson::go_zero())),
        }),
        reporting_controller: e.reporting_component.clone(),
        reporting_instance: e.reporting_instance.clone(),
        action: e.action.clone(),
        reason: e.reason.clone(),
        regarding: nonempty_reference(&e.involved_object),
        related: e.related.clone(),
        note: e.message.clone(),
        type_: e.type_.clone(),
        deprecated_source: e.source.clone(),
        deprecated_first_timestamp: e.first_timestamp.clone(),
        deprecated_last_timestamp: e.last_timestamp.clone(),
        deprecated_count: e.count,
    }
}

/// `Convert_v1_Event_To_core_Event`.
pub fn from_events_v1(e: events_v1::Event) -> Event {
    Event {
        metadata: e.metadata,
        involved_object: e.regarding.unwrap_or_default(),
        reason: e.reason,
        message: e.note,
        source: e.deprecated_source,
        first_timestamp: e.deprecated_first_timestamp,
        last_timestamp: e.deprecated_last_timestamp,
        count: e.deprecated_count,
        type_: e.type_,
        event_time: e.event_time,
        series: e.series.map(|s| EventSeries {
            count: (s.count != 0).then_some(s.count),
            last_observed_time: (!gojson::is_go_zero(s.last_observed_time.0))
                .then_some(s.last_observed_time),
        }),
        action: e.action,
        related: e.related,
        reporting_component: e.reporting_controller,
        reporting_instance: e.reporting_instance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::EventSource;

    fn micro(s: &str) -> MicroTime {
        MicroTime(s.parse().unwrap())
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_string())
    }

    #[test]
    fn every_field_moves_to_its_counterpart_and_back() {
        let core = Event {
            involved_object: ObjectReference {
                kind: some("Pod"),
                name: some("p"),
                ..Default::default()
            },
            reason: some("R"),
            message: some("m"),
            source: Some(EventSource {
                component: some("kubelet"),
                host: None,
            }),
            count: Some(3),
            type_: some("Normal"),
            event_time: Some(micro("2024-01-01T00:00:00.000001Z")),
            series: Some(EventSeries {
                count: Some(2),
                last_observed_time: Some(micro("2024-01-01T00:00:01Z")),
            }),
            action: some("A"),
            related: Some(ObjectReference::default()),
            reporting_component: some("ctrl"),
            reporting_instance: some("ctrl-1"),
            ..Default::default()
        };
        let v1 = to_events_v1(&core);
        assert_eq!(
            v1.regarding.as_ref().and_then(|r| r.name.as_deref()),
            Some("p")
        );
        assert_eq!(v1.note.as_deref(), Some("m"));
        assert_eq!(v1.reporting_controller.as_deref(), Some("ctrl"));
        assert_eq!(v1.deprecated_count, Some(3));
        assert_eq!(v1.series.as_ref().map(|s| s.count), Some(2));
        assert_eq!(from_events_v1(v1), core);
    }

    #[test]
    fn zero_values_stay_zero() {
        let v1 = to_events_v1(&Event::default());
        assert!(v1.regarding.is_none() && v1.deprecated_source.is_none());
        assert_eq!(from_events_v1(v1), Event::default());
        // A series without a time keeps Go's zero time, which converts back to none.
        let core = Event {
            series: Some(EventSeries::default()),
            ..Default::default()
        };
        let v1 = to_events_v1(&core);
        assert!(v1
            .series
            .as_ref()
            .is_some_and(|s| gojson::is_go_zero(s.last_observed_time.0)));
        assert_eq!(from_events_v1(v1), core);
    }

    #[test]
    fn field_names_map_both_ways() {
        assert_eq!(core_name("regarding"), Some("involvedObject"));
        assert_eq!(
            events_v1_name("reportingComponent"),
            Some("reportingController")
        );
        assert_eq!(core_name("message"), None);
        assert_eq!(core_name("series"), Some("series"));
        assert_eq!(core_name("metadata"), None);
        assert_eq!(events_v1_name("note"), None);
    }
}
