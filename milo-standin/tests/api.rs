//! The ordinary API over real HTTP: authentication, discovery at the root and under every
//! control-plane prefix, OpenAPI, invalid prefixes, namespaces, Event paths and health.

mod common;

use common::{content_type, json, Plain, ORG, PROJECT, PROJECT_SHORT, USER};
use serde_json::{json, Value};

const PREFIXES: [&str; 5] = ["", ORG, PROJECT, PROJECT_SHORT, USER];
const AGG_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGG_V2BETA1: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

fn names(list: &Value, field: &str, key: &str) -> Vec<String> {
    list[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[key].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn unauthenticated_is_kube_apiserver_s_401() {
    let s = Plain::start().await;
    for path in [
        "/api",
        "/version",
        &format!("{ORG}/api/v1"),
        "/api/v1/namespaces/default",
    ] {
        let resp = s.get(None, path).await;
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(content_type(&resp), "application/json");
        assert_eq!(
            resp.text().await.unwrap(),
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}\n"
        );
    }
    let resp = s
        .http
        .get(s.url("/api"))
        .bearer_auth("unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(s.last().user, None);
}

#[tokio::test]
async fn health_needs_no_credentials_but_a_bad_token_is_refused() {
    let s = Plain::start().await;
    for path in [
        "/livez",
        "/readyz",
        "/healthz",
        "/readyz/ping",
        &format!("{ORG}/healthz"),
    ] {
        let resp = s.get(None, path).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(content_type(&resp), "text/plain; charset=utf-8");
        assert_eq!(resp.text().await.unwrap(), "ok");
    }
    assert_eq!(s.get(Some("eve"), "/readyz").await.status(), 200);
    let resp = s
        .http
        .get(s.url("/livez"))
        .bearer_auth("unknown")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(s.last().class, "health");
}

#[tokio::test]
async fn legacy_discovery_at_the_root_and_under_every_prefix() {
    let s = Plain::start().await;
    for p in PREFIXES {
        let (code, v) = json(s.get(Some("eve"), &format!("{p}/api")).await).await;
        assert_eq!(code, 200, "{p}");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "APIVersions", "serverAddressByClientCIDRs": [], "versions": ["v1"]})
        );

        let (_, v) = json(s.get(Some("eve"), &format!("{p}/api/v1")).await).await;
        assert_eq!(v["groupVersion"], "v1");
        assert_eq!(names(&v, "resources", "name"), ["events", "namespaces"]);
        assert_eq!(v["resources"][0]["kind"], "Event");
        assert_eq!(v["resources"][0]["namespaced"], true);
        assert_eq!(v["resources"][1]["shortNames"], json!(["ns"]));

        let (_, v) = json(s.get(Some("eve"), &format!("{p}/apis")).await).await;
        assert_eq!(v["kind"], "APIGroupList");
        assert_eq!(
            names(&v, "groups", "name"),
            [
                "authentication.k8s.io",
                "authorization.k8s.io",
                "resourcemanager.miloapis.com",
                "iam.miloapis.com"
            ]
        );

        let (_, v) = json(
            s.get(Some("eve"), &format!("{p}/apis/iam.miloapis.com/v1alpha1"))
                .await,
        )
        .await;
        assert_eq!(v["groupVersion"], "iam.miloapis.com/v1alpha1");
        assert_eq!(
            names(&v, "resources", "name"),
            [
                "groups",
                "groups/status",
                "policybindings",
                "policybindings/status",
                "roles",
                "roles/status",
                "users",
                "users/status"
            ]
        );
        let (_, v) = json(
            s.get(
                Some("eve"),
                &format!("{p}/apis/resourcemanager.miloapis.com"),
            )
            .await,
        )
        .await;
        assert_eq!(
            v["preferredVersion"]["groupVersion"],
            "resourcemanager.miloapis.com/v1alpha1"
        );

        let (code, v) = json(s.get(Some("eve"), &format!("{p}/version")).await).await;
        assert_eq!(code, 200);
        assert_eq!(
            (v["major"].as_str(), v["minor"].as_str()),
            (Some("1"), Some("32"))
        );
        assert_eq!(v["gitVersion"], "v1.32.0-milo-standin");

        // The sidecar serves events.k8s.io; Milo does not.
        let (code, v) = json(
            s.get(Some("eve"), &format!("{p}/apis/events.k8s.io/v1"))
                .await,
        )
        .await;
        assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")));
        let (code, _) = json(
            s.get(Some("eve"), &format!("{p}/apis/example.com/v1"))
                .await,
        )
        .await;
        assert_eq!(code, 404);
    }
    let r = s.last();
    assert_eq!(r.class, "discovery");
    let parents: Vec<Option<(String, String)>> = s
        .handle
        .requests()
        .iter()
        .filter(|r| r.served_path.as_deref() == Some("/api"))
        .map(|r| {
            r.parent
                .as_ref()
                .map(|p| (format!("{:?}", p.kind), p.name.clone()))
        })
        .collect();
    assert_eq!(
        parents,
        [
            None,
            Some(("Organization".into(), "acme".into())),
            Some(("Project".into(), "web-app".into())),
            Some(("Project".into(), "web-app".into())),
            Some(("User".into(), "uid-bob".into())),
        ]
    );
}

#[tokio::test]
async fn aggregated_discovery_v2_and_v2beta1() {
    let s = Plain::start().await;
    let kubectl = format!("{AGG_V2},{AGG_V2BETA1},application/json");
    for p in [String::new(), ORG.to_string(), PROJECT_SHORT.to_string()] {
        let resp = s
            .get_accept(Some("alice"), &format!("{p}/api"), Some(&kubectl))
            .await;
        assert_eq!(content_type(&resp), AGG_V2);
        assert_eq!(resp.headers()["vary"], "Accept");
        let (_, v) = json(resp).await;
        assert_eq!(v["apiVersion"], "apidiscovery.k8s.io/v2");
        assert_eq!(v["kind"], "APIGroupDiscoveryList");
        let core = &v["items"][0];
        assert_eq!(core["metadata"], json!({"creationTimestamp": null}));
        assert_eq!(core["versions"][0]["version"], "v1");
        let res = &core["versions"][0]["resources"];
        assert_eq!(res[0]["resource"], "events");
        assert_eq!(
            res[0]["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Event"})
        );
        assert_eq!(res[1]["resource"], "namespaces");
        assert_eq!(res[1]["scope"], "Cluster");

        let resp = s
            .get_accept(
                Some("alice"),
                &format!("{p}/apis"),
                Some(&format!("{AGG_V2BETA1},application/json")),
            )
            .await;
        assert_eq!(content_type(&resp), AGG_V2BETA1);
        let (_, v) = json(resp).await;
        assert_eq!(v["apiVersion"], "apidiscovery.k8s.io/v2beta1");
        let groups: Vec<&str> = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            groups,
            [
                "authentication.k8s.io",
                "authorization.k8s.io",
                "resourcemanager.miloapis.com",
                "iam.miloapis.com"
            ]
        );
        assert!(!v.to_string().contains("events.k8s.io"));
    }
    // Plain JSON clients get the legacy documents with the plain type.
    let resp = s
        .get_accept(Some("alice"), "/apis", Some("application/json, */*"))
        .await;
    assert_eq!(content_type(&resp), "application/json");
    let resp = s
        .get_accept(
            Some("alice"),
            "/apis",
            Some("application/vnd.kubernetes.protobuf"),
        )
        .await;
    assert_eq!(resp.status(), 406);
}

#[tokio::test]
async fn openapi_v3_index_and_documents() {
    let s = Plain::start().await;
    let (code, index) = json(s.get(Some("bob"), &format!("{PROJECT}/openapi/v3")).await).await;
    assert_eq!(code, 200);
    let keys: Vec<&String> = index["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "api/v1",
            "apis/iam.miloapis.com/v1alpha1",
            "apis/resourcemanager.miloapis.com/v1alpha1"
        ]
    );
    let url = index["paths"]["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap();
    let hash = url.split("hash=").nth(1).unwrap();
    assert_eq!(hash.len(), 128);

    let resp = s.get(Some("bob"), &format!("{PROJECT}{url}")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, immutable");
    assert_eq!(resp.headers()["etag"], format!("\"{hash}\""));
    let body = resp.bytes().await.unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA512, &body);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(hex, hash);
    let doc: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.0.0");
    assert!(doc["paths"]["/api/v1/namespaces/{namespace}/events"]["post"].is_object());

    // A stale hash is redirected to the current one; no hash is not cacheable.
    let resp = s.get(Some("bob"), "/openapi/v3/api/v1?hash=ABC").await;
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        format!("/openapi/v3/api/v1?hash={hash}")
    );
    let resp = s.get(Some("bob"), "/openapi/v3/api/v1").await;
    assert_eq!(resp.headers()["cache-control"], "no-cache, private");
    assert_eq!(
        s.get(Some("bob"), "/openapi/v3/apis/events.k8s.io/v1")
            .await
            .status(),
        404
    );
    // kubectl >= 1.29 does not need /openapi/v2, and Milo's stand-in does not pretend.
    assert_eq!(s.get(Some("bob"), "/openapi/v2").await.status(), 404);
}

#[tokio::test]
async fn invalid_control_plane_ids_are_refused_before_authentication() {
    let s = Plain::start().await;
    let orgs = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations";
    // kubectl's first discovery request: plain text 403, so kubectl prints it.
    let resp = s
        .get(None, &format!("{orgs}/Bad_Org!/control-plane/api"))
        .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(content_type(&resp), "text/plain");
    assert_eq!(
        resp.text().await.unwrap(),
        "invalid organization ID \"Bad_Org!\""
    );
    // Anything else: a 400 Status.
    let (code, v) = json(
        s.get(None, &format!("{orgs}/a%40b/control-plane/api/v1"))
            .await,
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(
        v,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "invalid organization ID \"a@b\"", "reason": "BadRequest", "code": 400})
    );
    let (code, v) = json(s.get(Some("alice"), &format!("{orgs}/")).await).await;
    assert_eq!(
        (code, v["message"].as_str()),
        (400, Some("invalid organization ID \"\""))
    );
    let (code, v) = json(
        s.get(
            None,
            "/apis/iam.miloapis.com/v1alpha1/users/alice@acme.example/control-plane/api/v1",
        )
        .await,
    )
    .await;
    assert_eq!(
        (code, v["message"].as_str()),
        (400, Some("invalid user ID \"alice@acme.example\""))
    );
    let r = s.last();
    assert_eq!(r.class, "invalid");
    assert_eq!(r.parent, None);
    // A bad percent escape is refused by the HTTP layer, as Go's server does.
    let resp = s.get(Some("alice"), "/api/v1/namespaces/%zz").await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.text().await.unwrap(), "400 Bad Request");
}

#[tokio::test]
async fn namespaces_exist_for_any_dns_label() {
    let s = Plain::start().await;
    let (code, v) = json(
        s.get(Some("alice"), &format!("{ORG}/api/v1/namespaces/default"))
            .await,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["apiVersion"], "v1");
    assert_eq!(v["kind"], "Namespace");
    assert_eq!(v["metadata"]["name"], "default");
    assert_eq!(v["status"], json!({"phase": "Active"}));
    let (code, v) = json(
        s.get(Some("bob"), &format!("{PROJECT}/api/v1/namespaces/team-b"))
            .await,
    )
    .await;
    assert_eq!(
        (code, v["metadata"]["name"].as_str()),
        (200, Some("team-b"))
    );
    let (code, v) = json(s.get(Some("admin"), "/api/v1/namespaces/Not_A_Label").await).await;
    assert_eq!(code, 404);
    assert_eq!(
        v,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "namespaces \"Not_A_Label\" not found", "reason": "NotFound", "details": {"name": "Not_A_Label", "kind": "namespaces"}, "code": 404})
    );

    let (code, v) = json(s.get(Some("admin"), "/api/v1/namespaces").await).await;
    assert_eq!(code, 200);
    assert_eq!(v["kind"], "NamespaceList");
    let listed: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let (_, v) = json(
        s.get(
            Some("admin"),
            "/api/v1/namespaces?fieldSelector=metadata.name%3Dkube-system",
        )
        .await,
    )
    .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);

    // kubectl get asks for a Table.
    let table_accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let resp = s
        .get_accept(
            Some("alice"),
            &format!("{ORG}/api/v1/namespaces/default"),
            Some(table_accept),
        )
        .await;
    assert_eq!(
        content_type(&resp),
        "application/json;as=Table;v=v1;g=meta.k8s.io"
    );
    let (_, t) = json(resp).await;
    assert_eq!(t["kind"], "Table");
    assert_eq!(
        names(&t, "columnDefinitions", "name"),
        ["Name", "Status", "Age"]
    );
    assert_eq!(t["rows"][0]["cells"][0], "default");
    assert_eq!(t["rows"][0]["cells"][1], "Active");

    // Authorized like the rest: members of the context, platform admins anywhere.
    let (code, v) = json(
        s.get(Some("eve"), &format!("{PROJECT}/api/v1/namespaces/default"))
            .await,
    )
    .await;
    assert_eq!(code, 403);
    assert_eq!(
        v["message"],
        "namespaces \"default\" is forbidden: User \"eve@acme.example\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"default\": no policy entry allows User \"eve@acme.example\" to get namespaces in Project \"web-app\""
    );
    assert_eq!(
        v["details"],
        json!({"name": "default", "kind": "namespaces"})
    );
    let (code, _) = json(s.get(Some("alice"), "/api/v1/namespaces").await).await;
    assert_eq!(code, 403);
    let resp = s
        .http
        .delete(s.url("/api/v1/namespaces/default"))
        .bearer_auth(s.token("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn event_requests_are_recorded_and_answered_404() {
    let s = Plain::start().await;
    let cases: [(&str, &str, &str); 9] = [
        ("GET", "/api/v1/namespaces/default/events", "core/v1"),
        ("POST", &format!("{ORG}/api/v1/namespaces/default/events"), "core/v1"),
        ("GET", &format!("{PROJECT_SHORT}/api/v1/watch/events"), "core/v1"),
        ("DELETE", &format!("{USER}/api/v1/namespaces/x/events/e1"), "core/v1"),
        ("GET", "/apis/events.k8s.io/v1/namespaces/default/events", "events.k8s.io"),
        ("PATCH", &format!("{PROJECT}/apis/events.k8s.io/v1/namespaces/a/events/b"), "events.k8s.io"),
        // Encoded: what Go's net/http would decode.
        ("GET", "/api/v1/namespaces/default/%65vents", "core/v1"),
        ("GET", "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme%2Fcontrol-plane/api/v1/events", "core/v1"),
        ("GET", "/api/v1/namespaces/default//events", "core/v1"),
    ];
    for (method, path, _) in &cases {
        let resp = s
            .http
            .request(method.parse().unwrap(), s.url(path))
            .bearer_auth(s.token("admin"))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let (code, v) = json(resp).await;
        assert_eq!(code, 404, "{method} {path}");
        assert_eq!(
            v["message"],
            "the server could not find the requested resource"
        );
    }
    let events = s.handle.event_requests();
    assert_eq!(events.len(), cases.len());
    for (r, (method, path, api)) in events.iter().zip(cases.iter()) {
        assert_eq!(&r.method, method);
        assert_eq!(&r.raw_path, path);
        assert_eq!(r.event_api.as_deref(), Some(*api), "{path}");
        assert_eq!(r.status, Some(404));
        assert_eq!(r.user.as_deref(), Some("admin@platform.local"));
    }
    assert_eq!(
        events[6].path.as_deref(),
        Some("/api/v1/namespaces/default/events")
    );
    let p = events[7].parent.as_ref().unwrap();
    assert_eq!(
        (format!("{:?}", p.kind), p.name.as_str()),
        ("Organization".into(), "acme")
    );
    assert_eq!(events[7].served_path.as_deref(), Some("/api/v1/events"));

    // Unauthenticated event requests are recorded too.
    s.get(None, "/api/v1/events").await;
    let from_admin: Value = s
        .http
        .get(format!("{}/requests/events", s.handle.admin_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(from_admin.as_array().unwrap().len(), cases.len() + 1);
    assert_eq!(from_admin[cases.len()]["status"], 401);
    assert_eq!(from_admin[cases.len()]["class"], "event");

    // Not events: other paths are 404 but not in that list.
    s.get(Some("admin"), "/api/v1/namespaces/events").await;
    s.get(Some("admin"), "/api/v1/pods").await;
    assert_eq!(s.handle.event_requests().len(), cases.len() + 1);
    assert_eq!(s.last().class, "other");
}

#[tokio::test]
async fn http2_cleartext_and_admin_port() {
    let s = Plain::start().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .get(s.url("/api"))
        .bearer_auth(s.token("bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    assert_eq!(s.last().version, "HTTP/2.0");

    let admin = s.handle.admin_url();
    let info: Value = s
        .http
        .get(format!("{admin}/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["scheme"], "http");
    assert_eq!(info["mainAddr"], s.handle.main_addr().to_string());
    let since: Value = s
        .http
        .get(format!("{admin}/requests?since=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(since, json!([]));
    assert_eq!(
        s.http
            .get(format!("{admin}/requests?bogus=1"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        s.http
            .post(format!("{admin}/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(s.handle.requests().is_empty());
    assert_eq!(
        s.http
            .get(format!("{admin}/nothing"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}
