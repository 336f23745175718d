#!/usr/bin/env bash
# Installs the Docker engine peer (Debian's docker.io: dockerd, containerd, runc) and
# busybox-static (the shell and tools of the locally built base images, see
# scripts/docker/build-base-images.sh). Idempotent: does nothing when dockerd, containerd, runc
# and busybox are all on PATH. Needs root (or sudo) and the distribution's package repository;
# without them it says so and fails, and the container suites fail naming this script.
#
# It installs only: the tests start their own dockerd (own socket, data root and exec root,
# --bridge=none --iptables=false --ip-forward=false --ip-masq=false) and stop it by its pid.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
if have dockerd && have containerd && have runc && { have busybox || [ -x /bin/busybox ]; }; then
  echo "docker engine already installed: $(dockerd --version)" >&2
  exit 0
fi

. "$(dirname "$0")/apt-peer.sh"
# The tests never use a system dockerd (where the package's postinst starts one): they start
# their own, isolated one (test/helpers/docker-engine.ts).
apt_peer_install install-docker "install docker.io (dockerd, containerd, runc) and busybox-static with your package manager" docker.io busybox-static
dockerd --version >&2
