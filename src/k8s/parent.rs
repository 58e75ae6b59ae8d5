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
//!
//! [`resolve`] is Milo's reading of a whole decoded path, quirks included (nested prefixes, the
//! last context winning, plain prefix trimming, a decoded `?` ending the path): route
//! classification uses it to know what Milo would serve. [`strip`] reads the plain segment
//! forms, for discovery documents.

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
    /// The kind word and id, for the refusal `invalid {word} ID "{id}"` (Go-quoted).
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

/// Which shape of Milo's project router to apply. Milo has shipped two: one that finds the
/// first `/projects/` anywhere in the path (so Milo's controllers' short form
/// `/projects/{id}/control-plane/...` works), and a later one that only intercepts the long
/// form at the start of the path. A path must mean the same under both to be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRouter {
    Anywhere,
    LongFormOnly,
}

/// What Milo's handler chain makes of a decoded request path: the parent context and the path
/// its API handlers then serve (bytes, as Go strings need not be UTF-8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub parent: Option<Parent>,
    pub path: Vec<u8>,
}

/// A prefix whose id is refused, with the path that would have followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub invalid: InvalidParentId,
    pub rest: Vec<u8>,
}

const PROJECTS_SEG: &[u8] = b"/projects/";
const CONTROL_PLANE_SEG: &[u8] = b"/control-plane";
const PROJECTS_LONG: &[u8] = b"/apis/resourcemanager.miloapis.com/v1alpha1/projects/";
const USERS_PREFIX: &[u8] = b"/apis/iam.miloapis.com/v1alpha1/users/";
const ORGS_PREFIX: &[u8] = b"/apis/resourcemanager.miloapis.com/v1alpha1/organizations/";

/// Milo's prefix handlers on a fully decoded path (`req.URL.Path`), in Milo's order:
/// 1. the project router (outermost): `.../projects/{id}/control-plane/` is cut together with
///    everything before it, and one `/` after `control-plane` is dropped;
/// 2. the user handler, then 3. the organization handler: a path starting with their prefix
///    loses `{id}/` and then a leading `control-plane` by plain trimming (no `/` required),
///    and is cut at a decoded `?`; `{prefix}{id}` and `{prefix}{id}/status` keep their path.
///
/// The parent extras are then written Project, Organization, User, each replacing the last,
/// so the last kind found wins whatever the order in the URL. Ids are held to label values,
/// non-empty (Milo takes any project id and an empty user id; the filter refuses those rather
/// than forward a scope Milo would read differently).
pub fn resolve(decoded: &[u8], router: ProjectRouter) -> Result<Resolved, Refused> {
    let mut path = decoded.to_vec();
    let project = project_router(&mut path, router);
    if let Some(id) = &project {
        checked(ParentKind::Project, id, &path)?;
    }
    let user = context_handler(&mut path, USERS_PREFIX);
    if let Some(id) = &user {
        checked(ParentKind::User, id, &path)?;
    }
    let org = context_handler(&mut path, ORGS_PREFIX);
    if let Some(id) = &org {
        checked(ParentKind::Organization, id, &path)?;
    }
    let parent = [
        (ParentKind::User, user),
        (ParentKind::Organization, org),
        (ParentKind::Project, project),
    ]
    .into_iter()
    .find_map(|(kind, id)| {
        id.map(|id| Parent {
            kind,
            name: String::from_utf8_lossy(&id).into_owned(),
        })
    });
    Ok(Resolved { parent, path })
}

fn checked(kind: ParentKind, id: &[u8], rest: &[u8]) -> Result<(), Refused> {
    let valid = std::str::from_utf8(id).is_ok_and(|s| !s.is_empty() && is_label_value(s));
    if valid {
        return Ok(());
    }
    Err(Refused {
        invalid: InvalidParentId {
            kind,
            id: String::from_utf8_lossy(id).into_owned(),
        },
        rest: rest.to_vec(),
    })
}

/// Whether none of Milo's prefix handlers touches this decoded path: no `/projects/` anywhere
/// (either project router) and neither the user nor the organization prefix at its start. Then
/// [`resolve`] gives it back unchanged and without a parent, under both routers.
pub fn has_no_context(decoded: &[u8]) -> bool {
    find(decoded, PROJECTS_SEG).is_none()
        && !decoded.starts_with(USERS_PREFIX)
        && !decoded.starts_with(ORGS_PREFIX)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn project_router(path: &mut Vec<u8>, router: ProjectRouter) -> Option<Vec<u8>> {
    let start = match router {
        ProjectRouter::Anywhere => find(path, PROJECTS_SEG)? + PROJECTS_SEG.len(),
        ProjectRouter::LongFormOnly => {
            if !path.starts_with(PROJECTS_LONG) {
                return None;
            }
            PROJECTS_LONG.len()
        }
    };
    let tail = path.get(start..)?;
    let slash = tail.iter().position(|b| *b == b'/')?;
    let after_id = tail.get(slash..)?;
    if !(after_id.starts_with(CONTROL_PLANE_SEG)
        && after_id.get(CONTROL_PLANE_SEG.len()) == Some(&b'/'))
    {
        return None;
    }
    let id = tail.get(..slash)?.to_vec();
    let rest = after_id.get(CONTROL_PLANE_SEG.len() + 1..)?;
    let mut new_path = Vec::with_capacity(rest.len() + 1);
    new_path.push(b'/');
    new_path.extend_from_slice(rest);
    *path = new_path;
    Some(id)
}

fn context_handler(path: &mut Vec<u8>, prefix: &[u8]) -> Option<Vec<u8>> {
    let rest = path.strip_prefix(prefix)?;
    let (id, remainder) = match rest.iter().position(|b| *b == b'/') {
        Some(i) => (rest.get(..i)?, rest.get(i + 1..)),
        None => (rest, None),
    };
    let id = id.to_vec();
    match remainder {
        None => {}
        Some(b"status") => {}
        Some(r) => {
            let r = r.strip_prefix(CONTROL_PLANE.as_bytes()).unwrap_or(r);
            let end = r.iter().position(|b| *b == b'?').unwrap_or(r.len());
            *path = r.get(..end).unwrap_or_default().to_vec();
        }
    }
    Some(id)
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
    fn a_path_without_context_resolves_to_itself() {
        for path in [
            "/api/v1/namespaces/default/events/e1",
            "/apis/events.k8s.io/v1/events",
            "/api/v1/namespaces/projectsx/events",
            "/apis/iam.miloapis.com/v1alpha1/userss/u/control-plane/api/v1/events",
            "/x/projects",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organization/o/control-plane/api/v1/events",
        ] {
            assert!(has_no_context(path.as_bytes()), "{path}");
            for router in [ProjectRouter::Anywhere, ProjectRouter::LongFormOnly] {
                assert_eq!(
                    resolve(path.as_bytes(), router),
                    Ok(Resolved {
                        parent: None,
                        path: path.as_bytes().to_vec()
                    }),
                    "{path}"
                );
            }
        }
        for path in [
            "/api/v1/namespaces/projects/events",
            "/projects/p/control-plane/api/v1/events",
            "/x/projects/p/control-plane/api/v1/events",
            "/apis/resourcemanager.miloapis.com/v1alpha1/projects/p/control-plane/api/v1/events",
            "/apis/iam.miloapis.com/v1alpha1/users/u/control-plane/api/v1/events",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/o/control-plane/api/v1/events",
        ] {
            assert!(!has_no_context(path.as_bytes()), "{path}");
        }
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

    fn milo(path: &str, router: ProjectRouter) -> (Option<(ParentKind, String)>, String) {
        let r = resolve(path.as_bytes(), router).unwrap();
        (
            r.parent.map(|p| (p.kind, p.name)),
            String::from_utf8(r.path).unwrap(),
        )
    }

    const ORG: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations";
    const PROJ: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects";
    const USERS: &str = "/apis/iam.miloapis.com/v1alpha1/users";

    #[test]
    fn resolve_reads_prefixes_as_milos_handlers_do() {
        use ProjectRouter::{Anywhere, LongFormOnly};
        let org = |n: &str| Some((ParentKind::Organization, n.to_owned()));
        let project = |n: &str| Some((ParentKind::Project, n.to_owned()));
        let user = |n: &str| Some((ParentKind::User, n.to_owned()));
        let cases = [
            ("/api/v1/events", None, "/api/v1/events"),
            (
                &format!("{ORG}/acme/control-plane/api/v1/events") as &str,
                org("acme"),
                "/api/v1/events",
            ),
            (
                &format!("{PROJ}/p1/control-plane/api/v1/events"),
                project("p1"),
                "/api/v1/events",
            ),
            (
                &format!("{USERS}/u1/control-plane/api/v1/events"),
                user("u1"),
                "/api/v1/events",
            ),
            // Plain trimming: no `control-plane`, or no `/` after it, still strips the id.
            (
                &format!("{ORG}/acme/api/v1/events"),
                org("acme"),
                "api/v1/events",
            ),
            (
                &format!("{USERS}/u1/control-planeapi/v1/events"),
                user("u1"),
                "api/v1/events",
            ),
            // A decoded `?` ends the path for the user and organization handlers.
            (
                &format!("{ORG}/acme/control-plane/api/v1/namespaces/d/events?x/y"),
                org("acme"),
                "/api/v1/namespaces/d/events",
            ),
            // The object itself and its status keep their path.
            (
                &format!("{ORG}/acme/status"),
                org("acme"),
                &format!("{ORG}/acme/status"),
            ),
            // Nested: the project router cuts an organization in front of it away...
            (
                &format!("{ORG}/acme/control-plane{PROJ}/p1/control-plane/api/v1/events"),
                project("p1"),
                "/api/v1/events",
            ),
            // ...and an organization after a project is the last context: it wins.
            (
                &format!("{PROJ}/p1/control-plane{ORG}/acme/control-plane/api/v1/events"),
                org("acme"),
                "/api/v1/events",
            ),
            (
                &format!("{USERS}/u1/control-plane{ORG}/acme/control-plane/api"),
                user("u1"),
                "/api",
            ),
        ];
        for (path, parent, served) in cases {
            assert_eq!(
                milo(path, Anywhere),
                (parent.clone(), served.to_owned()),
                "{path}"
            );
        }
        // The short and embedded project forms exist only for the older router.
        let short = "/projects/p1/control-plane/api/v1/events";
        assert_eq!(
            milo(short, Anywhere),
            (project("p1"), "/api/v1/events".into())
        );
        assert_eq!(milo(short, LongFormOnly), (None, short.into()));
        assert_eq!(
            milo(&format!("{PROJ}/p1/control-plane/api"), LongFormOnly),
            (project("p1"), "/api".into())
        );
        // Exactly one slash after control-plane is dropped.
        assert_eq!(milo("/projects/p/control-plane//api", Anywhere).1, "//api");
    }

    #[test]
    fn resolve_refuses_ids_and_says_what_would_follow() {
        for (path, kind, id, rest) in [
            (
                format!("{ORG}/Bad_Org!/control-plane/api/v1/events"),
                ParentKind::Organization,
                "Bad_Org!",
                "/api/v1/events",
            ),
            (
                format!("{ORG}//control-plane/api/v1/events"),
                ParentKind::Organization,
                "",
                "/api/v1/events",
            ),
            (
                format!("{USERS}//control-plane/api/v1/events"),
                ParentKind::User,
                "",
                "/api/v1/events",
            ),
            (
                "/projects/-p/control-plane/api/v1/events".to_owned(),
                ParentKind::Project,
                "-p",
                "/api/v1/events",
            ),
            (
                "/projects//control-plane/api/v1/events".to_owned(),
                ParentKind::Project,
                "",
                "/api/v1/events",
            ),
        ] {
            let e = resolve(path.as_bytes(), ProjectRouter::Anywhere).unwrap_err();
            assert_eq!(
                (e.invalid.kind, e.invalid.id.as_str()),
                (kind, id),
                "{path}"
            );
            assert_eq!(e.rest, rest.as_bytes(), "{path}");
        }
        // Not UTF-8: refused, never a lossy parent name.
        assert!(resolve(b"/projects/\xff/control-plane/api", ProjectRouter::Anywhere).is_err());
    }
}
