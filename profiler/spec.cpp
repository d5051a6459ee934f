#include "layoutdb/profiler/spec.h"

#include "layoutdb/json_schema.h"

#include <fmt/format.h>

#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace layoutdb::specs {
const std::vector<std::pair<std::string_view, std::string_view>>& Embedded();
}

namespace layoutdb::profiler {
namespace {

using nlohmann::json;

[[noreturn]] void Fail(const std::string& origin, const std::string& what) {
  throw std::runtime_error(fmt::format("sweep spec {}: {}", origin, what));
}

// The spec's JSON schema, compiled in from schema/sweep.schema.json.
const json& SweepSchema() {
  static const json kSchema = [] {
    for (const auto& [file, text] : specs::Embedded())
      if (file == "sweep.schema.json") return json::parse(text);
    throw std::logic_error("sweep.schema.json is not embedded");
  }();
  return kSchema;
}

std::vector<std::string> Strings(const json& j) {
  std::vector<std::string> out;
  for (const auto& x : j) out.push_back(x.get<std::string>());
  return out;
}

// Expands a grid group: the cross product of its parameter values; a string value copies another
// parameter's value.
std::vector<Problem> ExpandGrid(const std::string& op, const std::string& alg, const json& grid,
                                const std::string& path, const std::string& origin) {
  if (!grid.is_object() || grid.empty()) Fail(origin, fmt::format("{} must be a non-empty object", path));
  std::vector<std::string> names;
  std::vector<std::vector<json>> values;
  for (auto it = grid.begin(); it != grid.end(); ++it) {
    if (!it.value().is_array() || it.value().empty())
      Fail(origin, fmt::format("{}/{} must be a non-empty array", path, it.key()));
    names.push_back(it.key());
    values.emplace_back(it.value().begin(), it.value().end());
  }
  std::vector<Problem> out;
  std::vector<size_t> idx(names.size(), 0);
  while (true) {
    std::map<std::string, json> chosen;
    for (size_t i = 0; i < names.size(); ++i) chosen[names[i]] = values[i][idx[i]];
    std::vector<std::pair<std::string, int64_t>> params;
    for (const auto& name : names) {
      json v = chosen[name];
      for (int depth = 0; v.is_string() && depth < 8; ++depth) {
        const std::string ref = v.get<std::string>();
        if (!chosen.count(ref))
          Fail(origin, fmt::format("{}/{} refers to '{}', which is not a parameter of the grid", path,
                                   name, ref));
        v = chosen[ref];
      }
      if (!v.is_number_integer())
        Fail(origin, fmt::format("{}/{}: '{}' is not an integer", path, name, v.dump()));
      params.emplace_back(name, v.get<int64_t>());
    }
    try {
      out.emplace_back(op, alg, params);
    } catch (const std::invalid_argument& e) {
      Fail(origin, fmt::format("{} builds an impossible problem: {}", path, e.what()));
    }
    size_t i = 0;
    for (; i < names.size(); ++i) {
      if (++idx[i] < values[i].size()) break;
      idx[i] = 0;
    }
    if (i == names.size()) break;
  }
  return out;
}

}  // namespace

std::vector<std::string> BuiltinSpecNames() {
  std::vector<std::string> names;
  for (const auto& [file, text] : specs::Embedded()) {
    const std::string f(file);
    if (f.size() > 5 && f.find(".schema.") == std::string::npos && f.substr(f.size() - 5) == ".json")
      names.push_back(f.substr(0, f.size() - 5));
  }
  return names;
}

microbench::Shape4 ParseShape(const std::string& text) {
  const Problem p = [&] {
    try {
      return Problem::Parse("eltwise:relu:" + text);
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument(fmt::format("bad shape '{}': expected mbNcNhNwN, e.g. mb1c64h56w56", text));
    }
  }();
  return microbench::Shape4{p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
}

SweepSpec LoadSpec(const std::string& name_or_path) {
  for (const auto& [file, text] : specs::Embedded())
    if (std::string(file) == name_or_path + ".json" && name_or_path.find('.') == std::string::npos)
      return ParseSpec(std::string(text), "built-in " + name_or_path);
  std::ifstream in(name_or_path);
  if (!in)
    throw std::runtime_error(fmt::format("sweep spec '{}' is neither a built-in spec ({}) nor a readable file",
                                         name_or_path, fmt::join(BuiltinSpecNames(), ", ")));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSpec(ss.str(), name_or_path);
}

SweepSpec ParseSpec(const std::string& text, const std::string& origin) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999999
    Fail(origin, fmt::format("not valid JSON: {}", e.what()));
  }
  if (const auto violations = ValidateJson(SweepSchema(), j); !violations.empty())
    Fail(origin, fmt::format("{} (sweep.schema.json){}", violations.front(),
                             violations.size() > 1 ? fmt::format("; and {} more", violations.size() - 1) : ""));
  SweepSpec s;
  s.origin = origin;
  s.text = text;
  s.hash = HashHex(text);
  s.name = j["name"].get<std::string>();
  s.dtypes = Strings(j["dtypes"]);
  const json& m = j["measure"];
  // Counts within int: nlohmann would cast 1e18 to int, which is undefined behaviour.
  auto count = [&](const char* key, int fallback) {
    if (!m.contains(key)) return fallback;
    const double v = m[key].get<double>();  // a whole number >= 0 (the schema)
    if (v > std::numeric_limits<int>::max())
      Fail(origin, fmt::format("/measure/{}: {} is too large (at most {})", key, m[key].dump(),
                               std::numeric_limits<int>::max()));
    return static_cast<int>(v);
  };
  s.measure.warmup = count("warmup", s.measure.warmup);
  s.measure.min_reps = count("min_reps", s.measure.min_reps);
  s.measure.max_reps = count("max_reps", s.measure.max_reps);
  s.measure.target_rel_ci = m.value("target_rel_ci", s.measure.target_rel_ci);
  s.measure.budget_s = m.value("budget_s", s.measure.budget_s);
  // A point of k candidates gets max(budget_s, k * candidate_budget_s): by default a quarter of
  // budget_s each, so that points of up to 4 candidates keep budget_s and larger ones get as much
  // time per candidate.
  s.measure.candidate_budget_s = m.value("candidate_budget_s", s.measure.budget_s / 4);
  if (s.measure.max_reps < s.measure.min_reps)
    Fail(origin, "/measure: max_reps must be at least min_reps");
  s.visits = count("visits", s.visits);
  s.max_revisits = count("max_revisits", s.max_revisits);
  s.revisit_tolerance = m.value("revisit_tolerance", s.revisit_tolerance);
  s.revisit_share = m.value("revisit_share", s.revisit_share);

  std::set<std::string> seen;
  for (size_t gi = 0; gi < j["problems"].size(); ++gi) {
    const json& g = j["problems"][gi];
    const std::string path = fmt::format("/problems/{}", gi);
    const std::string group = g["name"].get<std::string>();
    const std::vector<std::string> dtypes = g.contains("dtypes") ? Strings(g["dtypes"]) : s.dtypes;
    std::vector<Problem> problems;
    if (g.contains("keys")) {
      for (size_t ki = 0; ki < g["keys"].size(); ++ki) {
        try {
          problems.push_back(Problem::Parse(g["keys"][ki].get<std::string>()));
        } catch (const std::invalid_argument& e) {
          Fail(origin, fmt::format("{}/keys/{} (group '{}'): {}", path, ki, group, e.what()));
        }
      }
    }
    if (g.contains("grid")) {
      if (!g.contains("op")) Fail(origin, path + " has a grid but no op");
      const std::string alg = g.value("alg", "");
      for (auto& p : ExpandGrid(g["op"].get<std::string>(), alg, g["grid"], path + "/grid", origin))
        problems.push_back(std::move(p));
    }
    if (!g.contains("keys") && !g.contains("grid")) Fail(origin, path + " has neither keys nor a grid");
    for (auto& p : problems)
      if (seen.insert(p.Key()).second) s.problems.push_back({std::move(p), dtypes, group});
  }

  if (j.contains("transitions")) {
    const json& t = j["transitions"];
    for (const auto& sh : t.value("shapes", json::array())) {
      try {
        s.transition_shapes.push_back(ParseShape(sh.get<std::string>()));
      } catch (const std::exception& e) {
        Fail(origin, fmt::format("/transitions/shapes: {}", e.what()));
      }
    }
    s.transition_dtypes = t.contains("dtypes") ? Strings(t["dtypes"]) : std::vector<std::string>{"f32"};
  }
  if (j.contains("transfers")) {
    for (const auto& b : j["transfers"].value("bytes", json::array())) s.transfer_bytes.push_back(b.get<int64_t>());
  }
  return s;
}

}  // namespace layoutdb::profiler
