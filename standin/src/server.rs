//! The main port: mTLS accept loop, per-connection HTTP/1.1 or HTTP/2, and the per-request
//! pipeline (record → injected fault → front-proxy authentication → events API).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::api::{Api, ApiRequest};
use crate::faults::{self, Applied, FaultAction, Faults, Phase};
use crate::identity;
use crate::misbehave::{self, Misbehave};
use crate::recorder::{Arrival, Recorder};
use crate::respond::{self, Body};
use crate::scope::Scope;
use crate::status::ApiError;

/// Largest request body accepted (kube-apiserver's limit is 3 MiB per object).
const MAX_BODY: usize = 16 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by both ports.
pub struct Shared {
    pub api: Api,
    pub recorder: Recorder,
    pub faults: Faults,
    /// Answers to spoil on purpose (see `misbehave`).
    pub misbehave: Misbehave,
    /// Client certificate CNs whose X-Remote-* headers are trusted; empty trusts any CN the CA
    /// signed (kube-apiserver's `--requestheader-allowed-names`).
    pub allowed_names: Vec<String>,
    pub verbose: bool,
}

/// Raised by the service to make hyper drop the connection without answering.
#[derive(Debug)]
pub struct ConnectionReset;

impl std::fmt::Display for ConnectionReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by fault injection")
    }
}

impl std::error::Error for ConnectionReset {}

pub async fn serve_main(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => {
                    conns.spawn(connection(tcp, remote, acceptor.clone(), shared.clone()));
                }
                Err(e) => {
                    if shared.verbose {
                        eprintln!("activity-standin: accept failed: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    conns.abort_all();
}

async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    shared: Arc<Shared>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            if shared.verbose {
                eprintln!("activity-standin: TLS handshake from {remote} refused: {e}");
            }
            return;
        }
        Err(_) => return,
    };
    let client_cn = crate::tls::peer_cn(tls.get_ref().1);
    let reset = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(Notify::new());
    let io = ResettableIo {
        inner: tls,
        reset: reset.clone(),
    };
    let svc_cut = cut.clone();
    let svc_reset = reset.clone();
    let svc = service_fn(move |req| {
        let ctx = ConnCtx {
            shared: shared.clone(),
            client_cn: client_cn.clone(),
            remote,
            reset: svc_reset.clone(),
            cut: svc_cut.clone(),
        };
        async move { handle(req, ctx).await }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        // The connection first: what it already has is flushed before a cut drops it.
        biased;
        _ = &mut conn => {}
        _ = cut.notified() => reset.store(true, Ordering::SeqCst),
    }
}

struct ConnCtx {
    shared: Arc<Shared>,
    client_cn: Option<String>,
    remote: SocketAddr,
    reset: Arc<AtomicBool>,
    /// Drops the connection (with a TCP RST) when notified: a response cut mid-stream.
    cut: Arc<Notify>,
}

/// An injected error answer: a Status, with `Retry-After` when asked for.
fn fault_status(
    status: u16,
    reason: Option<String>,
    message: Option<String>,
    retry_after: Option<u32>,
) -> Response<Body> {
    let reason = reason.unwrap_or_else(|| ApiError::reason_for_code(status).to_string());
    let message = message.unwrap_or_else(|| format!("injected fault: {status} {reason}"));
    let mut resp = respond::error(&ApiError::new(status, &reason, message));
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    resp
}

async fn handle(req: Request<Incoming>, ctx: ConnCtx) -> Result<Response<Body>, ConnectionReset> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            let err = ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("the request body is larger than {MAX_BODY} bytes"),
            );
            return Ok(respond::error(&err));
        }
        Err(e) => {
            return Ok(respond::error(&ApiError::bad_request(format!(
                "reading the request body: {e}"
            ))))
        }
    };
    let shared = &ctx.shared;
    let method = parts.method.as_str();
    let seq = shared.recorder.arrive(Arrival {
        method,
        path: &path,
        authority: parts.uri.authority().map(|a| a.to_string()).or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        }),
        version: &format!("{:?}", parts.version),
        headers: &parts.headers,
        body: &body,
        client_cn: ctx.client_cn.clone(),
        remote_addr: ctx.remote.to_string(),
    });
    if shared.verbose {
        eprintln!("activity-standin: #{seq} {method} {path}");
    }

    let fault = shared.faults.take(method, &path);
    if let Some(f) = &fault {
        shared.recorder.set_fault(seq, &f.name());
    }
    if let Some(Applied {
        action,
        phase: Phase::Before,
    }) = &fault
    {
        match action.clone() {
            FaultAction::Reset => {
                ctx.reset.store(true, Ordering::SeqCst);
                return Err(ConnectionReset);
            }
            FaultAction::Status {
                status,
                reason,
                message,
                retry_after,
            } => {
                shared.recorder.set_status(seq, status);
                return Ok(fault_status(status, reason, message, retry_after));
            }
            FaultAction::Delay { millis } => {
                tokio::time::sleep(Duration::from_millis(millis)).await;
            }
            FaultAction::Cut { .. } => {}
        }
    }

    let trusted = shared.allowed_names.is_empty()
        || ctx
            .client_cn
            .as_ref()
            .is_some_and(|cn| shared.allowed_names.contains(cn));
    let user = identity::user_from_headers(&parts.headers).filter(|_| trusted);
    let resp = match user {
        None => respond::error(&ApiError::unauthorized()),
        Some(user) => shared.api.handle(&ApiRequest {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
            scope: Scope::from_extra(&user.extra),
        }),
    };
    // Faults after handling: a write is stored by now; the client hears otherwise (or late).
    let resp = match fault.map(|f| (f.action, f.phase)) {
        Some((FaultAction::Cut { after_chunks }, _)) => {
            resp.map(|b| faults::cut_after(b, after_chunks, ctx.cut.clone()).boxed())
        }
        Some((FaultAction::Reset, Phase::After)) => {
            ctx.reset.store(true, Ordering::SeqCst);
            return Err(ConnectionReset);
        }
        Some((
            FaultAction::Status {
                status,
                reason,
                message,
                retry_after,
            },
            Phase::After,
        )) => fault_status(status, reason, message, retry_after),
        Some((FaultAction::Delay { millis }, Phase::After)) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            resp
        }
        _ => resp,
    };
    shared.recorder.set_status(seq, resp.status().as_u16());
    let resp = pretty_if_asked(parts.uri.query(), resp).await;
    match shared.misbehave.take(method, &path) {
        Some(how) => {
            shared.recorder.set_fault(seq, how.name());
            Ok(misbehave::apply(&how, &shared.api.res.api_version(), resp).await)
        }
        None => Ok(resp),
    }
}

/// `?pretty=true` (any value but 0/false, like other Kubernetes flags): indent whole JSON
/// documents. Watch streams are left as they are.
async fn pretty_if_asked(query: Option<&str>, resp: Response<Body>) -> Response<Body> {
    let flag = |name: &str| {
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == name)
            .is_some_and(|(_, v)| v != "0" && !v.eq_ignore_ascii_case("false"))
    };
    let json = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !flag("pretty") || flag("watch") || !json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(collected) = body.collect().await;
    let bytes = collected.to_bytes();
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => {
            let mut pretty = crate::wire::to_vec_pretty(&v);
            pretty.push(b'\n');
            respond::full(pretty)
        }
        Err(_) => respond::full(bytes),
    };
    Response::from_parts(parts, body)
}

/// The TLS stream, plus the ability to abort it: once `reset` is set, I/O fails (so HTTP/2
/// connections die too) and dropping the socket sends a TCP RST instead of a FIN.
struct ResettableIo {
    inner: TlsStream<TcpStream>,
    reset: Arc<AtomicBool>,
}

impl ResettableIo {
    fn aborted(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, ConnectionReset)
}

impl Drop for ResettableIo {
    fn drop(&mut self) {
        if self.aborted() {
            let _ = self.inner.get_ref().0.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
