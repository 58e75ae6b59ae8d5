//! Identity from dynamic metadata, in every shape Envoy can hand it over.

use activity_wasm_harness::{status, Action, Fault, Value, Vm};

use crate::common::*;

const GET: &str = "/api/v1/namespaces/default/events/e1";

fn identity_headers(s: &activity_wasm_harness::Stream) -> Vec<(String, String)> {
    s.upstream_headers()
        .into_iter()
        .filter(|(k, _)| k.starts_with("x-remote-"))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn org_headers() -> Vec<(String, String)> {
    pairs(&[
        ("x-remote-user", "alice@acme.example"),
        ("x-remote-uid", "u-1"),
        ("x-remote-group", "system:authenticated"),
        ("x-remote-group", "acme-devs"),
        (EXTRA_TYPE_HEADER, "Organization"),
        (EXTRA_NAME_HEADER, "acme"),
        (EXTRA_GROUP_HEADER, "resourcemanager.miloapis.com"),
    ])
}

#[test]
fn structured_metadata_becomes_front_proxy_headers() {
    let vm = Vm::filter(None);
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&request("GET", GET), true);
    s.expect_no_local_reply();
    assert_eq!(identity_headers(&s), org_headers());
}

#[test]
fn the_userinfo_string_in_either_base64_alphabet() {
    let json = r#"{"username":"carol@example.com","uid":"c-42","groups":["system:authenticated"],
        "extra":{"iam.miloapis.com/parent-type":["Project"],"iam.miloapis.com/parent-name":["web-app"],
        "authentication.kubernetes.io/credential-id":["JTI=abc"]}}"#;
    let vm = Vm::filter(None);
    for url_safe in [false, true] {
        let mut s = stream_as(&vm, userinfo(json, url_safe));
        s.request_headers(&request("GET", GET), true);
        s.expect_no_local_reply();
        assert_eq!(
            identity_headers(&s),
            pairs(&[
                ("x-remote-user", "carol@example.com"),
                ("x-remote-uid", "c-42"),
                ("x-remote-group", "system:authenticated"),
                (EXTRA_TYPE_HEADER, "Project"),
                (EXTRA_NAME_HEADER, "web-app"),
            ]),
            "url_safe={url_safe}"
        );
        // One metadata read: the whole namespace.
        assert_eq!(s.count_calls("proxy_get_property"), 1);
    }
}

#[test]
fn no_metadata_namespace_is_401_unauthorized() {
    let vm = Vm::filter(None);
    let mut s = vm.stream();
    assert_eq!(s.request_headers(&request("GET", GET), true), Action::Pause);
    let status = s.expect_status_reply(401, "Unauthorized");
    assert_eq!(status["message"], "Unauthorized");
    assert!(!s.forwarded());
    vm.expect_counter("activity_events.rejections.unauthorized", 1);
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        &format!("proxy_get_property(metadata/filter_metadata/{NS}) -> NotFound"),
        "proxy_increment_metric(activity_events.requests.core_v1.get, 1)",
        "proxy_increment_metric(activity_events.rejections.unauthorized, 1)",
        "proxy_send_local_response(401, activity_events_unauthorized)",
    ]);
}

#[test]
fn a_namespace_without_a_user_is_401_too() {
    let vm = Vm::filter(None);
    for ns in [
        Value::object([("groups", Value::list(["g"]))]),
        Value::object([("user", "")]),
        Value::object([("userinfo", "")]),
    ] {
        let mut s = stream_as(&vm, ns);
        s.request_headers(&request("GET", GET), true);
        s.expect_status_reply(401, "Unauthorized");
    }
}

/// Envoy cannot serialize a namespace holding a value it does not encode (a `null`): the read
/// of the namespace answers 3, and the filter reads each configured field on its own.
#[test]
fn an_unserializable_namespace_falls_back_to_one_read_per_field() {
    let vm = Vm::filter(None);
    let Value::Struct(mut fields) = org_user() else {
        unreachable!()
    };
    fields.push(("session".to_owned(), Value::Null));
    let mut s = stream_as(&vm, Value::Struct(fields));
    assert_eq!(
        s.request_headers(&request("GET", GET), true),
        Action::Continue
    );
    s.expect_no_local_reply();
    let ns = format!("proxy_get_property(metadata/filter_metadata/{NS}");
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        &format!("{ns}) -> SerializationFailure"),
        &format!("{ns}/userinfo) -> NotFound"),
        &format!("{ns}/user)"),
        &format!("{ns}/uid)"),
        &format!("{ns}/groups)"),
        &format!("{ns}/extra)"),
        "proxy_increment_metric(activity_events.requests.core_v1.get, 1)",
        "proxy_set_header_map_pairs(request_headers, 14 pairs)",
    ]);
    assert_eq!(identity_headers(&s), org_headers());
}

#[test]
fn the_per_field_fallback_takes_userinfo_first() {
    let vm = Vm::filter(None);
    let Value::Struct(mut fields) = userinfo(r#"{"username":"dave","groups":["ops"]}"#, false)
    else {
        unreachable!()
    };
    fields.push(("user".to_owned(), Value::from("ignored")));
    fields.push(("broken".to_owned(), Value::Null));
    let mut s = stream_as(&vm, Value::Struct(fields));
    s.request_headers(&request("GET", GET), true);
    s.expect_no_local_reply();
    assert_eq!(
        identity_headers(&s),
        pairs(&[("x-remote-user", "dave"), ("x-remote-group", "ops")])
    );
    assert_eq!(s.count_calls("proxy_get_property"), 2, "{:#?}", s.calls());
}

/// The Milo profile's config names only `userinfo`: that one string is the only metadata read.
#[test]
fn a_config_naming_only_userinfo_reads_that_one_string() {
    let config = format!(r#"{{"identity":{{"metadata_namespace":"{NS}","userinfo":"userinfo"}}}}"#);
    let vm = Vm::filter(Some(&config));
    let mut s = stream_as(
        &vm,
        userinfo(r#"{"username":"dave","groups":["ops"]}"#, false),
    );
    s.request_headers(&request("GET", GET), true);
    s.expect_no_local_reply();
    assert_eq!(
        identity_headers(&s),
        pairs(&[("x-remote-user", "dave"), ("x-remote-group", "ops")])
    );
    let reads: Vec<String> = s
        .calls()
        .into_iter()
        .map(|c| c.to_string())
        .filter(|c| c.starts_with("proxy_get_property"))
        .collect();
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert!(reads[0].contains(&format!("{NS}/userinfo")), "{reads:#?}");
}

/// The JWT profile's config names the structured fields and `userinfo`: one namespace read
/// finds either, so `userinfo` is not asked for on its own first.
#[test]
fn a_config_naming_the_fields_too_reads_the_namespace_once() {
    let config = format!(
        r#"{{"identity":{{"metadata_namespace":"{NS}","user":["jwt_payload","sub"],
        "groups":["jwt_payload","groups"],"userinfo":["jwt_payload","userinfo"]}}}}"#
    );
    let vm = Vm::filter(Some(&config));
    let payload = Value::object([
        ("sub", Value::from("erin")),
        ("groups", Value::list(["devs"])),
    ]);
    let mut s = stream_as(&vm, Value::object([("jwt_payload", payload)]));
    s.request_headers(&request("GET", GET), true);
    s.expect_no_local_reply();
    assert_eq!(
        identity_headers(&s),
        pairs(&[("x-remote-user", "erin"), ("x-remote-group", "devs")])
    );
    assert_eq!(s.count_calls("proxy_get_property"), 1, "{:#?}", s.calls());
}

#[test]
fn an_unreadable_namespace_is_a_500_that_names_no_value() {
    let vm = Vm::filter(None);
    vm.inject(Fault::new("proxy_get_property", status::INTERNAL_FAILURE));
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&request("GET", GET), true);
    let body = s.expect_status_reply(500, "InternalError");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("metadata namespace unreadable (host status 10)"),
        "{message}"
    );
    assert!(!message.contains("alice"), "{message}");
}

#[test]
fn a_field_unreadable_in_the_fallback_is_named_in_the_500() {
    let vm = Vm::filter(None);
    vm.inject(Fault::new("proxy_get_property", status::SERIALIZATION_FAILURE).nth(1));
    vm.inject(
        Fault::new("proxy_get_property", status::BAD_ARGUMENT).matching(&format!("{NS}/groups")),
    );
    let mut s = stream_as(&vm, org_user());
    s.request_headers(&request("GET", GET), true);
    let body = s.expect_status_reply(500, "InternalError");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("metadata field groups unreadable (host status 2)"),
        "{message}"
    );
}

#[test]
fn identity_values_with_control_characters_are_refused_never_sent() {
    let vm = Vm::filter(None);
    for ns in [
        Value::object([("user", "alice\r\nx-remote-group: system:masters")]),
        Value::object([
            ("user", Value::from("alice")),
            ("groups", Value::list(["a\nb"])),
        ]),
        Value::object([
            ("user", Value::from("alice")),
            (
                "extra",
                Value::object([(PARENT_API_GROUP, Value::list(["g\0"]))]),
            ),
        ]),
    ] {
        let mut s = stream_as(&vm, ns);
        s.request_headers(&request("GET", GET), true);
        let body = s.expect_status_reply(500, "InternalError");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("control character"),
            "{body}"
        );
    }
}

#[test]
fn half_a_scope_is_refused_on_every_event_request() {
    let vm = Vm::filter(None);
    let ns = Value::object([
        ("user", Value::from("eve")),
        (
            "extra",
            Value::object([(PARENT_TYPE, Value::list(["Organization"]))]),
        ),
    ]);
    for (method, path) in [("GET", "/api/v1/events"), ("DELETE", GET)] {
        let mut s = stream_as(&vm, ns.clone());
        s.request_headers(&request(method, path), true);
        s.expect_status_reply(403, "Forbidden");
    }
}

#[test]
fn streams_never_share_identities() {
    let vm = Vm::filter(None);
    let mut a = stream_as(&vm, org_user());
    let mut b = stream_as(&vm, platform_user());
    let mut c = vm.stream();
    b.request_headers(&request("GET", GET), true);
    a.request_headers(&request("GET", GET), true);
    c.request_headers(&request("GET", GET), true);
    assert_eq!(
        a.upstream_header("x-remote-user").as_deref(),
        Some("alice@acme.example")
    );
    assert_eq!(
        b.upstream_header("x-remote-user").as_deref(),
        Some("admin@platform.local")
    );
    assert!(b.upstream_header(EXTRA_TYPE_HEADER).is_none());
    c.expect_status_reply(401, "Unauthorized");
}
