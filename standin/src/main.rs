//! `activity-standin`: run the in-memory Activity API stand-in, or generate its test PKI.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    activity_standin::cli::run().await
}
