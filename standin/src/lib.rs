//! In-memory stand-in for the Activity API server. Test and local-run use only.
//!
//! The real Activity server stores Kubernetes Events in ClickHouse; this one keeps them in memory
//! and serves the same `events` resource over mTLS, trusting the front-proxy `X-Remote-*`
//! headers the Envoy filter sets. A second, plain-HTTP loopback port exposes test controls:
//! recorded requests, fault injection, the store's contents and reset (see README.md).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let dir = std::path::Path::new("/tmp/standin-certs");
//! let certs = activity_standin::generate_certs(dir, "activity", false)?;
//! let handle = activity_standin::start(activity_standin::Config::new(&certs)).await?;
//! println!("main={} admin={}", handle.main_addr(), handle.admin_addr());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```

// A bad request must never take the server down: request paths return Status errors instead.
#![deny(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod api;
mod certs;
pub mod cli;
mod codec;
mod conversion;
mod faults;
mod fields;
mod gojson;
mod identity;
mod managed;
mod misbehave;
mod model;
mod negotiate;
mod pagination;
mod patch;
mod recorder;
mod repr;
mod resource;
mod respond;
mod scope;
mod selector;
mod server;
mod status;
mod store;
mod table;
mod tls;
mod tokens;
mod validation;
mod watch;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch as watch_channel;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use certs::{generate_certs, CertPaths, CLIENT_CN};
pub use faults::{FaultAction, FaultSpec, Phase};
pub use recorder::RecordedRequest;
pub use tls::{client_config, server_name};
pub use tokens::{
    generate_tokens, SandboxUser, TokenPaths, SANDBOX_AUDIENCE, SANDBOX_ISSUER, SANDBOX_USERS,
};

/// Default URL prefix of the served `events` resource.
pub const DEFAULT_PREFIX: &str = "/apis/activity.miloapis.com/v1alpha1";

/// How to run the stand-in.
#[derive(Debug, Clone)]
pub struct Config {
    /// Main (mTLS) listen address; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Admin (plain HTTP) listen address; must be a loopback address.
    pub admin_listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// CA that must have signed every client certificate.
    pub client_ca: PathBuf,
    /// `/apis/{group}/{version}` or `/api/v1` ("standard paths" mode, apiVersion `v1`).
    pub prefix: String,
    /// Period of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Client certificate CNs allowed to assert X-Remote-* identities; empty allows any.
    pub allowed_client_names: Vec<String>,
    /// Log each request and refused handshake to stderr.
    pub verbose: bool,
}

impl Config {
    /// Both ports on 127.0.0.1:0, the default prefix, 1 s bookmarks, using `certs`.
    pub fn new(certs: &CertPaths) -> Self {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            listen: any,
            admin_listen: any,
            tls_cert: certs.server.clone(),
            tls_key: certs.server_key.clone(),
            client_ca: certs.ca.clone(),
            prefix: DEFAULT_PREFIX.to_string(),
            bookmark_interval: Duration::from_secs(1),
            allowed_client_names: Vec::new(),
            verbose: false,
        }
    }
}

/// A running stand-in. Dropping it stops the servers too; `shutdown` also waits for them.
pub struct Handle {
    main_addr: SocketAddr,
    admin_addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: watch_channel::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Handle {
    pub fn main_addr(&self) -> SocketAddr {
        self.main_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The served URL prefix, e.g. `/apis/activity.miloapis.com/v1alpha1`.
    pub fn prefix(&self) -> &str {
        &self.shared.api.res.prefix
    }

    /// `apiVersion` of stored objects.
    pub fn api_version(&self) -> String {
        self.shared.api.res.api_version()
    }

    /// Requests received on the main port so far (same as `GET /requests`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.all()
    }

    /// Every stored event, ignoring scope (same as `GET /events`).
    pub fn events(&self) -> Vec<Value> {
        self.shared.api.stored_json()
    }

    /// Queues a fault (same as `POST /faults`).
    pub fn push_fault(&self, fault: FaultSpec) -> anyhow::Result<()> {
        fault.validate().map_err(anyhow::Error::msg)?;
        self.shared.faults.push(fault);
        Ok(())
    }

    /// Makes the faults given a `rate` strike the same requests on every run.
    pub fn seed_faults(&self, seed: u64) {
        self.shared.faults.seed(seed);
    }

    /// Drops every pending fault, queued or with a rate (same as `DELETE /faults`).
    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// How many requests got each fault so far (`reset`, `reset-after`, `cut`, ...).
    pub fn faults_applied(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.faults.applied()
    }

    /// Clears store, history, recorded requests and faults (same as `POST /reset`).
    pub fn reset(&self) {
        self.shared.api.store.reset();
        self.shared.recorder.clear();
        self.shared.faults.clear();
    }

    /// Stops accepting, closes open connections and waits for the servers to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.shared.api.store.reset_watchers();
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.shared.api.store.reset_watchers();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds both ports and starts serving; returns once both are listening.
pub async fn start(config: Config) -> anyhow::Result<Handle> {
    anyhow::ensure!(
        config.admin_listen.ip().is_loopback(),
        "the admin port must listen on a loopback address, got {}",
        config.admin_listen
    );
    let res = resource::Resource::from_prefix(&config.prefix)?;
    let tls = tls::server_config(&config.tls_cert, &config.tls_key, &config.client_ca)?;
    let main = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let admin = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding {}", config.admin_listen))?;
    let main_addr = main.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let shared = Arc::new(server::Shared {
        api: api::Api::new(Arc::new(store::Store::new()), res, config.bookmark_interval),
        recorder: recorder::Recorder::default(),
        faults: faults::Faults::default(),
        misbehave: misbehave::Misbehave::default(),
        allowed_names: config.allowed_client_names.clone(),
        verbose: config.verbose,
    });
    let (stop, stopped) = watch_channel::channel(false);
    let tasks = vec![
        tokio::spawn(server::serve_main(
            main,
            TlsAcceptor::from(tls),
            shared.clone(),
            stopped.clone(),
        )),
        tokio::spawn(admin::serve_admin(
            admin,
            shared.clone(),
            admin::Info {
                main_addr,
                admin_addr,
            },
            stopped,
        )),
    ];
    Ok(Handle {
        main_addr,
        admin_addr,
        shared,
        stop,
        tasks,
    })
}
