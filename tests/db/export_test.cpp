// Export: the slim, read-only copy a deployed application ships.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "db_test_util.h"
#include "layoutdb/db.h"

namespace layoutdb::db {
namespace {

using testing::ReadBytes;
using testing::TempDir;

// A swept database: cpu and ocl units, f32 and bf16, ok and non-ok points, transitions and transfers
// in both dtypes, a sweep and a validation. Left in WAL mode with its log, as a sweep in progress.
void WriteSwept(Database& db) {
  const int64_t t = db.UpsertTarget(testing::SampleTarget("fp-a"));
  const int64_t cpu = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
  const int64_t ocl = db.UpsertUnit(testing::SampleUnit(t, "ocl:0:0"));
  SweepRow s;
  s.target_id = t;
  s.spec_name = "quick";
  s.status = "completed";
  const int64_t sweep = db.InsertSweep(s);
  for (const char* key : {"conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1", "matmul:mb12m128n128k64"}) {
    const int64_t p = db.UpsertProblem(Problem::Parse(key));
    for (int64_t unit : {cpu, ocl}) {
      for (const char* dtype : {"f32", "bf16"}) {
        MeasurementRow m = testing::SampleMeasurement(p, unit, "nchw", dtype, 12);
        m.sweep_id = sweep;
        db.PutMeasurement(m);
        MeasurementRow f = testing::SampleMeasurement(p, unit, "nhwc", dtype, 12);
        f.status = "failed";
        f.reason = "timeout";
        f.stats.reset();
        db.PutMeasurement(f);
      }
    }
  }
  // A problem measured only on OpenCL: not shipped with a cpu-only export.
  const int64_t only_ocl = db.UpsertProblem(Problem::Parse("ip:mb1ic2048oc1000"));
  db.PutMeasurement(testing::SampleMeasurement(only_ocl, ocl, "nchw", "f32", 3));
  for (int64_t unit : {cpu, ocl}) {
    for (const char* dtype : {"f32", "bf16"}) {
      TransitionRow tr;
      tr.unit_id = unit;
      tr.src_layout = "nchw";
      tr.dst_layout = "nhwc";
      tr.dtype = dtype;
      tr.shape = "mb1c64h56w56";
      tr.bytes = 64 * 56 * 56 * 4;
      tr.sweep_id = sweep;
      tr.status = "ok";
      tr.stats = testing::SampleStats(20);
      db.PutTransition(tr);
    }
  }
  TransferRow x;
  x.src_unit_id = cpu;
  x.dst_unit_id = ocl;
  x.method = "write";
  x.bytes = 1 << 20;
  x.status = "ok";
  x.stats = testing::SampleStats(80);
  db.PutTransfer(x);
  ValidationRow v;
  v.target_id = t;
  v.model = "m.onnx";
  v.model_hash = "h";
  v.plan = "{}";
  v.strategy = "plan";
  v.status = "ok";
  db.PutValidation(v);
}

TEST(Export, ChosenUnitsAndDtypesEveryPointNoSweeps) {
  TempDir dir;
  const std::string in = dir.File("layout.db"), out = dir.File("app.db");
  Database src = Database::Open(in, Mode::kReadWrite);
  WriteSwept(src);
  ASSERT_GT(std::filesystem::file_size(in + "-wal"), 0u);  // exported while its log is live

  const ExportSummary s = Export(in, out, {"cpu"}, {"f32"});
  EXPECT_EQ(s.units, 1);
  EXPECT_EQ(s.problems, 2);       // the ip problem has no cpu point
  EXPECT_EQ(s.measurements, 4);   // cpu, f32: an ok and a failed point of each problem
  EXPECT_EQ(s.transitions, 1);
  EXPECT_EQ(s.transfers, 0);      // its other end (ocl) is not shipped
  EXPECT_EQ(s.bytes, static_cast<int64_t>(std::filesystem::file_size(out)));
  EXPECT_FALSE(std::filesystem::exists(out + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(out + "-shm"));

  Database app = Database::Open(out, Mode::kImmutable);
  EXPECT_EQ(app.IntegrityCheck(), "ok");
  EXPECT_TRUE(app.Sweeps().empty());
  EXPECT_TRUE(app.Validations().empty());
  ASSERT_EQ(app.Units().size(), 1u);
  EXPECT_EQ(app.Units()[0].name, "cpu");
  EXPECT_EQ(app.Targets().size(), 1u);
  for (const auto& m : app.Measurements()) {
    EXPECT_EQ(m.stats.has_value(), m.status == "ok");
    EXPECT_EQ(m.dtype, "f32");
    EXPECT_FALSE(m.sweep_id);
    EXPECT_EQ(m.unit_id, app.Units()[0].id);
  }
  for (const auto& t : app.Transitions()) EXPECT_FALSE(t.sweep_id);
  // The same rows as the source for what was chosen, the failed ones with their reason: the selector
  // reads them to exclude a layout.
  const auto want = src.Measurements(app.Units()[0].id);
  const auto got = app.Measurements();
  auto key = [](const MeasurementRow& m) {
    return fmt::format("{}|{}|{}|{}|{}", m.problem_id, m.layout, m.status, m.reason,
                       m.stats ? m.stats->median_us : -1.0);
  };
  std::set<std::string> want_keys, got_keys;
  for (const auto& m : want)
    if (m.dtype == "f32") want_keys.insert(key(m));
  for (const auto& m : got) got_keys.insert(key(m));
  EXPECT_EQ(got_keys, want_keys);
}

TEST(Export, AllUnitsAndDtypesWhenNoneNamed) {
  TempDir dir;
  const std::string in = dir.File("layout.db"), out = dir.File("app.db");
  {
    Database src = Database::Open(in, Mode::kReadWrite);
    WriteSwept(src);
  }
  const ExportSummary s = Export(in, out, {}, {});
  EXPECT_EQ(s.units, 2);
  EXPECT_EQ(s.problems, 3);
  EXPECT_EQ(s.measurements, 17);  // 2 problems x 2 units x 2 dtypes, ok and failed, + the ip point
  EXPECT_EQ(s.transitions, 4);
  EXPECT_EQ(s.transfers, 1);
  Database app = Database::Open(out, Mode::kImmutable);
  EXPECT_EQ(app.SchemaVersion(), Database::LatestVersion());
}

TEST(Export, Refusals) {
  TempDir dir;
  const std::string in = dir.File("layout.db"), out = dir.File("app.db");
  {
    Database src = Database::Open(in, Mode::kReadWrite);
    WriteSwept(src);
  }
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(message([&] { Export(in, out, {"gpu"}, {}); }),
            in + ": no unit named 'gpu' (it has: cpu, ocl:0:0)");
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_EQ(message([&] { Export(in, out, {}, {"fp64"}); }),
            "unknown dtype 'fp64' (known: f32, bf16, f16, int8)");
  EXPECT_EQ(message([&] { Export(dir.File("none.db"), out, {}, {}); }),
            dir.File("none.db") + ": no such file");
  EXPECT_FALSE(std::filesystem::exists(out));

  testing::WriteBytes(out, "keep me");
  EXPECT_EQ(message([&] { Export(in, out, {}, {}); }),
            out + ": already exists; export writes a new file and overwrites none");
  EXPECT_EQ(ReadBytes(out), "keep me");
}

}  // namespace
}  // namespace layoutdb::db
