#!/usr/bin/env bash
# A stand-in for the official `hashicorp/vault` image in compose files (no registry is reachable
# here): the Vault peer image (scripts/docker/build-vault-image.sh, the Go-built binary) plus a
# static busybox and an entrypoint that does what the official one documents:
#   VAULT_LOCAL_CONFIG   written to /vault/config/local.json
#   `server`             runs `vault server -config=/vault/config` with the -dev-* flags from
#                        VAULT_DEV_ROOT_TOKEN_ID / VAULT_DEV_LISTEN_ADDRESS and the other arguments
#   anything else        `vault <args>` (e.g. `server -dev`, the default command)
# /vault/file and /vault/config exist for volumes. It runs as root, so that with `cap_add: [IPC_LOCK]`
# Vault can lock its memory (the official image gives the binary that capability instead).
# Tagged agent-secret-store/vault-server:<version>; idempotent by label. Prints the tag on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
log() { printf '[build-vault-server-image] %s\n' "$*" >&2; }
PEER="$(bash "$HERE/build-vault-image.sh")"
TAG="agent-secret-store/vault-server:${PEER##*:}"
BUSYBOX="$(command -v busybox || echo /bin/busybox)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then log "$BUSYBOX is not static: install busybox-static (scripts/peers/install-docker.sh)"; exit 1; fi
LABEL="$(docker image inspect -f '{{.Id}}' "$PEER") entrypoint=1"
if [ "$(docker image inspect -f '{{ index .Config.Labels "org.agent-secret-store.vault-server" }}' "$TAG" 2>/dev/null || true)" = "$LABEL" ]; then
  log "$TAG already built"
  echo "$TAG"
  exit 0
fi
CTX="$(mktemp -d "${TMPDIR:-/tmp}/ass-vault-server-XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
cp "$BUSYBOX" "$CTX/busybox"
cat > "$CTX/docker-entrypoint.sh" <<'SCRIPT'
set -e
if [ -n "$VAULT_LOCAL_CONFIG" ]; then printf '%s\n' "$VAULT_LOCAL_CONFIG" > /vault/config/local.json; fi
if [ "$1" = server ]; then
  shift
  set -- server -config=/vault/config -dev-root-token-id="$VAULT_DEV_ROOT_TOKEN_ID" -dev-listen-address="${VAULT_DEV_LISTEN_ADDRESS:-0.0.0.0:8200}" "$@"
fi
exec /bin/vault "$@"
SCRIPT
cat > "$CTX/Dockerfile" <<DOCKERFILE
FROM $PEER
COPY busybox /bin/busybox
COPY docker-entrypoint.sh /docker-entrypoint.sh
USER 0
RUN ["/bin/busybox", "mkdir", "-p", "/vault/config", "/vault/file"]
ENV HOME=/tmp
ENTRYPOINT ["/bin/busybox", "sh", "/docker-entrypoint.sh"]
CMD ["server", "-dev"]
LABEL org.agent-secret-store.vault-server="$LABEL"
DOCKERFILE
log "building $TAG"
DOCKER_BUILDKIT=0 docker build -q -t "$TAG" "$CTX" >/dev/null
echo "$TAG"
