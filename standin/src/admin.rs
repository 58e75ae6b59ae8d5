//! The test-only admin port (plain HTTP on loopback): recorded requests, fault injection, the
//! store's contents, seeding and reset.

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
use crate::misbehave::MisbehaveSpec;
use crate::model;
use crate::repr::Repr;
use crate::respond::{self, Body};
use crate::server::Shared;
use crate::store::Write;

/// What the admin API reports about the running server.
#[derive(Debug, Clone)]
pub struct Info {
    pub main_addr: SocketAddr,
    pub admin_addr: SocketAddr,
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

fn ok(v: &Value) -> Response<Body> {
    respond::json(200, v)
}

fn bad(msg: impl Into<String>) -> Response<Body> {
    respond::json(400, &json!({"error": msg.into()}))
}

async fn handle(req: Request<Incoming>, shared: &Shared, info: &Info) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let body = match Limited::new(req.into_body(), 64 * 1024 * 1024)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => return bad(format!("reading body: {e}")),
    };
    let store = &shared.api.store;
    match (&method, path.as_str()) {
        (&Method::GET, "/healthz") => ok(&json!({"status": "ok"})),
        (&Method::GET, "/info") => ok(&json!({
            "mainAddr": info.main_addr.to_string(),
            "adminAddr": info.admin_addr.to_string(),
            "prefix": shared.api.res.prefix,
            "apiVersion": shared.api.res.api_version(),
            "resourceVersion": store.current_rv().to_string(),
        })),
        (&Method::GET, "/requests") => ok(&json!(shared.recorder.all())),
        (&Method::DELETE, "/requests") => {
            shared.recorder.clear();
            ok(&json!({"status": "cleared"}))
        }
        (&Method::GET, "/faults") => ok(&json!(shared.faults.pending())),
        (&Method::POST, "/faults") => add_faults(shared, &body),
        (&Method::GET, "/faults/applied") => ok(&json!(shared.faults.applied())),
        (&Method::DELETE, "/faults") => {
            shared.faults.clear();
            ok(&json!({"status": "cleared"}))
        }
        (&Method::GET, "/misbehave") => ok(&json!(shared.misbehave.pending())),
        (&Method::POST, "/misbehave") => add_misbehaviour(shared, &body),
        (&Method::DELETE, "/misbehave") => {
            shared.misbehave.clear();
            ok(&json!({"status": "cleared"}))
        }
        (&Method::GET, "/events") => ok(&Value::Array(shared.api.stored_json())),
        (&Method::POST, "/events") => seed_events(shared, &body),
        (&Method::DELETE, "/events") => {
            store.reset();
            ok(&json!({"status": "cleared"}))
        }
        (&Method::POST, "/reset") => {
            store.reset();
            shared.recorder.clear();
            shared.faults.clear();
            shared.misbehave.clear();
            ok(&json!({"status": "reset"}))
        }
        (
            _,
            "/healthz" | "/info" | "/requests" | "/faults" | "/faults/applied" | "/misbehave"
            | "/events" | "/reset",
        ) => respond::json(
            405,
            &json!({"error": format!("{method} not allowed on {path}")}),
        ),
        _ => respond::json(404, &json!({"error": format!("no admin endpoint {path}")})),
    }
}

/// One value or a JSON array of them.
fn one_or_many(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice::<Value>(body).map_err(|e| format!("invalid JSON: {e}"))? {
        Value::Array(items) => Ok(items),
        v => Ok(vec![v]),
    }
}

fn add_faults(shared: &Shared, body: &[u8]) -> Response<Body> {
    let items = match one_or_many(body) {
        Ok(i) => i,
        Err(e) => return bad(e),
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
    respond::json(201, &json!(shared.faults.pending()))
}

fn add_misbehaviour(shared: &Shared, body: &[u8]) -> Response<Body> {
    let items = match one_or_many(body) {
        Ok(i) => i,
        Err(e) => return bad(e),
    };
    let mut specs = Vec::new();
    for item in items {
        let spec: MisbehaveSpec = match serde_json::from_value(item) {
            Ok(s) => s,
            Err(e) => return bad(format!("invalid misbehaviour: {e}")),
        };
        if let Err(e) = spec.validate() {
            return bad(e);
        }
        specs.push(spec);
    }
    for s in specs {
        shared.misbehave.push(s);
    }
    respond::json(201, &json!(shared.misbehave.pending()))
}

/// Stores events directly (no scope, no filter): metadata.namespace and metadata.name are
/// required; uid and creationTimestamp are filled in when missing; each body is decoded like a
/// core/v1 one (fields the Event type does not have are dropped). An existing object with the
/// same key is replaced. Watchers see the changes.
fn seed_events(shared: &Shared, body: &[u8]) -> Response<Body> {
    let items = match one_or_many(body) {
        Ok(i) => i,
        Err(e) => return bad(e),
    };
    let mut prepared = Vec::new();
    for obj in items {
        let Value::Object(mut obj) = obj else {
            return bad("each event must be a JSON object");
        };
        obj.remove("apiVersion");
        obj.remove("kind");
        let mut e = match Repr::Stored.decode(obj) {
            Ok(d) => d.event,
            Err(e) => return bad(format!("invalid event: {e}")),
        };
        let (ns, name) = (
            model::namespace(&e).to_string(),
            model::name(&e).to_string(),
        );
        if ns.is_empty() || name.is_empty() {
            return bad("metadata.namespace and metadata.name are required");
        }
        if e.metadata.uid.is_none() {
            e.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        }
        if e.metadata.creation_timestamp.is_none() {
            e.metadata.creation_timestamp = Some(model::now());
        }
        prepared.push((ns, name, e));
    }
    let mut stored = Vec::new();
    for (ns, name, obj) in prepared {
        let result = shared.api.store.write(&ns, &name, false, |cur| {
            Ok(match cur {
                Some(_) => Write::Replace(obj),
                None => Write::Create(obj),
            })
        });
        match result {
            Ok(w) => stored.push(shared.api.stored_object(&w.object)),
            Err(e) => return respond::json(500, &json!({"error": e.to_string()})),
        }
    }
    respond::json(201, &json!(stored))
}
