#!/usr/bin/env bash
# Run the product locally, the way it runs in front of Milo: Envoy with the built events filter,
# the authorizer (ext_authz: Milo's TokenReview and SubjectAccessReview), a Milo stand-in and an
# Activity stand-in (or a real Activity server), and a kubeconfig whose contexts point where
# Milo's real ones do (root, an organization's and a project's control plane). Ctrl-C stops
# everything this script started.
#
#   scripts/run.sh            the Milo profile (default)
#   scripts/run.sh --jwt      the JWT profile: jwt_authn with sandbox tokens that carry the
#                             user's extras, for identity providers that issue such tokens
#
# Environment (all optional):
#   PORT=6443                 listener port kubectl talks to
#   RUN_DIR=.run              where certificates, tokens, configs and logs go
#   ACTIVITY_PREFIX           the filter's activity_prefix for the stand-in (Milo profile
#                             default /api/v1, the standard paths production uses; JWT profile
#                             default /apis/activity.miloapis.com/v1alpha1)
#   ACTIVITY_URL=https://host:port[/prefix]    use a real Activity server instead of the stand-in;
#   ACTIVITY_CA, ACTIVITY_CLIENT_CERT, ACTIVITY_CLIENT_KEY   then also required (PEM files)
#   ACTIVITY_SNI              server name to verify (default: the URL's host)
#   REQUEST_TIMEOUT=30s PER_TRY_TIMEOUT=10s      route policy for event requests
#   STANDIN_BIN, MILO_BIN, AUTHZ_BIN             prebuilt binaries instead of building them
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROFILE=milo
for arg in "$@"; do
  case "$arg" in
    --jwt) PROFILE=jwt ;;
    --compose) PROFILE=compose ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) printf '[run] unknown argument: %s\n' "$arg" >&2; exit 2 ;;
  esac
done
if [ "$PROFILE" = compose ]; then
  exec scripts/compose.sh run
fi
RUN_DIR="${RUN_DIR:-$ROOT/.run}"
PORT="${PORT:-6443}"
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-30s}"
PER_TRY_TIMEOUT="${PER_TRY_TIMEOUT:-10s}"
if [ "$PROFILE" = milo ]; then
  DEFAULT_PREFIX="${ACTIVITY_PREFIX:-/api/v1}"
else
  DEFAULT_PREFIX="${ACTIVITY_PREFIX:-/apis/activity.miloapis.com/v1alpha1}"
fi
ORG_PATH="/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane"
PROJECT_PATH="/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane"
USER_PATH="/apis/iam.miloapis.com/v1alpha1/users/uid-alice/control-plane"
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

# wait_ready PID FILE PATTERN WHAT: wait until FILE has a line matching PATTERN.
wait_ready() {
  local pid="$1" file="$2" pattern="$3" what="$4"
  for _ in $(seq 1 300); do
    grep -q "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { say "$what failed:"; tail -n 30 "${file%.out}.log" >&2; exit 1; }
    sleep 0.1
  done
  say "$what did not start"; exit 1
}

say "provisioning tools"
scripts/tools.sh
ENVOY="$ROOT/.tools/bin/envoy"
KUBECTL="$ROOT/.tools/bin/kubectl"

say "building the filter (wasm32-wasip1) and the stand-ins"
scripts/build-wasm.sh >/dev/null
WASM="$ROOT/target/wasm32-wasip1/release/activity_events_filter.wasm"
# bin VAR PACKAGE BINARY: a prebuilt binary from the environment, else a release build.
bin() {
  local var="$1" pkg="$2" name="$3"
  if [ -n "${!var:-}" ]; then
    printf '%s' "${!var}"
  else
    cargo build --quiet --release -p "$pkg" >&2
    printf '%s' "$ROOT/target/release/$name"
  fi
}
STANDIN="$(bin STANDIN_BIN activity-standin activity-standin)"
if [ "$PROFILE" = milo ]; then
  MILO="$(bin MILO_BIN milo-standin milo-standin)"
  AUTHZ="$(bin AUTHZ_BIN activity-events-authz activity-events-authz)"
fi

mkdir -p "$RUN_DIR"
say "certificates and tokens in $RUN_DIR"
"$STANDIN" certs --out "$RUN_DIR/certs/front" --name localhost >/dev/null

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
  say "starting the Activity stand-in (in memory, prefix $prefix)"
  "$STANDIN" serve --tls-cert "$RUN_DIR/certs/activity/server.pem" \
    --tls-key "$RUN_DIR/certs/activity/server-key.pem" \
    --client-ca "$RUN_DIR/certs/activity/ca.pem" --prefix "$prefix" \
    >"$RUN_DIR/standin.out" 2>"$RUN_DIR/standin.log" &
  pids+=("$!")
  wait_ready "$!" "$RUN_DIR/standin.out" '^READY ' "the Activity stand-in"
  ready="$(grep '^READY ' "$RUN_DIR/standin.out")"
  main="$(sed -n 's/.*main=\([^ ]*\).*/\1/p' <<<"$ready")"
  admin="$(sed -n 's/.*admin=\([^ ]*\).*/\1/p' <<<"$ready")"
  ACTIVITY_HOST="127.0.0.1"; ACTIVITY_PORT="${main##*:}"; ACTIVITY_SNI="activity.local"
  ACTIVITY_CA="$RUN_DIR/certs/activity/ca.pem"
  CLIENT_CERT="$RUN_DIR/certs/activity/client.pem"; CLIENT_KEY="$RUN_DIR/certs/activity/client-key.pem"
  standin_note="Activity stand-in: main https://$main, test controls http://$admin (GET /requests, GET /events)"
fi

export R_LISTEN_ADDRESS=127.0.0.1 R_LISTEN_PORT="$PORT" R_FRONT_CERT="$RUN_DIR/certs/front/server.pem" \
  R_FRONT_KEY="$RUN_DIR/certs/front/server-key.pem" R_WASM="$WASM" R_ACTIVITY_HOST="$ACTIVITY_HOST" \
  R_ACTIVITY_PORT="$ACTIVITY_PORT" R_ACTIVITY_SNI="$ACTIVITY_SNI" R_ACTIVITY_CA="$ACTIVITY_CA" \
  R_CLIENT_CERT="$CLIENT_CERT" R_CLIENT_KEY="$CLIENT_KEY" R_REQUEST_TIMEOUT="$REQUEST_TIMEOUT" \
  R_PER_TRY_TIMEOUT="$PER_TRY_TIMEOUT" R_DISCOVERY_DIR="$ROOT/envoy/discovery"

if [ "$PROFILE" = milo ]; then
  TEMPLATE=envoy/sandbox.yaml
  "$STANDIN" certs --out "$RUN_DIR/certs/milo" --name localhost >/dev/null
  say "sandbox users, tokens and Milo's policy in $RUN_DIR/milo"
  "$MILO" sandbox-files --dir "$RUN_DIR/milo" >/dev/null
  say "starting the Milo stand-in (TokenReview, SubjectAccessReview, discovery, namespaces)"
  "$MILO" serve --tokens "$RUN_DIR/milo/tokens.csv" --policy "$RUN_DIR/milo/policy.json" \
    --tls-cert "$RUN_DIR/certs/milo/server.pem" --tls-key "$RUN_DIR/certs/milo/server-key.pem" \
    >"$RUN_DIR/milo.out" 2>"$RUN_DIR/milo.log" &
  pids+=("$!")
  wait_ready "$!" "$RUN_DIR/milo.out" '^READY ' "the Milo stand-in"
  milo_ready="$(grep '^READY ' "$RUN_DIR/milo.out")"
  milo_main="$(sed -n 's/.*main=\([^ ]*\).*/\1/p' <<<"$milo_ready")"
  milo_admin="$(sed -n 's/.*admin=\([^ ]*\).*/\1/p' <<<"$milo_ready")"

  # The authorizer reaches Milo as its own reviewer identity.
  cat >"$RUN_DIR/authz-kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: milo
  cluster:
    server: https://localhost:${milo_main##*:}
    certificate-authority: $RUN_DIR/certs/milo/ca.pem
users:
- name: authz
  user:
    tokenFile: $RUN_DIR/milo/authz.token
contexts:
- name: milo
  context: { cluster: milo, user: authz }
current-context: milo
YAML
  say "starting the authorizer (ext_authz)"
  "$AUTHZ" serve --listen 127.0.0.1:0 --milo-kubeconfig "$RUN_DIR/authz-kubeconfig" \
    --metrics-listen 127.0.0.1:0 >"$RUN_DIR/authz.out" 2>"$RUN_DIR/authz.log" &
  pids+=("$!")
  wait_ready "$!" "$RUN_DIR/authz.out" '"grpc"' "the authorizer"
  authz_addr="$(sed -n 's/.*"grpc":"\([^"]*\)".*/\1/p' "$RUN_DIR/authz.out" | head -n 1)"
  authz_metrics="$(sed -n 's/.*"metrics":"\([^"]*\)".*/\1/p' "$RUN_DIR/authz.out" | head -n 1)"
  export R_AUTHZ_HOST="${authz_addr%:*}" R_AUTHZ_PORT="${authz_addr##*:}" \
    R_MILO_HOST=127.0.0.1 R_MILO_PORT="${milo_main##*:}" R_MILO_SNI=localhost \
    R_MILO_CA="$RUN_DIR/certs/milo/ca.pem" \
    R_FILTER_CONFIG="{\"activity_prefix\":\"$prefix\",\"identity\":{\"metadata_namespace\":\"envoy.filters.http.ext_authz\",\"userinfo\":\"userinfo\"}}"
  TOKENS="$RUN_DIR/milo"
  # context:token-file:server path
  CONTEXTS=("admin:admin:" "org:alice:$ORG_PATH" "project:bob:$PROJECT_PATH"
            "user:alice:$USER_PATH" "intruder:eve:$PROJECT_PATH")
  notes="Milo stand-in: https://$milo_main, request log http://$milo_admin/requests; authorizer gRPC $authz_addr, metrics http://$authz_metrics/metrics"
else
  TEMPLATE=envoy/sandbox-jwt.yaml
  "$STANDIN" tokens --out "$RUN_DIR/tokens" >/dev/null
  export R_JWKS="$RUN_DIR/tokens/jwks.json" R_FILTER_CONFIG="$(cat <<JSON | tr -d '\n'
{"activity_prefix":"$prefix","identity":{"metadata_namespace":"envoy.filters.http.jwt_authn",
"user":["jwt_payload","sub"],"uid":["jwt_payload","uid"],"groups":["jwt_payload","groups"],
"extra":["jwt_payload","extra"],"userinfo":["jwt_payload","userinfo"]}}
JSON
)"
  TOKENS="$RUN_DIR/tokens"
  CONTEXTS=("admin:admin:" "org:org:" "project:project:")
  notes="identity from JWT claims (jwt_authn), tokens in $TOKENS"
fi

say "rendering $TEMPLATE into $RUN_DIR/envoy.yaml"
perl -pe 's/\{\{(\w+)\}\}/exists $ENV{"R_$1"} ? $ENV{"R_$1"} : die "unfilled placeholder $1\n"/ge' \
  "$TEMPLATE" >"$RUN_DIR/envoy.yaml"

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
  for c in "${CONTEXTS[@]}"; do
    IFS=: read -r ctx _ path <<<"$c"
    echo "- name: $ctx"
    echo "  cluster:"
    echo "    server: https://localhost:$PORT$path"
    echo "    certificate-authority: $RUN_DIR/certs/front/ca.pem"
  done
  echo "users:"
  for c in "${CONTEXTS[@]}"; do
    IFS=: read -r ctx user _ <<<"$c"
    echo "- name: $ctx"
    echo "  user:"
    echo "    tokenFile: $TOKENS/$user.token"
  done
  echo "contexts:"
  for c in "${CONTEXTS[@]}"; do
    IFS=: read -r ctx _ _ <<<"$c"
    echo "- name: $ctx"
    echo "  context: { cluster: $ctx, user: $ctx, namespace: default }"
  done
  echo "current-context: admin"
} >"$KUBECONFIG_FILE"

if [ "$PROFILE" = milo ]; then
  contexts_help="admin (platform admin at Milo's root), org (alice, organization acme's control plane),
  project (bob, project web-app's control plane), user (alice's user control plane),
  intruder (eve at web-app's control plane: no rights there, gets 403)"
  intruder_hint="    $KUBECTL --context intruder get events            # 403: Milo does not allow eve in web-app"
else
  contexts_help="admin (platform), org (Organization acme), project (Project web-app); scope from the token's extras"
  intruder_hint=""
fi
cat >&2 <<USAGE

  The events proxy is running ($PROFILE profile).

    export KUBECONFIG=$KUBECONFIG_FILE
    $KUBECTL --context org create -f testdata/test-event.yaml
    $KUBECTL --context org get events -n default
    $KUBECTL --context org get events.events.k8s.io -n default
    $KUBECTL --context project get events -A        # sees only its own project
    $KUBECTL --context admin get events -A -w       # the platform admin sees everything
$intruder_hint

  Contexts: $contexts_help
  $standin_note
  $notes
  Envoy admin: http://$(cat "$RUN_DIR/envoy-admin"), logs in $RUN_DIR
  Ctrl-C stops everything.

USAGE

# Stop when any process ends or on Ctrl-C.
wait -n "${pids[@]}"
say "a process exited; stopping"
