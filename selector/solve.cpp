// Global solve over (unit, layout) states.
//
// Exact case. When the sub-graphs and their edges, taken as an undirected graph, form a forest
// (chains, in-trees such as many producers feeding one concat, out-trees, any tree), min-sum dynamic
// programming is exact: root every tree, then from the leaves up each node keeps, per state of its
// parent, the best cost of its whole subtree (its own cost + its children's messages + the transition
// to the parent), and the root takes its best state; states are then read back top-down.
//
// Shared tensors. A tensor read by several sub-graphs is converted once per distinct (unit, layout) its
// readers need and transferred once per unit (SolveProblem::Shared): a term over the producer and all
// its readers, not a sum of pairs. Charging every reader its own conversion is an upper bound of it
// (the "bound" problem: each reader's steps as a pairwise term); the bound guides the seeds below and
// the exact term is what descent minimises and what the total reports. With shared tensors the solve
// is the heuristic below (seeded also by tree DP on the bound when that is a forest), never claimed
// exact.
//
// General DAGs (a tensor read by two sub-graphs that meet again: residual blocks, attention) have
// cycles, where such DP is not exact. Heuristic, in three steps:
//  1. Forward pass in topological order: acc[i][s] = unary[i][s] + sum over earlier neighbours j of
//     min_t (acc[j][t] + T(j,i)(t,s)) — each predecessor at its argmin for this state. A shared
//     ancestor is counted once per path, so acc only guides the choice. Backward pass: each
//     sub-graph, last first, takes argmin_s acc[i][s] + T to the later neighbours already chosen.
//  2. Seeds: that assignment, the local best (argmin of unary), and for every state label (e.g.
//     cpu/nhwc) the assignment putting every sub-graph that has that label in it — so a move that pays
//     off only when a whole run of sub-graphs changes layout together is tried.
//  3. From every seed, coordinate descent: re-choose one sub-graph's state given all its neighbours,
//     sweeping until a sweep improves nothing (at most kMaxRounds sweeps). The best result wins.
// Bound: every step is O(E * S^2) per sweep for E edges and at most S states per sub-graph (S is about
// a dozen: units x layouts), times (labels + 2) seeds and kMaxRounds sweeps. The total reported is
// always Evaluate() of the chosen assignment, so it is exact for what it claims; only optimality is
// heuristic. solve_test compares it with brute force on small random DAGs.
#include "solve.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <stdexcept>

namespace layoutdb::selector {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxRounds = 50;

// The pairwise terms merged per unordered pair, oriented lo < hi: cost[s_lo * n_hi + s_hi].
struct Merged {
  int lo = 0, hi = 0;
  std::vector<double> cost;
};


std::vector<Merged> MergePairs(const SolveProblem& p, std::vector<std::vector<double>>* unary) {
  std::map<std::pair<int, int>, Merged> merged;
  const int n = static_cast<int>(p.unary.size());
  for (const auto& pr : p.pairs) {
    if (pr.a < 0 || pr.b < 0 || pr.a >= n || pr.b >= n)
      throw std::invalid_argument("solve: pair refers to a sub-graph out of range");
    const size_t na = p.unary[pr.a].size(), nb = p.unary[pr.b].size();
    if (pr.cost.size() != na * nb) throw std::invalid_argument("solve: pair cost table has the wrong size");
    if (pr.a == pr.b) {
      for (size_t s = 0; s < na; ++s) (*unary)[pr.a][s] += pr.cost[s * nb + s];
      continue;
    }
    const int lo = std::min(pr.a, pr.b), hi = std::max(pr.a, pr.b);
    Merged& m = merged[{lo, hi}];
    const size_t nlo = p.unary[lo].size(), nhi = p.unary[hi].size();
    if (m.cost.empty()) {
      m.lo = lo;
      m.hi = hi;
      m.cost.assign(nlo * nhi, 0.0);
    }
    for (size_t a = 0; a < na; ++a)
      for (size_t b = 0; b < nb; ++b) {
        const double c = pr.cost[a * nb + b];
        if (pr.a == lo) m.cost[a * nhi + b] += c;
        else m.cost[b * nhi + a] += c;
      }
  }
  std::vector<Merged> out;
  for (auto& [k, m] : merged) out.push_back(std::move(m));
  return out;
}

void CheckShared(const SolveProblem& p) {
  const int n = static_cast<int>(p.unary.size());
  auto states = [&](int i) { return i < 0 ? size_t{1} : p.unary[i].size(); };
  for (const auto& sh : p.shared) {
    if (sh.from < -1 || sh.from >= n) throw std::invalid_argument("solve: shared tensor producer out of range");
    if (sh.steps.size() != sh.readers.size())
      throw std::invalid_argument("solve: shared tensor needs one step table per reader");
    const size_t na = states(sh.from);
    if (sh.step_cost.size() != na)
      throw std::invalid_argument("solve: shared tensor needs step costs per producer state");
    for (size_t r = 0; r < sh.readers.size(); ++r) {
      const int rd = sh.readers[r];
      if (rd < -1 || rd >= n) throw std::invalid_argument("solve: shared tensor reader out of range");
      if (sh.steps[r].size() != na * states(rd))
        throw std::invalid_argument("solve: shared tensor step table has the wrong size");
      for (size_t a = 0; a < na; ++a)
        for (size_t c = 0; c < states(rd); ++c)
          for (int id : sh.steps[r][a * states(rd) + c])
            if (id < 0 || static_cast<size_t>(id) >= sh.step_cost[a].size())
              throw std::invalid_argument("solve: shared tensor step id out of range");
    }
  }
}

// The cost of a shared tensor in an assignment: each distinct step once.
double SharedCost(const SolveProblem::Shared& sh, const std::vector<int>& st,
                  const std::vector<std::vector<double>>& unary) {
  const int a = sh.from < 0 ? 0 : st[sh.from];
  const auto& cost = sh.step_cost[a];
  std::vector<char> paid(cost.size(), 0);
  double t = 0;
  for (size_t r = 0; r < sh.readers.size(); ++r) {
    const int rd = sh.readers[r];
    const size_t nc = rd < 0 ? 1 : unary[rd].size();
    const size_t c = rd < 0 ? 0 : static_cast<size_t>(st[rd]);
    for (int id : sh.steps[r][a * nc + c])
      if (!paid[id]) paid[id] = 1, t += cost[id];
  }
  return t;
}

// The bound problem: every reader of a shared tensor charged its own steps, as pairwise and unary
// terms (a constant where both sides are the host is left out: it moves no choice).
SolveProblem Bound(const SolveProblem& p) {
  SolveProblem b;
  b.unary = p.unary;
  b.pairs = p.pairs;
  for (const auto& sh : p.shared) {
    const size_t na = sh.from < 0 ? 1 : p.unary[sh.from].size();
    for (size_t r = 0; r < sh.readers.size(); ++r) {
      const int rd = sh.readers[r];
      const size_t nc = rd < 0 ? 1 : p.unary[rd].size();
      auto sum = [&](size_t a, size_t c) {
        double t = 0;
        for (int id : sh.steps[r][a * nc + c]) t += sh.step_cost[a][id];
        return t;
      };
      if (sh.from < 0 && rd < 0) continue;
      if (sh.from < 0) {
        for (size_t c = 0; c < nc; ++c) b.unary[rd][c] += sum(0, c);
      } else if (rd < 0) {
        for (size_t a = 0; a < na; ++a) b.unary[sh.from][a] += sum(a, 0);
      } else {
        SolveProblem::Pair pr{sh.from, rd, {}};
        for (size_t a = 0; a < na; ++a)
          for (size_t c = 0; c < nc; ++c) pr.cost.push_back(sum(a, c));
        b.pairs.push_back(std::move(pr));
      }
    }
  }
  return b;
}

struct Graph {
  std::vector<std::vector<double>> unary;
  std::vector<Merged> pairs;
  std::vector<std::vector<std::pair<int, int>>> adj;  // (neighbour, pair index)
  std::vector<SolveProblem::Shared> shared;
  std::vector<std::vector<int>> touch;  // per sub-graph: the shared tensors it produces or reads

  double T(int self, int s, int pair, int other_state) const {
    const Merged& m = pairs[pair];
    const size_t nhi = unary[m.hi].size();
    return self == m.lo ? m.cost[s * nhi + other_state] : m.cost[other_state * nhi + s];
  }
  // The terms of sub-graph i in state s, the others as in `st` (restored on return).
  double Local(int i, int s, std::vector<int>& st) const {
    double c = unary[i][s];
    for (auto [k, e] : adj[i]) c += T(i, s, e, st[k]);
    if (!touch[i].empty()) {
      const int keep = st[i];
      st[i] = s;
      for (int k : touch[i]) c += SharedCost(shared[k], st, unary);
      st[i] = keep;
    }
    return c;
  }
};

Graph Build(const SolveProblem& p) {
  Graph g;
  g.unary = p.unary;
  for (size_t i = 0; i < g.unary.size(); ++i)
    if (g.unary[i].empty()) throw std::invalid_argument("solve: a sub-graph has no state");
  CheckShared(p);
  g.pairs = MergePairs(p, &g.unary);
  g.adj.resize(g.unary.size());
  for (size_t e = 0; e < g.pairs.size(); ++e) {
    g.adj[g.pairs[e].lo].emplace_back(g.pairs[e].hi, static_cast<int>(e));
    g.adj[g.pairs[e].hi].emplace_back(g.pairs[e].lo, static_cast<int>(e));
  }
  g.shared = p.shared;
  g.touch.resize(g.unary.size());
  for (size_t k = 0; k < g.shared.size(); ++k) {
    std::vector<int> members = g.shared[k].readers;
    members.push_back(g.shared[k].from);
    std::sort(members.begin(), members.end());
    members.erase(std::unique(members.begin(), members.end()), members.end());
    for (int m : members)
      if (m >= 0) g.touch[m].push_back(static_cast<int>(k));
  }
  return g;
}

int ArgMin(const std::vector<double>& v) {
  return static_cast<int>(std::min_element(v.begin(), v.end()) - v.begin());
}

bool IsForest(const Graph& g) {
  std::vector<int> parent(g.unary.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::function<int(int)> find = [&](int x) { return parent[x] == x ? x : parent[x] = find(parent[x]); };
  for (const Merged& m : g.pairs) {
    const int a = find(m.lo), b = find(m.hi);
    if (a == b) return false;
    parent[a] = b;
  }
  return true;
}

std::vector<int> TreeDp(const Graph& g) {
  const int n = static_cast<int>(g.unary.size());
  std::vector<int> parent(n, -2), parent_pair(n, -1), order;
  order.reserve(n);
  for (int root = 0; root < n; ++root) {
    if (parent[root] != -2) continue;
    parent[root] = -1;
    std::vector<int> stack{root};
    while (!stack.empty()) {
      const int v = stack.back();
      stack.pop_back();
      order.push_back(v);
      for (auto [k, e] : g.adj[v])
        if (parent[k] == -2) {
          parent[k] = v;
          parent_pair[k] = e;
          stack.push_back(k);
        }
    }
  }
  // acc[v][s]: best cost of v's subtree with v in state s; best_child[v][sp]: v's state when its
  // parent is in state sp.
  std::vector<std::vector<double>> acc = g.unary;
  std::vector<std::vector<int>> best(n);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const int v = *it, p = parent[v];
    if (p < 0) continue;
    const size_t np = g.unary[p].size(), nv = g.unary[v].size();
    best[v].assign(np, 0);
    for (size_t sp = 0; sp < np; ++sp) {
      double m = kInf;
      int arg = 0;
      for (size_t sv = 0; sv < nv; ++sv) {
        const double c = acc[v][sv] + g.T(v, static_cast<int>(sv), parent_pair[v], static_cast<int>(sp));
        if (c < m) m = c, arg = static_cast<int>(sv);
      }
      acc[p][sp] += m;
      best[v][sp] = arg;
    }
  }
  std::vector<int> st(n, 0);
  for (int v : order) st[v] = parent[v] < 0 ? ArgMin(acc[v]) : best[v][st[parent[v]]];
  return st;
}

int Descend(const Graph& g, std::vector<int>* st) {
  const int n = static_cast<int>(g.unary.size());
  int rounds = 0;
  for (; rounds < kMaxRounds; ++rounds) {
    bool improved = false;
    for (int i = 0; i < n; ++i) {
      const double current = g.Local(i, (*st)[i], *st);
      int arg = (*st)[i];
      double m = current;
      for (int s = 0; s < static_cast<int>(g.unary[i].size()); ++s) {
        const double c = g.Local(i, s, *st);
        // Strictly better by more than rounding, so the sweep terminates.
        if (c < m - 1e-9 * std::max(1.0, std::abs(m))) m = c, arg = s;
      }
      if (arg != (*st)[i]) (*st)[i] = arg, improved = true;
    }
    if (!improved) break;
  }
  return rounds + 1;
}

double Total(const Graph& g, const std::vector<int>& st) {
  double t = 0;
  for (size_t i = 0; i < st.size(); ++i) t += g.unary[i][st[i]];
  for (const Merged& m : g.pairs) t += m.cost[st[m.lo] * g.unary[m.hi].size() + st[m.hi]];
  for (const auto& sh : g.shared) t += SharedCost(sh, st, g.unary);
  return t;
}

}  // namespace

double Evaluate(const SolveProblem& p, const std::vector<int>& state) {
  double t = 0;
  for (size_t i = 0; i < p.unary.size(); ++i) t += p.unary[i][state[i]];
  for (const auto& pr : p.pairs) t += pr.cost[state[pr.a] * p.unary[pr.b].size() + state[pr.b]];
  for (const auto& sh : p.shared) t += SharedCost(sh, state, p.unary);
  return t;
}

SolveResult Solve(const SolveProblem& p, const std::vector<std::vector<std::string>>& labels) {
  SolveResult r;
  const int n = static_cast<int>(p.unary.size());
  if (n == 0) {
    r.method = "exact-tree-dp";
    r.exact = true;
    return r;
  }
  const Graph g = Build(p);
  if (p.shared.empty() && IsForest(g)) {
    r.state = TreeDp(g);
    r.exact = true;
    r.method = "exact-tree-dp";
    r.total = Evaluate(p, r.state);
    return r;
  }
  r.method = "dag-heuristic";
  // Seeds come from the bound problem (shared tensors charged per reader); descent and the total use
  // the exact terms.
  const Graph gb = p.shared.empty() ? g : Build(Bound(p));
  // 1. Forward pass with predecessors at their argmin, backward read-back.
  std::vector<std::vector<double>> acc = gb.unary;
  for (int i = 0; i < n; ++i)
    for (auto [j, e] : gb.adj[i]) {
      if (j > i) continue;
      for (size_t s = 0; s < acc[i].size(); ++s) {
        double m = kInf;
        for (size_t t = 0; t < acc[j].size(); ++t)
          m = std::min(m, acc[j][t] + gb.T(j, static_cast<int>(t), e, static_cast<int>(s)));
        acc[i][s] += m;
      }
    }
  std::vector<int> dp(n, 0);
  for (int i = n - 1; i >= 0; --i) {
    double m = kInf;
    for (size_t s = 0; s < acc[i].size(); ++s) {
      double c = acc[i][s];
      for (auto [k, e] : gb.adj[i])
        if (k > i) c += gb.T(i, static_cast<int>(s), e, dp[k]);
      if (c < m) m = c, dp[i] = static_cast<int>(s);
    }
  }
  // 2. Seeds.
  std::vector<std::vector<int>> seeds{dp};
  std::vector<int> local(n);
  for (int i = 0; i < n; ++i) local[i] = ArgMin(gb.unary[i]);
  seeds.push_back(local);
  if (labels.size() == static_cast<size_t>(n)) {
    std::map<std::string, int> seen;
    for (const auto& ls : labels)
      for (const auto& l : ls) seen.emplace(l, 0);
    for (const auto& [label, unused] : seen) {
      std::vector<int> s = dp;
      for (int i = 0; i < n; ++i)
        for (size_t k = 0; k < labels[i].size(); ++k)
          if (labels[i][k] == label) s[i] = static_cast<int>(k);
      seeds.push_back(std::move(s));
    }
  }
  if (!p.shared.empty() && IsForest(gb)) seeds.push_back(TreeDp(gb));
  // 3. Coordinate descent from each seed.
  double best = kInf;
  for (auto& s : seeds) {
    const int rounds = Descend(g, &s);
    const double t = Total(g, s);
    if (r.state.empty() || t < best) best = t, r.state = s, r.rounds = rounds;
  }
  r.total = Evaluate(p, r.state);
  return r;
}

SolveResult BruteForce(const SolveProblem& p, double limit) {
  const size_t n = p.unary.size();
  double count = 1;
  for (const auto& u : p.unary) count *= static_cast<double>(u.size());
  if (count > limit) throw std::invalid_argument("brute force: too many assignments");
  SolveResult r;
  r.method = "brute-force";
  r.exact = true;
  std::vector<int> st(n, 0);
  r.total = kInf;
  while (true) {
    const double t = Evaluate(p, st);
    if (r.state.empty() || t < r.total) r.total = t, r.state = st;
    size_t i = 0;
    while (i < n && ++st[i] == static_cast<int>(p.unary[i].size())) st[i++] = 0;
    if (i == n) break;
  }
  return r;
}

}  // namespace layoutdb::selector
