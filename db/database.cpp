// Open/create, migrations and typed rows of a layoutdb file.
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <system_error>
#include <unordered_map>

#include "layoutdb/db.h"
#include "layoutdb/human.h"
#include "sqlite.h"

namespace layoutdb::db {

using internal::Exec;
using internal::Fail;
using internal::Stmt;
namespace fs = std::filesystem;

namespace {

// Versions are the migrations' numbers: 001_init.sql is version 1, and there must be no gap.
int CheckedLatestVersion() {
  const auto& files = schema::Embedded();
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string_view name = files[i].first;
    if (name.size() < 4 || std::stoi(std::string(name.substr(0, 3))) != static_cast<int>(i + 1)) {
      throw Error(fmt::format("built-in migration {} is out of sequence (expected number {:03d})",
                              name, i + 1));
    }
  }
  return static_cast<int>(files.size());
}

uint32_t BigEndian(const unsigned char* p, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

int64_t SizeOr0(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// Looks at the file's first 100 bytes before SQLite does: SQLite opens anything lazily, and a file cut
// short may still answer the first queries from its intact first page.
void CheckHeader(const std::string& path) {
  const int64_t size = SizeOr0(path);
  if (size == 0) return;  // an empty file is a fresh database
  std::array<unsigned char, 100> h{};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("{}: cannot read the file", path));
  in.read(reinterpret_cast<char*>(h.data()), h.size());
  const auto got = static_cast<size_t>(in.gcount());
  static const char kMagic[] = "SQLite format 3";  // 16 bytes with its NUL
  if (std::memcmp(h.data(), kMagic, std::min<size_t>(got, 16)) != 0) {
    throw Error(fmt::format("{}: file is not a database (not an SQLite file)", path));
  }
  if (got < h.size()) {
    throw Error(fmt::format("{}: database disk image is malformed: truncated to {} bytes", path, size));
  }
  int64_t page_size = BigEndian(&h[16], 2);
  if (page_size == 1) page_size = 65536;
  const int64_t pages = BigEndian(&h[28], 4);
  // A header that is not SQLite's own (bad page size) is left to SQLite to name.
  const bool size_valid = page_size >= 512 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
  const bool pages_valid = size_valid && BigEndian(&h[24], 4) == BigEndian(&h[92], 4);
  // Pages still in a write-ahead log may extend the file beyond its main part: only judge a file that
  // stands alone.
  if (pages_valid && pages > 0 && SizeOr0(path + "-wal") == 0 && size < pages * page_size) {
    throw Error(fmt::format("{}: database disk image is malformed: truncated ({} of {} bytes)", path,
                            size, pages * page_size));
  }
}

// Rolls back the hot journal of a writer that was killed, by opening the file for writing and reading
// it (what the next writer would do); false if this process may not write to the file and its folder.
bool RollBackHotJournal(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (::access(path.c_str(), W_OK) != 0 || ::access(parent.empty() ? "." : parent.c_str(), W_OK) != 0)
    return false;
  sqlite3* h = nullptr;
  bool ok = sqlite3_open_v2(internal::FileUri(path).c_str(), &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI,
                            nullptr) == SQLITE_OK;
  if (ok) {
    sqlite3_busy_timeout(h, 10000);
    ok = sqlite3_exec(h, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  sqlite3_close_v2(h);
  return ok;
}

// Set while Open() retries after rolling back a hot journal, so that it retries once.
thread_local int g_rolling_back = 0;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void BindStats(Stmt& q, int first, const std::optional<Stats>& s) {
  if (!s) {
    for (int i = 0; i < 8; ++i) q.BindNull(first + i);
    return;
  }
  q.Bind(first, s->median_us).Bind(first + 1, s->p10_us).Bind(first + 2, s->p90_us);
  q.Bind(first + 3, s->mean_us).Bind(first + 4, s->stddev_us).Bind(first + 5, s->min_us);
  q.Bind(first + 6, s->repetitions).Bind(first + 7, s->rel_ci);
}

// Schema 4's columns of a row's statistics (kTruthColumns), bound at `first`..`first + 5`.
void BindTruth(Stmt& q, int first, const std::optional<Stats>& s) {
  if (!s) {
    for (int i = 0; i < 6; ++i) q.BindNull(first + i);
    return;
  }
  if (s->stable) q.Bind(first, int64_t{*s->stable ? 1 : 0}); else q.BindNull(first);
  q.BindText(first + 1, s->timer).Bind(first + 2, s->host_median_us).Bind(first + 3, s->host_p10_us);
  q.Bind(first + 4, s->host_p90_us).BindText(first + 5, s->cache_mode);
}
constexpr const char* kTruthColumns = "stable, timer, host_median_us, host_p10_us, host_p90_us, cache_mode";
constexpr const char* kTruthUpdate =
    "stable = excluded.stable, timer = excluded.timer, host_median_us = excluded.host_median_us, "
    "host_p10_us = excluded.host_p10_us, host_p90_us = excluded.host_p90_us, "
    "cache_mode = excluded.cache_mode";

std::optional<Stats> ReadStats(const Stmt& q, int first) {
  if (q.IsNull(first)) return std::nullopt;
  Stats s;
  s.median_us = q.Real(first);
  s.p10_us = q.Real(first + 1);
  s.p90_us = q.Real(first + 2);
  s.mean_us = q.Real(first + 3);
  s.stddev_us = q.Real(first + 4);
  s.min_us = q.Real(first + 5);
  s.repetitions = q.Int(first + 6);
  s.rel_ci = q.Real(first + 7);
  if (!q.IsNull(first + 8)) s.stable = q.Int(first + 8) != 0;
  s.timer = q.Text(first + 9);
  s.host_median_us = q.OptReal(first + 10);
  s.host_p10_us = q.OptReal(first + 11);
  s.host_p90_us = q.OptReal(first + 12);
  s.cache_mode = q.Text(first + 13);
  return s;
}

// The id an INSERT ... RETURNING gives, once the statement has run to its end: outside a transaction
// it commits only there, and a commit that fails (a full disk) must not leave us holding the id of a
// row that was rolled back.
int64_t ReturnedId(Stmt& q, const std::string& path, const std::string& context) {
  if (!q.Step(context)) throw Error(fmt::format("{}: {}: no row returned", path, context));
  const int64_t id = q.Int(0);
  while (q.Step(context)) {
  }
  return id;
}

void CheckKeyHash(const std::string& path, int64_t id, const std::string& key,
                  const std::string& key_hash) {
  const std::string expected = HashHex(key);
  if (key_hash != expected) {
    throw Error(fmt::format("{}: problem {} '{}': stored key_hash {} does not match its key ({}): "
                            "the row was altered",
                            path, id, Printable(key), Printable(key_hash), expected));
  }
}

// Read back by ReadStats (schema 4's columns last).
constexpr const char* kStatsColumns =
    "median_us, p10_us, p90_us, mean_us, stddev_us, min_us, repetitions, rel_ci, stable, timer, "
    "host_median_us, host_p10_us, host_p90_us, cache_mode";

}  // namespace

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Database::Impl {
  std::string path;
  Mode mode = Mode::kReadWrite;
  sqlite3* db = nullptr;
  int version = 0;
  // Prepared once per connection: a sweep stores one point per transaction, thousands of times.
  std::unordered_map<const char*, std::unique_ptr<Stmt>> cache;

  ~Impl() {
    cache.clear();
    if (db) sqlite3_close_v2(db);
  }

  // A cached statement, reset (and unbound) again when the returned handle goes out of scope so that
  // no half-read SELECT keeps a read transaction open.
  class Query {
   public:
    explicit Query(Stmt* s) : s_(s) {}
    ~Query() { s_->Reset(); }
    Stmt* operator->() { return s_; }
    Stmt& operator*() { return *s_; }
   private:
    Stmt* s_;
  };
  Query Q(const char* sql) {
    auto& s = cache[sql];
    if (!s) s = std::make_unique<Stmt>(db, path, sql);
    return Query(s.get());
  }

  int64_t PragmaInt(const char* name) {
    Stmt q(db, path, fmt::format("PRAGMA {}", name));
    return q.Step() ? q.Int(0) : 0;
  }

  void Migrate(int32_t application_id);
};

void Database::Impl::Migrate(int32_t application_id) {
  const auto& files = schema::Embedded();
  const int latest = LatestVersion();
  for (int target = version + 1; target <= latest; ++target) {
    const auto& [name, sql] = files[static_cast<size_t>(target - 1)];
    Exec(db, path, "BEGIN IMMEDIATE");
    try {
      // Another process may have migrated while we waited for the write lock.
      const int now = static_cast<int>(PragmaInt("user_version"));
      if (now < target) {
        try {
          Exec(db, path, std::string(sql));
        } catch (const Error& e) {
          throw Error(fmt::format("{}: applying migration {}: {}", path, name,
                                  e.what() + path.size() + 2));
        }
        Exec(db, path, fmt::format("PRAGMA user_version = {}", target));
        if (application_id != kApplicationId) {
          Exec(db, path, fmt::format("PRAGMA application_id = {}", kApplicationId));
          application_id = kApplicationId;
        }
      }
      Exec(db, path, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }
  version = static_cast<int>(PragmaInt("user_version"));
}

int Database::LatestVersion() {
  static const int latest = CheckedLatestVersion();
  return latest;
}

Database Database::Open(const std::string& path, Mode mode) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (exists && fs::is_directory(path, ec)) {
    throw Error(fmt::format("{}: is a directory, not a layoutdb file", path));
  }
  if (!exists && mode != Mode::kReadWrite) throw Error(fmt::format("{}: no such file", path));
  if (mode == Mode::kReadWrite) {
    // A file being written has its -wal and -shm beside it: SQLite's own error ("unable to open
    // database file", "attempt to write a readonly database") would not say that the folder is at fault.
    const fs::path parent = fs::path(path).parent_path();
    const std::string dir = parent.empty() ? "." : parent.string();
    if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      throw Error(fmt::format("{}: cannot write in its folder {} ({}): a database being written needs "
                              "its -wal and -shm files beside it",
                              path, dir, std::strerror(errno)));
    }
  }
  if (exists) CheckHeader(path);
  // Immutable reads ignore a journal: roll back a hot one first, as a read-only open does below.
  if (mode == Mode::kImmutable && SizeOr0(path + "-journal") > 0 && !RollBackHotJournal(path)) {
    throw Error(fmt::format("{}: has an unfinished rollback journal ({}-journal); open it read-only, "
                            "not immutable",
                            path, path));
  }
  if (mode == Mode::kImmutable && SizeOr0(path + "-wal") > 0) {
    throw Error(fmt::format("{}: has an unfinished write-ahead log ({}-wal); open it read-only, not "
                            "immutable",
                            path, path));
  }

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->mode = mode;
  const int flags = SQLITE_OPEN_URI | (mode == Mode::kReadWrite
                                           ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                           : SQLITE_OPEN_READONLY);
  const std::string uri = internal::FileUri(path, mode == Mode::kImmutable ? "immutable=1" : "");
  const int rc = sqlite3_open_v2(uri.c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) Fail(impl->db, path, "cannot open");
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, 10000);

  // Who is this file? Reading it is the first time SQLite looks at its pages.
  int64_t app_id = 0, objects = 0;
  try {
    app_id = impl->PragmaInt("application_id");
    impl->version = static_cast<int>(impl->PragmaInt("user_version"));
    Stmt q(impl->db, path, "SELECT count(*) FROM sqlite_schema");
    objects = q.Step() ? q.Int(0) : 0;
  } catch (const Error&) {
    const int extended = sqlite3_extended_errcode(impl->db);
    const int code = extended & 0xff;
    if (extended == SQLITE_READONLY_ROLLBACK && g_rolling_back == 0) {
      // Its last writer was killed mid-commit (a sweep during its final checkpoint, say): the journal
      // beside it is hot, and only a connection that may write can roll it back. Do that once, as the
      // next writer would, then read.
      impl.reset();
      if (!RollBackHotJournal(path)) {
        throw Error(fmt::format("{}: its last writer was killed in the middle of a commit ({}-journal "
                                "remains) and this process may not write to it to roll that back: open "
                                "it once with write access, e.g. `layoutdb merge --out {}`",
                                path, path, path));
      }
      ++g_rolling_back;
      try {
        Database d = Open(path, mode);
        --g_rolling_back;
        return d;
      } catch (...) {
        --g_rolling_back;
        throw;
      }
    }
    if (code == SQLITE_NOTADB) throw Error(fmt::format("{}: file is not a database", path));
    if (code == SQLITE_CORRUPT) {
      throw Error(fmt::format("{}: database disk image is malformed", path));
    }
    throw;
  }
  const int latest = LatestVersion();
  if (app_id != kApplicationId) {
    if (app_id != 0) {
      throw Error(fmt::format(
          "{}: not a layoutdb database (SQLite application_id 0x{:08x}; layoutdb's is 0x{:08x})", path,
          static_cast<uint32_t>(app_id), static_cast<uint32_t>(kApplicationId)));
    }
    if (objects > 0 || impl->version != 0) {
      throw Error(fmt::format("{}: not a layoutdb database (an SQLite file of another application: "
                              "{} schema objects and no layoutdb application_id)",
                              path, objects));
    }
  }
  if (impl->version < 0) {
    // SQLite's user_version is a signed 32-bit header field; layoutdb only ever writes 1..latest.
    throw Error(fmt::format("{}: schema version {} is negative: not a version layoutdb wrote", path,
                            impl->version));
  }
  if (impl->version > latest) {
    throw Error(fmt::format("{}: schema version {}, newer than this layoutdb ({}): upgrade layoutdb",
                            path, impl->version, latest));
  }
  // Identity you can trust: a problem whose key no longer matches its stored hash was edited by hand;
  // refuse the file before anything reads a measurement through it or writes to it.
  if (impl->version >= 1) {
    Stmt q(impl->db, path, "SELECT id, key, key_hash FROM problems");
    while (q.Step("checking problem keys")) CheckKeyHash(path, q.Int(0), q.Text(1), q.Text(2));
  }
  if (mode != Mode::kReadWrite) {
    if (impl->version == 0) {
      throw Error(fmt::format("{}: empty file, not yet a layoutdb database", path));
    }
    if (impl->version < latest) {
      throw Error(fmt::format(
          "{}: schema version {}, older than this layoutdb ({}), and opened read-only: migrate it "
          "once with `layoutdb merge --out {}`",
          path, impl->version, latest, path));
    }
  }

  Exec(impl->db, path, "PRAGMA foreign_keys = ON");
  if (mode == Mode::kReadWrite) {
    // SQLite quietly falls back to read-only for a file it may not write.
    if (sqlite3_db_readonly(impl->db, "main") == 1) {
      throw Error(fmt::format("{}: cannot open for writing (the file or its folder is read-only)", path));
    }
    {
      Stmt q(impl->db, path, "PRAGMA journal_mode = WAL");
      const std::string jm = q.Step("switching to WAL journal") ? Lower(q.Text(0)) : "";
      if (jm != "wal") throw Error(fmt::format("{}: cannot switch to WAL journal (got '{}')", path, jm));
    }
    // WAL with synchronous=NORMAL: a killed process loses nothing committed (only power loss could
    // lose the last transactions), and each per-point commit costs no fsync.
    Exec(impl->db, path, "PRAGMA synchronous = NORMAL");
    impl->Migrate(static_cast<int32_t>(app_id));
  }
  return Database(std::move(impl));
}

Database::Database(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Database::Database(Database&&) noexcept = default;
Database& Database::operator=(Database&&) noexcept = default;
Database::~Database() = default;

const std::string& Database::path() const { return impl_->path; }
Mode Database::mode() const { return impl_->mode; }
int Database::SchemaVersion() const { return impl_->version; }
sqlite3* Database::handle() { return impl_->db; }

Database::Transaction::Transaction(Database& db) : db_(&db) {
  Exec(db.handle(), db.path(), "BEGIN IMMEDIATE");
}
Database::Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}
void Database::Transaction::Commit() {
  Exec(db_->handle(), db_->path(), "COMMIT");
  done_ = true;
}

// ---- targets and units ----

int64_t Database::UpsertTarget(const TargetRow& t) {
  auto q = impl_->Q(
      "INSERT INTO targets(fingerprint, hostname, cpu_model, isa, cores, threads, caches, os, "
      "libraries, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
      "ON CONFLICT(fingerprint) DO UPDATE SET hostname = excluded.hostname, "
      "cpu_model = excluded.cpu_model, isa = excluded.isa, cores = excluded.cores, "
      "threads = excluded.threads, caches = excluded.caches, os = excluded.os, "
      "libraries = excluded.libraries RETURNING id");
  q->Bind(1, t.fingerprint).Bind(2, t.hostname).Bind(3, t.cpu_model).Bind(4, t.isa);
  q->Bind(5, t.cores).Bind(6, t.threads).Bind(7, t.caches).Bind(8, t.os).Bind(9, t.libraries);
  q->Bind(10, t.created_at.empty() ? NowUtc() : t.created_at);
  return ReturnedId(*q, impl_->path, fmt::format("storing target {}", t.fingerprint));
}

namespace {
constexpr const char* kTargetColumns =
    "id, fingerprint, hostname, cpu_model, isa, cores, threads, caches, os, libraries, created_at";
TargetRow ReadTarget(const Stmt& q) {
  TargetRow t;
  t.id = q.Int(0);
  t.fingerprint = q.Text(1);
  t.hostname = q.Text(2);
  t.cpu_model = q.Text(3);
  t.isa = q.Text(4);
  t.cores = q.Int(5);
  t.threads = q.Int(6);
  t.caches = q.Text(7);
  t.os = q.Text(8);
  t.libraries = q.Text(9);
  t.created_at = q.Text(10);
  return t;
}
}  // namespace

std::vector<TargetRow> Database::Targets() {
  Stmt q(impl_->db, impl_->path, fmt::format("SELECT {} FROM targets ORDER BY id", kTargetColumns));
  std::vector<TargetRow> out;
  while (q.Step()) out.push_back(ReadTarget(q));
  return out;
}

std::optional<TargetRow> Database::TargetByFingerprint(const std::string& fingerprint) {
  Stmt q(impl_->db, impl_->path,
         fmt::format("SELECT {} FROM targets WHERE fingerprint = ?1", kTargetColumns));
  q.Bind(1, fingerprint);
  if (!q.Step()) return std::nullopt;
  return ReadTarget(q);
}

int64_t Database::UpsertUnit(const UnitRow& u) {
  auto q = impl_->Q(
      "INSERT INTO units(target_id, name, kind, vendor, device_name, driver, compute_units, "
      "clock_mhz, global_mem, local_mem, properties) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
      "?11) ON CONFLICT(target_id, name) DO UPDATE SET kind = excluded.kind, vendor = excluded.vendor, "
      "device_name = excluded.device_name, driver = excluded.driver, "
      "compute_units = excluded.compute_units, clock_mhz = excluded.clock_mhz, "
      "global_mem = excluded.global_mem, local_mem = excluded.local_mem, "
      "properties = excluded.properties RETURNING id");
  q->Bind(1, u.target_id).Bind(2, u.name).Bind(3, u.kind).Bind(4, u.vendor).Bind(5, u.device_name);
  q->Bind(6, u.driver).Bind(7, u.compute_units);
  // Unknown sizes are stored as NULL rather than a misleading 0.
  if (u.clock_mhz > 0) q->Bind(8, u.clock_mhz); else q->BindNull(8);
  if (u.global_mem > 0) q->Bind(9, u.global_mem); else q->BindNull(9);
  if (u.local_mem > 0) q->Bind(10, u.local_mem); else q->BindNull(10);
  q->Bind(11, u.properties);
  return ReturnedId(*q, impl_->path, fmt::format("storing unit {} of target {}", u.name, u.target_id));
}

int64_t Database::PlannedTargetId() {
  Stmt q(impl_->db, impl_->path, "SELECT COALESCE(MAX(target_id), 0) FROM units");
  return q.Step() ? q.Int(0) : 0;
}

std::vector<UnitRow> Database::Units(std::optional<int64_t> target_id) {
  Stmt q(impl_->db, impl_->path,
         "SELECT id, target_id, name, kind, vendor, device_name, driver, compute_units, clock_mhz, "
         "global_mem, local_mem, properties FROM units WHERE ?1 IS NULL OR target_id = ?1 ORDER BY id");
  q.Bind(1, target_id);
  std::vector<UnitRow> out;
  while (q.Step()) {
    UnitRow u;
    u.id = q.Int(0);
    u.target_id = q.Int(1);
    u.name = q.Text(2);
    u.kind = q.Text(3);
    u.vendor = q.Text(4);
    u.device_name = q.Text(5);
    u.driver = q.Text(6);
    u.compute_units = q.Int(7);
    u.clock_mhz = q.Int(8);
    u.global_mem = q.Int(9);
    u.local_mem = q.Int(10);
    u.properties = q.Text(11);
    out.push_back(std::move(u));
  }
  return out;
}

// ---- sweeps ----

int64_t Database::InsertSweep(const SweepRow& s) {
  auto q = impl_->Q(
      "INSERT INTO sweeps(target_id, spec_name, spec, spec_hash, shard_index, shard_count, filters, "
      "tool_version, started_at, ended_at, status, points_total, points_done, cache_mode, execution) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) RETURNING id");
  q->Bind(1, s.target_id).Bind(2, s.spec_name).Bind(3, s.spec).Bind(4, s.spec_hash);
  q->Bind(5, s.shard_index).Bind(6, s.shard_count).Bind(7, s.filters).Bind(8, s.tool_version);
  q->Bind(9, s.started_at.empty() ? NowUtc() : s.started_at).BindText(10, s.ended_at);
  q->Bind(11, s.status.empty() ? std::string("running") : s.status);
  q->Bind(12, s.points_total).Bind(13, s.points_done).BindText(14, s.cache_mode).BindText(15, s.execution);
  return ReturnedId(*q, impl_->path,
                    fmt::format("storing sweep {} shard {}/{}", s.spec_name, s.shard_index, s.shard_count));
}

void Database::FinishSweep(int64_t sweep_id, const std::string& status, int64_t points_done,
                           const std::string& execution) {
  auto q = impl_->Q(
      "UPDATE sweeps SET status = ?2, points_done = ?3, ended_at = ?4, "
      "execution = CASE WHEN ?5 IS NULL OR ?5 = '' THEN execution ELSE ?5 END WHERE id = ?1");
  q->Bind(1, sweep_id).Bind(2, status).Bind(3, points_done).Bind(4, NowUtc()).BindText(5, execution);
  if (q->Run(fmt::format("finishing sweep {} as {}", sweep_id, status)) == 0) {
    throw Error(fmt::format("{}: no sweep {}", impl_->path, sweep_id));
  }
}

void Database::SetSweepProgress(int64_t sweep_id, int64_t points_done) {
  auto q = impl_->Q("UPDATE sweeps SET points_done = ?2 WHERE id = ?1");
  q->Bind(1, sweep_id).Bind(2, points_done);
  if (q->Run(fmt::format("updating sweep {}", sweep_id)) == 0) {
    throw Error(fmt::format("{}: no sweep {}", impl_->path, sweep_id));
  }
}

std::vector<SweepRow> Database::Sweeps() {
  Stmt q(impl_->db, impl_->path,
         "SELECT id, target_id, spec_name, spec, spec_hash, shard_index, shard_count, filters, "
         "tool_version, started_at, ended_at, status, points_total, points_done, cache_mode, execution "
         "FROM sweeps ORDER BY id");
  std::vector<SweepRow> out;
  while (q.Step()) {
    SweepRow s;
    s.id = q.Int(0);
    s.target_id = q.Int(1);
    s.spec_name = q.Text(2);
    s.spec = q.Text(3);
    s.spec_hash = q.Text(4);
    s.shard_index = q.Int(5);
    s.shard_count = q.Int(6);
    s.filters = q.Text(7);
    s.tool_version = q.Text(8);
    s.started_at = q.Text(9);
    s.ended_at = q.Text(10);
    s.status = q.Text(11);
    s.points_total = q.Int(12);
    s.points_done = q.Int(13);
    s.cache_mode = q.Text(14);
    s.execution = q.Text(15);
    out.push_back(std::move(s));
  }
  return out;
}

// ---- problems ----

int64_t Database::UpsertProblem(const Problem& p) {
  const std::string key = p.Key();
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  if (!p.alg().empty()) params["alg"] = p.alg();
  for (const auto& [name, value] : p.params()) params[name] = value;
  auto q = impl_->Q(
      "INSERT INTO problems(key, key_hash, op, params, flops, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT(key) DO UPDATE SET key_hash = excluded.key_hash, op = excluded.op, "
      "params = excluded.params, flops = excluded.flops, bytes = excluded.bytes RETURNING id");
  q->Bind(1, key).Bind(2, HashHex(key)).Bind(3, p.op()).Bind(4, params.dump());
  q->Bind(5, p.Flops()).Bind(6, p.Bytes(4));
  return ReturnedId(*q, impl_->path, fmt::format("storing problem {}", key));
}

namespace {
ProblemRow ReadProblem(const Stmt& q, const std::string& path) {
  ProblemRow r;
  r.id = q.Int(0);
  r.key = q.Text(1);
  r.key_hash = q.Text(2);
  r.op = q.Text(3);
  r.params = q.Text(4);
  r.flops = q.Real(5);
  r.bytes = q.Real(6);
  CheckKeyHash(path, r.id, r.key, r.key_hash);
  return r;
}
}  // namespace

std::vector<ProblemRow> Database::Problems(const std::string& op) {
  Stmt q(impl_->db, impl_->path,
         "SELECT id, key, key_hash, op, params, flops, bytes FROM problems "
         "WHERE ?1 = '' OR op = ?1 ORDER BY id");
  q.Bind(1, op);
  std::vector<ProblemRow> out;
  while (q.Step()) out.push_back(ReadProblem(q, impl_->path));
  return out;
}

std::optional<ProblemRow> Database::ProblemByKey(const std::string& key) {
  auto q = impl_->Q("SELECT id, key, key_hash, op, params, flops, bytes FROM problems WHERE key = ?1");
  q->Bind(1, key);
  if (!q->Step()) return std::nullopt;
  return ReadProblem(*q, impl_->path);
}

// ---- measurements, transitions, transfers, validations ----

void Database::PutMeasurement(const MeasurementRow& m) {
  static const std::string sql = fmt::format(
      "INSERT INTO measurements(problem_id, unit_id, layout, src_layout, dst_layout, dtype, sweep_id, "
      "status, reason, impl, is_reference, chosen_layout, config, median_us, p10_us, p90_us, mean_us, "
      "stddev_us, min_us, repetitions, rel_ci, measured_at, {0}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
      "?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28) "
      "ON CONFLICT(problem_id, unit_id, layout, dtype) DO UPDATE SET {1}, "
      "src_layout = excluded.src_layout, dst_layout = excluded.dst_layout, "
      "sweep_id = excluded.sweep_id, status = excluded.status, reason = excluded.reason, "
      "impl = excluded.impl, is_reference = excluded.is_reference, "
      "chosen_layout = excluded.chosen_layout, config = excluded.config, "
      "median_us = excluded.median_us, p10_us = excluded.p10_us, p90_us = excluded.p90_us, "
      "mean_us = excluded.mean_us, stddev_us = excluded.stddev_us, min_us = excluded.min_us, "
      "repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, "
      "measured_at = excluded.measured_at",
      kTruthColumns, kTruthUpdate);
  auto q = impl_->Q(sql.c_str());
  q->Bind(1, m.problem_id).Bind(2, m.unit_id).Bind(3, m.layout).Bind(4, m.src_layout);
  q->Bind(5, m.dst_layout).Bind(6, m.dtype).Bind(7, m.sweep_id).Bind(8, m.status);
  q->BindText(9, m.reason).BindText(10, m.impl).Bind(11, int64_t{m.is_reference ? 1 : 0});
  q->BindText(12, m.chosen_layout).BindText(13, m.config);
  BindStats(*q, 14, m.stats);
  q->Bind(22, m.measured_at.empty() ? NowUtc() : m.measured_at);
  BindTruth(*q, 23, m.stats);
  q->Run(fmt::format("storing measurement (problem {}, unit {}, {}, {}, {})", m.problem_id,
                     m.unit_id, m.layout, m.dtype, m.status));
}

void Database::PutTransition(const TransitionRow& t) {
  static const std::string sql = fmt::format(
      "INSERT INTO transitions(unit_id, src_layout, dst_layout, dtype, shape, bytes, sweep_id, "
      "status, reason, impl, median_us, p10_us, p90_us, mean_us, stddev_us, min_us, repetitions, "
      "rel_ci, measured_at, {0}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
      "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25) "
      "ON CONFLICT(unit_id, src_layout, dst_layout, dtype, shape) DO UPDATE SET {1}, bytes = excluded.bytes, sweep_id = excluded.sweep_id, status = excluded.status, "
      "reason = excluded.reason, impl = excluded.impl, median_us = excluded.median_us, "
      "p10_us = excluded.p10_us, p90_us = excluded.p90_us, mean_us = excluded.mean_us, "
      "stddev_us = excluded.stddev_us, min_us = excluded.min_us, "
      "repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, "
      "measured_at = excluded.measured_at",
      kTruthColumns, kTruthUpdate);
  auto q = impl_->Q(sql.c_str());
  q->Bind(1, t.unit_id).Bind(2, t.src_layout).Bind(3, t.dst_layout).Bind(4, t.dtype);
  q->Bind(5, t.shape).Bind(6, t.bytes).Bind(7, t.sweep_id).Bind(8, t.status);
  q->BindText(9, t.reason).BindText(10, t.impl);
  BindStats(*q, 11, t.stats);
  q->Bind(19, t.measured_at.empty() ? NowUtc() : t.measured_at);
  BindTruth(*q, 20, t.stats);
  q->Run(fmt::format("storing transition (unit {}, {}>{}, {}, {})", t.unit_id, t.src_layout,
                     t.dst_layout, t.dtype, t.shape));
}

void Database::PutTransfer(const TransferRow& t) {
  static const std::string sql = fmt::format(
      "INSERT INTO transfers(src_unit_id, dst_unit_id, method, bytes, sweep_id, status, reason, "
      "median_us, p10_us, p90_us, mean_us, stddev_us, min_us, repetitions, rel_ci, measured_at, {0}) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, "
      "?20, ?21, ?22) ON CONFLICT(src_unit_id, dst_unit_id, method, bytes) DO UPDATE SET {1}, "
      "sweep_id = excluded.sweep_id, status = excluded.status, reason = excluded.reason, "
      "median_us = excluded.median_us, p10_us = excluded.p10_us, p90_us = excluded.p90_us, "
      "mean_us = excluded.mean_us, stddev_us = excluded.stddev_us, min_us = excluded.min_us, "
      "repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, "
      "measured_at = excluded.measured_at",
      kTruthColumns, kTruthUpdate);
  auto q = impl_->Q(sql.c_str());
  q->Bind(1, t.src_unit_id).Bind(2, t.dst_unit_id).Bind(3, t.method).Bind(4, t.bytes);
  q->Bind(5, t.sweep_id).Bind(6, t.status).BindText(7, t.reason);
  BindStats(*q, 8, t.stats);
  q->Bind(16, t.measured_at.empty() ? NowUtc() : t.measured_at);
  BindTruth(*q, 17, t.stats);
  q->Run(fmt::format("storing transfer (unit {} to {}, {}, {} bytes)", t.src_unit_id, t.dst_unit_id,
                     t.method, t.bytes));
}

void Database::PutValidation(const ValidationRow& v) {
  auto q = impl_->Q(
      "INSERT INTO validations(target_id, model, model_hash, plan, strategy, predicted_us, "
      "measured_us, p10_us, p90_us, repetitions, status, reason, measured_at, validation, inputs, "
      "details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
  q->Bind(1, v.target_id).Bind(2, v.model).Bind(3, v.model_hash).Bind(4, v.plan);
  q->Bind(5, v.strategy).Bind(6, v.predicted_us).Bind(7, v.measured_us).Bind(8, v.p10_us);
  q->Bind(9, v.p90_us).Bind(10, v.repetitions).Bind(11, v.status).BindText(12, v.reason);
  q->Bind(13, v.measured_at.empty() ? NowUtc() : v.measured_at);
  q->BindText(14, v.validation).BindText(15, v.inputs).BindText(16, v.details);
  q->Run(fmt::format("storing validation of {} ({})", v.model, v.strategy));
}

std::vector<std::string> Database::DoneKeys(int64_t target_id) {
  // Failed points are left out so that a resumed sweep retries them.
  Stmt q(impl_->db, impl_->path,
         "SELECT m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || m.dtype "
         "FROM measurements m JOIN units u ON u.id = m.unit_id "
         "WHERE u.target_id = ?1 AND m.status <> 'failed' "
         "UNION ALL "
         "SELECT t.unit_id || '|' || t.src_layout || '|' || t.dst_layout || '|' || t.dtype || '|' || "
         "t.shape FROM transitions t JOIN units u ON u.id = t.unit_id "
         "WHERE u.target_id = ?1 AND t.status <> 'failed' "
         "UNION ALL "
         "SELECT x.src_unit_id || '|' || x.dst_unit_id || '|' || x.method || '|' || x.bytes "
         "FROM transfers x JOIN units u ON u.id = x.src_unit_id "
         "WHERE u.target_id = ?1 AND x.status <> 'failed'");
  q.Bind(1, target_id);
  std::vector<std::string> out;
  while (q.Step()) out.push_back(q.Text(0));
  return out;
}

void Database::PutVisit(const VisitRow& v) {
  static const std::string sql = fmt::format(
      "INSERT INTO visits(sweep_id, kind, key, visit, settled, status, reason, impl, is_reference, "
      "chosen_layout, config, median_us, p10_us, p90_us, mean_us, stddev_us, min_us, repetitions, "
      "rel_ci, measured_at, {0}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
      "?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26) "
      "ON CONFLICT(kind, key, visit) DO UPDATE SET {1}, sweep_id = excluded.sweep_id, "
      "settled = excluded.settled, status = excluded.status, reason = excluded.reason, "
      "impl = excluded.impl, is_reference = excluded.is_reference, "
      "chosen_layout = excluded.chosen_layout, config = excluded.config, "
      "median_us = excluded.median_us, p10_us = excluded.p10_us, p90_us = excluded.p90_us, "
      "mean_us = excluded.mean_us, stddev_us = excluded.stddev_us, min_us = excluded.min_us, "
      "repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, measured_at = excluded.measured_at",
      kTruthColumns, kTruthUpdate);
  auto q = impl_->Q(sql.c_str());
  q->Bind(1, v.sweep_id).Bind(2, v.kind).Bind(3, v.key).Bind(4, v.visit);
  q->Bind(5, int64_t{v.settled ? 1 : 0}).Bind(6, v.status).BindText(7, v.reason).BindText(8, v.impl);
  q->Bind(9, int64_t{v.is_reference ? 1 : 0}).BindText(10, v.chosen_layout).BindText(11, v.config);
  BindStats(*q, 12, v.stats);
  q->Bind(20, v.measured_at.empty() ? NowUtc() : v.measured_at);
  BindTruth(*q, 21, v.stats);
  q->Run(fmt::format("storing visit {} of {} {} ({})", v.visit, v.kind, v.key, v.status));
}

namespace {
// Visits as the query `where` selects them (its one parameter bound to `arg`), by kind, key and visit.
template <typename Arg>
std::vector<VisitRow> ReadVisits(sqlite3* db, const std::string& path, const char* where, const Arg& arg) {
  Stmt q(db, path,
         fmt::format("SELECT id, sweep_id, kind, key, visit, settled, status, reason, impl, "
                     "is_reference, chosen_layout, config, measured_at, {} FROM visits WHERE {} "
                     "ORDER BY kind, key, visit",
                     kStatsColumns, where));
  q.Bind(1, arg);
  std::vector<VisitRow> out;
  while (q.Step()) {
    VisitRow v;
    v.id = q.Int(0);
    v.sweep_id = q.Int(1);
    v.kind = q.Text(2);
    v.key = q.Text(3);
    v.visit = q.Int(4);
    v.settled = q.Int(5) != 0;
    v.status = q.Text(6);
    v.reason = q.Text(7);
    v.impl = q.Text(8);
    v.is_reference = q.Int(9) != 0;
    v.chosen_layout = q.Text(10);
    v.config = q.Text(11);
    v.measured_at = q.Text(12);
    v.stats = ReadStats(q, 13);
    out.push_back(std::move(v));
  }
  return out;
}
}  // namespace

std::vector<VisitRow> Database::OpenVisits(int64_t target_id) {
  return ReadVisits(impl_->db, impl_->path,
                    "settled = 0 AND sweep_id IN (SELECT id FROM sweeps WHERE target_id = ?1)", target_id);
}

std::vector<VisitRow> Database::Visits(const std::string& kind) {
  return ReadVisits(impl_->db, impl_->path, "kind = ?1", kind);
}

void Database::SettleVisits(const std::string& kind, const std::string& key) {
  auto q = impl_->Q("UPDATE visits SET settled = 1 WHERE kind = ?1 AND key = ?2 AND settled = 0");
  q->Bind(1, kind).Bind(2, key);
  q->Run(fmt::format("settling the visits of {} {}", kind, key));
}

std::vector<MeasurementRow> Database::Measurements(std::optional<int64_t> unit_id,
                                                   const std::string& op) {
  Stmt q(impl_->db, impl_->path,
         fmt::format("SELECT m.id, m.problem_id, m.unit_id, m.layout, m.src_layout, m.dst_layout, "
                     "m.dtype, m.sweep_id, m.status, m.reason, m.impl, m.is_reference, "
                     "m.chosen_layout, m.config, m.measured_at, {} FROM measurements m "
                     "JOIN problems p ON p.id = m.problem_id "
                     "WHERE (?1 IS NULL OR m.unit_id = ?1) AND (?2 = '' OR p.op = ?2) ORDER BY m.id",
                     kStatsColumns));
  q.Bind(1, unit_id).Bind(2, op);
  std::vector<MeasurementRow> out;
  while (q.Step()) {
    MeasurementRow m;
    m.id = q.Int(0);
    m.problem_id = q.Int(1);
    m.unit_id = q.Int(2);
    m.layout = q.Text(3);
    m.src_layout = q.Text(4);
    m.dst_layout = q.Text(5);
    m.dtype = q.Text(6);
    m.sweep_id = q.OptInt(7);
    m.status = q.Text(8);
    m.reason = q.Text(9);
    m.impl = q.Text(10);
    m.is_reference = q.Int(11) != 0;
    m.chosen_layout = q.Text(12);
    m.config = q.Text(13);
    m.measured_at = q.Text(14);
    m.stats = ReadStats(q, 15);
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<TransitionRow> Database::Transitions(std::optional<int64_t> unit_id) {
  Stmt q(impl_->db, impl_->path,
         fmt::format("SELECT id, unit_id, src_layout, dst_layout, dtype, shape, bytes, sweep_id, "
                     "status, reason, impl, measured_at, {} FROM transitions "
                     "WHERE ?1 IS NULL OR unit_id = ?1 ORDER BY id",
                     kStatsColumns));
  q.Bind(1, unit_id);
  std::vector<TransitionRow> out;
  while (q.Step()) {
    TransitionRow t;
    t.id = q.Int(0);
    t.unit_id = q.Int(1);
    t.src_layout = q.Text(2);
    t.dst_layout = q.Text(3);
    t.dtype = q.Text(4);
    t.shape = q.Text(5);
    t.bytes = q.Int(6);
    t.sweep_id = q.OptInt(7);
    t.status = q.Text(8);
    t.reason = q.Text(9);
    t.impl = q.Text(10);
    t.measured_at = q.Text(11);
    t.stats = ReadStats(q, 12);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TransferRow> Database::Transfers() {
  Stmt q(impl_->db, impl_->path,
         fmt::format("SELECT id, src_unit_id, dst_unit_id, method, bytes, sweep_id, status, reason, "
                     "measured_at, {} FROM transfers ORDER BY id",
                     kStatsColumns));
  std::vector<TransferRow> out;
  while (q.Step()) {
    TransferRow t;
    t.id = q.Int(0);
    t.src_unit_id = q.Int(1);
    t.dst_unit_id = q.Int(2);
    t.method = q.Text(3);
    t.bytes = q.Int(4);
    t.sweep_id = q.OptInt(5);
    t.status = q.Text(6);
    t.reason = q.Text(7);
    t.measured_at = q.Text(8);
    t.stats = ReadStats(q, 9);
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<ValidationRow> Database::Validations() {
  Stmt q(impl_->db, impl_->path,
         "SELECT id, target_id, model, model_hash, plan, strategy, predicted_us, measured_us, p10_us, "
         "p90_us, repetitions, status, reason, measured_at, validation, inputs, details "
         "FROM validations ORDER BY id");
  std::vector<ValidationRow> out;
  while (q.Step()) {
    ValidationRow v;
    v.id = q.Int(0);
    v.target_id = q.Int(1);
    v.model = q.Text(2);
    v.model_hash = q.Text(3);
    v.plan = q.Text(4);
    v.strategy = q.Text(5);
    v.predicted_us = q.Real(6);
    v.measured_us = q.OptReal(7);
    v.p10_us = q.OptReal(8);
    v.p90_us = q.OptReal(9);
    v.repetitions = q.OptInt(10);
    v.status = q.Text(11);
    v.reason = q.Text(12);
    v.measured_at = q.Text(13);
    v.validation = q.Text(14);
    v.inputs = q.Text(15);
    v.details = q.Text(16);
    out.push_back(std::move(v));
  }
  return out;
}

std::vector<Database::Count> Database::MeasurementCounts() {
  Stmt q(impl_->db, impl_->path,
         "SELECT p.op, u.name, m.layout, m.dtype, m.status, count(*), u.target_id, "
         "sum(m.is_reference) FROM measurements m JOIN problems p ON p.id = m.problem_id "
         "JOIN units u ON u.id = m.unit_id GROUP BY u.target_id, u.name, p.op, m.layout, m.dtype, "
         "m.status ORDER BY u.target_id, u.name, p.op, m.dtype, m.layout, m.status");
  std::vector<Count> out;
  while (q.Step()) {
    Count c;
    c.op = q.Text(0);
    c.unit = q.Text(1);
    c.layout = q.Text(2);
    c.dtype = q.Text(3);
    c.status = q.Text(4);
    c.count = q.Int(5);
    c.target_id = q.Int(6);
    c.references = q.Int(7);
    out.push_back(std::move(c));
  }
  return out;
}

Database::Totals Database::CountRows() {
  Stmt q(impl_->db, impl_->path,
         "SELECT (SELECT count(*) FROM targets), (SELECT count(*) FROM units), "
         "(SELECT count(*) FROM sweeps), (SELECT count(*) FROM problems), "
         "(SELECT count(*) FROM measurements), (SELECT count(*) FROM transitions), "
         "(SELECT count(*) FROM transfers), (SELECT count(*) FROM validations)");
  q.Step();
  Totals t;
  t.targets = q.Int(0);
  t.units = q.Int(1);
  t.sweeps = q.Int(2);
  t.problems = q.Int(3);
  t.measurements = q.Int(4);
  t.transitions = q.Int(5);
  t.transfers = q.Int(6);
  t.validations = q.Int(7);
  return t;
}

void Database::Checkpoint() {
  if (impl_->mode != Mode::kReadWrite) {
    throw Error(fmt::format("{}: cannot checkpoint a database opened read-only", impl_->path));
  }
  {
    Stmt q(impl_->db, impl_->path, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (q.Step("checkpointing the write-ahead log") && q.Int(0) != 0) {
      throw Error(fmt::format("{}: cannot checkpoint: another connection is using the file",
                              impl_->path));
    }
  }
  Stmt q(impl_->db, impl_->path, "PRAGMA journal_mode = DELETE");
  const std::string jm = q.Step("leaving WAL mode") ? Lower(q.Text(0)) : "";
  if (jm != "delete") {
    throw Error(fmt::format("{}: cannot leave WAL mode (journal mode stays '{}'): another connection "
                            "has the file open",
                            impl_->path, jm));
  }
}

std::string Database::IntegrityCheck() {
  Stmt q(impl_->db, impl_->path, "PRAGMA integrity_check");
  std::string out;
  while (q.Step("checking integrity")) {
    if (!out.empty()) out += "; ";
    out += q.Text(0);
  }
  return out;
}

}  // namespace layoutdb::db
