// `layoutdb validate`: is the selected plan really fast, and how far are its predictions from the truth?
//
// In one process, timed interleaved round-robin like a sweep (microbench::MeasureInterleaved), in
// `--rounds` rounds at separate moments like a sweep's visits; every figure is its quietest round's
// median, as the database stores a point's quietest visit (so prediction and measurement are the same
// statistic of the machine):
//  1. Candidates. For every (unit, layout) state the selector considered, a run of the model in which
//     every sub-graph that has that state takes it (the others keep the selected state), so every
//     state of every sub-graph is measured as executed: its kernels only, the reorders and transfers
//     into it timed apart.
//  2. The oracle: the selector's own global solve over those measured costs (its transition costs
//     stay the database's), giving the plan the selector would pick if its predictions were exact.
//  3. Strategies. The selected plan, the oracle's plan and the baselines — every sub-graph on the cpu
//     in nchw, nhwc, nChw8c, nChw16c and oneDNN's `any`; each OpenCL unit alone; each sub-graph's
//     local best ignoring transitions — executed for real, interleaved.
// Each timed run follows an untimed run of the same plan (--no-warm-run: not), so that every plan is
// timed in the state an application's inference loop keeps it, its own weights in the caches.
// Every plan's outputs are compared with the all-nchw execution's: a layout changes memory order,
// never the answer. Printed figures say which are measured and which predicted.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "command_util.h"
#include "commands.h"
#include "layoutdb/db.h"
#include "layoutdb/microbench/calibration.h"
#include "layoutdb/microbench/execution.h"
#include "layoutdb/microbench/measure.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/runtime.h"
#include "microbench/onednn/cpu_unit.h"
#include "plan_timing.h"
#include "selector/plan.h"

namespace layoutdb::runtime {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One way of running the model: a unit and layout per sub-graph.
struct Strategy {
  std::string name;          // plan, oracle, cpu:nchw, ..., local_best, ocl:0:0
  std::vector<int> state;    // per sub-graph: index into the plan problem's states (-1: as given)
  Plan plan;
  double predicted_us = kInf;
  int runtime = -1;          // index into the loaded runtimes (identical plans share one)
  std::string error;         // why it could not be loaded
  int fallbacks = 0;         // fixed-layout baselines: sub-graphs that cannot run in that layout
};

Strategy Named(std::string name, std::vector<int> state) {
  Strategy s;
  s.name = std::move(name);
  s.state = std::move(state);
  return s;
}

// Every sub-graph on the cpu in one layout (the executor keeps non-4D tensors plain by itself).
Plan FixedLayout(const Plan& base, const std::string& layout) {
  Plan p = base;
  for (auto& s : p.subgraphs) {
    s.unit = "cpu";
    s.layout = layout;
  }
  return p;
}

std::string NowUtc() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double Median(const std::vector<double>& v) { return Percentile(v, 0.5); }

// The machine's state against the database's. A validation compares predictions made from figures
// measured at another moment with times measured now. So the plan's largest exactly-measured cpu
// kernels are re-timed alone, in the file's cache mode, as the sweep timed them (the microbench kernel
// of their key and layout), right after the strategies: the median ratio of now to stored tells a drift of the
// whole machine (clock, throttling, a neighbour's load) from what only the network feels. The
// largest kernels barely feel where the CPU threads are placed (microbench::PlacementGate, which
// every timed pass here asks): on these 2-vCPU VMs, with the threads apart, MobileNetV2 under one plan
// ran 5.5 ms instead of 3.4 while its largest kernels alone took 0.9-1.1x their stored time.
struct DriftItem {
  std::string key, layout;
  double stored_us = 0, now_us = 0;
  int subgraph = -1;  // network mode: the sub-graph timed (a kernel several sub-graphs run is one each)
};
constexpr size_t kDriftKernels = 8;

std::vector<DriftItem> MeasureDrift(const Plan& plan, const selector::CostModel& cost,
                                    const microbench::MeasureConfig& cfg, int rounds, const std::string& cache_mode) {
  std::vector<DriftItem> items;
  std::set<std::string> seen;
  for (const auto& ps : plan.subgraphs) {
    if (ps.unit != "cpu" || ps.fused_key.empty() || ps.confidence != "exact") continue;
    if (!seen.insert(ps.fused_key + "|" + ps.layout).second) continue;
    try {
      const auto e = cost.Op(Problem::Parse(ps.fused_key), ps.fused_key, "cpu", ps.layout, plan.dtype, false);
      if (e && e->confidence == selector::Confidence::kExact) items.push_back({ps.fused_key, ps.layout, e->us, 0});
    } catch (const std::exception&) {
    }
  }
  std::sort(items.begin(), items.end(), [](const DriftItem& a, const DriftItem& b) { return a.stored_us > b.stored_us; });
  if (items.size() > kDriftKernels) items.resize(kDriftKernels);
  std::vector<DriftItem> kept;
  std::vector<std::unique_ptr<microbench::Kernel>> kernels;
  const auto unit = microbench::onednn::MakeCpuUnit();
  for (const DriftItem& it : items) {
    const microbench::Candidate c = microbench::Candidate::FromLayout(it.layout, plan.dtype);
    try {  // a kernel this build cannot prepare is left out of the check, never fails the validation
      microbench::Prepared pr = unit->Prepare(Problem::Parse(it.key), c);
      if (pr.status != microbench::Prepared::Status::kOk || !pr.kernel || pr.kernel->IsReference()) continue;
      kernels.push_back(std::move(pr.kernel));
      kept.push_back(it);
    } catch (const std::exception&) {
    }
  }
  std::vector<std::function<double()>> runners;
  std::vector<const microbench::Kernel*> timed_kernels;
  for (auto& k : kernels) {
    runners.push_back([kp = k.get()] { return kp->RunUs(); });
    timed_kernels.push_back(k.get());
  }
  // The file's cache mode, as in the sweep: re-timed hot, a warm file's kernels read as a machine
  // 12-18% faster than the file (a Xeon VM, the weights flushed in the file).
  microbench::MeasureConfig timed = cfg;
  microbench::CacheState cache(cache_mode, *unit);
  timed.before_run = cache.BeforeRun(timed_kernels);
  int round = 0;
  const auto summaries = TimeInRounds(runners, timed, rounds, round);
  for (size_t i = 0; i < kept.size(); ++i) kept[i].now_us = summaries[i].median_us;
  return kept;
}

// The drift of a file timed in the network: its largest exactly-measured cpu sub-graphs, the stored
// figure against this run's candidates' time of the same state (timed in the network as the file was).
std::vector<DriftItem> NetworkDrift(const Plan& plan, const selector::PlanProblem& pp, const std::vector<int>& state,
                                    const std::vector<std::vector<double>>& measured) {
  std::vector<DriftItem> items;
  for (size_t s = 0; s < plan.subgraphs.size(); ++s) {
    const auto& ps = plan.subgraphs[s];
    if (state[s] < 0 || ps.unit != "cpu" || ps.fused_key.empty() || ps.confidence != "exact" ||
        !std::isfinite(measured[s][state[s]]))
      continue;
    items.push_back({ps.fused_key, ps.layout, pp.states[s][state[s]].us, measured[s][state[s]], static_cast<int>(s)});
  }
  std::sort(items.begin(), items.end(), [](const DriftItem& a, const DriftItem& b) { return a.stored_us > b.stored_us; });
  if (items.size() > kDriftKernels) items.resize(kDriftKernels);
  return items;
}

}  // namespace

int RunValidate(const ValidateCommandOptions& o) {
  const auto shapes = ParseInputs(o.inputs);
  RuntimeOptions ro;
  ro.inputs = shapes;
  ro.partial = o.partial;
  const PlanView view = ViewPlan(o.model, o.db, o.plan, shapes, o.units);
  const selector::Graph& g = view.graph;
  const selector::CostModel& cost = view.cost;
  const selector::PlanProblem& pp = view.problem;
  const Plan& selected = view.selected;
  const std::vector<int>& selected_state = view.selected_state;
  const size_t n_sg = selected.subgraphs.size();
  std::vector<std::string> unit_names = o.units.empty() ? selected.units : o.units;

  RuntimePool runtimes(o.model, ro);
  auto load = [&](Strategy& st) { st.runtime = runtimes.Load(st.plan, &st.error); };
  Strategy plan_st = Named("plan", selected_state);
  plan_st.plan = selected;
  plan_st.predicted_us = selected.total_predicted_us;
  load(plan_st);
  if (plan_st.runtime < 0) throw std::runtime_error(plan_st.error);
  const std::vector<Tensor> inputs =
      MakeInputs(runtimes[plan_st.runtime].InputSpecs(), o.input_data, 1);

  // Every timed pass waits (within --settle-s in all) for the threads to be near each other.
  microbench::PlacementGate gate(o.settle_s, microbench::PlacementGate::kApartFactor, SweepsPlacementNs(o.db));
  const microbench::MeasureConfig cfg = PlanTimingConfig(o.budget_s, o.min_reps, &gate);

  // ---- 1. candidates ----
  // measured[s][k]: kernel time of sub-graph s in state k, as executed (the quietest round's median).
  const std::vector<std::vector<RoundSamples>> samples =
      TimeCandidates(view, runtimes, inputs, cfg, o.rounds, o.warm_run);
  std::vector<std::vector<double>> measured(n_sg);
  for (size_t s = 0; s < n_sg; ++s)
    for (size_t k = 0; k < pp.states[s].size(); ++k) {
      measured[s].push_back(samples[s][k].Quietest().value_or(kInf));
    }

  // ---- 2. the oracle: the same solve over measured costs ----
  selector::SolveProblem oracle_problem = pp.solve;
  for (size_t s = 0; s < n_sg; ++s)
    for (size_t k = 0; k < pp.states[s].size(); ++k)
      oracle_problem.unary[s][k] = pp.solve.unary[s][k] - pp.states[s][k].us + measured[s][k];
  std::vector<std::vector<std::string>> solve_labels(n_sg);
  for (size_t s = 0; s < n_sg; ++s)
    for (const auto& st : pp.states[s]) solve_labels[s].push_back(st.unit + "/" + st.label);
  const selector::SolveResult oracle_solve = selector::Solve(oracle_problem, solve_labels);

  // ---- 3. strategies ----
  std::vector<Strategy> strategies;
  strategies.push_back(plan_st);
  {
    Strategy s = Named("oracle", oracle_solve.state);
    s.plan = WithStates(selected, pp, s.state);
    s.predicted_us = selector::Evaluate(pp.solve, s.state);
    strategies.push_back(std::move(s));
  }
  // Every sub-graph on the cpu in one layout, where it can run in it (else the selector's nearest
  // state: a reference kernel is never a baseline); `any` runs oneDNN's own choices for real.
  for (const std::string l : {"nchw", "nhwc", "nChw8c", "nChw16c", "any"}) {
    int fallbacks = 0;
    Strategy s = Named("cpu:" + l, selector::BaselineStates(pp, l, l == "any", &fallbacks));
    s.predicted_us = selector::Evaluate(pp.solve, s.state);
    s.fallbacks = fallbacks;
    s.plan = l == "any" ? FixedLayout(selected, "any") : WithStates(selected, pp, s.state);
    strategies.push_back(std::move(s));
  }
  {  // each sub-graph's cheapest predicted state, transitions ignored
    Strategy s = Named("local_best", std::vector<int>(n_sg, -1));
    for (size_t i = 0; i < n_sg; ++i) {
      double best = kInf;
      for (size_t k = 0; k < pp.states[i].size(); ++k)
        if (pp.states[i][k].us < best) best = pp.states[i][k].us, s.state[i] = static_cast<int>(k);
    }
    s.plan = WithStates(selected, pp, s.state);
    s.predicted_us = selector::Evaluate(pp.solve, s.state);
    strategies.push_back(std::move(s));
  }
  for (const auto& unit : unit_names.empty() ? cost.Units() : unit_names) {  // each OpenCL unit alone
    if (unit == "cpu") continue;
    selector::SolveProblem only = pp.solve;
    bool any_state = false;
    for (size_t i = 0; i < n_sg; ++i) {
      bool has = false;
      for (const auto& st : pp.states[i]) has = has || st.unit == unit;
      for (size_t k = 0; k < pp.states[i].size(); ++k)
        if (has && pp.states[i][k].unit != unit) only.unary[i][k] = kInf;
      any_state = any_state || has;
    }
    if (!any_state) continue;
    const selector::SolveResult r = selector::Solve(only, solve_labels);
    Strategy s = Named(unit, r.state);
    s.plan = WithStates(selected, pp, s.state);
    s.predicted_us = r.total;
    strategies.push_back(std::move(s));
  }
  for (auto& s : strategies)
    if (s.runtime < 0 && s.error.empty()) load(s);

  std::vector<int> rts;
  for (const auto& s : strategies)
    if (s.runtime >= 0 && std::find(rts.begin(), rts.end(), s.runtime) == rts.end())
      rts.push_back(s.runtime);
  std::map<int, std::vector<double>> totals;
  int round = 0;
  std::vector<RoundSamples> plan_sg(n_sg), plan_sg_trans(n_sg);
  std::vector<std::function<double()>> runners;
  for (int r : rts)
    runners.push_back([&, r] {
      if (o.warm_run) runtimes[r].Run(inputs);
      runtimes[r].Run(inputs);
      totals[r].push_back(runtimes[r].LastRunUs());
      if (r == plan_st.runtime) {
        const auto& t = runtimes[r].SubgraphUs();
        for (size_t s = 0; s < n_sg; ++s) {
          plan_sg[s].Add(round, t[s].kernel_us);
          plan_sg_trans[s].Add(round, t[s].transition_us);
        }
      }
      return runtimes[r].LastRunUs();
    });
  const auto summaries = TimeInRounds(runners, cfg, o.rounds, round);
  std::map<int, microbench::Summary> summary_of;
  for (size_t k = 0; k < rts.size(); ++k) summary_of[rts[k]] = summaries[k];
  // The machine against the database, right after: a quarter of the budget.
  microbench::MeasureConfig drift_cfg = cfg;
  drift_cfg.budget_s = cfg.budget_s / 4;
  // A file timed in the network (sweep --cache network) is checked against the same timing of this run:
  // the candidates' in-network times of the plan's largest exactly-measured sub-graphs.
  const std::vector<DriftItem> drift = cost.CacheMode() == "network"
                                           ? NetworkDrift(selected, pp, selected_state, measured)
                                           : MeasureDrift(selected, cost, drift_cfg, o.rounds, cost.CacheMode());
  std::vector<double> drift_ratios;
  for (const auto& d : drift)
    if (d.stored_us > 0 && d.now_us > 0) drift_ratios.push_back(d.now_us / d.stored_us);
  const double drift_factor = drift_ratios.empty() ? 0 : Median(drift_ratios);  // 0: nothing re-timed

  // Outputs: every plan against the all-nchw execution.
  int reference = -1;
  for (const auto& s : strategies)
    if (s.name == "cpu:nchw") reference = s.runtime;
  double max_abs = 0, ref_mag = 0;
  std::string worst;
  if (reference >= 0) {
    for (const auto& t : runtimes[reference].Outputs())
      for (float v : t.f32) ref_mag = std::max(ref_mag, static_cast<double>(std::fabs(v)));
    for (const auto& s : strategies) {
      if (s.runtime < 0) continue;
      runtimes[s.runtime].Run(inputs);
      runtimes[reference].Run(inputs);
      const double d = MaxAbsDiff(runtimes[s.runtime].Outputs(), runtimes[reference].Outputs());
      if (d > max_abs) max_abs = d, worst = s.name;
    }
  }
  const double allowed = o.tolerance * std::max(1.0, ref_mag);
  const bool outputs_ok = reference >= 0 && max_abs <= allowed;

  // Coverage: the FLOPs executed at all (--partial leaves some out), and those run by a unit's own
  // kernels rather than by the host fallback.
  double flops = 0, host_flops = 0, skipped_flops = 0;
  for (const auto& n : g.nodes)
    if (!n.is_constant) flops += n.flops;
  for (int i : runtimes[plan_st.runtime].HostNodes()) host_flops += g.nodes[i].flops;
  for (int i : runtimes[plan_st.runtime].SkippedNodes()) skipped_flops += g.nodes[i].flops;
  const double coverage = flops > 0 ? 1.0 - skipped_flops / flops : 1.0;
  const double kernel_coverage = flops > 0 ? 1.0 - (host_flops + skipped_flops) / flops : 1.0;
  // Sub-graphs holding a left-out node are left out of the predicted and the measured totals.
  std::vector<bool> left_out(n_sg, false);
  for (int i : runtimes[plan_st.runtime].SkippedNodes())
    for (size_t s = 0; s < n_sg; ++s)
      for (int k : selected.subgraphs[s].nodes) left_out[s] = left_out[s] || k == i;

  // ---- report ----
  const Runtime& prt = runtimes[plan_st.runtime];
  double measured_total = summary_of[plan_st.runtime].median_us;
  double predicted_total = selected.total_predicted_us;
  for (size_t s = 0; s < n_sg; ++s)
    if (left_out[s]) {
      measured_total -= plan_sg[s].Quietest().value_or(0);
      predicted_total -= selected.subgraphs[s].predicted_us;
    }
  const int oracle_rt = strategies[1].runtime;
  const double oracle_measured = oracle_rt >= 0 ? summary_of[oracle_rt].median_us : kInf;
  nlohmann::json j;
  j["validation_schema_version"] = 1;
  j["model"] = o.model;
  j["model_hash"] = ModelHash(o.model);
  j["db"] = o.db;
  j["threads"] = Threads();
  j["measured_at"] = NowUtc();
  j["measured_total_us"] = measured_total;
  j["p10_us"] = summary_of[plan_st.runtime].p10_us;
  j["p90_us"] = summary_of[plan_st.runtime].p90_us;
  j["repetitions"] = summary_of[plan_st.runtime].repetitions;
  j["warm_run"] = o.warm_run;
  j["rounds"] = std::max(1, o.rounds);
  j["placement"] = gate.ToJson();
  j["placement"]["settle_s"] = o.settle_s;
  j["predicted_total_us"] = predicted_total;
  j["error_pct"] = 100.0 * (predicted_total - measured_total) / measured_total;
  j["oracle_measured_us"] = std::isfinite(oracle_measured) ? nlohmann::json(oracle_measured) : nullptr;
  j["oracle_predicted_us"] = strategies[1].predicted_us;
  j["selected_over_oracle"] =
      std::isfinite(oracle_measured) ? nlohmann::json(measured_total / oracle_measured) : nullptr;
  {
    nlohmann::json d{{"kernels", nlohmann::json::array()}};
    for (const auto& k : drift) {
      d["kernels"].push_back({{"key", k.key}, {"layout", k.layout}, {"stored_us", k.stored_us}, {"now_us", k.now_us}});
      if (k.subgraph >= 0) d["kernels"].back()["subgraph"] = k.subgraph;
    }
    d["factor"] = drift_factor > 0 ? nlohmann::json(drift_factor) : nullptr;
    d["cache_mode"] = cost.CacheMode();
    // The prediction as the machine runs now: every figure scaled by the drift factor.
    d["error_pct_at_drift"] =
        drift_factor > 0 ? nlohmann::json(100.0 * (predicted_total * drift_factor - measured_total) / measured_total)
                         : nullptr;
    j["machine_drift"] = std::move(d);
  }
  j["baselines"] = nlohmann::json::array();
  for (size_t k = 1; k < strategies.size(); ++k) {
    const Strategy& s = strategies[k];
    nlohmann::json b{{"name", s.name}};
    if (s.fallbacks) b["fallbacks"] = s.fallbacks;
    b["predicted_us"] = std::isfinite(s.predicted_us) ? nlohmann::json(s.predicted_us) : nullptr;
    if (s.runtime >= 0) {
      b["measured_us"] = summary_of[s.runtime].median_us;
      b["speedup_of_plan"] = summary_of[s.runtime].median_us / measured_total;
    } else {
      b["measured_us"] = nullptr;
      b["error"] = s.error;
    }
    j["baselines"].push_back(b);
  }
  j["subgraphs"] = nlohmann::json::array();
  int within = 0, compared = 0, within_at_drift = 0, repeat = 0, repeat_counted = 0;
  int cand_within = 0, cand_compared = 0;
  for (size_t s = 0; s < n_sg; ++s) {
    const auto& ps = selected.subgraphs[s];
    const std::vector<double> rounds_us = plan_sg[s].RoundMedians();
    const double m = RoundSamples::Smallest(rounds_us).value_or(0);
    const double err = m > 0 ? 100.0 * (ps.predicted_us - m) / m : 0.0;
    if (m > 0) {
      ++compared;
      within += std::fabs(err) <= 10.0;
      within_at_drift += drift_factor > 0 && std::fabs(ps.predicted_us * drift_factor - m) <= 0.10 * m;
      if (rounds_us.size() > 1) {
        ++repeat_counted;
        repeat += RoundsAgree(rounds_us, 0.10);
      }
    }
    // The same sub-graph in the same state, timed in the candidates' runs (its neighbours in the
    // candidate's layout rather than the plan's): how well an in-network time taken minutes before
    // predicts it.
    const double cand = selected_state[s] >= 0 ? measured[s][selected_state[s]] : kInf;
    if (m > 0 && std::isfinite(cand)) {
      ++cand_compared;
      cand_within += std::fabs(cand - m) <= 0.10 * m;
    }
    const int os = oracle_solve.state[s];
    nlohmann::json sj = {{"index", ps.index}, {"unit", ps.unit}, {"layout", ps.layout}, {"ops", ps.ops},
                         {"confidence", ps.confidence}, {"measured_us", m},
                         {"transition_measured_us", plan_sg_trans[s].Quietest().value_or(0)}, {"predicted_us", ps.predicted_us},
                         {"error_pct", err}, {"rounds_us", rounds_us},
                         {"candidate_us", std::isfinite(cand) ? nlohmann::json(cand) : nullptr},
                         {"oracle", os >= 0 ? pp.states[s][os].unit + "/" + pp.states[s][os].label : ""}};
    // The kernel the prediction priced: a measured fused sub-graph is compared with its fused key.
    if (!ps.fused_key.empty()) {
      sj["fused_key"] = ps.fused_key;
      sj["fused_cost"] = ps.fused_cost;
    }
    j["subgraphs"].push_back(std::move(sj));
  }
  j["subgraphs_within_10pct"] = compared ? static_cast<double>(within) / compared : 0.0;
  j["machine_drift"]["subgraphs_within_10pct_at_drift"] =
      compared && drift_factor > 0 ? nlohmann::json(static_cast<double>(within_at_drift) / compared) : nullptr;
  j["subgraphs_candidate_within_10pct"] =
      cand_compared ? nlohmann::json(static_cast<double>(cand_within) / cand_compared) : nullptr;
  j["subgraphs_repeat_within_10pct"] =
      repeat_counted ? nlohmann::json(static_cast<double>(repeat) / repeat_counted) : nullptr;
  j["coverage_flops"] = coverage;
  j["kernel_coverage_flops"] = kernel_coverage;
  j["host_nodes"] = prt.HostNodes();
  j["left_out_nodes"] = prt.SkippedNodes();
  j["max_abs_diff"] = max_abs;
  j["max_abs_diff_strategy"] = worst;
  j["output_tolerance"] = allowed;
  j["outputs_match"] = outputs_ok;
  j["peak_activation_bytes"] = prt.PeakActivationBytes();
  j["liveness_lower_bound_bytes"] = prt.LivenessLowerBoundBytes();
  j["notes"] = prt.Notes();

  if (!o.no_store) {
    db::Database d = db::Database::Open(o.db, db::Mode::kReadWrite);
    const auto targets = d.Targets();
    if (targets.empty()) throw std::runtime_error(fmt::format("{}: holds no target to store under", o.db));
    int64_t target = targets.front().id;
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    for (const auto& t : targets)
      if (t.hostname == host) target = t.id;
    nlohmann::json in = nlohmann::json::array();
    for (const auto& t : inputs) in.push_back({{"name", t.name}, {"shape", t.shape}, {"dtype", t.dtype}});
    const std::string run_key = fmt::format("{}:{}", j["model_hash"].get<std::string>(), NowUtc());
    for (const auto& s : strategies) {
      db::ValidationRow v;
      v.target_id = target;
      v.model = o.model;
      v.model_hash = j["model_hash"];
      v.plan = s.plan.ToJson(-1);
      v.strategy = s.name;
      v.predicted_us = std::isfinite(s.predicted_us) ? s.predicted_us : -1;
      v.status = s.runtime >= 0 ? "ok" : "failed";
      v.reason = s.error;
      if (s.runtime >= 0) {
        const auto& sm = summary_of[s.runtime];
        v.measured_us = sm.median_us;
        v.p10_us = sm.p10_us;
        v.p90_us = sm.p90_us;
        v.repetitions = sm.repetitions;
      }
      v.validation = run_key;
      v.inputs = in.dump();
      if (s.name == "plan") v.details = j.dump();
      d.PutValidation(v);
    }
  }

  if (!o.report.empty()) {
    if (!o.write_report) throw std::runtime_error("--report: this program cannot draw validations");
    o.write_report(o.report, selected.ToJson(), j.dump());
  }

  if (o.json) {
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print("{}: {} sub-graphs, {} threads; medians of the quietest of {} rounds ({} interleaved runs, {})\n",
               o.model, n_sg, Threads(), std::max(1, o.rounds), summary_of[plan_st.runtime].repetitions,
               o.warm_run ? "each right after an untimed run of the same plan" : "each right after other plans' runs");
    fmt::print("{:>4}  {:<9} {:<16} {:>12} {:>12} {:>8}  {:<20} {}\n", "sg", "unit", "layout",
               "measured", "predicted", "error", "oracle", "ops");
    for (const auto& s : j["subgraphs"])
      fmt::print("{:>4}  {:<9} {:<16} {:>12} {:>12} {:>7.1f}%  {:<20} {}\n", s["index"].get<int>(),
                 s["unit"].get<std::string>(), s["layout"].get<std::string>(),
                 Micro(s["measured_us"].get<double>()), Micro(s["predicted_us"].get<double>()),
                 s["error_pct"].get<double>(), s["oracle"].get<std::string>(),
                 fmt::join(s["ops"].get<std::vector<std::string>>(), "+"));
    fmt::print("\n{:<14} {:>14} {:>14} {:>10}\n", "strategy", "measured", "predicted", "plan is");
    fmt::print("{:<14} {:>14} {:>14} {:>10}\n", "plan", Micro(measured_total),
               Micro(selected.total_predicted_us), "");
    for (const auto& b : j["baselines"]) {
      const std::string m = b["measured_us"].is_null() ? "failed" : Micro(b["measured_us"].get<double>());
      const std::string p = b["predicted_us"].is_null() ? "-" : Micro(b["predicted_us"].get<double>());
      const std::string r = b["measured_us"].is_null()
                                ? ""
                                : fmt::format("{:.2f}x", b["speedup_of_plan"].get<double>());
      fmt::print("{:<14} {:>14} {:>14} {:>10}\n", b["name"].get<std::string>(), m, p, r);
    }
    fmt::print("\npredicted total {} vs measured {}: {:+.1f}%; sub-graphs within 10%: {}/{}\n",
               Micro(predicted_total), Micro(measured_total), j["error_pct"].get<double>(),
               within, compared);
    if (drift_factor > 0)
      fmt::print("sub-graphs within 10% of the prediction times the machine's drift factor ({:.2f}x): {}/{}\n",
                 drift_factor, within_at_drift, compared);
    if (repeat_counted)
      fmt::print("sub-graphs whose own time repeats within 10% across the {} rounds: {}/{} (the most any prediction "
                 "can match)\n",
                 std::max(1, o.rounds), repeat, repeat_counted);
    if (std::isfinite(oracle_measured))
      fmt::print("selected / oracle (measured): {:.3f}\n", measured_total / oracle_measured);
    if (drift_factor > 0) {
      fmt::print("machine now: the plan's {} largest exactly-measured cpu kernels, {}, take {:.2f}x their stored "
                 "time (median; {:.2f}x to {:.2f}x)\n",
                 drift_ratios.size(),
                 cost.CacheMode() == "network" ? "timed in the network among the candidates as the file's were"
                                               : "re-timed alone as the sweep timed them",
                 drift_factor, *std::min_element(drift_ratios.begin(), drift_ratios.end()),
                 *std::max_element(drift_ratios.begin(), drift_ratios.end()));
      if (std::fabs(drift_factor - 1) > 0.10)
        fmt::print("warning: the machine is not in the state the database was measured in: predicted total x "
                   "{:.2f} vs measured: {:+.1f}%\n",
                   drift_factor, 100.0 * (predicted_total * drift_factor - measured_total) / measured_total);
    }
    if (gate.lowest_ns()) {
      fmt::print("threads' placement: a cache line between two CPU threads in {:.0f} ns (median of the {} timed "
                 "passes let through; {:.0f} ns as the passes found them; fastest {:.0f} ns{}); waited {:.1f} s "
                 "for them to come near, {} passes timed apart\n",
                 gate.median_ns().value_or(0), gate.checks() - gate.apart(), gate.found_median_ns().value_or(0),
                 *gate.lowest_ns(),
                 gate.reference_ns() ? fmt::format(", the database's sweeps {:.0f} ns", *gate.reference_ns()) : "",
                 gate.waited_s(), gate.apart());
      if (gate.apart() > 0)
        fmt::print("warning: {} of {} timed passes ran with the threads apart (--settle-s {} spent): these "
                   "figures mix the machine's placements\n",
                   gate.apart(), gate.checks(), o.settle_s);
    }
    fmt::print("coverage: {:.1f}% of FLOPs executed, {:.1f}% on the units' own kernels (the rest on the "
               "host); activation memory {} B ({} B lower bound)\n",
               100 * coverage, 100 * kernel_coverage, prt.PeakActivationBytes(),
               prt.LivenessLowerBoundBytes());
    if (!prt.SkippedNodes().empty())
      fmt::print("left out (--partial), with their sub-graphs: nodes {}\n",
                 fmt::join(prt.SkippedNodes(), ", "));
    fmt::print("outputs vs all-nchw: max |diff| {:.3g} (allowed {:.3g}){}\n", max_abs, allowed,
               worst.empty() ? "" : " in " + worst);
    for (const auto& w : prt.Warnings()) fmt::print("warning: the plan's {}\n", w);
  }
  if (!outputs_ok) {
    fmt::print(stderr,
               "layoutdb: error: {}: outputs under {} differ from the all-nchw execution by {:.3g} "
               "(allowed {:.3g})\n",
               o.model, worst.empty() ? "a plan" : worst, max_abs, allowed);
    return 3;
  }
  return 0;
}

}  // namespace layoutdb::runtime
