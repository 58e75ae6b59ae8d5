//! The request side: everything decided about a request before it goes upstream, as one pure
//! function of the configuration, the request headers and the identity source.
//!
//! The host glue reads the headers once, calls [`plan`], and carries out the [`Plan`]: remove
//! the spoofed headers of a pass-through, answer a refusal, or write the new header map once
//! and keep the body job and the response plan for later callbacks.

pub mod body;
mod headers;
pub mod media;
pub mod route;
pub mod scope;
pub mod splice;

pub use headers::{
    forward_headers, inspect, is_spoofable, EventRequest, Forward, Headers, Inspection,
    ROUTE_HEADER,
};

use crate::config::Config;
use crate::identity::source::{IdentityMetadata, IdentitySource};
use crate::k8s::api::{Api, Operation};
use crate::k8s::discovery::DiscoveryDoc;
use crate::k8s::status::{KubeError, Reason, Rejection};

/// The most header pairs the proxy-wasm host accepts in one map: Envoy's host takes a longer
/// map as an empty one, which would send the request on without `:path` (Envoy's bare 404).
pub const MAX_HEADER_PAIRS: usize = 1024;

/// The outgoing header map of an event request would be longer than the host takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityTooLarge {
    pub headers: usize,
    pub groups: usize,
}

impl KubeError for IdentityTooLarge {
    fn rejection(&self) -> Rejection {
        // A server-side limit the client cannot change by asking differently: kube-apiserver
        // words such failures as internal errors.
        Rejection::new(
            Reason::InternalError,
            format!(
                "Internal error occurred: the authenticated identity is too large to forward: with its {} groups the request needs {} headers, more than the {MAX_HEADER_PAIRS} the proxy can pass on",
                self.groups, self.headers
            ),
        )
    }
}

/// What the host does with a request, and what it counts.
#[derive(Debug)]
pub struct Plan {
    /// Set for event requests that passed classification: counted per API and operation.
    pub event: Option<(Api, Operation)>,
    /// The client sent `X-Remote-*` or route-marker headers; they never reach upstream.
    pub spoofed: bool,
    pub action: Action,
}

#[derive(Debug)]
pub enum Action {
    /// Not an event request: forward untouched but for removing these headers.
    PassThrough {
        strip: Vec<Vec<u8>>,
        /// A discovery document whose response is completed with events.k8s.io.
        discovery: Option<DiscoveryDoc>,
    },
    /// Answer with this Status; nothing is forwarded.
    Reject(Rejection),
    /// Replace the header map, then check the body (if any) and rewrite the response.
    /// (Boxed: it is much larger than the other answers.)
    Forward(Box<Forward>),
}

/// Decide a request from its headers. `end_of_stream`: the headers are all there is (a write
/// without a body is refused here, since no body callback will come).
pub fn plan(
    config: &Config,
    headers: &Headers<'_>,
    end_of_stream: bool,
    identity: &mut impl IdentitySource,
) -> Plan {
    let spoofed = headers.iter().any(|(k, _)| is_spoofable(k));
    if headers.is_empty() {
        // What the host hands over for a map it cannot pass (more pairs than it takes): never
        // a request to let through unclassified.
        return Plan {
            event: None,
            spoofed: false,
            action: Action::Reject(Rejection::new(
                Reason::InternalError,
                "Internal error occurred: the request headers could not be read",
            )),
        };
    }
    let request = match inspect(config, headers) {
        Ok(Inspection::PassThrough { strip, discovery }) => {
            return Plan {
                event: None,
                spoofed: !strip.is_empty(),
                action: Action::PassThrough { strip, discovery },
            }
        }
        Ok(Inspection::Event(request)) => request,
        Err(rejection) => {
            return Plan {
                event: None,
                spoofed: false,
                action: Action::Reject(rejection),
            }
        }
    };
    let event = Some((request.route.api, request.route.operation));
    let action = match forward(config, &request, headers, end_of_stream, identity) {
        Ok(f) => Action::Forward(Box::new(f)),
        Err(rejection) => Action::Reject(rejection),
    };
    Plan {
        event,
        spoofed,
        action,
    }
}

fn forward(
    config: &Config,
    request: &EventRequest,
    headers: &Headers<'_>,
    end_of_stream: bool,
    identity: &mut impl IdentitySource,
) -> Result<Forward, Rejection> {
    let metadata = IdentityMetadata::fetch(identity, &config.metadata_namespace, &config.identity)
        .map_err(|e| e.rejection())?;
    let user = metadata.user(&config.identity).map_err(|e| e.rejection())?;
    let forward = forward_headers(config, request, headers, &user)?;
    if forward.headers.len() > MAX_HEADER_PAIRS {
        return Err(IdentityTooLarge {
            headers: forward.headers.len(),
            groups: user.groups.len(),
        }
        .rejection());
    }
    let route = &request.route;
    log::debug!(
        "activity-events: {} {} namespace={} scoped={}",
        route.api.metric_name(),
        route.operation.metric_name(),
        route.namespace.as_deref().unwrap_or("*"),
        forward.scope.is_some()
    );
    if let (Some(job), true) = (&forward.body, end_of_stream) {
        // A write without a body: the body check words the refusal.
        return match job.run(&[]) {
            Err(rejection) => Err(rejection),
            Ok(_) => Err(Rejection::new(Reason::InternalError, "empty body accepted")),
        };
    }
    Ok(forward)
}

#[cfg(test)]
mod tests {
    use super::headers::tests::{hdrs, out_headers};
    use super::*;
    use crate::identity::source::mock::MockHost;
    use crate::identity::source::SourceError;
    use crate::wire::pairs::encode;

    const NS: &str = "envoy.filters.http.ext_authz";

    fn alice() -> MockHost {
        let ns = encode([(&b"user"[..], &b"alice"[..]), (b"uid", b"u1")]);
        MockHost::default().with(NS, Ok(ns))
    }

    fn forwarded(plan: Plan) -> Vec<(String, String)> {
        match plan.action {
            Action::Forward(f) => out_headers(*f),
            other => panic!("not forwarded: {other:?}"),
        }
    }

    fn rejected(plan: &Plan) -> u16 {
        match &plan.action {
            Action::Reject(r) => r.code(),
            other => panic!("not rejected: {other:?}"),
        }
    }

    const GET: [(&str, &str); 3] = [
        (":method", "GET"),
        (":path", "/api/v1/namespaces/default/events"),
        ("X-Remote-User", "mallory"),
    ];

    #[test]
    fn event_get_is_forwarded_with_identity_and_counted_as_spoofed() {
        let h = hdrs(&GET);
        let mut host = alice();
        let plan = plan(&Config::default(), &h, true, &mut host);
        assert_eq!(plan.event, Some((Api::CoreV1, Operation::List)));
        assert!(plan.spoofed);
        let got = forwarded(plan);
        assert!(got.contains(&("x-remote-user".into(), "alice".into())));
        assert!(!got.iter().any(|(_, v)| v == "mallory"));
        assert_eq!(host.asked, [NS]);
    }

    #[test]
    fn pass_through_touches_no_identity() {
        let list = [
            (":method", "GET"),
            (":path", "/api/v1/pods"),
            ("x-remote-group", "x"),
        ];
        let h = hdrs(&list);
        let mut host = alice();
        let plan = plan(&Config::default(), &h, true, &mut host);
        assert_eq!(plan.event, None);
        assert!(plan.spoofed);
        match plan.action {
            Action::PassThrough { strip, .. } => assert_eq!(strip, [b"x-remote-group".to_vec()]),
            other => panic!("{other:?}"),
        }
        assert!(host.asked.is_empty());
        let clean = [(":method", "GET"), (":path", "/api/v1/pods")];
        let h = hdrs(&clean);
        assert!(!plan_of(&h, &mut alice()).spoofed);
    }

    fn plan_of(h: &Headers<'_>, host: &mut MockHost) -> Plan {
        plan(&Config::default(), h, true, host)
    }

    #[test]
    fn refusals_before_the_identity_are_not_counted_as_events() {
        let list = [
            (":method", "GET"),
            (":path", "/api/v1/namespaces/default/events/a/b"),
        ];
        let h = hdrs(&list);
        let mut host = alice();
        let plan = plan_of(&h, &mut host);
        assert_eq!(rejected(&plan), 404);
        assert_eq!(plan.event, None);
        assert!(host.asked.is_empty());
    }

    #[test]
    fn no_identity_is_401_and_still_counted() {
        let h = hdrs(&GET);
        let plan = plan_of(&h, &mut MockHost::default());
        assert_eq!(rejected(&plan), 401);
        assert_eq!(plan.event, Some((Api::CoreV1, Operation::List)));
        assert!(plan.spoofed);
    }

    #[test]
    fn per_field_fallback_when_the_host_cannot_serialize_the_namespace() {
        let h = hdrs(&GET);
        let groups = encode([(&b"dev"[..], &b""[..])]);
        let mut host = MockHost::default()
            .with(NS, Err(SourceError::CannotSerialize))
            .with(&format!("{NS}.user"), Ok(b"bob".to_vec()))
            .with(&format!("{NS}.groups"), Ok(groups));
        let got = forwarded(plan_of(&h, &mut host));
        assert!(got.contains(&("x-remote-user".into(), "bob".into())));
        assert!(got.contains(&("x-remote-group".into(), "dev".into())));
        assert_eq!(host.asked.len(), 6, "{:?}", host.asked);
        // Any other host failure is a 500, never a forward without identity.
        let mut host = MockHost::default()
            .with(NS, Err(SourceError::CannotSerialize))
            .with(&format!("{NS}.user"), Err(SourceError::Host(1)));
        assert_eq!(rejected(&plan_of(&h, &mut host)), 500);
    }

    #[test]
    fn a_write_without_a_body_is_refused_at_the_headers() {
        let list = [
            (":method", "POST"),
            (":path", "/api/v1/namespaces/default/events"),
            ("content-type", "application/json"),
        ];
        let h = hdrs(&list);
        let plan = plan(&Config::default(), &h, true, &mut alice());
        assert_eq!(rejected(&plan), 400);
        assert_eq!(plan.event, Some((Api::CoreV1, Operation::Create)));
        // With a body to come, the body job is handed over.
        let plan = super::plan(&Config::default(), &h, false, &mut alice());
        match plan.action {
            Action::Forward(f) => assert!(f.body.is_some()),
            other => panic!("{other:?}"),
        }
    }

    fn user_with_groups(n: usize) -> MockHost {
        let groups: Vec<Vec<u8>> = (0..n).map(|i| format!("group-{i}").into_bytes()).collect();
        let groups = encode(groups.iter().map(|g| (g.as_slice(), &b""[..])));
        let ns = encode([
            (&b"user"[..], &b"alice"[..]),
            (b"groups", groups.as_slice()),
        ]);
        MockHost::default().with(NS, Ok(ns))
    }

    #[test]
    fn an_identity_over_the_hosts_pair_limit_is_refused_with_a_status() {
        let h = hdrs(&GET);
        // The request's own headers (two, the spoofed one dropped), the route marker, the
        // user and the groups: exactly at the limit still goes.
        let fits = MAX_HEADER_PAIRS - 4;
        let plan = plan_of(&h, &mut user_with_groups(fits));
        let Action::Forward(f) = plan.action else {
            panic!("{:?}", plan.action)
        };
        assert_eq!(f.headers.len(), MAX_HEADER_PAIRS);
        let plan = plan_of(&h, &mut user_with_groups(fits + 1));
        let Action::Reject(r) = &plan.action else {
            panic!("{:?}", plan.action)
        };
        assert_eq!((r.code(), r.reason), (500, Reason::InternalError));
        assert_eq!(
            r.message,
            format!("Internal error occurred: the authenticated identity is too large to forward: with its {} groups the request needs 1025 headers, more than the 1024 the proxy can pass on", fits + 1)
        );
        // Still counted as the event request it is.
        assert_eq!(plan.event, Some((Api::CoreV1, Operation::List)));
    }

    #[test]
    fn an_empty_header_map_is_never_passed_on() {
        let plan = plan_of(&[], &mut alice());
        assert_eq!(rejected(&plan), 500);
    }
}
