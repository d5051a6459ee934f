// libFuzzer target: the user partition reader of `layoutdb select --partition FILE`
// (selector/partition.cpp LoadPartition) against a small model with a branch, a residual Add and a
// Constant node (which belongs in no sub-graph).
#include <onnx/onnx_pb.h>

#include <fstream>

#include "fuzz_util.h"
#include "selector/graph.h"

namespace {

namespace sel = layoutdb::selector;

// X[1,8,8,8] -> Conv -> Relu -> Conv -> Add(residual) -> MaxPool -> Reshape(Constant) -> Softmax,
// and a second branch Relu -> Sigmoid -> Mul joining before the pool.
sel::Graph MakeGraph() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  onnx::GraphProto* g = m.mutable_graph();
  g->set_name("partition_fuzz");
  auto add_value = [](onnx::ValueInfoProto* v, const std::string& name, std::vector<int64_t> dims) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
  };
  add_value(g->add_input(), "x", {1, 8, 8, 8});
  add_value(g->add_output(), "y", {1, 128});
  onnx::TensorProto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {8, 8, 3, 3}) w->add_dims(d);
  for (int i = 0; i < 8 * 8 * 9; ++i) w->add_float_data(0.01f * static_cast<float>(i % 7));
  auto node = [g](const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
    onnx::NodeProto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out.front());
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return n;
  };
  auto pads = [](onnx::NodeProto* n) {
    auto* a = n->add_attribute();
    a->set_name("pads");
    a->set_type(onnx::AttributeProto::INTS);
    for (int k = 0; k < 4; ++k) a->add_ints(1);
    return n;
  };
  pads(node("Conv", {"x", "w"}, {"c1"}));
  node("Relu", {"c1"}, {"r1"});
  pads(node("Conv", {"r1", "w"}, {"c2"}));
  node("Add", {"c2", "r1"}, {"a1"});
  node("Sigmoid", {"r1"}, {"s1"});
  node("Mul", {"a1", "s1"}, {"m1"});
  auto* pool = node("MaxPool", {"m1"}, {"p1"});
  auto* k = pool->add_attribute();
  k->set_name("kernel_shape");
  k->set_type(onnx::AttributeProto::INTS);
  k->add_ints(2);
  k->add_ints(2);
  auto* s = pool->add_attribute();
  s->set_name("strides");
  s->set_type(onnx::AttributeProto::INTS);
  s->add_ints(2);
  s->add_ints(2);
  auto* c = node("Constant", {}, {"shape"});
  auto* v = c->add_attribute();
  v->set_name("value");
  v->set_type(onnx::AttributeProto::TENSOR);
  v->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  v->mutable_t()->add_dims(2);
  v->mutable_t()->add_int64_data(1);
  v->mutable_t()->add_int64_data(128);
  node("Reshape", {"p1", "shape"}, {"f1"});
  node("Softmax", {"f1"}, {"y"});
  const std::string path = layoutdb::fuzz::InputPath(".model.onnx");
  std::ofstream(path, std::ios::binary) << m.SerializeAsString();
  sel::Graph graph = sel::ImportOnnx(path, {});
  std::remove(path.c_str());
  return graph;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sel::Graph graph = MakeGraph();
  static const std::string path = layoutdb::fuzz::InputPath(".partition.json");
  layoutdb::fuzz::WriteFile(path, data, size);
  layoutdb::fuzz::ExpectCleanRefusal([&] { sel::LoadPartition(graph, path); });
  return 0;
}
