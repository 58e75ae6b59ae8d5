//! mTLS, front-proxy authentication, fault injection, request recording and the admin API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::Method;
use serde_json::json;

#[tokio::test]
async fn refuses_clients_without_a_certificate() {
    let env = start().await;
    let tls = activity_standin::client_config(&env.certs.ca, None).unwrap();
    let client = Client::new(env.handle.main_addr(), tls);
    // With TLS 1.3 the refusal can surface at connect or on the first exchange.
    let r = client
        .try_send(Method::GET, &ns_path("default"), &[], None)
        .await;
    assert!(r.is_err(), "request without client certificate must fail");
    assert!(env.admin().requests().await.is_empty());
}

#[tokio::test]
async fn refuses_client_certificates_from_another_ca() {
    let env = start().await;
    let other = tempfile::tempdir().unwrap();
    let other_certs = activity_standin::generate_certs(other.path(), "activity", false).unwrap();
    let tls = activity_standin::client_config(
        &env.certs.ca,
        Some((&other_certs.client, &other_certs.client_key)),
    )
    .unwrap();
    let client = Client::new(env.handle.main_addr(), tls);
    let r = client
        .try_send(Method::GET, &ns_path("default"), &[], None)
        .await;
    assert!(
        r.is_err(),
        "client certificate from another CA must be refused"
    );
    assert!(env.admin().requests().await.is_empty());
    // The right certificate still works.
    assert_eq!(env.client().get(&ns_path("default")).await.status, 200);
}

#[tokio::test]
async fn missing_or_empty_remote_user_is_401() {
    let env = start().await;
    let mut c = env.client();
    c.identity = vec![("X-Remote-Group".into(), "g".into())];
    let r = c.get(&ns_path("default")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["kind"], "Status");
    assert_eq!(r.body["reason"], "Unauthorized");
    assert_eq!(r.body["code"], 401);
    c.identity = vec![("X-Remote-User".into(), "".into())];
    assert_eq!(c.get(&ns_path("default")).await.status, 401);
}

#[tokio::test]
async fn allowed_client_names_gate_the_identity_headers() {
    let env = start_with(|c| c.allowed_client_names = vec!["someone-else".into()]).await;
    assert_eq!(env.client().get(&ns_path("default")).await.status, 401);
    let env =
        start_with(|c| c.allowed_client_names = vec![activity_standin::CLIENT_CN.into()]).await;
    assert_eq!(env.client().get(&ns_path("default")).await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_are_status_errors() {
    let env = start().await;
    let c = env.client();
    let r = c.get("/apis/other.group/v1/things").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["reason"], "NotFound");
    let r = c
        .send(Method::POST, &format!("{PREFIX}/events"), &[], Some("{}"))
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.body["reason"], "MethodNotAllowed");
    let r = c
        .send(
            Method::POST,
            &format!("{}/x", ns_path("default")),
            &[],
            Some("{}"),
        )
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn records_requests_with_headers_body_cn_and_status() {
    let env = start().await;
    let c = env.client();
    let body = event("rec-1", "Started");
    let r = c
        .send(
            Method::POST,
            &format!("{}?fieldManager=test", ns_path("default")),
            &[
                ("X-Remote-Group", "second"),
                ("X-Remote-Extra-Scopes", "a"),
                ("x-remote-extra-scopes", "b"),
            ],
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 201);
    let reqs = env.admin().requests().await;
    assert_eq!(reqs.len(), 1);
    let rec = &reqs[0];
    assert_eq!(rec["method"], "POST");
    assert_eq!(
        rec["path"],
        format!("{}?fieldManager=test", ns_path("default"))
    );
    assert_eq!(rec["headers"]["x-remote-user"], json!(["admin"]));
    assert_eq!(
        rec["headers"]["x-remote-group"],
        json!(["system:masters", "second"])
    );
    assert_eq!(rec["headers"]["x-remote-extra-scopes"], json!(["a", "b"]));
    assert_eq!(rec["clientCn"], "envoy-front-proxy");
    assert_eq!(rec["status"], 201);
    assert_eq!(rec["bodyBase64"], false);
    let sent: serde_json::Value = serde_json::from_str(rec["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent, body);
    assert!(rec["fault"].is_null());

    let r = env.admin().send(Method::DELETE, "/requests", None).await;
    assert_eq!(r.status, 200);
    assert!(env.admin().requests().await.is_empty());
}

#[tokio::test]
async fn status_faults_then_success() {
    let env = start().await;
    let admin = env.admin();
    admin
        .fault(r#"{"action":"status","status":503,"count":2}"#)
        .await;
    let pending = admin.send(Method::GET, "/faults", None).await;
    assert_eq!(pending.body[0]["count"], 2);
    let c = env.client();
    for _ in 0..2 {
        let r = c.get(&ns_path("default")).await;
        assert_eq!(r.status, 503);
        assert_eq!(r.body["kind"], "Status");
        assert_eq!(r.body["reason"], "ServiceUnavailable");
        assert_eq!(r.body["code"], 503);
    }
    assert_eq!(c.get(&ns_path("default")).await.status, 200);
    let reqs = admin.requests().await;
    let faults: Vec<_> = reqs
        .iter()
        .map(|r| (r["fault"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        faults,
        vec![
            (json!("status"), json!(503)),
            (json!("status"), json!(503)),
            (json!(null), json!(200))
        ]
    );
    // Other codes and a filtered fault.
    admin
        .fault(r#"[{"action":"status","status":429,"method":"POST"},{"action":"status","status":500}]"#)
        .await;
    assert_eq!(c.get(&ns_path("default")).await.status, 500);
    let r = c.post(&ns_path("default"), &event("f1", "R")).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.body["reason"], "TooManyRequests");
    assert_eq!(
        c.post(&ns_path("default"), &event("f1", "R")).await.status,
        201
    );
    // Faults can be cleared.
    admin.fault(r#"{"action":"status","status":409}"#).await;
    assert_eq!(
        admin.send(Method::DELETE, "/faults", None).await.status,
        200
    );
    assert_eq!(c.get(&ns_path("default")).await.status, 200);
    // Bad fault specs are rejected.
    assert_eq!(
        admin
            .send(Method::POST, "/faults", Some(r#"{"action":"nope"}"#))
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .send(
                Method::POST,
                "/faults",
                Some(r#"{"action":"status","status":200}"#)
            )
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn reset_fault_drops_the_connection_without_answering() {
    let env = start().await;
    env.admin().fault(r#"{"action":"reset","count":1}"#).await;
    let c = env.client();
    let r = c
        .try_send(Method::GET, &ns_path("default"), &[], None)
        .await;
    assert!(
        r.is_err(),
        "expected a transport error, got {:?}",
        r.map(|r| r.status)
    );
    assert_eq!(c.get(&ns_path("default")).await.status, 200);
    let reqs = env.admin().requests().await;
    assert_eq!(reqs[0]["fault"], "reset");
    assert!(reqs[0]["status"].is_null());
    assert_eq!(reqs[1]["status"], 200);
}

#[tokio::test]
async fn delay_fault_sleeps_then_answers() {
    let env = start().await;
    env.admin()
        .fault(r#"{"action":"delay","millis":700,"count":1}"#)
        .await;
    let c = env.client();
    let t = Instant::now();
    let r = c.get(&ns_path("default")).await;
    assert_eq!(r.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(700));
    let t = Instant::now();
    assert_eq!(c.get(&ns_path("default")).await.status, 200);
    assert!(t.elapsed() < Duration::from_millis(700));
    assert_eq!(env.admin().requests().await[0]["fault"], "delay");
}

#[tokio::test]
async fn admin_dump_seed_info_and_reset() {
    let env = start().await;
    let admin = env.admin();
    assert_eq!(admin.send(Method::GET, "/healthz", None).await.status, 200);
    let info = admin.send(Method::GET, "/info", None).await.body;
    assert_eq!(info["prefix"], PREFIX);
    assert_eq!(info["mainAddr"], env.handle.main_addr().to_string());

    let seeded = json!([
        {"metadata": {"namespace": "a", "name": "s1"}, "reason": "Seeded"},
        scoped(json!({"metadata": {"namespace": "b", "name": "s2"}, "reason": "Seeded"}), "Organization", "acme"),
    ]);
    let r = admin
        .send(Method::POST, "/events", Some(&seeded.to_string()))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body[0]["apiVersion"], "activity.miloapis.com/v1alpha1");
    assert!(r.body[0]["metadata"]["uid"].is_string());
    assert_eq!(r.body[1]["metadata"]["resourceVersion"], "2");

    env.client()
        .post(&ns_path("c"), &event("c1", "Created"))
        .await;
    let all = admin.send(Method::GET, "/events", None).await.body;
    let names: Vec<_> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("s1"), json!("s2"), json!("c1")]);
    assert_eq!(env.handle.events().len(), 3);

    admin.fault(r#"{"action":"status","status":503}"#).await;
    assert_eq!(admin.send(Method::POST, "/reset", None).await.status, 200);
    assert_eq!(
        admin.send(Method::GET, "/events", None).await.body,
        json!([])
    );
    assert!(admin.requests().await.is_empty());
    assert_eq!(
        admin.send(Method::GET, "/faults", None).await.body,
        json!([])
    );
    assert_eq!(admin.send(Method::GET, "/nope", None).await.status, 404);
    assert_eq!(
        admin
            .send(Method::POST, "/events", Some("{\"metadata\":{}}"))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn shutdown_stops_both_ports() {
    let env = start().await;
    let main = env.handle.main_addr();
    let admin = env.handle.admin_addr();
    env.handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(main).await.is_err());
    assert!(tokio::net::TcpStream::connect(admin).await.is_err());
}
