// Memory-bound ops: pooling, element-wise (unary, binary with broadcasting, per-channel affine) and
// softmax.

// Pooling: one work-item computes 4 channels (a float4) of one output pixel. Taps are (oh * SH - PH
// + kh * DH, ow * SW - PW + kw * DW); taps outside the input are skipped. Average: the divisor
// counts the taps inside the input, or with COUNT_PAD those inside the padded input [-PH, IH + PHE)
// x [-PW, IW + PWE) (a ceil_mode window may reach past it).
// Defines: IN_L, OUT_L, POOL_MAX, COUNT_PAD.
__kernel void pool(__global const float* restrict src, __global float* restrict dst, int C, int IH,
                   int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW, int PHE,
                   int PWE, int DH, int DW, int NZ) {
  const int ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (ow >= OW || oh >= OH || z >= NZ) return;
  const int C4 = (C + 3) >> 2;
  const int n = z / C4;
  const int c = (z - n * C4) * 4;
  const int h0 = oh * SH - PH, w0 = ow * SW - PW;
#ifdef POOL_MAX
  float4 acc = (float4)(-INFINITY);
#else
  float4 acc = 0.f;
#endif
  int taps = 0, taps_h = 0, taps_w = 0;
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = h0 + kh * DH;
    if (ih < IH + PHE) ++taps_h;
    if (ih < 0 || ih >= IH) continue;
    for (int kw = 0; kw < KW; ++kw) {
      const int iw = w0 + kw * DW;
      if (iw < 0 || iw >= IW) continue;
      const float4 v = load_c4(IN_L, src, n, c, ih, iw, C, IH, IW);
#ifdef POOL_MAX
      acc = fmax(acc, v);
#else
      acc += v;
#endif
      ++taps;
    }
  }
#ifndef POOL_MAX
#ifdef COUNT_PAD
  for (int kw = 0; kw < KW; ++kw) taps_w += w0 + kw * DW < IW + PWE;
  taps = taps_h * taps_w;
#endif
  acc /= (float)max(taps, 1);
#endif
  store_c4(OUT_L, acc, dst, n, c, oh, ow, C, OH, OW);
}

// Element-wise: dst = ACT_F(op(a, b)), one work-item per element of dst's buffer (nc4hw4 padding
// lanes included: written 0). dst is logically [N][C][H][W] in OUT_L. An operand is either full
// (the output's shape, in IN_L) or broadcast (plain, element (n, c, h, w) at n*s0 + c*s1 + h*s2 +
// w*s3, with stride 0 along the dimensions it broadcasts).
// Defines: OP (0: a; 1: a + b; 2: a - b; 3: a * b; 4: a / b; 5: a * b[c] + b[C + c]), A_FULL,
// B_FULL, COORDS (the kernel needs the logical coordinates), IN_L, OUT_L, ACT.
#ifdef OP  // only in programs built for it
#if A_FULL && IN_L == OUT_L
#define READ_A a[i]
#elif A_FULL
#define READ_A a[off_l(IN_L, n, c, h, w, C, H, W)]
#else
#define READ_A a[n * sa0 + c * sa1 + h * sa2 + w * sa3]
#endif
#if B_FULL && IN_L == OUT_L
#define READ_B b[i]
#elif B_FULL
#define READ_B b[off_l(IN_L, n, c, h, w, C, H, W)]
#else
#define READ_B b[n * sb0 + c * sb1 + h * sb2 + w * sb3]
#endif

__kernel void ew(__global const float* restrict a, __global const float* restrict b,
                 __global float* restrict dst, int N, int C, int H, int W, int TOTAL, int sa0,
                 int sa1, int sa2, int sa3, int sb0, int sb1, int sb2, int sb3, float A0,
                 float A1) {
  const int i = get_global_id(0);
  if (i >= TOTAL) return;
#if COORDS
  int n, c, h, w, t;
#if OUT_L == 0
  w = i % W; t = i / W; h = t % H; t /= H; c = t % C; n = t / C;
#elif OUT_L == 1
  c = i % C; t = i / C; w = t % W; t /= W; h = t % H; n = t / H;
#else
  const int C4 = (C + 3) >> 2;
  t = i >> 2; w = t % W; t /= W; h = t % H; t /= H; c = (t % C4) * 4 + (i & 3); n = t / C4;
  if (c >= C) {
    dst[i] = 0.f;
    return;
  }
#endif
#endif
  const float x = READ_A;
#if OP == 0
  const float y = x;
#elif OP == 1
  const float y = x + READ_B;
#elif OP == 2
  const float y = x - READ_B;
#elif OP == 3
  const float y = x * READ_B;
#elif OP == 4
  const float y = x / READ_B;
#elif OP == 5
  const float y = fma(x, b[c], b[C + c]);
#endif
  dst[i] = ACT_F(y);
}
#endif  // OP

// Softmax over contiguous rows of LEN floats (plain): one work-item per row, float4 along it.
__kernel void softmax(__global const float* restrict src, __global float* restrict dst, int LEN,
                      int ROWS) {
  const int r = get_global_id(0);
  if (r >= ROWS) return;
  __global const float* x = src + (size_t)r * LEN;
  __global float* y = dst + (size_t)r * LEN;
  const int l4 = LEN & ~3;
  float4 m4 = (float4)(-INFINITY);
  for (int i = 0; i < l4; i += 4) m4 = fmax(m4, vload4(0, x + i));
  float mx = fmax(fmax(m4.s0, m4.s1), fmax(m4.s2, m4.s3));
  for (int i = l4; i < LEN; ++i) mx = fmax(mx, x[i]);
  float4 s4 = 0.f;
  for (int i = 0; i < l4; i += 4) s4 += exp(vload4(0, x + i) - mx);
  float sum = s4.s0 + s4.s1 + s4.s2 + s4.s3;
  for (int i = l4; i < LEN; ++i) sum += exp(x[i] - mx);
  const float inv = 1.f / sum;
  for (int i = 0; i < l4; i += 4) vstore4(exp(vload4(0, x + i) - mx) * inv, 0, y + i);
  for (int i = l4; i < LEN; ++i) y[i] = exp(x[i] - mx) * inv;
}

// Layer normalisation over contiguous rows of LEN floats (plain): wei = scale[LEN], shift[LEN]. One
// work-item per row, float4 along it, two passes (mean, then the variance of the differences).
__kernel void lnorm(__global const float* restrict src, __global const float* restrict wei,
                    __global float* restrict dst, int LEN, int ROWS, float EPS) {
  const int r = get_global_id(0);
  if (r >= ROWS) return;
  __global const float* x = src + (size_t)r * LEN;
  __global float* y = dst + (size_t)r * LEN;
  const int l4 = LEN & ~3;
  float4 s4 = 0.f;
  for (int i = 0; i < l4; i += 4) s4 += vload4(0, x + i);
  float s = s4.s0 + s4.s1 + s4.s2 + s4.s3;
  for (int i = l4; i < LEN; ++i) s += x[i];
  const float mean = s / LEN;
  float4 v4 = 0.f;
  for (int i = 0; i < l4; i += 4) {
    const float4 d = vload4(0, x + i) - mean;
    v4 = fma(d, d, v4);
  }
  float v = v4.s0 + v4.s1 + v4.s2 + v4.s3;
  for (int i = l4; i < LEN; ++i) v += (x[i] - mean) * (x[i] - mean);
  const float inv = rsqrt(v / LEN + EPS);
  for (int i = 0; i < l4; i += 4)
    vstore4((vload4(0, x + i) - mean) * inv * vload4(0, wei + i) + vload4(0, wei + LEN + i), 0, y + i);
  for (int i = l4; i < LEN; ++i) y[i] = (x[i] - mean) * inv * wei[i] + wei[LEN + i];
}
