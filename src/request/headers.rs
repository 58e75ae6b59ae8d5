//! The two header steps of [`super::plan`]:
//! 1. [`inspect`] the request headers: event or not, refusals that need no identity;
//! 2. [`forward_headers`] builds the complete outgoing header map for an event request from the
//!    identity; [`BodyJob::run`] then checks and scopes the body of writes.
//!
//! Headers are read once and written back once (as one pairs buffer), because every host call
//! costs hundreds of nanoseconds in the VM.

use crate::config::Config;
use crate::config::Upstream;
use crate::identity::forward::{self, Slot};
use crate::identity::{IdentityError, UserInfo};
use crate::k8s::api::{BodyKind, Operation};
use crate::k8s::discovery::{self, DiscoveryDoc};
use crate::k8s::status::{KubeError, Reason, Rejection};
use crate::request::body::{BodyJob, FieldValidation};
use crate::request::media::{body_kind, json_accept};
use crate::request::route::{classify, Classification, EventRoute};
use crate::request::scope::{check_parent, scope_of, Scope};
use crate::response::ResponsePlan;
use crate::wire::pairs::PairsBuilder;

/// A decoded header map, borrowed from the host's buffer.
pub type Headers<'a> = [(&'a [u8], &'a [u8])];

/// What to do with a request, decided from its headers alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    /// Not an event request: forward untouched except for removing these client-sent
    /// `X-Remote-*` headers (usually none).
    PassThrough {
        strip: Vec<Vec<u8>>,
        /// A discovery document the response must be completed with events.k8s.io.
        discovery: Option<DiscoveryDoc>,
    },
    Event(EventRequest),
}

/// An event request that passed the checks that need no identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    pub route: EventRoute,
    /// For writes: how the body is read.
    pub body_kind: Option<BodyKind>,
}

fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn starts_with_ci(name: &[u8], prefix: &[u8]) -> bool {
    name.get(..prefix.len()).is_some_and(|p| eq_ci(p, prefix))
}

/// Set on event requests so Envoy's route table can send them to the `activity` cluster (and
/// pick the watch policy) without matching paths; the route removes it before forwarding.
pub const ROUTE_HEADER: &str = "x-activity-events-route";

/// Headers a client must never choose: identity (`X-Remote-*`) and the filter's own route
/// marker. Removed from every request, in any letter case.
pub fn is_spoofable(name: &[u8]) -> bool {
    starts_with_ci(name, b"x-remote-") || eq_ci(name, ROUTE_HEADER.as_bytes())
}

fn header<'a>(headers: &Headers<'a>, name: &[u8]) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|(k, _)| eq_ci(k, name))
        .map(|(_, v)| *v)
}

fn header_str<'a>(headers: &Headers<'a>, name: &[u8]) -> Result<Option<&'a str>, Rejection> {
    header(headers, name)
        .map(|v| {
            std::str::from_utf8(v).map_err(|_| {
                Rejection::new(
                    Reason::BadRequest,
                    format!(
                        "header {} is not valid UTF-8",
                        String::from_utf8_lossy(name)
                    ),
                )
            })
        })
        .transpose()
}

/// Step 1: classify and refuse what can be refused without knowing the user.
pub fn inspect(config: &Config, headers: &Headers<'_>) -> Result<Inspection, Rejection> {
    let method = header_str(headers, b":method")?.unwrap_or("");
    let path = header_str(headers, b":path")?.unwrap_or("");
    let route = match classify(method, path).map_err(|e| e.rejection())? {
        Classification::NotEvent => {
            let strip = headers
                .iter()
                .filter(|(k, _)| is_spoofable(k))
                .map(|(k, _)| k.to_vec())
                .collect();
            let discovery = discovery::for_request(method, path);
            return Ok(Inspection::PassThrough { strip, discovery });
        }
        Classification::Event(route) => route,
    };
    if headers
        .iter()
        .any(|(k, _)| starts_with_ci(k, b"impersonate-"))
    {
        return Err(Rejection::new(
            Reason::Forbidden,
            "impersonation is not allowed on event requests: the proxied identity is the authenticated user",
        ));
    }
    let body_kind = if route.operation.writes_object() {
        let kind = body_kind(route.operation, header_str(headers, b"content-type")?)
            .map_err(|e| e.rejection())?;
        if let Some(len) = header_str(headers, b"content-length")? {
            match len.trim().parse::<u64>() {
                Ok(n) if n > config.max_body_bytes as u64 => {
                    return Err(crate::request::body::too_large(config.max_body_bytes))
                }
                Ok(_) => {}
                Err(_) => return Err(Rejection::new(Reason::BadRequest, "invalid content-length")),
            }
        }
        Some(kind)
    } else {
        None
    };
    Ok(Inspection::Event(EventRequest { route, body_kind }))
}

/// The outgoing request for an event route.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The complete header map; without `content-length` when the body will be rewritten.
    pub headers: PairsBuilder,
    pub body: Option<BodyJob>,
    pub scope: Option<Scope>,
    /// How to bring the response back into the client's API (`None`: leave it as it is).
    pub response: Option<ResponsePlan>,
}

/// Step 2: the outgoing headers of an event request, for an authenticated user.
pub fn forward_headers(
    config: &Config,
    request: &EventRequest,
    headers: &Headers<'_>,
    user: &UserInfo,
) -> Result<Forward, Rejection> {
    // Every event request is refused for half a scope: Activity could not filter its reads.
    let scope = scope_of(user).map_err(|e| e.rejection())?;
    check_parent(user, request.route.parent.as_ref()).map_err(|e| e.rejection())?;
    check_value(|| "user".into(), &user.username, Slot::Value)?;
    check_value(|| "uid".into(), &user.uid, Slot::Value)?;
    for g in &user.groups {
        check_value(|| "group".into(), g, Slot::Group)?;
    }
    let extras: Vec<(&str, &str, &[std::borrow::Cow<'_, str>])> = config
        .forward_extras
        .iter()
        .filter_map(|fe| {
            user.extra_values(&fe.key)
                .map(|v| (fe.key.as_str(), fe.header.as_str(), v))
        })
        .collect();
    for (key, _, values) in &extras {
        for v in values.iter() {
            check_value(|| format!("extra {key}"), v, Slot::Value)?;
        }
    }

    let path = request
        .route
        .upstream_path(config.upstream())
        .map_err(|e| e.rejection())?;
    let route = &request.route;
    let query = route.query.as_str();
    let field_validation = crate::wire::query::first(query, "fieldValidation").and_then(Result::ok);
    let body = request.body_kind.map(|kind| BodyJob {
        kind,
        operation: route.operation,
        api: route.api,
        scope: scope.clone(),
        upstream_api_version: config.upstream_api_version().map(str::to_owned),
        namespace: route.namespace.clone().unwrap_or_default(),
        name: route.name.clone(),
        field_validation: FieldValidation::from_query(field_validation.as_deref()),
        max_bytes: config.max_body_bytes,
    });
    let converting = matches!(config.upstream(), Upstream::Prefix(_));
    let response = config.upstream_api_version().map(|v| ResponsePlan {
        api: route.api,
        operation: route.operation,
        upstream_api_version: v.to_owned(),
        pretty: crate::wire::query::flag(query, "pretty").unwrap_or(false),
        max_object_bytes: config.max_response_object_bytes,
    });
    let accept = json_accept(header_str(headers, b"accept")?).map_err(|e| e.rejection())?;
    // A body that may change loses its length; Envoy re-frames it (see host::filter).
    let reframe = body.as_ref().is_some_and(BodyJob::may_rewrite);

    let extra_count: usize = extras.iter().map(|(_, _, v)| v.len()).sum();
    let mut out =
        PairsBuilder::with_capacity(headers.len() + 2 + user.groups.len() + extra_count, 1024);
    for (k, v) in headers.iter() {
        if is_spoofable(k)
            || eq_ci(k, b"authorization")
            || (reframe && (eq_ci(k, b"content-length") || eq_ci(k, b"transfer-encoding")))
            // Responses are rewritten: ask for them uncompressed (a compressor filter before
            // this one compresses the rewritten body for the client).
            || (converting && eq_ci(k, b"accept-encoding"))
        {
            continue;
        }
        if eq_ci(k, b":path") {
            out.push(b":path", path.as_bytes());
        } else if eq_ci(k, b"accept") {
            out.push(k, accept.as_deref().map_or(*v, str::as_bytes));
        } else {
            out.push(k, v);
        }
    }
    let policy: &[u8] = if request.route.operation == Operation::Watch {
        b"watch"
    } else {
        b"request"
    };
    out.push(ROUTE_HEADER.as_bytes(), policy);
    out.push(b"x-remote-user", user.username.as_bytes());
    if !user.uid.is_empty() {
        out.push(b"x-remote-uid", user.uid.as_bytes());
    }
    for g in &user.groups {
        out.push(b"x-remote-group", g.as_bytes());
    }
    for (_, name, values) in &extras {
        for v in values.iter() {
            out.push(name.as_bytes(), v.as_bytes());
        }
    }
    Ok(Forward {
        headers: out,
        body,
        scope,
        response,
    })
}

/// An identity value the upstream would read back differently is never sent (CR/LF/NUL would
/// even split or end headers); see [`crate::identity::forward`].
/// `what` names the value in the refusal; it is only formatted for one.
fn check_value(what: impl FnOnce() -> String, value: &str, slot: Slot) -> Result<(), Rejection> {
    forward::check(value, slot)
        .map_err(|problem| IdentityError::Unforwardable(what(), problem).rejection())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::k8s::api::Operation;
    use crate::request::scope::{PARENT_NAME_EXTRA, PARENT_TYPE_EXTRA};
    use crate::wire::pairs::decode;

    pub(in crate::request) fn hdrs<'a>(
        list: &'a [(&'a str, &'a str)],
    ) -> Vec<(&'a [u8], &'a [u8])> {
        list.iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect()
    }

    fn org_user() -> UserInfo<'static> {
        UserInfo {
            username: "alice".into(),
            uid: "u1".into(),
            groups: vec!["g1".into(), "system:authenticated".into()],
            extra: vec![
                (PARENT_TYPE_EXTRA.into(), vec!["Organization".into()]),
                (PARENT_NAME_EXTRA.into(), vec!["acme".into()]),
                ("not-allowlisted".into(), vec!["secret".into()]),
            ],
        }
    }

    fn event(config: &Config, h: &[(&[u8], &[u8])]) -> EventRequest {
        match inspect(config, h).unwrap() {
            Inspection::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    /// The outgoing header map as strings.
    pub(in crate::request) fn out_headers(f: Forward) -> Vec<(String, String)> {
        let buf = f.headers.finish();
        decode(&buf)
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    String::from_utf8(v.to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn control_plane_prefixes_need_the_same_parent_in_the_identity() {
        let c = Config::default();
        let org_path =
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/namespaces/default/events";
        let org_get = [(":method", "GET"), (":path", org_path)];
        let h = hdrs(&org_get);
        let req = event(&c, &h);
        let got = out_headers(forward_headers(&c, &req, &h, &org_user()).unwrap());
        assert!(got.contains(&(
            ":path".into(),
            "/apis/activity.miloapis.com/v1alpha1/namespaces/default/events".into()
        )));
        // The project's URL with an organization identity, and a platform identity at a
        // tenant's URL: refused, nothing forwarded.
        let project_path = "/projects/web-app/control-plane/api/v1/namespaces/default/events";
        let project_get = [(":method", "GET"), (":path", project_path)];
        let h = hdrs(&project_get);
        let req = event(&c, &h);
        let e = forward_headers(&c, &req, &h, &org_user()).unwrap_err();
        assert_eq!(e.code(), 403);
        let h = hdrs(&org_get);
        let req = event(&c, &h);
        let platform = UserInfo {
            username: "admin".into(),
            ..UserInfo::default()
        };
        assert_eq!(
            forward_headers(&c, &req, &h, &platform).unwrap_err().code(),
            403
        );
        // An id Milo refuses: 400, worded as Milo words it.
        let bad = [
            (":method", "GET"),
            (
                ":path",
                "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/BAD_/control-plane/api/v1/events",
            ),
        ];
        let h = hdrs(&bad);
        let e = inspect(&c, &h).unwrap_err();
        assert_eq!(e.code(), 400);
        assert_eq!(e.message, "invalid organization ID \"BAD_\"");
    }

    #[test]
    fn get_is_rewritten_with_identity_headers_and_spoofs_removed() {
        let c = Config::default();
        let h = hdrs(&[
            (":method", "GET"),
            (":path", "/api/v1/namespaces/default/events/e1?pretty=true"),
            (":authority", "milo"),
            ("authorization", "Bearer secret"),
            ("X-Remote-User", "mallory"),
            ("x-remote-group", "system:masters"),
            ("X-REMOTE-EXTRA-iam.miloapis.com%2Fparent-name", "victim"),
            ("x-activity-events-route", "watch"),
            ("accept", "application/json"),
        ]);
        let req = event(&c, &h);
        assert_eq!(req.route.operation, Operation::Get);
        assert_eq!(req.body_kind, None);
        let f = forward_headers(&c, &req, &h, &org_user()).unwrap();
        assert!(f.body.is_none());
        let got = out_headers(f);
        let want: Vec<(String, String)> = [
            (":method", "GET"),
            (
                ":path",
                "/apis/activity.miloapis.com/v1alpha1/namespaces/default/events/e1?pretty=true",
            ),
            (":authority", "milo"),
            ("accept", "application/json"),
            ("x-activity-events-route", "request"),
            ("x-remote-user", "alice"),
            ("x-remote-uid", "u1"),
            ("x-remote-group", "g1"),
            ("x-remote-group", "system:authenticated"),
            (
                "x-remote-extra-iam.miloapis.com%2Fparent-type",
                "Organization",
            ),
            ("x-remote-extra-iam.miloapis.com%2Fparent-name", "acme"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn watches_are_marked_for_the_watch_route() {
        let c = Config::default();
        let h = hdrs(&[(":method", "GET"), (":path", "/api/v1/watch/events")]);
        let req = event(&c, &h);
        let got = out_headers(forward_headers(&c, &req, &h, &org_user()).unwrap());
        assert!(got.contains(&("x-activity-events-route".into(), "watch".into())));
    }

    #[test]
    fn uid_only_when_present() {
        let c = Config::default();
        let h = hdrs(&[(":method", "GET"), (":path", "/api/v1/events")]);
        let req = event(&c, &h);
        let user = UserInfo {
            username: "admin".into(),
            ..UserInfo::default()
        };
        let got = out_headers(forward_headers(&c, &req, &h, &user).unwrap());
        assert!(got.iter().all(|(k, _)| k != "x-remote-uid"));
        assert!(got
            .iter()
            .any(|(k, v)| k == "x-remote-user" && v == "admin"));
    }

    #[test]
    fn pass_through_strips_only_spoofed_headers() {
        let c = Config::default();
        let h = hdrs(&[
            (":method", "GET"),
            (":path", "/api/v1/namespaces/default/pods"),
            ("authorization", "Bearer keep-me"),
            ("X-Remote-User", "mallory"),
            ("x-remote-extra-foo", "bar"),
            ("X-Activity-Events-Route", "request"),
        ]);
        assert_eq!(
            inspect(&c, &h).unwrap(),
            Inspection::PassThrough {
                strip: vec![
                    b"X-Remote-User".to_vec(),
                    b"x-remote-extra-foo".to_vec(),
                    b"X-Activity-Events-Route".to_vec()
                ],
                discovery: None,
            }
        );
        let h = hdrs(&[(":method", "GET"), (":path", "/version")]);
        assert_eq!(
            inspect(&c, &h).unwrap(),
            Inspection::PassThrough {
                strip: vec![],
                discovery: None,
            }
        );
        let h = hdrs(&[
            (":method", "GET"),
            (":path", "/projects/web-app/control-plane/apis"),
        ]);
        assert_eq!(
            inspect(&c, &h).unwrap(),
            Inspection::PassThrough {
                strip: vec![],
                discovery: Some(DiscoveryDoc::Groups),
            }
        );
    }

    #[test]
    fn impersonation_is_forbidden_on_event_routes_only() {
        let c = Config::default();
        let h = hdrs(&[
            (":method", "GET"),
            (":path", "/api/v1/events"),
            ("Impersonate-User", "admin"),
        ]);
        assert_eq!(inspect(&c, &h).unwrap_err().code(), 403);
        let h = hdrs(&[
            (":method", "GET"),
            (":path", "/api/v1/pods"),
            ("impersonate-group", "x"),
        ]);
        assert!(matches!(
            inspect(&c, &h).unwrap(),
            Inspection::PassThrough { .. }
        ));
    }

    #[test]
    fn writes_need_a_readable_body_type_and_size() {
        let c = Config {
            max_body_bytes: 10,
            ..Config::default()
        };
        let post = |ct: &'static str, len: &'static str| {
            hdrs_owned(&[
                (":method", "POST"),
                (":path", "/api/v1/namespaces/default/events"),
                ("content-type", ct),
                ("content-length", len),
            ])
        };
        assert_eq!(
            inspect(
                &c,
                &as_refs(&post("application/vnd.kubernetes.protobuf", "5"))
            )
            .unwrap_err()
            .code(),
            415
        );
        assert_eq!(
            inspect(&c, &as_refs(&post("application/json", "11")))
                .unwrap_err()
                .code(),
            413
        );
        assert_eq!(
            inspect(&c, &as_refs(&post("application/json", "x")))
                .unwrap_err()
                .code(),
            400
        );
        let req = event(&c, &as_refs(&post("application/json", "10")));
        assert_eq!(req.body_kind, Some(BodyKind::Object));
    }

    fn hdrs_owned(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    fn as_refs(v: &[(Vec<u8>, Vec<u8>)]) -> Vec<(&[u8], &[u8])> {
        v.iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect()
    }

    #[test]
    fn scoped_writes_drop_content_length_for_reframing() {
        let c = Config::default();
        let h = hdrs(&[
            (":method", "POST"),
            (":path", "/api/v1/namespaces/default/events"),
            ("content-type", "application/json"),
            ("content-length", "100"),
            ("transfer-encoding", "chunked"),
        ]);
        let req = event(&c, &h);
        let f = forward_headers(&c, &req, &h, &org_user()).unwrap();
        let job = f.body.clone().unwrap();
        assert_eq!(job.scope, f.scope);
        let got = out_headers(f);
        assert!(got
            .iter()
            .all(|(k, _)| k != "content-length" && k != "transfer-encoding"));

        // In standard-paths mode a platform user's body is forwarded as sent, length included.
        let standard = Config {
            activity_prefix: "/api/v1".into(),
            ..Config::default()
        };
        let platform = UserInfo {
            username: "root".into(),
            ..UserInfo::default()
        };
        let f = forward_headers(&standard, &req, &h, &platform).unwrap();
        assert_eq!(f.body.as_ref().unwrap().scope, None);
        assert!(out_headers(f)
            .iter()
            .any(|(k, v)| k == "content-length" && v == "100"));
        // Towards Activity the body is re-tagged, so its length goes even for platform users.
        let f = forward_headers(&c, &req, &h, &platform).unwrap();
        assert!(out_headers(f).iter().all(|(k, _)| k != "content-length"));
    }

    #[test]
    fn body_job_checks_and_scopes() {
        let job = BodyJob {
            kind: BodyKind::Object,
            operation: Operation::Create,
            api: crate::k8s::api::Api::CoreV1,
            upstream_api_version: None,
            namespace: "default".into(),
            name: None,
            field_validation: crate::request::body::FieldValidation::Warn,
            scope: Some(Scope {
                kind: "Project".into(),
                name: "p1".into(),
            }),
            max_bytes: 64,
        };
        let out = job.run(br#"{"metadata":{"name":"x"}}"#).unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["metadata"]["annotations"]["platform.miloapis.com/scope.type"],
            "Project"
        );
        assert_eq!(job.run(&[b' '; 65]).unwrap_err().code(), 413);
        assert_eq!(job.run(b"{").unwrap_err().code(), 400);
    }

    #[test]
    fn identity_values_the_upstream_would_read_differently_are_refused() {
        let c = Config::default();
        let h = hdrs(&[(":method", "GET"), (":path", "/api/v1/events")]);
        let req = event(&c, &h);
        let user = |name: &str| UserInfo {
            username: name.to_owned().into(),
            ..UserInfo::default()
        };
        let api_group = |v: &str| UserInfo {
            extra: vec![(
                "iam.miloapis.com/parent-api-group".into(),
                vec![v.to_owned().into()],
            )],
            ..user("a")
        };
        for (bad, message) in [
            (
                user("a\r\nx-remote-group: system:masters"),
                "the user contains a control character",
            ),
            (user("admin\t"), "the user contains a control character"),
            (
                user(" admin "),
                "the user has leading or trailing whitespace",
            ),
            (
                user("admin "),
                "the user has leading or trailing whitespace",
            ),
            (
                UserInfo {
                    uid: "nul\0".into(),
                    ..user("a")
                },
                "the uid contains a control character",
            ),
            (
                UserInfo {
                    uid: " u1".into(),
                    ..user("a")
                },
                "the uid has leading or trailing whitespace",
            ),
            (
                UserInfo {
                    groups: vec!["g\n".into()],
                    ..user("a")
                },
                "the group contains a control character",
            ),
            (
                UserInfo {
                    groups: vec!["ok".into(), "system:masters ".into()],
                    ..user("a")
                },
                "the group has leading or trailing whitespace",
            ),
            (
                UserInfo {
                    groups: vec!["".into()],
                    ..user("a")
                },
                "the group is empty",
            ),
            (
                api_group("x\ry"),
                "the extra iam.miloapis.com/parent-api-group contains a control character",
            ),
            (
                api_group("\tx"),
                "the extra iam.miloapis.com/parent-api-group contains a control character",
            ),
            (
                api_group("x "),
                "the extra iam.miloapis.com/parent-api-group has leading or trailing whitespace",
            ),
        ] {
            let e = forward_headers(&c, &req, &h, &bad).unwrap_err();
            assert_eq!(e.code(), 500, "{bad:?}");
            assert_eq!(
                e.message,
                format!("the authenticated identity cannot be forwarded unchanged: {message}")
            );
        }
        // Unicode (spaces included), commas and percent signs are carried as they are.
        let fine = UserInfo {
            username: "\u{a0}ünï, 100%25\u{3000}".into(),
            uid: "u,1".into(),
            groups: vec!["a,b".into(), "\u{212A}".into()],
            ..api_group("")
        };
        let got = out_headers(forward_headers(&c, &req, &h, &fine).unwrap());
        assert!(got.contains(&("x-remote-user".into(), "\u{a0}ünï, 100%25\u{3000}".into())));
        assert!(got.contains(&("x-remote-group".into(), "a,b".into())));
        // Extras that are not forwarded are not checked (they never become headers).
        let ok = UserInfo {
            extra: vec![("other".into(), vec!["x\ny".into()])],
            ..user("a")
        };
        assert!(forward_headers(&c, &req, &h, &ok).is_ok());
    }

    #[test]
    fn half_a_scope_is_refused_even_for_reads() {
        let c = Config::default();
        let h = hdrs(&[(":method", "GET"), (":path", "/api/v1/events")]);
        let req = event(&c, &h);
        let user = UserInfo {
            username: "a".into(),
            extra: vec![(PARENT_TYPE_EXTRA.into(), vec!["Organization".into()])],
            ..UserInfo::default()
        };
        assert_eq!(
            forward_headers(&c, &req, &h, &user).unwrap_err().code(),
            403
        );
    }
}
