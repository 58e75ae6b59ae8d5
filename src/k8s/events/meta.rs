//! `ValidateObjectMeta` for a created Event.

use serde_json::{Map, Value};

use super::fields::*;
use crate::k8s::names::*;
use crate::k8s::status::Cause;

/// The field errors of one object, in the order kube-apiserver reports them.
#[derive(Default)]
pub(super) struct Errs(pub(super) Vec<Cause>);

impl Errs {
    pub(super) fn required(&mut self, field: &str, detail: &str) {
        self.0.push(Cause::required(field, detail));
    }

    pub(super) fn invalid(&mut self, field: &str, value: &str, detail: &str) {
        self.0.push(Cause::invalid(field, value, detail));
    }

    pub(super) fn invalid_int(&mut self, field: &str, value: i64, detail: &str) {
        self.0.push(Cause::invalid_int(field, value, detail));
    }

    pub(super) fn too_long(&mut self, field: &str, max: usize) {
        self.0.push(Cause::too_long(field, max));
    }
}

pub(super) fn str_of(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

/// A `metav1.Time`/`MicroTime` is zero when absent or `null`.
pub(super) fn time_is_set(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null))
}

pub(super) fn validate_object_meta(meta: Option<&Map<String, Value>>, e: &mut Errs) {
    let get = |k: &str| str_of(meta.and_then(|m| m.get(k)));
    let generate_name = get("generateName");
    let name = get("name");
    if !generate_name.is_empty() {
        for msg in dns1123_subdomain_errors(&mask_trailing_dash(generate_name), LenUnit::Characters)
        {
            e.invalid("metadata.generateName", generate_name, &msg);
        }
    }
    if name.is_empty() && generate_name.is_empty() {
        e.required("metadata.name", "name or generateName is required");
    } else if name.is_empty() {
        // names.SimpleNameGenerator: the base cut to 58 bytes plus 5 random [b-z2-9] characters.
        let base = generate_name.as_bytes();
        let mut generated = base
            .get(..MAX_GENERATED_NAME_LENGTH)
            .unwrap_or(base)
            .to_vec();
        generated.extend_from_slice(b"bcdfg");
        for msg in dns1123_subdomain_errors(&generated, LenUnit::Characters) {
            e.invalid("metadata.name", &String::from_utf8_lossy(&generated), &msg);
        }
    } else {
        for msg in dns1123_subdomain_errors(name.as_bytes(), LenUnit::Characters) {
            e.invalid("metadata.name", name, &msg);
        }
    }
    let namespace = get("namespace");
    if namespace.is_empty() {
        e.required("metadata.namespace", "");
    } else {
        for msg in dns1123_label_errors(namespace.as_bytes()) {
            e.invalid("metadata.namespace", namespace, &msg);
        }
    }
    if let Some(g) = meta
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
    {
        if g < 0 {
            e.invalid_int(
                "metadata.generation",
                g,
                "must be greater than or equal to 0",
            );
        }
    }
    if let Some(labels) = meta
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
    {
        for (k, v) in labels {
            for msg in qualified_name_errors(k) {
                e.invalid("metadata.labels", k, &msg);
            }
            let v = v.as_str().unwrap_or("");
            for msg in label_value_errors(v) {
                e.invalid("metadata.labels", v, &msg);
            }
        }
    }
    if let Some(annotations) = meta
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
    {
        let mut total = 0usize;
        for (k, v) in annotations {
            for msg in qualified_name_errors(&go_lower_for_name_check(k)) {
                e.invalid("metadata.annotations", k, &msg);
            }
            total = total
                .saturating_add(k.len())
                .saturating_add(v.as_str().map_or(0, str::len));
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT_B {
            e.too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT_B);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::events::test_support::*;
    use serde_json::json;

    #[test]
    fn cause_metadata_name_required_and_invalid() {
        let c = causes_after(|o| {
            o.get_mut("metadata")
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("name");
        });
        assert_eq!(
            c,
            one(
                "metadata.name",
                "FieldValueRequired",
                "Required value: name or generateName is required"
            )
        );
        let c = causes_after(|o| set(o, &["metadata", "name"], json!("Web_0")));
        assert_eq!(
            c,
            one(
                "metadata.name",
                "FieldValueInvalid",
                &format!("Invalid value: \"Web_0\": {DNS_SUBDOMAIN_MSG}")
            )
        );
        let long = "a".repeat(254);
        let c = causes_after(|o| set(o, &["metadata", "name"], json!(long)));
        assert_eq!(
            c,
            one(
                "metadata.name",
                "FieldValueInvalid",
                &format!("Invalid value: \"{long}\": must be no more than 253 characters")
            )
        );
    }

    #[test]
    fn cause_metadata_generate_name() {
        // A generated name is valid when the prefix is (trailing dash allowed).
        let c = causes_after(|o| {
            let m = o.get_mut("metadata").unwrap().as_object_mut().unwrap();
            m.remove("name");
            m.insert("generateName".into(), json!("web-"));
        });
        assert!(c.is_empty(), "{c:?}");
        let c = causes_after(|o| {
            let m = o.get_mut("metadata").unwrap().as_object_mut().unwrap();
            m.remove("name");
            m.insert("generateName".into(), json!("Web-"));
        });
        assert_eq!(
            c,
            vec![
                (
                    "metadata.generateName".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"Web-\": {DNS_SUBDOMAIN_MSG}")
                ),
                (
                    "metadata.name".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"Web-bcdfg\": {DNS_SUBDOMAIN_MSG}")
                ),
            ]
        );
    }

    #[test]
    fn cause_metadata_namespace_required_and_dns_label() {
        let c = causes_after(|o| {
            o.get_mut("metadata")
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("namespace");
            o.remove("regarding");
        });
        assert_eq!(
            c,
            vec![
                (
                    "involvedObject.namespace".into(),
                    "FieldValueInvalid".into(),
                    "Invalid value: \"\": does not match event.namespace".into()
                ),
                (
                    "namespace".into(),
                    "FieldValueInvalid".into(),
                    format!("Invalid value: \"\": {DNS_SUBDOMAIN_MSG}")
                ),
                (
                    "metadata.namespace".into(),
                    "FieldValueRequired".into(),
                    "Required value".into()
                ),
            ]
        );
        let c = causes_after(|o| {
            set(o, &["metadata", "namespace"], json!("a.b"));
            set(o, &["regarding", "namespace"], json!("a.b"));
        });
        assert_eq!(
            c,
            one(
                "metadata.namespace",
                "FieldValueInvalid",
                "Invalid value: \"a.b\": must not contain dots"
            )
        );
    }

    #[test]
    fn cause_metadata_generation_labels_annotations() {
        let c = causes_after(|o| set(o, &["metadata", "generation"], json!(-1)));
        assert_eq!(
            c,
            one(
                "metadata.generation",
                "FieldValueInvalid",
                "Invalid value: -1: must be greater than or equal to 0"
            )
        );
        let c = causes_after(|o| set(o, &["metadata", "labels"], json!({"ok": "-bad"})));
        assert_eq!(c, one("metadata.labels", "FieldValueInvalid",
            "Invalid value: \"-bad\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"));
        let c = causes_after(|o| set(o, &["metadata", "labels"], json!({"bad key": "v"})));
        assert_eq!(
            c,
            one(
                "metadata.labels",
                "FieldValueInvalid",
                &format!("Invalid value: \"bad key\": {NAME_PART_MSG}")
            )
        );
        // Annotation keys are checked lower-cased.
        assert!(causes_after(|o| set(
            o,
            &["metadata", "annotations"],
            json!({"Example.COM/Key": "v"})
        ))
        .is_empty());
        let c = causes_after(|o| {
            set(
                o,
                &["metadata", "annotations"],
                json!({"k": "v".repeat(TOTAL_ANNOTATION_SIZE_LIMIT_B)}),
            )
        });
        assert_eq!(
            c,
            one(
                "metadata.annotations",
                "FieldValueTooLong",
                "Too long: must have at most 262144 bytes"
            )
        );
    }

    #[test]
    fn cause_namespace_dns_subdomain() {
        let c = causes_after(|o| {
            set(o, &["metadata", "namespace"], json!("Team"));
            set(o, &["regarding", "namespace"], json!("Team"));
        });
        assert_eq!(c, vec![
            ("namespace".into(), "FieldValueInvalid".into(), format!("Invalid value: \"Team\": {DNS_SUBDOMAIN_MSG}")),
            ("metadata.namespace".into(), "FieldValueInvalid".into(),
                "Invalid value: \"Team\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into()),
        ]);
    }
}
