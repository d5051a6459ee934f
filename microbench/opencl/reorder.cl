// Layout change of an activation tensor on the device. SRC_L and DST_L: 0 nchw, 1 nhwc, 2 nc4hw4.
// One work-item moves 4 channels of one pixel; the nc4hw4 side is one float4 access, and nc4hw4
// padding lanes are written as 0.

inline size_t off_l(int l, int n, int c, int h, int w, int C, int H, int W) {
  if (l == 0) return (((size_t)n * C + c) * H + h) * W + w;
  if (l == 1) return (((size_t)n * H + h) * W + w) * C + c;
  return ((((size_t)n * ((C + 3) >> 2) + (c >> 2)) * H + h) * W + w) * 4 + (c & 3);
}

__kernel void reorder(__global const float* restrict src, __global float* restrict dst, int C,
                      int H, int W, int NZ) {
  const int w = get_global_id(0), h = get_global_id(1), z = get_global_id(2);
  if (w >= W || h >= H || z >= NZ) return;
  const int C4 = (C + 3) >> 2;
  const int n = z / C4;
  const int c = (z - n * C4) * 4;
  float4 v;
#if SRC_L == 2
  v = vload4(0, src + off_l(2, n, c, h, w, C, H, W));
#else
  float t[4];
  for (int j = 0; j < 4; ++j) t[j] = c + j < C ? src[off_l(SRC_L, n, c + j, h, w, C, H, W)] : 0.f;
  v = vload4(0, t);
#endif
#if DST_L == 2
  vstore4(v, 0, dst + off_l(2, n, c, h, w, C, H, W));
#else
  float u[4];
  vstore4(v, 0, u);
  for (int j = 0; j < 4 && c + j < C; ++j) dst[off_l(DST_L, n, c + j, h, w, C, H, W)] = u[j];
#endif
}
