//! The time-bounded loop: corpus first, then generated and mutated inputs until the deadline.
//! A failure is minimized, written to a crash file and reported once per kind (its message up
//! to the first `:`); the loop goes on, so one known defect does not hide the next.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::mutate::{mutate, Rng};
use crate::{show, Target};

static PANIC_MESSAGE: Mutex<String> = Mutex::new(String::new());

/// Panics are failures to report, not noise on stderr.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => (*s).to_owned(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default(),
        };
        let loc = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut m) = PANIC_MESSAGE.lock() {
            *m = format!("{msg}{loc}");
        }
    }));
}

/// Run one input: `Err` for a broken invariant or a panic.
pub fn execute(target: &Target, input: &[u8]) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| (target.check)(input))) {
        Ok(r) => r,
        Err(_) => {
            let msg = PANIC_MESSAGE.lock().map(|m| m.clone()).unwrap_or_default();
            Err(format!("panic: {msg}"))
        }
    }
}

/// The kind of a failure: its message up to the first `:`.
fn kind(msg: &str) -> String {
    msg.split(':').next().unwrap_or(msg).to_owned()
}

/// Shrink a failing input by deleting ranges while it fails the same way.
pub fn minimize(target: &Target, input: &[u8], budget: Duration) -> (Vec<u8>, String) {
    let start = Instant::now();
    let mut best = input.to_vec();
    let mut msg = execute(target, &best).err().unwrap_or_default();
    let want = kind(&msg);
    let mut chunk = best.len().div_ceil(2).max(1);
    while chunk >= 1 && start.elapsed() < budget {
        let mut i = 0;
        let mut progressed = false;
        while i < best.len() && start.elapsed() < budget {
            let end = (i + chunk).min(best.len());
            let mut candidate = best.clone();
            candidate.drain(i..end);
            match execute(target, &candidate) {
                Err(m) if kind(&m) == want => {
                    best = candidate;
                    msg = m;
                    progressed = true;
                }
                _ => i += chunk,
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2).max(1);
            if chunk == 1 && best.len() > 4096 {
                break;
            }
        }
    }
    (best, msg)
}

/// The result of one target's run.
#[derive(Debug, Default)]
pub struct Report {
    pub executions: u64,
    pub corpus: usize,
    /// Kind → (message, crash file).
    pub failures: BTreeMap<String, (String, PathBuf)>,
    pub failing_inputs: u64,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Read every file of a target's corpus directory but its README.
pub fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("README"))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Fuzz one target until `deadline`.
pub fn run(
    target: &Target,
    corpus: Vec<Vec<u8>>,
    seconds: f64,
    seed: u64,
    crashes: &Path,
) -> Report {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut report = Report {
        corpus: corpus.len(),
        ..Report::default()
    };
    let mut rng = Rng::new(seed ^ fnv(target.name.as_bytes()));
    let mut seed_bytes = [0u8; 32];
    for chunk in seed_bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes());
    }
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = (target.strategy)();
    // What the mutator works on: the corpus plus a window of recent generated inputs.
    let mut pool = corpus.clone();
    let fixed = pool.len();
    let on_input = |input: &[u8], report: &mut Report| {
        report.executions += 1;
        if let Err(msg) = execute(target, input) {
            report.failing_inputs += 1;
            let k = kind(&msg);
            if report.failures.contains_key(&k) {
                return;
            }
            let (small, msg) = minimize(target, input, Duration::from_secs(3));
            let dir = crashes.join(target.name);
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("crash-{:016x}", fnv(&small)));
            let _ = std::fs::write(&file, &small);
            eprintln!(
                "[fuzz] {}: FAILED: {}\n[fuzz]   input ({} bytes): \"{}\"\n[fuzz]   written to {}",
                target.name,
                msg,
                small.len(),
                show(&small, 600),
                file.display()
            );
            report.failures.insert(k, (msg, file));
        }
    };
    for input in &corpus {
        on_input(input, &mut report);
    }
    let mut n: u64 = 0;
    while Instant::now() < deadline {
        n += 1;
        let input = if pool.is_empty() || n.is_multiple_of(2) {
            let generated = strategy
                .new_tree(&mut runner)
                .map(|t| t.current())
                .unwrap_or_default();
            if pool.len() < fixed + 256 {
                pool.push(generated.clone());
            } else {
                let slot = fixed + rng.below(256);
                pool[slot] = generated.clone();
            }
            generated
        } else {
            let base = &pool[rng.below(pool.len())];
            mutate(&mut rng, base, &pool, target.dictionary)
        };
        on_input(&input, &mut report);
    }
    report
}
