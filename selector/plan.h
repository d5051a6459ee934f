// From a partitioned graph and the cost model to a plan: candidate states per sub-graph, transition
// costs on edges, the global solve, baselines. Internal to selector/.
#pragma once

#include <string>
#include <vector>

#include "cost.h"
#include "graph.h"
#include "layoutdb/selector.h"
#include "solve.h"

namespace layoutdb::selector {

struct PlanOptions {
  std::vector<std::string> units;  // empty: every unit of the database
  std::string dtype = "f32";
  std::string model, db;           // for the plan's header only
  // The model file and input shapes (ModelInstance): a state of a sub-graph timed in this model's own
  // network (sweep --model --cache network) is priced from that time. Empty: never.
  std::string model_instance;
};

// What identifies a model's own network times (db::NetworkTimeRow::model): the file's content hash
// (`model_hash`, ModelHash of the file: Plan::model_hash) and the graph's input shapes,
// `16fde8363a846d7c input:1,3,224,224`.
std::string ModelInstance(const std::string& model_hash, const Graph& g);

// One (unit, input layout, output layout) a sub-graph may run in. The anchor reads `in` and writes
// `out` (they differ for a mixed candidate such as nchw>nChw16c); nodes before the anchor run in
// `in`, nodes after it in `out`.
struct State {
  std::string unit, in, out;
  std::string label;  // `in` or `in>out`
  double us = 0;      // sum of the sub-graph's node costs
  Confidence confidence = Confidence::kExact;
  double spread_us = 0;  // sum of the node estimates' spreads (half-widths of their intervals)
  double uncertain_us = 0;  // sum of the node estimates' UncertainUs: what `sweep --refine` ranks by
  int unstable = 0;      // nodes whose exact estimate did not reach its stability target
  bool from_any = false;  // the anchor's cost is oneDNN's `any` candidate (its chosen layout)
  int estimators = 0;     // bit (1 << Estimator) for every estimator that costed one of its nodes
  // How the anchor's fused kernel was costed: fused, anchor+marginal, separate; empty without one.
  std::string fused_cost;
};

// Everything the solve sees; exposed for tests and the benchmark.
struct PlanProblem {
  std::vector<std::vector<State>> states;  // per sub-graph
  // Per sub-graph, the layout it runs in under oneDNN's `any`, as the runtime decides it: -2 when its
  // first node is a convolution (oneDNN picks); else the sub-graph whose output that node reads
  // first (it follows that layout), -1 for a graph input (nchw).
  std::vector<int> any_follows;
  SolveProblem solve;
  std::vector<std::string> notes;
};

PlanProblem BuildPlanProblem(const Graph& g, const Partition& part, const CostModel& cost,
                             const PlanOptions& options);
// The plan's solve of `pp`: each state's unit/label seeds the DAG heuristic (Solve's labels).
SolveResult SolvePlan(const PlanProblem& pp);
// A baseline: every sub-graph on the cpu in `layout` where it can run in it; otherwise (a matmul has
// only `plain`, a 3-channel conv has no usable blocked kernel) in the nearest state: the mixed
// candidate writing that layout, else nchw/plain, else the cheapest cpu state (each such sub-graph
// counts in *fallbacks). `any`: what the runtime runs under it: a convolution in oneDNN's own choice
// where it was measured, every other sub-graph in the layout of the input it follows (any_follows).
std::vector<int> BaselineStates(const PlanProblem& pp, const std::string& layout, bool any,
                                int* fallbacks);
Plan BuildPlan(const Graph& g, const Partition& part, const CostModel& cost, const PlanOptions& options);

// The graph IR of an in-memory description (api.cpp): problems parsed, output shapes derived, tensors
// checked (each read tensor is a graph input or written earlier); throws naming the op and tensor.
Graph GraphFromDescription(const GraphDescription& d);

}  // namespace layoutdb::selector
