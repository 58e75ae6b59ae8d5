//! The real kubectl (`.tools/bin/kubectl`, provisioned by `scripts/tools.sh`) against the
//! stand-in over HTTPS: discovery is complete enough for `api-resources`, namespaces work in
//! every control plane, and `create -f` of an Event passes kubectl's validation with the
//! stand-in's OpenAPI (and then gets Milo's 404, recorded as an Event request).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{start_tls, Pki, ORG, PROJECT, PROJECT_SHORT};
use milo_standin::{Handle, SandboxFiles};

fn kubectl_bin() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let bin = root.join(".tools/bin/kubectl");
    if !bin.exists() {
        let status = std::process::Command::new("bash")
            .arg(root.join("scripts/tools.sh"))
            .status()
            .expect("running scripts/tools.sh");
        assert!(status.success(), "scripts/tools.sh failed");
    }
    assert!(
        bin.exists(),
        "{} is missing after scripts/tools.sh",
        bin.display()
    );
    bin
}

struct Kubectl {
    dir: tempfile::TempDir,
    files: SandboxFiles,
    pki: Pki,
    handle: Handle,
}

impl Kubectl {
    async fn start() -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(&dir.path().join("pki"), "milo");
        let files = milo_standin::write_sandbox_files(&dir.path().join("ids"), false).unwrap();
        let handle = start_tls(&pki, &files).await;
        // An empty kubeconfig, so nothing from the machine's ~/.kube leaks in.
        std::fs::write(
            dir.path().join("no-kubeconfig"),
            "apiVersion: v1\nkind: Config\n",
        )
        .unwrap();
        Kubectl {
            dir,
            files,
            pki,
            handle,
        }
    }

    /// kubectl as `user` against `https://127.0.0.1:PORT{prefix}`, with its own cache.
    async fn run(&self, user: &str, prefix: &str, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt;
        let server = format!("{}{prefix}", self.handle.url());
        let mut cmd = tokio::process::Command::new(kubectl_bin());
        cmd.arg("--kubeconfig")
            .arg(self.dir.path().join("no-kubeconfig"))
            .arg("--server")
            .arg(&server)
            .arg("--certificate-authority")
            .arg(&self.pki.ca)
            .arg("--token")
            .arg(self.files.token(user).unwrap())
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache").join(user))
            .arg("-v=6")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).await.unwrap();
        }
        drop(input);
        tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("kubectl timed out")
            .unwrap()
    }

    async fn ok(&self, user: &str, prefix: &str, args: &[&str]) -> String {
        let out = self.run(user, prefix, args, None).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn get_namespace_in_every_control_plane() {
    let k = Kubectl::start().await;
    let out = k.ok("alice", ORG, &["get", "namespaces", "default"]).await;
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "STATUS", "AGE"]);
    assert_eq!(&lines[1][..2], ["default", "Active"]);
    assert_eq!(lines.len(), 2);

    let out = k
        .ok(
            "bob",
            PROJECT,
            &[
                "get",
                "namespace",
                "team-b",
                "-o",
                "jsonpath={.status.phase}",
            ],
        )
        .await;
    assert_eq!(out, "Active");
    let out = k
        .ok("bob", PROJECT_SHORT, &["get", "ns", "-o", "name"])
        .await;
    assert_eq!(out, "namespace/default\nnamespace/kube-node-lease\nnamespace/kube-public\nnamespace/kube-system\n");

    let r = k.handle.requests();
    let gets: Vec<_> = r.iter().filter(|r| r.class == "namespace").collect();
    assert_eq!(gets.len(), 3);
    assert_eq!(gets[0].parent.as_ref().unwrap().name, "acme");
    assert_eq!(
        gets[0].served_path.as_deref(),
        Some("/api/v1/namespaces/default")
    );
    assert_eq!(gets[1].parent.as_ref().unwrap().name, "web-app");
    assert!(k.handle.event_requests().is_empty());

    // eve has no rights in web-app: kubectl prints Milo's Forbidden.
    let out = k
        .run("eve", PROJECT, &["get", "namespaces", "default"], None)
        .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Error from server (Forbidden): namespaces \"default\" is forbidden: User \"eve@acme.example\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"default\""),
        "{}",
        stderr(&out)
    );
    // An invalid organization id: kubectl shows Milo's message.
    let bad = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/-bad/control-plane";
    let out = k.run("alice", bad, &["get", "namespaces"], None).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid organization ID \\\"-bad\\\"")
            || stderr(&out).contains("invalid organization ID \"-bad\""),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn api_resources_from_discovery() {
    let k = Kubectl::start().await;
    for prefix in ["", ORG] {
        let out = k
            .ok("eve", prefix, &["api-resources", "--no-headers"])
            .await;
        let mut rows: Vec<(String, String)> = out
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f[f.len() - 1].to_string())
            })
            .collect();
        rows.sort();
        let expected = [
            ("events", "Event"),
            ("groups", "Group"),
            ("namespaces", "Namespace"),
            ("organizationmemberships", "OrganizationMembership"),
            ("organizations", "Organization"),
            ("policybindings", "PolicyBinding"),
            ("projects", "Project"),
            ("roles", "Role"),
            ("subjectaccessreviews", "SubjectAccessReview"),
            ("tokenreviews", "TokenReview"),
            ("users", "User"),
        ];
        assert_eq!(
            rows,
            expected.map(|(a, b)| (a.to_string(), b.to_string())),
            "{out}"
        );
    }
    let out = k
        .ok(
            "eve",
            ORG,
            &[
                "api-resources",
                "--api-group=resourcemanager.miloapis.com",
                "-o",
                "name",
            ],
        )
        .await;
    assert_eq!(out, "organizationmemberships.resourcemanager.miloapis.com\norganizations.resourcemanager.miloapis.com\nprojects.resourcemanager.miloapis.com\n");
    // kubectl used aggregated discovery (it is 1.30+).
    let agg = k
        .handle
        .requests()
        .into_iter()
        .filter(|r| r.served_path.as_deref() == Some("/apis"))
        .all(|r| {
            r.accept
                .as_deref()
                .unwrap_or_default()
                .contains("as=APIGroupDiscoveryList")
        });
    assert!(agg);
    assert!(k.handle.event_requests().is_empty());
}

const EVENT: &str = r#"apiVersion: v1
kind: Event
metadata:
  name: kubectl-check
  namespace: default
involvedObject:
  kind: Pod
  name: web-1
  namespace: default
reason: Checked
message: validated by kubectl against the Milo stand-in
type: Normal
"#;

#[tokio::test]
async fn create_event_passes_validation_and_reaches_only_the_404() {
    let k = Kubectl::start().await;
    let out = k
        .run("alice", ORG, &["create", "-f", "-"], Some(EVENT))
        .await;
    // Milo does not serve events here (the sidecar sends them to Activity): the create gets
    // the 404, which proves validation passed and the POST was sent.
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Error from server (NotFound)"), "{err}");
    assert!(!err.contains("error validating"), "{err}");

    let r = k.handle.requests();
    let served: Vec<String> = r
        .iter()
        .map(|r| format!("{} {}", r.method, r.served_path.clone().unwrap_or_default()))
        .collect();
    assert!(
        served.contains(&"GET /openapi/v3".to_string()),
        "{served:?}"
    );
    assert!(
        served.contains(&"GET /openapi/v3/api/v1".to_string()),
        "{served:?}"
    );
    assert!(
        !served.iter().any(|s| s.contains("/openapi/v2")),
        "{served:?}"
    );
    let events = k.handle.event_requests();
    assert_eq!(events.len(), 1, "{served:?}");
    let post = &events[0];
    assert_eq!(post.method, "POST");
    assert_eq!(
        post.served_path.as_deref(),
        Some("/api/v1/namespaces/default/events")
    );
    assert_eq!(
        post.query.as_deref(),
        Some("fieldManager=kubectl-create&fieldValidation=Strict")
    );
    assert_eq!(post.parent.as_ref().unwrap().name, "acme");
    assert_eq!(post.user.as_deref(), Some("alice@acme.example"));
}
