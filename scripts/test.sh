#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite; then builds everything again with
# AddressSanitizer and UndefinedBehaviorSanitizer and runs the suites of the code that reads outside
# input under them (scripts/sanitize.sh; the heavy tests take a sample of their cases there,
# tests/sample.h), and runs every fuzz target for 20 s (scripts/fuzz.sh: 6 targets, 2 at a time, 2 min
# of fuzzing in all). CI runs this (.ci/run).
# LAYOUTDB_HARDENING=0 skips the sanitizer and fuzz stages (a quick local run).
# Times on 2 cores: README, "Hardening". Each stage's wall time is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
stages=()
stage() {  # stage NAME COMMAND...: runs it, notes its wall time, and stops the script if it fails
  local name=$1 start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  stages+=("$(printf '%-16s %4d s%s' "$name" $((SECONDS - start)) "$([[ $rc -eq 0 ]] || echo "  FAILED (exit $rc)")")")
  if [[ $rc -ne 0 ]]; then
    report
    exit $rc
  fi
}
report() {
  echo "stage times (wall):"
  printf '  %s\n' "${stages[@]}"
  printf '  %-16s %4d s\n' total "$SECONDS"
}
stage setup bash scripts/setup.sh
stage build bash scripts/build.sh
# Three tests at a time on CI's 2 cores: many of them wait part of the time (on the processes they
# start and kill, a browser, a file being written), and -j3 took 396 s where -j2 took 466 s from cold
# kernel caches, back to back on a 2-vCPU EPYC; LAYOUTDB_TEST_JOBS sets it. (The sanitized tests keep
# two: they wait less, 344 s with three against 353 s with two.)
stage tests bash -c 'cd build && ctest --output-on-failure -j "${LAYOUTDB_TEST_JOBS:-3}"'
if [[ ${LAYOUTDB_HARDENING:-1} != 0 ]]; then
  stage "sanitizer build" bash scripts/sanitize.sh build
  stage "sanitizer tests" bash scripts/sanitize.sh test
  stage fuzz bash scripts/fuzz.sh "${LAYOUTDB_FUZZ_SECONDS:-20}"
fi
report
