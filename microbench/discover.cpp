#include "layoutdb/microbench/unit.h"

#include <fmt/format.h>

#include "onednn/cpu_unit.h"
#include "opencl/ocl_unit.h"

namespace layoutdb::microbench {

std::string Shape4::Key() const { return fmt::format("mb{}c{}h{}w{}", mb, c, h, w); }

std::vector<std::unique_ptr<Unit>> DiscoverUnits(std::vector<std::string>* warnings) {
  std::vector<std::unique_ptr<Unit>> units;
  units.push_back(onednn::MakeCpuUnit());
  for (auto& u : opencl::DiscoverOpenClUnits(warnings)) units.push_back(std::move(u));
  return units;
}

}  // namespace layoutdb::microbench
