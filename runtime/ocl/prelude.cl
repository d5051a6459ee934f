// Prepended by the runtime's OpenCL backend (runtime/ocl_backend.cpp) to each of its programs.
//
// Layout codes: 0 nchw (and every plain tensor), 1 nhwc, 2 nc4hw4 ([n][c/4][h][w][4]). nc4hw4 keeps
// its padding lanes (channels C .. 4*ceil(C/4)-1) at zero: every kernel here writes them as 0, so a
// consumer may multiply them by zero weights without meeting a NaN.
//
// Defines from the host: IN_L, OUT_L (layout codes of the activation read and of the output
// written), ACT (the fused activation, applied by ACT_F to a float or any floatn; parameters A0 and
// A1 are kernel arguments, so that one program serves every alpha and clip range).
#ifndef IN_L
#define IN_L 0
#endif
#ifndef OUT_L
#define OUT_L IN_L
#endif
#ifndef ACT
#define ACT 0
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

// Element offset of logical (n, c, h, w) of a C x H x W image in layout `l` (a compile-time
// constant at every call, so the branches fold away).
inline size_t off_l(int l, int n, int c, int h, int w, int C, int H, int W) {
  if (l == 0) return (((size_t)n * C + c) * H + h) * W + w;
  if (l == 1) return (((size_t)n * H + h) * W + w) * C + c;
  return ((((size_t)n * ((C + 3) >> 2) + (c >> 2)) * H + h) * W + w) * 4 + (c & 3);
}

// Channels c..c+3 of one pixel (c a multiple of 4 in nc4hw4); channels >= C read as 0.
inline float4 load_c4(int l, __global const float* p, int n, int c, int h, int w, int C, int H,
                      int W) {
  const size_t o = off_l(l, n, c, h, w, C, H, W);
  if (l == 2) return vload4(0, p + o);
  if (l == 1 && c + 4 <= C) return vload4(0, p + o);
  const size_t cs = l == 1 ? 1 : (size_t)H * W;
  float4 v = 0.f;
  v.s0 = p[o];
  if (c + 1 < C) v.s1 = p[o + cs];
  if (c + 2 < C) v.s2 = p[o + 2 * cs];
  if (c + 3 < C) v.s3 = p[o + 3 * cs];
  return v;
}

// Stores channels c..c+3 of one pixel; in nc4hw4 the lanes past C are stored as 0.
inline void store_c4(int l, float4 v, __global float* p, int n, int c, int h, int w, int C, int H,
                     int W) {
  const size_t o = off_l(l, n, c, h, w, C, H, W);
  if (l == 2) {
    const int4 lane = (int4)(0, 1, 2, 3) + c;
    vstore4(select((float4)0.f, v, lane < C), 0, p + o);
    return;
  }
  if (l == 1 && c + 4 <= C) {
    vstore4(v, 0, p + o);
    return;
  }
  const size_t cs = l == 1 ? 1 : (size_t)H * W;
  p[o] = v.s0;
  if (c + 1 < C) p[o + cs] = v.s1;
  if (c + 2 < C) p[o + 2 * cs] = v.s2;
  if (c + 3 < C) p[o + 3 * cs] = v.s3;
}

// The activations (the codes of ActCodes() in ocl_backend.cpp). Written with operators and the
// built-ins that take a scalar beside a vector (fmax, fmin, clamp), so that one macro serves a float
// and every floatn.
#if ACT == 0
#define ACT_F(x) (x)
#elif ACT == 1  // Relu
#define ACT_F(x) fmax((x), 0.f)
#elif ACT == 2  // Clip(A0, A1)
#define ACT_F(x) fmin(fmax((x), A0), A1)
#elif ACT == 3  // LeakyRelu(alpha = A0)
#define ACT_F(x) (fmax((x), 0.f) + A0 * fmin((x), 0.f))
#elif ACT == 4  // Sigmoid
#define ACT_F(x) (1.f / (1.f + exp(-(x))))
#elif ACT == 5  // HardSigmoid(alpha = A0, beta = A1)
#define ACT_F(x) clamp((x) * A0 + A1, 0.f, 1.f)
#elif ACT == 6  // HardSwish
#define ACT_F(x) ((x) * clamp((x) * (1.f / 6.f) + 0.5f, 0.f, 1.f))
#elif ACT == 7  // Tanh
#define ACT_F(x) tanh(x)
#elif ACT == 8  // Exp
#define ACT_F(x) exp(x)
#elif ACT == 9  // Sqrt
#define ACT_F(x) sqrt(x)
#elif ACT == 10  // Abs
#define ACT_F(x) fabs(x)
#elif ACT == 11  // Neg
#define ACT_F(x) (-(x))
#elif ACT == 12  // Erf
#define ACT_F(x) erf(x)
#elif ACT == 13  // Gelu (exact)
#define ACT_F(x) (0.5f * (x) * (1.f + erf((x) * 0.70710678118654752f)))
#elif ACT == 14  // Gelu (approximate = "tanh")
#define ACT_F(x) \
  (0.5f * (x) * (1.f + tanh(0.7978845608028654f * ((x) + 0.044715f * (x) * (x) * (x)))))
#else
#error unknown ACT
#endif
