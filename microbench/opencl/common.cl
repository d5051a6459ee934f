// Shared by every layoutdb OpenCL program (prepended by the host before the op's own file).
//
// Exactly one activation layout is defined by the host: LAYOUT_NCHW, LAYOUT_NHWC or LAYOUT_NC4HW4.
// OFF(n, c, h, w, C, H, W) is the element offset of logical (n, c, h, w) in a tensor of C x H x W per
// image; nc4hw4 pads C to a multiple of 4 ([n][c/4][h][w][4]).
#if !defined(LAYOUT_NCHW) && !defined(LAYOUT_NHWC) && !defined(LAYOUT_NC4HW4)
#define LAYOUT_NCHW  // programs whose kernels do not depend on the layout
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

// The fused activation of a conv / matmul epilogue (a fused problem's one eltwise post-op), applied by
// ACT_F to a float or any floatn, as the runtime's kernels do (runtime/ocl/prelude.cl, same codes):
// ACT 0 none, 1 relu, 2 clip(A0, A1), 3 leakyrelu(alpha A0), 4 sigmoid, 5 hardsigmoid(alpha A0, beta A1), 6 hardswish,
// 7 tanh, 13 gelu (erf). A0 and A1 are defines here (the runtime passes them as arguments).
#ifndef ACT
#define ACT 0
#endif
#if ACT == 0
#define ACT_F(x) (x)
#elif ACT == 1
#define ACT_F(x) fmax((x), 0.f)
#elif ACT == 2
#define ACT_F(x) fmin(fmax((x), A0), A1)
#elif ACT == 3
#define ACT_F(x) (fmax((x), 0.f) + A0 * fmin((x), 0.f))
#elif ACT == 4
#define ACT_F(x) (1.f / (1.f + exp(-(x))))
#elif ACT == 5
#define ACT_F(x) clamp((x) * A0 + A1, 0.f, 1.f)
#elif ACT == 6
#define ACT_F(x) ((x) * clamp((x) * (1.f / 6.f) + 0.5f, 0.f, 1.f))
#elif ACT == 7
#define ACT_F(x) tanh(x)
#elif ACT == 13
#define ACT_F(x) (0.5f * (x) * (1.f + erf((x) * 0.70710678118654752f)))
#else
#error unknown ACT
#endif

#if defined(LAYOUT_NCHW)
#define OFF(n, c, h, w, C, H, W) (((((size_t)(n)) * (C) + (c)) * (H) + (h)) * (W) + (w))
#elif defined(LAYOUT_NHWC)
#define OFF(n, c, h, w, C, H, W) (((((size_t)(n)) * (H) + (h)) * (W) + (w)) * (C) + (c))
#elif defined(LAYOUT_NC4HW4)
#define OFF(n, c, h, w, C, H, W) \
  ((((((size_t)(n)) * (((C) + 3) >> 2) + ((c) >> 2)) * (H) + (h)) * (W) + (w)) * 4 + ((c)&3))
#endif

// Four consecutive channels c..c+3 (c a multiple of 4) of one pixel as a float4; channels >= C read
// as 0 (nc4hw4 keeps its padding lanes at zero, the other layouts guard each lane).
#if defined(LAYOUT_NC4HW4)
#define LOAD_C4(p, n, c, h, w, C, H, W) vload4(0, (p) + OFF(n, c, h, w, C, H, W))
#define STORE_C4(v, p, n, c, h, w, C, H, W) vstore4((v), 0, (p) + OFF(n, c, h, w, C, H, W))
#else
inline float4 load_c4_guarded(__global const float* p, size_t o0, size_t cs, int c, int C) {
  if (c + 4 <= C) {
#if defined(LAYOUT_NHWC)
    return vload4(0, p + o0);
#else
    return (float4)(p[o0], p[o0 + cs], p[o0 + 2 * cs], p[o0 + 3 * cs]);
#endif
  }
  float4 v = 0.f;
  v.s0 = p[o0];
  if (c + 1 < C) v.s1 = p[o0 + cs];
  if (c + 2 < C) v.s2 = p[o0 + 2 * cs];
  return v;
}
inline void store_c4_guarded(float4 v, __global float* p, size_t o0, size_t cs, int c, int C) {
  if (c + 4 <= C) {
#if defined(LAYOUT_NHWC)
    vstore4(v, 0, p + o0);
#else
    p[o0] = v.s0; p[o0 + cs] = v.s1; p[o0 + 2 * cs] = v.s2; p[o0 + 3 * cs] = v.s3;
#endif
    return;
  }
  p[o0] = v.s0;
  if (c + 1 < C) p[o0 + cs] = v.s1;
  if (c + 2 < C) p[o0 + 2 * cs] = v.s2;
}
#if defined(LAYOUT_NHWC)
#define CSTRIDE(C, H, W) 1
#else
#define CSTRIDE(C, H, W) ((size_t)(H) * (W))
#endif
#define LOAD_C4(p, n, c, h, w, C, H, W) \
  load_c4_guarded((p), OFF(n, c, h, w, C, H, W), CSTRIDE(C, H, W), (c), (C))
#define STORE_C4(v, p, n, c, h, w, C, H, W) \
  store_c4_guarded((v), (p), OFF(n, c, h, w, C, H, W), CSTRIDE(C, H, W), (c), (C))
#endif
