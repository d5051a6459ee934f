// The database's hot paths, as the sweep and a deployed app use them:
// - PutMeasurement in its own transaction, as the sweep commits every point when it completes (WAL,
//   synchronous=NORMAL, real file in the temp directory);
// - the same without an explicit transaction (autocommit), and 100 points per transaction, to show
//   what the per-point commit costs;
// - opening a shipped (exported) file immutable and reading one unit's measurements.
// Run: build/bench/bench_db --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "layoutdb/db.h"

namespace {

namespace db = layoutdb::db;
namespace fs = std::filesystem;

// A fresh file per benchmark run, removed afterwards.
class TempDb {
 public:
  explicit TempDb(const std::string& name) {
    dir_ = fs::temp_directory_path() / ("layoutdb-bench-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / name).string();
    for (const char* s : {"", "-wal", "-shm"}) fs::remove(path_ + s);
  }
  ~TempDb() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  fs::path dir_;
  std::string path_;
};

struct Fixture {
  int64_t unit = 0;
  std::vector<int64_t> problems;
};

Fixture Populate(db::Database& d, int n_problems) {
  Fixture f;
  db::TargetRow t;
  t.fingerprint = "bench";
  t.hostname = "h";
  t.cpu_model = "cpu";
  t.isa = "avx512_core";
  t.cores = 2;
  t.threads = 2;
  t.os = "linux";
  const int64_t target = d.UpsertTarget(t);
  db::UnitRow u;
  u.target_id = target;
  u.name = "cpu";
  u.kind = "cpu";
  u.vendor = "v";
  u.device_name = "d";
  u.driver = "oneDNN";
  u.compute_units = 2;
  f.unit = d.UpsertUnit(u);
  db::Database::Transaction tx(d);
  for (int i = 0; i < n_problems; ++i) {
    f.problems.push_back(d.UpsertProblem(layoutdb::Problem::Parse(
        "conv2d:mb1ic" + std::to_string(16 + i) + "ih56iw56oc64kh3kw3sh1sw1ph1pw1g1")));
  }
  tx.Commit();
  return f;
}

// The i-th new point: every call stores a row that does not exist yet (as a sweep does).
db::MeasurementRow Point(const Fixture& f, int64_t i) {
  db::MeasurementRow m;
  m.problem_id = f.problems[static_cast<size_t>(i) % f.problems.size()];
  m.unit_id = f.unit;
  m.layout = "l" + std::to_string(i / static_cast<int64_t>(f.problems.size()));
  m.src_layout = m.layout;
  m.dst_layout = m.layout;
  m.dtype = "f32";
  m.status = "ok";
  m.impl = "brgconv:avx512_core";
  db::Stats s;
  s.median_us = 10 + static_cast<double>(i % 7);
  s.p10_us = s.median_us * 0.95;
  s.p90_us = s.median_us * 1.1;
  s.mean_us = s.median_us;
  s.min_us = s.p10_us;
  s.repetitions = 50;
  m.stats = s;
  return m;
}

void BM_PutMeasurementTransactionPerPoint(benchmark::State& state) {
  TempDb tmp("per_point.db");
  db::Database d = db::Database::Open(tmp.path(), db::Mode::kReadWrite);
  const Fixture f = Populate(d, 200);
  int64_t i = 0;
  for (auto _ : state) {
    db::Database::Transaction tx(d);
    d.PutMeasurement(Point(f, i++));
    tx.Commit();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutMeasurementTransactionPerPoint)->Unit(benchmark::kMicrosecond);

void BM_PutMeasurementAutocommit(benchmark::State& state) {
  TempDb tmp("autocommit.db");
  db::Database d = db::Database::Open(tmp.path(), db::Mode::kReadWrite);
  const Fixture f = Populate(d, 200);
  int64_t i = 0;
  for (auto _ : state) d.PutMeasurement(Point(f, i++));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutMeasurementAutocommit)->Unit(benchmark::kMicrosecond);

// 100 points per transaction; time per point.
void BM_PutMeasurementBatched100(benchmark::State& state) {
  TempDb tmp("batched.db");
  db::Database d = db::Database::Open(tmp.path(), db::Mode::kReadWrite);
  const Fixture f = Populate(d, 200);
  int64_t i = 0;
  for (auto _ : state) {
    db::Database::Transaction tx(d);
    for (int k = 0; k < 100; ++k) d.PutMeasurement(Point(f, i++));
    tx.Commit();
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_PutMeasurementBatched100)->Unit(benchmark::kMicrosecond);

// A deployed app: open the shipped file immutable and read one unit's measurements (2000 rows).
void BM_OpenImmutableAndReadUnit(benchmark::State& state) {
  TempDb tmp("source.db");
  int64_t unit = 0;
  {
    db::Database d = db::Database::Open(tmp.path(), db::Mode::kReadWrite);
    const Fixture f = Populate(d, 200);
    unit = f.unit;
    db::Database::Transaction tx(d);
    for (int64_t i = 0; i < 2000; ++i) d.PutMeasurement(Point(f, i));
    tx.Commit();
  }
  const std::string shipped = tmp.path() + ".app";
  db::Export(tmp.path(), shipped, {}, {});
  for (auto _ : state) {
    db::Database app = db::Database::Open(shipped, db::Mode::kImmutable);
    benchmark::DoNotOptimize(app.Measurements(unit).size());
  }
}
BENCHMARK(BM_OpenImmutableAndReadUnit)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
