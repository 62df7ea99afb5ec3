#!/usr/bin/env bash
# The test command. On a fresh machine it installs the pinned emulators, starts them, runs every
# test of the workspace (unit, fixture/golden, black-box, emulator-backed, CLI), and stops the
# emulators again, whatever the outcome. Extra arguments go to the test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/emulators.sh start
trap 'scripts/emulators.sh stop' EXIT
eval "$(scripts/emulators.sh env)"

# Build once, then test; nextest runs test binaries in parallel and reports each test.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
