// The executor: a model under a plan, as MNN runs a session. Load() does everything that depends on
// shapes once — imports the model, evaluates its constant sub-graphs, asks each sub-graph's unit to
// prepare its kernels (an anchor with the followers it fuses), inserts the plan's reorders and
// transfers where a consumer needs a tensor in another layout or on another unit, and allocates the
// activation buffers by liveness. Run() only copies the inputs in, runs the steps and copies the
// outputs out.
//
// Where each node runs: the sub-graph's unit, in the sub-graph's layout (nodes before the anchor in its
// input layout, the anchor reading that and writing its output layout, nodes after it in the output
// layout), as the selector costed it. A node the unit's backend cannot run runs on the host (the cpu
// unit, plain order, runtime/host_ops.cpp) and is listed in Notes(). Reshape, Flatten, Squeeze,
// Unsqueeze, Identity and Dropout of a plain tensor are views: no step, the output shares the buffer.
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "backend.h"
#include "host_ops.h"
#include "layoutdb/microbench/placement.h"
#include "layoutdb/problem.h"
#include "layoutdb/runtime.h"
#include "model_file.h"
#include "selector/graph.h"
#include "selector/op_table.h"
#include "tensor_proto.h"

namespace layoutdb {

using runtime::Backend;
using runtime::Execution;
using runtime::NodeView;
using runtime::Value;

namespace {

[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

std::string Canonical(const std::string& layout) { return layout == "plain" ? "nchw" : layout; }

// Views (Reshape, Flatten, ...) and the anchors whose followers a kernel may fuse (oneDNN post-ops,
// OpenCL epilogues) come from the operator table.
using selector::IsViewOp;
using selector::TakesPostOps;

using Clock = std::chrono::steady_clock;
double Us(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// Copies data between backend buffers through the host (a transfer between units).
class UploadExec : public Execution {
 public:
  UploadExec(Backend* to, size_t bytes) : to_(to), bytes_(bytes) {}
  void Run(const std::vector<void*>& in, const std::vector<void*>& out) override {
    to_->Upload(in[0], out[0], bytes_);
  }

 private:
  Backend* to_;
  size_t bytes_;
};

class DownloadExec : public Execution {
 public:
  DownloadExec(Backend* from, size_t bytes) : from_(from), bytes_(bytes) {}
  void Run(const std::vector<void*>& in, const std::vector<void*>& out) override {
    from_->Download(in[0], out[0], bytes_);
  }

 private:
  Backend* from_;
  size_t bytes_;
};

class ZeroExec : public Execution {
 public:
  explicit ZeroExec(std::vector<size_t> bytes) : bytes_(std::move(bytes)) {}
  void Run(const std::vector<void*>&, const std::vector<void*>& out) override {
    for (size_t k = 0; k < out.size(); ++k) std::memset(out[k], 0, bytes_[k]);
  }

 private:
  std::vector<size_t> bytes_;
};

}  // namespace

struct Runtime::Impl {
  std::string model_path;
  onnx::ModelProto model;
  int64_t opset = 0;
  selector::Graph graph;
  Plan plan;
  std::vector<std::unique_ptr<Backend>> backends;  // [0] is the cpu
  std::map<std::string, int> unit_index;
  std::unordered_map<std::string, Tensor> constants;
  std::vector<std::string> notes;
  std::vector<std::string> warnings;  // of the notes, those Warnings() returns
  std::vector<int> host_nodes;
  std::vector<int> skipped_nodes;
  bool partial = false;
  std::unordered_map<std::string, int> readers;  // tensor -> non-constant nodes reading it (+1 if output)

  // A tensor held by one unit in one layout. f32 values live in buffers of their unit (slots);
  // integer values live on the host, in `host`.
  struct PValue {
    std::string tensor;
    int unit = 0;
    Value v;
    int alias_of = -1;  // a view: shares that value's buffer
    int slot = -1;
    size_t offset = 0;  // in its slot (the cpu's values share one arena; see PlaceCpuValues)
    // Memory outside the runtime's buffers (no slot), at `bound`: a graph input on the cpu, whose
    // kernels read the caller's tensor in place during Run() (bound per run), as an application
    // hands a runtime its frame, instead of a copy into a slot first; and a graph output computed
    // straight into its Outputs() tensor (bound once), instead of copied there after the run.
    bool caller_owned = false;
    void* bound = nullptr;
    int first = -1, last = -1;  // steps that write it first and read it last
    bool host_int = false;
    Tensor host;  // integer values, and the graph's integer inputs
  };
  std::vector<PValue> values;
  std::map<std::tuple<std::string, int, std::string>, int> value_at;  // (tensor, unit, layout)
  std::unordered_map<std::string, std::vector<int>> held;            // tensor -> its values

  enum class Kind { kKernel, kHost };
  struct Step {
    Kind kind = Kind::kKernel;
    int subgraph = -1;       // -1: the graph outputs' conversions
    bool transition = false;  // a reorder or transfer (not the sub-graph's own operators)
    int unit = 0;
    std::unique_ptr<Execution> exec;
    const onnx::NodeProto* host_node = nullptr;
    std::vector<int> ins, outs;  // values; -1 for an omitted input
    std::vector<std::string> in_consts;  // host steps: constant tensor per input ("" when not)
    std::vector<Tensor> staging_in, staging_out;  // host steps: plain copies of f32 values
    std::vector<void*> in_ptrs, out_ptrs;          // kernel steps: buffers, fixed by Allocate()
    std::vector<std::pair<int, int>> caller_ins;   // (index in ins, caller-owned value): rebound per Run
    bool sync_after = true;  // last step of its segment (sub-graph, transition or not, unit)
  };
  std::vector<Step> steps;

  struct Slot {
    int unit = 0;
    size_t bytes = 0;
    void* buffer = nullptr;
  };
  std::vector<Slot> slots;
  int64_t lower_bound_bytes = 0;
  int in_place_sums = 0;  // residual sums that accumulate into their addend's buffer

  std::vector<std::pair<std::string, int>> inputs;  // graph input -> its value
  std::vector<Tensor> input_specs;
  std::vector<int> output_values;                   // per graph output: value, or -1 (constant)
  std::vector<Tensor> outputs;
  std::vector<SubgraphTiming> timings;
  double last_run_us = 0;

  ~Impl() {
    for (auto& s : slots)
      if (s.buffer) backends[s.unit]->Free(s.buffer);
  }

  // ---- values ----
  int Root(int v) const {
    while (values[v].alias_of >= 0) v = values[v].alias_of;
    return v;
  }

  int NewValue(std::string tensor, int unit, Value v) {
    PValue p;
    p.tensor = tensor;
    p.unit = unit;
    p.v = std::move(v);
    p.host_int = p.v.dtype != "f32";
    if (p.host_int) {
      p.host.name = tensor;
      p.host.shape = p.v.shape;
      p.host.dtype = p.v.dtype;
      p.host.Allocate();
    }
    values.push_back(std::move(p));
    const int id = static_cast<int>(values.size()) - 1;
    value_at[{tensor, unit, values[id].v.layout}] = id;
    held[tensor].push_back(id);
    return id;
  }

  Value ValueOf(const std::string& tensor) const {
    auto it = graph.tensors.find(tensor);
    if (it == graph.tensors.end()) Fail(fmt::format("tensor '{}' has no shape", tensor));
    Value v;
    v.shape = it->second.shape;
    v.dtype = it->second.dtype;
    if (v.dtype == "f16" || v.dtype == "f64" || v.dtype == "bf16")
      Fail(fmt::format("{}: tensor '{}' is {}: the runtime computes f32 (and integer) tensors only",
                       model_path, tensor, v.dtype));
    if (v.dtype == "u32" || v.dtype == "u64" || v.dtype == "i16" || v.dtype == "u16") v.dtype = "i64";
    return v;
  }

  int AddStep(Step s) {
    steps.push_back(std::move(s));
    return static_cast<int>(steps.size()) - 1;
  }

  // The value of `tensor` on `unit` in `layout`, converting (reorder on a unit, transfer between
  // units through the host in plain order) from where it is held. Conversions are emitted into
  // sub-graph `sg` as transitions and shared by every later reader.
  int Need(const std::string& tensor, int unit, std::string layout, int sg) {
    layout = Canonical(layout);
    auto it = held.find(tensor);
    if (it == held.end() || it->second.empty())
      Fail(fmt::format("tensor '{}' is read before any step writes it", tensor));
    const int any = it->second.front();
    if (values[any].host_int) return any;  // integers stay on the host
    if (!runtime::LayoutApplies(layout, values[any].v.shape.size())) layout = "nchw";
    auto found = value_at.find({tensor, unit, layout});
    if (found != value_at.end()) return found->second;
    // Prefer a copy on the same unit.
    int src = -1;
    for (int v : it->second)
      if (values[v].unit == unit) src = v;
    if (src >= 0) return Reorder(src, layout, sg);
    // Another unit: to plain there, move, then to the layout here.
    src = it->second.front();
    for (int v : it->second)
      if (values[v].v.layout == "nchw") src = v;
    if (values[src].v.layout != "nchw") src = Reorder(src, "nchw", sg);
    int host = src;
    if (values[src].unit != 0) {  // download to the cpu
      Value v = values[src].v;
      host = NewValue(tensor, 0, v);
      Step s;
      s.subgraph = sg;
      s.transition = true;
      s.unit = values[src].unit;
      s.exec = std::make_unique<DownloadExec>(backends[values[src].unit].get(),
                                              runtime::PhysicalBytes(v));
      s.ins = {src};
      s.outs = {host};
      AddStep(std::move(s));
    }
    int dst = host;
    if (unit != 0) {
      Value v = values[host].v;
      dst = NewValue(tensor, unit, v);
      Step s;
      s.subgraph = sg;
      s.transition = true;
      s.unit = unit;
      s.exec = std::make_unique<UploadExec>(backends[unit].get(), runtime::PhysicalBytes(v));
      s.ins = {host};
      s.outs = {dst};
      AddStep(std::move(s));
    }
    return layout == "nchw" ? dst : Reorder(dst, layout, sg);
  }

  int Reorder(int src, const std::string& layout, int sg) {
    const auto key = std::make_tuple(values[src].tensor, values[src].unit, layout);
    auto found = value_at.find(key);
    if (found != value_at.end()) return found->second;
    Value v = values[src].v;
    v.layout = layout;
    Step s;
    s.subgraph = sg;
    s.transition = true;
    s.unit = values[src].unit;
    s.exec = backends[s.unit]->CreateReorder(values[src].v, layout);
    if (!s.exec)
      Fail(fmt::format("unit {} cannot reorder tensor '{}' from {} to {}", backends[s.unit]->Unit(),
                       values[src].tensor, values[src].v.layout, layout));
    const std::string tensor = values[src].tensor;  // NewValue may move `values`
    const int dst = NewValue(tensor, s.unit, v);
    s.ins = {src};
    s.outs = {dst};
    AddStep(std::move(s));
    return dst;
  }

  // ---- load ----
  void LoadConstants() {
    for (const auto& init : model.graph().initializer())
      constants[init.name()] =
          runtime::FromProto(init, fmt::format("{}: initializer '{}'", model_path, init.name()));
    // Constant nodes and the shape computations the importer folded, in node order (topological).
    for (const selector::Node& n : graph.nodes) {
      if (!n.is_constant) continue;
      const onnx::NodeProto& proto = model.graph().node(n.index);
      std::vector<Tensor> shape_only;  // Shape / Size of an activation read only its shape
      shape_only.reserve(proto.input_size());
      std::vector<const Tensor*> ins;
      for (const auto& name : proto.input()) {
        if (name.empty()) {
          ins.push_back(nullptr);
          continue;
        }
        auto c = constants.find(name);
        if (c != constants.end()) {
          ins.push_back(&c->second);
          continue;
        }
        Tensor t;
        t.name = name;
        auto info = graph.tensors.find(name);
        if (info != graph.tensors.end()) {
          t.shape = info->second.shape;
          t.dtype = info->second.dtype == "f32" ? "f32" : "i64";
        }
        t.Allocate();  // host ops check their inputs' sizes; the values are not read
        shape_only.push_back(std::move(t));
        ins.push_back(&shape_only.back());
      }
      std::vector<Tensor> outs(proto.output_size());
      std::vector<Tensor*> out_ptrs;
      for (int k = 0; k < proto.output_size(); ++k) {
        outs[k].name = proto.output(k);
        auto info = graph.tensors.find(proto.output(k));
        if (info != graph.tensors.end()) {
          outs[k].shape = info->second.shape;
          outs[k].dtype = info->second.dtype == "f32" ? "f32" : "i64";
        }
        outs[k].Allocate();
        out_ptrs.push_back(&outs[k]);
      }
      try {
        runtime::RunHostOp(proto, opset, ins, out_ptrs);
      } catch (const std::exception& e) {
        Fail(fmt::format("{}: node {} ({} '{}'), a constant computation: {}", model_path, n.index,
                         n.op_type, n.name, e.what()));
      }
      for (auto& t : outs) constants[t.name] = std::move(t);
    }
  }

  NodeView ViewOf(int node_index) const {
    NodeView v;
    v.proto = &model.graph().node(node_index);
    v.index = node_index;
    v.opset = opset;
    for (const auto& name : v.proto->input()) {
      if (name.empty()) {
        Value none;
        none.dtype = "";
        v.inputs.push_back(none);
        v.constants.push_back(nullptr);
        continue;
      }
      v.inputs.push_back(ValueOf(name));
      auto c = constants.find(name);
      v.constants.push_back(c == constants.end() ? nullptr : &c->second);
    }
    for (const auto& name : v.proto->output()) {
      if (name.empty()) {  // an optional output nobody asked for
        Value none;
        none.dtype = "";
        v.outputs.push_back(none);
        continue;
      }
      v.outputs.push_back(ValueOf(name));
    }
    return v;
  }

  bool AllF32(const NodeView& v) const {
    for (size_t k = 0; k < v.inputs.size(); ++k)
      if (!v.constants[k] && !v.inputs[k].dtype.empty() && v.inputs[k].dtype != "f32") return false;
    for (const auto& o : v.outputs)
      if (!o.dtype.empty() && o.dtype != "f32") return false;
    return true;
  }

  // A host step: inputs converted to the cpu in plain order.
  void AddHostStep(int node_index, int sg) {
    const onnx::NodeProto& proto = model.graph().node(node_index);
    Step s;
    s.kind = Kind::kHost;
    s.subgraph = sg;
    s.unit = 0;
    s.host_node = &proto;
    for (const auto& name : proto.input()) {
      if (name.empty() || constants.count(name)) {
        s.ins.push_back(-1);
        s.in_consts.push_back(name);
        continue;
      }
      s.ins.push_back(Need(name, 0, "nchw", sg));
      s.in_consts.push_back("");
    }
    for (const auto& name : proto.output()) {
      if (name.empty()) {
        s.outs.push_back(-1);
        continue;
      }
      s.outs.push_back(NewValue(name, 0, ValueOf(name)));
    }
    // Staging tensors for f32 values (host ops read and write std::vector storage).
    for (int v : s.ins) {
      Tensor t;
      if (v >= 0 && !values[v].host_int) {
        t.shape = values[v].v.shape;
        t.dtype = "f32";
        t.Allocate();
      }
      s.staging_in.push_back(std::move(t));
    }
    for (int v : s.outs) {
      Tensor t;
      if (v >= 0 && !values[v].host_int) {
        t.shape = values[v].v.shape;
        t.dtype = "f32";
        t.Allocate();
      }
      s.staging_out.push_back(std::move(t));
    }
    AddStep(std::move(s));
  }

  // --partial: a node nobody can run writes zeros, untimed, so that what follows still runs.
  void AddZeroStep(int node_index, int sg) {
    const onnx::NodeProto& proto = model.graph().node(node_index);
    Step s;
    s.subgraph = -1;  // not part of any sub-graph's measured time
    s.unit = 0;
    std::vector<size_t> bytes;
    for (const auto& name : proto.output()) {
      if (name.empty()) continue;
      const int v = NewValue(name, 0, ValueOf(name));
      if (values[v].host_int) continue;  // allocated as zeros, never written
      s.outs.push_back(v);
      bytes.push_back(runtime::PhysicalBytes(values[v].v));
    }
    s.exec = std::make_unique<ZeroExec>(std::move(bytes));
    AddStep(std::move(s));
  }

  // A view: the output shares the (plain) input's buffer.
  bool TryView(int node_index, int sg, int unit) {
    const onnx::NodeProto& proto = model.graph().node(node_index);
    if (!IsViewOp(proto.op_type()) || proto.input_size() < 1 || proto.output_size() < 1) return false;
    if (proto.op_type() == "Dropout") {  // a view only at inference: no mask, no training_mode
      if (proto.output_size() > 1 && !proto.output(1).empty()) return false;
      if (proto.input_size() > 2 && !proto.input(2).empty()) {
        auto t = constants.find(proto.input(2));
        if (t == constants.end() || t->second.i64.empty() || t->second.i64[0] != 0) return false;
      }
    }
    const std::string& in = proto.input(0);
    if (constants.count(in)) return false;
    auto it = held.find(in);
    if (it == held.end() || it->second.empty() || values[it->second.front()].host_int) return false;
    const int src = Need(in, unit, "nchw", sg);
    Value v = ValueOf(proto.output(0));
    if (v.Elems() != values[src].v.Elems()) return false;
    const int dst = NewValue(proto.output(0), unit, v);
    values[dst].alias_of = src;
    return true;
  }

  void BuildSubgraph(int sg, const PlanSubgraph& ps) {
    auto ui = unit_index.find(ps.unit);
    if (ui == unit_index.end())
      Fail(fmt::format("plan sub-graph {}: unit '{}' does not exist on this machine (units here: {})",
                       sg, ps.unit, fmt::join(UnitNames(), ", ")));
    const int unit = ui->second;
    Backend& be = *backends[unit];
    std::string in_layout = Canonical(ps.layout), out_layout = in_layout;
    if (auto gt = ps.layout.find('>'); gt != std::string::npos) {
      in_layout = Canonical(ps.layout.substr(0, gt));
      out_layout = Canonical(ps.layout.substr(gt + 1));
    }
    int anchor_pos = -1;
    for (size_t k = 0; k < ps.nodes.size(); ++k)
      if (selector::IsAnchorOp(model.graph().node(ps.nodes[k]).op_type())) {
        anchor_pos = static_cast<int>(k);
        break;
      }
    std::string current = in_layout;  // the layout nodes compute in at this point
    for (size_t k = 0; k < ps.nodes.size();) {
      const int idx = ps.nodes[k];
      const bool is_anchor = static_cast<int>(k) == anchor_pos;
      if (anchor_pos >= 0 && static_cast<int>(k) > anchor_pos) current = out_layout;
      if (TryView(idx, sg, unit)) {
        ++k;
        continue;
      }
      std::vector<NodeView> chain{ViewOf(idx)};
      if (is_anchor && TakesPostOps(chain[0].proto->op_type())) {
        // Followers in the sub-graph that read the previous node's output.
        for (size_t j = k + 1; j < ps.nodes.size(); ++j) {
          NodeView f = ViewOf(ps.nodes[j]);
          const std::string& prev = chain.back().proto->output(0);
          bool reads = false;
          for (const auto& in : f.proto->input()) reads = reads || in == prev;
          // The follower must be the only reader of that output (a graph output also reads it).
          if (!reads || chain.back().proto->output_size() != 1 || readers[prev] != 1) break;
          chain.push_back(std::move(f));
        }
      }
      runtime::Created c;
      std::string in_l = current;
      std::string out_l = is_anchor ? out_layout : current;
      const std::string& op = chain[0].proto->op_type();
      const selector::Kernel kernel = selector::KernelOf(op);
      if (in_layout == "any" && kernel != selector::Kernel::kConv &&
          kernel != selector::Kernel::kConvTranspose) {
        // oneDNN's own choices: a convolution picks its layouts, every other op follows its input.
        in_l = out_l = "nchw";
        for (const auto& in : chain[0].proto->input()) {
          auto h = held.find(in);
          if (h == held.end() || h->second.empty() || values[h->second.back()].host_int) continue;
          in_l = out_l = values[h->second.back()].v.layout;
          break;
        }
      }
      if (AllF32(chain[0])) c = be.Create(chain, in_l, out_l);
      if (!c.exec) {
        if (!runtime::HostSupports(chain[0].proto->op_type()) && partial) {
          notes.push_back(fmt::format("sub-graph {}: {} is left out (--partial): its outputs are zeros",
                                      sg, chain[0].Label()));
          AddZeroStep(idx, sg);
          skipped_nodes.push_back(idx);
          ++k;
          continue;
        }
        if (!runtime::HostSupports(chain[0].proto->op_type()))
          Fail(fmt::format("{}: {}: the runtime cannot execute this operator{}", model_path,
                           chain[0].Label(), c.why_not.empty() ? "" : " (" + c.why_not + ")"));
        notes.push_back(fmt::format("sub-graph {}: {} runs on the host (plain){}", sg, chain[0].Label(),
                                    c.why_not.empty() ? "" : ": " + c.why_not));
        AddHostStep(idx, sg);
        host_nodes.push_back(idx);
        ++k;
        continue;
      }
      if (c.impl.rfind("ref", 0) == 0) {  // oneDNN's reference loop: often 100-1000x slower, said
        notes.push_back(fmt::format("sub-graph {}: {} {}runs oneDNN's reference kernel ({})", sg, chain[0].Label(),
                                    c.fused > 0 ? fmt::format("fuses {} follower{} and ", c.fused, c.fused == 1 ? "" : "s")
                                                : "",
                                    c.impl));
        warnings.push_back(notes.back());
      } else if (c.fused > 0) {
        notes.push_back(fmt::format("sub-graph {}: {} fuses {} follower{} ({})", sg, chain[0].Label(),
                                    c.fused, c.fused == 1 ? "" : "s", c.impl));
      }
      Step s;
      s.subgraph = sg;
      s.unit = unit;
      for (const auto& r : c.reads) {
        const NodeView& nv = chain[r.node];
        s.ins.push_back(Need(nv.proto->input(r.input), unit, r.layout, sg));
      }
      const NodeView& last = chain[c.fused];
      for (size_t o = 0; o < last.outputs.size(); ++o) {
        Value v = last.outputs[o];
        v.layout = o < c.out_layouts.size() ? Canonical(c.out_layouts[o]) : "nchw";
        if (last.proto->output(o).empty()) {
          s.outs.push_back(-1);
          continue;
        }
        s.outs.push_back(NewValue(last.proto->output(o), unit, v));
      }
      if (is_anchor && !c.out_layouts.empty() && last.outputs[0].shape.size() == 4)
        current = Canonical(c.out_layouts[0]);  // `any`: the layout oneDNN chose
      if (is_anchor) out_layout = current;
      s.exec = std::move(c.exec);
      AddStep(std::move(s));
      k += 1 + c.fused;
    }
  }

  std::vector<std::string> UnitNames() const {
    std::vector<std::string> v;
    for (const auto& b : backends) v.push_back(b->Unit());
    return v;
  }

  void Allocate() {
    // Lifetimes of the root (non-view) values.
    const int n = static_cast<int>(steps.size());
    auto touch = [&](int v, int step) {
      if (v < 0) return;
      PValue& r = values[Root(v)];
      if (r.first < 0 || step < r.first) r.first = step;
      r.last = std::max(r.last, step);
    };
    for (const auto& [name, v] : inputs) touch(v, 0);
    for (int i = 0; i < n; ++i) {
      for (int v : steps[i].ins) touch(v, i);
      for (int v : steps[i].outs) touch(v, i);
    }
    for (int v : output_values) touch(v, n);
    // A kernel that accumulates an input into its output (a residual sum) writes into that input's
    // buffer when the input is read last there, as an application runs it: no copy per run.
    std::vector<int> in_place(values.size(), -1);  // output value -> the input value whose slot it takes
    std::vector<bool> handed_over(values.size(), false);
    for (int i = 0; i < n; ++i) {
      const Step& s = steps[i];
      const int k = s.exec ? s.exec->AccumulatesInput() : -1;
      if (k < 0 || k >= static_cast<int>(s.ins.size()) || s.outs.empty() || s.ins[k] < 0 || s.outs[0] < 0)
        continue;
      const int r = Root(s.ins[k]), o = s.outs[0];
      const PValue& in = values[r];
      if (in.host_int || in.last != i || in.unit != values[o].unit || values[o].alias_of >= 0 ||
          values[o].first != i || runtime::PhysicalBytes(in.v) != runtime::PhysicalBytes(values[o].v))
        continue;
      if (in.caller_owned) continue;  // a graph input: the caller's tensor, read only
      bool read_twice = false;
      for (size_t j = 0; j < s.ins.size(); ++j)
        read_twice = read_twice || (static_cast<int>(j) != k && s.ins[j] >= 0 && Root(s.ins[j]) == r);
      if (read_twice) continue;  // also the kernel's source: it must not be overwritten while read
      in_place[o] = r;
      ++in_place_sums;
    }
    // Each graph output the cpu holds in plain order is computed into its Outputs() tensor: not one
    // a residual sum accumulates in place (it stays in its addend's buffer), not the second output of
    // a tensor named twice, not a graph input passed through (the caller's).
    for (size_t k = 0; k < outputs.size(); ++k) {
      if (output_values[k] < 0) continue;
      const int r = Root(output_values[k]);
      PValue& p = values[r];
      if (p.unit != 0 || p.host_int || p.caller_owned || in_place[r] >= 0 || p.v.layout != "nchw" ||
          runtime::PhysicalBytes(p.v) != outputs[k].f32.size() * 4)
        continue;
      p.caller_owned = true;
      p.bound = outputs[k].f32.data();
    }
    PlaceCpuValues(in_place);
    // The cpu's values go to one arena (PlaceCpuValues); another unit's, a buffer each, by greedy best
    // fit in step order: outputs are placed before the step's inputs are released, so no kernel reads
    // and writes one buffer. Both count the liveness lower bound below.
    std::vector<std::vector<int>> starting(n + 1), ending(n + 1);
    for (size_t v = 0; v < values.size(); ++v) {
      const PValue& p = values[v];
      if (p.alias_of >= 0 || p.host_int || p.first < 0 || p.caller_owned) continue;
      starting[p.first].push_back(static_cast<int>(v));
      ending[p.last].push_back(static_cast<int>(v));
    }
    std::vector<int> free_slots;
    int64_t live = 0;
    for (int i = 0; i <= n; ++i) {
      for (int v : starting[i]) {
        PValue& p = values[v];
        const size_t bytes = runtime::PhysicalBytes(p.v);
        if (p.unit == 0) {  // placed above
          if (in_place[v] >= 0) handed_over[in_place[v]] = true;
          else live += static_cast<int64_t>(bytes);
          continue;
        }
        if (in_place[v] >= 0) {
          p.slot = values[in_place[v]].slot;
          handed_over[in_place[v]] = true;  // its bytes stay live, now as this value's
          continue;
        }
        int best = -1;
        for (size_t f = 0; f < free_slots.size(); ++f) {
          const Slot& s = slots[free_slots[f]];
          if (s.unit != p.unit || s.bytes < bytes) continue;
          if (best < 0 || s.bytes < slots[free_slots[best]].bytes) best = static_cast<int>(f);
        }
        if (best >= 0) {
          p.slot = free_slots[best];
          free_slots.erase(free_slots.begin() + best);
        } else {
          slots.push_back({p.unit, bytes, nullptr});
          p.slot = static_cast<int>(slots.size()) - 1;
        }
        live += static_cast<int64_t>(bytes);
      }
      lower_bound_bytes = std::max(lower_bound_bytes, live);
      for (int v : ending[i]) {
        if (handed_over[v]) continue;
        if (values[v].unit != 0) free_slots.push_back(values[v].slot);
        live -= static_cast<int64_t>(runtime::PhysicalBytes(values[v].v));
      }
    }
    for (auto& s : slots) s.buffer = backends[s.unit]->Alloc(std::max<size_t>(s.bytes, 64));
    for (int i = 0; i < n; ++i) {
      Step& s = steps[i];
      for (size_t k = 0; k < s.ins.size(); ++k) {
        s.in_ptrs.push_back(Buffer(s.ins[k]));
        if (s.ins[k] >= 0 && values[Root(s.ins[k])].caller_owned)
          s.caller_ins.push_back({static_cast<int>(k), Root(s.ins[k])});
      }
      for (int v : s.outs) s.out_ptrs.push_back(Buffer(v));
      const Step* next = i + 1 < n ? &steps[i + 1] : nullptr;
      s.sync_after = !next || next->subgraph != s.subgraph || next->transition != s.transition ||
                     next->unit != s.unit;
    }
  }

  // The cpu's values, at offsets in one arena (one slot), by TensorFlow Lite's greedy-by-size plan:
  // largest first, each at the lowest offset clear of every value placed so far whose lifetime
  // overlaps its own. A slot per value reused whole by later ones (what the other units keep) left a
  // Paddle detector's 640x640 first layers' buffers idle under small tensors: 46.7 MiB allocated for
  // a 19.5 MiB liveness bound. A value ending at a step never shares bytes with one starting there
  // (no kernel reads and writes one buffer), but a residual sum accumulated in place (`in_place`:
  // output -> addend) takes its addend's bytes. Offsets are staggered like the sweep's buffers
  // (microbench::BufferPlacement): no two tensors start at one offset within a 4 KiB page.
  void PlaceCpuValues(const std::vector<int>& in_place) {
    struct Block {
      int first = 0, last = 0;
      size_t bytes = 0, offset = 0;
      std::vector<int> members;
    };
    std::vector<Block> blocks;
    std::vector<int> block_of(values.size(), -1);
    for (size_t v = 0; v < values.size(); ++v) {
      const PValue& p = values[v];
      if (p.alias_of >= 0 || p.host_int || p.first < 0 || p.caller_owned || p.unit != 0 ||
          in_place[v] >= 0)
        continue;
      block_of[v] = static_cast<int>(blocks.size());
      blocks.push_back({p.first, p.last, runtime::PhysicalBytes(p.v), 0, {static_cast<int>(v)}});
    }
    // An in-place output joins its addend's block (in step order, so a chain of sums joins the first).
    for (size_t v = 0; v < values.size(); ++v) {
      if (in_place[v] < 0 || values[v].unit != 0) continue;
      const int b = block_of[in_place[v]];
      if (b < 0) Fail(fmt::format("tensor '{}' accumulates in place into a buffer not on the cpu",
                                  values[v].tensor));
      block_of[v] = b;
      Block& blk = blocks[b];
      blk.last = std::max(blk.last, values[v].last);
      blk.bytes = std::max(blk.bytes, runtime::PhysicalBytes(values[v].v));
      blk.members.push_back(static_cast<int>(v));
    }
    std::vector<int> order(blocks.size());
    for (size_t b = 0; b < blocks.size(); ++b) order[b] = static_cast<int>(b);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return blocks[a].bytes > blocks[b].bytes; });
    constexpr size_t kPage = microbench::BufferPlacement::kPage;
    constexpr size_t kStagger = microbench::BufferPlacement::kStaggerBytes;
    std::vector<int> placed;
    size_t arena = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      Block& blk = blocks[order[k]];
      const size_t residue = (k * kStagger) % kPage;
      auto at_or_after = [&](size_t x) {  // the first offset >= x at this block's place in a page
        const size_t base = x / kPage * kPage + residue;
        return base >= x ? base : base + kPage;
      };
      std::vector<const Block*> overlapping;
      for (int o : placed)
        if (blocks[o].first <= blk.last && blk.first <= blocks[o].last) overlapping.push_back(&blocks[o]);
      std::sort(overlapping.begin(), overlapping.end(),
                [](const Block* a, const Block* b) { return a->offset < b->offset; });
      size_t offset = at_or_after(0);
      for (const Block* o : overlapping) {
        if (offset + blk.bytes <= o->offset) break;
        offset = std::max(offset, at_or_after(o->offset + o->bytes));
      }
      blk.offset = offset;
      arena = std::max(arena, offset + blk.bytes);
      placed.push_back(order[k]);
    }
    if (blocks.empty()) return;
    slots.push_back({0, arena, nullptr});
    for (const Block& blk : blocks)
      for (int v : blk.members) {
        values[v].slot = static_cast<int>(slots.size()) - 1;
        values[v].offset = blk.offset;
      }
  }

  void* Buffer(int v) const {
    if (v < 0) return nullptr;
    const PValue& r = values[Root(v)];
    if (r.host_int) return const_cast<int64_t*>(r.host.i64.data());
    if (r.caller_owned) return r.bound;
    return static_cast<unsigned char*>(slots[r.slot].buffer) + r.offset;
  }

  void RunHost(Step& s) {
    std::vector<const Tensor*> ins;
    for (size_t k = 0; k < s.ins.size(); ++k) {
      const int v = s.ins[k];
      if (v < 0) {
        ins.push_back(s.in_consts[k].empty() ? nullptr : &constants.at(s.in_consts[k]));
        continue;
      }
      const PValue& r = values[Root(v)];
      if (r.host_int) {
        ins.push_back(&r.host);
        continue;
      }
      Tensor& t = s.staging_in[k];
      std::memcpy(t.f32.data(), Buffer(v), t.f32.size() * 4);
      ins.push_back(&t);
    }
    std::vector<Tensor*> outs;
    for (size_t k = 0; k < s.outs.size(); ++k) {
      const int v = s.outs[k];
      if (v < 0) {
        outs.push_back(nullptr);
        continue;
      }
      PValue& r = values[Root(v)];
      outs.push_back(r.host_int ? &r.host : &s.staging_out[k]);
    }
    runtime::RunHostOp(*s.host_node, opset, ins, outs);
    for (size_t k = 0; k < s.outs.size(); ++k) {
      const int v = s.outs[k];
      if (v < 0 || values[Root(v)].host_int) continue;
      std::memcpy(Buffer(v), s.staging_out[k].f32.data(), s.staging_out[k].f32.size() * 4);
    }
  }
};

// ---- Runtime ----

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Runtime::Runtime(Runtime&&) noexcept = default;
Runtime& Runtime::operator=(Runtime&&) noexcept = default;
Runtime::~Runtime() = default;

Runtime Runtime::Load(const std::string& model_path, const Plan& plan, const RuntimeOptions& options) {
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.model_path = model_path;
  m.plan = plan;
  if (plan.dtype == "int8")
    Fail(fmt::format("plan for {} is int8: quantized execution is not supported yet (the runtime "
                     "executes f32 plans)",
                     model_path));
  if (plan.dtype == "bf16")
    Fail(fmt::format("plan for {} is bf16: bf16 execution is not supported yet (the runtime "
                     "executes f32 plans)",
                     model_path));
  m.partial = options.partial;
  m.model = runtime::ReadModelFile(model_path);
  if (!plan.model_hash.empty()) {
    const std::string hash = ModelHash(model_path);
    if (hash != plan.model_hash)
      Fail(fmt::format("plan was made for another model: its model hash is {} ({}), {} hashes to {}",
                       plan.model_hash, plan.model, model_path, hash));
  }
  for (const auto& op : m.model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") m.opset = op.version();
  m.graph = selector::ImportOnnx(model_path, options.inputs);
  if (m.graph.nodes.size() != static_cast<size_t>(m.model.graph().node_size()))
    Fail(fmt::format("{}: the importer saw {} nodes, the file has {}", model_path, m.graph.nodes.size(),
                     m.model.graph().node_size()));
  // Every non-constant node exactly once in the plan.
  std::vector<int> seen(m.graph.nodes.size(), 0);
  for (const auto& ps : plan.subgraphs)
    for (int idx : ps.nodes) {
      if (idx < 0 || idx >= static_cast<int>(seen.size()))
        Fail(fmt::format("plan for another model (or from a layoutdb that imported it otherwise: select "
                         "again): sub-graph {} names node {}, {} has {} nodes",
                         ps.index, idx, model_path, seen.size()));
      ++seen[idx];
    }
  for (const auto& n : m.graph.nodes) {
    if (n.is_constant) continue;
    if (seen[n.index] != 1)
      Fail(fmt::format("plan for another model (or from a layoutdb that imported it otherwise: select "
                       "again): node {} ({} '{}') of {} appears {} times in the plan",
                       n.index, n.op_type, n.name, model_path, seen[n.index]));
    if (n.domain != "" && n.domain != "ai.onnx")
      Fail(fmt::format("{}: node {} ({} '{}'): operators of domain '{}' are not supported", model_path,
                       n.index, n.op_type, n.name, n.domain));
  }
  // Units: the cpu, and each OpenCL unit the plan names.
  m.backends.push_back(runtime::MakeCpuBackend());
  m.unit_index["cpu"] = 0;
  for (const auto& ps : plan.subgraphs) {
    if (m.unit_index.count(ps.unit)) continue;
    if (ps.unit.rfind("ocl:", 0) != 0)
      Fail(fmt::format("plan sub-graph {}: unit '{}' does not exist on this machine", ps.index,
                       ps.unit));
    m.backends.push_back(runtime::MakeOclBackend(ps.unit));
    m.unit_index[ps.unit] = static_cast<int>(m.backends.size()) - 1;
  }
  m.LoadConstants();
  for (const auto& n : m.graph.nodes) {
    if (n.is_constant) continue;
    std::set<std::string> once(n.inputs.begin(), n.inputs.end());
    for (const auto& t : once) ++m.readers[t];
  }
  for (const auto& t : m.graph.outputs) ++m.readers[t];
  // Graph inputs on the cpu, plain.
  for (const auto& name : m.graph.inputs) {
    if (m.constants.count(name)) continue;
    Value v = m.ValueOf(name);
    const int id = m.NewValue(name, 0, v);
    m.values[id].caller_owned = !m.values[id].host_int;
    m.inputs.push_back({name, id});
    Tensor spec;
    spec.name = name;
    spec.shape = v.shape;
    spec.dtype = v.dtype;
    m.input_specs.push_back(spec);
  }
  for (size_t s = 0; s < plan.subgraphs.size(); ++s) m.BuildSubgraph(static_cast<int>(s), plan.subgraphs[s]);
  for (const auto& name : m.graph.outputs) {
    Tensor t;
    t.name = name;
    auto c = m.constants.find(name);
    if (c != m.constants.end()) {
      m.output_values.push_back(-1);
      m.outputs.push_back(c->second);
      continue;
    }
    const int v = m.Need(name, 0, "nchw", -1);
    m.output_values.push_back(v);
    t.shape = m.values[v].v.shape;
    t.dtype = m.values[v].v.dtype;
    t.Allocate();
    m.outputs.push_back(std::move(t));
  }
  m.Allocate();
  if (m.in_place_sums > 0)
    m.notes.push_back(fmt::format("{} residual sum{} accumulate{} into the addend's buffer in place",
                                  m.in_place_sums, m.in_place_sums == 1 ? "" : "s",
                                  m.in_place_sums == 1 ? "s" : ""));
  for (const auto& ps : plan.subgraphs) {
    SubgraphTiming t;
    t.index = ps.index;
    t.unit = ps.unit;
    t.layout = ps.layout;
    m.timings.push_back(t);
  }
  return Runtime(std::move(impl));
}

std::vector<Tensor> Runtime::InputSpecs() const { return impl_->input_specs; }

void Runtime::Run(const std::vector<Tensor>& inputs) {
  Impl& m = *impl_;
  const auto t0 = Clock::now();
  for (const auto& [name, v] : m.inputs) {
    const Tensor* given = nullptr;
    for (const auto& t : inputs)
      if (t.name == name) given = &t;
    if (!given) Fail(fmt::format("input '{}' is missing", name));
    Impl::PValue& p = m.values[v];
    if (given->shape != p.v.shape)
      Fail(fmt::format("input '{}': shape [{}] given, the model (with --input) expects [{}]", name,
                       fmt::join(given->shape, ","), fmt::join(p.v.shape, ",")));
    const bool want_float = p.v.dtype == "f32";
    if (given->IsFloat() != want_float)
      Fail(fmt::format("input '{}': dtype {} given, the model expects {}", name, given->dtype,
                       p.v.dtype));
    const size_t elems = static_cast<size_t>(given->Elems());
    if ((p.host_int ? given->i64.size() : given->f32.size()) != elems)
      Fail(fmt::format("input '{}': {} values given for shape [{}] ({})", name,
                       p.host_int ? given->i64.size() : given->f32.size(), fmt::join(p.v.shape, ","),
                       elems));
    if (p.host_int) p.host.i64 = given->i64;
    else p.bound = const_cast<float*>(given->f32.data());  // read only: no kernel writes an input
  }
  // Released however Run() ends: the caller's tensors are only borrowed for the run.
  struct Unbind {
    Impl& m;
    ~Unbind() {
      for (const auto& [name, v] : m.inputs) m.values[v].bound = nullptr;
    }
  } unbind{m};
  for (auto& s : m.steps)
    for (const auto& [k, r] : s.caller_ins) s.in_ptrs[k] = m.values[r].bound;
  for (auto& t : m.timings) t.us = t.kernel_us = t.transition_us = 0;
  // Steps of one segment (a sub-graph's transitions, or its kernels, on one unit) are enqueued back
  // to back; the segment waits for its unit once at its end and is timed as a whole.
  Clock::time_point segment = Clock::now();
  for (auto& s : m.steps) {
    if (s.kind == Impl::Kind::kHost) m.RunHost(s);
    else s.exec->Run(s.in_ptrs, s.out_ptrs);
    if (!s.sync_after) continue;
    if (s.unit != 0) m.backends[s.unit]->Finish();
    const Clock::time_point now = Clock::now();
    if (s.subgraph >= 0) {
      SubgraphTiming& t = m.timings[s.subgraph];
      const double us = Us(segment, now);
      (s.transition ? t.transition_us : t.kernel_us) += us;
      t.us += us;
    }
    segment = now;
  }
  for (size_t k = 0; k < m.outputs.size(); ++k) {
    const int v = m.output_values[k];
    if (v < 0) continue;
    const Impl::PValue& r = m.values[m.Root(v)];
    if (r.host_int) m.outputs[k].i64 = r.host.i64;
    else if (m.Buffer(v) != m.outputs[k].f32.data())
      std::memcpy(m.outputs[k].f32.data(), m.Buffer(v), m.outputs[k].f32.size() * 4);
  }
  m.last_run_us = Us(t0, Clock::now());
}

const std::vector<Tensor>& Runtime::Outputs() const { return impl_->outputs; }
const std::vector<SubgraphTiming>& Runtime::SubgraphUs() const { return impl_->timings; }
double Runtime::LastRunUs() const { return impl_->last_run_us; }
const std::vector<std::string>& Runtime::Notes() const { return impl_->notes; }
const std::vector<std::string>& Runtime::Warnings() const { return impl_->warnings; }
const std::vector<int>& Runtime::HostNodes() const { return impl_->host_nodes; }
const std::vector<int>& Runtime::SkippedNodes() const { return impl_->skipped_nodes; }

int64_t Runtime::PeakActivationBytes() const {
  int64_t total = 0;
  for (const auto& s : impl_->slots) total += static_cast<int64_t>(s.bytes);
  return total;
}
int64_t Runtime::LivenessLowerBoundBytes() const { return impl_->lower_bound_bytes; }

}  // namespace layoutdb
