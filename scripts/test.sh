#!/usr/bin/env bash
# Runs every test file (node --test on Node 20 needs an explicit file list), then the core simulator.
# Usage: pnpm test [file ...]   — with files, runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s globstar nullglob
if [ $# -gt 0 ]; then files=("$@"); else files=(packages/*/test/**/*.test.ts test/**/*.test.ts examples/*/test/**/*.test.ts); fi
node --conditions=source --import tsx --test --test-concurrency=2 --test-timeout=180000 "${files[@]}"
if [ $# -eq 0 ] && [ -f packages/core/sim/main.ts ]; then
  node --conditions=source --import tsx packages/core/sim/main.ts --seeds "${SIM_SEEDS:-300}"
fi
