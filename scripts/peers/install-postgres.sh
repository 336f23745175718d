#!/usr/bin/env bash
# Installs Debian's PostgreSQL 15 server (package postgresql-15), the real database that the
# PostgreSQL suites start in a temporary directory (test/helpers/postgres-peer.ts: initdb +
# pg_ctl on 127.0.0.1, stopped after each file). No cluster is created and no service is
# started by this script. Idempotent: does nothing when initdb and pg_ctl are already there;
# `apt-get update` runs only when the package is missing. Needs root (or sudo) and the
# distribution's package repository; without them it says so and fails, and the PostgreSQL
# suites fail naming this script.
#
#   ASS_PG_BIN   where the server binaries are (default: /usr/lib/postgresql/15/bin)
set -euo pipefail

PG_BIN="${ASS_PG_BIN:-/usr/lib/postgresql/15/bin}"

if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && [ -x "$PG_BIN/postgres" ]; then
  echo "PostgreSQL already installed: binaries in $PG_BIN ($("$PG_BIN/postgres" --version))" >&2
  exit 0
fi

. "$(dirname "$0")/apt-peer.sh"
apt_peer_install install-postgres "install PostgreSQL 15 with your package manager and set ASS_PG_BIN to its bin directory" postgresql-15
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "install-postgres: initdb missing in $PG_BIN after install" >&2
  exit 1
fi
echo "PostgreSQL installed: binaries in $PG_BIN ($("$PG_BIN/postgres" --version))" >&2
