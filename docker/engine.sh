#!/usr/bin/env bash
# Make a Docker engine reachable, or say in one line why it cannot be. Idempotent.
#
#   docker/engine.sh start   engine reachable -> use it; else install the Debian package
#                            docker.io if dockerd is missing (root only), start dockerd and wait
#                            for it. Prints one line: "engine: running (...)" or
#                            "engine: started pid N (...)"; exits 3 with
#                            "engine: unavailable: REASON" when no engine can run here.
#   docker/engine.sh stop    stop the dockerd this script started (its pid file), nothing else.
#
# dockerd started here logs to .tools/docker/dockerd.log; there is no systemd to supervise it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.tools/docker"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
SOCKET="${DOCKER_SOCKET:-/var/run/docker.sock}"
say() { printf '[engine] %s\n' "$*" >&2; }
unavailable() { echo "engine: unavailable: $*"; exit 3; }

reachable() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
version() { docker version -f 'server {{.Server.Version}}, client {{.Client.Version}}' 2>/dev/null || true; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else return 1; fi
}

start() {
  if reachable; then
    echo "engine: running ($(version))"
    return
  fi
  if [ -n "${DOCKER_HOST:-}" ]; then
    unavailable "DOCKER_HOST=$DOCKER_HOST does not answer"
  fi
  if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || unavailable "no engine reachable, and installing docker.io needs root"
    say "installing the Debian package docker.io"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y -qq --no-install-recommends docker.io >"$ROOT/.tools/docker-apt.log" 2>&1; then
      as_root apt-get update -qq >>"$ROOT/.tools/docker-apt.log" 2>&1 || true
      as_root apt-get install -y -qq --no-install-recommends docker.io >>"$ROOT/.tools/docker-apt.log" 2>&1 \
        || unavailable "apt-get install docker.io failed (see .tools/docker-apt.log)"
    fi
    # The package's maintainer scripts may have started an engine already.
    if reachable; then
      echo "engine: running ($(version))"
      return
    fi
  fi
  [ "$(id -u)" = 0 ] || unavailable "no engine reachable, and starting dockerd needs root"
  mkdir -p "$STATE"
  say "starting dockerd (log $LOG)"
  # setsid: the engine outlives this script and is not killed by a terminal's Ctrl-C.
  setsid dockerd --host "unix://$SOCKET" >"$LOG" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PIDFILE"
  for _ in $(seq 1 120); do
    if reachable; then
      echo "engine: started pid $pid ($(version))"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PIDFILE"
      unavailable "dockerd exited: $(grep -m1 -iE 'failed|error' "$LOG" | cut -c1-200 || tail -n1 "$LOG")"
    fi
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  unavailable "dockerd did not answer within 60s (see $LOG)"
}

stop() {
  [ -f "$PIDFILE" ] || { say "no dockerd started by this script"; return; }
  local pid
  pid="$(cat "$PIDFILE")"
  rm -f "$PIDFILE"
  if kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    say "stopping dockerd pid $pid"
    kill "$pid"
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.5
    done
    say "dockerd pid $pid did not stop within 30s"
    return 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
