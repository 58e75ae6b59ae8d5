//! Patches: events.k8s.io/v1 merge, strategic-merge and JSON patches translated to the core
//! shape (see the module doc of [`super`]).

use serde_json::{Map, Value};

use super::decode::*;
use super::error::*;
use super::fields::*;
use super::object::*;
use crate::k8s::names::go_quote;

pub(super) fn v1_to_core_name(name: &str) -> Option<&'static str> {
    V1_TO_CORE
        .iter()
        .find(|(v1, _, _)| *v1 == name)
        .map(|(_, core, _)| *core)
}

pub(super) fn version_mismatch(got: &Value) -> ConvertError {
    ConvertError::TypeMismatch(format!(
        "the API version in the data ({}) does not match the expected API version ({EVENTS_V1_API_VERSION})",
        got.as_str().unwrap_or("non-string")
    ))
}

pub(super) fn kind_mismatch(got: &Value) -> ConvertError {
    ConvertError::TypeMismatch(format!(
        "the kind in the data ({}) does not match the expected kind (Event)",
        got.as_str().unwrap_or("non-string")
    ))
}

/// Whether a patch value for `apiVersion`/`kind` leaves the events.k8s.io/v1 object as it is.
/// `Err` when it would turn it into another type.
pub(super) fn type_meta_is_noop(key: &str, v: &Value) -> Result<(), ConvertError> {
    let expected = if key == "apiVersion" {
        EVENTS_V1_API_VERSION
    } else {
        "Event"
    };
    match v {
        Value::Null => Ok(()),
        Value::String(s) if s == expected => Ok(()),
        other if key == "apiVersion" => Err(version_mismatch(other)),
        other => Err(kind_mismatch(other)),
    }
}

/// An RFC 7386 JSON merge patch written against events.k8s.io/v1 becomes one for the stored
/// core shape: top-level keys renamed (`note` → `message`, ...), values kept as they are (`null`
/// still deletes; nested objects are the same types on both sides). Keys events.k8s.io/v1 does
/// not know (including core-only names like `message`) are dropped and returned: Kubernetes would
/// drop them when decoding the patched object (or refuse them under `fieldValidation=Strict`).
/// `apiVersion: events.k8s.io/v1` / `kind: Event` (or `null`) are no-ops and dropped; any other
/// value is refused (400), as is a patch that is not a JSON object.
pub fn merge_patch_events_v1_to_core(patch: &mut Value) -> Result<Vec<String>, ConvertError> {
    rename_patch(patch, false)
}

/// [`merge_patch_events_v1_to_core`] for a strategic merge patch. Directives are carried over:
/// `$retainKeys` entries and the field named in `$setElementOrder/<field>` and
/// `$deleteFromPrimitiveList/<field>` are renamed (directives naming unknown fields are dropped);
/// a top-level `$patch: replace` makes the patch a whole object, which is then converted like a
/// create body ([`events_v1_to_core`]). Other `$` keys pass through.
pub fn strategic_merge_patch_events_v1_to_core(
    patch: &mut Value,
) -> Result<Vec<String>, ConvertError> {
    rename_patch(patch, true)
}

pub(super) fn rename_patch(
    patch: &mut Value,
    strategic: bool,
) -> Result<Vec<String>, ConvertError> {
    let Value::Object(obj) = patch else {
        return Err(ConvertError::InvalidPatch(format!(
            "the patch must be a JSON object, not {}",
            json_kind(patch)
        )));
    };
    check_event_case_variants(obj)?;
    let mut unknown = Vec::new();
    if strategic && obj.get("$patch").and_then(Value::as_str) == Some("replace") {
        let directive = obj.remove("$patch");
        for key in ["apiVersion", "kind"] {
            if let Some(v) = obj.remove(key) {
                type_meta_is_noop(key, &v)?;
            }
        }
        unknown = events_v1_to_core(obj);
        if let Some(d) = directive {
            obj.insert("$patch".to_owned(), d);
        }
        return Ok(unknown);
    }
    let old = std::mem::take(obj);
    for (key, value) in old {
        match key.as_str() {
            "apiVersion" | "kind" => type_meta_is_noop(&key, &value)?,
            "metadata" => {
                obj.insert(key, value);
            }
            k if strategic && k.starts_with('$') => {
                if let Some((k, v)) = smp_directive(key, value) {
                    obj.insert(k, v);
                }
            }
            k => match v1_to_core_name(k) {
                Some(core) => {
                    obj.insert(core.to_owned(), value);
                }
                None => unknown.push(key),
            },
        }
    }
    Ok(unknown)
}

/// Top-level strategic-merge-patch directives, with the field names they carry renamed.
pub(super) fn smp_directive(key: String, value: Value) -> Option<(String, Value)> {
    for prefix in ["$setElementOrder/", "$deleteFromPrimitiveList/"] {
        if let Some(field) = key.strip_prefix(prefix) {
            return v1_to_core_name(field).map(|core| (format!("{prefix}{core}"), value));
        }
    }
    if key == "$retainKeys" {
        if let Value::Array(names) = value {
            let renamed = names
                .into_iter()
                .filter_map(|n| match n {
                    Value::String(s) => match s.as_str() {
                        "apiVersion" | "kind" | "metadata" => Some(Value::String(s)),
                        other => v1_to_core_name(other).map(|c| Value::String(c.to_owned())),
                    },
                    other => Some(other),
                })
                .collect();
            return Some((key, Value::Array(renamed)));
        }
        return Some((key, value));
    }
    Some((key, value))
}

/// Where a JSON pointer lands in an Event document.
pub(super) enum Target<'a> {
    /// `""`: the whole document.
    Root,
    /// `apiVersion` or `kind` (`rest` is what follows the first token).
    TypeMeta { key: &'static str, rest: &'a str },
    /// A field both shapes have: the core name and the rest of the pointer.
    Field { core: &'static str, rest: &'a str },
    /// A member events.k8s.io/v1 does not have (core-only names included).
    Unknown { name: String, rest: &'a str },
}

pub(super) fn target(pointer: &str) -> Option<Target<'_>> {
    if pointer.is_empty() {
        return Some(Target::Root);
    }
    let body = pointer.strip_prefix('/')?;
    let (token, rest) = match body.find('/') {
        Some(i) => (body.get(..i)?, body.get(i..)?),
        None => (body, ""),
    };
    let name = token.replace("~1", "/").replace("~0", "~");
    Some(match name.as_str() {
        "apiVersion" => Target::TypeMeta {
            key: "apiVersion",
            rest,
        },
        "kind" => Target::TypeMeta { key: "kind", rest },
        "metadata" => Target::Field {
            core: "metadata",
            rest,
        },
        other => match v1_to_core_name(other) {
            Some(core) => Target::Field { core, rest },
            None => Target::Unknown { name, rest },
        },
    })
}

/// The first two tokens of a JSON pointer, decoded (RFC 6901); empty for the root or a pointer
/// that does not start with `/` (refused elsewhere).
fn leading_tokens(pointer: &str) -> Vec<String> {
    pointer
        .strip_prefix('/')
        .map(|body| {
            body.split('/')
                .take(2)
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn unprocessable(path: &str, detail: impl Into<String>) -> ConvertError {
    ConvertError::UnprocessablePatch {
        path: path.to_owned(),
        detail: detail.into(),
    }
}

pub(super) fn missing(op: &str, path: &str) -> ConvertError {
    unprocessable(
        path,
        format!("{op} operation does not apply: doc is missing path: {path}"),
    )
}

/// An RFC 6902 JSON patch written against events.k8s.io/v1 becomes one for the stored core shape.
///
/// - `path`/`from`: the first token is renamed (`/note` → `/message`, `/regarding/name` →
///   `/involvedObject/name`, `/deprecatedCount` → `/count`); the rest is kept, since the nested
///   types are the same on both sides.
/// - `add`/`replace` of the whole document (`path: ""`) with an object: the value is converted
///   like a create body ([`events_v1_to_core`]), its `apiVersion`/`kind` (which must be
///   events.k8s.io/v1 `Event` or absent) removed so the upstream keeps its own.
/// - A member events.k8s.io/v1 does not have (`/message`, `/foo`): `add` of exactly that member is
///   a no-op in Kubernetes (the member is dropped when the result is decoded), so the operation is
///   dropped and the name returned; `move` of a field *to* such a member removes the field;
///   `copy` to it is dropped; any other use fails with 422 as it does in Kubernetes (the member is
///   missing from the events.k8s.io/v1 document).
/// - `apiVersion`/`kind`: `test` or `add`/`replace` with events.k8s.io/v1 / `Event`, and `remove`,
///   are no-ops and dropped; a failing `test` is 422, another value 400.
/// - Refused with 422: `test`/`remove` of the whole document, `move`/`copy` from or to the whole
///   document or `apiVersion`/`kind`, pointers not starting with `/`, a missing `path`, unknown
///   operations. A body that is not an array of objects is 400.
pub fn json_patch_events_v1_to_core(ops: &mut Value) -> Result<Vec<String>, ConvertError> {
    let Value::Array(list) = ops else {
        return Err(ConvertError::InvalidPatch(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(ops)
        )));
    };
    if let Some(bad) = list.iter().find(|op| !op.is_object()) {
        return Err(ConvertError::InvalidPatch(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_kind(bad)
        )));
    }
    let mut unknown = Vec::new();
    let old = std::mem::take(list);
    for op in old {
        let Value::Object(mut op) = op else {
            continue;
        };
        if translate_op(&mut op, &mut unknown)? {
            list.push(Value::Object(op));
        }
    }
    Ok(unknown)
}

/// Rewrites one operation; `Ok(false)` when it is to be dropped.
pub(super) fn translate_op(
    op: &mut Map<String, Value>,
    unknown: &mut Vec<String>,
) -> Result<bool, ConvertError> {
    let kind = match op.get("op") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(unprocessable("", "Unexpected kind: unknown")),
    };
    let path = match op.get("path") {
        Some(Value::String(p)) => p.clone(),
        _ => return Err(unprocessable("", format!("{kind} operation missing path"))),
    };
    check_pointer_case_variants(&leading_tokens(&path))?;
    if let Some(Value::String(from)) = op.get("from") {
        check_pointer_case_variants(&leading_tokens(from))?;
    }
    let to = target(&path)
        .ok_or_else(|| unprocessable(&path, format!("invalid JSON pointer: {path}")))?;
    match kind.as_str() {
        "add" | "replace" | "test" | "remove" => match to {
            Target::Root => match (kind.as_str(), op.get_mut("value")) {
                ("add" | "replace", Some(Value::Object(value))) => {
                    check_event_case_variants(value)?;
                    for key in ["apiVersion", "kind"] {
                        if let Some(v) = value.remove(key) {
                            type_meta_is_noop(key, &v)?;
                        }
                    }
                    unknown.extend(events_v1_to_core(value));
                    Ok(true)
                }
                _ => Err(unprocessable(
                    &path,
                    format!(
                        "{kind} of the whole document is not supported for events.k8s.io/v1 Events"
                    ),
                )),
            },
            Target::TypeMeta { key, rest } => {
                if !rest.is_empty() {
                    return Err(missing(&kind, &path));
                }
                if kind == "remove" {
                    return Ok(false);
                }
                let value = op.get("value").unwrap_or(&Value::Null);
                let noop = type_meta_is_noop(key, value);
                if kind == "test" {
                    // The events.k8s.io/v1 document always carries its own apiVersion and kind.
                    return match noop {
                        Ok(()) if !value.is_null() => Ok(false),
                        _ => Err(unprocessable(
                            &path,
                            format!("testing value {path} failed: test failed"),
                        )),
                    };
                }
                // Writing the same type (or null: the decoder defaults it) changes nothing.
                noop.map(|()| false)
            }
            Target::Field { core, rest } => {
                op.insert("path".to_owned(), Value::String(format!("/{core}{rest}")));
                Ok(true)
            }
            Target::Unknown { name, rest } => {
                if kind == "add" && rest.is_empty() {
                    unknown.push(name);
                    Ok(false)
                } else {
                    Err(missing(&kind, &path))
                }
            }
        },
        "move" | "copy" => {
            let from = match op.get("from") {
                Some(Value::String(f)) => f.clone(),
                _ => {
                    return Err(unprocessable(
                        &path,
                        format!("{kind} operation missing from"),
                    ))
                }
            };
            let source = target(&from)
                .ok_or_else(|| unprocessable(&from, format!("invalid JSON pointer: {from}")))?;
            let (core_from, from_rest) = match source {
                Target::Field { core, rest } => (core, rest),
                Target::Unknown { .. } => return Err(missing(&kind, &from)),
                Target::Root | Target::TypeMeta { .. } => {
                    return Err(unprocessable(
                        &from,
                        format!(
                            "{kind} from {} is not supported for events.k8s.io/v1 Events",
                            go_quote(&from)
                        ),
                    ))
                }
            };
            let new_from = format!("/{core_from}{from_rest}");
            match to {
                Target::Field { core, rest } => {
                    op.insert("from".to_owned(), Value::String(new_from));
                    op.insert("path".to_owned(), Value::String(format!("/{core}{rest}")));
                    Ok(true)
                }
                Target::Unknown { name, rest: "" } => {
                    unknown.push(name);
                    if kind == "copy" {
                        return Ok(false);
                    }
                    // The value leaves `from` and lands in a member that decoding drops.
                    op.clear();
                    op.insert("op".to_owned(), Value::String("remove".to_owned()));
                    op.insert("path".to_owned(), Value::String(new_from));
                    Ok(true)
                }
                Target::Unknown { .. } => Err(missing(&kind, &path)),
                Target::Root | Target::TypeMeta { .. } => Err(unprocessable(
                    &path,
                    format!(
                        "{kind} to {} is not supported for events.k8s.io/v1 Events",
                        go_quote(&path)
                    ),
                )),
            }
        }
        other => Err(unprocessable(&path, format!("Unexpected kind: {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::events::test_support::*;
    use crate::k8s::status::{KubeError, Reason};
    use serde_json::json;

    fn run_patch_cases(fixture_name: &str, f: fn(&mut Value) -> Result<Vec<String>, ConvertError>) {
        let cases = fixture(fixture_name);
        for case in cases.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let mut patch = case["events_v1"].clone();
            let got = f(&mut patch);
            if let Some(code) = case.get("error") {
                let err = got.expect_err(name);
                assert_eq!(
                    u64::from(err.rejection().code()),
                    code.as_u64().unwrap(),
                    "{name}"
                );
                continue;
            }
            let unknown = got.unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(patch, case["core"], "{name}");
            let want_unknown: Vec<String> = case
                .get("unknown")
                .map(|u| serde_json::from_value(u.clone()).unwrap())
                .unwrap_or_default();
            assert_eq!(unknown, want_unknown, "{name}");
        }
    }

    #[test]
    fn merge_patches_follow_fixtures() {
        run_patch_cases("merge-patches", merge_patch_events_v1_to_core);
    }

    #[test]
    fn strategic_merge_patches_follow_fixtures() {
        run_patch_cases(
            "strategic-merge-patches",
            strategic_merge_patch_events_v1_to_core,
        );
    }

    #[test]
    fn json_patches_follow_fixtures() {
        run_patch_cases("json-patches", json_patch_events_v1_to_core);
    }

    #[test]
    fn merge_patch_renames_every_field() {
        for (v1, core, _) in V1_TO_CORE {
            let mut p = json!({ v1: "x" });
            merge_patch_events_v1_to_core(&mut p).unwrap();
            assert_eq!(p, json!({ core: "x" }), "{v1}");
            let mut p = json!([{"op": "replace", "path": format!("/{v1}/sub"), "value": 1}]);
            json_patch_events_v1_to_core(&mut p).unwrap();
            assert_eq!(
                p,
                json!([{"op": "replace", "path": format!("/{core}/sub"), "value": 1}]),
                "{v1}"
            );
        }
    }

    #[test]
    fn json_patch_errors_are_422_with_kubernetes_message() {
        let mut p = json!([{"op": "remove", "path": "/message"}]);
        let r = json_patch_events_v1_to_core(&mut p)
            .unwrap_err()
            .rejection();
        assert_eq!(r.code(), 422);
        assert_eq!(r.reason, Reason::Invalid);
        assert_eq!(
            r.message,
            "the server rejected our request due to an error in our request"
        );
        let details = r.details.unwrap();
        assert_eq!(details.causes[0].field, "/message");
    }

    #[test]
    fn patch_keys_and_pointers_go_folds_onto_event_fields_are_refused() {
        type Translate = fn(&mut Value) -> Result<Vec<String>, ConvertError>;
        let merges: [Translate; 2] = [
            merge_patch_events_v1_to_core,
            strategic_merge_patch_events_v1_to_core,
        ];
        for f in merges {
            for (mut p, field) in [
                (json!({"notE": "x"}), "note"),
                (json!({"\u{212A}ind": "Pod"}), "kind"),
                (
                    json!({"metadata": {"annotation\u{17f}": {}}}),
                    "annotations",
                ),
                (json!({"series": {"COUNT": 1}}), "count"),
                (json!({"$patch": "replace", "regardinG": {}}), "regarding"),
            ] {
                assert_eq!(f(&mut p), Err(ConvertError::CaseVariant(field)));
            }
        }
        for (path, field) in [
            ("/notE", "note"),
            ("/deprecatedCounT", "deprecatedCount"),
            ("/apiVer\u{17f}ion", "apiVersion"),
            ("/metadata/annotation\u{17f}", "annotations"),
            (
                "/metadata/annotation\u{17f}/platform.miloapis.com~1scope.name",
                "annotations",
            ),
            ("/regarding/\u{212A}ind", "kind"),
            ("/metaDATA/name", "metadata"),
        ] {
            for op in ["add", "replace", "remove", "test"] {
                let mut p = json!([{"op": op, "path": path, "value": "x"}]);
                let err = json_patch_events_v1_to_core(&mut p).unwrap_err();
                assert_eq!(err, ConvertError::CaseVariant(field), "{op} {path}");
                assert_eq!(err.rejection().code(), 400);
            }
            let mut p = json!([{"op": "move", "from": path, "path": "/note"}]);
            assert_eq!(
                json_patch_events_v1_to_core(&mut p),
                Err(ConvertError::CaseVariant(field))
            );
        }
        let mut p = json!([{"op": "replace", "path": "", "value": {"NOTE": "x"}}]);
        assert_eq!(
            json_patch_events_v1_to_core(&mut p),
            Err(ConvertError::CaseVariant("note"))
        );
        // Keys inside maps stay the client's: a label or annotation may be spelled any way.
        let mut p = json!([{"op": "add", "path": "/metadata/labels/NAME", "value": "x"}]);
        assert!(json_patch_events_v1_to_core(&mut p).is_ok());
    }

    // --- field selectors -------------------------------------------------------------------
}
