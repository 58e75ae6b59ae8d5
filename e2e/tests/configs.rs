//! Envoy accepts every shipped config, refuses an invalid filter configuration, and the
//! compose topology stays the sandbox topology.

use std::path::Path;

use activity_e2e::envoy::{render, template, validate};
use activity_e2e::tools;
use anyhow::Result;

fn smoke_with(filter_config: &str) -> Result<String> {
    render(
        &template("smoke.yaml")?,
        &[
            ("FILTER_CONFIG", filter_config.into()),
            ("WASM", tools::filter_wasm()?.display().to_string()),
            ("USERINFO_B64", "e30".into()),
            ("ACTIVITY_PORT", "1".into()),
            ("MILO_PORT", "2".into()),
        ],
    )
}

#[test]
fn invalid_plugin_configuration_is_refused_with_one_clear_line() -> Result<()> {
    let dir = tools::run_dir("config-invalid")?;
    for (config, expect) in [
        (
            r#"{"activity_prefx":"/x"}"#,
            "unknown field `activity_prefx`",
        ),
        (r#"{"max_body_bytes":0}"#, "max_body_bytes must be between"),
        (
            r#"{"activity_prefix":"no-slash"}"#,
            "activity_prefix 'no-slash' must be",
        ),
    ] {
        let (ok, log) = validate(&dir, &smoke_with(config)?)?;
        assert!(!ok, "envoy accepted {config}");
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("invalid plugin configuration"))
            .collect();
        assert_eq!(lines.len(), 1, "{config}: {log}");
        assert!(lines[0].contains(expect), "{config}: {}", lines[0]);
        assert!(!log.contains("panicked"), "{log}");
    }
    Ok(())
}

#[test]
fn smoke_config_validates() -> Result<()> {
    let dir = tools::run_dir("config-smoke")?;
    let (ok, log) = validate(&dir, &smoke_with("{}")?)?;
    assert!(ok, "{log}");
    Ok(())
}

/// Certificates for configs that name certificate files.
fn certs(dir: &Path) -> Result<activity_standin::CertPaths> {
    activity_standin::generate_certs(&dir.join("certs"), "activity.local", false)
}

#[test]
fn production_config_validates() -> Result<()> {
    let dir = tools::run_dir("config-production")?;
    let c = certs(&dir)?;
    let wasm = tools::filter_wasm()?;
    let discovery = tools::repo_root().join("envoy/discovery");
    let mut config = std::fs::read_to_string(tools::repo_root().join("envoy/envoy.yaml"))?;
    for (from, to) in [
        ("/etc/envoy/tls/tls.crt", &c.server),
        ("/etc/envoy/tls/tls.key", &c.server_key),
        ("/etc/activity-events/tls/tls.crt", &c.client),
        ("/etc/activity-events/tls/tls.key", &c.client_key),
        ("/etc/activity-events/tls/ca.crt", &c.ca),
        ("/etc/milo/tls/ca.crt", &c.ca),
        ("/etc/envoy/activity_events_filter.wasm", &wasm),
        ("/etc/envoy/discovery", &discovery),
    ] {
        assert!(config.contains(from), "{from} not in envoy.yaml");
        config = config.replace(from, &to.display().to_string());
    }
    // Validation must not bind the production ports.
    config = config
        .replace("port_value: 6443", "port_value: 0")
        .replace("port_value: 9901", "port_value: 0");
    let (ok, log) = validate(&dir, &config)?;
    assert!(ok, "{log}");
    Ok(())
}

/// The values envoy/compose.yaml is rendered with (the Milo profile, envoy/sandbox.yaml, with
/// the compose service names and the paths inside the containers).
fn compose_values() -> Vec<(&'static str, String)> {
    vec![
        ("LISTEN_ADDRESS", "0.0.0.0".into()),
        ("LISTEN_PORT", "6443".into()),
        ("FRONT_CERT", "/sandbox/certs/front/server.pem".into()),
        ("FRONT_KEY", "/sandbox/certs/front/server-key.pem".into()),
        ("WASM", "/etc/envoy/activity_events_filter.wasm".into()),
        (
            "FILTER_CONFIG",
            r#"{"activity_prefix":"/api/v1","identity":{"metadata_namespace":"envoy.filters.http.ext_authz","userinfo":"userinfo"}}"#.into(),
        ),
        ("AUTHZ_HOST", "authz".into()),
        ("AUTHZ_PORT", "9001".into()),
        ("MILO_HOST", "milo".into()),
        ("MILO_PORT", "8443".into()),
        ("MILO_SNI", "milo".into()),
        ("MILO_CA", "/sandbox/certs/milo/ca.pem".into()),
        ("ACTIVITY_HOST", "activity".into()),
        ("ACTIVITY_PORT", "8443".into()),
        ("ACTIVITY_SNI", "activity".into()),
        ("ACTIVITY_CA", "/sandbox/certs/activity/ca.pem".into()),
        ("CLIENT_CERT", "/sandbox/certs/activity/client.pem".into()),
        (
            "CLIENT_KEY",
            "/sandbox/certs/activity/client-key.pem".into(),
        ),
        ("REQUEST_TIMEOUT", "30s".into()),
        ("PER_TRY_TIMEOUT", "10s".into()),
        ("DISCOVERY_DIR", "/etc/envoy/discovery".into()),
    ]
}

const COMPOSE_HEADER: &str = "# GENERATED from envoy/sandbox.yaml for docker-compose.yaml; do not edit.\n# Regenerate: UPDATE_COMPOSE=1 cargo test -p activity-e2e --test configs compose\n";

/// The template names the authorizer by IP (a STATIC cluster); containers only have names, so
/// the compose rendering resolves it by DNS. The one change made to the template's text.
const AUTHZ_STATIC: &str = "  - name: activity-events-authz\n    type: STATIC\n";
const AUTHZ_DNS: &str =
    "  - name: activity-events-authz\n    type: STRICT_DNS\n    dns_lookup_family: V4_ONLY\n";

#[test]
fn compose_envoy_config_is_the_rendered_sandbox_and_validates() -> Result<()> {
    let template = template("sandbox.yaml")?;
    assert!(
        template.matches(AUTHZ_STATIC).count() == 1,
        "envoy/sandbox.yaml no longer has the STATIC authorizer cluster compose rewrites"
    );
    let rendered = format!(
        "{COMPOSE_HEADER}{}",
        render(
            &template.replacen(AUTHZ_STATIC, AUTHZ_DNS, 1),
            &compose_values()
        )?
    );
    let path = tools::repo_root().join("envoy/compose.yaml");
    if std::env::var_os("UPDATE_COMPOSE").is_some() {
        std::fs::write(&path, &rendered)?;
    }
    let committed = std::fs::read_to_string(&path)?;
    assert!(
        committed == rendered,
        "envoy/compose.yaml is stale; run UPDATE_COMPOSE=1 cargo test -p activity-e2e --test configs compose"
    );

    // Validate it with the container paths pointed at real files.
    let dir = tools::run_dir("config-compose")?;
    let c = certs(&dir)?;
    let mut config = committed.replace("port_value: 6443", "port_value: 0");
    for (from, to) in [
        (
            "/sandbox/certs/front/server.pem",
            c.server.display().to_string(),
        ),
        (
            "/sandbox/certs/front/server-key.pem",
            c.server_key.display().to_string(),
        ),
        ("/sandbox/certs/milo/ca.pem", c.ca.display().to_string()),
        (
            "/etc/envoy/activity_events_filter.wasm",
            tools::filter_wasm()?.display().to_string(),
        ),
        ("/sandbox/certs/activity/ca.pem", c.ca.display().to_string()),
        (
            "/sandbox/certs/activity/client.pem",
            c.client.display().to_string(),
        ),
        (
            "/sandbox/certs/activity/client-key.pem",
            c.client_key.display().to_string(),
        ),
        (
            "/etc/envoy/discovery",
            tools::repo_root()
                .join("envoy/discovery")
                .display()
                .to_string(),
        ),
    ] {
        config = config.replace(from, &to);
    }
    let (ok, log) = validate(&dir, &config)?;
    assert!(ok, "{log}");
    Ok(())
}

#[test]
fn sandbox_config_validates_and_docker_compose_file_is_valid() -> Result<()> {
    let root = tools::repo_root();
    let out = std::process::Command::new(tools::tools_bin()?.join("docker-compose"))
        .arg("-f")
        .arg(root.join("docker-compose.yaml"))
        .arg("config")
        .output()?;
    assert!(
        out.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // The images scripts/images.sh builds, never pulled, published on loopback only.
    assert!(text.contains("image: activity-events-envoy:dev"), "{text}");
    assert!(text.contains("image: activity-standin:dev"), "{text}");
    assert!(!text.contains("pull_policy: always"), "{text}");
    assert!(text.contains("- 127.0.0.1:6443:6443/tcp"), "{text}");
    // The tag can be chosen (the compose test uses its own).
    let out = std::process::Command::new(tools::tools_bin()?.join("docker-compose"))
        .arg("-f")
        .arg(root.join("docker-compose.yaml"))
        .arg("config")
        .env("IMAGE_TAG", "custom")
        .output()?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("activity-events-envoy:custom"));
    Ok(())
}
