//! Which API group/version the `events` resource is served as, derived from the URL prefix.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusDetails;

/// URL prefix of the events.k8s.io/v1 API, served next to `/api/v1` in "standard paths" mode.
pub const EVENTS_V1_PREFIX: &str = "/apis/events.k8s.io/v1";

/// The served `events` resource: `/api/v1` (core, "standard paths" mode) or `/apis/{group}/{version}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// URL prefix without a trailing slash, e.g. `/apis/activity.miloapis.com/v1alpha1`.
    pub prefix: String,
    /// API group; empty for the core group.
    pub group: String,
    pub version: String,
    /// Group of the internal kind named by `Invalid` errors. kube-apiserver validates the
    /// internal object, so events.k8s.io requests report the core kind (`Event "x" is invalid`,
    /// no group); every other resource reports its own group.
    pub kind_group: String,
}

impl Resource {
    pub fn from_prefix(prefix: &str) -> anyhow::Result<Self> {
        let trimmed = prefix.trim_end_matches('/');
        let parts: Vec<&str> = trimmed.split('/').collect();
        match parts.as_slice() {
            ["", "api", version] if !version.is_empty() => Ok(Self {
                prefix: trimmed.to_string(),
                group: String::new(),
                version: (*version).to_string(),
                kind_group: String::new(),
            }),
            ["", "apis", group, version] if !group.is_empty() && !version.is_empty() => Ok(Self {
                prefix: trimmed.to_string(),
                group: (*group).to_string(),
                version: (*version).to_string(),
                kind_group: (*group).to_string(),
            }),
            _ => anyhow::bail!(
                "prefix {prefix:?} must look like /api/{{version}} or /apis/{{group}}/{{version}}"
            ),
        }
    }

    /// events.k8s.io/v1, served from the core storage like kube-apiserver does.
    pub fn events_v1() -> Self {
        Self {
            prefix: EVENTS_V1_PREFIX.to_string(),
            group: "events.k8s.io".to_string(),
            version: "v1".to_string(),
            kind_group: String::new(),
        }
    }

    /// `/api/v1`: the "standard paths" mode, which also serves events.k8s.io/v1.
    pub fn is_standard(&self) -> bool {
        self.group.is_empty() && self.version == "v1"
    }

    /// `apiVersion` of stored objects: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `events` or `events.{group}`, as used in error messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            "events".to_string()
        } else {
            format!("events.{}", self.group)
        }
    }

    /// `Event` or `Event.{kind_group}`, as used in Invalid messages.
    pub fn qualified_kind(&self) -> String {
        if self.kind_group.is_empty() {
            "Event".to_string()
        } else {
            format!("Event.{}", self.kind_group)
        }
    }

    /// `details` of a Status about one object.
    pub fn details(&self, name: &str, uid: Option<&str>) -> StatusDetails {
        StatusDetails {
            name: Some(name.to_string()),
            group: Some(self.group.clone()).filter(|g| !g.is_empty()),
            kind: Some("events".into()),
            uid: uid.map(str::to_string),
            ..StatusDetails::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_group_and_core_prefixes() {
        let r = Resource::from_prefix("/apis/activity.miloapis.com/v1alpha1/").unwrap();
        assert_eq!(r.prefix, "/apis/activity.miloapis.com/v1alpha1");
        assert_eq!(r.api_version(), "activity.miloapis.com/v1alpha1");
        let r = Resource::from_prefix("/api/v1").unwrap();
        assert_eq!(r.api_version(), "v1");
        assert_eq!(r.qualified_resource(), "events");
        assert!(r.is_standard());
        assert!(!Resource::from_prefix("/api/v2").unwrap().is_standard());
        assert!(Resource::from_prefix("/foo").is_err());
        assert!(Resource::from_prefix("/apis/x").is_err());
    }

    #[test]
    fn events_v1_names_its_group_but_the_core_kind() {
        let r = Resource::events_v1();
        assert_eq!(r.api_version(), "events.k8s.io/v1");
        assert_eq!(r.qualified_resource(), "events.events.k8s.io");
        assert_eq!(r.qualified_kind(), "Event");
        assert!(!r.is_standard());
        let a = Resource::from_prefix("/apis/activity.miloapis.com/v1alpha1").unwrap();
        assert_eq!(a.qualified_kind(), "Event.activity.miloapis.com");
    }
}
