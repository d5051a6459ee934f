// The operator table: one row per ONNX operator (default domain) that the selector or the runtime
// knows by name. Import (node -> database problem), partition (anchors and their fusible followers),
// plan (layout sensitivity, FLOPs and bytes of problem-less nodes), cost (memory- or compute-bound
// families), the C API (family -> ONNX name) and the runtime (which kernel of a unit runs a node, its
// eltwise/binary algorithm, views, post-op anchors) all read this table; none keeps its own list of
// ONNX op names. Where a place needs its own mapping (the oneDNN algorithm of an eltwise, an OpenCL
// activation code), it keys it by the row's `alg`, not by ONNX names.
//
// Adding an operator is one row (op_table.cpp). op_table_test checks the table against the database's
// vocabulary (KnownOps, KnownAlgs, FusesPostOps, KnownPostOps) and against what the runtime executes.
// Internal to selector/ and the runtime (which depends on selector).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace layoutdb::selector {

// How a node takes part in a sub-graph.
enum class Fusion {
  kNone,    // not fusible: starts its own sub-graph (or joins a glue run)
  kAnchor,  // starts a sub-graph and takes fusible followers (Conv, MatMul, pooling, ...)
  kUnary,   // a fusible activation: an eltwise post-op of the anchor (extra operands constant)
  kFold,    // folds into the convolution's weights and bias (BatchNormalization): adds no post-op
  kBinary,  // Add/Sub/Mul/Div: a constant operand folds (or is a per-channel post-op), a same-shape
            // tensor operand is a binary post-op (`sum` for Add) where `tensor_operand` allows it
};

// What a node needs of the memory order of its input.
enum class Order {
  kComputes,  // computes in the sub-graph's layout (kernels per layout: conv, pool, bnorm, ...)
  kAgnostic,  // elementwise or layout-aware glue: runs in whatever layout its input has
  kView,      // a free view of a plain tensor (Reshape, Flatten, ...): in a blocked layout its input
              // is first reordered to nchw (as the runtime does), then it costs nothing
  kPlain,     // indexes elements in plain order (Transpose, Gather, Slice, ...): in a blocked layout
              // it pays a reorder of its input to nchw first
};

// FLOPs and bytes of one node.
enum class Work {
  kProblem,      // the database problem's Flops() and Bytes() (roofline of the same when unmeasured)
  kElementwise,  // no problem: one operation per output element, every input and output moved once
  kFree,         // a view: nothing computed, nothing moved
};

// The kernel kind a unit runs the node with (runtime/cpu_backend.cpp, ocl_backend.cpp dispatch on
// it); kHost: no unit kernel, the runtime's host reference only (or nothing).
enum class Kernel {
  kHost,
  kConv,
  kConvTranspose,
  kMatMul,
  kGemm,
  kPool,
  kBnorm,
  kLnorm,
  kSoftmax,
  kConcat,
  kResize,
  kReduce,
  kTranspose,
  kSlice,
  kPad,
  kPrelu,
  kBinary,
  kEltwise,
  kView,
};

struct OpRow {
  std::string_view onnx;    // ONNX op type
  std::string_view family;  // database problem op (conv2d, eltwise, ...); empty: none (roofline)
  std::string_view alg;     // algorithm: the problem's alg when `family` has algs; for eltwise and
                            // binary kernels the algorithm the runtime keys its own mapping by
                            // (relu, exp, neg, add, max, ...); for reductions the reduction;
                            // empty for a family with algorithms when the node's attributes choose
                            // it (Resize's mode -> resample:nearest|linear, Transpose's perm)
  Fusion fusion = Fusion::kNone;
  // kAnchor: whether fused followers run inside its kernel (oneDNN post-ops / OpenCL epilogues);
  // must agree with db's FusesPostOps(family) where the row has a family.
  bool takes_post_ops = false;
  // kUnary: the post-op name of the chain grammar (KnownPostOps), empty while the grammar has none.
  // kBinary: the post-op of a full-size tensor operand (sum for Add, mul for Mul).
  std::string_view post_op;
  // kBinary: a non-constant same-shape operand may fuse (the residual Add, a gating Mul).
  bool tensor_operand = false;
  Order order = Order::kComputes;
  Work work = Work::kElementwise;
  Kernel kernel = Kernel::kHost;
  // The family's time scales with bytes moved (eltwise, pooling, normalisations) rather than FLOPs.
  bool memory_bound = true;
};

// Every row, in table order (the first row of a family and alg names it: MatMul before Gemm).
const std::vector<OpRow>& OpTable();

// The row of an ONNX op type in the default domain (`domain` empty or ai.onnx); nullptr otherwise.
const OpRow* FindOp(std::string_view onnx_op, std::string_view domain = {});

// The ONNX op type of a database problem (C API, listings): the first row with that family and alg;
// empty when none.
std::string_view OnnxOpOf(std::string_view family, std::string_view alg);

// Whether a database family is memory bound (false for an unknown family).
bool IsMemoryBoundFamily(std::string_view family);

// FLOPs and bytes (f32) of a node without a database problem, by its row's Work rule (no row:
// elementwise): kFree is 0 and 0; kElementwise one operation per output element, bytes of every
// input and output once.
void WorkOf(const OpRow* row, double in_elems, double out_elems, double* flops, double* bytes);

// Convenience predicates on an op type (default domain).
bool IsAnchorOp(const std::string& op_type);
bool IsViewOp(std::string_view op_type);
bool TakesPostOps(std::string_view op_type);
Kernel KernelOf(std::string_view op_type);
// The row's alg for an op type, empty when none.
std::string_view AlgOf(std::string_view op_type);

const char* FusionName(Fusion f);
const char* OrderName(Order o);

}  // namespace layoutdb::selector
