//! OpenAPI v3: the index at `/openapi/v3` and one document per group version.
//!
//! `api/v1` is `data/openapi-v3-api-v1.json` (the sandbox's trimmed core/v1 Event document,
//! copied from `envoy/discovery/`) plus `data/openapi-v3-api-v1-namespaces.json`. Its PATCH
//! operations carry the inline `fieldValidation` parameter, which is what lets
//! `kubectl create -f event.yaml` pass kubectl's default validation without `/openapi/v2`.
//! The Milo groups get a small document built from the discovery table (objects with
//! free-form `spec`/`status`), sharing the meta/v1 schemas of the core document.
//! events.k8s.io is not here: the sidecar serves it.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::discovery::{self, GroupVersion, ResourceDef};

const CORE: &str = include_str!("../data/openapi-v3-api-v1.json");
const NAMESPACES: &str = include_str!("../data/openapi-v3-api-v1-namespaces.json");
const META_PREFIX: &str = "io.k8s.apimachinery.";

/// One served document and its hash (upper-case hex SHA-512 of the bytes, as kube-apiserver).
#[derive(Debug, Clone)]
pub struct Document {
    pub body: Bytes,
    pub hash: String,
}

#[derive(Debug, Clone)]
pub struct OpenApi {
    docs: BTreeMap<String, Document>,
    index: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenApiError {
    #[error("embedded OpenAPI document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("embedded OpenAPI document has no {0}")]
    Missing(&'static str),
}

fn document(v: &Value) -> Result<Document, OpenApiError> {
    let body = serde_json::to_vec(v)?;
    let digest = ring::digest::digest(&ring::digest::SHA512, &body);
    let hash = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<String>();
    Ok(Document {
        body: Bytes::from(body),
        hash,
    })
}

fn object_mut<'a>(
    v: &'a mut Value,
    key: &'static str,
) -> Result<&'a mut Map<String, Value>, OpenApiError> {
    v.get_mut(key)
        .and_then(Value::as_object_mut)
        .ok_or(OpenApiError::Missing(key))
}

fn core_document() -> Result<Value, OpenApiError> {
    let mut core: Value = serde_json::from_str(CORE)?;
    let extra: Value = serde_json::from_str(NAMESPACES)?;
    if let Some(paths) = extra.get("paths").and_then(Value::as_object) {
        let target = object_mut(&mut core, "paths")?;
        for (k, v) in paths {
            target.insert(k.clone(), v.clone());
        }
    }
    if let Some(schemas) = extra
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    {
        let target = core
            .pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut)
            .ok_or(OpenApiError::Missing("components.schemas"))?;
        for (k, v) in schemas {
            target.insert(k.clone(), v.clone());
        }
    }
    Ok(core)
}

impl OpenApi {
    pub fn build() -> Result<Self, OpenApiError> {
        let core = core_document()?;
        let meta: Map<String, Value> = core
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .ok_or(OpenApiError::Missing("components.schemas"))?
            .iter()
            .filter(|(k, _)| k.starts_with(META_PREFIX))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let info = core.get("info").cloned().unwrap_or(Value::Null);
        let mut docs = BTreeMap::new();
        docs.insert("api/v1".to_string(), document(&core)?);
        for gv in discovery::openapi_groups() {
            let doc = group_document(gv, &meta, &info);
            docs.insert(format!("apis/{}", gv.group_version()), document(&doc)?);
        }
        let paths: Map<String, Value> = docs
            .iter()
            .map(|(k, d)| {
                (
                    k.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{k}?hash={}", d.hash)}),
                )
            })
            .collect();
        Ok(OpenApi {
            docs,
            index: json!({ "paths": paths }),
        })
    }

    /// The `/openapi/v3` index.
    pub fn index(&self) -> &Value {
        &self.index
    }

    /// A document by its index key (`api/v1`, `apis/{group}/{version}`).
    pub fn get(&self, key: &str) -> Option<&Document> {
        self.docs.get(key)
    }
}

/// `com.miloapis.resourcemanager.v1alpha1.Organization`: kube's schema names for CRD types.
fn schema_name(gv: &GroupVersion, kind: &str) -> String {
    let reversed: Vec<&str> = gv.group.split('.').rev().collect();
    format!("{}.{}.{kind}", reversed.join("."), gv.version)
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn query(name: &str, typ: &str, description: &str) -> Value {
    json!({"description": description, "in": "query", "name": name, "schema": {"type": typ, "uniqueItems": true}})
}

fn write_params(patch: bool) -> Value {
    let mut p = vec![
        query("dryRun", "string", "When present, indicates that modifications should not be persisted."),
        query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes."),
        query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, Warn, Strict."),
    ];
    if patch {
        p.push(query(
            "force",
            "boolean",
            "Force is going to \"force\" Apply requests.",
        ));
    }
    Value::Array(p)
}

fn operation(
    action: &str,
    verb: &str,
    gv: &GroupVersion,
    r: &ResourceDef,
    response: &str,
) -> Value {
    let tag = format!("{}_{}", gv.group.replace('.', "_"), gv.version);
    let mut op = json!({
        "description": format!("{verb} {}", r.kind),
        "operationId": format!("{action}{}", r.kind),
        "responses": {
            "200": {"content": {"application/json": {"schema": schema_ref(response)}}, "description": "OK"},
            "401": {"description": "Unauthorized"}
        },
        "tags": [tag],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": gv.group, "kind": r.kind, "version": gv.version}
    });
    let params = match action {
        "post" | "put" => Some(write_params(false)),
        "patch" => Some(write_params(true)),
        _ => None,
    };
    if let (Some(p), Some(o)) = (params, op.as_object_mut()) {
        o.insert("parameters".into(), p);
    }
    op
}

fn resource_schemas(gv: &GroupVersion, r: &ResourceDef) -> [(String, Value); 2] {
    let name = schema_name(gv, r.kind);
    let string = |d: &str| json!({"description": d, "type": "string"});
    let object = json!({
        "description": format!("{} of the Milo API (stand-in schema: spec and status are not checked).", r.kind),
        "properties": {
            "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "metadata": {"allOf": [schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")], "default": {}},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        },
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": gv.group, "kind": r.kind, "version": gv.version}]
    });
    let list_kind = format!("{}List", r.kind);
    let list = json!({
        "description": format!("{list_kind} is a list of {}.", r.kind),
        "properties": {
            "apiVersion": string("APIVersion defines the versioned schema of this representation of an object."),
            "items": {"items": schema_ref(&name), "type": "array"},
            "kind": string("Kind is a string value representing the REST resource this object represents."),
            "metadata": {"allOf": [schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")], "default": {}}
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": gv.group, "kind": list_kind, "version": gv.version}]
    });
    [(name.clone(), object), (format!("{name}List"), list)]
}

fn group_document(gv: &GroupVersion, meta: &Map<String, Value>, info: &Value) -> Value {
    let base = format!("/apis/{}", gv.group_version());
    let mut paths = Map::new();
    paths.insert(
        format!("{base}/"),
        json!({"get": {
            "description": "get available resources",
            "operationId": "getAPIResources",
            "responses": {"200": {"content": {"application/json": {"schema": schema_ref("io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList")}}, "description": "OK"}}
        }}),
    );
    let mut schemas = meta.clone();
    for r in gv.resources {
        let [(obj, obj_schema), (list, list_schema)] = resource_schemas(gv, r);
        let collection = if r.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", r.name)
        } else {
            format!("{base}/{}", r.name)
        };
        paths.insert(
            collection.clone(),
            json!({
                "get": operation("list", "list or watch objects of kind", gv, r, &list),
                "post": operation("post", "create a", gv, r, &obj),
            }),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "get": operation("get", "read the specified", gv, r, &obj),
                "put": operation("put", "replace the specified", gv, r, &obj),
                "patch": operation("patch", "partially update the specified", gv, r, &obj),
                "delete": operation("delete", "delete a", gv, r, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            }),
        );
        schemas.insert(obj, obj_schema);
        schemas.insert(list, list_schema);
    }
    json!({
        "openapi": "3.0.0",
        "info": info,
        "paths": paths,
        "components": {"schemas": schemas}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_lists_core_and_milo_groups_only() {
        let o = OpenApi::build().unwrap();
        let keys: Vec<&String> = o.index()["paths"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "api/v1",
                "apis/iam.miloapis.com/v1alpha1",
                "apis/resourcemanager.miloapis.com/v1alpha1"
            ]
        );
        let url = o.index()["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap();
        let doc = o.get("api/v1").unwrap();
        assert_eq!(url, format!("/openapi/v3/api/v1?hash={}", doc.hash));
        assert_eq!(doc.hash.len(), 128);
        assert!(!String::from_utf8_lossy(&doc.body).contains("events.k8s.io"));
    }

    #[test]
    fn core_document_has_events_with_field_validation_and_namespaces() {
        let o = OpenApi::build().unwrap();
        let v: Value = serde_json::from_slice(&o.get("api/v1").unwrap().body).unwrap();
        let patch = &v["paths"]["/api/v1/namespaces/{namespace}/events/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "", "kind": "Event", "version": "v1"})
        );
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(v["components"]["schemas"]["io.k8s.api.core.v1.Namespace"].is_object());
        assert!(v["paths"]["/api/v1/namespaces/{name}"]["get"].is_object());
    }

    #[test]
    fn milo_group_documents() {
        let o = OpenApi::build().unwrap();
        let v: Value = serde_json::from_slice(
            &o.get("apis/resourcemanager.miloapis.com/v1alpha1")
                .unwrap()
                .body,
        )
        .unwrap();
        let patch = &v["paths"]["/apis/resourcemanager.miloapis.com/v1alpha1/organizations/{name}"]
            ["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Organization"
        );
        assert!(v["paths"]
            ["/apis/resourcemanager.miloapis.com/v1alpha1/namespaces/{namespace}/organizationmemberships"]
            ["get"]
            .is_object());
        let schemas = v["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("com.miloapis.resourcemanager.v1alpha1.Project"));
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }
}
