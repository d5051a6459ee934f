// layoutdb's selector library: what a deployed application links.
//
//   auto sel = layoutdb::Selector::Open("app.db");           // read-only; loads the costs into memory
//   layoutdb::Plan plan = sel.Select("model.onnx", {});      // or Select(GraphDescription, options)
//   for (const auto& sg : plan.subgraphs) use(sg.unit, sg.layout);
//
// Every failure is a std::runtime_error whose what() is one line naming the file and what is wrong.
// A Selector is immutable after Open(): Select() may be called from several threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace layoutdb {

struct SelectOptions {
  std::map<std::string, std::vector<int64_t>> inputs;  // fixes dynamic input dims: name -> shape
  std::vector<std::string> units;                      // restrict to these units (empty: all)
  std::string dtype = "f32";                           // f32, bf16, int8
  std::string partition_path;                          // a user's partition JSON (empty: default)
};

// Parses one fixed input shape as `--input` takes it, `NAME:D1,D2,...` (e.g. `x:1,3,224,224`), into
// (NAME, dims). Throws std::invalid_argument: "<what> '<text>': ..." saying what is wrong.
std::pair<std::string, std::vector<int64_t>> ParseInputShape(const std::string& text,
                                                             const std::string& what = "--input");

// A model described in memory, without an ONNX file: operators named by problem keys and connected by
// tensor names (a chain or a DAG, listed in topological order).
struct GraphDescription {
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
  };
  struct Op {
    std::string name;
    // A database problem key (`conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1`), or empty for an op the
    // database does not measure (then op_type says what it is, e.g. Reshape, and output shapes given).
    std::string problem;
    std::string op_type;  // ONNX op type; derived from the problem when empty (conv2d -> Conv, ...)
    std::vector<std::string> inputs, outputs;
    // Output shapes; derived from the problem when empty (conv2d: mb,oc,oh,ow; matmul: mb,m,n; ...).
    std::vector<std::vector<int64_t>> output_shapes;
  };
  std::string name = "graph";
  std::vector<Tensor> inputs;  // graph inputs (activations)
  std::vector<Op> ops;
  std::vector<std::string> outputs;  // graph outputs (empty: tensors nobody consumes)
};

// The predicted time of a sub-graph in one (unit, layout) candidate state.
struct PlanCandidate {
  std::string unit, layout;
  double predicted_us = 0;
  std::string confidence;  // exact, interpolated, roofline
};

struct PlanSubgraph {
  int index = 0;
  std::vector<int> nodes;          // zero-based indices into the model's top-level node list
  std::vector<std::string> ops;    // ONNX op types of those nodes
  std::string unit;                // cpu, ocl:P:D
  std::string layout;              // nchw, nhwc, nChw16c, ..., or `src>dst` for a mixed anchor
  double predicted_us = 0;         // the sub-graph's operators in that state (no transitions)
  std::string confidence;          // the weakest of its nodes
  // The problem the runtime executes as one fused kernel for the anchor and its followers
  // (`conv2d:...+sum+relu`; the anchor's key when every follower folds into weights and bias); empty
  // for a sub-graph without a post-op-taking anchor (conv2d, matmul, ip).
  std::string fused_key;
  // How the fused part was costed: `fused` (the fused key, exact or interpolated among fused problems
  // of the same chain), `anchor+marginal` (the anchor plus measured marginal costs per post-op),
  // `separate` (each operator by itself: the database has nothing fused to go on); empty when there
  // is no fused key.
  std::string fused_cost;
  // Complexity score.
  double flops = 0, bytes = 0, intensity = 0;
  int node_count = 0;
  std::vector<PlanCandidate> candidates;  // every state considered, cheapest first
};

// A layout change or move between units on one edge (a tensor from sub-graph `from` to `to`; -1 is
// the host side of the model: its inputs come from, and its outputs go to, the cpu in nchw).
struct PlanTransition {
  int from = -1, to = -1;
  std::string tensor;
  std::string from_unit, from_layout, to_unit, to_layout;
  std::string kind;  // reorder (same unit) or transfer (between units)
  int64_t bytes = 0;
  double us = 0;
};

struct PlanBaseline {
  std::string name;       // cpu:nchw, cpu:nhwc, cpu:nChw16c, cpu:any, local_best
  double total_us = 0;    // the sub-graphs' costs plus the transitions this assignment causes
  double ratio = 0;       // total_us / plan total (>= 1 means the plan is faster)
  int fallbacks = 0;      // sub-graphs that could not run in the baseline's layout (ran in nchw)
};

struct Plan {
  std::string model, db, dtype;
  std::string model_hash;          // of the model file's bytes (empty for an in-memory graph)
  std::vector<std::string> units;  // units considered
  std::vector<PlanSubgraph> subgraphs;
  std::vector<PlanTransition> transitions;  // only edges that cost something
  double total_predicted_us = 0;
  std::vector<PlanBaseline> baselines;
  std::vector<std::string> notes;  // unknown ops, control flow, roofline estimates, solver method
  std::string solver;              // exact-tree-dp or dag-heuristic

  std::string ToJson(int indent = 2) const;  // validated by schema/plan.schema.json
  std::string ToTable() const;               // what `layoutdb select` prints
};

// What `layoutdb sweep --model` measures for a model under the default partition. Throws
// std::runtime_error naming the file, as Select does.
struct ModelProblemSet {
  // The database problems it runs as: the fused key of every anchor sub-graph and the problem of every
  // other node that has one; sorted, unique.
  std::vector<std::string> keys;
  // The conversions and transfers its plans may need: N, C, H, W of every 4-D float tensor between
  // sub-graphs (graph inputs and outputs included), and the f32 bytes of every float tensor there.
  std::vector<std::vector<int64_t>> conversion_shapes;
  std::vector<int64_t> transfer_bytes;
};
ModelProblemSet ModelProblems(const std::string& model_path,
                              const std::map<std::string, std::vector<int64_t>>& inputs);

// A fingerprint of a model file's bytes (16 hex digits; a plan carries it so that a runtime can refuse a
// plan made for another model). Throws naming the file when it cannot be read.
std::string ModelHash(const std::string& model_path);

// Asked before the selector plans a state no sweep measured: the reason this machine's library would
// not run problem `key` (a canonical key, fused chain included) on (unit, layout, dtype) the way its
// measured neighbours run, else nullopt. An interpolation cannot know that oneDNN has only its
// reference loop for one shape in one layout (a 3-channel convolution in nChw16c: 500x slower). A
// refused state is planned as one measured unusable is: never. The layoutdb program passes
// microbench::MakeReferenceCheck(); a deployed app passes its own or none. Called from the threads
// that call Select().
using RefuseCheck = std::function<std::optional<std::string>(const std::string& key, const std::string& unit,
                                                              const std::string& layout, const std::string& dtype)>;

class Selector {
 public:
  // Opens a layoutdb file read-only and indexes its measurements, transitions and transfers in memory.
  static Selector Open(const std::string& db_path, RefuseCheck refuse = {});
  Selector(Selector&&) noexcept;
  Selector& operator=(Selector&&) noexcept;
  ~Selector();

  Plan Select(const std::string& model_path, const SelectOptions& options) const;
  Plan Select(const GraphDescription& graph, const SelectOptions& options) const;
  std::vector<std::string> Units() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Selector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layoutdb
