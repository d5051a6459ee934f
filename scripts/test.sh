#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite; then builds everything again with
# AddressSanitizer and UndefinedBehaviorSanitizer and runs the suite under them (scripts/sanitize.sh),
# and runs every fuzz target for a bounded time (scripts/fuzz.sh) — those two stages only with
# LAYOUTDB_HARDENING=1 (about 21 minutes in all on 2 cores, measured on a shared machine; CI does not
# set it yet, until its time on a clean CI machine is known).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
(cd build && ctest --output-on-failure -j 2)
if [[ ${LAYOUTDB_HARDENING:-0} != 0 ]]; then
  bash scripts/sanitize.sh
  bash scripts/fuzz.sh "${LAYOUTDB_FUZZ_SECONDS:-20}"
fi
