// Plain f32 reference implementations (see reference.h for the tensor conventions).
#include "reference.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace layoutdb::microbench {
namespace {

// A counter-based generator (splitmix64 of seed, tensor and index): the same value for the same
// (seed, tensor, index) on every platform and standard library, unlike <random>'s distributions.
float Uniform(uint32_t seed, uint32_t tensor, uint64_t i, float lo, float hi) {
  uint64_t z = (static_cast<uint64_t>(seed) << 40) ^ (static_cast<uint64_t>(tensor) << 56) ^ i;
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  const double u = static_cast<double>(z >> 11) / static_cast<double>(1ull << 53);  // [0, 1)
  return static_cast<float>(lo + (hi - lo) * u);
}

void Fill(std::vector<float>& v, uint32_t seed, uint32_t tensor, float lo = -1.f, float hi = 1.f) {
  for (size_t i = 0; i < v.size(); ++i) v[i] = Uniform(seed, tensor, i, lo, hi);
}

void Conv2d(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), ic = p.Get("ic"), ih = p.Get("ih"), iw = p.Get("iw");
  const int64_t oc = p.Get("oc"), kh = p.Get("kh"), kw = p.Get("kw"), sh = p.Get("sh"),
                sw = p.Get("sw"), ph = p.Get("ph"), pw = p.Get("pw"), dh = p.Get("dh"),
                dw = p.Get("dw"), g = p.Get("g");
  const int64_t oh = p.Oh(), ow = p.Ow(), icg = ic / g, ocg = oc / g;
  // One output plane at a time, accumulated in double, one weight tap at a time: the same sum as the
  // textbook loop nest, in an order the compiler can vectorise (the sweep checks large convolutions).
  std::vector<double> acc(oh * ow);
  for (int64_t n = 0; n < mb; ++n)
    for (int64_t o = 0; o < oc; ++o) {
      const int64_t gr = o / ocg;
      std::fill(acc.begin(), acc.end(), t.bias.empty() ? 0.0 : t.bias[o]);
      for (int64_t c = 0; c < icg; ++c) {
        const float* src = &t.src[(n * ic + gr * icg + c) * ih * iw];
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx) {
            const double w = t.wei[((o * icg + c) * kh + ky) * kw + kx];
            // Output columns whose input column x * sw - pw + kx * dw lies inside [0, iw).
            const int64_t off = kx * dw - pw;
            const int64_t x0 = off >= 0 ? 0 : (-off + sw - 1) / sw;
            const int64_t x1 = std::min(ow, iw - off > 0 ? (iw - off + sw - 1) / sw : 0);
            for (int64_t y = 0; y < oh; ++y) {
              const int64_t iy = y * sh - ph + ky * dh;
              if (iy < 0 || iy >= ih) continue;
              const float* row = src + iy * iw + off;
              double* out = &acc[y * ow];
              for (int64_t x = x0; x < x1; ++x) out[x] += w * row[x * sw];
            }
          }
      }
      float* dst = &t.dst[(n * oc + o) * oh * ow];
      for (int64_t i = 0; i < oh * ow; ++i) dst[i] = static_cast<float>(acc[i]);
    }
}

void Matmul(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), m = p.Get("m"), n = p.Get("n"), k = p.Get("k");
  std::vector<double> row(n);
  for (int64_t b = 0; b < mb; ++b)
    for (int64_t i = 0; i < m; ++i) {
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t l = 0; l < k; ++l) {
        const double a = t.src[(b * m + i) * k + l];
        const float* w = &t.wei[(b * k + l) * n];
        for (int64_t j = 0; j < n; ++j) row[j] += a * w[j];
      }
      for (int64_t j = 0; j < n; ++j) t.dst[(b * m + i) * n + j] = static_cast<float>(row[j]);
    }
}

void InnerProduct(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), ic = p.Get("ic"), oc = p.Get("oc");
  for (int64_t b = 0; b < mb; ++b)
    for (int64_t o = 0; o < oc; ++o) {
      double acc = t.bias.empty() ? 0.0 : t.bias[o];
      for (int64_t c = 0; c < ic; ++c) acc += static_cast<double>(t.src[b * ic + c]) * t.wei[o * ic + c];
      t.dst[b * oc + o] = static_cast<float>(acc);
    }
}

void Pool(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), ic = p.Get("ic"), ih = p.Get("ih"), iw = p.Get("iw");
  const int64_t kh = p.Get("kh"), kw = p.Get("kw"), sh = p.Get("sh"), sw = p.Get("sw"),
                ph = p.Get("ph"), pw = p.Get("pw");
  const int64_t oh = p.Oh(), ow = p.Ow();
  const bool is_max = p.alg() == "max";
  for (int64_t n = 0; n < mb; ++n)
    for (int64_t c = 0; c < ic; ++c)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t x = 0; x < ow; ++x) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          int64_t count = 0;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = y * sh - ph + ky;
            if (iy < 0 || iy >= ih) continue;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = x * sw - pw + kx;
              if (ix < 0 || ix >= iw) continue;
              const float v = t.src[((n * ic + c) * ih + iy) * iw + ix];
              acc = is_max ? std::max(acc, static_cast<double>(v)) : acc + v;
              ++count;
            }
          }
          // A window entirely in the padding cannot happen: padding < kernel (Problem::Validate).
          t.dst[((n * ic + c) * oh + y) * ow + x] =
              static_cast<float>(is_max ? acc : acc / std::max<int64_t>(count, 1));
        }
}

}  // namespace

float RefEltwise(const std::string& alg, float x) {
  if (alg == "relu") return std::max(x, 0.f);
  if (alg == "clip") return std::min(std::max(x, 0.f), 6.f);
  if (alg == "hardswish") return x * std::min(std::max(x + 3.f, 0.f), 6.f) / 6.f;
  if (alg == "hardsigmoid") return std::max(0.f, std::min(1.f, x / 6.f + 0.5f));
  if (alg == "sigmoid") return static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(x))));
  if (alg == "gelu") return static_cast<float>(0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))));
  if (alg == "tanh") return std::tanh(x);
  if (alg == "leakyrelu") return x > 0 ? x : kLeakyReluAlpha * x;
  throw std::invalid_argument(fmt::format("reference: unknown eltwise algorithm '{}'", alg));
}

namespace {
float Eltwise(const std::string& alg, float x) { return RefEltwise(alg, x); }

bool IsChannel(const std::string& po) { return po == "addc" || po == "subc" || po == "mulc" || po == "divc"; }
bool IsBinary(const std::string& po) { return po == "add" || po == "sub" || po == "mul" || po == "div"; }

float Apply(const std::string& base, float a, float b) {
  if (base == "add") return a + b;
  if (base == "sub") return a - b;
  if (base == "mul") return a * b;
  return a / b;
}

// Applies the post-op chain to t.dst.
void PostOps(const Problem& p, RefTensors& t) {
  const auto& chain = p.post_ops();
  // Elements of dst per per-channel value, and how many channels repeat.
  int64_t inner = 1, channels = 1;
  if (p.op() == "conv2d") inner = p.Oh() * p.Ow(), channels = p.Get("oc");
  if (p.op() == "matmul") channels = p.Get("n");
  if (p.op() == "ip") channels = p.Get("oc");
  const bool column = p.op() != "conv2d";  // matmul, ip: the channel is the last axis
  for (size_t k = 0; k < chain.size(); ++k) {
    const std::string& po = chain[k];
    const std::vector<float>& x = t.post[k];
    if (po == "sum") {
      for (size_t i = 0; i < t.dst.size(); ++i) t.dst[i] += x[i];
    } else if (IsBinary(po)) {
      for (size_t i = 0; i < t.dst.size(); ++i) t.dst[i] = Apply(po, t.dst[i], x[i]);
    } else if (IsChannel(po)) {
      const std::string base = po.substr(0, 3);
      for (size_t i = 0; i < t.dst.size(); ++i) {
        const int64_t ch = column ? static_cast<int64_t>(i) % channels : static_cast<int64_t>(i) / inner % channels;
        t.dst[i] = Apply(base, t.dst[i], x[ch]);
      }
    } else {
      for (float& v : t.dst) v = Eltwise(po, v);
    }
  }
}

void Softmax(const Problem& p, RefTensors& t) {
  const int64_t dims[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  const int64_t ax = p.Get("ax");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ax; ++d) outer *= dims[d];
  for (int64_t d = ax + 1; d < 4; ++d) inner *= dims[d];
  const int64_t len = dims[ax];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t base = o * len * inner + i;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t l = 0; l < len; ++l) mx = std::max(mx, static_cast<double>(t.src[base + l * inner]));
      double sum = 0;
      for (int64_t l = 0; l < len; ++l) sum += std::exp(t.src[base + l * inner] - mx);
      for (int64_t l = 0; l < len; ++l)
        t.dst[base + l * inner] = static_cast<float>(std::exp(t.src[base + l * inner] - mx) / sum);
    }
}

constexpr double kNormEps = 1e-5;

// ---- glue ops (all tensors plain, row-major over the 4D view) ----

// Index of a plain [d0][d1][d2][d3] tensor.
int64_t At(const int64_t d[4], int64_t a, int64_t b, int64_t c, int64_t e) {
  return ((a * d[1] + b) * d[2] + c) * d[3] + e;
}

void Concat(const Problem& p, RefTensors& t) {
  const int64_t out[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  const int64_t ax = p.Get("ax"), n = p.Get("n");
  int64_t in[4] = {out[0], out[1], out[2], out[3]};
  in[ax] /= n;
  const int64_t piece = in[0] * in[1] * in[2] * in[3];
  for (int64_t k = 0; k < n; ++k)
    for (int64_t a = 0; a < in[0]; ++a)
      for (int64_t b = 0; b < in[1]; ++b)
        for (int64_t c = 0; c < in[2]; ++c)
          for (int64_t e = 0; e < in[3]; ++e) {
            int64_t o[4] = {a, b, c, e};
            o[ax] += k * in[ax];
            t.dst[At(out, o[0], o[1], o[2], o[3])] = t.src[k * piece + At(in, a, b, c, e)];
          }
}

void Resample(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), c = p.Get("c"), ih = p.Get("ih"), iw = p.Get("iw"), oh = p.Get("oh"),
                ow = p.Get("ow");
  // The source coordinate of output index o (half-pixel centres, as oneDNN and ONNX's default).
  auto coord = [](int64_t o, int64_t in, int64_t out) { return (o + 0.5) * in / out - 0.5; };
  const bool linear = p.alg() == "linear";
  for (int64_t n = 0; n < mb * c; ++n) {
    const float* src = &t.src[n * ih * iw];
    float* dst = &t.dst[n * oh * ow];
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        const double sy = coord(y, ih, oh), sx = coord(x, iw, ow);
        if (!linear) {  // nearest: round half away from zero, as oneDNN's roundf
          const int64_t iy = std::min(ih - 1, static_cast<int64_t>(std::round(sy)));
          const int64_t ix = std::min(iw - 1, static_cast<int64_t>(std::round(sx)));
          dst[y * ow + x] = src[std::max<int64_t>(iy, 0) * iw + std::max<int64_t>(ix, 0)];
          continue;
        }
        const double cy = std::max(sy, 0.0), cx = std::max(sx, 0.0);
        const int64_t y0 = std::min(ih - 1, static_cast<int64_t>(cy)), x0 = std::min(iw - 1, static_cast<int64_t>(cx));
        const int64_t y1 = std::min(ih - 1, y0 + 1), x1 = std::min(iw - 1, x0 + 1);
        const double wy = std::min(1.0, cy - y0), wx = std::min(1.0, cx - x0);
        const double v = (1 - wy) * ((1 - wx) * src[y0 * iw + x0] + wx * src[y0 * iw + x1]) +
                         wy * ((1 - wx) * src[y1 * iw + x0] + wx * src[y1 * iw + x1]);
        dst[y * ow + x] = static_cast<float>(v);
      }
  }
}

void Transpose(const Problem& p, RefTensors& t) {
  const int64_t in[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  int perm[4];
  for (int k = 0; k < 4; ++k) perm[k] = p.alg()[1 + k] - '0';
  const int64_t out[4] = {in[perm[0]], in[perm[1]], in[perm[2]], in[perm[3]]};
  int64_t o[4];
  for (o[0] = 0; o[0] < out[0]; ++o[0])
    for (o[1] = 0; o[1] < out[1]; ++o[1])
      for (o[2] = 0; o[2] < out[2]; ++o[2])
        for (o[3] = 0; o[3] < out[3]; ++o[3]) {
          int64_t i[4];
          for (int k = 0; k < 4; ++k) i[perm[k]] = o[k];
          t.dst[At(out, o[0], o[1], o[2], o[3])] = t.src[At(in, i[0], i[1], i[2], i[3])];
        }
}

void Slice(const Problem& p, RefTensors& t) {
  const int64_t in[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  const int64_t out[4] = {in[0], p.Get("oc"), p.Get("oh"), p.Get("ow")};
  const auto off = SliceOffsets(p);
  for (int64_t a = 0; a < out[0]; ++a)
    for (int64_t b = 0; b < out[1]; ++b)
      for (int64_t c = 0; c < out[2]; ++c)
        for (int64_t e = 0; e < out[3]; ++e)
          t.dst[At(out, a, b, c, e)] = t.src[At(in, a, b + off[1], c + off[2], e + off[3])];
}

void Pad(const Problem& p, RefTensors& t) {
  const int64_t in[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  const int64_t out[4] = {in[0], in[1], p.Oh(), p.Ow()};
  std::fill(t.dst.begin(), t.dst.end(), 0.f);
  for (int64_t a = 0; a < in[0]; ++a)
    for (int64_t b = 0; b < in[1]; ++b)
      for (int64_t c = 0; c < in[2]; ++c)
        for (int64_t e = 0; e < in[3]; ++e)
          t.dst[At(out, a, b, c + p.Get("pt"), e + p.Get("pl"))] = t.src[At(in, a, b, c, e)];
}

void Reduce(const Problem& p, RefTensors& t) {
  const int64_t in[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  const int64_t out[4] = {in[0], p.Get("oc"), p.Get("oh"), p.Get("ow")};
  const bool max = p.alg() == "max", mean = p.alg() == "mean";
  std::vector<double> acc(t.dst.size(), max ? -std::numeric_limits<double>::infinity() : 0.0);
  for (int64_t a = 0; a < in[0]; ++a)
    for (int64_t b = 0; b < in[1]; ++b)
      for (int64_t c = 0; c < in[2]; ++c)
        for (int64_t e = 0; e < in[3]; ++e) {
          double& r = acc[At(out, a, out[1] == 1 ? 0 : b, out[2] == 1 ? 0 : c, out[3] == 1 ? 0 : e)];
          const double v = t.src[At(in, a, b, c, e)];
          r = max ? std::max(r, v) : r + v;
        }
  const double count = static_cast<double>(t.src.size()) / static_cast<double>(t.dst.size());
  for (size_t i = 0; i < acc.size(); ++i) t.dst[i] = static_cast<float>(mean ? acc[i] / count : acc[i]);
}

// Transposed convolution; weights in ONNX's order [ic][oc/g][kh][kw], one bias per output channel.
void Deconv(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), ic = p.Get("ic"), ih = p.Get("ih"), iw = p.Get("iw");
  const int64_t oc = p.Get("oc"), kh = p.Get("kh"), kw = p.Get("kw"), sh = p.Get("sh"),
                sw = p.Get("sw"), ph = p.Get("ph"), pw = p.Get("pw"), dh = p.Get("dh"),
                dw = p.Get("dw"), g = p.Get("g");
  const int64_t oh = p.Oh(), ow = p.Ow(), icg = ic / g, ocg = oc / g;
  std::vector<double> acc(oh * ow);
  for (int64_t n = 0; n < mb; ++n)
    for (int64_t o = 0; o < oc; ++o) {
      const int64_t gr = o / ocg, oo = o % ocg;
      std::fill(acc.begin(), acc.end(), t.bias.empty() ? 0.0 : t.bias[o]);
      for (int64_t c = 0; c < icg; ++c) {
        const int64_t ci = gr * icg + c;
        const float* src = &t.src[(n * ic + ci) * ih * iw];
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx) {
            const double w = t.wei[((ci * ocg + oo) * kh + ky) * kw + kx];
            for (int64_t y = 0; y < ih; ++y) {
              const int64_t oy = y * sh - ph + ky * dh;
              if (oy < 0 || oy >= oh) continue;
              for (int64_t x = 0; x < iw; ++x) {
                const int64_t ox = x * sw - pw + kx * dw;
                if (ox >= 0 && ox < ow) acc[oy * ow + ox] += w * src[y * iw + x];
              }
            }
          }
      }
      float* dst = &t.dst[(n * oc + o) * oh * ow];
      for (int64_t i = 0; i < oh * ow; ++i) dst[i] = static_cast<float>(acc[i]);
    }
}

void Prelu(const Problem& p, RefTensors& t) {
  const int64_t c = p.Get("c"), hw = p.Get("h") * p.Get("w");
  for (size_t i = 0; i < t.src.size(); ++i) {
    const float slope = t.wei[(static_cast<int64_t>(i) / hw) % c];
    t.dst[i] = t.src[i] > 0 ? t.src[i] : slope * t.src[i];
  }
}

void BatchNorm(const Problem& p, RefTensors& t) {
  const int64_t mb = p.Get("mb"), c = p.Get("c"), hw = p.Get("h") * p.Get("w");
  const float* mean = t.wei.data();
  const float* var = mean + c;
  const float* scale = var + c;
  const float* shift = scale + c;
  for (int64_t n = 0; n < mb; ++n)
    for (int64_t ch = 0; ch < c; ++ch) {
      const double inv = 1.0 / std::sqrt(var[ch] + kNormEps);
      for (int64_t i = 0; i < hw; ++i) {
        const int64_t idx = (n * c + ch) * hw + i;
        t.dst[idx] = static_cast<float>((t.src[idx] - mean[ch]) * inv * scale[ch] + shift[ch]);
      }
    }
}

void LayerNorm(const Problem& p, RefTensors& t) {
  const int64_t rows = p.Get("mb") * p.Get("t"), c = p.Get("c");
  const float* scale = t.wei.data();
  const float* shift = scale + c;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = &t.src[r * c];
    double mean = 0, var = 0;
    for (int64_t i = 0; i < c; ++i) mean += x[i];
    mean /= c;
    for (int64_t i = 0; i < c; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= c;  // biased, as layer normalisation defines it
    const double inv = 1.0 / std::sqrt(var + kNormEps);
    for (int64_t i = 0; i < c; ++i)
      t.dst[r * c + i] = static_cast<float>((x[i] - mean) * inv * scale[i] + shift[i]);
  }
}

}  // namespace

std::array<int64_t, 4> SliceOffsets(const Problem& p) {
  return {0, (p.Get("c") - p.Get("oc")) / 2, (p.Get("h") - p.Get("oh")) / 2, (p.Get("w") - p.Get("ow")) / 2};
}

RefTensors MakeInputs(const Problem& p, uint32_t seed) {
  RefTensors t;
  const std::string& op = p.op();
  t.src.resize(p.SrcElems());
  t.dst.assign(p.DstElems(), 0.f);
  if (op == "conv2d") {
    t.wei.resize(p.Get("oc") * (p.Get("ic") / p.Get("g")) * p.Get("kh") * p.Get("kw"));
    t.bias.resize(p.Get("oc"));
  } else if (op == "matmul") {
    t.wei.resize(p.Get("mb") * p.Get("k") * p.Get("n"));
  } else if (op == "ip") {
    t.wei.resize(p.Get("ic") * p.Get("oc"));
    t.bias.resize(p.Get("oc"));
  } else if (op == "binary") {
    t.src2.resize(p.Src2Elems());
  } else if (op == "bnorm") {
    t.wei.resize(4 * p.Get("c"));
  } else if (op == "lnorm") {
    t.wei.resize(2 * p.Get("c"));
  } else if (op == "deconv") {
    t.wei.resize(p.Get("ic") * (p.Get("oc") / p.Get("g")) * p.Get("kh") * p.Get("kw"));
    t.bias.resize(p.Get("oc"));
  } else if (op == "prelu") {
    t.wei.resize(p.Get("c"));
  }
  Fill(t.src, seed, 0);
  Fill(t.src2, seed, 1);
  Fill(t.wei, seed, 2);
  Fill(t.bias, seed, 3);
  t.post.resize(p.post_ops().size());
  for (size_t k = 0; k < t.post.size(); ++k) {
    int64_t n = 1;
    for (int64_t d : PostOpDims(p, p.post_ops()[k])) n *= d;
    t.post[k].resize(p.post_ops()[k] == "sum" || IsBinary(p.post_ops()[k]) || IsChannel(p.post_ops()[k]) ? n : 0);
    const bool div = p.post_ops()[k] == "div" || p.post_ops()[k] == "divc";
    Fill(t.post[k], seed, 10 + static_cast<uint32_t>(k), div ? 0.5f : -1.f, div ? 1.5f : 1.f);
  }
  if (op == "bnorm") {
    // mean, variance, scale, shift: variances must be positive.
    const int64_t c = p.Get("c");
    for (int64_t i = 0; i < c; ++i) t.wei[c + i] = Uniform(seed, 4, i, 0.5f, 1.5f);
  }
  return t;
}

void ComputeReference(const Problem& p, RefTensors& t) {
  const std::string& op = p.op();
  t.dst.assign(p.DstElems(), 0.f);
  if (op == "conv2d") {
    Conv2d(p, t);
  } else if (op == "matmul") {
    Matmul(p, t);
  } else if (op == "ip") {
    InnerProduct(p, t);
  } else if (op == "pool") {
    Pool(p, t);
  } else if (op == "eltwise") {
    for (size_t i = 0; i < t.src.size(); ++i) t.dst[i] = Eltwise(p.alg(), t.src[i]);
  } else if (op == "binary") {
    // src2 broadcasts by bc: full size, one value per (mb, c) (an index i of src over h*w), a scalar.
    const bool add = p.alg() == "add";
    const int64_t bc = p.Get("bc"), hw = p.Get("h") * p.Get("w");
    for (size_t i = 0; i < t.src.size(); ++i) {
      const float b = t.src2[bc == 0 ? i : bc == 1 ? i / static_cast<size_t>(hw) : 0];
      t.dst[i] = add ? t.src[i] + b : t.src[i] * b;
    }
  } else if (op == "softmax") {
    Softmax(p, t);
  } else if (op == "bnorm") {
    BatchNorm(p, t);
  } else if (op == "lnorm") {
    LayerNorm(p, t);
  } else if (op == "concat") {
    Concat(p, t);
  } else if (op == "resample") {
    Resample(p, t);
  } else if (op == "transpose") {
    Transpose(p, t);
  } else if (op == "slice") {
    Slice(p, t);
  } else if (op == "pad") {
    Pad(p, t);
  } else if (op == "reduce") {
    Reduce(p, t);
  } else if (op == "deconv") {
    Deconv(p, t);
  } else if (op == "prelu") {
    Prelu(p, t);
  } else {
    throw std::invalid_argument(fmt::format("reference: no reference for op '{}' ({})", op, p.Key()));
  }
  if (!p.post_ops().empty()) PostOps(p, t);
}

std::vector<int64_t> PostOpDims(const Problem& p, const std::string& name) {
  if (IsChannel(name)) {
    if (p.op() == "conv2d") return {1, p.Get("oc"), 1, 1};
    if (p.op() == "matmul") return {1, 1, p.Get("n")};
    return {1, p.Get("oc")};
  }
  if (name != "sum" && !IsBinary(name)) return {};
  if (p.op() == "conv2d") return {p.Get("mb"), p.Get("oc"), p.Oh(), p.Ow()};
  if (p.op() == "matmul") return {p.Get("mb"), p.Get("m"), p.Get("n")};
  return {p.Get("mb"), p.Get("oc")};
}

std::string CompareOutputs(const float* got, const float* want, int64_t n, double rtol, double atol) {
  int64_t bad = 0, first = -1;
  double first_diff = 0, first_tol = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double diff = std::fabs(static_cast<double>(got[i]) - want[i]);
    const double tol = atol + rtol * std::fabs(static_cast<double>(want[i]));
    if (!(diff <= tol)) {  // written so that a NaN counts as a difference
      if (first < 0) {
        first = i;
        first_diff = diff;
        first_tol = tol;
      }
      ++bad;
    }
  }
  if (bad == 0) return {};
  return fmt::format("{} of {} elements differ; first at index {}: got {}, want {} (|diff| {:.3g} > tol {:.3g})",
                     bad, n, first, got[first], want[first], first_diff, first_tol);
}

}  // namespace layoutdb::microbench
