#!/usr/bin/env bash
# A real AWS KMS implementation on loopback: moto's server (the PyPI package
# `moto[server]`, pinned below), for the vault's KMS client tests
# (shared/vault/tests/kms.rs, which read CP_KMS_URL). Any credentials are
# accepted and keys live in memory only: a test service, never a production
# one.
#
#   scripts/kms.sh start   # idempotent: install (once, into a venv) and start; prints the base URL
#   scripts/kms.sh stop
#   scripts/kms.sh url
#
# The venv goes to .local/kms (ignored); pid and log live there too.
# Port: CP_KMS_PORT (default 55100). Needs python3 with venv/ensurepip.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${CP_KMS_PORT:-55100}
DIR=$ROOT/.local/kms
VENV=$DIR/venv
PIDFILE=$DIR/moto-$PORT.pid
LOG=$DIR/moto-$PORT.log
PYTHON=${PYTHON:-python3}
# Bump deliberately: the stamp below reinstalls the venv when this changes.
REQUIREMENT='moto[server]==5.2.5'
STAMP=$VENV/.requirement

url() { echo "http://127.0.0.1:$PORT"; }

ensure_installed() {
  mkdir -p "$DIR"
  if [ -x "$VENV/bin/moto_server" ] && [ -f "$STAMP" ] \
     && [ "$(cat "$STAMP")" = "$REQUIREMENT" ]; then
    return 0
  fi
  "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || { echo "kms.sh: $PYTHON has no venv/ensurepip module; install python3-venv" >&2; exit 1; }
  echo "kms.sh: installing $REQUIREMENT into $VENV" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$REQUIREMENT" >&2
  echo "$REQUIREMENT" >"$STAMP"
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# moto answers `GET /moto-api/` with 200 once it serves (bash's /dev/tcp: no
# curl needed).
ready() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 2 line <&3 || line=
  exec 3<&- 3>&-
  [[ $line == HTTP/1.[01]\ 200* ]]
}

start() {
  if running && ready; then
    url; return 0
  fi
  ensure_installed
  # setsid: the server outlives this script (and the shell that ran it).
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 150); do
    if ready; then url; return 0; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "kms.sh: the KMS server did not start; its log:" >&2
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
