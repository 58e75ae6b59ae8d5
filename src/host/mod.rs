//! Host glue: the proxy-wasm contexts. Kept thin: read from the host once, call the pure plan
//! or the rewriter, write once, count. Every decision is made in the pure modules.

mod abi;
mod filter;
mod metrics;
mod root;

use proxy_wasm::traits::RootContext;
use proxy_wasm::types::LogLevel;

use crate::config::Config;
use metrics::Metrics;

proxy_wasm::main! {{
    // Refined from the host's level in on_configure; debug logs cost nothing when filtered here.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(root::Root::default()) });
}}

/// What every stream of this plugin shares.
pub struct Shared {
    pub config: Config,
    pub metrics: Metrics,
}
