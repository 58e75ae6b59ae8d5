//! The authorization policy (a JSON file) and its evaluation: what the stand-in answers to a
//! SubjectAccessReview and how it authorizes its own requests.
//!
//! Rules, in order:
//! 1. `denied` subjects are refused outright (`denied: true`, as an authorizer webhook may);
//! 2. `platformAdmins` may do anything anywhere;
//! 3. `reviewers` may `create` `tokenreviews` and `subjectaccessreviews`, anywhere;
//! 4. every user in `system:authenticated` may `get` the discovery paths (kube-apiserver's
//!    `system:discovery` role);
//! 5. with parent extras `Organization`/`Project` naming an entry of `organizations`/`projects`,
//!    that entry's members may use its `eventVerbs` on `events` (core and events.k8s.io) and
//!    `get`/`list`/`watch` `namespaces`; with `User`, the user whose uid (or name) is the
//!    parent name gets the same from `userControlPlanes`;
//! 6. nothing else: no opinion (`allowed: false`), and the reason says so. Without parent
//!    extras only rules 1–4 apply.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::parent::{ParentKind, PARENT_API_GROUP_KEY, PARENT_NAME_KEY, PARENT_TYPE_KEY};
use crate::tokens::AUTHENTICATED_GROUP;

/// Every verb kube-apiserver knows for events.
pub const EVENT_VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn all_event_verbs() -> Vec<String> {
    EVENT_VERBS.iter().map(|v| v.to_string()).collect()
}

/// Users and groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subjects {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The members of one organization or project and what they may do with events there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Membership {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Defaults to every event verb; `"*"` means any verb.
    #[serde(default = "all_event_verbs")]
    pub event_verbs: Vec<String>,
}

/// What a user may do in its own User control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserControlPlanes {
    #[serde(default = "all_event_verbs")]
    pub event_verbs: Vec<String>,
}

/// The policy file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub platform_admins: Subjects,
    #[serde(default)]
    pub reviewers: Subjects,
    #[serde(default)]
    pub denied: Subjects,
    #[serde(default)]
    pub organizations: BTreeMap<String, Membership>,
    #[serde(default)]
    pub projects: BTreeMap<String, Membership>,
    /// Absent: users have no rights in their own User control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_control_planes: Option<UserControlPlanes>,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("reading policy file '{path}': {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("policy file '{path}': {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl Policy {
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| PolicyError::Io {
            path: name.clone(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| PolicyError::Parse { path: name, source })
    }
}

/// What is being asked, as a SubjectAccessReview spec carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Resource {
        verb: String,
        group: String,
        resource: String,
        subresource: String,
        namespace: String,
        name: String,
    },
    NonResource {
        verb: String,
        path: String,
    },
}

/// Who asks, and in which context (the parent extras).
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub user: &'a str,
    pub uid: &'a str,
    pub groups: &'a [String],
    pub extra: &'a BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Allow,
    Deny,
    NoOpinion,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: String,
}

impl Decision {
    fn allow(reason: String) -> Self {
        Decision {
            outcome: Outcome::Allow,
            reason,
        }
    }

    fn no_opinion(reason: String) -> Self {
        Decision {
            outcome: Outcome::NoOpinion,
            reason,
        }
    }

    pub fn allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}

/// The parent context read from extras, or why it could not be read.
enum Context<'a> {
    Platform,
    Parent(ParentKind, &'a str),
    Malformed(String),
}

fn context<'a>(extra: &'a BTreeMap<String, Vec<String>>) -> Context<'a> {
    let one = |key: &str| -> Result<Option<&'a str>, String> {
        match extra.get(key).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([v]) => Ok(Some(v.as_str())),
            Some(_) => Err(format!("extra {key:?} has more than one value")),
        }
    };
    let read = || -> Result<Context<'a>, String> {
        let (kind, name, group) = (
            one(PARENT_TYPE_KEY)?,
            one(PARENT_NAME_KEY)?,
            one(PARENT_API_GROUP_KEY)?,
        );
        let Some(kind) = kind else {
            return match (name, group) {
                (None, None) => Ok(Context::Platform),
                _ => Err(format!("extra {PARENT_TYPE_KEY:?} is missing")),
            };
        };
        let kind = ParentKind::parse(kind)
            .ok_or_else(|| format!("unknown parent type {kind:?} in extra {PARENT_TYPE_KEY:?}"))?;
        let name = name.ok_or_else(|| format!("extra {PARENT_NAME_KEY:?} is missing"))?;
        match group {
            Some(g) if g == kind.api_group() => Ok(Context::Parent(kind, name)),
            Some(g) => Err(format!(
                "extra {PARENT_API_GROUP_KEY:?} is {g:?}, not {:?} for parent type {}",
                kind.api_group(),
                kind.as_str()
            )),
            None => Err(format!("extra {PARENT_API_GROUP_KEY:?} is missing")),
        }
    };
    read().unwrap_or_else(Context::Malformed)
}

/// `User "x"` or, for a group-only subject, `Group "g"` as in RBAC's reasons.
fn who_matched(
    subjects_users: &[String],
    subjects_groups: &[String],
    s: &Subject,
) -> Option<String> {
    if !s.user.is_empty() && subjects_users.iter().any(|u| u == s.user) {
        return Some(format!("User {:?}", s.user));
    }
    s.groups
        .iter()
        .find(|g| subjects_groups.contains(g))
        .map(|g| format!("Group {g:?}"))
}

fn describe(s: &Subject) -> String {
    if s.user.is_empty() {
        format!("Groups {:?}", s.groups)
    } else {
        format!("User {:?}", s.user)
    }
}

fn describe_action(a: &Action) -> String {
    match a {
        Action::Resource {
            verb,
            group,
            resource,
            subresource,
            ..
        } => {
            let mut r = resource.clone();
            if !subresource.is_empty() {
                r = format!("{r}/{subresource}");
            }
            if group.is_empty() {
                format!("{verb} {r}")
            } else {
                format!("{verb} {r}.{group}")
            }
        }
        Action::NonResource { verb, path } => format!("{verb} path {path:?}"),
    }
}

fn verb_in(verbs: &[String], verb: &str) -> bool {
    verbs.iter().any(|v| v == "*" || v == verb)
}

fn is_event(group: &str, resource: &str, subresource: &str) -> bool {
    matches!(group, "" | "events.k8s.io") && resource == "events" && subresource.is_empty()
}

fn is_discovery_path(path: &str) -> bool {
    matches!(
        path,
        "/api"
            | "/apis"
            | "/healthz"
            | "/livez"
            | "/readyz"
            | "/openapi"
            | "/version"
            | "/version/"
    ) || path.starts_with("/api/")
        || path.starts_with("/apis/")
        || path.starts_with("/openapi/")
}

impl Policy {
    /// Evaluates one request, as the SubjectAccessReview endpoint and the stand-in's own
    /// handlers do.
    pub fn authorize(&self, s: &Subject, action: &Action) -> Decision {
        if let Some(who) = who_matched(&self.denied.users, &self.denied.groups, s) {
            return Decision {
                outcome: Outcome::Deny,
                reason: format!("denied by the policy's denied list to {who}"),
            };
        }
        if let Some(who) = who_matched(&self.platform_admins.users, &self.platform_admins.groups, s)
        {
            return Decision::allow(format!("allowed by platformAdmins to {who}"));
        }
        let (verb, group, resource, subresource) = match action {
            Action::NonResource { verb, path } => {
                if verb == "get"
                    && is_discovery_path(path)
                    && s.groups.iter().any(|g| g == AUTHENTICATED_GROUP)
                {
                    return Decision::allow(format!(
                        "allowed by the built-in discovery rule to Group {AUTHENTICATED_GROUP:?}"
                    ));
                }
                return Decision::no_opinion(format!(
                    "no policy entry allows {} to {}",
                    describe(s),
                    describe_action(action)
                ));
            }
            Action::Resource {
                verb,
                group,
                resource,
                subresource,
                ..
            } => (
                verb.as_str(),
                group.as_str(),
                resource.as_str(),
                subresource.as_str(),
            ),
        };
        let review = verb == "create"
            && subresource.is_empty()
            && matches!(
                (group, resource),
                ("authentication.k8s.io", "tokenreviews")
                    | ("authorization.k8s.io", "subjectaccessreviews")
            );
        if review {
            if let Some(who) = who_matched(&self.reviewers.users, &self.reviewers.groups, s) {
                return Decision::allow(format!("allowed by reviewers to {who}"));
            }
        }

        let nothing = |place: String| {
            Decision::no_opinion(format!(
                "no policy entry allows {} to {} {place}",
                describe(s),
                describe_action(action)
            ))
        };
        let (kind, name) = match context(s.extra) {
            Context::Platform => {
                return nothing("at the platform level (no parent context)".into())
            }
            Context::Malformed(why) => {
                return nothing(format!("(malformed parent context: {why})"))
            }
            Context::Parent(kind, name) => (kind, name),
        };
        let place = format!("in {} {name:?}", kind.as_str());
        let namespaces_read = group.is_empty()
            && resource == "namespaces"
            && subresource.is_empty()
            && matches!(verb, "get" | "list" | "watch");
        let permits = |verbs: &[String]| {
            (is_event(group, resource, subresource) && verb_in(verbs, verb)) || namespaces_read
        };
        match kind {
            ParentKind::Organization | ParentKind::Project => {
                let (table, label) = if kind == ParentKind::Organization {
                    (&self.organizations, "organizations")
                } else {
                    (&self.projects, "projects")
                };
                let Some(m) = table.get(name) else {
                    return nothing(format!("{place} (no such entry in {label})"));
                };
                match who_matched(&m.users, &m.groups, s) {
                    Some(who) if permits(&m.event_verbs) => {
                        Decision::allow(format!("allowed by {label}[{name:?}] to {who}"))
                    }
                    _ => nothing(place),
                }
            }
            ParentKind::User => {
                let own =
                    (!s.uid.is_empty() && s.uid == name) || (!s.user.is_empty() && s.user == name);
                match &self.user_control_planes {
                    Some(u) if own && permits(&u.event_verbs) => Decision::allow(format!(
                        "allowed by userControlPlanes to {} in its own User control plane",
                        describe(s)
                    )),
                    _ => nothing(place),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parent::Parent;

    fn policy() -> Policy {
        serde_json::from_str(
            r#"{
              "platformAdmins": {"users": ["admin@platform.local"], "groups": ["platform-admins"]},
              "reviewers": {"users": ["authz"]},
              "denied": {"users": ["mallory"]},
              "organizations": {"acme": {"users": ["alice"], "groups": ["acme-members"]}},
              "projects": {
                "web-app": {"users": ["bob"], "eventVerbs": ["get", "list", "watch", "create"]},
                "mobile-app": {"users": ["eve"]}
              },
              "userControlPlanes": {"eventVerbs": ["*"]}
            }"#,
        )
        .unwrap()
    }

    fn extras(p: Option<Parent>) -> BTreeMap<String, Vec<String>> {
        p.map(|p| {
            p.extras()
                .into_iter()
                .map(|(k, v)| (k.to_string(), vec![v]))
                .collect()
        })
        .unwrap_or_default()
    }

    fn ev(verb: &str, group: &str) -> Action {
        Action::Resource {
            verb: verb.into(),
            group: group.into(),
            resource: "events".into(),
            subresource: String::new(),
            namespace: "default".into(),
            name: String::new(),
        }
    }

    fn check(user: &str, groups: &[&str], parent: Option<Parent>, a: &Action) -> Decision {
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        let extra = extras(parent);
        policy().authorize(
            &Subject {
                user,
                uid: &format!("uid-{user}"),
                groups: &groups,
                extra: &extra,
            },
            a,
        )
    }

    fn org(n: &str) -> Option<Parent> {
        Some(Parent::new(ParentKind::Organization, n))
    }
    fn proj(n: &str) -> Option<Parent> {
        Some(Parent::new(ParentKind::Project, n))
    }

    #[test]
    fn platform_admins_anywhere() {
        let d = check("admin@platform.local", &[], None, &ev("delete", ""));
        assert_eq!(
            d,
            Decision {
                outcome: Outcome::Allow,
                reason: r#"allowed by platformAdmins to User "admin@platform.local""#.into()
            }
        );
        let d = check(
            "x",
            &["platform-admins"],
            proj("web-app"),
            &ev("create", ""),
        );
        assert_eq!(
            d.reason,
            r#"allowed by platformAdmins to Group "platform-admins""#
        );
    }

    #[test]
    fn organization_members() {
        let d = check("alice", &[], org("acme"), &ev("create", "events.k8s.io"));
        assert_eq!(
            d.reason,
            r#"allowed by organizations["acme"] to User "alice""#
        );
        assert!(d.allowed());
        let d = check("carol", &["acme-members"], org("acme"), &ev("list", ""));
        assert_eq!(
            d.reason,
            r#"allowed by organizations["acme"] to Group "acme-members""#
        );
        // Not at the root, not in a project, not in another organization.
        let d = check("alice", &[], None, &ev("list", ""));
        assert_eq!(
            d,
            Decision {
                outcome: Outcome::NoOpinion,
                reason: r#"no policy entry allows User "alice" to list events at the platform level (no parent context)"#.into()
            }
        );
        let d = check("alice", &[], proj("web-app"), &ev("list", ""));
        assert_eq!(
            d.reason,
            r#"no policy entry allows User "alice" to list events in Project "web-app""#
        );
        let d = check("alice", &[], org("other"), &ev("list", ""));
        assert_eq!(
            d.reason,
            r#"no policy entry allows User "alice" to list events in Organization "other" (no such entry in organizations)"#
        );
        // Only events and namespace reads.
        let d = check(
            "alice",
            &[],
            org("acme"),
            &Action::Resource {
                verb: "get".into(),
                group: String::new(),
                resource: "secrets".into(),
                subresource: String::new(),
                namespace: "default".into(),
                name: "s".into(),
            },
        );
        assert!(!d.allowed());
    }

    #[test]
    fn project_members_and_their_verbs() {
        assert!(check("bob", &[], proj("web-app"), &ev("create", "")).allowed());
        let d = check("bob", &[], proj("web-app"), &ev("delete", ""));
        assert_eq!(
            d.reason,
            r#"no policy entry allows User "bob" to delete events in Project "web-app""#
        );
        let d = check("eve", &[], proj("web-app"), &ev("get", "events.k8s.io"));
        assert_eq!(
            d.reason,
            r#"no policy entry allows User "eve" to get events.events.k8s.io in Project "web-app""#
        );
        assert!(check("eve", &[], proj("mobile-app"), &ev("delete", "")).allowed());
        let ns = Action::Resource {
            verb: "get".into(),
            group: String::new(),
            resource: "namespaces".into(),
            subresource: String::new(),
            namespace: "default".into(),
            name: "default".into(),
        };
        assert!(check("bob", &[], proj("web-app"), &ns).allowed());
        assert!(!check("eve", &[], proj("web-app"), &ns).allowed());
        assert!(!check("bob", &[], None, &ns).allowed());
    }

    #[test]
    fn own_user_control_plane_only() {
        let mine = Some(Parent::new(ParentKind::User, "uid-bob"));
        let d = check("bob", &[], mine.clone(), &ev("patch", ""));
        assert_eq!(
            d.reason,
            r#"allowed by userControlPlanes to User "bob" in its own User control plane"#
        );
        assert!(!check("eve", &[], mine, &ev("get", "")).allowed());
    }

    #[test]
    fn reviewers_and_discovery() {
        let tr = Action::Resource {
            verb: "create".into(),
            group: "authentication.k8s.io".into(),
            resource: "tokenreviews".into(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
        };
        assert_eq!(
            check("authz", &[], None, &tr).reason,
            r#"allowed by reviewers to User "authz""#
        );
        assert!(!check("alice", &[], org("acme"), &tr).allowed());
        let disc = Action::NonResource {
            verb: "get".into(),
            path: "/apis/iam.miloapis.com/v1alpha1".into(),
        };
        assert!(check("eve", &[AUTHENTICATED_GROUP], None, &disc).allowed());
        assert!(!check("eve", &[], None, &disc).allowed());
        let other = Action::NonResource {
            verb: "get".into(),
            path: "/metrics".into(),
        };
        assert_eq!(
            check("eve", &[AUTHENTICATED_GROUP], None, &other).reason,
            r#"no policy entry allows User "eve" to get path "/metrics""#
        );
    }

    #[test]
    fn denied_subjects_and_malformed_extras() {
        let d = check("mallory", &["platform-admins"], None, &ev("get", ""));
        assert_eq!(d.outcome, Outcome::Deny);
        assert_eq!(
            d.reason,
            r#"denied by the policy's denied list to User "mallory""#
        );

        let groups = vec![];
        let mut extra = extras(org("acme"));
        extra.insert(PARENT_API_GROUP_KEY.into(), vec!["iam.miloapis.com".into()]);
        let s = Subject {
            user: "alice",
            uid: "",
            groups: &groups,
            extra: &extra,
        };
        let d = policy().authorize(&s, &ev("get", ""));
        assert_eq!(
            d.reason,
            r#"no policy entry allows User "alice" to get events (malformed parent context: extra "iam.miloapis.com/parent-api-group" is "iam.miloapis.com", not "resourcemanager.miloapis.com" for parent type Organization)"#
        );
        let mut missing = extra.clone();
        missing.remove(PARENT_TYPE_KEY);
        let s2 = Subject {
            extra: &missing,
            ..s
        };
        assert!(policy()
            .authorize(&s2, &ev("get", ""))
            .reason
            .contains("is missing"));
        let mut two = extras(org("acme"));
        two.insert(PARENT_NAME_KEY.into(), vec!["acme".into(), "other".into()]);
        let s3 = Subject { extra: &two, ..s };
        assert!(!policy().authorize(&s3, &ev("get", "")).allowed());
    }

    #[test]
    fn policy_file_defaults_and_typos() {
        let p: Policy = serde_json::from_str(r#"{"projects": {"p": {"users": ["u"]}}}"#).unwrap();
        assert_eq!(p.projects["p"].event_verbs.len(), 8);
        assert!(p.user_control_planes.is_none());
        assert!(serde_json::from_str::<Policy>(r#"{"platformAdmin": {}}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"projects": {"p": {"verbs": []}}}"#).is_err());
    }
}
