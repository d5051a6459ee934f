#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer (clang, LAYOUTDB_SANITIZE=ON,
# with LAYOUTDB_FUZZ=ON so that the same build holds the fuzz targets scripts/fuzz.sh runs) into
# build-sanitize/, and runs the test suite under it. Any sanitizer report fails the test it happens in.
# Environment: LAYOUTDB_SANITIZE_DIR (default build-sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LAYOUTDB_SANITIZE_DIR:-build-sanitize}
start=$SECONDS
# -O1 with line tables: a third of -O3's compile time, readable stack traces, tests not much slower.
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" \
  "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DLAYOUTDB_SANITIZE=ON -DLAYOUTDB_FUZZ=ON -DLAYOUTDB_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)"
built=$SECONDS
supp=$PWD/tests/hardening/sanitizers
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp}
# Left out under the sanitizers (it runs in the normal build): Install.*, which builds an app without the
# sanitizers against the installed (sanitized) static libraries: that cannot link. If CI's time runs
# short, the kill tests (^Kills\\.|^MergeExportKills\\.) are the next to leave out here: they check
# files, and take about 1.5 of these 6 minutes.
exclude=${LAYOUTDB_SANITIZE_EXCLUDE-^Install\\.}
rc=0
(cd "$dir" && ctest --output-on-failure -j 2 ${exclude:+-E "$exclude"}) || rc=$?
echo "sanitizers: build $((built - start)) s, tests $((SECONDS - built)) s"
exit $rc
