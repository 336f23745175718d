#!/usr/bin/env bash
# Builds the Vault test peer's image from the Vault binary that scripts/peers/install-vault.sh
# built from its Go module (no image registry is reachable here): a root filesystem with only the
# static `vault` binary and a world-writable /tmp, imported with `docker import` and tagged
#   agent-secret-store/vault-peer:<version>      (the version `vault version` reports)
# test/helpers/vault-peer.ts runs it through testcontainers in dev mode. It talks to the engine in
# DOCKER_HOST. Idempotent: does nothing when the tag exists for the same binary (sha256 label).
# Prints the tag on stdout.
set -euo pipefail

CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
BIN="${ASS_VAULT_BIN:-$CACHE_ROOT/vault/bin/vault}"
log() { printf '[build-vault-image] %s\n' "$*" >&2; }

[ -x "$BIN" ] || { log "no Vault binary at $BIN: run scripts/peers/install-vault.sh"; exit 1; }
if ldd "$BIN" >/dev/null 2>&1; then log "$BIN is not static; the image holds no libraries"; exit 1; fi
VERSION="$("$BIN" version | grep -o 'v[0-9][0-9.]*' | head -1)"
TAG="agent-secret-store/vault-peer:${VERSION#v}"
SUM="$(sha256sum "$BIN" | cut -d' ' -f1)"

if [ "$(docker image inspect -f '{{ index .Config.Labels "org.agent-secret-store.vault-sha256" }}' "$TAG" 2>/dev/null || true)" = "$SUM" ]; then
  log "$TAG already built"
  echo "$TAG"
  exit 0
fi

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/ass-vault-rootfs-XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT/bin" "$ROOT/tmp" "$ROOT/etc"
chmod 1777 "$ROOT/tmp"
ln "$BIN" "$ROOT/bin/vault" 2>/dev/null || cp "$BIN" "$ROOT/bin/vault"
echo 'vault:x:100:1000::/tmp:/bin/vault' > "$ROOT/etc/passwd"
log "importing $TAG"
tar -C "$ROOT" -c . | docker import \
  -c 'ENV HOME=/tmp' -c 'USER 100' -c 'ENTRYPOINT ["/bin/vault"]' -c 'CMD ["server", "-dev"]' \
  -c "LABEL org.agent-secret-store.vault-sha256=\"$SUM\"" \
  - "$TAG" >/dev/null
echo "$TAG"
