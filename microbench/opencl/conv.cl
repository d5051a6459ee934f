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
#if defined(LAYOUT_NCHW)
      // Stride 1 with all PX input pixels inside the row: one vector load of PX neighbouring pixels
      // per input channel instead of PX scalar loads.
      const int iw0 = ow0 - PW + kw;
      if (SW == 1 && iw0 >= 0 && iw0 + PX <= IW) {
        __global const float* sp = src + OFF(n, c0, ih, iw0, IC, IH, IW);
        const size_t cs = (size_t)IH * IW;
        for (int c = 0; c < ICG; ++c) {
          const VT w = VLOAD(0, wp + c * OCV);
#if PX == 8
          const float8 s = vload8(0, sp + c * cs);
          acc[0] = fma((VT)s.s0, w, acc[0]); acc[1] = fma((VT)s.s1, w, acc[1]);
          acc[2] = fma((VT)s.s2, w, acc[2]); acc[3] = fma((VT)s.s3, w, acc[3]);
          acc[4] = fma((VT)s.s4, w, acc[4]); acc[5] = fma((VT)s.s5, w, acc[5]);
          acc[6] = fma((VT)s.s6, w, acc[6]); acc[7] = fma((VT)s.s7, w, acc[7]);
#elif PX == 4
          const float4 s = vload4(0, sp + c * cs);
          acc[0] = fma((VT)s.s0, w, acc[0]); acc[1] = fma((VT)s.s1, w, acc[1]);
          acc[2] = fma((VT)s.s2, w, acc[2]); acc[3] = fma((VT)s.s3, w, acc[3]);
#else
          for (int p = 0; p < PX; ++p) acc[p] = fma((VT)sp[c * cs + p], w, acc[p]);
#endif
        }
        continue;
      }
#endif
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
      VSTORE(ACT_F(acc[p]), 0, dst + OFF(n, oc0, oh, ow, OC, OH, OW));
      continue;
    }
#elif defined(LAYOUT_NC4HW4)
    if (nvalid == OCV && (oc0 & 3) == 0) {
      __global float* d = dst + OFF(n, oc0, oh, ow, OC, OH, OW);
      const size_t bs = (size_t)OH * OW * 4;  // distance between channel blocks
      float t[OCV];
      VSTORE(ACT_F(acc[p]), 0, t);
      for (int j = 0; j < OCV / 4; ++j) vstore4(vload4(j, t), 0, d + j * bs);
      continue;
    }
#endif
    float t[OCV];
    VSTORE(ACT_F(acc[p]), 0, t);
    for (int j = 0; j < nvalid; ++j) dst[OFF(n, oc0 + j, oh, ow, OC, OH, OW)] = t[j];
  }
}

// Depthwise convolution (G == IC == OC): one work-item computes CV channels (one float4/8/16) x PX
// pixels along ow. Weights packed as [C/CV][KH][KW][CV], bias as [C/CV][CV] (zero padded).
// Defines: CV (4, 8, 16; nc4hw4 reads CV/4 float4 blocks), PX.
#ifndef CV
#define CV 4  // a program built for conv2d still compiles this kernel
#endif
#define CVT CAT(float, CV)
#define VLOADCV CAT(vload, CV)
#define VSTORECV CAT(vstore, CV)

inline CVT dw_load(__global const float* src, int n, int c, int h, int w, int C, int H, int W) {
#if defined(LAYOUT_NHWC)
  if (c + CV <= C) return VLOADCV(0, src + OFF(n, c, h, w, C, H, W));
#elif defined(LAYOUT_NC4HW4)
  // Channels past C are zero padding inside the last block; whole blocks past it are not read.
  if (c + CV <= ((C + 3) & ~3)) {
#if CV == 4
    return vload4(0, src + OFF(n, c, h, w, C, H, W));
#else
    const size_t bs = (size_t)H * W * 4;
    __global const float* p = src + OFF(n, c, h, w, C, H, W);
#if CV == 8
    return (float8)(vload4(0, p), vload4(0, p + bs));
#else
    return (float16)(vload4(0, p), vload4(0, p + bs), vload4(0, p + 2 * bs), vload4(0, p + 3 * bs));
#endif
#endif
  }
#endif
#if CV == 4
  return LOAD_C4(src, n, c, h, w, C, H, W);
#else
  float t[CV];
  for (int j = 0; j < CV; ++j) t[j] = c + j < C ? src[OFF(n, c + j, h, w, C, H, W)] : 0.f;
  return VLOADCV(0, t);
#endif
}

inline void dw_store(CVT v, __global float* dst, int n, int c, int h, int w, int C, int H, int W) {
#if defined(LAYOUT_NHWC)
  if (c + CV <= C) {
    VSTORECV(v, 0, dst + OFF(n, c, h, w, C, H, W));
    return;
  }
#endif
  float t[CV];
  VSTORECV(v, 0, t);
#if defined(LAYOUT_NC4HW4)
  // Whole blocks (padding lanes included: they hold zeros from zero weights and bias).
  const int nb = min(CV, ((C + 3) & ~3) - c) / 4;
  for (int j = 0; j < nb; ++j) vstore4(vload4(j, t), 0, dst + OFF(n, c + 4 * j, h, w, C, H, W));
#else
  for (int j = 0; j < CV && c + j < C; ++j) dst[OFF(n, c + j, h, w, C, H, W)] = t[j];
#endif
}

__kernel void dwconv2d(__global const float* restrict src, __global const float* restrict wei,
                       __global const float* restrict bias, __global float* restrict dst, int C,
                       int IH, int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW,
                       int OWB, int NZ) {
  const int owb = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (owb >= OWB || oh >= OH || z >= NZ) return;
  const int CB = (C + CV - 1) / CV;
  const int n = z / CB;
  const int cb = z - n * CB;
  const int c = cb * CV;
  const int ow0 = owb * PX;
  CVT acc[PX];
  const CVT b = VLOADCV(cb, bias);
  for (int p = 0; p < PX; ++p) acc[p] = b;
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PH + kh;
    if (ih < 0 || ih >= IH) continue;
    __global const float* wp = wei + ((size_t)cb * KH + kh) * KW * CV;
    const int iw0 = ow0 * SW - PW;
    if (KW == 3 && SW == 1 && iw0 >= 0 && iw0 + PX + 2 <= IW) {
      // 3-wide window, stride 1, whole row segment inside: PX + 2 input loads serve all 3 kw.
      CVT in[PX + 2];
      for (int j = 0; j < PX + 2; ++j) in[j] = dw_load(src, n, c, ih, iw0 + j, C, IH, IW);
      for (int kw = 0; kw < 3; ++kw) {
        const CVT w = VLOADCV(kw, wp);
        for (int p = 0; p < PX; ++p) acc[p] = fma(in[p + kw], w, acc[p]);
      }
      continue;
    }
    for (int kw = 0; kw < KW; ++kw) {
      const CVT w = VLOADCV(kw, wp);
      for (int p = 0; p < PX; ++p) {
        const int iw = (ow0 + p) * SW - PW + kw;
        if (iw >= 0 && iw < IW) acc[p] = fma(dw_load(src, n, c, ih, iw, C, IH, IW), w, acc[p]);
      }
    }
  }
  for (int p = 0; p < PX; ++p) {
    const int ow = ow0 + p;
    if (ow < OW) dw_store(ACT_F(acc[p]), dst, n, c, oh, ow, C, OH, OW);
  }
}

// Depthwise convolution in nchw, vectorised along w: one work-item computes PX neighbouring output
// pixels (one floatPX) of one channel; with stride 1 each (kh, kw) is one unaligned vector load of
// the input row. Weights [C][KH][KW] and bias [C] as given.
#define PXT CAT(float, PX)
#define VLOADPX CAT(vload, PX)
#define VSTOREPX CAT(vstore, PX)
__kernel void dwconv2d_w(__global const float* restrict src, __global const float* restrict wei,
                         __global const float* restrict bias, __global float* restrict dst, int C,
                         int IH, int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH,
                         int PW, int OWB, int NZ) {
  const int owb = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (owb >= OWB || oh >= OH || z >= NZ) return;
  const int c = z % C;
  const int ow0 = owb * PX;
  __global const float* plane = src + (size_t)z * IH * IW;  // z = n * C + c
  PXT acc = (PXT)bias[c];
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PH + kh;
    if (ih < 0 || ih >= IH) continue;
    __global const float* row = plane + (size_t)ih * IW;
    __global const float* wr = wei + ((size_t)c * KH + kh) * KW;
    for (int kw = 0; kw < KW; ++kw) {
      const int iw0 = ow0 * SW - PW + kw;
      PXT s;
      if (SW == 1 && iw0 >= 0 && iw0 + PX <= IW) {
        s = VLOADPX(0, row + iw0);
      } else {
        float t[PX];
        for (int p = 0; p < PX; ++p) {
          const int iw = iw0 + p * SW;
          t[p] = iw >= 0 && iw < IW ? row[iw] : 0.f;
        }
        s = VLOADPX(0, t);
      }
      acc = fma(s, (PXT)wr[kw], acc);
    }
  }
  __global float* drow = dst + ((size_t)z * OH + oh) * OW;
  if (ow0 + PX <= OW) {
    VSTOREPX(ACT_F(acc), 0, drow + ow0);
  } else {
    float t[PX];
    VSTOREPX(ACT_F(acc), 0, t);
    for (int p = 0; ow0 + p < OW; ++p) drow[ow0 + p] = t[p];
  }
}
