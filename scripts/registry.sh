#!/usr/bin/env bash
# A private OCI registry (CNCF distribution, Debian's `docker-registry`
# package, installed with apt when missing) for the skills backfill tests.
#
#   scripts/registry.sh start   # idempotent: configure (once) and start; prints the base URL
#   scripts/registry.sh stop
#   scripts/registry.sh url
#
# Config, data, log and pid live under /tmp, keyed by the repo path and port so
# clones do not collide. No authentication, plain HTTP on 127.0.0.1 only.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${CP_REGISTRY_PORT:-55000}
KEY=$(printf '%s' "$ROOT" | sha1sum | cut -c1-8)
REGROOT=${CP_REGISTRY_ROOT:-/tmp/cp-registry-$KEY-$PORT}
CONFIG=$REGROOT/config.yml
PIDFILE=$REGROOT/registry.pid
LOG=$REGROOT/registry.log
BIN=/usr/bin/docker-registry

url() { echo "http://127.0.0.1:$PORT"; }

ensure_installed() {
  if [ ! -x "$BIN" ]; then
    echo "registry.sh: installing docker-registry with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq docker-registry >&2
  fi
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# `GET /v2/` answers 200 (bash's /dev/tcp: no curl needed).
ready() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 2 line <&3 || line=
  exec 3<&- 3>&-
  [[ $line == HTTP/1.[01]\ 200* ]]
}

start() {
  ensure_installed
  mkdir -p "$REGROOT/data"
  if running && ready; then
    url; return 0
  fi
  cat >"$CONFIG" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGROOT/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
EOF
  # setsid: the registry outlives this script (and the shell that ran it).
  setsid "$BIN" serve "$CONFIG" >"$LOG" 2>&1 < /dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    if ready; then url; return 0; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "registry.sh: the registry did not start; its log:" >&2
  cat "$LOG" >&2
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
