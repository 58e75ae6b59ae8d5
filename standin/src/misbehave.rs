//! Misbehaviour on demand, driven from the admin API: the stand-in answers a request as it
//! normally would, then spoils the answer the way a broken or hostile events server might
//! (compressed when nobody asked, mislabelled, escaped where nobody escapes, nested past every
//! parser's limit, invalid UTF-8, cut short). Tests use it to show that the proxy in front never
//! passes such an answer on raw. Queued like faults: each request takes the first queued
//! misbehaviour that matches it.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::respond::{self, Body};

/// How an answer is spoiled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Misbehaviour {
    /// gzip the body and say so; `noTransform` also sends `Cache-Control: no-transform`.
    Gzip {
        #[serde(default)]
        no_transform: bool,
    },
    /// Claim this `Content-Encoding` without encoding anything.
    ContentEncoding { value: String },
    /// Send this `Content-Type` instead, or none at all (`null` or absent).
    ContentType {
        #[serde(default)]
        value: Option<String>,
    },
    /// Replace every occurrence of `from` by `to` in the body (both as UTF-8 text).
    Replace { from: String, to: String },
    /// The keys decoders care about written with `\u` escapes: `api\u0056ersion`,
    /// `\u0069tems`, `\u006fbject`.
    EscapeKeys,
    /// Every string value naming the served API group written with escapes (`\/` for the
    /// slash, `\u0061` for the first letter).
    EscapeValues,
    /// A member nested `depth` arrays deep added to every object that has `metadata`.
    DeepNesting {
        #[serde(default = "default_depth")]
        depth: usize,
    },
    /// A byte that is not UTF-8 put at the start of every `message` value.
    InvalidUtf8,
    /// Only the first `keep` bytes of the body (half of it when absent), cleanly ended.
    Truncate {
        #[serde(default)]
        keep: Option<usize>,
    },
    /// A watch stream's first event, then the first half of the next one (of the first one if
    /// there is only one), then the end of the stream.
    HalfWatchEvent,
}

fn default_depth() -> usize {
    200
}

fn one() -> u32 {
    1
}

impl Misbehaviour {
    pub fn name(&self) -> &'static str {
        match self {
            Misbehaviour::Gzip { .. } => "gzip",
            Misbehaviour::ContentEncoding { .. } => "contentEncoding",
            Misbehaviour::ContentType { .. } => "contentType",
            Misbehaviour::Replace { .. } => "replace",
            Misbehaviour::EscapeKeys => "escapeKeys",
            Misbehaviour::EscapeValues => "escapeValues",
            Misbehaviour::DeepNesting { .. } => "deepNesting",
            Misbehaviour::InvalidUtf8 => "invalidUtf8",
            Misbehaviour::Truncate { .. } => "truncate",
            Misbehaviour::HalfWatchEvent => "halfWatchEvent",
        }
    }
}

/// A queued misbehaviour: `count` answers (default 1), optionally only to requests with this
/// method and/or whose path-with-query contains `pathContains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MisbehaveSpec {
    #[serde(flatten)]
    pub action: Misbehaviour,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
}

impl MisbehaveSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        match &self.action {
            Misbehaviour::Replace { from, .. } if from.is_empty() => {
                Err("replace needs a non-empty from".into())
            }
            Misbehaviour::DeepNesting { depth } if *depth == 0 || *depth > 100_000 => {
                Err("depth must be 1..=100000".into())
            }
            Misbehaviour::ContentEncoding { value } if HeaderValue::from_str(value).is_err() => {
                Err("contentEncoding value is not a header value".into())
            }
            Misbehaviour::ContentType { value: Some(v) } if HeaderValue::from_str(v).is_err() => {
                Err("contentType value is not a header value".into())
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
    }
}

/// The queue.
#[derive(Debug, Default)]
pub struct Misbehave {
    queue: Mutex<VecDeque<MisbehaveSpec>>,
}

impl Misbehave {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<MisbehaveSpec>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, spec: MisbehaveSpec) {
        self.lock().push_back(spec);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn pending(&self) -> Vec<MisbehaveSpec> {
        self.lock().iter().cloned().collect()
    }

    /// Consumes one use of the first misbehaviour matching this request.
    pub fn take(&self, method: &str, path: &str) -> Option<Misbehaviour> {
        let mut q = self.lock();
        let idx = q.iter().position(|f| f.matches(method, path))?;
        let spec = q.get_mut(idx)?;
        let action = spec.action.clone();
        spec.count = spec.count.saturating_sub(1);
        if spec.count == 0 {
            q.remove(idx);
        }
        Some(action)
    }
}

/// A watch stream never ends by itself: what it sent until it was quiet this long is taken as
/// the whole body (the initial events come at once).
const QUIET: Duration = Duration::from_millis(400);
/// Longest a body is read for.
const MOST: Duration = Duration::from_secs(5);

/// Read a body to its end, or (a stream) until it goes quiet.
async fn collect(mut body: Body) -> Vec<u8> {
    let mut out = Vec::new();
    let started = tokio::time::Instant::now();
    while started.elapsed() < MOST {
        match tokio::time::timeout(QUIET, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Ok(Some(Err(never))) => match never {},
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// The served group (`activity.miloapis.com` of `activity.miloapis.com/v1alpha1`).
fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Spoil `resp` (the stand-in's real answer) as `how` says. `api_version` is the served one.
pub async fn apply(how: &Misbehaviour, api_version: &str, resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let body = collect(body).await;
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = match how {
        Misbehaviour::Gzip { no_transform } => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let compressed = gz.write_all(&body).and_then(|()| gz.finish());
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            if *no_transform {
                parts.headers.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-transform"),
                );
            }
            compressed.unwrap_or_default()
        }
        Misbehaviour::ContentEncoding { value } => {
            if let Ok(v) = HeaderValue::from_str(value) {
                parts.headers.insert(header::CONTENT_ENCODING, v);
            }
            body
        }
        Misbehaviour::ContentType { value } => {
            parts.headers.remove(header::CONTENT_TYPE);
            if let Some(v) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
                parts.headers.insert(header::CONTENT_TYPE, v);
            }
            body
        }
        Misbehaviour::Replace { from, to } => replace(&body, from.as_bytes(), to.as_bytes()),
        Misbehaviour::EscapeKeys => escape_keys(&body),
        Misbehaviour::EscapeValues => escape_values(&body, group_of(api_version)),
        Misbehaviour::DeepNesting { depth } => {
            let nest = format!(
                "\"nested\":{}0{},\"metadata\":",
                "[".repeat(*depth),
                "]".repeat(*depth)
            );
            replace(&body, b"\"metadata\":", nest.as_bytes())
        }
        Misbehaviour::InvalidUtf8 => replace(&body, b"\"message\":\"", b"\"message\":\"\xff"),
        Misbehaviour::Truncate { keep } => {
            let keep = keep.unwrap_or(body.len() / 2).min(body.len());
            body.get(..keep).unwrap_or_default().to_vec()
        }
        Misbehaviour::HalfWatchEvent => half_watch_event(&body),
    };
    Response::from_parts(parts, respond::full(Bytes::from(body)))
}

fn replace(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body.get(i..).filter(|rest| rest.starts_with(from)) {
            Some(_) => {
                out.extend_from_slice(to);
                i += from.len().max(1);
            }
            None => {
                out.extend(body.get(i).copied());
                i += 1;
            }
        }
    }
    out
}

fn escape_keys(body: &[u8]) -> Vec<u8> {
    let body = replace(body, b"\"apiVersion\":", b"\"api\\u0056ersion\":");
    let body = replace(&body, b"\"items\":", b"\"\\u0069tems\":");
    replace(&body, b"\"object\":", b"\"\\u006fbject\":")
}

fn escape_values(body: &[u8], group: &str) -> Vec<u8> {
    if group.is_empty() {
        return body.to_vec();
    }
    let plain = format!("\"{group}/");
    let escaped = format!(
        "\"\\u{:04x}{}\\/",
        group.as_bytes().first().copied().unwrap_or(b'a'),
        group.get(1..).unwrap_or_default()
    );
    replace(body, plain.as_bytes(), escaped.as_bytes())
}

/// The first complete event and half of the next (or half of the only one).
fn half_watch_event(body: &[u8]) -> Vec<u8> {
    let lines: Vec<&[u8]> = body
        .split_inclusive(|b| *b == b'\n')
        .filter(|l| l.iter().any(|b| !b.is_ascii_whitespace()))
        .collect();
    match lines.as_slice() {
        [] => Vec::new(),
        [only] => only.get(..only.len() / 2).unwrap_or_default().to_vec(),
        [first, second, ..] => {
            let mut out = first.to_vec();
            out.extend_from_slice(second.get(..second.len() / 2).unwrap_or_default());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_validate() {
        let s: MisbehaveSpec =
            serde_json::from_str(r#"{"action":"gzip","pathContains":"/events","count":2}"#)
                .unwrap();
        assert_eq!(
            s.action,
            Misbehaviour::Gzip {
                no_transform: false
            }
        );
        assert!(s.validate().is_ok());
        let s: MisbehaveSpec = serde_json::from_str(r#"{"action":"deepNesting"}"#).unwrap();
        assert_eq!(s.action, Misbehaviour::DeepNesting { depth: 200 });
        let s: MisbehaveSpec =
            serde_json::from_str(r#"{"action":"replace","from":"","to":"x"}"#).unwrap();
        assert!(s.validate().is_err());
        let q = Misbehave::default();
        q.push(
            serde_json::from_str(r#"{"action":"escapeKeys","method":"GET","count":2}"#).unwrap(),
        );
        assert_eq!(q.take("POST", "/x"), None);
        assert_eq!(q.take("GET", "/x"), Some(Misbehaviour::EscapeKeys));
        assert_eq!(q.take("get", "/y"), Some(Misbehaviour::EscapeKeys));
        assert_eq!(q.take("GET", "/x"), None);
    }

    async fn spoil(how: Misbehaviour, body: &str) -> (Response<Body>, Vec<u8>) {
        let resp = respond::json(200, &serde_json::from_str(body).unwrap());
        let resp = apply(&how, "activity.miloapis.com/v1alpha1", resp).await;
        let (parts, body) = resp.into_parts();
        let bytes = collect(body).await;
        (
            Response::from_parts(parts, respond::full(Bytes::new())),
            bytes,
        )
    }

    const EVENT: &str = r#"{"kind":"Event","apiVersion":"activity.miloapis.com/v1alpha1","metadata":{"name":"e"},"message":"m"}"#;

    #[tokio::test]
    async fn each_misbehaviour_spoils_the_body_as_said() {
        let (r, b) = spoil(Misbehaviour::Gzip { no_transform: true }, EVENT).await;
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-transform");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&b[..]), &mut plain).unwrap();
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&plain).unwrap()["message"],
            "m"
        );

        let (r, _) = spoil(Misbehaviour::ContentType { value: None }, EVENT).await;
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());

        let (_, b) = spoil(Misbehaviour::EscapeKeys, EVENT).await;
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.contains(r#""api\u0056ersion":"#), "{text}");
        // Still the same JSON to a decoder.
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["apiVersion"], "activity.miloapis.com/v1alpha1");

        let (_, b) = spoil(Misbehaviour::EscapeValues, EVENT).await;
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(!text.contains("activity.miloapis.com/"), "{text}");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["apiVersion"], "activity.miloapis.com/v1alpha1");

        let (_, b) = spoil(Misbehaviour::DeepNesting { depth: 300 }, EVENT).await;
        assert!(serde_json::from_slice::<serde_json::Value>(&b).is_err());
        assert!(b.windows(300).any(|w| w.iter().all(|c| *c == b'[')));

        let (_, b) = spoil(Misbehaviour::InvalidUtf8, EVENT).await;
        assert!(std::str::from_utf8(&b).is_err());

        let (_, b) = spoil(Misbehaviour::Truncate { keep: None }, EVENT).await;
        assert!(serde_json::from_slice::<serde_json::Value>(&b).is_err());
    }

    #[test]
    fn half_a_watch_event() {
        let one = format!("{{\"type\":\"ADDED\",\"object\":{EVENT}}}\n");
        let two = format!("{one}{one}");
        let out = half_watch_event(two.as_bytes());
        assert!(out.starts_with(one.as_bytes()));
        assert_eq!(out.len(), one.len() + one.len() / 2);
        assert_eq!(half_watch_event(one.as_bytes()).len(), one.len() / 2);
    }
}
