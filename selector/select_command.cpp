#include "select_command.h"

#include <fmt/format.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "layoutdb/selector.h"

namespace layoutdb::selector {

std::pair<std::string, std::vector<int64_t>> ParseInputShape(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::runtime_error(fmt::format("--input '{}': expected NAME:D1,D2,... (e.g. x:1,3,224,224)", text));
  std::vector<int64_t> dims;
  std::stringstream ss(text.substr(colon + 1));
  for (std::string d; std::getline(ss, d, ',');) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(d, &used);
    } catch (const std::exception&) {
    }
    if (d.empty() || used != d.size() || v <= 0)
      throw std::runtime_error(fmt::format("--input '{}': '{}' is not a positive dimension", text, d));
    dims.push_back(v);
  }
  return {text.substr(0, colon), dims};
}

int RunSelect(const SelectCommandOptions& o) {
  SelectOptions so;
  for (const auto& spec : o.inputs) so.inputs.insert(ParseInputShape(spec));
  so.units = o.units;
  so.dtype = o.dtype;
  so.partition_path = o.partition;
  const Plan plan = Selector::Open(o.db).Select(o.model, so);
  if (o.json)
    fmt::print("{}\n", plan.ToJson());
  else
    fmt::print("{}", plan.ToTable());
  if (!o.out.empty()) {
    std::FILE* f = std::fopen(o.out.c_str(), "w");
    if (!f) throw std::runtime_error(fmt::format("--out {}: cannot write the file", o.out));
    const std::string text = plan.ToJson() + "\n";
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok) throw std::runtime_error(fmt::format("--out {}: write failed", o.out));
  }
  return 0;
}

}  // namespace layoutdb::selector
