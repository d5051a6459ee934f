// The selector and the measurements' uncertainty: units compared by the host's time (what an
// application sees), estimates of unstable points at their median (never the interval's upper end,
// which biased whole plans), and a plan note where a decision rests on a difference smaller than the
// measurements' spread.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "layoutdb/selector.h"
#include "selector/cost.h"
#include "synthetic_db.h"

namespace layoutdb::selector {
namespace {

using testing::SyntheticDb;
using testing::TempDir;

const std::string kConv = "conv2d:mb1ic16ih14iw14oc16kh3kw3sh1sw1ph1pw1g1";

db::Stats Stats(double median, double rel_ci, std::optional<bool> stable, std::optional<double> host = {}) {
  db::Stats s = layoutdb::testing::SampleStats(median);
  s.rel_ci = rel_ci;
  s.stable = stable;
  s.timer = host ? "event" : "host";
  s.host_median_us = host ? *host : median;
  s.cache_mode = "hot";
  return s;
}

void Put(SyntheticDb& db, const std::string& unit_name, const std::string& layout, const db::Stats& s) {
  auto& d = db.db();
  int64_t unit = 0;
  for (const auto& u : d.Units())
    if (u.name == unit_name) unit = u.id;
  db::MeasurementRow m;
  m.problem_id = d.UpsertProblem(Problem::Parse(kConv));
  m.unit_id = unit;
  m.layout = m.src_layout = m.dst_layout = layout;
  m.dtype = "f32";
  m.status = "ok";
  m.impl = "jit:avx512_core";
  m.stats = s;
  d.PutMeasurement(m);
}

// Cheap reorders and transfers, so that only the operator's own time decides.
void Cheap(SyntheticDb& db, bool ocl) {
  for (const char* a : {"nchw", "nhwc"})
    for (const char* b : {"nchw", "nhwc"})
      if (std::string(a) != b) db.Reorder("cpu", a, b, 1, 16, 14, 14, 0.01);
  if (ocl) {
    db.Transfer("ocl:0:0", "write", 1 << 16, 0.01);
    db.Transfer("ocl:0:0", "read", 1 << 16, 0.01);
  }
}

GraphDescription OneConv() {
  GraphDescription d;
  d.inputs = {{"x", {1, 16, 14, 14}}};
  d.ops.push_back({"conv", kConv, "", {"x"}, {"y"}, {}});
  return d;
}

bool HasNote(const Plan& p, const std::string& text) {
  return std::any_of(p.notes.begin(), p.notes.end(), [&](const std::string& n) { return n == text; });
}
std::string Notes(const Plan& p) {
  std::string s;
  for (const auto& n : p.notes) s += n + "\n";
  return s;
}

TEST(Uncertainty, ComparableTimeIsTheHostsMedianAndUnstablePointsAreFlagged) {
  // An OpenCL point: event time 30, host time 42: compared by 42.
  EXPECT_DOUBLE_EQ(ComparableUs(Stats(30, 0.01, true, 42)), 42);
  EXPECT_FALSE(IsUnstable(Stats(30, 0.01, true, 42)));
  // Not stable: still its median, flagged.
  EXPECT_DOUBLE_EQ(ComparableUs(Stats(100, 0.1, false)), 100);
  EXPECT_TRUE(IsUnstable(Stats(100, 0.1, false)));
  // Measured before schema 4 (stability unknown, no host time): unstable when its CI exceeds 2%.
  db::Stats old = layoutdb::testing::SampleStats(50);
  old.rel_ci = 0.012;
  EXPECT_DOUBLE_EQ(ComparableUs(old), 50);
  EXPECT_FALSE(IsUnstable(old));
  old.rel_ci = 0.04;
  EXPECT_DOUBLE_EQ(ComparableUs(old), 50);
  EXPECT_TRUE(IsUnstable(old));
}

TEST(Uncertainty, UnitsAreComparedByWhatAnApplicationSees) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("u.db"), {"cpu", "ocl:0:0"});
    Put(db, "cpu", "nchw", Stats(60, 0.01, true));
    // The device's events say 30 us; from enqueue to finish the host waits 80.
    Put(db, "ocl:0:0", "nchw", Stats(30, 0.01, true, 80));
    Cheap(db, true);
    db.Close();
  }
  CostModel cost = CostModel::Load(dir.File("u.db"));
  const Problem p = Problem::Parse(kConv);
  EXPECT_DOUBLE_EQ(cost.Op(p, "ocl:0:0", "nchw", "f32")->us, 80);
  EXPECT_DOUBLE_EQ(cost.Op(p, "cpu", "nchw", "f32")->us, 60);
  const Plan plan = Selector::Open(dir.File("u.db")).Select(OneConv(), {});
  ASSERT_EQ(plan.subgraphs.size(), 1u);
  EXPECT_EQ(plan.subgraphs[0].unit, "cpu") << Notes(plan);
}

TEST(Uncertainty, ADecisionWithinTheSpreadIsSaid) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("t.db"));
    Put(db, "cpu", "nchw", Stats(100, 0.012, true));   // +-1.2 us
    Put(db, "cpu", "nhwc", Stats(101, 0.012, true));   // +-1.2 us, 1 us slower
    Cheap(db, false);
    db.Close();
  }
  const Plan plan = Selector::Open(dir.File("t.db")).Select(OneConv(), {});
  EXPECT_EQ(plan.subgraphs.at(0).layout, "nchw");
  const auto tie = std::find_if(plan.notes.begin(), plan.notes.end(),
                                [](const std::string& n) { return n.rfind("sub-graph 0 (Conv): cpu/nchw over cpu/nhwc by ", 0) == 0; });
  ASSERT_NE(tie, plan.notes.end()) << Notes(plan);
  EXPECT_NE(tie->find("less than their measurements' spread (+-2.4 us): a toss-up, not a measured difference"),
            std::string::npos)
      << *tie;
  EXPECT_TRUE(HasNote(plan, "1 of 1 sub-graph decisions rest on a difference smaller than the measurements' spread"))
      << Notes(plan);

  // 10% apart: a measured difference, nothing to say.
  TempDir dir2;
  {
    SyntheticDb db(dir2.File("t.db"));
    Put(db, "cpu", "nchw", Stats(100, 0.012, true));
    Put(db, "cpu", "nhwc", Stats(110, 0.012, true));
    Cheap(db, false);
    db.Close();
  }
  const Plan clear = Selector::Open(dir2.File("t.db")).Select(OneConv(), {});
  for (const auto& n : clear.notes) EXPECT_EQ(n.find("spread"), std::string::npos) << n;
}

TEST(Uncertainty, AnUnstablePointIsComparedByItsMedianAndTheChoiceCalledAToss) {
  TempDir dir;
  {
    SyntheticDb db(dir.File("w.db"));
    // nchw's median is lower, but it never settled: +-20%. nhwc is stable at 110.
    Put(db, "cpu", "nchw", Stats(100, 0.2, false));
    Put(db, "cpu", "nhwc", Stats(110, 0.012, true));
    Cheap(db, false);
    db.Close();
  }
  const Plan plan = Selector::Open(dir.File("w.db")).Select(OneConv(), {});
  // The median is the best single estimate: nchw, predicted at its median ...
  EXPECT_EQ(plan.subgraphs.at(0).layout, "nchw") << Notes(plan);
  EXPECT_DOUBLE_EQ(plan.subgraphs.at(0).predicted_us, 100);
  // ... and the plan says that the choice rests on less than the spread, and on an unstable point.
  EXPECT_TRUE(HasNote(plan, "1 of 1 sub-graph decisions rest on a difference smaller than the measurements' spread"))
      << Notes(plan);
  EXPECT_TRUE(HasNote(plan, "1 operator estimates of the plan come from measurements that did not reach their "
                            "stability target: their medians are used, their intervals decide the toss-ups above"))
      << Notes(plan);

  // Unstable but far ahead (+-5%, 30% faster): chosen, no toss-up, the unstable estimate still said.
  TempDir dir2;
  {
    SyntheticDb db(dir2.File("w.db"));
    Put(db, "cpu", "nchw", Stats(100, 0.05, false));
    Put(db, "cpu", "nhwc", Stats(130, 0.012, true));
    Cheap(db, false);
    db.Close();
  }
  const Plan chosen = Selector::Open(dir2.File("w.db")).Select(OneConv(), {});
  EXPECT_EQ(chosen.subgraphs.at(0).layout, "nchw");
  EXPECT_DOUBLE_EQ(chosen.subgraphs.at(0).predicted_us, 100);
  EXPECT_FALSE(HasNote(chosen, "1 of 1 sub-graph decisions rest on a difference smaller than the measurements' spread"))
      << Notes(chosen);
  EXPECT_TRUE(HasNote(chosen, "1 operator estimates of the plan come from measurements that did not reach their "
                              "stability target: their medians are used, their intervals decide the toss-ups above"))
      << Notes(chosen);
}

}  // namespace
}  // namespace layoutdb::selector
