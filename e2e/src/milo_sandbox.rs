//! The default sandbox, as Milo runs it: a real Envoy with ext_authz to the authorizer
//! (in process), the authorizer reviewing with the Milo stand-in (in process, HTTPS), the built
//! filter, and the Activity stand-in behind mTLS; a kubeconfig whose contexts point where Milo's
//! real ones do.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use activity_events_authz::authorizer::{Authorizer, Settings};
use activity_events_authz::metrics::Metrics;
use activity_events_authz::milo::KubeReviewer;
use anyhow::{Context, Result};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::envoy::{render, template, Envoy};
use crate::sandbox::{kubectl_command, stdout_of};
use crate::tools;

pub const ORG_PATH: &str =
    "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane";
pub const PROJECT_PATH: &str =
    "/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane";
pub const USER_PATH: &str = "/apis/iam.miloapis.com/v1alpha1/users/uid-alice/control-plane";

/// The kubeconfig contexts: (context, sandbox user, server path).
pub const CONTEXTS: [(&str, &str, &str); 5] = [
    ("admin", "admin", ""),
    ("org", "alice", ORG_PATH),
    ("project", "bob", PROJECT_PATH),
    ("user", "alice", USER_PATH),
    ("intruder", "eve", PROJECT_PATH),
];

/// Variations of the sandbox for tests that need them.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Envoy's `normalize_path` and `merge_slashes` (on in every shipped config); off, the
    /// filter sees paths exactly as clients sent them.
    pub normalize_path: bool,
    /// More Milo users: (name, username, uid, groups). Their tokens come from [`MiloSandbox::token`].
    pub extra_users: Vec<(String, String, String, Vec<String>)>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            normalize_path: true,
            extra_users: Vec::new(),
        }
    }
}

pub struct MiloSandbox {
    pub dir: PathBuf,
    pub activity: activity_standin::Handle,
    pub milo: Option<milo_standin::Handle>,
    pub envoy: Envoy,
    pub kubeconfig: PathBuf,
    milo_files: milo_standin::SandboxFiles,
    extra_tokens: Vec<(String, String)>,
    authz_stop: Option<oneshot::Sender<()>>,
    front_ca: PathBuf,
    http: reqwest::Client,
}

impl MiloSandbox {
    /// `activity_prefix`: the filter's prefix and the Activity stand-in's (`/api/v1` is the
    /// standard-paths mode production runs).
    pub async fn start(name: &str, activity_prefix: &str) -> Result<MiloSandbox> {
        Self::start_with(name, activity_prefix, SandboxOptions::default()).await
    }

    pub async fn start_with(
        name: &str,
        activity_prefix: &str,
        options: SandboxOptions,
    ) -> Result<MiloSandbox> {
        tools::install_crypto_provider();
        let dir = tools::run_dir(name)?;
        let activity_certs =
            activity_standin::generate_certs(&dir.join("certs/activity"), "activity.local", false)?;
        let front = activity_standin::generate_certs(&dir.join("certs/front"), "localhost", false)?;
        let milo_certs =
            activity_standin::generate_certs(&dir.join("certs/milo"), "localhost", false)?;

        let mut config = activity_standin::Config::new(&activity_certs);
        config.prefix = activity_prefix.to_owned();
        let activity = activity_standin::start(config).await?;

        let (mut milo_config, milo_files) = milo_standin::Config::sandbox(&dir.join("milo"))?;
        let mut extra_tokens = Vec::new();
        if !options.extra_users.is_empty() {
            // The token file format kube-apiserver reads: token,user,uid,"groups".
            let mut csv = std::fs::read_to_string(&milo_files.tokens)?;
            for (i, (name, user, uid, groups)) in options.extra_users.iter().enumerate() {
                let token = format!("extra{i:04}{}", "0".repeat(40));
                csv.push_str(&format!("{token},{user},{uid},\"{}\"\n", groups.join(",")));
                extra_tokens.push((name.clone(), token));
            }
            milo_config.tokens =
                milo_standin::TokenTable::from_reader(csv.as_bytes(), "tokens.csv")?;
        }
        let milo = milo_standin::start(milo_config.with_tls(milo_standin::TlsFiles {
            cert: milo_certs.server.clone(),
            key: milo_certs.server_key.clone(),
            client_ca: None,
        }))
        .await?;

        // The authorizer reaches Milo as its reviewer identity.
        let authz_kubeconfig = dir.join("authz-kubeconfig");
        let authz_token = milo_files
            .token_file("authz")
            .context("no authz token file")?;
        std::fs::write(
            &authz_kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: milo\n  cluster:\n    server: https://localhost:{}\n    certificate-authority: {}\nusers:\n- name: authz\n  user:\n    tokenFile: {}\ncontexts:\n- name: milo\n  context: {{ cluster: milo, user: authz }}\ncurrent-context: milo\n",
                milo.main_addr().port(),
                milo_certs.ca.display(),
                authz_token.display()
            ),
        )?;
        let reviewer =
            KubeReviewer::from_kubeconfig(&authz_kubeconfig, None, Duration::from_secs(3)).await?;
        let authorizer = Arc::new(Authorizer::new(
            reviewer,
            Settings::default(),
            Metrics::new()?,
        ));
        let grpc = TcpListener::bind("127.0.0.1:0").await?;
        let authz_port = grpc.local_addr()?.port();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            if let Err(e) =
                activity_events_authz::server::serve(authorizer, grpc, None, shutdown).await
            {
                eprintln!("authorizer stopped: {e:#}");
            }
        });

        let filter_config = json!({
            "activity_prefix": activity_prefix,
            "identity": { "metadata_namespace": "envoy.filters.http.ext_authz", "userinfo": "userinfo" }
        })
        .to_string();
        let p = |p: &Path| p.display().to_string();
        let rendered = render(
            &template("sandbox.yaml")?,
            &[
                ("LISTEN_ADDRESS", "127.0.0.1".into()),
                ("LISTEN_PORT", "0".into()),
                ("FRONT_CERT", p(&front.server)),
                ("FRONT_KEY", p(&front.server_key)),
                ("WASM", p(&tools::filter_wasm()?)),
                ("FILTER_CONFIG", filter_config),
                ("AUTHZ_HOST", "127.0.0.1".into()),
                ("AUTHZ_PORT", authz_port.to_string()),
                ("MILO_HOST", "127.0.0.1".into()),
                ("MILO_PORT", milo.main_addr().port().to_string()),
                ("MILO_SNI", "localhost".into()),
                ("MILO_CA", p(&milo_certs.ca)),
                ("ACTIVITY_HOST", "127.0.0.1".into()),
                ("ACTIVITY_PORT", activity.main_addr().port().to_string()),
                ("ACTIVITY_SNI", "activity.local".into()),
                ("ACTIVITY_CA", p(&activity_certs.ca)),
                ("CLIENT_CERT", p(&activity_certs.client)),
                ("CLIENT_KEY", p(&activity_certs.client_key)),
                ("REQUEST_TIMEOUT", "30s".into()),
                ("PER_TRY_TIMEOUT", "10s".into()),
                (
                    "DISCOVERY_DIR",
                    p(&tools::repo_root().join("envoy/discovery")),
                ),
            ],
        )?;
        let rendered = if options.normalize_path {
            rendered
        } else {
            let mut off = rendered;
            for (on, no) in [
                ("normalize_path: true", "normalize_path: false"),
                ("merge_slashes: true", "merge_slashes: false"),
            ] {
                anyhow::ensure!(off.contains(on), "sandbox.yaml no longer sets {on}");
                off = off.replace(on, no);
            }
            off
        };
        let envoy_dir = dir.clone();
        let envoy =
            tokio::task::spawn_blocking(move || Envoy::start(&envoy_dir, &rendered)).await??;
        let port = envoy.port("sandbox")?;
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(port, &front.ca, &milo_files)?)?;
        let tls = activity_standin::client_config(&front.ca, None)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .build()?;
        Ok(MiloSandbox {
            dir,
            activity,
            milo: Some(milo),
            envoy,
            kubeconfig,
            milo_files,
            extra_tokens,
            authz_stop: Some(stop_tx),
            front_ca: front.ca,
            http,
        })
    }

    /// `https://localhost:PORT{path}` of the sandbox listener.
    pub fn url(&self, path: &str) -> Result<String> {
        Ok(format!(
            "https://localhost:{}{path}",
            self.envoy.port("sandbox")?
        ))
    }

    /// An HTTPS client that trusts the sandbox listener (add a bearer token).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn front_ca(&self) -> &Path {
        &self.front_ca
    }

    /// The bearer token of a sandbox user (admin, alice, bob, eve).
    pub fn token(&self, user: &str) -> Result<String> {
        if let Some((_, t)) = self.extra_tokens.iter().find(|(n, _)| n == user) {
            return Ok(t.clone());
        }
        self.milo_files.token(user)
    }

    pub fn milo(&self) -> Result<&milo_standin::Handle> {
        self.milo.as_ref().context("the Milo stand-in was stopped")
    }

    /// Take Milo away (the authorizer then cannot review anything).
    pub async fn stop_milo(&mut self) {
        if let Some(m) = self.milo.take() {
            m.shutdown().await;
        }
    }

    /// Run the real kubectl with the sandbox kubeconfig as `context`.
    pub async fn kubectl(&self, context: &str, args: &[&str]) -> Result<Output> {
        let mut cmd = kubectl_command(&self.kubeconfig, &self.dir, context, args)?;
        Ok(cmd.stdin(std::process::Stdio::null()).output().await?)
    }

    /// kubectl that must succeed; returns stdout.
    pub async fn kubectl_ok(&self, context: &str, args: &[&str]) -> Result<String> {
        stdout_of(context, args, self.kubectl(context, args).await?)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.authz_stop.take() {
            let _ = stop.send(());
        }
        self.stop_milo().await;
    }
}

impl Drop for MiloSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.authz_stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One cluster, user and context per entry of [`CONTEXTS`].
fn kubeconfig_yaml(port: u16, ca: &Path, files: &milo_standin::SandboxFiles) -> Result<String> {
    let (mut clusters, mut users, mut contexts) = (String::new(), String::new(), String::new());
    for (ctx, user, path) in CONTEXTS {
        let token = files
            .token_file(user)
            .with_context(|| format!("no token file for {user}"))?;
        clusters.push_str(&format!(
            "- name: {ctx}\n  cluster:\n    server: https://localhost:{port}{path}\n    certificate-authority: {}\n",
            ca.display()
        ));
        users.push_str(&format!(
            "- name: {ctx}\n  user:\n    tokenFile: {}\n",
            token.display()
        ));
        contexts.push_str(&format!(
            "- name: {ctx}\n  context:\n    cluster: {ctx}\n    user: {ctx}\n    namespace: default\n"
        ));
    }
    Ok(format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}users:\n{users}contexts:\n{contexts}current-context: admin\n"
    ))
}
