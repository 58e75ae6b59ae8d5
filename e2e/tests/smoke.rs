//! Smoke test of the request side through a real Envoy with the built filter: identity from
//! set_metadata, a recording upstream for Activity and one for the Milo API server.

use activity_e2e::envoy::{render, template, Envoy};
use activity_e2e::recorder::{Recorded, Recorder};
use activity_e2e::tools;
use anyhow::Result;
use base64::Engine;
use serde_json::Value;

const ACTIVITY: &str = "/apis/activity.miloapis.com/v1alpha1";

struct Smoke {
    envoy: Envoy,
    activity: Recorder,
    milo: Recorder,
    http: reqwest::Client,
}

impl Smoke {
    async fn start() -> Result<Smoke> {
        tools::install_crypto_provider();
        let activity = Recorder::start("activity").await?;
        let milo = Recorder::start("milo").await?;
        let userinfo = std::fs::read(tools::repo_root().join("testdata/userinfo-project.json"))?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(userinfo);
        let config = render(
            &template("smoke.yaml")?,
            &[
                ("FILTER_CONFIG", "{}".into()),
                ("WASM", tools::filter_wasm()?.display().to_string()),
                ("USERINFO_B64", b64),
                ("ACTIVITY_PORT", activity.port().to_string()),
                ("MILO_PORT", milo.port().to_string()),
            ],
        )?;
        let dir = tools::run_dir("smoke")?;
        let envoy = tokio::task::spawn_blocking(move || Envoy::start(&dir, &config)).await??;
        Ok(Smoke {
            envoy,
            activity,
            milo,
            http: reqwest::Client::new(),
        })
    }

    fn url(&self, listener: &str, path: &str) -> String {
        format!("{}{path}", self.envoy.url(listener).unwrap())
    }

    /// The one request Activity received since the last call.
    fn only_activity_request(&self) -> Recorded {
        let records = self.activity.records();
        self.activity.clear();
        assert_eq!(records.len(), 1, "activity received {records:#?}");
        records.into_iter().next().unwrap()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(tools::repo_root().join("testdata").join(name)).unwrap()
}

fn assert_org_identity(r: &Recorded) {
    assert_eq!(r.headers_named("x-remote-user"), vec!["alice@acme.example"]);
    assert_eq!(r.headers_named("x-remote-uid"), vec!["alice-uid"]);
    assert_eq!(
        r.headers_named("x-remote-group"),
        vec!["system:authenticated", "acme-admins"]
    );
    // Envoy lower-cases header names, so the escape arrives as %2f; Kubernetes unescapes both.
    let extra = |k: &str| r.headers_named(&format!("x-remote-extra-iam.miloapis.com%2f{k}"));
    assert_eq!(extra("parent-type"), vec!["Organization"]);
    assert_eq!(extra("parent-name"), vec!["acme"]);
    assert_eq!(
        extra("parent-api-group"),
        vec!["resourcemanager.miloapis.com"]
    );
    let remote: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-remote-"))
        .collect();
    assert_eq!(remote.len(), 7, "unexpected identity headers: {remote:#?}");
    assert!(
        r.header("authorization").is_none(),
        "bearer token leaked upstream"
    );
    assert!(
        r.header("x-activity-events-route").is_none(),
        "route marker leaked"
    );
}

async fn status_of(resp: reqwest::Response) -> (u16, Value) {
    let code = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned());
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(ct.as_deref(), Some("application/json"), "{body}");
    (code, body)
}

/// POST a body with chunked transfer encoding over a raw connection; returns status and JSON.
async fn chunked_post(port: u16, path: &str, body: &[u8]) -> Result<(u16, Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await?;
    for chunk in body.chunks(64 * 1024) {
        let sent = async {
            conn.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            conn.write_all(chunk).await?;
            conn.write_all(b"\r\n").await
        };
        if sent.await.is_err() {
            break; // Envoy may answer and close before the whole body is sent.
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).await.ok();
    let text = String::from_utf8_lossy(&reply);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| serde_json::from_str(b).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    Ok((code, json))
}

#[tokio::test(flavor = "multi_thread")]
async fn request_side_through_real_envoy() -> Result<()> {
    let s = Smoke::start().await?;

    // --- create: path rewritten, identity headers, forged scope overwritten -----------------
    let resp = s
        .http
        .post(s.url(
            "org",
            "/api/v1/namespaces/default/events?fieldManager=kubectl-create",
        ))
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-token")
        .header("X-Remote-User", "mallory")
        .header("X-REMOTE-GROUP", "system:masters")
        .header("x-Remote-Extra-iam.miloapis.com%2Fparent-name", "victim")
        .body(fixture("event-forged-scope.json"))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let r = s.only_activity_request();
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("{ACTIVITY}/namespaces/default/events?fieldManager=kubectl-create")
    );
    assert_org_identity(&r);
    let body = r.json();
    let ann = &body["metadata"]["annotations"];
    assert_eq!(ann["platform.miloapis.com/scope.type"], "Organization");
    assert_eq!(ann["platform.miloapis.com/scope.name"], "acme");
    assert_eq!(ann["keep.example.com/me"], "yes");
    assert_eq!(body["involvedObject"]["name"], "test-pod");
    assert_eq!(
        r.header("content-length").map(str::to_owned),
        Some(r.body.len().to_string()),
        "content-length must match the rewritten body"
    );

    // --- get: query kept byte for byte, token dropped -----------------------------------------
    let resp = s
        .http
        .get(s.url(
            "org",
            "/api/v1/namespaces/default/events/test-event?pretty=true&x=%2F",
        ))
        .header("authorization", "Bearer client-token")
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let r = s.only_activity_request();
    assert_eq!(r.method, "GET");
    assert_eq!(
        r.path,
        format!("{ACTIVITY}/namespaces/default/events/test-event?pretty=true&x=%2F")
    );
    assert_org_identity(&r);

    // --- spoofed identity on an event request never reaches Activity -----------------------
    let resp = s
        .http
        .get(s.url("org", "/apis/events.k8s.io/v1/events"))
        .header("x-remote-user", "mallory")
        .header("X-Remote-Uid", "0")
        .header("X-Remote-Extra-Scopes", "admin")
        .header("x-activity-events-route", "watch")
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let r = s.only_activity_request();
    assert_eq!(r.path, format!("{ACTIVITY}/events"));
    assert_org_identity(&r);

    // --- non-event request: to the API server, only the spoofed headers removed -----------
    let resp = s
        .http
        .get(s.url("org", "/api/v1/namespaces/default/pods?limit=1"))
        .header("authorization", "Bearer keep-me")
        .header("X-Remote-User", "mallory")
        .header("X-Remote-Group", "system:masters")
        .header("x-activity-events-route", "request")
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert!(s.activity.records().is_empty());
    let milo = s.milo.records();
    assert_eq!(milo.len(), 1);
    let m = &milo[0];
    assert_eq!(m.path, "/api/v1/namespaces/default/pods?limit=1");
    assert_eq!(m.header("authorization"), Some("Bearer keep-me"));
    assert!(
        m.headers.iter().all(|(k, _)| !k.starts_with("x-remote-")),
        "{m:#?}"
    );
    assert!(m.header("x-activity-events-route").is_none());
    s.milo.clear();

    // --- userinfo (base64 JSON) identity, Project scope ---------------------------------------
    let resp = s
        .http
        .patch(s.url("userinfo", "/api/v1/namespaces/p1/events/e1"))
        .header("content-type", "application/merge-patch+json")
        .body(fixture("patch-merge-forged.json"))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let r = s.only_activity_request();
    assert_eq!(r.method, "PATCH");
    assert_eq!(r.path, format!("{ACTIVITY}/namespaces/p1/events/e1"));
    assert_eq!(r.headers_named("x-remote-user"), vec!["dave@example.com"]);
    assert!(r.headers_named("x-remote-uid").is_empty());
    assert_eq!(
        r.headers_named("x-remote-group"),
        vec!["system:authenticated"]
    );
    let patch = r.json();
    assert_eq!(
        patch["metadata"]["annotations"]["platform.miloapis.com/scope.type"],
        "Project"
    );
    assert_eq!(
        patch["metadata"]["annotations"]["platform.miloapis.com/scope.name"],
        "p1"
    );
    assert_eq!(patch["message"], "patched");

    // --- JSON patch gets the scope operations appended -----------------------------------------
    let resp = s
        .http
        .patch(s.url("org", "/api/v1/namespaces/default/events/e1"))
        .header("content-type", "application/json-patch+json")
        .body(fixture("patch-json.json"))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let ops = s.only_activity_request().json();
    let ops = ops.as_array().unwrap();
    assert_eq!(ops.len(), 4);
    assert_eq!(
        ops[3]["path"],
        "/metadata/annotations/platform.miloapis.com~1scope.name"
    );
    assert_eq!(ops[3]["value"], "acme");

    // --- refusals: Status objects, nothing forwarded ---------------------------------------
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "no identity",
            s.http
                .get(s.url("anonymous", "/api/v1/namespaces/default/events")),
            401,
            "Unauthorized",
        ),
        (
            "protobuf body",
            s.http
                .post(s.url("org", "/api/v1/namespaces/default/events"))
                .header("content-type", "application/vnd.kubernetes.protobuf")
                .body("x"),
            415,
            "UnsupportedMediaType",
        ),
        (
            "malformed json",
            s.http
                .post(s.url("org", "/api/v1/namespaces/default/events"))
                .header("content-type", "application/json")
                .body("{\"kind\":"),
            400,
            "BadRequest",
        ),
        (
            "json patch removing the scope",
            s.http
                .patch(s.url("org", "/api/v1/namespaces/default/events/e1"))
                .header("content-type", "application/json-patch+json")
                .body(r#"[{"op":"remove","path":"/metadata/annotations"}]"#),
            403,
            "Forbidden",
        ),
        (
            "deletecollection",
            s.http
                .delete(s.url("org", "/api/v1/namespaces/default/events")),
            405,
            "MethodNotAllowed",
        ),
        (
            "subresource",
            s.http
                .get(s.url("org", "/api/v1/namespaces/default/events/e1/status")),
            404,
            "NotFound",
        ),
        (
            "impersonation",
            s.http
                .get(s.url("org", "/api/v1/events"))
                .header("Impersonate-User", "admin"),
            403,
            "Forbidden",
        ),
        (
            "too large",
            s.http
                .post(s.url("org", "/api/v1/namespaces/default/events"))
                .header("content-type", "application/json")
                .body(vec![b' '; 1024 * 1024 + 1]),
            413,
            "RequestEntityTooLarge",
        ),
    ];
    for (what, req, code, reason) in cases {
        let (got, body) = status_of(req.send().await?).await;
        assert_eq!(got, code, "{what}: {body}");
        assert_eq!(body["kind"], "Status", "{what}");
        assert_eq!(body["reason"], reason, "{what}");
        assert_eq!(body["code"], code, "{what}");
        assert!(
            s.activity.records().is_empty(),
            "{what}: forwarded {:#?}",
            s.activity.records()
        );
    }

    // --- malformed identity metadata: a Status, and the VM keeps serving -------------------
    let (code, body) = status_of(
        s.http
            .get(s.url("broken", "/api/v1/namespaces/default/events"))
            .send()
            .await?,
    )
    .await;
    assert_eq!(code, 500, "{body}");
    assert_eq!(body["reason"], "InternalError");
    assert!(
        body["message"].as_str().unwrap().contains("groups"),
        "{body}"
    );
    assert!(s.activity.records().is_empty());

    // --- a chunked body over max_body_bytes (no content-length to pre-check) ---------------
    let (code, body) = chunked_post(
        s.envoy.port("org")?,
        "/api/v1/namespaces/default/events",
        &vec![b' '; 1024 * 1024 + 10],
    )
    .await?;
    assert_eq!(code, 413, "{body}");
    assert_eq!(body["reason"], "RequestEntityTooLarge");
    assert!(s.activity.records().is_empty());

    // The same VM still serves after every refusal above.
    let resp = s
        .http
        .get(s.url("org", "/api/v1/namespaces/default/events/after-errors"))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.only_activity_request().method, "GET");

    // --- counters ------------------------------------------------------------------------------
    let c = |n: &str| {
        s.envoy
            .counter(&format!("wasmcustom.activity_events.{n}"))
            .unwrap()
    };
    // The scoped create, the malformed one and the chunked oversized one.
    assert_eq!(c("requests.core_v1.create"), 3);
    assert_eq!(c("requests.events_v1.list"), 1);
    assert_eq!(c("requests.core_v1.get"), 2);
    assert_eq!(c("rejections.unauthorized"), 1);
    assert_eq!(c("rejections.internal_error"), 1);
    assert_eq!(c("rejections.request_entity_too_large"), 2);
    assert_eq!(c("rejections.unsupported_media_type"), 1);
    assert_eq!(c("scope_injections"), 3);
    assert!(c("spoofed_headers_removed") >= 1);
    Ok(())
}
