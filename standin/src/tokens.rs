//! Sandbox identities: an ES256 signing key, its JWKS for Envoy's `jwt_authn`, and one token
//! per sandbox user. The claims carry what the events filter reads from `payload_in_metadata`:
//! `sub`, `uid`, `groups` and `extra` (a map of string lists, as in a Kubernetes UserInfo).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

pub const SANDBOX_ISSUER: &str = "https://sandbox.activity.local";
pub const SANDBOX_AUDIENCE: &str = "milo-sandbox";
const KEY_ID: &str = "sandbox-1";

/// One sandbox user.
pub struct SandboxUser {
    /// File stem and kubeconfig context name.
    pub name: &'static str,
    pub username: &'static str,
    pub uid: &'static str,
    pub groups: &'static [&'static str],
    /// (parent-type, parent-name); `None` for a platform user.
    pub scope: Option<(&'static str, &'static str)>,
}

/// The three sandbox users: a platform admin, an Organization user and a Project user.
pub const SANDBOX_USERS: [SandboxUser; 3] = [
    SandboxUser {
        name: "admin",
        username: "admin@platform.local",
        uid: "uid-admin",
        groups: &["system:authenticated", "platform-admins"],
        scope: None,
    },
    SandboxUser {
        name: "org",
        username: "alice@acme.example",
        uid: "uid-alice",
        groups: &["system:authenticated", "acme-members"],
        scope: Some(("Organization", "acme")),
    },
    SandboxUser {
        name: "project",
        username: "bob@acme.example",
        uid: "uid-bob",
        groups: &["system:authenticated"],
        scope: Some(("Project", "web-app")),
    },
];

/// What `generate_tokens` wrote.
pub struct TokenPaths {
    pub jwks: PathBuf,
    /// (user name, token file).
    pub tokens: Vec<(String, PathBuf)>,
}

/// Write `signing-key.pk8` (kept unless `force`), `jwks.json` and `<user>.token` for every
/// sandbox user, valid for `valid_secs`.
pub fn generate_tokens(dir: &Path, force: bool, valid_secs: u64) -> anyhow::Result<TokenPaths> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let rng = SystemRandom::new();
    let key_path = dir.join("signing-key.pk8");
    if force || !key_path.exists() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow!("cannot generate an ES256 key"))?;
        std::fs::write(&key_path, pkcs8.as_ref())?;
    }
    let pkcs8 = std::fs::read(&key_path)?;
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
        .map_err(|_| anyhow!("{} is not an ES256 PKCS#8 key", key_path.display()))?;

    // Uncompressed P-256 point: 0x04 || X (32 bytes) || Y (32 bytes).
    let point = key.public_key().as_ref();
    let (x, y) = match point {
        [4, rest @ ..] if rest.len() == 64 => rest.split_at(32),
        _ => return Err(anyhow!("unexpected public key encoding")),
    };
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KEY_ID,
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }]});
    let jwks_path = dir.join("jwks.json");
    std::fs::write(&jwks_path, serde_json::to_vec_pretty(&jwks)?)?;

    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut tokens = Vec::new();
    for user in &SANDBOX_USERS {
        let token = sign(&key, &rng, &claims(user, now, valid_secs))?;
        let path = dir.join(format!("{}.token", user.name));
        std::fs::write(&path, &token)?;
        tokens.push((user.name.to_owned(), path));
    }
    Ok(TokenPaths {
        jwks: jwks_path,
        tokens,
    })
}

fn claims(user: &SandboxUser, now: u64, valid_secs: u64) -> Value {
    let mut extra = serde_json::Map::new();
    if let Some((kind, name)) = user.scope {
        extra.insert("iam.miloapis.com/parent-type".into(), json!([kind]));
        extra.insert("iam.miloapis.com/parent-name".into(), json!([name]));
        extra.insert(
            "iam.miloapis.com/parent-api-group".into(),
            json!(["resourcemanager.miloapis.com"]),
        );
    }
    json!({
        "iss": SANDBOX_ISSUER,
        "aud": SANDBOX_AUDIENCE,
        "sub": user.username,
        "uid": user.uid,
        "groups": user.groups,
        "extra": extra,
        "iat": now,
        "nbf": now.saturating_sub(60),
        "exp": now + valid_secs,
    })
}

fn sign(key: &EcdsaKeyPair, rng: &SystemRandom, claims: &Value) -> anyhow::Result<String> {
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": KEY_ID});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let sig = key
        .sign(rng, signing_input.as_bytes())
        .map_err(|_| anyhow!("signing failed"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn tokens_verify_against_the_jwks_and_carry_the_scope() {
        let dir = tempfile::tempdir().unwrap();
        let paths = generate_tokens(dir.path(), false, 3600).unwrap();
        let jwks: Value = serde_json::from_slice(&std::fs::read(&paths.jwks).unwrap()).unwrap();
        let k = &jwks["keys"][0];
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(k["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(k["y"].as_str().unwrap()).unwrap());
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point);
        assert_eq!(paths.tokens.len(), 3);
        for (name, path) in &paths.tokens {
            let token = std::fs::read_to_string(path).unwrap();
            let parts: Vec<&str> = token.split('.').collect();
            let (input, sig) = token.rsplit_once('.').unwrap();
            public
                .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
                .unwrap();
            let claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            let scope = claims["extra"]["iam.miloapis.com/parent-type"][0].as_str();
            match name.as_str() {
                "admin" => assert_eq!(scope, None),
                "org" => assert_eq!(scope, Some("Organization")),
                "project" => assert_eq!(scope, Some("Project")),
                other => panic!("unexpected user {other}"),
            }
        }
        // The key is kept across runs unless forced.
        let before = std::fs::read(dir.path().join("signing-key.pk8")).unwrap();
        generate_tokens(dir.path(), false, 3600).unwrap();
        assert_eq!(
            before,
            std::fs::read(dir.path().join("signing-key.pk8")).unwrap()
        );
    }
}
