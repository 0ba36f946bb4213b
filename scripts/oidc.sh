#!/usr/bin/env bash
# A real OpenID Connect provider (the npm package `oidc-provider`, pinned by
# tests/oidc/package-lock.json, config tests/oidc/provider.mjs) on loopback,
# for the federated-login tests and `make up`. Anyone may sign in as any
# email: a test provider, never a production one.
#
#   scripts/oidc.sh start   # idempotent: install (npm ci, once) and start; prints the issuer URL
#   scripts/oidc.sh stop
#   scripts/oidc.sh url
#
# node_modules go to .local/oidc (ignored); pid and log live there too.
# Port: CP_OIDC_PORT (default 55090). Needs node >= 20 and npm.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${CP_OIDC_PORT:-55090}
DIR=$ROOT/.local/oidc
PIDFILE=$DIR/provider-$PORT.pid
LOG=$DIR/provider-$PORT.log

url() { echo "http://127.0.0.1:$PORT"; }

ensure_installed() {
  command -v node >/dev/null || { echo "oidc.sh: node is not installed" >&2; exit 1; }
  mkdir -p "$DIR"
  # Reinstall when the lock file changed (a version bump).
  if [ ! -d "$DIR/node_modules/oidc-provider" ] \
     || ! cmp -s "$ROOT/tests/oidc/package-lock.json" "$DIR/package-lock.json"; then
    echo "oidc.sh: installing oidc-provider with npm ci" >&2
    cp "$ROOT/tests/oidc/package.json" "$ROOT/tests/oidc/package-lock.json" "$DIR/"
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  # Next to its node_modules, so `import 'oidc-provider'` resolves.
  cp "$ROOT/tests/oidc/provider.mjs" "$DIR/provider.mjs"
}

running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

# The discovery document answers 200 (bash's /dev/tcp: no curl needed).
ready() {
  local line
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'GET /.well-known/openid-configuration HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 2 line <&3 || line=
  exec 3<&- 3>&-
  [[ $line == HTTP/1.[01]\ 200* ]]
}

start() {
  if running && ready; then
    url; return 0
  fi
  ensure_installed
  # setsid: the provider outlives this script (and the shell that ran it).
  CP_OIDC_PORT=$PORT setsid node "$DIR/provider.mjs" >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 100); do
    if ready; then url; return 0; fi
    if ! running; then break; fi
    sleep 0.1
  done
  echo "oidc.sh: the identity provider did not start; its log:" >&2
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
