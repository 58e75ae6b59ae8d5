//! Fault injection for the main port, driven from the admin API: answer with an error Status,
//! drop the connection, delay, or cut a response mid-stream; before the request is handled, or
//! after it was (and a write stored). Queued faults apply in order, each to the next matching
//! request; faults with a `rate` stay and hit each matching request with that probability.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::respond::Body;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum FaultAction {
    /// Answer with this HTTP status and a Kubernetes Status body.
    #[serde(rename_all = "camelCase")]
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Adds `Retry-After: N`: the Kubernetes way of saying "not processed, try again".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u32>,
    },
    /// Close the connection abruptly (TCP reset) without answering.
    Reset,
    /// Sleep, then answer normally.
    Delay { millis: u64 },
    /// Handle the request and start the answer, then reset the connection after this many
    /// body chunks (a watch sends one event per chunk, BOOKMARKs included).
    #[serde(rename_all = "camelCase")]
    Cut { after_chunks: u32 },
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::Reset => "reset",
            FaultAction::Delay { .. } => "delay",
            FaultAction::Cut { .. } => "cut",
        }
    }
}

/// When a fault strikes: before the request is handled (nothing stored), or after it was (a
/// write is stored, then the answer is replaced, delayed or the connection reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    #[default]
    Before,
    After,
}

/// A fault: `count` requests (default 1; unlimited for a fault with a `rate`), optionally only
/// those with this method and/or whose path-with-query contains `pathContains`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultSpec {
    #[serde(flatten)]
    pub action: FaultAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    #[serde(default)]
    pub phase: Phase,
    /// Probability (0 < rate <= 1) that each matching request gets the fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

impl FaultSpec {
    /// A queued fault for the next request, before it is handled.
    pub fn once(action: FaultAction) -> Self {
        FaultSpec {
            action,
            count: None,
            method: None,
            path_contains: None,
            phase: Phase::Before,
            rate: None,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.count == Some(0) {
            return Err("count must be at least 1".into());
        }
        if let FaultAction::Status { status, .. } = self.action {
            if !(400..=599).contains(&status) {
                return Err(format!("status must be 400..=599, got {status}"));
            }
        }
        if let Some(rate) = self.rate {
            if !(rate > 0.0 && rate <= 1.0) {
                return Err(format!("rate must be in (0, 1], got {rate}"));
            }
        }
        if matches!(self.action, FaultAction::Cut { .. }) && self.phase == Phase::After {
            return Err("a cut always strikes after the request is handled; omit phase".into());
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

/// The fault one request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub action: FaultAction,
    pub phase: Phase,
}

impl Applied {
    /// As recorded: `reset`, `status`, `delay`, `cut`, or `reset-after` etc.
    pub fn name(&self) -> String {
        match (self.phase, &self.action) {
            (Phase::After, a) if !matches!(a, FaultAction::Cut { .. }) => {
                format!("{}-after", a.name())
            }
            (_, a) => a.name().to_string(),
        }
    }
}

#[derive(Debug)]
struct State {
    queue: VecDeque<FaultSpec>,
    rated: Vec<FaultSpec>,
    rng: u64,
    applied: BTreeMap<String, u64>,
}

#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
}

impl Default for Faults {
    fn default() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        Faults {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                rated: Vec::new(),
                rng: seed | 1,
                applied: BTreeMap::new(),
            }),
        }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn push(&self, spec: FaultSpec) {
        let mut s = self.lock();
        if spec.rate.is_some() {
            s.rated.push(spec);
        } else {
            s.queue.push_back(spec);
        }
    }

    /// Makes the random faults repeatable.
    pub fn seed(&self, seed: u64) {
        self.lock().rng = seed | 1;
    }

    pub fn clear(&self) {
        let mut s = self.lock();
        s.queue.clear();
        s.rated.clear();
    }

    pub fn pending(&self) -> Vec<FaultSpec> {
        let s = self.lock();
        s.queue.iter().chain(&s.rated).cloned().collect()
    }

    /// How many requests got each fault (by [`Applied::name`]) since the server started.
    pub fn applied(&self) -> BTreeMap<String, u64> {
        self.lock().applied.clone()
    }

    /// The fault for this request, if any: the first matching queued fault (one use of it),
    /// else each fault with a rate in turn, by chance.
    pub fn take(&self, method: &str, path: &str) -> Option<Applied> {
        let mut s = self.lock();
        let applied = match s.queue.iter().position(|f| f.matches(method, path)) {
            Some(idx) => {
                let spec = s.queue.get_mut(idx)?;
                let applied = Applied {
                    action: spec.action.clone(),
                    phase: spec.phase,
                };
                let left = spec.count.unwrap_or(1).saturating_sub(1);
                spec.count = Some(left);
                if left == 0 {
                    s.queue.remove(idx);
                }
                applied
            }
            None => {
                let mut hit = None;
                for idx in 0..s.rated.len() {
                    let roll = next_unit(&mut s.rng);
                    let spec = s.rated.get_mut(idx)?;
                    if spec.matches(method, path) && roll < spec.rate.unwrap_or(0.0) {
                        if let Some(c) = spec.count.as_mut() {
                            *c = c.saturating_sub(1);
                        }
                        hit = Some((idx, spec.count == Some(0)));
                        break;
                    }
                }
                let (idx, used_up) = hit?;
                let spec = s.rated.get(idx)?;
                let applied = Applied {
                    action: spec.action.clone(),
                    phase: spec.phase,
                };
                if used_up {
                    s.rated.remove(idx);
                }
                applied
            }
        };
        *s.applied.entry(applied.name()).or_default() += 1;
        Some(applied)
    }
}

/// xorshift64*: a uniform number in [0, 1).
fn next_unit(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
}

/// A response body that passes `after` chunks on, then asks the connection to be reset
/// (`cut` is the connection's: its task drops the connection with a TCP RST).
pub fn cut_after(inner: Body, after: u32, cut: Arc<Notify>) -> CutBody {
    CutBody {
        inner,
        left: after,
        cut,
    }
}

pub struct CutBody {
    inner: Body,
    left: u32,
    cut: Arc<Notify>,
}

impl HttpBody for CutBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            // Never ends by itself: the connection is dropped once hyper has flushed what it has.
            self.cut.notify_one();
            return Poll::Pending;
        }
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &frame {
            if f.is_data() {
                self.left -= 1;
            }
        }
        frame
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
                message: None,
                retry_after: None,
            }
        );
        assert_eq!(
            spec(r#"{"action":"status","status":503,"retryAfter":1}"#).action,
            FaultAction::Status {
                status: 503,
                reason: None,
                message: None,
                retry_after: Some(1),
            }
        );
        assert_eq!(spec(r#"{"action":"reset"}"#).count, None);
        assert_eq!(spec(r#"{"action":"reset"}"#).phase, Phase::Before);
        assert_eq!(
            spec(r#"{"action":"reset","phase":"after"}"#).phase,
            Phase::After
        );
        assert_eq!(
            spec(r#"{"action":"delay","millis":3000,"count":1}"#).action,
            FaultAction::Delay { millis: 3000 }
        );
        assert_eq!(
            spec(r#"{"action":"cut","afterChunks":3}"#).action,
            FaultAction::Cut { after_chunks: 3 }
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"action":"explode"}"#).is_err());
        assert!(
            serde_json::from_str::<FaultSpec>(r#"{"action":"reset","phase":"during"}"#).is_err()
        );
        for bad in [
            r#"{"action":"status","status":200}"#,
            r#"{"action":"reset","count":0}"#,
            r#"{"action":"reset","rate":0}"#,
            r#"{"action":"reset","rate":1.5}"#,
            r#"{"action":"cut","afterChunks":1,"phase":"after"}"#,
        ] {
            assert!(spec(bad).validate().is_err(), "{bad}");
        }
        assert!(spec(r#"{"action":"reset","rate":1}"#).validate().is_ok());
    }

    #[test]
    fn queue_order_counts_and_filters() {
        let f = Faults::default();
        f.push(spec(r#"{"action":"status","status":503,"count":2}"#));
        f.push(spec(
            r#"{"action":"reset","method":"POST","phase":"after"}"#,
        ));
        f.push(spec(
            r#"{"action":"delay","millis":1,"pathContains":"watch=true"}"#,
        ));
        assert_eq!(f.take("GET", "/x").unwrap().name(), "status");
        assert_eq!(f.take("GET", "/x").unwrap().name(), "status");
        assert!(f.take("GET", "/x").is_none());
        assert_eq!(f.take("GET", "/x?watch=true").unwrap().name(), "delay");
        assert_eq!(f.take("post", "/x").unwrap().name(), "reset-after");
        assert!(f.pending().is_empty());
        let applied = f.applied();
        assert_eq!(applied.get("status"), Some(&2));
        assert_eq!(applied.get("reset-after"), Some(&1));
    }

    #[test]
    fn rated_faults_stay_hit_about_their_share_and_repeat_with_a_seed() {
        let run = |seed| {
            let f = Faults::default();
            f.seed(seed);
            f.push(spec(r#"{"action":"reset","rate":0.25,"method":"POST"}"#));
            let hits: Vec<bool> = (0..4000).map(|_| f.take("POST", "/e").is_some()).collect();
            assert!(f.take("GET", "/e").is_none(), "method filter");
            assert_eq!(f.pending().len(), 1, "a rated fault stays");
            hits
        };
        let a = run(7);
        let share = a.iter().filter(|h| **h).count() as f64 / a.len() as f64;
        assert!((0.2..0.3).contains(&share), "{share}");
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        // A count caps a rated fault; a queued fault goes first.
        let f = Faults::default();
        f.push(spec(r#"{"action":"reset","rate":1,"count":2}"#));
        f.push(spec(r#"{"action":"delay","millis":1}"#));
        assert_eq!(f.take("GET", "/").unwrap().name(), "delay");
        assert_eq!(f.take("GET", "/").unwrap().name(), "reset");
        assert_eq!(f.take("GET", "/").unwrap().name(), "reset");
        assert!(f.take("GET", "/").is_none());
    }

    #[tokio::test]
    async fn cut_body_passes_n_chunks_then_asks_for_the_reset() {
        use http_body_util::BodyExt;
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        for i in 0..5 {
            tx.send(Bytes::from(format!("{i}\n"))).await.unwrap();
        }
        let inner = crate::respond::ChannelBody::new(rx).boxed();
        let cut = Arc::new(Notify::new());
        let mut body = cut_after(inner, 2, cut.clone());
        let mut got = Vec::new();
        for _ in 0..2 {
            let frame = body.frame().await.unwrap().unwrap();
            got.push(frame.into_data().unwrap());
        }
        assert_eq!(got, vec![Bytes::from("0\n"), Bytes::from("1\n")]);
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), body.frame()).await;
        assert!(third.is_err(), "no third chunk");
        tokio::time::timeout(std::time::Duration::from_secs(1), cut.notified())
            .await
            .unwrap();
    }
}
