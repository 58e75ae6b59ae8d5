//! Differential test of the standard-paths mode: with `activity_prefix: /api/v1` the filter
//! still strips and injects identity and scope but converts nothing, and the upstream serves
//! both APIs itself. A client must see the same results in both modes for the same operations.

use activity_e2e::sandbox::{Options, Sandbox};
use anyhow::Result;
use serde_json::{json, Value};

/// One client-visible result: status code and normalized body.
#[derive(Debug, PartialEq)]
struct Seen {
    code: u16,
    body: Value,
}

/// Drop what legitimately differs between two servers (identities, versions, times).
/// `managedFields` name the API each write came through (the Activity group upstream of the
/// filter, core/v1 or events.k8s.io/v1 in standard-paths mode) and carry write times.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for key in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "continue",
                "managedFields",
            ] {
                map.remove(key);
            }
            for child in map.values_mut() {
                normalize(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

async fn call(
    s: &Sandbox,
    method: &str,
    path: &str,
    ct: Option<&str>,
    body: Option<&Value>,
    accept: Option<&str>,
) -> Result<Seen> {
    let mut req = s
        .http()
        .request(method.parse()?, format!("{}{path}", s.url()?))
        .bearer_auth(s.token("org")?);
    if let Some(ct) = ct {
        req = req.header("content-type", ct);
    }
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    if let Some(b) = body {
        req = req.body(b.to_string());
    }
    let resp = req.send().await?;
    let code = resp.status().as_u16();
    let text = resp.text().await?;
    let mut body = if path.contains("watch=") {
        Value::Array(
            serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .filter_map(Result::ok)
                .collect(),
        )
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    normalize(&mut body);
    Ok(Seen { code, body })
}

fn core_event(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default",
                     "annotations": {"platform.miloapis.com/scope.name": "forged"}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "my-pod", "namespace": "default"},
        "reason": "Testing", "message": "core", "type": "Normal", "source": {"component": "diff"},
        "count": 1, "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:00Z"
    })
}

fn events_v1_event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "default"},
        "eventTime": "2026-11-26T08:00:00.000000Z",
        "reportingController": "example.com/diff", "reportingInstance": "diff-0",
        "action": "Diffing", "reason": "Compared", "type": "Warning", "note": "events v1",
        "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "other-pod", "namespace": "default"}
    })
}

const CORE: &str = "/api/v1/namespaces/default/events";
const V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const JSON: Option<&str> = Some("application/json");
const MERGE: Option<&str> = Some("application/merge-patch+json");
const JSONPATCH: Option<&str> = Some("application/json-patch+json");

/// The same sequence of operations, with everything the client saw.
async fn scenario(s: &Sandbox) -> Result<Vec<(String, Seen)>> {
    let mut seen = Vec::new();
    let mut step = |name: &str, r: Seen| seen.push((name.to_owned(), r));
    step(
        "create core",
        call(s, "POST", CORE, JSON, Some(&core_event("c1")), None).await?,
    );
    step(
        "create v1",
        call(s, "POST", V1, JSON, Some(&events_v1_event("e1")), None).await?,
    );
    step(
        "get core as core",
        call(s, "GET", &format!("{CORE}/c1"), None, None, None).await?,
    );
    step(
        "get core as v1",
        call(s, "GET", &format!("{V1}/c1"), None, None, None).await?,
    );
    step(
        "get v1 as core",
        call(s, "GET", &format!("{CORE}/e1"), None, None, None).await?,
    );
    step(
        "get v1 as v1",
        call(s, "GET", &format!("{V1}/e1"), None, None, None).await?,
    );
    step("list core", call(s, "GET", CORE, None, None, None).await?);
    step(
        "list v1 all",
        call(s, "GET", "/apis/events.k8s.io/v1/events", None, None, None).await?,
    );
    step(
        "list core selector",
        call(
            s,
            "GET",
            &format!("{CORE}?fieldSelector=involvedObject.name%3Dmy-pod"),
            None,
            None,
            None,
        )
        .await?,
    );
    step(
        "list v1 selector",
        call(
            s,
            "GET",
            &format!("{V1}?fieldSelector=regarding.name%3Dother-pod"),
            None,
            None,
            None,
        )
        .await?,
    );
    step(
        "table core",
        call(
            s,
            "GET",
            &format!("{CORE}?includeObject=Object"),
            None,
            None,
            Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await?,
    );
    step(
        "merge patch core",
        call(
            s,
            "PATCH",
            &format!("{CORE}/c1"),
            MERGE,
            Some(&json!({"message": "merged"})),
            None,
        )
        .await?,
    );
    step(
        "merge patch v1",
        call(
            s,
            "PATCH",
            &format!("{V1}/e1"),
            MERGE,
            // `series` and metadata are what an events.k8s.io/v1 update may change; `note` is
            // immutable there (fidelity_writes.rs covers the refusals).
            Some(&json!({"series": {"count": 2, "lastObservedTime": "2026-11-26T08:05:00.000000Z"}, "metadata": {"labels": {"merged": "yes"}}})),
            None,
        )
        .await?,
    );
    step(
        "json patch v1",
        call(s, "PATCH", &format!("{V1}/e1"), JSONPATCH, Some(&json!([{"op": "test", "path": "/note", "value": "events v1"}, {"op": "replace", "path": "/series/count", "value": 4}])), None).await?,
    );
    let mut replaced = core_event("c1");
    replaced["message"] = json!("replaced");
    step(
        "update core",
        call(s, "PUT", &format!("{CORE}/c1"), JSON, Some(&replaced), None).await?,
    );
    step(
        "watch core",
        call(
            s,
            "GET",
            &format!("{CORE}?watch=true&resourceVersion=0&timeoutSeconds=1"),
            None,
            None,
            None,
        )
        .await?,
    );
    step(
        "watch v1",
        call(
            s,
            "GET",
            &format!("{V1}?watch=true&resourceVersion=0&timeoutSeconds=1"),
            None,
            None,
            None,
        )
        .await?,
    );
    step(
        "delete v1",
        call(s, "DELETE", &format!("{V1}/e1"), None, None, None).await?,
    );
    step(
        "get missing core",
        call(s, "GET", &format!("{CORE}/e1"), None, None, None).await?,
    );
    step(
        "get missing v1",
        call(s, "GET", &format!("{V1}/e1"), None, None, None).await?,
    );
    let mut invalid = events_v1_event("bad");
    invalid.as_object_mut().map(|o| o.remove("eventTime"));
    step(
        "invalid v1 create",
        call(s, "POST", V1, JSON, Some(&invalid), None).await?,
    );
    step(
        "unsupported v1 label",
        call(
            s,
            "GET",
            &format!("{V1}?fieldSelector=involvedObject.name%3Dx"),
            None,
            None,
            None,
        )
        .await?,
    );
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_see_the_same_in_both_modes() -> Result<()> {
    let converting = Sandbox::start("diff-activity", Options::default()).await?;
    let standard = Sandbox::start(
        "diff-standard",
        Options {
            prefix: "/api/v1".into(),
            ..Options::default()
        },
    )
    .await?;
    let a = scenario(&converting).await?;
    let b = scenario(&standard).await?;
    // The scenario exercised what it claims (so equal results mean something).
    let codes: Vec<u16> = a.iter().map(|(_, s)| s.code).collect();
    assert_eq!(
        codes,
        vec![
            201, 201, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200,
            200, 404, 404, 422, 400
        ]
    );
    let watched = |steps: &[(String, Seen)], name: &str| {
        steps
            .iter()
            .find(|(s, _)| s == name)
            .and_then(|(_, seen)| seen.body.as_array().map(Vec::len))
    };
    assert_eq!(watched(&a, "watch core"), Some(2));
    assert_eq!(watched(&a, "watch v1"), Some(2));
    let mut differences = Vec::new();
    for ((step, x), (_, y)) in a.iter().zip(b.iter()) {
        if x != y {
            differences.push(format!(
                "{step}:\n  activity prefix: {} {}\n  standard paths:  {} {}",
                x.code, x.body, y.code, y.body
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));

    // Both modes store the caller's scope; only the paths differ upstream.
    for (s, path) in [
        (&converting, "/apis/activity.miloapis.com/v1alpha1/"),
        (&standard, "/api/v1/"),
    ] {
        let stored = s.stored().await?;
        assert_eq!(stored.len(), 1);
        assert_eq!(
            stored[0]["metadata"]["annotations"]["platform.miloapis.com/scope.name"],
            "acme"
        );
        assert!(s
            .received_events()
            .await?
            .iter()
            .any(|r| r["path"].as_str().is_some_and(|p| p.starts_with(path))));
    }
    let v1_paths_upstream: Vec<String> = standard
        .received_events()
        .await?
        .iter()
        .filter_map(|r| r["path"].as_str().map(str::to_owned))
        .filter(|p| p.starts_with("/apis/events.k8s.io/v1/"))
        .collect();
    assert!(
        !v1_paths_upstream.is_empty(),
        "standard mode must keep events.k8s.io paths"
    );
    Ok(())
}
