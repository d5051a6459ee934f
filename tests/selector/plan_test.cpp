// Plans on real SQLite files with synthetic measurements: a database where another unit or layout is
// made faster changes the plan the right way; transitions change choices; reference kernels are never
// chosen; plans validate against schema/plan.schema.json; the C API round trip.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>

#include "layoutdb/selector.h"
#include "layoutdb/selector_c.h"
#include "selector/graph.h"
#include "layoutdb/json_schema.h"
#include "selector/plan.h"
#include "synthetic_db.h"
#include "tests/selector/onnx_test_util.h"
#include "tests/shell.h"

namespace layoutdb::selector {
namespace {

using testing::SyntheticDb;
using testing::TempDir;

std::string Conv(int ic, int oc, int hw, int k = 3) {
  return fmt::format("conv2d:mb1ic{}ih{}iw{}oc{}kh{}kw{}sh1sw1ph{}pw{}g1", ic, hw, hw, oc, k, k, k / 2, k / 2);
}
std::string Relu(int c, int hw) { return fmt::format("eltwise:relu:mb1c{}h{}w{}", c, hw, hw); }

// conv(3->32) relu conv(32->32) relu conv(32->32) relu, 28x28: three sub-graphs in a chain.
GraphDescription ChainModel() {
  GraphDescription d;
  d.name = "chain";
  d.inputs = {{"x", {1, 3, 28, 28}}};
  std::string prev = "x";
  int ic = 3;
  for (int i = 0; i < 3; ++i) {
    d.ops.push_back({fmt::format("conv{}", i), Conv(ic, 32, 28), "", {prev}, {fmt::format("c{}", i)}, {}});
    d.ops.push_back({fmt::format("relu{}", i), Relu(32, 28), "", {fmt::format("c{}", i)},
                     {fmt::format("r{}", i)}, {}});
    prev = fmt::format("r{}", i);
    ic = 32;
  }
  return d;
}

struct Times {
  double nchw = 100, nhwc = 120, blocked = 130;  // per conv, µs
  double reorder = 20;                            // any reorder of the 32x28x28 tensor
};

// Every conv and relu of ChainModel on the cpu in nchw, nhwc and nChw16c, reorders between them.
void FillCpu(SyntheticDb& db, const Times& t) {
  for (int ic : {3, 32}) {
    db.Op(Conv(ic, 32, 28), "cpu", "nchw", t.nchw);
    db.Op(Conv(ic, 32, 28), "cpu", "nhwc", t.nhwc);
    db.Op(Conv(ic, 32, 28), "cpu", "nChw16c", t.blocked);
  }
  for (const char* l : {"nchw", "nhwc", "nChw16c"}) db.Op(Relu(32, 28), "cpu", l, 5);
  for (const char* a : {"nchw", "nhwc", "nChw16c"})
    for (const char* b : {"nchw", "nhwc", "nChw16c"})
      if (std::string(a) != b)
        for (int c : {3, 32}) db.Reorder("cpu", a, b, 1, c, 28, 28, t.reorder * c / 32.0);
}

Plan SelectChain(const std::string& db_path, const SelectOptions& o = {}) {
  return Selector::Open(db_path).Select(ChainModel(), o);
}

std::vector<std::string> Layouts(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& s : p.subgraphs) out.push_back(s.unit + "/" + s.layout);
  return out;
}

nlohmann::json PlanSchema() {
  const std::filesystem::path root = testing::SourceDir();
  std::ifstream f(root / "schema" / "plan.schema.json");
  EXPECT_TRUE(f) << "schema/plan.schema.json not found under " << root;
  return nlohmann::json::parse(f);
}

TEST(Plan, FastestLayoutWinsAndTenTimesFasterNhwcTakesOver) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("a.db"));
    FillCpu(db, Times{});
    db.Close();
  }
  Plan a = SelectChain(dir.File("a.db"));
  ASSERT_EQ(a.subgraphs.size(), 3u);
  EXPECT_EQ(Layouts(a), (std::vector<std::string>{"cpu/nchw", "cpu/nchw", "cpu/nchw"}));
  EXPECT_DOUBLE_EQ(a.total_predicted_us, 3 * (100 + 5));
  EXPECT_EQ(a.solver, "exact-tree-dp");
  {
    SyntheticDb db(dir.File("b.db"));
    FillCpu(db, Times{100, 10, 130, 20});
    db.Close();
  }
  Plan b = SelectChain(dir.File("b.db"));
  EXPECT_EQ(Layouts(b), (std::vector<std::string>{"cpu/nhwc", "cpu/nhwc", "cpu/nhwc"}));
  // The input arrives in nchw and the output leaves in nchw: two reorders, both listed.
  ASSERT_EQ(b.transitions.size(), 2u);
  EXPECT_EQ(b.transitions[0].from, -1);
  EXPECT_EQ(b.transitions[0].to_layout, "nhwc");
  EXPECT_EQ(b.transitions[1].to, -1);
  EXPECT_EQ(b.transitions[1].kind, "reorder");
  double sum = 0;
  for (const auto& s : b.subgraphs) sum += s.predicted_us;
  for (const auto& t : b.transitions) sum += t.us;
  EXPECT_NEAR(b.total_predicted_us, sum, 1e-9);
  for (const auto& s : b.subgraphs) EXPECT_EQ(s.confidence, "exact");
}

// In a network an anchor's constant weights come from memory, not from the cache a hot measurement
// leaves them in: its cost is at least their bytes at the sweeps' calibrated streaming rate, on the
// units that read host memory (the cpu; PoCL, an OpenCL device of type cpu), never less than measured;
// in a file timed warm or cold, a measurement of the kernel itself stays as measured.
TEST(Plan, ConstantWeightsCostAtLeastStreamingThemFromMemory) {
  TempDir dir;
  onnx_testing::Tiny t(13);
  t.Input("x", {"1", "512"});
  t.Floats("w", {256, 512}, 0.01f);  // 512 KiB of f32 weights
  auto* n = t.Node("Gemm", {"x", "w"}, {"y"});
  onnx_testing::Tiny::IntAttr(n, "transB", 1);
  t.Output("y", {"1", "256"});
  const std::string model = t.Write(dir.File("gemm.onnx"));
  const double bytes = 256.0 * 512 * 4;
  auto plan_with = [&](const std::string& name, double hot_us, double rate, const std::string& device_type,
                       const std::string& cache_mode = "hot", const std::string& measured = "ip:mb1ic512oc256") {
    {
      SyntheticDb db(dir.File(name), {"cpu", "ocl:0:0"});
      db.Op(measured, "cpu", "plain", hot_us);
      db.Op(measured, "ocl:0:0", "plain", hot_us / 2);
      for (const char* method : {"write", "read"})
        for (int64_t b : {int64_t{1} << 10, int64_t{1} << 20}) db.Transfer("ocl:0:0", method, b, 1);
      if (!device_type.empty()) {
        auto units = db.db().Units();
        for (auto u : units)
          if (u.name == "ocl:0:0") {
            u.properties = R"({"device_type":")" + device_type + R"("})";
            db.db().UpsertUnit(u);
          }
      }
      if (rate > 0) {
        const int64_t sweep = db.Sweep(cache_mode);
        for (double k : {0.9, 1.0, 1.1}) {  // the median rate counts
          db::CalibrationRow c;
          c.sweep_id = sweep;
          c.kernel = "memory";
          c.work = 64.0 * (1 << 20);
          c.median_us = c.work / (rate * k);
          c.repetitions = 7;
          c.measured_at = "2026-01-01T00:00:00Z";
          db.db().PutCalibration(c);
        }
      }
      db.Close();
    }
    SelectOptions o;
    o.units = {"cpu"};
    Plan cpu = Selector::Open(dir.File(name)).Select(model, o);
    o.units = {"ocl:0:0"};
    Plan ocl = Selector::Open(dir.File(name)).Select(model, o);
    EXPECT_EQ(cpu.subgraphs.size(), 1u);
    EXPECT_EQ(ocl.subgraphs.size(), 1u);
    return std::make_pair(cpu.subgraphs.at(0).predicted_us, ocl.subgraphs.at(0).predicted_us);
  };
  // No calibration: the measurements as they are.
  auto [cpu0, ocl0] = plan_with("none.db", 10, 0, "cpu");
  EXPECT_DOUBLE_EQ(cpu0, 10);
  EXPECT_DOUBLE_EQ(ocl0, 5);
  // 20000 B/us: 524288 B take 26.2 us, more than either hot measurement; a GPU keeps its own.
  auto [cpu1, ocl1] = plan_with("slow.db", 10, 20000, "cpu");
  EXPECT_NEAR(cpu1, bytes / 20000, 1e-6);
  EXPECT_NEAR(ocl1, bytes / 20000, 1e-6);
  auto [cpu2, ocl2] = plan_with("gpu.db", 10, 20000, "gpu");
  EXPECT_NEAR(cpu2, bytes / 20000, 1e-6);
  EXPECT_DOUBLE_EQ(ocl2, 5);
  // A measurement slower than streaming stays as measured.
  auto [cpu3, ocl3] = plan_with("compute.db", 100, 20000, "cpu");
  EXPECT_DOUBLE_EQ(cpu3, 100);
  EXPECT_DOUBLE_EQ(ocl3, 50);
  // A warm or cold file timed the weights from memory, on the kernel's threads: as measured
  // (MobileNetV2's classifier was stored at 191 us warm, ran in 189, and the floor said 537).
  for (const char* mode : {"warm", "cold"}) {
    auto [cpu4, ocl4] = plan_with(std::string(mode) + ".db", 10, 20000, "cpu", mode);
    EXPECT_DOUBLE_EQ(cpu4, 10) << mode;
    EXPECT_DOUBLE_EQ(ocl4, 5) << mode;
  }
  // An estimate from another shape's measurement keeps the floor there too.
  auto [cpu5, ocl5] = plan_with("warm-other.db", 10, 20000, "cpu", "warm", "ip:mb1ic512oc128");
  EXPECT_NEAR(cpu5, bytes / 20000, 1e-6);
  EXPECT_NEAR(ocl5, bytes / 20000, 1e-6);
}

TEST(Plan, ExpensiveReordersKeepOneLayoutCheapOnesLetEachSubgraphChoose) {
  // conv0 (3->32) is fastest in nChw16c, the 32->32 convs in nhwc, by 10 µs each.
  auto fill = [](SyntheticDb& db, double reorder) {
    FillCpu(db, Times{100, 100, 100, reorder});
    db.Op(Conv(3, 32, 28), "cpu", "nChw16c", 90);
    db.Op(Conv(32, 32, 28), "cpu", "nhwc", 90);
    db.Close();
  };
  TempDir dir;
  {
    SyntheticDb db(dir.File("cheap.db"));
    fill(db, 0.5);
  }
  {
    SyntheticDb db(dir.File("dear.db"));
    fill(db, 200);
  }
  Plan cheap = SelectChain(dir.File("cheap.db"));
  EXPECT_EQ(Layouts(cheap), (std::vector<std::string>{"cpu/nChw16c", "cpu/nhwc", "cpu/nhwc"}));
  Plan dear = SelectChain(dir.File("dear.db"));
  EXPECT_EQ(Layouts(dear), (std::vector<std::string>{"cpu/nchw", "cpu/nchw", "cpu/nchw"}));
  // The local best ignores transitions and pays for it.
  auto local = std::find_if(dear.baselines.begin(), dear.baselines.end(),
                            [](const PlanBaseline& b) { return b.name == "local_best"; });
  ASSERT_NE(local, dear.baselines.end());
  EXPECT_GT(local->ratio, 1.0);
  // On a chain the solve is exact: no baseline can beat it.
  for (const auto* p : {&cheap, &dear})
    for (const auto& b : p->baselines) EXPECT_GE(b.ratio, 1.0 - 1e-12) << b.name;
}

TEST(Plan, ReferenceKernelIsNeverChosenAndMixedFirstConvIs) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("m.db"));
    FillCpu(db, Times{100, 100, 50, 20});
    // The 3-channel conv in nChw16c fell to the reference kernel (cheap-looking on purpose: it must
    // still never be recommended); oneDNN's usual nchw>nChw16c is measured.
    db.Op(Conv(3, 32, 28), "cpu", "nChw16c", 1, {"f32", true, "ok", "", ""});
    db.Op(Conv(3, 32, 28), "cpu", "nchw>nChw16c", 60);
    db.Close();
  }
  Plan p = SelectChain(dir.File("m.db"));
  EXPECT_EQ(Layouts(p), (std::vector<std::string>{"cpu/nchw>nChw16c", "cpu/nChw16c", "cpu/nChw16c"}));
  for (const auto& c : p.subgraphs[0].candidates) EXPECT_NE(c.layout, "nChw16c");
  // The input needs no reorder (the mixed conv reads nchw); only the output does.
  ASSERT_EQ(p.transitions.size(), 1u);
  EXPECT_EQ(p.transitions[0].from_layout, "nChw16c");
}

// ReLU, a per-channel Mul by a run-time [1,64,1,1] scale (`se`, its bc1 problem), ReLU.
GraphDescription SqueezeExcitation(const std::string& se) {
  GraphDescription d;
  d.name = "se";
  d.inputs = {{"x", {1, 64, 14, 14}}, {"s", {1, 64, 1, 1}}};
  d.ops.push_back({"relu0", Relu(64, 14), "", {"x"}, {"r"}, {}});
  d.ops.push_back({"mul", se, "", {"r", "s"}, {"m"}, {}});
  d.ops.push_back({"relu1", Relu(64, 14), "", {"m"}, {"y"}, {}});
  return d;
}

// A squeeze-excitation Mul ([1,C,H,W] by a run-time [1,C,1,1] scale) is its own problem (bc1). In
// nChw8c oneDNN 2.6 runs it in its reference loop: the plan must avoid nChw8c for it even where the
// full-size Mul and everything around it are fastest in nChw8c, whether the exact problem or only a
// per-channel problem of other sizes was measured there (the full-size one is nearer in size, but a
// broadcast form is a cost family of its own, never interpolated from full-size measurements).
TEST(Plan, PerChannelMulAvoidsTheLayoutWhereItIsReference) {
  const std::string se = "binary:mul:mb1c64h14w14bc1";
  const GraphDescription d = SqueezeExcitation(se);
  const std::vector<std::string> layouts = {"nchw", "nhwc", "nChw8c", "nChw16c"};
  auto fill = [&](SyntheticDb& db, const std::string& reference_key) {
    for (const auto& l : layouts) {
      const bool c8 = l == "nChw8c";
      db.Op(Relu(64, 14), "cpu", l, c8 ? 2 : 6);
      db.Op("binary:mul:mb1c64h14w14", "cpu", l, c8 ? 1 : 8);  // full size: nChw8c is jit and fast
      if (!c8) db.Op(se, "cpu", l, l == "nChw16c" ? 5 : 9);
      for (const auto& m : layouts)
        if (m != l) {
          db.Reorder("cpu", l, m, 1, 64, 14, 14, 3);
          db.Reorder("cpu", l, m, 1, 64, 1, 1, 0.5);
        }
    }
    // In nChw8c only oneDNN's reference loop (cheap-looking on purpose: it must never be chosen).
    db.Op(reference_key, "cpu", "nChw8c", 0.5, {"f32", true, "ok", "", ""});
    db.Close();
  };
  TempDir dir;
  for (const std::string& ref : {se, std::string("binary:mul:mb1c256h28w28bc1")}) {
    SCOPED_TRACE(ref);
    const std::string path = dir.File("se" + std::to_string(ref.size()) + ".db");
    {
      SyntheticDb db(path);
      fill(db, ref);
    }
    const Plan p = Selector::Open(path).Select(d, {});
    bool found = false;
    for (const auto& sg : p.subgraphs) {
      if (std::find(sg.nodes.begin(), sg.nodes.end(), 1) == sg.nodes.end()) continue;
      found = true;
      EXPECT_NE(sg.layout, "nChw8c");
      for (const auto& c : sg.candidates) EXPECT_NE(c.layout, "nChw8c") << c.predicted_us;
    }
    EXPECT_TRUE(found);
  }
}

// A state no sweep measured, which interpolation prices cheapest, is not planned when the refuse check
// (layoutdb passes microbench::MakeReferenceCheck: oneDNN would run its reference loop there) names
// it; the plan's notes say where and why.
TEST(Plan, AStateTheRefuseCheckNamesIsNotPlannedAndTheNotesSaySo) {
  const std::string se = "binary:mul:mb1c64h14w14bc1";
  const GraphDescription d = SqueezeExcitation(se);
  TempDir dir;
  const std::string path = dir.File("refuse.db");
  {
    SyntheticDb db(path);
    for (const std::string l : {"nchw", "nChw8c"}) {
      const bool c8 = l == "nChw8c";
      db.Op(Relu(64, 14), "cpu", l, c8 ? 2 : 6);
      // Per-channel Muls of other sizes: nChw8c's look fast, so the one in the graph would go there.
      for (int c : {32, 128}) db.Op(fmt::format("binary:mul:mb1c{}h14w14bc1", c), "cpu", l, (c8 ? 1 : 8) * c / 64.0);
      const std::string other = c8 ? "nchw" : "nChw8c";
      db.Reorder("cpu", l, other, 1, 64, 14, 14, 3);
      db.Reorder("cpu", l, other, 1, 64, 1, 1, 0.5);
    }
    db.Close();
  }
  auto mul_layout = [&](const Plan& p) {
    for (const auto& sg : p.subgraphs)
      if (std::find(sg.nodes.begin(), sg.nodes.end(), 1) != sg.nodes.end()) return sg.layout;
    return std::string("(none)");
  };
  EXPECT_EQ(mul_layout(Selector::Open(path).Select(d, {})), "nChw8c");
  int asked = 0;
  const RefuseCheck refuse = [&](const std::string& key, const std::string& unit, const std::string& layout,
                                 const std::string&) -> std::optional<std::string> {
    ++asked;
    if (key == se && unit == "cpu" && layout == "nChw8c") return "oneDNN would run its reference kernel ref:any here";
    return std::nullopt;
  };
  const Plan p = Selector::Open(path, refuse).Select(d, {});
  EXPECT_GT(asked, 0);
  EXPECT_EQ(mul_layout(p), "nchw");
  // The Mul's sub-graph (it takes the ReLU after it as a post-op).
  const std::string want = "(Mul+Relu): not planned in cpu/nChw8c: oneDNN would run its reference kernel ref:any here";
  EXPECT_EQ(std::count_if(p.notes.begin(), p.notes.end(),
                          [&](const std::string& n) { return n.find(want) != std::string::npos; }),
            1)
      << fmt::format("{}", fmt::join(p.notes, "\n"));
}

TEST(Plan, FastDeviceWithCheapTransfersIsChosenExpensiveTransfersKeepCpu) {
  auto make = [](const std::string& path, double transfer_us) {
    SyntheticDb db(path, {"cpu", "ocl:0:0"});
    FillCpu(db, Times{});
    for (int ic : {3, 32}) db.Op(Conv(ic, 32, 28), "ocl:0:0", "nchw", 5);
    db.Op(Relu(32, 28), "ocl:0:0", "nchw", 1);
    for (int64_t bytes : {int64_t{1} << 10, int64_t{1} << 22}) {
      db.Transfer("ocl:0:0", "write", bytes, transfer_us);
      db.Transfer("ocl:0:0", "read", bytes, transfer_us);
    }
    db.Close();
  };
  TempDir dir;
  make(dir.File("cheap.db"), 2);
  make(dir.File("dear.db"), 5000);
  Plan cheap = SelectChain(dir.File("cheap.db"));
  EXPECT_EQ(Layouts(cheap), (std::vector<std::string>{"ocl:0:0/nchw", "ocl:0:0/nchw", "ocl:0:0/nchw"}));
  ASSERT_EQ(cheap.transitions.size(), 2u);  // write in, read out
  EXPECT_EQ(cheap.transitions[0].kind, "transfer");
  Plan dear = SelectChain(dir.File("dear.db"));
  EXPECT_EQ(Layouts(dear), (std::vector<std::string>{"cpu/nchw", "cpu/nchw", "cpu/nchw"}));
  // --units restricts the choice.
  SelectOptions only_cpu;
  only_cpu.units = {"cpu"};
  EXPECT_EQ(Layouts(SelectChain(dir.File("cheap.db"), only_cpu)),
            (std::vector<std::string>{"cpu/nchw", "cpu/nchw", "cpu/nchw"}));
}

TEST(Plan, FlattenOfABlockedTensorPaysTheReorderToPlain) {
  // conv -> Flatten -> Gemm: the conv is 10 µs faster in nChw16c, but the Flatten must see plain
  // order, so a 200 µs reorder back makes nchw the better plan; a 1 µs one does not.
  auto make = [](const std::string& path, double reorder) {
    SyntheticDb db(path);
    db.Op(Conv(32, 16, 7), "cpu", "nchw", 100);
    db.Op(Conv(32, 16, 7), "cpu", "nChw16c", 90);
    db.Op("ip:mb1ic784oc10", "cpu", "plain", 20);
    db.Reorder("cpu", "nChw16c", "nchw", 1, 16, 7, 7, reorder);
    db.Reorder("cpu", "nchw", "nChw16c", 1, 32, 7, 7, reorder);
    db.Close();
  };
  GraphDescription d;
  d.name = "flatten";
  d.inputs = {{"x", {1, 32, 7, 7}}};
  d.ops.push_back({"conv", Conv(32, 16, 7), "", {"x"}, {"c"}, {}});
  d.ops.push_back({"flatten", "", "Flatten", {"c"}, {"f"}, {{1, 784}}});
  d.ops.push_back({"fc", "ip:mb1ic784oc10", "", {"f"}, {"y"}, {}});
  TempDir dir;
  make(dir.File("dear.db"), 200);
  make(dir.File("cheap.db"), 1);
  Plan dear = Selector::Open(dir.File("dear.db")).Select(d, {});
  Plan cheap = Selector::Open(dir.File("cheap.db")).Select(d, {});
  ASSERT_GE(dear.subgraphs.size(), 2u);
  EXPECT_EQ(dear.subgraphs[0].layout, "nchw");
  EXPECT_EQ(cheap.subgraphs[0].layout, "nChw16c");
  // Whatever runs the Flatten, its nChw16c input was brought back to plain order at a cost; the
  // Flatten itself is a free view (the runtime aliases its input): the conv, the ip, the input's
  // reorder to nChw16c and the reorder back, nothing more.
  EXPECT_DOUBLE_EQ(cheap.total_predicted_us, 90 + 20 + 1 + 1);
}

TEST(Plan, ATensorReadByThreeSubgraphsInTwoLayoutsIsConvertedTwice) {
  // conv p (nchw) feeds three convs: r1 and r2 run best in nChw16c, r3 in nhwc. The runtime keeps one
  // copy of a tensor per unit and layout, so p's output is reordered once to nChw16c (for r1 and r2)
  // and once to nhwc: two conversions, not three.
  TempDir dir;
  const std::string p = Conv(3, 16, 14), r1 = Conv(16, 16, 14, 1), r2 = Conv(16, 16, 14, 3),
                    r3 = Conv(16, 16, 14, 5);
  {
    SyntheticDb db(dir.File("s.db"));
    for (const auto& [key, best] : std::vector<std::pair<std::string, std::string>>{
             {p, "nchw"}, {r1, "nChw16c"}, {r2, "nChw16c"}, {r3, "nhwc"}})
      for (const char* l : {"nchw", "nhwc", "nChw16c"}) db.Op(key, "cpu", l, l == best ? 10 : 1000);
    for (const char* a : {"nchw", "nhwc", "nChw16c"})
      for (const char* b : {"nchw", "nhwc", "nChw16c"})
        if (std::string(a) != b) db.Reorder("cpu", a, b, 1, 16, 14, 14, 1);
    db.Close();
  }
  GraphDescription d;
  d.name = "fanout";
  d.inputs = {{"x", {1, 3, 14, 14}}};
  d.ops.push_back({"p", p, "", {"x"}, {"c"}, {}});
  d.ops.push_back({"r1", r1, "", {"c"}, {"y1"}, {}});
  d.ops.push_back({"r2", r2, "", {"c"}, {"y2"}, {}});
  d.ops.push_back({"r3", r3, "", {"c"}, {"y3"}, {}});
  Plan plan = Selector::Open(dir.File("s.db")).Select(d, {});
  ASSERT_EQ(plan.subgraphs.size(), 4u);
  EXPECT_EQ(plan.subgraphs[0].layout, "nchw");
  EXPECT_EQ(plan.subgraphs[1].layout, "nChw16c");
  EXPECT_EQ(plan.subgraphs[2].layout, "nChw16c");
  EXPECT_EQ(plan.subgraphs[3].layout, "nhwc");
  int conversions_of_c = 0;
  double transitions_us = 0;
  for (const auto& t : plan.transitions) {
    conversions_of_c += t.tensor == "c";
    transitions_us += t.us;
  }
  EXPECT_EQ(conversions_of_c, 2);
  // Four convs at 10, two conversions of c, three outputs back to nchw for the caller.
  EXPECT_DOUBLE_EQ(plan.total_predicted_us, 4 * 10 + 2 + 3);
  EXPECT_DOUBLE_EQ(transitions_us, 2 + 3);
}

TEST(Plan, AnyChargesTheConversionIntoTheSourceLayoutItChose) {
  // A first convolution under `any`: oneDNN reads the 3-channel input in nchw and writes nChw16c
  // (recorded as nchw>nChw16c). The plan charges no reorder of the nchw input (it would cost 50) and
  // the reorder of the output back to nchw (5).
  TempDir dir;
  const std::string conv = Conv(3, 16, 28);
  {
    SyntheticDb db(dir.File("a.db"));
    db.Op(conv, "cpu", "any", 40, {"f32", false, "ok", "nchw>nChw16c", ""});
    db.Op(conv, "cpu", "nchw", 100);
    db.Reorder("cpu", "nchw", "nChw16c", 1, 3, 28, 28, 50);
    db.Reorder("cpu", "nChw16c", "nchw", 1, 16, 28, 28, 5);
    db.Close();
  }
  GraphDescription d;
  d.name = "first-conv";
  d.inputs = {{"x", {1, 3, 28, 28}}};
  d.ops.push_back({"conv", conv, "", {"x"}, {"y"}, {}});
  Plan plan = Selector::Open(dir.File("a.db")).Select(d, {});
  ASSERT_EQ(plan.subgraphs.size(), 1u);
  EXPECT_EQ(plan.subgraphs[0].layout, "nchw>nChw16c");
  EXPECT_DOUBLE_EQ(plan.total_predicted_us, 40 + 5);
  for (const auto& t : plan.transitions) EXPECT_NE(t.tensor, "x") << "the input is read as it is";
  bool any_baseline = false;
  for (const auto& b : plan.baselines)
    if (b.name == "cpu:any") {
      any_baseline = true;
      EXPECT_DOUBLE_EQ(b.total_us, 40 + 5);
    }
  EXPECT_TRUE(any_baseline);
}

TEST(Plan, AnyRunsEveryOpButAConvolutionInTheLayoutOfItsInput) {
  // Under `any` the runtime lets a convolution's kernel pick (nhwc here) and runs a pooling after it
  // in the layout it reads: the baseline prices the pool in nhwc, not in nchw (the Paddle detector's
  // cpu:any predicted 29.6 ms where it ran 35.9, its glue sub-graphs priced in nchw), nor in the
  // nChw16c its own `any` row chose.
  TempDir dir;
  const std::string conv = Conv(16, 16, 28);
  const std::string pool = "pool:max:mb1ic16ih28iw28kh2kw2sh2sw2ph0pw0";
  {
    SyntheticDb db(dir.File("f.db"));
    db.Op(conv, "cpu", "any", 30, {"f32", false, "ok", "nhwc", ""});
    db.Op(conv, "cpu", "nchw", 100);
    db.Op(conv, "cpu", "nhwc", 30);
    db.Op(pool, "cpu", "nchw", 7);
    db.Op(pool, "cpu", "nhwc", 11);
    db.Op(pool, "cpu", "any", 5, {"f32", false, "ok", "nChw16c", ""});
    db.Op(pool, "cpu", "nChw16c", 5);
    for (const auto& [a, z] : std::vector<std::pair<std::string, std::string>>{
             {"nchw", "nhwc"}, {"nhwc", "nchw"}, {"nchw", "nChw16c"}, {"nChw16c", "nchw"},
             {"nhwc", "nChw16c"}, {"nChw16c", "nhwc"}}) {
      db.Reorder("cpu", a, z, 1, 16, 28, 28, 2);
      db.Reorder("cpu", a, z, 1, 16, 14, 14, 1);
    }
    db.Close();
  }
  GraphDescription d;
  d.name = "conv-pool";
  d.inputs = {{"x", {1, 16, 28, 28}}};
  d.ops.push_back({"conv", conv, "", {"x"}, {"c"}, {}});
  d.ops.push_back({"pool", pool, "", {"c"}, {"y"}, {}});
  Plan plan = Selector::Open(dir.File("f.db")).Select(d, {});
  ASSERT_EQ(plan.subgraphs.size(), 2u);
  std::map<std::string, double> total;
  for (const auto& b : plan.baselines) total[b.name] = b.total_us;
  ASSERT_TRUE(total.count("cpu:any") && total.count("cpu:nhwc"));
  // x into nhwc (2), the conv (30), the pool in nhwc (11), y back to nchw (1): all-nhwc's plan.
  EXPECT_DOUBLE_EQ(total["cpu:any"], 2 + 30 + 11 + 1);
  EXPECT_DOUBLE_EQ(total["cpu:any"], total["cpu:nhwc"]);
}

TEST(Plan, AnyIsNoStateWhenOneDnnChoseALayoutTheUnitDoesNotHold) {
  // oneDNN's `any` chose aBcd4b (4-channel blocks) for a depthwise conv, and measured fastest. The
  // runtime holds tensors only in the unit's own layouts, and no reorder into aBcd4b was measured:
  // the plan must not pick it, and picks the best of the unit's layouts instead.
  TempDir dir;
  const std::string conv = "conv2d:mb1ic32ih56iw56oc32kh3kw3sh1sw1ph1pw1g32";
  {
    SyntheticDb db(dir.File("b.db"));
    db.Op(conv, "cpu", "any", 20, {"f32", false, "ok", "aBcd4b", ""});
    db.Op(conv, "cpu", "nchw", 300);
    db.Op(conv, "cpu", "nChw16c", 30);
    db.Reorder("cpu", "nchw", "nChw16c", 1, 32, 56, 56, 5);
    db.Reorder("cpu", "nChw16c", "nchw", 1, 32, 56, 56, 5);
    db.Close();
  }
  GraphDescription d;
  d.name = "dw";
  d.inputs = {{"x", {1, 32, 56, 56}}};
  d.ops.push_back({"conv", conv, "", {"x"}, {"y"}, {}});
  const Plan plan = Selector::Open(dir.File("b.db")).Select(d, {});
  ASSERT_EQ(plan.subgraphs.size(), 1u);
  EXPECT_EQ(plan.subgraphs[0].layout, "nChw16c");
  EXPECT_DOUBLE_EQ(plan.total_predicted_us, 30 + 5 + 5);
  for (const auto& c : plan.subgraphs[0].candidates) EXPECT_NE(c.layout, "aBcd4b");
}

TEST(Plan, UnknownOperatorRunsOnCpuInPlainLayoutAndIsReported) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("u.db"), {"cpu", "ocl:0:0"});
    FillCpu(db, Times{});
    db.Op(Relu(32, 28), "ocl:0:0", "nchw", 0.1);
    db.Transfer("ocl:0:0", "write", 1 << 22, 0.1);
    db.Transfer("ocl:0:0", "read", 1 << 22, 0.1);
    db.Close();
  }
  Graph g;
  g.name = "unknown";
  g.tensors["x"] = {"x", {1, 32, 28, 28}};
  g.tensors["y"] = {"y", {1, 32, 28, 28}};
  g.tensors["z"] = {"z", {1, 32, 28, 28}};
  g.inputs = {"x"};
  g.outputs = {"z"};
  Node custom;
  custom.index = 0;
  custom.op_type = "MyCustomOp";
  custom.name = "mystery";
  custom.inputs = {"x"};
  custom.outputs = {"y"};
  custom.is_known = false;
  Node relu;
  relu.index = 1;
  relu.op_type = "Relu";
  relu.name = "relu";
  relu.inputs = {"y"};
  relu.outputs = {"z"};
  relu.problem = Problem::Parse(Relu(32, 28));
  g.nodes = {custom, relu};
  Partition part;
  part.subgraphs = {{{0}, -1}, {{1}, 1}};
  part.edges = ComputeEdges(g, part.subgraphs);
  CostModel cost = CostModel::Load(dir.File("u.db"));
  Plan p = BuildPlan(g, part, cost, {});
  ASSERT_EQ(p.subgraphs.size(), 2u);
  EXPECT_EQ(p.subgraphs[0].unit, "cpu");
  EXPECT_EQ(p.subgraphs[0].layout, "nchw");
  EXPECT_EQ(p.subgraphs[0].confidence, "roofline");
  EXPECT_EQ(p.subgraphs[0].candidates.size(), 1u);
  EXPECT_EQ(p.subgraphs[1].unit, "ocl:0:0");  // the known op may still go elsewhere
  EXPECT_NE(std::find(p.notes.begin(), p.notes.end(),
                      "node 0 (MyCustomOp 'mystery'): unknown operator, placed on cpu/nchw"),
            p.notes.end());
}

// An ONNX file: x [1,3,28,28] -> Conv(3->32) -> Relu -> Conv(32->32) -> Relu (nodes 0,1 and 2,3), every
// weight `w` (two values make two files of one graph).
std::string TwoConvReluModel(const std::string& path, float w) {
  onnx_testing::Tiny t(13);
  t.Input("x", {"1", "3", "28", "28"});
  t.Floats("W0", {32, 3, 3, 3}, w);
  t.Floats("W1", {32, 32, 3, 3}, w);
  for (int i = 0; i < 2; ++i) {
    auto* c = t.Node("Conv", {i ? "r0" : "x", i ? "W1" : "W0"}, {fmt::format("c{}", i)});
    onnx_testing::Tiny::IntsAttr(c, "kernel_shape", {3, 3});
    onnx_testing::Tiny::IntsAttr(c, "pads", {1, 1, 1, 1});
    t.Node("Relu", {fmt::format("c{}", i)}, {i ? "y" : "r0"});
  }
  t.Output("y", {"1", "32", "28", "28"});
  return t.Write(path);
}

// A state of a sub-graph timed in this very model's network (sweep --model --cache network; schema 8)
// is priced from that time when the same file is planned at the same shapes; the same graph in another
// file keeps the per-problem figures (operator by operator here: conv 100 + relu 5 in nchw).
TEST(Plan, AStateTimedInTheModelsOwnNetworkIsPricedFromThatTime) {
  TempDir dir;
  const std::string a = TwoConvReluModel(dir.File("a.onnx"), 0.1f), b = TwoConvReluModel(dir.File("b.onnx"), 0.2f);
  const std::string instance = ModelInstance(ModelHash(a), ImportOnnx(a, {}));
  EXPECT_EQ(instance, ModelHash(a) + " x:1,3,28,28");
  SyntheticDb db(dir.File("t.db"));
  FillCpu(db, Times{});
  db.NetworkTime(instance, "2,3", "cpu", "nchw", 61.5);
  const std::string path = db.Close();
  const Plan pa = Selector::Open(path).Select(a, {});
  const Plan pb = Selector::Open(path).Select(b, {});
  ASSERT_EQ(pa.subgraphs.size(), 2u);
  ASSERT_EQ(Layouts(pa), (std::vector<std::string>{"cpu/nchw", "cpu/nchw"}));
  ASSERT_EQ(Layouts(pb), Layouts(pa));
  EXPECT_DOUBLE_EQ(pa.subgraphs[1].predicted_us, 61.5);
  EXPECT_EQ(pa.subgraphs[1].confidence, "exact");
  EXPECT_DOUBLE_EQ(pb.subgraphs[1].predicted_us, 105);
  EXPECT_DOUBLE_EQ(pa.subgraphs[0].predicted_us, 105);  // not timed in the network: as before
  EXPECT_NEAR(pb.total_predicted_us - pa.total_predicted_us, 105 - 61.5, 1e-9);
}

// A plan whose kernels are mostly a few microseconds, priced from a file timed with caches evicted
// (warm, cold), says that a network this small may run them much faster, and which sweep times them
// in the network; not for a hot file, larger kernels, or sub-graphs already timed in the network.
TEST(Plan, MostlySmallKernelsFromAWarmFileAreFlagged) {
  TempDir dir;
  const std::string model = TwoConvReluModel(dir.File("m.onnx"), 0.1f);
  auto plan = [&](const std::string& name, const std::string& mode, double conv_us, bool in_network) {
    SyntheticDb db(dir.File(name));
    db.Sweep(mode);
    FillCpu(db, Times{conv_us, 10 * conv_us, 10 * conv_us, 20});
    if (in_network) {
      const std::string instance = ModelInstance(ModelHash(model), ImportOnnx(model, {}));
      for (const char* nodes : {"0,1", "2,3"}) db.NetworkTime(instance, nodes, "cpu", "nchw", conv_us);
    }
    return Selector::Open(db.Close()).Select(model, {});
  };
  auto flagged = [](const Plan& p) {
    return std::count_if(p.notes.begin(), p.notes.end(), [](const std::string& n) {
      return n.rfind("2 of 2 sub-graphs (100% of the predicted kernel time) are priced under 20 us", 0) == 0 &&
             n.find("sweep --model") != std::string::npos && n.find("--cache network") != std::string::npos;
    });
  };
  const Plan warm = plan("warm.db", "warm", 5, false);
  EXPECT_EQ(flagged(warm), 1) << fmt::format("{}", fmt::join(warm.notes, "\n"));
  EXPECT_EQ(flagged(plan("cold.db", "cold", 5, false)), 1);
  EXPECT_EQ(flagged(plan("hot.db", "hot", 5, false)), 0);
  EXPECT_EQ(flagged(plan("large.db", "warm", 100, false)), 0);
  EXPECT_EQ(flagged(plan("network.db", "warm", 5, true)), 0);
}

TEST(Plan, ErrorsNameWhatIsWrong) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("e.db"));
    FillCpu(db, Times{});
    db.Close();
  }
  Selector sel = Selector::Open(dir.File("e.db"));
  SelectOptions o;
  o.units = {"ocl:7:7"};
  try {
    sel.Select(ChainModel(), o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("unit 'ocl:7:7' has no measurements in database {} "
                                                 "(it has: cpu)", dir.File("e.db")));
  }
  o = {};
  o.dtype = "f64";
  try {
    sel.Select(ChainModel(), o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "unknown dtype 'f64' (use f32, bf16 or int8)");
  }
  GraphDescription d = ChainModel();
  d.ops[2].inputs = {"nowhere"};
  try {
    sel.Select(d, {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "graph 'chain': op 2 'conv1' reads tensor 'nowhere', which is "
                                     "neither a graph input nor written by an earlier op");
  }
}

TEST(Plan, JsonValidatesAgainstTheSchema) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("j.db"), {"cpu", "ocl:0:0"});
    FillCpu(db, Times{100, 90, 80, 10});
    db.Op(Conv(32, 32, 28), "ocl:0:0", "nc4hw4", 20);
    db.Transfer("ocl:0:0", "write", 1 << 20, 30);
    db.Transfer("ocl:0:0", "read", 1 << 20, 30);
    db.Close();
  }
  Plan p = SelectChain(dir.File("j.db"));
  const nlohmann::json schema = PlanSchema();
  const nlohmann::json j = nlohmann::json::parse(p.ToJson());
  EXPECT_EQ(ValidateJson(schema, j), std::vector<std::string>{});
  EXPECT_EQ(j["subgraphs"].size(), p.subgraphs.size());
  // local_best puts the 32-channel convs on ocl:0:0 in nc4hw4, whose reorders were never measured.
  EXPECT_EQ(j["baselines"].size(), 4u);
  EXPECT_NE(std::find(p.notes.begin(), p.notes.end(),
                      "baseline local_best: infeasible (a transition it needs was not measured)"),
            p.notes.end());
  EXPECT_EQ(j["subgraphs"][0]["nodes"], nlohmann::json::array({0, 1}));
  // A plan someone edited by hand is caught.
  nlohmann::json bad = j;
  bad["subgraphs"][1]["confidence"] = "guessed";
  bad["subgraphs"][0].erase("unit");
  EXPECT_EQ(ValidateJson(schema, bad),
            (std::vector<std::string>{"/subgraphs/0: missing required property 'unit'",
                                      "/subgraphs/1/confidence: \"guessed\" is not one of "
                                      "[\"exact\",\"interpolated\",\"roofline\"]"}));
  // The table a person reads names every sub-graph's unit and layout and the baselines.
  const std::string table = p.ToTable();
  for (const auto& s : p.subgraphs) EXPECT_NE(table.find(s.layout), std::string::npos);
  EXPECT_NE(table.find("local_best"), std::string::npos);
}

TEST(Plan, CApiRoundTrip) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("c.db"));
    db.Op("conv2d:mb1ic1ih7iw5oc1kh3kw3sh2sw2ph1pw1g1", "cpu", "nchw", 3);
    db.Op("conv2d:mb1ic1ih7iw5oc1kh3kw3sh2sw2ph1pw1g1", "cpu", "nhwc", 2);
    db.Reorder("cpu", "nchw", "nhwc", 1, 1, 7, 5, 0.5);
    db.Reorder("cpu", "nhwc", "nchw", 1, 1, 4, 3, 0.5);
    db.Close();
  }
  const std::string model =
      "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (libonnx-testdata)";
  layoutdb_selector* s = layoutdb_open(dir.File("c.db").c_str());
  ASSERT_NE(s, nullptr) << layoutdb_last_error();
  layoutdb_plan* p = layoutdb_select_file(s, model.c_str(), nullptr, "cpu", "f32");
  ASSERT_NE(p, nullptr) << layoutdb_last_error();
  EXPECT_STREQ(layoutdb_last_error(), "");
  const Plan cpp = Selector::Open(dir.File("c.db")).Select(model, {});
  ASSERT_EQ(layoutdb_plan_subgraph_count(p), static_cast<int>(cpp.subgraphs.size()));
  for (int i = 0; i < layoutdb_plan_subgraph_count(p); ++i) {
    EXPECT_EQ(layoutdb_plan_unit(p, i), cpp.subgraphs[i].unit);
    EXPECT_EQ(layoutdb_plan_layout(p, i), cpp.subgraphs[i].layout);
  }
  EXPECT_EQ(layoutdb_plan_unit(p, layoutdb_plan_subgraph_count(p)), nullptr);
  EXPECT_DOUBLE_EQ(layoutdb_plan_total_us(p), cpp.total_predicted_us);
  EXPECT_EQ(nlohmann::json::parse(layoutdb_plan_json(p))["total_predicted_us"].get<double>(),
            cpp.total_predicted_us);
  layoutdb_plan_free(p);
  // Failures: NULL and one line.
  EXPECT_EQ(layoutdb_select_file(s, dir.File("none.onnx").c_str(), nullptr, nullptr, nullptr), nullptr);
  EXPECT_NE(std::string(layoutdb_last_error()).find(dir.File("none.onnx")), std::string::npos)
      << layoutdb_last_error();
  EXPECT_EQ(layoutdb_select_file(s, model.c_str(), "x", nullptr, nullptr), nullptr);
  EXPECT_STREQ(layoutdb_last_error(), "input 'x': expected NAME:D1,D2,... (e.g. x:1,3,224,224)");
  layoutdb_close(s);
  EXPECT_EQ(layoutdb_open(dir.File("missing.db").c_str()), nullptr);
  EXPECT_NE(std::string(layoutdb_last_error()).find("missing.db"), std::string::npos);
}

}  // namespace
}  // namespace layoutdb::selector

namespace layoutdb::selector {
namespace {

using layoutdb::testing::Shell;

TEST(SelectCommand, TableJsonAndOutFile) {
  const std::string bin = testing::LayoutdbBin();
  if (!std::filesystem::exists(bin)) GTEST_SKIP() << "no layoutdb program at " << bin;
  const std::string model =
      "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";
  if (!std::filesystem::exists(model)) GTEST_SKIP() << model << " missing (libonnx-testdata)";
  TempDir dir;
  {
    SyntheticDb db(dir.File("s.db"));
    db.Op("conv2d:mb1ic1ih7iw5oc1kh3kw3sh2sw2ph1pw1g1", "cpu", "nchw", 3);
    db.Close();
  }
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string before = bytes(dir.File("s.db"));
  std::string out;
  ASSERT_EQ(Shell(fmt::format("'{}' select '{}' --db '{}'", bin, model, dir.File("s.db")), &out), 0) << out;
  // Read-only: the file is untouched and no journal is left beside it.
  EXPECT_EQ(bytes(dir.File("s.db")), before);
  EXPECT_FALSE(std::filesystem::exists(dir.File("s.db-wal")));
  EXPECT_NE(out.find("total predicted: "), std::string::npos) << out;
  EXPECT_NE(out.find("cpu:nchw"), std::string::npos) << out;
  const std::string plan_file = dir.File("plan.json");
  ASSERT_EQ(Shell(fmt::format("'{}' select '{}' --db '{}' --json --out '{}'", bin, model, dir.File("s.db"),
                              plan_file),
                  &out),
            0)
      << out;
  const nlohmann::json printed = nlohmann::json::parse(out);
  std::ifstream f(plan_file);
  const nlohmann::json written = nlohmann::json::parse(f);
  EXPECT_EQ(printed, written);
  EXPECT_EQ(ValidateJson(PlanSchema(), written), std::vector<std::string>{});
  EXPECT_EQ(written["subgraphs"][0]["unit"], "cpu");
  // Bad input: one line and a non-zero exit.
  EXPECT_EQ(Shell(fmt::format("'{}' select '{}' --db '{}' --input x", bin, model, dir.File("s.db")), &out), 1);
  EXPECT_EQ(out, "layoutdb: error: --input 'x': expected NAME:D1,D2,... (e.g. x:1,3,224,224)\n");
  EXPECT_EQ(Shell(fmt::format("'{}' select '{}' --db '{}' --units gpu", bin, model, dir.File("s.db")), &out), 1);
  EXPECT_EQ(out, fmt::format("layoutdb: error: unit 'gpu' has no measurements in database {} (it has: cpu)\n",
                             dir.File("s.db")));
}

}  // namespace
}  // namespace layoutdb::selector
