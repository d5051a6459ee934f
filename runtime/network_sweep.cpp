// `layoutdb sweep --model M --cache network`, its second half: the model's own problems timed inside the
// model's network, written over their rows (cache_mode 'network'; schema/007_network_cache.sql).
//
// Why: a kernel timed alone, however its caches are prepared (hot, warm, cold), is not the kernel in a
// network, where its input was just written by its neighbour and the other sub-graphs' weights compete
// for the last-level cache. On the six example models (one validate each, right after a warm sweep of
// the model): a sub-graph's time among validate's candidates (candidate_us: same state, its neighbours
// in another layout) lay within 10% of its time in the plan, minutes later, for 212 of 233 sub-graphs;
// the warm sweep's figures, taken alone minutes before, for 132.
//
// How: exactly as `validate` times its candidates (plan_timing.h, TimeCandidates): for every (unit,
// layout) label a sub-graph may take, one run of the model in which every sub-graph that has that state
// takes it; all runs interleaved, in rounds at separate moments; a state's figure is its quietest
// round's median, as a sweep stores a point's quietest visit. Every sub-graph's time in every state is
// stored for this model (network_times, schema 8: the selector prices that state from it when it plans
// the same file at the same shapes with the same partition). It is also written to the row
// of the one kernel it runs as: its fused key when the fused problem covers every node, else the
// problem of its single node; nothing else (a sub-graph of several separate kernels, a view) is
// written (views of a plain tensor, free, aside). A key several sub-graphs share takes the mean of the
// instances' figures (CombineInstances). Only rows that exist,
// measured usable, are replaced (the sweep's first half wrote them; their visits keep the figures
// timed alone); `any` rows whose chosen layout is the state's take the same figure.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "command_util.h"
#include "commands.h"
#include "layoutdb/db.h"
#include "layoutdb/microbench/calibration.h"
#include "plan_timing.h"

#ifndef LAYOUTDB_VERSION
#define LAYOUTDB_VERSION "unknown"
#endif

namespace layoutdb::runtime {
namespace {

// The database key of the one kernel sub-graph `s` runs as in a state, or "" when it runs as several
// (or none).
std::string KernelKey(const PlanView& view, size_t s, const selector::State& st) {
  const selector::Subgraph& sg = view.partition.subgraphs[s];
  // A view (Reshape, Flatten, ...) of a plain tensor is no kernel of its own.
  auto is_plain = [](const std::string& l) { return l == "plain" || l == "nchw"; };
  const bool plain = is_plain(st.in) && is_plain(st.out);
  std::vector<int> live;
  for (int i : sg.nodes) {
    const selector::Node& n = view.graph.nodes[i];
    if (!n.is_constant && !(plain && selector::IsViewOp(n.op_type))) live.push_back(i);
  }
  if (const auto fp = selector::FuseSubgraph(view.graph, sg)) {
    if (st.fused_cost != "fused") return "";
    for (int i : live)
      if (std::find(fp->nodes.begin(), fp->nodes.end(), i) == fp->nodes.end()) return "";
    return fp->problem.Key();
  }
  if (live.size() == 1 && view.graph.nodes[live[0]].problem) return view.graph.nodes[live[0]].problem->Key();
  return "";
}

// One figure for the instances of a key (sub-graphs that run the same kernel in the same state): the
// mean of their medians, so that the instances' predictions sum to what they took together. Their
// contexts differ (what wrote the input, whose weights left the cache): MobileNetV2's two 56x56
// expansion convolutions ran 77 and 92 us in one nhwc run. p10 and p90 span the instances; rel_ci is
// at least their spread around the mean, and the figure is stable only when every instance was and
// that spread is within the target.
microbench::Summary CombineInstances(const std::vector<microbench::Summary>& xs, double target_rel_ci) {
  if (xs.size() == 1) return xs.front();
  microbench::Summary c = xs.front();
  double sum = 0, lo = xs.front().median_us, hi = lo;
  bool stable = true;
  for (const auto& x : xs) {
    sum += x.median_us;
    lo = std::min(lo, x.median_us);
    hi = std::max(hi, x.median_us);
    c.p10_us = std::min(c.p10_us, x.p10_us);
    c.p90_us = std::max(c.p90_us, x.p90_us);
    c.min_us = std::min(c.min_us, x.min_us);
    c.rel_ci = std::max(c.rel_ci, x.rel_ci);
    stable = stable && x.stable;
  }
  c.repetitions = 0;
  double sq = 0, mean_sum = 0;
  for (const auto& x : xs) {
    c.repetitions += x.repetitions;
    mean_sum += x.mean_us * x.repetitions;
    sq += x.repetitions * (x.stddev_us * x.stddev_us + x.mean_us * x.mean_us);
  }
  c.median_us = sum / static_cast<double>(xs.size());
  c.mean_us = mean_sum / c.repetitions;
  c.stddev_us = std::sqrt(std::max(0.0, sq / c.repetitions - c.mean_us * c.mean_us));
  if (c.median_us > 0) c.rel_ci = std::max(c.rel_ci, 0.5 * (hi - lo) / c.median_us);
  c.stable = stable && c.rel_ci <= target_rel_ci;
  return c;
}

}  // namespace

int RunNetworkSweep(const NetworkSweepOptions& o) {
  const auto shapes = ParseInputs(o.inputs);
  RuntimeOptions ro;
  ro.inputs = shapes;
  const PlanView view = ViewPlan(o.model, o.db, "", shapes, o.units);
  const selector::PlanProblem& pp = view.problem;
  const size_t n_sg = pp.states.size();
  RuntimePool pool(o.model, ro);
  std::string error;
  const int plan_rt = pool.Load(view.selected, &error);
  if (plan_rt < 0) throw std::runtime_error(error);
  const std::vector<Tensor> inputs = MakeInputs(pool[plan_rt].InputSpecs(), {}, 1);

  microbench::PlacementGate gate(o.settle_s, microbench::PlacementGate::kApartFactor, SweepsPlacementNs(o.db));
  const microbench::MeasureConfig cfg = PlanTimingConfig(o.budget_s, o.min_reps, &gate);
  const std::string started = db::NowUtc();
  const auto samples = TimeCandidates(view, pool, inputs, cfg, o.rounds, /*warm_run=*/true);

  // Each state's rounds combined once (nullopt: not timed); per (key, unit, layout) every instance's.
  std::vector<std::vector<std::optional<microbench::Summary>>> combined(n_sg);
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<microbench::Summary>> by_row;
  int unkeyed = 0;
  for (size_t s = 0; s < n_sg; ++s)
    for (size_t k = 0; k < pp.states[s].size(); ++k) {
      auto sm = samples[s][k].Combined(cfg.target_rel_ci);
      if (sm && sm->repetitions == 0) sm.reset();
      combined[s].push_back(sm);
      if (!sm) continue;
      const std::string key = KernelKey(view, s, pp.states[s][k]);
      if (key.empty()) {
        ++unkeyed;
        continue;
      }
      by_row[{key, pp.states[s][k].unit, pp.states[s][k].label}].push_back(*sm);
    }

  db::Database d = db::Database::Open(o.db, db::Mode::kReadWrite);
  const int64_t target = d.PlannedTargetId();
  std::map<std::string, int64_t> unit_id;
  for (const auto& u : d.Units(target)) unit_id[u.name] = u.id;
  db::SweepRow sw;
  sw.target_id = target;
  sw.spec_name = "network";
  sw.spec = nlohmann::json{{"model", o.model}, {"inputs", o.inputs}, {"rounds", o.rounds},
                           {"budget_s", o.budget_s}, {"min_reps", o.min_reps}}.dump();
  sw.spec_hash = HashHex(sw.spec);
  sw.filters = nlohmann::json{{"units", o.units}}.dump();
  sw.tool_version = "layoutdb " LAYOUTDB_VERSION;
  sw.started_at = started;  // when the timing began: the row is written once it is done
  sw.status = "running";
  sw.points_total = static_cast<int64_t>(by_row.size());
  sw.cache_mode = "network";
  sw.execution = nlohmann::json{{"placement", gate.ToJson()}}.dump();
  const int64_t sweep_id = d.InsertSweep(sw);

  struct Change {
    std::string key, unit, layout;
    double alone_us = 0, network_us = 0;
  };
  std::vector<Change> changes;
  int missing = 0;
  std::map<std::pair<int64_t, int64_t>, std::vector<db::MeasurementRow>> rows;  // (problem, unit) -> rows
  for (const auto& [name, id] : unit_id)
    for (auto& m : d.Measurements(id)) rows[{m.problem_id, id}].push_back(std::move(m));
  int instances = 0;
  {
    db::Database::Transaction tx(d);
    // Every sub-graph's own time in every state, for this model (network_times).
    for (size_t s = 0; s < n_sg; ++s)
      for (size_t k = 0; k < pp.states[s].size(); ++k) {
        const auto& sm = combined[s][k];
        const auto uid = unit_id.find(pp.states[s][k].unit);
        if (!sm || uid == unit_id.end()) continue;
        db::NetworkTimeRow r;
        r.sweep_id = sweep_id;
        r.unit_id = uid->second;
        r.model = view.model_instance;
        r.nodes = selector::NodeList(view.partition.subgraphs[s].nodes);
        r.layout = pp.states[s][k].label;
        r.dtype = view.selected.dtype;
        r.median_us = sm->median_us;
        r.p10_us = sm->p10_us;
        r.p90_us = sm->p90_us;
        r.repetitions = sm->repetitions;
        r.rel_ci = sm->rel_ci;
        d.PutNetworkTime(r);
        ++instances;
      }
    for (auto& [row_key, figures] : by_row) {
      const auto& [key, unit, layout] = row_key;
      const auto problem = d.ProblemByKey(key);
      const auto uid = unit_id.find(unit);
      if (!problem || uid == unit_id.end()) {
        ++missing;
        continue;
      }
      const microbench::Summary mid = CombineInstances(figures, cfg.target_rel_ci);
      bool written = false;
      for (db::MeasurementRow m : rows[{problem->id, uid->second}]) {
        if (m.dtype != view.selected.dtype) continue;
        const bool same = m.layout == layout;
        const bool chosen = m.layout == "any" && m.chosen_layout == layout;
        if (!(same || chosen) || m.status != "ok" || m.is_reference || !m.stats) continue;
        // Against what was timed alone (a row a network sweep wrote before holds no such figure).
        if (same) changes.push_back({key, unit, layout, m.stats->cache_mode == "network" ? 0 : selector::ComparableUs(*m.stats), mid.median_us});
        m.stats = microbench::ToStats(mid, "host", "network");  // the runtime's steady clock
        m.sweep_id = sweep_id;
        m.measured_at.clear();
        d.PutMeasurement(m);
        written = true;
      }
      missing += written ? 0 : 1;
    }
    tx.Commit();
  }
  d.FinishSweep(sweep_id, "completed", static_cast<int64_t>(changes.size()));

  std::vector<double> ratios;
  for (const auto& c : changes)
    if (c.alone_us > 0) ratios.push_back(c.network_us / c.alone_us);
  if (!o.quiet) {
    fmt::print("network: {} states of {} sub-graphs timed in {} ({} rounds), each stored for this model; {} "
               "problem rows now hold their time in the network, {} states run as several kernels (their parts "
               "left as measured alone), {} keys without a usable row\n",
               instances, n_sg, o.model, std::max(1, o.rounds), changes.size(), unkeyed, missing);
    if (!ratios.empty())
      fmt::print("network: in the network over alone, median {:.2f}x (p10 {:.2f}x, p90 {:.2f}x)\n",
                 Percentile(ratios, 0.5), Percentile(ratios, 0.1), Percentile(ratios, 0.9));
  }
  return 0;
}

}  // namespace layoutdb::runtime
