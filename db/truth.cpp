// Schema 4's rows (calibrations) and the checkpoint that tolerates readers: what keeps measurements
// honest over time, beside the typed rows of database.cpp.
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
