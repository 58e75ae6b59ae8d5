#!/usr/bin/env bash
# Build the filter's release .wasm and shrink it with binaryen's wasm-opt -Oz (about 13%
# smaller, no slower: see scripts/bench.sh). Every script that builds the .wasm calls this, so
# tests, images and the benchmark run the same bytes.
#
#   scripts/build-wasm.sh          builds, optimizes, prints the path and size
#
# The optimized module replaces cargo's output in place (same file, so cargo's own copy in
# deps/ matches and a no-op `cargo build` keeps it); the unoptimized one is kept next to it as
# activity_events_filter.unopt.wasm. A stamp (the optimized file's SHA-256) makes a second run
# a no-op: wasm-opt only runs on a fresh cargo output. Without wasm-opt (WASM_OPT=none, or
# no .tools/bin/wasm-opt) the cargo output is left as it is, with a warning.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { printf '[build-wasm] %s\n' "$*" >&2; }

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WASM="$TARGET/wasm32-wasip1/release/activity_events_filter.wasm"
UNOPT="${WASM%.wasm}.unopt.wasm"
STAMP="$WASM.optimized-sha256"
WASM_OPT="${WASM_OPT:-$ROOT/.tools/bin/wasm-opt}"

say "cargo build --release --target wasm32-wasip1 -p activity-events-filter"
cargo build --quiet --release --target wasm32-wasip1 -p activity-events-filter

if [ "$WASM_OPT" = none ] || [ ! -x "$WASM_OPT" ]; then
  say "WARNING: no wasm-opt ($WASM_OPT; scripts/tools.sh installs it): the .wasm stays unoptimized"
  rm -f "$STAMP"
elif [ -f "$STAMP" ] && [ "$(sha256sum <"$WASM" | cut -d' ' -f1)" = "$(cat "$STAMP")" ]; then
  say "already optimized: $WASM"
else
  cp "$WASM" "$UNOPT"
  # The features rustc's wasm32-wasip1 target emits, plus simd128 (.cargo/config.toml);
  # binaryen 108 enables none by default.
  say "wasm-opt -Oz ($(wc -c <"$UNOPT") bytes in)"
  "$WASM_OPT" -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue --enable-simd \
    "$UNOPT" -o "$WASM.tmp"
  # Write through the existing file (not mv): cargo hard-links it to deps/, and a later no-op
  # cargo build re-links that copy over this path.
  cat "$WASM.tmp" >"$WASM"
  rm -f "$WASM.tmp"
  sha256sum <"$WASM" | cut -d' ' -f1 >"$STAMP"
fi
say "$WASM: $(wc -c <"$WASM") bytes"
printf '%s\n' "$WASM"
