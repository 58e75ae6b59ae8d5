//! Test-only (cargo feature `trap-on-demand`, off by default, never in a shipped build): a
//! request carrying `x-activity-events-test-trap` makes the VM trap, so e2e/tests/vm_trap.rs can
//! measure what Envoy's `failure_policy` does after a trap. Value `body`: trap when the request
//! body arrives (after the headers went on); any other value: trap at once.

use std::cell::Cell;

const HEADER: &[u8] = b"x-activity-events-test-trap";

thread_local! {
    static AT_BODY: Cell<bool> = const { Cell::new(false) };
}

pub fn on_request_headers(headers: &[(&[u8], &[u8])]) {
    let Some((_, value)) = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(HEADER)) else {
        return;
    };
    if value.eq_ignore_ascii_case(b"body") {
        AT_BODY.with(|c| c.set(true));
    } else {
        core::arch::wasm32::unreachable();
    }
}

pub fn on_request_body() {
    if AT_BODY.with(Cell::get) {
        core::arch::wasm32::unreachable();
    }
}
