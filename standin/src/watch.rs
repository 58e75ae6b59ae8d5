//! Watch streams: newline-terminated JSON watch events over a chunked response, one per chunk.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

use crate::model::{self, Event};
use crate::negotiate::{IncludeObject, Output};
use crate::repr::Repr;
use crate::respond::{self, Body};
use crate::scope::Scope;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Change, ChangeType, Store, WatchFrom};
use crate::table::{self, TableShape};

/// Everything that decides what one watcher sees and how it is encoded.
#[derive(Debug, Clone)]
pub struct Watcher {
    pub namespace: Option<String>,
    pub scope: Scope,
    pub fields: FieldSelector,
    pub labels: LabelSelector,
    pub output: Output,
    pub include: IncludeObject,
    /// How the served version presents each event's object (BOOKMARKs included).
    pub repr: Repr,
    /// The served `apiVersion` of stored-shape objects.
    pub api_version: String,
    pub bookmarks: bool,
    pub bookmark_interval: Duration,
    pub timeout: Option<Duration>,
}

impl Watcher {
    fn visible(&self, obj: &Event) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| model::namespace(obj) == ns)
            && self.scope.allows(obj)
            && self.fields.matches(obj)
            && self.labels.matches(obj)
    }

    /// What this watcher sees of a change: objects entering its view are ADDED, leaving it
    /// DELETED (the old state, stamped with the change's resourceVersion), like the watch cache.
    pub fn translate(&self, c: &Change) -> Option<(&'static str, Event)> {
        let now = self.visible(&c.object);
        match c.kind {
            ChangeType::Added => now.then(|| ("ADDED", (*c.object).clone())),
            ChangeType::Deleted => now.then(|| ("DELETED", (*c.object).clone())),
            ChangeType::Modified => {
                let before = c.prev.as_deref().is_some_and(|p| self.visible(p));
                match (before, now) {
                    (true, true) => Some(("MODIFIED", (*c.object).clone())),
                    (false, true) => Some(("ADDED", (*c.object).clone())),
                    (true, false) => {
                        let mut old = c.prev.as_deref().cloned().unwrap_or_default();
                        old.metadata.resource_version = Some(c.rv.to_string());
                        Some(("DELETED", old))
                    }
                    (false, false) => None,
                }
            }
        }
    }
}

/// Encodes watch events for one stream; tracks whether Table headers were sent yet.
struct Encoder {
    output: Output,
    include: IncludeObject,
    repr: Repr,
    api_version: String,
    headers_sent: bool,
}

impl Encoder {
    fn encode(&mut self, kind: &str, object: &Event) -> Bytes {
        let object = match self.output {
            Output::Object => self.repr.object(object, &self.api_version),
            Output::PartialMetadata { version } => table::partial_metadata(object, version),
            Output::Table { version } => {
                let shape = TableShape {
                    version,
                    include: self.include,
                    repr: self.repr,
                    api_version: self.api_version.clone(),
                };
                let meta = json!({"resourceVersion": model::resource_version(object)});
                let headers = !self.headers_sent;
                self.headers_sent = true;
                table::table(&[object], meta, headers, shape, OffsetDateTime::now_utc())
            }
        };
        Bytes::from(crate::wire::watch_event(kind, &object))
    }

    /// A BOOKMARK at `rv`. In the stored shape its object carries only `kind`, `apiVersion` and
    /// `metadata.resourceVersion` (this stand-in's documented form, which its tests pin);
    /// every other shape is the empty Event as Go writes it.
    fn bookmark(&mut self, rv: u64) -> Bytes {
        if (self.output, self.repr) == (Output::Object, Repr::Stored) {
            let obj = json!({
                "kind": "Event",
                "apiVersion": self.api_version,
                "metadata": {"resourceVersion": rv.to_string()},
            });
            return Bytes::from(crate::wire::watch_event("BOOKMARK", &obj));
        }
        self.encode("BOOKMARK", &model::bookmark(rv))
    }

    /// An ERROR event: its Status object as it is, whatever the requested shape.
    fn error(&self, status: &Value) -> Bytes {
        Bytes::from(crate::wire::watch_event("ERROR", status))
    }
}

/// Starts a watch and returns its streaming response. A resourceVersion from before the last
/// reset gets one ERROR event with a 410 Expired Status, as kube-apiserver does.
pub fn start(store: &Store, from: WatchFrom, w: Watcher) -> hyper::Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let enc = Encoder {
        output: w.output,
        include: w.include,
        repr: w.repr,
        api_version: w.api_version.clone(),
        headers_sent: false,
    };
    match store.watch(from) {
        Err(too_old) => {
            let status = ApiError::expired(format!(
                "too old resource version: {} ({})",
                too_old.requested, too_old.oldest
            ))
            .to_status();
            let _ = tx.try_send(enc.error(&status));
        }
        Ok(ws) => {
            tokio::spawn(run(ws, w, enc, tx));
        }
    }
    respond::streaming(rx)
}

async fn run(ws: crate::store::WatchStart, w: Watcher, mut enc: Encoder, tx: mpsc::Sender<Bytes>) {
    let crate::store::WatchStart {
        initial,
        start_rv,
        mut live,
    } = ws;
    for c in &initial {
        if let Some((kind, obj)) = w.translate(c) {
            if tx.send(enc.encode(kind, &obj)).await.is_err() {
                return;
            }
        }
    }
    let mut last_rv = start_rv;
    let period = w.bookmark_interval.max(Duration::from_millis(10));
    let mut ticker = interval_at(Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let deadline = async {
        match w.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            // Changes first, so a bookmark never claims a resourceVersion ahead of what was sent.
            biased;
            _ = tx.closed() => return,
            _ = &mut deadline => return,
            change = live.recv() => {
                let Some(c) = change else { return };
                last_rv = c.rv;
                if let Some((kind, obj)) = w.translate(&c) {
                    if tx.send(enc.encode(kind, &obj)).await.is_err() {
                        return;
                    }
                }
            }
            _ = ticker.tick(), if w.bookmarks => {
                if tx.send(enc.bookmark(last_rv)).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{ANNOTATION_SCOPE_NAME, ANNOTATION_SCOPE_TYPE};
    use std::sync::Arc;

    fn watcher(fields: &str) -> Watcher {
        Watcher {
            namespace: Some("ns".into()),
            scope: Scope::Platform,
            fields: FieldSelector::parse(fields, Repr::Stored).unwrap(),
            labels: LabelSelector::default(),
            output: Output::Object,
            include: IncludeObject::Metadata,
            repr: Repr::Stored,
            api_version: "v1".into(),
            bookmarks: false,
            bookmark_interval: Duration::from_secs(1),
            timeout: None,
        }
    }

    fn decode(v: Value) -> Event {
        Repr::Stored
            .decode(v.as_object().cloned().unwrap_or_default())
            .unwrap()
            .event
    }

    fn ev(ns: &str, reason: &str, rv: u64) -> Arc<Event> {
        Arc::new(decode(
            json!({"metadata": {"namespace": ns, "name": "e", "resourceVersion": rv.to_string()}, "reason": reason}),
        ))
    }

    fn change(kind: ChangeType, rv: u64, obj: Arc<Event>, prev: Option<Arc<Event>>) -> Change {
        Change {
            rv,
            kind,
            object: obj,
            prev,
        }
    }

    #[test]
    fn selector_transitions() {
        let w = watcher("reason=A");
        let a1 = ev("ns", "A", 1);
        let b2 = ev("ns", "B", 2);
        let a3 = ev("ns", "A", 3);
        assert_eq!(
            w.translate(&change(ChangeType::Added, 1, a1.clone(), None))
                .unwrap()
                .0,
            "ADDED"
        );
        let (k, o) = w
            .translate(&change(
                ChangeType::Modified,
                2,
                b2.clone(),
                Some(a1.clone()),
            ))
            .unwrap();
        assert_eq!(k, "DELETED");
        assert_eq!(o.reason.as_deref(), Some("A"));
        assert_eq!(model::resource_version(&o), "2");
        assert_eq!(
            w.translate(&change(
                ChangeType::Modified,
                3,
                a3.clone(),
                Some(b2.clone())
            ))
            .unwrap()
            .0,
            "ADDED"
        );
        assert_eq!(
            w.translate(&change(ChangeType::Modified, 3, a3.clone(), Some(a1)))
                .unwrap()
                .0,
            "MODIFIED"
        );
        assert!(w
            .translate(&change(ChangeType::Added, 4, b2.clone(), None))
            .is_none());
        assert!(w
            .translate(&change(ChangeType::Deleted, 5, b2, None))
            .is_none());
        assert_eq!(
            w.translate(&change(ChangeType::Deleted, 5, a3, None))
                .unwrap()
                .0,
            "DELETED"
        );
        assert!(w
            .translate(&change(ChangeType::Added, 6, ev("other", "A", 6), None))
            .is_none());
    }

    #[test]
    fn scope_applies_to_watch() {
        let mut w = watcher("");
        w.scope = Scope::Tenant {
            parent_type: "Organization".into(),
            parent_name: "acme".into(),
        };
        let mine = Arc::new(decode(
            json!({"metadata": {"namespace": "ns", "annotations": {ANNOTATION_SCOPE_TYPE: "Organization", ANNOTATION_SCOPE_NAME: "acme"}}}),
        ));
        assert!(w
            .translate(&change(ChangeType::Added, 1, mine, None))
            .is_some());
        assert!(w
            .translate(&change(ChangeType::Added, 2, ev("ns", "A", 2), None))
            .is_none());
    }

    #[test]
    fn table_watch_sends_headers_once() {
        let mut enc = Encoder {
            output: Output::Table { version: "v1" },
            include: IncludeObject::Metadata,
            repr: Repr::Stored,
            api_version: "v1".into(),
            headers_sent: false,
        };
        let obj = decode(json!({"metadata": {"name": "e", "resourceVersion": "7"}}));
        let first: Value = serde_json::from_slice(&enc.encode("ADDED", &obj)).unwrap();
        let second: Value = serde_json::from_slice(&enc.encode("MODIFIED", &obj)).unwrap();
        assert_eq!(first["object"]["kind"], "Table");
        assert_eq!(
            first["object"]["columnDefinitions"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
        assert_eq!(first["object"]["metadata"]["resourceVersion"], "7");
        assert!(second["object"]["columnDefinitions"].is_null());
        assert_eq!(second["object"]["rows"].as_array().unwrap().len(), 1);
        let err: Value = serde_json::from_slice(&enc.error(&json!({"kind": "Status"}))).unwrap();
        assert_eq!(err["object"]["kind"], "Status");
    }

    #[test]
    fn events_v1_watch_converts_every_object_but_errors() {
        let mut enc = Encoder {
            output: Output::Object,
            include: IncludeObject::Metadata,
            repr: Repr::EventsV1,
            api_version: "v1".into(),
            headers_sent: false,
        };
        let obj = decode(
            json!({"kind": "Event", "apiVersion": "v1", "metadata": {"name": "e"}, "message": "m"}),
        );
        let added: Value = serde_json::from_slice(&enc.encode("ADDED", &obj)).unwrap();
        assert_eq!(added["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(added["object"]["note"], "m");
        let b: Value = serde_json::from_slice(&enc.bookmark(3)).unwrap();
        assert_eq!(b["object"]["apiVersion"], "events.k8s.io/v1");
        assert_eq!(b["object"]["metadata"]["resourceVersion"], "3");
        // kube-apiserver's bookmark objects: the empty Event as Go serializes it.
        assert_eq!(
            b["object"],
            json!({
                "kind": "Event", "apiVersion": "events.k8s.io/v1",
                "metadata": {"resourceVersion": "3", "creationTimestamp": null},
                "eventTime": null, "regarding": {}, "deprecatedSource": {},
                "deprecatedFirstTimestamp": null, "deprecatedLastTimestamp": null
            })
        );
        let status = json!({"kind": "Status", "apiVersion": "v1", "code": 410});
        let err: Value = serde_json::from_slice(&enc.error(&status)).unwrap();
        assert_eq!(err["object"], status);
    }
}
