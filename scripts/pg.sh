#!/usr/bin/env bash
# A private PostgreSQL cluster for `make up` and `make test`, started from the
# system's PostgreSQL binaries (installed with apt when missing).
#
#   scripts/pg.sh start   # idempotent: init (once) and start; prints the admin URL
#   scripts/pg.sh stop
#   scripts/pg.sh url
#
# initdb/postgres refuse to run as root, so as root the cluster runs as the
# `postgres` user. The data lives outside the repo (a clone may sit in a folder
# that user cannot traverse), keyed by the repo path so clones do not collide.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${CP_PG_PORT:-55432}
KEY=$(printf '%s' "$ROOT" | sha1sum | cut -c1-8)
PGROOT=${CP_PG_ROOT:-/tmp/cp-pg-$KEY-$PORT}
DATA=$PGROOT/data
LOG=$PGROOT/postgres.log

url() { echo "postgres://postgres@127.0.0.1:$PORT/postgres"; }

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

ensure_installed() {
  if ! pg_bin >/dev/null; then
    echo "pg.sh: installing PostgreSQL with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  fi
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  ensure_installed
  local bin; bin=$(pg_bin)
  mkdir -p "$PGROOT"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGROOT"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    url; return 0
  fi
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGROOT -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || { cat "$LOG" >&2; exit 1; }
  url
}

stop() {
  local bin; bin=$(pg_bin) || return 0
  [ -f "$DATA/PG_VERSION" ] || return 0
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
