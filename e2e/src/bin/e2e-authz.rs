//! The authorizer's command line, built with the end-to-end tests so they can hand
//! `scripts/run.sh` a ready binary (`CARGO_BIN_EXE_e2e-authz`) instead of a nested build.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    activity_events_authz::run::main().await
}
