// Slice (steps of 1) and constant Pad run on the cpu unit as oneDNN reorders of sub-memory views, the
// same thing microbench measures for the slice and pad problems; other forms stay on the host. Both
// give the values ONNX defines.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "layoutdb/runtime.h"
#include "selector/graph.h"
#include "tests/runtime/plans.h"
#include "tests/selector/onnx_test_util.h"

namespace layoutdb {
namespace {

namespace fs = std::filesystem;
using selector::onnx_testing::MakeTempDir;
using selector::onnx_testing::Tiny;

TEST(GlueRuntime, SliceAndPadRunAsReordersAndMatchOnnx) {
  const fs::path dir = MakeTempDir("glue_rt");
  Tiny t(13);
  t.Input("x", {"1", "4", "5", "6"});
  // Channels 1..2, columns 2..5 (end past the edge, clamped), step 1: a reorder.
  t.Ints("st", {1, 2});
  t.Ints("en", {3, 100});
  t.Ints("ax", {1, -1});
  t.Ints("one", {1, 1});
  t.Node("Slice", {"x", "st", "en", "ax", "one"}, {"s"});
  // Pad H by (1, 0) and W by (0, 2) with 0.5: a fill and a reorder into the interior.
  t.Ints("pads", {0, 0, 1, 0, 0, 0, 0, 2});
  t.Floats("val", {}, 0.5f);
  t.Node("Pad", {"s", "pads", "val"}, {"p"});
  // A step of 2 stays on the host.
  t.Ints("two", {1, 2});
  t.Node("Slice", {"x", "st", "en", "ax", "two"}, {"s2"});
  t.Output("p", {});
  t.Output("s2", {});
  const std::string path = t.Write(dir / "glue_rt.onnx");
  const selector::Graph g = selector::ImportOnnx(path, {});
  Runtime rt = Runtime::Load(path, testing::UniformPlan(g, "cpu", "nchw"), {});
  std::vector<Tensor> ins = rt.InputSpecs();
  ins[0].Allocate();
  for (size_t i = 0; i < ins[0].f32.size(); ++i) ins[0].f32[i] = static_cast<float>(i);
  rt.Run(ins);
  // Nodes 0 (Slice), 1 (Pad) on the cpu unit; node 2 (Slice with step 2) on the host.
  EXPECT_EQ(rt.HostNodes(), std::vector<int>{2});
  const auto& outs = rt.Outputs();
  ASSERT_EQ(outs.size(), 2u);
  const Tensor& p = outs[0].name == "p" ? outs[0] : outs[1];
  const Tensor& s2 = outs[0].name == "p" ? outs[1] : outs[0];
  ASSERT_EQ(p.shape, (std::vector<int64_t>{1, 2, 6, 6}));
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t h = 0; h < 6; ++h)
      for (int64_t w = 0; w < 6; ++w) {
        const float want = h == 0 || w >= 4 ? 0.5f : static_cast<float>(((c + 1) * 5 + (h - 1)) * 6 + w + 2);
        EXPECT_EQ(p.f32[(c * 6 + h) * 6 + w], want) << c << "," << h << "," << w;
      }
  ASSERT_EQ(s2.shape, (std::vector<int64_t>{1, 2, 5, 2}));
  EXPECT_EQ(s2.f32[0], 1 * 30 + 2);
  EXPECT_EQ(s2.f32[1], 1 * 30 + 4);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace layoutdb
