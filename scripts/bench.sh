#!/usr/bin/env bash
# Benchmark: the events filter against Envoy alone and against a Lua filter doing the header
# part, in one front Envoy (--concurrency 1) in front of an upstream Envoy that answers with
# fixed bodies. Configurations are interleaved round by round; the report gives medians and
# ratios to "no filter" measured in the same run. Not part of the test command.
#
#   scripts/bench.sh                      3 rounds of 5 s per scenario and configuration
#   BENCH_ROUNDS=5 BENCH_DURATION=10s scripts/bench.sh
#   BENCH_SCENARIOS="S1 S5" BENCH_QUICK=1 scripts/bench.sh    a subset, no memory run
#
# Scenarios: S1 GET one event (947-byte body, response rewritten to v1); S2 POST create of a
# 1 KiB event with scope injection; S3 LIST of 500 events; S4 a watch stream of 10,000 events
# (MB/s); S5 a non-event GET. Also: .wasm size, the VM's linear memory over 100k requests, and
# the latency the filter adds at -c 8.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-5s}"
CONNECTIONS="${BENCH_CONNECTIONS:-8}"
SCENARIOS="${BENCH_SCENARIOS:-S1 S2 S3 S4 S5}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="${BENCH_DIR:-$ROOT/.run/bench/$STAMP}"
say() { printf '[bench] %s\n' "$*" >&2; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; fi
}
trap cleanup INT TERM EXIT

say "provisioning tools (Envoy, wrk, h2load)"
scripts/tools.sh --bench
ENVOY="$ROOT/.tools/bin/envoy"; WRK="$ROOT/.tools/bin/wrk"; H2LOAD="$ROOT/.tools/bin/h2load"

say "building the filter"
cargo build --quiet --release --target wasm32-wasip1 -p activity-events-filter
WASM="${BENCH_WASM:-$ROOT/target/wasm32-wasip1/release/activity_events_filter.wasm}"

mkdir -p "$OUT/data" "$OUT/raw"
say "results go to $OUT"

say "generating bodies"
python3 - "$OUT/data" <<'PY'
import json, sys
out = sys.argv[1]
ACT = "activity.miloapis.com/v1alpha1"
def event(i, api=ACT, message=None):
    return {
        "kind": "Event", "apiVersion": api,
        "metadata": {"name": f"test-pod.{i:016x}", "namespace": "default",
            "uid": "0b7e3a64-7d0e-4f7a-9a51-2f7c1d3b9e10", "resourceVersion": str(1000 + i),
            "creationTimestamp": "2026-11-26T08:00:00Z",
            "annotations": {"platform.miloapis.com/scope.type": "Organization",
                            "platform.miloapis.com/scope.name": "acme"}},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "namespace": "default",
            "name": "test-pod", "uid": "8f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "resourceVersion": "4242", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled",
        "message": message or "Successfully pulled image \"registry.example.com/app:1.2.3\" in 1.2s.",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2026-11-26T08:00:00Z", "lastTimestamp": "2026-11-26T08:00:05Z",
        "count": 3, "type": "Normal", "eventTime": None,
        "reportingComponent": "kubelet", "reportingInstance": "node-1",
    }
def dump(obj): return json.dumps(obj, separators=(",", ":"))
# S1: exactly 947 bytes, as in the design's baseline.
e = event(1); e["metadata"]["name"] = "test-event"
e["message"] += "x" * (947 - len(dump(e))); e1 = dump(e)
assert len(e1) == 947, len(e1)
open(f"{out}/event.json", "w").write(e1)
open(f"{out}/created.json", "w").write(dump(event(2)))
# S2 request: a 1 KiB core/v1 create with forged scope annotations.
c = event(3, api="v1"); c["metadata"] = {"name": "bench-create", "namespace": "default",
    "annotations": {"platform.miloapis.com/scope.name": "forged"}}
body = dump(c); c["message"] += "y" * (1024 - len(body)); body = dump(c); assert len(body) == 1024
open(f"{out}/create-request.json", "w").write(body)
items = [event(i) for i in range(500)]
for it in items: it.pop("kind"); it.pop("apiVersion")
open(f"{out}/list.json", "w").write(dump({"kind": "EventList", "apiVersion": ACT,
    "metadata": {"resourceVersion": "5000"}, "items": items}))
with open(f"{out}/watch.jsonl", "w") as f:
    for i in range(10000):
        f.write(dump({"type": "ADDED" if i % 3 == 0 else "MODIFIED", "object": event(i)}) + "\n")
open(f"{out}/pods.json", "w").write(dump({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}))
PY
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

cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($(nproc) cores)"
python3 "$ROOT/scripts/bench_report.py" "$OUT" "$ROUNDS" "$DURATION" "$CONNECTIONS" \
  "$(wc -c <"$WASM")" "$mem_before" "$mem_mid" "$mem_after" "$cpu" "$STAMP" "$mem_start" | tee "$OUT/results.md"
say "results written to $OUT/results.md"
