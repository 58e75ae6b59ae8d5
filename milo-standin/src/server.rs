//! The main port: accept loop (TLS or plain), HTTP/1.1 and HTTP/2 per connection, and the
//! per-request pipeline, in Milo's order: decode the path (Go) → control-plane prefix →
//! authenticate → parent extras → authorize → serve. Every request is recorded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;
use http::{header, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::authn::{self, Authn};
use crate::classify::{self, Route};
use crate::discovery;
use crate::faults::{FaultAction, Faults, ReviewKind};
use crate::namespaces::{IncludeObject, Namespaces, Selector};
use crate::negotiate::{self, DiscoveryForm};
use crate::openapi::OpenApi;
use crate::parent::{self, PrefixError, Resolved};
use crate::path;
use crate::policy::{Action, Policy, Subject};
use crate::recorder::{now_rfc3339, RecordedRequest, Recorder, ReviewRecord};
use crate::respond::{self, Body};
use crate::reviews;
use crate::status::{self, ApiError};
use crate::tokens::{TokenTable, UserInfo};

/// kube-apiserver's request body limit.
const MAX_BODY: usize = 3 * 1024 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by both ports.
pub struct Shared {
    pub tokens: TokenTable,
    pub policy: Policy,
    pub namespaces: Namespaces,
    pub openapi: OpenApi,
    pub recorder: Recorder,
    pub faults: Faults,
    pub api_audiences: Vec<String>,
    pub verbose: bool,
}

pub async fn serve_main(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
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
                    conns.spawn(connection(tcp, remote, tls.clone(), shared.clone()));
                }
                Err(e) => {
                    if shared.verbose {
                        eprintln!("milo-standin: accept failed: {e}");
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
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let Some(acceptor) = tls else {
        serve(tcp, None, shared).await;
        return;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let client = crate::tls::peer_user(stream.get_ref().1);
            serve(stream, client, shared).await;
        }
        Ok(Err(e)) => {
            if shared.verbose {
                eprintln!("milo-standin: TLS handshake from {remote} refused: {e}");
            }
        }
        Err(_) => {}
    }
}

async fn serve<IO>(io: IO, client: Option<UserInfo>, shared: Arc<Shared>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let client = Arc::new(client);
    let svc = service_fn(move |req| {
        let shared = shared.clone();
        let client = client.clone();
        async move {
            Ok::<_, std::convert::Infallible>(handle(req, &shared, client.as_ref().as_ref()).await)
        }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

fn header_string(parts: &Parts, name: header::HeaderName) -> Option<String> {
    parts
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

async fn handle(
    req: Request<Incoming>,
    shared: &Shared,
    client: Option<&UserInfo>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut rec = RecordedRequest {
        seq: 0,
        time: now_rfc3339(),
        method: parts.method.to_string(),
        raw_path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        path: None,
        parent: None,
        served_path: None,
        class: "invalid".into(),
        event_api: None,
        user: None,
        groups: Vec::new(),
        authenticated_by: None,
        accept: header_string(&parts, header::ACCEPT),
        user_agent: header_string(&parts, header::USER_AGENT),
        version: format!("{:?}", parts.version),
        status: None,
        fault: None,
        review: None,
    };

    let decoded = match path::decode(parts.uri.path()) {
        Ok(d) => d,
        Err(_) => {
            // Go's server refuses the request line itself, before any handler.
            let mut resp = respond::bytes(400, "text/plain; charset=utf-8", "400 Bad Request");
            resp.headers_mut().remove(header::CACHE_CONTROL);
            return finish(shared, rec, resp);
        }
    };
    rec.path = Some(path::display(&decoded));
    let resolved = match parent::resolve(&decoded) {
        Ok(r) => r,
        Err(e) => return finish(shared, rec, prefix_error(&e)),
    };
    rec.parent = resolved.parent.clone();
    rec.served_path = Some(path::display(&resolved.path));
    let route = classify::route(&resolved.path);
    rec.class = route.class().into();
    if let Route::Event(api) = &route {
        rec.event_api = serde_json::to_value(api)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
    }
    let authn = authn::authenticate(&parts.headers, client, &shared.tokens);
    if let Authn::Ok { user, by } = &authn {
        rec.user = Some(user.username.clone());
        rec.groups = user.groups.clone();
        rec.authenticated_by = Some((*by).to_string());
    }
    let seq = shared.recorder.push(rec);
    if shared.verbose {
        eprintln!(
            "milo-standin: #{seq} {} {} -> {}",
            parts.method,
            parts.uri,
            route.class()
        );
    }

    let resp = match respond(shared, &parts, body, &resolved, &route, authn, seq).await {
        Ok(r) => r,
        Err(e) => respond::error(&e),
    };
    let code = resp.status().as_u16();
    shared.recorder.update(seq, |r| r.status = Some(code));
    resp
}

fn finish(shared: &Shared, mut rec: RecordedRequest, resp: Response<Body>) -> Response<Body> {
    rec.status = Some(resp.status().as_u16());
    let seq = shared.recorder.push(rec);
    if shared.verbose {
        eprintln!("milo-standin: #{seq} refused with {}", resp.status());
    }
    resp
}

/// Milo's answer to an invalid control-plane id: plain text 403 for kubectl's first discovery
/// request (so kubectl prints it), a 400 Status otherwise. Sent before authentication.
fn prefix_error(e: &PrefixError) -> Response<Body> {
    if e.is_discovery() {
        let mut resp = respond::text(403, "text/plain", e.to_string());
        resp.headers_mut().remove(header::CACHE_CONTROL);
        resp
    } else {
        respond::error(&ApiError::BadRequest(e.to_string()))
    }
}

fn is_read(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD)
}

fn query_param(parts: &Parts, name: &str) -> Option<String> {
    form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn subject(user: &UserInfo) -> Subject<'_> {
    Subject {
        user: &user.username,
        uid: &user.uid,
        groups: &user.groups,
        extra: &user.extra,
    }
}

async fn respond(
    shared: &Shared,
    parts: &Parts,
    body: Incoming,
    resolved: &Resolved,
    route: &Route,
    authn: Authn,
    seq: u64,
) -> Result<Response<Body>, ApiError> {
    let user = match authn {
        Authn::Ok { user, .. } => Some(user),
        Authn::Failed => None,
        Authn::Anonymous if *route == Route::Health => {
            // The probes kube-apiserver allows without credentials.
            return Ok(ok_text());
        }
        Authn::Anonymous => None,
    };
    let Some(mut user) = user else {
        return Err(ApiError::Unauthorized);
    };
    // After authentication, before authorization: the parent extras from the URL.
    if let Some(p) = &resolved.parent {
        for (k, v) in p.extras() {
            user.extra.insert(k.to_string(), vec![v]);
        }
    }
    let served = path::display(&resolved.path);
    match route {
        Route::Health => Ok(ok_text()),
        Route::Event(_) | Route::Other => Err(ApiError::PathNotFound),
        Route::NamespaceList | Route::Namespace(_) => namespaces(shared, parts, route, &user),
        Route::TokenReviews => review(shared, parts, body, &user, ReviewKind::Token, seq).await,
        Route::SubjectAccessReviews => {
            review(shared, parts, body, &user, ReviewKind::SubjectAccess, seq).await
        }
        _ => {
            if !is_read(&parts.method) {
                return Err(ApiError::MethodNotAllowed);
            }
            let d = shared.policy.authorize(
                &subject(&user),
                &Action::NonResource {
                    verb: "get".into(),
                    path: served.clone(),
                },
            );
            if !d.allowed() {
                return Err(ApiError::Forbidden {
                    group: String::new(),
                    resource: String::new(),
                    name: String::new(),
                    message: status::cannot_path(&user.username, "get", &served),
                    reason: d.reason,
                });
            }
            documents(shared, parts, route)
        }
    }
}

fn ok_text() -> Response<Body> {
    let mut resp = respond::text(200, "text/plain; charset=utf-8", "ok");
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn vary_accept(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// Discovery, version and OpenAPI documents.
fn documents(shared: &Shared, parts: &Parts, route: &Route) -> Result<Response<Body>, ApiError> {
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    match route {
        Route::CoreVersions => Ok(vary_accept(match negotiate::discovery(accept)? {
            DiscoveryForm::Legacy => respond::json(200, &discovery::api_versions()),
            DiscoveryForm::Aggregated(v) => respond::json_as(
                200,
                &v.content_type(),
                &discovery::aggregated_core(v.as_str()),
            ),
        })),
        Route::Groups => Ok(vary_accept(match negotiate::discovery(accept)? {
            DiscoveryForm::Legacy => respond::json(200, &discovery::group_list()),
            DiscoveryForm::Aggregated(v) => respond::json_as(
                200,
                &v.content_type(),
                &discovery::aggregated_groups(v.as_str()),
            ),
        })),
        _ => {
            negotiate::plain(accept)?;
            match route {
                Route::Root => Ok(respond::json(200, &discovery::root_paths())),
                Route::Version => Ok(respond::json(200, &discovery::version())),
                Route::CoreResources => Ok(respond::json(
                    200,
                    &discovery::resource_list(&discovery::CORE_V1),
                )),
                Route::Group(g) => discovery::find_group(g)
                    .map(|gv| respond::json(200, &discovery::group(gv)))
                    .ok_or(ApiError::PathNotFound),
                Route::GroupResources(g, v) => discovery::find_group(g)
                    .filter(|gv| gv.version == v)
                    .map(|gv| respond::json(200, &discovery::resource_list(gv)))
                    .ok_or(ApiError::PathNotFound),
                Route::OpenApiIndex => Ok(respond::json(200, shared.openapi.index())),
                Route::OpenApiDocument(key) => openapi_document(shared, parts, key),
                _ => Err(ApiError::PathNotFound),
            }
        }
    }
}

/// kube-openapi's handler: `?hash=` of the current document → cacheable for good; another
/// hash → 301 to the current one; no hash → revalidate every time.
fn openapi_document(shared: &Shared, parts: &Parts, key: &str) -> Result<Response<Body>, ApiError> {
    let doc = shared.openapi.get(key).ok_or(ApiError::PathNotFound)?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", doc.hash)).ok();
    match query_param(parts, "hash") {
        Some(h) if h != doc.hash => {
            let location = format!("{}?hash={}", parts.uri.path(), doc.hash);
            let mut resp = respond::text(301, "text/plain; charset=utf-8", "");
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        hash => {
            let mut resp = respond::bytes(200, respond::JSON, doc.body.clone());
            let h = resp.headers_mut();
            if hash.is_some() {
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, immutable"),
                );
            }
            if let Some(e) = etag {
                h.insert(header::ETAG, e);
            }
            Ok(resp)
        }
    }
}

fn namespaces(
    shared: &Shared,
    parts: &Parts,
    route: &Route,
    user: &UserInfo,
) -> Result<Response<Body>, ApiError> {
    if !is_read(&parts.method) {
        return Err(ApiError::MethodNotAllowed);
    }
    let watch =
        query_param(parts, "watch").is_some_and(|w| w == "1" || w.eq_ignore_ascii_case("true"));
    let name = match route {
        Route::Namespace(n) => Some(path::display(n)),
        _ => None,
    };
    let verb = classify::verb(&parts.method, name.is_none(), watch);
    let d = shared.policy.authorize(
        &subject(user),
        &Action::Resource {
            verb: verb.into(),
            group: String::new(),
            resource: "namespaces".into(),
            subresource: String::new(),
            namespace: name.clone().unwrap_or_default(),
            name: name.clone().unwrap_or_default(),
        },
    );
    if !d.allowed() {
        let ns = name.clone().unwrap_or_default();
        return Err(ApiError::Forbidden {
            group: String::new(),
            resource: "namespaces".into(),
            name: ns.clone(),
            message: status::cannot(&user.username, verb, "", "namespaces", &ns),
            reason: d.reason,
        });
    }
    if watch {
        return Err(ApiError::BadRequest(
            "watching namespaces is not supported by the Milo stand-in".into(),
        ));
    }
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let form = negotiate::object(accept)?;
    let include = IncludeObject::parse(query_param(parts, "includeObject").as_deref())?;
    let value = match route {
        Route::Namespace(n) => {
            let ns = shared.namespaces.get(n)?;
            shared.namespaces.render_one(&ns, form, include)
        }
        _ => {
            let labels = Selector::parse(
                query_param(parts, "labelSelector").as_deref(),
                "labelSelector",
            )?;
            let fields = Selector::parse(
                query_param(parts, "fieldSelector").as_deref(),
                "fieldSelector",
            )?;
            let items = shared.namespaces.list(&labels, &fields)?;
            shared.namespaces.render_list(&items, form, include)
        }
    };
    Ok(respond::json_as(200, &form.content_type(), &value))
}

async fn review(
    shared: &Shared,
    parts: &Parts,
    body: Incoming,
    user: &UserInfo,
    kind: ReviewKind,
    seq: u64,
) -> Result<Response<Body>, ApiError> {
    if parts.method != Method::POST {
        return Err(ApiError::MethodNotAllowed);
    }
    let (group, resource) = match kind {
        ReviewKind::Token => ("authentication.k8s.io", "tokenreviews"),
        ReviewKind::SubjectAccess => ("authorization.k8s.io", "subjectaccessreviews"),
    };
    let d = shared.policy.authorize(
        &subject(user),
        &Action::Resource {
            verb: "create".into(),
            group: group.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: String::new(),
            name: String::new(),
        },
    );
    if !d.allowed() {
        return Err(ApiError::Forbidden {
            group: group.into(),
            resource: resource.into(),
            name: String::new(),
            message: status::cannot(&user.username, "create", group, resource, ""),
            reason: d.reason,
        });
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(respond::JSON));
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return Err(ApiError::RequestEntityTooLarge(MAX_BODY))
        }
        Err(e) => {
            return Err(ApiError::BadRequest(format!(
                "reading the request body: {e}"
            )))
        }
    };
    let record = |spec, status| ReviewRecord {
        kind: kind.kind().into(),
        spec,
        status,
    };
    if let Some(fault) = shared.faults.take(kind) {
        shared
            .recorder
            .update(seq, |r| r.fault = Some(fault.name().into()));
        match fault {
            FaultAction::Status { status } => {
                let spec = reviews::spec_of(&bytes);
                shared
                    .recorder
                    .update(seq, |r| r.review = Some(record(spec, None)));
                return Err(ApiError::Injected(status));
            }
            FaultAction::Hang { .. } => {
                if let Some(d) = fault.hang_duration() {
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
    let answered = match kind {
        ReviewKind::Token => reviews::token_review(&bytes, &shared.tokens, &shared.api_audiences)
            .map(|r| (reviews::parts(&r), respond::json(201, &r))),
        ReviewKind::SubjectAccess => reviews::subject_access_review(&bytes, &shared.policy)
            .map(|r| (reviews::parts(&r), respond::json(201, &r))),
    };
    match answered {
        Ok(((spec, status), resp)) => {
            shared
                .recorder
                .update(seq, |r| r.review = Some(record(spec, status)));
            Ok(resp)
        }
        Err(e) => {
            let spec = reviews::spec_of(&bytes);
            shared
                .recorder
                .update(seq, |r| r.review = Some(record(spec, None)));
            Err(e)
        }
    }
}
