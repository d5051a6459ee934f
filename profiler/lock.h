// One writer per file: a sweep holds an exclusive advisory lock (flock) on its database file for its
// whole life, so that a second sweep of the same file is refused instead of taking the first one for
// dead. Internal to profiler/.
#pragma once

#include <string>

namespace layoutdb::profiler {

class WriterLock {
 public:
  // Locks `db_path` (created empty when missing: an empty file is a fresh database). Throws
  // std::runtime_error with one line when another process holds the lock. When the file cannot be
  // opened at all (a folder, a missing or read-only folder) nothing is locked: Database::Open then
  // refuses the path with its own line.
  explicit WriterLock(const std::string& db_path);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

  // The line a refused sweep prints (after "layoutdb: error: ").
  static std::string BusyMessage(const std::string& db_path);

 private:
  int fd_ = -1;
};

}  // namespace layoutdb::profiler
