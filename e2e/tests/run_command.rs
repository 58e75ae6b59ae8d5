//! The product's main command, `scripts/run.sh`, as a new user runs it: it comes up, kubectl
//! works with the kubeconfig it writes, and Ctrl-C (SIGINT) stops everything it started.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use activity_e2e::tools;
use anyhow::{bail, Context, Result};

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[test]
fn run_command_serves_kubectl_and_stops_on_ctrl_c() -> Result<()> {
    let root = tools::repo_root();
    // The stand-in's command line, built by cargo for this test (no nested cargo build).
    let standin = env!("CARGO_BIN_EXE_e2e-standin");
    let milo = env!("CARGO_BIN_EXE_e2e-milo");
    let authz = env!("CARGO_BIN_EXE_e2e-authz");
    let run_dir = tools::run_dir("run-command")?;
    let port = free_port()?;
    let log = std::fs::File::create(run_dir.join("run.log"))?;
    let mut child = Command::new("bash")
        .arg(root.join("scripts/run.sh"))
        .current_dir(&root)
        .env("PORT", port.to_string())
        .env("RUN_DIR", &run_dir)
        .env("STANDIN_BIN", standin)
        .env("MILO_BIN", milo)
        .env("AUTHZ_BIN", authz)
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let read_log = || std::fs::read_to_string(run_dir.join("run.log")).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(600);
    while !read_log().contains("The events proxy is running") {
        if let Some(status) = child.try_wait()? {
            bail!("run.sh exited with {status}:\n{}", read_log());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("run.sh did not come up:\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    let kubectl = |args: &[&str]| -> Result<String> {
        let out = Command::new(tools::kubectl_bin()?)
            .arg("--kubeconfig")
            .arg(run_dir.join("kubeconfig"))
            .arg("--cache-dir")
            .arg(run_dir.join("kube-cache"))
            .args(args)
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!("kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    };
    let manifest = root.join("testdata/test-event.yaml").display().to_string();
    let result = (|| -> Result<()> {
        let created = kubectl(&["--context", "org", "create", "-f", &manifest])?;
        assert!(created.contains("test-event created"), "{created}");
        let listed = kubectl(&["--context", "org", "get", "events", "-n", "default"])?;
        assert!(listed.contains("Testing"), "{listed}");
        let other = kubectl(&["--context", "project", "get", "events", "-A", "-o", "name"])?;
        assert!(
            other.trim().is_empty(),
            "the project user sees another tenant's event: {other}"
        );
        Ok(())
    })();

    // Ctrl-C: SIGINT to the script; it must stop Envoy and the stand-in and exit.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("run.sh did not stop on SIGINT:\n{}", read_log());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    result.with_context(read_log)?;
    std::thread::sleep(Duration::from_millis(300));
    let leftovers = Command::new("pgrep")
        .args(["-f", &run_dir.display().to_string()])
        .output()?;
    assert!(
        leftovers.stdout.is_empty(),
        "processes left running: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the listener is still open"
    );
    Ok(())
}
