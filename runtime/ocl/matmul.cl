// Batched GEMM with the epilogue fused: C[b] = ACT_F(ALPHA * op(A[b]) * op(B[b]) + bias), all
// plain. op(A) is M x K (A stored K x M with TRANS_A), op(B) is K x N (B stored N x K with
// TRANS_B). A batch stride of 0 broadcasts an operand over the batch. One work-item computes MR
// rows x 16 columns: per k one float16 row of B and MR scalars of A, MR float16 FMAs (a CPU GEMM's
// micro-kernel, in registers).
// Defines: MR, TRANS_A, TRANS_B, BIAS (0: none; 1: one row of N, every row; 2: a full M x N
// matrix), ACT.
#ifndef TRANS_A
#define TRANS_A 0
#endif
#ifndef TRANS_B
#define TRANS_B 0
#endif
#ifndef BIAS
#define BIAS 0
#endif

#if TRANS_A
#define A_AT(r, k) a[(size_t)(k) * M + row[r]]
#else
#define A_AT(r, k) a[(size_t)row[r] * K + (k)]
#endif

// Columns n0..n0+15 of a row of N floats; columns >= N read as 0.
inline float16 load_row16(__global const float* p, int n0, int N) {
  if (n0 + 16 <= N) return vload16(0, p + n0);
  float t[16];
  for (int j = 0; j < 16; ++j) t[j] = n0 + j < N ? p[n0 + j] : 0.f;
  return vload16(0, t);
}

// Row k of op(B), columns n0..n0+15.
inline float16 load_b16(__global const float* b, int k, int n0, int N, int K) {
#if TRANS_B
  float t[16];
  for (int j = 0; j < 16; ++j) t[j] = n0 + j < N ? b[(size_t)(n0 + j) * K + k] : 0.f;
  return vload16(0, t);
#else
  return load_row16(b + (size_t)k * N, n0, N);
#endif
}

inline void store_row16(float16 v, __global float* c, int n0, int N) {
  if (n0 + 16 <= N) {
    vstore16(v, 0, c + n0);
    return;
  }
  float t[16];
  vstore16(v, 0, t);
  for (int j = 0; j < 16 && n0 + j < N; ++j) c[n0 + j] = t[j];
}

__kernel void matmul(__global const float* restrict A, __global const float* restrict B,
                     __global const float* restrict bias, __global float* restrict C, int M, int N,
                     int K, int NB, int MBLK, int NBATCH, long a_bs, long b_bs, float ALPHA,
                     float A0, float A1) {
  const int nb = get_global_id(0), mblk = get_global_id(1), bt = get_global_id(2);
  if (nb >= NB || mblk >= MBLK || bt >= NBATCH) return;
  const int n0 = nb * 16;
  const int m0 = mblk * MR;
  __global const float* a = A + bt * a_bs;
  __global const float* b = B + bt * b_bs;
  int row[MR];  // rows past M repeat the last one (computed, never stored)
  for (int r = 0; r < MR; ++r) row[r] = min(m0 + r, M - 1);
  float16 acc[MR];
  for (int r = 0; r < MR; ++r) acc[r] = 0.f;
  int k = 0;
#if !TRANS_A && !TRANS_B
  if (n0 + 16 <= N) {
    for (; k + 4 <= K; k += 4) {
      const float16 b0 = vload16(0, b + (size_t)(k + 0) * N + n0);
      const float16 b1 = vload16(0, b + (size_t)(k + 1) * N + n0);
      const float16 b2 = vload16(0, b + (size_t)(k + 2) * N + n0);
      const float16 b3 = vload16(0, b + (size_t)(k + 3) * N + n0);
      for (int r = 0; r < MR; ++r) {
        const float4 av = vload4(0, a + (size_t)row[r] * K + k);
        acc[r] = fma((float16)av.s0, b0, acc[r]);
        acc[r] = fma((float16)av.s1, b1, acc[r]);
        acc[r] = fma((float16)av.s2, b2, acc[r]);
        acc[r] = fma((float16)av.s3, b3, acc[r]);
      }
    }
  }
#endif
  for (; k < K; ++k) {
    const float16 bk = load_b16(b, k, n0, N, K);
    for (int r = 0; r < MR; ++r) acc[r] = fma((float16)A_AT(r, k), bk, acc[r]);
  }
#if BIAS == 1
  const float16 bias_row = load_row16(bias, n0, N);
#endif
  for (int r = 0; r < MR && m0 + r < M; ++r) {
    float16 v = acc[r] * ALPHA;
#if BIAS == 1
    v += bias_row;
#elif BIAS == 2
    v += load_row16(bias + (size_t)(m0 + r) * N, n0, N);
#endif
    store_row16(ACT_F(v), C + ((size_t)bt * M + m0 + r) * N, n0, N);
  }
}
