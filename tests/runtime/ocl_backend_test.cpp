// The OpenCL backend (runtime/ocl_backend.cpp) on a real device (PoCL in CI): every kernel family
// in nchw, nhwc and nc4hw4 (channel counts such as 3, 5 and 17 leave nc4hw4 blocks half full)
// against straightforward references written here, the fusion counts, the refusals, and reorders.
//
// Inputs are uploaded plain and reordered on the device into the layout the execution declares;
// outputs are reordered back to nchw on the device and downloaded. Tolerance: |got - want| <=
// 1e-4 * (1 + |want|), relative for large values and absolute near zero (float sums of up to a few
// hundred products in a different order, PoCL's exp/erf/tanh).
// Every test skips with "no OpenCL device found: <reason>" where the ICD loader finds no device.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "runtime/backend.h"

namespace layoutdb::runtime {
namespace {

using Dims = std::vector<int64_t>;
using Floats = std::vector<float>;

const std::vector<std::string> kLayouts = {"nchw", "nhwc", "nc4hw4"};
// Each layout to itself and a few changes (every pair would compile a program each on PoCL, about a
// second apiece: the convolution test alone takes all nine).
const std::vector<std::pair<std::string, std::string>> kLayoutPairs = {
    {"nchw", "nchw"},   {"nhwc", "nhwc"},   {"nc4hw4", "nc4hw4"},
    {"nchw", "nc4hw4"}, {"nc4hw4", "nhwc"}, {"nhwc", "nchw"}};

int64_t Count(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

Floats Random(const Dims& shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Floats v(static_cast<size_t>(Count(shape)));
  for (float& x : v) x = dist(rng);
  return v;
}

// One ONNX node with the static shapes and constants a backend sees.
struct Node {
  explicit Node(const std::string& op) {
    proto.set_op_type(op);
    proto.set_name(op + "_0");
  }
  Node& In(const std::string& name, const Dims& shape) {
    proto.add_input(name);
    inputs.push_back(Value{shape});
    consts.emplace_back();
    return *this;
  }
  Node& Const(const std::string& name, const Dims& shape, const Floats& data) {
    In(name, shape);
    Tensor t;
    t.name = name;
    t.shape = shape;
    t.f32 = data;
    consts.back() = t;
    return *this;
  }
  Node& Omitted() {  // an optional input left out (an empty name)
    proto.add_input("");
    inputs.push_back(Value{{}, ""});
    consts.emplace_back();
    return *this;
  }
  Node& Out(const std::string& name, const Dims& shape) {
    proto.add_output(name);
    outputs.push_back(Value{shape});
    return *this;
  }
  Node& AttrI(const std::string& name, int64_t v) {
    auto* a = proto.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
    return *this;
  }
  Node& AttrF(const std::string& name, float v) {
    auto* a = proto.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
    return *this;
  }
  Node& AttrInts(const std::string& name, const Dims& v) {
    auto* a = proto.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  Node& AttrS(const std::string& name, const std::string& v) {
    auto* a = proto.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
    return *this;
  }

  onnx::NodeProto proto;
  std::vector<Value> inputs, outputs;
  std::vector<std::optional<Tensor>> consts;
};

// Plain data of the chain's non-constant inputs, by (node, input).
using Feeds = std::map<std::pair<int, int>, Floats>;

struct Result {
  Created created;
  std::vector<Floats> outputs;  // plain, of chain[created.fused]
};

class OclBackendTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Program binaries are cached under the build tree (tests/test_env.cpp).
    why_ = new std::string;
    try {
      backend_ = MakeOclBackend("ocl:0:0").release();
    } catch (const std::exception& e) {
      *why_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete backend_;
    backend_ = nullptr;
    delete why_;
  }
  void SetUp() override {
    if (!backend_) GTEST_SKIP() << "no OpenCL device found: " << *why_;
  }

  static std::vector<NodeView> Views(const std::vector<Node>& chain, int64_t opset) {
    std::vector<NodeView> views;
    for (size_t k = 0; k < chain.size(); ++k) {
      NodeView v;
      v.proto = &chain[k].proto;
      v.index = static_cast<int>(k);
      v.opset = opset;
      v.inputs = chain[k].inputs;
      v.outputs = chain[k].outputs;
      for (const auto& c : chain[k].consts) v.constants.push_back(c ? &*c : nullptr);
      views.push_back(std::move(v));
    }
    return views;
  }

  static Created Prepare(const std::vector<Node>& chain, const std::string& in_layout,
                         const std::string& out_layout, int64_t opset = 17) {
    return backend_->Create(Views(chain, opset), in_layout, out_layout);
  }

  // Prepares `chain`, uploads `feeds` (reordered on the device into the layouts the execution
  // reads), runs it, and downloads its outputs reordered back to nchw.
  static Result Run(const std::vector<Node>& chain, const Feeds& feeds,
                    const std::string& in_layout, const std::string& out_layout,
                    int64_t opset = 17) {
    Backend& be = *backend_;
    Result r;
    r.created = Prepare(chain, in_layout, out_layout, opset);
    if (!r.created.exec) {
      ADD_FAILURE() << "refused: " << r.created.why_not;
      return r;
    }
    std::vector<void*> all, ins, outs;
    auto alloc = [&](const Value& v) {
      all.push_back(be.Alloc(PhysicalBytes(v)));
      return all.back();
    };
    for (const Operand& op : r.created.reads) {
      const Dims& shape = chain[op.node].inputs[op.input].shape;
      const auto it = feeds.find({op.node, op.input});
      if (it == feeds.end()) {
        ADD_FAILURE() << "no data for input " << op.input << " of node " << op.node;
        return r;
      }
      const Value plain{shape};
      void* buf = alloc(plain);
      be.Upload(it->second.data(), buf, it->second.size() * sizeof(float));
      if (op.layout != "nchw") {
        void* re = alloc(Value{shape, "f32", op.layout});
        be.CreateReorder(plain, op.layout)->Run({buf}, {re});
        buf = re;
      }
      ins.push_back(buf);
    }
    const Node& last = chain[r.created.fused];
    EXPECT_EQ(r.created.out_layouts.size(), last.outputs.size());
    for (size_t j = 0; j < last.outputs.size(); ++j)
      outs.push_back(alloc(Value{last.outputs[j].shape, "f32", r.created.out_layouts.at(j)}));
    r.created.exec->Run(ins, outs);
    for (size_t j = 0; j < outs.size(); ++j) {
      const Dims& shape = last.outputs[j].shape;
      void* buf = outs[j];
      if (r.created.out_layouts[j] != "nchw") {
        void* plain = alloc(Value{shape});
        be.CreateReorder(Value{shape, "f32", r.created.out_layouts[j]}, "nchw")
            ->Run({buf}, {plain});
        buf = plain;
      }
      be.Finish();
      Floats host(static_cast<size_t>(Count(shape)));
      be.Download(buf, host.data(), host.size() * sizeof(float));
      r.outputs.push_back(std::move(host));
    }
    for (void* b : all) be.Free(b);
    return r;
  }

  static Backend* backend_;
  static std::string* why_;
};
Backend* OclBackendTest::backend_ = nullptr;
std::string* OclBackendTest::why_ = nullptr;

// |got - want| <= 1e-4 * (1 + |want|) everywhere.
::testing::AssertionResult Near(const Floats& got, const Floats& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << got.size() << " values, want " << want.size();
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-4f * (1.f + std::fabs(want[i])))) {
      if (bad++ == 0) first = i;
    }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << got.size() << " values differ, first at " << first << ": got "
         << got[first] << ", want " << want[first];
}

// ---- references (plain nchw) ----

struct ConvParams {
  int64_t group = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
};

Floats RefConv(const Floats& x, const Dims& xs, const Floats& w, const Dims& ws, const Floats& bias,
               const Dims& ys, const ConvParams& p) {
  const int64_t icg = ws[1], ocg = ys[1] / p.group;
  Floats y(static_cast<size_t>(Count(ys)));
  size_t i = 0;
  for (int64_t n = 0; n < ys[0]; ++n)
    for (int64_t oc = 0; oc < ys[1]; ++oc)
      for (int64_t oh = 0; oh < ys[2]; ++oh)
        for (int64_t ow = 0; ow < ys[3]; ++ow) {
          double acc = bias.empty() ? 0.0 : bias[oc];
          const int64_t g = oc / ocg;
          for (int64_t c = 0; c < icg; ++c)
            for (int64_t kh = 0; kh < ws[2]; ++kh)
              for (int64_t kw = 0; kw < ws[3]; ++kw) {
                const int64_t ih = oh * p.sh - p.ph + kh * p.dh, iw = ow * p.sw - p.pw + kw * p.dw;
                if (ih < 0 || ih >= xs[2] || iw < 0 || iw >= xs[3]) continue;
                acc +=
                    static_cast<double>(x[((n * xs[1] + g * icg + c) * xs[2] + ih) * xs[3] + iw]) *
                    w[((oc * icg + c) * ws[2] + kh) * ws[3] + kw];
              }
          y[i++] = static_cast<float>(acc);
        }
  return y;
}

// Per-channel y = (x - mean) / sqrt(var + eps) * scale + shift over dimension 1.
Floats RefBatchNorm(const Floats& x, const Dims& xs, const Floats& scale, const Floats& shift,
                    const Floats& mean, const Floats& var, float eps) {
  const int64_t c = xs[1], inner = Count(xs) / (xs[0] * c);
  Floats y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t ch = (static_cast<int64_t>(i) / inner) % c;
    y[i] = static_cast<float>(
        (x[i] - mean[ch]) / std::sqrt(static_cast<double>(var[ch]) + eps) * scale[ch] + shift[ch]);
  }
  return y;
}

Floats Map(Floats v, const std::function<float(float)>& f) {
  for (float& x : v) x = f(x);
  return v;
}

float Relu(float x) { return std::max(x, 0.f); }
float HardSwish(float x) { return x * std::min(std::max(x / 6.f + 0.5f, 0.f), 1.f); }

// C[b] = A[b] x B[b or 0] (+ bias row).
Floats RefMatMul(const Floats& a, const Floats& b, int64_t batch, int64_t m, int64_t k, int64_t n,
                 bool b_shared, const Floats& bias = {}) {
  Floats c(static_cast<size_t>(batch * m * n));
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = bias.empty() ? 0.0 : bias[j];
        for (int64_t q = 0; q < k; ++q)
          acc +=
              static_cast<double>(a[(t * m + i) * k + q]) * b[((b_shared ? 0 : t) * k + q) * n + j];
        c[(t * m + i) * n + j] = static_cast<float>(acc);
      }
  return c;
}

// ONNX pooling with begin pads (ph, pw) and end pads (phe, pwe); the output shape is given.
Floats RefPool(const Floats& x, const Dims& xs, const Dims& ys, bool max, bool count_pad,
               int64_t kh, int64_t kw, int64_t s, int64_t ph, int64_t pw, int64_t phe,
               int64_t pwe) {
  Floats y(static_cast<size_t>(Count(ys)));
  size_t i = 0;
  for (int64_t nc = 0; nc < ys[0] * ys[1]; ++nc)
    for (int64_t oh = 0; oh < ys[2]; ++oh)
      for (int64_t ow = 0; ow < ys[3]; ++ow) {
        int64_t h0 = oh * s - ph, w0 = ow * s - pw;
        int64_t h1 = std::min(h0 + kh, xs[2] + phe), w1 = std::min(w0 + kw, xs[3] + pwe);
        const int64_t padded = (h1 - h0) * (w1 - w0);
        h0 = std::max<int64_t>(h0, 0), w0 = std::max<int64_t>(w0, 0);
        h1 = std::min(h1, xs[2]), w1 = std::min(w1, xs[3]);
        double acc = max ? -INFINITY : 0.0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) {
            const float v = x[(nc * xs[2] + h) * xs[3] + w];
            acc = max ? std::max<double>(acc, v) : acc + v;
          }
        if (!max) acc /= count_pad ? padded : (h1 - h0) * (w1 - w0);
        y[i++] = static_cast<float>(acc);
      }
  return y;
}

// Numpy-broadcast binary op of two rank-4 (or lower, right-aligned) tensors to `ys`.
Floats RefBinary(const Floats& a, Dims as, const Floats& b, Dims bs, const Dims& ys,
                 const std::function<float(float, float)>& f) {
  auto at = [](const Floats& v, Dims s, const Dims& idx) {
    while (s.size() < 4) s.insert(s.begin(), 1);
    int64_t o = 0;
    for (int d = 0; d < 4; ++d) o = o * s[d] + (s[d] == 1 ? 0 : idx[d]);
    return v[o];
  };
  Dims y4 = ys;
  while (y4.size() < 4) y4.insert(y4.begin(), 1);
  Floats y(static_cast<size_t>(Count(ys)));
  size_t i = 0;
  for (int64_t n = 0; n < y4[0]; ++n)
    for (int64_t c = 0; c < y4[1]; ++c)
      for (int64_t h = 0; h < y4[2]; ++h)
        for (int64_t w = 0; w < y4[3]; ++w)
          y[i++] = f(at(a, as, {n, c, h, w}), at(b, bs, {n, c, h, w}));
  return y;
}

Floats RefSoftmax(const Floats& x, int64_t len) {
  Floats y(x.size());
  for (size_t r = 0; r < x.size() / len; ++r) {
    double mx = -INFINITY, sum = 0;
    for (int64_t i = 0; i < len; ++i) mx = std::max<double>(mx, x[r * len + i]);
    for (int64_t i = 0; i < len; ++i) sum += std::exp(x[r * len + i] - mx);
    for (int64_t i = 0; i < len; ++i)
      y[r * len + i] = static_cast<float>(std::exp(x[r * len + i] - mx) / sum);
  }
  return y;
}

// ---- convolution ----

TEST_F(OclBackendTest, Conv3x3WithBatchNormAndReluFusedInEveryLayoutPair) {
  const Dims xs{2, 5, 9, 11}, ws{17, 5, 3, 3}, ys{2, 17, 9, 11};
  const Floats x = Random(xs, 1), w = Random(ws, 2), b = Random({17}, 3);
  const Floats scale = Random({17}, 4, 0.5f, 1.5f), shift = Random({17}, 5), mean = Random({17}, 6),
               var = Random({17}, 7, 0.1f, 2.f);
  std::vector<Node> chain;
  chain.push_back(Node("Conv")
                      .In("x", xs)
                      .Const("w", ws, w)
                      .Const("b", {17}, b)
                      .Out("c", ys)
                      .AttrInts("pads", {1, 1, 1, 1})
                      .AttrInts("kernel_shape", {3, 3}));
  chain.push_back(Node("BatchNormalization")
                      .In("c", ys)
                      .Const("s", {17}, scale)
                      .Const("sh", {17}, shift)
                      .Const("m", {17}, mean)
                      .Const("v", {17}, var)
                      .Out("n", ys)
                      .AttrF("epsilon", 1e-3f));
  chain.push_back(Node("Relu").In("n", ys).Out("y", ys));
  const Floats want = Map(RefBatchNorm(RefConv(x, xs, w, ws, b, ys, {.ph = 1, .pw = 1}), ys, scale,
                                       shift, mean, var, 1e-3f),
                          Relu);
  for (const auto& in : kLayouts)
    for (const auto& out : kLayouts) {
      SCOPED_TRACE(in + ">" + out);
      const Result r = Run(chain, {{{0, 0}, x}}, in, out);
      ASSERT_TRUE(r.created.exec);
      EXPECT_EQ(r.created.fused, 2);
      ASSERT_EQ(r.created.reads.size(), 1u);
      EXPECT_EQ(r.created.reads[0].layout, in);
      EXPECT_EQ(r.created.out_layouts, std::vector<std::string>{out});
      EXPECT_NE(r.created.impl.find("+bn+relu"), std::string::npos) << r.created.impl;
      EXPECT_TRUE(Near(r.outputs.at(0), want));
    }
}

TEST_F(OclBackendTest, StridedConvWithAsymmetricPadsAndClip) {
  // pads (h begin 0, w begin 1, h end 1, w end 0), stride 2: 10x9 -> 5x4.
  const Dims xs{1, 3, 10, 9}, ws{5, 3, 3, 3}, ys{1, 5, 5, 4};
  const Floats x = Random(xs, 11, -3.f, 3.f), w = Random(ws, 12), b = Random({5}, 13);
  const Floats want = Map(RefConv(x, xs, w, ws, b, ys, {.sh = 2, .sw = 2, .ph = 0, .pw = 1}),
                          [](float v) { return std::min(std::max(v, 0.f), 6.f); });
  for (const auto& l : kLayouts) {
    SCOPED_TRACE(l);
    std::vector<Node> chain;
    chain.push_back(Node("Conv")
                        .In("x", xs)
                        .Const("w", ws, w)
                        .Const("b", {5}, b)
                        .Out("c", ys)
                        .AttrInts("strides", {2, 2})
                        .AttrInts("pads", {0, 1, 1, 0}));
    chain.push_back(
        Node("Clip").In("c", ys).Const("lo", {}, {0.f}).Const("hi", {}, {6.f}).Out("y", ys));
    const Result r = Run(chain, {{{0, 0}, x}}, l, l);
    ASSERT_TRUE(r.created.exec);
    EXPECT_EQ(r.created.fused, 1);
    EXPECT_TRUE(Near(r.outputs.at(0), want));

    // Before opset 11 the bounds are attributes.
    std::vector<Node> old;
    old.push_back(chain[0]);
    old.push_back(Node("Clip").In("c", ys).Out("y", ys).AttrF("min", 0.f).AttrF("max", 6.f));
    const Result r6 = Run(old, {{{0, 0}, x}}, l, l, /*opset=*/9);
    ASSERT_TRUE(r6.created.exec);
    EXPECT_EQ(r6.created.fused, 1);
    EXPECT_TRUE(Near(r6.outputs.at(0), want));
  }
}

TEST_F(OclBackendTest, DepthwiseConvWithHardSwish) {
  // Widths that give tiles of 16, 8 and 4 pixels, each with tiles at the left edge, inside the row
  // (the vector loads of stride 1 and 2) and partial ones. Every layout pair on the first two, nchw
  // (its kernel vectorised along w) on the others.
  struct Case {
    int64_t stride, width;
    bool all_layouts;
  };
  for (const Case& c :
       {Case{1, 40, true}, Case{2, 40, true}, Case{2, 18, false}, Case{2, 12, false}}) {
    const int64_t ow = (c.width - 1) / c.stride + 1, oh = (10 - 1) / c.stride + 1;
    const Dims xs{2, 17, 10, c.width}, ws{17, 1, 3, 3}, ys{2, 17, oh, ow};
    const Floats x = Random(xs, 21, -4.f, 4.f), w = Random(ws, 22), b = Random({17}, 23);
    const Floats want =
        Map(RefConv(x, xs, w, ws, b, ys,
                    {.group = 17, .sh = c.stride, .sw = c.stride, .ph = 1, .pw = 1}),
            HardSwish);
    std::vector<Node> chain;
    chain.push_back(Node("Conv")
                        .In("x", xs)
                        .Const("w", ws, w)
                        .Const("b", {17}, b)
                        .Out("c", ys)
                        .AttrI("group", 17)
                        .AttrInts("strides", {c.stride, c.stride})
                        .AttrInts("pads", {1, 1, 1, 1}));
    chain.push_back(Node("HardSwish").In("c", ys).Out("y", ys));
    for (const auto& in : kLayouts)
      for (const std::string& out : {in, std::string("nc4hw4")}) {
        if (!c.all_layouts && (in != "nchw" || out != "nchw")) continue;
        SCOPED_TRACE(in + ">" + out + " stride " + std::to_string(c.stride) + " width " +
                     std::to_string(c.width));
        const Result r = Run(chain, {{{0, 0}, x}}, in, out);
        ASSERT_TRUE(r.created.exec);
        EXPECT_EQ(r.created.fused, 1);
        EXPECT_NE(r.created.impl.find("dwconv"), std::string::npos) << r.created.impl;
        EXPECT_TRUE(Near(r.outputs.at(0), want));
      }
  }
}

TEST_F(OclBackendTest, GroupedDilatedConvWithoutBias) {
  // 2 groups of 3 -> 5 channels, 3x3 dilated by 2, padding 2: 9x9 -> 9x9. No follower, no bias.
  const Dims xs{1, 6, 9, 9}, ws{10, 3, 3, 3}, ys{1, 10, 9, 9};
  const Floats x = Random(xs, 31), w = Random(ws, 32);
  const Floats want =
      RefConv(x, xs, w, ws, {}, ys, {.group = 2, .dh = 2, .dw = 2, .ph = 2, .pw = 2});
  std::vector<Node> chain;
  chain.push_back(Node("Conv")
                      .In("x", xs)
                      .Const("w", ws, w)
                      .Out("y", ys)
                      .AttrI("group", 2)
                      .AttrInts("dilations", {2, 2})
                      .AttrInts("pads", {2, 2, 2, 2}));
  for (const auto& l : kLayouts) {
    SCOPED_TRACE(l);
    const Result r = Run(chain, {{{0, 0}, x}}, l, l);
    ASSERT_TRUE(r.created.exec);
    EXPECT_EQ(r.created.fused, 0);
    EXPECT_TRUE(Near(r.outputs.at(0), want));
  }

  // Depthwise, dilated by (2, 3), padding (2, 3): 9x20 -> 9x20.
  const Dims dxs{1, 5, 9, 20}, dws{5, 1, 3, 3};
  const Floats dx = Random(dxs, 33), dw = Random(dws, 34);
  const Floats dwant =
      RefConv(dx, dxs, dw, dws, {}, dxs, {.group = 5, .dh = 2, .dw = 3, .ph = 2, .pw = 3});
  std::vector<Node> dchain;
  dchain.push_back(Node("Conv")
                       .In("x", dxs)
                       .Const("w", dws, dw)
                       .Out("y", dxs)
                       .AttrI("group", 5)
                       .AttrInts("dilations", {2, 3})
                       .AttrInts("pads", {2, 3, 2, 3}));
  for (const auto& l : kLayouts) {
    SCOPED_TRACE("depthwise " + l);
    const Result r = Run(dchain, {{{0, 0}, dx}}, l, l);
    ASSERT_TRUE(r.created.exec);
    EXPECT_TRUE(Near(r.outputs.at(0), dwant));
  }
}

TEST_F(OclBackendTest, PointwiseConvWithLeakyRelu) {
  const Dims xs{2, 17, 5, 6}, ws{3, 17, 1, 1}, ys{2, 3, 5, 6};
  const Floats x = Random(xs, 41), w = Random(ws, 42), b = Random({3}, 43);
  const Floats want =
      Map(RefConv(x, xs, w, ws, b, ys, {}), [](float v) { return v >= 0 ? v : 0.1f * v; });
  std::vector<Node> chain;
  chain.push_back(Node("Conv").In("x", xs).Const("w", ws, w).Const("b", {3}, b).Out("c", ys));
  chain.push_back(Node("LeakyRelu").In("c", ys).Out("y", ys).AttrF("alpha", 0.1f));
  for (const auto& l : kLayouts) {
    SCOPED_TRACE(l);
    const Result r = Run(chain, {{{0, 0}, x}}, l, l);
    ASSERT_TRUE(r.created.exec);
    EXPECT_EQ(r.created.fused, 1);
    EXPECT_TRUE(Near(r.outputs.at(0), want));
  }
}

TEST_F(OclBackendTest, ConvAutoPadSameUpperAndLowerAndValid) {
  // 8x8, 3x3, stride 2 -> 4x4 needs 1 row and column of padding: at the end (SAME_UPPER) or at the
  // start (SAME_LOWER). VALID: 3x3.
  const Dims xs{1, 4, 8, 8}, ws{8, 4, 3, 3};
  const Floats x = Random(xs, 51), w = Random(ws, 52), b = Random({8}, 53);
  struct Case {
    const char* auto_pad;
    int64_t out, pad;
  };
  for (const Case& c : {Case{"SAME_UPPER", 4, 0}, Case{"SAME_LOWER", 4, 1}, Case{"VALID", 3, 0}}) {
    const Dims ys{1, 8, c.out, c.out};
    const Floats want = RefConv(x, xs, w, ws, b, ys, {.sh = 2, .sw = 2, .ph = c.pad, .pw = c.pad});
    std::vector<Node> chain;
    chain.push_back(Node("Conv")
                        .In("x", xs)
                        .Const("w", ws, w)
                        .Const("b", {8}, b)
                        .Out("y", ys)
                        .AttrInts("strides", {2, 2})
                        .AttrS("auto_pad", c.auto_pad));
    for (const auto& l : kLayouts) {
      SCOPED_TRACE(std::string(c.auto_pad) + " " + l);
      const Result r = Run(chain, {{{0, 0}, x}}, l, l);
      ASSERT_TRUE(r.created.exec);
      EXPECT_TRUE(Near(r.outputs.at(0), want));
    }
  }
}

TEST_F(OclBackendTest, OneDimensionalConvRunsAsTwoDimensional) {
  // [N, C, L] as [N, C, 1, L] (plain, whatever layout is asked): kernel 3, stride 2, pads (1, 2).
  const Dims xs{2, 5, 11}, ws{6, 5, 3}, ys{2, 6, 7};
  const Floats x = Random(xs, 68), w = Random(ws, 69), b = Random({6}, 70);
  const Floats want =
      RefConv(x, {2, 5, 1, 11}, w, {6, 5, 1, 3}, b, {2, 6, 1, 7}, {.sh = 1, .sw = 2, .pw = 1});
  std::vector<Node> chain;
  chain.push_back(Node("Conv")
                      .In("x", xs)
                      .Const("w", ws, w)
                      .Const("b", {6}, b)
                      .Out("y", ys)
                      .AttrInts("strides", {2})
                      .AttrInts("pads", {1, 2}));
  const Result r = Run(chain, {{{0, 0}, x}}, "nhwc", "nhwc");
  ASSERT_TRUE(r.created.exec);
  EXPECT_EQ(r.created.reads.at(0).layout, "nchw");
  EXPECT_EQ(r.created.out_layouts, std::vector<std::string>{"nchw"});
  EXPECT_TRUE(Near(r.outputs.at(0), want));
}

TEST_F(OclBackendTest, ConvFusesEveryActivation) {
  // The activation applies to a whole vector of output channels in the kernel.
  const Dims xs{1, 6, 5, 9}, ws{12, 6, 3, 3}, ys{1, 12, 3, 7};
  const Floats x = Random(xs, 65, -2.f, 2.f), w = Random(ws, 66), b = Random({12}, 67);
  const Floats conv = RefConv(x, xs, w, ws, b, ys, {});
  struct Case {
    Node act;
    std::function<float(float)> f;
  };
  const std::vector<Case> cases = {
      {Node("Relu"), Relu},
      {Node("Clip").AttrF("min", -1.f).AttrF("max", 1.f),
       [](float v) { return std::min(std::max(v, -1.f), 1.f); }},
      {Node("LeakyRelu").AttrF("alpha", 0.2f), [](float v) { return v >= 0 ? v : 0.2f * v; }},
      {Node("Sigmoid"), [](float v) { return 1.f / (1.f + std::exp(-v)); }},
      {Node("HardSigmoid").AttrF("alpha", 0.3f).AttrF("beta", 0.4f),
       [](float v) { return std::min(std::max(0.3f * v + 0.4f, 0.f), 1.f); }},
      {Node("HardSwish"), HardSwish},
      {Node("Tanh"), [](float v) { return std::tanh(v); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.act.proto.op_type());
    std::vector<Node> chain;
    chain.push_back(Node("Conv").In("x", xs).Const("w", ws, w).Const("b", {12}, b).Out("c", ys));
    chain.push_back(c.act);
    chain.back().In("c", ys).Out("y", ys);
    const Result r = Run(chain, {{{0, 0}, x}}, "nhwc", "nhwc", /*opset=*/9);
    ASSERT_TRUE(r.created.exec);
    EXPECT_EQ(r.created.fused, 1);
    EXPECT_TRUE(Near(r.outputs.at(0), Map(conv, c.f)));
  }
}

TEST_F(OclBackendTest, ConvFusionStopsAtResidualAdd) {
  const Dims xs{1, 5, 4, 4}, ws{5, 5, 1, 1};
  std::vector<Node> chain;
  chain.push_back(Node("Conv").In("x", xs).Const("w", ws, Random(ws, 61)).Out("c", xs));
  chain.push_back(Node("Add").In("c", xs).In("skip", xs).Out("a", xs));
  chain.push_back(Node("Relu").In("a", xs).Out("y", xs));
  const Created c = Prepare(chain, "nchw", "nchw");
  ASSERT_TRUE(c.exec) << c.why_not;
  EXPECT_EQ(c.fused, 0);
}

// ---- GEMM ----

TEST_F(OclBackendTest, BatchedMatMulWithBiasAddAndRelu) {
  // A [2, 3, 5, 7] x a shared weight [7, 19] + bias [19], then Relu.
  const Floats a = Random({2, 3, 5, 7}, 71), w = Random({7, 19}, 72), bias = Random({19}, 73);
  std::vector<Node> chain;
  chain.push_back(
      Node("MatMul").In("a", {2, 3, 5, 7}).Const("w", {7, 19}, w).Out("m", {2, 3, 5, 19}));
  chain.push_back(
      Node("Add").In("m", {2, 3, 5, 19}).Const("b", {19}, bias).Out("s", {2, 3, 5, 19}));
  chain.push_back(Node("Relu").In("s", {2, 3, 5, 19}).Out("y", {2, 3, 5, 19}));
  const Floats want = Map(RefMatMul(a, w, 6, 5, 7, 19, /*b_shared=*/true, bias), Relu);
  for (const auto& l : kLayouts) {
    SCOPED_TRACE(l);
    const Result r = Run(chain, {{{0, 0}, a}}, l, l);
    ASSERT_TRUE(r.created.exec);
    EXPECT_EQ(r.created.fused, 2);
    ASSERT_EQ(r.created.reads.size(), 1u);
    EXPECT_EQ(r.created.reads[0].layout, "nchw");  // GEMM operands are plain whatever is asked
    EXPECT_TRUE(Near(r.outputs.at(0), want));
  }

  // Both operands computed, batched alike ([2, 9, 6] x [2, 6, 17]), no followers.
  const Floats x = Random({2, 9, 6}, 74), y = Random({2, 6, 17}, 75);
  std::vector<Node> mm;
  mm.push_back(Node("MatMul").In("x", {2, 9, 6}).In("y", {2, 6, 17}).Out("z", {2, 9, 17}));
  const Result r = Run(mm, {{{0, 0}, x}, {{0, 1}, y}}, "nchw", "nchw");
  ASSERT_TRUE(r.created.exec);
  EXPECT_EQ(r.created.reads.size(), 2u);
  EXPECT_TRUE(Near(r.outputs.at(0), RefMatMul(x, y, 2, 9, 6, 17, false)));
}

TEST_F(OclBackendTest, GemmWithTransposesAlphaBetaAndBias) {
  const int64_t m = 5, k = 7, n = 9;
  const Floats a = Random({m, k}, 81), bt = Random({n, k}, 82), c = Random({n}, 83);
  Floats b(k * n), at(k * m);  // B = bt^T, at = A^T
  for (int64_t i = 0; i < n; ++i)
    for (int64_t q = 0; q < k; ++q) b[q * n + i] = bt[i * k + q];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t q = 0; q < k; ++q) at[q * m + i] = a[i * k + q];
  Floats want = RefMatMul(a, b, 1, m, k, n, true);
  for (int64_t i = 0; i < m * n; ++i) want[i] = 0.5f * want[i] + 2.f * c[i % n];

  // Constant B^T (transposed once on the host).
  std::vector<Node> g1;
  g1.push_back(Node("Gemm")
                   .In("a", {m, k})
                   .Const("b", {n, k}, bt)
                   .Const("c", {n}, c)
                   .Out("y", {m, n})
                   .AttrI("transB", 1)
                   .AttrF("alpha", 0.5f)
                   .AttrF("beta", 2.f));
  const Result r1 = Run(g1, {{{0, 0}, a}}, "nchw", "nchw");
  ASSERT_TRUE(r1.created.exec);
  EXPECT_TRUE(Near(r1.outputs.at(0), want));

  // Computed A^T and B^T (both read transposed by the kernel).
  std::vector<Node> g2;
  g2.push_back(Node("Gemm")
                   .In("a", {k, m})
                   .In("b", {n, k})
                   .Const("c", {n}, c)
                   .Out("y", {m, n})
                   .AttrI("transA", 1)
                   .AttrI("transB", 1)
                   .AttrF("alpha", 0.5f)
                   .AttrF("beta", 2.f));
  const Result r2 = Run(g2, {{{0, 0}, at}, {{0, 1}, bt}}, "nchw", "nchw");
  ASSERT_TRUE(r2.created.exec);
  EXPECT_TRUE(Near(r2.outputs.at(0), want));

  // A full [M, N] C, Sigmoid fused.
  const Floats cm = Random({m, n}, 84);
  Floats want3 = RefMatMul(a, b, 1, m, k, n, true, {});
  for (int64_t i = 0; i < m * n; ++i) want3[i] = 1.f / (1.f + std::exp(-(want3[i] + cm[i])));
  std::vector<Node> g3;
  g3.push_back(
      Node("Gemm").In("a", {m, k}).Const("b", {k, n}, b).Const("c", {m, n}, cm).Out("g", {m, n}));
  g3.push_back(Node("Sigmoid").In("g", {m, n}).Out("y", {m, n}));
  const Result r3 = Run(g3, {{{0, 0}, a}}, "nchw", "nchw");
  ASSERT_TRUE(r3.created.exec);
  EXPECT_EQ(r3.created.fused, 1);
  EXPECT_TRUE(Near(r3.outputs.at(0), want3));
}

// ---- pooling ----

TEST_F(OclBackendTest, MaxAndAveragePoolWithCeilMode) {
  // 3x3 stride 2 pads 1 with ceil_mode on 8x8: 5x5 windows, the last ones past the end padding.
  const Dims xs{2, 5, 8, 8}, ys{2, 5, 5, 5};
  const Floats x = Random(xs, 91);
  struct Case {
    const char* op;
    bool max, count_pad;
  };
  for (const Case& c : {Case{"MaxPool", true, false}, Case{"AveragePool", false, false},
                        Case{"AveragePool", false, true}}) {
    const Floats want = RefPool(x, xs, ys, c.max, c.count_pad, 3, 3, 2, 1, 1, 1, 1);
    std::vector<Node> chain;
    chain.push_back(Node(c.op)
                        .In("x", xs)
                        .Out("y", ys)
                        .AttrInts("kernel_shape", {3, 3})
                        .AttrInts("strides", {2, 2})
                        .AttrInts("pads", {1, 1, 1, 1})
                        .AttrI("ceil_mode", 1));
    if (!c.max) chain[0].AttrI("count_include_pad", c.count_pad ? 1 : 0);
    for (const auto& [in, out] : kLayoutPairs) {
      SCOPED_TRACE(std::string(c.op) + (c.count_pad ? " count_pad " : " ") + in + ">" + out);
      const Result r = Run(chain, {{{0, 0}, x}}, in, out);
      ASSERT_TRUE(r.created.exec);
      EXPECT_EQ(r.created.out_layouts, std::vector<std::string>{out});
      EXPECT_TRUE(Near(r.outputs.at(0), want));
    }
  }
}

TEST_F(OclBackendTest, GlobalAverageAndMaxPool) {
  const Dims xs{2, 17, 7, 5}, ys{2, 17, 1, 1};
  const Floats x = Random(xs, 101);
  for (const char* op : {"GlobalAveragePool", "GlobalMaxPool"}) {
    const bool max = std::string(op) == "GlobalMaxPool";
    const Floats want = RefPool(x, xs, ys, max, false, 7, 5, 1, 0, 0, 0, 0);
    std::vector<Node> chain;
    chain.push_back(Node(op).In("x", xs).Out("y", ys));
    for (const auto& l : kLayouts) {
      SCOPED_TRACE(std::string(op) + " " + l);
      const Result r = Run(chain, {{{0, 0}, x}}, l, l);
      ASSERT_TRUE(r.created.exec);
      EXPECT_TRUE(Near(r.outputs.at(0), want));
    }
  }
}

// ---- element-wise ----

TEST_F(OclBackendTest, BinaryOpsWithPerChannelAndScalarBroadcast) {
  const Dims xs{2, 17, 5, 6};
  const Floats x = Random(xs, 111), per_c = Random({17, 1, 1}, 112),
               se = Random({2, 17, 1, 1}, 113), other = Random(xs, 114, 0.5f, 2.f);
  auto add = [](float a, float b) { return a + b; };
  auto mul = [](float a, float b) { return a * b; };
  auto sub = [](float a, float b) { return a - b; };
  auto div = [](float a, float b) { return a / b; };
  for (const auto& in : kLayouts)
    for (const auto& out : {in, std::string("nchw")}) {
      SCOPED_TRACE(in + ">" + out);
      {  // Constant [C, 1, 1], Relu fused.
        std::vector<Node> chain;
        chain.push_back(Node("Add").In("x", xs).Const("b", {17, 1, 1}, per_c).Out("s", xs));
        chain.push_back(Node("Relu").In("s", xs).Out("y", xs));
        const Result r = Run(chain, {{{0, 0}, x}}, in, out);
        ASSERT_TRUE(r.created.exec);
        EXPECT_EQ(r.created.fused, 1);
        EXPECT_TRUE(Near(r.outputs.at(0), Map(RefBinary(x, xs, per_c, {17, 1, 1}, xs, add), Relu)));
      }
      {  // A computed [N, C, 1, 1] scale (squeeze-excitation), read plain; the scale comes first.
        std::vector<Node> chain;
        chain.push_back(Node("Mul").In("s", {2, 17, 1, 1}).In("x", xs).Out("y", xs));
        const Result r = Run(chain, {{{0, 0}, se}, {{0, 1}, x}}, in, out);
        ASSERT_TRUE(r.created.exec);
        ASSERT_EQ(r.created.reads.size(), 2u);
        EXPECT_EQ(r.created.reads[0].layout, "nchw");
        EXPECT_EQ(r.created.reads[1].layout, in);
        EXPECT_TRUE(Near(r.outputs.at(0), RefBinary(se, {2, 17, 1, 1}, x, xs, xs, mul)));
      }
      {  // A scalar.
        std::vector<Node> chain;
        chain.push_back(Node("Sub").In("x", xs).Const("k", {}, {0.25f}).Out("y", xs));
        const Result r = Run(chain, {{{0, 0}, x}}, in, out);
        ASSERT_TRUE(r.created.exec);
        EXPECT_TRUE(Near(r.outputs.at(0), RefBinary(x, xs, {0.25f}, {}, xs, sub)));
      }
      {  // Same shapes, both computed.
        std::vector<Node> chain;
        chain.push_back(Node("Div").In("x", xs).In("z", xs).Out("y", xs));
        const Result r = Run(chain, {{{0, 0}, x}, {{0, 1}, other}}, in, out);
        ASSERT_TRUE(r.created.exec);
        EXPECT_TRUE(Near(r.outputs.at(0), RefBinary(x, xs, other, xs, xs, div)));
      }
    }

  // Plain rank 2 with a row bias.
  const Floats m = Random({4, 9}, 115), row = Random({9}, 116);
  std::vector<Node> chain;
  chain.push_back(Node("Add").In("m", {4, 9}).Const("r", {9}, row).Out("y", {4, 9}));
  const Result r = Run(chain, {{{0, 0}, m}}, "nhwc", "nhwc");
  ASSERT_TRUE(r.created.exec);
  EXPECT_EQ(r.created.out_layouts, std::vector<std::string>{"nchw"});
  EXPECT_TRUE(Near(r.outputs.at(0), RefBinary(m, {4, 9}, row, {9}, {4, 9}, add)));
}

TEST_F(OclBackendTest, StandaloneEltwiseOps) {
  const Dims xs{2, 5, 3, 7};
  const Floats x = Random(xs, 121, -3.f, 3.f), pos = Random(xs, 122, 0.01f, 4.f);
  struct Case {
    const char* op;
    std::function<float(float)> f;
    bool positive;
  };
  const std::vector<Case> cases = {
      {"Relu", Relu, false},
      {"Sigmoid", [](float v) { return 1.f / (1.f + std::exp(-v)); }, false},
      {"HardSigmoid", [](float v) { return std::min(std::max(0.2f * v + 0.5f, 0.f), 1.f); }, false},
      {"HardSwish", HardSwish, false},
      {"Tanh", [](float v) { return std::tanh(v); }, false},
      {"Exp", [](float v) { return std::exp(v); }, false},
      {"Sqrt", [](float v) { return std::sqrt(v); }, true},
      {"Abs", [](float v) { return std::fabs(v); }, false},
      {"Neg", [](float v) { return -v; }, false},
      {"Erf", [](float v) { return std::erf(v); }, false},
      {"Gelu", [](float v) { return 0.5f * v * (1.f + std::erf(v / std::sqrt(2.f))); }, false},
      {"LeakyRelu", [](float v) { return v >= 0 ? v : 0.01f * v; }, false},
  };
  // nhwc runs the very kernel nchw runs (one element per work-item over the whole buffer); nc4hw4
  // with 5 channels takes the path that keeps padding lanes at zero.
  for (const Case& c : cases)
    for (const std::string l : {"nchw", "nc4hw4"}) {
      SCOPED_TRACE(std::string(c.op) + " " + l);
      const Floats& in = c.positive ? pos : x;
      std::vector<Node> chain;
      chain.push_back(Node(c.op).In("x", xs).Out("y", xs));
      const Result r = Run(chain, {{{0, 0}, in}}, l, l);
      ASSERT_TRUE(r.created.exec);
      EXPECT_TRUE(Near(r.outputs.at(0), Map(in, c.f)));
    }
  // Clip with its min omitted (opset 11+: an empty input name).
  std::vector<Node> chain;
  chain.push_back(Node("Clip").In("x", xs).Omitted().Const("hi", {}, {0.5f}).Out("y", xs));
  const Result r = Run(chain, {{{0, 0}, x}}, "nc4hw4", "nc4hw4", 13);
  ASSERT_TRUE(r.created.exec);
  EXPECT_TRUE(Near(r.outputs.at(0), Map(x, [](float v) { return std::min(v, 0.5f); })));
}

TEST_F(OclBackendTest, StandaloneBatchNormalization) {
  const Dims xs{2, 17, 4, 5};
  const Floats x = Random(xs, 131), s = Random({17}, 132), b = Random({17}, 133),
               mean = Random({17}, 134), var = Random({17}, 135, 0.1f, 2.f);
  auto node = [&](const Dims& shape) {
    return Node("BatchNormalization")
        .In("x", shape)
        .Const("s", {17}, s)
        .Const("b", {17}, b)
        .Const("m", {17}, mean)
        .Const("v", {17}, var)
        .Out("y", shape);
  };
  const Floats want = RefBatchNorm(x, xs, s, b, mean, var, 1e-5f);
  for (const auto& [in, out] : kLayoutPairs) {
    SCOPED_TRACE(in + ">" + out);
    const Result r = Run({node(xs)}, {{{0, 0}, x}}, in, out);
    ASSERT_TRUE(r.created.exec);
    EXPECT_TRUE(Near(r.outputs.at(0), want));
  }
  // Rank 2: channels are dimension 1.
  const Floats x2 = Random({3, 17}, 136);
  const Result r = Run({node({3, 17})}, {{{0, 0}, x2}}, "nchw", "nchw");
  ASSERT_TRUE(r.created.exec);
  EXPECT_TRUE(Near(r.outputs.at(0), RefBatchNorm(x2, {3, 17}, s, b, mean, var, 1e-5f)));
}

TEST_F(OclBackendTest, SoftmaxOverTheLastAxis) {
  const Floats x = Random({3, 4, 19}, 141, -5.f, 5.f);
  std::vector<Node> chain;
  chain.push_back(Node("Softmax").In("x", {3, 4, 19}).Out("y", {3, 4, 19}));
  const Result r = Run(chain, {{{0, 0}, x}}, "nchw", "nchw", 13);
  ASSERT_TRUE(r.created.exec);
  EXPECT_TRUE(Near(r.outputs.at(0), RefSoftmax(x, 19)));

  // Rank 4, asked for nhwc: computed plain. Opset 11, axis 3 (the last).
  const Floats x4 = Random({2, 3, 4, 5}, 142, -5.f, 5.f);
  std::vector<Node> c4;
  c4.push_back(Node("Softmax").In("x", {2, 3, 4, 5}).Out("y", {2, 3, 4, 5}).AttrI("axis", 3));
  const Result r4 = Run(c4, {{{0, 0}, x4}}, "nhwc", "nhwc", 11);
  ASSERT_TRUE(r4.created.exec);
  EXPECT_EQ(r4.created.reads.at(0).layout, "nchw");
  EXPECT_EQ(r4.created.out_layouts, std::vector<std::string>{"nchw"});
  EXPECT_TRUE(Near(r4.outputs.at(0), RefSoftmax(x4, 5)));

  // Opset 11, axis 1: over the flattened [2, 60].
  c4[0] = Node("Softmax").In("x", {2, 3, 4, 5}).Out("y", {2, 3, 4, 5}).AttrI("axis", 1);
  const Result r1 = Run(c4, {{{0, 0}, x4}}, "nchw", "nchw", 11);
  ASSERT_TRUE(r1.created.exec);
  EXPECT_TRUE(Near(r1.outputs.at(0), RefSoftmax(x4, 60)));
}

// ---- reorders ----

TEST_F(OclBackendTest, ReordersRoundTripExactly) {
  for (const Dims& s : {Dims{2, 5, 3, 7}, Dims{1, 17, 4, 4}, Dims{1, 3, 1, 9}}) {
    const Floats x = Random(s, 151);
    for (const auto& a : kLayouts)
      for (const auto& b : kLayouts) {
        SCOPED_TRACE(a + ">" + b);
        Backend& be = *backend_;
        void* plain = be.Alloc(PhysicalBytes(Value{s}));
        void* in_a = be.Alloc(PhysicalBytes(Value{s, "f32", a}));
        void* in_b = be.Alloc(PhysicalBytes(Value{s, "f32", b}));
        void* back = be.Alloc(PhysicalBytes(Value{s}));
        be.Upload(x.data(), plain, x.size() * sizeof(float));
        be.CreateReorder(Value{s}, a)->Run({plain}, {in_a});
        be.CreateReorder(Value{s, "f32", a}, b)->Run({in_a}, {in_b});
        be.CreateReorder(Value{s, "f32", b}, "nchw")->Run({in_b}, {back});
        Floats got(x.size());
        be.Finish();
        be.Download(back, got.data(), got.size() * sizeof(float));
        EXPECT_EQ(got, x);
        for (void* p : {plain, in_a, in_b, back}) be.Free(p);
      }
  }
}

// ---- what the backend refuses ----

TEST_F(OclBackendTest, RefusesWhatItCannotRunWithAReason) {
  const Dims xs{1, 4, 6, 6}, ws{4, 4, 3, 3};
  struct Case {
    Node node;
    int64_t opset;
    const char* why;
  };
  std::vector<Case> cases;
  cases.push_back({Node("Conv").In("x", xs).In("w", ws).Out("y", {1, 4, 4, 4}), 17,
                   "Conv on ocl: weights are not a constant"});
  cases.push_back({Node("Softmax").In("x", xs).Out("y", xs).AttrI("axis", 1), 13,
                   "Softmax on ocl: axis 1 of rank 4"});
  cases.push_back({Node("Resize").In("x", xs).Out("y", xs), 17, "Resize on ocl:"});
  cases.push_back(
      {Node("MaxPool").In("x", xs).Out("y", xs).Out("i", xs).AttrInts("kernel_shape", {1, 1}), 17,
       "MaxPool on ocl: the Indices output"});
  Node i64("Add");
  i64.In("a", {3}).In("b", {3}).Out("c", {3});
  i64.inputs[0].dtype = i64.inputs[1].dtype = i64.outputs[0].dtype = "i64";
  cases.push_back({i64, 17, "Add on ocl: input 0 is i64"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.node.proto.op_type());
    const Created r = Prepare({c.node}, "nchw", "nchw", c.opset);
    EXPECT_FALSE(r.exec);
    EXPECT_EQ(r.why_not.rfind(c.why, 0), 0u) << r.why_not;
  }
}

TEST_F(OclBackendTest, DescribesItself) {
  EXPECT_EQ(backend_->Unit(), "ocl:0:0");
  EXPECT_EQ(backend_->Layouts(), (std::vector<std::string>{"nchw", "nhwc", "nc4hw4"}));
  EXPECT_THROW(MakeOclBackend("ocl:99:0"), std::runtime_error);
  EXPECT_THROW(MakeOclBackend("cpu"), std::runtime_error);
}

}  // namespace
}  // namespace layoutdb::runtime
