// The SQLite layer: identity, migrations, refusals, typed rows.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "db/sqlite.h"
#include "db_test_util.h"
#include "layoutdb/db.h"

namespace layoutdb::db {
namespace {

using testing::RawExec;
using testing::RawScalar;
using testing::ReadBytes;
using testing::TempDir;
using testing::WriteBytes;

// Every schema object's SQL, sorted: what "the same schema" means.
std::vector<std::string> SchemaSql(sqlite3* h) {
  std::vector<std::string> out;
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(h, "SELECT type || ' ' || name || ': ' || ifnull(sql, '') "
                                  "FROM sqlite_schema", -1, &s, nullptr),
            SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
  sqlite3_finalize(s);
  std::sort(out.begin(), out.end());
  return out;
}

// A file with only migration 001 applied, as a layoutdb of version 1 would have left it.
void CreateVersion1(const std::string& path) {
  const auto& files = schema::Embedded();
  ASSERT_GE(files.size(), 2u);
  ASSERT_EQ(files[0].first, "001_init.sql");
  RawExec(path, fmt::format("BEGIN; {} PRAGMA user_version = 1; PRAGMA application_id = {}; COMMIT;",
                            files[0].second, kApplicationId));
}

// A small database with one point of each kind, checkpointed to one file.
void CreateSample(const std::string& path) {
  Database db = Database::Open(path, Mode::kReadWrite);
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp-a"));
  const int64_t cpu = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
  for (const char* key : {"conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1", "matmul:mb12m128n128k64",
                          "ip:mb1ic2048oc1000", "binary:add:mb1c256h56w56"}) {
    const int64_t p = db.UpsertProblem(Problem::Parse(key));
    for (const char* layout : {"nchw", "nhwc", "nChw16c"}) {
      db.PutMeasurement(testing::SampleMeasurement(p, cpu, layout, "f32", 10.0 + p));
    }
  }
  db.Checkpoint();
}

TEST(Open, FreshFileCarriesIdentityAndLatestSchema) {
  TempDir dir;
  const std::string path = dir.File("fresh.db");
  Database db = Database::Open(path, Mode::kReadWrite);
  EXPECT_EQ(db.SchemaVersion(), Database::LatestVersion());
  EXPECT_EQ(Database::LatestVersion(), static_cast<int>(schema::Embedded().size()));
  EXPECT_EQ(RawScalar(db.handle(), "PRAGMA application_id"), std::to_string(kApplicationId));
  EXPECT_EQ(RawScalar(db.handle(), "PRAGMA user_version"), std::to_string(Database::LatestVersion()));
  EXPECT_EQ(RawScalar(db.handle(), "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawScalar(db.handle(), "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(db.IntegrityCheck(), "ok");
}

TEST(Open, EmptyFileIsAFreshDatabase) {
  TempDir dir;
  const std::string path = dir.File("empty.db");
  WriteBytes(path, "");
  Database db = Database::Open(path, Mode::kReadWrite);
  EXPECT_EQ(db.SchemaVersion(), Database::LatestVersion());
}

TEST(Migrate, Version1FileMigratedEqualsFreshFile) {
  TempDir dir;
  const std::string old_path = dir.File("v1.db");
  CreateVersion1(old_path);
  // A row stored at version 1 survives the migration and shows in the view 002 adds.
  RawExec(old_path,
          "INSERT INTO targets VALUES (1, 'fp', 'h', 'cpu', 'avx2', 2, 2, '{}', 'os', '{}', 't');"
          "INSERT INTO units VALUES (1, 1, 'cpu', 'cpu', 'v', 'd', 'drv', 2, NULL, NULL, NULL, '{}');"
          "INSERT INTO problems VALUES (1, 'ip:mb1ic2048oc1000', '" +
              HashHex("ip:mb1ic2048oc1000") +
              "', 'ip', '{}', 1, 1);"
              "INSERT INTO measurements(problem_id, unit_id, layout, src_layout, dst_layout, dtype, "
              "status, median_us, repetitions, measured_at) VALUES (1, 1, 'nchw', 'nchw', 'nchw', "
              "'f32', 'ok', 5.0, 10, 't');");
  const std::string fresh_path = dir.File("fresh.db");
  Database fresh = Database::Open(fresh_path, Mode::kReadWrite);
  Database migrated = Database::Open(old_path, Mode::kReadWrite);
  EXPECT_EQ(migrated.SchemaVersion(), Database::LatestVersion());
  EXPECT_EQ(SchemaSql(migrated.handle()), SchemaSql(fresh.handle()));
  EXPECT_EQ(RawScalar(migrated.handle(), "PRAGMA user_version"),
            RawScalar(fresh.handle(), "PRAGMA user_version"));
  EXPECT_EQ(RawScalar(migrated.handle(), "SELECT problem || ' ' || unit || ' ' || target "
                                         "FROM measurement_view"),
            "ip:mb1ic2048oc1000 cpu fp");
  EXPECT_EQ(migrated.IntegrityCheck(), "ok");
  // Migrations 006 and 007 edit the tables' text in place: the migrated file takes the warm and network
  // modes, refuses others, and a second connection (which read the schema afresh) sees the same.
  RawExec(old_path, "UPDATE measurements SET cache_mode = 'warm'");
  EXPECT_EQ(RawScalar(migrated.handle(), "SELECT cache_mode FROM measurements"), "warm");
  RawExec(old_path, "UPDATE measurements SET cache_mode = 'network'");
  EXPECT_EQ(RawScalar(migrated.handle(), "SELECT cache_mode FROM measurements"), "network");
  EXPECT_NE(sqlite3_exec(migrated.handle(), "UPDATE measurements SET cache_mode = 'lukewarm'", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
}

// ---- refusals: exact text, and the file left as it was ----

struct Refusal {
  std::string message;
  std::string before, after;
};

Refusal Refuse(const std::string& path, Mode mode) {
  Refusal r;
  r.before = ReadBytes(path);
  try {
    Database::Open(path, mode);
    r.message = "<opened>";
  } catch (const Error& e) {
    r.message = e.what();
  }
  r.after = ReadBytes(path);
  return r;
}

const Mode kAllModes[] = {Mode::kReadWrite, Mode::kReadOnly, Mode::kImmutable};

TEST(Refuse, MissingFileInReadOnlyModesWithoutCreatingIt) {
  TempDir dir;
  const std::string path = dir.File("missing.db");
  for (Mode mode : {Mode::kReadOnly, Mode::kImmutable}) {
    EXPECT_EQ(Refuse(path, mode).message, path + ": no such file");
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

TEST(Refuse, TextFile) {
  TempDir dir;
  const std::string path = dir.File("notes.txt");
  WriteBytes(path, "measurements:\n  conv2d 12.5 us\n");
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message, path + ": file is not a database (not an SQLite file)");
    EXPECT_EQ(r.after, r.before);
  }
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST(Refuse, RandomBytes) {
  TempDir dir;
  const std::string path = dir.File("random.db");
  std::string bytes(8192, '\0');
  uint32_t x = 12345;
  for (char& c : bytes) c = static_cast<char>((x = x * 1664525u + 1013904223u) >> 24);
  WriteBytes(path, bytes);
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message, path + ": file is not a database (not an SQLite file)");
    EXPECT_EQ(r.after, bytes);
  }
}

TEST(Refuse, SqliteHeaderOverGarbageIsNotADatabase) {
  // A file that starts like SQLite but whose header is nonsense: SQLite itself says what it is.
  TempDir dir;
  const std::string path = dir.File("fake.db");
  std::string bytes = std::string("SQLite format 3") + '\0' + std::string(4096 - 16, '\x7f');
  WriteBytes(path, bytes);
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message, path + ": file is not a database");
    EXPECT_EQ(r.after, bytes);
  }
}

TEST(Refuse, TruncatedLayoutdbFile) {
  TempDir dir;
  const std::string path = dir.File("cut.db");
  CreateSample(path);
  const std::string whole = ReadBytes(path);
  ASSERT_GT(whole.size(), 3 * 4096u);
  const std::string half = whole.substr(0, whole.size() / 2);
  WriteBytes(path, half);
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message,
              fmt::format("{}: database disk image is malformed: truncated ({} of {} bytes)", path,
                          half.size(), whole.size()));
    EXPECT_EQ(r.after, half);
  }
  // Cut inside the 100-byte header.
  WriteBytes(path, whole.substr(0, 50));
  EXPECT_EQ(Refuse(path, Mode::kReadWrite).message,
            path + ": database disk image is malformed: truncated to 50 bytes");
}

TEST(Refuse, ForeignApplicationId) {
  TempDir dir;
  const std::string path = dir.File("foreign.db");
  RawExec(path, "PRAGMA application_id = 305419896; CREATE TABLE t(x);");
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message, path + ": not a layoutdb database (SQLite application_id 0x12345678; "
                                "layoutdb's is 0x4c594442)");
    EXPECT_EQ(r.after, r.before);
  }
}

TEST(Refuse, OtherApplicationsTablesWithoutId) {
  TempDir dir;
  const std::string path = dir.File("places.sqlite");
  RawExec(path, "CREATE TABLE moz_places(id INTEGER PRIMARY KEY, url TEXT); "
                "CREATE INDEX moz_url ON moz_places(url);");
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message, path + ": not a layoutdb database (an SQLite file of another application: "
                                "2 schema objects and no layoutdb application_id)");
    EXPECT_EQ(r.after, r.before);
  }
}

TEST(Refuse, NewerSchemaVersion) {
  TempDir dir;
  const std::string path = dir.File("future.db");
  CreateSample(path);
  const int future = Database::LatestVersion() + 1;
  RawExec(path, fmt::format("PRAGMA user_version = {}", future));
  for (Mode mode : kAllModes) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message, fmt::format("{}: schema version {}, newer than this layoutdb ({}): upgrade "
                                     "layoutdb",
                                     path, future, Database::LatestVersion()));
    EXPECT_EQ(r.after, r.before);
  }
}

TEST(Refuse, OlderSchemaVersionReadOnly) {
  TempDir dir;
  const std::string path = dir.File("old.db");
  CreateVersion1(path);
  for (Mode mode : {Mode::kReadOnly, Mode::kImmutable}) {
    const Refusal r = Refuse(path, mode);
    EXPECT_EQ(r.message,
              fmt::format("{0}: schema version 1, older than this layoutdb ({1}), and opened "
                          "read-only: migrate it once with `layoutdb merge --out {0}`",
                          path, Database::LatestVersion()));
    EXPECT_EQ(r.after, r.before);
  }
}

TEST(Refuse, EmptyFileReadOnly) {
  TempDir dir;
  const std::string path = dir.File("empty.db");
  WriteBytes(path, "");
  EXPECT_EQ(Refuse(path, Mode::kReadOnly).message, path + ": empty file, not yet a layoutdb database");
  EXPECT_EQ(ReadBytes(path), "");
}

// ---- rows ----

class Rows : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<Database>(Database::Open(dir_.File("rows.db"), Mode::kReadWrite));
    target_ = db_->UpsertTarget(testing::SampleTarget("fp-a"));
    cpu_ = db_->UpsertUnit(testing::SampleUnit(target_, "cpu"));
    ocl_ = db_->UpsertUnit(testing::SampleUnit(target_, "ocl:0:0"));
  }
  TempDir dir_;
  std::unique_ptr<Database> db_;
  int64_t target_ = 0, cpu_ = 0, ocl_ = 0;
};

TEST_F(Rows, TargetAndUnitRoundTripAndUpsert) {
  const TargetRow want = testing::SampleTarget("fp-a");
  const auto got = db_->TargetByFingerprint("fp-a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, target_);
  EXPECT_EQ(got->cpu_model, want.cpu_model);
  EXPECT_EQ(got->isa, want.isa);
  EXPECT_EQ(got->caches, want.caches);
  EXPECT_EQ(got->libraries, want.libraries);
  EXPECT_FALSE(got->created_at.empty());
  EXPECT_FALSE(db_->TargetByFingerprint("fp-b"));

  TargetRow again = want;
  again.hostname = "renamed";
  EXPECT_EQ(db_->UpsertTarget(again), target_);
  ASSERT_EQ(db_->Targets().size(), 1u);
  EXPECT_EQ(db_->Targets()[0].hostname, "renamed");

  const auto units = db_->Units(target_);
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[1].name, "ocl:0:0");
  EXPECT_EQ(units[1].kind, "opencl");
  EXPECT_EQ(units[1].driver, "PoCL 3.1");
  EXPECT_EQ(units[1].global_mem, int64_t{24} << 30);
  EXPECT_EQ(units[1].properties, R"({"fp16":false})");
  EXPECT_EQ(db_->UpsertUnit(testing::SampleUnit(target_, "cpu")), cpu_);
  EXPECT_EQ(db_->Units().size(), 2u);
  EXPECT_TRUE(db_->Units(target_ + 1).empty());
}

// A file holding two machines is planned for the one added last; a target without units yet (a
// sweep that stopped before listing its devices) does not count, and a file without units has none.
TEST(PlannedTarget, TheMostRecentlyAddedTargetWithUnits) {
  TempDir dir;
  Database d = Database::Open(dir.File("two.db"), Mode::kReadWrite);
  EXPECT_EQ(d.PlannedTargetId(), 0);
  const int64_t a = d.UpsertTarget(testing::SampleTarget("fp-a"));
  EXPECT_EQ(d.PlannedTargetId(), 0);
  d.UpsertUnit(testing::SampleUnit(a, "cpu"));
  EXPECT_EQ(d.PlannedTargetId(), a);
  const int64_t b = d.UpsertTarget(testing::SampleTarget("fp-b"));
  EXPECT_EQ(d.PlannedTargetId(), a);
  d.UpsertUnit(testing::SampleUnit(b, "cpu"));
  EXPECT_EQ(d.PlannedTargetId(), b);
}

TEST_F(Rows, SweepLifecycle) {
  SweepRow s;
  s.target_id = target_;
  s.spec_name = "quick";
  s.spec = R"({"name":"quick"})";
  s.spec_hash = HashHex(s.spec);
  s.shard_index = 1;
  s.shard_count = 4;
  s.tool_version = "0.1.0";
  s.status = "running";
  s.points_total = 100;
  s.execution = R"({"threads":2})";
  const int64_t id = db_->InsertSweep(s);
  db_->SetSweepProgress(id, 40);
  EXPECT_EQ(db_->Sweeps().at(0).points_done, 40);
  EXPECT_TRUE(db_->Sweeps().at(0).ended_at.empty());
  db_->FinishSweep(id, "completed", 100);
  const SweepRow got = db_->Sweeps().at(0);
  EXPECT_EQ(got.status, "completed");
  EXPECT_EQ(got.points_done, 100);
  EXPECT_EQ(got.shard_index, 1);
  EXPECT_EQ(got.shard_count, 4);
  EXPECT_EQ(got.spec_hash, s.spec_hash);
  EXPECT_FALSE(got.ended_at.empty());
  EXPECT_EQ(got.execution, s.execution);  // kept unless the finish gives one
  db_->FinishSweep(id, "completed", 100, R"({"threads":2,"placement":{"lowest_ns":31}})");
  EXPECT_EQ(db_->Sweeps().at(0).execution, R"({"threads":2,"placement":{"lowest_ns":31}})");
  EXPECT_THROW(db_->FinishSweep(id + 1, "completed", 1), Error);
  EXPECT_THROW(db_->FinishSweep(id, "bogus", 1), Error);  // CHECK constraint
}

TEST_F(Rows, ProblemStoresKeyHashOpParamsFlopsBytes) {
  const Problem p = Problem::Parse("pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1");
  const int64_t id = db_->UpsertProblem(p);
  EXPECT_EQ(db_->UpsertProblem(p), id);
  const auto row = db_->ProblemByKey(p.Key());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->id, id);
  EXPECT_EQ(row->key_hash, HashHex(p.Key()));
  EXPECT_EQ(row->op, "pool");
  EXPECT_DOUBLE_EQ(row->flops, p.Flops());
  EXPECT_DOUBLE_EQ(row->bytes, p.Bytes(4));
  const auto params = nlohmann::json::parse(row->params);
  EXPECT_EQ(params.at("alg"), "max");
  EXPECT_EQ(params.at("ic"), 64);
  EXPECT_EQ(params.at("kh"), 3);
  db_->UpsertProblem(Problem::Parse("matmul:mb12m128n128k64"));
  EXPECT_EQ(db_->Problems().size(), 2u);
  EXPECT_EQ(db_->Problems("matmul").size(), 1u);
  EXPECT_FALSE(db_->ProblemByKey("ip:mb1ic1oc1"));
}

TEST_F(Rows, TamperedKeyHashIsRefusedNamingTheKey) {
  const std::string key = "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1";
  db_->UpsertProblem(Problem::Parse(key));
  // Someone edits the key by hand (kernel 3x3 becomes 5x5) but not its hash.
  const std::string edited = "conv2d:mb1ic64ih56iw56oc64kh5kw5sh1sw1ph1pw1g1";
  RawExec(db_->path(), "UPDATE problems SET key = '" + edited + "'");
  const std::string want = fmt::format("{}: problem 1 '{}': stored key_hash {} does not match its "
                                       "key ({}): the row was altered",
                                       db_->path(), edited, HashHex(key), HashHex(edited));
  try {
    db_->Problems();
    ADD_FAILURE() << "Problems() accepted a tampered row";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), want);
  }
  try {
    db_->ProblemByKey(edited);
    ADD_FAILURE() << "ProblemByKey() accepted a tampered row";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), want);
  }
}

TEST_F(Rows, MeasurementRoundTripAndPutTwiceKeepsOneRow) {
  const int64_t p = db_->UpsertProblem(Problem::Parse("conv2d:mb1ic3ih224iw224oc64kh7kw7sh2sw2ph3pw3g1"));
  SweepRow s;
  s.target_id = target_;
  s.spec_name = "quick";
  s.status = "running";
  const int64_t sweep = db_->InsertSweep(s);
  MeasurementRow m = testing::SampleMeasurement(p, cpu_, "nchw>nChw16c", "f32", 120.5);
  m.sweep_id = sweep;
  m.impl = "ref:any";
  m.is_reference = true;
  m.config = R"({"wg":[8,8]})";
  db_->PutMeasurement(m);
  auto rows = db_->Measurements();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].layout, "nchw>nChw16c");
  EXPECT_EQ(rows[0].src_layout, "nchw");
  EXPECT_EQ(rows[0].dst_layout, "nChw16c");
  EXPECT_EQ(rows[0].sweep_id, sweep);
  EXPECT_TRUE(rows[0].is_reference);
  EXPECT_EQ(rows[0].impl, "ref:any");
  EXPECT_EQ(rows[0].config, m.config);
  EXPECT_TRUE(rows[0].reason.empty());
  EXPECT_FALSE(rows[0].measured_at.empty());
  ASSERT_TRUE(rows[0].stats);
  EXPECT_DOUBLE_EQ(rows[0].stats->median_us, 120.5);
  EXPECT_DOUBLE_EQ(rows[0].stats->p90_us, m.stats->p90_us);
  EXPECT_EQ(rows[0].stats->repetitions, 41);
  EXPECT_DOUBLE_EQ(rows[0].stats->rel_ci, 0.012);

  // Measured again: same key, new values, still one row.
  m.stats = testing::SampleStats(99.0);
  m.is_reference = false;
  m.impl = "brgconv:avx512_core";
  m.measured_at = "2030-01-01T00:00:00Z";
  db_->PutMeasurement(m);
  rows = db_->Measurements();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].stats->median_us, 99.0);
  EXPECT_FALSE(rows[0].is_reference);
  EXPECT_EQ(rows[0].measured_at, "2030-01-01T00:00:00Z");

  // A point that could not run has no statistics.
  MeasurementRow u = testing::SampleMeasurement(p, cpu_, "nhwc", "int8", 0);
  u.status = "unsupported";
  u.reason = "no int8 convolution for this shape";
  u.stats.reset();
  db_->PutMeasurement(u);
  rows = db_->Measurements(cpu_, "conv2d");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[1].stats);
  EXPECT_EQ(rows[1].reason, u.reason);
  EXPECT_TRUE(db_->Measurements(ocl_).empty());
  EXPECT_TRUE(db_->Measurements(std::nullopt, "matmul").empty());

  // The schema's CHECK: an ok point needs statistics.
  u.status = "ok";
  EXPECT_THROW(db_->PutMeasurement(u), Error);
}

TEST_F(Rows, TransitionTransferValidationRoundTrip) {
  TransitionRow t;
  t.unit_id = cpu_;
  t.src_layout = "nchw";
  t.dst_layout = "nChw16c";
  t.dtype = "f32";
  t.shape = "mb1c64h56w56";
  t.bytes = 64 * 56 * 56 * 4;
  t.status = "ok";
  t.impl = "jit:uni";
  t.stats = testing::SampleStats(30);
  db_->PutTransition(t);
  t.stats = testing::SampleStats(25);
  db_->PutTransition(t);
  auto ts = db_->Transitions(cpu_);
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].shape, t.shape);
  EXPECT_EQ(ts[0].bytes, t.bytes);
  EXPECT_EQ(ts[0].impl, "jit:uni");
  EXPECT_DOUBLE_EQ(ts[0].stats->median_us, 25);
  EXPECT_TRUE(db_->Transitions(ocl_).empty());

  TransferRow x;
  x.src_unit_id = cpu_;
  x.dst_unit_id = ocl_;
  x.method = "write";
  x.bytes = 1 << 20;
  x.status = "ok";
  x.stats = testing::SampleStats(80);
  db_->PutTransfer(x);
  db_->PutTransfer(x);
  auto xs = db_->Transfers();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].src_unit_id, cpu_);
  EXPECT_EQ(xs[0].dst_unit_id, ocl_);
  EXPECT_EQ(xs[0].method, "write");
  EXPECT_DOUBLE_EQ(xs[0].stats->median_us, 80);
  x.method = "teleport";
  EXPECT_THROW(db_->PutTransfer(x), Error);

  ValidationRow v;
  v.target_id = target_;
  v.model = "mobilenetv2.onnx";
  v.model_hash = HashHex("model");
  v.plan = "{}";
  v.strategy = "plan";
  v.predicted_us = 1500;
  v.measured_us = 1620;
  v.repetitions = 20;
  v.status = "ok";
  db_->PutValidation(v);
  auto vs = db_->Validations();
  ASSERT_EQ(vs.size(), 1u);
  EXPECT_EQ(vs[0].measured_us, 1620);
  EXPECT_FALSE(vs[0].p10_us);
  EXPECT_EQ(vs[0].repetitions, 20);
}

TEST_F(Rows, ForeignKeysAreEnforced) {
  EXPECT_THROW(db_->PutMeasurement(testing::SampleMeasurement(999, cpu_, "nchw", "f32", 1)), Error);
}

TEST_F(Rows, DoneKeysSkipFailedPointsAndOtherTargets) {
  const int64_t p = db_->UpsertProblem(Problem::Parse("ip:mb1ic2048oc1000"));
  db_->PutMeasurement(testing::SampleMeasurement(p, cpu_, "nchw", "f32", 5));
  MeasurementRow failed = testing::SampleMeasurement(p, cpu_, "nhwc", "f32", 5);
  failed.status = "failed";
  failed.reason = "check: max abs error 3.2 at dst[17]";
  failed.stats.reset();
  db_->PutMeasurement(failed);
  MeasurementRow unsupported = testing::SampleMeasurement(p, cpu_, "nhwc", "bf16", 5);
  unsupported.status = "unsupported";
  unsupported.stats.reset();
  db_->PutMeasurement(unsupported);
  TransitionRow t;
  t.unit_id = cpu_;
  t.src_layout = "nchw";
  t.dst_layout = "nhwc";
  t.dtype = "f32";
  t.shape = "mb1c8h8w8";
  t.bytes = 2048;
  t.status = "ok";
  t.stats = testing::SampleStats(1);
  db_->PutTransition(t);
  TransferRow x;
  x.src_unit_id = ocl_;
  x.dst_unit_id = cpu_;
  x.method = "read";
  x.bytes = 4096;
  x.status = "ok";
  x.stats = testing::SampleStats(3);
  db_->PutTransfer(x);
  // Another target's points are not this target's.
  const int64_t other = db_->UpsertTarget(testing::SampleTarget("fp-b"));
  const int64_t other_cpu = db_->UpsertUnit(testing::SampleUnit(other, "cpu"));
  db_->PutMeasurement(testing::SampleMeasurement(p, other_cpu, "nchw", "f32", 5));

  const auto keys = db_->DoneKeys(target_);
  const std::set<std::string> got(keys.begin(), keys.end());
  const std::set<std::string> want = {
      fmt::format("{}|{}|nchw|f32", p, cpu_), fmt::format("{}|{}|nhwc|bf16", p, cpu_),
      fmt::format("{}|nchw|nhwc|f32|mb1c8h8w8", cpu_), fmt::format("{}|{}|read|4096", ocl_, cpu_)};
  EXPECT_EQ(got, want);
  EXPECT_EQ(keys.size(), want.size());
  EXPECT_EQ(db_->DoneKeys(other), std::vector<std::string>{fmt::format("{}|{}|nchw|f32", p, other_cpu)});
}

TEST_F(Rows, TransactionRollsBackUnlessCommitted) {
  const int64_t p = db_->UpsertProblem(Problem::Parse("ip:mb1ic2048oc1000"));
  {
    Database::Transaction tx(*db_);
    db_->PutMeasurement(testing::SampleMeasurement(p, cpu_, "nchw", "f32", 5));
  }
  EXPECT_TRUE(db_->Measurements().empty());
  {
    Database::Transaction tx(*db_);
    db_->PutMeasurement(testing::SampleMeasurement(p, cpu_, "nchw", "f32", 5));
    tx.Commit();
  }
  EXPECT_EQ(db_->Measurements().size(), 1u);
}

TEST_F(Rows, CountsPerOpUnitLayoutStatus) {
  const int64_t conv = db_->UpsertProblem(Problem::Parse("conv2d:mb1ic3ih32iw32oc16kh3kw3sh1sw1ph1pw1g1"));
  const int64_t conv2 = db_->UpsertProblem(Problem::Parse("conv2d:mb1ic16ih32iw32oc16kh3kw3sh1sw1ph1pw1g1"));
  MeasurementRow ref = testing::SampleMeasurement(conv, cpu_, "nChw16c", "f32", 500);
  ref.is_reference = true;
  db_->PutMeasurement(ref);
  db_->PutMeasurement(testing::SampleMeasurement(conv2, cpu_, "nChw16c", "f32", 5));
  db_->PutMeasurement(testing::SampleMeasurement(conv, ocl_, "nchw", "f32", 9));
  const auto counts = db_->MeasurementCounts();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0].unit, "cpu");
  EXPECT_EQ(counts[0].op, "conv2d");
  EXPECT_EQ(counts[0].layout, "nChw16c");
  EXPECT_EQ(counts[0].status, "ok");
  EXPECT_EQ(counts[0].count, 2);
  EXPECT_EQ(counts[0].references, 1);
  EXPECT_EQ(counts[0].target_id, target_);
  EXPECT_EQ(counts[1].unit, "ocl:0:0");
  EXPECT_EQ(counts[1].references, 0);
  const auto totals = db_->CountRows();
  EXPECT_EQ(totals.measurements, 3);
  EXPECT_EQ(totals.problems, 2);
  EXPECT_EQ(totals.units, 2);
}

TEST(Checkpoint, LeavesOneSelfContainedFile) {
  TempDir dir;
  const std::string path = dir.File("sweep.db");
  CreateSample(path);  // checkpoints, then closes
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(path + "-shm"));
  Database db = Database::Open(path, Mode::kImmutable);
  EXPECT_EQ(RawScalar(db.handle(), "PRAGMA journal_mode"), "delete");
  EXPECT_EQ(db.Measurements().size(), 12u);
  EXPECT_EQ(db.IntegrityCheck(), "ok");
  EXPECT_THROW(db.Checkpoint(), Error);
  EXPECT_THROW(db.UpsertProblem(Problem::Parse("ip:mb1ic1oc1")), Error);  // read-only
}

TEST(Checkpoint, ImmutableRefusesAFileWithAPendingLog) {
  TempDir dir;
  const std::string path = dir.File("live.db");
  Database writer = Database::Open(path, Mode::kReadWrite);
  writer.UpsertTarget(testing::SampleTarget("fp"));
  ASSERT_GT(std::filesystem::file_size(path + "-wal"), 0u);
  try {
    Database::Open(path, Mode::kImmutable);
    ADD_FAILURE() << "opened immutable";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), fmt::format("{0}: has an unfinished write-ahead log ({0}-wal); "
                                                 "open it read-only, not immutable",
                                                 path));
  }
  // Read-only sees the committed rows in the log.
  Database reader = Database::Open(path, Mode::kReadOnly);
  EXPECT_EQ(reader.Targets().size(), 1u);
}

}  // namespace
}  // namespace layoutdb::db
