// Partitioning a graph into sub-graphs: the default rule (anchors take their fusible followers) and a
// user's partition from JSON; both end in the same validation and edge computation.
//
// The default rule, in node order:
//  1. An anchor (op_table: Fusion::kAnchor — Conv, ConvTranspose, MatMul, Gemm, pooling, Softmax,
//     LayerNormalization, ...) starts a sub-graph and takes followers while the chain stays
//     single-consumer: the tail's one read output must be read by exactly one node (not also a graph
//     output) and that node must be fusible — kFold (BatchNormalization), kUnary (an activation: Relu,
//     Clip, Sigmoid, ...), or kBinary (Add/Sub/Mul/Div) whose other operand is a constant (bias, scale)
//     or, once per sub-graph and where the row's tensor_operand allows it (Add, Mul), a non-constant
//     tensor of the same shape (the residual Add, oneDNN's sum post-op).
//  2. Any other node extends the run it directly follows when it is "layout-agnostic glue" of that
//     run: its only non-constant input is the single-consumer output of the run's last node, which is
//     itself not an anchor sub-graph (Reshape -> Transpose, Sub -> Pow, ...). Otherwise it starts its
//     own sub-graph.
//  3. Control-flow and unknown operators are always alone (they are placed on the cpu).
// Why this stays acyclic: a chain only grows through a tensor read by the next node alone, so nothing
// outside can depend on the middle of a sub-graph; the residual operand is produced before the Add,
// by a node that cannot depend on the sub-graph (the sub-graph's only exit is the Add itself).
// Sub-graphs are then ordered topologically (Kahn, ties by first node index): a residual Add may
// depend on a shortcut branch that appears later in node order than its sub-graph's anchor.
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <set>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "graph.h"

namespace layoutdb::selector {
namespace {

const OpRow* RowOf(const Node& n) { return FindOp(n.op_type, n.domain); }

bool IsAnchor(const Node& n) {
  const OpRow* r = RowOf(n);
  return r && r->fusion == Fusion::kAnchor;
}

// An activation (eltwise post-op) or BatchNormalization (folds into the weights).
bool IsFusibleUnary(const Node& n) {
  const OpRow* r = RowOf(n);
  return r && (r->fusion == Fusion::kUnary || r->fusion == Fusion::kFold);
}

const OpRow* FusibleBinary(const Node& n) {
  const OpRow* r = RowOf(n);
  return r && r->fusion == Fusion::kBinary ? r : nullptr;
}

bool Opaque(const Node& n) { return n.is_control_flow || !n.is_known; }

// Reads of every tensor by non-constant nodes (a node reading a tensor twice counts once), plus the
// graph outputs, which also count as readers.
struct Uses {
  std::unordered_map<std::string, std::vector<int>> readers;
  std::unordered_set<std::string> graph_outputs;
  std::unordered_map<std::string, int> producer;  // non-constant producer node
};

std::vector<std::string> AllInputs(const Node& n) {
  std::vector<std::string> v = n.inputs;
  v.insert(v.end(), n.implicit_inputs.begin(), n.implicit_inputs.end());
  return v;
}

Uses ComputeUses(const Graph& g) {
  Uses u;
  u.graph_outputs.insert(g.outputs.begin(), g.outputs.end());
  for (const Node& n : g.nodes) {
    if (n.is_constant) continue;
    std::set<std::string> seen;
    for (const auto& in : AllInputs(n))
      if (!in.empty() && seen.insert(in).second) u.readers[in].push_back(n.index);
    for (const auto& o : n.outputs)
      if (!o.empty()) u.producer[o] = n.index;
  }
  return u;
}

bool IsConstTensor(const Graph& g, const std::string& name) {
  auto it = g.tensors.find(name);
  return it != g.tensors.end() && it->second.is_constant;
}

// The one output of `n` anybody reads, if exactly one is read and only by one node (and it is no
// graph output); -1 otherwise.
int SoleReader(const Node& n, const Uses& u) {
  int reader = -1, read_outputs = 0;
  for (const auto& o : n.outputs) {
    if (o.empty()) continue;
    auto it = u.readers.find(o);
    const bool is_out = u.graph_outputs.count(o) > 0;
    if (it == u.readers.end() && !is_out) continue;
    ++read_outputs;
    if (is_out || it == u.readers.end() || it->second.size() != 1) return -1;
    reader = it->second.front();
  }
  return read_outputs == 1 ? reader : -1;
}

const std::vector<int64_t>* ShapeOf(const Graph& g, const std::string& name) {
  auto it = g.tensors.find(name);
  return it == g.tensors.end() || !it->second.shape_known ? nullptr : &it->second.shape;
}

std::string NodeLabel(const Graph& g, int i) {
  return fmt::format("node {} ({} '{}')", i, g.nodes[i].op_type, g.nodes[i].name);
}

// Orders sub-graphs topologically (ties: the smaller first node); throws naming a cycle, the message
// starting with `context`.
std::vector<Subgraph> OrderSubgraphs(const Graph& g, std::vector<Subgraph> sgs,
                                     const std::string& context) {
  std::vector<int> owner(g.nodes.size(), -1);
  for (size_t s = 0; s < sgs.size(); ++s)
    for (int i : sgs[s].nodes) owner[i] = static_cast<int>(s);
  std::unordered_map<std::string, int> producer;
  for (const Node& n : g.nodes)
    if (!n.is_constant)
      for (const auto& o : n.outputs)
        if (!o.empty()) producer[o] = n.index;
  const size_t ns = sgs.size();
  std::vector<std::set<int>> succ(ns);
  std::vector<int> indeg(ns, 0);
  for (size_t s = 0; s < ns; ++s)
    for (int i : sgs[s].nodes)
      for (const auto& in : AllInputs(g.nodes[i])) {
        auto it = producer.find(in);
        if (it == producer.end()) continue;
        const int from = owner[it->second];
        if (from >= 0 && from != static_cast<int>(s) && succ[from].insert(static_cast<int>(s)).second)
          ++indeg[s];
      }
  auto first = [&](int s) { return sgs[s].nodes.empty() ? 0 : sgs[s].nodes.front(); };
  auto later = [&](int a, int b) { return first(a) > first(b); };
  std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
  for (size_t s = 0; s < ns; ++s)
    if (indeg[s] == 0) ready.push(static_cast<int>(s));
  std::vector<int> order;
  while (!ready.empty()) {
    const int s = ready.top();
    ready.pop();
    order.push_back(s);
    for (int t : succ[s])
      if (--indeg[t] == 0) ready.push(t);
  }
  if (order.size() != ns) {
    // Every sub-graph left has a predecessor left (its in-degree never reached 0): walking
    // predecessors from any of them must repeat, and the repeat is a cycle.
    std::vector<bool> done(ns, false);
    for (int s : order) done[s] = true;
    std::vector<std::vector<int>> pred(ns);
    for (size_t s = 0; s < ns; ++s)
      for (int t : succ[s]) pred[t].push_back(static_cast<int>(s));
    int start = -1;
    for (size_t s = 0; s < ns && start < 0; ++s)
      if (!done[s]) start = static_cast<int>(s);
    std::vector<int> path;
    std::map<int, size_t> pos;
    int cur = start;
    while (!pos.count(cur)) {
      pos[cur] = path.size();
      path.push_back(cur);
      for (int t : pred[cur])
        if (!done[t]) {
          cur = t;
          break;
        }
    }
    // path holds cur <- ... in predecessor order; print the cycle forwards.
    std::vector<int> cycle(path.begin() + pos[cur], path.end());
    std::reverse(cycle.begin(), cycle.end());
    cycle.insert(cycle.begin(), cur);
    // Rotate so that the smallest sub-graph leads (a stable message).
    cycle.pop_back();
    std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
    cycle.push_back(cycle.front());
    throw std::runtime_error(fmt::format("{}sub-graphs {} form a cycle", context,
                                         fmt::join(cycle, " -> ")));
  }
  std::vector<Subgraph> out;
  for (int s : order) out.push_back(std::move(sgs[s]));
  return out;
}

}  // namespace

Partition DefaultPartition(const Graph& g) {
  const Uses u = ComputeUses(g);
  const int nn = static_cast<int>(g.nodes.size());
  std::vector<int> owner(nn, -1);
  std::vector<Subgraph> sgs;

  // Can `c` follow `tail` (whose read output it reads) in an anchor's sub-graph?
  auto fusible = [&](int tail, int c, bool residual_taken, bool& is_residual) {
    const Node& cn = g.nodes[c];
    is_residual = false;
    if (owner[c] >= 0 || cn.is_constant || Opaque(cn)) return false;
    if (IsFusibleUnary(cn)) {
      // Extra operands (Clip min/max, BN statistics, PRelu slope) must be constants.
      for (size_t k = 1; k < cn.inputs.size(); ++k)
        if (!cn.inputs[k].empty() && !IsConstTensor(g, cn.inputs[k])) return false;
      return cn.inputs.empty() ? false : u.producer.count(cn.inputs[0]) &&
                                             u.producer.at(cn.inputs[0]) == tail;
    }
    const OpRow* bin = FusibleBinary(cn);
    if (!bin || cn.inputs.size() != 2) return false;
    int from_tail = -1;
    for (int k = 0; k < 2; ++k) {
      auto it = u.producer.find(cn.inputs[k]);
      if (it != u.producer.end() && it->second == tail) from_tail = k;
    }
    if (from_tail < 0) return false;
    const std::string& other = cn.inputs[1 - from_tail];
    if (other == cn.inputs[from_tail]) return false;  // x + x: both operands from the tail
    if (IsConstTensor(g, other)) {
      // A bias/scale must not grow the tensor (broadcasting up is not a post-op).
      const auto *a = ShapeOf(g, cn.inputs[from_tail]), *o = ShapeOf(g, cn.outputs[0]);
      return a && o && *a == *o;
    }
    if (residual_taken || !bin->tensor_operand) return false;
    const auto *a = ShapeOf(g, cn.inputs[from_tail]), *b = ShapeOf(g, other);
    if (!a || !b || *a != *b) return false;
    is_residual = true;
    return true;
  };

  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    if (n.is_constant || owner[i] >= 0) continue;
    const int s = static_cast<int>(sgs.size());
    if (IsAnchor(n)) {
      Subgraph sg;
      sg.anchor = i;
      sg.nodes.push_back(i);
      owner[i] = s;
      bool residual = false;
      int tail = i;
      for (;;) {
        const int c = SoleReader(g.nodes[tail], u);
        bool is_res = false;
        if (c < 0 || !fusible(tail, c, residual, is_res)) break;
        residual |= is_res;
        sg.nodes.push_back(c);
        owner[c] = s;
        tail = c;
      }
      sgs.push_back(std::move(sg));
      continue;
    }
    // Glue: join the run of the node producing our only non-constant input, when that run is not
    // an anchor's, the producer is the run's last node, and we are its sole reader.
    int join = -1;
    if (!Opaque(n)) {
      std::vector<int> producers;
      for (const auto& in : n.inputs) {
        if (in.empty() || IsConstTensor(g, in)) continue;
        auto it = u.producer.find(in);
        producers.push_back(it == u.producer.end() ? -1 : it->second);
      }
      if (producers.size() == 1 && producers[0] >= 0) {
        const int p = producers[0], ps = owner[p];
        if (ps >= 0 && sgs[ps].anchor < 0 && sgs[ps].nodes.back() == p && !Opaque(g.nodes[p]) &&
            SoleReader(g.nodes[p], u) == i)
          join = ps;
      }
    }
    if (join >= 0) {
      sgs[join].nodes.push_back(i);
      owner[i] = join;
    } else {
      Subgraph sg;
      sg.nodes.push_back(i);
      owner[i] = s;
      sgs.push_back(std::move(sg));
    }
  }
  for (auto& sg : sgs) std::sort(sg.nodes.begin(), sg.nodes.end());
  Partition p;
  p.subgraphs = OrderSubgraphs(g, std::move(sgs), "default partition: ");
  p.edges = ComputeEdges(g, p.subgraphs);
  return p;
}

Partition LoadPartition(const Graph& g, const std::string& json_path) {
  auto fail = [&](const std::string& what) -> void {
    throw std::runtime_error(fmt::format("partition '{}': {}", json_path, what));
  };
  std::ifstream f(json_path);
  if (!f) fail("cannot open the file");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    std::string what = e.what();
    fail(fmt::format("not valid JSON ({})", what.substr(0, what.find('\n'))));
  }
  if (!j.is_object() || !j.contains("subgraphs") || !j["subgraphs"].is_array())
    fail("expected {\"subgraphs\": [[node, ...], ...]}");
  const int64_t nn = static_cast<int64_t>(g.nodes.size());
  std::vector<int> owner(nn, -1);
  std::vector<Subgraph> sgs;
  for (size_t s = 0; s < j["subgraphs"].size(); ++s) {
    // A list of node indices, or an object with "nodes" (so a plan's JSON can be given back).
    const auto& entry = j["subgraphs"][s];
    const auto& list = entry.is_object() && entry.contains("nodes") ? entry["nodes"] : entry;
    if (!list.is_array()) fail(fmt::format("sub-graph {} is not a list of node indices", s));
    if (list.empty()) fail(fmt::format("sub-graph {} is empty", s));
    Subgraph sg;
    for (const auto& v : list) {
      if (!v.is_number_integer())
        fail(fmt::format("sub-graph {}: {} is not a node index", s, v.dump()));
      const int64_t i = v.get<int64_t>();
      if (i < 0 || i >= nn)
        fail(fmt::format("index {} out of range (model has {} nodes)", i, nn));
      if (g.nodes[i].is_constant)
        fail(fmt::format("{} is a constant (folded or Constant) and belongs in no sub-graph",
                         NodeLabel(g, static_cast<int>(i))));
      if (owner[i] >= 0)
        fail(fmt::format("node {} appears in sub-graphs {} and {}", i, owner[i], s));
      owner[i] = static_cast<int>(s);
      sg.nodes.push_back(static_cast<int>(i));
    }
    std::sort(sg.nodes.begin(), sg.nodes.end());
    for (int i : sg.nodes)
      if (IsAnchor(g.nodes[i])) {
        sg.anchor = i;
        break;
      }
    sgs.push_back(std::move(sg));
  }
  for (int64_t i = 0; i < nn; ++i)
    if (!g.nodes[i].is_constant && owner[i] < 0)
      fail(fmt::format("{} is in no sub-graph", NodeLabel(g, static_cast<int>(i))));
  Partition p;
  try {
    p.subgraphs = OrderSubgraphs(g, std::move(sgs), "");
  } catch (const std::runtime_error& e) {
    fail(e.what());
  }
  p.edges = ComputeEdges(g, p.subgraphs);
  return p;
}

BoundaryTensors ModelBoundaryTensors(const Graph& g, const Partition& part) {
  std::set<std::vector<int64_t>> shapes;
  std::set<int64_t> bytes;
  auto add = [&](const std::string& name) {
    auto it = g.tensors.find(name);
    if (it == g.tensors.end() || it->second.is_constant || !it->second.shape_known) return;
    const TensorInfo& t = it->second;
    // Integer tensors (indices, shapes) stay on the host in the runtime: never converted or moved.
    const bool floating = t.dtype == "f32" || t.dtype == "f16" || t.dtype == "bf16" || t.dtype == "f64";
    if (!floating || t.Elems() <= 0) return;
    bytes.insert(4 * t.Elems());
    if (t.shape.size() == 4) shapes.insert(t.shape);
  };
  for (const Edge& e : part.edges) add(e.tensor);  // between sub-graphs, and the graph's inputs
  for (const auto& out : g.outputs) add(out);
  return {{shapes.begin(), shapes.end()}, {bytes.begin(), bytes.end()}};
}

std::vector<Edge> ComputeEdges(const Graph& g, const std::vector<Subgraph>& subgraphs) {
  std::vector<int> owner(g.nodes.size(), -1);
  for (size_t s = 0; s < subgraphs.size(); ++s)
    for (int i : subgraphs[s].nodes) owner[i] = static_cast<int>(s);
  std::unordered_map<std::string, int> producer;
  for (const Node& n : g.nodes)
    if (!n.is_constant)
      for (const auto& o : n.outputs)
        if (!o.empty()) producer[o] = n.index;
  const std::unordered_set<std::string> graph_inputs(g.inputs.begin(), g.inputs.end());
  std::vector<Edge> edges;
  std::set<std::tuple<int, int, std::string>> seen;
  for (size_t s = 0; s < subgraphs.size(); ++s)
    for (int i : subgraphs[s].nodes)
      for (const auto& in : AllInputs(g.nodes[i])) {
        if (in.empty()) continue;
        int from;
        auto it = producer.find(in);
        if (it != producer.end()) {
          from = owner[it->second];
          if (from < 0 || from == static_cast<int>(s)) continue;
        } else if (graph_inputs.count(in)) {
          from = -1;
        } else {
          continue;  // a constant
        }
        if (!seen.emplace(from, static_cast<int>(s), in).second) continue;
        Edge e;
        e.from = from;
        e.to = static_cast<int>(s);
        e.tensor = in;
        auto t = g.tensors.find(in);
        if (t != g.tensors.end()) {
          e.shape = t->second.shape;
          e.bytes = t->second.shape_known ? 4 * t->second.Elems() : 0;
        }
        edges.push_back(std::move(e));
      }
  return edges;
}

}  // namespace layoutdb::selector
