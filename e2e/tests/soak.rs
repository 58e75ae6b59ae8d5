//! Faults through the real Envoy with the built filter: which requests Envoy repeats after an
//! Activity fault (the route retry policy), and a short fault soak (scripts/soak.sh runs it
//! longer).

use activity_e2e::sandbox::{Options, Sandbox};
use anyhow::Result;
use serde_json::{json, Value};

const EVENTS: &str = "/api/v1/namespaces/default/events";

/// A create whose copies can be counted: a generated name (a repeated POST is a second
/// object, not a 409) and a label naming the attempt.
fn create_body(op: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"generateName": "retry-", "namespace": "default", "labels": {"op": op}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Retry", "message": format!("op {op}"), "type": "Normal", "count": 1
    })
}

async fn stored_with(s: &Sandbox, op: &str) -> Result<usize> {
    Ok(s.stored()
        .await?
        .iter()
        .filter(|e| e["metadata"]["labels"]["op"] == op)
        .count())
}

/// Requests with this method Activity received since the last clear.
async fn received(s: &Sandbox, method: &str) -> Result<usize> {
    Ok(s.received_events()
        .await?
        .iter()
        .filter(|r| r["method"] == method)
        .count())
}

async fn post(s: &Sandbox, op: &str, extra: &[(&str, &str)]) -> Result<u16> {
    let mut req = s
        .http()
        .post(format!("{}{EVENTS}", s.url()?))
        .bearer_auth(s.token("admin")?)
        .json(&create_body(op));
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    Ok(req.send().await?.status().as_u16())
}

/// One write under one fault: (status the client got, requests Activity received, copies of
/// the create stored).
async fn write_under(s: &Sandbox, op: &str, fault: Value) -> Result<(u16, usize, usize)> {
    s.clear_received().await?;
    s.fault(fault).await?;
    let status = post(s, op, &[]).await?;
    Ok((
        status,
        received(s, "POST").await?,
        stored_with(s, op).await?,
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_reset_after_activity_stored_it_is_not_sent_again() -> Result<()> {
    let s = Sandbox::start("retry-reset-after-store", Options::default()).await?;

    // Activity stores the create, then the connection drops before the answer. Envoy cannot
    // know it was stored: the client hears 503 (the truth: unknown), and it is stored once.
    let (status, posts, copies) = write_under(
        &s,
        "a",
        json!({"action": "reset", "phase": "after", "method": "POST"}),
    )
    .await?;
    assert_eq!((status, posts, copies), (503, 1, 1));

    // A client cannot turn the retries back on with Envoy's request headers.
    s.clear_received().await?;
    s.fault(json!({"action": "reset", "phase": "after", "method": "POST"}))
        .await?;
    let status = post(
        &s,
        "b",
        &[
            ("x-envoy-retry-on", "5xx,reset"),
            ("x-envoy-max-retries", "3"),
        ],
    )
    .await?;
    assert_eq!(
        (
            status,
            received(&s, "POST").await?,
            stored_with(&s, "b").await?
        ),
        (503, 1, 1),
        "client-chosen x-envoy-retry-on made Envoy repeat a stored write"
    );

    // PATCH, PUT and DELETE are not repeated either: a second PATCH applies twice (JSON patch
    // `add` to a list), a second DELETE answers 404 for a delete that happened.
    let name = s
        .stored()
        .await?
        .iter()
        .find(|e| e["metadata"]["labels"]["op"] == "a")
        .and_then(|e| e["metadata"]["name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let url = format!("{}{EVENTS}/{name}", s.url()?);
    let token = s.token("admin")?;
    for (method, body, content_type) in [
        (
            "PATCH",
            json!({"message": "patched"}),
            "application/merge-patch+json",
        ),
        ("PUT", Value::Null, "application/json"),
        ("DELETE", Value::Null, "application/json"),
    ] {
        s.clear_received().await?;
        s.fault(json!({"action": "reset", "phase": "after", "method": method}))
            .await?;
        let body = if method == "PUT" {
            let mut current = s
                .stored()
                .await?
                .into_iter()
                .find(|e| e["metadata"]["name"] == name.as_str())
                .unwrap_or_default();
            current["message"] = json!("replaced");
            current["apiVersion"] = json!("v1");
            current
        } else {
            body
        };
        let mut req = s
            .http()
            .request(method.parse()?, &url)
            .bearer_auth(&token)
            .header("content-type", content_type);
        if !body.is_null() {
            req = req.body(body.to_string());
        }
        let status = req.send().await?.status().as_u16();
        assert_eq!(status, 503, "{method}");
        assert_eq!(received(&s, method).await?, 1, "{method} was sent again");
    }
    assert_eq!(stored_with(&s, "a").await?, 0, "the DELETE was applied");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_retried_only_when_activity_did_not_process_them() -> Result<()> {
    let s = Sandbox::start("retry-writes", Options::default()).await?;
    let post_fault = |mut f: Value| {
        f["method"] = json!("POST");
        f
    };
    // A reset once the request was sent: maybe processed, so not repeated (here it was not).
    assert_eq!(
        write_under(&s, "reset", post_fault(json!({"action": "reset"}))).await?,
        (503, 1, 0)
    );
    // A plain 503 from Activity is its answer: passed on, not repeated.
    assert_eq!(
        write_under(
            &s,
            "503",
            post_fault(json!({"action": "status", "status": 503}))
        )
        .await?,
        (503, 1, 0)
    );
    // 503 with Retry-After and 429 say "not processed, try again": repeated, stored once.
    assert_eq!(
        write_under(
            &s,
            "503-retry-after",
            post_fault(json!({"action": "status", "status": 503, "retryAfter": 1}))
        )
        .await?,
        (201, 2, 1)
    );
    assert_eq!(
        write_under(
            &s,
            "429",
            post_fault(json!({"action": "status", "status": 429}))
        )
        .await?,
        (201, 2, 1)
    );
    // Activity stored it and then answered 503: Envoy passes the answer on and does not store
    // a second copy.
    assert_eq!(
        write_under(
            &s,
            "503-after",
            post_fault(json!({"action": "status", "status": 503, "phase": "after"}))
        )
        .await?,
        (503, 1, 1)
    );
    // A slow write is not repeated either: it gets the whole route timeout.
    assert_eq!(
        write_under(
            &s,
            "slow",
            post_fault(json!({"action": "delay", "millis": 1500, "phase": "after"}))
        )
        .await?,
        (201, 1, 1)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_and_watch_establishment_are_retried_on_resets_and_5xx() -> Result<()> {
    let s = Sandbox::start("retry-reads", Options::default()).await?;
    let token = s.token("admin")?;
    for fault in [
        json!({"action": "reset", "method": "GET"}),
        json!({"action": "reset", "method": "GET", "phase": "after"}),
        json!({"action": "status", "status": 503, "method": "GET"}),
        json!({"action": "status", "status": 500, "method": "GET"}),
    ] {
        s.clear_received().await?;
        s.fault(fault.clone()).await?;
        let resp = s
            .http()
            .get(format!("{}{EVENTS}", s.url()?))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(resp.status(), 200, "{fault}");
        assert_eq!(resp.json::<Value>().await?["kind"], "EventList", "{fault}");
        assert_eq!(received(&s, "GET").await?, 2, "{fault}");
    }
    // A watch whose first attempt was reset is established by the retry.
    s.clear_received().await?;
    s.fault(json!({"action": "reset", "pathContains": "watch=true"}))
        .await?;
    let resp = s
        .http()
        .get(format!("{}{EVENTS}?watch=true&timeoutSeconds=1", s.url()?))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await?;
    assert_eq!(received(&s, "GET").await?, 2);
    Ok(())
}

/// The soak of scripts/soak.sh, short: every check of e2e/src/soak.rs holds under faults.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_fault_soak_keeps_every_promise() -> Result<()> {
    let report = activity_e2e::soak::run(activity_e2e::soak::Options {
        seconds: 12,
        clients_per_tenant: 1,
        seed: 5,
    })
    .await?;
    eprintln!("{}", report.figures);
    assert!(report.violations.is_empty(), "{}", report.figures);
    let created = report.counts.get("create: 201").copied().unwrap_or(0);
    assert!(created > 10, "{}", report.figures);
    assert!(
        report.faults.values().sum::<u64>() > 0,
        "{}",
        report.figures
    );
    Ok(())
}
