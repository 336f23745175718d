#!/usr/bin/env bash
# `npm test`: everything a fresh machine needs, then every test.
#  1. npm packages (npm ci, from the committed lockfile) when node_modules is missing or stale;
#  2. the test peers, every scripts/peers/install-*.sh: moto (an emulator of the AWS API), the
#     Python MCP SDK (second MCP client), the hosted product's own SDK and MCP server (npm,
#     pinned), a Vault server built from its Go module, the MCP conformance suite with the
#     Node.js 22 it runs on (slow the first time; cached outside the repository), strace
#     (apt-get; the durable-write trace) and Debian chromium (the dashboard's browser suite);
#  3. the build (dist/, which the end-to-end suites spawn);
#  4. vitest over test/ (but test/reliability), then
#  5. the reliability figures (test/reliability, their own vitest config): the soaks alone, the
#     rest beside
#  6. the suite on Node.js 22 and 24 (all but the browser and container suites;
#     scripts/test-node-lines.sh), then
#     one closing line "N passed, N failed" over all of them.
# Peers install idempotently. A peer that cannot be installed makes its suites fail loudly
# (they name the install script); nothing is skipped silently.
set -uo pipefail
cd "$(dirname "$0")/.."

# Each step ends with a line of its wall time and how busy the machine's CPUs were meanwhile
# (from /proc/stat, where there is one): what to look at when the run grows too long.
cpu_ticks() { awk '/^cpu /{ idle=$5+$6; total=0; for (i=2;i<=NF;i++) total+=$i; print total, idle }' /proc/stat 2>/dev/null; }
step_name=""; step_started=0; step_ticks=""
step_done() {
  [ -n "$step_name" ] || return 0
  local now; now="$(cpu_ticks)"
  local busy="?"
  if [ -n "$step_ticks" ] && [ -n "$now" ]; then
    busy="$(echo "$step_ticks $now" | awk '{ dt=$3-$1; di=$4-$2; if (dt>0) printf "%d", 100*(dt-di)/dt; else print "?" }')"
  fi
  printf '==> %s: %d s, CPUs %s%% busy\n' "$step_name" "$((SECONDS - step_started))" "$busy" >&2
}
step() { step_done; step_name="$*"; step_started=$SECONDS; step_ticks="$(cpu_ticks)"; printf '\n==> %s\n' "$*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund || exit 1
fi

peer_status=0
for path in scripts/peers/install-*.sh; do
  script="$(basename "$path")"
  if [ -f "scripts/peers/$script" ]; then
    step "peer: $script"
    bash "scripts/peers/$script" || { echo "peer install failed: scripts/peers/$script (its suites will fail and say so)" >&2; peer_status=1; }
  fi
done

# The disk-full audit test mounts a 64 KiB tmpfs, which needs root: without it that test is
# reported skipped with the reason (never passed), and this says so up front.
if [ "$(id -u)" -ne 0 ]; then
  echo "NOTE: not running as root: test/security/audit-disk-full.test.ts cannot mount its tmpfs and will be reported skipped." >&2
fi

step "build"
npm run build || exit 1

step "vitest"
report="$(mktemp -d)/vitest.json"
# Issue 11: with a Docker engine installed (scripts/peers/install-docker.sh), the Vault, AWS and
# PostgreSQL suites take the testcontainers path (images built here, the tests' own engine); each
# suite prints the path it took. ASS_AWS_PEER / ASS_POSTGRES_PEER=local choose the loopback peers.
tc_env=()
if command -v dockerd >/dev/null 2>&1; then
  tc_env=(ASS_AWS_PEER="${ASS_AWS_PEER:-testcontainers}" ASS_POSTGRES_PEER="${ASS_POSTGRES_PEER:-testcontainers}")
fi
env "${tc_env[@]}" npx vitest run --reporter=default --reporter=json --outputFile="$report" "$@"
status=$?

# 5. The reliability figures (test/reliability: soak, crashes, fuzzing, canaries, isolation),
#    after the rest. The soaks time their calls, so they run first and alone, one at a time.
#    The others time nothing (crashes, fuzzing, canaries, isolation): they run beside step 6,
#    on the cores the Node lines leave idle, and their output is printed after it.
#    They print their figures as `[reliability:<suite>] ...` lines. Skipped, loudly, only when
#    arguments select particular tests, or with ASS_RELIABILITY=0.
reports=("$report")
rest_pid=""
if [ "$#" -eq 0 ] && [ "${ASS_RELIABILITY:-1}" != "0" ]; then
  step "reliability figures: the soaks (test/reliability/soak-*, alone, one at a time)"
  soaks=(test/reliability/soak-*.test.ts)
  soak_report="$(mktemp -d)/reliability-soaks.json"
  npx vitest run --config vitest.reliability.config.ts --reporter=default --reporter=json --outputFile="$soak_report" "${soaks[@]}" || status=1
  reports+=("$soak_report")

  rest=()
  for file in test/reliability/*.test.ts; do case "$file" in */soak-*) ;; *) rest+=("$file") ;; esac; done
  rest_dir="$(mktemp -d)"
  rest_report="$rest_dir/reliability-rest.json"
  reports+=("$rest_report")
  echo "==> reliability figures: ${rest[*]#test/reliability/} start now, beside the Node lines (their output follows those)" >&2
  rest_started=$SECONDS
  ( npx vitest run --config vitest.reliability.config.ts --reporter=default --reporter=json --outputFile="$rest_report" "${rest[@]}" >"$rest_dir/out.log" 2>&1
    echo $? >"$rest_dir/rc" ) &
  rest_pid=$!
else
  echo "NOTE: the reliability figures (test/reliability) were NOT run: $([ "$#" -ne 0 ] && echo 'test arguments were given' || echo 'ASS_RELIABILITY=0')." >&2
fi

# 6. The Node.js LTS lines 22 and 24 beside the machine's (scripts/test-node-lines.sh says which
#    suites run on each and why), counted in the closing line. Skipped,
#    loudly, only when arguments select particular tests, or with ASS_NODE_LINES=0.
if [ "$#" -eq 0 ] && [ "${ASS_NODE_LINES:-1}" != "0" ]; then
  step "Node.js 22 and 24 (scripts/test-node-lines.sh)"
  lines_dir="$(mktemp -d)"
  ASS_NODE_LINES_REPORT_DIR="$lines_dir" bash scripts/test-node-lines.sh 22 24 || status=1
  for line in 22 24; do reports+=("$lines_dir/node$line.json"); done
else
  echo "NOTE: the Node.js 22 and 24 runs (scripts/test-node-lines.sh) were NOT run: $([ "$#" -ne 0 ] && echo 'test arguments were given' || echo 'ASS_NODE_LINES=0')." >&2
fi

if [ -n "$rest_pid" ]; then
  step_done; step_name=""
  wait "$rest_pid"
  printf '\n==> reliability figures run beside the Node lines (%s)\n' "${rest[*]#test/reliability/}" >&2
  cat "$rest_dir/out.log"
  [ "$(cat "$rest_dir/rc" 2>/dev/null)" = "0" ] || status=1
  printf '==> reliability figures beside the Node lines: %d s after they started\n' "$((SECONDS - rest_started))" >&2
fi

step_done
# The closing lines: every failed test by name (file and title; a CI log is often read from its
# tail only), then the counts.
node -e '
  let passed = 0, failed = 0, skipped = 0;
  const failures = [];
  for (const file of process.argv.slice(1)) {
    try {
      const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
      passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
      for (const suite of r.testResults ?? []) {
        const where = require("path").relative(process.cwd(), suite.name ?? "?");
        for (const t of suite.assertionResults ?? []) {
          if (t.status === "failed") failures.push(`${where} > ${t.fullName}: ${String((t.failureMessages ?? [])[0] ?? "").split("\n")[0].slice(0, 300)}`);
        }
        if (suite.status === "failed" && !(suite.assertionResults ?? []).some((t) => t.status === "failed")) {
          failures.push(`${where}: ${String(suite.message ?? "the file failed outside its tests").split("\n")[0].slice(0, 300)}`);
        }
      }
    } catch { failed += 1; failures.push(`${file}: no readable report (the run crashed or never wrote it)`); }
  }
  if (failures.length) console.log(`FAILED (${failures.length}):\n` + failures.map((f) => `  ${f}`).join("\n"));
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "${reports[@]}" 2>/dev/null || echo "0 passed, 1 failed"
if [ "$peer_status" -ne 0 ] && [ "$status" -eq 0 ]; then status=1; fi
exit $status
