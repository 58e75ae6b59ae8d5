//! Dynamic metadata values and how Envoy hands them to a module through `proxy_get_property`.
//!
//! Envoy walks the path through CEL values and serializes the value it ends on
//! (`serializeValue` in Envoy's wasm `context.cc`, checked on Envoy 1.40): a string as its raw
//! bytes, a number as 8 little-endian bytes (f64), a bool as one byte, a struct as pairs of
//! (key, serialized value), a list as pairs whose keys are the serialized elements and whose
//! values are empty. A `null` anywhere inside cannot be serialized: the whole read answers
//! `SerializationFailure` (3).

use crate::abi::{encode_pairs, status};

/// A `google.protobuf.Value` as it sits in dynamic metadata.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    Struct(Vec<(String, Value)>),
}

impl Value {
    /// A struct from `(key, value)` entries, kept in the given order.
    pub fn object<K: Into<String>, V: Into<Value>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Value::Struct(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub fn list<V: Into<Value>>(items: impl IntoIterator<Item = V>) -> Self {
        Value::List(items.into_iter().map(Into::into).collect())
    }

    /// One step of Envoy's path walk: a struct field by name, a list element by index.
    pub fn get(&self, part: &str) -> Option<&Value> {
        match self {
            Value::Struct(entries) => entries.iter().find(|(k, _)| k == part).map(|(_, v)| v),
            Value::List(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
    }

    /// The bytes Envoy returns for this value, or the status it answers instead.
    pub fn serialize(&self) -> Result<Vec<u8>, u32> {
        match self {
            Value::Null => Err(status::SERIALIZATION_FAILURE),
            Value::Bool(b) => Ok(vec![u8::from(*b)]),
            Value::Number(n) => Ok(n.to_le_bytes().to_vec()),
            Value::String(s) => Ok(s.as_bytes().to_vec()),
            Value::List(items) => {
                let pairs = items
                    .iter()
                    .map(|v| v.serialize().map(|k| (k, Vec::new())))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(encode_pairs(&pairs))
            }
            Value::Struct(entries) => {
                let pairs = entries
                    .iter()
                    .map(|(k, v)| v.serialize().map(|v| (k.as_bytes().to_vec(), v)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(encode_pairs(&pairs))
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Self {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::List(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_pairs_with_empty_values_as_the_design_brief_shows() {
        let v = Value::list(["a", "b"]);
        assert_eq!(
            v.serialize().unwrap(),
            [2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'a', 0, 0, b'b', 0, 0]
        );
    }

    #[test]
    fn null_anywhere_fails_the_whole_value() {
        let ns = Value::object([("user", Value::from("alice")), ("note", Value::Null)]);
        assert_eq!(ns.serialize(), Err(status::SERIALIZATION_FAILURE));
        assert_eq!(ns.get("user").unwrap().serialize().unwrap(), b"alice");
        assert_eq!(
            Value::Number(1.5).serialize().unwrap(),
            1.5f64.to_le_bytes()
        );
        assert_eq!(Value::list(["x"]).get("0"), Some(&Value::from("x")));
    }
}
