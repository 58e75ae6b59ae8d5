//! The sandbox's identities and policy: `tokens.csv` (random tokens, kept across runs),
//! `policy.json`, and one `<name>.token` file per user for scripts and kubeconfigs.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ring::rand::{SecureRandom, SystemRandom};

use crate::policy::{Membership, Policy, Subjects, UserControlPlanes, EVENT_VERBS};

/// The authorizer's identity: a reviewer, nothing else.
pub const AUTHORIZER_USER: &str = "system:serviceaccount:milo-system:activity-events-authz";

/// One sandbox user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxUser {
    /// File stem (`<name>.token`) and a natural kubeconfig context name.
    pub name: &'static str,
    pub username: &'static str,
    pub uid: &'static str,
    pub groups: &'static [&'static str],
    pub role: &'static str,
}

pub const SANDBOX_USERS: [SandboxUser; 5] = [
    SandboxUser {
        name: "admin",
        username: "admin@platform.local",
        uid: "uid-admin",
        groups: &["platform-admins"],
        role: "platform admin: anything, anywhere",
    },
    SandboxUser {
        name: "alice",
        username: "alice@acme.example",
        uid: "uid-alice",
        groups: &["acme-members"],
        role: "member of organization acme: events in the acme control plane",
    },
    SandboxUser {
        name: "bob",
        username: "bob@acme.example",
        uid: "uid-bob",
        groups: &[],
        role: "member of project web-app (organization acme): events in the web-app control plane",
    },
    SandboxUser {
        name: "eve",
        username: "eve@acme.example",
        uid: "uid-eve",
        groups: &[],
        role: "member of project mobile-app only: no rights in web-app or acme",
    },
    SandboxUser {
        name: "authz",
        username: AUTHORIZER_USER,
        uid: "uid-activity-events-authz",
        groups: &[
            "system:serviceaccounts",
            "system:serviceaccounts:milo-system",
        ],
        role: "the authorizer: may create TokenReviews and SubjectAccessReviews",
    },
];

pub fn sandbox_user(name: &str) -> Option<&'static SandboxUser> {
    SANDBOX_USERS.iter().find(|u| u.name == name)
}

/// The sandbox policy.
pub fn sandbox_policy() -> Policy {
    let all: Vec<String> = EVENT_VERBS.iter().map(|v| v.to_string()).collect();
    let member = |users: &[&str], groups: &[&str]| Membership {
        users: users.iter().map(|u| u.to_string()).collect(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        event_verbs: all.clone(),
    };
    Policy {
        platform_admins: Subjects {
            users: vec!["admin@platform.local".into()],
            groups: vec!["platform-admins".into()],
        },
        reviewers: Subjects {
            users: vec![AUTHORIZER_USER.into()],
            groups: Vec::new(),
        },
        denied: Subjects::default(),
        organizations: BTreeMap::from([(
            "acme".to_string(),
            member(&["alice@acme.example"], &["acme-members"]),
        )]),
        projects: BTreeMap::from([
            ("web-app".to_string(), member(&["bob@acme.example"], &[])),
            ("mobile-app".to_string(), member(&["eve@acme.example"], &[])),
        ]),
        user_control_planes: Some(UserControlPlanes { event_verbs: all }),
    }
}

/// What `write_sandbox_files` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxFiles {
    pub tokens: PathBuf,
    pub policy: PathBuf,
    /// (user name, `<name>.token` file).
    pub token_files: Vec<(String, PathBuf)>,
}

impl SandboxFiles {
    pub fn token_file(&self, name: &str) -> Option<&Path> {
        self.token_files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.as_path())
    }

    pub fn token(&self, name: &str) -> anyhow::Result<String> {
        let path = self
            .token_file(name)
            .with_context(|| format!("no sandbox user {name:?}"))?;
        Ok(std::fs::read_to_string(path)?.trim().to_string())
    }
}

fn random_token(rng: &SystemRandom) -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    rng.fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness available"))?;
    let mut s = String::with_capacity(48);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    Ok(s)
}

fn write_secret(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    Ok(())
}

/// Tokens already in `tokens.csv`, by user name.
fn existing_tokens(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read(path) else {
        return HashMap::new();
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    reader
        .records()
        .filter_map(Result::ok)
        .filter_map(|r| Some((r.get(1)?.to_string(), r.get(0)?.to_string())))
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

/// Writes `tokens.csv`, `policy.json` and `<name>.token` into `dir`. Tokens of users already
/// in `tokens.csv` are kept unless `force`, so running it again changes nothing.
pub fn write_sandbox_files(dir: &Path, force: bool) -> anyhow::Result<SandboxFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tokens_path = dir.join("tokens.csv");
    let keep = if force {
        HashMap::new()
    } else {
        existing_tokens(&tokens_path)
    };
    let rng = SystemRandom::new();
    let mut writer = csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::new());
    let mut token_files = Vec::new();
    for u in &SANDBOX_USERS {
        let token = match keep.get(u.username) {
            Some(t) => t.clone(),
            None => random_token(&rng)?,
        };
        let groups = u.groups.join(",");
        // No fourth column without groups: kube-apiserver would read "" as one empty group.
        let mut record = vec![token.as_str(), u.username, u.uid];
        if !groups.is_empty() {
            record.push(groups.as_str());
        }
        writer
            .write_record(&record)
            .context("encoding tokens.csv")?;
        let file = dir.join(format!("{}.token", u.name));
        write_secret(&file, &token)?;
        token_files.push((u.name.to_string(), file));
    }
    let csv_bytes = writer
        .into_inner()
        .map_err(|e| anyhow::anyhow!("encoding tokens.csv: {e}"))?;
    write_secret(&tokens_path, &String::from_utf8(csv_bytes)?)?;
    let policy_path = dir.join("policy.json");
    let mut policy = serde_json::to_vec_pretty(&sandbox_policy())?;
    policy.push(b'\n');
    std::fs::write(&policy_path, policy)
        .with_context(|| format!("writing {}", policy_path.display()))?;
    Ok(SandboxFiles {
        tokens: tokens_path,
        policy: policy_path,
        token_files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::TokenTable;

    #[test]
    fn files_load_and_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let f = write_sandbox_files(dir.path(), false).unwrap();
        let tokens = TokenTable::load(&f.tokens).unwrap();
        assert_eq!(tokens.len(), 5);
        let alice = f.token("alice").unwrap();
        assert_eq!(alice.len(), 48);
        let u = tokens.lookup(&alice).unwrap();
        assert_eq!(u.username, "alice@acme.example");
        assert_eq!(u.groups, vec!["acme-members"]);
        let authz = tokens.lookup(&f.token("authz").unwrap()).unwrap();
        assert_eq!(
            authz.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:milo-system"
            ]
        );
        assert!(tokens
            .lookup(&f.token("bob").unwrap())
            .unwrap()
            .groups
            .is_empty());
        assert_eq!(Policy::load(&f.policy).unwrap(), sandbox_policy());
        // Idempotent.
        let again = write_sandbox_files(dir.path(), false).unwrap();
        assert_eq!(again.token("alice").unwrap(), alice);
        assert_ne!(
            write_sandbox_files(dir.path(), true)
                .unwrap()
                .token("alice")
                .unwrap(),
            alice
        );
        assert_ne!(f.token("bob").unwrap(), f.token("eve").unwrap());
    }
}
