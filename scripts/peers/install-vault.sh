#!/usr/bin/env bash
# Builds a real Vault-API server for the integration tests, without Docker.
#
# HashiCorp Vault v1.14.x (the last MPL-2.0 release line) is built from its Go module, fetched
# through the Go module proxy. Its go.mod replaces the nested modules (api, sdk, api/auth/*) with
# in-tree directories that the module zip does not contain, so `go install mod@ver` refuses it:
# we download the module source, copy it to a writable build directory, fetch each nested module
# at the version the top-level go.mod requires, drop them in where the replace directives point,
# and `go build` without the UI.
#
# The binary is cached OUTSIDE the repository:
#   ${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}/vault/bin/vault
# Idempotent: exits early when the cached binary exists and answers `version`.
#
# Env: ASS_PEERS_CACHE (cache root), ASS_VAULT_VERSION (default v1.14.2, see below),
#      ASS_VAULT_SDK_VERSION (the sdk tag standing in for the in-tree ./sdk).
#
# Why v1.14.2: only tagged nested modules can be fetched through the proxy, not the exact in-tree
# copies. From v1.14.3 on, the release branch's in-tree sdk carries backports that no sdk tag has
# (logical.CtxKeyRequestRole, logical.ContextOriginalBodyValue, physical.FencingHABackend), and
# v1.14.10 requires sdk v0.10.2, whose logical.EventSender renamed Send to SendEvent; neither
# compiles. v1.14.2's in-tree sdk is the published sdk v0.9.2. It is a loopback test peer only.
set -euo pipefail

VAULT_VERSION="${ASS_VAULT_VERSION:-v1.14.2}"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VAULT_DIR="$CACHE_ROOT/vault"
BIN="$VAULT_DIR/bin/vault"
BUILD_DIR="$VAULT_DIR/build-$VAULT_VERSION"

log() { printf '[install-vault] %s\n' "$*" >&2; }

if [[ -x "$BIN" ]] && "$BIN" version >/dev/null 2>&1; then
  log "already installed: $("$BIN" version)"
  exit 0
fi

command -v go >/dev/null 2>&1 || { log "Go toolchain not found (need Go >= 1.20 on PATH)"; exit 1; }

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=mod -buildvcs=false"

start=$(date +%s)
mkdir -p "$VAULT_DIR/bin"

log "downloading github.com/hashicorp/vault@$VAULT_VERSION from the Go module proxy"
src_dir=$(go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[[ -n "$src_dir" && -d "$src_dir" ]] || { log "module download failed"; exit 1; }

rm -rf "$BUILD_DIR"
mkdir -p "$BUILD_DIR"
cp -R "$src_dir/." "$BUILD_DIR/"
chmod -R u+w "$BUILD_DIR"
cd "$BUILD_DIR"

# Each `replace github.com/hashicorp/vault/<sub> => ./<sub>` needs the nested module's source.
# Use the version the top-level go.mod requires for it, except where the release branch's
# in-tree copy differs from that tag: v1.14.x's go.mod requires sdk v0.10.2 (from main), but its
# in-tree sdk is the v0.9.x line (v0.10.x renamed logical.EventSender.Send to SendEvent, and
# vault/eventbus fails to compile against it).
SDK_VERSION="${ASS_VAULT_SDK_VERSION:-}"
if [[ -z "$SDK_VERSION" && "$VAULT_VERSION" == v1.14.* ]]; then SDK_VERSION=v0.9.2; fi
grep -E '^replace github.com/hashicorp/vault/[^ ]+ => \./' go.mod | while read -r _ mod _ rel; do
  ver=$(awk -v m="$mod" '$1 == m && $2 ~ /^v/ { print $2; exit }' go.mod)
  if [[ "$mod" == github.com/hashicorp/vault/sdk && -n "$SDK_VERSION" ]]; then ver="$SDK_VERSION"; fi
  [[ -n "$ver" ]] || { log "no required version for $mod"; exit 1; }
  log "fetching nested module $mod@$ver"
  sub_dir=$(go mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n "$sub_dir" && -d "$sub_dir" ]] || { log "download of $mod@$ver failed"; exit 1; }
  mkdir -p "$rel"
  cp -R "$sub_dir/." "$rel/"
  chmod -R u+w "$rel"
done

log "building (no UI, trimmed, stripped); this takes a while on 2 cores"
# -checklinkname=0: a few of Vault 1.14's older dependencies use go:linkname into the runtime,
# which Go >= 1.23 refuses by default.
ldflags="-s -w"
if go tool link -help 2>&1 | grep -q checklinkname; then ldflags="$ldflags -checklinkname=0"; fi
nice -n 10 go build -p 2 -ldflags "$ldflags" -o "$BIN.tmp" .
mv "$BIN.tmp" "$BIN"

"$BIN" version
end=$(date +%s)
size=$(du -h "$BIN" | cut -f1)
log "built in $((end - start)) s, binary size $size"
# The build directory is large; the binary is all the tests need.
cd "$VAULT_DIR" && rm -rf "$BUILD_DIR"
