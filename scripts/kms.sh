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
READY_PATH=/moto-api/
WHAT="the KMS server"
START_TRIES=150
# shellcheck source=lib/service.sh
. "$ROOT/scripts/lib/service.sh"

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

start() {
  if serving; then
    url; return 0
  fi
  ensure_installed
  launch "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT"
}

service_main "$@"
