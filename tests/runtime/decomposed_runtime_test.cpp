// The decomposed LayerNorm, GELU and hard-swish chains the importer writes as one operator
// (selector/onnx_patterns.cpp) compute what the chains define: each is run on the cpu unit (and on
// the first OpenCL device when there is one) and compared with the chain's arithmetic done here in
// double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"
#include "runtime/backend.h"
#include "selector/graph.h"
#include "tests/runtime/plans.h"
#include "tests/selector/onnx_test_util.h"

namespace layoutdb {
namespace {

namespace fs = std::filesystem;
using selector::onnx_testing::MakeTempDir;
using selector::onnx_testing::Tiny;

// Runs the one-input model at `path` under a uniform plan on (unit, layout) with x[i] = f(i), and
// compares its only output with want(x[i]) (element-wise ops) or want_all(x) (the whole tensor).
void ExpectComputes(const std::string& path, const std::string& unit, const std::string& layout,
                    const std::function<float(size_t)>& f,
                    const std::function<std::vector<double>(const std::vector<float>&)>& want,
                    const std::string& op) {
  SCOPED_TRACE(unit + "/" + layout);
  const selector::Graph g = selector::ImportOnnx(path, {});
  size_t ops = 0;
  for (const auto& n : g.nodes) ops += !n.is_constant && n.op_type == op;
  ASSERT_EQ(ops, 1u) << "the chain was not written as one " << op;
  Runtime rt = Runtime::Load(path, testing::UniformPlan(g, unit, layout), {});
  std::vector<Tensor> ins = rt.InputSpecs();
  ins[0].Allocate();
  for (size_t i = 0; i < ins[0].f32.size(); ++i) ins[0].f32[i] = f(i);
  rt.Run(ins);
  EXPECT_TRUE(rt.HostNodes().empty()) << "a node ran on the host, not in the unit's kernel";
  const std::vector<double> expected = want(ins[0].f32);
  const Tensor& y = rt.Outputs().at(0);
  ASSERT_EQ(y.f32.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(y.f32[i], expected[i], 2e-5 * std::max(1.0, std::fabs(expected[i]))) << "element " << i;
}

// The cpu, and the first OpenCL device when this machine has one.
std::vector<std::pair<std::string, std::string>> States() {
  std::vector<std::pair<std::string, std::string>> s = {{"cpu", "nchw"}};
  try {
    runtime::MakeOclBackend("ocl:0:0");
    s.push_back({"ocl:0:0", "nchw"});
  } catch (const std::exception& e) {
    std::cout << "no OpenCL device (" << e.what() << "): the cpu only\n";
  }
  return s;
}

TEST(DecomposedRuntime, LayerNormComputesTheChainsNormalisation) {
  const fs::path dir = MakeTempDir("dec_ln");
  Tiny t(13);
  selector::onnx_testing::DecomposedLayerNorm(t, {1.5f, -0.5f, 2.0f, 1.0f, 0.25f, 3.0f, -1.0f, 0.75f},
                                              {0.1f, 0.2f, -0.3f, 0.4f, 0.0f, -1.0f, 2.0f, 0.5f});
  const std::string path = t.Write(dir / "ln.onnx");
  const std::vector<double> gamma = {1.5, -0.5, 2.0, 1.0, 0.25, 3.0, -1.0, 0.75};
  const std::vector<double> beta = {0.1, 0.2, -0.3, 0.4, 0.0, -1.0, 2.0, 0.5};
  auto want = [&](const std::vector<float>& x) {
    std::vector<double> y(x.size());
    for (size_t r = 0; r < x.size() / 8; ++r) {
      double mean = 0, var = 0;
      for (size_t c = 0; c < 8; ++c) mean += x[r * 8 + c] / 8.0;
      for (size_t c = 0; c < 8; ++c) var += (x[r * 8 + c] - mean) * (x[r * 8 + c] - mean) / 8.0;
      for (size_t c = 0; c < 8; ++c)
        y[r * 8 + c] = (x[r * 8 + c] - mean) / std::sqrt(var + 1e-5) * gamma[c] + beta[c];
    }
    return y;
  };
  for (const auto& [unit, layout] : States())
    ExpectComputes(path, unit, layout, [](size_t i) { return std::sin(0.7f * static_cast<float>(i)) * 3; }, want,
                   "LayerNormalization");
  fs::remove_all(dir);
}

// GELU in the three orders exporters write it; x / sqrt 2 or x * (1 / sqrt 2).
TEST(DecomposedRuntime, GeluInEachExportersOrderComputesTheExactGelu) {
  const fs::path dir = MakeTempDir("dec_gelu");
  for (int order = 0; order < 3; ++order) {
    SCOPED_TRACE(order);
    Tiny t(13);
    t.Input("x", {"1", "8", "4", "4"});
    t.Floats("one", {}, 1.0f);
    t.Floats("half", {}, 0.5f);
    if (order == 1) {
      t.Floats("rs2", {}, 0.70710678f);
      t.Node("Mul", {"rs2", "x"}, {"s"});
    } else {
      t.Floats("s2", {}, 1.4142135f);
      t.Node("Div", {"x", "s2"}, {"s"});
    }
    t.Node("Erf", {"s"}, {"e"});
    t.Node("Add", {"e", "one"}, {"a"});
    if (order == 0) {  // x * (1 + erf) * 0.5
      t.Node("Mul", {"x", "a"}, {"m"});
      t.Node("Mul", {"m", "half"}, {"y"});
    } else if (order == 1) {  // x * ((1 + erf) * 0.5)
      t.Node("Mul", {"a", "half"}, {"m"});
      t.Node("Mul", {"x", "m"}, {"y"});
    } else {  // (x * 0.5) * (1 + erf)
      t.Node("Mul", {"x", "half"}, {"h"});
      t.Node("Mul", {"h", "a"}, {"y"});
    }
    t.Output("y", {"1", "8", "4", "4"});
    const std::string path = t.Write(dir / ("gelu" + std::to_string(order) + ".onnx"));
    auto want = [](const std::vector<float>& x) {
      std::vector<double> y;
      for (float v : x) y.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
      return y;
    };
    for (const auto& [unit, layout] : States())
      ExpectComputes(path, unit, layout, [](size_t i) { return (static_cast<float>(i % 97) - 48) / 8; }, want, "Gelu");
  }
  fs::remove_all(dir);
}

// paddle2onnx's hard_swish at opset 11: constants in Constant nodes, Clip's bounds as inputs.
TEST(DecomposedRuntime, PaddleHardSwishComputesTheClippedProduct) {
  const fs::path dir = MakeTempDir("dec_hs");
  Tiny t(11);
  t.Input("x", {"1", "8", "4", "4"});
  auto constant = [&](const std::string& name, float v) {
    auto* n = t.Node("Constant", {}, {name});
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(v);
  };
  constant("three", 3.0f);
  constant("zero", 0.0f);
  constant("six_max", 6.0f);
  constant("six", 6.0f);
  t.Node("Add", {"x", "three"}, {"x3"});
  t.Node("Clip", {"x3", "zero", "six_max"}, {"c"});
  t.Node("Mul", {"x", "c"}, {"m"});
  t.Node("Div", {"m", "six"}, {"y"});
  t.Output("y", {"1", "8", "4", "4"});
  const std::string path = t.Write(dir / "hs.onnx");
  auto want = [](const std::vector<float>& x) {
    std::vector<double> y;
    for (float v : x) y.push_back(v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6);
    return y;
  };
  for (const auto& [unit, layout] : States())
    ExpectComputes(path, unit, layout, [](size_t i) { return (static_cast<float>(i % 101) - 50) / 6; }, want,
                   "HardSwish");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace layoutdb
