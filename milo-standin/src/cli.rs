//! The `milo-standin` command line.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "milo-standin",
    version,
    about = "Stand-in for the Milo API server: TokenReview, SubjectAccessReview, discovery (tests and local runs only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start-up: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serve the API (HTTPS with --tls-cert/--tls-key, else plain HTTP) and the admin port.
    Serve {
        /// Main address; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Admin (plain HTTP) address; must be loopback; port 0 picks a free port.
        #[arg(long = "admin", alias = "admin-listen", default_value = "127.0.0.1:0")]
        admin: SocketAddr,
        /// Token file, kube-apiserver's --token-auth-file CSV: token,user,uid,"group1,group2".
        #[arg(long)]
        tokens: PathBuf,
        /// Policy file (JSON, see README.md).
        #[arg(long)]
        policy: PathBuf,
        /// Server certificate (PEM); with --tls-key, serve HTTPS.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// Server private key (PEM).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// CA (PEM) for client certificates (CN = user, O = groups); needs --tls-cert.
        #[arg(long, requires = "tls_cert")]
        client_ca: Option<PathBuf>,
        /// Namespace listed by GET /api/v1/namespaces (repeatable; default: default,
        /// kube-node-lease, kube-public, kube-system).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
        /// kube-apiserver --api-audiences for TokenReviews (repeatable).
        #[arg(long = "api-audience")]
        api_audiences: Vec<String>,
        /// Log every request and refused TLS handshake to stderr.
        #[arg(long)]
        verbose: bool,
    },
    /// Write tokens.csv (random tokens, kept across runs), policy.json and <user>.token for the
    /// sandbox users admin, alice, bob, eve and authz.
    SandboxFiles {
        /// Directory to write into (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// Replace existing tokens.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::SandboxFiles { dir, force } => {
            let f = crate::write_sandbox_files(&dir, force)?;
            println!(
                "wrote {} and {} and tokens for {} in {}",
                f.tokens.display(),
                f.policy.display(),
                f.token_files
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                dir.display()
            );
            Ok(())
        }
        Command::Serve {
            listen,
            admin,
            tokens,
            policy,
            tls_cert,
            tls_key,
            client_ca,
            namespaces,
            api_audiences,
            verbose,
        } => {
            let mut config = crate::Config::from_files(&tokens, &policy)?;
            config.listen = listen;
            config.admin_listen = admin;
            if !namespaces.is_empty() {
                config.namespaces = namespaces;
            }
            config.api_audiences = api_audiences;
            config.verbose = verbose;
            if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
                config = config.with_tls(crate::TlsFiles {
                    cert,
                    key,
                    client_ca,
                });
            }
            let handle = crate::start(config).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "READY main={} admin={}",
                handle.url(),
                handle.admin_url()
            )?;
            out.flush()?;
            drop(out);
            wait_for_signal().await?;
            handle.shutdown().await;
            Ok(())
        }
    }
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
