// Kills at every moment: a real sweep, merge and export are stopped with SIGKILL during discovery,
// in the middle of a point, at every step of a commit (each write, sync and truncation of the file, its
// write-ahead log and its index, through a preloaded shim: kill_shim.c) and during the final checkpoint,
// then run again. Points committed before a kill keep their first sweep_id and values, no point is lost
// or doubled, the file passes `PRAGMA integrity_check`, and a killed merge or export never leaves an
// output that looks complete. Under the sanitizers, a sample of the moments (printed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "hardening_util.h"
#include "tests/sample.h"

namespace layoutdb::hardening {
namespace {

// A few points of every kind the sweep stores, each timed briefly.
// No re-visits (revisit_share 0): they depend on the timings, and killing at the k-th file call needs
// the same calls in every run; the visits themselves (3 a point) are as in any sweep.
constexpr const char* kSpec = R"({
  "name": "kills",
  "dtypes": ["f32"],
  "measure": {"warmup": 1, "min_reps": 3, "max_reps": 30, "target_rel_ci": 0.05, "budget_s": 0.04,
              "revisit_share": 0},
  "problems": [
    {"name": "k", "keys": ["eltwise:relu:mb1c16h14w14", "softmax:mb1c10h1w1", "matmul:mb1m16n32k16",
      "pool:max:mb1ic16ih14iw14kh2kw2sh2sw2ph0pw0", "conv2d:mb1ic8ih10iw10oc16kh3kw3sh1sw1ph0pw0g1",
      "binary:add:mb1c8h4w4", "ip:mb1ic16oc16"]}
  ],
  "transitions": {"shapes": ["mb1c16h8w8"], "dtypes": ["f32"]}
})";

// A stored point and what must never change once it is committed.
struct Point {
  std::string sweep_id, status, values;
  bool operator==(const Point& o) const {
    return sweep_id == o.sweep_id && status == o.status && values == o.values;
  }
};
using Points = std::map<std::string, Point>;

// Every point of a file, keyed by what identifies it across runs; a key seen twice is an error.
Points ReadPoints(const std::string& db, std::vector<std::string>* doubled = nullptr) {
  Points p;
  auto add = [&](const std::vector<std::string>& rows) {
    for (const auto& r : rows) {
      // key|...|sweep_id|status|values
      std::vector<std::string> f;
      size_t at = 0;
      for (size_t bar; (bar = r.find('|', at)) != std::string::npos; at = bar + 1) f.push_back(r.substr(at, bar - at));
      f.push_back(r.substr(at));
      if (f.size() < 4) continue;
      const std::string key = f[0];
      Point pt{f[1], f[2], f[3]};
      if (!p.emplace(key, pt).second && doubled) doubled->push_back(key);
    }
  };
  add(Query(db, "SELECT p.key || ' ' || u.name || ' ' || m.layout || ' ' || m.dtype, m.sweep_id, m.status, "
                "coalesce(m.median_us, '') || ',' || coalesce(m.p10_us, '') || ',' || coalesce(m.repetitions, '') "
                "|| ',' || coalesce(m.impl, '') FROM measurements m JOIN problems p ON p.id = m.problem_id "
                "JOIN units u ON u.id = m.unit_id"));
  add(Query(db, "SELECT 'reorder ' || u.name || ' ' || t.src_layout || '>' || t.dst_layout || ' ' || t.dtype || ' ' || "
                "t.shape, t.sweep_id, t.status, coalesce(t.median_us, '') || ',' || coalesce(t.repetitions, '') "
                "FROM transitions t JOIN units u ON u.id = t.unit_id"));
  return p;
}

std::set<std::string> Keys(const Points& p) {
  std::set<std::string> k;
  for (const auto& [key, unused] : p) k.insert(key);
  return k;
}

class Kills : public ::testing::Test {
 protected:
  void SetUp() override {
    spec_ = dir_.File("kills.json");
    WriteBytes(spec_, kSpec);
  }
  void TearDown() override {
    if (!moments_.empty()) {
      std::string line;
      int total = 0;
      for (const auto& [moment, n] : moments_) {
        line += fmt::format("{}{} {}", line.empty() ? "" : ", ", n, moment);
        total += n;
      }
      std::printf("[ kills ] %d survived: %s\n", total, line.c_str());
    }
  }

  std::vector<std::string> SweepArgs(const std::string& db) const {
    // Hot: the kills do not depend on the cache mode, and the warm default flushes before every run.
    return {"sweep", "--db", db, "--spec", spec_, "--units", "cpu", "--quiet", "--cache", "hot"};
  }

  // Runs the program with the kill shim preloaded: SIGKILL just before the `at`-th write, sync or
  // truncation of a file whose path contains `match` (0: never; the shim then counts them).
  Result WithShim(const std::vector<std::string>& args, const std::string& match, long at, std::string* log) {
    const std::string log_path = dir_.File("shim.log");
    fs::remove(log_path);
    RunOptions o;
    o.timeout_s = 120;
    o.env = {{"LD_PRELOAD", LAYOUTDB_KILL_SHIM},
             {"LAYOUTDB_KILL_MATCH", match},
             {"LAYOUTDB_KILL_AT", std::to_string(at)},
             {"LAYOUTDB_KILL_LOG", log_path},
             {"ASAN_OPTIONS", Env("ASAN_OPTIONS") + (Env("ASAN_OPTIONS").empty() ? "" : ":") +
                                  "verify_asan_link_order=0"}};
    Result r = Layoutdb(args, o);
    *log = Slurp(log_path);
    return r;
  }
  // How many writes, syncs and truncations of `match` files an uninterrupted run makes.
  long CountCalls(const std::vector<std::string>& args, const std::string& match) {
    std::string log;
    const Result r = WithShim(args, match, 0, &log);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(log.rfind("count ", 0), 0u) << log;
    return log.rfind("count ", 0) == 0 ? std::stol(log.substr(6)) : 0;
  }

  // What the shim's line says was interrupted: the file and the call.
  static std::string Moment(const std::string& log, bool late = false) {
    auto has = [&](const char* s) { return log.find(s) != std::string::npos; };
    const bool wal = has("-wal,"), shm = has("-shm,"), journal = has("-journal,");
    const bool sync = has("sync("), truncate = has("ftruncate");
    if (wal && truncate) return "truncating the WAL (checkpoint)";
    if (wal && sync) return "syncing the WAL (commit)";
    if (wal) return "writing the WAL (commit)";
    if (shm) return "writing the WAL index";
    if (journal) return "writing the rollback journal (journal mode switch)";
    if (sync) return late ? "syncing the file (checkpoint)" : "syncing the file (creation)";
    if (truncate) return "truncating the file";
    return late ? "copying pages into the file (checkpoint)" : "writing the file (creation)";
  }

  // After a kill: the file (if any) opens, is intact, and still holds every point of `before` as it was.
  void ExpectIntactAfterKill(const std::string& db, const Points& before, const std::string& what) {
    SCOPED_TRACE(what);
    if (!fs::exists(db)) {
      EXPECT_TRUE(before.empty());
      return;
    }
    // A reader first: it must read the file (rolling back what the killed writer left half done) or,
    // for a file killed while it was being created (before or between its migrations), say so in one line.
    const Result info = Layoutdb({"info", "--db", db});
    if (info.code != 0) {
      EXPECT_TRUE(OneErrorLine(info));
      const std::string e = ErrorText(info);
      EXPECT_TRUE(e == db + ": empty file, not yet a layoutdb database" ||
                  (e.rfind(db + ": schema version ", 0) == 0 && e.find(", older than this layoutdb (") != std::string::npos))
          << e;
      EXPECT_TRUE(before.empty());
    }
    EXPECT_EQ(IntegrityCheck(db), "ok");
    std::vector<std::string> doubled;
    const Points after = ReadPoints(db, &doubled);
    EXPECT_TRUE(doubled.empty()) << doubled.front();
    for (const auto& [key, pt] : before) {
      auto it = after.find(key);
      if (it == after.end()) {
        ADD_FAILURE() << "lost " << key;
      } else {
        EXPECT_TRUE(it->second == pt) << key << ": sweep " << pt.sweep_id << " " << pt.values << " became sweep "
                                      << it->second.sweep_id << " " << it->second.values;
      }
    }
  }

  // Runs the same command again until it completes; checks the result against an uninterrupted run.
  void ResumeAndCompare(const std::string& db, const Points& before, const std::set<std::string>& want,
                        const std::string& what) {
    SCOPED_TRACE(what);
    const Result r = Layoutdb(SweepArgs(db));
    ASSERT_EQ(r.code, 0) << r.err;
    ExpectIntactAfterKill(db, before, what + ", resumed");
    EXPECT_EQ(Keys(ReadPoints(db)), want);
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM problems"), problems_);
    EXPECT_EQ(Scalar(db, "SELECT status FROM sweeps ORDER BY id DESC LIMIT 1"), "completed");
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM sweeps WHERE status = 'running'"), "0");
    EXPECT_FALSE(fs::exists(db + "-wal") && fs::file_size(db + "-wal") > 0) << "the finished file stands alone";
    ExpectVisitsWhole(db);
  }

  // Visits (schema 5): none left open; each candidate's visits numbered 1..n without a gap (none lost,
  // none doubled: the table's key is unique), every timed candidate visited at least 3 times (the
  // default), and every ok row made from exactly its visits (its repetitions are theirs summed).
  static void ExpectVisitsWhole(const std::string& db) {
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM visits WHERE settled = 0"), "0");
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM (SELECT count(*) AS n, max(visit) AS top FROM visits "
                         "GROUP BY kind, key) WHERE n <> top"), "0");
    const std::string timed =
        "FROM measurements m JOIN visits v ON v.kind = 'measurement' AND "
        "v.key = m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || m.dtype "
        "WHERE m.status = 'ok' AND m.is_reference = 0 GROUP BY m.id";
    EXPECT_EQ(Scalar(db, "SELECT min(n) FROM (SELECT count(*) AS n " + timed + ")"), "3");
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM (SELECT m.repetitions AS r, sum(v.repetitions) AS s " + timed +
                             ") WHERE r <> s"), "0");
    EXPECT_EQ(Scalar(db, "SELECT count(*) FROM measurements m WHERE m.status = 'ok' AND NOT EXISTS (SELECT 1 "
                         "FROM visits v WHERE v.kind = 'measurement' AND v.key = m.problem_id || '|' || "
                         "m.unit_id || '|' || m.layout || '|' || m.dtype)"), "0");
  }

  TempDir dir_;
  std::string spec_, problems_;
  std::map<std::string, int> moments_;
};

// Spread over 1..n: the first `head` (creating the file), `middle` evenly between (commits), four among
// the last 40 (the final checkpoint copying pages into the file) and the last `tail` (its truncation of
// the log and the switch out of WAL).
std::vector<long> Spread(long n, int head, int middle, int tail) {
  std::set<long> s;
  for (long k = 1; k <= std::min<long>(n, head); ++k) s.insert(k);
  for (int i = 1; i <= middle; ++i) s.insert(std::max<long>(1, n * i / (middle + 1)));
  for (long back : {40, 28, 18, 11}) s.insert(std::max<long>(1, n - back));
  for (long k = std::max<long>(1, n - tail + 1); k <= n; ++k) s.insert(k);
  return {s.begin(), s.end()};
}

TEST_F(Kills, SweepKilledAtEveryStepOfCommitsAndCheckpointResumes) {
  const std::string ref = dir_.File("ref.db");
  const long calls = CountCalls(SweepArgs(ref), "ref.db");
  const std::set<std::string> want = Keys(ReadPoints(ref));
  problems_ = Scalar(ref, "SELECT count(*) FROM problems");
  ASSERT_GT(want.size(), 8u);
  ASSERT_GT(calls, 20);

  // A fresh sweep killed at one step, then resumed. Under the sanitizers every 6th of these moments
  // (tests/sample.h): each is two sweeps there, of seconds each.
  for (long at : layoutdb::testing::Sample("kill moments of a fresh sweep", 6).Of(Spread(calls, 4, 6, 6))) {
    const std::string db = dir_.File(fmt::format("k{}.db", at));
    std::string log;
    Result r = WithShim(SweepArgs(db), fs::path(db).filename().string(), at, &log);
    // A run may make a few file calls fewer than the reference: its rows differ a little in size
    // (SQLite stores a whole REAL as an integer), and so do its page splits and WAL frames; with three
    // visits a point there are enough rows for that to happen near the end. Such a run finishes; kill
    // a fresh one at the same distance from its own end instead.
    for (int retry = 0; retry < 3 && r.code == 0 && log.rfind("count ", 0) == 0; ++retry) {
      const long own = std::stol(log.substr(6));
      ASSERT_LT(own, at) << log;
      for (const char* ext : {"", "-wal", "-shm"}) fs::remove(db + ext);
      r = WithShim(SweepArgs(db), fs::path(db).filename().string(), std::max(1L, own - (calls - at)), &log);
    }
    ASSERT_EQ(r.code, 128 + SIGKILL) << "call " << at << " of " << calls << ": " << r.err;
    ++moments_[Moment(log, at > calls / 2)];
    const Points before = fs::exists(db) ? ReadPoints(db) : Points{};
    ExpectIntactAfterKill(db, before, log);
    ResumeAndCompare(db, before, want, log);
  }

  // One file, killed again and again, each resumed run a few steps later than the one before (its
  // bookkeeping first, then inside its points), until a run completes. Under the sanitizers twice as
  // many steps later: about half as many runs.
  const long step = 9 * static_cast<long>(layoutdb::testing::Sample("", 2).every());
  const std::string chain = dir_.File("chain.db");
  Points before;
  int runs = 0;
  for (; runs < 40; ++runs) {
    std::string log;
    const Result r = WithShim(SweepArgs(chain), "chain.db", 5 + step * runs, &log);
    if (r.code == 0) break;
    ASSERT_EQ(r.code, 128 + SIGKILL) << r.err;
    ++moments_["resumed run: " + Moment(log, true)];
    ExpectIntactAfterKill(chain, before, "chain run " + std::to_string(runs) + ": " + log);
    before = ReadPoints(chain);
  }
  EXPECT_GT(runs, 3) << "the chain should take several killed runs";
  std::printf("[ kills ] chain: %d killed runs, each %ld steps later than the one before\n", runs, step);
  ResumeAndCompare(chain, before, want, "chain");
}

TEST_F(Kills, SweepKilledAtTimesDuringDiscoveryAndMidPointResumes) {
  const std::string ref = dir_.File("ref.db");
  Result r = Layoutdb(SweepArgs(ref));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::set<std::string> want = Keys(ReadPoints(ref));
  problems_ = Scalar(ref, "SELECT count(*) FROM problems");
  const double run_s = r.seconds;
  const std::vector<double> times = {0.01, 0.05, 0.15, 0.3 * run_s, 0.45 * run_s, 0.6 * run_s, 0.75 * run_s,
                                     0.9 * run_s};
  for (double at : layoutdb::testing::Sample("kill times", 2).Of(times)) {
    const std::string db = dir_.File(fmt::format("t{}.db", static_cast<int>(at * 1000)));
    const std::string out = dir_.File("out.log"), err = dir_.File("err.log");
    const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const pid_t pid = Spawn(SweepArgs(db), {}, out_fd, err_fd);
    close(out_fd);
    close(err_fd);
    std::this_thread::sleep_for(std::chrono::duration<double>(at));
    kill(pid, SIGKILL);
    bool timed_out = false;
    const int code = WaitFor(pid, 60, &timed_out);
    const std::string what = fmt::format("killed after {:.2f} s", at);
    if (code != 128 + SIGKILL) {
      // The run finished first (a fast machine): nothing to resume.
      EXPECT_EQ(code, 0) << what << ": " << Slurp(err);
      continue;
    }
    const Points before = fs::exists(db) ? ReadPoints(db) : Points{};
    ++moments_[!fs::exists(db) ? "before the file existed (discovery)"
                               : before.empty() ? "before the first point" : "between or inside points (timed)"];
    ExpectIntactAfterKill(db, before, what);
    ResumeAndCompare(db, before, want, what);
  }
}

// Three shards of the spec, merged.
class MergeExportKills : public Kills {
 protected:
  void SetUp() override {
    Kills::SetUp();
    for (int k = 0; k < 3; ++k) {
      shards_.push_back(dir_.File(fmt::format("shard{}.db", k)));
      auto args = SweepArgs(shards_.back());
      args.insert(args.end(), {"--shard", fmt::format("{}/3", k)});
      const Result r = Layoutdb(args);
      ASSERT_EQ(r.code, 0) << r.err;
    }
  }
  std::vector<std::string> MergeArgs(const std::string& out, size_t first = 0) const {
    std::vector<std::string> a = {"merge", "--out", out};
    a.insert(a.end(), shards_.begin() + static_cast<long>(first), shards_.end());
    return a;
  }
  std::vector<std::string> shards_;
};

TEST_F(MergeExportKills, KilledMergeLeavesNoHalfFileAndRerunCompletes) {
  const std::string ref = dir_.File("merged-ref.db");
  const long calls = CountCalls(MergeArgs(ref), "merged-ref.db");
  const Points want = ReadPoints(ref);
  ASSERT_GT(calls, 5);
  // Into a new file: after the kill there is no file of that name (only OUT.partial); a rerun completes.
  // Under the sanitizers every 2nd moment here and below (tests/sample.h).
  for (long at : layoutdb::testing::Sample("kill moments of a merge", 2).Of(Spread(calls, 3, 4, 5))) {
    const std::string out = dir_.File(fmt::format("m{}.db", at));
    std::string log;
    const Result r = WithShim(MergeArgs(out), fs::path(out).filename().string(), at, &log);
    ASSERT_EQ(r.code, 128 + SIGKILL) << r.err;
    ++moments_["merge into a new file: " + Moment(log, at > calls / 2)];
    EXPECT_FALSE(fs::exists(out)) << log;
    const Result again = Layoutdb(MergeArgs(out));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(IntegrityCheck(out), "ok");
    EXPECT_EQ(ReadPoints(out), want) << log;
    EXPECT_FALSE(fs::exists(out + ".partial"));
  }
  // Into an existing file (shard 0): each input is merged whole or not at all; a rerun completes.
  const long calls_existing = [&] {
    const std::string out = dir_.File("count-existing.db");
    fs::copy_file(shards_[0], out);
    return CountCalls(MergeArgs(out, 1), "count-existing.db");
  }();
  const Points shard0 = ReadPoints(shards_[0]);
  const auto into_existing = layoutdb::testing::Sample("kill moments of a merge into a file", 2);
  for (long at : into_existing.Of(Spread(calls_existing, 2, 4, 4))) {
    const std::string out = dir_.File(fmt::format("e{}.db", at));
    fs::copy_file(shards_[0], out);
    std::string log;
    const Result r = WithShim(MergeArgs(out, 1), fs::path(out).filename().string(), at, &log);
    ASSERT_EQ(r.code, 128 + SIGKILL) << r.err;
    ++moments_["merge into an existing file: " + Moment(log, at > calls_existing / 2)];
    ExpectIntactAfterKill(out, shard0, log);
    const Points now = ReadPoints(out);
    EXPECT_TRUE(now == shard0 || now == want) << "a killed merge left part of a batch: " << log;
    const Result again = Layoutdb(MergeArgs(out, 1));
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(ReadPoints(out), want) << log;
  }
}

TEST_F(MergeExportKills, KilledExportLeavesNoFileAndRerunCompletes) {
  const std::string src = dir_.File("src.db");
  ASSERT_EQ(Layoutdb(MergeArgs(src)).code, 0);
  const std::string ref = dir_.File("app-ref.db");
  const long calls = CountCalls({"export", "--db", src, "--out", ref}, "app-ref.db");
  const Points want = ReadPoints(ref);
  ASSERT_GT(calls, 5);
  for (long at : layoutdb::testing::Sample("kill moments of an export", 2).Of(Spread(calls, 3, 4, 5))) {
    const std::string out = dir_.File(fmt::format("app{}.db", at));
    std::string log;
    const Result r = WithShim({"export", "--db", src, "--out", out}, fs::path(out).filename().string(), at, &log);
    ASSERT_EQ(r.code, 128 + SIGKILL) << r.err;
    ++moments_["export: " + Moment(log, at > calls / 2)];
    EXPECT_FALSE(fs::exists(out)) << "a killed export left " << out << ": " << log;
    const Result again = Layoutdb({"export", "--db", src, "--out", out});
    ASSERT_EQ(again.code, 0) << again.err;
    EXPECT_EQ(ReadPoints(out), want);
    EXPECT_EQ(IntegrityCheck(out), "ok");
    EXPECT_FALSE(fs::exists(out + ".partial") || fs::exists(out + "-wal"));
  }
}

}  // namespace
}  // namespace layoutdb::hardening
