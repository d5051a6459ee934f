// Linked into every test program: exports where the layoutdb program and the source and build trees
// are, as environment variables the suites (and the programs they start) read, and keeps PoCL's kernel
// cache inside the build tree. A variable already set in the environment wins.
#include <cstdlib>
#include <string>

namespace {

struct TestEnvironment {
  TestEnvironment() {
    setenv("LAYOUTDB_BIN", LAYOUTDB_TEST_BIN, /*overwrite=*/0);
    setenv("LAYOUTDB_SOURCE_DIR", LAYOUTDB_TEST_SOURCE_DIR, 0);
    setenv("LAYOUTDB_BINARY_DIR", LAYOUTDB_TEST_BINARY_DIR, 0);
    setenv("POCL_CACHE_DIR", (std::string(LAYOUTDB_TEST_BINARY_DIR) + "/pocl-cache").c_str(), 0);
  }
};
const TestEnvironment kTestEnvironment;

}  // namespace
