// The selector's graph IR: an ONNX model after import, shape inference and folding.
// Internal to selector/ (deployed apps see only layoutdb/selector.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "layoutdb/problem.h"
#include "op_table.h"

namespace layoutdb::selector {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;   // static after import; empty for a scalar
  std::string dtype = "f32";    // ONNX element type, short name (f32, f16, i64, ...)
  bool is_constant = false;     // initializer, Constant output, or folded shape computation
  // False only downstream of an opaque node (unknown op, control flow) whose output shape nothing
  // told us; such tensors are costed as empty and noted.
  bool shape_known = true;
  int64_t Elems() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
};

struct Node {
  int index = 0;                 // zero-based index in the model's top-level node list
  std::string op_type, name, domain;
  std::vector<std::string> inputs, outputs;
  // Outer-scope values a control-flow body reads without listing them as inputs: dependencies that
  // partitioning must respect.
  std::vector<std::string> implicit_inputs;
  // The database problem this node runs as (Conv -> conv2d, MatMul -> matmul, Relu -> eltwise:relu,
  // Concat -> concat, ...; glue ops in glue_problems.cpp); empty for ops the database does not
  // measure (Reshape, Gather, ...), costed by roofline.
  std::optional<Problem> problem;
  bool is_constant = false;      // Constant nodes and folded shape computations: never placed
  bool is_known = true;          // false for operators the selector does not know (listed, on cpu)
  bool is_control_flow = false;  // If, Loop, Scan: opaque, placed on the cpu in a plain layout
  std::string note;              // why it is special, one line, shown in the plan
  double flops = 0;              // of this node
  double bytes = 0;              // read + written, f32
};

struct Graph {
  std::string name;
  int64_t opset = 0;
  std::vector<Node> nodes;                   // topological order; nodes[i].index == i
  std::map<std::string, TensorInfo> tensors; // every value: inputs, initializers, node outputs
  std::vector<std::string> inputs, outputs;  // graph inputs (not initializers) and outputs
  std::vector<std::string> notes;            // import notes (unknown ops, control flow, folded nodes)
};

// A sub-graph: connected nodes executed together on one unit in one layout.
struct Subgraph {
  std::vector<int> nodes;  // node indices, topological order
  int anchor = -1;         // the anchor node (Conv, MatMul, pool, ...), -1 if none
};

// A tensor flowing from one sub-graph to another (or from a graph input).
struct Edge {
  int from = -1;  // producing sub-graph; -1 for a graph input
  int to = -1;    // consuming sub-graph
  std::string tensor;
  std::vector<int64_t> shape;
  int64_t bytes = 0;  // f32
};

struct Partition {
  std::vector<Subgraph> subgraphs;  // topological order
  std::vector<Edge> edges;
};

// Fixed input shapes from `--input NAME:1,3,224,224`.
using InputShapes = std::map<std::string, std::vector<int64_t>>;

// Imports an ONNX file: shape inference, shape-subgraph folding, node-to-problem mapping. Throws
// std::runtime_error with one line naming the file and the problem (missing, not ONNX, unfixed dynamic
// inputs — all of them named —, an impossible shape).
Graph ImportOnnx(const std::string& path, const InputShapes& inputs);

// IsAnchorOp (op_table.h): the operators that start a sub-graph (Fusion::kAnchor rows); the runtime
// executes a sub-graph as it was partitioned around them.

// Anchor operators take their fusible followers; branches end a sub-graph. Every non-constant node ends
// up in exactly one sub-graph.
Partition DefaultPartition(const Graph& g);

// A user's partition: JSON {"subgraphs": [[0,1,2],[3,4],...]} with node indices (or, as in a plan,
// [{"nodes": [0,1,2]}, ...]); validated (every
// non-constant node exactly once, indices in range), throws std::runtime_error naming the problem.
Partition LoadPartition(const Graph& g, const std::string& json_path);

// The fused problem of an anchor sub-graph as the runtime executes it (see fuse.cpp): the anchor's
// problem with the post-op chain its followers form (`conv2d:...+sum+relu`), the nodes it covers (the
// anchor, then the followers folded into weights and bias or fused as post-ops, in chain order) and,
// of those, the folded ones. nullopt when the anchor takes no post-ops (pooling, softmax, ...) or has
// no problem. Followers after the first one the chain cannot describe are not covered.
struct FusedProblem {
  Problem problem;
  std::vector<int> nodes;
  std::vector<int> folded;
};
std::optional<FusedProblem> FuseSubgraph(const Graph& g, const Subgraph& sg);

// The database problems one sub-graph runs as: its anchor's fused key (when it has one), then the
// problem of every node that key does not cover, in node order.
std::vector<std::string> SubgraphProblemKeys(const Graph& g, const Subgraph& sg);
// The same over a partitioned model: every sub-graph's; sorted, unique.
std::vector<std::string> ModelProblemKeys(const Graph& g, const Partition& part);

// The tensors a partitioned model moves between its sub-graphs, and in from and out to the host: what
// its plans convert (a 4-D tensor between layouts) and transfer (any tensor between units). Constants
// and tensors of unknown shape are left out. `sweep --model` measures these conversions and transfers
// beside the model's problems, so that a plan needs no other sweep. Sorted, unique.
struct BoundaryTensors {
  std::vector<std::vector<int64_t>> shapes4;  // N, C, H, W of the 4-D ones
  std::vector<int64_t> bytes_f32;             // the bytes of every one in f32
};
BoundaryTensors ModelBoundaryTensors(const Graph& g, const Partition& part);

// Recomputes edges for the given sub-graphs (used by both partitioners).
std::vector<Edge> ComputeEdges(const Graph& g, const std::vector<Subgraph>& subgraphs);

}  // namespace layoutdb::selector
