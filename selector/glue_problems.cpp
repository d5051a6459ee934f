// Glue nodes to database problems (see glue_problems.h). Each mapping reads the node's shapes (and,
// where the family needs them, its constant inputs) and either builds the problem or says in one note
// why the node stays without one (costed by roofline).
#include "glue_problems.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <stdexcept>

namespace layoutdb::selector {

std::vector<int64_t> View4(const std::vector<int64_t>& s) {
  std::vector<int64_t> v(s);
  if (v.size() <= 4) {
    v.resize(4, 1);
    return v;
  }
  int64_t h = 1;
  for (size_t k = 2; k + 1 < s.size(); ++k) h *= s[k];
  return {s[0], s[1], h, s.back()};
}

namespace {

using fold::AttrFloat;
using fold::AttrInt;
using fold::AttrInts;
using fold::AttrString;
using Params = std::vector<std::pair<std::string, int64_t>>;

// What a mapping sees of its node.
struct Ctx {
  const onnx::NodeProto& n;
  int64_t opset;
  const fold::ValMap& vals;

  const fold::Val* In(int k) const {
    if (k >= n.input_size() || n.input(k).empty()) return nullptr;
    auto it = vals.find(n.input(k));
    return it == vals.end() ? nullptr : &it->second;
  }
  const std::vector<int64_t>* Shape(int k) const {
    const fold::Val* v = In(k);
    return v && v->shape_known ? &v->shape : nullptr;
  }
  const std::vector<int64_t>* OutShape() const {
    if (n.output_size() == 0) return nullptr;
    auto it = vals.find(n.output(0));
    return it == vals.end() || !it->second.shape_known ? nullptr : &it->second.shape;
  }
  // A constant integer input's values; nullopt when absent; throws a note when not constant.
  std::optional<std::vector<int64_t>> Ints(int k, const char* what) const {
    const fold::Val* v = In(k);
    if (!v) return std::nullopt;
    if (!v->has_data) throw std::invalid_argument(fmt::format("{} computed at run time", what));
    std::vector<int64_t> out;
    for (int64_t i = 0; i < v->Elems(); ++i) out.push_back(v->IntAt(i));
    return out;
  }
};

// A mapping's refusal: the node keeps no problem, with this note.
struct NoProblem {
  std::string why;
};

GlueMapping Make(const std::string& op, const std::string& alg, Params params, std::string note = {}) {
  GlueMapping m;
  try {
    m.problem = Problem(op, alg, std::move(params));
    m.note = std::move(note);
  } catch (const std::invalid_argument& e) {
    m.note = fmt::format("no database problem: {}", e.what());
  }
  return m;
}

Params Dims4(const std::vector<int64_t>& v) { return {{"mb", v[0]}, {"c", v[1]}, {"h", v[2]}, {"w", v[3]}}; }

const std::vector<int64_t>& Need(const std::vector<int64_t>* s) {
  if (!s) throw NoProblem{"shape unknown"};
  return *s;
}

int64_t Axis(int64_t a, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (a < -r || a >= r) throw NoProblem{fmt::format("axis {} out of range for rank {}", a, r)};
  return a < 0 ? a + r : a;
}

GlueMapping Concat(const Ctx& c) {
  const auto& y = Need(c.OutShape());
  if (y.size() > 4) throw NoProblem{fmt::format("rank-{} Concat: no database problem", y.size())};
  const int64_t ax = Axis(AttrInt(c.n, "axis", 0), y.size());
  std::vector<int64_t> pieces;
  for (int k = 0; k < c.n.input_size(); ++k) {
    const auto& s = Need(c.Shape(k));
    if (s.size() != y.size()) throw NoProblem{"inputs of different ranks"};
    int64_t e = 1;
    for (int64_t d : s) e *= d;
    if (e > 0) pieces.push_back(s[ax]);  // an empty piece adds nothing
  }
  const int64_t n = static_cast<int64_t>(pieces.size());
  if (n < 2) throw NoProblem{"Concat of one non-empty input: a copy, no database problem"};
  const auto v = View4(y);
  if (v[ax] % n)
    throw NoProblem{fmt::format("Concat of {} pieces [{}] along axis {}: {} is not a multiple of {}, no "
                                "database problem",
                                n, fmt::join(pieces, ","), ax, v[ax], n)};
  std::string note;
  if (std::adjacent_find(pieces.begin(), pieces.end(), std::not_equal_to<>()) != pieces.end())
    note = fmt::format("Concat of unequal pieces [{}]: costed as {} equal ones", fmt::join(pieces, ","), n);
  Params p = Dims4(v);
  p.emplace_back("n", n);
  p.emplace_back("ax", ax);
  return Make("concat", "", std::move(p), note);
}

GlueMapping Resize(const Ctx& c) {
  const auto& x = Need(c.Shape(0));
  const auto& y = Need(c.OutShape());
  if (x.size() != 4 || y.size() != 4 || x[0] != y[0] || x[1] != y[1])
    throw NoProblem{"Resize beyond H and W of a 4D tensor: no database problem"};
  const std::string mode = AttrString(c.n, "mode", "nearest");
  std::string alg;
  if (mode == "nearest") alg = "nearest";
  else if (mode == "linear" || mode == "bilinear") alg = "linear";
  else throw NoProblem{fmt::format("Resize mode '{}': no database problem", mode)};
  return Make("resample", alg, {{"mb", x[0]}, {"c", x[1]}, {"ih", x[2]}, {"iw", x[3]}, {"oh", y[2]}, {"ow", y[3]}});
}

GlueMapping Transpose(const Ctx& c) {
  const auto& x = Need(c.Shape(0));
  const size_t r = x.size();
  if (r < 2 || r > 4) throw NoProblem{fmt::format("rank-{} Transpose: no database problem", r)};
  std::vector<int64_t> perm = AttrInts(c.n, "perm");
  if (perm.empty())
    for (size_t k = 0; k < r; ++k) perm.push_back(static_cast<int64_t>(r - 1 - k));
  if (perm.size() != r) throw NoProblem{"perm does not match the rank"};
  for (size_t k = r; k < 4; ++k) perm.push_back(static_cast<int64_t>(k));  // View4's trailing 1s
  std::string alg = "p";
  for (int64_t d : perm) {
    if (d < 0 || d > 3) throw NoProblem{"perm out of range"};
    alg += static_cast<char>('0' + d);
  }
  if (alg == "p0123") throw NoProblem{"identity Transpose: a copy, no database problem"};
  return Make("transpose", alg, Dims4(View4(x)));
}

GlueMapping Slice(const Ctx& c) {
  const auto& x = Need(c.Shape(0));
  const auto& y = Need(c.OutShape());
  if (x.size() > 4 || y.size() != x.size()) throw NoProblem{fmt::format("rank-{} Slice: no database problem", x.size())};
  if (c.opset >= 10) {
    if (auto steps = c.Ints(4, "steps"))
      for (int64_t s : *steps)
        if (s != 1) throw NoProblem{fmt::format("Slice with step {}: no database problem (step 1 only)", s)};
  }
  if (!x.empty() && x[0] != y[0]) throw NoProblem{"Slice of the batch dim: no database problem"};
  const auto v = View4(x), o = View4(y);
  Params p = Dims4(v);
  p.insert(p.end(), {{"oc", o[1]}, {"oh", o[2]}, {"ow", o[3]}});
  return Make("slice", "", std::move(p));
}

GlueMapping Pad(const Ctx& c) {
  const auto& x = Need(c.Shape(0));
  if (x.size() != 4) throw NoProblem{fmt::format("rank-{} Pad: no database problem", x.size())};
  const std::string mode = AttrString(c.n, "mode", "constant");
  if (mode != "constant") throw NoProblem{fmt::format("Pad mode '{}': no database problem", mode)};
  std::vector<int64_t> pads;
  if (c.opset >= 11) {
    auto v = c.Ints(1, "pads");
    if (!v) throw NoProblem{"Pad without pads"};
    pads = *v;
    if (c.In(3)) throw NoProblem{"Pad with axes: no database problem"};
  } else {
    pads = AttrInts(c.n, "pads");
  }
  if (pads.size() != 8) throw NoProblem{"pads do not match the rank"};
  if (pads[0] || pads[1] || pads[4] || pads[5])
    throw NoProblem{"Pad of the batch or channel dims: no database problem"};
  for (int64_t p : pads)
    if (p < 0) throw NoProblem{"negative pads (a crop): no database problem"};
  return Make("pad", "", {{"mb", x[0]}, {"c", x[1]}, {"h", x[2]}, {"w", x[3]}, {"pt", pads[2]}, {"pb", pads[6]},
                          {"pl", pads[3]}, {"pr", pads[7]}});
}

GlueMapping Reduce(const Ctx& c, const std::string& alg) {
  const auto& x = Need(c.Shape(0));
  if (x.empty() || x.size() > 4) throw NoProblem{fmt::format("rank-{} Reduce: no database problem", x.size())};
  // axes: an attribute until opset 18 (ReduceSum: 13), an input from then.
  const bool axes_input = c.n.op_type() == "ReduceSum" ? c.opset >= 13 : c.opset >= 18;
  std::vector<int64_t> axes = AttrInts(c.n, "axes");
  if (axes_input)
    if (auto v = c.Ints(1, "axes")) axes = *v;
  if (axes.empty()) {
    if (AttrInt(c.n, "noop_with_empty_axes", 0)) throw NoProblem{"a reduction over nothing"};
    for (size_t k = 0; k < x.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  }
  const auto v = View4(x);
  std::vector<int64_t> o = v;
  for (int64_t a : axes) o[Axis(a, x.size())] = 1;
  if (o[0] != v[0]) throw NoProblem{"a reduction over the batch dim: no database problem"};
  Params p = Dims4(v);
  p.insert(p.end(), {{"oc", o[1]}, {"oh", o[2]}, {"ow", o[3]}});
  return Make("reduce", alg, std::move(p));
}

GlueMapping ConvTranspose(const Ctx& c) {
  auto x = Need(c.Shape(0));
  auto w = Need(c.Shape(1));
  if ((x.size() != 4 && x.size() != 3) || w.size() != x.size())
    throw NoProblem{fmt::format("{}-D ConvTranspose: no database problem", static_cast<int>(x.size()) - 2)};
  const bool one_d = x.size() == 3;
  auto two = [&](std::vector<int64_t> v, int64_t fill) {  // a 1-D attribute as 2-D with height `fill`
    if (one_d && v.size() == 1) v.insert(v.begin(), fill);
    return v;
  };
  if (one_d) {
    x.insert(x.begin() + 2, 1);
    w.insert(w.begin() + 2, 1);
  }
  const int64_t g = AttrInt(c.n, "group", 1);
  std::vector<int64_t> st = two(AttrInts(c.n, "strides"), 1), dl = two(AttrInts(c.n, "dilations"), 1);
  if (st.size() != 2) st = {1, 1};
  if (dl.size() != 2) dl = {1, 1};
  const std::string ap = AttrString(c.n, "auto_pad", "NOTSET");
  if (ap != "NOTSET" && ap != "VALID") throw NoProblem{fmt::format("ConvTranspose with auto_pad {}: no database problem", ap)};
  std::vector<int64_t> pads = AttrInts(c.n, "pads");
  if (one_d && pads.size() == 2) pads = {0, pads[0], 0, pads[1]};
  if (pads.size() != 4) pads = {0, 0, 0, 0};
  std::vector<std::string> notes;
  if (pads[0] != pads[2] || pads[1] != pads[3])
    notes.push_back(fmt::format("asymmetric pads: costed with the larger (ph{} pw{})", std::max(pads[0], pads[2]),
                                std::max(pads[1], pads[3])));
  const int64_t ph = std::max(pads[0], pads[2]), pw = std::max(pads[1], pads[3]);
  GlueMapping m = Make("deconv", "",
                       {{"mb", x[0]}, {"ic", x[1]}, {"ih", x[2]}, {"iw", x[3]}, {"oc", w[1] * g}, {"kh", w[2]},
                        {"kw", w[3]}, {"sh", st[0]}, {"sw", st[1]}, {"ph", ph}, {"pw", pw}, {"dh", dl[0]},
                        {"dw", dl[1]}, {"g", g}});
  if (m.problem) {
    if (const auto* y = c.OutShape(); y && y->size() == x.size() - (one_d ? 1 : 0)) {
      const int64_t oh = one_d ? 1 : (*y)[2], ow = y->back();
      if (oh != m.problem->Oh() || ow != m.problem->Ow())
        notes.push_back(fmt::format("output {}x{} (output_padding / output_shape), costed as the problem's {}x{}", oh,
                                    ow, m.problem->Oh(), m.problem->Ow()));
    }
    m.note = fmt::format("{}", fmt::join(notes, "; "));
  }
  return m;
}

GlueMapping LeakyRelu(const Ctx& c) {
  return Make("eltwise", "leakyrelu", Dims4(View4(Need(c.OutShape()))));
}

GlueMapping PRelu(const Ctx& c) {
  const auto& x = Need(c.Shape(0));
  const auto& s = Need(c.Shape(1));
  int64_t slopes = 1;
  for (int64_t d : s) slopes *= d;
  const auto v = View4(x);
  std::string note;
  if (slopes != 1 && slopes != v[1]) note = fmt::format("slope of shape [{}]: costed as per-channel", fmt::join(s, ","));
  return Make("prelu", "", Dims4(v), note);
}

using Mapper = std::function<GlueMapping(const Ctx&)>;

// The table: ONNX op -> mapping.
const std::map<std::string, Mapper>& Table() {
  static const std::map<std::string, Mapper> kGlue = {
      {"Concat", Concat},
      {"Resize", Resize},
      {"Upsample", Resize},
      {"Transpose", Transpose},
      {"Slice", Slice},
      {"Pad", Pad},
      {"ReduceMean", [](const Ctx& c) { return Reduce(c, "mean"); }},
      {"ReduceSum", [](const Ctx& c) { return Reduce(c, "sum"); }},
      {"ReduceMax", [](const Ctx& c) { return Reduce(c, "max"); }},
      {"ConvTranspose", ConvTranspose},
      {"LeakyRelu", LeakyRelu},
      {"PRelu", PRelu},
  };
  return kGlue;
}

}  // namespace

std::vector<std::string> GlueOps() {
  std::vector<std::string> v;
  for (const auto& [op, unused] : Table()) v.push_back(op);
  return v;
}

std::optional<GlueMapping> MapGlueNode(const onnx::NodeProto& n, int64_t opset, const fold::ValMap& vals) {
  auto it = Table().find(n.op_type());
  if (it == Table().end()) return std::nullopt;
  const Ctx c{n, opset, vals};
  try {
    return it->second(c);
  } catch (const NoProblem& e) {
    GlueMapping m;
    if (e.why != "shape unknown") m.note = e.why;
    return m;
  } catch (const std::invalid_argument& e) {  // a constant input computed at run time
    GlueMapping m;
    m.note = fmt::format("{}: no database problem", e.what());
    return m;
  }
}

}  // namespace layoutdb::selector
