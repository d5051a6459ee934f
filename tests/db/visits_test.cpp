// Schema 5: the visits of a point — stored with every figure, read back while open, settled once the
// point's row is written, and replaced when a failed point is measured afresh.
#include <gtest/gtest.h>

#include <string>

#include "db_test_util.h"
#include "layoutdb/db.h"

namespace layoutdb::db {
namespace {

using testing::RawScalar;
using testing::TempDir;

int64_t Sweep(Database& db, int64_t target) {
  SweepRow s;
  s.target_id = target;
  s.spec_name = "quick";
  s.spec = "{}";
  s.spec_hash = "h";
  s.tool_version = "test";
  s.started_at = NowUtc();
  s.status = "running";
  return db.InsertSweep(s);
}

VisitRow Visit(int64_t sweep, const std::string& key, int64_t n, double median) {
  VisitRow v;
  v.sweep_id = sweep;
  v.kind = "measurement";
  v.key = key;
  v.visit = n;
  v.status = "ok";
  v.impl = "jit:avx2";
  v.chosen_layout = "nhwc";
  Stats s = testing::SampleStats(median);
  s.stable = true;
  s.timer = "host";
  s.cache_mode = "hot";
  v.stats = s;
  return v;
}

TEST(VisitRows, OpenVisitsOfATargetReadBackUntilSettled) {
  TempDir dir;
  Database db = Database::Open(dir.File("v.db"), Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
  const int64_t other = db.UpsertTarget(testing::SampleTarget("other"));
  const int64_t s1 = Sweep(db, t), s2 = Sweep(db, t), so = Sweep(db, other);
  db.PutVisit(Visit(s1, "1|1|nchw|f32", 1, 10));
  db.PutVisit(Visit(s2, "1|1|nchw|f32", 2, 12));  // a resumed sweep's visit
  db.PutVisit(Visit(s1, "1|1|nhwc|f32", 1, 20));
  db.PutVisit(Visit(so, "1|9|nchw|f32", 1, 30));  // another target's
  VisitRow bad;
  bad.sweep_id = s1;
  bad.kind = "transition";
  bad.key = "1|nchw|nhwc|f32|mb1c8h8w8";
  bad.visit = 1;
  bad.status = "failed";
  bad.reason = "device lost";
  db.PutVisit(bad);

  auto open = db.OpenVisits(t);
  ASSERT_EQ(open.size(), 4u);
  EXPECT_EQ(open[0].key, "1|1|nchw|f32");
  EXPECT_EQ(open[0].visit, 1);
  EXPECT_EQ(open[1].visit, 2);
  EXPECT_EQ(open[1].sweep_id, s2);
  ASSERT_TRUE(open[1].stats);
  EXPECT_EQ(open[1].stats->median_us, 12);
  EXPECT_EQ(open[1].stats->stable, true);
  EXPECT_EQ(open[1].stats->timer, "host");
  EXPECT_EQ(open[1].impl, "jit:avx2");
  EXPECT_EQ(open[1].chosen_layout, "nhwc");
  EXPECT_EQ(open[3].kind, "transition");
  EXPECT_EQ(open[3].status, "failed");
  EXPECT_EQ(open[3].reason, "device lost");
  EXPECT_FALSE(open[3].stats);

  db.SettleVisits("measurement", "1|1|nchw|f32");
  open = db.OpenVisits(t);
  ASSERT_EQ(open.size(), 2u);
  EXPECT_EQ(open[0].key, "1|1|nhwc|f32");
  // Settled visits stay for reading the spread between moments afterwards.
  EXPECT_EQ(RawScalar(db.handle(), "SELECT count(*) FROM visits WHERE settled = 1"), "2");

  // Measured afresh (a failed point retried): visit 1 replaced, not doubled.
  db.PutVisit(Visit(s2, "1|1|nchw|f32", 1, 11));
  EXPECT_EQ(RawScalar(db.handle(), "SELECT count(*) FROM visits WHERE key = '1|1|nchw|f32'"), "2");
  open = db.OpenVisits(t);
  ASSERT_EQ(open.size(), 3u);
  EXPECT_EQ(open[0].key, "1|1|nchw|f32");
  EXPECT_EQ(open[0].stats->median_us, 11);
}

// Every visit of a kind, settled or open, of every target: what a reader of a finished file compares
// (how far a stored row's visits agreed).
TEST(VisitRows, VisitsOfAKindReadBackSettledOrNot) {
  TempDir dir;
  Database db = Database::Open(dir.File("v.db"), Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
  const int64_t other = db.UpsertTarget(testing::SampleTarget("other"));
  const int64_t s = Sweep(db, t), so = Sweep(db, other);
  db.PutVisit(Visit(s, "1|1|nchw|f32", 2, 12));
  db.PutVisit(Visit(s, "1|1|nchw|f32", 1, 10));
  db.PutVisit(Visit(so, "1|9|nchw|f32", 1, 30));
  VisitRow tr = Visit(s, "1|nchw|nhwc|f32|mb1c8h8w8", 1, 5);
  tr.kind = "transition";
  db.PutVisit(tr);
  db.SettleVisits("measurement", "1|1|nchw|f32");

  const auto all = db.Visits("measurement");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].key, "1|1|nchw|f32");
  EXPECT_EQ(all[0].visit, 1);
  EXPECT_TRUE(all[0].settled);
  ASSERT_TRUE(all[1].stats);
  EXPECT_EQ(all[1].stats->median_us, 12);
  EXPECT_EQ(all[2].key, "1|9|nchw|f32");
  EXPECT_FALSE(all[2].settled);
  ASSERT_EQ(db.Visits("transition").size(), 1u);
  EXPECT_TRUE(db.Visits("transfer").empty());
}

TEST(VisitRows, BadVisitsAreRefusedWithOneLine) {
  TempDir dir;
  Database db = Database::Open(dir.File("v.db"), Mode::kReadWrite);
  const int64_t s = Sweep(db, db.UpsertTarget(testing::SampleTarget("fp")));
  VisitRow v = Visit(s, "k", 0, 1);  // visits count from 1
  try {
    db.PutVisit(v);
    FAIL() << "visit 0 was stored";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("storing visit 0 of measurement k"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace layoutdb::db
