// `layoutdb info` as text and JSON, from a small database with known contents.
#include <gtest/gtest.h>

#include "db/db_test_util.h"
#include "layoutdb/db.h"
#include "layoutdb/reports/info.h"

namespace layoutdb::reports {
namespace {

using db::testing::TempDir;

class Info : public ::testing::Test {
 protected:
  void SetUp() override {
    db::Database d = db::Database::Open(dir_.File("layout.db"), db::Mode::kReadWrite);
    const int64_t t = d.UpsertTarget(db::testing::SampleTarget("0123456789abcdef"));
    const int64_t cpu = d.UpsertUnit(db::testing::SampleUnit(t, "cpu"));
    db::SweepRow s;
    s.target_id = t;
    s.spec_name = "quick";
    s.shard_index = 1;
    s.shard_count = 2;
    s.started_at = "2026-11-24T10:00:00Z";
    s.status = "running";
    s.points_total = 10;
    const int64_t sweep = d.InsertSweep(s);
    const int64_t conv = d.UpsertProblem(Problem::Parse("conv2d:mb1ic3ih32iw32oc16kh3kw3sh1sw1ph1pw1g1"));
    const int64_t mm = d.UpsertProblem(Problem::Parse("matmul:mb1m64n64k64"));
    db::MeasurementRow ref = db::testing::SampleMeasurement(conv, cpu, "nChw16c", "f32", 900);
    ref.is_reference = true;
    d.PutMeasurement(ref);
    d.PutMeasurement(db::testing::SampleMeasurement(conv, cpu, "nchw", "f32", 20));
    db::MeasurementRow bad = db::testing::SampleMeasurement(conv, cpu, "nhwc", "f32", 0);
    bad.status = "failed";
    bad.stats.reset();
    d.PutMeasurement(bad);
    d.PutMeasurement(db::testing::SampleMeasurement(mm, cpu, "plain", "f32", 4));
    d.FinishSweep(sweep, "interrupted", 5);
    // The sweep ended 2m31s after it started.
    db::testing::RawExec(d.path(), "UPDATE sweeps SET ended_at = '2026-11-24T10:02:31Z'");
    d.Checkpoint();
  }
  TempDir dir_;
};

TEST_F(Info, JsonHoldsTheFacts) {
  db::Database d = db::Database::Open(dir_.File("layout.db"), db::Mode::kReadOnly);
  const auto j = InfoJson(d);
  EXPECT_EQ(j.at("schema_version"), db::Database::LatestVersion());
  EXPECT_GT(j.at("file_bytes").get<int64_t>(), 0);
  EXPECT_EQ(j.at("targets").at(0).at("fingerprint"), "0123456789abcdef");
  EXPECT_EQ(j.at("targets").at(0).at("libraries").at("onednn"), "2.6.0");
  EXPECT_EQ(j.at("units").at(0).at("name"), "cpu");
  const auto& sweep = j.at("sweeps").at(0);
  EXPECT_EQ(sweep.at("status"), "interrupted");
  EXPECT_EQ(sweep.at("duration_s"), 151);
  EXPECT_EQ(sweep.at("points_done"), 5);
  EXPECT_EQ(sweep.at("shard_index"), 1);
  const auto& m = j.at("measurements");
  EXPECT_EQ(m.at("total"), 4);
  EXPECT_EQ(m.at("reference"), 1);
  EXPECT_EQ(m.at("by_status").at("ok"), 3);
  EXPECT_EQ(m.at("by_status").at("failed"), 1);
  EXPECT_EQ(m.at("counts").size(), 4u);
  EXPECT_EQ(j.at("problems"), 2);
  EXPECT_EQ(j.at("transitions"), 0);
}

TEST_F(Info, TextShowsSweepsAndTheCountTable) {
  db::Database d = db::Database::Open(dir_.File("layout.db"), db::Mode::kReadOnly);
  const std::string text = InfoText(d);
  EXPECT_NE(text.find("Sweeps (1)\n  #1 quick  shard 1/2  interrupted  2026-11-24T10:00:00Z → "
                      "2026-11-24T10:02:31Z (2m31s)  5/10 points\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Measurements: 4 (ok 3, unsupported 0, failed 1, mistrusted 0); 1 on reference "
                      "implementations"),
            std::string::npos)
      << text;
  // Ops as rows, layouts as columns in their usual order; the failed nhwc point shows as 0/1.
  EXPECT_NE(text.find("  cpu f32   plain  nchw  nhwc  nChw16c\n"
                      "    conv2d      -     1   0/1        1\n"
                      "    matmul      1     -     -        -\n"),
            std::string::npos)
      << text;
}

TEST(InfoTruth, StabilityCacheModeThreadsAndCalibrationsAreShown) {
  TempDir dir;
  const std::string path = dir.File("truth.db");
  {
    db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
    const int64_t t = d.UpsertTarget(db::testing::SampleTarget("0123456789abcdef"));
    const int64_t cpu = d.UpsertUnit(db::testing::SampleUnit(t, "cpu"));
    db::SweepRow s;
    s.target_id = t;
    s.spec_name = "quick";
    s.started_at = "2026-11-24T10:00:00Z";
    s.status = "running";
    s.cache_mode = "cold";
    s.execution = R"({"threads":2,"affinity":"0-1","cgroup":"no cpu limit","omp_num_threads":null,"onednn_threads":2})";
    const int64_t sweep = d.InsertSweep(s);
    for (double us : {400.0, 404.0, 408.0}) {
      db::CalibrationRow c;
      c.sweep_id = sweep;
      c.kernel = "compute";
      c.median_us = us;
      c.repetitions = 7;
      c.work = 8e6;
      d.PutCalibration(c);
    }
    const int64_t mm = d.UpsertProblem(Problem::Parse("matmul:mb1m64n64k64"));
    const int64_t ip = d.UpsertProblem(Problem::Parse("ip:mb1ic64oc64"));
    const int64_t elt = d.UpsertProblem(Problem::Parse("eltwise:relu:mb1c8h8w8"));
    db::MeasurementRow a = db::testing::SampleMeasurement(mm, cpu, "plain", "f32", 4);
    a.stats->stable = true;
    d.PutMeasurement(a);
    db::MeasurementRow b = db::testing::SampleMeasurement(ip, cpu, "plain", "f32", 4);
    b.stats->stable = false;
    d.PutMeasurement(b);
    d.PutMeasurement(db::testing::SampleMeasurement(elt, cpu, "nchw", "f32", 4));  // stability unknown
    // What the sweep saw of its threads' placement, written when it finishes.
    d.FinishSweep(sweep, "completed", 3,
                  R"({"threads":2,"affinity":"0-1","cgroup":"no cpu limit","omp_num_threads":null,"onednn_threads":2,)"
                  R"("placement":{"probe":"core_to_core_ns","checks":900,"waits":2,"waited_s":1.5,"apart_passes":4,)"
                  R"("lowest_ns":31.0,"median_ns":40.0,"found_median_ns":42.0}})");
    d.Checkpoint();
  }
  db::Database d = db::Database::Open(path, db::Mode::kReadOnly);
  const std::string text = InfoText(d);
  EXPECT_NE(text.find("      threads' placement: a cache line between two threads in 42 ns as the passes found them "
                      "(fastest 31); 2 of 900 passes waited (1.5 s), 4 timed apart\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(InfoJson(d).at("sweeps").at(0).at("execution").at("placement").at("lowest_ns"), 31.0);
  EXPECT_NE(text.find("  stability: 1 of 3 ok points reached their target, 1 did not (their CI stayed wider), 1 "
                      "measured before it was recorded\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("3/0 points  cold cache\n"), std::string::npos) << text;
  EXPECT_NE(text.find("      threads: 2 (affinity 0-1, no cpu limit, OMP_NUM_THREADS unset, oneDNN 2)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("      calibration: compute 404 us, range 2.0% over 3 checks\n"), std::string::npos) << text;
  const auto j = InfoJson(d);
  EXPECT_EQ(j.at("measurements").at("stability").at("stable"), 1);
  EXPECT_EQ(j.at("measurements").at("stability").at("unstable"), 1);
  EXPECT_EQ(j.at("measurements").at("stability").at("unknown"), 1);
  EXPECT_EQ(j.at("sweeps").at(0).at("cache_mode"), "cold");
  EXPECT_EQ(j.at("sweeps").at(0).at("execution").at("threads"), 2);
  EXPECT_EQ(j.at("sweeps").at(0).at("calibration").at("compute").at("checks"), 3);
  EXPECT_NEAR(j.at("sweeps").at(0).at("calibration").at("compute").at("range").get<double>(), 8.0 / 404, 1e-12);
}

}  // namespace
}  // namespace layoutdb::reports
