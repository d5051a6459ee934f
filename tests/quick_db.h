// A quick cpu f32 sweep of this machine (the README's `--spec quick --units cpu --dtypes f32`, hot: the
// tests that read it do not depend on the cache mode, and the warm default costs a flush per run), made once
// per build of the program and shared by every test and suite that reads one (a lock keeps parallel
// test processes from making it twice: ctest runs each test in its own process). A test that writes to
// its database copies it first. The sweep takes about 30 s (over a minute under the sanitizers), so
// making it once instead of per test saves minutes of CI.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/shell.h"

namespace layoutdb::testing {

// The file's path; on failure an empty string, with the sweep's output in `*error`.
// LAYOUTDB_QUICK_DB names one made already by another build of these sources on this machine: the
// sanitized suite reads the normal build's (scripts/sanitize.sh). It is data; the sweep's code runs
// under the sanitizers in the sweep and kill tests, and making the file there took 125 s of a 2-vCPU
// EPYC (36 s unsanitized).
inline std::string SharedQuickDb(std::string* error) {
  namespace fs = std::filesystem;
  if (const char* given = std::getenv("LAYOUTDB_QUICK_DB"); given && *given) {
    if (fs::exists(given)) return given;
    *error = fmt::format("LAYOUTDB_QUICK_DB: {}: no such file", given);
    return std::string();
  }
  const char* b = std::getenv("LAYOUTDB_BIN");
  const char* d = std::getenv("LAYOUTDB_BINARY_DIR");
  const std::string bin = b ? b : "layoutdb";
  const fs::path dir = fs::path(d ? d : ".") / "hardening";
  fs::create_directories(dir);
  struct stat st {};
  stat(bin.c_str(), &st);
  const fs::path db = dir / ("quick-cpu-f32-" + std::to_string(st.st_mtime) + "-" + std::to_string(st.st_size) + ".db");
  const int lock = open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  flock(lock, LOCK_EX);
  if (!fs::exists(db)) {
    const std::string tmp = db.string() + ".tmp";
    for (const char* s : {"", "-wal", "-shm"}) fs::remove(tmp + s);
    std::string out;
    const int rc =
        Shell(fmt::format("'{}' sweep --db '{}' --spec quick --units cpu --dtypes f32 --cache hot --quiet", bin, tmp), &out);
    if (rc == 0) {
      fs::rename(tmp, db);
    } else {
      *error = fmt::format("the quick sweep failed (exit {}): {}", rc, out);
    }
  }
  flock(lock, LOCK_UN);
  close(lock);
  return fs::exists(db) ? db.string() : std::string();
}

}  // namespace layoutdb::testing
