//! The stored object: k8s-openapi's core/v1 `Event`, with `None` meaning Go's zero value
//! throughout (see [`crate::gojson`]), plus the few accessors and server-side helpers every
//! handler needs.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub use k8s_openapi::api::core::v1::Event;

pub fn name(e: &Event) -> &str {
    e.metadata.name.as_deref().unwrap_or("")
}

pub fn namespace(e: &Event) -> &str {
    e.metadata.namespace.as_deref().unwrap_or("")
}

pub fn uid(e: &Event) -> &str {
    e.metadata.uid.as_deref().unwrap_or("")
}

pub fn resource_version(e: &Event) -> &str {
    e.metadata.resource_version.as_deref().unwrap_or("")
}

pub fn generate_name(e: &Event) -> &str {
    e.metadata.generate_name.as_deref().unwrap_or("")
}

pub fn annotation<'a>(e: &'a Event, key: &str) -> &'a str {
    e.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map_or("", String::as_str)
}

/// `Some(s)` unless `s` is Go's zero value.
#[cfg(test)]
pub fn go_string(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The current time as the API server stamps `creationTimestamp` (whole seconds).
pub fn now() -> Time {
    Time(crate::gojson::truncate(jiff::Timestamp::now(), false))
}

/// An empty event carrying only a resourceVersion: a watch BOOKMARK's object.
pub fn bookmark(resource_version: u64) -> Event {
    let mut e = Event::default();
    e.metadata.resource_version = Some(resource_version.to_string());
    e
}

/// `generateName` suffix: five characters from Kubernetes' alphabet (no vowels, no ambiguous
/// digits), like apiserver's `SimpleNameGenerator`.
pub fn generated_name(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let suffix: String = bytes
        .iter()
        .take(5)
        .map(|b| {
            let i = usize::from(*b) % ALPHABET.len();
            char::from(ALPHABET.get(i).copied().unwrap_or(b'x'))
        })
        .collect();
    format!("{prefix}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_default_to_go_zero_values() {
        let mut e = Event::default();
        assert_eq!((name(&e), namespace(&e), uid(&e)), ("", "", ""));
        e.metadata.name = go_string("n");
        assert_eq!(name(&e), "n");
        assert_eq!(go_string(""), None);
        assert_eq!(resource_version(&bookmark(7)), "7");
        let g = generated_name("ev-");
        assert_eq!(g.len(), 8);
        assert!(g.starts_with("ev-"));
        assert!(crate::gojson::format_time(now().0, false).ends_with('Z'));
    }
}
