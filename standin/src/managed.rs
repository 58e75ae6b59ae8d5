//! `metadata.managedFields`: which field manager set which fields, as apiserver's field manager
//! records them for create, update and patch (operation `Update`), written from
//! `k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager` and structured-merge-diff's updater:
//!
//! - The manager is the `fieldManager` query parameter, else the User-Agent up to its first `/`
//!   (`kubectl-create`, `kube-rs`, ...), at most 128 printable characters.
//! - The write is compared with the object before it (an empty object for a create), both in the
//!   API version of the request: the fields it added or changed go to its manager's entry for
//!   that version (and the time is set), and leave every other manager's; fields it removed
//!   leave every entry. A write that changes nothing leaves the entries alone.
//! - `FieldsV1` as apiserver encodes it: `f:<field>`, `k:{"uid":…}` for keyed lists, `v:<value>`
//!   for sets, `.` where a map is itself owned. `ObjectReference` and `OwnerReference` are atomic
//!   (`+structType=atomic`); `apiVersion`, `kind` and server-set metadata are never tracked.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
use serde_json::{Map, Value};

use crate::conversion;
use crate::gojson::{self, Struct, Ty};
use crate::model::Event;
use crate::repr::Repr;

/// apiserver's `FieldManagerMaxLength`.
const MAX_MANAGER_LENGTH: usize = 128;

/// Metadata the field manager strips before tracking (`stripMetaManager`).
const UNTRACKED_METADATA: [&str; 8] = [
    "name",
    "namespace",
    "creationTimestamp",
    "selfLink",
    "uid",
    "generation",
    "managedFields",
    "resourceVersion",
];

/// `managerOrUserAgent`.
pub fn manager(field_manager: Option<&str>, user_agent: &str) -> String {
    if let Some(m) = field_manager.filter(|m| !m.is_empty()) {
        return m.to_string();
    }
    let prefix = user_agent.split('/').next().unwrap_or("");
    let mut out = String::new();
    for c in prefix.chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_MANAGER_LENGTH {
            break;
        }
        out.push(c);
    }
    out
}

/// A set of field paths, each a list of `f:`/`k:`/`v:` elements.
type Paths = BTreeSet<Vec<String>>;

#[derive(Default)]
struct Diff {
    changed: Paths,
    removed: Paths,
}

/// Records a write by `manager` through `repr`/`api_version` on `new` (compared with `old`, or
/// an empty object for a create): `new.metadata.managedFields` is set to the resulting entries.
/// `new` carries the managed fields the client sent, if any; like apiserver, an empty list
/// there clears them and a changed list replaces the stored one before the write is recorded.
pub fn record(new: &mut Event, old: Option<&Event>, repr: Repr, api_version: &str, manager: &str) {
    let sent = new.metadata.managed_fields.take();
    let stored = old.and_then(|o| o.metadata.managed_fields.clone());
    let mut entries = match (sent, stored) {
        (Some(sent), _) if sent.iter().all(|e| *e == ManagedFieldsEntry::default()) => {
            // An empty list (or one empty entry) strips them all, this write included.
            return;
        }
        (Some(sent), stored) if Some(&sent) != stored.as_ref() => sent,
        (_, stored) => stored.unwrap_or_default(),
    };
    let before = old.cloned().unwrap_or_default();
    let diff = compare(repr, &before, new, api_version);
    for entry in &mut entries {
        let mut set = parse(entry.fields_v1.as_ref());
        let translate = |p: &Vec<String>| in_version(p, repr, entry.api_version.as_deref());
        let mine = is_entry_of(entry, manager, api_version);
        for p in &diff.removed {
            set.remove(&translate(p));
        }
        if !mine {
            for p in &diff.changed {
                set.remove(&translate(p));
            }
        }
        entry.fields_v1 = Some(FieldsV1(encode(&set)));
    }
    entries.retain(|e| !parse(e.fields_v1.as_ref()).is_empty());
    if !diff.changed.is_empty() {
        let now = crate::model::now();
        match entries
            .iter_mut()
            .find(|e| is_entry_of(e, manager, api_version))
        {
            Some(entry) => {
                let mut set = parse(entry.fields_v1.as_ref());
                set.extend(diff.changed.iter().cloned());
                entry.fields_v1 = Some(FieldsV1(encode(&set)));
                entry.time = Some(now);
            }
            None => entries.push(ManagedFieldsEntry {
                // An empty manager is Go's zero value: no `manager` key, as decoding leaves it.
                manager: Some(manager.to_string()).filter(|m| !m.is_empty()),
                operation: Some("Update".into()),
                api_version: Some(api_version.to_string()),
                time: Some(now),
                fields_type: Some("FieldsV1".into()),
                fields_v1: Some(FieldsV1(encode(&diff.changed))),
                subresource: None,
            }),
        }
    }
    sort(&mut entries);
    new.metadata.managed_fields = Some(entries).filter(|e| !e.is_empty());
}

/// The `Update` entry of `manager` for `api_version` (apiserver's manager identifier).
fn is_entry_of(e: &ManagedFieldsEntry, manager: &str, api_version: &str) -> bool {
    e.manager.as_deref().unwrap_or("") == manager
        && e.api_version.as_deref() == Some(api_version)
        && e.operation.as_deref() == Some("Update")
}

/// apiserver's order: by operation, time, manager, apiVersion.
fn sort(entries: &mut [ManagedFieldsEntry]) {
    let secs = |t: &Option<Time>| t.as_ref().map_or(0, |t| t.0.as_second());
    entries.sort_by(|p, q| {
        (
            p.operation.as_deref(),
            secs(&p.time),
            p.manager.as_deref(),
            p.api_version.as_deref(),
        )
            .cmp(&(
                q.operation.as_deref(),
                secs(&q.time),
                q.manager.as_deref(),
                q.api_version.as_deref(),
            ))
    });
}

/// A path recorded in `repr`'s field names, in the names of the entry's version.
fn in_version(path: &[String], repr: Repr, entry_version: Option<&str>) -> Vec<String> {
    let entry_is_v1 = entry_version == Some(crate::repr::EVENTS_V1_API_VERSION);
    let rename = match (repr, entry_is_v1) {
        (Repr::Stored, true) => conversion::events_v1_name,
        (Repr::EventsV1, false) => conversion::core_name,
        _ => return path.to_vec(),
    };
    let mut out = path.to_vec();
    if let Some(first) = out.first_mut() {
        if let Some(name) = first.strip_prefix("f:").and_then(rename) {
            *first = format!("f:{name}");
        }
    }
    out
}

fn compare(repr: Repr, old: &Event, new: &Event, api_version: &str) -> Diff {
    let as_map = |e: &Event| match repr.object(e, api_version) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut diff = Diff::default();
    compare_struct(
        repr.schema(),
        Some(&old),
        Some(&new),
        &mut Vec::new(),
        &mut diff,
    );
    diff
}

fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

fn compare_struct(
    s: &'static Struct,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    path: &mut Vec<String>,
    diff: &mut Diff,
) {
    for field in s.fields {
        if path.is_empty() && field.name == "metadata" {
            let meta = |m: Option<&Map<String, Value>>| {
                m.and_then(|m| m.get("metadata"))
                    .and_then(Value::as_object)
                    .cloned()
            };
            let strip = |m: Option<Map<String, Value>>| {
                m.map(|mut m| {
                    m.retain(|k, _| !UNTRACKED_METADATA.contains(&k.as_str()));
                    m
                })
            };
            let (o, n) = (strip(meta(old)), strip(meta(new)));
            path.push("f:metadata".into());
            compare_struct(&gojson::OBJECT_META, o.as_ref(), n.as_ref(), path, diff);
            path.pop();
            continue;
        }
        let o = non_null(old.and_then(|m| m.get(field.name)));
        let n = non_null(new.and_then(|m| m.get(field.name)));
        path.push(format!("f:{}", field.name));
        compare_value(field.ty, o, n, path, diff);
        path.pop();
    }
}

fn compare_value(
    ty: Ty,
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Vec<String>,
    diff: &mut Diff,
) {
    match ty {
        Ty::Struct(s) | Ty::Ptr(s) if !s.atomic => {
            let (o, n) = (
                old.and_then(Value::as_object),
                new.and_then(Value::as_object),
            );
            mark_container(
                o.is_some(),
                n.is_some_and(|m| !m.is_empty()),
                o.is_some_and(|m| !m.is_empty()) && n.is_none(),
                path,
                diff,
            );
            compare_struct(s, o, n, path, diff);
        }
        Ty::StrMap => {
            let (o, n) = (
                old.and_then(Value::as_object),
                new.and_then(Value::as_object),
            );
            mark_container(
                o.is_some(),
                n.is_some(),
                o.is_some() && n.is_none(),
                path,
                diff,
            );
            let keys: BTreeSet<&String> = o.into_iter().chain(n).flat_map(|m| m.keys()).collect();
            for k in keys {
                path.push(format!("f:{k}"));
                leaf(
                    o.and_then(|m| m.get(k)),
                    n.and_then(|m| m.get(k)),
                    path,
                    diff,
                );
                path.pop();
            }
        }
        Ty::StrSet | Ty::KeyedList(..) => {
            let items = |v: Option<&Value>| -> BTreeMap<String, Value> {
                v.and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|item| (element(ty, item), item.clone()))
                    .collect()
            };
            let (o, n) = (items(old), items(new));
            mark_container(
                !o.is_empty(),
                !n.is_empty(),
                !o.is_empty() && n.is_empty(),
                path,
                diff,
            );
            let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for k in keys {
                path.push(k.clone());
                leaf(o.get(k), n.get(k), path, diff);
                path.pop();
            }
        }
        _ => leaf(old, new, path, diff),
    }
}

/// The path element of a list item: `v:<json>` in a set, `k:{"<key>":…}` in a keyed list.
fn element(ty: Ty, item: &Value) -> String {
    match ty {
        Ty::KeyedList(_, key) => {
            let mut k = Map::new();
            k.insert(
                key.to_string(),
                item.get(key).cloned().unwrap_or(Value::Null),
            );
            format!("k:{}", Value::Object(k))
        }
        _ => format!("v:{item}"),
    }
}

/// A map or list owned as a whole when the write creates it.
fn mark_container(existed: bool, exists: bool, gone: bool, path: &[String], diff: &mut Diff) {
    if !existed && exists {
        diff.changed.insert(path.to_vec());
    }
    if gone {
        diff.removed.insert(path.to_vec());
    }
}

fn leaf(old: Option<&Value>, new: Option<&Value>, path: &[String], diff: &mut Diff) {
    match (non_null(old), non_null(new)) {
        (o, Some(n)) if o != Some(n) => {
            diff.changed.insert(path.to_vec());
        }
        (Some(_), None) => {
            diff.removed.insert(path.to_vec());
        }
        _ => {}
    }
}

/// Paths to `FieldsV1` JSON.
fn encode(paths: &Paths) -> Value {
    #[derive(Default)]
    struct Node {
        member: bool,
        children: BTreeMap<String, Node>,
    }
    fn to_json(n: &Node) -> Value {
        let mut m = Map::new();
        if n.member && !n.children.is_empty() {
            m.insert(".".into(), Value::Object(Map::new()));
        }
        for (k, child) in &n.children {
            m.insert(k.clone(), to_json(child));
        }
        Value::Object(m)
    }
    let mut root = Node::default();
    for p in paths {
        let mut node = &mut root;
        for seg in p {
            node = node.children.entry(seg.clone()).or_default();
        }
        node.member = true;
    }
    to_json(&root)
}

/// `FieldsV1` JSON back to paths.
fn parse(fields: Option<&FieldsV1>) -> Paths {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Paths) {
        let Some(m) = v.as_object() else { return };
        if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
            out.insert(path.clone());
        }
        for (k, child) in m.iter().filter(|(k, _)| *k != ".") {
            path.push(k.clone());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = Paths::new();
    if let Some(f) = fields {
        walk(&f.0, &mut Vec::new(), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(repr: Repr, v: Value) -> Event {
        repr.decode(v.as_object().cloned().unwrap_or_default())
            .unwrap()
            .event
    }

    fn fields_of(e: &Event, manager: &str) -> Value {
        let entries = e.metadata.managed_fields.as_ref().unwrap();
        let entry = entries
            .iter()
            .find(|m| m.manager.as_deref() == Some(manager))
            .unwrap();
        entry.fields_v1.clone().unwrap().0
    }

    #[test]
    fn managers_come_from_the_query_or_the_user_agent() {
        assert_eq!(
            manager(Some("kubectl-create"), "kubectl/v1.37.0 (linux/amd64)"),
            "kubectl-create"
        );
        assert_eq!(
            manager(None, "kubectl/v1.37.0 (linux/amd64) kubernetes/abc"),
            "kubectl"
        );
        assert_eq!(manager(Some(""), "kube-rs/5.0"), "kube-rs");
        assert_eq!(manager(None, ""), "");
        assert_eq!(manager(None, &"x".repeat(200)).len(), 128);
    }

    #[test]
    fn a_create_owns_what_it_set() {
        let mut e = ev(
            Repr::Stored,
            json!({
                "metadata": {"name": "e", "namespace": "default", "labels": {"app": "web"}},
                "involvedObject": {"kind": "Pod", "name": "p"},
                "reason": "Started", "message": "m", "count": 1, "type": "Normal",
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2024-06-01T12:00:00Z"
            }),
        );
        record(&mut e, None, Repr::Stored, "v1", "kubectl-create");
        let entry = &e.metadata.managed_fields.as_ref().unwrap()[0];
        assert_eq!(entry.manager.as_deref(), Some("kubectl-create"));
        assert_eq!(entry.operation.as_deref(), Some("Update"));
        assert_eq!(entry.api_version.as_deref(), Some("v1"));
        assert_eq!(entry.fields_type.as_deref(), Some("FieldsV1"));
        assert!(entry.time.is_some());
        assert_eq!(
            fields_of(&e, "kubectl-create"),
            json!({
                "f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {}, "f:message": {},
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:reason": {}, "f:source": {"f:component": {}, "f:host": {}}, "f:type": {}
            })
        );
    }

    #[test]
    fn updates_move_ownership_and_no_change_keeps_the_entries() {
        let mut old = ev(
            Repr::EventsV1,
            json!({
                "metadata": {"name": "e", "namespace": "default"},
                "note": "n", "reason": "R", "series": {"count": 2, "lastObservedTime": "2024-06-01T12:00:00.000000Z"}
            }),
        );
        record(
            &mut old,
            None,
            Repr::EventsV1,
            "events.k8s.io/v1",
            "recorder",
        );
        assert_eq!(
            fields_of(&old, "recorder"),
            json!({"f:note": {}, "f:reason": {}, "f:series": {".": {}, "f:count": {}, "f:lastObservedTime": {}}})
        );
        // kubectl changes the message through core/v1: it takes `message` from the recorder.
        let mut new = old.clone();
        new.message = Some("changed".into());
        record(&mut new, Some(&old), Repr::Stored, "v1", "kubectl-patch");
        let entries = new.metadata.managed_fields.clone().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            fields_of(&new, "recorder"),
            json!({"f:reason": {}, "f:series": {".": {}, "f:count": {}, "f:lastObservedTime": {}}})
        );
        assert_eq!(fields_of(&new, "kubectl-patch"), json!({"f:message": {}}));
        let v1_entry = entries
            .iter()
            .find(|m| m.manager.as_deref() == Some("recorder"))
            .unwrap();
        assert_eq!(v1_entry.api_version.as_deref(), Some("events.k8s.io/v1"));
        // The same write again changes nothing.
        let mut again = new.clone();
        record(&mut again, Some(&new), Repr::Stored, "v1", "kubectl-patch");
        assert_eq!(again.metadata.managed_fields, new.metadata.managed_fields);
        // An empty list sent by the client strips them.
        let mut strip = new.clone();
        strip.metadata.managed_fields = Some(vec![]);
        record(&mut strip, Some(&new), Repr::Stored, "v1", "x");
        assert!(strip.metadata.managed_fields.is_none());
    }

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:x": {}, "f:ownerReferences": {".": {}, "k:{\"uid\":\"u\"}": {}}});
        assert_eq!(encode(&parse(Some(&FieldsV1(v.clone())))), v);
    }
}
