// Memory-bound op families: pooling, eltwise, binary, softmax, batch and layer normalisation.
// Element-wise kernels are loop-free with one element per work-item, so that PoCL's work-group
// vectoriser turns the work-item loop into AVX-512 code (and a GPU coalesces the accesses); pooling
// computes 4 channels (a float4) per work-item.

#ifndef AXIS
#define AXIS 1  // softmax axis; other kernels of a program built for them do not use it
#endif

#ifdef POOL_MAX
#define POOL_INIT ((float4)(-INFINITY))
#define POOL_ACC(a, v) fmax((a), (v))
#else
#define POOL_INIT ((float4)(0.f))
#define POOL_ACC(a, v) ((a) + (v))
#endif

// Pooling: gid = (ow, oh, n * C/4 + channel block); avg excludes the padding.
__kernel void pool(__global const float* restrict src, __global float* restrict dst, int C, int IH,
                   int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW, int NZ) {
  const int ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (ow >= OW || oh >= OH || z >= NZ) return;
  const int C4 = (C + 3) >> 2;
  const int n = z / C4;
  const int c = (z - n * C4) * 4;
  const int h0 = max(oh * SH - PH, 0), h1 = min(oh * SH - PH + KH, IH);
  const int w0 = max(ow * SW - PW, 0), w1 = min(ow * SW - PW + KW, IW);
  float4 acc = POOL_INIT;
  for (int ih = h0; ih < h1; ++ih)
    for (int iw = w0; iw < w1; ++iw) acc = POOL_ACC(acc, LOAD_C4(src, n, c, ih, iw, C, IH, IW));
#ifndef POOL_MAX
  acc /= (float)((h1 - h0) * (w1 - w0));
#endif
  STORE_C4(acc, dst, n, c, oh, ow, C, OH, OW);
}

inline float eltwise_f(float x) {
#if defined(ALG_RELU)
  return fmax(x, 0.f);
#elif defined(ALG_CLIP)
  return fmin(fmax(x, 0.f), 6.f);
#elif defined(ALG_HARDSWISH)
  return x * fmin(fmax(x + 3.f, 0.f), 6.f) * (1.f / 6.f);
#elif defined(ALG_HARDSIGMOID)
  return fmax(0.f, fmin(1.f, x * (1.f / 6.f) + 0.5f));
#elif defined(ALG_SIGMOID)
  return 1.f / (1.f + exp(-x));
#elif defined(ALG_GELU)
  // erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): PoCL's erf costs ~15 ns an element, this
  // costs one exp.
  const float z = fabs(x) * 0.70710678118654752f;
  const float t = 1.f / fma(0.3275911f, z, 1.f);
  const float poly =
      t * fma(t, fma(t, fma(t, fma(t, 1.061405429f, -1.453152027f), 1.421413741f), -0.284496736f),
              0.254829592f);
  const float e = 1.f - poly * exp(-z * z);
  return 0.5f * x * (1.f + copysign(e, x));
#elif defined(ALG_TANH)
  return tanh(x);
#elif defined(ALG_LEAKYRELU)
  return x > 0.f ? x : LEAKY_ALPHA * x;
#else
  return x;
#endif
}

// Eltwise over the whole physical buffer (any layout: the op does not care where a channel is).
__kernel void eltwise(__global const float* restrict src, __global float* restrict dst, int n) {
  const int i = get_global_id(0);
  if (i < n) dst[i] = eltwise_f(src[i]);
}

__kernel void binary(__global const float* restrict a, __global const float* restrict b,
                     __global float* restrict dst, int n) {
  const int i = get_global_id(0);
#ifdef BIN_MUL
  if (i < n) dst[i] = a[i] * b[i];
#else
  if (i < n) dst[i] = a[i] + b[i];
#endif
}

// A binary op whose second operand b broadcasts, read plain as the runtime reads it (runtime/ocl's ew
// kernel): BCAST 1 one value per (n, c), b [MB][C]; BCAST 2 a scalar. a and dst are [MB][C][H][W] in
// the layout (LAYOUT_*); nc4hw4's padding channels read channel C-1 (their result is never read).
#ifndef BCAST
#define BCAST 1
#endif
__kernel void binary_bcast(__global const float* restrict a, __global const float* restrict b,
                           __global float* restrict dst, int C, int H, int W, int n) {
  const int i = get_global_id(0);
  if (i >= n) return;
#if BCAST == 2
  const float v = b[0];
#elif defined(LAYOUT_NCHW)
  const float v = b[i / (H * W)];
#elif defined(LAYOUT_NHWC)
  const float v = b[(i / (H * W * C)) * C + i % C];
#else
  const int C4 = (C + 3) >> 2, blk = i / (H * W * 4);  // blk = n * C4 + channel block
  const float v = b[(blk / C4) * C + min((blk % C4) * 4 + (i & 3), C - 1)];
#endif
#ifdef BIN_MUL
  dst[i] = a[i] * v;
#else
  dst[i] = a[i] + v;
#endif
}

// Softmax over logical axis AXIS (0..3 of n, c, h, w): one work-item per row; rows are numbered with
// w fastest (then h, c, n, skipping the axis), so neighbouring work-items read neighbouring memory in
// the plain layouts.
__kernel void softmax(__global const float* restrict src, __global float* restrict dst, int MB,
                      int C, int H, int W, int ROWS) {
  int r = get_global_id(0);
  if (r >= ROWS) return;
  int d[4];
  const int dims[4] = {MB, C, H, W};
  for (int j = 3; j >= 0; --j) {
    if (j == AXIS) continue;
    d[j] = r % dims[j];
    r /= dims[j];
  }
  const int len = dims[AXIS];
#ifdef AXIS_CONTIGUOUS
  // The axis has stride 1 in this layout (nchw over w, nhwc over c): float4 along the row.
  d[AXIS] = 0;
  const size_t o0 = OFF(d[0], d[1], d[2], d[3], C, H, W);
  __global const float* x = src + o0;
  __global float* y = dst + o0;
  const int l4 = len & ~3;
  float4 m4 = (float4)(-INFINITY);
  for (int i = 0; i < l4; i += 4) m4 = fmax(m4, vload4(0, x + i));
  float mx = fmax(fmax(m4.s0, m4.s1), fmax(m4.s2, m4.s3));
  for (int i = l4; i < len; ++i) mx = fmax(mx, x[i]);
  float4 s4 = 0.f;
  for (int i = 0; i < l4; i += 4) s4 += exp(vload4(0, x + i) - mx);
  float sum = s4.s0 + s4.s1 + s4.s2 + s4.s3;
  for (int i = l4; i < len; ++i) sum += exp(x[i] - mx);
  const float inv = 1.f / sum;
  for (int i = 0; i < l4; i += 4) vstore4(exp(vload4(0, x + i) - mx) * inv, 0, y + i);
  for (int i = l4; i < len; ++i) y[i] = exp(x[i] - mx) * inv;
#else
  float mx = -INFINITY;
  for (int i = 0; i < len; ++i) {
    d[AXIS] = i;
    mx = fmax(mx, src[OFF(d[0], d[1], d[2], d[3], C, H, W)]);
  }
  float sum = 0.f;
  for (int i = 0; i < len; ++i) {
    d[AXIS] = i;
    sum += exp(src[OFF(d[0], d[1], d[2], d[3], C, H, W)] - mx);
  }
  const float inv = 1.f / sum;
  for (int i = 0; i < len; ++i) {
    d[AXIS] = i;
    const size_t o = OFF(d[0], d[1], d[2], d[3], C, H, W);
    dst[o] = exp(src[o] - mx) * inv;
  }
#endif
}

// Batch normalisation (inference): wei = mean[C], variance[C], scale[C], shift[C]. A 2D range
// (inner, outer) where the inner dimension is contiguous in memory, so that no work-item divides:
//   nchw: (H*W, MB*C)   nhwc: (C, MB*H*W)   nc4hw4: (H*W*4, MB*C/4); nc4hw4 padding lanes get 0.
__kernel void bnorm(__global const float* restrict src, __global const float* restrict wei,
                    __global float* restrict dst, int C, int INNER, int OUTER) {
  const int i = get_global_id(0), o = get_global_id(1);
  if (i >= INNER || o >= OUTER) return;
  const size_t idx = (size_t)o * INNER + i;
#if defined(LAYOUT_NCHW)
  const int c = o % C;
#elif defined(LAYOUT_NHWC)
  const int c = i;
#else
  const int c = (o % ((C + 3) >> 2)) * 4 + (i & 3);
  if (c >= C) {
    dst[idx] = 0.f;
    return;
  }
#endif
  const float a = wei[2 * C + c] * rsqrt(wei[C + c] + 1e-5f);
  dst[idx] = (src[idx] - wei[c]) * a + wei[3 * C + c];
}

// Batch normalisation with float4 work-items, for nchw (4 neighbouring pixels of one channel) and
// nc4hw4 (one pixel's block of 4 channels). wei is packed by the host as [4][C4 * 4] (mean, variance,
// scale, shift; padding channels get scale 0 and shift 0, so nc4hw4 padding lanes come out 0).
// Range: (ceil(H*W / 4) or H*W, MB * C or MB * C4).
__kernel void bnorm4(__global const float* restrict src, __global const float* restrict wei,
                     __global float* restrict dst, int C, int HW, int OUTER) {
  const int i = get_global_id(0), o = get_global_id(1);
  const int CP = ((C + 3) >> 2) * 4;  // packed channel count
#if defined(LAYOUT_NC4HW4)
  if (i >= HW || o >= OUTER) return;
  const int cb = o % (CP >> 2);
  const float4 a = vload4(cb, wei + 2 * CP) * rsqrt(vload4(cb, wei + CP) + 1e-5f);
  const float4 b = vload4(cb, wei + 3 * CP) - vload4(cb, wei) * a;
  __global const float* x = src + ((size_t)o * HW + i) * 4;
  vstore4(fma(vload4(0, x), a, b), 0, dst + ((size_t)o * HW + i) * 4);
#else
  if (i * 4 >= HW || o >= OUTER) return;
  const int c = o % C;
  const float a = wei[2 * CP + c] * rsqrt(wei[CP + c] + 1e-5f);
  const float b = wei[3 * CP + c] - wei[c] * a;
  const size_t base = (size_t)o * HW + (size_t)i * 4;
  if (i * 4 + 4 <= HW) {
    vstore4(fma(vload4(0, src + base), (float4)a, (float4)b), 0, dst + base);
  } else {
    for (int j = 0; i * 4 + j < HW; ++j) dst[base + j] = fma(src[base + j], a, b);
  }
#endif
}

// Layer normalisation over the last axis of [rows][C]; wei = scale[C], shift[C]. One row per
// work-item, float4 along the row.
__kernel void lnorm(__global const float* restrict src, __global const float* restrict wei,
                    __global float* restrict dst, int C, int ROWS) {
  const int r = get_global_id(0);
  if (r >= ROWS) return;
  __global const float* x = src + (size_t)r * C;
  __global float* y = dst + (size_t)r * C;
  const int c4 = C & ~3;
  float4 s4 = 0.f;
  for (int i = 0; i < c4; i += 4) s4 += vload4(0, x + i);
  float s = s4.s0 + s4.s1 + s4.s2 + s4.s3;
  for (int i = c4; i < C; ++i) s += x[i];
  const float mean = s / C;
  float4 v4 = 0.f;
  for (int i = 0; i < c4; i += 4) {
    const float4 d = vload4(0, x + i) - mean;
    v4 = fma(d, d, v4);
  }
  float v = v4.s0 + v4.s1 + v4.s2 + v4.s3;
  for (int i = c4; i < C; ++i) v += (x[i] - mean) * (x[i] - mean);
  const float inv = rsqrt(v / C + 1e-5f);
  for (int i = 0; i < c4; i += 4)
    vstore4((vload4(0, x + i) - mean) * inv * vload4(0, wei + i) + vload4(0, wei + C + i), 0, y + i);
  for (int i = c4; i < C; ++i) y[i] = (x[i] - mean) * inv * wei[i] + wei[C + i];
}
