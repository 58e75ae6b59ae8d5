//! Multi-tenant scope: the caller's scope, taken from its extras, is written into every Event
//! it creates, updates or patches, overwriting whatever the client sent.
//!
//! Patch policy (documented in the README):
//! - merge and strategic merge patches get `metadata.annotations.<scope keys>` set in the patch;
//!   a patch that sets `metadata` or `metadata.annotations` to null, or uses the strategic
//!   directives `$patch: delete` or `$retainKeys` on the object, `metadata` or `annotations`,
//!   is refused with 403, because it would drop the scope;
//! - JSON patches get two `add` operations appended that set both annotations; any operation
//!   other than `test` whose `path` (or a `move`'s `from`) is the root, `/metadata`,
//!   `/metadata/annotations`, one of the scope annotations, or below one of them, is refused
//!   with 403. Objects a scoped user can reach always carry the scope annotations (Activity
//!   hides everything else), so the appended `add`s always have a map to write into.
//!
//! For every user and body type, a key (or JSON-patch pointer token) that Go's `encoding/json`
//! would fold onto `metadata`, `apiVersion`, `kind` or another top-level Event field, or onto
//! `metadata.annotations`, without being spelled exactly like it (`METADATA`, `annotationſ`,
//! `\u212Aind`) is refused with 400: see [`crate::k8s::fold`].

use serde_json::{Map, Value};

use crate::identity::UserInfo;
use crate::k8s::api::BodyKind;
use crate::k8s::events::EVENT_TOP_FIELDS;
use crate::k8s::fold::{case_variant_rejection, first_variant, variant_of};
use crate::k8s::names::go_quote;
use crate::k8s::parent::Parent;
use crate::k8s::status::{KubeError, Reason, Rejection};

pub const PARENT_TYPE_EXTRA: &str = "iam.miloapis.com/parent-type";
pub const PARENT_NAME_EXTRA: &str = "iam.miloapis.com/parent-name";
pub const PARENT_API_GROUP_EXTRA: &str = "iam.miloapis.com/parent-api-group";
pub const SCOPE_TYPE_ANNOTATION: &str = "platform.miloapis.com/scope.type";
pub const SCOPE_NAME_ANNOTATION: &str = "platform.miloapis.com/scope.name";

/// The tenant a scoped user acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// Only one of the two scope extras (or an empty value): the tenant is unknown.
    IncompleteScope,
    /// The URL addressed a control plane the identity does not carry: (the URL's, the
    /// identity's, if any), each as kind and name.
    ParentMismatch(Parent, Option<(String, String)>),
    EmptyBody,
    InvalidJson(String),
    NotAnObject,
    WrongType(&'static str),
    CaseVariant(&'static str),
    InvalidPatch(String),
    ForbiddenPatch(String),
}

impl KubeError for ScopeError {
    fn rejection(&self) -> Rejection {
        match self {
            ScopeError::IncompleteScope => Rejection::new(
                Reason::Forbidden,
                format!(
                    "the user's scope is incomplete: both {PARENT_TYPE_EXTRA} and {PARENT_NAME_EXTRA} are required, or neither"
                ),
            ),
            ScopeError::ParentMismatch(url, identity) => {
                let held = match identity {
                    Some((kind, name)) => format!("is in the context of {kind} {}", go_quote(name)),
                    None => "has no parent context".to_owned(),
                };
                Rejection::new(
                    Reason::Forbidden,
                    format!(
                        "the request addresses the control plane of {} {}, but the authenticated user {held}",
                        url.kind.as_str(),
                        go_quote(&url.name)
                    ),
                )
            }
            ScopeError::EmptyBody => Rejection::new(Reason::BadRequest, "the request body is empty"),
            ScopeError::InvalidJson(e) => {
                Rejection::new(Reason::BadRequest, format!("the request body is not valid JSON: {e}"))
            }
            ScopeError::NotAnObject => {
                Rejection::new(Reason::BadRequest, "the request body must be a JSON object")
            }
            ScopeError::WrongType(field) => {
                Rejection::new(Reason::BadRequest, format!("{field} must be a JSON object"))
            }
            ScopeError::CaseVariant(field) => case_variant_rejection(field),
            ScopeError::InvalidPatch(e) => {
                Rejection::new(Reason::BadRequest, format!("invalid JSON patch: {e}"))
            }
            ScopeError::ForbiddenPatch(e) => Rejection::new(Reason::Forbidden, e.clone()),
        }
    }
}

/// The caller's scope: `None` for a platform user (neither extra), an error for half a scope.
pub fn scope_of(user: &UserInfo) -> Result<Option<Scope>, ScopeError> {
    let first = |key| {
        user.extra_values(key)
            .map(|v| v.first().cloned().unwrap_or_default())
    };
    match (first(PARENT_TYPE_EXTRA), first(PARENT_NAME_EXTRA)) {
        (None, None) => Ok(None),
        (Some(kind), Some(name)) if !kind.is_empty() && !name.is_empty() => Ok(Some(Scope {
            kind: kind.into_owned(),
            name: name.into_owned(),
        })),
        _ => Err(ScopeError::IncompleteScope),
    }
}

/// The control plane a URL addressed must be the one the identity carries: the authorizer puts
/// the URL's parent into the extras only after Milo allowed the request, and a token's own
/// extras must name the same parent. The scope is never taken from the URL alone. Without a
/// prefix the identity's extras stand, as in Milo.
pub fn check_parent(user: &UserInfo, parent: Option<&Parent>) -> Result<(), ScopeError> {
    let Some(parent) = parent else {
        return Ok(());
    };
    let only = |key| match user.extra_values(key) {
        Some([one]) => Some(one.as_ref()),
        _ => None,
    };
    let kind = only(PARENT_TYPE_EXTRA);
    let name = only(PARENT_NAME_EXTRA);
    // The API group is compared when the identity names one (a JWT's extras may not).
    let group_ok = match user.extra_values(PARENT_API_GROUP_EXTRA) {
        None => true,
        Some([one]) => one == parent.kind.api_group(),
        Some(_) => false,
    };
    if kind == Some(parent.kind.as_str()) && name == Some(parent.name.as_str()) && group_ok {
        return Ok(());
    }
    let held = match (kind, name) {
        (Some(k), Some(n)) => Some((k.to_owned(), n.to_owned())),
        _ => None,
    };
    Err(ScopeError::ParentMismatch(parent.clone(), held))
}

/// Check a parsed write body and, for a scoped user, set the scope in it.
pub fn enforce(kind: BodyKind, value: &mut Value, scope: Option<&Scope>) -> Result<(), ScopeError> {
    match kind {
        BodyKind::Object => set_in_object(value, scope, false),
        BodyKind::MergePatch => set_in_object(value, scope, true),
        BodyKind::StrategicMergePatch => {
            check_strategic_directives(value, scope.is_some())?;
            set_in_object(value, scope, true)
        }
        BodyKind::JsonPatch => patch_ops(value, scope),
    }
}

/// Set the annotations in an object or merge patch. `patch` makes null mean "delete".
fn set_in_object(value: &mut Value, scope: Option<&Scope>, patch: bool) -> Result<(), ScopeError> {
    let obj = value.as_object_mut().ok_or(ScopeError::NotAnObject)?;
    reject_case_variants(obj, &EVENT_TOP_FIELDS)?;
    let metadata = child_object(obj, "metadata", "metadata", patch, scope.is_some())?;
    let Some(metadata) = metadata else {
        return Ok(());
    };
    reject_case_variants(metadata, &["annotations"])?;
    let annotations = child_object(
        metadata,
        "annotations",
        "metadata.annotations",
        patch,
        scope.is_some(),
    )?;
    if let (Some(annotations), Some(scope)) = (annotations, scope) {
        annotations.insert(
            SCOPE_TYPE_ANNOTATION.to_owned(),
            Value::String(scope.kind.clone()),
        );
        annotations.insert(
            SCOPE_NAME_ANNOTATION.to_owned(),
            Value::String(scope.name.clone()),
        );
    }
    Ok(())
}

/// The object under `key`, created when absent and `create` is set. Null is "absent" in an
/// object (as Go decodes it) and "delete" in a patch, which a scoped user may not do here.
fn child_object<'a>(
    parent: &'a mut Map<String, Value>,
    key: &str,
    field: &'static str,
    patch: bool,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScopeError> {
    match parent.get(key) {
        None => {}
        Some(Value::Null) if patch && create => {
            return Err(ScopeError::ForbiddenPatch(format!(
                "a patch may not remove {field}: it carries the scope annotations"
            )))
        }
        Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err(ScopeError::WrongType(field)),
    }
    if !create {
        return Ok(parent.get_mut(key).and_then(Value::as_object_mut));
    }
    let slot = parent
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    Ok(slot.as_object_mut())
}

/// Go's `encoding/json` matches keys to fields by Unicode simple folding (`annotationſ` is
/// `annotations` to it); refuse such near-duplicates of the fields the filter reads or writes, so
/// no decoder can pick a different one than the filter did.
fn reject_case_variants(
    obj: &Map<String, Value>,
    guarded: &[&'static str],
) -> Result<(), ScopeError> {
    match first_variant(obj.keys(), guarded) {
        Some(field) => Err(ScopeError::CaseVariant(field)),
        None => Ok(()),
    }
}

/// Strategic merge patch directives that could drop the annotations.
fn check_strategic_directives(value: &Value, scoped: bool) -> Result<(), ScopeError> {
    if !scoped {
        return Ok(());
    }
    let levels = [
        Some(value),
        value.get("metadata"),
        value.get("metadata").and_then(|m| m.get("annotations")),
    ];
    for level in levels.into_iter().flatten() {
        let Some(obj) = level.as_object() else {
            continue;
        };
        if obj.get("$patch").and_then(Value::as_str) == Some("delete") {
            return Err(ScopeError::ForbiddenPatch(
                "a strategic merge patch may not delete the object, its metadata or its annotations: they carry the scope".into(),
            ));
        }
        if obj.contains_key("$retainKeys") {
            return Err(ScopeError::ForbiddenPatch(
                "$retainKeys is not allowed on the object, its metadata or its annotations: it could drop the scope".into(),
            ));
        }
    }
    Ok(())
}

const OPS: [&str; 6] = ["add", "remove", "replace", "move", "copy", "test"];

/// Validate a JSON patch and, for a scoped user, refuse operations on the scope and append
/// operations that set it.
fn patch_ops(value: &mut Value, scope: Option<&Scope>) -> Result<(), ScopeError> {
    let ops = value.as_array_mut().ok_or_else(|| {
        ScopeError::InvalidPatch("a JSON patch must be an array of operations".into())
    })?;
    let protected = [
        vec!["metadata", "annotations", SCOPE_TYPE_ANNOTATION],
        vec!["metadata", "annotations", SCOPE_NAME_ANNOTATION],
    ];
    for (i, op) in ops.iter().enumerate() {
        let obj = op
            .as_object()
            .ok_or_else(|| ScopeError::InvalidPatch(format!("operation {i} is not an object")))?;
        let name = obj
            .get("op")
            .and_then(Value::as_str)
            .filter(|n| OPS.contains(n))
            .ok_or_else(|| ScopeError::InvalidPatch(format!("operation {i} has no valid 'op'")))?;
        let path = pointer(obj.get("path"), i, "path")?;
        let from = match name {
            "move" | "copy" => Some(pointer(obj.get("from"), i, "from")?),
            _ => None,
        };
        for tokens in std::iter::once(&path).chain(from.as_ref()) {
            pointer_case_variant(tokens)?;
        }
        if scope.is_none() || name == "test" {
            continue;
        }
        let mut touched = vec![path];
        if name == "move" {
            touched.extend(from);
        }
        for tokens in &touched {
            if protected.iter().any(|p| related(tokens, p)) {
                return Err(ScopeError::ForbiddenPatch(format!(
                    "JSON patch operation {i} ({name}) touches the scope annotations, metadata.annotations or metadata as a whole"
                )));
            }
        }
    }
    if let Some(scope) = scope {
        for (key, val) in [
            (SCOPE_TYPE_ANNOTATION, &scope.kind),
            (SCOPE_NAME_ANNOTATION, &scope.name),
        ] {
            let mut op = Map::new();
            op.insert("op".into(), Value::String("add".into()));
            op.insert(
                "path".into(),
                Value::String(format!(
                    "/metadata/annotations/{}",
                    key.replace('~', "~0").replace('/', "~1")
                )),
            );
            op.insert("value".into(), Value::String(val.clone()));
            ops.push(Value::Object(op));
        }
    }
    Ok(())
}

/// A JSON-patch pointer whose tokens a Go decoder would fold onto a guarded field (`/Metadata`,
/// `/metadata/annotationſ`) writes a member the filter does not see as that field; the decoded
/// result would carry it anyway. Checked for every operation and every user.
fn pointer_case_variant(tokens: &[String]) -> Result<(), ScopeError> {
    let variant = match tokens {
        [first, ..] if first != "metadata" => variant_of(first, &EVENT_TOP_FIELDS),
        [_, second, ..] => variant_of(second, &["annotations"]),
        _ => None,
    };
    match variant {
        Some(field) => Err(ScopeError::CaseVariant(field)),
        None => Ok(()),
    }
}

/// Whether one token path is a prefix of the other (either way).
fn related(tokens: &[String], protected: &[&str]) -> bool {
    tokens.iter().zip(protected.iter()).all(|(a, b)| a == b)
}

/// Decode an RFC 6901 JSON pointer into tokens.
fn pointer(v: Option<&Value>, i: usize, field: &str) -> Result<Vec<String>, ScopeError> {
    let bad = || ScopeError::InvalidPatch(format!("operation {i} has no valid '{field}'"));
    let s = v.and_then(Value::as_str).ok_or_else(bad)?;
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let rest = s.strip_prefix('/').ok_or_else(bad)?;
    rest.split('/')
        .map(|tok| {
            let mut out = String::with_capacity(tok.len());
            let mut chars = tok.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(bad()),
                    }
                } else {
                    out.push(c);
                }
            }
            Ok(out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // What `BodyJob::run` does around `enforce`, without the conversion steps.
    /// Validate a write body and, for a scoped user, return the body with the scope enforced.
    /// `Ok(None)` means "forward the body exactly as sent" (platform users).
    fn apply(
        kind: BodyKind,
        body: &[u8],
        scope: Option<&Scope>,
    ) -> Result<Option<Vec<u8>>, ScopeError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ScopeError::EmptyBody);
        }
        let mut value: Value =
            serde_json::from_slice(body).map_err(|e| ScopeError::InvalidJson(e.to_string()))?;
        enforce(kind, &mut value, scope)?;
        match scope {
            None => Ok(None),
            Some(_) => serde_json::to_vec(&value)
                .map(Some)
                .map_err(|e| ScopeError::InvalidJson(e.to_string())),
        }
    }

    use serde_json::json;

    fn org() -> Scope {
        Scope {
            kind: "Organization".into(),
            name: "acme".into(),
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn applied(kind: BodyKind, body: &[u8]) -> Value {
        let out = apply(kind, body, Some(&org())).unwrap().unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    fn user_with(extra: &[(&str, &[&str])]) -> UserInfo<'static> {
        UserInfo {
            username: "u".into(),
            extra: extra
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string().into(),
                        v.iter().map(|s| s.to_string().into()).collect(),
                    )
                })
                .collect(),
            ..UserInfo::default()
        }
    }

    #[test]
    fn scope_from_extras() {
        assert_eq!(scope_of(&user_with(&[])).unwrap(), None);
        assert_eq!(
            scope_of(&user_with(&[
                (PARENT_TYPE_EXTRA, &["Organization", "ignored"]),
                (PARENT_NAME_EXTRA, &["acme"])
            ]))
            .unwrap(),
            Some(org())
        );
        for half in [
            user_with(&[(PARENT_TYPE_EXTRA, &["Organization"])]),
            user_with(&[(PARENT_NAME_EXTRA, &["acme"])]),
            user_with(&[
                (PARENT_TYPE_EXTRA, &["Organization"]),
                (PARENT_NAME_EXTRA, &[]),
            ]),
            user_with(&[(PARENT_TYPE_EXTRA, &[""]), (PARENT_NAME_EXTRA, &["acme"])]),
        ] {
            let e = scope_of(&half).unwrap_err();
            assert_eq!(e.rejection().code(), 403);
        }
    }

    #[test]
    fn the_url_parent_must_be_the_identitys() {
        use crate::k8s::parent::ParentKind;
        let p = |kind, name: &str| Parent {
            kind,
            name: name.into(),
        };
        let acme = p(ParentKind::Organization, "acme");
        let org_user = user_with(&[
            (PARENT_TYPE_EXTRA, &["Organization"]),
            (PARENT_NAME_EXTRA, &["acme"]),
        ]);
        // No prefix: the identity's extras stand, whatever they are.
        assert!(check_parent(&org_user, None).is_ok());
        assert!(check_parent(&user_with(&[]), None).is_ok());
        assert!(check_parent(&org_user, Some(&acme)).is_ok());
        let with_group = user_with(&[
            (PARENT_TYPE_EXTRA, &["Organization"]),
            (PARENT_NAME_EXTRA, &["acme"]),
            (PARENT_API_GROUP_EXTRA, &["resourcemanager.miloapis.com"]),
        ]);
        assert!(check_parent(&with_group, Some(&acme)).is_ok());
        let refused = [
            (user_with(&[]), acme.clone()),
            (org_user.clone(), p(ParentKind::Organization, "other")),
            (org_user.clone(), p(ParentKind::Project, "acme")),
            (
                user_with(&[
                    (PARENT_TYPE_EXTRA, &["Organization", "Project"]),
                    (PARENT_NAME_EXTRA, &["acme"]),
                ]),
                acme.clone(),
            ),
            (
                user_with(&[
                    (PARENT_TYPE_EXTRA, &["Organization"]),
                    (PARENT_NAME_EXTRA, &["acme"]),
                    (PARENT_API_GROUP_EXTRA, &["iam.miloapis.com"]),
                ]),
                acme.clone(),
            ),
        ];
        for (user, parent) in refused {
            let e = check_parent(&user, Some(&parent)).unwrap_err().rejection();
            assert_eq!(e.code(), 403, "{user:?} {parent:?}");
        }
        let e = check_parent(&org_user, Some(&p(ParentKind::Project, "web-app")))
            .unwrap_err()
            .rejection();
        assert_eq!(
            e.message,
            "the request addresses the control plane of Project \"web-app\", but the authenticated user is in the context of Organization \"acme\""
        );
        let e = check_parent(&user_with(&[]), Some(&acme))
            .unwrap_err()
            .rejection();
        assert_eq!(
            e.message,
            "the request addresses the control plane of Organization \"acme\", but the authenticated user has no parent context"
        );
    }

    #[test]
    fn create_overwrites_forged_scope() {
        let v = applied(BodyKind::Object, &fixture("event-forged-scope.json"));
        let ann = &v["metadata"]["annotations"];
        assert_eq!(ann[SCOPE_TYPE_ANNOTATION], "Organization");
        assert_eq!(ann[SCOPE_NAME_ANNOTATION], "acme");
        assert_eq!(ann["keep.example.com/me"], "yes");
        assert_eq!(v["reason"], "Testing");
    }

    #[test]
    fn create_adds_metadata_and_annotations_when_missing() {
        let v = applied(BodyKind::Object, br#"{"kind":"Event"}"#);
        assert_eq!(v["metadata"]["annotations"][SCOPE_NAME_ANNOTATION], "acme");
        let v = applied(BodyKind::Object, br#"{"metadata":null}"#);
        assert_eq!(
            v["metadata"]["annotations"][SCOPE_TYPE_ANNOTATION],
            "Organization"
        );
        let v = applied(
            BodyKind::Object,
            br#"{"metadata":{"annotations":null,"name":"x"}}"#,
        );
        assert_eq!(v["metadata"]["name"], "x");
        assert_eq!(
            v["metadata"]["annotations"][SCOPE_TYPE_ANNOTATION],
            "Organization"
        );
    }

    #[test]
    fn duplicate_keys_cannot_smuggle_a_scope() {
        // serde keeps the last duplicate; the scope is then overwritten anyway.
        let v = applied(
            BodyKind::Object,
            br#"{"metadata":{"annotations":{"platform.miloapis.com/scope.name":"evil"}},
                 "metadata":{"annotations":{"platform.miloapis.com/scope.name":"evil2"}}}"#,
        );
        assert_eq!(v["metadata"]["annotations"][SCOPE_NAME_ANNOTATION], "acme");
        // Escaped key spellings decode to the same key and are overwritten too.
        let v = applied(
            BodyKind::Object,
            br#"{"metadata":{"annotations":{"platform.miloapis.com\/scope.n\u0061me":"evil"}}}"#,
        );
        assert_eq!(v["metadata"]["annotations"][SCOPE_NAME_ANNOTATION], "acme");
        assert_eq!(v["metadata"]["annotations"].as_object().unwrap().len(), 2);
        // Case variants of the containing fields are refused.
        for body in [
            &br#"{"Metadata":{"annotations":{}}}"#[..],
            br#"{"metadata":{"Annotations":{}}}"#,
        ] {
            let e = apply(BodyKind::Object, body, Some(&org())).unwrap_err();
            assert_eq!(e.rejection().code(), 400);
        }
    }

    #[test]
    fn keys_go_folds_onto_guarded_fields_are_refused_in_every_body() {
        let objects = [
            r#"{"metadata":{"annotation\u017f":{"platform.miloapis.com/scope.name":"victim"}}}"#,
            r#"{"metadata":{"annotationſ":{}}}"#,
            r#"{"metadata":{"ANNOTATIONS":{}}}"#,
            r#"{"metadata":{"annot\u0061tionS":{}}}"#,
            r#"{"metaData":{}}"#,
            r#"{"meta\u0064ata":{},"METADATA":{}}"#,
            r#"{"metadatA":{"annotations":{}}}"#,
            r#"{"apiVer\u017fion":"activity.miloapis.com/v1alpha1"}"#,
            r#"{"\u212Aind":"Pod"}"#,
            r#"{"KIND":"Pod"}"#,
            r#"{"me\u017f\u017fage":"x"}"#,
            r#"{"involvedObjec\u0054":{}}"#,
            r#"{"NOTE":"x"}"#,
        ];
        for body in objects {
            for kind in [
                BodyKind::Object,
                BodyKind::MergePatch,
                BodyKind::StrategicMergePatch,
            ] {
                for scope in [Some(org()), None] {
                    let e = apply(kind, body.as_bytes(), scope.as_ref()).unwrap_err();
                    let r = e.rejection();
                    assert_eq!(r.code(), 400, "{kind:?} {body}");
                    assert!(
                        r.message
                            .starts_with("the request body has a field that differs from '")
                            && r.message.ends_with("' only by case"),
                        "{}",
                        r.message
                    );
                }
            }
        }
        let e = apply(
            BodyKind::Object,
            r#"{"metadata":{"annotationſ":{}}}"#.as_bytes(),
            Some(&org()),
        )
        .unwrap_err();
        assert_eq!(
            e.rejection().message,
            "the request body has a field that differs from 'annotations' only by case"
        );
        // Exact spellings, other fields and nested content the filter does not read are fine.
        for body in [
            r#"{"metadata":{"annotations":{"Annotations":"v","annotationſ":"w"}}}"#,
            r#"{"metadata":{"labels":{"KIND":"x"}},"kind":"Event"}"#,
            r#"{"involvedObject":{"Kind":"Pod"}}"#,
            r#"{"metadata":{"name":"x","Name":"y"}}"#,
        ] {
            assert!(
                apply(BodyKind::Object, body.as_bytes(), Some(&org())).is_ok(),
                "{body}"
            );
        }
    }

    #[test]
    fn json_patch_pointers_go_folds_onto_guarded_fields_are_refused() {
        for path in [
            "/metadatA",
            "/metaDATA/annotations",
            "/metadata/annotationſ",
            "/metadata/annotationſ/platform.miloapis.com~1scope.name",
            "/metadata/ANNOTATIONS/x",
            "/\u{212A}ind",
            "/apiVer\\u017fion",
            "/involvedObjecT/name",
        ] {
            for op in ["add", "remove", "replace", "test"] {
                let body = format!(r#"[{{"op":"{op}","path":"{path}","value":{{}}}}]"#);
                for scope in [Some(org()), None] {
                    let e =
                        apply(BodyKind::JsonPatch, body.as_bytes(), scope.as_ref()).unwrap_err();
                    assert_eq!(e.rejection().code(), 400, "{body}");
                    assert!(matches!(e, ScopeError::CaseVariant(_)), "{body}");
                }
            }
            let body = format!(r#"[{{"op":"move","from":"{path}","path":"/x"}}]"#);
            let e = apply(BodyKind::JsonPatch, body.as_bytes(), Some(&org())).unwrap_err();
            assert!(matches!(e, ScopeError::CaseVariant(_)), "{body}");
        }
        let ok = r#"[{"op":"add","path":"/metadata/labels/Annotations","value":"x"},
                     {"op":"add","path":"/metadata/annotations/ANNOTATIONS","value":"x"}]"#;
        assert!(apply(BodyKind::JsonPatch, ok.as_bytes(), Some(&org())).is_ok());
    }

    #[test]
    fn bad_bodies_are_400() {
        for (kind, body) in [
            (BodyKind::Object, &b""[..]),
            (BodyKind::Object, b"   "),
            (BodyKind::Object, b"{"),
            (BodyKind::Object, b"[]"),
            (BodyKind::Object, b"\"s\""),
            (BodyKind::Object, br#"{"metadata":[]}"#),
            (BodyKind::Object, br#"{"metadata":{"annotations":"x"}}"#),
            (BodyKind::Object, br#"{"metadata":{"annotations":[1]}}"#),
            (BodyKind::MergePatch, b"[]"),
            (BodyKind::MergePatch, br#"{"metadata":"x"}"#),
            (BodyKind::JsonPatch, b"{}"),
            (BodyKind::JsonPatch, br#"[1]"#),
            (BodyKind::JsonPatch, br#"[{"op":"bogus","path":"/a"}]"#),
            (BodyKind::JsonPatch, br#"[{"op":"add","path":"a"}]"#),
            (BodyKind::JsonPatch, br#"[{"op":"add"}]"#),
            (BodyKind::JsonPatch, br#"[{"op":"move","path":"/a"}]"#),
            (BodyKind::JsonPatch, br#"[{"op":"add","path":"/a~2"}]"#),
        ] {
            for scope in [Some(org()), None] {
                let e = apply(kind, body, scope.as_ref()).unwrap_err();
                assert_eq!(
                    e.rejection().code(),
                    400,
                    "{kind:?} {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn deeply_nested_json_is_refused_not_a_stack_overflow() {
        let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = apply(BodyKind::Object, body.as_bytes(), Some(&org())).unwrap_err();
        assert_eq!(e.rejection().code(), 400);
    }

    #[test]
    fn platform_users_bodies_pass_as_sent() {
        let body = fixture("event-forged-scope.json");
        assert_eq!(apply(BodyKind::Object, &body, None).unwrap(), None);
        assert_eq!(
            apply(BodyKind::MergePatch, br#"{"metadata":null}"#, None).unwrap(),
            None
        );
        assert_eq!(
            apply(
                BodyKind::JsonPatch,
                br#"[{"op":"remove","path":"/metadata/annotations"}]"#,
                None
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn merge_patches_set_the_scope() {
        for kind in [BodyKind::MergePatch, BodyKind::StrategicMergePatch] {
            let v = applied(kind, &fixture("patch-merge-forged.json"));
            assert_eq!(
                v["metadata"]["annotations"][SCOPE_TYPE_ANNOTATION],
                "Organization"
            );
            assert_eq!(v["metadata"]["annotations"][SCOPE_NAME_ANNOTATION], "acme");
            assert_eq!(v["message"], "patched");
            let v = applied(kind, br#"{"count":3}"#);
            assert_eq!(
                v,
                json!({"count":3,"metadata":{"annotations":{
                    SCOPE_TYPE_ANNOTATION:"Organization", SCOPE_NAME_ANNOTATION:"acme"}}})
            );
        }
    }

    #[test]
    fn merge_patches_may_not_remove_the_scope() {
        for body in [
            &br#"{"metadata":null}"#[..],
            br#"{"metadata":{"annotations":null}}"#,
        ] {
            for kind in [BodyKind::MergePatch, BodyKind::StrategicMergePatch] {
                let e = apply(kind, body, Some(&org())).unwrap_err();
                assert_eq!(e.rejection().code(), 403);
            }
        }
    }

    #[test]
    fn strategic_directives_that_drop_annotations_are_refused() {
        for body in [
            &br#"{"$patch":"delete"}"#[..],
            br#"{"metadata":{"$patch":"delete"}}"#,
            br#"{"metadata":{"annotations":{"$patch":"delete"}}}"#,
            br#"{"$retainKeys":["reason"]}"#,
            br#"{"metadata":{"$retainKeys":["name"]}}"#,
        ] {
            let e = apply(BodyKind::StrategicMergePatch, body, Some(&org())).unwrap_err();
            assert_eq!(
                e.rejection().code(),
                403,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // replace keeps the injected keys inside the replacement map.
        let v = applied(
            BodyKind::StrategicMergePatch,
            br#"{"metadata":{"annotations":{"$patch":"replace","a":"b"}}}"#,
        );
        assert_eq!(v["metadata"]["annotations"]["$patch"], "replace");
        assert_eq!(v["metadata"]["annotations"][SCOPE_NAME_ANNOTATION], "acme");
    }

    #[test]
    fn json_patches_get_scope_ops_appended() {
        let v = applied(BodyKind::JsonPatch, &fixture("patch-json.json"));
        let ops = v.as_array().unwrap();
        let n = ops.len();
        assert_eq!(
            ops[n - 2],
            json!({"op":"add","path":"/metadata/annotations/platform.miloapis.com~1scope.type","value":"Organization"})
        );
        assert_eq!(
            ops[n - 1],
            json!({"op":"add","path":"/metadata/annotations/platform.miloapis.com~1scope.name","value":"acme"})
        );
        assert_eq!(ops[0]["op"], "replace");
    }

    #[test]
    fn json_patch_ops_on_the_scope_are_refused() {
        for path in [
            "",
            "/metadata",
            "/metadata/annotations",
            "/metadata/annotations/platform.miloapis.com~1scope.type",
            "/metadata/annotations/platform.miloapis.com~1scope.name",
            "/metadata/annotations/platform.miloapis.com~1scope.name/x",
        ] {
            for op in ["add", "remove", "replace"] {
                let body = json!([{"op": op, "path": path, "value": {}}]).to_string();
                let e = apply(BodyKind::JsonPatch, body.as_bytes(), Some(&org())).unwrap_err();
                assert_eq!(e.rejection().code(), 403, "{op} {path}");
            }
            let body = json!([{"op": "move", "from": path, "path": "/x"}]).to_string();
            let e = apply(BodyKind::JsonPatch, body.as_bytes(), Some(&org())).unwrap_err();
            assert_eq!(e.rejection().code(), 403, "move from {path}");
        }
        // Reading them is fine, and so are neighbours.
        let ok = json!([
            {"op":"test","path":"/metadata/annotations/platform.miloapis.com~1scope.type","value":"Organization"},
            {"op":"copy","from":"/metadata/annotations/platform.miloapis.com~1scope.name","path":"/metadata/labels/x"},
            {"op":"add","path":"/metadata/annotations/other","value":"v"},
            {"op":"remove","path":"/metadata/labels"},
        ])
        .to_string();
        assert!(apply(BodyKind::JsonPatch, ok.as_bytes(), Some(&org())).is_ok());
    }

    #[test]
    fn pointers_decode_escapes() {
        assert_eq!(
            pointer(Some(&json!("/a~1b/c~0d")), 0, "path").unwrap(),
            vec!["a/b".to_owned(), "c~d".to_owned()]
        );
        assert!(pointer(Some(&json!("/a~")), 0, "path").is_err());
    }
}
