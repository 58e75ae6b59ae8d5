//! The authorizer binary on its own: gRPC checks sent directly, a Milo double over mutual TLS
//! (the production kubeconfig shape: CA plus client certificate), gRPC health, the probe and
//! metrics listener, and shutdown on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use activity_e2e::envoy::admin_get;
use activity_e2e::tools;
use base64::Engine;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use envoy_types::pb::google::protobuf::value::Kind;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};
use support::milo::MiloDouble;
use support::{user, Authz};

/// A CA, a serving certificate for 127.0.0.1 and a client certificate, all PEM.
struct Pki {
    ca_pem: String,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client_pem: String,
    client_key_pem: String,
    ca_der: CertificateDer<'static>,
}

fn pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{name} test CA"));
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        "system:serviceaccount:milo-system:activity-events-authz",
    );
    client.distinguished_name = dn;
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    Pki {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        server: (
            server_cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
        ),
        client_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// Milo's side: serve with the PKI's certificate, require a client certificate of its CA.
fn server_config(p: &Pki) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(p.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![p.server.0.clone()], p.server.1.clone_key())
        .unwrap()
}

/// The production shape: https, the CA, a client certificate and key, inline.
fn tls_kubeconfig(url: &str, ca_pem: &str, p: &Pki) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: milo
  cluster:
    server: {url}
    certificate-authority-data: {}
users:
- name: authorizer
  user:
    client-certificate-data: {}
    client-key-data: {}
contexts:
- name: milo
  context: {{ cluster: milo, user: authorizer }}
current-context: milo
",
        b64(ca_pem),
        b64(&p.client_pem),
        b64(&p.client_key_pem),
    )
}

fn check_request(method: &str, path: &str, token: Option<&str>) -> CheckRequest {
    let mut headers = std::collections::HashMap::new();
    if let Some(t) = token {
        headers.insert("authorization".to_owned(), format!("Bearer {t}"));
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    headers,
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

async fn check(authz: &Authz, req: CheckRequest) -> CheckResponse {
    let mut client = AuthorizationClient::connect(format!("http://{}", authz.grpc))
        .await
        .unwrap();
    client.check(req).await.unwrap().into_inner()
}

fn userinfo(resp: &CheckResponse) -> Value {
    let md = resp.dynamic_metadata.as_ref().expect("metadata");
    let Some(Kind::StringValue(b64)) = &md.fields["userinfo"].kind else {
        panic!("{md:?}")
    };
    let json = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

fn denied_body(resp: &CheckResponse) -> (i32, Value) {
    let Some(HttpResponse::DeniedResponse(d)) = &resp.http_response else {
        panic!("{resp:?}")
    };
    (
        d.status.as_ref().unwrap().code,
        serde_json::from_str(&d.body).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_over_mutual_tls_with_the_kubeconfigs_client_certificate() {
    let dir = tools::run_dir("authz-mtls").unwrap();
    let p = pki("milo");
    let milo = MiloDouble::start_tls(server_config(&p)).await;
    milo.add_user(
        "dave-token",
        user(
            "dave",
            &["system:authenticated"],
            json!({"example.com/k": ["v"]}),
        ),
    );
    milo.set_policy(|spec| (spec["user"] == "dave", String::new()));
    let mut authz =
        Authz::start_with_kubeconfig(&dir, &tls_kubeconfig(&milo.url(), &p.ca_pem, &p), &[]);

    let path = "/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane/api/v1/namespaces/default/events";
    let resp = check(&authz, check_request("GET", path, Some("dave-token"))).await;
    assert_eq!(resp.status.as_ref().unwrap().code, 0, "{resp:?}");
    let u = userinfo(&resp);
    assert_eq!(u["username"], "dave");
    assert_eq!(u["uid"], "dave-uid");
    assert_eq!(u["extra"]["example.com/k"], json!(["v"]));
    assert_eq!(
        u["extra"]["iam.miloapis.com/parent-type"],
        json!(["Organization"])
    );
    assert_eq!(u["extra"]["iam.miloapis.com/parent-name"], json!(["acme"]));
    assert_eq!(milo.token_reviews(), ["dave-token"]);
    assert_eq!(milo.access_reviews().len(), 1);

    // A non-event request: OK, nothing handed over, nothing reviewed.
    let resp = check(
        &authz,
        check_request("GET", "/api/v1/namespaces/default/pods", None),
    )
    .await;
    assert_eq!(resp.status.as_ref().unwrap().code, 0);
    assert_eq!(resp.dynamic_metadata, None);
    assert_eq!(milo.token_reviews().len(), 1);

    // gRPC health, for Envoy's cluster health checks.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", authz.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "envoy.service.auth.v3.Authorization"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    // Probes and metrics.
    assert_eq!(admin_get(&authz.metrics, "/healthz").unwrap(), "ok");
    assert_eq!(admin_get(&authz.metrics, "/readyz").unwrap(), "ok");
    assert_eq!(
        authz.metric("activity_events_authz_checks_total{decision=\"allowed\"}"),
        1.0
    );
    assert_eq!(
        authz.metric("activity_events_authz_checks_total{decision=\"not_event\"}"),
        1.0
    );
    let text = authz.metrics_text();
    assert!(
        text.contains(
            "activity_events_authz_review_duration_seconds_count{review=\"tokenreview\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("activity_events_authz_cache_entries{cache=\"token\"} 1"),
        "{text}"
    );

    // SIGTERM: a clean exit.
    let status = authz.terminate();
    assert!(status.success(), "{status:?}\n{}", authz.log());
    assert!(authz.log().contains("shutting down"));
    assert!(!authz.log().contains("dave-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_milo_whose_certificate_is_not_trusted_is_never_asked() {
    let dir = tools::run_dir("authz-untrusted").unwrap();
    let p = pki("milo");
    let other = pki("impostor");
    let milo = MiloDouble::start_tls(server_config(&p)).await;
    milo.add_user("dave-token", user("dave", &[], json!({})));
    // The kubeconfig trusts another CA than the one that signed Milo's certificate.
    let authz =
        Authz::start_with_kubeconfig(&dir, &tls_kubeconfig(&milo.url(), &other.ca_pem, &p), &[]);
    let resp = check(
        &authz,
        check_request(
            "GET",
            "/api/v1/namespaces/default/events",
            Some("dave-token"),
        ),
    )
    .await;
    assert_eq!(
        resp.status.as_ref().unwrap().code,
        tonic::Code::Unavailable as i32
    );
    let (code, body) = denied_body(&resp);
    assert_eq!(code, 503);
    assert_eq!(
        body["message"],
        "the request could not be authenticated: Milo is unavailable (unreachable)"
    );
    assert!(
        milo.token_reviews().is_empty(),
        "the token went to an untrusted server"
    );
}
