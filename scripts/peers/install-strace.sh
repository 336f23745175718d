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

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install-strace: not root and no sudo; install it yourself: apt-get install strace" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-strace: no apt-get on this machine; install strace with your package manager" >&2
  exit 1
fi

$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends strace
strace -V | head -1 >&2
