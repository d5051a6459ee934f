// The library's public face: Selector (C++), the plain C API, and the plan's JSON and table forms.
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "cost.h"
#include "graph.h"
#include "op_table.h"
#include "layoutdb/selector.h"
#include "layoutdb/selector_c.h"
#include "plan.h"

namespace layoutdb {

struct Selector::Impl {
  std::string db_path;
  selector::CostModel cost;
};

namespace {

// The ONNX op type of a problem given without one (op_table: the first row of its family and alg).
std::string OpTypeOf(const Problem& p) {
  const std::string_view op = selector::OnnxOpOf(p.op(), p.alg());
  return op.empty() ? p.op() : std::string(op);
}

std::vector<int64_t> OutputShapeOf(const Problem& p) {
  const std::string& op = p.op();
  if (op == "conv2d") return {p.Get("mb"), p.Get("oc"), p.Oh(), p.Ow()};
  if (op == "pool") return {p.Get("mb"), p.Get("ic"), p.Oh(), p.Ow()};
  if (op == "matmul") return {p.Get("mb"), p.Get("m"), p.Get("n")};
  if (op == "ip") return {p.Get("mb"), p.Get("oc")};
  if (op == "lnorm") return {p.Get("mb"), p.Get("t"), p.Get("c")};
  if (op == "deconv") return {p.Get("mb"), p.Get("oc"), p.Oh(), p.Ow()};
  if (op == "resample" || op == "pad") return {p.Get("mb"), p.Get("c"), p.Oh(), p.Ow()};
  if (op == "slice" || op == "reduce") return {p.Get("mb"), p.Get("oc"), p.Oh(), p.Ow()};
  if (op == "transpose") {
    const int64_t in[4] = {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
    std::vector<int64_t> out;
    for (int k = 0; k < 4; ++k) out.push_back(in[p.alg()[1 + k] - '0']);
    return out;
  }
  return {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
}

}  // namespace

selector::Graph selector::GraphFromDescription(const GraphDescription& d) {
  selector::Graph g;
  g.name = d.name;
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(fmt::format("graph '{}': {}", d.name, what));
  };
  for (const auto& t : d.inputs) {
    g.tensors[t.name] = selector::TensorInfo{t.name, t.shape};
    g.inputs.push_back(t.name);
  }
  std::set<std::string> consumed;
  for (size_t i = 0; i < d.ops.size(); ++i) {
    const auto& op = d.ops[i];
    selector::Node n;
    n.index = static_cast<int>(i);
    n.name = op.name.empty() ? fmt::format("op{}", i) : op.name;
    n.inputs = op.inputs;
    n.outputs = op.outputs;
    if (!op.problem.empty()) {
      try {
        n.problem = Problem::Parse(op.problem);
      } catch (const std::invalid_argument& e) {
        fail(fmt::format("op {} '{}': {}", i, n.name, e.what()));
      }
      n.flops = n.problem->Flops();
      n.bytes = n.problem->Bytes(4);
    }
    n.op_type = !op.op_type.empty() ? op.op_type : n.problem ? OpTypeOf(*n.problem) : "";
    if (n.op_type.empty()) fail(fmt::format("op {} '{}': give a problem key or an op_type", i, n.name));
    if (n.outputs.empty()) fail(fmt::format("op {} '{}': no outputs", i, n.name));
    for (const auto& in : n.inputs) {
      if (!g.tensors.count(in))
        fail(fmt::format("op {} '{}' reads tensor '{}', which is neither a graph input nor written by "
                         "an earlier op",
                         i, n.name, in));
      consumed.insert(in);
    }
    for (size_t k = 0; k < n.outputs.size(); ++k) {
      std::vector<int64_t> shape;
      if (k < op.output_shapes.size()) shape = op.output_shapes[k];
      else if (n.problem) shape = OutputShapeOf(*n.problem);
      else if (!n.inputs.empty()) shape = g.tensors[n.inputs.front()].shape;
      if (g.tensors.count(n.outputs[k]))
        fail(fmt::format("op {} '{}' writes tensor '{}', which already exists", i, n.name, n.outputs[k]));
      g.tensors[n.outputs[k]] = selector::TensorInfo{n.outputs[k], shape};
    }
    if (!n.problem && n.bytes == 0) {  // the op table's rule (a free view: nothing)
      double in_elems = 0, out_elems = 0;
      for (const auto& t : n.inputs) in_elems += static_cast<double>(g.tensors[t].Elems());
      for (const auto& t : n.outputs) out_elems += static_cast<double>(g.tensors[t].Elems());
      selector::WorkOf(selector::FindOp(n.op_type), in_elems, out_elems, &n.flops, &n.bytes);
    }
    g.nodes.push_back(std::move(n));
  }
  if (!d.outputs.empty()) {
    for (const auto& t : d.outputs)
      if (!g.tensors.count(t)) fail(fmt::format("output '{}' is not a tensor of the graph", t));
    g.outputs = d.outputs;
  } else {
    for (const auto& n : g.nodes)
      for (const auto& t : n.outputs)
        if (!consumed.count(t)) g.outputs.push_back(t);
  }
  return g;
}

namespace {

selector::PlanOptions ToPlanOptions(const SelectOptions& o, const std::string& model,
                                    const std::string& db) {
  selector::PlanOptions p;
  p.units = o.units;
  p.dtype = o.dtype;
  p.model = model;
  p.db = db;
  return p;
}

}  // namespace

Selector::Selector(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Selector::Selector(Selector&&) noexcept = default;
Selector& Selector::operator=(Selector&&) noexcept = default;
Selector::~Selector() = default;

Selector Selector::Open(const std::string& db_path, RefuseCheck refuse) {
  selector::CostModelOptions options;
  options.refuse = std::move(refuse);
  return Selector(std::make_unique<Impl>(Impl{db_path, selector::CostModel::Load(db_path, options)}));
}

std::vector<std::string> Selector::Units() const { return impl_->cost.Units(); }

Plan Selector::Select(const std::string& model_path, const SelectOptions& options) const {
  selector::Graph g = selector::ImportOnnx(model_path, options.inputs);
  selector::Partition part = options.partition_path.empty()
                                 ? selector::DefaultPartition(g)
                                 : selector::LoadPartition(g, options.partition_path);
  const std::string hash = ModelHash(model_path);  // reads the whole file: once
  selector::PlanOptions po = ToPlanOptions(options, model_path, impl_->db_path);
  po.model_instance = selector::ModelInstance(hash, g);
  Plan plan = selector::BuildPlan(g, part, impl_->cost, po);
  plan.model_hash = hash;
  return plan;
}

ModelProblemSet ModelProblems(const std::string& model_path,
                              const std::map<std::string, std::vector<int64_t>>& inputs) {
  const selector::Graph g = selector::ImportOnnx(model_path, inputs);
  const selector::Partition part = selector::DefaultPartition(g);
  selector::BoundaryTensors tensors = selector::ModelBoundaryTensors(g, part);
  return {selector::ModelProblemKeys(g, part), std::move(tensors.shapes4), std::move(tensors.bytes_f32)};
}

std::string ModelHash(const std::string& model_path) {
  std::ifstream in(model_path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open", model_path));
  // 64-bit words through a multiply-xorshift mix (FNV byte by byte costs ~0.1 s on a 100 MB model).
  uint64_t h = 0x9e3779b97f4a7c15ull;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const size_t got = static_cast<size_t>(in.gcount());
    total += got;
    size_t k = 0;
    for (; k + 8 <= got; k += 8) {
      uint64_t w;
      std::memcpy(&w, buf.data() + k, 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 32;
    }
    for (; k < got; ++k) h = (h ^ static_cast<unsigned char>(buf[k])) * 0x100000001b3ull;
  }
  h ^= total;
  return fmt::format("{:016x}", h);
}

Plan Selector::Select(const GraphDescription& graph, const SelectOptions& options) const {
  selector::Graph g = selector::GraphFromDescription(graph);
  selector::Partition part = options.partition_path.empty()
                                 ? selector::DefaultPartition(g)
                                 : selector::LoadPartition(g, options.partition_path);
  return selector::BuildPlan(g, part, impl_->cost, ToPlanOptions(options, graph.name, impl_->db_path));
}

std::string Plan::ToJson(int indent) const {
  using nlohmann::json;
  json j;
  j["plan_schema_version"] = 1;
  j["model"] = model;
  if (!model_hash.empty()) j["model_hash"] = model_hash;
  j["db"] = db;
  j["dtype"] = dtype;
  j["units"] = units;
  j["solver"] = solver;
  j["subgraphs"] = json::array();
  for (const auto& s : subgraphs) {
    json c = json::array();
    for (const auto& k : s.candidates)
      c.push_back({{"unit", k.unit}, {"layout", k.layout}, {"predicted_us", k.predicted_us},
                   {"confidence", k.confidence}});
    json sg = {{"index", s.index},
               {"nodes", s.nodes},
               {"ops", s.ops},
               {"unit", s.unit},
               {"layout", s.layout},
               {"predicted_us", s.predicted_us},
               {"confidence", s.confidence},
               {"complexity",
                {{"flops", s.flops},
                 {"bytes", s.bytes},
                 {"intensity", s.intensity},
                 {"node_count", s.node_count},
                 {"candidates", c}}}};
    if (!s.fused_key.empty()) {
      sg["fused_key"] = s.fused_key;
      sg["fused_cost"] = s.fused_cost;
    }
    j["subgraphs"].push_back(std::move(sg));
  }
  j["transitions"] = json::array();
  for (const auto& t : transitions)
    j["transitions"].push_back({{"edge", {{"from", t.from}, {"to", t.to}, {"tensor", t.tensor}}},
                                {"from", {{"unit", t.from_unit}, {"layout", t.from_layout}}},
                                {"to", {{"unit", t.to_unit}, {"layout", t.to_layout}}},
                                {"kind", t.kind},
                                {"bytes", t.bytes},
                                {"us", t.us}});
  j["total_predicted_us"] = total_predicted_us;
  j["baselines"] = json::array();
  for (const auto& b : baselines)
    j["baselines"].push_back(
        {{"name", b.name}, {"total_us", b.total_us}, {"ratio", b.ratio}, {"fallbacks", b.fallbacks}});
  j["notes"] = notes;
  return j.dump(indent);
}

std::string Plan::ToTable() const {
  std::string s;
  auto ops_text = [](const std::vector<std::string>& ops) {
    static const std::map<std::string, std::string> kShort = {
        {"BatchNormalization", "BN"}, {"LayerNormalization", "LN"}, {"GlobalAveragePool", "GAP"},
        {"GlobalMaxPool", "GMP"}, {"AveragePool", "AvgPool"}, {"HardSigmoid", "HSig"},
        {"HardSwish", "HSwish"}, {"ReduceMean", "RMean"}, {"Transpose", "Transp"}};
    std::string t;
    for (size_t i = 0; i < ops.size(); ++i) {
      auto it = kShort.find(ops[i]);
      std::string next = (i ? "+" : "") + (it == kShort.end() ? ops[i] : it->second);
      if (t.size() + next.size() > 26) return t + fmt::format("+{}", ops.size() - i);
      t += next;
    }
    return t;
  };
  s += fmt::format("plan for {} ({}, units: {}) from {}\n\n", model, dtype, fmt::join(units, ", "), db);
  s += fmt::format("{:>4}  {:<30} {:>9} {:>9} {:>7}  {:<9} {:<14} {:>11}  {}\n", "sg", "ops", "GFLOP",
                   "MB", "flop/B", "unit", "layout", "pred. µs", "confidence");
  for (const auto& g : subgraphs)
    s += fmt::format("{:>4}  {:<30} {:>9.4f} {:>9.3f} {:>7.1f}  {:<9} {:<14} {:>11.2f}  {}\n", g.index,
                     ops_text(g.ops), g.flops / 1e9, g.bytes / 1e6, g.intensity, g.unit, g.layout,
                     g.predicted_us, g.confidence);
  double sum_sg = 0, sum_tr = 0;
  for (const auto& g : subgraphs) sum_sg += g.predicted_us;
  for (const auto& t : transitions) sum_tr += t.us;
  s += fmt::format("\ntransitions ({}):\n", transitions.size());
  for (const auto& t : transitions) {
    auto side = [](int i) { return i < 0 ? std::string("host") : fmt::format("sg {}", i); };
    s += fmt::format("  {:>6} -> {:<6} {:<24} {:<8} {}/{} -> {}/{}  {:.3f} MB  {:.2f} µs\n", side(t.from),
                     side(t.to), t.tensor.size() > 24 ? t.tensor.substr(0, 21) + "..." : t.tensor, t.kind,
                     t.from_unit, t.from_layout, t.to_unit, t.to_layout, t.bytes / 1e6, t.us);
  }
  s += fmt::format("\ntotal predicted: {:.2f} µs (sub-graphs {:.2f} + transitions {:.2f}; solver {})\n",
                   total_predicted_us, sum_sg, sum_tr, solver);
  s += "\nbaselines:\n";
  for (const auto& b : baselines)
    s += fmt::format("  {:<12} {:>12.2f} µs  {:>6.2f}x the plan{}\n", b.name, b.total_us, b.ratio,
                     b.fallbacks ? fmt::format("  ({} sub-graph{} could not use that layout)", b.fallbacks,
                                               b.fallbacks == 1 ? "" : "s")
                                 : std::string());
  if (!notes.empty()) {
    s += "\nnotes:\n";
    for (const auto& n : notes) s += "  " + n + "\n";
  }
  return s;
}

std::pair<std::string, std::vector<int64_t>> ParseInputShape(const std::string& text, const std::string& what) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw std::invalid_argument(
        fmt::format("{} '{}': expected NAME:D1,D2,... (e.g. x:1,3,224,224)", what, text));
  std::vector<int64_t> dims;
  std::stringstream ss(text.substr(colon + 1));
  for (std::string d; std::getline(ss, d, ',');) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(d, &used);
    } catch (const std::exception&) {
    }
    if (d.empty() || used != d.size() || v <= 0)
      throw std::invalid_argument(fmt::format("{} '{}': '{}' is not a positive dimension", what, text, d));
    dims.push_back(v);
  }
  return {text.substr(0, colon), dims};
}


}  // namespace layoutdb

// ---- C API ----

struct layoutdb_selector {
  layoutdb::Selector sel;
};
struct layoutdb_plan {
  layoutdb::Plan plan;
  std::string json;
};

namespace {

thread_local std::string g_last_error;

template <typename F>
auto Guard(F&& f) -> decltype(f()) {
  try {
    g_last_error.clear();
    return f();
  } catch (const std::exception& e) {
    g_last_error = e.what();
  } catch (...) {
    g_last_error = "unknown error";
  }
  return decltype(f())();
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

extern "C" {

layoutdb_selector* layoutdb_open(const char* db_path) {
  return Guard([&]() -> layoutdb_selector* {
    if (!db_path) throw std::invalid_argument("layoutdb_open: db_path is NULL");
    return new layoutdb_selector{layoutdb::Selector::Open(db_path)};
  });
}

void layoutdb_close(layoutdb_selector* s) { delete s; }

layoutdb_plan* layoutdb_select_file(const layoutdb_selector* s, const char* model_path,
                                    const char* inputs, const char* units, const char* dtype) {
  return Guard([&]() -> layoutdb_plan* {
    if (!s || !model_path) throw std::invalid_argument("layoutdb_select_file: selector or model_path is NULL");
    layoutdb::SelectOptions o;
    if (inputs)
      for (const auto& spec : Split(inputs, ';')) o.inputs.insert(layoutdb::ParseInputShape(spec, "input"));
    if (units) o.units = Split(units, ',');
    if (dtype) o.dtype = dtype;
    auto p = std::make_unique<layoutdb_plan>();
    p->plan = s->sel.Select(model_path, o);
    p->json = p->plan.ToJson();
    return p.release();
  });
}

void layoutdb_plan_free(layoutdb_plan* p) { delete p; }

int layoutdb_plan_subgraph_count(const layoutdb_plan* p) {
  return p ? static_cast<int>(p->plan.subgraphs.size()) : -1;
}

const char* layoutdb_plan_unit(const layoutdb_plan* p, int i) {
  if (!p || i < 0 || i >= static_cast<int>(p->plan.subgraphs.size())) return nullptr;
  return p->plan.subgraphs[i].unit.c_str();
}

const char* layoutdb_plan_layout(const layoutdb_plan* p, int i) {
  if (!p || i < 0 || i >= static_cast<int>(p->plan.subgraphs.size())) return nullptr;
  return p->plan.subgraphs[i].layout.c_str();
}

double layoutdb_plan_subgraph_us(const layoutdb_plan* p, int i) {
  if (!p || i < 0 || i >= static_cast<int>(p->plan.subgraphs.size())) return -1;
  return p->plan.subgraphs[i].predicted_us;
}

double layoutdb_plan_total_us(const layoutdb_plan* p) { return p ? p->plan.total_predicted_us : -1; }

const char* layoutdb_plan_json(const layoutdb_plan* p) { return p ? p->json.c_str() : nullptr; }

const char* layoutdb_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
