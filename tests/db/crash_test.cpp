// Nothing lost: a writer killed with SIGKILL between (or inside) its per-point transactions leaves a
// file that opens, passes integrity_check, and holds every point it had committed, exactly once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <string>

#include "db_test_util.h"
#include "layoutdb/db.h"

namespace layoutdb::db {
namespace {

using testing::TempDir;

// Child: stores points 0, 1, 2, ... one transaction each (as the sweep does), and reports each commit
// on the pipe. It never stops by itself.
[[noreturn]] void Writer(const std::string& path, int fd) {
  try {
    Database db = Database::Open(path, Mode::kReadWrite);
    const int64_t t = db.UpsertTarget(testing::SampleTarget("fp"));
    const int64_t cpu = db.UpsertUnit(testing::SampleUnit(t, "cpu"));
    for (int64_t i = 0;; ++i) {
      Database::Transaction tx(db);
      const int64_t p = db.UpsertProblem(Problem::Parse("ip:mb1ic" + std::to_string(i + 1) + "oc16"));
      db.PutMeasurement(testing::SampleMeasurement(p, cpu, "plain", "f32", 1.0 + static_cast<double>(i)));
      tx.Commit();
      if (write(fd, &i, sizeof i) != sizeof i) _exit(3);
    }
  } catch (...) {
    _exit(2);
  }
}

TEST(Crash, SigkillMidSweepLosesNothingCommitted) {
  TempDir dir;
  const std::string path = dir.File("killed.db");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    Writer(path, fds[1]);
  }
  close(fds[1]);
  int64_t last = -1, got = 0;
  while (last < 300 && read(fds[0], &got, sizeof got) == sizeof got) last = got;
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited with " << WEXITSTATUS(status);
  ASSERT_GE(last, 300);

  // Read-write open recovers the log (as a resumed sweep does).
  Database db = Database::Open(path, Mode::kReadWrite);
  EXPECT_EQ(db.IntegrityCheck(), "ok");
  const auto rows = db.Measurements();
  // Every reported commit is there; at most the points after the last report besides.
  ASSERT_GE(static_cast<int64_t>(rows.size()), last + 1);
  std::set<std::string> keys;
  for (const auto& k : db.DoneKeys(db.Targets().at(0).id)) keys.insert(k);
  EXPECT_EQ(keys.size(), rows.size());  // no point twice
  EXPECT_EQ(db.Problems().size(), rows.size());
  for (const auto& m : rows) {
    ASSERT_TRUE(m.stats);
    EXPECT_DOUBLE_EQ(m.stats->median_us, static_cast<double>(m.problem_id));  // point i has id i+1
  }
}

}  // namespace
}  // namespace layoutdb::db
