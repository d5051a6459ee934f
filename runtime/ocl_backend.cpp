// The OpenCL backend: one device `ocl:P:D` (discovery order of microbench/opencl), activations in
// nchw, nhwc or nc4hw4. Every kernel is prepared in Create(): weights packed (a following
// BatchNormalization folded in), the program built with the defines of its fused chain (through the
// device's program cache and the on-disk binary cache), scalar arguments set. Run() only binds the
// buffers and enqueues. The kernels are runtime/ocl/*.cl (embedded as layoutdb::runtime_cl), behind
// the prelude runtime/ocl/prelude.cl; reorders reuse microbench's reorder.cl.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "backend.h"
#include "selector/op_table.h"
#include "microbench/opencl/ocl_runtime.h"

// Generated from runtime/ocl/*.cl by cmake/Embed.cmake. Declared outside namespace
// layoutdb::runtime: a namespace named `cl` inside layoutdb would hide OpenCL's ::cl there.
namespace layoutdb::runtime_cl {
const std::vector<std::pair<std::string_view, std::string_view>>& Embedded();
}

namespace layoutdb::runtime {
namespace {

namespace mb = microbench::opencl;
using Chain = std::vector<NodeView>;
using Dims = std::vector<int64_t>;

// Thrown inside a handler for an op, attribute or operand this backend does not run; Create() turns
// it into Created::why_not.
struct Refuse : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- ONNX attributes ----

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
int64_t AttrInt(const onnx::NodeProto& n, const char* name, int64_t def) {
  const auto* a = FindAttr(n, name);
  return a ? a->i() : def;
}
float AttrFloat(const onnx::NodeProto& n, const char* name, float def) {
  const auto* a = FindAttr(n, name);
  return a ? a->f() : def;
}
std::string AttrString(const onnx::NodeProto& n, const char* name, const std::string& def) {
  const auto* a = FindAttr(n, name);
  return a ? a->s() : def;
}
Dims AttrInts(const onnx::NodeProto& n, const char* name, Dims def) {
  const auto* a = FindAttr(n, name);
  return a ? Dims(a->ints().begin(), a->ints().end()) : def;
}

// ---- layouts ----

const char* const kLayoutNames[] = {"nchw", "nhwc", "nc4hw4"};

// 0 nchw, 1 nhwc, 2 nc4hw4 (the kernels' IN_L / OUT_L), -1 for a layout this backend does not know.
int LayoutCode(const std::string& l) {
  if (l == "nchw" || l == "plain") return 0;
  if (l == "nhwc") return 1;
  if (l == "nc4hw4") return 2;
  return -1;
}

// The layouts a chain computes in: what Create() was asked for where the tensor is rank 4 and the
// layout one of ours, nchw otherwise.
struct Layouts2 {
  int in = 0, out = 0;
};
Layouts2 Resolve(size_t in_rank, size_t out_rank, const std::string& in_layout,
                 const std::string& out_layout) {
  Layouts2 l;
  if (in_rank == 4) l.in = std::max(LayoutCode(in_layout), 0);
  if (out_rank == 4) l.out = std::max(LayoutCode(out_layout), 0);
  return l;
}

// The product of d[from, to).
int64_t Product(const Dims& d, size_t from = 0, size_t to = SIZE_MAX) {
  const auto end = d.begin() + static_cast<std::ptrdiff_t>(std::min(to, d.size()));
  const auto begin = d.begin() + static_cast<std::ptrdiff_t>(std::min(from, d.size()));
  return begin < end ? std::accumulate(begin, end, int64_t{1}, std::multiplies<>()) : 1;
}

cl_int I(int64_t v) { return static_cast<cl_int>(v); }
size_t CeilDiv(int64_t a, int64_t b) { return static_cast<size_t>((a + b - 1) / b); }

// ---- activations (the ACT codes of runtime/ocl/prelude.cl) ----

struct Act {
  int code = 0;  // 0: none
  float a0 = 0, a1 = 0;
  std::string name;
};

// Unary ops with a kernel, as standalone eltwise ops and as fused followers, keyed by the op table's
// eltwise algorithm; parameters are read by ParseAct.
const std::map<std::string_view, int>& ActCodes() {
  static const std::map<std::string_view, int> kCodes = {
      {"relu", 1},      {"clip", 2}, {"leakyrelu", 3}, {"sigmoid", 4}, {"hardsigmoid", 5},
      {"hardswish", 6}, {"tanh", 7}, {"exp", 8},       {"sqrt", 9},    {"abs", 10},
      {"neg", 11},      {"erf", 12}, {"gelu", 13}};
  return kCodes;
}

// The op table's row of a node (nullptr: not in the table or another domain).
const selector::OpRow* RowOf(const onnx::NodeProto& n) { return selector::FindOp(n.op_type(), n.domain()); }

// The op table's eltwise algorithm of a node; empty when its row has no eltwise kernel.
std::string_view EltwiseAlg(const onnx::NodeProto& n) {
  const selector::OpRow* r = RowOf(n);
  return r && r->kernel == selector::Kernel::kEltwise ? r->alg : std::string_view{};
}

// The op table's binary algorithm of a node (add, sub, ...); empty when its row has no binary kernel.
std::string_view BinaryAlg(const onnx::NodeProto& n) {
  const selector::OpRow* r = RowOf(n);
  return r && r->kernel == selector::Kernel::kBinary ? r->alg : std::string_view{};
}

bool DefaultDomain(const onnx::NodeProto& n) {
  return n.domain().empty() || n.domain() == "ai.onnx";
}

// A scalar constant input (Clip's min and max from opset 11); `def` when the input is omitted.
float ScalarInput(const NodeView& v, size_t k, float def) {
  if (k >= v.inputs.size() || v.inputs[k].dtype.empty()) return def;
  const Tensor* t = v.constants[k];
  if (!t) throw Refuse(fmt::format("input {} is not a constant", k));
  if (!t->IsFloat() || t->Elems() != 1)
    throw Refuse(fmt::format("input {} is not a float scalar", k));
  return t->f32[0];
}

// The activation `v` computes; throws Refuse for one without a kernel.
Act ParseAct(const NodeView& v) {
  const auto& n = *v.proto;
  const auto it = ActCodes().find(EltwiseAlg(n));
  if (it == ActCodes().end()) throw Refuse("not an activation with a kernel");
  Act a;
  a.code = it->second;
  a.name = std::string(it->first);
  if (a.name == "clip") {
    // FLT_MAX rather than infinity: the bounds stay finite numbers whatever the math flags.
    const float lo = -3.402823466e38f, hi = 3.402823466e38f;
    if (v.opset < 11) {
      a.a0 = AttrFloat(n, "min", lo);
      a.a1 = AttrFloat(n, "max", hi);
    } else {
      a.a0 = ScalarInput(v, 1, lo);
      a.a1 = ScalarInput(v, 2, hi);
    }
  } else if (a.name == "leakyrelu") {
    a.a0 = AttrFloat(n, "alpha", 0.01f);
  } else if (a.name == "hardsigmoid") {
    a.a0 = AttrFloat(n, "alpha", 0.2f);
    a.a1 = AttrFloat(n, "beta", 0.5f);
  } else if (a.name == "gelu") {
    const std::string approx = AttrString(n, "approximate", "none");
    if (approx == "tanh") {
      a.code = 14;
      a.name = "gelu_tanh";
    } else if (approx != "none") {
      throw Refuse(fmt::format("approximate='{}'", approx));
    }
  }
  return a;
}

void RequireF32(const NodeView& v) {
  for (size_t k = 0; k < v.inputs.size(); ++k)
    if (!v.inputs[k].dtype.empty() && v.inputs[k].dtype != "f32")
      throw Refuse(fmt::format("input {} is {} (f32 only)", k, v.inputs[k].dtype));
  for (size_t k = 0; k < v.outputs.size(); ++k)
    if (!v.outputs[k].dtype.empty() && v.outputs[k].dtype != "f32")
      throw Refuse(fmt::format("output {} is {} (f32 only)", k, v.outputs[k].dtype));
}

// True when follower chain[k] is a default-domain node whose first input is chain[k - 1]'s output.
bool ReadsPrevious(const Chain& chain, size_t k) {
  const auto& n = *chain[k].proto;
  return DefaultDomain(n) && n.input_size() > 0 && chain[k - 1].proto->output_size() > 0 &&
         n.input(0) == chain[k - 1].proto->output(0);
}

// Inference batch normalisation as y = x * scale[c] + shift[c]; throws Refuse when it is not one.
void ParseBatchNorm(const NodeView& v, int64_t channels, std::vector<float>* scale,
                    std::vector<float>* shift) {
  const auto& n = *v.proto;
  if (AttrInt(n, "training_mode", 0) != 0) throw Refuse("training_mode=1");
  if (AttrInt(n, "spatial", 1) == 0) throw Refuse("spatial=0");
  for (int k = 1; k < n.output_size(); ++k)
    if (!n.output(k).empty()) throw Refuse("running mean/variance outputs are requested");
  if (v.inputs.size() != 5) throw Refuse("expects 5 inputs");
  for (size_t k = 1; k < 5; ++k) {
    const Tensor* t = v.constants[k];
    if (!t || !t->IsFloat()) throw Refuse(fmt::format("input {} is not a float constant", k));
    if (t->Elems() != channels)
      throw Refuse(fmt::format("input {} has {} values for {} channels", k, t->Elems(), channels));
  }
  const float eps = AttrFloat(n, "epsilon", 1e-5f);
  const auto &s = v.constants[1]->f32, &b = v.constants[2]->f32, &mean = v.constants[3]->f32,
             &var = v.constants[4]->f32;
  scale->resize(channels);
  shift->resize(channels);
  for (int64_t c = 0; c < channels; ++c) {
    // In double: folding must not add error of its own.
    const double a = s[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    (*scale)[c] = static_cast<float>(a);
    (*shift)[c] = static_cast<float>(b[c] - mean[c] * a);
  }
}

// What a kernel absorbs of chain[1..]: a BatchNormalization (when allowed) and then an activation.
struct Followers {
  int fused = 0;
  bool bn = false;
  std::vector<float> scale, shift;
  Act act;
  std::string Suffix() const {
    return std::string(bn ? "+bn" : "") + (act.code ? "+" + act.name : "");
  }
};

Followers ScanFollowers(const Chain& chain, size_t first, bool allow_bn, int64_t channels) {
  Followers f;
  size_t k = first;
  if (allow_bn && k < chain.size() && RowOf(*chain[k].proto) &&
      RowOf(*chain[k].proto)->fusion == selector::Fusion::kFold &&
      ReadsPrevious(chain, k)) {
    try {
      RequireF32(chain[k]);
      ParseBatchNorm(chain[k], channels, &f.scale, &f.shift);
      f.bn = true;
      ++k;
    } catch (const Refuse&) {
      return f;  // left to its own kernel
    }
  }
  if (k < chain.size() && ReadsPrevious(chain, k)) {
    try {
      RequireF32(chain[k]);
      f.act = ParseAct(chain[k]);
      ++k;
    } catch (const Refuse&) {
    }
  }
  f.fused = static_cast<int>(k - 1);
  return f;
}

Created Refused(std::string why) {
  Created c;
  c.why_not = std::move(why);
  return c;
}

// ---- executions ----

// Run()'s input or output `index` goes to kernel argument `arg`.
struct Bound {
  cl_uint arg;
  int index;
};

// One kernel launch; the driver chooses the work-group size.
struct Step {
  cl::Kernel kernel;
  cl::NDRange global;
  std::vector<Bound> ins, outs;
};

void SetMem(cl::Kernel& k, cl_uint arg, void* buffer) {
  // The size/pointer form: opencl.hpp sends a plain pointer argument to clSetKernelArgSVMPointer.
  const cl_mem m = static_cast<cl_mem>(buffer);
  k.setArg(arg, sizeof(cl_mem), &m);
}

class KernelExecution final : public Execution {
 public:
  explicit KernelExecution(std::shared_ptr<mb::DeviceCtx> dev) : dev_(std::move(dev)) {}

  void Run(const std::vector<void*>& inputs, const std::vector<void*>& outputs) override {
    try {
      for (Step& s : steps_) {
        for (const Bound& b : s.ins) SetMem(s.kernel, b.arg, inputs.at(b.index));
        for (const Bound& b : s.outs) SetMem(s.kernel, b.arg, outputs.at(b.index));
        dev_->queue.enqueueNDRangeKernel(s.kernel, cl::NullRange, s.global, cl::NullRange);
      }
    } catch (const cl::Error& e) {
      throw std::runtime_error(
          fmt::format("{}: {}: {}", dev_->unit_name, impl_, mb::DescribeClError(e)));
    }
  }

  std::string impl_;
  std::vector<Step> steps_;
  std::vector<cl::Buffer> owned_;  // packed weights, constants

 private:
  std::shared_ptr<mb::DeviceCtx> dev_;
};

// A layout change to the same layout (or of a tensor that has only one): a buffer copy.
class CopyExecution final : public Execution {
 public:
  CopyExecution(std::shared_ptr<mb::DeviceCtx> dev, size_t bytes)
      : dev_(std::move(dev)), bytes_(bytes) {}
  void Run(const std::vector<void*>& inputs, const std::vector<void*>& outputs) override {
    const cl_int err =
        clEnqueueCopyBuffer(dev_->queue(), static_cast<cl_mem>(inputs.at(0)),
                            static_cast<cl_mem>(outputs.at(0)), 0, 0, bytes_, 0, nullptr, nullptr);
    if (err != CL_SUCCESS)
      throw std::runtime_error(fmt::format("{}: copy of {} bytes: clEnqueueCopyBuffer returned {}",
                                           dev_->unit_name, bytes_, err));
  }

 private:
  std::shared_ptr<mb::DeviceCtx> dev_;
  size_t bytes_;
};

// A kernel argument that is a buffer: Run()'s input `read` (>= 0), or a buffer owned by the
// execution.
struct Arg {
  int read = -1;
  cl::Buffer buffer;
};
struct Out {
  int index = 0;
};

// Prepares one KernelExecution: collects its reads, owned buffers and steps.
class Builder {
 public:
  Builder(std::shared_ptr<mb::DeviceCtx> dev, const Chain& chain)
      : dev_(std::move(dev)), chain_(chain), exec_(std::make_unique<KernelExecution>(dev_)) {}

  cl::Buffer Upload(const std::vector<float>& data) {
    // An empty tensor still gets a buffer: kernels take every argument.
    std::vector<float> pad(4, 0.f);
    const std::vector<float>& d = data.empty() ? pad : data;
    cl::Buffer b(dev_->context, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, d.size() * sizeof(float),
                 const_cast<float*>(d.data()));
    exec_->owned_.push_back(b);
    return b;
  }
  Arg Const(const std::vector<float>& data) { return Arg{-1, Upload(data)}; }

  // Input `input` of chain[node] in `layout`: its data uploaded now when it is a constant
  // (converted to `layout`), else the next of Run()'s inputs (declared in Created::reads).
  Arg Input(int node, int input, int layout) {
    const NodeView& v = chain_[node];
    const Value& val = v.inputs.at(input);
    if (const Tensor* t = v.constants.at(input)) {
      if (!t->IsFloat()) throw Refuse(fmt::format("constant input {} is {}", input, t->dtype));
      if (layout == 0 || val.shape.size() != 4) return Const(t->f32);
      const microbench::Shape4 s{val.shape[0], val.shape[1], val.shape[2], val.shape[3]};
      return Const(mb::ToLayout(t->f32, s, kLayoutNames[layout]));
    }
    reads_.push_back({node, input, kLayoutNames[layout]});
    return Arg{static_cast<int>(reads_.size()) - 1, {}};
  }

  // A kernel of a runtime/ocl program, with the shared prelude; built once per device and options.
  cl::Kernel Kernel(const std::string& file, const std::string& name, const std::string& options) {
    const std::string key = "runtime/" + file + "|" + options;
    auto it = dev_->programs.find(key);
    if (it == dev_->programs.end()) {
      std::string source(Source("prelude.cl"));
      source += "\n";
      source += Source(file);
      it = dev_->programs.emplace(key, dev_->BuildSource(source, options, /*use_disk_cache=*/true))
               .first;
    }
    return cl::Kernel(it->second, name.c_str());
  }

  // Appends a launch of `k` over `global` work-items; args are Arg, Out, cl_int, cl_long or float.
  template <typename... Args>
  void Launch(cl::Kernel k, const cl::NDRange& global, const Args&... args) {
    Step s;
    s.kernel = std::move(k);
    s.global = global;
    cl_uint i = 0;
    (Set(s, i++, args), ...);
    exec_->steps_.push_back(std::move(s));
  }

  Created Finish(std::string impl, int fused, std::vector<int> out_layouts) {
    Created c;
    c.fused = fused;
    c.reads = std::move(reads_);
    for (int l : out_layouts) c.out_layouts.push_back(kLayoutNames[l]);
    c.impl = "ocl:" + impl;
    exec_->impl_ = c.impl;
    c.exec = std::move(exec_);
    return c;
  }

 private:
  static std::string_view Source(const std::string& name) {
    for (const auto& [n, text] : runtime_cl::Embedded())
      if (n == name) return text;
    throw std::logic_error(fmt::format("OpenCL source '{}' is not embedded", name));
  }
  void Set(Step& s, cl_uint i, const Arg& a) {
    if (a.read >= 0)
      s.ins.push_back({i, a.read});
    else
      s.kernel.setArg(i, a.buffer);
  }
  void Set(Step& s, cl_uint i, const Out& o) { s.outs.push_back({i, o.index}); }
  void Set(Step& s, cl_uint i, cl_int v) { s.kernel.setArg(i, v); }
  void Set(Step& s, cl_uint i, cl_long v) { s.kernel.setArg(i, v); }
  void Set(Step& s, cl_uint i, float v) { s.kernel.setArg(i, v); }

  std::shared_ptr<mb::DeviceCtx> dev_;
  const Chain& chain_;
  std::unique_ptr<KernelExecution> exec_;
  std::vector<Operand> reads_;
};

// Options shared by the compute-bound programs: contraction into FMAs, nothing that changes results
// beyond rounding.
const char* const kMathOpts = " -cl-mad-enable";

// ---- convolution and pooling windows ----

// One spatial window in 2-D (a 1-D op is a 2-D one with H = 1): kernel, stride, dilation, padding
// at the start (ph, pw) and at the end (phe, pwe).
struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0, phe = 0, pwe = 0;
};

// The window of `n` over input [.., ih, iw] giving output [.., oh, ow]; kernel sizes from the
// caller. auto_pad SAME_* is resolved from the static shapes (as ONNX defines it: the total padding
// that gives the output size, the odd one at the end for SAME_UPPER, at the start for SAME_LOWER).
Window ParseWindow(const onnx::NodeProto& n, size_t spatial, int64_t kh, int64_t kw, int64_t ih,
                   int64_t iw, int64_t oh, int64_t ow) {
  auto two = [&](const char* name, int64_t def) {
    Dims d = AttrInts(n, name, Dims(spatial, def));
    if (d.size() != spatial)
      throw Refuse(fmt::format("{} has {} values for {}-D", name, d.size(), spatial));
    return spatial == 1 ? Dims{def, d[0]} : d;
  };
  Window w;
  w.kh = kh;
  w.kw = kw;
  const Dims s = two("strides", 1), d = two("dilations", 1);
  w.sh = s[0], w.sw = s[1], w.dh = d[0], w.dw = d[1];
  const std::string auto_pad = AttrString(n, "auto_pad", "NOTSET");
  if (auto_pad == "NOTSET") {
    Dims p = AttrInts(n, "pads", Dims(2 * spatial, 0));
    if (p.size() != 2 * spatial) throw Refuse(fmt::format("pads has {} values", p.size()));
    if (spatial == 1) p = {0, p[0], 0, p[1]};
    w.ph = p[0], w.pw = p[1], w.phe = p[2], w.pwe = p[3];
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    auto split = [&](int64_t in, int64_t out, int64_t k, int64_t st, int64_t dil, int64_t* b,
                     int64_t* e) {
      const int64_t total = std::max<int64_t>(0, (out - 1) * st + (k - 1) * dil + 1 - in);
      *b = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      *e = total - *b;
    };
    split(ih, oh, w.kh, w.sh, w.dh, &w.ph, &w.phe);
    split(iw, ow, w.kw, w.sw, w.dw, &w.pw, &w.pwe);
  } else if (auto_pad != "VALID") {
    throw Refuse(fmt::format("auto_pad='{}'", auto_pad));
  }
  if (w.sh < 1 || w.sw < 1 || w.dh < 1 || w.dw < 1) throw Refuse("non-positive stride or dilation");
  return w;
}

// A rank-3 (1-D) activation as 2-D with H = 1.
Dims As4(const Dims& d) { return d.size() == 3 ? Dims{d[0], d[1], 1, d[2]} : d; }

// ---- the backend ----

class OclBackend final : public Backend {
 public:
  explicit OclBackend(std::shared_ptr<mb::DeviceCtx> dev) : dev_(std::move(dev)) {}

  const std::string& Unit() const override { return dev_->unit_name; }
  std::vector<std::string> Layouts() const override { return {"nchw", "nhwc", "nc4hw4"}; }

  Created Create(const Chain& chain, const std::string& in_layout,
                 const std::string& out_layout) override {
    const NodeView& v = chain.at(0);
    const std::string& op = v.proto->op_type();
    using Handler = Created (OclBackend::*)(const Chain&, const std::string&, const std::string&);
    // By the op table's kernel kind (and algorithm where this unit has only some of them).
    using K = selector::Kernel;
    Handler h = nullptr;
    const selector::OpRow* row = RowOf(*v.proto);
    switch (row ? row->kernel : K::kHost) {
      case K::kConv: h = &OclBackend::Conv; break;
      case K::kMatMul: h = &OclBackend::MatMul; break;
      case K::kGemm: h = &OclBackend::Gemm; break;
      case K::kPool: h = &OclBackend::Pool; break;
      case K::kBnorm: h = &OclBackend::BatchNorm; break;
      case K::kLnorm: h = &OclBackend::LayerNorm; break;
      case K::kSoftmax:
        if (row->alg.empty()) h = &OclBackend::Softmax;  // not LogSoftmax
        break;
      case K::kBinary:
        if (row->alg == "add" || row->alg == "sub" || row->alg == "mul" || row->alg == "div")
          h = &OclBackend::Binary;
        break;
      case K::kEltwise:
        if (ActCodes().count(row->alg)) h = &OclBackend::Unary;
        break;
      default: break;
    }
    if (!h) return Refused(fmt::format("{} on ocl: no OpenCL kernel for this op", op));
    try {
      RequireF32(v);
      return (this->*h)(chain, in_layout, out_layout);
    } catch (const Refuse& e) {
      return Refused(fmt::format("{} on ocl: {}", op, e.what()));
    } catch (const cl::Error& e) {
      throw std::runtime_error(fmt::format("{}: {}: preparing {}: {}", dev_->unit_name, v.Label(),
                                           op, mb::DescribeClError(e)));
    }
  }

  std::unique_ptr<Execution> CreateReorder(const Value& from,
                                           const std::string& to_layout) override {
    const int src = LayoutCode(from.layout), dst = LayoutCode(to_layout);
    if (from.dtype != "f32" || src < 0 || dst < 0 || (from.shape.size() != 4 && (src | dst) != 0))
      throw std::runtime_error(fmt::format("{}: no reorder of a rank-{} {} tensor from {} to {}",
                                           dev_->unit_name, from.shape.size(), from.dtype,
                                           from.layout, to_layout));
    if (src == dst) return std::make_unique<CopyExecution>(dev_, PhysicalBytes(from));
    const Dims& s = from.shape;
    Chain none;
    Builder b(dev_, none);
    // microbench's reorder kernel: 4 x 4 tiles (channels x pixels along w), padding lanes written
    // 0.
    cl::Kernel k(dev_->GetProgram("reorder.cl", fmt::format("-DSRC_L={} -DDST_L={}", src, dst)),
                 "reorder");
    const int64_t nz = s[0] * ((s[1] + 3) / 4);
    b.Launch(k, cl::NDRange(CeilDiv(s[3], 4), s[2], nz), Arg{0, {}}, Out{0}, I(s[1]), I(s[2]),
             I(s[3]), I(nz));
    return std::move(b.Finish("", 0, {}).exec);
  }

  void* Alloc(size_t bytes) override {
    // Rounded up to whole floats and zero-filled: nc4hw4 padding lanes start as zeros, and a kernel
    // that reads a buffer before anything wrote it reads numbers, not NaNs.
    const size_t n = std::max<size_t>((bytes + 3) / 4 * 4, 4);
    cl_int err = CL_SUCCESS;
    cl_mem m = clCreateBuffer(dev_->context(), CL_MEM_READ_WRITE, n, nullptr, &err);
    if (err != CL_SUCCESS)
      throw std::runtime_error(
          fmt::format("{}: clCreateBuffer of {} bytes returned {}", dev_->unit_name, n, err));
    const float zero = 0.f;
    err = clEnqueueFillBuffer(dev_->queue(), m, &zero, sizeof(zero), 0, n, 0, nullptr, nullptr);
    if (err != CL_SUCCESS) {
      clReleaseMemObject(m);
      throw std::runtime_error(
          fmt::format("{}: clEnqueueFillBuffer returned {}", dev_->unit_name, err));
    }
    return m;
  }

  void Free(void* buffer) override {
    if (buffer) clReleaseMemObject(static_cast<cl_mem>(buffer));
  }

  void Upload(const void* host, void* buffer, size_t bytes) override {
    const cl_int err = clEnqueueWriteBuffer(dev_->queue(), static_cast<cl_mem>(buffer), CL_TRUE, 0,
                                            bytes, host, 0, nullptr, nullptr);
    if (err != CL_SUCCESS)
      throw std::runtime_error(fmt::format(
          "{}: upload of {} bytes: clEnqueueWriteBuffer returned {}", dev_->unit_name, bytes, err));
  }

  void Download(const void* buffer, void* host, size_t bytes) override {
    const cl_int err =
        clEnqueueReadBuffer(dev_->queue(), static_cast<cl_mem>(const_cast<void*>(buffer)), CL_TRUE,
                            0, bytes, host, 0, nullptr, nullptr);
    if (err != CL_SUCCESS)
      throw std::runtime_error(
          fmt::format("{}: download of {} bytes: clEnqueueReadBuffer returned {}", dev_->unit_name,
                      bytes, err));
  }

  void Finish() override {
    const cl_int err = clFinish(dev_->queue());
    if (err != CL_SUCCESS)
      throw std::runtime_error(fmt::format("{}: clFinish returned {}", dev_->unit_name, err));
  }

 private:
  Created Conv(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created MatMul(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created Gemm(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created Pool(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created Binary(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created Unary(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created BatchNorm(const Chain& chain, const std::string& in_layout,
                    const std::string& out_layout);
  Created Softmax(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  Created LayerNorm(const Chain& chain, const std::string& in_layout, const std::string& out_layout);
  // The element-wise kernel over `y` (see ops.cl); a and b as Builder::Input gives them.
  Created Elementwise(Builder& b, const Chain& chain, int op, const Dims& y4, const Arg& a,
                      bool a_full, const Dims& sa, const Arg& bb, bool b_full, const Dims& sb,
                      Layouts2 l, const Act& act, const std::string& impl, int fused);

  std::shared_ptr<mb::DeviceCtx> dev_;
};

Created OclBackend::Conv(const Chain& chain, const std::string& in_layout,
                         const std::string& out_layout) {
  const NodeView& v = chain[0];
  const auto& n = *v.proto;
  const size_t rank = v.inputs[0].shape.size();
  if (rank != 3 && rank != 4)
    throw Refuse(fmt::format("{}-D convolution (1-D and 2-D only)", rank - 2));
  const Tensor* wt = v.inputs.size() > 1 ? v.constants[1] : nullptr;
  if (!wt) throw Refuse("weights are not a constant");
  if (!wt->IsFloat() || wt->shape.size() != rank)
    throw Refuse("weights are not float of the input's rank");
  const bool has_bias = v.inputs.size() > 2 && !v.inputs[2].dtype.empty();
  if (has_bias && !v.constants[2]) throw Refuse("bias is not a constant");

  const Dims x = As4(v.inputs[0].shape), y = As4(v.outputs[0].shape), wd = As4(wt->shape);
  const int64_t mb = x[0], ic = x[1], ih = x[2], iw = x[3], oc = y[1], oh = y[2], ow = y[3];
  const int64_t g = AttrInt(n, "group", 1);
  if (g < 1 || ic % g || oc % g || wd[0] != oc || wd[1] * g != ic)
    throw Refuse(fmt::format("weights {} do not match {} input channels in {} groups",
                             fmt::join(wt->shape, "x"), ic, g));
  const Window w = ParseWindow(n, rank - 2, wd[2], wd[3], ih, iw, oh, ow);
  const int64_t icg = ic / g, ocg = oc / g, khw = w.kh * w.kw;

  // Weights and bias in ONNX order, with a following BatchNormalization folded in.
  const Followers f = ScanFollowers(chain, 1, /*allow_bn=*/true, oc);
  std::vector<float> wts = wt->f32, bias(oc, 0.f);
  if (has_bias) {
    if (v.constants[2]->Elems() != oc) throw Refuse("bias size is not the output channel count");
    bias = v.constants[2]->f32;
  }
  if (f.bn)
    for (int64_t o = 0; o < oc; ++o) {
      for (int64_t k = 0; k < icg * khw; ++k) wts[o * icg * khw + k] *= f.scale[o];
      bias[o] = bias[o] * f.scale[o] + f.shift[o];
    }

  const Layouts2 l = Resolve(rank, rank, in_layout, out_layout);
  Builder b(dev_, chain);
  const Arg src = b.Input(0, 0, l.in);
  const std::string opts = fmt::format("-DIN_L={} -DOUT_L={} -DACT={}", l.in, l.out, f.act.code);
  const std::string lay = fmt::format("{}>{}", kLayoutNames[l.in], kLayoutNames[l.out]);
  const float a0 = f.act.a0, a1 = f.act.a1;
  std::string impl;

  if (g == ic && icg == 1 && ocg == 1) {
    // Depthwise. From nchw: vectors along w; otherwise vectors of neighbouring channels. Memory
    // bound: wide tiles (16 pixels, 16 channels in nhwc, 8 in nc4hw4: two blocks) measured fastest
    // on PoCL (AVX-512), about 2x the float4 x 8-pixel tile.
    const int px = ow >= 16 ? 16 : ow >= 8 ? 8 : 4;
    const int64_t owb = static_cast<int64_t>(CeilDiv(ow, px));
    if (l.in == 0) {
      const int64_t nz = mb * ic;
      cl::Kernel k =
          b.Kernel("conv.cl", "dwconv2d_w", fmt::format("{} -DPX={}{}", opts, px, kMathOpts));
      b.Launch(k, cl::NDRange(owb, oh, nz), src, b.Const(wts), b.Const(bias), Out{0}, I(ic), I(ih),
               I(iw), I(oh), I(ow), I(w.kh), I(w.kw), I(w.sh), I(w.sw), I(w.ph), I(w.pw), I(w.dh),
               I(w.dw), I(owb), I(nz), a0, a1);
      impl = fmt::format("dwconv2d_w_{}_px{}", lay, px);
    } else {
      const int64_t cv = ic >= 16 && l.in == 1 ? 16 : ic >= 8 ? 8 : 4;
      const int64_t cb = (ic + cv - 1) / cv, nz = mb * cb;
      std::vector<float> wp(cb * khw * cv, 0.f), bp(cb * cv, 0.f);
      for (int64_t c = 0; c < ic; ++c) {
        bp[c] = bias[c];
        for (int64_t t = 0; t < khw; ++t) wp[((c / cv) * khw + t) * cv + c % cv] = wts[c * khw + t];
      }
      cl::Kernel k = b.Kernel("conv.cl", "dwconv2d",
                              fmt::format("{} -DCV={} -DPX={}{}", opts, cv, px, kMathOpts));
      b.Launch(k, cl::NDRange(owb, oh, nz), src, b.Const(wp), b.Const(bp), Out{0}, I(ic), I(ih),
               I(iw), I(oh), I(ow), I(w.kh), I(w.kw), I(w.sh), I(w.sw), I(w.ph), I(w.pw), I(w.dh),
               I(w.dw), I(owb), I(nz), a0, a1);
      impl = fmt::format("dwconv2d_{}_c{}_px{}", lay, cv, px);
    }
  } else {
    // Weights packed [G][OCB][KH][KW][ICG][OCV], bias [G][OCB][OCV], zero padded (conv.cl).
    const int64_t ocv = ocg >= 16 ? 16 : ocg >= 8 ? 8 : 4;
    const int64_t ocb = (ocg + ocv - 1) / ocv;
    const int px = ow >= 8 ? 8 : 4;
    std::vector<float> wp(g * ocb * khw * icg * ocv, 0.f), bp(g * ocb * ocv, 0.f);
    for (int64_t gi = 0; gi < g; ++gi)
      for (int64_t o = 0; o < ocg; ++o) {
        const int64_t gob = gi * ocb + o / ocv, j = o % ocv, oa = gi * ocg + o;
        bp[gob * ocv + j] = bias[oa];
        for (int64_t c = 0; c < icg; ++c)
          for (int64_t t = 0; t < khw; ++t)
            wp[((gob * khw + t) * icg + c) * ocv + j] = wts[(oa * icg + c) * khw + t];
      }
    const int64_t owb = static_cast<int64_t>(CeilDiv(ow, px)), nz = mb * g * ocb;
    cl::Kernel k = b.Kernel("conv.cl", "conv2d",
                            fmt::format("{} -DOCV={} -DPX={}{}", opts, ocv, px, kMathOpts));
    b.Launch(k, cl::NDRange(owb, oh, nz), src, b.Const(wp), b.Const(bp), Out{0}, I(ic), I(ih),
             I(iw), I(oc), I(oh), I(ow), I(w.kh), I(w.kw), I(w.sh), I(w.sw), I(w.ph), I(w.pw),
             I(w.dh), I(w.dw), I(g), I(icg), I(ocg), I(ocb), I(owb), I(nz), a0, a1);
    impl = fmt::format("conv2d_{}_oc{}_px{}", lay, ocv, px);
  }
  return b.Finish(impl + f.Suffix(), f.fused, {l.out});
}

// Rows per work-item of the GEMM kernel.
int MatmulRows(int64_t m) { return m >= 8 ? 8 : m >= 4 ? 4 : 1; }

Created OclBackend::MatMul(const Chain& chain, const std::string&, const std::string&) {
  const NodeView& v = chain[0];
  const Dims &a = v.inputs[0].shape, &bs = v.inputs[1].shape, &y = v.outputs[0].shape;
  if (a.empty() || bs.empty()) throw Refuse("scalar operand");
  const size_t ra = a.size(), rb = bs.size();
  const int64_t m = ra >= 2 ? a[ra - 2] : 1, k = a[ra - 1];
  const int64_t kb = rb >= 2 ? bs[rb - 2] : bs[0], n = rb >= 2 ? bs[rb - 1] : 1;
  if (k != kb) throw Refuse(fmt::format("inner dimensions {} and {} differ", k, kb));
  const int64_t batch = m * n != 0 ? Product(y) / (m * n) : 0;
  // Each operand is batched like the output or broadcast whole (a weight shared by every batch).
  auto stride = [&](const Dims& d, int64_t mat, const char* which) -> cl_long {
    const int64_t nb = mat ? Product(d) / mat : 0;
    if (nb == batch) return mat;
    if (nb == 1) return 0;
    throw Refuse(fmt::format("batch broadcast of {} {} against output {}", which, fmt::join(d, "x"),
                             fmt::join(y, "x")));
  };
  const cl_long a_bs = batch > 1 ? stride(a, m * k, "A") : 0;
  const cl_long b_bs = batch > 1 ? stride(bs, k * n, "B") : 0;

  // Followers: Add of a constant row of N (or a scalar) as the bias, then an activation.
  std::vector<float> bias;
  size_t next = 1;
  if (next < chain.size() && BinaryAlg(*chain[next].proto) == "add" &&
      chain[next].outputs[0].shape == y) {
    const NodeView& add = chain[next];
    const std::string& prev = v.proto->output(0);
    const int other = add.proto->input(0) == prev ? 1 : add.proto->input(1) == prev ? 0 : -1;
    const Tensor* t = other >= 0 ? add.constants[other] : nullptr;
    if (t && t->IsFloat() && add.proto->input(0) != add.proto->input(1) &&
        (t->Elems() == 1 || (t->Elems() == n && !t->shape.empty() && t->shape.back() == n))) {
      bias = t->Elems() == 1 ? std::vector<float>(n, t->f32[0]) : t->f32;
      ++next;
    }
  }
  const Followers f = ScanFollowers(chain, next, /*allow_bn=*/false, 0);

  Builder b(dev_, chain);
  const Arg A = b.Input(0, 0, 0), B = b.Input(0, 1, 0);
  const int mr = MatmulRows(m);
  const int64_t nb = static_cast<int64_t>(CeilDiv(n, 16)),
                mblk = static_cast<int64_t>(CeilDiv(m, mr));
  cl::Kernel kk = b.Kernel(
      "matmul.cl", "matmul",
      fmt::format("-DMR={} -DBIAS={} -DACT={}{}", mr, bias.empty() ? 0 : 1, f.act.code, kMathOpts));
  b.Launch(kk, cl::NDRange(nb, mblk, std::max<int64_t>(batch, 1)), A, B, b.Const(bias), Out{0},
           I(m), I(n), I(k), I(nb), I(mblk), I(batch), a_bs, b_bs, 1.f, f.act.a0, f.act.a1);
  const std::string impl =
      fmt::format("matmul_plain_mr{}{}{}", mr, bias.empty() ? "" : "+bias", f.Suffix());
  return b.Finish(impl, f.fused, {0});
}

Created OclBackend::Gemm(const Chain& chain, const std::string&, const std::string&) {
  const NodeView& v = chain[0];
  const auto& n = *v.proto;
  const Dims &a = v.inputs[0].shape, &bd = v.inputs[1].shape, &y = v.outputs[0].shape;
  if (a.size() != 2 || bd.size() != 2 || y.size() != 2) throw Refuse("operands are not matrices");
  const bool ta = AttrInt(n, "transA", 0) != 0, tb = AttrInt(n, "transB", 0) != 0;
  const float alpha = AttrFloat(n, "alpha", 1.f), beta = AttrFloat(n, "beta", 1.f);
  const int64_t m = y[0], nn = y[1], k = ta ? a[0] : a[1];
  if ((tb ? bd[1] : bd[0]) != k) throw Refuse("inner dimensions differ");

  Builder b(dev_, chain);
  const Arg A = b.Input(0, 0, 0);
  // A constant B^T is transposed once here, so the kernel reads rows of B with vector loads.
  Arg B;
  bool trans_b = tb;
  if (const Tensor* t = v.constants[1]; t && tb) {
    std::vector<float> bt(k * nn);
    for (int64_t j = 0; j < nn; ++j)
      for (int64_t q = 0; q < k; ++q) bt[q * nn + j] = t->f32[j * k + q];
    B = b.Const(bt);
    trans_b = false;
  } else {
    B = b.Input(0, 1, 0);
  }
  // C (times beta) as a bias row (scalar, [N], [1, N]) or a full M x N matrix ([M, 1], [M, N]).
  int bias_mode = 0;
  std::vector<float> bias;
  if (v.inputs.size() > 2 && !v.inputs[2].dtype.empty() && beta != 0.f) {
    const Tensor* c = v.constants[2];
    if (!c) throw Refuse("C is not a constant");
    Dims cs = c->shape;
    while (cs.size() < 2) cs.insert(cs.begin(), 1);
    if (cs.size() != 2 || (cs[0] != 1 && cs[0] != m) || (cs[1] != 1 && cs[1] != nn))
      throw Refuse(fmt::format("C of shape {} does not broadcast to {}x{}",
                               fmt::join(c->shape, "x"), m, nn));
    bias_mode = cs[0] == 1 ? 1 : 2;
    bias.resize(bias_mode == 1 ? nn : m * nn);
    for (int64_t i = 0; i < (bias_mode == 1 ? 1 : m); ++i)
      for (int64_t j = 0; j < nn; ++j)
        bias[i * nn + j] = beta * c->f32[(cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)];
  }
  const Followers f = ScanFollowers(chain, 1, /*allow_bn=*/false, 0);
  const int mr = MatmulRows(m);
  const int64_t nb = static_cast<int64_t>(CeilDiv(nn, 16)),
                mblk = static_cast<int64_t>(CeilDiv(m, mr));
  cl::Kernel kk =
      b.Kernel("matmul.cl", "matmul",
               fmt::format("-DMR={} -DTRANS_A={} -DTRANS_B={} -DBIAS={} -DACT={}{}", mr, ta ? 1 : 0,
                           trans_b ? 1 : 0, bias_mode, f.act.code, kMathOpts));
  b.Launch(kk, cl::NDRange(nb, mblk, 1), A, B, b.Const(bias), Out{0}, I(m), I(nn), I(k), I(nb),
           I(mblk), I(1), cl_long{0}, cl_long{0}, alpha, f.act.a0, f.act.a1);
  const std::string impl = fmt::format("gemm_plain_mr{}{}{}{}{}", mr, ta ? "_ta" : "",
                                       trans_b ? "_tb" : "", bias_mode ? "+bias" : "", f.Suffix());
  return b.Finish(impl, f.fused, {0});
}

Created OclBackend::Pool(const Chain& chain, const std::string& in_layout,
                         const std::string& out_layout) {
  const NodeView& v = chain[0];
  const auto& n = *v.proto;
  const std::string& op = n.op_type();
  const size_t rank = v.inputs[0].shape.size();
  if (rank != 3 && rank != 4)
    throw Refuse(fmt::format("{}-D pooling (1-D and 2-D only)", rank - 2));
  if (n.output_size() > 1 && !n.output(1).empty()) throw Refuse("the Indices output is requested");
  const Dims x = As4(v.inputs[0].shape), y = As4(v.outputs[0].shape);
  const bool global = op.rfind("Global", 0) == 0;
  const bool max = selector::AlgOf(op) == "max";
  Window w;
  if (global) {
    w.kh = x[2], w.kw = x[3];
  } else {
    Dims ks = AttrInts(n, "kernel_shape", {});
    if (ks.size() != rank - 2) throw Refuse("kernel_shape does not match the input rank");
    if (rank == 3) ks.insert(ks.begin(), 1);
    w = ParseWindow(n, rank - 2, ks[0], ks[1], x[2], x[3], y[2], y[3]);
  }
  // ceil_mode needs nothing more: the output shape says how many windows there are.
  const bool count_pad = !max && AttrInt(n, "count_include_pad", 0) != 0;
  const Layouts2 l = Resolve(rank, rank, in_layout, out_layout);
  Builder b(dev_, chain);
  const Arg src = b.Input(0, 0, l.in);
  const int64_t nz = x[0] * ((x[1] + 3) / 4);
  cl::Kernel k = b.Kernel("ops.cl", "pool",
                          fmt::format("-DIN_L={} -DOUT_L={}{}{}", l.in, l.out,
                                      max ? " -DPOOL_MAX" : "", count_pad ? " -DCOUNT_PAD" : ""));
  b.Launch(k, cl::NDRange(y[3], y[2], nz), src, Out{0}, I(x[1]), I(x[2]), I(x[3]), I(y[2]), I(y[3]),
           I(w.kh), I(w.kw), I(w.sh), I(w.sw), I(w.ph), I(w.pw), I(w.phe), I(w.pwe), I(w.dh),
           I(w.dw), I(nz));
  const std::string impl =
      fmt::format("pool_{}{}_{}>{}", max ? "max" : "avg", count_pad ? "_pad" : "",
                  kLayoutNames[l.in], kLayoutNames[l.out]);
  return b.Finish(impl, 0, {l.out});
}

// Row-major strides of `d` (right-aligned to rank 4) as seen from the 4-D output `y4`: 0 along a
// broadcast dimension. Throws Refuse when `d` does not broadcast to `y4`.
Dims BroadcastStrides(Dims d, const Dims& y4) {
  if (d.size() > 4) throw Refuse("broadcast of a rank > 4 operand");
  while (d.size() < 4) d.insert(d.begin(), 1);
  Dims s(4, 0);
  int64_t stride = 1;
  for (int k = 3; k >= 0; --k) {
    if (d[k] != y4[k] && d[k] != 1)
      throw Refuse(fmt::format("operand dimension {} does not broadcast to {}", d[k], y4[k]));
    s[k] = d[k] == 1 ? 0 : stride;
    stride *= d[k];
  }
  return s;
}

Created OclBackend::Elementwise(Builder& b, const Chain& chain, int op, const Dims& y4,
                                const Arg& a, bool a_full, const Dims& sa, const Arg& bb,
                                bool b_full, const Dims& sb, Layouts2 l, const Act& act,
                                const std::string& impl, int fused) {
  const int64_t c = y4[1];
  const bool coords = !a_full || !b_full || op == 5 || l.in != l.out || (l.out == 2 && c % 4 != 0);
  const int64_t total = l.out == 2 ? y4[0] * ((c + 3) / 4) * 4 * y4[2] * y4[3] : Product(y4);
  cl::Kernel k = b.Kernel(
      "ops.cl", "ew",
      fmt::format("-DOP={} -DA_FULL={} -DB_FULL={} -DCOORDS={} -DIN_L={} "
                  "-DOUT_L={} -DACT={}",
                  op, a_full ? 1 : 0, b_full ? 1 : 0, coords ? 1 : 0, l.in, l.out, act.code));
  b.Launch(k, cl::NDRange(std::max<int64_t>(total, 1)), a, bb, Out{0}, I(y4[0]), I(c), I(y4[2]),
           I(y4[3]), I(total), I(sa[0]), I(sa[1]), I(sa[2]), I(sa[3]), I(sb[0]), I(sb[1]), I(sb[2]),
           I(sb[3]), act.a0, act.a1);
  return b.Finish(fmt::format("{}_{}>{}{}", impl, kLayoutNames[l.in], kLayoutNames[l.out],
                              act.code && op != 0 ? "+" + act.name : ""),
                  fused, {l.out});
}

Created OclBackend::Binary(const Chain& chain, const std::string& in_layout,
                           const std::string& out_layout) {
  // Keyed by the op table's binary algorithm.
  static const std::map<std::string_view, int> kOps = {{"add", 1}, {"sub", 2}, {"mul", 3}, {"div", 4}};
  const NodeView& v = chain[0];
  const Dims& y = v.outputs[0].shape;
  const Dims &d0 = v.inputs[0].shape, &d1 = v.inputs[1].shape;
  const bool full0 = d0 == y, full1 = d1 == y;
  if (y.size() > 4 && !(full0 && full1))
    throw Refuse(fmt::format("broadcast at rank {}", y.size()));
  Dims y4 = y.size() > 4 ? Dims{1, 1, 1, Product(y)} : y;
  while (y4.size() < 4) y4.insert(y4.begin(), 1);
  const Layouts2 l = Resolve(y.size(), y.size(), in_layout, out_layout);
  // Full operands are read in the chain's layout; a broadcast one is read plain.
  const Dims s0 = full0 ? Dims(4, 0) : BroadcastStrides(d0, y4);
  const Dims s1 = full1 ? Dims(4, 0) : BroadcastStrides(d1, y4);
  const Followers f = ScanFollowers(chain, 1, /*allow_bn=*/false, 0);
  Builder b(dev_, chain);
  const Arg a0 = b.Input(0, 0, full0 ? l.in : 0), a1 = b.Input(0, 1, full1 ? l.in : 0);
  std::string name = v.proto->op_type();
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  if (!full0 || !full1) name += "_bcast";
  return Elementwise(b, chain, kOps.at(BinaryAlg(*v.proto)), y4, a0, full0, s0, a1, full1, s1, l,
                     f.act, name, f.fused);
}

Created OclBackend::Unary(const Chain& chain, const std::string& in_layout,
                          const std::string& out_layout) {
  const NodeView& v = chain[0];
  const Act act = ParseAct(v);
  const Dims& y = v.outputs[0].shape;
  Dims y4 = y.size() > 4 ? Dims{1, 1, 1, Product(y)} : y;
  while (y4.size() < 4) y4.insert(y4.begin(), 1);
  const Layouts2 l = Resolve(y.size(), y.size(), in_layout, out_layout);
  Builder b(dev_, chain);
  const Arg a = b.Input(0, 0, l.in);
  return Elementwise(b, chain, 0, y4, a, true, Dims(4, 0), a, true, Dims(4, 0), l, act,
                     "eltwise_" + act.name, 0);
}

Created OclBackend::BatchNorm(const Chain& chain, const std::string& in_layout,
                              const std::string& out_layout) {
  const NodeView& v = chain[0];
  const Dims& x = v.inputs[0].shape;
  if (x.size() < 2) throw Refuse("input of rank < 2");
  std::vector<float> scale, shift;
  ParseBatchNorm(v, x[1], &scale, &shift);
  scale.insert(scale.end(), shift.begin(), shift.end());  // [scale][shift], as ops.cl reads them
  // Channels are dimension 1 at any rank: [N, C, rest, 1] for ranks other than 4.
  const Dims y4 = x.size() == 4 ? x : Dims{x[0], x[1], Product(x, 2), 1};
  const Layouts2 l = Resolve(x.size(), x.size(), in_layout, out_layout);
  const Followers f = ScanFollowers(chain, 1, /*allow_bn=*/false, 0);
  Builder b(dev_, chain);
  const Arg a = b.Input(0, 0, l.in);
  return Elementwise(b, chain, 5, y4, a, true, Dims(4, 0), b.Const(scale), false, Dims(4, 0), l,
                     f.act, "bnorm", f.fused);
}

Created OclBackend::Softmax(const Chain& chain, const std::string&, const std::string&) {
  const NodeView& v = chain[0];
  const Dims& x = v.inputs[0].shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) throw Refuse("scalar input");
  int64_t axis = AttrInt(*v.proto, "axis", v.opset >= 13 ? -1 : 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw Refuse(fmt::format("axis {} out of range", axis));
  // Before opset 13 Softmax flattens to [prod(:axis), prod(axis:)], so every axis gives contiguous
  // rows; from 13 it is over one axis, and only the last one is contiguous in plain order.
  if (v.opset >= 13 && axis != rank - 1)
    throw Refuse(fmt::format("axis {} of rank {} (only the last axis)", axis, rank));
  const int64_t len = Product(x, axis), rows = Product(x, 0, axis);
  Builder b(dev_, chain);
  const Arg src = b.Input(0, 0, 0);
  cl::Kernel k = b.Kernel("ops.cl", "softmax", "");
  b.Launch(k, cl::NDRange(std::max<int64_t>(rows, 1)), src, Out{0}, I(len), I(rows));
  return b.Finish("softmax_plain", 0, {0});
}

// LayerNormalization over the trailing axes from `axis` (contiguous rows in plain order), with a
// constant scale and an optional constant bias of the rows' length; Y only.
Created OclBackend::LayerNorm(const Chain& chain, const std::string&, const std::string&) {
  const NodeView& v = chain[0];
  if (v.outputs.size() > 1) throw Refuse("LayerNormalization's Mean / InvStdDev outputs");
  const Dims& x = v.inputs[0].shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) throw Refuse("scalar input");
  int64_t axis = AttrInt(*v.proto, "axis", -1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) throw Refuse(fmt::format("axis {} out of range", axis));
  const int64_t len = Product(x, axis), rows = Product(x, 0, axis);
  const Tensor* scale = v.inputs.size() > 1 ? v.constants[1] : nullptr;
  const bool has_b = v.inputs.size() > 2 && !v.inputs[2].dtype.empty();
  const Tensor* shift = has_b ? v.constants[2] : nullptr;
  if (!scale || !scale->IsFloat() || scale->Elems() != len ||
      (has_b && (!shift || !shift->IsFloat() || shift->Elems() != len)))
    throw Refuse("non-constant or broadcast scale / bias");
  std::vector<float> wei = scale->f32;  // [scale][shift], as ops.cl reads them
  if (has_b) wei.insert(wei.end(), shift->f32.begin(), shift->f32.end());
  else wei.resize(2 * static_cast<size_t>(len), 0.f);
  Builder b(dev_, chain);
  const Arg src = b.Input(0, 0, 0);
  cl::Kernel k = b.Kernel("ops.cl", "lnorm", "");
  b.Launch(k, cl::NDRange(std::max<int64_t>(rows, 1)), src, b.Const(wei), Out{0}, I(len), I(rows),
           AttrFloat(*v.proto, "epsilon", 1e-5f));
  return b.Finish("lnorm_plain", 0, {0});
}

}  // namespace

std::unique_ptr<Backend> MakeOclBackend(const std::string& unit) {
  int pi = -1, di = -1;
  char tail = 0;
  if (std::sscanf(unit.c_str(), "ocl:%d:%d%c", &pi, &di, &tail) != 2 || pi < 0 || di < 0)
    throw std::runtime_error(fmt::format("'{}' is not an OpenCL unit name (ocl:P:D)", unit));
  std::vector<cl::Platform> platforms;
  std::vector<cl::Device> devices;
  try {
    cl::Platform::get(&platforms);
    if (pi < static_cast<int>(platforms.size()))
      platforms[pi].getDevices(CL_DEVICE_TYPE_ALL, &devices);
  } catch (const cl::Error& e) {
    throw std::runtime_error(
        fmt::format("{}: cannot list OpenCL devices ({})", unit, mb::DescribeClError(e)));
  }
  if (di >= static_cast<int>(devices.size()))
    throw std::runtime_error(
        fmt::format("{}: no such OpenCL device ({} platforms{})", unit, platforms.size(),
                    pi < static_cast<int>(platforms.size())
                        ? fmt::format(", {} devices on platform {}", devices.size(), pi)
                        : ""));
  auto dev = std::make_shared<mb::DeviceCtx>();
  try {
    const cl::Device& d = devices[di];
    auto trim = [](std::string s) {
      while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
      return s;
    };
    dev->unit_name = unit;
    dev->device_name = trim(d.getInfo<CL_DEVICE_NAME>());
    dev->driver = trim(d.getInfo<CL_DRIVER_VERSION>());
    dev->device = d;
    dev->context = cl::Context(d);
    dev->queue = cl::CommandQueue(dev->context, d);
    dev->max_wg = d.getInfo<CL_DEVICE_MAX_WORK_GROUP_SIZE>();
  } catch (const cl::Error& e) {
    throw std::runtime_error(fmt::format("{}: cannot be used ({})", unit, mb::DescribeClError(e)));
  }
  return std::make_unique<OclBackend>(std::move(dev));
}

}  // namespace layoutdb::runtime
