// libFuzzer target: the runtime's TensorProto reader of `--input-data NAME=FILE.pb`
// (runtime/tensor_io.cpp ReadTensorFile).
#include "fuzz_util.h"
#include "layoutdb/runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = layoutdb::fuzz::InputPath(".pb");
  layoutdb::fuzz::WriteFile(path, data, size);
  layoutdb::fuzz::ExpectCleanRefusal([&] { layoutdb::ReadTensorFile(path); });
  return 0;
}
