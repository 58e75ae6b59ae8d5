//! The local sandbox as the tests use it: the Activity stand-in (in process), a real Envoy with
//! the built filter and `jwt_authn` (envoy/sandbox-jwt.yaml), minted tokens for the three sandbox
//! users, and a kubeconfig with a context per user for the real kubectl.

use std::path::{Path, PathBuf};
use std::process::Output;

use activity_standin::{CertPaths, Handle};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::envoy::{render, template, Envoy};
use crate::tools;

pub const ACTIVITY_PREFIX: &str = "/apis/activity.miloapis.com/v1alpha1";

/// How a sandbox differs from the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// The filter's `activity_prefix`, and the stand-in's prefix.
    pub prefix: String,
    pub request_timeout: String,
    pub per_try_timeout: String,
    /// Make the stand-in trust a CA that did not sign Envoy's client certificate.
    pub standin_trusts_other_ca: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prefix: ACTIVITY_PREFIX.into(),
            request_timeout: "30s".into(),
            per_try_timeout: "10s".into(),
            standin_trusts_other_ca: false,
        }
    }
}

pub struct Sandbox {
    pub dir: PathBuf,
    pub standin: Handle,
    pub envoy: Envoy,
    pub kubeconfig: PathBuf,
    front: CertPaths,
    http: reqwest::Client,
}

/// The filter configuration used by the sandbox for a given prefix.
pub fn filter_config(prefix: &str) -> String {
    json!({
        "activity_prefix": prefix,
        "identity": {
            "metadata_namespace": "envoy.filters.http.jwt_authn",
            "user": ["jwt_payload", "sub"],
            "uid": ["jwt_payload", "uid"],
            "groups": ["jwt_payload", "groups"],
            "extra": ["jwt_payload", "extra"],
            "userinfo": ["jwt_payload", "userinfo"]
        }
    })
    .to_string()
}

impl Sandbox {
    pub async fn start(name: &str, options: Options) -> Result<Sandbox> {
        tools::install_crypto_provider();
        let dir = tools::run_dir(name)?;
        let activity =
            activity_standin::generate_certs(&dir.join("certs/activity"), "activity.local", false)?;
        let front = activity_standin::generate_certs(&dir.join("certs/front"), "localhost", false)?;
        let tokens = activity_standin::generate_tokens(&dir.join("tokens"), false, 3600)?;

        let mut config = activity_standin::Config::new(&activity);
        config.prefix = options.prefix.clone();
        if options.standin_trusts_other_ca {
            let other = activity_standin::generate_certs(&dir.join("certs/other"), "other", false)?;
            config.client_ca = other.ca;
        }
        let standin = activity_standin::start(config).await?;

        let rendered = render(
            &template("sandbox-jwt.yaml")?,
            &[
                ("LISTEN_ADDRESS", "127.0.0.1".into()),
                ("LISTEN_PORT", "0".into()),
                ("FRONT_CERT", path(&front.server)),
                ("FRONT_KEY", path(&front.server_key)),
                ("JWKS", path(&tokens.jwks)),
                ("WASM", path(&tools::filter_wasm()?)),
                ("FILTER_CONFIG", filter_config(&options.prefix)),
                ("ACTIVITY_HOST", "127.0.0.1".into()),
                ("ACTIVITY_PORT", standin.main_addr().port().to_string()),
                ("ACTIVITY_SNI", "activity.local".into()),
                ("ACTIVITY_CA", path(&activity.ca)),
                ("CLIENT_CERT", path(&activity.client)),
                ("CLIENT_KEY", path(&activity.client_key)),
                ("REQUEST_TIMEOUT", options.request_timeout.clone()),
                ("PER_TRY_TIMEOUT", options.per_try_timeout.clone()),
                (
                    "DISCOVERY_DIR",
                    path(&tools::repo_root().join("envoy/discovery")),
                ),
            ],
        )?;
        let envoy_dir = dir.clone();
        let envoy =
            tokio::task::spawn_blocking(move || Envoy::start(&envoy_dir, &rendered)).await??;
        let port = envoy.port("sandbox")?;
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            kubeconfig_yaml(port, &front.ca, &tokens.tokens),
        )?;
        let tls = activity_standin::client_config(&front.ca, None)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .build()?;
        Ok(Sandbox {
            dir,
            standin,
            envoy,
            kubeconfig,
            front,
            http,
        })
    }

    /// `https://localhost:PORT` of the sandbox listener.
    pub fn url(&self) -> Result<String> {
        Ok(format!("https://localhost:{}", self.envoy.port("sandbox")?))
    }

    /// An HTTPS client that trusts the sandbox listener (no identity: add a bearer token).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn token(&self, user: &str) -> Result<String> {
        Ok(std::fs::read_to_string(
            self.dir.join("tokens").join(format!("{user}.token")),
        )?)
    }

    pub fn front_ca(&self) -> &Path {
        &self.front.ca
    }

    /// Run the real kubectl with the sandbox kubeconfig as `context` (admin, org, project).
    pub async fn kubectl(&self, context: &str, args: &[&str]) -> Result<Output> {
        kubectl_command(&self.kubeconfig, &self.dir, context, args)?
            .output()
            .await
            .map_err(Into::into)
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn kubectl_ok(&self, context: &str, args: &[&str]) -> Result<String> {
        stdout_of(context, args, self.kubectl(context, args).await?)
    }

    /// kubectl with a manifest on stdin.
    pub async fn kubectl_stdin(&self, context: &str, args: &[&str], input: &str) -> Result<Output> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = kubectl_command(&self.kubeconfig, &self.dir, context, args)?;
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).await?;
        }
        Ok(child.wait_with_output().await?)
    }

    /// Requests the stand-in received, through its admin API.
    pub async fn received(&self) -> Result<Vec<Value>> {
        self.admin_json(reqwest::Method::GET, "/requests", None)
            .await?
            .as_array()
            .cloned()
            .context("requests is not an array")
    }

    /// Event requests the stand-in received (under the events prefix).
    pub async fn received_events(&self) -> Result<Vec<Value>> {
        Ok(self
            .received()
            .await?
            .into_iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.contains("/events")))
            .collect())
    }

    pub async fn clear_received(&self) -> Result<()> {
        self.admin_json(reqwest::Method::DELETE, "/requests", None)
            .await?;
        Ok(())
    }

    /// Everything the stand-in stores, ignoring scope.
    pub async fn stored(&self) -> Result<Vec<Value>> {
        self.admin_json(reqwest::Method::GET, "/events", None)
            .await?
            .as_array()
            .cloned()
            .context("events is not an array")
    }

    pub async fn fault(&self, spec: Value) -> Result<()> {
        self.admin_json(reqwest::Method::POST, "/faults", Some(spec))
            .await?;
        Ok(())
    }

    async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("http://{}{path}", self.standin.admin_addr());
        let mut req = reqwest::Client::new().request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("stand-in admin {path}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// The real kubectl with a sandbox's kubeconfig as `context`, its discovery cache in `dir`.
pub fn kubectl_command(
    kubeconfig: &Path,
    dir: &Path,
    context: &str,
    args: &[&str],
) -> Result<tokio::process::Command> {
    let mut cmd = tokio::process::Command::new(tools::kubectl_bin()?);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--context")
        .arg(context)
        .arg("--cache-dir")
        .arg(dir.join("kube-cache"))
        .args(args)
        .kill_on_drop(true);
    Ok(cmd)
}

/// kubectl's stdout, or an error with what it printed when it failed.
pub fn stdout_of(context: &str, args: &[&str], out: Output) -> Result<String> {
    if !out.status.success() {
        bail!(
            "kubectl --context {context} {} failed: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A kubeconfig with one context per sandbox user, each with its own bearer token file.
pub fn kubeconfig_yaml(port: u16, ca: &Path, tokens: &[(String, PathBuf)]) -> String {
    let mut users = String::new();
    let mut contexts = String::new();
    for (name, token) in tokens {
        users.push_str(&format!(
            "- name: {name}\n  user:\n    tokenFile: {}\n",
            token.display()
        ));
        contexts.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: sandbox\n    user: {name}\n    namespace: default\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sandbox\n  cluster:\n    server: https://localhost:{port}\n    certificate-authority: {}\nusers:\n{users}contexts:\n{contexts}current-context: admin\n",
        ca.display()
    )
}
