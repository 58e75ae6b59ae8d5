#!/usr/bin/env bash
# Run every test: formatting, lints (native and wasm), unit tests, end-to-end tests through a
# real Envoy with the built filter and a real kubectl, Envoy config validation, and the compose
# topology in a real Docker engine (e2e/tests/compose.rs starts one when none runs, or skips).
# Installs what it needs first (scripts/tools.sh). This is what .ci/run calls.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\n[test] %s\n' "$*" >&2; }

say "provisioning tools"
scripts/tools.sh

say "cargo fmt --check"
cargo fmt --all -- --check

say "clippy (native, all targets)"
cargo clippy --workspace --all-targets -- -D warnings

say "clippy (wasm32-wasip1, the filter)"
cargo clippy --release --target wasm32-wasip1 -p activity-events-filter -- -D warnings

say "build the filter (wasm32-wasip1, release)"
scripts/build-wasm.sh >/dev/null
wasm="target/wasm32-wasip1/release/activity_events_filter.wasm"
say "filter size: $(wc -c <"$wasm") bytes ($wasm)"

say "tests (unit, integration, end-to-end)"
cargo test --workspace
scripts/fuzz.sh --seconds 30 --seed 1 # reproducible in CI; every fuzz target 30 s (about 4.5 min with the build); fails on a broken invariant

say "fault soak (one minute)"
scripts/soak.sh --seconds 60

say "all tests passed"
