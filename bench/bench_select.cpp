// The selector's hot paths: `select` end to end on a ~700-node model (open the database, import,
// shape inference, partition, solve), the solve alone, one cost lookup; and, printed before the timings,
// the interpolation's leave-one-out accuracy per op family.
//
//   bench/bench_select [--db FILE] [--model FILE.onnx] [--input NAME:1,128,768]...
//                      [--heldout-csv FILE] [--against FILE] [benchmark flags]
//
// The database: --db, else $LAYOUTDB_DB, else ./layout.db, else a synthetic one written to a
// temporary directory (then the accuracy figures only check the interpolation against its own rule).
// --against FILE: every problem FILE measured that the database did not (a model's `sweep --model`,
// another spec's sweep) is predicted from the database alone and checked against FILE: the accuracy a
// model's plan has before `sweep --model`, per family, with the signed median error (a bias); with
// --model too, that model's plan made on the database against the same plan priced by FILE.
// The ONNX model: --model, else the largest example model found under models/ of the build directory.
// Timings also run on a ResNet-style synthetic DAG of 700 nodes described in memory.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/selector.h"
#include "selector/cost.h"
#include "selector/plan.h"
#include "selector/solve.h"
#include "tests/selector/synthetic_db.h"

namespace fs = std::filesystem;
using namespace layoutdb;

namespace {

std::string g_db, g_model, g_heldout_csv, g_against;
std::map<std::string, std::vector<int64_t>> g_inputs;
std::optional<selector::testing::TempDir> g_tmp;

std::string Conv(int ic, int oc, int hw, int k, int s) {
  return fmt::format("conv2d:mb1ic{}ih{}iw{}oc{}kh{}kw{}sh{}sw{}ph{}pw{}g1", ic, hw, hw, oc, k, k, s, s,
                     k / 2, k / 2);
}

// A ResNet-style network of `blocks` basic blocks (conv relu conv add relu), about 5 nodes each,
// with the stage widths and resolutions of ResNet-34 repeated: a DAG (every block has a shortcut).
GraphDescription ResNetStyle(int nodes) {
  GraphDescription d;
  d.name = fmt::format("resnet_style_{}", nodes);
  d.inputs = {{"x", {1, 64, 56, 56}}};
  std::string x = "x";
  int c = 64, hw = 56, i = 0;
  while (static_cast<int>(d.ops.size()) + 5 <= nodes) {
    const int stage = (i / 8) % 4;
    const int want_c = 64 << stage, want_hw = 56 >> stage;
    std::string n = fmt::format("b{}", i++);
    if (want_c != c) {  // downsample: a strided conv on the main path, a 1x1 strided on the shortcut
      d.ops.push_back({n + "ds", Conv(c, want_c, hw, 1, 2), "", {x}, {n + "s"}, {}});
      d.ops.push_back({n + "c1", Conv(c, want_c, hw, 3, 2), "", {x}, {n + "a"}, {}});
      c = want_c;
      hw = want_hw;
      x = n + "s";
    } else {
      d.ops.push_back({n + "c1", Conv(c, c, hw, 3, 1), "", {x}, {n + "a"}, {}});
    }
    const std::string t = fmt::format("mb1c{}h{}w{}", c, hw, hw);
    d.ops.push_back({n + "r1", "eltwise:relu:" + t, "", {n + "a"}, {n + "b"}, {}});
    d.ops.push_back({n + "c2", Conv(c, c, hw, 3, 1), "", {n + "b"}, {n + "c"}, {}});
    d.ops.push_back({n + "add", "binary:add:" + t, "", {n + "c", x}, {n + "d"}, {}});
    d.ops.push_back({n + "r2", "eltwise:relu:" + t, "", {n + "d"}, {n + "e"}, {}});
    x = n + "e";
  }
  return d;
}

// A synthetic database shaped like a sweep of this machine: the ResNet-style convs and eltwise ops in
// four cpu layouts with different efficiencies, reorders at several sizes.
std::string SyntheticDatabase() {
  g_tmp.emplace();
  const std::string path = g_tmp->File("synthetic.db");
  selector::testing::SyntheticDb db(path);
  const std::map<std::string, double> eff = {{"nchw", 0.5}, {"nhwc", 0.8}, {"nChw8c", 0.9}, {"nChw16c", 1.0}};
  const GraphDescription d = ResNetStyle(700);
  for (const auto& op : d.ops) {
    const Problem p = Problem::Parse(op.problem);
    for (const auto& [layout, e] : eff) {
      const double us = p.op() == "conv2d" ? 2 + p.Flops() / (80e3 * e) : 1 + p.Bytes(4) / (30e3 * e);
      db.Op(op.problem, "cpu", layout, us);
    }
  }
  for (const auto& [a, unused1] : eff)
    for (const auto& [b, unused2] : eff)
      if (a != b)
        for (int hw : {7, 14, 28, 56}) db.Reorder("cpu", a, b, 1, 64, hw, hw, 1 + 64.0 * hw * hw * 8 / 20e3);
  db.Close();
  return path;
}

std::string FindModel() {
  const char* bin = std::getenv("LAYOUTDB_BINARY_DIR");
  std::vector<fs::path> dirs;
  if (bin) dirs.emplace_back(fs::path(bin) / "models");
  dirs.emplace_back(fs::current_path() / "models");
  dirs.emplace_back(fs::current_path().parent_path() / "models");
  // Prefer the deepest model: the BERT-base encoder stack (about 700 nodes), then ResNet-50.
  for (const auto& dir : dirs)
    for (const char* m : {"bert_base_shared.onnx", "resnet50.onnx"})
      if (fs::exists(dir / m)) return (dir / m).string();
  return {};
}

void BM_SelectOnnxEndToEnd(benchmark::State& state) {
  if (g_model.empty()) return state.SkipWithError("no ONNX model (--model or the example models)");
  SelectOptions o;
  o.inputs = g_inputs;
  size_t nodes = 0;
  for (auto _ : state) {
    try {
      Selector s = Selector::Open(g_db);
      Plan p = s.Select(g_model, o);
      for (const auto& sg : p.subgraphs) nodes = std::max(nodes, static_cast<size_t>(sg.nodes.back() + 1));
      benchmark::DoNotOptimize(p.total_predicted_us);
    } catch (const std::exception& e) {
      return state.SkipWithError(e.what());
    }
  }
  state.SetLabel(fmt::format("{} ({} nodes)", fs::path(g_model).filename().string(), nodes));
}
BENCHMARK(BM_SelectOnnxEndToEnd)->Unit(benchmark::kMillisecond);

void BM_SelectDescribed700(benchmark::State& state) {
  const GraphDescription d = ResNetStyle(700);
  for (auto _ : state) {
    Selector s = Selector::Open(g_db);
    Plan p = s.Select(d, {});
    benchmark::DoNotOptimize(p.total_predicted_us);
  }
  state.SetLabel(fmt::format("{} nodes, open + partition + plan", d.ops.size()));
}
BENCHMARK(BM_SelectDescribed700)->Unit(benchmark::kMillisecond);

void BM_OpenDatabase(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Selector::Open(g_db).Units().size());
}
BENCHMARK(BM_OpenDatabase)->Unit(benchmark::kMillisecond);

// The cost tables of the 700-node DAG (every node's cost in every candidate state, every edge's
// transition table), then the solve alone on them.
void BM_BuildCostTables700(benchmark::State& state) {
  const selector::CostModel cost = selector::CostModel::Load(g_db);
  const selector::Graph g = selector::GraphFromDescription(ResNetStyle(700));
  const selector::Partition part = selector::DefaultPartition(g);
  for (auto _ : state) benchmark::DoNotOptimize(selector::BuildPlanProblem(g, part, cost, {}).states.size());
  state.SetLabel(fmt::format("{} nodes, {} sub-graphs", g.nodes.size(), part.subgraphs.size()));
}
BENCHMARK(BM_BuildCostTables700)->Unit(benchmark::kMillisecond);

void BM_Solve700(benchmark::State& state) {
  const selector::CostModel cost = selector::CostModel::Load(g_db);
  const selector::Graph g = selector::GraphFromDescription(ResNetStyle(700));
  const selector::Partition part = selector::DefaultPartition(g);
  const selector::PlanProblem pp = selector::BuildPlanProblem(g, part, cost, {});
  std::vector<std::vector<std::string>> labels(pp.states.size());
  size_t states = 0;
  for (size_t s = 0; s < pp.states.size(); ++s)
    for (const auto& st : pp.states[s]) labels[s].push_back(st.unit + "/" + st.label), ++states;
  std::string method;
  for (auto _ : state) {
    auto r = selector::Solve(pp.solve, labels);
    method = r.method;
    benchmark::DoNotOptimize(r.total);
  }
  state.SetLabel(fmt::format("{} sub-graphs, {} states, {} edges, {}", pp.states.size(), states,
                             pp.solve.pairs.size(), method));
}
BENCHMARK(BM_Solve700)->Unit(benchmark::kMillisecond);

// One exact cost lookup (hash of the key, scan of its few rows), and one interpolated.
void BM_CostLookup(benchmark::State& state, bool exact) {
  selector::CostModel cost = selector::CostModel::Load(g_db);
  auto samples = cost.Samples();
  if (samples.empty()) return state.SkipWithError("database has no usable measurement");
  const auto& s = samples[samples.size() / 2];
  Problem p = Problem::Parse(s.key);
  if (!exact) {  // a problem not in the database: scale one parameter
    auto params = p.params();
    for (auto& [name, v] : params)
      if (name == "mb") v += 1;
    p = Problem(p.op(), p.alg(), params);
  }
  const std::string key = p.Key();
  for (auto _ : state) benchmark::DoNotOptimize(cost.Op(p, key, s.unit, s.layout, s.dtype));
  state.SetLabel(fmt::format("{} on {} {}", key, s.unit, s.layout));
}
BENCHMARK_CAPTURE(BM_CostLookup, exact, true);
BENCHMARK_CAPTURE(BM_CostLookup, interpolated, false);

// A copy of the database keeping only measurements whose spread is small (p90 <= 1.5 x p10): on a
// loaded machine some medians absorb scheduler stalls and no model of the op can predict them.
std::string StableCopy(const std::string& src) {
  if (!g_tmp) g_tmp.emplace();
  const std::string path = g_tmp->File("stable.db");
  std::filesystem::remove(path);
  db::Database in = db::Database::Open(src, db::Mode::kReadOnly);
  db::Database out = db::Database::Open(path, db::Mode::kReadWrite);
  std::map<int64_t, int64_t> target_ids, unit_ids, problem_ids;
  for (const auto& t : in.Targets()) target_ids[t.id] = out.UpsertTarget(t);
  for (auto u : in.Units()) {
    const int64_t old = u.id;
    u.target_id = target_ids.at(u.target_id);
    unit_ids[old] = out.UpsertUnit(u);
  }
  for (const auto& p : in.Problems()) problem_ids[p.id] = out.UpsertProblem(Problem::Parse(p.key));
  db::Database::Transaction tx(out);
  for (auto m : in.Measurements()) {
    if (m.status != "ok" || !m.stats || m.stats->p90_us > 1.5 * m.stats->p10_us) continue;
    m.unit_id = unit_ids.at(m.unit_id);
    m.problem_id = problem_ids.at(m.problem_id);
    m.sweep_id.reset();
    out.PutMeasurement(m);
  }
  tx.Commit();
  return path;
}

// Every held-out point and each estimator's prediction of it, for analysis outside (one row per
// point: the measured time and kNN's, the local fit's and the learned model's estimate; empty where
// an estimator has none).
void WriteHeldOut(const selector::CostModel& cost, const std::string& file) {
  std::FILE* f = std::fopen(file.c_str(), "w");
  if (!f) throw std::runtime_error(fmt::format("cannot write {}", file));
  auto cell = [](const std::optional<double>& v) { return v ? fmt::format("{:.4g}", *v) : std::string(); };
  fmt::print(f, "key,unit,layout,dtype,op,chosen,us,knn,local,learned,anchored,anchor_estimated,nearer,knn_log_sd\n");
  for (const auto& h : cost.HeldOutPredictions())
    fmt::print(f, "{},{},{},{},{},{},{:.4g},{},{},{},{},{},{},{:.4g}\n", h.key, h.unit, h.layout, h.dtype, h.op,
               selector::EstimatorName(cost.ChosenEstimator(h.unit, h.op)), h.us, cell(h.knn),
               cell(h.local), cell(h.learned), cell(h.anchored), cell(h.anchor_estimated), cell(h.nearer), h.knn_log_sd);
  std::fclose(f);
  fmt::print("held-out predictions written to {}\n", file);
}

// One measured point's name in the maps below.
std::string PointId(const std::string& key, const std::string& unit, const std::string& layout,
                    const std::string& dtype) {
  return key + "|" + unit + "|" + layout + "|" + dtype;
}

// Whether each stored measurement's quietest visit (the one the file keeps: the lowest median, as the
// sweep combines visits) was reproduced within 10% by another of its visits, in the time the cost
// model reads (ComparableUs: the host time where a unit has one), by PointId; measurements with a
// single visit are absent. A point whose own visits disagree by more than 10% is one no estimator can
// be expected to land within 10% of: the share that agree is what the held-out figures are read against.
std::map<std::string, bool> Reproduced(const std::string& path) {
  db::Database d = db::Database::Open(path, db::Mode::kReadOnly);
  std::map<int64_t, std::string> unit_names, problem_keys;
  for (const auto& u : d.Units()) unit_names[u.id] = u.name;
  for (const auto& p : d.Problems()) problem_keys[p.id] = p.key;
  std::map<std::string, std::vector<db::Stats>> visits;  // by the visits' key
  for (const auto& v : d.Visits("measurement"))
    if (v.status == "ok" && v.stats && v.stats->median_us > 0) visits[v.key].push_back(*v.stats);
  auto id = [](const std::string& text, int64_t* out) {
    return std::from_chars(text.data(), text.data() + text.size(), *out).ec == std::errc();
  };
  std::map<std::string, bool> out;
  for (const auto& [key, v] : visits) {
    if (v.size() < 2) continue;
    // The visits' key: problem_id|unit_id|layout|dtype.
    std::vector<std::string> f;
    for (size_t at = 0;;) {
      const size_t bar = key.find('|', at);
      f.push_back(key.substr(at, bar - at));
      if (bar == std::string::npos) break;
      at = bar + 1;
    }
    int64_t problem = 0, unit = 0;
    if (f.size() != 4 || !id(f[0], &problem) || !id(f[1], &unit)) continue;
    const auto p = problem_keys.find(problem);
    const auto u = unit_names.find(unit);
    if (p == problem_keys.end() || u == unit_names.end()) continue;
    const auto kept = std::min_element(v.begin(), v.end(), [](const db::Stats& x, const db::Stats& y) {
      return x.median_us < y.median_us;
    });
    const double t = selector::ComparableUs(*kept);
    bool again = false;
    for (auto it = v.begin(); it != v.end(); ++it)
      again = again || (it != kept && std::abs(selector::ComparableUs(*it) / t - 1) <= 0.10);
    out[PointId(p->second, u->second, f[2], f[3])] = again;
  }
  return out;
}

// Held-out accuracy per op family: kNN's and the local linear fit's leave-one-out, the learned
// model's out-of-fold predictions (one model per unit and op with layout and dtype as features, and
// one per layout and dtype), and the estimator the cost model chose per unit and op at load time.
// Then the load time of the cost model without and with the learned models, side by side.
void PrintAccuracy(const std::string& path) {
  using Clock = std::chrono::steady_clock;
  auto timed = [&](const selector::CostModelOptions& o, double* ms) {
    const auto t0 = Clock::now();
    selector::CostModel m = selector::CostModel::Load(path, o);
    *ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    return m;
  };
  selector::CostModelOptions knn_only, split, chosen;
  knn_only.learned = false;
  split.learned_per_layout = true;
  chosen.anchored_held_out = true;
  double ms_knn = 0, ms_pooled = 0, ms_split = 0;
  const selector::CostModel base = timed(knn_only, &ms_knn);
  const selector::CostModel plain = timed({}, &ms_pooled);  // what `select` loads, timed
  const selector::CostModel cost = selector::CostModel::Load(path, chosen);
  const selector::CostModel per_layout = timed(split, &ms_split);
  if (!g_heldout_csv.empty() && path == g_db) WriteHeldOut(cost, g_heldout_csv);
  std::map<std::string, double> split_pred;
  for (const auto& h : per_layout.HeldOutPredictions())
    if (h.learned) split_pred[PointId(h.key, h.unit, h.layout, h.dtype)] = *h.learned;
  const std::map<std::string, bool> reproduced = Reproduced(path);
  constexpr int kColumns = 5;
  struct Acc {
    int n = 0;
    int within[kColumns] = {0, 0, 0, 0, 0};
    std::vector<double> err[kColumns];
    int visited = 0, repeat = 0;  // points with 2+ visits; of them, the quietest reproduced
  };
  std::map<std::string, Acc> by_op, by_op_unit;
  std::map<std::string, std::string> chosen_by_op;
  for (const auto& h : cost.HeldOutPredictions()) {
    std::optional<double> split_h;
    if (auto it = split_pred.find(PointId(h.key, h.unit, h.layout, h.dtype)); it != split_pred.end())
      split_h = it->second;
    const selector::Estimator chosen = cost.ChosenEstimator(h.unit, h.op);
    std::string& c = chosen_by_op[h.op];
    const std::string name = fmt::format("{}:{}", h.unit, selector::EstimatorName(chosen));
    if (c.find(name) == std::string::npos) c += (c.empty() ? "" : ",") + name;
    std::optional<double> chosen_h = cost.HeldOutChosen(h);
    // A fused chain whose anchor is measured: the plan prices it by the anchor and the marginals.
    if (h.anchored) chosen_h = h.anchored;
    const std::optional<double> pred[kColumns] = {h.knn, h.local, h.learned, split_h, chosen_h};
    const auto rep = reproduced.find(PointId(h.key, h.unit, h.layout, h.dtype));
    for (Acc* x : {&by_op[h.op], &by_op["(all)"], &by_op_unit[h.op + " " + h.unit], &by_op_unit["(all) " + h.unit]}) {
      ++x->n;
      if (rep != reproduced.end()) ++x->visited, x->repeat += rep->second;
      for (int i = 0; i < kColumns; ++i) {
        const double rel = pred[i] ? std::abs(*pred[i] / h.us - 1) : std::numeric_limits<double>::infinity();
        x->err[i].push_back(rel);
        x->within[i] += rel <= 0.10;
      }
    }
  }
  fmt::print("held-out accuracy on {} ({} units): within 10% / median |err| (a point an estimator cannot\n"
             "predict counts as a miss); local: the local linear fit; learned: per unit and op, layout\n"
             "and dtype as features; learned/l: per unit, layout, dtype, op, alg; chosen: per unit and op,\n"
             "at load time; repeat: of the points measured in 2+ visits, those whose quietest visit\n"
             "(the stored value) another visit reproduced within 10%\n",
             path, cost.Units().size());
  auto repeat = [](const Acc& a) {
    return a.visited ? fmt::format("{:.1f}%", 100.0 * a.repeat / a.visited) : std::string("-");
  };
  fmt::print("{:<9} {:>6} {:>7}  {:>15}  {:>15}  {:>15}  {:>15}  {:>15}  {}\n", "op", "points", "repeat",
             "knn", "local", "learned", "learned/l", "chosen", "chosen estimator");
  for (auto& [op, a] : by_op) {
    fmt::print("{:<9} {:>6} {:>7}", op, a.n, repeat(a));
    for (int i = 0; i < kColumns; ++i) {
      std::sort(a.err[i].begin(), a.err[i].end());
      const double med = a.err[i].empty() ? 0 : a.err[i][a.err[i].size() / 2];
      const std::string m = std::isfinite(med) ? fmt::format("{:.1f}%", 100 * med) : "-";
      fmt::print("  {:>6.1f}% {:>7}", 100.0 * a.within[i] / std::max(1, a.n), m);
    }
    fmt::print("  {}\n", chosen_by_op[op]);
  }
  // The same per unit: where the chosen estimator falls short of the points' own repeatability, the
  // interpolation is the limit; where both are low, the unit's measurements are.
  fmt::print("per unit: points, within 10% by the chosen estimator, repeat\n");
  for (const auto& [op_unit, a] : by_op_unit)
    fmt::print("  {:<22} {:>6}  {:>6.1f}%  {:>7}\n", op_unit, a.n, 100.0 * a.within[kColumns - 1] / std::max(1, a.n),
               repeat(a));
  // Fused points with their anchor measured in the same state: the chain's other shapes (the chosen
  // estimator of the chain's family) against the anchor plus the post-ops' marginal costs, the anchor
  // measured (what the plan uses when it is) and estimated without its own point; and the nearer of
  // the chain's other shapes and that (what the plan uses when neither is measured).
  int fused = 0, chain_within = 0, anchored_within = 0, estimated_within = 0, nearer_within = 0;
  auto within = [](const std::optional<double>& v, double us) { return v && std::abs(*v / us - 1) <= 0.10; };
  for (const auto& h : cost.HeldOutPredictions()) {
    if (!h.anchored) continue;
    ++fused;
    chain_within += within(cost.HeldOutChosen(h), h.us);
    anchored_within += within(h.anchored, h.us);
    estimated_within += within(h.anchor_estimated, h.us);
    nearer_within += within(h.nearer, h.us);
  }
  if (fused > 0)
    fmt::print("fused points with their anchor measured: {}; within 10% by the chain's other shapes {:.1f}%, "
               "by the anchor plus marginal costs {:.1f}% (chosen); the anchor held out too: by its "
               "estimate plus marginal costs {:.1f}%, by that or the chain's other shapes, whichever is "
               "nearer its data, {:.1f}%\n",
               fused, 100.0 * chain_within / fused, 100.0 * anchored_within / fused,
               100.0 * estimated_within / fused, 100.0 * nearer_within / fused);
  fmt::print("kNN's price of a weight element (convolution, matmul, inner product), chosen by leave-one-out, in FLOPs:");
  for (const std::string& u : base.Units()) fmt::print(" {} {:g}", u, base.WeightFlops(u));
  fmt::print("\n");
  fmt::print("memory-bound ops kNN scales by the unit's element-wise rate at their size, chosen by leave-one-out:");
  for (const std::string& u : base.Units()) {
    std::vector<std::string> ops;
    for (const auto& [op, unused] : by_op)
      if (base.ScalesByRateCurve(u, op)) ops.push_back(op);
    fmt::print(" {} [{}]", u, fmt::join(ops, " "));
  }
  fmt::print("\n");
  fmt::print("cost model load time: kNN and the local fit {:.1f} ms, with learned models (per unit and "
             "op) {:.1f} ms, (per layout and dtype) {:.1f} ms\n\n",
             ms_knn, ms_pooled, ms_split);
  benchmark::DoNotOptimize(base.Units().size());
  benchmark::DoNotOptimize(plain.Units().size());
}

// The `n` entries with the largest first value, largest first, one line each after `prefix`.
void PrintLargest(std::vector<std::pair<double, std::string>> items, size_t n, const std::string& prefix) {
  std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t i = 0; i < items.size() && i < n; ++i) fmt::print("{}{}\n", prefix, items[i].second);
}

// How `select` prices `p` in one state when the database has no row of it: CostModel::Op, and a
// fused chain as FusedCost does (plan.cpp): interpolated among its chain's other shapes, or the anchor
// plus each post-op's marginal cost, whichever is nearer its data. nullopt with *refused when the plan
// would not price the state as one kernel (the anchor, or the nearest measured problem, has only a
// reference kernel there; a post-op has no measured marginal). It follows FusedCost's rule for one
// problem in one state, without the graph: a change of that rule must be made here too.
std::optional<selector::Estimate> PlanPrice(const selector::CostModel& cost, const Problem& p,
                                            const std::string& key, const std::string& unit,
                                            const std::string& layout, const std::string& dtype, bool* refused) {
  using selector::Confidence;
  // A mixed (src>dst) state is priced from its exact measurement only (plan.cpp's Lookup).
  const bool mixed = layout.find('>') != std::string::npos;
  if (p.post_ops().empty() && mixed) {
    *refused = true;
    return std::nullopt;
  }
  if (p.post_ops().empty()) return cost.Op(p, key, unit, layout, dtype, true, refused);
  auto fused = cost.Op(p, key, unit, layout, dtype, false, refused);
  if (*refused || (fused && fused->confidence == Confidence::kExact)) return fused;
  if (mixed) fused.reset();
  const Problem anchor(p.op(), p.alg(), p.params());
  auto a = cost.Op(anchor, anchor.Key(), unit, layout, dtype, true, refused);
  if (a && mixed && a->confidence != Confidence::kExact) a.reset();
  if (!a) {
    *refused = true;
    return std::nullopt;
  }
  std::optional<selector::Estimate> with = a;
  const double out_bytes = static_cast<double>(p.DstElems()) * DtypeSize(dtype);
  for (const auto& po : p.post_ops()) {
    const auto m = cost.MarginalUs(unit, layout, dtype, po, out_bytes);
    if (m) with->us += *m;
    else with.reset();
    if (!with) break;
  }
  if (!fused) {
    *refused = !with;
    return with;
  }
  const bool nearer = with && a->confidence != Confidence::kRoofline &&
                      (a->confidence == Confidence::kExact || a->log_sd <= fused->log_sd);
  return nearer ? with : fused;
}

// The problems `other` measured that `path` did not, predicted from `path` as `select` prices them
// (PlanPrice), per op and unit: how many, within 10%, the median |error|, the median signed error
// (negative: predicted faster than measured), how many were rooflines, how many states the plan
// would refuse (not counted in the errors), and the sum of the predictions over the sum of the
// measurements. Then the misses that cost the most time. Layout `any` is left out (a plan's states
// are concrete layouts). Both files should come from one machine at one time: drift between the
// two runs shows as a bias.
void PrintAgainst(const std::string& path, const std::string& other) {
  const selector::CostModel cost = selector::CostModel::Load(path);
  db::Database d = db::Database::Open(other, db::Mode::kReadOnly);
  std::map<int64_t, std::string> unit_names, problem_keys;
  for (const auto& u : d.Units()) unit_names[u.id] = u.name;
  for (const auto& p : d.Problems()) problem_keys[p.id] = p.key;
  struct Acc {
    int n = 0, within = 0, roofline = 0, refused = 0;
    double measured_us = 0, predicted_us = 0;
    std::vector<double> err;  // signed, relative
  };
  std::map<std::string, Acc> by;
  std::vector<std::pair<double, std::string>> misses;  // us off, the line
  const auto& units = cost.Units();
  for (const auto& m : d.Measurements()) {
    if (m.status != "ok" || m.is_reference || !m.stats || m.layout == "any") continue;
    const std::string& key = problem_keys.at(m.problem_id);
    const std::string& unit = unit_names.at(m.unit_id);
    const double us = selector::ComparableUs(*m.stats);
    if (us <= 0 || std::find(units.begin(), units.end(), unit) == units.end() ||
        cost.Measured(key, unit, m.layout, m.dtype))
      continue;
    const Problem p = Problem::Parse(key);
    bool refused = false;
    const auto e = PlanPrice(cost, p, key, unit, m.layout, m.dtype, &refused);
    // A depthwise convolution is a family of its own (cost.cpp), and so is it here.
    const bool depthwise = p.op() == "conv2d" && p.Get("g") > 1 && p.Get("g") == p.Get("ic");
    for (const std::string& g : {p.op() + (depthwise ? "-dw " : " ") + unit, "(all) " + unit}) {
      Acc& a = by[g];
      if (!e) {
        a.refused += refused;
        continue;
      }
      ++a.n;
      a.err.push_back(e->us / us - 1);
      a.within += std::abs(a.err.back()) <= 0.10;
      a.roofline += e->confidence == selector::Confidence::kRoofline;
      a.measured_us += us;
      a.predicted_us += e->us;
    }
    if (e)
      misses.push_back({std::abs(e->us - us),
                        fmt::format("{:+7.1f}%  {} {} {} {}: {:.1f} us measured, {:.1f} us ({}) predicted",
                                    100 * (e->us / us - 1), key, unit, m.layout, m.dtype, us, e->us,
                                    selector::EstimatorName(e->estimator))});
  }
  fmt::print("against {}: its problems not measured in {}, priced from it as a plan prices them:\n"
             "  {:<22} {:>6} {:>8} {:>7} {:>10} {:>9} {:>8} {:>14}\n",
             other, path, "op unit", "points", "within", "|err|", "signed", "roofline", "refused", "sum pred/meas");
  for (auto& [g, a] : by) {
    if (a.err.empty()) continue;
    std::vector<double> abs_err;
    for (double e : a.err) abs_err.push_back(std::abs(e));
    std::sort(abs_err.begin(), abs_err.end());
    std::sort(a.err.begin(), a.err.end());
    fmt::print("  {:<22} {:>6} {:>7.1f}% {:>6.1f}% {:>+9.1f}% {:>9} {:>8} {:>14.3f}\n", g, a.n,
               100.0 * a.within / a.n, 100 * abs_err[abs_err.size() / 2], 100 * a.err[a.err.size() / 2],
               a.roofline, a.refused, a.predicted_us / a.measured_us);
  }
  // A 2 ms kernel 20% under costs a plan more than a 1 us one twice over.
  fmt::print("  the misses that cost the most time:\n");
  PrintLargest(std::move(misses), 12, "  ");
  fmt::print("\n");
}
// --against FILE with --model: the model's plan made on the database, priced by FILE, a file that
// measured the model's own problems (`sweep --model`, every state exact): how far the plan's
// predicted total is from FILE's price of the same choices (sub-graphs and transitions), how many
// sub-graphs' predictions land within 10% of it, and what the plan loses against FILE's own plan
// (regret: FILE's price of the database's plan over FILE's optimum). What `sweep --refine` should
// shrink; both files from one machine at one time.
void PrintPlanAgainst(const std::string& path, const std::string& other) {
  selector::CostModelOptions options;
  options.refuse = microbench::MakeReferenceCheck();
  const selector::CostModel cost = selector::CostModel::Load(path, options);
  const selector::CostModel truth = selector::CostModel::Load(other, options);
  const selector::Graph g = selector::ImportOnnx(g_model, g_inputs);
  const selector::Partition part = selector::DefaultPartition(g);
  selector::PlanOptions po;
  for (const auto& u : cost.Units())
    if (std::find(truth.Units().begin(), truth.Units().end(), u) != truth.Units().end()) po.units.push_back(u);
  const selector::PlanProblem pp = selector::BuildPlanProblem(g, part, cost, po);
  const selector::PlanProblem pt = selector::BuildPlanProblem(g, part, truth, po);
  const selector::SolveResult plan = selector::SolvePlan(pp), best = selector::SolvePlan(pt);
  // The plan's choices as states of FILE's problem.
  std::vector<int> mapped(pp.states.size(), -1);
  int within = 0, priced = 0, inexact = 0;
  std::vector<std::pair<double, std::string>> misses;
  for (size_t s = 0; s < pp.states.size(); ++s) {
    const selector::State& mine = pp.states[s][static_cast<size_t>(plan.state[s])];
    inexact += mine.confidence != selector::Confidence::kExact;
    for (size_t k = 0; k < pt.states[s].size(); ++k) {
      const selector::State& t = pt.states[s][k];
      if (t.unit != mine.unit || t.label != mine.label) continue;
      mapped[s] = static_cast<int>(k);
      if (t.confidence != selector::Confidence::kExact) break;  // FILE does not know it either
      ++priced;
      within += std::abs(mine.us / t.us - 1) <= 0.10;
      misses.push_back({std::abs(mine.us - t.us),
                        fmt::format("#{:<3} {}/{}: {:.1f} us predicted ({}), {:.1f} us in {} ({:+.1f}%)", s,
                                    mine.unit, mine.label, mine.us, selector::ConfidenceName(mine.confidence),
                                    t.us, other, 100 * (mine.us / t.us - 1))});
    }
  }
  fmt::print("the plan of {} made on {}, priced by {}: {} sub-graphs, {} not exact in the database\n",
             g_model, path, other, pp.states.size(), inexact);
  if (std::count(mapped.begin(), mapped.end(), -1) > 0) {
    fmt::print("  {} of its states cannot run according to {}: no total\n\n",
               std::count(mapped.begin(), mapped.end(), -1), other);
    return;
  }
  const double priced_total = selector::Evaluate(pt.solve, mapped);
  fmt::print("  predicted total {:.1f} us, priced {:.1f} us ({:+.1f}%); sub-graphs within 10%: {} of {} priced "
             "exactly\n  regret: {:.1f} us against its optimum {:.1f} us (x{:.3f})\n",
             plan.total, priced_total, 100 * (plan.total / priced_total - 1), within, priced,
             priced_total - best.total, best.total, priced_total / best.total);
  PrintLargest(std::move(misses), 5, "  ");
  double kernels = 0, best_kernels = 0;
  for (size_t s = 0; s < pp.states.size(); ++s) {
    kernels += pt.states[s][static_cast<size_t>(mapped[s])].us;
    best_kernels += pt.states[s][static_cast<size_t>(best.state[s])].us;
  }
  fmt::print("  of which kernels {:.1f} us, transitions {:.1f} us; the optimum's {:.1f} and {:.1f} us\n", kernels,
             priced_total - kernels, best_kernels, best.total - best_kernels);
  // The transitions priced furthest from FILE's price: edges with one reader, and each tensor several
  // sub-graphs read (its conversions and transfers alone).
  if (pp.solve.pairs.size() == pt.solve.pairs.size()) {
    std::vector<std::pair<double, std::string>> edges;
    for (size_t k = 0; k < pp.solve.pairs.size(); ++k) {
      const auto& a = pp.solve.pairs[k];
      const auto& b = pt.solve.pairs[k];
      if (a.a != b.a || a.b != b.b) continue;
      const double mine = a.cost[static_cast<size_t>(plan.state[a.a]) * pp.states[a.b].size() + plan.state[a.b]];
      const double t = b.cost[static_cast<size_t>(mapped[b.a]) * pt.states[b.b].size() + mapped[b.b]];
      if (mine == t) continue;
      edges.push_back({std::abs(mine - t), fmt::format("#{} -> #{}: {:.1f} us predicted, {:.1f} us priced",
                                                       a.a, a.b, mine, t)});
    }
    auto alone = [](const selector::SolveProblem& sp, size_t k, const std::vector<int>& state) {
      selector::SolveProblem one;
      for (const auto& u : sp.unary) one.unary.push_back(std::vector<double>(u.size(), 0.0));
      one.shared = {sp.shared[k]};
      return selector::Evaluate(one, state);
    };
    if (pp.solve.shared.size() == pt.solve.shared.size())
      for (size_t k = 0; k < pp.solve.shared.size(); ++k) {
        const double mine = alone(pp.solve, k, plan.state), t = alone(pt.solve, k, mapped);
        if (mine != t)
          edges.push_back({std::abs(mine - t), fmt::format("#{} -> {} readers: {:.1f} us predicted, {:.1f} us priced",
                                                           pp.solve.shared[k].from, pp.solve.shared[k].readers.size(),
                                                           mine, t)});
      }
    PrintLargest(std::move(edges), 5, "  transition ");
  }
  // Where the decisions differ: each sub-graph's choice and FILE's, both priced by FILE.
  for (size_t s = 0; s < pp.states.size(); ++s) {
    const selector::State& chose = pt.states[s][static_cast<size_t>(mapped[s])];
    const selector::State& opt = pt.states[s][static_cast<size_t>(best.state[s])];
    if (&chose == &opt) continue;
    const selector::State& mine = pp.states[s][static_cast<size_t>(plan.state[s])];
    fmt::print("  #{:<3} chose {}/{} ({:.1f} us predicted, {:.1f} us priced), optimum {}/{} ({:.1f} us priced)\n", s,
               chose.unit, chose.label, mine.us, chose.us, opt.unit, opt.label, opt.us);
  }
  fmt::print("\n");
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--db" && i + 1 < argc) g_db = argv[++i];
    else if (a == "--model" && i + 1 < argc) g_model = argv[++i];
    else if (a == "--heldout-csv" && i + 1 < argc) g_heldout_csv = argv[++i];
    else if (a == "--against" && i + 1 < argc) g_against = argv[++i];
    else if (a == "--input" && i + 1 < argc) g_inputs.insert(layoutdb::ParseInputShape(argv[++i]));
    else rest.push_back(argv[i]);
  }
  if (g_db.empty() && std::getenv("LAYOUTDB_DB")) g_db = std::getenv("LAYOUTDB_DB");
  if (g_db.empty() && fs::exists("layout.db")) g_db = "layout.db";  // what quickstart.sh writes
  if (g_db.empty()) {
    g_db = SyntheticDatabase();
    fmt::print("no database given: using a synthetic one ({})\n", g_db);
  }
  const bool model_given = !g_model.empty();
  if (g_model.empty()) {
    g_model = FindModel();
    // The example BERT stack leaves batch and sequence dynamic.
    if (g_inputs.empty() && fs::path(g_model).filename() == "bert_base_shared.onnx")
      g_inputs["hidden_states"] = {1, 128, 768};
  }
  try {
    PrintAccuracy(g_db);
    if (!g_against.empty()) PrintAgainst(g_db, g_against);
    if (!g_against.empty() && model_given) PrintPlanAgainst(g_db, g_against);
    fmt::print("the same, stable measurements only (p90 <= 1.5 x p10):\n");
    PrintAccuracy(StableCopy(g_db));
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_select: {}\n", e.what());
    return 1;
  }
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
