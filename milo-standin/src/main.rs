//! `milo-standin`: run the Milo stand-in, or write the sandbox's token and policy files.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    milo_standin::cli::run().await
}
