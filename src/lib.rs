//! Activity Events Proxy: a proxy-wasm HTTP filter that serves the Kubernetes Event APIs
//! (core/v1 and events.k8s.io/v1) from the Activity API server.
//!
//! Everything except `host` is pure logic with no proxy-wasm dependency, so it is unit-tested
//! natively. `host` is the thin glue that only exists in the `wasm32` build.
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod body;
pub mod config;
pub mod convert;
pub mod discovery;
pub mod escape;
pub mod identity;
pub mod media;
pub mod pairs;
pub mod parent;
pub mod query;
pub mod request;
pub mod response;
pub mod route;
pub mod scope;
pub mod status;
pub mod stream;

#[cfg(target_arch = "wasm32")]
mod host;
