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
            "pool, eltwise, binary, softmax, bnorm, lnorm)");
  EXPECT_EQ(message("matmul:mb1m2n3"), "bad problem key 'matmul:mb1m2n3': matmul: missing parameter 'k'");
  EXPECT_EQ(message("conv2d:mb1ic3ih4iw4oc8kh7kw7sh1sw1ph0pw0g1"),
            "bad problem key 'conv2d:mb1ic3ih4iw4oc8kh7kw7sh1sw1ph0pw0g1': "
            "conv2d:mb1ic3ih4iw4oc8kh7kw7sh1sw1ph0pw0g1: output would be -2x-2");
  EXPECT_EQ(message("conv2d:mb1ic6ih4iw4oc8kh1kw1sh1sw1ph0pw0g4"),
            "bad problem key 'conv2d:mb1ic6ih4iw4oc8kh1kw1sh1sw1ph0pw0g4': "
            "conv2d:mb1ic6ih4iw4oc8kh1kw1sh1sw1ph0pw0g4: ic 6 and oc 8 must be multiples of g 4");
  EXPECT_EQ(message("eltwise:swish:mb1c1h1w1"),
            "bad problem key 'eltwise:swish:mb1c1h1w1': eltwise:swish:mb1c1h1w1: unknown algorithm "
            "'swish' for eltwise (known: relu, clip, hardswish, hardsigmoid, sigmoid, gelu, tanh)");
  EXPECT_EQ(message("ip:mb1ic2oc"), "bad problem key 'ip:mb1ic2oc': expected NAME followed by a number at 'oc'");
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

}  // namespace
}  // namespace layoutdb
