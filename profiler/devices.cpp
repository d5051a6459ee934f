// `layoutdb devices [--json]`: every computing unit of this machine and its properties.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "layoutdb/human.h"
#include "layoutdb/profiler/sweep.h"

namespace layoutdb::profiler {
int RunDevices(const DevicesOptions& o) {
  std::vector<std::string> warnings;
  const auto units = microbench::DiscoverUnits(&warnings);
  const db::TargetRow target = MakeTarget(units);
  if (o.json) {
    nlohmann::json j;
    j["target"] = {{"fingerprint", target.fingerprint}, {"cpu_model", target.cpu_model},
                   {"isa", target.isa}, {"cores", target.cores}, {"threads", target.threads},
                   {"os", target.os}};
    j["units"] = nlohmann::json::array();
    for (const auto& u : units) {
      const auto& i = u->Info();
      j["units"].push_back({{"name", i.name}, {"kind", i.kind}, {"vendor", i.vendor},
                            {"device_name", i.device_name}, {"driver", i.driver},
                            {"compute_units", i.compute_units}, {"clock_mhz", i.clock_mhz},
                            {"global_mem", i.global_mem}, {"local_mem", i.local_mem},
                            {"layouts", u->Layouts()}, {"properties", i.properties}});
    }
    j["warnings"] = warnings;
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("target {}  ({}, {}, {} cores / {} threads, {})\n\n", target.fingerprint, target.cpu_model,
             target.isa, target.cores, target.threads, target.os);
  for (const auto& u : units) {
    const auto& i = u->Info();
    fmt::print("{:<10} {} — {}\n", i.name, i.kind, i.device_name);
    fmt::print("  vendor        {}\n", i.vendor);
    fmt::print("  driver        {}\n", i.driver);
    fmt::print("  compute units {}{}\n", i.compute_units,
               i.clock_mhz ? fmt::format(" @ {} MHz", i.clock_mhz) : "");
    if (i.global_mem) fmt::print("  memory        {} global{}\n", HumanBytes(static_cast<double>(i.global_mem)),
                                 i.local_mem ? fmt::format(", {} local", HumanBytes(static_cast<double>(i.local_mem))) : "");
    fmt::print("  layouts       {}\n", fmt::join(u->Layouts(), ", "));
    for (auto it = i.properties.begin(); it != i.properties.end(); ++it) {
      const std::string v = it.value().is_string() ? it.value().get<std::string>() : it.value().dump();
      fmt::print("  {:<13} {}\n", it.key(), v);
    }
    fmt::print("\n");
  }
  if (units.size() == 1) fmt::print("no OpenCL device found\n");
  for (const auto& w : warnings) fmt::print(stderr, "layoutdb: warning: {}\n", w);
  return 0;
}

}  // namespace layoutdb::profiler
