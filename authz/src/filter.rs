//! Everything the authorizer takes from the filter crate (`activity-events-filter`), in one
//! place: which requests are Event requests and with which Kubernetes attributes, the control
//! plane their URL addresses, and the refusals the filter would answer for bad event paths.
//!
//! The authorizer must see requests exactly as the filter will: the same pure classification
//! decides what is reviewed, so a path cannot be an event for one and not for the other. Only
//! this module names the filter crate, so a move of its modules is a change here alone.

use activity_events_filter::k8s::api::{Api, Operation};
use activity_events_filter::k8s::status::KubeError;
use activity_events_filter::k8s::{names, parent};
use activity_events_filter::request::{route, scope};

use crate::attributes::{ApiGroup, EventAttributes, ParentContext, Verb};

/// The extras Milo sets from a control-plane prefix, overriding the user's own.
pub const PARENT_TYPE_EXTRA: &str = scope::PARENT_TYPE_EXTRA;
pub const PARENT_NAME_EXTRA: &str = scope::PARENT_NAME_EXTRA;
pub const PARENT_API_GROUP_EXTRA: &str = scope::PARENT_API_GROUP_EXTRA;

/// What the authorizer does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// Not an Event request: Milo authenticates and authorizes it itself.
    NotEvent,
    /// An event path the filter refuses: the same Status, answered before any review.
    Refused {
        code: u16,
        reason: &'static str,
        body: Vec<u8>,
    },
    Event(EventAttributes),
}

/// Classify a request by method and `:path` (with query), as the filter will.
pub fn classify(method: &str, path_with_query: &str) -> Classified {
    match route::classify(method, path_with_query) {
        Ok(route::Classification::NotEvent) => Classified::NotEvent,
        Ok(route::Classification::Event(r)) => Classified::Event(EventAttributes {
            verb: verb(r.operation),
            group: match r.api {
                Api::CoreV1 => ApiGroup::Core,
                Api::EventsV1 => ApiGroup::Events,
            },
            namespace: r.namespace,
            name: r.name,
            parent: r.parent.map(parent_context),
        }),
        Err(e) => {
            let rejection = e.rejection();
            Classified::Refused {
                code: rejection.code(),
                reason: rejection.reason.as_str(),
                body: rejection.to_json(),
            }
        }
    }
}

/// The filter's operation as the Kubernetes verb an API server authorizes (a legacy `/watch/`
/// path is already a watch).
fn verb(op: Operation) -> Verb {
    match op {
        Operation::Create => Verb::Create,
        Operation::Get => Verb::Get,
        Operation::List => Verb::List,
        Operation::Watch => Verb::Watch,
        Operation::Update => Verb::Update,
        Operation::Patch => Verb::Patch,
        Operation::Delete => Verb::Delete,
    }
}

fn parent_context(p: parent::Parent) -> ParentContext {
    ParentContext {
        kind: p.kind.as_str(),
        api_group: p.kind.api_group(),
        name: p.name,
    }
}

/// Go's `%q`, as kube-apiserver quotes names in its messages.
pub fn go_quote(s: &str) -> String {
    names::go_quote(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use activity_events_filter::identity;

    #[test]
    fn every_row_of_the_filters_routing_table_classifies_alike() {
        let table = include_str!("../../testdata/routes.tsv");
        let mut events = 0;
        for line in table.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let (method, path, expected) = (cols[0], cols[1], cols[2]);
            let got = classify(method, path);
            match expected {
                "pass" => assert_eq!(got, Classified::NotEvent, "{line}"),
                code if code.parse::<u16>().is_ok() => match got {
                    Classified::Refused { code: c, body, .. } => {
                        assert_eq!(c.to_string(), code, "{line}");
                        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        assert_eq!(v["kind"], "Status", "{line}");
                        assert_eq!(v["code"].as_u64(), Some(u64::from(c)), "{line}");
                    }
                    other => panic!("{line}: {other:?}"),
                },
                api_op => {
                    let (api, op) = api_op.split_once('.').unwrap();
                    let Classified::Event(a) = got else {
                        panic!("{line}: {got:?}")
                    };
                    let group = if api == "core_v1" {
                        ""
                    } else {
                        "events.k8s.io"
                    };
                    assert_eq!(a.group.as_str(), group, "{line}");
                    assert_eq!(a.verb.as_str(), op, "{line}");
                    events += 1;
                }
            }
        }
        assert!(events > 20, "the table lost its event rows");
    }

    #[test]
    fn verbs_cover_every_operation() {
        let verbs: Vec<&str> = Operation::ALL.iter().map(|op| verb(*op).as_str()).collect();
        assert_eq!(
            verbs,
            ["create", "get", "list", "watch", "update", "patch", "delete"]
        );
        for op in Operation::ALL {
            assert_eq!(verb(op).as_str(), op.metric_name());
        }
    }

    #[test]
    fn parent_prefixes_become_parent_contexts() {
        let cases = [
            (
                "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/namespaces/default/events",
                Some(("Organization", "resourcemanager.miloapis.com", "acme")),
            ),
            (
                "/projects/web-app/control-plane/apis/events.k8s.io/v1/namespaces/default/events/e1",
                Some(("Project", "resourcemanager.miloapis.com", "web-app")),
            ),
            (
                "/apis/iam.miloapis.com/v1alpha1/users/u-1/control-plane/api/v1/events",
                Some(("User", "iam.miloapis.com", "u-1")),
            ),
            ("/api/v1/events", None),
        ];
        for (path, want) in cases {
            let Classified::Event(a) = classify("GET", path) else {
                panic!("{path}")
            };
            let got = a
                .parent
                .as_ref()
                .map(|p| (p.kind, p.api_group, p.name.as_str()));
            assert_eq!(got, want, "{path}");
        }
    }

    #[test]
    fn invalid_parent_ids_are_the_filters_400() {
        let got = classify(
            "GET",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/Not_Valid!/control-plane/api/v1/events",
        );
        let Classified::Refused { code, reason, body } = got else {
            panic!("{got:?}")
        };
        assert_eq!((code, reason), (400, "BadRequest"));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"], r#"invalid organization ID "Not_Valid!""#);
    }

    /// The identity handed over in metadata is what the filter reads, and it passes the
    /// filter's parent check for the URL it was reviewed for.
    #[test]
    fn the_filter_reads_the_handed_over_userinfo() {
        use crate::identity::{metadata_userinfo, with_parent};
        let user = k8s_openapi::api::authentication::v1::UserInfo {
            username: Some("bob@acme.example".into()),
            uid: Some("bob-uid".into()),
            groups: Some(vec!["system:authenticated".into()]),
            extra: Some(
                [
                    (
                        PARENT_TYPE_EXTRA.to_owned(),
                        vec!["Organization".to_owned()],
                    ),
                    (PARENT_NAME_EXTRA.to_owned(), vec!["other".to_owned()]),
                    ("example.com/keep".to_owned(), vec!["x".to_owned()]),
                ]
                .into_iter()
                .collect(),
            ),
        };
        let path = "/projects/web-app/control-plane/api/v1/namespaces/default/events";
        let Classified::Event(a) = classify("GET", path) else {
            panic!()
        };
        let user = with_parent(user, a.parent.as_ref());
        let b64 = metadata_userinfo(&user);
        let read = identity::from_userinfo(b64.as_bytes()).unwrap();
        assert_eq!(read.username, "bob@acme.example");
        assert_eq!(read.uid, "bob-uid");
        assert_eq!(read.extra_values("example.com/keep").unwrap(), ["x"]);
        assert_eq!(read.extra_values(PARENT_TYPE_EXTRA).unwrap(), ["Project"]);
        let route::Classification::Event(r) = route::classify("GET", path).unwrap() else {
            panic!()
        };
        scope::check_parent(&read, r.parent.as_ref()).unwrap();
    }
}
