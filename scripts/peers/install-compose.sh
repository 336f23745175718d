#!/usr/bin/env bash
# Installs a Compose implementation for the test that runs the compose file of docs/deploy.md
# (test/container/compose.test.ts): Debian's docker-compose (1.29, the Python implementation of
# the Compose file format; it reads the same compose.yaml as `docker compose`). Idempotent: does
# nothing when docker-compose is on PATH. Needs root (or sudo) and the distribution's package
# repository; without them it says so and fails, and the compose test fails naming this script.
set -euo pipefail

if command -v docker-compose >/dev/null 2>&1; then
  echo "docker-compose already installed: $(docker-compose version --short 2>/dev/null)" >&2
  exit 0
fi

. "$(dirname "$0")/apt-peer.sh"
apt_peer_install install-compose "install docker-compose (1.29 or later) with your package manager or pip" docker-compose
docker-compose version --short >&2
