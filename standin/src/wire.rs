//! JSON encoding with Kubernetes-like key order. serde_json sorts object keys; kube-apiserver
//! writes `kind`, `apiVersion`, `metadata` first (Go struct order) and watch events as
//! `{"type":...,"object":...}`. Streaming parsers in front of this server may rely on that, so
//! those keys lead here too; the rest follow in sorted order.

use serde_json::Value;

/// Keys written first, in this order, wherever they appear.
const LEADING: &[&str] = &[
    "kind",
    "apiVersion",
    "metadata",
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
];

pub fn to_vec(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write(&mut out, v);
    out
}

/// One watch event line: `{"type":T,"object":O}\n`.
pub fn watch_event(kind: &str, object: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":");
    write(&mut out, &Value::String(kind.to_string()));
    out.extend_from_slice(b",\"object\":");
    write(&mut out, object);
    out.extend_from_slice(b"}\n");
    out
}

/// `?pretty=true`: the same document indented by two spaces, as kube-apiserver's
/// `json.Indent(.., "", "  ")` prints it.
pub fn to_vec_pretty(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_pretty(&mut out, v, 0);
    out
}

fn newline(out: &mut Vec<u8>, depth: usize) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b' ', depth * 2));
}

fn write_pretty(out: &mut Vec<u8>, v: &Value, depth: usize) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            out.push(b'{');
            let leading = LEADING.iter().filter_map(|k| map.get_key_value(*k));
            let rest = map.iter().filter(|(k, _)| !LEADING.contains(&k.as_str()));
            for (i, (k, val)) in leading.chain(rest).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, depth + 1);
                write(out, &Value::String(k.clone()));
                out.extend_from_slice(b": ");
                write_pretty(out, val, depth + 1);
            }
            newline(out, depth);
            out.push(b'}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, depth + 1);
                write_pretty(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(b']');
        }
        other => write(out, other),
    }
}

fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            let leading = LEADING.iter().filter_map(|k| map.get_key_value(*k));
            let rest = map.iter().filter(|(k, _)| !LEADING.contains(&k.as_str()));
            for (i, (k, val)) in leading.chain(rest).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, &Value::String(k.clone()));
                out.push(b':');
                write(out, val);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        // Scalars and strings cannot fail to serialize.
        scalar => {
            if let Ok(bytes) = serde_json::to_vec(scalar) {
                out.extend_from_slice(&bytes);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubernetes_key_order() {
        let v = json!({"items": [], "metadata": {"resourceVersion": "1", "continue": "x"}, "apiVersion": "v1", "kind": "EventList"});
        assert_eq!(
            String::from_utf8(to_vec(&v)).unwrap(),
            r#"{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"1","continue":"x"},"items":[]}"#
        );
        let line = watch_event("ADDED", &json!({"b": 1, "a": "\"q\""}));
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"type\":\"ADDED\",\"object\":{\"a\":\"\\\"q\\\"\",\"b\":1}}\n"
        );
        let back: Value =
            serde_json::from_slice(&to_vec(&json!({"x": [1, 2.5, null, true]}))).unwrap();
        assert_eq!(back, json!({"x": [1, 2.5, null, true]}));
    }
}
