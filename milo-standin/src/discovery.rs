//! Discovery: what the stand-in says it serves, in legacy form (`APIVersions`,
//! `APIResourceList`, `APIGroupList`, `APIGroup`) and aggregated form
//! (`apidiscovery.k8s.io/v2` and `v2beta1` `APIGroupDiscoveryList`), all from one table.
//!
//! core/v1 lists `events` and `namespaces`: with its EventsProxy feature gate off, Milo serves
//! core events itself, and kubectl must find the resource before the sidecar can take the
//! request. `events.k8s.io` is deliberately absent: the sidecar adds that group.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResource, APIResourceList, APIVersions, GroupVersionForDiscovery,
};
use k8s_openapi::apimachinery::pkg::version::Info;
use serde::Serialize;

/// One resource of a group version.
#[derive(Debug, Clone, Copy)]
pub struct ResourceDef {
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    /// Has a `status` subresource (get, patch, update).
    pub status: bool,
}

/// One served group version; `group` is empty for core/v1.
#[derive(Debug, Clone, Copy)]
pub struct GroupVersion {
    pub group: &'static str,
    pub version: &'static str,
    pub resources: &'static [ResourceDef],
}

impl GroupVersion {
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const CRUD: &[&str] = &[
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "create",
    "update",
    "watch",
];
const CREATE_ONLY: &[&str] = &["create"];

pub const CORE_V1: GroupVersion = GroupVersion {
    group: "",
    version: "v1",
    resources: &[
        ResourceDef {
            name: "events",
            singular: "event",
            kind: "Event",
            namespaced: true,
            verbs: &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ],
            short_names: &["ev"],
            categories: &[],
            status: false,
        },
        ResourceDef {
            name: "namespaces",
            singular: "namespace",
            kind: "Namespace",
            namespaced: false,
            verbs: &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            short_names: &["ns"],
            categories: &[],
            status: false,
        },
    ],
};

/// The named groups, in the order `/apis` lists them.
pub const GROUPS: &[GroupVersion] = &[
    GroupVersion {
        group: "authentication.k8s.io",
        version: "v1",
        resources: &[ResourceDef {
            name: "tokenreviews",
            singular: "tokenreview",
            kind: "TokenReview",
            namespaced: false,
            verbs: CREATE_ONLY,
            short_names: &[],
            categories: &[],
            status: false,
        }],
    },
    GroupVersion {
        group: "authorization.k8s.io",
        version: "v1",
        resources: &[ResourceDef {
            name: "subjectaccessreviews",
            singular: "subjectaccessreview",
            kind: "SubjectAccessReview",
            namespaced: false,
            verbs: CREATE_ONLY,
            short_names: &[],
            categories: &[],
            status: false,
        }],
    },
    GroupVersion {
        group: "resourcemanager.miloapis.com",
        version: "v1alpha1",
        resources: &[
            ResourceDef {
                name: "organizationmemberships",
                singular: "organizationmembership",
                kind: "OrganizationMembership",
                namespaced: true,
                verbs: CRUD,
                short_names: &[],
                categories: &["datum"],
                status: true,
            },
            ResourceDef {
                name: "organizations",
                singular: "organization",
                kind: "Organization",
                namespaced: false,
                verbs: CRUD,
                short_names: &[],
                categories: &["datum"],
                status: true,
            },
            ResourceDef {
                name: "projects",
                singular: "project",
                kind: "Project",
                namespaced: false,
                verbs: CRUD,
                short_names: &[],
                categories: &["datum"],
                status: true,
            },
        ],
    },
    GroupVersion {
        group: "iam.miloapis.com",
        version: "v1alpha1",
        resources: &[
            ResourceDef {
                name: "groups",
                singular: "group",
                kind: "Group",
                namespaced: true,
                verbs: CRUD,
                short_names: &[],
                categories: &[],
                status: true,
            },
            ResourceDef {
                name: "policybindings",
                singular: "policybinding",
                kind: "PolicyBinding",
                namespaced: true,
                verbs: CRUD,
                short_names: &[],
                categories: &[],
                status: true,
            },
            ResourceDef {
                name: "roles",
                singular: "role",
                kind: "Role",
                namespaced: true,
                verbs: CRUD,
                short_names: &[],
                categories: &[],
                status: true,
            },
            ResourceDef {
                name: "users",
                singular: "user",
                kind: "User",
                namespaced: false,
                verbs: CRUD,
                short_names: &[],
                categories: &[],
                status: true,
            },
        ],
    },
];

/// The group versions that also get an OpenAPI v3 document (not the review APIs, whose
/// requests kubectl never validates).
pub fn openapi_groups() -> impl Iterator<Item = &'static GroupVersion> {
    GROUPS.iter().filter(|g| g.group.ends_with(".miloapis.com"))
}

pub fn find_group(group: &str) -> Option<&'static GroupVersion> {
    GROUPS.iter().find(|g| g.group == group)
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| x.to_string()).collect()
}

fn non_empty(s: &[&str]) -> Option<Vec<String>> {
    (!s.is_empty()).then(|| strings(s))
}

fn for_discovery(gv: &GroupVersion) -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: gv.group_version(),
        version: gv.version.to_string(),
    }
}

// ---- legacy -------------------------------------------------------------------------------

pub fn api_versions() -> APIVersions {
    APIVersions {
        server_address_by_client_cidrs: Vec::new(),
        versions: vec![CORE_V1.version.to_string()],
    }
}

pub fn resource_list(gv: &GroupVersion) -> APIResourceList {
    let mut resources = Vec::new();
    for r in gv.resources {
        resources.push(APIResource {
            categories: non_empty(r.categories),
            kind: r.kind.to_string(),
            name: r.name.to_string(),
            namespaced: r.namespaced,
            short_names: non_empty(r.short_names),
            singular_name: r.singular.to_string(),
            verbs: strings(r.verbs),
            ..APIResource::default()
        });
        if r.status {
            resources.push(APIResource {
                kind: r.kind.to_string(),
                name: format!("{}/status", r.name),
                namespaced: r.namespaced,
                verbs: strings(&["get", "patch", "update"]),
                ..APIResource::default()
            });
        }
    }
    APIResourceList {
        group_version: gv.group_version(),
        resources,
    }
}

pub fn group(gv: &GroupVersion) -> APIGroup {
    APIGroup {
        name: gv.group.to_string(),
        preferred_version: Some(for_discovery(gv)),
        server_address_by_client_cidrs: None,
        versions: vec![for_discovery(gv)],
    }
}

pub fn group_list() -> APIGroupList {
    APIGroupList {
        groups: GROUPS.iter().map(group).collect(),
    }
}

// ---- aggregated (apidiscovery.k8s.io) -----------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDiscoveryList {
    kind: &'static str,
    api_version: String,
    metadata: Metadata,
    items: Vec<GroupDiscovery>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    creation_timestamp: Option<()>,
}

#[derive(Debug, Serialize)]
struct GroupDiscovery {
    metadata: Metadata,
    versions: Vec<VersionDiscovery>,
}

#[derive(Debug, Serialize)]
struct VersionDiscovery {
    version: String,
    resources: Vec<ResourceDiscovery>,
    freshness: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceDiscovery {
    resource: String,
    response_kind: Gvk,
    scope: &'static str,
    singular_resource: String,
    verbs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    short_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subresources: Vec<SubresourceDiscovery>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SubresourceDiscovery {
    subresource: &'static str,
    response_kind: Gvk,
    verbs: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Gvk {
    group: String,
    version: String,
    kind: String,
}

fn group_discovery(gv: &GroupVersion) -> GroupDiscovery {
    let gvk = |kind: &str| Gvk {
        group: gv.group.to_string(),
        version: gv.version.to_string(),
        kind: kind.to_string(),
    };
    let resources = gv
        .resources
        .iter()
        .map(|r| ResourceDiscovery {
            resource: r.name.to_string(),
            response_kind: gvk(r.kind),
            scope: if r.namespaced {
                "Namespaced"
            } else {
                "Cluster"
            },
            singular_resource: r.singular.to_string(),
            verbs: strings(r.verbs),
            short_names: non_empty(r.short_names),
            categories: non_empty(r.categories),
            subresources: if r.status {
                vec![SubresourceDiscovery {
                    subresource: "status",
                    response_kind: gvk(r.kind),
                    verbs: strings(&["get", "patch", "update"]),
                }]
            } else {
                Vec::new()
            },
        })
        .collect();
    GroupDiscovery {
        metadata: Metadata {
            name: (!gv.group.is_empty()).then(|| gv.group.to_string()),
            creation_timestamp: None,
        },
        versions: vec![VersionDiscovery {
            version: gv.version.to_string(),
            resources,
            freshness: "Current",
        }],
    }
}

fn discovery_list(version: &str, items: Vec<GroupDiscovery>) -> GroupDiscoveryList {
    GroupDiscoveryList {
        kind: "APIGroupDiscoveryList",
        api_version: format!("apidiscovery.k8s.io/{version}"),
        metadata: Metadata::default(),
        items,
    }
}

/// `/api` in aggregated form: one item without a name, for core/v1.
pub fn aggregated_core(version: &str) -> GroupDiscoveryList {
    discovery_list(version, vec![group_discovery(&CORE_V1)])
}

/// `/apis` in aggregated form.
pub fn aggregated_groups(version: &str) -> GroupDiscoveryList {
    discovery_list(version, GROUPS.iter().map(group_discovery).collect())
}

// ---- the rest -----------------------------------------------------------------------------

/// `/version`: the Kubernetes version the sandbox's static documents also claim (1.32).
pub fn version() -> Info {
    Info {
        build_date: "2025-01-01T00:00:00Z".into(),
        compiler: "gc".into(),
        git_commit: "0000000000000000000000000000000000000000".into(),
        git_tree_state: "clean".into(),
        git_version: "v1.32.0-milo-standin".into(),
        go_version: "go1.24.0".into(),
        major: "1".into(),
        minor: "32".into(),
        platform: "linux/amd64".into(),
        ..Info::default()
    }
}

/// `/`: every path the stand-in serves.
pub fn root_paths() -> serde_json::Value {
    let mut paths = vec![
        "/api".to_string(),
        "/api/v1".to_string(),
        "/apis".to_string(),
    ];
    for gv in GROUPS {
        paths.push(format!("/apis/{}", gv.group));
        paths.push(format!("/apis/{}", gv.group_version()));
    }
    for p in ["/healthz", "/livez", "/openapi/v3", "/readyz", "/version"] {
        paths.push(p.to_string());
    }
    paths.sort();
    serde_json::json!({ "paths": paths })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn v<T: Serialize>(t: &T) -> Value {
        serde_json::to_value(t).unwrap()
    }

    #[test]
    fn core_v1_lists_events_and_namespaces() {
        let l = v(&resource_list(&CORE_V1));
        assert_eq!(l["groupVersion"], "v1");
        assert_eq!(l["kind"], "APIResourceList");
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["events", "namespaces"]);
        assert_eq!(l["resources"][0]["shortNames"], json!(["ev"]));
        assert_eq!(l["resources"][1]["namespaced"], false);
    }

    #[test]
    fn groups_never_include_events_k8s_io() {
        let l = v(&group_list());
        let names: Vec<&str> = l["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "authentication.k8s.io",
                "authorization.k8s.io",
                "resourcemanager.miloapis.com",
                "iam.miloapis.com"
            ]
        );
        assert_eq!(
            l["groups"][2]["preferredVersion"],
            json!({"groupVersion": "resourcemanager.miloapis.com/v1alpha1", "version": "v1alpha1"})
        );
        let agg = v(&aggregated_groups("v2"));
        assert!(!agg.to_string().contains("events.k8s.io"));
    }

    #[test]
    fn aggregated_shapes() {
        let core = v(&aggregated_core("v2beta1"));
        assert_eq!(core["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        assert_eq!(
            core["items"][0]["metadata"],
            json!({"creationTimestamp": null})
        );
        let events = &core["items"][0]["versions"][0]["resources"][0];
        assert_eq!(
            events,
            &json!({
                "resource": "events",
                "responseKind": {"group": "", "version": "v1", "kind": "Event"},
                "scope": "Namespaced",
                "singularResource": "event",
                "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                "shortNames": ["ev"]
            })
        );
        let groups = v(&aggregated_groups("v2"));
        let rm = &groups["items"][2];
        assert_eq!(rm["metadata"]["name"], "resourcemanager.miloapis.com");
        assert_eq!(rm["versions"][0]["freshness"], "Current");
        assert_eq!(
            rm["versions"][0]["resources"][1]["subresources"][0]["subresource"],
            "status"
        );
    }
}
