//! Where the identity comes from: the host's dynamic metadata, behind a trait so the whole
//! request decision runs natively in tests with a mock host.
//!
//! When the configuration names the `userinfo` field, that one string is asked for first (a
//! string copy is far cheaper for Envoy than serializing the namespace struct); when it is
//! absent, the rest applies. The host is asked for the whole metadata namespace (one host
//! call). Envoy answers
//! "cannot serialize" (proxy-wasm status 3) when the namespace holds a value type it does not
//! encode; then each configured field is asked for on its own: `userinfo` first, and when that
//! is absent, user, uid, groups and extra.

use super::{from_fields, from_namespace, from_userinfo, FieldPath, IdentityError};
use super::{IdentityFields, UserInfo};

/// Why the host did not hand over a metadata value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceError {
    /// The value exists but the host cannot serialize it (proxy-wasm status 3).
    CannotSerialize,
    /// Any other host status.
    Host(u32),
}

/// Reads dynamic metadata. `Ok(None)`: no such namespace or field.
pub trait IdentitySource {
    /// The whole metadata namespace, pairs-encoded.
    fn namespace(&mut self, namespace: &str) -> Result<Option<Vec<u8>>, SourceError>;
    /// One field inside the namespace (a path through nested structs).
    fn field(&mut self, namespace: &str, path: &[String]) -> Result<Option<Vec<u8>>, SourceError>;
}

/// The identity metadata as fetched; the user is decoded from it in place (borrowing it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityMetadata {
    /// The whole namespace in one host call (`None`: no such namespace).
    Namespace(Option<Vec<u8>>),
    /// One value per structured field, in the order user, uid, groups, extra.
    Fields([Option<Vec<u8>>; 4]),
    UserInfo(Vec<u8>),
}

fn host_error(what: &str, e: SourceError) -> IdentityError {
    let status = match e {
        SourceError::CannotSerialize => 3,
        SourceError::Host(status) => status,
    };
    IdentityError::Malformed(format!("{what} unreadable (host status {status})"))
}

impl IdentityMetadata {
    /// Fetch what the user is read from, with the per-field fallback.
    pub fn fetch(
        source: &mut impl IdentitySource,
        namespace: &str,
        fields: &IdentityFields,
    ) -> Result<Self, IdentityError> {
        if fields.userinfo_first {
            match source.field(namespace, &fields.userinfo) {
                Ok(Some(info)) if !info.is_empty() => return Ok(IdentityMetadata::UserInfo(info)),
                // Absent, empty or not a string: the namespace decides, as without the hint.
                Ok(_) | Err(SourceError::CannotSerialize) => {}
                Err(e) => {
                    return Err(host_error(
                        &format!("metadata field {}", fields.userinfo.join(".")),
                        e,
                    ))
                }
            }
        }
        match source.namespace(namespace) {
            Ok(found) => Ok(IdentityMetadata::Namespace(found)),
            Err(SourceError::CannotSerialize) => {
                let mut fetch = |path: &FieldPath| {
                    source
                        .field(namespace, path)
                        .map_err(|e| host_error(&format!("metadata field {}", path.join(".")), e))
                };
                if let Some(info) = fetch(&fields.userinfo)? {
                    if !info.is_empty() {
                        return Ok(IdentityMetadata::UserInfo(info));
                    }
                }
                Ok(IdentityMetadata::Fields([
                    fetch(&fields.user)?,
                    fetch(&fields.uid)?,
                    fetch(&fields.groups)?,
                    fetch(&fields.extra)?,
                ]))
            }
            Err(e) => Err(host_error("metadata namespace", e)),
        }
    }

    /// The authenticated user.
    pub fn user(&self, fields: &IdentityFields) -> Result<UserInfo<'_>, IdentityError> {
        match self {
            IdentityMetadata::Namespace(found) => from_namespace(found.as_deref(), fields),
            IdentityMetadata::UserInfo(info) => from_userinfo(info),
            IdentityMetadata::Fields(values) => {
                let order = [&fields.user, &fields.uid, &fields.groups, &fields.extra];
                from_fields(
                    |path| {
                        Ok(order
                            .iter()
                            .zip(values.iter())
                            .find(|(p, _)| **p == path)
                            .and_then(|(_, v)| v.as_deref()))
                    },
                    fields,
                )
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod mock {
    use std::collections::HashMap;

    use super::{IdentitySource, SourceError};

    /// A host whose metadata is a map from `namespace` or `namespace.field.path` to bytes, or
    /// to a host failure; it records every path asked for.
    #[derive(Default)]
    pub struct MockHost {
        pub values: HashMap<String, Result<Vec<u8>, SourceError>>,
        pub asked: Vec<String>,
    }

    impl MockHost {
        pub fn with(mut self, key: &str, value: Result<Vec<u8>, SourceError>) -> Self {
            self.values.insert(key.to_owned(), value);
            self
        }

        fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, SourceError> {
            let found = self.values.get(&key).cloned().transpose();
            self.asked.push(key);
            found
        }
    }

    impl IdentitySource for MockHost {
        fn namespace(&mut self, namespace: &str) -> Result<Option<Vec<u8>>, SourceError> {
            self.get(namespace.to_owned())
        }

        fn field(
            &mut self,
            namespace: &str,
            path: &[String],
        ) -> Result<Option<Vec<u8>>, SourceError> {
            self.get(format!("{namespace}.{}", path.join(".")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mock::MockHost;
    use super::*;
    use crate::k8s::status::KubeError;
    use crate::wire::pairs::encode;

    const NS: &str = "authn";

    fn user_of(host: &mut MockHost) -> Result<String, IdentityError> {
        let fields = IdentityFields::default();
        let metadata = IdentityMetadata::fetch(host, NS, &fields)?;
        let user = metadata.user(&fields)?;
        Ok(format!(
            "{}|{}|{}",
            user.username,
            user.uid,
            user.groups.join(",")
        ))
    }

    #[test]
    fn whole_namespace_is_one_host_call() {
        let ns = encode([(&b"user"[..], &b"alice"[..]), (b"uid", b"u1")]);
        let mut host = MockHost::default().with(NS, Ok(ns));
        assert_eq!(user_of(&mut host).unwrap(), "alice|u1|");
        assert_eq!(host.asked, ["authn"]);
    }

    #[test]
    fn no_namespace_is_no_user() {
        let mut host = MockHost::default();
        assert_eq!(user_of(&mut host), Err(IdentityError::NoUser));
    }

    #[test]
    fn unserializable_namespace_falls_back_to_one_call_per_field() {
        let groups = encode([(&b"dev"[..], &b""[..]), (b"ops", b"")]);
        let mut host = MockHost::default()
            .with(NS, Err(SourceError::CannotSerialize))
            .with("authn.user", Ok(b"bob".to_vec()))
            .with("authn.groups", Ok(groups));
        assert_eq!(user_of(&mut host).unwrap(), "bob||dev,ops");
        assert_eq!(
            host.asked,
            [
                "authn",
                "authn.userinfo",
                "authn.user",
                "authn.uid",
                "authn.groups",
                "authn.extra"
            ]
        );
    }

    #[test]
    fn fallback_prefers_userinfo() {
        // {"username":"carol","groups":["g"]}
        let info = b"eyJ1c2VybmFtZSI6ImNhcm9sIiwiZ3JvdXBzIjpbImciXX0".to_vec();
        let mut host = MockHost::default()
            .with(NS, Err(SourceError::CannotSerialize))
            .with("authn.userinfo", Ok(info))
            .with("authn.user", Ok(b"mallory".to_vec()));
        assert_eq!(user_of(&mut host).unwrap(), "carol||g");
        assert_eq!(host.asked, ["authn", "authn.userinfo"]);
    }

    #[test]
    fn a_configured_userinfo_is_one_string_read() {
        // {"username":"carol","groups":["g"]}
        let info = b"eyJ1c2VybmFtZSI6ImNhcm9sIiwiZ3JvdXBzIjpbImciXX0".to_vec();
        let fields = IdentityFields {
            userinfo_first: true,
            ..IdentityFields::default()
        };
        let ns = encode([(&b"user"[..], &b"mallory"[..])]);
        let mut host = MockHost::default()
            .with(NS, Ok(ns.clone()))
            .with("authn.userinfo", Ok(info));
        let metadata = IdentityMetadata::fetch(&mut host, NS, &fields).unwrap();
        assert_eq!(metadata.user(&fields).unwrap().username, "carol");
        assert_eq!(host.asked, ["authn.userinfo"]);
        // Absent: the namespace decides, exactly as without the hint.
        let mut host = MockHost::default().with(NS, Ok(ns));
        let metadata = IdentityMetadata::fetch(&mut host, NS, &fields).unwrap();
        assert_eq!(metadata.user(&fields).unwrap().username, "mallory");
        assert_eq!(host.asked, ["authn.userinfo", "authn"]);
        // A host failure is not papered over.
        let mut host = MockHost::default().with("authn.userinfo", Err(SourceError::Host(2)));
        assert!(IdentityMetadata::fetch(&mut host, NS, &fields).is_err());
    }

    #[test]
    fn fallback_field_without_a_user_is_no_user() {
        let mut host = MockHost::default().with(NS, Err(SourceError::CannotSerialize));
        assert_eq!(user_of(&mut host), Err(IdentityError::NoUser));
    }

    #[test]
    fn host_failures_are_internal_errors_naming_the_field() {
        let mut host = MockHost::default().with(NS, Err(SourceError::Host(2)));
        let e = user_of(&mut host).unwrap_err();
        assert_eq!(
            e,
            IdentityError::Malformed("metadata namespace unreadable (host status 2)".into())
        );
        let mut host = MockHost::default()
            .with(NS, Err(SourceError::CannotSerialize))
            .with("authn.uid", Err(SourceError::CannotSerialize))
            .with("authn.user", Ok(b"bob".to_vec()));
        let e = user_of(&mut host).unwrap_err();
        assert_eq!(
            e,
            IdentityError::Malformed("metadata field uid unreadable (host status 3)".into())
        );
        assert_eq!(e.rejection().code(), 500);
    }
}
