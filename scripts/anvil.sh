#!/usr/bin/env bash
# A real Ethereum node on loopback: Anvil, from the npm package
# `@foundry-rs/anvil` (pinned by tests/anvil/package-lock.json; the Linux
# binary comes in its optional dependency `@foundry-rs/anvil-linux-amd64`),
# for the intents tests and `make up`. A development chain (chain id 31337,
# funded well-known accounts): never a production node.
#
#   scripts/anvil.sh start   # idempotent: install (npm ci, once) and start; prints the RPC URL
#   scripts/anvil.sh stop
#   scripts/anvil.sh url
#
# node_modules go to .local/anvil (ignored); pid and log live there too.
# Port: CP_ANVIL_PORT (default 55545). Needs npm.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PORT=${CP_ANVIL_PORT:-55545}
DIR=$ROOT/.local/anvil
PIDFILE=$DIR/anvil-$PORT.pid
LOG=$DIR/anvil-$PORT.log
WHAT="the Ethereum node"
# shellcheck source=lib/service.sh
. "$ROOT/scripts/lib/service.sh"

# Anvil answers JSON-RPC only (a GET is a 400): ready once eth_chainId
# answers 200.
ready() {
  local line body='{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
  { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null || return 1
  printf 'POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "${#body}" "$body" >&3
  IFS= read -r -t 2 line <&3 || line=
  exec 3<&- 3>&-
  [[ $line == HTTP/1.[01]\ 200* ]]
}

BIN=$DIR/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil

ensure_installed() {
  command -v npm >/dev/null || { echo "anvil.sh: npm is not installed" >&2; exit 1; }
  mkdir -p "$DIR"
  # Reinstall when the lock file changed (a version bump).
  if [ ! -x "$BIN" ] || ! cmp -s "$ROOT/tests/anvil/package-lock.json" "$DIR/package-lock.json"; then
    echo "anvil.sh: installing @foundry-rs/anvil with npm ci" >&2
    cp "$ROOT/tests/anvil/package.json" "$ROOT/tests/anvil/package-lock.json" "$DIR/"
    (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
}

start() {
  if serving; then
    url; return 0
  fi
  ensure_installed
  launch "$BIN" --host 127.0.0.1 --port "$PORT" --silent
}

service_main "$@"
