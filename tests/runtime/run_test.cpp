// Whole models under plans: a layout changes memory order, never the answer — every example model's
// outputs under every layout of every unit (and under a plan that hops between units on every edge)
// equal its all-nchw execution; bad plans and inputs are refused with one line naming what and where.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fmt/format.h>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"
#include "runtime/backend.h"
#include "selector/graph.h"
#include "tests/runtime/plans.h"
#include "tests/sample.h"

namespace layoutdb {
namespace {

using testing::CyclePlan;
using testing::UniformPlan;

// Outputs under any plan vs all-nchw: |a - b| <= kRel * max(1, max |nchw output|). Layouts change
// the order of floating-point sums inside oneDNN's kernels (and OpenCL's), never more.
constexpr double kRel = 1e-3;

std::filesystem::path ModelsDir() {
  const char* b = std::getenv("LAYOUTDB_BINARY_DIR");
#ifdef LAYOUTDB_TEST_BINARY_DIR
  if (!b) b = LAYOUTDB_TEST_BINARY_DIR;
#endif
  return std::filesystem::path(b ? b : ".") / "models";
}

bool HaveOpencl() {
  try {
    runtime::MakeOclBackend("ocl:0:0");
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::vector<Tensor> Inputs(const Runtime& rt) { return testing::RandomInputs(rt, 12345); }

struct Case {
  std::string model;
  selector::InputShapes inputs;
  bool opencl = true;  // also every OpenCL layout (slow on PoCL for the big ones)
  // Also nchw in, nChw16c out at every node. oneDNN 2.6 has only its reference kernel for that pair past
  // a first convolution: on the 416x416 detector it was 34 of the test's 38 s.
  bool pairs = true;
};

void ExpectSameAsNchw(const Case& c) {
  const std::string path = (ModelsDir() / (c.model + ".onnx")).string();
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " not built (make_models)";
  const selector::Graph g = selector::ImportOnnx(path, c.inputs);
  RuntimeOptions ro;
  ro.inputs = c.inputs;
  Runtime ref = Runtime::Load(path, UniformPlan(g, "cpu", "nchw"), ro);
  const auto ins = Inputs(ref);
  ref.Run(ins);
  const std::vector<Tensor> want = ref.Outputs();
  double mag = 0;
  for (const auto& t : want)
    for (float v : t.f32) {
      ASSERT_TRUE(std::isfinite(v)) << c.model << ": all-nchw output is not finite";
      mag = std::max(mag, static_cast<double>(std::fabs(v)));
    }
  ASSERT_GT(mag, 0.0) << c.model << ": all-nchw outputs are all zero";
  std::vector<Plan> plans;
  std::vector<std::string> names;
  for (const char* l : {"nhwc", "nChw8c", "nChw16c", "any", "nchw>nChw16c"}) {
    if (!c.pairs && std::string(l).find('>') != std::string::npos) continue;
    plans.push_back(UniformPlan(g, "cpu", l));
    names.push_back(std::string("cpu/") + l);
  }
  if (c.opencl && HaveOpencl()) {
    for (const char* l : {"nchw", "nhwc", "nc4hw4"}) {
      plans.push_back(UniformPlan(g, "ocl:0:0", l));
      names.push_back(std::string("ocl:0:0/") + l);
    }
    // A transfer and a layout change on every edge.
    plans.push_back(CyclePlan(g, {{"cpu", "nChw16c"}, {"ocl:0:0", "nc4hw4"}, {"cpu", "nhwc"}}));
    names.push_back("cpu/nChw16c, ocl:0:0/nc4hw4, cpu/nhwc in turn");
  }
  // Under the sanitizers every 3rd plan (tests/sample.h): each runs the whole model, seconds there.
  const testing::Sample sample(c.model + " plans compared with all-nchw", 3);
  size_t taken = 0;
  for (size_t k = 0; k < plans.size(); ++k) {
    if (!sample.Take(k)) continue;
    ++taken;
    Runtime rt = Runtime::Load(path, plans[k], ro);
    rt.Run(ins);
    const auto& got = rt.Outputs();
    ASSERT_EQ(got.size(), want.size());
    for (size_t o = 0; o < want.size(); ++o) {
      ASSERT_EQ(got[o].shape, want[o].shape) << c.model << " " << names[k];
      double worst = 0;
      for (size_t i = 0; i < want[o].f32.size(); ++i)
        worst = std::max(worst, std::fabs(static_cast<double>(got[o].f32[i]) - want[o].f32[i]));
      EXPECT_LE(worst, kRel * std::max(1.0, mag))
          << c.model << " under " << names[k] << ": output " << want[o].name << " differs from nchw";
    }
  }
  sample.Report(taken, plans.size());
}

TEST(WholeModel, MobileNetV2UnderEveryLayoutEqualsNchw) {
  ExpectSameAsNchw({"mobilenetv2", {{"input", {1, 3, 224, 224}}}});
}
TEST(WholeModel, PaddleCnnWithConstantWeights) { ExpectSameAsNchw({"paddle_cnn", {}}); }
TEST(WholeModel, BertBlockDecomposedLayerNorm) {
  ExpectSameAsNchw({"bert_block", {{"hidden_states", {1, 128, 768}}}, true});
}
TEST(WholeModel, BertBlockLayerNormalization17) {
  ExpectSameAsNchw({"bert_block_ln17", {{"hidden_states", {1, 128, 768}}}, false});
}
TEST(WholeModel, PaddleDetectorWithFpnResize) {
  ExpectSameAsNchw({"paddle_det", {{"x", {1, 3, 160, 224}}}, false});
}
TEST(WholeModel, YoloDetectorWithConvTransposeHead) { ExpectSameAsNchw({"yolo_det", {}, false, false}); }

// ---- refusals ----

std::string LoadError(const std::string& model, const Plan& plan, const selector::InputShapes& in) {
  RuntimeOptions ro;
  ro.inputs = in;
  try {
    Runtime::Load(model, plan, ro);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

class Refusals : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = (ModelsDir() / "mobilenetv2.onnx").string();
    other_ = (ModelsDir() / "paddle_cnn.onnx").string();
    shapes_ = {{"input", {1, 3, 224, 224}}};
    g_ = selector::ImportOnnx(model_, shapes_);
  }
  std::string model_, other_;
  selector::InputShapes shapes_;
  selector::Graph g_;
};

TEST_F(Refusals, PlanForAnotherModel) {
  Plan p = UniformPlan(g_, "cpu", "nchw");
  p.model_hash = ModelHash(model_);
  EXPECT_EQ(LoadError(other_, p, {}),
            fmt::format("plan was made for another model: its model hash is {} ({}), {} hashes to {}",
                        p.model_hash, p.model, other_, ModelHash(other_)));
  p.model_hash.clear();  // no hash: the node lists still give it away
  EXPECT_NE(LoadError(other_, p, {}).find("plan for another model"), std::string::npos);
}

TEST_F(Refusals, UnitThisMachineLacks) {
  const std::string e = LoadError(model_, UniformPlan(g_, "ocl:7:3", "nchw"), shapes_);
  EXPECT_NE(e.find("ocl:7:3"), std::string::npos) << e;
  EXPECT_EQ(LoadError(model_, UniformPlan(g_, "gpu", "nchw"), shapes_),
            "plan sub-graph 0: unit 'gpu' does not exist on this machine");
}

TEST_F(Refusals, Int8AndBf16PlansOfAFloatModel) {
  Plan p = UniformPlan(g_, "cpu", "nchw");
  p.dtype = "int8";
  EXPECT_EQ(LoadError(model_, p, shapes_),
            fmt::format("plan for {} is int8: quantized execution is not supported yet (the runtime "
                        "executes f32 plans)",
                        model_));
  p.dtype = "bf16";
  EXPECT_NE(LoadError(model_, p, shapes_).find("bf16"), std::string::npos);
}

TEST_F(Refusals, MissingWrongShapeAndWrongTypeInputs) {
  Runtime rt = Runtime::Load(model_, UniformPlan(g_, "cpu", "nhwc"), {shapes_});
  auto run_error = [&](const std::vector<Tensor>& ins) -> std::string {
    try {
      rt.Run(ins);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(run_error({}), "input 'input' is missing");
  Tensor t = rt.InputSpecs()[0];
  t.shape = {1, 3, 200, 200};
  t.Allocate();
  EXPECT_EQ(run_error({t}),
            "input 'input': shape [1,3,200,200] given, the model (with --input) expects [1,3,224,224]");
  t.shape = {1, 3, 224, 224};
  t.dtype = "i64";
  t.Allocate();
  EXPECT_EQ(run_error({t}), "input 'input': dtype i64 given, the model expects f32");
  t.dtype = "f32";
  t.Allocate();
  t.f32.resize(100);  // a shape that promises more data than the tensor holds
  EXPECT_EQ(run_error({t}), "input 'input': 100 values given for shape [1,3,224,224] (150528)");
}

// Every Run() computes from the tensors it is given alone: the kernels read the caller's inputs in
// place (and leave them unchanged), and what one run left in the runtime's buffers does not leak into
// the next, in plain and in blocked layouts (whose buffers, reused within a run, hold channel padding).
TEST(RepeatedRuns, EachRunDependsOnItsOwnInputsOnly) {
  const std::string path = (ModelsDir() / "mobilenetv2.onnx").string();
  const selector::InputShapes in = {{"input", {1, 3, 224, 224}}};
  const selector::Graph g = selector::ImportOnnx(path, in);
  RuntimeOptions ro;
  ro.inputs = in;
  for (const std::string layout : {"nhwc", "nChw8c", "nChw16c"}) {
    SCOPED_TRACE(layout);
    Runtime rt = Runtime::Load(path, UniformPlan(g, "cpu", layout), ro);
    const std::vector<Tensor> a = testing::RandomInputs(rt, 1), b = testing::RandomInputs(rt, 2);
    const std::vector<Tensor> b_before = b;
    rt.Run(a);
    const std::vector<Tensor> out_a = rt.Outputs();
    rt.Run(b);
    const std::vector<Tensor> out_b = rt.Outputs();
    rt.Run(a);
    EXPECT_EQ(b[0].f32, b_before[0].f32) << "the runtime wrote into its caller's input";
    EXPECT_EQ(rt.Outputs()[0].f32, out_a[0].f32) << "a third run on the first input differs from the first";
    Runtime fresh = Runtime::Load(path, UniformPlan(g, "cpu", layout), ro);
    fresh.Run(b);
    EXPECT_EQ(out_b[0].f32, fresh.Outputs()[0].f32) << "a second run differs from a fresh runtime's first";
    EXPECT_NE(out_b[0].f32, out_a[0].f32);
  }
}

// Liveness: the cpu's activations share one arena, planned largest first, so what is allocated stays
// near the lower bound (the most bytes alive at one step), far below the sum of all activations.
// Slots reused whole left a Paddle detector 2.4x over its bound, its 640x640 layers' buffers idle.
TEST(Memory, ActivationsReuseBuffersByLiveness) {
  struct Case {
    std::string model;
    selector::InputShapes in;
  };
  for (const Case& c : {Case{"mobilenetv2", {{"input", {1, 3, 224, 224}}}},
                        Case{"paddle_det", {{"x", {1, 3, 640, 640}}}}, Case{"yolo_det", {}}}) {
    for (const std::string layout : {"nhwc", "nChw16c"}) {
      SCOPED_TRACE(c.model + " " + layout);
      const std::string path = (ModelsDir() / (c.model + ".onnx")).string();
      const selector::Graph g = selector::ImportOnnx(path, c.in);
      RuntimeOptions ro;
      ro.inputs = c.in;
      Runtime rt = Runtime::Load(path, UniformPlan(g, "cpu", layout), ro);
      int64_t all = 0;
      for (const auto& n : g.nodes)
        if (!n.is_constant)
          for (const auto& o : n.outputs) all += g.tensors.at(o).Elems() * 4;
      EXPECT_GE(rt.PeakActivationBytes(), rt.LivenessLowerBoundBytes());
      EXPECT_LE(rt.PeakActivationBytes(), rt.LivenessLowerBoundBytes() * 5 / 4)
          << "allocated " << rt.PeakActivationBytes() << " bytes for a lower bound of "
          << rt.LivenessLowerBoundBytes();
      EXPECT_LT(rt.PeakActivationBytes(), all / 4) << "allocated " << rt.PeakActivationBytes()
                                                   << " of " << all << " bytes of activations";
    }
  }
}

}  // namespace
}  // namespace layoutdb
