//! The write-body job (`request::body::BodyJob::run` with `request/scope.rs` and the
//! events.k8s.io conversion): a write is refused, or what the upstream makes of the forwarded
//! body carries exactly the caller's scope annotations, read by both Go decoders
//! ([`crate::gojson`]): `encoding/json` (case-insensitive with Unicode folding, later duplicates
//! win) and `sigs.k8s.io/json` (case-sensitive). Objects are decoded as forwarded; patches are
//! first applied ([`crate::apply`]) to a stored Event that carries the scope, and the result is
//! read the way Go marshals and decodes it again (keys sorted).
//!
//! Input: one selector byte (bit 0 API, bits 1-2 body kind, bit 3 standard-paths mode, bit 4
//! `fieldValidation=Strict`, bit 5 scope, bit 6 update instead of create), then the body.

use activity_events_filter::config::{self, Config};
use activity_events_filter::k8s::api::{Api, BodyKind, Operation};
use activity_events_filter::request::body::BodyJob;
use activity_events_filter::request::scope::{
    Scope, PARENT_NAME_EXTRA, PARENT_TYPE_EXTRA, SCOPE_NAME_ANNOTATION, SCOPE_TYPE_ANNOTATION,
};
use activity_events_filter::request::{plan, Action};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::{fold_variant, json_str_noise, Source};
use crate::apply;
use crate::gojson::{self, event_annotations, Mode, J};
use crate::mutate::Rng;
use crate::{fail, show, Target};

pub fn target() -> Target {
    Target {
        name: "body",
        about: "a write is refused or its forwarded body, as Go's encoding/json and sigs.k8s.io/json decode it (patches applied first), carries exactly the caller's scope",
        check,
        strategy,
        dictionary: &[
            "\"annotation\u{17f}\"",
            "\"Annotations\"",
            "\"metadat\\u0061\"",
            "\"platform.miloapis.com/scope.type\":\"Evil\"",
            "\"platform.miloapis.com/scope.name\":\"victim\"",
            "\"$patch\":\"replace\"",
            "\"$retainKeys\":[]",
            "{\"op\":\"add\",\"path\":\"/metadata/annotation\u{17f}\",\"value\":{\"platform.miloapis.com/scope.name\":\"victim\"}}",
            "\"/metadata/annotations\"",
            "null",
            "\"\u{212a}ind\"",
        ],
    }
}

const ACT: &str = "activity.miloapis.com/v1alpha1";

pub struct Case {
    pub api: Api,
    pub kind: BodyKind,
    pub standard: bool,
    pub strict: bool,
    pub scope: Scope,
    pub operation: Operation,
}

pub fn case(selector: u8) -> Case {
    let kind = match (selector >> 1) & 3 {
        0 => BodyKind::Object,
        1 => BodyKind::MergePatch,
        2 => BodyKind::StrategicMergePatch,
        _ => BodyKind::JsonPatch,
    };
    let operation = match (kind, selector & 64 != 0) {
        (BodyKind::Object, false) => Operation::Create,
        (BodyKind::Object, true) => Operation::Update,
        _ => Operation::Patch,
    };
    Case {
        api: if selector & 1 == 0 {
            Api::CoreV1
        } else {
            Api::EventsV1
        },
        kind,
        standard: selector & 8 != 0,
        strict: selector & 16 != 0,
        scope: if selector & 32 == 0 {
            Scope {
                kind: "Organization".into(),
                name: "acme".into(),
            }
        } else {
            Scope {
                kind: "Project".into(),
                name: "p1".into(),
            }
        },
        operation,
    }
}

/// The stored Event the upstream patches: it carries the scope (Activity hides the rest from a
/// scoped user), and a label map holding a forged scope for copies to reach for.
fn stored(scope: &Scope, events_v1_shape: bool) -> Value {
    let mut v = json!({
        "apiVersion": ACT, "kind": "Event",
        "metadata": {
            "name": "e1", "namespace": "default",
            "annotations": {
                SCOPE_TYPE_ANNOTATION: scope.kind, SCOPE_NAME_ANNOTATION: scope.name, "keep": "x"
            },
            "labels": {SCOPE_TYPE_ANNOTATION: "Evil", SCOPE_NAME_ANNOTATION: "victim"}
        },
    });
    let rest = if events_v1_shape {
        json!({"regarding": {"kind": "Pod", "name": "p"}, "note": "n", "reason": "R",
               "reportingController": "c", "reportingInstance": "i", "eventTime": "2026-01-01T00:00:00.000000Z"})
    } else {
        json!({"involvedObject": {"kind": "Pod", "name": "p"}, "message": "n", "reason": "R",
               "reportingComponent": "c", "reportingInstance": "i", "source": {}})
    };
    if let (Value::Object(o), Value::Object(r)) = (&mut v, rest) {
        o.extend(r);
    }
    v
}

/// The body job the filter plans for this case, from the request headers and the identity
/// (so the job is built the way the filter builds it, whatever its fields).
fn job(c: &Case) -> Result<BodyJob, String> {
    let collection = match c.api {
        Api::CoreV1 => "/api/v1/namespaces/default/events",
        Api::EventsV1 => "/apis/events.k8s.io/v1/namespaces/default/events",
    };
    let (method, name) = match c.operation {
        Operation::Create => ("POST", ""),
        Operation::Update => ("PUT", "/e1"),
        _ => ("PATCH", "/e1"),
    };
    let query = if c.strict {
        "?fieldValidation=Strict"
    } else {
        ""
    };
    let path = format!("{collection}{name}{query}");
    let content_type = match c.kind {
        BodyKind::Object => "application/json",
        BodyKind::MergePatch => "application/merge-patch+json",
        BodyKind::StrategicMergePatch => "application/strategic-merge-patch+json",
        BodyKind::JsonPatch => "application/json-patch+json",
    };
    let headers: Vec<(&[u8], &[u8])> = vec![
        (b":method", method.as_bytes()),
        (b":path", path.as_bytes()),
        (b":authority", b"milo"),
        (b"content-type", content_type.as_bytes()),
    ];
    let config = if c.standard {
        config::parse(Some(br#"{"activity_prefix":"/api/v1"}"#)).unwrap_or_default()
    } else {
        Config::default()
    };
    let mut source = Source::user(
        b"u",
        &[
            (PARENT_TYPE_EXTRA, c.scope.kind.as_str()),
            (PARENT_NAME_EXTRA, c.scope.name.as_str()),
        ],
    );
    match plan(&config, &headers, false, &mut source).action {
        Action::Forward(f) => f
            .body
            .ok_or_else(|| fail("harness", format!("no body job for {method} {path}"))),
        other => Err(fail(
            "harness",
            format!("{method} {path} refused at the headers: {other:?}"),
        )),
    }
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let Some((&selector, body)) = input.split_first() else {
        return Ok(());
    };
    let c = case(selector);
    let job = job(&c)?;
    let Ok(out) = job.run(body) else {
        return Ok(());
    };
    let forwarded = out.as_deref().unwrap_or(body);
    let parsed = gojson::parse(forwarded).map_err(|e| {
        fail(
            "forwarded body is not JSON",
            format!("{e}: {}", show(forwarded, 300)),
        )
    })?;
    let doc: J = match c.kind {
        BodyKind::Object => parsed,
        kind => {
            let Ok(patch) = serde_json::from_slice::<Value>(forwarded) else {
                return Err(fail("forwarded patch is not JSON", show(forwarded, 300)));
            };
            let mut target = stored(&c.scope, c.standard && c.api == Api::EventsV1);
            let applied = match kind {
                BodyKind::MergePatch => {
                    apply::merge_patch(&mut target, &patch);
                    Ok(())
                }
                BodyKind::StrategicMergePatch => apply::strategic(&mut target, &patch),
                _ => apply::json_patch(&mut target, &patch),
            };
            if applied.is_err() {
                // The upstream refuses the patch: nothing is stored.
                return Ok(());
            }
            J::from_value_sorted(&target)
        }
    };
    for mode in [Mode::EncodingJson, Mode::CaseSensitive] {
        let Ok(annotations) = event_annotations(&doc, mode) else {
            continue;
        };
        let get = |k: &str| {
            annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .map(String::as_str)
        };
        let (t, n) = (get(SCOPE_TYPE_ANNOTATION), get(SCOPE_NAME_ANNOTATION));
        if t != Some(c.scope.kind.as_str()) || n != Some(c.scope.name.as_str()) {
            return Err(fail(
                &format!(
                    "scope not the caller's under {mode:?} ({:?} {:?})",
                    c.api, c.kind
                ),
                format!(
                    "{:?}: type {t:?} name {n:?}; sent {}; forwarded {}",
                    c.operation,
                    show(body, 400),
                    show(forwarded, 400)
                ),
            ));
        }
    }
    Ok(())
}

/// A member `"key": value` with the key possibly spelled so Go still matches it.
fn member(rng: &mut Rng, key: &str, value: &str, variants: bool) -> String {
    let k = if variants && rng.chance(4) {
        fold_variant(rng, key)
    } else {
        key.to_owned()
    };
    format!("{}:{value}", json_str_noise(rng, &k, 8))
}

fn annotations(rng: &mut Rng) -> String {
    let mut m = Vec::new();
    if rng.chance(2) {
        m.push(member(rng, SCOPE_TYPE_ANNOTATION, "\"Evil\"", false));
    }
    if rng.chance(2) {
        m.push(member(rng, SCOPE_NAME_ANNOTATION, "\"victim\"", false));
    }
    if rng.chance(3) {
        m.push(member(rng, "other", "\"v\"", false));
    }
    if rng.chance(8) {
        m.push("\"$patch\":\"replace\"".into());
    }
    format!("{{{}}}", m.join(","))
}

fn metadata(rng: &mut Rng) -> String {
    let mut m = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let v = if rng.chance(6) {
            "null".to_owned()
        } else {
            annotations(rng)
        };
        m.push(member(rng, "annotations", &v, true));
    }
    if rng.chance(2) {
        m.push("\"name\":\"e1\"".into());
    }
    if rng.chance(6) {
        m.push("\"$patch\":\"replace\"".into());
    }
    format!("{{{}}}", m.join(","))
}

fn object(rng: &mut Rng, events_v1: bool) -> String {
    let mut m = Vec::new();
    if rng.chance(2) {
        let v = if events_v1 {
            "\"events.k8s.io/v1\""
        } else {
            "\"v1\""
        };
        m.push(format!("\"apiVersion\":{v}"));
        m.push("\"kind\":\"Event\"".into());
    }
    for _ in 0..1 + rng.below(3) {
        let v = if rng.chance(8) {
            "null".to_owned()
        } else {
            metadata(rng)
        };
        m.push(member(rng, "metadata", &v, true));
    }
    if events_v1 {
        m.push("\"eventTime\":\"2026-01-01T00:00:00.000000Z\",\"reportingController\":\"c\",\"reportingInstance\":\"i\",\"action\":\"A\",\"reason\":\"R\",\"type\":\"Normal\",\"note\":\"n\",\"regarding\":{\"kind\":\"Pod\",\"name\":\"p\"}".into());
    } else {
        m.push("\"message\":\"m\",\"reason\":\"R\",\"involvedObject\":{\"kind\":\"Pod\",\"name\":\"p\"}".into());
    }
    if rng.chance(6) {
        m.push("\"$patch\":\"replace\"".into());
    }
    if rng.chance(6) {
        m.push("\"$retainKeys\":[\"metadata\",\"reason\"]".into());
    }
    let first = rng.below(m.len().max(1));
    m.rotate_left(first);
    format!("{{{}}}", m.join(","))
}

const POINTERS: &[&str] = &[
    "/metadata/annotation\u{17f}",
    "/metadata/Annotations",
    "/Metadata",
    "/metadat\u{131}",
    "/metadata/annotations",
    "/metadata/annotations/platform.miloapis.com~1scope.type",
    "/metadata/annotations/platform.miloapis.com~1scope.name",
    "/metadata/annotations/other",
    "/metadata/labels",
    "/metadata/labels/platform.miloapis.com~1scope.type",
    "/metadata",
    "/message",
    "/note",
    "",
];

fn json_patch(rng: &mut Rng) -> String {
    let mut ops = Vec::new();
    for _ in 0..1 + rng.below(4) {
        let path = POINTERS[rng.below(POINTERS.len())];
        let from = POINTERS[rng.below(POINTERS.len())];
        let value = match rng.below(4) {
            0 => annotations(rng),
            1 => metadata(rng),
            2 => "\"Evil\"".to_owned(),
            _ => "null".to_owned(),
        };
        let op = ["add", "replace", "copy", "move", "remove", "test"][rng.below(6)];
        ops.push(format!(
            "{{\"op\":\"{op}\",\"path\":{},\"from\":\"{from}\",\"value\":{value}}}",
            json_str_noise(rng, path, 10)
        ));
    }
    format!("[{}]", ops.join(","))
}

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (any::<u8>(), any::<u64>())
        .prop_map(|(selector, seed)| {
            let mut rng = Rng::new(seed);
            let c = case(selector);
            let body = match c.kind {
                BodyKind::JsonPatch => json_patch(&mut rng),
                _ => object(&mut rng, c.api == Api::EventsV1),
            };
            let mut out = vec![selector];
            out.extend_from_slice(body.as_bytes());
            out
        })
        .boxed()
}
