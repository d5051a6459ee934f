// Shape folding for the ONNX importer, in two parts:
//  - constant evaluation (onnx_fold_eval.cpp): values of small constant tensors and evaluation of the
//    shape sub-graphs exporters write (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ...);
//  - shape rules (onnx_fold_shape.cpp): our own output shapes for the ops ONNX 1.12's inference
//    leaves unknown (opset 18 forms, Gelu, failed inference).
// Internal to selector/.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace layoutdb::selector::fold {

// Tensors with more elements than this keep only their shape: folding is for shape arithmetic, not
// for weights.
constexpr int64_t kMaxFoldElems = 1 << 16;

// The default ONNX domain, as nodes and opset imports name it ("" or "ai.onnx").
inline bool IsDefaultDomain(const std::string& d) { return d.empty() || d == "ai.onnx"; }

// "a float value used as an integer is out of range: 9.97e+35".
std::string FloatOutOfRange(double x);

// What the importer knows about one value.
struct Val {
  bool shape_known = false;
  std::vector<int64_t> shape;
  int32_t elem_type = 0;     // onnx::TensorProto::DataType
  bool is_constant = false;  // initializer, Constant output or folded
  bool has_data = false;     // values below are valid (is_constant and small)
  bool is_float = false;     // data in f, else in i
  std::vector<int64_t> i;
  std::vector<double> f;
  int64_t Elems() const;
  double At(int64_t k) const { return is_float ? f[k] : static_cast<double>(i[k]); }
  // A float read as an integer (a shape given in floats) must fit int64: NaN or 1e36 throws.
  int64_t IntAt(int64_t k) const {
    if (!is_float) return i[k];
    if (!(f[k] > -9.2e18 && f[k] < 9.2e18))
      throw std::runtime_error(FloatOutOfRange(f[k]));
    return static_cast<int64_t>(f[k]);
  }
};

using ValMap = std::unordered_map<std::string, Val>;

bool IsFloatType(int32_t elem_type);
// Short dtype name: f32, f16, bf16, f64, i8, u8, i16, u16, i32, u32, i64, u64, bool, string, ...
std::string DtypeName(int32_t elem_type);

// Reads an initializer or a Constant's tensor: shape and element type always, values when small and
// numeric (external data keeps only the shape).
Val ReadTensor(const onnx::TensorProto& t);

// Attribute helpers.
const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name);
int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t def);
float AttrFloat(const onnx::NodeProto& n, const std::string& name, float def);
std::string AttrString(const onnx::NodeProto& n, const std::string& name, const std::string& def);
std::vector<int64_t> AttrInts(const onnx::NodeProto& n, const std::string& name);
bool HasAttr(const onnx::NodeProto& n, const std::string& name);

// Numpy broadcasting of two shapes; throws std::runtime_error when they do not broadcast.
std::vector<int64_t> Broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

// Helpers both parts use (onnx_fold_eval.cpp).
// Input k of `n` in `vals` (nullptr when absent or not named); whether its shape / values are known.
const Val* Get(const ValMap& vals, const onnx::NodeProto& n, int k);
bool ShapeOf(const ValMap& vals, const onnx::NodeProto& n, int k);
bool DataOf(const ValMap& vals, const onnx::NodeProto& n, int k);
// The values of an integer (or float) tensor as int64.
std::vector<int64_t> Ints(const Val& v);
// An axis in [-rank, rank) made non-negative; throws std::runtime_error out of range.
int64_t NormAxis(int64_t a, int64_t rank, const onnx::NodeProto& n);
// A value with a known shape and element type, no data.
Val ShapeVal(std::vector<int64_t> shape, int32_t elem_type);
// Slice parameters from attributes (opset < 10) or inputs; false if not constant.
bool SliceParams(const onnx::NodeProto& n, int64_t opset, const ValMap& vals,
                 std::vector<int64_t>& starts, std::vector<int64_t>& ends, std::vector<int64_t>& axes,
                 std::vector<int64_t>& steps);
// Per-axis (start, step, count) of a slice on `shape`.
struct AxisSlice {
  int64_t start = 0, step = 1, count = 0;
};
std::vector<AxisSlice> ComputeSlice(const std::vector<int64_t>& shape, const std::vector<int64_t>& starts,
                                    const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                    const std::vector<int64_t>& steps, const onnx::NodeProto& n);
// Elementwise binary ops with numpy broadcasting (Add, Equal, Where, ...).
bool IsBroadcastBinary(const std::string& op);
// Output element type of an op on inputs of type `t`.
int32_t ResultType(const onnx::NodeProto& n, int32_t t);

// Evaluates a node whose inputs are constant with known values (or, for Shape/Size, whose input
// shape is known), writing its outputs' shapes and values into `vals`. Returns false when the op is
// not one we fold or the values are too large; throws std::runtime_error on an impossible shape.
bool Evaluate(const onnx::NodeProto& n, int64_t opset, ValMap& vals);

// Our own output-shape rules for ops whose shapes ONNX inference did not give. Sets the shapes of the
// outputs it can; returns true if it set any. Throws std::runtime_error on an impossible shape.
bool InferShape(const onnx::NodeProto& n, int64_t opset, ValMap& vals);

}  // namespace layoutdb::selector::fold
