// The global solve: one state per sub-graph minimising the sum of the sub-graphs' own costs and the
// transition costs on the edges between them. Pure arithmetic on cost tables; internal to selector/.
#pragma once

#include <string>
#include <vector>

namespace layoutdb::selector {

struct SolveProblem {
  // unary[i][s]: the cost of sub-graph i in its state s (may be +infinity: not allowed).
  std::vector<std::vector<double>> unary;
  // A pairwise term between sub-graphs a and b: cost[sa * states(b) + sb]. Several terms between the
  // same pair are allowed (one per tensor); the solver merges them.
  struct Pair {
    int a = 0, b = 0;
    std::vector<double> cost;
  };
  std::vector<Pair> pairs;
  // A tensor read by several sub-graphs: it is converted once per distinct layout its readers need
  // and transferred once per unit (as the runtime does), not once per reader. The producer `from`
  // and every reader in `readers` are sub-graph indices, or -1 for the host (a graph input, a graph
  // output: one fixed state, 0). For reader r, producer state a and reader state c, the conversion
  // steps that reader needs are step ids `steps[r][a * n_c + c]` (n_c: states of the reader, 1 for the
  // host); a step id's cost is `step_cost[a][id]`. The term costs the sum over the distinct step ids
  // all readers need. Step ids name what the runtime shares: "reorder to L on unit U", "transfer to
  // unit U".
  struct Shared {
    int from = -1;
    std::vector<int> readers;
    std::vector<std::vector<std::vector<int>>> steps;
    std::vector<std::vector<double>> step_cost;
  };
  std::vector<Shared> shared;
};

struct SolveResult {
  std::vector<int> state;  // per sub-graph
  double total = 0;        // exactly Evaluate(problem, state)
  bool exact = false;      // true when the graph is a forest without shared tensors and tree DP was used
  int rounds = 0;          // coordinate-descent rounds of the DAG heuristic
  std::string method;      // exact-tree-dp or dag-heuristic
};

// The total cost of one assignment.
double Evaluate(const SolveProblem& p, const std::vector<int>& state);

// Exact min-sum dynamic programming when the sub-graphs and their edges form a forest (chains, in-trees,
// out-trees, any tree) and no tensor is shared by several readers; the documented heuristic of
// solve.cpp otherwise.
// `labels[i][s]` optionally names state s of sub-graph i (e.g. "cpu/nhwc"): each label seeds one
// run of the DAG heuristic.
SolveResult Solve(const SolveProblem& p, const std::vector<std::vector<std::string>>& labels = {});

// Tries every assignment (for tests; refuses more than `limit` assignments).
SolveResult BruteForce(const SolveProblem& p, double limit = 2e6);

}  // namespace layoutdb::selector
