//! Shared by the integration tests: a test PKI, a started stand-in with the sandbox files,
//! and HTTP clients for it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use milo_standin::{Config, Handle, SandboxFiles, TlsFiles};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::ring::default_provider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

pub const ORG: &str =
    "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane";
pub const PROJECT: &str =
    "/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane";
pub const PROJECT_SHORT: &str = "/projects/web-app/control-plane";
pub const USER: &str = "/apis/iam.miloapis.com/v1alpha1/users/uid-bob/control-plane";

pub fn install_provider() {
    let _ = default_provider().install_default();
}

/// A CA that signs server and client certificates, written as PEM files.
pub struct Pki {
    pub dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    pub ca: PathBuf,
}

fn validity(p: &mut CertificateParams) {
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
}

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{name} CA"));
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&ca, cert.pem()).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            issuer: Issuer::new(params, key),
            ca,
        }
    }

    /// (cert, key) for `localhost` and `127.0.0.1`.
    pub fn server(&self, name: &str) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        validity(&mut params);
        self.write(name, params)
    }

    /// (cert, key) of a client certificate with subject CN `cn` and O `groups` (rcgen keeps
    /// only the last value of an attribute type).
    pub fn client(&self, name: &str, cn: &str, groups: &[&str]) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, cn);
        for g in groups {
            dn.push(DnType::OrganizationName, *g);
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        validity(&mut params);
        self.write(name, params)
    }

    fn write(&self, name: &str, params: CertificateParams) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let c = self.dir.join(format!("{name}.pem"));
        let k = self.dir.join(format!("{name}-key.pem"));
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }
}

pub fn tls_client(ca: &Path, identity: Option<(&Path, &Path)>, h2: bool) -> reqwest::Client {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A plain-HTTP stand-in with the sandbox users and policy.
pub struct Plain {
    pub dir: tempfile::TempDir,
    pub files: SandboxFiles,
    pub handle: Handle,
    pub http: reqwest::Client,
}

impl Plain {
    pub async fn start() -> Plain {
        install_provider();
        let dir = tempfile::tempdir().unwrap();
        let (config, files) = Config::sandbox(dir.path()).unwrap();
        let handle = milo_standin::start(config).await.unwrap();
        Plain {
            dir,
            files,
            handle,
            http: plain_client(),
        }
    }

    pub fn token(&self, user: &str) -> String {
        self.files.token(user).unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    /// GET as `user` (None: no credentials).
    pub async fn get(&self, user: Option<&str>, path: &str) -> reqwest::Response {
        self.get_accept(user, path, None).await
    }

    pub async fn get_accept(
        &self,
        user: Option<&str>,
        path: &str,
        accept: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(u) = user {
            req = req.bearer_auth(self.token(u));
        }
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        req.send().await.unwrap()
    }

    pub async fn post_json(
        &self,
        user: Option<&str>,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url(path)).json(body);
        if let Some(u) = user {
            req = req.bearer_auth(self.token(u));
        }
        req.send().await.unwrap()
    }

    pub fn last(&self) -> milo_standin::RecordedRequest {
        self.handle.requests().pop().unwrap()
    }
}

/// Status and JSON body.
pub async fn json(resp: reqwest::Response) -> (u16, Value) {
    let code = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (code, v)
}

pub fn content_type(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A TLS stand-in with client certificates verified against `pki`.
pub async fn start_tls(pki: &Pki, files: &SandboxFiles) -> Handle {
    install_provider();
    let (cert, key) = pki.server("milo-server");
    let config = Config::from_files(&files.tokens, &files.policy)
        .unwrap()
        .with_tls(TlsFiles {
            cert,
            key,
            client_ca: Some(pki.ca.clone()),
        });
    milo_standin::start(config).await.unwrap()
}
