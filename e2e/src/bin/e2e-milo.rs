//! The Milo stand-in's command line, built with the end-to-end tests so they can hand
//! `scripts/run.sh` a ready binary (`CARGO_BIN_EXE_e2e-milo`) instead of a nested build.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    milo_standin::cli::run().await
}
