//! events.k8s.io in Milo's discovery. Milo registers `events.k8s.io/v1` only when its own
//! EventsProxy gate is on; with this sidecar the gate is off, so Milo's `/apis` (the legacy
//! `APIGroupList` and the aggregated `APIGroupDiscoveryList` kubectl 1.30+ asks for) and its
//! OpenAPI v3 index do not list the group. kubectl then cannot resolve `events.events.k8s.io`.
//! The filter adds the group to those documents, at the root and under every control-plane
//! prefix; the group's own documents (`/apis/events.k8s.io`, `/apis/events.k8s.io/v1`, the
//! OpenAPI v3 document) are static and served by Envoy routes.

use serde_json::{json, Map, Value};

pub const EVENTS_GROUP: &str = "events.k8s.io";
const EVENTS_GROUP_VERSION: &str = "events.k8s.io/v1";
/// The key of the group's document in the OpenAPI v3 index.
const OPENAPI_V3_KEY: &str = "apis/events.k8s.io/v1";

/// The verbs the filter serves on events (deletecollection is refused with 405).
const VERBS: [&str; 7] = [
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// A discovery document the filter completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryDoc {
    /// `GET /apis`: an `APIGroupList` or, negotiated, an `APIGroupDiscoveryList`.
    Groups,
    /// `GET /openapi/v3`: the index of OpenAPI v3 documents.
    OpenApiV3Index,
}

/// Which document a request for these path segments (control-plane prefix already removed)
/// returns, if it is one the filter completes.
pub fn classify<S: AsRef<str>>(method: &str, segs: &[S]) -> Option<DiscoveryDoc> {
    if method != "GET" {
        return None;
    }
    let segs: Vec<&str> = segs.iter().map(AsRef::as_ref).collect();
    match segs.as_slice() {
        ["apis"] => Some(DiscoveryDoc::Groups),
        ["openapi", "v3"] => Some(DiscoveryDoc::OpenApiV3Index),
        _ => None,
    }
}

/// The document a request path (with query) fetches, control-plane prefix included. Discovery
/// paths are plain; an escaped one is left to Milo as it is.
pub fn for_request(method: &str, raw_path: &str) -> Option<DiscoveryDoc> {
    let path = raw_path.split_once('?').map_or(raw_path, |(p, _)| p);
    if path.contains('%') {
        return None;
    }
    let segs: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let stripped = super::parent::strip(&segs);
    if stripped.invalid.is_some() {
        return None;
    }
    classify(method, segs.get(stripped.rest..)?)
}

/// Whether a response with these headers is uncompressed JSON, the only kind the filter
/// completes or rewrites (discovery documents and event responses alike).
pub fn completes(content_type: Option<&str>, content_encoding: Option<&str>) -> bool {
    let identity = content_encoding.is_none_or(|e| e.trim().eq_ignore_ascii_case("identity"));
    identity
        && content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
        })
}

/// Complete a discovery response body. `Ok(None)`: the document already lists the group, or
/// is not one this knows (left as it is). `openapi_url` is the `serverRelativeURL` of the
/// group's OpenAPI v3 document.
pub fn complete(doc: DiscoveryDoc, body: &[u8], openapi_url: &str) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(body).ok()?;
    let changed = match doc {
        DiscoveryDoc::Groups => add_group(value.as_object_mut()?),
        DiscoveryDoc::OpenApiV3Index => add_openapi_path(value.as_object_mut()?, openapi_url),
    };
    if !changed {
        return None;
    }
    serde_json::to_vec(&value).ok()
}

/// Reads a group's name from one entry of a group list.
type NameOf = fn(&Value) -> Option<&str>;

fn add_group(root: &mut Map<String, Value>) -> bool {
    let kind = root.get("kind").and_then(Value::as_str).unwrap_or_default();
    let (key, entry, name_of): (&str, Value, NameOf) = match kind {
        "APIGroupList" => ("groups", legacy_group(), |g| g.get("name")?.as_str()),
        // apidiscovery.k8s.io v2 and v2beta1 share the shape.
        "APIGroupDiscoveryList" => ("items", aggregated_group(), |g| {
            g.get("metadata")?.get("name")?.as_str()
        }),
        _ => return false,
    };
    let Some(list) = root.get_mut(key).and_then(Value::as_array_mut) else {
        return false;
    };
    if list.iter().any(|g| name_of(g) == Some(EVENTS_GROUP)) {
        return false;
    }
    list.push(entry);
    true
}

fn legacy_group() -> Value {
    let version = json!({ "groupVersion": EVENTS_GROUP_VERSION, "version": "v1" });
    json!({
        "name": EVENTS_GROUP,
        "versions": [version.clone()],
        "preferredVersion": version,
    })
}

/// kube-apiserver's aggregated entry for the group.
fn aggregated_group() -> Value {
    json!({
        "metadata": { "name": EVENTS_GROUP, "creationTimestamp": null },
        "versions": [{
            "version": "v1",
            "resources": [{
                "resource": "events",
                "responseKind": { "group": "", "version": "", "kind": "Event" },
                "scope": "Namespaced",
                "singularResource": "event",
                "verbs": VERBS,
                "shortNames": ["ev"],
            }],
            "freshness": "Current",
        }],
    })
}

fn add_openapi_path(root: &mut Map<String, Value>, url: &str) -> bool {
    let Some(paths) = root.get_mut("paths").and_then(Value::as_object_mut) else {
        return false;
    };
    if paths.contains_key(OPENAPI_V3_KEY) {
        return false;
    }
    paths.insert(
        OPENAPI_V3_KEY.to_owned(),
        json!({ "serverRelativeURL": url }),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "/openapi/v3/apis/events.k8s.io/v1?hash=ABC";

    fn completed(doc: DiscoveryDoc, body: &str) -> Value {
        serde_json::from_slice(&complete(doc, body.as_bytes(), URL).unwrap()).unwrap()
    }

    #[test]
    fn classifies_only_the_documents_it_completes() {
        assert_eq!(classify("GET", &["apis"]), Some(DiscoveryDoc::Groups));
        assert_eq!(
            classify("GET", &["openapi", "v3"]),
            Some(DiscoveryDoc::OpenApiV3Index)
        );
        assert_eq!(classify("POST", &["apis"]), None);
        assert_eq!(classify("GET", &["apis", "events.k8s.io"]), None);
        assert_eq!(classify("GET", &["api"]), None);
        assert_eq!(classify::<&str>("GET", &[]), None);
    }

    #[test]
    fn requests_at_the_root_and_under_every_control_plane() {
        for p in [
            "/apis",
            "/apis?timeout=32s",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/apis",
            "/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane/apis",
            "/projects/web-app/control-plane/apis",
            "/apis/iam.miloapis.com/v1alpha1/users/u1/control-plane/apis",
        ] {
            assert_eq!(for_request("GET", p), Some(DiscoveryDoc::Groups), "{p}");
        }
        assert_eq!(
            for_request("GET", "/projects/p/control-plane/openapi/v3"),
            Some(DiscoveryDoc::OpenApiV3Index)
        );
        for p in [
            "/api",
            "/apis/events.k8s.io",
            "/%61pis",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/BAD_/control-plane/apis",
            "",
        ] {
            assert_eq!(for_request("GET", p), None, "{p}");
        }
        assert!(completes(Some("application/json"), None));
        assert!(completes(
            Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"),
            Some("identity")
        ));
        assert!(!completes(Some("application/json"), Some("gzip")));
        assert!(!completes(
            Some("application/vnd.kubernetes.protobuf"),
            None
        ));
        assert!(!completes(None, None));
    }

    #[test]
    fn legacy_group_list_gains_the_group_once() {
        let milo = r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"iam.miloapis.com","versions":[{"groupVersion":"iam.miloapis.com/v1alpha1","version":"v1alpha1"}],"preferredVersion":{"groupVersion":"iam.miloapis.com/v1alpha1","version":"v1alpha1"}}]}"#;
        let v = completed(DiscoveryDoc::Groups, milo);
        let groups = v["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0]["name"], "iam.miloapis.com");
        assert_eq!(
            groups[1],
            json!({"name":"events.k8s.io","versions":[{"groupVersion":"events.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"events.k8s.io/v1","version":"v1"}})
        );
        let again = serde_json::to_vec(&v).unwrap();
        assert_eq!(complete(DiscoveryDoc::Groups, &again, URL), None);
    }

    #[test]
    fn aggregated_lists_gain_the_group_in_both_versions() {
        for api_version in ["apidiscovery.k8s.io/v2", "apidiscovery.k8s.io/v2beta1"] {
            let milo = format!(
                r#"{{"kind":"APIGroupDiscoveryList","apiVersion":"{api_version}","metadata":{{}},"items":[{{"metadata":{{"name":"iam.miloapis.com","creationTimestamp":null}},"versions":[]}}]}}"#
            );
            let v = completed(DiscoveryDoc::Groups, &milo);
            let items = v["items"].as_array().unwrap();
            assert_eq!(items.len(), 2, "{api_version}");
            let events = &items[1];
            assert_eq!(events["metadata"]["name"], "events.k8s.io");
            let r = &events["versions"][0]["resources"][0];
            assert_eq!(r["resource"], "events");
            assert_eq!(r["responseKind"]["kind"], "Event");
            assert_eq!(r["scope"], "Namespaced");
            assert!(!r["verbs"]
                .as_array()
                .unwrap()
                .contains(&json!("deletecollection")));
        }
    }

    #[test]
    fn openapi_index_gains_the_group_document() {
        let milo = r#"{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=X"}}}"#;
        let v = completed(DiscoveryDoc::OpenApiV3Index, milo);
        assert_eq!(
            v["paths"]["apis/events.k8s.io/v1"]["serverRelativeURL"],
            URL
        );
        assert_eq!(
            v["paths"]["api/v1"]["serverRelativeURL"],
            "/openapi/v3/api/v1?hash=X"
        );
    }

    #[test]
    fn other_documents_are_left_alone() {
        for body in [
            "",
            "not json",
            "[]",
            r#"{"kind":"Status","code":403}"#,
            r#"{"kind":"APIGroupList","groups":"nope"}"#,
            r#"{"paths":[]}"#,
        ] {
            assert_eq!(complete(DiscoveryDoc::Groups, body.as_bytes(), URL), None);
            assert_eq!(
                complete(DiscoveryDoc::OpenApiV3Index, body.as_bytes(), URL),
                None
            );
        }
    }
}
