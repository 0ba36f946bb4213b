#!/usr/bin/env bash
# `make up`: serve the control plane on 127.0.0.1:3000 (Spin's default).
#
# Uses a private PostgreSQL cluster, the Kubernetes API stand-in, the LiteLLM
# stand-in and a local OCI registry (Debian's docker-registry) unless
#   DATABASE_URL=postgres://...   (the control plane's database),
#   KUBE_URL=https://... [KUBE_TOKEN=...] [KUBE_NAMESPACE=...] or
#   OCI_REGISTRY_URL=https://...  (where the skills backfill pushes) or
#   LITELLM_URL=https://... LITELLM_MASTER_KEY=sk-... (LiteLLM's admin API,
#                                 tenants' virtual keys)
# point at real ones. The master key of secrets encrypted at rest is
# SPIN_VARIABLE_SECRETS_KEY, else one generated once into .local/secrets_key
# (kept, so values stored by an earlier run still open). The key of user
# session JWTs is SPIN_VARIABLE_JWT_SECRET, else one generated once into
# .local/jwt_secret (kept, so sessions survive a restart). The operator token is SPIN_VARIABLE_API_TOKEN (one is
# generated and printed if unset). Federated login uses the identity provider
# SPIN_VARIABLE_OIDC_ISSUER (with _CLIENT_ID, _CLIENT_SECRET, _REDIRECT_URI and
# _ALLOWED_HOST) or, when that is unset, a local test provider
# (scripts/oidc.sh: oidc-provider on Node, anyone signs in as any email).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/toolchain.sh
make --no-print-directory components host

if [ -z "${DATABASE_URL:-}" ]; then
  admin=$(scripts/pg.sh start)
  DATABASE_URL=${admin%/*}/controlplane
  target/release/cp-migrate --database-url "$admin" --create-database controlplane
else
  target/release/cp-migrate --database-url "$DATABASE_URL"
fi
db_host=${DATABASE_URL#*://}; db_host=${db_host#*@}; db_host=${db_host%%/*}; db_host=${db_host%%\?*}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

if [ -z "${KUBE_URL:-}" ]; then
  KUBE_URL=http://127.0.0.1:6443
  KUBE_TOKEN=${KUBE_TOKEN:-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  target/release/cp-kube-standin --listen 127.0.0.1:6443 --token "$KUBE_TOKEN" 2>.kube-standin.log &
  pids+=($!)
  echo "Kubernetes API stand-in on $KUBE_URL (log: .kube-standin.log)"
fi

if [ -z "${LITELLM_URL:-}" ]; then
  LITELLM_URL=http://127.0.0.1:4000
  LITELLM_MASTER_KEY=${LITELLM_MASTER_KEY:-sk-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
  mkdir -p .local
  target/release/cp-litellm-standin --listen 127.0.0.1:4000 --master-key "$LITELLM_MASTER_KEY" \
    >/dev/null 2>.local/litellm-standin.log &
  pids+=($!)
  echo "LiteLLM stand-in on $LITELLM_URL, master key $LITELLM_MASTER_KEY (log: .local/litellm-standin.log)"
fi
# The gateway component's allow-list admits LiteLLM's origin only.
litellm_scheme=${LITELLM_URL%%://*}; litellm_rest=${LITELLM_URL#*://}; litellm_origin=$litellm_scheme://${litellm_rest%%/*}

if [ -z "${OCI_REGISTRY_URL:-}" ]; then
  OCI_REGISTRY_URL=$(scripts/registry.sh start)
  echo "OCI registry on $OCI_REGISTRY_URL"
fi

if [ -z "${SPIN_VARIABLE_SECRETS_KEY:-}" ]; then
  mkdir -p .local
  if [ ! -s .local/secrets_key ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > .local/secrets_key)
  fi
  SPIN_VARIABLE_SECRETS_KEY=$(cat .local/secrets_key)
fi

if [ -z "${SPIN_VARIABLE_JWT_SECRET:-}" ]; then
  mkdir -p .local
  if [ ! -s .local/jwt_secret ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 > .local/jwt_secret)
  fi
  SPIN_VARIABLE_JWT_SECRET=$(cat .local/jwt_secret)
fi

if [ -z "${SPIN_VARIABLE_OIDC_ISSUER:-}" ]; then
  if issuer=$(scripts/oidc.sh start); then
    listen=${LISTEN:-127.0.0.1:3000}
    export SPIN_VARIABLE_OIDC_ISSUER=$issuer
    export SPIN_VARIABLE_OIDC_ALLOWED_HOST=$issuer
    export SPIN_VARIABLE_OIDC_CLIENT_ID=control-plane
    export SPIN_VARIABLE_OIDC_CLIENT_SECRET=control-plane-secret
    export SPIN_VARIABLE_OIDC_REDIRECT_URI=http://127.0.0.1:${listen##*:}/api/v1/auth/callback
    export SPIN_VARIABLE_OIDC_EXTRA_AUDIENCES=${SPIN_VARIABLE_OIDC_EXTRA_AUDIENCES:-cp-cli}
    echo "Test identity provider on $issuer (any email signs in; scripts/oidc.sh stop)"
  else
    echo "No identity provider (scripts/oidc.sh failed): OIDC and device login answer 503" >&2
  fi
fi

if [ -z "${SPIN_VARIABLE_API_TOKEN:-}" ]; then
  SPIN_VARIABLE_API_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "Operator token (SPIN_VARIABLE_API_TOKEN): $SPIN_VARIABLE_API_TOKEN"
fi

export SPIN_VARIABLE_API_TOKEN
export SPIN_VARIABLE_DB_URL=$DATABASE_URL
export SPIN_VARIABLE_DB_HOST=$db_host
export SPIN_VARIABLE_KUBE_URL=$KUBE_URL
export SPIN_VARIABLE_KUBE_TOKEN=${KUBE_TOKEN:-}
export SPIN_VARIABLE_KUBE_NAMESPACE=${KUBE_NAMESPACE:-opencrane}
export SPIN_VARIABLE_OCI_REGISTRY_URL=$OCI_REGISTRY_URL
export SPIN_VARIABLE_LITELLM_URL=$LITELLM_URL
export SPIN_VARIABLE_LITELLM_MASTER_KEY=${LITELLM_MASTER_KEY:-}
export SPIN_VARIABLE_LITELLM_ALLOWED_HOST=$litellm_origin
export SPIN_VARIABLE_SECRETS_KEY
export SPIN_VARIABLE_JWT_SECRET
# Chains registered locally point at a local node (anvil's default port).
export SPIN_VARIABLE_CHAIN_RPC_ALLOWED_HOST=${SPIN_VARIABLE_CHAIN_RPC_ALLOWED_HOST:-http://127.0.0.1:8545}

target/release/cp-host serve --manifest spin.toml --listen "${LISTEN:-127.0.0.1:3000}" &
pids+=($!)
wait "${pids[-1]}"
