#include "sqlite.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace layoutdb::db::internal {

std::string FileUri(const std::string& path, const std::string& query) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    // '?' and '#' end the path part of a URI and '%' starts an escape; keep everything else as is.
    if (c == '%' || c == '?' || c == '#' || c < 0x20) {
      uri += fmt::format("%{:02X}", c);
    } else {
      uri += static_cast<char>(c);
    }
  }
  if (!query.empty()) uri += "?" + query;
  return uri;
}

namespace {
// SQLite's message, and for a full disk what it means for the file.
std::string Why(sqlite3* db, const std::string& message) {
  if (db && (sqlite3_extended_errcode(db) & 0xff) == SQLITE_FULL)
    return message + " (no space left on its disk; what was committed before is kept)";
  return message;
}
}  // namespace

void Fail(sqlite3* db, const std::string& path, const std::string& what) {
  throw Error(fmt::format("{}: {}: {}", path, what, db ? Why(db, sqlite3_errmsg(db)) : "out of memory"));
}

void Exec(sqlite3* db, const std::string& path, const std::string& sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    const std::string text = Why(db, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    std::string head = sql.substr(0, sql.find_first_of("\n("));
    throw Error(fmt::format("{}: {}: {}", path, head, text));
  }
}

std::string PartialPath(const std::string& path) { return path + ".partial"; }

void RemoveWithCompanions(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
}

void Publish(const std::string& partial, const std::string& path) {
  // link() never replaces an existing file, unlike rename().
  if (::link(partial.c_str(), path.c_str()) != 0) {
    const int err = errno;
    throw Error(fmt::format("{}: cannot put the finished file in place: {}", path,
                            err == EEXIST ? "another process created it meanwhile" : std::strerror(err)));
  }
  ::unlink(partial.c_str());
}

Error NamingFinalPath(const Error& e, const std::string& partial, const std::string& path) {
  std::string what = e.what();
  for (size_t at = what.find(partial); at != std::string::npos; at = what.find(partial, at + path.size()))
    what.replace(at, partial.size(), path);
  return Error(what);
}

Stmt::Stmt(sqlite3* db, const std::string& path, std::string_view sql) : db_(db), path_(path) {
  if (sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt_, nullptr) != SQLITE_OK) {
    Fail(db_, path_, fmt::format("preparing `{}`", sql.substr(0, 60)));
  }
}

Stmt::~Stmt() { sqlite3_finalize(stmt_); }

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, double v) {
  sqlite3_bind_double(stmt_, i, v);
  return *this;
}
Stmt& Stmt::Bind(int i, const std::string& v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Stmt::Step(std::string_view context) {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string what(context);
  if (what.empty()) {
    std::string_view sql = sqlite3_sql(stmt_);
    what = std::string(sql.substr(0, sql.find_first_of("\n(")));
  }
  sqlite3_reset(stmt_);
  Fail(db_, path_, what);
}

int Stmt::Run(std::string_view context) {
  while (Step(context)) {
  }
  return sqlite3_changes(db_);
}

void Stmt::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double Stmt::Real(int col) const { return sqlite3_column_double(stmt_, col); }
std::string Stmt::Text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}
std::optional<int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}
std::optional<double> Stmt::OptReal(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Real(col);
}

}  // namespace layoutdb::db::internal
