//! The JSON of an `authentication.k8s.io/v1` UserInfo, read straight into a [`UserInfo`]: the
//! authorizer's `userinfo` string is decoded on every request of the Milo profile, so this is a
//! typed reader, not a `Value` walk. `null` stands for an absent field (Go encodes nil lists and
//! maps that way); unknown fields are ignored, as Go does, but must be valid JSON; a key given
//! twice, at any depth, is refused, because readers differ on which of the two they keep.
//!
//! Every visitor here answers every JSON shape itself. serde's default answer to an unexpected
//! shape is an "invalid type" error, whose formatter brings core's float printing (about 20 KB)
//! into the `.wasm`; see `wire::strict_json`, which reads the ignored fields.

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use super::UserInfo;
use crate::wire::strict_json;

/// Why the JSON is not a UserInfo, without any of its text (it could carry identity data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserInfoJsonError {
    Syntax,
    Truncated,
    DuplicateKey,
    WrongTypes,
}

impl UserInfoJsonError {
    pub fn as_str(self) -> &'static str {
        match self {
            UserInfoJsonError::Syntax => "syntax error",
            UserInfoJsonError::Truncated => "truncated JSON",
            UserInfoJsonError::DuplicateKey => "duplicate keys",
            UserInfoJsonError::WrongTypes => WRONG_TYPES,
        }
    }
}

/// Also the message of the visitors' own errors: only [`read`] looks at it.
const WRONG_TYPES: &str = "wrong field types";

pub fn read(json: &[u8]) -> Result<UserInfo<'static>, UserInfoJsonError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let user = de
        .deserialize_any(Fields)
        .and_then(|user| de.end().map(|()| user));
    user.map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Eof => UserInfoJsonError::Truncated,
            Category::Syntax | Category::Io => UserInfoJsonError::Syntax,
            Category::Data if strict_json::is_duplicate_key(&e) => UserInfoJsonError::DuplicateKey,
            Category::Data => UserInfoJsonError::WrongTypes,
        }
    })
}

/// Answers every shape but the ones a visitor lists as its own with the "wrong types" error.
macro_rules! only_shapes {
    ($($shape:ident)*) => {
        $(only_shapes!(@refuse $shape);)*
    };
    (@refuse bool) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(WRONG_TYPES))
        }
    };
    (@refuse number) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom(WRONG_TYPES))
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom(WRONG_TYPES))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(WRONG_TYPES))
        }
    };
    (@refuse null) => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom(WRONG_TYPES))
        }
    };
    (@refuse string) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(WRONG_TYPES))
        }
    };
    (@refuse list) => {
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(A::Error::custom(WRONG_TYPES))
        }
    };
    (@refuse object) => {
        fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(A::Error::custom(WRONG_TYPES))
        }
    };
}

/// The UserInfo object.
struct Fields;

impl<'de> Visitor<'de> for Fields {
    type Value = UserInfo<'static>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a UserInfo object")
    }
    only_shapes!(bool number null string list);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut username, mut uid, mut groups, mut extra) = (None, None, None, None);
        let mut others: Vec<String> = Vec::new();
        while let Some(key) = map.next_key_seed(strict_json::Key)? {
            let fresh = match key.as_str() {
                "username" => username.replace(map.next_value_seed(Text)?).is_none(),
                "uid" => uid.replace(map.next_value_seed(Text)?).is_none(),
                "groups" => groups.replace(map.next_value_seed(Texts)?).is_none(),
                "extra" => extra.replace(map.next_value_seed(Extra)?).is_none(),
                _ => {
                    map.next_value_seed(strict_json::Strict)?;
                    let fresh = !others.contains(&key);
                    if fresh {
                        others.push(key.clone());
                    }
                    fresh
                }
            };
            if !fresh {
                return Err(strict_json::duplicate_key(&key));
            }
        }
        Ok(UserInfo {
            username: Cow::Owned(username.flatten().unwrap_or_default()),
            uid: Cow::Owned(uid.flatten().unwrap_or_default()),
            groups: groups.flatten().unwrap_or_default(),
            extra: extra.flatten().unwrap_or_default(),
        })
    }
}

/// A string or `null`.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string or null")
    }
    only_shapes!(bool number list object);

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
}

/// A list of strings, or `null`.
struct Texts;

impl<'de> DeserializeSeed<'de> for Texts {
    type Value = Option<Vec<Cow<'static, str>>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Texts {
    type Value = Option<Vec<Cow<'static, str>>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of strings or null")
    }
    only_shapes!(bool number string object);

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Text)? {
            // `null` is not a string inside a list.
            items.push(Cow::Owned(
                item.ok_or_else(|| A::Error::custom(WRONG_TYPES))?,
            ));
        }
        Ok(Some(items))
    }
}

/// An object of lists of strings (`null` lists allowed), or `null`.
struct Extra;

impl<'de> DeserializeSeed<'de> for Extra {
    type Value = Option<Vec<(Cow<'static, str>, Vec<Cow<'static, str>>)>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Extra {
    type Value = Option<Vec<(Cow<'static, str>, Vec<Cow<'static, str>>)>>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object of lists of strings or null")
    }
    only_shapes!(bool number string list);

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut extra: Vec<(Cow<'static, str>, Vec<Cow<'static, str>>)> = Vec::new();
        while let Some(key) = map.next_key_seed(strict_json::Key)? {
            let values = map.next_value_seed(Texts)?.unwrap_or_default();
            if extra.iter().any(|(k, _)| *k == key) {
                return Err(strict_json::duplicate_key(&key));
            }
            extra.push((Cow::Owned(key), values));
        }
        Ok(Some(extra))
    }
}
