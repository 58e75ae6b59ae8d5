//! The real kubectl against the sandbox: real Envoy with jwt_authn and the built filter, the
//! Activity stand-in behind mTLS, three users with their own tokens.

use std::time::{Duration, Instant};

use activity_e2e::sandbox::{Options, Sandbox, ACTIVITY_PREFIX};
use activity_e2e::tools;
use anyhow::{bail, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

const SCOPE_TYPE: &str = "platform.miloapis.com/scope.type";
const SCOPE_NAME: &str = "platform.miloapis.com/scope.name";

fn event_manifest(name: &str, pod: &str, kind: &str, extra_annotations: Value) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "default", "annotations": extra_annotations},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": "default"},
        "reason": "Testing",
        "message": format!("event {name}"),
        "type": kind,
        "source": {"component": "e2e"}
    })
    .to_string()
}

async fn create(s: &Sandbox, user: &str, manifest: &str) -> Result<()> {
    let out = s
        .kubectl_stdin(user, &["create", "-f", "-"], manifest)
        .await?;
    if !out.status.success() {
        bail!(
            "kubectl create as {user} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Names of the events a user sees, through `kubectl get events -o json`.
async fn visible(s: &Sandbox, user: &str, args: &[&str]) -> Result<Vec<String>> {
    let mut all = vec!["get", "events", "-o", "json"];
    all.extend_from_slice(args);
    let list: Value = serde_json::from_str(&s.kubectl_ok(user, &all).await?)?;
    let mut names: Vec<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

/// The stored object (ignoring scope), from the stand-in.
async fn stored(s: &Sandbox, name: &str) -> Result<Value> {
    s.stored()
        .await?
        .into_iter()
        .find(|e| e["metadata"]["name"] == name)
        .ok_or_else(|| anyhow::anyhow!("{name} is not stored"))
}

fn scope_of(e: &Value) -> (String, String) {
    let a = &e["metadata"]["annotations"];
    (
        a[SCOPE_TYPE].as_str().unwrap_or("").to_owned(),
        a[SCOPE_NAME].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_verification_create_then_get() -> Result<()> {
    let s = Sandbox::start("kubectl-seed", Options::default()).await?;
    let manifest = tools::repo_root().join("testdata/test-event.yaml");
    // Default validation (server-side field validation, discovered through OpenAPI v3).
    let out = s
        .kubectl_ok("org", &["create", "-f", &manifest.display().to_string()])
        .await?;
    assert!(out.contains("test-event created"), "{out}");
    let table = s
        .kubectl_ok("org", &["get", "events", "-n", "default"])
        .await?;
    let row = table
        .lines()
        .find(|l| l.contains("Testing"))
        .unwrap_or_else(|| panic!("no row for test-event in:\n{table}"));
    assert!(row.contains("Normal"), "{row}");
    assert!(row.contains("pod/test-pod"), "{row}");

    let creates: Vec<Value> = s
        .received_events()
        .await?
        .into_iter()
        .filter(|r| r["method"] == "POST")
        .collect();
    assert_eq!(creates.len(), 1, "{creates:#?}");
    let c = &creates[0];
    assert!(c["path"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{ACTIVITY_PREFIX}/namespaces/default/events?")));
    assert!(c["path"]
        .as_str()
        .unwrap()
        .contains("fieldValidation=Strict"));
    assert_eq!(c["headers"]["x-remote-user"], json!(["alice@acme.example"]));
    assert_eq!(c["headers"]["x-remote-uid"], json!(["uid-alice"]));
    assert_eq!(
        c["headers"]["x-remote-group"],
        json!(["system:authenticated", "acme-members"])
    );
    assert_eq!(
        c["headers"]["x-remote-extra-iam.miloapis.com%2fparent-type"],
        json!(["Organization"])
    );
    assert_eq!(
        c["headers"]["x-remote-extra-iam.miloapis.com%2fparent-name"],
        json!(["acme"])
    );
    let body: Value = serde_json::from_str(c["body"].as_str().unwrap())?;
    assert_eq!(body["metadata"]["annotations"][SCOPE_TYPE], "Organization");
    assert_eq!(body["metadata"]["annotations"][SCOPE_NAME], "acme");
    let e = stored(&s, "test-event").await?;
    assert_eq!(scope_of(&e), ("Organization".into(), "acme".into()));
    assert_eq!(e["involvedObject"]["name"], "test-pod");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn field_selectors_return_exactly_the_matching_events() -> Result<()> {
    let s = Sandbox::start("kubectl-selectors", Options::default()).await?;
    create(
        &s,
        "admin",
        &event_manifest("a", "my-pod", "Normal", json!({})),
    )
    .await?;
    create(
        &s,
        "admin",
        &event_manifest("b", "my-pod", "Warning", json!({})),
    )
    .await?;
    create(
        &s,
        "admin",
        &event_manifest("c", "other-pod", "Warning", json!({})),
    )
    .await?;
    create(
        &s,
        "admin",
        &event_manifest("d", "other-pod", "Normal", json!({})),
    )
    .await?;
    assert_eq!(
        visible(
            &s,
            "admin",
            &["--field-selector", "involvedObject.name=my-pod"]
        )
        .await?,
        vec!["a", "b"]
    );
    assert_eq!(
        visible(&s, "admin", &["--field-selector", "type=Warning"]).await?,
        vec!["b", "c"]
    );
    assert_eq!(
        visible(
            &s,
            "admin",
            &[
                "--field-selector",
                "type=Warning,involvedObject.name!=my-pod"
            ]
        )
        .await?,
        vec!["c"]
    );
    let bad = s
        .kubectl("admin", &["get", "events", "--field-selector", "nope=1"])
        .await?;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("field label not supported"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn get_list_replace_patch_delete() -> Result<()> {
    let s = Sandbox::start("kubectl-crud", Options::default()).await?;
    create(&s, "org", &event_manifest("crud", "p", "Normal", json!({}))).await?;

    let got: Value = serde_json::from_str(
        &s.kubectl_ok("org", &["get", "event", "crud", "-o", "json"])
            .await?,
    )?;
    assert_eq!(got["metadata"]["name"], "crud");
    assert_eq!(got["reason"], "Testing");
    assert_eq!(visible(&s, "org", &["-A"]).await?, vec!["crud"]);

    // replace
    let mut replacement = got.clone();
    replacement["message"] = json!("replaced");
    let out = s
        .kubectl_stdin("org", &["replace", "-f", "-"], &replacement.to_string())
        .await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&s, "crud").await?["message"], "replaced");

    // every patch type
    for (kind, patch, field, value) in [
        ("merge", r#"{"message":"merged"}"#, "message", "merged"),
        (
            "strategic",
            r#"{"reason":"Strategic"}"#,
            "reason",
            "Strategic",
        ),
        (
            "json",
            r#"[{"op":"replace","path":"/message","value":"json-patched"}]"#,
            "message",
            "json-patched",
        ),
    ] {
        let out = s
            .kubectl(
                "org",
                &["patch", "event", "crud", "--type", kind, "-p", patch],
            )
            .await?;
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let e = stored(&s, "crud").await?;
        assert_eq!(e[field], value, "{kind}");
        assert_eq!(
            scope_of(&e),
            ("Organization".into(), "acme".into()),
            "{kind}"
        );
    }

    let out = s.kubectl_ok("org", &["delete", "event", "crud"]).await?;
    assert!(out.contains("deleted"), "{out}");
    assert!(s.stored().await?.is_empty());
    let gone = s.kubectl("org", &["get", "event", "crud"]).await?;
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found"));
    Ok(())
}

/// Read `child`'s stdout lines until one contains `needle`, or time out.
async fn wait_for_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    needle: &str,
    within: Duration,
) -> Result<String> {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(line))) if line.contains(needle) => return Ok(line),
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => bail!("watch ended before '{needle}' appeared"),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => bail!("'{needle}' did not appear within {within:?}"),
        }
    }
}

async fn start_watch(
    s: &Sandbox,
    user: &str,
) -> Result<(
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
)> {
    let mut child = tokio::process::Command::new(tools::kubectl_bin()?)
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args(["--context", user, "--cache-dir"])
        .arg(s.dir.join("kube-cache"))
        .args(["get", "events", "-A", "-w", "--output-watch-events"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    Ok((child, BufReader::new(stdout).lines()))
}

/// Wait until the stand-in has an open watch (its request was recorded).
async fn watch_established(s: &Sandbox) -> Result<()> {
    for _ in 0..100 {
        if s.received_events()
            .await?
            .iter()
            .any(|r| r["path"].as_str().is_some_and(|p| p.contains("watch=true")))
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("the watch never reached the stand-in")
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_shows_a_new_event_within_two_seconds() -> Result<()> {
    let s = Sandbox::start("kubectl-watch", Options::default()).await?;
    create(
        &s,
        "admin",
        &event_manifest("before", "p", "Normal", json!({})),
    )
    .await?;
    let (_child, mut lines) = start_watch(&s, "admin").await?;
    wait_for_line(&mut lines, "before", Duration::from_secs(10)).await?;
    watch_established(&s).await?;
    let created = Instant::now();
    create(
        &s,
        "admin",
        &event_manifest("after-watch", "p", "Warning", json!({})),
    )
    .await?;
    let line = wait_for_line(&mut lines, "after-watch", Duration::from_secs(2)).await?;
    assert!(created.elapsed() < Duration::from_secs(2));
    assert!(line.contains("ADDED"), "{line}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_outlives_the_30s_route_timeout() -> Result<()> {
    let s = Sandbox::start("kubectl-long-watch", Options::default()).await?;
    let (mut child, mut lines) = start_watch(&s, "project").await?;
    watch_established(&s).await?;
    tokio::time::sleep(Duration::from_secs(33)).await;
    assert!(child.try_wait()?.is_none(), "kubectl's watch ended");
    create(
        &s,
        "project",
        &event_manifest("late", "p", "Normal", json!({})),
    )
    .await?;
    wait_for_line(&mut lines, "late", Duration::from_secs(2)).await?;
    // Still the first watch request: it was never cut and re-established.
    let watches = s
        .received_events()
        .await?
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.contains("watch=true")))
        .count();
    assert_eq!(watches, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_user_sees_exactly_its_scope() -> Result<()> {
    let s = Sandbox::start("kubectl-tenancy", Options::default()).await?;
    create(
        &s,
        "admin",
        &event_manifest("platform-event", "p", "Normal", json!({})),
    )
    .await?;
    create(
        &s,
        "org",
        &event_manifest("org-event", "p", "Normal", json!({})),
    )
    .await?;
    create(
        &s,
        "project",
        &event_manifest("project-event", "p", "Normal", json!({})),
    )
    .await?;
    assert_eq!(
        visible(&s, "admin", &["-A"]).await?,
        vec!["org-event", "platform-event", "project-event"]
    );
    assert_eq!(visible(&s, "org", &["-A"]).await?, vec!["org-event"]);
    assert_eq!(
        visible(&s, "project", &["-A"]).await?,
        vec!["project-event"]
    );
    assert_eq!(visible(&s, "project", &[]).await?, vec!["project-event"]);
    // Another tenant's event is not found, not forbidden.
    let other = s.kubectl("project", &["get", "event", "org-event"]).await?;
    assert!(String::from_utf8_lossy(&other.stderr).contains("not found"));
    let other = s
        .kubectl("org", &["delete", "event", "project-event"])
        .await?;
    assert!(!other.status.success());
    assert!(stored(&s, "project-event").await.is_ok());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_scopes_end_stored_with_the_callers_true_scope() -> Result<()> {
    let s = Sandbox::start("kubectl-forgery", Options::default()).await?;
    let forged = json!({SCOPE_TYPE: "Project", SCOPE_NAME: "someone-else", "keep": "me"});
    let truth = ("Organization".to_owned(), "acme".to_owned());

    create(
        &s,
        "org",
        &event_manifest("forged", "p", "Normal", forged.clone()),
    )
    .await?;
    let e = stored(&s, "forged").await?;
    assert_eq!(scope_of(&e), truth);
    assert_eq!(e["metadata"]["annotations"]["keep"], "me");

    let mut replacement: Value = serde_json::from_str(
        &s.kubectl_ok("org", &["get", "event", "forged", "-o", "json"])
            .await?,
    )?;
    replacement["metadata"]["annotations"] = forged.clone();
    let out = s
        .kubectl_stdin("org", &["replace", "-f", "-"], &replacement.to_string())
        .await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(scope_of(&stored(&s, "forged").await?), truth);

    let forged_patch = json!({"metadata": {"annotations": forged}}).to_string();
    for kind in ["merge", "strategic"] {
        let out = s
            .kubectl(
                "org",
                &[
                    "patch",
                    "event",
                    "forged",
                    "--type",
                    kind,
                    "-p",
                    &forged_patch,
                ],
            )
            .await?;
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(scope_of(&stored(&s, "forged").await?), truth, "{kind}");
    }
    // A JSON patch that writes the scope is refused; one that does not gets the scope appended.
    let out = s
        .kubectl(
            "org",
            &[
                "patch", "event", "forged", "--type", "json", "-p",
                r#"[{"op":"replace","path":"/metadata/annotations/platform.miloapis.com~1scope.name","value":"someone-else"}]"#,
            ],
        )
        .await?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Forbidden")
            || String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s
        .kubectl(
            "org",
            &[
                "patch",
                "event",
                "forged",
                "--type",
                "json",
                "-p",
                r#"[{"op":"add","path":"/metadata/annotations/other","value":"x"}]"#,
            ],
        )
        .await?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = stored(&s, "forged").await?;
    assert_eq!(scope_of(&e), truth);
    assert_eq!(e["metadata"]["annotations"]["other"], "x");
    Ok(())
}
