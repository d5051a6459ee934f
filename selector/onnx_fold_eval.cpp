// Constant evaluation (see onnx_fold.h): reading small constant tensors, attributes, and evaluating
// the shape sub-graphs exporters write. The shape rules are in onnx_fold_shape.cpp.
#include "onnx_fold.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <stdexcept>

namespace layoutdb::selector::fold {

std::string FloatOutOfRange(double x) {
  return fmt::format("a float value used as an integer is out of range: {:g}", x);
}

using onnx::TensorProto;

int64_t Val::Elems() const {
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return INT64_MAX;  // absurd shapes saturate
  return n;
}

bool IsFloatType(int32_t t) {
  return t == TensorProto::FLOAT || t == TensorProto::FLOAT16 || t == TensorProto::DOUBLE ||
         t == TensorProto::BFLOAT16;
}

std::string DtypeName(int32_t t) {
  switch (t) {
    case TensorProto::FLOAT: return "f32";
    case TensorProto::FLOAT16: return "f16";
    case TensorProto::BFLOAT16: return "bf16";
    case TensorProto::DOUBLE: return "f64";
    case TensorProto::INT8: return "i8";
    case TensorProto::UINT8: return "u8";
    case TensorProto::INT16: return "i16";
    case TensorProto::UINT16: return "u16";
    case TensorProto::INT32: return "i32";
    case TensorProto::UINT32: return "u32";
    case TensorProto::INT64: return "i64";
    case TensorProto::UINT64: return "u64";
    case TensorProto::BOOL: return "bool";
    case TensorProto::STRING: return "string";
    case TensorProto::COMPLEX64: return "c64";
    case TensorProto::COMPLEX128: return "c128";
    default: return "f32";
  }
}

namespace {

double HalfToDouble(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0) v = std::ldexp(mant, -24);
  else if (exp == 31) v = mant ? NAN : INFINITY;
  else v = std::ldexp(mant + 1024, exp - 25);
  return sign ? -v : v;
}

double Bf16ToDouble(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

template <typename T>
T LoadRaw(const std::string& raw, size_t k) {
  T v;
  std::memcpy(&v, raw.data() + k * sizeof(T), sizeof(T));
  return v;
}

}  // namespace

Val ReadTensor(const TensorProto& t) {
  Val v;
  v.shape_known = true;
  v.is_constant = true;
  v.elem_type = t.data_type();
  v.shape.assign(t.dims().begin(), t.dims().end());
  v.is_float = IsFloatType(v.elem_type);
  const int64_t n = v.Elems();
  if (n > kMaxFoldElems || n < 0) return v;
  if (t.data_location() == TensorProto::EXTERNAL) return v;
  const int32_t dt = v.elem_type;
  if (dt == TensorProto::STRING || dt == TensorProto::COMPLEX64 || dt == TensorProto::COMPLEX128 ||
      dt == TensorProto::UNDEFINED)
    return v;
  std::vector<double> f;
  std::vector<int64_t> i;
  auto put = [&](double x) { v.is_float ? f.push_back(x) : i.push_back(static_cast<int64_t>(x)); };
  if (t.has_raw_data()) {
    const std::string& raw = t.raw_data();
    size_t es = 0;
    switch (dt) {
      case TensorProto::FLOAT: case TensorProto::INT32: case TensorProto::UINT32: es = 4; break;
      case TensorProto::DOUBLE: case TensorProto::INT64: case TensorProto::UINT64: es = 8; break;
      case TensorProto::FLOAT16: case TensorProto::BFLOAT16: case TensorProto::INT16:
      case TensorProto::UINT16: es = 2; break;
      default: es = 1;
    }
    if (raw.size() < es * static_cast<size_t>(n)) return v;  // truncated: keep the shape only
    for (int64_t k = 0; k < n; ++k) {
      switch (dt) {
        case TensorProto::FLOAT: f.push_back(LoadRaw<float>(raw, k)); break;
        case TensorProto::DOUBLE: f.push_back(LoadRaw<double>(raw, k)); break;
        case TensorProto::FLOAT16: f.push_back(HalfToDouble(LoadRaw<uint16_t>(raw, k))); break;
        case TensorProto::BFLOAT16: f.push_back(Bf16ToDouble(LoadRaw<uint16_t>(raw, k))); break;
        case TensorProto::INT64: i.push_back(LoadRaw<int64_t>(raw, k)); break;
        case TensorProto::UINT64: i.push_back(static_cast<int64_t>(LoadRaw<uint64_t>(raw, k))); break;
        case TensorProto::INT32: i.push_back(LoadRaw<int32_t>(raw, k)); break;
        case TensorProto::UINT32: i.push_back(LoadRaw<uint32_t>(raw, k)); break;
        case TensorProto::INT16: i.push_back(LoadRaw<int16_t>(raw, k)); break;
        case TensorProto::UINT16: i.push_back(LoadRaw<uint16_t>(raw, k)); break;
        case TensorProto::INT8: i.push_back(LoadRaw<int8_t>(raw, k)); break;
        default: i.push_back(LoadRaw<uint8_t>(raw, k)); break;  // UINT8, BOOL
      }
    }
  } else {
    switch (dt) {
      case TensorProto::FLOAT:
        for (float x : t.float_data()) f.push_back(x);
        break;
      case TensorProto::DOUBLE:
        for (double x : t.double_data()) f.push_back(x);
        break;
      case TensorProto::INT64:
        for (int64_t x : t.int64_data()) i.push_back(x);
        break;
      case TensorProto::UINT64: case TensorProto::UINT32:
        for (uint64_t x : t.uint64_data()) i.push_back(static_cast<int64_t>(x));
        break;
      case TensorProto::FLOAT16:
        for (int32_t x : t.int32_data()) f.push_back(HalfToDouble(static_cast<uint16_t>(x)));
        break;
      case TensorProto::BFLOAT16:
        for (int32_t x : t.int32_data()) f.push_back(Bf16ToDouble(static_cast<uint16_t>(x)));
        break;
      default:
        for (int32_t x : t.int32_data()) put(x);
    }
  }
  if (static_cast<int64_t>(v.is_float ? f.size() : i.size()) != n) return v;
  v.f = std::move(f);
  v.i = std::move(i);
  v.has_data = true;
  return v;
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
bool HasAttr(const onnx::NodeProto& n, const std::string& name) { return FindAttr(n, name); }
int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  const auto* a = FindAttr(n, name);
  return a ? a->i() : def;
}
float AttrFloat(const onnx::NodeProto& n, const std::string& name, float def) {
  const auto* a = FindAttr(n, name);
  return a ? a->f() : def;
}
std::string AttrString(const onnx::NodeProto& n, const std::string& name, const std::string& def) {
  const auto* a = FindAttr(n, name);
  return a ? a->s() : def;
}
std::vector<int64_t> AttrInts(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = FindAttr(n, name);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}

std::vector<int64_t> Broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t k = 0; k < r; ++k) {
    const int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    const int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da == db || db == 1) out[k] = da;
    else if (da == 1) out[k] = db;
    else
      throw std::runtime_error(fmt::format("shapes [{}] and [{}] do not broadcast",
                                           fmt::join(a, ","), fmt::join(b, ",")));
  }
  return out;
}

namespace {

// Index of output element `o` (of `out` shape) in an input of shape `in` broadcast to it.
int64_t BroadcastIndex(int64_t o, const std::vector<int64_t>& out, const std::vector<int64_t>& in) {
  int64_t idx = 0, stride = 1;
  for (int k = static_cast<int>(out.size()) - 1; k >= 0; --k) {
    const int64_t coord = o % out[k];
    o /= out[k];
    const int ki = k - static_cast<int>(out.size() - in.size());
    if (ki >= 0) {
      if (in[ki] != 1) idx += coord * stride;
      stride *= in[ki];
    }
  }
  return idx;
}

Val IntData(std::vector<int64_t> shape, std::vector<int64_t> data) {
  Val v = ShapeVal(std::move(shape), TensorProto::INT64);
  v.is_constant = v.has_data = true;
  v.i = std::move(data);
  return v;
}

// Sets output k to `v` (only if the node has that output).
void SetOut(const onnx::NodeProto& n, int k, Val v, ValMap& vals) {
  if (k < n.output_size() && !n.output(k).empty()) vals[n.output(k)] = std::move(v);
}

bool IsCompare(const std::string& op) {
  return op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
         op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor" || op == "Not";
}

double ApplyBinary(const std::string& op, double a, double b, bool is_float) {
  if (op == "Add" || op == "Sum") return a + b;
  if (op == "Sub") return a - b;
  if (op == "Mul") return a * b;
  if (op == "Div") {
    if (b == 0) return is_float ? a / b : 0;
    return is_float ? a / b : std::trunc(a / b);
  }
  if (op == "Pow") return std::pow(a, b);
  if (op == "Max") return std::max(a, b);
  if (op == "Min") return std::min(a, b);
  if (op == "Mean") return (a + b) / 2;
  if (op == "Mod") return b == 0 ? 0 : std::fmod(a, b);
  if (op == "Equal") return a == b;
  if (op == "Less") return a < b;
  if (op == "Greater") return a > b;
  if (op == "LessOrEqual") return a <= b;
  if (op == "GreaterOrEqual") return a >= b;
  if (op == "And") return (a != 0) && (b != 0);
  if (op == "Or") return (a != 0) || (b != 0);
  if (op == "Xor") return (a != 0) != (b != 0);
  throw std::logic_error(op);
}

}  // namespace

// ---- helpers shared with the shape rules (onnx_fold_shape.cpp; declared in onnx_fold.h) ----
const Val* Get(const ValMap& vals, const onnx::NodeProto& n, int k) {
  if (k >= n.input_size() || n.input(k).empty()) return nullptr;
  auto it = vals.find(n.input(k));
  return it == vals.end() ? nullptr : &it->second;
}
bool ShapeOf(const ValMap& vals, const onnx::NodeProto& n, int k) {
  const Val* v = Get(vals, n, k);
  return v && v->shape_known;
}
bool DataOf(const ValMap& vals, const onnx::NodeProto& n, int k) {
  const Val* v = Get(vals, n, k);
  return v && v->has_data;
}
std::vector<int64_t> Ints(const Val& v) {
  std::vector<int64_t> r(v.Elems());
  for (int64_t k = 0; k < v.Elems(); ++k) r[k] = v.IntAt(k);
  return r;
}

int64_t NormAxis(int64_t a, int64_t rank, const onnx::NodeProto& n) {
  // Callers index the shape with it: a scalar has no axis at all.
  if (a < -rank || a >= rank)
    throw std::runtime_error(fmt::format("axis {} out of range for rank {}", a, rank));
  return a < 0 ? a + rank : a;
}

Val ShapeVal(std::vector<int64_t> shape, int32_t elem_type) {
  Val v;
  v.shape_known = true;
  v.shape = std::move(shape);
  v.elem_type = elem_type;
  v.is_float = IsFloatType(elem_type);
  return v;
}

// Slice parameters from attributes (opset < 10) or inputs; false if not constant.
bool SliceParams(const onnx::NodeProto& n, int64_t opset, const ValMap& vals,
                 std::vector<int64_t>& starts, std::vector<int64_t>& ends, std::vector<int64_t>& axes,
                 std::vector<int64_t>& steps) {
  if (opset < 10) {
    starts = AttrInts(n, "starts");
    ends = AttrInts(n, "ends");
    axes = AttrInts(n, "axes");
  } else {
    if (!DataOf(vals, n, 1) || !DataOf(vals, n, 2)) return false;
    starts = Ints(*Get(vals, n, 1));
    ends = Ints(*Get(vals, n, 2));
    if (n.input_size() > 3 && !n.input(3).empty()) {
      if (!DataOf(vals, n, 3)) return false;
      axes = Ints(*Get(vals, n, 3));
    }
    if (n.input_size() > 4 && !n.input(4).empty()) {
      if (!DataOf(vals, n, 4)) return false;
      steps = Ints(*Get(vals, n, 4));
    }
  }
  if (axes.empty())
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  return starts.size() == ends.size() && axes.size() == starts.size() && steps.size() == starts.size();
}

std::vector<AxisSlice> ComputeSlice(const std::vector<int64_t>& shape, const std::vector<int64_t>& starts,
                                    const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                    const std::vector<int64_t>& steps, const onnx::NodeProto& n) {
  const int64_t r = static_cast<int64_t>(shape.size());
  std::vector<AxisSlice> s(r);
  for (int64_t k = 0; k < r; ++k) s[k] = {0, 1, shape[k]};
  for (size_t j = 0; j < axes.size(); ++j) {
    const int64_t a = NormAxis(axes[j], r, n);
    const int64_t dim = shape[a], step = steps[j];
    if (step == 0) throw std::runtime_error("Slice step is 0");
    int64_t st = starts[j], en = ends[j];
    if (st < 0) st += dim;
    if (en < 0) en += dim;
    int64_t count;
    if (step > 0) {
      st = std::clamp<int64_t>(st, 0, dim);
      en = std::clamp<int64_t>(en, 0, dim);
      count = en > st ? (en - st + step - 1) / step : 0;
    } else {
      st = std::clamp<int64_t>(st, 0, dim - 1);
      en = std::clamp<int64_t>(en, -1, dim - 1);
      count = st > en ? (st - en + (-step) - 1) / (-step) : 0;
    }
    s[a] = {st, step, count};
  }
  return s;
}
bool IsBroadcastBinary(const std::string& op) {
  static const char* kOps[] = {"Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater",
                               "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod",
                               "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Max", "Min",
                               "Sum", "Mean", "Where"};
  for (const char* o : kOps)
    if (op == o) return true;
  return false;
}

// Output element type of an op on inputs of type `t`.
int32_t ResultType(const onnx::NodeProto& n, int32_t t) {
  if (IsCompare(n.op_type()) || n.op_type() == "IsNaN" || n.op_type() == "IsInf")
    return TensorProto::BOOL;
  if (n.op_type() == "Cast") return static_cast<int32_t>(AttrInt(n, "to", t));
  return t;
}


bool Evaluate(const onnx::NodeProto& n, int64_t opset, ValMap& vals) {
  if (n.output_size() == 0 || n.output(0).empty()) return false;
  const std::string& op = n.op_type();
  // An input the operator needs: an empty name there (or too few inputs) is refused, never read.
  auto in = [&](int k) {
    const Val* v = Get(vals, n, k);
    if (!v) throw std::runtime_error(fmt::format("input {} is missing (the operator needs it)", k));
    return v;
  };
  auto all_data = [&]() {
    for (int k = 0; k < n.input_size(); ++k)
      if (!n.input(k).empty() && !DataOf(vals, n, k)) return false;
    return true;
  };
  if (op == "Shape") {
    if (!ShapeOf(vals, n, 0)) return false;
    const auto& s = in(0)->shape;
    const int64_t r = static_cast<int64_t>(s.size());
    int64_t st = AttrInt(n, "start", 0), en = AttrInt(n, "end", r);
    if (st < 0) st += r;
    if (en < 0) en += r;
    st = std::clamp<int64_t>(st, 0, r);
    en = std::clamp<int64_t>(en, 0, r);
    std::vector<int64_t> d(s.begin() + st, s.begin() + std::max(st, en));
    SetOut(n, 0, IntData({static_cast<int64_t>(d.size())}, d), vals);
    return true;
  }
  if (op == "Size") {
    if (!ShapeOf(vals, n, 0)) return false;
    SetOut(n, 0, IntData({}, {in(0)->Elems()}), vals);
    return true;
  }
  if (op == "Constant") {
    Val v;
    if (const auto* a = FindAttr(n, "value")) {
      v = ReadTensor(a->t());
    } else if (const auto* a = FindAttr(n, "value_int")) {
      v = IntData({}, {a->i()});
    } else if (const auto* a = FindAttr(n, "value_ints")) {
      v = IntData({a->ints_size()}, {a->ints().begin(), a->ints().end()});
    } else if (const auto* a = FindAttr(n, "value_float")) {
      v = ShapeVal({}, TensorProto::FLOAT);
      v.f = {a->f()};
      v.has_data = true;
    } else if (const auto* a = FindAttr(n, "value_floats")) {
      v = ShapeVal({a->floats_size()}, TensorProto::FLOAT);
      v.f.assign(a->floats().begin(), a->floats().end());
      v.has_data = true;
    } else if (const auto* a = FindAttr(n, "sparse_value")) {
      v = ShapeVal({a->sparse_tensor().dims().begin(), a->sparse_tensor().dims().end()},
                   a->sparse_tensor().values().data_type());
    } else {
      return false;  // value_string(s): no numeric value, shape unknown for strings lists
    }
    v.is_constant = true;
    SetOut(n, 0, v, vals);
    return true;
  }
  if (!all_data() || n.input_size() == 0) {
    // ConstantOfShape with no input is a scalar; everything else needs its inputs' values.
    if (!(op == "ConstantOfShape" && n.input_size() == 0)) return false;
  }
  for (int k = 0; k < n.input_size(); ++k)
    if (!n.input(k).empty() && in(k)->Elems() > kMaxFoldElems) return false;

  if (op == "Identity" || op == "Cast" || op == "Neg" || op == "Abs" || op == "Floor" ||
      op == "Ceil" || op == "Sqrt" || op == "Not" || op == "Round" || op == "Reciprocal" ||
      op == "Relu" || op == "Sign") {
    const Val& a = *in(0);
    const int32_t t = ResultType(n, a.elem_type);
    Val v = ShapeVal(a.shape, t);
    v.is_constant = v.has_data = true;
    for (int64_t k = 0; k < a.Elems(); ++k) {
      double x = a.At(k);
      if (op == "Neg") x = -x;
      else if (op == "Abs") x = std::fabs(x);
      else if (op == "Floor") x = std::floor(x);
      else if (op == "Ceil") x = std::ceil(x);
      else if (op == "Round") x = std::nearbyint(x);
      else if (op == "Sqrt") x = std::sqrt(x);
      else if (op == "Not") x = x == 0;
      else if (op == "Reciprocal") x = 1 / x;
      else if (op == "Relu") x = std::max(x, 0.0);
      else if (op == "Sign") x = (x > 0) - (x < 0);
      if (op == "Identity" && !a.is_float) {
        v.i.push_back(a.i[k]);  // exact for INT64_MAX, which doubles round
        continue;
      }
      if (op == "Cast" && !a.is_float && !v.is_float) {
        v.i.push_back(a.i[k]);
        continue;
      }
      if (v.is_float) v.f.push_back(x);
      else if (!std::isfinite(x)) v.i.push_back(x > 0 ? INT64_MAX : INT64_MIN);
      else v.i.push_back(t == TensorProto::BOOL ? (x != 0) : static_cast<int64_t>(x));
    }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (IsBroadcastBinary(op) && op != "Where" && n.input_size() >= 1 &&
      op.rfind("Bitwise", 0) != 0) {
    Val acc = *in(0);
    for (int k = 1; k < n.input_size(); ++k) {
      const Val& b = *in(k);
      const auto shape = Broadcast(acc.shape, b.shape);
      Val v = ShapeVal(shape, ResultType(n, acc.elem_type));
      v.is_constant = v.has_data = true;
      const int64_t ne = v.Elems();
      if (ne > kMaxFoldElems) return false;
      const bool fl = acc.is_float || b.is_float;
      for (int64_t o = 0; o < ne; ++o) {
        const int64_t ia = BroadcastIndex(o, shape, acc.shape), ib = BroadcastIndex(o, shape, b.shape);
        if (!fl && !v.is_float && (op == "Add" || op == "Sub" || op == "Mul")) {
          // Exact int64 arithmetic (doubles would round large values such as INT64_MAX).
          const int64_t x = acc.i[ia], y = b.i[ib];
          int64_t r = 0;
          if (op == "Add" && __builtin_add_overflow(x, y, &r)) r = x > 0 ? INT64_MAX : INT64_MIN;
          if (op == "Sub" && __builtin_sub_overflow(x, y, &r)) r = x > 0 ? INT64_MAX : INT64_MIN;
          if (op == "Mul" && __builtin_mul_overflow(x, y, &r)) r = INT64_MAX;
          v.i.push_back(r);
          continue;
        }
        const double r = ApplyBinary(op, acc.At(ia), b.At(ib), fl);
        if (v.is_float) v.f.push_back(r);
        else v.i.push_back(std::isfinite(r) ? static_cast<int64_t>(r) : INT64_MAX);
      }
      acc = std::move(v);
    }
    SetOut(n, 0, acc, vals);
    return true;
  }
  if (op == "Where") {
    const Val &c = *in(0), &a = *in(1), &b = *in(2);
    const auto shape = Broadcast(Broadcast(c.shape, a.shape), b.shape);
    Val v = ShapeVal(shape, a.elem_type);
    v.is_constant = v.has_data = true;
    if (v.Elems() > kMaxFoldElems) return false;
    for (int64_t o = 0; o < v.Elems(); ++o) {
      const bool cond = c.At(BroadcastIndex(o, shape, c.shape)) != 0;
      const Val& src = cond ? a : b;
      const int64_t k = BroadcastIndex(o, shape, src.shape);
      if (v.is_float) v.f.push_back(src.At(k));
      else v.i.push_back(src.IntAt(k));
    }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (op == "Gather") {
    const Val &d = *in(0), &ix = *in(1);
    const int64_t r = static_cast<int64_t>(d.shape.size());
    if (r == 0) return false;
    const int64_t axis = NormAxis(AttrInt(n, "axis", 0), r, n);
    std::vector<int64_t> shape(d.shape.begin(), d.shape.begin() + axis);
    shape.insert(shape.end(), ix.shape.begin(), ix.shape.end());
    shape.insert(shape.end(), d.shape.begin() + axis + 1, d.shape.end());
    Val v = ShapeVal(shape, d.elem_type);
    v.is_constant = v.has_data = true;
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= d.shape[k];
    for (int64_t k = axis + 1; k < r; ++k) inner *= d.shape[k];
    const int64_t dim = d.shape[axis];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < ix.Elems(); ++j) {
        int64_t idx = ix.IntAt(j);
        if (idx < 0) idx += dim;
        if (idx < 0 || idx >= dim)
          throw std::runtime_error(fmt::format("Gather index {} out of range [0, {})", ix.IntAt(j), dim));
        for (int64_t q = 0; q < inner; ++q) {
          const int64_t s = (o * dim + idx) * inner + q;
          if (v.is_float) v.f.push_back(d.f[s]);
          else v.i.push_back(d.i[s]);
        }
      }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (!SliceParams(n, opset, vals, starts, ends, axes, steps)) return false;
    const Val& d = *in(0);
    const auto sl = ComputeSlice(d.shape, starts, ends, axes, steps, n);
    std::vector<int64_t> shape;
    for (const auto& s : sl) shape.push_back(s.count);
    Val v = ShapeVal(shape, d.elem_type);
    v.is_constant = v.has_data = true;
    const int64_t ne = v.Elems();
    for (int64_t o = 0; o < ne; ++o) {
      int64_t rem = o, src = 0, stride = 1;
      for (int k = static_cast<int>(shape.size()) - 1; k >= 0; --k) {
        const int64_t c = rem % shape[k];
        rem /= shape[k];
        src += (sl[k].start + c * sl[k].step) * stride;
        stride *= d.shape[k];
      }
      if (v.is_float) v.f.push_back(d.f[src]);
      else v.i.push_back(d.i[src]);
    }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (op == "Concat") {
    const Val& first = *in(0);
    const int64_t r = static_cast<int64_t>(first.shape.size());
    if (r == 0) return false;
    const int64_t axis = NormAxis(AttrInt(n, "axis", 0), r, n);
    std::vector<int64_t> shape = first.shape;
    shape[axis] = 0;
    for (int k = 0; k < n.input_size(); ++k) {
      if (n.input(k).empty()) continue;
      if (in(k)->shape.size() != first.shape.size())
        throw std::runtime_error("Concat inputs of different ranks");
      shape[axis] += in(k)->shape[axis];
    }
    Val v = ShapeVal(shape, first.elem_type);
    v.is_constant = v.has_data = true;
    int64_t outer = 1;
    for (int64_t k = 0; k < axis; ++k) outer *= shape[k];
    for (int64_t o = 0; o < outer; ++o)
      for (int k = 0; k < n.input_size(); ++k) {
        if (n.input(k).empty()) continue;
        const Val& a = *in(k);
        const int64_t chunk = outer ? a.Elems() / outer : 0;
        for (int64_t q = 0; q < chunk; ++q) {
          if (v.is_float) v.f.push_back(a.At(o * chunk + q));
          else v.i.push_back(a.IntAt(o * chunk + q));
        }
      }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (op == "Unsqueeze" || op == "Squeeze" || op == "Reshape" || op == "Flatten" ||
      op == "Expand" || op == "Tile" || op == "Transpose") {
    // Compute the output shape with the shape rules, then move the values.
    Val d = *in(0);
    if (!InferShape(n, opset, vals)) return false;
    Val& out = vals[n.output(0)];
    if (!out.shape_known || out.Elems() > kMaxFoldElems) return false;
    out.is_constant = out.has_data = true;
    out.is_float = d.is_float;
    out.elem_type = d.elem_type;
    out.f.clear();
    out.i.clear();
    const int64_t ne = out.Elems();
    if (op == "Expand" || op == "Tile" || op == "Transpose") {
      const int64_t r = static_cast<int64_t>(out.shape.size());
      std::vector<int64_t> perm = AttrInts(n, "perm");
      if (op == "Transpose" && perm.empty())
        for (int64_t k = r - 1; k >= 0; --k) perm.push_back(k);
      for (int64_t o = 0; o < ne; ++o) {
        int64_t src = 0;
        if (op == "Expand") {
          src = BroadcastIndex(o, out.shape, d.shape);
        } else {
          std::vector<int64_t> c(r);
          int64_t rem = o;
          for (int64_t k = r - 1; k >= 0; --k) {
            c[k] = rem % out.shape[k];
            rem /= out.shape[k];
          }
          std::vector<int64_t> ic(r);
          for (int64_t k = 0; k < r; ++k) {
            if (op == "Tile") ic[k] = c[k] % d.shape[k];
            else ic[perm[k]] = c[k];
          }
          for (int64_t k = 0; k < r; ++k) src = src * d.shape[k] + ic[k];
        }
        if (d.is_float) out.f.push_back(d.f[src]);
        else out.i.push_back(d.i[src]);
      }
    } else {
      out.f = d.f;
      out.i = d.i;
    }
    return true;
  }
  if (op == "ConstantOfShape") {
    std::vector<int64_t> shape;
    if (n.input_size() > 0) shape = Ints(*in(0));
    for (int64_t d : shape)
      if (d < 0) throw std::runtime_error(fmt::format("ConstantOfShape dimension {}", d));
    Val fill;
    if (const auto* a = FindAttr(n, "value")) fill = ReadTensor(a->t());
    else fill = ShapeVal({1}, TensorProto::FLOAT), fill.f = {0.0}, fill.has_data = true;
    Val v = ShapeVal(shape, fill.elem_type);
    v.is_constant = true;
    if (fill.has_data && fill.Elems() == 1 && v.Elems() <= kMaxFoldElems) {
      v.has_data = true;
      if (v.is_float) v.f.assign(v.Elems(), fill.At(0));
      else v.i.assign(v.Elems(), fill.IntAt(0));
    }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (op == "Range") {
    const Val &s = *in(0), &l = *in(1), &d = *in(2);
    const double st = s.At(0), lim = l.At(0), de = d.At(0);
    if (de == 0) throw std::runtime_error("Range delta is 0");
    const double steps = std::ceil((lim - st) / de);
    if (!std::isfinite(steps) || steps > 1e12)
      throw std::runtime_error(fmt::format("Range({}, {}, {}) has no sensible length", st, lim, de));
    const int64_t count = std::max<int64_t>(0, static_cast<int64_t>(steps));
    if (count > kMaxFoldElems) {
      SetOut(n, 0, ShapeVal({count}, s.elem_type), vals);
      vals[n.output(0)].is_constant = true;
      return true;
    }
    Val v = ShapeVal({count}, s.elem_type);
    v.is_constant = v.has_data = true;
    for (int64_t k = 0; k < count; ++k) {
      if (v.is_float) v.f.push_back(st + k * de);
      else v.i.push_back(s.IntAt(0) + k * d.IntAt(0));
    }
    SetOut(n, 0, v, vals);
    return true;
  }
  if (op == "ReduceProd" || op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin") {
    if (!InferShape(n, opset, vals)) return false;
    const Val& d = *in(0);
    // Only the full reduction (the common "number of elements" idiom) is folded.
    Val& out = vals[n.output(0)];
    if (out.Elems() != 1) return false;
    double acc = op == "ReduceProd" ? 1 : op == "ReduceSum" ? 0 : d.Elems() ? d.At(0) : 0;
    for (int64_t k = 0; k < d.Elems(); ++k) {
      const double x = d.At(k);
      if (op == "ReduceProd") acc *= x;
      else if (op == "ReduceSum") acc += x;
      else if (op == "ReduceMax") acc = std::max(acc, x);
      else acc = std::min(acc, x);
    }
    out.is_constant = out.has_data = true;
    out.f.clear();
    out.i.clear();
    if (out.is_float) out.f = {acc};
    else out.i = {static_cast<int64_t>(acc)};
    return true;
  }
  return false;
}

}  // namespace layoutdb::selector::fold
