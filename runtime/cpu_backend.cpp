// The cpu unit: oneDNN primitives on real tensors, in the layout the plan chose. An anchor (Conv,
// ConvTranspose, MatMul, Gemm) becomes one primitive with its followers as post-ops (a ConvTranspose only
// folds them: oneDNN 2.6 runs a deconvolution with post-ops 10-15x slower): BatchNormalization
// and constant per-channel Add/Sub/Mul/Div folded into the weights and bias, activations as eltwise
// post-ops (Clip with its real bounds, HardSigmoid as linear + clip with its alpha and beta), a
// residual Add as a sum post-op, and a broadcast Add/Sub/Mul/Div (a squeeze-excitation scale) or a
// full-size one as a binary post-op. Other ops with a oneDNN primitive (pooling, eltwise, binary,
// softmax, batch and layer normalisation, concat, resampling, reduction, prelu, Transpose as a
// reorder, Slice and constant Pad as reorders of sub-memory views) run as that primitive; the rest is
// refused (the runtime runs it on the host).
//
// Weights that are graph inputs rather than constants (ONNX's backend tests do that) are read at run
// time in plain order; constant weights are reordered once, at Create, into the layout oneDNN asks for.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <tuple>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "backend.h"
#include "layoutdb/microbench/placement.h"
#include "selector/onnx_fold.h"
#include "selector/op_table.h"

namespace layoutdb::runtime {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using alg = dnnl::algorithm;
using selector::fold::AttrFloat;
using selector::fold::AttrInt;
using selector::fold::AttrInts;
using selector::fold::AttrString;
using selector::fold::HasAttr;

constexpr auto kF32 = memory::data_type::f32;
constexpr auto kInfer = dnnl::prop_kind::forward_inference;

// A chain or attribute this backend does not handle: the runtime runs the node on the host.
struct Refuse {
  std::string why;
};

tag PlainTag(size_t rank) {
  static const tag kTags[] = {tag::a, tag::a, tag::ab, tag::abc, tag::abcd, tag::abcde, tag::abcdef};
  if (rank > 6) throw Refuse{fmt::format("rank {} tensors", rank)};
  return kTags[rank];
}

tag TagOf(const std::string& layout, size_t rank) {
  if (rank != 4 || layout == "nchw" || layout == "plain") return PlainTag(rank);
  if (layout == "nhwc") return tag::acdb;
  if (layout == "nChw8c") return tag::aBcd8b;
  if (layout == "nChw16c") return tag::aBcd16b;
  if (layout == "any") return tag::any;
  throw Refuse{fmt::format("layout {} is not a cpu layout", layout)};
}

// The layout name of a 4D memory descriptor oneDNN chose, or "" when it is none of ours.
std::string LayoutOf(const memory::desc& md) {
  if (md.data.ndims != 4) return "nchw";
  const memory::dims dims(md.data.dims, md.data.dims + 4);
  for (const char* l : {"nchw", "nhwc", "nChw8c", "nChw16c"})
    if (memory::desc(dims, kF32, TagOf(l, 4)) == md) return l;
  return "";
}

// A scalar (rank 0) is one element of rank 1: oneDNN reads a 0-dim descriptor as "no memory" and
// would silently compute nothing.
memory::dims Dims(const std::vector<int64_t>& s) {
  if (s.empty()) return {1};
  return memory::dims(s.begin(), s.end());
}

// `s` with leading 1s up to `rank` (numpy broadcasting aligns trailing dims).
std::vector<int64_t> PadTo(std::vector<int64_t> s, size_t rank) {
  while (s.size() < rank) s.insert(s.begin(), 1);
  return s;
}

int64_t Prod(const std::vector<int64_t>& s, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t n = 1;
  for (size_t k = from; k < std::min(to, s.size()); ++k) n *= s[k];
  return n;
}

// One primitive with its arguments. Inputs and outputs are bound by index at every Run; constant
// arguments (packed weights) are owned.
class PrimExec : public Execution {
 public:
  PrimExec(dnnl::primitive prim, dnnl::stream* strm) : prim_(std::move(prim)), strm_(strm) {}
  void BindInput(int arg, int index, const memory::desc& md, const dnnl::engine& eng) {
    Bind(arg, md, eng);
    inputs_.push_back({arg, index});
  }
  void BindOutput(int arg, int index, const memory::desc& md, const dnnl::engine& eng) {
    Bind(arg, md, eng);
    outputs_.push_back({arg, index});
  }
  void Own(int arg, memory m) { args_[arg] = std::move(m); }
  // A sum post-op adds to what dst holds: copy input `index` (`bytes`, dst's layout) there first.
  void SumFrom(int index, size_t bytes) {
    sum_input_ = index;
    sum_bytes_ = bytes;
  }
  int AccumulatesInput() const override { return sum_input_; }
  void Run(const std::vector<void*>& in, const std::vector<void*>& out) override {
    if (sum_input_ >= 0 && in[sum_input_] != out[0]) std::memcpy(out[0], in[sum_input_], sum_bytes_);
    for (const auto& [arg, k] : inputs_) args_[arg].set_data_handle(in[k]);
    for (const auto& [arg, k] : outputs_) args_[arg].set_data_handle(out[k]);
    prim_.execute(*strm_, args_);
    strm_->wait();
  }

 private:
  void Bind(int arg, const memory::desc& md, const dnnl::engine& eng) {
    args_[arg] = memory(md, eng, DNNL_MEMORY_NONE);
  }
  dnnl::primitive prim_;
  dnnl::stream* strm_;
  std::unordered_map<int, memory> args_;
  std::vector<std::pair<int, int>> inputs_, outputs_;
  int sum_input_ = -1;
  size_t sum_bytes_ = 0;
};

// Several primitives in sequence, sharing the run's buffers (HardSigmoid as linear then clip).
class ChainExec : public Execution {
 public:
  std::vector<std::unique_ptr<Execution>> parts;
  void Run(const std::vector<void*>& in, const std::vector<void*>& out) override {
    parts[0]->Run(in, out);
    for (size_t k = 1; k < parts.size(); ++k) parts[k]->Run(out, out);
  }
};

// Pad: the destination filled with the pad value, then the source reordered into its interior (a
// sub-memory view of the destination).
class PadExec : public Execution {
 public:
  PadExec(std::unique_ptr<PrimExec> copy, size_t elems, float value)
      : copy_(std::move(copy)), elems_(elems), value_(value) {}
  void Run(const std::vector<void*>& in, const std::vector<void*>& out) override {
    std::fill_n(static_cast<float*>(out[0]), elems_, value_);
    copy_->Run(in, out);
  }

 private:
  std::unique_ptr<PrimExec> copy_;
  size_t elems_;
  float value_;
};

struct EltwiseAlg {
  alg a;
  float alpha = 0, beta = 0;
};

// The eltwise algorithm(s) of an activation node, or empty when oneDNN has none. HardSigmoid is two:
// y = clip(alpha * x + beta, 0, 1).
std::vector<EltwiseAlg> EltwiseOf(const NodeView& n) {
  const onnx::NodeProto& p = *n.proto;
  const std::string& op = p.op_type();
  // Keyed by the op table's algorithm (an eltwise kernel row), not by ONNX names.
  if (selector::KernelOf(op) != selector::Kernel::kEltwise) return {};
  const std::string_view a = selector::AlgOf(op);
  auto const_scalar = [&](int k, float def) {
    if (k >= static_cast<int>(n.constants.size()) || n.inputs[k].dtype.empty()) return def;
    const Tensor* t = n.constants[k];
    if (!t || t->Elems() != 1) throw Refuse{fmt::format("{} with a non-constant bound", op)};
    return t->IsFloat() ? t->f32[0] : static_cast<float>(t->i64[0]);
  };
  if (a == "relu") return {{alg::eltwise_relu}};
  if (a == "leakyrelu") return {{alg::eltwise_relu, AttrFloat(p, "alpha", 0.01f)}};
  if (a == "sigmoid") return {{alg::eltwise_logistic}};
  if (a == "tanh") return {{alg::eltwise_tanh}};
  if (a == "elu") return {{alg::eltwise_elu, AttrFloat(p, "alpha", 1.0f)}};
  if (a == "exp") return {{alg::eltwise_exp}};
  if (a == "sqrt") return {{alg::eltwise_sqrt}};
  if (a == "abs") return {{alg::eltwise_abs}};
  if (a == "log") return {{alg::eltwise_log}};
  if (a == "neg") return {{alg::eltwise_linear, -1.0f, 0.0f}};
  if (a == "softplus") return {{alg::eltwise_soft_relu}};
  if (a == "mish") return {{alg::eltwise_mish}};
  if (a == "hardswish") return {{alg::eltwise_hardswish}};
  if (a == "reciprocal") return {{alg::eltwise_pow, 1.0f, -1.0f}};
  if (a == "gelu") {
    const std::string approx = AttrString(p, "approximate", "none");
    return {{approx == "tanh" ? alg::eltwise_gelu_tanh : alg::eltwise_gelu_erf}};
  }
  if (a == "hardsigmoid")
    return {{alg::eltwise_linear, AttrFloat(p, "alpha", 0.2f), AttrFloat(p, "beta", 0.5f)},
            {alg::eltwise_clip_v2, 0.0f, 1.0f}};
  if (a == "clip") {
    float lo, hi;
    if (n.opset < 11) {
      lo = AttrFloat(p, "min", -3.402823e38f);
      hi = AttrFloat(p, "max", 3.402823e38f);
    } else {
      lo = const_scalar(1, -3.402823e38f);
      hi = const_scalar(2, 3.402823e38f);
    }
    return {{alg::eltwise_clip_v2, lo, hi}};
  }
  if (a == "pow") {  // x ^ a constant scalar
    if (n.constants.size() < 2 || !n.constants[1] || n.constants[1]->Elems() != 1) return {};
    return {{alg::eltwise_pow, 1.0f, const_scalar(1, 1.0f)}};
  }
  return {};
}

// oneDNN's binary algorithm of an op table binary algorithm (add, sub, mul, div, max, min).
alg BinaryAlgOf(const std::string& op) {
  static const std::map<std::string_view, alg> kAlgs = {
      {"add", alg::binary_add}, {"sub", alg::binary_sub}, {"mul", alg::binary_mul},
      {"div", alg::binary_div}, {"max", alg::binary_max}, {"min", alg::binary_min}};
  auto it = selector::KernelOf(op) == selector::Kernel::kBinary ? kAlgs.find(selector::AlgOf(op))
                                                                  : kAlgs.end();
  if (it == kAlgs.end()) throw Refuse{op + " has no binary algorithm"};
  return it->second;
}

bool Commutes(const std::string& op) {
  const std::string_view a = selector::AlgOf(op);
  return selector::KernelOf(op) == selector::Kernel::kBinary &&
         (a == "add" || a == "mul" || a == "max" || a == "min");
}

// Spatial geometry of a Conv / ConvTranspose / pooling node, from its attributes and the static
// input and output shapes.
struct Geometry {
  memory::dims kernel, strides, dilation, pad_l, pad_r;  // dilation as oneDNN counts it (d - 1)
};

Geometry GeometryOf(const NodeView& n, const std::vector<int64_t>& kernel, bool transposed) {
  const onnx::NodeProto& p = *n.proto;
  const auto& in = n.inputs[0].shape;
  const auto& out = n.outputs[0].shape;
  const size_t sp = in.size() - 2;
  Geometry g;
  auto strides = AttrInts(p, "strides");
  auto dil = AttrInts(p, "dilations");
  auto pads = AttrInts(p, "pads");
  const std::string auto_pad = AttrString(p, "auto_pad", "NOTSET");
  for (size_t k = 0; k < sp; ++k) {
    const int64_t s = strides.empty() ? 1 : strides[k];
    const int64_t d = dil.empty() ? 1 : dil[k];
    const int64_t ext = (kernel[k] - 1) * d + 1;
    g.kernel.push_back(kernel[k]);
    g.strides.push_back(s);
    g.dilation.push_back(d - 1);
    int64_t pl = pads.empty() ? 0 : pads[k];
    int64_t pr = pads.empty() ? 0 : pads[k + sp];
    // The total padding the static output shape implies (covers auto_pad, ceil_mode and
    // ConvTranspose's output_padding / output_shape).
    const int64_t total = transposed ? (in[k + 2] - 1) * s + ext - out[k + 2]
                                     : (out[k + 2] - 1) * s + ext - in[k + 2];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t t = std::max<int64_t>(total, 0);
      pl = auto_pad == "SAME_UPPER" ? t / 2 : t - t / 2;
      pr = t - pl;
    } else if (auto_pad == "VALID") {
      pl = 0;
      pr = std::max<int64_t>(total, 0);
    } else {
      pr = total - pl;
    }
    if (pr < 0 && !transposed) pr = 0;  // the last window ends before the padding
    if (pr < 0) throw Refuse{"a ConvTranspose output smaller than its padding"};
    g.pad_l.push_back(pl);
    g.pad_r.push_back(pr);
  }
  return g;
}

// Folds a constant per-channel operand into weights and bias, before any post-op exists.
struct Folded {
  std::vector<float> w, b;  // plain; w is [oc-major block per output channel] (see OcStride)
  int64_t oc = 0;
};

// A constant operand that broadcasts per output channel (or is a scalar): its value per channel.
bool PerChannel(const Tensor* t, const std::vector<int64_t>& out, int64_t oc, int channel_axis,
                std::vector<float>* per) {
  if (!t || !t->IsFloat()) return false;
  const auto s = PadTo(t->shape, out.size());
  if (s.size() != out.size()) return false;
  for (size_t k = 0; k < s.size(); ++k)
    if (static_cast<int>(k) != channel_axis && s[k] != 1) return false;
  const int64_t c = s[channel_axis];
  if (c != 1 && c != oc) return false;
  per->resize(oc);
  for (int64_t k = 0; k < oc; ++k) (*per)[k] = t->f32[c == 1 ? 0 : k];
  return true;
}

class CpuBackend : public Backend {
 public:
  CpuBackend() : eng_(dnnl::engine::kind::cpu, 0), strm_(eng_) {}
  const std::string& Unit() const override { return name_; }
  std::vector<std::string> Layouts() const override { return {"nchw", "nhwc", "nChw8c", "nChw16c"}; }

  Created Create(const std::vector<NodeView>& chain, const std::string& in_layout,
                 const std::string& out_layout) override {
    try {
      const std::string& op = chain[0].proto->op_type();
      using K = selector::Kernel;
      const selector::OpRow* row = selector::FindOp(op, chain[0].proto->domain());
      switch (row ? row->kernel : K::kHost) {
        case K::kConv:
        case K::kConvTranspose: return CreateConv(chain, in_layout, out_layout);
        case K::kMatMul:
        case K::kGemm: return CreateMatMul(chain);
        case K::kPool: return CreatePool(chain[0], in_layout);
        case K::kBnorm: return CreateBnorm(chain[0], in_layout);
        case K::kLnorm: return CreateLnorm(chain[0]);
        case K::kSoftmax: return CreateSoftmax(chain[0], in_layout);
        case K::kConcat: return CreateConcat(chain[0], in_layout);
        case K::kResize: return CreateResize(chain[0], in_layout);
        case K::kReduce: return CreateReduce(chain[0]);
        case K::kTranspose: return CreateTranspose(chain[0]);
        case K::kSlice: return CreateSlice(chain[0]);
        case K::kPad: return CreatePad(chain[0]);
        case K::kPrelu: return CreatePrelu(chain[0], in_layout);
        case K::kBinary: return CreateBinary(chain[0], in_layout);
        case K::kEltwise:
          if (!EltwiseOf(chain[0]).empty()) return CreateEltwise(chain[0], in_layout);
          break;
        case K::kHost:
        case K::kView: break;
      }
      return Refused(op + " has no oneDNN primitive here");
    } catch (const Refuse& r) {
      return Refused(r.why);
    } catch (const dnnl::error& e) {
      return Refused(fmt::format("oneDNN: {}", e.what()));
    }
  }

  // A node run as one reorder from `src` (a strided or sub-memory view of its plain input) into a plain
  // `dst`: Transpose and Slice.
  Created PlainReorder(const memory::desc& src, const memory::desc& dst) {
    dnnl::reorder::primitive_desc pd(eng_, src, eng_, dst);
    Created c;
    c.impl = pd.impl_info_str();
    auto e = std::make_unique<PrimExec>(dnnl::reorder(pd), &strm_);
    e->BindInput(DNNL_ARG_FROM, 0, src, eng_);
    e->BindOutput(DNNL_ARG_TO, 0, dst, eng_);
    c.reads.push_back({0, 0, "nchw"});
    c.out_layouts = {"nchw"};
    c.exec = std::move(e);
    return c;
  }

  std::unique_ptr<Execution> CreateReorder(const Value& from, const std::string& to) override {
    const memory::dims d = Dims(from.shape);
    const memory::desc src(d, kF32, TagOf(from.layout, d.size()));
    const memory::desc dst(d, kF32, TagOf(to, d.size()));
    dnnl::reorder::primitive_desc pd(eng_, src, eng_, dst);
    auto e = std::make_unique<PrimExec>(dnnl::reorder(pd), &strm_);
    e->BindInput(DNNL_ARG_FROM, 0, src, eng_);
    e->BindOutput(DNNL_ARG_TO, 0, dst, eng_);
    return e;
  }

  // Placed as the microbench places a kernel's tensors (BufferPlacement), so that what runs meets the
  // memory system as what was measured did; zeroed: blocked layouts' channel padding must read as zeros.
  void* Alloc(size_t bytes) override {
    try {
      return placement_.Alloc(bytes);
    } catch (const std::bad_alloc&) {
      throw std::runtime_error(fmt::format("cpu: cannot allocate {} bytes", bytes));
    }
  }
  void Free(void* p) override { placement_.Free(p); }
  void Upload(const void* host, void* buf, size_t bytes) override { std::memcpy(buf, host, bytes); }
  void Download(const void* buf, void* host, size_t bytes) override { std::memcpy(host, buf, bytes); }
  void Finish() override { strm_.wait(); }

 private:
  static Created Refused(std::string why) {
    Created c;
    c.why_not = std::move(why);
    return c;
  }

  memory Constant(const memory::desc& md, const std::vector<float>& plain, const memory::desc& user) {
    memory src(user, eng_);
    std::memcpy(src.get_data_handle(), plain.data(), plain.size() * 4);
    if (user == md) return src;
    memory dst(md, eng_);
    dnnl::reorder(src, dst).execute(strm_, src, dst);
    strm_.wait();
    return dst;
  }

  // Post-ops from the chain's followers. `oc` output channels on `channel_axis` of `out`; `fold`
  // (when non-null) takes constant per-channel scales and shifts while no post-op exists yet.
  struct PostOps {
    dnnl::post_ops ops;
    int count = 0;
    int fused = 0;
    std::vector<Operand> reads;           // runtime operands (after the anchor's own)
    std::vector<std::pair<int, memory>> owned;     // constant binary operands
    std::vector<std::pair<int, memory::desc>> bound;  // runtime binary operands: arg, md
    int sum_read = -1;                    // index into reads of the residual
  };
  // Folds a per-channel constant into weights and bias; `op` is the op table binary alg (add, sub,
  // mul, div). False when the anchor cannot fold it.
  using FoldFn = std::function<bool(const std::string& op, const std::vector<float>& per)>;

  // `folds_only`: the chain ends at the first follower that would be a post-op (a deconvolution:
  // oneDNN 2.6 runs one with an eltwise post-op 10-15x slower than without, so its activation runs
  // as its own primitive; selector/fuse.cpp keys it so).
  // `max_post_ops`: at most that many oneDNN post-ops (folds do not count); the followers after them
  // run as their own primitives.
  PostOps MakePostOps(const std::vector<NodeView>& chain, const std::vector<int64_t>& out,
                      int channel_axis, const std::string& out_layout, const FoldFn& fold,
                      bool folds_only = false, int max_post_ops = std::numeric_limits<int>::max()) {
    PostOps po;
    for (size_t j = 1; j < chain.size(); ++j) {
      const NodeView& f = chain[j];
      const std::string& op = f.proto->op_type();
      if (f.outputs.size() != 1 || f.outputs[0].shape != out) break;
      const std::string& prev = chain[j - 1].proto->output(0);
      const selector::OpRow* row = selector::FindOp(op, f.proto->domain());
      const bool folds = row && row->fusion == selector::Fusion::kFold;
      if (folds || (row && row->fusion == selector::Fusion::kBinary && f.proto->input_size() == 2)) {
        if (folds) {  // BatchNormalization
          if (po.count || !fold) break;
          std::vector<float> sc, b, m, v;
          const int64_t oc = out[channel_axis];
          bool ok = true;
          for (int k = 1; k <= 4 && ok; ++k) {
            std::vector<float>* dst[] = {&sc, &b, &m, &v};
            const Tensor* t = f.constants.size() > static_cast<size_t>(k) ? f.constants[k] : nullptr;
            ok = t && t->IsFloat() && t->Elems() == oc;
            if (ok) *dst[k - 1] = t->f32;
          }
          if (!ok || f.proto->output_size() > 1) break;
          const float eps = AttrFloat(*f.proto, "epsilon", 1e-5f);
          std::vector<float> scale(oc), shift(oc);
          for (int64_t c = 0; c < oc; ++c) {
            scale[c] = sc[c] / std::sqrt(v[c] + eps);
            shift[c] = b[c] - m[c] * scale[c];
          }
          if (!fold("mul", scale) || !fold("add", shift)) break;
          ++po.fused;
          continue;
        }
        const int self = f.proto->input(0) == prev ? 0 : 1;
        if (f.proto->input(self) != prev) break;
        const int other = 1 - self;
        if (self == 1 && !Commutes(op)) break;
        const Tensor* c = f.constants[other];
        std::vector<float> per;
        if (c && po.count == 0 && fold && PerChannel(c, out, out[channel_axis], channel_axis, &per) &&
            fold(std::string(row->alg), per)) {
          ++po.fused;
          continue;
        }
        if (folds_only || po.count >= max_post_ops) break;
        const auto other_shape = PadTo(f.inputs[other].shape, out.size());
        if (other_shape.size() != out.size() || f.inputs[other].dtype != "f32") break;
        if (!c && row->post_op == "sum" && other_shape == out && po.sum_read < 0) {
          po.ops.append_sum(1.0f);
          po.sum_read = static_cast<int>(po.reads.size());
          po.reads.push_back({static_cast<int>(j), other, out_layout});
        } else {
          const memory::desc md(Dims(other_shape), kF32, PlainTag(other_shape.size()));
          po.ops.append_binary(BinaryAlgOf(op), md);
          const int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(po.count) | DNNL_ARG_SRC_1;
          if (c) {
            memory m(md, eng_);
            std::memcpy(m.get_data_handle(), c->f32.data(), c->f32.size() * 4);
            po.owned.push_back({arg, m});
          } else {
            po.bound.push_back({arg, md});
            po.reads.push_back({static_cast<int>(j), other, "nchw"});
          }
        }
        ++po.count;
        ++po.fused;
        continue;
      }
      if (folds_only) break;
      std::vector<EltwiseAlg> e;
      try {
        e = EltwiseOf(f);
      } catch (const Refuse&) {
        break;
      }
      if (e.empty() || f.proto->input(0) != prev) break;
      if (po.count + static_cast<int>(e.size()) > max_post_ops) break;
      for (const auto& a : e) {
        po.ops.append_eltwise(1.0f, a.a, a.alpha, a.beta);
        ++po.count;
      }
      ++po.fused;
    }
    return po;
  }

  // Moves the full-size (dst-shaped, 4D) binary operands of `po` into `layout`: their post-op
  // descriptors, the layout their runtime reads ask for, and constant operands reordered. False when
  // there is none to move.
  bool OperandsIn(PostOps& po, const memory::dims& out, const std::string& layout) {
    if (out.size() != 4) return false;
    const memory::desc plain(out, kF32, tag::abcd), moved(out, kF32, TagOf(layout, 4));
    dnnl::post_ops ops;
    bool any = false;
    int binary_count = 0;
    for (int i = 0; i < po.ops.len(); ++i) {
      switch (po.ops.kind(i)) {
        case dnnl::primitive::kind::sum: {
          float scale = 1;
          po.ops.get_params_sum(i, scale);
          ops.append_sum(scale);
          break;
        }
        case dnnl::primitive::kind::eltwise: {
          float scale = 1, alpha = 0, beta = 0;
          alg a;
          po.ops.get_params_eltwise(i, scale, a, alpha, beta);
          ops.append_eltwise(scale, a, alpha, beta);
          break;
        }
        case dnnl::primitive::kind::binary: {
          alg a;
          memory::desc md;
          po.ops.get_params_binary(i, a, md);
          ++binary_count;
          if (md != plain) {
            ops.append_binary(a, md);
            break;
          }
          any = true;
          ops.append_binary(a, moved);
          const int arg = DNNL_ARG_ATTR_MULTIPLE_POST_OP(i) | DNNL_ARG_SRC_1;
          for (auto& [k, m] : po.owned)
            if (k == arg) {
              memory to(moved, eng_);
              dnnl::reorder(m, to).execute(strm_, m, to);
              strm_.wait();
              m = to;
            }
          int bound = 0;
          for (size_t r = 0; r < po.reads.size(); ++r) {
            if (static_cast<int>(r) == po.sum_read) continue;
            if (po.bound[bound].first == arg) {
              po.bound[bound].second = moved;
              po.reads[r].layout = layout;
            }
            ++bound;
          }
          break;
        }
        default:
          return false;  // a post-op kind this backend does not build
      }
    }
    if (any) po.ops = ops;
    return any;
  }

  void Finish(PrimExec& e, PostOps& po, size_t first_read, size_t dst_bytes) {
    for (auto& [arg, m] : po.owned) e.Own(arg, m);
    size_t r = first_read;
    int bound = 0;
    for (size_t k = 0; k < po.reads.size(); ++k, ++r) {
      if (static_cast<int>(k) == po.sum_read) {
        e.SumFrom(static_cast<int>(r), dst_bytes);
        continue;
      }
      e.BindInput(po.bound[bound].first, static_cast<int>(r), po.bound[bound].second, eng_);
      ++bound;
    }
  }

  Created CreateConv(const std::vector<NodeView>& chain, const std::string& in_l,
                     const std::string& out_l) {
    const NodeView& n = chain[0];
    const bool transposed = n.proto->op_type() == "ConvTranspose";
    auto x = n.inputs[0].shape;
    auto y = n.outputs[0].shape;
    auto w = n.inputs[1].shape;
    if (x.size() != 3 && x.size() != 4) throw Refuse{fmt::format("{}-D convolution", x.size() - 2)};
    const bool one_d = x.size() == 3;
    if (one_d) {  // as 2-D with height 1: the same bytes in plain order
      x.insert(x.begin() + 2, 1);
      y.insert(y.begin() + 2, 1);
      w.insert(w.begin() + 2, 1);
    }
    const int64_t group = AttrInt(*n.proto, "group", 1);
    NodeView nv = n;  // geometry on the 2-D view
    nv.inputs[0].shape = x;
    nv.outputs[0].shape = y;
    std::vector<int64_t> kernel{w[2], w[3]};
    if (one_d) {
      // Attributes of a 1-D node have one entry per spatial dim: prepend the height's.
      onnx::NodeProto p = *n.proto;
      for (const char* a : {"strides", "dilations", "kernel_shape", "output_padding"}) {
        auto v = AttrInts(p, a);
        if (v.empty()) continue;
        for (auto& attr : *p.mutable_attribute())
          if (attr.name() == a) {
            attr.clear_ints();
            attr.add_ints(1);
            for (auto i : v) attr.add_ints(i);
          }
      }
      for (auto& attr : *p.mutable_attribute())
        if (attr.name() == "pads" && attr.ints_size() == 2) {
          const auto b = attr.ints(0), e = attr.ints(1);
          attr.clear_ints();
          for (auto i : {int64_t{0}, b, int64_t{0}, e}) attr.add_ints(i);
        }
      one_d_proto_ = std::make_unique<onnx::NodeProto>(p);
      nv.proto = one_d_proto_.get();
    }
    const Geometry g = GeometryOf(nv, kernel, transposed);
    const int64_t oc = y[1], ic = x[1];
    const std::string src_l = one_d ? "nchw" : in_l;
    const std::string dst_l = one_d ? "nchw" : out_l;

    // Weights and bias: constant ones are folded into and packed; others are read at run time.
    const Tensor* wc = n.constants[1];
    const bool has_bias = n.inputs.size() > 2 && !n.inputs[2].dtype.empty();
    const Tensor* bc = has_bias ? n.constants[2] : nullptr;
    std::vector<float> wv = wc ? wc->f32 : std::vector<float>{};
    std::vector<float> bv;
    bool bias_used = has_bias;
    if (bc) bv = bc->f32;
    const bool can_fold = wc && (!has_bias || bc);
    // Elements per output channel in the weights' plain order: Conv [oc][ic/g][kh][kw];
    // ConvTranspose [ic][oc/g][kh][kw].
    const int64_t khw = w[2] * w[3];
    auto scale_oc = [&](int64_t c, float s) {
      if (!transposed) {
        const int64_t per = w[1] * khw;
        for (int64_t k = 0; k < per; ++k) wv[c * per + k] *= s;
      } else {
        const int64_t ocg = w[1], g_ = c / ocg, cc = c % ocg, icg = w[0] / group;
        for (int64_t i = 0; i < icg; ++i)
          for (int64_t k = 0; k < khw; ++k) wv[((g_ * icg + i) * ocg + cc) * khw + k] *= s;
      }
    };
    FoldFn fold;
    if (can_fold)
      fold = [&](const std::string& op, const std::vector<float>& per) {
        if (bv.empty()) bv.assign(oc, 0.0f);
        bias_used = true;
        for (int64_t c = 0; c < oc; ++c) {
          if (op == "add") bv[c] += per[c];
          else if (op == "sub") bv[c] -= per[c];
          else if (op == "mul" || op == "div") {
            const float s = op == "mul" ? per[c] : 1.0f / per[c];
            bv[c] *= s;
            scale_oc(c, s);
          }
        }
        return true;
      };
    const std::vector<float> wv_unfolded = wv, bv_unfolded = bv;
    PostOps po = MakePostOps(chain, n.outputs[0].shape, 1, dst_l, fold, /*folds_only=*/transposed);
    if (one_d && po.sum_read >= 0) throw Refuse{"a residual sum on a 1-D convolution"};

    memory::dims wd;
    tag wtag;
    if (group == 1) {
      wd = {oc, ic, w[2], w[3]};
      wtag = transposed ? tag::iohw : tag::oihw;
    } else {
      wd = {group, oc / group, ic / group, w[2], w[3]};
      wtag = transposed ? tag::giohw : tag::goihw;
    }
    const memory::desc src_md(Dims(x), kF32, TagOf(src_l, 4));
    const memory::desc dst_md(Dims(y), kF32, TagOf(dst_l, 4));
    const memory::desc wei_user(wd, kF32, wtag);
    const memory::desc wei_md = wc ? memory::desc(wd, kF32, tag::any) : wei_user;
    const memory::desc bias_md = bias_used ? memory::desc({oc}, kF32, tag::a) : memory::desc();
    dnnl::primitive prim;
    memory::desc src_q, wei_q, dst_q;
    std::string impl;
    // The primitive and what oneDNN chose for it (a convolution's or a deconvolution's descriptor).
    auto take = [&](dnnl::primitive p, const auto& pd) {
      prim = std::move(p);
      src_q = pd.src_desc(), wei_q = pd.weights_desc(), dst_q = pd.dst_desc();
      impl = pd.impl_info_str();
    };
    auto make = [&](const dnnl::post_ops& ops) {
      dnnl::primitive_attr attr;
      attr.set_post_ops(ops);
      if (!transposed) {
        dnnl::convolution_forward::desc d(kInfer, alg::convolution_direct, src_md, wei_md, bias_md,
                                          dst_md, g.strides, g.dilation, g.pad_l, g.pad_r);
        dnnl::convolution_forward::primitive_desc pd(d, attr, eng_);
        take(dnnl::convolution_forward(pd), pd);
      } else {
        dnnl::deconvolution_forward::desc d(kInfer, alg::deconvolution_direct, src_md, wei_md, bias_md,
                                            dst_md, g.strides, g.dilation, g.pad_l, g.pad_r);
        dnnl::deconvolution_forward::primitive_desc pd(d, attr, eng_);
        take(dnnl::deconvolution_forward(pd), pd);
      }
    };
    std::string dst_name;
    // Builds the primitive of `p`. A full-size binary operand is read in dst's layout, as an
    // application holds it: oneDNN 2.6's gemm convolution (chosen for small nhwc convolutions)
    // computes wrong values when that operand is plain beside an nhwc dst, and the jit kernels read it
    // fastest in dst's own layout. `any`: the layout the first primitive chose (kept only when oneDNN
    // keeps it with the operand there).
    auto build = [&](PostOps& p) {
      make(p.ops);
      dst_name = one_d ? "nchw" : LayoutOf(dst_q);
      if (one_d || dst_name.empty() || dst_name == "nchw") return;
      PostOps moved = p;
      if (!OperandsIn(moved, Dims(y), dst_name)) return;
      const auto keep = std::make_tuple(prim, src_q, wei_q, dst_q, impl);
      bool kept = false;
      try {
        make(moved.ops);
        kept = LayoutOf(dst_q) == dst_name;
      } catch (const dnnl::error&) {
      }
      if (kept) p = std::move(moved);
      else std::tie(prim, src_q, wei_q, dst_q, impl) = keep;
    };
    build(po);
    // Some chains oneDNN 2.6 has no optimised kernel for, e.g. a sum after an eltwise post-op in a
    // blocked layout: it falls back to `ref:any`, which ran yolo_det's Conv+BN+LeakyRelu+Add 1400x
    // slower (2.8 s). Fewer post-ops then, the rest as their own primitives, as the database measured
    // that chain (its fused row is a reference kernel, so the selector costs it pass by pass). The
    // folds come before any post-op, so they are the same at every length: weights and bias are
    // restored and folded again. Where no length avoids it (a 3-channel conv in a blocked layout has
    // only the reference kernel), the whole chain stays fused.
    if (impl.rfind("ref", 0) == 0 && po.count > 0) {
      const int full = po.count;
      int keep = full - 1;
      for (; keep >= 0; --keep) {
        wv = wv_unfolded;
        bv = bv_unfolded;
        po = MakePostOps(chain, n.outputs[0].shape, 1, dst_l, fold, transposed, keep);
        build(po);
        if (impl.rfind("ref", 0) != 0) break;
      }
      if (keep < 0) {
        wv = wv_unfolded;
        bv = bv_unfolded;
        po = MakePostOps(chain, n.outputs[0].shape, 1, dst_l, fold, transposed, full);
        build(po);
      }
    }
    Created c;
    c.impl = impl;
    c.fused = po.fused;
    const std::string src_name = one_d ? "nchw" : LayoutOf(src_q);
    if (src_name.empty() || dst_name.empty()) throw Refuse{"oneDNN chose a layout outside ours"};
    auto e = std::make_unique<PrimExec>(prim, &strm_);
    e->BindInput(DNNL_ARG_SRC, 0, src_q, eng_);
    c.reads.push_back({0, 0, src_name});
    if (wc) {
      e->Own(DNNL_ARG_WEIGHTS, Constant(wei_q, wv, wei_user));
    } else {
      e->BindInput(DNNL_ARG_WEIGHTS, static_cast<int>(c.reads.size()), wei_user, eng_);
      c.reads.push_back({0, 1, "nchw"});
    }
    if (bias_used) {
      if (!bv.empty()) {
        e->Own(DNNL_ARG_BIAS, Constant(bias_md, bv, bias_md));
      } else {
        e->BindInput(DNNL_ARG_BIAS, static_cast<int>(c.reads.size()), bias_md, eng_);
        c.reads.push_back({0, 2, "nchw"});
      }
    }
    const size_t first = c.reads.size();
    c.reads.insert(c.reads.end(), po.reads.begin(), po.reads.end());
    for (size_t k = first; k < c.reads.size(); ++k)
      if (static_cast<int>(k - first) == po.sum_read) c.reads[k].layout = dst_name;
    Finish(*e, po, first, dst_q.get_size());
    e->BindOutput(DNNL_ARG_DST, 0, dst_q, eng_);
    c.out_layouts = {dst_name};
    c.exec = std::move(e);
    return c;
  }

  // Gemm with constant weights is an inner product, as the database measures it (`ip` problems):
  // weights [N, K] ([K, N] read transposed), C of [N] or [1, N] as the bias, alpha folded in.
  Created CreateInnerProduct(const std::vector<NodeView>& chain) {
    const NodeView& n = chain[0];
    const auto& a = n.inputs[0].shape;
    const auto& y = n.outputs[0].shape;
    const Tensor* bc = n.constants[1];
    const int64_t m = y[0], nout = y[1], k = a[1];
    const bool trans_b = AttrInt(*n.proto, "transB", 0) != 0;
    const float alpha = AttrFloat(*n.proto, "alpha", 1.0f), beta = AttrFloat(*n.proto, "beta", 1.0f);
    std::vector<float> w = bc->f32;
    for (auto& v : w) v *= alpha;
    std::vector<float> bias;
    if (n.inputs.size() > 2 && !n.inputs[2].dtype.empty()) {
      const Tensor* cc = n.constants[2];
      if (!cc || !cc->IsFloat() || (cc->Elems() != nout && cc->Elems() != 1))
        throw Refuse{"C is not a constant row"};
      bias.resize(nout);
      for (int64_t j = 0; j < nout; ++j) bias[j] = beta * cc->f32[cc->Elems() == 1 ? 0 : j];
    }
    FoldFn fold = [&](const std::string& op, const std::vector<float>& per) {
      if (op != "add" && op != "sub") return false;
      if (bias.empty()) bias.assign(nout, 0.0f);
      for (int64_t j = 0; j < nout; ++j) bias[j] += op == "add" ? per[j] : -per[j];
      return true;
    };
    PostOps po = MakePostOps(chain, y, 1, "nchw", fold);
    const memory::desc src({m, k}, kF32, tag::ab), dst({m, nout}, kF32, tag::ab);
    const memory::desc w_user({nout, k}, kF32, trans_b ? tag::ab : tag::ba);
    const memory::desc w_md({nout, k}, kF32, tag::any);
    const memory::desc b_md = bias.empty() ? memory::desc() : memory::desc({nout}, kF32, tag::a);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po.ops);
    dnnl::inner_product_forward::desc d(kInfer, src, w_md, b_md, dst);
    dnnl::inner_product_forward::primitive_desc pd(d, attr, eng_);
    Created c;
    c.impl = pd.impl_info_str();
    c.fused = po.fused;
    auto e = std::make_unique<PrimExec>(dnnl::inner_product_forward(pd), &strm_);
    e->BindInput(DNNL_ARG_SRC, 0, src, eng_);
    c.reads.push_back({0, 0, "nchw"});
    e->Own(DNNL_ARG_WEIGHTS, Constant(pd.weights_desc(), w, w_user));
    if (!bias.empty()) e->Own(DNNL_ARG_BIAS, Constant(b_md, bias, b_md));
    const size_t first = c.reads.size();
    c.reads.insert(c.reads.end(), po.reads.begin(), po.reads.end());
    Finish(*e, po, first, dst.get_size());
    e->BindOutput(DNNL_ARG_DST, 0, dst, eng_);
    c.out_layouts = {"nchw"};
    c.exec = std::move(e);
    return c;
  }

  Created CreateMatMul(const std::vector<NodeView>& chain) {
    const NodeView& n = chain[0];
    const bool gemm = n.proto->op_type() == "Gemm";
    if (gemm && n.constants[1] && n.constants[1]->IsFloat() && !AttrInt(*n.proto, "transA", 0)) {
      try {
        return CreateInnerProduct(chain);
      } catch (const Refuse&) {  // e.g. a full [M, N] C: the matmul below takes it
      }
    }
    auto a = n.inputs[0].shape, b = n.inputs[1].shape, y = n.outputs[0].shape;
    if (a.size() < 2 || b.size() < 2) throw Refuse{"MatMul of a 1-D operand"};
    const size_t r = y.size();
    a = PadTo(a, r);
    b = PadTo(b, r);
    memory::desc a_md(Dims(a), kF32, PlainTag(r)), b_user(Dims(b), kF32, PlainTag(r));
    float alpha = 1.0f, beta = 1.0f;
    if (gemm) {
      alpha = AttrFloat(*n.proto, "alpha", 1.0f);
      beta = AttrFloat(*n.proto, "beta", 1.0f);
      if (AttrInt(*n.proto, "transA", 0)) {
        a_md = memory::desc({a[1], a[0]}, kF32, tag::ba);
        std::swap(a[0], a[1]);
      }
      if (AttrInt(*n.proto, "transB", 0)) {
        b_user = memory::desc({b[1], b[0]}, kF32, tag::ba);
        std::swap(b[0], b[1]);
      }
    }
    const int64_t nout = y.back();
    const Tensor* bc = n.constants[1];
    std::vector<float> bv = bc ? bc->f32 : std::vector<float>{};
    if (alpha != 1.0f) {
      if (!bc) throw Refuse{"Gemm with alpha != 1 and non-constant B"};
      for (auto& v : bv) v *= alpha;
    }
    std::vector<float> bias;
    memory::desc bias_md;
    if (gemm && n.inputs.size() > 2 && !n.inputs[2].dtype.empty()) {
      const Tensor* cc = n.constants[2];
      if (!cc) throw Refuse{"Gemm with a non-constant C"};
      const auto cs = PadTo(cc->shape, 2);
      if (cs[0] != 1 && cs[0] != y[0]) throw Refuse{"Gemm C shape"};
      const int64_t rows = cs[0], cols = y[1];
      bias.assign(rows * cols, 0.0f);
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
          bias[i * cols + j] = beta * cc->f32[(cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)];
      bias_md = memory::desc({rows, cols}, kF32, tag::ab);
    }
    // A following constant Add over the last axis becomes the bias.
    FoldFn fold = [&](const std::string& op, const std::vector<float>& per) {
      if (op != "add" && op != "sub") return false;
      if (bias.empty()) {
        bias.assign(nout, 0.0f);
        std::vector<int64_t> bd(r, 1);
        bd.back() = nout;
        bias_md = memory::desc(Dims(bd), kF32, PlainTag(r));
      }
      const int64_t rows = static_cast<int64_t>(bias.size()) / nout;
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < nout; ++j) bias[i * nout + j] += op == "add" ? per[j] : -per[j];
      return true;
    };
    PostOps po = MakePostOps(chain, y, static_cast<int>(r) - 1, "nchw", fold);
    if (!bias.empty() && bias_md.data.ndims != static_cast<int>(r)) {  // Gemm: rank 2 already
    }
    const memory::desc w_md = bc ? memory::desc(Dims(b), kF32, tag::any) : b_user;
    const memory::desc y_md(Dims(y), kF32, PlainTag(r));
    dnnl::primitive_attr attr;
    attr.set_post_ops(po.ops);
    dnnl::matmul::desc d = bias.empty() ? dnnl::matmul::desc(a_md, w_md, y_md)
                                        : dnnl::matmul::desc(a_md, w_md, bias_md, y_md);
    dnnl::matmul::primitive_desc pd(d, attr, eng_);
    Created c;
    c.impl = pd.impl_info_str();
    c.fused = po.fused;
    auto e = std::make_unique<PrimExec>(dnnl::matmul(pd), &strm_);
    e->BindInput(DNNL_ARG_SRC, 0, a_md, eng_);
    c.reads.push_back({0, 0, "nchw"});
    if (bc) {
      e->Own(DNNL_ARG_WEIGHTS, Constant(pd.weights_desc(), bv, b_user));
    } else {
      e->BindInput(DNNL_ARG_WEIGHTS, 1, b_user, eng_);
      c.reads.push_back({0, 1, "nchw"});
    }
    if (!bias.empty()) e->Own(DNNL_ARG_BIAS, Constant(bias_md, bias, bias_md));
    const size_t first = c.reads.size();
    c.reads.insert(c.reads.end(), po.reads.begin(), po.reads.end());
    Finish(*e, po, first, y_md.get_size());
    e->BindOutput(DNNL_ARG_DST, 0, y_md, eng_);
    c.out_layouts = {"nchw"};
    c.exec = std::move(e);
    return c;
  }

  Created CreatePool(const NodeView& n, const std::string& in_l) {
    const auto& x = n.inputs[0].shape;
    const auto& y = n.outputs[0].shape;
    if (x.size() != 4) throw Refuse{fmt::format("{}-D pooling", x.size() - 2)};
    if (n.outputs.size() > 1 && !n.proto->output(1).empty()) throw Refuse{"MaxPool indices output"};
    const std::string& op = n.proto->op_type();
    const bool global = op.rfind("Global", 0) == 0;
    std::vector<int64_t> kernel = global ? std::vector<int64_t>{x[2], x[3]}
                                         : AttrInts(*n.proto, "kernel_shape");
    if (kernel.size() != 2) throw Refuse{"pooling kernel_shape"};
    Geometry g = GeometryOf(n, kernel, false);
    if (global) g = {{x[2], x[3]}, {1, 1}, {0, 0}, {0, 0}, {0, 0}};
    alg a = alg::pooling_max;
    if (op == "AveragePool" || op == "GlobalAveragePool")
      a = AttrInt(*n.proto, "count_include_pad", 0) ? alg::pooling_avg_include_padding
                                                    : alg::pooling_avg_exclude_padding;
    if (a == alg::pooling_avg_include_padding && AttrInt(*n.proto, "ceil_mode", 0))
      throw Refuse{"AveragePool counting pads with ceil_mode"};
    const memory::desc src(Dims(x), kF32, TagOf(in_l, 4)), dst(Dims(y), kF32, TagOf(in_l, 4));
    dnnl::pooling_v2_forward::desc d(kInfer, a, src, dst, g.strides, g.kernel, g.dilation, g.pad_l,
                                     g.pad_r);
    dnnl::pooling_v2_forward::primitive_desc pd(d, eng_);
    return Single(dnnl::pooling_v2_forward(pd), pd.impl_info_str(), src, dst, in_l);
  }

  // One primitive reading input 0 as `src` and writing `dst`.
  Created Single(dnnl::primitive prim, std::string impl, const memory::desc& src,
                 const memory::desc& dst, const std::string& layout) {
    Created c;
    c.impl = std::move(impl);
    auto e = std::make_unique<PrimExec>(std::move(prim), &strm_);
    e->BindInput(DNNL_ARG_SRC, 0, src, eng_);
    e->BindOutput(DNNL_ARG_DST, 0, dst, eng_);
    c.reads.push_back({0, 0, layout});
    c.out_layouts = {layout};
    c.exec = std::move(e);
    return c;
  }

  std::string Layout4(const Value& v, const std::string& l) const {
    return v.shape.size() == 4 && l != "any" ? l : "nchw";
  }

  Created CreateEltwise(const NodeView& n, const std::string& in_l) {
    const std::string l = Layout4(n.inputs[0], in_l);
    const memory::desc md(Dims(n.inputs[0].shape), kF32, TagOf(l, n.inputs[0].shape.size()));
    const auto algs = EltwiseOf(n);
    auto chain = std::make_unique<ChainExec>();
    std::string impl;
    for (const auto& a : algs) {
      dnnl::eltwise_forward::desc d(kInfer, a.a, md, a.alpha, a.beta);
      dnnl::eltwise_forward::primitive_desc pd(d, eng_);
      impl = pd.impl_info_str();
      auto e = std::make_unique<PrimExec>(dnnl::eltwise_forward(pd), &strm_);
      e->BindInput(DNNL_ARG_SRC, 0, md, eng_);
      e->BindOutput(DNNL_ARG_DST, 0, md, eng_);
      chain->parts.push_back(std::move(e));
    }
    Created c;
    c.impl = impl;
    c.reads.push_back({0, 0, l});
    c.out_layouts = {l};
    c.exec = std::move(chain);
    return c;
  }

  Created CreateBinary(const NodeView& n, const std::string& in_l) {
    const std::string& op = n.proto->op_type();
    if (n.inputs.size() != 2) throw Refuse{op + " with more than two inputs"};
    const auto& y = n.outputs[0].shape;
    int s0 = 0, s1 = 1;
    if (n.inputs[0].shape != y) {
      if (!Commutes(op) || n.inputs[1].shape != y) throw Refuse{"a broadcast first operand"};
      std::swap(s0, s1);
    }
    const auto b = PadTo(n.inputs[s1].shape, y.size());
    if (b.size() != y.size()) throw Refuse{"broadcast rank"};
    const std::string l = Layout4(n.outputs[0], in_l);
    // A broadcast operand computed at run time (a squeeze-excitation's [1,C,1,1] scale) is read in
    // src's layout too: beside a blocked src, oneDNN 2.6's binary reads a plain one in its reference
    // loop (paddle_det's SE Mul: 18 ms in nChw8c, predicted 0.07). The runtime converts it (a few
    // hundred bytes). Constant ones stay plain (they are copied in as they are).
    const bool run_time_operand = !n.constants[s1];
    const std::string l1 = b == y || (run_time_operand && y.size() == 4) ? l : "nchw";
    const memory::desc md0(Dims(y), kF32, TagOf(l, y.size()));
    // A constant scalar operand (hardswish's x + 3 and / 6): one linear eltwise. oneDNN 2.6's binary
    // reads a plain 1x1x1x1 operand beside a blocked src in its reference loop (paddle_det's
    // Add+Clip ran 46 ms in nChw16c, predicted 0.7).
    if (const Tensor* k = n.constants[s1]; k && k->IsFloat() && k->Elems() == 1 && !n.constants[s0]) {
      const float v = k->f32[0];
      // y = alpha * x + beta; other ops (and a division by zero) take the binary below.
      std::optional<std::pair<float, float>> linear;
      if (op == "Add") linear = {1.0f, v};
      else if (op == "Sub") linear = {1.0f, -v};
      else if (op == "Mul") linear = {v, 0.0f};
      else if (op == "Div" && v != 0) linear = {1.0f / v, 0.0f};
      if (linear) {
        dnnl::eltwise_forward::desc d(kInfer, alg::eltwise_linear, md0, linear->first, linear->second);
        dnnl::eltwise_forward::primitive_desc pd(d, eng_);
        Created c = Single(dnnl::eltwise_forward(pd), pd.impl_info_str(), md0, md0, l);
        c.reads[0].input = s0;
        return c;
      }
    }
    const memory::desc md1(Dims(b), kF32, TagOf(l1, b.size()));
    dnnl::binary::desc d(BinaryAlgOf(op), md0, md1, md0);
    dnnl::binary::primitive_desc pd(d, eng_);
    Created c;
    c.impl = pd.impl_info_str();
    auto e = std::make_unique<PrimExec>(dnnl::binary(pd), &strm_);
    int r = 0;
    for (int k : {s0, s1}) {
      const int arg = k == s0 ? DNNL_ARG_SRC_0 : DNNL_ARG_SRC_1;
      const memory::desc& md = k == s0 ? md0 : md1;
      if (const Tensor* t = n.constants[k]) {
        if (!t->IsFloat()) throw Refuse{"an integer operand"};
        memory m(md, eng_);
        if (md.get_size() != t->f32.size() * 4) throw Refuse{"a constant operand in a blocked layout"};
        std::memcpy(m.get_data_handle(), t->f32.data(), t->f32.size() * 4);
        e->Own(arg, m);
      } else {
        e->BindInput(arg, r++, md, eng_);
        c.reads.push_back({0, k, k == s0 ? l : l1});
      }
    }
    if (c.reads.empty()) throw Refuse{"two constant operands"};
    e->BindOutput(DNNL_ARG_DST, 0, md0, eng_);
    c.out_layouts = {l};
    c.exec = std::move(e);
    return c;
  }

  Created CreateBnorm(const NodeView& n, const std::string& in_l) {
    if (n.outputs.size() > 1) throw Refuse{"BatchNormalization in training mode"};
    const auto& x = n.inputs[0].shape;
    const int64_t ch = x.size() > 1 ? x[1] : 1;
    for (int k = 1; k <= 4; ++k)
      if (!n.constants[k] || n.constants[k]->Elems() != ch) throw Refuse{"non-constant statistics"};
    const std::string l = Layout4(n.inputs[0], in_l);
    const memory::desc md(Dims(x), kF32, TagOf(l, x.size()));
    using nf = dnnl::normalization_flags;
    dnnl::batch_normalization_forward::desc d(
        kInfer, md, AttrFloat(*n.proto, "epsilon", 1e-5f),
        nf::use_global_stats | nf::use_scale | nf::use_shift);
    dnnl::batch_normalization_forward::primitive_desc pd(d, eng_);
    Created c = Single(dnnl::batch_normalization_forward(pd), pd.impl_info_str(), md, md, l);
    auto* e = static_cast<PrimExec*>(c.exec.get());
    const memory::desc v({ch}, kF32, tag::a);
    e->Own(DNNL_ARG_SCALE, Constant(v, n.constants[1]->f32, v));
    e->Own(DNNL_ARG_SHIFT, Constant(v, n.constants[2]->f32, v));
    e->Own(DNNL_ARG_MEAN, Constant(v, n.constants[3]->f32, v));
    e->Own(DNNL_ARG_VARIANCE, Constant(v, n.constants[4]->f32, v));
    return c;
  }

  Created CreateLnorm(const NodeView& n) {
    if (n.outputs.size() > 1) throw Refuse{"LayerNormalization's Mean / InvStdDev outputs"};
    const auto& x = n.inputs[0].shape;
    int64_t axis = AttrInt(*n.proto, "axis", -1);
    if (axis < 0) axis += static_cast<int64_t>(x.size());
    const int64_t inner = Prod(x, axis), outer = Prod(x, 0, axis);
    const memory::desc md({outer, inner}, kF32, tag::ab);
    const Tensor* scale = n.constants[1];
    const bool has_b = n.inputs.size() > 2 && !n.inputs[2].dtype.empty();
    const Tensor* shift = has_b ? n.constants[2] : nullptr;
    if (!scale || scale->Elems() != inner || (has_b && (!shift || shift->Elems() != inner)))
      throw Refuse{"LayerNormalization with non-constant or broadcast scale / bias"};
    using nf = dnnl::normalization_flags;
    const nf flags = has_b ? nf::use_scale | nf::use_shift : nf::use_scale;
    dnnl::layer_normalization_forward::desc d(kInfer, md, AttrFloat(*n.proto, "epsilon", 1e-5f),
                                              flags);
    dnnl::layer_normalization_forward::primitive_desc pd(d, eng_);
    Created c = Single(dnnl::layer_normalization_forward(pd), pd.impl_info_str(), md, md, "nchw");
    auto* e = static_cast<PrimExec*>(c.exec.get());
    const memory::desc v({inner}, kF32, tag::a);
    e->Own(DNNL_ARG_SCALE, Constant(v, scale->f32, v));
    if (has_b) e->Own(DNNL_ARG_SHIFT, Constant(v, shift->f32, v));
    return c;
  }

  Created CreateSoftmax(const NodeView& n, const std::string& in_l) {
    const auto& x = n.inputs[0].shape;
    const int64_t rank = static_cast<int64_t>(x.size());
    int64_t axis = AttrInt(*n.proto, "axis", n.opset < 13 ? 1 : -1);
    if (axis < 0) axis += rank;
    const alg a = n.proto->op_type() == "Softmax" ? alg::softmax_accurate : alg::softmax_log;
    memory::desc md;
    std::string l = "nchw";
    int dnnl_axis = static_cast<int>(axis);
    if (n.opset < 13 && axis != rank - 1) {  // coerced to 2-D at `axis`
      md = memory::desc({Prod(x, 0, axis), Prod(x, axis)}, kF32, tag::ab);
      dnnl_axis = 1;
    } else {
      l = Layout4(n.inputs[0], in_l);
      md = memory::desc(Dims(x), kF32, TagOf(l, x.size()));
    }
    dnnl::softmax_v2_forward::desc d(kInfer, a, md, md, dnnl_axis);
    dnnl::softmax_v2_forward::primitive_desc pd(d, eng_);
    return Single(dnnl::softmax_v2_forward(pd), pd.impl_info_str(), md, md, l);
  }

  Created CreateConcat(const NodeView& n, const std::string& in_l) {
    const auto& y = n.outputs[0].shape;
    int64_t axis = AttrInt(*n.proto, "axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(y.size());
    const std::string l = Layout4(n.outputs[0], in_l);
    std::vector<memory::desc> srcs;
    std::vector<int> which;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
      if (n.inputs[k].Elems() == 0) continue;  // an empty piece adds nothing
      if (n.inputs[k].dtype != "f32") throw Refuse{"an integer Concat"};
      srcs.emplace_back(Dims(n.inputs[k].shape), kF32, TagOf(l, y.size()));
      which.push_back(static_cast<int>(k));
    }
    if (srcs.empty()) throw Refuse{"only empty inputs"};
    const memory::desc dst(Dims(y), kF32, TagOf(l, y.size()));
    dnnl::concat::primitive_desc pd(dst, static_cast<int>(axis), srcs, eng_);
    Created c;
    c.impl = pd.impl_info_str();
    auto e = std::make_unique<PrimExec>(dnnl::concat(pd), &strm_);
    int r = 0;
    for (size_t k = 0; k < which.size(); ++k) {
      const int arg = DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k);
      if (const Tensor* t = n.constants[which[k]]) {
        e->Own(arg, Constant(srcs[k], t->f32, memory::desc(Dims(t->shape), kF32, PlainTag(y.size()))));
      } else {
        e->BindInput(arg, r++, srcs[k], eng_);
        c.reads.push_back({0, which[k], l});
      }
    }
    if (c.reads.empty()) throw Refuse{"only constant inputs"};
    e->BindOutput(DNNL_ARG_DST, 0, dst, eng_);
    c.out_layouts = {l};
    c.exec = std::move(e);
    return c;
  }

  Created CreateResize(const NodeView& n, const std::string& in_l) {
    const auto& x = n.inputs[0].shape;
    const auto& y = n.outputs[0].shape;
    if (x.size() != 4 || x[0] != y[0] || x[1] != y[1]) throw Refuse{"Resize beyond H and W"};
    const onnx::NodeProto& p = *n.proto;
    const std::string mode = AttrString(p, "mode", "nearest");
    const bool upsample = p.op_type() == "Upsample" || n.opset < 11;
    const std::string coord =
        upsample ? "asymmetric" : AttrString(p, "coordinate_transformation_mode", "half_pixel");
    const std::string nearest = AttrString(p, "nearest_mode", "round_prefer_floor");
    alg a;
    if (mode == "nearest") {
      // oneDNN's nearest agrees with ONNX's when every scale is a whole number and the rounding
      // picks the same source: asymmetric + floor, or half_pixel + round_prefer_floor.
      for (int k : {2, 3})
        if (y[k] % x[k] != 0) throw Refuse{"nearest Resize by a fractional scale"};
      const bool ok = (coord == "asymmetric" && (upsample || nearest == "floor")) ||
                      (coord == "half_pixel" && nearest == "round_prefer_floor");
      if (!ok) throw Refuse{fmt::format("nearest Resize with {} / {}", coord, nearest)};
      a = alg::resampling_nearest;
    } else if (mode == "linear" || mode == "bilinear") {
      if (coord != "half_pixel" && !(coord == "pytorch_half_pixel" && y[2] > 1 && y[3] > 1))
        throw Refuse{fmt::format("linear Resize with {}", coord)};
      a = alg::resampling_linear;
    } else {
      throw Refuse{fmt::format("Resize mode {}", mode)};
    }
    const std::string l = Layout4(n.inputs[0], in_l);
    const memory::desc src(Dims(x), kF32, TagOf(l, 4)), dst(Dims(y), kF32, TagOf(l, 4));
    dnnl::resampling_forward::desc d(kInfer, a, src, dst);
    dnnl::resampling_forward::primitive_desc pd(d, eng_);
    return Single(dnnl::resampling_forward(pd), pd.impl_info_str(), src, dst, l);
  }

  Created CreateReduce(const NodeView& n) {
    // Keyed by the op table's reduction (mean, sum, max, min, mul).
    static const std::map<std::string_view, alg> kAlgs = {{"mean", alg::reduction_mean},
                                                          {"sum", alg::reduction_sum},
                                                          {"max", alg::reduction_max},
                                                          {"min", alg::reduction_min},
                                                          {"mul", alg::reduction_mul}};
    auto it = kAlgs.find(selector::AlgOf(n.proto->op_type()));
    if (it == kAlgs.end()) throw Refuse{n.proto->op_type() + " has no oneDNN reduction"};
    const auto& x = n.inputs[0].shape;
    const int64_t rank = static_cast<int64_t>(x.size());
    std::vector<int64_t> axes = AttrInts(*n.proto, "axes");
    if (n.inputs.size() > 1 && !n.inputs[1].dtype.empty()) {
      if (!n.constants[1]) throw Refuse{"axes computed at run time"};
      axes = n.constants[1]->i64;
    }
    std::vector<int64_t> y = x;
    if (axes.empty()) {
      if (AttrInt(*n.proto, "noop_with_empty_axes", 0)) throw Refuse{"noop_with_empty_axes"};
      for (auto& d : y) d = 1;
    }
    for (int64_t a : axes) y[a < 0 ? a + rank : a] = 1;
    if (y == x) throw Refuse{"a reduction over nothing"};
    const memory::desc src(Dims(x), kF32, PlainTag(x.size())), dst(Dims(y), kF32, PlainTag(y.size()));
    dnnl::reduction::desc d(it->second, src, dst, 0.0f, 0.0f);
    dnnl::reduction::primitive_desc pd(d, eng_);
    return Single(dnnl::reduction(pd), pd.impl_info_str(), src, dst, "nchw");
  }

  // Transpose as a reorder: the source read with permuted strides, written plain.
  Created CreateTranspose(const NodeView& n) {
    const auto& x = n.inputs[0].shape;
    const size_t r = x.size();
    std::vector<int64_t> perm = AttrInts(*n.proto, "perm");
    if (perm.empty())
      for (size_t k = 0; k < r; ++k) perm.push_back(static_cast<int64_t>(r - 1 - k));
    memory::dims strides_in(r), dims(r), strides(r);
    int64_t s = 1;
    for (size_t k = r; k-- > 0;) {
      strides_in[k] = s;
      s *= x[k];
    }
    for (size_t k = 0; k < r; ++k) {
      dims[k] = x[perm[k]];
      strides[k] = strides_in[perm[k]];
    }
    const memory::desc src(dims, kF32, strides);
    const memory::desc dst(dims, kF32, PlainTag(r));
    return PlainReorder(src, dst);
  }

  // A constant integer input's values, or null when the input is omitted.
  static const std::vector<int64_t>* ConstInts(const NodeView& n, size_t k, const char* what) {
    if (k >= n.inputs.size() || n.inputs[k].dtype.empty()) return nullptr;
    if (!n.constants[k]) throw Refuse{fmt::format("{} computed at run time", what)};
    if (n.constants[k]->IsFloat()) throw Refuse{fmt::format("float {}", what)};
    return &n.constants[k]->i64;
  }

  // Slice with steps of 1 as a reorder out of a sub-memory view of the source (plain order); other
  // steps run on the host.
  Created CreateSlice(const NodeView& n) {
    const auto& x = n.inputs[0].shape;
    const auto& y = n.outputs[0].shape;
    const size_t r = x.size();
    if (r == 0 || y.size() != r) throw Refuse{"a Slice of a scalar"};
    if (n.inputs[0].dtype != "f32") throw Refuse{"an integer Slice"};
    if (n.opset < 10) throw Refuse{"Slice with attributes (opset < 10)"};
    const auto* starts = ConstInts(n, 1, "starts");
    const auto* ends = ConstInts(n, 2, "ends");
    const auto* axes = ConstInts(n, 3, "axes");
    const auto* steps = ConstInts(n, 4, "steps");
    if (!starts || !ends) throw Refuse{"Slice without starts and ends"};
    memory::dims offsets(r, 0);
    for (size_t i = 0; i < starts->size(); ++i) {
      int64_t a = axes ? (*axes)[i] : static_cast<int64_t>(i);
      if (a < 0) a += static_cast<int64_t>(r);
      if (a < 0 || a >= static_cast<int64_t>(r)) throw Refuse{"axis out of range"};
      if (steps && (*steps)[i] != 1) throw Refuse{"a step other than 1"};
      int64_t s = (*starts)[i];
      if (s < 0) s += x[a];
      offsets[a] = std::min(std::max<int64_t>(s, 0), x[a]);
    }
    for (size_t k = 0; k < r; ++k)
      if (offsets[k] + y[k] > x[k] || y[k] <= 0) throw Refuse{"a Slice outside its input"};
    const memory::desc whole(Dims(x), kF32, PlainTag(r));
    const memory::desc src = whole.submemory_desc(Dims(y), offsets);
    const memory::desc dst(Dims(y), kF32, PlainTag(r));
    return PlainReorder(src, dst);
  }

  // Constant Pad with non-negative pads: the destination filled, the source reordered into a sub-memory
  // view of it (plain order). Other modes, crops and axes run on the host.
  Created CreatePad(const NodeView& n) {
    const auto& x = n.inputs[0].shape;
    const auto& y = n.outputs[0].shape;
    const size_t r = x.size();
    if (r == 0 || y.size() != r) throw Refuse{"a Pad of a scalar"};
    if (n.inputs[0].dtype != "f32") throw Refuse{"an integer Pad"};
    if (AttrString(*n.proto, "mode", "constant") != "constant") throw Refuse{"a Pad mode other than constant"};
    std::vector<int64_t> pads;
    float value = 0;
    if (n.opset < 11) {
      pads = AttrInts(*n.proto, "pads");
      value = AttrFloat(*n.proto, "value", 0.f);
    } else {
      const auto* p = ConstInts(n, 1, "pads");
      if (!p) throw Refuse{"Pad without pads"};
      pads = *p;
      if (n.inputs.size() > 3 && !n.inputs[3].dtype.empty()) throw Refuse{"Pad with axes"};
      if (n.inputs.size() > 2 && !n.inputs[2].dtype.empty()) {
        const Tensor* v = n.constants[2];
        if (!v || !v->IsFloat() || v->Elems() != 1) throw Refuse{"a pad value that is not a constant float"};
        value = v->f32[0];
      }
    }
    if (pads.size() != 2 * r) throw Refuse{"pads do not match the rank"};
    memory::dims begin(r);
    for (size_t k = 0; k < r; ++k) {
      if (pads[k] < 0 || pads[k + r] < 0) throw Refuse{"negative pads"};
      if (x[k] + pads[k] + pads[k + r] != y[k]) throw Refuse{"pads that do not give the output shape"};
      begin[k] = pads[k];
    }
    const memory::desc src(Dims(x), kF32, PlainTag(r));
    const memory::desc whole(Dims(y), kF32, PlainTag(r));
    const memory::desc inner = whole.submemory_desc(Dims(x), begin);
    dnnl::reorder::primitive_desc pd(eng_, src, eng_, inner);
    auto copy = std::make_unique<PrimExec>(dnnl::reorder(pd), &strm_);
    copy->BindInput(DNNL_ARG_FROM, 0, src, eng_);
    copy->BindOutput(DNNL_ARG_TO, 0, inner, eng_);
    Created c;
    c.impl = pd.impl_info_str();
    c.reads.push_back({0, 0, "nchw"});
    c.out_layouts = {"nchw"};
    c.exec = std::make_unique<PadExec>(std::move(copy), static_cast<size_t>(n.outputs[0].Elems()), value);
    return c;
  }

  Created CreatePrelu(const NodeView& n, const std::string& in_l) {
    const auto& x = n.inputs[0].shape;
    const Tensor* slope = n.constants[1];
    if (!slope) throw Refuse{"a non-constant slope"};
    const auto ws = PadTo(slope->shape, x.size());
    const std::string l = Layout4(n.inputs[0], in_l);
    const memory::desc md(Dims(x), kF32, TagOf(l, x.size()));
    const memory::desc wmd(Dims(ws), kF32, PlainTag(ws.size()));
    dnnl::prelu_forward::desc d(kInfer, md, memory::desc(Dims(ws), kF32, tag::any));
    dnnl::prelu_forward::primitive_desc pd(d, eng_);
    Created c = Single(dnnl::prelu_forward(pd), pd.impl_info_str(), md, md, l);
    static_cast<PrimExec*>(c.exec.get())
        ->Own(DNNL_ARG_WEIGHTS, Constant(pd.weights_desc(), slope->f32, wmd));
    return c;
  }

  std::string name_ = "cpu";
  dnnl::engine eng_;
  dnnl::stream strm_;
  microbench::BufferPlacement placement_;
  std::unique_ptr<onnx::NodeProto> one_d_proto_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace layoutdb::runtime
