#!/usr/bin/env bash
# Installs moto's AWS-API server (the AWS Secrets Manager test peer used when no Docker engine
# is reachable) into a virtualenv cached outside the repository. Idempotent: a second run with
# the pinned version already present does nothing.
#
#   ASS_PEERS_CACHE   cache root (default: $HOME/.cache/agent-secret-store/peers)
#   PYTHON            interpreter to build the venv with (default: python3)
set -euo pipefail

MOTO_VERSION="5.2.5"
CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VENV="$CACHE_ROOT/moto-venv"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/python" ] \
  && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]; then
  echo "moto $MOTO_VERSION already installed in $VENV" >&2
  exit 0
fi

if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "install-moto: '$PYTHON' not found; install Python 3.9+ (apt-get install python3 python3-venv)" >&2
  exit 1
fi

mkdir -p "$CACHE_ROOT"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"

if [ ! -x "$VENV/bin/moto_server" ]; then
  echo "install-moto: moto_server missing after install in $VENV" >&2
  exit 1
fi
echo "moto $MOTO_VERSION installed in $VENV" >&2
