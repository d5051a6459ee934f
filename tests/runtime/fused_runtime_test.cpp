// Fused anchors as the runtime executes them: a binary post-op whose operand is a full-size tensor
// gives the same values in every layout (oneDNN 2.6's gemm convolution, chosen for small nhwc
// convolutions, computes wrong values when that operand is plain and dst is not), and a residual sum
// accumulates into its addend's buffer when the addend dies there, as an application does, instead
// of copying the addend into dst on every run.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"
#include "selector/graph.h"
#include "tests/runtime/plans.h"
#include "tests/selector/onnx_test_util.h"

namespace layoutdb {
namespace {

namespace fs = std::filesystem;
using selector::onnx_testing::MakeTempDir;
using selector::onnx_testing::Tiny;

std::vector<Tensor> RandomInputs(const Runtime& rt) { return testing::RandomInputs(rt, 777); }

double MaxDiff(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  double d = 0;
  for (size_t o = 0; o < a.size(); ++o)
    for (size_t i = 0; i < a[o].f32.size(); ++i)
      d = std::max(d, std::fabs(static_cast<double>(a[o].f32[i]) - b[o].f32[i]));
  return d;
}

bool NoteHas(const Runtime& rt, const std::string& what) {
  for (const auto& n : rt.Notes())
    if (n.find(what) != std::string::npos) return true;
  return false;
}

// Conv (small: oneDNN picks its gemm convolution in nhwc) followed by `ops`, each with a full-size
// operand: a graph input (a post-op operand bound at run time) or, with `constant`, an initializer
// whose values vary over every dimension (a post-op operand owned by the kernel).
std::string ConvThen(const fs::path& dir, const std::vector<std::string>& ops, int64_t c, int64_t hw,
                     bool constant) {
  Tiny t(13);
  const std::string C = std::to_string(c), H = std::to_string(hw);
  t.Input("x", {"1", C, H, H});
  t.Floats("w", {c, c, 3, 3}, 0.05f);
  // Weights that vary per output and input channel, so a channel mix-up changes the values.
  auto* w = t.g->mutable_initializer(0);
  for (int k = 0; k < w->float_data_size(); ++k)
    w->set_float_data(k, 0.01f * static_cast<float>((k * 37) % 23 - 11));
  auto* n = t.Node("Conv", {"x", "w"}, {"c0"});
  Tiny::IntsAttr(n, "kernel_shape", {3, 3});
  Tiny::IntsAttr(n, "pads", {1, 1, 1, 1});
  std::string name;
  for (size_t k = 0; k < ops.size(); ++k) {
    const std::string y = "y" + std::to_string(k), in = "c" + std::to_string(k), out = "c" + std::to_string(k + 1);
    if (constant) {
      t.Floats(y, {1, c, hw, hw});
      auto* v = t.g->mutable_initializer(t.g->initializer_size() - 1);
      for (int i = 0; i < v->float_data_size(); ++i)
        v->set_float_data(i, 0.05f * static_cast<float>((i * 13) % 29 - 14));
    } else {
      t.Input(y, {"1", C, H, H});
    }
    t.Node(ops[k], {in, y}, {out});
    name += ops[k];
  }
  if (constant) name += "_const";
  t.Output("c" + std::to_string(ops.size()), {});
  return t.Write(dir / (name + ".onnx"));
}

TEST(FusedRuntime, FullSizeBinaryPostOpGivesTheSameValuesInEveryLayout) {
  const fs::path dir = MakeTempDir("fused_rt");
  for (const bool constant : {false, true})
    for (const auto& [c, hw] : std::vector<std::pair<int64_t, int64_t>>{{3, 7}, {8, 6}, {16, 5}, {24, 9}}) {
      const std::vector<std::string> ops = {"Mul"};
      const std::string path = ConvThen(dir, ops, c, hw, constant);
      const std::string op = fmt::format("{}{}", fmt::join(ops, "+"), constant ? " (constant operand)" : "");
      const std::string fuses = fmt::format("fuses {} follower", ops.size());
      const selector::Graph g = selector::ImportOnnx(path, {});
      Runtime ref = Runtime::Load(path, testing::UniformPlan(g, "cpu", "nchw"), {});
      auto ins = RandomInputs(ref);
      ref.Run(ins);
      const std::vector<Tensor> want = ref.Outputs();
      for (const char* l : {"nhwc", "nChw8c", "nChw16c", "any", "nchw>nhwc"}) {
        Runtime rt = Runtime::Load(path, testing::UniformPlan(g, "cpu", l), {});
        // The follower is a post-op of the convolution, not a separate binary kernel.
        EXPECT_TRUE(NoteHas(rt, fuses)) << "Conv+" << op << " under cpu/" << l << ": " << fmt::format("{}", fmt::join(rt.Notes(), "; "));
        rt.Run(ins);
        EXPECT_LE(MaxDiff(rt.Outputs(), want), 1e-4)
            << "Conv+" << op << " c=" << c << " hw=" << hw << " under cpu/" << l << " differs from nchw";
      }
    }
  fs::remove_all(dir);
}

// Runs the model at `path` with every sub-graph on the cpu in each of its layouts: `check(layout,
// notes)` on the runtime's notes, then its outputs within `tol` of all-nchw's on the same inputs.
void EveryCpuLayoutAgainstNchw(const std::string& path, double tol,
                               const std::function<void(const std::string&, const std::string&)>& check) {
  const selector::Graph g = selector::ImportOnnx(path, {});
  Runtime ref = Runtime::Load(path, testing::UniformPlan(g, "cpu", "nchw"), {});
  const auto ins = RandomInputs(ref);
  ref.Run(ins);
  const std::vector<Tensor> want = ref.Outputs();
  for (const std::string l : {"nchw", "nhwc", "nChw8c", "nChw16c"}) {
    SCOPED_TRACE("cpu/" + l);
    Runtime rt = Runtime::Load(path, testing::UniformPlan(g, "cpu", l), {});
    check(l, fmt::format("{}", fmt::join(rt.Notes(), "; ")));
    rt.Run(ins);
    EXPECT_LE(MaxDiff(rt.Outputs(), want), tol);
  }
}

// Conv 3x3 (32 channels, constant weights) + LeakyRelu + Add of a graph input: oneDNN 2.6 has no
// optimised kernel for a sum after an eltwise post-op in the blocked layouts and falls back to
// `ref:any` (yolo_det's 208x208 one ran 2.8 s). The runtime then fuses fewer post-ops: no reference
// kernel under any layout, and the values stay ONNX's.
TEST(FusedRuntime, AChainOneDnnRunsOnlyInItsReferenceKernelIsFusedShorter) {
  const fs::path dir = MakeTempDir("fused_rt_ref");
  Tiny t(13);
  t.Input("x", {"1", "32", "12", "12"});
  t.Input("r", {"1", "32", "12", "12"});
  t.Floats("w", {32, 32, 3, 3}, 0.02f);
  auto* n = t.Node("Conv", {"x", "w"}, {"c"});
  Tiny::IntsAttr(n, "kernel_shape", {3, 3});
  Tiny::IntsAttr(n, "pads", {1, 1, 1, 1});
  auto* lr = t.Node("LeakyRelu", {"c"}, {"l"});
  auto* alpha = lr->add_attribute();
  alpha->set_name("alpha");
  alpha->set_type(onnx::AttributeProto::FLOAT);
  alpha->set_f(0.1f);
  t.Node("Add", {"l", "r"}, {"y"});
  t.Output("y", {});
  EveryCpuLayoutAgainstNchw(t.Write(dir / "conv_leaky_add.onnx"), 1e-4,
                            [](const std::string&, const std::string& notes) {
                              EXPECT_EQ(notes.find("ref:"), std::string::npos) << notes;
                            });
  fs::remove_all(dir);
}

// A hard-swish-like chain x * Clip(x + 3, 0, 6) / 4 (divided by 4, so that the importer does not
// write it as one HardSwish, as it does paddle2onnx's / 6), the Add and Div with a constant scalar;
// then a squeeze-excitation Mul by a [1,C,1,1] tensor computed at run time. In the
// blocked layouts oneDNN 2.6's binary reads a plain scalar or per-channel operand in its reference
// loop (paddle_det: 46 ms for one Add+Clip, 18 ms for an SE Mul): the runtime runs the scalars as a
// linear eltwise and reads the per-channel operand in src's layout. No reference kernel but one, and
// ONNX's values everywhere: in nChw8c oneDNN 2.6 has no jit binary with a broadcast operand in any
// format (only nChw16c's own), and the notes say that one kernel is the reference loop.
TEST(FusedRuntime, ScalarAndPerChannelOperandsRunWithoutAReferenceKernel) {
  const fs::path dir = MakeTempDir("fused_rt_scalar");
  Tiny t(13);
  t.Input("x", {"1", "16", "10", "10"});
  t.Floats("three", {}, 3.0f);
  t.Floats("six", {}, 6.0f);
  t.Floats("four", {}, 4.0f);
  t.Floats("lo", {}, 0.0f);
  t.Node("Add", {"x", "three"}, {"a"});
  t.Node("Clip", {"a", "lo", "six"}, {"c"});
  t.Node("Mul", {"x", "c"}, {"m"});
  t.Node("Div", {"m", "four"}, {"h"});
  // A squeeze-excitation scale: h * Sigmoid(GlobalAveragePool(h)), a [1,16,1,1] operand at run time.
  t.Node("GlobalAveragePool", {"h"}, {"p"});
  t.Node("Sigmoid", {"p"}, {"s"});
  t.Node("Mul", {"h", "s"}, {"y"});
  t.Output("y", {});
  EveryCpuLayoutAgainstNchw(t.Write(dir / "hardswish_se.onnx"), 1e-5,
                            [](const std::string& l, const std::string& notes) {
                              if (l == "nChw8c")
                                EXPECT_EQ(notes, "sub-graph 3: node 6 (Mul 'y') runs oneDNN's reference kernel (ref:any)");
                              else
                                EXPECT_EQ(notes.find("reference kernel"), std::string::npos) << notes;
                            });
  fs::remove_all(dir);
}

// A 3-channel convolution with a fused activation in a blocked layout: oneDNN 2.6 has only its
// reference loop for it, whatever the chain's length (YOLO's first convolution in nChw8c ran 1084 ms
// where the database's other shapes promised 0.8 ms). The runtime still computes ONNX's values, and says
// so as a warning, which `run` prints: nobody should mistake that plan's time for the layout's.
TEST(FusedRuntime, AFusedChainOnAReferenceKernelIsAWarning) {
  const fs::path dir = MakeTempDir("fused_rt_ref_warn");
  Tiny t(13);
  t.Input("x", {"1", "3", "12", "12"});
  t.Floats("w", {8, 3, 3, 3}, 0.05f);
  auto* n = t.Node("Conv", {"x", "w"}, {"c"});
  Tiny::IntsAttr(n, "kernel_shape", {3, 3});
  Tiny::IntsAttr(n, "pads", {1, 1, 1, 1});
  t.Node("Relu", {"c"}, {"y"});
  t.Output("y", {});
  const std::string path = t.Write(dir / "conv3_relu.onnx");
  const selector::Graph g = selector::ImportOnnx(path, {});
  Runtime nchw = Runtime::Load(path, testing::UniformPlan(g, "cpu", "nchw"), {});
  EXPECT_TRUE(nchw.Warnings().empty()) << fmt::format("{}", fmt::join(nchw.Warnings(), "; "));
  Runtime blocked = Runtime::Load(path, testing::UniformPlan(g, "cpu", "nChw8c"), {});
  const std::string warnings = fmt::format("{}", fmt::join(blocked.Warnings(), "; "));
  if (blocked.Warnings().empty()) GTEST_SKIP() << "this oneDNN has an optimised kernel for it: " << fmt::format("{}", fmt::join(blocked.Notes(), "; "));
  EXPECT_EQ(warnings, "sub-graph 0: node 0 (Conv 'c') fuses 1 follower and runs oneDNN's reference kernel (ref:any)");
  // Every warning is also a note.
  for (const auto& w : blocked.Warnings())
    EXPECT_NE(std::find(blocked.Notes().begin(), blocked.Notes().end(), w), blocked.Notes().end());
  const auto ins = RandomInputs(nchw);
  nchw.Run(ins);
  blocked.Run(ins);
  EXPECT_LE(MaxDiff(blocked.Outputs(), nchw.Outputs()), 1e-5);
  fs::remove_all(dir);
}

// a = Relu(x); b = Conv1x1(a) (every weight 0.5); z = Conv1x1(a) (every weight 0.25) + b: the residual b
// is read last by the sum, so the second convolution accumulates into b's buffer. With `self`, the
// residual is a itself, which the convolution also reads: no longer in place. Either way z equals
// what ONNX defines, run after run.
std::string Residual(const fs::path& dir, bool self) {
  Tiny t(13);
  t.Input("x", {"1", "8", "5", "5"});
  t.Floats("w1", {8, 8, 1, 1}, 0.5f);
  t.Floats("w2", {8, 8, 1, 1}, 0.25f);
  t.Node("Relu", {"x"}, {"a"});
  t.Node("Conv", {"a", "w1"}, {"b"});
  t.Node("Conv", {"a", "w2"}, {"c"});
  t.Node("Add", {"c", self ? "a" : "b"}, {"z"});
  t.Output("z", {});
  if (self) t.Output("b", {});
  return t.Write(dir / (self ? "residual_self.onnx" : "residual.onnx"));
}

TEST(FusedRuntime, ResidualSumAccumulatesInPlaceWhereTheAddendDies) {
  const fs::path dir = MakeTempDir("fused_rt_sum");
  for (const bool self : {false, true})
    for (const char* l : {"nchw", "nhwc", "nChw8c", "nChw16c", "any"}) {
      SCOPED_TRACE(std::string(self ? "residual read by the conv too, " : "") + "cpu/" + l);
      const std::string path = Residual(dir, self);
      const selector::Graph g = selector::ImportOnnx(path, {});
      Runtime rt = Runtime::Load(path, testing::UniformPlan(g, "cpu", l), {});
      EXPECT_TRUE(NoteHas(rt, "fuses 1 follower")) << fmt::format("{}", fmt::join(rt.Notes(), "; "));
      EXPECT_EQ(NoteHas(rt, "1 residual sum accumulates into the addend's buffer in place"), !self)
          << fmt::format("{}", fmt::join(rt.Notes(), "; "));
      const auto ins = RandomInputs(rt);
      for (int run = 0; run < 3; ++run) {  // a sum in place must not accumulate across runs
        rt.Run(ins);
        const Tensor* z = nullptr;
        for (const auto& t : rt.Outputs())
          if (t.name == "z") z = &t;
        ASSERT_NE(z, nullptr);
        for (int64_t h = 0; h < 25; ++h) {
          double sum = 0;  // over channels of relu(x)
          for (int64_t c = 0; c < 8; ++c) sum += std::max(0.0f, ins[0].f32[c * 25 + h]);
          for (int64_t c = 0; c < 8; ++c) {
            const double want = self ? 0.25 * sum + std::max(0.0f, ins[0].f32[c * 25 + h]) : 0.75 * sum;
            ASSERT_NEAR(z->f32[c * 25 + h], want, 1e-4) << "run " << run << " c " << c << " pixel " << h;
          }
        }
      }
    }
  fs::remove_all(dir);
}

// ConvTranspose -> BN -> Relu: the BN folds into the deconvolution, the Relu runs as its own eltwise
// primitive (oneDNN 2.6 runs a deconvolution with an eltwise post-op 10-15x slower), the values those
// of all-nchw in every layout.
TEST(FusedRuntime, ADeconvolutionFoldsBatchNormAndRunsItsActivationApart) {
  const fs::path dir = MakeTempDir("fused_rt_deconv");
  Tiny t(13);
  t.Input("x", {"1", "8", "6", "6"});
  t.Floats("W", {8, 8, 2, 2});
  auto* w = t.g->mutable_initializer(0);
  for (int k = 0; k < w->float_data_size(); ++k) w->set_float_data(k, 0.02f * static_cast<float>((k * 7) % 13 - 6));
  auto* d = t.Node("ConvTranspose", {"x", "W"}, {"d"});
  Tiny::IntsAttr(d, "kernel_shape", {2, 2});
  Tiny::IntsAttr(d, "strides", {2, 2});
  t.Floats("bn_s", {8}, 2.0f);
  t.Floats("bn_b", {8}, 0.0f);
  t.Floats("bn_m", {8}, 0.01f);
  t.Floats("bn_v", {8}, 1.0f);
  t.Node("BatchNormalization", {"d", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"});
  t.Node("Relu", {"bn"}, {"y"});
  t.Output("y", {});
  const std::string path = t.Write(dir / "deconv.onnx");
  const selector::Graph g = selector::ImportOnnx(path, {});
  Runtime ref = Runtime::Load(path, testing::UniformPlan(g, "cpu", "nchw"), {});
  const auto ins = RandomInputs(ref);
  ref.Run(ins);
  const std::vector<Tensor> want = ref.Outputs();
  int positive = 0, zero = 0;
  for (float v : want[0].f32) (v > 0 ? positive : zero) += 1;
  EXPECT_GT(positive, 0);
  EXPECT_GT(zero, 0);  // the Relu ran
  for (const char* l : {"nchw", "nhwc", "nChw8c", "nChw16c", "any"}) {
    Runtime rt = Runtime::Load(path, testing::UniformPlan(g, "cpu", l), {});
    EXPECT_TRUE(NoteHas(rt, "fuses 1 follower")) << l << ": " << fmt::format("{}", fmt::join(rt.Notes(), "; "));
    EXPECT_FALSE(NoteHas(rt, "fuses 2 followers")) << l;
    rt.Run(ins);
    EXPECT_LE(MaxDiff(rt.Outputs(), want), 1e-5) << "cpu/" << l;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace layoutdb
