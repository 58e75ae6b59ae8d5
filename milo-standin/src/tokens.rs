//! The static token file, kube-apiserver's `--token-auth-file` format: CSV records
//! `token,user,uid[,"group1,group2"[,ignored...]]`, read the way kube-apiserver reads it (at
//! least three columns, an empty token is skipped, a repeated token replaces the earlier one,
//! the groups column is split on commas as given).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use serde::Serialize;

/// Group every authenticated user is in (kube-apiserver adds it after authentication).
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// An authenticated identity, as an API server hands it to its authorizer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The identity after kube-apiserver's authenticated-group adder.
    pub fn authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            self.groups.push(AUTHENTICATED_GROUP.to_string());
        }
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading token file '{path}': {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("token file '{path}': {source}")]
    Csv { path: String, source: csv::Error },
    #[error("token file '{path}' has an unbalanced quote (an unterminated quoted field)")]
    UnbalancedQuote { path: String },
    #[error(
        "token file '{path}' must have at least 3 columns (token, user name, user uid), found {found}"
    )]
    TooFewColumns { path: String, found: usize },
}

/// Tokens and the users they authenticate.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    tokens: HashMap<String, UserInfo>,
}

impl TokenTable {
    pub fn load(path: &Path) -> Result<Self, TokenFileError> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| TokenFileError::Io {
            path: name.clone(),
            source,
        })?;

        Self::from_reader(file, &name)
    }

    /// Parses CSV text; `name` only appears in error messages.
    pub fn from_reader(mut input: impl Read, name: &str) -> Result<Self, TokenFileError> {
        let mut text = Vec::new();
        input
            .read_to_end(&mut text)
            .map_err(|source| TokenFileError::Io {
                path: name.to_string(),
                source,
            })?;
        // The csv crate lets an unterminated quote swallow the rest of the file, where Go's
        // reader (kube-apiserver's) fails; an odd number of quotes always means that.
        if text.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            return Err(TokenFileError::UnbalancedQuote {
                path: name.to_string(),
            });
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_slice());
        let mut tokens = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|source| TokenFileError::Csv {
                path: name.to_string(),
                source,
            })?;
            let (Some(token), Some(user), Some(uid)) =
                (record.get(0), record.get(1), record.get(2))
            else {
                return Err(TokenFileError::TooFewColumns {
                    path: name.to_string(),
                    found: record.len(),
                });
            };
            if token.is_empty() {
                continue;
            }
            let groups = record
                .get(3)
                .map(|g| g.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            tokens.insert(
                token.to_string(),
                UserInfo {
                    username: user.to_string(),
                    uid: uid.to_string(),
                    groups,
                    extra: BTreeMap::new(),
                },
            );
        }
        Ok(TokenTable { tokens })
    }

    /// The user a token authenticates, without the authenticated group.
    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TokenTable, TokenFileError> {
        TokenTable::from_reader(s.as_bytes(), "tokens.csv")
    }

    #[test]
    fn reads_kube_apiserver_records() {
        let t = parse(concat!(
            "t1,alice@acme.example,uid-alice,\"acme-members,system:authenticated\"\n",
            "\n",
            "t2,bob,uid-bob\n",
            "t3,carol,uid-carol,ops,ignored,columns\n",
            ",nobody,uid-none\n",
            "t4,\"d, with comma\",uid-d,\"\"\r\n",
        ))
        .unwrap();
        assert_eq!(t.len(), 4);
        let alice = t.lookup("t1").unwrap();
        assert_eq!(alice.username, "alice@acme.example");
        assert_eq!(alice.uid, "uid-alice");
        assert_eq!(alice.groups, vec!["acme-members", "system:authenticated"]);
        assert!(t.lookup("t2").unwrap().groups.is_empty());
        assert_eq!(t.lookup("t3").unwrap().groups, vec!["ops"]);
        // As strings.Split("", ","): one empty group.
        assert_eq!(t.lookup("t4").unwrap().groups, vec![""]);
        assert_eq!(t.lookup("t4").unwrap().username, "d, with comma");
        assert!(t.lookup("").is_none());
        assert!(t.lookup("T1").is_none());
    }

    #[test]
    fn later_duplicates_win() {
        let t = parse("t,a,1\nt,b,2\n").unwrap();
        assert_eq!(t.lookup("t").unwrap().username, "b");
    }

    #[test]
    fn refuses_short_records_and_bad_quotes() {
        let e = parse("t1,alice,uid\nt2,bob\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "token file 'tokens.csv' must have at least 3 columns (token, user name, user uid), found 2"
        );
        assert!(parse("t1,alice,uid,\"unterminated\n").is_err());
    }

    #[test]
    fn adds_the_authenticated_group_once() {
        let u = UserInfo {
            groups: vec!["a".into()],
            ..Default::default()
        }
        .authenticated();
        assert_eq!(u.groups, vec!["a", AUTHENTICATED_GROUP]);
        assert_eq!(u.clone().authenticated().groups, u.groups);
    }
}
