//! Fixtures and helpers shared by the tests of the event modules.

use serde_json::{json, Map, Value};

use super::validate_events_v1_create;

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

pub fn fixture(name: &str) -> Value {
    let text = match name {
        "full-core" => include_str!("../../../testdata/convert/full-core.json"),
        "full-events-v1" => include_str!("../../../testdata/convert/full-events-v1.json"),
        "legacy-core" => include_str!("../../../testdata/convert/legacy-core.json"),
        "legacy-events-v1" => include_str!("../../../testdata/convert/legacy-events-v1.json"),
        "minimal-core" => include_str!("../../../testdata/convert/minimal-core.json"),
        "minimal-events-v1" => include_str!("../../../testdata/convert/minimal-events-v1.json"),
        "source-only-core" => include_str!("../../../testdata/convert/source-only-core.json"),
        "source-only-events-v1" => {
            include_str!("../../../testdata/convert/source-only-events-v1.json")
        }
        "sparse-core" => include_str!("../../../testdata/convert/sparse-core.json"),
        "sparse-events-v1" => include_str!("../../../testdata/convert/sparse-events-v1.json"),
        "merge-patches" => include_str!("../../../testdata/convert/merge-patches.json"),
        "strategic-merge-patches" => {
            include_str!("../../../testdata/convert/strategic-merge-patches.json")
        }
        "json-patches" => include_str!("../../../testdata/convert/json-patches.json"),
        "field-selectors" => include_str!("../../../testdata/convert/field-selectors.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub const PAIRS: [&str; 4] = ["full", "legacy", "minimal", "source-only"];

pub fn valid() -> Map<String, Value> {
    obj(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web-0.17a3", "namespace": "default"},
        "eventTime": "2024-05-01T10:00:00.123456Z",
        "regarding": {"kind": "Pod", "name": "web-0", "namespace": "default"},
        "reportingController": "example.com/controller",
        "reportingInstance": "controller-0",
        "action": "Reconcile", "reason": "Synced", "type": "Normal", "note": "ok",
        "deprecatedSource": {}, "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
    }))
}

pub fn causes_after(edit: impl FnOnce(&mut Map<String, Value>)) -> Vec<(String, String, String)> {
    let mut o = valid();
    edit(&mut o);
    validate_events_v1_create(&o)
        .into_iter()
        .map(|c| (c.field, c.reason, c.message))
        .collect()
}

pub fn one(field: &str, reason: &str, message: &str) -> Vec<(String, String, String)> {
    vec![(field.to_owned(), reason.to_owned(), message.to_owned())]
}

pub fn set(o: &mut Map<String, Value>, path: &[&str], v: Value) {
    let mut cur = o;
    for (i, k) in path.iter().enumerate() {
        if i + 1 == path.len() {
            cur.insert((*k).to_owned(), v);
            return;
        }
        cur = cur
            .entry(*k)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap();
    }
}

pub const DNS_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
pub const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
