//! `fieldSelector` and `labelSelector` parsing and matching, following apimachinery's grammar.

use serde_json::Value;

use crate::event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub op: FieldOp,
    pub value: String,
}

/// A conjunction of field requirements; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses like `fields.ParseSelector` and rejects labels Events cannot be selected by, with
    /// Kubernetes' message (`field label not supported: foo`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_unescaped_commas(s) {
            if term.is_empty() {
                continue;
            }
            let (lhs, op, rhs) = split_term(term)
                .ok_or_else(|| format!("invalid selector: '{s}'; can't understand '{term}'"))?;
            let value = unescape_value(rhs)?;
            if !event::SELECTABLE_FIELDS.contains(&lhs) {
                return Err(format!("field label not supported: {lhs}"));
            }
            requirements.push(FieldRequirement {
                field: lhs.to_string(),
                op,
                value,
            });
        }
        Ok(Self { requirements })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let actual = event::selectable_field(obj, &r.field).unwrap_or_default();
            match r.op {
                FieldOp::Equals => actual == r.value,
                FieldOp::NotEquals => actual != r.value,
            }
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

fn split_unescaped_commas(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(s.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    terms.push(s.get(start..).unwrap_or(""));
    terms
}

/// The first operator position wins, checking `!=`, `==`, `=` at each position.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = term.get(i..)?;
        let lhs = term.get(..i)?;
        if let Some(r) = rest.strip_prefix("!=") {
            return Some((lhs, FieldOp::NotEquals, r));
        }
        if let Some(r) = rest.strip_prefix("==") {
            return Some((lhs, FieldOp::Equals, r));
        }
        if let Some(r) = rest.strip_prefix('=') {
            return Some((lhs, FieldOp::Equals, r));
        }
    }
    None
}

fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c == ',' || c == '=' {
                return Err(format!("invalid field selector value {s:?}: unescaped {c}"));
            }
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ ('\\' | ',' | '=')) => out.push(e),
            Some(e) => return Err(format!("invalid escape sequence \\{e} in {s:?}")),
            None => return Err(format!("unterminated escape sequence in {s:?}")),
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelRequirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A conjunction of label requirements; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Supports `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)` and `k notin (a,b)`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut requirements = Vec::new();
        for term in split_outside_parens(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_label_term(term)?);
        }
        Ok(Self { requirements })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = event::labels(obj);
        let get = |k: &str| labels.and_then(|m| m.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            LabelRequirement::Equals(k, v) => get(k) == Some(v.as_str()),
            LabelRequirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            LabelRequirement::In(k, vs) => get(k).is_some_and(|a| vs.iter().any(|v| v == a)),
            LabelRequirement::NotIn(k, vs) => !get(k).is_some_and(|a| vs.iter().any(|v| v == a)),
            LabelRequirement::Exists(k) => get(k).is_some(),
            LabelRequirement::DoesNotExist(k) => get(k).is_none(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

fn split_outside_parens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

fn parse_label_term(term: &str) -> Result<LabelRequirement, String> {
    let bad = || format!("unable to parse requirement: {term:?}");
    if let Some(key) = term.strip_prefix('!') {
        return Ok(LabelRequirement::DoesNotExist(valid_key(key.trim(), term)?));
    }
    for (op, ctor) in [
        (
            "!=",
            LabelRequirement::NotEquals as fn(String, String) -> LabelRequirement,
        ),
        ("==", LabelRequirement::Equals),
        ("=", LabelRequirement::Equals),
    ] {
        if let Some((k, v)) = term.split_once(op) {
            return Ok(ctor(valid_key(k.trim(), term)?, v.trim().to_string()));
        }
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or("");
    let rest = words.next().unwrap_or("").trim();
    if rest.is_empty() {
        return Ok(LabelRequirement::Exists(valid_key(key, term)?));
    }
    let (op, list) = rest
        .split_once(|c: char| c.is_whitespace() || c == '(')
        .map(|(op, _)| (op, rest.get(op.len()..).unwrap_or("").trim()))
        .ok_or_else(bad)?;
    let inner = list
        .strip_prefix('(')
        .and_then(|l| l.strip_suffix(')'))
        .ok_or_else(bad)?;
    let values: Vec<String> = inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let key = valid_key(key, term)?;
    match op {
        "in" => Ok(LabelRequirement::In(key, values)),
        "notin" => Ok(LabelRequirement::NotIn(key, values)),
        _ => Err(bad()),
    }
}

fn valid_key(k: &str, term: &str) -> Result<String, String> {
    let ok = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if ok {
        Ok(k.to_string())
    } else {
        Err(format!(
            "unable to parse requirement: invalid label key {k:?} in {term:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev() -> Value {
        json!({
            "metadata": {"name": "e1", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}},
            "involvedObject": {"kind": "Pod", "name": "p1"},
            "reason": "Started",
            "type": "Normal",
            "source": {"component": "kubelet"}
        })
    }

    #[test]
    fn field_selector_operators_and_conjunction() {
        let s = FieldSelector::parse("involvedObject.kind=Pod,reason==Started").unwrap();
        assert_eq!(s.requirements.len(), 2);
        assert!(s.matches(&ev()));
        assert!(!FieldSelector::parse("type!=Normal").unwrap().matches(&ev()));
        assert!(FieldSelector::parse("type!=Warning")
            .unwrap()
            .matches(&ev()));
        assert!(FieldSelector::parse("source=kubelet")
            .unwrap()
            .matches(&ev()));
        assert!(FieldSelector::parse("involvedObject.uid=")
            .unwrap()
            .matches(&ev()));
        assert!(FieldSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn field_selector_escapes_and_errors() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c").unwrap();
        assert_eq!(s.requirements[0].value, "a,b=c");
        assert_eq!(
            FieldSelector::parse("foo=bar").unwrap_err(),
            "field label not supported: foo"
        );
        assert!(FieldSelector::parse("reason")
            .unwrap_err()
            .contains("can't understand"));
        assert!(FieldSelector::parse(r"reason=a\x").is_err());
        // `!=` is found before `=` at the same position.
        let s = FieldSelector::parse("reason!=x").unwrap();
        assert_eq!(s.requirements[0].op, FieldOp::NotEquals);
    }

    #[test]
    fn label_selector_forms() {
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&ev());
        assert!(m("app=web"));
        assert!(m("app==web,tier=fe"));
        assert!(!m("app!=web"));
        assert!(m("missing!=x"));
        assert!(m("app"));
        assert!(!m("!app"));
        assert!(m("!missing"));
        assert!(m("app in (web, api)"));
        assert!(!m("app notin (web)"));
        assert!(m("tier notin (be),app in (web)"));
        assert!(m(""));
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
        assert!(LabelSelector::parse("=x").is_err());
    }
}
