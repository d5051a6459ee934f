// Linked into every test program: exports where the layoutdb program and the source and build trees
// are, as environment variables the suites (and the programs they start) read, and keeps PoCL's kernel
// cache inside the build tree, and keeps the placement gate from waiting. A variable already set in the
// environment wins.
#include <cstdlib>
#include <string>

namespace {

struct TestEnvironment {
  TestEnvironment() {
    setenv("LAYOUTDB_BIN", LAYOUTDB_TEST_BIN, /*overwrite=*/0);
    setenv("LAYOUTDB_SOURCE_DIR", LAYOUTDB_TEST_SOURCE_DIR, 0);
    setenv("LAYOUTDB_BINARY_DIR", LAYOUTDB_TEST_BINARY_DIR, 0);
    setenv("POCL_CACHE_DIR", (std::string(LAYOUTDB_TEST_BINARY_DIR) + "/pocl-cache").c_str(), 0);
    // ctest runs suites side by side on few cores: a probe's partner thread is then often descheduled,
    // which the placement gate would read as threads apart and wait for. The programs the tests start
    // time every pass as the machine is (as --no-settle / --settle-s 0); the gate still counts.
    setenv("LAYOUTDB_NO_SETTLE", "1", 0);
  }
};
const TestEnvironment kTestEnvironment;

}  // namespace
