//! `fieldSelector` and `labelSelector` parsing and matching, following apimachinery's grammar
//! (`pkg/fields/selector.go`, `pkg/labels/selector.go`).

use crate::fields;
use crate::model::Event;
use crate::repr::Repr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    Equals,
    NotEquals,
}

/// One requirement on a selectable field (by its core/v1 label).
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
    /// Parses like `fields.ParseSelector` (terms sorted, all of them parsed before any label is
    /// looked at), then refuses labels the `repr` API does not support with Kubernetes' message
    /// (`field label not supported: foo`).
    pub fn parse(s: &str, repr: Repr) -> Result<Self, String> {
        let mut sorted: Vec<&str> = terms(s).filter(|t| !t.is_empty()).collect();
        sorted.sort_unstable();
        let mut parsed = Vec::with_capacity(sorted.len());
        for term in sorted {
            let (lhs, op, rhs) = split_term(term)
                .ok_or_else(|| format!("invalid selector: '{s}'; can't understand '{term}'"))?;
            parsed.push((lhs, op, unescape_value(rhs)?));
        }
        let requirements = parsed
            .into_iter()
            .map(|(lhs, op, value)| {
                let field = fields::selectable(repr, lhs)
                    .ok_or_else(|| format!("field label not supported: {lhs}"))?;
                Ok(FieldRequirement { field, op, value })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { requirements })
    }

    pub fn matches(&self, e: &Event) -> bool {
        self.requirements.iter().all(|r| {
            let actual = fields::value(e, &r.field);
            (actual == r.value) == (r.op == FieldOp::Equals)
        })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// The comma-separated terms of a selector; a backslash protects the character after it.
fn terms(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s).filter(|s| !s.is_empty());
    std::iter::from_fn(move || {
        let text = rest?;
        let mut escaped = false;
        let cut = text.char_indices().find_map(|(i, c)| {
            let is_cut = c == ',' && !escaped;
            escaped = c == '\\' && !escaped;
            is_cut.then_some(i)
        });
        match cut {
            Some(i) => {
                rest = text.get(i + 1..);
                text.get(..i)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// The first operator position wins, checking `!=`, `==`, `=` at each position.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    term.char_indices().find_map(|(i, _)| {
        let (lhs, rest) = (term.get(..i)?, term.get(i..)?);
        [
            ("!=", FieldOp::NotEquals),
            ("==", FieldOp::Equals),
            ("=", FieldOp::Equals),
        ]
        .into_iter()
        .find_map(|(tok, op)| rest.strip_prefix(tok).map(|r| (lhs, op, r)))
    })
}

/// `fields.UnescapeValue`: `\\`, `\,` and `\=` are the escapes; bare `,` and `=` are refused.
fn unescape_value(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('\\' | ',' | '=')) => out.push(e),
                Some(e) => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{e}"
                    ))
                }
                None => return Err("invalid field selector: invalid escape sequence: \\".into()),
            },
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                ))
            }
            c => out.push(c),
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

    pub fn matches(&self, e: &Event) -> bool {
        let labels = e.metadata.labels.as_ref();
        let get = |k: &str| labels.and_then(|m| m.get(k)).map(String::as_str);
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
    use serde_json::{json, Value};

    fn ev() -> Event {
        let v = json!({
            "metadata": {"name": "e1", "namespace": "ns", "labels": {"app": "web", "tier": "fe"}},
            "involvedObject": {"kind": "Pod", "name": "p1"},
            "reason": "Started",
            "type": "Normal",
            "source": {"component": "kubelet"}
        });
        Repr::Stored
            .decode(v.as_object().unwrap().clone())
            .unwrap()
            .event
    }

    fn parse(s: &str) -> Result<FieldSelector, String> {
        FieldSelector::parse(s, Repr::Stored)
    }

    #[test]
    fn field_selector_operators_and_conjunction() {
        let s = parse("involvedObject.kind=Pod,reason==Started").unwrap();
        assert_eq!(s.requirements.len(), 2);
        assert!(s.matches(&ev()));
        assert!(!parse("type!=Normal").unwrap().matches(&ev()));
        assert!(parse("type!=Warning").unwrap().matches(&ev()));
        assert!(parse("source=kubelet").unwrap().matches(&ev()));
        assert!(parse("involvedObject.uid=").unwrap().matches(&ev()));
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn field_selector_escapes_and_errors() {
        let s = parse(r"metadata.name=a\,b\=c,,reason=x").unwrap();
        assert_eq!(s.requirements[0].value, "a,b=c");
        assert_eq!(s.requirements[1].value, "x");
        let v1 = FieldSelector::parse("regarding.name=p,reportingController!=c", Repr::EventsV1)
            .unwrap();
        assert_eq!(v1.requirements[0].field, "involvedObject.name");
        assert_eq!(v1.requirements[1].field, "reportingComponent");
        assert_eq!(
            FieldSelector::parse("involvedObject.name=p", Repr::EventsV1).unwrap_err(),
            "field label not supported: involvedObject.name"
        );
        assert_eq!(
            parse("foo=bar").unwrap_err(),
            "field label not supported: foo"
        );
        assert!(parse("reason").unwrap_err().contains("can't understand"));
        assert!(parse(r"reason=a\x").is_err());
        // `!=` is found before `=` at the same position.
        let s = parse("reason!=x").unwrap();
        assert_eq!(s.requirements[0].op, FieldOp::NotEquals);
    }

    /// The hand-written cases in `testdata/convert/field-selectors.json`: an events.k8s.io/v1
    /// selector selects what its core/v1 counterpart selects, or is refused with that message.
    #[test]
    fn events_v1_selector_fixtures() {
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("../../testdata/convert/field-selectors.json"))
                .unwrap();
        for case in cases {
            let input = case["in"].as_str().unwrap();
            let v1 = FieldSelector::parse(input, Repr::EventsV1);
            match (case["out"].as_str(), case["error"].as_str()) {
                (Some(out), _) => assert_eq!(v1, parse(out), "{input}"),
                (None, Some(error)) => assert_eq!(v1.unwrap_err(), error, "{input}"),
                (None, None) => panic!("case without out or error: {case}"),
            }
        }
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
