//! Which requests are Event requests, what operation they are, and where they go upstream.
//!
//! Paths are matched the way Milo (a Go Kubernetes API server) would see them: percent-decoded
//! in full, its control-plane prefixes applied as its handlers apply them. So an encoded path
//! cannot slip past the filter to Milo: a clean event path is forwarded, and anything else
//! Milo could read an Event request into (empty or dot segments, encoded `/` or `?`, bad
//! escapes, prefix quirks, other versions) is refused.

use std::borrow::Cow;

use crate::config::Upstream;
use crate::k8s::api::{Api, Operation};
use crate::k8s::events;
use crate::k8s::names::{go_quote, is_dns1123_label};
use crate::k8s::parent::{self, InvalidParentId, Parent, ProjectRouter};
use crate::k8s::status::{Details, KubeError, Reason, Rejection};
use crate::wire::escape::{path_unescape_lossy, percent_decode};
use crate::wire::query;

/// A classified Event request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRoute {
    /// The tenant control plane the URL addressed (its prefix is not part of the route).
    pub parent: Option<Parent>,
    pub api: Api,
    pub operation: Operation,
    /// `None` for the all-namespaces collection.
    pub namespace: Option<String>,
    /// Decoded object name, for named requests.
    pub name: Option<String>,
    /// The name exactly as the client encoded it, reused in the upstream path.
    raw_name: Option<String>,
    /// Came in as `/watch/...`.
    pub legacy_watch: bool,
    /// Raw query string, without `?`.
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// Not an Event request: forwarded to the API server untouched (but for header stripping).
    NotEvent,
    Event(EventRoute),
}

/// Why an event path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Empty or dot segments, encoded `/` or `?`, bad percent escapes, control characters.
    MalformedPath,
    /// A name Kubernetes could never address (`.`, `..`, contains `%`).
    InvalidName(String),
    /// A namespace that is not a DNS-1123 label cannot exist.
    NamespaceNotFound(String),
    /// Subresources, cluster-scoped named events and other unknown event paths.
    NotFound,
    MethodNotAllowed(String),
    BadQuery(String),
    /// A control-plane prefix with an id Milo refuses.
    InvalidParentId(InvalidParentId),
    /// Refused by a rule elsewhere (e.g. field-selector translation), already a Status.
    Rejected(Rejection),
}

impl KubeError for RouteError {
    fn rejection(&self) -> Rejection {
        match self {
            RouteError::MalformedPath => Rejection::new(
                Reason::BadRequest,
                "malformed event path: empty or dot segments, encoded '/' or '?' and invalid escapes are not allowed",
            ),
            RouteError::InvalidName(msg) => Rejection::new(Reason::BadRequest, msg.clone()),
            // Not `Rejection::not_found`: that quotes like Go's %q, and this reply's wording
            // stays as it was (a behaviour change belongs to the hardening issue).
            RouteError::NamespaceNotFound(ns) => {
                Rejection::new(Reason::NotFound, format!("namespaces \"{ns}\" not found"))
                    .with_details(Details {
                        name: ns.clone(),
                        kind: "namespaces".into(),
                        ..Details::default()
                    })
            }
            RouteError::NotFound => Rejection::new(
                Reason::NotFound,
                "the server could not find the requested resource",
            ),
            RouteError::MethodNotAllowed(method) => Rejection::new(
                Reason::MethodNotAllowed,
                format!("the server does not allow this method on the requested resource: {method}"),
            ),
            RouteError::BadQuery(msg) => Rejection::new(Reason::BadRequest, msg.clone()),
            RouteError::InvalidParentId(invalid) => {
                let (word, id) = invalid.parts();
                Rejection::new(
                    Reason::BadRequest,
                    format!("invalid {word} ID {}", go_quote(id)),
                )
            }
            RouteError::Rejected(r) => r.clone(),
        }
    }
}

/// Shape of the matched path, before the method is considered.
enum Shape {
    Collection,
    Named,
}

/// An event path matched in decoded segments (the control-plane prefix already removed).
struct Matched<'a> {
    api: Api,
    legacy_watch: bool,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    shape: Shape,
}

/// Classify a request by its `:method` and `:path` (with query).
///
/// Two readings of the path must agree. The strict one forwards: a clean path (every segment
/// non-empty, no dot segments, escapes that decode to UTF-8 without `/`, `?` or control
/// characters) whose decoded segments, after Milo's prefix handling, are an Event path of
/// either API. The generous one refuses: whatever Milo's Go server could make of the path
/// (`req.URL.Path` decoded in full, each shape of Milo's project router, its prefix quirks,
/// then kube-apiserver's request-info reading, literally or with empty and dot segments
/// removed) that is an Event request or lies in the events.k8s.io group and is not forwarded
/// is answered here (400 for unclean paths, 404 otherwise), never passed on to Milo.
pub fn classify(method: &str, raw_path: &str) -> Result<Classification, RouteError> {
    let (path, raw_query) = raw_path.split_once('?').unwrap_or((raw_path, ""));
    // Fast path: Milo serves a substring of the decoded path, so an event path needs
    // "events" in it, which the raw path has literally or behind an escape.
    if !(path.contains("events") || path.contains('%')) {
        return Ok(Classification::NotEvent);
    }
    // Envoy answers these itself (the group's static discovery documents): nothing reaches Milo.
    if envoy_serves_events_discovery(path) {
        return Ok(Classification::NotEvent);
    }
    if let Some(found) = plain_event(method, raw_query, path) {
        return found;
    }
    classify_every_reading(method, raw_query, path)
}

/// The usual event request without the general machinery. A path of printable ASCII without
/// escapes, without empty or dot segments and without any of Milo's context prefixes reads the
/// same in every reading [`classify_every_reading`] makes: decoded is raw, normalized is
/// decoded, both project routers and the context handlers leave it alone without a parent, and
/// it is clean with raw and decoded segments equal. So its route is that of its segments.
/// `None`: not such a path, or not an event path; the general reading decides.
fn plain_event(
    method: &str,
    raw_query: &str,
    path: &str,
) -> Option<Result<Classification, RouteError>> {
    let rest = path.strip_prefix('/')?;
    if !path.bytes().all(|b| b.is_ascii_graphic() && b != b'%')
        || !parent::has_no_context(path.as_bytes())
    {
        return None;
    }
    let segs: Vec<&str> = rest.split('/').collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == "..") {
        return None;
    }
    let matched = match match_event_path(&segs) {
        Ok(Some(matched)) => matched,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    let raw_last = segs.last().copied();
    Some(event_route(method, raw_query, None, matched).map(|route| {
        Classification::Event(EventRoute {
            raw_name: route.name.as_ref().and(raw_last.map(str::to_owned)),
            ..route
        })
    }))
}

/// [`classify`] for every path: all the readings the function's documentation lists.
fn classify_every_reading(
    method: &str,
    raw_query: &str,
    path: &str,
) -> Result<Classification, RouteError> {
    let (decoded, escapes_valid) = path_unescape_lossy(path);
    // Milo's readings first (the first one forwards), then the same after a normalisation
    // some server or proxy on the way might apply.
    let normalized = remove_dot_segments(&decoded);
    // A path without empty or dot segments (the usual one) normalizes to itself: its readings
    // would only be repeated, and every check below treats a repeated reading as the first.
    let variants: &[&[u8]] = if normalized == decoded {
        &[&decoded]
    } else {
        &[&decoded, &normalized]
    };
    let readings: Vec<_> = variants
        .iter()
        .flat_map(|p| {
            [
                parent::resolve(p, ProjectRouter::Anywhere),
                parent::resolve(p, ProjectRouter::LongFormOnly),
            ]
        })
        .collect();
    let clean = if escapes_valid {
        CleanPath::parse(path)
    } else {
        None
    };
    if let (Some(clean), [Ok(primary), others @ ..]) = (&clean, readings.as_slice()) {
        if let Some(strict) = clean.served(&primary.path) {
            if let Some(matched) = match_event_path(&strict.segs)? {
                let agreed = others.iter().all(|r| match r {
                    Ok(other) => {
                        (other.parent == primary.parent && other.path == primary.path)
                            || event_group_resource(&other.path).is_none()
                    }
                    Err(refused) => event_group_resource(&refused.rest).is_none(),
                });
                if agreed {
                    let route = event_route(method, raw_query, primary.parent.clone(), matched)?;
                    return Ok(Classification::Event(EventRoute {
                        raw_name: route.name.as_ref().and(strict.raw_last.map(str::to_owned)),
                        ..route
                    }));
                }
            }
        }
    }
    // Not forwarded: refused if Milo could read an event request into it.
    for reading in &readings {
        if let Err(refused) = reading {
            if event_group_resource(&refused.rest).is_some() {
                return Err(RouteError::InvalidParentId(refused.invalid.clone()));
            }
        }
    }
    let any_project_tail = variants
        .iter()
        .any(|p| project_tails(p).any(|tail| event_group_resource(tail).is_some()));
    for reading in readings.iter().flatten() {
        if event_group_resource(&reading.path).is_some() || any_project_tail {
            return Err(if clean.is_some() {
                RouteError::NotFound
            } else {
                RouteError::MalformedPath
            });
        }
    }
    // Every reading may have been refused (a bad parent id) without naming the events group.
    if any_project_tail {
        return Err(if clean.is_some() {
            RouteError::NotFound
        } else {
            RouteError::MalformedPath
        });
    }
    Ok(Classification::NotEvent)
}

/// The Event path grammar on clean decoded segments: `Ok(None)` for anything else.
fn match_event_path<'a>(segs: &[&'a str]) -> Result<Option<Matched<'a>>, RouteError> {
    let (api, rest) = match segs {
        ["api", "v1", rest @ ..] => (Api::CoreV1, rest),
        ["apis", "events.k8s.io", "v1", rest @ ..] => (Api::EventsV1, rest),
        _ => return Ok(None),
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let (namespace, name, shape) = match rest {
        ["events"] => (None, None, Shape::Collection),
        ["events", ..] => (None, None, Shape::Named), // checked below: 404
        ["namespaces", ns, "events"] => (Some(*ns), None, Shape::Collection),
        ["namespaces", ns, "events", name] => (Some(*ns), Some(*name), Shape::Named),
        ["namespaces", _, "events", _, _, ..] => return Err(RouteError::NotFound),
        _ => return Ok(None),
    };
    Ok(Some(Matched {
        api,
        legacy_watch,
        namespace,
        name,
        shape,
    }))
}

/// The route of a matched event path, with the checks that need no identity.
fn event_route(
    method: &str,
    raw_query: &str,
    parent: Option<Parent>,
    m: Matched<'_>,
) -> Result<EventRoute, RouteError> {
    if matches!(m.shape, Shape::Named) && m.namespace.is_none() {
        // Events are namespaced: /events/{name} and deeper do not exist.
        return Err(RouteError::NotFound);
    }
    if let Some(ns) = m.namespace {
        if !is_dns1123_label(ns) {
            return Err(RouteError::NamespaceNotFound(ns.to_owned()));
        }
    }
    if let Some(n) = m.name {
        validate_path_name(n)?;
    }
    let operation = operation_for(
        method,
        &m.shape,
        m.namespace.is_some(),
        m.legacy_watch,
        raw_query,
    )?;
    Ok(EventRoute {
        parent,
        api: m.api,
        operation,
        namespace: m.namespace.map(str::to_owned),
        name: m.name.map(str::to_owned),
        raw_name: None,
        legacy_watch: m.legacy_watch,
        query: raw_query.to_owned(),
    })
}

/// Which of Envoy's routes for the group's static documents
/// (`(.*/control-plane)?/apis/events\.k8s\.io(/v1)?/?` in every shipped config) a path takes.
fn envoy_serves_events_discovery(path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    ["/apis/events.k8s.io", "/apis/events.k8s.io/v1"]
        .iter()
        .any(|doc| {
            path.strip_suffix(doc)
                .is_some_and(|head| head.is_empty() || head.ends_with("/control-plane"))
        })
}

/// Whether kube-apiserver's request-info reading of a served path (Milo's, after its prefix
/// handling) is an Event request of the core group (any version) or anything in the
/// events.k8s.io group, read literally or with empty and dot segments removed, as any server
/// or proxy might. Generous on purpose: a yes that is not forwarded is refused.
fn event_group_resource(served: &[u8]) -> Option<Api> {
    // kube-apiserver: strings.Split(strings.Trim(path, "/"), "/").
    let start = served
        .iter()
        .position(|b| *b != b'/')
        .unwrap_or(served.len());
    let end = served
        .iter()
        .rposition(|b| *b != b'/')
        .map_or(start, |i| i + 1);
    let trimmed = served.get(start..end).unwrap_or_default();
    let literal: Vec<&[u8]> = trimmed.split(|b| *b == b'/').collect();
    request_info_events(&literal).or_else(|| request_info_events(&normalized_segments(served)))
}

/// What follows every `/projects/{id}/control-plane/` in the path, not only the one Milo's
/// project routers pick (the first, or the long form at the start): a router that matched
/// another occurrence would serve this tail, so an event tail there is refused as well.
fn project_tails(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    const PROJECTS: &[u8] = b"/projects/";
    const CONTROL_PLANE: &[u8] = b"/control-plane/";
    (0..path.len()).filter_map(move |i| {
        let tail = path.get(i..)?.strip_prefix(PROJECTS)?;
        let slash = tail.iter().position(|b| *b == b'/')?;
        let rest = tail.get(slash..)?.strip_prefix(CONTROL_PLANE)?;
        // Keep the leading '/' of the served path.
        let start = tail.len().checked_sub(rest.len())?.checked_sub(1)?;
        tail.get(start..)
    })
}

/// Segments with empty and `.` ones dropped and `..` resolved (RFC 3986 dot removal, plus
/// merged slashes).
fn normalized_segments(path: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for seg in path.split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out
}

fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for seg in normalized_segments(path) {
        out.push(b'/');
        out.extend_from_slice(seg);
    }
    out
}

fn request_info_events(parts: &[&[u8]]) -> Option<Api> {
    let rest = match parts {
        [b"api", _version, rest @ ..] => rest,
        [b"apis", b"events.k8s.io", ..] => return Some(Api::EventsV1),
        _ => return None,
    };
    let rest = match rest {
        [b"watch", r @ ..] => r,
        r => r,
    };
    // `namespaces/{ns}/{resource}` unless the third part is a namespace subresource.
    let resource = match rest {
        [b"namespaces", _, res, ..] if !matches!(*res, b"status" | b"finalize") => *res,
        [first, ..] => *first,
        [] => return None,
    };
    (resource == b"events").then_some(Api::CoreV1)
}

fn operation_for(
    method: &str,
    shape: &Shape,
    namespaced: bool,
    legacy_watch: bool,
    query: &str,
) -> Result<Operation, RouteError> {
    let not_allowed = || Err(RouteError::MethodNotAllowed(method.to_owned()));
    if legacy_watch {
        return match method {
            "GET" => Ok(Operation::Watch),
            _ => not_allowed(),
        };
    }
    match (shape, method) {
        (Shape::Collection, "GET") => {
            if query::flag(query, "watch").map_err(RouteError::BadQuery)? {
                Ok(Operation::Watch)
            } else {
                Ok(Operation::List)
            }
        }
        (Shape::Collection, "POST") if namespaced => Ok(Operation::Create),
        // Kubernetes serves GET on a named object as a get even with ?watch=true.
        (Shape::Named, "GET") => Ok(Operation::Get),
        (Shape::Named, "PUT") => Ok(Operation::Update),
        (Shape::Named, "PATCH") => Ok(Operation::Patch),
        (Shape::Named, "DELETE") => Ok(Operation::Delete),
        // deletecollection and everything else is not offered for events here.
        _ => not_allowed(),
    }
}

/// `IsValidPathSegmentName` of the Kubernetes API server, plus no control characters.
fn validate_path_name(name: &str) -> Result<(), RouteError> {
    if name == "." || name == ".." {
        return Err(RouteError::InvalidName(format!("name may not be '{name}'")));
    }
    for bad in ['/', '%'] {
        if name.contains(bad) {
            return Err(RouteError::InvalidName(format!(
                "name may not contain '{bad}'"
            )));
        }
    }
    Ok(())
}

/// A path every server reads alike: non-empty segments, no dot segments, and escapes that
/// decode to UTF-8 without `/`, `?` or control characters, so decoded and raw segments line up
/// one to one.
struct CleanPath<'a> {
    raw: Vec<&'a str>,
    decoded: Vec<Cow<'a, str>>,
}

/// The served part of a clean path, in decoded segments, and the raw form of its last one.
struct Served<'p> {
    segs: Vec<&'p str>,
    raw_last: Option<&'p str>,
}

impl<'a> CleanPath<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let raw: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let mut decoded = Vec::with_capacity(raw.len());
        for seg in raw.iter().copied() {
            let d = if seg.contains('%') {
                Cow::Owned(percent_decode(seg, false).ok()?)
            } else {
                Cow::Borrowed(seg)
            };
            let bad_char = |c: char| c == '/' || c == '?' || c.is_control();
            if d.is_empty() || d == "." || d == ".." || d.chars().any(bad_char) {
                return None;
            }
            decoded.push(d);
        }
        Some(CleanPath { raw, decoded })
    }

    /// The segments of `served` (what Milo serves of this path) when it is `/` and a run of
    /// this path's last segments; `None` for anything else (Milo's plain-trimming quirks).
    fn served(&self, served: &[u8]) -> Option<Served<'_>> {
        let body = std::str::from_utf8(served.strip_prefix(b"/")?).ok()?;
        let segs: Vec<&str> = body.split('/').collect();
        let skip = self.decoded.len().checked_sub(segs.len())?;
        let tail = self.decoded.get(skip..)?;
        if tail.iter().zip(&segs).any(|(d, s)| d.as_ref() != *s) {
            return None;
        }
        Some(Served {
            segs: tail.iter().map(AsRef::as_ref).collect(),
            raw_last: self.raw.last().copied(),
        })
    }
}

impl EventRoute {
    /// The `:path` (with query) to send upstream.
    pub fn upstream_path(&self, upstream: Upstream<'_>) -> Result<String, RouteError> {
        let base = match upstream {
            Upstream::Prefix(p) => p,
            Upstream::Standard => self.api.standard_prefix(),
        };
        let mut path = String::with_capacity(base.len() + 64 + self.query.len());
        path.push_str(base);
        if let Some(ns) = &self.namespace {
            path.push_str("/namespaces/");
            path.push_str(ns);
        }
        path.push_str("/events");
        let mut query = if self.legacy_watch {
            self.legacy_watch_query()?
        } else {
            if let Some(raw) = &self.raw_name {
                path.push('/');
                path.push_str(raw);
            }
            self.query.clone()
        };
        if matches!(upstream, Upstream::Prefix(_)) && self.api == Api::EventsV1 {
            query = events_v1_field_selector(&query)?;
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query);
        }
        Ok(path)
    }

    /// `/watch/...` becomes `?watch=true` on the collection; a named legacy watch selects the
    /// object by `metadata.name`, as the Kubernetes API server does.
    fn legacy_watch_query(&self) -> Result<String, RouteError> {
        let mut q = query::without(&self.query, "watch");
        if let Some(name) = &self.name {
            match query::first(&q, "fieldSelector") {
                Some(Ok(sel)) if !sel.is_empty() => {
                    if !selector_requires_name(&sel, name) {
                        return Err(RouteError::BadQuery(
                            "fieldSelector metadata.name doesn't match requested name".into(),
                        ));
                    }
                }
                Some(Err(e)) => return Err(RouteError::BadQuery(e)),
                _ => {
                    q = query::without(&q, "fieldSelector");
                    q = query::append(&q, "fieldSelector", &format!("metadata.name={name}"));
                }
            }
        }
        Ok(query::append(&q, "watch", "true"))
    }
}

/// Activity stores core/v1-shaped events: an events.k8s.io/v1 field selector is translated to
/// the core labels, as kube-apiserver's field-label conversion does; unsupported labels are 400.
fn events_v1_field_selector(query: &str) -> Result<String, RouteError> {
    match query::first(query, "fieldSelector") {
        Some(Ok(sel)) if !sel.is_empty() => {
            let core = events::field_selector_events_v1_to_core(&sel)
                .map_err(|e| RouteError::Rejected(e.rejection()))?;
            Ok(query::replace(query, "fieldSelector", &core))
        }
        Some(Err(e)) => Err(RouteError::BadQuery(e)),
        _ => Ok(query.to_owned()),
    }
}

/// Whether a field selector pins `metadata.name` to `name` with `=` or `==`.
fn selector_requires_name(selector: &str, name: &str) -> bool {
    selector.split(',').any(|term| {
        let term = term.trim();
        let value = term
            .strip_prefix("metadata.name==")
            .or_else(|| term.strip_prefix("metadata.name="));
        value.is_some_and(|v| v == name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(method: &str, path: &str) -> EventRoute {
        match classify(method, path) {
            Ok(Classification::Event(r)) => r,
            other => panic!("{method} {path}: expected event, got {other:?}"),
        }
    }

    fn err(method: &str, path: &str) -> RouteError {
        match classify(method, path) {
            Err(e) => e,
            other => panic!("{method} {path}: expected error, got {other:?}"),
        }
    }

    const ACT: Upstream<'static> = Upstream::Prefix("/apis/activity.miloapis.com/v1alpha1");

    /// The routing table, as a fixture: method, path, api, operation, upstream path.
    #[test]
    fn routing_table_fixture() {
        let table = include_str!("../../testdata/routes.tsv");
        let mut n = 0;
        let mut wrong = Vec::new();
        for line in table.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let [method, path, expect, upstream] = cols.as_slice() else {
                panic!("bad fixture line: {line}");
            };
            n += 1;
            let (got, got_upstream) = match classify(method, path) {
                Ok(Classification::NotEvent) => ("pass".to_owned(), String::new()),
                Ok(Classification::Event(r)) => (
                    format!("{}.{}", r.api.metric_name(), r.operation.metric_name()),
                    r.upstream_path(ACT).unwrap(),
                ),
                Err(e) => (e.rejection().code().to_string(), String::new()),
            };
            if (got.as_str(), got_upstream.as_str()) != (*expect, *upstream) {
                wrong.push(format!("{line}\n   got {got}\t{got_upstream}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(n > 100, "fixture too small: {n}");
    }

    #[test]
    fn standard_mode_keeps_each_api_on_its_path() {
        let r = event(
            "GET",
            "/apis/events.k8s.io/v1/namespaces/ns/events/e1?pretty=1",
        );
        assert_eq!(
            r.upstream_path(Upstream::Standard).unwrap(),
            "/apis/events.k8s.io/v1/namespaces/ns/events/e1?pretty=1"
        );
        let r = event("GET", "/api/v1/watch/events");
        assert_eq!(
            r.upstream_path(Upstream::Standard).unwrap(),
            "/api/v1/events?watch=true"
        );
    }

    #[test]
    fn events_v1_field_selectors_are_translated_for_activity() {
        let r = event(
            "GET",
            "/apis/events.k8s.io/v1/namespaces/ns/events?fieldSelector=regarding.name%3Dmy-pod%2CreportingController%3Dkubelet&limit=5",
        );
        assert_eq!(
            r.upstream_path(ACT).unwrap(),
            "/apis/activity.miloapis.com/v1alpha1/namespaces/ns/events?fieldSelector=involvedObject.name%3Dmy-pod%2CreportingComponent%3Dkubelet&limit=5"
        );
        // Untouched in standard-paths mode and for core clients.
        assert!(r
            .upstream_path(Upstream::Standard)
            .unwrap()
            .contains("regarding.name"));
        let r = event(
            "GET",
            "/api/v1/events?fieldSelector=involvedObject.name%3Dx",
        );
        assert!(r
            .upstream_path(ACT)
            .unwrap()
            .ends_with("involvedObject.name%3Dx"));
        let r = event(
            "GET",
            "/apis/events.k8s.io/v1/events?fieldSelector=involvedObject.name%3Dx",
        );
        let e = r.upstream_path(ACT).unwrap_err().rejection();
        assert_eq!(e.code(), 400);
        assert_eq!(e.message, "field label not supported: involvedObject.name");
    }

    #[test]
    fn named_legacy_watch_uses_field_selector() {
        let r = event(
            "GET",
            "/api/v1/watch/namespaces/ns/events/a.b?resourceVersion=5",
        );
        assert_eq!(r.operation, Operation::Watch);
        assert_eq!(
            r.upstream_path(ACT).unwrap(),
            "/apis/activity.miloapis.com/v1alpha1/namespaces/ns/events?resourceVersion=5&fieldSelector=metadata.name%3Da.b&watch=true"
        );
        let r = event(
            "GET",
            "/api/v1/watch/namespaces/ns/events/x?fieldSelector=metadata.name%3Dx",
        );
        assert_eq!(
            r.upstream_path(ACT).unwrap(),
            "/apis/activity.miloapis.com/v1alpha1/namespaces/ns/events?fieldSelector=metadata.name%3Dx&watch=true"
        );
        let r = event(
            "GET",
            "/api/v1/watch/namespaces/ns/events/x?fieldSelector=metadata.name%3Dy",
        );
        assert_eq!(r.upstream_path(ACT).unwrap_err().rejection().code(), 400);
    }

    #[test]
    fn legacy_watch_overrides_watch_param() {
        let r = event("GET", "/api/v1/watch/namespaces/ns/events?watch=0&limit=1");
        assert_eq!(
            r.upstream_path(ACT).unwrap(),
            "/apis/activity.miloapis.com/v1alpha1/namespaces/ns/events?limit=1&watch=true"
        );
    }

    #[test]
    fn encoded_paths_are_seen_as_the_api_server_sees_them() {
        // An encoded "events" is still an event request; the upstream path is rebuilt.
        let r = event("GET", "/api/v1/namespaces/default/ev%65nts");
        assert_eq!(r.operation, Operation::List);
        assert_eq!(
            r.upstream_path(ACT).unwrap(),
            "/apis/activity.miloapis.com/v1alpha1/namespaces/default/events"
        );
        // Names keep their encoding upstream.
        let r = event("GET", "/api/v1/namespaces/default/events/a%3Ab");
        assert_eq!(r.name.as_deref(), Some("a:b"));
        assert!(r.upstream_path(ACT).unwrap().ends_with("/events/a%3Ab"));
        // An encoded slash that would reach events is refused.
        assert_eq!(
            err("GET", "/api%2Fv1/namespaces/default/events"),
            RouteError::MalformedPath
        );
        assert_eq!(
            err("GET", "/api/v1/namespaces/default/events%2Fx"),
            RouteError::MalformedPath
        );
    }

    #[test]
    fn names_follow_path_segment_rules() {
        assert!(matches!(
            err("GET", "/api/v1/namespaces/ns/events/a%25b"),
            RouteError::InvalidName(_)
        ));
        // Core v1 event names need not be DNS subdomains.
        let r = event("DELETE", "/api/v1/namespaces/ns/events/Upper_Case:1");
        assert_eq!(r.operation, Operation::Delete);
    }

    #[test]
    fn nested_prefixes_take_milos_last_context() {
        let org = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane";
        let proj = "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane";
        let parent_of = |path: &str| event("GET", path).parent.map(|p| (p.kind, p.name));
        use crate::k8s::parent::ParentKind::{Organization, Project};
        assert_eq!(
            parent_of(&format!("{proj}{org}/api/v1/events")),
            Some((Organization, "acme".into()))
        );
        assert_eq!(
            parent_of(&format!("{org}{proj}/api/v1/events")),
            Some((Project, "p1".into()))
        );
        assert_eq!(
            parent_of("/projects/p1/control-plane/api/v1/events"),
            Some((Project, "p1".into()))
        );
    }

    /// Every way to spell an event path that Milo would decode back into it: each byte of the
    /// path escaped (either hex case), each `/` escaped, dot and empty segments inserted. None
    /// is passed on: each is forwarded as that same event request or refused.
    #[test]
    fn no_spelling_of_an_event_path_passes() {
        let bases = [
            ("GET", "/api/v1/namespaces/default/events", "core_v1.list"),
            ("POST", "/api/v1/namespaces/default/events", "core_v1.create"),
            ("GET", "/api/v1/events", "core_v1.list"),
            ("GET", "/api/v1/watch/namespaces/default/events", "core_v1.watch"),
            ("PATCH", "/api/v1/namespaces/default/events/e1", "core_v1.patch"),
            ("GET", "/apis/events.k8s.io/v1/namespaces/default/events", "events_v1.list"),
            ("POST", "/apis/events.k8s.io/v1/namespaces/default/events", "events_v1.create"),
            (
                "DELETE",
                "/apis/events.k8s.io/v1/namespaces/default/events/e1",
                "events_v1.delete",
            ),
            (
                "GET",
                "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/events",
                "core_v1.list",
            ),
            (
                "POST",
                "/projects/p1/control-plane/apis/events.k8s.io/v1/namespaces/default/events",
                "events_v1.create",
            ),
        ];
        let mut cases = 0;
        for (method, base, want) in bases {
            let expected = event(method, base);
            for variant in spellings(base) {
                cases += 1;
                match classify(method, &variant) {
                    Ok(Classification::Event(r)) => {
                        let got = format!("{}.{}", r.api.metric_name(), r.operation.metric_name());
                        assert_eq!(got, want, "{variant}");
                        assert_eq!(r.parent, expected.parent, "{variant}");
                        assert_eq!(r.namespace, expected.namespace, "{variant}");
                        assert_eq!(r.name, expected.name, "{variant}");
                    }
                    Ok(Classification::NotEvent) => panic!("{method} {variant} passes to Milo"),
                    Err(e) => assert!(
                        matches!(e.rejection().code(), 400 | 404),
                        "{variant}: {e:?}"
                    ),
                }
            }
        }
        assert!(cases > 1000, "{cases}");
    }

    /// The plain fast path answers exactly what every reading answers, on the fuzz corpus,
    /// the event paths of the tests and every spelling of them.
    #[test]
    fn the_plain_fast_path_agrees_with_every_reading() {
        let mut paths: Vec<String> = Vec::new();
        let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/fuzz/route");
        for entry in std::fs::read_dir(corpus).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            for line in String::from_utf8_lossy(&bytes).lines() {
                paths.push(
                    line.split_whitespace()
                        .last()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        for base in [
            "/api/v1/namespaces/default/events/e1",
            "/api/v1/namespaces/default/events",
            "/api/v1/events",
            "/api/v1/watch/namespaces/default/events/e1",
            "/apis/events.k8s.io/v1/namespaces/default/events/e.1-x",
            "/apis/events.k8s.io/v1/events",
            "/api/v1/namespaces/projects/events/control-plane",
            "/api/v1/namespaces/default/events/e1/status",
            "/api/v1/namespaces/Default/events/e1",
            "/api/v2/namespaces/default/events",
            "/apis/events.k8s.io/v1beta1/events",
            "/api/v1/namespaces/default/events/a:b~c",
            "/projects/p1/control-plane/api/v1/events",
            "/apis/iam.miloapis.com/v1alpha1/users/u/control-plane/api/v1/events",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/o/control-plane/api/v1/events",
        ] {
            paths.push(base.to_owned());
            paths.extend(spellings(base));
        }
        let mut fast = 0;
        for path in &paths {
            for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] {
                for query in ["", "watch=true", "watch=1&x", "fieldValidation=Strict"] {
                    let raw = format!("{path}?{query}");
                    let got = classify(method, &raw);
                    let (p, q) = raw.split_once('?').unwrap();
                    let want = if !(p.contains("events") || p.contains('%'))
                        || envoy_serves_events_discovery(p)
                    {
                        Ok(Classification::NotEvent)
                    } else {
                        classify_every_reading(method, q, p)
                    };
                    assert_eq!(got, want, "{method} {raw}");
                    fast += usize::from(plain_event(method, q, p).is_some());
                }
            }
        }
        assert!(fast > 100, "the fast path was taken {fast} times");
    }

    /// Spellings of `path` that decode (or normalise) back to it.
    fn spellings(path: &str) -> Vec<String> {
        let mut out = Vec::new();
        let bytes = path.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            let (head, tail) = (&path.get(..i).unwrap(), &path.get(i + 1..).unwrap());
            out.push(format!("{head}%{b:02X}{tail}"));
            out.push(format!("{head}%{b:02x}{tail}"));
            if *b == b'/' {
                out.push(format!("{head}//{tail}"));
                out.push(format!("{head}/./{tail}"));
                out.push(format!("{head}/%2e/{tail}"));
                out.push(format!("{head}/x/../{tail}"));
                out.push(format!("{head}/x/%2E%2E/{tail}"));
                out.push(format!("{head}/x%2F..%2F{tail}"));
            }
        }
        out.push(path.bytes().map(|b| format!("%{b:02X}")).collect());
        out.push(format!("{path}/"));
        out
    }

    #[test]
    fn event_tails_behind_any_project_prefix_are_refused() {
        // Milo's routers take the first `/projects/` (or only the long form); a later
        // occurrence is refused all the same rather than passed on.
        for path in [
            "/projects/projects/1/control-plane/api/v1/events",
            "/x/projects/a/b/projects/p/control-plane/apis/events.k8s.io/v1/events",
            // Found by the route fuzz target: the first prefix's id is one Milo refuses.
            "/apis/resourcemanager.miloapis.com/v1alpha1/projects/\\/control-plane/projects/1/control-plane/api/v1/watch/namespaces/t/events",
        ] {
            assert_eq!(err("GET", path), RouteError::NotFound, "{path}");
        }
        assert_eq!(
            classify("GET", "/projects/projects/1/control-plane/api/v1/pods").unwrap(),
            Classification::NotEvent
        );
        let tails: Vec<&[u8]> =
            project_tails(b"/projects/a/control-plane/projects/b/control-plane/x").collect();
        assert_eq!(tails, vec![&b"/projects/b/control-plane/x"[..], &b"/x"[..]]);
    }
}
