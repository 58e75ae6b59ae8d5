//! Response bodies: whole JSON documents, and a channel-fed streaming body for watches.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::status::ApiError;

pub type Body = BoxBody<Bytes, Infallible>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

pub fn json(code: u16, value: &Value) -> Response<Body> {
    let mut bytes = crate::wire::to_vec(value);
    bytes.push(b'\n');
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    resp
}

pub fn error(e: &ApiError) -> Response<Body> {
    with_warnings(json(e.code, &e.to_status()), &e.warnings)
}

/// Adds one `Warning: 299 - "<text>"` header per warning, as kube-apiserver does (e.g. for
/// unknown fields under `fieldValidation=Warn`). Texts a header cannot carry are left out.
pub fn with_warnings(mut resp: Response<Body>, warnings: &[String]) -> Response<Body> {
    for w in warnings {
        let quoted = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = header::HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// A body whose frames arrive over a channel; ends when the sender is dropped. Each message is
/// one HTTP/1.1 chunk (or HTTP/2 DATA frame), and hyper flushes whenever the channel is empty.
pub struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    pub fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self { rx }
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

pub fn streaming(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut resp = Response::new(ChannelBody::new(rx).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache, private"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_quoted_headers() {
        let r = with_warnings(
            json(200, &Value::Null),
            &["unknown field \"foo\"".to_string(), "bad\nline".to_string()],
        );
        let all: Vec<&str> = r
            .headers()
            .get_all(header::WARNING)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(all, vec![r#"299 - "unknown field \"foo\"""#]);
    }
}
