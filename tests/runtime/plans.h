// Plans built in a test without a database: every sub-graph of the default partition on one unit in
// one layout, or alternating between two (unit, layout) states; and inputs to run them with.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "layoutdb/runtime.h"
#include "layoutdb/selector.h"
#include "selector/graph.h"

namespace layoutdb::testing {

// The runtime's inputs filled with values in [-1, 1) from a linear congruential sequence: the same for
// the same seed, so that two runtimes given them compute the same outputs.
inline std::vector<Tensor> RandomInputs(const Runtime& rt, uint32_t seed) {
  std::vector<Tensor> ins = rt.InputSpecs();
  for (auto& t : ins) {
    t.Allocate();
    for (auto& v : t.f32) {
      seed = seed * 1664525u + 1013904223u;
      v = static_cast<float>(seed >> 8) / static_cast<float>(1 << 24) * 2.0f - 1.0f;
    }
  }
  return ins;
}

using State = std::pair<std::string, std::string>;  // unit, layout

// Sub-graph s takes states[s % states.size()].
inline Plan CyclePlan(const selector::Graph& g, const std::vector<State>& states) {
  const selector::Partition part = selector::DefaultPartition(g);
  Plan p;
  p.model = g.name;
  p.dtype = "f32";
  for (size_t s = 0; s < part.subgraphs.size(); ++s) {
    PlanSubgraph ps;
    ps.index = static_cast<int>(s);
    ps.nodes = part.subgraphs[s].nodes;
    ps.unit = states[s % states.size()].first;
    ps.layout = states[s % states.size()].second;
    p.subgraphs.push_back(ps);
  }
  return p;
}

inline Plan UniformPlan(const selector::Graph& g, const std::string& unit, const std::string& layout) {
  return CyclePlan(g, {{unit, layout}});
}

}  // namespace layoutdb::testing
