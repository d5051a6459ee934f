// Import maps each glue op (Concat, Resize, Transpose, Slice, Pad, Reduce*, ConvTranspose, LeakyRelu,
// PRelu, 1-D Conv) to its database problem, on small hand-built models; shapes outside a family stay
// without one, with a note.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include <fstream>
#include <nlohmann/json.hpp>

#include "onnx_test_util.h"
#include "selector/glue_problems.h"
#include "selector/graph.h"
#include "selector/plan.h"
#include "synthetic_db.h"

namespace layoutdb::selector {
namespace {

using onnx_testing::MakeTempDir;
using onnx_testing::Tiny;
namespace fs = std::filesystem;

const Node& ByName(const Graph& g, const std::string& name) {
  for (const auto& n : g.nodes)
    if (n.name == name) return n;
  ADD_FAILURE() << "no node " << name;
  static Node none;
  return none;
}

std::string KeyOf(const Graph& g, const std::string& name) {
  const Node& n = ByName(g, name);
  return n.problem ? n.problem->Key() : "none (" + n.note + ")";
}

void StrAttr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

void FloatAttr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

TEST(GlueImport, EachOpMapsToItsProblem) {
  const fs::path dir = MakeTempDir("glue");
  Tiny t(13);
  t.Input("x", {"1", "16", "8", "8"});
  t.Input("y", {"1", "32", "8", "8"});
  // Detector glue: LeakyRelu, Concat of unequal pieces, nearest and linear Resize, ConvTranspose.
  FloatAttr(t.Node("LeakyRelu", {"x"}, {"lr"}), "alpha", 0.1f);
  Tiny::IntAttr(t.Node("Concat", {"lr", "y"}, {"cat"}), "axis", 1);  // 16 + 32 = 48
  Tiny::IntAttr(t.Node("Concat", {"x", "x"}, {"cat2"}), "axis", 1);
  t.Floats("scales", {4}, 0);
  t.g->mutable_initializer(0)->clear_float_data();
  for (float s : {1.f, 1.f, 2.f, 2.f}) t.g->mutable_initializer(0)->add_float_data(s);
  t.Node("Resize", {"x", "", "scales"}, {"up"});
  StrAttr(t.Node("Resize", {"x", "", "scales"}, {"upl"}), "mode", "linear");
  t.Floats("dw", {16, 8, 4, 4});
  auto* dc = t.Node("ConvTranspose", {"x", "dw"}, {"dc"});
  Tiny::IntsAttr(dc, "strides", {2, 2});
  Tiny::IntsAttr(dc, "pads", {1, 1, 1, 1});
  // Transformer glue: [b,t,h,d] -> [b,h,t,d], and NCHW -> NHWC.
  t.Input("q", {"1", "128", "12", "64"});
  Tiny::IntsAttr(t.Node("Transpose", {"q"}, {"qt"}), "perm", {0, 2, 1, 3});
  Tiny::IntsAttr(t.Node("Transpose", {"x"}, {"nhwc"}), "perm", {0, 2, 3, 1});
  // Slice of channels (constant starts/ends/axes/steps), Pad of H and W, ReduceMean over H, W and
  // over the last axis of a rank-3 tensor.
  t.Ints("st", {0});
  t.Ints("en", {8});
  t.Ints("ax", {1});
  t.Ints("one", {1});
  t.Node("Slice", {"y", "st", "en", "ax", "one"}, {"sl"});
  t.Ints("pads", {0, 0, 1, 2, 0, 0, 1, 0});
  t.Node("Pad", {"x", "pads"}, {"pd"});
  Tiny::IntsAttr(t.Node("ReduceMean", {"y"}, {"gap"}), "axes", {2, 3});
  t.Input("seq", {"1", "128", "768"});
  auto* rm = t.Node("ReduceMean", {"seq"}, {"rmean"});
  Tiny::IntsAttr(rm, "axes", {-1});
  Tiny::IntAttr(rm, "keepdims", 1);
  t.Floats("slope", {16, 1, 1}, 0.25f);
  t.Node("PRelu", {"x", "slope"}, {"pr"});
  // 1-D convolution.
  t.Input("s1", {"1", "8", "100"});
  t.Floats("w1", {16, 8, 3});
  auto* c1 = t.Node("Conv", {"s1", "w1"}, {"c1"});
  Tiny::IntsAttr(c1, "pads", {1, 1});
  for (const char* o : {"cat", "cat2", "up", "upl", "dc", "qt", "nhwc", "sl", "pd", "gap", "rmean", "pr", "c1"})
    t.Output(o, {});
  const Graph g = ImportOnnx(t.Write(dir / "glue.onnx"), {});

  EXPECT_EQ(KeyOf(g, "lr"), "eltwise:leakyrelu:mb1c16h8w8");
  EXPECT_EQ(KeyOf(g, "cat"), "concat:mb1c48h8w8n2");
  EXPECT_NE(ByName(g, "cat").note.find("unequal pieces [16,32]"), std::string::npos) << ByName(g, "cat").note;
  EXPECT_EQ(KeyOf(g, "cat2"), "concat:mb1c32h8w8n2");
  EXPECT_EQ(ByName(g, "cat2").note, "");
  EXPECT_EQ(KeyOf(g, "up"), "resample:nearest:mb1c16ih8iw8oh16ow16");
  EXPECT_EQ(KeyOf(g, "upl"), "resample:linear:mb1c16ih8iw8oh16ow16");
  EXPECT_EQ(KeyOf(g, "dc"), "deconv:mb1ic16ih8iw8oc8kh4kw4sh2sw2ph1pw1g1");
  EXPECT_EQ(ByName(g, "dc").note, "");
  // ConvTranspose's FLOPs are its real work, not its output size.
  EXPECT_DOUBLE_EQ(ByName(g, "dc").problem->Flops(), 2.0 * 16 * 8 * 8 * 8 * 16);
  EXPECT_EQ(KeyOf(g, "qt"), "transpose:p0213:mb1c128h12w64");
  EXPECT_EQ(KeyOf(g, "nhwc"), "transpose:p0231:mb1c16h8w8");
  EXPECT_EQ(KeyOf(g, "sl"), "slice:mb1c32h8w8oc8oh8ow8");
  EXPECT_EQ(KeyOf(g, "pd"), "pad:mb1c16h8w8pt1pb1pl2pr0");
  EXPECT_EQ(KeyOf(g, "gap"), "reduce:mean:mb1c32h8w8oc32oh1ow1");
  EXPECT_EQ(KeyOf(g, "rmean"), "reduce:mean:mb1c128h768w1oc128oh1ow1");
  EXPECT_EQ(KeyOf(g, "pr"), "prelu:mb1c16h8w8");
  EXPECT_EQ(KeyOf(g, "c1"), "conv2d:mb1ic8ih1iw100oc16kh1kw3sh1sw1ph0pw1g1");
  fs::remove_all(dir);
}

TEST(GlueImport, ShapesOutsideAFamilyStayUnmappedWithANote) {
  const fs::path dir = MakeTempDir("glue_out");
  Tiny t(13);
  t.Input("x", {"1", "3", "8", "8"});
  t.Input("z", {"1", "4", "8", "8"});
  Tiny::IntAttr(t.Node("Concat", {"x", "z"}, {"odd"}), "axis", 1);  // 7 channels in 2 pieces
  Tiny::IntsAttr(t.Node("Transpose", {"x"}, {"same"}), "perm", {0, 1, 2, 3});
  t.Ints("st", {0});
  t.Ints("en", {8});
  t.Ints("ax", {2});
  t.Ints("two", {2});
  t.Node("Slice", {"x", "st", "en", "ax", "two"}, {"strided"});
  t.Ints("pads", {0, 0, 1, 1, 0, 0, 1, 1});
  StrAttr(t.Node("Pad", {"x", "pads"}, {"refl"}), "mode", "reflect");
  t.Input("b2", {"2", "3", "8", "8"});
  t.Node("ReduceMean", {"b2"}, {"all"});  // every axis, a batch of 2 too
  t.Node("ReduceMean", {"x"}, {"all1"});  // a batch of 1 reduces to itself: that fits
  for (const char* o : {"odd", "same", "strided", "refl", "all", "all1"}) t.Output(o, {});
  const Graph g = ImportOnnx(t.Write(dir / "glue_out.onnx"), {});
  auto expect_note = [&](const std::string& name, const std::string& part) {
    const Node& n = ByName(g, name);
    EXPECT_FALSE(n.problem) << name << ": " << n.problem->Key();
    EXPECT_NE(n.note.find(part), std::string::npos) << name << ": " << n.note;
  };
  expect_note("odd", "7 is not a multiple of 2");
  expect_note("same", "identity Transpose");
  expect_note("strided", "Slice with step 2");
  expect_note("refl", "Pad mode 'reflect'");
  expect_note("all", "over the batch dim");
  EXPECT_EQ(KeyOf(g, "all1"), "reduce:mean:mb1c3h8w8oc1oh1ow1");
  fs::remove_all(dir);
}

// Every glue node of the bundled models gets a problem or says why not; the detectors' glue maps
// completely. Prints the keys (scripts/gen_specs.py takes the models' glue shapes from them).
TEST(GlueImport, BundledModelsMapTheirGlue) {
  const auto glue = GlueOps();
  for (const char* model : {"yolo_det", "paddle_det", "paddle_cnn", "bert_block", "bert_block_ln17",
                            "bert_base_shared", "mobilenetv2", "resnet50"}) {
    const fs::path path = onnx_testing::ModelsDir() / (std::string(model) + ".onnx");
    if (!fs::exists(path)) GTEST_SKIP() << path << " is not built (target example_models)";
    InputShapes fixed;
    if (std::string(model) == "paddle_det") fixed = {{"x", {1, 3, 320, 320}}};  // dynamic H and W
    if (std::string(model).rfind("bert", 0) == 0) fixed = {{"hidden_states", {1, 128, 768}}};
    const Graph g = ImportOnnx(path.string(), fixed);
    int mapped = 0, unmapped = 0;
    for (const auto& n : g.nodes) {
      if (n.is_constant || std::find(glue.begin(), glue.end(), n.op_type) == glue.end()) continue;
      if (n.problem) {
        ++mapped;
        std::printf("glue %s %s %s\n", model, n.op_type.c_str(), n.problem->Key().c_str());
      } else {
        ++unmapped;
        EXPECT_FALSE(n.note.empty()) << model << " " << n.name << " (" << n.op_type << ") has neither";
        std::printf("unmapped %s %s %s: %s\n", model, n.op_type.c_str(), n.name.c_str(), n.note.c_str());
      }
    }
    if (std::string(model) == "yolo_det" || std::string(model) == "paddle_det") {
      EXPECT_GT(mapped, 0) << model;
      EXPECT_EQ(unmapped, 0) << model;
    }
  }
}

// yolo_det's plan against a database holding the problems of the quick spec (synthetic times that
// grow with the work, on every cpu layout the unit offers the op in): with the glue problems no
// sub-graph is left to roofline; without them (the quick spec before the glue families) some are.
TEST(GlueImport, YoloPlanOnTheQuickSpecsProblemsHasNoRoofline) {
  const fs::path model = onnx_testing::ModelsDir() / "yolo_det.onnx";
  if (!fs::exists(model)) GTEST_SKIP() << model << " is not built (target example_models)";
  std::ifstream f(fs::path(testing::SourceDir()) / "schema" / "quick.json");
  ASSERT_TRUE(f) << "schema/quick.json";
  const auto spec = nlohmann::json::parse(f);
  std::vector<std::string> keys;
  for (const auto& group : spec.at("problems"))
    for (const auto& k : group.value("keys", nlohmann::json::array())) keys.push_back(k.get<std::string>());
  const auto glue = [](const Problem& p) {
    static const std::vector<std::string> kBefore = {"conv2d", "matmul", "ip", "pool", "eltwise",
                                                     "binary", "softmax", "bnorm", "lnorm"};
    return std::find(kBefore.begin(), kBefore.end(), p.op()) == kBefore.end() || p.alg() == "leakyrelu";
  };
  const Graph g = ImportOnnx(model.string(), {});
  const Partition part = DefaultPartition(g);
  auto roofline_subgraphs = [&](bool with_glue) {
    testing::TempDir dir;
    testing::SyntheticDb db(dir.File("q.db"));
    for (const auto& key : keys) {
      const Problem p = Problem::Parse(key);
      if (!with_glue && glue(p)) continue;
      const double us = 1 + p.Bytes(4) / 2e4 + p.Flops() / 1e5;
      const std::vector<std::string> layouts =
          p.IsSpatial() ? std::vector<std::string>{"nchw", "nhwc", "nChw8c", "nChw16c"}
                        : std::vector<std::string>{"plain"};
      for (const auto& l : layouts) db.Op(key, "cpu", l, us);
    }
    CostModel cost = CostModel::Load(db.Close());
    const Plan plan = BuildPlan(g, part, cost, {});
    int n = 0;
    for (const auto& sg : plan.subgraphs) n += sg.confidence == "roofline";
    std::printf("yolo_det: %d of %zu sub-graphs by roofline (%s the glue problems)\n", n, plan.subgraphs.size(),
                with_glue ? "with" : "without");
    return n;
  };
  EXPECT_GT(roofline_subgraphs(false), 0);
  EXPECT_EQ(roofline_subgraphs(true), 0);
}

}  // namespace
}  // namespace layoutdb::selector
