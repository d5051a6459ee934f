// The quick sweep the build's tests share (tests/quick_db.h), made by a test of its own that ctest runs
// first (a fixture: tests/CMakeLists.txt), so that no test that reads it holds one of ctest's slots while
// it waits for the sweep. Disabled for plain runs of the program: the tests that read it make it too.
#include <gtest/gtest.h>

#include "hardening_util.h"

namespace layoutdb::hardening {
namespace {

TEST(QuickDb, DISABLED_MadeOnceForTheBuild) {
  const std::string db = QuickDb();
  ASSERT_FALSE(db.empty());
  EXPECT_EQ(IntegrityCheck(db), "ok");
  EXPECT_NE(Scalar(db, "SELECT count(*) FROM measurements"), "0");
}

}  // namespace
}  // namespace layoutdb::hardening
