#include "layoutdb/profiler/spec.h"

#include <fmt/format.h>

#include <fstream>
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

const std::set<std::string> kDtypes = {"f32", "bf16", "f16", "int8"};

// Checks the spec against schema/sweep.schema.json's rules (types, required and allowed keys, enums,
// minimums), with a JSON path in each message.
void CheckKeys(const json& j, const std::string& path, const std::set<std::string>& allowed,
               const std::set<std::string>& required, const std::string& origin) {
  if (!j.is_object()) Fail(origin, fmt::format("{} must be an object", path));
  for (const auto& r : required)
    if (!j.contains(r)) Fail(origin, fmt::format("{} lacks the required key '{}'", path, r));
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!allowed.count(it.key()))
      Fail(origin, fmt::format("{} has an unknown key '{}' (allowed: {})", path, it.key(),
                               fmt::join(allowed, ", ")));
}

std::vector<std::string> Dtypes(const json& j, const std::string& path, const std::string& origin) {
  if (!j.is_array() || j.empty()) Fail(origin, fmt::format("{} must be a non-empty array", path));
  std::vector<std::string> out;
  for (const auto& d : j) {
    if (!d.is_string() || !kDtypes.count(d.get<std::string>()))
      Fail(origin, fmt::format("{} has '{}'; dtypes are f32, bf16, f16, int8", path, d.dump()));
    out.push_back(d.get<std::string>());
  }
  return out;
}

template <typename T>
T Number(const json& j, const std::string& key, T def, T min, const std::string& path,
         const std::string& origin) {
  if (!j.contains(key)) return def;
  const json& v = j[key];
  if (!v.is_number() || (std::is_integral_v<T> && !v.is_number_integer()))
    Fail(origin, fmt::format("{}.{} must be a{} number", path, key,
                             std::is_integral_v<T> ? "n integer" : ""));
  const T x = v.get<T>();
  if (x < min) Fail(origin, fmt::format("{}.{} must be at least {}, got {}", path, key, min, x));
  return x;
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
      Fail(origin, fmt::format("{}.{} must be a non-empty array", path, it.key()));
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
          Fail(origin, fmt::format("{}.{} refers to '{}', which is not a parameter of the grid", path,
                                   name, ref));
        v = chosen[ref];
      }
      if (!v.is_number_integer())
        Fail(origin, fmt::format("{}.{}: '{}' is not an integer", path, name, v.dump()));
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
  } catch (const json::parse_error& e) {
    Fail(origin, fmt::format("not valid JSON: {}", e.what()));
  }
  CheckKeys(j, "$", {"$schema", "name", "description", "dtypes", "measure", "problems", "transitions", "transfers"},
            {"name", "dtypes", "measure", "problems"}, origin);
  SweepSpec s;
  s.origin = origin;
  s.text = text;
  s.hash = HashHex(text);
  if (!j["name"].is_string() || j["name"].get<std::string>().empty())
    Fail(origin, "$.name must be a non-empty string");
  s.name = j["name"].get<std::string>();
  s.dtypes = Dtypes(j["dtypes"], "$.dtypes", origin);

  const json& m = j["measure"];
  CheckKeys(m, "$.measure", {"warmup", "min_reps", "max_reps", "target_rel_ci", "budget_s"}, {}, origin);
  s.measure.warmup = Number<int>(m, "warmup", s.measure.warmup, 0, "$.measure", origin);
  s.measure.min_reps = Number<int>(m, "min_reps", s.measure.min_reps, 1, "$.measure", origin);
  s.measure.max_reps = Number<int>(m, "max_reps", s.measure.max_reps, 1, "$.measure", origin);
  s.measure.target_rel_ci = Number<double>(m, "target_rel_ci", s.measure.target_rel_ci, 0, "$.measure", origin);
  s.measure.budget_s = Number<double>(m, "budget_s", s.measure.budget_s, 0, "$.measure", origin);
  if (s.measure.max_reps < s.measure.min_reps)
    Fail(origin, "$.measure.max_reps must be at least min_reps");

  if (!j["problems"].is_array()) Fail(origin, "$.problems must be an array");
  std::set<std::string> seen;
  for (size_t gi = 0; gi < j["problems"].size(); ++gi) {
    const json& g = j["problems"][gi];
    const std::string path = fmt::format("$.problems[{}]", gi);
    CheckKeys(g, path, {"name", "source", "dtypes", "keys", "op", "alg", "grid"}, {"name"}, origin);
    const std::string group = g["name"].is_string() ? g["name"].get<std::string>() : "";
    const std::vector<std::string> dtypes =
        g.contains("dtypes") ? Dtypes(g["dtypes"], path + ".dtypes", origin) : s.dtypes;
    std::vector<Problem> problems;
    if (g.contains("keys")) {
      if (!g["keys"].is_array()) Fail(origin, path + ".keys must be an array of problem keys");
      for (size_t ki = 0; ki < g["keys"].size(); ++ki) {
        const json& k = g["keys"][ki];
        if (!k.is_string()) Fail(origin, fmt::format("{}.keys[{}] must be a string", path, ki));
        try {
          problems.push_back(Problem::Parse(k.get<std::string>()));
        } catch (const std::invalid_argument& e) {
          Fail(origin, fmt::format("{}.keys[{}] (group '{}'): {}", path, ki, group, e.what()));
        }
      }
    }
    if (g.contains("grid")) {
      if (!g.contains("op") || !g["op"].is_string()) Fail(origin, path + " has a grid but no op");
      const std::string alg = g.contains("alg") ? g["alg"].get<std::string>() : "";
      for (auto& p : ExpandGrid(g["op"].get<std::string>(), alg, g["grid"], path + ".grid", origin))
        problems.push_back(std::move(p));
    }
    if (!g.contains("keys") && !g.contains("grid")) Fail(origin, path + " has neither keys nor a grid");
    for (auto& p : problems)
      if (seen.insert(p.Key()).second) s.problems.push_back({std::move(p), dtypes, group});
  }

  if (j.contains("transitions")) {
    const json& t = j["transitions"];
    CheckKeys(t, "$.transitions", {"shapes", "dtypes"}, {}, origin);
    if (t.contains("shapes")) {
      for (const auto& sh : t["shapes"]) {
        try {
          s.transition_shapes.push_back(ParseShape(sh.get<std::string>()));
        } catch (const std::exception& e) {
          Fail(origin, fmt::format("$.transitions.shapes: {}", e.what()));
        }
      }
    }
    s.transition_dtypes = t.contains("dtypes") ? Dtypes(t["dtypes"], "$.transitions.dtypes", origin)
                                               : std::vector<std::string>{"f32"};
  }
  if (j.contains("transfers")) {
    const json& t = j["transfers"];
    CheckKeys(t, "$.transfers", {"bytes"}, {}, origin);
    for (const auto& b : t.value("bytes", json::array())) {
      if (!b.is_number_integer() || b.get<int64_t>() <= 0)
        Fail(origin, fmt::format("$.transfers.bytes has '{}'; sizes are positive integers", b.dump()));
      s.transfer_bytes.push_back(b.get<int64_t>());
    }
  }
  return s;
}

}  // namespace layoutdb::profiler
