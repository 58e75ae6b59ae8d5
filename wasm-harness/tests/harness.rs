//! The harness itself, on tiny hand-written modules: it reports traps, forbidden imports and
//! hangs as failures, calls only what a module exports, and moves memory the ABI's way.

use activity_wasm_harness::{Action, Vm, VmFailure, VmOptions, Wasm};

/// A proxy-wasm module around the given functions: ABI marker, memory, a bump allocator.
fn module(imports: &str, body: &str) -> Wasm {
    let wat = format!(
        r#"(module
            {imports}
            (memory (export "memory") 1)
            (global $heap (mut i32) (i32.const 4096))
            (func (export "proxy_abi_version_0_2_1"))
            (func (export "proxy_on_memory_allocate") (param $n i32) (result i32)
                (local $p i32)
                (local.set $p (global.get $heap))
                (global.set $heap (i32.add (global.get $heap) (local.get $n)))
                (local.get $p))
            (func (export "proxy_on_context_create") (param i32 i32))
            {body})"#
    );
    Wasm::from_bytes("test module", wat.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"))
}

fn trapping() -> Wasm {
    module(
        "",
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
               unreachable)"#,
    )
}

#[test]
fn a_trap_is_reported_as_a_failure_naming_the_callback() {
    let vm = Vm::start(&trapping());
    let mut s = vm.stream();
    let err = s
        .try_request_headers(&[(":path", "/")], true)
        .expect_err("the module traps");
    assert!(err.is_trap(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("the VM trapped in proxy_on_request_headers(context 2)"),
        "{text}"
    );
    assert!(text.contains("unreachable"), "{text}");
    // Envoy calls nothing more in a failed VM.
    assert!(vm.has_failed());
    assert!(matches!(vm.try_stream(), Err(VmFailure::Failed(_))));
}

#[test]
#[should_panic(expected = "the VM trapped in proxy_on_request_headers")]
fn a_trap_fails_the_test_through_the_plain_methods() {
    let vm = Vm::start(&trapping());
    vm.stream().request_headers(&[(":path", "/")], true);
}

#[test]
fn a_call_to_an_import_the_filter_must_not_use_is_a_failure() {
    let wasm = module(
        r#"(import "env" "proxy_http_call"
               (func $http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))"#,
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
               (drop (call $http_call (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                   (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                   (i32.const 0) (i32.const 0)))
               (i32.const 0))"#,
    );
    let vm = Vm::start(&wasm);
    let err = vm
        .stream()
        .try_request_headers(&[(":path", "/")], true)
        .expect_err("forbidden import");
    let text = err.to_string();
    assert!(
        text.contains("proxy_on_request_headers called env.proxy_http_call(")
            && text.contains("unexpectedly"),
        "{text}"
    );
    // Linked but never called: no failure.
    Vm::start(&wasm);
}

#[test]
fn only_exported_callbacks_are_called_and_missing_ones_continue() {
    let wasm = module(
        "",
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
               (i32.const 0))"#,
    );
    let vm = Vm::start(&wasm);
    assert!(
        vm.configure(Some(b"anything")),
        "no proxy_on_configure: accepted"
    );
    let mut s = vm.stream();
    assert_eq!(
        s.request_headers(&[(":path", "/")], false),
        Action::Continue
    );
    assert_eq!(s.request_body(b"x", true), Action::Continue);
    assert_eq!(
        s.response_headers(&[(":status", "200")], false),
        Action::Continue
    );
    assert_eq!(s.response_body(b"y", true), Action::Continue);
    s.finish();
    assert_eq!(
        s.callbacks(),
        ["proxy_on_context_create", "proxy_on_request_headers = 0"]
    );
    assert_eq!(s.upstream_body(), b"x");
    assert_eq!(s.client_body(), b"y");
}

#[test]
fn a_module_without_abi_0_2_1_is_refused() {
    let wasm = Wasm::from_bytes(
        "old abi",
        br#"(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_1_0")))"#,
    )
    .unwrap();
    match Vm::try_start(&wasm, VmOptions::default()) {
        Err(VmFailure::Load(e)) => assert!(e.contains("proxy_abi_version_0_2_1"), "{e}"),
        other => panic!("loaded: {:?}", other.err()),
    }
}

#[test]
fn a_callback_that_never_returns_is_a_trap_not_a_hung_test() {
    let wasm = module(
        r#"(import "env" "proxy_set_tick_period_milliseconds" (func $tick (param i32) (result i32)))"#,
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
               (drop (call $tick (i32.const 10))) (i32.const 1))
           (func (export "proxy_on_tick") (param i32) (loop $forever (br $forever)))"#,
    );
    let vm = Vm::try_start(
        &wasm,
        VmOptions {
            fuel_per_callback: 1_000_000,
            ..VmOptions::default()
        },
    )
    .unwrap();
    let err = vm.try_tick().expect_err("endless loop");
    assert!(err.to_string().contains("ran out of fuel"), "{err}");
}

/// Headers read through the ABI (host-allocated memory, pointer and size written back), then
/// written back unchanged, then a header removed: the map goes upstream as Envoy would hold it.
#[test]
fn header_maps_move_through_guest_memory_in_the_pairs_format() {
    let wasm = module(
        r#"(import "env" "proxy_get_header_map_pairs" (func $get (param i32 i32 i32) (result i32)))
           (import "env" "proxy_set_header_map_pairs" (func $set (param i32 i32 i32) (result i32)))
           (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
           (data (i32.const 64) "X-DROP-ME")"#,
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
               (drop (call $get (i32.const 0) (i32.const 16) (i32.const 20)))
               (drop (call $set (i32.const 0) (i32.load (i32.const 16)) (i32.load (i32.const 20))))
               (drop (call $remove (i32.const 0) (i32.const 64) (i32.const 9)))
               ;; The response map does not exist yet: writing it is refused.
               (drop (call $set (i32.const 2) (i32.load (i32.const 16)) (i32.load (i32.const 20))))
               (i32.const 0))"#,
    );
    let vm = Vm::start(&wasm);
    let mut s = vm.stream();
    let action = s.request_headers(
        &[
            (":path", "/a"),
            ("Accept", "text/plain"),
            ("x-drop-me", "1"),
            (":method", "GET"),
        ],
        true,
    );
    assert_eq!(action, Action::Continue);
    s.expect_calls(&[
        "proxy_get_header_map_pairs(request_headers)",
        "proxy_set_header_map_pairs(request_headers, 4 pairs)",
        "proxy_remove_header_map_value(request_headers, X-DROP-ME)",
        "proxy_set_header_map_pairs(response_headers, 4 pairs) -> BadArgument",
    ]);
    // Names lower-cased and pseudo-headers first, as Envoy's codec hands them over.
    let up = s.upstream_headers();
    let up: Vec<(&str, &str)> = up.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        up,
        [
            (":path", "/a"),
            (":method", "GET"),
            ("accept", "text/plain")
        ]
    );
}

/// A header value with CR or LF would reach the upstream as a split header: the harness
/// fails the test even though Envoy's API accepts the call.
#[test]
fn writing_a_header_value_with_a_line_break_is_a_failure() {
    let wasm = module(
        r#"(import "env" "proxy_set_header_map_pairs" (func $set (param i32 i32 i32) (result i32)))
           ;; one pair: "a" -> "b\r\nc"
           (data (i32.const 64) "\01\00\00\00\01\00\00\00\04\00\00\00a\00b\0d\0ac\00")"#,
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
               (drop (call $set (i32.const 0) (i32.const 64) (i32.const 19)))
               (i32.const 0))"#,
    );
    let vm = Vm::start(&wasm);
    let err = vm
        .stream()
        .try_request_headers(&[(":path", "/")], true)
        .expect_err("header injection");
    assert!(err.to_string().contains("wrote an invalid header"), "{err}");
}
