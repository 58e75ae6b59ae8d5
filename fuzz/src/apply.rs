//! Patch application as the API server does it on the JSON of the stored object, written from
//! the RFCs and apimachinery's strategic merge patch, independent of the filter:
//! - RFC 7386 JSON merge patch (evanphx/json-patch `MergePatch`);
//! - strategic merge patch for maps and structs (the only shapes an Event's patchable fields
//!   have outside `metadata` lists): merge, `null` deletes, `$patch: replace|delete|merge`,
//!   `$retainKeys`; list directives are dropped (no top-level list in an Event);
//! - RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`).
//!
//! `Err` means the API server refuses the patch.

use serde_json::{Map, Value};

pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return;
    };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            let slot = t.entry(k.clone()).or_insert(Value::Null);
            merge_patch(slot, v);
        }
    }
}

/// Strategic merge patch of one object level.
pub fn strategic(target: &mut Value, patch: &Value) -> Result<(), String> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    let mut p = p.clone();
    match p.remove("$patch") {
        None => {}
        Some(Value::String(s)) if s == "merge" => {}
        Some(Value::String(s)) if s == "replace" => {
            strip_directives(&mut p);
            *target = Value::Object(p);
            return Ok(());
        }
        Some(Value::String(s)) if s == "delete" => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) => return Err(format!("unknown $patch {other}")),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else {
        return Ok(());
    };
    if let Some(retain) = p.remove("$retainKeys") {
        let Value::Array(keys) = retain else {
            return Err("$retainKeys is not a list".into());
        };
        let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        for k in p.keys() {
            if !k.starts_with('$') && !keys.contains(&k.as_str()) {
                return Err(format!("{k} not present in $retainKeys"));
            }
        }
        t.retain(|k, _| keys.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(&k);
        } else if v.is_object() {
            let slot = t.entry(k.clone()).or_insert(Value::Null);
            strategic(slot, &v)?;
            if slot.is_null() {
                // `$patch: delete` inside removed it.
                t.remove(&k);
            }
        } else {
            t.insert(k, v);
        }
    }
    Ok(())
}

fn strip_directives(m: &mut Map<String, Value>) {
    m.retain(|k, _| !k.starts_with('$'));
    for v in m.values_mut() {
        if let Value::Object(o) = v {
            strip_directives(o);
        }
    }
}

fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("bad pointer {pointer:?}"))?;
    rest.split('/')
        .map(|t| {
            if t.contains('~') {
                let mut out = String::new();
                let mut it = t.chars();
                while let Some(c) = it.next() {
                    if c == '~' {
                        match it.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => return Err(format!("bad escape in {pointer:?}")),
                        }
                    } else {
                        out.push(c);
                    }
                }
                Ok(out)
            } else {
                Ok(t.to_owned())
            }
        })
        .collect()
}

fn index(tok: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && tok == "-" {
        return Ok(len);
    }
    if tok.is_empty()
        || (tok.len() > 1 && tok.starts_with('0'))
        || !tok.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("bad index {tok:?}"));
    }
    let i: usize = tok.parse().map_err(|_| format!("bad index {tok:?}"))?;
    if i > len || (!allow_end && i == len) {
        return Err(format!("index {i} out of range"));
    }
    Ok(i)
}

fn parent<'a>(doc: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| format!("missing {t:?}"))?,
            Value::Array(a) => {
                let i = index(t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("cannot descend into scalar at {t:?}")),
        };
    }
    Ok(cur)
}

fn get(doc: &Value, toks: &[String]) -> Result<Value, String> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get(t).ok_or_else(|| format!("missing {t:?}"))?,
            Value::Array(a) => &a[index(t, a.len(), false)?],
            _ => return Err("cannot descend into scalar".into()),
        };
    }
    Ok(cur.clone())
}

fn add(doc: &mut Value, toks: &[String], value: Value) -> Result<(), String> {
    let Some((last, up)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent(doc, up)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err("add into a scalar".into()),
    }
}

fn remove(doc: &mut Value, toks: &[String]) -> Result<Value, String> {
    let Some((last, up)) = toks.split_last() else {
        return Err("remove of the root".into());
    };
    match parent(doc, up)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| format!("missing {last:?}")),
        Value::Array(a) => {
            let i = index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err("remove from a scalar".into()),
    }
}

pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let Value::Array(ops) = ops else {
        return Err("not a list of operations".into());
    };
    for op in ops {
        let o = op.as_object().ok_or("operation is not an object")?;
        let name = o.get("op").and_then(Value::as_str).ok_or("no op")?;
        let path = tokens(o.get("path").and_then(Value::as_str).ok_or("no path")?)?;
        let value = || {
            o.get("value")
                .cloned()
                .ok_or_else(|| "no value".to_string())
        };
        match name {
            "add" => add(doc, &path, value()?)?,
            "remove" => {
                remove(doc, &path)?;
            }
            "replace" => {
                get(doc, &path)?;
                if path.is_empty() {
                    *doc = value()?;
                } else {
                    remove(doc, &path)?;
                    add(doc, &path, value()?)?;
                }
            }
            "move" | "copy" => {
                let from = tokens(o.get("from").and_then(Value::as_str).ok_or("no from")?)?;
                let v = if name == "move" {
                    if path.starts_with(&from) && path.len() > from.len() {
                        return Err("move into its own child".into());
                    }
                    remove(doc, &from)?
                } else {
                    get(doc, &from)?
                };
                add(doc, &path, v)?;
            }
            "test" => {
                if get(doc, &path)? != value()? {
                    return Err("test failed".into());
                }
            }
            other => return Err(format!("unknown op {other}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patches_apply() {
        let mut d = json!({"a": {"b": 1, "c": 2}});
        merge_patch(&mut d, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(d, json!({"a": {"c": 2, "d": 3}}));
        let mut d = json!({"a": {"b": 1}, "x": 1});
        strategic(&mut d, &json!({"a": {"$patch": "replace", "z": 1}})).unwrap();
        assert_eq!(d, json!({"a": {"z": 1}, "x": 1}));
        let mut d = json!({"a": {"b": 1}});
        json_patch(&mut d, &json!([{"op": "copy", "from": "/a", "path": "/c"}, {"op": "remove", "path": "/a/b"}, {"op": "add", "path": "/c/l", "value": [1]}, {"op": "add", "path": "/c/l/-", "value": 2}])).unwrap();
        assert_eq!(d, json!({"a": {}, "c": {"b": 1, "l": [1, 2]}}));
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
