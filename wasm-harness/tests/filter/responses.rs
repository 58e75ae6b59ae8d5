//! Responses from Activity, brought back into the API the client asked for, chunk by chunk.

use activity_wasm_harness::{status, Action, Fault, Stream, Vm};

use crate::common::*;

const GET: &str = "/api/v1/namespaces/default/events/e1";
const GET_V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events/e1";

fn get(vm: &Vm, path: &str) -> Stream {
    let mut s = stream_as(vm, org_user());
    s.request_headers(&request("GET", path), true);
    s.expect_no_local_reply();
    s
}

/// Activity's response in the given chunks; every chunk must pass straight on.
fn respond(s: &mut Stream, status: &str, content_type: &str, len: Option<usize>, parts: &[&[u8]]) {
    let len = len.map(|n| n.to_string());
    let mut headers = vec![(":status", status), ("content-type", content_type)];
    if let Some(len) = &len {
        headers.push(("content-length", len));
    }
    assert_eq!(s.response_headers(&headers, false), Action::Continue);
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        assert_eq!(s.response_body(part, last), Action::Continue, "chunk {i}");
    }
}

#[test]
fn a_core_event_is_rewritten_to_v1_whatever_the_chunking() {
    let vm = Vm::filter(None);
    let body = fixture("responses/event.json");
    let mut expected = json(&body);
    expected["apiVersion"] = "v1".into();
    let at = body
        .windows(ACTIVITY_API_VERSION.len())
        .position(|w| w == ACTIVITY_API_VERSION.as_bytes())
        .unwrap();
    // Every split point around and inside the apiVersion value, and a few elsewhere.
    let cuts: Vec<usize> = (at - 16..at + ACTIVITY_API_VERSION.len() + 4)
        .chain([1, body.len() / 2, body.len() - 1])
        .collect();
    for cut in cuts {
        let mut s = get(&vm, GET);
        respond(
            &mut s,
            "200",
            "application/json",
            Some(body.len()),
            &chunks(&body, &[cut]),
        );
        let out = s.client_body();
        assert_eq!(json(&out), expected, "split at {cut}");
        // Padded in place, but re-framed: a body cut short upstream is replaced by a Status,
        // whose length is its own.
        assert_eq!(out.len(), body.len(), "split at {cut}");
        assert_eq!(s.client_header("content-length"), None);
        s.finish();
    }
}

#[test]
fn a_core_event_costs_four_host_calls_per_response() {
    let vm = Vm::filter(None);
    let body = fixture("responses/event.json");
    let mut s = get(&vm, GET);
    let before = s.calls().len();
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &[&body],
    );
    let n = body.len();
    assert_eq!(
        s.calls()[before..],
        [
            "proxy_get_header_map_pairs(response_headers)".to_owned(),
            "proxy_remove_header_map_value(response_headers, content-length)".to_owned(),
            format!("proxy_get_buffer_bytes(response_body, 0, {n})"),
            format!("proxy_set_buffer_bytes(response_body, 0, {n}, {n} bytes)"),
        ]
    );
}

#[test]
fn a_core_list_gets_every_item_rewritten() {
    let vm = Vm::filter(None);
    let body = fixture("responses/event-list.json");
    let mut s = get(&vm, "/api/v1/namespaces/default/events");
    let cuts: Vec<usize> = (1..8).map(|i| i * body.len() / 8).collect();
    respond(
        &mut s,
        "200",
        "application/json",
        None,
        &chunks(&body, &cuts),
    );
    let list = s.client_json();
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "EventList");
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for item in items {
        assert!(item.get("apiVersion").is_none_or(|v| v == "v1"), "{item}");
    }
}

/// Activity's lists carry no `apiVersion` in their items: past the list's own, nothing is
/// rewritten, and the filter writes back only the head it changed, then leaves every chunk
/// as it came (no copy of the list through the VM and back).
#[test]
fn a_list_chunk_that_needs_no_change_is_not_written_back() {
    let vm = Vm::filter(None);
    let mut list = json(&fixture("responses/event-list.json"));
    for item in list["items"].as_array_mut().unwrap() {
        item.as_object_mut().unwrap().remove("apiVersion");
    }
    let body = serde_json::to_vec(&list).unwrap();
    let mut s = get(&vm, "/api/v1/namespaces/default/events");
    let cuts: Vec<usize> = (1..4).map(|i| i * body.len() / 4).collect();
    let before = s.calls().len();
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &chunks(&body, &cuts),
    );
    let writes: Vec<String> = s.calls()[before..]
        .iter()
        .filter(|c| c.starts_with("proxy_set_buffer_bytes"))
        .cloned()
        .collect();
    // The list's `apiVersion` ends at the head written back: `"v1"` and its padding.
    let head = body
        .windows(ACTIVITY_API_VERSION.len())
        .position(|w| w == ACTIVITY_API_VERSION.as_bytes())
        .unwrap()
        + ACTIVITY_API_VERSION.len()
        + 1;
    assert_eq!(
        writes,
        [format!(
            "proxy_set_buffer_bytes(response_body, 0, {head}, {head} bytes)"
        )]
    );
    let out = s.client_body();
    assert_eq!(out.len(), body.len());
    list["apiVersion"] = "v1".into();
    assert_eq!(json(&out), list);
}

/// A chunk too large to read whole is read in slices: items to rewrite in any of them, and
/// items cut by the slices' edges, come out as one rewritten chunk.
#[test]
fn a_chunk_larger_than_a_whole_read_is_rewritten_slice_by_slice() {
    let vm = Vm::filter(None);
    let mut list = json(&fixture("responses/event-list.json"));
    let item = list["items"][0].clone();
    let items: Vec<serde_json::Value> = (0..3000)
        .map(|i| {
            let mut it = item.clone();
            it["metadata"]["name"] = format!("e{i}").into();
            // Every 700th keeps the upstream apiVersion, the others carry none.
            if i % 700 != 0 {
                it.as_object_mut().unwrap().remove("apiVersion");
            }
            it
        })
        .collect();
    list["items"] = items.into();
    let body = serde_json::to_vec(&list).unwrap();
    assert!(body.len() > 1024 * 1024, "{}", body.len());
    let mut s = get(&vm, "/api/v1/namespaces/default/events");
    let before = s.calls().len();
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &[&body],
    );
    let reads = s.calls()[before..]
        .iter()
        .filter(|c| c.starts_with("proxy_get_buffer_bytes(response_body"))
        .count();
    assert_eq!(reads, body.len().div_ceil(64 * 1024));
    let out = s.client_body();
    assert_eq!(out.len(), body.len());
    let got = json(&out);
    assert_eq!(got["apiVersion"], "v1");
    for (i, it) in got["items"].as_array().unwrap().iter().enumerate() {
        let want = if i % 700 == 0 { Some("v1") } else { None };
        assert_eq!(
            it.get("apiVersion").and_then(|v| v.as_str()),
            want,
            "item {i}"
        );
        assert_eq!(it["metadata"]["name"], format!("e{i}"));
    }
}

/// A core list whose items hide brackets, quotes and backslashes in strings of skipped
/// containers, at every offset of a scan block: what the client gets must be the JSON that
/// was sent, with only the objects' own `apiVersion` changed (serde_json is the judge).
#[test]
fn skipped_containers_end_where_json_says_at_every_offset() {
    let vm = Vm::filter(None);
    let tricky = [
        "}]",
        "{[",
        "a\"}b",
        "\\",
        "\\\"]",
        "é\u{212A}ſ",
        "\n\t{",
        "\\\\}",
    ];
    let items: Vec<serde_json::Value> = (0..160)
        .map(|i| {
            let text = format!("{}{}", "x".repeat(i % 67), tricky[i % tricky.len()]);
            let mut item = serde_json::json!({
                "metadata": {"name": format!("e{i}"), "annotations": {"note": text.clone(), "k}": "[v"},
                             "labels": {"a": text.clone()}},
                "involvedObject": {"kind": "Pod", "name": text.clone(), "fieldPath": "spec.containers{app}"},
                "related": [[], [{}], {"deep": [[[text.clone()]]]}],
                "reason": "Pulled",
                "message": text,
                "count": i,
            });
            if i % 5 == 0 {
                item["apiVersion"] = ACTIVITY_API_VERSION.into();
            }
            item
        })
        .collect();
    let list = serde_json::json!({
        "kind": "EventList", "apiVersion": ACTIVITY_API_VERSION,
        "metadata": {"resourceVersion": "7"}, "items": items,
    });
    let body = serde_json::to_vec(&list).unwrap();
    let mut expected = list.clone();
    expected["apiVersion"] = "v1".into();
    for item in expected["items"].as_array_mut().unwrap() {
        if item.get("apiVersion").is_some() {
            item["apiVersion"] = "v1".into();
        }
    }
    for parts in [1, 3, 7, 64] {
        let cuts: Vec<usize> = (1..parts)
            .map(|i| i * body.len() / parts + i % 64)
            .collect();
        let mut s = get(&vm, "/api/v1/namespaces/default/events");
        respond(
            &mut s,
            "200",
            "application/json",
            None,
            &chunks(&body, &cuts),
        );
        assert_eq!(s.client_json(), expected, "{parts} parts");
        s.finish();
    }
}

#[test]
fn an_events_v1_get_is_converted_and_re_framed() {
    let vm = Vm::filter(None);
    let body = fixture("responses/event.json");
    let core = json(&body);
    let mut s = get(&vm, GET_V1);
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &chunks(&body, &[100, 700]),
    );
    // The converted object has another length: content-length is gone, Envoy re-frames.
    assert_eq!(s.client_header("content-length"), None);
    let ev = s.client_json();
    assert_eq!(ev["apiVersion"], "events.k8s.io/v1");
    assert_eq!(ev["kind"], "Event");
    assert_eq!(ev["regarding"], core["involvedObject"]);
    assert_eq!(ev["note"], core["message"]);
    assert_eq!(ev["deprecatedSource"], core["source"]);
    assert_eq!(ev["deprecatedCount"], core["count"]);
    assert_eq!(ev["reportingController"], core["reportingComponent"]);
    assert!(
        ev.get("involvedObject").is_none() && ev.get("message").is_none(),
        "{ev}"
    );
}

#[test]
fn a_watch_forwards_each_event_as_soon_as_it_is_complete() {
    let vm = Vm::filter(None);
    let body = fixture("responses/watch.jsonl");
    let mut s = get(&vm, "/api/v1/namespaces/default/events?watch=true");
    assert_eq!(
        s.response_headers(
            &[(":status", "200"), ("content-type", "application/json")],
            false
        ),
        Action::Continue
    );
    let mut released = 0;
    // Held back: at most the event being read (never a part of one goes on, so a refused event
    // can be replaced by an ERROR event).
    let longest = body
        .split(|b| *b == b'\n')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    for (i, part) in body.chunks(97).enumerate() {
        let last = (i + 1) * 97 >= body.len();
        assert_eq!(s.response_body(part, last), Action::Continue);
        let now = s.client_body().len();
        assert!(
            now + longest + 1 >= (i + 1) * 97 || last,
            "chunk {i}: {now} bytes out"
        );
        assert!(now >= released);
        released = now;
    }
    let out = String::from_utf8(s.client_body()).unwrap();
    let events: Vec<serde_json::Value> = out.lines().map(|l| json(l.as_bytes())).collect();
    assert_eq!(
        events.len(),
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    );
    for e in &events {
        assert!(
            e["object"].get("apiVersion").is_none_or(|v| v == "v1"),
            "{e}"
        );
    }
}

#[test]
fn a_not_found_status_names_the_clients_resource() {
    let vm = Vm::filter(None);
    let body = br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"events.activity.miloapis.com \"e1\" not found","reason":"NotFound","details":{"name":"e1","group":"activity.miloapis.com","kind":"events"},"code":404}"#;
    for (path, message) in [
        (GET, "events \"e1\" not found"),
        (GET_V1, "events.events.k8s.io \"e1\" not found"),
    ] {
        let mut s = get(&vm, path);
        respond(
            &mut s,
            "404",
            "application/json",
            Some(body.len()),
            &[&body[..50], &body[50..]],
        );
        let status = s.client_json();
        assert_eq!(status["message"], message);
        assert_eq!(status["code"], 404);
    }
}

#[test]
fn an_encoded_response_is_refused_before_its_body_is_read() {
    for encoding in ["gzip", "br", "deflate"] {
        let vm = Vm::filter(None);
        let mut s = get(&vm, GET);
        s.response_headers(
            &[
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-encoding", encoding),
            ],
            false,
        );
        // (Envoy sends a local reply made while the response headers are held in their place;
        // the end-to-end tests show it.)
        let replies = s.local_replies();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].status, 502);
        assert_eq!(replies[0].details, "activity_events_bad_gateway");
        let status = json(&replies[0].body);
        assert_eq!(
            (status["kind"].as_str(), status["reason"].as_str()),
            (Some("Status"), Some("BadGateway"))
        );
        assert!(
            status["message"]
                .as_str()
                .is_some_and(|m| m.contains(encoding)),
            "{status}"
        );
    }
}

#[test]
fn undeclared_bodies_are_parsed_as_json_or_refused() {
    // JSON sent as text/plain, or with no content type, is converted and declared JSON.
    let json = fixture("responses/event.json");
    for content_type in [Some("text/plain"), None] {
        let vm = Vm::filter(None);
        let mut s = get(&vm, GET);
        let mut headers = vec![(":status", "200")];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        assert_eq!(s.response_headers(&headers, false), Action::Continue);
        s.response_body(&json[..json.len() / 2], false);
        s.response_body(&json[json.len() / 2..], true);
        assert_eq!(s.client_json()["apiVersion"], "v1", "{content_type:?}");
        assert_eq!(
            s.client_header("content-type").as_deref(),
            Some("application/json")
        );
    }
    // What is not JSON becomes a Status in place of the body, never the raw bytes.
    for (content_type, body) in [
        (
            "application/vnd.kubernetes.protobuf",
            &b"k8s\0\x0a\x0fbinary"[..],
        ),
        ("text/plain", b"activity.miloapis.com/v1alpha1"),
    ] {
        let vm = Vm::filter(None);
        let mut s = get(&vm, GET);
        s.response_headers(&[(":status", "200"), ("content-type", content_type)], false);
        s.response_body(&body[..body.len() / 2], false);
        s.response_body(&body[body.len() / 2..], true);
        let status = s.client_json();
        assert_eq!(status["kind"], "Status", "{content_type}");
        assert_eq!(status["code"], 502);
        assert!(!String::from_utf8_lossy(&s.client_body()).contains("activity.miloapis.com"));
    }
}

#[test]
fn a_host_refusing_the_rewritten_body_gets_the_stream_reset_not_a_trap() {
    let vm = Vm::filter(None);
    vm.inject(Fault::new("proxy_set_buffer_bytes", status::BAD_ARGUMENT).matching("response_body"));
    let body = fixture("responses/event.json");
    let mut s = get(&vm, GET);
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &[&body[..300]],
    );
    assert_eq!(s.closed(), ["response"]);
    assert!(s.ended());
    assert!(!vm.has_failed());
    s.finish();
    // The VM goes on serving.
    vm.clear_faults();
    let mut s = get(&vm, GET);
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &[&body],
    );
    assert_eq!(s.client_json()["apiVersion"], "v1");
}

#[test]
fn an_unreadable_response_body_ends_the_response() {
    let vm = Vm::filter(None);
    vm.inject(
        Fault::new("proxy_get_buffer_bytes", status::INTERNAL_FAILURE).matching("response_body"),
    );
    let body = fixture("responses/event.json");
    let mut s = get(&vm, GET);
    respond(
        &mut s,
        "200",
        "application/json",
        Some(body.len()),
        &[&body],
    );
    assert_eq!(s.closed(), ["response"]);
}

#[test]
fn an_events_v1_object_over_the_limit_ends_the_watch_with_an_error_event() {
    let vm = Vm::filter(Some(r#"{"max_response_object_bytes": 256}"#));
    let body = fixture("responses/watch.jsonl");
    let mut s = get(
        &vm,
        "/apis/events.k8s.io/v1/namespaces/default/events?watch=true",
    );
    s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    s.response_body(&body[..400], false);
    let out = String::from_utf8(s.client_body()).unwrap();
    let last = json(out.lines().last().unwrap().as_bytes());
    assert_eq!(last["type"], "ERROR", "{out}");
    assert_eq!(last["object"]["kind"], "Status");
    vm.expect_counter("activity_events.responses_aborted", 1);
    // The rest of the stream is dropped, and the stream reset.
    if !s.ended() {
        s.response_body(&body[400..], false);
    }
    assert_eq!(s.closed(), ["response"]);
}
