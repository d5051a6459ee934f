// The operator table (see op_table.h): one row per ONNX operator.
#include "op_table.h"

#include <unordered_map>

namespace layoutdb::selector {
namespace {

using F = Fusion;
using O = Order;
using W = Work;
using K = Kernel;

// Row helpers, so that each row reads as one line of the table.
OpRow Anchor(std::string_view onnx, std::string_view family, std::string_view alg, bool post_ops,
             K kernel, bool memory_bound) {
  return OpRow{onnx, family, alg, F::kAnchor, post_ops, {}, false, O::kComputes,
               family.empty() ? W::kElementwise : W::kProblem, kernel, memory_bound};
}
// A fusible activation; `family` set where the database measures it (eltwise:ALG), `post_op` where
// the post-op grammar names it.
OpRow Unary(std::string_view onnx, std::string_view family, std::string_view alg,
            std::string_view post_op, K kernel) {
  return OpRow{onnx, family, alg, F::kUnary, false, post_op, false, O::kAgnostic,
               family.empty() ? W::kElementwise : W::kProblem, kernel, true};
}
OpRow Binary(std::string_view onnx, std::string_view family, std::string_view alg,
             std::string_view post_op, bool tensor_operand) {
  return OpRow{onnx, family, alg, F::kBinary, false, post_op, tensor_operand, O::kAgnostic,
               family.empty() ? W::kElementwise : W::kProblem, K::kBinary, true};
}
OpRow Other(std::string_view onnx, std::string_view alg, O order, W work, K kernel) {
  return OpRow{onnx, {}, alg, F::kNone, false, {}, false, order, work, kernel, true};
}
// Glue with a database family (glue_problems.cpp derives its key from the node's shapes; a node whose
// shapes fit no key is costed by the elementwise rule, as WorkOf does for every row).
OpRow Glue(std::string_view onnx, std::string_view family, std::string_view alg, O order, K kernel) {
  return OpRow{onnx, family, alg, F::kNone, false, {}, false, order, W::kProblem, kernel, true};
}

const std::vector<OpRow>& Rows() {
  // Function-local: other translation units may read the table during their static initialisation.
  static const std::vector<OpRow> kRows = {
    // Anchors: start a sub-graph. The first row of a family and alg names it (OnnxOpOf).
    Anchor("Conv", "conv2d", "", true, K::kConv, false),
    // A transposed convolution's time follows the bytes it moves, not its FLOPs (memory_bound): oneDNN
    // 2.6 runs it as a convolution's backward-data pass, and what grows its time is the output it
    // writes (a 2-vCPU EPYC VM, 2x2 stride 2: 16 -> 64 channels on 160x160 pixels 3.9x the time of 16
    // -> 16, 4x the FLOPs; 64 -> 64 1.2x the time of 16 -> 64, 4x the FLOPs). Leave-one-out on that
    // machine's default sweep (bench_select, 198 points in 11 layouts and dtypes), within 10%: kNN
    // 38.4% -> 51.0%, the local fit 18.2% -> 55.6%, median error 17.2% -> 9.1%. kNN now scales it by
    // that output alone (ScaledWork in cost.cpp).
    Anchor("ConvTranspose", "deconv", "", true, K::kConvTranspose, true),
    Anchor("MatMul", "matmul", "", true, K::kMatMul, false),
    // Gemm with a constant B is an inner product (ip); with a computed B, a matmul (import decides).
    Anchor("Gemm", "ip", "", true, K::kGemm, false),
    Anchor("MaxPool", "pool", "max", false, K::kPool, true),
    Anchor("AveragePool", "pool", "avg", false, K::kPool, true),
    // Global pooling: a pool whose kernel is the whole input (no kernel_shape attribute).
    Anchor("GlobalMaxPool", "pool", "max", false, K::kPool, true),
    Anchor("GlobalAveragePool", "pool", "avg", false, K::kPool, true),
    Anchor("LpPool", "", "", false, K::kHost, true),
    Anchor("Softmax", "softmax", "", false, K::kSoftmax, true),
    Anchor("LogSoftmax", "", "log", false, K::kSoftmax, true),
    Anchor("LayerNormalization", "lnorm", "", false, K::kLnorm, true),
    Anchor("ConvInteger", "", "", false, K::kHost, false),
    Anchor("MatMulInteger", "", "", false, K::kHost, false),
    Anchor("QLinearConv", "", "", false, K::kHost, false),
    Anchor("QLinearMatMul", "", "", false, K::kHost, false),

    // Folds into the convolution's weights and bias; measured alone as bnorm.
    OpRow{"BatchNormalization", "bnorm", "", F::kFold, false, {}, false, O::kComputes, W::kProblem,
          K::kBnorm, true},

    // Fusible activations (eltwise post-ops). `alg` keys the runtime's eltwise algorithms.
    Unary("Relu", "eltwise", "relu", "relu", K::kEltwise),
    Unary("Clip", "eltwise", "clip", "clip", K::kEltwise),
    Unary("HardSwish", "eltwise", "hardswish", "hardswish", K::kEltwise),
    Unary("HardSigmoid", "eltwise", "hardsigmoid", "hardsigmoid", K::kEltwise),
    Unary("Sigmoid", "eltwise", "sigmoid", "sigmoid", K::kEltwise),
    Unary("Gelu", "eltwise", "gelu", "gelu", K::kEltwise),
    Unary("Tanh", "eltwise", "tanh", "tanh", K::kEltwise),
    Unary("LeakyRelu", "eltwise", "leakyrelu", "leakyrelu", K::kEltwise),
    Unary("Elu", "", "elu", "", K::kEltwise),
    Unary("Softplus", "", "softplus", "", K::kEltwise),
    Unary("Mish", "", "mish", "", K::kEltwise),
    // No oneDNN eltwise: the cpu runs them on the host; OpenCL has an Erf kernel.
    Unary("Erf", "", "erf", "", K::kEltwise),
    // Selu has no unit kernel: the host runs it in plain order, so a blocked input is reordered first.
    OpRow{"Selu", "", "selu", F::kUnary, false, {}, false, O::kPlain, W::kElementwise, K::kHost, true},
    // PRelu's slope is a constant operand; the cpu runs it as a oneDNN prelu.
    OpRow{"PRelu", "prelu", "", F::kUnary, false, {}, false, O::kAgnostic, W::kProblem, K::kPrelu, true},

    // Binary ops: a constant operand folds into a convolution (or is a per-channel post-op); a
    // full-size tensor operand fuses as `sum` (Add) or a binary post-op (Mul) once per sub-graph.
    Binary("Add", "binary", "add", "sum", true),
    Binary("Mul", "binary", "mul", "mul", true),
    Binary("Sub", "", "sub", "sub", false),
    Binary("Div", "", "div", "div", false),

    // Not fusible, but with a unit kernel.
    Other("Max", "max", O::kAgnostic, W::kElementwise, K::kBinary),
    Other("Min", "min", O::kAgnostic, W::kElementwise, K::kBinary),
    Other("Exp", "exp", O::kAgnostic, W::kElementwise, K::kEltwise),
    Other("Sqrt", "sqrt", O::kAgnostic, W::kElementwise, K::kEltwise),
    Other("Abs", "abs", O::kAgnostic, W::kElementwise, K::kEltwise),
    Other("Log", "log", O::kAgnostic, W::kElementwise, K::kEltwise),
    Other("Neg", "neg", O::kAgnostic, W::kElementwise, K::kEltwise),
    Other("Reciprocal", "reciprocal", O::kAgnostic, W::kElementwise, K::kEltwise),
    // x ^ a constant scalar: an eltwise pow on the cpu; otherwise the host.
    Other("Pow", "pow", O::kAgnostic, W::kElementwise, K::kEltwise),
    Glue("Concat", "concat", "", O::kAgnostic, K::kConcat),
    Glue("Resize", "resample", "", O::kComputes, K::kResize),
    Glue("Upsample", "resample", "", O::kComputes, K::kResize),
    Glue("ReduceMean", "reduce", "mean", O::kPlain, K::kReduce),
    Glue("ReduceSum", "reduce", "sum", O::kPlain, K::kReduce),
    Glue("ReduceMax", "reduce", "max", O::kPlain, K::kReduce),
    Other("ReduceMin", "min", O::kPlain, W::kElementwise, K::kReduce),
    Other("ReduceProd", "mul", O::kPlain, W::kElementwise, K::kReduce),
    Glue("Transpose", "transpose", "", O::kPlain, K::kTranspose),
    // Slice (steps of 1) and constant Pad: reorders of sub-memory views on the cpu, else the host.
    Glue("Slice", "slice", "", O::kPlain, K::kSlice),
    Glue("Pad", "pad", "", O::kPlain, K::kPad),

    // Free views of a plain tensor: the runtime aliases the input's buffer (after a reorder to nchw
    // when the input is blocked).
    Other("Reshape", "", O::kView, W::kFree, K::kView),
    Other("Flatten", "", O::kView, W::kFree, K::kView),
    Other("Squeeze", "", O::kView, W::kFree, K::kView),
    Other("Unsqueeze", "", O::kView, W::kFree, K::kView),
    Other("Identity", "", O::kView, W::kFree, K::kView),
    Other("Dropout", "", O::kView, W::kFree, K::kView),
  };
  return kRows;
}

const std::unordered_map<std::string_view, const OpRow*>& Index() {
  static const auto kIndex = [] {
    std::unordered_map<std::string_view, const OpRow*> m;
    for (const OpRow& r : Rows()) m.emplace(r.onnx, &r);
    return m;
  }();
  return kIndex;
}

}  // namespace

const std::vector<OpRow>& OpTable() { return Rows(); }

const OpRow* FindOp(std::string_view onnx_op, std::string_view domain) {
  if (!domain.empty() && domain != "ai.onnx") return nullptr;
  auto it = Index().find(onnx_op);
  return it == Index().end() ? nullptr : it->second;
}

std::string_view OnnxOpOf(std::string_view family, std::string_view alg) {
  for (const OpRow& r : Rows())
    if (r.family == family && r.alg == alg) return r.onnx;
  // A row whose node attributes choose the algorithm (Resize's mode, Transpose's perm) has none.
  for (const OpRow& r : Rows())
    if (r.family == family && r.alg.empty()) return r.onnx;
  return {};
}

bool IsMemoryBoundFamily(std::string_view family) {
  for (const OpRow& r : Rows())
    if (r.family == family) return r.memory_bound;
  return false;
}

void WorkOf(const OpRow* row, double in_elems, double out_elems, double* flops, double* bytes) {
  if (row && row->work == Work::kFree) {
    *flops = 0;
    *bytes = 0;
    return;
  }
  *flops = out_elems;
  *bytes = 4.0 * (in_elems + out_elems);
}

bool IsAnchorOp(const std::string& op_type) {
  const OpRow* r = FindOp(op_type);
  return r && r->fusion == Fusion::kAnchor;
}

bool IsViewOp(std::string_view op_type) {
  const OpRow* r = FindOp(op_type);
  return r && r->order == Order::kView;
}

bool TakesPostOps(std::string_view op_type) {
  const OpRow* r = FindOp(op_type);
  return r && r->fusion == Fusion::kAnchor && r->takes_post_ops;
}

Kernel KernelOf(std::string_view op_type) {
  const OpRow* r = FindOp(op_type);
  return r ? r->kernel : Kernel::kHost;
}

std::string_view AlgOf(std::string_view op_type) {
  const OpRow* r = FindOp(op_type);
  return r ? r->alg : std::string_view{};
}

const char* FusionName(Fusion f) {
  switch (f) {
    case Fusion::kNone: return "none";
    case Fusion::kAnchor: return "anchor";
    case Fusion::kUnary: return "unary";
    case Fusion::kFold: return "fold";
    case Fusion::kBinary: return "binary";
  }
  return "none";
}

const char* OrderName(Order o) {
  switch (o) {
    case Order::kComputes: return "computes";
    case Order::kAgnostic: return "agnostic";
    case Order::kView: return "view";
    case Order::kPlain: return "plain";
  }
  return "plain";
}

}  // namespace layoutdb::selector
