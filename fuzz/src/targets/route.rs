//! `request::route::classify` against a decode-then-match reference: what a Go API server
//! (Milo) routes on is the fully percent-decoded path (`%2F` included) with dot segments and
//! empty segments resolved (`path.Clean`, Envoy's `normalize_path`/`merge_slashes`), after Milo
//! strips a control-plane prefix. If that lands on an event path, the filter must handle or
//! refuse the request, never pass it to Milo untouched.
//!
//! Input: `METHOD\nPATH[?QUERY]`.

use activity_events_filter::config::Upstream;
use activity_events_filter::request::route::{classify, Classification, EventRoute};
use proptest::prelude::*;

use super::{percent_noise, pick};
use crate::mutate::Rng;
use crate::{fail, Target};

pub fn target() -> Target {
    Target {
        name: "route",
        about: "classify agrees with a decode-then-clean-then-match reference; event routes rebuild to clean upstream paths that classify the same",
        check,
        strategy,
        dictionary: &[
            "%2F", "%2f", "%2e", "%2E%2E", "/./", "/../", "//", "events", "ev%65nts", "/api/v1",
            "/apis/events.k8s.io/v1", "namespaces/", "/watch", "?watch=true", "%25", "%00",
            "/projects/p1/control-plane", "%61", "%70", "\\",
        ],
    }
}

/// `%XX` decoding of a whole path; `None` for a bad escape (Go answers 400).
fn decode(path: &str) -> Option<Vec<u8>> {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = b.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(h).ok()?;
            if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// `path.Clean` on decoded bytes, as segments.
fn clean(decoded: &[u8]) -> Vec<&[u8]> {
    let mut segs: Vec<&[u8]> = Vec::new();
    for s in decoded.split(|&c| c == b'/') {
        match s {
            b"" | b"." => {}
            b".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    segs
}

/// Where Milo may start routing after stripping a control-plane prefix: the root, after an
/// organization or user prefix, after any `projects/{id}/control-plane`. (Every candidate
/// counts: over-approximating Milo only makes the check stricter.)
fn starts(segs: &[&[u8]]) -> Vec<usize> {
    let mut out = vec![0];
    let at = |i: usize| segs.get(i).copied();
    // An organization or user prefix starting at segment `j`.
    let context_at = |j: usize| {
        matches!(
            (at(j), at(j + 1), at(j + 2), at(j + 3), at(j + 5)),
            (
                Some(b"apis"),
                Some(b"resourcemanager.miloapis.com"),
                Some(b"v1alpha1"),
                Some(b"organizations"),
                Some(b"control-plane")
            ) | (
                Some(b"apis"),
                Some(b"iam.miloapis.com"),
                Some(b"v1alpha1"),
                Some(b"users"),
                Some(b"control-plane")
            )
        )
    };
    if context_at(0) {
        out.push(6);
    }
    for i in 0..segs.len() {
        if at(i) == Some(b"projects") && at(i + 2) == Some(b"control-plane") {
            let j = i + 3;
            out.push(j);
            // Milo's project router runs first; the organization and user handlers then read
            // what it left.
            if context_at(j) {
                out.push(j + 6);
            }
        }
    }
    out
}

/// Whether segments name the event resource of either API (any depth below it).
fn is_event_path(segs: &[&[u8]]) -> bool {
    let rest = match segs {
        [b"api", b"v1", rest @ ..] => rest,
        [b"apis", b"events.k8s.io", b"v1", rest @ ..] => rest,
        _ => return false,
    };
    let rest = match rest {
        [b"watch", rest @ ..] => rest,
        rest => rest,
    };
    matches!(rest, [b"events", ..] | [b"namespaces", _, b"events", ..])
}

/// Envoy's own routes for the group's static discovery documents, as every shipped config
/// writes them: `(.*/control-plane)?/apis/events\.k8s\.io(/v1)?/?` on the raw path. Envoy
/// answers those itself, so they never reach Milo whatever Milo would make of them.
fn envoy_answers(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    let head = path
        .strip_suffix("/apis/events.k8s.io/v1")
        .or_else(|| path.strip_suffix("/apis/events.k8s.io"));
    head.is_some_and(|h| h.is_empty() || h.ends_with("/control-plane"))
}

/// The reference: would Milo's Go server route this path to events?
pub fn reaches_events(raw: &str) -> bool {
    let path = raw.split_once('?').map_or(raw, |(p, _)| p);
    if envoy_answers(path) {
        return false;
    }
    if path.bytes().any(|b| b < 0x20 || b == 0x7f) || !path.starts_with('/') {
        return false;
    }
    let Some(decoded) = decode(path) else {
        return false;
    };
    let segs = clean(&decoded);
    starts(&segs)
        .into_iter()
        .any(|s| is_event_path(segs.get(s..).unwrap_or_default()))
}

fn same_route(a: &EventRoute, b: &EventRoute) -> bool {
    a.api == b.api
        && a.operation == b.operation
        && a.namespace == b.namespace
        && (a.legacy_watch || a.name == b.name)
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(input) else {
        // The host refuses non-UTF-8 `:path` and `:method` before classifying.
        return Ok(());
    };
    let (method, path) = text.split_once('\n').unwrap_or(("GET", text));
    let reference = reaches_events(path);
    let got = classify(method, path);
    match &got {
        Ok(Classification::NotEvent) if reference => {
            return Err(fail(
                "event path passed through as NotEvent",
                format!("{method} {path:?}: decoded and cleaned, Milo routes it to events"),
            ))
        }
        Ok(Classification::Event(_)) if !reference => {
            return Err(fail(
                "non-event path classified as an event",
                format!("{method} {path:?}"),
            ))
        }
        _ => {}
    }
    let Ok(Classification::Event(route)) = got else {
        return Ok(());
    };
    for upstream in [
        Upstream::Standard,
        Upstream::Prefix("/apis/activity.miloapis.com/v1alpha1"),
    ] {
        let Ok(up) = route.upstream_path(upstream) else {
            continue;
        };
        let up_path = up.split_once('?').map_or(up.as_str(), |(p, _)| p);
        let Some(decoded) = decode(up_path) else {
            return Err(fail("upstream path has a bad escape", &up));
        };
        let segs = clean(&decoded);
        let rebuilt: Vec<&[u8]> = decoded
            .strip_prefix(b"/")
            .unwrap_or(&decoded)
            .split(|&c| c == b'/')
            .collect();
        if segs != rebuilt {
            return Err(fail(
                "upstream path is not clean",
                format!("{method} {path:?} -> {up:?}"),
            ));
        }
        if let Upstream::Standard = upstream {
            match classify(method, &up) {
                Ok(Classification::Event(again)) if same_route(&route, &again) => {}
                other => {
                    return Err(fail(
                        "upstream path classifies differently",
                        format!("{method} {path:?} -> {up:?} -> {other:?}"),
                    ))
                }
            }
        }
    }
    Ok(())
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "get"];
const PREFIXES: &[&str] = &[
    "",
    "",
    "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane",
    "/apis/iam.miloapis.com/v1alpha1/users/u-1/control-plane",
    "/projects/web-app/control-plane",
    "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane",
    "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/Bad_Id/control-plane",
    "/x/projects/p2/control-plane",
];
const APIS: &[&str] = &[
    "/api/v1",
    "/apis/events.k8s.io/v1",
    "/api/v2",
    "/apis/events.k8s.io/v1beta1",
    "/apis/apps/v1",
    "/api",
];
const MIDDLES: &[&str] = &[
    "/events",
    "/namespaces/default/events",
    "/namespaces/kube-system/events",
    "/namespaces/Not_A_Label/events",
    "/watch/events",
    "/watch/namespaces/default/events",
    "/namespaces/default/pods",
    "/pods",
    "/namespaces/default",
    "",
];
const TAILS: &[&str] = &[
    "",
    "",
    "/e1",
    "/a%3Ab",
    "/e1/status",
    "/.",
    "/..",
    "/",
    "/a%2Fb",
    "/%2e%2e",
];
const QUERIES: &[&str] = &[
    "",
    "?watch=true",
    "?watch=1&resourceVersion=5",
    "?fieldSelector=metadata.name%3Dx",
    "?fieldSelector=regarding.name%3Dp",
    "?watch=maybe",
    "?limit=5&continue=abc",
];

/// Rewrites that a server undoes: dot segments, doubled slashes, `%2F` for `/`, a detour.
fn normalisation_noise(rng: &mut Rng, path: &str) -> String {
    let mut out = String::new();
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            match rng.below(24) {
                0 => out.push_str("%2F"),
                1 => out.push_str("//"),
                2 => out.push_str("/./"),
                3 => out.push_str("/zz/../"),
                4 => out.push_str("/%2e/"),
                5 => out.push_str("/x/%2E%2E/"),
                _ => out.push('/'),
            }
        }
        out.push_str(seg);
    }
    out
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (
        pick(METHODS),
        pick(PREFIXES),
        pick(APIS),
        pick(MIDDLES),
        pick(TAILS),
        pick(QUERIES),
        any::<u64>(),
        0usize..6,
    )
        .prop_map(|(method, prefix, api, middle, tail, query, seed, noise)| {
            let mut rng = Rng::new(seed);
            let mut path = format!("{prefix}{api}{middle}{tail}");
            if noise & 1 == 1 {
                path = normalisation_noise(&mut rng, &path);
            }
            if noise & 2 == 2 {
                let one_in = 2 + rng.below(12);
                // Percent-escape the path but keep the leading `/`.
                let rest = path.strip_prefix('/').unwrap_or(&path).to_owned();
                path = format!("/{}", percent_noise(&mut rng, &rest, one_in));
            }
            format!("{method}\n{path}{query}").into_bytes()
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_decodes_then_cleans() {
        assert!(reaches_events("/api/v1/namespaces/default/events"));
        assert!(reaches_events("/%61pi/v1/namespaces/default/events"));
        assert!(reaches_events("/api%2Fv1/events?watch=1"));
        assert!(reaches_events("/api/v1/namespaces/x/%2e%2e/default/events"));
        assert!(reaches_events("//api/v1/./events/"));
        assert!(reaches_events(
            "/projects/p/control-plane/apis/events.k8s.io/v1/events"
        ));
        assert!(!reaches_events("/api/v1/pods"));
        assert!(!reaches_events("/api/v1/ev%2565nts"));
        assert!(!reaches_events("/api/v1/%zzevents"));
    }
}
