//! Behaviour of kube-apiserver's event storage that real clients showed and the stand-in
//! reproduces in standard-paths mode: the `source` field selector's fallback, core/v1 legacy
//! validation, unknown fields under `fieldValidation`, Go's serialization, managedFields, and
//! no-op patches. Expected values are literals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::Method;
use serde_json::{json, Value};

const CORE: &str = "/api/v1/namespaces/default/events";
const V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

async fn standard() -> Env {
    start_with(|c| c.prefix = "/api/v1".into()).await
}

fn core_event(name: &str) -> Value {
    let mut e = event(name, "R");
    e["apiVersion"] = json!("v1");
    e
}

fn names(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn source_selector_falls_back_to_the_reporting_controller() {
    let env = standard().await;
    let c = env.client();
    c.post(CORE, &core_event("legacy")).await;
    let v1 = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "new"},
        "eventTime": "2024-06-01T12:00:00.000000Z", "reportingController": "example.com/ctrl",
        "reportingInstance": "ctrl-1", "action": "Start", "reason": "R", "type": "Normal",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "p"}
    });
    assert_eq!(c.post(V1, &v1).await.status, 201);
    for api in [CORE, V1] {
        let sel = |s: &str| format!("{api}?fieldSelector=source%3D{s}");
        assert_eq!(
            names(&c.get(&sel("example.com%2Fctrl")).await.body),
            vec!["new"]
        );
        assert_eq!(names(&c.get(&sel("kubelet")).await.body), vec!["legacy"]);
    }
}

#[tokio::test]
async fn core_creates_get_the_legacy_validation() {
    let env = standard().await;
    let c = env.client();
    let mut other_ns = core_event("mismatch");
    other_ns["involvedObject"]["namespace"] = json!("other");
    let r = c.post(CORE, &other_ns).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Event \"mismatch\" is invalid: involvedObject.namespace: Invalid value: \"other\": does not match event.namespace",
            "reason": "Invalid",
            "details": {"name": "mismatch", "kind": "Event", "causes": [{
                "reason": "FieldValueInvalid",
                "message": "Invalid value: \"other\": does not match event.namespace",
                "field": "involvedObject.namespace"
            }]},
            "code": 422
        })
    );

    let mut new_style = core_event("new-style");
    new_style["eventTime"] = json!("2024-06-01T12:00:00.000000Z");
    let r = c.post(CORE, &new_style).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["message"],
        "Event \"new-style\" is invalid: [reportingComponent: Required value, reportingComponent: Invalid value: \"\": name part must be non-empty, reportingComponent: Invalid value: \"\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), reportingInstance: Required value, action: Required value]"
    );
    new_style["reportingComponent"] = json!("example.com/ctrl");
    new_style["reportingInstance"] = json!("ctrl-1");
    new_style["action"] = json!("Start");
    assert_eq!(c.post(CORE, &new_style).await.status, 201);

    // Updates are held to the same rules; core/v1 names need not be DNS subdomains.
    let mut renamed = core_event("Web_0.abc");
    assert_eq!(c.post(CORE, &renamed).await.status, 201);
    renamed["involvedObject"]["namespace"] = json!("elsewhere");
    let r = c
        .send(
            Method::PUT,
            &format!("{CORE}/Web_0.abc"),
            &[],
            Some(&renamed.to_string()),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.body["details"]["causes"][0]["field"],
        "involvedObject.namespace"
    );
}

#[tokio::test]
async fn unknown_fields_warn_or_fail_under_strict() {
    let env = standard().await;
    let c = env.client();
    let mut e = core_event("extra");
    e["foo"] = json!(1);
    e["involvedObject"]["bar"] = json!("x");
    let r = c.post(CORE, &e).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let warnings: Vec<&str> = r
        .headers
        .get_all("warning")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        warnings,
        vec![
            r#"299 - "unknown field \"foo\"""#,
            r#"299 - "unknown field \"involvedObject.bar\"""#
        ]
    );
    assert!(r.body.get("foo").is_none());
    assert!(r.body["involvedObject"].get("bar").is_none());

    e["metadata"]["name"] = json!("strict");
    let r = c
        .send(
            Method::POST,
            &format!("{CORE}?fieldValidation=Strict"),
            &[],
            Some(&e.to_string()),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["reason"], "BadRequest");
    assert_eq!(
        r.body["message"],
        "Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \"foo\", unknown field \"involvedObject.bar\""
    );
    assert_eq!(c.get(&format!("{CORE}/strict")).await.status, 404);

    // Patches too: the patched object is decoded like a body.
    let r = c
        .send(
            Method::PATCH,
            &format!("{CORE}/extra?fieldValidation=Strict"),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"zzz":1}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \"zzz\""
    );
    // Wrong JSON types read like Go's decoder.
    let mut wrong = core_event("wrong");
    wrong["count"] = json!("three");
    let r = c.post(CORE, &wrong).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["message"],
        "Event in version \"v1\" cannot be handled as a Event: json: cannot unmarshal string into Go struct field Event.count of type int32"
    );
}

#[tokio::test]
async fn objects_are_serialized_like_kube_apiserver() {
    let env = standard().await;
    let c = env.client();
    let mut e = core_event("shape");
    e["firstTimestamp"] = json!("2024-06-01T14:00:00+02:00");
    e["lastTimestamp"] = json!("2024-06-01T12:00:00.75Z");
    e["message"] = json!("");
    let r = c.post(CORE, &e).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut body = r.body.clone();
    let meta = body.as_object_mut().unwrap().remove("metadata").unwrap();
    assert_eq!(
        body,
        json!({
            "kind": "Event", "apiVersion": "v1",
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": "pod-shape", "apiVersion": "v1"},
            "reason": "R",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-06-01T12:00:00Z",
            "lastTimestamp": "2024-06-01T12:00:00Z",
            "count": 1, "type": "Normal",
            "eventTime": null,
            "reportingComponent": "",
            "reportingInstance": ""
        })
    );
    assert_eq!(meta["name"], "shape");
    assert!(meta["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    // Always-present fields lead nowhere special on the wire, but they are on it.
    let raw = String::from_utf8(r.raw.to_vec()).unwrap();
    assert!(raw.contains(r#""eventTime":null"#), "{raw}");
    assert!(raw.contains(r#""reportingInstance":"""#), "{raw}");
}

#[tokio::test]
async fn managed_fields_record_the_field_manager() {
    let env = standard().await;
    let c = env.client();
    let r = c
        .send(
            Method::POST,
            &format!("{CORE}?fieldManager=kubectl-create"),
            &[(
                "user-agent",
                "kubectl/v1.37.0 (linux/amd64) kubernetes/abcdef",
            )],
            Some(&core_event("managed").to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let entries = r.body["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["manager"], "kubectl-create");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["apiVersion"], "v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert!(entry["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        entry["fieldsV1"],
        json!({
            "f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {},
            "f:lastTimestamp": {}, "f:message": {}, "f:reason": {},
            "f:source": {"f:component": {}, "f:host": {}}, "f:type": {}
        })
    );

    // Without fieldManager: the user agent up to its first '/'.
    let r = c
        .send(
            Method::PATCH,
            &format!("{CORE}/managed"),
            &[
                ("content-type", "application/merge-patch+json"),
                (
                    "user-agent",
                    "kubectl/v1.37.0 (linux/amd64) kubernetes/abcdef",
                ),
            ],
            Some(r#"{"message":"patched"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let managers: Vec<(&str, Value)> = r.body["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["manager"].as_str().unwrap(), m["fieldsV1"].clone()))
        .collect();
    assert_eq!(managers.len(), 2);
    assert!(
        managers.contains(&("kubectl", json!({"f:message": {}}))),
        "{managers:?}"
    );
    // The message moved from kubectl-create to kubectl.
    let create = managers
        .iter()
        .find(|(m, _)| *m == "kubectl-create")
        .unwrap();
    assert!(create.1.get("f:message").is_none());
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_resource_version() {
    let env = standard().await;
    let c = env.client();
    let created = c.post(CORE, &core_event("same")).await.body;
    let rv = created["metadata"]["resourceVersion"].clone();
    let patch = |body: &'static str| {
        let c = &c;
        async move {
            c.send(
                Method::PATCH,
                &format!("{CORE}/same"),
                &[("content-type", "application/merge-patch+json")],
                Some(body),
            )
            .await
        }
    };
    let r = patch(r#"{"message":"message for same"}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["metadata"]["resourceVersion"], rv);
    assert_eq!(r.body, created);
    // A PUT of the object as read is no change either.
    let r = c
        .send(
            Method::PUT,
            &format!("{CORE}/same"),
            &[],
            Some(&created.to_string()),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["metadata"]["resourceVersion"], rv);
    let r = patch(r#"{"message":"other"}"#).await;
    assert_ne!(r.body["metadata"]["resourceVersion"], rv);
}
