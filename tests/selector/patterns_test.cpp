// The importer writes decomposed LayerNorm, GELU and hard-swish chains as the one operator they
// compute (selector/onnx_patterns.cpp), and leaves every chain that differs in any constant, axis or
// reader as it is. The values they compute are checked in tests/runtime/decomposed_runtime_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "selector/graph.h"
#include "selector/onnx_patterns.h"
#include "tests/selector/onnx_test_util.h"

namespace layoutdb::selector {
namespace {

namespace fs = std::filesystem;
using onnx_testing::MakeTempDir;
using onnx_testing::ModelsDir;
using onnx_testing::Tiny;

std::map<std::string, int> OpCounts(const Graph& g) {
  std::map<std::string, int> c;
  for (const auto& n : g.nodes)
    if (!n.is_constant) ++c[n.op_type];
  return c;
}

// A decomposed LayerNorm over 8 channels (onnx_test_util.h), varied by `exponent` and `axis`.
void DecomposedLayerNorm(Tiny& t, float exponent = 2.0f, int64_t axis = -1) {
  onnx_testing::DecomposedLayerNorm(t, std::vector<float>(8, 1.5f), std::vector<float>(8, 0.25f), 1e-5f,
                                    exponent, axis);
}

TEST(Patterns, DecomposedLayerNormBecomesOneLayerNormalization) {
  const fs::path dir = MakeTempDir("pat_ln");
  Tiny t(13);
  DecomposedLayerNorm(t);
  const Graph g = ImportOnnx(t.Write(dir / "ln.onnx"), {});
  ASSERT_EQ(OpCounts(g), (std::map<std::string, int>{{"LayerNormalization", 1}}));
  const Node& ln = g.nodes.back();
  EXPECT_EQ(ln.inputs, (std::vector<std::string>{"x", "gamma", "beta"}));
  EXPECT_EQ(ln.outputs, std::vector<std::string>{"y"});
  ASSERT_TRUE(ln.problem.has_value());
  EXPECT_EQ(ln.problem->op(), "lnorm");
  EXPECT_EQ(g.tensors.at("y").shape, (std::vector<int64_t>{1, 4, 8}));
  bool noted = false;
  for (const auto& n : g.notes) noted = noted || n.find("1 LayerNormalization (9 nodes each)") != std::string::npos;
  EXPECT_TRUE(noted);
  fs::remove_all(dir);
}

TEST(Patterns, AChainThatComputesSomethingElseStaysAsItIs) {
  const fs::path dir = MakeTempDir("pat_no");
  {  // x^3, not a variance
    Tiny t(13);
    DecomposedLayerNorm(t, 3.0f);
    EXPECT_EQ(OpCounts(ImportOnnx(t.Write(dir / "cube.onnx"), {})).count("LayerNormalization"), 0u);
  }
  {  // the variance over another axis
    Tiny t(13);
    DecomposedLayerNorm(t, 2.0f, 1);
    EXPECT_EQ(OpCounts(ImportOnnx(t.Write(dir / "axis.onnx"), {})).count("LayerNormalization"), 0u);
  }
  {  // an intermediate the graph also returns
    Tiny t(13);
    DecomposedLayerNorm(t);
    t.Output("d", {"1", "4", "8"});
    EXPECT_EQ(OpCounts(ImportOnnx(t.Write(dir / "out.onnx"), {})).count("LayerNormalization"), 0u);
  }
  {  // an intermediate a control-flow body reads from the outer scope, without listing it
    Tiny t(13);
    DecomposedLayerNorm(t);
    t.Input("cond", {}, onnx::TensorProto::BOOL);
    auto* node = t.Node("If", {"cond"}, {"z"});
    for (const char* branch : {"then_branch", "else_branch"}) {
      auto* a = node->add_attribute();
      a->set_name(branch);
      a->set_type(onnx::AttributeProto::GRAPH);
      onnx::GraphProto* body = a->mutable_g();
      body->set_name(branch);
      auto* id = body->add_node();
      id->set_op_type("Identity");
      id->add_input("d");
      id->add_output(std::string(branch) + "_out");
      Tiny::Declare(body->add_output(), std::string(branch) + "_out", {"1", "4", "8"});
    }
    t.Output("z", {"1", "4", "8"});
    EXPECT_EQ(OpCounts(ImportOnnx(t.Write(dir / "if.onnx"), {})).count("LayerNormalization"), 0u);
  }
  {  // erf(x / 1.5): not GELU; clip to 5: not hard-swish
    Tiny t(13);
    t.Input("x", {"1", "8", "4", "4"});
    t.Floats("c", {}, 1.5f);
    t.Floats("one", {}, 1.0f);
    t.Floats("half", {}, 0.5f);
    t.Node("Div", {"x", "c"}, {"s"});
    t.Node("Erf", {"s"}, {"e"});
    t.Node("Add", {"e", "one"}, {"a"});
    t.Node("Mul", {"x", "a"}, {"m"});
    t.Node("Mul", {"m", "half"}, {"g"});
    t.Floats("three", {}, 3.0f);
    t.Floats("zero", {}, 0.0f);
    t.Floats("five", {}, 5.0f);
    t.Floats("six", {}, 6.0f);
    t.Node("Add", {"x", "three"}, {"x3"});
    t.Node("Clip", {"x3", "zero", "five"}, {"c5"});
    t.Node("Mul", {"x", "c5"}, {"xm"});
    t.Node("Div", {"xm", "six"}, {"h"});
    t.Output("g", {});
    t.Output("h", {});
    const auto c = OpCounts(ImportOnnx(t.Write(dir / "other.onnx"), {}));
    EXPECT_EQ(c.count("Gelu"), 0u);
    EXPECT_EQ(c.count("HardSwish"), 0u);
    EXPECT_EQ(c.at("Erf"), 1);
    EXPECT_EQ(c.at("Clip"), 1);
  }
  fs::remove_all(dir);
}

TEST(Patterns, TheExampleTransformerAndDetectorRunNoDecomposedChain) {
  const Graph bert = ImportOnnx((ModelsDir() / "bert_block.onnx").string(), {{"hidden_states", {1, 128, 768}}});
  const auto b = OpCounts(bert);
  EXPECT_EQ(b.at("LayerNormalization"), 2);
  EXPECT_EQ(b.at("Gelu"), 1);
  for (const char* op : {"ReduceMean", "Pow", "Sqrt", "Erf", "Sub"}) EXPECT_EQ(b.count(op), 0u) << op;
  // The same block with LayerNormalization written by the exporter (opset 17) imports to the same ops.
  const Graph ln17 = ImportOnnx((ModelsDir() / "bert_block_ln17.onnx").string(), {{"hidden_states", {1, 128, 768}}});
  EXPECT_EQ(OpCounts(ln17), b);
  // paddle2onnx's x * Clip(x + 3, 0, 6) / 6 (opset 11, constants in Constant nodes).
  const Graph det = ImportOnnx((ModelsDir() / "paddle_det.onnx").string(), {{"x", {1, 3, 640, 640}}});
  const auto d = OpCounts(det);
  EXPECT_GT(d.at("HardSwish"), 0);
  EXPECT_EQ(d.count("Clip"), 0u);
  EXPECT_EQ(d.count("Div"), 0u);
}

}  // namespace
}  // namespace layoutdb::selector
