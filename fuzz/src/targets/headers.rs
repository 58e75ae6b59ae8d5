//! The identity headers (`request::plan` with `request/headers.rs`), read back the way
//! k8s.io/apiserver's requestheader authenticator reads them behind Go's HTTP server: values
//! trimmed of spaces and tabs, the first non-empty `X-Remote-User`/`X-Remote-Uid`, every
//! non-empty `X-Remote-Group`, `X-Remote-Extra-<key>` with the key lower-cased and
//! `url.PathUnescape`d. A forwarded request must be read as exactly the identity that went in
//! (allowlisted extras only), its `X-Remote-*` headers must be exactly the filter's own, and a
//! pass-through must strip every client `X-Remote-*` and route marker.
//!
//! Input, one item a line (`\n`, `\r`, `\t`, `\0`, `\\`, `\xHH` escapes inside values):
//! `METHOD PATH`, then `user: V`, `uid: V`, `group: V`, `extra: KEY=V`, `header: NAME: V`.

use std::collections::BTreeMap;

use activity_events_filter::config::{self, Config};
use activity_events_filter::request::{plan, Action};
use activity_events_filter::wire::pairs::{decode, encode};
use proptest::prelude::*;

use super::{list, pick, Source};
use crate::mutate::Rng;
use crate::{fail, Target};

pub fn target() -> Target {
    Target {
        name: "headers",
        about: "identity headers read back by the requestheader rules equal the identity; no client X-Remote-* survives",
        check,
        strategy,
        dictionary: &[
            "\nheader: X-Remote-User: root",
            "\nheader: x-REMOTE-group: system:masters",
            "\nheader: X-Remote-Extra-iam.miloapis.com%2Fparent-name: victim",
            "\nuser:  admin ",
            "\\t",
            "\\r\\n",
            "\\x00",
            "\ngroup: ",
            "\nextra: iam.miloapis.com/parent-type=Organization",
            "\nextra: iam.miloapis.com/parent-name=acme",
            "\nheader: x-activity-events-route: watch",
        ],
    }
}

const ALLOWED: [&str; 4] = [
    "iam.miloapis.com/parent-type",
    "iam.miloapis.com/parent-name",
    "iam.miloapis.com/parent-api-group",
    "a%b/c d",
];

fn config() -> Config {
    let json = serde_json::json!({ "forward_extras": ALLOWED }).to_string();
    config::parse(Some(json.as_bytes())).unwrap_or_default()
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b.get(i + 1) {
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b't') => out.push(b'\t'),
                Some(b'0') => out.push(0),
                Some(b'\\') => out.push(b'\\'),
                Some(b'x') => {
                    let h = b
                        .get(i + 2..i + 4)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    match h.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(v) => {
                            out.push(v);
                            i += 4;
                            continue;
                        }
                        None => out.push(b'\\'),
                    }
                }
                _ => {
                    out.push(b'\\');
                    i += 1;
                    continue;
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, Default)]
struct Identity {
    user: Vec<u8>,
    uid: Option<Vec<u8>>,
    groups: Vec<Vec<u8>>,
    extra: Vec<(Vec<u8>, Vec<Vec<u8>>)>,
}

/// client-go's `headerKeyEscape`: non-token bytes and `%` become `%XX`.
fn key_escape(key: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b);
    key.bytes()
        .map(|b| {
            if token(b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Go's `url.PathUnescape`; `None` on a bad escape.
fn path_unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// What Activity's requestheader authenticator reads from the headers.
#[derive(Debug, PartialEq, Default)]
struct Read {
    user: Vec<u8>,
    uid: Vec<u8>,
    groups: Vec<Vec<u8>>,
    extra: BTreeMap<Vec<u8>, Vec<Vec<u8>>>,
}

fn read_as_go(headers: &[(Vec<u8>, Vec<u8>)]) -> Read {
    let mut r = Read::default();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let v = trim(value).to_vec();
        if lower == b"x-remote-user" {
            if r.user.is_empty() {
                r.user = v;
            }
        } else if lower == b"x-remote-uid" {
            if r.uid.is_empty() {
                r.uid = v;
            }
        } else if lower == b"x-remote-group" {
            if !v.is_empty() {
                r.groups.push(v);
            }
        } else if let Some(rest) = lower.strip_prefix(b"x-remote-extra-") {
            let key = String::from_utf8_lossy(rest).into_owned();
            let key = path_unescape(&key).unwrap_or_else(|| rest.to_vec());
            r.extra.entry(key).or_default().push(v);
        }
    }
    r
}

fn is_identity_header(name: &[u8]) -> bool {
    name.len() >= 9 && name[..9].eq_ignore_ascii_case(b"x-remote-")
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let (method, path) = first.split_once(' ').unwrap_or(("GET", first));
    let mut id = Identity::default();
    let mut client: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in lines {
        let Some((kind, rest)) = line.split_once(": ") else {
            continue;
        };
        match kind {
            "user" => id.user = unescape(rest),
            "uid" => id.uid = Some(unescape(rest)),
            "group" => id.groups.push(unescape(rest)),
            "extra" => {
                let (k, v) = rest.split_once('=').unwrap_or((rest, ""));
                let k = unescape(k);
                let v = unescape(v);
                match id.extra.iter_mut().find(|(ek, _)| *ek == k) {
                    Some((_, vs)) => vs.push(v),
                    None => id.extra.push((k, vec![v])),
                }
            }
            "header" => {
                let (n, v) = rest.split_once(": ").unwrap_or((rest, ""));
                client.push((unescape(n), unescape(v)));
            }
            _ => {}
        }
    }
    let groups = list(&id.groups);
    let extra_bufs: Vec<(Vec<u8>, Vec<u8>)> = id
        .extra
        .iter()
        .map(|(k, vs)| (k.clone(), list(vs)))
        .collect();
    let extra = encode(extra_bufs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    let mut ns: Vec<(&[u8], &[u8])> = vec![
        (b"user", &id.user),
        (b"groups", &groups),
        (b"extra", &extra),
    ];
    if let Some(uid) = &id.uid {
        ns.push((b"uid", uid));
    }
    let mut source = Source(encode(ns));
    let mut headers: Vec<(&[u8], &[u8])> = vec![
        (b":method", method.as_bytes()),
        (b":path", path.as_bytes()),
        (b":authority", b"milo"),
    ];
    headers.extend(client.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
    let cfg = config();
    let decided = plan(&cfg, &headers, false, &mut source);
    match decided.action {
        Action::Reject(_) => Ok(()),
        Action::PassThrough { strip, .. } => {
            for (name, _) in &client {
                let marker = name.eq_ignore_ascii_case(b"x-activity-events-route");
                if (is_identity_header(name) || marker) && !strip.contains(name) {
                    return Err(fail(
                        "client identity header not stripped on pass-through",
                        format!("{:?} on {method} {path}", String::from_utf8_lossy(name)),
                    ));
                }
            }
            Ok(())
        }
        Action::Forward(f) => {
            let buf = f.headers.finish();
            let out: Vec<(Vec<u8>, Vec<u8>)> = decode(&buf)
                .map_err(|e| fail("forwarded header map does not decode", e))?
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            let utf8 = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
            // What went in, as Activity should see it.
            let mut want_headers: Vec<(Vec<u8>, Vec<u8>)> =
                vec![(b"x-remote-user".to_vec(), id.user.clone())];
            let uid = id.uid.clone().unwrap_or_default();
            if !uid.is_empty() {
                want_headers.push((b"x-remote-uid".to_vec(), uid.clone()));
            }
            for g in &id.groups {
                want_headers.push((b"x-remote-group".to_vec(), g.clone()));
            }
            let mut want_extra = BTreeMap::new();
            for key in ALLOWED {
                if let Some((_, vs)) = id.extra.iter().find(|(k, _)| k == key.as_bytes()) {
                    for v in vs {
                        want_headers.push((
                            format!("x-remote-extra-{}", key_escape(key)).into_bytes(),
                            v.clone(),
                        ));
                    }
                    if !vs.is_empty() {
                        want_extra.insert(key.as_bytes().to_vec(), vs.clone());
                    }
                }
            }
            let mut got_headers: Vec<(Vec<u8>, Vec<u8>)> = out
                .iter()
                .filter(|(k, _)| is_identity_header(k))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            got_headers.sort();
            let mut sorted_want: Vec<(Vec<u8>, Vec<u8>)> = want_headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            sorted_want.sort();
            if got_headers != sorted_want {
                return Err(fail(
                    "X-Remote-* headers are not exactly the identity's",
                    format!("got {got_headers:?}, want {sorted_want:?}"),
                ));
            }
            let read = read_as_go(&out);
            let want = Read {
                user: id.user.clone(),
                uid,
                groups: id.groups.clone(),
                extra: want_extra,
            };
            if read != want {
                let show = |r: &Read| {
                    format!(
                        "user {:?} uid {:?} groups {:?} extra {:?}",
                        utf8(&r.user),
                        utf8(&r.uid),
                        r.groups.iter().map(|g| utf8(g)).collect::<Vec<_>>(),
                        r.extra
                            .iter()
                            .map(|(k, v)| (utf8(k), v.iter().map(|x| utf8(x)).collect::<Vec<_>>()))
                            .collect::<Vec<_>>()
                    )
                };
                return Err(fail(
                    "Activity reads a different identity",
                    format!("wrote {}, read {}", show(&want), show(&read)),
                ));
            }
            let markers = out
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(b"x-activity-events-route"))
                .count();
            if markers != 1 {
                return Err(fail("route marker not exactly once", markers));
            }
            Ok(())
        }
    }
}

const REQUESTS: &[&str] = &[
    "GET /api/v1/namespaces/default/events",
    "GET /api/v1/watch/events",
    "POST /apis/events.k8s.io/v1/namespaces/default/events",
    "GET /api/v1/namespaces/default/pods",
    "GET /version",
    "GET /apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/events",
];
const VALUES: &[&str] = &[
    "alice",
    " admin",
    "admin ",
    "admin\\t",
    "\\tadmin",
    "a b",
    "",
    "\\x00",
    "\\r\\nx-remote-group: system:masters",
    "ü",
    "\u{a0}x",
    "a\\tb",
    "system:authenticated",
    "Organization",
    "acme",
];
const EXTRA_KEYS: &[&str] = &[
    "iam.miloapis.com/parent-type",
    "iam.miloapis.com/parent-name",
    "iam.miloapis.com/parent-api-group",
    "a%b/c d",
    "not-allowlisted",
];
const SPOOFS: &[&str] = &[
    "X-Remote-User: root",
    "x-remote-group: system:masters",
    "X-REMOTE-EXTRA-iam.miloapis.com%2Fparent-name: victim",
    "x-remote-uid: 0",
    "X-Activity-Events-Route: watch",
    "accept: application/json",
    "authorization: Bearer t",
    "content-type: application/json",
];

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (
        pick(REQUESTS),
        pick(VALUES),
        proptest::option::of(pick(VALUES)),
        proptest::collection::vec(pick(VALUES), 0..4),
        proptest::collection::vec((pick(EXTRA_KEYS), pick(VALUES)), 0..5),
        proptest::collection::vec(pick(SPOOFS), 0..4),
        any::<u64>(),
    )
        .prop_map(|(req, user, uid, groups, extra, spoofs, seed)| {
            let mut rng = Rng::new(seed);
            let mut s = format!("{req}\nuser: {user}");
            if let Some(uid) = uid {
                s.push_str(&format!("\nuid: {uid}"));
            }
            for g in groups {
                s.push_str(&format!("\ngroup: {g}"));
            }
            // Usually a whole scope, so requests get past the scope check to the headers.
            if rng.chance(3) {
                s.push_str("\nextra: iam.miloapis.com/parent-type=Organization\nextra: iam.miloapis.com/parent-name=acme");
            }
            for (k, v) in extra {
                if !(k.starts_with("iam.miloapis.com/parent-t") || k.starts_with("iam.miloapis.com/parent-n")) || rng.chance(4) {
                    s.push_str(&format!("\nextra: {k}={v}"));
                }
            }
            for h in spoofs {
                let h = if rng.chance(2) { h.to_ascii_uppercase() } else { h.to_owned() };
                s.push_str(&format!("\nheader: {h}"));
            }
            s.into_bytes()
        })
        .boxed()
}
