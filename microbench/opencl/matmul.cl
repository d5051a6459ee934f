// Batched matmul C[b] = A[b] (M x K) * B[b] (K x N) (+ bias[N]), all row-major ("plain").
// Inner product uses it too, with B the transposed weights (packed once by the host) and a bias.
//
// Variant "reg": one work-item computes MR rows x 16 columns; per k it loads one float16 row of B
// and MR scalars of A (as float4 along k), and does MR float16 FMAs: the broadcast micro-kernel of a
// CPU GEMM, in registers.
//
// Variant "lmem" (LMEM defined): a work-group of TM x 1 work-items shares its B panel (KT x 16) in
// local memory, loaded cooperatively; each work-item then computes its MR x 16 tile from it. This is
// the GPU-style tiling; on a CPU device local memory is ordinary cache-resident memory.
//
// Defines: MR (rows per work-item), LMEM, KT, TM (lmem variant only).

inline float16 load_b_row(__global const float* b, int n0, int N) {
  if (n0 + 16 <= N) return vload16(0, b + n0);
  float t[16];
  for (int j = 0; j < 16; ++j) t[j] = n0 + j < N ? b[n0 + j] : 0.f;
  return vload16(0, t);
}

inline void store_c_row(float16 v, __global float* c, int n0, int N) {
  if (n0 + 16 <= N) {
    vstore16(v, 0, c + n0);
    return;
  }
  float t[16];
  vstore16(v, 0, t);
  for (int j = 0; j < 16 && n0 + j < N; ++j) c[n0 + j] = t[j];
}

#ifndef LMEM
__kernel void matmul(__global const float* restrict A, __global const float* restrict B,
                     __global const float* restrict bias, __global float* restrict C, int M, int N,
                     int K, int NB, int MBLK, int NBATCH, long b_batch_stride, int has_bias) {
  const int nb = get_global_id(0), mblk = get_global_id(1), bt = get_global_id(2);
  if (nb >= NB || mblk >= MBLK || bt >= NBATCH) return;
  const int n0 = nb * 16;
  const int m0 = mblk * MR;
  __global const float* a[MR];
  for (int r = 0; r < MR; ++r) a[r] = A + ((size_t)bt * M + min(m0 + r, M - 1)) * K;
  __global const float* b = B + bt * b_batch_stride;
  float16 acc[MR];
  const float16 init = has_bias ? load_b_row(bias, n0, N) : (float16)0.f;
  for (int r = 0; r < MR; ++r) acc[r] = init;
  int k = 0;
  if (n0 + 16 <= N) {
    for (; k + 4 <= K; k += 4) {
      const float16 b0 = vload16(0, b + (size_t)(k + 0) * N + n0);
      const float16 b1 = vload16(0, b + (size_t)(k + 1) * N + n0);
      const float16 b2 = vload16(0, b + (size_t)(k + 2) * N + n0);
      const float16 b3 = vload16(0, b + (size_t)(k + 3) * N + n0);
      for (int r = 0; r < MR; ++r) {
        const float4 av = vload4(0, a[r] + k);
        acc[r] = fma((float16)av.s0, b0, acc[r]);
        acc[r] = fma((float16)av.s1, b1, acc[r]);
        acc[r] = fma((float16)av.s2, b2, acc[r]);
        acc[r] = fma((float16)av.s3, b3, acc[r]);
      }
    }
  }
  for (; k < K; ++k) {
    const float16 bk = load_b_row(b + (size_t)k * N, n0, N);
    for (int r = 0; r < MR; ++r) acc[r] = fma((float16)a[r][k], bk, acc[r]);
  }
  for (int r = 0; r < MR && m0 + r < M; ++r)
    store_c_row(ACT_F(acc[r]), C + ((size_t)bt * M + m0 + r) * N, n0, N);
}
#else
__kernel void matmul(__global const float* restrict A, __global const float* restrict B,
                     __global const float* restrict bias, __global float* restrict C, int M, int N,
                     int K, int NB, int MBLK, int NBATCH, long b_batch_stride, int has_bias) {
  // Work-group: TM work-items along dimension 1 (row blocks), 1 along dimension 0 (one n block).
  __local float bt_tile[KT * 16];
  const int nb = get_global_id(0), mblk = get_global_id(1), bt = get_global_id(2);
  const int lid = get_local_id(1);
  const bool active = nb < NB && mblk < MBLK && bt < NBATCH;
  const int n0 = nb * 16;
  const int m0 = mblk * MR;
  const int bti = min(bt, NBATCH - 1);
  __global const float* a[MR];
  for (int r = 0; r < MR; ++r) a[r] = A + ((size_t)bti * M + min(m0 + r, M - 1)) * K;
  __global const float* b = B + bti * b_batch_stride;
  float16 acc[MR];
  const float16 init = has_bias ? load_b_row(bias, min(n0, N - 1), N) : (float16)0.f;
  for (int r = 0; r < MR; ++r) acc[r] = init;
  for (int kt = 0; kt < K; kt += KT) {
    const int kn = min(KT, K - kt);
    // Cooperative load of the B panel rows kt..kt+kn.
    for (int kk = lid; kk < kn; kk += TM)
      vstore16(nb < NB ? load_b_row(b + (size_t)(kt + kk) * N, n0, N) : (float16)0.f, kk,
               bt_tile);
    barrier(CLK_LOCAL_MEM_FENCE);
    int kk = 0;
    for (; kk + 4 <= kn; kk += 4) {
      const float16 b0 = vload16(kk + 0, bt_tile);
      const float16 b1 = vload16(kk + 1, bt_tile);
      const float16 b2 = vload16(kk + 2, bt_tile);
      const float16 b3 = vload16(kk + 3, bt_tile);
      for (int r = 0; r < MR; ++r) {
        const float4 av = vload4(0, a[r] + kt + kk);
        acc[r] = fma((float16)av.s0, b0, acc[r]);
        acc[r] = fma((float16)av.s1, b1, acc[r]);
        acc[r] = fma((float16)av.s2, b2, acc[r]);
        acc[r] = fma((float16)av.s3, b3, acc[r]);
      }
    }
    for (; kk < kn; ++kk) {
      const float16 bk = vload16(kk, bt_tile);
      for (int r = 0; r < MR; ++r) acc[r] = fma((float16)a[r][kt + kk], bk, acc[r]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (!active) return;
  for (int r = 0; r < MR && m0 + r < M; ++r)
    store_c_row(ACT_F(acc[r]), C + ((size_t)bt * M + m0 + r) * N, n0, N);
}
#endif
