// The host's reference implementation of ONNX operators on plain (row-major) tensors. It evaluates
// constant sub-graphs at load time, runs the layout-insensitive glue of a model (Reshape, Transpose,
// Gather, Slice, ...) and anything a unit's backend cannot run. Single-threaded, straightforward,
// correct first: the conformance tests (ONNX's backend test data) hold it to the expected outputs.
// Internal to runtime/.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"

namespace layoutdb::runtime {

// True when RunHostOp implements `op_type` (default ONNX domain) in at least its common forms.
bool HostSupports(const std::string& op_type);

// Runs `node` (of a model with default-domain opset `opset`) on plain tensors. `inputs[k]` is nullptr
// for an omitted optional input (an empty name). `outputs` are allocated by the caller with their
// static shapes and dtypes already set (Tensor::Allocate); the op writes their data. Throws
// std::runtime_error with one line "<Op> '<name>': <what>" for an attribute value or dtype it does
// not handle.
void RunHostOp(const onnx::NodeProto& node, int64_t opset, const std::vector<const Tensor*>& inputs,
               const std::vector<Tensor*>& outputs);

}  // namespace layoutdb::runtime
