//! The events resource: CRUD, patches, lists and pagination, selectors, scope and Tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use http::Method;
use serde_json::{json, Value};

const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

fn item(ns: &str, name: &str) -> String {
    format!("{}/{name}", ns_path(ns))
}

#[tokio::test]
async fn create_get_update_delete() {
    let env = start().await;
    let c = env.client();

    let r = c.post(&ns_path("default"), &event("e1", "Started")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.body;
    assert_eq!(created["apiVersion"], "activity.miloapis.com/v1alpha1");
    assert_eq!(created["kind"], "Event");
    assert_eq!(created["metadata"]["namespace"], "default");
    assert!(created["metadata"]["uid"].as_str().unwrap().len() >= 32);
    assert!(created["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    let rv1 = created["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let r = c.get(&item("default", "e1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, created);
    assert_eq!(r.headers["content-type"], "application/json");

    // Duplicate name.
    let r = c.post(&ns_path("default"), &event("e1", "Started")).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["reason"], "AlreadyExists");

    // Update with the current resourceVersion.
    let mut upd = created.clone();
    upd["message"] = json!("updated");
    let r = c
        .send(
            Method::PUT,
            &item("default", "e1"),
            &[],
            Some(&upd.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message"], "updated");
    assert_eq!(r.body["metadata"]["uid"], created["metadata"]["uid"]);
    assert_ne!(r.body["metadata"]["resourceVersion"], json!(rv1));

    // Stale resourceVersion conflicts.
    let r = c
        .send(
            Method::PUT,
            &item("default", "e1"),
            &[],
            Some(&upd.to_string()),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["reason"], "Conflict");

    // Name in body must match the URL.
    let mut other = upd.clone();
    other["metadata"]["name"] = json!("e2");
    other["metadata"]["resourceVersion"] = json!(null);
    let r = c
        .send(
            Method::PUT,
            &item("default", "e1"),
            &[],
            Some(&other.to_string()),
        )
        .await;
    assert_eq!(r.status, 400);

    // Delete answers a Success Status.
    let r = c
        .send(Method::DELETE, &item("default", "e1"), &[], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
               "details": {"name": "e1", "group": "activity.miloapis.com", "kind": "events", "uid": created["metadata"]["uid"]}})
    );
    let r = c.get(&item("default", "e1")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["reason"], "NotFound");
    assert_eq!(r.body["details"]["name"], "e1");
    assert_eq!(r.body["details"]["kind"], "events");
    assert_eq!(
        c.send(Method::DELETE, &item("default", "e1"), &[], None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn create_validation() {
    let env = start().await;
    let c = env.client();

    let mut e = event("x", "R");
    e["metadata"] = json!({});
    let r = c.post(&ns_path("default"), &e).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["reason"], "Invalid");
    assert_eq!(r.body["details"]["causes"][0]["field"], "metadata.name");

    e["metadata"] = json!({"generateName": "gen-"});
    let r = c.post(&ns_path("default"), &e).await;
    assert_eq!(r.status, 201);
    let name = r.body["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    e["metadata"] = json!({"name": "x", "namespace": "elsewhere"});
    let r = c.post(&ns_path("default"), &e).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["reason"], "BadRequest");

    e["metadata"] = json!({"name": "Not_Valid"});
    assert_eq!(c.post(&ns_path("default"), &e).await.status, 422);

    let mut v1 = event("v1e", "R");
    v1["apiVersion"] = json!("v1");
    let r = c.post(&ns_path("default"), &v1).await;
    assert_eq!(r.status, 400);
    assert!(r.body["message"]
        .as_str()
        .unwrap()
        .contains("does not match the expected API version"));

    let r = c
        .send(Method::POST, &ns_path("default"), &[], Some("{not json"))
        .await;
    assert_eq!(r.status, 400);

    let r = c
        .send(
            Method::POST,
            &ns_path("default"),
            &[("content-type", "application/yaml")],
            Some("a: b"),
        )
        .await;
    assert_eq!(r.status, 415);

    // dryRun=All does not persist.
    let r = c
        .post(
            &format!("{}?dryRun=All", ns_path("default")),
            &event("dry", "R"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(c.get(&item("default", "dry")).await.status, 404);
}

#[tokio::test]
async fn patch_types() {
    let env = start().await;
    let c = env.client();
    let created = c
        .post(&ns_path("default"), &event("p1", "Started"))
        .await
        .body;

    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"message":"merged","metadata":{"labels":{"a":"1"}}}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["message"], "merged");
    assert_eq!(r.body["metadata"]["labels"]["a"], "1");
    assert_eq!(r.body["reason"], "Started");

    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/strategic-merge-patch+json")],
            Some(r#"{"count":5,"metadata":{"labels":{"$patch":"replace","b":"2"}}}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["count"], 5);
    assert_eq!(r.body["metadata"]["labels"], json!({"b": "2"}));

    let r = c
        .send(Method::PATCH, &item("default", "p1"), &[("content-type", "application/json-patch+json")],
              Some(r#"[{"op":"replace","path":"/reason","value":"Patched"},{"op":"add","path":"/action","value":"Act"}]"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["reason"], "Patched");
    assert_eq!(r.body["action"], "Act");
    assert_eq!(r.body["metadata"]["uid"], created["metadata"]["uid"]);
    assert_eq!(
        r.body["metadata"]["creationTimestamp"],
        created["metadata"]["creationTimestamp"]
    );

    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/json")],
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.body["reason"], "UnsupportedMediaType");

    // Identity fields cannot change.
    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"metadata":{"uid":"other"}}"#),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"metadata":{"name":"renamed"}}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"metadata":{"namespace":"other"}}"#),
        )
        .await;
    assert_eq!(r.status, 400);
    // A stale resourceVersion in the patch is a precondition.
    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"metadata":{"resourceVersion":"1"}}"#),
        )
        .await;
    assert_eq!(r.status, 409);
    // JSON patch that cannot apply.
    let r = c
        .send(
            Method::PATCH,
            &item("default", "p1"),
            &[("content-type", "application/json-patch+json")],
            Some(r#"[{"op":"remove","path":"/nope"}]"#),
        )
        .await;
    assert_eq!(r.status, 422);
    // Missing object.
    let r = c
        .send(
            Method::PATCH,
            &item("default", "nope"),
            &[("content-type", "application/merge-patch+json")],
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn list_and_paginate() {
    let env = start().await;
    let c = env.client();
    for (ns, name) in [
        ("a", "e1"),
        ("a", "e2"),
        ("a", "e3"),
        ("b", "e4"),
        ("b", "e5"),
    ] {
        assert_eq!(c.post(&ns_path(ns), &event(name, "R")).await.status, 201);
    }
    let r = c.get(&ns_path("a")).await;
    assert_eq!(r.body["kind"], "EventList");
    assert_eq!(r.body["apiVersion"], "activity.miloapis.com/v1alpha1");
    assert_eq!(r.body["metadata"]["resourceVersion"], "5");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3);

    let all = c.get(&format!("{PREFIX}/events")).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 5);

    // Paginate across namespaces two at a time; a change between pages does not leak in.
    let mut names = Vec::new();
    let mut cont = String::new();
    let mut pages = 0;
    loop {
        let url = format!("{PREFIX}/events?limit=2&continue={cont}");
        let r = c.get(&url).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["metadata"]["resourceVersion"], "5");
        for i in r.body["items"].as_array().unwrap() {
            names.push(i["metadata"]["name"].as_str().unwrap().to_string());
        }
        pages += 1;
        if pages == 1 {
            assert_eq!(r.body["metadata"]["remainingItemCount"], 3);
            c.post(&ns_path("a"), &event("e0", "R")).await;
        }
        match r.body["metadata"]["continue"].as_str() {
            Some(t) => cont = t.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, vec!["e1", "e2", "e3", "e4", "e5"]);

    let r = c
        .get(&format!("{PREFIX}/events?limit=2&continue=garbage"))
        .await;
    assert_eq!(r.status, 400);

    // Exact resourceVersion reads the past.
    let r = c
        .get(&format!(
            "{}?resourceVersion=3&resourceVersionMatch=Exact",
            ns_path("a")
        ))
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(r.body["metadata"]["resourceVersion"], "3");
}

#[tokio::test]
async fn field_and_label_selectors() {
    let env = start().await;
    let c = env.client();
    let mut w = event("warn", "BackOff");
    w["type"] = json!("Warning");
    w["involvedObject"]["kind"] = json!("Deployment");
    w["metadata"]["labels"] = json!({"app": "web"});
    c.post(&ns_path("default"), &w).await;
    c.post(&ns_path("default"), &event("norm", "Started")).await;

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let q = |s: &str| format!("{}?fieldSelector={s}", ns_path("default"));
    assert_eq!(names(&c.get(&q("type%3DWarning")).await.body), vec!["warn"]);
    assert_eq!(
        names(&c.get(&q("type!%3DWarning")).await.body),
        vec!["norm"]
    );
    assert_eq!(
        names(
            &c.get(&q("involvedObject.kind%3DPod,reason%3D%3DStarted"))
                .await
                .body
        ),
        vec!["norm"]
    );
    assert_eq!(
        names(
            &c.get(&q("source%3Dkubelet,metadata.name%3Dwarn"))
                .await
                .body
        ),
        vec!["warn"]
    );
    assert_eq!(
        names(&c.get(&q("involvedObject.name%3Dpod-norm")).await.body),
        vec!["norm"]
    );
    let r = c.get(&q("foo%3Dbar")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["reason"], "BadRequest");
    assert_eq!(r.body["message"], "field label not supported: foo");

    let l = |s: &str| format!("{}?labelSelector={s}", ns_path("default"));
    assert_eq!(names(&c.get(&l("app%3Dweb")).await.body), vec!["warn"]);
    assert_eq!(names(&c.get(&l("!app")).await.body), vec!["norm"]);
    assert_eq!(names(&c.get(&l("app")).await.body), vec!["warn"]);
}

#[tokio::test]
async fn scope_visibility() {
    let env = start().await;
    let platform = env.client();
    let acme = env.client().tenant("Organization", "acme");
    let globex = env.client().tenant("Organization", "globex");

    // Create stores the body as received, annotations included.
    let r = acme
        .post(
            &ns_path("default"),
            &scoped(event("acme-1", "R"), "Organization", "acme"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.body["metadata"]["annotations"]["platform.miloapis.com/scope.name"],
        "acme"
    );
    platform
        .post(
            &ns_path("default"),
            &scoped(event("globex-1", "R"), "Organization", "globex"),
        )
        .await;
    platform
        .post(&ns_path("default"), &event("unscoped", "R"))
        .await;

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&platform.get(&ns_path("default")).await.body).len(),
        3
    );
    assert_eq!(
        names(&acme.get(&ns_path("default")).await.body),
        vec!["acme-1"]
    );
    assert_eq!(
        names(&globex.get(&format!("{PREFIX}/events")).await.body),
        vec!["globex-1"]
    );

    // Out-of-scope objects are indistinguishable from missing ones.
    let r = acme.get(&item("default", "globex-1")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.body["message"],
        "events.activity.miloapis.com \"globex-1\" not found"
    );
    assert_eq!(
        acme.send(Method::DELETE, &item("default", "globex-1"), &[], None)
            .await
            .status,
        404
    );
    let r = acme
        .send(
            Method::PATCH,
            &item("default", "globex-1"),
            &[("content-type", "application/merge-patch+json")],
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, 404);
    let body = scoped(event("globex-1", "R"), "Organization", "acme").to_string();
    assert_eq!(
        acme.send(Method::PUT, &item("default", "globex-1"), &[], Some(&body))
            .await
            .status,
        404
    );
    assert_eq!(acme.get(&item("default", "acme-1")).await.status, 200);
    assert_eq!(platform.get(&item("default", "globex-1")).await.status, 200);
    assert_eq!(
        acme.send(Method::DELETE, &item("default", "acme-1"), &[], None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn table_responses() {
    let env = start().await;
    let c = env.client();
    c.post(&ns_path("default"), &event("t1", "Started")).await;
    c.post(&ns_path("default"), &event("t2", "Pulled")).await;

    let r = c
        .send(
            Method::GET,
            &ns_path("default"),
            &[("accept", TABLE_ACCEPT)],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let t = &r.body;
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(t["metadata"]["resourceVersion"], "2");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        vec![
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    let prios: Vec<i64> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(prios, vec![0, 0, 0, 0, 1, 1, 0, 1, 1, 1]);
    let row = &t["rows"][0];
    assert_eq!(row["cells"][1], "Normal");
    assert_eq!(row["cells"][2], "Started");
    assert_eq!(row["cells"][3], "pod/pod-t1");
    assert_eq!(row["cells"][5], "kubelet, node-1");
    assert_eq!(row["cells"][8], 1);
    assert_eq!(row["cells"][9], "t1");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(row["object"]["metadata"]["name"], "t1");

    let r = c
        .send(
            Method::GET,
            &format!("{}?includeObject=Object", ns_path("default")),
            &[("accept", TABLE_ACCEPT)],
            None,
        )
        .await;
    assert_eq!(r.body["rows"][1]["object"]["kind"], "Event");
    assert_eq!(r.body["rows"][1]["object"]["reason"], "Pulled");
    let r = c
        .send(
            Method::GET,
            &format!("{}?includeObject=None", ns_path("default")),
            &[("accept", TABLE_ACCEPT)],
            None,
        )
        .await;
    assert!(r.body["rows"][0]["object"].is_null());

    let r = c
        .send(
            Method::GET,
            &item("default", "t2"),
            &[("accept", TABLE_ACCEPT)],
            None,
        )
        .await;
    assert_eq!(r.body["kind"], "Table");
    assert_eq!(r.body["rows"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["metadata"]["resourceVersion"], "2");

    let r = c
        .send(
            Method::GET,
            &ns_path("default"),
            &[("accept", "application/vnd.kubernetes.protobuf")],
            None,
        )
        .await;
    assert_eq!(r.status, 406);
}

#[tokio::test]
async fn standard_paths_mode_serves_v1() {
    let env = start_with(|c| c.prefix = "/api/v1".into()).await;
    let c = env.client();
    let mut e = event("core", "R");
    e["apiVersion"] = json!("v1");
    let r = c.post("/api/v1/namespaces/default/events", &e).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["apiVersion"], "v1");
    let r = c.get("/api/v1/events").await;
    assert_eq!(r.body["apiVersion"], "v1");
    assert_eq!(r.body["kind"], "EventList");
    let r = c.get("/api/v1/namespaces/default/events/missing").await;
    assert_eq!(r.body["message"], "events \"missing\" not found");
    assert_eq!(c.get(&ns_path("default")).await.status, 404);
}

#[tokio::test]
async fn delete_collection_and_preconditions() {
    let env = start().await;
    let c = env.client();
    let e1 = c.post(&ns_path("default"), &event("d1", "A")).await.body;
    c.post(&ns_path("default"), &event("d2", "B")).await;
    c.post(&ns_path("other"), &event("d3", "A")).await;

    let pre =
        json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "wrong"}});
    let r = c
        .send(
            Method::DELETE,
            &item("default", "d1"),
            &[],
            Some(&pre.to_string()),
        )
        .await;
    assert_eq!(r.status, 409);
    let pre = json!({"preconditions": {"uid": e1["metadata"]["uid"]}});
    assert_eq!(
        c.send(
            Method::DELETE,
            &item("default", "d1"),
            &[],
            Some(&pre.to_string())
        )
        .await
        .status,
        200
    );

    let r = c
        .send(
            Method::DELETE,
            &format!("{}?fieldSelector=reason%3DB", ns_path("default")),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"][0]["metadata"]["name"], "d2");
    assert_eq!(
        c.get(&format!("{PREFIX}/events")).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
