//! Accessors and rules for stored core/v1-shaped Event objects (kept as JSON values).

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The field labels Kubernetes lets clients select core/v1 Events by: the filter crate's list,
/// which the events.k8s.io/v1 label translation maps onto.
pub const SELECTABLE_FIELDS: &[&str] =
    &activity_events_filter::k8s::events::CORE_EVENT_FIELD_LABELS;

fn str_at<'a>(obj: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

pub fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

pub fn namespace(obj: &Value) -> &str {
    str_at(obj, &["metadata", "namespace"])
}

pub fn uid(obj: &Value) -> &str {
    str_at(obj, &["metadata", "uid"])
}

pub fn resource_version(obj: &Value) -> &str {
    str_at(obj, &["metadata", "resourceVersion"])
}

pub fn annotation<'a>(obj: &'a Value, key: &str) -> &'a str {
    str_at(obj, &["metadata", "annotations", key])
}

pub fn labels(obj: &Value) -> Option<&serde_json::Map<String, Value>> {
    obj.get("metadata")?.get("labels")?.as_object()
}

/// The value a field selector compares; `None` for a label Kubernetes does not support.
pub fn selectable_field(obj: &Value, field: &str) -> Option<String> {
    let v = match field {
        "metadata.name" => name(obj),
        "metadata.namespace" => namespace(obj),
        "source" => str_at(obj, &["source", "component"]),
        "reason" | "reportingComponent" | "type" => str_at(obj, &[field]),
        _ => {
            let sub = field.strip_prefix("involvedObject.")?;
            if !SELECTABLE_FIELDS.contains(&field) {
                return None;
            }
            str_at(obj, &["involvedObject", sub])
        }
    };
    Some(v.to_string())
}

/// `metav1.Time` wire format (seconds precision, UTC).
pub fn now_rfc3339() -> String {
    format_time(OffsetDateTime::now_utc())
}

pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Parses a `metav1.Time`/`MicroTime` value; `None` for null, empty or malformed (Go's zero time).
pub fn parse_time(v: Option<&Value>) -> Option<OffsetDateTime> {
    let s = v?.as_str()?;
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    // Go's zero time (year 1) prints as <unknown> too.
    (t.year() > 1).then_some(t)
}

/// Kubernetes object names: a DNS subdomain (RFC 1123), at most 253 characters.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    let ok_label = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b.first().is_some_and(|c| c.is_ascii_alphanumeric())
            && b.last().is_some_and(|c| c.is_ascii_alphanumeric())
    };
    if name.split('.').all(ok_label) {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character"
                .into(),
        )
    }
}

/// `generateName` suffix: five characters from Kubernetes' alphabet (no vowels, no ambiguous digits).
pub fn generate_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let suffix: String = bytes
        .iter()
        .take(5)
        .map(|b| {
            let i = usize::from(*b) % ALPHABET.len();
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect();
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectable_fields_read_the_core_shape() {
        let e = json!({
            "metadata": {"name": "n", "namespace": "ns"},
            "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{a}"},
            "reason": "Started",
            "source": {"component": "kubelet", "host": "node1"},
            "type": "Normal"
        });
        assert_eq!(selectable_field(&e, "involvedObject.kind").unwrap(), "Pod");
        assert_eq!(
            selectable_field(&e, "involvedObject.fieldPath").unwrap(),
            "spec.containers{a}"
        );
        assert_eq!(selectable_field(&e, "involvedObject.uid").unwrap(), "");
        assert_eq!(selectable_field(&e, "source").unwrap(), "kubelet");
        assert_eq!(selectable_field(&e, "metadata.namespace").unwrap(), "ns");
        assert_eq!(selectable_field(&e, "reportingComponent").unwrap(), "");
        assert!(selectable_field(&e, "involvedObject.foo").is_none());
        assert!(selectable_field(&e, "message").is_none());
    }

    #[test]
    fn names_are_validated_and_generated() {
        assert!(validate_name("pod-a.17a8b9c0d1e2f3").is_ok());
        assert!(validate_name("Bad").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a..b").is_err());
        let g = generate_name("ev-");
        assert_eq!(g.len(), 8);
        assert!(validate_name(&g).is_ok());
    }

    #[test]
    fn times_parse_and_zero_is_none() {
        assert!(parse_time(Some(&json!("2024-01-02T03:04:05Z"))).is_some());
        assert!(parse_time(Some(&json!("2024-01-02T03:04:05.123456Z"))).is_some());
        assert!(parse_time(Some(&json!(null))).is_none());
        assert!(parse_time(Some(&json!("0001-01-01T00:00:00Z"))).is_none());
        assert!(parse_time(None).is_none());
        assert!(now_rfc3339().ends_with('Z'));
    }
}
