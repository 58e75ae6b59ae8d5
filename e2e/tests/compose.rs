//! The sandbox topology in Docker, as `scripts/compose.sh` runs it: a real engine (started here
//! when none runs), the FROM-scratch images of `scripts/images.sh`, `docker-compose up`, the
//! seed's kubectl checks through the published port, and `docker-compose down -v` leaving no
//! container, network, volume or image of the run behind. Skips with one line when no engine
//! can run on the machine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use activity_e2e::tools;
use anyhow::{bail, Context, Result};

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    Ok(out)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `docker ARGS` must succeed; its stdout lines.
fn docker(args: &[&str]) -> Result<BTreeSet<String>> {
    let out = run(Command::new("docker").args(args))?;
    if !out.status.success() {
        bail!("docker {args:?}: {}", text(&out.stderr));
    }
    Ok(text(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// One compose run: its own project name, image tag and run directory.
struct Run {
    root: PathBuf,
    project: String,
    tag: String,
    dir: PathBuf,
    started_engine: bool,
    up: bool,
}

impl Run {
    fn script(&self, args: &[&str]) -> Result<Output> {
        run(Command::new("bash")
            .arg(self.root.join("scripts/compose.sh"))
            .args(args)
            .current_dir(&self.root)
            .env("COMPOSE_PROJECT_NAME", &self.project)
            .env("IMAGE_TAG", &self.tag)
            .env("RUN_DIR", &self.dir)
            .env_remove("PORT"))
    }

    fn must(&self, args: &[&str]) -> Result<String> {
        let out = self.script(args)?;
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        if !out.status.success() {
            bail!(
                "scripts/compose.sh {args:?} failed ({}):\n{all}",
                out.status
            );
        }
        Ok(all)
    }

    fn down(&mut self) -> Result<String> {
        self.up = false;
        self.must(&["down", "--images"])
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.up {
            if let Ok(out) = self.script(&["down", "--images"]) {
                eprintln!("{}", text(&out.stderr));
            }
        }
        if self.started_engine {
            let _ = Command::new("bash")
                .arg(self.root.join("docker/engine.sh"))
                .arg("stop")
                .status();
        }
    }
}

fn project_label(project: &str) -> String {
    format!("label=com.docker.compose.project={project}")
}

fn leftovers(project: &str, tag: &str, root: &Path) -> Result<Vec<String>> {
    let label = project_label(project);
    let mut left = Vec::new();
    for (what, args) in [
        ("containers", vec!["ps", "-a", "-q", "--filter", &label]),
        ("networks", vec!["network", "ls", "-q", "--filter", &label]),
        ("volumes", vec!["volume", "ls", "-q", "--filter", &label]),
    ] {
        let found = docker(&args)?;
        if !found.is_empty() {
            left.push(format!("{what}: {found:?}"));
        }
    }
    let refs = run(Command::new("bash")
        .arg(root.join("scripts/images.sh"))
        .arg("--list")
        .env("IMAGE_TAG", tag))?;
    for image in text(&refs.stdout).lines() {
        if run(Command::new("docker").args(["image", "inspect", image]))?
            .status
            .success()
        {
            left.push(format!("image {image}"));
        }
    }
    Ok(left)
}

#[test]
fn compose_topology_serves_kubectl_and_leaves_nothing_behind() -> Result<()> {
    let root = tools::repo_root();
    tools::tools_bin()?;
    let started = Instant::now();
    let engine = run(Command::new("bash")
        .arg(root.join("docker/engine.sh"))
        .arg("start"))?;
    let line = text(&engine.stdout).trim().to_string();
    match engine.status.code() {
        Some(0) => {}
        Some(3) => {
            eprintln!("compose test skipped: {line}");
            return Ok(());
        }
        _ => bail!(
            "docker/engine.sh start failed: {line}\n{}",
            text(&engine.stderr)
        ),
    }
    let id = std::process::id();
    let mut run_ = Run {
        root: root.clone(),
        project: format!("activity-events-e2e-{id}"),
        tag: format!("e2e-{id}"),
        dir: tools::run_dir("compose")?,
        started_engine: line.starts_with("engine: started"),
        up: true,
    };
    let images_before = docker(&["images", "-a", "-q", "--no-trunc"])?;

    let up = run_.must(&["up"])?;
    let up_done = Instant::now();
    for line in up.lines().filter(|l| l.contains(" MB  user ")) {
        eprintln!("{line}");
    }
    // Every image runs as a numeric non-root user.
    let refs = run(Command::new("bash")
        .arg(root.join("scripts/images.sh"))
        .arg("--list")
        .env("IMAGE_TAG", &run_.tag))?;
    let refs = text(&refs.stdout);
    assert_eq!(refs.lines().count(), 4, "{refs}");
    for image in refs.lines() {
        let user = docker(&["image", "inspect", "-f", "{{.Config.User}}", image])?;
        let user = user.iter().next().cloned().unwrap_or_default();
        let uid = user.split(':').next().unwrap_or_default();
        assert!(
            uid.parse::<u32>().is_ok_and(|u| u != 0),
            "{image} runs as {user:?}"
        );
    }
    // The back end has no route out, and the published port is on loopback only.
    let internal = docker(&[
        "network",
        "inspect",
        "-f",
        "{{.Internal}}",
        &format!("{}_backend", run_.project),
    ])?;
    assert_eq!(internal.into_iter().collect::<Vec<_>>(), ["true"]);
    let ports = docker(&[
        "ps",
        "--filter",
        &project_label(&run_.project),
        "--format",
        "{{.Ports}}",
    ])?;
    let published: Vec<&String> = ports.iter().filter(|p| p.contains("->")).collect();
    assert_eq!(published.len(), 1, "{ports:?}");
    assert!(published[0].starts_with("127.0.0.1:"), "{ports:?}");

    let verify = run_.must(&["verify"])?;
    for check in [
        "ok: org: create -f testdata/test-event.yaml",
        "ok: org: get event test-event",
        "ok: org: list, with field selectors",
        "ok: tenancy:",
        "ok: intruder: a user without rights in the project is refused (Forbidden)",
        "ok: org: a watch sees an event created while it runs",
        "verify passed",
    ] {
        assert!(verify.contains(check), "{check} missing:\n{verify}");
    }
    let verified = Instant::now();

    run_.down()?;
    let left = leftovers(&run_.project, &run_.tag, &root)?;
    assert!(left.is_empty(), "left behind: {left:?}");
    let images_after = docker(&["images", "-a", "-q", "--no-trunc"])?;
    let new: Vec<&String> = images_after.difference(&images_before).collect();
    assert!(new.is_empty(), "images left behind: {new:?}");
    eprintln!(
        "compose test: up {:.1}s (images included), verify {:.1}s, total {:.1}s",
        (up_done - started).as_secs_f64(),
        (verified - up_done).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
