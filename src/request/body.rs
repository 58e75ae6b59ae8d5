//! Write bodies (create, update, patch): parsed once, checked, brought into the shape the
//! upstream stores, and scoped; serialized again only when something changed.

use serde_json::{Map, Value};

use crate::k8s::api::BodyKind;
use crate::k8s::api::{Api, Operation};
use crate::k8s::events::{self, ConvertError};
use crate::k8s::status::{KubeError, Reason, Rejection};
use crate::request::scope::{self, Scope, ScopeError};

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
    /// Namespace from the URL (objects without one get it, others must match).
    pub namespace: String,
    /// `fieldValidation=Strict`: fields dropped by the conversion are an error.
    pub strict: bool,
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
            return Err(too_large(self.max_bytes));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ScopeError::EmptyBody.rejection());
        }
        let mut value: Value = serde_json::from_slice(body)
            .map_err(|e| ScopeError::InvalidJson(e.to_string()).rejection())?;
        if let Some(target) = &self.upstream_api_version {
            if self.kind == BodyKind::Object {
                let obj = value
                    .as_object_mut()
                    .ok_or_else(|| ScopeError::NotAnObject.rejection())?;
                retag(obj, self.api, target)?;
            }
            if self.api == Api::EventsV1 {
                self.to_core(&mut value).map_err(|e| e.rejection())?;
            }
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

impl BodyJob {
    /// An events.k8s.io/v1 body (object or patch) in the core shape Activity stores, checked
    /// the way kube-apiserver checks an events.k8s.io/v1 write.
    fn to_core(&self, value: &mut Value) -> Result<(), ConvertError> {
        let dropped = match self.kind {
            BodyKind::Object => {
                let Some(obj) = value.as_object_mut() else {
                    return Err(ConvertError::WrongType("the body is not an object".into()));
                };
                events::check_events_v1_types(obj)?;
                events::apply_request_namespace(obj, &self.namespace)?;
                if self.operation == Operation::Create {
                    events::check_events_v1_create(obj)?;
                }
                events::events_v1_to_core(obj)
            }
            BodyKind::MergePatch => events::merge_patch_events_v1_to_core(value)?,
            BodyKind::StrategicMergePatch => {
                events::strategic_merge_patch_events_v1_to_core(value)?
            }
            BodyKind::JsonPatch => events::json_patch_events_v1_to_core(value)?,
        };
        if self.strict && !dropped.is_empty() {
            return Err(ConvertError::UnknownFields(dropped));
        }
        Ok(())
    }
}

/// A write body over the configured limit, however that was found out (declared length,
/// buffered size, or the body itself).
pub fn too_large(max_bytes: usize) -> Rejection {
    Rejection::new(
        Reason::RequestEntityTooLarge,
        format!("the request body is larger than the limit of {max_bytes} bytes"),
    )
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
            namespace: "default".into(),
            strict: false,
            max_bytes: 1024,
        }
    }

    fn events_job(kind: BodyKind, operation: Operation, strict: bool) -> BodyJob {
        BodyJob {
            api: Api::EventsV1,
            operation,
            strict,
            ..job(kind, None, ACT)
        }
    }

    fn valid_events_v1() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e1"},
            "eventTime": "2026-11-26T08:00:00.000000Z",
            "reportingController": "example.com/controller", "reportingInstance": "i-1",
            "action": "Pulling", "reason": "Pulled", "type": "Normal", "note": "pulled",
            "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}
        })
    }

    #[test]
    fn events_v1_creates_are_validated_and_converted() {
        let out = run(
            &events_job(BodyKind::Object, Operation::Create, false),
            valid_events_v1(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["apiVersion"], "activity.miloapis.com/v1alpha1");
        assert_eq!(out["involvedObject"]["name"], "p");
        assert_eq!(out["message"], "pulled");
        assert_eq!(out["reportingComponent"], "example.com/controller");
        assert_eq!(out["metadata"]["namespace"], "default");
        let mut bad = valid_events_v1();
        bad.as_object_mut().unwrap().remove("eventTime");
        let e = run(&events_job(BodyKind::Object, Operation::Create, false), bad).unwrap_err();
        assert_eq!(e.code(), 422);
        assert!(
            e.message.contains("eventTime: Required value"),
            "{}",
            e.message
        );
        let mut other_ns = valid_events_v1();
        other_ns["metadata"]["namespace"] = json!("elsewhere");
        assert_eq!(
            run(
                &events_job(BodyKind::Object, Operation::Create, false),
                other_ns
            )
            .unwrap_err()
            .code(),
            400
        );
    }

    #[test]
    fn events_v1_strict_field_validation() {
        let mut body = valid_events_v1();
        body["message"] = json!("core name in an events.k8s.io body");
        assert!(run(
            &events_job(BodyKind::Object, Operation::Create, false),
            body.clone()
        )
        .is_ok());
        let e = run(&events_job(BodyKind::Object, Operation::Create, true), body).unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(
            e.message.contains("unknown field \"message\""),
            "{}",
            e.message
        );
    }

    #[test]
    fn events_v1_patches_use_core_names() {
        let out = run(
            &events_job(BodyKind::MergePatch, Operation::Patch, false),
            json!({"note": "n", "series": {"count": 2, "lastObservedTime": "2026-11-26T08:00:00.000000Z"}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["message"], "n");
        assert_eq!(out["series"]["count"], 2);
        let ops = run(
            &events_job(BodyKind::JsonPatch, Operation::Patch, false),
            json!([{"op": "replace", "path": "/regarding/name", "value": "q"}]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(ops[0]["path"], "/involvedObject/name");
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
