// The global solve: exact on chains and trees (against brute force), never better than brute force on
// general DAGs (it cannot be: its total is the exact cost of a real assignment), and how often equal.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "selector/solve.h"

namespace layoutdb::selector {
namespace {

// Integer-valued costs keep every sum exact in double, so "equal" means equal.
SolveProblem RandomProblem(std::mt19937& rng, int n, const std::vector<std::pair<int, int>>& edges,
                           bool with_infinite) {
  std::uniform_int_distribution<int> states(1, 4), cost(0, 100);
  SolveProblem p;
  p.unary.resize(n);
  for (auto& u : p.unary) {
    u.resize(states(rng));
    for (auto& c : u) c = cost(rng);
  }
  if (with_infinite) p.unary[0].push_back(std::numeric_limits<double>::infinity());
  for (auto [a, b] : edges) {
    SolveProblem::Pair pr{a, b, {}};
    for (size_t i = 0; i < p.unary[a].size() * p.unary[b].size(); ++i) pr.cost.push_back(cost(rng));
    p.pairs.push_back(pr);
  }
  return p;
}

std::vector<std::pair<int, int>> Chain(int n) {
  std::vector<std::pair<int, int>> e;
  for (int i = 1; i < n; ++i) e.emplace_back(i - 1, i);
  return e;
}

// A random tree in topological order: node i > 0 hangs off a random earlier node; the edge runs
// either way (in-trees, out-trees, mixed), sometimes doubled (two tensors between the same pair).
std::vector<std::pair<int, int>> Tree(std::mt19937& rng, int n) {
  std::vector<std::pair<int, int>> e;
  for (int i = 1; i < n; ++i) {
    const int parent = std::uniform_int_distribution<int>(0, i - 1)(rng);
    if (rng() % 2) e.emplace_back(parent, i);
    else e.emplace_back(i, parent);
    if (rng() % 5 == 0) e.emplace_back(parent, i);
  }
  return e;
}

TEST(Solve, ChainsEqualBruteForce) {
  std::mt19937 rng(1);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + trial % 8;
    SolveProblem p = RandomProblem(rng, n, Chain(n), trial % 7 == 0);
    SolveResult dp = Solve(p), bf = BruteForce(p);
    ASSERT_TRUE(dp.exact);
    EXPECT_EQ(dp.method, "exact-tree-dp");
    ASSERT_EQ(dp.total, bf.total) << "trial " << trial;
    EXPECT_EQ(Evaluate(p, dp.state), dp.total);
  }
}

TEST(Solve, TreesEqualBruteForce) {
  std::mt19937 rng(2);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 2 + trial % 8;
    SolveProblem p = RandomProblem(rng, n, Tree(rng, n), false);
    SolveResult dp = Solve(p), bf = BruteForce(p);
    ASSERT_TRUE(dp.exact) << "trial " << trial;
    ASSERT_EQ(dp.total, bf.total) << "trial " << trial;
  }
}

TEST(Solve, DagHeuristicNeverBeatsBruteForceAndOftenEqualsIt) {
  std::mt19937 rng(3);
  int equal = 0, trials = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 3 + trial % 7;
    // A chain plus skip edges (residual blocks) and random extra edges: cycles when undirected.
    auto edges = Chain(n);
    for (int i = 2; i < n; i += 2) edges.emplace_back(i - 2, i);
    if (n > 4) edges.emplace_back(std::uniform_int_distribution<int>(0, n - 4)(rng), n - 1);
    SolveProblem p = RandomProblem(rng, n, edges, false);
    SolveResult h = Solve(p), bf = BruteForce(p);
    ASSERT_FALSE(h.exact);
    EXPECT_EQ(h.method, "dag-heuristic");
    ASSERT_EQ(Evaluate(p, h.state), h.total);
    ASSERT_GE(h.total, bf.total) << "trial " << trial;
    equal += h.total == bf.total;
    ++trials;
  }
  const double fraction = static_cast<double>(equal) / trials;
  RecordProperty("dag_heuristic_equal_fraction", std::to_string(fraction));
  std::printf("DAG heuristic equal to brute force in %d of %d random DAGs (%.1f%%)\n", equal, trials,
              100 * fraction);
  // Random costs are the hard case (no structure): still, most small DAGs must come out optimal.
  EXPECT_GT(fraction, 0.8);
}

TEST(Solve, RefusesMalformedTables) {
  SolveProblem p;
  p.unary = {{1, 2}, {3}};
  p.pairs.push_back({0, 1, {1, 2, 3}});
  EXPECT_THROW(Solve(p), std::invalid_argument);
  p.pairs = {{0, 5, {1, 2}}};
  EXPECT_THROW(Solve(p), std::invalid_argument);
}

}  // namespace
}  // namespace layoutdb::selector
