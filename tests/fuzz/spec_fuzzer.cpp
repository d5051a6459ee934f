// libFuzzer target: the sweep spec parser (profiler/spec.cpp: JSON, schema validation, grid
// expansion, problem keys, transition shapes).
#include "fuzz_util.h"
#include "layoutdb/profiler/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  layoutdb::fuzz::ExpectCleanRefusal([&] { layoutdb::profiler::ParseSpec(text, "fuzz.json"); });
  return 0;
}
