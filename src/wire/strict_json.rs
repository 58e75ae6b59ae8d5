//! JSON text read into a `serde_json::Value` that refuses an object key given twice, at any
//! depth: for the inputs whose meaning must not depend on which duplicate a reader keeps (the
//! plugin configuration, the authorizer's UserInfo). Callers read their fields from the `Value`
//! with their own messages.
//!
//! Why not `#[derive(Deserialize)]` on typed structs: every typed serde visitor can report an
//! "invalid type", and the formatter of that error prints floats with core's float formatting,
//! about 20 KB of the `.wasm` for a message nobody reads. This visitor accepts every JSON value,
//! so no "invalid type" is ever built; serde_json still owns the grammar, UTF-8, escapes, number
//! range and its nesting limit.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// `bytes` as one JSON value, or serde_json's error: syntax and truncation as serde_json reports
/// them, a repeated key as a data error naming the key (`duplicate key "k"`).
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The seed that reads one value of any shape, for typed readers with fields they skip.
pub struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json's parser only yields finite floats; `Value` itself maps the rest to null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            let value = map.next_value_seed(Strict)?;
            match members.entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                Entry::Occupied(slot) => return Err(duplicate_key(slot.key())),
            }
        }
        Ok(Value::Object(members))
    }
}

const DUPLICATE_KEY: &str = "duplicate key ";

/// The error for `key` given twice in one object.
pub fn duplicate_key<E: serde::de::Error>(key: &str) -> E {
    E::custom(format_args!(
        "{DUPLICATE_KEY}{}",
        crate::k8s::names::go_quote(key)
    ))
}

/// Whether `e` is [`duplicate_key`]'s error.
pub fn is_duplicate_key(e: &serde_json::Error) -> bool {
    e.classify() == serde_json::error::Category::Data && e.to_string().starts_with(DUPLICATE_KEY)
}

/// An object key: serde_json only ever hands keys over as strings.
pub struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a":[1,-2,3.5,1e300,true,false,null,"x\u00e9\"y"],"b":{"c":{}},"d":[]}"#,
            "  \"just a string\"\n",
            "18446744073709551615",
            "-9223372036854775808",
            r#"{"a":{"a":1},"b":{"a":2}}"#,
        ] {
            let want: Value = serde_json::from_str(text).unwrap();
            assert_eq!(parse(text.as_bytes()).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn a_key_given_twice_is_refused_at_any_depth() {
        for (text, key) in [
            (r#"{"a":1,"a":1}"#, "a"),
            (r#"{"a":1,"b":2,"a":3}"#, "a"),
            (r#"{"x":{"k":[],"k":null}}"#, "k"),
            (r#"[{"ok":1},{"k":1,"k":2}]"#, "k"),
            // Escapes decode to the same key: serde_json would keep the last one.
            (r#"{"k":1,"\u006b":2}"#, "k"),
            (r#"{"\n":1,"\u000a":2}"#, "\\n"),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert!(is_duplicate_key(&e), "{text}");
            let want = format!("duplicate key \"{key}\" at line 1");
            assert!(e.to_string().starts_with(&want), "{text}: {e}");
        }
        // Same letters, different case: two keys for JSON (callers refuse unknown ones).
        assert!(parse(br#"{"k":1,"K":2}"#).is_ok());
    }

    #[test]
    fn syntax_errors_stay_serde_json_errors() {
        use serde_json::error::Category;
        for (text, category) in [
            (&b"{\"a\":1"[..], Category::Eof),
            (b"{\"a\":1}x", Category::Syntax),
            (b"{\"a\":01}", Category::Syntax),
            (b"\"\xff\"", Category::Syntax),
            (b"[1e999]", Category::Syntax),
            (b"", Category::Eof),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.classify(), category, "{}", String::from_utf8_lossy(text));
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(
            parse(deep.as_bytes()).is_err(),
            "serde_json's nesting limit holds"
        );
    }
}
