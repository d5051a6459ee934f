// Convolutions with the bias (and a folded batch normalisation) and the activation fused.
//
// conv2d: any kernel size, stride, dilation, padding and group count. One work-item computes a tile
// of PX output pixels along ow x OCV output channels of one group; the OCV channels are one vector,
// so the inner loop is a GEMM micro-kernel's broadcast-multiply (per input channel one vector load
// of weights, PX scalar inputs, PX vector FMAs). Weights are packed by the host as
// [G][OCB][KH][KW][ICG][OCV] (OCB = ceil(OCG / OCV) blocks per group, zero padded), bias as
// [G][OCB][OCV]. The input is read in IN_L, the output written in OUT_L.
//
// Defines: IN_L, OUT_L, ACT, OCV (4, 8, 16), PX.
#ifndef OCV
#define OCV 4
#endif
#ifndef PX
#define PX 4
#endif
#define VT CAT(float, OCV)
#define VLOAD CAT(vload, OCV)
#define VSTORE CAT(vstore, OCV)
#define PXT CAT(float, PX)
#define VLOADPX CAT(vload, PX)
#define VSTOREPX CAT(vstore, PX)

__kernel void conv2d(__global const float* restrict src, __global const float* restrict wei,
                     __global const float* restrict bias, __global float* restrict dst, int IC,
                     int IH, int IW, int OC, int OH, int OW, int KH, int KW, int SH, int SW, int PH,
                     int PW, int DH, int DW, int G, int ICG, int OCG, int OCB, int OWB, int NZ,
                     float A0, float A1) {
  const int owb = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (owb >= OWB || oh >= OH || z >= NZ) return;
  const int gob = z % (G * OCB);
  const int n = z / (G * OCB);
  const int g = gob / OCB;
  const int ob = gob - g * OCB;
  const int ow0 = owb * PX;
  const int c0 = g * ICG;
  // Vector loads of 4 input channels need the group's first channel on a block boundary (nc4hw4).
#if IN_L == 2
  const int cvec = (c0 & 3) == 0 ? (ICG & ~3) : 0;
#else
  const int cvec = ICG & ~3;
#endif

  VT acc[PX];
  const VT b = VLOAD(gob, bias);
  for (int p = 0; p < PX; ++p) acc[p] = b;

  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PH + kh * DH;
    if (ih < 0 || ih >= IH) continue;
    for (int kw = 0; kw < KW; ++kw) {
      __global const float* wp = wei + ((size_t)(gob * KH + kh) * KW + kw) * ICG * OCV;
#if IN_L == 0
      // Stride 1 with all PX input pixels inside the row: one vector load of PX neighbouring pixels
      // per input channel instead of PX scalar loads.
      const int iw0 = ow0 - PW + kw * DW;
      if (SW == 1 && iw0 >= 0 && iw0 + PX <= IW) {
        __global const float* sp = src + off_l(0, n, c0, ih, iw0, IC, IH, IW);
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
      // Per pixel: the offset of channel 0 and a 0/1 mask for pixels in the padding (their offset
      // is clamped to a valid one, the mask zeroes their contribution).
      size_t off[PX];
      float m[PX];
      for (int p = 0; p < PX; ++p) {
        const int iw = (ow0 + p) * SW - PW + kw * DW;
        const bool ok = iw >= 0 && iw < IW;
        off[p] = off_l(IN_L, n, 0, ih, ok ? iw : 0, IC, IH, IW);
        m[p] = ok ? 1.f : 0.f;
      }
      int c = 0;
      for (; c < cvec; c += 4) {
        const VT w0 = VLOAD(0, wp + (c + 0) * OCV);
        const VT w1 = VLOAD(0, wp + (c + 1) * OCV);
        const VT w2 = VLOAD(0, wp + (c + 2) * OCV);
        const VT w3 = VLOAD(0, wp + (c + 3) * OCV);
        const size_t co = off_l(IN_L, 0, c0 + c, 0, 0, IC, IH, IW);
        for (int p = 0; p < PX; ++p) {
#if IN_L == 0
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
        const size_t co = off_l(IN_L, 0, c0 + c, 0, 0, IC, IH, IW);
        for (int p = 0; p < PX; ++p) acc[p] = fma((VT)(src[off[p] + co] * m[p]), w, acc[p]);
      }
    }
  }

  const int ocg0 = ob * OCV;                // first channel of the tile within the group
  const int oc0 = g * OCG + ocg0;           // ... within all channels
  const int nvalid = min(OCV, OCG - ocg0);  // channels of the tile that exist
#if OUT_L == 0 && (PX == 4 || PX == 8)
  if (ow0 + PX <= OW) {
    // nchw: the tile transposed in registers, one vector store of PX pixels per channel.
    float t[PX][OCV];
    for (int p = 0; p < PX; ++p) VSTORE(ACT_F(acc[p]), 0, t[p]);
    for (int j = 0; j < nvalid; ++j) {
      float r[PX];
      for (int p = 0; p < PX; ++p) r[p] = t[p][j];
      VSTOREPX(VLOADPX(0, r), 0, dst + off_l(0, n, oc0 + j, oh, ow0, OC, OH, OW));
    }
    return;
  }
#endif
  for (int p = 0; p < PX; ++p) {
    const int ow = ow0 + p;
    if (ow >= OW) break;
    const VT v = ACT_F(acc[p]);
#if OUT_L == 1
    if (nvalid == OCV) {
      VSTORE(v, 0, dst + off_l(1, n, oc0, oh, ow, OC, OH, OW));
      continue;
    }
#elif OUT_L == 2
    if (nvalid == OCV && (oc0 & 3) == 0) {
      __global float* d = dst + off_l(2, n, oc0, oh, ow, OC, OH, OW);
      const size_t bs = (size_t)OH * OW * 4;  // distance between channel blocks
      float t[OCV];
      VSTORE(v, 0, t);
      for (int j = 0; j < OCV / 4; ++j) vstore4(vload4(j, t), 0, d + j * bs);
      continue;
    }
#endif
    float t[OCV];
    VSTORE(v, 0, t);
    for (int j = 0; j < nvalid; ++j) dst[off_l(OUT_L, n, oc0 + j, oh, ow, OC, OH, OW)] = t[j];
#if OUT_L == 2
    // The tile that holds the last channel also zeroes the padding lanes of its block.
    if (oc0 + nvalid == OC)
      for (int c = OC; c < ((OC + 3) & ~3); ++c) dst[off_l(2, n, c, oh, ow, OC, OH, OW)] = 0.f;
#endif
  }
}

// Depthwise convolution (G == IC == OC) from nhwc or nc4hw4: one work-item computes CV channels
// (one float4/8/16: neighbouring channels in nhwc, CV/4 neighbouring blocks in nc4hw4) x PX pixels
// along ow. Weights packed as [C/CV][KH][KW][CV], bias as [C/CV][CV] (zero padded).
// Defines: CV (4, 8, 16), PX, IN_L, OUT_L, ACT.
#ifndef CV
#define CV 4  // a program built for conv2d still compiles this kernel
#endif
#define CVT CAT(float, CV)
#define VLOADCV CAT(vload, CV)
#define VSTORECV CAT(vstore, CV)

// Channels c..c+CV-1 of one pixel; channels >= C read as 0.
inline CVT dw_load(__global const float* src, int n, int c, int h, int w, int C, int H, int W) {
#if IN_L == 1
  if (c + CV <= C) return VLOADCV(0, src + off_l(1, n, c, h, w, C, H, W));
#elif IN_L == 2
  // Whole blocks (padding lanes hold zeros); a vector reaching past the last block goes per lane.
  if (c + CV <= ((C + 3) & ~3)) {
    __global const float* p = src + off_l(2, n, c, h, w, C, H, W);
#if CV == 4
    return vload4(0, p);
#else
    const size_t bs = (size_t)H * W * 4;
#if CV == 8
    return (float8)(vload4(0, p), vload4(0, p + bs));
#else
    return (float16)(vload4(0, p), vload4(0, p + bs), vload4(0, p + 2 * bs), vload4(0, p + 3 * bs));
#endif
#endif
  }
#endif
  float t[CV];
  for (int j = 0; j < CV; ++j) t[j] = c + j < C ? src[off_l(IN_L, n, c + j, h, w, C, H, W)] : 0.f;
  return VLOADCV(0, t);
}

// Stores channels c..c+CV-1 of one pixel (those < C; nc4hw4: whole blocks, padding lanes as 0).
inline void dw_store(CVT v, __global float* dst, int n, int c, int h, int w, int C, int H, int W) {
#if OUT_L == 1
  if (c + CV <= C) {
    VSTORECV(v, 0, dst + off_l(1, n, c, h, w, C, H, W));
    return;
  }
#endif
  float t[CV];
  VSTORECV(v, 0, t);
#if OUT_L == 2
  const int4 lane = (int4)(0, 1, 2, 3);
  for (int j = 0; j < CV && c + j < C; j += 4)
    vstore4(select((float4)0.f, vload4(0, t + j), lane + (c + j) < C), 0,
            dst + off_l(2, n, c + j, h, w, C, H, W));
#else
  for (int j = 0; j < CV && c + j < C; ++j) dst[off_l(OUT_L, n, c + j, h, w, C, H, W)] = t[j];
#endif
}

__kernel void dwconv2d(__global const float* restrict src, __global const float* restrict wei,
                       __global const float* restrict bias, __global float* restrict dst, int C,
                       int IH, int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH,
                       int PW, int DH, int DW, int OWB, int NZ, float A0, float A1) {
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
    const int ih = oh * SH - PH + kh * DH;
    if (ih < 0 || ih >= IH) continue;
    __global const float* wp = wei + ((size_t)cb * KH + kh) * KW * CV;
    const int iw0 = ow0 * SW - PW;
    if (KW == 3 && SW == 1 && DW == 1 && iw0 >= 0 && iw0 + PX + 2 <= IW) {
      // A 3-wide window, stride 1, the whole row segment inside: PX + 2 loads serve all 3 taps.
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
        const int iw = (ow0 + p) * SW - PW + kw * DW;
        if (iw >= 0 && iw < IW) acc[p] = fma(dw_load(src, n, c, ih, iw, C, IH, IW), w, acc[p]);
      }
    }
  }
  for (int p = 0; p < PX && ow0 + p < OW; ++p)
    dw_store(ACT_F(acc[p]), dst, n, c, oh, ow0 + p, C, OH, OW);
}

// Depthwise convolution from nchw, vectorised along w: one work-item computes PX neighbouring
// output pixels of one channel (with stride 1 or 2 each tap is one or two unaligned vector loads of
// the input row). Weights [C][KH][KW] and bias [C] as given. Output in OUT_L.
__kernel void dwconv2d_w(__global const float* restrict src, __global const float* restrict wei,
                         __global const float* restrict bias, __global float* restrict dst, int C,
                         int IH, int IW, int OH, int OW, int KH, int KW, int SH, int SW, int PH,
                         int PW, int DH, int DW, int OWB, int NZ, float A0, float A1) {
  const int owb = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
  if (owb >= OWB || oh >= OH || z >= NZ) return;
  const int c = z % C;
  const int n = z / C;
  const int ow0 = owb * PX;
  __global const float* plane = src + (size_t)z * IH * IW;  // z = n * C + c
  PXT acc = (PXT)bias[c];
  for (int kh = 0; kh < KH; ++kh) {
    const int ih = oh * SH - PH + kh * DH;
    if (ih < 0 || ih >= IH) continue;
    __global const float* row = plane + (size_t)ih * IW;
    __global const float* wr = wei + ((size_t)c * KH + kh) * KW;
    for (int kw = 0; kw < KW; ++kw) {
      const int iw0 = ow0 * SW - PW + kw * DW;
      PXT s;
      if (SW == 1 && iw0 >= 0 && iw0 + PX <= IW) {
        s = VLOADPX(0, row + iw0);
      } else if (SW == 2 && iw0 >= 0 && iw0 + 2 * PX <= IW) {
        // Stride 2: the even elements of 2 * PX neighbours.
#if PX == 16
        s = (float16)(vload16(0, row + iw0).even, vload16(0, row + iw0 + 16).even);
#elif PX == 8
        s = vload16(0, row + iw0).even;
#else
        s = vload8(0, row + iw0).even;
#endif
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
  acc = ACT_F(acc);
#if OUT_L == 0
  __global float* drow = dst + ((size_t)z * OH + oh) * OW;
  if (ow0 + PX <= OW) {
    VSTOREPX(acc, 0, drow + ow0);
    return;
  }
#endif
  float t[PX];
  VSTOREPX(acc, 0, t);
  for (int p = 0; p < PX && ow0 + p < OW; ++p)
    dst[off_l(OUT_L, n, c, oh, ow0 + p, C, OH, OW)] = t[p];
#if OUT_L == 2
  // The last channel's work-items also zero the padding lanes of its block.
  if (c == C - 1)
    for (int cc = C; cc < ((C + 3) & ~3); ++cc)
      for (int p = 0; p < PX && ow0 + p < OW; ++p)
        dst[off_l(2, n, cc, oh, ow0 + p, C, OH, OW)] = 0.f;
#endif
}
