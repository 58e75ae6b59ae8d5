//! Fault injection for the main port, driven from the admin API: answer with an error Status,
//! drop the connection, or delay. Faults queue up in order; each request takes the first queued
//! fault that matches it.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this HTTP status and a Kubernetes Status body.
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Close the connection abruptly (TCP reset) without answering.
    Reset,
    /// Sleep, then handle the request normally.
    Delay { millis: u64 },
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::Reset => "reset",
            FaultAction::Delay { .. } => "delay",
        }
    }
}

fn one() -> u32 {
    1
}

/// A queued fault: `count` requests (default 1), optionally only those with this method and/or
/// whose path-with-query contains `pathContains`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    #[serde(flatten)]
    pub action: FaultAction,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == 0 {
            return Err("count must be at least 1".into());
        }
        if let FaultAction::Status { status, .. } = self.action {
            if !(400..=599).contains(&status) {
                return Err(format!("status must be 400..=599, got {status}"));
            }
        }
        Ok(())
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

#[derive(Debug, Default)]
pub struct Faults {
    queue: Mutex<VecDeque<FaultSpec>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<FaultSpec>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, spec: FaultSpec) {
        self.lock().push_back(spec);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn pending(&self) -> Vec<FaultSpec> {
        self.lock().iter().cloned().collect()
    }

    /// Consumes one use of the first fault matching this request.
    pub fn take(&self, method: &str, path: &str) -> Option<FaultAction> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_the_documented_shapes() {
        assert_eq!(
            spec(r#"{"action":"status","status":503,"count":2}"#).action,
            FaultAction::Status {
                status: 503,
                reason: None,
                message: None
            }
        );
        assert_eq!(spec(r#"{"action":"reset"}"#).count, 1);
        assert_eq!(
            spec(r#"{"action":"delay","millis":3000,"count":1}"#).action,
            FaultAction::Delay { millis: 3000 }
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"action":"explode"}"#).is_err());
        assert!(spec(r#"{"action":"status","status":200}"#)
            .validate()
            .is_err());
        assert!(spec(r#"{"action":"reset","count":0}"#).validate().is_err());
    }

    #[test]
    fn queue_order_counts_and_filters() {
        let f = Faults::default();
        f.push(spec(r#"{"action":"status","status":503,"count":2}"#));
        f.push(spec(r#"{"action":"reset","method":"POST"}"#));
        f.push(spec(
            r#"{"action":"delay","millis":1,"pathContains":"watch=true"}"#,
        ));
        assert_eq!(f.take("GET", "/x").unwrap().name(), "status");
        assert_eq!(f.take("GET", "/x").unwrap().name(), "status");
        assert!(f.take("GET", "/x").is_none());
        assert_eq!(f.take("GET", "/x?watch=true").unwrap().name(), "delay");
        assert_eq!(f.take("post", "/x").unwrap().name(), "reset");
        assert!(f.pending().is_empty());
    }
}
