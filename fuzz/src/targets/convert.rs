//! The events.k8s.io converter (`k8s/events/object.rs`, with the decoder checks of
//! `decode.rs`): a converted object is an events.k8s.io/v1 `Event` (never the stored
//! `apiVersion`), lists convert every item, conversions round-trip after one normalisation, no
//! events.k8s.io-only name reaches the core shape, and a body the type checks accept converts to
//! core fields of the types the Go core Event has.
//!
//! Input: a selector byte (bit 0: events.k8s.io → core instead of core → events.k8s.io; bit 1:
//! a list), then JSON.

use activity_events_filter::k8s::events::{
    check_events_v1_types, core_list_to_events_v1, core_to_events_v1, events_v1_to_core,
    EVENTS_V1_API_VERSION,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::mutate::Rng;
use crate::{fail, Target};

pub fn target() -> Target {
    Target {
        name: "convert",
        about: "converted objects are events.k8s.io/v1 Events (lists too), round-trip, and keep Go's core types",
        check,
        strategy,
        dictionary: &[
            "\"apiVersion\":\"activity.miloapis.com/v1alpha1\"", "\"note\"", "\"message\"",
            "\"series\":{\"count\":0}", "\"deprecatedCount\":0", "null", "\"regarding\":{}",
            "\"items\":[{}]", "1e400", "-0", "2147483648",
        ],
    }
}

const CORE_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingComponent",
    "reportingInstance",
];

fn without_type_meta(m: &Map<String, Value>) -> Map<String, Value> {
    let mut m = m.clone();
    m.remove("apiVersion");
    m.remove("kind");
    m
}

fn is_event_v1(m: &Map<String, Value>) -> bool {
    m.get("apiVersion") == Some(&json!(EVENTS_V1_API_VERSION))
        && m.get("kind") == Some(&json!("Event"))
}

/// The JSON types of Go's core/v1 Event fields (null is Go's zero value).
fn core_types_ok(m: &Map<String, Value>) -> Result<(), String> {
    for (k, v) in m {
        let ok = match k.as_str() {
            "reason" | "message" | "type" | "action" | "reportingComponent"
            | "reportingInstance" => v.is_string() || v.is_null(),
            "count" => v.is_null() || v.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            "involvedObject" | "source" | "related" | "series" | "metadata" => {
                v.is_object() || v.is_null()
            }
            "firstTimestamp" | "lastTimestamp" | "eventTime" => v.is_string() || v.is_null(),
            _ => true,
        };
        if !ok {
            return Err(format!("{k} = {v}"));
        }
    }
    if let Some(Value::Object(s)) = m.get("series") {
        if let Some(c) = s.get("count") {
            if !(c.is_null() || c.as_i64().is_some_and(|i| i32::try_from(i).is_ok())) {
                return Err(format!("series.count = {c}"));
            }
        }
    }
    Ok(())
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let Some((&selector, body)) = input.split_first() else {
        return Ok(());
    };
    let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    match (selector & 1 == 1, selector & 2 == 2) {
        (false, false) => {
            let mut v1 = obj.clone();
            core_to_events_v1(&mut v1);
            if !is_event_v1(&v1) {
                return Err(fail(
                    "converted object is not an events.k8s.io/v1 Event",
                    Value::Object(v1),
                ));
            }
            let mut core = v1.clone();
            events_v1_to_core(&mut core);
            let mut again = core.clone();
            core_to_events_v1(&mut again);
            if again != v1 {
                return Err(fail(
                    "core -> v1 -> core -> v1 does not round-trip",
                    format!(
                        "{}\n{}\n{}",
                        Value::Object(obj),
                        Value::Object(v1),
                        Value::Object(again)
                    ),
                ));
            }
        }
        (true, false) => {
            let mut core = obj.clone();
            let typed = check_events_v1_types(&obj).is_ok();
            events_v1_to_core(&mut core);
            if let Some(k) = core.keys().find(|k| !CORE_FIELDS.contains(&k.as_str())) {
                return Err(fail("a non-core field reaches the core shape", k));
            }
            if typed {
                core_types_ok(&core).map_err(|e| {
                    fail(
                        "a body the type checks accept converts to a wrong core type",
                        format!("{e} from {}", Value::Object(obj.clone())),
                    )
                })?;
            }
            let mut v1 = core.clone();
            core_to_events_v1(&mut v1);
            let mut back = v1.clone();
            events_v1_to_core(&mut back);
            if without_type_meta(&back) != without_type_meta(&core) {
                return Err(fail(
                    "v1 -> core -> v1 -> core does not round-trip",
                    format!(
                        "{}\n{}\n{}",
                        Value::Object(obj),
                        Value::Object(core),
                        Value::Object(back)
                    ),
                ));
            }
        }
        (_, true) => {
            let mut list = obj.clone();
            core_list_to_events_v1(&mut list);
            if list.get("apiVersion") != Some(&json!(EVENTS_V1_API_VERSION))
                || list.get("kind") != Some(&json!("EventList"))
            {
                return Err(fail(
                    "converted list is not an events.k8s.io/v1 EventList",
                    Value::Object(list),
                ));
            }
            if let Some(Value::Array(items)) = list.get("items") {
                for item in items {
                    if let Value::Object(o) = item {
                        if !is_event_v1(o) {
                            return Err(fail("a list item is not an events.k8s.io/v1 Event", item));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

const NAMES: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "involvedObject",
    "regarding",
    "reason",
    "message",
    "note",
    "source",
    "deprecatedSource",
    "firstTimestamp",
    "deprecatedFirstTimestamp",
    "lastTimestamp",
    "deprecatedLastTimestamp",
    "count",
    "deprecatedCount",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingComponent",
    "reportingController",
    "reportingInstance",
    "foo",
];
const SUB: &[&str] = &[
    "name",
    "kind",
    "uid",
    "apiVersion",
    "count",
    "lastObservedTime",
    "state",
    "component",
    "host",
    "x",
];

fn value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 0 { 8 } else { 10 }) {
        0 => Value::Null,
        1 => json!(""),
        2 => json!("activity.miloapis.com/v1alpha1"),
        3 => json!([0, 1, 2, 3000000000i64, -1][rng.below(5)]),
        4 => json!(1.5),
        5 => json!(false),
        6 => json!([1]),
        7 => json!("2026-01-01T00:00:00Z"),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(SUB[rng.below(SUB.len())].into(), value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn object(rng: &mut Rng) -> Value {
    let mut m = Map::new();
    for _ in 0..rng.below(10) {
        m.insert(NAMES[rng.below(NAMES.len())].into(), value(rng, 0));
    }
    if rng.chance(2) {
        m.insert("apiVersion".into(), json!("activity.miloapis.com/v1alpha1"));
    }
    Value::Object(m)
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (any::<u8>(), any::<u64>())
        .prop_map(|(selector, seed)| {
            let mut rng = Rng::new(seed);
            let v = if selector & 2 == 2 {
                let items: Vec<Value> = (0..rng.below(4)).map(|_| object(&mut rng)).collect();
                json!({"apiVersion": "activity.miloapis.com/v1alpha1", "kind": "EventList", "metadata": {}, "items": items})
            } else {
                object(&mut rng)
            };
            let mut out = vec![selector];
            out.extend_from_slice(v.to_string().as_bytes());
            out
        })
        .boxed()
}
