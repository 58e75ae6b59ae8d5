//! The Kubernetes request attributes of an Event request: what Milo is asked to authorize and
//! what a refusal names.

use k8s_openapi::api::authorization::v1::ResourceAttributes;

/// The resource every reviewed request is about.
pub const RESOURCE: &str = "events";

/// A Kubernetes verb of an Event request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Create,
    Get,
    List,
    Watch,
    Update,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// The API group of the Event API the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiGroup {
    /// `/api/v1`: the core group, `""`.
    Core,
    /// `/apis/events.k8s.io/v1`.
    Events,
}

impl ApiGroup {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiGroup::Core => "",
            ApiGroup::Events => "events.k8s.io",
        }
    }

    /// Both Event APIs are served at `v1`.
    pub fn version(self) -> &'static str {
        "v1"
    }
}

/// The control plane a URL prefix addresses, as Milo writes it into the user's extras.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParentContext {
    /// `iam.miloapis.com/parent-type`: Organization, Project or User.
    pub kind: &'static str,
    /// `iam.miloapis.com/parent-api-group`.
    pub api_group: &'static str,
    /// `iam.miloapis.com/parent-name`.
    pub name: String,
}

/// An Event request as an API server's authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAttributes {
    pub verb: Verb,
    pub group: ApiGroup,
    /// `None` for the all-namespaces collection.
    pub namespace: Option<String>,
    /// Set for requests on one object (get, update, patch, delete, a named legacy watch).
    pub name: Option<String>,
    pub parent: Option<ParentContext>,
}

impl EventAttributes {
    /// The `resourceAttributes` of the SubjectAccessReview, as kube-apiserver's webhook
    /// authorizer fills them (group, version, resource, verb, namespace, name).
    pub fn resource_attributes(&self) -> ResourceAttributes {
        ResourceAttributes {
            group: Some(self.group.as_str().to_owned()),
            version: Some(self.group.version().to_owned()),
            resource: Some(RESOURCE.to_owned()),
            verb: Some(self.verb.as_str().to_owned()),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            ..ResourceAttributes::default()
        }
    }

    /// `events` or `events.events.k8s.io`: the group-qualified resource of Status messages.
    pub fn qualified_resource(&self) -> String {
        match self.group {
            ApiGroup::Core => RESOURCE.to_owned(),
            group => format!("{RESOURCE}.{}", group.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(group: ApiGroup, ns: Option<&str>, name: Option<&str>) -> EventAttributes {
        EventAttributes {
            verb: Verb::Get,
            group,
            namespace: ns.map(str::to_owned),
            name: name.map(str::to_owned),
            parent: None,
        }
    }

    #[test]
    fn resource_attributes_name_group_version_resource_and_object() {
        let ra = attrs(ApiGroup::Events, Some("default"), Some("e1")).resource_attributes();
        assert_eq!(ra.group.as_deref(), Some("events.k8s.io"));
        assert_eq!(ra.version.as_deref(), Some("v1"));
        assert_eq!(ra.resource.as_deref(), Some("events"));
        assert_eq!(ra.verb.as_deref(), Some("get"));
        assert_eq!(ra.namespace.as_deref(), Some("default"));
        assert_eq!(ra.name.as_deref(), Some("e1"));
        assert_eq!(ra.subresource, None);
        let v =
            serde_json::to_value(attrs(ApiGroup::Core, None, None).resource_attributes()).unwrap();
        // The core group is sent as "", as kube-apiserver does; no namespace for all namespaces.
        assert_eq!(
            v,
            serde_json::json!({"group":"","version":"v1","resource":"events","verb":"get"})
        );
    }

    #[test]
    fn qualified_resources() {
        assert_eq!(
            attrs(ApiGroup::Core, None, None).qualified_resource(),
            "events"
        );
        assert_eq!(
            attrs(ApiGroup::Events, None, None).qualified_resource(),
            "events.events.k8s.io"
        );
    }
}
