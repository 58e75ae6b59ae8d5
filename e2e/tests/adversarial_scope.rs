//! Adversarial scope and identity cases through the real Envoy with the built filter (issue 11,
//! section 1):
//! - bodies whose keys Go's `encoding/json` folds onto a guarded field (`annotationſ`, the
//!   Kelvin sign in `Kind`, ASCII case, JSON escapes) in creates, updates and every patch type
//!   of both Event APIs are refused with 400 and nothing reaches or is stored by Activity;
//! - the `X-Remote-*` headers Activity receives, decoded with the rules of k8s.io/apiserver's
//!   requestheader authenticator (written here, independently of the filter), give back exactly
//!   the identity that went in, for hostile identities too; identities that would come back
//!   different are refused and never sent.

use std::collections::BTreeMap;

use activity_e2e::envoy::Envoy;
use activity_e2e::recorder::{Recorded, Recorder};
use activity_e2e::sandbox::{Options, Sandbox};
use activity_e2e::tools;
use anyhow::Result;
use base64::Engine;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Folded keys in write bodies
// ---------------------------------------------------------------------------------------------

const CORE: &str = "/api/v1/namespaces/default/events";
const EVENTS_V1: &str = "/apis/events.k8s.io/v1/namespaces/default/events";
const FORGED: &str = r#"{"platform.miloapis.com/scope.type":"Organization","platform.miloapis.com/scope.name":"victim"}"#;

/// A valid core/v1 Event as JSON text, with `extra_top` and `extra_meta` spliced in verbatim
/// (so keys keep the exact spelling and escapes under test).
fn core_event(name: &str, extra_top: &str, extra_meta: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Event",
            "metadata":{{"name":"{name}","namespace":"default"{extra_meta}}},
            "involvedObject":{{"kind":"Pod","name":"p","namespace":"default"}},
            "reason":"Testing","message":"folded","type":"Normal",
            "source":{{"component":"e2e"}}{extra_top}}}"#
    )
}

fn v1_event(name: &str, extra_top: &str, extra_meta: &str) -> String {
    format!(
        r#"{{"apiVersion":"events.k8s.io/v1","kind":"Event",
            "metadata":{{"name":"{name}","namespace":"default"{extra_meta}}},
            "eventTime":"2026-11-26T08:00:00.000000Z",
            "reportingController":"example.com/e2e","reportingInstance":"i-1",
            "action":"Testing","reason":"Testing","type":"Normal","note":"folded",
            "regarding":{{"kind":"Pod","name":"p","namespace":"default"}}{extra_top}}}"#
    )
}

/// Metadata members that smuggle a scope past an ASCII-only check.
fn forged_meta() -> Vec<String> {
    [
        "annotationſ",       // U+017F folds to s
        "annotation\\u017f", // the same, escaped
        "annot\\u0061tion\\u017f",
        "ANNOTATIONS",
        "annotationS",
    ]
    .iter()
    .map(|k| format!(r#","annotations":{{}},"{k}":{FORGED}"#))
    .collect()
}

/// Top-level members a folding decoder reads as a guarded field.
const FORGED_TOP_CORE: [&str; 5] = [
    r#","\u212Aind":"Pod""#, // Kelvin sign folds to k
    r#","KIND":"Pod""#,
    r#","apiVer\u017fion":"activity.miloapis.com/v1alpha1""#,
    r#","METADATA":{"annotations":{"platform.miloapis.com/scope.name":"victim"}}"#,
    r#","me\u017f\u017fage":"x""#,
];
const FORGED_TOP_V1: [&str; 4] = [
    r#","notE":"x""#,
    r#","deprecatedCounT":1"#,
    r#","regardinG":{"kind":"Secret"}"#,
    r#","\u212Aind":"Pod""#,
];

struct Case {
    what: String,
    method: reqwest::Method,
    path: String,
    content_type: &'static str,
    body: String,
}

fn case(what: String, method: &str, path: String, ct: &'static str, body: String) -> Case {
    Case {
        what,
        method: method.parse().unwrap(),
        path,
        content_type: ct,
        body,
    }
}

const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";

fn folded_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    type Make = fn(&str, &str, &str) -> String;
    let apis: [(&str, &str, Make, &[&str]); 2] = [
        ("core", CORE, core_event, &FORGED_TOP_CORE),
        ("events.k8s.io", EVENTS_V1, v1_event, &FORGED_TOP_V1),
    ];
    for (api, base, event, tops) in apis {
        let mut bodies: Vec<(String, String)> = forged_meta()
            .into_iter()
            .map(|m| (String::new(), m))
            .collect();
        bodies.extend(tops.iter().map(|t| (t.to_string(), String::new())));
        for (i, (top, meta)) in bodies.iter().enumerate() {
            let name = format!("forged-{i}");
            cases.push(case(
                format!("{api} create {top}{meta}"),
                "POST",
                base.to_owned(),
                "application/json",
                event(&name, top, meta),
            ));
            cases.push(case(
                format!("{api} update {top}{meta}"),
                "PUT",
                format!("{base}/base"),
                "application/json",
                event("base", top, meta),
            ));
        }
        let mut patches: Vec<String> = forged_meta()
            .iter()
            .map(|m| format!(r#"{{"metadata":{{{}}}}}"#, m.trim_start_matches(',')))
            .collect();
        patches.extend(
            tops.iter()
                .map(|t| format!("{{{}}}", t.trim_start_matches(','))),
        );
        for patch in &patches {
            for ct in [MERGE, STRATEGIC] {
                cases.push(case(
                    format!("{api} {ct} {patch}"),
                    "PATCH",
                    format!("{base}/base"),
                    ct,
                    patch.clone(),
                ));
            }
        }
        let top_paths: &[&str] = if api == "core" {
            &[
                "/\\u212Aind",
                "/apiVer\\u017fion",
                "/METADATA",
                "/involvedObjecT/name",
            ]
        } else {
            &[
                "/notE",
                "/regardinG/name",
                "/deprecatedCounT",
                "/\\u212Aind",
            ]
        };
        let paths = [
            "/metadata/annotation\\u017f",
            "/metadata/annotationſ",
            "/metadata/ANNOTATIONS",
            "/metadata/annotationS/platform.miloapis.com~1scope.name",
            "/metaDATA/annotations",
        ];
        for path in paths.iter().chain(top_paths) {
            for op in [
                format!(r#"{{"op":"add","path":"{path}","value":{FORGED}}}"#),
                format!(r#"{{"op":"replace","path":"{path}","value":"victim"}}"#),
                format!(r#"{{"op":"move","from":"{path}","path":"/reason"}}"#),
            ] {
                cases.push(case(
                    format!("{api} json patch {op}"),
                    "PATCH",
                    format!("{base}/base"),
                    JSON_PATCH,
                    format!("[{op}]"),
                ));
            }
        }
    }
    cases
}

async fn send(s: &Sandbox, user: &str, c: &Case) -> Result<(u16, Value)> {
    let resp = s
        .http()
        .request(c.method.clone(), format!("{}{}", s.url()?, c.path))
        .bearer_auth(s.token(user)?)
        .header("content-type", c.content_type)
        .body(c.body.clone())
        .send()
        .await?;
    let code = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok((code, body))
}

/// What Activity stores, without the fields that change on every read.
async fn stored(s: &Sandbox) -> Result<Vec<Value>> {
    let mut all = s.stored().await?;
    all.sort_by_key(|e| e["metadata"]["name"].as_str().unwrap_or("").to_owned());
    Ok(all)
}

#[tokio::test(flavor = "multi_thread")]
async fn folded_keys_are_refused_in_every_body_and_patch_of_both_apis() -> Result<()> {
    let s = Sandbox::start("adv-folded", Options::default()).await?;
    // The event every update and patch addresses, created through the filter.
    let base = case(
        "base".into(),
        "POST",
        CORE.into(),
        "application/json",
        core_event("base", "", ""),
    );
    let (code, body) = send(&s, "org", &base).await?;
    assert_eq!(code, 201, "{body}");
    let before = stored(&s).await?;
    assert_eq!(before.len(), 1);
    s.clear_received().await?;

    let cases = folded_cases();
    let mut failures = Vec::new();
    for user in ["org", "admin"] {
        for c in &cases {
            let (code, body) = send(&s, user, c).await?;
            let message = body["message"].as_str().unwrap_or("");
            let refused = code == 400
                && body["kind"] == "Status"
                && body["reason"] == "BadRequest"
                && message.starts_with("the request body has a field that differs from '")
                && message.ends_with("' only by case");
            if !refused {
                failures.push(format!("{user}: {}: {code} {body}", c.what));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases not refused:\n{}",
        failures.len(),
        cases.len() * 2,
        failures.join("\n")
    );
    assert!(
        s.received_events().await?.is_empty(),
        "a folded body reached Activity"
    );
    assert_eq!(stored(&s).await?, before, "something was stored or changed");

    // Server-side apply is not supported at all: refused before any body is read.
    for base in [CORE, EVENTS_V1] {
        let apply = case(
            "apply".into(),
            "PATCH",
            format!("{base}/base?fieldManager=e2e"),
            "application/apply-patch+yaml",
            "metadata:\n  annotationſ:\n    platform.miloapis.com/scope.name: victim\n".into(),
        );
        let (code, body) = send(&s, "org", &apply).await?;
        assert_eq!(code, 415, "{body}");
    }
    assert!(s.received_events().await?.is_empty());

    // Control: the exact spellings are accepted, and the forged scope is overwritten.
    let exact = case(
        "exact".into(),
        "POST",
        CORE.into(),
        "application/json",
        core_event(
            "exact",
            "",
            &format!(r#","annotations":{FORGED},"labels":{{"ANNOTATIONS":"x"}}"#),
        ),
    );
    let (code, body) = send(&s, "org", &exact).await?;
    assert_eq!(code, 201, "{body}");
    let ann = &body["metadata"]["annotations"];
    assert_eq!(ann["platform.miloapis.com/scope.name"], "acme", "{body}");
    let patch = case(
        "exact patch".into(),
        "PATCH",
        format!("{EVENTS_V1}/base"),
        MERGE,
        format!(r#"{{"note":"patched","metadata":{{"annotations":{FORGED}}}}}"#),
    );
    let (code, body) = send(&s, "org", &patch).await?;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["note"], "patched");
    let stored_base = stored(&s)
        .await?
        .into_iter()
        .find(|e| e["metadata"]["name"] == "base")
        .unwrap();
    assert_eq!(
        stored_base["metadata"]["annotations"]["platform.miloapis.com/scope.name"],
        "acme"
    );
    println!("folded-key cases refused: {}", cases.len() * 2);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Identities through X-Remote-* headers
// ---------------------------------------------------------------------------------------------

/// Extra keys the filter is configured to forward: upper case, `%`, commas, spaces, non-ASCII.
const EXTRA_KEYS: [&str; 8] = [
    "iam.miloapis.com/parent-type",
    "iam.miloapis.com/parent-name",
    "iam.miloapis.com/parent-api-group",
    "Example.COM/Team",
    "example.com/100%",
    "example.com/a,b",
    "example.com/with space",
    "example.com/ключ",
];

/// Envoy with the identity taken per request from a test header (header_to_metadata puts the
/// base64 `userinfo` into the filter's metadata namespace), and a recording upstream as
/// Activity.
async fn identity_envoy(activity: &Recorder) -> Result<Envoy> {
    let filter_config = json!({ "forward_extras": EXTRA_KEYS }).to_string();
    let config = format!(
        r#"
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
static_resources:
  listeners:
  - name: ids
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ids
          route_config:
            name: local
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route: {{ cluster: activity }}
                request_headers_to_remove: [x-activity-events-route]
          http_filters:
          - name: envoy.filters.http.header_to_metadata
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config
              request_rules:
              - header: x-test-userinfo
                on_header_present:
                  metadata_namespace: envoy.filters.http.ext_authz
                  key: userinfo
                  type: STRING
                remove: true
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: activity_events
                root_id: activity_events
                failure_policy: FAIL_CLOSED
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{filter_config}'
                vm_config:
                  vm_id: activity_events
                  runtime: envoy.wasm.runtime.v8
                  code: {{ local: {{ filename: "{wasm}" }} }}
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
  clusters:
  - name: activity
    type: STATIC
    load_assignment:
      cluster_name: activity
      endpoints: [{{ lb_endpoints: [{{ endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }} }}] }}]
"#,
        wasm = tools::filter_wasm()?.display(),
        port = activity.port(),
    );
    let dir = tools::run_dir("adv-identity")?;
    tokio::task::spawn_blocking(move || Envoy::start(&dir, &config)).await?
}

/// A Kubernetes UserInfo as the test feeds it in and as it must come back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Identity {
    user: String,
    uid: String,
    groups: Vec<String>,
    extra: BTreeMap<String, Vec<String>>,
}

impl Identity {
    fn userinfo_b64(&self) -> String {
        let json = json!({
            "username": self.user, "uid": self.uid, "groups": self.groups, "extra": self.extra,
        });
        base64::engine::general_purpose::STANDARD.encode(json.to_string())
    }

    /// What must arrive: extras limited to the forwarded keys.
    fn forwarded(&self) -> Identity {
        Identity {
            extra: self
                .extra
                .iter()
                .filter(|(k, _)| EXTRA_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..self.clone()
        }
    }
}

/// Go's `url.PathUnescape`: `%XX` only (`+` stays); `None` on a malformed escape.
fn go_path_unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The requestheader authenticator's reading (headerrequest.AuthenticateRequest on top of
/// net/textproto): values trimmed of SP/HTAB; user and uid the first value; groups every
/// non-empty value; extras from every `x-remote-extra-` header, the key lower-cased then
/// path-unescaped (kept as is when that fails), values in order.
fn requestheader_identity(r: &Recorded) -> Identity {
    let trim = |v: &str| v.trim_matches([' ', '\t']).to_owned();
    let first = |name: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| trim(v))
            .unwrap_or_default()
    };
    let mut id = Identity {
        user: first("x-remote-user"),
        uid: first("x-remote-uid"),
        ..Identity::default()
    };
    for (k, v) in &r.headers {
        let lower = k.to_lowercase();
        if lower == "x-remote-group" {
            let v = trim(v);
            if !v.is_empty() {
                id.groups.push(v);
            }
        } else if let Some(raw) = lower.strip_prefix("x-remote-extra-") {
            let key = go_path_unescape(raw).unwrap_or_else(|| raw.to_owned());
            id.extra.entry(key).or_default().push(trim(v));
        }
    }
    id
}

fn id(user: &str, uid: &str, groups: &[&str], extra: &[(&str, &[&str])]) -> Identity {
    Identity {
        user: user.into(),
        uid: uid.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        extra: extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
    }
}

const ORG: [(&str, &[&str]); 2] = [
    ("iam.miloapis.com/parent-type", &["Organization"]),
    ("iam.miloapis.com/parent-name", &["acme"]),
];

fn with_org(
    extra: &[(&'static str, &'static [&'static str])],
) -> Vec<(&'static str, &'static [&'static str])> {
    ORG.iter().copied().chain(extra.iter().copied()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn identities_arrive_as_requestheader_reads_them_or_not_at_all() -> Result<()> {
    tools::install_crypto_provider();
    let activity = Recorder::start("activity").await?;
    let envoy = identity_envoy(&activity).await?;
    let url = format!("{}/api/v1/namespaces/default/events/e1", envoy.url("ids")?);
    let http = reqwest::Client::new();

    let faithful = vec![
        id(
            "alice@acme.example",
            "uid-alice",
            &["system:authenticated"],
            &with_org(&[]),
        ),
        id("admin", "", &[], &[]),
        id(
            "ünïcödé ✓ 日本",
            "u,1",
            &["a,b", "c d", "100%25", "\u{212A}elvin", "ſ"],
            &with_org(&[]),
        ),
        id(
            "\u{a0}admin\u{a0}",
            "\u{3000}u\u{3000}",
            &["\u{2003}g\u{2003}"],
            &[],
        ),
        id(
            "system:serviceaccount:ns:sa",
            "x",
            &["system:masters,evil"],
            &[],
        ),
        id(
            "carol",
            "c",
            &["g"],
            &with_org(&[
                ("Example.COM/Team", &["Blue", "a,b", "%41", "x y"]),
                ("example.com/100%", &["100%"]),
                ("example.com/a,b", &["1", "2", "3"]),
                ("example.com/with space", &["v w"]),
                ("example.com/ключ", &["значение"]),
                (
                    "iam.miloapis.com/parent-api-group",
                    &["resourcemanager.miloapis.com"],
                ),
                ("not-forwarded.example.com/x", &[" never sent "]),
            ]),
        ),
        id("dave", "", &[], &[("example.com/a,b", &[""])]),
    ];
    let mut failures = Vec::new();
    for want in &faithful {
        activity.clear();
        let resp = http
            .get(&url)
            .header("x-test-userinfo", want.userinfo_b64())
            .send()
            .await?;
        let code = resp.status().as_u16();
        let records = activity.records();
        match records.as_slice() {
            [one] => {
                let got = requestheader_identity(one);
                if got != want.forwarded() {
                    failures.push(format!("{want:?}\n  read back as {got:?}"));
                }
            }
            other => failures.push(format!(
                "{want:?}: {code}, Activity received {} requests",
                other.len()
            )),
        }
    }

    let refused = vec![
        id(" admin", "", &[], &[]),
        id("admin ", "", &[], &[]),
        id(" admin ", "", &[], &[]),
        id("admin\t", "", &[], &[]),
        id("\tadmin", "", &[], &[]),
        id("ad\tmin", "", &[], &[]),
        id("a\r\nx-remote-group: system:masters", "", &[], &[]),
        id("nul\0", "", &[], &[]),
        id("del\u{7f}", "", &[], &[]),
        id("ok", " uid", &[], &[]),
        id("ok", "uid\t", &[], &[]),
        id("ok", "", &["system:masters "], &[]),
        id("ok", "", &["\tsystem:masters"], &[]),
        id("ok", "", &["g", ""], &[]),
        id("ok", "", &[], &[("Example.COM/Team", &["blue "])]),
        id("ok", "", &[], &[("example.com/a,b", &["\tx"])]),
        id("ok", "", &[], &with_org(&[("example.com/ключ", &["a\nb"])])),
    ];
    for bad in &refused {
        activity.clear();
        let resp = http
            .get(&url)
            .header("x-test-userinfo", bad.userinfo_b64())
            .send()
            .await?;
        let code = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or("");
        if code != 500
            || body["reason"] != "InternalError"
            || !message.starts_with("the authenticated identity cannot be forwarded unchanged: ")
        {
            failures.push(format!("{bad:?}: {code} {body}"));
        }
        if !activity.records().is_empty() {
            failures.push(format!("{bad:?} reached Activity"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "identities read back unchanged: {}, refused: {}",
        faithful.len(),
        refused.len()
    );
    drop(envoy);
    Ok(())
}
