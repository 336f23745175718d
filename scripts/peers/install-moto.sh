#!/usr/bin/env bash
# Installs moto's server, an emulator of the AWS API (the AWS Secrets Manager test peer used
# when no Docker engine is reachable), into a virtualenv cached outside the repository.
# Idempotent: a second run with the pinned version already present does nothing.
#
#   ASS_PEERS_CACHE   cache root (default: $HOME/.cache/agent-secret-store/peers)
#   PYTHON            interpreter to build the venv with (default: python3)
set -euo pipefail
source "$(dirname "$0")/venv-peer.sh"

MOTO_VERSION="5.2.5"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VENV="$CACHE_ROOT/moto-venv"

if [ -x "$VENV/bin/moto_server" ] && venv_peer_is_current "$VENV" moto "$MOTO_VERSION"; then
  echo "moto $MOTO_VERSION already installed in $VENV" >&2
  exit 0
fi

venv_peer_install install-moto "$VENV" "moto[server]==$MOTO_VERSION" "Python 3.9+"

if [ ! -x "$VENV/bin/moto_server" ]; then
  echo "install-moto: moto_server missing after install in $VENV" >&2
  exit 1
fi
echo "moto $MOTO_VERSION installed in $VENV" >&2
