#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/) on its seed corpus for a bounded time each.
#   bash scripts/fuzz.sh                 # each target 20 s (CI)
#   bash scripts/fuzz.sh 3600 onnx_import  # one target for an hour
# Environment: LAYOUTDB_SANITIZE_DIR (default build-sanitize: the clang build with sanitizers that
# scripts/sanitize.sh makes; configured and built here if needed), LAYOUTDB_FUZZ_JOBS (parallel targets,
# default 2). New inputs are kept in DIR/fuzz/corpus/<target> between runs; a crash leaves its input in
# DIR/fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(onnx_import spec plan partition database tensor)
dir=${LAYOUTDB_SANITIZE_DIR:-build-sanitize}
jobs=${LAYOUTDB_FUZZ_JOBS:-2}

if [[ ! -f $dir/build.ninja ]]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" \
    "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DLAYOUTDB_SANITIZE=ON -DLAYOUTDB_FUZZ=ON -DLAYOUTDB_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$dir" --target layoutdb_fuzzers -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
run_one() {
  local t=$1 work=$dir/fuzz/corpus/$1 art=$dir/fuzz/artifacts/$1 log=$dir/fuzz/$1.log
  rm -rf "$art"  # findings of an earlier run: copy them out before running again
  mkdir -p "$work" "$art"
  local rc=0
  # -timeout: one input may take at most 10 s; -rss_limit_mb: 2 GB (the machine has 2 cores, others share it).
  local seeds=tests/fuzz/corpus/$t
  [[ -d $seeds ]] || seeds=""
  timeout $((seconds + 120)) "$dir/fuzz/fuzz_$t" "$work" $seeds -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
    >"$log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [[ $rc -ne 0 ]]; then
    echo "fuzz $t: FAILED (exit $rc) after ${execs:-?} executions; input and log:"
    ls "$art" | sed "s|^|  $art/|"
    grep -E "ERROR|FINDING|runtime error|SUMMARY" "$log" | head -5 | sed 's/^/  /'
    echo "  reproduce: $dir/fuzz/fuzz_$t $art/<file>; then add it to tests/hardening/fuzz_regression_test.cpp"
    return 1
  fi
  echo "fuzz $t: ${execs:-?} executions in ${seconds}s, no finding ($(ls "$work" | wc -l) inputs in the corpus)"
}
export -f run_one
export dir seconds
rc=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}' | tee "$dir/fuzz/summary.log" || rc=$?
failed=$(grep -c ': FAILED' "$dir/fuzz/summary.log" || true)
echo "fuzz: $(( ${#targets[@]} - failed )) passed, $failed failed"
exit $rc
