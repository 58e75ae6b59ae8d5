//! Assertions in Envoy's terms, so tests read as what the proxy and the client see.

use serde_json::Value as Json;

use crate::abi::LogLevel;
use crate::driver::{Stream, Vm};
use crate::host::LocalReply;

/// `RequestEntityTooLarge` → `request_entity_too_large`.
fn snake(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl Stream {
    /// Exactly one local reply, with this HTTP status; returns it for further checks.
    #[track_caller]
    pub fn expect_local_reply(&self, status: u32) -> LocalReply {
        let replies = self.local_replies();
        assert_eq!(
            replies.len(),
            1,
            "expected one local reply {status}, got {replies:?}\ncalls: {:#?}",
            self.calls()
        );
        let reply = replies[0].clone();
        assert_eq!(
            reply.status,
            status,
            "local reply status; body: {}",
            String::from_utf8_lossy(&reply.body)
        );
        reply
    }

    /// A refusal as Kubernetes clients expect it: one local reply with this status, details
    /// `activity_events_<reason>`, `content-type: application/json`, a `Status` body with
    /// this reason and code, and the request not sent on. Returns the `Status` object.
    #[track_caller]
    pub fn expect_status_reply(&self, status: u32, reason: &str) -> Json {
        let reply = self.expect_local_reply(status);
        assert_eq!(reply.details, format!("activity_events_{}", snake(reason)));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let body: Json = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
            panic!(
                "the local reply body is not JSON ({e}): {}",
                String::from_utf8_lossy(&reply.body)
            )
        });
        assert_eq!(body["kind"], "Status", "{body}");
        assert_eq!(body["apiVersion"], "v1", "{body}");
        assert_eq!(body["status"], "Failure", "{body}");
        assert_eq!(body["reason"], reason, "{body}");
        assert_eq!(body["code"], status, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a Status without a message: {body}"
        );
        // The client gets the reply as sent: the filter's own response callbacks leave it be.
        assert_eq!(self.client_header(":status"), Some(status.to_string()));
        assert_eq!(
            self.client_body(),
            reply.body,
            "the client got another body"
        );
        assert!(
            !self.upstream_complete(),
            "a refused request must not reach the upstream"
        );
        body
    }

    #[track_caller]
    pub fn expect_no_local_reply(&self) {
        let replies = self.local_replies();
        assert!(
            replies.is_empty(),
            "unexpected local reply: {:?} {}",
            replies.first().map(|r| (r.status, &r.details)),
            replies
                .first()
                .map(|r| String::from_utf8_lossy(&r.body).into_owned())
                .unwrap_or_default()
        );
    }

    /// The host calls this stream made, in order, compared line by line.
    #[track_caller]
    pub fn expect_calls(&self, expected: &[&str]) {
        let got = self.calls();
        assert_eq!(
            got, expected,
            "host calls differ\n got: {got:#?}\nwant: {expected:#?}"
        );
    }

    /// How many calls of one import this stream made.
    pub fn count_calls(&self, import: &str) -> usize {
        self.host_calls()
            .iter()
            .filter(|c| c.name == import)
            .count()
    }

    /// The response body the client got, as JSON.
    #[track_caller]
    pub fn client_json(&self) -> Json {
        let body = self.client_body();
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "the client body is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    /// The request body that went upstream, as JSON.
    #[track_caller]
    pub fn upstream_json(&self) -> Json {
        let body = self.upstream_body();
        serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "the upstream body is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        })
    }
}

impl Vm {
    /// Exactly one log line at `level` or above, containing `text`; returns it.
    #[track_caller]
    pub fn expect_one_log(&self, level: LogLevel, text: &str) -> String {
        let lines = self.logs_at(level);
        assert_eq!(
            lines.len(),
            1,
            "expected one log line at {level:?} or above, got {lines:#?}"
        );
        assert!(
            lines[0].contains(text),
            "log line {:?} lacks {text:?}",
            lines[0]
        );
        lines[0].clone()
    }

    #[track_caller]
    pub fn expect_counter(&self, name: &str, value: i64) {
        assert_eq!(
            self.counter(name),
            Some(value),
            "counter {name}; defined: {:?}",
            self.metric_names()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_become_metric_names() {
        assert_eq!(
            super::snake("RequestEntityTooLarge"),
            "request_entity_too_large"
        );
        assert_eq!(super::snake("Forbidden"), "forbidden");
    }
}
