#!/usr/bin/env bash
# Installs the hosted product's own clients, pinned, as test peers (never as our dependencies:
# our package has the same name as the hosted MCP server): `@agentsecretstore/sdk` (AgentVault,
# its REST client) and `@agentsecretstore/mcp` (the `ass-mcp` stdio server) into a folder of the
# peers cache. The compatibility suites (test/remote/hosted-*.test.ts) drive them unchanged.
# Idempotent: a second run with both pinned versions present does nothing.
#
#   ASS_PEERS_CACHE   cache root (default: $HOME/.cache/agent-secret-store/peers)
set -euo pipefail

SDK_VERSION="1.0.0"
MCP_VERSION="1.0.0"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
DIR="$CACHE_ROOT/hosted-clients"

installed_version() {
  node -e 'try { console.log(require(process.argv[1]).version) } catch { }' "$DIR/node_modules/$1/package.json" 2>/dev/null
}

if [ "$(installed_version @agentsecretstore/sdk)" = "$SDK_VERSION" ] && [ "$(installed_version @agentsecretstore/mcp)" = "$MCP_VERSION" ] \
  && [ -x "$DIR/node_modules/.bin/ass-mcp" ]; then
  echo "hosted clients (sdk $SDK_VERSION, mcp $MCP_VERSION) already installed in $DIR" >&2
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install-hosted-clients: npm not found; install Node.js 20+ (apt-get install nodejs npm)" >&2
  exit 1
fi
mkdir -p "$DIR"
cat > "$DIR/package.json" <<JSON
{
  "name": "agent-secret-store-hosted-client-peers",
  "private": true,
  "description": "Test peers of agent-secret-store: the hosted product's own clients, pinned.",
  "dependencies": {
    "@agentsecretstore/sdk": "$SDK_VERSION",
    "@agentsecretstore/mcp": "$MCP_VERSION"
  }
}
JSON
(cd "$DIR" && npm install --no-audit --no-fund --loglevel=error --save-exact >&2)

[ "$(installed_version @agentsecretstore/sdk)" = "$SDK_VERSION" ] && [ -x "$DIR/node_modules/.bin/ass-mcp" ] || {
  echo "install-hosted-clients: the packages did not install in $DIR" >&2
  exit 1
}
echo "hosted clients (sdk $SDK_VERSION, mcp $MCP_VERSION) installed in $DIR" >&2
