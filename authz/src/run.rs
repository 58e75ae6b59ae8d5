//! The command line: `activity-events-authz serve --listen ADDR --milo-kubeconfig FILE ...`.
//! In the library so test harnesses can build the same binary without a nested cargo build.

use std::sync::Arc;

use crate::authorizer::Authorizer;
use crate::cli::{Cli, Command, LogFormat, Serve};
use crate::metrics::Metrics;
use crate::milo::KubeReviewer;
use crate::server;
use anyhow::Context as _;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn init_logging(format: LogFormat) {
    // Client libraries log requests at debug; keep them quiet unless asked for by name.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube=warn,hyper=warn,h2=warn,tower=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(args: Serve) -> anyhow::Result<()> {
    let reviewer = KubeReviewer::from_kubeconfig(
        &args.milo_kubeconfig,
        args.milo_context.clone(),
        args.milo_timeout,
    )
    .await?;
    let metrics = Metrics::new().context("metrics")?;
    let authorizer = Arc::new(Authorizer::new(reviewer, args.settings(), metrics));
    let grpc = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("listen on {addr}"))?,
        ),
        None => None,
    };
    let grpc_addr = grpc.local_addr()?;
    let metrics_addr = metrics_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    tracing::info!(
        grpc = %grpc_addr,
        metrics = metrics_addr.map(|a| a.to_string()).unwrap_or_default(),
        "serving"
    );
    // The bound addresses, for whoever started us with port 0 (tests, scripts).
    println!(
        "{}",
        serde_json::json!({
            "grpc": grpc_addr.to_string(),
            "metrics": metrics_addr.map(|a| a.to_string()),
        })
    );
    server::serve(authorizer, grpc, metrics_listener, server::termination()).await
}

/// Parse the command line and run it to the end.
pub async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
    init_logging(args.log_format);
    match serve(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
