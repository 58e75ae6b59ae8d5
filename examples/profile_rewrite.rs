//! Deterministic workload for instruction-count profiling of the response rewriter:
//!
//!     cargo build --release --example profile_rewrite
//!     valgrind --tool=callgrind target/release/examples/profile_rewrite core-watch
//!     SAVE_BODY=/tmp/core-list.json target/release/examples/profile_rewrite core-list
//!     BODY_FILE=/tmp/core-list.json valgrind --tool=callgrind target/release/examples/profile_rewrite core-list
//!
//! Modes: core-watch, events-watch, core-list, events-list.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use activity_events_filter::k8s::api::{Api, Operation};
use activity_events_filter::response::output::Output;
use activity_events_filter::response::ResponsePlan;
use serde_json::json;

const ACT: &str = "activity.miloapis.com/v1alpha1";

fn event(i: usize) -> serde_json::Value {
    json!({
        "kind": "Event", "apiVersion": ACT,
        "metadata": {"name": format!("test-pod.{i:016x}"), "namespace": "default",
            "uid": "0b7e3a64-7d0e-4f7a-9a51-2f7c1d3b9e10", "resourceVersion": format!("{}", 1000 + i),
            "creationTimestamp": "2026-11-26T08:00:00Z",
            "annotations": {"platform.miloapis.com/scope.type": "Organization",
                            "platform.miloapis.com/scope.name": "acme"}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "default",
            "name": "test-pod", "uid": "8f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "resourceVersion": "4242", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "message": "Successfully pulled image \"registry.example.com/app:1.2.3\" in 1.2s.",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:05Z",
        "count": 3, "type": "Normal", "eventTime": null,
        "reportingComponent": "kubelet", "reportingInstance": "node-1"
    })
}

fn main() {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "core-watch".into());
    let (api, op) = match mode.as_str() {
        "core-watch" => (Api::CoreV1, Operation::Watch),
        "events-watch" => (Api::EventsV1, Operation::Watch),
        "core-list" => (Api::CoreV1, Operation::List),
        _ => (Api::EventsV1, Operation::List),
    };
    // A body saved with SAVE_BODY and read back with BODY_FILE keeps its generation (serde_json,
    // malloc) out of the profile.
    let saved = std::env::var_os("BODY_FILE").map(|p| std::fs::read(p).unwrap());
    let body: Vec<u8> = if let Some(saved) = saved {
        saved
    } else if op == Operation::Watch {
        (0..1000)
            .flat_map(|i| {
                let mut line = serde_json::to_vec(&json!({"type": "MODIFIED", "object": event(i)}))
                    .unwrap_or_default();
                line.push(b'\n');
                line
            })
            .collect()
    } else {
        serde_json::to_vec(
            &json!({"kind": "EventList", "apiVersion": ACT, "metadata": {},
            "items": (0..1000).map(event).collect::<Vec<_>>()}),
        )
        .unwrap_or_default()
    };
    let plan = ResponsePlan {
        api,
        operation: op,
        upstream_api_version: ACT.into(),
        pretty: false,
        max_object_bytes: 1 << 20,
    };
    let mut total = 0;
    if let Some(path) = std::env::var_os("SAVE_BODY") {
        std::fs::write(path, &body).unwrap();
        return;
    }
    if std::env::var_os("GENERATE_ONLY").is_some() {
        println!("{mode}: generated {} bytes", body.len());
        return;
    }
    // REPEAT=N rewrites the body N times: the difference between two counts is the steady
    // state's cost, without start-up.
    let repeat: usize = std::env::var("REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    for _ in 0..repeat {
        let mut rw = plan.rewriter(200);
        for chunk in body.chunks(16 * 1024) {
            // As the filter's host glue does: the bytes that go through unchanged are not copied.
            let mut out = Output::over(chunk, Vec::new());
            rw.push_to(chunk, &mut out);
            let (replaced, head) = out.into_head();
            total += head.len() + chunk.len() - replaced;
        }
        let mut out = Vec::new();
        rw.finish_into(&mut out);
        total += out.len();
    }
    println!("{mode}: {} bytes in, {total} bytes out", body.len());
}
