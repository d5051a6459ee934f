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

// A tensor produced by sub-graph 0 in one of two layouts (states 0: A, 1: B) and read by sub-graphs
// 1, 2, 3 (each with states A, B): a reader in the producer's layout needs nothing, one in the other
// layout needs the reorder to it, shared by every reader in that layout. Step ids: 0 "to A", 1 "to B".
SolveProblem SharedReorderProblem(std::vector<double> reader_a, std::vector<double> reader_b) {
  SolveProblem p;
  p.unary = {{0, 0}, {reader_a[0], reader_b[0]}, {reader_a[1], reader_b[1]}, {reader_a[2], reader_b[2]}};
  SolveProblem::Shared sh;
  sh.from = 0;
  sh.readers = {1, 2, 3};
  sh.step_cost = {{0, 7}, {7, 0}};  // reorder A->B or B->A: 7
  for (int r = 0; r < 3; ++r) sh.steps.push_back({{}, {1}, {0}, {}});  // [a * 2 + c]
  p.shared.push_back(sh);
  return p;
}

TEST(Solve, ASharedTensorPaysEachConversionOnce) {
  // Readers 1 and 2 want B, reader 3 wants A; the producer is free in either.
  SolveProblem p = SharedReorderProblem({100, 100, 0}, {0, 0, 100});
  // Producer in A: one reorder to B for readers 1 and 2 together (7), reader 3 needs none.
  EXPECT_EQ(Evaluate(p, {0, 1, 1, 0}), 7);
  // Producer in B: one reorder to A for reader 3.
  EXPECT_EQ(Evaluate(p, {1, 1, 1, 0}), 7);
  // All readers in A, producer in B: one reorder, not three.
  EXPECT_EQ(Evaluate(p, {1, 0, 0, 0}), 200 + 7);
  const SolveResult r = Solve(p);
  EXPECT_FALSE(r.exact) << "a shared tensor is a term over four sub-graphs, not a tree of pairs";
  EXPECT_EQ(r.total, 7);
  EXPECT_EQ(r.total, BruteForce(p).total);
  EXPECT_EQ(r.total, Evaluate(p, r.state));
}

TEST(Solve, SharedTensorsFromTheHostAndToItNeverBeatBruteForce) {
  // Random problems where some tensors are shared: the producer (or the host, -1) and 2-3 readers
  // (or the host) with random step tables over 3 step ids.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> cost(0, 30);
  int equal = 0;
  const int trials = 150;
  for (int trial = 0; trial < trials; ++trial) {
    const int n = 3 + trial % 4;
    SolveProblem p = RandomProblem(rng, n, Chain(n), false);
    for (int k = 0; k < 2; ++k) {
      SolveProblem::Shared sh;
      sh.from = static_cast<int>(rng() % (n + 1)) - 1;
      const size_t na = sh.from < 0 ? 1 : p.unary[sh.from].size();
      sh.step_cost.assign(na, {});
      for (auto& c : sh.step_cost)
        for (int id = 0; id < 3; ++id) c.push_back(cost(rng));
      for (int r = 0; r < 2 + trial % 2; ++r) {
        const int rd = static_cast<int>(rng() % (n + 1)) - 1;
        sh.readers.push_back(rd);
        const size_t nc = rd < 0 ? 1 : p.unary[rd].size();
        std::vector<std::vector<int>> table(na * nc);
        for (auto& t : table)
          for (int id = 0; id < 3; ++id)
            if (rng() % 2) t.push_back(id);
        sh.steps.push_back(table);
      }
      p.shared.push_back(sh);
    }
    const SolveResult h = Solve(p), bf = BruteForce(p);
    ASSERT_EQ(h.total, Evaluate(p, h.state)) << "trial " << trial;
    ASSERT_GE(h.total, bf.total) << "trial " << trial;
    equal += h.total == bf.total;
  }
  // The heuristic finds the optimum in most of these small problems (a quality guard, not a proof).
  EXPECT_GE(equal, trials * 8 / 10) << equal << " of " << trials;
}

TEST(Solve, RefusesMalformedSharedTerms) {
  SolveProblem p = SharedReorderProblem({1, 1, 1}, {1, 1, 1});
  p.shared[0].steps[0][1] = {5};  // no step 5
  EXPECT_THROW(Solve(p), std::invalid_argument);
  p = SharedReorderProblem({1, 1, 1}, {1, 1, 1});
  p.shared[0].readers.push_back(9);
  EXPECT_THROW(Solve(p), std::invalid_argument);
}

}  // namespace
}  // namespace layoutdb::selector
