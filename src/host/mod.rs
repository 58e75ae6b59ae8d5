//! Host glue: the proxy-wasm contexts. Kept thin: read from the host once, call the pure plan
//! or the rewriter, write once, count. Every decision is made in the pure modules.

mod abi;
mod dispatch;
mod filter;
mod logger;
mod metrics;
mod root;
#[cfg(feature = "trap-on-demand")]
mod trap;

use crate::config::Config;
use metrics::Metrics;

/// What every stream of this plugin shares.
pub struct Shared {
    pub config: Config,
    pub metrics: Metrics,
}
