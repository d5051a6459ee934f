#include "layoutdb/json_schema.h"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <stdexcept>

#include "layoutdb/human.h"

namespace layoutdb {
namespace {

using nlohmann::json;

bool HasType(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    if (!v.is_number_float()) return false;
    // A whole number within int64_t (casting one beyond it, 1e80 say, is undefined behaviour).
    const double d = v.get<double>();
    return std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0;
  }
  throw std::invalid_argument(fmt::format("schema: unknown type '{}'", type));
}

std::string TypeName(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

void Check(const json& schema, const json& v, const std::string& path, std::vector<std::string>* out) {
  static const std::set<std::string> kKnown = {"$schema", "$id", "title", "description", "type",
                                               "required", "properties", "additionalProperties",
                                               "items", "enum", "minimum", "maximum", "minItems", "minLength",
                                               "default"};
  if (schema.is_boolean()) {
    if (!schema.get<bool>()) out->push_back(fmt::format("{}: not allowed", path.empty() ? "/" : path));
    return;
  }
  for (const auto& [k, unused] : schema.items())
    if (!kKnown.count(k)) throw std::invalid_argument(fmt::format("schema: unsupported keyword '{}'", k));
  const std::string where = path.empty() ? "/" : path;
  if (schema.contains("type")) {
    const json& t = schema["type"];
    bool ok = false;
    std::vector<std::string> names;
    for (const auto& one : t.is_array() ? t : json::array({t})) {
      names.push_back(one.get<std::string>());
      ok |= HasType(v, one.get<std::string>());
    }
    if (!ok) {
      out->push_back(fmt::format("{}: expected {}, got {}", where, fmt::join(names, " or "), TypeName(v)));
      return;
    }
  }
  if (schema.contains("enum")) {
    bool ok = false;
    for (const auto& e : schema["enum"]) ok |= e == v;
    if (!ok) out->push_back(fmt::format("{}: {} is not one of {}", where, v.dump(), schema["enum"].dump()));
  }
  if (schema.contains("minimum") && v.is_number() && v.get<double>() < schema["minimum"].get<double>())
    out->push_back(fmt::format("{}: {} is below the minimum {}", where, v.dump(), schema["minimum"].dump()));
  if (schema.contains("maximum") && v.is_number() && v.get<double>() > schema["maximum"].get<double>())
    out->push_back(fmt::format("{}: {} is above the maximum {}", where, v.dump(), schema["maximum"].dump()));
  if (schema.contains("minItems") && v.is_array() && v.size() < schema["minItems"].get<size_t>())
    out->push_back(fmt::format("{}: {} items, fewer than the minimum {}", where, v.size(),
                               schema["minItems"].get<size_t>()));
  if (schema.contains("minLength") && v.is_string() &&
      v.get<std::string>().size() < schema["minLength"].get<size_t>())
    out->push_back(fmt::format("{}: shorter than {} characters", where, schema["minLength"].get<size_t>()));
  if (v.is_object()) {
    if (schema.contains("required"))
      for (const auto& r : schema["required"])
        if (!v.contains(r.get<std::string>()))
          out->push_back(fmt::format("{}: missing required property '{}'", where, r.get<std::string>()));
    const json props = schema.value("properties", json::object());
    for (const auto& [k, sub] : v.items()) {
      if (props.contains(k)) {
        Check(props[k], sub, path + "/" + Printable(k), out);
      } else if (schema.contains("additionalProperties")) {
        const json& ap = schema["additionalProperties"];
        if (ap.is_boolean() && !ap.get<bool>())
          out->push_back(fmt::format("{}: unexpected property '{}'", where, Printable(k)));
        else if (ap.is_object())
          Check(ap, sub, path + "/" + Printable(k), out);
      }
    }
  }
  if (v.is_array() && schema.contains("items"))
    for (size_t i = 0; i < v.size(); ++i) Check(schema["items"], v[i], fmt::format("{}/{}", path, i), out);
}

}  // namespace

std::vector<std::string> ValidateJson(const nlohmann::json& schema, const nlohmann::json& value) {
  std::vector<std::string> out;
  Check(schema, value, "", &out);
  return out;
}

}  // namespace layoutdb
