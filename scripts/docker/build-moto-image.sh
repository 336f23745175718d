#!/usr/bin/env bash
# Builds the AWS test peer's image (moto's server, an emulator of the AWS API) from local files,
# since no image registry is reachable here: a root filesystem with the Python interpreter that
# built the moto venv (scripts/peers/install-moto.sh), its standard library (without its tests,
# tkinter, idlelib, ensurepip, lib2to3), the venv's site-packages, and the shared libraries `ldd`
# lists for the interpreter and every extension module; imported with `docker import` and tagged
#   agent-secret-store/moto-peer:<moto version>
# It runs as uid 1000 with `python3 -m moto.server -H 0.0.0.0 -p 5000` (MOTO_PORT changes the port,
# for host networking). test/helpers/aws-peer.ts runs it through testcontainers.
# It talks to the engine in DOCKER_HOST. Idempotent: does nothing when the tag exists for the same
# venv (a label with moto's and Python's versions). Prints the tag on stdout.
set -euo pipefail

CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
VENV="$CACHE_ROOT/moto-venv"
log() { printf '[build-moto-image] %s\n' "$*" >&2; }

[ -x "$VENV/bin/python" ] || { log "no moto venv at $VENV: run scripts/peers/install-moto.sh"; exit 1; }
PY="$(readlink -f "$VENV/bin/python")"
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
PREFIX="$("$PY" -c 'import sys; print(sys.base_prefix)')"
MOTO="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))')"
TAG="agent-secret-store/moto-peer:$MOTO"
LABEL="moto=$MOTO python=$("$PY" -c 'import platform; print(platform.python_version())')"

if [ "$(docker image inspect -f '{{ index .Config.Labels "org.agent-secret-store.moto" }}' "$TAG" 2>/dev/null || true)" = "$LABEL" ]; then
  log "$TAG already built ($LABEL)"
  echo "$TAG"
  exit 0
fi

ROOT="$(mktemp -d "${TMPDIR:-/tmp}/ass-moto-rootfs-XXXXXX")"
trap 'rm -rf "$ROOT"' EXIT
LIB="$ROOT/usr/local/lib/python$PYVER"
mkdir -p "$ROOT/usr/local/bin" "$LIB" "$ROOT/tmp" "$ROOT/etc" "$ROOT/home/moto" "$ROOT/lib64"
chmod 1777 "$ROOT/tmp"
chown 1000:1000 "$ROOT/home/moto"

cp "$PY" "$ROOT/usr/local/bin/python3"
# The standard library, as the interpreter finds it from /usr/local/bin (its prefix is /usr/local).
tar -C "$PREFIX/lib/python$PYVER" -c \
  --exclude=./site-packages --exclude=./test --exclude=./tkinter --exclude=./idlelib \
  --exclude=./ensurepip --exclude=./lib2to3 --exclude='./lib-dynload/_tkinter*' --exclude='*/tests' . | tar -C "$LIB" -x
mkdir -p "$LIB/site-packages"
tar -C "$VENV/lib/python$PYVER/site-packages" -c . | tar -C "$LIB/site-packages" -x

# Every shared library the interpreter and the extension modules link against, at the path the
# loader finds it (libpython beside the system's, so no rpath or ld.so.cache is needed).
libs() { ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true; }
{
  libs "$PY"
  find "$LIB" -name '*.so*' -type f | while read -r so; do libs "$so"; done
} | sort -u | while read -r lib; do
  case "$lib" in
    "$PREFIX"/lib/*) dest="/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
    "$ROOT"/*) continue ;;
    *) dest="$lib" ;;
  esac
  mkdir -p "$ROOT$(dirname "$dest")"
  cp -L "$lib" "$ROOT$dest"
done

cat > "$ROOT/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/nonexistent
moto:x:1000:1000::/home/moto:/nonexistent
PASSWD
echo 'moto:x:1000:' > "$ROOT/etc/group"
# A process in the container checks that it can reach its own loopback name.
printf '127.0.0.1 localhost\n::1 localhost\n' > "$ROOT/etc/hosts"

log "importing $TAG ($LABEL)"
tar -C "$ROOT" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin HOME=/home/moto PYTHONDONTWRITEBYTECODE=1 MOTO_PORT=5000' \
  -c 'USER 1000' \
  -c 'ENTRYPOINT ["/usr/local/bin/python3", "-c", "import os, sys; from moto.server import main; main([\"-H\", os.environ.get(\"MOTO_HOST\", \"0.0.0.0\"), \"-p\", os.environ[\"MOTO_PORT\"]] + sys.argv[1:])"]' \
  -c 'EXPOSE 5000' \
  -c "LABEL org.agent-secret-store.moto=\"$LABEL\"" \
  - "$TAG" >/dev/null
docker image inspect -f '{{ .Size }}' "$TAG" | awk -v t="$TAG" '{ printf "[build-moto-image] %s: %.1f MB\n", t, $1 / 1e6 }' >&2
echo "$TAG"
