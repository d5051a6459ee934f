// ONNX import: the example models (checked by ONNX's own checker, then imported with static shapes
// and database problems), exporter idioms that need folding, opset 18 forms, unknown operators and
// control flow, and the messages a user sees for bad input.
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <stdexcept>

#include "onnx_test_util.h"
#include "selector/graph.h"

namespace layoutdb::selector {
namespace {

namespace fs = std::filesystem;
using onnx_testing::MakeTempDir;
using onnx_testing::ModelsDir;
using onnx_testing::Tiny;

std::string Model(const std::string& name) {
  const fs::path p = ModelsDir() / (name + ".onnx");
  if (!fs::exists(p))
    ADD_FAILURE() << p << " is missing: build the example_models target (LAYOUTDB_BINARY_DIR="
                  << ModelsDir().parent_path() << ")";
  return p.string();
}

const InputShapes kBertInput = {{"hidden_states", {1, 128, 768}}};

int CountProblems(const Graph& g, const std::string& op, const std::string& alg = "") {
  int n = 0;
  for (const auto& node : g.nodes)
    if (node.problem && node.problem->op() == op && (alg.empty() || node.problem->alg() == alg)) ++n;
  return n;
}

int CountOps(const Graph& g, const std::string& op_type) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(),
                                        [&](const Node& n) { return n.op_type == op_type; }));
}

// Every node that runs has static shapes on all the values it produces and cost figures (nothing
// for a free view).
void ExpectAllStatic(const Graph& g) {
  for (const auto& n : g.nodes) {
    EXPECT_EQ(n.index, &n - g.nodes.data());
    if (n.is_constant) continue;
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      ASSERT_TRUE(g.tensors.count(o)) << o;
      EXPECT_TRUE(g.tensors.at(o).shape_known) << "node " << n.index << " " << n.op_type << " " << o;
    }
    const OpRow* row = FindOp(n.op_type, n.domain);
    if (row && row->work == Work::kFree) {  // a view: the runtime aliases its input
      EXPECT_EQ(n.bytes, 0) << "node " << n.index << " " << n.op_type;
      EXPECT_EQ(n.flops, 0) << "node " << n.index << " " << n.op_type;
      continue;
    }
    EXPECT_GT(n.bytes, 0) << "node " << n.index << " " << n.op_type;
    EXPECT_GT(n.flops, 0) << "node " << n.index << " " << n.op_type;
  }
}

const std::vector<int64_t>& ShapeOf(const Graph& g, const std::string& tensor) {
  return g.tensors.at(tensor).shape;
}

TEST(ExampleModels, PassOnnxChecker) {
  for (const char* m : {"resnet50", "mobilenetv2", "bert_block", "bert_block_ln17",
                        "bert_base_shared", "paddle_cnn"}) {
    SCOPED_TRACE(m);
    EXPECT_NO_THROW(onnx::checker::check_model(Model(m)));
  }
}

TEST(Import, ResNet50MapsEveryConvAndKeepsShapesStatic) {
  const Graph g = ImportOnnx(Model("resnet50"), {});
  EXPECT_EQ(g.opset, 13);
  EXPECT_EQ(g.inputs, std::vector<std::string>{"input"});
  ExpectAllStatic(g);
  EXPECT_EQ(CountOps(g, "Conv"), 53);
  EXPECT_EQ(CountProblems(g, "conv2d"), 53);
  EXPECT_EQ(CountProblems(g, "bnorm"), 53);
  EXPECT_EQ(CountProblems(g, "eltwise", "relu"), 49);
  EXPECT_EQ(CountProblems(g, "binary", "add"), 16);
  EXPECT_EQ(CountProblems(g, "pool", "max"), 1);
  EXPECT_EQ(CountProblems(g, "pool", "avg"), 1);
  EXPECT_EQ(g.nodes.front().problem->Key(), "conv2d:mb1ic3ih224iw224oc64kh7kw7sh2sw2ph3pw3g1");
  EXPECT_EQ(g.nodes.back().op_type, "Gemm");
  EXPECT_EQ(g.nodes.back().problem->Key(), "ip:mb1ic2048oc1000");
  EXPECT_EQ(ShapeOf(g, "output"), (std::vector<int64_t>{1, 1000}));
  // Weights are constants, never placed.
  for (const auto& n : g.nodes) EXPECT_FALSE(n.is_constant);
  EXPECT_TRUE(g.tensors.at(g.nodes.front().inputs[1]).is_constant);
  EXPECT_EQ(g.tensors.at(g.nodes.front().inputs[1]).shape, (std::vector<int64_t>{64, 3, 7, 7}));
}

TEST(Import, MobileNetV2DepthwiseAndRelu6) {
  const Graph g = ImportOnnx(Model("mobilenetv2"), {});
  ExpectAllStatic(g);
  EXPECT_EQ(CountProblems(g, "conv2d"), 52);
  EXPECT_EQ(CountProblems(g, "eltwise", "clip"), 35);
  // Depthwise convolutions: groups equal the channels.
  int depthwise = 0;
  for (const auto& n : g.nodes)
    if (n.problem && n.problem->op() == "conv2d" && n.problem->Get("g") > 1) {
      EXPECT_EQ(n.problem->Get("g"), n.problem->Get("ic"));
      ++depthwise;
    }
  EXPECT_EQ(depthwise, 17);
  EXPECT_EQ(ShapeOf(g, "output"), (std::vector<int64_t>{1, 1000}));
}

TEST(Import, DynamicInputsAreNamedWithTheirShapes) {
  const std::string path = Model("bert_block");
  try {
    ImportOnnx(path, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model '" + path + "': dynamic input dimensions not fixed: hidden_states: [batch, "
              "sequence, 768]; pass --input NAME:d0,d1,... for each");
  }
  // Every dynamic input is listed.
  const fs::path dir = MakeTempDir("dyn");
  Tiny t(13);
  t.Input("input_ids", {"batch", "seq"}, onnx::TensorProto::INT64);
  t.Input("attention_mask", {"batch", ""}, onnx::TensorProto::INT64);
  t.Input("fixed", {"2"}, onnx::TensorProto::INT64);
  t.Node("Add", {"input_ids", "attention_mask"}, {"y"});
  t.Output("y", {"batch", "seq"}, onnx::TensorProto::INT64);
  const std::string p2 = t.Write(dir / "two.onnx");
  try {
    ImportOnnx(p2, {{"fixed", {2}}});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model '" + p2 + "': dynamic input dimensions not fixed: input_ids: [batch, seq], "
              "attention_mask: [batch, ?]; pass --input NAME:d0,d1,... for each");
  }
  fs::remove_all(dir);
}

// A binary whose second operand broadcasts and is computed at run time gets the problem of that form:
// a squeeze-excitation scale [1,C,1,1] is bc1 (either operand order), a run-time scalar bc2. A constant
// operand (run as a linear eltwise or a plain operand) and other broadcasts keep the output-shape
// problem and say so.
TEST(Import, BroadcastBinaryGetsItsForm) {
  const fs::path dir = MakeTempDir("bcast");
  Tiny t(13);
  t.Input("x", {"1", "16", "8", "8"});
  t.Input("k", {"1"});
  t.Input("row", {"1", "1", "1", "8"});
  t.Floats("w", {1, 16, 1, 1});
  t.Node("GlobalAveragePool", {"x"}, {"s"});
  t.Node("Sigmoid", {"s"}, {"g"});
  t.Node("Mul", {"x", "g"}, {"se"});
  t.Node("Mul", {"g", "se"}, {"se2"});
  t.Node("Add", {"se2", "k"}, {"sc"});
  t.Node("Mul", {"sc", "w"}, {"cw"});
  t.Node("Mul", {"cw", "row"}, {"y"});
  t.Output("y", {"1", "16", "8", "8"});
  const Graph g = ImportOnnx(t.Write(dir / "se.onnx"), {});
  fs::remove_all(dir);
  std::map<std::string, const Node*> by_out;
  for (const Node& n : g.nodes) by_out[n.outputs.at(0)] = &n;
  auto key = [&](const std::string& out) {
    const Node* n = by_out.at(out);
    return n->problem ? n->problem->Key() : "(none: " + n->note + ")";
  };
  EXPECT_EQ(key("se"), "binary:mul:mb1c16h8w8bc1");
  EXPECT_EQ(by_out.at("se")->note, "");
  EXPECT_EQ(key("se2"), "binary:mul:mb1c16h8w8bc1");
  EXPECT_EQ(key("sc"), "binary:add:mb1c16h8w8bc2");
  EXPECT_EQ(key("cw"), "binary:mul:mb1c16h8w8");
  EXPECT_NE(by_out.at("cw")->note.find("costed as a binary op on the output shape"), std::string::npos)
      << by_out.at("cw")->note;
  EXPECT_EQ(key("y"), "binary:mul:mb1c16h8w8");
  EXPECT_NE(by_out.at("y")->note.find("broadcast [1,16,8,8] and [1,1,1,8]"), std::string::npos)
      << by_out.at("y")->note;
}

// paddle_det's squeeze-excitation Muls (a feature map times its HardSigmoid scale) are per-channel
// problems.
TEST(Import, PaddleDetSqueezeExcitationMulsArePerChannel) {
  const Graph g = ImportOnnx(Model("paddle_det"), {{"x", {1, 3, 640, 640}}});
  int per_channel = 0;
  for (const Node& n : g.nodes) {
    if (n.op_type != "Mul" || !n.problem || n.problem->Get("bc") != 1) continue;
    ++per_channel;
    EXPECT_EQ(n.problem->Key().rfind("binary:mul:mb1c", 0), 0u) << n.problem->Key();
    EXPECT_EQ(n.note, "");
  }
  EXPECT_GE(per_channel, 7);
}

TEST(Import, InputNamingNoGraphInput) {
  const std::string path = Model("bert_block");
  try {
    ImportOnnx(path, {{"input_ids", {1, 128}}});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "model '" + path +
                                         "': --input 'input_ids' names no graph input (the inputs "
                                         "are: hidden_states)");
  }
  try {
    ImportOnnx(path, {{"hidden_states", {1, 128}}});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model '" + path + "': --input hidden_states: 2 dimensions given, the model declares "
              "3 [batch, sequence, 768]");
  }
}

TEST(Import, BertShapeSubgraphsFoldToStaticReshapes) {
  const Graph g = ImportOnnx(Model("bert_block"), kBertInput);
  ExpectAllStatic(g);
  // The Shape -> Gather -> Squeeze -> Unsqueeze -> Concat chains are folded constants.
  for (const char* op : {"Shape", "Gather", "Squeeze", "Unsqueeze", "Concat"})
    for (const auto& n : g.nodes)
      if (n.op_type == op) {
        EXPECT_TRUE(n.is_constant) << op << " node " << n.index;
      }
  std::vector<std::vector<int64_t>> reshaped;
  for (const auto& n : g.nodes)
    if (n.op_type == "Reshape") reshaped.push_back(ShapeOf(g, n.outputs[0]));
  const std::vector<int64_t> heads = {1, 128, 12, 64}, merged = {1, 128, 768};
  EXPECT_EQ(reshaped, (std::vector<std::vector<int64_t>>{heads, heads, heads, merged}));
  EXPECT_EQ(CountProblems(g, "matmul"), 8);
  int qkv = 0, scores = 0, ffn_up = 0;
  for (const auto& n : g.nodes) {
    if (!n.problem) continue;
    const std::string k = n.problem->Key();
    qkv += k == "matmul:mb1m128n768k768";
    scores += k == "matmul:mb12m128n128k64";
    ffn_up += k == "matmul:mb1m128n3072k768";
    if (n.op_type == "Softmax") {
      EXPECT_EQ(k, "softmax:mb1c12h128w128ax3");
    }
  }
  EXPECT_EQ(qkv, 4);
  EXPECT_EQ(scores, 1);
  EXPECT_EQ(ffn_up, 1);
  EXPECT_EQ(ShapeOf(g, "last_hidden_state"), merged);
  const bool noted = std::any_of(g.notes.begin(), g.notes.end(), [](const std::string& s) {
    return s.find("folded") != std::string::npos;
  });
  EXPECT_TRUE(noted);
  // Another batch and sequence length flow through the same folded shapes.
  const Graph g2 = ImportOnnx(Model("bert_block"), {{"hidden_states", {2, 64, 768}}});
  EXPECT_EQ(ShapeOf(g2, "last_hidden_state"), (std::vector<int64_t>{2, 64, 768}));
}

TEST(Import, LayerNormalizationOfOpset17) {
  const Graph g = ImportOnnx(Model("bert_block_ln17"), kBertInput);
  ExpectAllStatic(g);
  EXPECT_EQ(g.opset, 17);
  EXPECT_EQ(CountProblems(g, "lnorm"), 2);
  for (const auto& n : g.nodes)
    if (n.op_type == "LayerNormalization") {
      EXPECT_EQ(n.problem->Key(), "lnorm:mb1t128c768");
    }
}

TEST(Import, TwelveLayerEncoder) {
  const Graph g = ImportOnnx(Model("bert_base_shared"), kBertInput);
  // ~830 nodes as exported; each layer's two decomposed LayerNorms (9 nodes) and GELU (5) are one node.
  EXPECT_GT(g.nodes.size(), 600u);
  ExpectAllStatic(g);
  EXPECT_EQ(CountProblems(g, "matmul"), 12 * 8);
  EXPECT_EQ(CountProblems(g, "lnorm"), 12 * 2);
}

TEST(Import, WeightsInConstantNodes) {
  const Graph g = ImportOnnx(Model("paddle_cnn"), {});
  ExpectAllStatic(g);
  EXPECT_EQ(g.opset, 9);
  int constants = 0;
  for (const auto& n : g.nodes)
    if (n.op_type == "Constant") {
      EXPECT_TRUE(n.is_constant);
      EXPECT_TRUE(g.tensors.at(n.outputs[0]).is_constant);
      ++constants;
    }
  EXPECT_GT(constants, 20);
  EXPECT_EQ(CountProblems(g, "conv2d"), 4);
  EXPECT_EQ(CountProblems(g, "eltwise", "clip"), 2);  // Clip with min/max attributes (opset 9)
  EXPECT_EQ(CountProblems(g, "softmax"), 1);
  for (const auto& n : g.nodes)
    if (n.op_type == "Reshape") {
      EXPECT_EQ(ShapeOf(g, n.outputs[0]), (std::vector<int64_t>{1, 32}));
    }
}

TEST(Import, MissingFileAndForeignFiles) {
  try {
    ImportOnnx("/nonexistent/model.onnx", {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "model '/nonexistent/model.onnx': file not found");
  }
  const fs::path dir = MakeTempDir("foreign");
  const std::string text = (dir / "notes.onnx").string();
  std::ofstream(text) << "this is a text file, not a model\n";
  try {
    ImportOnnx(text, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model '" + text + "': not an ONNX model (it does not parse as an ONNX ModelProto)");
  }
  // A model cut short in the middle of its weights.
  std::ifstream in(Model("paddle_cnn"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = (dir / "cut.onnx").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  try {
    ImportOnnx(cut, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model '" + cut + "': not an ONNX model (it does not parse as an ONNX ModelProto)");
  }
  fs::remove_all(dir);
}

TEST(Import, ImpossibleConvNamesTheNode) {
  const fs::path dir = MakeTempDir("impossible");
  Tiny t(13);
  t.Input("x", {"1", "3", "5", "5"});
  t.Floats("w", {8, 3, 7, 7});
  auto* c = t.Node("Conv", {"x", "w"}, {"y"}, "conv_big");
  Tiny::IntsAttr(c, "pads", {0, 0, 1, 1});
  t.Output("y", {});
  const std::string p = t.Write(dir / "conv.onnx");
  try {
    ImportOnnx(p, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "model '" + p +
                                         "': node 0 (Conv 'conv_big'): impossible shape: kernel "
                                         "7x7 is larger than its padded input 6x6");
  }
  fs::remove_all(dir);
}

TEST(Import, ConvPaddingForms) {
  const fs::path dir = MakeTempDir("pads");
  Tiny t(11);
  t.Input("x", {"1", "8", "15", "15"});
  t.Floats("w", {8, 8, 3, 3});
  auto* same = t.Node("Conv", {"x", "w"}, {"a"}, "same");
  same->add_attribute()->set_name("auto_pad");
  same->mutable_attribute(0)->set_type(onnx::AttributeProto::STRING);
  same->mutable_attribute(0)->set_s("SAME_UPPER");
  Tiny::IntsAttr(same, "strides", {2, 2});
  auto* asym = t.Node("Conv", {"a", "w"}, {"b"}, "asym");
  Tiny::IntsAttr(asym, "pads", {0, 0, 1, 1});
  t.Output("b", {});
  const Graph g = ImportOnnx(t.Write(dir / "pads.onnx"), {});
  ExpectAllStatic(g);
  EXPECT_EQ(ShapeOf(g, "a"), (std::vector<int64_t>{1, 8, 8, 8}));
  EXPECT_EQ(g.nodes[0].problem->Key(), "conv2d:mb1ic8ih15iw15oc8kh3kw3sh2sw2ph1pw1g1");
  EXPECT_EQ(ShapeOf(g, "b"), (std::vector<int64_t>{1, 8, 7, 7}));
  EXPECT_EQ(g.nodes[1].problem->Key(), "conv2d:mb1ic8ih8iw8oc8kh3kw3sh1sw1ph1pw1g1");
  EXPECT_NE(g.nodes[1].note.find("asymmetric pads"), std::string::npos) << g.nodes[1].note;
  fs::remove_all(dir);
}

// The shape idioms of exporters at opset 11: Slice with inputs, Unsqueeze with attributes, Cast,
// arithmetic on shapes, ConstantOfShape, Range, and the Reshape/Expand/Tile they feed.
TEST(Import, FoldsExporterShapeIdioms) {
  const fs::path dir = MakeTempDir("idioms");
  Tiny t(11);
  t.Input("x", {"2", "3", "4", "5"});
  t.Ints("zero", {0});
  t.Ints("two", {2});
  t.Ints("minus1", {-1});
  t.Ints("three", {3}, /*scalar=*/true);
  t.Ints("one_s", {1}, true);
  t.Ints("zero_s", {0}, true);
  t.Node("Shape", {"x"}, {"s"});
  t.Node("Slice", {"s", "zero", "two"}, {"s01"});  // [2, 3]
  Tiny::IntAttr(t.Node("Concat", {"s01", "minus1"}, {"target"}), "axis", 0);
  t.Node("Reshape", {"x", "target"}, {"r"});  // [2, 3, 20]
  Tiny::IntAttr(t.Node("Gather", {"s", "three"}, {"w"}), "axis", 0);  // 5, a scalar
  Tiny::IntAttr(t.Node("Cast", {"w"}, {"wf"}), "to", onnx::TensorProto::FLOAT);
  Tiny::IntAttr(t.Node("Cast", {"wf"}, {"wi"}), "to", onnx::TensorProto::INT64);
  t.Node("Mul", {"wi", "wi"}, {"w2"});  // 25
  t.Node("Range", {"zero_s", "w2", "one_s"}, {"idx"});
  Tiny::IntsAttr(t.Node("Unsqueeze", {"w2"}, {"w2v"}), "axes", {0});  // [25]
  t.Node("ConstantOfShape", {"w2v"}, {"zeros"});  // 25 zeros
  Tiny::IntAttr(t.Node("Concat", {"s01", "w2v"}, {"target2"}), "axis", 0);  // [2, 3, 25]
  auto* rm = t.Node("ReduceMean", {"r"}, {"rm"});  // [2, 3, 1]
  Tiny::IntsAttr(rm, "axes", {2});
  t.Node("Expand", {"rm", "target2"}, {"e"});  // [2, 3, 25]
  t.Node("Add", {"e", "zeros"}, {"e2"});
  t.Node("Add", {"e2", "idx"}, {"e3"});
  t.Node("Tile", {"x", "s"}, {"tiled"});  // [4, 9, 16, 25]
  t.Output("e3", {});
  t.Output("tiled", {});
  const Graph g = ImportOnnx(t.Write(dir / "idioms.onnx"), {});
  ExpectAllStatic(g);
  EXPECT_EQ(ShapeOf(g, "r"), (std::vector<int64_t>{2, 3, 20}));
  EXPECT_EQ(ShapeOf(g, "idx"), (std::vector<int64_t>{25}));
  EXPECT_EQ(ShapeOf(g, "zeros"), (std::vector<int64_t>{25}));
  EXPECT_EQ(ShapeOf(g, "e3"), (std::vector<int64_t>{2, 3, 25}));
  EXPECT_EQ(ShapeOf(g, "tiled"), (std::vector<int64_t>{4, 9, 16, 25}));
  const std::set<std::string> runs = {"Reshape", "ReduceMean", "Expand", "Add", "Tile"};
  for (const auto& n : g.nodes)
    EXPECT_EQ(n.is_constant, runs.count(n.op_type) == 0) << n.index << " " << n.op_type;
  EXPECT_EQ(g.nodes[14].problem->Key(), "binary:add:mb2c3h25w1");
  fs::remove_all(dir);
}

// ONNX 1.12 knows opsets up to 17; opset 18 moved Reduce* axes to an input and gave Split
// num_outputs. Our own shape rules cover them.
TEST(Import, Opset18Forms) {
  const fs::path dir = MakeTempDir("opset18");
  Tiny t(18);
  t.Input("x", {"2", "6", "4"});
  t.Ints("axes", {1});
  t.Node("ReduceMean", {"x", "axes"}, {"m"});
  auto* sp = t.Node("Split", {"x"}, {"a", "b", "c"}, "split");
  Tiny::IntAttr(sp, "axis", 1);
  Tiny::IntAttr(sp, "num_outputs", 3);
  t.Node("Sub", {"a", "m"}, {"d"});
  t.Node("Relu", {"d"}, {"y"});
  // Resize with `axes` (new in 18) and Mish (an op ONNX 1.12 does not know yet).
  t.Input("img", {"1", "2", "4", "4"});
  t.Floats("scales", {2}, 2.0f);
  Tiny::IntsAttr(t.Node("Resize", {"img", "", "scales"}, {"up"}), "axes", {2, 3});
  t.Node("Mish", {"up"}, {"mish"});
  t.Output("y", {});
  t.Output("b", {});
  t.Output("c", {});
  t.Output("mish", {});
  const Graph g = ImportOnnx(t.Write(dir / "op18.onnx"), {});
  ExpectAllStatic(g);
  EXPECT_EQ(ShapeOf(g, "mish"), (std::vector<int64_t>{1, 2, 8, 8}));
  EXPECT_TRUE(g.nodes[5].is_known);
  EXPECT_EQ(g.opset, 18);
  EXPECT_EQ(ShapeOf(g, "m"), (std::vector<int64_t>{2, 1, 4}));
  EXPECT_EQ(ShapeOf(g, "a"), (std::vector<int64_t>{2, 2, 4}));
  EXPECT_EQ(ShapeOf(g, "c"), (std::vector<int64_t>{2, 2, 4}));
  EXPECT_EQ(g.nodes[3].problem->Key(), "eltwise:relu:mb2c2h4w1");
  EXPECT_NE(g.notes.front().find("opset 18"), std::string::npos) << g.notes.front();
  fs::remove_all(dir);
}

TEST(Import, UnknownOperatorIsKeptAndListed) {
  const fs::path dir = MakeTempDir("unknown");
  for (bool declared : {true, false}) {
    SCOPED_TRACE(declared ? "output shape declared" : "output shape unknown");
    Tiny t(13, {{"com.example", 1}});
    t.Input("x", {"1", "8", "4", "4"});
    t.Node("Relu", {"x"}, {"a"});
    t.Node("FancyOp", {"a"}, {"f"}, "fancy", "com.example");
    t.Node("Relu", {"f"}, {"y"});
    if (declared) t.ValueInfo("f", {"1", "8", "4", "4"});
    t.Output("y", {});
    const Graph g = ImportOnnx(t.Write(dir / "fancy.onnx"), {});
    ASSERT_EQ(g.nodes.size(), 3u);
    const Node& f = g.nodes[1];
    EXPECT_FALSE(f.is_known);
    EXPECT_FALSE(f.is_constant);
    EXPECT_EQ(f.domain, "com.example");
    EXPECT_FALSE(f.problem);
    EXPECT_NE(f.note.find("unknown operator (domain com.example)"), std::string::npos) << f.note;
    const bool listed = std::any_of(g.notes.begin(), g.notes.end(), [](const std::string& s) {
      return s.find("node 1 (FancyOp 'fancy')") != std::string::npos;
    });
    EXPECT_TRUE(listed);
    if (declared) {
      EXPECT_EQ(g.nodes[2].problem->Key(), "eltwise:relu:mb1c8h4w4");
    } else {
      EXPECT_FALSE(g.tensors.at("y").shape_known);
      EXPECT_NE(g.nodes[2].note.find("output shape unknown"), std::string::npos);
    }
    const Partition p = DefaultPartition(g);
    onnx_testing::ExpectPartitionInvariants(g, p, "fancy");
    EXPECT_EQ(p.subgraphs.size(), 3u);  // the unknown op is alone
  }
  fs::remove_all(dir);
}

TEST(Import, ControlFlowIsOpaque) {
  const fs::path dir = MakeTempDir("if");
  Tiny t(13);
  t.Input("x", {"1", "4"});
  t.Input("cond", {}, onnx::TensorProto::BOOL);
  t.Node("Relu", {"x"}, {"a"});
  auto* n = t.Node("If", {"cond"}, {"z"}, "branch");
  for (const char* branch : {"then_branch", "else_branch"}) {
    auto* attr = n->add_attribute();
    attr->set_name(branch);
    attr->set_type(onnx::AttributeProto::GRAPH);
    auto* body = attr->mutable_g();
    body->set_name(branch);
    auto* bn = body->add_node();
    bn->set_op_type(std::string(branch) == "then_branch" ? "Sigmoid" : "Tanh");
    bn->add_input("a");  // the outer value, read without being an input of If
    bn->add_output(std::string(branch) + "_out");
    Tiny::Declare(body->add_output(), std::string(branch) + "_out", {"1", "4"});
  }
  t.Node("Relu", {"z"}, {"y"});
  t.Output("y", {"1", "4"});
  const Graph g = ImportOnnx(t.Write(dir / "if.onnx"), {});
  const Node& f = g.nodes[1];
  EXPECT_TRUE(f.is_control_flow);
  EXPECT_EQ(f.implicit_inputs, std::vector<std::string>{"a"});
  EXPECT_NE(f.note.find("control flow"), std::string::npos) << f.note;
  EXPECT_EQ(ShapeOf(g, "y"), (std::vector<int64_t>{1, 4}));  // ONNX inferred through If
  const Partition p = DefaultPartition(g);
  onnx_testing::ExpectPartitionInvariants(g, p, "if");
  fs::remove_all(dir);
}


TEST(Import, LoopWithUnknownOutputShapeIsNoted) {
  const fs::path dir = MakeTempDir("loop");
  Tiny t(13);
  t.Input("x", {"1", "4"});
  t.Input("trips", {}, onnx::TensorProto::INT64);
  t.Input("cond", {}, onnx::TensorProto::BOOL);
  t.Node("Relu", {"x"}, {"a"});
  auto* n = t.Node("Loop", {"trips", "cond"}, {"stacked"}, "loop");
  auto* attr = n->add_attribute();
  attr->set_name("body");
  attr->set_type(onnx::AttributeProto::GRAPH);
  auto* body = attr->mutable_g();
  body->set_name("body");
  Tiny::Declare(body->add_input(), "i", {}, onnx::TensorProto::INT64);
  Tiny::Declare(body->add_input(), "c_in", {}, onnx::TensorProto::BOOL);
  Tiny::Declare(body->add_output(), "c_out", {}, onnx::TensorProto::BOOL);
  Tiny::Declare(body->add_output(), "step", {"1", "4"});
  auto* b1 = body->add_node();
  b1->set_op_type("Identity");
  b1->add_input("c_in");
  b1->add_output("c_out");
  auto* b2 = body->add_node();
  b2->set_op_type("Sigmoid");
  b2->add_input("a");
  b2->add_output("step");
  t.Node("Relu", {"stacked"}, {"y"});
  t.Output("y", {});
  const Graph g = ImportOnnx(t.Write(dir / "loop.onnx"), {});
  const Node& loop = g.nodes[1];
  EXPECT_TRUE(loop.is_control_flow);
  EXPECT_EQ(loop.implicit_inputs, std::vector<std::string>{"a"});
  // The number of iterations is a run-time value: the stacked output's shape is unknown, noted on
  // the Loop and on the Relu that reads it, and the import still succeeds.
  EXPECT_FALSE(g.tensors.at("stacked").shape_known);
  EXPECT_NE(loop.note.find("output shape unknown (stacked)"), std::string::npos) << loop.note;
  EXPECT_NE(g.nodes[2].note.find("output shape unknown (y)"), std::string::npos) << g.nodes[2].note;
  const Partition p = DefaultPartition(g);
  onnx_testing::ExpectPartitionInvariants(g, p, "loop");
  // Where the model declares the shape (value_info), it is taken.
  t.ValueInfo("stacked", {"3", "1", "4"});
  const Graph declared = ImportOnnx(t.Write(dir / "loop_declared.onnx"), {});
  EXPECT_EQ(ShapeOf(declared, "y"), (std::vector<int64_t>{3, 1, 4}));
  EXPECT_EQ(declared.nodes[2].problem->Key(), "eltwise:relu:mb3c1h4w1");
  fs::remove_all(dir);
}

TEST(Import, ShapeFromRunTimeValuesNamesTheValues) {
  const fs::path dir = MakeTempDir("runtime_shape");
  Tiny t(13);
  t.Input("x", {"2", "3", "4"});
  t.Input("target", {"2"}, onnx::TensorProto::INT64);
  t.Node("Reshape", {"x", "target"}, {"y"}, "reshape");
  t.Output("y", {});
  const std::string p = t.Write(dir / "reshape.onnx");
  try {
    ImportOnnx(p, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "model '" + p + "': node 0 (Reshape 'reshape'): no static shape for output 'y' "
              "(inputs: x [2,3,4], target [2]); it depends on the values of 'target', which are "
              "not constant once the inputs are fixed");
  }
  fs::remove_all(dir);
}


// libonnx's own Scan inference dereferences a missing body; such a node must not reach it.
TEST(Import, MalformedControlFlowDoesNotCrash) {
  const fs::path dir = MakeTempDir("scan");
  Tiny t(13);
  t.Input("x", {"3", "4"});
  t.Node("Scan", {"x"}, {"s"}, "scan_without_body");
  t.Node("Relu", {"s"}, {"y"});
  t.Output("y", {});
  const Graph g = ImportOnnx(t.Write(dir / "scan.onnx"), {});
  EXPECT_TRUE(g.nodes[0].is_control_flow);
  EXPECT_NE(g.nodes[0].note.find("control flow"), std::string::npos);
  EXPECT_FALSE(g.tensors.at("y").shape_known);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace layoutdb::selector
