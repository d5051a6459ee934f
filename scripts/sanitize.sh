#!/usr/bin/env bash
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer (clang, LAYOUTDB_SANITIZE=ON,
# with LAYOUTDB_FUZZ=ON so that the same build holds the fuzz targets scripts/fuzz.sh runs) into
# build-sanitize/, and runs the test suite under it. Any sanitizer report fails the test it happens in.
#   bash scripts/sanitize.sh          # build, then test
#   bash scripts/sanitize.sh build    # only build (scripts/test.sh times the two steps apart)
#   bash scripts/sanitize.sh test     # only test what is built
# Environment: LAYOUTDB_SANITIZE_DIR (default build-sanitize).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${LAYOUTDB_SANITIZE_DIR:-build-sanitize}
step=${1:-all}
start=$SECONDS
if [[ $step != test ]]; then
  # -O1 with line tables: a third of -O3's compile time, readable stack traces; the suites' own code at
  # -O0 (55% of -O1's compile time under ASan). The libraries at -O0 too built 115 s faster in a fresh
  # root on a 2-vCPU EPYC but made the sanitized tests 230 test-seconds slower (the sweeps run our
  # harness and database code at every repetition): net nothing, so not used.
  # The suites built here: those of the code that reads what comes from outside (files, models, plans)
  # and runs it: db, selector, runtime, hardening (which runs every command of the sanitized program:
  # sweeps killed and resumed, merges, reports read while a sweep writes, ...). The microbench,
  # profiler and reports suites run in the normal build: most of their time is measuring, which the
  # sanitizers would only slow (they were 330 of this stage's 1140 test-seconds and a fifth of its
  # compiling); their code runs sanitized here through the program the hardening suite starts.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" \
    "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DLAYOUTDB_SANITIZE=ON -DLAYOUTDB_FUZZ=ON -DLAYOUTDB_BUILD_BENCH=OFF -DLAYOUTDB_TEST_OPT=-O0 \
    "-DLAYOUTDB_TEST_SUITES=${LAYOUTDB_SANITIZE_SUITES-db;selector;runtime;hardening}" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
fi
built=$SECONDS
[[ $step != build ]] || { echo "sanitizers: build $((built - start)) s"; exit 0; }
supp=$PWD/tests/hardening/sanitizers
# intercept_tls_get_addr=0: clang 14's runtime (as every one before LLVM 17) takes a dynamic TLS block
# that happens to start 16 bytes into a page for a pre-2.25 glibc one and reads a bogus range from the
# words before it; with PoCL's threads (PoCL is dlopen'ed: dynamic TLS) LeakSanitizer's tracer then
# died with SIGSEGV at exit of an OpenCL test that had passed. Off, leak checking stays on for every test.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0:intercept_tls_get_addr=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp}
# Left out under the sanitizers (it runs in the normal build): Install.*, which builds an app without the
# sanitizers against the installed (sanitized) static libraries: that cannot link. Every other test of
# the suites built here runs; the heavy ones take a sample of their cases here (tests/sample.h: every
# 20th libonnx-testdata model, every 6th kill moment, ...; each prints what it covered and the seed that
# repeats it).
exclude=${LAYOUTDB_SANITIZE_EXCLUDE-^Install\\.}
# The OpenCL kernel caches (PoCL's and layoutdb's, tests/test_env.cpp): the normal build's, warm after
# its tests, where there is one, instead of cold ones here: compiling the OpenCL kernels again took
# minutes of this stage. They are keyed by kernel source, options and device: sharing changes no result.
if [[ -d build ]]; then export LAYOUTDB_TEST_CACHE_ROOT=${LAYOUTDB_TEST_CACHE_ROOT:-$PWD/build}; fi
# The quick sweep the hardening and runtime tests read (tests/quick_db.h): the normal build's, where it
# has made one, instead of sweeping again under the sanitizers (125 s on a 2-vCPU EPYC). It is data;
# the sweep code itself runs sanitized in the sweep and kill tests.
quick=$(ls -t build/hardening/quick-cpu-f32-*.db 2>/dev/null | head -1 || true)
if [[ -n $quick ]]; then export LAYOUTDB_QUICK_DB=${LAYOUTDB_QUICK_DB:-$PWD/$quick}; fi
rc=0
(cd "$dir" && ctest --output-on-failure -j 2 ${exclude:+-E "$exclude"}) || rc=$?
echo "sanitizers: $([[ $step == test ]] || echo "build $((built - start)) s, ")tests $((SECONDS - built)) s"
exit $rc
