//! Native micro-benchmarks of the filter's pure code (the same code the wasm runs):
//!
//!     cargo bench -p activity-events-filter --bench pure
//!
//! routing, the outgoing header map of a GET, scoping a 1 KiB create, rewriting a watch stream
//! chunk by chunk (reported in MB/s), and rewriting a 500-event list.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;

use activity_events_filter::config::Config;
use activity_events_filter::identity::UserInfo;
use activity_events_filter::k8s::api::BodyKind;
use activity_events_filter::k8s::api::{Api, Operation};
use activity_events_filter::request::body::BodyJob;
use activity_events_filter::request::route::{classify, Classification};
use activity_events_filter::request::scope::Scope;
use activity_events_filter::request::{forward_headers, inspect, Inspection};
use activity_events_filter::response::output::Output;
use activity_events_filter::response::{ResponsePlan, READ_WHOLE};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
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
        "reason": "Pulled", "message": "Successfully pulled image \"registry.example.com/app:1.2.3\" in 1.2s (1.2s including waiting). Image size: 123456789 bytes.",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:05Z",
        "count": 3, "type": "Normal", "eventTime": null,
        "reportingComponent": "kubelet", "reportingInstance": "node-1"
    })
}

fn org_user() -> UserInfo<'static> {
    UserInfo {
        username: "alice@acme.example".into(),
        uid: "uid-alice".into(),
        groups: vec!["system:authenticated".into(), "acme-members".into()],
        extra: vec![
            (
                "iam.miloapis.com/parent-type".into(),
                vec!["Organization".into()],
            ),
            ("iam.miloapis.com/parent-name".into(), vec!["acme".into()]),
            (
                "iam.miloapis.com/parent-api-group".into(),
                vec!["resourcemanager.miloapis.com".into()],
            ),
        ],
    }
}

fn request_side(c: &mut Criterion) {
    let config = Config::default();
    c.bench_function("route/classify+rewrite GET event", |b| {
        b.iter(|| {
            let Ok(Classification::Event(r)) = classify(
                "GET",
                black_box("/api/v1/namespaces/default/events/test-event?pretty=true"),
            ) else {
                panic!("not an event");
            };
            black_box(r.upstream_path(config.upstream()).ok())
        })
    });
    c.bench_function("route/classify non-event GET", |b| {
        b.iter(|| {
            black_box(
                classify(
                    "GET",
                    black_box("/api/v1/namespaces/default/pods?limit=500"),
                )
                .ok(),
            )
        })
    });
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"GET"),
        (b":path", b"/api/v1/namespaces/default/events/test-event"),
        (b":authority", b"milo.example.com"),
        (b":scheme", b"https"),
        (b"accept", b"application/json, */*"),
        (
            b"user-agent",
            b"kubectl/v1.32.4 (linux/amd64) kubernetes/abcdef",
        ),
        (
            b"authorization",
            b"Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        ),
        (b"x-request-id", b"0b7e3a64-7d0e-4f7a-9a51-2f7c1d3b9e10"),
        (b"x-forwarded-proto", b"https"),
    ];
    let user = org_user();
    c.bench_function("headers/inspect+build GET event", |b| {
        b.iter(|| {
            let Ok(Inspection::Event(req)) = inspect(&config, black_box(&headers)) else {
                panic!("not an event");
            };
            black_box(
                forward_headers(&config, &req, &headers, &user)
                    .map(|f| f.headers.finish())
                    .ok(),
            )
        })
    });
    let mut create = event(1);
    create["apiVersion"] = json!("v1");
    let body = serde_json::to_vec(&create).unwrap_or_default();
    let job = BodyJob {
        kind: BodyKind::Object,
        operation: Operation::Create,
        api: Api::CoreV1,
        scope: Some(Scope {
            kind: "Organization".into(),
            name: "acme".into(),
        }),
        upstream_api_version: Some(ACT.into()),
        namespace: "default".into(),
        name: None,
        field_validation: activity_events_filter::request::body::FieldValidation::Warn,
        max_bytes: 1 << 20,
    };
    let mut g = c.benchmark_group("body");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function(format!("scope+retag create ({} bytes)", body.len()), |b| {
        b.iter(|| black_box(job.run(black_box(&body)).ok()))
    });
    g.finish();
}

fn plan(api: Api, operation: Operation) -> ResponsePlan {
    ResponsePlan {
        api,
        operation,
        upstream_api_version: ACT.into(),
        pretty: false,
        max_object_bytes: 1 << 20,
    }
}

/// Rewrite a whole body arriving in chunks, the way the host glue does for chunks up to
/// `READ_WHOLE`: each read whole into an `Output`, the held rest at the end of the last, and
/// only the changed head written back. Returns the output size.
fn rewrite(plan: &ResponsePlan, body: &[u8], chunk: usize) -> usize {
    assert!(
        chunk <= READ_WHOLE,
        "the host reads larger chunks in slices"
    );
    let mut rw = plan.rewriter(200);
    let mut n = 0;
    let mut chunks = body.chunks(chunk).peekable();
    while let Some(c) = chunks.next() {
        let mut out = Output::over(c, Vec::new());
        let mut ok = rw.push_to(c, &mut out);
        if ok && chunks.peek().is_none() {
            ok = rw.finish_to(&mut out);
        }
        if !ok {
            n += out.len();
            break;
        }
        let (replaced, head) = out.into_head();
        n += head.len() + c.len() - replaced;
    }
    n
}

fn response_side(c: &mut Criterion) {
    let mut watch = Vec::new();
    for i in 0..2000 {
        let line =
            json!({"type": if i % 3 == 0 { "ADDED" } else { "MODIFIED" }, "object": event(i)});
        watch.extend(serde_json::to_vec(&line).unwrap_or_default());
        watch.push(b'\n');
    }
    let mut g = c.benchmark_group("watch");
    g.throughput(Throughput::Bytes(watch.len() as u64));
    g.sample_size(20);
    for (name, api) in [
        ("core/v1", Api::CoreV1),
        ("events.k8s.io/v1", Api::EventsV1),
    ] {
        let p = plan(api, Operation::Watch);
        g.bench_function(format!("{name} 2000 events in 16 KiB chunks"), |b| {
            b.iter(|| black_box(rewrite(&p, black_box(&watch), 16 * 1024)))
        });
    }
    g.finish();

    let list = json!({"kind": "EventList", "apiVersion": ACT, "metadata": {"resourceVersion": "5000"},
        "items": (0..500).map(event).collect::<Vec<_>>()});
    let list = serde_json::to_vec(&list).unwrap_or_default();
    let mut g = c.benchmark_group("list");
    g.throughput(Throughput::Bytes(list.len() as u64));
    g.sample_size(20);
    for (name, api) in [
        ("core/v1", Api::CoreV1),
        ("events.k8s.io/v1", Api::EventsV1),
    ] {
        let p = plan(api, Operation::List);
        g.bench_function(
            format!("{name} 500 events ({} KiB)", list.len() / 1024),
            |b| b.iter(|| black_box(rewrite(&p, black_box(&list), 64 * 1024))),
        );
    }
    g.finish();
}

criterion_group!(benches, request_side, response_side);
criterion_main!(benches);
