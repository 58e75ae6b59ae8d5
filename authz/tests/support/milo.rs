//! A Milo test double: answers `TokenReview` and `SubjectAccessReview` from a table on
//! 127.0.0.1, records every review, and can fail, hang or go away. It stands in for Milo, so it
//! uses nothing of the authorizer or the filter: only hyper and JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

/// The credential the authorizer must present (from the kubeconfig the tests write).
pub const AUTHORIZER_TOKEN: &str = "authorizer-sa-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Answer every review with this HTTP status and a Status body.
    Fail(u16),
    /// Accept, read the request, never answer.
    Hang,
    /// Answer normally after this many milliseconds.
    Delay(u64),
}

/// Decides a SubjectAccessReview spec: (allowed, reason).
pub type Policy = Arc<dyn Fn(&Value) -> (bool, String) + Send + Sync>;

struct State {
    users: Mutex<HashMap<String, Value>>,
    policy: Mutex<Policy>,
    mode: Mutex<Mode>,
    /// Tokens reviewed, in order.
    token_reviews: Mutex<Vec<String>>,
    /// SubjectAccessReview specs, in order.
    access_reviews: Mutex<Vec<Value>>,
    connections: Mutex<Vec<AbortHandle>>,
    /// Over plain HTTP the authorizer proves itself with a bearer token; over TLS with the
    /// client certificate the handshake already verified.
    require_token: bool,
}

pub struct MiloDouble {
    addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

impl MiloDouble {
    pub async fn start() -> MiloDouble {
        Self::serve(None).await
    }

    /// Serve HTTPS with this configuration (which should require client certificates).
    pub async fn start_tls(config: rustls::ServerConfig) -> MiloDouble {
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> MiloDouble {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let deny_all: Policy = Arc::new(|_| (false, String::new()));
        let state = Arc::new(State {
            users: Mutex::default(),
            policy: Mutex::new(deny_all),
            mode: Mutex::new(Mode::Normal),
            token_reviews: Mutex::default(),
            access_reviews: Mutex::default(),
            connections: Mutex::default(),
            require_token: tls.is_none(),
        });
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                let tls = tls.clone();
                let conn = tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, hyper::Error>(handle(req, state).await) }
                    });
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                        Some(acceptor) => {
                            // A client without a certificate of our CA never gets here.
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
                shared.connections.lock().unwrap().push(conn.abort_handle());
            }
        })
        .abort_handle();
        MiloDouble {
            addr,
            state,
            accept,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.state.require_token {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// `token` authenticates as this UserInfo (JSON).
    pub fn add_user(&self, token: &str, user: Value) {
        self.state
            .users
            .lock()
            .unwrap()
            .insert(token.to_owned(), user);
    }

    pub fn set_policy(&self, policy: impl Fn(&Value) -> (bool, String) + Send + Sync + 'static) {
        *self.state.policy.lock().unwrap() = Arc::new(policy);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Close the listener and every open connection: Milo is down.
    pub fn stop(&self) {
        self.accept.abort();
        for c in self.state.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn token_reviews(&self) -> Vec<String> {
        self.state.token_reviews.lock().unwrap().clone()
    }

    pub fn access_reviews(&self) -> Vec<Value> {
        self.state.access_reviews.lock().unwrap().clone()
    }

    pub fn token_reviews_of(&self, token: &str) -> usize {
        self.token_reviews().iter().filter(|t| *t == token).count()
    }

    pub fn access_reviews_of(&self, user: &str) -> Vec<Value> {
        self.access_reviews()
            .into_iter()
            .filter(|s| s["user"] == user)
            .collect()
    }
}

impl Drop for MiloDouble {
    fn drop(&mut self) {
        self.stop();
    }
}

fn reply(code: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> Response<Full<Bytes>> {
    reply(
        code,
        json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let authorized = !state.require_token
        || req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {AUTHORIZER_TOKEN}"));
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Hang => std::future::pending::<()>().await,
        Mode::Delay(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
        Mode::Normal | Mode::Fail(_) => {}
    }
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized");
    }
    let Ok(review) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "not JSON");
    };
    match (method.as_str(), path.as_str()) {
        ("POST", "/apis/authentication.k8s.io/v1/tokenreviews") => {
            let token = review["spec"]["token"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            state.token_reviews.lock().unwrap().push(token.clone());
            if let Mode::Fail(code) = mode {
                return status(code, "InternalError", "etcd is on fire");
            }
            let user = state.users.lock().unwrap().get(&token).cloned();
            let status = match user {
                Some(user) => json!({"authenticated": true, "user": user, "audiences": ["milo"]}),
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            };
            reply(
                201,
                json!({"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1",
                       "metadata":{}, "spec": review["spec"], "status": status}),
            )
        }
        ("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews") => {
            let spec = review["spec"].clone();
            state.access_reviews.lock().unwrap().push(spec.clone());
            if let Mode::Fail(code) = mode {
                return status(code, "InternalError", "etcd is on fire");
            }
            let policy = state.policy.lock().unwrap().clone();
            let (allowed, reason) = policy(&spec);
            let mut status = json!({"allowed": allowed});
            if !reason.is_empty() {
                status["reason"] = json!(reason);
            }
            if !allowed {
                status["denied"] = json!(true);
            }
            reply(
                201,
                json!({"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1",
                       "metadata":{}, "spec": spec, "status": status}),
            )
        }
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}
