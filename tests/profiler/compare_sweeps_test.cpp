// scripts/compare_sweeps.sh on two small files with known contents: winners and medians overall, per
// unit and per op family, interval coverage, stable points and the calibration kernels.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "tests/sample_rows.h"
#include "tests/shell.h"
#include "tests/temp_dir.h"

namespace {

using layoutdb::Problem;
namespace db = layoutdb::db;

struct Point {
  const char* key;
  const char* unit;
  const char* layout;
  double a, b;
  bool b_stable = true;
};

const char* kConv1 = "conv2d:mb1ic16ih14iw14oc16kh3kw3sh1sw1ph1pw1g1";
const char* kConv2 = "conv2d:mb1ic32ih14iw14oc32kh3kw3sh1sw1ph1pw1g1";
const char* kRelu = "eltwise:relu:mb1c16h14w14";

const Point kPoints[] = {
    {kConv1, "cpu", "nchw", 100, 101},   {kConv1, "cpu", "nhwc", 120, 119},          // winner kept
    {kConv2, "cpu", "nchw", 100, 120, false}, {kConv2, "cpu", "nhwc", 110, 110},     // winner flips
    {kRelu, "cpu", "nchw", 10, 10},      {kRelu, "cpu", "nhwc", 10.2, 10.2},         // lead 2%: not clear
    {kConv1, "ocl:0:0", "nchw", 50, 60}, {kConv1, "ocl:0:0", "nhwc", 80, 80},        // kept, nchw 20% off
};

void Write(const std::string& path, bool b, std::initializer_list<double> compute) {
  db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
  const int64_t t = d.UpsertTarget(layoutdb::testing::SampleTarget("fp"));
  const int64_t cpu = d.UpsertUnit(layoutdb::testing::SampleUnit(t, "cpu"));
  const int64_t ocl = d.UpsertUnit(layoutdb::testing::SampleUnit(t, "ocl:0:0"));
  db::SweepRow s;
  s.target_id = t;
  s.spec_name = "quick";
  s.spec = "{}";
  s.spec_hash = "h";
  s.status = "completed";
  const int64_t sweep = d.InsertSweep(s);
  for (const Point& p : kPoints) {
    db::MeasurementRow m;
    m.problem_id = d.UpsertProblem(Problem::Parse(p.key));
    m.unit_id = std::string(p.unit) == "cpu" ? cpu : ocl;
    m.layout = m.src_layout = m.dst_layout = p.layout;
    m.dtype = "f32";
    m.status = "ok";
    m.sweep_id = sweep;
    m.stats = layoutdb::testing::SampleStats(b ? p.b : p.a);  // rel_ci 1.2%
    m.stats->stable = b ? p.b_stable : true;
    d.PutMeasurement(m);
    // B's visits: 3 a point, 1% apart, but the first conv's nchw moved 20% in one visit and was
    // re-visited once; A has none (a file of one visit a point has an empty table).
    if (!b) continue;
    const bool moved = std::string(p.key) == kConv1 && std::string(p.layout) == "nchw" && std::string(p.unit) == "cpu";
    const std::vector<double> visits = moved ? std::vector<double>{101, 121.2, 100.5, 101.5}
                                             : std::vector<double>{p.b, p.b * 1.01, p.b * 0.995};
    for (size_t k = 0; k < visits.size(); ++k) {
      db::VisitRow v;
      v.sweep_id = sweep;
      v.kind = "measurement";
      v.key = fmt::format("{}|{}|{}|f32", m.problem_id, m.unit_id, m.layout);
      v.visit = static_cast<int64_t>(k + 1);
      v.settled = true;
      v.status = "ok";
      v.stats = layoutdb::testing::SampleStats(visits[k]);
      d.PutVisit(v);
    }
  }
  for (double us : compute) {
    db::CalibrationRow c;
    c.sweep_id = sweep;
    c.kernel = "compute";
    c.median_us = us;
    c.repetitions = 7;
    c.work = 8e6;
    d.PutCalibration(c);
  }
  d.Checkpoint();
}

TEST(CompareSweeps, ReportsReproducibilityOverallPerUnitAndPerOpFamily) {
  layoutdb::testing::TempDir dir;
  const std::string a = dir.File("a.db"), b = dir.File("b.db");
  Write(a, false, {400, 404});
  Write(b, true, {410});
  const char* src = std::getenv("LAYOUTDB_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  std::string out;
  ASSERT_EQ(layoutdb::testing::Shell(std::string("bash ") + src + "/scripts/compare_sweeps.sh " + a + " " + b, &out), 0)
      << out;
  const std::string want =
      "winners: 2 of 3 problems with a >3% lead keep their winner (66.7%)\n"
      "medians: 6 of 8 points agree within 5% (75.0%); median |difference| 0.83%\n"
      "intervals: B's median inside A's stored 95% interval for 6 of 8 points (75.0%; an honest interval: ~95%)\n"
      "stable points: A 8 of 8, B 7 of 8; medians of points stable in both agree within 5% for 6 of 7 (85.7%)\n"
      "per unit:\n"
      "  cpu        winners    1 of    2 ( 50.0%)   medians within 5%:     5 of     6 ( 83.3%)\n"
      "  ocl:0:0    winners    1 of    1 (100.0%)   medians within 5%:     1 of     2 ( 50.0%)\n"
      "per op family:\n"
      "  conv2d     winners    2 of    3 ( 66.7%)   medians within 5%:     4 of     6 ( 66.7%)\n"
      "  eltwise    winners    0 of    0 (  0.0%)   medians within 5%:     2 of     2 (100.0%)\n"
      "calibration (the machine through each sweep):\n"
      "  compute  A     402.0 us (range  1.0%, 2 checks)   B     410.0 us (range  0.0%, 1 checks)   B/A 1.020\n"
      "visits A: none stored\n"
      "visits B: 3 a point, 8 points; their visits agree within 5% for 7 (87.5%), median spread 1.50%; "
      "1 re-visited\n";
  EXPECT_EQ(out.substr(0, want.size()), want) << out;
  // Anything after that is the note on this machine's load, when it is high.
  const std::string rest = out.substr(std::min(out.size(), want.size()));
  EXPECT_TRUE(rest.empty() || rest.rfind("note: load average now ", 0) == 0) << rest;

  ASSERT_NE(layoutdb::testing::Shell(std::string("bash ") + src + "/scripts/compare_sweeps.sh " + a, &out), 0);
  EXPECT_NE(out.find("usage: "), std::string::npos) << out;
}

}  // namespace
