#include <gtest/gtest.h>

#include "layoutdb/problem.h"

namespace layoutdb {
namespace {

TEST(ProblemKey, RoundTripsTheIssueExample) {
  const std::string key = "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1";
  const Problem p = Problem::Parse(key);
  EXPECT_EQ(p.Key(), key);
  EXPECT_EQ(p.Get("dh"), 1);
  EXPECT_EQ(p.Oh(), 56);
  EXPECT_DOUBLE_EQ(p.Flops(), 2.0 * 64 * 56 * 56 * 64 * 9);
}

TEST(ProblemKey, EveryOpRoundTrips) {
  const char* keys[] = {
      "conv2d:mb1ic32ih112iw112oc32kh3kw3sh2sw2ph1pw1dh2dw2g32",
      "matmul:mb12m128n128k64",
      "ip:mb1ic2048oc1000",
      "pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1",
      "pool:avg:mb1ic1280ih7iw7kh7kw7sh1sw1ph0pw0",
      "eltwise:hardswish:mb1c16h112w112",
      "binary:add:mb1c256h56w56",
      "softmax:mb1c12h128w128ax3",
      "softmax:mb1c1000h1w1",
      "bnorm:mb1c64h56w56",
      "lnorm:mb1t128c768",
  };
  for (const char* k : keys) {
    const Problem p = Problem::Parse(k);
    EXPECT_EQ(p.Key(), k);
    EXPECT_EQ(Problem::Parse(p.Key()), p);
  }
}

// A binary's broadcast form: bc0 (full size, the default) is left out of the key, so existing keys and
// databases are unchanged; bc1 (per channel) and bc2 (a scalar) round-trip and read less.
TEST(ProblemKey, BinaryBroadcastFormRoundTripsAndReadsLess) {
  const Problem full = Problem::Parse("binary:mul:mb1c64h56w56");
  EXPECT_EQ(full.Get("bc"), 0);
  EXPECT_EQ(Problem::Parse("binary:mul:mb1c64h56w56bc0").Key(), "binary:mul:mb1c64h56w56");
  EXPECT_EQ(full.Src2Dims(), (std::vector<int64_t>{1, 64, 56, 56}));
  const Problem se = Problem::Parse("binary:mul:mb2c64h56w56bc1");
  EXPECT_EQ(se.Key(), "binary:mul:mb2c64h56w56bc1");
  EXPECT_EQ(Problem::Parse(se.Key()), se);
  EXPECT_NE(se, Problem::Parse("binary:mul:mb2c64h56w56"));
  EXPECT_EQ(se.Src2Dims(), (std::vector<int64_t>{2, 64, 1, 1}));
  EXPECT_EQ(se.Src2Elems(), 128);
  const Problem scalar = Problem("binary", "add", {{"mb", 1}, {"c", 8}, {"h", 4}, {"w", 4}, {"bc", 2}});
  EXPECT_EQ(scalar.Key(), "binary:add:mb1c8h4w4bc2");
  EXPECT_EQ(scalar.Src2Elems(), 1);
  // Bytes: src and dst, plus the second source as it broadcasts; one operation per output element.
  EXPECT_DOUBLE_EQ(full.Bytes(4), 3.0 * 64 * 56 * 56 * 4);
  EXPECT_DOUBLE_EQ(se.Bytes(4), (2.0 * 2 * 64 * 56 * 56 + 2 * 64) * 4);
  EXPECT_DOUBLE_EQ(scalar.Bytes(2), (2.0 * 8 * 4 * 4 + 1) * 2);
  EXPECT_DOUBLE_EQ(se.Flops(), full.Flops() * 2);
  EXPECT_TRUE(Problem::Parse("eltwise:relu:mb1c8h4w4").Src2Dims().empty());
  try {
    Problem::Parse("binary:mul:mb1c8h4w4bc3");
    FAIL() << "bc3 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bc must be 0 (full size), 1 (per channel) or 2 (scalar), got 3"),
              std::string::npos)
        << e.what();
  }
}

TEST(ProblemKey, NonCanonicalOrderParsesToCanonical) {
  EXPECT_EQ(Problem::Parse("ip:oc1000ic2048mb1").Key(), "ip:mb1ic2048oc1000");
}

TEST(ProblemKey, RefusesBadKeysWithTheReason) {
  auto message = [](const std::string& key) {
    try {
      Problem::Parse(key);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("conv3d:mb1"),
            "bad problem key 'conv3d:mb1': problem: unknown op 'conv3d' (known: conv2d, matmul, ip, "
            "pool, eltwise, binary, softmax, bnorm, lnorm, concat, resample, transpose, slice, pad, reduce, "
            "deconv, prelu)");
  EXPECT_EQ(message("matmul:mb1m2n3"), "bad problem key 'matmul:mb1m2n3': matmul: missing parameter 'k'");
  EXPECT_EQ(message("conv2d:mb1ic3ih4iw4oc8kh7kw7sh1sw1ph0pw0g1"),
            "bad problem key 'conv2d:mb1ic3ih4iw4oc8kh7kw7sh1sw1ph0pw0g1': "
            "conv2d:mb1ic3ih4iw4oc8kh7kw7sh1sw1ph0pw0g1: output would be -2x-2");
  EXPECT_EQ(message("conv2d:mb1ic6ih4iw4oc8kh1kw1sh1sw1ph0pw0g4"),
            "bad problem key 'conv2d:mb1ic6ih4iw4oc8kh1kw1sh1sw1ph0pw0g4': "
            "conv2d:mb1ic6ih4iw4oc8kh1kw1sh1sw1ph0pw0g4: ic 6 and oc 8 must be multiples of g 4");
  EXPECT_EQ(message("eltwise:swish:mb1c1h1w1"),
            "bad problem key 'eltwise:swish:mb1c1h1w1': eltwise:swish:mb1c1h1w1: unknown algorithm "
            "'swish' for eltwise (known: relu, clip, hardswish, hardsigmoid, sigmoid, gelu, tanh, leakyrelu)");
  EXPECT_EQ(message("ip:mb1ic2oc"), "bad problem key 'ip:mb1ic2oc': expected NAME followed by a number at 'oc'");
  // Anything but printable ASCII is named by byte and offset, the key escaped so the message is one line.
  EXPECT_EQ(message("conv\n2d:mb1"), "bad problem key 'conv\\n2d:mb1': byte 0x0a at offset 4 (a key is printable ASCII)");
  EXPECT_EQ(message("pool:max:mb1\xc3\xa9"),
            "bad problem key 'pool:max:mb1\u00e9': byte 0xc3 at offset 12 (a key is printable ASCII)");
}

TEST(ProblemKey, PostOpChainsRoundTripAndAddTheirWork) {
  const std::string anchor = "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1";
  const Problem fused = Problem::Parse(anchor + "+sum+relu");
  EXPECT_EQ(fused.Key(), anchor + "+sum+relu");
  EXPECT_EQ(fused.post_ops(), (std::vector<std::string>{"sum", "relu"}));
  const Problem plain = Problem::Parse(anchor);
  EXPECT_EQ(fused.WithPostOps({}), plain);
  EXPECT_NE(fused, plain);
  EXPECT_EQ(plain.WithPostOps({"sum", "relu"}), fused);
  // The residual is read once more (one dst-sized tensor); sum and relu are one operation per output each.
  const double dst = 64.0 * 56 * 56;
  EXPECT_DOUBLE_EQ(fused.Bytes(4) - plain.Bytes(4), 4 * dst);
  EXPECT_DOUBLE_EQ(fused.Flops() - plain.Flops(), 2 * dst);
  // A per-channel scale (squeeze-excitation) reads one value per channel.
  EXPECT_DOUBLE_EQ(Problem::Parse(anchor + "+mulc").Bytes(4) - plain.Bytes(4), 4 * 64.0);
  EXPECT_EQ(Problem::Parse("matmul:mb1m128n768k768+add+gelu").Key(), "matmul:mb1m128n768k768+add+gelu");
}

TEST(ProblemKey, RefusesBadPostOpsWithTheReason) {
  auto message = [](const std::string& key) {
    try {
      Problem::Parse(key);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1+relu"),
            "bad problem key 'pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1+relu': "
            "pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1+relu: op 'pool' takes no post-ops");
  EXPECT_NE(message("ip:mb1ic2048oc1000+swish").find("unknown post-op 'swish'"), std::string::npos);
  EXPECT_NE(message("ip:mb1ic2048oc1000+sum+sum").find("more than one sum post-op"), std::string::npos);
  EXPECT_NE(message("ip:mb1ic2048oc1000+").find("empty post-op"), std::string::npos);
}

TEST(GlueProblems, EveryFamilyRoundTrips) {
  const char* keys[] = {
      "concat:mb1c256h56w56n2",
      "concat:mb1c64h40w80n2ax2",
      "resample:nearest:mb1c64ih28iw28oh56ow56",
      "resample:linear:mb1c256ih20iw20oh40ow40",
      "transpose:p0231:mb1c64h56w56",
      "transpose:p0213:mb1c128h12w64",
      "slice:mb1c256h56w56oc128oh56ow56",
      "pad:mb1c64h56w56pt1pb1pl0pr1",
      "reduce:mean:mb1c256h7w7oc256oh1ow1",
      "reduce:max:mb1c128h768w1oc128oh1ow1",
      "deconv:mb1ic64ih28iw28oc32kh4kw4sh2sw2ph1pw1g1",
      "deconv:mb1ic64ih28iw28oc32kh2kw2sh2sw2ph0pw0g1+relu",
      "eltwise:leakyrelu:mb1c32h160w160",
      "prelu:mb1c64h56w56",
  };
  for (const char* k : keys) {
    const Problem p = Problem::Parse(k);
    EXPECT_EQ(p.Key(), k);
    EXPECT_EQ(Problem::Parse(p.Key()), p);
  }
  // The default axis is left out of the key; the transpose algorithms are every non-identity perm.
  EXPECT_EQ(Problem::Parse("concat:mb1c256h56w56n2ax1").Key(), "concat:mb1c256h56w56n2");
  EXPECT_EQ(KnownAlgs("transpose").size(), 23u);
}

TEST(GlueProblems, SizesFlopsAndBytes) {
  // ConvTranspose: output (ih-1)*sh + kh - 2ph; FLOPs 2 * input elements * oc/g * kh * kw (not the
  // output size), and the weights are read once.
  const Problem d = Problem::Parse("deconv:mb1ic64ih28iw28oc32kh4kw4sh2sw2ph1pw1g1");
  EXPECT_EQ(d.Oh(), 56);
  EXPECT_EQ(d.Ow(), 56);
  EXPECT_DOUBLE_EQ(d.Flops(), 2.0 * 64 * 28 * 28 * 32 * 16);
  EXPECT_DOUBLE_EQ(d.Bytes(4), 4.0 * (64 * 28 * 28 + 32 * 56 * 56 + 32 * 64 * 16));
  EXPECT_TRUE(d.IsSpatial());
  EXPECT_TRUE(FusesPostOps("deconv"));

  const Problem r = Problem::Parse("resample:nearest:mb1c64ih28iw28oh56ow56");
  EXPECT_EQ(r.SrcElems(), 64 * 28 * 28);
  EXPECT_EQ(r.DstElems(), 64 * 56 * 56);
  EXPECT_GT(Problem::Parse("resample:linear:mb1c64ih28iw28oh56ow56").Flops(), r.Flops());

  // A slice reads only what it keeps.
  const Problem s = Problem::Parse("slice:mb1c256h56w56oc128oh56ow56");
  EXPECT_DOUBLE_EQ(s.Bytes(4), 4.0 * 2 * 128 * 56 * 56);
  EXPECT_FALSE(s.IsSpatial());

  const Problem p = Problem::Parse("pad:mb1c64h56w56pt1pb1pl1pr1");
  EXPECT_EQ(p.Oh(), 58);
  EXPECT_EQ(p.DstElems(), 64 * 58 * 58);

  const Problem m = Problem::Parse("reduce:mean:mb1c256h7w7oc256oh1ow1");
  EXPECT_EQ(m.DstElems(), 256);
  EXPECT_DOUBLE_EQ(m.Bytes(4), 4.0 * (256 * 49 + 256));

  const Problem c = Problem::Parse("concat:mb1c256h56w56n2");
  EXPECT_DOUBLE_EQ(c.Bytes(4), 4.0 * 2 * 256 * 56 * 56);
  EXPECT_TRUE(c.IsSpatial());
  EXPECT_FALSE(Problem::Parse("transpose:p0231:mb1c64h56w56").IsSpatial());
  EXPECT_DOUBLE_EQ(Problem::Parse("prelu:mb1c64h2w2").Bytes(4), 4.0 * (2 * 64 * 4 + 64));
  // LeakyRelu is as cheap as Relu, as an op and as a post-op.
  EXPECT_DOUBLE_EQ(Problem::Parse("eltwise:leakyrelu:mb1c8h4w4").Flops(),
                   Problem::Parse("eltwise:relu:mb1c8h4w4").Flops());
  const std::string conv = "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1";
  EXPECT_DOUBLE_EQ(Problem::Parse(conv + "+leakyrelu").Flops(), Problem::Parse(conv + "+relu").Flops());
}

TEST(GlueProblems, RefusesImpossibleShapesWithTheReason) {
  auto message = [](const std::string& key) {
    try {
      Problem::Parse(key);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("concat:mb1c255h56w56n2"),
            "bad problem key 'concat:mb1c255h56w56n2': concat:mb1c255h56w56n2: c 255 (the output's size "
            "along ax 1) must be a multiple of n 2");
  EXPECT_NE(message("concat:mb1c256h56w56n1").find("n (inputs) must be at least 2, got 1"), std::string::npos);
  EXPECT_NE(message("concat:mb1c256h56w56n2ax4").find("ax must be 0..3, got 4"), std::string::npos);
  EXPECT_NE(message("slice:mb1c256h56w56oc300oh56ow56").find("oc 300 is larger than c 256"), std::string::npos);
  EXPECT_NE(message("slice:mb1c256h56w56oc256oh56ow56").find("slices nothing away"), std::string::npos);
  EXPECT_NE(message("reduce:mean:mb1c256h7w7oc256oh3ow1").find("oh must be 7 (kept) or 1 (reduced), got 3"),
            std::string::npos);
  EXPECT_NE(message("reduce:mean:mb1c256h7w7oc256oh7ow7").find("reduces nothing"), std::string::npos);
  EXPECT_NE(message("reduce:min:mb1c256h7w7oc256oh1ow1").find("unknown algorithm 'min' for reduce"),
            std::string::npos);
  EXPECT_NE(message("pad:mb1c64h56w56pt0pb0pl0pr0").find("pads nothing"), std::string::npos);
  EXPECT_NE(message("transpose:p0123:mb1c64h56w56").find("unknown algorithm 'p0123' for transpose"),
            std::string::npos);
  EXPECT_NE(message("deconv:mb1ic64ih1iw1oc32kh1kw1sh1sw1ph1pw1g1").find("output would be -1x-1"),
            std::string::npos);
  EXPECT_NE(message("deconv:mb1ic6ih4iw4oc8kh2kw2sh2sw2ph0pw0g4").find("ic 6 and oc 8 must be multiples of g 4"),
            std::string::npos);
  EXPECT_NE(message("prelu:mb1c64h56w56+relu").find("op 'prelu' takes no post-ops"), std::string::npos);
}

}  // namespace
}  // namespace layoutdb
