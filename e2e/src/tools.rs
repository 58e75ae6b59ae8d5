//! Where the real tools and the built filter are. Provisioning is `scripts/tools.sh`; the
//! tests call it once so `cargo test` works on a fresh checkout too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

/// The repository root.
/// Every shipped Envoy config that carries the filter and the event routes, relative to the
/// repository root (`deploy/envoy.yaml` is a byte-identical copy of `envoy/envoy.yaml`;
/// `envoy/compose.yaml` is generated).
pub const SHIPPED_ENVOY_CONFIGS: [&str; 5] = [
    "envoy/envoy.yaml",
    "deploy/envoy.yaml",
    "envoy/sandbox.yaml",
    "envoy/sandbox-jwt.yaml",
    "envoy/compose.yaml",
];

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}

/// Run `scripts/tools.sh` once per test process; returns `.tools/bin`.
pub fn tools_bin() -> Result<PathBuf> {
    static DONE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let root = repo_root();
        let bin = root.join(".tools/bin");
        let provisioned = [
            "envoy",
            "kubectl",
            "kubernetes-validate",
            "check-jsonschema",
        ]
        .iter()
        .all(|tool| bin.join(tool).exists());
        if !provisioned {
            run(
                Command::new("bash").arg(root.join("scripts/tools.sh")),
                "scripts/tools.sh",
            )
            .map_err(|e| e.to_string())?;
        }
        Ok(bin)
    })
    .clone()
    .map_err(anyhow::Error::msg)
}

pub fn envoy_bin() -> Result<PathBuf> {
    Ok(tools_bin()?.join("envoy"))
}

pub fn kubectl_bin() -> Result<PathBuf> {
    Ok(tools_bin()?.join("kubectl"))
}

/// Validates built-in Kubernetes kinds against the schemas of the Kubernetes release it ships.
pub fn kubernetes_validate_bin() -> Result<PathBuf> {
    Ok(tools_bin()?.join("kubernetes-validate"))
}

/// Validates JSON or YAML documents against a JSON Schema.
pub fn check_jsonschema_bin() -> Result<PathBuf> {
    Ok(tools_bin()?.join("check-jsonschema"))
}

/// Build the filter for wasm32-wasip1 (release) once per test process and return its path.
pub fn filter_wasm() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = repo_root();
            tools_bin().map_err(|e| e.to_string())?;
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            run(
                Command::new(cargo).current_dir(&root).args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip1",
                    "-p",
                    "activity-events-filter",
                ]),
                "cargo build of the wasm filter",
            )
            .map_err(|e| e.to_string())?;
            let wasm = target_dir(&root).join("wasm32-wasip1/release/activity_events_filter.wasm");
            if !wasm.exists() {
                return Err(format!("{} was not built", wasm.display()));
            }
            Ok(wasm)
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Cargo's target directory (CARGO_TARGET_DIR aware).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

/// A fresh directory for one test's files (configs, logs), under target/e2e.
pub fn run_dir(name: &str) -> Result<PathBuf> {
    let root = repo_root();
    let dir = target_dir(&root)
        .join("e2e")
        .join(format!("{name}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).ok();
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// reqwest is built without a bundled TLS provider; use rustls' ring provider, once.
pub fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
