// Cost lookup on real SQLite files filled with synthetic measurements: exact rows, exclusion of
// reference kernels, interpolation, roofline, reorders and transfers.
#include <gtest/gtest.h>

#include <cmath>
#include <fmt/format.h>

#include <limits>
#include <map>
#include <optional>
#include <tuple>

#include "selector/cost.h"
#include "synthetic_db.h"

namespace layoutdb::selector {
namespace {

using testing::SyntheticDb;
using testing::TempDir;

// The synthetic machine: convolutions at 50 GFLOP/s plus 2 µs, their output channels computed in
// blocks of 16 (as oneDNN's kernels do in nchw and nhwc), eltwise at 20 GB/s plus 1 µs.
double ConvUs(const std::string& key) {
  const Problem p = Problem::Parse(key);
  const double oc = static_cast<double>(p.Get("oc"));
  return 2.0 + p.Flops() * static_cast<double>((p.Get("oc") + 15) / 16 * 16) / oc / 50e3;
}
double EltUs(const std::string& key) { return 1.0 + Problem::Parse(key).Bytes(4) / 20e3; }

std::string Conv(int c, int hw, int k = 3) {
  return fmt::format("conv2d:mb1ic{}ih{}iw{}oc{}kh{}kw{}sh1sw1ph{}pw{}g1", c, hw, hw, c, k, k, k / 2, k / 2);
}
std::string Relu(int c, int hw) { return fmt::format("eltwise:relu:mb1c{}h{}w{}", c, hw, hw); }

// `key` costed on the cpu in `layout` (f32): interpolated, within `tolerance` (relative) of `truth_us`.
void ExpectInterpolatedNear(const CostModel& cost, const std::string& key, const std::string& layout,
                            double truth_us, double tolerance) {
  const Problem p = Problem::Parse(key);
  const auto e = cost.Op(p, p.Key(), "cpu", layout, "f32");
  ASSERT_TRUE(e) << key << " " << layout;
  EXPECT_EQ(e->confidence, Confidence::kInterpolated) << key << " " << layout;
  EXPECT_NEAR(e->us / truth_us, 1.0, tolerance) << key << " " << layout;
}

class CostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SyntheticDb db(dir_.File("cost.db"), {"cpu", "ocl:0:0"});
    for (int c : {16, 32, 64, 128})
      for (int hw : {14, 28, 56}) {
        db.Op(Conv(c, hw), "cpu", "nchw", ConvUs(Conv(c, hw)));
        db.Op(Relu(c, hw), "cpu", "nchw", EltUs(Relu(c, hw)));
      }
    // A 3-channel conv whose blocked candidate fell to the reference kernel, and one oneDNN refused.
    db.Op(Conv(3, 56), "cpu", "nChw16c", 5000, {"f32", true, "ok", "", ""});
    db.Op(Conv(3, 56), "cpu", "nhwc", 0, {"f32", false, "unsupported", "", ""});
    db.Op(Conv(3, 56), "cpu", "any", 40, {"f32", false, "ok", "nChw16c", ""});
    // nhwc: the 64-channel conv measured 3x off the rule (a stall), the others on it.
    for (int c : {16, 32, 48, 64, 96, 128})
      db.Op(Conv(c, 28), "cpu", "nhwc", (c == 64 ? 3 : 1) * ConvUs(Conv(c, 28)));
    db.Reorder("cpu", "nchw", "nChw16c", 1, 64, 56, 56, 80);
    db.Reorder("cpu", "nchw", "nChw16c", 1, 64, 14, 14, 5);
    db.Reorder("cpu", "nChw16c", "nchw", 1, 64, 56, 56, 90);
    db.Reorder("cpu", "nhwc", "nchw", 1, 64, 56, 56, 70);
    db.Op(Conv(32, 28), "ocl:0:0", "nc4hw4", 30);
    db.Transfer("ocl:0:0", "write", 1 << 10, 10);
    db.Transfer("ocl:0:0", "write", 1 << 20, 100);
    db.Transfer("ocl:0:0", "read", 1 << 20, 120);
    db.Close();
    cost_.emplace(CostModel::Load(dir_.File("cost.db")));
  }
  TempDir dir_;
  std::optional<CostModel> cost_;
};

TEST_F(CostTest, UnitsCpuFirstAndLayoutsAsMeasured) {
  EXPECT_EQ(cost_->Units(), (std::vector<std::string>{"cpu", "ocl:0:0"}));
  // The reference-kernel and unsupported rows do not make a layout available.
  EXPECT_EQ(cost_->Layouts("cpu", "conv2d", "f32"), (std::vector<std::string>{"any", "nchw", "nhwc"}));
  EXPECT_EQ(cost_->Layouts("ocl:0:0", "conv2d", "f32"), (std::vector<std::string>{"nc4hw4"}));
  EXPECT_TRUE(cost_->Layouts("cpu", "conv2d", "bf16").empty());
}

TEST_F(CostTest, ExactMeasurement) {
  auto e = cost_->Op(Problem::Parse(Conv(64, 28)), "cpu", "nchw", "f32");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->confidence, Confidence::kExact);
  EXPECT_DOUBLE_EQ(e->us, ConvUs(Conv(64, 28)));
  EXPECT_EQ(cost_->ChosenLayout(Conv(3, 56), "cpu", "f32"), "nChw16c");
}

// An unmeasured problem whose nearest measured sibling in a layout has no usable kernel there (a
// 3-channel conv: unsupported in nhwc here) is not interpolated from the usable convs of other
// channel counts: paddle_det's 640x640 stem conv was costed 0.4 ms in nChw8c from them and ran
// 1.1 s on oneDNN's reference loop.
TEST_F(CostTest, NoEstimateWhereTheNearestMeasuredSiblingHasNoUsableKernel) {
  bool excluded = false;
  const Problem stem = Problem::Parse(Conv(3, 28));
  EXPECT_FALSE(cost_->Op(stem, stem.Key(), "cpu", "nhwc", "f32", true, &excluded));
  EXPECT_TRUE(excluded);
  // In nchw no 3-channel conv was measured at all (no unusable sibling): interpolated as before.
  EXPECT_TRUE(cost_->Op(stem, stem.Key(), "cpu", "nchw", "f32", true, &excluded));
  EXPECT_FALSE(excluded);
  // A wide conv's nearest nhwc sibling is usable: interpolated as before.
  const Problem wide = Problem::Parse(Conv(128, 14));
  auto e = cost_->Op(wide, wide.Key(), "cpu", "nhwc", "f32", true, &excluded);
  ASSERT_TRUE(e);
  EXPECT_FALSE(excluded);
  EXPECT_EQ(e->confidence, Confidence::kInterpolated);
}

TEST_F(CostTest, ReferenceKernelsAndUnsupportedAreNeverCosted) {
  const Problem p = Problem::Parse(Conv(3, 56));
  bool excluded = false;
  EXPECT_FALSE(cost_->Op(p, p.Key(), "cpu", "nChw16c", "f32", true, &excluded));
  EXPECT_TRUE(excluded);
  EXPECT_FALSE(cost_->Op(p, "cpu", "nhwc", "f32"));
  // Not measured at all in nChw8c: estimated (roofline: no nChw8c family), not excluded.
  auto e = cost_->Op(p, p.Key(), "cpu", "nChw8c", "f32", true, &excluded);
  ASSERT_TRUE(e);
  EXPECT_FALSE(excluded);
  EXPECT_EQ(e->confidence, Confidence::kRoofline);
}

// What no neighbour can show: the unit's library would run only its reference loop for this one
// problem there (paddle_cnn's 3-channel stem conv in nChw16c was costed 13 us from a roofline and ran
// 6.7 ms). The refuse check is asked once per unmeasured state, never for a measured one, and a
// refused state is excluded as a measured reference kernel is.
TEST_F(CostTest, AnUnmeasuredStateTheRefuseCheckNamesIsExcluded) {
  std::map<std::string, int> asked;
  CostModelOptions o;
  o.refuse = [&](const std::string& key, const std::string& unit, const std::string& layout,
                 const std::string& dtype) -> std::optional<std::string> {
    ++asked[key + " " + unit + " " + layout + " " + dtype];
    if (key == Conv(48, 40) && layout == "nchw") return "oneDNN would run its reference kernel ref:any here";
    return std::nullopt;
  };
  const CostModel cost = CostModel::Load(dir_.File("cost.db"), o);
  const Problem refused = Problem::Parse(Conv(48, 40)), other = Problem::Parse(Conv(24, 20));
  bool excluded = false;
  EXPECT_FALSE(cost.Op(refused, refused.Key(), "cpu", "nchw", "f32", true, &excluded));
  EXPECT_TRUE(excluded);
  EXPECT_FALSE(cost.Op(refused, refused.Key(), "cpu", "nchw", "f32", true, &excluded));
  EXPECT_EQ(asked[Conv(48, 40) + " cpu nchw f32"], 1);
  // The same problem in another layout, and another problem in the same layout: estimated as before.
  for (const auto& [p, layout] : {std::pair{refused, "nhwc"}, {other, "nchw"}}) {
    const auto e = cost.Op(p, p.Key(), "cpu", layout, "f32", true, &excluded);
    ASSERT_TRUE(e) << p.Key() << " " << layout;
    EXPECT_FALSE(excluded);
    EXPECT_EQ(e->confidence, Confidence::kInterpolated);
    const auto before = cost_->Op(p, p.Key(), "cpu", layout, "f32");
    ASSERT_TRUE(before);
    EXPECT_DOUBLE_EQ(e->us, before->us);
  }
  // A measured state is its measurement: nothing is asked.
  const Problem measured = Problem::Parse(Conv(64, 28));
  ASSERT_TRUE(cost.Op(measured, measured.Key(), "cpu", "nchw", "f32", true, &excluded));
  EXPECT_EQ(asked.count(Conv(64, 28) + " cpu nchw f32"), 0u);
}

TEST_F(CostTest, InterpolatesUnmeasuredProblemsOfTheSameFamily) {
  for (auto [c, hw] : {std::pair{48, 40}, {24, 20}, {96, 50}}) {
    auto e = cost_->Op(Problem::Parse(Conv(c, hw)), "cpu", "nchw", "f32");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->confidence, Confidence::kInterpolated);
    EXPECT_NEAR(e->us / ConvUs(Conv(c, hw)), 1.0, 0.10) << Conv(c, hw);
    auto r = cost_->Op(Problem::Parse(Relu(c, hw)), "cpu", "nchw", "f32");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->confidence, Confidence::kInterpolated);
    EXPECT_NEAR(r->us / EltUs(Relu(c, hw)), 1.0, 0.10) << Relu(c, hw);
  }
  // Leave-one-out never uses the left-out row: the stalled nhwc row is predicted from the others.
  const Problem p = Problem::Parse(Conv(64, 28));
  EXPECT_DOUBLE_EQ(cost_->Op(p, "cpu", "nhwc", "f32")->us, 3 * ConvUs(Conv(64, 28)));
  auto loo = cost_->Interpolate(p, "cpu", "nhwc", "f32", p.Key());
  ASSERT_TRUE(loo);
  EXPECT_NEAR(loo->us / ConvUs(Conv(64, 28)), 1.0, 0.10);
  // And a stalled neighbour does not drag an unmeasured problem next to it (median of three).
  auto near = cost_->Op(Problem::Parse(Conv(56, 28)), "cpu", "nhwc", "f32");
  ASSERT_TRUE(near);
  EXPECT_EQ(near->confidence, Confidence::kInterpolated);
  EXPECT_NEAR(near->us / ConvUs(Conv(56, 28)), 1.0, 0.10);
}

// A family whose problems are all the same size (a model's four residual convolutions, 0.10 GFLOP
// each) says nothing about a fixed cost per run: the spread of their times is not one. A problem 64
// times smaller is scaled down from them, not costed as the fastest of them.
TEST(CostFamily, SizesThatHardlyDifferFitNoFixedOverhead) {
  TempDir dir;
  SyntheticDb db(dir.File("same.db"), {"cpu"});
  // (channels, spatial size, us): within 4% of one size, as ResNet's were (103.0-104.4 MFLOP).
  const std::vector<std::tuple<int, int, double>> members = {
      {16, 57, 300}, {32, 28, 320}, {64, 14, 340}, {128, 7, 430}};
  for (const auto& [c, hw, us] : members) db.Op(Conv(c, hw), "cpu", "nChw8c", us);
  db.Op(Relu(16, 7), "cpu", "nchw", 1.5);  // the unit's fastest run
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("same.db"));
  const Problem small = Problem::Parse(Conv(8, 14));
  ASSERT_DOUBLE_EQ(Problem::Parse(Conv(32, 28)).Flops() / small.Flops(), 64.0);
  const auto e = cost.Op(small, small.Key(), "cpu", "nChw8c", "f32");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->confidence, Confidence::kInterpolated);
  // Its nearest members scaled by size (300-430 us / 64-66 = 4.5-6.7 us), plus at most the launch
  // time (a fitted "overhead" of 300 us made it 300).
  EXPECT_GT(e->us, 300.0 / 67);
  EXPECT_LT(e->us, 430.0 / 64 + 1.5);
}

std::string Conv1x1(int ic, int oc, int hw) {
  return fmt::format("conv2d:mb1ic{}ih{}iw{}oc{}kh1kw1sh1sw1ph0pw0g1", ic, hw, hw, oc);
}
std::string Depthwise(int c, int hw) {
  return fmt::format("conv2d:mb1ic{}ih{}iw{}oc{}kh3kw3sh1sw1ph1pw1g{}", c, hw, hw, c, c);
}

// A neighbour four times away or more in a shape parameter may run in another regime: its time
// carries over as its distance to the roofline, not as its time per FLOP. Squeeze-excitation 1x1
// convolutions on a 1x1 image are weight-bound (2.6x their roofline here); a 28x28 1x1 convolution
// is compute-bound. By their time per FLOP it would cost 13x its roofline.
TEST(CostFamily, AFarNeighbourCarriesItsDistanceToTheRooflineNotItsTimePerFlop) {
  TempDir dir;
  SyntheticDb db(dir.File("regimes.db"), {"cpu"});
  // The unit's peak (50 GFLOP/s) and bandwidth (20 GB/s), from compute-bound convolutions and ReLUs.
  for (int c : {64, 128, 256})
    for (int hw : {28, 56}) db.Op(Conv(c, hw), "cpu", "nchw", ConvUs(Conv(c, hw)));
  for (int c : {64, 256}) db.Op(Relu(c, 56), "cpu", "nchw", EltUs(Relu(c, 56)));
  // Weight-bound: 2 us plus their bytes at half the bandwidth.
  for (int ic : {128, 256, 512}) {
    const std::string key = Conv1x1(ic, ic / 4, 1);
    db.Op(key, "cpu", "nChw8c", 2 + Problem::Parse(key).Bytes(4) / 10e3);
  }
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("regimes.db"));
  const Problem p = Problem::Parse(Conv1x1(256, 64, 28));
  const auto roof = cost.Roofline(p.Flops(), p.Bytes(4), "cpu");
  ASSERT_TRUE(roof);
  EXPECT_NEAR(roof->us - cost.LaunchUs("cpu"), p.Flops() / 50e3, 0.05 * p.Flops() / 50e3);  // compute-bound
  const auto e = cost.Op(p, p.Key(), "cpu", "nChw8c", "f32");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->confidence, Confidence::kInterpolated);
  EXPECT_GT(e->us, roof->us);
  EXPECT_LT(e->us, 4 * roof->us) << "scaled by FLOPs from weight-bound neighbours";
}

// A convolution's kernels compute in blocks of output channels (16 in nhwc, 8 in nChw8c): 40 output
// channels cost what 48 do. A family of 1x1 convolutions timed as that (5 ns per padded kFLOP, the
// rate this Xeon ran ic128's at 32 channels in nhwc) predicts 40 channels by its padded work; scaled
// by FLOPs, 40 channels came out 17% under from 48 and 32. In nhwc a 3-channel input is not padded
// (oneDNN loops over input channels); in nChw8c the tensor itself is.
TEST(CostFamily, ConvolutionsScaleByTheirWorkInTheLayoutsChannelBlocks) {
  TempDir dir;
  SyntheticDb db(dir.File("blocks.db"), {"cpu"});
  auto padded_us = [](int ic, int oc, int block) {  // block 16: nhwc, 8: nChw8c
    const auto up = [&](int c) { return (c + block - 1) / block * block; };
    return 2.0 * 28 * 28 * (block == 8 ? up(ic) : ic) * up(oc) * 5e-6;
  };
  for (int ic : {3, 12, 112, 128, 144})
    for (int oc : {32, 48}) {
      db.Op(Conv1x1(ic, oc, 28), "cpu", "nhwc", padded_us(ic, oc, 16));
      db.Op(Conv1x1(ic, oc, 28), "cpu", "nChw8c", padded_us(ic, oc, 8));
    }
  db.Op(Relu(64, 28), "cpu", "nchw", 1.0);
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("blocks.db"));
  for (int ic : {4, 128}) {
    const Problem p = Problem::Parse(Conv1x1(ic, 40, 28));
    for (const auto& [layout, block] : {std::pair<std::string, int>{"nhwc", 16}, {"nChw8c", 8}}) {
      const auto e = cost.Op(p, p.Key(), "cpu", layout, "f32");
      ASSERT_TRUE(e) << layout;
      EXPECT_EQ(e->confidence, Confidence::kInterpolated) << layout;
      EXPECT_NEAR(e->us / padded_us(ic, 40, block), 1.0, 0.03) << ic << " " << layout;
    }
  }
}

// Neighbours more than 4x away in a channel count scale by their rooflines, whose compute side is the
// same padded work: 24 output channels cost what 32 do there too. By raw FLOPs a Paddle detector's
// 96->24 3x3 convolution on 160x160 came out 3.5 ms from 128-channel neighbours; it ran 4.6.
TEST(CostFamily, FarNeighboursScaleByTheRooflineOfThePaddedWork) {
  TempDir dir;
  SyntheticDb db(dir.File("far.db"), {"cpu"});
  auto padded_us = [](int ic, int oc) { return 2.0 * 28 * 28 * ic * ((oc + 15) / 16 * 16) * 5e-6; };
  for (int ic : {32, 128})
    for (int oc : {128, 256}) db.Op(Conv1x1(ic, oc, 28), "cpu", "nhwc", padded_us(ic, oc));
  db.Op(Relu(64, 28), "cpu", "nchw", 1.0);  // memory far faster than the convolutions' compute
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("far.db"));
  ExpectInterpolatedNear(cost, Conv1x1(128, 24, 28), "nhwc", padded_us(128, 24), 0.03);
}

// A transposed convolution scales from its neighbours by the bytes it moves, not by FLOPs: oneDNN's
// time for it follows the output it writes (op_table.cpp). The synthetic machine writes 1 GB/s and
// computes for free; from 16- and 64-channel neighbours, a 32 -> 64 channel one costs its bytes (by
// FLOPs it would come out 2x its 16 -> 64 neighbour, 1.2x its time).
TEST(CostFamily, TransposedConvolutionsScaleByTheirBytes) {
  TempDir dir;
  SyntheticDb db(dir.File("deconv.db"), {"cpu"});
  auto deconv = [](int ic, int oc, int hw) {
    return fmt::format("deconv:mb1ic{}ih{}iw{}oc{}kh2kw2sh2sw2ph0pw0g1", ic, hw, hw, oc);
  };
  auto bytes_us = [&](int ic, int oc, int hw) { return Problem::Parse(deconv(ic, oc, hw)).Bytes(4) / 1e3; };
  for (int ic : {16, 64})
    for (int oc : {16, 64})
      for (int hw : {40, 80}) db.Op(deconv(ic, oc, hw), "cpu", "nhwc", bytes_us(ic, oc, hw));
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("deconv.db"));
  for (int hw : {40, 80}) ExpectInterpolatedNear(cost, deconv(32, 64, hw), "nhwc", bytes_us(32, 64, hw), 0.05);
}

// Each output pixel of a transposed convolution sums kh*kw/(sh*sw) taps: a 4x4 stride-2 one does
// four times the work per output pixel of a 2x2 stride-2 one (ResNet-style decoders, FPN upsampling
// with 4x4 kernels). Interpolated from 2x2 ones alone, a 4x4 one comes out at its taps' share.
TEST(CostFamily, TransposedConvolutionsCountTheirTapsPerOutputPixel) {
  TempDir dir;
  SyntheticDb db(dir.File("taps.db"), {"cpu"});
  auto deconv = [](int c, int hw, int k) {
    return fmt::format("deconv:mb1ic{0}ih{1}iw{1}oc{0}kh{2}kw{2}sh2sw2ph{3}pw{3}g1", c, hw, k, k / 2 - 1);
  };
  // 1 ns per output element and tap (a 2x2 stride-2 one: one tap per output pixel).
  auto us = [&](int c, int hw, int k) {
    return static_cast<double>(Problem::Parse(deconv(c, hw, k)).DstElems()) * (k * k / 4) * 1e-3;
  };
  for (int c : {16, 32, 64})
    for (int hw : {20, 40, 80}) db.Op(deconv(c, hw, 2), "cpu", "nhwc", us(c, hw, 2));
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("taps.db"));
  ExpectInterpolatedNear(cost, deconv(32, 40, 4), "nhwc", us(32, 40, 4), 0.05);
}

// With caches evicted before each repetition a kernel reads its weights from the last-level cache:
// a 1x1 convolution with many weights and few pixels runs below its neighbours' FLOP rate. On a
// synthetic machine where each weight costs 60 FLOPs' time, leave-one-out at load prices weights
// (WeightFlops > 0), and a weight-bound convolution is interpolated within 10%; where time follows
// FLOPs alone, the price stays 0 (a convolution is not priced for weights it was never slowed by).
TEST(CostFamily, WeightsArePricedWhereLeaveOneOutSaysTheyCost) {
  for (const double per_weight : {0.0, 60.0}) {
    TempDir dir;
    SyntheticDb db(dir.File("w.db"), {"cpu"});
    auto us = [&](int ic, int oc, int hw) {
      const Problem p = Problem::Parse(Conv1x1(ic, oc, hw));
      return 2.0 + (p.Flops() + per_weight * ic * oc) * 5e-6;
    };
    // Channels measured 4x apart, images 2x apart: a convolution's nearest shapes are its own
    // channels on other images, whose weights weigh less (or more) against their FLOPs.
    for (int c : {64, 256, 1024})
      for (int hw : {7, 14, 28, 56}) db.Op(Conv1x1(c, c, hw), "cpu", "nhwc", us(c, c, hw));
    db.Close();
    const CostModel cost = CostModel::Load(dir.File("w.db"));
    if (per_weight == 0) {
      EXPECT_EQ(cost.WeightFlops("cpu"), 0);
      continue;
    }
    EXPECT_GT(cost.WeightFlops("cpu"), 0);
    ExpectInterpolatedNear(cost, Conv1x1(1024, 1024, 5), "nhwc", us(1024, 1024, 5), 0.1);
  }
}

// A memory-bound kernel's rate depends on where its bytes fit. On a synthetic machine whose
// element-wise ops and poolings move 100 GB/s in cache, halved at 2 MB and falling on (its caches),
// a 4 MB pooling interpolated from pools of 2 and 8 MB scales by its bytes at the rate of their
// size, not by bytes alone; where the rate is the same at every size the rule is not chosen.
TEST(CostFamily, MemoryBoundOpsScaleByTheUnitsRateAtTheirSize) {
  for (const bool caches : {false, true}) {
    TempDir dir;
    SyntheticDb db(dir.File("rate.db"), {"cpu"});
    auto us = [&](const std::string& key) {
      const double bytes = Problem::Parse(key).Bytes(4);
      return 1.0 + bytes / (caches ? 100e3 / (1 + bytes / 2e6) : 100e3);
    };
    for (int c : {16, 32, 64, 128, 256, 512})
      for (int hw : {14, 28, 56, 112}) {
        db.Op(Relu(c, hw), "cpu", "nchw", us(Relu(c, hw)));
        db.Op(Relu(c, hw), "cpu", "nhwc", us(Relu(c, hw)));
      }
    auto pool = [](int c, int hw) {
      return fmt::format("pool:max:mb1ic{}ih{}iw{}kh2kw2sh2sw2ph0pw0", c, hw, hw);
    };
    for (int c : {32, 128, 512})
      for (int hw : {14, 28, 56, 112}) db.Op(pool(c, hw), "cpu", "nhwc", us(pool(c, hw)));
    db.Close();
    const CostModel cost = CostModel::Load(dir.File("rate.db"));
    EXPECT_EQ(cost.ScalesByRateCurve("cpu", "pool"), caches);
    if (!caches) continue;
    // 4 MB; its neighbours of 128 and 512 channels: 2 and 8 MB.
    ExpectInterpolatedNear(cost, pool(256, 56), "nhwc", us(pool(256, 56)), 0.1);
  }
}

// A depthwise convolution is a family of its own: never interpolated from dense convolutions (other
// kernels, another regime), and interpolated from depthwise ones.
TEST(CostFamily, DepthwiseConvolutionsAreAFamilyOfTheirOwn) {
  TempDir dir;
  SyntheticDb db(dir.File("dw.db"), {"cpu"});
  for (int c : {32, 64, 128}) db.Op(Conv(c, 28), "cpu", "nhwc", ConvUs(Conv(c, 28)));
  for (int c : {32, 128}) db.Op(Depthwise(c, 28), "cpu", "nChw16c", 2 + Problem::Parse(Depthwise(c, 28)).Bytes(4) / 5e3);
  db.Op(Relu(64, 28), "cpu", "nchw", EltUs(Relu(64, 28)));
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("dw.db"));
  const Problem dw = Problem::Parse(Depthwise(64, 28));
  // nhwc has dense convolutions only: a roofline, not their time per FLOP.
  const auto dense_only = cost.Op(dw, dw.Key(), "cpu", "nhwc", "f32");
  ASSERT_TRUE(dense_only);
  EXPECT_EQ(dense_only->confidence, Confidence::kRoofline);
  EXPECT_FALSE(cost.Interpolate(dw, "cpu", "nhwc", "f32"));
  // nChw16c has depthwise ones.
  const auto e = cost.Op(dw, dw.Key(), "cpu", "nChw16c", "f32");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->confidence, Confidence::kInterpolated);
  // A dense convolution in nChw16c has no family there.
  const Problem dense = Problem::Parse(Conv(64, 28));
  EXPECT_FALSE(cost.Interpolate(dense, "cpu", "nChw16c", "f32"));
}

// A model's own file (sweep --model) can hold a unit's convolutions with post-ops only: paddle_cnn's
// on PoCL all carry a clip or a relu, and its only plain compute kernel there is a 640-FLOP matmul.
// The unit's peak is the best rate of any compute kernel, fused ones included (each is a lower bound
// of it). Before, the matmul's 29 FLOPs per us was the peak, and a roofline priced the residual
// convolution at 41 ms, where PoCL ran the whole network in 0.3 ms.
TEST(CostFamily, AUnitsPeakIsItsBestComputeKernelFusedOrNot) {
  TempDir dir;
  SyntheticDb db(dir.File("fused.db"), {"cpu", "ocl:0:0"});
  double peak = 0;
  for (int c : {16, 32, 64}) {
    const std::string key = Conv(c, 28) + "+relu";
    db.Op(key, "ocl:0:0", "nchw", ConvUs(Conv(c, 28)));
    peak = std::max(peak, Problem::Parse(key).Flops() / ConvUs(Conv(c, 28)));
  }
  db.Op("matmul:mb1m1n10k32", "ocl:0:0", "plain", 22);
  db.Reorder("ocl:0:0", "nchw", "nhwc", 1, 16, 16, 16, 3.8);
  db.Op(Conv(32, 28), "cpu", "nchw", ConvUs(Conv(32, 28)));
  db.Close();
  const CostModel cost = CostModel::Load(dir.File("fused.db"));
  EXPECT_DOUBLE_EQ(cost.PeakFlopsPerUs("ocl:0:0"), peak);
  // A chain the unit has no figure for: a roofline at that rate, near the measured anchors.
  const Problem p = Problem::Parse(Conv(32, 28) + "+sum+relu");
  const auto e = cost.Op(p, p.Key(), "ocl:0:0", "nchw", "f32");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->confidence, Confidence::kRoofline);
  EXPECT_DOUBLE_EQ(e->us, p.Flops() / peak + cost.LaunchUs("ocl:0:0"));
  EXPECT_LT(e->us, 2 * ConvUs(Conv(32, 28)));
  EXPECT_DOUBLE_EQ(cost.PeakFlopsPerUs("cpu"), Problem::Parse(Conv(32, 28)).Flops() / ConvUs(Conv(32, 28)));
}

TEST_F(CostTest, RooflineFromTheUnitsOwnPeakAndBandwidth) {
  // Peak: the best conv; bandwidth: the best eltwise or reorder (read + write).
  double peak = 0, bw = 0, launch = 1e9;
  for (int c : {16, 32, 64, 128})
    for (int hw : {14, 28, 56}) {
      peak = std::max(peak, Problem::Parse(Conv(c, hw)).Flops() / ConvUs(Conv(c, hw)));
      bw = std::max(bw, Problem::Parse(Relu(c, hw)).Bytes(4) / EltUs(Relu(c, hw)));
      launch = std::min(launch, EltUs(Relu(c, hw)));
    }
  bw = std::max(bw, 2.0 * 64 * 56 * 56 * 4 / 70);
  EXPECT_DOUBLE_EQ(cost_->PeakFlopsPerUs("cpu"), peak);
  EXPECT_DOUBLE_EQ(cost_->BytesPerUs("cpu"), bw);
  EXPECT_DOUBLE_EQ(cost_->LaunchUs("cpu"), launch);
  // Softmax was never measured: roofline on its bytes (memory-bound here).
  const Problem sm = Problem::Parse("softmax:mb1c1000h1w1");
  auto e = cost_->Op(sm, "cpu", "nchw", "f32");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->confidence, Confidence::kRoofline);
  EXPECT_DOUBLE_EQ(e->us, std::max(sm.Flops() / peak, sm.Bytes(4) / bw) + launch);
}

TEST_F(CostTest, ConfidenceOrdersExactOverInterpolatedOverRoofline) {
  EXPECT_LT(Confidence::kRoofline, Confidence::kInterpolated);
  EXPECT_LT(Confidence::kInterpolated, Confidence::kExact);
  EXPECT_STREQ(ConfidenceName(std::min(Confidence::kExact, Confidence::kInterpolated)), "interpolated");
  EXPECT_STREQ(ConfidenceName(Confidence::kRoofline), "roofline");
}

TEST_F(CostTest, ReordersInterpolatedLogLogBetweenMeasuredSizes) {
  using Shape = std::vector<int64_t>;
  const int64_t small = 64 * 14 * 14 * 4, large = 64 * 56 * 56 * 4;
  EXPECT_DOUBLE_EQ(cost_->Reorder("cpu", "nchw", "nChw16c", "f32", small, Shape{1, 64, 14, 14}), 5);
  EXPECT_DOUBLE_EQ(cost_->Reorder("cpu", "nchw", "nChw16c", "f32", large, Shape{1, 64, 56, 56}), 80);
  const int64_t mid = 64 * 28 * 28 * 4;  // geometric middle of the two sizes
  EXPECT_NEAR(cost_->Reorder("cpu", "nchw", "nChw16c", "f32", mid, Shape{1, 64, 28, 28}), std::sqrt(5.0 * 80.0), 1e-9);
  EXPECT_DOUBLE_EQ(cost_->Reorder("cpu", "nchw", "nChw16c", "f32", 2 * large, Shape{1, 128, 56, 56}), 160);  // linear beyond
  // Same memory order: free; plain is nchw; 2D tensors: only blocked layouts reorder.
  EXPECT_EQ(cost_->Reorder("cpu", "nhwc", "nhwc", "f32", large, Shape{1, 64, 56, 56}), 0);
  EXPECT_EQ(cost_->Reorder("cpu", "plain", "nchw", "f32", large, Shape{1, 64, 56, 56}), 0);
  EXPECT_EQ(cost_->Reorder("cpu", "nhwc", "nchw", "f32", large, Shape{64, 56 * 56}), 0);
  EXPECT_GT(cost_->Reorder("cpu", "nChw16c", "nchw", "f32", large, Shape{64, 56 * 56}), 0);
  // nhwc -> nChw16c was not measured: through nchw.
  EXPECT_DOUBLE_EQ(cost_->Reorder("cpu", "nhwc", "nChw16c", "f32", large, Shape{1, 64, 56, 56}), 70 + 80);
}

// Two shapes of one byte size are two reorders: a 1-channel tensor is 16 times its size in nChw16c.
// Each measured shape is exact, and a shape between them is scaled by the bytes it touches, padding
// included (by bytes alone, both were one point of the curve, their mean).
TEST(CostReorder, ShapesOfOneByteSizeKeepTheirOwnTimes) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("r.db"));
    db.Op("conv2d:mb1ic16ih16iw16oc16kh3kw3sh1sw1ph1pw1g1", "cpu", "nchw", 10);
    db.Reorder("cpu", "nChw16c", "nhwc", 1, 16, 160, 160, 41);   // 1.6 MB
    db.Reorder("cpu", "nChw16c", "nhwc", 1, 1, 640, 640, 1618);  // 1.6 MB, 26 MB padded
    db.Reorder("cpu", "nChw16c", "nhwc", 1, 64, 56, 56, 30);     // 0.8 MB
    db.Close();
  }
  const CostModel cost = CostModel::Load(dir.File("r.db"));
  const int64_t bytes = 1638400;
  EXPECT_DOUBLE_EQ(cost.Reorder("cpu", "nChw16c", "nhwc", "f32", bytes, {1, 16, 160, 160}), 41);
  EXPECT_DOUBLE_EQ(cost.Reorder("cpu", "nChw16c", "nhwc", "f32", bytes, {1, 1, 640, 640}), 1618);
  // Unmeasured shapes of the same 1.6 MB: 64 channels touch 1.6 MB (between 0.8 and 1.6 MB's points,
  // at the 16-channel one's), a 2-channel one 13 MB (between 1.6 and 26 MB padded).
  EXPECT_DOUBLE_EQ(cost.Reorder("cpu", "nChw16c", "nhwc", "f32", bytes, {1, 64, 80, 80}), 41);
  const double two = cost.Reorder("cpu", "nChw16c", "nhwc", "f32", bytes, {1, 2, 320, 640});
  EXPECT_GT(two, 41 * 4);
  EXPECT_LT(two, 1618);
}

TEST_F(CostTest, TransfersThroughTheHost) {
  EXPECT_DOUBLE_EQ(cost_->Transfer("cpu", "ocl:0:0", 1 << 20), 100);
  EXPECT_DOUBLE_EQ(cost_->Transfer("ocl:0:0", "cpu", 1 << 20), 120);
  EXPECT_NEAR(cost_->Transfer("cpu", "ocl:0:0", 1 << 15), std::sqrt(10.0 * 100.0), 1e-9);
  EXPECT_EQ(cost_->Transfer("cpu", "cpu", 1 << 20), 0);
  // Read from 1 KiB is not measured (only 1 MiB): the smallest size measured is the floor.
  EXPECT_DOUBLE_EQ(cost_->Transfer("ocl:0:0", "cpu", 1 << 10), 120);
  EXPECT_TRUE(std::isinf(cost_->Transfer("cpu", "ocl:9:9", 1 << 20)));
}

TEST(CostLoad, MissingFileNamesThePath) {
  TempDir dir;
  const std::string path = dir.File("missing.db");
  try {
    CostModel::Load(path);
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace layoutdb::selector
