//! Field selectors: events.k8s.io/v1 labels translated to the stored core/v1 labels.

use super::error::*;
use super::fields::*;

/// An events.k8s.io/v1 field selector (the decoded query value, e.g.
/// `regarding.name=my-pod,type!=Normal`) in the stored core shape's labels
/// (`involvedObject.name=my-pod,type!=Normal`).
///
/// Parsing follows `fields.ParseSelector`: terms split on unescaped `,`; each term split at the
/// first `!=`, `==` or `=`; values may escape `\\`, `\,` and `\=`. Errors are reported for the
/// terms in sorted order, parse errors before label errors, with kube-apiserver's messages (both
/// 400): `invalid selector: '<selector>'; can't understand '<term>'`, `invalid field selector:
/// invalid escape sequence: \x`, `invalid field selector: unescaped character in value: 61`,
/// `field label not supported: <label>`. The output keeps the terms in their order with their
/// operators and (still escaped) values; only the labels change. Empty terms are dropped.
pub fn field_selector_events_v1_to_core(selector: &str) -> Result<String, ConvertError> {
    let terms = split_terms(selector);
    let mut sorted: Vec<&str> = terms.clone();
    crate::sort::unstable(&mut sorted);
    for part in sorted.iter().filter(|p| !p.is_empty()) {
        let (_, _, rhs) = split_term(part).ok_or_else(|| {
            ConvertError::InvalidFieldSelector(format!(
                "invalid selector: '{selector}'; can't understand '{part}'"
            ))
        })?;
        check_selector_value(rhs)?;
    }
    for part in sorted.iter().filter(|p| !p.is_empty()) {
        if let Some((lhs, _, _)) = split_term(part) {
            if field_label_to_core(lhs).is_none() {
                return Err(ConvertError::UnsupportedFieldLabel(lhs.to_owned()));
            }
        }
    }
    let mut out = String::with_capacity(selector.len() + 16);
    for part in terms.iter().filter(|p| !p.is_empty()) {
        if let Some((lhs, op, rhs)) = split_term(part) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(field_label_to_core(lhs).unwrap_or(lhs));
            out.push_str(op);
            out.push_str(rhs);
        }
    }
    Ok(out)
}

pub(super) fn field_label_to_core(label: &str) -> Option<&'static str> {
    EVENTS_V1_FIELD_LABELS
        .iter()
        .find(|(v1, _)| *v1 == label)
        .map(|(_, core)| *core)
}

pub(super) fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in selector.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(selector.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    terms.push(selector.get(start..).unwrap_or(""));
    terms
}

pub(super) fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let remaining = term.get(i..)?;
        for op in ["!=", "==", "="] {
            if remaining.starts_with(op) {
                return Some((term.get(..i)?, op, term.get(i + op.len()..)?));
            }
        }
    }
    None
}

pub(super) fn check_selector_value(s: &str) -> Result<(), ConvertError> {
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(ConvertError::InvalidFieldSelector(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(ConvertError::InvalidFieldSelector(format!(
                    "invalid field selector: unescaped character in value: {}",
                    u32::from(c)
                )))
            }
            _ => {}
        }
    }
    if in_slash {
        return Err(ConvertError::InvalidFieldSelector(
            "invalid field selector: invalid escape sequence: \\".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::events::test_support::*;
    use crate::k8s::status::KubeError;

    #[test]
    fn field_selectors_follow_fixtures() {
        let cases = fixture("field-selectors");
        for case in cases.as_array().unwrap() {
            let input = case["in"].as_str().unwrap();
            let got = field_selector_events_v1_to_core(input);
            match case.get("error") {
                Some(msg) => {
                    let r = got.expect_err(input).rejection();
                    assert_eq!(r.code(), 400, "{input}");
                    assert_eq!(r.message, msg.as_str().unwrap(), "{input}");
                }
                None => assert_eq!(got.unwrap(), case["out"].as_str().unwrap(), "{input}"),
            }
        }
    }

    #[test]
    fn every_events_v1_label_maps_to_a_core_label() {
        for (v1, core) in EVENTS_V1_FIELD_LABELS {
            assert!(CORE_EVENT_FIELD_LABELS.contains(&core), "{core}");
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{v1}=a")).unwrap(),
                format!("{core}=a")
            );
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{v1}!=a")).unwrap(),
                format!("{core}!=a")
            );
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{v1}==a")).unwrap(),
                format!("{core}==a")
            );
        }
        // Core-only labels are not events.k8s.io/v1 labels.
        for core in CORE_EVENT_FIELD_LABELS {
            if EVENTS_V1_FIELD_LABELS.iter().any(|(v1, _)| *v1 == core) {
                continue;
            }
            assert_eq!(
                field_selector_events_v1_to_core(&format!("{core}=a")),
                Err(ConvertError::UnsupportedFieldLabel(core.to_owned()))
            );
        }
    }

    // --- validation ------------------------------------------------------------------------
}
