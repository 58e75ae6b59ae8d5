//! `activity-events-fuzz [--seconds N] [--seed S] [--corpus DIR] [--crashes DIR] [target...]`
//! runs each target for N seconds (default 30) and prints its executions;
//! `activity-events-fuzz --replay FILE TARGET` runs one saved input again.
//! Exit status 1 when any invariant broke.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use activity_events_fuzz::runner::{self, load_corpus, quiet_panics};
use activity_events_fuzz::{all, show};

fn usage() -> ExitCode {
    eprintln!(
        "usage: activity-events-fuzz [--seconds N] [--seed S] [--corpus DIR] [--crashes DIR] [target...]\n       activity-events-fuzz --replay FILE TARGET\ntargets: {}",
        all().iter().map(|t| t.name).collect::<Vec<_>>().join(" ")
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let mut seconds = 30.0f64;
    let mut seed: Option<u64> = None;
    let mut corpus_root = root.join("testdata/fuzz");
    let mut crashes = root.join("target/fuzz-crashes");
    let mut replay: Option<PathBuf> = None;
    let mut names: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next();
        match a.as_str() {
            "--seconds" => match value().and_then(|v| v.parse().ok()) {
                Some(s) => seconds = s,
                None => return usage(),
            },
            "--seed" => match value().and_then(|v| v.parse().ok()) {
                Some(s) => seed = Some(s),
                None => return usage(),
            },
            "--corpus" => match value() {
                Some(v) => corpus_root = PathBuf::from(v),
                None => return usage(),
            },
            "--crashes" => match value() {
                Some(v) => crashes = PathBuf::from(v),
                None => return usage(),
            },
            "--replay" => match value() {
                Some(v) => replay = Some(PathBuf::from(v)),
                None => return usage(),
            },
            "-h" | "--help" => return usage(),
            other => names.push(other.to_owned()),
        }
    }
    let targets = all();
    for n in &names {
        if !targets.iter().any(|t| t.name == n) {
            eprintln!("unknown target: {n}");
            return usage();
        }
    }
    quiet_panics();
    if let Some(file) = replay {
        let [name] = names.as_slice() else {
            return usage();
        };
        let Some(target) = targets.iter().find(|t| t.name == name) else {
            return usage();
        };
        let Ok(input) = std::fs::read(&file) else {
            eprintln!("cannot read {}", file.display());
            return ExitCode::from(2);
        };
        return match runner::execute(target, &input) {
            Ok(()) => {
                println!("{name}: ok \"{}\"", show(&input, 600));
                ExitCode::SUCCESS
            }
            Err(msg) => {
                println!("{name}: FAILED: {msg}\ninput: \"{}\"", show(&input, 600));
                ExitCode::FAILURE
            }
        };
    }
    let seed = seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    println!("[fuzz] seed {seed}, {seconds} s per target");
    let mut failed = Vec::new();
    let mut total = 0u64;
    let mut rows = Vec::new();
    for target in targets
        .iter()
        .filter(|t| names.is_empty() || names.iter().any(|n| n == t.name))
    {
        let corpus = load_corpus(&corpus_root.join(target.name));
        let report = runner::run(target, corpus, seconds, seed, &crashes);
        total += report.executions;
        let line = format!(
            "{:<10} {:>10} executions ({:>8.0}/s), corpus {:>3}, failing inputs {}, distinct failures {}",
            target.name,
            report.executions,
            report.executions as f64 / seconds.max(0.001),
            report.corpus,
            report.failing_inputs,
            report.failures.len()
        );
        println!("[fuzz] {line}");
        rows.push(line);
        for (msg, file) in report.failures.values() {
            failed.push(format!("{}: {} ({})", target.name, msg, file.display()));
        }
    }
    println!("[fuzz] summary (seed {seed}):");
    for r in &rows {
        println!("[fuzz]   {r}");
    }
    println!("[fuzz]   total {total} executions");
    if failed.is_empty() {
        println!("[fuzz] every invariant held");
        ExitCode::SUCCESS
    } else {
        println!("[fuzz] {} invariant(s) broke:", failed.len());
        for f in &failed {
            println!("[fuzz]   {f}");
        }
        ExitCode::FAILURE
    }
}
