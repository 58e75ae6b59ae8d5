//! Deterministic workload for instruction-count profiling of one S1 request (GET of one event)
//! through the pure code, as the wasm runs it:
//!
//!     cargo build --release --example profile_request
//!     valgrind --tool=callgrind target/release/examples/profile_request 10000
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use activity_events_filter::config::Config;
use activity_events_filter::identity;
use activity_events_filter::k8s::api::{Api, Operation};
use activity_events_filter::request::{forward_headers, inspect, Inspection};
use activity_events_filter::response::{ResponsePlan, Treatment};
use activity_events_filter::wire::pairs::{decode, encode};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let config = Config::default();
    let headers = encode([
        (&b":method"[..], &b"GET"[..]),
        (b":path", b"/api/v1/namespaces/default/events/test-event"),
        (b":authority", b"milo.example.com"),
        (b":scheme", b"http"),
        (b"accept", b"*/*"),
        (b"user-agent", b"wrk"),
        (b"x-forwarded-proto", b"http"),
        (b"x-request-id", b"0b7e3a64-7d0e-4f7a-9a51-2f7c1d3b9e10"),
    ]);
    let list = |items: &[&str]| encode(items.iter().map(|i| (i.as_bytes(), &b""[..])));
    let groups = list(&["system:authenticated", "acme-members"]);
    let (t, nm, g) = (
        list(&["Organization"]),
        list(&["acme"]),
        list(&["resourcemanager.miloapis.com"]),
    );
    let extra = encode([
        (&b"iam.miloapis.com/parent-type"[..], &t[..]),
        (b"iam.miloapis.com/parent-name", &nm[..]),
        (b"iam.miloapis.com/parent-api-group", &g[..]),
    ]);
    let metadata = encode([
        (&b"user"[..], &b"alice@acme.example"[..]),
        (b"uid", b"uid-alice"),
        (b"groups", &groups[..]),
        (b"extra", &extra[..]),
    ]);
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/responses/event.json"
    ))
    .unwrap_or_default();
    let response_headers = encode([
        (&b":status"[..], &b"200"[..]),
        (b"content-type", b"application/json"),
        (b"content-length", b"947"),
        (b"date", b"Thu, 26 Nov 2026 08:00:00 GMT"),
    ]);
    let mut total = 0usize;
    for _ in 0..n {
        let Ok(pairs) = decode(&headers) else { return };
        let Ok(Inspection::Event(req)) = inspect(&config, &pairs) else {
            return;
        };
        let Ok(user) = identity::from_namespace(Some(&metadata), &config.identity) else {
            return;
        };
        let Ok(fwd) = forward_headers(&config, &req, &pairs, &user) else {
            return;
        };
        total += fwd.headers.finish().len();
        let plan: ResponsePlan = fwd.response.unwrap_or(ResponsePlan {
            api: Api::CoreV1,
            operation: Operation::Get,
            upstream_api_version: String::new(),
            pretty: false,
            max_object_bytes: 0,
        });
        let Ok(rh) = decode(&response_headers) else {
            return;
        };
        let ct = rh
            .iter()
            .find(|(k, _)| *k == b"content-type")
            .and_then(|(_, v)| std::str::from_utf8(v).ok());
        if plan.treatment(ct, None, || true) == Treatment::Rewrite {
            let mut rw = plan.rewriter(200);
            let mut out = Vec::with_capacity(body.len());
            if rw.push_into(&body, &mut out) {
                rw.finish_into(&mut out);
            }
            total += out.len();
        }
    }
    println!("{n} requests, {total} bytes");
}
