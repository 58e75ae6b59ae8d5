//! Envoy accepts every shipped config and refuses an invalid filter configuration.

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
