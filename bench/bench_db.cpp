// The database's hot paths, as the sweep and a deployed app use them:
// - PutMeasurement in its own transaction, as the sweep commits every point when it completes (WAL,
//   synchronous=NORMAL, real file in the temp directory);
// - the same without an explicit transaction (autocommit), and 100 points per transaction, to show
//   what the per-point commit costs;
// - opening a shipped (exported) file immutable and reading one unit's measurements.
// Run: build/bench/bench_db --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <string>

#include "layoutdb/db.h"
#include "tests/sample_rows.h"
#include "tests/temp_dir.h"

namespace {

namespace db = layoutdb::db;

// A fresh file per benchmark run, removed afterwards.

struct Fixture {
  int64_t unit = 0;
  std::vector<int64_t> problems;
};

Fixture Populate(db::Database& d, int n_problems) {
  Fixture f;
  const int64_t target = d.UpsertTarget(layoutdb::testing::SampleTarget("bench"));
  f.unit = d.UpsertUnit(layoutdb::testing::SampleUnit(target, "cpu"));
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
  m.stats = layoutdb::testing::SampleStats(10 + static_cast<double>(i % 7));
  return m;
}

void BM_PutMeasurementTransactionPerPoint(benchmark::State& state) {
  const layoutdb::testing::TempDir tmp;
  const std::string path = tmp.File("per_point.db");
  db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
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
  const layoutdb::testing::TempDir tmp;
  const std::string path = tmp.File("autocommit.db");
  db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
  const Fixture f = Populate(d, 200);
  int64_t i = 0;
  for (auto _ : state) d.PutMeasurement(Point(f, i++));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PutMeasurementAutocommit)->Unit(benchmark::kMicrosecond);

// 100 points per transaction; time per point.
void BM_PutMeasurementBatched100(benchmark::State& state) {
  const layoutdb::testing::TempDir tmp;
  const std::string path = tmp.File("batched.db");
  db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
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
  const layoutdb::testing::TempDir tmp;
  const std::string path = tmp.File("source.db");
  int64_t unit = 0;
  {
    db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
    const Fixture f = Populate(d, 200);
    unit = f.unit;
    db::Database::Transaction tx(d);
    for (int64_t i = 0; i < 2000; ++i) d.PutMeasurement(Point(f, i));
    tx.Commit();
  }
  const std::string shipped = path + ".app";
  db::Export(path, shipped, {}, {});
  for (auto _ : state) {
    db::Database app = db::Database::Open(shipped, db::Mode::kImmutable);
    benchmark::DoNotOptimize(app.Measurements(unit).size());
  }
}
BENCHMARK(BM_OpenImmutableAndReadUnit)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
