// The host's reference implementation of ONNX operators (host_ops.h): plain loops over row-major
// tensors, one function per op type in a table. Element-wise and data-movement ops share two
// walkers (ForEachRun for strided/broadcast views, GatherMaps for per-axis index maps) so that the
// inner loops stay simple and allocation-free.
#include "host_ops.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor_proto.h"

namespace layoutdb::runtime {
namespace {

using Shape = std::vector<int64_t>;

constexpr float kInf = std::numeric_limits<float>::infinity();

// ----------------------------------------------------------------------------------------------
// Shapes and typed access

std::string ShapeStr(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ",")); }

// The product of s[from, to) (to clamped to the rank).
int64_t Prod(const Shape& s, size_t from = 0, size_t to = SIZE_MAX) {
  const auto end = s.begin() + static_cast<std::ptrdiff_t>(std::min(to, s.size()));
  int64_t n = 1;
  for (auto it = s.begin() + static_cast<std::ptrdiff_t>(from); it < end; ++it) n *= *it;
  return n;
}

Shape Strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t d = s.size(); d-- > 0;) {
    st[d] = acc;
    acc *= s[d];
  }
  return st;
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}
int64_t CeilDiv(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

int64_t DataSize(const Tensor& t) {
  return static_cast<int64_t>(t.IsFloat() ? t.f32.size() : t.i64.size());
}

template <typename T>
const T* Data(const Tensor& t);
template <>
const float* Data<float>(const Tensor& t) {
  return t.f32.data();
}
template <>
const int64_t* Data<int64_t>(const Tensor& t) {
  return t.i64.data();
}
template <typename T>
T* Mut(Tensor& t);
template <>
float* Mut<float>(Tensor& t) {
  return t.f32.data();
}
template <>
int64_t* Mut<int64_t>(Tensor& t) {
  return t.i64.data();
}

// Calls f with a value of the element type `t` stores (float or int64_t), so that one generic
// lambda serves both storages.
template <typename F>
void ByType(const Tensor& t, F&& f) {
  if (t.IsFloat()) f(float{});
  else f(int64_t{});
}

void CopyData(const Tensor& src, Tensor& dst) {
  if (src.IsFloat()) std::copy(src.f32.begin(), src.f32.end(), dst.f32.begin());
  else std::copy(src.i64.begin(), src.i64.end(), dst.i64.begin());
}

// Wraps the values in `t`'s i64 storage to the range of its dtype, as the fixed-width type would
// after an overflow (integer arithmetic and casts run in 64 bits).
void Narrow(Tensor& t) {
  if (t.IsFloat() || t.dtype == "i64") return;
  int64_t* p = t.i64.data();
  const size_t n = t.i64.size();
  if (t.dtype == "i32") {
    for (size_t k = 0; k < n; ++k) p[k] = static_cast<int32_t>(static_cast<uint64_t>(p[k]));
  } else if (t.dtype == "i8") {
    for (size_t k = 0; k < n; ++k) p[k] = static_cast<int8_t>(static_cast<uint64_t>(p[k]));
  } else if (t.dtype == "u8") {
    for (size_t k = 0; k < n; ++k) p[k] = static_cast<uint8_t>(static_cast<uint64_t>(p[k]));
  } else if (t.dtype == "bool") {
    for (size_t k = 0; k < n; ++k) p[k] = p[k] != 0;
  }
}

// The runtime's dtype name for an onnx.TensorProto element type, "" when it holds no such type.
std::string DtypeOf(int64_t elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT: return "f32";
    case onnx::TensorProto::INT64: return "i64";
    case onnx::TensorProto::INT32: return "i32";
    case onnx::TensorProto::INT8: return "i8";
    case onnx::TensorProto::UINT8: return "u8";
    case onnx::TensorProto::BOOL: return "bool";
    default: return "";
  }
}

// ----------------------------------------------------------------------------------------------
// The node being run: its attributes, inputs and outputs, and the one-line errors.

class Ctx {
 public:
  Ctx(const onnx::NodeProto& node, int64_t opset, const std::vector<const Tensor*>& in,
      const std::vector<Tensor*>& out)
      : node_(node), opset_(opset), in_(in), out_(out) {}

  template <typename... Args>
  [[noreturn]] void Fail(fmt::format_string<Args...> f, Args&&... args) const {
    throw std::runtime_error(fmt::format("{} '{}': {}", node_.op_type(), node_.name(),
                                         fmt::format(f, std::forward<Args>(args)...)));
  }

  const std::string& op() const { return node_.op_type(); }
  const std::string& name() const { return node_.name(); }
  int64_t opset() const { return opset_; }
  size_t NumIn() const { return in_.size(); }
  size_t NumOut() const { return out_.size(); }

  const Tensor* Opt(size_t k) const { return k < in_.size() ? in_[k] : nullptr; }
  const Tensor& In(size_t k) const {
    const Tensor* t = Opt(k);
    if (!t) Fail("input {} is required but not given", k);
    return *t;
  }
  const Tensor& InFloat(size_t k) const {
    const Tensor& t = In(k);
    if (!t.IsFloat()) Fail("input {} of dtype {} is not supported (f32 only)", k, t.dtype);
    return t;
  }
  bool Wants(size_t k) const { return k < out_.size() && out_[k] != nullptr; }

  // Output k, checked against the shape and storage the inputs give. An output the caller left
  // unset (no data, or dynamic dims) is shaped and allocated here; one whose static shape disagrees
  // is an error rather than a write out of bounds.
  Tensor& Out(size_t k, const Shape& shape, const std::string& dtype) const {
    if (!Wants(k)) Fail("output {} is required but not given", k);
    Tensor& t = *out_[k];
    const bool is_float = dtype == "f32";
    if (t.shape == shape && t.IsFloat() == is_float) {
      if (DataSize(t) != Prod(shape)) t.Allocate();
      return t;
    }
    const bool unset = (t.f32.empty() && t.i64.empty()) ||
                       std::any_of(t.shape.begin(), t.shape.end(), [](int64_t d) { return d < 0; });
    if (!unset)
      Fail("output {} is allocated as {} {} but the inputs give {} {}", k, t.dtype,
           ShapeStr(t.shape), dtype, ShapeStr(shape));
    t.shape = shape;
    t.dtype = dtype;
    t.Allocate();
    return t;
  }

  const onnx::AttributeProto* Attr(const char* name) const {
    for (const auto& a : node_.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  bool Has(const char* name) const { return Attr(name) != nullptr; }
  int64_t Int(const char* name, int64_t def) const {
    const auto* a = Attr(name);
    return a ? a->i() : def;
  }
  float Float(const char* name, float def) const {
    const auto* a = Attr(name);
    return a ? a->f() : def;
  }
  std::string Str(const char* name, const char* def) const {
    const auto* a = Attr(name);
    return a ? a->s() : def;
  }
  Shape Ints(const char* name) const {
    const auto* a = Attr(name);
    return a ? Shape(a->ints().begin(), a->ints().end()) : Shape{};
  }
  std::vector<float> Floats(const char* name) const {
    const auto* a = Attr(name);
    return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
  }

  // A possibly negative axis normalized against `rank`.
  int64_t Axis(int64_t axis, int64_t rank) const {
    if (axis < -rank || axis >= rank) Fail("axis {} is out of range for rank {}", axis, rank);
    return axis < 0 ? axis + rank : axis;
  }
  // The values of an integer input (shape, axes, pads, ...).
  const Shape& IntsOf(const Tensor& t, const char* what) const {
    if (t.IsFloat()) Fail("{} must be an integer tensor, not {}", what, t.dtype);
    return t.i64;
  }
  std::vector<float> FloatsOf(const Tensor& t, const char* what) const {
    if (!t.IsFloat()) Fail("{} must be a float tensor, not {}", what, t.dtype);
    return t.f32;
  }
  double Scalar(const Tensor& t, const char* what) const {
    if (t.Elems() != 1) Fail("{} must hold one value, not shape {}", what, ShapeStr(t.shape));
    return t.IsFloat() ? t.f32[0] : static_cast<double>(t.i64[0]);
  }
  void SameStorage(const Tensor& a, const Tensor& b) const {
    if (a.IsFloat() != b.IsFloat())
      Fail("inputs of dtypes {} and {} do not match", a.dtype, b.dtype);
  }

  // Numpy (multidirectional) broadcast of `shapes`.
  Shape Broadcast(std::initializer_list<const Shape*> shapes) const {
    size_t rank = 0;
    for (const Shape* s : shapes) rank = std::max(rank, s->size());
    Shape out(rank, 1);
    for (const Shape* s : shapes) {
      const size_t off = rank - s->size();
      for (size_t d = 0; d < s->size(); ++d) {
        const int64_t v = (*s)[d];
        int64_t& o = out[off + d];
        if (v == o || v == 1) continue;
        if (o == 1) o = v;
        else Fail("shapes cannot be broadcast together ({} against dimension {})", ShapeStr(*s), o);
      }
    }
    return out;
  }
  // Unidirectional broadcast: `from` must broadcast to `to` without changing it.
  void CheckBroadcastsTo(const Shape& from, const Shape& to, const char* what) const {
    bool ok = from.size() <= to.size();
    for (size_t d = 0; ok && d < from.size(); ++d) {
      const int64_t v = from[d], o = to[to.size() - from.size() + d];
      ok = v == o || v == 1;
    }
    if (!ok) Fail("{} of shape {} does not broadcast to {}", what, ShapeStr(from), ShapeStr(to));
  }

 private:
  const onnx::NodeProto& node_;
  int64_t opset_;
  const std::vector<const Tensor*>& in_;
  const std::vector<Tensor*>& out_;
};

using OpFn = void (*)(const Ctx&);

// ----------------------------------------------------------------------------------------------
// Walkers

// Strides of a tensor of shape `in` read as broadcast to `out` (0 along broadcast dimensions).
Shape BroadcastStrides(const Shape& in, const Shape& out) {
  Shape st(out.size(), 0);
  const Shape s = Strides(in);
  const size_t off = out.size() - in.size();
  for (size_t d = 0; d < in.size(); ++d) st[off + d] = in[d] == 1 ? 0 : s[d];
  return st;
}

// Walks the row-major index space `shape` in runs along its innermost dimension while tracking one
// offset per operand (operand k advances by strides[k][d] along dimension d): calls
// body(o, off, n, step) with o the run's row-major position, off[k] operand k's offset at its start
// and step[k] its stride within the run. Dimensions that can merge for every operand are merged
// first so that runs are as long as the views allow.
template <size_t N, typename Body>
void ForEachRun(const Shape& shape_in, const std::array<Shape, N>& strides_in, Body&& body) {
  Shape shape;
  std::array<Shape, N> st;
  for (size_t d = 0; d < shape_in.size(); ++d) {
    const int64_t n = shape_in[d];
    if (n == 0) return;
    if (n == 1) continue;
    bool merge = !shape.empty();
    for (size_t k = 0; k < N && merge; ++k) merge = st[k].back() == strides_in[k][d] * n;
    if (merge) {
      shape.back() *= n;
      for (size_t k = 0; k < N; ++k) st[k].back() = strides_in[k][d];
      continue;
    }
    shape.push_back(n);
    for (size_t k = 0; k < N; ++k) st[k].push_back(strides_in[k][d]);
  }
  std::array<int64_t, N> off{}, step{};
  if (shape.empty()) {
    body(int64_t{0}, off, int64_t{1}, step);
    return;
  }
  const size_t r = shape.size();
  const int64_t inner = shape[r - 1], total = Prod(shape);
  for (size_t k = 0; k < N; ++k) step[k] = st[k][r - 1];
  Shape idx(r, 0);
  for (int64_t o = 0; o < total; o += inner) {
    body(o, off, inner, step);
    for (size_t d = r - 1; d-- > 0;) {
      for (size_t k = 0; k < N; ++k) off[k] += st[k][d];
      if (++idx[d] < shape[d]) break;
      for (size_t k = 0; k < N; ++k) off[k] -= st[k][d] * shape[d];
      idx[d] = 0;
    }
  }
}

// dst (row-major over `shape`) = src[base + sum_d i_d * strides[d]]: the view behind Transpose,
// Slice, Expand, Tile and the broadcasting copies.
template <typename T>
void CopyStrided(const T* src, int64_t base, const Shape& shape, const Shape& strides, T* dst) {
  ForEachRun<1>(shape, {strides},
                [&](int64_t o, const std::array<int64_t, 1>& off, int64_t n,
                    const std::array<int64_t, 1>& step) {
                  const T* s = src + (base + off[0]);
                  T* d = dst + o;
                  if (step[0] == 1) {
                    std::copy(s, s + n, d);
                  } else {
                    const int64_t st = step[0];
                    for (int64_t i = 0; i < n; ++i) d[i] = s[i * st];
                  }
                });
}

void CopyStridedTensor(const Tensor& src, int64_t base, const Shape& strides, Tensor& dst) {
  ByType(src, [&](auto tag) {
    using T = decltype(tag);
    CopyStrided<T>(Data<T>(src), base, dst.shape, strides, Mut<T>(dst));
  });
}

// dst[i_0, ..., i_r-1] = src[sum_d maps[d][i_d] * stride_d], or `fill` where some maps[d][i_d] < 0:
// the per-axis index maps of Pad and nearest Resize.
template <typename T>
void GatherMaps(const T* src, const Shape& in_shape, const std::vector<Shape>& maps,
                const Shape& out_shape, T fill, T* dst) {
  const size_t r = in_shape.size();
  if (r == 0) {
    dst[0] = src[0];
    return;
  }
  const int64_t total = Prod(out_shape), inner = out_shape[r - 1];
  if (total == 0) return;
  const Shape st = Strides(in_shape);
  const Shape& last = maps[r - 1];
  const int64_t last_stride = st[r - 1];
  Shape idx(r - 1, 0);
  for (int64_t o = 0; o < total; o += inner) {
    int64_t base = 0;
    bool fill_row = false;
    for (size_t d = 0; d + 1 < r; ++d) {
      const int64_t m = maps[d][idx[d]];
      fill_row |= m < 0;
      base += m * st[d];
    }
    T* row = dst + o;
    if (fill_row) {
      std::fill(row, row + inner, fill);
    } else {
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t m = last[i];
        row[i] = m < 0 ? fill : src[base + m * last_stride];
      }
    }
    for (size_t d = r - 1; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

// ----------------------------------------------------------------------------------------------
// Element-wise ops

// o = f(a, b) with numpy broadcasting of a and b to o's shape.
template <typename TA, typename TB, typename TO, typename F>
void Binary(const Tensor& a, const Tensor& b, Tensor& o, F f) {
  const TA* pa = Data<TA>(a);
  const TB* pb = Data<TB>(b);
  TO* po = Mut<TO>(o);
  ForEachRun<2>(o.shape, {BroadcastStrides(a.shape, o.shape), BroadcastStrides(b.shape, o.shape)},
                [&](int64_t o0, const std::array<int64_t, 2>& off, int64_t n,
                    const std::array<int64_t, 2>& step) {
                  const TA* x = pa + off[0];
                  const TB* y = pb + off[1];
                  TO* z = po + o0;
                  if (step[0] == 1 && step[1] == 1) {
                    for (int64_t i = 0; i < n; ++i) z[i] = f(x[i], y[i]);
                  } else {
                    const int64_t sa = step[0], sb = step[1];
                    for (int64_t i = 0; i < n; ++i) z[i] = f(x[i * sa], y[i * sb]);
                  }
                });
}

// A broadcasting arithmetic op on two operands of one storage; `f` is generic over float/int64_t.
template <typename F>
void Arith(const Ctx& c, F f) {
  const Tensor& a = c.In(0);
  const Tensor& b = c.In(1);
  c.SameStorage(a, b);
  Tensor& o = c.Out(0, c.Broadcast({&a.shape, &b.shape}), a.dtype);
  if (a.IsFloat()) {
    Binary<float, float, float>(a, b, o, f);
  } else {
    Binary<int64_t, int64_t, int64_t>(a, b, o, f);
    Narrow(o);
  }
}

// A broadcasting comparison (bool output).
template <typename F>
void Compare(const Ctx& c, F f) {
  const Tensor& a = c.In(0);
  const Tensor& b = c.In(1);
  c.SameStorage(a, b);
  Tensor& o = c.Out(0, c.Broadcast({&a.shape, &b.shape}), "bool");
  if (a.IsFloat()) Binary<float, float, int64_t>(a, b, o, f);
  else Binary<int64_t, int64_t, int64_t>(a, b, o, f);
}

// And, Or, Xor on bool operands.
template <typename F>
void Logic(const Ctx& c, F f) {
  const Tensor& a = c.In(0);
  const Tensor& b = c.In(1);
  if (a.IsFloat() || b.IsFloat()) c.Fail("operands must be bool, not {} and {}", a.dtype, b.dtype);
  Tensor& o = c.Out(0, c.Broadcast({&a.shape, &b.shape}), "bool");
  Binary<int64_t, int64_t, int64_t>(a, b, o, f);
}

// Min, Max, Sum, Mean: variadic with broadcasting, folded pairwise into the output.
template <typename F>
void Variadic(const Ctx& c, bool mean, F f) {
  const Tensor& first = c.In(0);
  std::vector<const Tensor*> ins;
  Shape shape = first.shape;
  for (size_t k = 0; k < c.NumIn(); ++k) {
    const Tensor& t = c.In(k);
    c.SameStorage(first, t);
    ins.push_back(&t);
    shape = c.Broadcast({&shape, &t.shape});
  }
  Tensor& o = c.Out(0, shape, first.dtype);
  CopyStridedTensor(first, 0, BroadcastStrides(first.shape, shape), o);
  for (size_t k = 1; k < ins.size(); ++k) {
    if (o.IsFloat()) Binary<float, float, float>(o, *ins[k], o, f);
    else Binary<int64_t, int64_t, int64_t>(o, *ins[k], o, f);
  }
  if (mean) {
    if (!o.IsFloat()) c.Fail("integer Mean is not supported");
    const float inv = 1.0f / static_cast<float>(ins.size());
    for (float& v : o.f32) v *= inv;
  }
  if (!o.IsFloat()) Narrow(o);
}

// erf without a libm call: x P(x^2) / Q(x^2) on [-4, 4] (+-1 beyond, in f32), the rational
// approximation Eigen and XLA use, evaluated in double: within 1e-7 of erf (a float evaluation loses
// up to 4e-7 in the tails). About 3x faster than std::erf, a call per element (BERT's GELU,
// Div+Erf+Add on 393k values, spent milliseconds in it).
inline float FastErf(float v) {
  const double x = std::min(4.0, std::max(-4.0, static_cast<double>(v))), x2 = x * x;
  double p = -2.72614225801306e-10;
  p = p * x2 + 2.77068142495902e-08;
  p = p * x2 - 2.10102402082508e-06;
  p = p * x2 - 5.69250639462346e-05;
  p = p * x2 - 7.34990630326855e-04;
  p = p * x2 - 2.95459980854025e-03;
  p = p * x2 - 1.60960333262415e-02;
  double q = -1.45660718464996e-05;
  q = q * x2 - 2.13374055278905e-04;
  q = q * x2 - 1.68282697438203e-03;
  q = q * x2 - 7.37332916720468e-03;
  q = q * x2 - 1.42647390514189e-02;
  return static_cast<float>(x * p / q);
}

template <typename F>
void UnaryFloat(const Ctx& c, F f) {
  const Tensor& x = c.InFloat(0);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  const float* px = x.f32.data();
  float* po = o.f32.data();
  const size_t n = x.f32.size();
  for (size_t k = 0; k < n; ++k) po[k] = f(px[k]);
}

// A unary op defined for float and integer storage; `f` is generic.
template <typename F>
void UnaryAny(const Ctx& c, F f) {
  const Tensor& x = c.In(0);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    const T* px = Data<T>(x);
    T* po = Mut<T>(o);
    const int64_t n = x.Elems();
    for (int64_t k = 0; k < n; ++k) po[k] = static_cast<T>(f(px[k]));
  });
  Narrow(o);
}

// A float predicate (IsNaN, IsInf): bool output.
template <typename F>
void FloatTest(const Ctx& c, F f) {
  const Tensor& x = c.InFloat(0);
  Tensor& o = c.Out(0, x.shape, "bool");
  for (size_t k = 0; k < x.f32.size(); ++k) o.i64[k] = f(x.f32[k]) ? 1 : 0;
}

float Sigmoid(float x) {
  if (x >= 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

float Softplus(float x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

template <typename T>
T Sign(T x) {
  return static_cast<T>((x > T(0)) - (x < T(0)));
}

// Python-style modulo (sign of the divisor) for Mod with fmod=0.
template <typename T>
T PyMod(T x, T y) {
  if constexpr (std::is_integral_v<T>) {
    if (y == 0) return 0;
    T r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  } else {
    T r = std::fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
  }
}

void Mod(const Ctx& c) {
  if (c.Int("fmod", 0)) {
    Arith(c, [](auto x, auto y) {
      if constexpr (std::is_integral_v<decltype(x)>) return y == 0 ? decltype(x){0} : x % y;
      else return std::fmod(x, y);
    });
  } else {
    Arith(c, [](auto x, auto y) { return PyMod(x, y); });
  }
}

// Pow allows a base and an exponent of different types; the result has the base's type.
void Pow(const Ctx& c) {
  const Tensor& a = c.In(0);
  const Tensor& b = c.In(1);
  Tensor& o = c.Out(0, c.Broadcast({&a.shape, &b.shape}), a.dtype);
  auto pw = [](auto x, auto y) { return std::pow(static_cast<double>(x), static_cast<double>(y)); };
  // An integer power beyond int64 saturates (casting it would be undefined behaviour); NaN gives 0.
  auto to_int = [](double v) -> int64_t {
    if (std::isnan(v)) return 0;
    if (v >= 9.2233720368547758e18) return INT64_MAX;
    if (v <= -9.2233720368547758e18) return INT64_MIN;
    return static_cast<int64_t>(v);
  };
  if (a.IsFloat() && b.IsFloat()) {
    Binary<float, float, float>(a, b, o, [](float x, float y) { return std::pow(x, y); });
  } else if (a.IsFloat()) {
    Binary<float, int64_t, float>(a, b, o,
                                  [&](float x, int64_t y) { return static_cast<float>(pw(x, y)); });
  } else if (b.IsFloat()) {
    Binary<int64_t, float, int64_t>(
        a, b, o, [&](int64_t x, float y) { return to_int(pw(x, y)); });
  } else {
    Binary<int64_t, int64_t, int64_t>(
        a, b, o, [&](int64_t x, int64_t y) { return to_int(pw(x, y)); });
  }
  if (!o.IsFloat()) Narrow(o);
}

void BitShift(const Ctx& c) {
  const std::string dir = c.Str("direction", "");
  if (dir != "LEFT" && dir != "RIGHT") c.Fail("direction '{}' is not LEFT or RIGHT", dir);
  if (c.In(0).IsFloat()) c.Fail("float operands are not supported");
  if (dir == "LEFT") {
    Arith(c, [](auto x, auto y) {
      if constexpr (std::is_integral_v<decltype(x)>)
        return y >= 64 ? decltype(x){0} : static_cast<decltype(x)>(static_cast<uint64_t>(x) << y);
      else return x;  // not reached: float operands are refused above
    });
  } else {
    Arith(c, [](auto x, auto y) {
      if constexpr (std::is_integral_v<decltype(x)>)
        return y >= 64 ? decltype(x){0} : static_cast<decltype(x)>(static_cast<uint64_t>(x) >> y);
      else return x;  // not reached: float operands are refused above
    });
  }
}

void Where(const Ctx& c) {
  const Tensor& cond = c.In(0);
  const Tensor& x = c.In(1);
  const Tensor& y = c.In(2);
  if (cond.IsFloat()) c.Fail("condition must be bool, not {}", cond.dtype);
  c.SameStorage(x, y);
  Tensor& o = c.Out(0, c.Broadcast({&cond.shape, &x.shape, &y.shape}), x.dtype);
  const int64_t* pc = cond.i64.data();
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    const T* px = Data<T>(x);
    const T* py = Data<T>(y);
    T* po = Mut<T>(o);
    ForEachRun<3>(o.shape,
                  {BroadcastStrides(cond.shape, o.shape), BroadcastStrides(x.shape, o.shape),
                   BroadcastStrides(y.shape, o.shape)},
                  [&](int64_t o0, const std::array<int64_t, 3>& off, int64_t n,
                      const std::array<int64_t, 3>& st) {
                    for (int64_t i = 0; i < n; ++i)
                      po[o0 + i] =
                          pc[off[0] + i * st[0]] ? px[off[1] + i * st[1]] : py[off[2] + i * st[2]];
                  });
  });
}

void Clip(const Ctx& c) {
  const Tensor& x = c.In(0);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  if (c.opset() < 11) {
    if (!x.IsFloat()) c.Fail("integer input needs opset 12 or later");
    const float lo = c.Float("min", -kInf), hi = c.Float("max", kInf);
    for (size_t k = 0; k < x.f32.size(); ++k) o.f32[k] = std::min(std::max(x.f32[k], lo), hi);
    return;
  }
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    if (const Tensor* t = c.Opt(1); t && t->Elems() > 0) lo = static_cast<T>(c.Scalar(*t, "min"));
    if (const Tensor* t = c.Opt(2); t && t->Elems() > 0) hi = static_cast<T>(c.Scalar(*t, "max"));
    const T* px = Data<T>(x);
    T* po = Mut<T>(o);
    const int64_t n = x.Elems();
    for (int64_t k = 0; k < n; ++k) po[k] = std::min(std::max(px[k], lo), hi);
  });
}

void PRelu(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Tensor& slope = c.In(1);
  c.SameStorage(x, slope);
  Tensor s = slope;  // for its shape; the data copied is small (a slope per channel, typically)
  // Before opset 7 a 1-D slope is per channel (dimension 1), not numpy-aligned to the last axis.
  if (c.opset() < 7 && s.shape.size() == 1 && x.shape.size() > 2 && s.shape[0] == x.shape[1] &&
      s.shape[0] != 1) {
    s.shape.resize(x.shape.size() - 1, 1);
  }
  c.CheckBroadcastsTo(s.shape, x.shape, "slope");
  Tensor& o = c.Out(0, x.shape, x.dtype);
  if (x.IsFloat())
    Binary<float, float, float>(x, s, o, [](float v, float a) { return v < 0 ? v * a : v; });
  else
    Binary<int64_t, int64_t, int64_t>(x, s, o,
                                      [](int64_t v, int64_t a) { return v < 0 ? v * a : v; });
}

void Gelu(const Ctx& c) {
  const std::string approx = c.Str("approximate", "none");
  if (approx == "none") {
    UnaryFloat(c, [](float x) { return 0.5f * x * (1.0f + FastErf(x * 0.70710678118654752f)); });
  } else if (approx == "tanh") {
    const float k = 0.79788456080286536f;  // sqrt(2 / pi)
    UnaryFloat(
        c, [k](float x) { return 0.5f * x * (1.0f + std::tanh(k * (x + 0.044715f * x * x * x))); });
  } else {
    c.Fail("approximate '{}' is not supported", approx);
  }
}

void Cast(const Ctx& c) {
  const Tensor& x = c.In(0);
  std::string to;
  if (c.op() == "CastLike") {
    to = c.In(1).dtype;
  } else {
    const auto* a = c.Attr("to");
    if (!a) c.Fail("attribute 'to' is missing");
    int64_t elem = a->i();
    if (a->type() == onnx::AttributeProto::STRING) {  // opset < 6 names the type
      onnx::TensorProto::DataType dt;
      if (!onnx::TensorProto::DataType_Parse(a->s(), &dt)) c.Fail("unknown type '{}'", a->s());
      elem = dt;
    }
    to = DtypeOf(elem);
    if (to.empty()) c.Fail("cast to element type {} is not supported", elem);
  }
  Tensor& o = c.Out(0, x.shape, to);
  const int64_t n = x.Elems();
  if (x.IsFloat() && o.IsFloat()) {
    CopyData(x, o);
  } else if (!x.IsFloat() && o.IsFloat()) {
    for (int64_t k = 0; k < n; ++k) o.f32[k] = static_cast<float>(x.i64[k]);
  } else if (!x.IsFloat()) {
    CopyData(x, o);
    Narrow(o);
  } else if (to == "bool") {
    for (int64_t k = 0; k < n; ++k) o.i64[k] = x.f32[k] != 0;
  } else {
    // Truncation toward zero like C; NaN and out-of-range values give INT64_MIN (the x86 result).
    constexpr float kLim = 9.2233720368547758e18f;
    for (int64_t k = 0; k < n; ++k) {
      const float v = x.f32[k];
      o.i64[k] =
          (v > -kLim && v < kLim) ? static_cast<int64_t>(v) : std::numeric_limits<int64_t>::min();
    }
    Narrow(o);
  }
}

// ----------------------------------------------------------------------------------------------
// Data movement

void Identity(const Ctx& c) {
  const Tensor& x = c.In(0);
  CopyData(x, c.Out(0, x.shape, x.dtype));
}

void Dropout(const Ctx& c) {
  const Tensor& x = c.In(0);
  bool training = c.opset() < 7 && c.Has("is_test") && c.Int("is_test", 0) == 0;
  double ratio = c.Float("ratio", 0.5f);
  if (c.opset() >= 12) {
    ratio = 0.5;
    if (const Tensor* r = c.Opt(1)) ratio = c.Scalar(*r, "ratio");
    training = false;
    if (const Tensor* t = c.Opt(2)) training = c.Scalar(*t, "training_mode") != 0;
  }
  if (training && ratio != 0) c.Fail("training mode (random dropout) is not supported");
  CopyData(x, c.Out(0, x.shape, x.dtype));
  if (c.Wants(1)) {
    Tensor& mask = c.Out(1, x.shape, c.opset() >= 10 ? "bool" : x.dtype);
    if (mask.IsFloat()) std::fill(mask.f32.begin(), mask.f32.end(), 1.0f);
    else std::fill(mask.i64.begin(), mask.i64.end(), 1);
  }
}

void Constant(const Ctx& c) {
  Tensor v;
  if (const auto* a = c.Attr("value")) {
    v = FromProto(a->t(), fmt::format("{} '{}': value", c.op(), c.name()));
  } else if (const auto* a = c.Attr("value_float")) {
    v.dtype = "f32";
    v.f32 = {a->f()};
  } else if (const auto* a = c.Attr("value_floats")) {
    v.dtype = "f32";
    v.shape = {a->floats_size()};
    v.f32.assign(a->floats().begin(), a->floats().end());
  } else if (const auto* a = c.Attr("value_int")) {
    v.dtype = "i64";
    v.i64 = {a->i()};
  } else if (const auto* a = c.Attr("value_ints")) {
    v.dtype = "i64";
    v.shape = {a->ints_size()};
    v.i64.assign(a->ints().begin(), a->ints().end());
  } else {
    c.Fail("only value, value_float(s) and value_int(s) are supported (not sparse or string)");
  }
  CopyData(v, c.Out(0, v.shape, v.dtype));
}

void ConstantOfShape(const Ctx& c) {
  const Shape& shape = c.IntsOf(c.In(0), "shape");
  for (int64_t d : shape)
    if (d < 0) c.Fail("negative dimension in shape {}", ShapeStr(shape));
  Tensor v;
  v.dtype = "f32";
  v.f32 = {0.0f};
  if (const auto* a = c.Attr("value")) {
    v = FromProto(a->t(), fmt::format("{} '{}': value", c.op(), c.name()));
    if (v.Elems() != 1) c.Fail("value must hold one element");
  }
  Tensor& o = c.Out(0, shape, v.dtype);
  if (o.IsFloat()) std::fill(o.f32.begin(), o.f32.end(), v.f32[0]);
  else std::fill(o.i64.begin(), o.i64.end(), v.i64[0]);
}

void ShapeOp(const Ctx& c) {
  const Shape& s = c.In(0).shape;
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = c.Int("start", 0), end = c.Int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  const Shape v(s.begin() + start, s.begin() + std::max(start, end));
  Tensor& o = c.Out(0, {static_cast<int64_t>(v.size())}, "i64");
  std::copy(v.begin(), v.end(), o.i64.begin());
}

void Size(const Ctx& c) { c.Out(0, {}, "i64").i64[0] = c.In(0).Elems(); }

void Reshape(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Shape target = c.opset() < 5 ? c.Ints("shape") : c.IntsOf(c.In(1), "shape");
  const bool allow_zero = c.Int("allowzero", 0) != 0;
  Shape shape(target.size());
  int64_t infer = -1, known = 1;
  for (size_t d = 0; d < target.size(); ++d) {
    int64_t v = target[d];
    if (v == 0 && !allow_zero) {
      if (d >= x.shape.size()) c.Fail("0 at position {} copies a dimension the input lacks", d);
      v = x.shape[d];
    }
    if (v == -1) {
      if (infer >= 0) c.Fail("shape {} has more than one -1", ShapeStr(target));
      infer = static_cast<int64_t>(d);
      continue;
    }
    if (v < 0) c.Fail("invalid dimension {} in shape {}", v, ShapeStr(target));
    shape[d] = v;
    known *= v;
  }
  if (infer >= 0) {
    if (known == 0 || x.Elems() % known)
      c.Fail("cannot infer -1 in {} for {}", ShapeStr(target), ShapeStr(x.shape));
    shape[infer] = x.Elems() / known;
  }
  if (Prod(shape) != x.Elems())
    c.Fail("shape {} does not hold the {} elements of {}", ShapeStr(shape), x.Elems(),
           ShapeStr(x.shape));
  CopyData(x, c.Out(0, shape, x.dtype));
}

void Flatten(const Ctx& c) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  int64_t axis = c.Int("axis", 1);
  if (axis < -r || axis > r) c.Fail("axis {} is out of range for rank {}", axis, r);
  if (axis < 0) axis += r;
  CopyData(x, c.Out(0, {Prod(x.shape, 0, axis), Prod(x.shape, axis)}, x.dtype));
}

// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an optional input from 13.
Shape SqueezeAxes(const Ctx& c) {
  if (c.opset() < 13) return c.Ints("axes");
  const Tensor* t = c.Opt(1);
  return t ? c.IntsOf(*t, "axes") : Shape{};
}

void Squeeze(const Ctx& c) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const Shape axes = SqueezeAxes(c);
  std::vector<bool> drop(r, false);
  if (axes.empty()) {
    for (int64_t d = 0; d < r; ++d) drop[d] = x.shape[d] == 1;
  }
  for (int64_t a : axes) {
    const int64_t d = c.Axis(a, r);
    if (x.shape[d] != 1) c.Fail("axis {} has size {}, not 1", a, x.shape[d]);
    drop[d] = true;
  }
  Shape shape;
  for (int64_t d = 0; d < r; ++d)
    if (!drop[d]) shape.push_back(x.shape[d]);
  CopyData(x, c.Out(0, shape, x.dtype));
}

void Unsqueeze(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Shape axes = SqueezeAxes(c);
  const int64_t r = static_cast<int64_t>(x.shape.size() + axes.size());
  std::vector<bool> inserted(r, false);
  for (int64_t a : axes) {
    const int64_t d = c.Axis(a, r);
    if (inserted[d]) c.Fail("axis {} is repeated", a);
    inserted[d] = true;
  }
  Shape shape;
  size_t k = 0;
  for (int64_t d = 0; d < r; ++d) shape.push_back(inserted[d] ? 1 : x.shape[k++]);
  CopyData(x, c.Out(0, shape, x.dtype));
}

void Transpose(const Ctx& c) {
  const Tensor& x = c.In(0);
  const size_t r = x.shape.size();
  Shape perm = c.Ints("perm");
  if (perm.empty()) {
    for (size_t d = 0; d < r; ++d) perm.push_back(static_cast<int64_t>(r - 1 - d));
  }
  if (perm.size() != r) c.Fail("perm {} does not match rank {}", ShapeStr(perm), r);
  const Shape st = Strides(x.shape);
  Shape shape(r), strides(r);
  std::vector<bool> seen(r, false);
  for (size_t d = 0; d < r; ++d) {
    const int64_t p = c.Axis(perm[d], static_cast<int64_t>(r));
    if (seen[p]) c.Fail("perm {} is not a permutation", ShapeStr(perm));
    seen[p] = true;
    shape[d] = x.shape[p];
    strides[d] = st[p];
  }
  CopyStridedTensor(x, 0, strides, c.Out(0, shape, x.dtype));
}

void Slice(const Ctx& c) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  Shape starts, ends, axes, steps;
  if (c.opset() < 10) {
    starts = c.Ints("starts");
    ends = c.Ints("ends");
    axes = c.Ints("axes");
  } else {
    starts = c.IntsOf(c.In(1), "starts");
    ends = c.IntsOf(c.In(2), "ends");
    if (const Tensor* t = c.Opt(3)) axes = c.IntsOf(*t, "axes");
    if (const Tensor* t = c.Opt(4)) steps = c.IntsOf(*t, "steps");
  }
  if (axes.empty()) {
    for (size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    c.Fail("starts, ends, axes and steps differ in length");
  const Shape st = Strides(x.shape);
  Shape shape = x.shape, strides = st;
  int64_t base = 0;
  std::vector<bool> seen(r, false);
  for (size_t k = 0; k < starts.size(); ++k) {
    const int64_t d = c.Axis(axes[k], r);
    if (seen[d]) c.Fail("axis {} is repeated", axes[k]);
    seen[d] = true;
    const int64_t dim = x.shape[d], step = steps[k];
    if (step == 0) c.Fail("step 0 on axis {}", axes[k]);
    int64_t b = starts[k], e = ends[k];
    if (b < 0) b += dim;
    if (e < 0) e += dim;
    int64_t n;
    if (step > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      n = e > b ? (e - b + step - 1) / step : 0;
    } else {
      b = std::clamp<int64_t>(b, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      n = b > e ? (b - e - step - 1) / -step : 0;
    }
    shape[d] = n;
    if (n > 0) base += b * st[d];
    strides[d] = st[d] * step;
  }
  Tensor& o = c.Out(0, shape, x.dtype);
  if (o.Elems() > 0) CopyStridedTensor(x, base, strides, o);
}

void Split(const Ctx& c) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const int64_t axis = c.Axis(c.Int("axis", 0), r);
  const int64_t dim = x.shape[axis];
  const int64_t n_out = static_cast<int64_t>(c.NumOut());
  Shape sizes;
  if (c.opset() >= 13) {
    if (const Tensor* t = c.Opt(1); t && t->Elems() > 0) sizes = c.IntsOf(*t, "split");
  } else {
    sizes = c.Ints("split");
    if (sizes.empty() && c.opset() < 2 && c.Opt(1)) sizes = c.IntsOf(*c.Opt(1), "split");
  }
  if (sizes.empty()) {
    const int64_t parts = c.Has("num_outputs") ? c.Int("num_outputs", n_out) : n_out;
    if (parts != n_out) c.Fail("num_outputs {} but {} outputs", parts, n_out);
    if (parts <= 0) c.Fail("no outputs");
    // Opset 18 allows an uneven split (the last part smaller); before, parts must be equal.
    if (dim % parts != 0 && c.opset() < 18)
      c.Fail("dimension {} does not split into {} equal parts", dim, parts);
    const int64_t chunk = CeilDiv(dim, parts);
    for (int64_t k = 0; k < parts; ++k)
      sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - k * chunk)));
  }
  if (static_cast<int64_t>(sizes.size()) != n_out)
    c.Fail("{} split sizes for {} outputs", sizes.size(), n_out);
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != dim) c.Fail("split sizes {} do not sum to {}", ShapeStr(sizes), dim);
  const int64_t outer = Prod(x.shape, 0, axis), inner = Prod(x.shape, axis + 1);
  int64_t at = 0;
  for (int64_t k = 0; k < n_out; ++k) {
    const int64_t len = sizes[k];
    if (c.Wants(k)) {
      Shape shape = x.shape;
      shape[axis] = len;
      Tensor& o = c.Out(k, shape, x.dtype);
      ByType(x, [&](auto tag) {
        using T = decltype(tag);
        const T* src = Data<T>(x);
        T* dst = Mut<T>(o);
        for (int64_t i = 0; i < outer; ++i)
          std::copy_n(src + (i * dim + at) * inner, len * inner, dst + i * len * inner);
      });
    }
    at += len;
  }
}

void Concat(const Ctx& c) {
  const Tensor& first = c.In(0);
  const int64_t r = static_cast<int64_t>(first.shape.size());
  if (!c.Has("axis") && c.opset() >= 4) c.Fail("attribute 'axis' is missing");
  const int64_t axis = c.Axis(c.Int("axis", 1), r);
  Shape shape = first.shape;
  shape[axis] = 0;
  for (size_t k = 0; k < c.NumIn(); ++k) {
    const Tensor& t = c.In(k);
    c.SameStorage(first, t);
    bool ok = static_cast<int64_t>(t.shape.size()) == r;
    for (int64_t d = 0; ok && d < r; ++d) ok = d == axis || t.shape[d] == first.shape[d];
    if (!ok)
      c.Fail("input {} of shape {} does not match {} off axis {}", k, ShapeStr(t.shape),
             ShapeStr(first.shape), axis);
    shape[axis] += t.shape[axis];
  }
  Tensor& o = c.Out(0, shape, first.dtype);
  const int64_t outer = Prod(shape, 0, axis), inner = Prod(shape, axis + 1);
  const int64_t out_row = shape[axis] * inner;
  int64_t at = 0;
  for (size_t k = 0; k < c.NumIn(); ++k) {
    const Tensor& t = c.In(k);
    const int64_t row = t.shape[axis] * inner;
    ByType(t, [&](auto tag) {
      using T = decltype(tag);
      const T* src = Data<T>(t);
      T* dst = Mut<T>(o);
      for (int64_t i = 0; i < outer; ++i) std::copy_n(src + i * row, row, dst + i * out_row + at);
    });
    at += row;
  }
}

void Gather(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Tensor& idx = c.In(1);
  const Shape& ind = c.IntsOf(idx, "indices");
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const int64_t axis = c.Axis(c.Int("axis", 0), r);
  Shape shape(x.shape.begin(), x.shape.begin() + axis);
  shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
  shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
  Tensor& o = c.Out(0, shape, x.dtype);
  const int64_t outer = Prod(x.shape, 0, axis), inner = Prod(x.shape, axis + 1);
  const int64_t dim = x.shape[axis], n = idx.Elems();
  for (int64_t j = 0; j < n; ++j)
    if (ind[j] < -dim || ind[j] >= dim)
      c.Fail("index {} is out of range [-{}, {})", ind[j], dim, dim);
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    const T* src = Data<T>(x);
    T* dst = Mut<T>(o);
    for (int64_t i = 0; i < outer; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        const int64_t k = ind[j] < 0 ? ind[j] + dim : ind[j];
        std::copy_n(src + (i * dim + k) * inner, inner, dst + (i * n + j) * inner);
      }
    }
  });
}

void GatherElements(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Tensor& idx = c.In(1);
  const Shape& ind = c.IntsOf(idx, "indices");
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (static_cast<int64_t>(idx.shape.size()) != r) c.Fail("indices rank differs from data rank");
  const int64_t axis = c.Axis(c.Int("axis", 0), r);
  const int64_t dim = x.shape[axis];
  for (int64_t v : ind)
    if (v < -dim || v >= dim) c.Fail("index {} is out of range [-{}, {})", v, dim, dim);
  Tensor& o = c.Out(0, idx.shape, x.dtype);
  Shape st = Strides(x.shape);
  const int64_t axis_stride = st[axis];
  st[axis] = 0;  // the axis coordinate comes from the index value
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    const T* src = Data<T>(x);
    T* dst = Mut<T>(o);
    ForEachRun<1>(idx.shape, {st},
                  [&](int64_t o0, const std::array<int64_t, 1>& off, int64_t n,
                      const std::array<int64_t, 1>& step) {
                    for (int64_t i = 0; i < n; ++i) {
                      const int64_t k = ind[o0 + i] < 0 ? ind[o0 + i] + dim : ind[o0 + i];
                      dst[o0 + i] = src[off[0] + i * step[0] + k * axis_stride];
                    }
                  });
  });
}

// Source index along one axis of length n for position i (may be outside [0, n)), -1 for the
// constant: Pad's modes.
int64_t PadIndex(int64_t i, int64_t n, int mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 1: {  // reflect (mirror without repeating the edge), repeated as often as needed
      if (n == 1) return 0;
      const int64_t period = 2 * (n - 1);
      int64_t j = i % period;
      if (j < 0) j += period;
      return j < n ? j : period - j;
    }
    case 2: return std::clamp<int64_t>(i, 0, n - 1);  // edge
    case 3: {                                         // wrap
      int64_t j = i % n;
      return j < 0 ? j + n : j;
    }
    default: return -1;  // constant
  }
}

void Pad(const Ctx& c) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const std::string mode_name = c.Str("mode", "constant");
  int mode = 0;
  if (mode_name == "reflect") mode = 1;
  else if (mode_name == "edge") mode = 2;
  else if (mode_name == "wrap") mode = 3;
  else if (mode_name != "constant") c.Fail("mode '{}' is not supported", mode_name);
  Shape pads, axes;
  double value = 0;
  if (c.opset() >= 11) {
    pads = c.IntsOf(c.In(1), "pads");
    if (const Tensor* v = c.Opt(2); v && v->Elems() > 0) value = c.Scalar(*v, "constant_value");
    if (const Tensor* a = c.Opt(3)) axes = c.IntsOf(*a, "axes");
  } else {
    pads = c.Has("pads") ? c.Ints("pads") : c.Ints("paddings");
    value = c.Float("value", 0.0f);
  }
  if (axes.empty()) {
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  }
  const int64_t na = static_cast<int64_t>(axes.size());
  if (static_cast<int64_t>(pads.size()) != 2 * na) c.Fail("{} pads for {} axes", pads.size(), na);
  Shape begin(r, 0), end(r, 0);
  for (int64_t k = 0; k < na; ++k) {
    const int64_t d = c.Axis(axes[k], r);
    begin[d] = pads[k];
    end[d] = pads[k + na];
  }
  Shape shape(r);
  std::vector<Shape> maps(r);
  for (int64_t d = 0; d < r; ++d) {
    const int64_t n = x.shape[d];
    shape[d] = n + begin[d] + end[d];
    if (shape[d] < 0) c.Fail("pads crop axis {} below zero", d);
    if (mode != 0 && n == 0 && shape[d] > 0) c.Fail("cannot {}-pad an empty axis", mode_name);
    maps[d].resize(shape[d]);
    for (int64_t i = 0; i < shape[d]; ++i) maps[d][i] = PadIndex(i - begin[d], n, mode);
  }
  Tensor& o = c.Out(0, shape, x.dtype);
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    GatherMaps<T>(Data<T>(x), x.shape, maps, shape, static_cast<T>(value), Mut<T>(o));
  });
}

void Range(const Ctx& c) {
  const Tensor& s = c.In(0);
  c.SameStorage(s, c.In(1));
  c.SameStorage(s, c.In(2));
  const double start = c.Scalar(s, "start"), limit = c.Scalar(c.In(1), "limit");
  const double delta = c.Scalar(c.In(2), "delta");
  if (delta == 0) c.Fail("delta is 0");
  const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((limit - start) / delta)));
  Tensor& o = c.Out(0, {n}, s.dtype);
  if (o.IsFloat()) {
    const float a = static_cast<float>(start), d = static_cast<float>(delta);
    for (int64_t k = 0; k < n; ++k) o.f32[k] = a + static_cast<float>(k) * d;
  } else {
    const int64_t a = s.i64[0], d = c.In(2).i64[0];
    for (int64_t k = 0; k < n; ++k) o.i64[k] = a + k * d;
  }
}

void Expand(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Shape& target = c.IntsOf(c.In(1), "shape");
  const Shape shape = c.Broadcast({&x.shape, &target});
  CopyStridedTensor(x, 0, BroadcastStrides(x.shape, shape), c.Out(0, shape, x.dtype));
}

void Tile(const Ctx& c) {
  const Tensor& x = c.In(0);
  const Shape& reps = c.IntsOf(c.In(1), "repeats");
  const size_t r = x.shape.size();
  if (reps.size() != r) c.Fail("{} repeats for rank {}", reps.size(), r);
  // Output dimension d indexed as (t, j) with t < reps[d], j < x.shape[d]: a 2r-D view of x whose
  // t-dimensions have stride 0.
  const Shape st = Strides(x.shape);
  Shape shape(r), view_shape, view_strides;
  for (size_t d = 0; d < r; ++d) {
    if (reps[d] < 0) c.Fail("negative repeat {}", reps[d]);
    shape[d] = x.shape[d] * reps[d];
    view_shape.insert(view_shape.end(), {reps[d], x.shape[d]});
    view_strides.insert(view_strides.end(), {0, st[d]});
  }
  Tensor& o = c.Out(0, shape, x.dtype);
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    CopyStrided<T>(Data<T>(x), 0, view_shape, view_strides, Mut<T>(o));
  });
}

// DepthToSpace and SpaceToDepth: a reshape to 6-D, a transpose and a reshape back.
void BlockRearrange(const Ctx& c, bool to_space) {
  const Tensor& x = c.In(0);
  if (x.shape.size() != 4) c.Fail("input must be 4-D, not {}", ShapeStr(x.shape));
  const int64_t b = c.Int("blocksize", 0);
  if (b <= 0) c.Fail("blocksize {} is invalid", b);
  const int64_t n = x.shape[0], ch = x.shape[1], h = x.shape[2], w = x.shape[3];
  Shape view, perm, shape;
  if (to_space) {
    if (ch % (b * b)) c.Fail("channels {} are not a multiple of blocksize^2", ch);
    const int64_t cc = ch / (b * b);
    if (c.Str("mode", "DCR") == "CRD") {
      view = {n, cc, b, b, h, w};
      perm = {0, 1, 4, 2, 5, 3};
    } else if (c.Str("mode", "DCR") == "DCR") {
      view = {n, b, b, cc, h, w};
      perm = {0, 3, 4, 1, 5, 2};
    } else {
      c.Fail("mode '{}' is not supported", c.Str("mode", ""));
    }
    shape = {n, cc, h * b, w * b};
  } else {
    if (h % b || w % b) c.Fail("spatial dims {}x{} are not multiples of blocksize {}", h, w, b);
    view = {n, ch, h / b, b, w / b, b};
    perm = {0, 3, 5, 1, 2, 4};
    shape = {n, ch * b * b, h / b, w / b};
  }
  const Shape st = Strides(view);
  Shape pshape(6), pstrides(6);
  for (int d = 0; d < 6; ++d) {
    pshape[d] = view[perm[d]];
    pstrides[d] = st[perm[d]];
  }
  Tensor& o = c.Out(0, shape, x.dtype);
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    CopyStrided<T>(Data<T>(x), 0, pshape, pstrides, Mut<T>(o));
  });
}

// ----------------------------------------------------------------------------------------------
// Reductions

enum class Red { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// acc[out offset of x's element] = f(acc[...], x) for every element of x; out_strides maps x's
// indices to the output (0 along reduced axes).
template <typename T, typename A, typename F>
void Accumulate(const Tensor& x, const Shape& out_strides, A* acc, F f) {
  const T* px = Data<T>(x);
  ForEachRun<1>(x.shape, {out_strides},
                [&](int64_t o0, const std::array<int64_t, 1>& off, int64_t n,
                    const std::array<int64_t, 1>& step) {
                  A* a = acc + off[0];
                  const T* v = px + o0;
                  const int64_t s = step[0];
                  for (int64_t i = 0; i < n; ++i) a[i * s] = f(a[i * s], v[i]);
                });
}

void Reduce(const Ctx& c, Red kind) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const bool axes_input = c.op() == "ReduceSum" ? c.opset() >= 13 : c.opset() >= 18;
  Shape axes;
  if (axes_input) {
    if (const Tensor* t = c.Opt(1)) axes = c.IntsOf(*t, "axes");
  } else {
    if (c.Opt(1)) c.Fail("axes as an input needs opset {}", c.op() == "ReduceSum" ? 13 : 18);
    axes = c.Ints("axes");
  }
  const bool keep = c.Int("keepdims", 1) != 0;
  if (axes.empty() && c.Int("noop_with_empty_axes", 0) != 0) {
    CopyData(x, c.Out(0, x.shape, x.dtype));
    return;
  }
  std::vector<bool> reduced(r, axes.empty());
  for (int64_t a : axes) reduced[c.Axis(a, r)] = true;
  Shape shape, kept_dims;
  int64_t count = 1;
  for (int64_t d = 0; d < r; ++d) {
    if (reduced[d]) {
      count *= x.shape[d];
      if (keep) shape.push_back(1);
    } else {
      shape.push_back(x.shape[d]);
    }
  }
  // Strides into the output for each input axis: row-major over kept axes, 0 over reduced ones.
  Shape out_strides(r, 0);
  int64_t acc_stride = 1;
  for (int64_t d = r; d-- > 0;) {
    if (reduced[d]) continue;
    out_strides[d] = acc_stride;
    acc_stride *= x.shape[d];
  }
  Tensor& o = c.Out(0, shape, x.dtype);
  const size_t n_out = static_cast<size_t>(o.Elems());
  if (!x.IsFloat()) {
    int64_t init = 0;
    if (kind == Red::kProd) init = 1;
    if (kind == Red::kMax) init = std::numeric_limits<int64_t>::min();
    if (kind == Red::kMin) init = std::numeric_limits<int64_t>::max();
    std::vector<int64_t> acc(n_out, init);
    auto run = [&](auto f) { Accumulate<int64_t>(x, out_strides, acc.data(), f); };
    switch (kind) {
      case Red::kSum:
      case Red::kMean: run([](int64_t a, int64_t v) { return a + v; }); break;
      case Red::kMax: run([](int64_t a, int64_t v) { return std::max(a, v); }); break;
      case Red::kMin: run([](int64_t a, int64_t v) { return std::min(a, v); }); break;
      case Red::kProd: run([](int64_t a, int64_t v) { return a * v; }); break;
      case Red::kL1: run([](int64_t a, int64_t v) { return a + (v < 0 ? -v : v); }); break;
      case Red::kSumSquare: run([](int64_t a, int64_t v) { return a + v * v; }); break;
      default: c.Fail("integer input of dtype {} is not supported", x.dtype);
    }
    for (size_t k = 0; k < n_out; ++k)
      o.i64[k] = kind == Red::kMean ? (count ? acc[k] / count : 0) : acc[k];
    Narrow(o);
    return;
  }
  // Float: accumulate in double so that long reductions stay accurate.
  double init = 0;
  if (kind == Red::kProd) init = 1;
  if (kind == Red::kMax || kind == Red::kLogSumExp) init = -kInf;
  if (kind == Red::kMin) init = kInf;
  std::vector<double> acc(n_out, init);
  auto run = [&](auto f) { Accumulate<float>(x, out_strides, acc.data(), f); };
  switch (kind) {
    case Red::kSum:
    case Red::kMean:
    case Red::kLogSum: run([](double a, float v) { return a + v; }); break;
    case Red::kMax: run([](double a, float v) { return v > a || std::isnan(v) ? v : a; }); break;
    case Red::kMin: run([](double a, float v) { return v < a || std::isnan(v) ? v : a; }); break;
    case Red::kProd: run([](double a, float v) { return a * v; }); break;
    case Red::kL1: run([](double a, float v) { return a + std::fabs(v); }); break;
    case Red::kL2:
    case Red::kSumSquare: run([](double a, float v) { return a + double(v) * v; }); break;
    case Red::kLogSumExp: {
      // Two passes, the maximum then the sum of exp(x - max), so that large values cannot overflow.
      run([](double a, float v) { return std::max<double>(a, v); });
      std::vector<double> shift(acc);
      for (double& s : shift)
        if (!std::isfinite(s)) s = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* px = x.f32.data();
      ForEachRun<1>(x.shape, {out_strides},
                    [&](int64_t o0, const std::array<int64_t, 1>& off, int64_t n,
                        const std::array<int64_t, 1>& step) {
                      for (int64_t i = 0; i < n; ++i) {
                        const int64_t j = off[0] + i * step[0];
                        acc[j] += std::exp(px[o0 + i] - shift[j]);
                      }
                    });
      for (size_t k = 0; k < n_out; ++k) acc[k] = shift[k] + std::log(acc[k]);
      break;
    }
  }
  for (size_t k = 0; k < n_out; ++k) {
    double v = acc[k];
    if (kind == Red::kMean) v /= static_cast<double>(count);
    else if (kind == Red::kL2) v = std::sqrt(v);
    else if (kind == Red::kLogSum) v = std::log(v);
    o.f32[k] = static_cast<float>(v);
  }
}

void ArgMinMax(const Ctx& c, bool max) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const int64_t axis = c.Axis(c.Int("axis", 0), r);
  const bool keep = c.Int("keepdims", 1) != 0, last = c.Int("select_last_index", 0) != 0;
  Shape shape = x.shape;
  if (keep) shape[axis] = 1;
  else shape.erase(shape.begin() + axis);
  Tensor& o = c.Out(0, shape, "i64");
  const int64_t outer = Prod(x.shape, 0, axis), n = x.shape[axis], inner = Prod(x.shape, axis + 1);
  if (n == 0) c.Fail("axis {} is empty", axis);
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    const T* px = Data<T>(x);
    for (int64_t i = 0; i < outer; ++i) {
      for (int64_t k = 0; k < inner; ++k) {
        const T* p = px + i * n * inner + k;
        int64_t best = 0;
        T bv = p[0];
        for (int64_t j = 1; j < n; ++j) {
          const T v = p[j * inner];
          const bool better = max ? (last ? v >= bv : v > bv) : (last ? v <= bv : v < bv);
          if (better) {
            bv = v;
            best = j;
          }
        }
        o.i64[i * inner + k] = best;
      }
    }
  });
}

// ----------------------------------------------------------------------------------------------
// Softmax family and normalizations

// Softmax, LogSoftmax, Hardmax: opset < 13 coerces the input to 2-D at `axis` (default 1); from 13
// they work along one axis (default -1).
void SoftmaxFamily(const Ctx& c, int kind) {
  const Tensor& x = c.InFloat(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r == 0) c.Fail("scalar input");
  int64_t outer, n, inner;
  if (c.opset() < 13) {
    int64_t axis = c.Int("axis", 1);
    if (axis < -r || axis > r) c.Fail("axis {} is out of range for rank {}", axis, r);
    if (axis < 0) axis += r;
    outer = Prod(x.shape, 0, axis);
    n = Prod(x.shape, axis);
    inner = 1;
  } else {
    const int64_t axis = c.Axis(c.Int("axis", -1), r);
    outer = Prod(x.shape, 0, axis);
    n = x.shape[axis];
    inner = Prod(x.shape, axis + 1);
  }
  Tensor& o = c.Out(0, x.shape, x.dtype);
  std::vector<float> mx(inner), sum(inner);
  std::vector<int64_t> arg(inner);
  for (int64_t i = 0; i < outer; ++i) {
    const float* px = x.f32.data() + i * n * inner;
    float* po = o.f32.data() + i * n * inner;
    std::fill(mx.begin(), mx.end(), -kInf);
    std::fill(arg.begin(), arg.end(), 0);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < inner; ++k)
        if (px[j * inner + k] > mx[k]) {
          mx[k] = px[j * inner + k];
          arg[k] = j;
        }
    if (kind == 2) {  // Hardmax: 1 at the first maximum
      std::fill(po, po + n * inner, 0.0f);
      for (int64_t k = 0; k < inner; ++k) po[arg[k] * inner + k] = 1.0f;
      continue;
    }
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t k = 0; k < inner; ++k) {
        const float e = std::exp(px[j * inner + k] - mx[k]);
        po[j * inner + k] = e;
        sum[k] += e;
      }
    if (kind == 0) {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < inner; ++k) po[j * inner + k] /= sum[k];
    } else {
      for (int64_t k = 0; k < inner; ++k) sum[k] = mx[k] + std::log(sum[k]);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < inner; ++k) po[j * inner + k] = px[j * inner + k] - sum[k];
    }
  }
}

// `t` expanded (broadcast) to `shape` as a plain vector: per-channel or per-feature parameters.
std::vector<float> ExpandParam(const Ctx& c, const Tensor& t, const Shape& shape,
                               const char* what) {
  if (!t.IsFloat()) c.Fail("{} must be f32, not {}", what, t.dtype);
  c.CheckBroadcastsTo(t.shape, shape, what);
  std::vector<float> v(static_cast<size_t>(Prod(shape)));
  CopyStrided<float>(t.f32.data(), 0, shape, BroadcastStrides(t.shape, shape), v.data());
  return v;
}

void BatchNormalization(const Ctx& c) {
  if (c.Int("training_mode", 0) != 0) c.Fail("training_mode=1 is not supported (inference only)");
  if (c.opset() < 9 && c.Int("spatial", 1) == 0) c.Fail("spatial=0 is not supported");
  for (size_t k = 1; k < c.NumOut(); ++k)
    if (c.Wants(k)) c.Fail("training outputs (running and saved mean/var) are not supported");
  const Tensor& x = c.InFloat(0);
  if (x.shape.size() < 2) c.Fail("input must have a channel axis, not {}", ShapeStr(x.shape));
  const int64_t n = x.shape[0], ch = x.shape[1], inner = Prod(x.shape, 2);
  const Shape cs{ch};
  const auto scale = ExpandParam(c, c.In(1), cs, "scale");
  const auto bias = ExpandParam(c, c.In(2), cs, "B");
  const auto mean = ExpandParam(c, c.In(3), cs, "mean");
  const auto var = ExpandParam(c, c.In(4), cs, "var");
  const float eps = c.Float("epsilon", 1e-5f);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  for (int64_t j = 0; j < ch; ++j) {
    const float inv = scale[j] / std::sqrt(var[j] + eps);
    for (int64_t i = 0; i < n; ++i) {
      const float* px = x.f32.data() + (i * ch + j) * inner;
      float* po = o.f32.data() + (i * ch + j) * inner;
      for (int64_t k = 0; k < inner; ++k) po[k] = (px[k] - mean[j]) * inv + bias[j];
    }
  }
}

void InstanceNormalization(const Ctx& c) {
  const Tensor& x = c.InFloat(0);
  if (x.shape.size() < 3) c.Fail("input must be N x C x spatial, not {}", ShapeStr(x.shape));
  const int64_t n = x.shape[0], ch = x.shape[1], inner = Prod(x.shape, 2);
  const auto scale = ExpandParam(c, c.In(1), {ch}, "scale");
  const auto bias = ExpandParam(c, c.In(2), {ch}, "B");
  const double eps = c.Float("epsilon", 1e-5f);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  for (int64_t p = 0; p < n * ch; ++p) {
    const float* px = x.f32.data() + p * inner;
    float* po = o.f32.data() + p * inner;
    double mean = 0, var = 0;
    for (int64_t k = 0; k < inner; ++k) mean += px[k];
    mean /= static_cast<double>(inner);
    for (int64_t k = 0; k < inner; ++k) var += (px[k] - mean) * (px[k] - mean);
    var /= static_cast<double>(inner);
    const double a = scale[p % ch] / std::sqrt(var + eps);
    for (int64_t k = 0; k < inner; ++k)
      po[k] = static_cast<float>((px[k] - mean) * a + bias[p % ch]);
  }
}

void LayerNormalization(const Ctx& c) {
  const Tensor& x = c.InFloat(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const int64_t axis = c.Axis(c.Int("axis", -1), r);
  const Shape norm(x.shape.begin() + axis, x.shape.end());
  const int64_t outer = Prod(x.shape, 0, axis), n = Prod(norm);
  const auto scale = ExpandParam(c, c.In(1), norm, "Scale");
  std::vector<float> bias;
  if (const Tensor* b = c.Opt(2)) bias = ExpandParam(c, *b, norm, "B");
  const double eps = c.Float("epsilon", 1e-5f);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  Shape stat_shape(x.shape.begin(), x.shape.begin() + axis);
  stat_shape.resize(r, 1);
  Tensor* mean_out = c.Wants(1) ? &c.Out(1, stat_shape, "f32") : nullptr;
  Tensor* inv_out = c.Wants(2) ? &c.Out(2, stat_shape, "f32") : nullptr;
  for (int64_t i = 0; i < outer; ++i) {
    const float* px = x.f32.data() + i * n;
    float* po = o.f32.data() + i * n;
    double mean = 0, var = 0;
    for (int64_t k = 0; k < n; ++k) mean += px[k];
    mean /= static_cast<double>(n);
    for (int64_t k = 0; k < n; ++k) var += (px[k] - mean) * (px[k] - mean);
    var /= static_cast<double>(n);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t k = 0; k < n; ++k) {
      const double y = (px[k] - mean) * inv * scale[k];
      po[k] = static_cast<float>(bias.empty() ? y : y + bias[k]);
    }
    if (mean_out) mean_out->f32[i] = static_cast<float>(mean);
    if (inv_out) inv_out->f32[i] = static_cast<float>(inv);
  }
}

void LpNormalization(const Ctx& c) {
  const Tensor& x = c.InFloat(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const int64_t axis = c.Axis(c.Int("axis", -1), r);
  const int64_t p = c.Int("p", 2);
  if (p != 1 && p != 2) c.Fail("p={} is not supported (1 or 2)", p);
  const int64_t outer = Prod(x.shape, 0, axis), n = x.shape[axis], inner = Prod(x.shape, axis + 1);
  Tensor& o = c.Out(0, x.shape, x.dtype);
  for (int64_t i = 0; i < outer; ++i) {
    for (int64_t k = 0; k < inner; ++k) {
      const float* px = x.f32.data() + i * n * inner + k;
      float* po = o.f32.data() + i * n * inner + k;
      double norm = 0;
      for (int64_t j = 0; j < n; ++j) {
        const double v = px[j * inner];
        norm += p == 1 ? std::fabs(v) : v * v;
      }
      if (p == 2) norm = std::sqrt(norm);
      for (int64_t j = 0; j < n; ++j)
        po[j * inner] = norm == 0 ? 0.0f : static_cast<float>(px[j * inner] / norm);
    }
  }
}

// ----------------------------------------------------------------------------------------------
// MatMul, Gemm

// c[M x N] = a[M x K] * b[K x N], row-major; k outside j keeps the reads of b sequential.
template <typename T>
void MatMulKernel(int64_t m, int64_t n, int64_t k, const T* a, const T* b, T* c) {
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * n;
    std::fill(row, row + n, T(0));
    for (int64_t p = 0; p < k; ++p) {
      const T av = a[i * k + p];
      const T* brow = b + p * n;
      for (int64_t j = 0; j < n; ++j) row[j] += av * brow[j];
    }
  }
}

void MatMul(const Ctx& c) {
  const Tensor& a = c.In(0);
  const Tensor& b = c.In(1);
  c.SameStorage(a, b);
  if (a.shape.empty() || b.shape.empty()) c.Fail("scalar operands are not allowed");
  // Numpy: a 1-D a is a row [1, K], a 1-D b a column [K, 1]; the added dimension is dropped after.
  const Shape as = a.shape.size() == 1 ? Shape{1, a.shape[0]} : a.shape;
  const Shape bs = b.shape.size() == 1 ? Shape{b.shape[0], 1} : b.shape;
  const int64_t m = as[as.size() - 2], k = as.back(), k2 = bs[bs.size() - 2], n = bs.back();
  if (k != k2) c.Fail("inner dimensions differ: {} x {}", ShapeStr(a.shape), ShapeStr(b.shape));
  const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  const Shape batch = c.Broadcast({&ab, &bb});
  Shape shape = batch;
  if (a.shape.size() > 1) shape.push_back(m);
  if (b.shape.size() > 1) shape.push_back(n);
  Tensor& o = c.Out(0, shape, a.dtype);
  ByType(a, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = Data<T>(a);
    const T* pb = Data<T>(b);
    T* po = Mut<T>(o);
    ForEachRun<2>(batch, {BroadcastStrides(ab, batch), BroadcastStrides(bb, batch)},
                  [&](int64_t o0, const std::array<int64_t, 2>& off, int64_t cnt,
                      const std::array<int64_t, 2>& st) {
                    for (int64_t i = 0; i < cnt; ++i)
                      MatMulKernel<T>(m, n, k, pa + (off[0] + i * st[0]) * m * k,
                                      pb + (off[1] + i * st[1]) * k * n, po + (o0 + i) * m * n);
                  });
  });
  if (!o.IsFloat()) Narrow(o);
}

void Gemm(const Ctx& c) {
  const Tensor& a = c.InFloat(0);
  const Tensor& b = c.InFloat(1);
  if (a.shape.size() != 2 || b.shape.size() != 2)
    c.Fail("A and B must be 2-D, not {} and {}", ShapeStr(a.shape), ShapeStr(b.shape));
  const bool ta = c.Int("transA", 0) != 0, tb = c.Int("transB", 0) != 0;
  const float alpha = c.Float("alpha", 1.0f), beta = c.Float("beta", 1.0f);
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t k2 = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k != k2) c.Fail("inner dimensions differ: {} x {}", ShapeStr(a.shape), ShapeStr(b.shape));
  const Shape shape{m, n};
  Tensor& o = c.Out(0, shape, a.dtype);
  std::vector<float> bias;
  if (const Tensor* t = c.Opt(2); t && beta != 0) bias = ExpandParam(c, *t, shape, "C");
  const float* pa = a.f32.data();
  const float* pb = b.f32.data();
  for (int64_t i = 0; i < m; ++i) {
    float* row = o.f32.data() + i * n;
    std::fill(row, row + n, 0.0f);
    for (int64_t p = 0; p < k; ++p) {
      const float av = ta ? pa[p * m + i] : pa[i * k + p];
      if (tb) {
        for (int64_t j = 0; j < n; ++j) row[j] += av * pb[j * k + p];
      } else {
        const float* brow = pb + p * n;
        for (int64_t j = 0; j < n; ++j) row[j] += av * brow[j];
      }
    }
    for (int64_t j = 0; j < n; ++j)
      row[j] = alpha * row[j] + (bias.empty() ? 0.0f : beta * bias[i * n + j]);
  }
}

// ----------------------------------------------------------------------------------------------
// Convolution and pooling. Spatial dimensions (1 to 3) are placed last in 3-slot arrays, the unused
// leading slots of size 1, so that one triple loop serves 1-D, 2-D and 3-D.

struct Geom {
  int nsp = 0;  // spatial rank
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1};
  std::array<int64_t, 3> pb{0, 0, 0}, pe{0, 0, 0};
  int64_t InSize() const { return in[0] * in[1] * in[2]; }
  int64_t OutSize() const { return out[0] * out[1] * out[2]; }
  int64_t KSize() const { return k[0] * k[1] * k[2]; }
  Shape OutShape(int64_t n, int64_t ch) const {
    Shape s{n, ch};
    for (int i = 3 - nsp; i < 3; ++i) s.push_back(out[i]);
    return s;
  }
};

// Reads strides, dilations, pads and auto_pad for a window of `kernel` over x (N x C x spatial) and
// computes the output's spatial size (ceil_mode for pooling).
Geom ReadGeom(const Ctx& c, const Shape& x, const Shape& kernel, bool ceil_mode) {
  const int64_t r = static_cast<int64_t>(x.size());
  if (r < 3 || r > 5) c.Fail("input of shape {} is not N x C x (1 to 3 spatial dims)", ShapeStr(x));
  Geom g;
  g.nsp = static_cast<int>(r - 2);
  const size_t nsp = static_cast<size_t>(g.nsp);
  if (kernel.size() != nsp)
    c.Fail("kernel {} does not match input {}", ShapeStr(kernel), ShapeStr(x));
  Shape strides = c.Ints("strides"), dil = c.Ints("dilations"), pads = c.Ints("pads");
  if (strides.empty()) strides.assign(nsp, 1);
  if (dil.empty()) dil.assign(nsp, 1);
  if (pads.empty()) pads.assign(2 * nsp, 0);
  if (strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp)
    c.Fail("strides, dilations or pads do not match {} spatial dims", nsp);
  const std::string auto_pad = c.Str("auto_pad", "NOTSET");
  for (size_t i = 0; i < nsp; ++i) {
    const size_t j = 3 - nsp + i;
    g.in[j] = x[2 + i];
    g.k[j] = kernel[i];
    g.s[j] = strides[i];
    g.d[j] = dil[i];
    if (g.k[j] <= 0 || g.s[j] <= 0 || g.d[j] <= 0)
      c.Fail("kernel, strides and dilations must be > 0");
    const int64_t ek = (g.k[j] - 1) * g.d[j] + 1;
    if (auto_pad == "NOTSET") {
      g.pb[j] = pads[i];
      g.pe[j] = pads[i + nsp];
      const int64_t span = g.in[j] + g.pb[j] + g.pe[j] - ek;
      if (span < 0) c.Fail("window {} exceeds the padded input on spatial axis {}", ek, i);
      g.out[j] = (ceil_mode ? CeilDiv(span, g.s[j]) : span / g.s[j]) + 1;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      g.out[j] = CeilDiv(g.in[j], g.s[j]);
      const int64_t total = std::max<int64_t>(0, (g.out[j] - 1) * g.s[j] + ek - g.in[j]);
      g.pb[j] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.pe[j] = total - g.pb[j];
    } else if (auto_pad == "VALID") {
      g.out[j] = std::max<int64_t>(0, (g.in[j] - ek) / g.s[j] + 1);
    } else {
      c.Fail("auto_pad '{}' is not supported", auto_pad);
    }
  }
  return g;
}

// Output positions o in [lo, hi) whose input position o*s - p + off lies in [0, n).
std::pair<int64_t, int64_t> ValidRange(int64_t n, int64_t out, int64_t s, int64_t p, int64_t off) {
  const int64_t lo = std::max<int64_t>(0, CeilDiv(p - off, s));
  const int64_t hi = std::min<int64_t>(out, FloorDiv(n - 1 + p - off, s) + 1);
  return {lo, std::max(lo, hi)};
}

void Conv(const Ctx& c) {
  const Tensor& x = c.InFloat(0);
  const Tensor& w = c.InFloat(1);
  if (w.shape.size() != x.shape.size())
    c.Fail("weights {} do not match input {}", ShapeStr(w.shape), ShapeStr(x.shape));
  const Shape kernel(w.shape.begin() + 2, w.shape.end());
  const Geom g = ReadGeom(c, x.shape, kernel, false);
  const int64_t n = x.shape[0], ch = x.shape[1], m = w.shape[0], groups = c.Int("group", 1);
  if (groups <= 0 || ch % groups || m % groups || w.shape[1] != ch / groups)
    c.Fail("group {} does not fit input channels {} and weights {}", groups, ch, ShapeStr(w.shape));
  const int64_t cg = ch / groups, mg = m / groups;
  std::vector<float> bias;
  if (const Tensor* b = c.Opt(2)) bias = ExpandParam(c, *b, {m}, "B");
  Tensor& o = c.Out(0, g.OutShape(n, m), x.dtype);
  const int64_t isz = g.InSize(), osz = g.OutSize(), ksz = g.KSize();
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t oc = 0; oc < m; ++oc) {
      float* yp = o.f32.data() + (b * m + oc) * osz;
      std::fill(yp, yp + osz, bias.empty() ? 0.0f : bias[oc]);
      const int64_t grp = oc / mg;
      for (int64_t ic = 0; ic < cg; ++ic) {
        const float* xp = x.f32.data() + (b * ch + grp * cg + ic) * isz;
        const float* wp = w.f32.data() + (oc * cg + ic) * ksz;
        for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
          for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
            for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
              const float wv = wp[(k0 * g.k[1] + k1) * g.k[2] + k2];
              const auto [lo, hi] = ValidRange(g.in[2], g.out[2], g.s[2], g.pb[2], k2 * g.d[2]);
              if (lo >= hi) continue;
              for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
                const int64_t i0 = o0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                if (i0 < 0 || i0 >= g.in[0]) continue;
                for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
                  const int64_t i1 = o1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                  if (i1 < 0 || i1 >= g.in[1]) continue;
                  const float* xr = xp + (i0 * g.in[1] + i1) * g.in[2] - g.pb[2] + k2 * g.d[2];
                  float* yr = yp + (o0 * g.out[1] + o1) * g.out[2];
                  for (int64_t o2 = lo; o2 < hi; ++o2) yr[o2] += wv * xr[o2 * g.s[2]];
                }
              }
            }
      }
    }
  }
}

void ConvTranspose(const Ctx& c) {
  const Tensor& x = c.InFloat(0);
  const Tensor& w = c.InFloat(1);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  if (r < 3 || r > 5 || static_cast<int64_t>(w.shape.size()) != r)
    c.Fail("input {} and weights {} are not N x C x (1 to 3 spatial dims)", ShapeStr(x.shape),
           ShapeStr(w.shape));
  const size_t nsp = static_cast<size_t>(r - 2);
  const int64_t n = x.shape[0], ch = x.shape[1], groups = c.Int("group", 1);
  if (groups <= 0 || ch % groups || w.shape[0] != ch)
    c.Fail("group {} does not fit input channels {} and weights {}", groups, ch, ShapeStr(w.shape));
  const int64_t cg = ch / groups, mg = w.shape[1], m = mg * groups;
  Shape strides = c.Ints("strides"), dil = c.Ints("dilations"), pads = c.Ints("pads");
  Shape out_pad = c.Ints("output_padding"), out_shape = c.Ints("output_shape");
  if (strides.empty()) strides.assign(nsp, 1);
  if (dil.empty()) dil.assign(nsp, 1);
  if (pads.empty()) pads.assign(2 * nsp, 0);
  if (out_pad.empty()) out_pad.assign(nsp, 0);
  if (out_shape.size() == nsp + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  if (strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp ||
      out_pad.size() != nsp || (!out_shape.empty() && out_shape.size() != nsp))
    c.Fail("strides, dilations, pads, output_padding or output_shape do not match {} spatial dims",
           nsp);
  const std::string auto_pad = c.Str("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" &&
      auto_pad != "SAME_LOWER")
    c.Fail("auto_pad '{}' is not supported", auto_pad);
  Geom g;
  g.nsp = static_cast<int>(nsp);
  for (size_t i = 0; i < nsp; ++i) {
    const size_t j = 3 - nsp + i;
    g.in[j] = x.shape[2 + i];
    g.k[j] = w.shape[2 + i];
    g.s[j] = strides[i];
    g.d[j] = dil[i];
    const int64_t ek = (g.k[j] - 1) * g.d[j] + 1;
    const int64_t full = g.s[j] * (g.in[j] - 1) + out_pad[i] + ek;
    // With output_shape or SAME, the total padding follows from the output size: SAME_UPPER puts
    // the odd unit at the end, otherwise at the beginning (the ONNX spec's formulas, with Python's
    // floor division: a negative total, an output_shape beyond the natural size, extends the end).
    int64_t target = -1;
    if (!out_shape.empty()) target = out_shape[i];
    else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") target = g.in[j] * g.s[j];
    if (target >= 0) {
      const int64_t total = full - target, half = FloorDiv(total, 2);
      g.pb[j] = auto_pad == "SAME_UPPER" ? half : total - half;
      g.pe[j] = total - g.pb[j];
      g.out[j] = target;
    } else {
      if (auto_pad == "NOTSET") {
        g.pb[j] = pads[i];
        g.pe[j] = pads[i + nsp];
      }
      g.out[j] = full - g.pb[j] - g.pe[j];
    }
    if (g.out[j] < 0) c.Fail("negative output size on spatial axis {}", i);
  }
  std::vector<float> bias;
  if (const Tensor* b = c.Opt(2)) bias = ExpandParam(c, *b, {m}, "B");
  Tensor& o = c.Out(0, g.OutShape(n, m), x.dtype);
  const int64_t isz = g.InSize(), osz = g.OutSize(), ksz = g.KSize();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < m; ++oc) {
      float* yp = o.f32.data() + (b * m + oc) * osz;
      std::fill(yp, yp + osz, bias.empty() ? 0.0f : bias[oc]);
    }
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ic = 0; ic < ch; ++ic) {
      const int64_t grp = ic / cg;
      const float* xp = x.f32.data() + (b * ch + ic) * isz;
      for (int64_t om = 0; om < mg; ++om) {
        const int64_t oc = grp * mg + om;
        float* yp = o.f32.data() + (b * m + oc) * osz;
        const float* wp = w.f32.data() + (ic * mg + om) * ksz;
        for (int64_t k0 = 0; k0 < g.k[0]; ++k0)
          for (int64_t k1 = 0; k1 < g.k[1]; ++k1)
            for (int64_t k2 = 0; k2 < g.k[2]; ++k2) {
              const float wv = wp[(k0 * g.k[1] + k1) * g.k[2] + k2];
              // Input positions i2 whose output i2*s - p + k*d lies in [0, out).
              const auto [lo, hi] = ValidRange(g.out[2], g.in[2], g.s[2], g.pb[2], k2 * g.d[2]);
              if (lo >= hi) continue;
              for (int64_t i0 = 0; i0 < g.in[0]; ++i0) {
                const int64_t o0 = i0 * g.s[0] - g.pb[0] + k0 * g.d[0];
                if (o0 < 0 || o0 >= g.out[0]) continue;
                for (int64_t i1 = 0; i1 < g.in[1]; ++i1) {
                  const int64_t o1 = i1 * g.s[1] - g.pb[1] + k1 * g.d[1];
                  if (o1 < 0 || o1 >= g.out[1]) continue;
                  const float* xr = xp + (i0 * g.in[1] + i1) * g.in[2];
                  float* yr = yp + (o0 * g.out[1] + o1) * g.out[2] - g.pb[2] + k2 * g.d[2];
                  for (int64_t i2 = lo; i2 < hi; ++i2) yr[i2 * g.s[2]] += wv * xr[i2];
                }
              }
            }
      }
    }
  }
}

// The window positions along one slot: first input index, count within [0, n) and count within the
// padded extent [-pb, n + pe) (AveragePool's count_include_pad divisor).
struct Span {
  int64_t first, valid, padded;
};

Span WindowSpan(const Geom& g, int j, int64_t o) {
  const int64_t start = o * g.s[j] - g.pb[j];
  Span sp{start, 0, 0};
  for (int64_t t = 0; t < g.k[j]; ++t) {
    const int64_t i = start + t * g.d[j];
    sp.valid += i >= 0 && i < g.in[j];
    sp.padded += i >= -g.pb[j] && i < g.in[j] + g.pe[j];
  }
  return sp;
}

void Pool(const Ctx& c, bool max) {
  const Tensor& x = c.In(0);
  if (!max && !x.IsFloat()) c.Fail("input of dtype {} is not supported (f32 only)", x.dtype);
  const Geom g = ReadGeom(c, x.shape, c.Ints("kernel_shape"), c.Int("ceil_mode", 0) != 0);
  if (!max && c.Has("dilations") && c.opset() < 19) c.Fail("dilations need opset 19");
  const bool include_pad = c.Int("count_include_pad", 0) != 0;
  const int64_t order = c.Int("storage_order", 0);
  const int64_t planes = x.shape[0] * x.shape[1], isz = g.InSize(), osz = g.OutSize();
  Tensor& o = c.Out(0, g.OutShape(x.shape[0], x.shape[1]), x.dtype);
  Tensor* idx = max && c.Wants(1) ? &c.Out(1, o.shape, "i64") : nullptr;
  ByType(x, [&](auto tag) {
    using T = decltype(tag);
    const T* px = Data<T>(x);
    T* po = Mut<T>(o);
    for (int64_t p = 0; p < planes; ++p) {
      const T* xp = px + p * isz;
      int64_t at = p * osz;
      for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
        const Span s0 = WindowSpan(g, 0, o0);
        for (int64_t o1 = 0; o1 < g.out[1]; ++o1) {
          const Span s1 = WindowSpan(g, 1, o1);
          for (int64_t o2 = 0; o2 < g.out[2]; ++o2, ++at) {
            const Span s2 = WindowSpan(g, 2, o2);
            T best = std::numeric_limits<T>::lowest();
            int64_t best_at = 0;
            double sum = 0;
            for (int64_t t0 = 0; t0 < g.k[0]; ++t0) {
              const int64_t i0 = s0.first + t0 * g.d[0];
              if (i0 < 0 || i0 >= g.in[0]) continue;
              for (int64_t t1 = 0; t1 < g.k[1]; ++t1) {
                const int64_t i1 = s1.first + t1 * g.d[1];
                if (i1 < 0 || i1 >= g.in[1]) continue;
                for (int64_t t2 = 0; t2 < g.k[2]; ++t2) {
                  const int64_t i2 = s2.first + t2 * g.d[2];
                  if (i2 < 0 || i2 >= g.in[2]) continue;
                  const int64_t local = (i0 * g.in[1] + i1) * g.in[2] + i2;
                  const T v = xp[local];
                  if (max) {
                    if (v > best) {
                      best = v;
                      best_at = order ? (i2 * g.in[1] + i1) * g.in[0] + i0 : local;
                    }
                  } else {
                    sum += v;
                  }
                }
              }
            }
            if (max) {
              po[at] = best;
              if (idx) idx->i64[at] = p * isz + best_at;
            } else {
              const int64_t count =
                  include_pad ? s0.padded * s1.padded * s2.padded : s0.valid * s1.valid * s2.valid;
              po[at] = static_cast<T>(count ? sum / static_cast<double>(count) : 0.0);
            }
          }
        }
      }
    }
  });
}

void GlobalPool(const Ctx& c, bool max) {
  const Tensor& x = c.InFloat(0);
  if (x.shape.size() < 2) c.Fail("input {} has no channel axis", ShapeStr(x.shape));
  Shape shape(x.shape.size(), 1);
  shape[0] = x.shape[0];
  shape[1] = x.shape[1];
  Tensor& o = c.Out(0, shape, x.dtype);
  const int64_t planes = x.shape[0] * x.shape[1], inner = Prod(x.shape, 2);
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x.f32.data() + p * inner;
    if (max) {
      float best = -kInf;
      for (int64_t k = 0; k < inner; ++k) best = std::max(best, xp[k]);
      o.f32[p] = best;
    } else {
      double sum = 0;
      for (int64_t k = 0; k < inner; ++k) sum += xp[k];
      o.f32[p] = static_cast<float>(sum / static_cast<double>(inner));
    }
  }
}

// ----------------------------------------------------------------------------------------------
// Resize and Upsample

// Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample (opset 7-8: scales
// attribute; 9: scales input). Nearest is a gather through per-axis index maps; linear is
// separable, one pass per axis that changes.
void Resize(const Ctx& c) {
  const Tensor& x = c.In(0);
  const int64_t r = static_cast<int64_t>(x.shape.size());
  const bool upsample = c.op() == "Upsample";
  std::vector<float> scales, roi;
  Shape sizes;
  if (upsample) {
    if (c.opset() < 7) c.Fail("Upsample-1 (height_scale/width_scale) is not supported");
    scales = c.opset() < 9 ? c.Floats("scales") : c.FloatsOf(c.In(1), "scales");
  } else if (c.opset() < 11) {
    scales = c.FloatsOf(c.In(1), "scales");
  } else {
    if (const Tensor* t = c.Opt(1)) roi = c.FloatsOf(*t, "roi");
    if (const Tensor* t = c.Opt(2)) scales = c.FloatsOf(*t, "scales");
    if (const Tensor* t = c.Opt(3)) sizes = c.IntsOf(*t, "sizes");
  }
  std::string mode = c.Str("mode", "nearest");
  if (mode == "bilinear" || mode == "trilinear") mode = "linear";
  if (mode == "cubic") c.Fail("mode 'cubic' is not supported");
  if (mode != "nearest" && mode != "linear") c.Fail("mode '{}' is not supported", mode);
  if (c.Int("antialias", 0) != 0) c.Fail("antialias=1 is not supported");
  // Before Resize-11 (and for Upsample) coordinates are asymmetric and nearest rounds as
  // onnxruntime's "simple" mode: truncation when upsampling, ceil when downsampling.
  const bool legacy = upsample || c.opset() < 11;
  const std::string coord =
      legacy ? "asymmetric" : c.Str("coordinate_transformation_mode", "half_pixel");
  const std::string nearest = legacy ? "simple" : c.Str("nearest_mode", "round_prefer_floor");
  const float extrapolation = c.Float("extrapolation_value", 0.0f);
  Shape axes = c.Ints("axes");
  if (axes.empty()) {
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  }
  for (int64_t& a : axes) a = c.Axis(a, r);
  const size_t na = axes.size();
  // resized[d]: the output length the coordinate transforms use. With scales it is in * scale,
  // not rounded (align_corners and tf_crop_and_resize divide by it, as the ONNX reference does).
  std::vector<float> scale(r, 1.0f), resized(r), roi_start(r, 0.0f), roi_end(r, 1.0f);
  Shape shape = x.shape;
  if (!sizes.empty()) {
    if (sizes.size() != na) c.Fail("{} sizes for {} axes", sizes.size(), na);
    const std::string policy = c.Str("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch") {
      if (policy != "not_larger" && policy != "not_smaller")
        c.Fail("keep_aspect_ratio_policy '{}' is not supported", policy);
      float s = policy == "not_larger" ? kInf : 0.0f;
      for (size_t k = 0; k < na; ++k) {
        const float v = static_cast<float>(sizes[k]) / static_cast<float>(x.shape[axes[k]]);
        s = policy == "not_larger" ? std::min(s, v) : std::max(s, v);
      }
      for (size_t k = 0; k < na; ++k) {
        scale[axes[k]] = s;
        shape[axes[k]] = static_cast<int64_t>(std::round(s * static_cast<float>(x.shape[axes[k]])));
      }
    } else {
      for (size_t k = 0; k < na; ++k) {
        shape[axes[k]] = sizes[k];
        scale[axes[k]] = static_cast<float>(sizes[k]) / static_cast<float>(x.shape[axes[k]]);
      }
    }
  } else if (!scales.empty()) {
    if (scales.size() != na) c.Fail("{} scales for {} axes", scales.size(), na);
    for (size_t k = 0; k < na; ++k) {
      if (scales[k] <= 0) c.Fail("scale {} is not positive", scales[k]);
      scale[axes[k]] = scales[k];
      shape[axes[k]] = static_cast<int64_t>(
          std::floor(static_cast<double>(x.shape[axes[k]]) * static_cast<double>(scales[k])));
    }
  } else {
    c.Fail("neither scales nor sizes is given");
  }
  for (int64_t d = 0; d < r; ++d) {
    resized[d] =
        sizes.empty() ? static_cast<float>(x.shape[d]) * scale[d] : static_cast<float>(shape[d]);
  }
  if (coord == "tf_crop_and_resize") {
    if (roi.size() != 2 * na) c.Fail("roi holds {} values for {} axes", roi.size(), na);
    for (size_t k = 0; k < na; ++k) {
      roi_start[axes[k]] = roi[k];
      roi_end[axes[k]] = roi[k + na];
    }
  }
  // The input coordinate of output index j along axis d.
  auto original = [&](int64_t d, int64_t j) -> float {
    const float s = scale[d], fj = static_cast<float>(j);
    const float in = static_cast<float>(x.shape[d]), out = resized[d];
    if (coord == "half_pixel") return (fj + 0.5f) / s - 0.5f;
    if (coord == "pytorch_half_pixel") return out > 1 ? (fj + 0.5f) / s - 0.5f : 0.0f;
    if (coord == "align_corners") return out == 1 ? 0.0f : fj * (in - 1) / (out - 1);
    if (coord == "asymmetric") return fj / s;
    if (coord == "tf_half_pixel_for_nearest") return (fj + 0.5f) / s;
    // tf_crop_and_resize
    const float a = roi_start[d], b = roi_end[d];
    return out > 1 ? a * (in - 1) + fj * (b - a) * (in - 1) / (out - 1) : 0.5f * (a + b) * (in - 1);
  };
  if (coord != "half_pixel" && coord != "pytorch_half_pixel" && coord != "align_corners" &&
      coord != "asymmetric" && coord != "tf_half_pixel_for_nearest" &&
      coord != "tf_crop_and_resize")
    c.Fail("coordinate_transformation_mode '{}' is not supported", coord);
  if (nearest != "round_prefer_floor" && nearest != "round_prefer_ceil" && nearest != "floor" &&
      nearest != "ceil" && nearest != "simple")
    c.Fail("nearest_mode '{}' is not supported", nearest);
  const bool crop = coord == "tf_crop_and_resize";
  Tensor& o = c.Out(0, shape, x.dtype);
  if (o.Elems() == 0) return;

  if (mode == "nearest") {
    std::vector<Shape> maps(r);
    for (int64_t d = 0; d < r; ++d) {
      const int64_t n = x.shape[d];
      maps[d].resize(shape[d]);
      for (int64_t j = 0; j < shape[d]; ++j) {
        const float xo = original(d, j);
        if (crop && (xo < 0 || xo > static_cast<float>(n - 1))) {
          maps[d][j] = -1;
          continue;
        }
        float v;
        const float fl = std::floor(xo);
        if (nearest == "round_prefer_floor") v = xo == fl + 0.5f ? fl : std::round(xo);
        else if (nearest == "round_prefer_ceil") v = xo == fl + 0.5f ? fl + 1 : std::round(xo);
        else if (nearest == "floor") v = fl;
        else if (nearest == "ceil") v = std::ceil(xo);
        else v = scale[d] < 1 ? std::ceil(xo) : std::trunc(xo);
        maps[d][j] = std::clamp<int64_t>(static_cast<int64_t>(v), 0, n - 1);
      }
    }
    ByType(x, [&](auto tag) {
      using T = decltype(tag);
      GatherMaps<T>(Data<T>(x), x.shape, maps, shape, static_cast<T>(extrapolation), Mut<T>(o));
    });
    return;
  }

  if (!x.IsFloat()) c.Fail("linear mode on dtype {} is not supported", x.dtype);
  std::vector<float> cur(x.f32), next;
  Shape cur_shape = x.shape;
  std::vector<int64_t> i0, i1;
  std::vector<float> wt;
  std::vector<char> outside;
  for (int64_t d = 0; d < r; ++d) {
    const int64_t n = x.shape[d], len = shape[d];
    i0.resize(len);
    i1.resize(len);
    wt.resize(len);
    outside.assign(len, 0);
    bool identity = len == n;
    for (int64_t j = 0; j < len; ++j) {
      const float xo = original(d, j);
      if (crop && (xo < 0 || xo > static_cast<float>(n - 1))) {
        outside[j] = 1;
        identity = false;
        continue;
      }
      const float xc = std::clamp(xo, 0.0f, static_cast<float>(n - 1));
      i0[j] = std::min<int64_t>(static_cast<int64_t>(xc), n - 1);
      i1[j] = std::min<int64_t>(i0[j] + 1, n - 1);
      wt[j] = xc - static_cast<float>(i0[j]);
      identity = identity && i0[j] == j && wt[j] == 0;
    }
    if (identity) continue;
    const int64_t outer = Prod(cur_shape, 0, d), inner = Prod(cur_shape, d + 1);
    next.assign(static_cast<size_t>(outer * len * inner), 0.0f);
    for (int64_t i = 0; i < outer; ++i) {
      for (int64_t j = 0; j < len; ++j) {
        float* dst = next.data() + (i * len + j) * inner;
        if (outside[j]) {
          std::fill(dst, dst + inner, extrapolation);
          continue;
        }
        const float* a = cur.data() + (i * n + i0[j]) * inner;
        const float* b = cur.data() + (i * n + i1[j]) * inner;
        const float w1 = wt[j], w0 = 1.0f - w1;
        for (int64_t k = 0; k < inner; ++k) dst[k] = w0 * a[k] + w1 * b[k];
      }
    }
    cur.swap(next);
    cur_shape[d] = len;
  }
  std::copy(cur.begin(), cur.end(), o.f32.begin());
}

// ----------------------------------------------------------------------------------------------
// The table

const std::unordered_map<std::string, OpFn>& Table() {
  static const auto* table = new std::unordered_map<std::string, OpFn>{
      // Tensors and shapes
      {"Constant", Constant},
      {"Identity", Identity},
      {"Dropout", Dropout},
      {"Cast", Cast},
      {"CastLike", Cast},
      {"Reshape", Reshape},
      {"Flatten", Flatten},
      {"Squeeze", Squeeze},
      {"Unsqueeze", Unsqueeze},
      {"Transpose", Transpose},
      {"Slice", Slice},
      {"Split", Split},
      {"Concat", Concat},
      {"Gather", Gather},
      {"GatherElements", GatherElements},
      {"Pad", Pad},
      {"Shape", ShapeOp},
      {"Size", Size},
      {"ConstantOfShape", ConstantOfShape},
      {"Range", Range},
      {"Expand", Expand},
      {"Tile", Tile},
      {"DepthToSpace", [](const Ctx& c) { BlockRearrange(c, true); }},
      {"SpaceToDepth", [](const Ctx& c) { BlockRearrange(c, false); }},
      // Comparison and logic
      {"Where", Where},
      {"Equal", [](const Ctx& c) { Compare(c, [](auto x, auto y) { return x == y; }); }},
      {"Less", [](const Ctx& c) { Compare(c, [](auto x, auto y) { return x < y; }); }},
      {"Greater", [](const Ctx& c) { Compare(c, [](auto x, auto y) { return x > y; }); }},
      {"LessOrEqual", [](const Ctx& c) { Compare(c, [](auto x, auto y) { return x <= y; }); }},
      {"GreaterOrEqual", [](const Ctx& c) { Compare(c, [](auto x, auto y) { return x >= y; }); }},
      {"Not",
       [](const Ctx& c) {
         if (c.In(0).IsFloat()) c.Fail("input must be bool");
         UnaryAny(c, [](auto x) { return x == 0; });
       }},
      {"And", [](const Ctx& c) { Logic(c, [](int64_t x, int64_t y) { return x && y; }); }},
      {"Or", [](const Ctx& c) { Logic(c, [](int64_t x, int64_t y) { return x || y; }); }},
      {"Xor", [](const Ctx& c) { Logic(c, [](int64_t x, int64_t y) { return !x != !y; }); }},
      {"IsNaN", [](const Ctx& c) { FloatTest(c, [](float x) { return std::isnan(x); }); }},
      {"IsInf",
       [](const Ctx& c) {
         const bool neg = c.Int("detect_negative", 1) != 0, pos = c.Int("detect_positive", 1) != 0;
         FloatTest(c, [neg, pos](float x) {
           return std::isinf(x) && ((x < 0 && neg) || (x > 0 && pos));
         });
       }},
      // Arithmetic
      {"Add", [](const Ctx& c) { Arith(c, [](auto x, auto y) { return x + y; }); }},
      {"Sub", [](const Ctx& c) { Arith(c, [](auto x, auto y) { return x - y; }); }},
      {"Mul", [](const Ctx& c) { Arith(c, [](auto x, auto y) { return x * y; }); }},
      {"Div",
       [](const Ctx& c) {
         Arith(c, [](auto x, auto y) {
           // Integer division truncates; by zero it gives 0 rather than trapping.
           if constexpr (std::is_integral_v<decltype(x)>) return y == 0 ? decltype(x){0} : x / y;
           else return x / y;
         });
       }},
      {"Pow", Pow},
      {"Mod", Mod},
      {"BitShift", BitShift},
      {"Min",
       [](const Ctx& c) {
         Variadic(c, false, [](auto x, auto y) { return y < x || y != y ? y : x; });
       }},
      {"Max",
       [](const Ctx& c) {
         Variadic(c, false, [](auto x, auto y) { return y > x || y != y ? y : x; });
       }},
      {"Sum", [](const Ctx& c) { Variadic(c, false, [](auto x, auto y) { return x + y; }); }},
      {"Mean", [](const Ctx& c) { Variadic(c, true, [](auto x, auto y) { return x + y; }); }},
      // Unary math
      {"Neg", [](const Ctx& c) { UnaryAny(c, [](auto x) { return -x; }); }},
      {"Abs", [](const Ctx& c) { UnaryAny(c, [](auto x) { return x < 0 ? -x : x; }); }},
      {"Sign", [](const Ctx& c) { UnaryAny(c, [](auto x) { return Sign(x); }); }},
      {"Sqrt", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::sqrt(x); }); }},
      {"Reciprocal", [](const Ctx& c) { UnaryFloat(c, [](float x) { return 1.0f / x; }); }},
      {"Exp", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::exp(x); }); }},
      {"Log", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::log(x); }); }},
      {"Erf", [](const Ctx& c) { UnaryFloat(c, [](float x) { return FastErf(x); }); }},
      {"Floor", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::floor(x); }); }},
      {"Ceil", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::ceil(x); }); }},
      // nearbyint under the default rounding mode rounds half to even, as Round specifies.
      {"Round", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::nearbyint(x); }); }},
      {"Sin", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::sin(x); }); }},
      {"Cos", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::cos(x); }); }},
      {"Tan", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::tan(x); }); }},
      {"Asin", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::asin(x); }); }},
      {"Acos", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::acos(x); }); }},
      {"Atan", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::atan(x); }); }},
      {"Sinh", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::sinh(x); }); }},
      {"Cosh", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::cosh(x); }); }},
      {"Asinh", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::asinh(x); }); }},
      {"Acosh", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::acosh(x); }); }},
      {"Atanh", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::atanh(x); }); }},
      {"Tanh", [](const Ctx& c) { UnaryFloat(c, [](float x) { return std::tanh(x); }); }},
      // Activations
      {"Sigmoid", [](const Ctx& c) { UnaryFloat(c, Sigmoid); }},
      {"Relu",
       [](const Ctx& c) { UnaryAny(c, [](auto x) { return x > 0 ? x : decltype(x){0}; }); }},
      {"LeakyRelu",
       [](const Ctx& c) {
         const float a = c.Float("alpha", 0.01f);
         UnaryFloat(c, [a](float x) { return x < 0 ? a * x : x; });
       }},
      {"Elu",
       [](const Ctx& c) {
         const float a = c.Float("alpha", 1.0f);
         UnaryFloat(c, [a](float x) { return x < 0 ? a * std::expm1(x) : x; });
       }},
      {"Selu",
       [](const Ctx& c) {
         const float a = c.Float("alpha", 1.67326319217681884765625f);
         const float g = c.Float("gamma", 1.05070102214813232421875f);
         UnaryFloat(c, [a, g](float x) { return x > 0 ? g * x : g * a * std::expm1(x); });
       }},
      {"Celu",
       [](const Ctx& c) {
         const float a = c.Float("alpha", 1.0f);
         UnaryFloat(
             c, [a](float x) { return std::max(0.0f, x) + std::min(0.0f, a * std::expm1(x / a)); });
       }},
      {"Softplus", [](const Ctx& c) { UnaryFloat(c, Softplus); }},
      {"Softsign",
       [](const Ctx& c) { UnaryFloat(c, [](float x) { return x / (1 + std::fabs(x)); }); }},
      {"HardSigmoid",
       [](const Ctx& c) {
         const float a = c.Float("alpha", 0.2f), b = c.Float("beta", 0.5f);
         UnaryFloat(c, [a, b](float x) { return std::clamp(a * x + b, 0.0f, 1.0f); });
       }},
      {"HardSwish",
       [](const Ctx& c) {
         UnaryFloat(c, [](float x) { return x * std::clamp(x / 6.0f + 0.5f, 0.0f, 1.0f); });
       }},
      {"ThresholdedRelu",
       [](const Ctx& c) {
         const float a = c.Float("alpha", 1.0f);
         UnaryFloat(c, [a](float x) { return x > a ? x : 0.0f; });
       }},
      {"Mish",
       [](const Ctx& c) { UnaryFloat(c, [](float x) { return x * std::tanh(Softplus(x)); }); }},
      {"Gelu", Gelu},
      {"Clip", Clip},
      {"PRelu", PRelu},
      {"Softmax", [](const Ctx& c) { SoftmaxFamily(c, 0); }},
      {"LogSoftmax", [](const Ctx& c) { SoftmaxFamily(c, 1); }},
      {"Hardmax", [](const Ctx& c) { SoftmaxFamily(c, 2); }},
      // Reductions
      {"ReduceSum", [](const Ctx& c) { Reduce(c, Red::kSum); }},
      {"ReduceMean", [](const Ctx& c) { Reduce(c, Red::kMean); }},
      {"ReduceMax", [](const Ctx& c) { Reduce(c, Red::kMax); }},
      {"ReduceMin", [](const Ctx& c) { Reduce(c, Red::kMin); }},
      {"ReduceProd", [](const Ctx& c) { Reduce(c, Red::kProd); }},
      {"ReduceL1", [](const Ctx& c) { Reduce(c, Red::kL1); }},
      {"ReduceL2", [](const Ctx& c) { Reduce(c, Red::kL2); }},
      {"ReduceSumSquare", [](const Ctx& c) { Reduce(c, Red::kSumSquare); }},
      {"ReduceLogSum", [](const Ctx& c) { Reduce(c, Red::kLogSum); }},
      {"ReduceLogSumExp", [](const Ctx& c) { Reduce(c, Red::kLogSumExp); }},
      {"ArgMax", [](const Ctx& c) { ArgMinMax(c, true); }},
      {"ArgMin", [](const Ctx& c) { ArgMinMax(c, false); }},
      // Linear algebra and normalization
      {"MatMul", MatMul},
      {"Gemm", Gemm},
      {"BatchNormalization", BatchNormalization},
      {"InstanceNormalization", InstanceNormalization},
      {"LayerNormalization", LayerNormalization},
      {"LpNormalization", LpNormalization},
      // Convolution, pooling, resampling
      {"Conv", Conv},
      {"ConvTranspose", ConvTranspose},
      {"MaxPool", [](const Ctx& c) { Pool(c, true); }},
      {"AveragePool", [](const Ctx& c) { Pool(c, false); }},
      {"GlobalAveragePool", [](const Ctx& c) { GlobalPool(c, false); }},
      {"GlobalMaxPool", [](const Ctx& c) { GlobalPool(c, true); }},
      {"Resize", Resize},
      {"Upsample", Resize},
  };
  return *table;
}

}  // namespace

bool HostSupports(const std::string& op_type) { return Table().count(op_type) > 0; }

void RunHostOp(const onnx::NodeProto& node, int64_t opset, const std::vector<const Tensor*>& inputs,
               const std::vector<Tensor*>& outputs) {
  const Ctx c(node, opset, inputs, outputs);
  const auto it = Table().find(node.op_type());
  if (it == Table().end()) c.Fail("op is not implemented on the host");
  if (!node.domain().empty() && node.domain() != "ai.onnx")
    c.Fail("domain '{}' is not implemented on the host", node.domain());
  // Inputs whose data does not fill their shape would be read out of bounds: refuse them up front.
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor* t = inputs[k];
    if (t && DataSize(*t) != t->Elems())
      c.Fail("input {} holds {} values for shape {}", k, DataSize(*t), ShapeStr(t->shape));
  }
  it->second(c);
}

}  // namespace layoutdb::runtime
