// Every real model, malformed or not: each model.onnx of ONNX's backend test data (libonnx-testdata:
// node, pytorch-converted, pytorch-operator, simple, real) through `layoutdb select` on a quick cpu
// sweep, and through `layoutdb run` with that database where select gave a plan. Each ends in a plan (a
// run) or in one clear error line, with an exit code below 128 and within its deadline; the counts per
// suite and the kinds of refusal are printed. Under the sanitizers, a sample of the models (printed).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

#include "hardening_util.h"
#include "tests/sample.h"

namespace layoutdb::hardening {
namespace {

const fs::path kData = "/usr/share/libonnx-testdata/data";

struct Tally {
  int models = 0, plans = 0, select_errors = 0, runs = 0, run_errors = 0;
};

// What a refusal says, without the model's path, node names, shapes and numbers: its kind.
std::string Kind(const std::string& error, const std::string& model) {
  std::string e = error;
  for (size_t at; (at = e.find(model)) != std::string::npos;) e.replace(at, model.size(), "MODEL");
  e = std::regex_replace(e, std::regex(R"(node \d+ \([^)]*\))"), "node");
  e = std::regex_replace(e, std::regex(R"('[^']*')"), "'.'");
  e = std::regex_replace(e, std::regex(R"(\[[^\]]*\])"), "[.]");
  e = std::regex_replace(e, std::regex(R"(\d+)"), "N");
  const std::string prefix = "model 'MODEL': ";
  if (e.rfind(prefix, 0) == 0) e = e.substr(prefix.size());
  if (e.rfind("MODEL: ", 0) == 0) e = e.substr(7);
  if (e.rfind("node: ", 0) == 0) e = e.substr(6);
  if (e.rfind("dynamic input dimensions not fixed", 0) == 0) return "dynamic input dimensions not fixed";
  e = e.substr(0, std::min(e.find(" ("), e.find("; ")));
  return e.size() > 90 ? e.substr(0, 90) + "..." : e;
}

TEST(OnnxTestData, EveryModelEndsInAPlanOrOneClearLine) {
  ASSERT_TRUE(fs::exists(kData)) << "libonnx-testdata is not installed (scripts/setup.sh)";
  const std::string db = QuickDb();
  const std::vector<std::string> suites = {"node", "pytorch-converted", "pytorch-operator", "simple", "real"};
  std::vector<std::pair<std::string, std::string>> work;  // suite, model
  for (const auto& suite : suites) {
    if (!fs::exists(kData / suite)) continue;
    for (const auto& e : fs::recursive_directory_iterator(kData / suite))
      if (e.path().filename() == "model.onnx") work.emplace_back(suite, e.path().string());
  }
  std::sort(work.begin(), work.end());
  ASSERT_GT(work.size(), 1000u);
  // Under the sanitizers every 20th model (tests/sample.h): each takes about a second there (two
  // sanitized processes), and the seed moves the sample every day.
  work = layoutdb::testing::Sample("libonnx-testdata models", 20).Of(work);

  std::map<std::string, Tally> tally;
  for (const auto& s : suites) tally[s];
  std::map<std::string, int> select_kinds, run_kinds;
  std::vector<std::string> bad;  // crashes, hangs, messy refusals
  std::mutex mu;
  std::atomic<size_t> next{0};
  RunOptions select_o, run_o;
  select_o.timeout_s = 60;
  run_o.timeout_s = 90;

  auto check = [&](const Result& r, const std::string& what) {
    if (r.timed_out) return "hung (killed after its deadline): " + what;
    if (r.code >= 128 || r.code < 0) return fmt::format("exit code {}: {}: {}", r.code, what, r.err);
    if (r.code != 0 && !OneErrorLine(r)) return fmt::format("not one error line: {}: '{}'", what, r.err);
    return std::string();
  };
  auto worker = [&] {
    for (size_t i; (i = next++) < work.size();) {
      const auto& [suite, model] = work[i];
      const Result sel = Layoutdb({"select", model, "--db", db}, select_o);
      std::string problem = check(sel, "select " + model);
      Result run;
      const bool planned = problem.empty() && sel.code == 0;
      if (planned) {
        if (sel.out.find("total") == std::string::npos) problem = "select printed no plan: " + model;
        run = Layoutdb({"run", model, "--db", db, "--repeat", "1", "--warmup", "0"}, run_o);
        if (problem.empty()) problem = check(run, "run " + model);
      }
      std::lock_guard<std::mutex> lock(mu);
      Tally& t = tally[suite];
      ++t.models;
      if (!problem.empty()) bad.push_back(problem);
      if (sel.code != 0) {
        ++t.select_errors;
        ++select_kinds[Kind(ErrorText(sel), model)];
        continue;
      }
      ++t.plans;
      if (run.code == 0) {
        ++t.runs;
      } else {
        ++t.run_errors;
        ++run_kinds[Kind(ErrorText(run), model)];
      }
    }
  };
  std::thread a(worker), b(worker);
  a.join();
  b.join();

  Tally all;
  for (const auto& [suite, t] : tally) {
    std::printf("[ libonnx-testdata ] %-18s %4d models: %4d plans, %3d refused by select; of the plans %4d ran, %3d "
                "refused by run\n",
                suite.c_str(), t.models, t.plans, t.select_errors, t.runs, t.run_errors);
    all.models += t.models, all.plans += t.plans, all.select_errors += t.select_errors;
    all.runs += t.runs, all.run_errors += t.run_errors;
  }
  std::printf("[ libonnx-testdata ] %-18s %4d models: %4d plans, %3d refused by select; of the plans %4d ran, %3d "
              "refused by run\n",
              "all", all.models, all.plans, all.select_errors, all.runs, all.run_errors);
  for (const auto* kinds : {&select_kinds, &run_kinds}) {
    std::vector<std::pair<int, std::string>> sorted;
    for (const auto& [k, n] : *kinds) sorted.emplace_back(-n, k);
    std::sort(sorted.begin(), sorted.end());
    std::printf("[ libonnx-testdata ] %s refusals by kind:\n", kinds == &select_kinds ? "select" : "run");
    for (const auto& [n, k] : sorted) std::printf("  %4d  %s\n", -n, k.c_str());
  }
  for (const auto& b : bad) ADD_FAILURE() << b;
  EXPECT_EQ(all.models, static_cast<int>(work.size()));
}

}  // namespace
}  // namespace layoutdb::hardening
