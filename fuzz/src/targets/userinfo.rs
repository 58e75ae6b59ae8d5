//! `identity::from_userinfo` (base64 of an `authentication.k8s.io/v1` UserInfo JSON) against a
//! reference: base64 decoded here (standard or URL-safe alphabet, chosen by the characters
//! present; padding optional but never wrong; no stray trailing bits), the JSON read with the
//! UserInfo field types (a key given twice refused at any depth, unknown fields ignored but
//! still valid JSON). The two agree on
//! accept/refuse and on every field; an accepted user survives being encoded and read again.
//!
//! Input: the metadata string as the authn filter would set it.

use std::collections::BTreeMap;

use activity_events_filter::identity::{from_userinfo, IdentityError, UserInfo};
use activity_events_filter::k8s::status::KubeError;
use proptest::prelude::*;
use serde_json::Value;

use crate::gojson;
use crate::mutate::Rng;
use crate::{fail, show, Target};

pub fn target() -> Target {
    Target {
        name: "userinfo",
        about: "accept/refuse and every field agree with an independent base64 + UserInfo reader; accepted users round-trip",
        check,
        strategy,
        dictionary: &["=", "==", "-", "_", "+", "/", " ", "\n", "AAAA", "e30"],
    }
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn b64_encode(data: &[u8], url: bool, pad: bool) -> String {
    let alpha = if url { URL } else { STD };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(char::from(alpha[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let url = text.iter().any(|&b| b == b'-' || b == b'_');
    let alpha = if url { URL } else { STD };
    let pads = text.iter().rev().take_while(|&&b| b == b'=').count();
    let data = &text[..text.len() - pads];
    if data.len() % 4 == 1 {
        return None;
    }
    let needed = (4 - data.len() % 4) % 4;
    // Padding may be left out, or cut short, never longer than needed.
    if pads > needed {
        return None;
    }
    let mut vals = Vec::with_capacity(data.len());
    for &c in data {
        vals.push(alpha.iter().position(|&a| a == c)? as u32);
    }
    let mut out = Vec::new();
    for group in vals.chunks(4) {
        let mut n = 0u32;
        for (i, v) in group.iter().enumerate() {
            n |= v << (18 - 6 * i);
        }
        let bytes = group.len() * 6 / 8;
        let all = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // The bits after the last whole byte must be zero.
        let used = bytes * 8;
        let total = group.len() * 6;
        if total > used && (n >> (24 - total)) & ((1 << (total - used)) - 1) != 0 {
            return None;
        }
        out.extend_from_slice(&all[..bytes]);
    }
    Some(out)
}

#[derive(Debug, PartialEq)]
enum Want {
    User {
        username: String,
        uid: String,
        groups: Vec<String>,
        extra: BTreeMap<String, Vec<String>>,
    },
    NoUser,
    Malformed,
    /// Read, but refused (e.g. a value the API server would read back differently).
    Refused,
}

fn opt_string(v: Option<&Value>) -> Result<String, ()> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(()),
    }
}

fn strings(v: &Value) -> Result<Vec<String>, ()> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or(()))
            .collect(),
        _ => Err(()),
    }
}

fn has_duplicate_key(v: &gojson::J) -> bool {
    match v {
        gojson::J::Arr(items) => items.iter().any(has_duplicate_key),
        gojson::J::Obj(members) => members.iter().enumerate().any(|(i, (k, m))| {
            members[..i].iter().any(|(earlier, _)| earlier == k) || has_duplicate_key(m)
        }),
        _ => false,
    }
}

fn reference(raw: &[u8]) -> Option<Want> {
    let text = raw.trim_ascii();
    let Some(json) = b64_decode(text) else {
        return Some(Want::Malformed);
    };
    let Ok(value) = serde_json::from_slice::<Value>(&json) else {
        return Some(Want::Malformed);
    };
    let Value::Object(obj) = value else {
        return Some(Want::Malformed);
    };
    // A key given twice anywhere is refused: readers differ on which one they keep.
    if has_duplicate_key(&gojson::parse(&json).ok()?) {
        return Some(Want::Malformed);
    }
    let parsed = (|| -> Result<Want, ()> {
        let username = opt_string(obj.get("username"))?;
        let uid = opt_string(obj.get("uid"))?;
        let groups = obj.get("groups").map_or(Ok(Vec::new()), strings)?;
        let mut extra = BTreeMap::new();
        match obj.get("extra") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    extra.insert(k.clone(), strings(v)?);
                }
            }
            Some(_) => return Err(()),
        }
        if username.is_empty() {
            return Ok(Want::NoUser);
        }
        Ok(Want::User {
            username,
            uid,
            groups,
            extra,
        })
    })();
    Some(parsed.unwrap_or(Want::Malformed))
}

fn as_want(got: &Result<UserInfo<'_>, IdentityError>) -> Want {
    match got {
        Ok(u) => Want::User {
            username: u.username.to_string(),
            uid: u.uid.to_string(),
            groups: u.groups.iter().map(|g| g.to_string()).collect(),
            extra: u
                .extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        },
        // By status, so refusals added later (identities that cannot be forwarded) need no
        // change here: 401 no user, 500 unreadable, anything else a refusal of a readable user.
        Err(e) => match e.rejection().code() {
            401 => Want::NoUser,
            500 => Want::Malformed,
            _ => Want::Refused,
        },
    }
}

pub fn check(input: &[u8]) -> Result<(), String> {
    let got = from_userinfo(input);
    let have = as_want(&got);
    let Some(want) = reference(input) else {
        return Ok(());
    };
    // Refusing a readable user is the identity checks' business (see the headers target).
    let refused_user = have == Want::Refused && matches!(want, Want::User { .. });
    if have != want && !refused_user {
        return Err(fail(
            "differs from the reference",
            format!("got {have:?}, want {want:?} for {}", show(input, 300)),
        ));
    }
    if let (Ok(u), Want::User { extra, .. }) = (&got, &want) {
        if u.extra.len() != extra.len() {
            return Err(fail("extra keys duplicated", show(input, 300)));
        }
        let json = serde_json::json!({
            "username": u.username, "uid": u.uid, "groups": u.groups,
            "extra": u.extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        });
        let again = b64_encode(json.to_string().as_bytes(), false, true);
        let back = as_want(&from_userinfo(again.as_bytes()));
        if back != have {
            return Err(fail("does not round-trip", format!("{back:?} != {have:?}")));
        }
    }
    Ok(())
}

const NAMES: &[&str] = &[
    "alice",
    "system:serviceaccount:default:x",
    " admin ",
    "admin\t",
    "ü",
    "",
    "a\"b",
    "\u{0}",
];

fn strategy() -> BoxedStrategy<Vec<u8>> {
    (
        proptest::sample::select(NAMES),
        proptest::option::of("[a-z0-9-]{0,8}"),
        proptest::collection::vec("[ -~]{0,10}", 0..4),
        proptest::collection::btree_map(
            "[a-z./-]{1,20}",
            proptest::collection::vec("[ -~]{0,8}", 0..3),
            0..3,
        ),
        any::<u64>(),
    )
        .prop_map(|(user, uid, groups, extra, seed)| {
            let mut rng = Rng::new(seed);
            let mut json = serde_json::json!({"username": user, "groups": groups, "extra": extra});
            if let Some(uid) = uid {
                json["uid"] = Value::String(uid);
            }
            let mut text = json.to_string();
            match rng.below(8) {
                0 => text = text.replacen('{', "{\"username\":\"mallory\",", 1),
                1 => text = text.replacen("\"groups\":[", "\"groups\":[null,", 1),
                2 => text = text.replacen('{', "{\"extra\":null,\"x\":[1,{}],", 1),
                3 => text = format!("[{text}]"),
                4 => text = text.replacen("\"extra\":{", "\"extra\":{\"k\":[],\"\\u006b\":[],", 1),
                _ => {}
            }
            let url = rng.chance(2);
            let mut b64 = b64_encode(text.as_bytes(), url, rng.chance(2));
            match rng.below(8) {
                0 => b64 = format!("  {b64}\n"),
                1 => b64.push('='),
                2 if !b64.is_empty() => {
                    let i = rng.below(b64.len());
                    b64.replace_range(i..=i, "!");
                }
                _ => {}
            }
            b64.into_bytes()
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_reference() {
        for n in 0..10 {
            let data: Vec<u8> = (0..n)
                .map(|i: u8| i.wrapping_mul(37).wrapping_add(1))
                .collect();
            for (url, pad) in [(false, false), (false, true), (true, false), (true, true)] {
                let e = b64_encode(&data, url, pad);
                if e.contains('-') || e.contains('_') || !url {
                    assert_eq!(b64_decode(e.as_bytes()), Some(data.clone()), "{e}");
                }
            }
        }
        assert_eq!(b64_decode(b"QQ=="), Some(b"A".to_vec()));
        assert_eq!(b64_decode(b"QR=="), None);
        assert_eq!(b64_decode(b"QQ="), Some(b"A".to_vec()));
        assert_eq!(b64_decode(b"QUJD="), None);
        assert_eq!(b64_decode(b"Q"), None);
    }
}
