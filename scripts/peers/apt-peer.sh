# Sourced by the peer installers that take a Debian package (install-strace.sh,
# install-postgres.sh, install-docker.sh, install-chromium.sh): the part they share.

# apt_peer_install LABEL HINT PACKAGE...: installs the packages with apt-get (root, or sudo
# without a password prompt), after one `apt-get update`. Without root/sudo or apt-get it says
# what to do instead (HINT: how to install them by other means) and fails.
apt_peer_install() {
  local label="$1" hint="$2"
  shift 2
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
      echo "$label: not root and no sudo; install it yourself: apt-get install $*" >&2
      return 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$label: no apt-get on this machine; $hint" >&2
    return 1
  fi
  echo "$label: apt-get install $*" >&2
  $sudo apt-get update -q >&2 || { echo "$label: apt-get update failed" >&2; return 1; }
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 || { echo "$label: apt-get install $* failed" >&2; return 1; }
}
