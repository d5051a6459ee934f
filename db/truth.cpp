// Schema 4's rows (calibrations), schema 8's (network_times) and the checkpoint that tolerates
// readers: what keeps measurements honest over time, beside the typed rows of database.cpp.
#include <fmt/format.h>

#include <cctype>

#include "layoutdb/db.h"
#include "sqlite.h"

namespace layoutdb::db {

using internal::Stmt;

void Database::PutCalibration(const CalibrationRow& c) {
  Stmt q(handle(), path(),
         "INSERT INTO calibrations(sweep_id, kernel, points_done, median_us, p10_us, p90_us, "
         "repetitions, work, measured_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  q.Bind(1, c.sweep_id).Bind(2, c.kernel).Bind(3, c.points_done).Bind(4, c.median_us);
  q.Bind(5, c.p10_us).Bind(6, c.p90_us).Bind(7, c.repetitions).Bind(8, c.work);
  q.Bind(9, c.measured_at.empty() ? NowUtc() : c.measured_at);
  q.Run(fmt::format("storing calibration {} of sweep {}", c.kernel, c.sweep_id));
}

std::vector<CalibrationRow> Database::Calibrations(std::optional<int64_t> sweep_id) {
  Stmt q(handle(), path(),
         "SELECT id, sweep_id, kernel, points_done, median_us, p10_us, p90_us, repetitions, work, "
         "measured_at FROM calibrations WHERE ?1 IS NULL OR sweep_id = ?1 ORDER BY id");
  q.Bind(1, sweep_id);
  std::vector<CalibrationRow> out;
  while (q.Step("reading calibrations")) {
    CalibrationRow c;
    c.id = q.Int(0);
    c.sweep_id = q.Int(1);
    c.kernel = q.Text(2);
    c.points_done = q.Int(3);
    c.median_us = q.Real(4);
    c.p10_us = q.Real(5);
    c.p90_us = q.Real(6);
    c.repetitions = q.Int(7);
    c.work = q.Real(8);
    c.measured_at = q.Text(9);
    out.push_back(std::move(c));
  }
  return out;
}

void Database::PutNetworkTime(const NetworkTimeRow& r) {
  Stmt q(handle(), path(),
         "INSERT INTO network_times(sweep_id, unit_id, model, nodes, layout, dtype, median_us, p10_us, "
         "p90_us, repetitions, rel_ci, measured_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
         "ON CONFLICT(unit_id, model, nodes, layout, dtype) DO UPDATE SET sweep_id = excluded.sweep_id, "
         "median_us = excluded.median_us, p10_us = excluded.p10_us, p90_us = excluded.p90_us, "
         "repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, measured_at = excluded.measured_at");
  q.Bind(1, r.sweep_id).Bind(2, r.unit_id).Bind(3, r.model).Bind(4, r.nodes).Bind(5, r.layout).Bind(6, r.dtype);
  q.Bind(7, r.median_us).Bind(8, r.p10_us).Bind(9, r.p90_us).Bind(10, r.repetitions).Bind(11, r.rel_ci);
  q.Bind(12, r.measured_at.empty() ? NowUtc() : r.measured_at);
  q.Run(fmt::format("storing the network time of nodes {} of {} ({})", r.nodes, r.model, r.layout));
}

std::vector<NetworkTimeRow> Database::NetworkTimes(std::optional<int64_t> unit_id) {
  Stmt q(handle(), path(),
         "SELECT id, sweep_id, unit_id, model, nodes, layout, dtype, median_us, p10_us, p90_us, repetitions, "
         "rel_ci, measured_at FROM network_times WHERE ?1 IS NULL OR unit_id = ?1 ORDER BY id");
  q.Bind(1, unit_id);
  std::vector<NetworkTimeRow> out;
  while (q.Step("reading network times")) {
    NetworkTimeRow r;
    r.id = q.Int(0);
    r.sweep_id = q.Int(1);
    r.unit_id = q.Int(2);
    r.model = q.Text(3);
    r.nodes = q.Text(4);
    r.layout = q.Text(5);
    r.dtype = q.Text(6);
    r.median_us = q.Real(7);
    r.p10_us = q.Real(8);
    r.p90_us = q.Real(9);
    r.repetitions = q.Int(10);
    r.rel_ci = q.Real(11);
    r.measured_at = q.Text(12);
    out.push_back(std::move(r));
  }
  return out;
}

std::string Database::TryCheckpoint() {
  if (mode() != Mode::kReadWrite) {
    throw Error(fmt::format("{}: cannot checkpoint a database opened read-only", path()));
  }
  sqlite3* h = handle();
  // Never wait for another connection: whatever it holds, the answer is now. (Open() sets 10 s.)
  struct BusyTimeout {
    sqlite3* h;
    ~BusyTimeout() { sqlite3_busy_timeout(h, 10000); }
  } restore{h};
  sqlite3_busy_timeout(h, 0);
  const std::string stays = fmt::format(
      "{}: stays in WAL mode: another connection has the file open (every point is committed; the "
      "next writer that finds the file alone makes it self-contained again)",
      path());
  int log = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(h, "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &copied);
  if ((rc & 0xff) == SQLITE_BUSY) {
    // A reader holds an older snapshot: copy what it does not need, and leave the rest in the log.
    rc = sqlite3_wal_checkpoint_v2(h, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &copied);
    if (rc != SQLITE_OK && (rc & 0xff) != SQLITE_BUSY) internal::Fail(h, path(), "checkpointing the write-ahead log");
    return stays;
  }
  if (rc != SQLITE_OK) internal::Fail(h, path(), "checkpointing the write-ahead log");
  // Leaving WAL needs the file to itself.
  try {
    Stmt q(h, path(), "PRAGMA journal_mode = DELETE");
    std::string jm = q.Step("leaving WAL mode") ? q.Text(0) : "";
    for (char& c : jm) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (jm != "delete") return stays;
  } catch (const Error&) {
    if ((sqlite3_errcode(h) & 0xff) == SQLITE_BUSY || (sqlite3_errcode(h) & 0xff) == SQLITE_LOCKED) return stays;
    throw;
  }
  return {};
}

}  // namespace layoutdb::db
