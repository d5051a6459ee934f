// Detector models: the example PaddleOCR-style DB text detector (opset 11, weights in Constant
// nodes, dynamic input, Resize on constant scales in its FPN neck) and the YOLO-style detector
// (opset 13, initializers), imported with every shape static; and minimal models for the bug the
// first exposed: a shape only our own rules give (a Resize ONNX could not size) must reach the ops
// downstream that only ONNX's inference sizes (a Conv).
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <string>
#include <vector>

#include "onnx_test_util.h"
#include "selector/graph.h"

namespace layoutdb::selector {
namespace {

namespace fs = std::filesystem;
using onnx_testing::MakeTempDir;
using onnx_testing::ModelsDir;
using onnx_testing::Tiny;
using Shape = std::vector<int64_t>;

std::string Model(const std::string& name) {
  const fs::path p = ModelsDir() / (name + ".onnx");
  if (!fs::exists(p))
    ADD_FAILURE() << p << " is missing: build the example_models target (LAYOUTDB_BINARY_DIR="
                  << ModelsDir().parent_path() << ")";
  return p.string();
}

std::vector<const Node*> NodesOf(const Graph& g, const std::string& op_type) {
  std::vector<const Node*> r;
  for (const auto& n : g.nodes)
    if (n.op_type == op_type) r.push_back(&n);
  return r;
}

const Shape& ShapeOf(const Graph& g, const std::string& tensor) {
  return g.tensors.at(tensor).shape;
}

// Every node that runs has a static, positive shape on every value it produces.
void ExpectAllStatic(const Graph& g) {
  for (const auto& n : g.nodes) {
    if (n.is_constant) continue;
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      ASSERT_TRUE(g.tensors.count(o)) << o;
      const TensorInfo& t = g.tensors.at(o);
      EXPECT_TRUE(t.shape_known) << "node " << n.index << " " << n.op_type << " " << o;
      for (int64_t d : t.shape) EXPECT_GT(d, 0) << "node " << n.index << " " << o;
    }
    EXPECT_GT(n.bytes, 0) << "node " << n.index << " " << n.op_type;
  }
}

// Every Conv runs as a conv2d problem on its input's spatial size.
void ExpectConvProblems(const Graph& g) {
  for (const Node* n : NodesOf(g, "Conv")) {
    ASSERT_TRUE(n->problem.has_value()) << "node " << n->index << ": " << n->note;
    EXPECT_EQ(n->problem->op(), "conv2d");
    EXPECT_EQ(n->problem->Get("ih"), ShapeOf(g, n->inputs[0])[2]) << "node " << n->index;
  }
}

TEST(Detectors, PassOnnxChecker) {
  for (const char* m : {"paddle_det", "yolo_det"}) {
    SCOPED_TRACE(m);
    EXPECT_NO_THROW(onnx::checker::check_model(Model(m)));
  }
}

TEST(Detectors, PaddleDetNeedsItsDynamicInputFixed) {
  try {
    ImportOnnx(Model("paddle_det"), {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("dynamic input dimensions not fixed"), std::string::npos)
        << e.what();
  }
}

// paddle_det at H x W: the backbone reaches stride 32, the neck's Resizes bring each level to the
// next (x2) and the smoothed levels to stride 4 (x8, x4, x2), the head's two ConvTranspose back to
// H x W.
void CheckPaddleDet(int64_t h, int64_t w) {
  SCOPED_TRACE(testing::Message() << "paddle_det at " << h << "x" << w);
  const Graph g = ImportOnnx(Model("paddle_det"), {{"x", {1, 3, h, w}}});
  EXPECT_EQ(g.opset, 11);
  ExpectAllStatic(g);
  ExpectConvProblems(g);
  // Weights in Constant nodes: folded, never placed.
  EXPECT_GT(NodesOf(g, "Constant").size(), 200u);
  for (const Node* n : NodesOf(g, "Constant")) EXPECT_TRUE(n->is_constant);

  const auto resizes = NodesOf(g, "Resize");
  ASSERT_EQ(resizes.size(), 6u);
  // In model order: the top-down path (96 channels, x2 each), then the smoothed levels to stride 4.
  const std::vector<std::pair<Shape, Shape>> expected = {
      {{1, 96, h / 32, w / 32}, {1, 96, h / 16, w / 16}},
      {{1, 96, h / 16, w / 16}, {1, 96, h / 8, w / 8}},
      {{1, 96, h / 8, w / 8}, {1, 96, h / 4, w / 4}},
      {{1, 24, h / 32, w / 32}, {1, 24, h / 4, w / 4}},
      {{1, 24, h / 16, w / 16}, {1, 24, h / 4, w / 4}},
      {{1, 24, h / 8, w / 8}, {1, 24, h / 4, w / 4}}};
  for (size_t k = 0; k < resizes.size(); ++k) {
    SCOPED_TRACE(resizes[k]->name);
    EXPECT_TRUE(g.tensors.at(resizes[k]->inputs[2]).is_constant);  // scales: a Constant
    EXPECT_EQ(ShapeOf(g, resizes[k]->inputs[0]), expected[k].first);
    EXPECT_EQ(ShapeOf(g, resizes[k]->outputs[0]), expected[k].second);
  }
  // The x2 Resizes double H and W exactly.
  int doubled = 0;
  for (const Node* r : resizes) {
    const Shape &in = ShapeOf(g, r->inputs[0]), &out = ShapeOf(g, r->outputs[0]);
    if (out[2] == 2 * in[2] && out[3] == 2 * in[3]) ++doubled;
  }
  EXPECT_EQ(doubled, 4);
  // The Adds after the top-down Resizes and the Convs after those Adds (where the import stopped).
  for (const Node* r : std::vector<const Node*>(resizes.begin(), resizes.begin() + 3)) {
    const std::string& up = r->outputs[0];
    const auto add = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) {
      return n.op_type == "Add" && std::count(n.inputs.begin(), n.inputs.end(), up);
    });
    ASSERT_NE(add, g.nodes.end()) << up;
    EXPECT_EQ(ShapeOf(g, add->outputs[0]), ShapeOf(g, up));
  }
  const auto concats = NodesOf(g, "Concat");
  ASSERT_EQ(concats.size(), 1u);
  EXPECT_EQ(ShapeOf(g, concats[0]->outputs[0]), (Shape{1, 96, h / 4, w / 4}));
  const auto deconvs = NodesOf(g, "ConvTranspose");
  ASSERT_EQ(deconvs.size(), 2u);
  EXPECT_EQ(ShapeOf(g, deconvs[0]->outputs[0]), (Shape{1, 24, h / 2, w / 2}));
  EXPECT_EQ(ShapeOf(g, deconvs[1]->outputs[0]), (Shape{1, 1, h, w}));
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(ShapeOf(g, g.outputs[0]), (Shape{1, 1, h, w}));
  // Squeeze-excitation: pooled to 1x1, its HardSigmoid broadcast back by a Mul.
  EXPECT_EQ(NodesOf(g, "GlobalAveragePool").size(), 7u);
  for (const Node* n : NodesOf(g, "HardSigmoid")) EXPECT_EQ(ShapeOf(g, n->outputs[0])[2], 1);
}

TEST(Detectors, PaddleDetImportsStaticAt640x640) { CheckPaddleDet(640, 640); }

TEST(Detectors, PaddleDetImportsStaticAt320x480) { CheckPaddleDet(320, 480); }

TEST(Detectors, YoloDetImportsStatic) {
  const Graph g = ImportOnnx(Model("yolo_det"), {});
  EXPECT_EQ(g.opset, 13);
  EXPECT_EQ(g.inputs, std::vector<std::string>{"images"});
  ExpectAllStatic(g);
  ExpectConvProblems(g);
  const auto resizes = NodesOf(g, "Resize");
  ASSERT_EQ(resizes.size(), 1u);
  EXPECT_EQ(ShapeOf(g, resizes[0]->inputs[0]), (Shape{1, 128, 26, 26}));
  EXPECT_EQ(ShapeOf(g, resizes[0]->outputs[0]), (Shape{1, 128, 52, 52}));
  // SPPF: three 5x5 stride-1 pools keep 26x26, their Concat has 4 x 128 channels.
  const auto pools = NodesOf(g, "MaxPool");
  ASSERT_EQ(pools.size(), 3u);
  for (const Node* p : pools) {
    ASSERT_TRUE(p->problem.has_value());
    EXPECT_EQ(p->problem->op(), "pool");
    EXPECT_EQ(ShapeOf(g, p->outputs[0]), (Shape{1, 128, 26, 26}));
  }
  const auto concats = NodesOf(g, "Concat");
  ASSERT_EQ(concats.size(), 2u);
  EXPECT_EQ(ShapeOf(g, concats[0]->outputs[0]), (Shape{1, 512, 26, 26}));
  EXPECT_EQ(ShapeOf(g, concats[1]->outputs[0]), (Shape{1, 256, 52, 52}));  // upsampled + skip
  const auto deconvs = NodesOf(g, "ConvTranspose");
  ASSERT_EQ(deconvs.size(), 1u);
  EXPECT_EQ(ShapeOf(g, deconvs[0]->outputs[0]), (Shape{1, 64, 104, 104}));
  EXPECT_EQ(ShapeOf(g, "output_s16"), (Shape{1, 75, 26, 26}));
  EXPECT_EQ(ShapeOf(g, "output_s4"), (Shape{1, 75, 104, 104}));
}

// The minimal form of the PaddleOCR detector's failure: weights and Resize scales in Constant nodes
// (opset 11), a Conv after the Resize. Built with `stages` Resize -> Conv pairs in a row.
struct ResizeConvModel {
  Tiny t{11};
  int counter = 0;

  std::string Constant(const std::vector<int64_t>& dims, const std::vector<float>& values) {
    const std::string name = "const" + std::to_string(counter++);
    auto* n = t.Node("Constant", {}, {name});
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    auto* tensor = a->mutable_t();
    tensor->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) tensor->add_dims(d);
    for (float v : values) tensor->add_float_data(v);
    return name;
  }
  std::string Conv(const std::string& x, int64_t cin, int64_t cout) {
    const auto w = Constant({cout, cin, 3, 3}, std::vector<float>(cout * cin * 9, 0.1f));
    const std::string y = "conv" + std::to_string(counter++);
    auto* n = t.Node("Conv", {x, w}, {y});
    Tiny::IntsAttr(n, "kernel_shape", {3, 3});
    Tiny::IntsAttr(n, "pads", {1, 1, 1, 1});
    return y;
  }
  std::string Resize(const std::string& x) {
    const auto roi = Constant({0}, {});
    const auto scales = Constant({4}, {1, 1, 2, 2});
    const std::string y = "up" + std::to_string(counter++);
    auto* n = t.Node("Resize", {x, roi, scales}, {y});
    auto* mode = n->add_attribute();
    mode->set_name("mode");
    mode->set_type(onnx::AttributeProto::STRING);
    mode->set_s("nearest");
    return y;
  }

  // x [1, 3, 4, 4] -> Conv -> (Resize -> Conv) x stages -> Relu -> y.
  std::string Write(const fs::path& dir, int stages) {
    t.Input("x", {"1", "3", "4", "4"});
    std::string v = Conv("x", 3, 4);
    for (int k = 0; k < stages; ++k) v = Conv(Resize(v), 4, 4);
    t.Node("Relu", {v}, {"y"});
    const std::string side = std::to_string(4 << stages);
    t.Output("y", {"1", "4", side, side});
    return t.Write(dir / ("resize_conv_" + std::to_string(stages) + ".onnx"));
  }
};

TEST(Detectors, ConvAfterResizeOnConstantScalesImports) {
  const auto dir = MakeTempDir("detector");
  ResizeConvModel m;
  const std::string path = m.Write(dir, 1);
  EXPECT_NO_THROW(onnx::checker::check_model(path));
  const Graph g = ImportOnnx(path, {});
  ExpectAllStatic(g);
  const auto convs = NodesOf(g, "Conv");
  ASSERT_EQ(convs.size(), 2u);
  EXPECT_EQ(ShapeOf(g, convs[1]->inputs[0]), (Shape{1, 4, 8, 8}));
  EXPECT_EQ(ShapeOf(g, convs[1]->outputs[0]), (Shape{1, 4, 8, 8}));
  ASSERT_TRUE(convs[1]->problem.has_value());
  EXPECT_EQ(convs[1]->problem->Get("ih"), 8);
  EXPECT_EQ(ShapeOf(g, "y"), (Shape{1, 4, 8, 8}));
  fs::remove_all(dir);
}

// A chain longer than the importer's old fixed number of rounds: every Resize's output must reach
// the Conv after it however deep in the model it is.
TEST(Detectors, LongResizeConvChainImports) {
  const auto dir = MakeTempDir("detector_chain");
  ResizeConvModel m;
  const Graph g = ImportOnnx(m.Write(dir, 12), {});
  ExpectAllStatic(g);
  const auto convs = NodesOf(g, "Conv");
  ASSERT_EQ(convs.size(), 13u);
  for (size_t k = 0; k < convs.size(); ++k) {
    const int64_t side = int64_t{4} << k;
    EXPECT_EQ(ShapeOf(g, convs[k]->outputs[0]), (Shape{1, 4, side, side})) << "conv " << k;
  }
  fs::remove_all(dir);
}

// The same chain where only our own rules can size the Resize (opset 18's `axes`, which ONNX 1.12
// does not know): each Resize's shape must still reach the Conv after it, round after round.
TEST(Detectors, OwnRuleResizeShapesReachDownstreamConvs) {
  const auto dir = MakeTempDir("detector_axes");
  Tiny t(18);
  t.Input("x", {"1", "4", "4", "4"});
  t.Floats("w", {4, 4, 3, 3}, 0.1f);
  auto* s = t.g->add_initializer();
  s->set_name("scales");
  s->set_data_type(onnx::TensorProto::FLOAT);
  s->add_dims(2);
  s->add_float_data(2.0f);
  s->add_float_data(2.0f);
  std::string v = "x";
  constexpr int kStages = 12;
  for (int k = 0; k < kStages; ++k) {
    const std::string up = "up" + std::to_string(k), c = "c" + std::to_string(k);
    auto* r = t.Node("Resize", {v, "", "scales"}, {up});
    Tiny::IntsAttr(r, "axes", {2, 3});
    auto* conv = t.Node("Conv", {up, "w"}, {c});
    Tiny::IntsAttr(conv, "kernel_shape", {3, 3});
    Tiny::IntsAttr(conv, "pads", {1, 1, 1, 1});
    v = c;
  }
  t.Output(v, {"1", "4", "?", "?"});
  const Graph g = ImportOnnx(t.Write(dir / "axes_chain.onnx"), {});
  ExpectAllStatic(g);
  const auto convs = NodesOf(g, "Conv");
  ASSERT_EQ(convs.size(), static_cast<size_t>(kStages));
  for (size_t k = 0; k < convs.size(); ++k) {
    const int64_t side = int64_t{8} << k;
    EXPECT_EQ(ShapeOf(g, convs[k]->outputs[0]), (Shape{1, 4, side, side})) << "conv " << k;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace layoutdb::selector
