//! The entry point and the root context: validates the plugin configuration and defines the
//! counters.

use std::rc::Rc;

use super::abi::{self, BufferType};
use super::logger;
use super::metrics::Metrics;
use super::Shared;
use crate::config;

/// How often the linear-memory gauge is refreshed.
const MEMORY_GAUGE_PERIOD_MS: u32 = 1000;

/// The plugin's root context: its configuration, once valid, shared by every stream.
#[derive(Default)]
pub struct Root {
    shared: Option<Rc<Shared>>,
}

impl Root {
    /// What a new stream of this plugin gets; `None` before a valid configuration.
    pub fn shared(&self) -> Option<Rc<Shared>> {
        self.shared.clone()
    }

    pub fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        if let Some(level) = abi::log_level() {
            logger::set_level_from_host(level);
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

    pub fn on_tick(&self) {
        if let Some(shared) = &self.shared {
            shared.metrics.record_memory();
        }
    }
}
