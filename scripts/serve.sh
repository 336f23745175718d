#!/usr/bin/env bash
# `npm run serve`: from a fresh clone to a running MCP server on the embedded default (the
# encrypted file backend) over stdio. Installs and builds when needed; on first run creates a
# setup in $ASS_HOME (default ~/.agent-secret-store) and prints the keys once on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing dependencies (npm ci; the first run takes a minute)..." >&2
  # `npm run -s` passes loglevel=silent down to this npm: ask for progress explicitly, so a
  # minute of install is not a minute of silence.
  npm ci --no-audit --no-fund --loglevel=http --progress=true >&2
fi
if [ ! -f dist/cli/main.js ] || [ -n "$(find src -newer dist/cli/main.js -name '*.ts' -print -quit)" ]; then
  echo "Building (tsc)..." >&2
  npm run build >&2
fi

home="${ASS_HOME:-$HOME/.agent-secret-store}"
config="${ASS_CONFIG:-$home/config.yaml}"
if [ ! -f "$config" ]; then
  keys="$(node dist/cli/main.js init --dir "$home" --json)"
  agent_key="$(node -e 'console.log(JSON.parse(process.argv[1]).agent_key)' "$keys")"
  admin_key="$(node -e 'console.log(JSON.parse(process.argv[1]).admin_key)' "$keys")"
  {
    echo "Created $config. These keys are shown once; store them now:"
    echo "  ASS_AGENT_KEY=$agent_key"
    echo "  ASS_ADMIN_KEY=$admin_key"
    echo "Serving MCP over stdio as agent 'default' (Ctrl-D or close the pipe to stop)."
  } >&2
  export ASS_AGENT_KEY="${ASS_AGENT_KEY:-$agent_key}"
fi
if [ -z "${ASS_AGENT_KEY:-}" ]; then
  echo "$config exists, so no new keys were made: set ASS_AGENT_KEY to the agent key the first run printed (or make one with 'node dist/cli/main.js --config $config agents add <id>', which needs ASS_ADMIN_KEY)." >&2
  exit 2
fi
exec node dist/cli/main.js serve --config "$config"
