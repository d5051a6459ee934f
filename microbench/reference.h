// Plain reference implementations of every op family, in f32 over plain layouts (nchw for 4D
// activations, row-major otherwise). Slow and obvious on purpose: every kernel of every unit is checked
// against these before it is trusted for timing.
//
// Tensor conventions (all plain, f32):
//   conv2d  src [mb][ic][ih][iw], wei [oc][ic/g][kh][kw] (group-major oc), bias [oc], dst [mb][oc][oh][ow]
//   matmul  src [mb][m][k], wei [mb][k][n], dst [mb][m][n]
//   ip      src [mb][ic], wei [oc][ic], bias [oc], dst [mb][oc]
//   pool    src [mb][ic][ih][iw], dst [mb][ic][oh][ow]; avg excludes padding
//   eltwise src, dst [mb][c][h][w]; clip is relu6 (0..6); hardsigmoid alpha 1/6 beta 1/2; gelu is erf
//   binary  src, dst [mb][c][h][w]; src2 by bc (Problem::Src2Dims): [mb][c][h][w], [mb][c] (per
//           channel, broadcast over h and w) or [1] (a scalar)
//   softmax src, dst [mb][c][h][w], over axis `ax`
//   bnorm   src, dst [mb][c][h][w]; wei = mean[c], variance[c], scale[c], shift[c]; epsilon 1e-5
//   lnorm   src, dst [mb][t][c], over c; wei = scale[c], shift[c]; epsilon 1e-5
//   eltwise leakyrelu: slope kLeakyReluAlpha below zero
//   concat  src = the n inputs one after another, each [mb][c][h][w] with the ax dim divided by n;
//           dst the key's dims
//   resample src [mb][c][ih][iw], dst [mb][c][oh][ow]; half-pixel centres; nearest rounds half away
//           from zero, linear clamps at the edges (oneDNN's resampling)
//   transpose src [mb][c][h][w], dst the dims permuted by the algorithm (p0231: dst[a][c][d][b] =
//           src[a][b][c][d])
//   slice   src [mb][c][h][w], dst [mb][oc][oh][ow] from SliceOffsets()
//   pad     src [mb][c][h][w], dst [mb][c][h+pt+pb][w+pl+pr], zeros around
//   reduce  src [mb][c][h][w], dst [mb][oc][oh][ow] (reduced dims 1)
//   deconv  src [mb][ic][ih][iw], wei [ic][oc/g][kh][kw] (ONNX ConvTranspose), bias [oc]
//   prelu   src, dst [mb][c][h][w]; wei = slope[c]
// Post-ops (conv2d, matmul, ip with a chain, Problem::post_ops()) apply to dst in chain order:
//   eltwise alg  dst = alg(dst)
//   sum          dst += post[k] (dst-sized: the residual the kernel's dst holds before it runs)
//   add..div     dst = dst op post[k] (dst-sized)
//   addc..divc   dst = dst op post[k][channel]: conv2d [oc] (a 1,C,1,1 tensor, as a model's constant
//                per-channel operand is), matmul [n], ip [oc] (one value per output column)
//   post[k] is empty for an eltwise post-op; div/divc operands lie in [0.5, 1.5].
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "layoutdb/problem.h"

namespace layoutdb::microbench {

// LeakyRelu's slope below zero in the kernels and the reference (the cost does not depend on it).
constexpr float kLeakyReluAlpha = 0.1f;

// Where a slice problem's kept part starts (mb, c, h, w): centred, so that no edge is special.
std::array<int64_t, 4> SliceOffsets(const Problem& p);

struct RefTensors {
  std::vector<float> src, src2, wei, bias, dst;
  std::vector<std::vector<float>> post;  // one per post-op (see above)
};

// The eltwise function of an algorithm name (relu, clip, ...), as the reference computes it; throws
// on an unknown name.
float RefEltwise(const std::string& alg, float x);

// Elements of the second tensor of post-op `name` of problem p (0 for an eltwise post-op), and its
// dims: dst's for sum and add..div; conv2d {1, oc, 1, 1}, matmul {1, 1, n}, ip {1, oc} for addc..divc.
std::vector<int64_t> PostOpDims(const Problem& p, const std::string& name);

// Allocates every tensor the problem needs and fills the inputs with deterministic values in [-1, 1]
// (variances in [0.5, 1.5]); dst is zeroed. Same seed, same values.
RefTensors MakeInputs(const Problem& p, uint32_t seed = 1);

// Computes t.dst from the inputs.
void ComputeReference(const Problem& p, RefTensors& t);

// Empty when every |got - want| <= atol + rtol * |want|; else one line naming the first bad index, the
// two values and how many elements differ.
std::string CompareOutputs(const float* got, const float* want, int64_t n, double rtol, double atol);

}  // namespace layoutdb::microbench
