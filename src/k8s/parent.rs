//! Milo's tenant control planes: the URL prefixes that put a request into the context of an
//! organization, a project or a user, as Milo's own handlers read them
//! (`pkg/server/filters/{organizations,projects,organizationmembership}.go` in milo-os/milo):
//!
//! - `/apis/resourcemanager.miloapis.com/v1alpha1/organizations/{org}/control-plane/...`
//! - `/apis/iam.miloapis.com/v1alpha1/users/{user}/control-plane/...`
//! - `.../projects/{id}/control-plane/...`, in the long form under
//!   `/apis/resourcemanager.miloapis.com/v1alpha1/`, the short form Milo's controllers use, or
//!   anywhere else in the path; a project takes precedence over an organization or user.
//!
//! Milo strips the prefix, serves the rest as an ordinary request, and sets the user's extras
//! `iam.miloapis.com/parent-{type,name,api-group}` from it before authorizing. This module only
//! reads the prefix; whether the authenticated identity carries the same parent is checked where
//! the identity is known.

use crate::k8s::names::is_label_value;

/// The `resourcemanager.miloapis.com` API group: organizations and projects.
pub const RESOURCE_MANAGER_GROUP: &str = "resourcemanager.miloapis.com";
/// The `iam.miloapis.com` API group: users.
pub const IAM_GROUP: &str = "iam.miloapis.com";

const CONTROL_PLANE: &str = "control-plane";

/// The kind of a parent context, as Milo writes it into `iam.miloapis.com/parent-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParentKind {
    Organization,
    Project,
    User,
}

impl ParentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ParentKind::Organization => "Organization",
            ParentKind::Project => "Project",
            ParentKind::User => "User",
        }
    }

    /// The value of `iam.miloapis.com/parent-api-group`.
    pub fn api_group(self) -> &'static str {
        match self {
            ParentKind::Organization | ParentKind::Project => RESOURCE_MANAGER_GROUP,
            ParentKind::User => IAM_GROUP,
        }
    }

    /// The word Milo uses in its refusal (`invalid organization ID "x"`).
    fn id_word(self) -> &'static str {
        match self {
            ParentKind::Organization => "organization",
            ParentKind::Project => "project",
            ParentKind::User => "user",
        }
    }
}

/// The control plane a request was addressed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parent {
    pub kind: ParentKind,
    pub name: String,
}

/// A control-plane prefix whose id Milo would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidParentId {
    pub kind: ParentKind,
    pub id: String,
}

impl InvalidParentId {
    /// The kind word and id, for the refusal `invalid {word} ID {id:?}`.
    pub fn parts(&self) -> (&'static str, &str) {
        (self.kind.id_word(), &self.id)
    }
}

/// Where a request lands once its control-plane prefixes are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub parent: Option<Parent>,
    /// A prefix whose id Milo refuses; `parent` is then `None` and `rest` follows that prefix.
    /// Only an error for requests the rest makes event requests: Milo answers the others.
    pub invalid: Option<InvalidParentId>,
    /// Index of the first segment after the prefix.
    pub rest: usize,
}

/// Find the control-plane prefix in decoded path segments (the path without its leading `/`,
/// split at `/`). Ids are checked the way Milo checks them: organization and user ids must be
/// non-empty label values; project ids, which Milo takes as they are, are held to the same rule
/// because no project can be named otherwise and the id becomes a header value and an
/// annotation.
pub fn strip<S: AsRef<str>>(segs: &[S]) -> Stripped {
    let seg = |i: usize| segs.get(i).map(AsRef::as_ref);
    let refused = |kind, id: &str, rest| Stripped {
        parent: None,
        invalid: Some(InvalidParentId {
            kind,
            id: id.to_owned(),
        }),
        rest,
    };
    let mut parent = None;
    let mut rest = 0;
    let head = (seg(0), seg(1), seg(2), seg(3));
    let leading = match head {
        (Some("apis"), Some(RESOURCE_MANAGER_GROUP), Some("v1alpha1"), Some("organizations")) => {
            Some(ParentKind::Organization)
        }
        (Some("apis"), Some(IAM_GROUP), Some("v1alpha1"), Some("users")) => Some(ParentKind::User),
        _ => None,
    };
    if let Some(kind) = leading {
        if seg(5) == Some(CONTROL_PLANE) {
            let id = seg(4).unwrap_or_default();
            if !is_label_value(id) {
                return refused(kind, id, 6);
            }
            parent = Some(Parent {
                kind,
                name: id.to_owned(),
            });
            rest = 6;
        }
    }
    // `projects/{id}/control-plane` anywhere after that wins; the first occurrence counts, as
    // everything up to its end is what Milo strips.
    let mut i = rest;
    while i + 2 < segs.len() {
        if seg(i) == Some("projects") && seg(i + 2) == Some(CONTROL_PLANE) {
            let id = seg(i + 1).unwrap_or_default();
            if !is_label_value(id) {
                return refused(ParentKind::Project, id, i + 3);
            }
            parent = Some(Parent {
                kind: ParentKind::Project,
                name: id.to_owned(),
            });
            rest = i + 3;
            break;
        }
        i += 1;
    }
    Stripped {
        parent,
        invalid: None,
        rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<&str> {
        path.trim_start_matches('/').split('/').collect()
    }

    fn parent(path: &str) -> (Option<(ParentKind, String)>, String) {
        let s = segs(path);
        let got = strip(&s);
        assert_eq!(got.invalid, None, "{path}");
        (
            got.parent.map(|p| (p.kind, p.name)),
            s[got.rest..].join("/"),
        )
    }

    #[test]
    fn root_paths_have_no_parent() {
        assert_eq!(
            parent("/api/v1/namespaces/default/events"),
            (None, "api/v1/namespaces/default/events".into())
        );
    }

    #[test]
    fn organization_user_and_project_prefixes() {
        let org = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/events";
        assert_eq!(
            parent(org),
            (
                Some((ParentKind::Organization, "acme".into())),
                "api/v1/events".into()
            )
        );
        let user =
            "/apis/iam.miloapis.com/v1alpha1/users/u-1/control-plane/apis/events.k8s.io/v1/events";
        assert_eq!(
            parent(user),
            (
                Some((ParentKind::User, "u-1".into())),
                "apis/events.k8s.io/v1/events".into()
            )
        );
        for p in [
            "/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane/api/v1/namespaces/default/events",
            "/projects/web-app/control-plane/api/v1/namespaces/default/events",
        ] {
            assert_eq!(
                parent(p),
                (
                    Some((ParentKind::Project, "web-app".into())),
                    "api/v1/namespaces/default/events".into()
                ),
                "{p}"
            );
        }
    }

    #[test]
    fn project_wins_over_organization() {
        let p = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/apis/resourcemanager.miloapis.com/v1alpha1/projects/p1/control-plane/api/v1/events";
        assert_eq!(
            parent(p),
            (
                Some((ParentKind::Project, "p1".into())),
                "api/v1/events".into()
            )
        );
    }

    #[test]
    fn a_prefix_without_control_plane_is_no_parent() {
        let p = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme";
        assert_eq!(parent(p).0, None);
        let p = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-planes/api";
        assert_eq!(parent(p).0, None);
        // A control plane with nothing after it is still that control plane's root.
        let p = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane";
        assert_eq!(
            parent(p),
            (Some((ParentKind::Organization, "acme".into())), "".into())
        );
    }

    #[test]
    fn invalid_ids_are_refused_as_milo_refuses_them() {
        for (path, kind, id) in [
            (
                "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/Not_Valid!/control-plane/api/v1/events",
                ParentKind::Organization,
                "Not_Valid!",
            ),
            (
                "/apis/resourcemanager.miloapis.com/v1alpha1/organizations//control-plane/api/v1/events",
                ParentKind::Organization,
                "",
            ),
            (
                "/apis/iam.miloapis.com/v1alpha1/users/-x/control-plane/api/v1/events",
                ParentKind::User,
                "-x",
            ),
            (
                "/projects/a b/control-plane/api/v1/events",
                ParentKind::Project,
                "a b",
            ),
        ] {
            let s = segs(path);
            let got = strip(&s);
            let e = got.invalid.unwrap();
            assert_eq!((e.kind, e.id.as_str()), (kind, id), "{path}");
            assert_eq!(got.parent, None);
            assert_eq!(s[got.rest..].join("/"), "api/v1/events", "{path}");
        }
        let long = "a".repeat(64);
        let p = format!("/projects/{long}/control-plane/api/v1/events");
        assert!(strip(&segs(&p)).invalid.is_some());
        // Underscores and dots are fine in label values.
        assert!(strip(&segs("/projects/a_b.c/control-plane/api"))
            .invalid
            .is_none());
    }

    #[test]
    fn kinds_name_their_extras() {
        assert_eq!(ParentKind::Organization.as_str(), "Organization");
        assert_eq!(ParentKind::Project.api_group(), RESOURCE_MANAGER_GROUP);
        assert_eq!(ParentKind::User.api_group(), IAM_GROUP);
    }
}
