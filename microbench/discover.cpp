#include "layoutdb/microbench/unit.h"

#include <fmt/format.h>

#include <mutex>

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

RefuseCheck MakeReferenceCheck() {
  struct State {
    std::mutex mutex;
    std::unique_ptr<Unit> cpu;  // made on the first question (an engine, no OpenCL discovery)
  };
  auto state = std::make_shared<State>();
  return [state](const std::string& key, const std::string& unit, const std::string& layout,
                 const std::string& dtype) -> std::optional<std::string> {
    if (unit != "cpu") return std::nullopt;
    const Candidate c = Candidate::FromLayout(layout, dtype);
    std::optional<Implementation> impl;
    try {
      const Problem p = Problem::Parse(key);
      std::lock_guard<std::mutex> lock(state->mutex);
      if (!state->cpu) state->cpu = onednn::MakeCpuUnit();
      impl = state->cpu->Choose(p, c);
    } catch (const std::exception&) {  // a key oneDNN cannot express: nothing known against it
      return std::nullopt;
    }
    if (!impl || !impl->reference) return std::nullopt;
    return fmt::format("oneDNN would run its reference kernel {} here", impl->name);
  };
}

}  // namespace layoutdb::microbench
