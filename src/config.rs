//! Plugin configuration: the JSON object given to the filter in envoy.yaml, validated once in
//! `on_configure`. Unknown keys are refused so a typo cannot silently fall back to a default.

use serde::Deserialize;

use crate::identity::{FieldPath, IdentityFields};
use crate::wire::escape::header_key_escape;

pub const DEFAULT_ACTIVITY_PREFIX: &str = "/apis/activity.miloapis.com/v1alpha1";
pub const DEFAULT_METADATA_NAMESPACE: &str = "envoy.filters.http.ext_authz";
pub const DEFAULT_FORWARD_EXTRAS: [&str; 3] = [
    "iam.miloapis.com/parent-type",
    "iam.miloapis.com/parent-name",
    "iam.miloapis.com/parent-api-group",
];
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Bodies are buffered in the VM's linear memory; keep a hard ceiling.
pub const MAX_BODY_BYTES_LIMIT: usize = 64 * 1024 * 1024;

/// Where the events.k8s.io/v1 OpenAPI v3 document is served (by Envoy, from
/// `envoy/discovery/`); the hash is the document's SHA-512, as kube-apiserver's index carries it.
pub const DEFAULT_EVENTS_OPENAPI_V3_URL: &str = "/openapi/v3/apis/events.k8s.io/v1?hash=F1C7332ACECB5A4EBF683BFE18C1C7778600939A000EB0BE1BE8754F828FFADA0564097D66EE6607DC697196BAF2338B6F1A88244DCA31D62FFA57062C67C84B";

/// The standard-paths prefix: each API keeps its own path and nothing is converted.
pub const STANDARD_PREFIX: &str = "/api/v1";

/// Where event requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream<'a> {
    /// Every event path becomes `{prefix}/namespaces/{ns}/events[/{name}]` or `{prefix}/events`.
    Prefix(&'a str),
    /// The upstream serves the standard Kubernetes paths of both APIs: paths keep their API.
    Standard,
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub activity_prefix: String,
    /// `apiVersion` of the objects stored under the prefix (`group/version`).
    pub activity_api_version: String,
    pub metadata_namespace: String,
    pub identity: IdentityFields,
    /// Allowlisted extra keys with their precomputed header names.
    pub forward_extras: Vec<ForwardExtra>,
    pub max_body_bytes: usize,
    /// Largest single object held back to convert a response (an object, a list item, one
    /// watch event).
    pub max_response_object_bytes: usize,
    /// `serverRelativeURL` of the events.k8s.io/v1 document added to Milo's OpenAPI v3 index.
    pub events_openapi_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardExtra {
    pub key: String,
    /// `x-remote-extra-<escaped key>`; Envoy lower-cases header names anyway.
    pub header: String,
}

impl ForwardExtra {
    fn new(key: &str) -> Self {
        ForwardExtra {
            key: key.to_owned(),
            header: format!("x-remote-extra-{}", header_key_escape(key)),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            activity_prefix: DEFAULT_ACTIVITY_PREFIX.to_owned(),
            activity_api_version: "activity.miloapis.com/v1alpha1".to_owned(),
            metadata_namespace: DEFAULT_METADATA_NAMESPACE.to_owned(),
            identity: IdentityFields::default(),
            forward_extras: DEFAULT_FORWARD_EXTRAS
                .iter()
                .map(|k| ForwardExtra::new(k))
                .collect(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_response_object_bytes: DEFAULT_MAX_BODY_BYTES,
            events_openapi_url: DEFAULT_EVENTS_OPENAPI_V3_URL.to_owned(),
        }
    }
}

impl Config {
    pub fn upstream(&self) -> Upstream<'_> {
        if self.activity_prefix == STANDARD_PREFIX {
            Upstream::Standard
        } else {
            Upstream::Prefix(&self.activity_prefix)
        }
    }

    /// The `apiVersion` write bodies are re-tagged with; `None` in standard-paths mode.
    pub fn upstream_api_version(&self) -> Option<&str> {
        match self.upstream() {
            Upstream::Standard => None,
            Upstream::Prefix(_) => Some(&self.activity_api_version),
        }
    }

    /// Whether the scope extras reach Activity; without them it cannot filter reads by tenant.
    pub fn forwards_scope_extras(&self) -> bool {
        [
            "iam.miloapis.com/parent-type",
            "iam.miloapis.com/parent-name",
        ]
        .iter()
        .all(|k| self.forward_extras.iter().any(|e| e.key == *k))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid plugin configuration: {}", self.0)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    activity_prefix: Option<String>,
    activity_api_version: Option<String>,
    identity: Option<RawIdentity>,
    forward_extras: Option<Vec<String>>,
    max_body_bytes: Option<u64>,
    max_response_object_bytes: Option<u64>,
    events_openapi_v3_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    metadata_namespace: Option<String>,
    user: Option<RawPath>,
    uid: Option<RawPath>,
    groups: Option<RawPath>,
    extra: Option<RawPath>,
    userinfo: Option<RawPath>,
}

/// A field is one key, or a list of keys into nested structs.
enum RawPath {
    Key(String),
    Path(Vec<String>),
}

/// By hand rather than `#[serde(untagged)]`: an untagged enum buffers the value in serde's
/// `Content` tree and tries each variant on it, which pulls that whole machinery (several KB of
/// wasm) into the filter for this one field. Same inputs accepted: a string or a list of strings.
impl<'de> Deserialize<'de> for RawPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyOrPath;
        impl<'de> serde::de::Visitor<'de> for KeyOrPath {
            type Value = RawPath;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a key or a list of keys")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPath, E> {
                Ok(RawPath::Key(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawPath, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = seq.next_element::<String>()? {
                    keys.push(k);
                }
                Ok(RawPath::Path(keys))
            }
        }
        d.deserialize_any(KeyOrPath)
    }
}

fn field_path(
    name: &str,
    raw: Option<RawPath>,
    default: FieldPath,
) -> Result<FieldPath, ConfigError> {
    let path = match raw {
        None => return Ok(default),
        Some(RawPath::Key(k)) => vec![k],
        Some(RawPath::Path(p)) => p,
    };
    if path.is_empty() || path.iter().any(String::is_empty) {
        return Err(ConfigError(format!(
            "identity.{name} must be a non-empty key or list of non-empty keys"
        )));
    }
    Ok(path)
}

/// Parse and validate. An absent or empty configuration means all defaults.
pub fn parse(bytes: Option<&[u8]>) -> Result<Config, ConfigError> {
    let bytes = bytes.unwrap_or_default();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Config::default());
    }
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        // Envoy hands a google.protobuf.Struct over in protobuf binary, not JSON.
        return Err(ConfigError(
            "expected a JSON object; give it as a google.protobuf.StringValue holding JSON text"
                .into(),
        ));
    }
    let raw: RawConfig =
        serde_json::from_slice(bytes).map_err(|e| ConfigError(format!("not valid JSON: {e}")))?;
    let mut config = Config::default();

    if let Some(prefix) = raw.activity_prefix {
        validate_prefix(&prefix)?;
        config.activity_prefix = prefix;
    }
    config.activity_api_version = match raw.activity_api_version {
        Some(v) if is_group_version(&v) => v,
        Some(v) => {
            return Err(ConfigError(format!(
                "activity_api_version '{v}' must be 'group/version' or 'v1'"
            )))
        }
        None => api_version_of(&config.activity_prefix).ok_or_else(|| {
            ConfigError(format!(
                "cannot tell the apiVersion of '{}'; set activity_api_version",
                config.activity_prefix
            ))
        })?,
    };
    if let Some(id) = raw.identity {
        if let Some(ns) = id.metadata_namespace {
            if ns.is_empty() {
                return Err(ConfigError(
                    "identity.metadata_namespace must not be empty".into(),
                ));
            }
            config.metadata_namespace = ns;
        }
        let d = IdentityFields::default();
        // Only when `userinfo` is all the configuration names (an authorizer's one string):
        // a configuration that also names structured fields expects them in the namespace, whose
        // one read finds `userinfo` too, so asking for `userinfo` first would be a wasted call.
        let userinfo_first = id.userinfo.is_some()
            && id.user.is_none()
            && id.uid.is_none()
            && id.groups.is_none()
            && id.extra.is_none();
        config.identity = IdentityFields {
            user: field_path("user", id.user, d.user)?,
            uid: field_path("uid", id.uid, d.uid)?,
            groups: field_path("groups", id.groups, d.groups)?,
            extra: field_path("extra", id.extra, d.extra)?,
            userinfo: field_path("userinfo", id.userinfo, d.userinfo)?,
            userinfo_first,
        };
    }
    if let Some(extras) = raw.forward_extras {
        let mut seen: Vec<ForwardExtra> = Vec::with_capacity(extras.len());
        for key in extras {
            if key.is_empty() {
                return Err(ConfigError(
                    "forward_extras must not contain empty keys".into(),
                ));
            }
            if seen.iter().any(|e| e.key == key) {
                return Err(ConfigError(format!("forward_extras lists '{key}' twice")));
            }
            seen.push(ForwardExtra::new(&key));
        }
        config.forward_extras = seen;
    }
    if let Some(max) = raw.max_body_bytes {
        config.max_body_bytes = byte_limit("max_body_bytes", max)?;
    }
    if let Some(url) = raw.events_openapi_v3_url {
        if !url.starts_with('/') || url.chars().any(|c| c.is_control() || c == '"') {
            return Err(ConfigError(format!(
                "events_openapi_v3_url '{url}' must be a server-relative URL"
            )));
        }
        config.events_openapi_url = url;
    }
    if let Some(max) = raw.max_response_object_bytes {
        config.max_response_object_bytes = byte_limit("max_response_object_bytes", max)?;
    }
    Ok(config)
}

fn byte_limit(name: &str, value: u64) -> Result<usize, ConfigError> {
    let v = usize::try_from(value).unwrap_or(usize::MAX);
    if v == 0 || v > MAX_BODY_BYTES_LIMIT {
        return Err(ConfigError(format!(
            "{name} must be between 1 and {MAX_BODY_BYTES_LIMIT}"
        )));
    }
    Ok(v)
}

/// `/apis/{group}/{version}` (possibly below a path prefix) or `/api/v1`.
fn api_version_of(prefix: &str) -> Option<String> {
    let segs: Vec<&str> = prefix.split('/').collect();
    match segs.as_slice() {
        [.., "apis", group, version] => Some(format!("{group}/{version}")),
        [.., "api", version] => Some((*version).to_owned()),
        _ => None,
    }
}

fn is_group_version(v: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    };
    match v.split_once('/') {
        Some((g, ver)) => ok(g) && ok(ver),
        None => ok(v),
    }
}

fn validate_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("//")
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~'))
        && !prefix.split('/').any(|s| s == "." || s == "..");
    if ok {
        Ok(())
    } else {
        Err(ConfigError(format!(
            "activity_prefix '{prefix}' must be an absolute path without a trailing '/', query, escapes or dot segments (e.g. {DEFAULT_ACTIVITY_PREFIX})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_issue() {
        let c = parse(None).unwrap();
        assert_eq!(c, parse(Some(b"  ")).unwrap());
        assert_eq!(c, parse(Some(b"{}")).unwrap());
        assert_eq!(c.activity_prefix, "/apis/activity.miloapis.com/v1alpha1");
        assert_eq!(c.metadata_namespace, "envoy.filters.http.ext_authz");
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(
            c.forward_extras
                .iter()
                .map(|e| e.header.as_str())
                .collect::<Vec<_>>(),
            vec![
                "x-remote-extra-iam.miloapis.com%2Fparent-type",
                "x-remote-extra-iam.miloapis.com%2Fparent-name",
                "x-remote-extra-iam.miloapis.com%2Fparent-api-group",
            ]
        );
        assert!(c.forwards_scope_extras());
        assert_eq!(
            c.upstream(),
            Upstream::Prefix("/apis/activity.miloapis.com/v1alpha1")
        );
    }

    #[test]
    fn the_documented_example_parses() {
        let c = parse(Some(include_bytes!("../testdata/config-full.json"))).unwrap();
        // Every default spelled out: the structured fields are named too, so the namespace is
        // read first (it holds `userinfo` as well).
        assert_eq!(c, Config::default());
    }

    #[test]
    fn nested_identity_paths_and_standard_mode() {
        let c = parse(Some(
            br#"{"activity_prefix":"/api/v1","identity":{"metadata_namespace":"envoy.filters.http.jwt_authn",
                "user":["jwt_payload","sub"],"groups":["jwt_payload","groups"]},
                "forward_extras":["a/b"],"max_body_bytes":2048}"#,
        ))
        .unwrap();
        assert_eq!(c.upstream(), Upstream::Standard);
        assert_eq!(c.upstream_api_version(), None);
        assert_eq!(
            c.identity.user,
            vec!["jwt_payload".to_owned(), "sub".to_owned()]
        );
        assert_eq!(c.identity.uid, vec!["uid".to_owned()]);
        assert_eq!(c.forward_extras[0].header, "x-remote-extra-a%2Fb");
        assert_eq!(c.max_body_bytes, 2048);
        assert!(!c.forwards_scope_extras());
    }

    #[test]
    fn api_version_follows_the_prefix() {
        let c = parse(Some(
            br#"{"activity_prefix":"/proxy/apis/x.example.com/v2"}"#,
        ))
        .unwrap();
        assert_eq!(c.upstream_api_version(), Some("x.example.com/v2"));
        let c = parse(Some(
            br#"{"activity_prefix":"/custom","activity_api_version":"a.b/v1"}"#,
        ))
        .unwrap();
        assert_eq!(c.upstream_api_version(), Some("a.b/v1"));
        assert!(parse(Some(br#"{"activity_prefix":"/custom"}"#)).is_err());
        assert!(parse(Some(br#"{"activity_api_version":"A/B"}"#)).is_err());
    }

    #[test]
    fn invalid_configurations_are_refused() {
        for bad in [
            &br#"{"activity_prefx":"/x"}"#[..],
            br#"not json"#,
            br#"[]"#,
            b"\n\x1b\n\x0emax_body_bytes",
            br#"{"activity_prefix":"apis/x"}"#,
            br#"{"activity_prefix":"/apis/x/"}"#,
            br#"{"activity_prefix":"/apis/x?y=1"}"#,
            br#"{"activity_prefix":"/apis/../x"}"#,
            br#"{"activity_prefix":"/apis/%2e"}"#,
            br#"{"identity":{"user":""}}"#,
            br#"{"identity":{"user":[]}}"#,
            br#"{"identity":{"metadata_namespace":""}}"#,
            br#"{"identity":{"usr":"x"}}"#,
            br#"{"forward_extras":["a","a"]}"#,
            br#"{"forward_extras":[""]}"#,
            br#"{"max_body_bytes":0}"#,
            br#"{"max_body_bytes":-1}"#,
            br#"{"max_body_bytes":1e20}"#,
            br#"{"max_body_bytes":999999999999}"#,
            br#"{"max_response_object_bytes":0}"#,
        ] {
            let e = parse(Some(bad));
            assert!(e.is_err(), "{}", String::from_utf8_lossy(bad));
            assert!(e
                .unwrap_err()
                .to_string()
                .starts_with("invalid plugin configuration"));
        }
    }
}
