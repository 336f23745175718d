# Sourced by the Python peer installers (install-moto.sh, install-python-mcp.sh): the part they
# share, a pinned package in its own virtualenv cached outside the repository.
#
#   PYTHON   interpreter to build the venv with (default: python3)

PYTHON="${PYTHON:-python3}"

# venv_peer_is_current VENV DIST VERSION: true when VENV has DIST at exactly VERSION.
venv_peer_is_current() {
  [ -x "$1/bin/python" ] \
    && [ "$("$1/bin/python" -c "import importlib.metadata as m; print(m.version('$2'))" 2>/dev/null)" = "$3" ]
}

# venv_peer_install LABEL VENV PIP_SPEC PYTHON_NEEDED: makes VENV (once) and installs PIP_SPEC.
venv_peer_install() {
  local label=$1 venv=$2 spec=$3 needed=$4
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "$label: '$PYTHON' not found; install $needed (apt-get install python3 python3-venv)" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$venv")"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
}
