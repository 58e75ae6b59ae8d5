//! Write bodies (create, update, patch): parsed once, checked, brought into the shape the
//! upstream stores, and scoped; serialized again only when something changed.

use serde_json::{Map, Value};

use crate::media::BodyKind;
use crate::route::{Api, Operation};
use crate::scope::{self, Scope, ScopeError};
use crate::status::{KubeError, Reason, Rejection};

/// What to do with one write body once it has fully arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyJob {
    pub kind: BodyKind,
    pub operation: Operation,
    /// The API the client speaks.
    pub api: Api,
    pub scope: Option<Scope>,
    /// The `apiVersion` the upstream stores objects under, when it differs from the client's
    /// (`None` in standard-paths mode, where nothing is converted).
    pub upstream_api_version: Option<String>,
    pub max_bytes: usize,
}

impl BodyJob {
    /// Whether the forwarded body can differ from the client's (then its length is dropped
    /// from the headers and Envoy re-frames it).
    pub fn may_rewrite(&self) -> bool {
        self.scope.is_some() || self.upstream_api_version.is_some()
    }

    /// `Ok(None)`: forward the body as sent; `Ok(Some(b))`: forward `b` instead.
    pub fn run(&self, body: &[u8]) -> Result<Option<Vec<u8>>, Rejection> {
        if body.len() > self.max_bytes {
            return Err(Rejection::new(
                Reason::RequestEntityTooLarge,
                format!(
                    "the request body is larger than the limit of {} bytes",
                    self.max_bytes
                ),
            ));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ScopeError::EmptyBody.rejection());
        }
        let mut value: Value = serde_json::from_slice(body)
            .map_err(|e| ScopeError::InvalidJson(e.to_string()).rejection())?;
        if let (Some(target), BodyKind::Object) = (&self.upstream_api_version, self.kind) {
            let obj = value
                .as_object_mut()
                .ok_or_else(|| ScopeError::NotAnObject.rejection())?;
            retag(obj, self.api, target)?;
        }
        scope::enforce(self.kind, &mut value, self.scope.as_ref()).map_err(|e| e.rejection())?;
        if !self.may_rewrite() {
            return Ok(None);
        }
        serde_json::to_vec(&value)
            .map(Some)
            .map_err(|e| Rejection::new(Reason::InternalError, e.to_string()))
    }
}

/// The object must be of the client's API (as the API server checks), and is re-tagged with the
/// upstream's `apiVersion`. Absent `apiVersion`/`kind` stay absent: the upstream defaults them.
fn retag(obj: &mut Map<String, Value>, api: Api, target: &str) -> Result<(), Rejection> {
    match obj.get("apiVersion") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) if v == api.api_version() => {
            obj.insert("apiVersion".into(), Value::String(target.to_owned()));
        }
        Some(other) => {
            return Err(Rejection::new(
                Reason::BadRequest,
                format!(
                    "the API version in the data ({}) does not match the expected API version ({})",
                    other.as_str().unwrap_or("non-string"),
                    api.api_version()
                ),
            ))
        }
    }
    match obj.get("kind") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(k)) if k == "Event" => Ok(()),
        Some(other) => Err(Rejection::new(
            Reason::BadRequest,
            format!(
                "the kind in the data ({}) does not match the expected kind (Event)",
                other.as_str().unwrap_or("non-string")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(kind: BodyKind, scope: Option<Scope>, target: Option<&str>) -> BodyJob {
        BodyJob {
            kind,
            operation: Operation::Create,
            api: Api::CoreV1,
            scope,
            upstream_api_version: target.map(str::to_owned),
            max_bytes: 1024,
        }
    }

    fn run(job: &BodyJob, body: Value) -> Result<Option<Value>, Rejection> {
        job.run(body.to_string().as_bytes())
            .map(|o| o.map(|b| serde_json::from_slice(&b).unwrap()))
    }

    const ACT: Option<&str> = Some("activity.miloapis.com/v1alpha1");

    #[test]
    fn core_objects_are_retagged_for_activity() {
        let out = run(
            &job(BodyKind::Object, None, ACT),
            json!({"apiVersion":"v1","kind":"Event","metadata":{"name":"e"}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["apiVersion"], "activity.miloapis.com/v1alpha1");
        assert_eq!(out["kind"], "Event");
        // Absent stays absent.
        let out = run(&job(BodyKind::Object, None, ACT), json!({"metadata":{}}))
            .unwrap()
            .unwrap();
        assert!(out.get("apiVersion").is_none());
    }

    #[test]
    fn wrong_api_version_or_kind_is_400() {
        for body in [
            json!({"apiVersion":"events.k8s.io/v1"}),
            json!({"apiVersion":5}),
            json!({"apiVersion":"v1","kind":"Pod"}),
        ] {
            let e = run(&job(BodyKind::Object, None, ACT), body).unwrap_err();
            assert_eq!(e.code(), 400);
        }
    }

    #[test]
    fn standard_mode_platform_bodies_are_untouched() {
        let j = job(BodyKind::Object, None, None);
        assert!(!j.may_rewrite());
        assert_eq!(run(&j, json!({"apiVersion":"v1"})).unwrap(), None);
    }

    #[test]
    fn patches_are_not_retagged() {
        let out = run(
            &job(BodyKind::MergePatch, None, ACT),
            json!({"apiVersion":"v1","message":"m"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["apiVersion"], "v1");
    }

    #[test]
    fn limits_and_empty_bodies() {
        let j = job(BodyKind::Object, None, ACT);
        assert_eq!(j.run(&[b' '; 1025]).unwrap_err().code(), 413);
        assert_eq!(j.run(b"  ").unwrap_err().code(), 400);
        assert_eq!(j.run(b"{").unwrap_err().code(), 400);
    }
}
