// Decomposed operators recognised and written back as the one operator they compute, before import:
// exporters write LayerNorm (before opset 17), GELU (which ONNX had no operator for before opset 20)
// and hard-swish (paddle2onnx below opset 14) as chains of 5-9 element-wise and reduction nodes,
// which would run as as many passes over memory — GELU's Erf on the host — and be costed by roofline.
// Written as LayerNormalization, Gelu and HardSwish they run as one oneDNN / OpenCL kernel (fused as a
// post-op where the op table allows it) and are costed from the database, as ONNX Runtime's
// LayerNormFusion and GeluFusion do for its own execution.
//
// A chain is rewritten only when it computes exactly the operator: every constant checked (the
// exponent 2, sqrt(2), 1, 0.5, 3, 0, 6 within float rounding; epsilon and the affine parameters
// kept), every intermediate read by the chain alone and no graph output. Anything else is left as it
// is. The selector's import and the runtime apply the same rewrite to the same file, so a plan's node
// indices are those of the rewritten graph on both sides.
// Internal to selector/ and the runtime.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>

namespace layoutdb::selector {

// Rewrites `model`'s top-level graph in place. Returns a one-line note of what it rewrote ("3 nodes
// chains written as 2 LayerNormalization (9 nodes each), 1 Gelu (5 nodes)"), empty when nothing.
std::string RewriteDecomposedOps(onnx::ModelProto& model);

}  // namespace layoutdb::selector
