// LoadPlan: a plan JSON (schema/plan.schema.json, as `layoutdb select --out` writes it) back into a Plan.
#include <fmt/format.h>

#include <climits>
#include <cstdint>
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
  // Integers as integers: nlohmann would cast a float (1e300) or a huge number to int, which is
  // undefined behaviour.
  auto Int64 = [&](const nlohmann::json& v, const char* field) -> int64_t {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX))
      fail(fmt::format("{} is not an integer: {}", field, v.dump()));
    return v.get<int64_t>();
  };
  auto Int = [&](const nlohmann::json& v, const char* field) -> int {
    const int64_t i = Int64(v, field);
    if (i < INT_MIN || i > INT_MAX) fail(fmt::format("{} is out of range: {}", field, i));
    return static_cast<int>(i);
  };
  Plan p;
  try {
    if (!j.is_object() || !j.contains("plan_schema_version") || !j.contains("subgraphs"))
      fail("not a layoutdb plan (no plan_schema_version / subgraphs)");
    if (j["plan_schema_version"] != 1)
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
      ps.index = Int(s.at("index"), "index");
      for (const auto& n : s.at("nodes")) ps.nodes.push_back(Int(n, "nodes"));
      ps.ops = s.value("ops", std::vector<std::string>{});
      ps.unit = s.at("unit").get<std::string>();
      ps.layout = s.at("layout").get<std::string>();
      ps.predicted_us = s.value("predicted_us", 0.0);
      ps.confidence = s.value("confidence", "");
      ps.fused_key = s.value("fused_key", "");
      ps.fused_cost = s.value("fused_cost", "");
      if (s.contains("complexity")) {
        const auto& c = s["complexity"];
        ps.flops = c.value("flops", 0.0);
        ps.bytes = c.value("bytes", 0.0);
        ps.intensity = c.value("intensity", 0.0);
        ps.node_count = Int(c.value("node_count", nlohmann::json(0)), "node_count");
        for (const auto& k : c.value("candidates", nlohmann::json::array()))
          ps.candidates.push_back({k.at("unit").get<std::string>(), k.at("layout").get<std::string>(),
                                   k.value("predicted_us", 0.0), k.value("confidence", "")});
      }
      p.subgraphs.push_back(std::move(ps));
    }
    for (const auto& t : j.value("transitions", nlohmann::json::array())) {
      PlanTransition pt;
      pt.from = Int(t.at("edge").at("from"), "edge.from");
      pt.to = Int(t.at("edge").at("to"), "edge.to");
      pt.tensor = t.at("edge").at("tensor").get<std::string>();
      pt.from_unit = t.at("from").at("unit").get<std::string>();
      pt.from_layout = t.at("from").at("layout").get<std::string>();
      pt.to_unit = t.at("to").at("unit").get<std::string>();
      pt.to_layout = t.at("to").at("layout").get<std::string>();
      pt.kind = t.value("kind", "");
      pt.bytes = Int64(t.value("bytes", nlohmann::json(0)), "bytes");
      pt.us = t.value("us", 0.0);
      p.transitions.push_back(pt);
    }
    for (const auto& b : j.value("baselines", nlohmann::json::array()))
      p.baselines.push_back({b.at("name").get<std::string>(), b.value("total_us", 0.0),
                             b.value("ratio", 0.0), Int(b.value("fallbacks", nlohmann::json(0)), "fallbacks")});
    p.notes = j.value("notes", std::vector<std::string>{});
  } catch (const nlohmann::json::exception& e) {
    const std::string what = e.what();
    fail(fmt::format("malformed ({})", what.substr(0, what.find('\n'))));
  }
  return p;
}

}  // namespace layoutdb
