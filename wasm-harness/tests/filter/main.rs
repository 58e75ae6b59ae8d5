//! The built filter `.wasm`, driven through its exported ABI by the scripted host, as Envoy
//! drives it. One test binary, so the module is compiled once.

mod common;
mod configure;
mod identity;
mod lifecycle;
mod requests;
mod responses;
mod robustness;
mod writes;
