// make_models: writes the project's example models as ONNX files, built here rather than downloaded:
// ResNet-50 and MobileNetV2 as PyTorch exports them before fusion (Conv, BatchNormalization, Relu /
// Clip(0,6)), a BERT-style encoder block with the shape sub-graphs real exporters write (with
// LayerNorm decomposed, and with LayerNormalization of opset 17), a 12-layer BERT-base encoder whose
// layers share one set of weights (a ~800-node model that stays small on disk), and a small CNN whose
// weights live in Constant nodes as paddle2onnx writes them.
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
