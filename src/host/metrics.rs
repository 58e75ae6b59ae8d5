//! Counters, defined once per VM and shared by every stream. Envoy exposes them as
//! `wasmcustom.activity_events.*`.

use super::abi;
use crate::k8s::api::{Api, Operation};
use crate::k8s::status::Reason;

#[derive(Debug, Default)]
pub struct Metrics {
    // A dozen entries each: a linear search is cheaper than hashing the key on every request.
    requests: Vec<((Api, Operation), u32)>,
    rejections: Vec<(Reason, u32)>,
    scope_injections: Option<u32>,
    spoofed_headers_removed: Option<u32>,
    responses_aborted: Option<u32>,
    memory_bytes: Option<u32>,
}

impl Metrics {
    pub fn define() -> Self {
        let mut m = Metrics::default();
        for api in Api::ALL {
            for op in Operation::ALL {
                let name = format!(
                    "activity_events.requests.{}.{}",
                    api.metric_name(),
                    op.metric_name()
                );
                if let Ok(id) = abi::define_counter(&name) {
                    m.requests.push(((api, op), id));
                }
            }
        }
        for reason in Reason::ALL {
            let name = format!("activity_events.rejections.{}", reason.metric_name());
            if let Ok(id) = abi::define_counter(&name) {
                m.rejections.push((reason, id));
            }
        }
        m.scope_injections = abi::define_counter("activity_events.scope_injections").ok();
        m.spoofed_headers_removed =
            abi::define_counter("activity_events.spoofed_headers_removed").ok();
        m.responses_aborted = abi::define_counter("activity_events.responses_aborted").ok();
        m.memory_bytes = abi::define_gauge("activity_events.wasm_memory_bytes").ok();
        m
    }

    pub fn request(&self, api: Api, op: Operation) {
        if let Some((_, id)) = self.requests.iter().find(|(k, _)| *k == (api, op)) {
            abi::increment(*id);
        }
    }

    pub fn rejection(&self, reason: Reason) {
        if let Some((_, id)) = self.rejections.iter().find(|(k, _)| *k == reason) {
            abi::increment(*id);
        }
    }

    pub fn scope_injection(&self) {
        if let Some(id) = self.scope_injections {
            abi::increment(id);
        }
    }

    /// The VM's linear memory size; it only grows, so a flat value means bounded memory.
    pub fn record_memory(&self) {
        if let Some(id) = self.memory_bytes {
            let pages = core::arch::wasm32::memory_size(0) as u64;
            abi::record(id, pages * 65536);
        }
    }

    pub fn response_aborted(&self) {
        if let Some(id) = self.responses_aborted {
            abi::increment(id);
        }
    }

    pub fn spoofed_headers_removed(&self) {
        if let Some(id) = self.spoofed_headers_removed {
            abi::increment(id);
        }
    }
}
