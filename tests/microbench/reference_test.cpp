// The reference kernels against results worked out by hand on tiny problems.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "microbench/reference.h"

namespace layoutdb::microbench {
namespace {

TEST(Reference, ConvByHand) {
  // One 3x3 input channel, two output channels of a 2x2 kernel, stride 1, padding 0.
  const Problem p = Problem::Parse("conv2d:mb1ic1ih3iw3oc2kh2kw2sh1sw1ph0pw0g1");
  RefTensors t = MakeInputs(p);
  t.src = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  t.wei = {1, 0, 0, 1,    // oc0: top-left + bottom-right
           0, 0, 0, 0.5};  // oc1: half of bottom-right
  t.bias = {10, -1};
  ComputeReference(p, t);
  const std::vector<float> want = {10 + 1 + 5, 10 + 2 + 6, 10 + 4 + 8, 10 + 5 + 9,
                                   -1 + 2.5f, -1 + 3, -1 + 4, -1 + 4.5f};
  EXPECT_EQ(t.dst, want);
}

TEST(Reference, GlueOpsByHand) {
  {  // ConvTranspose: one 2x2 input channel, a 2x2 kernel of ones, stride 2: each input fills a block.
    const Problem p = Problem::Parse("deconv:mb1ic1ih2iw2oc1kh2kw2sh2sw2ph0pw0g1");
    RefTensors t = MakeInputs(p);
    t.src = {1, 2, 3, 4};
    t.wei = {1, 1, 1, 1};
    t.bias = {0.5f};
    ComputeReference(p, t);
    EXPECT_EQ(t.dst, (std::vector<float>{1.5f, 1.5f, 2.5f, 2.5f, 1.5f, 1.5f, 2.5f, 2.5f,
                                         3.5f, 3.5f, 4.5f, 4.5f, 3.5f, 3.5f, 4.5f, 4.5f}));
  }
  {  // NCHW -> NHWC of [1,2,1,3].
    const Problem p = Problem::Parse("transpose:p0231:mb1c2h1w3");
    RefTensors t = MakeInputs(p);
    t.src = {1, 2, 3, 4, 5, 6};
    ComputeReference(p, t);
    EXPECT_EQ(t.dst, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  }
  {  // Two inputs of [1,1,1,2] along channels; then along w.
    RefTensors t = MakeInputs(Problem::Parse("concat:mb1c2h1w2n2"));
    t.src = {1, 2, 3, 4};
    ComputeReference(Problem::Parse("concat:mb1c2h1w2n2"), t);
    EXPECT_EQ(t.dst, (std::vector<float>{1, 2, 3, 4}));
    const Problem w = Problem::Parse("concat:mb1c2h1w2n2ax3");
    t.src = {1, 2, 3, 4};  // input 0: [1,2] over c, input 1: [3,4]
    ComputeReference(w, t);
    EXPECT_EQ(t.dst, (std::vector<float>{1, 3, 2, 4}));
  }
  {  // Nearest 2x upsampling repeats; linear 2x at half-pixel centres blends 3:1 and clamps the edges.
    const Problem n = Problem::Parse("resample:nearest:mb1c1ih1iw2oh1ow4");
    RefTensors t = MakeInputs(n);
    t.src = {1, 5};
    ComputeReference(n, t);
    EXPECT_EQ(t.dst, (std::vector<float>{1, 1, 5, 5}));
    const Problem l = Problem::Parse("resample:linear:mb1c1ih1iw2oh1ow4");
    ComputeReference(l, t);
    EXPECT_EQ(t.dst, (std::vector<float>{1, 2, 4, 5}));
  }
  {  // Slice keeps the centre; pad puts zeros around; reduce mean over w; prelu per channel.
    const Problem s = Problem::Parse("slice:mb1c1h1w4oc1oh1ow2");
    RefTensors t = MakeInputs(s);
    t.src = {1, 2, 3, 4};
    ComputeReference(s, t);
    EXPECT_EQ(t.dst, (std::vector<float>{2, 3}));
    const Problem pd = Problem::Parse("pad:mb1c1h1w2pt1pb0pl0pr1");
    t = MakeInputs(pd);
    t.src = {7, 8};
    ComputeReference(pd, t);
    EXPECT_EQ(t.dst, (std::vector<float>{0, 0, 0, 7, 8, 0}));
    const Problem r = Problem::Parse("reduce:mean:mb1c2h1w2oc2oh1ow1");
    t = MakeInputs(r);
    t.src = {1, 3, 10, 20};
    ComputeReference(r, t);
    EXPECT_EQ(t.dst, (std::vector<float>{2, 15}));
    const Problem pr = Problem::Parse("prelu:mb1c2h1w1");
    t = MakeInputs(pr);
    t.src = {-2, -2};
    t.wei = {0.5f, 0.25f};
    ComputeReference(pr, t);
    EXPECT_EQ(t.dst, (std::vector<float>{-1, -0.5f}));
  }
}

TEST(Reference, ConvPaddingStrideDilationGroups) {
  // Two groups of one channel each; dilation 2 with padding 2 on a 3x3 input, stride 3.
  const Problem p = Problem::Parse("conv2d:mb1ic2ih3iw3oc2kh2kw2sh3sw3ph2pw2dh2dw2g2");
  ASSERT_EQ(p.Oh(), 2);  // (3 + 4 - 3) / 3 + 1
  RefTensors t = MakeInputs(p);
  t.src = {1, 2, 3, 4, 5, 6, 7, 8, 9,  // channel 0
           10, 20, 30, 40, 50, 60, 70, 80, 90};
  t.wei = {1, 1, 1, 1,   // group 0 sums its taps
           0, 0, 0, 1};  // group 1 takes the bottom-right tap
  t.bias = {0, 0};
  ComputeReference(p, t);
  // Output row y reads input rows 3y-2 (tap 0) and 3y (tap 1): y=0 sees only row 0 through tap 1,
  // y=1 only row 1 through tap 0 (row 3 is padding). Columns likewise.
  // oc0: src(0,0), src(0,1), src(1,0), src(1,1). oc1 (bottom-right tap of channel 1): only (0,0).
  const std::vector<float> want = {1, 2, 4, 5, 10, 0, 0, 0};
  EXPECT_EQ(t.dst, want);
}

TEST(Reference, AvgPoolExcludesPaddingAndMaxIgnoresIt) {
  const Problem avg = Problem::Parse("pool:avg:mb1ic1ih2iw2kh2kw2sh1sw1ph1pw1");
  RefTensors t = MakeInputs(avg);
  t.src = {-1, -2, -3, -4};
  ComputeReference(avg, t);
  // 3x3 outputs; corners see one element, edges two, the centre four.
  const std::vector<float> want_avg = {-1, -1.5f, -2, -2, -2.5f, -3, -3, -3.5f, -4};
  EXPECT_EQ(t.dst, want_avg);

  const Problem max = Problem::Parse("pool:max:mb1ic1ih2iw2kh2kw2sh1sw1ph1pw1");
  t = MakeInputs(max);
  t.src = {-1, -2, -3, -4};
  ComputeReference(max, t);
  // All inputs negative: a padded zero must never win.
  const std::vector<float> want_max = {-1, -1, -2, -1, -1, -2, -3, -3, -4};
  EXPECT_EQ(t.dst, want_max);
}

TEST(Reference, SoftmaxOverTheGivenAxis) {
  const Problem p = Problem::Parse("softmax:mb1c2h1w2ax3");
  RefTensors t = MakeInputs(p);
  t.src = {0, std::log(3.f), 5, 5};  // rows along w: {0, ln 3} and {5, 5}
  ComputeReference(p, t);
  EXPECT_NEAR(t.dst[0], 0.25f, 1e-6);
  EXPECT_NEAR(t.dst[1], 0.75f, 1e-6);
  EXPECT_NEAR(t.dst[2], 0.5f, 1e-6);
  EXPECT_NEAR(t.dst[3], 0.5f, 1e-6);

  const Problem pc = Problem::Parse("softmax:mb1c2h1w2ax1");  // over c: pairs (0,5), (ln3,5)
  t.dst.clear();
  ComputeReference(pc, t);
  EXPECT_NEAR(t.dst[0] + t.dst[2], 1.f, 1e-6);
  EXPECT_NEAR(t.dst[0], 1 / (1 + std::exp(5.f)), 1e-6);
}

TEST(Reference, EltwiseAndNorms) {
  const Problem hs = Problem::Parse("eltwise:hardsigmoid:mb1c1h1w3");
  RefTensors t = MakeInputs(hs);
  t.src = {-4, 0, 1.5f};
  ComputeReference(hs, t);
  EXPECT_EQ(t.dst, (std::vector<float>{0, 0.5f, 0.75f}));

  const Problem ln = Problem::Parse("lnorm:mb1t1c2");
  t = MakeInputs(ln);
  t.src = {1, 3};
  t.wei = {2, 2, 0.5f, -0.5f};  // scale, shift
  ComputeReference(ln, t);
  const float inv = 1.f / std::sqrt(1.f + 1e-5f);
  EXPECT_NEAR(t.dst[0], -2 * inv + 0.5f, 1e-6);
  EXPECT_NEAR(t.dst[1], 2 * inv - 0.5f, 1e-6);
}

// A binary's second source broadcasts by bc: per (image, channel) over h and w, or one scalar.
TEST(Reference, BinaryBroadcastsItsSecondSource) {
  const Problem pc = Problem::Parse("binary:mul:mb2c2h1w2bc1");
  RefTensors t = MakeInputs(pc);
  ASSERT_EQ(t.src2.size(), 4u);
  t.src = {1, 2, 3, 4, 5, 6, 7, 8};
  t.src2 = {10, 20, 30, 40};  // [n][c]
  ComputeReference(pc, t);
  EXPECT_EQ(t.dst, (std::vector<float>{10, 20, 60, 80, 150, 180, 280, 320}));
  const Problem sc = Problem::Parse("binary:add:mb1c2h1w2bc2");
  t = MakeInputs(sc);
  ASSERT_EQ(t.src2.size(), 1u);
  t.src = {1, 2, 3, 4};
  t.src2 = {0.5f};
  ComputeReference(sc, t);
  EXPECT_EQ(t.dst, (std::vector<float>{1.5f, 2.5f, 3.5f, 4.5f}));
}

TEST(Reference, InputsAreDeterministicAndInRange) {
  const Problem p = Problem::Parse("bnorm:mb1c8h4w4");
  const RefTensors a = MakeInputs(p, 7), b = MakeInputs(p, 7), c = MakeInputs(p, 8);
  EXPECT_EQ(a.src, b.src);
  EXPECT_NE(a.src, c.src);
  for (float v : a.src) EXPECT_TRUE(v >= -1 && v <= 1) << v;
  for (int i = 8; i < 16; ++i) EXPECT_TRUE(a.wei[i] >= 0.5f && a.wei[i] <= 1.5f) << a.wei[i];
}

// A post-op chain applies to the anchor's result in order: per column for matmul, per channel (1,C,1,1)
// for conv2d, the residual and full-size operands element by element.
TEST(Reference, PostOpChainsApplyInOrder) {
  {
    const Problem p = Problem::Parse("matmul:mb1m2n3k4+addc+relu");
    RefTensors t = MakeInputs(p), plain = t;
    ComputeReference(p, t);
    ComputeReference(p.WithPostOps({}), plain);
    ASSERT_EQ(t.post.size(), 2u);
    ASSERT_EQ(t.post[0].size(), 3u);
    EXPECT_TRUE(t.post[1].empty());
    for (size_t i = 0; i < t.dst.size(); ++i)
      EXPECT_FLOAT_EQ(t.dst[i], std::max(plain.dst[i] + t.post[0][i % 3], 0.f)) << i;
  }
  {
    const Problem p = Problem::Parse("conv2d:mb2ic3ih4iw4oc5kh1kw1sh1sw1ph0pw0g1+sum+divc+sub");
    RefTensors t = MakeInputs(p), plain = t;
    ComputeReference(p, t);
    ComputeReference(p.WithPostOps({}), plain);
    ASSERT_EQ(t.post[0].size(), plain.dst.size());
    ASSERT_EQ(t.post[1].size(), 5u);
    for (float v : t.post[1]) EXPECT_TRUE(v >= 0.5f && v <= 1.5f) << v;  // a divisor away from 0
    for (size_t i = 0; i < t.dst.size(); ++i) {
      const size_t c = i / 16 % 5;
      EXPECT_FLOAT_EQ(t.dst[i], (plain.dst[i] + t.post[0][i]) / t.post[1][c] - t.post[2][i]) << i;
    }
  }
  EXPECT_EQ(PostOpDims(Problem::Parse("ip:mb3ic4oc5+mulc"), "mulc"), (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(PostOpDims(Problem::Parse("ip:mb3ic4oc5+sum"), "sum"), (std::vector<int64_t>{3, 5}));
  EXPECT_TRUE(PostOpDims(Problem::Parse("ip:mb3ic4oc5+gelu"), "gelu").empty());
}

TEST(Reference, CompareOutputsNamesTheFirstBadElement) {
  const float want[] = {1, 2, 3, 4};
  const float ok[] = {1, 2.0001f, 3, 4};
  EXPECT_EQ(CompareOutputs(ok, want, 4, 1e-4, 1e-4), "");
  const float bad[] = {1, 2, 3.5f, NAN};
  EXPECT_EQ(CompareOutputs(bad, want, 4, 1e-4, 1e-4),
            "2 of 4 elements differ; first at index 2: got 3.5, want 3 (|diff| 0.5 > tol 0.0004)");
}

}  // namespace
}  // namespace layoutdb::microbench
