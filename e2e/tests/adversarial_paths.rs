//! Hostile paths through the real Envoy with the built filter, in the Milo sandbox (ext_authz
//! with the authorizer, the Milo stand-in, the Activity stand-in), with Envoy's
//! `normalize_path` on (as shipped) and off, over HTTP/1.1 and HTTP/2.
//!
//! Every spelling of an event path that Milo's Go server would decode or normalise back into
//! an event request — each byte percent-escaped (both hex cases), each separator escaped,
//! doubled, or wrapped in dot segments (plain and escaped), a trailing slash, the whole word or
//! path escaped — plus Milo's prefix quirks (a decoded `?` ending the path, plain prefix
//! trimming, nested control planes where the last context wins), as reads and as a create
//! carrying a forged scope. Each must either reach Activity rewritten and scoped, or be refused
//! with a Kubernetes Status; and the Milo stand-in, which records every request and classes it
//! generously, must never see an event request.

use std::collections::BTreeMap;

use activity_e2e::adversary::{Adversary, Protocol, Reply};
use activity_e2e::milo_sandbox::{MiloSandbox, SandboxOptions, ORG_PATH};
use anyhow::Result;
use serde_json::{json, Value};

const ACT: &str = "/apis/activity.miloapis.com/v1alpha1";
const ORG_GROUP: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations";
const PROJECT_LONG: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Decodes to the same clean event path: Activity must get it.
    Forward,
    /// Nothing any server reads alike: the filter must refuse it.
    Refuse,
    /// Envoy's normalisation may have made it clean first: either, never Milo.
    Either,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    Core,
    EventsV1,
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    /// Sandbox user (admin at the root, alice in organization acme).
    user: &'static str,
    body: Body,
    expect: Expect,
    label: String,
}

/// A base event request: (method, control-plane prefix, event path, user, body).
const BASES: [(&str, &str, &str, &str, Body); 7] = [
    (
        "GET",
        "",
        "/api/v1/namespaces/default/events",
        "admin",
        Body::None,
    ),
    ("GET", "", "/api/v1/events", "admin", Body::None),
    (
        "GET",
        "",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        "admin",
        Body::None,
    ),
    (
        "GET",
        ORG_PATH,
        "/api/v1/namespaces/default/events",
        "alice",
        Body::None,
    ),
    (
        "POST",
        ORG_PATH,
        "/api/v1/namespaces/default/events",
        "alice",
        Body::Core,
    ),
    (
        "POST",
        ORG_PATH,
        "/apis/events.k8s.io/v1/namespaces/default/events",
        "alice",
        Body::EventsV1,
    ),
    (
        "POST",
        "",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        "admin",
        Body::EventsV1,
    ),
];

/// Every spelling of `path` that a Go server decodes, or a normaliser resolves, back to it.
/// `normalized`: Envoy normalises before the filter (so separator tricks may arrive clean).
fn spellings(path: &str, normalized: bool) -> Vec<(String, String, Expect)> {
    let unclean = if normalized {
        Expect::Either
    } else {
        Expect::Refuse
    };
    let mut out = Vec::new();
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let (head, tail) = (&path[..i], &path[i + 1..]);
        let c = char::from(b);
        if b == b'/' {
            for (label, sep, expect) in [
                ("%2F", "%2F", Expect::Refuse),
                ("%2f", "%2f", Expect::Refuse),
                ("//", "//", unclean),
                ("/./", "/./", unclean),
                ("/%2e/", "/%2e/", unclean),
                ("/%2E/", "/%2E/", unclean),
                ("/x/../", "/x/../", unclean),
                ("/x/%2e%2e/", "/x/%2e%2e/", unclean),
                ("/x%2F..%2F", "/x%2F..%2F", Expect::Refuse),
            ] {
                // A request target must start with a literal '/' (else Envoy's codec refuses
                // it before any filter, and HTTP/2 cannot carry it).
                if i == 0 && sep.starts_with('%') {
                    continue;
                }
                out.push((
                    format!("separator {i} as {label}"),
                    format!("{head}{sep}{tail}"),
                    expect,
                ));
            }
            continue;
        }
        let upper = format!("%{b:02X}");
        let lower = format!("%{b:02x}");
        out.push((
            format!("{c:?} at {i} as {upper}"),
            format!("{head}{upper}{tail}"),
            Expect::Forward,
        ));
        if upper != lower {
            out.push((
                format!("{c:?} at {i} as {lower}"),
                format!("{head}{lower}{tail}"),
                Expect::Forward,
            ));
        }
    }
    // Whole words, and the whole path, escaped.
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let mut parts: Vec<String> = segs.iter().map(|s| (*s).to_owned()).collect();
        parts[i] = seg.bytes().map(|b| format!("%{b:02X}")).collect();
        out.push((
            format!("word {seg:?} escaped"),
            format!("/{}", parts.join("/")),
            Expect::Forward,
        ));
    }
    let every: String = segs
        .iter()
        .map(|s| s.bytes().map(|b| format!("%{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("/");
    out.push((
        "every byte escaped".into(),
        format!("/{every}"),
        Expect::Forward,
    ));
    let every_slash: String = format!(
        "/{}",
        path[1..]
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    out.push((
        "every byte and slash escaped".into(),
        every_slash,
        Expect::Refuse,
    ));
    out.push(("trailing slash".into(), format!("{path}/"), Expect::Refuse));
    out.push(("trailing %2F".into(), format!("{path}%2F"), Expect::Refuse));
    out
}

/// Milo's prefix quirks, and versions and spellings of the group no server forwards.
fn quirks(normalized: bool) -> Vec<Case> {
    let case = |method, path: String, user, body, expect, label: &str| Case {
        method,
        path,
        user,
        body,
        expect,
        label: label.to_owned(),
    };
    let ns = "/api/v1/namespaces/default/events";
    let mut out = vec![
        case(
            "GET",
            format!("{ORG_PATH}{ns}%3Fx"),
            "alice",
            Body::None,
            Expect::Refuse,
            "decoded '?' ends the path after an organization prefix",
        ),
        case(
            "POST",
            format!("{ORG_PATH}{ns}%3F"),
            "alice",
            Body::Core,
            Expect::Refuse,
            "decoded '?' ends a create's path after an organization prefix",
        ),
        case(
            "GET",
            format!("{ORG_GROUP}/acme{ns}"),
            "alice",
            Body::None,
            Expect::Refuse,
            "organization id stripped without control-plane",
        ),
        case(
            "GET",
            format!("/apis/iam.miloapis.com/v1alpha1/users/uid-alice/control-plane{}", &ns[1..]),
            "alice",
            Body::None,
            Expect::Refuse,
            "control-plane trimmed without its slash",
        ),
        case(
            "GET",
            format!("/projects/web-app/control-plane{ORG_PATH}{ns}"),
            "alice",
            Body::None,
            Expect::Forward,
            "organization after a short project prefix: the organization wins",
        ),
        case(
            "POST",
            format!("{PROJECT_LONG}/web-app/control-plane{ORG_PATH}{ns}"),
            "alice",
            Body::Core,
            Expect::Forward,
            "organization after a long project prefix: the organization wins",
        ),
        case(
            "GET",
            format!("{ORG_GROUP}/acme%2Fcontrol-plane{ns}"),
            "alice",
            Body::None,
            Expect::Refuse,
            "escaped slash in the organization prefix",
        ),
        case(
            "GET",
            format!("{ORG_GROUP}/%61cme/control-plane{ns}"),
            "alice",
            Body::None,
            Expect::Forward,
            "escaped letter in the organization id",
        ),
        case(
            "GET",
            format!("/apis/resourcemanager.miloapis.com/v1alpha1/%6Frganizations/acme/control-plane{ns}"),
            "alice",
            Body::None,
            Expect::Forward,
            "escaped letter in the organization prefix",
        ),
        case(
            "GET",
            format!("/projects%2Fweb-app%2Fcontrol-plane{ns}"),
            "alice",
            Body::None,
            Expect::Refuse,
            "escaped slashes in a project prefix",
        ),
        case(
            "GET",
            "/api/v2/namespaces/default/events".into(),
            "admin",
            Body::None,
            Expect::Refuse,
            "another core version",
        ),
        case(
            "GET",
            "/apis/events.k8s.io/v1beta1/namespaces/default/events".into(),
            "admin",
            Body::None,
            Expect::Refuse,
            "another events.k8s.io version",
        ),
        case(
            "POST",
            "/apis/events.k8s.io/v1beta1/namespaces/default/events".into(),
            "admin",
            Body::EventsV1,
            Expect::Refuse,
            "a create in another events.k8s.io version",
        ),
        case(
            "GET",
            "/api/v1/namespaces/default/events/x%2F..%2F..%2Fpods".into(),
            "admin",
            Body::None,
            Expect::Refuse,
            "a name walking out with escaped dots",
        ),
    ];
    if !normalized {
        // Normalised, Envoy decodes it to the plain form and serves the document itself.
        out.push(case(
            "GET",
            "/apis/%65vents.k8s.io/v1".into(),
            "admin",
            Body::None,
            Expect::Refuse,
            "the group's discovery escaped (Envoy only serves it plain)",
        ));
    }
    out
}

fn cases(normalized: bool) -> Vec<Case> {
    let mut all = Vec::new();
    for (method, prefix, path, user, body) in BASES {
        all.push(Case {
            method,
            path: format!("{prefix}{path}"),
            user,
            body,
            expect: Expect::Forward,
            label: "plain".into(),
        });
        for (label, spelled, expect) in spellings(path, normalized) {
            all.push(Case {
                method,
                path: format!("{prefix}{spelled}"),
                user,
                body,
                expect,
                label,
            });
        }
    }
    all.extend(quirks(normalized));
    all
}

fn body_for(kind: Body, name: &str) -> Vec<u8> {
    let forged = json!({
        "platform.miloapis.com/scope.type": "Organization",
        "platform.miloapis.com/scope.name": "someone-elses-org",
    });
    let v = match kind {
        Body::None => return Vec::new(),
        Body::Core => json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "default", "annotations": forged},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Adversary", "message": "forged scope", "type": "Normal",
        }),
        Body::EventsV1 => json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "default", "annotations": forged},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "example.com/adversary", "reportingInstance": "adversary-1",
            "action": "Probe", "reason": "Adversary", "type": "Normal", "note": "forged scope",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"},
        }),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

fn username(user: &str) -> &'static str {
    match user {
        "alice" => "alice@acme.example",
        _ => "admin@platform.local",
    }
}

/// Header values of an Activity request, by name in any case.
fn header_values<'a>(h: &'a BTreeMap<String, Vec<String>>, name: &str) -> Vec<&'a str> {
    h.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().map(String::as_str))
        .collect()
}

#[derive(Default)]
struct Tally {
    cases: usize,
    forwarded: usize,
    refused: BTreeMap<u16, usize>,
    failures: Vec<String>,
}

async fn run(normalized: bool) -> Result<()> {
    let name = if normalized {
        "adversarial-normalized"
    } else {
        "adversarial-raw"
    };
    let s = MiloSandbox::start_with(
        name,
        ACT,
        SandboxOptions {
            normalize_path: normalized,
            ..SandboxOptions::default()
        },
    )
    .await?;
    let adversary = Adversary::new(s.envoy.port("sandbox")?, s.front_ca())?;
    let tokens: BTreeMap<&str, String> =
        [("admin", s.token("admin")?), ("alice", s.token("alice")?)]
            .into_iter()
            .collect();
    let all = cases(normalized);
    let mut tally = Tally::default();
    for protocol in Protocol::ALL {
        for (i, case) in all.iter().enumerate() {
            tally.cases += 1;
            let event_name = format!(
                "adv-{}-{i}",
                if protocol == Protocol::Http1 { 1 } else { 2 }
            );
            let body = body_for(case.body, &event_name);
            let auth = format!("Bearer {}", tokens[case.user]);
            let mut headers = vec![
                ("authorization", auth.as_str()),
                ("accept", "application/json"),
            ];
            if case.body != Body::None {
                headers.push(("content-type", "application/json"));
            }
            let seen = s.activity.requests().len();
            let milo_seen = s.milo()?.event_requests().len();
            let what = format!(
                "{} {} {} [{}]",
                protocol.name(),
                case.method,
                case.path,
                case.label
            );
            let reply = match adversary
                .send(protocol, case.method, &case.path, &headers, &body)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tally.failures.push(format!("{what}: {e:#}"));
                    continue;
                }
            };
            let milo_events = s.milo()?.event_requests();
            if milo_events.len() != milo_seen {
                let got: Vec<String> = milo_events[milo_seen..]
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.raw_path))
                    .collect();
                tally
                    .failures
                    .push(format!("{what}: reached Milo as an event request: {got:?}"));
            }
            let reached: Vec<_> = s.activity.requests().split_off(seen);
            let outcome = if reached.is_empty() {
                check_refused(&reply)
            } else {
                check_forwarded(&s, case, &reply, &reached, &event_name)
            };
            match outcome {
                Ok(forwarded) => {
                    if forwarded {
                        tally.forwarded += 1;
                    } else {
                        *tally.refused.entry(reply.status).or_default() += 1;
                    }
                    let expected = match case.expect {
                        Expect::Forward => forwarded,
                        Expect::Refuse => !forwarded,
                        Expect::Either => true,
                    };
                    if !expected {
                        tally.failures.push(format!(
                            "{what}: expected {:?}, got {} {}",
                            case.expect,
                            reply.status,
                            reply.text()
                        ));
                    }
                }
                Err(e) => tally.failures.push(format!("{what}: {e}")),
            }
        }
    }
    println!(
        "adversarial paths, normalize_path {}: {} cases ({} spellings x {} protocols), {} forwarded to Activity, refused {:?}, {} failures",
        if normalized { "on" } else { "off" },
        tally.cases,
        all.len(),
        Protocol::ALL.len(),
        tally.forwarded,
        tally.refused,
        tally.failures.len()
    );
    let milo_events = s.milo()?.event_requests();
    assert!(
        milo_events.is_empty(),
        "Milo saw event requests: {:?}",
        milo_events
            .iter()
            .map(|r| r.raw_path.clone())
            .collect::<Vec<_>>()
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} cases failed:\n{}",
        tally.failures.len(),
        tally.cases,
        tally.failures.join("\n")
    );
    assert!(tally.cases > 500, "only {} cases", tally.cases);
    s.shutdown().await;
    Ok(())
}

/// Nothing reached Activity: the answer must be a Kubernetes Status refusal.
fn check_refused(reply: &Reply) -> Result<bool, String> {
    if reply.status < 400 {
        return Err(format!(
            "answered {} without reaching Activity: {}",
            reply.status,
            reply.text()
        ));
    }
    match reply.status_object() {
        Some(_) => Ok(false),
        None => Err(format!(
            "refused {} without a Kubernetes Status: {:?}",
            reply.status,
            reply.text()
        )),
    }
}

/// Activity got it: once, on its own path, with the caller's identity and scope.
fn check_forwarded(
    s: &MiloSandbox,
    case: &Case,
    reply: &Reply,
    reached: &[activity_standin::RecordedRequest],
    event_name: &str,
) -> Result<bool, String> {
    let [r] = reached else {
        return Err(format!("reached Activity {} times", reached.len()));
    };
    if !r.path.starts_with(ACT) || r.path.contains("control-plane") || r.path.contains('%') {
        return Err(format!("reached Activity unrewritten: {}", r.path));
    }
    let user = header_values(&r.headers, "x-remote-user");
    if user != [username(case.user)] {
        return Err(format!("forwarded as {user:?}"));
    }
    let parent_name = header_values(&r.headers, "x-remote-extra-iam.miloapis.com%2Fparent-name");
    let parent_type = header_values(&r.headers, "x-remote-extra-iam.miloapis.com%2Fparent-type");
    let scoped = case.user == "alice";
    if scoped && (parent_name != ["acme"] || parent_type != ["Organization"]) {
        return Err(format!(
            "forwarded without the caller's scope: {parent_type:?} {parent_name:?}"
        ));
    }
    let unscoped = parent_name.is_empty() && parent_type.is_empty();
    if !scoped && !unscoped {
        return Err(format!(
            "a platform request forwarded with a scope: {parent_name:?}"
        ));
    }
    if let Some(v) = reply.json() {
        if v["apiVersion"] == "activity.miloapis.com/v1alpha1" {
            return Err("Activity's apiVersion reached the client".into());
        }
    }
    if case.body != Body::None && scoped {
        if reply.status != 201 {
            return Err(format!(
                "create answered {}: {}",
                reply.status,
                reply.text()
            ));
        }
        let stored: Option<Value> = s
            .activity
            .events()
            .into_iter()
            .find(|e| e["metadata"]["name"] == event_name);
        let Some(stored) = stored else {
            return Err("created but not stored".into());
        };
        let a = &stored["metadata"]["annotations"];
        if a["platform.miloapis.com/scope.type"] != "Organization"
            || a["platform.miloapis.com/scope.name"] != "acme"
        {
            return Err(format!("stored with a forged scope: {a}"));
        }
    } else if !(200..300).contains(&reply.status) {
        return Err(format!(
            "forwarded but answered {}: {}",
            reply.status,
            reply.text()
        ));
    }
    Ok(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_paths_never_reach_milo_with_normalize_path_off() -> Result<()> {
    run(false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_paths_never_reach_milo_with_normalize_path_on() -> Result<()> {
    run(true).await
}

/// proxy-wasm's host takes at most 1,024 header pairs: a user whose identity headers would
/// exceed that gets a clear Status, and nothing goes on (it used to be Envoy's bare 404).
#[tokio::test(flavor = "multi_thread")]
async fn an_identity_too_large_to_forward_is_a_status() -> Result<()> {
    let groups = |n: usize| {
        let mut g = vec!["platform-admins".to_owned()];
        g.extend((1..n).map(|i| format!("crowd-group-{i:04}")));
        g
    };
    let s = MiloSandbox::start_with(
        "adversarial-crowd",
        ACT,
        SandboxOptions {
            extra_users: vec![
                (
                    "crowd".into(),
                    "crowd@platform.local".into(),
                    "uid-crowd".into(),
                    groups(1500),
                ),
                (
                    "few".into(),
                    "few@platform.local".into(),
                    "uid-few".into(),
                    groups(20),
                ),
            ],
            ..SandboxOptions::default()
        },
    )
    .await?;
    let adversary = Adversary::new(s.envoy.port("sandbox")?, s.front_ca())?;
    for protocol in Protocol::ALL {
        for (user, method, body) in [
            ("crowd", "GET", Body::None),
            ("crowd", "POST", Body::Core),
            ("few", "GET", Body::None),
        ] {
            let auth = format!("Bearer {}", s.token(user)?);
            let mut headers = vec![("authorization", auth.as_str())];
            if body != Body::None {
                headers.push(("content-type", "application/json"));
            }
            let seen = s.activity.requests().len();
            let reply = adversary
                .send(
                    protocol,
                    method,
                    "/api/v1/namespaces/default/events",
                    &headers,
                    &body_for(body, &format!("crowd-{}", protocol.name().len())),
                )
                .await?;
            let reached = s.activity.requests().len() - seen;
            if user == "few" {
                assert_eq!(reply.status, 200, "{}", reply.text());
                assert_eq!(reached, 1);
                continue;
            }
            let status = reply.status_object().unwrap_or_else(|| {
                panic!(
                    "{} {method}: {} without a Status: {:?}",
                    protocol.name(),
                    reply.status,
                    reply.text()
                )
            });
            assert_eq!(reply.status, 500, "{status}");
            assert_eq!(status["reason"], "InternalError");
            let message = status["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("the authenticated identity is too large to forward")
                    // Milo adds system:authenticated to the 1,500.
                    && message.contains("with its 1501 groups"),
                "{message}"
            );
            assert_eq!(reached, 0, "{} {method} reached Activity", protocol.name());
        }
    }
    assert!(s.milo()?.event_requests().is_empty());
    s.shutdown().await;
    Ok(())
}
