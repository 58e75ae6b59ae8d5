#!/usr/bin/env bash
# Benchmark: what the events filter costs the Envoy in front of it. Not part of the test command.
#
#   scripts/bench.sh               instruction counts (the default; deterministic): every
#                                  scenario x topology x mode, with and without the filter, in
#                                  one run, plus watch MB/s and added p99 in the realistic sidecar
#   scripts/bench.sh --wall        the wall-clock mode (a sanity check): wrk throughput and CPU
#                                  time, plaintext, this filter against no filter and Lua
#
# Instruction counts (bench/sidecar.py): the front Envoy (--concurrency 1) runs under valgrind's
# callgrind; after a warm-up its counters are zeroed (callgrind_control -z), N requests run on one
# kept-alive connection, the counters are dumped (callgrind_control -d), and the idle front
# Envoy's instructions for the same time are subtracted. Topologies: plaintext (HTTP/1.1, no
# auth: the microscope), the realistic sidecar (TLS + HTTP/2 downstream, jwt_authn with an ES256
# token, mTLS upstream) and the Milo profile (ext_authz to the real authorizer reviewing with the
# Milo stand-in, warm caches, then the filter); each in Activity-group and standard-paths mode.
# Shares are "no filter" instructions divided by "this filter" instructions. Scenarios: S1 GET
# one event (947 bytes), S2 POST create (1 KiB, scope injected; the upstream keeps its
# connections), S3 LIST 500 events, S5 a non-event GET; S4 a watch of 10,000 events (MB/s).
#
#   BENCH_N=2000             requests per measurement (S3: BENCH_N_LIST, default BENCH_N/10)
#   BENCH_SCENARIOS="S1 S2 S3 S5"  BENCH_TOPOLOGIES="plain sidecar milo"  BENCH_MODES="group std"
#   BENCH_NOOP=1             also the SDK's do-nothing filter (bench/noop-filter), plaintext
#   BENCH_WALL=1             also the sidecar's watch throughput and S1 latency (wall clock)
#   BENCH_REPEATS=3          S1 plaintext Activity-group measured this often (repeatability)
#   BENCH_WASM=FILE          measure another .wasm than the release build
#   BENCH_WASM_B=FILE        also a second .wasm next to it, plaintext (e.g. the build without
#                            wasm-opt: target/wasm32-wasip1/release/activity_events_filter.unopt.wasm)
#   BENCH_ROUNDS=5 BENCH_WALL_N=10000 BENCH_WALL_CONNECTIONS=4 BENCH_WATCH_STREAMS=20
#                            the sidecar's wall-clock part: rounds, S1 requests and connections
#                            for the latency, watch streams per round
#   MILO_BIN, AUTHZ_BIN      prebuilt Milo stand-in and authorizer (else release builds)
#   BENCH_SKIP_TOOLS=1       do not run scripts/tools.sh --bench (tools already provisioned)
#   BENCH_KEEP_PROFILES=1    keep each measurement's callgrind profile (BENCH_DIR/callgrind/LISTENER-SCENARIO.out)
#                            for callgrind_annotate, instead of only its total
#   BENCH_DIR                where results go (default .run/bench/TIMESTAMP)
#
# Wall-clock mode: configurations interleaved round by round, medians and ratios to "no filter"
# measured in the same run:
#   scripts/bench.sh --wall                      3 rounds of 5 s per scenario and configuration
#   BENCH_ROUNDS=5 BENCH_DURATION=10s scripts/bench.sh --wall
#   BENCH_SCENARIOS="S1 S5" BENCH_QUICK=1 scripts/bench.sh --wall    a subset, no memory run
# Also: .wasm size, the VM's linear memory over 100k requests, and the latency the filter adds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=instructions
for arg in "$@"; do
  case "$arg" in
    --wall) MODE=wall ;;
    -h|--help) sed -n '2,43p' "$0"; exit 0 ;;
    *) printf '[bench] unknown argument: %s\n' "$arg" >&2; exit 2 ;;
  esac
done
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-5s}"
CONNECTIONS="${BENCH_CONNECTIONS:-8}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${BENCH_DIR:-$ROOT/.run/bench/$STAMP}"
say() { printf '[bench] %s\n' "$*" >&2; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi
}
trap cleanup INT TERM EXIT

if [ "${BENCH_SKIP_TOOLS:-}" = 1 ]; then
  say "BENCH_SKIP_TOOLS=1: using the tools already in .tools/bin"
else
  say "provisioning tools (Envoy, wrk, h2load, wasm-opt)"
  scripts/tools.sh --bench
fi
ENVOY="$ROOT/.tools/bin/envoy"; WRK="$ROOT/.tools/bin/wrk"; H2LOAD="$ROOT/.tools/bin/h2load"

say "building the filter"
scripts/build-wasm.sh >/dev/null
WASM="${BENCH_WASM:-$ROOT/target/wasm32-wasip1/release/activity_events_filter.wasm}"
cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($(nproc) cores)"

if [ "$MODE" = instructions ]; then
  command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || {
    say "valgrind is not installed (Debian: apt-get install valgrind)"; exit 1; }
  python3 -c 'import cryptography' 2>/dev/null || {
    say "python3 cryptography is missing (Debian: apt-get install python3-cryptography)"; exit 1; }
  # valgrind must run Envoy itself, not the wrapper script around it.
  envoy_bin="${BENCH_ENVOY_BIN:-$(sed -n 's/^exec \([^ ]*\) "\$@"$/\1/p' "$ENVOY")}"
  [ -x "$envoy_bin" ] && [ "$(head -c 4 "$envoy_bin")" = $'\x7fELF' ] || {
    say "cannot find the Envoy binary behind $ENVOY (set BENCH_ENVOY_BIN)"; exit 1; }
  noop=""
  if [ "${BENCH_NOOP:-1}" = 1 ]; then
    say "building the SDK do-nothing filter (bench/noop-filter)"
    cargo build --quiet --release --target wasm32-wasip1 --manifest-path bench/noop-filter/Cargo.toml \
      --target-dir "$ROOT/target/noop-filter"
    noop="$ROOT/target/noop-filter/wasm32-wasip1/release/noop_filter.wasm"
  fi
  if [[ " ${BENCH_TOPOLOGIES:-milo} " == *" milo "* ]]; then
    if [ -z "${MILO_BIN:-}" ] || [ -z "${AUTHZ_BIN:-}" ]; then
      say "building the Milo stand-in and the authorizer (release)"
      cargo build --quiet --release -p milo-standin -p activity-events-authz
      MILO_BIN="${MILO_BIN:-$ROOT/target/release/milo-standin}"
      AUTHZ_BIN="${AUTHZ_BIN:-$ROOT/target/release/activity-events-authz}"
    fi
  fi
  mkdir -p "$OUT"
  say "results go to $OUT"
  BENCH_OUT="$OUT" ENVOY="$envoy_bin" H2LOAD="$H2LOAD" WASM="$WASM" NOOP_WASM="$noop" \
    MILO_BIN="${MILO_BIN:-}" AUTHZ_BIN="${AUTHZ_BIN:-}" python3 bench/sidecar.py
  command="scripts/bench.sh"
  for v in BENCH_N BENCH_N_LIST BENCH_SCENARIOS BENCH_TOPOLOGIES BENCH_MODES BENCH_WASM BENCH_WASM_B; do
    [ -z "${!v:-}" ] || command="$v=\"${!v}\" $command"
  done
  python3 scripts/bench_report.py --instructions "$OUT/results.json" "$(wc -c <"$WASM")" "$cpu" \
    "$STAMP" "$command" | tee "$OUT/results.md"
  say "results written to $OUT/results.md"
  exit 0
fi

SCENARIOS="${BENCH_SCENARIOS:-S1 S2 S3 S4 S5}"
mkdir -p "$OUT/data" "$OUT/raw"
say "results go to $OUT"

say "generating bodies"
python3 bench/bodies.py "$OUT/data"
cat >"$OUT/data/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$OUT/data/create-request.json", "r"); wrk.body = f:read("*a"); f:close()
LUA

render() { # render TEMPLATE OUT VAR=VALUE...
  local tpl="$1" dst="$2"; shift 2
  env "$@" perl -pe 's/\{\{(\w+)\}\}/exists $ENV{$1} ? $ENV{$1} : die "unfilled placeholder $1\n"/ge' "$tpl" >"$dst"
}
admin_of() { cat "$1"; }
listener_port() { # listener_port ADMIN NAME
  curl -s "http://$1/listeners?format=json" | python3 -c '
import json, sys
name = sys.argv[1]
for l in json.load(sys.stdin)["listener_statuses"]:
    if l["name"] == name: print(l["local_address"]["socket_address"]["port_value"])' "$2"
}
wait_ready() { # wait_ready ADMIN_FILE PID LOG
  for _ in $(seq 1 300); do
    if [ -s "$1" ] && [ "$(curl -s "http://$(cat "$1")/ready")" = "LIVE" ]; then return 0; fi
    kill -0 "$2" 2>/dev/null || { say "Envoy failed:"; tail -n 20 "$3" >&2; exit 1; }
    sleep 0.1
  done
  say "Envoy did not become ready"; exit 1
}

say "starting the upstream Envoy"
render envoy/bench/upstream.yaml "$OUT/upstream.yaml" DATA="$OUT/data"
"$ENVOY" -c "$OUT/upstream.yaml" --concurrency 1 --disable-hot-restart --base-id 91 \
  --admin-address-path "$OUT/upstream-admin" >"$OUT/upstream.log" 2>&1 &
pids+=("$!"); wait_ready "$OUT/upstream-admin" "$!" "$OUT/upstream.log"
UPSTREAM_PORT="$(listener_port "$(cat "$OUT/upstream-admin")" upstream)"

say "starting the front Envoy (--concurrency 1)"
render envoy/bench/front.yaml "$OUT/front.yaml" WASM="$WASM" LUA="$ROOT/envoy/lua/events_headers.lua" UPSTREAM_PORT="$UPSTREAM_PORT"
"$ENVOY" -c "$OUT/front.yaml" --concurrency 1 --disable-hot-restart --base-id 92 \
  --admin-address-path "$OUT/front-admin" >"$OUT/front.log" 2>&1 &
FRONT_PID="$!"; pids+=("$FRONT_PID"); wait_ready "$OUT/front-admin" "$FRONT_PID" "$OUT/front.log"
FRONT_ADMIN="$(cat "$OUT/front-admin")"
declare -A PORT
for c in nofilter filter lua; do PORT[$c]="$(listener_port "$FRONT_ADMIN" "$c")"; done
mem() { curl -s "http://$FRONT_ADMIN/stats?filter=wasm_memory_bytes" | sed -n 's/.*wasm_memory_bytes: //p' | head -n1; }
sleep 1.5; mem_start="$(mem)"

declare -A PATHS=(
  [S1]="/api/v1/namespaces/default/events/test-event"
  [S2]="/api/v1/namespaces/default/events"
  [S3]="/api/v1/namespaces/default/events"
  [S4]="/api/v1/namespaces/default/events?watch=true"
  [S5]="/api/v1/namespaces/default/pods"
)

say "sanity check: each configuration answers each scenario"
sanity_configs=(nofilter filter lua)
[ -z "${BENCH_WASM:-}" ] || sanity_configs=(nofilter lua)   # an experimental .wasm may not route
for c in "${sanity_configs[@]}"; do
  for s in S1 S3 S5; do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${PORT[$c]}${PATHS[$s]}")"
    [ "$code" = 200 ] || { say "$c $s answered $code"; exit 1; }
  done
  code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    --data-binary @"$OUT/data/create-request.json" "http://127.0.0.1:${PORT[$c]}${PATHS[S2]}")"
  [ "$code" = 201 ] || { say "$c S2 answered $code"; exit 1; }
done
v1="$(curl -s "http://127.0.0.1:${PORT[filter]}${PATHS[S1]}" | head -c 200)"
[ -n "${BENCH_WASM:-}" ] || case "$v1" in *'"apiVersion":"v1"'*) ;; *) say "filter did not rewrite the response: $v1"; exit 1 ;; esac

# CPU time (clock ticks) the front Envoy has used: a steadier per-request cost than
# throughput on a small shared machine, reported next to it.
front_ticks() { awk '{print $14 + $15}' "/proc/$FRONT_PID/stat"; }

run_wrk() { # run_wrk ROUND SCENARIO CONFIG
  local r="$1" s="$2" c="$3" url="http://127.0.0.1:${PORT[$3]}${PATHS[$2]}"
  local args=(-t1 -c"$CONNECTIONS" -d"$DURATION" --latency)
  [ "$s" = S4 ] && args=(-t1 -c2 -d"$DURATION" --latency)
  [ "$s" = S2 ] && args+=(-s "$OUT/data/post.lua")
  local before after
  before="$(front_ticks)"
  "$WRK" "${args[@]}" "$url" >"$OUT/raw/$r-$s-$c.txt" 2>&1
  after="$(front_ticks)"
  echo "FrontCPUTicks: $((after - before)) $(getconf CLK_TCK)" >>"$OUT/raw/$r-$s-$c.txt"
}

configs=(nofilter filter lua)
for r in $(seq 1 "$ROUNDS"); do
  for s in $SCENARIOS; do
    # Rotate the order each round so no configuration always runs first or last.
    for k in 0 1 2; do
      c="${configs[$(( (k + r) % 3 ))]}"
      say "round $r/$ROUNDS $s $c"
      run_wrk "$r" "$s" "$c"
    done
  done
done
if [ -n "${BENCH_QUICK:-}" ]; then
  python3 "$ROOT/scripts/bench_report.py" "$OUT" "$ROUNDS" "$DURATION" "$CONNECTIONS" \
    "$(wc -c <"$WASM")" 0 0 0 "quick run" "$STAMP" | tee "$OUT/results.md"
  exit 0
fi

say "VM memory over 100k requests (S1 and S2 on the filter)"
sleep 1.5; mem_before="$(mem)"
"$H2LOAD" --h1 -n 50000 -c 8 -t 1 "http://127.0.0.1:${PORT[filter]}${PATHS[S1]}" >"$OUT/raw/mem-s1.txt" 2>&1
mem_mid="$(sleep 1.5; mem)"
"$H2LOAD" --h1 -n 50000 -c 8 -t 1 -d "$OUT/data/create-request.json" -H 'content-type: application/json' \
  "http://127.0.0.1:${PORT[filter]}${PATHS[S2]}" >"$OUT/raw/mem-s2.txt" 2>&1
mem_after="$(sleep 1.5; mem)"

python3 "$ROOT/scripts/bench_report.py" "$OUT" "$ROUNDS" "$DURATION" "$CONNECTIONS" \
  "$(wc -c <"$WASM")" "$mem_before" "$mem_mid" "$mem_after" "$cpu" "$STAMP" "$mem_start" | tee "$OUT/results.md"
say "results written to $OUT/results.md"
