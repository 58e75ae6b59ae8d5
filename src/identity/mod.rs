//! The authenticated user, read from Envoy dynamic metadata put there by the authn filter.
//!
//! Two shapes are accepted under the configured metadata namespace:
//! - structured: `user`, `uid`, `groups` (list), `extra` (map of lists), which Envoy hands over
//!   in the pairs encoding (see `pairs`);
//! - `userinfo`: one string holding base64 (standard or URL-safe, padded or not) of the JSON
//!   of an `authentication.k8s.io/v1` UserInfo, the form an HTTP ext_authz service can set.
//!
//! When `userinfo` is present it wins; the structured fields are then ignored.

use std::borrow::Cow;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

pub mod forward;
pub mod source;
mod userinfo_json;

use crate::k8s::status::{KubeError, Reason, Rejection};
use crate::wire::pairs;

/// Path of keys inside the metadata namespace struct (more than one key for nested structs,
/// e.g. `["jwt_payload", "sub"]` with jwt_authn's `payload_in_metadata`).
pub type FieldPath = Vec<String>;

/// Where each identity field lives inside the metadata namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFields {
    pub user: FieldPath,
    pub uid: FieldPath,
    pub groups: FieldPath,
    pub extra: FieldPath,
    pub userinfo: FieldPath,
    /// The configuration names the `userinfo` field (an authorizer hands exactly that over):
    /// ask the host for that one string first instead of the whole namespace struct, which
    /// costs Envoy a struct serialization on every request.
    pub userinfo_first: bool,
}

impl Default for IdentityFields {
    fn default() -> Self {
        let one = |k: &str| vec![k.to_owned()];
        IdentityFields {
            user: one("user"),
            uid: one("uid"),
            groups: one("groups"),
            extra: one("extra"),
            userinfo: one("userinfo"),
            userinfo_first: false,
        }
    }
}

/// A Kubernetes UserInfo. Read from Envoy's metadata it borrows that buffer (no copies on the
/// request path); from the `userinfo` JSON form it owns its strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo<'a> {
    pub username: Cow<'a, str>,
    pub uid: Cow<'a, str>,
    pub groups: Vec<Cow<'a, str>>,
    /// In the order received; values in order.
    pub extra: Vec<(Cow<'a, str>, Vec<Cow<'a, str>>)>,
}

impl UserInfo<'_> {
    /// Values of one extra key, if the user has it.
    pub fn extra_values(&self, key: &str) -> Option<&[Cow<'_, str>]> {
        self.extra
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// No authenticated user: the authn filter did not run or did not accept the request.
    NoUser,
    /// The metadata exists but cannot be read. The message names the field, never its value.
    Malformed(String),
    /// A value the upstream's requestheader authenticator would read back differently (see
    /// [`forward`]): which one (`user`, `uid`, `group`, `extra <key>`), never the value.
    Unforwardable(String, forward::Problem),
}

impl KubeError for IdentityError {
    fn rejection(&self) -> Rejection {
        match self {
            IdentityError::NoUser => Rejection::unauthorized(),
            IdentityError::Malformed(what) => Rejection::new(
                Reason::InternalError,
                format!("the authenticated identity could not be read: {what}"),
            ),
            // The value came from the authenticator, not from this request: nothing the client
            // can change, so no 4xx; like unreadable metadata it fails closed as a 500.
            IdentityError::Unforwardable(what, problem) => Rejection::new(
                Reason::InternalError,
                format!(
                    "the authenticated identity cannot be forwarded unchanged: the {what} {}",
                    problem.describe()
                ),
            ),
        }
    }
}

fn malformed(what: impl Into<String>) -> IdentityError {
    IdentityError::Malformed(what.into())
}

/// Read the user from the pairs-encoded struct of the whole metadata namespace.
/// `None` (no metadata at all) is "no user".
pub fn from_namespace<'a>(
    namespace: Option<&'a [u8]>,
    fields: &IdentityFields,
) -> Result<UserInfo<'a>, IdentityError> {
    let Some(ns) = namespace else {
        return Err(IdentityError::NoUser);
    };
    // The namespace struct is decoded once; nested paths decode only what they descend into.
    let top = pairs::decode(ns)
        .map_err(|e| malformed(format!("metadata struct at '<namespace>': {e}")))?;
    let find = |path: &FieldPath| -> Result<Option<&'a [u8]>, IdentityError> {
        let Some((first, rest)) = path.split_first() else {
            return Ok(None);
        };
        match top.iter().find(|(k, _)| *k == first.as_bytes()) {
            Some((_, v)) if rest.is_empty() => Ok(Some(*v)),
            Some((_, v)) => lookup(v, &rest.to_vec()),
            None => Ok(None),
        }
    };
    if let Some(raw) = find(&fields.userinfo)? {
        if !raw.is_empty() {
            return from_userinfo(raw);
        }
    }
    from_fields(find, fields)
}

/// Read the user when each field has been fetched separately (the fallback when the host
/// cannot serialize the whole namespace). `get` returns the raw property value of a field.
pub fn from_fields<'a, F>(
    mut get: F,
    fields: &IdentityFields,
) -> Result<UserInfo<'a>, IdentityError>
where
    F: FnMut(&FieldPath) -> Result<Option<&'a [u8]>, IdentityError>,
{
    let username = match get(&fields.user)? {
        Some(raw) => utf8(raw, "user")?,
        None => Cow::Borrowed(""),
    };
    if username.is_empty() {
        return Err(IdentityError::NoUser);
    }
    let uid = match get(&fields.uid)? {
        Some(raw) => utf8(raw, "uid")?,
        None => Cow::Borrowed(""),
    };
    let groups = match get(&fields.groups)? {
        Some(raw) => decode_list(raw, "groups")?,
        None => Vec::new(),
    };
    let extra = match get(&fields.extra)? {
        Some(raw) => decode_extra(raw)?,
        None => Vec::new(),
    };
    Ok(UserInfo {
        username,
        uid,
        groups,
        extra,
    })
}

/// Follow `path` through nested pairs-encoded structs.
pub fn lookup<'a>(buf: &'a [u8], path: &FieldPath) -> Result<Option<&'a [u8]>, IdentityError> {
    let mut current = buf;
    for (depth, key) in path.iter().enumerate() {
        let entries = pairs::decode(current).map_err(|e| {
            malformed(format!(
                "metadata struct at '{}': {e}",
                path_str(path.get(..depth).unwrap_or_default())
            ))
        })?;
        match entries.iter().find(|(k, _)| *k == key.as_bytes()) {
            Some((_, v)) => current = v,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

fn path_str(path: &[String]) -> String {
    if path.is_empty() {
        "<namespace>".to_owned()
    } else {
        path.join(".")
    }
}

fn utf8<'a>(raw: &'a [u8], field: &str) -> Result<Cow<'a, str>, IdentityError> {
    std::str::from_utf8(raw)
        .map(Cow::Borrowed)
        .map_err(|_| malformed(format!("{field} is not a UTF-8 string")))
}

/// A list arrives as a map whose keys are the elements.
fn decode_list<'a>(raw: &'a [u8], field: &str) -> Result<Vec<Cow<'a, str>>, IdentityError> {
    let entries =
        pairs::decode(raw).map_err(|e| malformed(format!("{field} is not a list: {e}")))?;
    entries.into_iter().map(|(k, _)| utf8(k, field)).collect()
}

type Extra<'a> = Vec<(Cow<'a, str>, Vec<Cow<'a, str>>)>;

fn decode_extra(raw: &[u8]) -> Result<Extra<'_>, IdentityError> {
    let entries = pairs::decode(raw).map_err(|e| malformed(format!("extra is not a map: {e}")))?;
    entries
        .into_iter()
        .map(|(k, v)| {
            let key = utf8(k, "extra key")?;
            let values = decode_list(v, "extra value")?;
            Ok((key, values))
        })
        .collect()
}

const PADDING_INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::STANDARD, PADDING_INDIFFERENT);
const URL_SAFE_ANY_PAD: GeneralPurpose =
    GeneralPurpose::new(&alphabet::URL_SAFE, PADDING_INDIFFERENT);

/// Decode the `userinfo` form: base64 of UserInfo JSON.
pub fn from_userinfo(raw: &[u8]) -> Result<UserInfo<'static>, IdentityError> {
    let text = raw.trim_ascii();
    let url_safe = text.iter().any(|&b| b == b'-' || b == b'_');
    let engine = if url_safe {
        &URL_SAFE_ANY_PAD
    } else {
        &STANDARD_ANY_PAD
    };
    let json = engine
        .decode(text)
        .map_err(|_| malformed("userinfo is not valid base64"))?;
    let user = userinfo_json::read(&json).map_err(|e| {
        malformed(format!(
            "userinfo is not a UserInfo JSON object: {}",
            e.as_str()
        ))
    })?;
    if user.username.is_empty() {
        return Err(IdentityError::NoUser);
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::pairs::encode;

    fn list(items: &[&str]) -> Vec<u8> {
        encode(items.iter().map(|i| (i.as_bytes(), &b""[..])))
    }

    fn structure(entries: &[(&str, &[u8])]) -> Vec<u8> {
        encode(entries.iter().map(|(k, v)| (k.as_bytes(), *v)))
    }

    #[test]
    fn structured_identity_from_pairs() {
        let groups = list(&["system:authenticated", "org-admins"]);
        let parent_type = list(&["Organization"]);
        let parent_name = list(&["acme"]);
        let extra = structure(&[
            ("iam.miloapis.com/parent-type", &parent_type),
            ("iam.miloapis.com/parent-name", &parent_name),
        ]);
        let ns = structure(&[
            ("user", b"alice@example.com"),
            ("uid", b"u-123"),
            ("groups", &groups),
            ("extra", &extra),
        ]);
        let user = from_namespace(Some(&ns), &IdentityFields::default()).unwrap();
        assert_eq!(
            user,
            UserInfo {
                username: "alice@example.com".into(),
                uid: "u-123".into(),
                groups: vec!["system:authenticated".into(), "org-admins".into()],
                extra: vec![
                    (
                        "iam.miloapis.com/parent-type".into(),
                        vec!["Organization".into()]
                    ),
                    ("iam.miloapis.com/parent-name".into(), vec!["acme".into()]),
                ],
            }
        );
    }

    #[test]
    fn nested_paths_reach_into_jwt_payloads() {
        let groups = list(&["g1"]);
        let payload = structure(&[("sub", b"bob"), ("groups", &groups)]);
        let ns = structure(&[("jwt_payload", &payload)]);
        let fields = IdentityFields {
            user: vec!["jwt_payload".into(), "sub".into()],
            groups: vec!["jwt_payload".into(), "groups".into()],
            ..IdentityFields::default()
        };
        let user = from_namespace(Some(&ns), &fields).unwrap();
        assert_eq!(user.username, "bob");
        assert_eq!(user.groups, vec!["g1".to_owned()]);
        assert!(user.extra.is_empty());
    }

    #[test]
    fn missing_user_is_unauthorized() {
        assert_eq!(
            from_namespace(None, &IdentityFields::default()),
            Err(IdentityError::NoUser)
        );
        let ns = structure(&[("uid", b"x")]);
        assert_eq!(
            from_namespace(Some(&ns), &IdentityFields::default()),
            Err(IdentityError::NoUser)
        );
        let ns = structure(&[("user", b"")]);
        assert_eq!(
            from_namespace(Some(&ns), &IdentityFields::default()),
            Err(IdentityError::NoUser)
        );
        assert_eq!(IdentityError::NoUser.rejection().code(), 401);
    }

    #[test]
    fn malformed_metadata_is_an_error_not_a_panic() {
        let ns = structure(&[("user", b"u"), ("groups", b"not pairs")]);
        let e = from_namespace(Some(&ns), &IdentityFields::default()).unwrap_err();
        assert!(matches!(e, IdentityError::Malformed(_)));
        assert_eq!(e.rejection().code(), 500);
        let e = from_namespace(Some(b"garbage"), &IdentityFields::default()).unwrap_err();
        assert!(matches!(e, IdentityError::Malformed(_)));
        let ns = structure(&[("user", &[0xff, 0xfe])]);
        assert!(matches!(
            from_namespace(Some(&ns), &IdentityFields::default()),
            Err(IdentityError::Malformed(_))
        ));
    }

    fn userinfo_fixture() -> Vec<u8> {
        std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata/userinfo-org.json"
        ))
        .unwrap()
    }

    #[test]
    fn userinfo_in_every_base64_flavour() {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        let json = userinfo_fixture();
        for encoded in [
            STANDARD.encode(&json),
            STANDARD_NO_PAD.encode(&json),
            URL_SAFE.encode(&json),
            URL_SAFE_NO_PAD.encode(&json),
        ] {
            let user = from_userinfo(encoded.as_bytes()).unwrap();
            assert_eq!(user.username, "carol@example.com");
            assert_eq!(user.uid, "c-42");
            assert_eq!(
                user.groups,
                vec!["system:authenticated".to_owned(), "acme-devs".to_owned()]
            );
            assert_eq!(
                user.extra_values("iam.miloapis.com/parent-type"),
                Some(&[Cow::Borrowed("Organization")][..])
            );
        }
    }

    #[test]
    fn userinfo_wins_over_structured_fields() {
        use base64::engine::general_purpose::STANDARD;
        let b64 = STANDARD.encode(userinfo_fixture());
        let ns = structure(&[("user", b"someone-else"), ("userinfo", b64.as_bytes())]);
        let user = from_namespace(Some(&ns), &IdentityFields::default()).unwrap();
        assert_eq!(user.username, "carol@example.com");
    }

    #[test]
    fn userinfo_errors() {
        use base64::engine::general_purpose::STANDARD;
        assert!(matches!(
            from_userinfo(b"!!!"),
            Err(IdentityError::Malformed(_))
        ));
        let not_json = STANDARD.encode("nope");
        assert!(matches!(
            from_userinfo(not_json.as_bytes()),
            Err(IdentityError::Malformed(_))
        ));
        let wrong_types = STANDARD.encode(r#"{"username":"a","groups":"x"}"#);
        assert!(matches!(
            from_userinfo(wrong_types.as_bytes()),
            Err(IdentityError::Malformed(_))
        ));
        let no_user = STANDARD.encode(r#"{"groups":["a"]}"#);
        assert_eq!(
            from_userinfo(no_user.as_bytes()),
            Err(IdentityError::NoUser)
        );
        // Which of two values a reader keeps is not a question an identity may leave open.
        for twice in [
            r#"{"username":"a","username":"b"}"#,
            r#"{"username":"a","extra":{"k":["x"],"k":["y"]}}"#,
            r#"{"username":"a","other":{"k":1,"k":2}}"#,
        ] {
            let e = from_userinfo(STANDARD.encode(twice).as_bytes()).unwrap_err();
            assert!(
                e.rejection().message.contains("duplicate keys"),
                "{twice}: {}",
                e.rejection().message
            );
        }
        for wrong in [
            r#"["a","u",["g"]]"#,
            r#""a""#,
            r#"{"username":1}"#,
            r#"{"username":"a","uid":true}"#,
            r#"{"username":"a","groups":[null]}"#,
            r#"{"username":"a","extra":[]}"#,
            r#"{"username":"a","extra":{"k":"v"}}"#,
        ] {
            let e = from_userinfo(STANDARD.encode(wrong).as_bytes()).unwrap_err();
            assert!(
                e.rejection().message.ends_with("wrong field types"),
                "{wrong}: {}",
                e.rejection().message
            );
        }
        let ignored = STANDARD.encode(r#"{"username":"a","other":[1.5,{"x":null}]}"#);
        assert_eq!(from_userinfo(ignored.as_bytes()).unwrap().username, "a");
        let nulls = STANDARD.encode(r#"{"username":"a","groups":null,"extra":{"k":null}}"#);
        let u = from_userinfo(nulls.as_bytes()).unwrap();
        assert!(u.groups.is_empty());
        assert_eq!(u.extra, vec![(Cow::Borrowed("k"), vec![])]);
    }

    #[test]
    fn error_messages_do_not_leak_values() {
        use base64::engine::general_purpose::STANDARD;
        let secret = STANDARD.encode(r#"{"username": secret-token-value}"#);
        let e = from_userinfo(secret.as_bytes()).unwrap_err();
        assert!(!e.rejection().message.contains("secret-token-value"));
    }
}
