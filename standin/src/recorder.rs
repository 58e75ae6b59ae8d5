//! Every main-port request, as received, for tests to inspect through the admin API.

use std::collections::BTreeMap;
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::HeaderMap;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    /// Arrival order, counting from 1 since the server started.
    pub seq: u64,
    /// Arrival time, RFC 3339 with milliseconds.
    pub time: String,
    pub method: String,
    /// Path with the query string, exactly as received.
    pub path: String,
    /// Request authority: the URI's (HTTP/2 `:authority`) or else the `host` header.
    pub authority: Option<String>,
    /// Lower-cased header names; repeated headers keep every value, in order.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The body as UTF-8, or base64 when `bodyBase64` is true.
    pub body: String,
    pub body_base64: bool,
    /// Common Name of the client certificate's subject.
    pub client_cn: Option<String>,
    pub remote_addr: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Status answered; null while in flight or when the connection was reset.
    pub status: Option<u16>,
    /// Injected fault applied to this request: `status`, `reset` or `delay`.
    pub fault: Option<String>,
}

/// What is known about a request when it arrives.
pub struct Arrival<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authority: Option<String>,
    pub version: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub client_cn: Option<String>,
    pub remote_addr: String,
}

#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<(u64, Vec<RecordedRequest>)>,
}

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Vec<RecordedRequest>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records an arriving request and returns its sequence number.
    pub fn arrive(&self, a: Arrival<'_>) -> u64 {
        let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in a.headers {
            headers
                .entry(name.as_str().to_string())
                .or_default()
                .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
        }
        let (body, body_base64) = match std::str::from_utf8(a.body) {
            Ok(s) => (s.to_string(), false),
            Err(_) => (STANDARD.encode(a.body), true),
        };
        let now = time::OffsetDateTime::now_utc();
        let time = now
            .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
            .unwrap_or(now)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut inner = self.lock();
        inner.0 += 1;
        let seq = inner.0;
        inner.1.push(RecordedRequest {
            seq,
            time,
            method: a.method.to_string(),
            path: a.path.to_string(),
            authority: a.authority,
            headers,
            body,
            body_base64,
            client_cn: a.client_cn,
            remote_addr: a.remote_addr,
            version: a.version.to_string(),
            status: None,
            fault: None,
        });
        seq
    }

    pub fn set_status(&self, seq: u64, status: u16) {
        self.update(seq, |r| r.status = Some(status));
    }

    pub fn set_fault(&self, seq: u64, fault: &str) {
        self.update(seq, |r| r.fault = Some(fault.to_string()));
    }

    fn update(&self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn records_headers_in_order_and_binary_bodies() {
        let r = Recorder::default();
        let mut h = HeaderMap::new();
        h.append("X-Remote-Group", HeaderValue::from_static("a"));
        h.append("x-remote-group", HeaderValue::from_static("b"));
        let seq = r.arrive(Arrival {
            method: "POST",
            path: "/p?q=1",
            authority: None,
            version: "HTTP/1.1",
            headers: &h,
            body: &[0xff, 0x00],
            client_cn: Some("cn".into()),
            remote_addr: "127.0.0.1:1".into(),
        });
        r.set_status(seq, 201);
        r.set_fault(seq, "delay");
        let all = r.all();
        assert_eq!(all.len(), 1);
        let rec = &all[0];
        assert_eq!(rec.headers["x-remote-group"], vec!["a", "b"]);
        assert!(rec.body_base64);
        assert_eq!(rec.body, "/wA=");
        assert_eq!(rec.status, Some(201));
        assert_eq!(rec.fault.as_deref(), Some("delay"));
        r.clear();
        assert!(r.all().is_empty());
        let next = r.arrive(Arrival {
            method: "GET",
            path: "/",
            authority: None,
            version: "HTTP/1.1",
            headers: &HeaderMap::new(),
            body: b"",
            client_cn: None,
            remote_addr: String::new(),
        });
        assert_eq!(next, 2);
    }
}
