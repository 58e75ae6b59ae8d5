#!/usr/bin/env bash
# Run the sandbox topology in Docker (docker-compose.yaml) and check it with kubectl.
#
#   scripts/compose.sh up       engine (docker/engine.sh), images (scripts/images.sh), compose up,
#                               a kubeconfig for the host in RUN_DIR, wait until Envoy answers
#   scripts/compose.sh verify   the seed's checks with kubectl through it: create, get, list with
#                               field selectors, a watch that sees a new event, tenancy
#   scripts/compose.sh down     docker-compose down -v: no container, network or volume remains;
#                               with --images also the images of IMAGE_TAG
#   scripts/compose.sh run      up, print how to use it, stay until Ctrl-C, then down
#                               (what `scripts/run.sh --compose` runs)
#
# Environment (optional):
#   PORT                     port published on 127.0.0.1 (default: a free one; run: 6443)
#   RUN_DIR=.run/compose     kubeconfig, tokens, CA and logs for the host
#   COMPOSE_PROJECT_NAME=activity-events    containers, networks and volumes are named after it
#   IMAGE_TAG=dev            images to run (scripts/images.sh builds them)
#   SKIP_IMAGES=1            use the images as they are (no cargo, no docker build)
# Exit status 3: no Docker engine can run here (one line says why).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN_DIR="${RUN_DIR:-$ROOT/.run/compose}"
STATE="$RUN_DIR/compose.env"
say() { printf '[compose] %s\n' "$*" >&2; }

# verify and down use what up recorded, unless told otherwise.
if [ -f "$STATE" ]; then
  while IFS='=' read -r key value; do
    [ -n "${!key:-}" ] || export "$key=$value"
  done <"$STATE"
fi
export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-activity-events}"
export IMAGE_TAG="${IMAGE_TAG:-dev}"

[ -x "$ROOT/.tools/bin/docker-compose" ] && [ -x "$ROOT/.tools/bin/kubectl" ] || scripts/tools.sh
KUBECTL="$ROOT/.tools/bin/kubectl"
compose() { "$ROOT/.tools/bin/docker-compose" --ansi never -f "$ROOT/docker-compose.yaml" "$@"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

kube() { "$KUBECTL" --kubeconfig "$RUN_DIR/kubeconfig" --cache-dir "$RUN_DIR/kube-cache" "$@"; }

# Milo's contexts: context:user:server path (the kubectl server paths of Milo's control planes).
ORG_PATH="/apis/resourcemanager.miloapis.com/v1alpha1/organizations/acme/control-plane"
PROJECT_PATH="/apis/resourcemanager.miloapis.com/v1alpha1/projects/web-app/control-plane"
USER_PATH="/apis/iam.miloapis.com/v1alpha1/users/uid-alice/control-plane"
CONTEXTS=("admin:admin:" "org:alice:$ORG_PATH" "project:bob:$PROJECT_PATH"
          "user:alice:$USER_PATH" "intruder:eve:$PROJECT_PATH")

write_kubeconfig() {
  local port="$1" c ctx user path
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "clusters:"
    for c in "${CONTEXTS[@]}"; do
      IFS=: read -r ctx _ path <<<"$c"
      echo "- name: $ctx"
      echo "  cluster:"
      echo "    server: https://localhost:$port$path"
      echo "    certificate-authority: $RUN_DIR/ca.pem"
    done
    echo "users:"
    for c in "${CONTEXTS[@]}"; do
      IFS=: read -r ctx user _ <<<"$c"
      echo "- name: $ctx"
      echo "  user:"
      echo "    tokenFile: $RUN_DIR/tokens/$user.token"
    done
    echo "contexts:"
    for c in "${CONTEXTS[@]}"; do
      IFS=: read -r ctx _ _ <<<"$c"
      echo "- name: $ctx"
      echo "  context: { cluster: $ctx, user: $ctx, namespace: default }"
    done
    echo "current-context: admin"
  } >"$RUN_DIR/kubeconfig"
}

up() {
  local engine rc=0
  engine="$(docker/engine.sh start)" || rc=$?
  say "$engine"
  [ "$rc" = 0 ] || exit "$rc"
  [ "${SKIP_IMAGES:-}" = 1 ] || scripts/images.sh
  export PORT="${PORT:-$(free_port)}"
  mkdir -p "$RUN_DIR"
  printf 'COMPOSE_PROJECT_NAME=%s\nIMAGE_TAG=%s\nPORT=%s\n' \
    "$COMPOSE_PROJECT_NAME" "$IMAGE_TAG" "$PORT" >"$STATE"

  say "docker-compose up (project $COMPOSE_PROJECT_NAME, images :$IMAGE_TAG, port 127.0.0.1:$PORT)"
  if ! compose up -d --no-build >"$RUN_DIR/up.log" 2>&1; then
    cat "$RUN_DIR/up.log" >&2
    compose logs --tail 30 >&2 || true
    exit 1
  fi

  # The host's copies of what kubectl needs, from the sandbox volume (via the Envoy container,
  # which mounts it).
  local envoy
  envoy="$(compose ps -q envoy)"
  rm -rf "$RUN_DIR/tokens" "$RUN_DIR/ca.pem"
  docker cp "$envoy:/sandbox/certs/front/ca.pem" "$RUN_DIR/ca.pem"
  mkdir -p "$RUN_DIR/tokens"
  local c user
  for c in "${CONTEXTS[@]}"; do
    IFS=: read -r _ user _ <<<"$c"
    docker cp "$envoy:/sandbox/milo/$user.token" "$RUN_DIR/tokens/$user.token"
  done
  write_kubeconfig "$PORT"

  say "waiting for Envoy on https://localhost:$PORT"
  for _ in $(seq 1 120); do
    if kube --context admin get --raw /version >/dev/null 2>&1; then
      say "up: export KUBECONFIG=$RUN_DIR/kubeconfig (contexts admin, org, project, user, intruder)"
      return
    fi
    sleep 0.5
  done
  say "Envoy did not answer within 60s:"
  compose ps >&2 || true
  compose logs --tail 30 >&2 || true
  exit 1
}

fail() { say "FAIL: $*"; exit 1; }
ok() { say "ok: $*"; }

# contains HAYSTACK NEEDLE
contains() { grep -qxF -- "$2" <<<"$1"; }

verify() {
  [ -f "$RUN_DIR/kubeconfig" ] || fail "no $RUN_DIR/kubeconfig; run scripts/compose.sh up first"
  local manifest="$ROOT/testdata/test-event.yaml" project_manifest="$RUN_DIR/project-event.yaml"
  local watch_manifest="$RUN_DIR/watch-event.yaml" out
  sed 's/name: test-event/name: project-event/' "$manifest" >"$project_manifest"
  sed 's/name: test-event/name: watch-event/' "$manifest" >"$watch_manifest"
  # Idempotent: a second verify starts from the same state.
  kube --context org delete -f "$manifest" --ignore-not-found >/dev/null
  kube --context org delete -f "$watch_manifest" --ignore-not-found >/dev/null
  kube --context project delete -f "$project_manifest" --ignore-not-found >/dev/null

  out="$(kube --context org create -f "$manifest")"
  [ "$out" = "event/test-event created" ] || fail "create: $out"
  ok "org: create -f testdata/test-event.yaml"

  out="$(kube --context org get event test-event -o jsonpath='{.reason}/{.message}')"
  [ "$out" = "Testing/This is a test event" ] || fail "get: $out"
  ok "org: get event test-event"

  out="$(kube --context org get events -o name)"
  contains "$out" event/test-event || fail "list: $out"
  out="$(kube --context org get events -o name --field-selector reason=Testing,involvedObject.name=test-pod)"
  contains "$out" event/test-event || fail "list with field selector: $out"
  out="$(kube --context org get events -o name --field-selector reason!=Testing)"
  [ -z "$out" ] || fail "list with reason!=Testing: $out"
  out="$(kube --context org get events -o name --field-selector involvedObject.name=other-pod)"
  [ -z "$out" ] || fail "list with involvedObject.name=other-pod: $out"
  ok "org: list, with field selectors that match and that do not"

  out="$(kube --context project create -f "$project_manifest")"
  [ "$out" = "event/project-event created" ] || fail "project create: $out"
  out="$(kube --context org get events -A -o name)"
  contains "$out" event/test-event || fail "org list -A: $out"
  ! contains "$out" event/project-event || fail "the org context sees the project's event: $out"
  out="$(kube --context project get events -A -o name)"
  [ "$out" = event/project-event ] || fail "the project context sees: $out"
  if kube --context project get event test-event >/dev/null 2>&1; then
    fail "the project context can get the org's event"
  fi
  out="$(kube --context admin get events -A -o name)"
  contains "$out" event/test-event && contains "$out" event/project-event \
    || fail "admin does not see both events: $out"
  ok "tenancy: org and project see only their own events, admin sees both"

  if out="$(kube --context intruder get events -o name 2>&1)"; then
    fail "eve, without rights in web-app, lists its events: $out"
  fi
  grep -q Forbidden <<<"$out" || fail "intruder: expected Forbidden, got: $out"
  ok "intruder: a user without rights in the project is refused (Forbidden)"

  # The watch prints the current list first; once test-event is there the watch is open, and
  # an event created afterwards must arrive on it.
  local watch_out="$RUN_DIR/watch.out" watch_pid seen=0
  kube --context org get events -o name --watch --request-timeout=60s >"$watch_out" 2>&1 &
  watch_pid=$!
  for _ in $(seq 1 100); do grep -qxF event/test-event "$watch_out" && break; sleep 0.2; done
  grep -qxF event/test-event "$watch_out" || { kill "$watch_pid" 2>/dev/null; fail "watch: $(cat "$watch_out")"; }
  kube --context org create -f "$watch_manifest" >/dev/null
  for _ in $(seq 1 100); do
    if grep -qxF event/watch-event "$watch_out"; then seen=1; break; fi
    sleep 0.2
  done
  kill "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  [ "$seen" = 1 ] || fail "the watch did not see watch-event: $(cat "$watch_out")"
  ok "org: a watch sees an event created while it runs"
  say "verify passed"
}

down() {
  say "docker-compose down -v (project $COMPOSE_PROJECT_NAME)"
  mkdir -p "$RUN_DIR"
  compose down -v --remove-orphans --timeout 5 >"$RUN_DIR/down.log" 2>&1 || {
    cat "$RUN_DIR/down.log" >&2; exit 1; }
  rm -f "$STATE"
  if [ "${1:-}" = --images ]; then
    scripts/images.sh --remove
  fi
}

run() {
  export PORT="${PORT:-6443}"
  up
  local sleeper=""
  trap 'trap - INT TERM; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; down; exit 0' INT TERM
  cat >&2 <<USAGE

  The events proxy is running in Docker (project $COMPOSE_PROJECT_NAME).

    export KUBECONFIG=$RUN_DIR/kubeconfig
    $KUBECTL --context org create -f testdata/test-event.yaml
    $KUBECTL --context org get events -n default
    $KUBECTL --context project get events -A        # sees only its own project
    $KUBECTL --context admin get events -A -w       # the platform admin sees everything
    $KUBECTL --context intruder get events          # 403: Milo does not allow eve in web-app

  Contexts: admin (platform admin at Milo's root), org (alice, organization acme's control
  plane), project (bob, project web-app's control plane), user (alice's user control plane),
  intruder (eve at web-app's control plane: no rights there, gets 403)
  Logs: $ROOT/.tools/bin/docker-compose -p $COMPOSE_PROJECT_NAME logs -f
  Ctrl-C stops and removes the containers, network and volume.

USAGE
  while true; do sleep 3600 & sleeper=$!; wait "$sleeper" || true; done
}

case "${1:-}" in
  up) up ;;
  verify) verify ;;
  down) shift; down "$@" ;;
  run) run ;;
  logs) shift; compose logs "$@" ;;
  *) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
