#!/usr/bin/env bash
# Installs the spec fuzzer (schemathesis, pinned in tests/fuzz/requirements.txt)
# into the project-local virtual environment .local/venv.
#
# Idempotent: the venv is (re)installed only when requirements.txt changed
# since the last successful install (a stamp file holds its hash), or when
# the venv is missing or broken. Prints the schemathesis binary's path.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=$ROOT/.local/venv
REQ=$ROOT/tests/fuzz/requirements.txt
STAMP=$VENV/.requirements.sha256
PYTHON=${PYTHON:-python3}

want=$(sha256sum "$REQ" | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$VENV/bin/schemathesis" --version >/dev/null 2>&1; then
  echo "$VENV/bin/schemathesis"
  exit 0
fi

if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "fuzz-setup: installing python3-venv with apt" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
  else
    echo "fuzz-setup: $PYTHON has no venv/ensurepip module; install python3-venv" >&2
    exit 1
  fi
fi

echo "fuzz-setup: installing $(grep -v '^#' "$REQ" | tr '\n' ' ')into $VENV" >&2
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ" >&2
"$VENV/bin/schemathesis" --version >&2
echo "$want" > "$STAMP"
echo "$VENV/bin/schemathesis"
