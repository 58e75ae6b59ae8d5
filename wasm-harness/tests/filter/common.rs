//! Fixtures shared by the filter tests: identities as an authn filter puts them into dynamic
//! metadata, and requests as clients send them.

use activity_wasm_harness::{Stream, Value, Vm};
use base64::Engine;

/// The default identity namespace (`identity.metadata_namespace`).
pub const NS: &str = "envoy.filters.http.ext_authz";
/// The default `activity_prefix`.
pub const PREFIX: &str = "/apis/activity.miloapis.com/v1alpha1";
pub const ACTIVITY_API_VERSION: &str = "activity.miloapis.com/v1alpha1";

pub const PARENT_TYPE: &str = "iam.miloapis.com/parent-type";
pub const PARENT_NAME: &str = "iam.miloapis.com/parent-name";
pub const PARENT_API_GROUP: &str = "iam.miloapis.com/parent-api-group";
pub const SCOPE_TYPE: &str = "platform.miloapis.com/scope.type";
pub const SCOPE_NAME: &str = "platform.miloapis.com/scope.name";

/// The escaped `X-Remote-Extra-*` names (client-go's `headerKeyEscape`), lower-cased by Envoy.
pub const EXTRA_TYPE_HEADER: &str = "x-remote-extra-iam.miloapis.com%2fparent-type";
pub const EXTRA_NAME_HEADER: &str = "x-remote-extra-iam.miloapis.com%2fparent-name";
pub const EXTRA_GROUP_HEADER: &str = "x-remote-extra-iam.miloapis.com%2fparent-api-group";

/// Alice, scoped to Organization `acme`, in the structured form.
pub fn org_user() -> Value {
    Value::object([
        ("user", Value::from("alice@acme.example")),
        ("uid", Value::from("u-1")),
        ("groups", Value::list(["system:authenticated", "acme-devs"])),
        (
            "extra",
            Value::object([
                (PARENT_TYPE, Value::list(["Organization"])),
                (PARENT_NAME, Value::list(["acme"])),
                (
                    PARENT_API_GROUP,
                    Value::list(["resourcemanager.miloapis.com"]),
                ),
                (
                    "authentication.kubernetes.io/credential-id",
                    Value::list(["JTI=abc"]),
                ),
            ]),
        ),
    ])
}

/// A platform operator: no parent extras, sees and writes everything.
pub fn platform_user() -> Value {
    Value::object([
        ("user", Value::from("admin@platform.local")),
        ("groups", Value::list(["system:masters"])),
    ])
}

/// The `userinfo` form: base64 of an `authentication.k8s.io/v1` UserInfo JSON.
pub fn userinfo(json: &str, url_safe_unpadded: bool) -> Value {
    let encoded = if url_safe_unpadded {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    } else {
        base64::engine::general_purpose::STANDARD.encode(json)
    };
    Value::object([("userinfo", Value::from(encoded))])
}

/// A stream whose authn step put `user` into the default namespace.
/// A user Milo put into the control plane `kind`/`name` (the authorizer's extras).
pub fn user_in(kind: &str, name: &str, group: &str) -> Value {
    Value::object([
        ("user", Value::from("alice@acme.example")),
        ("uid", Value::from("u-1")),
        ("groups", Value::list(["system:authenticated"])),
        (
            "extra",
            Value::object([
                (PARENT_TYPE, Value::list([kind])),
                (PARENT_NAME, Value::list([name])),
                (PARENT_API_GROUP, Value::list([group])),
            ]),
        ),
    ])
}

pub fn stream_as(vm: &Vm, user: Value) -> Stream {
    let mut s = vm.stream();
    s.set_metadata(NS, user);
    s
}

/// Request headers as kubectl sends them for `method path`.
pub fn request<'a>(method: &'a str, path: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        (":method", method),
        (":path", path),
        (":authority", "milo.example"),
        (":scheme", "https"),
        ("authorization", "Bearer token-of-alice"),
        ("accept", "application/json"),
        ("user-agent", "kubectl/v1.37.0"),
    ]
}

/// A write's request headers with its body's type (and no length: chunked).
pub fn write<'a>(method: &'a str, path: &'a str, content_type: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut h = request(method, path);
    h.push(("content-type", content_type));
    h
}

/// A root fixture file (`testdata/`) of the workspace.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/");
    std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Split `body` into chunks at the given offsets.
pub fn chunks<'a>(body: &'a [u8], at: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for &cut in at {
        out.push(&body[start..cut]);
        start = cut;
    }
    out.push(&body[start..]);
    out
}
