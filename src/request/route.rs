//! Which requests are Event requests, what operation they are, and where they go upstream.
//!
//! Paths are matched the way a Kubernetes API server would see them (percent-decoded), so an
//! encoded path cannot slip past the filter to the API server; event paths that only match
//! after normalisation (empty or dot segments, encoded `/`, bad escapes) are refused.

use std::borrow::Cow;

use crate::config::Upstream;
use crate::k8s::api::{Api, Operation};
use crate::k8s::events;
use crate::k8s::names::{go_quote, is_dns1123_label};
use crate::k8s::parent::{self, InvalidParentId, Parent};
use crate::k8s::status::{Details, KubeError, Reason, Rejection};
use crate::wire::escape::percent_decode;
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
    /// Empty or dot segments, encoded `/`, bad percent escapes, control characters.
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
                "malformed event path: empty or dot segments, encoded '/' and invalid escapes are not allowed",
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

/// Classify a request by its `:method` and `:path` (with query).
pub fn classify(method: &str, raw_path: &str) -> Result<Classification, RouteError> {
    let (path, raw_query) = raw_path.split_once('?').unwrap_or((raw_path, ""));
    // Fast path: after decoding a path can only contain "events" if the raw path does or has an
    // escape. (Control-plane prefixes put event paths anywhere, so nothing else is assumed.)
    if !(path.contains("events") || path.contains('%')) {
        return Ok(Classification::NotEvent);
    }
    let Some(parsed) = ParsedPath::parse(path) else {
        return Ok(Classification::NotEvent);
    };
    if parsed.malformed {
        // However a server would resolve it, a malformed path that mentions events is refused
        // rather than guessed at.
        if parsed.normalized.iter().any(|s| s == "events") {
            return Err(RouteError::MalformedPath);
        }
        return Ok(Classification::NotEvent);
    }
    let stripped = parent::strip(&parsed.normalized);
    let segs: Vec<&str> = parsed
        .normalized
        .iter()
        .skip(stripped.rest)
        .map(|s| s.as_ref())
        .collect();
    let (api, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => (Api::CoreV1, rest),
        ["apis", "events.k8s.io", "v1", rest @ ..] => (Api::EventsV1, rest),
        _ => return Ok(Classification::NotEvent),
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
        _ => return Ok(Classification::NotEvent),
    };
    if let Some(invalid) = stripped.invalid {
        return Err(RouteError::InvalidParentId(invalid));
    }
    if matches!(shape, Shape::Named) && namespace.is_none() {
        // Events are namespaced: /events/{name} and deeper do not exist.
        return Err(RouteError::NotFound);
    }
    if let Some(ns) = namespace {
        if !is_dns1123_label(ns) {
            return Err(RouteError::NamespaceNotFound(ns.to_owned()));
        }
    }
    if let Some(n) = name {
        validate_path_name(n)?;
    }
    let operation = operation_for(method, &shape, namespace.is_some(), legacy_watch, raw_query)?;
    // Without malformations the raw and normalized segments line up one to one.
    let raw_name = name.and_then(|_| parsed.raw.last().map(|s| (*s).to_owned()));
    Ok(Classification::Event(EventRoute {
        parent: stripped.parent,
        api,
        operation,
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        raw_name,
        legacy_watch,
        query: raw_query.to_owned(),
    }))
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

/// A path split into raw segments and into decoded segments (what an API server routes on).
struct ParsedPath<'a> {
    raw: Vec<&'a str>,
    /// Borrowed from the path unless an escape had to be decoded.
    normalized: Vec<Cow<'a, str>>,
    malformed: bool,
}

impl<'a> ParsedPath<'a> {
    fn parse(path: &'a str) -> Option<Self> {
        let body = path.strip_prefix('/')?;
        let raw: Vec<&str> = body.split('/').collect();
        let mut malformed = false;
        let mut normalized: Vec<Cow<'a, str>> = Vec::with_capacity(raw.len());
        for seg in raw.iter().copied() {
            if seg.is_empty() || seg == "." || seg == ".." {
                malformed = true;
            }
            if !seg.contains('%') {
                if seg.chars().any(char::is_control) {
                    malformed = true;
                }
                normalized.push(Cow::Borrowed(seg));
                continue;
            }
            let decoded = match percent_decode(seg, false) {
                Ok(d) => d,
                Err(_) => {
                    malformed = true;
                    seg.to_owned()
                }
            };
            if decoded.chars().any(char::is_control) {
                malformed = true;
            }
            if decoded.contains('/') {
                malformed = true;
            }
            // Every piece is kept (no dot resolution): a malformed path is only inspected for
            // an "events" segment, a well-formed one maps one to one onto `raw`.
            normalized.extend(decoded.split('/').map(|p| Cow::Owned(p.to_owned())));
        }
        Some(ParsedPath {
            raw,
            normalized,
            malformed,
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
        for line in table.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let [method, path, expect, upstream] = cols.as_slice() else {
                panic!("bad fixture line: {line}");
            };
            n += 1;
            match classify(method, path) {
                Ok(Classification::NotEvent) => assert_eq!(*expect, "pass", "{line}"),
                Ok(Classification::Event(r)) => {
                    let got = format!("{}.{}", r.api.metric_name(), r.operation.metric_name());
                    assert_eq!(*expect, got, "{line}");
                    assert_eq!(*upstream, r.upstream_path(ACT).unwrap(), "{line}");
                }
                Err(e) => {
                    let got = e.rejection().code().to_string();
                    assert_eq!(*expect, got, "{line}");
                }
            }
        }
        assert!(n > 40, "fixture too small: {n}");
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
}
