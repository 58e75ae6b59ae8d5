//! The sandbox over plain HTTPS requests (no kubectl): authentication, spoofing, retries,
//! timeouts and mTLS, through the real Envoy with jwt_authn and the built filter.

use activity_e2e::sandbox::{Options, Sandbox, ACTIVITY_PREFIX};
use anyhow::Result;
use serde_json::{json, Value};

fn event(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "test-pod", "namespace": "default"},
        "reason": "Testing", "message": "retry test", "type": "Normal",
        "source": {"component": "e2e"}
    })
}

async fn create(s: &Sandbox, user: &str, name: &str) -> Result<reqwest::Response> {
    Ok(s.http()
        .post(format!("{}/api/v1/namespaces/default/events", s.url()?))
        .bearer_auth(s.token(user)?)
        .json(&event(name))
        .send()
        .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_401_and_nothing_reaches_activity() -> Result<()> {
    let s = Sandbox::start("http-401", Options::default()).await?;
    for token in [
        None,
        Some("not-a-jwt"),
        Some("eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ."),
    ] {
        let mut req = s
            .http()
            .get(format!("{}/api/v1/namespaces/default/events", s.url()?));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        assert_eq!(resp.status(), 401, "token {token:?}");
        let body: Value = resp.json().await?;
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "Unauthorized");
    }
    assert!(s.received().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn spoofed_identity_headers_never_reach_activity() -> Result<()> {
    let s = Sandbox::start("http-spoof", Options::default()).await?;
    let resp = s
        .http()
        .get(format!("{}/api/v1/namespaces/default/events", s.url()?))
        .bearer_auth(s.token("org")?)
        .header("X-Remote-User", "mallory")
        .header("x-REMOTE-group", "system:masters")
        .header("X-Remote-Uid", "0")
        .header("X-Remote-Extra-Iam.Miloapis.Com%2FParent-Name", "victim")
        .header("x-remote-extra-iam.miloapis.com%2fparent-type", "Platform")
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let received = s.received_events().await?;
    assert_eq!(received.len(), 1);
    let h = &received[0]["headers"];
    assert_eq!(h["x-remote-user"], json!(["alice@acme.example"]));
    assert_eq!(h["x-remote-uid"], json!(["uid-alice"]));
    assert_eq!(
        h["x-remote-group"],
        json!(["system:authenticated", "acme-members"])
    );
    assert_eq!(
        h["x-remote-extra-iam.miloapis.com%2fparent-name"],
        json!(["acme"])
    );
    assert_eq!(
        h["x-remote-extra-iam.miloapis.com%2fparent-type"],
        json!(["Organization"])
    );
    let remote: Vec<&String> = h
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("x-remote-"))
        .collect();
    assert_eq!(remote.len(), 6, "{remote:?}");
    assert!(
        h.get("authorization").is_none(),
        "bearer token forwarded to Activity"
    );
    assert_eq!(
        received[0]["path"],
        format!("{ACTIVITY_PREFIX}/namespaces/default/events")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_into_exactly_one_event() -> Result<()> {
    let s = Sandbox::start("http-retry", Options::default()).await?;
    // Only answers that say the write was not processed are retried (503 with Retry-After,
    // 429); resets and plain 503s are not (e2e/tests/soak.rs).
    for (i, fault) in [
        json!({"action": "status", "status": 503, "retryAfter": 1}),
        json!({"action": "status", "status": 429}),
        json!([{"action": "status", "status": 503, "retryAfter": 1}, {"action": "status", "status": 429}]),
    ]
    .into_iter()
    .enumerate()
    {
        s.clear_received().await?;
        s.fault(fault.clone()).await?;
        let name = format!("retry-{i}");
        let resp = create(&s, "org", &name).await?;
        assert_eq!(resp.status(), 201, "{fault}: {}", resp.text().await?);
        let attempts = s.received_events().await?;
        let expected = fault.as_array().map_or(2, |a| a.len() + 1);
        assert_eq!(attempts.len(), expected, "{fault}: {attempts:#?}");
        let stored: Vec<Value> = s
            .stored()
            .await?
            .into_iter()
            .filter(|e| e["metadata"]["name"] == name.as_str())
            .collect();
        assert_eq!(stored.len(), 1, "{fault}");
        assert_eq!(
            stored[0]["metadata"]["annotations"]["platform.miloapis.com/scope.name"],
            "acme"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn permanent_failures_are_not_retried() -> Result<()> {
    let s = Sandbox::start("http-no-retry", Options::default()).await?;
    for status in [400, 403, 404, 409, 422] {
        s.clear_received().await?;
        s.fault(json!({"action": "status", "status": status}))
            .await?;
        let resp = create(&s, "admin", &format!("no-retry-{status}")).await?;
        assert_eq!(resp.status().as_u16(), status);
        assert_eq!(
            s.received_events().await?.len(),
            1,
            "status {status} was retried"
        );
    }
    assert!(s.stored().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_activity_times_out_with_504() -> Result<()> {
    let options = Options {
        request_timeout: "3s".into(),
        per_try_timeout: "1s".into(),
        ..Options::default()
    };
    let s = Sandbox::start("http-timeout", options).await?;
    s.fault(json!({"action": "delay", "millis": 5000, "count": 10}))
        .await?;
    let started = std::time::Instant::now();
    let resp = s
        .http()
        .get(format!("{}/api/v1/namespaces/default/events", s.url()?))
        .bearer_auth(s.token("admin")?)
        .send()
        .await?;
    assert_eq!(resp.status(), 504);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn activity_with_another_ca_fails_closed_with_503() -> Result<()> {
    let options = Options {
        standin_trusts_other_ca: true,
        ..Options::default()
    };
    let s = Sandbox::start("http-mtls", options).await?;
    let resp = create(&s, "admin", "never-stored").await?;
    assert_eq!(resp.status(), 503);
    let resp = s
        .http()
        .get(format!("{}/api/v1/namespaces/default/events", s.url()?))
        .bearer_auth(s.token("admin")?)
        .send()
        .await?;
    assert_eq!(resp.status(), 503);
    assert!(s.stored().await?.is_empty());
    // The TLS handshake is refused, so no request is ever recorded.
    assert!(s.received().await?.is_empty());
    Ok(())
}
