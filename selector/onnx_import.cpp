// ONNX import: load, fix input shapes, ONNX shape inference plus our own folding of shape
// sub-graphs, then map every node to the database problem it runs as.
//
// How shapes become static: we alternate ONNX 1.12's shape inference (on a light copy of the model
// in which every folded constant is an initializer and every weight a shape-only input) with our own
// pass (onnx_fold.h) that evaluates shape arithmetic on constants and applies our shape rules where
// ONNX left a value unknown, until nothing new is learnt. A Reshape whose target comes out of
// Shape -> Gather -> Unsqueeze -> Concat thus gets a static output shape in the second round.
// Each copy carries everything learnt so far: a node whose outputs are all known leaves the copy
// and its outputs enter it as values of those shapes, so that a shape only our rules give (a Resize
// ONNX could not size, an opset 18 form) reaches the ops downstream that only ONNX's inference
// covers (Conv, ConvTranspose, pooling, ...).
#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <numeric>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "glue_problems.h"
#include "graph.h"
#include "onnx_fold.h"
#include "onnx_patterns.h"

namespace layoutdb::selector {
namespace {

using fold::AttrInt;
using fold::AttrInts;
using fold::AttrString;
using fold::FindAttr;
using fold::Val;
using fold::ValMap;

constexpr int64_t kLatestKnownOpset = 17;  // what ONNX 1.12's schemas cover
// A round that learns nothing ends the alternation; this bounds it when rounds keep learning. Each
// link of a chain that alternates between ops only our rules size and ops only ONNX sizes (Conv
// after GroupNormalization in a diffusion UNet, say) takes a round, so the bound grows with the
// model.
constexpr int kMinMaxRounds = 10;

[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

std::string NodeLabel(int index, const onnx::NodeProto& n) {
  return fmt::format("node {} ({} '{}')", index, n.op_type(), n.name());
}

bool IsControlFlow(const std::string& op) {
  return op == "If" || op == "Loop" || op == "Scan" || op == "SequenceMap";
}

using fold::IsDefaultDomain;

// No tensor of a real model comes near this many elements (1 PiB of f32); beyond it sizes would
// overflow int64 arithmetic (bytes, FLOPs) downstream.
constexpr int64_t kMaxTensorElems = int64_t{1} << 48;

// Operators with a sliding window (kernel_shape, strides, dilations attributes).
bool IsWindowed(const std::string& op) {
  return op == "Conv" || op == "ConvTranspose" || op == "ConvInteger" || op == "QLinearConv" ||
         op == "MaxPool" || op == "AveragePool" || op == "LpPool" || op == "MaxUnpool" ||
         op == "DeformConv";
}

// Standard ops newer than ONNX 1.12's schemas whose shapes our own rules give (onnx_fold.cpp): we
// treat them as known rather than as unknown operators.
bool IsOwnKnownOp(const onnx::NodeProto& n) {
  static const std::set<std::string> kOps = {"Gelu", "Mish", "GroupNormalization", "BitwiseNot",
                                             "BitwiseAnd", "BitwiseOr", "BitwiseXor"};
  return IsDefaultDomain(n.domain()) && kOps.count(n.op_type()) > 0;
}

// Random ops produce new values on every run: never folded.
bool IsNondeterministic(const std::string& op) {
  return op.rfind("Random", 0) == 0 || op == "Bernoulli" || op == "Multinomial";
}

std::string ShapeText(const onnx::TypeProto& t) {
  if (!t.has_tensor_type() || !t.tensor_type().has_shape()) return "[unknown rank]";
  std::vector<std::string> dims;
  for (const auto& d : t.tensor_type().shape().dim()) {
    if (d.has_dim_value() && d.dim_value() >= 0) dims.push_back(std::to_string(d.dim_value()));
    else if (d.has_dim_param() && !d.dim_param().empty()) dims.push_back(d.dim_param());
    else dims.push_back("?");
  }
  return fmt::format("[{}]", fmt::join(dims, ", "));
}

// A fully static shape from a TypeProto, or nothing.
std::optional<std::vector<int64_t>> StaticShape(const onnx::TypeProto& t) {
  if (!t.has_tensor_type() || !t.tensor_type().has_shape()) return std::nullopt;
  std::vector<int64_t> s;
  for (const auto& d : t.tensor_type().shape().dim()) {
    if (!d.has_dim_value() || d.dim_value() < 0) return std::nullopt;
    s.push_back(d.dim_value());
  }
  return s;
}

struct NodeState {
  bool constant = false;
  bool control_flow = false;
  bool known = true;
  bool skip_onnx_inference = false;  // opset 18 forms ONNX 1.12 would misread, or malformed
  std::string check_error;           // why the ONNX checker refused the node, if it did
};

// Outer-scope names read inside a graph attribute (recursively), minus what the body defines.
void CollectImplicit(const onnx::GraphProto& g, std::set<std::string>& used,
                     std::set<std::string> defined) {
  for (const auto& i : g.input()) defined.insert(i.name());
  for (const auto& i : g.initializer()) defined.insert(i.name());
  for (const auto& n : g.node()) {
    for (const auto& i : n.input())
      if (!i.empty() && !defined.count(i)) used.insert(i);
    for (const auto& a : n.attribute()) {
      if (a.has_g()) CollectImplicit(a.g(), used, defined);
      for (const auto& sg : a.graphs()) CollectImplicit(sg, used, defined);
    }
    for (const auto& o : n.output()) defined.insert(o);
  }
  for (const auto& o : g.output())
    if (!defined.count(o.name())) used.insert(o.name());
}

// The broadcast form of a binary's smaller operand against its 4-D output, as the `binary` family's
// `bc` (db/problem.cpp): 2 a scalar, 1 one value per channel ([N,C,1,1] after numpy's leading 1s),
// 0 anything else (an output of another rank, or a broadcast the database does not key).
int64_t BroadcastForm(std::vector<int64_t> operand, const std::vector<int64_t>& out) {
  if (out.size() != 4 || operand.size() > 4) return 0;
  operand.insert(operand.begin(), 4 - operand.size(), 1);
  if (operand == std::vector<int64_t>{1, 1, 1, 1}) return 2;
  if (operand[0] == out[0] && operand[1] == out[1] && operand[2] == 1 && operand[3] == 1) return 1;
  return 0;
}

class Importer {
 public:
  Importer(const std::string& path, const InputShapes& fixed) : path_(path), fixed_(fixed) {}

  Graph Run() {
    Load();
    ReadOpsets();
    ReadValues();
    ClassifyNodes();
    Propagate();
    return Build();
  }

 private:
  void Load() {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path_, ec)) Fail("file not found");
    if (fs::is_directory(path_, ec)) Fail("is a directory, not an ONNX file");
    const auto size = fs::file_size(path_, ec);
    if (!ec && size >= static_cast<uintmax_t>(INT_MAX))
      Fail(fmt::format("{:.1f} GB: protobuf reads at most 2 GB (models with external data are not "
                       "supported)",
                       static_cast<double>(size) / 1e9));
    // Straight from the file descriptor in 1 MB blocks: parsing is most of an import's time for
    // models with large weights, and an ifstream adds a copy.
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail("cannot open the file for reading");
    google::protobuf::io::FileInputStream zis(fd, 1 << 20);
    zis.SetCloseOnDelete(true);
    google::protobuf::io::CodedInputStream cis(&zis);
    cis.SetTotalBytesLimit(INT_MAX);  // models beyond protobuf's old 64 MB default (ResNet-50 is ~100)
    if (!model_.ParseFromCodedStream(&cis) || !model_.has_graph() || model_.ir_version() <= 0)
      Fail("not an ONNX model (it does not parse as an ONNX ModelProto)");
    if (const std::string note = RewriteDecomposedOps(model_); !note.empty()) notes_.push_back(note);
  }

  void ReadOpsets() {
    for (const auto& o : model_.opset_import()) {
      const std::string d = IsDefaultDomain(o.domain()) ? "" : o.domain();
      domain_opsets_[d] = o.version();
    }
    opset_ = domain_opsets_.count("") ? domain_opsets_[""] : 0;
    if (opset_ == 0) {
      opset_ = 7;
      notes_.push_back("the model imports no default-domain opset; read as opset 7");
      domain_opsets_[""] = 7;
    }
    if (opset_ > kLatestKnownOpset)
      notes_.push_back(fmt::format(
          "opset {} is newer than ONNX 1.12 knows ({}): its shape inference ran as opset {}, and the "
          "ops whose form changed since (Reduce* axes input, Split num_outputs, Pad axes, Resize "
          "axes) used our own shape rules",
          opset_, kLatestKnownOpset, kLatestKnownOpset));
    if (opset_ < 7)
      notes_.push_back(fmt::format("opset {} is older than 7: imported as best effort", opset_));
  }

  void ReadValues() {
    const auto& g = model_.graph();
    for (const auto& t : g.initializer()) {
      vals_[t.name()] = fold::ReadTensor(t);
      initializers_.insert(t.name());
    }
    // Shapes a model declares for intermediate values (used for opaque nodes' outputs).
    for (const auto& vi : g.value_info())
      if (auto s = StaticShape(vi.type())) declared_[vi.name()] = {*s, vi.type().tensor_type().elem_type()};
    for (const auto& vi : g.output())
      if (auto s = StaticShape(vi.type())) declared_[vi.name()] = {*s, vi.type().tensor_type().elem_type()};

    std::vector<std::string> graph_inputs;
    for (const auto& vi : g.input())
      if (!initializers_.count(vi.name())) graph_inputs.push_back(vi.name());
    for (const auto& [name, shape] : fixed_) {
      if (std::find(graph_inputs.begin(), graph_inputs.end(), name) == graph_inputs.end())
        Fail(fmt::format("--input '{}' names no graph input (the inputs are: {})", name,
                         graph_inputs.empty() ? "none" : fmt::format("{}", fmt::join(graph_inputs, ", "))));
    }
    std::vector<std::string> dynamic;
    for (const auto& vi : g.input()) {
      if (initializers_.count(vi.name())) continue;
      inputs_.push_back(vi.name());
      Val v;
      v.elem_type = vi.type().has_tensor_type() ? vi.type().tensor_type().elem_type() : 1;
      v.is_float = fold::IsFloatType(v.elem_type);
      auto it = fixed_.find(vi.name());
      const bool has_shape = vi.type().has_tensor_type() && vi.type().tensor_type().has_shape();
      if (it != fixed_.end()) {
        if (has_shape) {
          const auto& dims = vi.type().tensor_type().shape().dim();
          if (dims.size() != static_cast<int>(it->second.size()))
            Fail(fmt::format("--input {}: {} dimensions given, the model declares {} {}", vi.name(),
                             it->second.size(), dims.size(), ShapeText(vi.type())));
          for (int k = 0; k < dims.size(); ++k)
            if (dims[k].has_dim_value() && dims[k].dim_value() > 0 &&
                dims[k].dim_value() != it->second[k])
              Fail(fmt::format("--input {}: dimension {} is {} in the model, {} given", vi.name(), k,
                               dims[k].dim_value(), it->second[k]));
        }
        for (int64_t d : it->second)
          if (d < 0) Fail(fmt::format("--input {}: negative dimension {}", vi.name(), d));
        v.shape = it->second;
        v.shape_known = true;
      } else if (auto s = StaticShape(vi.type())) {
        v.shape = *s;
        v.shape_known = true;
      } else {
        dynamic.push_back(fmt::format("{}: {}", vi.name(), ShapeText(vi.type())));
        continue;
      }
      vals_[vi.name()] = v;
    }
    if (!dynamic.empty())
      Fail(fmt::format("dynamic input dimensions not fixed: {}; pass --input NAME:d0,d1,... for each",
                       fmt::join(dynamic, ", ")));
    for (const auto& o : g.output()) outputs_.push_back(o.name());
  }

  // Nodes ONNX's checker accepts but libonnx's shape inference crashes on (each found by
  // fuzz_onnx_import), refused with one line first. Shapes are those known before inference (graph
  // inputs, initializers): a bad rank produced inside the graph can still reach libonnx.
  void RefuseWhatOnnxInferenceCrashesOn(int i, const onnx::NodeProto& n) const {
    const std::string& op = n.op_type();
    auto known = [&](int k) -> const fold::Val* {
      if (k >= n.input_size()) return nullptr;
      auto it = vals_.find(n.input(k));
      return it != vals_.end() && it->second.shape_known ? &it->second : nullptr;
    };
    // A window of a non-positive size or step: conv/pool inference divides by it (SIGFPE).
    if (IsWindowed(op))
      for (const char* a : {"strides", "dilations", "kernel_shape"}) {
        const std::vector<int64_t> v = fold::AttrInts(n, a);
        if (std::any_of(v.begin(), v.end(), [](int64_t x) { return x < 1; }))
          Fail(fmt::format("{}: {} [{}] must be positive", NodeLabel(i, n), a, fmt::join(v, ",")));
      }
    // Weights of another rank than the input: conv inference indexes one by the other's rank
    // (SIGSEGV in convTransposeShapeInference).
    if (op == "Conv" || op == "ConvTranspose" || op == "ConvInteger" || op == "DeformConv") {
      const fold::Val *x = known(0), *w = known(1);
      if (x && w && x->shape.size() != w->shape.size())
        Fail(fmt::format("{}: weights '{}' of rank {} for an input of rank {}", NodeLabel(i, n), n.input(1),
                         w->shape.size(), x->shape.size()));
    }
    // LayerNormalization's axis outside its input's rank: its inference indexes the shape with it
    // (SIGSEGV on a scalar).
    if (op == "LayerNormalization")
      if (const fold::Val* x = known(0)) {
        const int64_t r = static_cast<int64_t>(x->shape.size()), axis = fold::AttrInt(n, "axis", -1);
        if (axis < -r || axis >= r)
          Fail(fmt::format("{}: axis {} out of range for an input of rank {}", NodeLabel(i, n), axis, r));
      }
  }

  void ClassifyNodes() {
    const auto& g = model_.graph();
    states_.resize(g.node_size());
    // ONNX's inference functions trust their node: a Scan without a body, a Conv without a kernel
    // crash inside libonnx. Nodes the ONNX checker refuses stay out of its inference (our own rules
    // may still give their shapes; if not, the error says what the checker said).
    onnx::checker::CheckerContext ctx;
    ctx.set_ir_version(static_cast<int>(model_.ir_version()));
    std::unordered_map<std::string, int> imports;
    for (const auto& [d, v] : domain_opsets_)
      imports[d] = static_cast<int>(d.empty() ? std::min(v, kLatestKnownOpset) : v);
    ctx.set_opset_imports(imports);
    onnx::checker::LexicalScopeContext lex;
    for (const auto& vi : g.input()) lex.add(vi.name());
    for (const auto& t : g.initializer()) lex.add(t.name());
    std::unordered_set<std::string> produced(inputs_.begin(), inputs_.end());
    produced.insert(initializers_.begin(), initializers_.end());
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      NodeState& s = states_[i];
      s.control_flow = IsControlFlow(n.op_type());
      const std::string dom = IsDefaultDomain(n.domain()) ? "" : n.domain();
      auto it = domain_opsets_.find(dom);
      const int version = it == domain_opsets_.end() ? 1 : static_cast<int>(it->second);
      const bool has_schema = onnx::OpSchemaRegistry::Schema(n.op_type(), version, dom) != nullptr;
      // A LayerNormalization (opset 17) or HardSwish (14) in a model of an older opset is one that
      // onnx_patterns.cpp wrote for a decomposed chain: known, by our own shape rules.
      const bool rewritten = !has_schema && dom.empty() &&
                             (n.op_type() == "LayerNormalization" || n.op_type() == "HardSwish");
      s.known = IsOwnKnownOp(n) || rewritten || has_schema;
      if (dom.empty() && opset_ > kLatestKnownOpset) {
        const std::string& op = n.op_type();
        s.skip_onnx_inference = (op.rfind("Reduce", 0) == 0 && n.input_size() > 1) ||
                                (op == "Split" && fold::HasAttr(n, "num_outputs")) ||
                                (op == "Pad" && n.input_size() > 3) ||
                                (op == "Resize" && (fold::HasAttr(n, "axes") ||
                                                    fold::HasAttr(n, "antialias") ||
                                                    fold::HasAttr(n, "keep_aspect_ratio_policy")));
      }
      for (const auto& in : n.input())
        if (!in.empty() && !produced.count(in))
          Fail(fmt::format("{}: input '{}' is produced by no earlier node, initializer or graph "
                           "input (nodes out of topological order?)",
                           NodeLabel(i, n), in));
      if (s.known && !IsOwnKnownOp(n) && !rewritten) {
        try {
          onnx::checker::check_node(n, ctx, lex);
        } catch (const std::exception& e) {
          s.skip_onnx_inference = true;
          const std::string what = e.what();
          s.check_error = what.substr(0, what.find('\n'));
        }
      }
      if (dom.empty()) RefuseWhatOnnxInferenceCrashesOn(i, n);
      for (const auto& o : n.output())
        if (!o.empty()) {
          produced.insert(o);
          lex.add(o);
        }
      if (s.control_flow || !s.known) {
        // Opaque: shapes only from what the model declares.
        for (const auto& o : n.output()) {
          auto d = declared_.find(o);
          if (d != declared_.end()) {
            Val v;
            v.shape_known = true;
            v.shape = d->second.first;
            v.elem_type = d->second.second;
            v.is_float = fold::IsFloatType(v.elem_type);
            vals_[o] = v;
          }
        }
      }
    }
  }

  // Counts what we know, to see whether a round taught us anything.
  int64_t Knowledge() const {
    int64_t k = 0;
    for (const auto& [name, v] : vals_) k += v.shape_known + 2 * v.has_data + 4 * v.is_constant;
    return k;
  }

  void Propagate() {
    OwnPass();
    int64_t before = -1;
    const int max_rounds = std::max(kMinMaxRounds, model_.graph().node_size() + 2);
    for (int round = 0; round < max_rounds; ++round) {
      RunOnnxInference();
      OwnPass();
      const int64_t now = Knowledge();
      if (now == before) break;
      before = now;
      if (AllStatic()) break;
    }
  }

  bool AllStatic() const {
    const auto& g = model_.graph();
    for (int i = 0; i < g.node_size(); ++i) {
      if (states_[i].constant) continue;
      for (const auto& o : g.node(i).output()) {
        if (o.empty()) continue;
        auto it = vals_.find(o);
        if (it == vals_.end() || !it->second.shape_known) return false;
      }
    }
    return true;
  }

  // Our own pass in topological order: constness, folding, our shape rules.
  void OwnPass() {
    const auto& g = model_.graph();
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      NodeState& s = states_[i];
      if (s.control_flow || !s.known) continue;
      const std::string& op = n.op_type();
      try {
        if (!s.constant) {
          bool all_const = n.input_size() > 0 && !IsNondeterministic(op);
          for (const auto& in : n.input()) {
            if (in.empty()) continue;
            auto it = vals_.find(in);
            if (it == vals_.end() || !it->second.is_constant) all_const = false;
          }
          if (op == "Constant") all_const = true;
          if ((op == "Shape" || op == "Size") && n.input_size() > 0) {
            auto it = vals_.find(n.input(0));
            all_const = it != vals_.end() && it->second.shape_known;
          }
          s.constant = all_const;
        }
        bool has_all = true;
        for (const auto& o : n.output()) {
          if (o.empty()) continue;
          auto it = vals_.find(o);
          if (it == vals_.end() || !it->second.shape_known || (s.constant && !it->second.has_data))
            has_all = false;
        }
        if (has_all) continue;
        bool done = false;
        if (s.constant) done = fold::Evaluate(n, opset_, vals_);
        if (!done) fold::InferShape(n, opset_, vals_);
        if (s.constant)
          for (const auto& o : n.output())
            if (!o.empty()) vals_[o].is_constant = true;
      } catch (const std::exception& e) {
        Fail(fmt::format("{}: {}", NodeLabel(i, n), e.what()));
      }
    }
  }

  bool OutputsKnown(const onnx::NodeProto& n) const {
    for (const auto& o : n.output()) {
      if (o.empty()) continue;
      auto it = vals_.find(o);
      if (it == vals_.end() || !it->second.shape_known) return false;
    }
    return true;
  }

  // ONNX 1.12 shape inference on a light copy: folded constants and weights become initializers
  // (small ones with their values: integer ones, which Reshape & co. read, and a handful of floats,
  // which Resize's scales and Range's bounds are) or shape-only inputs; so do the outputs of every
  // node whose outputs we all know already.
  void RunOnnxInference() {
    const auto& g = model_.graph();
    onnx::ModelProto m;
    m.set_ir_version(std::max<int64_t>(model_.ir_version(), 4));
    for (const auto& o : model_.opset_import()) {
      auto* oi = m.add_opset_import();
      *oi = o;
      if (IsDefaultDomain(o.domain()) && o.version() > kLatestKnownOpset) oi->set_version(kLatestKnownOpset);
    }
    *m.mutable_functions() = model_.functions();
    auto* mg = m.mutable_graph();
    mg->set_name(g.name());
    std::unordered_set<std::string> declared;
    auto declare = [&](const std::string& name) {
      if (name.empty() || declared.count(name)) return;
      auto it = vals_.find(name);
      if (it == vals_.end() || !it->second.shape_known) return;
      declared.insert(name);
      const Val& v = it->second;
      const bool int_data = v.has_data && v.Elems() <= 4096 &&
                            (v.elem_type == onnx::TensorProto::INT64 ||
                             v.elem_type == onnx::TensorProto::INT32);
      // Float values size an output only as Resize/Upsample scales or Range bounds: a few numbers.
      // Larger float tensors are weights, which ONNX needs by shape only.
      const bool float_data = v.has_data && v.Elems() <= 64 &&
                              (v.elem_type == onnx::TensorProto::FLOAT ||
                               v.elem_type == onnx::TensorProto::DOUBLE);
      if (int_data || float_data) {
        auto* t = mg->add_initializer();
        t->set_name(name);
        t->set_data_type(v.elem_type);
        for (int64_t d : v.shape) t->add_dims(d);
        for (int64_t x : v.i) {
          if (v.elem_type == onnx::TensorProto::INT64) t->add_int64_data(x);
          else t->add_int32_data(static_cast<int32_t>(x));
        }
        for (double x : v.f) {
          if (v.elem_type == onnx::TensorProto::FLOAT) t->add_float_data(static_cast<float>(x));
          else t->add_double_data(x);
        }
        return;
      }
      auto* vi = mg->add_input();
      vi->set_name(name);
      auto* tt = vi->mutable_type()->mutable_tensor_type();
      tt->set_elem_type(v.elem_type ? v.elem_type : 1);
      auto* sh = tt->mutable_shape();
      for (int64_t d : v.shape) sh->add_dim()->set_dim_value(d);
    };
    for (const auto& name : inputs_) declare(name);
    for (const auto& [name, v] : vals_)
      if (v.is_constant) declare(name);
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      const NodeState& s = states_[i];
      // A node whose outputs we all know leaves the copy and its outputs come in with those shapes.
      // Kept in, it would be inferred again from what ONNX alone knows: a shape only our own rules
      // give (a Resize on scales ONNX cannot read, an opset 18 form) would be lost again in every
      // round, and with it every shape downstream that only ONNX's rules give.
      if (s.constant || s.skip_onnx_inference || OutputsKnown(n)) {
        for (const auto& o : n.output()) declare(o);
        continue;
      }
      // A node that stays in (some output unknown) starts from the outputs we know: an opaque
      // node's declared shapes (ONNX infers If/Loop where it can), the outputs our rules sized of a
      // node with several.
      for (const auto& o : n.output()) {
        auto it = vals_.find(o);
        if (it == vals_.end() || !it->second.shape_known) continue;
        auto* vi = mg->add_value_info();
        vi->set_name(o);
        auto* tt = vi->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(it->second.elem_type ? it->second.elem_type : 1);
        for (int64_t d : it->second.shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
      }
      *mg->add_node() = n;
    }
    for (const auto& o : g.output()) {
      // An output already known needs no inference (nor ONNX's check of its type against ours).
      if (declared.count(o.name())) continue;
      auto* vi = mg->add_output();
      vi->set_name(o.name());
      if (o.type().has_tensor_type())
        vi->mutable_type()->mutable_tensor_type()->set_elem_type(o.type().tensor_type().elem_type());
    }
    try {
      onnx::ShapeInferenceOptions options(/*check_type=*/false, /*strict_mode=*/0,
                                          /*data_prop=*/false);
      onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), options);
    } catch (const std::exception& e) {
      const std::string line = std::string(e.what()).substr(0, std::string(e.what()).find('\n'));
      if (!inference_failed_)
        notes_.push_back(fmt::format("ONNX shape inference stopped ({}); our own rules filled in", line));
      inference_failed_ = true;
    }
    auto take = [&](const onnx::ValueInfoProto& vi) {
      auto s = StaticShape(vi.type());
      if (!s) return;
      Val& v = vals_[vi.name()];
      if (v.shape_known) {
        // Our shape rules copy the input's element type; ONNX knows better (IsNaN gives bool).
        const int32_t t = vi.type().tensor_type().elem_type();
        if (t != 0 && !v.has_data && t != v.elem_type) {
          v.elem_type = t;
          v.is_float = fold::IsFloatType(t);
        }
        return;
      }
      v.shape_known = true;
      v.shape = *s;
      v.elem_type = vi.type().tensor_type().elem_type();
      v.is_float = fold::IsFloatType(v.elem_type);
    };
    for (const auto& vi : m.graph().value_info()) take(vi);
    for (const auto& vi : m.graph().output()) take(vi);
  }

  // Conv/pool geometry: per spatial axis (pad_begin, pad_end) after auto_pad.
  std::vector<std::pair<int64_t, int64_t>> Pads(const onnx::NodeProto& n, const std::vector<int64_t>& in,
                                                const std::vector<int64_t>& k,
                                                const std::vector<int64_t>& s,
                                                const std::vector<int64_t>& d) {
    const size_t r = in.size();
    std::vector<std::pair<int64_t, int64_t>> p(r, {0, 0});
    const std::string ap = AttrString(n, "auto_pad", "NOTSET");
    if (ap == "SAME_UPPER" || ap == "SAME_LOWER") {
      for (size_t j = 0; j < r; ++j) {
        const int64_t out = (in[j] + s[j] - 1) / s[j];
        const int64_t total = std::max<int64_t>(0, (out - 1) * s[j] + (k[j] - 1) * d[j] + 1 - in[j]);
        const int64_t small = total / 2, big = total - small;
        p[j] = ap == "SAME_UPPER" ? std::make_pair(small, big) : std::make_pair(big, small);
      }
    } else if (ap != "VALID") {
      const auto pads = AttrInts(n, "pads");
      if (pads.size() == 2 * r)
        for (size_t j = 0; j < r; ++j) p[j] = {pads[j], pads[j + r]};
    }
    return p;
  }

  // Maps one node to its database problem (or leaves none, with a note where that matters).
  void MapNode(int index, const onnx::NodeProto& n, Node& node) {
    auto shape = [&](const std::string& name) -> const std::vector<int64_t>* {
      auto it = vals_.find(name);
      return it == vals_.end() || !it->second.shape_known ? nullptr : &it->second.shape;
    };
    auto in_shape = [&](int k) { return k < n.input_size() ? shape(n.input(k)) : nullptr; };
    const auto* out = n.output_size() > 0 ? shape(n.output(0)) : nullptr;
    const std::string& op = n.op_type();
    auto make = [&](const std::string& pop, const std::string& alg,
                    std::vector<std::pair<std::string, int64_t>> params) {
      try {
        node.problem = Problem(pop, alg, std::move(params));
      } catch (const std::invalid_argument& e) {
        node.note = fmt::format("no database problem: {}", e.what());
      }
    };
    auto view4 = [&](const std::string& pop, const std::string& alg, const std::vector<int64_t>& s) {
      const auto v = View4(s);
      make(pop, alg, {{"mb", v[0]}, {"c", v[1]}, {"h", v[2]}, {"w", v[3]}});
    };
    if (!IsDefaultDomain(n.domain())) return;
    if (auto glue = MapGlueNode(n, opset_, vals_)) {  // Concat, Resize, Transpose, ... (glue_problems.cpp)
      node.problem = std::move(glue->problem);
      node.note = std::move(glue->note);
      return;
    }
    // The op table names the database family (and algorithm) of a node; the shape parameters of
    // each family are derived here.
    const OpRow* row = FindOp(op);
    if (!row) return;
    const std::string_view fam = row->family;
    if (fam.empty()) {
      if (row->fusion == Fusion::kAnchor) node.note = fmt::format("{}: no database problem (roofline)", op);
      return;
    }
    // MaxPool and AveragePool require kernel_shape; the global poolings have none.
    const bool global_pool = fam == "pool" && !fold::HasAttr(n, "kernel_shape");

    if (fam == "conv2d" || (fam == "pool" && !global_pool)) {
      const auto* x = in_shape(0);
      if (!x || x->size() < 3) return;
      const size_t r = x->size() - 2;
      std::vector<int64_t> spatial(x->begin() + 2, x->end());
      std::vector<int64_t> k = AttrInts(n, "kernel_shape");
      const auto* w = fam == "conv2d" ? in_shape(1) : nullptr;
      if (k.empty() && w && w->size() == r + 2) k.assign(w->begin() + 2, w->end());
      if (k.size() != r) return;
      std::vector<int64_t> st = AttrInts(n, "strides"), dl = AttrInts(n, "dilations");
      if (st.size() != r) st.assign(r, 1);
      if (dl.size() != r) dl.assign(r, 1);
      const auto p = Pads(n, spatial, k, st, dl);
      for (size_t j = 0; j < r; ++j) {
        const int64_t ek = (k[j] - 1) * dl[j] + 1, padded = spatial[j] + p[j].first + p[j].second;
        if (ek > padded || st[j] <= 0 || k[j] <= 0) {
          std::vector<int64_t> eks, pads;
          for (size_t q = 0; q < r; ++q) {
            eks.push_back((k[q] - 1) * dl[q] + 1);
            pads.push_back(spatial[q] + p[q].first + p[q].second);
          }
          Fail(fmt::format("{}: impossible shape: kernel {} is larger than its padded input {}",
                           NodeLabel(index, n), fmt::join(eks, "x"), fmt::join(pads, "x")));
        }
      }
      if (r == 1 && op == "Conv" && w && w->size() == 3) {
        // 1-D: conv2d with height 1, as the runtime runs it (cpu_backend.cpp).
        const int64_t g = AttrInt(n, "group", 1);
        make("conv2d", "", {{"mb", (*x)[0]}, {"ic", (*x)[1]}, {"ih", 1}, {"iw", spatial[0]}, {"oc", (*w)[0]},
                            {"kh", 1}, {"kw", k[0]}, {"sh", 1}, {"sw", st[0]}, {"ph", 0},
                            {"pw", std::max(p[0].first, p[0].second)}, {"dh", 1}, {"dw", dl[0]}, {"g", g}});
        if (node.problem && p[0].first != p[0].second)
          node.note = fmt::format("asymmetric pads: costed with the larger (pw{})", node.problem->Get("pw"));
        return;
      }
      if (r != 2) {
        node.note = fmt::format("{}D {}: no database problem (roofline)", r, op);
        return;
      }
      bool asym = false;
      for (const auto& pp : p) asym |= pp.first != pp.second;
      const int64_t ph = std::max(p[0].first, p[0].second), pw = std::max(p[1].first, p[1].second);
      if (fam == "conv2d") {
        if (!w || w->size() != 4) return;
        const int64_t g = AttrInt(n, "group", 1);
        if (g <= 0 || (*x)[1] != (*w)[1] * g)
          Fail(fmt::format("{}: impossible shape: input has {} channels, weights expect {} x group {}",
                           NodeLabel(index, n), (*x)[1], (*w)[1], g));
        make("conv2d", "", {{"mb", (*x)[0]}, {"ic", (*x)[1]}, {"ih", spatial[0]}, {"iw", spatial[1]},
                            {"oc", (*w)[0]}, {"kh", k[0]}, {"kw", k[1]}, {"sh", st[0]}, {"sw", st[1]},
                            {"ph", ph}, {"pw", pw}, {"dh", dl[0]}, {"dw", dl[1]}, {"g", g}});
      } else {
        if (dl[0] != 1 || dl[1] != 1) {
          node.note = "dilated pooling: no database problem (roofline)";
          return;
        }
        make("pool", std::string(row->alg),
             {{"mb", (*x)[0]}, {"ic", (*x)[1]}, {"ih", spatial[0]}, {"iw", spatial[1]}, {"kh", k[0]},
              {"kw", k[1]}, {"sh", st[0]}, {"sw", st[1]}, {"ph", ph}, {"pw", pw}});
      }
      if (asym && node.problem)
        node.note = fmt::format("asymmetric pads: costed with the larger (ph{} pw{})", ph, pw);
      if (node.problem && out && out->size() == 4 &&
          ((*out)[2] != node.problem->Oh() || (*out)[3] != node.problem->Ow())) {
        // ceil_mode, or the larger symmetric padding, changes the output size by a row or column.
        const std::string what =
            fmt::format("output {}x{}, costed as the problem's {}x{}", (*out)[2], (*out)[3],
                        node.problem->Oh(), node.problem->Ow());
        node.note = node.note.empty() ? what : node.note + "; " + what;
      }
      return;
    }
    if (global_pool) {
      const auto* x = in_shape(0);
      if (!x) return;
      if (x->size() != 4) {
        node.note = fmt::format("{}D {}: no database problem (roofline)", x->size() - 2, op);
        return;
      }
      make("pool", std::string(row->alg),
           {{"mb", (*x)[0]}, {"ic", (*x)[1]}, {"ih", (*x)[2]}, {"iw", (*x)[3]}, {"kh", (*x)[2]},
            {"kw", (*x)[3]}, {"sh", 1}, {"sw", 1}, {"ph", 0}, {"pw", 0}});
      return;
    }
    if (fam == "matmul") {
      const auto *a = in_shape(0), *b = in_shape(1);
      if (!a || !b || a->empty() || b->empty()) return;
      const int64_t k = a->back();
      const int64_t nn = b->size() == 1 ? 1 : b->back();
      if (b->size() <= 2) {
        // A shared 2D weight: A's batch dims are rows of one GEMM (how runtimes execute a linear
        // layer), so they fold into m, not mb.
        int64_t m = 1;
        for (size_t j = 0; j + 1 < a->size(); ++j) m *= (*a)[j];
        make("matmul", "", {{"mb", 1}, {"m", m}, {"n", nn}, {"k", k}});
      } else {
        // Batched: the output's batch dims multiply into mb.
        const int64_t m = a->size() >= 2 ? (*a)[a->size() - 2] : 1;
        int64_t mb = 1;
        if (out)
          for (size_t j = 0; j + 2 < out->size(); ++j) mb *= (*out)[j];
        make("matmul", "", {{"mb", mb}, {"m", m}, {"n", nn}, {"k", k}});
      }
      return;
    }
    if (fam == "ip") {  // Gemm
      const auto *a = in_shape(0), *b = in_shape(1);
      if (!a || !b || a->size() != 2 || b->size() != 2) return;
      const bool ta = AttrInt(n, "transA", 0), tb = AttrInt(n, "transB", 0);
      const int64_t m = ta ? (*a)[1] : (*a)[0], k = ta ? (*a)[0] : (*a)[1];
      const int64_t nn = tb ? (*b)[0] : (*b)[1];
      auto it = vals_.find(n.input(1));
      if (it != vals_.end() && it->second.is_constant)
        make("ip", "", {{"mb", m}, {"ic", k}, {"oc", nn}});
      else
        make("matmul", "", {{"mb", 1}, {"m", m}, {"n", nn}, {"k", k}});
      return;
    }
    if (fam == "eltwise") {
      if (out) view4("eltwise", std::string(row->alg), *out);
      return;
    }
    if (fam == "binary") {
      if (!out) return;
      const auto *a = in_shape(0), *b = in_shape(1);
      // One full-size operand and one computed at run time that broadcasts per channel ([N,C,1,1],
      // a squeeze-excitation scale) or is a scalar: the problem with that form (bc1, bc2), as the
      // runtime runs it (a oneDNN binary with the operand in src's layout, runtime/cpu_backend.cpp).
      // Constant operands run otherwise there (a scalar as a linear eltwise, a per-channel one plain)
      // and keep the output-shape problem with a note, as do other broadcasts.
      if (a && b && *a != *b && n.input_size() == 2) {
        const int small = *a == *out ? 1 : *b == *out ? 0 : -1;
        const auto it = small < 0 ? vals_.end() : vals_.find(n.input(small));
        const int64_t bc =
            it != vals_.end() && !it->second.is_constant ? BroadcastForm(small == 1 ? *b : *a, *out) : 0;
        if (bc != 0) {
          const auto& y = *out;
          make("binary", std::string(row->alg), {{"mb", y[0]}, {"c", y[1]}, {"h", y[2]}, {"w", y[3]}, {"bc", bc}});
          return;
        }
      }
      view4("binary", std::string(row->alg), *out);
      if (node.problem && a && b && *a != *b)
        node.note = fmt::format("broadcast [{}] and [{}]: costed as a binary op on the output shape",
                                fmt::join(*a, ","), fmt::join(*b, ","));
      return;
    }
    if (fam == "softmax") {
      const auto* x = in_shape(0);
      if (!x) return;
      const int64_t r = static_cast<int64_t>(x->size());
      int64_t axis = AttrInt(n, "axis", opset_ >= 13 ? -1 : 1);
      if (axis < 0) axis += r;
      if (axis < 0 || (r > 0 && axis >= r)) return;
      std::vector<int64_t> v;
      int64_t ax;
      if (opset_ < 13 && axis != r - 1) {
        // Before opset 13 Softmax flattens to [prod(:axis), prod(axis:)] and normalises the rows.
        int64_t a = 1, b = 1;
        for (int64_t j = 0; j < r; ++j) (j < axis ? a : b) *= (*x)[j];
        v = {a, b, 1, 1};
        ax = 1;
      } else {
        v = View4(*x);
        ax = r <= 4 ? axis : (axis < 2 ? axis : axis == r - 1 ? 3 : 2);
      }
      make("softmax", "", {{"mb", v[0]}, {"c", v[1]}, {"h", v[2]}, {"w", v[3]}, {"ax", ax}});
      return;
    }
    if (fam == "bnorm") {
      if (const auto* x = in_shape(0)) view4("bnorm", "", *x);
      return;
    }
    if (fam == "lnorm") {
      const auto* x = in_shape(0);
      if (!x || x->empty()) return;
      const int64_t r = static_cast<int64_t>(x->size());
      int64_t axis = AttrInt(n, "axis", -1);
      if (axis < 0) axis += r;
      if (axis < 0 || axis >= r) return;
      int64_t mb = 1, t = 1, c = 1;
      for (int64_t j = 0; j < r; ++j) {
        if (j >= axis) c *= (*x)[j];
        else if (j == 0) mb = (*x)[j];
        else t *= (*x)[j];
      }
      make("lnorm", "", {{"mb", mb}, {"t", t}, {"c", c}});
      return;
    }
  }

  Graph Build() {
    const auto& g = model_.graph();
    Graph out;
    out.name = g.name().empty() ? std::filesystem::path(path_).stem().string() : g.name();
    out.opset = opset_;
    out.inputs = inputs_;
    out.outputs = outputs_;
    // Which outputs anybody reads: unread optional outputs (Dropout masks, BatchNormalization's
    // training statistics) need no shape.
    std::unordered_set<std::string> read(outputs_.begin(), outputs_.end());
    for (const auto& n : g.node())
      for (const auto& i : n.input()) read.insert(i);
    std::unordered_set<std::string> tainted;  // unknown shape downstream of an opaque node
    int folded = 0;
    std::map<std::string, int> folded_ops;
    auto add_tensor = [&](const std::string& name) {
      if (name.empty() || out.tensors.count(name)) return;
      TensorInfo t;
      t.name = name;
      auto it = vals_.find(name);
      if (it != vals_.end()) {
        t.shape = it->second.shape;
        t.shape_known = it->second.shape_known;
        t.dtype = fold::DtypeName(it->second.elem_type);
        t.is_constant = it->second.is_constant;
        // Sizes are counted in int64 elements everywhere after import: a shape beyond that (a
        // declared [8e18, 40]) is impossible, not a large model.
        int64_t elems = 1;
        for (int64_t d : t.shape_known ? t.shape : std::vector<int64_t>{})
          if (d < 0 || __builtin_mul_overflow(elems, d, &elems) || elems > kMaxTensorElems)
            Fail(fmt::format("value '{}': shape [{}] has more than 2^48 elements", name, fmt::join(t.shape, ",")));
      } else {
        t.shape_known = false;
      }
      out.tensors[name] = t;
    };
    for (const auto& name : inputs_) add_tensor(name);
    for (const auto& name : initializers_) add_tensor(name);
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      const NodeState& s = states_[i];
      Node node;
      node.index = i;
      node.op_type = n.op_type();
      node.name = n.name();
      node.domain = n.domain();
      node.inputs.assign(n.input().begin(), n.input().end());
      node.outputs.assign(n.output().begin(), n.output().end());
      node.is_constant = s.constant;
      node.is_known = s.known;
      node.is_control_flow = s.control_flow;
      for (const auto& o : n.output()) add_tensor(o);
      if (s.control_flow) {
        std::set<std::string> used;
        for (const auto& a : n.attribute()) {
          if (a.has_g()) CollectImplicit(a.g(), used, {});
          for (const auto& sg : a.graphs()) CollectImplicit(sg, used, {});
        }
        for (const auto& u : used)
          if (out.tensors.count(u) &&
              std::find(node.inputs.begin(), node.inputs.end(), u) == node.inputs.end())
            node.implicit_inputs.push_back(u);
      }
      if (s.constant) {
        if (n.op_type() != "Constant") {
          ++folded;
          ++folded_ops[n.op_type()];
        }
      } else {
        if (!s.control_flow && s.known) MapNode(i, n, node);
        // Static shapes for every value it produces that somebody reads.
        bool upstream_opaque = s.control_flow || !s.known;
        for (const auto& in : n.input()) upstream_opaque |= tainted.count(in) > 0;
        for (const auto& in : node.implicit_inputs) upstream_opaque |= tainted.count(in) > 0;
        std::vector<std::string> unknown;
        for (int k = 0; k < n.output_size(); ++k) {
          const std::string& o = n.output(k);
          if (o.empty() || (k > 0 && !read.count(o))) continue;
          const TensorInfo& t = out.tensors[o];
          if (!t.shape_known) unknown.push_back(o);
          int64_t elems = 1;
          for (int64_t d : t.shape) {
            if (d < 0)
              Fail(fmt::format("{}: impossible shape: output '{}' has dimension {}", NodeLabel(i, n),
                               o, d));
            // More than 2^48 elements (a petabyte) is a corrupt shape, not a model.
            if (__builtin_mul_overflow(elems, d, &elems) || elems > (int64_t{1} << 48))
              Fail(fmt::format("{}: impossible shape: output '{}' is [{}]", NodeLabel(i, n), o,
                               fmt::join(t.shape, ",")));
          }
        }
        if (!unknown.empty()) {
          if (!upstream_opaque) {
            std::vector<std::string> ins;
            for (const auto& in : n.input()) {
              if (in.empty()) continue;
              const auto it = out.tensors.find(in);
              ins.push_back(it != out.tensors.end() && it->second.shape_known
                                ? fmt::format("{} [{}]", in, fmt::join(it->second.shape, ","))
                                : fmt::format("{} [?]", in));
            }
            // Name the inputs whose values (not shapes) would be needed: integer tensors that
            // are computed at run time, such as a Reshape target fed by a graph input.
            std::vector<std::string> runtime_values;
            for (const auto& in : n.input()) {
              const auto it = out.tensors.find(in);
              if (in.empty() || it == out.tensors.end() || it->second.is_constant) continue;
              const std::string& dt = it->second.dtype;
              if (dt == "i64" || dt == "i32") runtime_values.push_back("'" + in + "'");
            }
            Fail(fmt::format("{}: no static shape for output '{}' (inputs: {}){}{}", NodeLabel(i, n),
                             unknown.front(), fmt::join(ins, ", "),
                             runtime_values.empty()
                                 ? ""
                                 : fmt::format("; it depends on the values of {}, which are not "
                                               "constant once the inputs are fixed",
                                               fmt::join(runtime_values, ", ")),
                             s.check_error.empty()
                                 ? ""
                                 : fmt::format("; the ONNX checker refuses the node: {}",
                                               s.check_error)));
          }
          for (const auto& o : unknown) tainted.insert(o);
          const std::string what = fmt::format("output shape unknown ({})", fmt::join(unknown, ", "));
          node.note = node.note.empty() ? what : node.note + "; " + what;
        }
        if (s.control_flow) {
          const std::string what = "control flow: kept opaque, placed on the cpu in a plain layout";
          node.note = node.note.empty() ? what : what + "; " + node.note;
          out.notes.push_back(fmt::format("{}: {}", NodeLabel(i, n), node.note));
        } else if (!s.known) {
          const std::string what = fmt::format(
              "unknown operator{}: kept, placed on the cpu in a plain layout",
              IsDefaultDomain(n.domain()) ? "" : fmt::format(" (domain {})", n.domain()));
          node.note = node.note.empty() ? what : what + "; " + node.note;
          out.notes.push_back(fmt::format("{}: {}", NodeLabel(i, n), node.note));
        } else if (!unknown.empty()) {
          out.notes.push_back(fmt::format("{}: {}", NodeLabel(i, n), node.note));
        }
      }
      // Cost figures: from the problem when there is one, else the op table's rule.
      if (node.problem) {
        node.flops = node.problem->Flops();
        node.bytes = node.problem->Bytes(4);
      } else {
        double in_elems = 0, out_elems = 0;
        for (const auto& in : n.input()) {
          auto it = out.tensors.find(in);
          if (!in.empty() && it != out.tensors.end() && it->second.shape_known)
            in_elems += static_cast<double>(it->second.Elems());
        }
        for (const auto& o : n.output()) {
          auto it = out.tensors.find(o);
          if (!o.empty() && it != out.tensors.end() && it->second.shape_known)
            out_elems += static_cast<double>(it->second.Elems());
        }
        WorkOf(FindOp(n.op_type(), n.domain()), in_elems, out_elems, &node.flops, &node.bytes);
      }
      out.nodes.push_back(std::move(node));
    }
    if (folded > 0) {
      std::vector<std::string> parts;
      for (const auto& [op, c] : folded_ops) parts.push_back(fmt::format("{} {}", c, op));
      notes_.push_back(fmt::format("folded {} nodes on constants into values ({})", folded,
                                   fmt::join(parts, ", ")));
    }
    out.notes.insert(out.notes.begin(), notes_.begin(), notes_.end());
    return out;
  }

  std::string path_;
  const InputShapes& fixed_;
  onnx::ModelProto model_;
  int64_t opset_ = 0;
  std::map<std::string, int64_t> domain_opsets_;
  ValMap vals_;
  std::unordered_set<std::string> initializers_;
  std::map<std::string, std::pair<std::vector<int64_t>, int32_t>> declared_;
  std::vector<std::string> inputs_, outputs_, notes_;
  std::vector<NodeState> states_;
  bool inference_failed_ = false;
};

}  // namespace

Graph ImportOnnx(const std::string& path, const InputShapes& inputs) {
  try {
    return Importer(path, inputs).Run();
  } catch (const std::exception& e) {
    // Every failure, ours or a library's, becomes one line naming the file.
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw std::runtime_error(fmt::format("model '{}': {}", path, what));
  }
}

}  // namespace layoutdb::selector
