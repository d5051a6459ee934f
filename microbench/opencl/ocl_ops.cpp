// The OpenCL op kernels: host-side packing, variants for the tuner, and the check against reference.h.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>

#include "opencl/ocl_runtime.h"
#include "reference.h"

namespace layoutdb::microbench::opencl {
namespace {

void CL_CALLBACK FreeHostStorage(cl_mem, void* storage) { std::free(storage); }

cl::Buffer MakeBuffer(DeviceCtx& dev, const std::vector<float>& data) {
  // An absent tensor (no bias) still gets a small zeroed buffer: kernels take every argument.
  std::vector<float> dummy(16, 0.f);
  const std::vector<float>& d = data.empty() ? dummy : data;
  return cl::Buffer(dev.context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, d.size() * sizeof(float),
                    const_cast<float*>(d.data()));
}

template <typename... Args>
void SetArgs(cl::Kernel& k, const Args&... args) {
  cl_uint i = 0;
  (k.setArg(i++, args), ...);
}

cl_int I(int64_t v) { return static_cast<cl_int>(v); }
size_t CeilDiv(int64_t a, int64_t b) { return static_cast<size_t>((a + b - 1) / b); }

// A prepared op: inputs on the device, the tuned launch, and what Check() compares against.
class OpKernel : public OclKernel {
 public:
  OpKernel(std::shared_ptr<DeviceCtx> dev, const Problem& p, std::string layout, RefTensors t)
      : OclKernel(std::move(dev), "", ""), p_(p), layout_(std::move(layout)), t_(std::move(t)) {}

  std::string Check() override {
    RunUs();
    std::vector<float> phys(dst_phys_);
    dev_->queue.enqueueReadBuffer(dst_, CL_TRUE, 0, dst_phys_ * sizeof(float), phys.data());
    std::vector<float> got = dst_spatial_ ? FromLayout(phys, dst_shape_, layout_) : std::move(phys);
    if (fault_) {
      got[got.size() / 2] += 1.0f;
      fault_ = false;
    }
    if (!have_ref_) {
      ComputeReference(p_, t_);
      have_ref_ = true;
    }
    const std::string diff = CompareOutputs(got.data(), t_.dst.data(), static_cast<int64_t>(got.size()),
                                            rtol_, atol_);
    if (diff.empty()) return {};
    return fmt::format("{} {} {} ({}): {}", dev_->unit_name, p_.Key(), layout_, impl_, diff);
  }

  Problem p_;
  std::string layout_;
  RefTensors t_;
  bool have_ref_ = false;
  std::vector<cl::Buffer> inputs_;
  cl::Buffer dst_;
  // The constants' host storage on a device that computes from host memory (PoCL), which the warm
  // cache mode flushes before each run as it does a cpu kernel's weights: in a network they were last
  // read a whole network ago. Left in cache, ResNet-50's 8 MB classifier measured 233 us on PoCL and
  // ran 1039 us in the network. Empty on other devices (their memory is not the host's).
  std::vector<std::pair<void*, size_t>> constant_ranges_;
  std::vector<std::pair<void*, size_t>> Weights() const override { return constant_ranges_; }
  // A buffer of weights, bias or parameters: on a host-memory device, over page-aligned host storage
  // the kernel reads in place (CL_MEM_USE_HOST_PTR), freed when the runtime destroys the buffer
  // (which the launches' kernel objects keep alive past this object); else a copy, as every other
  // buffer.
  cl::Buffer Constant(DeviceCtx& dev, const std::vector<float>& data) {
    if (!dev.host_memory) return MakeBuffer(dev, data);
    constexpr size_t kPage = 4096;
    const size_t n = std::max<size_t>(data.size(), 16), bytes = (n * sizeof(float) + kPage - 1) / kPage * kPage;
    void* mem = std::aligned_alloc(kPage, bytes);
    if (!mem) throw std::bad_alloc();
    std::memset(mem, 0, bytes);
    if (!data.empty()) std::memcpy(mem, data.data(), data.size() * sizeof(float));
    cl::Buffer b;
    try {
      b = cl::Buffer(dev.context, CL_MEM_READ_WRITE | CL_MEM_USE_HOST_PTR, bytes, mem);
    } catch (...) {
      std::free(mem);
      throw;
    }
    if (clSetMemObjectDestructorCallback(b(), FreeHostStorage, mem) != CL_SUCCESS) {
      b = cl::Buffer();  // released now: nothing uses the storage any more
      std::free(mem);
      return MakeBuffer(dev, data);  // not flushed, as before
    }
    constant_ranges_.emplace_back(mem, bytes);
    return b;
  }
  size_t dst_phys_ = 0;
  bool dst_spatial_ = true;
  Shape4 dst_shape_;
  double rtol_ = 1e-4, atol_ = 1e-5;

  // Allocates the (zeroed) destination.
  void AllocDst(size_t phys) {
    dst_phys_ = phys;
    dst_ = MakeBuffer(*dev_, std::vector<float>(phys, 0.f));
  }
  void Finish(const TuneResult& r) {
    launches_ = {r.launch};
    impl_ = "ocl:" + r.variant->name;
    config_ = r.config;
  }
};

// Options of the compute-bound programs. -cl-fast-relaxed-math lets the compiler reassociate the
// FMA chains; the check's tolerance (rtol 1e-4, atol 1e-5 + 1e-6 * reduction length) still holds.
const char* kFastOpts = " -cl-fast-relaxed-math";

// The -D options of a problem's fused activation (common.cl's ACT codes); empty without a post-op.
std::string ActOptions(const Problem& p) {
  if (p.post_ops().empty()) return {};
  const std::string& a = p.post_ops().front();
  if (a == "relu") return " -DACT=1";
  if (a == "clip") return " -DACT=2 -DA0=0.f -DA1=6.f";
  if (a == "leakyrelu") return fmt::format(" -DACT=3 -DA0={:.9g}f", kLeakyReluAlpha);
  if (a == "sigmoid") return " -DACT=4";
  if (a == "hardsigmoid") return " -DACT=5 -DA0=0.16666667f -DA1=0.5f";
  if (a == "hardswish") return " -DACT=6";
  if (a == "tanh") return " -DACT=7";
  if (a == "gelu") return " -DACT=13";
  throw std::invalid_argument(fmt::format("post-op '{}' has no OpenCL epilogue", a));
}

void PrepareConv(OpKernel& k, DeviceCtx& dev, std::vector<Variant>& vs) {
  const Problem& p = k.p_;
  const int64_t mb = p.Get("mb"), ic = p.Get("ic"), ih = p.Get("ih"), iw = p.Get("iw");
  const int64_t oc = p.Get("oc"), kh = p.Get("kh"), kw = p.Get("kw"), sh = p.Get("sh"),
                sw = p.Get("sw"), ph = p.Get("ph"), pw = p.Get("pw"), g = p.Get("g");
  const int64_t oh = p.Oh(), ow = p.Ow(), icg = ic / g, ocg = oc / g;
  const std::string& layout = k.layout_;
  const Shape4 ss{mb, ic, ih, iw};
  k.dst_shape_ = {mb, oc, oh, ow};
  k.atol_ = 1e-5 + 1e-6 * static_cast<double>(icg * kh * kw);
  k.inputs_.push_back(MakeBuffer(dev, ToLayout(k.t_.src, ss, layout)));
  k.AllocDst(PhysElems(k.dst_shape_, layout));
  const bool depthwise = g > 1 && icg == 1 && ocg == 1;
  std::vector<float> wp, bp;
  if (depthwise) {
    // nhwc and nc4hw4: vectors of 16 or 8 channels (contiguous in nhwc, neighbouring blocks in
    // nc4hw4).
    if (layout == "nchw") {
      // Vectorised along w instead: weights and bias as given.
      k.inputs_.push_back(k.Constant(dev, k.t_.wei));
      k.inputs_.push_back(k.Constant(dev, k.t_.bias));
      for (int px : {8, 16}) {
        Variant v;
        v.name = fmt::format("dwconv_nchw_w{}", px);
        v.file = "conv.cl";
        v.kernel = "dwconv2d_w";
        v.options = fmt::format("{} -DOCV=4 -DPX={}{}", LayoutDefine(layout), px, kFastOpts);
        v.dims = 3;
        const size_t owb = CeilDiv(ow, px), nz = static_cast<size_t>(mb * ic);
        v.gws = {owb, static_cast<size_t>(oh), nz};
        v.lws = LwsCandidates3(dev, v.gws);
        v.set_args = [&k, ic, ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, owb, nz](cl::Kernel& kk) {
          SetArgs(kk, k.inputs_[0], k.inputs_[1], k.inputs_[2], k.dst_, I(ic), I(ih), I(iw), I(oh),
                  I(ow), I(kh), I(kw), I(sh), I(sw), I(ph), I(pw), I(owb), I(nz));
        };
        vs.push_back(std::move(v));
      }
      return;
    }
    const std::vector<std::pair<int, int>> shapes = {{16, 8}, {16, 4}, {8, 8}};  // (cv, px)
    for (auto [cv, px] : shapes) {
      const int64_t cb = (ic + cv - 1) / cv;
      std::vector<float> w(cb * kh * kw * cv, 0.f), b(cb * cv, 0.f);
      for (int64_t c = 0; c < ic; ++c) {
        b[c] = k.t_.bias[c];
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            w[(((c / cv) * kh + y) * kw + x) * cv + c % cv] = k.t_.wei[(c * kh + y) * kw + x];
      }
      const size_t wi = k.inputs_.size();
      k.inputs_.push_back(k.Constant(dev, w));
      k.inputs_.push_back(k.Constant(dev, b));
      Variant v;
      v.name = fmt::format("dwconv_{}_c{}_px{}", layout, cv, px);
      v.file = "conv.cl";
      v.kernel = "dwconv2d";
      // conv2d in the same file needs OCV; 4 keeps the program shared with small convolutions.
      v.options = fmt::format("{} -DOCV=4 -DCV={} -DPX={}{}", LayoutDefine(layout), cv, px, kFastOpts);
      v.dims = 3;
      const size_t owb = CeilDiv(ow, px), nz = static_cast<size_t>(mb * cb);
      v.gws = {owb, static_cast<size_t>(oh), nz};
      v.lws = LwsCandidates3(dev, v.gws);
      v.set_args = [&k, wi, ic, ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, owb, nz](cl::Kernel& kk) {
        SetArgs(kk, k.inputs_[0], k.inputs_[wi], k.inputs_[wi + 1], k.dst_, I(ic), I(ih), I(iw),
                I(oh), I(ow), I(kh), I(kw), I(sh), I(sw), I(ph), I(pw), I(owb), I(nz));
      };
      vs.push_back(std::move(v));
    }
    return;
  } else {
    const int64_t ocv = ocg >= 16 ? 16 : ocg >= 8 ? 8 : 4;
    const int64_t ocb = (ocg + ocv - 1) / ocv;
    wp.assign(g * ocb * kh * kw * icg * ocv, 0.f);
    bp.assign(g * ocb * ocv, 0.f);
    for (int64_t gi = 0; gi < g; ++gi)
      for (int64_t o = 0; o < ocg; ++o) {
        const int64_t gob = gi * ocb + o / ocv, j = o % ocv, oa = gi * ocg + o;
        bp[gob * ocv + j] = k.t_.bias[oa];
        for (int64_t c = 0; c < icg; ++c)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t x = 0; x < kw; ++x)
              wp[((((gob * kh + y) * kw + x) * icg) + c) * ocv + j] =
                  k.t_.wei[((oa * icg + c) * kh + y) * kw + x];
      }
    k.inputs_.push_back(k.Constant(dev, wp));
    k.inputs_.push_back(k.Constant(dev, bp));
    for (int px : {8, 4}) {
      Variant v;
      v.name = fmt::format("conv_{}_oc{}_px{}", layout, ocv, px);
      v.file = "conv.cl";
      v.kernel = "conv2d";
      v.options = fmt::format("{} -DOCV={} -DPX={}{}", LayoutDefine(layout), ocv, px, kFastOpts);
      v.dims = 3;
      const size_t owb = CeilDiv(ow, px), nz = static_cast<size_t>(mb * g * ocb);
      v.gws = {owb, static_cast<size_t>(oh), nz};
      v.lws = LwsCandidates3(dev, v.gws);
      v.set_args = [&k, ic, ih, iw, oc, oh, ow, kh, kw, sh, sw, ph, pw, g, icg, ocg, ocb, owb,
                    nz](cl::Kernel& kk) {
        SetArgs(kk, k.inputs_[0], k.inputs_[1], k.inputs_[2], k.dst_, I(ic), I(ih), I(iw), I(oc),
                I(oh), I(ow), I(kh), I(kw), I(sh), I(sw), I(ph), I(pw), I(g), I(icg), I(ocg),
                I(ocb), I(owb), I(nz));
      };
      vs.push_back(std::move(v));
    }
  }
}

// matmul and ip share the GEMM kernel (ip: B = transposed weights, batch 1, with bias).
void PrepareGemm(OpKernel& k, DeviceCtx& dev, std::vector<Variant>& vs) {
  const Problem& p = k.p_;
  const bool ip = p.op() == "ip";
  const int64_t batch = ip ? 1 : p.Get("mb");
  const int64_t m = ip ? p.Get("mb") : p.Get("m");
  const int64_t n = ip ? p.Get("oc") : p.Get("n");
  const int64_t kk = ip ? p.Get("ic") : p.Get("k");
  k.dst_spatial_ = false;
  k.atol_ = 1e-5 + 1e-6 * static_cast<double>(kk);
  k.inputs_.push_back(MakeBuffer(dev, k.t_.src));
  if (ip) {
    std::vector<float> wt(kk * n);
    for (int64_t o = 0; o < n; ++o)
      for (int64_t c = 0; c < kk; ++c) wt[c * n + o] = k.t_.wei[o * kk + c];
    k.inputs_.push_back(k.Constant(dev, wt));
    k.inputs_.push_back(k.Constant(dev, k.t_.bias));
  } else {
    // A batched B is an activation (attention's K, V), not a constant (OnednnKernel::b_is_activation_).
    k.inputs_.push_back(batch > 1 ? MakeBuffer(dev, k.t_.wei) : k.Constant(dev, k.t_.wei));
    k.inputs_.push_back(MakeBuffer(dev, {}));
  }
  k.AllocDst(static_cast<size_t>(batch * m * n));
  const cl_long bstride = ip ? 0 : kk * n;
  const cl_int has_bias = ip ? 1 : 0;
  struct Shape {
    bool lmem;
    int mr;
  };
  std::vector<Shape> shapes = m <= 2 ? std::vector<Shape>{{false, 1}, {false, 4}}
                                     : std::vector<Shape>{{false, 8}, {false, 4}, {true, 4}};
  constexpr int kKt = 64, kTm = 8;
  for (const Shape& s : shapes) {
    Variant v;
    v.name = fmt::format("{}_plain_{}mr{}", p.op(), s.lmem ? "lmem_" : "", s.mr);
    v.file = "matmul.cl";
    v.kernel = "matmul";
    v.options = fmt::format("-DMR={}{}{}", s.mr,
                            s.lmem ? fmt::format(" -DLMEM -DKT={} -DTM={}", kKt, kTm) : "", kFastOpts);
    v.dims = 3;
    const size_t nb = CeilDiv(n, 16), mblk = CeilDiv(m, s.mr);
    v.gws = {nb, mblk, static_cast<size_t>(batch)};
    if (s.lmem) {
      if (kTm > dev.max_wg) continue;
      v.lws = {{1, kTm, 1}};
    } else {
      v.lws = LwsCandidates3(dev, v.gws);
    }
    v.set_args = [&k, m, n, kk, nb, mblk, batch, bstride, has_bias](cl::Kernel& ker) {
      SetArgs(ker, k.inputs_[0], k.inputs_[1], k.inputs_[2], k.dst_, I(m), I(n), I(kk), I(nb),
              I(mblk), I(batch), bstride, has_bias);
    };
    vs.push_back(std::move(v));
  }
}

Variant Variant1D(const std::string& name, const std::string& file, const std::string& kernel,
                  const std::string& options, size_t n, const DeviceCtx& dev) {
  Variant v;
  v.name = name;
  v.file = file;
  v.kernel = kernel;
  v.options = options;
  v.dims = 1;
  v.gws = {std::max<size_t>(n, 1), 1, 1};
  v.lws = LwsCandidates1(dev, n);
  return v;
}

void PrepareMemoryBound(OpKernel& k, DeviceCtx& dev, std::vector<Variant>& vs) {
  const Problem& p = k.p_;
  const std::string& op = p.op();
  const std::string& layout = k.layout_;
  if (op == "pool") {
    const int64_t mb = p.Get("mb"), ic = p.Get("ic");
    const Shape4 ss{mb, ic, p.Get("ih"), p.Get("iw")};
    k.dst_shape_ = {mb, ic, p.Oh(), p.Ow()};
    k.inputs_.push_back(MakeBuffer(dev, ToLayout(k.t_.src, ss, layout)));
    k.AllocDst(PhysElems(k.dst_shape_, layout));
    Variant v;
    v.name = fmt::format("pool_{}_{}", p.alg(), layout);
    v.file = "ops.cl";
    v.kernel = "pool";
    v.options = LayoutDefine(layout) + (p.alg() == "max" ? " -DPOOL_MAX" : "");
    v.dims = 3;
    const size_t nz = static_cast<size_t>(mb * ((ic + 3) / 4));
    v.gws = {static_cast<size_t>(p.Ow()), static_cast<size_t>(p.Oh()), nz};
    v.lws = LwsCandidates3(dev, v.gws);
    v.set_args = [&k, p, ic, nz](cl::Kernel& kk) {
      SetArgs(kk, k.inputs_[0], k.dst_, I(ic), I(p.Get("ih")), I(p.Get("iw")), I(p.Oh()),
              I(p.Ow()), I(p.Get("kh")), I(p.Get("kw")), I(p.Get("sh")), I(p.Get("sw")),
              I(p.Get("ph")), I(p.Get("pw")), I(nz));
    };
    vs.push_back(std::move(v));
    return;
  }
  if (op == "lnorm") {
    const int64_t rows = p.Get("mb") * p.Get("t"), c = p.Get("c");
    k.dst_spatial_ = false;
    k.inputs_.push_back(MakeBuffer(dev, k.t_.src));
    k.inputs_.push_back(k.Constant(dev, k.t_.wei));
    k.AllocDst(static_cast<size_t>(rows * c));
    Variant v = Variant1D("lnorm_plain", "ops.cl", "lnorm", "", static_cast<size_t>(rows), dev);
    v.set_args = [&k, rows, c](cl::Kernel& kk) {
      SetArgs(kk, k.inputs_[0], k.inputs_[1], k.dst_, I(c), I(rows));
    };
    vs.push_back(std::move(v));
    return;
  }
  // eltwise, binary, softmax, bnorm over [mb][c][h][w].
  const Shape4 s{p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  k.dst_shape_ = s;
  const size_t n = PhysElems(s, layout);
  k.inputs_.push_back(MakeBuffer(dev, ToLayout(k.t_.src, s, layout)));
  k.AllocDst(n);
  if (op == "eltwise") {
    std::string alg = p.alg();
    std::transform(alg.begin(), alg.end(), alg.begin(), ::toupper);
    // Layout-free: one program serves every layout.
    // LeakyRelu's slope: the reference's (reference.h), as the runtime passes the node's alpha.
    const std::string defines =
        "-DALG_" + alg + (p.alg() == "leakyrelu" ? fmt::format(" -DLEAKY_ALPHA={:.9g}f", kLeakyReluAlpha) : "");
    Variant v = Variant1D(fmt::format("eltwise_{}", p.alg()), "ops.cl", "eltwise", defines, n, dev);
    v.set_args = [&k, n](cl::Kernel& kk) { SetArgs(kk, k.inputs_[0], k.dst_, I(n)); };
    vs.push_back(std::move(v));
  } else if (op == "binary" && p.Get("bc") != 0) {
    // A broadcast second operand (bc1 per channel, bc2 scalar) stays plain, as the runtime reads it.
    k.inputs_.push_back(MakeBuffer(dev, k.t_.src2));
    const int64_t bc = p.Get("bc");
    Variant v = Variant1D(fmt::format("binary_{}_bc{}_{}", p.alg(), bc, layout), "ops.cl", "binary_bcast",
                          fmt::format("{} -DBCAST={} {}", LayoutDefine(layout), bc,
                                      p.alg() == "mul" ? "-DBIN_MUL" : "-DBIN_ADD"),
                          n, dev);
    v.set_args = [&k, s, n](cl::Kernel& kk) {
      SetArgs(kk, k.inputs_[0], k.inputs_[1], k.dst_, I(s.c), I(s.h), I(s.w), I(n));
    };
    vs.push_back(std::move(v));
  } else if (op == "binary") {
    k.inputs_.push_back(MakeBuffer(dev, ToLayout(k.t_.src2, s, layout)));
    Variant v = Variant1D(fmt::format("binary_{}", p.alg()), "ops.cl", "binary",
                          p.alg() == "mul" ? "-DBIN_MUL" : "-DBIN_ADD", n, dev);
    v.set_args = [&k, n](cl::Kernel& kk) {
      SetArgs(kk, k.inputs_[0], k.inputs_[1], k.dst_, I(n));
    };
    vs.push_back(std::move(v));
  } else if (op == "softmax") {
    const int64_t ax = p.Get("ax");
    const int64_t dims[4] = {s.mb, s.c, s.h, s.w};
    const int64_t rows = s.Elems() / dims[ax];
    Variant v = Variant1D(fmt::format("softmax_ax{}_{}", ax, layout), "ops.cl", "softmax",
                          fmt::format("{} -DAXIS={}{}", LayoutDefine(layout), ax,
                                      (layout == "nchw" && ax == 3) || (layout == "nhwc" && ax == 1)
                                          ? " -DAXIS_CONTIGUOUS"
                                          : ""),
                          static_cast<size_t>(rows), dev);
    v.set_args = [&k, s, rows](cl::Kernel& kk) {
      SetArgs(kk, k.inputs_[0], k.dst_, I(s.mb), I(s.c), I(s.h), I(s.w), I(rows));
    };
    vs.push_back(std::move(v));
  } else if (op == "bnorm") {
    const int64_t hw = s.h * s.w, c4 = (s.c + 3) / 4;
    Variant v;
    v.name = fmt::format("bnorm_{}", layout);
    v.file = "ops.cl";
    v.options = LayoutDefine(layout);
    v.dims = 2;
    v.lws = {{0, 0, 0}};
    if (layout == "nhwc") {
      // One element per work-item along the contiguous channels.
      k.inputs_.push_back(k.Constant(dev, k.t_.wei));
      v.kernel = "bnorm";
      v.gws = {static_cast<size_t>(s.c), static_cast<size_t>(s.mb * hw), 1};
      v.set_args = [&k, s, hw](cl::Kernel& kk) {
        SetArgs(kk, k.inputs_[0], k.inputs_[1], k.dst_, I(s.c), I(s.c), I(s.mb * hw));
      };
    } else {
      // float4 work-items; parameters padded to whole channel blocks.
      std::vector<float> wp(4 * c4 * 4, 0.f);
      for (int64_t q = 0; q < 4; ++q)
        for (int64_t c = 0; c < c4 * 4; ++c)
          wp[q * c4 * 4 + c] = c < s.c ? k.t_.wei[q * s.c + c] : (q == 1 ? 1.f : 0.f);
      k.inputs_.push_back(k.Constant(dev, wp));
      v.kernel = "bnorm4";
      const bool blocked = layout == "nc4hw4";
      const int64_t outer = blocked ? s.mb * c4 : s.mb * s.c;
      v.gws = {blocked ? static_cast<size_t>(hw) : CeilDiv(hw, 4), static_cast<size_t>(outer), 1};
      v.set_args = [&k, s, hw, outer](cl::Kernel& kk) {
        SetArgs(kk, k.inputs_[0], k.inputs_[1], k.dst_, I(s.c), I(hw), I(outer));
      };
    }
    for (size_t a : {size_t{64}, size_t{256}})
      if (a <= dev.max_wg) v.lws.push_back({std::min(a, v.gws[0]), 1, 1});
    vs.push_back(std::move(v));
  }
}

// ---- reorders ----

int LayoutCode(const std::string& l) { return l == "nchw" ? 0 : l == "nhwc" ? 1 : 2; }

class ReorderKernel : public OclKernel {
 public:
  ReorderKernel(std::shared_ptr<DeviceCtx> dev, Shape4 s, std::string src_l, std::string dst_l)
      : OclKernel(std::move(dev), "", ""), s_(s), src_l_(std::move(src_l)), dst_l_(std::move(dst_l)) {
    plain_.resize(static_cast<size_t>(s.Elems()));
    // Distinct, exactly representable values: a reorder must reproduce them bit for bit.
    for (size_t i = 0; i < plain_.size(); ++i) plain_[i] = static_cast<float>(i % 65521) - 32760.f;
    src_ = MakeBuffer(*dev_, ToLayout(plain_, s_, src_l_));
    dst_ = MakeBuffer(*dev_, std::vector<float>(PhysElems(s_, dst_l_), 0.f));
  }
  std::string Check() override {
    RunUs();
    std::vector<float> phys(PhysElems(s_, dst_l_));
    dev_->queue.enqueueReadBuffer(dst_, CL_TRUE, 0, phys.size() * sizeof(float), phys.data());
    std::vector<float> got = FromLayout(phys, s_, dst_l_);
    if (fault_) {
      got[got.size() / 2] += 1.0f;
      fault_ = false;
    }
    const std::string diff = CompareOutputs(got.data(), plain_.data(), static_cast<int64_t>(got.size()), 0, 0);
    return diff.empty() ? diff : fmt::format("{} reorder {} {}>{}: {}", dev_->unit_name, s_.Key(), src_l_, dst_l_, diff);
  }
  void Prepare() {
    Variant v;
    v.name = fmt::format("reorder_{}_{}", src_l_, dst_l_);
    v.file = "reorder.cl";
    v.kernel = "reorder";
    v.options = fmt::format("-DSRC_L={} -DDST_L={}", LayoutCode(src_l_), LayoutCode(dst_l_));
    v.dims = 3;
    const size_t nz = static_cast<size_t>(s_.mb * ((s_.c + 3) / 4));
    v.gws = {CeilDiv(s_.w, 4), static_cast<size_t>(s_.h), nz};  // 4 x 4 tiles
    v.lws = LwsCandidates3(*dev_, v.gws);
    v.set_args = [this, nz](cl::Kernel& k) {
      SetArgs(k, src_, dst_, I(s_.c), I(s_.h), I(s_.w), I(nz));
    };
    std::vector<Variant> vs{std::move(v)};
    const TuneResult r = Tune(*dev_, "reorder|" + s_.Key() + "|" + src_l_ + ">" + dst_l_, vs);
    launches_ = {r.launch};
    impl_ = "ocl:" + r.variant->name;
    config_ = r.config;
  }

 private:
  Shape4 s_;
  std::string src_l_, dst_l_;
  std::vector<float> plain_;
  cl::Buffer src_, dst_;
};

// ---- transfers ----

class TransferKernel : public Kernel {
 public:
  TransferKernel(std::shared_ptr<DeviceCtx> dev, std::string method, size_t bytes)
      : dev_(std::move(dev)), method_(std::move(method)), bytes_(bytes), host_(bytes),
        buf_(dev_->context, CL_MEM_READ_WRITE, bytes) {
    Fill(host_.data(), 1);
    dev_->queue.enqueueWriteBuffer(buf_, CL_TRUE, 0, bytes_, host_.data());
  }
  std::string Impl() const override { return "ocl:" + method_; }
  void InjectFaultForTest() override { fault_ = true; }
  double LastHostUs() const override { return host_us_; }
  const char* Timer() const override { return "event"; }

  // The event's START..END; LastHostUs() is the steady clock from the enqueue to the wait's return.
  double RunUs() override {
    using Clock = std::chrono::steady_clock;
    const auto host = [](Clock::time_point t0) {
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    };
    cl::Event ev;
    auto& q = dev_->queue;
    if (method_ == "write") {
      const auto t0 = Clock::now();
      q.enqueueWriteBuffer(buf_, CL_FALSE, 0, bytes_, host_.data(), nullptr, &ev);
      ev.wait();
      host_us_ = host(t0);
    } else if (method_ == "read") {
      const auto t0 = Clock::now();
      q.enqueueReadBuffer(buf_, CL_FALSE, 0, bytes_, host_.data(), nullptr, &ev);
      ev.wait();
      host_us_ = host(t0);
    } else if (method_ == "map") {
      const auto t0 = Clock::now();
      void* ptr = q.enqueueMapBuffer(buf_, CL_FALSE, CL_MAP_READ, 0, bytes_, nullptr, &ev);
      ev.wait();
      host_us_ = host(t0);
      const double us = Us(ev);
      q.enqueueUnmapMemObject(buf_, ptr);
      q.finish();
      return us;
    } else {  // unmap
      void* ptr = q.enqueueMapBuffer(buf_, CL_TRUE, CL_MAP_WRITE, 0, bytes_);
      if (unmap_fill_) Fill(static_cast<unsigned char*>(ptr), 2);
      const auto t0 = Clock::now();
      q.enqueueUnmapMemObject(buf_, ptr, nullptr, &ev);
      ev.wait();
      host_us_ = host(t0);
    }
    return Us(ev);
  }

  std::string Check() override {
    auto& q = dev_->queue;
    std::vector<unsigned char> want(bytes_), got(bytes_);
    if (method_ == "write") {
      Fill(host_.data(), 3);
      want = host_;
      RunUs();
      q.enqueueReadBuffer(buf_, CL_TRUE, 0, bytes_, got.data());
    } else if (method_ == "read") {
      Fill(want.data(), 4);
      q.enqueueWriteBuffer(buf_, CL_TRUE, 0, bytes_, want.data());
      std::fill(host_.begin(), host_.end(), 0);
      RunUs();
      got = host_;
    } else if (method_ == "map") {
      Fill(want.data(), 5);
      q.enqueueWriteBuffer(buf_, CL_TRUE, 0, bytes_, want.data());
      void* ptr = q.enqueueMapBuffer(buf_, CL_TRUE, CL_MAP_READ, 0, bytes_);
      std::memcpy(got.data(), ptr, bytes_);
      q.enqueueUnmapMemObject(buf_, ptr);
      q.finish();
    } else {
      Fill(want.data(), 2);
      unmap_fill_ = true;
      RunUs();
      unmap_fill_ = false;
      q.enqueueReadBuffer(buf_, CL_TRUE, 0, bytes_, got.data());
    }
    if (fault_) {
      got[bytes_ / 2] ^= 0x5a;
      fault_ = false;
    }
    size_t bad = 0, first = bytes_;
    for (size_t i = 0; i < bytes_; ++i)
      if (got[i] != want[i]) {
        if (first == bytes_) first = i;
        ++bad;
      }
    if (bad == 0) return {};
    return fmt::format("{} transfer {} of {} bytes: {} bytes differ, first at offset {} (got {}, want {})",
                       dev_->unit_name, method_, bytes_, bad, first, got[first], want[first]);
  }

 private:
  void Fill(unsigned char* p, uint32_t seed) const {
    uint32_t x = 2463534242u ^ seed * 0x9e3779b9u;
    for (size_t i = 0; i < bytes_; ++i) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      p[i] = static_cast<unsigned char>(x);
    }
  }
  static double Us(const cl::Event& ev) {
    return static_cast<double>(ev.getProfilingInfo<CL_PROFILING_COMMAND_END>() -
                               ev.getProfilingInfo<CL_PROFILING_COMMAND_START>()) * 1e-3;
  }
  std::shared_ptr<DeviceCtx> dev_;
  std::string method_;
  size_t bytes_;
  std::vector<unsigned char> host_;
  cl::Buffer buf_;
  bool unmap_fill_ = false;
  bool fault_ = false;
  double host_us_ = -1;
};

}  // namespace

Prepared PrepareOp(const std::shared_ptr<DeviceCtx>& dev, const Problem& p, const std::string& layout) {
  const std::string& op = p.op();
  if (op == "conv2d" && (p.Get("dh") != 1 || p.Get("dw") != 1))
    return Prepared::Unsupported(fmt::format("{}: dilated convolution is not implemented", dev->unit_name));
  // Glue ops: only what the runtime's OpenCL backend executes is measured (runtime/ocl_backend.cpp
  // has LeakyRelu among its activations, and none of these).
  static const std::map<std::string, std::string> kNotRun = {
      {"concat", "Concat"},       {"resample", "Resize"}, {"transpose", "Transpose"}, {"slice", "Slice"},
      {"pad", "Pad"},             {"reduce", "Reduce*"},  {"deconv", "ConvTranspose"}, {"prelu", "PRelu"}};
  if (auto it = kNotRun.find(op); it != kNotRun.end())
    return Prepared::Unsupported(fmt::format(
        "{}: the runtime's OpenCL backend has no kernel for {} (it runs on the cpu unit), so none is measured",
        dev->unit_name, it->second));
  auto k = std::make_unique<OpKernel>(dev, p, layout, MakeInputs(p));
  std::vector<Variant> vs;
  if (op == "conv2d") {
    PrepareConv(*k, *dev, vs);
  } else if (op == "matmul" || op == "ip") {
    PrepareGemm(*k, *dev, vs);
  } else {
    PrepareMemoryBound(*k, *dev, vs);
  }
  if (vs.empty())
    return Prepared::Unsupported(fmt::format("{}: no OpenCL kernel for op '{}'", dev->unit_name, op));
  // A fused activation (the one eltwise post-op OclUnit lets through) in every variant's epilogue.
  const std::string act = ActOptions(p);
  for (Variant& v : vs) v.options += act;
  k->Finish(Tune(*dev, p.Key() + "|" + layout + "|f32", vs));
  return Prepared::Ok(std::move(k));
}

Prepared PrepareReorderKernel(const std::shared_ptr<DeviceCtx>& dev, const Shape4& s,
                              const std::string& src_layout, const std::string& dst_layout) {
  auto k = std::make_unique<ReorderKernel>(dev, s, src_layout, dst_layout);
  k->Prepare();
  return Prepared::Ok(std::move(k));
}

Prepared PrepareTransferKernel(const std::shared_ptr<DeviceCtx>& dev, const std::string& method,
                               int64_t bytes) {
  auto k = std::make_unique<TransferKernel>(dev, method, static_cast<size_t>(bytes));
  k->RunUs();  // first transfer, untimed by the caller
  return Prepared::Ok(std::move(k));
}

}  // namespace layoutdb::microbench::opencl
