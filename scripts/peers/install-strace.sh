#!/usr/bin/env bash
# Installs strace (Debian package), which test/e2e/file-durability.test.ts uses to watch the
# file backend's fsync / rename / directory-fsync order on a real process. Idempotent: does
# nothing when strace is already on PATH. Needs root (or sudo) and the distribution's package
# repository; without them it says so and fails, and that suite fails naming this script.
set -euo pipefail

if command -v strace >/dev/null 2>&1; then
  echo "strace already installed: $(command -v strace)" >&2
  exit 0
fi

. "$(dirname "$0")/apt-peer.sh"
apt_peer_install install-strace "install strace with your package manager" strace
strace -V | head -1 >&2
