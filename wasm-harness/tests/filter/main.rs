use activity_wasm_harness::*;

#[test]
fn smoke() {
    let vm = Vm::filter(None);
    println!("{}", vm.transcript());
    let mut s = vm.stream();
    s.set_metadata(
        "envoy.filters.http.ext_authz",
        Value::object([
            ("user", Value::from("alice")),
            ("groups", Value::list(["g1"])),
        ]),
    );
    let a = s.request_headers(
        &[
            (":method", "GET"),
            (":path", "/api/v1/namespaces/default/events/e1"),
            (":authority", "milo"),
            ("authorization", "Bearer x"),
        ],
        true,
    );
    println!("{a:?}\n{:#?}\n{:#?}", s.calls(), s.upstream_headers());
    let a = s.response_headers(
        &[(":status", "200"), ("content-type", "application/json")],
        false,
    );
    let b = s.response_body(br#"{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","metadata":{"name":"e1"}}"#, true);
    println!("{a:?} {b:?} {}", String::from_utf8_lossy(&s.client_body()));
    s.finish();
    println!("{:#?}", s.callbacks());
    println!("{:#?}", s.calls());
}
