// The selector's view of a plan and the timing of its candidate states in the network (plan_timing.h).
#include "plan_timing.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "command_util.h"
#include "layoutdb/db.h"
#include "layoutdb/microbench/calibration.h"
#include "layoutdb/microbench/unit.h"

namespace layoutdb::runtime {

void RoundSamples::Add(int round, double us) {
  if (by_round.size() <= static_cast<size_t>(round)) by_round.resize(round + 1);
  by_round[round].push_back(us);
}

std::vector<double> RoundSamples::RoundMedians() const {
  std::vector<double> m;
  for (const auto& r : by_round)
    if (!r.empty()) m.push_back(Percentile(r, 0.5));
  return m;
}

std::optional<double> RoundSamples::Smallest(const std::vector<double>& medians) {
  if (medians.empty()) return std::nullopt;
  return *std::min_element(medians.begin(), medians.end());
}

std::optional<microbench::Summary> RoundSamples::Combined(double target_rel_ci) const {
  std::vector<microbench::Summary> rounds;
  for (const auto& r : by_round)
    if (!r.empty()) rounds.push_back(microbench::Summarize(r, target_rel_ci));
  if (rounds.empty()) return std::nullopt;
  return microbench::CombineVisits(rounds, target_rel_ci);
}

bool RoundsAgree(const std::vector<double>& medians, double rel) {
  if (medians.size() < 2) return false;
  const auto [lo, hi] = std::minmax_element(medians.begin(), medians.end());
  return *lo > 0 && *hi <= *lo * (1 + rel);
}

std::vector<microbench::Summary> TimeInRounds(const std::vector<std::function<double()>>& runners,
                                              const microbench::MeasureConfig& cfg, int rounds, int& round) {
  const microbench::MeasureConfig each = microbench::VisitConfig(cfg, rounds);
  std::vector<std::vector<microbench::Summary>> per(runners.size());
  for (round = 0; round < std::max(1, rounds); ++round) {
    const auto r = microbench::MeasureInterleaved(runners, each);
    for (size_t i = 0; i < r.size(); ++i) per[i].push_back(r[i]);
  }
  std::vector<microbench::Summary> out;
  for (const auto& p : per) out.push_back(microbench::CombineVisits(p, cfg.target_rel_ci));
  return out;
}

microbench::MeasureConfig PlanTimingConfig(double budget_s, int min_reps, microbench::PlacementGate* gate) {
  microbench::MeasureConfig cfg;
  cfg.budget_s = budget_s;
  cfg.min_reps = min_reps;
  cfg.warmup = 2;
  cfg.target_rel_ci = 0.01;
  cfg.gate = gate;
  return cfg;
}

// The median over the planned target's sweeps (the most recently added, as the cost model plans for)
// of the median core-to-core probe that let a pass through (execution.placement.median_ns). Not the
// fastest probe: on a Xeon VM that was a slow spell's (microbench::PlacementGate).
std::optional<double> SweepsPlacementNs(const std::string& path) {
  std::vector<double> medians;
  try {
    db::Database d = db::Database::Open(path, db::Mode::kReadOnly);
    const int64_t target = d.PlannedTargetId();
    for (const auto& s : d.Sweeps()) {
      if (s.target_id != target) continue;
      const auto e = nlohmann::json::parse(s.execution.empty() ? "{}" : s.execution, nullptr, false);
      if (!e.is_object() || !e.contains("placement") || !e["placement"].is_object()) continue;
      const auto& p = e["placement"];
      if (p.contains("median_ns") && p["median_ns"].is_number() && p["median_ns"].get<double>() > 0)
        medians.push_back(p["median_ns"].get<double>());
    }
  } catch (const std::exception&) {  // the cost model opened the same file: nothing new to say here
  }
  if (medians.empty()) return std::nullopt;
  return Percentile(medians, 0.5);
}

PlanView ViewPlan(const std::string& model, const std::string& db, const std::string& plan_path,
                  const std::map<std::string, std::vector<int64_t>>& shapes,
                  const std::vector<std::string>& units) {
  Plan selected = GetPlan(model, db, plan_path, shapes, units);
  selector::Graph g = selector::ImportOnnx(model, shapes);
  selector::Partition part;
  for (const auto& ps : selected.subgraphs) {
    selector::Subgraph sg;
    sg.nodes = ps.nodes;
    for (int i : ps.nodes)
      if (i >= 0 && i < static_cast<int>(g.nodes.size()) && selector::IsAnchorOp(g.nodes[i].op_type)) {
        sg.anchor = i;
        break;
      }
    part.subgraphs.push_back(std::move(sg));
  }
  part.edges = selector::ComputeEdges(g, part.subgraphs);
  selector::CostModelOptions cost_options;
  cost_options.refuse = microbench::MakeReferenceCheck();
  selector::CostModel cost = selector::CostModel::Load(db, cost_options);
  selector::PlanOptions po;
  po.units = units.empty() ? selected.units : units;
  po.dtype = selected.dtype;
  po.model_instance = selector::ModelInstance(selected.model_hash.empty() ? ModelHash(model) : selected.model_hash, g);
  selector::PlanProblem pp = selector::BuildPlanProblem(g, part, cost, po);
  const size_t n_sg = selected.subgraphs.size();
  if (pp.states.size() != n_sg)
    throw std::runtime_error(fmt::format("plan has {} sub-graphs, the selector sees {} for {}", n_sg,
                                         pp.states.size(), model));
  std::vector<int> selected_state(n_sg, -1);
  for (size_t s = 0; s < n_sg; ++s)
    for (size_t k = 0; k < pp.states[s].size(); ++k)
      if (pp.states[s][k].unit == selected.subgraphs[s].unit && pp.states[s][k].label == selected.subgraphs[s].layout)
        selected_state[s] = static_cast<int>(k);
  return PlanView{std::move(g),        std::move(part),           std::move(cost),
                  std::move(pp),       std::move(selected),       std::move(selected_state),
                  std::move(po.model_instance)};
}

Plan WithStates(const Plan& base, const selector::PlanProblem& pp, const std::vector<int>& state) {
  Plan p = base;
  for (size_t s = 0; s < p.subgraphs.size(); ++s) {
    if (state[s] < 0) continue;
    const selector::State& st = pp.states[s][state[s]];
    p.subgraphs[s].unit = st.unit;
    p.subgraphs[s].layout = st.label;
    p.subgraphs[s].predicted_us = st.us;
    if (!p.subgraphs[s].fused_key.empty()) p.subgraphs[s].fused_cost = st.fused_cost;
  }
  return p;
}

int RuntimePool::Load(const Plan& plan, std::string* error) {
  std::string key;
  for (const auto& s : plan.subgraphs) key += s.unit + "/" + s.layout + ";";
  auto it = by_key_.find(key);
  if (it != by_key_.end()) return it->second;
  try {
    runtimes_.push_back(Runtime::Load(model_, plan, options_));
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return -1;
  }
  by_key_[key] = static_cast<int>(runtimes_.size()) - 1;
  return by_key_[key];
}

std::vector<std::vector<RoundSamples>> TimeCandidates(const PlanView& view, RuntimePool& pool,
                                                      const std::vector<Tensor>& inputs,
                                                      const microbench::MeasureConfig& cfg, int rounds,
                                                      bool warm_run) {
  const selector::PlanProblem& pp = view.problem;
  const size_t n_sg = pp.states.size();
  std::vector<std::string> labels;  // unit/label
  for (const auto& states : pp.states)
    for (const auto& st : states) {
      const std::string l = st.unit + "/" + st.label;
      if (std::find(labels.begin(), labels.end(), l) == labels.end()) labels.push_back(l);
    }
  // One run per label; labels whose runs are the same plan share it (and its states).
  std::vector<int> rts;
  std::map<int, std::vector<int>> state_of;
  for (const auto& l : labels) {
    std::vector<int> state = view.selected_state;
    for (size_t s = 0; s < n_sg; ++s)
      for (size_t k = 0; k < pp.states[s].size(); ++k)
        if (pp.states[s][k].unit + "/" + pp.states[s][k].label == l) state[s] = static_cast<int>(k);
    const int r = pool.Load(WithStates(view.selected, pp, state), nullptr);
    if (r < 0 || state_of.count(r)) continue;
    rts.push_back(r);
    state_of[r] = std::move(state);
  }
  int round = 0;
  std::vector<std::vector<RoundSamples>> samples(n_sg);
  for (size_t s = 0; s < n_sg; ++s) samples[s].resize(pp.states[s].size());
  std::vector<std::function<double()>> runners;
  for (int r : rts) {
    const std::vector<int>* state = &state_of[r];
    runners.push_back([&, r, state] {
      if (warm_run) pool[r].Run(inputs);  // untimed: the plan's own weights in the caches
      pool[r].Run(inputs);
      const auto& t = pool[r].SubgraphUs();
      for (size_t s = 0; s < n_sg; ++s)
        if ((*state)[s] >= 0) samples[s][(*state)[s]].Add(round, t[s].kernel_us);
      return pool[r].LastRunUs();
    });
  }
  TimeInRounds(runners, cfg, rounds, round);
  return samples;
}

}  // namespace layoutdb::runtime
