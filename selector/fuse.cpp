// The fused problem of an anchor sub-graph, formed from its nodes as the runtime's cpu backend
// (runtime/cpu_backend.cpp, MakePostOps and the anchors' fold functions) executes them:
//  - the anchor's problem (conv2d, matmul, ip: FusesPostOps) takes its followers in chain order while
//    each writes the anchor's output shape;
//  - BatchNormalization (constant statistics) and a constant per-channel (or scalar) Add/Sub/Mul/Div
//    right after a convolution with constant weights (and bias) fold into its weights and bias: no
//    post-op. After a matmul or ip only a constant per-column Add/Sub folds (into the bias);
//  - once a post-op exists nothing folds any more: a constant per-channel operand is then `addc`..,
//    a full-size one `add`..;
//  - a non-constant same-shape Add is the residual `sum` (once), other non-constant operands `add`..
//    (full size) or `addc`.. (per channel);
//  - an activation with an eltwise problem (its node's own, from the import's table) is its algorithm;
//  - a deconvolution (ConvTranspose) folds as a convolution and takes no post-op (see below).
// The chain stops at the first follower none of these describes (LeakyRelu, a second BN, ...): such
// nodes and the ones after them are costed as their own passes.
#include <algorithm>
#include <set>

#include "graph.h"

namespace layoutdb::selector {
namespace {

const TensorInfo* Info(const Graph& g, const std::string& name) {
  auto it = g.tensors.find(name);
  return it == g.tensors.end() ? nullptr : &it->second;
}

bool IsConst(const Graph& g, const std::string& name) {
  const TensorInfo* t = Info(g, name);
  return t && t->is_constant;
}

std::vector<int64_t> PadTo(const std::vector<int64_t>& s, size_t rank) {
  if (s.size() >= rank) return s;
  std::vector<int64_t> out(rank - s.size(), 1);
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// All dims 1 except `axis`, which is 1 or `out[axis]` (the runtime's PerChannel).
bool PerChannelOnly(const std::vector<int64_t>& s, const std::vector<int64_t>& out, size_t axis) {
  if (s.size() != out.size()) return false;
  for (size_t k = 0; k < s.size(); ++k)
    if (k != axis && s[k] != 1) return false;
  return s[axis] == 1 || s[axis] == out[axis];
}

// A per-channel post-op operand: per channel (and, for a convolution, per image: N,C,1,1).
bool PerChannelOperand(const std::vector<int64_t>& s, const std::vector<int64_t>& out, size_t axis,
                       bool conv) {
  if (s.size() != out.size() || s == out) return false;
  for (size_t k = 0; k < s.size(); ++k) {
    if (k == axis || (conv && k == 0)) {
      if (s[k] != 1 && s[k] != out[k]) return false;
    } else if (s[k] != 1) {
      return false;
    }
  }
  return true;
}

std::string Lower(const std::string& op) {
  if (op == "Add") return "add";
  if (op == "Sub") return "sub";
  if (op == "Mul") return "mul";
  return "div";
}

}  // namespace

std::optional<FusedProblem> FuseSubgraph(const Graph& g, const Subgraph& sg) {
  if (sg.anchor < 0) return std::nullopt;
  const Node& a = g.nodes[sg.anchor];
  if (!a.problem || !FusesPostOps(a.problem->op()) || a.outputs.empty()) return std::nullopt;
  const TensorInfo* out_info = Info(g, a.outputs[0]);
  if (!out_info || !out_info->shape_known || out_info->shape.empty()) return std::nullopt;
  const std::vector<int64_t>& out = out_info->shape;
  // A deconvolution folds as a convolution does, and takes no post-op: oneDNN 2.6 runs a
  // deconvolution with an eltwise post-op 10-15x slower than without (yolo_det's deconv+leakyrelu:
  // 2.0 ms alone, 30 ms fused), so the runtime runs its activation as its own pass.
  const bool deconv = a.problem->op() == "deconv";
  const bool conv = a.problem->op() == "conv2d" || deconv;
  const size_t axis = conv ? 1 : out.size() - 1;
  // A convolution folds only into constant weights (and a constant bias, when it has one).
  const bool conv_folds = conv && a.inputs.size() > 1 && IsConst(g, a.inputs[1]) &&
                          (a.inputs.size() < 3 || a.inputs[2].empty() || IsConst(g, a.inputs[2]));

  FusedProblem fp;
  fp.nodes.push_back(sg.anchor);
  std::vector<std::string> chain;
  bool sum = false;
  std::string prev = a.outputs[0];
  for (int idx : sg.nodes) {
    if (idx <= sg.anchor) continue;
    const Node& f = g.nodes[idx];
    const TensorInfo* fo = f.outputs.size() == 1 ? Info(g, f.outputs[0]) : nullptr;
    if (!fo || !fo->shape_known || fo->shape != out) break;
    const std::string& op = f.op_type;
    if (op == "BatchNormalization") {
      if (!chain.empty() || !conv_folds || f.inputs.size() < 5 || f.inputs[0] != prev) break;
      bool stats = true;
      for (size_t k = 1; k < 5; ++k) stats = stats && IsConst(g, f.inputs[k]);
      if (!stats) break;
      fp.nodes.push_back(idx);
      fp.folded.push_back(idx);
      prev = f.outputs[0];
      continue;
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      if (f.inputs.size() != 2) break;
      const int self = f.inputs[0] == prev ? 0 : 1;
      if (f.inputs[self] != prev || f.inputs[0] == f.inputs[1]) break;
      if (self == 1 && (op == "Sub" || op == "Div")) break;
      const std::string& other = f.inputs[1 - self];
      const TensorInfo* oi = Info(g, other);
      if (!oi || !oi->shape_known) break;
      const bool c = oi->is_constant;
      const std::vector<int64_t> os = PadTo(oi->shape, out.size());
      const bool folds = conv ? conv_folds : (op == "Add" || op == "Sub");
      if (c && chain.empty() && folds && PerChannelOnly(os, out, axis)) {
        fp.nodes.push_back(idx);
        fp.folded.push_back(idx);
        prev = f.outputs[0];
        continue;
      }
      if (deconv) break;
      std::string po;
      if (!c && op == "Add" && os == out && !sum) {
        po = "sum";
        sum = true;
      } else if (os == out) {
        po = Lower(op);
      } else if (PerChannelOperand(os, out, axis, conv)) {
        po = Lower(op) + "c";
      } else {
        break;  // a broadcast the key grammar has no name for
      }
      chain.push_back(po);
      fp.nodes.push_back(idx);
      prev = f.outputs[0];
      continue;
    }
    if (!deconv && f.problem && f.problem->op() == "eltwise" && !f.inputs.empty() && f.inputs[0] == prev) {
      chain.push_back(f.problem->alg());
      fp.nodes.push_back(idx);
      prev = f.outputs[0];
      continue;
    }
    break;
  }
  fp.problem = a.problem->WithPostOps(std::move(chain));
  return fp;
}

std::vector<std::string> SubgraphProblemKeys(const Graph& g, const Subgraph& sg) {
  std::vector<std::string> keys;
  std::set<int> covered;
  if (auto fp = FuseSubgraph(g, sg)) {
    keys.push_back(fp->problem.Key());
    covered.insert(fp->nodes.begin(), fp->nodes.end());  // folded nodes included
  }
  for (int idx : sg.nodes)
    if (!covered.count(idx) && g.nodes[idx].problem) keys.push_back(g.nodes[idx].problem->Key());
  return keys;
}

std::vector<std::string> ModelProblemKeys(const Graph& g, const Partition& part) {
  std::set<std::string> keys;
  for (const Subgraph& sg : part.subgraphs)
    for (auto& k : SubgraphProblemKeys(g, sg)) keys.insert(std::move(k));
  return {keys.begin(), keys.end()};
}

}  // namespace layoutdb::selector
