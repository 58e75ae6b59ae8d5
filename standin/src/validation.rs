//! Event validation as kube-apiserver's event strategy runs it, written from
//! `pkg/apis/core/validation/events.go` (`ValidateEventCreate`, `ValidateEventUpdate`,
//! `legacyValidateEvent`, `validateV1EventSeries`), apimachinery's `ValidateObjectMeta`, name,
//! label and qualified-name rules (`pkg/util/validation`) and `field.Error` wording.
//!
//! - core/v1 (standard paths): the legacy checks on every create and update — an event without
//!   `eventTime` must name its own namespace in `involvedObject.namespace` (or leave it empty in
//!   `default`); one with `eventTime` needs `reportingComponent`, `reportingInstance`, `action`
//!   and `reason`, within their lengths.
//! - events.k8s.io/v1: the legacy checks plus the strict ones (`ObjectMeta` with DNS-subdomain
//!   names, labels and annotations; `eventTime` required; `type` Normal or Warning; deprecated
//!   fields unset; a valid `series`), and on update the immutable fields.
//! - The Activity group: no event rules (the Activity server has none); names only.
//!
//! Causes use the internal (core) field names, as kube-apiserver reports them.

use k8s_openapi::api::core::v1::{EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

use crate::gojson::{self, quote};
use crate::model::{self, Event};
use crate::status::Cause;

const REPORTING_INSTANCE_LENGTH_LIMIT: usize = 128;
const ACTION_LENGTH_LIMIT: usize = 128;
const REASON_LENGTH_LIMIT: usize = 128;
const NOTE_LENGTH_LIMIT: usize = 1024;
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which rules apply: the API the write came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// The Activity group: no event-specific rules.
    Activity,
    /// core/v1: `legacyValidateEvent` only (request version `v1`).
    Core,
    /// events.k8s.io/v1: legacy and strict rules.
    EventsV1,
}

/// `ValidateEventCreate` (empty for the Activity group).
pub fn create(e: &Event, rules: Rules) -> Vec<Cause> {
    let mut causes = Vec::new();
    if rules == Rules::Activity {
        return causes;
    }
    legacy(e, rules, &mut causes);
    if rules == Rules::Core {
        return causes;
    }
    object_meta(&e.metadata, &mut causes);
    series(e, &mut causes);
    if e.event_time.is_none() {
        causes.push(Cause::required("eventTime", ""));
    }
    let ty = e.type_.as_deref().unwrap_or("");
    if ty != "Normal" && ty != "Warning" {
        causes.push(Cause::invalid(
            "type",
            "\"\"",
            &format!("has invalid value: {ty}"),
        ));
    }
    let unset = [
        ("firstTimestamp", e.first_timestamp.is_some()),
        ("lastTimestamp", e.last_timestamp.is_some()),
        ("count", e.count.is_some()),
        (
            "source",
            e.source
                .as_ref()
                .is_some_and(|s| s.component.is_some() || s.host.is_some()),
        ),
    ];
    for (field, set) in unset {
        if set {
            causes.push(Cause::invalid(field, "\"\"", "needs to be unset"));
        }
    }
    causes
}

/// `ValidateEventUpdate`: legacy checks on the new object, and for events.k8s.io/v1 a valid
/// changed `series` and the immutable fields, in kube-apiserver's order (`reason` is compared
/// twice there, so a changed reason is reported twice; the Status message shows it once).
pub fn update(new: &Event, old: &Event, rules: Rules) -> Vec<Cause> {
    let mut causes = Vec::new();
    if rules == Rules::Activity {
        return causes;
    }
    legacy(new, rules, &mut causes);
    if rules == Rules::Core {
        return causes;
    }
    if new.series != old.series {
        series(new, &mut causes);
    }
    let s = |v: &Option<String>| quote(v.as_deref().unwrap_or(""));
    let reason = ("reason", s(&new.reason) != s(&old.reason), s(&new.reason));
    let immutable = [
        (
            "involvedObject",
            new.involved_object != old.involved_object,
            print_reference(Some(&new.involved_object)),
        ),
        reason.clone(),
        (
            "message",
            s(&new.message) != s(&old.message),
            s(&new.message),
        ),
        (
            "source",
            source_of(new) != source_of(old),
            print_source(new.source.as_ref()),
        ),
        (
            "firstTimestamp",
            new.first_timestamp != old.first_timestamp,
            print_time(new.first_timestamp.as_ref().map(|t| t.0)),
        ),
        (
            "lastTimestamp",
            new.last_timestamp != old.last_timestamp,
            print_time(new.last_timestamp.as_ref().map(|t| t.0)),
        ),
        (
            "count",
            new.count.unwrap_or(0) != old.count.unwrap_or(0),
            new.count.unwrap_or(0).to_string(),
        ),
        reason,
        ("type", s(&new.type_) != s(&old.type_), s(&new.type_)),
        (
            "eventTime",
            new.event_time != old.event_time,
            print_micro_time(new.event_time.as_ref()),
        ),
        ("action", s(&new.action) != s(&old.action), s(&new.action)),
        (
            "related",
            new.related != old.related,
            print_reference(new.related.as_ref()),
        ),
        (
            "reportingController",
            s(&new.reporting_component) != s(&old.reporting_component),
            s(&new.reporting_component),
        ),
        (
            "reportingInstance",
            s(&new.reporting_instance) != s(&old.reporting_instance),
            s(&new.reporting_instance),
        ),
    ];
    for (field, changed, printed) in immutable {
        if changed {
            causes.push(Cause::invalid(field, &printed, "field is immutable"));
        }
    }
    causes
}

/// The `EventSource` value of the internal type: absent and empty compare equal.
fn source_of(e: &Event) -> (&str, &str) {
    let s = e.source.as_ref();
    (
        s.and_then(|s| s.component.as_deref()).unwrap_or(""),
        s.and_then(|s| s.host.as_deref()).unwrap_or(""),
    )
}

fn len(s: &Option<String>) -> usize {
    s.as_deref().map_or(0, str::len)
}

/// `legacyValidateEvent`.
fn legacy(e: &Event, rules: Rules, causes: &mut Vec<Cause>) {
    let reporting = match rules {
        Rules::Core => "reportingComponent",
        _ => "reportingController",
    };
    let ns = model::namespace(e);
    let io_ns = e.involved_object.namespace.as_deref().unwrap_or("");
    let mismatch = || {
        Cause::invalid(
            "involvedObject.namespace",
            &quote(io_ns),
            "does not match event.namespace",
        )
    };
    if e.event_time.is_none() {
        let ok = if io_ns.is_empty() {
            ns.is_empty() || ns == "default"
        } else {
            ns == io_ns
        };
        if !ok {
            causes.push(mismatch());
        }
    } else {
        if io_ns.is_empty() && ns != "default" && ns != "kube-system" {
            causes.push(mismatch());
        }
        let controller = e.reporting_component.as_deref().unwrap_or("");
        if controller.is_empty() {
            causes.push(Cause::required(reporting, ""));
        }
        for msg in qualified_name(controller) {
            causes.push(Cause::invalid(reporting, &quote(controller), &msg));
        }
        let too_long = |n: usize| format!("can have at most {n} characters");
        if len(&e.reporting_instance) == 0 {
            causes.push(Cause::required("reportingInstance", ""));
        }
        if len(&e.reporting_instance) > REPORTING_INSTANCE_LENGTH_LIMIT {
            causes.push(Cause::invalid(
                "reportingInstance",
                "\"\"",
                &too_long(REPORTING_INSTANCE_LENGTH_LIMIT),
            ));
        }
        if len(&e.action) == 0 {
            causes.push(Cause::required("action", ""));
        }
        if len(&e.action) > ACTION_LENGTH_LIMIT {
            causes.push(Cause::invalid(
                "action",
                "\"\"",
                &too_long(ACTION_LENGTH_LIMIT),
            ));
        }
        if len(&e.reason) == 0 {
            causes.push(Cause::required("reason", ""));
        }
        if len(&e.reason) > REASON_LENGTH_LIMIT {
            causes.push(Cause::invalid(
                "reason",
                "\"\"",
                &too_long(REASON_LENGTH_LIMIT),
            ));
        }
        if len(&e.message) > NOTE_LENGTH_LIMIT {
            causes.push(Cause::invalid(
                "message",
                "\"\"",
                &too_long(NOTE_LENGTH_LIMIT),
            ));
        }
    }
    for msg in dns1123_subdomain(ns) {
        causes.push(Cause::invalid("namespace", &quote(ns), &msg));
    }
}

/// `validateV1EventSeries`.
fn series(e: &Event, causes: &mut Vec<Cause>) {
    if let Some(s) = &e.series {
        if s.count.unwrap_or(0) < 2 {
            causes.push(Cause::invalid(
                "series.count",
                "\"\"",
                "should be at least 2",
            ));
        }
        if s.last_observed_time.is_none() {
            causes.push(Cause::required("series.lastObservedTime", ""));
        }
    }
}

/// `ValidateObjectMeta(meta, true, NameIsDNSSubdomain, "metadata")`, without the owner
/// reference, finalizer and managedFields checks.
fn object_meta(m: &ObjectMeta, causes: &mut Vec<Cause>) {
    let generate = m.generate_name.as_deref().unwrap_or("");
    if !generate.is_empty() {
        // A prefix may end in '-': the generated suffix follows it.
        let masked = match generate.strip_suffix('-') {
            Some(head) => format!("{head}a"),
            None => generate.to_string(),
        };
        for msg in dns1123_subdomain(&masked) {
            causes.push(Cause::invalid(
                "metadata.generateName",
                &quote(generate),
                &msg,
            ));
        }
    }
    let name = m.name.as_deref().unwrap_or("");
    if name.is_empty() {
        causes.push(Cause::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in dns1123_subdomain(name) {
            causes.push(Cause::invalid("metadata.name", &quote(name), &msg));
        }
    }
    let ns = m.namespace.as_deref().unwrap_or("");
    if ns.is_empty() {
        causes.push(Cause::required("metadata.namespace", ""));
    } else {
        for msg in dns1123_label(ns) {
            causes.push(Cause::invalid("metadata.namespace", &quote(ns), &msg));
        }
    }
    for (k, v) in m.labels.iter().flatten() {
        for msg in qualified_name(k) {
            causes.push(Cause::invalid("metadata.labels", &quote(k), &msg));
        }
        for msg in label_value(v) {
            causes.push(Cause::invalid("metadata.labels", &quote(v), &msg));
        }
    }
    let mut total = 0;
    for (k, v) in m.annotations.iter().flatten() {
        for msg in qualified_name(&k.to_lowercase()) {
            causes.push(Cause::invalid("metadata.annotations", &quote(k), &msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        causes.push(Cause {
            reason: "FieldValueTooLong",
            message: format!("Too long: may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes"),
            field: "metadata.annotations".into(),
        });
    }
}

/// The common name rule every create gets after the strategy's (`ValidatePathSegmentName`):
/// kube-apiserver serves core/v1 events with names that are not DNS subdomains.
pub fn path_segment_name(name: &str) -> Option<Cause> {
    let why = match name {
        "." => "may not be '.'",
        ".." => "may not be '..'",
        n if n.contains('/') => "may not contain '/'",
        n if n.contains('%') => "may not contain '%'",
        _ => return None,
    };
    Some(Cause::invalid("metadata.name", &quote(name), why))
}

/// The Activity group's name rule: a DNS subdomain, like most API servers' resources.
pub fn subdomain_name(name: &str) -> Option<Cause> {
    dns1123_subdomain(name)
        .into_iter()
        .next()
        .map(|msg| Cause::invalid("metadata.name", &quote(name), &msg))
}

// ---- apimachinery's pkg/util/validation ----------------------------------------------------

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `RegexError`: the message, the examples and the regular expression.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let shown: String = examples
        .iter()
        .map(|e| format!("'{e}', "))
        .collect::<Vec<_>>()
        .join("or ");
    match examples {
        [] => format!("{msg} (regex used for validation is '{fmt}')"),
        _ => format!("{msg} (e.g. {shown}regex used for validation is '{fmt}')"),
    }
}

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(inner)
        && b.last().is_some_and(inner)
        && b.iter().all(|c| inner(c) || *c == b'-')
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_qualified(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !is_label(s) {
        errs.push(regex_error(
            DNS1123_LABEL_MSG,
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len(253));
    }
    if !s.split('.').all(is_label) {
        let fmt = format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*");
        errs.push(regex_error(DNS1123_SUBDOMAIN_MSG, &fmt, &["example.com"]));
    }
    errs
}

/// `IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name of at most 63.
fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let examples = ["MyName", "my.name", "123-abc"];
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &examples)
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len(63)));
    }
    if !is_qualified(name) {
        errs.push(format!(
            "name part {}",
            regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &examples)
        ));
    }
    errs
}

fn label_value(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push(max_len(63));
    }
    if !v.is_empty() && !is_qualified(v) {
        errs.push(regex_error(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

// ---- how field.Invalid prints bad values ---------------------------------------------------

/// An `ObjectReference` as Go's `%#v` prints it; a nil pointer as `"null"`.
fn print_reference(r: Option<&ObjectReference>) -> String {
    let Some(r) = r else {
        return quote("null");
    };
    let q = |v: &Option<String>| quote(v.as_deref().unwrap_or(""));
    format!(
        "core.ObjectReference{{Kind:{}, Namespace:{}, Name:{}, UID:{}, APIVersion:{}, ResourceVersion:{}, FieldPath:{}}}",
        q(&r.kind),
        q(&r.namespace),
        q(&r.name),
        q(&r.uid),
        q(&r.api_version),
        q(&r.resource_version),
        q(&r.field_path)
    )
}

/// An `EventSource` (a struct value in the internal type) as Go's `%#v` prints it.
fn print_source(s: Option<&EventSource>) -> String {
    let q = |v: Option<&String>| quote(v.map_or("", String::as_str));
    format!(
        "core.EventSource{{Component:{}, Host:{}}}",
        q(s.and_then(|s| s.component.as_ref())),
        q(s.and_then(|s| s.host.as_ref()))
    )
}

/// A `MicroTime` through Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn print_micro_time(t: Option<&MicroTime>) -> String {
    print_time(t.map(|t| t.0))
}

/// A `metav1.Time` or `MicroTime` through Go's `time.Time.String()` (zero when unset).
fn print_time(t: Option<jiff::Timestamp>) -> String {
    let t = t.unwrap_or_else(gojson::go_zero);
    let whole = jiff::fmt::strtime::format("%Y-%m-%d %H:%M:%S", t).unwrap_or_default();
    let frac = format!("{:09}", t.subsec_nanosecond());
    match frac.trim_end_matches('0') {
        "" => format!("{whole} +0000 UTC"),
        f => format!("{whole}.{f} +0000 UTC"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repr::Repr;
    use serde_json::{json, Value};

    fn ev(v: Value) -> Event {
        Repr::Stored
            .decode(v.as_object().cloned().unwrap_or_default())
            .unwrap()
            .event
    }

    fn fields(c: &[Cause]) -> Vec<&str> {
        c.iter().map(|c| c.field.as_str()).collect()
    }

    fn new_style() -> Value {
        json!({
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
            "reason": "Started", "type": "Normal", "message": "m",
            "eventTime": "2024-06-01T12:00:00.123456Z",
            "action": "Start", "reportingComponent": "ctrl", "reportingInstance": "ctrl-1"
        })
    }

    #[test]
    fn core_legacy_rules() {
        let legacy = json!({
            "metadata": {"name": "e", "namespace": "a"},
            "involvedObject": {"kind": "Pod", "namespace": "b"}
        });
        let c = create(&ev(legacy), Rules::Core);
        assert_eq!(fields(&c), vec!["involvedObject.namespace"]);
        assert_eq!(
            c[0].message,
            "Invalid value: \"b\": does not match event.namespace"
        );
        let in_default = json!({"metadata": {"name": "e", "namespace": "default"}});
        assert!(create(&ev(in_default), Rules::Core).is_empty());
        // eventTime set: the reporting fields are required, under core's field name.
        let c = create(
            &ev(json!({"metadata": {"name": "e", "namespace": "default"},
                       "involvedObject": {"namespace": "default"},
                       "eventTime": "2024-06-01T12:00:00.000000Z"})),
            Rules::Core,
        );
        assert_eq!(
            fields(&c),
            vec![
                "reportingComponent",
                "reportingComponent",
                "reportingComponent",
                "reportingInstance",
                "action",
                "reason"
            ]
        );
        assert_eq!(
            c[1].message,
            "Invalid value: \"\": name part must be non-empty"
        );
        assert!(create(&ev(new_style()), Rules::Core).is_empty());
        assert!(create(
            &ev(json!({"metadata": {"namespace": "x"}, "involvedObject": {"namespace": "y"}})),
            Rules::Activity
        )
        .is_empty());
    }

    #[test]
    fn events_v1_strict_rules() {
        assert!(create(&ev(new_style()), Rules::EventsV1).is_empty());
        let mut bad = new_style();
        bad["eventTime"] = Value::Null;
        bad["type"] = json!("Odd");
        bad["count"] = json!(2);
        bad["metadata"]["labels"] = json!({"ok": "bad value!"});
        let c = create(&ev(bad), Rules::EventsV1);
        assert_eq!(
            fields(&c),
            vec!["metadata.labels", "eventTime", "type", "count"]
        );
        assert_eq!(c[2].message, "Invalid value: \"\": has invalid value: Odd");
        assert_eq!(
            c[0].message,
            "Invalid value: \"bad value!\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let mut named = new_style();
        named["metadata"]["name"] = json!("Bad_Name");
        let c = create(&ev(named), Rules::EventsV1);
        assert_eq!(
            c[0].message,
            "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
    }

    #[test]
    fn events_v1_immutable_fields_in_order() {
        let old = ev(new_style());
        let mut changed = new_style();
        changed["reason"] = json!("Other");
        changed["involvedObject"]["name"] = json!("q");
        changed["eventTime"] = json!("2024-06-01T12:00:01.000000Z");
        changed["related"] = json!({"kind": "Node", "name": "n"});
        changed["message"] = json!("notes are immutable too");
        let c = update(&ev(changed), &old, Rules::EventsV1);
        assert_eq!(
            fields(&c),
            vec![
                "involvedObject",
                "reason",
                "message",
                "reason",
                "eventTime",
                "related"
            ]
        );
        assert_eq!(
            c[0].message,
            "Invalid value: core.ObjectReference{Kind:\"Pod\", Namespace:\"default\", Name:\"q\", UID:\"\", APIVersion:\"\", ResourceVersion:\"\", FieldPath:\"\"}: field is immutable"
        );
        assert_eq!(
            c[2].message,
            "Invalid value: \"notes are immutable too\": field is immutable"
        );
        assert_eq!(
            c[4].message,
            "Invalid value: 2024-06-01 12:00:01 +0000 UTC: field is immutable"
        );
        let mut no_related = new_style();
        no_related["related"] = json!({"kind": "Node"});
        let c = update(&old, &ev(no_related), Rules::EventsV1);
        assert_eq!(c[0].message, "Invalid value: \"null\": field is immutable");
        assert!(update(&old, &old, Rules::EventsV1).is_empty());
        // Core/v1 updates get the legacy rules only: anything may change.
        let mut core = new_style();
        core["message"] = json!("changed");
        core["reason"] = json!("Changed");
        assert!(update(&ev(core), &old, Rules::Core).is_empty());
    }

    #[test]
    fn events_v1_deprecated_fields_are_immutable() {
        let legacy = json!({
            "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
            "reason": "Started", "message": "m", "count": 1,
            "source": {"component": "kubelet"},
            "firstTimestamp": "2024-06-01T12:00:00Z", "lastTimestamp": "2024-06-01T12:00:00Z"
        });
        let old = ev(legacy.clone());
        let mut changed = legacy.clone();
        changed["count"] = json!(4);
        changed["source"] = json!({"component": "kubelet", "host": "n1"});
        changed["lastTimestamp"] = json!("2024-06-01T12:00:05Z");
        changed["firstTimestamp"] = Value::Null;
        let c = update(&ev(changed), &old, Rules::EventsV1);
        assert_eq!(
            fields(&c),
            vec!["source", "firstTimestamp", "lastTimestamp", "count"]
        );
        assert_eq!(
            c[0].message,
            "Invalid value: core.EventSource{Component:\"kubelet\", Host:\"n1\"}: field is immutable"
        );
        assert_eq!(
            c[1].message,
            "Invalid value: 0001-01-01 00:00:00 +0000 UTC: field is immutable"
        );
        assert_eq!(
            c[2].message,
            "Invalid value: 2024-06-01 12:00:05 +0000 UTC: field is immutable"
        );
        assert_eq!(c[3].message, "Invalid value: 4: field is immutable");
        // An empty source is the zero struct, like none at all; a legacy event stays updatable.
        let mut same = legacy;
        same["source"] = json!({"component": "kubelet", "host": ""});
        same["metadata"]["labels"] = json!({"a": "b"});
        assert!(update(&ev(same), &old, Rules::EventsV1).is_empty());
    }

    #[test]
    fn a_changed_series_must_be_valid() {
        let old = ev(new_style());
        let mut s = new_style();
        s["series"] = json!({"count": 1});
        let c = update(&ev(s), &old, Rules::EventsV1);
        assert_eq!(fields(&c), vec!["series.count", "series.lastObservedTime"]);
        assert_eq!(c[1].reason, "FieldValueRequired");
    }

    #[test]
    fn name_rules() {
        assert!(path_segment_name("Web_0.abc").is_none());
        assert_eq!(
            path_segment_name("a/b").unwrap().message,
            "Invalid value: \"a/b\": may not contain '/'"
        );
        assert!(subdomain_name("ok.name").is_none());
        assert!(subdomain_name("Not_Valid").is_some());
        assert_eq!(
            qualified_name("a/b/c")[0],
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        );
        assert_eq!(qualified_name("/x"), vec!["prefix part must be non-empty"]);
        assert!(qualified_name("example.com/ctrl").is_empty());
        assert_eq!(print_micro_time(None), "0001-01-01 00:00:00 +0000 UTC");
    }
}
