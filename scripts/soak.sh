#!/usr/bin/env bash
# Fault soak: mixed traffic from four tenants (creates, patches, lists, reads of other tenants'
# events, watches) through the Milo sandbox (real Envoy with the built filter, the authorizer,
# the Milo stand-in) while the Activity stand-in injects faults at random rates: resets before
# and after it stores, 503s with and without Retry-After, 429s, slow answers, watches cut
# mid-stream. Checks every create against what the client was told, tenancy of every list and
# watch event, watch resumption without loss or repeats, no VM failure and flat VM memory, and
# prints the figures (e2e/src/soak.rs). Bounded in time.
#   scripts/soak.sh [--seconds N] [--clients N] [--seed N]      (default 300 s)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '\n[soak] %s\n' "$*" >&2; }

args=("$@")
if [[ " ${args[*]-} " != *" --seconds "* ]]; then
    args+=(--seconds 300)
fi

say "build the filter (wasm32-wasip1, release)"
cargo build --release --target wasm32-wasip1 -p activity-events-filter

say "build the soak driver"
cargo build -p activity-e2e --bin soak

say "run: ${args[*]}"
target="${CARGO_TARGET_DIR:-$ROOT/target}"
"$target/debug/soak" "${args[@]}"
