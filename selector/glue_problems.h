// The database problems of glue nodes: Concat, Resize/Upsample, Transpose, Slice, Pad,
// ReduceMean/Sum/Max, ConvTranspose, LeakyRelu, PRelu, and 1-D Conv (as conv2d with ih 1). One table
// (glue_problems.cpp, kGlue) from ONNX op to mapping, so that it folds into an operator table.
// Internal to selector/.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layoutdb/problem.h"
#include "onnx_fold.h"

namespace layoutdb::selector {

// The 4D view of an activation for the memory-bound problems: rank 4 as is (mb c h w); lower ranks
// padded with trailing 1s ([a,b] -> mb a, c b, h 1, w 1; a scalar -> 1,1,1,1); higher ranks fold the
// middle dims into h ([n,c,d,h,w] -> mb n, c c, h d*h, w w). Element count is kept, which is what
// these memory-bound problems are sensitive to.
std::vector<int64_t> View4(const std::vector<int64_t>& s);

struct GlueMapping {
  std::optional<Problem> problem;
  std::string note;  // why there is none, or how the node was approximated; empty when exact
};

// The mapping of node `n` (default domain) when its op is in the glue table, from the shapes and
// constant values in `vals`; std::nullopt when the op is not a glue op (the caller maps it). A shape
// that does not fit the op's family leaves the problem empty with a note saying why.
std::optional<GlueMapping> MapGlueNode(const onnx::NodeProto& n, int64_t opset, const fold::ValMap& vals);

// The ONNX ops of the table, sorted.
std::vector<std::string> GlueOps();

}  // namespace layoutdb::selector
