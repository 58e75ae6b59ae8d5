//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.
//!
//! Event has no strategic list merge keys of its own, so a strategic patch behaves like a merge
//! patch except for the `$patch`/`$retainKeys`/`$deleteFromPrimitiveList` directives and the two
//! ObjectMeta lists Kubernetes merges: `finalizers` (as a set) and `ownerReferences` (by `uid`).

use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Strategic,
    Json,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The patch itself is malformed (400).
    BadRequest(String),
    /// The patch is well-formed but cannot be applied (422).
    Invalid(String),
}

/// Maps a Content-Type (parameters ignored) to a patch type.
pub fn patch_type(content_type: &str) -> Option<PatchType> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media.to_ascii_lowercase().as_str() {
        "application/merge-patch+json" => Some(PatchType::Merge),
        "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
        "application/json-patch+json" => Some(PatchType::Json),
        _ => None,
    }
}

pub fn apply(kind: PatchType, original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let mut doc = original.clone();
    match kind {
        PatchType::Json => {
            let patch: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| PatchError::BadRequest(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &patch).map_err(|e| {
                PatchError::Invalid(format!("the JSON patch could not be applied: {e}"))
            })?;
        }
        PatchType::Merge => {
            let patch = parse_object(body)?;
            json_patch::merge(&mut doc, &patch);
        }
        PatchType::Strategic => {
            let patch = parse_object(body)?;
            if let Some(p) = patch.as_object() {
                if strategic_map(&mut doc, p, &mut Vec::new())? == Outcome::DeleteMe {
                    doc = Value::Object(Map::new());
                }
            }
        }
    }
    if !doc.is_object() {
        return Err(PatchError::Invalid(
            "the patched object is not a JSON object".into(),
        ));
    }
    Ok(doc)
}

fn parse_object(body: &[u8]) -> Result<Value, PatchError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| PatchError::BadRequest(format!("invalid JSON in patch: {e}")))?;
    if !v.is_object() {
        return Err(PatchError::BadRequest(
            "the patch must be a JSON object".into(),
        ));
    }
    Ok(v)
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    DeleteMe,
}

const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Merges `patch` into `target` (made an object if it is not one). Returns `DeleteMe` when the
/// patch carries `$patch: delete`.
fn strategic_map(
    target: &mut Value,
    patch: &Map<String, Value>,
    path: &mut Vec<String>,
) -> Result<Outcome, PatchError> {
    match patch.get("$patch").map(|v| v.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("delete")) => return Ok(Outcome::DeleteMe),
        Some(Some("replace")) => {
            let mut m = patch.clone();
            m.remove("$patch");
            *target = Value::Object(m);
            return Ok(Outcome::Keep);
        }
        Some(other) => {
            return Err(PatchError::BadRequest(format!(
                "unknown patch type: {}",
                other
                    .map(str::to_string)
                    .unwrap_or_else(|| "non-string".into())
            )))
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Some(obj) = target.as_object_mut() else {
        return Ok(Outcome::Keep);
    };
    let mut retain: Option<Vec<String>> = None;
    for (k, v) in patch {
        if k == "$patch" || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if k == "$retainKeys" {
            let keys = v
                .as_array()
                .ok_or_else(|| PatchError::BadRequest("$retainKeys must be a list".into()))?;
            retain = Some(
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect(),
            );
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let remove = v.as_array().cloned().unwrap_or_default();
            if let Some(list) = obj.get_mut(field).and_then(Value::as_array_mut) {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        if k.starts_with('$') {
            return Err(PatchError::BadRequest(format!(
                "unknown patch directive: {k}"
            )));
        }
        path.push(k.clone());
        match v {
            Value::Null => {
                obj.remove(k);
            }
            Value::Object(pm) => {
                let slot = obj.entry(k.clone()).or_insert(Value::Null);
                if strategic_map(slot, pm, path)? == Outcome::DeleteMe {
                    obj.remove(k);
                }
            }
            Value::Array(items) => {
                let merged = strategic_list(obj.get(k), items, path)?;
                obj.insert(k.clone(), merged);
            }
            other => {
                obj.insert(k.clone(), other.clone());
            }
        }
        path.pop();
    }
    if let Some(keep) = retain {
        obj.retain(|k, _| keep.iter().any(|r| r == k));
    }
    Ok(Outcome::Keep)
}

fn strategic_list(
    current: Option<&Value>,
    items: &[Value],
    path: &[String],
) -> Result<Value, PatchError> {
    let is_meta = |f: &str| {
        path.len() == 2
            && path.first().is_some_and(|p| p == "metadata")
            && path.get(1).is_some_and(|p| p == f)
    };
    // `$patch: replace` inside a list replaces the whole list.
    let replace = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let plain: Vec<Value> = items
        .iter()
        .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("replace"))
        .cloned()
        .collect();
    let existing = current
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if replace {
        return Ok(Value::Array(plain));
    }
    if is_meta("finalizers") {
        let mut out = existing;
        for i in plain {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        return Ok(Value::Array(out));
    }
    if is_meta("ownerReferences") {
        let mut out = existing;
        for i in plain {
            let uid = i.get("uid").cloned();
            let pos = out
                .iter()
                .position(|o| uid.is_some() && o.get("uid") == uid.as_ref());
            let delete = i.get("$patch").and_then(Value::as_str) == Some("delete");
            match (pos, i.as_object()) {
                (Some(p), _) if delete => {
                    out.remove(p);
                }
                (None, _) if delete => {}
                (Some(p), Some(pm)) => {
                    if let Some(slot) = out.get_mut(p) {
                        strategic_map(slot, pm, &mut path.to_vec())?;
                    }
                }
                _ => out.push(i),
            }
        }
        return Ok(Value::Array(out));
    }
    Ok(Value::Array(plain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "metadata": {"name": "e", "labels": {"a": "1", "b": "2"}, "finalizers": ["x"],
                         "ownerReferences": [{"uid": "u1", "name": "o1"}]},
            "message": "hi",
            "count": 1,
            "related": {"kind": "Pod", "name": "p"}
        })
    }

    #[test]
    fn content_types() {
        assert_eq!(
            patch_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            patch_type("application/strategic-merge-patch+json"),
            Some(PatchType::Strategic)
        );
        assert_eq!(
            patch_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(patch_type("application/json"), None);
        assert_eq!(patch_type("application/apply-patch+yaml"), None);
    }

    #[test]
    fn merge_patch_sets_and_removes() {
        let out = apply(
            PatchType::Merge,
            &base(),
            br#"{"message":"new","metadata":{"labels":{"a":null,"c":"3"}}}"#,
        )
        .unwrap();
        assert_eq!(out["message"], "new");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2", "c": "3"}));
        assert_eq!(out["count"], 1);
        assert!(matches!(
            apply(PatchType::Merge, &base(), b"[1]"),
            Err(PatchError::BadRequest(_))
        ));
        assert!(matches!(
            apply(PatchType::Merge, &base(), b"{"),
            Err(PatchError::BadRequest(_))
        ));
    }

    #[test]
    fn json_patch_ops_and_failures() {
        let out = apply(
            PatchType::Json,
            &base(),
            br#"[{"op":"replace","path":"/message","value":"j"},{"op":"add","path":"/count","value":5},{"op":"remove","path":"/related"}]"#,
        )
        .unwrap();
        assert_eq!(out["message"], "j");
        assert_eq!(out["count"], 5);
        assert!(out.get("related").is_none());
        assert!(matches!(
            apply(
                PatchType::Json,
                &base(),
                br#"[{"op":"remove","path":"/nope"}]"#
            ),
            Err(PatchError::Invalid(_))
        ));
        assert!(matches!(
            apply(PatchType::Json, &base(), br#"{"op":"remove"}"#),
            Err(PatchError::BadRequest(_))
        ));
    }

    #[test]
    fn strategic_patch_acts_like_merge_for_events() {
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"message":"s","metadata":{"labels":{"a":null}}}"#,
        )
        .unwrap();
        assert_eq!(out["message"], "s");
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    }

    #[test]
    fn strategic_directives() {
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"metadata":{"labels":{"$patch":"replace","z":"9"}}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"z": "9"}));
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"related":{"$patch":"delete"}}"#,
        )
        .unwrap();
        assert!(out.get("related").is_none());
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"related":{"$retainKeys":["kind"],"kind":"Node"}}"#,
        )
        .unwrap();
        assert_eq!(out["related"], json!({"kind": "Node"}));
        assert!(matches!(
            apply(
                PatchType::Strategic,
                &base(),
                br#"{"related":{"$bogus":1}}"#
            ),
            Err(PatchError::BadRequest(_))
        ));
        assert!(matches!(
            apply(
                PatchType::Strategic,
                &base(),
                br#"{"related":{"$patch":"frob"}}"#
            ),
            Err(PatchError::BadRequest(_))
        ));
    }

    #[test]
    fn strategic_metadata_lists() {
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"metadata":{"finalizers":["y","x"]}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["x"]}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!([]));
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"metadata":{"ownerReferences":[{"uid":"u1","name":"renamed"},{"uid":"u2","name":"o2"}]}}"#,
        )
        .unwrap();
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([{"uid": "u1", "name": "renamed"}, {"uid": "u2", "name": "o2"}])
        );
        let out = apply(
            PatchType::Strategic,
            &base(),
            br#"{"metadata":{"ownerReferences":[{"uid":"u1","$patch":"delete"}]}}"#,
        )
        .unwrap();
        assert_eq!(out["metadata"]["ownerReferences"], json!([]));
        // Other lists are replaced.
        let b = json!({"list": [1, 2]});
        let out = apply(PatchType::Strategic, &b, br#"{"list":[3]}"#).unwrap();
        assert_eq!(out["list"], json!([3]));
    }
}
