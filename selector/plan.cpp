#include "plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace layoutdb::selector {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool PlainLike(const std::string& l) { return l == "nchw" || l == "plain"; }

// A state that reads and writes one layout (its label is that layout), costs not yet filled in.
State Uniform(const std::string& unit, const std::string& layout) {
  State st;
  st.unit = unit;
  st.in = st.out = st.label = layout;
  return st;
}
// The same memory order (plain is nchw).
bool Same(const std::string& a, const std::string& b) { return a == b || (PlainLike(a) && PlainLike(b)); }

// Whether a node without a database problem runs in whatever layout the sub-graph has (op_table:
// Order::kAgnostic). Every other problem-less op (Reshape, Flatten, Transpose, Gather, Slice, unknown
// ops, ...) indexes elements in plain order, so in a non-plain layout it pays a reorder of its input
// to nchw first (the reorder cost of the unit, from `transitions`), as the runtime does.
bool IsLayoutFree(const Node& n) {
  const OpRow* r = FindOp(n.op_type, n.domain);
  return r && r->order == Order::kAgnostic;
}

// A free view (op_table: Work::kFree): the runtime aliases its input; it costs only the reorder.
bool IsFreeView(const Node& n) {
  const OpRow* r = FindOp(n.op_type, n.domain);
  return r && r->work == Work::kFree;
}

struct EdgeX {
  int from = -1, to = -1;  // -1: the host side (graph input / output)
  std::string tensor;
  int64_t bytes = 0;       // at the plan's dtype
  std::vector<int64_t> shape;  // empty when unknown; a reorder is 4-D only with 4 dimensions
};

struct Builder {
  const Graph& g;
  const Partition& part;
  const CostModel& cost;
  const PlanOptions& opt;
  int dsize = 4;
  std::vector<std::string> units;
  std::vector<std::string> keys;  // per node: canonical problem key
  std::vector<std::string> notes;
  std::vector<std::optional<FusedProblem>> fused;  // per sub-graph

  double NodeBytes(const Node& n) const {
    if (n.problem) return n.problem->Bytes(dsize);
    if (IsFreeView(n)) return 0;
    if (n.bytes > 0) return n.bytes * dsize / 4.0;
    double b = 0;
    for (const auto* names : {&n.inputs, &n.outputs})
      for (const auto& t : *names) {
        auto it = g.tensors.find(t);
        if (it != g.tensors.end() && !it->second.is_constant) b += it->second.Elems() * dsize;
      }
    return b;
  }
  double NodeFlops(const Node& n) const { return n.problem ? n.problem->Flops() : n.flops; }

  // The cost of problem `p` (key `key`) on (unit, layout), trying the names the same memory order
  // has; `roofline` false: nullopt when neither exact nor interpolated. *excluded: the key was
  // measured there and is unusable (a reference kernel): never recommend.
  std::optional<Estimate> Lookup(const Problem& p, const std::string& key, const std::string& unit,
                                 const std::string& layout, const std::string& measured_name, bool roofline,
                                 bool* excluded) const {
    *excluded = false;
    if (measured_name.find('>') != std::string::npos) {
      // A mixed (src>dst) candidate is measured only where the unit offers it (oneDNN: the first,
      // few-channel convolution); its time says nothing about other shapes, so it is used exactly
      // or not at all.
      if (!cost.Measured(key, unit, measured_name, opt.dtype)) return std::nullopt;
      auto e = cost.Op(p, key, unit, measured_name, opt.dtype, false, excluded);
      if (e && e->confidence == Confidence::kExact) return e;
      return std::nullopt;
    }
    std::vector<std::string> names{measured_name};
    if (layout == "nchw") names.push_back("plain");
    if (layout == "plain") names.push_back("nchw");
    if (!p.IsSpatial() && layout != "plain") names.push_back("plain");
    for (size_t i = 0; i < names.size(); ++i) {
      bool ex = false;
      auto e = cost.Op(p, key, unit, names[i], opt.dtype, false, &ex);
      if (ex && i == 0) {  // a reference kernel here: never recommend
        *excluded = true;
        return std::nullopt;
      }
      if (e) return e;
    }
    if (!roofline) return std::nullopt;
    return cost.Roofline(p.Flops(), p.Bytes(dsize), unit);
  }

  // The cost of a problem node on (unit, layout).
  std::optional<Estimate> ProblemCost(const Node& n, const std::string& unit, const std::string& layout,
                                      const std::string& measured_name) const {
    bool excluded = false;
    return Lookup(*n.problem, keys[n.index], unit, layout, measured_name, true, &excluded);
  }

  // The cost of an anchor sub-graph's fused kernel (FuseSubgraph) on (unit, in > out): the fused key
  // exact; else the anchor's cost there (measured, else estimated from its own family) plus the
  // measured marginal cost of each post-op; else, where the anchor has only a roofline or a post-op
  // no marginal, or where the chain's other shapes are nearer than the anchor's (both estimated),
  // interpolated among fused problems of the same chain. With the anchor measured, its
  // time and the marginals predicted a held-out fused point within 10% for 64% and 61% of 374 (two
  // default sweeps, bench_select), the chain's other shapes for 39% and 38%; with the anchor held out
  // too, its estimate and the marginals for 47% and 50% of 386 (warm and hot default sweeps), the
  // chain's other shapes for 38% and 36%: an anchor's family holds every shape of the spec, a chain's only
  // the few swept fused (a 1x1 convolution + relu on 320x320 pixels: 1682 us from the chain's other
  // shapes, 344 run). nullopt with *rule "separate" when the fused key was
  // measured there and is unusable, or a post-op has no measured marginal on the unit (the caller
  // costs the nodes one by one); nullopt with *infeasible when the anchor cannot run there.
  std::optional<Estimate> FusedCost(const FusedProblem& fp, const std::string& unit, const std::string& in,
                                    const std::string& out, const std::string& measured_name,
                                    std::string* rule, bool* infeasible) const {
    *infeasible = false;
    const Node& an = g.nodes[fp.nodes.front()];
    if (fp.problem.post_ops().empty()) {  // every follower folds: the anchor's kernel is all there is
      auto e = ProblemCost(an, unit, in, measured_name);
      *infeasible = !e;
      *rule = "fused";
      return e;
    }
    bool excluded = false;
    const auto fused = Lookup(fp.problem, fp.problem.Key(), unit, in, measured_name, false, &excluded);
    if (fused && fused->confidence == Confidence::kExact) {
      *rule = "fused";
      return fused;
    }
    if (fused) {
      // Interpolated among other shapes' chains: no better than its anchor, which may have only a
      // reference kernel here (post-ops only narrow oneDNN's implementations).
      const auto a = ProblemCost(an, unit, in, measured_name);
      if (!a) {
        *infeasible = true;
        return std::nullopt;
      }
      // Both estimated: the one nearer its data (the smaller log_sd, which grows with the distance
      // to the nearest measured problem: the anchor's own against the chain's). On the fused points
      // of a warm and a hot default sweep (the anchor held out too) so 49.5% and 51.8% within 10%,
      // the anchor always 47.4% and 49.7%.
      if (a->confidence != Confidence::kRoofline)
        if (auto e = WithMarginals(*a, fp, unit, out, measured_name))
          if (a->confidence == Confidence::kExact || a->log_sd <= fused->log_sd) {
            *rule = "anchor+marginal";
            return e;
          }
      *rule = "fused";
      return fused;
    }
    if (excluded) {
      // Measured there with only a reference kernel: the runtime would run that kernel (it runs the
      // chain as partitioned), whatever the anchor alone would do. A file of `sweep --model` has no
      // row of the anchor alone, which interpolation from other shapes would price as fast (YOLO's
      // 3-channel first convolution in nChw8c: 0.8 ms predicted, 1084 ms run).
      if (cost.ReferenceOnly(fp.problem.Key(), unit, measured_name, opt.dtype)) {
        *infeasible = true;
        return std::nullopt;
      }
      // Measured there and unsupported otherwise: the unit does not fuse this chain (OpenCL fuses
      // one activation only) and runs the followers as their own kernels.
      *rule = "separate";
      return std::nullopt;
    }
    auto a = ProblemCost(an, unit, in, measured_name);
    if (!a) {
      *infeasible = true;
      return std::nullopt;
    }
    auto e = WithMarginals(*a, fp, unit, out, measured_name);
    *rule = e ? "anchor+marginal" : "separate";
    return e;
  }

  // The anchor's estimate plus the measured marginal cost of each post-op of the chain (interpolated
  // at best; its log_sd the anchor's and the marginals' MarginalLogSd together); nullopt when a post-op
  // has no measured marginal on the unit.
  std::optional<Estimate> WithMarginals(Estimate a, const FusedProblem& fp, const std::string& unit,
                                        const std::string& out, const std::string& measured_name) const {
    const double out_bytes = static_cast<double>(fp.problem.DstElems()) * dsize;
    for (const auto& po : fp.problem.post_ops()) {
      auto m = cost.MarginalUs(unit, measured_name, opt.dtype, po, out_bytes);
      if (!m && out != measured_name) m = cost.MarginalUs(unit, out, opt.dtype, po, out_bytes);
      if (!m) return std::nullopt;
      a.us += *m;
    }
    a.confidence = std::min(a.confidence, Confidence::kInterpolated);
    a.log_sd = std::hypot(a.log_sd, cost.MarginalLogSd(unit));  // independent errors, in log time
    return a;
  }

  // The cost of a node without a problem on (unit, layout).
  std::optional<Estimate> OtherCost(const Node& n, const std::string& unit, const std::string& layout) const {
    // A free view runs nothing (the runtime aliases its input): exactly zero, plus its reorder.
    auto e = IsFreeView(n) ? std::optional<Estimate>(Estimate{0, Confidence::kExact})
                           : cost.Roofline(NodeFlops(n), NodeBytes(n), unit);
    if (!e) return e;
    if (!PlainLike(layout) && !IsLayoutFree(n) && !n.inputs.empty()) {
      auto it = g.tensors.find(n.inputs.front());
      if (it != g.tensors.end()) {
        const double r = cost.Reorder(unit, layout, "nchw", opt.dtype, it->second.Elems() * dsize,
                                      it->second.shape);
        if (!std::isfinite(r)) return std::nullopt;
        e->us += r;
      }
    }
    return e;
  }

  // An anchor's constant weights come from memory in a network: a hot-cache measurement (weights in
  // cache from the previous repetition) is no faster than streaming them once from host memory, at the
  // sweeps' calibrated rate (an inner product with 5 MB of weights measured 42 us hot and ran 270 us
  // in MobileNetV2, its weights' time at that rate). A warm or cold file timed the weights from memory
  // already, on all the kernel's threads, which read faster than the one calibrating thread: there
  // the floor made MobileNetV2's classifier 537 us; it was stored at 191 and ran in 189. An estimate
  // (from other shapes' measurements, or a roofline) keeps the floor in every file: without it, each
  // example model planned on a file without its own problems came out lower (a BERT block's matmuls,
  // all rooflines, 854 us in all against 9100 run; ResNet-50 -22%, 9 of 57 sub-graphs within 10%
  // against 21).
  void StreamWeights(const Node& anchor, const std::string& unit, Estimate* e) const {
    const double rate = cost.StreamBytesPerUs(unit);
    if (rate <= 0 || (cost.CacheMode() != "hot" && e->confidence == Confidence::kExact)) return;
    double bytes = 0;
    for (size_t k = 1; k < anchor.inputs.size(); ++k) {
      auto it = g.tensors.find(anchor.inputs[k]);
      if (it != g.tensors.end() && it->second.is_constant) bytes += static_cast<double>(it->second.Elems()) * dsize;
    }
    e->us = std::max(e->us, bytes / rate);
  }

  // Fills the cost of a state; false when some node cannot run in it. An anchor sub-graph with a
  // fused problem is costed as that one kernel (FusedCost) plus the nodes it does not cover, once the
  // database holds any fused measurement; before that, operator by operator.
  bool Cost(int si, const Subgraph& sg, int anchor, const std::string& anchor_name, State* st) const {
    st->us = 0;
    st->spread_us = 0;
    st->uncertain_us = 0;
    st->unstable = 0;
    st->confidence = Confidence::kExact;
    st->estimators = 0;
    st->fused_cost.clear();
    auto add = [&](const Estimate& e) {
      st->us += e.us;
      st->spread_us += e.spread_us;
      st->uncertain_us += UncertainUs(e);
      st->unstable += e.unstable ? 1 : 0;
      st->confidence = std::min(st->confidence, e.confidence);
      st->estimators |= 1 << static_cast<int>(e.estimator);
    };
    std::set<int> covered;
    if (const auto& fp = fused[si]) {
      // Nodes folded into the anchor's weights and bias (a BatchNormalization after a conv) are no
      // pass of their own in the runtime, however the rest is costed.
      covered.insert(fp->folded.begin(), fp->folded.end());
      // An anchor with no follower to fuse is its own kernel whatever the database holds.
      st->fused_cost = fp->nodes.size() > 1 ? "separate" : "fused";
      if (cost.HasFused()) {
        bool infeasible = false;
        std::string rule;
        auto e = FusedCost(*fp, st->unit, st->in, st->out, anchor_name, &rule, &infeasible);
        if (infeasible) return false;
        st->fused_cost = rule;
        if (e) {
          if (anchor >= 0) StreamWeights(g.nodes[anchor], st->unit, &*e);
          add(*e);
          covered.insert(fp->nodes.begin(), fp->nodes.end());
        }
      }
    }
    bool before = anchor >= 0;
    for (int idx : sg.nodes) {
      const Node& n = g.nodes[idx];
      std::string layout = idx == anchor ? st->in : (before ? st->in : st->out);
      const bool is_anchor = idx == anchor;
      if (is_anchor) before = false;
      if (covered.count(idx)) continue;
      std::optional<Estimate> e;
      if (n.problem) e = ProblemCost(n, st->unit, layout, is_anchor ? anchor_name : layout);
      else e = OtherCost(n, st->unit, layout);
      if (!e) return false;
      if (is_anchor) StreamWeights(n, st->unit, &*e);
      add(*e);
    }
    // Timed in this very model's network (sweep --model --cache network): that time, however its
    // parts were priced.
    if (auto e = cost.InNetwork(opt.model_instance, sg.nodes, st->unit, st->label, opt.dtype)) {
      st->us = e->us;
      st->spread_us = e->spread_us;
      st->uncertain_us = 0;
      st->unstable = e->unstable ? 1 : 0;
      st->confidence = Confidence::kExact;
      st->estimators = 1 << static_cast<int>(Estimator::kMeasured);
    }
    return true;
  }

  std::vector<State> States(int si) {
    const Subgraph& sg = part.subgraphs[si];
    bool cpu_only = false;
    int anchor = sg.anchor >= 0 && g.nodes[sg.anchor].problem ? sg.anchor : -1;
    for (int idx : sg.nodes) {
      const Node& n = g.nodes[idx];
      if (!n.is_known || n.is_control_flow) cpu_only = true;
      if (anchor < 0 && n.problem) anchor = idx;
    }
    std::vector<State> out;
    auto add = [&](State st, const std::string& anchor_name) {
      if (!Cost(si, sg, anchor, anchor_name, &st)) return;
      for (State& o : out)
        if (o.unit == st.unit && o.in == st.in && o.out == st.out) {
          // One state per memory order: the cheaper way to run it (oneDNN's `any` choice and the
          // explicit layout it chose are the same state; it stays marked as `any`'s).
          const bool any = o.from_any || st.from_any;
          if (st.us < o.us) o = st;
          o.from_any = any;
          return;
        }
      out.push_back(std::move(st));
    };
    const bool have_cpu = std::find(units.begin(), units.end(), "cpu") != units.end();
    if (cpu_only) {
      State st = Uniform("cpu", "nchw");
      if (!Cost(si, sg, anchor, "nchw", &st)) {
        st.us = 0;
        st.confidence = Confidence::kRoofline;
      }
      return {st};
    }
    if (anchor >= 0) {
      const Problem& p = *g.nodes[anchor].problem;
      bool measured_anywhere = false;
      for (const auto& u : units) measured_anywhere |= !cost.Layouts(u, p.op(), opt.dtype).empty();
      for (const auto& u : units) {
        std::vector<std::string> names = cost.Layouts(u, p.op(), opt.dtype);
        // Never measured on any unit: roofline on every activation layout of the unit (matmul and
        // the other non-spatial ops only in plain).
        if (!measured_anywhere) names = p.IsSpatial() ? cost.UnitLayouts(u) : std::vector<std::string>{"plain"};
        for (const auto& name : names) {
          State st;
          st.unit = u;
          if (name == "any") {
            // What oneDNN chose, source included (`nchw>nChw16c` for a first convolution): edges
            // into the sub-graph are charged the conversion into the source layout it reads.
            // Asked of the kernel the runtime builds: the fused chain's key (a file of `sweep
            // --model` holds no other), else the anchor's. The anchor alone is often unmeasured
            // there, and its nearest relative of another chain can be a 1x1-pixel convolution for
            // which oneDNN chose nchw: MobileNetV2's `any` priced every depthwise conv in nchw.
            std::string chosen;
            if (fused[si] && fused[si]->nodes.front() == anchor)
              chosen = cost.ChosenLayout(fused[si]->problem.Key(), u, opt.dtype);
            if (chosen.empty()) chosen = cost.ChosenLayout(keys[anchor], u, opt.dtype);
            if (chosen.empty()) continue;
            const auto arrow = chosen.find('>');
            st.in = chosen.substr(0, arrow);
            st.out = arrow == std::string::npos ? chosen : chosen.substr(arrow + 1);
            // A layout of oneDNN's that is none of the unit's (aBcd4b for a 32-channel depthwise
            // conv): no reorder into it was measured and the runtime cannot hold a tensor in it (it
            // fell back to a 1.2 ms loop where `any` measured 98 us). Not a state.
            const std::vector<std::string> own = cost.UnitLayouts(u);
            auto is_own = [&](const std::string& l) {
              return l == "plain" || std::find(own.begin(), own.end(), l) != own.end();
            };
            if (!is_own(st.in) || !is_own(st.out)) continue;
            st.label = chosen;
            st.from_any = true;
          } else if (auto gt = name.find('>'); gt != std::string::npos) {
            st.in = name.substr(0, gt);
            st.out = name.substr(gt + 1);
            st.label = name;
          } else {
            st.in = st.out = st.label = name;
          }
          add(st, name);
        }
      }
    } else {
      for (const auto& u : units) {
        auto ls = cost.UnitLayouts(u);
        if (ls.empty()) ls = {"nchw"};
        for (const auto& l : ls) add(Uniform(u, l), l);
      }
    }
    if (out.empty()) {
      notes.push_back(fmt::format(
          "sub-graph {}: no usable measurement in any state; placed on cpu/nchw by roofline", si));
      State st = Uniform(have_cpu ? "cpu" : units.front(), "nchw");
      st.confidence = Confidence::kRoofline;
      for (int idx : sg.nodes) {
        const Node& n = g.nodes[idx];
        if (auto e = cost.Roofline(NodeFlops(n), NodeBytes(n), st.unit)) st.us += e->us;
      }
      out.push_back(st);
    }
    return out;
  }

  // The conversions one reader of a tensor needs, as the runtime performs them (runtime.cpp, Need):
  // on the producer's unit a reorder to the reader's layout; on another unit a reorder to nchw where
  // the tensor is, a transfer, and a reorder to the reader's layout there. Each step is keyed by what
  // the runtime shares between readers (it keeps one copy per tensor, unit and layout): readers
  // needing the same key pay it once.
  using Step = std::pair<std::string, double>;
  std::vector<Step> Steps(const std::string& u1, const std::string& l1_in, const std::string& u2,
                          const std::string& l2_in, const EdgeX& e) const {
    auto canon = [](const std::string& l) { return PlainLike(l) ? std::string("nchw") : l; };
    const std::string l1 = canon(l1_in), l2 = canon(l2_in);
    std::vector<Step> out;
    auto reorder = [&](const std::string& u, const std::string& from, const std::string& to) {
      out.push_back({fmt::format("reorder {} {}", u, to),
                     cost.Reorder(u, from, to, opt.dtype, e.bytes, e.shape)});
    };
    if (u1 == u2) {
      if (l1 != l2) reorder(u1, l1, l2);
      return out;
    }
    if (l1 != "nchw") reorder(u1, l1, "nchw");
    out.push_back({fmt::format("transfer {}", u2), cost.Transfer(u1, u2, e.bytes)});
    if (l2 != "nchw") reorder(u2, "nchw", l2);
    return out;
  }

  double Transition(const std::string& u1, const std::string& l1, const std::string& u2,
                    const std::string& l2, const EdgeX& e) const {
    double t = 0;
    for (const auto& [key, us] : Steps(u1, l1, u2, l2, e)) t += us;
    return t;
  }

  // Edges grouped by tensor (producer and tensor), in order of first appearance: one group per
  // tensor, its readers (sub-graphs, and the host for a graph output) in edge order.
  static std::vector<std::vector<size_t>> ByTensor(const std::vector<EdgeX>& edges) {
    std::map<std::pair<int, std::string>, size_t> index;
    std::vector<std::vector<size_t>> groups;
    for (size_t k = 0; k < edges.size(); ++k) {
      auto [it, fresh] = index.emplace(std::make_pair(edges[k].from, edges[k].tensor), groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].push_back(k);
    }
    return groups;
  }

  std::vector<EdgeX> Edges() const {
    std::vector<EdgeX> out;
    std::unordered_map<std::string, int> producer_sg;  // tensor -> sub-graph
    for (size_t s = 0; s < part.subgraphs.size(); ++s)
      for (int idx : part.subgraphs[s].nodes)
        for (const auto& t : g.nodes[idx].outputs) producer_sg[t] = static_cast<int>(s);
    auto make = [&](int from, int to, const std::string& tensor, std::vector<int64_t> shape,
                    int64_t bytes_f32) {
      EdgeX e{from, to, tensor};
      auto it = g.tensors.find(tensor);
      if (shape.empty() && it != g.tensors.end()) shape = it->second.shape;
      int64_t elems = 1;
      for (auto d : shape) elems *= d;
      e.bytes = shape.empty() ? bytes_f32 * dsize / 4 : elems * dsize;
      e.shape = shape;
      return e;
    };
    for (const Edge& e : part.edges) {
      if (e.to < 0) continue;  // graph outputs are added below, once each
      auto it = g.tensors.find(e.tensor);
      if (it != g.tensors.end() && it->second.is_constant) continue;
      out.push_back(make(e.from, e.to, e.tensor, e.shape, e.bytes));
    }
    for (const auto& t : g.outputs) {
      auto it = producer_sg.find(t);
      if (it != producer_sg.end()) out.push_back(make(it->second, -1, t, {}, 0));
    }
    return out;
  }
};

std::string Abbreviate(const std::vector<std::string>& ops, size_t width) {
  std::string s;
  for (size_t i = 0; i < ops.size(); ++i) {
    std::string next = (i ? "+" : "") + ops[i];
    if (s.size() + next.size() > width) return s + fmt::format("+{}", ops.size() - i);
    s += next;
  }
  return s;
}

// The runtime under `any` (runtime.cpp): a convolution's kernel picks its layouts, every other op
// runs in the layout of its first activation input, found among the partition's edges.
std::vector<int> AnyFollows(const Graph& g, const Partition& part) {
  std::vector<int> follows(part.subgraphs.size(), -1);
  for (size_t s = 0; s < part.subgraphs.size(); ++s) {
    if (part.subgraphs[s].nodes.empty()) continue;
    const Node& first = g.nodes[part.subgraphs[s].nodes.front()];
    const Kernel k = KernelOf(first.op_type);
    if (k == Kernel::kConv || k == Kernel::kConvTranspose) {
      follows[s] = -2;
      continue;
    }
    for (const auto& in : first.inputs) {
      auto t = g.tensors.find(in);
      if (t == g.tensors.end() || t->second.dtype != "f32") continue;
      auto e = std::find_if(part.edges.begin(), part.edges.end(),
                            [&](const Edge& x) { return x.to == static_cast<int>(s) && x.tensor == in; });
      if (e == part.edges.end()) continue;  // a constant
      follows[s] = e->from;
      break;
    }
  }
  return follows;
}

// A timing with each core's L2 evicted before every repetition (warm) or every cache (cold) prices a
// kernel of a few microseconds as if its data came from the last-level cache or memory; a network small
// enough to stay in cache runs such kernels much faster (paddle_cnn, 38 us in all: its convolutions at
// a median 0.56x their warm times). When such kernels make up most of the plan, say so and name the
// sweep that times them where they run.
constexpr double kSmallKernelUs = 20;

void AddSmallKernelNote(const PlanProblem& pp, const Partition& part, const std::vector<int>& chosen,
                        const CostModel& cost, const PlanOptions& options, Plan* plan) {
  if (cost.CacheMode() == "hot") return;
  int small = 0;
  double small_us = 0, total_us = 0;
  for (size_t s = 0; s < pp.states.size(); ++s) {
    const State& st = pp.states[s][chosen[s]];
    total_us += st.us;
    if (st.us >= kSmallKernelUs) continue;
    if (cost.InNetwork(options.model_instance, part.subgraphs[s].nodes, st.unit, st.label, options.dtype)) continue;
    ++small;
    small_us += st.us;
  }
  if (small == 0 || small_us < 0.5 * total_us) return;
  plan->notes.push_back(fmt::format(
      "{} of {} sub-graphs ({:.0f}% of the predicted kernel time) are priced under {:.0f} us from kernels "
      "timed alone with caches evicted before every repetition: inside a network that stays in cache "
      "kernels this small can run in half that; `layoutdb sweep --model {} --db {} --cache network` times "
      "them there",
      small, pp.states.size(), 100 * small_us / total_us, kSmallKernelUs,
      options.model.empty() ? "MODEL" : options.model, options.db.empty() ? "F" : options.db));
}
}  // namespace

std::string ModelInstance(const std::string& model_hash, const Graph& g) {
  std::string id = model_hash;
  for (const auto& name : g.inputs) {
    auto it = g.tensors.find(name);
    id += fmt::format(" {}:{}", name, it == g.tensors.end() ? "" : fmt::format("{}", fmt::join(it->second.shape, ",")));
  }
  return id;
}

PlanProblem BuildPlanProblem(const Graph& g, const Partition& part, const CostModel& cost,
                             const PlanOptions& options) {
  if (options.dtype != "f32" && options.dtype != "bf16" && options.dtype != "int8")
    throw std::runtime_error(fmt::format("unknown dtype '{}' (use f32, bf16 or int8)", options.dtype));
  Builder b{g, part, cost, options, 4, {}, {}, {}, {}};
  b.dsize = DtypeSize(options.dtype);
  if (cost.Units().empty())
    throw std::runtime_error(fmt::format("database {}: no usable measurement of any unit", options.db));
  if (options.units.empty()) {
    b.units = cost.Units();
  } else {
    for (const auto& u : options.units) {
      if (std::find(cost.Units().begin(), cost.Units().end(), u) == cost.Units().end())
        throw std::runtime_error(fmt::format("unit '{}' has no measurements in database {} (it has: {})",
                                             u, options.db, fmt::join(cost.Units(), ", ")));
      b.units.push_back(u);
    }
  }
  b.keys.resize(g.nodes.size());
  for (const Node& n : g.nodes)
    if (n.problem) b.keys[n.index] = n.problem->Key();

  for (const Subgraph& sg : part.subgraphs) b.fused.push_back(FuseSubgraph(g, sg));
  {
    int with_followers = 0;
    for (const auto& fp : b.fused) with_followers += fp && fp->nodes.size() > 1 ? 1 : 0;
    if (with_followers > 0 && !cost.HasFused())
      b.notes.push_back(fmt::format(
          "the database has no fused measurement (anchor + post-ops): the {} sub-graph{} whose followers "
          "the runtime fuses into the anchor's kernel {} costed operator by operator, as separate "
          "passes; `layoutdb sweep --model` measures the model's fused problems",
          with_followers, with_followers == 1 ? "" : "s", with_followers == 1 ? "is" : "are"));
  }

  PlanProblem pp;
  const size_t n = part.subgraphs.size();
  pp.any_follows = AnyFollows(g, part);
  pp.states.resize(n);
  for (size_t s = 0; s < n; ++s) pp.states[s] = b.States(static_cast<int>(s));
  pp.solve.unary.resize(n);
  for (size_t s = 0; s < n; ++s)
    for (const State& st : pp.states[s]) pp.solve.unary[s].push_back(st.us);
  static const State kHost = Uniform("cpu", "nchw");
  const std::vector<State> host{kHost};
  const std::vector<EdgeX> edges = b.Edges();
  for (const auto& group : Builder::ByTensor(edges)) {
    if (group.size() > 1) {
      // A tensor read by several sub-graphs (or also a graph output): one shared term, each
      // conversion once per distinct (unit, layout) its readers need, each transfer once per unit.
      const EdgeX& first = edges[group.front()];
      SolveProblem::Shared sh;
      sh.from = first.from;
      const auto& fs = first.from < 0 ? host : pp.states[first.from];
      sh.step_cost.assign(fs.size(), {});
      std::map<std::string, int> ids;
      for (size_t k : group) {
        const EdgeX& e = edges[k];
        sh.readers.push_back(e.to);
        const auto& cs = e.to < 0 ? host : pp.states[e.to];
        std::vector<std::vector<int>> table(fs.size() * cs.size());
        for (size_t a = 0; a < fs.size(); ++a)
          for (size_t c = 0; c < cs.size(); ++c)
            for (const auto& [key, us] : b.Steps(fs[a].unit, fs[a].out, cs[c].unit, cs[c].in, e)) {
              const int id = ids.emplace(key, static_cast<int>(ids.size())).first->second;
              if (sh.step_cost[a].size() <= static_cast<size_t>(id)) sh.step_cost[a].resize(id + 1, 0.0);
              sh.step_cost[a][id] = us;
              table[a * cs.size() + c].push_back(id);
            }
        sh.steps.push_back(std::move(table));
      }
      for (auto& v : sh.step_cost) v.resize(ids.size(), 0.0);
      pp.solve.shared.push_back(std::move(sh));
      continue;
    }
    const EdgeX& e = edges[group.front()];
    if (e.from < 0 && e.to < 0) continue;
    if (e.from < 0 || e.to < 0) {  // host side: a unary term
      const int s = e.from < 0 ? e.to : e.from;
      for (size_t k = 0; k < pp.states[s].size(); ++k) {
        const State& st = pp.states[s][k];
        pp.solve.unary[s][k] += e.from < 0 ? b.Transition("cpu", "nchw", st.unit, st.in, e)
                                           : b.Transition(st.unit, st.out, "cpu", "nchw", e);
      }
      continue;
    }
    SolveProblem::Pair pr{e.from, e.to, {}};
    for (const State& a : pp.states[e.from])
      for (const State& c : pp.states[e.to]) pr.cost.push_back(b.Transition(a.unit, a.out, c.unit, c.in, e));
    pp.solve.pairs.push_back(std::move(pr));
  }
  pp.notes = std::move(b.notes);
  return pp;
}

std::vector<int> BaselineStates(const PlanProblem& pp, const std::string& layout, bool any,
                                int* fallbacks) {
  std::vector<int> st(pp.states.size(), -1);
  auto pick = [&](size_t s) {
    const auto& sts = pp.states[s];
    auto find = [&](auto pred) -> int {
      int best = -1;
      for (size_t k = 0; k < sts.size(); ++k)
        if (sts[k].unit == "cpu" && pred(sts[k]) && (best < 0 || sts[k].us < sts[best].us))
          best = static_cast<int>(k);
      return best;
    };
    int k = -1;
    if (!any) {
      k = find([&](const State& st) { return Same(st.in, layout) && Same(st.out, layout); });
      if (k < 0) k = find([&](const State& st) { return Same(st.out, layout); });
    } else if (s >= pp.any_follows.size() || pp.any_follows[s] == -2) {
      k = find([](const State& st) { return st.from_any; });
    } else {
      const int from = pp.any_follows[s];
      const std::string l = from >= 0 && st[from] >= 0 ? pp.states[from][st[from]].out : "nchw";
      k = find([&](const State& st) { return Same(st.in, l) && Same(st.out, l); });
    }
    if (k >= 0) return k;
    ++*fallbacks;
    k = find([](const State& st) { return PlainLike(st.in) && PlainLike(st.out); });
    if (k < 0) k = find([](const State&) { return true; });
    return k < 0 ? static_cast<int>(std::min_element(sts.begin(), sts.end(), [](auto& x, auto& y) {
                                       return x.us < y.us;
                                     }) - sts.begin())
                 : k;
  };
  for (size_t s = 0; s < st.size(); ++s) st[s] = pick(s);  // topological: a producer before its readers
  return st;
}

SolveResult SolvePlan(const PlanProblem& pp) {
  std::vector<std::vector<std::string>> labels(pp.states.size());
  for (size_t s = 0; s < pp.states.size(); ++s)
    for (const State& st : pp.states[s]) labels[s].push_back(st.unit + "/" + st.label);
  return Solve(pp.solve, labels);
}

Plan BuildPlan(const Graph& g, const Partition& part, const CostModel& cost, const PlanOptions& options) {
  PlanProblem pp = BuildPlanProblem(g, part, cost, options);
  SolveResult r = SolvePlan(pp);

  Plan plan;
  plan.model = options.model;
  plan.db = options.db;
  plan.dtype = options.dtype;
  plan.units = options.units.empty() ? cost.Units() : options.units;
  plan.solver = r.method;
  plan.notes = g.notes;
  if (!std::isfinite(r.total))
    throw std::runtime_error(fmt::format(
        "model {}: no feasible plan on units {} (a unit without measured transfers cannot be reached)",
        options.model, fmt::join(plan.units, ", ")));
  plan.total_predicted_us = r.total;
  const int dsize = DtypeSize(options.dtype);
  for (size_t s = 0; s < pp.states.size(); ++s) {
    const Subgraph& sg = part.subgraphs[s];
    const State& st = pp.states[s][r.state[s]];
    PlanSubgraph ps;
    ps.index = static_cast<int>(s);
    ps.nodes = sg.nodes;
    for (int idx : sg.nodes) {
      const Node& nd = g.nodes[idx];
      ps.ops.push_back(nd.op_type);
      ps.flops += nd.problem ? nd.problem->Flops() : nd.flops;
      ps.bytes += nd.problem ? nd.problem->Bytes(dsize) : nd.bytes * dsize / 4.0;
      if (!nd.is_known)
        plan.notes.push_back(fmt::format("node {} ({} '{}'): unknown operator, placed on cpu/nchw",
                                         idx, nd.op_type, nd.name));
      if (nd.is_control_flow)
        plan.notes.push_back(fmt::format("node {} ({} '{}'): control flow, kept opaque on cpu/nchw",
                                         idx, nd.op_type, nd.name));
    }
    ps.intensity = ps.bytes > 0 ? ps.flops / ps.bytes : 0;
    ps.node_count = static_cast<int>(sg.nodes.size());
    ps.unit = st.unit;
    ps.layout = st.label;
    ps.predicted_us = st.us;
    ps.confidence = ConfidenceName(st.confidence);
    if (const auto fp = FuseSubgraph(g, sg)) {
      ps.fused_key = fp->problem.Key();
      ps.fused_cost = st.fused_cost;
      if (st.fused_cost == "separate" && cost.HasFused())
        plan.notes.push_back(fmt::format(
            "sub-graph {} ({}): {} was not measured fused and a post-op of it has no measured marginal "
            "cost on {}: costed operator by operator",
            s, Abbreviate(ps.ops, 40), ps.fused_key, st.unit));
    }
    if (st.confidence == Confidence::kRoofline)
      plan.notes.push_back(fmt::format("sub-graph {} ({}): roofline estimate, nothing close measured",
                                       s, Abbreviate(ps.ops, 40)));
    if (st.confidence == Confidence::kInterpolated) {
      std::string by;
      for (Estimator e : {Estimator::kKnn, Estimator::kLocal, Estimator::kLearned})
        if (st.estimators & (1 << static_cast<int>(e))) by += std::string(by.empty() ? "" : " and ") + EstimatorName(e);
      plan.notes.push_back(fmt::format("sub-graph {} ({}): interpolated by {}", s, Abbreviate(ps.ops, 40),
                                       by.empty() ? "knn" : by));
    }
    // States no sweep measured that this machine's library would run with its reference loop (the
    // fused kernel, or its anchor alone): one line per reason.
    std::set<std::string> keys;
    if (!ps.fused_key.empty()) keys.insert(ps.fused_key);
    for (int idx : sg.nodes)
      if (g.nodes[idx].problem) keys.insert(g.nodes[idx].problem->Key());
    std::map<std::string, std::set<std::string>> refused;  // reason -> unit/layout
    for (const auto& key : keys)
      for (const auto& [state, why] : cost.Refusals(key, options.dtype)) refused[why].insert(state);
    for (const auto& [why, states] : refused)
      plan.notes.push_back(fmt::format("sub-graph {} ({}): not planned in {}: {}", s, Abbreviate(ps.ops, 40),
                                       fmt::join(states, ", "), why));
    for (const State& c : pp.states[s])
      ps.candidates.push_back({c.unit, c.label, c.us, ConfidenceName(c.confidence)});
    std::sort(ps.candidates.begin(), ps.candidates.end(),
              [](const PlanCandidate& a, const PlanCandidate& b) { return a.predicted_us < b.predicted_us; });
    plan.subgraphs.push_back(std::move(ps));
  }
  // Transitions of the chosen assignment, recomputed per tensor for the listing: a reader lists what
  // it adds (a conversion an earlier reader of the same tensor already paid for is not listed again),
  // so the listing sums to what the solve charged.
  Builder b{g, part, cost, options, 4, {}, {}, {}, {}};
  b.dsize = dsize;
  const std::vector<EdgeX> edges = b.Edges();
  static const State kHost = Uniform("cpu", "nchw");
  for (const auto& group : Builder::ByTensor(edges)) {
    std::set<std::string> paid;
    for (size_t k : group) {
      const EdgeX& e = edges[k];
      if (e.from < 0 && e.to < 0) continue;
      const State& a = e.from < 0 ? kHost : pp.states[e.from][r.state[e.from]];
      const State& c = e.to < 0 ? kHost : pp.states[e.to][r.state[e.to]];
      double us = 0;
      for (const auto& [key, step_us] : b.Steps(a.unit, a.out, c.unit, c.in, e))
        if (paid.insert(key).second) us += step_us;
      if (us <= 0) continue;
      plan.transitions.push_back({e.from, e.to, e.tensor, a.unit, a.out, c.unit, c.in,
                                  a.unit == c.unit ? "reorder" : "transfer", e.bytes, us});
    }
  }
  for (const auto& note : pp.notes) plan.notes.push_back(note);

  // Decisions that rest on less than the measurements' spread: moving one sub-graph to its nearest
  // other state changes the plan's total (transitions included) by less than the two states' spreads
  // together. The choice is then a toss-up on this machine, not a measured difference: say so.
  {
    int ties = 0, unstable = 0;
    constexpr int kMaxListed = 10;
    std::vector<int> st = r.state;
    for (size_t s = 0; s < pp.states.size(); ++s) {
      const State& chosen = pp.states[s][r.state[s]];
      unstable += chosen.unstable;
      double best_delta = kInf;
      int best_k = -1;
      for (size_t k = 0; k < pp.states[s].size(); ++k) {
        if (static_cast<int>(k) == r.state[s]) continue;
        st[s] = static_cast<int>(k);
        const double delta = Evaluate(pp.solve, st) - r.total;
        if (std::isfinite(delta) && std::fabs(delta) < std::fabs(best_delta)) best_delta = delta, best_k = static_cast<int>(k);
      }
      st[s] = r.state[s];
      if (best_k < 0) continue;
      const State& alt = pp.states[s][best_k];
      const double spread = chosen.spread_us + alt.spread_us;
      if (!(spread > 0 && std::fabs(best_delta) < spread)) continue;
      if (++ties > kMaxListed) continue;
      plan.notes.push_back(fmt::format(
          "sub-graph {} ({}): {}/{} over {}/{} by {:.1f} us ({:.1f}%), less than their measurements' "
          "spread (+-{:.1f} us): a toss-up, not a measured difference",
          s, Abbreviate(plan.subgraphs[s].ops, 40), chosen.unit, chosen.label, alt.unit, alt.label,
          best_delta, chosen.us > 0 ? 100 * best_delta / chosen.us : 0.0, spread));
    }
    if (ties > 0)
      plan.notes.push_back(fmt::format(
          "{} of {} sub-graph decisions rest on a difference smaller than the measurements' spread{}",
          ties, pp.states.size(), ties > kMaxListed ? fmt::format(" (the first {} listed)", kMaxListed) : ""));
    if (unstable > 0)
      plan.notes.push_back(fmt::format(
          "{} operator estimates of the plan come from measurements that did not reach their stability "
          "target: their medians are used, their intervals decide the toss-ups above",
          unstable));
  }
  AddSmallKernelNote(pp, part, r.state, cost, options, &plan);

  // Baselines: every sub-graph on the cpu in one layout, where it can run in it; otherwise (a matmul
  // has only `plain`, a 3-channel conv has no usable blocked kernel) in the nearest state: the mixed
  // candidate writing that layout, else nchw/plain, else the cheapest cpu state. `any`: as the runtime
  // runs it (BaselineStates).
  const bool have_cpu = std::find(plan.units.begin(), plan.units.end(), "cpu") != plan.units.end();
  auto add_baseline = [&](const std::string& name, const std::vector<int>& st, int fallbacks) {
    const double t = Evaluate(pp.solve, st);
    if (!std::isfinite(t)) {  // e.g. a unit whose reorders or transfers were never measured
      plan.notes.push_back(fmt::format("baseline {}: infeasible (a transition it needs was not measured)", name));
      return;
    }
    plan.baselines.push_back({name, t, r.total > 0 ? t / r.total : 0, fallbacks});
  };
  if (have_cpu) {
    for (const char* layout : {"nchw", "nhwc", "nChw16c", "any"}) {
      const bool any = std::string(layout) == "any";
      int fallbacks = 0;
      add_baseline(fmt::format("cpu:{}", layout), BaselineStates(pp, layout, any, &fallbacks),
                   fallbacks);
    }
  }
  std::vector<int> local(pp.states.size());
  for (size_t s = 0; s < local.size(); ++s) {
    const auto& sts = pp.states[s];
    local[s] = static_cast<int>(std::min_element(sts.begin(), sts.end(), [](auto& x, auto& y) {
                                  return x.us < y.us;
                                }) - sts.begin());
  }
  add_baseline("local_best", local, 0);
  plan.notes.push_back(fmt::format("solver: {}{}", r.method,
                                   r.exact ? " (optimal)" : fmt::format(", {} descent rounds", r.rounds)));
  return plan;
}

}  // namespace layoutdb::selector
