//! The request log: every request that reached the stand-in, with what Milo would have made of
//! it (decoded path, parent context, served path, route class), who it authenticated as, the
//! answer, and for reviews the review itself. Tests read it to prove, for example, that no
//! Event request ever reached Milo.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::jiff::Timestamp;

use serde::Serialize;
use serde_json::Value;

use crate::parent::Parent;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Arrival order, from 1.
    pub seq: u64,
    /// Arrival time, RFC 3339 (UTC).
    pub time: String,
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub raw_path: String,
    pub query: Option<String>,
    /// The percent-decoded path, as Go's `URL.Path` (lossy UTF-8); `None` when it did not
    /// decode.
    pub path: Option<String>,
    /// The control-plane context taken from the URL prefix.
    pub parent: Option<Parent>,
    /// The path after the control-plane prefix was stripped.
    pub served_path: Option<String>,
    /// `health`, `discovery`, `openapi`, `namespace`, `tokenReview`, `subjectAccessReview`,
    /// `event`, `other`, or `invalid` (refused before routing).
    pub class: String,
    /// For `event`: `core/v1` or `events.k8s.io`.
    pub event_api: Option<String>,
    /// Authenticated user name; `None` when unauthenticated.
    pub user: Option<String>,
    pub groups: Vec<String>,
    /// `token` or `certificate`.
    pub authenticated_by: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Status answered; `None` while in flight.
    pub status: Option<u16>,
    /// Injected fault applied (`status` or `hang`).
    pub fault: Option<String>,
    pub review: Option<ReviewRecord>,
}

/// A TokenReview or SubjectAccessReview: what was asked and what was answered.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRecord {
    /// `TokenReview` or `SubjectAccessReview`.
    pub kind: String,
    pub spec: Value,
    /// The answered `status`; `None` when the review was refused or faulted.
    pub status: Option<Value>,
}

impl RecordedRequest {
    pub fn is_event(&self) -> bool {
        self.class == "event"
    }
}

#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<(u64, Vec<RecordedRequest>)>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<RecordedRequest>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `r` under the next sequence number and returns it.
    pub fn push(&self, mut r: RecordedRequest) -> u64 {
        let mut inner = self.lock();
        inner.0 += 1;
        r.seq = inner.0;
        let seq = r.seq;
        inner.1.push(r);
        seq
    }

    pub fn update(&self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let mut inner = self.lock();
        if let Some(r) = inner.1.iter_mut().rev().find(|r| r.seq == seq) {
            f(r);
        }
    }

    pub fn all(&self) -> Vec<RecordedRequest> {
        self.lock().1.clone()
    }

    pub fn clear(&self) {
        self.lock().1.clear();
    }
}

/// The current time, to the millisecond (jiff as k8s-openapi builds it has no clock).
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

pub fn now_rfc3339() -> String {
    now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(class: &str) -> RecordedRequest {
        RecordedRequest {
            seq: 0,
            time: now_rfc3339(),
            method: "GET".into(),
            raw_path: "/".into(),
            query: None,
            path: Some("/".into()),
            parent: None,
            served_path: Some("/".into()),
            class: class.into(),
            event_api: None,
            user: None,
            groups: vec![],
            authenticated_by: None,
            accept: None,
            user_agent: None,
            version: "HTTP/1.1".into(),
            status: None,
            fault: None,
            review: None,
        }
    }

    #[test]
    fn sequence_update_clear() {
        let r = Recorder::default();
        assert_eq!(r.push(req("discovery")), 1);
        let seq = r.push(req("event"));
        r.update(seq, |x| x.status = Some(404));
        let all = r.all();
        assert_eq!(all.len(), 2);
        assert!(all[1].is_event());
        assert_eq!(all[1].status, Some(404));
        r.clear();
        assert!(r.all().is_empty());
        assert_eq!(r.push(req("other")), 3);
        assert!(now_rfc3339().ends_with('Z'));
    }
}
