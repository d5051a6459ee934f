// Schema 4 (how true a measurement is, and how it was taken): the columns and the view, what a row
// stores and reads back, calibrations, the checkpoint that tolerates readers, and merge keeping an
// `ok` row over a `failed` one.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "db_test_util.h"
#include "layoutdb/db.h"

namespace layoutdb::db {
namespace {

using testing::RawScalar;
using testing::TempDir;

std::vector<std::string> Columns(sqlite3* h, const std::string& table) {
  std::vector<std::string> out;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(h, fmt::format("PRAGMA table_info({})", table).c_str(), -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 1)));
  sqlite3_finalize(s);
  return out;
}

TEST(Truth, Schema4AddsColumnsAndKeepsTheViewsOldColumnsFirst) {
  TempDir dir;
  Database db = Database::Open(dir.File("t.db"), Mode::kReadWrite);
  ASSERT_GE(Database::LatestVersion(), 4);
  const std::vector<std::string> added = {"stable", "timer", "host_median_us", "host_p10_us", "host_p90_us",
                                          "cache_mode"};
  for (const char* table : {"measurements", "transitions", "transfers"}) {
    const auto cols = Columns(db.handle(), table);
    ASSERT_GE(cols.size(), added.size());
    EXPECT_EQ(std::vector<std::string>(cols.end() - added.size(), cols.end()), added) << table;
  }
  const auto sweeps = Columns(db.handle(), "sweeps");
  EXPECT_EQ(std::vector<std::string>(sweeps.end() - 2, sweeps.end()),
            (std::vector<std::string>{"cache_mode", "execution"}));
  const auto view = Columns(db.handle(), "measurement_view");
  const std::vector<std::string> v2 = {"id", "target", "unit", "unit_kind", "op", "problem", "flops", "bytes",
                                       "layout", "src_layout", "dst_layout", "dtype", "status", "reason", "impl",
                                       "is_reference", "chosen_layout", "median_us", "p10_us", "p90_us",
                                       "repetitions", "rel_ci", "gflops", "sweep_id", "measured_at"};
  ASSERT_EQ(view.size(), v2.size() + added.size());
  EXPECT_EQ(std::vector<std::string>(view.begin(), view.begin() + v2.size()), v2);
  EXPECT_EQ(std::vector<std::string>(view.begin() + v2.size(), view.end()), added);
  EXPECT_EQ(Columns(db.handle(), "calibrations"),
            (std::vector<std::string>{"id", "sweep_id", "kernel", "points_done", "median_us", "p10_us", "p90_us",
                                      "repetitions", "work", "measured_at"}));
}

Stats DeviceStats(double event_us, bool stable) {
  Stats s = testing::SampleStats(event_us);
  s.stable = stable;
  s.timer = "event";
  s.host_median_us = event_us + 12;
  s.host_p10_us = event_us + 10;
  s.host_p90_us = event_us + 20;
  s.cache_mode = "cold";
  return s;
}

void ExpectSameTruth(const std::optional<Stats>& got, const Stats& want) {
  ASSERT_TRUE(got);
  EXPECT_EQ(got->stable, want.stable);
  EXPECT_EQ(got->timer, want.timer);
  EXPECT_EQ(got->host_median_us, want.host_median_us);
  EXPECT_EQ(got->host_p10_us, want.host_p10_us);
  EXPECT_EQ(got->host_p90_us, want.host_p90_us);
  EXPECT_EQ(got->cache_mode, want.cache_mode);
  EXPECT_EQ(got->median_us, want.median_us);
}

TEST(Truth, RowsStoreAndReadBackStabilityTimerHostTimesAndCacheMode) {
  TempDir dir;
  Database db = Database::Open(dir.File("t.db"), Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
  const int64_t cpu = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
  const int64_t ocl = db.UpsertUnit(testing::SampleUnit(t, "ocl:0:0"));
  const int64_t p = db.UpsertProblem(Problem::Parse("matmul:mb1m64n64k64"));

  MeasurementRow m = testing::SampleMeasurement(p, ocl, "plain", "f32", 30);
  m.stats = DeviceStats(30, false);
  db.PutMeasurement(m);
  MeasurementRow old = testing::SampleMeasurement(p, cpu, "plain", "f32", 20);  // as before schema 4
  db.PutMeasurement(old);
  TransitionRow tr;
  tr.unit_id = ocl;
  tr.src_layout = "nchw";
  tr.dst_layout = "nhwc";
  tr.dtype = "f32";
  tr.shape = "mb1c8h8w8";
  tr.bytes = 2048;
  tr.status = "ok";
  tr.stats = DeviceStats(5, true);
  db.PutTransition(tr);
  TransferRow x;
  x.src_unit_id = cpu;
  x.dst_unit_id = ocl;
  x.method = "write";
  x.bytes = 4096;
  x.status = "ok";
  x.stats = DeviceStats(7, true);
  db.PutTransfer(x);

  const auto ms = db.Measurements();
  ASSERT_EQ(ms.size(), 2u);
  ExpectSameTruth(ms[0].stats, *m.stats);
  ASSERT_TRUE(ms[1].stats);
  EXPECT_FALSE(ms[1].stats->stable.has_value());  // unknown, not "unstable"
  EXPECT_EQ(ms[1].stats->timer, "");
  EXPECT_FALSE(ms[1].stats->host_median_us.has_value());
  ExpectSameTruth(db.Transitions().at(0).stats, *tr.stats);
  ExpectSameTruth(db.Transfers().at(0).stats, *x.stats);
  EXPECT_EQ(RawScalar(db.handle(), "SELECT stable || ' ' || timer || ' ' || host_median_us || ' ' || cache_mode "
                                   "FROM measurement_view WHERE unit = 'ocl:0:0'"),
            "0 event 42.0 cold");
  // The CHECK constraints hold the enumerations.
  EXPECT_NE(sqlite3_exec(db.handle(), "UPDATE measurements SET timer = 'wall'", nullptr, nullptr, nullptr), SQLITE_OK);
  EXPECT_NE(sqlite3_exec(db.handle(), "UPDATE measurements SET cache_mode = 'tepid'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  // Schema 6 widened them to the warm mode and schema 7 to the network mode, in every table that has
  // the column.
  for (const char* table : {"measurements", "transitions", "transfers", "sweeps", "visits"})
    EXPECT_EQ(RawScalar(db.handle(), fmt::format("SELECT instr(sql, 'cache_mode IN (''hot'', ''warm'', ''cold'', "
                                                 "''network'')') > 0 FROM sqlite_schema WHERE name = '{}'",
                                                 table)),
              "1")
        << table;
  for (const char* mode : {"warm", "network"})
    for (const char* table : {"measurements", "transitions", "transfers", "sweeps"})
      EXPECT_EQ(sqlite3_exec(db.handle(), fmt::format("UPDATE {} SET cache_mode = '{}'", table, mode).c_str(),
                             nullptr, nullptr, nullptr),
                SQLITE_OK)
          << table << ": " << sqlite3_errmsg(db.handle());
  EXPECT_EQ(RawScalar(db.handle(), "SELECT group_concat(DISTINCT cache_mode) FROM measurement_view"), "network");
  EXPECT_EQ(RawScalar(db.handle(), "SELECT group_concat(DISTINCT cache_mode) FROM transitions"), "network");
  EXPECT_EQ(db.IntegrityCheck(), "ok");
}

TEST(Truth, SweepsAndCalibrationsRoundTrip) {
  TempDir dir;
  Database db = Database::Open(dir.File("t.db"), Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
  SweepRow s;
  s.target_id = t;
  s.spec_name = "quick";
  s.spec = "{}";
  s.spec_hash = "h";
  s.status = "running";
  s.cache_mode = "cold";
  s.execution = R"({"threads":2})";
  const int64_t id = db.InsertSweep(s);
  EXPECT_EQ(db.Sweeps().at(0).cache_mode, "cold");
  EXPECT_EQ(db.Sweeps().at(0).execution, R"({"threads":2})");
  for (int i = 0; i < 3; ++i) {
    CalibrationRow c;
    c.sweep_id = id;
    c.kernel = i % 2 ? "memory" : "compute";
    c.points_done = i * 10;
    c.median_us = 100 + i;
    c.p10_us = 99;
    c.p90_us = 110;
    c.repetitions = 7;
    c.work = 8e6;
    db.PutCalibration(c);
  }
  const auto cs = db.Calibrations(id);
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[1].kernel, "memory");
  EXPECT_EQ(cs[2].points_done, 20);
  EXPECT_EQ(cs[2].median_us, 102);
  EXPECT_FALSE(cs[0].measured_at.empty());
  EXPECT_TRUE(db.Calibrations(id + 1).empty());
  CalibrationRow bad = cs[0];
  bad.kernel = "disk";
  try {
    db.PutCalibration(bad);
    FAIL() << "a kernel that is neither compute nor memory was stored";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("storing calibration disk of sweep 1"), std::string::npos) << e.what();
  }
}

TEST(Truth, CheckpointToleratesAReaderAndSaysTheFileStaysInWal) {
  TempDir dir;
  const std::string path = dir.File("t.db");
  Database db = Database::Open(path, Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
  db.UpsertUnit(testing::SampleUnit(t, "cpu"));
  {
    // A reader with the file open, as `layoutdb info` or a selector would be.
    Database reader = Database::Open(path, Mode::kReadOnly);
    EXPECT_EQ(reader.Units().size(), 1u);
    EXPECT_EQ(db.TryCheckpoint(),
              path + ": stays in WAL mode: another connection has the file open (every point is committed; "
                     "the next writer that finds the file alone makes it self-contained again)");
    EXPECT_EQ(RawScalar(db.handle(), "PRAGMA journal_mode"), "wal");
    // Writing goes on, and the reader sees what was committed.
    db.UpsertUnit(testing::SampleUnit(t, "ocl:0:0"));
    EXPECT_EQ(reader.Units().size(), 2u);
  }
  // Alone again: it leaves WAL, one self-contained file.
  EXPECT_EQ(db.TryCheckpoint(), "");
  EXPECT_EQ(RawScalar(db.handle(), "PRAGMA journal_mode"), "delete");
  EXPECT_EQ(db.Units().size(), 2u);
}

// One point of a file, measured at `when` with `status`.
void WritePoint(const std::string& path, const std::string& status, const std::string& when, double median) {
  Database db = Database::Open(path, Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
  const int64_t cpu = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
  const int64_t p = db.UpsertProblem(Problem::Parse("matmul:mb1m64n64k64"));
  MeasurementRow m = testing::SampleMeasurement(p, cpu, "plain", "f32", median);
  m.status = status;
  if (status != "ok") m.stats.reset(), m.reason = status + " here";
  m.measured_at = when;
  db.PutMeasurement(m);
  db.Checkpoint();
}

std::string MergedPoint(const std::string& out) {
  Database db = Database::Open(out, Mode::kReadOnly);
  const auto m = db.Measurements().at(0);
  return m.status + (m.stats ? fmt::format(" {}", m.stats->median_us) : "");
}

TEST(Truth, MergePrefersAnOkRowToAFailedOneThenTheLater) {
  TempDir dir;
  const std::string ok_early = dir.File("ok_early.db"), ok_late = dir.File("ok_late.db");
  const std::string failed_late = dir.File("failed_late.db"), unsupported = dir.File("unsupported.db");
  WritePoint(ok_early, "ok", "2026-11-24T10:00:00Z", 10);
  WritePoint(ok_late, "ok", "2026-11-24T12:00:00Z", 12);
  WritePoint(failed_late, "failed", "2026-11-24T13:00:00Z", 0);
  WritePoint(unsupported, "unsupported", "2026-11-24T11:00:00Z", 0);
  int n = 0;
  auto merge = [&](std::vector<std::string> inputs) {
    const std::string out = dir.File(fmt::format("out{}.db", n++));
    Merge(out, inputs);
    return MergedPoint(out);
  };
  // A later failure never replaces a good measurement, in either order.
  EXPECT_EQ(merge({ok_early, failed_late}), "ok 10");
  EXPECT_EQ(merge({failed_late, ok_early}), "ok 10");
  // Between two ok rows the later wins, whatever the order.
  EXPECT_EQ(merge({ok_late, ok_early}), "ok 12");
  EXPECT_EQ(merge({ok_early, ok_late, failed_late}), "ok 12");
  // A definite answer beats a failure; ok beats both.
  EXPECT_EQ(merge({unsupported, failed_late}), "unsupported");
  EXPECT_EQ(merge({failed_late, unsupported}), "unsupported");
  EXPECT_EQ(merge({unsupported, ok_early}), "ok 10");
}

TEST(Truth, MergeTakesSweepsCacheModeAndTheirCalibrationsOnce) {
  TempDir dir;
  const std::string in = dir.File("in.db"), out = dir.File("out.db");
  {
    Database db = Database::Open(in, Mode::kReadWrite);
    const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
    SweepRow s;
    s.target_id = t;
    s.spec_name = "quick";
    s.spec = "{}";
    s.spec_hash = "h";
    s.started_at = "2026-11-24T10:00:00Z";
    s.status = "completed";
    s.cache_mode = "hot";
    s.execution = R"({"threads":2})";
    const int64_t id = db.InsertSweep(s);
    CalibrationRow c;
    c.sweep_id = id;
    c.kernel = "compute";
    c.median_us = 400;
    c.repetitions = 7;
    c.work = 8e6;
    c.measured_at = "2026-11-24T10:00:01Z";
    db.PutCalibration(c);
    db.Checkpoint();
  }
  Merge(out, {in});
  Merge(out, {in});  // the same sweep merged again: nothing doubles
  Database db = Database::Open(out, Mode::kReadOnly);
  ASSERT_EQ(db.Sweeps().size(), 1u);
  EXPECT_EQ(db.Sweeps()[0].cache_mode, "hot");
  EXPECT_EQ(db.Sweeps()[0].execution, R"({"threads":2})");
  const auto cs = db.Calibrations();
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].sweep_id, db.Sweeps()[0].id);
  EXPECT_EQ(cs[0].median_us, 400);
}

// Schema 8: a model's own sub-graphs timed in its network. One row per (unit, model, nodes, layout,
// dtype): stored again, the row takes the new figure; merged (twice), it arrives once under the merged
// file's unit and sweep, the later figure winning.
TEST(Truth, NetworkTimesStoreReplaceAndMergeOnce) {
  TempDir dir;
  const std::string in = dir.File("in.db"), out = dir.File("out.db");
  {
    Database db = Database::Open(in, Mode::kReadWrite);
    const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
    const int64_t unit = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
    SweepRow s;
    s.target_id = t;
    s.spec_name = "network";
    s.spec = "{}";
    s.spec_hash = "h";
    s.started_at = "2026-12-01T10:00:00Z";
    s.status = "completed";
    s.cache_mode = "network";
    const int64_t id = db.InsertSweep(s);
    NetworkTimeRow r;
    r.sweep_id = id;
    r.unit_id = unit;
    r.model = "16fde8363a846d7c input:1,3,224,224";
    r.nodes = "3,4,5";
    r.layout = "nchw>nChw16c";
    r.dtype = "f32";
    r.median_us = 90;
    r.p10_us = 88;
    r.p90_us = 95;
    r.repetitions = 12;
    r.rel_ci = 0.03;
    r.measured_at = "2026-12-01T10:00:01Z";
    db.PutNetworkTime(r);
    r.median_us = 92;  // timed again: replaces
    r.measured_at = "2026-12-01T10:05:00Z";
    db.PutNetworkTime(r);
    r.nodes = "6";  // a view: nothing computed
    r.layout = "nChw16c";
    r.median_us = 0;
    db.PutNetworkTime(r);
    const auto rows = db.NetworkTimes(unit);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[0].nodes, "3,4,5");
    EXPECT_EQ(rows[0].layout, "nchw>nChw16c");
    EXPECT_EQ(rows[0].median_us, 92);
    EXPECT_EQ(rows[0].model, "16fde8363a846d7c input:1,3,224,224");
    EXPECT_EQ(rows[0].repetitions, 12);
    EXPECT_DOUBLE_EQ(rows[0].rel_ci, 0.03);
    EXPECT_EQ(rows[1].median_us, 0);
    EXPECT_TRUE(db.NetworkTimes(unit + 1).empty());
    r.median_us = -1;  // no time is negative
    EXPECT_THROW(db.PutNetworkTime(r), Error);
    db.Checkpoint();
  }
  Merge(out, {in});
  Merge(out, {in});
  Database db = Database::Open(out, Mode::kReadOnly);
  const auto rows = db.NetworkTimes();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].median_us, 92);
  EXPECT_EQ(rows[0].sweep_id, db.Sweeps().at(0).id);
  EXPECT_EQ(rows[0].unit_id, db.Units().at(0).id);
}

}  // namespace
}  // namespace layoutdb::db
