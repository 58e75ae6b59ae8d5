//! Running the authorizer: the ext_authz gRPC service (with gRPC health) on one listener, the
//! probes and metrics on another, both until shutdown.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use envoy_types::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::authorizer::Authorizer;
use crate::grpc::AuthzService;
use crate::http::{self, RenderMetrics};
use crate::milo::Reviewer;

/// Serve until `shutdown` resolves, then stop accepting and let checks in progress finish.
pub async fn serve<R: Reviewer>(
    authorizer: Arc<Authorizer<R>>,
    grpc: TcpListener,
    metrics: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
    });

    let metrics_task = metrics.map(|listener| {
        let a = authorizer.clone();
        let render: RenderMetrics = Arc::new(move || {
            let a = a.clone();
            Box::pin(async move { a.render_metrics().await })
        });
        tokio::spawn(http::serve(listener, render, stopped()))
    });

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<AuthorizationServer<AuthzService<R>>>()
        .await;
    let service = AuthorizationServer::new(AuthzService::new(authorizer));
    let incoming = TcpIncoming::from(grpc).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, stopped())
        .await
        .context("gRPC server")?;
    if let Some(task) = metrics_task {
        let _ = task.await;
    }
    Ok(())
}

/// SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
pub async fn termination() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = term => {}
        r = tokio::signal::ctrl_c() => {
            if let Err(e) = r {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                std::future::pending::<()>().await;
            }
        }
    }
}
