// Layout change of an activation tensor on the device. SRC_L and DST_L: 0 nchw, 1 nhwc, 2 nc4hw4.
// One work-item moves a 4 x 4 tile (4 channels x 4 neighbouring pixels along w) with float4 loads
// and stores on both sides: along w in nchw, along channels in nhwc and nc4hw4, transposed in
// registers between the two. Edge tiles (w or channels not a multiple of 4) go element by element;
// nc4hw4 padding lanes are written as 0.

inline size_t off_l(int l, int n, int c, int h, int w, int C, int H, int W) {
  if (l == 0) return (((size_t)n * C + c) * H + h) * W + w;
  if (l == 1) return (((size_t)n * H + h) * W + w) * C + c;
  return ((((size_t)n * ((C + 3) >> 2) + (c >> 2)) * H + h) * W + w) * 4 + (c & 3);
}

inline void transpose4(float4* a, float4* b, float4* c, float4* d) {
  const float4 x = *a, y = *b, z = *c, u = *d;
  *a = (float4)(x.s0, y.s0, z.s0, u.s0);
  *b = (float4)(x.s1, y.s1, z.s1, u.s1);
  *c = (float4)(x.s2, y.s2, z.s2, u.s2);
  *d = (float4)(x.s3, y.s3, z.s3, u.s3);
}

__kernel void reorder(__global const float* restrict src, __global float* restrict dst, int C,
                      int H, int W, int NZ) {
  const int wb = get_global_id(0), h = get_global_id(1), z = get_global_id(2);
  const int w0 = wb * 4;
  if (w0 >= W || h >= H || z >= NZ) return;
  const int C4 = (C + 3) >> 2;
  const int n = z / C4;
  const int c = (z - n * C4) * 4;
  if (w0 + 4 <= W && c + 4 <= C) {
    // r0..r3: channel-major rows (channel c+j, pixels w0..w0+3) when the source is nchw, else
    // pixel-major rows (pixel w0+p, channels c..c+3).
    float4 r0, r1, r2, r3;
#if SRC_L == 0
    r0 = vload4(0, src + off_l(0, n, c + 0, h, w0, C, H, W));
    r1 = vload4(0, src + off_l(0, n, c + 1, h, w0, C, H, W));
    r2 = vload4(0, src + off_l(0, n, c + 2, h, w0, C, H, W));
    r3 = vload4(0, src + off_l(0, n, c + 3, h, w0, C, H, W));
#else
    r0 = vload4(0, src + off_l(SRC_L, n, c, h, w0 + 0, C, H, W));
    r1 = vload4(0, src + off_l(SRC_L, n, c, h, w0 + 1, C, H, W));
    r2 = vload4(0, src + off_l(SRC_L, n, c, h, w0 + 2, C, H, W));
    r3 = vload4(0, src + off_l(SRC_L, n, c, h, w0 + 3, C, H, W));
#endif
#if (SRC_L == 0) != (DST_L == 0)
    transpose4(&r0, &r1, &r2, &r3);
#endif
#if DST_L == 0
    vstore4(r0, 0, dst + off_l(0, n, c + 0, h, w0, C, H, W));
    vstore4(r1, 0, dst + off_l(0, n, c + 1, h, w0, C, H, W));
    vstore4(r2, 0, dst + off_l(0, n, c + 2, h, w0, C, H, W));
    vstore4(r3, 0, dst + off_l(0, n, c + 3, h, w0, C, H, W));
#else
    vstore4(r0, 0, dst + off_l(DST_L, n, c, h, w0 + 0, C, H, W));
    vstore4(r1, 0, dst + off_l(DST_L, n, c, h, w0 + 1, C, H, W));
    vstore4(r2, 0, dst + off_l(DST_L, n, c, h, w0 + 2, C, H, W));
    vstore4(r3, 0, dst + off_l(DST_L, n, c, h, w0 + 3, C, H, W));
#endif
    return;
  }
  for (int p = 0; p < 4 && w0 + p < W; ++p)
    for (int j = 0; j < 4; ++j) {
      if (c + j < C)
        dst[off_l(DST_L, n, c + j, h, w0 + p, C, H, W)] = src[off_l(SRC_L, n, c + j, h, w0 + p, C, H, W)];
#if DST_L == 2
      else
        dst[off_l(2, n, c + j, h, w0 + p, C, H, W)] = 0.f;
#endif
    }
}
