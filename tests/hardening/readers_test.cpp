// Readers while a sweep writes: `select`, `info`, `run` and `report`, started again and again on a file
// a sweep is adding points to, never fail with a busy or locked error and never see a half-written point
// (every point's candidates are committed together); the sweep does not fail because they read.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "hardening_util.h"

namespace layoutdb::hardening {
namespace {

const char* kModel = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/model.onnx";

// New points for the quick database: convolutions in every cpu layout (5 candidates a point), reorders.
constexpr const char* kSpec = R"({
  "name": "more",
  "dtypes": ["f32"],
  "measure": {"warmup": 1, "min_reps": 5, "max_reps": 200, "target_rel_ci": 0.0, "budget_s": 0.25},
  "problems": [
    {"name": "conv", "op": "conv2d", "grid": {"mb": [1], "ic": [8, 16], "ih": [12, 20], "iw": ["ih"],
      "oc": [16, 24], "kh": [3], "kw": ["kh"], "sh": [1], "sw": [1], "ph": [1], "pw": [1], "g": [1]}}
  ],
  "transitions": {"shapes": ["mb1c24h12w12"], "dtypes": ["f32"]}
})";

// Candidates a point of `op` has: every group of (problem, unit, dtype) must hold all of them.
std::vector<std::string> HalfWrittenPoints(const std::string& db) {
  return Query(db, "SELECT p.key || ' ' || m.dtype || ': ' || count(*) FROM measurements m "
                   "JOIN problems p ON p.id = m.problem_id WHERE p.op = 'conv2d' AND (p.key LIKE '%ih12iw12%' "
                   "OR p.key LIKE '%ih20iw20%') GROUP BY m.problem_id, m.unit_id, m.dtype HAVING count(*) <> 5");
}

TEST(Readers, NeverFailOrSeeHalfPointsWhileASweepWrites) {
  TempDir dir;
  const std::string db = dir.File("layout.db");
  fs::copy_file(QuickDb(), db);
  const std::string spec = dir.File("more.json");
  WriteBytes(spec, kSpec);
  const bool has_report = Layoutdb({"report", "--help"}).code == 0;

  const std::string out = dir.File("sweep.out"), err = dir.File("sweep.err");
  const int out_fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const pid_t sweep = Spawn({"sweep", "--db", db, "--spec", spec, "--units", "cpu", "--quiet", "--cache", "hot"}, {}, out_fd, err_fd);
  close(out_fd);
  close(err_fd);

  std::atomic<bool> done{false};
  std::map<std::string, int> runs, failures;
  std::vector<std::string> problems;
  std::mutex mu;
  auto reader = [&](int which) {
    int round = 0;
    while (!done) {
      std::vector<std::string> args;
      std::string name;
      switch ((round++ + which) % 4) {
        case 0: name = "select", args = {"select", kModel, "--db", db, "--json"}; break;
        case 1: name = "info", args = {"info", "--db", db, "--json"}; break;
        case 2: name = "run", args = {"run", kModel, "--db", db, "--repeat", "2"}; break;
        default:
          if (!has_report) continue;
          name = "report";
          args = {"report", "--db", db, "--out", dir.File(fmt::format("report{}", which)), "--format", "md"};
      }
      const Result r = Layoutdb(args);
      std::lock_guard<std::mutex> lock(mu);
      ++runs[name];
      if (r.code != 0) {
        ++failures[name];
        problems.push_back(name + " exited " + std::to_string(r.code) + ": " + r.err);
        continue;
      }
      if (name == "info") {
        // Within one statement's snapshot, every conv2d point has all 5 of its layouts.
        const auto j = nlohmann::json::parse(r.out);
        std::map<std::string, int64_t> per_layout;
        for (const auto& c : j["measurements"]["counts"])
          if (c["op"] == "conv2d" && c["dtype"] == "f32") per_layout[c["layout"].get<std::string>()] += c["count"].get<int64_t>();
        int64_t first = per_layout.empty() ? 0 : per_layout.begin()->second;
        for (const auto& [layout, n] : per_layout)
          if (n != first && layout.find('>') == std::string::npos)
            problems.push_back(fmt::format("info saw {} conv2d points in {} but {} in {}", n, layout, first,
                                           per_layout.begin()->first));
      }
      for (const auto& half : HalfWrittenPoints(db)) problems.push_back("half-written point: " + half);
    }
  };
  std::thread a(reader, 0), b(reader, 2);
  bool timed_out = false;
  const int code = WaitFor(sweep, 300, &timed_out);
  done = true;
  a.join();
  b.join();
  EXPECT_FALSE(timed_out);
  EXPECT_EQ(code, 0) << "the sweep failed while others read: " << Slurp(err);
  for (const auto& p : problems) ADD_FAILURE() << p;
  std::string line;
  for (const auto& [name, n] : runs) line += fmt::format(" {} {}x ({} failed)", name, n, failures[name]);
  std::printf("[ readers ] while the sweep wrote:%s%s\n", line.c_str(), has_report ? "" : "; no report command");
  EXPECT_GE(runs["select"] + runs["info"] + runs["run"], 4) << "the sweep ended before the readers got going";
  EXPECT_EQ(Scalar(db, "SELECT status FROM sweeps ORDER BY id DESC LIMIT 1"), "completed");
  EXPECT_EQ(IntegrityCheck(db), "ok");
  // Once the readers are gone, a run of the same command resumes nothing and leaves one file.
  const Result again = Layoutdb({"sweep", "--db", db, "--spec", spec, "--units", "cpu", "--quiet", "--cache", "hot"});
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_FALSE(fs::exists(db + "-wal") && fs::file_size(db + "-wal") > 0);
}

}  // namespace
}  // namespace layoutdb::hardening
