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
READY_PATH=/.well-known/openid-configuration
WHAT="the identity provider"
# shellcheck source=lib/service.sh
. "$ROOT/scripts/lib/service.sh"

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

start() {
  if serving; then
    url; return 0
  fi
  ensure_installed
  launch env CP_OIDC_PORT="$PORT" node "$DIR/provider.mjs"
}

service_main "$@"
