//! Response builders. JSON bodies end with a newline and carry `Cache-Control: no-cache,
//! private`, as kube-apiserver's do.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

use crate::status::ApiError;

pub type Body = Full<Bytes>;

pub const JSON: &str = "application/json";

pub fn bytes(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}

/// A JSON document with the given content type (aggregated discovery uses its own).
pub fn json_as<T: Serialize + ?Sized>(code: u16, content_type: &str, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            bytes(code, content_type, body)
        }
        Err(e) => error(&ApiError::Internal(format!("encoding the response: {e}"))),
    }
}

pub fn json<T: Serialize + ?Sized>(code: u16, value: &T) -> Response<Body> {
    json_as(code, JSON, value)
}

pub fn error(e: &ApiError) -> Response<Body> {
    match serde_json::to_vec(&e.status()) {
        Ok(mut body) => {
            body.push(b'\n');
            bytes(e.code(), JSON, body)
        }
        Err(_) => bytes(500, "text/plain", "internal error"),
    }
}

pub fn text(code: u16, content_type: &str, body: impl Into<String>) -> Response<Body> {
    bytes(code, content_type, body.into())
}
