//! Byte-level codecs: the proxy-wasm pairs format, percent-escaping, query strings, strict JSON.

pub mod escape;
pub mod pairs;
pub mod query;
pub mod strict_json;
