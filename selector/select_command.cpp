#include "select_command.h"

#include <fmt/format.h>

#include <cstdio>
#include <stdexcept>

#include "layoutdb/selector.h"

namespace layoutdb::selector {

int RunSelect(const SelectCommandOptions& o) {
  SelectOptions so;
  for (const auto& spec : o.inputs) so.inputs.insert(ParseInputShape(spec));
  so.units = o.units;
  so.dtype = o.dtype;
  so.partition_path = o.partition;
  const Plan plan = Selector::Open(o.db, o.refuse).Select(o.model, so);
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
  if (!o.report.empty()) {
    if (!o.write_report) throw std::runtime_error("--report: this program cannot draw plans");
    o.write_report(o.report, plan.ToJson());
    fmt::print(stderr, "layoutdb: drew the plan into {}/index.html\n", o.report);
  }
  return 0;
}

}  // namespace layoutdb::selector
