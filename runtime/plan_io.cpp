// LoadPlan: a plan JSON (schema/plan.schema.json, as `layoutdb select --out` writes it) back into a Plan.
#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "layoutdb/runtime.h"

namespace layoutdb {

Plan LoadPlan(const std::string& path) {
  auto fail = [&](const std::string& what) -> void {
    throw std::runtime_error(fmt::format("plan {}: {}", path, what));
  };
  std::ifstream f(path);
  if (!f) fail("cannot open the file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    const std::string what = e.what();
    fail(fmt::format("not valid JSON ({})", what.substr(0, what.find('\n'))));
  }
  Plan p;
  try {
    if (!j.is_object() || !j.contains("plan_schema_version") || !j.contains("subgraphs"))
      fail("not a layoutdb plan (no plan_schema_version / subgraphs)");
    if (j["plan_schema_version"].get<int>() != 1)
      fail(fmt::format("plan_schema_version {} (this layoutdb reads 1)",
                       j["plan_schema_version"].dump()));
    p.model = j.value("model", "");
    p.model_hash = j.value("model_hash", "");
    p.db = j.value("db", "");
    p.dtype = j.value("dtype", "f32");
    p.solver = j.value("solver", "");
    p.units = j.value("units", std::vector<std::string>{});
    p.total_predicted_us = j.value("total_predicted_us", 0.0);
    for (const auto& s : j["subgraphs"]) {
      PlanSubgraph ps;
      ps.index = s.at("index").get<int>();
      ps.nodes = s.at("nodes").get<std::vector<int>>();
      ps.ops = s.value("ops", std::vector<std::string>{});
      ps.unit = s.at("unit").get<std::string>();
      ps.layout = s.at("layout").get<std::string>();
      ps.predicted_us = s.value("predicted_us", 0.0);
      ps.confidence = s.value("confidence", "");
      if (s.contains("complexity")) {
        const auto& c = s["complexity"];
        ps.flops = c.value("flops", 0.0);
        ps.bytes = c.value("bytes", 0.0);
        ps.intensity = c.value("intensity", 0.0);
        ps.node_count = c.value("node_count", 0);
        for (const auto& k : c.value("candidates", nlohmann::json::array()))
          ps.candidates.push_back({k.at("unit").get<std::string>(), k.at("layout").get<std::string>(),
                                   k.value("predicted_us", 0.0), k.value("confidence", "")});
      }
      p.subgraphs.push_back(std::move(ps));
    }
    for (const auto& t : j.value("transitions", nlohmann::json::array())) {
      PlanTransition pt;
      pt.from = t.at("edge").at("from").get<int>();
      pt.to = t.at("edge").at("to").get<int>();
      pt.tensor = t.at("edge").at("tensor").get<std::string>();
      pt.from_unit = t.at("from").at("unit").get<std::string>();
      pt.from_layout = t.at("from").at("layout").get<std::string>();
      pt.to_unit = t.at("to").at("unit").get<std::string>();
      pt.to_layout = t.at("to").at("layout").get<std::string>();
      pt.kind = t.value("kind", "");
      pt.bytes = t.value("bytes", int64_t{0});
      pt.us = t.value("us", 0.0);
      p.transitions.push_back(pt);
    }
    for (const auto& b : j.value("baselines", nlohmann::json::array()))
      p.baselines.push_back({b.at("name").get<std::string>(), b.value("total_us", 0.0),
                             b.value("ratio", 0.0), b.value("fallbacks", 0)});
    p.notes = j.value("notes", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    const std::string what = e.what();
    fail(fmt::format("malformed ({})", what.substr(0, what.find('\n'))));
  }
  return p;
}

}  // namespace layoutdb
