//! Milo's control-plane URL prefixes, read the way Milo's own handler chain reads them
//! (milo-os/milo `pkg/server/filters`, written here from its behaviour, not its code):
//!
//! 1. the project router, outermost: the first `/projects/` anywhere in the path, followed by
//!    `{id}/control-plane/`, is cut off together with everything before it (so the long form
//!    under `/apis/resourcemanager.miloapis.com/v1alpha1/` and Milo's short form
//!    `/projects/{id}/control-plane` both work). The id is not validated; an empty id gives no
//!    parent context;
//! 2. then the user handler: a path starting `/apis/iam.miloapis.com/v1alpha1/users/{user}`;
//! 3. then the organization handler: `/apis/resourcemanager.miloapis.com/v1alpha1/organizations/{org}`.
//!
//! Handlers 2 and 3 refuse an id that is not a label value (the organization handler also an
//! empty one) and otherwise strip `{id}/control-plane` by plain prefix trimming. After
//! authentication the parent extras are written in the order Project, Organization, User, each
//! replacing the previous, so the last context found wins.

use crate::path::{find, go_quote, is_label_value};

pub const PARENT_TYPE_KEY: &str = "iam.miloapis.com/parent-type";
pub const PARENT_NAME_KEY: &str = "iam.miloapis.com/parent-name";
pub const PARENT_API_GROUP_KEY: &str = "iam.miloapis.com/parent-api-group";

pub const RESOURCEMANAGER_GROUP: &str = "resourcemanager.miloapis.com";
pub const IAM_GROUP: &str = "iam.miloapis.com";

const PROJECTS_SEG: &[u8] = b"/projects/";
const CONTROL_PLANE_SEG: &[u8] = b"/control-plane";
const USERS_PREFIX: &[u8] = b"/apis/iam.miloapis.com/v1alpha1/users/";
const ORGS_PREFIX: &[u8] = b"/apis/resourcemanager.miloapis.com/v1alpha1/organizations/";

/// The kind of tenant control plane a request was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

    pub fn api_group(self) -> &'static str {
        match self {
            ParentKind::Organization | ParentKind::Project => RESOURCEMANAGER_GROUP,
            ParentKind::User => IAM_GROUP,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Organization" => Some(ParentKind::Organization),
            "Project" => Some(ParentKind::Project),
            "User" => Some(ParentKind::User),
            _ => None,
        }
    }
}

/// The parent context Milo derives from the URL: what becomes the user's parent extras.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Parent {
    #[serde(rename = "type")]
    pub kind: ParentKind,
    pub name: String,
    pub api_group: String,
}

impl Parent {
    pub fn new(kind: ParentKind, name: impl Into<String>) -> Self {
        Parent {
            kind,
            name: name.into(),
            api_group: kind.api_group().to_string(),
        }
    }

    /// The three extras Milo sets after authentication.
    pub fn extras(&self) -> [(&'static str, String); 3] {
        [
            (PARENT_TYPE_KEY, self.kind.as_str().to_string()),
            (PARENT_NAME_KEY, self.name.clone()),
            (PARENT_API_GROUP_KEY, self.api_group.clone()),
        ]
    }
}

/// A control-plane id Milo refuses before authentication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    #[error("invalid organization ID {}", go_quote(.id))]
    InvalidOrganization { id: Vec<u8>, discovery: bool },
    #[error("invalid user ID {}", go_quote(.id))]
    InvalidUser { id: Vec<u8>, discovery: bool },
}

impl PrefixError {
    /// Milo answers `.../control-plane/api` (kubectl's first discovery request) in plain text
    /// with 403, so that kubectl prints the message; everything else gets a 400 Status.
    pub fn is_discovery(&self) -> bool {
        match self {
            PrefixError::InvalidOrganization { discovery, .. }
            | PrefixError::InvalidUser { discovery, .. } => *discovery,
        }
    }
}

/// Where a request lands after Milo's prefix handling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub parent: Option<Parent>,
    /// The path the rest of the server sees (decoded bytes).
    pub path: Vec<u8>,
}

/// Applies the three prefix handlers to a decoded path.
pub fn resolve(decoded: &[u8]) -> Result<Resolved, PrefixError> {
    let mut path = decoded.to_vec();

    let project = project_router(&mut path);
    let user = context_handler(&mut path, USERS_PREFIX, false)
        .map_err(|(id, discovery)| PrefixError::InvalidUser { id, discovery })?;
    let org = context_handler(&mut path, ORGS_PREFIX, true)
        .map_err(|(id, discovery)| PrefixError::InvalidOrganization { id, discovery })?;

    // Decorators run Project, Organization, User: the last one present wins.
    let parent = match (user, org, project) {
        (Some(u), _, _) => Some(Parent::new(ParentKind::User, text(&u))),
        (None, Some(o), _) => Some(Parent::new(ParentKind::Organization, text(&o))),
        (None, None, Some(p)) if !p.is_empty() => Some(Parent::new(ParentKind::Project, text(&p))),
        _ => None,
    };
    Ok(Resolved { parent, path })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Returns the project id (possibly empty) and rewrites `path` when the project form matches.
fn project_router(path: &mut Vec<u8>) -> Option<Vec<u8>> {
    let idx = find(path, PROJECTS_SEG)?;
    let tail = path.get(idx + PROJECTS_SEG.len()..)?;
    let slash = tail.iter().position(|b| *b == b'/')?;
    let after_id = tail.get(slash..)?;
    if !after_id.starts_with(b"/control-plane/") {
        return None;
    }
    let id = tail.get(..slash)?.to_vec();
    let rest = after_id.get(CONTROL_PLANE_SEG.len()..)?;
    // "/" + strings.TrimPrefix(rest, "/"): exactly one leading slash is removed.
    let rest = rest.strip_prefix(b"/").unwrap_or(rest);
    let mut new_path = Vec::with_capacity(rest.len() + 1);
    new_path.push(b'/');
    new_path.extend_from_slice(rest);
    *path = new_path;
    Some(id)
}

/// The user and organization handlers: `Ok(Some(id))` when the prefix matched (the path is
/// rewritten unless it names the parent object itself or its status), `Err((id, discovery))`
/// for an id Milo refuses.
fn context_handler(
    path: &mut Vec<u8>,
    prefix: &[u8],
    require_non_empty: bool,
) -> Result<Option<Vec<u8>>, (Vec<u8>, bool)> {
    let Some(rest) = path.strip_prefix(prefix) else {
        return Ok(None);
    };
    let (id, remainder) = match rest.iter().position(|b| *b == b'/') {
        Some(i) => (
            rest.get(..i).unwrap_or_default(),
            rest.get(i + 1..).map(<[u8]>::to_vec),
        ),
        None => (rest, None),
    };
    let id = id.to_vec();
    if !is_label_value(&id) || (require_non_empty && id.is_empty()) {
        return Err((id, path.ends_with(b"control-plane/api")));
    }
    match remainder {
        None => {}
        Some(r) if r == b"status" => {}
        Some(r) => {
            let r = r.strip_prefix(b"control-plane").unwrap_or(&r);
            // A decoded '?' (from %3F) ends the path, as Milo splits on it.
            let end = r.iter().position(|b| *b == b'?').unwrap_or(r.len());
            *path = r.get(..end).unwrap_or_default().to_vec();
        }
    }
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> (Option<(ParentKind, String)>, String) {
        let r = resolve(p.as_bytes()).unwrap();
        (
            r.parent.map(|p| (p.kind, p.name)),
            String::from_utf8(r.path).unwrap(),
        )
    }

    const ORG: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations";
    const PROJ: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/projects";
    const USERS: &str = "/apis/iam.miloapis.com/v1alpha1/users";

    #[test]
    fn root_paths_have_no_parent() {
        assert_eq!(ok("/api/v1"), (None, "/api/v1".into()));
        assert_eq!(ok("/apis"), (None, "/apis".into()));
        // A project path without the control-plane segment is left alone.
        assert_eq!(ok("/projects/p/api"), (None, "/projects/p/api".into()));
        assert_eq!(
            ok("/projects/p/control-plane"),
            (None, "/projects/p/control-plane".into())
        );
    }

    #[test]
    fn organization_prefix() {
        let org = Some((ParentKind::Organization, "acme".to_string()));
        assert_eq!(
            ok(&format!(
                "{ORG}/acme/control-plane/api/v1/namespaces/default"
            )),
            (org.clone(), "/api/v1/namespaces/default".into())
        );
        assert_eq!(
            ok(&format!("{ORG}/acme/control-plane/")),
            (org.clone(), "/".into())
        );
        // The organization object itself keeps its path but is still org-scoped.
        assert_eq!(
            ok(&format!("{ORG}/acme")),
            (org.clone(), format!("{ORG}/acme"))
        );
        assert_eq!(
            ok(&format!("{ORG}/acme/status")),
            (org.clone(), format!("{ORG}/acme/status"))
        );
        // Plain prefix trimming: no slash is required after control-plane.
        assert_eq!(
            ok(&format!("{ORG}/acme/control-plane")),
            (org.clone(), "".into())
        );
        assert_eq!(
            ok(&format!("{ORG}/acme/other")),
            (org.clone(), "other".into())
        );
        // A decoded '?' ends the path.
        assert_eq!(
            ok(&format!("{ORG}/acme/control-plane/api/v1?x")),
            (org, "/api/v1".into())
        );
        // The collection itself is not under the prefix (no trailing slash).
        assert_eq!(ok(ORG), (None, ORG.into()));
    }

    #[test]
    fn invalid_organization_ids() {
        let e = resolve(format!("{ORG}/Bad_Org!/control-plane/api").as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), r#"invalid organization ID "Bad_Org!""#);
        assert!(e.is_discovery());
        let e = resolve(format!("{ORG}/a@b/control-plane/api/v1").as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), r#"invalid organization ID "a@b""#);
        assert!(!e.is_discovery());
        let e = resolve(format!("{ORG}/").as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), r#"invalid organization ID """#);
        let e = resolve(format!("{ORG}//control-plane/api").as_bytes()).unwrap_err();
        assert!(e.is_discovery());
    }

    #[test]
    fn project_prefix_long_and_short() {
        let p = Some((ParentKind::Project, "web-app".to_string()));
        assert_eq!(
            ok(&format!(
                "{PROJ}/web-app/control-plane/api/v1/namespaces/x/events"
            )),
            (p.clone(), "/api/v1/namespaces/x/events".into())
        );
        assert_eq!(
            ok("/projects/web-app/control-plane/apis"),
            (p.clone(), "/apis".into())
        );
        // Project wins over an organization prefix in front of it.
        assert_eq!(
            ok(&format!(
                "{ORG}/acme/control-plane{PROJ}/web-app/control-plane/api"
            )),
            (p.clone(), "/api".into())
        );
        // One leading slash after control-plane is dropped, not more.
        assert_eq!(
            ok("/projects/web-app/control-plane//api"),
            (p.clone(), "//api".into())
        );
        // Project ids are not validated...
        assert_eq!(
            ok("/projects/Not_A_Label!/control-plane/api"),
            (
                Some((ParentKind::Project, "Not_A_Label!".into())),
                "/api".into()
            )
        );
        // ...and an empty one gives no parent at all.
        assert_eq!(
            ok("/projects//control-plane/api/v1"),
            (None, "/api/v1".into())
        );
    }

    #[test]
    fn user_prefix() {
        let u = Some((ParentKind::User, "uid-alice".to_string()));
        assert_eq!(
            ok(&format!("{USERS}/uid-alice/control-plane/api/v1")),
            (u, "/api/v1".into())
        );
        // An empty user id is a valid label value: Milo sets an empty parent-name.
        assert_eq!(
            ok(&format!("{USERS}//control-plane/api")),
            (Some((ParentKind::User, String::new())), "/api".into())
        );
        let e = resolve(format!("{USERS}/alice@acme.example/control-plane/api").as_bytes())
            .unwrap_err();
        assert_eq!(e.to_string(), r#"invalid user ID "alice@acme.example""#);
        assert!(e.is_discovery());
    }

    #[test]
    fn nested_contexts_follow_the_decorator_order() {
        // Project router strips first; the organization prefix that follows also applies and
        // the Organization decorator runs after the Project one, so Organization wins here.
        assert_eq!(
            ok(&format!(
                "/projects/p/control-plane{ORG}/acme/control-plane/api"
            )),
            (
                Some((ParentKind::Organization, "acme".into())),
                "/api".into()
            )
        );
        // User beats Organization.
        assert_eq!(
            ok(&format!(
                "{USERS}/u1/control-plane{ORG}/acme/control-plane/api"
            )),
            (Some((ParentKind::User, "u1".into())), "/api".into())
        );
    }

    #[test]
    fn extras() {
        let p = Parent::new(ParentKind::Project, "web-app");
        assert_eq!(
            p.extras(),
            [
                (PARENT_TYPE_KEY, "Project".to_string()),
                (PARENT_NAME_KEY, "web-app".to_string()),
                (
                    PARENT_API_GROUP_KEY,
                    "resourcemanager.miloapis.com".to_string()
                ),
            ]
        );
        assert_eq!(
            Parent::new(ParentKind::User, "u").api_group,
            "iam.miloapis.com"
        );
    }
}
