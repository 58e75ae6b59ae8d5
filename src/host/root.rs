//! The entry point and the root context: validates the plugin configuration and defines the
//! counters.

use std::rc::Rc;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{ContextType, LogLevel};

use super::abi::{self, BufferType};
use super::filter::EventsFilter;
use super::metrics::Metrics;
use super::Shared;
use crate::config;

proxy_wasm::main! {{
    // Refined from the host's level in on_configure; debug logs cost nothing when filtered here.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::default()) });
}}

/// How often the linear-memory gauge is refreshed.
const MEMORY_GAUGE_PERIOD_MS: u32 = 1000;

#[derive(Default)]
pub struct Root {
    shared: Option<Rc<Shared>>,
}

impl Context for Root {}

fn level_from_host(level: u32) -> LogLevel {
    match level {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        4 => LogLevel::Error,
        _ => LogLevel::Critical,
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        if let Some(level) = abi::log_level() {
            proxy_wasm::set_log_level(level_from_host(level));
        }
        let raw = match abi::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(raw) => raw,
            Err(e) => {
                log::error!(
                    "activity-events: cannot read the plugin configuration (host status {})",
                    e.0
                );
                return false;
            }
        };
        match config::parse(Some(&raw)) {
            Ok(config) => {
                if !config.forwards_scope_extras() {
                    log::warn!(
                        "activity-events: forward_extras lacks the scope extras; Activity cannot filter reads by tenant"
                    );
                }
                log::info!(
                    "activity-events: configured, event requests go to {} (identity from metadata namespace {})",
                    config.activity_prefix,
                    config.metadata_namespace
                );
                let metrics = Metrics::define();
                metrics.record_memory();
                self.shared = Some(Rc::new(Shared { config, metrics }));
                abi::set_tick_period_ms(MEMORY_GAUGE_PERIOD_MS);
                true
            }
            Err(e) => {
                log::error!("activity-events: {e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(shared) = &self.shared {
            shared.metrics.record_memory();
        }
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Never None: the SDK panics on None. Without a configuration the stream fails closed.
        Some(Box::new(EventsFilter::new(self.shared.clone())))
    }
}
