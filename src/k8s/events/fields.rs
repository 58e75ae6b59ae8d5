//! The Event vocabulary both APIs share: versions, field labels, validation limits.

/// `apiVersion` of events.k8s.io/v1 objects.
pub const EVENTS_V1_API_VERSION: &str = "events.k8s.io/v1";

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
pub(super) const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
pub(super) const ACTION_LENGTH_LIMIT: usize = 128;
pub(super) const REASON_LENGTH_LIMIT: usize = 128;
pub(super) const NOTE_LENGTH_LIMIT: usize = 1024;
pub(super) const TOTAL_ANNOTATION_SIZE_LIMIT_B: usize = 256 * (1 << 10);
pub(super) const MAX_GENERATED_NAME_LENGTH: usize = 63 - 5;
