//! Fidelity of events.k8s.io/v1 writes through the real Envoy, in both modes.
//!
//! - Activity-group mode: the filter converts events.k8s.io/v1 bodies to the core shape, so the
//!   fields it drops never reach Activity; kube-apiserver's `Warning: 299 - "unknown field
//!   \"...\""` headers (fieldValidation=Warn, its default) and Strict refusals come from the
//!   filter, and reach raw HTTP clients, kube-rs and `kubectl --validate=warn`. Updates get the
//!   checks that need no stored object (legacy rules, `series.count` ≥ 2, the URL's name).
//! - Standard-paths mode: Activity (here the stand-in) serves events.k8s.io/v1 itself and keeps
//!   every check kube-apiserver makes: a PUT to a missing event validated as a create,
//!   `series.count` below 2 refused, immutable fields refused.
//!
//! What Activity-group mode leaves to Activity (immutability, the create rules of a PUT that
//! creates) is pinned here too, so that a change on either side is noticed.

use activity_e2e::sandbox::{Options, Sandbox};
use anyhow::{Context, Result};
use serde_json::{json, Value};

const V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const CORE: &str = "/api/v1/namespaces/default/events";

fn events_v1_event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": "2026-11-26T08:00:00.000000Z",
        "reportingController": "example.com/writes", "reportingInstance": "writes-0",
        "action": "Writing", "reason": "Written", "type": "Normal", "note": format!("note {name}"),
        "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "my-pod", "namespace": "default"}
    })
}

fn core_event(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "my-pod", "namespace": "default"},
        "reason": "Testing", "message": format!("event {name}"), "type": "Normal",
        "source": {"component": "writes"}, "count": 1,
        "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:00Z"
    })
}

/// What a client saw: status, `Warning` headers in order, body.
#[derive(Debug)]
struct Seen {
    code: u16,
    warnings: Vec<String>,
    body: Value,
}

impl Seen {
    fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
}

async fn call(
    s: &Sandbox,
    method: &str,
    path: &str,
    content_type: &str,
    body: &Value,
) -> Result<Seen> {
    let resp = s
        .http()
        .request(method.parse()?, format!("{}{path}", s.url()?))
        .bearer_auth(s.token("org")?)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await?;
    let code = resp.status().as_u16();
    let warnings = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let text = resp.text().await?;
    Ok(Seen {
        code,
        warnings,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    })
}

async fn json(s: &Sandbox, method: &str, path: &str, body: &Value) -> Result<Seen> {
    call(s, method, path, "application/json", body).await
}

async fn merge(s: &Sandbox, path: &str, body: &Value) -> Result<Seen> {
    call(s, "PATCH", path, "application/merge-patch+json", body).await
}

async fn standard() -> Result<Sandbox> {
    Sandbox::start(
        "writes-standard",
        Options {
            prefix: "/api/v1".into(),
            ..Options::default()
        },
    )
    .await
}

/// The stored object with this name, as the stand-in keeps it (core shape).
async fn stored(s: &Sandbox, name: &str) -> Result<Option<Value>> {
    Ok(s.stored()
        .await?
        .into_iter()
        .find(|e| e["metadata"]["name"] == name))
}

fn unknown(field: &str) -> String {
    format!("299 - \"unknown field \\\"{field}\\\"\"")
}

/// The same writes with fields events.k8s.io/v1 does not have, in one mode.
async fn unknown_field_writes(s: &Sandbox) -> Result<Vec<(&'static str, Seen)>> {
    let mut seen = Vec::new();
    let mut body = events_v1_event("warned");
    body["message"] = json!("a core name");
    body["foo"] = json!(1);
    body["regarding"]["bar"] = json!("x");
    seen.push(("create", json(s, "POST", V1, &body).await?));
    seen.push((
        "create strict",
        json(s, "POST", &format!("{V1}?fieldValidation=Strict"), &{
            let mut b = body.clone();
            b["metadata"]["name"] = json!("strict");
            b
        })
        .await?,
    ));
    seen.push((
        "create ignore",
        json(s, "POST", &format!("{V1}?fieldValidation=Ignore"), &{
            let mut b = body.clone();
            b["metadata"]["name"] = json!("ignored");
            b
        })
        .await?,
    ));
    // Invalid as well: the warnings come with the 422, as kube-apiserver records them while
    // decoding, before validation.
    let mut invalid = body.clone();
    invalid["metadata"]["name"] = json!("invalid");
    invalid.as_object_mut().map(|o| o.remove("eventTime"));
    seen.push(("invalid create", json(s, "POST", V1, &invalid).await?));
    seen.push((
        "merge patch",
        merge(
            s,
            &format!("{V1}/warned"),
            &json!({"count": 3, "message": null, "metadata": {"labels": {"a": "b"}}}),
        )
        .await?,
    ));
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn dropped_fields_are_warned_about_like_kube_apiserver_in_both_modes() -> Result<()> {
    let converting = Sandbox::start("writes-warnings", Options::default()).await?;
    let a = unknown_field_writes(&converting).await?;
    let codes: Vec<(&str, u16)> = a.iter().map(|(n, s)| (*n, s.code)).collect();
    assert_eq!(
        codes,
        vec![
            ("create", 201),
            ("create strict", 400),
            ("create ignore", 201),
            ("invalid create", 422),
            ("merge patch", 200)
        ]
    );
    let all_three = vec![unknown("foo"), unknown("message"), unknown("regarding.bar")];
    assert_eq!(a[0].1.warnings, all_three, "{:?}", a[0].1);
    assert!(a[1].1.warnings.is_empty());
    assert!(
        a[1].1
            .message()
            .starts_with("Event in version \"v1\" cannot be handled as a Event: strict decoding error: unknown field \""),
        "{}",
        a[1].1.message()
    );
    assert!(a[2].1.warnings.is_empty());
    assert_eq!(a[3].1.warnings, all_three);
    assert!(a[3].1.message().contains("eventTime: Required value"));
    // `message: null` clears nothing that exists: no warning for it.
    assert_eq!(a[4].1.warnings, vec![unknown("count")]);
    // The dropped fields are not stored; the refused create is not stored at all.
    let warned = stored(&converting, "warned").await?.context("not stored")?;
    assert_eq!(warned["message"], "note warned");
    assert!(warned.get("foo").is_none());
    assert!(warned["involvedObject"].get("bar").is_none());
    assert!(stored(&converting, "strict").await?.is_none());
    assert!(stored(&converting, "invalid").await?.is_none());
    // core/v1 bodies are not converted: Activity decodes them itself, and its own warnings
    // pass through the filter untouched.
    let mut core = core_event("core-warned");
    core["foo"] = json!(1);
    let r = json(&converting, "POST", CORE, &core).await?;
    assert_eq!(r.code, 201, "{r:?}");
    assert_eq!(r.warnings, vec![unknown("foo")]);

    // Standard-paths mode: the stand-in decodes events.k8s.io/v1 itself and warns the same way.
    let standard = standard().await?;
    let b = unknown_field_writes(&standard).await?;
    for ((step, x), (_, y)) in a.iter().zip(b.iter()) {
        assert_eq!(x.code, y.code, "{step}: {x:?} / {y:?}");
        // kube-apiserver lists warnings in body order, the filter sorted: compare as sets.
        let mut xw = x.warnings.clone();
        let mut yw = y.warnings.clone();
        xw.sort();
        yw.sort();
        assert_eq!(xw, yw, "{step}");
    }
    assert_eq!(a[1].1.body, b[1].1.body, "strict refusal");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_and_kube_rs_receive_the_warnings() -> Result<()> {
    let s = Sandbox::start("writes-kubectl", Options::default()).await?;
    let manifest = |name: &str| {
        format!(
            "apiVersion: events.k8s.io/v1\nkind: Event\nmetadata:\n  name: {name}\n  namespace: default\n\
             eventTime: \"2026-11-26T08:00:00.000000Z\"\nreportingController: example.com/kubectl\n\
             reportingInstance: kubectl-0\naction: Applying\nreason: Applied\ntype: Normal\n\
             note: from kubectl\nregarding:\n  kind: Pod\n  name: my-pod\n  namespace: default\n\
             message: a core name\n"
        )
    };
    let out = s
        .kubectl_stdin(
            "org",
            &["create", "--validate=warn", "-f", "-"],
            &manifest("kubectl-warn"),
        )
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("Warning: unknown field \"message\""),
        "{stderr}"
    );
    assert!(stdout.contains("kubectl-warn created"), "{stdout}");
    assert_eq!(
        stored(&s, "kubectl-warn").await?.context("not stored")?["message"],
        "from kubectl"
    );
    // kubectl's default (--validate=true/strict) refuses the unknown field.
    let out = s
        .kubectl_stdin("org", &["create", "-f", "-"], &manifest("kubectl-strict"))
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("strict decoding error: unknown field \"message\""),
        "{stderr}"
    );
    assert!(stored(&s, "kubectl-strict").await?.is_none());

    // kube-rs: the header arrives through its HTTP stack (TLS, auth, decompression layers).
    let kubeconfig = kube::config::Kubeconfig::read_from(&s.kubeconfig)?;
    let options = kube::config::KubeConfigOptions {
        context: Some("org".into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options).await?;
    let client = kube::Client::try_from(config)?;
    let mut body = events_v1_event("kube-rs-warn");
    body["involvedObject"] = json!({"name": "x"});
    let req = hyper::Request::post(V1)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body)?)?;
    let resp = client.send(req.map(kube::client::Body::from)).await?;
    assert_eq!(resp.status().as_u16(), 201);
    let warnings: Vec<&str> = resp
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(warnings, vec![unknown("involvedObject")]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn activity_group_mode_checks_what_needs_no_stored_object() -> Result<()> {
    let s = Sandbox::start("writes-updates", Options::default()).await?;
    assert_eq!(
        json(&s, "POST", V1, &events_v1_event("u1")).await?.code,
        201
    );
    let path = format!("{V1}/u1");

    // series.count below 2 on a PUT (update or create alike) and on patches.
    let mut low = events_v1_event("u1");
    low["series"] = json!({"count": 1, "lastObservedTime": "2026-11-26T08:05:00.000000Z"});
    let r = json(&s, "PUT", &path, &low).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert_eq!(
        r.message(),
        "Event \"u1\" is invalid: series.count: Invalid value: \"\": should be at least 2"
    );
    let mut missing = low.clone();
    missing["metadata"]["name"] = json!("u-new");
    let r = json(&s, "PUT", &format!("{V1}/u-new"), &missing).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    let r = merge(&s, &path, &json!({"series": {"count": 0}})).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert!(r
        .message()
        .starts_with("Event \"u1\" is invalid: series.count"));
    let r = call(
        &s,
        "PATCH",
        &path,
        "application/json-patch+json",
        &json!([{"op": "add", "path": "/series", "value": {"count": 1, "lastObservedTime": "2026-11-26T08:05:00.000000Z"}}]),
    )
    .await?;
    assert_eq!(r.code, 422, "{:?}", r);
    // The legacy rules hold for updates; the URL's name must be the object's.
    let mut no_controller = events_v1_event("u1");
    no_controller
        .as_object_mut()
        .map(|o| o.remove("reportingController"));
    let r = json(&s, "PUT", &path, &no_controller).await?;
    assert_eq!(r.code, 422);
    assert!(r.message().contains("reportingController: Required value"));
    let r = json(&s, "PUT", &path, &events_v1_event("other")).await?;
    assert_eq!(r.code, 400);
    assert_eq!(
        r.message(),
        "the name of the object (other) does not match the name on the URL (u1)"
    );
    // None of these reached Activity.
    let stored_u1 = stored(&s, "u1").await?.context("u1")?;
    assert!(stored_u1.get("series").is_none());
    assert!(stored(&s, "u-new").await?.is_none());

    // Valid updates pass: a series of 2, and an update of an event written through core/v1,
    // whose deprecated fields are set (the create rules are not applied to every PUT).
    let mut ok = events_v1_event("u1");
    ok["series"] = json!({"count": 2, "lastObservedTime": "2026-11-26T08:05:00.000000Z"});
    let r = json(&s, "PUT", &path, &ok).await?;
    assert_eq!(r.code, 200, "{:?}", r);
    assert_eq!(r.body["series"]["count"], 2);
    assert_eq!(
        json(&s, "POST", CORE, &core_event("legacy")).await?.code,
        201
    );
    let mut legacy = get(&s, &format!("{V1}/legacy")).await?;
    legacy["metadata"]["labels"] = json!({"via": "events.k8s.io"});
    let r = json(&s, "PUT", &format!("{V1}/legacy"), &legacy).await?;
    assert_eq!(r.code, 200, "{:?}", r);
    assert_eq!(r.body["deprecatedCount"], 1);

    // Left to Activity in this mode (it sees core/v1 objects of its own group): immutable
    // fields, and the create rules of a PUT that creates. The stand-in's Activity group has no
    // event rules, so these pass today; standard-paths mode refuses them (test below).
    let r = merge(&s, &path, &json!({"note": "changed"})).await?;
    assert_eq!(r.code, 200, "{:?}", r);
    let mut no_time = events_v1_event("put-created");
    no_time.as_object_mut().map(|o| o.remove("eventTime"));
    let r = json(&s, "PUT", &format!("{V1}/put-created"), &no_time).await?;
    assert_eq!(r.code, 201, "{:?}", r);
    Ok(())
}

async fn get(s: &Sandbox, path: &str) -> Result<Value> {
    let resp = s
        .http()
        .get(format!("{}{path}", s.url()?))
        .bearer_auth(s.token("org")?)
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "GET {path}: {}", resp.status());
    Ok(resp.json().await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn standard_paths_mode_keeps_every_update_check() -> Result<()> {
    let s = standard().await?;

    // A PUT to a missing event is validated as a create ...
    let mut no_time = events_v1_event("put-created");
    no_time.as_object_mut().map(|o| o.remove("eventTime"));
    no_time["deprecatedCount"] = json!(2);
    let r = json(&s, "PUT", &format!("{V1}/put-created"), &no_time).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert_eq!(
        r.message(),
        "Event \"put-created\" is invalid: [eventTime: Required value, count: Invalid value: \"\": needs to be unset]"
    );
    assert!(stored(&s, "put-created").await?.is_none());
    // ... and creates it when valid.
    let r = json(
        &s,
        "PUT",
        &format!("{V1}/put-created"),
        &events_v1_event("put-created"),
    )
    .await?;
    assert_eq!(r.code, 201, "{:?}", r);
    let path = format!("{V1}/put-created");

    // series.count below 2.
    let mut low = get(&s, &path).await?;
    low["series"] = json!({"count": 1, "lastObservedTime": "2026-11-26T08:05:00.000000Z"});
    let r = json(&s, "PUT", &path, &low).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert_eq!(
        r.message(),
        "Event \"put-created\" is invalid: series.count: Invalid value: \"\": should be at least 2"
    );
    let r = merge(
        &s,
        &path,
        &json!({"series": {"count": 1, "lastObservedTime": "2026-11-26T08:05:00.000000Z"}}),
    )
    .await?;
    assert_eq!(r.code, 422, "{:?}", r);

    // Immutable fields, by PUT and by each patch type.
    let mut noted = get(&s, &path).await?;
    noted["note"] = json!("changed");
    noted["reason"] = json!("Changed");
    let r = json(&s, "PUT", &path, &noted).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert_eq!(
        r.message(),
        "Event \"put-created\" is invalid: [reason: Invalid value: \"Changed\": field is immutable, message: Invalid value: \"changed\": field is immutable]"
    );
    let fields: Vec<&str> = r.body["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["reason", "message", "reason"]);
    let r = merge(&s, &path, &json!({"deprecatedCount": 3})).await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert_eq!(
        r.message(),
        "Event \"put-created\" is invalid: count: Invalid value: 3: field is immutable"
    );
    let r = call(
        &s,
        "PATCH",
        &path,
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/regarding/name", "value": "someone-else"}]),
    )
    .await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert!(r.message().contains("involvedObject: Invalid value"));
    let r = call(
        &s,
        "PATCH",
        &path,
        "application/strategic-merge-patch+json",
        &json!({"deprecatedSource": {"host": "node-1"}}),
    )
    .await?;
    assert_eq!(r.code, 422, "{:?}", r);
    assert!(
        r.message().contains("source: Invalid value"),
        "{}",
        r.message()
    );
    // kubectl shows the same refusal.
    let out = s
        .kubectl(
            "org",
            &[
                "patch",
                "events.v1.events.k8s.io",
                "put-created",
                "--type=merge",
                "-p",
                r#"{"note":"from kubectl"}"#,
            ],
        )
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("message: Invalid value: \"from kubectl\": field is immutable"),
        "{stderr}"
    );

    // What may change does.
    let r = merge(
        &s,
        &path,
        &json!({"series": {"count": 2, "lastObservedTime": "2026-11-26T08:05:00.000000Z"}, "metadata": {"labels": {"seen": "twice"}}}),
    )
    .await?;
    assert_eq!(r.code, 200, "{:?}", r);
    let kept = stored(&s, "put-created").await?.context("stored")?;
    assert_eq!(kept["message"], "note put-created");
    assert_eq!(kept["reason"], "Written");
    assert_eq!(kept["series"]["count"], 2);
    assert_eq!(kept["metadata"]["labels"]["seen"], "twice");
    Ok(())
}
