//! `activity-events-authz serve --listen ADDR --milo-kubeconfig FILE ...`

#[tokio::main]
async fn main() -> std::process::ExitCode {
    activity_events_authz::run::main().await
}
