//! The Milo profile end to end: a real kubectl in each tenant context, through a real Envoy with
//! ext_authz (the authorizer asking the Milo stand-in for TokenReview and SubjectAccessReview)
//! and the built filter, to the Activity stand-in. Prefixes are stripped, the URL's scope is
//! stored, Milo decides who may do what, and no event request ever reaches Milo.

use activity_e2e::milo_sandbox::MiloSandbox;
use anyhow::Result;
use serde_json::Value;

const STANDARD: &str = "/api/v1";

fn event_manifest(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: {name}\n  namespace: default\ninvolvedObject:\n  kind: Pod\n  name: my-pod\n  namespace: default\nreason: Testing\nmessage: created by {name}\ntype: Normal\n"
    )
}

async fn create(s: &MiloSandbox, ctx: &str, name: &str) -> Result<String> {
    let dir = s.dir.join(format!("{name}.yaml"));
    std::fs::write(&dir, event_manifest(name))?;
    s.kubectl_ok(ctx, &["create", "-f", &dir.display().to_string()])
        .await
}

/// The stored event's scope annotations (type, name).
fn scope_of(s: &MiloSandbox, name: &str) -> Option<(String, String)> {
    s.activity.events().into_iter().find_map(|e| {
        if e["metadata"]["name"] != name {
            return None;
        }
        let a = &e["metadata"]["annotations"];
        Some((
            a["platform.miloapis.com/scope.type"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            a["platform.miloapis.com/scope.name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ))
    })
}

fn names(listed: &str) -> Vec<String> {
    let mut v: Vec<String> = listed
        .lines()
        .map(|l| l.trim().trim_start_matches("event/").to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_works_in_every_control_plane_with_milos_decisions() -> Result<()> {
    let s = MiloSandbox::start("milo-contexts", STANDARD).await?;

    // Each tenant context writes with its URL's scope; the prefix never reaches Activity.
    for (ctx, name, scope) in [
        ("org", "ev-org", ("Organization", "acme")),
        ("project", "ev-project", ("Project", "web-app")),
        ("user", "ev-user", ("User", "uid-alice")),
    ] {
        let out = create(&s, ctx, name).await?;
        assert!(out.contains(&format!("{name} created")), "{ctx}: {out}");
        assert_eq!(
            scope_of(&s, name),
            Some((scope.0.to_owned(), scope.1.to_owned())),
            "{ctx}"
        );
        let got = s
            .kubectl_ok(ctx, &["get", "events", name, "-o", "json"])
            .await?;
        let got: Value = serde_json::from_str(&got)?;
        assert_eq!(got["apiVersion"], "v1");
        assert_eq!(got["message"], format!("created by {name}"));
        // events.k8s.io is discoverable and served in every context.
        let v1 = s
            .kubectl_ok(ctx, &["get", "events.events.k8s.io", name, "-o", "json"])
            .await?;
        let v1: Value = serde_json::from_str(&v1)?;
        assert_eq!(v1["apiVersion"], "events.k8s.io/v1", "{ctx}");
        assert_eq!(v1["note"], format!("created by {name}"), "{ctx}");
        let patched = s
            .kubectl_ok(
                ctx,
                &[
                    "patch",
                    "events",
                    name,
                    "--type=merge",
                    "-p",
                    r#"{"message":"patched"}"#,
                ],
            )
            .await?;
        assert!(patched.contains("patched"), "{ctx}: {patched}");
    }
    for path in s.activity.requests().iter().map(|r| r.path.clone()) {
        assert!(
            !path.contains("control-plane"),
            "a prefix reached Activity: {path}"
        );
    }

    // Each tenant sees its own events only; the platform admin at the root sees all.
    assert_eq!(
        names(
            &s.kubectl_ok("org", &["get", "events", "-A", "-o", "name"])
                .await?
        ),
        vec!["ev-org"]
    );
    assert_eq!(
        names(
            &s.kubectl_ok("project", &["get", "events", "-A", "-o", "name"])
                .await?
        ),
        vec!["ev-project"]
    );
    assert_eq!(
        names(
            &s.kubectl_ok("admin", &["get", "events", "-A", "-o", "name"])
                .await?
        ),
        vec!["ev-org", "ev-project", "ev-user"]
    );
    let field = s
        .kubectl_ok(
            "org",
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=my-pod",
                "-o",
                "name",
            ],
        )
        .await?;
    assert_eq!(names(&field), vec!["ev-org"]);

    // A user Milo does not allow in web-app: 403 worded like kube-apiserver, nothing forwarded.
    let before = s.activity.requests().len();
    let denied = s.kubectl("intruder", &["get", "events"]).await?;
    assert!(!denied.status.success());
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.contains(r#"events is forbidden: User "eve@acme.example" cannot list resource "events" in API group "" in the namespace "default""#),
        "{err}"
    );
    let denied = s
        .kubectl(
            "intruder",
            &[
                "create",
                "-f",
                &s.dir.join("ev-org.yaml").display().to_string(),
            ],
        )
        .await?;
    assert!(!denied.status.success());
    assert_eq!(
        s.activity.requests().len(),
        before,
        "a denied request reached Activity"
    );

    // Deletes, and a watch that sees a new event, in a tenant context.
    let deleted = s
        .kubectl_ok("project", &["delete", "events", "ev-project"])
        .await?;
    assert!(deleted.contains("deleted"), "{deleted}");
    assert_eq!(scope_of(&s, "ev-project"), None);
    let mut watch = tokio::process::Command::new(activity_e2e::tools::kubectl_bin()?)
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["--context", "org", "get", "events", "--watch", "-o", "name"])
        .arg("--cache-dir")
        .arg(s.dir.join("kube-cache"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    create(&s, "org", "ev-watched").await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    watch.kill().await?;
    let out = watch.wait_with_output().await?;
    let seen = String::from_utf8_lossy(&out.stdout);
    assert!(
        seen.contains("ev-watched"),
        "the watch missed the event: {seen}"
    );

    // Milo served discovery and reviews, never an event request.
    let milo = s.milo()?;
    assert!(
        milo.event_requests().is_empty(),
        "{:#?}",
        milo.event_requests()
    );
    assert!(!milo.reviews().is_empty());
    s.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_tokens_milo_down_and_the_review_caches() -> Result<()> {
    let mut s = MiloSandbox::start("milo-failures", STANDARD).await?;
    let url = s.url(&format!(
        "{}/api/v1/namespaces/default/events",
        activity_e2e::milo_sandbox::ORG_PATH
    ))?;

    // Unknown token and no token: 401 Status, nothing forwarded.
    for auth in [Some("Bearer not-a-token"), None] {
        let mut req = s.http().get(&url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let resp = req.send().await?;
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await?;
        assert_eq!(body["kind"], "Status");
        assert_eq!(body["reason"], "Unauthorized");
    }
    assert!(s.activity.requests().is_empty());

    // Two identical requests: one TokenReview and one SubjectAccessReview.
    let token = s.token("alice")?;
    s.milo()?.clear_requests();
    for _ in 0..2 {
        let resp = s.http().get(&url).bearer_auth(token.trim()).send().await?;
        assert_eq!(resp.status(), 200);
    }
    let reviews = s.milo()?.reviews();
    assert_eq!(reviews.len(), 2, "one review of each kind: {reviews:#?}");
    assert_eq!(s.activity.requests().len(), 2);

    // Milo down: a token not yet reviewed gets a Status, nothing is forwarded.
    s.stop_milo().await;
    let before = s.activity.requests().len();
    let resp = s
        .http()
        .get(&url)
        .bearer_auth(s.token("admin")?.trim())
        .send()
        .await?;
    assert!(
        resp.status().is_server_error(),
        "Milo down must fail closed: {}",
        resp.status()
    );
    let body: Value = resp.json().await?;
    assert_eq!(body["kind"], "Status");
    assert_eq!(s.activity.requests().len(), before);
    s.shutdown().await;
    Ok(())
}
