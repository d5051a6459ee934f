#include "refine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include "graph.h"
#include "layoutdb/selector.h"
#include "plan.h"

namespace layoutdb::selector {
namespace {

std::vector<std::string> Dtypes(const RefineOptions& o) {
  return o.dtypes.empty() ? std::vector<std::string>{"f32"} : o.dtypes;
}

std::vector<std::string> Units(const CostModel& cost, const RefineOptions& o) {
  if (o.units.empty()) return cost.Units();
  std::vector<std::string> out;
  for (const auto& u : o.units) {
    const auto& all = cost.Units();
    if (u == "ocl") {
      for (const auto& a : all)
        if (a.rfind("ocl:", 0) == 0) out.push_back(a);
    } else if (std::find(all.begin(), all.end(), u) != all.end()) {
      out.push_back(u);
    } else {
      throw std::runtime_error(fmt::format("--units: '{}' has no measurement in {}", u, o.db));
    }
  }
  return out;
}

// Parameters that pick a kernel rather than a size: not varied by the grid neighbourhood.
bool IsShapeClass(const std::string& name) {
  for (const char* s : {"kh", "kw", "sh", "sw", "dh", "dw", "g", "ax", "ph", "pw", "bc"})
    if (name == s) return true;
  return false;
}

std::string Factor(double log_sd) { return fmt::format("x{:.2f}", std::exp(log_sd)); }

std::string StateText(const RefineState& s, bool model) {
  if (model)  // a sub-graph's state: several nodes, several estimators
    return fmt::format("{}/{} {:.1f} us ({}, +-{:.1f} us)", s.unit, s.layout, s.estimate.us,
                       ConfidenceName(s.estimate.confidence), s.uncertain_us);
  return fmt::format("{}/{} {:.1f} us ({}, {} {})", s.unit, s.layout, s.estimate.us,
                     ConfidenceName(s.estimate.confidence), EstimatorName(s.estimate.estimator),
                     Factor(s.log_sd));
}

// True when the unit holds any measurement of `key` in `dtype` (usable or not).
bool HeldOn(const CostModel& cost, const std::string& key, const std::string& unit, const std::string& dtype) {
  const Problem p = Problem::Parse(key);
  for (const auto& layout : cost.Layouts(unit, p.op(), dtype))
    if (cost.Measured(key, unit, layout, dtype)) return true;
  return false;
}

// The options' model, imported and partitioned once.
struct ModelGraph {
  Graph g;
  Partition part;
};
ModelGraph ImportModel(const RefineOptions& o) {
  InputShapes inputs;
  for (const auto& i : o.inputs) inputs.insert(ParseInputShape(i));
  ModelGraph m;
  m.g = ImportOnnx(o.model, inputs);
  m.part = DefaultPartition(m.g);
  return m;
}
// Its plan problem in one dtype, over the options' units.
PlanProblem ModelPlan(const ModelGraph& m, const CostModel& cost, const RefineOptions& o, const std::string& dtype) {
  PlanOptions po;
  po.units = Units(cost, o);
  po.dtype = dtype;
  return BuildPlanProblem(m.g, m.part, cost, po);
}

}  // namespace

std::vector<std::string> RefineCandidateKeys(const CostModel& cost, const RefineOptions& o) {
  std::set<std::string> keys;
  std::set<std::string> measured;
  for (const auto& s : cost.Samples()) measured.insert(s.key);
  for (const auto& key : measured) {
    Problem p = Problem::Parse(key);
    if (!p.post_ops().empty()) continue;  // fused problems: their anchors are the neighbourhood
    std::vector<std::vector<std::pair<std::string, int64_t>>> variants;
    auto params = p.params();
    for (size_t i = 0; i < params.size(); ++i) {
      if (IsShapeClass(params[i].first)) continue;
      for (double f : {2.0, 0.5}) {
        auto v = params;
        v[i].second = static_cast<int64_t>(std::llround(static_cast<double>(v[i].second) * f));
        if (v[i].second < 1 || v[i].second == params[i].second) continue;
        variants.push_back(v);
      }
    }
    // The spatial pair together (ih and iw, h and w): square inputs stay square.
    for (auto [a, b] : {std::pair<const char*, const char*>{"ih", "iw"}, {"h", "w"}})
      for (double f : {2.0, 0.5}) {
        auto v = params;
        int hit = 0;
        for (auto& [name, val] : v)
          if (name == a || name == b) {
            val = static_cast<int64_t>(std::llround(static_cast<double>(val) * f));
            hit += val >= 1;
          }
        if (hit == 2) variants.push_back(v);
      }
    for (const auto& v : variants) {
      try {
        const std::string k = Problem(p.op(), p.alg(), v).Key();
        const Problem q = Problem::Parse(k);  // validates the shape (an output size below 1 throws)
        if (q.Flops() <= 0 && q.Bytes(4) <= 0) continue;
        if (!measured.count(k) && !cost.Measured(k)) keys.insert(k);
      } catch (const std::exception&) {
        // Not a valid problem (e.g. a kernel larger than the halved input): not a neighbour.
      }
    }
  }
  return {keys.begin(), keys.end()};
}

std::vector<RefineCandidate> RankRefine(const CostModel& cost, const std::vector<std::string>& keys,
                                        const RefineOptions& o) {
  const std::vector<std::string> units = Units(cost, o);
  std::vector<RefineCandidate> out;
  for (const auto& key : keys) {
    const Problem p = Problem::Parse(key);
    for (const auto& dtype : Dtypes(o)) {
      RefineCandidate c{key, dtype, {}, false, 0};
      bool uncertain = false;
      for (const auto& unit : units)
        for (const auto& layout : cost.Layouts(unit, p.op(), dtype)) {
          if (layout.find('>') != std::string::npos) continue;  // mixed: used exactly or not at all
          auto e = cost.Op(p, key, unit, layout, dtype);
          if (!e) continue;  // an unusable measurement: never recommended, nothing to learn
          double sd = e->log_sd;
          if (e->confidence == Confidence::kExact) sd = 0;
          if (e->confidence == Confidence::kRoofline) sd = kRooflineLogSd;
          uncertain |= e->confidence != Confidence::kExact;
          c.states.push_back({unit, layout, *e, sd});
        }
      if (!uncertain || c.states.empty()) continue;
      std::sort(c.states.begin(), c.states.end(),
                [](const RefineState& a, const RefineState& b) { return a.estimate.us < b.estimate.us; });
      const RefineState& best = c.states[0];
      double sd = best.log_sd;
      if (c.states.size() > 1) {
        const RefineState& second = c.states[1];
        sd = std::max(sd, second.log_sd);
        c.overlaps = best.estimate.us * std::exp(2 * best.log_sd) >=
                     second.estimate.us * std::exp(-2 * second.log_sd);
      }
      c.score = sd * (c.overlaps ? 1.0 : 0.1);
      out.push_back(std::move(c));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RefineCandidate& a, const RefineCandidate& b) { return a.score > b.score; });
  return out;
}

std::vector<RefineCandidate> RankRefineModel(const CostModel& cost, const RefineOptions& o) {
  std::vector<RefineCandidate> out;
  const ModelGraph model = ImportModel(o);
  for (const auto& dtype : Dtypes(o)) {
    const PlanProblem pp = ModelPlan(model, cost, o, dtype);
    std::map<std::string, RefineCandidate> by_key;
    std::map<std::string, double> top_stake;  // per key, the largest single sub-graph's stake
    for (size_t si = 0; si < pp.states.size(); ++si) {
      std::vector<State> states;
      for (const State& st : pp.states[si])
        if (std::isfinite(st.us)) states.push_back(st);
      std::sort(states.begin(), states.end(), [](const State& a, const State& b) { return a.us < b.us; });
      if (states.empty()) continue;
      // Intervals in log time, as RankRefine's: us x e^(+-2 sd), sd = log(1 + uncertain_us / us).
      auto sd = [](const State& st) { return st.us > 0 ? std::log1p(st.uncertain_us / st.us) : 0.0; };
      const State& best = states.front();
      double other = 0;
      bool overlaps = false;
      for (size_t k = 1; k < states.size(); ++k)
        if (std::log(states[k].us) - 2 * sd(states[k]) <= std::log(best.us) + 2 * sd(best)) {
          overlaps = true;
          other = std::max(other, states[k].uncertain_us);
        }
      // A flipped decision gains at most the best state's time.
      const double stake = best.uncertain_us + std::min(other, best.us);
      if (stake <= 0) continue;
      // The keys that would make its uncertain states exact: those some unit with such a state lacks.
      std::set<std::string> lacking;
      for (const auto& key : SubgraphProblemKeys(model.g, model.part.subgraphs[si]))
        for (const State& st : states)
          if (st.uncertain_us > 0 && !HeldOn(cost, key, st.unit, dtype)) lacking.insert(key);
      for (const auto& key : lacking) {
        RefineCandidate& c = by_key[key];
        c.key = key;
        c.dtype = dtype;
        ++c.instances;
        c.score += stake;
        if (c.subgraph >= 0 && stake <= top_stake[key]) continue;
        // Shown with the states of the sub-graph that stakes the most on it.
        top_stake[key] = stake;
        c.subgraph = static_cast<int>(si);
        c.overlaps = overlaps;
        c.states.clear();
        for (const State& st : states) {
          Estimate e;
          e.us = st.us;
          e.confidence = st.confidence;
          c.states.push_back({st.unit, st.label, e, 0, st.uncertain_us});
        }
      }
    }
    for (auto& [key, c] : by_key) out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const RefineCandidate& a, const RefineCandidate& b) { return a.score > b.score; });
  return out;
}

std::string FormatRefinePicks(const std::vector<RefineCandidate>& picks) {
  const bool model = !picks.empty() && picks.front().subgraph >= 0;
  std::string s = fmt::format("{:<3} {:<52} {:<5} {:>9}  {}\n", "#", "problem", "dtype",
                              model ? "stake us" : "score",
                              model ? "sub-graph (of N running it): best | runner-up (estimate, +- uncertainty)"
                                    : "best | runner-up (estimate, estimator, uncertainty factor)");
  for (size_t i = 0; i < picks.size(); ++i) {
    const auto& c = picks[i];
    const std::string where = model ? fmt::format("#{} (of {}): ", c.subgraph, c.instances) : "";
    s += fmt::format("{:<3} {:<52} {:<5} {:>9.3f}  {}{}{}{}\n", i + 1, c.key, c.dtype, c.score, where,
                     StateText(c.states[0], model),
                     c.states.size() > 1 ? " | " + StateText(c.states[1], model) : "",
                     c.overlaps ? "  (overlap)" : "");
  }
  return s;
}

std::string FormatRefineChanges(const std::vector<RefineCandidate>& before, const CostModel& after,
                                const RefineOptions& o) {
  std::optional<ModelGraph> model_graph;    // with a model: imported once
  std::map<std::string, PlanProblem> plans;  // per dtype
  std::string s;
  for (const auto& c : before) {
    const Problem p = Problem::Parse(c.key);
    const bool model = c.subgraph >= 0;
    if (model && !model_graph) model_graph = ImportModel(o);
    if (model && !plans.count(c.dtype)) plans.emplace(c.dtype, ModelPlan(*model_graph, after, o, c.dtype));
    s += model ? fmt::format("{} {} (sub-graph #{}):\n", c.key, c.dtype, c.subgraph)
               : fmt::format("{} {}:\n", c.key, c.dtype);
    std::string best_after;
    double best_us = 0;
    for (const auto& st : c.states) {
      std::optional<Estimate> e;
      if (model) {
        for (const State& now : plans.at(c.dtype).states[static_cast<size_t>(c.subgraph)])
          if (now.unit == st.unit && now.label == st.layout && std::isfinite(now.us))
            e = Estimate{now.us, now.confidence};
      } else {
        e = after.Op(p, c.key, st.unit, st.layout, c.dtype);
      }
      std::string now = "unusable now (reference kernel or unsupported)";
      if (e) {
        now = fmt::format("{:.1f} us {} ({:+.1f}%)", e->us, ConfidenceName(e->confidence),
                          100 * (e->us / st.estimate.us - 1));
        if (best_after.empty() || e->us < best_us) best_after = st.unit + "/" + st.layout, best_us = e->us;
      }
      s += fmt::format("  {:<16} before {:>10.1f} us ({}{}) -> {}\n", st.unit + "/" + st.layout,
                       st.estimate.us, ConfidenceName(st.estimate.confidence),
                       model ? "" : std::string(", ") + EstimatorName(st.estimate.estimator), now);
    }
    const std::string best_before = c.states[0].unit + "/" + c.states[0].layout;
    s += fmt::format("  best: {} -> {}{}\n", best_before, best_after,
                     best_before == best_after ? "" : "  (decision changed)");
  }
  return s;
}

}  // namespace layoutdb::selector
