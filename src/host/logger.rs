//! The `log` crate's records, sent to Envoy's log through `proxy_log`.
//!
//! Records above the level are filtered by `log`'s own max level before any formatting, so a
//! debug line on the hot path costs one comparison when Envoy logs at info.

use super::abi;

struct HostLogger;

static LOGGER: HostLogger = HostLogger;

/// Install the logger (at info until the host's level is known) and a panic hook that logs the
/// panic: a panic aborts the VM, and Envoy's log is the only place the reason can go.
pub fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
        std::panic::set_hook(Box::new(|info| {
            abi::log(abi::LOG_CRITICAL, &info.to_string());
        }));
    }
}

/// Follow the host's level (proxy-wasm: 0 trace … 4 error, 5 critical).
pub fn set_level_from_host(level: u32) {
    log::set_max_level(match level {
        0 => log::LevelFilter::Trace,
        1 => log::LevelFilter::Debug,
        2 => log::LevelFilter::Info,
        3 => log::LevelFilter::Warn,
        4 => log::LevelFilter::Error,
        // Critical only: nothing the filter logs through `log` is that severe.
        _ => log::LevelFilter::Off,
    });
}

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => 0,
            log::Level::Debug => 1,
            log::Level::Info => 2,
            log::Level::Warn => 3,
            log::Level::Error => 4,
        };
        abi::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}
