//! What a `fieldSelector` can select Events by, as kube-apiserver's event storage defines it:
//! `ToSelectableFields` in `pkg/registry/core/event/strategy.go` (the values), the core/v1 field
//! label conversion `AddFieldLabelConversionsForEvent` in `pkg/apis/core/v1/conversion.go`, and
//! the events.k8s.io/v1 one in `pkg/apis/events/v1/conversion.go` (labels renamed onto core's).

use crate::gojson;
use crate::model::{self, Event};
use crate::repr::Repr;

/// The selectable fields besides `involvedObject.<any ObjectReference field>`.
const TOP_LEVEL: [&str; 6] = [
    "metadata.name",
    "metadata.namespace",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// A core/v1 label (`AddFieldLabelConversionsForEvent`: `involvedObject.` and each field of the
/// reference, and the top-level ones), which is also the selectable field's name.
fn core_label(label: &str) -> Option<String> {
    let known = match label.strip_prefix("involvedObject.") {
        Some(sub) => gojson::OBJECT_REFERENCE.field(sub).is_some(),
        None => TOP_LEVEL.contains(&label),
    };
    known.then(|| label.to_string())
}

/// The selectable field a label of the `repr` API names, or `None` (`field label not supported`).
/// events.k8s.io/v1 renames `involvedObject.*` to `regarding.*` and `reportingComponent` to
/// `reportingController`.
pub fn selectable(repr: Repr, label: &str) -> Option<String> {
    match repr {
        Repr::Stored => core_label(label),
        Repr::EventsV1 => match label {
            "reportingController" => core_label("reportingComponent"),
            "reportingComponent" => None,
            l if l.starts_with("involvedObject.") => None,
            l => match l.strip_prefix("regarding.") {
                Some(sub) => core_label(&format!("involvedObject.{sub}")),
                None => core_label(l),
            },
        },
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
        let sel = |r, l| selectable(r, l);
        let some = |l: &str| Some(l.to_string());
        assert_eq!(
            sel(Repr::Stored, "involvedObject.name"),
            some("involvedObject.name")
        );
        assert_eq!(
            sel(Repr::Stored, "involvedObject.fieldPath"),
            some("involvedObject.fieldPath")
        );
        assert_eq!(sel(Repr::Stored, "regarding.name"), None);
        assert_eq!(sel(Repr::Stored, "message"), None);
        assert_eq!(
            sel(Repr::EventsV1, "regarding.fieldPath"),
            some("involvedObject.fieldPath")
        );
        assert_eq!(
            sel(Repr::EventsV1, "reportingController"),
            some("reportingComponent")
        );
        assert_eq!(sel(Repr::EventsV1, "involvedObject.name"), None);
        assert_eq!(sel(Repr::EventsV1, "reportingComponent"), None);
        assert_eq!(sel(Repr::EventsV1, "regarding.foo"), None);
        assert_eq!(sel(Repr::EventsV1, "source"), some("source"));
        assert_eq!(sel(Repr::EventsV1, "note"), None);
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
