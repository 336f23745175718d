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
#      ASS_VAULT_SDK_VERSION (overrides the sdk version standing in for the in-tree ./sdk).
#
# Why v1.14.2 and one patch: only tagged or pseudo-versioned nested modules can be fetched
# through the proxy, not a release branch's in-tree ./sdk, and every 1.14.x in-tree sdk carries
# backports that no published sdk has. Tried here (Go 1.26):
# - v1.14.10 (requires sdk v0.10.2): vault/eventbus does not compile (EventSender.Send became
#   SendEvent). With sdk v0.9.2: logical.CtxKeyRequestRole, logical.ContextOriginalBodyValue,
#   physical.FencingHABackend undefined; v1.14.3+ use them too.
# - v1.14.1 (requires sdk v0.9.2-0.20230530190758-08ee474850e0): certutil.ParseBasicConstraintExtension
#   and keysutil.Policy.WrapKey undefined.
# - v1.14.2 with sdk v0.9.2 (what its go.mod requires) compiles, but the dev server panics at
#   start-up: "managed-keys/... defines a CreateOperation but no ExistenceCheck", a sanity check
#   sdk v0.9.2 gained on main after 1.14 branched (the paths are Enterprise-only stubs). We delete
#   that check from the copied sdk, which restores the 1.14 branch's behaviour.
# The result is a loopback test peer only; never run it in production.
set -euo pipefail

VAULT_VERSION="${ASS_VAULT_VERSION:-v1.14.2}"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VAULT_DIR="$CACHE_ROOT/vault"
BIN="$VAULT_DIR/bin/vault"
BUILD_DIR="$VAULT_DIR/build-$VAULT_VERSION"

log() { printf '[install-vault] %s\n' "$*" >&2; }

# One install at a time: two runs at once (two test runs) would delete each other's build
# directory. The lock is released when this script exits, however it exits.
mkdir -p "$VAULT_DIR"
exec 9>"$VAULT_DIR/.install.lock"
if ! flock -n 9; then
  log "another install is running (lock $VAULT_DIR/.install.lock); waiting for it"
  flock 9
fi

if [[ -x "$BIN" ]] && "$BIN" version 2>/dev/null | grep -qF "Vault $VAULT_VERSION"; then
  log "already installed: $("$BIN" version)"
  exit 0
fi

# Starts the dev server once (random port and token, HOME in a temp dir) and waits for health:
# a binary that builds but panics at start-up (see above) must not be cached.
smoke_test() {
  local bin=$1 dir port token pid ok=1
  dir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  token="smoke-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  HOME="$dir" VAULT_DEV_ROOT_TOKEN_ID="$token" VAULT_DEV_LISTEN_ADDRESS="127.0.0.1:$port" VAULT_DISABLE_MLOCK=true \
    "$bin" server -dev >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 150); do
    if curl -fsS -H "X-Vault-Token: $token" "http://127.0.0.1:$port/v1/sys/mounts/secret/tune" >/dev/null 2>&1; then ok=0; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  [[ $ok -eq 0 ]] || { log "dev server smoke test failed:"; grep -m3 -E 'panic|error|Error' "$dir/log" >&2 || tail -5 "$dir/log" >&2; }
  rm -rf "$dir"
  return $ok
}

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
# Use the version the top-level go.mod requires for it (ASS_VAULT_SDK_VERSION overrides the sdk).
SDK_VERSION="${ASS_VAULT_SDK_VERSION:-}"
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

if [[ "$VAULT_VERSION" == v1.14.2 && -z "${ASS_VAULT_SDK_VERSION:-}" ]]; then
  log "patching sdk/framework/backend.go: dropping the CreateOperation/ExistenceCheck start-up panic"
  python3 - sdk/framework/backend.go <<'PY'
import re, sys
path = sys.argv[1]
src = open(path).read()
pattern = re.compile(r'\t\tif p\.ExistenceCheck == nil \{\n(?:.*\n)*?\t\t\}\n')
patched, n = pattern.subn('', src, count=1)
if n != 1 or 'defines a CreateOperation but no ExistenceCheck' in patched:
    sys.exit('sdk patch did not apply')
open(path, 'w').write(patched)
PY
fi

log "building (no UI, trimmed, stripped); this takes a while on 2 cores"
# -checklinkname=0: a few of Vault 1.14's older dependencies use go:linkname into the runtime,
# which Go >= 1.23 refuses by default.
ldflags="-s -w"
if go tool link -help 2>&1 | grep -q checklinkname; then ldflags="$ldflags -checklinkname=0"; fi
nice -n 10 go build -p 2 -ldflags "$ldflags" -o "$BIN.tmp" .
smoke_test "$BIN.tmp" || { rm -f "$BIN.tmp"; exit 1; }
mv "$BIN.tmp" "$BIN"

"$BIN" version
end=$(date +%s)
size=$(du -h "$BIN" | cut -f1)
log "built in $((end - start)) s, binary size $size"
# The build directory is large; the binary is all the tests need.
cd "$VAULT_DIR" && rm -rf "$BUILD_DIR"
