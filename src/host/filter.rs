//! The per-request context: read headers once, decide with the pure modules, write once.

use std::rc::Rc;

use super::abi::{self, BufferType, MapType};
use super::dispatch::Action;
use super::Shared;
use crate::identity::source::{IdentitySource, SourceError};
use crate::k8s::discovery::{self, DiscoveryDoc};
use crate::k8s::status::{Reason, Rejection};
use crate::request::body::BodyJob;
use crate::request::{self, Action as Decision};
use crate::response::output::Output;
use crate::response::{Failure, ResponsePlan, ResponseRewriter, Treatment, READ_SLICE, READ_WHOLE};
use crate::wire::pairs;

/// proxy-wasm status for "the host could not serialize the value".
const SERIALIZATION_FAILURE: u32 = 3;

pub struct EventsFilter {
    shared: Option<Rc<Shared>>,
    /// A write whose body is buffered until complete, then checked, converted and scoped.
    ///
    /// Its headers have already gone on: proxy-wasm turns a paused headers callback into
    /// "stop all iteration", after which the body would never reach this filter. So when the
    /// body may change its `content-length` is dropped up front, and Envoy's buffer filter,
    /// after this one, holds the request back from the router until the body is final and sets
    /// the new length.
    body: Option<BodyJob>,
    /// Set for event requests whose responses are brought into the client's API.
    response: Option<ResponsePlan>,
    rewriter: Option<ResponseRewriter>,
    /// The response could not be rewritten further; the rest of it is dropped.
    aborted: bool,
    /// A discovery document to complete with events.k8s.io once its body is whole.
    discovery: Option<DiscoveryDoc>,
    /// `Warning` header values owed to the client for what the write conversion dropped.
    warnings: Vec<String>,
}

impl EventsFilter {
    pub fn new(shared: Option<Rc<Shared>>) -> Self {
        EventsFilter {
            shared,
            body: None,
            response: None,
            rewriter: None,
            aborted: false,
            discovery: None,
            warnings: Vec::new(),
        }
    }

    /// Answer with a Kubernetes Status and stop the request.
    fn reject(&mut self, rejection: &Rejection) -> Action {
        self.reject_with_warnings(rejection, &[])
    }

    fn reject_with_warnings(&mut self, rejection: &Rejection, warnings: &[String]) -> Action {
        self.body = None;
        // The local reply is already in the client's terms.
        self.response = None;
        if let Some(shared) = &self.shared {
            shared.metrics.rejection(rejection.reason);
        }
        log::debug!(
            "activity-events: refused with {} {}: {}",
            rejection.code(),
            rejection.reason.as_str(),
            rejection.message
        );
        let headers = pairs::encode(
            std::iter::once((&b"content-type"[..], &b"application/json"[..]))
                .chain(warnings.iter().map(|w| (&b"warning"[..], w.as_bytes()))),
        );
        let details = format!("activity_events_{}", rejection.reason.metric_name());
        if let Err(e) = abi::send_local_response(
            u32::from(rejection.code()),
            &details,
            &headers,
            &rejection.to_json(),
        ) {
            log::error!(
                "activity-events: cannot send local reply (host status {})",
                e.0
            );
        }
        Action::Pause
    }

    fn internal(&mut self, what: &str) -> Action {
        self.reject(&Rejection::new(Reason::InternalError, what.to_owned()))
    }

    fn on_headers(&mut self, shared: &Shared, end_of_stream: bool) -> Action {
        let raw = match abi::get_header_pairs(MapType::RequestHeaders) {
            Ok(raw) => raw,
            Err(_) => return self.internal("the request headers could not be read"),
        };
        let Ok(headers) = pairs::decode(&raw) else {
            return self.internal("the request headers could not be decoded");
        };
        #[cfg(feature = "trap-on-demand")]
        super::trap::on_request_headers(&headers);
        let plan = request::plan(&shared.config, &headers, end_of_stream, &mut HostMetadata);
        if let Some((api, operation)) = plan.event {
            shared.metrics.request(api, operation);
        }
        match plan.action {
            Decision::PassThrough { strip, discovery } => {
                for name in &strip {
                    if abi::remove_header(MapType::RequestHeaders, name).is_err() {
                        return self.internal("a spoofed identity header could not be removed");
                    }
                }
                if plan.spoofed {
                    shared.metrics.spoofed_headers_removed();
                    log::debug!(
                        "activity-events: removed {} client-sent X-Remote-* headers",
                        strip.len()
                    );
                }
                // The document is completed as JSON: ask for it uncompressed (the compressor
                // before this filter compresses the result for clients that want it).
                if discovery.is_some()
                    && abi::remove_header(MapType::RequestHeaders, b"accept-encoding").is_ok()
                {
                    self.discovery = discovery;
                }
                Action::Continue
            }
            Decision::Reject(rejection) => {
                if plan.spoofed {
                    shared.metrics.spoofed_headers_removed();
                }
                self.reject(&rejection)
            }
            Decision::Forward(forward) => {
                if plan.spoofed {
                    // Dropped from the header map written below.
                    shared.metrics.spoofed_headers_removed();
                }
                // The host would take a longer map as an empty one and still report success.
                if forward.headers.len() > request::MAX_HEADER_PAIRS
                    || abi::set_header_pairs(MapType::RequestHeaders, &forward.headers.finish())
                        .is_err()
                {
                    return self.internal("the request headers could not be rewritten");
                }
                self.response = forward.response;
                self.body = forward.body;
                Action::Continue
            }
        }
    }

    pub fn on_response_headers(&mut self, end_of_stream: bool) -> Action {
        for w in std::mem::take(&mut self.warnings) {
            if abi::add_header(MapType::ResponseHeaders, b"warning", w.as_bytes()).is_err() {
                log::warn!("activity-events: cannot add a Warning header");
            }
        }
        if self.discovery.is_some() {
            return self.on_discovery_headers(end_of_stream);
        }
        let Some(plan) = &self.response else {
            return Action::Continue;
        };
        if end_of_stream {
            return Action::Continue;
        }
        // Unreadable headers leave the body unread: refused rather than passed on raw.
        let Ok(raw) = abi::get_header_pairs(MapType::ResponseHeaders) else {
            return self.refuse_response(&Rejection::new(
                Reason::InternalError,
                "the response headers could not be read",
            ));
        };
        let Ok(headers) = pairs::decode(&raw) else {
            return self.refuse_response(&Rejection::new(
                Reason::InternalError,
                "the response headers could not be decoded",
            ));
        };
        let find = |name: &[u8]| header(&headers, name);
        let status = find(b":status")
            .and_then(|s| s.parse::<u16>().ok())
            .unwrap_or(200);
        // Envoy's own replies (a failed connection, a timeout) say so; unknown counts as
        // Activity's.
        let from_upstream = || {
            abi::get_property(&["response", "code_details"])
                .ok()
                .flatten()
                .is_none_or(|d| d == b"via_upstream")
        };
        let treatment = plan.treatment(
            find(b"content-type"),
            find(b"content-encoding"),
            from_upstream,
        );
        let strict = match treatment {
            Treatment::PassThrough => {
                log::debug!("activity-events: response {status} made by Envoy; left as it is");
                return Action::Continue;
            }
            Treatment::Refuse(rejection) => return self.refuse_response(&rejection),
            Treatment::Rewrite => false,
            Treatment::Strict => true,
        };
        let rewriter = plan.rewriter_for(status, strict);
        if strict {
            // What is passed on is JSON, re-framed: say so, in one host call.
            let kept = headers.iter().filter(|(k, _)| {
                !k.eq_ignore_ascii_case(b"content-type")
                    && !k.eq_ignore_ascii_case(b"content-length")
            });
            let rewritten = pairs::encode(
                kept.copied()
                    .chain([(&b"content-type"[..], &b"application/json"[..])]),
            );
            if abi::set_header_pairs(MapType::ResponseHeaders, &rewritten).is_err() {
                return self.refuse_response(&Rejection::new(
                    Reason::InternalError,
                    "the response headers could not be rewritten",
                ));
            }
        } else if !rewriter.preserves_length()
            && abi::remove_header(MapType::ResponseHeaders, b"content-length").is_err()
        {
            // Core responses keep their length (padded); other rewrites are re-framed.
            return self.refuse_response(&Rejection::new(
                Reason::InternalError,
                "the response could not be re-framed",
            ));
        }
        self.rewriter = Some(rewriter);
        Action::Continue
    }

    /// Answer the client with this instead of Activity's response (whose headers have not
    /// gone out yet).
    fn refuse_response(&mut self, rejection: &Rejection) -> Action {
        log::warn!(
            "activity-events: events server response refused: {}",
            rejection.message
        );
        self.rewriter = None;
        self.reject(rejection)
    }

    /// Discovery responses are small: held until whole, then completed (see `discovery`).
    fn on_discovery_headers(&mut self, end_of_stream: bool) -> Action {
        let raw = abi::get_header_pairs(MapType::ResponseHeaders).ok();
        let headers = raw.as_deref().and_then(|r| pairs::decode(r).ok());
        let find = |name: &[u8]| headers.as_deref().and_then(|h| header(h, name));
        let ok = find(b":status") == Some("200");
        if end_of_stream
            || !ok
            || !discovery::completes(find(b"content-type"), find(b"content-encoding"))
            || abi::remove_header(MapType::ResponseHeaders, b"content-length").is_err()
        {
            self.discovery = None;
        }
        Action::Continue
    }

    fn on_discovery_body(&mut self, doc: DiscoveryDoc, body_size: usize, end: bool) -> Action {
        let limit = self
            .shared
            .as_ref()
            .map_or(0, |s| s.config.max_response_object_bytes);
        if body_size > limit {
            // Too large to hold: it goes on as Milo sent it.
            self.discovery = None;
            return Action::Continue;
        }
        if !end {
            return Action::Pause;
        }
        self.discovery = None;
        let Ok(body) = abi::get_buffer(BufferType::ResponseBody, 0, body_size) else {
            return Action::Continue;
        };
        let url = self
            .shared
            .as_ref()
            .map_or("", |s| s.config.events_openapi_url.as_str());
        if let Some(done) = discovery::complete(doc, &body, url) {
            if abi::set_buffer(BufferType::ResponseBody, 0, body_size, &done).is_err() {
                log::warn!("activity-events: cannot complete a discovery response");
            }
        }
        Action::Continue
    }

    pub fn on_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if let Some(doc) = self.discovery {
            return self.on_discovery_body(doc, body_size, end_of_stream);
        }
        let Some(rewriter) = self.rewriter.as_mut() else {
            return Action::Continue;
        };
        if self.aborted {
            // What still comes after a refused body is dropped; a watch is ended.
            let _ = abi::set_buffer(BufferType::ResponseBody, 0, body_size, &[]);
            if rewriter.is_watch() {
                abi::reset_response();
            }
            return Action::Continue;
        }
        let Ok((replaced, out, ok)) = rewrite_chunk(rewriter, body_size, end_of_stream) else {
            log::warn!("activity-events: response body unreadable; ending the response");
            let _ = abi::set_buffer(BufferType::ResponseBody, 0, body_size, &[]);
            abi::reset_response();
            return Action::Continue;
        };
        if !ok {
            self.aborted = true;
            let failure = rewriter.failure().cloned();
            if let Some(shared) = &self.shared {
                shared.metrics.response_aborted();
                if let Some(f) = &failure {
                    shared.metrics.rejection(f.rejection().reason);
                }
            }
            if let Some(f) = &failure {
                log::warn!(
                    "activity-events: events server response refused: {}",
                    f.rejection().message
                );
            }
            if let Some(Failure::Reset(_)) = failure {
                // Part of it is already on its way: nothing clean is left to send.
                let _ = abi::set_buffer(BufferType::ResponseBody, 0, body_size, &[]);
                abi::reset_response();
                return Action::Continue;
            }
        }
        // A chunk that went through untouched is left as it is.
        if (replaced > 0 || !out.is_empty())
            && abi::set_buffer(BufferType::ResponseBody, 0, replaced, &out).is_err()
        {
            log::warn!("activity-events: cannot rewrite the response body; ending the response");
            abi::reset_response();
        }
        Action::Continue
    }

    fn on_body(&mut self, shared: &Shared, body_size: usize, end_of_stream: bool) -> Action {
        #[cfg(feature = "trap-on-demand")]
        super::trap::on_request_body();
        let Some(job) = &self.body else {
            return Action::Continue;
        };
        log::debug!(
            "activity-events: request body {body_size} bytes, end_of_stream={end_of_stream}"
        );
        if body_size > job.max_bytes {
            let rejection = request::body::too_large(job.max_bytes);
            return self.reject(&rejection);
        }
        if !end_of_stream {
            return Action::Pause; // keep buffering
        }
        let Some(job) = self.body.take() else {
            return Action::Continue;
        };
        let body = match abi::get_buffer(BufferType::RequestBody, 0, body_size) {
            Ok(b) => b,
            Err(_) => return self.internal("the request body could not be read"),
        };
        let mut warnings = Vec::new();
        match job.run_with_warnings(&body, &mut warnings) {
            Err(rejection) => self.reject_with_warnings(&rejection, &warnings),
            Ok(replacement) => {
                self.warnings = warnings;
                if let Some(new_body) = replacement {
                    if abi::set_buffer(BufferType::RequestBody, 0, body_size, &new_body).is_err() {
                        return self.internal("the request body could not be rewritten");
                    }
                    if job.scope.is_some() {
                        shared.metrics.scope_injection();
                    }
                }
                Action::Continue
            }
        }
    }
}

/// The identity source of the pure request plan: dynamic metadata, through the non-panicking
/// host calls.
struct HostMetadata;

impl HostMetadata {
    fn get(path: &[&str]) -> Result<Option<Vec<u8>>, SourceError> {
        let got = abi::get_property(path);
        log::debug!(
            "activity-events: identity metadata {}: {}",
            path.join("."),
            match &got {
                Ok(Some(v)) => format!("{} bytes", v.len()),
                Ok(None) => "absent".to_owned(),
                Err(e) => format!("host status {}", e.0),
            }
        );
        got.map_err(|e| match e.0 {
            SERIALIZATION_FAILURE => SourceError::CannotSerialize,
            status => SourceError::Host(status),
        })
    }
}

impl IdentitySource for HostMetadata {
    fn namespace(&mut self, namespace: &str) -> Result<Option<Vec<u8>>, SourceError> {
        Self::get(&["metadata", "filter_metadata", namespace])
    }

    fn field(&mut self, namespace: &str, path: &[String]) -> Result<Option<Vec<u8>>, SourceError> {
        let mut full = vec!["metadata", "filter_metadata", namespace];
        full.extend(path.iter().map(String::as_str));
        Self::get(&full)
    }
}

/// The stream callbacks `dispatch` routes here.
impl EventsFilter {
    pub fn on_request_headers(&mut self, end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            return self.internal("the events filter has no configuration");
        };
        self.on_headers(&shared, end_of_stream)
    }

    pub fn on_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            return Action::Continue;
        };
        self.on_body(&shared, body_size, end_of_stream)
    }

    pub fn on_request_trailers(&mut self) -> Action {
        if self.body.is_some() {
            return self.reject(&Rejection::new(
                Reason::BadRequest,
                "request trailers are not supported on event writes",
            ));
        }
        Action::Continue
    }

    pub fn on_response_trailers(&mut self) -> Action {
        // The body ended without end-of-stream (Envoy's decompressor ends a decompressed body
        // with trailers). Complete documents have gone on already; what is still held is an
        // unfinished one, which is dropped. The stream must not be reset from here (Envoy 1.40
        // crashes on a response reset during the trailers callback).
        if let Some(rewriter) = self.rewriter.as_mut() {
            if !self.aborted {
                let mut rest = Vec::new();
                if !rewriter.finish_into(&mut rest) {
                    self.aborted = true;
                    log::warn!(
                        "activity-events: response ended inside a JSON value; the rest is dropped"
                    );
                    if let Some(shared) = &self.shared {
                        shared.metrics.response_aborted();
                    }
                }
            }
        }
        Action::Continue
    }
}

/// A response header's value as text, by name in any letter case.
fn header<'a>(headers: &[(&'a [u8], &'a [u8])], name: &[u8]) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

/// Rewrite the response body's chunk of `body_size` bytes, read whole or, above
/// [`READ_WHOLE`], in slices. Returns how many of the chunk's first bytes the returned bytes
/// replace (the rest went through untouched; `(0, [])`: all of it did), and whether the
/// rewrite went on (`false`: see the rewriter's failure; the returned bytes then replace the
/// whole chunk).
fn rewrite_chunk(
    rewriter: &mut ResponseRewriter,
    body_size: usize,
    end_of_stream: bool,
) -> Result<(usize, Vec<u8>, bool), abi::HostError> {
    let (read, mut written) = if body_size <= READ_WHOLE {
        (body_size.max(1), Vec::new())
    } else {
        // The slices' output is gathered here: room for all of it, not a copy per growth.
        (READ_SLICE, Vec::with_capacity(body_size))
    };
    let mut offset = 0;
    loop {
        let slice = abi::get_buffer(BufferType::ResponseBody, offset, read)?;
        let mut out = Output::over(&slice, written);
        let mut ok = slice.is_empty() || rewriter.push_to(&slice, &mut out);
        let last = slice.is_empty() || offset + slice.len() >= body_size;
        if !ok || last {
            if end_of_stream && ok {
                ok = rewriter.finish_to(&mut out);
            }
            if !ok || slice.is_empty() {
                return Ok((body_size, out.into_vec(), ok));
            }
            let (n, head) = out.into_head();
            return Ok((offset + n, head, ok));
        }
        written = out.into_vec();
        offset += slice.len();
    }
}
