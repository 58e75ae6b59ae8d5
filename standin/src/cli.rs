//! The `activity-standin` command line: run the in-memory Activity API stand-in, or generate
//! the sandbox PKI and tokens. Shared by the binary and by the end-to-end tests' copy of it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "activity-standin",
    version,
    about = "In-memory stand-in for the Activity API server (tests and local runs only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the events API over mTLS, plus the loopback admin API.
    Serve {
        /// Main (mTLS) address; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Admin (plain HTTP) address; must be loopback; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        admin_listen: SocketAddr,
        /// Server certificate (PEM).
        #[arg(long)]
        tls_cert: PathBuf,
        /// Server private key (PEM).
        #[arg(long)]
        tls_key: PathBuf,
        /// CA (PEM) that must have signed client certificates.
        #[arg(long)]
        client_ca: PathBuf,
        /// URL prefix of the events resource; `/api/v1` serves apiVersion v1 and, from the same
        /// store, events.k8s.io/v1 at `/apis/events.k8s.io/v1` ("standard paths").
        #[arg(long, default_value = crate::DEFAULT_PREFIX)]
        prefix: String,
        /// Period of BOOKMARK events on watches with allowWatchBookmarks=true.
        #[arg(long, default_value_t = 1000)]
        bookmark_interval_ms: u64,
        /// Only trust X-Remote-* headers from clients with this certificate CN (repeatable).
        #[arg(long = "allowed-client-name")]
        allowed_client_names: Vec<String>,
        /// Log every request and refused TLS handshake to stderr.
        #[arg(long)]
        verbose: bool,
    },
    /// Generate the sandbox JWT signing key, jwks.json and admin/org/project .token files.
    Tokens {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Replace the signing key.
        #[arg(long)]
        force: bool,
        /// Token lifetime in seconds.
        #[arg(long, default_value_t = 30 * 24 * 3600)]
        valid_secs: u64,
    },
    /// Generate ca.pem, ca-key.pem, server.pem, server-key.pem, client.pem, client-key.pem.
    Certs {
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Extra DNS SAN (and CN) for the server certificate.
        #[arg(long, default_value = "activity")]
        name: String,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Parse the process arguments and run the command.
pub async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Tokens {
            out,
            force,
            valid_secs,
        } => {
            let p = crate::generate_tokens(&out, force, valid_secs)?;
            println!(
                "tokens for {} in {} (JWKS {})",
                p.tokens
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                out.display(),
                p.jwks.display()
            );
            Ok(())
        }
        Command::Certs { out, name, force } => {
            let p = crate::generate_certs(&out, &name, force)?;
            println!("certificates in {} (CA {})", out.display(), p.ca.display());
            Ok(())
        }
        Command::Serve {
            listen,
            admin_listen,
            tls_cert,
            tls_key,
            client_ca,
            prefix,
            bookmark_interval_ms,
            allowed_client_names,
            verbose,
        } => {
            let config = crate::Config {
                listen,
                admin_listen,
                tls_cert,
                tls_key,
                client_ca,
                prefix,
                bookmark_interval: Duration::from_millis(bookmark_interval_ms),
                allowed_client_names,
                verbose,
            };
            let handle = crate::start(config).await?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "READY main={} admin={}",
                handle.main_addr(),
                handle.admin_addr()
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
