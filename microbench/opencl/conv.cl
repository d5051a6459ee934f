// Direct convolution (any kernel size, stride, padding, groups) in one activation layout.
//
// One work-item computes a register tile of PX output pixels along ow x OCV output channels of one
// group. The OCV channels are one vector (float4/8/16), so the inner loop is the broadcast-multiply of a
// CPU GEMM micro-kernel: per input channel, one vector load of OCV weights and PX scalar inputs, PX
// vector FMAs. On a CPU device (PoCL) the vectors become AVX-512 registers; on a GPU they are registers
// of one thread. A 1x1 convolution is exactly a GEMM (pixels x ic) * (ic x oc) with this tile.
//
// Weights are packed by the host as [G][OCB][KH][KW][ICG][OCV] (OCB = ceil(OCG / OCV) blocks per
// group, padded with zeros), bias as [G][OCB][OCV].
//
// Defines: LAYOUT_*, OCV (4, 8, 16), PX (pixels per work-item).
#define VT CAT(float, OCV)
#define VLOAD CAT(vload, OCV)
#define VSTORE CAT(vstore, OCV)

__kernel void conv2d(__global const float* restrict src, __global const float* restrict wei,
                     __global const float* restrict bias, __global float* restrict dst, int IC,
                     int IH, int IW, int OC, int OH, int OW, int KH, int KW, int SH, int SW, int PH,
                     int PW, int G, int ICG, int OCG, int OCB, int OWB, int NZ) {
  const int owb = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (owb >= OWB || oh >= OH || z >= NZ) return;
  const int gob = z % (G * OCB);
  const int n = z / (G * OCB);
  const int g = gob / OCB;
  const int ob = gob - g * OCB;
  const int ow0 = owb * PX;
  const int c0 = g * ICG;
  // Vector loads of 4 input channels need the group's first channel on a block boundary (nc4hw4).
#if defined(LAYOUT_NC4HW4)
  const int cvec = (c0 & 3) == 0 ? (ICG & ~3) : 0;
#else
  const int cvec = ICG & ~3;
#endif

  VT acc[PX];
  const VT b = VLOAD(gob, bias);
  for (int p = 0; p < PX; ++p) acc[p] = b;

  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PH + kh;
    if (ih < 0 || ih >= IH) continue;
    for (int kw = 0; kw < KW; ++kw) {
      // Per pixel: the offset of channel 0 and a 0/1 mask for pixels in the padding (their offset
      // is clamped to a valid one, the mask zeroes their contribution).
      size_t off[PX];
      float m[PX];
      for (int p = 0; p < PX; ++p) {
        const int iw = (ow0 + p) * SW - PW + kw;
        const bool ok = iw >= 0 && iw < IW;
        off[p] = OFF(n, 0, ih, ok ? iw : 0, IC, IH, IW);
        m[p] = ok ? 1.f : 0.f;
      }
      __global const float* wp = wei + ((size_t)(gob * KH + kh) * KW + kw) * ICG * OCV;
      int c = 0;
      for (; c < cvec; c += 4) {
        const VT w0 = VLOAD(0, wp + (c + 0) * OCV);
        const VT w1 = VLOAD(0, wp + (c + 1) * OCV);
        const VT w2 = VLOAD(0, wp + (c + 2) * OCV);
        const VT w3 = VLOAD(0, wp + (c + 3) * OCV);
        const size_t co = OFF(0, c0 + c, 0, 0, IC, IH, IW);
        for (int p = 0; p < PX; ++p) {
#if defined(LAYOUT_NCHW)
          const size_t cs = (size_t)IH * IW;
          const float4 s = (float4)(src[off[p] + co], src[off[p] + co + cs],
                                    src[off[p] + co + 2 * cs], src[off[p] + co + 3 * cs]) * m[p];
#else
          const float4 s = vload4(0, src + off[p] + co) * m[p];
#endif
          acc[p] = fma((VT)s.s0, w0, acc[p]);
          acc[p] = fma((VT)s.s1, w1, acc[p]);
          acc[p] = fma((VT)s.s2, w2, acc[p]);
          acc[p] = fma((VT)s.s3, w3, acc[p]);
        }
      }
      for (; c < ICG; ++c) {
        const VT w = VLOAD(0, wp + c * OCV);
        const size_t co = OFF(0, c0 + c, 0, 0, IC, IH, IW);
        for (int p = 0; p < PX; ++p) acc[p] = fma((VT)(src[off[p] + co] * m[p]), w, acc[p]);
      }
    }
  }

  const int ocg0 = ob * OCV;                 // first channel of the tile within the group
  const int oc0 = g * OCG + ocg0;            // ... within all channels
  const int nvalid = min(OCV, OCG - ocg0);   // channels of the tile that exist
  for (int p = 0; p < PX; ++p) {
    const int ow = ow0 + p;
    if (ow >= OW) break;
#if defined(LAYOUT_NHWC)
    if (nvalid == OCV) {
      VSTORE(acc[p], 0, dst + OFF(n, oc0, oh, ow, OC, OH, OW));
      continue;
    }
#elif defined(LAYOUT_NC4HW4)
    if (nvalid == OCV && (oc0 & 3) == 0) {
      __global float* d = dst + OFF(n, oc0, oh, ow, OC, OH, OW);
      const size_t bs = (size_t)OH * OW * 4;  // distance between channel blocks
      float t[OCV];
      VSTORE(acc[p], 0, t);
      for (int j = 0; j < OCV / 4; ++j) vstore4(vload4(j, t), 0, d + j * bs);
      continue;
    }
#endif
    float t[OCV];
    VSTORE(acc[p], 0, t);
    for (int j = 0; j < nvalid; ++j) dst[OFF(n, oc0 + j, oh, ow, OC, OH, OW)] = t[j];
  }
}

// Depthwise convolution (G == IC == OC): one work-item computes 4 channels (a float4) x PX pixels
// along ow. Weights packed as [C/4][KH][KW][4], bias as [C/4][4] (zero padded).
__kernel void dwconv2d(__global const float* restrict src, __global const float* restrict wei,
                       __global const float* restrict bias, __global float* restrict dst, int C,
                       int IH, int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW,
                       int OWB, int NZ) {
  const int owb = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (owb >= OWB || oh >= OH || z >= NZ) return;
  const int C4 = (C + 3) >> 2;
  const int n = z / C4;
  const int c = (z - n * C4) * 4;
  const int ow0 = owb * PX;
  float4 acc[PX];
  const float4 b = vload4(z - n * C4, bias);
  for (int p = 0; p < PX; ++p) acc[p] = b;
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PH + kh;
    if (ih < 0 || ih >= IH) continue;
    __global const float* wp = wei + ((size_t)(z - n * C4) * KH + kh) * KW * 4;
    for (int kw = 0; kw < KW; ++kw) {
      const float4 w = vload4(kw, wp);
      for (int p = 0; p < PX; ++p) {
        const int iw = (ow0 + p) * SW - PW + kw;
        if (iw >= 0 && iw < IW) acc[p] = fma(LOAD_C4(src, n, c, ih, iw, C, IH, IW), w, acc[p]);
      }
    }
  }
  for (int p = 0; p < PX; ++p) {
    const int ow = ow0 + p;
    if (ow < OW) STORE_C4(acc[p], dst, n, c, oh, ow, C, OH, OW);
  }
}
