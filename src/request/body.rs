//! Write bodies (create, update, patch): parsed once, checked, brought into the shape the
//! upstream stores, and scoped; serialized again only when something changed.

use serde_json::{Map, Value};

use crate::k8s::api::BodyKind;
use crate::k8s::api::{Api, Operation};
use crate::k8s::events::{self, ConvertError};
use crate::k8s::status::{KubeError, Reason, Rejection};
use crate::request::scope::{self, Scope, ScopeError};
use crate::request::splice::{self, Retag, Spliced};

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
    /// Name from the URL (updates and patches).
    pub name: Option<String>,
    /// What fields dropped by the conversion come to.
    pub field_validation: FieldValidation,
    pub max_bytes: usize,
}

/// The `fieldValidation` query parameter of a write, for the fields the events.k8s.io/v1
/// conversion drops (the upstream never sees them, so it cannot report them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    /// Dropped silently (kubectl `--validate=false`).
    Ignore,
    /// Dropped with a `Warning: 299` header each: kube-apiserver's default when the parameter
    /// is absent, and kubectl `--validate=warn`.
    Warn,
    /// Refused with 400 (kubectl's default, `--validate=true`/`strict`).
    Strict,
}

impl FieldValidation {
    /// From the first `fieldValidation` value (case-sensitive, as kube-apiserver reads it).
    /// A value kube-apiserver does not support is left to the upstream, which refuses the
    /// request (422) for it: no warnings and no refusal here.
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Strict") => FieldValidation::Strict,
            Some(_) => FieldValidation::Ignore,
        }
    }
}

impl BodyJob {
    /// Whether the forwarded body can differ from the client's (then its length is dropped
    /// from the headers and Envoy re-frames it).
    pub fn may_rewrite(&self) -> bool {
        self.scope.is_some() || self.upstream_api_version.is_some()
    }

    /// `Ok(None)`: forward the body as sent; `Ok(Some(b))`: forward `b` instead.
    pub fn run(&self, body: &[u8]) -> Result<Option<Vec<u8>>, Rejection> {
        self.run_with_warnings(body, &mut Vec::new())
    }

    /// [`BodyJob::run`], and the `Warning` header values (`299 - "unknown field \"...\""`) the
    /// client is owed for fields the conversion dropped. They are set even when the result is a
    /// refusal found after decoding (namespace, name, validation): kube-apiserver records them
    /// while decoding and sends them with whatever answer follows.
    pub fn run_with_warnings(
        &self,
        body: &[u8],
        warnings: &mut Vec<String>,
    ) -> Result<Option<Vec<u8>>, Rejection> {
        self.admit(body)?;
        match self.splice(body) {
            Spliced::AsSent => return Ok(None),
            Spliced::Rewritten(out) => return Ok(Some(out)),
            Spliced::NotPlain => {}
        }
        self.parsed(body, warnings)
    }

    /// [`BodyJob::run_with_warnings`] with every body parsed into a `Value`: the reference the
    /// splice is checked against (unit tests of [`splice`], fuzz target `splice`).
    pub fn run_unspliced(
        &self,
        body: &[u8],
        warnings: &mut Vec<String>,
    ) -> Result<Option<Vec<u8>>, Rejection> {
        self.admit(body)?;
        self.parsed(body, warnings)
    }

    fn admit(&self, body: &[u8]) -> Result<(), Rejection> {
        if body.len() > self.max_bytes {
            return Err(too_large(self.max_bytes));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ScopeError::EmptyBody.rejection());
        }
        Ok(())
    }

    /// Whole objects that no events.k8s.io conversion touches may be spliced; everything else,
    /// and every body the splice cannot prove plain, is parsed.
    fn splice(&self, body: &[u8]) -> Spliced {
        if self.kind != BodyKind::Object
            || (self.api != Api::CoreV1 && self.upstream_api_version.is_some())
        {
            return Spliced::NotPlain;
        }
        let retag = self.upstream_api_version.as_deref().map(|to| Retag {
            from: self.api.api_version(),
            to,
        });
        splice::object(body, self.scope.as_ref(), retag)
    }

    fn parsed(
        &self,
        body: &[u8],
        warnings: &mut Vec<String>,
    ) -> Result<Option<Vec<u8>>, Rejection> {
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
                self.to_core(&mut value, warnings)
                    .map_err(|e| e.rejection())?;
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
    /// the way kube-apiserver checks an events.k8s.io/v1 write, in its order: decoding (wrong
    /// types, then unknown fields under `Strict`), the namespace and name of the URL, then
    /// validation. Warnings for dropped fields are known once the body is decoded.
    fn to_core(&self, value: &mut Value, warnings: &mut Vec<String>) -> Result<(), ConvertError> {
        let mut causes = Ok(());
        let dropped = match self.kind {
            BodyKind::Object => {
                let Some(obj) = value.as_object_mut() else {
                    return Err(ConvertError::WrongType("the body is not an object".into()));
                };
                events::check_events_v1_types(obj)?;
                let placed = events::apply_request_namespace(obj, &self.namespace);
                if placed.is_ok() {
                    causes = match self.operation {
                        Operation::Create => events::check_events_v1_create(obj),
                        _ => events::check_events_v1_update(obj),
                    };
                }
                let name = obj
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let dropped = events::events_v1_to_core(obj);
                self.decoded(&dropped, warnings)?;
                placed?;
                match &self.name {
                    Some(url) if self.operation == Operation::Update && *url != name => {
                        return Err(ConvertError::NameMismatch {
                            object: name,
                            url: url.clone(),
                        })
                    }
                    _ => {}
                }
                return causes;
            }
            BodyKind::MergePatch | BodyKind::StrategicMergePatch => {
                let cleared = null_members(value);
                causes = self.check_patch(events::PatchKind::Merge, value);
                let mut dropped = if self.kind == BodyKind::MergePatch {
                    events::merge_patch_events_v1_to_core(value)?
                } else {
                    events::strategic_merge_patch_events_v1_to_core(value)?
                };
                // A member the patch sets to null is not in the patched object: nothing to
                // report.
                dropped.retain(|f| !cleared.contains(f));
                dropped
            }
            BodyKind::JsonPatch => {
                causes = self.check_patch(events::PatchKind::Json, value);
                events::json_patch_events_v1_to_core(value)?
            }
        };
        self.decoded(&dropped, warnings)?;
        causes
    }

    fn check_patch(&self, kind: events::PatchKind, patch: &Value) -> Result<(), ConvertError> {
        events::check_events_v1_patch(kind, patch, self.name.as_deref().unwrap_or(""))
    }

    /// The decoder's verdict on the dropped fields: refused under `Strict`, warned under `Warn`.
    fn decoded(&self, dropped: &[String], warnings: &mut Vec<String>) -> Result<(), ConvertError> {
        if dropped.is_empty() {
            return Ok(());
        }
        match self.field_validation {
            FieldValidation::Strict => Err(ConvertError::UnknownFields(dropped.to_vec())),
            FieldValidation::Warn => {
                *warnings = events::warning_headers(&events::unknown_field_warnings(dropped));
                Ok(())
            }
            FieldValidation::Ignore => Ok(()),
        }
    }
}

/// Top-level members of a merge patch whose value is `null`.
fn null_members(patch: &Value) -> Vec<String> {
    patch
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| v.is_null())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
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
            name: None,
            field_validation: FieldValidation::Warn,
            max_bytes: 1024,
        }
    }

    fn events_job(kind: BodyKind, operation: Operation, strict: bool) -> BodyJob {
        BodyJob {
            api: Api::EventsV1,
            operation,
            name: Some("e1".into()),
            field_validation: if strict {
                FieldValidation::Strict
            } else {
                FieldValidation::Warn
            },
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

    fn run_warned(job: &BodyJob, body: Value) -> (Result<Option<Value>, Rejection>, Vec<String>) {
        let mut w = Vec::new();
        let r = job
            .run_with_warnings(body.to_string().as_bytes(), &mut w)
            .map(|o| o.map(|b| serde_json::from_slice(&b).unwrap()));
        (r, w)
    }

    #[test]
    fn field_validation_is_read_like_kube_apiserver() {
        assert_eq!(FieldValidation::from_query(None), FieldValidation::Warn);
        assert_eq!(FieldValidation::from_query(Some("")), FieldValidation::Warn);
        assert_eq!(
            FieldValidation::from_query(Some("Warn")),
            FieldValidation::Warn
        );
        assert_eq!(
            FieldValidation::from_query(Some("Strict")),
            FieldValidation::Strict
        );
        assert_eq!(
            FieldValidation::from_query(Some("Ignore")),
            FieldValidation::Ignore
        );
        // Unsupported (also other letter cases): the upstream refuses the request for it.
        assert_eq!(
            FieldValidation::from_query(Some("strict")),
            FieldValidation::Ignore
        );
    }

    #[test]
    fn dropped_fields_are_warned_about_under_warn_only() {
        let mut body = valid_events_v1();
        body["message"] = json!("core name");
        body["regarding"]["foo"] = json!(1);
        let warn = events_job(BodyKind::Object, Operation::Create, false);
        let (r, w) = run_warned(&warn, body.clone());
        let out = r.unwrap().unwrap();
        assert_eq!(out["message"], "pulled");
        assert_eq!(
            w,
            vec![
                r#"299 - "unknown field \"message\"""#,
                r#"299 - "unknown field \"regarding.foo\"""#
            ]
        );
        let ignore = BodyJob {
            field_validation: FieldValidation::Ignore,
            ..warn.clone()
        };
        let (r, w) = run_warned(&ignore, body.clone());
        assert!(r.is_ok());
        assert!(w.is_empty());
        // Nothing dropped, nothing warned.
        let (_, w) = run_warned(&warn, valid_events_v1());
        assert!(w.is_empty());
        // Core bodies are not converted: the upstream decodes (and warns about) them itself.
        let core = job(BodyKind::Object, None, ACT);
        let (_, w) = run_warned(
            &core,
            json!({"apiVersion": "v1", "metadata": {"name": "x"}, "foo": 1}),
        );
        assert!(w.is_empty());
    }

    #[test]
    fn warnings_come_with_refusals_found_after_decoding() {
        let mut body = valid_events_v1();
        body["foo"] = json!(1);
        body.as_object_mut().unwrap().remove("eventTime");
        let (r, w) = run_warned(
            &events_job(BodyKind::Object, Operation::Create, false),
            body,
        );
        assert_eq!(r.unwrap_err().code(), 422);
        assert_eq!(w, vec![r#"299 - "unknown field \"foo\"""#]);
        // Strict: the decoding error wins over validation, as in kube-apiserver.
        let mut body = valid_events_v1();
        body["foo"] = json!(1);
        body["type"] = json!("Info");
        let (r, w) = run_warned(&events_job(BodyKind::Object, Operation::Create, true), body);
        let e = r.unwrap_err();
        assert_eq!(e.code(), 400);
        assert!(e
            .message
            .contains("strict decoding error: unknown field \"foo\""));
        assert!(w.is_empty());
        // A decoding error (wrong type) comes before anything else, without warnings.
        let mut body = valid_events_v1();
        body["foo"] = json!(1);
        body["note"] = json!(5);
        let (r, w) = run_warned(
            &events_job(BodyKind::Object, Operation::Create, false),
            body,
        );
        assert_eq!(r.unwrap_err().code(), 400);
        assert!(w.is_empty());
    }

    #[test]
    fn patches_warn_about_dropped_members_but_not_cleared_ones() {
        let merge = events_job(BodyKind::MergePatch, Operation::Patch, false);
        let (r, w) = run_warned(&merge, json!({"foo": 1, "message": null, "note": "n"}));
        assert!(r.is_ok());
        assert_eq!(w, vec![r#"299 - "unknown field \"foo\"""#]);
        let smp = events_job(BodyKind::StrategicMergePatch, Operation::Patch, false);
        let (_, w) = run_warned(&smp, json!({"count": 2, "involvedObject": null}));
        assert_eq!(w, vec![r#"299 - "unknown field \"count\"""#]);
        let jp = events_job(BodyKind::JsonPatch, Operation::Patch, false);
        let (_, w) = run_warned(
            &jp,
            json!([{"op": "add", "path": "/message", "value": "m"}]),
        );
        assert_eq!(w, vec![r#"299 - "unknown field \"message\"""#]);
    }

    #[test]
    fn events_v1_updates_are_checked_without_the_stored_object() {
        let put = events_job(BodyKind::Object, Operation::Update, false);
        assert!(run(&put, valid_events_v1()).is_ok());
        // A legacy-shaped event may be a valid update of an event written through core/v1.
        let legacy = json!({
            "metadata": {"name": "e1"}, "regarding": {"namespace": "default"},
            "deprecatedCount": 2, "deprecatedSource": {"component": "kubelet"}
        });
        assert!(run(&put, legacy).is_ok());
        let mut low = valid_events_v1();
        low["series"] = json!({"count": 1, "lastObservedTime": "2026-11-26T08:00:00.000000Z"});
        let e = run(&put, low).unwrap_err();
        assert_eq!(e.code(), 422);
        assert_eq!(
            e.message,
            "Event \"e1\" is invalid: series.count: Invalid value: \"\": should be at least 2"
        );
        let mut other = valid_events_v1();
        other["metadata"]["name"] = json!("e2");
        let e = run(&put, other).unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(
            e.message,
            "the name of the object (e2) does not match the name on the URL (e1)"
        );
        let patch = events_job(BodyKind::MergePatch, Operation::Patch, false);
        let e = run(&patch, json!({"series": {"count": 0}})).unwrap_err();
        assert_eq!(e.code(), 422);
        assert!(e
            .message
            .starts_with("Event \"e1\" is invalid: series.count"));
        let jp = events_job(BodyKind::JsonPatch, Operation::Patch, false);
        let e = run(
            &jp,
            json!([{"op": "replace", "path": "/series/count", "value": 1}]),
        )
        .unwrap_err();
        assert_eq!(e.code(), 422);
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
