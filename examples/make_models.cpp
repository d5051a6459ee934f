// make_models: writes the project's example models as ONNX files, built here rather than downloaded:
// ResNet-50 and MobileNetV2 as PyTorch exports them before fusion (Conv, BatchNormalization, Relu /
// Clip(0,6)), a BERT-style encoder block with the shape sub-graphs real exporters write (with
// LayerNorm decomposed, and with LayerNormalization of opset 17), a 12-layer BERT-base encoder whose
// layers share one set of weights (a ~800-node model that stays small on disk), a small CNN whose
// weights live in Constant nodes as paddle2onnx writes them, and two detectors with upsampling
// paths (Resize on constant scales, ConvTranspose): a PaddleOCR-style DB text detector with a
// dynamic input, as paddle2onnx writes it, and a small YOLO-style detector as PyTorch writes it.
//
// Weights are deterministic pseudo-random values (a fixed-seed xorshift), scaled like a trained
// network's (He-style uniform), so the files are identical on every build.
//
// Usage: make_models OUT_DIR
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <variant>
#include <vector>

namespace {

using Dim = std::variant<int64_t, std::string>;

class Builder {
 public:
  Builder(const std::string& name, int64_t opset, bool weights_in_constants = false)
      : weights_in_constants_(weights_in_constants) {
    model_.set_ir_version(opset >= 15 ? 8 : 7);
    model_.set_producer_name("layoutdb make_models");
    model_.set_producer_version("1");
    auto* op = model_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    graph_ = model_.mutable_graph();
    graph_->set_name(name);
  }

  void Input(const std::string& name, const std::vector<Dim>& dims) {
    Declare(graph_->add_input(), name, dims);
  }
  void Output(const std::string& name, const std::vector<Dim>& dims) {
    Declare(graph_->add_output(), name, dims);
  }

  // A float weight with uniform values in [-scale, scale] (or `fill` + noise when fill != 0).
  std::string Weight(const std::string& name, const std::vector<int64_t>& dims, float scale,
                     float fill = 0.0f) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::string raw(static_cast<size_t>(n) * 4, '\0');
    for (int64_t k = 0; k < n; ++k) {
      const float v = fill + scale * (2.0f * Uniform() - 1.0f);
      std::memcpy(&raw[static_cast<size_t>(k) * 4], &v, 4);
    }
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t.add_dims(d);
    t.set_raw_data(std::move(raw));
    return AddConstant(std::move(t));
  }
  std::string Scalar(const std::string& name, float v) {
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_float_data(v);
    return AddConstant(std::move(t));
  }
  // A 1-D float tensor of exact values (Resize scales, an empty roi, [1]-shaped operands).
  std::string Floats(const std::string& name, const std::vector<float>& v) {
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(static_cast<int64_t>(v.size()));
    for (float x : v) t.add_float_data(x);
    return AddConstant(std::move(t));
  }
  std::string Ints(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto t;
    t.set_name(name);
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t.add_int64_data(x);
    return AddConstant(std::move(t));
  }

  struct Attr {
    std::string name;
    std::variant<int64_t, float, std::string, std::vector<int64_t>> value;
  };

  // Adds a node; returns its first output's name (`out` or a fresh one).
  std::string Op(const std::string& op, const std::vector<std::string>& inputs,
                 const std::vector<Attr>& attrs = {}, std::string out = "", int outputs = 1) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + std::to_string(counter_++));
    for (const auto& i : inputs) n->add_input(i);
    if (out.empty()) out = n->name() + "_out";
    n->add_output(out);
    for (int k = 1; k < outputs; ++k) n->add_output(out + "_" + std::to_string(k));
    for (const auto& a : attrs) {
      auto* pa = n->add_attribute();
      pa->set_name(a.name);
      if (auto* i = std::get_if<int64_t>(&a.value)) {
        pa->set_type(onnx::AttributeProto::INT);
        pa->set_i(*i);
      } else if (auto* f = std::get_if<float>(&a.value)) {
        pa->set_type(onnx::AttributeProto::FLOAT);
        pa->set_f(*f);
      } else if (auto* s = std::get_if<std::string>(&a.value)) {
        pa->set_type(onnx::AttributeProto::STRING);
        pa->set_s(*s);
      } else {
        pa->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : std::get<std::vector<int64_t>>(a.value)) pa->add_ints(x);
      }
    }
    return out;
  }

  std::string Fresh(const std::string& prefix) { return prefix + "_" + std::to_string(counter_++); }

  void Write(const std::filesystem::path& path) {
    const auto tmp = path.string() + ".partial";
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      if (!f || !model_.SerializeToOstream(&f)) throw std::runtime_error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path);  // a half-written model never carries the final name
  }

 private:
  void Declare(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<Dim>& dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* sh = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* pd = sh->add_dim();
      if (auto* v = std::get_if<int64_t>(&d)) pd->set_dim_value(*v);
      else pd->set_dim_param(std::get<std::string>(d));
    }
  }

  std::string AddConstant(onnx::TensorProto t) {
    const std::string name = t.name();
    if (!weights_in_constants_) {
      *graph_->add_initializer() = std::move(t);
      return name;
    }
    auto* n = graph_->add_node();
    n->set_op_type("Constant");
    n->set_name("Constant_" + std::to_string(counter_++));
    n->add_output(name);
    auto* a = n->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    t.clear_name();
    *a->mutable_t() = std::move(t);
    return name;
  }

  float Uniform() {  // xorshift64*, fixed seed: identical files on every build
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<float>((state_ * 2685821657736338717ull) >> 40) / 16777216.0f;
  }

  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
  bool weights_in_constants_;
  uint64_t state_ = 0x9E3779B97F4A7C15ull;
  int counter_ = 0;
};

using Attr = Builder::Attr;
using Ints = std::vector<int64_t>;

// Conv (no bias, as PyTorch exports a Conv followed by BatchNorm) + BatchNormalization.
std::string ConvBn(Builder& b, const std::string& x, int64_t cin, int64_t cout, int64_t k,
                   int64_t stride, int64_t groups = 1) {
  const std::string p = b.Fresh("conv");
  const float scale = std::sqrt(6.0f / static_cast<float>(cin / groups * k * k));
  const auto w = b.Weight(p + ".weight", {cout, cin / groups, k, k}, scale);
  const int64_t pad = k / 2;
  auto y = b.Op("Conv", {x, w},
                {{"dilations", Ints{1, 1}}, {"group", groups}, {"kernel_shape", Ints{k, k}},
                 {"pads", Ints{pad, pad, pad, pad}}, {"strides", Ints{stride, stride}}});
  const auto g = b.Weight(p + ".bn.weight", {cout}, 0.1f, 1.0f);
  const auto be = b.Weight(p + ".bn.bias", {cout}, 0.1f);
  const auto mu = b.Weight(p + ".bn.running_mean", {cout}, 0.1f);
  const auto var = b.Weight(p + ".bn.running_var", {cout}, 0.1f, 1.0f);
  return b.Op("BatchNormalization", {y, g, be, mu, var}, {{"epsilon", 1e-5f}, {"momentum", 0.9f}});
}

void ResNet50(const std::filesystem::path& out) {
  Builder b("resnet50", 13);
  b.Input("input", {int64_t{1}, int64_t{3}, int64_t{224}, int64_t{224}});
  auto x = b.Op("Relu", {ConvBn(b, "input", 3, 64, 7, 2)});
  x = b.Op("MaxPool", {x}, {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}},
                            {"strides", Ints{2, 2}}});
  int64_t cin = 64;
  const int64_t blocks[4] = {3, 4, 6, 3}, widths[4] = {64, 128, 256, 512};
  for (int l = 0; l < 4; ++l) {
    for (int64_t i = 0; i < blocks[l]; ++i) {
      const int64_t w = widths[l], stride = (i == 0 && l > 0) ? 2 : 1;
      auto y = b.Op("Relu", {ConvBn(b, x, cin, w, 1, 1)});
      y = b.Op("Relu", {ConvBn(b, y, w, w, 3, stride)});  // torchvision v1.5: stride on the 3x3
      y = ConvBn(b, y, w, w * 4, 1, 1);
      std::string shortcut = x;
      if (i == 0) shortcut = ConvBn(b, x, cin, w * 4, 1, stride);  // downsample
      x = b.Op("Relu", {b.Op("Add", {y, shortcut})});
      cin = w * 4;
    }
  }
  x = b.Op("GlobalAveragePool", {x});
  x = b.Op("Flatten", {x}, {{"axis", int64_t{1}}});
  const auto fw = b.Weight("fc.weight", {1000, 2048}, std::sqrt(6.0f / 2048));
  const auto fb = b.Weight("fc.bias", {1000}, 0.01f);
  b.Op("Gemm", {x, fw, fb}, {{"alpha", 1.0f}, {"beta", 1.0f}, {"transB", int64_t{1}}}, "output");
  b.Output("output", {int64_t{1}, int64_t{1000}});
  b.Write(out);
}

void MobileNetV2(const std::filesystem::path& out) {
  Builder b("mobilenetv2", 13);
  b.Input("input", {int64_t{1}, int64_t{3}, int64_t{224}, int64_t{224}});
  // Clip since opset 11 takes min and max as inputs (PyTorch writes them as constants).
  const auto lo = b.Scalar("relu6.min", 0.0f), hi = b.Scalar("relu6.max", 6.0f);
  auto relu6 = [&](const std::string& x) { return b.Op("Clip", {x, lo, hi}); };
  auto x = relu6(ConvBn(b, "input", 3, 32, 3, 2));
  int64_t cin = 32;
  // t (expansion), c (channels), n (repeats), s (first stride)
  const int64_t settings[7][4] = {{1, 16, 1, 1},  {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                  {6, 96, 3, 1},  {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& s : settings) {
    for (int64_t i = 0; i < s[2]; ++i) {
      const int64_t stride = i == 0 ? s[3] : 1, hidden = cin * s[0], cout = s[1];
      std::string y = x;
      if (s[0] != 1) y = relu6(ConvBn(b, y, cin, hidden, 1, 1));
      y = relu6(ConvBn(b, y, hidden, hidden, 3, stride, hidden));  // depthwise
      y = ConvBn(b, y, hidden, cout, 1, 1);                         // linear bottleneck
      if (stride == 1 && cin == cout) y = b.Op("Add", {x, y});
      x = y;
      cin = cout;
    }
  }
  x = relu6(ConvBn(b, x, cin, 1280, 1, 1));
  x = b.Op("GlobalAveragePool", {x});
  x = b.Op("Flatten", {x}, {{"axis", int64_t{1}}});
  const auto fw = b.Weight("classifier.weight", {1000, 1280}, std::sqrt(6.0f / 1280));
  const auto fb = b.Weight("classifier.bias", {1000}, 0.01f);
  b.Op("Gemm", {x, fw, fb}, {{"alpha", 1.0f}, {"beta", 1.0f}, {"transB", int64_t{1}}}, "output");
  b.Output("output", {int64_t{1}, int64_t{1000}});
  b.Write(out);
}

struct BertWeights {
  std::string wq, bq, wk, bk, wv, bv, wo, bo, ln1_g, ln1_b, w1, b1, w2, b2, ln2_g, ln2_b;
};

constexpr int64_t kHidden = 768, kHeads = 12, kHeadDim = 64, kFfn = 3072;

BertWeights MakeBertWeights(Builder& b, const std::string& p) {
  BertWeights w;
  const float s = std::sqrt(6.0f / kHidden), s2 = std::sqrt(6.0f / kFfn);
  w.wq = b.Weight(p + "attention.query.weight", {kHidden, kHidden}, s);
  w.bq = b.Weight(p + "attention.query.bias", {kHidden}, 0.02f);
  w.wk = b.Weight(p + "attention.key.weight", {kHidden, kHidden}, s);
  w.bk = b.Weight(p + "attention.key.bias", {kHidden}, 0.02f);
  w.wv = b.Weight(p + "attention.value.weight", {kHidden, kHidden}, s);
  w.bv = b.Weight(p + "attention.value.bias", {kHidden}, 0.02f);
  w.wo = b.Weight(p + "attention.output.weight", {kHidden, kHidden}, s);
  w.bo = b.Weight(p + "attention.output.bias", {kHidden}, 0.02f);
  w.ln1_g = b.Weight(p + "attention.LayerNorm.weight", {kHidden}, 0.05f, 1.0f);
  w.ln1_b = b.Weight(p + "attention.LayerNorm.bias", {kHidden}, 0.05f);
  w.w1 = b.Weight(p + "intermediate.dense.weight", {kHidden, kFfn}, s);
  w.b1 = b.Weight(p + "intermediate.dense.bias", {kFfn}, 0.02f);
  w.w2 = b.Weight(p + "output.dense.weight", {kFfn, kHidden}, s2);
  w.b2 = b.Weight(p + "output.dense.bias", {kHidden}, 0.02f);
  w.ln2_g = b.Weight(p + "output.LayerNorm.weight", {kHidden}, 0.05f, 1.0f);
  w.ln2_b = b.Weight(p + "output.LayerNorm.bias", {kHidden}, 0.05f);
  return w;
}

std::string LayerNorm(Builder& b, const std::string& x, const std::string& g, const std::string& be,
                      bool fused) {
  if (fused)
    return b.Op("LayerNormalization", {x, g, be}, {{"axis", int64_t{-1}}, {"epsilon", 1e-12f}});
  // As PyTorch exports nn.LayerNorm before opset 17.
  const auto mean = b.Op("ReduceMean", {x}, {{"axes", Ints{-1}}});
  const auto d = b.Op("Sub", {x, mean});
  const auto sq = b.Op("Pow", {d, b.Scalar(b.Fresh("two"), 2.0f)});
  const auto var = b.Op("ReduceMean", {sq}, {{"axes", Ints{-1}}});
  const auto sd = b.Op("Sqrt", {b.Op("Add", {var, b.Scalar(b.Fresh("eps"), 1e-12f)})});
  const auto n = b.Op("Div", {d, sd});
  return b.Op("Add", {b.Op("Mul", {n, g}), be});
}

// [batch, seq, 768] -> [batch, seq, 12, 64] with the shape taken from the tensor at run time, the
// Shape -> Gather -> Unsqueeze -> Concat chain PyTorch writes for x.view(x.size(0), x.size(1), h, d).
std::string SplitHeads(Builder& b, const std::string& x) {
  const auto shape = b.Op("Shape", {x});
  const auto bs = b.Op("Gather", {shape, b.Ints(b.Fresh("idx0"), {0})}, {{"axis", int64_t{0}}});
  const auto sl = b.Op("Gather", {shape, b.Ints(b.Fresh("idx1"), {1})}, {{"axis", int64_t{0}}});
  // Gather with a 1-element index gives [1]; PyTorch gathers a scalar and unsqueezes: do the same.
  const auto bs0 = b.Op("Squeeze", {bs, b.Ints(b.Fresh("ax"), {0})});
  const auto sl0 = b.Op("Squeeze", {sl, b.Ints(b.Fresh("ax"), {0})});
  const auto u0 = b.Op("Unsqueeze", {bs0, b.Ints(b.Fresh("ax"), {0})});
  const auto u1 = b.Op("Unsqueeze", {sl0, b.Ints(b.Fresh("ax"), {0})});
  const auto target = b.Op("Concat", {u0, u1, b.Ints(b.Fresh("heads"), {kHeads}),
                                      b.Ints(b.Fresh("hdim"), {kHeadDim})},
                           {{"axis", int64_t{0}}});
  return b.Op("Reshape", {x, target});
}

std::string BertLayer(Builder& b, const std::string& x, const BertWeights& w, bool fused_ln) {
  auto linear = [&](const std::string& in, const std::string& wt, const std::string& bias) {
    return b.Op("Add", {b.Op("MatMul", {in, wt}), bias});
  };
  const auto q = b.Op("Transpose", {SplitHeads(b, linear(x, w.wq, w.bq))}, {{"perm", Ints{0, 2, 1, 3}}});
  const auto k = b.Op("Transpose", {SplitHeads(b, linear(x, w.wk, w.bk))}, {{"perm", Ints{0, 2, 3, 1}}});
  const auto v = b.Op("Transpose", {SplitHeads(b, linear(x, w.wv, w.bv))}, {{"perm", Ints{0, 2, 1, 3}}});
  auto scores = b.Op("MatMul", {q, k});
  scores = b.Op("Div", {scores, b.Scalar(b.Fresh("sqrt_d"), 8.0f)});
  const auto probs = b.Op("Softmax", {scores}, {{"axis", int64_t{-1}}});
  auto ctx = b.Op("Transpose", {b.Op("MatMul", {probs, v})}, {{"perm", Ints{0, 2, 1, 3}}});
  // Merge heads back: [batch, seq, 768] from the runtime shape again.
  const auto shape = b.Op("Shape", {ctx});
  const auto bs = b.Op("Gather", {shape, b.Ints(b.Fresh("idx0"), {0})}, {{"axis", int64_t{0}}});
  const auto sl = b.Op("Gather", {shape, b.Ints(b.Fresh("idx1"), {1})}, {{"axis", int64_t{0}}});
  const auto target = b.Op("Concat", {bs, sl, b.Ints(b.Fresh("hidden"), {kHidden})}, {{"axis", int64_t{0}}});
  ctx = b.Op("Reshape", {ctx, target});
  auto h = b.Op("Add", {linear(ctx, w.wo, w.bo), x});  // residual
  h = LayerNorm(b, h, w.ln1_g, w.ln1_b, fused_ln);
  // GELU as BERT's exporters write it: 0.5 * x * (1 + erf(x / sqrt(2))).
  const auto f = linear(h, w.w1, w.b1);
  const auto erf = b.Op("Erf", {b.Op("Div", {f, b.Scalar(b.Fresh("sqrt2"), 1.4142135f)})});
  const auto gelu = b.Op("Mul", {b.Op("Mul", {f, b.Op("Add", {erf, b.Scalar(b.Fresh("one"), 1.0f)})}),
                                 b.Scalar(b.Fresh("half"), 0.5f)});
  auto o = b.Op("Add", {linear(gelu, w.w2, w.b2), h});  // residual
  return LayerNorm(b, o, w.ln2_g, w.ln2_b, fused_ln);
}

// A BERT encoder: dynamic [batch, seq, 768] input (fix it with --input hidden_states:1,128,768).
void Bert(const std::filesystem::path& out, const std::string& name, int64_t opset, int layers,
          bool fused_ln) {
  Builder b(name, opset);
  b.Input("hidden_states", {std::string("batch"), std::string("sequence"), kHidden});
  // Layers share one set of weights: the graph is a real encoder's, the file a single layer's size.
  const BertWeights w = MakeBertWeights(b, "encoder.");
  std::string x = "hidden_states";
  for (int l = 0; l < layers; ++l) x = BertLayer(b, x, w, fused_ln);
  b.Op("Identity", {x}, {}, "last_hidden_state");
  b.Output("last_hidden_state", {std::string("batch"), std::string("sequence"), kHidden});
  b.Write(out);
}

// A small CNN as paddle2onnx writes it (opset 9): every weight a Constant node, Clip with min/max
// attributes, Reshape to a constant shape.
void PaddleCnn(const std::filesystem::path& out) {
  Builder b("paddle_cnn", 9, /*weights_in_constants=*/true);
  b.Input("image", {int64_t{1}, int64_t{3}, int64_t{64}, int64_t{64}});
  auto relu6 = [&](const std::string& x) {
    return b.Op("Clip", {x}, {{"min", 0.0f}, {"max", 6.0f}});
  };
  auto x = relu6(ConvBn(b, "image", 3, 16, 3, 2));
  x = b.Op("MaxPool", {x}, {{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  auto y = b.Op("Relu", {ConvBn(b, x, 16, 16, 3, 1)});
  y = ConvBn(b, y, 16, 16, 3, 1);
  x = b.Op("Relu", {b.Op("Add", {x, y})});
  x = relu6(ConvBn(b, x, 16, 32, 3, 2));
  x = b.Op("GlobalAveragePool", {x});
  x = b.Op("Reshape", {x, b.Ints("flatten_shape", {1, -1})});
  const auto fw = b.Weight("fc_w", {32, 10}, std::sqrt(6.0f / 32));
  const auto fb = b.Weight("fc_b", {10}, 0.01f);
  x = b.Op("Add", {b.Op("MatMul", {x, fw}), fb});
  b.Op("Softmax", {x}, {{"axis", int64_t{1}}}, "probs");
  b.Output("probs", {int64_t{1}, int64_t{10}});
  b.Write(out);
}

// Conv with a bias input (no BatchNormalization after it).
std::string ConvBias(Builder& b, const std::string& x, int64_t cin, int64_t cout, int64_t k,
                     int64_t stride) {
  const std::string p = b.Fresh("conv");
  const auto w = b.Weight(p + ".weight", {cout, cin, k, k}, std::sqrt(6.0f / (cin * k * k)));
  const auto bias = b.Weight(p + ".bias", {cout}, 0.01f);
  const int64_t pad = k / 2;
  return b.Op("Conv", {x, w, bias},
              {{"dilations", Ints{1, 1}}, {"group", int64_t{1}}, {"kernel_shape", Ints{k, k}},
               {"pads", Ints{pad, pad, pad, pad}}, {"strides", Ints{stride, stride}}});
}

// ConvTranspose (kernel 2, stride 2: doubles H and W) with a bias.
std::string Deconv2x(Builder& b, const std::string& x, int64_t cin, int64_t cout) {
  const std::string p = b.Fresh("deconv");
  const auto w = b.Weight(p + ".weight", {cin, cout, 2, 2}, std::sqrt(6.0f / (cin * 4)));
  const auto bias = b.Weight(p + ".bias", {cout}, 0.01f);
  return b.Op("ConvTranspose", {x, w, bias},
              {{"dilations", Ints{1, 1}}, {"group", int64_t{1}}, {"kernel_shape", Ints{2, 2}},
               {"pads", Ints{0, 0, 0, 0}}, {"strides", Ints{2, 2}}});
}

// Nearest-neighbour upsampling by `factor` in H and W as exporters write it from opset 11 on:
// Resize(X, roi, scales) with an empty roi and constant scales (Constant nodes when the builder
// keeps weights in constants, as paddle2onnx does; initializers otherwise, as PyTorch does).
std::string Upsample(Builder& b, const std::string& x, float factor) {
  const auto roi = b.Floats(b.Fresh("resize.roi"), {});
  const auto scales = b.Floats(b.Fresh("resize.scales"), {1.0f, 1.0f, factor, factor});
  return b.Op("Resize", {x, roi, scales},
              {{"coordinate_transformation_mode", std::string("asymmetric")},
               {"mode", std::string("nearest")},
               {"nearest_mode", std::string("floor")}});
}

// hard_swish as paddle2onnx writes it below opset 14 (which has no HardSwish):
// x * Clip(x + 3, 0, 6) / 6, each constant its own Constant node.
std::string PaddleHardSwish(Builder& b, const std::string& x) {
  const auto shifted = b.Op("Add", {x, b.Floats(b.Fresh("hs.offset"), {3.0f})});
  const auto clipped = b.Op("Clip", {shifted, b.Scalar(b.Fresh("hs.min"), 0.0f),
                                     b.Scalar(b.Fresh("hs.max"), 6.0f)});
  return b.Op("Div", {b.Op("Mul", {x, clipped}), b.Floats(b.Fresh("hs.scale"), {6.0f})});
}

// A text detector as PaddleOCR's DB-net (det_mv3_db) comes out of paddle2onnx at opset 11: every
// weight in a Constant node, a dynamic [?, 3, ?, ?] input, a MobileNetV3-small backbone with
// squeeze-excitation, a DB-FPN neck upsampling with Resize on constant scales, and a DB head with
// two ConvTranspose. Valid for inputs whose H and W are multiples of 32 (fix them with
// --input x:1,3,640,640).
void PaddleDet(const std::filesystem::path& out) {
  Builder b("paddle_det", 11, /*weights_in_constants=*/true);
  b.Input("x", {std::string("p2o.DynamicDimension.0"), int64_t{3},
                std::string("p2o.DynamicDimension.1"), std::string("p2o.DynamicDimension.2")});
  auto act = [&](const std::string& x, bool hardswish) {
    return hardswish ? PaddleHardSwish(b, x) : b.Op("Relu", {x});
  };
  // Squeeze-excitation: channel weights from the pooled activation, Conv -> Relu -> Conv ->
  // HardSigmoid (PaddleOCR's slope 0.2, offset 0.5), multiplied back onto the activation.
  auto se = [&](const std::string& x, int64_t c) {
    auto s = b.Op("GlobalAveragePool", {x});
    s = b.Op("Relu", {ConvBias(b, s, c, c / 4, 1, 1)});
    s = ConvBias(b, s, c / 4, c, 1, 1);
    s = b.Op("HardSigmoid", {s}, {{"alpha", 0.2f}, {"beta", 0.5f}});
    return b.Op("Mul", {x, s});
  };
  auto x = act(ConvBn(b, "x", 3, 16, 3, 2), true);  // stride 2
  // MobileNetV3-small: kernel, expansion, output channels, SE, hard_swish, stride.
  struct Unit {
    int64_t k, exp, c;
    bool se, hs;
    int64_t s;
  };
  const Unit units[] = {{3, 16, 16, true, false, 2},   {3, 72, 24, false, false, 2},
                        {3, 88, 24, false, false, 1},  {5, 96, 40, true, true, 2},
                        {5, 240, 40, true, true, 1},   {5, 120, 48, true, true, 1},
                        {5, 144, 48, true, true, 1},   {5, 288, 96, true, true, 2},
                        {5, 576, 96, true, true, 1}};
  int64_t cin = 16;
  // The feature maps the neck reads, at strides 4, 8, 16 and 32: the last unit before each
  // downsampling.
  std::vector<std::pair<std::string, int64_t>> features;
  for (size_t u = 0; u < std::size(units); ++u) {
    const Unit& un = units[u];
    if (un.s == 2 && u > 0) features.emplace_back(x, cin);
    std::string y = act(ConvBn(b, x, cin, un.exp, 1, 1), un.hs);
    y = act(ConvBn(b, y, un.exp, un.exp, un.k, un.s, un.exp), un.hs);  // depthwise
    if (un.se) y = se(y, un.exp);
    y = ConvBn(b, y, un.exp, un.c, 1, 1);
    if (un.s == 1 && cin == un.c) y = b.Op("Add", {x, y});
    x = y;
    cin = un.c;
  }
  features.emplace_back(x, cin);
  // DB-FPN: 1x1 lateral convs to 96 channels, top-down sums with 2x upsampling, 3x3 convs to 24
  // channels, everything upsampled to stride 4 and concatenated.
  constexpr int64_t kNeck = 96;
  auto lateral = [&](int level) {
    const auto& [f, c] = features[level];
    const std::string p = b.Fresh("neck.in");
    const auto w = b.Weight(p + ".weight", {kNeck, c, 1, 1}, std::sqrt(6.0f / c));
    return b.Op("Conv", {f, w}, {{"kernel_shape", Ints{1, 1}}, {"strides", Ints{1, 1}}});
  };
  const auto in2 = lateral(0), in3 = lateral(1), in4 = lateral(2), in5 = lateral(3);
  const auto out4 = b.Op("Add", {in4, Upsample(b, in5, 2.0f)});
  const auto out3 = b.Op("Add", {in3, Upsample(b, out4, 2.0f)});
  const auto out2 = b.Op("Add", {in2, Upsample(b, out3, 2.0f)});
  auto smooth = [&](const std::string& f) {
    const std::string p = b.Fresh("neck.p");
    const auto w = b.Weight(p + ".weight", {kNeck / 4, kNeck, 3, 3}, std::sqrt(6.0f / (kNeck * 9)));
    return b.Op("Conv", {f, w}, {{"kernel_shape", Ints{3, 3}}, {"pads", Ints{1, 1, 1, 1}},
                                 {"strides", Ints{1, 1}}});
  };
  const auto p5 = Upsample(b, smooth(in5), 8.0f), p4 = Upsample(b, smooth(out4), 4.0f),
             p3 = Upsample(b, smooth(out3), 2.0f), p2 = smooth(out2);
  const auto fuse = b.Op("Concat", {p5, p4, p3, p2}, {{"axis", int64_t{1}}});
  // DB head (inference: the shrink map only): back to the input's resolution.
  auto h = b.Op("Relu", {ConvBn(b, fuse, kNeck, kNeck / 4, 3, 1)});
  h = Deconv2x(b, h, kNeck / 4, kNeck / 4);
  const std::string p = b.Fresh("head.bn");
  const auto g = b.Weight(p + ".weight", {kNeck / 4}, 0.1f, 1.0f);
  const auto be = b.Weight(p + ".bias", {kNeck / 4}, 0.1f);
  const auto mu = b.Weight(p + ".mean", {kNeck / 4}, 0.1f);
  const auto var = b.Weight(p + ".var", {kNeck / 4}, 0.1f, 1.0f);
  h = b.Op("BatchNormalization", {h, g, be, mu, var}, {{"epsilon", 1e-5f}, {"momentum", 0.9f}});
  h = b.Op("Relu", {h});
  h = Deconv2x(b, h, kNeck / 4, 1);
  b.Op("Sigmoid", {h}, {}, "sigmoid_0.tmp_0");
  b.Output("sigmoid_0.tmp_0", {std::string("p2o.DynamicDimension.0"), int64_t{1},
                               std::string("p2o.DynamicDimension.1"),
                               std::string("p2o.DynamicDimension.2")});
  b.Write(out);
}

// A small YOLO-style detector as PyTorch exports it at opset 13 (initializer weights, static
// [1, 3, 416, 416] input): Conv+BN+LeakyRelu(0.1) blocks, residual blocks, an SPPF (three chained
// MaxPool 5x5 stride 1 and a Concat), a Resize upsampling path concatenated with the stride-8 skip,
// and heads at strides 16 and 4 (the latter after a ConvTranspose), 3 anchors x (5 + 20 classes).
void YoloDet(const std::filesystem::path& out) {
  Builder b("yolo_det", 13);
  b.Input("images", {int64_t{1}, int64_t{3}, int64_t{416}, int64_t{416}});
  auto cbl = [&](const std::string& x, int64_t cin, int64_t cout, int64_t k, int64_t s) {
    return b.Op("LeakyRelu", {ConvBn(b, x, cin, cout, k, s)}, {{"alpha", 0.1f}});
  };
  auto residual = [&](const std::string& x, int64_t c) {
    return b.Op("Add", {x, cbl(cbl(x, c, c / 2, 1, 1), c / 2, c, 3, 1)});
  };
  auto x = cbl("images", 3, 16, 3, 1);
  x = residual(cbl(x, 16, 32, 3, 2), 32);    // 208
  x = residual(cbl(x, 32, 64, 3, 2), 64);    // 104
  const auto skip = cbl(x, 64, 128, 3, 2);   // 52
  x = cbl(skip, 128, 256, 3, 2);             // 26
  // SPPF: three chained 5x5 max pools see 5, 9 and 13 pixel windows.
  x = cbl(x, 256, 128, 1, 1);
  auto pool = [&](const std::string& in) {
    return b.Op("MaxPool", {in}, {{"kernel_shape", Ints{5, 5}}, {"pads", Ints{2, 2, 2, 2}},
                                  {"strides", Ints{1, 1}}});
  };
  const auto m1 = pool(x), m2 = pool(m1), m3 = pool(m2);
  x = cbl(b.Op("Concat", {x, m1, m2, m3}, {{"axis", int64_t{1}}}), 512, 256, 1, 1);
  constexpr int64_t kOut = 3 * (5 + 20);
  b.Op("Conv", {x, b.Weight("head16.weight", {kOut, 256, 1, 1}, std::sqrt(6.0f / 256)),
                b.Weight("head16.bias", {kOut}, 0.01f)},
       {{"kernel_shape", Ints{1, 1}}, {"strides", Ints{1, 1}}}, "output_s16");
  x = cbl(x, 256, 128, 1, 1);
  x = Upsample(b, x, 2.0f);  // 52
  x = cbl(b.Op("Concat", {x, skip}, {{"axis", int64_t{1}}}), 256, 128, 3, 1);
  x = b.Op("LeakyRelu", {Deconv2x(b, x, 128, 64)}, {{"alpha", 0.1f}});  // 104
  b.Op("Conv", {x, b.Weight("head4.weight", {kOut, 64, 1, 1}, std::sqrt(6.0f / 64)),
                b.Weight("head4.bias", {kOut}, 0.01f)},
       {{"kernel_shape", Ints{1, 1}}, {"strides", Ints{1, 1}}}, "output_s4");
  b.Output("output_s16", {int64_t{1}, kOut, int64_t{26}, int64_t{26}});
  b.Output("output_s4", {int64_t{1}, kOut, int64_t{104}, int64_t{104}});
  b.Write(out);
}

}  // namespace

int main(int argc, char** argv) noexcept {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_models OUT_DIR\n");
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    ResNet50(dir / "resnet50.onnx");
    MobileNetV2(dir / "mobilenetv2.onnx");
    Bert(dir / "bert_block.onnx", "bert_block", 13, 1, false);
    Bert(dir / "bert_block_ln17.onnx", "bert_block_ln17", 17, 1, true);
    Bert(dir / "bert_base_shared.onnx", "bert_base_shared", 13, 12, false);
    PaddleCnn(dir / "paddle_cnn.onnx");
    PaddleDet(dir / "paddle_det.onnx");
    YoloDet(dir / "yolo_det.onnx");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
