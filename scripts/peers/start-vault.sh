#!/usr/bin/env bash
# Starts the Vault dev server built by install-vault.sh on 127.0.0.1 (random free port, random
# root token), waits for /v1/sys/health, and prints `export VAULT_ADDR=...` and
# `export VAULT_TOKEN=...` for `eval "$(bash scripts/peers/start-vault.sh)"`, so the vault CLI and
# agent-secret-store started from that shell see them (plain assignments would not be exported).
# Stop it with `kill "$VAULT_PEER_PID"` (also printed). Test suites use
# test/helpers/vault-peer.ts instead, which starts and stops its own server.
set -euo pipefail

CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
BIN="${ASS_VAULT_BIN:-$CACHE_ROOT/vault/bin/vault}"
[[ -x "$BIN" ]] || { echo "[start-vault] $BIN not found: run scripts/peers/install-vault.sh" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
token="root-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
run_dir=$(mktemp -d)
# The token goes through the environment, not argv; HOME is a temp dir so no ~/.vault-token.
HOME="$run_dir" VAULT_DEV_ROOT_TOKEN_ID="$token" VAULT_DEV_LISTEN_ADDRESS="127.0.0.1:$port" VAULT_DISABLE_MLOCK=true \
  nohup "$BIN" server -dev >"$run_dir/vault.log" 2>&1 &
pid=$!

for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/v1/sys/health" >/dev/null 2>&1; then
    echo "export VAULT_ADDR=http://127.0.0.1:$port"
    echo "export VAULT_TOKEN=$token"
    echo "export VAULT_PEER_PID=$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
echo "[start-vault] Vault did not become healthy; log: $run_dir/vault.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
