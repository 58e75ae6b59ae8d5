//! The stand-in's command line, built with the end-to-end tests so they can hand
//! `scripts/run.sh` a ready binary (`CARGO_BIN_EXE_e2e-standin`) instead of running a nested
//! `cargo build` inside the test run.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    activity_standin::cli::run().await
}
