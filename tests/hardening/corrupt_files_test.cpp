// Corrupt and foreign files: a database cut short, random bytes, another application's SQLite file, a
// newer schema, an empty file, a folder, a problem row edited by hand, a read-only file or folder, a
// full disk. Every command that meets one prints exactly one line saying what and where, exits non-zero
// (below 128), and leaves the file's bytes as they were.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <regex>

#include "hardening_util.h"
#include "layoutdb/problem.h"

namespace layoutdb::hardening {
namespace {

const char* kModel = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";

// The schema version this layoutdb writes: its migrations are schema/NNN_*.sql, numbered from 1.
int LatestSchemaVersion() {
  int n = 0;
  for (const auto& e : fs::directory_iterator(SourceDir() / "schema"))
    if (std::regex_match(e.path().filename().string(), std::regex(R"(\d{3}_.*\.sql)"))) ++n;
  return n;
}

void RawSql(const std::string& path, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

class CorruptFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::permissions(dir_.path(), fs::perms::all);  // nobody may read and write in it
    good_ = dir_.File("good.db");
    fs::copy_file(QuickDb(), good_);
    ASSERT_TRUE(fs::exists(kModel)) << "libonnx-testdata is not installed (scripts/setup.sh)";
  }

  // Every command that reads a database, given `db`.
  std::vector<std::vector<std::string>> Readers(const std::string& db) const {
    return {{"info", "--db", db},
            {"info", "--db", db, "--json"},
            {"select", kModel, "--db", db},
            {"run", kModel, "--db", db, "--repeat", "1"},
            {"export", "--db", db, "--out", dir_.File("exported.db")},
            {"merge", "--out", dir_.File("merged.db"), db}};
  }
  std::vector<std::string> Sweep(const std::string& db) const {
    return {"sweep", "--db", db, "--spec", "quick", "--units", "cpu", "--dtypes", "f32", "--quiet", "--cache", "hot"};
  }

  // Runs each command on `db` and expects the one line "layoutdb: error: <db>: <what>", the file
  // untouched, and no output file left behind.
  void ExpectRefused(const std::string& db, const std::vector<std::vector<std::string>>& commands,
                     const std::string& what, RunOptions o = {}) {
    const std::string before = Slurp(db);
    for (const auto& args : commands) {
      SCOPED_TRACE(args.front());
      const Result r = Layoutdb(args, o);
      EXPECT_TRUE(OneErrorLine(r)) << r.out;
      EXPECT_EQ(ErrorText(r), db + ": " + what);
      EXPECT_EQ(r.out, "");
      EXPECT_TRUE(Slurp(db) == before) << "the command changed " << db;
      for (const char* suffix : {"-wal", "-shm", "-journal"}) EXPECT_FALSE(fs::exists(db + suffix)) << suffix;
      EXPECT_FALSE(fs::exists(dir_.File("exported.db")));
      EXPECT_FALSE(fs::exists(dir_.File("merged.db")));
      ++refusals_;
    }
  }
  void TearDown() override {
    if (refusals_) std::printf("[ refusals ] %d commands refused with one line each\n", refusals_);
  }

  TempDir dir_;
  std::string good_;
  int refusals_ = 0;
};

TEST_F(CorruptFiles, TruncatedDatabase) {
  const std::string bytes = Slurp(good_);
  const std::string cut = dir_.File("cut.db");
  WriteBytes(cut, bytes.substr(0, bytes.size() / 2));
  auto commands = Readers(cut);
  commands.push_back(Sweep(cut));
  ExpectRefused(cut, commands,
                fmt::format("database disk image is malformed: truncated ({} of {} bytes)",
                            bytes.size() / 2, bytes.size()));
  WriteBytes(cut, bytes.substr(0, 50));
  ExpectRefused(cut, commands, "database disk image is malformed: truncated to 50 bytes");
}

TEST_F(CorruptFiles, RandomBytes) {
  std::mt19937 rng(11);
  std::string bytes(8192, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  const std::string f = dir_.File("random.db");
  WriteBytes(f, bytes);
  auto commands = Readers(f);
  commands.push_back(Sweep(f));
  ExpectRefused(f, commands, "file is not a database (not an SQLite file)");
}

TEST_F(CorruptFiles, ForeignSqliteFiles) {
  const std::string plain = dir_.File("notes.db");
  RawSql(plain, "CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes(text) VALUES ('x')");
  auto commands = Readers(plain);
  commands.push_back(Sweep(plain));
  ExpectRefused(plain, commands,
                "not a layoutdb database (an SQLite file of another application: 1 schema objects and no "
                "layoutdb application_id)");
  const std::string other = dir_.File("other.db");
  RawSql(other, "PRAGMA application_id = 1297238596; CREATE TABLE t(x)");
  commands = Readers(other);
  commands.push_back(Sweep(other));
  ExpectRefused(other, commands, "not a layoutdb database (SQLite application_id 0x4d524a44; layoutdb's is 0x4c594442)");
}

TEST_F(CorruptFiles, NewerSchemaVersion) {
  const int latest = LatestSchemaVersion();
  ASSERT_GT(latest, 0);
  const std::string f = dir_.File("newer.db");
  fs::copy_file(good_, f);
  RawSql(f, fmt::format("PRAGMA user_version = {}", latest + 1));
  auto commands = Readers(f);
  commands.push_back(Sweep(f));
  ExpectRefused(f, commands,
                fmt::format("schema version {}, newer than this layoutdb ({}): upgrade layoutdb", latest + 1, latest));
}

// SQLite's user_version is signed: a negative one (found by fuzz_database) was taken as "older" and
// migrated from index -N of the embedded migrations (UBSan: out-of-range vector index).
TEST_F(CorruptFiles, NegativeSchemaVersion) {
  const std::string f = dir_.File("negative.db");
  fs::copy_file(good_, f);
  RawSql(f, "PRAGMA user_version = -285212668");
  auto commands = Readers(f);
  commands.push_back(Sweep(f));
  ExpectRefused(f, commands, "schema version -285212668 is negative: not a version layoutdb wrote");
}

TEST_F(CorruptFiles, EmptyFileAndFolder) {
  const std::string empty = dir_.File("empty.db");
  WriteBytes(empty, "");
  ExpectRefused(empty, Readers(empty), "empty file, not yet a layoutdb database");
  const std::string folder = dir_.File("folder.db");
  fs::create_directory(folder);
  auto commands = Readers(folder);
  commands.push_back(Sweep(folder));
  ExpectRefused(folder, commands, "is a directory, not a layoutdb file");
}

TEST_F(CorruptFiles, ProblemRowEditedSoItsHashNoLongerMatches) {
  const std::string f = dir_.File("edited.db");
  fs::copy_file(good_, f);
  const std::string key = Scalar(f, "SELECT key FROM problems WHERE op = 'conv2d' ORDER BY id LIMIT 1");
  const std::string id = Scalar(f, "SELECT id FROM problems WHERE op = 'conv2d' ORDER BY id LIMIT 1");
  ASSERT_EQ(key.rfind("conv2d:mb1", 0), 0u) << key;
  const std::string edited = "conv2d:mb2" + key.substr(10);  // batch 1 becomes 2, the hash stays
  RawSql(f, fmt::format("UPDATE problems SET key = '{}' WHERE id = {}", edited, id));
  auto commands = Readers(f);
  commands.push_back(Sweep(f));
  ExpectRefused(f, commands,
                fmt::format("problem {} '{}': stored key_hash {} does not match its key ({}): the row was altered",
                            id, edited, HashHex(key), HashHex(edited)));
}

// A stored hash (or key) holding a newline and bytes that are not UTF-8 (found by fuzz_database) is
// quoted, escaped, so the refusal stays one line.
TEST_F(CorruptFiles, ProblemHashWithANewline) {
  const std::string f = dir_.File("newline.db");
  fs::copy_file(good_, f);
  const std::string key = Scalar(f, "SELECT key FROM problems ORDER BY id LIMIT 1");
  const std::string id = Scalar(f, "SELECT id FROM problems ORDER BY id LIMIT 1");
  RawSql(f, fmt::format("UPDATE problems SET key_hash = 'fe' || char(10) || CAST(x'ff' AS TEXT) || '5b' "
                        "WHERE id = {}", id));
  auto commands = Readers(f);
  commands.push_back(Sweep(f));
  ExpectRefused(f, commands,
                fmt::format("problem {} '{}': stored key_hash fe\\n\ufffd5b does not match its key ({}): the row "
                            "was altered", id, key, HashHex(key)));
}

// As root, permissions do not stop a write: the commands then run as nobody, as a user would.
TEST_F(CorruptFiles, ReadOnlyFileAndFolder) {
  RunOptions nobody;
  nobody.unprivileged = true;
  nobody.env["POCL_CACHE_DIR"] = dir_.File("pocl");
  if (geteuid() == 0 && Layoutdb({"--version"}, nobody).code != 0)
    GTEST_SKIP() << "cannot run " << Bin() << " as nobody (a folder above it is closed to others)";
  const std::string f = dir_.File("readonly.db");
  fs::copy_file(good_, f);
  fs::permissions(f, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  ExpectRefused(f, {Sweep(f), {"merge", "--out", f, good_}},
                "cannot open for writing (the file or its folder is read-only)", nobody);
  // Reading it is fine.
  Result r = Layoutdb({"info", "--db", f}, nobody);
  EXPECT_EQ(r.code, 0) << r.err;
  r = Layoutdb({"select", kModel, "--db", f}, nobody);
  EXPECT_EQ(r.code, 0) << r.err;

  const std::string folder = dir_.File("readonly");
  fs::create_directory(folder);
  const std::string g = folder + "/layout.db";
  fs::copy_file(good_, g);
  fs::permissions(g, fs::perms::all);
  fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                              fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  const std::string cause = "cannot write in its folder " + folder +
                            " (Permission denied): a database being written needs its -wal and -shm files beside it";
  ExpectRefused(g, {Sweep(g), {"merge", "--out", g, good_}}, cause, nobody);
  for (const auto& out : {folder + "/app.db", folder + "/merged.db"}) {
    const std::vector<std::string> args =
        out.find("app") != std::string::npos ? std::vector<std::string>{"export", "--db", good_, "--out", out}
                                             : std::vector<std::string>{"merge", "--out", out, good_};
    r = Layoutdb(args, nobody);
    EXPECT_TRUE(OneErrorLine(r));
    EXPECT_EQ(ErrorText(r), out + ": cannot write in its folder " + folder +
                                " (Permission denied): a database being written needs its -wal and -shm files "
                                "beside it");
    EXPECT_FALSE(fs::exists(out));
  }
  r = Layoutdb({"info", "--db", g}, nobody);
  EXPECT_EQ(r.code, 0) << r.err;
  fs::permissions(folder, fs::perms::all);
}

// A small tmpfs mounted for the test (root only; skipped with a message where mounting is not allowed).
class FullDisk : public CorruptFiles {
 protected:
  void SetUp() override {
    CorruptFiles::SetUp();
    mnt_ = dir_.File("disk");
    fs::create_directory(mnt_);
    if (mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=8m") != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs at " << mnt_ << " (" << std::strerror(errno)
                   << "): the full-disk cases need root";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(mnt_.c_str(), MNT_DETACH);
    CorruptFiles::TearDown();
  }
  // Fills the disk but `free_kib`.
  void Fill(int64_t free_kib) {
    const std::string filler = mnt_ + "/filler";
    fs::remove(filler);
    const auto space = fs::space(mnt_);
    const int64_t bytes = static_cast<int64_t>(space.available) - free_kib * 1024;
    if (bytes > 0) WriteBytes(filler, std::string(static_cast<size_t>(bytes), '\0'));
  }
  std::string mnt_;
  bool mounted_ = false;
};

TEST_F(FullDisk, NothingFitsNothingChanges) {
  const std::string f = mnt_ + "/layout.db";
  fs::copy_file(good_, f);
  Fill(0);
  const std::string full = "database or disk is full (no space left on its disk; what was committed before is kept)";
  ExpectRefused(f, {Sweep(f), {"merge", "--out", f, good_}}, "switching to WAL journal: " + full);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"export", "--db", good_, "--out", mnt_ + "/app.db"}, {"merge", "--out", mnt_ + "/merged.db", good_}}) {
    const std::string out = args[args[0] == "export" ? 4 : 2];
    const Result r = Layoutdb(args);
    EXPECT_TRUE(OneErrorLine(r));
    EXPECT_EQ(ErrorText(r), out + ": switching to WAL journal: " + full);
    EXPECT_FALSE(fs::exists(out)) << "a failed " << args[0] << " left its output behind";
  }
  // Reading needs no space.
  const Result r = Layoutdb({"select", kModel, "--db", f});
  EXPECT_EQ(r.code, 0) << r.err;
}

// Many small points, each its own commit, so that the disk fills up in the middle of the sweep.
constexpr const char* kFillSpec = R"({"name": "fill", "dtypes": ["f32"],
  "measure": {"warmup": 1, "min_reps": 3, "max_reps": 20, "target_rel_ci": 0.05, "budget_s": 0.01},
  "problems": [{"name": "relu", "op": "eltwise", "alg": "relu",
    "grid": {"mb": [1], "c": [8, 16, 24, 32, 40], "h": [4, 8, 12, 16, 20], "w": ["h"]}}]})";

TEST_F(FullDisk, FillingUpMidSweepKeepsEveryCommittedPointAndResumes) {
  const std::string f = mnt_ + "/layout.db";
  fs::copy_file(good_, f);
  const std::string spec = dir_.File("fill.json");
  WriteBytes(spec, kFillSpec);
  const std::string points = "SELECT problem_id, unit_id, layout, dtype, sweep_id, median_us FROM measurements";
  const auto before = Query(f, points + " ORDER BY 1, 2, 3, 4");
  Fill(120);
  const std::vector<std::string> more = {"sweep", "--db", f, "--spec", spec, "--units", "cpu", "--quiet", "--cache", "hot"};
  const Result r = Layoutdb(more);
  EXPECT_TRUE(OneErrorLine(r));
  const std::string e = ErrorText(r);
  const std::string suffix = ": database or disk is full (no space left on its disk; what was committed before is kept)";
  EXPECT_EQ(e.rfind(f + ": ", 0), 0u) << e;
  EXPECT_EQ(e.substr(e.size() - std::min(e.size(), suffix.size())), suffix) << e;
  EXPECT_EQ(IntegrityCheck(f), "ok");
  const auto after = Query(f, points + " WHERE sweep_id = 1 ORDER BY 1, 2, 3, 4");
  EXPECT_EQ(after, before) << "points stored before the disk filled up changed";
  // A sweep commits visit by visit (each point's row once, from its visits, in the last pass).
  const std::string visits = "SELECT kind, key, visit, median_us FROM visits";
  const int stored = std::stoi(Scalar(f, "SELECT count(*) FROM visits WHERE sweep_id > 1"));
  EXPECT_GT(stored, 0) << "the disk filled up before the first visit: make the free space larger";
  // Space again: the same command resumes and completes, keeping what was committed.
  const auto committed = Query(f, points + " WHERE sweep_id > 1 ORDER BY 1, 2, 3, 4");
  const auto committed_visits = Query(f, visits + " WHERE sweep_id > 1 ORDER BY 1, 2, 3");
  fs::remove(mnt_ + "/filler");
  const Result again = Layoutdb(more);
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(IntegrityCheck(f), "ok");
  EXPECT_EQ(Scalar(f, "SELECT count(*) FROM measurements WHERE sweep_id > 1"), "125");
  const auto kept = Query(f, points + " WHERE sweep_id = 2 ORDER BY 1, 2, 3, 4");
  EXPECT_EQ(kept, committed);
  EXPECT_EQ(Query(f, visits + " WHERE sweep_id = 2 ORDER BY 1, 2, 3"), committed_visits);
  EXPECT_EQ(Scalar(f, "SELECT count(*) FROM visits WHERE settled = 0"), "0");
  std::printf("[ full disk ] %d visits were committed before the disk filled up; %s\n", stored, e.c_str());
}

}  // namespace
}  // namespace layoutdb::hardening
