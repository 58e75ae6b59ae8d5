//! Shared helpers: start the stand-in in-process on port 0 with fresh certificates, and talk to
//! it over mTLS (main port) or plain HTTP (admin port).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use activity_standin::{CertPaths, Config, Handle};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub const PREFIX: &str = "/apis/activity.miloapis.com/v1alpha1";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub certs: CertPaths,
    pub handle: Handle,
}

pub async fn start() -> Env {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let certs = activity_standin::generate_certs(dir.path(), "activity", false).unwrap();
    let mut config = Config::new(&certs);
    config.bookmark_interval = Duration::from_millis(200);
    tweak(&mut config);
    let handle = activity_standin::start(config).await.unwrap();
    Env { dir, certs, handle }
}

impl Env {
    /// A client presenting the front-proxy certificate from this server's CA.
    pub fn client(&self) -> Client {
        let tls = activity_standin::client_config(
            &self.certs.ca,
            Some((&self.certs.client, &self.certs.client_key)),
        )
        .unwrap();
        Client::new(self.handle.main_addr(), tls)
    }

    pub fn admin(&self) -> Admin {
        Admin {
            addr: self.handle.admin_addr(),
        }
    }
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Bytes,
}

pub struct Client {
    pub addr: SocketAddr,
    pub tls: Arc<ClientConfig>,
    /// Identity headers sent on every request unless overridden.
    pub identity: Vec<(String, String)>,
}

fn build(
    method: Method,
    uri: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost");
    for (k, v) in headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Full::new(Bytes::from(body.unwrap_or("").to_string())))
        .unwrap()
}

async fn read(resp: hyper::Response<Incoming>) -> Response {
    let status = resp.status();
    let headers = resp.headers().clone();
    let raw = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Response {
        status,
        headers,
        body,
        raw,
    }
}

impl Client {
    pub fn new(addr: SocketAddr, tls: Arc<ClientConfig>) -> Self {
        Self {
            addr,
            tls,
            identity: vec![
                ("X-Remote-User".into(), "admin".into()),
                ("X-Remote-Group".into(), "system:masters".into()),
            ],
        }
    }

    /// A tenant identity: user plus the scope extras, escaped like client-go does.
    pub fn tenant(mut self, parent_type: &str, parent_name: &str) -> Self {
        self.identity = vec![
            ("X-Remote-User".into(), format!("user-of-{parent_name}")),
            (
                "X-Remote-Extra-Iam.miloapis.com%2Fparent-Type".into(),
                parent_type.into(),
            ),
            (
                "X-Remote-Extra-iam.miloapis.com%2fparent-name".into(),
                parent_name.into(),
            ),
        ];
        self
    }

    pub async fn connect(
        &self,
    ) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(activity_standin::server_name("localhost")?, tcp)
            .await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// One request on a fresh connection; errors are transport errors.
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
    ) -> anyhow::Result<Response> {
        let mut sender = self.connect().await?;
        let mut headers = self.identity.clone();
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        if body.is_some()
            && !extra
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), "application/json".into()));
        }
        let resp = sender
            .send_request(build(method, path, &headers, body))
            .await?;
        Ok(read(resp).await)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        self.try_send(method, path, extra, body).await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(Method::POST, path, &[], Some(&body.to_string()))
            .await
    }

    /// Starts a streaming GET (a watch) and returns the response head and a line reader.
    pub async fn watch(&self, path: &str, extra: &[(&str, &str)]) -> Watch {
        let mut sender = self.connect().await.unwrap();
        let mut headers = self.identity.clone();
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let resp = sender
            .send_request(build(Method::GET, path, &headers, None))
            .await
            .unwrap();
        Watch {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.into_body(),
            buf: Vec::new(),
            frames: 0,
            last_raw: String::new(),
        }
    }
}

pub struct Watch {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    buf: Vec<u8>,
    /// Data frames (HTTP/1.1 chunks) received so far.
    pub frames: usize,
    /// The text of the last event line returned by `next`.
    pub last_raw: String,
}

impl Watch {
    /// The next watch event, or `None` when the stream ended or nothing came within `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                self.last_raw = String::from_utf8(line.clone()).unwrap();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??;
            let frame = frame.ok()?;
            if let Some(data) = frame.data_ref() {
                self.frames += 1;
                self.buf.extend_from_slice(data);
            }
        }
    }

    /// The next event that is not a BOOKMARK.
    pub async fn next_change(&mut self, wait: Duration) -> Option<Value> {
        loop {
            let e = self.next(wait).await?;
            if e["type"] != "BOOKMARK" {
                return Some(e);
            }
        }
    }

    /// True once the server ended the stream (within `wait`).
    pub async fn ended(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return false,
                Ok(None) => return true,
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) => return true,
            }
        }
    }
}

pub struct Admin {
    pub addr: SocketAddr,
}

impl Admin {
    pub async fn send(&self, method: Method, path: &str, body: Option<&str>) -> Response {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let resp = sender
            .send_request(build(method, path, &headers, body))
            .await
            .unwrap();
        read(resp).await
    }

    pub async fn requests(&self) -> Vec<Value> {
        let r = self.send(Method::GET, "/requests", None).await;
        assert_eq!(r.status, 200);
        r.body.as_array().cloned().unwrap()
    }

    pub async fn fault(&self, fault: &str) {
        let r = self.send(Method::POST, "/faults", Some(fault)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

pub fn event(name: &str, reason: &str) -> Value {
    serde_json::json!({
        "apiVersion": "activity.miloapis.com/v1alpha1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": format!("pod-{name}"), "apiVersion": "v1"},
        "reason": reason,
        "message": format!("message for {name}"),
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-06-01T12:00:00Z",
        "lastTimestamp": "2024-06-01T12:00:00Z",
        "count": 1,
        "type": "Normal"
    })
}

pub fn scoped(mut e: Value, parent_type: &str, parent_name: &str) -> Value {
    e["metadata"]["annotations"] = serde_json::json!({
        "platform.miloapis.com/scope.type": parent_type,
        "platform.miloapis.com/scope.name": parent_name,
    });
    e
}

pub fn ns_path(ns: &str) -> String {
    format!("{PREFIX}/namespaces/{ns}/events")
}

pub const WAIT: Duration = Duration::from_secs(5);
