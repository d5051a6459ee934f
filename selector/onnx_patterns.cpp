#include "onnx_patterns.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "onnx_fold.h"

namespace layoutdb::selector {
namespace {

// One recognised chain: its nodes (model indices) and the node that replaces them, written where the
// chain's last node was.
struct Match {
  std::string op;
  std::vector<int> nodes;
  int last = -1;
  onnx::NodeProto replacement;
};

class Matcher {
 public:
  explicit Matcher(const onnx::GraphProto& g) : g_(g) {
    for (const auto& t : g.initializer()) consts_[t.name()] = fold::ReadTensor(t);
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      for (const auto& in : n.input())
        if (!in.empty()) readers_[in].push_back(i);
      // A control-flow body may read an outer value without listing it: its node reads it too.
      for (const auto& a : n.attribute()) {
        if (a.has_g()) ReadBy(a.g(), i);
        for (const auto& body : a.graphs()) ReadBy(body, i);
      }
      for (const auto& out : n.output())
        if (!out.empty()) producer_[out] = i;
      if (n.op_type() == "Constant" && IsDefault(n) && n.output_size() == 1) {
        if (const auto* v = fold::FindAttr(n, "value"); v && v->has_t()) {
          consts_[n.output(0)] = fold::ReadTensor(v->t());
        } else if (const auto* f = fold::FindAttr(n, "value_float")) {
          fold::Val c;
          c.shape_known = c.is_constant = c.has_data = c.is_float = true;
          c.elem_type = onnx::TensorProto::FLOAT;
          c.f = {f->f()};
          consts_[n.output(0)] = c;
        }
      }
    }
    for (const auto& o : g.output()) outputs_.insert(o.name());
  }

  std::vector<Match> FindAll(int64_t opset) {
    opset_ = opset;
    std::vector<Match> found;
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      if (!IsDefault(n)) continue;
      std::optional<Match> m;
      if (n.op_type() == "ReduceMean") m = LayerNorm(i);
      else if (n.op_type() == "Erf") m = Gelu(i);
      else if (n.op_type() == "Clip") m = HardSwish(i);
      if (!m) continue;
      bool overlaps = false;
      for (int k : m->nodes) overlaps = overlaps || used_.count(k);
      if (overlaps) continue;
      used_.insert(m->nodes.begin(), m->nodes.end());
      found.push_back(std::move(*m));
    }
    return found;
  }

 private:
  static bool IsDefault(const onnx::NodeProto& n) { return fold::IsDefaultDomain(n.domain()); }
  // Every name a (nested) body reads, as read by node i (a name the body defines itself counts too:
  // never rewriting is the safe side).
  void ReadBy(const onnx::GraphProto& body, int i) {
    for (const auto& n : body.node()) {
      for (const auto& in : n.input())
        if (!in.empty()) readers_[in].push_back(i);
      for (const auto& a : n.attribute()) {
        if (a.has_g()) ReadBy(a.g(), i);
        for (const auto& g : a.graphs()) ReadBy(g, i);
      }
    }
    for (const auto& o : body.output()) readers_[o.name()].push_back(i);
  }
  const onnx::NodeProto& N(int i) const { return g_.node(i); }

  // The node that alone reads `t` (once or more), or -1: also -1 for a graph output.
  int Sole(const std::string& t) const {
    if (outputs_.count(t)) return -1;
    auto it = readers_.find(t);
    if (it == readers_.end() || it->second.empty()) return -1;
    for (int r : it->second)
      if (r != it->second.front()) return -1;
    return it->second.front();
  }
  // The distinct nodes reading `t` (none when it is a graph output).
  std::set<int> Readers(const std::string& t) const {
    if (outputs_.count(t)) return {};
    auto it = readers_.find(t);
    return it == readers_.end() ? std::set<int>{} : std::set<int>(it->second.begin(), it->second.end());
  }
  // Node i is `op` of the default domain with one output and `inputs` inputs (when < 0: at least one).
  // The model has not been checked yet: a node may have any number of inputs and outputs.
  bool Is(int i, const char* op, int inputs) const {
    return i >= 0 && IsDefault(N(i)) && N(i).op_type() == op &&
           (inputs < 0 ? N(i).input_size() >= 1 : N(i).input_size() == inputs) && N(i).output_size() == 1;
  }
  const fold::Val* Const(const std::string& t) const {
    auto it = consts_.find(t);
    return it != consts_.end() && it->second.has_data ? &it->second : nullptr;
  }
  // A one-element float constant's value.
  std::optional<double> Scalar(const std::string& t) const {
    const fold::Val* v = Const(t);
    if (!v || !v->is_float || v->f.size() != 1) return std::nullopt;
    return v->f[0];
  }
  static bool Near(std::optional<double> v, double want) {
    return v && std::fabs(*v - want) <= 1e-6 * std::max(1.0, std::fabs(want));
  }
  // For a binary node reading `t`: its other input ("" when it does not read t).
  std::string Other(int i, const std::string& t) const {
    const auto& n = N(i);
    if (n.input(0) == t) return n.input(1);
    if (n.input(1) == t) return n.input(0);
    return {};
  }
  // A Reduce over the last axis only, keeping it (attribute axes before opset 18, input after).
  bool OverLastAxis(int i) const {
    const auto& n = N(i);
    if (fold::AttrInt(n, "keepdims", 1) != 1) return false;
    std::vector<int64_t> axes = fold::AttrInts(n, "axes");
    if (n.input_size() > 1) {
      const fold::Val* a = Const(n.input(1));
      if (!a || a->is_float) return false;
      axes = a->i;
    }
    return axes == std::vector<int64_t>{-1};
  }
  static onnx::NodeProto Replacement(const std::string& op, const std::vector<std::string>& inputs,
                                     const onnx::NodeProto& last) {
    onnx::NodeProto r;
    r.set_op_type(op);
    r.set_name(last.name().empty() ? op : last.name() + "/" + op);
    for (const auto& in : inputs) r.add_input(in);
    r.add_output(last.output(0));
    return r;
  }

  // ReduceMean(x) -> Sub(x, mean) -> Pow(d, 2) | Mul(d, d) -> ReduceMean -> Add(eps) -> Sqrt ->
  // Div(d, sd) -> Mul(gamma) -> Add(beta), over the last axis: LayerNormalization(x, gamma, beta).
  std::optional<Match> LayerNorm(int r1) const {
    if (!Is(r1, "ReduceMean", -1) || !OverLastAxis(r1)) return std::nullopt;
    const std::string& x = N(r1).input(0);
    const int sub = Sole(N(r1).output(0));
    if (!Is(sub, "Sub", 2) || N(sub).input(0) != x || N(sub).input(1) != N(r1).output(0)) return std::nullopt;
    const std::string& d = N(sub).output(0);
    const std::set<int> readers = Readers(d);
    if (readers.size() != 2) return std::nullopt;
    int sq = -1, div = -1;
    for (int r : readers) {
      if (Is(r, "Pow", 2) && N(r).input(0) == d && Near(Scalar(N(r).input(1)), 2.0)) sq = r;
      else if (Is(r, "Mul", 2) && N(r).input(0) == d && N(r).input(1) == d) sq = r;
      else if (Is(r, "Div", 2) && N(r).input(0) == d) div = r;
    }
    if (sq < 0 || div < 0) return std::nullopt;
    const int r2 = Sole(N(sq).output(0));
    if (!Is(r2, "ReduceMean", -1) || N(r2).input(0) != N(sq).output(0) || !OverLastAxis(r2)) return std::nullopt;
    const int add = Sole(N(r2).output(0));
    if (!Is(add, "Add", 2)) return std::nullopt;
    const std::optional<double> eps = Scalar(Other(add, N(r2).output(0)));
    if (!eps || *eps < 0) return std::nullopt;
    const int sqrt = Sole(N(add).output(0));
    if (!Is(sqrt, "Sqrt", 1) || Sole(N(sqrt).output(0)) != div || N(div).input(1) != N(sqrt).output(0))
      return std::nullopt;
    const int mul = Sole(N(div).output(0));
    if (!Is(mul, "Mul", 2)) return std::nullopt;
    const std::string gamma = Other(mul, N(div).output(0));
    const int bias = Sole(N(mul).output(0));
    if (!Is(bias, "Add", 2)) return std::nullopt;
    const std::string beta = Other(bias, N(mul).output(0));
    const fold::Val* g = Const(gamma);
    const fold::Val* b = Const(beta);
    if (!g || !b || g->shape.size() != 1 || g->shape != b->shape) return std::nullopt;
    Match m{"LayerNormalization", {r1, sub, sq, r2, add, sqrt, div, mul, bias}, bias, {}};
    m.replacement = Replacement(m.op, {x, gamma, beta}, N(bias));
    auto* axis = m.replacement.add_attribute();
    axis->set_name("axis");
    axis->set_type(onnx::AttributeProto::INT);
    axis->set_i(-1);
    auto* e = m.replacement.add_attribute();
    e->set_name("epsilon");
    e->set_type(onnx::AttributeProto::FLOAT);
    e->set_f(static_cast<float>(*eps));
    return m;
  }

  // Div(x, sqrt 2) | Mul(x, 1/sqrt 2) -> Erf -> Add(1), then times x and times 0.5 in any of the
  // three orders exporters write: Gelu(x) (exact, with erf).
  std::optional<Match> Gelu(int erf) const {
    if (!Is(erf, "Erf", 1)) return std::nullopt;
    const auto p = producer_.find(N(erf).input(0));
    if (p == producer_.end()) return std::nullopt;
    const int scale = p->second;
    if (Sole(N(scale).output(0)) != erf) return std::nullopt;
    std::string x;
    if (Is(scale, "Div", 2) && Near(Scalar(N(scale).input(1)), std::sqrt(2.0))) {
      x = N(scale).input(0);
    } else if (Is(scale, "Mul", 2)) {
      for (int k : {0, 1})
        if (Near(Scalar(N(scale).input(k)), 1 / std::sqrt(2.0))) x = N(scale).input(1 - k);
    }
    if (x.empty()) return std::nullopt;
    const int one = Sole(N(erf).output(0));
    if (!Is(one, "Add", 2) || !Near(Scalar(Other(one, N(erf).output(0))), 1.0)) return std::nullopt;
    const int m1 = Sole(N(one).output(0));
    if (!Is(m1, "Mul", 2)) return std::nullopt;
    const std::string o = Other(m1, N(one).output(0));
    std::vector<int> nodes = {scale, erf, one, m1};
    int last = -1;
    if (o == x) {  // x * (1 + erf) * 0.5
      last = Sole(N(m1).output(0));
      if (!Is(last, "Mul", 2) || !Near(Scalar(Other(last, N(m1).output(0))), 0.5)) return std::nullopt;
      nodes.push_back(last);
    } else if (Near(Scalar(o), 0.5)) {  // x * ((1 + erf) * 0.5)
      last = Sole(N(m1).output(0));
      if (!Is(last, "Mul", 2) || Other(last, N(m1).output(0)) != x) return std::nullopt;
      nodes.push_back(last);
    } else {  // (x * 0.5) * (1 + erf)
      const auto h = producer_.find(o);
      if (h == producer_.end() || !Is(h->second, "Mul", 2) || Sole(o) != m1) return std::nullopt;
      if (Other(h->second, x).empty() || !Near(Scalar(Other(h->second, x)), 0.5)) return std::nullopt;
      nodes.insert(nodes.begin(), h->second);
      last = m1;
    }
    Match m{"Gelu", nodes, last, {}};
    m.replacement = Replacement(m.op, {x}, N(last));
    return m;
  }

  // Add(x, 3) -> Clip(0, 6) -> Mul(x, .) -> Div(6) | Mul(1/6): HardSwish(x).
  std::optional<Match> HardSwish(int clip) const {
    const auto& c = N(clip);
    if (c.output_size() != 1 || c.input_size() < 1) return std::nullopt;
    std::optional<double> lo, hi;
    if (opset_ < 11) {
      if (fold::HasAttr(c, "min")) lo = fold::AttrFloat(c, "min", 0);
      if (fold::HasAttr(c, "max")) hi = fold::AttrFloat(c, "max", 0);
    } else {
      if (c.input_size() > 1 && !c.input(1).empty()) lo = Scalar(c.input(1));
      if (c.input_size() > 2 && !c.input(2).empty()) hi = Scalar(c.input(2));
    }
    if (!Near(lo, 0.0) || !Near(hi, 6.0)) return std::nullopt;
    const auto p = producer_.find(c.input(0));
    if (p == producer_.end() || !Is(p->second, "Add", 2) || Sole(c.input(0)) != clip) return std::nullopt;
    const int add = p->second;
    std::string x;
    for (int k : {0, 1})
      if (Near(Scalar(N(add).input(k)), 3.0)) x = N(add).input(1 - k);
    if (x.empty()) return std::nullopt;
    const int mul = Sole(c.output(0));
    if (!Is(mul, "Mul", 2) || Other(mul, c.output(0)) != x) return std::nullopt;
    const int last = Sole(N(mul).output(0));
    const bool by6 = Is(last, "Div", 2) && N(last).input(0) == N(mul).output(0) &&
                     Near(Scalar(N(last).input(1)), 6.0);
    const bool times = Is(last, "Mul", 2) && Near(Scalar(Other(last, N(mul).output(0))), 1 / 6.0);
    if (!by6 && !times) return std::nullopt;
    Match m{"HardSwish", {add, clip, mul, last}, last, {}};
    m.replacement = Replacement(m.op, {x}, N(last));
    return m;
  }

  const onnx::GraphProto& g_;
  int64_t opset_ = 0;
  std::unordered_map<std::string, fold::Val> consts_;
  std::unordered_map<std::string, std::vector<int>> readers_;
  std::unordered_map<std::string, int> producer_;
  std::set<std::string> outputs_;
  std::set<int> used_;
};

}  // namespace

std::string RewriteDecomposedOps(onnx::ModelProto& model) {
  int64_t opset = 0;
  for (const auto& o : model.opset_import())
    if (fold::IsDefaultDomain(o.domain())) opset = o.version();
  auto* g = model.mutable_graph();
  std::vector<Match> matches = Matcher(*g).FindAll(opset);
  if (matches.empty()) return {};
  std::unordered_map<int, const Match*> at_last;
  std::set<int> dropped;
  std::map<std::string, std::pair<int, size_t>> counts;  // op -> (chains, nodes per chain)
  for (const auto& m : matches) {
    at_last[m.last] = &m;
    dropped.insert(m.nodes.begin(), m.nodes.end());
    auto& c = counts[m.op];
    ++c.first;
    c.second = m.nodes.size();
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g->node_size(); ++i) {
    if (auto it = at_last.find(i); it != at_last.end()) *nodes.Add() = it->second->replacement;
    else if (!dropped.count(i)) *nodes.Add() = g->node(i);
  }
  *g->mutable_node() = std::move(nodes);
  std::vector<std::string> parts;
  for (const auto& [op, c] : counts) parts.push_back(fmt::format("{} {} ({} nodes each)", c.first, op, c.second));
  return fmt::format("decomposed operators written as one: {}", fmt::join(parts, ", "));
}

}  // namespace layoutdb::selector
