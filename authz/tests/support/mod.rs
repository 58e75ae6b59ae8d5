//! The end-to-end stack: the Milo double, the authorizer binary (as built by cargo), a real
//! Envoy with `envoy/authz-test.yaml` and the built wasm filter, recording upstreams for
//! Activity and the Milo API server.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod milo;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use activity_e2e::envoy::{admin_get, render, template, Envoy};
use activity_e2e::recorder::{Recorded, Recorder};
use activity_e2e::tools;
use serde_json::Value;

use milo::{MiloDouble, AUTHORIZER_TOKEN};

/// The authorizer process; killed when dropped.
pub struct Authz {
    child: Child,
    pub grpc: String,
    pub metrics: String,
    log: PathBuf,
}

impl Authz {
    /// Start `activity-events-authz serve` against `milo_url` (plain HTTP, the authorizer's
    /// token) and wait for its addresses.
    pub fn start(dir: &std::path::Path, milo_url: &str, extra: &[&str]) -> Authz {
        Self::start_with_kubeconfig(dir, &token_kubeconfig(milo_url), extra)
    }

    pub fn start_with_kubeconfig(dir: &std::path::Path, kubeconfig: &str, extra: &[&str]) -> Authz {
        let path = dir.join("milo-kubeconfig");
        std::fs::write(&path, kubeconfig).unwrap();
        let kubeconfig = path;
        let log = dir.join("authz.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_activity-events-authz"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--metrics-listen", "127.0.0.1:0"])
            .arg("--milo-kubeconfig")
            .arg(&kubeconfig)
            .args(["--milo-timeout", "1s"])
            .args(extra)
            .env("RUST_LOG", "debug,kube=warn,hyper=warn,h2=warn,tower=warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start activity-events-authz");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addrs: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "authorizer did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Authz {
            child,
            grpc: addrs["grpc"].as_str().unwrap().to_owned(),
            metrics: addrs["metrics"].as_str().unwrap().to_owned(),
            log,
        }
    }

    pub fn port(&self) -> u16 {
        self.grpc.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn metrics_text(&self) -> String {
        admin_get(&self.metrics, "/metrics").unwrap()
    }

    /// One sample's value (`name{labels}` exactly as exposed), 0 when absent.
    pub fn metric(&self, sample: &str) -> f64 {
        self.metrics_text()
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// Ask it to stop as Kubernetes does, and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Authz {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("authorizer log:\n{}", self.log());
        }
    }
}

/// A kubeconfig for a plain-HTTP Milo, authenticating with the authorizer's token.
pub fn token_kubeconfig(milo_url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: milo
  cluster: {{ server: \"{milo_url}\" }}
users:
- name: authorizer
  user: {{ token: {AUTHORIZER_TOKEN} }}
contexts:
- name: milo
  context: {{ cluster: milo, user: authorizer }}
current-context: milo
"
    )
}

pub struct Stack {
    pub milo: MiloDouble,
    pub activity: Recorder,
    pub milo_api: Recorder,
    pub authz: Authz,
    pub envoy: Envoy,
    http: reqwest::Client,
}

/// A reply as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Stack {
    /// Everything started and ready; `name` names the run directory.
    pub async fn start(name: &str, authz_args: &[&str]) -> Stack {
        tools::install_crypto_provider();
        let dir = tools::run_dir(name).unwrap();
        let milo = MiloDouble::start().await;
        let activity = Recorder::start("activity").await.unwrap();
        let milo_api = Recorder::start("milo").await.unwrap();
        let authz = Authz::start(&dir, &milo.url(), authz_args);
        let config = render(
            &template("authz-test.yaml").unwrap(),
            &[
                ("FILTER_CONFIG", "{}".into()),
                ("WASM", tools::filter_wasm().unwrap().display().to_string()),
                ("AUTHZ_PORT", authz.port().to_string()),
                ("ACTIVITY_PORT", activity.port().to_string()),
                ("MILO_PORT", milo_api.port().to_string()),
                ("BYPASS_USERINFO_B64", bypass_userinfo()),
            ],
        )
        .unwrap();
        let envoy = tokio::task::spawn_blocking(move || Envoy::start(&dir, &config))
            .await
            .unwrap()
            .unwrap();
        Stack {
            milo,
            activity,
            milo_api,
            authz,
            envoy,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    pub async fn send(
        &self,
        listener: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{}{path}", self.envoy.url(listener).unwrap());
        let mut req = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        Reply {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    }

    pub async fn get(&self, listener: &str, path: &str, token: Option<&str>) -> Reply {
        self.send(listener, "GET", path, token, &[], None).await
    }

    /// What Activity received since the last call (and forget it).
    pub fn take_activity(&self) -> Vec<Recorded> {
        let r = self.activity.records();
        self.activity.clear();
        r
    }

    pub fn take_milo_api(&self) -> Vec<Recorded> {
        let r = self.milo_api.records();
        self.milo_api.clear();
        r
    }
}

/// The identity the `bypass` listener puts into the metadata: an Organization `acme` user.
pub fn bypass_userinfo() -> String {
    use base64::Engine;
    let json = user(
        "mallory@acme.example",
        &["system:authenticated"],
        serde_json::json!({
            "iam.miloapis.com/parent-type": ["Organization"],
            "iam.miloapis.com/parent-name": ["acme"],
            "iam.miloapis.com/parent-api-group": ["resourcemanager.miloapis.com"],
        }),
    );
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

/// A UserInfo as Milo's TokenReview returns it.
pub fn user(name: &str, groups: &[&str], extra: Value) -> Value {
    serde_json::json!({
        "username": name,
        "uid": format!("{name}-uid"),
        "groups": groups,
        "extra": extra,
    })
}
