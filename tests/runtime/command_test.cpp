// `layoutdb run` and `layoutdb validate` as a user calls them: on a real (quick, cpu-only, f32) sweep of
// this machine and the example models; JSON checked against its schema, outputs written as TensorProto
// files that read back, bad input refused with one line and a non-zero exit.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/json_schema.h"
#include "layoutdb/runtime.h"
#include "tests/db/db_test_util.h"
#include "tests/quick_db.h"
#include "tests/shell.h"
#include "tests/temp_dir.h"

namespace layoutdb {
namespace {

using testing::Shell;
namespace fs = std::filesystem;

std::string Bin() {
  const char* b = std::getenv("LAYOUTDB_BIN");
#ifdef LAYOUTDB_TEST_BIN
  if (!b) b = LAYOUTDB_TEST_BIN;
#endif
  return b ? b : "layoutdb";
}
fs::path Models() {
  const char* b = std::getenv("LAYOUTDB_BINARY_DIR");
#ifdef LAYOUTDB_TEST_BINARY_DIR
  if (!b) b = LAYOUTDB_TEST_BINARY_DIR;
#endif
  return fs::path(b ? b : ".") / "models";
}
fs::path Source() {
  const char* s = std::getenv("LAYOUTDB_SOURCE_DIR");
#ifdef LAYOUTDB_TEST_SOURCE_DIR
  if (!s) s = LAYOUTDB_TEST_SOURCE_DIR;
#endif
  return fs::path(s ? s : ".");
}

// The quick cpu sweep the build's tests share (tests/quick_db.h: made once, not once per test process),
// copied for this suite (validate stores its rows in it).
class Commands : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    db_ = (dir_->path() / "q.db").string();
    std::string error;
    const std::string shared = testing::SharedQuickDb(&error);
    ASSERT_FALSE(shared.empty()) << error;
    fs::copy_file(shared, db_);
  }
  static void TearDownTestSuite() { delete dir_; }
  static testing::TempDir* dir_;
  static std::string db_;
  const std::string model_ = (Models() / "paddle_cnn.onnx").string();
};
testing::TempDir* Commands::dir_ = nullptr;
std::string Commands::db_;

TEST_F(Commands, RunPrintsMediansPerSubgraphAndSavesOutputs) {
  const fs::path outs = dir_->path() / "outs";
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} run {} --db {} --repeat 5 --json --save-outputs {} --save-inputs {}",
                              Bin(), model_, db_, outs.string(), (dir_->path() / "ins").string()),
                  &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  for (const char* k : {"median_us", "p10_us", "p90_us", "subgraphs", "outputs", "threads",
                        "peak_activation_bytes"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_GT(j["median_us"].get<double>(), 0);
  EXPECT_LE(j["p10_us"].get<double>(), j["median_us"].get<double>());
  EXPECT_LE(j["median_us"].get<double>(), j["p90_us"].get<double>());
  ASSERT_FALSE(j["subgraphs"].empty());
  for (const auto& s : j["subgraphs"]) EXPECT_TRUE(s.contains("median_us"));
  // The saved output reads back with the shape the JSON names.
  const Tensor y = ReadTensorFile((outs / "output_0.pb").string());
  EXPECT_EQ(y.shape, j["outputs"][0]["shape"].get<std::vector<int64_t>>());
  // The same inputs from files give the same outputs.
  const fs::path outs2 = dir_->path() / "outs2";
  const Tensor x = ReadTensorFile((dir_->path() / "ins" / "input_0.pb").string());
  ASSERT_EQ(Shell(fmt::format("{} run {} --db {} --repeat 1 --input-data {}={} --save-outputs {}", Bin(),
                              model_, db_, x.name, (dir_->path() / "ins" / "input_0.pb").string(),
                              outs2.string()),
                  &out),
            0)
      << out;
  EXPECT_EQ(ReadTensorFile((outs2 / "output_0.pb").string()).f32, y.f32);
}

TEST_F(Commands, RunRefusesBadInputWithOneLine) {
  std::string out;
  // An input file of the wrong shape.
  Tensor t;
  t.name = "x";
  t.shape = {1, 3, 8, 8};
  t.Allocate();
  const std::string wrong = (dir_->path() / "wrong.pb").string();
  WriteTensorFile(t, wrong);
  EXPECT_EQ(Shell(fmt::format("{} run {} --db {} --input-data nosuch={}", Bin(), model_, db_, wrong), &out),
            1);
  EXPECT_NE(out.find("the model has no input 'nosuch'"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  // Not a TensorProto.
  const std::string bad = (dir_->path() / "bad.pb").string();
  std::ofstream(bad) << "garbage";
  EXPECT_EQ(Shell(fmt::format("{} run {} --db {} --input-data image={}", Bin(), model_, db_, bad), &out), 1);
  EXPECT_NE(out.find(bad + ": not a serialized onnx.TensorProto"), std::string::npos) << out;
  // The wrong shape.
  EXPECT_EQ(Shell(fmt::format("{} run {} --db {} --input-data image={}", Bin(), model_, db_, wrong), &out), 1);
  EXPECT_NE(out.find(wrong + ": input 'image' has shape [1,3,8,8], the model expects"), std::string::npos)
      << out;
  const std::string plan = (dir_->path() / "plan.json").string();
  ASSERT_EQ(Shell(fmt::format("{} select {} --db {} --out {}", Bin(), model_, db_, plan), &out), 0) << out;
  // A plan made for another model.
  const std::string other = (Models() / "mobilenetv2.onnx").string();
  EXPECT_EQ(Shell(fmt::format("{} run {} --plan {} --input input:1,3,224,224", Bin(), other, plan), &out), 1);
  EXPECT_NE(out.find("plan was made for another model"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  // A missing model.
  EXPECT_EQ(Shell(fmt::format("{} run /nonexistent.onnx --plan {}", Bin(), plan), &out), 1);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST_F(Commands, ValidateMeasuresPlanOracleAndBaselinesAndStoresThem) {
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} validate {} --db {} --budget-s 0.3 --min-reps 3 --json", Bin(), model_,
                              db_),
                  &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  std::ifstream f(Source() / "schema" / "validation.schema.json");
  ASSERT_TRUE(f);
  const auto schema = nlohmann::json::parse(f);
  const auto errors = ValidateJson(schema, j);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_TRUE(j["outputs_match"].get<bool>());
  EXPECT_GT(j["measured_total_us"].get<double>(), 0);
  // Timed at 3 moments by default, each figure its quietest round's, as a sweep's visits.
  EXPECT_EQ(j["rounds"].get<int>(), 3);
  EXPECT_GE(j["repetitions"].get<int>(), 3);
  EXPECT_LE(j["p10_us"].get<double>(), j["measured_total_us"].get<double>());
  EXPECT_FALSE(j["oracle_measured_us"].is_null());
  std::vector<std::string> names;
  for (const auto& b : j["baselines"]) names.push_back(b["name"]);
  for (const char* want : {"oracle", "cpu:nchw", "cpu:nhwc", "cpu:nChw8c", "cpu:nChw16c", "cpu:any",
                           "local_best"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const auto& b : j["baselines"]) EXPECT_FALSE(b["measured_us"].is_null()) << b.dump();
  // Each sub-graph's median per round, its figure the smallest; the share whose rounds agree within
  // 10% is how well the network's own times repeat, the most a prediction can be checked to.
  int timed = 0, agree = 0;
  for (const auto& s : j["subgraphs"]) {
    const auto r = s["rounds_us"].get<std::vector<double>>();
    if (s["measured_us"].get<double>() <= 0) continue;
    ASSERT_EQ(r.size(), 3u) << s.dump();
    EXPECT_DOUBLE_EQ(*std::min_element(r.begin(), r.end()), s["measured_us"].get<double>()) << s.dump();
    ++timed;
    agree += *std::max_element(r.begin(), r.end()) <= 1.1 * *std::min_element(r.begin(), r.end());
  }
  ASSERT_GT(timed, 0);
  EXPECT_DOUBLE_EQ(j["subgraphs_repeat_within_10pct"].get<double>(), static_cast<double>(agree) / timed);
  // Timed as an inference loop runs a plan: each run right after an untimed one of the same plan.
  EXPECT_TRUE(j["warm_run"].get<bool>());
  // Every timed pass asked where the threads were; a pass timed apart is one the allowance ran out on.
  const auto& pl = j["placement"];
  EXPECT_GT(pl["checks"].get<int>(), 0) << pl.dump();
  EXPECT_LE(pl["apart_passes"].get<int>(), pl["checks"].get<int>());
  EXPECT_LE(pl["waits"].get<int>(), pl["checks"].get<int>());
  if (!pl["lowest_ns"].is_null() && !pl["median_ns"].is_null()) {
    EXPECT_GE(pl["median_ns"].get<double>(), pl["lowest_ns"].get<double>());
  }
  // Stored: one row per strategy, the plan's with its per sub-graph figures.
  db::Database d = db::Database::Open(db_, db::Mode::kReadOnly);
  const auto rows = d.Validations();
  ASSERT_EQ(rows.size(), names.size() + 1);
  EXPECT_EQ(rows[0].strategy, "plan");
  EXPECT_EQ(rows[0].model_hash, j["model_hash"].get<std::string>());
  EXPECT_FALSE(nlohmann::json::parse(rows[0].details)["subgraphs"].empty());
  for (const auto& r : rows) EXPECT_EQ(r.validation, rows[0].validation);
}

// On a file where the plan's kernels were measured exactly (sweep --model), validate re-times the
// largest of them alone, as the sweep did, and says how far the machine now is from the file: a
// ratio per kernel, their median, and the prediction scaled by it. The file's times are divided by
// a million after the sweep, as a file measured on a far faster machine: the drift must show more
// than 1000x. What a busy or sanitized machine does to the times stays far inside that: CI saw 21x
// with the browser tests beside it, and a sanitized build stored 8 ms for a kernel it re-timed at
// 65 us minutes later. The file's sweep is then marked warm: the kernels are re-timed in that mode (the
// sweep's flush before every run), and the JSON says so. (A warm sweep of the model itself took 124 s
// under the sanitizers against 36 s hot; the warm sweeps are SweepTest's, among them
// WarmCacheSweepIsAnotherTargetAndASweepWithoutAModeKeepsTheFiles.)
TEST_F(Commands, ValidateRetimesThePlansExactKernelsToShowTheMachinesDrift) {
  const std::string db = (dir_->path() / "model.db").string();
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} sweep --model {} --units cpu --visits 1 --cache hot --db {} --quiet", Bin(), model_, db), &out),
            0)
      << out;
  db::testing::RawExec(db, "UPDATE sweeps SET cache_mode = 'warm'");
  db::testing::RawExec(db,
                       "UPDATE measurements SET median_us = median_us / 1e6, p10_us = p10_us / 1e6, "
                       "p90_us = p90_us / 1e6, mean_us = mean_us / 1e6, stddev_us = stddev_us / 1e6, "
                       "min_us = min_us / 1e6, host_median_us = host_median_us / 1e6, "
                       "host_p10_us = host_p10_us / 1e6, host_p90_us = host_p90_us / 1e6 WHERE status = 'ok'");
  ASSERT_EQ(Shell(fmt::format("{} validate {} --db {} --budget-s 0.3 --min-reps 3 --no-store --json", Bin(),
                              model_, db),
                  &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  std::ifstream f(Source() / "schema" / "validation.schema.json");
  const auto errors = ValidateJson(nlohmann::json::parse(f), j);
  EXPECT_TRUE(errors.empty()) << errors.front();
  // Every cpu sub-graph with a fused key is exact on this file: the distinct ones, up to 8, re-timed.
  std::set<std::string> exact;
  for (const auto& s : j["subgraphs"])
    if (s["confidence"] == "exact" && s.contains("fused_key"))
      exact.insert(s["fused_key"].get<std::string>() + "|" + s["layout"].get<std::string>());
  ASSERT_FALSE(exact.empty());
  const auto& d = j["machine_drift"];
  ASSERT_EQ(d["kernels"].size(), std::min<size_t>(8, exact.size())) << d.dump();
  EXPECT_EQ(d["cache_mode"], "warm") << d.dump();
  // Each against the file's own figure for that key and layout.
  db::Database file = db::Database::Open(db, db::Mode::kReadOnly);
  std::map<int64_t, std::string> keys;
  for (const auto& p : file.Problems()) keys[p.id] = p.key;
  std::vector<double> ratios;
  for (const auto& k : d["kernels"]) {
    EXPECT_TRUE(exact.count(k["key"].get<std::string>() + "|" + k["layout"].get<std::string>())) << k.dump();
    bool found = false;
    for (const auto& m : file.Measurements())
      if (keys[m.problem_id] == k["key"] && m.layout == k["layout"] && m.dtype == "f32" && m.stats) {
        EXPECT_DOUBLE_EQ(k["stored_us"].get<double>(), m.stats->host_median_us.value_or(m.stats->median_us));
        found = true;
      }
    EXPECT_TRUE(found) << k.dump();
    EXPECT_GT(k["now_us"].get<double>(), 0) << k.dump();
    ratios.push_back(k["now_us"].get<double>() / k["stored_us"].get<double>());
  }
  std::sort(ratios.begin(), ratios.end());
  const size_t n = ratios.size();
  const double median = n % 2 ? ratios[n / 2] : 0.5 * (ratios[n / 2 - 1] + ratios[n / 2]);
  EXPECT_NEAR(d["factor"].get<double>(), median, 1e-9 * median);
  // A million: this machine would have to run 1000x faster than minutes ago to fall below 1000.
  EXPECT_GT(median, 1000) << d.dump();
  EXPECT_NEAR(d["error_pct_at_drift"].get<double>(),
              100 * (j["predicted_total_us"].get<double>() * median - j["measured_total_us"].get<double>()) /
                  j["measured_total_us"].get<double>(),
              1e-6);
  // Sub-graph by sub-graph: none within 10% as stored (a millionth of what runs), and at the drift
  // factor those whose scaled prediction is.
  int compared = 0, at_drift = 0;
  for (const auto& s : j["subgraphs"]) {
    const double m = s["measured_us"].get<double>();
    if (m <= 0) continue;
    ++compared;
    at_drift += std::fabs(s["predicted_us"].get<double>() * median - m) <= 0.1 * m;
  }
  ASSERT_GT(compared, 0);
  EXPECT_EQ(j["subgraphs_within_10pct"].get<double>(), 0.0) << j.dump();
  EXPECT_NEAR(d["subgraphs_within_10pct_at_drift"].get<double>(), static_cast<double>(at_drift) / compared, 1e-12);
  // Said in the table as a warning, with the scaled prediction.
  ASSERT_EQ(Shell(fmt::format("{} validate {} --db {} --budget-s 0.3 --min-reps 3 --no-store", Bin(), model_, db), &out),
            0)
      << out;
  EXPECT_NE(out.find("warning: the machine is not in the state the database was measured in"), std::string::npos)
      << out;
}

// `sweep --model M --cache network`: the model's problems measured alone (warm), then every state of
// every sub-graph timed inside the network, as validate times its candidates, and written over the row
// of the one kernel it runs as (cache_mode 'network', under a sweep of its own). The figures timed alone
// stay in the visits; select prices the plan from the network's figures; validate checks such a file
// against the same timing (its candidates' in-network times), not against kernels re-timed alone.
// Convolutions only (--ops), to keep the sweep short under the sanitizers.
TEST_F(Commands, SweepModelInTheNetworkStoresItsTimesAndKeepsTheOnesAlone) {
  const std::string db = (dir_->path() / "network.db").string();
  std::string out;
  ASSERT_EQ(Shell(fmt::format("{} sweep --model {} --units cpu --ops conv2d --visits 1 --cache network "
                              "--network-budget-s 1 --db {}",
                              Bin(), model_, db),
                  &out),
            0)
      << out;
  EXPECT_NE(out.find("rows now hold their time in the network"), std::string::npos) << out;
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  using db::testing::RawScalar;
  EXPECT_EQ(RawScalar(h, "SELECT spec_name || ' ' || cache_mode || ' ' || status FROM sweeps ORDER BY id DESC LIMIT 1"),
            "network network completed");
  const int network_rows = std::stoi(RawScalar(h, "SELECT count(*) FROM measurements WHERE cache_mode = 'network'"));
  EXPECT_GT(network_rows, 0);
  // Only convolutions' rows, each under the network sweep, each with its visit timed alone kept.
  EXPECT_EQ(RawScalar(h, "SELECT count(*) FROM measurements m JOIN problems p ON p.id = m.problem_id "
                         "JOIN sweeps s ON s.id = m.sweep_id WHERE m.cache_mode = 'network' AND p.op = 'conv2d' "
                         "AND s.spec_name = 'network' AND m.status = 'ok' AND m.median_us > 0"),
            std::to_string(network_rows));
  EXPECT_EQ(RawScalar(h, "SELECT count(*) FROM measurements m WHERE m.cache_mode = 'network' AND NOT EXISTS ("
                         "SELECT 1 FROM visits v WHERE v.kind = 'measurement' AND v.cache_mode = 'warm' AND "
                         "v.median_us > 0 AND v.key = m.problem_id || '|' || m.unit_id || '|' || m.layout || '|' || "
                         "m.dtype)"),
            "0");
  // Every state of every sub-graph is kept for this model (network_times): select prices each sub-graph
  // of the plan at its own figure, and a convolution's row (the kernel it runs as) took the figure too.
  ASSERT_EQ(Shell(fmt::format("{} select {} --db {} --json", Bin(), model_, db), &out), 0) << out;
  const auto plan = nlohmann::json::parse(out);
  const std::string instance = RawScalar(h, "SELECT DISTINCT model FROM network_times");
  EXPECT_EQ(instance.rfind(ModelHash(model_) + " ", 0), 0u) << instance;
  int convs = 0;
  for (const auto& s : plan["subgraphs"]) {
    const std::string mine = RawScalar(
        h, fmt::format("SELECT n.median_us FROM network_times n JOIN units u ON u.id = n.unit_id WHERE "
                       "u.name = '{}' AND n.nodes = '{}' AND n.layout = '{}' AND n.dtype = 'f32'",
                       s["unit"].get<std::string>(), fmt::join(s["nodes"].get<std::vector<int>>(), ","),
                       s["layout"].get<std::string>()));
    ASSERT_FALSE(mine.empty()) << s.dump();
    EXPECT_NEAR(s["predicted_us"].get<double>(), std::stod(mine), 1e-6 * std::stod(mine) + 1e-9) << s.dump();
    EXPECT_EQ(s["confidence"], "exact") << s.dump();
    if (s.value("fused_cost", "") != "fused" || s["fused_key"].get<std::string>().rfind("conv2d:", 0) != 0) continue;
    ++convs;
    EXPECT_EQ(RawScalar(h, fmt::format("SELECT m.cache_mode FROM measurements m JOIN problems p ON "
                                       "p.id = m.problem_id JOIN units u ON u.id = m.unit_id WHERE p.key = '{}' "
                                       "AND u.name = 'cpu' AND m.layout = '{}' AND m.dtype = 'f32'",
                                       s["fused_key"].get<std::string>(), s["layout"].get<std::string>())),
              "network")
        << s.dump();
  }
  EXPECT_GT(convs, 0) << plan.dump();
  // `info` says what the file holds for the model.
  const std::string states = RawScalar(h, "SELECT count(*) FROM network_times");
  ASSERT_EQ(Shell(fmt::format("{} info --db {}", Bin(), db), &out), 0) << out;
  EXPECT_NE(out.find(fmt::format("Network times: {} sub-graph states of 1 model", states)), std::string::npos) << out;
  sqlite3_close(h);
  // validate: the drift is read from its own candidates' in-network times.
  ASSERT_EQ(Shell(fmt::format("{} validate {} --db {} --budget-s 0.3 --min-reps 3 --no-store --json", Bin(),
                              model_, db),
                  &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  std::ifstream f(Source() / "schema" / "validation.schema.json");
  const auto errors = ValidateJson(nlohmann::json::parse(f), j);
  EXPECT_TRUE(errors.empty()) << errors.front();
  const auto& d = j["machine_drift"];
  EXPECT_EQ(d["cache_mode"], "network") << d.dump();
  ASSERT_FALSE(d["kernels"].empty()) << d.dump();
  // Each entry is one sub-graph's: its key, layout, prediction and candidate time, named by index.
  std::set<int> named;
  for (const auto& k : d["kernels"]) {
    ASSERT_TRUE(k.contains("subgraph")) << k.dump();
    const int i = k["subgraph"].get<int>();
    EXPECT_TRUE(named.insert(i).second) << "sub-graph " << i << " twice: " << d.dump();
    ASSERT_LT(i, static_cast<int>(j["subgraphs"].size()));
    const auto& s = j["subgraphs"][i];
    EXPECT_EQ(s["index"].get<int>(), i);
    EXPECT_EQ(s.value("fused_key", ""), k["key"]) << k.dump();
    EXPECT_EQ(s["layout"], k["layout"]) << k.dump();
    ASSERT_FALSE(s["candidate_us"].is_null()) << s.dump();
    EXPECT_EQ(s["candidate_us"].get<double>(), k["now_us"].get<double>()) << k.dump();
    EXPECT_EQ(s["predicted_us"].get<double>(), k["stored_us"].get<double>()) << k.dump();
  }
  // Without a model there is no network to time in: one line, a non-zero exit.
  EXPECT_EQ(Shell(fmt::format("{} sweep --spec quick --cache network --db {}", Bin(), db), &out), 1) << out;
  EXPECT_NE(out.find("--cache network needs --model"), std::string::npos) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace layoutdb
