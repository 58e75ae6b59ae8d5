//! A misbehaving events server never gets its own objects to the client (issue 11 §2), through
//! the real Envoy with the built filter (envoy/sandbox-jwt.yaml, Activity-group mode so every
//! response is converted): every way the stand-in can spoil an answer (its admin `/misbehave`)
//! × both APIs × get, list, watch and create × HTTP/1.1 and HTTP/2. Each case must end in
//! the client's API or in a clean refusal (a 502 Status, a Status in place of the body, a watch
//! ERROR event, or a reset stream), and no byte the client receives may name Activity's group.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use activity_e2e::sandbox::{Options, Sandbox};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

const GROUP: &str = "activity.miloapis.com";
const ACT: &str = "activity.miloapis.com/v1alpha1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Core,
    EventsV1,
}

impl Api {
    fn prefix(self) -> &'static str {
        match self {
            Api::Core => "/api/v1",
            Api::EventsV1 => "/apis/events.k8s.io/v1",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Api::Core => "v1",
            Api::EventsV1 => "events.k8s.io/v1",
        }
    }

    fn event(self, name: &str) -> Value {
        match self {
            Api::Core => json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                "reason": "Tested", "message": "adversarial", "type": "Normal",
                "source": {"component": "e2e"}
            }),
            Api::EventsV1 => json!({
                "apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": name, "namespace": "default"},
                "eventTime": "2026-11-26T08:00:00.000000Z",
                "reportingController": "example.com/adversarial", "reportingInstance": "a-0",
                "action": "Testing", "reason": "Tested", "type": "Normal", "note": "adversarial",
                "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "default"}
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    List,
    Watch,
    Create,
}

/// What a case must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// In the client's API, with the usual status.
    Converted,
    /// Refused before the body: a 502 Status.
    Refused502,
    /// Refused one way or another (which one depends on where the fault is found).
    Refused,
    /// Either, as long as nothing leaks.
    Either,
}

/// One way of spoiling an answer: the stand-in's misbehaviour spec and what each API makes of it.
struct Class {
    name: &'static str,
    spec: Value,
    core: Expect,
    events: Expect,
}

fn classes() -> Vec<Class> {
    use Expect::*;
    let c = |name, spec: Value, core, events| Class {
        name,
        spec,
        core,
        events,
    };
    vec![
        c("gzip", json!({"action": "gzip"}), Converted, Converted),
        c(
            "gzip no-transform",
            json!({"action": "gzip", "noTransform": true}),
            Converted,
            Converted,
        ),
        c(
            "br label",
            json!({"action": "contentEncoding", "value": "br"}),
            Refused502,
            Refused502,
        ),
        c(
            "deflate label",
            json!({"action": "contentEncoding", "value": "deflate"}),
            Refused502,
            Refused502,
        ),
        c(
            "text/plain",
            json!({"action": "contentType", "value": "text/plain; charset=utf-8"}),
            Converted,
            Converted,
        ),
        c(
            "no content type",
            json!({"action": "contentType"}),
            Converted,
            Converted,
        ),
        c(
            "protobuf label",
            json!({"action": "contentType", "value": "application/vnd.kubernetes.protobuf"}),
            Converted,
            Converted,
        ),
        c(
            "escaped keys",
            json!({"action": "escapeKeys"}),
            Converted,
            Converted,
        ),
        c(
            "escaped values",
            json!({"action": "escapeValues"}),
            Converted,
            Converted,
        ),
        c(
            "folded key",
            json!({"action": "replace", "from": "\"apiVersion\":", "to": "\"APIVERSION\":"}),
            Either,
            Either,
        ),
        c(
            "duplicate apiVersion",
            json!({"action": "replace", "from": "\"metadata\":",
                   "to": format!("\"apiVersion\":\"{ACT}\",\"metadata\":")}),
            Converted,
            Converted,
        ),
        c(
            "other version",
            json!({"action": "replace", "from": ACT, "to": "activity.miloapis.com/v1"}),
            Refused,
            Refused,
        ),
        c(
            "deep nesting",
            json!({"action": "deepNesting", "depth": 300}),
            Converted,
            Refused,
        ),
        c(
            "invalid UTF-8",
            json!({"action": "invalidUtf8"}),
            Converted,
            Refused,
        ),
        c("truncated", json!({"action": "truncate"}), Refused, Refused),
        c(
            "half a watch event",
            json!({"action": "halfWatchEvent"}),
            Refused,
            Refused,
        ),
        c(
            "malformed",
            json!({"action": "replace", "from": "\"metadata\":", "to": "\"metadata\""}),
            Either,
            Refused,
        ),
    ]
}

/// What the client got.
#[derive(Debug)]
enum Outcome {
    Converted,
    Status502,
    /// The usual HTTP status, a failure Status as the body.
    StatusInBody,
    /// Converted events, then an ERROR event.
    WatchError,
    /// The stream broke.
    Reset,
    /// What came is not JSON (the core stream is rewritten, not parsed, so a broken body goes
    /// on broken, with its apiVersion rewritten); no client decodes it.
    Undecodable,
}

/// The bytes without `managedFields` arrays: they record the version each manager wrote with,
/// which the filter does not rewrite (a separate finding), and are not an Event's own version.
fn without_managed_fields(bytes: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b"\"managedFields\":[";
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i..).is_some_and(|r| r.starts_with(KEY)) {
            i += KEY.len();
            let (mut depth, mut in_str, mut esc) = (1usize, false, false);
            while i < bytes.len() && depth > 0 {
                let b = bytes[i];
                if in_str {
                    match (esc, b) {
                        (true, _) => esc = false,
                        (false, b'\\') => esc = true,
                        (false, b'"') => in_str = false,
                        _ => {}
                    }
                } else {
                    match b {
                        b'"' => in_str = true,
                        b'[' | b'{' => depth += 1,
                        b']' | b'}' => depth -= 1,
                        _ => {}
                    }
                }
                i += 1;
            }
            out.extend_from_slice(b"\"managedFields\":[]");
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Whether bytes name Activity's group, raw or in any JSON escaping.
fn names_group(bytes: &[u8]) -> bool {
    let bytes = &without_managed_fields(bytes)[..];
    let text = String::from_utf8_lossy(bytes);
    if text.contains(GROUP)
        || text.contains("activity.miloapis.com\\/")
        || text.contains("\\u0061ctivity")
    {
        return true;
    }
    // Decoded: every document in the body, re-encoded plainly.
    serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .any(|v| v.to_string().contains(GROUP))
}

/// The `apiVersion` as Go's client reads it: a key that folds onto it.
fn api_version_of(v: &Value) -> Option<&Value> {
    v.as_object()?
        .iter()
        .filter(|(k, _)| k.to_lowercase().replace('\u{17f}', "s") == "apiversion")
        .map(|(_, v)| v)
        .next_back()
}

fn is_converted_doc(v: &Value, api: Api) -> bool {
    let version_ok = |o: &Value| api_version_of(o).is_some_and(|a| a == api.api_version());
    let own = |o: &Value| version_ok(o) && o["kind"] == "Event";
    match v["kind"].as_str() {
        Some("Event") => own(v),
        Some("EventList") => {
            version_ok(v)
                && v["items"].as_array().is_some_and(|items| {
                    !items.is_empty()
                        && items
                            .iter()
                            .all(|i| api_version_of(i).is_none_or(|a| a == api.api_version()))
                })
        }
        _ => false,
    }
}

fn is_failure_status(v: &Value, code: u64) -> bool {
    v["kind"] == "Status" && v["status"] == "Failure" && v["code"] == code
}

/// Classify a response: status, body bytes (possibly partial) and whether reading broke.
fn classify(
    api: Api,
    op: Op,
    status: u16,
    body: &[u8],
    broke: bool,
    lenient: bool,
) -> Result<Outcome> {
    if broke {
        return Ok(Outcome::Reset);
    }
    let docs: Vec<Value> = serde_json::Deserializer::from_slice(body)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    let expected = if op == Op::Create { 201 } else { 200 };
    if status == 502 {
        match docs.as_slice() {
            [d] if is_failure_status(d, 502) && d["reason"] == "BadGateway" => {
                return Ok(Outcome::Status502)
            }
            _ => bail!(
                "502 without a BadGateway Status: {}",
                String::from_utf8_lossy(body)
            ),
        }
    }
    if status != expected {
        bail!("status {status}: {}", String::from_utf8_lossy(body));
    }
    if docs.is_empty() && !body.is_empty() && api == Api::Core {
        // The core stream is rewritten, not parsed: what passes here is beyond serde's reach
        // (nesting past its limit, invalid UTF-8) or broken, and must carry the client's version.
        let text = String::from_utf8_lossy(body);
        let rewritten = text.contains("\"apiVersion\":\"v1\"") && text.contains("\"kind\":\"Event");
        return match (lenient, rewritten) {
            (true, true) => Ok(Outcome::Converted),
            (true, false) => bail!("core body not rewritten: {text}"),
            (false, _) => Ok(Outcome::Undecodable),
        };
    }
    if op == Op::Watch {
        let Some((last, before)) = docs.split_last() else {
            if body.is_empty() {
                // Nothing came at all: not converted, but nothing leaked either.
                return Ok(Outcome::Reset);
            }
            bail!("watch body is not JSON: {}", String::from_utf8_lossy(body));
        };
        let event_ok = |e: &Value| {
            matches!(e["type"].as_str(), Some("ADDED" | "MODIFIED" | "DELETED"))
                && is_converted_doc(&e["object"], api)
        };
        if !before.iter().all(event_ok) {
            bail!(
                "watch events not converted: {}",
                String::from_utf8_lossy(body)
            );
        }
        if last["type"] == "ERROR" {
            if is_failure_status(&last["object"], 502) || is_failure_status(&last["object"], 500) {
                return Ok(Outcome::WatchError);
            }
            bail!("ERROR event without a 5xx Status: {last}");
        }
        if event_ok(last) {
            return Ok(Outcome::Converted);
        }
        bail!("watch event not converted: {last}");
    }
    match docs.as_slice() {
        [d] if is_converted_doc(d, api) => Ok(Outcome::Converted),
        [d] if is_failure_status(d, 502) || is_failure_status(d, 500) => Ok(Outcome::StatusInBody),
        _ => bail!(
            "body neither converted nor refused: {}",
            String::from_utf8_lossy(body)
        ),
    }
}

struct Run<'a> {
    s: &'a Sandbox,
    admin: String,
    clients: Vec<(&'static str, reqwest::Client)>,
    token: String,
    names: AtomicUsize,
}

impl Run<'_> {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<()> {
        let mut req = reqwest::Client::new().request(method, format!("{}{path}", self.admin));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        if !resp.status().is_success() {
            bail!("admin {path}: {} {}", resp.status(), resp.text().await?);
        }
        Ok(())
    }

    /// One request; the status, the body bytes received and whether reading broke.
    async fn request(
        &self,
        client: &reqwest::Client,
        api: Api,
        op: Op,
    ) -> Result<(u16, Vec<u8>, bool)> {
        let base = format!(
            "{}{}/namespaces/default/events",
            self.s.url()?,
            api.prefix()
        );
        let req = match op {
            Op::Get => client.get(format!("{base}/seed-0")),
            Op::List => client.get(&base),
            Op::Watch => client.get(format!("{base}?watch=true")),
            Op::Create => {
                let n = self.names.fetch_add(1, Ordering::SeqCst);
                client.post(&base).json(&api.event(&format!("created-{n}")))
            }
        };
        let resp = match tokio::time::timeout(
            Duration::from_secs(20),
            req.bearer_auth(&self.token).send(),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => return Ok((0, Vec::new(), true)),
            Err(_) => bail!("no response within 20 s"),
        };
        let status = resp.status().as_u16();
        let mut resp = resp;
        let mut body = Vec::new();
        let mut broke = false;
        loop {
            match tokio::time::timeout(Duration::from_secs(15), resp.chunk()).await {
                Ok(Ok(Some(c))) => body.extend_from_slice(&c),
                Ok(Ok(None)) => break,
                Ok(Err(_)) => {
                    broke = true;
                    break;
                }
                Err(_) => bail!(
                    "body not ended within 15 s: {}",
                    String::from_utf8_lossy(&body)
                ),
            }
        }
        Ok((status, body, broke))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_spoiled_answer_reaches_the_client_raw() -> Result<()> {
    let s = Sandbox::start("adversarial-upstream", Options::default()).await?;
    let admin = format!("http://{}", s.standin.admin_addr());
    let tls = activity_standin::client_config(s.front_ca(), None)?;
    let h1 = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .http1_only()
        // A connection Envoy reset under a refused body must not be reused for the next case.
        .pool_max_idle_per_host(0)
        .build()?;
    let h2 = reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .http2_prior_knowledge()
        .build()?;
    let run = Run {
        s: &s,
        admin,
        clients: vec![("HTTP/1.1", h1), ("HTTP/2", h2)],
        token: s.token("admin")?,
        names: AtomicUsize::new(0),
    };
    // Two stored events, so that lists and watches have more than one.
    let seeds: Vec<Value> = (0..2)
        .map(|i| {
            json!({"metadata": {"name": format!("seed-{i}"), "namespace": "default"},
                   "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                   "reason": "Seeded", "message": format!("seed {i}"), "type": "Normal",
                   "source": {"component": "e2e"}})
        })
        .collect();
    run.admin(reqwest::Method::POST, "/events", Some(Value::Array(seeds)))
        .await?;

    // Unspoiled first: the oracle must see these converted (so it can tell).
    for (proto, client) in &run.clients {
        for api in [Api::Core, Api::EventsV1] {
            for op in [Op::Get, Op::List, Op::Create] {
                let (status, body, broke) = run.request(client, api, op).await?;
                let outcome = classify(api, op, status, &body, broke, false)
                    .with_context(|| format!("unspoiled {proto} {api:?} {op:?}"))?;
                assert!(
                    matches!(outcome, Outcome::Converted),
                    "unspoiled {proto} {api:?} {op:?}: {outcome:?}"
                );
            }
        }
    }

    let mut cases = 0;
    let mut tally: std::collections::BTreeMap<String, usize> = Default::default();
    let mut failures = Vec::new();
    // ADVERSARIAL_ONLY=<class name substring> narrows the run by hand.
    let only = std::env::var("ADVERSARIAL_ONLY").unwrap_or_default();
    for class in classes()
        .into_iter()
        .filter(|c| c.name.contains(only.as_str()))
    {
        for (proto, client) in &run.clients {
            for api in [Api::Core, Api::EventsV1] {
                for op in [Op::Get, Op::List, Op::Watch, Op::Create] {
                    cases += 1;
                    let label = format!("{} / {proto} / {api:?} / {op:?}", class.name);
                    run.admin(reqwest::Method::DELETE, "/misbehave", None)
                        .await?;
                    let mut spec = class.spec.clone();
                    spec["method"] = json!(if op == Op::Create { "POST" } else { "GET" });
                    spec["pathContains"] = json!("/namespaces/default/events");
                    run.admin(reqwest::Method::POST, "/misbehave", Some(spec))
                        .await?;
                    let (status, body, broke) = run
                        .request(client, api, op)
                        .await
                        .with_context(|| label.clone())?;
                    if !only.is_empty() {
                        println!(
                            "{label}: {status} broke={broke} {}",
                            String::from_utf8_lossy(&body)
                                .chars()
                                .take(300)
                                .collect::<String>()
                        );
                    }
                    if names_group(&body) {
                        failures.push(format!(
                            "{label}: LEAK ({status}): {}",
                            String::from_utf8_lossy(&body)
                        ));
                        continue;
                    }
                    let lenient = matches!(class.name, "deep nesting" | "invalid UTF-8");
                    let outcome = match classify(api, op, status, &body, broke, lenient) {
                        Ok(o) => o,
                        Err(e) => {
                            failures.push(format!("{label}: {e:#}"));
                            continue;
                        }
                    };
                    let expect = match api {
                        Api::Core => class.core,
                        Api::EventsV1 => class.events,
                    };
                    let ok = match (expect, &outcome) {
                        (Expect::Converted, Outcome::Converted) => true,
                        (Expect::Refused502, Outcome::Status502) => true,
                        (Expect::Refused, o) => !matches!(o, Outcome::Converted),
                        (Expect::Either, _) => true,
                        _ => false,
                    };
                    // A spoiled watch answer is finite (the stand-in stops it), and half an
                    // event or a cut body of a watch must end in an ERROR event, not just stop.
                    let watch_ok = op != Op::Watch
                        || !matches!(class.name, "truncated" | "half a watch event")
                        || matches!(outcome, Outcome::WatchError);
                    *tally.entry(format!("{outcome:?}")).or_default() += 1;
                    if !ok || !watch_ok {
                        failures.push(format!(
                            "{label}: expected {expect:?}, got {outcome:?} ({status}): {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                }
            }
        }
    }
    println!("adversarial upstream: {cases} cases, outcomes {tally:?}");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_status_carries_the_clients_group() -> Result<()> {
    let s = Sandbox::start("adversarial-delete", Options::default()).await?;
    let token = s.token("admin")?;
    for (api, group) in [(Api::Core, None), (Api::EventsV1, Some("events.k8s.io"))] {
        let base = format!("{}{}/namespaces/default/events", s.url()?, api.prefix());
        let name = format!("to-delete-{}", api.prefix().len());
        let created = s
            .http()
            .post(&base)
            .bearer_auth(&token)
            .json(&api.event(&name))
            .send()
            .await?;
        assert_eq!(created.status(), 201, "{api:?}");
        let resp = s
            .http()
            .delete(format!("{base}/{name}"))
            .bearer_auth(&token)
            .send()
            .await?;
        assert_eq!(resp.status(), 200, "{api:?}");
        let body = resp.bytes().await?;
        assert!(!names_group(&body), "{}", String::from_utf8_lossy(&body));
        let v: Value = serde_json::from_slice(&body)?;
        if v["kind"] == "Status" {
            assert_eq!(v["status"], "Success", "{v}");
            assert_eq!(v["details"]["name"], name.as_str(), "{v}");
            assert_eq!(
                v["details"].get("group").and_then(Value::as_str),
                group,
                "{v}"
            );
        } else {
            assert_eq!(v["apiVersion"], api.api_version(), "{v}");
        }
    }
    Ok(())
}
