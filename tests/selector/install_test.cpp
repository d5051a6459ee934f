// The installed package: `cmake --install` into a temporary prefix, configure and build examples/app
// against it with find_package(layoutdb), and run it on a small database and model.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "layoutdb/selector.h"
#include "synthetic_db.h"
#include "tests/shell.h"

namespace layoutdb::selector {
namespace {

using layoutdb::testing::Shell;

TEST(Install, ExampleAppBuildsAgainstTheInstalledPackageAndRuns) {
  std::string out;
  if (Shell("cmake --version", &out) != 0) GTEST_SKIP() << "cmake is not installed";
  const std::string bin = testing::BinaryDir(), src = testing::SourceDir();
  if (!std::filesystem::exists(std::filesystem::path(bin) / "cmake_install.cmake"))
    GTEST_SKIP() << "no build directory with install rules at '" << bin << "'";
  const std::string model =
      "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (libonnx-testdata)";

  testing::TempDir dir;
  const std::string prefix = dir.File("prefix"), build = dir.File("build");
  ASSERT_EQ(Shell(fmt::format("cmake --install '{}' --prefix '{}'", bin, prefix), &out), 0) << out;
  for (const char* f : {"include/layoutdb/selector.h", "include/layoutdb/selector_c.h",
                        "lib/cmake/layoutdb/layoutdbConfig.cmake", "lib/cmake/layoutdb/layoutdbTargets.cmake"})
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(prefix) / f)) << f;
  ASSERT_EQ(Shell(fmt::format("cmake -S '{}/examples/app' -B '{}' -DCMAKE_PREFIX_PATH='{}' "
                            "-DCMAKE_BUILD_TYPE=Release",
                            src, build, prefix),
                &out),
            0)
      << out;
  ASSERT_EQ(Shell(fmt::format("cmake --build '{}'", build), &out), 0) << out;

  {
    testing::SyntheticDb db(dir.File("app.db"));
    const std::string key = "conv2d:mb1ic1ih7iw5oc1kh3kw3sh2sw2ph1pw1g1";
    db.Op(key, "cpu", "nchw", 3);
    db.Op(key, "cpu", "nhwc", 1.5);
    db.Reorder("cpu", "nchw", "nhwc", 1, 1, 7, 5, 0.25);
    db.Reorder("cpu", "nhwc", "nchw", 1, 1, 4, 3, 0.25);
    db.Close();
  }
  const std::string app = (std::filesystem::path(build) / "example_app").string();
  ASSERT_EQ(Shell(fmt::format("'{}' '{}' '{}'", app, dir.File("app.db"), model), &out), 0) << out;
  // The same plan as the library in this process: nhwc is twice as fast here.
  const Plan plan = Selector::Open(dir.File("app.db")).Select(model, {});
  ASSERT_EQ(plan.subgraphs.size(), 1u);
  EXPECT_EQ(plan.subgraphs[0].layout, "nhwc");
  EXPECT_EQ(out, fmt::format("sub-graph 0: cpu nhwc 1.5 us\ntotal {:.1f} us\n", plan.total_predicted_us));
  // Its errors are one line and a non-zero exit.
  EXPECT_EQ(Shell(fmt::format("'{}' '{}' '{}'", app, dir.File("none.db"), model), &out), 1);
  EXPECT_NE(out.find("error: "), std::string::npos) << out;
  EXPECT_NE(out.find(dir.File("none.db")), std::string::npos) << out;
}

}  // namespace
}  // namespace layoutdb::selector
