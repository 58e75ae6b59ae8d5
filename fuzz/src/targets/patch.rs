//! The events.k8s.io/v1 patch translations (`k8s::events::{merge_patch, strategic_merge_patch,
//! json_patch}_events_v1_to_core`) commute with applying the patch: kube-apiserver applies an
//! events.k8s.io/v1 patch to the events.k8s.io/v1 JSON of the object and decodes the result;
//! Activity applies the translated patch to the stored core JSON. Whenever both apply, the client
//! must see the same Event either way (viewed through the object converter, which both sides
//! share, so only the translation is under test). Refusals are not compared: a translation may
//! refuse what Kubernetes would refuse later.
//!
//! Input: one selector byte (kind: 0 merge, 1 strategic, 2 JSON patch; high bits choose the
//! stored Event), then the patch.

use activity_events_filter::k8s::events::{
    core_to_events_v1, events_v1_to_core, json_patch_events_v1_to_core,
    merge_patch_events_v1_to_core, strategic_merge_patch_events_v1_to_core,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::apply;
use crate::mutate::Rng;
use crate::{fail, Target};

pub fn target() -> Target {
    Target {
        name: "patch",
        about: "merge, strategic and JSON patch translations commute with applying the patch (client's view equal)",
        check,
        strategy,
        dictionary: &[
            "\"note\"", "\"message\"", "\"regarding\"", "\"involvedObject\"", "\"deprecatedCount\"",
            "\"$patch\":\"replace\"", "\"$retainKeys\":[\"note\"]", "null", "\"/note\"",
            "\"/regarding/name\"", "\"op\":\"move\"", "\"op\":\"copy\"", "\"series\"",
            "\"apiVersion\":\"events.k8s.io/v1\"",
        ],
    }
}

fn stored(which: u8) -> Map<String, Value> {
    let v = match which % 3 {
        0 => json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default", "annotations": {"a": "b"}},
            "eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "c",
            "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal", "note": "n",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
            "related": {"kind": "Node", "name": "n1"},
            "series": {"count": 2, "lastObservedTime": "2026-01-01T00:00:01.000000Z"},
            "deprecatedSource": {"component": "kubelet", "host": "h"},
            "deprecatedFirstTimestamp": "2026-01-01T00:00:00Z", "deprecatedCount": 3
        }),
        1 => json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e2"}}),
        _ => json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e3"},
            "note": "only a note", "deprecatedLastTimestamp": "2026-01-01T00:00:00Z"
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

type Translate =
    fn(&mut Value) -> Result<Vec<String>, activity_events_filter::k8s::events::ConvertError>;

pub fn check(input: &[u8]) -> Result<(), String> {
    let Some((&selector, body)) = input.split_first() else {
        return Ok(());
    };
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let kind = selector % 3;
    let translate: Translate = match kind {
        0 => merge_patch_events_v1_to_core,
        1 => strategic_merge_patch_events_v1_to_core,
        _ => json_patch_events_v1_to_core,
    };
    let mut translated = patch.clone();
    if translate(&mut translated).is_err() {
        return Ok(());
    }
    let apply = |doc: &mut Value, p: &Value| -> Result<(), String> {
        match kind {
            0 => {
                apply::merge_patch(doc, p);
                Ok(())
            }
            1 => apply::strategic(doc, p),
            _ => apply::json_patch(doc, p),
        }
    };
    // What Activity stores, and what the client is shown of it.
    let mut core = stored(selector / 3);
    events_v1_to_core(&mut core);
    core.insert("apiVersion".into(), json!("activity.miloapis.com/v1alpha1"));
    let mut shown = core.clone();
    core_to_events_v1(&mut shown);
    // Kubernetes: the patch on the events.k8s.io/v1 JSON, decoded as an events.k8s.io/v1 Event.
    let mut k8s = Value::Object(shown);
    if apply(&mut k8s, &patch).is_err() {
        return Ok(());
    }
    let Value::Object(mut k8s) = k8s else {
        return Ok(());
    };
    events_v1_to_core(&mut k8s);
    core_to_events_v1(&mut k8s);
    // The filter: the translated patch on the stored core JSON.
    let mut ours = Value::Object(core);
    if apply(&mut ours, &translated).is_err() {
        return Ok(());
    }
    let Value::Object(mut ours) = ours else {
        return Ok(());
    };
    core_to_events_v1(&mut ours);
    if ours != k8s {
        return Err(fail(
            &format!(
                "{} patch translation changes the result",
                ["merge", "strategic", "JSON"][kind as usize]
            ),
            format!(
                "patch {patch}\ntranslated {translated}\nkubernetes {}\nfilter     {}",
                Value::Object(k8s),
                Value::Object(ours)
            ),
        ));
    }
    Ok(())
}

const FIELDS: &[&str] = &[
    "note",
    "message",
    "regarding",
    "involvedObject",
    "reportingController",
    "reportingComponent",
    "reportingInstance",
    "deprecatedSource",
    "source",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "firstTimestamp",
    "deprecatedCount",
    "count",
    "eventTime",
    "series",
    "action",
    "reason",
    "type",
    "related",
    "metadata",
    "apiVersion",
    "kind",
    "foo",
];
const SUBFIELDS: &[&str] = &[
    "name",
    "kind",
    "uid",
    "count",
    "lastObservedTime",
    "component",
    "host",
    "foo",
    "annotations",
];

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 1 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(""),
        2 => json!("x"),
        3 => json!(rng.below(4) as i64 - 1),
        4 => json!("2026-01-01T00:00:00Z"),
        5 => json!(true),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(3) {
                let k = SUBFIELDS[rng.below(SUBFIELDS.len())];
                m.insert(k.into(), value(rng, depth + 1));
            }
            if rng.chance(8) {
                m.insert(
                    "$patch".into(),
                    json!(["replace", "delete", "merge"][rng.below(3)]),
                );
            }
            Value::Object(m)
        }
    }
}

fn pointer(rng: &mut Rng) -> String {
    let f = FIELDS[rng.below(FIELDS.len())];
    match rng.below(4) {
        0 => format!("/{f}/{}", SUBFIELDS[rng.below(SUBFIELDS.len())]),
        1 if rng.chance(6) => String::new(),
        _ => format!("/{f}"),
    }
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (any::<u8>(), any::<u64>())
        .prop_map(|(selector, seed)| {
            let mut rng = Rng::new(seed);
            let patch = if selector % 3 == 2 {
                let ops: Vec<Value> = (0..1 + rng.below(3))
                    .map(|_| {
                        let op = ["add", "replace", "remove", "move", "copy", "test"][rng.below(6)];
                        json!({"op": op, "path": pointer(&mut rng), "from": pointer(&mut rng), "value": value(&mut rng, 0)})
                    })
                    .collect();
                Value::Array(ops)
            } else {
                let mut m = Map::new();
                for _ in 0..1 + rng.below(4) {
                    let f = FIELDS[rng.below(FIELDS.len())];
                    let v = match f {
                        "apiVersion" => json!(["events.k8s.io/v1", "v1"][rng.below(2)]),
                        "kind" => json!("Event"),
                        _ => value(&mut rng, 0),
                    };
                    m.insert(f.into(), v);
                }
                if selector % 3 == 1 && rng.chance(4) {
                    let keys: Vec<Value> = m.keys().map(|k| json!(k)).collect();
                    m.insert("$retainKeys".into(), Value::Array(keys));
                }
                if selector % 3 == 1 && rng.chance(8) {
                    m.insert("$patch".into(), json!("replace"));
                }
                Value::Object(m)
            };
            let mut out = vec![selector];
            out.extend_from_slice(patch.to_string().as_bytes());
            out
        })
        .boxed()
}
