// The `cpu` unit: every op family as a oneDNN 2.6 primitive in a chosen activation layout and dtype.
//
// dtypes:
//   f32   everything f32.
//   bf16  src, weights and dst bf16; bias, normalisation statistics, scale and shift stay f32 (what
//         oneDNN's bf16 kernels take). Needs native bf16 (avx512_core_bf16): oneDNN 2.6 only emulates
//         it below that, slower than f32, which no deployment would pick.
//   int8  conv2d, matmul, ip: src u8, weights s8, bias f32, dst s8 with an output scale (s8 rather
//         than u8 because no ReLU is fused here, so the output is signed). pool: u8 -> u8.
//         eltwise, binary, bnorm: s8 -> s8 (oneDNN 2.6 takes integer eltwise for relu and linear, i.e.
//         our hardsigmoid, only). Eltwise has an integer output scale that spreads its result over
//         most of the s8 range (hardsigmoid's [0, 1] becomes 0..100, from inputs -4..4 that reach
//         its linear part), and its check demands the exact quantised value: no exact result lands
//         near a rounding tie, so a kernel one quantisation step off (or one writing zeros) fails.
//         softmax: s8 -> u8 with output scale 255. lnorm: s8 -> s8, which
//         oneDNN 2.6 does not implement. What oneDNN lacks is stored as unsupported with the reason.
//         int8 inputs are small integers (no input scales in 2.6 outside gemm-like ops), e.g. src
//         0..16 and weights -8..8 for convolutions.
//
// Fused problems (conv2d, matmul, ip with a post-op chain, `conv2d:...+sum+relu`) run as one
// primitive with oneDNN post-ops, built as runtime/cpu_backend.cpp builds them: an activation as an
// eltwise post-op (clip as clip_v2 [0, 6], hardsigmoid as linear x/6 + 1/2 then clip_v2 [0, 1]);
// `sum` as a sum post-op, dst holding the residual before each run (in dst's layout); add..div as a
// binary post-op with a full-size f32 tensor in dst's layout (plain under `any`, and for matmul and
// ip); addc..divc with a plain f32 per-channel tensor
// (1,C,1,1 for conv2d; one value per output column, broadcast over rows, for matmul and ip). f32 and
// bf16 only: int8 with post-ops is stored as unsupported with the reason.
// oneDNN 2.6's gemm convolution (x64:gemm:jit, chosen for small nhwc convolutions) writes wrong results
// with a binary post-op whose operand is not in dst's layout (a full-size nchw operand beside an nhwc
// dst; also an N,C,1,1 operand with N > 1): full-size operands are therefore bound in dst's layout,
// here and in the runtime (runtime/cpu_backend.cpp), and where the check still catches a wrong result
// the point is stored as failed, never used.
//
// Correctness check: every kernel's inputs are MakeInputs() (reference.h) rounded to what the kernel
// reads (bf16, or integers for int8), so the reference runs on exactly the kernel's inputs; the
// kernel's dst is reordered to plain f32 and compared with tolerances stated in MakePlan(). The
// test hook (InjectFaultForTest) moves one output element by the smallest error the check claims to
// catch: just over twice the tolerance there (in f32 and bf16), 2 floor(atol) + 1 quantisation steps
// in int8 (one step where the check is exact).
#include "onednn/cpu_unit.h"

#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "onednn/cpu_info.h"
#include "reference.h"
#include "layoutdb/microbench/placement.h"

namespace layoutdb::microbench::onednn {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Dt = memory::data_type;

const std::vector<std::string>& ActivationLayouts() {
  static const std::vector<std::string> kLayouts = {"nchw", "nhwc", "nChw8c", "nChw16c"};
  return kLayouts;
}

std::optional<Tag> TagOf(const std::string& layout) {
  if (layout == "nchw") return Tag::nchw;
  if (layout == "nhwc") return Tag::nhwc;
  if (layout == "nChw8c") return Tag::nChw8c;
  if (layout == "nChw16c") return Tag::nChw16c;
  if (layout == "any") return Tag::any;
  return std::nullopt;
}

// The name of a 4D activation memory descriptor: one of our layouts when it is one, else a tag in
// oneDNN's notation built from its blocking (dims ordered outermost first, blocked dims upper-case,
// inner blocks appended), e.g. "aBcd4b".
std::string LayoutName(const memory::desc& md) {
  const memory::dims dims = md.dims();
  for (const auto& name : ActivationLayouts())
    if (md == memory::desc(dims, md.data_type(), *TagOf(name))) return name;
  const dnnl_memory_desc_t& c = md.data;
  if (c.format_kind != dnnl_blocked) return "non-blocked";
  const auto& b = c.format_desc.blocking;
  std::vector<int> order(c.ndims);
  for (int i = 0; i < c.ndims; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return b.strides[x] > b.strides[y]; });
  std::string s;
  for (int d : order) {
    bool blocked = false;
    for (int k = 0; k < b.inner_nblks; ++k) blocked = blocked || b.inner_idxs[k] == d;
    s += static_cast<char>((blocked ? 'A' : 'a') + d);
  }
  for (int k = 0; k < b.inner_nblks; ++k)
    s += fmt::format("{}{}", b.inner_blks[k], static_cast<char>('a' + b.inner_idxs[k]));
  return s;
}

// oneDNN names its reference kernels ref:any, ref_int8:any, ref_fused:any, ...
bool IsReferenceImpl(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

float RoundToBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) u += 0x7fffu + ((u >> 16) & 1u);  // nearest, ties to even
  u &= 0xffff0000u;
  std::memcpy(&x, &u, 4);
  return x;
}

// How one (op, dtype) is run and checked.
struct Plan {
  Dt src = Dt::f32, wei = Dt::f32, dst = Dt::f32;
  bool int8 = false, bf16 = false;
  // int8: float inputs x in [-1, 1] become integers q = round(x * scale + shift).
  float src_scale = 1, src_shift = 0, wei_scale = 1;
  // int8: the primitive multiplies its result by an output scale (oneDNN output_scales).
  bool out_scaled = false;
  float oscale = 1;
  double rtol = 1e-4, atol = 1e-4;
};

// Length of the reduction each output element sums (1 for element-wise ops).
int64_t ReductionLength(const Problem& p) {
  if (p.op() == "conv2d" || p.op() == "deconv") return p.Get("ic") / p.Get("g") * p.Get("kh") * p.Get("kw");
  if (p.op() == "matmul") return p.Get("k");
  if (p.op() == "ip") return p.Get("ic");
  return 1;
}

Plan MakePlan(const Problem& p, const std::string& dtype) {
  Plan plan;
  const std::string& op = p.op();
  const bool gemm_like = op == "conv2d" || op == "deconv" || op == "matmul" || op == "ip";
  if (dtype == "f32") {
    // Blocked / brgemm kernels sum the K terms of a reduction in another order than the (double)
    // reference: allow an absolute error growing with K.
    plan.atol = std::max(1e-4, 1e-6 * static_cast<double>(ReductionLength(p)));
  } else if (dtype == "bf16") {
    plan.bf16 = true;
    plan.src = plan.wei = plan.dst = Dt::bf16;
    // The result is rounded to bf16 (8 significant bits: relative error <= 2^-8); accumulation is f32.
    plan.rtol = 1e-2;
    plan.atol = 1e-2;
  } else if (dtype == "int8") {
    plan.int8 = true;
    // Compared in quantised units: one step for rounding (ties, f32 scale arithmetic).
    plan.rtol = 0;
    plan.atol = 1.0;
    if (gemm_like) {
      plan.src = Dt::u8, plan.wei = Dt::s8, plan.dst = Dt::s8;
      plan.src_scale = 8, plan.src_shift = 8, plan.wei_scale = 8;  // src 0..16, wei -8..8
      plan.out_scaled = true;
    } else if (op == "pool") {
      plan.src = plan.dst = Dt::u8;
      plan.src_scale = 32, plan.src_shift = 32;  // 0..64
    } else if (op == "softmax") {
      plan.src = Dt::s8, plan.dst = Dt::u8;
      plan.src_scale = 4;  // -4..4: a softmax that is neither flat nor one-hot
      plan.out_scaled = true;
      plan.oscale = 255;
    } else {
      plan.src = plan.dst = Dt::s8;
      plan.src_scale = op == "binary" ? 8 : 32;  // binary mul stays mostly inside s8
      if (op == "eltwise") {
        // hardsigmoid saturates beyond |x| >= 3: inputs -4..4 keep most outputs in its linear part.
        if (p.alg() == "hardsigmoid") plan.src_scale = 4;
        plan.out_scaled = true;  // an integer scale, chosen in Reference() from the result's range
        plan.atol = 0.5;         // exact: relu of integers times an integer, or k/6 + 1/2 times 100
      }
    }
  } else {
    throw std::invalid_argument(fmt::format("unknown dtype '{}'", dtype));
  }
  return plan;
}

// Rounds the reference inputs to what the kernel reads, so that the reference sees the same values.
void QuantiseInputs(const Problem& p, const Plan& plan, RefTensors& t) {
  const bool gemm_like = p.op() == "conv2d" || p.op() == "deconv" || p.op() == "matmul" || p.op() == "ip";
  if (plan.bf16) {
    for (auto* v : {&t.src, &t.src2}) std::transform(v->begin(), v->end(), v->begin(), RoundToBf16);
    if (gemm_like || p.op() == "prelu") std::transform(t.wei.begin(), t.wei.end(), t.wei.begin(), RoundToBf16);
    // A sum post-op reads the residual through dst, in dst's type; binary operands stay f32.
    for (size_t k = 0; k < t.post.size(); ++k)
      if (p.post_ops()[k] == "sum") std::transform(t.post[k].begin(), t.post[k].end(), t.post[k].begin(), RoundToBf16);
  }
  if (plan.int8) {
    auto q = [](float x, float scale, float shift) { return std::nearbyint(x * scale + shift); };
    for (auto* v : {&t.src, &t.src2})
      for (float& x : *v) x = q(x, plan.src_scale, plan.src_shift);
    if (gemm_like) {
      for (float& x : t.wei) x = q(x, plan.wei_scale, 0);
      // The bias lives in accumulator units (src scale x weight scale), so that a bias the kernel
      // dropped or scaled wrongly moves the result by several quantisation steps.
      for (float& x : t.bias) x *= plan.src_scale * plan.wei_scale;
    }
  }
}

// What the int8 kernel must write: the reference scaled, rounded and saturated to the dst type.
void QuantiseExpected(const Plan& plan, std::vector<float>& want) {
  if (!plan.int8) return;
  const float lo = plan.dst == Dt::u8 ? 0.f : -128.f, hi = plan.dst == Dt::u8 ? 255.f : 127.f;
  for (float& x : want) x = std::min(hi, std::max(lo, std::nearbyint(x * plan.oscale)));
}

// The oneDNN post-ops of a problem's chain (see the header comment): `ops` for the attribute, the
// binary operands to bind (post-op index in `ops`, chain index), and the chain index of `sum`.
struct PostOpChain {
  dnnl::post_ops ops;
  std::vector<std::pair<int, size_t>> binaries;  // (oneDNN post-op index, chain index)
  std::vector<Tag> tags;                         // per binary: the layout its operand is bound in
  int sum = -1;
};

// `dst`: dst's layout when the candidate fixes one; a full-size 4D operand is bound in it, as the
// runtime binds it (Tag::undef or Tag::any: plain).
PostOpChain MakePostOpChain(const Problem& p, Tag dst = Tag::undef) {
  using A = dnnl::algorithm;
  PostOpChain c;
  const auto& chain = p.post_ops();
  for (size_t k = 0; k < chain.size(); ++k) {
    const std::string& po = chain[k];
    if (po == "sum") {
      c.sum = static_cast<int>(k);
      c.ops.append_sum(1.0f);
      continue;
    }
    const std::string base = po.size() == 4 && po.back() == 'c' ? po.substr(0, 3) : po;
    if (base == "add" || base == "sub" || base == "mul" || base == "div") {
      const A alg = base == "add" ? A::binary_add : base == "sub" ? A::binary_sub
                    : base == "mul" ? A::binary_mul : A::binary_div;
      const memory::dims dims = PostOpDims(p, po);
      const Tag plain = dims.size() == 4 ? Tag::nchw : dims.size() == 3 ? Tag::abc : Tag::ab;
      const bool full = base == po && dims.size() == 4 && dst != Tag::undef && dst != Tag::any;
      c.binaries.push_back({c.ops.len(), k});
      c.tags.push_back(full ? dst : plain);
      c.ops.append_binary(alg, memory::desc(dims, Dt::f32, c.tags.back()));
      continue;
    }
    if (po == "relu") c.ops.append_eltwise(1.f, A::eltwise_relu, 0.f, 0.f);
    else if (po == "leakyrelu") c.ops.append_eltwise(1.f, A::eltwise_relu, kLeakyReluAlpha, 0.f);
    else if (po == "clip") c.ops.append_eltwise(1.f, A::eltwise_clip_v2, 0.f, 6.f);
    else if (po == "hardswish") c.ops.append_eltwise(1.f, A::eltwise_hardswish, 0.f, 0.f);
    else if (po == "sigmoid") c.ops.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f);
    else if (po == "gelu") c.ops.append_eltwise(1.f, A::eltwise_gelu_erf, 0.f, 0.f);
    else if (po == "tanh") c.ops.append_eltwise(1.f, A::eltwise_tanh, 0.f, 0.f);
    else if (po == "hardsigmoid") {
      c.ops.append_eltwise(1.f, A::eltwise_linear, 1.f / 6, 0.5f);
      c.ops.append_eltwise(1.f, A::eltwise_clip_v2, 0.f, 1.f);
    } else {
      throw std::invalid_argument(fmt::format("post-op '{}' has no oneDNN post-op here", po));
    }
  }
  return c;
}

// One prepared primitive with its memories. CpuUnit fills the fields in as it builds it.
class OnednnKernel : public Kernel {
 public:
  OnednnKernel(dnnl::engine eng, dnnl::stream strm) : eng_(std::move(eng)), strm_(std::move(strm)) {}

  std::string Impl() const override { return impl_; }
  bool IsReference() const override { return IsReferenceImpl(impl_); }
  std::string ChosenLayout() const override { return chosen_; }

  std::string Check() override {
    if (pre_) pre_();
    if (sum_init_) {  // a sum post-op accumulates into dst: start from the residual
      dnnl::reorder(sum_init_, dst_).execute(strm_, sum_init_, dst_);
      strm_.wait();
    }
    prim_.execute(strm_, args_);
    strm_.wait();
    const std::vector<float>& want = *want_;
    std::vector<float> got(want.size());
    memory out(dst_plain_, eng_, got.data());
    dnnl::reorder(dst_, out).execute(strm_, dst_, out);
    strm_.wait();
    // The fault lands in the read-back copy, not in dst memory: a write into a blocked layout could
    // hit channel padding, which no check reads. It is the smallest error the check claims to catch.
    if (fault_ && !got.empty()) {
      const size_t i = got.size() / 2;
      const double tol = atol_ + rtol_ * std::fabs(static_cast<double>(want[i]));
      double delta = 2.0 * tol * (1 + 1e-3);
      if (int8_) delta = 2.0 * std::floor(atol_) + 1.0;  // whole quantisation steps
      else if (tol == 0) delta = std::max(1.0, std::fabs(static_cast<double>(want[i]))) / 128;  // a bf16 ulp
      got[i] = static_cast<float>(got[i] + delta);
    }
    return CompareOutputs(got.data(), want.data(), static_cast<int64_t>(got.size()), rtol_, atol_);
  }

  void InjectFaultForTest() override { fault_ = true; }

  // Sources (a reorder's `from`, every input of a concat or binary), and a binary post-op's operand
  // (a residual); a sum post-op's residual is dst itself, written by the kernel before it.
  std::vector<std::pair<void*, size_t>> Inputs() const override {
    std::vector<std::pair<void*, size_t>> in;
    for (const auto& [arg, mem] : args_) {
      const bool post_op_operand =
          arg >= DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE && (arg % DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE) == DNNL_ARG_SRC_1;
      const bool source = (arg >= DNNL_ARG_SRC_0 && arg <= DNNL_ARG_SRC_3) ||
                          (arg >= DNNL_ARG_MULTIPLE_SRC && arg < DNNL_ARG_MULTIPLE_DST);
      const bool activation_b = arg == DNNL_ARG_WEIGHTS && b_is_activation_;
      if (post_op_operand || source || activation_b) in.emplace_back(mem.get_data_handle(), mem.get_desc().get_size());
    }
    if (sum_init_) in.emplace_back(dst_.get_data_handle(), dst_.get_desc().get_size());
    return in;
  }

  // Weights and bias (DNNL_ARG_WEIGHTS_0..3, DNNL_ARG_BIAS), a normalisation's statistics, scale and
  // shift (DNNL_ARG_MEAN..DNNL_ARG_SHIFT).
  std::vector<std::pair<void*, size_t>> Weights() const override {
    std::vector<std::pair<void*, size_t>> w;
    for (const auto& [arg, mem] : args_)
      if (((arg >= DNNL_ARG_WEIGHTS_0 && arg <= DNNL_ARG_WEIGHTS_3) && !(arg == DNNL_ARG_WEIGHTS && b_is_activation_)) ||
          arg == DNNL_ARG_BIAS || (arg >= DNNL_ARG_MEAN && arg <= DNNL_ARG_SHIFT))
        w.emplace_back(mem.get_data_handle(), mem.get_desc().get_size());
    return w;
  }

  double RunUs() override {
    const auto t0 = std::chrono::steady_clock::now();
    if (pre_) pre_();
    prim_.execute(strm_, args_);
    strm_.wait();
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
  }

  // Memory for `md`, owned by this kernel and placed the same way at every preparation
  // (BufferPlacement: no 4K aliasing between its tensors, whatever malloc would have done).
  memory New(const memory::desc& md) { return memory(md, eng_, placement_.Alloc(md.get_size())); }

  // A memory of `md` holding `values` (plain f32, laid out as `plain`), converted by a reorder.
  memory Filled(const memory::desc& md, const std::vector<float>& values, const memory::dims& dims,
                Tag plain) {
    memory target = New(md);
    memory user({dims, Dt::f32, plain}, eng_, const_cast<float*>(values.data()));
    dnnl::reorder(user, target).execute(strm_, user, target);
    strm_.wait();
    return target;
  }

  dnnl::engine eng_;
  dnnl::stream strm_;
  // What New() allocated; declared before every memory that points into it, so freed after them.
  BufferPlacement placement_;
  dnnl::primitive prim_;
  std::unordered_map<int, memory> args_;
  std::vector<memory> keep_;    // memories that views in args_ point into
  std::function<void()> pre_;   // run before the primitive, inside the timed region (pad's border fill)
  memory dst_;
  memory sum_init_;  // the residual a sum post-op adds to (plain f32), copied into dst_ before a check
  memory::desc dst_plain_;
  std::shared_ptr<const std::vector<float>> want_;  // shared by the candidates of one (problem, dtype)
  double rtol_ = 0, atol_ = 0;
  bool int8_ = false;  // outputs are quantised integers: a fault is whole steps
  // A batched matmul's B (mb > 1: one B per batch, which a shared weight never is: import folds a 2D
  // weight's batch into m) is an activation a kernel just wrote, as attention's K and V are: an input
  // to the warm cache mode, not a weight to flush.
  bool b_is_activation_ = false;
  std::string impl_, chosen_;
  bool fault_ = false;
};

std::vector<float> Slice(const std::vector<float>& v, size_t begin, size_t n) {
  return std::vector<float>(v.begin() + begin, v.begin() + begin + n);
}

class CpuUnit : public Unit {
 public:
  CpuUnit()
      : info_(ReadCpuInfo()),
        eng_(dnnl::engine::kind::cpu, 0),
        strm_(eng_),
        isa_(dnnl::get_effective_cpu_isa()) {}

  const UnitInfo& Info() const override { return info_; }

  std::vector<std::string> Layouts() const override { return ActivationLayouts(); }

  std::vector<Candidate> Candidates(const Problem& p, const std::vector<std::string>& dtypes) const override {
    std::vector<Candidate> out;
    for (const auto& dtype : dtypes) {
      if (!p.IsSpatial()) {
        out.push_back({"plain", "plain", dtype});
        continue;
      }
      for (const auto& l : ActivationLayouts()) out.push_back({l, l, dtype});
      // The classic first convolution: few input channels read plain, written in the layout the
      // rest of the network computes in. With many input channels a mixed pair is just a reorder
      // fused into the convolution; the reorder matrix covers that.
      if (p.op() == "conv2d" && p.Get("ic") <= 4)
        for (const char* d : {"nhwc", "nChw8c", "nChw16c"}) out.push_back({"nchw", d, dtype});
      out.push_back({"any", "any", dtype});
    }
    return out;
  }

  Prepared Prepare(const Problem& p, const Candidate& c) override {
    const std::string what = fmt::format("{} {} {}", p.Key(), c.Layout(), c.dtype);
    try {
      if (auto why = DtypeUnsupported(c.dtype)) return Prepared::Unsupported(*why);
      if (p.IsSpatial()) {
        for (const auto* l : {&c.src_layout, &c.dst_layout})
          if (!TagOf(*l))
            return Prepared::Unsupported(fmt::format("layout '{}' is not a cpu layout of {} (nchw, nhwc, nChw8c, nChw16c, any)", *l, p.op()));
        if ((c.src_layout == "any") != (c.dst_layout == "any"))
          return Prepared::Unsupported("'any' is offered for src and dst together only");
        if (c.src_layout == "any" && p.op() != "conv2d" && p.op() != "deconv")
          return Prepared::Unsupported(fmt::format(
              "{}: oneDNN takes no layout of its own (format_tag::any) for this op's source; its layout "
              "follows the producer",
              p.op()));
        if (c.src_layout != c.dst_layout && p.op() != "conv2d")
          return Prepared::Unsupported(fmt::format("{}: mixed (src, dst) layouts are measured for conv2d only", p.op()));
      } else if (c.src_layout != "plain" || c.dst_layout != "plain") {
        return Prepared::Unsupported(fmt::format("{} has the single cpu layout 'plain', not '{}'", p.op(), c.Layout()));
      }
      if (c.dtype == "int8" && !p.post_ops().empty())
        return Prepared::Unsupported(
            "int8 with fused post-ops is not measured (the runtime executes f32; output scales before "
            "post-ops would need their own quantised reference)");
      if (c.dtype == "int8" && p.op() == "eltwise" && p.alg() != "relu" && p.alg() != "hardsigmoid")
        // oneDNN 2.6 refuses the descriptor (invalid_arguments): integer eltwise is relu / linear only.
        return Prepared::Unsupported(fmt::format(
            "int8 eltwise {}: oneDNN {} takes s8/u8 data for relu and linear only", p.alg(), Version()));
      if (c.dtype == "int8" && IsGlue(p.op()) && p.op() != "deconv")
        return Prepared::Unsupported(fmt::format(
            "int8 {}: not measured (the runtime runs it in f32; only the convolution-like deconv has int8 here)",
            p.op()));
      return Build(p, c);
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented)
        return Prepared::Unsupported(fmt::format("oneDNN {} has no implementation: {}", Version(), e.what()));
      return Prepared::Failed(fmt::format("{}: oneDNN error: {}", what, e.what()));
    } catch (const std::exception& e) {
      return Prepared::Failed(fmt::format("{}: {}", what, e.what()));
    }
  }

  std::optional<Implementation> Choose(const Problem& p, const Candidate& c) override {
    // The plain-only glue ops fill their source before their descriptor; having one layout, they
    // have no layout choice to check.
    const std::string& op = p.op();
    if (op == "transpose" || op == "slice" || op == "pad" || op == "reduce") return std::nullopt;
    probing_ = true;
    struct Reset {
      bool& flag;
      ~Reset() { flag = false; }
    } reset{probing_};
    try {
      Prepare(p, c);  // stops at its first primitive descriptor: Chosen() throws the answer
    } catch (const ProbeAnswer& a) {
      return Implementation{a.impl, IsReferenceImpl(a.impl)};
    }
    return std::nullopt;  // unsupported or failed before any descriptor
  }

  Prepared PrepareReorder(const Shape4& s, const std::string& src_layout, const std::string& dst_layout,
                          const std::string& dtype) override {
    try {
      if (auto why = DtypeUnsupported(dtype)) return Prepared::Unsupported(*why);
      for (const auto* l : {&src_layout, &dst_layout})
        if (!TagOf(*l) || *l == "any")
          return Prepared::Unsupported(fmt::format("layout '{}' is not a cpu layout (nchw, nhwc, nChw8c, nChw16c)", *l));
      // Values as an s8/bf16/f32 activation would hold them.
      const Problem p("eltwise", "relu", {{"mb", s.mb}, {"c", s.c}, {"h", s.h}, {"w", s.w}});
      const Plan plan = MakePlan(p, dtype);
      RefTensors t = MakeInputs(p);
      QuantiseInputs(p, plan, t);
      const memory::dims dims = {s.mb, s.c, s.h, s.w};
      auto k = std::make_unique<OnednnKernel>(eng_, strm_);
      const memory src = k->Filled({dims, plan.src, *TagOf(src_layout)}, t.src, dims, Tag::nchw);
      k->dst_ = k->New({dims, plan.src, *TagOf(dst_layout)});
      const dnnl::reorder::primitive_desc pd(src, k->dst_);
      k->prim_ = dnnl::reorder(pd);
      k->args_ = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, k->dst_}};
      k->dst_plain_ = memory::desc(dims, Dt::f32, Tag::nchw);
      k->want_ = std::make_shared<const std::vector<float>>(std::move(t.src));  // a reorder changes no value
      k->int8_ = plan.int8;
      k->impl_ = pd.impl_info_str();
      return Prepared::Ok(std::move(k));
    } catch (const dnnl::error& e) {
      if (e.status == dnnl_unimplemented)
        return Prepared::Unsupported(fmt::format("oneDNN {} has no implementation: {}", Version(), e.what()));
      return Prepared::Failed(fmt::format("reorder {} {}>{} {}: oneDNN error: {}", s.Key(), src_layout, dst_layout, dtype, e.what()));
    } catch (const std::exception& e) {
      return Prepared::Failed(fmt::format("reorder {} {}>{} {}: {}", s.Key(), src_layout, dst_layout, dtype, e.what()));
    }
  }

 private:
  static std::string Version() {
    const dnnl_version_t* v = dnnl_version();
    return fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
  }

  // oneDNN's reference kernels (ref:any, ref_int8:any, ...) are plain loops, 50-1000x slower than its
  // JIT kernels: a VGG 3x3 convolution (3.7 GFLOP) takes over a minute per run on this machine. Such
  // points are kept and flagged (IsReference) while one run stays short; above this much work they
  // are stored as unsupported with the reason instead of stalling the sweep for minutes per point.
  static constexpr double kMaxReferenceFlops = 5e7;

  static std::optional<std::string> TooSlowReference(const Problem& p, const std::string& impl) {
    if (!IsReferenceImpl(impl) || p.Flops() <= kMaxReferenceFlops) return std::nullopt;
    return fmt::format("oneDNN {} has only its reference kernel {} here; {:.3g} GFLOP at reference speed "
                       "is too slow to time (limit {:.3g} GFLOP)",
                       Version(), impl, p.Flops() / 1e9, kMaxReferenceFlops / 1e9);
  }

  std::optional<std::string> DtypeUnsupported(const std::string& dtype) const {
    if (dtype == "f32") return std::nullopt;
    if (dtype == "bf16") {
      if (IsaHasBf16(isa_)) return std::nullopt;
      return fmt::format("bf16 needs avx512_core_bf16 (this CPU: {})", IsaName(isa_));
    }
    if (dtype == "int8") {
      if (IsaHasInt8(isa_)) return std::nullopt;
      return fmt::format("int8 needs avx2 or newer (this CPU: {})", IsaName(isa_));
    }
    if (dtype == "f16") return fmt::format("f16 has no CPU kernels in oneDNN {}", Version());
    return fmt::format("unknown dtype '{}' (known: f32, bf16, int8)", dtype);
  }

  // Choose() runs Build with probing_ set: every primitive descriptor Build makes passes through
  // Chosen(), which then throws the implementation oneDNN chose instead of going on to make memory.
  // (Not a std::exception: Prepare's handlers let it through.)
  struct ProbeAnswer {
    std::string impl;
  };
  template <class PrimitiveDesc>
  std::string Chosen(const PrimitiveDesc& pd) const {
    std::string impl = pd.impl_info_str();
    if (probing_) throw ProbeAnswer{std::move(impl)};
    return impl;
  }

  Prepared Build(const Problem& p, const Candidate& c) {
    const std::string& op = p.op();
    RefEntry plan_only;  // probing: a descriptor needs the plan only (no inputs, no reference run)
    if (probing_) {
      plan_only.plan = MakePlan(p, c.dtype);
      // Reference() sets an int8 output scale from the result's range; any value other than 1 makes
      // the same attributes (output scales, eltwise's scaling post-op), and so the same choice.
      Plan& plan = plan_only.plan;
      if (plan.int8 && plan.out_scaled && plan.oscale == 1) plan.oscale = 2;
    }
    const RefEntry& ref = probing_ ? plan_only : Reference(p, c.dtype);
    const Plan& plan = ref.plan;
    const RefTensors& t = ref.t;

    auto k = std::make_unique<OnednnKernel>(eng_, strm_);
    dnnl::primitive_attr attr;
    if (plan.out_scaled && op != "eltwise") attr.set_output_scales(0, {plan.oscale});  // eltwise: below
    const auto fwd = dnnl::prop_kind::forward_inference;
    const Tag stag = p.IsSpatial() ? *TagOf(c.src_layout) : Tag::undef;
    const Tag dtag = p.IsSpatial() ? *TagOf(c.dst_layout) : Tag::undef;
    const PostOpChain chain = MakePostOpChain(p, dtag);
    if (!p.post_ops().empty()) attr.set_post_ops(chain.ops);
    memory::desc src_md_chosen, dst_md_chosen;
    std::string impl;

    if (op == "conv2d") {
      const int64_t mb = p.Get("mb"), ic = p.Get("ic"), oc = p.Get("oc"), g = p.Get("g");
      const int64_t kh = p.Get("kh"), kw = p.Get("kw");
      const memory::dims src_dims = {mb, ic, p.Get("ih"), p.Get("iw")};
      const memory::dims dst_dims = {mb, oc, p.Oh(), p.Ow()};
      const memory::dims wei_dims = g > 1 ? memory::dims{g, oc / g, ic / g, kh, kw} : memory::dims{oc, ic, kh, kw};
      const Tag wei_plain = g > 1 ? Tag::goihw : Tag::oihw;
      // Weights in the layout oneDNN prefers (they are reordered once, at model load); the layout
      // under test is the activations'. Direct convolution, as frameworks run it (no winograd).
      const dnnl::convolution_forward::desc d(
          fwd, dnnl::algorithm::convolution_direct, {src_dims, plan.src, stag}, {wei_dims, plan.wei, Tag::any},
          {{oc}, Dt::f32, Tag::a}, {dst_dims, plan.dst, dtag}, {p.Get("sh"), p.Get("sw")},
          {p.Get("dh") - 1, p.Get("dw") - 1}, {p.Get("ph"), p.Get("pw")}, {p.Get("ph"), p.Get("pw")});
      const dnnl::convolution_forward::primitive_desc pd(d, attr, eng_);
      impl = Chosen(pd);
      if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
      k->prim_ = dnnl::convolution_forward(pd);
      k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, src_dims, Tag::nchw);
      k->args_[DNNL_ARG_WEIGHTS] = k->Filled(pd.weights_desc(), t.wei, wei_dims, wei_plain);
      k->args_[DNNL_ARG_BIAS] = k->Filled(pd.bias_desc(), t.bias, {oc}, Tag::a);
      k->dst_ = k->New(pd.dst_desc());
      k->dst_plain_ = memory::desc(dst_dims, Dt::f32, Tag::nchw);
      src_md_chosen = pd.src_desc();
      dst_md_chosen = pd.dst_desc();
    } else if (op == "matmul") {
      const int64_t mb = p.Get("mb"), m = p.Get("m"), n = p.Get("n"), kk = p.Get("k");
      const memory::dims sd = {mb, m, kk}, wd = {mb, kk, n}, dd = {mb, m, n};
      const dnnl::matmul::desc d({sd, plan.src, Tag::abc}, {wd, plan.wei, Tag::abc}, {dd, plan.dst, Tag::abc});
      const dnnl::matmul::primitive_desc pd(d, attr, eng_);
      impl = Chosen(pd);
      if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
      k->prim_ = dnnl::matmul(pd);
      k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, sd, Tag::abc);
      k->args_[DNNL_ARG_WEIGHTS] = k->Filled(pd.weights_desc(), t.wei, wd, Tag::abc);
      k->b_is_activation_ = mb > 1;
      k->dst_ = k->New(pd.dst_desc());
      k->dst_plain_ = memory::desc(dd, Dt::f32, Tag::abc);
    } else if (op == "ip") {
      const int64_t mb = p.Get("mb"), ic = p.Get("ic"), oc = p.Get("oc");
      const dnnl::inner_product_forward::desc d(fwd, {{mb, ic}, plan.src, Tag::nc}, {{oc, ic}, plan.wei, Tag::any},
                                                {{oc}, Dt::f32, Tag::a}, {{mb, oc}, plan.dst, Tag::nc});
      const dnnl::inner_product_forward::primitive_desc pd(d, attr, eng_);
      impl = Chosen(pd);
      if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
      k->prim_ = dnnl::inner_product_forward(pd);
      k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, {mb, ic}, Tag::nc);
      k->args_[DNNL_ARG_WEIGHTS] = k->Filled(pd.weights_desc(), t.wei, {oc, ic}, Tag::oi);
      k->args_[DNNL_ARG_BIAS] = k->Filled(pd.bias_desc(), t.bias, {oc}, Tag::a);
      k->dst_ = k->New(pd.dst_desc());
      k->dst_plain_ = memory::desc({mb, oc}, Dt::f32, Tag::nc);
    } else if (op == "pool") {
      const memory::dims sd = {p.Get("mb"), p.Get("ic"), p.Get("ih"), p.Get("iw")};
      const memory::dims dd = {p.Get("mb"), p.Get("ic"), p.Oh(), p.Ow()};
      const auto alg = p.alg() == "max" ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
      const dnnl::pooling_forward::desc d(fwd, alg, {sd, plan.src, stag}, {dd, plan.dst, dtag},
                                          {p.Get("sh"), p.Get("sw")}, {p.Get("kh"), p.Get("kw")},
                                          {p.Get("ph"), p.Get("pw")}, {p.Get("ph"), p.Get("pw")});
      const dnnl::pooling_forward::primitive_desc pd(d, attr, eng_);
      impl = Chosen(pd);
      if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
      k->prim_ = dnnl::pooling_forward(pd);
      k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, sd, Tag::nchw);
      k->dst_ = k->New(pd.dst_desc());
      k->dst_plain_ = memory::desc(dd, Dt::f32, Tag::nchw);
      // Max pooling for inference needs no workspace; ask anyway so a future kernel cannot crash.
      if (pd.workspace_desc().get_size() > 0)
        k->args_[DNNL_ARG_WORKSPACE] = k->New(pd.workspace_desc());
    } else if (op == "eltwise" || op == "binary" || op == "softmax" || op == "bnorm") {
      const memory::dims dims = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
      const memory::desc src_md(dims, plan.src, stag), dst_md(dims, plan.dst, dtag);
      k->dst_plain_ = memory::desc(dims, Dt::f32, Tag::nchw);
      if (op == "eltwise") {
        dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
        float alpha = 0, beta = 0;
        const std::string& a = p.alg();
        if (a == "clip") alg = dnnl::algorithm::eltwise_clip, alpha = 0, beta = 6;
        if (a == "hardswish") alg = dnnl::algorithm::eltwise_hardswish;
        if (a == "sigmoid") alg = dnnl::algorithm::eltwise_logistic;
        if (a == "gelu") alg = dnnl::algorithm::eltwise_gelu_erf;
        if (a == "tanh") alg = dnnl::algorithm::eltwise_tanh;
        if (a == "leakyrelu") alg = dnnl::algorithm::eltwise_relu, alpha = kLeakyReluAlpha;
        // int8: the output scale (oscale) is folded in: hardsigmoid's linear part and clip bounds
        // are scaled, relu gets a scaling post-op (eltwise takes no output_scales attribute).
        const float os = plan.int8 ? plan.oscale : 1.f;
        if (a == "hardsigmoid") {
          // oneDNN 2.6 has no hardsigmoid: linear (x/6 + 1/2) with a fused clip to [0, 1].
          alg = dnnl::algorithm::eltwise_linear, alpha = os / 6, beta = os * 0.5f;
          dnnl::post_ops po;
          po.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, os);
          attr.set_post_ops(po);
        } else if (plan.int8 && os != 1.f) {
          dnnl::post_ops po;
          po.append_eltwise(1.f, dnnl::algorithm::eltwise_linear, os, 0.f);
          attr.set_post_ops(po);
        }
        const dnnl::eltwise_forward::desc d(fwd, alg, src_md, alpha, beta);
        const dnnl::eltwise_forward::primitive_desc pd(d, attr, eng_);
        impl = Chosen(pd);
        if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
        k->prim_ = dnnl::eltwise_forward(pd);
        k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, dims, Tag::nchw);
        k->dst_ = k->New(pd.dst_desc());
      } else if (op == "binary") {
        const auto alg = p.alg() == "add" ? dnnl::algorithm::binary_add : dnnl::algorithm::binary_mul;
        // A broadcast second source ([mb,C,1,1] or [1,1,1,1], bc1 / bc2) is computed at run time and
        // read in src's layout, as runtime/cpu_backend.cpp's CreateBinary binds it. In nChw8c oneDNN
        // 2.6 has no jit binary with a broadcast operand: its reference loop is picked and flagged.
        const memory::dims dims1 = p.Src2Dims();
        const memory::desc src1_md = dims1 == dims ? src_md : memory::desc(dims1, plan.src, stag);
        const dnnl::binary::desc d(alg, src_md, src1_md, dst_md);
        const dnnl::binary::primitive_desc pd(d, attr, eng_);
        impl = Chosen(pd);
        if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
        k->prim_ = dnnl::binary(pd);
        k->args_[DNNL_ARG_SRC_0] = k->Filled(pd.src_desc(0), t.src, dims, Tag::nchw);
        k->args_[DNNL_ARG_SRC_1] = k->Filled(pd.src_desc(1), t.src2, dims1, Tag::nchw);
        k->dst_ = k->New(pd.dst_desc());
      } else if (op == "softmax") {
        const dnnl::softmax_v2_forward::desc d(fwd, dnnl::algorithm::softmax_accurate, src_md, dst_md,
                                               static_cast<int>(p.Get("ax")));
        const dnnl::softmax_v2_forward::primitive_desc pd(d, attr, eng_);
        impl = Chosen(pd);
        if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
        k->prim_ = dnnl::softmax_v2_forward(pd);
        k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, dims, Tag::nchw);
        k->dst_ = k->New(pd.dst_desc());
      } else {  // bnorm
        const int64_t ch = p.Get("c");
        const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                           dnnl::normalization_flags::use_shift;
        const dnnl::batch_normalization_forward::desc d(fwd, src_md, 1e-5f, flags);
        const dnnl::batch_normalization_forward::primitive_desc pd(d, attr, eng_);
        impl = Chosen(pd);
        if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
        k->prim_ = dnnl::batch_normalization_forward(pd);
        k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, dims, Tag::nchw);
        const memory::desc vec({ch}, Dt::f32, Tag::a);
        const int arg[4] = {DNNL_ARG_MEAN, DNNL_ARG_VARIANCE, DNNL_ARG_SCALE, DNNL_ARG_SHIFT};
        for (int i = 0; i < 4; ++i) k->args_[arg[i]] = k->Filled(vec, Slice(t.wei, i * ch, ch), {ch}, Tag::a);
        k->dst_ = k->New(pd.dst_desc());
      }
    } else if (op == "lnorm") {
      const int64_t ch = p.Get("c");
      const memory::dims dims = {p.Get("mb"), p.Get("t"), ch};
      const auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      const dnnl::layer_normalization_forward::desc d(fwd, {dims, plan.src, Tag::abc}, 1e-5f, flags);
      const dnnl::layer_normalization_forward::primitive_desc pd(d, attr, eng_);
      impl = Chosen(pd);
      if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
      k->prim_ = dnnl::layer_normalization_forward(pd);
      k->args_[DNNL_ARG_SRC] = k->Filled(pd.src_desc(), t.src, dims, Tag::abc);
      const memory::desc vec({ch}, Dt::f32, Tag::a);
      k->args_[DNNL_ARG_SCALE] = k->Filled(vec, Slice(t.wei, 0, ch), {ch}, Tag::a);
      k->args_[DNNL_ARG_SHIFT] = k->Filled(vec, Slice(t.wei, ch, ch), {ch}, Tag::a);
      k->dst_ = k->New(pd.dst_desc());
      k->dst_plain_ = memory::desc(dims, Dt::f32, Tag::abc);
    } else if (IsGlue(op)) {
      if (auto why = BuildGlue(p, c, plan, t, *k, impl, dst_md_chosen)) return Prepared::Unsupported(*why);
      if (auto why = TooSlowReference(p, impl)) return Prepared::ReferenceOnly(*why, impl);
    } else {
      return Prepared::Unsupported(fmt::format("op '{}' has no cpu kernel", op));
    }
    // Post-op operands: binary tensors (plain f32), and the residual a sum post-op adds to.
    for (size_t b = 0; b < chain.binaries.size(); ++b) {
      const auto& [index, ck] = chain.binaries[b];
      const memory::dims dims = PostOpDims(p, p.post_ops()[ck]);
      const Tag plain = dims.size() == 4 ? Tag::nchw : dims.size() == 3 ? Tag::abc : Tag::ab;
      const memory::desc md(dims, Dt::f32, chain.tags[b]);
      k->args_[DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1] = k->Filled(md, t.post[ck], dims, plain);
    }
    if (chain.sum >= 0) {
      const memory::dims dims = k->dst_plain_.dims();
      const Tag plain = dims.size() == 4 ? Tag::nchw : dims.size() == 3 ? Tag::abc : Tag::ab;
      k->sum_init_ = k->New(k->dst_plain_);
      std::memcpy(k->sum_init_.get_data_handle(), t.post[chain.sum].data(), t.post[chain.sum].size() * 4);
      k->dst_ = k->Filled(k->dst_.get_desc(), t.post[chain.sum], dims, plain);
    }
    if (!k->args_.count(DNNL_ARG_DST)) k->args_[DNNL_ARG_DST] = k->dst_;  // reorders bind theirs (a view for pad)
    k->want_ = ref.want;
    k->rtol_ = plan.rtol;
    k->atol_ = plan.atol;
    k->int8_ = plan.int8;
    k->impl_ = impl;
    if (c.dst_layout == "any") {
      // What `any` chose, as a candidate is named: `dst`, or `src>dst` when the source differs (a
      // first convolution reads nchw and writes a blocked layout). The selector charges the
      // conversion into the source layout from it.
      const std::string dst = LayoutName(dst_md_chosen);
      const std::string src = c.src_layout == "any" ? LayoutName(src_md_chosen) : dst;
      k->chosen_ = src == dst ? dst : src + ">" + dst;
    }
    return Prepared::Ok(std::move(k));
  }

  static bool IsGlue(const std::string& op) {
    return op == "concat" || op == "resample" || op == "transpose" || op == "slice" || op == "pad" ||
           op == "reduce" || op == "deconv" || op == "prelu";
  }

  // The glue ops, each as the runtime runs it (runtime/cpu_backend.cpp): concat, resampling,
  // reduction, deconvolution and prelu primitives; Transpose as a reorder reading the source with
  // permuted strides; Slice as a reorder out of a sub-memory view of the source and Pad as a fill of
  // the destination plus a reorder into its sub-memory view (CreateSlice, CreatePad). Returns why
  // not, if not.
  std::optional<std::string> BuildGlue(const Problem& p, const Candidate& c, const Plan& plan, const RefTensors& t,
                                       OnednnKernel& k, std::string& impl, memory::desc& dst_md_chosen) {
    const std::string& op = p.op();
    const auto fwd = dnnl::prop_kind::forward_inference;
    const Tag stag = p.IsSpatial() ? *TagOf(c.src_layout) : Tag::nchw;
    const Tag dtag = p.IsSpatial() ? *TagOf(c.dst_layout) : Tag::nchw;
    const int64_t mb = p.Get("mb");
    if (op == "deconv") {
      const int64_t ic = p.Get("ic"), oc = p.Get("oc"), g = p.Get("g"), kh = p.Get("kh"), kw = p.Get("kw");
      const memory::dims src_dims = {mb, ic, p.Get("ih"), p.Get("iw")};
      const memory::dims dst_dims = {mb, oc, p.Oh(), p.Ow()};
      const memory::dims wei_dims = g > 1 ? memory::dims{g, oc / g, ic / g, kh, kw} : memory::dims{oc, ic, kh, kw};
      const Tag wei_plain = g > 1 ? Tag::giohw : Tag::iohw;  // ONNX's [ic][oc/g][kh][kw]
      dnnl::primitive_attr attr;
      if (plan.out_scaled) attr.set_output_scales(0, {plan.oscale});
      // Its fused chain, as for conv2d (operands are bound by Build, after this).
      if (!p.post_ops().empty()) attr.set_post_ops(MakePostOpChain(p, dtag).ops);
      const dnnl::deconvolution_forward::desc d(
          fwd, dnnl::algorithm::deconvolution_direct, {src_dims, plan.src, stag}, {wei_dims, plan.wei, Tag::any},
          {{oc}, Dt::f32, Tag::a}, {dst_dims, plan.dst, dtag}, {p.Get("sh"), p.Get("sw")},
          {p.Get("dh") - 1, p.Get("dw") - 1}, {p.Get("ph"), p.Get("pw")}, {p.Get("ph"), p.Get("pw")});
      const dnnl::deconvolution_forward::primitive_desc pd(d, attr, eng_);
      impl = Chosen(pd);
      k.prim_ = dnnl::deconvolution_forward(pd);
      k.args_[DNNL_ARG_SRC] = k.Filled(pd.src_desc(), t.src, src_dims, Tag::nchw);
      k.args_[DNNL_ARG_WEIGHTS] = k.Filled(pd.weights_desc(), t.wei, wei_dims, wei_plain);
      k.args_[DNNL_ARG_BIAS] = k.Filled(pd.bias_desc(), t.bias, {oc}, Tag::a);
      k.dst_ = k.New(pd.dst_desc());
      k.dst_plain_ = memory::desc(dst_dims, Dt::f32, Tag::nchw);
      dst_md_chosen = pd.dst_desc();
      return std::nullopt;
    }
    if (op == "concat") {
      const memory::dims out = {mb, p.Get("c"), p.Get("h"), p.Get("w")};
      const int ax = static_cast<int>(p.Get("ax"));
      const int64_t n = p.Get("n");
      memory::dims in = out;
      in[ax] /= n;
      const size_t piece = static_cast<size_t>(in[0] * in[1] * in[2] * in[3]);
      std::vector<memory::desc> srcs(n, memory::desc(in, plan.src, stag));
      const dnnl::concat::primitive_desc pd(memory::desc(out, plan.dst, dtag), ax, srcs, eng_);
      impl = Chosen(pd);
      k.prim_ = dnnl::concat(pd);
      for (int64_t i = 0; i < n; ++i)
        k.args_[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = k.Filled(srcs[i], Slice(t.src, i * piece, piece), in, Tag::nchw);
      k.dst_ = k.New(pd.dst_desc());
      k.dst_plain_ = memory::desc(out, Dt::f32, Tag::nchw);
      return std::nullopt;
    }
    if (op == "resample" || op == "prelu") {
      const memory::dims in = {mb, p.Get("c"), op == "prelu" ? p.Get("h") : p.Get("ih"),
                               op == "prelu" ? p.Get("w") : p.Get("iw")};
      const memory::dims out = op == "prelu" ? in : memory::dims{mb, p.Get("c"), p.Get("oh"), p.Get("ow")};
      if (op == "resample") {
        const auto alg = p.alg() == "linear" ? dnnl::algorithm::resampling_linear : dnnl::algorithm::resampling_nearest;
        const dnnl::resampling_forward::desc d(fwd, alg, {in, plan.src, stag}, {out, plan.dst, dtag});
        const dnnl::resampling_forward::primitive_desc pd(d, eng_);
        impl = Chosen(pd);
        k.prim_ = dnnl::resampling_forward(pd);
        k.args_[DNNL_ARG_SRC] = k.Filled(pd.src_desc(), t.src, in, Tag::nchw);
        k.dst_ = k.New(pd.dst_desc());
      } else {
        const memory::dims wd = {1, p.Get("c"), 1, 1};
        const dnnl::prelu_forward::desc d(fwd, {in, plan.src, stag}, {wd, plan.src, Tag::any});
        const dnnl::prelu_forward::primitive_desc pd(d, eng_);
        impl = Chosen(pd);
        k.prim_ = dnnl::prelu_forward(pd);
        k.args_[DNNL_ARG_SRC] = k.Filled(pd.src_desc(), t.src, in, Tag::nchw);
        k.args_[DNNL_ARG_WEIGHTS] = k.Filled(pd.weights_desc(), t.wei, wd, Tag::nchw);
        k.dst_ = k.New(pd.dst_desc());
      }
      k.dst_plain_ = memory::desc(out, Dt::f32, Tag::nchw);
      return std::nullopt;
    }
    // Plain-only ops: transpose, slice, pad, reduce.
    const memory::dims in = {mb, p.Get("c"), p.Get("h"), p.Get("w")};
    memory src_plain = k.Filled(memory::desc(in, plan.src, Tag::nchw), t.src, in, Tag::nchw);
    if (op == "reduce") {
      const memory::dims out = {mb, p.Get("oc"), p.Get("oh"), p.Get("ow")};
      const auto alg = p.alg() == "mean"  ? dnnl::algorithm::reduction_mean
                       : p.alg() == "sum" ? dnnl::algorithm::reduction_sum
                                          : dnnl::algorithm::reduction_max;
      const dnnl::reduction::desc d(alg, src_plain.get_desc(), {out, plan.dst, Tag::nchw}, 0.f, 0.f);
      const dnnl::reduction::primitive_desc pd(d, eng_);
      impl = Chosen(pd);
      k.prim_ = dnnl::reduction(pd);
      k.args_[DNNL_ARG_SRC] = src_plain;
      k.dst_ = k.New(pd.dst_desc());
      k.dst_plain_ = memory::desc(out, Dt::f32, Tag::nchw);
      return std::nullopt;
    }
    memory::desc from, to;
    memory from_mem, to_mem;
    if (op == "transpose") {
      // The source read with permuted strides: dst dim k is source dim perm[k].
      const memory::dims strides_in = {in[1] * in[2] * in[3], in[2] * in[3], in[3], 1};
      memory::dims out(4), strides(4);
      for (int i = 0; i < 4; ++i) {
        const int pk = p.alg()[1 + i] - '0';
        out[i] = in[pk];
        strides[i] = strides_in[pk];
      }
      from = memory::desc(out, plan.src, strides);
      to = memory::desc(out, plan.dst, Tag::nchw);
      from_mem = memory(from, eng_, src_plain.get_data_handle());
      k.keep_.push_back(src_plain);
      k.dst_ = k.New(to);
      to_mem = k.dst_;
      k.dst_plain_ = memory::desc(out, Dt::f32, Tag::nchw);
    } else if (op == "slice") {
      const memory::dims out = {mb, p.Get("oc"), p.Get("oh"), p.Get("ow")};
      const auto off = SliceOffsets(p);
      from = src_plain.get_desc().submemory_desc(out, {off[0], off[1], off[2], off[3]});
      from_mem = memory(from, eng_, src_plain.get_data_handle());
      k.keep_.push_back(src_plain);
      to = memory::desc(out, plan.dst, Tag::nchw);
      k.dst_ = k.New(to);
      to_mem = k.dst_;
      k.dst_plain_ = memory::desc(out, Dt::f32, Tag::nchw);
    } else if (op == "pad") {
      const memory::dims out = {mb, p.Get("c"), p.Oh(), p.Ow()};
      const memory::desc full(out, plan.dst, Tag::nchw);
      k.dst_ = k.New(full);
      to = full.submemory_desc(in, {0, 0, p.Get("pt"), p.Get("pl")});
      to_mem = memory(to, eng_, k.dst_.get_data_handle());
      k.keep_.push_back(k.dst_);
      from = src_plain.get_desc();
      from_mem = src_plain;
      // The border: the whole destination zeroed each run (one pass; a runtime could fill only the
      // border, which the reorder's pass dominates anyway for pads of a few rows).
      memory dst = k.dst_;
      const size_t bytes = full.get_size();
      k.pre_ = [dst, bytes]() { std::memset(dst.get_data_handle(), 0, bytes); };
      k.dst_plain_ = memory::desc(out, Dt::f32, Tag::nchw);
    } else {
      return fmt::format("op '{}' has no cpu kernel", op);
    }
    const dnnl::reorder::primitive_desc pd(eng_, from, eng_, to);
    impl = Chosen(pd);
    k.prim_ = dnnl::reorder(pd);
    k.args_[DNNL_ARG_FROM] = from_mem;
    k.args_[DNNL_ARG_TO] = to_mem;
    return std::nullopt;
  }

  // The inputs and expected output of one (problem, dtype). The candidates of a problem are prepared
  // one after another and share them, so the (slow) reference runs once per dtype, not per layout.
  // A reference is returned by reference: valid until the next call with another problem.
  struct RefEntry {
    std::string key, dtype;
    Plan plan;
    RefTensors t;
    std::shared_ptr<const std::vector<float>> want;
  };
  const RefEntry& Reference(const Problem& p, const std::string& dtype) {
    const std::string key = p.Key();
    for (const auto& r : refs_)
      if (r.key == key && r.dtype == dtype) return r;
    // Keep the entries of the current problem only (one per dtype), so memory stays bounded.
    refs_.erase(std::remove_if(refs_.begin(), refs_.end(), [&](const RefEntry& r) { return r.key != key; }),
                refs_.end());
    RefEntry e;
    e.plan = MakePlan(p, dtype);
    e.t = MakeInputs(p);
    QuantiseInputs(p, e.plan, e.t);
    ComputeReference(p, e.t);
    Plan& plan = e.plan;
    if (plan.int8 && plan.out_scaled && plan.oscale == 1) {
      // Spread the result over most of the s8 range without saturating it. Eltwise takes an integer
      // scale, so that its exact results stay integers or thirds, never rounding ties.
      float mx = 0;
      for (float v : e.t.dst) mx = std::max(mx, std::fabs(v));
      plan.oscale = mx > 0 ? 100.f / mx : 1.f;
      if (p.op() == "eltwise") plan.oscale = std::max(1.f, std::floor(plan.oscale));
    }
    std::vector<float> want = e.t.dst;
    QuantiseExpected(plan, want);
    e.want = std::make_shared<const std::vector<float>>(std::move(want));
    e.key = key;
    e.dtype = dtype;
    refs_.push_back(std::move(e));  // only complete entries are kept: an exception above leaves none
    return refs_.back();
  }

  UnitInfo info_;
  std::vector<RefEntry> refs_;
  bool probing_ = false;  // inside Choose()
  dnnl::engine eng_;
  dnnl::stream strm_;
  dnnl::cpu_isa isa_;
};

}  // namespace

std::unique_ptr<Unit> MakeCpuUnit() { return std::make_unique<CpuUnit>(); }

}  // namespace layoutdb::microbench::onednn
