//! "Standard paths" mode (`--prefix /api/v1`) serves events.k8s.io/v1 next to core/v1 from one
//! store, converting like kube-apiserver: create (and its validation), get, list, update, the
//! three patch types, delete, watch, field selectors, Tables, scope and Status wording.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::Method;
use serde_json::{json, Value};

const CORE: &str = "/api/v1";
const V1: &str = "/apis/events.k8s.io/v1";
const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn standard() -> Env {
    start_with(|c| c.prefix = CORE.into()).await
}

fn coll(api: &str, ns: &str) -> String {
    format!("{api}/namespaces/{ns}/events")
}

fn item(api: &str, ns: &str, name: &str) -> String {
    format!("{api}/namespaces/{ns}/events/{name}")
}

/// A valid events.k8s.io/v1 Event (passes `ValidateEventCreate` for events.k8s.io/v1).
fn v1_event(name: &str, reason: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": "2024-06-01T12:00:00.000000Z",
        "reportingController": "example.com/ctrl",
        "reportingInstance": "ctrl-1",
        "action": "Start",
        "reason": reason,
        "type": "Normal",
        "note": format!("note for {name}"),
        "regarding": {"kind": "Pod", "namespace": "default", "name": format!("pod-{name}"), "apiVersion": "v1"}
    })
}

/// A legacy core/v1 Event for this mode.
fn core_event(name: &str, reason: &str) -> Value {
    let mut e = event(name, reason);
    e["apiVersion"] = json!("v1");
    e
}

/// What kube-apiserver returns through events.k8s.io/v1 for `v1_event(name, reason)`, written
/// out by hand from `Convert_core_Event_To_v1_Event` and the Go field tags (not computed by the
/// code under test). `metadata` is the same Go type in both versions.
fn expected_v1_of_v1_event(name: &str, reason: &str, metadata: &Value) -> Value {
    json!({
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": metadata,
        "eventTime": "2024-06-01T12:00:00.000000Z",
        "reportingController": "example.com/ctrl",
        "reportingInstance": "ctrl-1",
        "action": "Start",
        "reason": reason,
        "regarding": {"kind": "Pod", "namespace": "default", "name": format!("pod-{name}"), "apiVersion": "v1"},
        "note": format!("note for {name}"),
        "type": "Normal",
        "deprecatedSource": {},
        "deprecatedFirstTimestamp": null,
        "deprecatedLastTimestamp": null
    })
}

/// The same for the legacy `core_event(name, reason)` with `message`: the deprecated fields
/// carry the legacy ones, nothing falls back to `reportingController`, `eventTime` is null.
fn expected_v1_of_core_event(name: &str, reason: &str, message: &str, metadata: &Value) -> Value {
    json!({
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": metadata,
        "eventTime": null,
        "reason": reason,
        "regarding": {"kind": "Pod", "namespace": "default", "name": format!("pod-{name}"), "apiVersion": "v1"},
        "note": message,
        "type": "Normal",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2024-06-01T12:00:00Z",
        "deprecatedLastTimestamp": "2024-06-01T12:00:00Z",
        "deprecatedCount": 1
    })
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

fn causes(status: &Value) -> Vec<String> {
    status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap().to_string())
        .collect()
}

async fn patch(c: &Client, path: &str, ct: &str, body: &str) -> Response {
    c.send(Method::PATCH, path, &[("content-type", ct)], Some(body))
        .await
}

#[tokio::test]
async fn create_via_events_v1_is_stored_in_the_core_shape() {
    let env = standard().await;
    let c = env.client();

    let r = c
        .post(&coll(V1, "default"), &v1_event("e1", "Started"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.body;
    assert!(
        r.raw
            .starts_with(br#"{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"#),
        "{}",
        String::from_utf8_lossy(&r.raw)
    );
    assert_eq!(created["note"], "note for e1");
    assert_eq!(created["regarding"]["name"], "pod-e1");
    assert_eq!(created["reportingController"], "example.com/ctrl");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert!(created.get("message").is_none());
    assert!(created.get("involvedObject").is_none());

    // Stored once, in the core shape; the core API shows the same data under core names.
    let stored = env.handle.events();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["apiVersion"], "v1");
    let core = c.get(&item(CORE, "default", "e1")).await;
    assert_eq!(core.status, 200);
    assert_eq!(core.body, stored[0]);
    assert_eq!(core.body["message"], "note for e1");
    assert_eq!(core.body["involvedObject"], created["regarding"]);
    assert_eq!(core.body["reportingComponent"], "example.com/ctrl");
    assert_eq!(core.body["reportingInstance"], "ctrl-1");
    assert_eq!(core.body["eventTime"], "2024-06-01T12:00:00.000000Z");
    assert_eq!(core.body["metadata"], created["metadata"]);

    // events.k8s.io/v1 reads return exactly what create returned.
    let again = c.get(&item(V1, "default", "e1")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, created);
    assert_eq!(
        again.body,
        expected_v1_of_v1_event("e1", "Started", &core.body["metadata"])
    );

    // generateName and dryRun work as for core.
    let mut g = v1_event("", "Started");
    g["metadata"] = json!({"generateName": "gen-"});
    let r = c.post(&coll(V1, "default"), &g).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.body["metadata"]["name"]
        .as_str()
        .unwrap()
        .starts_with("gen-"));
    let r = c
        .send(
            Method::POST,
            &format!("{}?dryRun=All", coll(V1, "default")),
            &[],
            Some(&v1_event("dry", "R").to_string()),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        c.get(&item(V1, "default", "dry")).await.status,
        404,
        "dry run stored nothing"
    );

    // Duplicate: the events.k8s.io wording.
    let r = c
        .post(&coll(V1, "default"), &v1_event("e1", "Started"))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["reason"], "AlreadyExists");
    assert_eq!(
        r.body["message"],
        "events.events.k8s.io \"e1\" already exists"
    );
    assert_eq!(
        r.body["details"],
        json!({"name": "e1", "group": "events.k8s.io", "kind": "events"})
    );
}

#[tokio::test]
async fn create_validation_and_decoding() {
    let env = standard().await;
    let c = env.client();
    let post = |body: Value| {
        let c = &c;
        async move { c.post(&coll(V1, "default"), &body).await }
    };

    // A legacy-shaped event is not a valid events.k8s.io/v1 create: 422 with kube's causes.
    let mut legacy = v1_event("bad", "R");
    for k in [
        "eventTime",
        "reportingController",
        "reportingInstance",
        "action",
    ] {
        legacy.as_object_mut().unwrap().remove(k);
    }
    legacy["type"] = json!("Odd");
    legacy["deprecatedCount"] = json!(3);
    legacy["deprecatedSource"] = json!({"component": "kubelet"});
    legacy["deprecatedFirstTimestamp"] = json!("2024-06-01T12:00:00Z");
    let r = post(legacy).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.body["reason"], "Invalid");
    assert_eq!(
        r.body["message"],
        "Event \"bad\" is invalid: [eventTime: Required value, type: Invalid value: \"\": has invalid value: Odd, firstTimestamp: Invalid value: \"\": needs to be unset, count: Invalid value: \"\": needs to be unset, source: Invalid value: \"\": needs to be unset]"
    );
    assert_eq!(r.body["details"]["kind"], "Event");
    assert_eq!(r.body["details"]["name"], "bad");
    assert!(r.body["details"].get("group").is_none());
    assert_eq!(
        causes(&r.body),
        vec!["eventTime", "type", "firstTimestamp", "count", "source"]
    );
    assert_eq!(
        r.body["details"]["causes"][0],
        json!({"reason": "FieldValueRequired", "message": "Required value", "field": "eventTime"})
    );

    // eventTime set: the reporting fields are required.
    let mut partial = v1_event("partial", "R");
    partial["reportingController"] = json!("");
    partial["action"] = Value::Null;
    let r = post(partial).await;
    assert_eq!(r.status, 422);
    // Like kube-apiserver: Required, plus the qualified-name errors for the empty value.
    assert_eq!(
        causes(&r.body),
        vec![
            "reportingController",
            "reportingController",
            "reportingController",
            "action"
        ]
    );
    assert_eq!(
        r.body["details"]["causes"][0]["reason"],
        "FieldValueRequired"
    );

    // No name at all.
    let mut nameless = v1_event("x", "R");
    nameless["metadata"] = json!({});
    let r = post(nameless).await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), vec!["metadata.name"]);
    assert_eq!(
        r.body["message"],
        "Event \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );

    // Invalid name.
    let r = post(v1_event("Bad_Name", "R")).await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), vec!["metadata.name"]);

    // Decoding: wrong JSON types, another apiVersion, a namespace mismatch.
    let mut wrong = v1_event("w", "R");
    wrong["note"] = json!(5);
    let r = post(wrong).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Event in version \"v1\" cannot be handled as a Event: json: cannot unmarshal number into Go struct field Event.note of type string"
    );
    let mut core_version = v1_event("cv", "R");
    core_version["apiVersion"] = json!("v1");
    let r = post(core_version).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "the API version in the data (v1) does not match the expected API version (events.k8s.io/v1)"
    );
    let mut other_ns = v1_event("ns", "R");
    other_ns["metadata"]["namespace"] = json!("other");
    assert_eq!(post(other_ns).await.status, 400);

    // Unknown fields (core names included) are dropped with a warning, or refused under Strict.
    let mut extra = v1_event("extra", "R");
    extra["message"] = json!("core name");
    let r = post(extra.clone()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.headers["warning"],
        "299 - \"unknown field \\\"message\\\"\""
    );
    assert_eq!(
        c.get(&item(CORE, "default", "extra")).await.body["message"],
        "note for extra"
    );
    extra["metadata"]["name"] = json!("strict");
    let r = c
        .send(
            Method::POST,
            &format!("{}?fieldValidation=Strict", coll(V1, "default")),
            &[],
            Some(&extra.to_string()),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \"message\""
    );

    // Core creates keep core semantics (no events.k8s.io validation).
    let r = c
        .post(&coll(CORE, "default"), &core_event("legacy", "R"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[tokio::test]
async fn get_and_list_through_both_apis() {
    let env = standard().await;
    let c = env.client();
    c.post(&coll(CORE, "default"), &core_event("a-core", "R"))
        .await;
    c.post(&coll(V1, "default"), &v1_event("b-v1", "R")).await;
    let mut other = core_event("c-other", "R");
    other["involvedObject"]["namespace"] = json!("other");
    c.post(&coll(CORE, "other"), &other).await;

    let core = c.get(&coll(CORE, "default")).await.body;
    let v1 = c.get(&coll(V1, "default")).await.body;
    assert_eq!(v1["kind"], "EventList");
    assert_eq!(v1["apiVersion"], "events.k8s.io/v1");
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(names(&v1), vec!["a-core", "b-v1"]);
    assert_eq!(v1["metadata"], core["metadata"]);
    let core_items = core["items"].as_array().unwrap();
    let v1_items = v1["items"].as_array().unwrap();
    let expected = [
        expected_v1_of_core_event(
            "a-core",
            "R",
            "message for a-core",
            &core_items[0]["metadata"],
        ),
        expected_v1_of_v1_event("b-v1", "R", &core_items[1]["metadata"]),
    ];
    assert_eq!(v1_items, &expected);
    for (ci, vi) in core_items.iter().zip(v1_items) {
        let name = ci["metadata"]["name"].as_str().unwrap();
        assert_eq!(c.get(&item(V1, "default", name)).await.body, *vi);
        assert_eq!(c.get(&item(CORE, "default", name)).await.body, *ci);
    }
    // The legacy event through events.k8s.io/v1: deprecated fields, no fallback.
    assert_eq!(v1_items[0]["deprecatedSource"]["component"], "kubelet");
    assert_eq!(v1_items[0]["deprecatedCount"], 1);
    assert_eq!(v1_items[0]["note"], "message for a-core");
    assert!(v1_items[0]["eventTime"].is_null());

    // All namespaces.
    let all = c.get(&format!("{V1}/events")).await.body;
    assert_eq!(names(&all), vec!["a-core", "b-v1", "c-other"]);

    // limit/continue and an exact resourceVersion read.
    let p1 = c.get(&format!("{V1}/events?limit=2")).await.body;
    assert_eq!(names(&p1), vec!["a-core", "b-v1"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 1);
    let token = p1["metadata"]["continue"].as_str().unwrap();
    let p2 = c
        .get(&format!("{V1}/events?limit=2&continue={token}"))
        .await
        .body;
    assert_eq!(names(&p2), vec!["c-other"]);
    assert_eq!(p2["apiVersion"], "events.k8s.io/v1");
    let rv = p1["metadata"]["resourceVersion"].as_str().unwrap();
    c.send(Method::DELETE, &item(CORE, "default", "a-core"), &[], None)
        .await;
    let past = c
        .get(&format!(
            "{}?resourceVersion={rv}&resourceVersionMatch=Exact",
            coll(V1, "default")
        ))
        .await
        .body;
    assert_eq!(names(&past), vec!["a-core", "b-v1"]);
    assert_eq!(past["items"][0]["note"], "message for a-core");

    // NotFound wording per API.
    let r = c.get(&item(V1, "default", "missing")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["message"],
        "events.events.k8s.io \"missing\" not found"
    );
    assert_eq!(
        r.body["details"],
        json!({"name": "missing", "group": "events.k8s.io", "kind": "events"})
    );
    let r = c.get(&item(CORE, "default", "missing")).await;
    assert_eq!(r.body["message"], "events \"missing\" not found");
    assert_eq!(
        r.body["details"],
        json!({"name": "missing", "kind": "events"})
    );

    // Unknown paths and methods are refused like core.
    assert_eq!(c.get(&format!("{V1}/pods")).await.status, 404);
    let r = c
        .send(
            Method::POST,
            &format!("{V1}/events"),
            &[],
            Some(&v1_event("x", "R").to_string()),
        )
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn update_via_events_v1() {
    let env = standard().await;
    let c = env.client();
    let created = c.post(&coll(V1, "default"), &v1_event("u", "R")).await.body;

    // `note` is immutable in events.k8s.io/v1 updates (ValidateEventUpdate).
    let mut noted = created.clone();
    noted["note"] = json!("updated note");
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "u"),
            &[],
            Some(&noted.to_string()),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Event \"u\" is invalid: message: Invalid value: \"updated note\": field is immutable"
    );

    let mut upd = created.clone();
    upd["metadata"]["labels"] = json!({"seen": "twice"});
    upd["series"] = json!({"count": 2, "lastObservedTime": "2024-06-01T12:05:00.000000Z"});
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "u"),
            &[],
            Some(&upd.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["apiVersion"], "events.k8s.io/v1");
    assert_eq!(r.body["note"], "note for u");
    assert_eq!(r.body["metadata"]["labels"]["seen"], "twice");
    assert_eq!(r.body["series"]["count"], 2);
    assert_eq!(r.body["metadata"]["uid"], created["metadata"]["uid"]);
    assert_ne!(
        r.body["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    let core = c.get(&item(CORE, "default", "u")).await.body;
    assert_eq!(core["message"], "note for u");
    assert_eq!(core["series"]["count"], 2);
    assert_eq!(core["apiVersion"], "v1");

    // Stale resourceVersion: Conflict in events.k8s.io wording.
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "u"),
            &[],
            Some(&upd.to_string()),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.body["message"],
        "Operation cannot be fulfilled on events.events.k8s.io \"u\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // events.k8s.io/v1 updates may not change what the event is about.
    let mut immut = c.get(&item(V1, "default", "u")).await.body;
    immut["reason"] = json!("Other");
    immut["regarding"]["name"] = json!("someone-else");
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "u"),
            &[],
            Some(&immut.to_string()),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), vec!["involvedObject", "reason", "reason"]);
    assert_eq!(
        r.body["details"]["causes"][1]["message"],
        "Invalid value: \"Other\": field is immutable"
    );
    assert!(r.body["message"].as_str().unwrap().starts_with(
        "Event \"u\" is invalid: [involvedObject: Invalid value: core.ObjectReference{"
    ));

    // Name mismatch.
    let mut renamed = c.get(&item(V1, "default", "u")).await.body;
    renamed["metadata"]["name"] = json!("other");
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "u"),
            &[],
            Some(&renamed.to_string()),
        )
        .await;
    assert_eq!(r.status, 400);

    // PUT of a missing object creates it, validated as an events.k8s.io/v1 create.
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "fresh"),
            &[],
            Some(&v1_event("fresh", "R").to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut bad = v1_event("fresh2", "R");
    bad["type"] = json!("Odd");
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "fresh2"),
            &[],
            Some(&bad.to_string()),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(causes(&r.body), vec!["type"]);

    // A legacy event created through core/v1 can be updated through events.k8s.io/v1.
    c.post(&coll(CORE, "default"), &core_event("legacy", "R"))
        .await;
    // Its deprecated fields are set and immutable, and it has no eventTime: the create rules
    // do not apply to an update.
    let mut legacy = c.get(&item(V1, "default", "legacy")).await.body;
    legacy["metadata"]["labels"] = json!({"via": "v1"});
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "legacy"),
            &[],
            Some(&legacy.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let core = c.get(&item(CORE, "default", "legacy")).await.body;
    assert_eq!(core["metadata"]["labels"]["via"], "v1");
    assert_eq!(core["source"]["component"], "kubelet");
    let mut counted = r.body.clone();
    counted["deprecatedCount"] = json!(7);
    let r = c
        .send(
            Method::PUT,
            &item(V1, "default", "legacy"),
            &[],
            Some(&counted.to_string()),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Event \"legacy\" is invalid: count: Invalid value: 7: field is immutable"
    );
}

#[tokio::test]
async fn patch_types_with_events_v1_field_names() {
    let env = standard().await;
    let c = env.client();
    c.post(&coll(V1, "default"), &v1_event("p", "R")).await;
    let path = item(V1, "default", "p");

    // Merge patch: immutable fields are refused, `series` and metadata may change.
    let r = patch(
        &c,
        &path,
        "application/merge-patch+json",
        r#"{"note":"merged","deprecatedCount":3}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), vec!["message", "count"]);
    let r = patch(
        &c,
        &path,
        "application/merge-patch+json",
        r#"{"series":{"count":3,"lastObservedTime":"2024-06-01T12:05:00.000000Z"}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["apiVersion"], "events.k8s.io/v1");
    assert_eq!(r.body["series"]["count"], 3);
    let core = c.get(&item(CORE, "default", "p")).await.body;
    assert_eq!(core["series"]["count"], 3);

    // Strategic merge patch.
    let r = patch(
        &c,
        &path,
        "application/strategic-merge-patch+json",
        r#"{"series":{"count":2,"lastObservedTime":"2024-06-01T12:10:00.000000Z"},"metadata":{"labels":{"l":"v"}}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["series"]["count"], 2);
    let core = c.get(&item(CORE, "default", "p")).await.body;
    assert_eq!(
        core["series"]["lastObservedTime"],
        "2024-06-01T12:10:00.000000Z"
    );
    assert_eq!(core["metadata"]["labels"]["l"], "v");
    assert_eq!(core["message"], "note for p");

    // JSON patch.
    let r = patch(
        &c,
        &path,
        "application/json-patch+json",
        r#"[{"op":"test","path":"/note","value":"note for p"},{"op":"replace","path":"/series/count","value":4},{"op":"add","path":"/metadata/labels/j","value":"p"}]"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["series"]["count"], 4);
    let core = c.get(&item(CORE, "default", "p")).await.body;
    assert_eq!(core["series"]["count"], 4);
    assert_eq!(core["metadata"]["labels"]["j"], "p");
    let r = patch(
        &c,
        &path,
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/series/count","value":1}]"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(causes(&r.body), vec!["series.count"]);

    // Core names mean nothing to events.k8s.io/v1: dropped with a warning, or a failed op.
    let r = patch(
        &c,
        &path,
        "application/merge-patch+json",
        r#"{"message":"ignored"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["warning"],
        "299 - \"unknown field \\\"message\\\"\""
    );
    assert_eq!(r.body["note"], "note for p");
    let r = patch(
        &c,
        &path,
        "application/json-patch+json",
        r#"[{"op":"replace","path":"/message","value":"x"}]"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // Immutable fields, another apiVersion, a stale resourceVersion.
    let r = patch(
        &c,
        &path,
        "application/merge-patch+json",
        r#"{"reason":"Changed"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    // kube-apiserver compares `reason` twice: two causes, one line in the message.
    assert_eq!(causes(&r.body), vec!["reason", "reason"]);
    assert_eq!(
        r.body["message"],
        "Event \"p\" is invalid: reason: Invalid value: \"Changed\": field is immutable"
    );
    let r = patch(
        &c,
        &path,
        "application/merge-patch+json",
        r#"{"apiVersion":"v1"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    let r = patch(
        &c,
        &path,
        "application/merge-patch+json",
        r#"{"metadata":{"resourceVersion":"1"}}"#,
    )
    .await;
    assert_eq!(r.status, 409);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Operation cannot be fulfilled on events.events.k8s.io \"p\""));
    let r = patch(
        &c,
        &item(V1, "default", "nope"),
        "application/merge-patch+json",
        "{}",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["message"], "events.events.k8s.io \"nope\" not found");
    let r = patch(&c, &path, "application/apply-patch+yaml", "{}").await;
    assert_eq!(r.status, 415);

    // Patching a legacy event created through core/v1.
    c.post(&coll(CORE, "default"), &core_event("legacy", "R"))
        .await;
    let r = patch(
        &c,
        &item(V1, "default", "legacy"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"from":"v1"}}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let core = c.get(&item(CORE, "default", "legacy")).await.body;
    assert_eq!(core["metadata"]["labels"]["from"], "v1");
    let r = patch(
        &c,
        &item(V1, "default", "legacy"),
        "application/merge-patch+json",
        r#"{"deprecatedSource":{"host":"node-2"}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Event \"legacy\" is invalid: source: Invalid value: core.EventSource{Component:\"kubelet\", Host:\"node-2\"}: field is immutable"
    );
}

#[tokio::test]
async fn delete_via_events_v1() {
    let env = standard().await;
    let c = env.client();
    let created = c
        .post(&coll(CORE, "default"), &core_event("d", "R"))
        .await
        .body;

    let r = c
        .send(Method::DELETE, &item(V1, "default", "d"), &[], None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": "d", "group": "events.k8s.io", "kind": "events", "uid": created["metadata"]["uid"]}
        })
    );
    assert_eq!(c.get(&item(CORE, "default", "d")).await.status, 404);
    let r = c
        .send(Method::DELETE, &item(V1, "default", "d"), &[], None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["message"], "events.events.k8s.io \"d\" not found");

    // deletecollection with an events.k8s.io/v1 field selector.
    c.post(&coll(V1, "default"), &v1_event("x1", "R")).await;
    c.post(&coll(V1, "default"), &v1_event("x2", "R")).await;
    let r = c
        .send(
            Method::DELETE,
            &format!(
                "{}?fieldSelector=regarding.name%3Dpod-x1",
                coll(V1, "default")
            ),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["apiVersion"], "events.k8s.io/v1");
    assert_eq!(names(&r.body), vec!["x1"]);
    assert_eq!(r.body["items"][0]["regarding"]["name"], "pod-x1");
    assert_eq!(names(&c.get(&coll(CORE, "default")).await.body), vec!["x2"]);
}

#[tokio::test]
async fn watch_via_events_v1_sees_core_writes_converted() {
    let env = standard().await;
    let c = env.client();
    c.post(&coll(CORE, "default"), &core_event("before", "R"))
        .await;

    let mut w = c
        .watch(
            &format!(
                "{}?watch=true&allowWatchBookmarks=true",
                coll(V1, "default")
            ),
            &[],
        )
        .await;
    assert_eq!(w.status, 200);
    let first = w.next_change(WAIT).await.unwrap();
    assert_eq!(first["type"], "ADDED");
    assert!(
        w.last_raw.starts_with(
            r#"{"type":"ADDED","object":{"kind":"Event","apiVersion":"events.k8s.io/v1","#
        ),
        "{}",
        w.last_raw
    );
    assert_eq!(first["object"]["note"], "message for before");

    let created = c
        .post(&coll(CORE, "default"), &core_event("live", "R"))
        .await
        .body;
    let added = w.next_change(WAIT).await.unwrap();
    assert_eq!(added["type"], "ADDED");
    assert_eq!(
        added["object"],
        expected_v1_of_core_event("live", "R", "message for live", &created["metadata"])
    );

    let r = patch(
        &c,
        &item(CORE, "default", "live"),
        "application/merge-patch+json",
        r#"{"message":"changed"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let modified = w.next_change(WAIT).await.unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["note"], "changed");
    assert_eq!(
        modified["object"],
        expected_v1_of_core_event("live", "R", "changed", &r.body["metadata"])
    );

    c.send(Method::DELETE, &item(CORE, "default", "live"), &[], None)
        .await;
    let deleted = w.next_change(WAIT).await.unwrap();
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(deleted["object"]["apiVersion"], "events.k8s.io/v1");

    // Bookmarks are converted too.
    let bookmark = loop {
        let e = w.next(WAIT).await.unwrap();
        if e["type"] == "BOOKMARK" {
            break e;
        }
    };
    assert_eq!(bookmark["object"]["kind"], "Event");
    assert_eq!(bookmark["object"]["apiVersion"], "events.k8s.io/v1");
    assert!(bookmark["object"]["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty()));

    // The legacy watch path for one object, with replay from a resourceVersion.
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let mut one = c
        .watch(
            &format!("{V1}/watch/namespaces/default/events/live?resourceVersion={rv}"),
            &[],
        )
        .await;
    assert_eq!(one.status, 200);
    let e = one.next_change(WAIT).await.unwrap();
    assert_eq!(e["type"], "MODIFIED");
    assert_eq!(e["object"]["note"], "changed");
    assert_eq!(one.next_change(WAIT).await.unwrap()["type"], "DELETED");

    // A field selector in events.k8s.io/v1 labels applies to watches.
    let mut sel = c
        .watch(
            &format!(
                "{}?watch=1&fieldSelector=regarding.name%3Dpod-wanted",
                coll(V1, "default")
            ),
            &[],
        )
        .await;
    c.post(&coll(V1, "default"), &v1_event("unwanted", "R"))
        .await;
    c.post(&coll(V1, "default"), &v1_event("wanted", "R")).await;
    let e = sel.next_change(WAIT).await.unwrap();
    assert_eq!(e["object"]["metadata"]["name"], "wanted");
    let r = c
        .get(&format!(
            "{}?watch=1&fieldSelector=involvedObject.name%3Dx",
            coll(V1, "default")
        ))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn table_watch_via_events_v1() {
    let env = standard().await;
    let c = env.client();
    let created = c.post(&coll(V1, "default"), &v1_event("t", "R")).await.body;
    let mut w = c
        .watch(
            &format!("{}?watch=true&includeObject=Object", coll(V1, "default")),
            &[("accept", TABLE_ACCEPT)],
        )
        .await;
    let e = w.next_change(WAIT).await.unwrap();
    assert_eq!(e["type"], "ADDED");
    assert_eq!(e["object"]["kind"], "Table");
    assert_eq!(
        e["object"]["columnDefinitions"].as_array().unwrap().len(),
        10
    );
    assert_eq!(e["object"]["rows"][0]["object"], created);
}

#[tokio::test]
async fn field_selectors_are_translated() {
    let env = standard().await;
    let c = env.client();
    c.post(&coll(V1, "default"), &v1_event("a", "R")).await;
    let mut b = v1_event("b", "R");
    b["reportingController"] = json!("example.com/other");
    b["type"] = json!("Warning");
    c.post(&coll(V1, "default"), &b).await;
    c.post(&coll(CORE, "default"), &core_event("legacy", "R"))
        .await;

    let list = |sel: &str| {
        let c = &c;
        let path = format!("{}?fieldSelector={sel}", coll(V1, "default"));
        async move { c.get(&path).await }
    };
    assert_eq!(names(&list("regarding.name%3Dpod-a").await.body), vec!["a"]);
    assert_eq!(
        names(&list("reportingController%3Dexample.com%2Fother").await.body),
        vec!["b"]
    );
    assert_eq!(
        names(
            &list("reportingController%3Dexample.com%2Fctrl,type!%3DWarning")
                .await
                .body
        ),
        vec!["a"]
    );
    assert_eq!(
        names(&list("regarding.kind%3DPod,metadata.name!%3Da").await.body),
        vec!["b", "legacy"]
    );
    // `source` reads the stored source.component, as for core.
    assert_eq!(names(&list("source%3Dkubelet").await.body), vec!["legacy"]);

    // Core labels are not events.k8s.io/v1 labels, and the other way round.
    let r = list("involvedObject.name%3Dpod-a").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["reason"], "BadRequest");
    assert_eq!(
        r.body["message"],
        "field label not supported: involvedObject.name"
    );
    let r = list("note%3Dx").await;
    assert_eq!(r.body["message"], "field label not supported: note");
    let r = c
        .get(&format!(
            "{}?fieldSelector=regarding.name%3Dx",
            coll(CORE, "default")
        ))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "field label not supported: regarding.name"
    );
    let r = list("regarding.name").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "invalid selector: 'regarding.name'; can't understand 'regarding.name'"
    );
}

#[tokio::test]
async fn table_responses() {
    let env = standard().await;
    let c = env.client();
    c.post(&coll(V1, "default"), &v1_event("t1", "R")).await;
    c.post(&coll(CORE, "default"), &core_event("t2", "R")).await;

    let get_table = |path: String| {
        let c = &c;
        async move {
            c.send(Method::GET, &path, &[("accept", TABLE_ACCEPT)], None)
                .await
        }
    };
    let core = get_table(coll(CORE, "default")).await.body;
    let v1 = get_table(coll(V1, "default")).await.body;
    assert_eq!(v1["kind"], "Table");
    assert_eq!(v1["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(v1["columnDefinitions"], core["columnDefinitions"]);
    let cells = |t: &Value| -> Vec<Value> {
        t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["cells"].clone())
            .collect()
    };
    assert_eq!(cells(&v1), cells(&core));
    assert_eq!(v1["rows"][0]["cells"][3], "pod/pod-t1");
    assert_eq!(v1["rows"][0]["cells"][5], "example.com/ctrl, ctrl-1");
    assert_eq!(v1["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    // includeObject=Object: rows carry the events.k8s.io/v1 objects.
    let full = get_table(format!("{}?includeObject=Object", coll(V1, "default")))
        .await
        .body;
    let objects: Vec<Value> = full["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["object"].clone())
        .collect();
    let list = c.get(&coll(V1, "default")).await.body;
    assert_eq!(objects, *list["items"].as_array().unwrap());
    let one = get_table(format!(
        "{}?includeObject=Object",
        item(V1, "default", "t2")
    ))
    .await
    .body;
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
    assert_eq!(one["rows"][0]["object"]["note"], "message for t2");
}

#[tokio::test]
async fn scope_applies_to_events_v1() {
    let env = standard().await;
    let admin = env.client();
    let acme = env.client().tenant("Organization", "acme");
    let mine = scoped(v1_event("mine", "R"), "Organization", "acme");
    assert_eq!(admin.post(&coll(V1, "default"), &mine).await.status, 201);
    admin
        .post(
            &coll(V1, "default"),
            &scoped(v1_event("theirs", "R"), "Organization", "other"),
        )
        .await;

    assert_eq!(
        names(&acme.get(&coll(V1, "default")).await.body),
        vec!["mine"]
    );
    let r = acme.get(&item(V1, "default", "theirs")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["message"],
        "events.events.k8s.io \"theirs\" not found"
    );
    let r = patch(
        &acme,
        &item(V1, "default", "theirs"),
        "application/merge-patch+json",
        r#"{"note":"x"}"#,
    )
    .await;
    assert_eq!(r.status, 404);
    let r = acme
        .send(Method::DELETE, &item(V1, "default", "theirs"), &[], None)
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        names(&admin.get(&coll(V1, "default")).await.body),
        vec!["mine", "theirs"]
    );
}

#[tokio::test]
async fn default_mode_keeps_events_v1_unserved_and_activity_wording() {
    let env = start().await;
    let c = env.client();
    let r = c.get(&format!("{V1}/events")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["message"],
        "the server could not find the requested resource"
    );
    let r = c.post(&coll(V1, "default"), &v1_event("x", "R")).await;
    assert_eq!(r.status, 404);

    // Status wording of an aggregated API server for activity.miloapis.com.
    let r = c.get(&format!("{}/missing", ns_path("default"))).await;
    assert_eq!(
        r.body["message"],
        "events.activity.miloapis.com \"missing\" not found"
    );
    assert_eq!(
        r.body["details"],
        json!({"name": "missing", "group": "activity.miloapis.com", "kind": "events"})
    );
    c.post(&ns_path("default"), &event("dup", "R")).await;
    let r = c.post(&ns_path("default"), &event("dup", "R")).await;
    assert_eq!(
        r.body["message"],
        "events.activity.miloapis.com \"dup\" already exists"
    );
    assert_eq!(r.body["details"]["group"], "activity.miloapis.com");
    let r = c.post(&ns_path("default"), &event("Bad_Name", "R")).await;
    assert_eq!(r.status, 422);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .starts_with("Event.activity.miloapis.com \"Bad_Name\" is invalid: metadata.name: "));
    assert_eq!(r.body["details"]["group"], "activity.miloapis.com");
    assert_eq!(r.body["details"]["kind"], "Event");
}
