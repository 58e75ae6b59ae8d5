//! Tenant visibility: which stored events a caller may see, from its forwarded extras.

use std::collections::BTreeMap;

use crate::model::{self, Event};

pub const EXTRA_PARENT_TYPE: &str = "iam.miloapis.com/parent-type";
pub const EXTRA_PARENT_NAME: &str = "iam.miloapis.com/parent-name";
pub const ANNOTATION_SCOPE_TYPE: &str = "platform.miloapis.com/scope.type";
pub const ANNOTATION_SCOPE_NAME: &str = "platform.miloapis.com/scope.name";

/// Platform callers see everything; tenant callers only events annotated with their scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Platform,
    Tenant {
        parent_type: String,
        parent_name: String,
    },
}

impl Scope {
    /// Uses the first value of each extra. Neither present means Platform. When only one is
    /// present the other must match an absent (empty) annotation, so such a caller cannot see
    /// fully scoped events of other tenants.
    pub fn from_extra(extra: &BTreeMap<String, Vec<String>>) -> Self {
        let first = |k: &str| extra.get(k).and_then(|v| v.first()).cloned();
        match (first(EXTRA_PARENT_TYPE), first(EXTRA_PARENT_NAME)) {
            (None, None) => Scope::Platform,
            (t, n) => Scope::Tenant {
                parent_type: t.unwrap_or_default(),
                parent_name: n.unwrap_or_default(),
            },
        }
    }

    pub fn allows(&self, obj: &Event) -> bool {
        match self {
            Scope::Platform => true,
            Scope::Tenant {
                parent_type,
                parent_name,
            } => {
                model::annotation(obj, ANNOTATION_SCOPE_TYPE) == parent_type
                    && model::annotation(obj, ANNOTATION_SCOPE_NAME) == parent_name
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn extra(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    fn ev(v: serde_json::Value) -> Event {
        crate::repr::Repr::Stored
            .decode(v.as_object().cloned().unwrap_or_default())
            .unwrap()
            .event
    }

    fn scoped(t: &str, n: &str) -> Event {
        ev(
            json!({"metadata": {"annotations": {ANNOTATION_SCOPE_TYPE: t, ANNOTATION_SCOPE_NAME: n}}}),
        )
    }

    #[test]
    fn platform_sees_everything() {
        let s = Scope::from_extra(&extra(&[("other", "x")]));
        assert_eq!(s, Scope::Platform);
        assert!(s.allows(&scoped("Organization", "acme")));
        assert!(s.allows(&Event::default()));
    }

    #[test]
    fn tenant_sees_only_its_scope() {
        let s = Scope::from_extra(&extra(&[
            (EXTRA_PARENT_TYPE, "Organization"),
            (EXTRA_PARENT_TYPE, "Ignored"),
            (EXTRA_PARENT_NAME, "acme"),
        ]));
        assert!(s.allows(&scoped("Organization", "acme")));
        assert!(!s.allows(&scoped("Organization", "other")));
        assert!(!s.allows(&scoped("Project", "acme")));
        assert!(!s.allows(&Event::default()));
    }

    #[test]
    fn half_scoped_caller_cannot_see_full_scopes() {
        let s = Scope::from_extra(&extra(&[(EXTRA_PARENT_TYPE, "Organization")]));
        assert!(!s.allows(&scoped("Organization", "acme")));
        assert!(s.allows(&ev(
            json!({"metadata": {"annotations": {ANNOTATION_SCOPE_TYPE: "Organization"}}})
        )));
    }
}
