//! Faults for tests, set on the admin port: make reviews answer an error status, or hang for a
//! while before answering. A fault stays until cleared, or for `count` reviews when given.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this status (500..=599) and a Kubernetes Status body.
    Status {
        #[serde(default = "default_status")]
        status: u16,
    },
    /// Wait this long, then answer normally (the client may give up first).
    Hang { seconds: f64 },
}

fn default_status() -> u16 {
    500
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::Hang { .. } => "hang",
        }
    }

    pub fn hang_duration(&self) -> Option<Duration> {
        match self {
            FaultAction::Hang { seconds } => Some(Duration::from_secs_f64(*seconds)),
            FaultAction::Status { .. } => None,
        }
    }
}

/// Which reviews a fault applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FaultTarget {
    #[default]
    Reviews,
    TokenReviews,
    SubjectAccessReviews,
}

/// The review kinds a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewKind {
    Token,
    SubjectAccess,
}

impl ReviewKind {
    pub fn kind(self) -> &'static str {
        match self {
            ReviewKind::Token => "TokenReview",
            ReviewKind::SubjectAccess => "SubjectAccessReview",
        }
    }
}

/// `{"action": "status", "status": 500}`, `{"action": "hang", "seconds": 5}`, each with
/// optional `target` (`reviews`, `tokenReviews`, `subjectAccessReviews`) and `count`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    #[serde(flatten)]
    pub action: FaultAction,
    #[serde(default)]
    pub target: FaultTarget,
    /// How many reviews it applies to; absent: until cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

impl FaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        match self.action {
            FaultAction::Status { status } if !(500..=599).contains(&status) => {
                Err(format!("status must be 500..=599, got {status}"))
            }
            FaultAction::Hang { seconds } if !(seconds > 0.0 && seconds <= 3600.0) => {
                Err(format!("seconds must be in (0, 3600], got {seconds}"))
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, kind: ReviewKind) -> bool {
        match self.target {
            FaultTarget::Reviews => true,
            FaultTarget::TokenReviews => kind == ReviewKind::Token,
            FaultTarget::SubjectAccessReviews => kind == ReviewKind::SubjectAccess,
        }
    }
}

#[derive(Debug, Default)]
pub struct Faults {
    list: Mutex<Vec<FaultSpec>>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultSpec>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, spec: FaultSpec) {
        self.lock().push(spec);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn pending(&self) -> Vec<FaultSpec> {
        self.lock().clone()
    }

    /// The first fault for this review kind, using up one of its `count`.
    pub fn take(&self, kind: ReviewKind) -> Option<FaultAction> {
        let mut list = self.lock();
        let idx = list.iter().position(|f| f.matches(kind))?;
        let spec = list.get_mut(idx)?;
        let action = spec.action.clone();
        if let Some(c) = spec.count.as_mut() {
            *c = c.saturating_sub(1);
            if *c == 0 {
                list.remove(idx);
            }
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> FaultSpec {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn shapes_and_validation() {
        assert_eq!(
            spec(r#"{"action":"status"}"#).action,
            FaultAction::Status { status: 500 }
        );
        assert_eq!(spec(r#"{"action":"status"}"#).target, FaultTarget::Reviews);
        let h = spec(r#"{"action":"hang","seconds":2.5,"target":"tokenReviews","count":1}"#);
        assert_eq!(h.action.hang_duration(), Some(Duration::from_millis(2500)));
        assert!(spec(r#"{"action":"status","status":404}"#)
            .validate()
            .is_err());
        assert!(spec(r#"{"action":"hang","seconds":0}"#).validate().is_err());
        assert!(spec(r#"{"action":"status","count":0}"#).validate().is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"action":"explode"}"#).is_err());
    }

    #[test]
    fn targets_counts_and_persistence() {
        let f = Faults::default();
        f.push(spec(
            r#"{"action":"status","status":503,"target":"subjectAccessReviews","count":2}"#,
        ));
        f.push(spec(
            r#"{"action":"hang","seconds":1,"target":"tokenReviews"}"#,
        ));
        assert_eq!(f.take(ReviewKind::Token).unwrap().name(), "hang");
        assert_eq!(f.take(ReviewKind::Token).unwrap().name(), "hang");
        assert_eq!(
            f.take(ReviewKind::SubjectAccess),
            Some(FaultAction::Status { status: 503 })
        );
        assert!(f.take(ReviewKind::SubjectAccess).is_some());
        assert!(f.take(ReviewKind::SubjectAccess).is_none());
        assert_eq!(f.pending().len(), 1);
        f.clear();
        assert!(f.take(ReviewKind::Token).is_none());
    }
}
