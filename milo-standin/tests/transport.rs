//! HTTPS: the sandbox PKI, optional client certificates (CN = user, O = groups) verified
//! against the client CA, HTTP/2 through ALPN, and the binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{install_provider, json, start_tls, tls_client, Pki, ORG};
use milo_standin::{Config, TlsFiles, AUTHORIZER_USER};
use serde_json::json;

#[tokio::test]
async fn serves_with_the_sandbox_pki() {
    install_provider();
    let dir = tempfile::tempdir().unwrap();
    let certs =
        activity_standin::generate_certs(&dir.path().join("certs"), "milo.local", false).unwrap();
    let files = milo_standin::write_sandbox_files(&dir.path().join("ids"), false).unwrap();
    let config = Config::from_files(&files.tokens, &files.policy)
        .unwrap()
        .with_tls(TlsFiles {
            cert: certs.server.clone(),
            key: certs.server_key.clone(),
            client_ca: Some(certs.ca.clone()),
        });
    let h = milo_standin::start(config).await.unwrap();
    assert!(h.url().starts_with("https://127.0.0.1:"));
    let http = tls_client(&certs.ca, None, true);
    let resp = http
        .get(format!(
            "https://localhost:{}{ORG}/api/v1/namespaces/default",
            h.main_addr().port()
        ))
        .bearer_auth(files.token("alice").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let (code, v) = json(resp).await;
    assert_eq!(
        (code, v["metadata"]["name"].as_str()),
        (200, Some("default"))
    );
    let r = h.requests().pop().unwrap();
    assert_eq!(r.version, "HTTP/2.0");
    assert_eq!(r.authenticated_by.as_deref(), Some("token"));

    // The sandbox's front-proxy client certificate (CN envoy-front-proxy) authenticates as
    // that user, who is no reviewer.
    let http = tls_client(&certs.ca, Some((&certs.client, &certs.client_key)), false);
    let (code, v) = json(
        http.post(format!(
            "{}/apis/authentication.k8s.io/v1/tokenreviews",
            h.url()
        ))
        .json(&json!({"spec": {"token": "x"}}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 403);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("User \"envoy-front-proxy\" cannot create"),
        "{v}"
    );
    assert_eq!(h.requests().pop().unwrap().version, "HTTP/1.1");
}

#[tokio::test]
async fn client_certificates_authenticate_like_kube_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "milo");
    let files = milo_standin::write_sandbox_files(&dir.path().join("ids"), false).unwrap();
    let h = start_tls(&pki, &files).await;
    let tr = format!("{}/apis/authentication.k8s.io/v1/tokenreviews", h.url());
    let body = json!({"spec": {"token": files.token("bob").unwrap()}});

    // The authorizer by certificate.
    let (cert, key) = pki.client("authz", AUTHORIZER_USER, &[]);
    let http = tls_client(&pki.ca, Some((&cert, &key)), true);
    let (code, v) = json(http.post(&tr).json(&body).send().await.unwrap()).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["status"]["user"]["username"], "bob@acme.example");
    let r = h.requests().pop().unwrap();
    assert_eq!(r.user.as_deref(), Some(AUTHORIZER_USER));
    assert_eq!(r.authenticated_by.as_deref(), Some("certificate"));
    assert_eq!(r.groups, vec!["system:authenticated"]);

    // O becomes a group: platform-admins may review. (rcgen keeps one value per attribute
    // type, so one O here.)
    let (cert, key) = pki.client("ops", "ops@platform.local", &["platform-admins"]);
    let http = tls_client(&pki.ca, Some((&cert, &key)), false);
    assert_eq!(
        http.post(&tr).json(&body).send().await.unwrap().status(),
        201
    );
    assert_eq!(
        h.requests().pop().unwrap().groups,
        vec!["platform-admins", "system:authenticated"]
    );

    // No certificate: 401 without a token.
    let http = tls_client(&pki.ca, None, false);
    assert_eq!(
        http.post(&tr).json(&body).send().await.unwrap().status(),
        401
    );

    // A certificate from another CA fails the handshake.
    let other = Pki::new(&dir.path().join("other"), "other");
    let (cert, key) = other.client("stranger", AUTHORIZER_USER, &[]);
    let http = tls_client(&pki.ca, Some((&cert, &key)), false);
    assert!(http.post(&tr).json(&body).send().await.is_err());
}

#[test]
fn the_binary_writes_sandbox_files_and_serves() {
    install_provider();
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_milo-standin");
    let out = Command::new(bin)
        .args(["sandbox-files", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [
        "tokens.csv",
        "policy.json",
        "admin.token",
        "alice.token",
        "bob.token",
        "eve.token",
        "authz.token",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let pki = Pki::new(&dir.path().join("pki"), "milo");
    let (cert, key) = pki.server("server");
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--tokens",
        ])
        .arg(dir.path().join("tokens.csv"))
        .arg("--policy")
        .arg(dir.path().join("policy.json"))
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--client-ca")
        .arg(&pki.ca)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("READY main=https://127.0.0.1:"), "{line}");
    let main = line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_start_matches("main=")
        .to_string();
    let admin = line
        .split_whitespace()
        .nth(2)
        .unwrap()
        .trim_start_matches("admin=")
        .to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let token = std::fs::read_to_string(dir.path().join("eve.token")).unwrap();
        let http = tls_client(&pki.ca, None, false);
        let resp = http
            .get(format!("{main}/api"))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let log: serde_json::Value = reqwest::get(format!("{admin}/requests"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(log[0]["user"], "eve@acme.example");
    });

    // SIGTERM stops it.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A broken token file is refused at start, with kube-apiserver's wording.
    std::fs::write(dir.path().join("bad.csv"), "t,only-two\n").unwrap();
    let out = Command::new(bin)
        .args(["serve", "--tokens"])
        .arg(dir.path().join("bad.csv"))
        .arg("--policy")
        .arg(dir.path().join("policy.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("must have at least 3 columns (token, user name, user uid), found 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
