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

/// Every shipped Envoy config with event routes: the templates rendered with placeholder
/// values (only the route tables are read), and the production config as it is.
fn shipped_configs() -> Result<Vec<(&'static str, serde_json::Value)>> {
    let root = tools::repo_root();
    let mut out = Vec::new();
    for name in tools::SHIPPED_ENVOY_CONFIGS {
        let text = std::fs::read_to_string(root.join(name))?;
        let mut filled = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .map(|e| start + e + 2)
                .ok_or_else(|| anyhow::anyhow!("{name}: unclosed placeholder"))?;
            filled.push_str(&rest[..start]);
            filled.push('1');
            rest = &rest[end..];
        }
        filled.push_str(rest);
        let value: serde_json::Value =
            serde_saphyr::from_str(&filled).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Every route in a config, with the name of its route table.
fn routes(config: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let listeners = config["static_resources"]["listeners"].as_array();
    for l in listeners.into_iter().flatten() {
        for chain in l["filter_chains"].as_array().into_iter().flatten() {
            for f in chain["filters"].as_array().into_iter().flatten() {
                let vhosts = f["typed_config"]["route_config"]["virtual_hosts"].as_array();
                for vh in vhosts.into_iter().flatten() {
                    out.extend(vh["routes"].as_array().into_iter().flatten().cloned());
                }
            }
        }
    }
    out
}

/// The methods a route can carry: `None` when it does not match on `:method`.
fn route_methods(route: &serde_json::Value) -> Option<Vec<String>> {
    let headers = route["match"]["headers"].as_array()?;
    let m = headers.iter().find(|h| h["name"] == ":method")?;
    m["string_match"]["exact"]
        .as_str()
        .map(|s| vec![s.to_owned()])
}

/// The retry rule: a request that may be a write (POST, PUT, PATCH, DELETE, or a method the
/// route does not pin) is retried only when Activity cannot have processed it; a GET (read,
/// list, watch establishment) is retried on 5xx and resets too.
#[test]
fn every_event_route_retries_only_what_is_safe_to_repeat() -> Result<()> {
    const WRITE_SAFE: [&str; 5] = [
        "connect-failure",
        "refused-stream",
        "reset-before-request",
        "retriable-status-codes",
        "retriable-headers",
    ];
    for (name, config) in shipped_configs()? {
        let event_routes: Vec<_> = routes(&config)
            .into_iter()
            .filter(|r| r["route"]["cluster"] == "activity")
            .collect();
        assert!(event_routes.len() >= 3, "{name}: {event_routes:?}");
        let (mut reads, mut writes) = (0, 0);
        for r in &event_routes {
            let policy = &r["route"]["retry_policy"];
            let retry_on: Vec<&str> = policy["retry_on"]
                .as_str()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            assert!(
                r["route"]["hedge_policy"].is_null(),
                "{name}: hedged requests are sent twice: {r}"
            );
            let read_only = route_methods(r).is_some_and(|m| m.iter().all(|m| m == "GET"));
            if read_only {
                reads += 1;
                for needed in ["5xx", "reset", "connect-failure", "refused-stream"] {
                    assert!(
                        retry_on.contains(&needed),
                        "{name}: GET route lacks {needed}: {r}"
                    );
                }
                continue;
            }
            writes += 1;
            for cond in &retry_on {
                assert!(
                    WRITE_SAFE.contains(cond),
                    "{name}: a write route retries on {cond}, after which the write may have been stored: {r}"
                );
            }
            for code in policy["retriable_status_codes"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert_eq!(code, 429, "{name}: writes may only be retried on 429: {r}");
            }
            for h in policy["retriable_headers"].as_array().into_iter().flatten() {
                assert_eq!(h["name"], "retry-after", "{name}: {r}");
                assert_eq!(h["present_match"], true, "{name}: {r}");
            }
            // A write route must match every method the filter may mark, so no marked write
            // falls through to a route with a read policy, or to Milo.
            let headers = r["match"]["headers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(
                headers.len(),
                1,
                "{name}: the write route must match any method: {r}"
            );
            assert_eq!(headers[0]["name"], "x-activity-events-route", "{name}: {r}");
            assert_eq!(headers[0]["present_match"], true, "{name}: {r}");
        }
        assert!(reads >= 2, "{name}: no GET routes for reads and watches");
        assert_eq!(writes, 1, "{name}: exactly one write route");
        // The write route comes after the GET routes (first match wins).
        let last = event_routes.last().map(route_methods);
        assert_eq!(
            last,
            Some(None),
            "{name}: the write route must be the last event route"
        );
    }
    Ok(())
}
