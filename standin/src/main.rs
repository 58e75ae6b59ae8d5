//! `activity-standin`: run the in-memory Activity API stand-in, or generate its test PKI.

// A bad request must never take the server down: request paths return Status errors instead.
#![deny(clippy::unwrap_used, clippy::expect_used)]

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    activity_standin::cli::run().await
}
