// Plans built in a test without a database: every sub-graph of the default partition on one unit in
// one layout, or alternating between two (unit, layout) states.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "layoutdb/selector.h"
#include "selector/graph.h"

namespace layoutdb::testing {

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
