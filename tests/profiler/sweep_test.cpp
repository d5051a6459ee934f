// End-to-end tests of `layoutdb sweep`: the real program, a real SQLite file, real oneDNN kernels.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "layoutdb/profiler/sweep.h"

namespace {

namespace fs = std::filesystem;

// A small spec: a dozen quick problems on the CPU, so a sweep takes a few seconds.
constexpr const char* kSpec = R"({
  "name": "tiny",
  "dtypes": ["f32"],
  "measure": {"warmup": 1, "min_reps": 5, "max_reps": 40, "target_rel_ci": 0.02, "budget_s": 0.15},
  "problems": [
    {"name": "conv", "op": "conv2d", "grid": {"mb": [1], "ic": [8, 16], "ih": [10, 14], "iw": ["ih"],
      "oc": [16], "kh": [1, 3], "kw": ["kh"], "sh": [1], "sw": [1], "ph": [0], "pw": [0], "g": [1]}},
    {"name": "other", "keys": ["eltwise:relu:mb1c16h14w14", "pool:max:mb1ic16ih14iw14kh2kw2sh2sw2ph0pw0",
      "matmul:mb1m16n32k16", "softmax:mb1c10h1w1"]}
  ],
  "transitions": {"shapes": ["mb1c16h8w8"], "dtypes": ["f32"]}
})";

struct ProcessResult {
  int code = -1;
  std::string out;  // stdout + stderr
};

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* bin = std::getenv("LAYOUTDB_BIN");
    ASSERT_NE(bin, nullptr) << "run through ctest (LAYOUTDB_BIN names the program)";
    bin_ = bin;
    dir_ = fs::temp_directory_path() /
           ("layoutdb-sweep-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    spec_ = (dir_ / "tiny.json").string();
    std::ofstream(spec_) << kSpec;
    // The same points, each timed for its whole budget (a CI target of 0 is never reached), so that a
    // sweep lasts long enough (>= 1.3 s) to be killed in the middle on any machine.
    std::string slow = kSpec;
    auto replace = [&slow](const std::string& from, const std::string& to) {
      slow.replace(slow.find(from), from.size(), to);
    };
    replace("\"target_rel_ci\": 0.02", "\"target_rel_ci\": 0");
    replace("\"max_reps\": 40", "\"max_reps\": 100000");
    slow_spec_ = (dir_ / "slow.json").string();
    std::ofstream(slow_spec_) << slow;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Starts the program; returns its pid. Output goes to `log`.
  pid_t Start(const std::vector<std::string>& args, const std::string& log) {
    const pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(bin_.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      freopen(log.c_str(), "w", stdout);
      dup2(fileno(stdout), STDERR_FILENO);
      execv(bin_.c_str(), argv.data());
      _exit(127);
    }
    return pid;
  }
  ProcessResult Wait(pid_t pid, const std::string& log) {
    int status = 0;
    waitpid(pid, &status, 0);
    ProcessResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::ifstream in(log);
    std::stringstream ss;
    ss << in.rdbuf();
    r.out = ss.str();
    return r;
  }
  ProcessResult Exec(const std::vector<std::string>& args) {
    const std::string log = (dir_ / ("log" + std::to_string(++runs_))).string();
    return Wait(Start(args, log), log);
  }
  std::vector<std::string> SweepArgs(const std::string& db, std::vector<std::string> extra = {},
                                     bool slow = false) {
    std::vector<std::string> a = DefaultModeSweepArgs(db, extra, slow);
    // Hot unless the test says otherwise: what these tests check does not depend on the cache mode,
    // and the default, warm, flushes caches before every run (several times the test's time).
    if (std::find(extra.begin(), extra.end(), "--cache") == extra.end()) a.insert(a.end(), {"--cache", "hot"});
    return a;
  }
  // The same without a cache mode unless `extra` gives one: the default's.
  std::vector<std::string> DefaultModeSweepArgs(const std::string& db, const std::vector<std::string>& extra = {},
                                                bool slow = false) {
    std::vector<std::string> a = {"sweep", "--db", db, "--spec", slow ? slow_spec_ : spec_, "--units", "cpu"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Rows of a query, each row's columns joined by '|'.
  static std::vector<std::string> Query(const std::string& db, const std::string& sql) {
    sqlite3* h = nullptr;
    EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);  // a sweep may be writing the file right now
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
    std::vector<std::string> rows;
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
    if (rows.empty()) rows.push_back("(no rows)");
    return rows;
  }
  // Every stored point as problem|unit|layout|dtype (measurements) or unit|src|dst|shape (transitions).
  static std::multiset<std::string> Points(const std::string& db) {
    std::multiset<std::string> s;
    for (auto& r : Query(db, "SELECT p.key, u.name, m.layout, m.dtype, m.status FROM measurements m "
                             "JOIN problems p ON p.id = m.problem_id JOIN units u ON u.id = m.unit_id"))
      if (r != "(no rows)") s.insert(r);
    for (auto& r : Query(db, "SELECT u.name, t.src_layout, t.dst_layout, t.dtype, t.shape, t.status FROM "
                             "transitions t JOIN units u ON u.id = t.unit_id"))
      if (r != "(no rows)") s.insert(r);
    return s;
  }

  // The visits of a finished sweep: none open, each candidate's numbered 1..n (none lost, none
  // doubled), every timed candidate (ok, not a reference kernel) visited at least 3 times, and its row
  // made from exactly them.
  static void ExpectVisitsWhole(const std::string& db) {
    EXPECT_EQ(Query(db, "SELECT count(*) FROM visits WHERE settled = 0")[0], "0");
    EXPECT_EQ(Query(db, "SELECT count(*) FROM (SELECT count(*) AS n, max(visit) AS top FROM visits GROUP BY "
                        "kind, key) WHERE n <> top")[0], "0");
    EXPECT_EQ(Query(db, "SELECT min(n) FROM (SELECT count(*) AS n " + kTimedVisits + ")")[0], "3");
    EXPECT_EQ(Query(db, "SELECT count(*) FROM (SELECT m.repetitions AS r, sum(v.repetitions) AS s " +
                            kTimedVisits + ") WHERE r <> s")[0], "0");
  }
  static inline const std::string kTimedVisits =
      "FROM measurements m JOIN visits v ON v.kind = 'measurement' AND "
      "v.key = m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || m.dtype "
      "WHERE m.status = 'ok' AND m.is_reference = 0 GROUP BY m.id";

  std::string bin_, spec_, slow_spec_;
  fs::path dir_;
  int runs_ = 0;
};

TEST_F(SweepTest, DryRunListsAndValidatesWithoutTouchingTheDatabase) {
  const std::string db = (dir_ / "dry.db").string();
  const ProcessResult r = Exec(SweepArgs(db, {"--dry-run"}));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("cpu conv2d:mb1ic8ih10iw10oc16kh1kw1sh1sw1ph0pw0g1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dry run: spec tiny"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(db));
}

TEST_F(SweepTest, StoresEveryPointOnceWithStatisticsAndImplementation) {
  const std::string db = (dir_ / "a.db").string();
  const ProcessResult r = Exec(SweepArgs(db));
  ASSERT_EQ(r.code, 0) << r.out;
  const auto points = Points(db);
  EXPECT_EQ(std::set<std::string>(points.begin(), points.end()).size(), points.size());
  // 8 convs + 4 others = 12 problems; 12 reorder pairs of 4 layouts.
  EXPECT_EQ(Query(db, "SELECT count(*) FROM problems")[0], "12");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM transitions WHERE status = 'ok'")[0], "12");
  // Every ok row has its statistics and the implementation oneDNN chose; p10 <= median <= p90; at
  // least 3 timed runs (the floor; the spec's min_reps of 5 holds only while runs fit in 4x the
  // point's budget, which a loaded machine breaks: this test failed there with 3).
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE status = 'ok' AND (impl IS NULL OR impl = '' "
                      "OR NOT (p10_us <= median_us AND median_us <= p90_us) OR repetitions < 3)")[0],
            "0");
  // Convolutions ran in every CPU layout and in oneDNN's own choice, which names what it chose.
  EXPECT_EQ(Query(db, "SELECT group_concat(DISTINCT layout) FROM (SELECT m.layout FROM measurements m JOIN "
                      "problems p ON p.id = m.problem_id WHERE p.op = 'conv2d' AND m.status = 'ok' "
                      "ORDER BY m.layout)")[0],
            "any,nChw16c,nChw8c,nchw,nhwc");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE layout = 'any' AND status = 'ok' AND "
                      "(chosen_layout IS NULL OR chosen_layout = '')")[0],
            "0");
  EXPECT_EQ(Query(db, "SELECT status FROM sweeps")[0], "completed");
  EXPECT_EQ(Query(db, "PRAGMA integrity_check")[0], "ok");
  EXPECT_FALSE(fs::exists(db + "-wal") && fs::file_size(db + "-wal") > 0) << "finished file stands alone";

  // A second run of the same command measures nothing again.
  const ProcessResult again = Exec(SweepArgs(db));
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("(13 resumed)"), std::string::npos) << again.out;
  EXPECT_EQ(Points(db), points);
  // Its calibration is set against the first sweep's; the first had none to compare with.
  EXPECT_EQ(r.out.find("against the file's earlier sweeps"), std::string::npos) << r.out;
  EXPECT_NE(again.out.find("against the file's earlier sweeps: compute x"), std::string::npos) << again.out;
}

TEST_F(SweepTest, KilledWithSigkillResumesWithoutLosingOrDoublingPoints) {
  const std::string db = (dir_ / "k.db").string();
  const std::string ref = (dir_ / "ref.db").string();
  ASSERT_EQ(Exec(SweepArgs(ref)).code, 0);
  const auto expected = Points(ref);

  const std::string log = (dir_ / "killed.log").string();
  const pid_t pid = Start(SweepArgs(db, {}, /*slow=*/true), log);
  // Kill in the second pass, once a few points have their second visit committed.
  for (int i = 0; i < 800; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (fs::exists(db) && Query(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'visits'")[0] == "1" &&
        std::stoi(Query(db, "SELECT count(DISTINCT key) FROM visits WHERE visit = 2")[0]) >= 3)
      break;
  }
  kill(pid, SIGKILL);
  const ProcessResult killed = Wait(pid, log);
  EXPECT_EQ(killed.code, 128 + SIGKILL) << killed.out;
  const auto visits_before = Query(db, "SELECT kind, key, visit, median_us FROM visits ORDER BY kind, key, visit");
  EXPECT_NE(visits_before[0], "(no rows)");
  EXPECT_LT(Points(db).size(), expected.size()) << "killed too late to test resuming";

  const ProcessResult resumed = Exec(SweepArgs(db));
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  const auto got = Points(db);
  std::set<std::string> keys_got, keys_expected;
  for (const auto& p : got) keys_got.insert(p.substr(0, p.rfind('|')));
  for (const auto& p : expected) keys_expected.insert(p.substr(0, p.rfind('|')));
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_EQ(keys_got, keys_expected);
  EXPECT_EQ(Query(db, "PRAGMA integrity_check")[0], "ok");
  EXPECT_EQ(Query(db, "SELECT group_concat(status) FROM (SELECT status FROM sweeps ORDER BY id)")[0],
            "interrupted,completed");
  ExpectVisitsWhole(db);
  // Every visit committed before the kill is still there, unchanged, and counted once.
  const auto visits_after = Query(db, "SELECT kind, key, visit, median_us FROM visits ORDER BY kind, key, visit");
  const std::set<std::string> after(visits_after.begin(), visits_after.end());
  for (const auto& v : visits_before) EXPECT_EQ(after.count(v), 1u) << "lost or changed: " << v;
}

TEST_F(SweepTest, SigintStopsCleanlyAfterCommitting) {
  const std::string db = (dir_ / "i.db").string();
  const std::string log = (dir_ / "int.log").string();
  const pid_t pid = Start(SweepArgs(db, {}, /*slow=*/true), log);
  for (int i = 0; i < 400; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (fs::exists(db) && Query(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'sweeps'")[0] == "1" &&
        std::stoi(Query(db, "SELECT coalesce(max(points_done), 0) FROM sweeps")[0]) >= 2)
      break;
  }
  kill(pid, SIGINT);
  const ProcessResult r = Wait(pid, log);
  EXPECT_EQ(r.code, 130) << r.out;
  EXPECT_NE(r.out.find("run the same command again to resume"), std::string::npos) << r.out;
  EXPECT_EQ(Query(db, "SELECT status FROM sweeps")[0], "interrupted");
  EXPECT_EQ(Query(db, "PRAGMA integrity_check")[0], "ok");
}

TEST_F(SweepTest, MergedShardsEqualAnUnshardedSweep) {
  const std::string whole = (dir_ / "whole.db").string();
  ASSERT_EQ(Exec(SweepArgs(whole)).code, 0);
  std::vector<std::string> shards;
  for (int k = 0; k < 3; ++k) {
    shards.push_back((dir_ / ("s" + std::to_string(k) + ".db")).string());
    const ProcessResult r = Exec(SweepArgs(shards.back(), {"--shard", std::to_string(k) + "/3", "--quiet"}));
    ASSERT_EQ(r.code, 0) << r.out;
    EXPECT_EQ(r.out, "") << "--quiet prints nothing but errors";
  }
  // The shards are disjoint.
  std::multiset<std::string> sum;
  for (const auto& s : shards)
    for (const auto& p : Points(s)) sum.insert(p);
  EXPECT_EQ(std::set<std::string>(sum.begin(), sum.end()).size(), sum.size());

  const std::string merged = (dir_ / "merged.db").string();
  std::vector<std::string> args = {"merge", "--out", merged};
  args.insert(args.end(), shards.begin(), shards.end());
  const ProcessResult m = Exec(args);
  ASSERT_EQ(m.code, 0) << m.out;
  EXPECT_EQ(Points(merged), Points(whole));
  EXPECT_EQ(Query(merged, "SELECT count(*) FROM targets")[0], "1");
  EXPECT_EQ(Query(merged, "SELECT count(*) FROM sweeps")[0], "3");
}

TEST_F(SweepTest, RefusesUnknownNamesWithOneLine) {
  const std::string db = (dir_ / "u.db").string();
  ProcessResult r = Exec(SweepArgs(db, {"--ops", "conv3d"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "layoutdb: error: unknown op 'conv3d' in --ops (known: conv2d, matmul, ip, pool, eltwise, "
                   "binary, softmax, bnorm, lnorm, concat, resample, transpose, slice, pad, reduce, deconv, "
                   "prelu)\n");
  r = Exec({"sweep", "--db", db, "--spec", spec_, "--units", "gpu:7"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out.rfind("layoutdb: error: unit 'gpu:7' not found; this machine has: cpu", 0), 0u) << r.out;
  EXPECT_FALSE(fs::exists(db));
}

TEST_F(SweepTest, RefusesADatabaseOfAnotherTargetUnlessAsked) {
  const std::string db = (dir_ / "t.db").string();
  ASSERT_EQ(Exec(SweepArgs(db, {"--ops", "softmax"})).code, 0);
  {  // Pretend the file came from another machine.
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "UPDATE targets SET fingerprint = 'feedfacefeedface', cpu_model = 'Other CPU'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(h);
  }
  const auto before = Points(db);
  ProcessResult r = Exec(SweepArgs(db, {"--ops", "softmax"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("holds measurements of another target (Other CPU"), std::string::npos) << r.out;
  EXPECT_EQ(Points(db), before);
  r = Exec(SweepArgs(db, {"--ops", "softmax", "--add-target"}));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Query(db, "SELECT count(*) FROM targets")[0], "2");
  EXPECT_EQ(Points(db).size(), 2 * before.size());
}


// ---- measurement truth: one writer per file, how each point was measured ----

// Waits until the sweep writing `db` has stored its sweep row (and so holds the file's lock).
void WaitForSweepRow(const std::string& db, pid_t pid) {
  for (int i = 0; i < 800; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (fs::exists(db) && fs::file_size(db) > 0) {
      sqlite3* h = nullptr;
      bool found = false;
      if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 2000);
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(h, "SELECT count(*) FROM sweeps", -1, &st, nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
          found = sqlite3_column_int(st, 0) > 0;
        sqlite3_finalize(st);
      }
      sqlite3_close(h);
      if (found) return;
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "the sweep ended before it stored its sweep row";
  }
  FAIL() << "no sweep row after 20 s";
}

TEST_F(SweepTest, ASecondSweepOfAFileBeingWrittenIsRefusedWithOneLine) {
  const std::string db = (dir_ / "w.db").string();
  const std::string log = (dir_ / "first.log").string();
  const pid_t first = Start(SweepArgs(db, {"--quiet"}, /*slow=*/true), log);
  WaitForSweepRow(db, first);
  const ProcessResult second = Exec(SweepArgs(db, {"--quiet"}));
  EXPECT_EQ(second.code, 1);
  EXPECT_EQ(second.out, "layoutdb: error: " + db +
                            ": another sweep is writing this file; wait for it to finish, or sweep into another "
                            "file\n");
  // The first one was neither marked interrupted nor disturbed: it finishes as if alone.
  EXPECT_EQ(Query(db, "SELECT count(*) || ' ' || sum(status = 'interrupted') FROM sweeps")[0], "1 0");
  const ProcessResult r = Wait(first, log);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Query(db, "SELECT group_concat(status) FROM sweeps")[0], "completed");
  // Once it is done, the same command runs (and finds everything stored).
  const ProcessResult again = Exec(SweepArgs(db));
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_NE(again.out.find("(13 resumed)"), std::string::npos) << again.out;
}

TEST_F(SweepTest, FinishesWhileAReaderHasTheFileOpenAndSaysItStaysInWal) {
  const std::string db = (dir_ / "r.db").string();
  const std::string log = (dir_ / "sweep.log").string();
  const pid_t pid = Start(SweepArgs(db), log);
  WaitForSweepRow(db, pid);
  sqlite3* reader = nullptr;  // a reader holding the file open to the end, as `info` or a selector might
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &reader, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_busy_timeout(reader, 5000);
  ASSERT_EQ(sqlite3_exec(reader, "SELECT count(*) FROM measurements", nullptr, nullptr, nullptr), SQLITE_OK);
  const ProcessResult r = Wait(pid, log);
  sqlite3_close(reader);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("layoutdb: note: " + db +
                       ": stays in WAL mode: another connection has the file open (every point is committed; "
                       "the next writer that finds the file alone makes it self-contained again)\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(Query(db, "SELECT status FROM sweeps")[0], "completed");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM problems")[0], "12");
  EXPECT_EQ(Query(db, "PRAGMA integrity_check")[0], "ok");
  // Alone again, the next run of the same command leaves one self-contained file.
  const ProcessResult again = Exec(SweepArgs(db));
  EXPECT_EQ(again.code, 0) << again.out;
  EXPECT_EQ(again.out.find("stays in WAL"), std::string::npos) << again.out;
  EXPECT_FALSE(fs::exists(db + "-wal") && fs::file_size(db + "-wal") > 0);
}

TEST_F(SweepTest, StoresHowEachPointWasMeasured) {
  const std::string db = (dir_ / "m.db").string();
  const ProcessResult r = Exec(DefaultModeSweepArgs(db));
  ASSERT_EQ(r.code, 0) << r.out;
  // Every ok point says whether it reached its target, on which clock, with the host's time beside it
  // (the CPU's figure is the host's), and in which cache mode (a new file's default: warm).
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE status = 'ok' AND (stable IS NULL OR "
                      "timer <> 'host' OR host_median_us <> median_us OR cache_mode <> 'warm')")[0],
            "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM transitions WHERE status = 'ok' AND (stable IS NULL OR "
                      "host_median_us IS NULL OR cache_mode <> 'warm')")[0],
            "0");
  // A point is stable exactly when its interval reached the spec's target (2%).
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements WHERE status = 'ok' AND is_reference = 0 AND "
                      "stable <> (rel_ci <= 0.02 AND repetitions >= 6)")[0],
            "0");
  // The view shows them.
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurement_view WHERE status = 'ok' AND stable IS NOT NULL AND "
                      "timer = 'host' AND cache_mode = 'warm'")[0],
            Query(db, "SELECT count(*) FROM measurements WHERE status = 'ok'")[0]);
  // The summary line counts them (operators and reorders alike).
  const std::string stable = Query(db, "SELECT (SELECT count(*) FROM measurements WHERE status = 'ok' AND stable = 1) "
                                       "+ (SELECT count(*) FROM transitions WHERE status = 'ok' AND stable = 1)")[0];
  const std::string ok = Query(db, "SELECT (SELECT count(*) FROM measurements WHERE status = 'ok') + "
                                   "(SELECT count(*) FROM transitions WHERE status = 'ok')")[0];
  EXPECT_NE(r.out.find(fmt::format("candidates: {} ok ({} stable, {} not within their budget: CI above 2%)", ok,
                                   stable, std::stoi(ok) - std::stoi(stable))),
            std::string::npos)
      << r.out;
  // The sweep records its cache mode and the CPUs it could use; calibrations at its start and end.
  EXPECT_EQ(Query(db, "SELECT cache_mode FROM sweeps")[0], "warm");
  EXPECT_GE(std::stoi(Query(db, "SELECT json_extract(execution, '$.threads') FROM sweeps")[0]), 1);
  EXPECT_EQ(Query(db, "SELECT group_concat(DISTINCT kernel) FROM (SELECT kernel FROM calibrations ORDER BY kernel)")[0],
            "compute,memory");
  EXPECT_GE(std::stoi(Query(db, "SELECT count(*) FROM calibrations WHERE kernel = 'compute'")[0]), 2);
  EXPECT_EQ(Query(db, "SELECT min(points_done) || ' ' || max(points_done) FROM calibrations")[0], "0 13");
  EXPECT_NE(r.out.find("machine over the sweep ("), std::string::npos) << r.out;
  // With two threads or more, where they were: every timed pass asked the gate, and the file keeps the
  // fastest and the median probe (the median of the files' sweeps is validate's reference) with the passes
  // that waited or ran apart.
  if (std::stoi(Query(db, "SELECT json_extract(execution, '$.threads') FROM sweeps")[0]) >= 2) {
    EXPECT_GT(std::stod(Query(db, "SELECT json_extract(execution, '$.placement.lowest_ns') FROM sweeps")[0]), 0);
    EXPECT_GT(std::stoi(Query(db, "SELECT json_extract(execution, '$.placement.checks') FROM sweeps")[0]), 13);
    EXPECT_GE(std::stod(Query(db, "SELECT json_extract(execution, '$.placement.median_ns') FROM sweeps")[0]),
              std::stod(Query(db, "SELECT json_extract(execution, '$.placement.lowest_ns') FROM sweeps")[0]));
    EXPECT_NE(r.out.find("threads' placement: a cache line between two CPU threads in "), std::string::npos) << r.out;
  }
}

TEST_F(SweepTest, ColdCacheSweepIsAnotherTargetAndSaysSo) {
  const std::string db = (dir_ / "c.db").string();
  ASSERT_EQ(Exec(SweepArgs(db, {"--ops", "softmax"})).code, 0);
  const auto hot_fingerprint = Query(db, "SELECT fingerprint FROM targets")[0];
  ProcessResult r = Exec(SweepArgs(db, {"--ops", "softmax", "--cache", "cold"}));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("holds measurements of another target"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cold cache). Use another file, or pass --add-target"), std::string::npos) << r.out;
  r = Exec(SweepArgs(db, {"--ops", "softmax", "--cache", "cold", "--add-target"}));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("; cold cache -> "), std::string::npos) << r.out;
  EXPECT_EQ(Query(db, "SELECT count(*) FROM targets")[0], "2");
  EXPECT_EQ(Query(db, "SELECT group_concat(cache_mode) FROM (SELECT cache_mode FROM sweeps ORDER BY id)")[0],
            "hot,cold");
  EXPECT_EQ(Query(db, "SELECT group_concat(DISTINCT v.cache_mode) FROM measurement_view v WHERE v.target <> '" +
                          hot_fingerprint + "'")[0],
            "cold");
  r = Exec(SweepArgs(db, {"--cache", "tepid"}));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--cache"), std::string::npos) << r.out;
}

// The warm mode (each thread's private caches evicted, the weights flushed, the kernel's inputs read
// back) is a target of its own beside hot, stored as such, and its kernels still pass their checks. A
// sweep given no mode takes the mode of this machine's newest target in the file, so that a file swept
// hot resumes hot (before warm became the default, every file was), and warm after a warm target.
TEST_F(SweepTest, WarmCacheSweepIsAnotherTargetAndASweepWithoutAModeKeepsTheFiles) {
  const std::string db = (dir_ / "w.db").string();
  ASSERT_EQ(Exec(SweepArgs(db, {"--ops", "softmax", "--cache", "hot"})).code, 0);
  ProcessResult r = Exec(DefaultModeSweepArgs(db, {"--ops", "softmax"}));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("warm cache"), std::string::npos) << r.out;
  r = Exec(SweepArgs(db, {"--ops", "softmax,conv2d", "--cache", "warm", "--add-target"}));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("; warm cache -> "), std::string::npos) << r.out;
  EXPECT_EQ(Query(db, "SELECT count(DISTINCT fingerprint) FROM targets")[0], "2");
  r = Exec(DefaultModeSweepArgs(db, {"--ops", "softmax,conv2d"}));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Query(db, "SELECT count(*) FROM targets")[0], "2");
  EXPECT_EQ(Query(db, "SELECT group_concat(cache_mode) FROM (SELECT cache_mode FROM sweeps ORDER BY id)")[0],
            "hot,hot,warm,warm");
  EXPECT_NE(Query(db, "SELECT count(*) FROM measurements m JOIN sweeps s ON s.id = m.sweep_id "
                      "WHERE s.cache_mode = 'warm' AND m.cache_mode = 'warm' AND m.status = 'ok' AND m.median_us > 0")[0],
            "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements m JOIN sweeps s ON s.id = m.sweep_id "
                      "WHERE s.cache_mode = 'warm' AND m.status = 'failed'")[0],
            "0");
}

}  // namespace

namespace layoutdb::profiler {
namespace {

TEST_F(SweepTest, EveryPointIsVisitedInPassesAndItsRowIsMadeFromItsVisits) {
  const std::string db = (dir_ / "v.db").string();
  const ProcessResult r = Exec(SweepArgs(db));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("3 visits a point"), std::string::npos) << r.out;
  ExpectVisitsWhole(db);
  // Passes: every point's first visit before any second one, every second before any third, so that
  // the visits of one point are a pass apart.
  EXPECT_EQ(Query(db, "SELECT (SELECT max(id) FROM visits WHERE visit = 1) < (SELECT min(id) FROM visits WHERE "
                      "visit = 2) AND (SELECT max(id) FROM visits WHERE visit = 2) < (SELECT min(id) FROM visits "
                      "WHERE visit = 3)")[0], "1");
  // The stored median is the quietest visit's (the lowest of 3), the interval at least 2.42x their
  // range (another sweep's quietest of 3 falls there 95% of the time), and stable means within the
  // spec's 2%.
  const std::string three =
      "SELECT m.median_us AS med, m.rel_ci AS ci, m.stable AS st, (SELECT v.median_us FROM visits v WHERE "
      "v.kind = 'measurement' AND v.key = m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || m.dtype "
      "ORDER BY v.median_us LIMIT 1) AS quiet, (SELECT (max(v.median_us) - min(v.median_us)) FROM visits v "
      "WHERE v.kind = 'measurement' AND v.key = m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || "
      "m.dtype) AS range, (SELECT count(*) FROM visits v WHERE v.kind = 'measurement' AND v.key = m.problem_id "
      "|| '|' || m.unit_id || '|' || m.layout || '|' || m.dtype) AS n FROM measurements m WHERE m.status = 'ok' "
      "AND m.is_reference = 0";
  EXPECT_NE(Query(db, "SELECT count(*) FROM (" + three + ") WHERE n = 3")[0], "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM (" + three + ") WHERE n = 3 AND med <> quiet")[0], "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM (" + three + ") WHERE n = 3 AND ci < 2.42 * range / med - 1e-9")[0],
            "0");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM (" + three + ") WHERE st <> (ci <= 0.02)")[0], "0");
  // Reference kernels and unsupported candidates are visited once.
  EXPECT_EQ(Query(db, "SELECT count(*) FROM visits WHERE (is_reference = 1 OR status <> 'ok') AND visit > 1")[0],
            "0");
}

TEST_F(SweepTest, OneVisitStoresThatVisitAsItIs) {
  const std::string db = (dir_ / "one.db").string();
  const ProcessResult r = Exec(SweepArgs(db, {"--visits", "1"}));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1 visits a point, 0 re-visits"), std::string::npos) << r.out;
  EXPECT_EQ(Query(db, "SELECT max(visit) FROM visits")[0], "1");
  EXPECT_EQ(Query(db, "SELECT count(*) FROM measurements m JOIN visits v ON v.kind = 'measurement' AND v.key = "
                      "m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || m.dtype WHERE m.status = 'ok' "
                      "AND (m.median_us <> v.median_us OR m.repetitions <> v.repetitions OR m.rel_ci <> v.rel_ci)")[0],
            "0");
  const ProcessResult bad = Exec(SweepArgs((dir_ / "bad.db").string(), {"--visits", "0"}));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("--visits"), std::string::npos) << bad.out;
}

TEST(NextVisit, VisitsThenRevisitsOnlyWhenTheWholePointMovedAndWithinBothBudgets) {
  const VisitPolicy p{3, 2, 0.05, 10};
  EXPECT_EQ(NextVisit(p, 0, true, 0, 0), VisitNext::kVisit);
  EXPECT_EQ(NextVisit(p, 2, true, 0.5, 0), VisitNext::kVisit);
  EXPECT_EQ(NextVisit(p, 3, true, 0.01, 0), VisitNext::kSettle);   // the visits agree
  EXPECT_EQ(NextVisit(p, 3, true, 0.2, 0), VisitNext::kRevisit);   // the machine moved
  EXPECT_EQ(NextVisit(p, 4, true, 0.2, 1), VisitNext::kRevisit);
  EXPECT_EQ(NextVisit(p, 5, true, 0.2, 2), VisitNext::kSettle);    // the point's 2 re-visits spent
  EXPECT_EQ(NextVisit(p, 3, true, 0.2, 10), VisitNext::kSettle);   // the sweep's re-visits spent
  EXPECT_EQ(NextVisit(p, 1, false, 0, 0), VisitNext::kSettle);     // nothing timed: one visit
  EXPECT_EQ(NextVisit(VisitPolicy{1, 2, 0.05, 10}, 1, true, 0, 0), VisitNext::kSettle);
}

}  // namespace
}  // namespace layoutdb::profiler
