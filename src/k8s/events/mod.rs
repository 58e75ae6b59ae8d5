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

mod decode;
mod error;
mod fields;
mod meta;
mod object;
mod patch;
mod selector;
#[cfg(test)]
mod test_support;
mod validation;

pub use decode::*;
pub use error::*;
pub use fields::*;
pub use object::*;
pub use patch::*;
pub use selector::*;
pub use validation::*;
