// Reading an ONNX model file for execution. Internal to runtime/.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

namespace layoutdb::runtime {

// Parses the whole model (weights included). Throws naming the file: missing, not ONNX, truncated.
onnx::ModelProto ReadModelFile(const std::string& path);

}  // namespace layoutdb::runtime
