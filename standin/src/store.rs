//! The in-memory object store: current objects, a global resourceVersion counter, the full change
//! history (never compacted, so any resourceVersion since the last reset can be replayed) and the
//! live watchers. The real Activity server keeps Events in ClickHouse; this keeps them in a map.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::model::{self, Event};
use crate::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed change. `prev` is the state before it (none for an add), so watchers with a
/// selector can tell when an object enters or leaves their view.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub kind: ChangeType,
    pub object: Arc<Event>,
    pub prev: Option<Arc<Event>>,
}

/// What a write callback decides to do with the object at a key.
#[derive(Debug)]
pub enum Write {
    Create(Event),
    /// Replaces the object; one equal to the current object (resourceVersion aside) is no change
    /// at all, as in kube-apiserver's storage: no new resourceVersion, no watch event.
    Replace(Event),
    Delete,
}

#[derive(Debug)]
pub struct Written {
    pub kind: ChangeType,
    /// The stored object (for a delete: its last state, with the deletion's resourceVersion).
    pub object: Arc<Event>,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// `resourceVersion` absent or "0": synthetic ADDED for every current object, then live.
    Current,
    /// Replay every change after this resourceVersion, then live.
    After(u64),
}

/// A watch's backlog and its live feed, taken atomically so nothing is missed or repeated.
#[derive(Debug)]
pub struct WatchStart {
    pub initial: Vec<Arc<Change>>,
    /// resourceVersion the watch is consistent with once `initial` is sent.
    pub start_rv: u64,
    pub live: mpsc::UnboundedReceiver<Arc<Change>>,
}

/// A requested resourceVersion from before the last reset (history no longer has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub requested: u64,
    pub oldest: u64,
}

type Key = (String, String);

#[derive(Default)]
struct Inner {
    objects: BTreeMap<Key, Arc<Event>>,
    rv: u64,
    /// History holds every change with rv > floor; the store was empty at `floor`.
    floor: u64,
    history: Vec<Arc<Change>>,
    watchers: Vec<mpsc::UnboundedSender<Arc<Change>>>,
}

#[derive(Default)]
pub struct Store {
    inner: Mutex<Inner>,
}

fn key(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// A poisoned lock only means a panic elsewhere; the data is still consistent per operation.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<Event>> {
        self.lock().objects.get(&key(ns, name)).cloned()
    }

    /// Every stored object, ordered by namespace then name.
    pub fn all(&self) -> Vec<Arc<Event>> {
        self.lock().objects.values().cloned().collect()
    }

    /// Atomic read-modify-write of one key. `decide` sees the current object and returns what to
    /// do; the store assigns the next resourceVersion, records history and notifies watchers.
    /// With `dry_run` nothing is stored and the object is returned as it would have been written.
    pub fn write<F>(
        &self,
        ns: &str,
        name: &str,
        dry_run: bool,
        decide: F,
    ) -> Result<Written, ApiError>
    where
        F: FnOnce(Option<&Event>) -> Result<Write, ApiError>,
    {
        let mut inner = self.lock();
        let k = key(ns, name);
        let prev = inner.objects.get(&k).cloned();
        let decision = decide(prev.as_deref())?;
        if let (Write::Replace(new), Some(cur)) = (&decision, &prev) {
            let mut same = new.clone();
            same.metadata.resource_version = cur.metadata.resource_version.clone();
            if same == **cur {
                return Ok(Written {
                    kind: ChangeType::Modified,
                    object: cur.clone(),
                });
            }
        }
        let kind = match (&decision, &prev) {
            (Write::Create(_), _) => ChangeType::Added,
            (Write::Replace(_), _) => ChangeType::Modified,
            (Write::Delete, Some(_)) => ChangeType::Deleted,
            (Write::Delete, None) => {
                return Err(ApiError::internal("delete of a missing object"));
            }
        };
        if dry_run {
            let object = match decision {
                Write::Create(o) | Write::Replace(o) => Arc::new(o),
                Write::Delete => prev.unwrap_or_default(),
            };
            return Ok(Written { kind, object });
        }
        let rv = inner.rv + 1;
        let mut object = match decision {
            Write::Create(o) | Write::Replace(o) => o,
            Write::Delete => prev.as_deref().cloned().unwrap_or_default(),
        };
        object.metadata.resource_version = Some(rv.to_string());
        let object = Arc::new(object);
        inner.rv = rv;
        if kind == ChangeType::Deleted {
            inner.objects.remove(&k);
        } else {
            inner.objects.insert(k, object.clone());
        }
        let change = Arc::new(Change {
            rv,
            kind,
            object: object.clone(),
            prev,
        });
        inner.history.push(change.clone());
        inner.watchers.retain(|w| w.send(change.clone()).is_ok());
        Ok(Written { kind, object })
    }

    /// Objects as of `at` (current when `None` or not older than now), ordered by key, and the
    /// resourceVersion they are consistent with.
    pub fn snapshot(&self, at: Option<u64>) -> Result<(u64, Vec<Arc<Event>>), TooOld> {
        let inner = self.lock();
        match at {
            Some(rv) if rv < inner.rv => {
                if rv < inner.floor {
                    return Err(TooOld {
                        requested: rv,
                        oldest: inner.floor,
                    });
                }
                let mut state: BTreeMap<Key, Arc<Event>> = BTreeMap::new();
                for c in inner.history.iter().take_while(|c| c.rv <= rv) {
                    let k = key(model::namespace(&c.object), model::name(&c.object));
                    if c.kind == ChangeType::Deleted {
                        state.remove(&k);
                    } else {
                        state.insert(k, c.object.clone());
                    }
                }
                Ok((rv, state.into_values().collect()))
            }
            _ => Ok((inner.rv, inner.objects.values().cloned().collect())),
        }
    }

    pub fn watch(&self, from: WatchFrom) -> Result<WatchStart, TooOld> {
        let mut inner = self.lock();
        let initial = match from {
            WatchFrom::Current => inner
                .objects
                .values()
                .map(|o| {
                    Arc::new(Change {
                        rv: model::resource_version(o).parse().unwrap_or(0),
                        kind: ChangeType::Added,
                        object: o.clone(),
                        prev: None,
                    })
                })
                .collect(),
            WatchFrom::After(rv) => {
                if rv < inner.floor {
                    return Err(TooOld {
                        requested: rv,
                        oldest: inner.floor,
                    });
                }
                let start = inner.history.partition_point(|c| c.rv <= rv);
                inner.history.get(start..).unwrap_or_default().to_vec()
            }
        };
        let (tx, live) = mpsc::unbounded_channel();
        inner.watchers.push(tx);
        Ok(WatchStart {
            initial,
            start_rv: inner.rv,
            live,
        })
    }

    /// Ends all watches (their streams close) without touching the data.
    pub fn reset_watchers(&self) {
        self.lock().watchers.clear();
    }

    /// Drops every object and the history, and ends all watches. The resourceVersion counter keeps
    /// counting up so clients never see a resourceVersion go backwards.
    pub fn reset(&self) {
        let mut inner = self.lock();
        inner.objects.clear();
        inner.history.clear();
        inner.watchers.clear();
        inner.floor = inner.rv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(ns: &str, name: &str, msg: &str) -> Event {
        let mut e = Event::default();
        e.metadata.namespace = model::go_string(ns);
        e.metadata.name = model::go_string(name);
        e.message = model::go_string(msg);
        e
    }

    fn create(s: &Store, ns: &str, name: &str, msg: &str) -> Written {
        s.write(ns, name, false, |_| Ok(Write::Create(obj(ns, name, msg))))
            .unwrap()
    }

    #[test]
    fn writes_bump_resource_version_and_record_history() {
        let s = Store::new();
        let a = create(&s, "ns", "a", "1");
        assert_eq!(model::resource_version(&a.object), "1");
        let b = s
            .write("ns", "a", false, |cur| {
                let mut o = cur.unwrap().clone();
                o.message = model::go_string("2");
                Ok(Write::Replace(o))
            })
            .unwrap();
        assert_eq!(b.kind, ChangeType::Modified);
        assert_eq!(model::resource_version(&b.object), "2");
        let d = s.write("ns", "a", false, |_| Ok(Write::Delete)).unwrap();
        assert_eq!(d.kind, ChangeType::Deleted);
        assert_eq!(d.object.message.as_deref(), Some("2"));
        assert_eq!(model::resource_version(&d.object), "3");
        assert!(s.get("ns", "a").is_none());
        assert_eq!(s.current_rv(), 3);
    }

    #[test]
    fn replacing_with_the_same_object_changes_nothing() {
        let s = Store::new();
        create(&s, "ns", "a", "1");
        let mut w = s.watch(WatchFrom::After(1)).unwrap();
        let same = s
            .write("ns", "a", false, |_| {
                Ok(Write::Replace(obj("ns", "a", "1")))
            })
            .unwrap();
        assert_eq!(model::resource_version(&same.object), "1");
        assert_eq!(s.current_rv(), 1);
        assert!(w.live.try_recv().is_err());
        let changed = s
            .write("ns", "a", false, |_| {
                Ok(Write::Replace(obj("ns", "a", "2")))
            })
            .unwrap();
        assert_eq!(model::resource_version(&changed.object), "2");
    }

    #[test]
    fn dry_run_stores_nothing() {
        let s = Store::new();
        let w = s
            .write("ns", "a", true, |_| Ok(Write::Create(obj("ns", "a", "x"))))
            .unwrap();
        assert_eq!(w.object.message.as_deref(), Some("x"));
        assert!(s.get("ns", "a").is_none());
        assert_eq!(s.current_rv(), 0);
    }

    #[test]
    fn snapshots_reconstruct_past_states() {
        let s = Store::new();
        create(&s, "ns", "a", "1");
        create(&s, "ns", "b", "1");
        s.write("ns", "a", false, |_| Ok(Write::Delete)).unwrap();
        let (rv, now) = s.snapshot(None).unwrap();
        assert_eq!((rv, now.len()), (3, 1));
        let (rv, then) = s.snapshot(Some(2)).unwrap();
        assert_eq!((rv, then.len()), (2, 2));
        let (_, first) = s.snapshot(Some(1)).unwrap();
        assert_eq!(model::name(&first[0]), "a");
    }

    #[test]
    fn watch_replays_history_in_order_then_goes_live() {
        let s = Store::new();
        create(&s, "ns", "a", "1");
        create(&s, "ns", "b", "1");
        s.write("ns", "a", false, |_| Ok(Write::Delete)).unwrap();
        let mut w = s.watch(WatchFrom::After(1)).unwrap();
        let kinds: Vec<(u64, ChangeType)> = w.initial.iter().map(|c| (c.rv, c.kind)).collect();
        assert_eq!(
            kinds,
            vec![(2, ChangeType::Added), (3, ChangeType::Deleted)]
        );
        assert_eq!(w.start_rv, 3);
        create(&s, "ns", "c", "1");
        let live = w.live.try_recv().unwrap();
        assert_eq!((live.rv, live.kind), (4, ChangeType::Added));

        let cur = s.watch(WatchFrom::Current).unwrap();
        let names: Vec<&str> = cur.initial.iter().map(|c| model::name(&c.object)).collect();
        assert_eq!(names, vec!["b", "c"]);
        assert!(cur.initial.iter().all(|c| c.kind == ChangeType::Added));
    }

    #[test]
    fn reset_keeps_counting_and_expires_old_versions() {
        let s = Store::new();
        create(&s, "ns", "a", "1");
        let w = s.watch(WatchFrom::Current).unwrap();
        s.reset();
        assert!(s.all().is_empty());
        assert_eq!(s.watch(WatchFrom::After(0)).unwrap_err().oldest, 1);
        assert!(s.snapshot(Some(0)).is_err());
        let b = create(&s, "ns", "b", "1");
        assert_eq!(model::resource_version(&b.object), "2");
        drop(w);
    }
}
