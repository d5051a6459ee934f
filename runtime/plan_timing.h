// What `validate` and `sweep --model --cache network` share: the selector's view of a plan, runtimes
// loaded once per distinct plan, and every candidate state of every sub-graph timed as executed in the
// network (interleaved, in rounds at separate moments, like a sweep's visits). Internal to runtime/.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "layoutdb/microbench/measure.h"
#include "layoutdb/runtime.h"
#include "selector/cost.h"
#include "selector/graph.h"
#include "selector/plan.h"

namespace layoutdb::runtime {

// Times of one quantity (a sub-graph in one state) over the rounds of a timing.
struct RoundSamples {
  std::vector<std::vector<double>> by_round;
  void Add(int round, double us);
  // Each round's median, in round order (rounds that timed it).
  std::vector<double> RoundMedians() const;
  // The quietest round's median, as a sweep stores a point (microbench::CombineVisits); nullopt when
  // no round timed it (a view sub-graph's 0 us is a time like any other).
  std::optional<double> Quietest() const { return Smallest(RoundMedians()); }
  static std::optional<double> Smallest(const std::vector<double>& medians);
  // Every round summarised and combined as a sweep combines a point's visits (the quietest round's
  // figures, the spread between rounds in rel_ci); nullopt when no round timed it.
  std::optional<microbench::Summary> Combined(double target_rel_ci) const;
};

// Whether a sub-graph's round medians agree within `rel` of their smallest: what the network's own
// time of it repeats to, the ceiling any prediction of it can be checked against.
bool RoundsAgree(const std::vector<double>& medians, double rel);

// Times `runners` interleaved in `rounds` rounds at separate moments, each with its share of the
// budget (a sweep's visits, microbench::VisitConfig); per runner, the rounds combined as a sweep
// combines a point's visits: the quietest round (microbench::CombineVisits). `round` is set to the
// round being timed, for runners that record more than their total.
std::vector<microbench::Summary> TimeInRounds(const std::vector<std::function<double()>>& runners,
                                              const microbench::MeasureConfig& cfg, int rounds, int& round);

// How validate and the network sweep time plans: `budget_s` for all the rounds of a phase, at least
// `min_reps` runs each, 2 warm-ups, a 1% stability target; every timed pass asks `gate` (when given)
// for the threads to be near each other, as the sweep's passes did (microbench::PlacementGate).
microbench::MeasureConfig PlanTimingConfig(double budget_s, int min_reps, microbench::PlacementGate* gate);

// The placement the file's sweeps of the planned target timed their passes at (see plan_timing.cpp);
// nullopt when no sweep recorded one.
std::optional<double> SweepsPlacementNs(const std::string& path);

// A plan and the selector's view of the same partition: its candidate states and transition costs.
struct PlanView {
  selector::Graph graph;
  selector::Partition partition;
  selector::CostModel cost;
  selector::PlanProblem problem;
  Plan selected;
  std::vector<int> selected_state;  // per sub-graph: index into problem.states (-1: not among them)
  std::string model_instance;       // selector::ModelInstance of the model at these shapes
};
// `plan_path` empty: selected now from `db`. Throws when the plan's partition is not the selector's.
PlanView ViewPlan(const std::string& model, const std::string& db, const std::string& plan_path,
                  const std::map<std::string, std::vector<int64_t>>& shapes,
                  const std::vector<std::string>& units);

// `base` with sub-graph s in state `state[s]` of the plan problem (-1: as in base).
Plan WithStates(const Plan& base, const selector::PlanProblem& pp, const std::vector<int>& state);

// Runtimes, one per distinct plan (the unit and layout of every sub-graph).
class RuntimePool {
 public:
  RuntimePool(std::string model, RuntimeOptions options) : model_(std::move(model)), options_(std::move(options)) {}
  // The index of plan's runtime, loaded on first use; -1 with *error set when it cannot be loaded.
  int Load(const Plan& plan, std::string* error);
  Runtime& operator[](int i) { return runtimes_[i]; }

 private:
  std::string model_;
  RuntimeOptions options_;
  std::vector<Runtime> runtimes_;
  std::map<std::string, int> by_key_;
};

// Every candidate state of every sub-graph timed as executed: for each (unit, layout) label any
// sub-graph can take, one run of the model in which every sub-graph that has that state takes it (the
// others keep the selected state), its kernels timed, the reorders and transfers into it apart.
// samples[s][k]: sub-graph s in state k of view.problem. `warm_run`: each timed run follows an untimed
// run of the same plan.
std::vector<std::vector<RoundSamples>> TimeCandidates(const PlanView& view, RuntimePool& pool,
                                                      const std::vector<Tensor>& inputs,
                                                      const microbench::MeasureConfig& cfg, int rounds,
                                                      bool warm_run);

}  // namespace layoutdb::runtime
