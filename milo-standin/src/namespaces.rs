//! Namespaces, read-only: every valid DNS-1123 label "exists" (Active), so kubectl works in any
//! namespace of any control plane; the list holds the configured well-known names. kubectl
//! looks the namespace up after a 404 on a namespaced resource, and prints a misleading error
//! when that lookup fails too.

use k8s_openapi::api::core::v1::{Namespace, NamespaceSpec, NamespaceStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::{json, Value};

use crate::negotiate::ObjectForm;
use crate::path::is_dns1123_label;
use crate::status::ApiError;

/// Namespaces every control plane has.
pub const DEFAULT_NAMESPACES: [&str; 4] =
    ["default", "kube-node-lease", "kube-public", "kube-system"];

const RESOURCE_VERSION: &str = "1";
const UID_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6d696c6f_2d73_7461_6e64_696e2d6e7300);

#[derive(Debug, Clone)]
pub struct Namespaces {
    listed: Vec<String>,
    created: Timestamp,
}

/// `includeObject` of a Table request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v.unwrap_or_default() {
            "" | "Metadata" => Ok(IncludeObject::Metadata),
            "None" => Ok(IncludeObject::None),
            "Object" => Ok(IncludeObject::Object),
            other => Err(ApiError::BadRequest(format!(
                "Unable to convert to Table as requested: includeObject: Unsupported value: {other:?}: supported values: \"None\", \"Object\", \"Metadata\""
            ))),
        }
    }
}

/// An equality-based selector (`k=v`, `k==v`, `k!=v`, comma-separated): all kube-apiserver
/// accepts for fields, and the common form for labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<(String, bool, String)>);

impl Selector {
    pub fn parse(s: Option<&str>, what: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for term in s
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let (k, eq, v) = if let Some((k, v)) = term.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = term.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = term.split_once('=') {
                (k, true, v)
            } else {
                return Err(ApiError::BadRequest(format!(
                    "unable to parse requirement: {what} {term:?}: the Milo stand-in supports only =, == and !="
                )));
            };
            reqs.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(Selector(reqs))
    }

    fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0
            .iter()
            .all(|(k, eq, v)| (get(k).as_deref() == Some(v.as_str())) == *eq)
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _, _)| k.as_str())
    }
}

impl Namespaces {
    pub fn new(listed: Vec<String>) -> Self {
        Namespaces {
            listed,
            // Whole seconds, as Kubernetes stores timestamps.
            created: Timestamp::from_second(crate::recorder::now().as_second())
                .unwrap_or(Timestamp::UNIX_EPOCH),
        }
    }

    /// The namespace `name`, or NotFound when it is not a DNS-1123 label.
    pub fn get(&self, name: &[u8]) -> Result<Namespace, ApiError> {
        match std::str::from_utf8(name) {
            Ok(n) if is_dns1123_label(name) => Ok(self.object(n)),
            _ => Err(ApiError::NotFound {
                group: String::new(),
                resource: "namespaces".into(),
                name: String::from_utf8_lossy(name).into_owned(),
            }),
        }
    }

    fn object(&self, name: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                uid: Some(uuid::Uuid::new_v5(&UID_NAMESPACE, name.as_bytes()).to_string()),
                resource_version: Some(RESOURCE_VERSION.into()),
                creation_timestamp: Some(Time(self.created)),
                labels: Some(
                    [("kubernetes.io/metadata.name".to_string(), name.to_string())].into(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(NamespaceSpec {
                finalizers: Some(vec!["kubernetes".into()]),
            }),
            status: Some(NamespaceStatus {
                phase: Some("Active".into()),
                conditions: None,
            }),
        }
    }

    /// The listed namespaces that match both selectors.
    pub fn list(&self, labels: &Selector, fields: &Selector) -> Result<Vec<Namespace>, ApiError> {
        if let Some(bad) = fields
            .keys()
            .find(|k| !matches!(*k, "metadata.name" | "status.phase"))
        {
            return Err(ApiError::BadRequest(format!(
                "field label not supported: {bad}"
            )));
        }
        Ok(self
            .listed
            .iter()
            .map(|n| self.object(n))
            .filter(|ns| {
                labels.matches(|k| ns.metadata.labels.as_ref().and_then(|l| l.get(k)).cloned())
                    && fields.matches(|k| match k {
                        "metadata.name" => ns.metadata.name.clone(),
                        "status.phase" => Some("Active".into()),
                        _ => None,
                    })
            })
            .collect())
    }

    fn age(&self) -> String {
        let secs = crate::recorder::now().as_second() - self.created.as_second();
        human_duration(secs)
    }

    /// A single namespace in the negotiated form.
    pub fn render_one(&self, ns: &Namespace, form: ObjectForm, include: IncludeObject) -> Value {
        match form {
            ObjectForm::Object => to_value(ns),
            ObjectForm::PartialMetadata(v) => partial(ns, v),
            ObjectForm::Table(v) => self.table(std::slice::from_ref(ns), v, include, false),
        }
    }

    /// A list in the negotiated form.
    pub fn render_list(
        &self,
        items: &[Namespace],
        form: ObjectForm,
        include: IncludeObject,
    ) -> Value {
        match form {
            ObjectForm::Object => json!({
                "kind": "NamespaceList",
                "apiVersion": "v1",
                "metadata": serde_json::to_value(ListMeta { resource_version: Some(RESOURCE_VERSION.into()), ..ListMeta::default() }).unwrap_or(Value::Null),
                "items": items.iter().map(to_value).collect::<Vec<_>>(),
            }),
            ObjectForm::PartialMetadata(v) => json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": format!("meta.k8s.io/{v}"),
                "metadata": {"resourceVersion": RESOURCE_VERSION},
                "items": items.iter().map(|n| partial(n, v)).collect::<Vec<_>>(),
            }),
            ObjectForm::Table(v) => self.table(items, v, include, true),
        }
    }

    /// kube-apiserver's namespace printer: Name, Status, Age.
    fn table(
        &self,
        items: &[Namespace],
        version: &str,
        include: IncludeObject,
        list: bool,
    ) -> Value {
        let age = self.age();
        let rows: Vec<Value> = items
            .iter()
            .map(|ns| {
                let mut row = json!({
                    "cells": [ns.metadata.name.clone().unwrap_or_default(), "Active", age],
                });
                let object = match include {
                    IncludeObject::None => None,
                    IncludeObject::Metadata => Some(partial(ns, version)),
                    IncludeObject::Object => Some(to_value(ns)),
                };
                if let (Some(o), Some(r)) = (object, row.as_object_mut()) {
                    r.insert("object".into(), o);
                }
                row
            })
            .collect();
        let mut metadata = json!({});
        if list {
            metadata = json!({"resourceVersion": RESOURCE_VERSION});
        }
        json!({
            "kind": "Table",
            "apiVersion": format!("meta.k8s.io/{version}"),
            "metadata": metadata,
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names", "priority": 0},
                {"name": "Status", "type": "string", "format": "", "description": "The status of the namespace", "priority": 0},
                {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata", "priority": 0}
            ],
            "rows": rows,
        })
    }
}

fn to_value(ns: &Namespace) -> Value {
    serde_json::to_value(ns).unwrap_or(Value::Null)
}

fn partial(ns: &Namespace, version: &str) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": format!("meta.k8s.io/{version}"),
        "metadata": serde_json::to_value(&ns.metadata).unwrap_or(Value::Null),
    })
}

/// `duration.HumanDuration` from apimachinery: what kubectl shows in AGE columns.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns() -> Namespaces {
        Namespaces::new(DEFAULT_NAMESPACES.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn any_dns_label_exists() {
        let n = ns().get(b"team-a").unwrap();
        let v = to_value(&n);
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["metadata"]["name"], "team-a");
        assert_eq!(
            v["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "team-a"
        );
        assert_eq!(v["status"]["phase"], "Active");
        assert_eq!(v["spec"]["finalizers"], json!(["kubernetes"]));
        // Stable uid per name.
        assert_eq!(
            to_value(&ns().get(b"team-a").unwrap())["metadata"]["uid"],
            v["metadata"]["uid"]
        );
        for bad in [&b"Team"[..], b"a_b", b"a.b", &[0xff], &[b'x'; 64]] {
            let e = ns().get(bad).unwrap_err();
            assert_eq!(e.code(), 404);
        }
        assert_eq!(
            ns().get(b"Team").unwrap_err().to_string(),
            r#"namespaces "Team" not found"#
        );
    }

    #[test]
    fn list_and_selectors() {
        let n = ns();
        let all = n.list(&Selector::default(), &Selector::default()).unwrap();
        assert_eq!(all.len(), 4);
        let f = Selector::parse(Some("metadata.name=default"), "fieldSelector").unwrap();
        assert_eq!(n.list(&Selector::default(), &f).unwrap().len(), 1);
        let f = Selector::parse(Some("metadata.name!=default"), "fieldSelector").unwrap();
        assert_eq!(n.list(&Selector::default(), &f).unwrap().len(), 3);
        let l = Selector::parse(
            Some("kubernetes.io/metadata.name==kube-system"),
            "labelSelector",
        )
        .unwrap();
        assert_eq!(n.list(&l, &Selector::default()).unwrap().len(), 1);
        let f = Selector::parse(Some("spec.x=1"), "fieldSelector").unwrap();
        assert_eq!(
            n.list(&Selector::default(), &f).unwrap_err().to_string(),
            "field label not supported: spec.x"
        );
        assert!(Selector::parse(Some("env in (a)"), "labelSelector").is_err());
    }

    #[test]
    fn table_form() {
        let n = ns();
        let one = n.get(b"default").unwrap();
        let t = n.render_one(&one, ObjectForm::Table("v1"), IncludeObject::Metadata);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "default");
        assert_eq!(cells[1], "Active");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let t = n.render_one(&one, ObjectForm::Table("v1"), IncludeObject::None);
        assert!(t["rows"][0].get("object").is_none());
        let t = n.render_one(&one, ObjectForm::Table("v1beta1"), IncludeObject::Object);
        assert_eq!(t["rows"][0]["object"]["kind"], "Namespace");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1beta1");
        assert_eq!(IncludeObject::parse(Some("x")).unwrap_err().code(), 400);
    }

    #[test]
    fn human_durations() {
        for (s, want) in [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60, "3h1m"),
            (47 * 3600, "47h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (3000 * 86400, "8y"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }
}
