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

. "$(dirname "$0")/apt-peer.sh"
apt_peer_install install-chromium "install Chromium yourself and set ASS_CHROMIUM to its path" chromium fonts-dejavu-core

if ! [ -x "$CHROMIUM" ]; then
  echo "install-chromium: $CHROMIUM missing after install" >&2
  exit 1
fi
echo "chromium installed: $("$CHROMIUM" --version 2>/dev/null)" >&2
