#!/usr/bin/env bash
# Installs Debian's chromium, the browser the dashboard's browser tests drive through
# playwright-core (executablePath /usr/bin/chromium, headless). Idempotent: does nothing when
# /usr/bin/chromium already runs. Fails loudly (exit 1, a reason on stderr) when it cannot
# install it: the browser suites then fail and name this script.
set -euo pipefail

CHROMIUM="${ASS_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ] && "$CHROMIUM" --headless --no-sandbox --version >/dev/null 2>&1; then
  echo "chromium already installed: $("$CHROMIUM" --version 2>/dev/null)" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: apt-get not found; install Chromium yourself and set ASS_CHROMIUM to its path" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-chromium: not root and no sudo; run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
fi

echo "install-chromium: apt-get update && apt-get install -y chromium" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2 || { echo "install-chromium: apt-get update failed" >&2; exit 1; }
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >&2 || { echo "install-chromium: apt-get install chromium failed" >&2; exit 1; }

if ! [ -x "$CHROMIUM" ]; then
  echo "install-chromium: $CHROMIUM missing after install" >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null)" >&2
