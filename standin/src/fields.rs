//! What a `fieldSelector` can select Events by, as kube-apiserver's event storage defines it:
//! `ToSelectableFields` in `pkg/registry/core/event/strategy.go` (the values), the core/v1 field
//! label conversion `AddFieldLabelConversionsForEvent` in `pkg/apis/core/v1/conversion.go`, and
//! the events.k8s.io/v1 one in `pkg/apis/events/v1/conversion.go` (labels renamed onto core's).

use crate::model::{self, Event};
use crate::repr::Repr;

/// The labels core/v1 accepts, which are also the names of the selectable fields.
pub const CORE_LABELS: [&str; 13] = [
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

/// The selectable field an events.k8s.io/v1 label stands for.
fn events_v1_label(label: &str) -> Option<&'static str> {
    let core = match label {
        "reportingController" => "reportingComponent",
        "reportingComponent" => return None,
        other => match other.strip_prefix("regarding.") {
            Some(sub) => {
                return CORE_LABELS
                    .iter()
                    .copied()
                    .find(|l| l.strip_prefix("involvedObject.") == Some(sub))
            }
            None if other.starts_with("involvedObject.") => return None,
            None => other,
        },
    };
    CORE_LABELS.iter().copied().find(|l| *l == core)
}

/// The selectable field a label of the `repr` API names, or `None` (`field label not supported`).
pub fn selectable(repr: Repr, label: &str) -> Option<&'static str> {
    match repr {
        Repr::Stored => CORE_LABELS.iter().copied().find(|l| *l == label),
        Repr::EventsV1 => events_v1_label(label),
    }
}

/// The value of one selectable field (`ToSelectableFields`): `source` is `source.component`, or
/// the reporting controller when that is empty.
pub fn value<'a>(e: &'a Event, field: &str) -> &'a str {
    let s = |v: &'a Option<String>| v.as_deref().unwrap_or("");
    let io = &e.involved_object;
    match field {
        "metadata.name" => model::name(e),
        "metadata.namespace" => model::namespace(e),
        "involvedObject.kind" => s(&io.kind),
        "involvedObject.namespace" => s(&io.namespace),
        "involvedObject.name" => s(&io.name),
        "involvedObject.uid" => s(&io.uid),
        "involvedObject.apiVersion" => s(&io.api_version),
        "involvedObject.resourceVersion" => s(&io.resource_version),
        "involvedObject.fieldPath" => s(&io.field_path),
        "reason" => s(&e.reason),
        "reportingComponent" => s(&e.reporting_component),
        "type" => s(&e.type_),
        "source" => match e.source.as_ref().and_then(|src| src.component.as_deref()) {
            Some(c) if !c.is_empty() => c,
            _ => s(&e.reporting_component),
        },
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EventSource, ObjectReference};

    #[test]
    fn labels_per_api() {
        assert_eq!(
            selectable(Repr::Stored, "involvedObject.name"),
            Some("involvedObject.name")
        );
        assert_eq!(selectable(Repr::Stored, "regarding.name"), None);
        assert_eq!(selectable(Repr::Stored, "message"), None);
        assert_eq!(
            selectable(Repr::EventsV1, "regarding.fieldPath"),
            Some("involvedObject.fieldPath")
        );
        assert_eq!(
            selectable(Repr::EventsV1, "reportingController"),
            Some("reportingComponent")
        );
        assert_eq!(selectable(Repr::EventsV1, "involvedObject.name"), None);
        assert_eq!(selectable(Repr::EventsV1, "reportingComponent"), None);
        assert_eq!(selectable(Repr::EventsV1, "regarding.foo"), None);
        assert_eq!(selectable(Repr::EventsV1, "source"), Some("source"));
        assert_eq!(selectable(Repr::EventsV1, "note"), None);
    }

    #[test]
    fn source_falls_back_to_the_reporting_controller() {
        let mut e = Event {
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                ..Default::default()
            },
            reporting_component: Some("example.com/ctrl".into()),
            ..Default::default()
        };
        assert_eq!(value(&e, "source"), "example.com/ctrl");
        assert_eq!(value(&e, "involvedObject.kind"), "Pod");
        assert_eq!(value(&e, "involvedObject.uid"), "");
        e.source = Some(EventSource {
            component: Some("kubelet".into()),
            host: None,
        });
        assert_eq!(value(&e, "source"), "kubelet");
        assert_eq!(value(&e, "reportingComponent"), "example.com/ctrl");
    }
}
