// Linked into every test program: exports where the layoutdb program and the source and build trees
// are, as environment variables the suites (and the programs they start) read; keeps the kernel caches
// (PoCL's and layoutdb's own program binaries) inside the build tree, never in the user's home; and
// keeps the placement gate from waiting. A variable already set in the environment wins.
#include <cstdlib>
#include <string>

namespace {

struct TestEnvironment {
  TestEnvironment() {
    setenv("LAYOUTDB_BIN", LAYOUTDB_TEST_BIN, /*overwrite=*/0);
    setenv("LAYOUTDB_SOURCE_DIR", LAYOUTDB_TEST_SOURCE_DIR, 0);
    setenv("LAYOUTDB_BINARY_DIR", LAYOUTDB_TEST_BINARY_DIR, 0);
    // OpenCL kernels: the microbench suite checks every kernel against its reference as the sweep and
    // the runtime build it (optimised, specialised per work-group size). The other suites run whole
    // models, sweeps and plans through the same kernels for what they produce, not how fast: there PoCL
    // compiles without optimisation and one kernel per work-group shape. In a fresh tree (CI) PoCL's
    // compiles were 400 of the normal suite's 1020 test-seconds; without optimisation 230 (ctest -j2
    // 513 s -> 436 s, side by side). Each flavour has its own caches, so neither is served the other's
    // binaries. LAYOUTDB_TEST_CACHE_ROOT puts them in another build's tree (scripts/sanitize.sh).
    const bool optimised = std::string(LAYOUTDB_TEST_SUITE) == "microbench";
    if (!optimised) {
      setenv("POCL_EXTRA_BUILD_FLAGS", "-cl-opt-disable", 0);
      setenv("POCL_WORK_GROUP_SPECIALIZATION", "0", 0);
    }
    const char* root_env = std::getenv("LAYOUTDB_TEST_CACHE_ROOT");
    const std::string root = root_env && *root_env ? root_env : LAYOUTDB_TEST_BINARY_DIR;
    const std::string flavour = optimised ? "" : "-O0";
    setenv("POCL_CACHE_DIR", (root + "/pocl-cache" + flavour).c_str(), 0);
    setenv("LAYOUTDB_CACHE_DIR", (root + "/ocl-cache" + flavour).c_str(), 0);
    // ctest runs suites side by side on few cores: a probe's partner thread is then often descheduled,
    // which the placement gate would read as threads apart and wait for. The programs the tests start
    // time every pass as the machine is (as --no-settle / --settle-s 0); the gate still counts.
    setenv("LAYOUTDB_NO_SETTLE", "1", 0);
  }
};
const TestEnvironment kTestEnvironment;

}  // namespace
