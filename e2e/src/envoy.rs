//! A real Envoy process with the built filter, from a config template in `envoy/`.
//!
//! Templates use `{{NAME}}` placeholders. Listeners and admin bind port 0; the bound ports are
//! read back from the admin API, so tests never race for ports. Logs are kept when a test fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::tools;

pub struct Envoy {
    child: Child,
    dir: PathBuf,
    admin: String,
    listeners: HashMap<String, u16>,
}

/// Fill `{{NAME}}` placeholders; unknown placeholders are an error.
pub fn render(template: &str, vars: &[(&str, String)]) -> Result<String> {
    let mut out = template.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    if let Some(start) = out.find("{{") {
        let end = out[start..].find("}}").map_or(out.len(), |e| start + e + 2);
        bail!("unfilled placeholder {}", &out[start..end]);
    }
    Ok(out)
}

/// Read a template from `envoy/` in the repository.
pub fn template(name: &str) -> Result<String> {
    let path = tools::repo_root().join("envoy").join(name);
    std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

impl Envoy {
    /// Write `config` into `dir` and start Envoy with it; wait until it is ready.
    pub fn start(dir: &Path, config: &str) -> Result<Envoy> {
        let cfg = dir.join("envoy.yaml");
        std::fs::write(&cfg, config)?;
        let admin_file = dir.join("admin-address");
        let log = std::fs::File::create(dir.join("envoy.log"))?;
        let child = Command::new(tools::envoy_bin()?)
            .arg("-c")
            .arg(&cfg)
            .args([
                "--concurrency",
                "1",
                "--disable-hot-restart",
                "--log-level",
                "info",
            ])
            .args(["--component-log-level", "wasm:debug"])
            .arg("--admin-address-path")
            .arg(&admin_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawn envoy")?;
        let mut envoy = Envoy {
            child,
            dir: dir.to_path_buf(),
            admin: String::new(),
            listeners: HashMap::new(),
        };
        envoy.wait_ready(&admin_file)?;
        Ok(envoy)
    }

    fn wait_ready(&mut self, admin_file: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "envoy exited with {status} during start; log:\n{}",
                    self.log_tail(60)
                );
            }
            if Instant::now() > deadline {
                bail!("envoy not ready after 30s; log:\n{}", self.log_tail(60));
            }
            if self.admin.is_empty() {
                if let Ok(addr) = std::fs::read_to_string(admin_file) {
                    if !addr.trim().is_empty() {
                        self.admin = addr.trim().to_owned();
                    }
                }
            }
            if !self.admin.is_empty() {
                if let Ok(ready) = admin_get(&self.admin, "/ready") {
                    if ready.trim() == "LIVE" {
                        let listeners = admin_get(&self.admin, "/listeners?format=json")?;
                        self.listeners = parse_listeners(&listeners)?;
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The bound port of a named listener.
    pub fn port(&self, listener: &str) -> Result<u16> {
        self.listeners
            .get(listener)
            .copied()
            .with_context(|| format!("no listener {listener}: {:?}", self.listeners))
    }

    pub fn url(&self, listener: &str) -> Result<String> {
        Ok(format!("http://127.0.0.1:{}", self.port(listener)?))
    }

    /// Envoy's stats as text (`/stats`).
    pub fn stats(&self) -> Result<String> {
        admin_get(&self.admin, "/stats")
    }

    /// One counter's value from `/stats`, 0 when absent.
    pub fn counter(&self, name: &str) -> Result<u64> {
        let stats = self.stats()?;
        Ok(stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("envoy files kept in {}", self.dir.display());
            eprintln!("envoy log tail:\n{}", self.log_tail(40));
        }
    }
}

/// A tiny blocking HTTP/1.1 GET for the admin API (no client dependency in Drop paths).
pub fn admin_get(addr: &str, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!("admin {path}: {}", head.lines().next().unwrap_or(""));
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_owned())
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn parse_listeners(json: &str) -> Result<HashMap<String, u16>> {
    let v: serde_json::Value = serde_json::from_str(json)?;
    let mut out = HashMap::new();
    for l in v["listener_statuses"].as_array().into_iter().flatten() {
        let name = l["name"].as_str().unwrap_or_default().to_owned();
        let port = l["local_address"]["socket_address"]["port_value"]
            .as_u64()
            .unwrap_or(0);
        out.insert(name, u16::try_from(port)?);
    }
    Ok(out)
}

/// Run `envoy --mode validate` on a config; returns (success, combined log).
pub fn validate(dir: &Path, config: &str) -> Result<(bool, String)> {
    let cfg = dir.join("validate.yaml");
    std::fs::write(&cfg, config)?;
    let out = Command::new(tools::envoy_bin()?)
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(&cfg)
        .output()
        .context("run envoy --mode validate")?;
    let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), log))
}
