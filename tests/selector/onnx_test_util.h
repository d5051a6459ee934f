// Helpers of the import and partition tests: where the example models are, tiny ONNX models written
// on the spot, and the partition invariants.
#pragma once

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "selector/graph.h"

namespace layoutdb::selector::onnx_testing {

// The example models make_models writes at build time.
inline std::filesystem::path ModelsDir() {
  const char* b = std::getenv("LAYOUTDB_BINARY_DIR");
#ifdef LAYOUTDB_TEST_BINARY_DIR
  if (!b) b = LAYOUTDB_TEST_BINARY_DIR;
#endif
  return std::filesystem::path(b ? b : ".") / "models";
}

inline std::filesystem::path MakeTempDir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() /
           ("layoutdb_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(d);
  return d;
}

// A tiny model under construction.
struct Tiny {
  onnx::ModelProto m;
  onnx::GraphProto* g;
  explicit Tiny(int64_t opset, const std::map<std::string, int64_t>& extra_domains = {}) {
    m.set_ir_version(8);
    auto* o = m.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    for (const auto& [d, v] : extra_domains) {
      auto* e = m.add_opset_import();
      e->set_domain(d);
      e->set_version(v);
    }
    g = m.mutable_graph();
    g->set_name("tiny");
  }
  static void Declare(onnx::ValueInfoProto* vi, const std::string& name,
                      const std::vector<std::string>& dims, int elem = onnx::TensorProto::FLOAT) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem);
    auto* sh = tt->mutable_shape();
    for (const auto& d : dims) {
      auto* pd = sh->add_dim();
      if (!d.empty() && (std::isdigit(static_cast<unsigned char>(d[0])))) pd->set_dim_value(std::stoll(d));
      else pd->set_dim_param(d);
    }
  }
  void Input(const std::string& name, const std::vector<std::string>& dims,
             int elem = onnx::TensorProto::FLOAT) {
    Declare(g->add_input(), name, dims, elem);
  }
  void Output(const std::string& name, const std::vector<std::string>& dims,
              int elem = onnx::TensorProto::FLOAT) {
    Declare(g->add_output(), name, dims, elem);
  }
  void ValueInfo(const std::string& name, const std::vector<std::string>& dims) {
    Declare(g->add_value_info(), name, dims);
  }
  void Floats(const std::string& name, const std::vector<int64_t>& dims, float v = 0.5f) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    int64_t n = 1;
    for (int64_t d : dims) {
      t->add_dims(d);
      n *= d;
    }
    for (int64_t k = 0; k < n; ++k) t->add_float_data(v);
  }
  // A 1-D float initializer holding `v`.
  void FloatValues(const std::string& name, const std::vector<float>& v) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(static_cast<int64_t>(v.size()));
    for (float x : v) t->add_float_data(x);
  }
  void Ints(const std::string& name, const std::vector<int64_t>& v, bool scalar = false) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    if (!scalar) t->add_dims(static_cast<int64_t>(v.size()));
    for (int64_t x : v) t->add_int64_data(x);
  }
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& ins,
                        const std::vector<std::string>& outs, const std::string& name = "",
                        const std::string& domain = "") {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? outs.front() : name);
    n->set_domain(domain);
    for (const auto& i : ins) n->add_input(i);
    for (const auto& o : outs) n->add_output(o);
    return n;
  }
  static void IntsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void IntAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  std::string Write(const std::filesystem::path& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    m.SerializeToOstream(&f);
    return path.string();
  }
};

// x [1, 4, C] -> y: LayerNorm over the last axis as PyTorch exports it before opset 17 (ReduceMean,
// Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add), C = gamma.size(); `exponent` of the Pow and the
// `axis` of the variance's ReduceMean vary it into chains that are no LayerNorm.
inline void DecomposedLayerNorm(Tiny& t, const std::vector<float>& gamma, const std::vector<float>& beta,
                                float eps = 1e-5f, float exponent = 2.0f, int64_t axis = -1) {
  const std::string c = std::to_string(gamma.size());
  t.Input("x", {"1", "4", c});
  t.Floats("two", {}, exponent);
  t.Floats("eps", {}, eps);
  t.FloatValues("gamma", gamma);
  t.FloatValues("beta", beta);
  Tiny::IntsAttr(t.Node("ReduceMean", {"x"}, {"mean"}), "axes", {-1});
  t.Node("Sub", {"x", "mean"}, {"d"});
  t.Node("Pow", {"d", "two"}, {"sq"});
  Tiny::IntsAttr(t.Node("ReduceMean", {"sq"}, {"var"}), "axes", {axis});
  t.Node("Add", {"var", "eps"}, {"ve"});
  t.Node("Sqrt", {"ve"}, {"sd"});
  t.Node("Div", {"d", "sd"}, {"n"});
  t.Node("Mul", {"n", "gamma"}, {"ng"});
  t.Node("Add", {"ng", "beta"}, {"y"});
  t.Output("y", {"1", "4", c});
}

// The invariants every partition must hold: each non-constant node in exactly one sub-graph (and no
// constant in any), nodes sorted within a sub-graph, sub-graphs in topological order, and edges that
// are exactly the cross-sub-graph tensors (each produced in `from`, or a graph input when -1, and
// read in `to`).
inline void ExpectPartitionInvariants(const Graph& g, const Partition& p, const std::string& what) {
  SCOPED_TRACE(what);
  std::vector<int> owner(g.nodes.size(), -1);
  for (size_t s = 0; s < p.subgraphs.size(); ++s) {
    const auto& nodes = p.subgraphs[s].nodes;
    ASSERT_FALSE(nodes.empty()) << "sub-graph " << s << " is empty";
    for (size_t k = 0; k < nodes.size(); ++k) {
      const int i = nodes[k];
      ASSERT_GE(i, 0);
      ASSERT_LT(i, static_cast<int>(g.nodes.size()));
      if (k > 0) {
        EXPECT_LT(nodes[k - 1], i) << "sub-graph " << s << " not sorted";
      }
      EXPECT_FALSE(g.nodes[i].is_constant) << "constant node " << i << " in sub-graph " << s;
      EXPECT_EQ(owner[i], -1) << "node " << i << " in sub-graphs " << owner[i] << " and " << s;
      owner[i] = static_cast<int>(s);
    }
  }
  for (const auto& n : g.nodes)
    if (!n.is_constant) {
      EXPECT_GE(owner[n.index], 0) << "node " << n.index << " in no sub-graph";
    }
  std::unordered_map<std::string, int> producer;
  for (const auto& n : g.nodes)
    if (!n.is_constant)
      for (const auto& o : n.outputs)
        if (!o.empty()) producer[o] = n.index;
  const std::set<std::string> graph_inputs(g.inputs.begin(), g.inputs.end());
  std::set<std::tuple<int, int, std::string>> expected, got;
  for (const auto& n : g.nodes) {
    if (n.is_constant) continue;
    std::vector<std::string> ins = n.inputs;
    ins.insert(ins.end(), n.implicit_inputs.begin(), n.implicit_inputs.end());
    for (const auto& in : ins) {
      if (in.empty()) continue;
      auto it = producer.find(in);
      if (it != producer.end()) {
        const int from = owner[it->second], to = owner[n.index];
        EXPECT_LE(from, to) << "sub-graph " << to << " reads '" << in << "' from later sub-graph " << from;
        if (from != to) expected.emplace(from, to, in);
      } else if (graph_inputs.count(in)) {
        expected.emplace(-1, owner[n.index], in);
      }
    }
  }
  for (const auto& e : p.edges) {
    EXPECT_NE(e.from, e.to);
    EXPECT_TRUE(got.emplace(e.from, e.to, e.tensor).second) << "duplicate edge " << e.tensor;
  }
  EXPECT_EQ(expected, got);
}

}  // namespace layoutdb::selector::onnx_testing
