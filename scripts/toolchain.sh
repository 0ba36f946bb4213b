#!/usr/bin/env bash
# Makes sure the Rust pieces the build needs are installed (idempotent):
# the wasm32-wasip2 target for the components, rustfmt and clippy for CI.
set -euo pipefail
installed=$(rustup target list --installed)
grep -qx wasm32-wasip2 <<<"$installed" || rustup target add wasm32-wasip2
components=$(rustup component list --installed)
grep -q '^rustfmt' <<<"$components" || rustup component add rustfmt
grep -q '^clippy' <<<"$components" || rustup component add clippy
