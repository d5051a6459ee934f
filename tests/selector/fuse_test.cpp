// Fused problems: the key of each anchor sub-graph formed as the runtime fuses it (folds, post-ops,
// where the chain stops), on small hand-built ONNX graphs; the plan costing a fused sub-graph by one
// lookup (an exact fused row), from the anchor plus measured marginal post-op costs, and operator by
// operator only when nothing fused is measured; `layoutdb sweep --model` then `select` round trip.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "layoutdb/json_schema.h"
#include "layoutdb/selector.h"
#include "onnx_test_util.h"
#include "selector/graph.h"
#include "synthetic_db.h"
#include "tests/shell.h"

namespace layoutdb::selector {
namespace {

using onnx_testing::Tiny;
using testing::SyntheticDb;
using testing::TempDir;

const char* kConv = "conv2d:mb1ic8ih8iw8oc8kh3kw3sh1sw1ph1pw1g1";

// x [1,8,8,8] -> Conv(W, B) -> `tail` nodes; returns the path.
void ConvInto(Tiny& t, const std::string& out) {
  t.Input("x", {"1", "8", "8", "8"});
  t.Floats("W", {8, 8, 3, 3}, 0.1f);
  t.Floats("B", {8}, 0.1f);
  auto* c = t.Node("Conv", {"x", "W", "B"}, {out});
  Tiny::IntsAttr(c, "kernel_shape", {3, 3});
  Tiny::IntsAttr(c, "pads", {1, 1, 1, 1});
}

void Bn(Tiny& t, const std::string& in, const std::string& out) {
  for (const char* s : {"bn_s", "bn_b", "bn_m"}) t.Floats(s, {8}, 0.5f);
  t.Floats("bn_v", {8}, 1.0f);
  t.Node("BatchNormalization", {in, "bn_s", "bn_b", "bn_m", "bn_v"}, {out});
}

struct Formed {
  Graph g;
  Partition p;
  std::optional<FusedProblem> fp;
};

Formed Form(const Tiny& t, const std::string& name) {
  TempDir dir;
  Formed f;
  f.g = ImportOnnx(t.Write(dir.File(name + ".onnx")), {});
  f.p = DefaultPartition(f.g);
  EXPECT_FALSE(f.p.subgraphs.empty());
  f.fp = FuseSubgraph(f.g, f.p.subgraphs.front());
  return f;
}

// ResNet's bottleneck end: Conv -> BN -> Relu -> Add(residual x) -> Relu.
Tiny Residual() {
  Tiny t(13);
  ConvInto(t, "c");
  Bn(t, "c", "bn");
  t.Node("Relu", {"bn"}, {"r"});
  t.Node("Add", {"r", "x"}, {"a"});
  t.Node("Relu", {"a"}, {"y"});
  t.Output("y", {"1", "8", "8", "8"});
  return t;
}

TEST(FusedKey, BatchNormFoldsActivationsAndTheResidualSumArePostOps) {
  const Formed f = Form(Residual(), "residual");
  ASSERT_EQ(f.p.subgraphs.size(), 1u);
  ASSERT_TRUE(f.fp);
  EXPECT_EQ(f.fp->problem.Key(), std::string(kConv) + "+relu+sum+relu");
  EXPECT_EQ(f.fp->nodes, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(f.fp->folded, (std::vector<int>{1}));
  EXPECT_EQ(ModelProblemKeys(f.g, f.p), (std::vector<std::string>{std::string(kConv) + "+relu+sum+relu"}));
}

// Constant per-channel Mul before any post-op folds; after one it is `mulc`; a constant full-size
// operand is `sub`.
TEST(FusedKey, ConstantOperandsFoldFirstThenBecomePerChannelOrFullSizePostOps) {
  Tiny t(13);
  ConvInto(t, "c");
  t.Floats("s1", {1, 8, 1, 1}, 2.0f);
  t.Floats("s2", {8, 1, 1}, 3.0f);
  t.Floats("full", {1, 8, 8, 8}, 1.0f);
  t.Node("Mul", {"c", "s1"}, {"m1"});
  t.Node("Sigmoid", {"m1"}, {"sg"});
  t.Node("Mul", {"s2", "sg"}, {"m2"});  // the chain's tensor second: Mul commutes
  t.Node("Sub", {"m2", "full"}, {"y"});
  t.Output("y", {"1", "8", "8", "8"});
  const Formed f = Form(t, "consts");
  ASSERT_TRUE(f.fp);
  EXPECT_EQ(f.fp->problem.Key(), std::string(kConv) + "+sigmoid+mulc+sub");
  EXPECT_EQ(f.fp->folded, (std::vector<int>{1}));
  EXPECT_EQ(f.fp->nodes.size(), 5u);
}

// MatMul with constant weights: a constant per-column Add folds into the bias (no post-op), a later
// per-column Mul is `mulc`.
TEST(FusedKey, MatmulBiasFoldsAndPerColumnOperandsAreChannelPostOps) {
  Tiny t(13);
  t.Input("x", {"1", "16", "32"});
  t.Floats("W", {32, 64}, 0.1f);
  t.Floats("b", {64}, 0.1f);
  t.Floats("g", {64}, 2.0f);
  t.Node("MatMul", {"x", "W"}, {"mm"});
  t.Node("Add", {"mm", "b"}, {"ab"});
  t.Node("Tanh", {"ab"}, {"th"});
  t.Node("Mul", {"th", "g"}, {"y"});
  t.Output("y", {"1", "16", "64"});
  const Formed f = Form(t, "matmul");
  ASSERT_TRUE(f.fp);
  EXPECT_EQ(f.fp->problem.Key(), "matmul:mb1m16n64k32+tanh+mulc");
  EXPECT_EQ(f.fp->folded, (std::vector<int>{1}));
}

// A follower the key cannot name (Softplus has no eltwise problem) ends the chain: it and what
// follows are the sub-graph's separate passes, listed as their own problems.
TEST(FusedKey, TheChainStopsAtAFollowerWithoutAPostOpName) {
  Tiny t(13);
  ConvInto(t, "c");
  t.Node("Softplus", {"c"}, {"l"});
  t.Node("Relu", {"l"}, {"y"});
  t.Output("y", {"1", "8", "8", "8"});
  const Formed f = Form(t, "leaky");
  ASSERT_EQ(f.p.subgraphs.size(), 1u);
  ASSERT_EQ(f.p.subgraphs[0].nodes.size(), 3u);  // the partition fuses all three
  ASSERT_TRUE(f.fp);
  EXPECT_EQ(f.fp->problem.Key(), kConv);
  EXPECT_EQ(f.fp->nodes, (std::vector<int>{0}));
  EXPECT_EQ(ModelProblemKeys(f.g, f.p),
            (std::vector<std::string>{kConv, "eltwise:relu:mb1c8h8w8"}));
}

// Pooling takes no post-ops: no fused problem; its followers keep their own problems.
// ConvTranspose -> BN -> Relu: the BN folds into the deconvolution's weights as into a convolution's,
// and the Relu is its own pass, as the runtime runs it (oneDNN 2.6 runs a deconvolution with an
// eltwise post-op 10-15x slower than without one): the key is the bare deconvolution.
TEST(FusedKey, ADeconvolutionFoldsBatchNormAndTakesNoPostOp) {
  Tiny t(13);
  t.Input("x", {"1", "8", "8", "8"});
  t.Floats("W", {8, 8, 2, 2}, 0.1f);
  auto* d = t.Node("ConvTranspose", {"x", "W"}, {"d"});
  Tiny::IntsAttr(d, "kernel_shape", {2, 2});
  Tiny::IntsAttr(d, "strides", {2, 2});
  for (const char* s : {"bn_s", "bn_b", "bn_m"}) t.Floats(s, {8}, 0.5f);
  t.Floats("bn_v", {8}, 1.0f);
  t.Node("BatchNormalization", {"d", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"});
  t.Node("Relu", {"bn"}, {"y"});
  t.Output("y", {"1", "8", "16", "16"});
  const Formed f = Form(t, "deconv");
  ASSERT_TRUE(f.fp);
  EXPECT_EQ(f.fp->problem.Key(), "deconv:mb1ic8ih8iw8oc8kh2kw2sh2sw2ph0pw0g1");
  EXPECT_EQ(f.fp->nodes, (std::vector<int>{0, 1}));
  EXPECT_EQ(f.fp->folded, (std::vector<int>{1}));
  // The Relu's own problem is measured beside it.
  const auto keys = ModelProblemKeys(f.g, f.p);
  EXPECT_NE(std::find(keys.begin(), keys.end(), "deconv:mb1ic8ih8iw8oc8kh2kw2sh2sw2ph0pw0g1"), keys.end());
  EXPECT_EQ(std::count_if(keys.begin(), keys.end(), [](const std::string& k) { return k.rfind("eltwise:relu", 0) == 0; }), 1);
}

TEST(FusedKey, AnAnchorWithoutPostOpsHasNoFusedProblem) {
  Tiny t(13);
  t.Input("x", {"1", "8", "8", "8"});
  auto* mp = t.Node("MaxPool", {"x"}, {"p"});
  Tiny::IntsAttr(mp, "kernel_shape", {2, 2});
  Tiny::IntsAttr(mp, "strides", {2, 2});
  t.Node("Relu", {"p"}, {"y"});
  t.Output("y", {"1", "8", "4", "4"});
  const Formed f = Form(t, "pool");
  EXPECT_FALSE(f.fp);
  EXPECT_EQ(ModelProblemKeys(f.g, f.p).size(), 2u);
}

// ---- costing ----

const std::string kFusedKey = std::string(kConv) + "+relu+sum+relu";

Plan SelectResidual(const std::string& db_path) {
  TempDir dir;
  const std::string model = Residual().Write(dir.File("residual.onnx"));
  return Selector::Open(db_path).Select(model, {});
}

// Every operator of the residual sub-graph measured alone, in nchw.
// Costed pass by pass: conv 100, relu 30, add 35, relu 30. The BatchNormalization (40 alone) folds
// into the conv's weights, as the runtime runs it, so it is no pass of its own.
constexpr double kSeparateUs = 100 + 30 + 35 + 30;
void FillSeparate(SyntheticDb& db) {
  db.Op(kConv, "cpu", "nchw", 100);
  db.Op("bnorm:mb1c8h8w8", "cpu", "nchw", 40);
  db.Op("eltwise:relu:mb1c8h8w8", "cpu", "nchw", 30);
  db.Op("binary:add:mb1c8h8w8", "cpu", "nchw", 35);
}

bool HasNote(const Plan& p, const std::string& part) {
  return std::any_of(p.notes.begin(), p.notes.end(), [&](const auto& n) { return n.find(part) != std::string::npos; });
}

TEST(FusedCost, AnExactFusedRowIsTheSubgraphsCostNotTheSumOfItsPasses) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("f.db"));
    FillSeparate(db);
    db.Op(kFusedKey, "cpu", "nchw", 115);
    db.Close();
  }
  const Plan p = SelectResidual(dir.File("f.db"));
  ASSERT_EQ(p.subgraphs.size(), 1u);
  const PlanSubgraph& sg = p.subgraphs[0];
  EXPECT_EQ(sg.fused_key, kFusedKey);
  EXPECT_EQ(sg.fused_cost, "fused");
  EXPECT_EQ(sg.confidence, "exact");
  // The comparable time of an ok row is its median; 100+40+30+35+30 = 235 would be the old sum.
  EXPECT_NEAR(sg.predicted_us, 115, 1e-6);
  EXPECT_FALSE(HasNote(p, "no fused measurement"));
  // The fused key is in the plan JSON, which validates against the schema.
  const auto j = nlohmann::json::parse(p.ToJson());
  EXPECT_EQ(j["subgraphs"][0]["fused_key"], kFusedKey);
  EXPECT_EQ(j["subgraphs"][0]["fused_cost"], "fused");
  const auto schema = nlohmann::json::parse(
      std::ifstream(std::filesystem::path(testing::SourceDir()) / "schema" / "plan.schema.json"));
  EXPECT_TRUE(ValidateJson(schema, j).empty());
}

// The residual sub-graph planned on `db` is costed as its anchor plus the post-ops' marginal costs,
// `us` in all (within `tolerance`).
void ExpectAnchorPlusMarginals(const std::string& db, double us, double tolerance = 1e-6) {
  const Plan p = SelectResidual(db);
  ASSERT_EQ(p.subgraphs.size(), 1u);
  const PlanSubgraph& sg = p.subgraphs[0];
  EXPECT_EQ(sg.fused_key, kFusedKey);
  EXPECT_EQ(sg.fused_cost, "anchor+marginal");
  EXPECT_EQ(sg.confidence, "interpolated");
  EXPECT_NEAR(sg.predicted_us, us, tolerance);
}

// Not measured fused, and no fused problem of the same chain: the anchor's own time plus, per post-op,
// the marginal cost fitted from another shape's (fused - anchor) pairs, scaled by output bytes.
TEST(FusedCost, AnchorPlusMeasuredMarginalPostOpCosts) {
  const std::string other = "conv2d:mb1ic8ih16iw16oc16kh3kw3sh1sw1ph1pw1g1";  // output 16x16x16: 16 KiB
  const double other_bytes = 16.0 * 16 * 16 * 4, my_bytes = 8.0 * 8 * 8 * 4;
  TempDir dir;
  {
    SyntheticDb db(dir.File("m.db"));
    FillSeparate(db);
    db.Op(other, "cpu", "nchw", 300);
    db.Op(other + "+relu", "cpu", "nchw", 300 + 0.001 * other_bytes);  // relu: 1 ns per output byte
    db.Op(other + "+sum", "cpu", "nchw", 300 + 0.004 * other_bytes);   // sum: 4 ns per output byte
    db.Close();
  }
  ExpectAnchorPlusMarginals(dir.File("m.db"), 100 + (0.001 + 0.004 + 0.001) * my_bytes);
}

// Not measured fused, the same chain measured at other shapes, the anchor measured here: the
// anchor's own time plus the marginals, not the chain's other shapes scaled (held-out fused points of
// two default sweeps: 64% and 61% within 10% so, 39% and 38% from the other shapes).
TEST(FusedCost, AMeasuredAnchorPlusMarginalsBeatsTheChainsOtherShapes) {
  // Two other shapes whose anchor runs at a different rate than ours: scaled by FLOPs from them the
  // chain would cost 2 x 100 here; their (fused - anchor) pairs give the chain's marginal rates.
  TempDir dir;
  const double rate = 0.001 + 0.004 + 0.001;  // relu, sum, relu: us per output byte
  {
    SyntheticDb db(dir.File("a.db"));
    FillSeparate(db);
    for (int c : {16, 32}) {
      const std::string other = fmt::format("conv2d:mb1ic8ih8iw8oc{}kh3kw3sh1sw1ph1pw1g1", c);
      const double out_bytes = c * 8.0 * 8 * 4;
      const double anchor_us = 2 * 100.0 * c / 8;  // twice our time per FLOP
      db.Op(other, "cpu", "nchw", anchor_us);
      db.Op(other + "+relu+sum+relu", "cpu", "nchw", anchor_us + rate * out_bytes);
      db.Op(other + "+relu", "cpu", "nchw", anchor_us + 0.001 * out_bytes);
      db.Op(other + "+sum", "cpu", "nchw", anchor_us + 0.004 * out_bytes);
    }
    db.Close();
  }
  ExpectAnchorPlusMarginals(dir.File("a.db"), 100 + rate * 8 * 8 * 8 * 4);
}

// Neither the chain nor its anchor measured at this shape: the anchor's estimate from its own family
// (every shape the spec swept) plus the marginals, not the chain's few other shapes scaled (held-out
// fused points of a warm and a hot default sweep, the anchor held out too: 48% and 51% within 10%
// so, 41% and 40% from the chain's other shapes).
TEST(FusedCost, AnEstimatedAnchorPlusMarginalsBeatsTheChainsOtherShapes) {
  auto conv = [](int hw) { return fmt::format("conv2d:mb1ic8ih{0}iw{0}oc8kh3kw3sh1sw1ph1pw1g1", hw); };
  TempDir dir;
  const double rate = 0.001 + 0.004 + 0.001;  // relu, sum, relu: us per output byte
  {
    SyntheticDb db(dir.File("e.db"));
    db.Op("bnorm:mb1c8h8w8", "cpu", "nchw", 40);
    db.Op("eltwise:relu:mb1c8h8w8", "cpu", "nchw", 30);
    db.Op("binary:add:mb1c8h8w8", "cpu", "nchw", 35);
    // The anchor alone on either side of this 8x8 map, at 1000 us for its work: kNN makes it about
    // 1000 here (the fixed overhead keeps it a few percent off).
    db.Op(conv(4), "cpu", "nchw", 250);
    db.Op(conv(16), "cpu", "nchw", 4000);
    // The chain measured only on a 32x32 map, where the anchor runs at twice that rate: scaled from
    // there the chain would cost about 2000 here. Its pair with the anchor gives the marginal rates.
    const double out_bytes = 8.0 * 32 * 32 * 4, anchor_us = 2 * 1000.0 * 16;
    db.Op(conv(32), "cpu", "nchw", anchor_us);
    db.Op(conv(32) + "+relu+sum+relu", "cpu", "nchw", anchor_us + rate * out_bytes);
    db.Op(conv(32) + "+relu", "cpu", "nchw", anchor_us + 0.001 * out_bytes);
    db.Op(conv(32) + "+sum", "cpu", "nchw", anchor_us + 0.004 * out_bytes);
    db.Close();
  }
  ExpectAnchorPlusMarginals(dir.File("e.db"), 1000 + rate * 8 * 8 * 8 * 4, 100);
}

// A post-op never measured fused anywhere: no rate to add, so the sub-graph is costed pass by pass,
// and the plan says so for that sub-graph.
TEST(FusedCost, APostOpWithoutAMarginalFallsBackToSeparatePassesWithANote) {
  const std::string other = "conv2d:mb1ic8ih16iw16oc16kh3kw3sh1sw1ph1pw1g1";
  TempDir dir;
  {
    SyntheticDb db(dir.File("s.db"));
    FillSeparate(db);
    db.Op(other, "cpu", "nchw", 300);
    db.Op(other + "+relu", "cpu", "nchw", 310);  // relu known, sum not
    db.Close();
  }
  const Plan p = SelectResidual(dir.File("s.db"));
  EXPECT_EQ(p.subgraphs[0].fused_cost, "separate");
  EXPECT_NEAR(p.subgraphs[0].predicted_us, kSeparateUs, 1e-6);
  EXPECT_TRUE(HasNote(p, "was not measured fused")) << fmt::format("{}", fmt::join(p.notes, "\n"));
}

// A file where kConv alone costs 100 us, and a 16-channel convolution (output 16 KiB) 300 us alone and
// each of `chains` fused at its rate over that (us per output byte); a model of kConv and `followers`
// planned on it: its one sub-graph.
PlanSubgraph PlanOnPooledRates(const std::vector<std::pair<std::string, double>>& chains,
                                  const std::function<void(Tiny&)>& followers) {
  const std::string other = "conv2d:mb1ic8ih16iw16oc16kh3kw3sh1sw1ph1pw1g1";
  const double other_bytes = 16.0 * 16 * 16 * 4;
  TempDir dir;
  {
    SyntheticDb db(dir.File("r.db"));
    db.Op(kConv, "cpu", "nchw", 100);
    // A LeakyRelu of kConv's output as a pass of its own: 30 us, what a fused chain must not cost.
    db.Op("eltwise:leakyrelu:mb1c8h8w8", "cpu", "nchw", 30);
    db.Op(other, "cpu", "nchw", 300);
    for (const auto& [chain, rate] : chains) db.Op(other + "+" + chain, "cpu", "nchw", 300 + rate * other_bytes);
    db.Close();
  }
  Tiny t(13);
  ConvInto(t, "c");
  followers(t);
  t.Output("y", {"1", "8", "8", "8"});
  const Plan p = Selector::Open(dir.File("r.db")).Select(t.Write(dir.File("m.onnx")), {});
  EXPECT_EQ(p.subgraphs.size(), 1u);
  return p.subgraphs.at(0);
}

constexpr double kMyBytes = 8.0 * 8 * 8 * 4;  // kConv's output

// An activation never measured fused on the unit runs inside the anchor's kernel as the measured ones
// do: it costs their pooled marginal rate, not a pass of its own over the output.
TEST(FusedCost, AnActivationNeverMeasuredFusedCostsTheOtherActivationsRate) {
  const PlanSubgraph sg = PlanOnPooledRates({{"relu", 0.001}, {"clip", 0.002}, {"sigmoid", 0.004}},
                                               [](Tiny& t) { t.Node("LeakyRelu", {"c"}, {"y"}); });
  EXPECT_EQ(sg.fused_key, std::string(kConv) + "+leakyrelu");
  EXPECT_EQ(sg.fused_cost, "anchor+marginal");
  EXPECT_NEAR(sg.predicted_us, 100 + 0.002 * kMyBytes, 1e-6);  // the median rate: clip's
}

// A binary post-op by a per-channel constant never measured fused (a Div after the activation: one
// right after the convolution folds into its weights) costs the median rate of the per-channel ones
// that were (addc, mulc, subc), as activations pool theirs; not a pass of its own.
TEST(FusedCost, AChannelConstantNeverMeasuredFusedCostsTheOtherChannelConstantsRate) {
  const PlanSubgraph sg = PlanOnPooledRates(
      {{"relu", 0.010}, {"addc", 0.001}, {"mulc", 0.003}, {"subc", 0.005}}, [](Tiny& t) {
        t.Node("Relu", {"c"}, {"r"});
        t.Floats("d", {1, 8, 1, 1}, 2.0f);
        t.Node("Div", {"r", "d"}, {"y"});
      });
  EXPECT_EQ(sg.fused_key, std::string(kConv) + "+relu+divc");
  EXPECT_EQ(sg.fused_cost, "anchor+marginal");
  EXPECT_NEAR(sg.predicted_us, 100 + (0.010 + 0.003) * kMyBytes, 1e-6);  // divc at mulc's rate
}

// A database without any fused measurement: today's rule (every operator its own pass), said once.
TEST(FusedCost, NoFusedMeasurementAtAllCostsOperatorByOperatorAndSaysSo) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("n.db"));
    FillSeparate(db);
    db.Close();
  }
  const Plan p = SelectResidual(dir.File("n.db"));
  EXPECT_EQ(p.subgraphs[0].fused_key, kFusedKey);
  EXPECT_EQ(p.subgraphs[0].fused_cost, "separate");
  EXPECT_NEAR(p.subgraphs[0].predicted_us, kSeparateUs, 1e-6);
  EXPECT_TRUE(HasNote(p, "no fused measurement")) << fmt::format("{}", fmt::join(p.notes, "\n"));
}

// A unit that does not fuse the chain (its fused row unsupported, as OpenCL's for a residual sum) runs
// the followers as their own kernels: the sub-graph stays feasible there, costed pass by pass.
TEST(FusedCost, AnUnsupportedFusedRowMeansSeparatePassesNotAnInfeasibleState) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("u.db"));
    FillSeparate(db);
    SyntheticDb::OpOptions unsupported;
    unsupported.status = "unsupported";
    db.Op(kFusedKey, "cpu", "nchw", 0, unsupported);
    db.Op(std::string(kConv) + "+relu", "cpu", "nchw", 104);  // something fused is measured
    db.Close();
  }
  const Plan p = SelectResidual(dir.File("u.db"));
  ASSERT_EQ(p.subgraphs.size(), 1u);
  EXPECT_EQ(p.subgraphs[0].fused_cost, "separate");
  EXPECT_NEAR(p.subgraphs[0].predicted_us, kSeparateUs, 1e-6);
  EXPECT_FALSE(HasNote(p, "no fused measurement"));
}

// Interpolation among fused problems of the same chain where no post-op has a marginal cost (no chain
// is measured beside its anchor): never the plain anchor family alone.
TEST(FusedCost, InterpolatesAmongFusedProblemsOfTheSameChain) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("i.db"));
    FillSeparate(db);
    for (int oc : {4, 16, 32})
      db.Op(fmt::format("conv2d:mb1ic8ih8iw8oc{}kh3kw3sh1sw1ph1pw1g1+relu+sum+relu", oc), "cpu", "nchw", 1000);
    db.Close();
  }
  const Plan p = SelectResidual(dir.File("i.db"));
  EXPECT_EQ(p.subgraphs[0].fused_cost, "fused");
  EXPECT_EQ(p.subgraphs[0].confidence, "interpolated");
  // Scaled from 1000 us neighbours (the anchor alone measures 100): far above the anchor's time.
  EXPECT_GT(p.subgraphs[0].predicted_us, 200);
}

// The `any` baseline runs what oneDNN chose for the kernel the runtime builds: the fused chain. A file
// of `sweep --model` holds that row and not the anchor alone, whose nearest measured relative (a
// 1x1-pixel conv for which oneDNN chose nchw) once made MobileNetV2's `any` an nchw plan predicted at
// 17.5 ms, where it ran 3.0 ms.
TEST(FusedCost, AnyTakesTheLayoutOneDnnChoseForTheFusedChain) {
  TempDir dir;
  const std::string fused = std::string(kConv) + "+relu";
  {
    SyntheticDb db(dir.File("any.db"));
    db.Op(fused, "cpu", "nchw", 100);
    db.Op(fused, "cpu", "nhwc", 20);
    db.Op(fused, "cpu", "any", 21, {"f32", false, "ok", "nhwc", ""});
    db.Op("conv2d:mb1ic8ih1iw1oc8kh1kw1sh1sw1ph0pw0g1", "cpu", "any", 1, {"f32", false, "ok", "nchw", ""});
    db.Reorder("cpu", "nchw", "nhwc", 1, 8, 8, 8, 2);
    db.Reorder("cpu", "nhwc", "nchw", 1, 8, 8, 8, 3);
    db.Close();
  }
  Tiny t(13);
  ConvInto(t, "c");
  t.Node("Relu", {"c"}, {"y"});
  t.Output("y", {"1", "8", "8", "8"});
  const std::string model = t.Write(dir.File("conv_relu.onnx"));
  const Plan p = Selector::Open(dir.File("any.db")).Select(model, {});
  ASSERT_EQ(p.subgraphs.size(), 1u);
  EXPECT_EQ(p.subgraphs[0].fused_key, fused);
  std::map<std::string, double> total;
  for (const auto& b : p.baselines) total[b.name] = b.total_us;
  ASSERT_TRUE(total.count("cpu:any") && total.count("cpu:nhwc") && total.count("cpu:nchw"));
  EXPECT_DOUBLE_EQ(total["cpu:any"], total["cpu:nhwc"]);  // 2 + 20 + 3: into nhwc, the conv, back
  EXPECT_DOUBLE_EQ(total["cpu:any"], 2 + 20 + 3);
  EXPECT_DOUBLE_EQ(total["cpu:nchw"], 100);
}

// A chain is no better than its anchor: where the anchor alone runs only oneDNN's reference loop
// (paddle_det's 3-channel first conv with a blocked src), its unmeasured fused key is excluded too,
// however cheap the chains interpolated from other shapes look there (oneDNN's post-ops only narrow
// the implementations; the runtime ran that Conv+BN+HardSwish 724 ms in nChw16c).
TEST(FusedCost, AChainWhoseAnchorIsAReferenceKernelThereIsExcludedThere) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("r.db"));
    FillSeparate(db);
    for (const std::string l : {"nchw", "nhwc"})
      for (int oc : {4, 16, 32})
        db.Op(fmt::format("conv2d:mb1ic8ih8iw8oc{}kh3kw3sh1sw1ph1pw1g1+relu+sum+relu", oc), "cpu", l,
              l == "nhwc" ? 10 : 1000);
    db.Op(kConv, "cpu", "nhwc", 1, {"f32", true, "ok", "", ""});  // the anchor: reference only, in nhwc
    for (const std::string& l : {std::string("nchw"), std::string("nhwc")})
      db.Reorder("cpu", l, l == "nchw" ? "nhwc" : "nchw", 1, 8, 8, 8, 1);
    db.Close();
  }
  const Plan p = SelectResidual(dir.File("r.db"));
  ASSERT_EQ(p.subgraphs.size(), 1u);
  EXPECT_EQ(p.subgraphs[0].layout, "nchw");
  for (const auto& c : p.subgraphs[0].candidates) EXPECT_NE(c.layout, "nhwc") << c.predicted_us;
}

// A file of `sweep --model` holds the fused chain and not its anchor alone. Where the chain has only
// oneDNN's reference kernel (measured ok on it, or left unsupported as too slow to time, flagged or,
// in files written before, known by its reason), the runtime would run that kernel: the layout is
// excluded, even though other shapes' anchors would interpolate fast there. A chain the unit merely
// does not fuse (OpenCL) is still run as separate kernels.
TEST(FusedCost, AChainWithOnlyAReferenceKernelExcludesItsLayoutWhenItsAnchorWasNeverMeasured) {
  struct Case {
    std::string name;
    SyntheticDb::OpOptions row;
    bool nhwc_allowed;
  };
  const std::vector<Case> cases = {
      {"flagged reference, unsupported", {"f32", true, "unsupported", "", ""}, false},
      {"reference only, known by its reason",
       {"f32", false, "unsupported", "",
        "oneDNN 2.6.3 has only its reference kernel ref:any here; 0.152 GFLOP at reference speed is too "
        "slow to time (limit 0.05 GFLOP)"},
       false},
      {"ok on a reference kernel", {"f32", true, "ok", "", ""}, false},
      {"not fused by the unit", {"f32", false, "unsupported", "", "fused post-ops +relu+sum+relu: not fused here"}, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    {
      SyntheticDb db(dir.File("r.db"));
      FillSeparate(db);
      // nhwc: the followers are cheap, other shapes' anchors fast; this chain has only a reference kernel.
      for (int oc : {4, 16, 32}) db.Op(fmt::format("conv2d:mb1ic8ih8iw8oc{}kh3kw3sh1sw1ph1pw1g1", oc), "cpu", "nhwc", 5);
      db.Op("eltwise:relu:mb1c8h8w8", "cpu", "nhwc", 1);
      db.Op("binary:add:mb1c8h8w8", "cpu", "nhwc", 1);
      db.Op(kFusedKey, "cpu", "nchw", 150);  // as `sweep --model` measures the chain: in every layout
      db.Op(kFusedKey, "cpu", "nhwc", 50000, c.row);
      for (const std::string& l : {std::string("nchw"), std::string("nhwc")})
        db.Reorder("cpu", l, l == "nchw" ? "nhwc" : "nchw", 1, 8, 8, 8, 1);
      db.Close();
    }
    const Plan p = SelectResidual(dir.File("r.db"));
    ASSERT_EQ(p.subgraphs.size(), 1u);
    bool nhwc = false;
    for (const auto& k : p.subgraphs[0].candidates) nhwc |= k.layout == "nhwc";
    EXPECT_EQ(nhwc, c.nhwc_allowed) << p.ToTable();
    EXPECT_EQ(p.subgraphs[0].layout, c.nhwc_allowed ? "nhwc" : "nchw");
    // A deployed app selects from the export: the same plan (the export ships the rows that exclude).
    db::Export(dir.File("r.db"), dir.File("app.db"), {"cpu"}, {"f32"});
    const Plan app = SelectResidual(dir.File("app.db"));
    ASSERT_EQ(app.subgraphs.size(), 1u);
    EXPECT_EQ(app.subgraphs[0].layout, p.subgraphs[0].layout);
    EXPECT_DOUBLE_EQ(app.total_predicted_us, p.total_predicted_us);
  }
}

// ---- sweep --model ----

TEST(SweepModel, MeasuresTheModelsOwnProblemsThenSelectFindsEveryComputeSubgraphExact) {
  const std::string bin = testing::LayoutdbBin();
  const auto model = onnx_testing::ModelsDir() / "paddle_cnn.onnx";
  if (!std::filesystem::exists(bin)) GTEST_SKIP() << "no layoutdb program at " << bin;
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (built by make_models)";
  TempDir dir;
  const std::string db = dir.File("model.db");
  std::string out;
  const std::string sweep = fmt::format("'{}' sweep --model '{}' --input image:1,3,64,64 --db '{}' --units cpu "
                                        "--dtypes f32 --cache hot --quiet",
                                        bin, model.string(), db);
  ASSERT_EQ(layoutdb::testing::Shell(sweep, &out), 0) << out;
  // The keys it measured are the model's own.
  const ModelProblemSet set = ModelProblems(model.string(), {{"image", {1, 3, 64, 64}}});
  const std::vector<std::string>& keys = set.keys;
  ASSERT_FALSE(keys.empty());
  // So are the conversions: the image and the feature maps between sub-graphs.
  EXPECT_NE(std::find(set.conversion_shapes.begin(), set.conversion_shapes.end(), std::vector<int64_t>{1, 3, 64, 64}),
            set.conversion_shapes.end());
  EXPECT_GE(set.conversion_shapes.size(), 2u);
  EXPECT_GE(set.transfer_bytes.size(), set.conversion_shapes.size());
  EXPECT_TRUE(std::any_of(keys.begin(), keys.end(), [](const auto& k) { return k.find("+") != std::string::npos; }));
  // Resumable like any sweep: a second run measures nothing again.
  ASSERT_EQ(layoutdb::testing::Shell(fmt::format("'{}' sweep --model '{}' --input image:1,3,64,64 --db '{}' "
                                                 "--units cpu --dtypes f32",
                                                 bin, model.string(), db),
                                     &out),
            0)
      << out;
  // (one point per problem, one per conversion shape on the cpu; no OpenCL unit: no transfers)
  EXPECT_NE(out.find(fmt::format("{} resumed", keys.size() + set.conversion_shapes.size())), std::string::npos)
      << out;

  ASSERT_EQ(layoutdb::testing::Shell(fmt::format("'{}' select '{}' --input image:1,3,64,64 --db '{}' --units cpu "
                                                 "--json",
                                                 bin, model.string(), db),
                                     &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  int compute = 0;
  for (const auto& sg : j["subgraphs"]) {
    const auto ops = sg["ops"].get<std::vector<std::string>>();
    if (ops == std::vector<std::string>{"Reshape"}) continue;  // no database problem: roofline by design
    ++compute;
    EXPECT_EQ(sg["confidence"], "exact") << sg.dump();
    if (sg.contains("fused_key")) {
      EXPECT_EQ(sg["fused_cost"], "fused") << sg.dump();
      EXPECT_NE(std::find(keys.begin(), keys.end(), sg["fused_key"].get<std::string>()), keys.end());
    }
  }
  EXPECT_GE(compute, 6);
  // A database holding only this sweep plans the model with every layout open: every conversion it
  // needs was measured (before they were, on a fresh file, every layout but nchw was "infeasible" and
  // MobileNetV2's plan ran 8x slower than with a default sweep).
  for (const auto& note : j["notes"]) EXPECT_EQ(note.get<std::string>().find("infeasible"), std::string::npos) << note;
  std::map<std::string, double> baseline;
  for (const auto& b : j["baselines"])
    if (b.contains("total_us") && b["total_us"].is_number()) baseline[b["name"]] = b["total_us"];
  for (const char* name : {"cpu:nchw", "cpu:nhwc", "cpu:nChw16c", "cpu:any"})
    EXPECT_TRUE(baseline.count(name)) << name << " has no prediction: " << j["baselines"].dump();
  EXPECT_LE(j["total_predicted_us"].get<double>(), baseline["cpu:nchw"] * (1 + 1e-9));
  // A bad model path: one line, non-zero exit.
  EXPECT_NE(layoutdb::testing::Shell(fmt::format("'{}' sweep --model '{}' --db '{}'", bin, dir.File("none.onnx"), db),
                                     &out),
            0);
  EXPECT_NE(out.find("none.onnx"), std::string::npos) << out;
}

}  // namespace
}  // namespace layoutdb::selector
