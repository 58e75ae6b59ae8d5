//! What a request is, once Milo's prefix handling produced the served path: the route the
//! stand-in serves, and whether it is an Event request (which must never reach Milo in the
//! product: the sidecar sends those to Activity).
//!
//! Event detection follows kube-apiserver's RequestInfo resolution (`/api/{v}` or
//! `/apis/{group}/{v}`, optional `watch/`, optional `namespaces/{ns}/`, then the resource), and is
//! deliberately generous: it also tries the path with empty and dot segments removed, because a
//! proxy in front may normalise them, and it counts everything under `/apis/events.k8s.io`.

use http::Method;

/// The route a served path maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/healthz`, `/livez`, `/readyz` (and their sub-checks).
    Health,
    /// `/` (RootPaths).
    Root,
    Version,
    /// `/api`.
    CoreVersions,
    /// `/api/v1`.
    CoreResources,
    /// `/apis`.
    Groups,
    /// `/apis/{group}`.
    Group(String),
    /// `/apis/{group}/{version}`.
    GroupResources(String, String),
    /// `/openapi/v3`.
    OpenApiIndex,
    /// `/openapi/v3/{api/v1 | apis/group/version}`.
    OpenApiDocument(String),
    /// `/api/v1/namespaces`.
    NamespaceList,
    /// `/api/v1/namespaces/{name}`.
    Namespace(Vec<u8>),
    TokenReviews,
    SubjectAccessReviews,
    /// An Event request of either API (recorded, answered 404).
    Event(EventApi),
    /// Anything else (404).
    Other,
}

/// Which Event API a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EventApi {
    #[serde(rename = "core/v1")]
    Core,
    #[serde(rename = "events.k8s.io")]
    EventsGroup,
}

impl Route {
    /// The request log's name for this route.
    pub fn class(&self) -> &'static str {
        match self {
            Route::Health => "health",
            Route::Root
            | Route::Version
            | Route::CoreVersions
            | Route::CoreResources
            | Route::Groups
            | Route::Group(_)
            | Route::GroupResources(..) => "discovery",
            Route::OpenApiIndex | Route::OpenApiDocument(_) => "openapi",
            Route::NamespaceList | Route::Namespace(_) => "namespace",
            Route::TokenReviews => "tokenReview",
            Route::SubjectAccessReviews => "subjectAccessReview",
            Route::Event(_) => "event",
            Route::Other => "other",
        }
    }
}

/// Maps a served path (decoded, prefix already stripped) to its route.
pub fn route(path: &[u8]) -> Route {
    if let Some(api) = event_api(path) {
        return Route::Event(api);
    }
    let Ok(p) = std::str::from_utf8(path) else {
        return Route::Other;
    };
    // Discovery documents also answer with one trailing slash, as kube-apiserver's mux does.
    let trimmed = match p.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => p,
    };
    match trimmed {
        "/" => return Route::Root,
        "/healthz" | "/livez" | "/readyz" => return Route::Health,
        "/version" => return Route::Version,
        "/api" => return Route::CoreVersions,
        "/api/v1" => return Route::CoreResources,
        "/apis" => return Route::Groups,
        "/openapi/v3" => return Route::OpenApiIndex,
        _ => {}
    }
    for check in ["/healthz/", "/livez/", "/readyz/"] {
        if let Some(sub) = p.strip_prefix(check) {
            if !sub.is_empty() && !sub.contains('/') {
                return Route::Health;
            }
        }
    }
    if let Some(doc) = p.strip_prefix("/openapi/v3/") {
        return Route::OpenApiDocument(doc.to_string());
    }
    match p {
        "/apis/authentication.k8s.io/v1/tokenreviews" => return Route::TokenReviews,
        "/apis/authorization.k8s.io/v1/subjectaccessreviews" => return Route::SubjectAccessReviews,
        "/api/v1/namespaces" => return Route::NamespaceList,
        _ => {}
    }
    if let Some(name) = p.strip_prefix("/api/v1/namespaces/") {
        if !name.is_empty() && !name.contains('/') {
            return Route::Namespace(name.as_bytes().to_vec());
        }
    }
    if let Some(rest) = trimmed.strip_prefix("/apis/") {
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [g] if !g.is_empty() => return Route::Group((*g).to_string()),
            [g, v] if !g.is_empty() && !v.is_empty() => {
                return Route::GroupResources((*g).to_string(), (*v).to_string())
            }
            _ => {}
        }
    }
    Route::Other
}

/// The verb kube-apiserver would derive for a resource request (used for authorization).
pub fn verb(method: &Method, is_collection: bool, watch: bool) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if is_collection => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if is_collection => "deletecollection",
        Method::DELETE => "delete",
        _ => "",
    }
}

/// `Some` when the path is an Event request of either API, or anything under the
/// events.k8s.io group, read literally or after removing empty and dot segments.
pub fn event_api(path: &[u8]) -> Option<EventApi> {
    let literal: Vec<&[u8]> = trim_slashes(path).split(|b| *b == b'/').collect();
    event_api_parts(&literal).or_else(|| event_api_parts(&normalized(path)))
}

fn trim_slashes(p: &[u8]) -> &[u8] {
    let start = p.iter().position(|b| *b != b'/').unwrap_or(p.len());
    let end = p.iter().rposition(|b| *b != b'/').map_or(start, |i| i + 1);
    p.get(start..end).unwrap_or_default()
}

/// Segments with empty ones dropped and `.`/`..` resolved (RFC 3986 dot removal).
fn normalized(path: &[u8]) -> Vec<&[u8]> {
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

fn event_api_parts(parts: &[&[u8]]) -> Option<EventApi> {
    let (api, rest) = match parts {
        [b"api", _version, rest @ ..] => (EventApi::Core, rest),
        [b"apis", b"events.k8s.io", ..] => return Some(EventApi::EventsGroup),
        _ => return None,
    };
    let rest = match rest {
        [b"watch", r @ ..] => r,
        r => r,
    };
    // kube-apiserver: `namespaces/{ns}/{resource}...` unless the third part is a namespace
    // subresource (status, finalize); otherwise the first part is the resource.
    let resource = match rest {
        [b"namespaces", _ns, res, ..] if !matches!(*res, b"status" | b"finalize") => *res,
        [first, ..] => *first,
        [] => return None,
    };
    (resource == b"events").then_some(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(p: &str) -> Route {
        route(p.as_bytes())
    }

    #[test]
    fn event_paths_of_both_apis() {
        for p in [
            "/api/v1/events",
            "/api/v1/namespaces/default/events",
            "/api/v1/namespaces/default/events/",
            "/api/v1/namespaces/default/events/e1",
            "/api/v1/namespaces/default/events/e1/status",
            "/api/v1/watch/events",
            "/api/v1/watch/namespaces/default/events",
            "//api/v1/namespaces/default/events",
            "/api//v1/namespaces/default/events",
            "/api/v1/namespaces/default/./events",
            "/api/v1/namespaces/default/x/../events",
        ] {
            assert_eq!(r(p), Route::Event(EventApi::Core), "{p}");
        }
        for p in [
            "/apis/events.k8s.io",
            "/apis/events.k8s.io/v1",
            "/apis/events.k8s.io/v1/events",
            "/apis/events.k8s.io/v1/namespaces/default/events/e1",
            "/apis/events.k8s.io/v1beta1/watch/events",
            "/apis//events.k8s.io/v1/events",
        ] {
            assert_eq!(r(p), Route::Event(EventApi::EventsGroup), "{p}");
        }
        for p in [
            "/api/v1/namespaces/events",
            "/api/v1/namespaces/events/status",
            "/api/v1/namespaces/default/configmaps/events",
            "/api/v1/namespaces/default/Events",
            "/apis/example.com/v1/events",
        ] {
            assert_ne!(r(p), Route::Event(EventApi::Core), "{p}");
        }
    }

    #[test]
    fn served_routes() {
        assert_eq!(r("/"), Route::Root);
        assert_eq!(r("/healthz"), Route::Health);
        assert_eq!(r("/livez/ping"), Route::Health);
        assert_eq!(r("/version"), Route::Version);
        assert_eq!(r("/version/"), Route::Version);
        assert_eq!(r("/api"), Route::CoreVersions);
        assert_eq!(r("/api/v1"), Route::CoreResources);
        assert_eq!(r("/api/v1/"), Route::CoreResources);
        assert_eq!(r("/apis"), Route::Groups);
        assert_eq!(
            r("/apis/iam.miloapis.com"),
            Route::Group("iam.miloapis.com".into())
        );
        assert_eq!(
            r("/apis/iam.miloapis.com/v1alpha1"),
            Route::GroupResources("iam.miloapis.com".into(), "v1alpha1".into())
        );
        assert_eq!(r("/openapi/v3"), Route::OpenApiIndex);
        assert_eq!(
            r("/openapi/v3/api/v1"),
            Route::OpenApiDocument("api/v1".into())
        );
        assert_eq!(r("/api/v1/namespaces"), Route::NamespaceList);
        assert_eq!(
            r("/api/v1/namespaces/default"),
            Route::Namespace(b"default".to_vec())
        );
        assert_eq!(r("/api/v1/namespaces/default/status"), Route::Other);
        assert_eq!(
            r("/apis/authentication.k8s.io/v1/tokenreviews"),
            Route::TokenReviews
        );
        assert_eq!(
            r("/apis/authorization.k8s.io/v1/subjectaccessreviews"),
            Route::SubjectAccessReviews
        );
        assert_eq!(r(""), Route::Other);
        assert_eq!(r("/api/v1/pods"), Route::Other);
        assert_eq!(r("/apis/a/b/c"), Route::Other);
    }

    #[test]
    fn verbs() {
        assert_eq!(verb(&Method::GET, true, false), "list");
        assert_eq!(verb(&Method::GET, true, true), "watch");
        assert_eq!(verb(&Method::GET, false, false), "get");
        assert_eq!(verb(&Method::DELETE, true, false), "deletecollection");
        assert_eq!(verb(&Method::POST, true, false), "create");
    }
}
