// Partitioning: the default rule on the example models and on every model of libonnx-testdata (with
// its invariants), a user's partition from JSON and its messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>

#include "onnx_test_util.h"
#include "selector/graph.h"

namespace layoutdb::selector {
namespace {

namespace fs = std::filesystem;
using onnx_testing::ExpectPartitionInvariants;
using onnx_testing::MakeTempDir;
using onnx_testing::ModelsDir;
using onnx_testing::Tiny;

std::string Ops(const Graph& g, const Subgraph& s) {
  std::string r;
  for (int i : s.nodes) r += (r.empty() ? "" : "+") + g.nodes[i].op_type;
  return r;
}

TEST(DefaultPartition, ResNet50FusesBatchNormActivationsAndResiduals) {
  const Graph g = ImportOnnx((ModelsDir() / "resnet50.onnx").string(), {});
  const Partition p = DefaultPartition(g);
  ExpectPartitionInvariants(g, p, "resnet50");
  std::map<std::string, int> kinds;
  for (const auto& s : p.subgraphs) ++kinds[Ops(g, s)];
  // 53 convolutions, each the anchor of its own sub-graph; the 16 residual Adds fused into the last
  // convolution of their block, with the Relu after them.
  EXPECT_EQ(kinds["Conv+BatchNormalization+Relu"], 33);
  EXPECT_EQ(kinds["Conv+BatchNormalization+Add+Relu"], 16);
  EXPECT_EQ(kinds["Conv+BatchNormalization"], 4);  // the downsample shortcuts
  EXPECT_EQ(kinds["MaxPool"], 1);
  EXPECT_EQ(kinds["GlobalAveragePool"], 1);
  EXPECT_EQ(kinds["Flatten"], 1);
  EXPECT_EQ(kinds["Gemm"], 1);
  EXPECT_EQ(p.subgraphs.size(), 57u);
  for (const auto& s : p.subgraphs)
    EXPECT_EQ(s.anchor, Ops(g, s) == "Flatten" ? -1 : s.nodes.front()) << Ops(g, s);
  // The only graph input enters the first sub-graph.
  ASSERT_FALSE(p.edges.empty());
  EXPECT_EQ(p.edges.front().from, -1);
  EXPECT_EQ(p.edges.front().to, 0);
  EXPECT_EQ(p.edges.front().bytes, 4 * 3 * 224 * 224);
}

TEST(DefaultPartition, BertKeepsBiasWithMatMulAndShapeNodesOut) {
  const Graph g =
      ImportOnnx((ModelsDir() / "bert_block.onnx").string(), {{"hidden_states", {1, 128, 768}}});
  const Partition p = DefaultPartition(g);
  ExpectPartitionInvariants(g, p, "bert_block");
  int matmul_add = 0, softmax = 0;
  for (const auto& s : p.subgraphs) {
    const std::string ops = Ops(g, s);
    matmul_add += ops.rfind("MatMul+Add", 0) == 0;
    softmax += ops == "Softmax";
    for (int i : s.nodes) EXPECT_NE(g.nodes[i].op_type, "Shape");
  }
  EXPECT_EQ(matmul_add, 6);  // Q, K, V, output projection, the two FFN layers
  EXPECT_EQ(softmax, 1);
}

TEST(DefaultPartition, BranchesEndASubgraph) {
  // conv -> relu feeds two convs (a branch), whose outputs are added: the Add is fused as the
  // residual of whichever conv reaches it first and the other conv stays alone.
  const fs::path dir = MakeTempDir("branch");
  Tiny t(13);
  t.Input("x", {"1", "4", "8", "8"});
  t.Floats("w", {4, 4, 1, 1});
  t.Node("Conv", {"x", "w"}, {"c0"});
  t.Node("Relu", {"c0"}, {"r0"});
  t.Node("Conv", {"r0", "w"}, {"c1"});
  t.Node("Conv", {"r0", "w"}, {"c2"});
  t.Node("Add", {"c1", "c2"}, {"s"});
  t.Node("Relu", {"s"}, {"y"});
  t.Output("y", {});
  const Graph g = ImportOnnx(t.Write(dir / "branch.onnx"), {});
  const Partition p = DefaultPartition(g);
  ExpectPartitionInvariants(g, p, "branch");
  std::vector<std::string> ops;
  for (const auto& s : p.subgraphs) ops.push_back(Ops(g, s));
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv+Relu", "Conv", "Conv+Add+Relu"}));
  // The fused Add reads the other branch: an edge from sub-graph 1 to 2.
  bool found = false;
  for (const auto& e : p.edges) found |= e.from == 1 && e.to == 2 && e.tensor == "c2";
  EXPECT_TRUE(found);
  fs::remove_all(dir);
}

// Every model of libonnx-testdata: a clean import with the partition invariants, or a
// std::runtime_error that names the file. Never a crash, never another exception type.
TEST(DefaultPartition, AllOnnxTestdataModels) {
  const fs::path root = "/usr/share/libonnx-testdata/data";
  if (!fs::exists(root)) GTEST_SKIP() << root << " not installed (package libonnx-testdata)";
  int clean = 0, refused = 0;
  std::map<std::string, std::pair<int, int>> per_dir;
  for (const char* dir : {"real", "pytorch-converted", "pytorch-operator", "simple", "node"}) {
    if (!fs::exists(root / dir)) continue;
    std::vector<fs::path> models;
    for (const auto& e : fs::directory_iterator(root / dir))
      if (fs::exists(e.path() / "model.onnx")) models.push_back(e.path() / "model.onnx");
    std::sort(models.begin(), models.end());
    for (const auto& m : models) {
      const std::string path = m.string();
      try {
        const Graph g = ImportOnnx(path, {});
        const Partition p = DefaultPartition(g);
        ExpectPartitionInvariants(g, p, path);
        ++clean;
        ++per_dir[dir].first;
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("model '" + path + "': ", 0), 0u) << e.what();
        ++refused;
        ++per_dir[dir].second;
      } catch (const std::exception& e) {
        ADD_FAILURE() << path << ": unexpected exception type: " << e.what();
      }
    }
  }
  for (const auto& [dir, c] : per_dir)
    std::cout << "libonnx-testdata " << dir << ": " << c.first << " imported and partitioned, "
              << c.second << " refused with a message\n";
  RecordProperty("clean", clean);
  RecordProperty("refused", refused);
  EXPECT_GT(clean, 800);  // the 932 node tests are mostly single operators with static shapes
}

class LoadPartitionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("user_partition");
    // A chain with a Constant: 0 Constant, 1 Relu 'r1', 2 Sigmoid 'r2', 3 Tanh 'r3', 4 Add 'r4'.
    Tiny t(13);
    t.Input("x", {"1", "4"});
    auto* c = t.Node("Constant", {}, {"k"}, "k");
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(1.0f);
    t.Node("Relu", {"x"}, {"a"}, "r1");
    t.Node("Sigmoid", {"a"}, {"b"}, "r2");
    t.Node("Tanh", {"b"}, {"c"}, "r3");
    t.Node("Add", {"c", "k"}, {"y"}, "r4");
    t.Output("y", {});
    graph_ = ImportOnnx(t.Write(dir_ / "chain.onnx"), {});
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Json(const std::string& text) {
    const std::string p = (dir_ / "partition.json").string();
    std::ofstream(p) << text;
    return p;
  }
  std::string Error(const std::string& text) {
    const std::string p = Json(text);
    try {
      LoadPartition(graph_, p);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no error";
  }

  fs::path dir_;
  Graph graph_;
};

TEST_F(LoadPartitionTest, ValidPartitionKeepsTheUsersGroups) {
  const Partition p = LoadPartition(graph_, Json(R"({"subgraphs": [[1, 2], [4, 3]]})"));
  ExpectPartitionInvariants(graph_, p, "user");
  ASSERT_EQ(p.subgraphs.size(), 2u);
  EXPECT_EQ(p.subgraphs[0].nodes, (std::vector<int>{1, 2}));
  EXPECT_EQ(p.subgraphs[1].nodes, (std::vector<int>{3, 4}));
  // A plan's JSON works too: sub-graphs as objects with "nodes".
  const Partition fromplan = LoadPartition(
      graph_, Json(R"({"subgraphs": [{"nodes": [1, 2], "unit": "cpu"}, {"nodes": [3, 4]}]})"));
  EXPECT_EQ(fromplan.subgraphs[1].nodes, (std::vector<int>{3, 4}));
  // Given out of order, sub-graphs come back in topological order.
  const Partition q = LoadPartition(graph_, Json(R"({"subgraphs": [[3, 4], [1, 2]]})"));
  ExpectPartitionInvariants(graph_, q, "reordered");
  EXPECT_EQ(q.subgraphs[0].nodes, (std::vector<int>{1, 2}));
}

TEST_F(LoadPartitionTest, Messages) {
  const std::string p = (dir_ / "partition.json").string();
  EXPECT_EQ(Error(R"({"subgraphs": [[1, 2], [4]]})"),
            "partition '" + p + "': node 3 (Tanh 'r3') is in no sub-graph");
  EXPECT_EQ(Error(R"({"subgraphs": [[1, 2], [2, 3, 4]]})"),
            "partition '" + p + "': node 2 appears in sub-graphs 0 and 1");
  EXPECT_EQ(Error(R"({"subgraphs": [[1, 2, 900], [3, 4]]})"),
            "partition '" + p + "': index 900 out of range (model has 5 nodes)");
  EXPECT_EQ(Error(R"({"subgraphs": [[1, 3], [2, 4]]})"),
            "partition '" + p + "': sub-graphs 0 -> 1 -> 0 form a cycle");
  EXPECT_EQ(Error(R"({"subgraphs": [[0, 1, 2], [3, 4]]})"),
            "partition '" + p + "': node 0 (Constant 'k') is a constant (folded or Constant) and "
            "belongs in no sub-graph");
  EXPECT_EQ(Error(R"({"subgraphs": [[1, 2], []]})"), "partition '" + p + "': sub-graph 1 is empty");
  EXPECT_EQ(Error(R"({"groups": []})"),
            "partition '" + p + "': expected {\"subgraphs\": [[node, ...], ...]}");
  EXPECT_EQ(Error(R"({"subgraphs": [[1, "r2"]]})"),
            "partition '" + p + "': sub-graph 0: \"r2\" is not a node index");
  EXPECT_EQ(Error("{\"subgraphs\": [[1,").rfind("partition '" + p + "': not valid JSON (", 0), 0u);
  try {
    LoadPartition(graph_, (dir_ / "missing.json").string());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "partition '" + (dir_ / "missing.json").string() + "': cannot open the file");
  }
}

TEST_F(LoadPartitionTest, EdgesFromGraphInputsAndBetweenSubgraphs) {
  const Partition p = LoadPartition(graph_, Json(R"({"subgraphs": [[1], [2, 3], [4]]})"));
  ASSERT_EQ(p.edges.size(), 3u);
  EXPECT_EQ(p.edges[0].from, -1);
  EXPECT_EQ(p.edges[0].tensor, "x");
  EXPECT_EQ(p.edges[1].from, 0);
  EXPECT_EQ(p.edges[1].to, 1);
  EXPECT_EQ(p.edges[1].tensor, "a");
  EXPECT_EQ(p.edges[1].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(p.edges[1].bytes, 16);
  EXPECT_EQ(p.edges[2].tensor, "c");  // the constant 'k' makes no edge
}

}  // namespace
}  // namespace layoutdb::selector
