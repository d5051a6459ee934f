// Conversions between the runtime's Tensor and onnx.TensorProto. Internal to runtime/.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

#include "layoutdb/runtime.h"

namespace layoutdb::runtime {

// Throws std::runtime_error "<where>: ..." for element types the runtime does not hold, external data,
// or a value count that does not match the shape.
Tensor FromProto(const onnx::TensorProto& p, const std::string& where);
onnx::TensorProto ToProto(const Tensor& t);

}  // namespace layoutdb::runtime
