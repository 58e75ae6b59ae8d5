#!/usr/bin/env bash
# Run the product locally: Envoy with the built events filter in front of the Activity
# stand-in (or a real Activity server), with sandbox tokens for three users and a kubeconfig
# that has a context per user. Ctrl-C stops everything this script started.
#
# Environment (all optional):
#   PORT=6443                 listener port kubectl talks to
#   RUN_DIR=.run              where certificates, tokens, configs and logs go
#   ACTIVITY_URL=https://host:port[/prefix]    use a real Activity server instead of the stand-in;
#   ACTIVITY_CA, ACTIVITY_CLIENT_CERT, ACTIVITY_CLIENT_KEY   then also required (PEM files)
#   ACTIVITY_SNI              server name to verify (default: the URL's host)
#   REQUEST_TIMEOUT=30s PER_TRY_TIMEOUT=10s      route policy for event requests
#   STANDIN_BIN               use this stand-in binary instead of building it
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# --- compose: `scripts/run.sh --compose` ------------------------------------------------------
# The same topology in Docker containers (docker-compose.yaml, FROM-scratch images built here),
# until Ctrl-C, which removes them. PORT (default 6443) and RUN_DIR (default .run/compose) apply.
if [ "${1:-}" = "--compose" ]; then
  exec "$ROOT/scripts/compose.sh" run
fi
# --- end compose -----------------------------------------------------------------------------

RUN_DIR="${RUN_DIR:-$ROOT/.run}"
PORT="${PORT:-6443}"
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-30s}"
PER_TRY_TIMEOUT="${PER_TRY_TIMEOUT:-10s}"
DEFAULT_PREFIX="/apis/activity.miloapis.com/v1alpha1"
say() { printf '[run] %s\n' "$*" >&2; }

pids=()
cleanup() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    say "stopping ${pids[*]}"
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap cleanup INT TERM EXIT

say "provisioning tools"
scripts/tools.sh
ENVOY="$ROOT/.tools/bin/envoy"
KUBECTL="$ROOT/.tools/bin/kubectl"

say "building the filter (wasm32-wasip1) and the stand-in"
cargo build --quiet --release --target wasm32-wasip1 -p activity-events-filter
WASM="$ROOT/target/wasm32-wasip1/release/activity_events_filter.wasm"
if [ -n "${STANDIN_BIN:-}" ]; then
  STANDIN="$STANDIN_BIN"   # a prebuilt stand-in (the tests pass their debug build)
else
  cargo build --quiet --release -p activity-standin
  STANDIN="$ROOT/target/release/activity-standin"
fi

mkdir -p "$RUN_DIR"
say "certificates and tokens in $RUN_DIR"
"$STANDIN" certs --out "$RUN_DIR/certs/front" --name localhost >/dev/null
"$STANDIN" tokens --out "$RUN_DIR/tokens" >/dev/null

if [ -n "${ACTIVITY_URL:-}" ]; then
  : "${ACTIVITY_CA:?ACTIVITY_CA is required with ACTIVITY_URL}"
  : "${ACTIVITY_CLIENT_CERT:?ACTIVITY_CLIENT_CERT is required with ACTIVITY_URL}"
  : "${ACTIVITY_CLIENT_KEY:?ACTIVITY_CLIENT_KEY is required with ACTIVITY_URL}"
  rest="${ACTIVITY_URL#https://}"
  [ "$rest" != "$ACTIVITY_URL" ] || { say "ACTIVITY_URL must start with https://"; exit 2; }
  hostport="${rest%%/*}"
  prefix="/${rest#"$hostport"}"; prefix="${prefix#/}"; prefix="/${prefix#/}"
  [ "$prefix" != "/" ] || prefix="$DEFAULT_PREFIX"
  prefix="${prefix%/}"
  ACTIVITY_HOST="${hostport%%:*}"
  ACTIVITY_PORT="${hostport##*:}"; [ "$ACTIVITY_PORT" != "$hostport" ] || ACTIVITY_PORT=443
  ACTIVITY_SNI="${ACTIVITY_SNI:-$ACTIVITY_HOST}"
  CLIENT_CERT="$ACTIVITY_CLIENT_CERT"; CLIENT_KEY="$ACTIVITY_CLIENT_KEY"
  say "using the real Activity server at https://$ACTIVITY_HOST:$ACTIVITY_PORT$prefix"
  standin_note="Activity: https://$ACTIVITY_HOST:$ACTIVITY_PORT$prefix"
else
  "$STANDIN" certs --out "$RUN_DIR/certs/activity" --name activity.local >/dev/null
  prefix="$DEFAULT_PREFIX"
  say "starting the Activity stand-in (in memory)"
  "$STANDIN" serve --tls-cert "$RUN_DIR/certs/activity/server.pem" \
    --tls-key "$RUN_DIR/certs/activity/server-key.pem" \
    --client-ca "$RUN_DIR/certs/activity/ca.pem" --prefix "$prefix" \
    >"$RUN_DIR/standin.out" 2>"$RUN_DIR/standin.log" &
  pids+=("$!")
  for _ in $(seq 1 100); do
    grep -q '^READY ' "$RUN_DIR/standin.out" 2>/dev/null && break
    kill -0 "${pids[0]}" 2>/dev/null || { say "stand-in failed:"; cat "$RUN_DIR/standin.log" >&2; exit 1; }
    sleep 0.1
  done
  ready="$(grep '^READY ' "$RUN_DIR/standin.out")" || { say "stand-in did not start"; exit 1; }
  main="$(sed -n 's/.*main=\([^ ]*\).*/\1/p' <<<"$ready")"
  admin="$(sed -n 's/.*admin=\([^ ]*\).*/\1/p' <<<"$ready")"
  ACTIVITY_HOST="127.0.0.1"; ACTIVITY_PORT="${main##*:}"; ACTIVITY_SNI="activity.local"
  ACTIVITY_CA="$RUN_DIR/certs/activity/ca.pem"
  CLIENT_CERT="$RUN_DIR/certs/activity/client.pem"; CLIENT_KEY="$RUN_DIR/certs/activity/client-key.pem"
  standin_note="Activity stand-in: main https://$main, test controls http://$admin (GET /requests, GET /events)"
fi

FILTER_CONFIG="$(cat <<JSON | tr -d '\n'
{"activity_prefix":"$prefix","identity":{"metadata_namespace":"envoy.filters.http.jwt_authn",
"user":["jwt_payload","sub"],"uid":["jwt_payload","uid"],"groups":["jwt_payload","groups"],
"extra":["jwt_payload","extra"],"userinfo":["jwt_payload","userinfo"]}}
JSON
)"

say "rendering envoy/sandbox-jwt.yaml into $RUN_DIR/envoy.yaml"
export R_LISTEN_ADDRESS=127.0.0.1 R_LISTEN_PORT="$PORT" R_FRONT_CERT="$RUN_DIR/certs/front/server.pem" \
  R_FRONT_KEY="$RUN_DIR/certs/front/server-key.pem" R_JWKS="$RUN_DIR/tokens/jwks.json" \
  R_WASM="$WASM" R_FILTER_CONFIG="$FILTER_CONFIG" R_ACTIVITY_HOST="$ACTIVITY_HOST" \
  R_ACTIVITY_PORT="$ACTIVITY_PORT" R_ACTIVITY_SNI="$ACTIVITY_SNI" R_ACTIVITY_CA="$ACTIVITY_CA" \
  R_CLIENT_CERT="$CLIENT_CERT" R_CLIENT_KEY="$CLIENT_KEY" R_REQUEST_TIMEOUT="$REQUEST_TIMEOUT" \
  R_PER_TRY_TIMEOUT="$PER_TRY_TIMEOUT" R_DISCOVERY_DIR="$ROOT/envoy/discovery"
perl -pe 's/\{\{(\w+)\}\}/exists $ENV{"R_$1"} ? $ENV{"R_$1"} : die "unfilled placeholder $1\n"/ge' \
  envoy/sandbox-jwt.yaml >"$RUN_DIR/envoy.yaml"

say "starting Envoy on https://localhost:$PORT"
rm -f "$RUN_DIR/envoy-admin"
"$ENVOY" -c "$RUN_DIR/envoy.yaml" --concurrency 1 --disable-hot-restart \
  --admin-address-path "$RUN_DIR/envoy-admin" >"$RUN_DIR/envoy.log" 2>&1 &
pids+=("$!")
envoy_pid="$!"
for _ in $(seq 1 200); do
  if [ -s "$RUN_DIR/envoy-admin" ] && \
     [ "$(curl -s "http://$(cat "$RUN_DIR/envoy-admin")/ready" 2>/dev/null)" = "LIVE" ]; then
    break
  fi
  kill -0 "$envoy_pid" 2>/dev/null || { say "Envoy failed:"; tail -n 30 "$RUN_DIR/envoy.log" >&2; exit 1; }
  sleep 0.1
done

KUBECONFIG_FILE="$RUN_DIR/kubeconfig"
{
  echo "apiVersion: v1"
  echo "kind: Config"
  echo "clusters:"
  echo "- name: sandbox"
  echo "  cluster:"
  echo "    server: https://localhost:$PORT"
  echo "    certificate-authority: $RUN_DIR/certs/front/ca.pem"
  echo "users:"
  for u in admin org project; do
    echo "- name: $u"
    echo "  user:"
    echo "    tokenFile: $RUN_DIR/tokens/$u.token"
  done
  echo "contexts:"
  for u in admin org project; do
    echo "- name: $u"
    echo "  context: { cluster: sandbox, user: $u, namespace: default }"
  done
  echo "current-context: admin"
} >"$KUBECONFIG_FILE"

cat >&2 <<USAGE

  The events proxy is running.

    export KUBECONFIG=$KUBECONFIG_FILE
    $KUBECTL --context org create -f testdata/test-event.yaml
    $KUBECTL --context org get events -n default
    $KUBECTL --context project get events -A        # sees only its own project
    $KUBECTL --context admin get events -A -w       # the platform admin sees everything

  Contexts: admin (platform), org (Organization acme), project (Project web-app)
  $standin_note
  Envoy admin: http://$(cat "$RUN_DIR/envoy-admin"), logs in $RUN_DIR
  Ctrl-C stops everything.

USAGE

# Stop when either process ends or on Ctrl-C.
wait -n "${pids[@]}"
say "a process exited; stopping"
