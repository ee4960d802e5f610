#!/usr/bin/env bash
# Runs every test file (node --test on Node 20 needs an explicit file list), then the core simulator.
# The dashboard's browser test needs Chromium: ensure-chromium.sh installs it when missing (root + apt-get).
# Tests that start whole clusters of processes (packages/{node,jobs,live}/test/cluster-*.test.ts, standalone.test.ts,
# the dashboards' browser tests, the examples' demos) run
# one file at a time after the others, so that their timing (failover within 1 s) is not measured while
# another suite hogs both cores.
# Usage: pnpm test [file ...]   — with files, runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
run() { node --conditions=source --import tsx --test --test-timeout=180000 "$@"; }
bash scripts/ensure-chromium.sh
if [ $# -gt 0 ]; then
  run --test-concurrency=2 "$@"
  exit 0
fi
all=(packages/*/test/**/*.test.ts test/**/*.test.ts examples/*/test/**/*.test.ts)
serial=()
parallel=()
for f in "${all[@]}"; do
  case "$f" in
    packages/node/test/cluster-*.test.ts | packages/jobs/test/cluster-*.test.ts | packages/live/test/cluster-*.test.ts | packages/node/test/standalone.test.ts | packages/node/test/dashboard.test.ts | packages/jobs/test/dashboard-jobs.test.ts | packages/live/test/dashboard-live.test.ts | test/linearizability-faults.test.ts | examples/*/test/*.test.ts) serial+=("$f") ;;
    *) parallel+=("$f") ;;
  esac
done
run --test-concurrency=2 "${parallel[@]}"
run --test-concurrency=1 "${serial[@]}"
node --conditions=source --import tsx packages/core/sim/main.ts --seeds "${SIM_SEEDS:-300}"
