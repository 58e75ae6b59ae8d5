//! `proxy_on_configure`: what Envoy sees when it loads the plugin configuration.

use activity_wasm_harness::{LogLevel, Vm, VmOptions, Wasm};

use crate::common::*;

fn started() -> Vm {
    Vm::start(Wasm::filter())
}

#[test]
fn a_valid_json_configuration_is_accepted_and_used() {
    let vm = started();
    let config = br#"{
        "activity_prefix": "/api/v1",
        "identity": {"metadata_namespace": "jwt", "user": ["payload", "sub"]},
        "forward_extras": ["iam.miloapis.com/parent-type", "iam.miloapis.com/parent-name"],
        "max_body_bytes": 4096
    }"#;
    assert!(vm.configure(Some(config)));
    assert!(vm.logs_at(LogLevel::Warn).is_empty(), "{:?}", vm.logs());
    let info = vm.expect_one_log(LogLevel::Info, "activity-events: configured");
    assert!(info.contains("/api/v1") && info.contains("jwt"), "{info}");

    // The configuration takes effect: standard-paths mode keeps the path, the user comes
    // from the nested field of the configured namespace.
    let mut s = vm.stream();
    s.set_metadata(
        "jwt",
        activity_wasm_harness::Value::object([(
            "payload",
            activity_wasm_harness::Value::object([("sub", "bob")]),
        )]),
    );
    s.request_headers(
        &request("GET", "/api/v1/namespaces/default/events/e1"),
        true,
    );
    s.expect_no_local_reply();
    assert_eq!(
        s.upstream_header(":path").as_deref(),
        Some("/api/v1/namespaces/default/events/e1")
    );
    assert_eq!(s.upstream_header("x-remote-user").as_deref(), Some("bob"));
    assert!(s
        .calls()
        .contains(&"proxy_get_property(metadata/filter_metadata/jwt)".to_owned()));
}

#[test]
fn configure_reads_the_configuration_once_and_sets_up_metrics_and_the_memory_timer() {
    let vm = started();
    assert!(vm.configure(Some(b"{}")));
    let calls = vm.root_calls();
    let count = |prefix: &str| calls.iter().filter(|c| c.starts_with(prefix)).count();
    assert_eq!(
        count("proxy_get_buffer_bytes(plugin_configuration, 0, "),
        1,
        "{calls:#?}"
    );
    assert_eq!(count("proxy_get_log_level()"), 1);
    // 14 request counters (2 APIs × 7 operations), 11 rejection reasons, 3 more counters and
    // the memory gauge, each defined once.
    assert_eq!(count("proxy_define_metric(counter, "), 28, "{calls:#?}");
    assert_eq!(
        count("proxy_define_metric(gauge, activity_events.wasm_memory_bytes)"),
        1
    );
    assert!(calls.contains(&"proxy_set_tick_period_milliseconds(1000)".to_owned()));
    for name in vm.metric_names() {
        assert_eq!(vm.metric(&name).map(|m| m.definitions), Some(1), "{name}");
    }
    // The gauge starts at the VM's current size.
    let memory = vm.memory_bytes() as i64;
    assert_eq!(
        vm.counter("activity_events.wasm_memory_bytes"),
        Some(memory)
    );
}

#[test]
fn invalid_json_is_refused_with_one_error_line() {
    let vm = started();
    assert!(!vm.configure(Some(br#"{"activity_prefix": "/apis/x/v1""#)));
    vm.expect_one_log(
        LogLevel::Error,
        "activity-events: invalid plugin configuration: not valid JSON",
    );
    // A refused configuration defines nothing and asks for no timer.
    assert!(vm.metric_names().is_empty());
    assert_eq!(vm.tick_period_ms(), None);
}

#[test]
fn an_unknown_key_is_refused_with_one_error_line_naming_it() {
    let vm = started();
    assert!(!vm.configure(Some(br#"{"activity_prefx": "/apis/x/v1"}"#)));
    let line = vm.expect_one_log(LogLevel::Error, "invalid plugin configuration");
    assert!(line.contains("activity_prefx"), "{line}");
}

/// What Envoy hands over when the configuration is a `google.protobuf.Struct` instead of a
/// `StringValue`: the Struct in protobuf binary.
fn struct_binary(key: &str, value: &str) -> Vec<u8> {
    let mut string_value = vec![0x1a, value.len() as u8];
    string_value.extend_from_slice(value.as_bytes());
    let mut entry = vec![0x0a, key.len() as u8];
    entry.extend_from_slice(key.as_bytes());
    entry.push(0x12);
    entry.push(string_value.len() as u8);
    entry.extend_from_slice(&string_value);
    let mut out = vec![0x0a, entry.len() as u8];
    out.extend_from_slice(&entry);
    out
}

#[test]
fn a_protobuf_struct_configuration_is_refused_with_the_clear_message() {
    let vm = started();
    assert!(!vm.configure(Some(&struct_binary("activity_prefix", "/api/v1"))));
    vm.expect_one_log(
        LogLevel::Error,
        "expected a JSON object; give it as a google.protobuf.StringValue holding JSON text",
    );
}

#[test]
fn no_configuration_means_the_defaults() {
    for config in [None, Some(&b""[..]), Some(&b"  \n"[..])] {
        let vm = started();
        assert!(vm.configure(config), "{config:?}");
        let mut s = stream_as(&vm, org_user());
        s.request_headers(
            &request("GET", "/api/v1/namespaces/default/events/e1"),
            true,
        );
        s.expect_no_local_reply();
        assert_eq!(
            s.upstream_header(":path"),
            Some(format!("{PREFIX}/namespaces/default/events/e1"))
        );
        assert!(s.calls().contains(&format!(
            "proxy_get_property(metadata/filter_metadata/{NS})"
        )));
        // All three default forward extras.
        for h in [EXTRA_TYPE_HEADER, EXTRA_NAME_HEADER, EXTRA_GROUP_HEADER] {
            assert_eq!(s.upstream_header_values(h).len(), 1, "{h}");
        }
    }
}

#[test]
fn forward_extras_without_the_scope_keys_is_accepted_with_a_warning() {
    let vm = started();
    assert!(vm.configure(Some(br#"{"forward_extras": ["example.com/team"]}"#)));
    let warning = vm.expect_one_log(LogLevel::Warn, "forward_extras lacks the scope extras");
    assert!(
        warning.contains("cannot filter reads by tenant"),
        "{warning}"
    );
}

#[test]
fn debug_logs_reach_envoy_only_when_its_level_asks_for_them() {
    let info = Vm::filter(None);
    let mut s = stream_as(&info, org_user());
    s.request_headers(
        &request("GET", "/api/v1/namespaces/default/events/e1"),
        true,
    );
    assert_eq!(s.count_calls("proxy_log"), 0, "{:#?}", s.calls());

    let debug = Vm::filter_with(
        VmOptions {
            log_level: LogLevel::Debug,
            ..VmOptions::default()
        },
        None,
    );
    let mut s = stream_as(&debug, org_user());
    s.request_headers(
        &request("GET", "/api/v1/namespaces/default/events/e1"),
        true,
    );
    let lines: Vec<String> = debug
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Debug)
        .map(|l| l.message)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("core_v1 get namespace=default scoped=true")),
        "{lines:#?}"
    );
    // Decision logs never carry the identity or the token.
    for l in &lines {
        assert!(!l.contains("alice") && !l.contains("token-of-alice"), "{l}");
    }
}
