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
READY_PATH=/v2/
WHAT="the registry"
# shellcheck source=lib/service.sh
. "$ROOT/scripts/lib/service.sh"

ensure_installed() {
  if [ ! -x "$BIN" ]; then
    echo "registry.sh: installing docker-registry with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq docker-registry >&2
  fi
}

start() {
  ensure_installed
  mkdir -p "$REGROOT/data"
  if serving; then
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
  launch "$BIN" serve "$CONFIG"
}

service_main "$@"
