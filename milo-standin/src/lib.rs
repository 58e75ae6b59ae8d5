//! Stand-in for the Milo API server, for the sandbox, the end-to-end tests and the compose
//! topology. Test and local-run use only.
//!
//! It answers what the Activity events authorizer and the sidecar's non-event traffic need
//! from Milo: `TokenReview` from a kube-apiserver token file, `SubjectAccessReview` from a
//! small policy file, discovery and OpenAPI at the root and under every control-plane prefix
//! (read the way Milo reads them), and `namespaces` reads. Everything else, Event requests in
//! particular, is recorded and answered 404: tests assert on the request log that no Event
//! request ever reaches Milo. A loopback admin port exposes the log and review faults.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let files = milo_standin::write_sandbox_files(std::path::Path::new("/tmp/milo"), false)?;
//! let config = milo_standin::Config::from_files(&files.tokens, &files.policy)?;
//! let handle = milo_standin::start(config).await?;
//! println!("main={} admin={}", handle.url(), handle.admin_addr());
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod admin;
mod authn;
mod classify;
pub mod cli;
mod discovery;
mod faults;
mod namespaces;
mod negotiate;
mod openapi;
mod parent;
mod path;
mod policy;
mod recorder;
mod respond;
mod reviews;
mod sandbox;
mod server;
mod status;
mod tls;
mod tokens;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use faults::{FaultAction, FaultSpec, FaultTarget};
pub use namespaces::DEFAULT_NAMESPACES;
pub use parent::{Parent, ParentKind, PARENT_API_GROUP_KEY, PARENT_NAME_KEY, PARENT_TYPE_KEY};
pub use policy::{Membership, Policy, Subjects, UserControlPlanes, EVENT_VERBS};
pub use recorder::{RecordedRequest, ReviewRecord};
pub use sandbox::{
    sandbox_policy, sandbox_user, write_sandbox_files, SandboxFiles, SandboxUser, AUTHORIZER_USER,
    SANDBOX_USERS,
};
pub use tokens::{TokenTable, UserInfo};

/// Server certificate, key and optional client CA for the main port.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Verifies client certificates (optional for clients: a bearer token also works).
    pub client_ca: Option<PathBuf>,
}

/// How to run the stand-in.
#[derive(Debug, Clone)]
pub struct Config {
    /// Main port; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Admin port (plain HTTP); must be loopback.
    pub admin_listen: SocketAddr,
    pub tokens: TokenTable,
    pub policy: Policy,
    /// `None`: plain HTTP (h1 and h2c), for tests.
    pub tls: Option<TlsFiles>,
    /// What `GET /api/v1/namespaces` lists (any DNS label answers a GET).
    pub namespaces: Vec<String>,
    /// kube-apiserver's `--api-audiences`; empty: TokenReviews are audience-agnostic.
    pub api_audiences: Vec<String>,
    /// Log every request to stderr.
    pub verbose: bool,
}

impl Config {
    /// Plain HTTP on 127.0.0.1:0 for both ports.
    pub fn new(tokens: TokenTable, policy: Policy) -> Self {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Config {
            listen: any,
            admin_listen: any,
            tokens,
            policy,
            tls: None,
            namespaces: DEFAULT_NAMESPACES.iter().map(|s| s.to_string()).collect(),
            api_audiences: Vec::new(),
            verbose: false,
        }
    }

    /// Loads the token CSV and the policy JSON.
    pub fn from_files(tokens: &Path, policy: &Path) -> anyhow::Result<Self> {
        Ok(Config::new(
            TokenTable::load(tokens)?,
            Policy::load(policy)?,
        ))
    }

    /// Writes (or reuses) the sandbox files in `dir` and loads them: the usual start for tests.
    pub fn sandbox(dir: &Path) -> anyhow::Result<(Self, SandboxFiles)> {
        let files = write_sandbox_files(dir, false)?;
        Ok((Config::from_files(&files.tokens, &files.policy)?, files))
    }

    pub fn with_tls(mut self, tls: TlsFiles) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// A running stand-in. Dropping it stops the servers; `shutdown` also waits for them.
pub struct Handle {
    main_addr: SocketAddr,
    admin_addr: SocketAddr,
    tls: bool,
    shared: Arc<server::Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Handle {
    pub fn main_addr(&self) -> SocketAddr {
        self.main_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `https://127.0.0.1:PORT` (or `http://`).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.main_addr)
    }

    /// `http://127.0.0.1:PORT` of the admin port.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin_addr)
    }

    /// Every request so far (same as `GET /requests` on the admin port).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.recorder.all()
    }

    /// Only the Event requests (same as `GET /requests/events`): in the product flow this
    /// must stay empty.
    pub fn event_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_event)
            .collect()
    }

    /// Only TokenReview and SubjectAccessReview requests.
    pub fn reviews(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.review.is_some())
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.recorder.clear();
    }

    /// Adds a fault (same as `POST /faults`).
    pub fn push_fault(&self, fault: FaultSpec) -> anyhow::Result<()> {
        fault.validate().map_err(anyhow::Error::msg)?;
        self.shared.faults.push(fault);
        Ok(())
    }

    pub fn clear_faults(&self) {
        self.shared.faults.clear();
    }

    /// Clears the request log and the faults (same as `POST /reset`).
    pub fn reset(&self) {
        self.shared.recorder.clear();
        self.shared.faults.clear();
    }

    /// Stops accepting, closes connections and waits for the servers to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds both ports and starts serving; returns once both listen.
pub async fn start(config: Config) -> anyhow::Result<Handle> {
    anyhow::ensure!(
        config.admin_listen.ip().is_loopback(),
        "the admin port must listen on a loopback address, got {}",
        config.admin_listen
    );
    let acceptor = match &config.tls {
        Some(t) => Some(TlsAcceptor::from(tls::server_config(
            &t.cert,
            &t.key,
            t.client_ca.as_deref(),
        )?)),
        None => None,
    };
    let openapi = openapi::OpenApi::build()?;
    let main = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let admin = TcpListener::bind(config.admin_listen)
        .await
        .with_context(|| format!("binding {}", config.admin_listen))?;
    let main_addr = main.local_addr()?;
    let admin_addr = admin.local_addr()?;
    let tls = acceptor.is_some();
    let shared = Arc::new(server::Shared {
        tokens: config.tokens,
        policy: config.policy,
        namespaces: namespaces::Namespaces::new(config.namespaces),
        openapi,
        recorder: recorder::Recorder::default(),
        faults: faults::Faults::default(),
        api_audiences: config.api_audiences,
        verbose: config.verbose,
    });
    let (stop, stopped) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(server::serve_main(
            main,
            acceptor,
            shared.clone(),
            stopped.clone(),
        )),
        tokio::spawn(admin::serve_admin(
            admin,
            shared.clone(),
            admin::Info {
                main_addr,
                admin_addr,
                tls,
            },
            stopped,
        )),
    ];
    Ok(Handle {
        main_addr,
        admin_addr,
        tls,
        shared,
        stop,
        tasks,
    })
}
