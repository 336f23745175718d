#!/usr/bin/env bash
# Builds the PostgreSQL test peer's image from the server Debian installed on this machine
# (scripts/peers/install-postgres.sh), since no image registry is reachable here: a root
# filesystem with /usr/lib/postgresql/<major> (server and tools), /usr/share/postgresql/<major>
# (what initdb needs), the time zone data, the shared libraries `ldd` lists for every binary and
# module, a static busybox as /bin/sh, and an entrypoint that runs initdb on the first start
# (password from POSTGRES_PASSWORD, scram-sha-256) and then the server in the foreground as the
# `postgres` user (uid 999). Imported with `docker import` and tagged
#   agent-secret-store/postgres-peer:<version>
# POSTGRES_USER, POSTGRES_PASSWORD(_FILE) and POSTGRES_DB as in the official image; pg_isready on
# PATH (PGHOST=/tmp, the socket directory), for a compose health check.
# PGPORT and PG_LISTEN choose the port and the listen address (host networking). PGDATA is in
# the container's own file system, so `docker stop` / `docker start` keep the data (restart and
# crash-recovery tests) and `docker rm` throws it away.
# It talks to the engine in DOCKER_HOST. Idempotent: nothing to do when the tag exists with the
# same version label. Prints the tag on stdout.
set -euo pipefail

BIN="${ASS_PG_BIN:-/usr/lib/postgresql/15/bin}"
log() { printf '[build-postgres-image] %s\n' "$*" >&2; }
[ -x "$BIN/postgres" ] || { log "no PostgreSQL server in $BIN: run scripts/peers/install-postgres.sh"; exit 1; }
BUSYBOX="$(command -v busybox || echo /bin/busybox)"
[ -x "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || { log "a static busybox is needed: run scripts/peers/install-docker.sh (busybox-static)"; exit 1; }
PGHOME="$(dirname "$BIN")"
MAJOR="$(basename "$PGHOME")"
VERSION="$("$BIN/postgres" --version | grep -o '[0-9][0-9.]*' | head -1)"
TAG="agent-secret-store/postgres-peer:$VERSION"
LABEL="postgres=$VERSION entrypoint=2"

if [ "$(docker image inspect -f '{{ index .Config.Labels "org.agent-secret-store.postgres" }}' "$TAG" 2>/dev/null || true)" = "$LABEL" ]; then
  log "$TAG already built ($LABEL)"
  echo "$TAG"
  exit 0
fi

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/ass-pg-rootfs-XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,usr/lib/postgresql,usr/share/postgresql,usr/share,etc,tmp,var/lib/postgresql,lib64}
chmod 1777 "$ROOT/tmp"
cp -a "$PGHOME" "$ROOT/usr/lib/postgresql/$MAJOR"
cp -a "/usr/share/postgresql/$MAJOR" "$ROOT/usr/share/postgresql/$MAJOR"
cp -a /usr/share/zoneinfo "$ROOT/usr/share/zoneinfo"
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in sh cat rm mkdir chmod printf; do ln -s busybox "$ROOT/bin/$applet"; done
find "$ROOT/usr/lib/postgresql" -type f \( -perm -u+x -o -name '*.so*' \) | while read -r f; do ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true; done \
  | sort -u | while read -r lib; do
    case "$lib" in "$ROOT"/*) continue ;; esac
    mkdir -p "$ROOT$(dirname "$lib")"
    [ -e "$ROOT$lib" ] || cp -L "$lib" "$ROOT$lib"
  done

printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999::/var/lib/postgresql:/bin/sh\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' > "$ROOT/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"
mkdir -p "$ROOT/var/lib/postgresql/data"
chown -R 999:999 "$ROOT/var/lib/postgresql"
chmod 700 "$ROOT/var/lib/postgresql" "$ROOT/var/lib/postgresql/data"

cat > "$ROOT/entrypoint.sh" <<SCRIPT
#!/bin/sh
# First start: a cluster whose superuser (POSTGRES_USER, default postgres) has the password from
# POSTGRES_PASSWORD or the file POSTGRES_PASSWORD_FILE names (through a file removed at once,
# never argv), and the database POSTGRES_DB when given: the variables of the official image.
# Then the server in the foreground, as PID 1.
set -e
PATH=/usr/lib/postgresql/$MAJOR/bin:/bin
if [ ! -s "\$PGDATA/PG_VERSION" ]; then
  if [ -n "\$POSTGRES_PASSWORD_FILE" ]; then POSTGRES_PASSWORD="\$(cat "\$POSTGRES_PASSWORD_FILE")"; fi
  [ -n "\$POSTGRES_PASSWORD" ] || { echo 'POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE is required' >&2; exit 1; }
  printf '%s\n' "\$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb -D "\$PGDATA" -U "\${POSTGRES_USER:-postgres}" --pwfile=/tmp/pwfile --auth=scram-sha-256 -E UTF8 --locale=C --no-sync >/dev/null
  rm -f /tmp/pwfile
  printf 'host all all all scram-sha-256\n' >> "\$PGDATA/pg_hba.conf"
  if [ -n "\$POSTGRES_DB" ] && [ "\$POSTGRES_DB" != postgres ]; then
    pg_ctl -D "\$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w -s start
    PGPASSWORD="\$POSTGRES_PASSWORD" psql -q -h /tmp -U "\${POSTGRES_USER:-postgres}" -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"\$POSTGRES_DB\""
    pg_ctl -D "\$PGDATA" -w -s stop
  fi
fi
exec postgres -D "\$PGDATA" -p "\${PGPORT:-5432}" -c listen_addresses="\${PG_LISTEN:-*}" -c unix_socket_directories=/tmp \
  -c shared_buffers=16MB -c max_connections=200 -c fsync=off -c full_page_writes=off "\$@"
SCRIPT
chmod 755 "$ROOT/entrypoint.sh"

log "importing $TAG ($LABEL)"
tar -C "$ROOT" -c . | docker import \
  -c "ENV PGDATA=/var/lib/postgresql/data LC_ALL=C PGHOST=/tmp PATH=/usr/lib/postgresql/$MAJOR/bin:/bin" \
  -c 'USER 999' \
  -c 'ENTRYPOINT ["/entrypoint.sh"]' \
  -c 'EXPOSE 5432' \
  -c "LABEL org.agent-secret-store.postgres=\"$LABEL\"" \
  - "$TAG" >/dev/null
docker image inspect -f '{{ .Size }}' "$TAG" | awk -v t="$TAG" '{ printf "[build-postgres-image] %s: %.1f MB\n", t, $1 / 1e6 }' >&2
echo "$TAG"
