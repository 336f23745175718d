#!/usr/bin/env bash
# Installs the Python MCP SDK (`pip install mcp`), the independent second MCP client the remote
# suite drives through scripts/python/mcp_client.py, into a virtualenv cached outside the
# repository. Idempotent: a second run with the pinned version already present does nothing.
#
#   ASS_PEERS_CACHE   cache root (default: $HOME/.cache/agent-secret-store/peers)
#   PYTHON            interpreter to build the venv with (default: python3; 3.10+)
set -euo pipefail

MCP_VERSION="1.30.0"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VENV="$CACHE_ROOT/python-mcp-venv"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] \
  && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null)" = "$MCP_VERSION" ]; then
  echo "python mcp $MCP_VERSION already installed in $VENV" >&2
  exit 0
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install-python-mcp: '$PYTHON' not found; install Python 3.10+ (apt-get install python3 python3-venv)" >&2
  exit 1
fi

mkdir -p "$CACHE_ROOT"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "mcp==$MCP_VERSION"

"$VENV/bin/python" -c 'import mcp.client.sse, mcp.client.streamable_http' || {
  echo "install-python-mcp: the mcp package did not import in $VENV" >&2
  exit 1
}
echo "python mcp $MCP_VERSION installed in $VENV" >&2
