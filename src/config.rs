//! Plugin configuration: the JSON object given to the filter in envoy.yaml, validated once in
//! `on_configure`. Unknown keys are refused so a typo cannot silently fall back to a default.

use serde_json::{Map, Value};

use crate::identity::{FieldPath, IdentityFields};
use crate::wire::escape::header_key_escape;
use crate::wire::strict_json;

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

/// The members of the configuration and of its `identity` object; anything else is refused, so
/// a typo cannot silently fall back to a default.
const CONFIG_FIELDS: &[&str] = &[
    "activity_prefix",
    "activity_api_version",
    "identity",
    "forward_extras",
    "max_body_bytes",
    "max_response_object_bytes",
    "events_openapi_v3_url",
];
const IDENTITY_FIELDS: &[&str] = &[
    "metadata_namespace",
    "user",
    "uid",
    "groups",
    "extra",
    "userinfo",
];

/// An object's members, taken out by name. `null` counts as absent, as it did for the optional
/// fields of the typed reader this replaces (see `wire::strict_json` for why it went).
struct Members(Map<String, Value>);

impl Members {
    fn of(what: &str, value: Value, known: &[&str]) -> Result<Self, ConfigError> {
        let Value::Object(map) = value else {
            return Err(ConfigError(format!("{what} must be a JSON object")));
        };
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let expected: Vec<String> = known.iter().map(|k| format!("`{k}`")).collect();
            return Err(ConfigError(format!(
                "unknown field `{unknown}` in {what}, expected one of {}",
                expected.join(", ")
            )));
        }
        Ok(Members(map))
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key).filter(|v| !v.is_null())
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        self.take(key).map(|v| string(key, v)).transpose()
    }
}

fn string(name: &str, value: Value) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(ConfigError(format!("{name} must be a string"))),
    }
}

fn strings(name: &str, value: Value) -> Result<Vec<String>, ConfigError> {
    match value {
        Value::Array(items) => items.into_iter().map(|i| string(name, i)).collect(),
        _ => Err(ConfigError(format!("{name} must be a list of strings"))),
    }
}

/// A field is one key, or a list of keys into nested structs.
fn field_path(
    name: &str,
    raw: Option<Value>,
    default: FieldPath,
) -> Result<FieldPath, ConfigError> {
    let path = match raw {
        None => return Ok(default),
        Some(Value::String(k)) => vec![k],
        // Anything but a list of strings is refused below, as an empty path would be.
        Some(keys) => strings(name, keys).unwrap_or_default(),
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
    let value =
        strict_json::parse(bytes).map_err(|e| ConfigError(format!("not valid JSON: {e}")))?;
    let mut raw = Members::of("the configuration", value, CONFIG_FIELDS)?;
    let mut config = Config::default();

    if let Some(prefix) = raw.string("activity_prefix")? {
        validate_prefix(&prefix)?;
        config.activity_prefix = prefix;
    }
    config.activity_api_version = match raw.string("activity_api_version")? {
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
    if let Some(id) = raw.take("identity") {
        let mut id = Members::of("identity", id, IDENTITY_FIELDS)?;
        if let Some(ns) = id.string("metadata_namespace")? {
            if ns.is_empty() {
                return Err(ConfigError(
                    "identity.metadata_namespace must not be empty".into(),
                ));
            }
            config.metadata_namespace = ns;
        }
        let d = IdentityFields::default();
        let (user, uid, groups, extra, userinfo) = (
            id.take("user"),
            id.take("uid"),
            id.take("groups"),
            id.take("extra"),
            id.take("userinfo"),
        );
        // Only when `userinfo` is all the configuration names (an authorizer's one string):
        // a configuration that also names structured fields expects them in the namespace, whose
        // one read finds `userinfo` too, so asking for `userinfo` first would be a wasted call.
        let userinfo_first = userinfo.is_some()
            && user.is_none()
            && uid.is_none()
            && groups.is_none()
            && extra.is_none();
        config.identity = IdentityFields {
            user: field_path("user", user, d.user)?,
            uid: field_path("uid", uid, d.uid)?,
            groups: field_path("groups", groups, d.groups)?,
            extra: field_path("extra", extra, d.extra)?,
            userinfo: field_path("userinfo", userinfo, d.userinfo)?,
            userinfo_first,
        };
    }
    if let Some(extras) = raw.take("forward_extras") {
        let extras = strings("forward_extras", extras)?;
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
    if let Some(max) = raw.take("max_body_bytes") {
        config.max_body_bytes = byte_limit("max_body_bytes", &max)?;
    }
    if let Some(url) = raw.string("events_openapi_v3_url")? {
        if !url.starts_with('/') || url.chars().any(|c| c.is_control() || c == '"') {
            return Err(ConfigError(format!(
                "events_openapi_v3_url '{url}' must be a server-relative URL"
            )));
        }
        config.events_openapi_url = url;
    }
    if let Some(max) = raw.take("max_response_object_bytes") {
        config.max_response_object_bytes = byte_limit("max_response_object_bytes", &max)?;
    }
    Ok(config)
}

/// A whole number of bytes; a fraction, a negative number or anything else is out of range.
fn byte_limit(name: &str, value: &Value) -> Result<usize, ConfigError> {
    let v = value
        .as_u64()
        .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
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
    fn null_means_the_default() {
        let c = parse(Some(
            br#"{"activity_prefix":null,"identity":null,"forward_extras":null,"max_body_bytes":null}"#,
        ))
        .unwrap();
        assert_eq!(c, Config::default());
        let c = parse(Some(br#"{"identity":{"user":null,"userinfo":"ui"}}"#)).unwrap();
        assert!(c.identity.userinfo_first);
    }

    #[test]
    fn refusals_name_the_field() {
        let e = |text: &[u8]| parse(Some(text)).unwrap_err().to_string();
        assert_eq!(
            e(br#"{"activity_prefx":"/x"}"#),
            "invalid plugin configuration: unknown field `activity_prefx` in the configuration, \
             expected one of `activity_prefix`, `activity_api_version`, `identity`, \
             `forward_extras`, `max_body_bytes`, `max_response_object_bytes`, \
             `events_openapi_v3_url`"
        );
        assert!(e(br#"{"identity":{"usr":"x"}}"#).contains("unknown field `usr` in identity"));
        assert!(e(br#"{"activity_prefix":5}"#).ends_with("activity_prefix must be a string"));
        assert!(e(br#"{"max_body_bytes":1.5}"#)
            .ends_with("max_body_bytes must be between 1 and 67108864"));
        assert!(e(br#"{"identity":{},"identity":{}}"#)
            .contains("not valid JSON: duplicate key \"identity\" at line 1"));
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
            br#"{"max_body_bytes":1024.0}"#,
            br#"{"max_body_bytes":"1024"}"#,
            br#"{"activity_prefix":5}"#,
            br#"{"activity_prefix":"/a","activity_prefix":"/b"}"#,
            br#"{"identity":{"user":"a","user":"b"}}"#,
            br#"{"identity":{"user":["a",1]}}"#,
            br#"{"identity":{"user":{"a":"b"}}}"#,
            br#"{"identity":"x"}"#,
            br#"{"forward_extras":"a"}"#,
            br#"{"forward_extras":["a",null]}"#,
            br#"{"events_openapi_v3_url":["/x"]}"#,
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
