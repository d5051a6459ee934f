// The SQLite layer: open/create, migrations, typed insert and query, merge, export.
// Nothing else in layoutdb touches SQL. Every failure is a db::Error whose what() is one line that
// names the file and what is wrong with it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "layoutdb/problem.h"

struct sqlite3;

namespace layoutdb::db {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// PRAGMA application_id of every layoutdb file ('LYDB').
constexpr int32_t kApplicationId = 0x4c594442;

struct Stats {
  double median_us = 0, p10_us = 0, p90_us = 0, mean_us = 0, stddev_us = 0, min_us = 0;
  int64_t repetitions = 0;
  double rel_ci = 0;  // half-width of the median's 95% CI over the median
  // Schema 4 (unset in rows measured before it: stored and read back as NULL).
  std::optional<bool> stable;  // the point reached its stability target (rel_ci <= target) in its budget
  std::string timer;           // the clock of median_us .. rel_ci: host (steady clock) or event (OpenCL)
  // The same runs on the host's steady clock, from before the enqueue to after the wait (what an
  // application sees); equal to median_us, p10_us, p90_us when timer is host.
  std::optional<double> host_median_us, host_p10_us, host_p90_us;
  std::string cache_mode;      // hot, warm (private caches evicted before each repetition) or cold (all)
};

struct TargetRow {
  int64_t id = 0;
  std::string fingerprint, hostname, cpu_model, isa;
  int64_t cores = 0, threads = 0;
  std::string caches = "{}", os, libraries = "{}";  // caches/libraries: JSON objects
  std::string created_at;
};

struct UnitRow {
  int64_t id = 0, target_id = 0;
  std::string name, kind, vendor, device_name, driver;
  int64_t compute_units = 0, clock_mhz = 0, global_mem = 0, local_mem = 0;
  std::string properties = "{}";  // JSON object
};

struct SweepRow {
  int64_t id = 0, target_id = 0;
  std::string spec_name, spec, spec_hash;
  int64_t shard_index = 0, shard_count = 1;
  std::string filters = "{}", tool_version, started_at, ended_at;  // ended_at empty while running
  std::string status;  // running, interrupted, completed, failed
  int64_t points_total = 0, points_done = 0;
  std::string cache_mode;  // schema 4: hot or cold ("" before); schema 6: or warm
  std::string execution;   // schema 4: JSON, the CPUs the sweep could use (microbench::ExecutionLimits)
};

// Schema 4: a calibration kernel timed during a sweep (a fixed compute-bound or memory-bound loop), so
// that drift of the machine over a sweep, and between sweeps, can be seen and normalised.
struct CalibrationRow {
  int64_t id = 0, sweep_id = 0;
  std::string kernel;  // compute (FLOPs in registers) or memory (streaming a buffer beyond the LLC)
  int64_t points_done = 0;  // the sweep's progress when it was taken
  double median_us = 0, p10_us = 0, p90_us = 0;
  int64_t repetitions = 0;
  double work = 0;  // FLOPs (compute) or bytes (memory) of one run
  std::string measured_at;
};

struct ProblemRow {
  int64_t id = 0;
  std::string key, key_hash, op, params;  // params: JSON object
  double flops = 0, bytes = 0;
};

struct MeasurementRow {
  int64_t id = 0, problem_id = 0, unit_id = 0;
  std::string layout, src_layout, dst_layout, dtype;
  std::optional<int64_t> sweep_id;
  std::string status;  // ok, unsupported, failed, mistrusted
  std::string reason, impl;
  bool is_reference = false;
  // For `any`: what the library chose, named as a candidate is (`nChw16c`, or `nchw>nChw16c` when it
  // reads another layout than it writes). config: JSON of a tuned OpenCL configuration.
  std::string chosen_layout, config;
  std::optional<Stats> stats;  // present iff measured
  std::string measured_at;     // filled in by Insert* when empty
};

struct TransitionRow {
  int64_t id = 0, unit_id = 0;
  std::string src_layout, dst_layout, dtype, shape;
  int64_t bytes = 0;
  std::optional<int64_t> sweep_id;
  std::string status, reason, impl;
  std::optional<Stats> stats;
  std::string measured_at;
};

struct TransferRow {
  int64_t id = 0, src_unit_id = 0, dst_unit_id = 0;
  std::string method;  // write, read, map, unmap, copy
  int64_t bytes = 0;
  std::optional<int64_t> sweep_id;
  std::string status, reason;
  std::optional<Stats> stats;
  std::string measured_at;
};

// Schema 5: one visit of one candidate of a point (see schema/005_visits.sql). The sweep writes the
// candidate's row (measurement, transition, transfer) once, from all its visits.
struct VisitRow {
  int64_t id = 0, sweep_id = 0;
  std::string kind;  // measurement, transition, transfer
  std::string key;   // the candidate's resume key (DoneKeys' format for its kind)
  int64_t visit = 0; // 1, 2, ...
  bool settled = false;  // the candidate's row has been written from its visits
  std::string status, reason, impl;  // status: ok, unsupported, failed
  bool is_reference = false;
  std::string chosen_layout, config;
  std::optional<Stats> stats;  // present iff status is ok
  std::string measured_at;     // filled in by PutVisit when empty
};

// Schema 8: one sub-graph of one model, in one state, timed inside the model's network (sweep --model
// --cache network); see schema/008_network_times.sql.
struct NetworkTimeRow {
  int64_t id = 0, sweep_id = 0, unit_id = 0;
  std::string model, nodes, layout, dtype;
  double median_us = 0, p10_us = 0, p90_us = 0;
  int64_t repetitions = 0;
  double rel_ci = 0;
  std::string measured_at;  // filled in by PutNetworkTime when empty
};

struct ValidationRow {
  int64_t id = 0, target_id = 0;
  std::string model, model_hash, plan, strategy;
  double predicted_us = 0;
  std::optional<double> measured_us, p10_us, p90_us;
  std::optional<int64_t> repetitions;
  std::string status, reason, measured_at;
  std::string validation, inputs, details;  // schema 3: run key, inputs JSON, per sub-graph JSON
};

enum class Mode {
  kReadWrite,  // create if missing, migrate to the latest version, WAL journal
  kReadOnly,   // must exist and be at the latest version; never written
  kImmutable,  // read-only and `immutable=1`: for a shipped file nobody writes
};

class Database {
 public:
  // Opens (and, for kReadWrite, creates and migrates) a layoutdb file. Refuses, with a db::Error naming
  // the path: a missing file (read-only modes), a file that is not SQLite or is truncated, a SQLite file
  // of another application, a file of a newer schema version than this build knows.
  static Database Open(const std::string& path, Mode mode);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  const std::string& path() const;
  Mode mode() const;
  int SchemaVersion() const;
  static int LatestVersion();
  sqlite3* handle();  // for tests and the db layer's own helpers only

  // BEGIN IMMEDIATE ... COMMIT; rolls back if destroyed without Commit().
  class Transaction {
   public:
    explicit Transaction(Database& db);
    ~Transaction();
    void Commit();
   private:
    Database* db_;
    bool done_ = false;
  };

  // Targets and units. Upserts key on fingerprint and (target_id, name); they return the row id.
  int64_t UpsertTarget(const TargetRow& t);
  std::vector<TargetRow> Targets();
  std::optional<TargetRow> TargetByFingerprint(const std::string& fingerprint);
  int64_t UpsertUnit(const UnitRow& u);
  std::vector<UnitRow> Units(std::optional<int64_t> target_id = std::nullopt);
  // The target the selector plans for: of a file holding several machines, the most recently added
  // one with units; 0 when the file has no unit.
  int64_t PlannedTargetId();

  int64_t InsertSweep(const SweepRow& s);
  // `execution`, when not empty, replaces the row's execution JSON (what the sweep learned of the
  // machine while it ran: the threads' placement).
  void FinishSweep(int64_t sweep_id, const std::string& status, int64_t points_done,
                   const std::string& execution = "");
  void SetSweepProgress(int64_t sweep_id, int64_t points_done);
  std::vector<SweepRow> Sweeps();

  // Problems: upsert by canonical key (stores op, params, FLOPs, bytes); re-checks key_hash on read and
  // throws Error for a row whose hash does not match its key.
  int64_t UpsertProblem(const Problem& p);
  std::vector<ProblemRow> Problems(const std::string& op = "");
  std::optional<ProblemRow> ProblemByKey(const std::string& key);

  // Measurements, transitions, transfers: insert-or-replace on their UNIQUE keys, so a point measured
  // twice ends up once.
  void PutMeasurement(const MeasurementRow& m);
  void PutTransition(const TransitionRow& t);
  void PutTransfer(const TransferRow& t);
  void PutValidation(const ValidationRow& v);

  // Keys already stored, for resuming: "problem_id|unit_id|layout|dtype" for measurements,
  // "unit_id|src|dst|dtype|shape" for transitions, "src_unit|dst_unit|method|bytes" for transfers.
  std::vector<std::string> DoneKeys(int64_t target_id);

  // Schema 5. Stores one visit (replacing a visit of the same kind, key and number: a failed point
  // that a resumed sweep measures again starts its visits afresh).
  void PutVisit(const VisitRow& v);
  // The visits not yet settled of the sweeps of this target, by kind, key and visit: what a resumed
  // sweep continues from.
  std::vector<VisitRow> OpenVisits(int64_t target_id);
  // Every visit of one kind (measurement, transition, transfer), settled or not: how far a stored
  // row's visits agreed (bench_select's repeatability column).
  std::vector<VisitRow> Visits(const std::string& kind);
  // Marks the visits of one candidate settled (its row is written from them).
  void SettleVisits(const std::string& kind, const std::string& key);

  std::vector<MeasurementRow> Measurements(std::optional<int64_t> unit_id = std::nullopt,
                                           const std::string& op = "");
  std::vector<TransitionRow> Transitions(std::optional<int64_t> unit_id = std::nullopt);
  std::vector<TransferRow> Transfers();
  std::vector<ValidationRow> Validations();
  // Schema 8: insert-or-replace on (unit, model, nodes, layout, dtype).
  void PutNetworkTime(const NetworkTimeRow& r);
  std::vector<NetworkTimeRow> NetworkTimes(std::optional<int64_t> unit_id = std::nullopt);
  void PutCalibration(const CalibrationRow& c);                              // schema 4
  std::vector<CalibrationRow> Calibrations(std::optional<int64_t> sweep_id = std::nullopt);

  // Counts for `layoutdb info`: rows of (op, unit name, layout, dtype, status, count).
  struct Count {
    std::string op, unit, layout, dtype, status;
    int64_t count = 0;
    int64_t target_id = 0;   // the unit's target (unit names repeat across targets of a merged file)
    int64_t references = 0;  // of `count`, points flagged as reference implementations
  };
  std::vector<Count> MeasurementCounts();

  // Rows per table, for `layoutdb info` and summaries.
  struct Totals {
    int64_t targets = 0, units = 0, sweeps = 0, problems = 0, measurements = 0, transitions = 0,
            transfers = 0, validations = 0;
  };
  Totals CountRows();

  // Every row of one of layoutdb's tables (or of `measurement_view`) as text, in id order, for CSV
  // exports: column names as in the schema; NULL is nullopt; REAL values in their shortest text that
  // reads back to the same double. Refuses (db::Error) a name that is not one of TableNames().
  struct TableDump {
    std::vector<std::string> columns;
    std::vector<std::vector<std::optional<std::string>>> rows;
  };
  TableDump DumpTable(const std::string& table);
  // targets, units, sweeps, problems, measurements, transitions, transfers, validations,
  // calibrations, visits, network_times.
  static const std::vector<std::string>& TableNames();

  // Folds the WAL back into the main file and switches to a rollback journal, so the file stands alone.
  void Checkpoint();
  // The same when nobody else has the file open; else copies what it can into the main file without
  // waiting for readers, stays in WAL (every commit is kept either way: the next writer, or export,
  // leaves WAL) and returns one line saying so. Empty when the file now stands alone.
  std::string TryCheckpoint();
  // PRAGMA integrity_check's answer ("ok" when healthy).
  std::string IntegrityCheck();

 private:
  struct Impl;
  explicit Database(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Folds every input file into `out` (created or migrated): targets are matched by fingerprint and kept
// apart, units by (target, name), problems by key; measurements, transitions and transfers are
// inserted-or-replaced on their unique keys, sweeps appended. Inputs are opened read-only.
// Where two files hold the same point, an `ok` row wins over any other and a definite answer
// (unsupported, mistrusted) over `failed`; between equals the later `measured_at` wins. The summary
// counts what `out` holds afterwards. All inputs go in one transaction (one per 10 inputs: SQLite attaches 10 at most),
// after every input has been checked as Open() checks it.
struct MergeSummary {
  int64_t files = 0, targets = 0, measurements = 0, transitions = 0, transfers = 0;
};
MergeSummary Merge(const std::string& out, const std::vector<std::string>& inputs);

// Writes the slim copy a deployed app ships: targets, the named units (all when empty), problems,
// their `ok` measurements in the named dtypes (all when empty), transitions and transfers; no sweeps or
// validations; checkpointed into one self-contained file. Refuses to overwrite an existing file.
struct ExportSummary {
  int64_t units = 0, problems = 0, measurements = 0, transitions = 0, transfers = 0;
  int64_t bytes = 0;
};
ExportSummary Export(const std::string& in, const std::string& out,
                     const std::vector<std::string>& units, const std::vector<std::string>& dtypes);

// Current UTC time as ISO-8601 text (2026-11-24T22:17:47Z).
std::string NowUtc();

}  // namespace layoutdb::db
