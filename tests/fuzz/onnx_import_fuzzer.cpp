// libFuzzer target: the ONNX importer (selector/onnx_import.cpp: protobuf parse, ONNX's checker and
// shape inference, our folding), then the default partition of what it imported.
#include <onnx/onnx_pb.h>

#include <set>

#include "fuzz_util.h"
#include "selector/graph.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = layoutdb::fuzz::InputPath(".onnx");
  layoutdb::fuzz::WriteFile(path, data, size);
  // Fix dynamic input dimensions as a user would with --input, so that inputs get past that refusal.
  layoutdb::selector::InputShapes inputs;
  onnx::ModelProto m;
  if (size < (1 << 20) && m.ParseFromArray(data, static_cast<int>(size)) && m.has_graph()) {
    std::set<std::string> initializers;
    for (const auto& t : m.graph().initializer()) initializers.insert(t.name());
    for (const auto& vi : m.graph().input()) {
      if (initializers.count(vi.name()) || !vi.type().has_tensor_type() ||
          !vi.type().tensor_type().has_shape())
        continue;
      std::vector<int64_t> dims;
      bool dynamic = false;
      for (const auto& d : vi.type().tensor_type().shape().dim()) {
        const bool fixed = d.has_dim_value() && d.dim_value() >= 0;
        dynamic |= !fixed;
        dims.push_back(fixed ? d.dim_value() : 2);
      }
      if (dynamic) inputs[vi.name()] = dims;
    }
  }
  layoutdb::fuzz::ExpectCleanRefusal([&] {
    const layoutdb::selector::Graph g = layoutdb::selector::ImportOnnx(path, inputs);
    layoutdb::selector::DefaultPartition(g);
  });
  return 0;
}
