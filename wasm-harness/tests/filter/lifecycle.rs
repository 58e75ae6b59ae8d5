//! The VM over time: callback order, the memory gauge, and memory use over many requests.

use activity_wasm_harness::{Action, Vm};

use crate::common::*;

const GAUGE: &str = "activity_events.wasm_memory_bytes";

fn event_get(vm: &Vm, body: &[u8]) {
    let mut s = stream_as(vm, org_user());
    s.request_headers(
        &request("GET", "/api/v1/namespaces/default/events/e1"),
        true,
    );
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    s.response_body(body, true);
    s.expect_no_local_reply();
    s.finish();
}

fn events_v1_list(vm: &Vm, body: &[u8]) {
    let mut s = stream_as(vm, org_user());
    s.request_headers(&request("GET", "/apis/events.k8s.io/v1/events"), true);
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    for part in body.chunks(4096) {
        s.response_body(part, false);
    }
    s.response_body(b"", true);
    assert_eq!(s.client_json()["kind"], "EventList");
    s.finish();
}

fn create(vm: &Vm, body: &[u8]) {
    let mut s = stream_as(vm, org_user());
    s.request_headers(
        &write(
            "POST",
            "/api/v1/namespaces/default/events",
            "application/json",
        ),
        false,
    );
    s.request_body(body, true);
    s.expect_no_local_reply();
    s.finish();
}

fn refused(vm: &Vm) {
    let mut s = vm.stream();
    s.request_headers(&request("GET", "/api/v1/events"), true);
    s.expect_status_reply(401, "Unauthorized");
    s.finish();
}

#[test]
fn an_event_request_sees_the_callbacks_in_envoys_order() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(
        &request("GET", "/api/v1/namespaces/default/events/e1"),
        false,
    );
    s.request_body(b"", true);
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    s.response_body(&fixture("responses/event.json"), false);
    s.response_trailers(&[("grpc-status", "0")]);
    s.finish();
    assert_eq!(
        s.callbacks(),
        [
            "proxy_on_context_create",
            "proxy_on_request_headers = 0",
            "proxy_on_request_body = 0",
            "proxy_on_response_headers = 0",
            "proxy_on_response_body = 0",
            "proxy_on_response_trailers = 0",
            "proxy_on_delete",
        ]
    );
}

#[test]
fn a_local_reply_goes_through_the_filters_response_callbacks_untouched() {
    let vm = Vm::filter(None);
    let mut s = vm.stream();
    assert_eq!(
        s.request_headers(&request("GET", "/api/v1/events"), true),
        Action::Pause
    );
    let reply = s.expect_local_reply(401);
    s.finish();
    assert_eq!(
        s.callbacks(),
        [
            "proxy_on_context_create",
            "proxy_on_request_headers = 1",
            "proxy_on_response_headers = 0",
            "proxy_on_response_body = 0",
            "proxy_on_delete",
        ]
    );
    assert_eq!(s.client_body(), reply.body);
    assert_eq!(
        s.client_header("content-type").as_deref(),
        Some("application/json")
    );
    // Only the request callback made host calls.
    assert_eq!(
        s.calls().last().unwrap(),
        "proxy_send_local_response(401, activity_events_unauthorized)"
    );
}

#[test]
fn each_tick_records_the_linear_memory_in_the_gauge() {
    let vm = Vm::filter(None);
    assert_eq!(vm.tick_period_ms(), Some(1000));
    let before = vm.root_calls().len();
    vm.tick();
    let memory = vm.memory_bytes();
    assert_eq!(
        vm.root_calls()[before..],
        [format!("proxy_record_metric({GAUGE}, {memory})")]
    );
    // Grow the heap with a large response chunk (the rewritten chunk is built in memory),
    // and the next tick reports the new size.
    let big = big_list(3000);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&request("GET", "/api/v1/events"), true);
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    s.response_body(&big, true);
    assert_eq!(s.client_body().len(), big.len());
    vm.tick();
    assert!(vm.memory_bytes() > memory, "the list did not grow the heap");
    assert_eq!(vm.counter(GAUGE), Some(vm.memory_bytes() as i64));
    let recorded = vm.metric(GAUGE).unwrap().recorded;
    assert_eq!(recorded.len(), 3, "configure and two ticks: {recorded:?}");
}

/// An Activity list of `n` events (core shape, Activity's apiVersion).
fn big_list(n: usize) -> Vec<u8> {
    let event = json(&fixture("responses/event.json"));
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut e = event.clone();
            e["metadata"]["name"] = format!("e{i}").into();
            e
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": ACTIVITY_API_VERSION,
        "kind": "EventList",
        "metadata": {"resourceVersion": "1"},
        "items": items,
    }))
    .unwrap()
}

#[test]
fn many_requests_in_a_row_leave_linear_memory_flat() {
    let vm = Vm::filter(None);
    let event = fixture("responses/event.json");
    let body = fixture("event-forged-scope.json");
    let list = big_list(200);
    let round = |vm: &Vm| {
        for _ in 0..50 {
            event_get(vm, &event);
            create(vm, &body);
            refused(vm);
        }
        events_v1_list(vm, &list);
    };
    // Warm up: the allocator settles on its working set.
    round(&vm);
    round(&vm);
    let settled = vm.memory_bytes();
    for _ in 0..8 {
        round(&vm);
    }
    assert_eq!(
        vm.memory_bytes(),
        settled,
        "linear memory grew over 1,200 more requests"
    );
    vm.tick();
    assert_eq!(vm.counter(GAUGE), Some(settled as i64));
    vm.expect_counter("activity_events.requests.core_v1.get", 500);
    vm.expect_counter("activity_events.requests.core_v1.create", 500);
    vm.expect_counter("activity_events.rejections.unauthorized", 500);
}
