//! The filter's own wasm instructions per scenario (wasmtime fuel; what the host does inside
//! its calls is not counted): the part of each benchmark scenario that is the filter's code
//! rather than Envoy's work for its host calls. Deterministic, so levers on the filter's own
//! code can be compared without Envoy:
//!
//!     cargo run -p activity-wasm-harness --example own_cost
//!
//! Requests, identity and bodies are those of `scripts/bench.sh` (bench/sidecar.py,
//! bench/bodies.py) in shape: an organization member, a kubectl GET or create of one Event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use activity_wasm_harness::{Value, Vm};

const NS: &str = "envoy.filters.http.ext_authz";

fn member() -> Value {
    Value::object([
        ("user", Value::from("alice@acme.example")),
        ("uid", Value::from("uid-alice")),
        (
            "groups",
            Value::list(["system:authenticated", "acme-members"]),
        ),
        (
            "extra",
            Value::object([
                (
                    "iam.miloapis.com/parent-type",
                    Value::list(["Organization"]),
                ),
                ("iam.miloapis.com/parent-name", Value::list(["acme"])),
                (
                    "iam.miloapis.com/parent-api-group",
                    Value::list(["resourcemanager.miloapis.com"]),
                ),
            ]),
        ),
    ])
}

fn event(api_version: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": api_version, "kind": "Event",
        "metadata": {"name": "test-event", "namespace": "default",
                     "uid": "4b0bd3d2-8e61-4a8b-9d0e-3c2f4e1a7b10", "resourceVersion": "12345",
                     "creationTimestamp": "2026-12-01T10:00:00Z",
                     "annotations": {"platform.miloapis.com/scope.type": "Organization",
                                     "platform.miloapis.com/scope.name": "acme"}},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web-7d9f8c6b5-x2k4p",
                           "uid": "0f7c8a2e-51d4-4c3e-9a6b-8d2e1f3a4b5c", "apiVersion": "v1"},
        "reason": "Scheduled", "message": "Successfully assigned default/web-7d9f8c6b5-x2k4p to node-1",
        "source": {"component": "default-scheduler"},
        "firstTimestamp": "2026-12-01T10:00:00Z", "lastTimestamp": "2026-12-01T10:00:00Z",
        "count": 1, "type": "Normal", "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-1"
    }))
    .unwrap()
}

fn headers<'a>(method: &'a str, path: &'a str, body: bool) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        (":method", method),
        (":path", path),
        (":authority", "milo.example"),
        (":scheme", "http"),
        ("accept", "application/json"),
        (
            "user-agent",
            "kubectl/v1.32.4 (linux/amd64) kubernetes/abcdef",
        ),
        ("x-request-id", "0b7e3a64-7d0e-4f7a-9a51-2f7c1d3b9e10"),
    ];
    if body {
        h.push(("content-type", "application/json"));
    }
    h
}

/// S3's upstream answer: 500 events, items without `kind` and `apiVersion` (as bench/bodies.py
/// writes it, as Activity answers a list).
fn list(api_version: &str) -> Vec<u8> {
    let items: Vec<serde_json::Value> = (0..500)
        .map(|i| {
            let mut e: serde_json::Value = serde_json::from_slice(&event(api_version)).unwrap();
            let m = e.as_object_mut().unwrap();
            m.remove("kind");
            m.remove("apiVersion");
            m["metadata"]["name"] = format!("test-pod.{i:016x}").into();
            e
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "kind": "EventList", "apiVersion": api_version,
        "metadata": {"resourceVersion": "5000"}, "items": items
    }))
    .unwrap()
}

/// S4's upstream answer: a watch stream of 200 events (bench/bodies.py's watch.jsonl in shape).
fn watch(api_version: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..200 {
        let e: serde_json::Value = serde_json::from_slice(&event(api_version)).unwrap();
        let kind = if i % 3 == 0 { "ADDED" } else { "MODIFIED" };
        serde_json::to_writer(&mut out, &serde_json::json!({"type": kind, "object": e})).unwrap();
        out.push(b'\n');
    }
    out
}

/// An events.k8s.io/v1 create as client-go's and kube-rs's event recorders write it: no
/// annotations, `eventTime` with microseconds, a reporting controller and instance.
fn events_v1_event() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web-7d9f8c6b5-x2k4p.17cb1e5a3f2d9c41", "namespace": "default"},
        "eventTime": "2026-12-01T10:00:00.123456Z",
        "reportingController": "example.com/web-controller",
        "reportingInstance": "web-controller-6c8f9d7b5-abcde",
        "action": "Scheduling", "reason": "Scheduled",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "web-7d9f8c6b5-x2k4p",
                      "uid": "0f7c8a2e-51d4-4c3e-9a6b-8d2e1f3a4b5c", "apiVersion": "v1"},
        "note": "Successfully assigned default/web-7d9f8c6b5-x2k4p to node-1",
        "type": "Normal"
    }))
    .unwrap()
}

/// Envoy hands a large body over in reads of about this size.
const CHUNK: usize = 16 * 1024;

/// The Milo profile's identity: the authorizer's one `userinfo` string (base64 of the UserInfo
/// JSON), read first because the configuration names nothing else.
fn member_userinfo() -> Value {
    use base64::Engine;
    let json = serde_json::json!({
        "username": "alice@acme.example", "uid": "uid-alice",
        "groups": ["system:authenticated", "acme-members"],
        "extra": {
            "iam.miloapis.com/parent-type": ["Organization"],
            "iam.miloapis.com/parent-name": ["acme"],
            "iam.miloapis.com/parent-api-group": ["resourcemanager.miloapis.com"],
        },
    });
    let b64 = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    Value::object([("userinfo", Value::from(b64.as_str()))])
}

struct Scenario {
    name: &'static str,
    config: Option<&'static str>,
    identity: fn() -> Value,
    method: &'static str,
    path: &'static str,
    request_body: Option<Vec<u8>>,
    status: &'static str,
    response_body: Vec<u8>,
}

fn main() {
    const STD: &str = r#"{"activity_prefix":"/api/v1"}"#;
    const ACT: &str = "activity.miloapis.com/v1alpha1";
    // bench/sidecar.py's Milo profile: the authorizer's one string.
    const MILO: &str = r#"{"activity_prefix":"/api/v1","identity":{"metadata_namespace":"envoy.filters.http.ext_authz","userinfo":"userinfo"}}"#;
    let get = "/api/v1/namespaces/default/events/test-event";
    let create = "/api/v1/namespaces/default/events";
    let scenarios = [
        Scenario {
            name: "S1 GET one event, Activity group",
            config: None,
            identity: member,
            method: "GET",
            path: get,
            request_body: None,
            status: "200",
            response_body: event(ACT),
        },
        Scenario {
            name: "S1 GET one event, standard paths",
            config: Some(STD),
            identity: member,
            method: "GET",
            path: get,
            request_body: None,
            status: "200",
            response_body: event("v1"),
        },
        Scenario {
            name: "S2 POST create, Activity group",
            config: None,
            identity: member,
            method: "POST",
            path: create,
            request_body: Some(event("v1")),
            status: "201",
            response_body: event(ACT),
        },
        Scenario {
            name: "S2 POST create, standard paths",
            config: Some(STD),
            identity: member,
            method: "POST",
            path: create,
            request_body: Some(event("v1")),
            status: "201",
            response_body: event("v1"),
        },
        Scenario {
            name: "S3 LIST 500 events, Activity group",
            config: None,
            identity: member,
            method: "GET",
            path: create,
            request_body: None,
            status: "200",
            response_body: list(ACT),
        },
        Scenario {
            name: "S3 LIST 500 events, standard paths",
            config: Some(STD),
            identity: member,
            method: "GET",
            path: create,
            request_body: None,
            status: "200",
            response_body: list("v1"),
        },
        Scenario {
            name: "S4 WATCH 200 events, Activity group",
            config: None,
            identity: member,
            method: "GET",
            path: "/api/v1/namespaces/default/events?watch=true",
            request_body: None,
            status: "200",
            response_body: watch(ACT),
        },
        Scenario {
            name: "S1 GET one event, Milo profile (userinfo), standard paths",
            config: Some(MILO),
            identity: member_userinfo,
            method: "GET",
            path: get,
            request_body: None,
            status: "200",
            response_body: event("v1"),
        },
        Scenario {
            name: "events.k8s.io/v1 create (event recorder), Activity group",
            config: None,
            identity: member,
            method: "POST",
            path: "/apis/events.k8s.io/v1/namespaces/default/events",
            request_body: Some(events_v1_event()),
            status: "201",
            response_body: event(ACT),
        },
        Scenario {
            name: "events.k8s.io/v1 GET one event, Activity group",
            config: None,
            identity: member,
            method: "GET",
            path: "/apis/events.k8s.io/v1/namespaces/default/events/test-event",
            request_body: None,
            status: "200",
            response_body: event(ACT),
        },
        Scenario {
            name: "events.k8s.io/v1 LIST 500 events, Activity group",
            config: None,
            identity: member,
            method: "GET",
            path: "/apis/events.k8s.io/v1/namespaces/default/events",
            request_body: None,
            status: "200",
            response_body: list(ACT),
        },
        Scenario {
            name: "S5 non-event GET",
            config: None,
            identity: member,
            method: "GET",
            path: "/api/v1/namespaces/default/pods?limit=500",
            request_body: None,
            status: "200",
            response_body: br#"{"kind":"PodList","apiVersion":"v1","items":[]}"#.to_vec(),
        },
    ];
    println!("| scenario | own wasm instructions per callback | total |");
    println!("|---|---|---|");
    for sc in scenarios {
        let vm = Vm::filter(sc.config);
        // Warm: the first stream pays one-off allocations of the VM.
        for round in 0..2 {
            let mut s = vm.stream();
            s.set_metadata(NS, (sc.identity)());
            let with_body = sc.request_body.is_some();
            s.request_headers(&headers(sc.method, sc.path, with_body), !with_body);
            if let Some(body) = &sc.request_body {
                s.request_body(body, true);
            }
            s.response_headers(
                &[(":status", sc.status), ("content-type", "application/json")],
                false,
            );
            let chunks: Vec<&[u8]> = sc.response_body.chunks(CHUNK).collect();
            for (i, chunk) in chunks.iter().enumerate() {
                s.response_body(chunk, i + 1 == chunks.len());
            }
            s.finish();
            if round == 1 {
                let fuel = s.fuel();
                let total: u64 = fuel.iter().map(|(_, f)| f).sum();
                // A body in many chunks calls one callback many times: summed, with the count.
                let mut sums: Vec<(&str, u64, usize)> = Vec::new();
                for (c, f) in &fuel {
                    let name = c.trim_start_matches("proxy_on_");
                    match sums.iter_mut().find(|(n, _, _)| *n == name) {
                        Some(e) => {
                            e.1 += f;
                            e.2 += 1;
                        }
                        None => sums.push((name, *f, 1)),
                    }
                }
                let parts: Vec<String> = sums
                    .iter()
                    .map(|(c, f, n)| match n {
                        1 => format!("{c} {f}"),
                        _ => format!("{c} {f} ({n} calls)"),
                    })
                    .collect();
                println!("| {} | {} | {total} |", sc.name, parts.join(", "));
            }
        }
    }
}
