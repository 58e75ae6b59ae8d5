//! Activity Events Proxy: a proxy-wasm HTTP filter that serves the Kubernetes Event APIs
//! (core/v1 and events.k8s.io/v1) from the Activity API server.
//!
//! Everything except `host` is pure logic with no proxy-wasm dependency, so it is unit-tested
//! natively. `host` is the thin glue that only exists in the `wasm32` build.
// A panic aborts the Envoy worker's wasm VM and every request on it.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented,
    clippy::string_slice
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod config;
pub mod identity;
pub mod k8s;
pub mod request;
pub mod response;
pub mod sort;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod host;
