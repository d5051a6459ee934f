// A problem: one operator instance with all its shape parameters, keyed by a canonical text in
// benchdnn's style, e.g. `conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1`.
//
// Key grammar: OP [":" ALG] ":" (NAME INT)+ ("+" POSTOP)* where NAME is lower-case letters. Parameters
// appear in the op's canonical order (see kOpSpecs in problem.cpp); parameters equal to their default
// (e.g. dilation dh1 dw1) are omitted. `Parse(p.Key()) == p` for every valid problem.
//
// Post-ops: a fused chain executed inside the anchor's kernel, in execution order, as the partition
// forms it and the runtime runs it (oneDNN post-ops): `conv2d:...+relu`, `conv2d:...+sum+relu`,
// `matmul:...+add+gelu`. Only anchors take post-ops (FusesPostOps). Names (KnownPostOps):
//   - an eltwise algorithm (relu, clip, gelu, ...): an activation applied to the result;
//   - `sum`: the residual Add of a same-shape non-constant tensor (oneDNN's sum post-op);
//   - `add`, `sub`, `mul`, `div`: a binary post-op with a full-size second tensor;
//   - `addc`, `subc`, `mulc`, `divc`: a binary post-op with a per-channel tensor (N,C,1,1), e.g. the
//     squeeze-excitation scale.
// BatchNormalization and constant per-channel Add/Sub/Mul/Div after a convolution fold into its weights
// and bias: they add no post-op (the fused problem is the anchor's).
//
// Glue families (activations as 4D views mb c h w, as the importer's View4 makes them):
//   concat:mb1c256h56w56n2          n equal inputs joined along ax (default 1, channels); the key
//                                   holds the OUTPUT's dims, so the size along ax is the sum and a
//                                   multiple of n (the cost is the bytes copied plus a per-input part)
//   resample:nearest|linear:mb1c64ih28iw28oh56ow56
//   transpose:p0231:mb1c64h56w56    the source dims and ONNX's perm over them (p0231: NCHW -> NHWC;
//                                   p0213: [b,t,h,d] -> [b,h,t,d]; lower ranks padded with trailing 1s)
//   slice:mb1c256h56w56oc128oh56ow56 step 1; where the kept part starts does not change the cost and
//                                   is not part of the key
//   pad:mb1c64h56w56pt1pb1pl1pr1    constant padding of H (top, bottom) and W (left, right)
//   reduce:mean|sum|max:mb1c256h7w7oc256oh1ow1   each output dim is its input's (kept) or 1 (reduced)
//   deconv:<conv2d's parameters>    ConvTranspose (no output_padding); oh = (ih-1)sh + (kh-1)dh+1 - 2ph
//   eltwise:leakyrelu:...           LeakyRelu (its alpha does not change the cost)
//   prelu:mb1c64h56w56              a per-channel slope
//
// binary:add|mul:mb1c64h56w56[bcN]  dst = src op src2, dst and src [mb][c][h][w]; bc is src2's
//                                   broadcast form (Src2Dims): bc0 (the default, left out of the key)
//                                   full size; bc1 per channel [mb][c][1][1], e.g. a squeeze-excitation
//                                   block's run-time scale; bc2 a scalar [1][1][1][1]. A broadcast
//                                   src2 is computed at run time and read in src's layout, as the
//                                   runtime binds it (runtime/cpu_backend.cpp, CreateBinary).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace layoutdb {

// Element size in bytes of a dtype name (`f32`, `bf16`, `f16`, `int8`); throws on an unknown name.
int DtypeSize(std::string_view dtype);

// Channels per block of a blocked activation layout (nChw8c 8, nChw16c 16, nc4hw4 4: the channel
// dimension padded to a multiple of it); 1 for a plain one (nchw, nhwc, plain) and any other name.
int LayoutChannelBlock(std::string_view layout);

class Problem {
 public:
  Problem() = default;
  // Builds and validates; throws std::invalid_argument naming the problem and the bad parameter.
  Problem(std::string op, std::string alg, std::vector<std::pair<std::string, int64_t>> params);

  // Parses a canonical (or non-canonical but complete) key; throws std::invalid_argument with a message
  // that quotes the key and says what is wrong.
  static Problem Parse(std::string_view key);

  const std::string& op() const { return op_; }
  const std::string& alg() const { return alg_; }
  // Parameters in canonical order, defaults filled in.
  const std::vector<std::pair<std::string, int64_t>>& params() const { return params_; }
  // The fused post-op chain, in execution order (empty for a plain problem).
  const std::vector<std::string>& post_ops() const { return post_ops_; }
  // A copy with `post_ops` as its chain (validated: throws std::invalid_argument); the anchor alone
  // with {}.
  Problem WithPostOps(std::vector<std::string> post_ops) const;
  // A parameter's value; throws std::out_of_range if the op has no such parameter.
  int64_t Get(std::string_view name) const;
  bool Has(std::string_view name) const;

  std::string Key() const;

  // Derived output sizes (oh, ow) for conv2d, deconv, pool, resample, slice, pad and reduce; 0 for
  // other ops.
  int64_t Oh() const;
  int64_t Ow() const;

  // Floating-point (or integer) operations of one execution.
  double Flops() const;
  // Bytes read and written once (src, weights, dst) at the given element size.
  double Bytes(int dtype_size = 4) const;
  // Elements of the source / destination tensor.
  int64_t SrcElems() const;
  int64_t DstElems() const;
  // A binary's second source: its dims (4D, by `bc`) and elements; empty and 0 for other ops.
  std::vector<int64_t> Src2Dims() const;
  int64_t Src2Elems() const;
  // True when the op's tensors are 4D activations that have a spatial layout (nchw, nhwc, ...).
  bool IsSpatial() const;

  bool operator==(const Problem& o) const {
    return op_ == o.op_ && alg_ == o.alg_ && params_ == o.params_ && post_ops_ == o.post_ops_;
  }
  bool operator!=(const Problem& o) const { return !(*this == o); }

 private:
  void Validate() const;
  double AnchorFlops() const;
  std::string op_;
  std::string alg_;
  std::vector<std::pair<std::string, int64_t>> params_;
  std::vector<std::string> post_ops_;
};

// The ops a problem may have, and the algorithms of those that take one.
const std::vector<std::string>& KnownOps();
const std::vector<std::string>& KnownAlgs(std::string_view op);
// Whether an op takes a post-op chain (conv2d, deconv, matmul, ip), and the post-op names it may have.
bool FusesPostOps(std::string_view op);
const std::vector<std::string>& KnownPostOps();
// The kinds of post-op above: an activation, the residual sum, a full-size second tensor (add..), a
// per-channel one (addc..); kUnknown for a name that is none of them.
enum class PostOpKind { kActivation, kSum, kTensor, kChannel, kUnknown };
PostOpKind PostOpKindOf(std::string_view name);

// A stable 64-bit FNV-1a hash of a text, as 16 lower-case hex digits (key and spec identity; not a
// security measure).
std::string HashHex(std::string_view text);

}  // namespace layoutdb
