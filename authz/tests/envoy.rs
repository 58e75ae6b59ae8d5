//! End-to-end through a real Envoy: ext_authz → activity-events-authz → Milo double, then the
//! built events filter, then recording upstreams for Activity and the Milo API server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use activity_e2e::recorder::Recorded;
use serde_json::{json, Value};
use support::milo::Mode;
use support::{user, Stack};

const ACTIVITY: &str = "/apis/activity.miloapis.com/v1alpha1";
const ORG: &str = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane";
const PROJECT: &str = "/projects/web-app/control-plane";
const USER: &str = "/apis/iam.miloapis.com/v1alpha1/users/alice/control-plane";

fn extra<'a>(r: &'a Recorded, key: &str) -> Vec<&'a str> {
    r.headers_named(&format!("x-remote-extra-iam.miloapis.com%2f{key}"))
}

fn only(records: Vec<Recorded>) -> Recorded {
    assert_eq!(records.len(), 1, "{records:#?}");
    records.into_iter().next().unwrap()
}

/// What the Milo double was asked to authorize, minus the user.
fn attributes(spec: &Value) -> Value {
    spec["resourceAttributes"].clone()
}

fn core_event(name: &str) -> Value {
    json!({"apiVersion":"v1","kind":"Event",
           "metadata":{"name": name,"namespace":"default",
                       "annotations":{"platform.miloapis.com/scope.name":"forged"}},
           "involvedObject":{"apiVersion":"v1","kind":"Pod","name":"p","namespace":"default"},
           "reason":"Testing","message":"m","type":"Normal"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_requests_reach_activity_with_the_identity_the_filter_builds() {
    let s = Stack::start("authz-allowed", &[]).await;
    s.milo.add_user(
        "alice-token",
        user(
            "alice@acme.example",
            &["system:authenticated", "acme-devs"],
            // The token's own parent extras; a URL prefix overrides them, as in Milo.
            json!({"authentication.kubernetes.io/credential-id": ["JTI=1"]}),
        ),
    );
    s.milo
        .set_policy(|spec| (spec["user"] == "alice@acme.example", String::new()));

    // Root control plane; a client trying to choose its identity.
    let r = s
        .send(
            "routes",
            "GET",
            "/api/v1/namespaces/default/events?limit=10",
            Some("alice-token"),
            &[
                ("x-remote-user", "system:admin"),
                ("x-remote-group", "system:masters"),
                ("x-remote-extra-iam.miloapis.com%2fparent-name", "evil"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let got = only(s.take_activity());
    assert_eq!(
        got.path,
        format!("{ACTIVITY}/namespaces/default/events?limit=10")
    );
    assert_eq!(got.headers_named("x-remote-user"), ["alice@acme.example"]);
    assert_eq!(
        got.headers_named("x-remote-uid"),
        ["alice@acme.example-uid"]
    );
    assert_eq!(
        got.headers_named("x-remote-group"),
        ["system:authenticated", "acme-devs"]
    );
    let remote_extras: Vec<_> = got
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-remote-extra-"))
        .collect();
    assert!(remote_extras.is_empty(), "{remote_extras:?}");
    assert_eq!(
        got.header("authorization"),
        None,
        "the token must not reach Activity"
    );
    let specs = s.milo.access_reviews();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0]["user"], "alice@acme.example");
    assert_eq!(specs[0]["uid"], "alice@acme.example-uid");
    assert_eq!(
        specs[0]["groups"],
        json!(["system:authenticated", "acme-devs"])
    );
    assert_eq!(
        specs[0]["extra"],
        json!({"authentication.kubernetes.io/credential-id": ["JTI=1"]})
    );
    assert_eq!(
        attributes(&specs[0]),
        json!({"group":"","version":"v1","resource":"events","verb":"list","namespace":"default"})
    );

    // Organization control plane, events.k8s.io/v1, one object.
    let r = s
        .get(
            "routes",
            &format!("{ORG}/apis/events.k8s.io/v1/namespaces/default/events/e1"),
            Some("alice-token"),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let got = only(s.take_activity());
    assert_eq!(got.path, format!("{ACTIVITY}/namespaces/default/events/e1"));
    assert_eq!(extra(&got, "parent-type"), ["Organization"]);
    assert_eq!(extra(&got, "parent-name"), ["acme"]);
    assert_eq!(
        extra(&got, "parent-api-group"),
        ["resourcemanager.miloapis.com"]
    );
    let spec = s.milo.access_reviews().pop().unwrap();
    assert_eq!(
        spec["extra"]["iam.miloapis.com/parent-name"],
        json!(["acme"])
    );
    assert_eq!(
        spec["extra"]["authentication.kubernetes.io/credential-id"],
        json!(["JTI=1"])
    );
    assert_eq!(
        attributes(&spec),
        json!({"group":"events.k8s.io","version":"v1","resource":"events","verb":"get",
               "namespace":"default","name":"e1"})
    );

    // Project control plane (the short form): a create is scoped to the project.
    let r = s
        .send(
            "routes",
            "POST",
            &format!("{PROJECT}/api/v1/namespaces/default/events"),
            Some("alice-token"),
            &[],
            Some(core_event("e2")),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let got = only(s.take_activity());
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, format!("{ACTIVITY}/namespaces/default/events"));
    assert_eq!(extra(&got, "parent-type"), ["Project"]);
    assert_eq!(extra(&got, "parent-name"), ["web-app"]);
    let annotations = &got.json()["metadata"]["annotations"];
    assert_eq!(annotations["platform.miloapis.com/scope.type"], "Project");
    assert_eq!(annotations["platform.miloapis.com/scope.name"], "web-app");
    let spec = s.milo.access_reviews().pop().unwrap();
    assert_eq!(
        spec["extra"]["iam.miloapis.com/parent-type"],
        json!(["Project"])
    );
    assert_eq!(attributes(&spec)["verb"], "create");
    assert_eq!(attributes(&spec).get("name"), None);

    // User control plane, all namespaces.
    let r = s
        .get(
            "routes",
            &format!("{USER}/api/v1/events"),
            Some("alice-token"),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let got = only(s.take_activity());
    assert_eq!(got.path, format!("{ACTIVITY}/events"));
    assert_eq!(extra(&got, "parent-type"), ["User"]);
    assert_eq!(extra(&got, "parent-name"), ["alice"]);
    assert_eq!(extra(&got, "parent-api-group"), ["iam.miloapis.com"]);
    let spec = s.milo.access_reviews().pop().unwrap();
    assert_eq!(attributes(&spec).get("namespace"), None);

    // Every request so far: one token review for the one token.
    assert_eq!(s.milo.token_reviews_of("alice-token"), 1);
    let access_before = s.milo.access_reviews().len();
    assert_eq!(access_before, 4);
    // The same requests again are answered from the caches.
    for path in [
        "/api/v1/namespaces/default/events?limit=10".to_owned(),
        format!("{USER}/api/v1/events"),
    ] {
        let r = s.get("everywhere", &path, Some("alice-token")).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(s.take_activity().len(), 2);
    assert_eq!(s.milo.token_reviews_of("alice-token"), 1);
    assert_eq!(s.milo.access_reviews().len(), access_before);
    assert_eq!(
        s.authz
            .metric("activity_events_authz_cache_hits_total{cache=\"access\"}"),
        2.0
    );
    assert_eq!(
        s.authz
            .metric("activity_events_authz_tokenreviews_sent_total"),
        1.0
    );
    assert_eq!(
        s.authz
            .metric("activity_events_authz_accessreviews_sent_total"),
        4.0
    );
    assert!(
        s.take_milo_api().is_empty(),
        "event requests must not reach Milo"
    );
    // The token never shows up in the authorizer's log.
    assert!(!s.authz.log().contains("alice-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_get_kube_apiserver_statuses_and_nothing_is_forwarded() {
    let s = Stack::start("authz-refused", &[]).await;
    s.milo.add_user(
        "bob-token",
        user("bob", &["system:authenticated"], json!({})),
    );
    s.milo.set_policy(|spec| {
        let reason = if spec["resourceAttributes"]["name"] == "e1" {
            "RBAC: no role grants get on events"
        } else {
            ""
        };
        (false, reason.to_owned())
    });

    let r = s
        .get(
            "routes",
            "/api/v1/namespaces/default/events",
            Some("bob-token"),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.json(),
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message":"events is forbidden: User \"bob\" cannot list resource \"events\" in API group \"\" in the namespace \"default\"",
               "reason":"Forbidden","details":{"kind":"events"},"code":403})
    );
    let r = s
        .get(
            "routes",
            "/apis/events.k8s.io/v1/namespaces/default/events/e1",
            Some("bob-token"),
        )
        .await;
    assert_eq!(r.status, 403);
    let v = r.json();
    assert_eq!(
        v["message"],
        "events.events.k8s.io \"e1\" is forbidden: User \"bob\" cannot get resource \"events\" in API group \"events.k8s.io\" in the namespace \"default\": RBAC: no role grants get on events"
    );
    assert_eq!(
        v["details"],
        json!({"name":"e1","group":"events.k8s.io","kind":"events"})
    );
    // Denials are cached too (30s).
    let r = s
        .get(
            "routes",
            "/api/v1/namespaces/default/events",
            Some("bob-token"),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(s.milo.access_reviews_of("bob").len(), 2);
    assert_eq!(s.milo.token_reviews_of("bob-token"), 1);

    // No token, or one Milo does not know: kube-apiserver's 401.
    let unauthorized = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
    let r = s
        .send(
            "routes",
            "GET",
            "/api/v1/namespaces/default/events",
            None,
            &[("x-remote-user", "system:admin")],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(String::from_utf8_lossy(&r.body), unauthorized);
    for _ in 0..2 {
        let r = s
            .get(
                "routes",
                "/api/v1/namespaces/default/events",
                Some("stolen"),
            )
            .await;
        assert_eq!(r.status, 401);
        assert_eq!(String::from_utf8_lossy(&r.body), unauthorized);
    }
    assert_eq!(
        s.milo.token_reviews_of("stolen"),
        1,
        "negative answers are cached"
    );

    // Paths the filter refuses get its refusal, before any review.
    let reviews = (s.milo.token_reviews().len(), s.milo.access_reviews().len());
    let r = s
        .get(
            "routes",
            "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/Not_Valid!/control-plane/api/v1/events",
            Some("new-token"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["message"],
        "invalid organization ID \"Not_Valid!\""
    );
    let r = s
        .get(
            "routes",
            "/api/v1/namespaces/default/events/e1/status",
            Some("new-token"),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["reason"], "NotFound");
    let r = s
        .send(
            "routes",
            "DELETE",
            "/api/v1/namespaces/default/events",
            Some("new-token"),
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, 405);
    assert_eq!(
        (s.milo.token_reviews().len(), s.milo.access_reviews().len()),
        reviews
    );

    assert!(
        s.take_activity().is_empty(),
        "nothing refused may reach Activity"
    );
    assert!(s.take_milo_api().is_empty());
    assert_eq!(
        s.authz
            .metric("activity_events_authz_denials_total{reason=\"Forbidden\"}"),
        3.0
    );
    assert_eq!(
        s.authz
            .metric("activity_events_authz_denials_total{reason=\"Unauthorized\"}"),
        3.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milo_failures_fail_closed_with_a_status() {
    let mut s = Stack::start("authz-failures", &[]).await;
    for t in ["t1", "t2", "t3"] {
        s.milo.add_user(
            t,
            user(&format!("user-{t}"), &["system:authenticated"], json!({})),
        );
    }
    s.milo.set_policy(|_| (true, String::new()));
    let path = "/api/v1/namespaces/default/events";

    // Milo answers 500: 503 Status, retryable, nothing forwarded, nothing cached.
    s.milo.set_mode(Mode::Fail(500));
    let r = s.get("routes", path, Some("t1")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    let v = r.json();
    assert_eq!(v["reason"], "ServiceUnavailable");
    assert_eq!(
        v["message"],
        "the request could not be authenticated: Milo is unavailable (status)"
    );
    s.milo.set_mode(Mode::Normal);
    let r = s.get("routes", path, Some("t1")).await;
    assert_eq!(r.status, 200, "errors must not be cached");
    assert_eq!(s.take_activity().len(), 1);

    // Milo hangs: the authorizer gives up after --milo-timeout (1s), before Envoy's 3s.
    s.milo.set_mode(Mode::Hang);
    let started = Instant::now();
    let r = s.get("routes", path, Some("t2")).await;
    let took = started.elapsed();
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json()["message"],
        "the request could not be authenticated: Milo is unavailable (timeout)"
    );
    assert!(took < Duration::from_millis(2900), "took {took:?}");
    // The token review is cached; a hanging access review fails the same way.
    s.milo.set_mode(Mode::Normal);
    assert_eq!(s.get("routes", path, Some("t2")).await.status, 200);
    s.milo.set_mode(Mode::Hang);
    let r = s
        .get("routes", "/api/v1/namespaces/other/events", Some("t2"))
        .await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json()["message"],
        "the request could not be authorized: Milo is unavailable (timeout)"
    );
    assert_eq!(s.take_activity().len(), 1);

    // Milo is down.
    s.milo.stop();
    let r = s.get("routes", path, Some("t3")).await;
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json()["message"],
        "the request could not be authenticated: Milo is unavailable (unreachable)"
    );
    assert!(s.take_activity().is_empty());
    assert!(s.authz.metric(
        "activity_events_authz_review_errors_total{kind=\"unreachable\",review=\"tokenreview\"}"
    ) >= 1.0);

    // The authorizer itself is down: Envoy fails closed, and its reply is a Status as well.
    s.authz.kill();
    let r = s.get("routes", path, Some("t1")).await;
    assert_eq!(r.status, 503);
    let v = r.json();
    assert_eq!(v["kind"], "Status");
    assert_eq!(
        v["message"],
        "the request could not be authorized: the authorizer is unavailable (ext_authz_error)"
    );
    let r = s
        .get("everywhere", "/api/v1/namespaces/default/pods", Some("t1"))
        .await;
    assert_eq!(r.status, 503, "where every request is checked, none passes");
    assert!(s.take_activity().is_empty());
    assert!(s.take_milo_api().is_empty());
    // Where ext_authz is off for Milo's own paths, Milo keeps serving them.
    let r = s
        .get("routes", "/api/v1/namespaces/default/pods", Some("t1"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.take_milo_api().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_event_requests_pay_no_review() {
    let s = Stack::start("authz-non-events", &[]).await;
    let checks = |decision: &str| {
        s.authz.metric(&format!(
            "activity_events_authz_checks_total{{decision=\"{decision}\"}}"
        ))
    };
    // Route-level: ext_authz is disabled on the route, the authorizer never hears of it.
    let r = s
        .send(
            "routes",
            "GET",
            "/api/v1/namespaces/default/pods",
            Some("milo-token"),
            &[("x-remote-user", "system:admin")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let got = only(s.take_milo_api());
    assert_eq!(got.path, "/api/v1/namespaces/default/pods");
    assert_eq!(got.header("authorization"), Some("Bearer milo-token"));
    assert_eq!(
        got.header("x-remote-user"),
        None,
        "the filter strips it everywhere"
    );
    assert_eq!(checks("not_event"), 0.0);
    // A path that mentions events but is not an Event path is checked and let through at once.
    let r = s
        .get(
            "routes",
            "/apis/sources.example.com/v1/namespaces/default/eventsources",
            Some("milo-token"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        only(s.take_milo_api()).path,
        "/apis/sources.example.com/v1/namespaces/default/eventsources"
    );
    assert_eq!(checks("not_event"), 1.0);

    // Immediate allow: ext_authz runs for every request, the authorizer answers without reviews.
    for path in ["/api/v1/namespaces/default/pods", "/apis", "/version"] {
        let r = s.get("everywhere", path, Some("milo-token")).await;
        assert_eq!(r.status, 200, "{path}");
        let got = only(s.take_milo_api());
        assert_eq!(got.header("authorization"), Some("Bearer milo-token"));
    }
    assert_eq!(checks("not_event"), 4.0);
    assert!(s.milo.token_reviews().is_empty());
    assert!(s.milo.access_reviews().is_empty());
    assert!(s.take_activity().is_empty());
}

/// Without the authorizer, an identity from elsewhere that names another control plane than
/// the URL is still refused by the filter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_filter_still_refuses_a_foreign_control_plane_without_the_authorizer() {
    let s = Stack::start("authz-bypass", &[]).await;
    let r = s
        .get(
            "bypass",
            &format!("{PROJECT}/api/v1/namespaces/default/events"),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("addresses the control plane of Project \"web-app\""),
        "{}",
        r.json()
    );
    assert!(s.take_activity().is_empty());
    // Its own organization's control plane is fine.
    let r = s
        .get(
            "bypass",
            &format!("{ORG}/api/v1/namespaces/default/events"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        only(s.take_activity()).headers_named("x-remote-user"),
        ["mallory@acme.example"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_requests_in_flight_share_one_review_of_each_kind() {
    let s = Stack::start("authz-coalesce", &[]).await;
    s.milo.add_user(
        "carol-token",
        user("carol", &["system:authenticated"], json!({})),
    );
    s.milo.set_policy(|_| (true, String::new()));
    // Milo is slow, so all requests are in flight together.
    s.milo.set_mode(Mode::Delay(400));
    let path = "/apis/events.k8s.io/v1/namespaces/default/events";
    let replies =
        futures::future::join_all((0..8).map(|_| s.get("everywhere", path, Some("carol-token"))))
            .await;
    for r in &replies {
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(s.take_activity().len(), 8);
    assert_eq!(s.milo.token_reviews_of("carol-token"), 1);
    assert_eq!(s.milo.access_reviews_of("carol").len(), 1);
    assert_eq!(
        s.authz
            .metric("activity_events_authz_cache_hits_total{cache=\"token\"}"),
        7.0
    );
}
