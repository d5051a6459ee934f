// Shared by the hardening suite: the program run as a user runs it (separate stdout and stderr, a
// deadline, optionally as an unprivileged user or with the kill shim preloaded), files as bytes, SQL
// on a file, and a real quick cpu sweep made once per build and copied by each test.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/quick_db.h"
#include "tests/temp_dir.h"

namespace layoutdb::hardening {

namespace fs = std::filesystem;
using layoutdb::testing::TempDir;

inline std::string Env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}
inline std::string Bin() { return Env("LAYOUTDB_BIN", "layoutdb"); }
inline fs::path SourceDir() { return Env("LAYOUTDB_SOURCE_DIR", "."); }
inline fs::path BinaryDir() { return Env("LAYOUTDB_BINARY_DIR", "."); }

struct Result {
  int code = -1;         // exit status; 128 + signal when killed by one
  bool timed_out = false;
  std::string out, err;  // stdout, stderr
  double seconds = 0;
};

struct RunOptions {
  double timeout_s = 120;
  std::map<std::string, std::string> env;  // added to the environment
  bool unprivileged = false;               // as root: run as nobody (uid/gid 65534)
};

// Starts `layoutdb args...`; returns its pid; its stdout and stderr go to the two fds given.
inline pid_t Spawn(const std::vector<std::string>& args, const RunOptions& o, int out_fd, int err_fd) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  const int devnull = open("/dev/null", O_RDONLY);
  dup2(devnull, STDIN_FILENO);
  for (const auto& [k, v] : o.env) setenv(k.c_str(), v.c_str(), 1);
  if (o.unprivileged && geteuid() == 0) {
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(126);
  }
  std::vector<char*> argv;
  const std::string bin = Bin();
  argv.push_back(const_cast<char*>(bin.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(bin.c_str(), argv.data());
  _exit(127);
}

// Waits for `pid` until the deadline, then SIGKILLs it.
inline int WaitFor(pid_t pid, double timeout_s, bool* timed_out) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  *timed_out = false;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      *timed_out = true;
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline std::string Slurp(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return "<directory>";
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Runs the program to completion (or its deadline); output through files, so that nothing blocks.
inline Result Layoutdb(const std::vector<std::string>& args, const RunOptions& o = {}) {
  char out_tmpl[] = "/tmp/layoutdb-out-XXXXXX", err_tmpl[] = "/tmp/layoutdb-err-XXXXXX";
  const int out_fd = mkstemp(out_tmpl), err_fd = mkstemp(err_tmpl);
  fchmod(out_fd, 0666);
  fchmod(err_fd, 0666);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = Spawn(args, o, out_fd, err_fd);
  close(out_fd);
  close(err_fd);
  Result r;
  r.code = WaitFor(pid, o.timeout_s, &r.timed_out);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.out = Slurp(out_tmpl);
  r.err = Slurp(err_tmpl);
  unlink(out_tmpl);
  unlink(err_tmpl);
  return r;
}

// Rows of a query on a file (read-only, waiting while a writer holds it), columns joined by '|'.
inline std::vector<std::string> Query(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  std::vector<std::string> rows;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return {"<cannot open " + db + ">"};
  }
  sqlite3_busy_timeout(h, 10000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    rows.push_back(std::string("<") + sqlite3_errmsg(h) + ">");
  }
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      const auto* t = sqlite3_column_text(st, i);
      row += (i ? "|" : "") + std::string(t ? reinterpret_cast<const char*>(t) : "NULL");
    }
    rows.push_back(row);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rows;
}
inline std::string Scalar(const std::string& db, const std::string& sql) {
  const auto rows = Query(db, sql);
  return rows.empty() ? "" : rows.front();
}

// `PRAGMA integrity_check` through a connection that may write (it recovers what a killed writer left,
// as the next writer would).
inline std::string IntegrityCheck(const std::string& db) {
  sqlite3* h = nullptr;
  std::string out;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(h, 10000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW)
        out += (out.empty() ? "" : "; ") + std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    }
    sqlite3_finalize(st);
    if (out.empty()) out = std::string("<") + sqlite3_errmsg(h) + ">";
  }
  sqlite3_close(h);
  return out;
}

// The quick cpu f32 sweep every test of the build shares (tests/quick_db.h); each test copies it.
inline std::string QuickDb() {
  std::string error;
  const std::string db = layoutdb::testing::SharedQuickDb(&error);
  EXPECT_FALSE(db.empty()) << error;
  return db;
}

// The one line a refusal prints: "layoutdb: error: WHAT\n", nothing else on either stream.
inline ::testing::AssertionResult OneErrorLine(const Result& r) {
  if (r.timed_out) return ::testing::AssertionFailure() << "timed out";
  if (r.code == 0 || r.code >= 128)
    return ::testing::AssertionFailure() << "exit code " << r.code << "; stderr: " << r.err;
  const std::string prefix = "layoutdb: error: ";
  if (r.err.rfind(prefix, 0) != 0 || r.err.find('\n') != r.err.size() - 1)
    return ::testing::AssertionFailure() << "stderr is not one error line: '" << r.err << "'";
  return ::testing::AssertionSuccess();
}
inline std::string ErrorText(const Result& r) {
  const std::string prefix = "layoutdb: error: ";
  std::string e = r.err.rfind(prefix, 0) == 0 ? r.err.substr(prefix.size()) : r.err;
  if (!e.empty() && e.back() == '\n') e.pop_back();
  return e;
}

}  // namespace layoutdb::hardening
