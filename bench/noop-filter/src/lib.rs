//! Does nothing: every callback the SDK exports returns Continue.
use proxy_wasm::traits::{Context, HttpContext};

proxy_wasm::main! {{
    proxy_wasm::set_http_context(|_, _| -> Box<dyn HttpContext> { Box::new(Noop) });
}}

struct Noop;
impl Context for Noop {}
impl HttpContext for Noop {}
