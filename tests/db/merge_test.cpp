// Merge: shard files and other targets' files folded into one.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <tuple>

#include "db_test_util.h"
#include "layoutdb/db.h"

namespace layoutdb::db {
namespace {

using testing::ReadBytes;
using testing::TempDir;

const char* kKeys[] = {
    "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1", "conv2d:mb1ic3ih224iw224oc64kh7kw7sh2sw2ph3pw3g1",
    "matmul:mb12m128n128k64", "ip:mb1ic2048oc1000", "binary:add:mb1c256h56w56", "bnorm:mb1c64h56w56"};
const char* kLayouts[] = {"nchw", "nhwc", "nChw8c", "nChw16c"};

// A point as a person names it, independent of row ids: (target, unit, problem key, layout, dtype).
using Point = std::tuple<std::string, std::string, std::string, std::string, std::string>;

std::map<Point, double> Points(Database& db) {
  std::map<int64_t, std::string> keys, fingerprints;
  std::map<int64_t, std::pair<int64_t, std::string>> units;
  for (const auto& p : db.Problems()) keys[p.id] = p.key;
  for (const auto& t : db.Targets()) fingerprints[t.id] = t.fingerprint;
  for (const auto& u : db.Units()) units[u.id] = {u.target_id, u.name};
  std::map<Point, double> out;
  for (const auto& m : db.Measurements()) {
    const auto& [target, unit] = units.at(m.unit_id);
    out[{fingerprints.at(target), unit, keys.at(m.problem_id), m.layout, m.dtype}] =
        m.stats ? m.stats->median_us : -1;
  }
  return out;
}

// A shard of a sweep of `fingerprint`: the points whose index i satisfies i % count == index.
void WriteShard(const std::string& path, const std::string& fingerprint, int index, int count,
                const std::string& measured_at = "2026-11-24T10:00:00Z", double offset = 0) {
  Database db = Database::Open(path, Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget(fingerprint));
  const int64_t cpu = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
  const int64_t ocl = db.UpsertUnit(testing::SampleUnit(t, "ocl:0:0"));
  SweepRow s;
  s.target_id = t;
  s.spec_name = "quick";
  s.spec = "{}";
  s.spec_hash = HashHex("{}");
  s.shard_index = index;
  s.shard_count = count;
  s.started_at = fmt::format("2026-11-24T0{}:00:00Z", index);
  s.status = "completed";
  const int64_t sweep = db.InsertSweep(s);
  int i = 0;
  for (const char* key : kKeys) {
    const Problem p = Problem::Parse(key);
    for (const char* layout : kLayouts) {
      if (i++ % count != index) continue;
      const int64_t pid = db.UpsertProblem(p);  // each shard stores only its own problems
      MeasurementRow m = testing::SampleMeasurement(pid, cpu, layout, "f32", 10 + i + offset);
      m.sweep_id = sweep;
      m.measured_at = measured_at;
      db.PutMeasurement(m);
    }
  }
  TransitionRow tr;
  tr.unit_id = cpu;
  tr.src_layout = "nchw";
  tr.dst_layout = "nhwc";
  tr.dtype = "f32";
  tr.shape = fmt::format("mb1c{}h56w56", 16 * (index + 1));
  tr.bytes = 16 * (index + 1) * 56 * 56 * 4;
  tr.sweep_id = sweep;
  tr.status = "ok";
  tr.stats = testing::SampleStats(3 + index);
  tr.measured_at = measured_at;
  db.PutTransition(tr);
  TransferRow x;
  x.src_unit_id = cpu;
  x.dst_unit_id = ocl;
  x.method = "write";
  x.bytes = 4096 << index;
  x.sweep_id = sweep;
  x.status = "ok";
  x.stats = testing::SampleStats(7);
  x.measured_at = measured_at;
  db.PutTransfer(x);
  db.Checkpoint();
}

TEST(Merge, ShardsOfOneTargetGiveTheUnion) {
  TempDir dir;
  const std::string a = dir.File("shard0.db"), b = dir.File("shard1.db"), c = dir.File("shard2.db");
  WriteShard(a, "fp-x", 0, 3);
  WriteShard(b, "fp-x", 1, 3);
  WriteShard(c, "fp-x", 2, 3);
  std::map<Point, double> want;
  for (const auto& f : {a, b, c}) {
    Database db = Database::Open(f, Mode::kReadOnly);
    const auto pts = Points(db);
    want.insert(pts.begin(), pts.end());
  }
  ASSERT_EQ(want.size(), std::size(kKeys) * std::size(kLayouts));  // disjoint shards

  const std::string out = dir.File("merged.db");
  const MergeSummary s = Merge(out, {a, b, c});
  EXPECT_EQ(s.files, 3);
  EXPECT_EQ(s.targets, 1);
  EXPECT_EQ(s.measurements, static_cast<int64_t>(want.size()));
  EXPECT_EQ(s.transitions, 3);
  EXPECT_EQ(s.transfers, 3);
  EXPECT_FALSE(std::filesystem::exists(out + "-wal"));

  Database db = Database::Open(out, Mode::kReadOnly);
  EXPECT_EQ(Points(db), want);
  EXPECT_EQ(db.Units().size(), 2u);
  EXPECT_EQ(db.Problems().size(), std::size(kKeys));
  const auto sweeps = db.Sweeps();
  ASSERT_EQ(sweeps.size(), 3u);
  // Every measurement points at its own shard's sweep in the merged file.
  std::map<int64_t, int64_t> shard_of_sweep;
  for (const auto& sw : sweeps) shard_of_sweep[sw.id] = sw.shard_index;
  std::map<int64_t, std::string> keys;
  for (const auto& p : db.Problems()) keys[p.id] = p.key;
  for (const auto& m : db.Measurements()) {
    ASSERT_TRUE(m.sweep_id);
    int i = 0, index = -1;
    for (const char* key : kKeys) {
      for (const char* layout : kLayouts) {
        if (keys[m.problem_id] == key && m.layout == layout) index = i % 3;
        ++i;
      }
    }
    EXPECT_EQ(shard_of_sweep.at(*m.sweep_id), index) << keys[m.problem_id] << " " << m.layout;
  }
  EXPECT_EQ(db.IntegrityCheck(), "ok");

  // Merging the same shard again changes nothing.
  const MergeSummary again = Merge(out, {b});
  EXPECT_EQ(again.measurements, s.measurements);
  Database db2 = Database::Open(out, Mode::kReadOnly);
  EXPECT_EQ(db2.Sweeps().size(), 3u);
  EXPECT_EQ(Points(db2), want);
}

TEST(Merge, DifferentTargetsStayApart) {
  TempDir dir;
  const std::string a = dir.File("machine-a.db"), b = dir.File("machine-b.db");
  WriteShard(a, "fp-a", 0, 1);
  WriteShard(b, "fp-b", 0, 1, "2026-11-24T10:00:00Z", 100);
  const std::string out = dir.File("both.db");
  const MergeSummary s = Merge(out, {a, b});
  EXPECT_EQ(s.targets, 2);
  const int64_t per_file = static_cast<int64_t>(std::size(kKeys) * std::size(kLayouts));
  EXPECT_EQ(s.measurements, 2 * per_file);
  EXPECT_EQ(s.transitions, 2);
  EXPECT_EQ(s.transfers, 2);

  Database db = Database::Open(out, Mode::kReadOnly);
  const auto targets = db.Targets();
  ASSERT_EQ(targets.size(), 2u);
  for (const auto& t : targets) {
    const auto units = db.Units(t.id);
    ASSERT_EQ(units.size(), 2u) << t.fingerprint;
    EXPECT_EQ(static_cast<int64_t>(db.Measurements(units[0].id).size()), per_file);
    EXPECT_EQ(db.DoneKeys(t.id).size(), static_cast<size_t>(per_file + 2));
  }
  // Problems are shared by key across targets.
  EXPECT_EQ(db.Problems().size(), std::size(kKeys));
  std::map<Point, double> want;
  for (const auto& f : {a, b}) {
    Database in = Database::Open(f, Mode::kReadOnly);
    const auto pts = Points(in);
    want.insert(pts.begin(), pts.end());
  }
  EXPECT_EQ(Points(db), want);
}

TEST(Merge, SamePointInTwoFilesKeepsTheLaterMeasurement) {
  TempDir dir;
  const std::string early = dir.File("early.db"), late = dir.File("late.db");
  WriteShard(early, "fp-x", 0, 1, "2026-11-24T10:00:00Z", 0);
  WriteShard(late, "fp-x", 0, 1, "2026-11-24T11:00:00Z", 500);
  std::map<Point, double> want;
  {
    Database db = Database::Open(late, Mode::kReadOnly);
    want = Points(db);
  }
  for (const auto& order : {std::vector<std::string>{early, late}, std::vector<std::string>{late, early}}) {
    const std::string out = dir.File(fmt::format("out-{}.db", order[0] == early ? "el" : "le"));
    Merge(out, order);
    Database db = Database::Open(out, Mode::kReadOnly);
    EXPECT_EQ(Points(db), want);
    for (const auto& t : db.Transitions()) EXPECT_EQ(t.measured_at, "2026-11-24T11:00:00Z");
  }
}

TEST(Merge, RefusesABadInputBeforeWritingAnything) {
  TempDir dir;
  const std::string good = dir.File("good.db"), bad = dir.File("bad.db");
  WriteShard(good, "fp-x", 0, 1);
  testing::RawExec(bad, "PRAGMA application_id = 1; CREATE TABLE t(x);");
  const std::string out = dir.File("out.db");
  try {
    Merge(out, {good, bad});
    ADD_FAILURE() << "merged a foreign file";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), bad + ": not a layoutdb database (SQLite application_id "
                                           "0x00000001; layoutdb's is 0x4c594442)");
  }
  EXPECT_FALSE(std::filesystem::exists(out));

  // Into an existing file: left byte for byte as it was.
  Merge(out, {good});
  const std::string before = ReadBytes(out);
  EXPECT_THROW(Merge(out, {dir.File("missing.db")}), Error);
  EXPECT_THROW(Merge(out, {out}), Error);
  EXPECT_EQ(ReadBytes(out), before);
}

TEST(Merge, MoreInputsThanSqliteAttachesAtOnce) {
  TempDir dir;
  std::vector<std::string> shards;
  const int n = 12;
  for (int i = 0; i < n; ++i) {
    shards.push_back(dir.File(fmt::format("s{}.db", i)));
    WriteShard(shards.back(), "fp-x", i, n);
  }
  const MergeSummary s = Merge(dir.File("all.db"), shards);
  EXPECT_EQ(s.files, n);
  EXPECT_EQ(s.measurements, static_cast<int64_t>(std::size(kKeys) * std::size(kLayouts)));
  EXPECT_EQ(s.transitions, n);
}

}  // namespace
}  // namespace layoutdb::db
