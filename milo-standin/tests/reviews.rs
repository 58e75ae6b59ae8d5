//! TokenReview and SubjectAccessReview over real HTTP: answers, who may ask, faults, and what
//! the request log keeps.

mod common;

use std::time::{Duration, Instant};

use common::{json, Plain};
use milo_standin::{FaultAction, FaultSpec, FaultTarget};
use serde_json::{json, Value};

const TR: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const SAR: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

fn token_review(token: &str) -> Value {
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
}

fn parent(kind: &str, name: &str) -> Value {
    let group = if kind == "User" {
        "iam.miloapis.com"
    } else {
        "resourcemanager.miloapis.com"
    };
    json!({
        "iam.miloapis.com/parent-type": [kind],
        "iam.miloapis.com/parent-name": [name],
        "iam.miloapis.com/parent-api-group": [group]
    })
}

fn sar(user: &str, uid: &str, extra: Value, verb: &str, group: &str) -> Value {
    json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "uid": uid,
            "groups": ["system:authenticated"],
            "extra": extra,
            "resourceAttributes": {"verb": verb, "group": group, "version": "v1", "resource": "events", "namespace": "default"}
        }
    })
}

async fn ask(s: &Plain, body: Value) -> Value {
    let (code, v) = json(s.post_json(Some("authz"), SAR, &body).await).await;
    assert_eq!(code, 201, "{v}");
    v["status"].clone()
}

#[tokio::test]
async fn token_review_answers_from_the_token_file() {
    let s = Plain::start().await;
    let (code, v) = json(
        s.post_json(Some("authz"), TR, &token_review(&s.token("alice")))
            .await,
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(v["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(v["kind"], "TokenReview");
    assert_eq!(
        v["status"],
        json!({
            "authenticated": true,
            "user": {
                "username": "alice@acme.example",
                "uid": "uid-alice",
                "groups": ["acme-members", "system:authenticated"]
            }
        })
    );
    let (_, v) = json(
        s.post_json(Some("authz"), TR, &token_review(&s.token("authz")))
            .await,
    )
    .await;
    assert_eq!(
        v["status"]["user"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:milo-system",
            "system:authenticated"
        ])
    );

    let (code, v) = json(
        s.post_json(Some("authz"), TR, &token_review("not-a-token"))
            .await,
    )
    .await;
    assert_eq!(code, 201);
    assert_eq!(
        v["status"],
        json!({"authenticated": false, "error": "invalid bearer token"})
    );

    let (code, v) = json(s.post_json(Some("authz"), TR, &json!({"spec": {}})).await).await;
    assert_eq!(code, 400);
    assert_eq!(
        v["message"],
        "token is required for TokenReview in authentication"
    );
    assert_eq!(v["reason"], "BadRequest");
}

#[tokio::test]
async fn reviews_need_an_authenticated_reviewer() {
    let s = Plain::start().await;
    let body = token_review(&s.token("bob"));
    let (code, v) = json(s.post_json(None, TR, &body).await).await;
    assert_eq!(code, 401);
    assert_eq!(v["message"], "Unauthorized");
    let resp = s
        .http
        .post(s.url(TR))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let (code, v) = json(s.post_json(Some("alice"), TR, &body).await).await;
    assert_eq!(code, 403);
    assert_eq!(
        v,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "tokenreviews.authentication.k8s.io is forbidden: User \"alice@acme.example\" cannot create resource \"tokenreviews\" in API group \"authentication.k8s.io\" at the cluster scope: no policy entry allows User \"alice@acme.example\" to create tokenreviews.authentication.k8s.io at the platform level (no parent context)",
            "reason": "Forbidden",
            "details": {"group": "authentication.k8s.io", "kind": "tokenreviews"},
            "code": 403
        })
    );
    let (code, v) = json(
        s.post_json(Some("eve"), SAR, &sar("x", "", json!({}), "get", ""))
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(v["details"]["kind"], "subjectaccessreviews");
    // Platform admins may review too.
    let (code, _) = json(s.post_json(Some("admin"), TR, &body).await).await;
    assert_eq!(code, 201);

    // Only POST, only JSON.
    let (code, v) = json(s.get(Some("authz"), TR).await).await;
    assert_eq!(code, 405);
    assert_eq!(v["reason"], "MethodNotAllowed");
    let resp = s
        .http
        .post(s.url(TR))
        .bearer_auth(s.token("authz"))
        .header("content-type", "application/yaml")
        .body("spec: {}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

#[tokio::test]
async fn subject_access_reviews_per_context() {
    let s = Plain::start().await;
    let org = parent("Organization", "acme");
    let web = parent("Project", "web-app");
    let mobile = parent("Project", "mobile-app");

    assert_eq!(
        ask(
            &s,
            sar("alice@acme.example", "uid-alice", org.clone(), "create", "")
        )
        .await,
        json!({"allowed": true, "reason": "allowed by organizations[\"acme\"] to User \"alice@acme.example\""})
    );
    assert_eq!(
        ask(
            &s,
            sar(
                "bob@acme.example",
                "uid-bob",
                web.clone(),
                "watch",
                "events.k8s.io"
            )
        )
        .await,
        json!({"allowed": true, "reason": "allowed by projects[\"web-app\"] to User \"bob@acme.example\""})
    );
    assert_eq!(
        ask(
            &s,
            sar("eve@acme.example", "uid-eve", web.clone(), "list", "")
        )
        .await,
        json!({"allowed": false, "reason": "no policy entry allows User \"eve@acme.example\" to list events in Project \"web-app\""})
    );
    assert_eq!(
        ask(&s, sar("eve@acme.example", "uid-eve", mobile, "delete", "")).await["allowed"],
        true
    );
    // Bob is a project member, not an organization member.
    assert_eq!(
        ask(
            &s,
            sar("bob@acme.example", "uid-bob", org.clone(), "get", "")
        )
        .await["allowed"],
        false
    );
    // No parent context: only platform admins.
    assert_eq!(
        ask(
            &s,
            sar("alice@acme.example", "uid-alice", json!({}), "get", "")
        )
        .await,
        json!({"allowed": false, "reason": "no policy entry allows User \"alice@acme.example\" to get events at the platform level (no parent context)"})
    );
    assert_eq!(
        ask(
            &s,
            sar(
                "admin@platform.local",
                "uid-admin",
                json!({}),
                "deletecollection",
                ""
            )
        )
        .await,
        json!({"allowed": true, "reason": "allowed by platformAdmins to User \"admin@platform.local\""})
    );
    assert_eq!(
        ask(&s, sar("admin@platform.local", "uid-admin", web, "get", "")).await["allowed"],
        true
    );
    // A user in its own User control plane, nobody else's.
    let own = parent("User", "uid-bob");
    assert_eq!(
        ask(
            &s,
            sar("bob@acme.example", "uid-bob", own.clone(), "create", "")
        )
        .await,
        json!({"allowed": true, "reason": "allowed by userControlPlanes to User \"bob@acme.example\" in its own User control plane"})
    );
    assert_eq!(
        ask(&s, sar("eve@acme.example", "uid-eve", own, "get", "")).await["allowed"],
        false
    );
    // A forged parent API group is not a parent context.
    let mut forged = org.clone();
    forged["iam.miloapis.com/parent-api-group"] = json!(["iam.miloapis.com"]);
    let st = ask(
        &s,
        sar("alice@acme.example", "uid-alice", forged, "get", ""),
    )
    .await;
    assert_eq!(st["allowed"], false);
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("malformed parent context"),
        "{st}"
    );
    // Other resources are not granted to members.
    let mut secrets = sar("alice@acme.example", "uid-alice", org, "get", "");
    secrets["spec"]["resourceAttributes"]["resource"] = json!("secrets");
    assert_eq!(ask(&s, secrets).await["allowed"], false);
}

#[tokio::test]
async fn subject_access_review_validation_is_kube_apiserver_s() {
    let s = Plain::start().await;
    let (code, v) = json(
        s.post_json(
            Some("authz"),
            SAR,
            &json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "events"}}}),
        )
        .await,
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        v,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "SubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.user: Invalid value: \"\": at least one of user or group must be specified",
            "reason": "Invalid",
            "details": {
                "group": "authorization.k8s.io", "kind": "SubjectAccessReview",
                "causes": [{"reason": "FieldValueInvalid", "message": "Invalid value: \"\": at least one of user or group must be specified", "field": "spec.user"}]
            },
            "code": 422
        })
    );
    let (code, v) = json(
        s.post_json(Some("authz"), SAR, &json!({"kind": "TokenReview"}))
            .await,
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        v["message"].as_str().unwrap().starts_with(
            "the object provided is unrecognized (must be of type SubjectAccessReview)"
        ),
        "{v}"
    );
}

#[tokio::test]
async fn request_log_keeps_kind_spec_and_answer() {
    let s = Plain::start().await;
    let body = sar(
        "alice@acme.example",
        "uid-alice",
        parent("Organization", "acme"),
        "get",
        "",
    );
    ask(&s, body.clone()).await;
    let r = s.last();
    assert_eq!(r.class, "subjectAccessReview");
    assert_eq!(
        r.user.as_deref(),
        Some("system:serviceaccount:milo-system:activity-events-authz")
    );
    assert_eq!(r.authenticated_by.as_deref(), Some("token"));
    assert_eq!(r.status, Some(201));
    let review = r.review.unwrap();
    assert_eq!(review.kind, "SubjectAccessReview");
    assert_eq!(review.spec, body["spec"]);
    assert_eq!(review.status.unwrap()["allowed"], true);

    // Through the admin port too.
    let admin: Value = s
        .http
        .get(format!(
            "{}/requests?class=subjectAccessReview",
            s.handle.admin_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(admin.as_array().unwrap().len(), 1);
    assert_eq!(admin[0]["review"]["spec"]["user"], "alice@acme.example");
    assert_eq!(
        admin[0]["review"]["status"]["reason"],
        "allowed by organizations[\"acme\"] to User \"alice@acme.example\""
    );
    assert_eq!(s.handle.reviews().len(), 1);
}

#[tokio::test]
async fn faults_make_reviews_fail_or_hang_until_cleared() {
    let s = Plain::start().await;
    let admin = s.handle.admin_url();
    let tr = token_review(&s.token("bob"));

    // 500 on every review until cleared.
    let resp = s
        .http
        .post(format!("{admin}/faults"))
        .json(&json!({"action": "status", "status": 500}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    for body in [&tr, &sar("x", "", json!({}), "get", "")] {
        let path = if body["kind"] == "TokenReview" {
            TR
        } else {
            SAR
        };
        let (code, v) = json(s.post_json(Some("authz"), path, body).await).await;
        assert_eq!(code, 500);
        assert_eq!(
            v,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "injected fault: InternalError", "reason": "InternalError", "code": 500})
        );
    }
    let last = s.last();
    assert_eq!(last.fault.as_deref(), Some("status"));
    assert_eq!(last.status, Some(500));
    assert_eq!(last.review.unwrap().status, None);
    let cleared = s
        .http
        .delete(format!("{admin}/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(json(s.post_json(Some("authz"), TR, &tr).await).await.0, 201);

    // Hang: the answer comes after the delay, and the client can give up first.
    s.handle
        .push_fault(FaultSpec {
            action: FaultAction::Hang { seconds: 1.0 },
            target: FaultTarget::TokenReviews,
            count: Some(2),
        })
        .unwrap();
    let t = Instant::now();
    let (code, v) = json(s.post_json(Some("authz"), TR, &tr).await).await;
    assert_eq!(code, 201);
    assert_eq!(v["status"]["authenticated"], true);
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    let quick = s
        .http
        .post(s.url(TR))
        .bearer_auth(s.token("authz"))
        .json(&tr)
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(quick.unwrap_err().is_timeout());
    // SubjectAccessReviews were not targeted; the count is used up now.
    let t = Instant::now();
    assert_eq!(
        json(
            s.post_json(Some("authz"), SAR, &sar("x", "", json!({}), "get", ""))
                .await
        )
        .await
        .0,
        201
    );
    assert_eq!(json(s.post_json(Some("authz"), TR, &tr).await).await.0, 201);
    assert!(t.elapsed() < Duration::from_millis(900));
    let faults: Value = s
        .http
        .get(format!("{admin}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults, json!([]));

    // Bad fault specs are refused.
    let resp = s
        .http
        .post(format!("{admin}/faults"))
        .json(&json!({"action": "status", "status": 404}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
