//! Fuzz targets for the filter's parsers, each checking the filter against an independent
//! reference model written here (never against the filter's own helpers), so a target fails on
//! a wrong answer, not only on a panic.
//!
//! Only the stable toolchain exists where this runs (no libFuzzer), so inputs come from two
//! sources, both bounded in time by the runner (`src/main.rs`, `scripts/fuzz.sh`):
//! - `proptest` strategies that build structured inputs (paths, bodies, headers, streams) and
//!   encode them to the bytes a target reads;
//! - a small mutator ([`mutate`]) applied to the checked-in corpora in `testdata/fuzz/<target>/`
//!   and to generated inputs.
//!
//! Every target reads plain bytes, so a failing input is one file that `--replay` runs again.

pub mod apply;
pub mod gojson;
pub mod mutate;
pub mod runner;
pub mod targets;

use proptest::strategy::BoxedStrategy;

/// One fuzz target.
pub struct Target {
    pub name: &'static str,
    /// What the target checks, for the report.
    pub about: &'static str,
    /// `Err` names the broken invariant; a panic is caught by the runner and is a failure too.
    pub check: fn(&[u8]) -> Result<(), String>,
    /// Structured inputs, encoded to the bytes `check` reads.
    pub strategy: fn() -> BoxedStrategy<Vec<u8>>,
    /// Tokens the mutator splices in.
    pub dictionary: &'static [&'static str],
}

/// Every target, in the order the runner runs them.
pub fn all() -> Vec<Target> {
    vec![
        targets::route::target(),
        targets::pairs::target(),
        targets::userinfo::target(),
        targets::headers::target(),
        targets::body::target(),
        targets::splice::target(),
        targets::patch::target(),
        targets::walker::target(),
        targets::walker_blocks::target(),
        targets::convert::target(),
    ]
}

/// A failure message for an invariant, with the input shown escaped (short inputs only).
pub fn fail(what: &str, detail: impl std::fmt::Display) -> String {
    format!("{what}: {detail}")
}

/// Bytes shown as a Rust-like escaped string, cut to `max` bytes.
pub fn show(bytes: &[u8], max: usize) -> String {
    let cut = bytes.get(..max.min(bytes.len())).unwrap_or_default();
    let mut s: String = cut.escape_ascii().to_string();
    if bytes.len() > max {
        s.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    s
}
