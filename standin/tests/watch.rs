//! Watch streams: framing, initial state, replay from a resourceVersion, live changes,
//! selectors, scope, bookmarks, timeouts and Table encoding.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use http::Method;
use serde_json::json;

const SHORT: Duration = Duration::from_millis(400);

#[tokio::test]
async fn watch_sends_current_state_then_live_changes() {
    let env = start().await;
    let c = env.client();
    c.post(&ns_path("default"), &event("before", "R")).await;

    let mut w = c
        .watch(&format!("{}?watch=true", ns_path("default")), &[])
        .await;
    assert_eq!(w.status, 200);
    assert_eq!(w.headers["content-type"], "application/json");
    assert_eq!(w.headers["transfer-encoding"], "chunked");
    let first = w.next(WAIT).await.unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["metadata"]["name"], "before");
    // Kubernetes' field order: type first, then the object led by kind and apiVersion.
    assert!(
        w.last_raw
            .starts_with(r#"{"type":"ADDED","object":{"kind":"Event","apiVersion":"#),
        "{}",
        w.last_raw
    );
    assert_eq!(
        first["object"]["apiVersion"],
        "activity.miloapis.com/v1alpha1"
    );

    let created = c.post(&ns_path("default"), &event("live", "R")).await.body;
    let added = w.next(WAIT).await.unwrap();
    assert_eq!(added["type"], "ADDED");
    assert_eq!(added["object"]["metadata"]["name"], "live");

    let r = c
        .send(
            Method::PATCH,
            &format!("{}/live", ns_path("default")),
            &[("content-type", "application/merge-patch+json")],
            Some(r#"{"message":"changed"}"#),
        )
        .await;
    assert_eq!(r.status, 200);
    let modified = w.next(WAIT).await.unwrap();
    assert_eq!(modified["type"], "MODIFIED");
    assert_eq!(modified["object"]["message"], "changed");
    assert_eq!(
        modified["object"]["metadata"]["resourceVersion"],
        r.body["metadata"]["resourceVersion"]
    );

    c.send(
        Method::DELETE,
        &format!("{}/live", ns_path("default")),
        &[],
        None,
    )
    .await;
    let deleted = w.next(WAIT).await.unwrap();
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(deleted["object"]["message"], "changed");
    assert_eq!(
        deleted["object"]["metadata"]["uid"],
        created["metadata"]["uid"]
    );

    // Other namespaces are not seen; one event per chunk.
    c.post(&ns_path("other"), &event("elsewhere", "R")).await;
    assert!(w.next(SHORT).await.is_none());
    assert_eq!(w.frames, 4);
}

#[tokio::test]
async fn watch_from_a_list_resource_version_replays_changes() {
    let env = start().await;
    let c = env.client();
    c.post(&ns_path("default"), &event("old", "R")).await;
    let list = c.get(&ns_path("default")).await.body;
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    c.post(&ns_path("default"), &event("new1", "R")).await;
    c.send(
        Method::DELETE,
        &format!("{}/old", ns_path("default")),
        &[],
        None,
    )
    .await;

    let mut w = c
        .watch(
            &format!("{PREFIX}/events?watch=1&resourceVersion={rv}"),
            &[],
        )
        .await;
    let e1 = w.next(WAIT).await.unwrap();
    assert_eq!(
        (
            e1["type"].as_str(),
            e1["object"]["metadata"]["name"].as_str()
        ),
        (Some("ADDED"), Some("new1"))
    );
    let e2 = w.next(WAIT).await.unwrap();
    assert_eq!(
        (
            e2["type"].as_str(),
            e2["object"]["metadata"]["name"].as_str()
        ),
        (Some("DELETED"), Some("old"))
    );
    assert!(w.next(SHORT).await.is_none());
    c.post(&ns_path("x"), &event("later", "R")).await;
    let e3 = w.next(WAIT).await.unwrap();
    assert_eq!(e3["object"]["metadata"]["name"], "later");
}

#[tokio::test]
async fn watch_respects_field_selectors_and_scope() {
    let env = start().await;
    let c = env.client();
    let acme = env.client().tenant("Organization", "acme");
    let mut w = acme
        .watch(
            &format!("{PREFIX}/events?watch=true&fieldSelector=reason%3DWanted"),
            &[],
        )
        .await;
    c.post(
        &ns_path("a"),
        &scoped(event("other-tenant", "Wanted"), "Organization", "globex"),
    )
    .await;
    c.post(
        &ns_path("a"),
        &scoped(event("wrong-reason", "Nope"), "Organization", "acme"),
    )
    .await;
    c.post(
        &ns_path("b"),
        &scoped(event("mine", "Wanted"), "Organization", "acme"),
    )
    .await;
    let e = w.next(WAIT).await.unwrap();
    assert_eq!(e["type"], "ADDED");
    assert_eq!(e["object"]["metadata"]["name"], "mine");
    // Leaving the selection reads as DELETED.
    c.send(
        Method::PATCH,
        &format!("{}/mine", ns_path("b")),
        &[("content-type", "application/merge-patch+json")],
        Some(r#"{"reason":"Changed"}"#),
    )
    .await;
    let e = w.next(WAIT).await.unwrap();
    assert_eq!(e["type"], "DELETED");
    assert_eq!(e["object"]["reason"], "Wanted");
    assert!(w.next(SHORT).await.is_none());

    let bad = c
        .watch(
            &format!("{PREFIX}/events?watch=true&fieldSelector=nope%3D1"),
            &[],
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn bookmarks_and_timeout() {
    let env = start().await;
    let c = env.client();
    c.post(&ns_path("default"), &event("e", "R")).await;
    let mut w = c
        .watch(
            &format!(
                "{}?watch=true&allowWatchBookmarks=true&resourceVersion=1&timeoutSeconds=2",
                ns_path("default")
            ),
            &[],
        )
        .await;
    let b = w.next(WAIT).await.unwrap();
    assert_eq!(b["type"], "BOOKMARK");
    assert_eq!(
        b["object"],
        json!({"kind": "Event", "apiVersion": "activity.miloapis.com/v1alpha1", "metadata": {"resourceVersion": "1"}})
    );
    c.post(&ns_path("elsewhere"), &event("x", "R")).await;
    // Bookmarks advance even when the change itself is filtered out.
    let mut saw_two = false;
    for _ in 0..5 {
        match w.next(WAIT).await {
            Some(b) if b["object"]["metadata"]["resourceVersion"] == "2" => {
                saw_two = true;
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(saw_two);
    assert!(
        w.ended(Duration::from_secs(4)).await,
        "timeoutSeconds must end the stream"
    );

    let mut plain = c
        .watch(
            &format!("{}?watch=true&timeoutSeconds=1", ns_path("default")),
            &[],
        )
        .await;
    assert_eq!(plain.next(WAIT).await.unwrap()["type"], "ADDED");
    assert!(plain.next(Duration::from_millis(700)).await.is_none());
}

#[tokio::test]
async fn table_watch_like_kubectl_get_w() {
    let env = start().await;
    let c = env.client();
    c.post(&ns_path("default"), &event("t1", "Started")).await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let mut w = c
        .watch(
            &format!("{}?watch=true&resourceVersion=0", ns_path("default")),
            &[("accept", accept)],
        )
        .await;
    let first = w.next(WAIT).await.unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(first["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        first["object"]["columnDefinitions"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    assert_eq!(first["object"]["rows"][0]["cells"][9], "t1");
    assert_eq!(
        first["object"]["rows"][0]["object"]["kind"],
        "PartialObjectMetadata"
    );
    c.post(&ns_path("default"), &event("t2", "Pulled")).await;
    let second = w.next(WAIT).await.unwrap();
    assert_eq!(second["object"]["kind"], "Table");
    assert!(second["object"]["columnDefinitions"].is_null());
    assert_eq!(second["object"]["rows"][0]["cells"][2], "Pulled");
    assert_eq!(second["object"]["metadata"]["resourceVersion"], "2");
}

#[tokio::test]
async fn legacy_watch_path_and_expired_resource_version() {
    let env = start().await;
    let c = env.client();
    c.post(&ns_path("default"), &event("a", "R")).await;
    c.post(&ns_path("default"), &event("b", "R")).await;
    let mut w = c
        .watch(&format!("{PREFIX}/watch/namespaces/default/events/b"), &[])
        .await;
    let e = w.next(WAIT).await.unwrap();
    assert_eq!(e["object"]["metadata"]["name"], "b");
    assert!(w.next(SHORT).await.is_none());

    // The store reset ends open watches; a resourceVersion from before it is expired.
    env.admin().send(Method::POST, "/reset", None).await;
    assert!(w.ended(WAIT).await);
    let mut w = c
        .watch(
            &format!("{}?watch=true&resourceVersion=1", ns_path("default")),
            &[],
        )
        .await;
    assert_eq!(w.status, 200);
    let e = w.next(WAIT).await.unwrap();
    assert_eq!(e["type"], "ERROR");
    assert_eq!(e["object"]["code"], 410);
    assert_eq!(e["object"]["reason"], "Expired");
    assert!(w.ended(WAIT).await);
}
