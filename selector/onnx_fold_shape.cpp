// Shape rules: output shapes for the ops ONNX 1.12's inference leaves unknown (opset 18 forms, Gelu,
// failed inference). Constant evaluation of shape sub-graphs is in onnx_fold_eval.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include "onnx_fold.h"

namespace layoutdb::selector::fold {

using onnx::TensorProto;

namespace {

std::vector<int64_t> ReshapeTarget(const std::vector<int64_t>& in, std::vector<int64_t> target,
                                   bool allowzero) {
  int64_t known = 1, infer = -1, total = 1;
  for (int64_t d : in)
    if (__builtin_mul_overflow(total, d, &total)) throw std::runtime_error("Reshape input too large");
  for (size_t k = 0; k < target.size(); ++k) {
    if (target[k] == 0 && !allowzero) {
      if (k >= in.size()) throw std::runtime_error("Reshape copies a dimension the input lacks");
      target[k] = in[k];
    }
    if (target[k] == -1) {
      if (infer >= 0) throw std::runtime_error("Reshape target has two -1 dimensions");
      infer = static_cast<int64_t>(k);
    } else if (target[k] < 0) {
      throw std::runtime_error(fmt::format("Reshape target dimension {}", target[k]));
    } else if (__builtin_mul_overflow(known, target[k], &known)) {
      throw std::runtime_error(fmt::format("Reshape target [{}] is too large", fmt::join(target, ",")));
    }
  }
  if (infer >= 0) {
    if (known == 0 || total % known)
      throw std::runtime_error(fmt::format("cannot reshape [{}] to [{}]", fmt::join(in, ","),
                                           fmt::join(target, ",")));
    target[infer] = total / known;
  } else if (known != total) {
    throw std::runtime_error(fmt::format("cannot reshape [{}] ({} elements) to [{}]",
                                         fmt::join(in, ","), total, fmt::join(target, ",")));
  }
  return target;
}

// Axes of Squeeze/Unsqueeze/Reduce: attribute before `input_opset`, input from it on.
bool AxesOf(const onnx::NodeProto& n, int64_t opset, int64_t input_opset, int input_index,
            const ValMap& vals, std::vector<int64_t>& axes, bool& given) {
  given = false;
  if (opset < input_opset) {
    given = HasAttr(n, "axes");
    axes = AttrInts(n, "axes");
    return true;
  }
  if (n.input_size() > input_index && !n.input(input_index).empty()) {
    if (!DataOf(vals, n, input_index)) return false;
    axes = Ints(*Get(vals, n, input_index));
    given = true;
  }
  return true;
}

bool IsUnarySameShape(const std::string& op) {
  static const char* kOps[] = {
      "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Clip", "HardSwish",
      "HardSigmoid", "Gelu", "LeakyRelu", "Elu", "Selu", "Softmax", "LogSoftmax", "Identity",
      "Not", "Floor", "Ceil", "Round", "Reciprocal", "Softplus", "Softsign", "Mish", "Sign",
      "Sin", "Cos", "IsNaN", "IsInf", "LRN", "InstanceNormalization", "Hardmax", "Celu",
      "ThresholdedRelu", "Shrink", "BitwiseNot", "GroupNormalization", "CumSum",
      // PRelu's slope broadcasts to the input (per channel before opset 9), never the other way.
      "PRelu"};
  for (const char* o : kOps)
    if (op == o) return true;
  return false;
}

}  // namespace

bool InferShape(const onnx::NodeProto& n, int64_t opset, ValMap& vals) {
  if (n.output_size() == 0 || n.output(0).empty()) return false;
  const std::string& op = n.op_type();
  auto in = [&](int k) { return Get(vals, n, k); };
  auto set = [&](int k, std::vector<int64_t> shape, int32_t t) {
    if (k >= n.output_size() || n.output(k).empty()) return;
    for (int64_t d : shape)
      if (d < 0) throw std::runtime_error(fmt::format("negative output dimension in [{}]", fmt::join(shape, ",")));
    Val& v = vals[n.output(k)];
    const bool c = v.is_constant;
    v = ShapeVal(std::move(shape), t);
    v.is_constant = c;
  };
  if (n.input_size() == 0 || !ShapeOf(vals, n, 0)) {
    if (op == "ConstantOfShape" || op == "Constant" || op == "Range") return Evaluate(n, opset, vals);
    return false;
  }
  const Val& x = *in(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (IsUnarySameShape(op) || op == "Dropout" || op == "BatchNormalization" ||
      op == "LayerNormalization" || op == "Cast" || op == "QuantizeLinear" ||
      op == "DequantizeLinear") {
    int32_t t = ResultType(n, x.elem_type);
    if (op == "QuantizeLinear") t = ShapeOf(vals, n, 2) ? in(2)->elem_type : TensorProto::UINT8;
    if (op == "DequantizeLinear") t = TensorProto::FLOAT;
    set(0, x.shape, t);
    if (op == "Dropout") set(1, x.shape, TensorProto::BOOL);
    return true;
  }
  if (IsBroadcastBinary(op)) {
    std::vector<int64_t> s = x.shape;
    int32_t t = x.elem_type;
    for (int k = 1; k < n.input_size(); ++k) {
      if (n.input(k).empty()) continue;
      if (!ShapeOf(vals, n, k)) return false;
      s = Broadcast(s, in(k)->shape);
      if (op == "Where" && k == 1) t = in(k)->elem_type;
    }
    set(0, s, ResultType(n, t));
    return true;
  }
  if (op == "Reshape") {
    std::vector<int64_t> target;
    if (opset < 5) target = AttrInts(n, "shape");
    else if (DataOf(vals, n, 1)) target = Ints(*in(1));
    else return false;
    set(0, ReshapeTarget(x.shape, target, AttrInt(n, "allowzero", 0) != 0), x.elem_type);
    return true;
  }
  if (op == "Flatten") {
    int64_t axis = AttrInt(n, "axis", 1);
    if (axis < 0) axis += r;
    int64_t a = 1, b = 1;
    for (int64_t k = 0; k < r; ++k) (k < axis ? a : b) *= x.shape[k];
    set(0, {a, b}, x.elem_type);
    return true;
  }
  if (op == "Expand") {
    if (!DataOf(vals, n, 1)) return false;
    set(0, Broadcast(x.shape, Ints(*in(1))), x.elem_type);
    return true;
  }
  if (op == "Tile") {
    if (!DataOf(vals, n, 1)) return false;
    const auto rep = Ints(*in(1));
    if (static_cast<int64_t>(rep.size()) != r) throw std::runtime_error("Tile repeats of wrong length");
    std::vector<int64_t> s = x.shape;
    for (int64_t k = 0; k < r; ++k) s[k] *= rep[k];
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Shape" || op == "Size") return Evaluate(n, opset, vals);
  if (op == "ConstantOfShape") return Evaluate(n, opset, vals);
  if (op == "Transpose") {
    std::vector<int64_t> perm = AttrInts(n, "perm");
    if (perm.empty())
      for (int64_t k = r - 1; k >= 0; --k) perm.push_back(k);
    if (static_cast<int64_t>(perm.size()) != r) throw std::runtime_error("Transpose perm of wrong length");
    std::vector<int64_t> s(r);
    for (int64_t k = 0; k < r; ++k) s[k] = x.shape[NormAxis(perm[k], r, n)];
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Unsqueeze") {
    std::vector<int64_t> axes;
    bool given;
    if (!AxesOf(n, opset, 13, 1, vals, axes, given)) return false;
    const int64_t out_r = r + static_cast<int64_t>(axes.size());
    std::vector<int64_t> s(out_r, -1);
    for (int64_t a : axes) s[NormAxis(a, out_r, n)] = 1;
    size_t j = 0;
    for (auto& d : s)
      if (d == -1) d = j < x.shape.size() ? x.shape[j++] : 1;
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Squeeze") {
    std::vector<int64_t> axes;
    bool given;
    if (!AxesOf(n, opset, 13, 1, vals, axes, given)) return false;
    std::vector<bool> drop(r, false);
    if (!given) {
      for (int64_t k = 0; k < r; ++k) drop[k] = x.shape[k] == 1;
    } else {
      for (int64_t a : axes) drop[NormAxis(a, r, n)] = true;
    }
    std::vector<int64_t> s;
    for (int64_t k = 0; k < r; ++k)
      if (!drop[k]) s.push_back(x.shape[k]);
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Concat") {
    int64_t axis = NormAxis(AttrInt(n, "axis", 0), r, n);
    std::vector<int64_t> s = x.shape;
    for (int k = 1; k < n.input_size(); ++k) {
      if (n.input(k).empty()) continue;
      if (!ShapeOf(vals, n, k)) return false;
      if (static_cast<int64_t>(in(k)->shape.size()) != r)
        throw std::runtime_error("Concat inputs of different ranks");
      s[axis] += in(k)->shape[axis];
    }
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (!SliceParams(n, opset, vals, starts, ends, axes, steps)) return false;
    std::vector<int64_t> s;
    for (const auto& a : ComputeSlice(x.shape, starts, ends, axes, steps, n)) s.push_back(a.count);
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Gather") {
    if (!ShapeOf(vals, n, 1) || r == 0) return false;
    const int64_t axis = NormAxis(AttrInt(n, "axis", 0), r, n);
    std::vector<int64_t> s(x.shape.begin(), x.shape.begin() + axis);
    s.insert(s.end(), in(1)->shape.begin(), in(1)->shape.end());
    s.insert(s.end(), x.shape.begin() + axis + 1, x.shape.end());
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "MatMul") {
    if (!ShapeOf(vals, n, 1)) return false;
    std::vector<int64_t> a = x.shape, b = in(1)->shape;
    if (a.empty() || b.empty()) throw std::runtime_error("MatMul of a scalar");
    const bool a1 = a.size() == 1, b1 = b.size() == 1;
    if (a1) a.insert(a.begin(), 1);
    if (b1) b.push_back(1);
    if (a.back() != b[b.size() - 2])
      throw std::runtime_error(fmt::format("MatMul inner dimensions {} and {} differ", a.back(),
                                           b[b.size() - 2]));
    std::vector<int64_t> s = Broadcast(std::vector<int64_t>(a.begin(), a.end() - 2),
                                       std::vector<int64_t>(b.begin(), b.end() - 2));
    if (!a1) s.push_back(a[a.size() - 2]);
    if (!b1) s.push_back(b.back());
    set(0, s, x.elem_type);
    return true;
  }
  if (op.rfind("Reduce", 0) == 0 || op == "ArgMax" || op == "ArgMin") {
    std::vector<int64_t> axes;
    bool given = false;
    if (op == "ArgMax" || op == "ArgMin") {
      axes = {AttrInt(n, "axis", 0)};
      given = true;
    } else {
      const int64_t input_opset = op == "ReduceSum" ? 13 : 18;
      if (!AxesOf(n, opset, input_opset, 1, vals, axes, given)) return false;
    }
    const bool keep = AttrInt(n, "keepdims", 1) != 0;
    std::vector<bool> red(r, false);
    if (!given || axes.empty()) {
      if (AttrInt(n, "noop_with_empty_axes", 0)) {
        set(0, x.shape, x.elem_type);
        return true;
      }
      red.assign(r, true);
    } else {
      for (int64_t a : axes) red[NormAxis(a, r, n)] = true;
    }
    std::vector<int64_t> s;
    for (int64_t k = 0; k < r; ++k) {
      if (!red[k]) s.push_back(x.shape[k]);
      else if (keep) s.push_back(1);
    }
    set(0, s, op[0] == 'A' ? TensorProto::INT64 : x.elem_type);
    return true;
  }
  if (op == "Split") {
    const int64_t axis = NormAxis(AttrInt(n, "axis", 0), r, n);
    std::vector<int64_t> split;
    if (opset < 13) split = AttrInts(n, "split");
    else if (n.input_size() > 1 && !n.input(1).empty()) {
      if (!DataOf(vals, n, 1)) return false;
      split = Ints(*in(1));
    }
    const int64_t dim = x.shape[axis];
    if (split.empty()) {
      const int64_t parts = HasAttr(n, "num_outputs") ? AttrInt(n, "num_outputs", 1) : n.output_size();
      if (parts <= 0) return false;
      const int64_t chunk = (dim + parts - 1) / parts;  // opset 18: the last chunk may be smaller
      for (int64_t k = 0; k < parts; ++k)
        split.push_back(std::max<int64_t>(0, std::min(chunk, dim - k * chunk)));
    }
    for (int k = 0; k < n.output_size() && k < static_cast<int>(split.size()); ++k) {
      std::vector<int64_t> s = x.shape;
      s[axis] = split[k];
      set(k, s, x.elem_type);
    }
    return true;
  }
  if (op == "Resize" || op == "Upsample") {
    // Output sizes from `sizes`, else floor(input * scales); opset 18's `axes` names the axes they
    // cover (the others keep their size).
    std::vector<int64_t> axes = AttrInts(n, "axes");
    if (axes.empty())
      for (int64_t k = 0; k < r; ++k) axes.push_back(k);
    std::vector<int64_t> s = x.shape;
    const int sizes_at = op == "Resize" ? 3 : -1;
    const int scales_at = op == "Upsample" ? 1 : (opset >= 11 ? 2 : 1);
    if (sizes_at > 0 && DataOf(vals, n, sizes_at) && in(sizes_at)->Elems() > 0) {
      const auto sizes = Ints(*in(sizes_at));
      if (sizes.size() != axes.size()) throw std::runtime_error("Resize sizes of wrong length");
      for (size_t j = 0; j < axes.size(); ++j) s[NormAxis(axes[j], r, n)] = sizes[j];
    } else if (op == "Upsample" && opset < 9 && HasAttr(n, "scales")) {
      const auto* a = FindAttr(n, "scales");
      if (a->floats_size() != r) throw std::runtime_error("Upsample scales of wrong length");
      for (int64_t k = 0; k < r; ++k)
        s[k] = static_cast<int64_t>(std::floor(static_cast<double>(x.shape[k]) * a->floats(k)));
    } else if (DataOf(vals, n, scales_at) && in(scales_at)->Elems() > 0) {
      const Val& sc = *in(scales_at);
      if (static_cast<size_t>(sc.Elems()) != axes.size())
        throw std::runtime_error("Resize scales of wrong length");
      for (size_t j = 0; j < axes.size(); ++j) {
        const int64_t a = NormAxis(axes[j], r, n);
        s[a] = static_cast<int64_t>(std::floor(static_cast<double>(x.shape[a]) * sc.At(j)));
      }
    } else {
      return false;
    }
    set(0, s, x.elem_type);
    return true;
  }
  if (op == "Pad") {
    std::vector<int64_t> pads;
    if (opset < 11) pads = AttrInts(n, "pads");
    else if (DataOf(vals, n, 1)) pads = Ints(*in(1));
    else return false;
    std::vector<int64_t> axes;
    if (n.input_size() > 3 && !n.input(3).empty()) {
      if (!DataOf(vals, n, 3)) return false;
      axes = Ints(*in(3));
    } else {
      for (int64_t k = 0; k < r; ++k) axes.push_back(k);
    }
    if (pads.size() != 2 * axes.size()) throw std::runtime_error("Pad pads of wrong length");
    std::vector<int64_t> s = x.shape;
    const size_t na = axes.size();
    for (size_t j = 0; j < na; ++j) s[NormAxis(axes[j], r, n)] += pads[j] + pads[j + na];
    set(0, s, x.elem_type);
    return true;
  }
  return false;
}

}  // namespace layoutdb::selector::fold
