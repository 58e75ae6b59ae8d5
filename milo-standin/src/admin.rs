//! The test-only admin port (plain HTTP/1.1, loopback only): the request log and faults.
//!
//! | method | path | does |
//! |---|---|---|
//! | GET | `/healthz` | `{"status":"ok"}` |
//! | GET | `/info` | bound addresses and scheme |
//! | GET | `/requests` | the request log; `?class=event` (any class), `?since=SEQ` filter |
//! | GET | `/requests/events` | only Event requests (must stay empty in the product flow) |
//! | DELETE | `/requests` | clears the log |
//! | GET / POST / DELETE | `/faults` | list, add (one spec or an array), clear |
//! | POST | `/reset` | clears log and faults |

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::faults::FaultSpec;
use crate::recorder::RecordedRequest;
use crate::respond::{self, Body};
use crate::server::Shared;

#[derive(Debug, Clone)]
pub struct Info {
    pub main_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub tls: bool,
}

pub async fn serve_admin(
    listener: TcpListener,
    shared: Arc<Shared>,
    info: Info,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let shared = shared.clone();
                let info = info.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req| {
                        let shared = shared.clone();
                        let info = info.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &shared, &info).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
                });
            }
        }
    }
    conns.abort_all();
}

fn bad(msg: impl Into<String>) -> Response<Body> {
    respond::json(400, &json!({"error": msg.into()}))
}

fn filtered(shared: &Shared, query: Option<&str>) -> Result<Vec<RecordedRequest>, String> {
    let mut class = None;
    let mut since = 0u64;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "class" => class = Some(v.into_owned()),
            "since" => {
                since = v
                    .parse()
                    .map_err(|_| format!("since must be a number, got {v:?}"))?
            }
            other => return Err(format!("unknown parameter {other:?}")),
        }
    }
    Ok(shared
        .recorder
        .all()
        .into_iter()
        .filter(|r| r.seq > since && class.as_ref().is_none_or(|c| &r.class == c))
        .collect())
}

async fn handle(req: Request<Incoming>, shared: &Shared, info: &Info) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let body = match Limited::new(req.into_body(), 1024 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(format!("reading body: {e}")),
    };
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => respond::json(200, &json!({"status": "ok"})),
        (&Method::GET, "/info") => respond::json(
            200,
            &json!({
                "mainAddr": info.main_addr.to_string(),
                "adminAddr": info.admin_addr.to_string(),
                "scheme": if info.tls { "https" } else { "http" },
            }),
        ),
        (&Method::GET, "/requests") => match filtered(shared, query.as_deref()) {
            Ok(r) => respond::json(200, &r),
            Err(e) => bad(e),
        },
        (&Method::GET, "/requests/events") => {
            let events: Vec<RecordedRequest> = shared
                .recorder
                .all()
                .into_iter()
                .filter(RecordedRequest::is_event)
                .collect();
            respond::json(200, &events)
        }
        (&Method::DELETE, "/requests") => {
            shared.recorder.clear();
            respond::json(200, &json!({"status": "cleared"}))
        }
        (&Method::GET, "/faults") => respond::json(200, &shared.faults.pending()),
        (&Method::POST, "/faults") => add_faults(shared, &body),
        (&Method::DELETE, "/faults") => {
            shared.faults.clear();
            respond::json(200, &json!({"status": "cleared"}))
        }
        (&Method::POST, "/reset") => {
            shared.recorder.clear();
            shared.faults.clear();
            respond::json(200, &json!({"status": "reset"}))
        }
        (_, "/healthz" | "/info" | "/requests" | "/requests/events" | "/faults" | "/reset") => {
            respond::json(
                405,
                &json!({"error": format!("{method} not allowed on {path}")}),
            )
        }
        _ => respond::json(404, &json!({"error": format!("no admin endpoint {path}")})),
    }
}

fn add_faults(shared: &Shared, body: &[u8]) -> Response<Body> {
    let items = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(e) => return bad(format!("invalid JSON: {e}")),
    };
    let mut specs = Vec::new();
    for item in items {
        let spec: FaultSpec = match serde_json::from_value(item) {
            Ok(s) => s,
            Err(e) => return bad(format!("invalid fault: {e}")),
        };
        if let Err(e) = spec.validate() {
            return bad(e);
        }
        specs.push(spec);
    }
    for s in specs {
        shared.faults.push(s);
    }
    respond::json(201, &shared.faults.pending())
}
