#!/usr/bin/env bash
# Installs the Python MCP SDK (`pip install mcp`), the independent second MCP client the remote
# suite drives through scripts/python/mcp_client.py, into a virtualenv cached outside the
# repository. Idempotent: a second run with the pinned version already present does nothing.
#
#   ASS_PEERS_CACHE   cache root (default: $HOME/.cache/agent-secret-store/peers)
#   PYTHON            interpreter to build the venv with (default: python3; 3.10+)
set -euo pipefail
source "$(dirname "$0")/venv-peer.sh"

MCP_VERSION="1.30.0"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VENV="$CACHE_ROOT/python-mcp-venv"

if venv_peer_is_current "$VENV" mcp "$MCP_VERSION"; then
  echo "python mcp $MCP_VERSION already installed in $VENV" >&2
  exit 0
fi

venv_peer_install install-python-mcp "$VENV" "mcp==$MCP_VERSION" "Python 3.10+"

"$VENV/bin/python" -c 'import mcp.client.sse, mcp.client.streamable_http' || {
  echo "install-python-mcp: the mcp package did not import in $VENV" >&2
  exit 1
}
echo "python mcp $MCP_VERSION installed in $VENV" >&2
