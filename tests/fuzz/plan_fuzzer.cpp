// libFuzzer target: the plan JSON reader of `layoutdb run --plan` (runtime/plan_io.cpp LoadPlan), and
// the plan it read written back as JSON.
#include "fuzz_util.h"
#include "layoutdb/runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = layoutdb::fuzz::InputPath(".plan.json");
  layoutdb::fuzz::WriteFile(path, data, size);
  layoutdb::fuzz::ExpectCleanRefusal([&] { layoutdb::LoadPlan(path).ToJson(); });
  return 0;
}
