//! Helpers for the end-to-end tests: the real Envoy with the built filter, the recording
//! upstream, tool lookup. Nothing here goes into the wasm.

pub mod adversary;
pub mod envoy;
pub mod milo_sandbox;
pub mod recorder;
pub mod sandbox;
pub mod soak;
pub mod tools;
