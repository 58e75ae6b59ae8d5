//! Byte-level codecs: the proxy-wasm pairs format, percent-escaping, query strings.

pub mod escape;
pub mod pairs;
pub mod query;
