//! API fidelity through the real Envoy: responses in the client's API (kubectl yaml/json/watch,
//! `kubectl events`, events.k8s.io/v1), content negotiation (protobuf fallback, gzip, pretty,
//! Tables), events.k8s.io/v1 validation, and Envoy's own errors as Status objects.

use std::io::Read;

use activity_e2e::sandbox::{Options, Sandbox};
use anyhow::Result;
use serde_json::{json, Value};

fn core_event(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "my-pod", "namespace": "default"},
        "reason": "Testing", "message": format!("event {name}"), "type": "Normal",
        "source": {"component": "fidelity"}, "count": 1,
        "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:00Z"
    })
}

fn events_v1_event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": "2026-11-26T08:00:00.000000Z",
        "reportingController": "example.com/fidelity", "reportingInstance": "fidelity-0",
        "action": "Testing", "reason": "Tested", "type": "Warning", "note": format!("note {name}"),
        "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "my-pod", "namespace": "default"}
    })
}

async fn post(s: &Sandbox, user: &str, path: &str, body: &Value) -> Result<reqwest::Response> {
    Ok(s.http()
        .post(format!("{}{path}", s.url()?))
        .bearer_auth(s.token(user)?)
        .json(body)
        .send()
        .await?)
}

async fn get(
    s: &Sandbox,
    user: &str,
    path: &str,
    accept: Option<&str>,
) -> Result<reqwest::Response> {
    let mut req = s
        .http()
        .get(format!("{}{path}", s.url()?))
        .bearer_auth(s.token(user)?);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    Ok(req.send().await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_sees_core_and_events_v1_objects() -> Result<()> {
    let s = Sandbox::start("fidelity-kubectl", Options::default()).await?;
    assert_eq!(
        post(
            &s,
            "org",
            "/api/v1/namespaces/default/events",
            &core_event("core-1")
        )
        .await?
        .status(),
        201
    );
    assert_eq!(
        post(
            &s,
            "org",
            "/apis/events.k8s.io/v1/namespaces/default/events",
            &events_v1_event("new-1")
        )
        .await?
        .status(),
        201
    );

    let yaml = s
        .kubectl_ok("org", &["get", "event", "core-1", "-o", "yaml"])
        .await?;
    assert!(yaml.starts_with("apiVersion: v1\n"), "{yaml}");
    assert!(yaml.contains("kind: Event"));
    assert!(!yaml.contains("activity.miloapis.com/v1alpha1"), "{yaml}");

    let ev: Value = serde_json::from_str(
        &s.kubectl_ok(
            "org",
            &["get", "events.v1.events.k8s.io", "new-1", "-o", "json"],
        )
        .await?,
    )?;
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["regarding"]["name"], "my-pod");
    assert_eq!(ev["note"], "note new-1");
    assert_eq!(ev["reportingController"], "example.com/fidelity");
    // The core event seen through events.k8s.io/v1 and the other way round.
    let core_as_v1: Value = serde_json::from_str(
        &s.kubectl_ok(
            "org",
            &["get", "events.v1.events.k8s.io", "core-1", "-o", "json"],
        )
        .await?,
    )?;
    assert_eq!(core_as_v1["deprecatedCount"], 1);
    assert_eq!(core_as_v1["note"], "event core-1");
    let v1_as_core: Value = serde_json::from_str(
        &s.kubectl_ok("org", &["get", "event", "new-1", "-o", "json"])
            .await?,
    )?;
    assert_eq!(v1_as_core["apiVersion"], "v1");
    assert_eq!(v1_as_core["involvedObject"]["name"], "my-pod");
    assert_eq!(v1_as_core["message"], "note new-1");

    let table = s
        .kubectl_ok("org", &["get", "events.v1.events.k8s.io"])
        .await?;
    assert!(
        table.contains("Tested") && table.contains("Testing"),
        "{table}"
    );

    // `kubectl events` asks for protobuf first, with JSON as the fallback.
    let events = s.kubectl_ok("org", &["events", "-n", "default"]).await?;
    assert!(
        events.contains("pod/my-pod") || events.contains("Pod/my-pod"),
        "{events}"
    );
    assert!(events.contains("Tested"), "{events}");
    let accepts: Vec<String> = s
        .received_events()
        .await?
        .iter()
        .filter_map(|r| r["headers"]["accept"][0].as_str().map(str::to_owned))
        .collect();
    assert!(
        accepts.iter().all(|a| !a.contains("protobuf")),
        "protobuf asked of Activity: {accepts:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_watch_json_streams_core_objects() -> Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let s = Sandbox::start("fidelity-watch", Options::default()).await?;
    let mut child = tokio::process::Command::new(activity_e2e::tools::kubectl_bin()?)
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["--context", "admin", "--cache-dir"])
        .arg(s.dir.join("kube-cache"))
        .args(["get", "events", "-w", "-o", "json", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for the watch to reach Activity, then create through both APIs.
    for _ in 0..100 {
        if s.received_events()
            .await?
            .iter()
            .any(|r| r["path"].as_str().is_some_and(|p| p.contains("watch=true")))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    post(
        &s,
        "admin",
        "/api/v1/namespaces/default/events",
        &core_event("w-core"),
    )
    .await?;
    post(
        &s,
        "admin",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        &events_v1_event("w-new"),
    )
    .await?;
    let mut text = String::new();
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen < 2 {
        let Ok(line) = tokio::time::timeout_at(deadline, lines.next_line()).await else {
            anyhow::bail!("watch output so far:\n{text}");
        };
        let line = line?.unwrap_or_default();
        text.push_str(&line);
        text.push('\n');
        // kubectl prints each watch event as one line or indented, depending on its version.
        seen = serde_json::Deserializer::from_str(&text)
            .into_iter::<Value>()
            .take_while(Result::is_ok)
            .count();
    }
    let objects: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()?;
    for o in &objects {
        assert_eq!(o["type"], "ADDED", "{o}");
        assert_eq!(o["object"]["apiVersion"], "v1", "{o}");
        assert_eq!(o["object"]["kind"], "Event", "{o}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn negotiation_gzip_pretty_and_tables() -> Result<()> {
    let s = Sandbox::start("fidelity-negotiation", Options::default()).await?;
    for i in 0..5 {
        post(
            &s,
            "admin",
            "/api/v1/namespaces/default/events",
            &core_event(&format!("n-{i}")),
        )
        .await?;
    }
    // gzip end to end: compressed for the client, rewritten inside.
    let resp = s
        .http()
        .get(format!("{}/api/v1/namespaces/default/events", s.url()?))
        .bearer_auth(s.token("admin")?)
        .header("accept-encoding", "gzip")
        .send()
        .await?;
    assert_eq!(
        resp.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap_or("")),
        Some("gzip")
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(&resp.bytes().await?[..]).read_to_string(&mut text)?;
    let list: Value = serde_json::from_str(&text)?;
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(5));
    let upstream_encodings: Vec<Value> = s
        .received_events()
        .await?
        .iter()
        .map(|r| r["headers"]["accept-encoding"].clone())
        .collect();
    assert!(
        upstream_encodings.iter().all(Value::is_null),
        "{upstream_encodings:?}"
    );

    // ?pretty keeps working (indented JSON, rewritten).
    let pretty = get(
        &s,
        "admin",
        "/api/v1/namespaces/default/events/n-0?pretty=true",
        None,
    )
    .await?
    .text()
    .await?;
    assert!(pretty.contains("\n  \"apiVersion\": \"v1\""), "{pretty}");
    let pretty_v1 = get(
        &s,
        "admin",
        "/apis/events.k8s.io/v1/namespaces/default/events/n-0?pretty=true",
        None,
    )
    .await?
    .text()
    .await?;
    assert!(
        pretty_v1.contains("\n  \"apiVersion\": \"events.k8s.io/v1\""),
        "{pretty_v1}"
    );

    // Tables with full objects, in both APIs.
    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
    let t: Value = get(
        &s,
        "admin",
        "/api/v1/namespaces/default/events?includeObject=Object",
        Some(table_accept),
    )
    .await?
    .json()
    .await?;
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["rows"][0]["object"]["apiVersion"], "v1");
    let t: Value = get(
        &s,
        "admin",
        "/apis/events.k8s.io/v1/namespaces/default/events?includeObject=Object",
        Some(table_accept),
    )
    .await?
    .json()
    .await?;
    assert_eq!(t["rows"][0]["object"]["apiVersion"], "events.k8s.io/v1");
    assert!(t["rows"][0]["object"]["regarding"].is_object());

    // A protobuf-first client gets JSON; a protobuf-only client gets 406.
    let resp = get(
        &s,
        "admin",
        "/api/v1/namespaces/default/events",
        Some("application/vnd.kubernetes.protobuf,application/json"),
    )
    .await?;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()?
        .starts_with("application/json"));
    let resp = get(
        &s,
        "admin",
        "/api/v1/namespaces/default/events",
        Some("application/vnd.kubernetes.protobuf"),
    )
    .await?;
    assert_eq!(resp.status(), 406);
    assert_eq!(resp.json::<Value>().await?["reason"], "NotAcceptable");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn events_v1_writes_are_validated_and_errors_name_the_clients_resource() -> Result<()> {
    let s = Sandbox::start("fidelity-validation", Options::default()).await?;
    let mut bad = events_v1_event("bad");
    bad.as_object_mut().unwrap().remove("eventTime");
    bad["type"] = json!("Bogus");
    let resp = post(
        &s,
        "org",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        &bad,
    )
    .await?;
    assert_eq!(resp.status(), 422);
    let status: Value = resp.json().await?;
    assert_eq!(status["reason"], "Invalid");
    let causes: Vec<&str> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(causes.contains(&"eventTime"), "{status}");
    assert!(causes.contains(&"type"), "{status}");
    assert!(
        s.received_events().await?.is_empty(),
        "an invalid event reached Activity"
    );

    // Not-found errors read like the API the client asked.
    let core: Value = get(&s, "org", "/api/v1/namespaces/default/events/nope", None)
        .await?
        .json()
        .await?;
    assert_eq!(core["code"], 404);
    assert_eq!(core["message"], "events \"nope\" not found");
    let v1: Value = get(
        &s,
        "org",
        "/apis/events.k8s.io/v1/namespaces/default/events/nope",
        None,
    )
    .await?
    .json()
    .await?;
    assert_eq!(v1["message"], "events.events.k8s.io \"nope\" not found");
    assert_eq!(v1["details"]["group"], "events.k8s.io");

    // events.k8s.io/v1 field selectors are translated; core labels are not theirs.
    post(
        &s,
        "org",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        &events_v1_event("sel"),
    )
    .await?;
    let list: Value = get(
        &s,
        "org",
        "/apis/events.k8s.io/v1/events?fieldSelector=regarding.name%3Dmy-pod",
        None,
    )
    .await?
    .json()
    .await?;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let resp = get(
        &s,
        "org",
        "/apis/events.k8s.io/v1/events?fieldSelector=involvedObject.name%3Dmy-pod",
        None,
    )
    .await?;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await?["message"],
        "field label not supported: involvedObject.name"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn envoy_errors_reach_clients_as_status_objects() -> Result<()> {
    let options = Options {
        request_timeout: "2s".into(),
        per_try_timeout: "1s".into(),
        standin_trusts_other_ca: true,
        ..Options::default()
    };
    let s = Sandbox::start("fidelity-envoy-errors", options).await?;
    let resp = get(&s, "admin", "/api/v1/namespaces/default/events", None).await?;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"].to_str()?, "application/json");
    let status: Value = resp.json().await?;
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "ServiceUnavailable");
    assert_eq!(status["code"], 503);
    assert!(
        status["message"]
            .as_str()
            .unwrap_or("")
            .contains("upstream connect error"),
        "{status}"
    );
    // kubectl prints the message instead of a decoding error.
    let out = s.kubectl("admin", &["get", "events"]).await?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("upstream connect error"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn envoy_timeouts_reach_clients_as_status_objects() -> Result<()> {
    let options = Options {
        request_timeout: "2s".into(),
        per_try_timeout: "1s".into(),
        ..Options::default()
    };
    let s = Sandbox::start("fidelity-timeout", options).await?;
    s.fault(json!({"action": "delay", "millis": 4000, "count": 10}))
        .await?;
    let resp = get(&s, "admin", "/api/v1/namespaces/default/events", None).await?;
    assert_eq!(resp.status(), 504);
    let status: Value = resp.json().await?;
    assert_eq!(status["reason"], "Timeout");
    assert_eq!(status["code"], 504);
    Ok(())
}
