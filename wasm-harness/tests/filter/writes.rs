//! Write bodies: buffered until complete, checked, scoped, and only then released.

use activity_wasm_harness::{Action, Vm};
use serde_json::json;

use crate::common::*;

const CREATE: &str = "/api/v1/namespaces/default/events";
const ONE: &str = "/api/v1/namespaces/default/events/test-event";

fn forged() -> Vec<u8> {
    fixture("event-forged-scope.json")
}

#[test]
fn a_create_in_several_chunks_is_held_until_complete_then_scoped() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    let body = forged();
    let len = body.len().to_string();
    let mut headers = write("POST", CREATE, "application/json");
    headers.push(("content-length", &len));
    assert_eq!(s.request_headers(&headers, false), Action::Continue);
    // The body will change, so its length goes; Envoy re-frames it.
    assert_eq!(s.upstream_header("content-length"), None);
    assert_eq!(
        s.upstream_header(":path"),
        Some(format!("{PREFIX}/namespaces/default/events"))
    );

    let parts = chunks(&body, &[10, 200]);
    assert_eq!(s.request_body(parts[0], false), Action::Pause);
    assert_eq!(s.request_body(parts[1], false), Action::Pause);
    assert!(
        s.upstream_body().is_empty(),
        "nothing is released before the end"
    );
    let before = s.calls().len();
    assert_eq!(s.request_body(parts[2], true), Action::Continue);
    s.expect_no_local_reply();
    assert!(s.upstream_complete());

    // The last callback reads the whole buffered body once and replaces it once.
    let last: Vec<String> = s.calls()[before..].to_vec();
    let n = body.len();
    let out = s.upstream_body();
    assert_eq!(
        last,
        [
            format!("proxy_get_buffer_bytes(request_body, 0, {n})"),
            format!(
                "proxy_set_buffer_bytes(request_body, 0, {n}, {} bytes)",
                out.len()
            ),
            "proxy_increment_metric(activity_events.scope_injections, 1)".to_owned(),
        ]
    );
    let sent = s.upstream_json();
    assert_eq!(sent["apiVersion"], ACTIVITY_API_VERSION);
    assert_eq!(
        sent["metadata"]["annotations"],
        json!({
            SCOPE_TYPE: "Organization",
            SCOPE_NAME: "acme",
            "keep.example.com/me": "yes"
        }),
        "the forged scope is overwritten, other annotations kept"
    );
    assert_eq!(sent["message"], "forged scope must be overwritten");
    vm.expect_counter("activity_events.scope_injections", 1);
    vm.expect_counter("activity_events.requests.core_v1.create", 1);
}

#[test]
fn a_platform_user_writes_the_body_as_sent_only_retagged() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, platform_user());
    s.request_headers(&write("PUT", ONE, "application/json"), false);
    s.request_body(&forged(), true);
    s.expect_no_local_reply();
    let sent = s.upstream_json();
    assert_eq!(sent["apiVersion"], ACTIVITY_API_VERSION);
    assert_eq!(
        sent["metadata"]["annotations"][SCOPE_NAME],
        "someone-elses-org"
    );
    vm.expect_counter("activity_events.scope_injections", 0);
}

#[test]
fn in_standard_paths_mode_an_unchanged_body_keeps_its_length_and_bytes() {
    let vm = Vm::filter(Some(r#"{"activity_prefix": "/api/v1"}"#));
    let mut s = stream_as(&vm, platform_user());
    let body = forged();
    let len = body.len().to_string();
    let mut h = write("POST", CREATE, "application/json");
    h.push(("content-length", &len));
    s.request_headers(&h, false);
    assert_eq!(s.upstream_header("content-length"), Some(len));
    assert_eq!(s.request_body(&body, true), Action::Continue);
    assert_eq!(s.upstream_body(), body);
    assert_eq!(s.count_calls("proxy_set_buffer_bytes"), 0);
}

#[test]
fn a_merge_patch_gets_the_scope_and_a_json_patch_gets_two_adds() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("PATCH", ONE, "application/merge-patch+json"), false);
    s.request_body(br#"{"message":"patched"}"#, true);
    s.expect_no_local_reply();
    let sent = s.upstream_json();
    assert_eq!(sent["message"], "patched");
    assert_eq!(sent["metadata"]["annotations"][SCOPE_TYPE], "Organization");
    assert_eq!(sent["metadata"]["annotations"][SCOPE_NAME], "acme");

    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("PATCH", ONE, "application/json-patch+json"), false);
    s.request_body(br#"[{"op":"replace","path":"/message","value":"x"}]"#, true);
    s.expect_no_local_reply();
    let ops = s.upstream_json();
    let paths: Vec<&str> = ops
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/message",
            "/metadata/annotations/platform.miloapis.com~1scope.type",
            "/metadata/annotations/platform.miloapis.com~1scope.name"
        ]
    );
}

#[test]
fn a_patch_forging_the_scope_is_overwritten_and_one_dropping_it_is_403() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("PATCH", ONE, "application/merge-patch+json"), false);
    s.request_body(&fixture("patch-merge-forged.json"), true);
    s.expect_no_local_reply();
    let sent = s.upstream_json();
    assert_eq!(sent["metadata"]["annotations"][SCOPE_TYPE], "Organization");
    assert_eq!(sent["metadata"]["annotations"][SCOPE_NAME], "acme");

    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("PATCH", ONE, "application/merge-patch+json"), false);
    s.request_body(br#"{"metadata":{"annotations":null}}"#, true);
    s.expect_status_reply(403, "Forbidden");
    assert!(s.upstream_body().is_empty());
}

#[test]
fn an_events_v1_create_is_stored_in_the_core_shape() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(
        &write(
            "POST",
            "/apis/events.k8s.io/v1/namespaces/default/events",
            "application/json",
        ),
        false,
    );
    let body = fixture("convert/full-events-v1.json");
    s.request_body(&body, true);
    s.expect_no_local_reply();
    let sent = s.upstream_json();
    let original = json(&body);
    assert_eq!(sent["apiVersion"], ACTIVITY_API_VERSION);
    assert_eq!(sent["involvedObject"], original["regarding"]);
    assert_eq!(sent["message"], original["note"]);
    assert!(
        sent.get("regarding").is_none() && sent.get("note").is_none(),
        "{sent}"
    );
    assert_eq!(sent["metadata"]["annotations"][SCOPE_NAME], "acme");
    vm.expect_counter("activity_events.requests.events_v1.create", 1);
}

#[test]
fn a_declared_length_over_the_limit_is_413_before_any_body() {
    let vm = Vm::filter(Some(r#"{"max_body_bytes": 64}"#));
    let mut s = stream_as(&vm, org_user());
    let mut h = write("POST", CREATE, "application/json");
    h.push(("content-length", "65"));
    assert_eq!(s.request_headers(&h, false), Action::Pause);
    let status = s.expect_status_reply(413, "RequestEntityTooLarge");
    assert!(
        status["message"].as_str().unwrap().contains("64 bytes"),
        "{status}"
    );
    assert!(!s.forwarded());
    assert_eq!(
        s.count_calls("proxy_get_property"),
        0,
        "refused before the identity"
    );
}

#[test]
fn a_chunked_body_growing_over_the_limit_is_413_and_never_released() {
    let vm = Vm::filter(Some(r#"{"max_body_bytes": 64}"#));
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("POST", CREATE, "application/json"), false);
    assert_eq!(s.request_body(&[b' '; 40], false), Action::Pause);
    assert_eq!(s.request_body(&[b' '; 40], false), Action::Pause);
    s.expect_status_reply(413, "RequestEntityTooLarge");
    assert!(s.upstream_body().is_empty());
    assert!(s.ended());
    vm.expect_counter("activity_events.rejections.request_entity_too_large", 1);
}

#[test]
fn a_write_without_a_body_is_refused() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    assert_eq!(
        s.request_headers(&write("POST", CREATE, "application/json"), true),
        Action::Pause
    );
    let status = s.expect_status_reply(400, "BadRequest");
    assert_eq!(status["message"], "the request body is empty");
    assert!(!s.forwarded(), "the headers must not go on either");
}

#[test]
fn trailers_on_a_write_are_400() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("POST", CREATE, "application/json"), false);
    assert_eq!(s.request_body(&forged(), false), Action::Pause);
    assert_eq!(s.request_trailers(&[("x-checksum", "abc")]), Action::Pause);
    let status = s.expect_status_reply(400, "BadRequest");
    assert!(
        status["message"].as_str().unwrap().contains("trailers"),
        "{status}"
    );
    assert!(s.upstream_body().is_empty());
}

#[test]
fn trailers_on_a_read_pass() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&request("GET", ONE), false);
    assert_eq!(
        s.request_trailers(&[("x-checksum", "abc")]),
        Action::Continue
    );
    s.expect_no_local_reply();
    assert!(s.upstream_complete());
}

#[test]
fn bodies_that_are_not_json_objects_are_refused() {
    let vm = Vm::filter(None);
    for (content_type, body, code, reason) in [
        ("application/json", &b"{\"kind\": "[..], 400, "BadRequest"),
        ("application/json", &b"[1, 2]"[..], 400, "BadRequest"),
        (
            "application/yaml",
            &b"kind: Event"[..],
            415,
            "UnsupportedMediaType",
        ),
        (
            "application/apply-patch+yaml",
            &b"kind: Event"[..],
            415,
            "UnsupportedMediaType",
        ),
    ] {
        let method = if content_type.contains("patch") {
            "PATCH"
        } else {
            "POST"
        };
        let path = if method == "PATCH" { ONE } else { CREATE };
        let mut s = stream_as(&vm, org_user());
        if s.request_headers(&write(method, path, content_type), false) == Action::Continue {
            s.request_body(body, true);
        }
        s.expect_status_reply(code, reason);
    }
}

fn events_v1_with_unknown_fields() -> serde_json::Value {
    let mut body = json(&fixture("convert/full-events-v1.json"));
    body["message"] = json!("a core name");
    body["regarding"]["foo"] = json!(1);
    body
}

const V1_CREATE: &str = "/apis/events.k8s.io/v1/namespaces/default/events";

#[test]
fn dropped_fields_become_warning_headers_on_the_upstream_answer() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("POST", V1_CREATE, "application/json"), false);
    s.request_body(events_v1_with_unknown_fields().to_string().as_bytes(), true);
    s.expect_no_local_reply();
    assert!(s.upstream_json().get("foo").is_none());
    s.response_headers(
        &[(":status", "201"), ("content-type", "application/json")],
        false,
    );
    let warnings: Vec<String> = s
        .client_headers()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == "warning")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        warnings,
        vec![
            r#"299 - "unknown field \"message\"""#,
            r#"299 - "unknown field \"regarding.foo\"""#
        ]
    );
}

#[test]
fn a_refusal_after_decoding_carries_the_warnings_and_strict_refuses() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&write("POST", V1_CREATE, "application/json"), false);
    let mut body = events_v1_with_unknown_fields();
    body.as_object_mut().map(|o| o.remove("eventTime"));
    s.request_body(body.to_string().as_bytes(), true);
    s.expect_status_reply(422, "Invalid");
    let reply = s.local_replies().pop().expect("a local reply");
    let warnings: Vec<&str> = reply
        .headers
        .iter()
        .filter(|(k, _)| k == "warning")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        warnings,
        vec![
            r#"299 - "unknown field \"message\"""#,
            r#"299 - "unknown field \"regarding.foo\"""#
        ]
    );
    assert!(s.upstream_body().is_empty());

    let mut s = stream_as(&vm, org_user());
    s.request_headers(
        &write(
            "POST",
            &format!("{V1_CREATE}?fieldValidation=Strict"),
            "application/json",
        ),
        false,
    );
    s.request_body(events_v1_with_unknown_fields().to_string().as_bytes(), true);
    let status = s.expect_status_reply(400, "BadRequest");
    assert!(
        status["message"].as_str().unwrap_or("").ends_with(
            "strict decoding error: unknown field \"message\", unknown field \"regarding.foo\""
        ),
        "{status}"
    );
    assert!(s.upstream_body().is_empty());
}
