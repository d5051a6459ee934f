// Helpers of the selector's cost/plan tests: a temporary directory and a real layoutdb SQLite file
// filled through the db API with synthetic measurements whose "true" cost function the test knows.
#pragma once

#include <stdlib.h>

#include <cstdlib>

#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "tests/sample_rows.h"
#include "tests/temp_dir.h"
#include "layoutdb/problem.h"

namespace layoutdb::selector::testing {

using layoutdb::testing::TempDir;

// The build directory: $LAYOUTDB_BINARY_DIR, else two levels above this test program
// (build/tests/test_selector), so a test also runs outside ctest.
inline std::string BinaryDir() {
  if (const char* b = std::getenv("LAYOUTDB_BINARY_DIR")) return b;
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().parent_path().string();
}
// The source tree: $LAYOUTDB_SOURCE_DIR, else two levels above this header (tests/selector/).
inline std::string SourceDir() {
  if (const char* s = std::getenv("LAYOUTDB_SOURCE_DIR")) return s;
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
}
// The layoutdb program: $LAYOUTDB_BIN, else BinaryDir()/layoutdb.
inline std::string LayoutdbBin() {
  if (const char* b = std::getenv("LAYOUTDB_BIN")) return b;
  return (std::filesystem::path(BinaryDir()) / "layoutdb").string();
}

// A writable database of one target with the named units ("cpu", "ocl:0:0", ...).
class SyntheticDb {
 public:
  explicit SyntheticDb(const std::string& path, const std::vector<std::string>& units = {"cpu"})
      : path_(path), db_(db::Database::Open(path, db::Mode::kReadWrite)) {
    target_ = db_->UpsertTarget(layoutdb::testing::SampleTarget("synthetic"));
    for (const auto& name : units) {
      units_[name] = db_->UpsertUnit(layoutdb::testing::SampleUnit(target_, name));
    }
  }

  struct OpOptions {
    std::string dtype = "f32";
    bool reference = false;
    std::string status = "ok";
    std::string chosen;  // for `any`
    std::string reason;  // of a row that is not ok ("synthetic" when empty)
  };
  void Op(const std::string& key, const std::string& unit, const std::string& layout, double us,
          const OpOptions& o) {
    db::MeasurementRow m;
    m.problem_id = db_->UpsertProblem(Problem::Parse(key));
    m.unit_id = units_.at(unit);
    m.layout = layout;
    const auto gt = layout.find('>');
    m.src_layout = gt == std::string::npos ? layout : layout.substr(0, gt);
    m.dst_layout = gt == std::string::npos ? layout : layout.substr(gt + 1);
    m.dtype = o.dtype;
    m.status = o.status;
    if (o.status != "ok") m.reason = o.reason.empty() ? "synthetic" : o.reason;
    m.is_reference = o.reference;
    m.impl = o.reference ? "ref:any" : "jit:avx512_core";
    m.chosen_layout = o.chosen;
    if (o.status == "ok") m.stats = layoutdb::testing::SampleStats(us);
    db_->PutMeasurement(m);
  }
  void Op(const std::string& key, const std::string& unit, const std::string& layout, double us) {
    Op(key, unit, layout, us, OpOptions{});
  }
  // A reorder of an mb x c x h x w f32 activation.
  void Reorder(const std::string& unit, const std::string& src, const std::string& dst, int64_t mb,
               int64_t c, int64_t h, int64_t w, double us) {
    db::TransitionRow t;
    t.unit_id = units_.at(unit);
    t.src_layout = src;
    t.dst_layout = dst;
    t.dtype = "f32";
    t.shape = "mb" + std::to_string(mb) + "c" + std::to_string(c) + "h" + std::to_string(h) + "w" +
              std::to_string(w);
    t.bytes = mb * c * h * w * 4;
    t.status = "ok";
    t.impl = "jit:uni";
    t.stats = layoutdb::testing::SampleStats(us);
    db_->PutTransition(t);
  }
  void Transfer(const std::string& device, const std::string& method, int64_t bytes, double us) {
    db::TransferRow t;
    t.src_unit_id = units_.at(method == "write" ? "cpu" : device);
    t.dst_unit_id = units_.at(method == "write" ? device : "cpu");
    t.method = method;
    t.bytes = bytes;
    t.status = "ok";
    t.stats = layoutdb::testing::SampleStats(us);
    db_->PutTransfer(t);
  }
  // A completed sweep of this target timed in `cache_mode` (hot, warm, cold, network): the file's cache
  // mode when it is the newest sweep. Returns its id.
  int64_t Sweep(const std::string& cache_mode, const std::string& spec_name = "synthetic") {
    db::SweepRow s;
    s.target_id = target_;
    s.spec_name = spec_name;
    s.spec = "{}";
    s.spec_hash = "0";
    s.tool_version = "test";
    s.started_at = "2026-01-01T00:00:00Z";
    s.status = "completed";
    s.cache_mode = cache_mode;
    return db_->InsertSweep(s);
  }
  // Sub-graph `nodes` of model `model` (selector::ModelInstance) timed in its network (schema 8), under
  // a network sweep of its own.
  void NetworkTime(const std::string& model, const std::string& nodes, const std::string& unit,
                   const std::string& layout, double us) {
    if (network_sweep_ == 0) network_sweep_ = Sweep("network", "network");
    db::NetworkTimeRow r;
    r.sweep_id = network_sweep_;
    r.unit_id = units_.at(unit);
    r.model = model;
    r.nodes = nodes;
    r.layout = layout;
    r.dtype = "f32";
    r.median_us = us;
    r.p10_us = 0.98 * us;
    r.p90_us = 1.02 * us;
    r.repetitions = 30;
    r.rel_ci = 0.01;
    db_->PutNetworkTime(r);
  }
  // Closes the file (checkpointed) so a reader sees one self-contained file.
  const std::string& Close() {
    if (db_) {
      db_->Checkpoint();
      db_.reset();
    }
    return path_;
  }
  db::Database& db() { return *db_; }

 private:
  std::string path_;
  std::optional<db::Database> db_;
  int64_t target_ = 0;
  int64_t network_sweep_ = 0;
  std::map<std::string, int64_t> units_;
};

}  // namespace layoutdb::selector::testing
