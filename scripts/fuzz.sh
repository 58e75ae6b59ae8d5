#!/usr/bin/env bash
# Fuzz the filter's parsers for a bounded time: scripts/fuzz.sh [--seconds N] [--seed S] [target...]
# Each target (fuzz/src/targets/) runs N seconds (default 30) over its corpus in
# testdata/fuzz/<target>/, generated inputs (proptest) and mutations of both, and prints its
# executions. Exits non-zero if an invariant broke; each failing input, minimized, is written to
# target/fuzz-crashes/<target>/ (replay: scripts/fuzz.sh --replay FILE TARGET).
# Only stable Rust is needed (no libFuzzer): the runner is an ordinary binary, built optimized.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '[fuzz] %s\n' "$*" >&2; }

# Its own profile (artifacts in target/fuzz/): optimized like release, but panics unwind so a
# panic in the filter is caught, minimized and reported instead of aborting the run, and without
# the release profile's single-unit LTO, which would only make the build slow.
profile=(--profile fuzz
  --config 'profile.fuzz.inherits="release"'
  --config 'profile.fuzz.panic="unwind"'
  --config 'profile.fuzz.lto=false'
  --config 'profile.fuzz.codegen-units=16'
  --config 'profile.fuzz.strip="none"')

say "building the fuzz runner (cargo build ${profile[*]:0:2} -p activity-events-fuzz)"
cargo build --quiet "${profile[@]}" -p activity-events-fuzz
mkdir -p target/fuzz-crashes
say "running: target/fuzz/activity-events-fuzz $*"
exec target/fuzz/activity-events-fuzz "$@"
