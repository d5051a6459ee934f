#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "layoutdb/profiler/spec.h"
#include "layoutdb/profiler/sweep.h"

namespace layoutdb::profiler {
namespace {

std::string ErrorOf(const std::string& json) {
  try {
    ParseSpec(json, "t.json");
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

TEST(Spec, BuiltinSpecsLoadAndCoverEveryOpFamily) {
  for (const std::string name : {"quick", "default", "full"}) {
    const SweepSpec s = LoadSpec(name);
    EXPECT_EQ(s.name, name);
    std::set<std::string> ops;
    for (const auto& p : s.problems) ops.insert(p.problem.op());
    for (const auto& op : KnownOps()) EXPECT_TRUE(ops.count(op)) << name << " lacks " << op;
    EXPECT_FALSE(s.transition_shapes.empty()) << name;
    EXPECT_FALSE(s.transfer_bytes.empty()) << name;
  }
  EXPECT_LT(LoadSpec("quick").problems.size(), LoadSpec("default").problems.size());
  EXPECT_LT(LoadSpec("default").problems.size(), LoadSpec("full").problems.size());
}

TEST(Spec, DefaultCoversRealNetworksAndTheirKinds) {
  const SweepSpec s = LoadSpec("default");
  std::set<std::string> keys;
  for (const auto& p : s.problems) keys.insert(p.problem.Key());
  // ResNet-50's 3x3 of stage 1, MobileNetV2's first depthwise, VGG-16's first conv, BERT's QKV.
  EXPECT_TRUE(keys.count("conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1"));
  EXPECT_TRUE(keys.count("conv2d:mb1ic32ih112iw112oc32kh3kw3sh1sw1ph1pw1g32"));
  EXPECT_TRUE(keys.count("conv2d:mb1ic3ih224iw224oc64kh3kw3sh1sw1ph1pw1g1"));
  EXPECT_TRUE(keys.count("matmul:mb1m128n768k768"));
  // Attention scores with their scale fused, as the runtime runs them: BERT's exporters divide, ViT's
  // multiply (without them a default database costed BERT's scores by roofline).
  EXPECT_TRUE(keys.count("matmul:mb12m128n128k64+divc"));
  EXPECT_TRUE(keys.count("matmul:mb12m197n197k64+mulc"));
  bool dilated = false, grouped = false, strided = false;
  for (const auto& p : s.problems) {
    if (p.problem.op() != "conv2d") continue;
    dilated |= p.problem.Get("dh") > 1;
    strided |= p.problem.Get("sh") > 1;
    grouped |= p.problem.Get("g") > 1 && p.problem.Get("g") < p.problem.Get("ic");
  }
  EXPECT_TRUE(dilated && grouped && strided);
}

TEST(Spec, GridExpandsTheCrossProductWithReferences) {
  const SweepSpec s = ParseSpec(R"({"name":"g","dtypes":["f32"],"measure":{},
    "problems":[{"name":"dw","op":"conv2d","grid":{"mb":[1],"ic":[8,16],"ih":[7,14,28],"iw":["ih"],
      "oc":["ic"],"kh":[3],"kw":[3],"sh":[1],"sw":[1],"ph":[1],"pw":[1],"g":["ic"]}},
      {"name":"dup","keys":["conv2d:mb1ic8ih7iw7oc8kh3kw3sh1sw1ph1pw1g8"]}]})",
                                "t.json");
  ASSERT_EQ(s.problems.size(), 6u);  // 2 x 3; the duplicate key is dropped
  std::set<std::string> keys;
  for (const auto& p : s.problems) keys.insert(p.problem.Key());
  EXPECT_TRUE(keys.count("conv2d:mb1ic16ih28iw28oc16kh3kw3sh1sw1ph1pw1g16"));
  EXPECT_EQ(s.problems[0].group, "dw");
  EXPECT_EQ(s.problems[0].dtypes, std::vector<std::string>{"f32"});
}

TEST(Spec, RefusesBadSpecsNamingWhere) {
  // Structure: checked against schema/sweep.schema.json, with a JSON pointer to the place.
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{},"problems":[],"shapes":[]})"),
            "sweep spec t.json: /: unexpected property 'shapes' (sweep.schema.json)");
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f64"],"measure":{},"problems":[]})"),
            "sweep spec t.json: /dtypes/0: \"f64\" is not one of [\"f32\",\"bf16\",\"f16\",\"int8\"] "
            "(sweep.schema.json)");
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{"budget_s":-1},"problems":[{"keys":[]}]})"),
            "sweep spec t.json: /measure/budget_s: -1 is below the minimum 0 (sweep.schema.json); and 1 more");
  // Meaning: problems the spec cannot build, named by group and key.
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{},"problems":[{"name":"a","keys":["conv2d:mb1"]}]})"),
            "sweep spec t.json: /problems/0/keys/0 (group 'a'): bad problem key 'conv2d:mb1': conv2d: "
            "missing parameter 'ic'");
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{},"problems":[{"name":"a","op":"ip",
            "grid":{"mb":[1],"ic":[0],"oc":[4]}}]})"),
            "sweep spec t.json: /problems/0/grid builds an impossible problem: ip:mb1ic0oc4: ic must be "
            "positive, got 0");
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{},"problems":[{"name":"a","op":"conv2d",
            "grid":{"mb":[1],"ic":[8],"iw":["ih"]}}]})"),
            "sweep spec t.json: /problems/0/grid/iw refers to 'ih', which is not a parameter of the grid");
  EXPECT_EQ(ErrorOf("{\"name\": \"x\",\n \"dtypes\": [f32]}").substr(0, 41),
            "sweep spec t.json: not valid JSON: [json.");
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{"min_reps":9,"max_reps":3},"problems":[]})"),
            "sweep spec t.json: /measure: max_reps must be at least min_reps");
  try {
    LoadSpec("no-such-spec");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "sweep spec 'no-such-spec' is neither a built-in spec (default, full, quick) nor a readable file");
  }
}

TEST(Spec, VisitsAndReVisitsComeFromMeasureWithDefaults) {
  const SweepSpec d = ParseSpec(R"({"name":"v","dtypes":["f32"],"measure":{},"problems":[]})", "t.json");
  EXPECT_EQ(d.visits, 3);
  EXPECT_EQ(d.max_revisits, 2);
  EXPECT_DOUBLE_EQ(d.revisit_tolerance, 0.05);
  EXPECT_DOUBLE_EQ(d.revisit_share, 0.3);
  const SweepSpec s = ParseSpec(R"({"name":"v","dtypes":["f32"],"measure":{"visits":5,"max_revisits":0,
      "revisit_tolerance":0.1,"revisit_share":0.5},"problems":[]})", "t.json");
  EXPECT_EQ(s.visits, 5);
  EXPECT_EQ(s.max_revisits, 0);
  EXPECT_DOUBLE_EQ(s.revisit_tolerance, 0.1);
  EXPECT_DOUBLE_EQ(s.revisit_share, 0.5);
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{"visits":0},"problems":[]})"),
            "sweep spec t.json: /measure/visits: 0 is below the minimum 1 (sweep.schema.json)");
  EXPECT_EQ(ErrorOf(R"({"name":"x","dtypes":["f32"],"measure":{"visits":1e12},"problems":[]})"),
            "sweep spec t.json: /measure/visits: 1000000000000.0 is too large (at most 2147483647)");
}

// `sweep --model`: the default spec restricted to a model's problems, conversions and transfers. The
// spec stored with the sweep must describe what was measured: read back, it is the same work.
TEST(Spec, OfKeysCarriesTheModelsConversionsAndTransfersAndReadsBackTheSame) {
  const SweepSpec d = LoadSpec("default");
  const SweepSpec s = SpecOfKeys(d, {"conv2d:mb1ic64ih56iw56oc64kh1kw1sh1sw1ph0pw0g1", "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1"},
                                 {{1, 3, 224, 224}, {1, 64, 56, 56}}, {602112, 802816});
  EXPECT_EQ(s.name, "default+keys");
  ASSERT_EQ(s.problems.size(), 2u);
  ASSERT_EQ(s.transition_shapes.size(), 2u);
  EXPECT_EQ(s.transition_shapes[0].Key(), "mb1c3h224w224");
  EXPECT_EQ(s.transition_dtypes, d.transition_dtypes);  // the default spec's conversion dtypes
  EXPECT_EQ(s.transfer_bytes, (std::vector<int64_t>{602112, 802816}));
  const SweepSpec back = ParseSpec(s.text, "stored");
  EXPECT_EQ(back.problems.size(), s.problems.size());
  ASSERT_EQ(back.transition_shapes.size(), 2u);
  EXPECT_EQ(back.transition_shapes[1].Key(), "mb1c64h56w56");
  EXPECT_EQ(back.transition_dtypes, s.transition_dtypes);
  EXPECT_EQ(back.transfer_bytes, s.transfer_bytes);
  // `sweep --refine`: keys only, no conversions or transfers.
  const SweepSpec k = SpecOfKeys(d, {"conv2d:mb1ic64ih56iw56oc64kh1kw1sh1sw1ph0pw0g1"});
  EXPECT_TRUE(k.transition_shapes.empty());
  EXPECT_TRUE(k.transfer_bytes.empty());
  EXPECT_TRUE(ParseSpec(k.text, "stored").transition_shapes.empty());
}

TEST(Shard, ParsesAndRefuses) {
  int k = -1, n = -1;
  ParseShard("2/5", &k, &n);
  EXPECT_EQ(k, 2);
  EXPECT_EQ(n, 5);
  for (const std::string bad : {"5/5", "1", "a/b", "-1/2", "1/0", "1/2x"}) {
    try {
      ParseShard(bad, &k, &n);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()),
                "bad --shard '" + bad + "': expected K/N with 0 <= K < N, e.g. 0/4");
    }
  }
}

}  // namespace
}  // namespace layoutdb::profiler
