// Reading an ONNX model file for execution. Internal to runtime/.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

namespace layoutdb::runtime {

// Parses the whole model (weights included) and rewrites its decomposed operators as the selector's
// import does (selector/onnx_patterns.h), so that a plan's node indices name the same nodes here.
// Throws naming the file: missing, not ONNX, truncated.
onnx::ModelProto ReadModelFile(const std::string& path);

}  // namespace layoutdb::runtime
