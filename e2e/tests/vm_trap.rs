//! What Envoy does after the filter's VM traps, measured with a test-only build that traps on
//! demand (cargo feature `trap-on-demand`): under FAIL_CLOSED every later request fails until
//! Envoy restarts; under FAIL_RELOAD Envoy reloads the VM (after its backoff) and recovers. Under
//! neither is a request forwarded without the filter's checks; FAIL_OPEN, the control, forwards
//! the client's own identity headers. The shipped configs use FAIL_RELOAD.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use activity_e2e::envoy::{render, template, Envoy};
use activity_e2e::sandbox::{filter_config, ACTIVITY_PREFIX};
use activity_e2e::tools;
use anyhow::{bail, Context, Result};
use serde_json::json;

const TRAP_HEADER: &str = "x-activity-events-test-trap";
const SHIPPED_POLICY: &str = "failure_policy: FAIL_RELOAD";
const EVENTS: &str = "/api/v1/namespaces/default/events";

/// The filter built with `trap-on-demand`, in its own target directory so the shipped build
/// is never replaced by it.
fn trap_wasm() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = tools::repo_root();
            let dir = tools::target_dir(&root).join("trap-on-demand");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let out = Command::new(cargo)
                .current_dir(&root)
                .args(["build", "--release", "--target", "wasm32-wasip1"])
                .args([
                    "-p",
                    "activity-events-filter",
                    "--features",
                    "trap-on-demand",
                ])
                .arg("--target-dir")
                .arg(&dir)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
            Ok(dir.join("wasm32-wasip1/release/activity_events_filter.wasm"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

#[test]
fn the_shipped_filter_cannot_trap_on_demand() -> Result<()> {
    let contains = |wasm: PathBuf| -> Result<bool> {
        let bytes = std::fs::read(&wasm).with_context(|| wasm.display().to_string())?;
        Ok(bytes
            .windows(TRAP_HEADER.len())
            .any(|w| w == TRAP_HEADER.as_bytes()))
    };
    assert!(
        !contains(tools::filter_wasm()?)?,
        "the release .wasm carries the trap hook"
    );
    assert!(contains(trap_wasm()?)?, "the check would not see the hook");
    // The feature is off unless asked for.
    let manifest = std::fs::read_to_string(tools::repo_root().join("Cargo.toml"))?;
    let features = manifest
        .split("[features]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .unwrap_or_default();
    assert!(features.contains("trap-on-demand = []"), "{features}");
    assert!(!features.contains("default"), "{features}");
    Ok(())
}

#[test]
fn every_shipped_config_reloads_a_failed_vm() -> Result<()> {
    let root = tools::repo_root();
    for name in tools::SHIPPED_ENVOY_CONFIGS {
        let text = std::fs::read_to_string(root.join(name))?;
        let policies: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("failure_policy:"))
            .collect();
        assert_eq!(policies, [SHIPPED_POLICY], "{name}");
    }
    Ok(())
}

/// The jwt sandbox (envoy/sandbox-jwt.yaml) with the trap build and a chosen failure policy.
struct Trial {
    standin: activity_standin::Handle,
    envoy: Envoy,
    http: reqwest::Client,
    token: String,
}

impl Trial {
    async fn start(policy: &str) -> Result<Trial> {
        tools::install_crypto_provider();
        let dir = tools::run_dir(&format!("vm-trap-{}", policy.to_lowercase()))?;
        let activity =
            activity_standin::generate_certs(&dir.join("certs/activity"), "activity.local", false)?;
        let front = activity_standin::generate_certs(&dir.join("certs/front"), "localhost", false)?;
        let tokens = activity_standin::generate_tokens(&dir.join("tokens"), false, 3600)?;
        let mut config = activity_standin::Config::new(&activity);
        config.prefix = ACTIVITY_PREFIX.into();
        let standin = activity_standin::start(config).await?;
        let text = template("sandbox-jwt.yaml")?;
        if text.matches(SHIPPED_POLICY).count() != 1 {
            bail!("envoy/sandbox-jwt.yaml does not set `{SHIPPED_POLICY}` once");
        }
        let text = text.replace(SHIPPED_POLICY, &format!("failure_policy: {policy}"));
        let p = |p: &std::path::Path| p.display().to_string();
        let rendered = render(
            &text,
            &[
                ("LISTEN_ADDRESS", "127.0.0.1".into()),
                ("LISTEN_PORT", "0".into()),
                ("FRONT_CERT", p(&front.server)),
                ("FRONT_KEY", p(&front.server_key)),
                ("JWKS", p(&tokens.jwks)),
                ("WASM", p(&trap_wasm()?)),
                ("FILTER_CONFIG", filter_config(ACTIVITY_PREFIX)),
                ("ACTIVITY_HOST", "127.0.0.1".into()),
                ("ACTIVITY_PORT", standin.main_addr().port().to_string()),
                ("ACTIVITY_SNI", "activity.local".into()),
                ("ACTIVITY_CA", p(&activity.ca)),
                ("CLIENT_CERT", p(&activity.client)),
                ("CLIENT_KEY", p(&activity.client_key)),
                ("REQUEST_TIMEOUT", "5s".into()),
                ("PER_TRY_TIMEOUT", "2s".into()),
                (
                    "DISCOVERY_DIR",
                    p(&tools::repo_root().join("envoy/discovery")),
                ),
            ],
        )?;
        let envoy = tokio::task::spawn_blocking(move || Envoy::start(&dir, &rendered)).await??;
        let tls = activity_standin::client_config(&front.ca, None)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(Duration::from_secs(10))
            .build()?;
        let token = std::fs::read_to_string(
            tokens
                .tokens
                .iter()
                .find(|(n, _)| n == "admin")
                .map(|(_, p)| p.clone())
                .context("no admin token")?,
        )?;
        Ok(Trial {
            standin,
            envoy,
            http,
            token,
        })
    }

    /// A list that carries what a skipped filter would let through: the client's own route
    /// marker and identity. Status 0: the connection failed.
    async fn probe(&self, trap: Option<&str>) -> Result<u16> {
        let mut req = self
            .http
            .get(format!(
                "https://localhost:{}{EVENTS}",
                self.envoy.port("sandbox")?
            ))
            .bearer_auth(&self.token)
            .header("x-activity-events-route", "request")
            .header("x-remote-user", "attacker")
            .header("x-remote-group", "system:masters");
        if let Some(t) = trap {
            req = req.header(TRAP_HEADER, t);
        }
        Ok(req.send().await.map_or(0, |r| r.status().as_u16()))
    }

    /// A create whose body arrives after the filter let the headers go on.
    async fn write(&self, trap: Option<&str>) -> Result<u16> {
        let mut req = self
            .http
            .post(format!(
                "https://localhost:{}{EVENTS}",
                self.envoy.port("sandbox")?
            ))
            .bearer_auth(&self.token)
            .json(&json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": "trap-", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
                "reason": "Trap", "message": "m", "type": "Normal"
            }));
        if let Some(t) = trap {
            req = req.header(TRAP_HEADER, t);
        }
        Ok(req.send().await.map_or(0, |r| r.status().as_u16()))
    }

    /// Requests Activity received that the filter did not process: the client's path or the
    /// client's identity.
    fn unchecked(&self) -> usize {
        self.standin
            .requests()
            .iter()
            .filter(|r| {
                !r.path.starts_with(ACTIVITY_PREFIX)
                    || r.headers
                        .get("x-remote-user")
                        .is_some_and(|u| u.iter().any(|u| u == "attacker"))
                    || r.headers
                        .get("x-remote-group")
                        .is_some_and(|g| g.iter().any(|g| g == "system:masters"))
            })
            .count()
    }

    fn posts_received(&self) -> usize {
        self.standin
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    }

    fn wasm_stats(&self) -> Result<Vec<String>> {
        Ok(self
            .envoy
            .stats()?
            .lines()
            .filter(|l| l.starts_with("wasm.") || l.contains("activity_events.wasm_memory"))
            .map(str::to_owned)
            .collect())
    }
}

/// What one policy did after a trap.
#[derive(Debug)]
struct Outcome {
    trap_status: u16,
    /// (milliseconds after the trap, status) of the probes that followed.
    after: Vec<(u128, u16)>,
    /// Milliseconds from the trap to the first 200, if any.
    recovered_ms: Option<u128>,
    body_trap_status: u16,
    posts_after_body_trap: usize,
    unchecked: usize,
    reload_success: u64,
    reload_failure: u64,
    reload_backoff: u64,
}

async fn measure(policy: &str) -> Result<Outcome> {
    let t = Trial::start(policy).await?;
    assert_eq!(t.probe(None).await?, 200, "{policy}: before the trap");
    let start = Instant::now();
    let trap_status = t.probe(Some("now")).await?;
    let mut after = Vec::new();
    while start.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after.push((start.elapsed().as_millis(), t.probe(None).await?));
    }
    let recovered_ms = after.iter().find(|(_, s)| *s == 200).map(|(ms, _)| *ms);

    // A trap while a write's body is checked: its headers already went on, the buffer filter
    // holds them; nothing may reach Activity.
    let posts_before = t.posts_received();
    let body_trap_status = t.write(Some("body")).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let posts_after_body_trap = t.posts_received() - posts_before;
    // And once more after the reload backoff: the next requests are served again (or not).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..3 {
        let _ = t.probe(None).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let stat = |name: &str| t.envoy.counter(&format!("wasm.activity_events.{name}"));
    let outcome = Outcome {
        trap_status,
        after,
        recovered_ms,
        body_trap_status,
        posts_after_body_trap,
        unchecked: t.unchecked(),
        reload_success: stat("vm_reload_success")?,
        reload_failure: stat("vm_reload_failure")?,
        reload_backoff: stat("vm_reload_backoff")?,
    };
    let statuses: Vec<u16> = outcome.after.iter().map(|(_, s)| *s).collect();
    eprintln!(
        "{policy}: trap -> {}; next {} probes (100 ms apart): {statuses:?}; first 200 after {:?} ms; \
         body trap -> {} ({} POSTs reached Activity); unchecked at Activity: {}; \
         vm_reload_success={} vm_reload_failure={} vm_reload_backoff={}",
        outcome.trap_status,
        statuses.len(),
        outcome.recovered_ms,
        outcome.body_trap_status,
        outcome.posts_after_body_trap,
        outcome.unchecked,
        outcome.reload_success,
        outcome.reload_failure,
        outcome.reload_backoff
    );
    eprintln!("{policy}: {}", t.wasm_stats()?.join("; "));
    Ok(outcome)
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_reload_recovers_from_a_trap_and_never_forwards_unchecked() -> Result<()> {
    let closed = measure("FAIL_CLOSED").await?;
    let reload = measure("FAIL_RELOAD").await?;
    let open = measure("FAIL_OPEN").await?;

    // FAIL_OPEN, the control: after the trap the filter is skipped and the client's own marker
    // and identity reach Activity. The probe sees a bypass when there is one.
    assert!(open.unchecked > 0, "{open:?}");

    for (policy, o) in [("FAIL_CLOSED", &closed), ("FAIL_RELOAD", &reload)] {
        assert_ne!(o.trap_status, 200, "{policy}: {o:?}");
        assert_eq!(
            o.unchecked, 0,
            "{policy} forwarded an unchecked request: {o:?}"
        );
        assert_eq!(o.posts_after_body_trap, 0, "{policy}: {o:?}");
        assert_ne!(o.body_trap_status, 201, "{policy}: {o:?}");
    }
    // FAIL_CLOSED never comes back: every later request fails, and nothing is counted.
    assert!(closed.after.iter().all(|(_, s)| *s == 503), "{closed:?}");
    assert_eq!(closed.recovered_ms, None, "{closed:?}");
    assert_eq!(closed.reload_success + closed.reload_failure, 0);
    // FAIL_RELOAD fails closed during the backoff, then serves again from a fresh VM, counted.
    let recovered = reload.recovered_ms.context("FAIL_RELOAD never recovered")?;
    assert!(recovered < 3000, "{reload:?}");
    let first_ok = reload
        .after
        .iter()
        .position(|(_, s)| *s == 200)
        .unwrap_or(0);
    assert!(
        reload.after[first_ok..].iter().all(|(_, s)| *s == 200),
        "{reload:?}"
    );
    assert!(
        reload.after[..first_ok].iter().all(|(_, s)| *s == 503),
        "{reload:?}"
    );
    assert!(
        reload.reload_success >= 2,
        "a reload after each trap: {reload:?}"
    );
    assert_eq!(reload.reload_failure, 0, "{reload:?}");
    Ok(())
}
