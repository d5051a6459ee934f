#include "cost.h"
#include "op_table.h"

#include "learned.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <tuple>

namespace layoutdb::selector {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Neighbours the interpolation takes the median of.
constexpr size_t kNeighbours = 3;

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) {
    if (!s.empty()) s += '|';
    s += p;
  }
  return s;
}

std::string Normal(const std::string& layout) { return layout == "plain" ? "nchw" : layout; }

// A problem's post-op chain as text ("sum+relu"; empty for a plain problem): fused problems form
// families of their own, one per chain, apart from their anchor's.
std::string Chain(const Problem& p) {
  std::string s;
  for (const auto& po : p.post_ops()) s += (s.empty() ? "" : "+") + po;
  return s;
}

// A binary's broadcast form (bc1, bc2) is a family of its own: a per-channel operand runs other
// kernels than a full-size one (oneDNN 2.6 in nChw8c: its reference loop), so neither interpolates
// the other. So is a depthwise convolution (one group per input channel, `dw`): oneDNN runs it with
// kernels of its own, memory-bound where a dense convolution is compute-bound. Costed from dense
// neighbours on a file without depthwise ones, MobileNetV2's came out 2.3x under (scaled by FLOPs)
// or 6x over (by rooflines); held-out points of two files of model problems: kNN within 10% 38.7% /
// 36.5% as one family, 40.9% / 38.4% apart.
bool IsDepthwise(const Problem& p) {
  return p.op() == "conv2d" && p.Get("g") > 1 && p.Get("g") == p.Get("ic");
}

std::string FamilyKey(const std::string& unit, const std::string& layout, const std::string& dtype,
                      const Problem& p) {
  std::string form = p.op() == "binary" && p.Get("bc") != 0 ? fmt::format("bc{}", p.Get("bc")) : "";
  if (IsDepthwise(p)) form = "dw";
  return Join({unit, layout, dtype, p.op(), p.alg() + form, Chain(p)});
}

// A convolution's kernels compute in blocks of channels. In a blocked layout (nChw8c, nChw16c,
// nc4hw4) the tensors themselves are padded to the block, input and output channels alike; in a plain
// one (nchw, nhwc, oneDNN's `any`) oneDNN's brgemm and jit kernels hold 16 output channels in an
// AVX-512 vector of floats and loop over input channels one by one. A 1x1 convolution with 40 output
// channels does the work of 48 in nhwc (on this Xeon 6.6 ns per kFLOP against 5.0 for 32 channels,
// the same input). kNN scales a convolution's neighbour by FLOPs with the channels so rounded up (per
// group; a depthwise convolution's groups are its channels and its vector lanes). Leave-one-out on
// four files of this machine (a default sweep twice, two files of model problems; bench_select):
// conv2d within 10% +2.6, +2.5, +4.8, +4.0 points by kNN. Padding input channels in plain layouts too
// made a 3-channel first convolution 5x its time (paddle_cnn: 36 us predicted, 7.5 run) and did worse
// on all four files; 16 channels in every layout worse again. A block chosen per family or per (unit,
// op) by leave-one-out (1 to 64, with and without a fitted law of FLOPs and bytes) fitted the
// families' noise: +6.5 points when the points judged had helped choose, -1.2 to +1.8 when each half
// of the points was judged by the other half's choice. Memory-bound ops and matmul keep their sizes
// (padding gained them nothing).
constexpr int64_t kPlainChannelBlock = 16;

int64_t RoundUp(int64_t v, int64_t block) { return (v + block - 1) / block * block; }

// What kNN scales a neighbour by (Interpolate): bytes for memory-bound ops, FLOPs otherwise, with a
// convolution's channels padded to its layout's block (a mixed candidate's: its destination's).
// A deconvolution scales by the output it writes alone: oneDNN runs it as a convolution's
// backward-data pass, whose time follows its output, hardly its input or FLOPs (on a 2-vCPU EPYC,
// 2x2 stride 2 on 40x40, nChw16c: 16->16 channels 111 us, 64->16 134, 64->64 554). Leave-one-out on
// that machine's default sweep (bench_select): deconvolutions within 10% by kNN 46.0% scaled by all
// the bytes moved (input, output, weights), 61.6% by the output (median error 12.5% -> 6.3%), 60.1%
// by the output and weights, 58.6% with a quarter of the input too. Each output pixel sums
// kh*kw/(sh*sw) taps (4 for a 4x4 stride-2 upsampling, 1 for 2x2 stride 2), and a blocked layout
// writes its channels padded to the block (a 1-channel output in nChw16c as 16: 1549 us where 16
// channels take 1799): 61.6 -> 67.2% on that sweep, 48.5 -> 54.0% on a noisy one (the 4x4 ones
// were 75-85% under). Padding a plain layout's channels to 16 too gained 0.5 and 1.6 points more,
// with 1-channel outputs 5x over in nhwc: not kept.
double ScaledWork(const Problem& p, const std::string& dtype, const std::string& layout) {
  const size_t arrow = layout.find('>');
  const int64_t blocked = LayoutChannelBlock(arrow == std::string::npos ? layout : layout.substr(arrow + 1));
  if (p.op() == "deconv") {
    const int64_t oc = std::max<int64_t>(1, p.Get("oc"));
    const double taps = static_cast<double>(p.Get("kh") * p.Get("kw")) /
                        static_cast<double>(std::max<int64_t>(1, p.Get("sh") * p.Get("sw")));
    return static_cast<double>(p.DstElems()) * DtypeSize(dtype) * std::max(1.0, taps) *
           (blocked > 1 ? static_cast<double>(RoundUp(oc, blocked)) / static_cast<double>(oc) : 1.0);
  }
  if (CostModel::IsMemoryBound(p.op())) return p.Bytes(DtypeSize(dtype));
  if (p.op() != "conv2d") return p.Flops();
  const int64_t block = blocked > 1 ? blocked : kPlainChannelBlock;
  const int64_t ic = p.Get("ic"), oc = p.Get("oc"), g = p.Get("g");
  double scale = 1;
  if (g > 1 && g == ic)
    scale = static_cast<double>(RoundUp(g, block)) / static_cast<double>(g);
  else if (g >= 1)  // a plain layout's input channels are a loop, not vector lanes: not padded
    scale = static_cast<double>(RoundUp(ic / g, blocked) * RoundUp(oc / g, block)) /
            static_cast<double>((ic / g) * (oc / g));
  return p.Flops() * scale;
}

// A compute kernel's weight elements: a convolution's or inner product's weights, a matmul's second
// operand (a linear layer's weights, or attention's keys and values); 0 for other ops. What
// ChooseWeightCost prices on top of FLOPs.
double WeightElems(const Problem& p) {
  if (p.op() == "ip") return static_cast<double>(p.Get("ic") * p.Get("oc"));
  if (p.op() == "matmul") return static_cast<double>(p.Get("mb") * p.Get("k") * p.Get("n"));
  if (p.op() != "conv2d") return 0;
  const int64_t g = std::max<int64_t>(1, p.Get("g"));
  return static_cast<double>(p.Get("oc")) * static_cast<double>(p.Get("ic") / g) *
         static_cast<double>(p.Get("kh") * p.Get("kw"));
}

bool IsBlocked(const std::string& layout) { return LayoutChannelBlock(layout) > 1; }

// N, C, H, W of a transition's shape (`mb1c64h56w56`); empty when it is not one. Parsed as the
// sweep specs' shapes are (profiler's ParseShape): an element-wise problem's parameters.
std::vector<int64_t> ParseShape4(const std::string& s) {
  try {
    const Problem p = Problem::Parse("eltwise:relu:" + s);
    return {p.Get("mb"), p.Get("c"), p.Get("h"), p.Get("w")};
  } catch (const std::invalid_argument&) {
    return {};
  }
}

// The bytes a reorder touches, what its curve is keyed by: a blocked layout's channels padded to its
// block. A 1-channel 640x640 tensor is 16 times its size in nChw16c (1618 us from nChw16c to nhwc on
// a 2-vCPU EPYC, where a 16-channel 160x160 one of the same 1.6 MB took 41): by bytes alone, the
// two were one point of the curve, their mean.
double ReorderBytes(const std::string& src, const std::string& dst, double bytes, const std::vector<int64_t>& shape) {
  const int64_t block = std::max(LayoutChannelBlock(src), LayoutChannelBlock(dst));
  if (shape.size() != 4 || block <= 1 || shape[1] <= 0) return bytes;
  const int64_t c = shape[1], padded = (c + block - 1) / block * block;
  return bytes * static_cast<double>(padded) / static_cast<double>(c);
}

bool IsStructural(const std::string& name) {
  return name == "kh" || name == "kw" || name == "sh" || name == "sw" || name == "dh" ||
         name == "dw" || name == "g" || name == "ax";
}

}  // namespace

double ComparableUs(const db::Stats& s) {
  return s.host_median_us && *s.host_median_us > 0 ? *s.host_median_us : s.median_us;
}

bool IsUnstable(const db::Stats& s) { return s.stable ? !*s.stable : s.rel_ci > kWideRelCi; }

double UncertainUs(const Estimate& e) {
  if (e.confidence == Confidence::kExact) return 0;
  const double sd = e.confidence == Confidence::kRoofline ? kRooflineLogSd : e.log_sd;
  return e.us * std::expm1(sd);
}

const char* EstimatorName(Estimator e) {
  switch (e) {
    case Estimator::kMeasured: return "measured";
    case Estimator::kKnn: return "knn";
    case Estimator::kLearned: return "learned";
    case Estimator::kLocal: return "local";
    case Estimator::kRoofline: return "roofline";
  }
  return "roofline";
}

const char* ConfidenceName(Confidence c) {
  switch (c) {
    case Confidence::kExact: return "exact";
    case Confidence::kInterpolated: return "interpolated";
    case Confidence::kRoofline: return "roofline";
  }
  return "roofline";
}

bool CostModel::IsMemoryBound(const std::string& op) { return IsMemoryBoundFamily(op); }

// Features: log(1 + v) of every integer parameter of the key, so that distances compare ratios
// (56 vs 28 is as far as 28 vs 14). Structural parameters (kernel, stride, dilation, groups, axis)
// weigh 3x: a 1x1 and a 3x3 convolution, or a depthwise and a dense one, run different kernels and
// must not stand in for each other while a problem of the same structure exists. A depthwise
// convolution's groups are its channels (its family holds depthwise ones only), so they weigh
// nothing: at 3x they made 96 vs 384 channels four times as far as 56 vs 112 pixels, and the
// nearest of a 384-channel 56x56 convolution were 28x28 ones, in cache where it is not (-42%).
// Leave-one-out on two default sweeps of this EPYC (one quiet, one noisy): depthwise points within
// 10% by kNN 55.6 -> 60.5% and 49.2 -> 57.9%.
std::vector<double> ProblemFeatures(const Problem& p) {
  const bool depthwise = IsDepthwise(p);
  std::vector<double> f;
  f.reserve(p.params().size());
  for (const auto& [name, v] : p.params()) {
    const double weight = depthwise && name == "g" ? 0.0 : IsStructural(name) ? 3.0 : 1.0;
    f.push_back(weight * std::log1p(static_cast<double>(v)));
  }
  return f;
}

namespace {
// Squared Euclidean distance of two feature vectors of the same length.
double SquaredDistance(const std::vector<double>& a, const std::vector<double>& b) {
  double d2 = 0;
  for (size_t i = 0; i < a.size(); ++i) d2 += (a[i] - b[i]) * (a[i] - b[i]);
  return d2;
}
}  // namespace

namespace {
// Linear in log-log between the two nearest of `points` (sorted by x, strictly inside their range):
// what a measured curve of time or rate by size reads between its sizes.
double LogLogBetween(const std::vector<std::pair<double, double>>& points, double x) {
  auto hi = std::lower_bound(points.begin(), points.end(), std::make_pair(x, -kInf));
  auto lo = hi - 1;
  const double t = (std::log(x) - std::log(lo->first)) / (std::log(hi->first) - std::log(lo->first));
  return std::exp(std::log(lo->second) + t * (std::log(hi->second) - std::log(lo->second)));
}
}  // namespace

double CostModel::Curve::At(double bytes) const {
  if (points.empty()) return kInf;
  if (bytes <= points.front().first) return points.front().second;  // overhead-dominated floor
  if (bytes >= points.back().first)  // beyond the largest size measured: linear in bytes
    return points.back().second * bytes / points.back().first;
  return LogLogBetween(points, bytes);
}

CostModel CostModel::Load(const std::string& db_path, const CostModelOptions& options) {
  auto db = db::Database::Open(db_path, db::Mode::kReadOnly);
  return CostModel(db, options);
}

CostModel::CostModel(CostModel&&) noexcept = default;
CostModel& CostModel::operator=(CostModel&&) noexcept = default;
CostModel::~CostModel() = default;

CostModel::CostModel(db::Database& db, const CostModelOptions& options)
    : options_(options), mutex_(std::make_unique<std::mutex>()) {
  // Units of one target: a merged file may hold several machines; the selector plans for the most
  // recently added one.
  const int64_t target = db.PlannedTargetId();
  std::vector<db::UnitRow> mine = db.Units(target);
  std::map<int64_t, int> unit_index;  // db id -> index into units_
  std::sort(mine.begin(), mine.end(), [](const db::UnitRow& a, const db::UnitRow& b) {
    if ((a.name == "cpu") != (b.name == "cpu")) return a.name == "cpu";
    return a.name < b.name;
  });
  std::vector<int64_t> ids;
  for (const auto& u : mine) {
    unit_index[u.id] = static_cast<int>(ids.size());
    ids.push_back(u.id);
  }
  std::vector<std::string> names;
  for (const auto& u : mine) names.push_back(u.name);
  stats_.assign(names.size(), {});
  std::vector<std::set<std::string>> layouts_of(names.size());
  std::vector<bool> has_data(names.size(), false);
  std::vector<double> min_us(names.size(), kInf);

  // Problems, for FLOPs and bytes and the parsed parameters.
  std::unordered_map<int64_t, const db::ProblemRow*> problem_by_id;
  auto problems = db.Problems();
  for (const auto& p : problems) problem_by_id[p.id] = &p;
  std::unordered_map<int64_t, Problem> parsed;

  for (const auto& m : db.Measurements()) {
    auto ui = unit_index.find(m.unit_id);
    auto pi = problem_by_id.find(m.problem_id);
    if (ui == unit_index.end() || pi == problem_by_id.end()) continue;
    const int u = ui->second;
    const db::ProblemRow& pr = *pi->second;
    const bool usable = m.status == "ok" && !m.is_reference && m.stats && m.stats->median_us > 0;
    Row row{u, m.layout, m.dtype, m.chosen_layout, m.impl, 0, usable};
    row.reference = m.is_reference || m.reason.find("has only its reference kernel") != std::string::npos;
    if (usable) {
      row.us = ComparableUs(*m.stats);
      row.unstable = IsUnstable(*m.stats);
      row.spread_us = m.stats->rel_ci * row.us;
    }
    rows_[pr.key].push_back(row);
    if (!usable) {
      // Remembered for NearestIsUnusable: a problem measured with no usable kernel in a layout (only
      // oneDNN's reference loop, unsupported, failed) says its neighbours may have none either.
      try {
        const Problem p = Problem::Parse(pr.key);
        unusable_[FamilyKey(names[u], m.layout, m.dtype, p)].push_back(ProblemFeatures(p));
      } catch (const std::invalid_argument&) {
      }
      continue;
    }
    has_data[u] = true;
    auto it = parsed.find(pr.id);
    if (it == parsed.end()) it = parsed.emplace(pr.id, Problem::Parse(pr.key)).first;
    const Problem& p = it->second;
    const double us = row.us;
    const double bytes = p.Bytes(DtypeSize(m.dtype));
    Family& fam = families_[FamilyKey(names[u], m.layout, m.dtype, p)];
    if (fam.members.empty()) fam.unit = names[u], fam.layout = m.layout, fam.dtype = m.dtype, fam.op = p.op(), fam.alg = p.alg();
    if (!p.post_ops().empty()) has_fused_ = true, fam.fused = true;
    fam.memory_bound = IsMemoryBound(p.op());
    const double scaled = ScaledWork(p, m.dtype, m.layout);
    fam.members.push_back({pr.key, ProblemFeatures(p), p.Flops(), bytes, us, m.stats->rel_ci, m.impl, scaled,
                           scaled, WeightElems(p)});
    auto& ls = layouts_[Join({names[u], p.op(), m.dtype})];
    if (std::find(ls.begin(), ls.end(), m.layout) == ls.end()) ls.push_back(m.layout);
    if (m.layout.find('>') == std::string::npos && m.layout != "any" && m.layout != "plain")
      layouts_of[u].insert(m.layout);
    min_us[u] = std::min(min_us[u], us);
    UnitStats& st = stats_[u];
    // Every compute kernel's rate is a lower bound of the unit's peak, fused ones (anchor + post-ops)
    // too: a model's own file (sweep --model) may have no other. paddle_cnn's holds only fused
    // convolutions on PoCL besides a 640-FLOP matmul; from that alone the peak was 29 FLOPs per us,
    // and a roofline priced its residual convolution there at 41 ms (PoCL ran the network in 0.3 ms).
    if (p.op() == "conv2d" || p.op() == "matmul" || p.op() == "ip")
      st.peak_flops_per_us = std::max(st.peak_flops_per_us, p.Flops() / us);
    if (p.op() == "eltwise" || p.op() == "binary")
      st.bytes_per_us = std::max(st.bytes_per_us, bytes / us);
  }
  for (auto& [k, v] : layouts_) std::sort(v.begin(), v.end());
  // Each family's fixed overhead: the intercept L of t = L + b * size fitted by least squares on
  // relative error (weights 1/t^2, so small problems count as much as large ones), clamped to
  // [0, smallest time of the family]. Only where the sizes span a factor of 4 (kMaxReach): between
  // sizes that hardly differ the intercept is the spread of their times, not a fixed cost (ResNet's
  // four residual 1x1 convolutions, all 0.10 GFLOP, 283-426 us, gave 283 us, and a 1.2 MFLOP
  // convolution that runs in 6 us was costed 283). Such a family uses the unit's launch time.
  for (auto& [unused, fam] : families_) FitOverhead(&fam);

  // A model's own sub-graphs timed in its network (schema 8).
  for (const auto& r : db.NetworkTimes()) {
    auto ui = unit_index.find(r.unit_id);
    if (ui == unit_index.end()) continue;
    Estimate e;
    e.us = r.median_us;
    e.spread_us = r.rel_ci * r.median_us;
    e.unstable = r.rel_ci > kWideRelCi;
    network_[r.model + "|" + r.nodes + "|" + names[ui->second] + "|" + r.layout + "|" + r.dtype] = e;
  }

  // The host's streaming read rate beyond the last-level cache: the median of the target's sweeps'
  // memory calibrations (one thread summing a window of a buffer twice the LLC, read again only after
  // the whole buffer). It bounds the units that read host memory: the cpu, and OpenCL devices of type
  // cpu (PoCL).
  {
    std::set<int64_t> sweeps;
    int64_t newest = -1;
    for (const auto& sw : db.Sweeps()) {
      if (sw.target_id != target) continue;
      sweeps.insert(sw.id);
      if (sw.id > newest && !sw.cache_mode.empty()) newest = sw.id, cache_mode_ = sw.cache_mode;
    }
    std::vector<double> rates;
    for (const auto& c : db.Calibrations())
      if (c.kernel == "memory" && c.median_us > 0 && c.work > 0 && sweeps.count(c.sweep_id))
        rates.push_back(c.work / c.median_us);
    if (!rates.empty()) {
      std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
      for (size_t u = 0; u < mine.size(); ++u) {
        bool host_memory = mine[u].kind == "cpu";
        try {
          host_memory = host_memory || nlohmann::json::parse(mine[u].properties).value("device_type", "") == "cpu";
        } catch (const nlohmann::json::exception&) {
        }
        if (host_memory) stats_[u].stream_bytes_per_us = rates[rates.size() / 2];
      }
    }
  }
  for (const auto& t : db.Transitions()) {
    auto ui = unit_index.find(t.unit_id);
    if (ui == unit_index.end() || t.status != "ok" || !t.stats || t.stats->median_us <= 0) continue;
    const int u = ui->second;
    const double us = ComparableUs(*t.stats);
    const std::string src = Normal(t.src_layout), dst = Normal(t.dst_layout);
    const std::vector<int64_t> shape = ParseShape4(t.shape);
    reorders_[Join({names[u], src, dst, t.dtype})].points.emplace_back(
        ReorderBytes(src, dst, static_cast<double>(t.bytes), shape), us);
    if (!shape.empty()) reorder_shapes_[Join({names[u], src, dst, t.dtype, t.shape})] = us;
    layouts_of[u].insert(Normal(t.src_layout));
    layouts_of[u].insert(Normal(t.dst_layout));
    // A reorder reads and writes the tensor once.
    stats_[u].bytes_per_us = std::max(stats_[u].bytes_per_us, 2.0 * t.bytes / us);
  }
  for (const auto& t : db.Transfers()) {
    auto si = unit_index.find(t.src_unit_id), di = unit_index.find(t.dst_unit_id);
    if (si == unit_index.end() || di == unit_index.end() || t.status != "ok" || !t.stats ||
        t.stats->median_us <= 0)
      continue;
    const std::string& device = names[si->second] == "cpu" ? names[di->second] : names[si->second];
    transfers_[Join({device, t.method})].points.emplace_back(static_cast<double>(t.bytes),
                                                              ComparableUs(*t.stats));
  }
  // Several shapes of one size (padded bytes, for reorders): keep their mean, so the curve is a function
  // of it; a shape measured itself is looked up first (reorder_shapes_).
  auto finish = [](Curve& c) {
    std::sort(c.points.begin(), c.points.end());
    std::vector<std::pair<double, double>> merged;
    for (size_t i = 0; i < c.points.size();) {
      size_t j = i;
      double sum = 0;
      while (j < c.points.size() && c.points[j].first == c.points[i].first) sum += c.points[j++].second;
      merged.emplace_back(c.points[i].first, sum / static_cast<double>(j - i));
      i = j;
    }
    c.points = std::move(merged);
  };
  for (auto& [k, c] : reorders_) finish(c);
  for (auto& [k, c] : transfers_) finish(c);

  // Keep only units that measured something; cpu first.
  std::vector<int> remap(names.size(), -1);
  for (size_t u = 0; u < names.size(); ++u) {
    if (!has_data[u]) continue;
    remap[u] = static_cast<int>(units_.size());
    units_.push_back(names[u]);
    // The smallest time measured on the unit bounds its per-op launch overhead from above.
    stats_[units_.size() - 1] = stats_[u];
    stats_[units_.size() - 1].launch_us = min_us[u];
    unit_layouts_.emplace_back(layouts_of[u].begin(), layouts_of[u].end());
  }
  stats_.resize(units_.size());
  for (auto& [key, rows] : rows_) {
    std::vector<Row> kept;
    for (auto& r : rows)
      if (remap[r.unit] >= 0) {
        r.unit = remap[r.unit];
        kept.push_back(r);
      }
    rows = std::move(kept);
  }
  ChooseWeightCost();
  ChooseRateCurve();
  ChooseEstimators();
  FitMarginals();
}

namespace {
// An activation post-op (an eltwise algorithm) runs on the output in registers, as every other one
// does: one never measured fused on a unit costs the median rate of those that were (the pool
// "activation*" holds their samples). Not measured fused, a post-op would otherwise cost a pass of
// its own over the output. Each activation of the warm default sweep predicted from the others'
// pooled rate (its anchor measured; a convolution's fused points where the activation is also
// measured alone at that shape): relu 73% within 10% (51 points), clip 61% (33), hardswish 58% (33),
// sigmoid 36% (11); costed as a separate pass 59%, 36%, 30%, 27%.
// Binary post-ops pool the same way, by their second operand: a per-channel constant (addc, subc,
// mulc, divc: one vector load per channel block, one operation per element) or a full-size tensor
// (add, sub, mul, div: a second stream of the output's size). The residual sum is a pool of its own.
// On the EPYC's default sweep, leave-one-out (bench_select): 2 more of 388 fused points priced, matmul
// within 10% 64.4% -> 66.3%; the point is the plan's: a chain with a Div nobody measured fused is one
// kernel, not a pass of its own (FusedCost.AChannelConstantNeverMeasuredFused...).
std::string PoolOf(const std::string& post_op) {
  switch (PostOpKindOf(post_op)) {
    case PostOpKind::kActivation: return "activation*";
    case PostOpKind::kChannel: return "channel*";
    case PostOpKind::kTensor: return "tensor*";
    case PostOpKind::kSum:
    case PostOpKind::kUnknown: break;
  }
  return "";
}
}  // namespace

// Marginal post-op costs. Every fused key measured beside its anchor (same unit, layout, dtype, both
// usable) gives (fused - anchor) per byte of the anchor's output. A one-post-op chain is a sample of
// that post-op directly; a longer chain is a sample of its one post-op without a one-op figure, the
// others' (median) rates taken off. The rate of a post-op is the median of its samples, per (unit,
// layout, dtype), and pooled over the unit's layouts for a layout that has none.
void CostModel::FitMarginals() {
  std::vector<MarginalPair> pairs;
  for (const auto& [key, rows] : rows_) {
    if (key.find('+') == std::string::npos) continue;
    Problem p;
    try {
      p = Problem::Parse(key);
    } catch (const std::invalid_argument&) {
      continue;
    }
    if (p.post_ops().empty()) continue;
    const std::string anchor = p.WithPostOps({}).Key();
    for (const Row& r : rows) {
      if (!r.usable) continue;
      const Row* a = FindRow(anchor, r.unit, r.layout, r.dtype);
      if (!a || !a->usable) continue;
      const double out_bytes = static_cast<double>(p.DstElems()) * DtypeSize(r.dtype);
      pairs.push_back({key, p.post_ops(), r.unit, r.layout, r.dtype, a->us, r.us, out_bytes});
    }
  }
  marginals_ = FitMarginalRates(pairs, "");
  std::vector<std::vector<double>> residuals(units_.size());
  for (const MarginalPair& pr : pairs) {
    const auto marginal = ChainMarginalFrom(marginals_, pr);
    if (marginal && pr.anchor_us + *marginal > 0)
      residuals[static_cast<size_t>(pr.unit)].push_back(std::abs(std::log((pr.anchor_us + *marginal) / pr.fused_us)));
  }
  marginal_log_sd_.assign(units_.size(), 0.0);
  for (size_t u = 0; u < units_.size(); ++u) {
    auto& r = residuals[u];
    if (r.size() < 5) continue;
    std::nth_element(r.begin(), r.begin() + static_cast<std::ptrdiff_t>(r.size() / 2), r.end());
    marginal_log_sd_[u] = r[r.size() / 2] / 0.6745;
  }
  if (!options_.anchored_held_out) return;
  // Each pair's fused point predicted from its anchor and the rates fitted without it: the anchor's
  // measured time, and the anchor's own held-out estimate (as if neither were measured).
  std::unordered_map<std::string, size_t> heldout_at;
  for (size_t i = 0; i < heldout_.size(); ++i) {
    const HeldOut& h = heldout_[i];
    heldout_at[Join({h.key, h.unit, h.layout, h.dtype})] = i;
  }
  for (const MarginalPair& pr : pairs) {
    auto at = heldout_at.find(Join({pr.key, units_[pr.unit], pr.layout, pr.dtype}));
    if (at == heldout_at.end()) continue;
    const auto found = ChainMarginalFrom(FitMarginalRates(pairs, pr.key), pr);
    if (!found) continue;
    const double marginal = *found;
    const std::string anchor = Problem::Parse(pr.key).WithPostOps({}).Key();
    HeldOut& h = heldout_[at->second];
    h.anchored = pr.anchor_us + marginal;
    auto an = heldout_at.find(Join({anchor, units_[pr.unit], pr.layout, pr.dtype}));
    if (an == heldout_at.end()) continue;
    const HeldOut& ah = heldout_[an->second];
    const auto e = HeldOutChosen(ah);
    if (!e) continue;
    h.anchor_estimated = *e + marginal;
    const auto chain = HeldOutChosen(h);
    h.nearer = !chain || ah.knn_log_sd <= h.knn_log_sd ? h.anchor_estimated : chain;
  }
}

void CostModel::FitOverhead(Family* fam) {
  fam->overhead_us = -1;
  if (fam->members.size() < 3) return;
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, tmin = kInf, xmin = kInf, xmax = 0;
  for (const Neighbour& n : fam->members) {
    const double x = n.work, y = n.us, w = 1.0 / (y * y);
    sw += w, sx += w * x, sy += w * y, sxx += w * x * x, sxy += w * x * y;
    tmin = std::min(tmin, y);
    xmin = std::min(xmin, x), xmax = std::max(xmax, x);
  }
  if (!(xmin > 0) || std::log(xmax / xmin) < kMaxReach) return;
  const double det = sw * sxx - sx * sx;
  if (det <= 0) return;
  const double intercept = (sxx * sy - sx * sxy) / det;
  fam->overhead_us = std::clamp(intercept, 0.0, tmin);
}

std::vector<CostModel::HeldPoint> CostModel::HeldPoints(const std::vector<Family*>& fams) {
  std::vector<HeldPoint> points;
  for (const Family* fam : fams)
    for (const Neighbour& n : fam->members) points.push_back({fam, Problem::Parse(n.key), n.key, n.us});
  return points;
}

size_t CostModel::KnnWithin(const std::vector<HeldPoint>& points) const {
  size_t within = 0;
  for (const HeldPoint& pt : points) {
    auto e = Interpolate(pt.p, pt.fam->unit, pt.fam->layout, pt.fam->dtype, pt.key);
    if (e && std::abs(e->us / pt.us - 1) <= 0.1) ++within;
  }
  return within;
}

namespace {
// A rule chosen by leave-one-out replaces the one before it only by a clear margin: on a handful of
// points (a synthetic file, a model's own few problems) any rule can win by one point.
bool ClearlyMore(size_t within, size_t best, size_t points) {
  return within > best + std::max<size_t>(2, points / 100);
}
}  // namespace

// What a weight element costs, per unit. With the caches evicted before each repetition (warm), a
// convolution reads its weights from the last-level cache or memory, and one with many weights and
// few pixels (ResNet's 512-channel 3x3 convolutions on 14x14, 7x7 out) runs far below the FLOP rate
// of its neighbours: scaled by FLOPs alone, 25-33% under. kNN scales a convolution by FLOPs + w *
// weight elements, w chosen per unit among kWeightFlops by leave-one-out on the unit's convolutions,
// matmuls and inner products (a larger price must win clearly). On two default sweeps of a 2-vCPU
// EPYC (bench_select, chosen estimator): the cpu chose 16 FLOPs per weight, its convolutions within
// 10% 74.4 -> 77.4% and 69.9 -> 71.6% (that file's repeatability: 72.2%); PoCL chose 0 (its own
// repeatability is 46%). Chosen on convolutions alone, the same prices; sharing it with matmuls and
// inner products: matmul 76.2 -> 81.2% and 68.8 -> 71.2% (a 32x1024x1024 one, bound by its 4 MB
// second operand, was 32% under), convolutions and inner products unchanged.
void CostModel::ChooseWeightCost() {
  constexpr double kWeightFlops[] = {0, 4, 8, 16, 32, 64};
  std::vector<std::vector<Family*>> weighted(units_.size());  // a unit's families with weights
  for (auto& [key, fam] : families_)
    if (!fam.members.empty() && fam.members.front().weights > 0 && UnitIndex(fam.unit) >= 0)
      weighted[UnitIndex(fam.unit)].push_back(&fam);
  auto set = [](const std::vector<Family*>& fams, double w) {
    for (Family* fam : fams) {
      for (Neighbour& n : fam->members) n.work = n.flops_work + w * n.weights;
      FitOverhead(fam);
    }
  };
  for (size_t u = 0; u < units_.size(); ++u) {
    if (weighted[u].empty()) continue;
    const std::vector<HeldPoint> points = HeldPoints(weighted[u]);
    double best_w = 0;
    size_t best = 0;
    for (const double w : kWeightFlops) {
      stats_[u].weight_flops = w;
      set(weighted[u], w);
      const size_t within = KnnWithin(points);
      if (w == 0 || ClearlyMore(within, best, points.size())) best = within, best_w = w;
    }
    stats_[u].weight_flops = best_w;
    set(weighted[u], best_w);
  }
}

// A memory-bound kernel's rate depends on where its bytes fit: on the EPYC's 2 vCPUs element-wise
// ops move 158 GB/s up to 3 MB (the two cores' L2), 107 at 6 MB, 55 at 12 MB and 50 at 24 MB
// (the L3 slice and beyond). Scaled by bytes, a 56x56x512 max pooling (6.4 MB) came out 28% under
// from 28x28 neighbours. The unit's rate by size is the median rate of its element-wise points per
// factor of 2 in bytes (3 points or more), made never to rise with size (small sizes are slow from
// overhead, which kNN takes off apart); a memory-bound op scales by its bytes at that rate where
// leave-one-out (kNN's) on the unit's points of that op says so clearly. On two default sweeps of the
// EPYC (bench_select, chosen estimator, cpu): it was chosen for eltwise (84.5 -> 89.6% and 81.3 ->
// 84.4% within 10%), pooling (60.6 -> 61.6%, 48.5 -> 52.7%) and binary ops (77.1 -> 76.7%, 59.0 ->
// 52.8%: kNN gained, the learned model chosen over it lost); all points 69.4 -> 70.0% and 61.7 ->
// 62.0%. Scaled so everywhere, concat fell 76 -> 41% and transposes 89 -> 78%.
void CostModel::ChooseRateCurve() {
  std::vector<std::map<int, std::vector<double>>> bins(units_.size());
  std::map<std::pair<int, std::string>, std::vector<Family*>> by_op;
  for (auto& [key, fam] : families_) {
    const int u = UnitIndex(fam.unit);
    if (u < 0 || !fam.memory_bound) continue;
    by_op[{u, fam.op}].push_back(&fam);
    if (fam.op != "eltwise" || fam.fused) continue;
    for (const Neighbour& n : fam.members)
      if (n.bytes > 0 && n.us > 0) bins[u][static_cast<int>(std::floor(std::log2(n.bytes)))].push_back(n.bytes / n.us);
  }
  for (size_t u = 0; u < units_.size(); ++u) {
    auto& curve = stats_[u].rate_by_bytes;
    for (auto& [b, rates] : bins[u]) {
      if (rates.size() < 3) continue;
      std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
      curve.emplace_back(std::exp2(b + 0.5), rates[rates.size() / 2]);
    }
    for (size_t i = curve.size(); i-- > 1;) curve[i - 1].second = std::max(curve[i - 1].second, curve[i].second);
  }
  for (auto& [unit_op, families] : by_op) {
    const UnitStats& st = stats_[unit_op.first];
    if (st.rate_by_bytes.size() < 2) continue;
    const std::vector<Family*>& fams = families;  // a lambda may not capture a structured binding
    auto set = [&](bool curve) {
      for (Family* fam : fams) {
        for (Neighbour& n : fam->members) n.work = curve ? st.MemoryWork(n.flops_work) : n.flops_work;
        FitOverhead(fam);
      }
    };
    const std::vector<HeldPoint> points = HeldPoints(fams);
    const size_t by_bytes = KnnWithin(points);
    const std::string key = Join({units_[unit_op.first], unit_op.second});
    rate_curve_ops_.insert(key);
    set(true);
    if (ClearlyMore(KnnWithin(points), by_bytes, points.size())) continue;
    rate_curve_ops_.erase(key);
    set(false);
  }
}

double CostModel::UnitStats::MemoryWork(double bytes) const {
  if (rate_by_bytes.size() < 2 || !(bytes > 0)) return bytes;
  const auto& v = rate_by_bytes;
  double rate = v.back().second;
  if (bytes <= v.front().first) {
    rate = v.front().second;
  } else if (bytes < v.back().first) {
    rate = LogLogBetween(v, bytes);
  }
  return bytes * v.front().second / rate;  // the curve's first rate is its best
}

bool CostModel::ScalesByRateCurve(const std::string& unit, const std::string& op) const {
  return rate_curve_ops_.count(Join({unit, op})) > 0;
}

std::optional<double> CostModel::HeldOutChosen(const HeldOut& h) const {
  const Estimator chosen = ChosenEstimator(h.unit, h.op);
  if (chosen == Estimator::kLearned && h.learned) return h.learned;
  if (chosen == Estimator::kLocal) return h.local;
  return h.knn;
}

std::unordered_map<std::string, double> CostModel::FitMarginalRates(const std::vector<MarginalPair>& pairs,
                                                                    const std::string& exclude_key) const {
  std::unordered_map<std::string, double> rates;
  std::unordered_map<std::string, std::vector<double>> samples;
  auto add = [&](const MarginalPair& pr, const std::string& po, double rate) {
    samples[Join({units_[pr.unit], pr.layout, pr.dtype, po})].push_back(rate);
    samples[Join({units_[pr.unit], "*", pr.dtype, po})].push_back(rate);
  };
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
  };
  for (const MarginalPair& pr : pairs)
    if (pr.chain.size() == 1 && pr.key != exclude_key) {
      add(pr, pr.chain[0], pr.DiffPerByte());
      if (const std::string pool = PoolOf(pr.chain[0]); !pool.empty()) add(pr, pool, pr.DiffPerByte());
    }
  for (const auto& [k, v] : samples) rates[k] = median(v);
  // Longer chains: one unknown post-op at a time, the others' rates known.
  std::unordered_map<std::string, std::vector<double>> more;
  for (const MarginalPair& pr : pairs) {
    if (pr.chain.size() < 2 || pr.key == exclude_key) continue;
    double known = 0;
    int unknown = -1, unknowns = 0;
    for (size_t i = 0; i < pr.chain.size(); ++i) {
      auto it = rates.find(Join({units_[pr.unit], pr.layout, pr.dtype, pr.chain[i]}));
      if (it != rates.end()) known += it->second;
      else unknown = static_cast<int>(i), ++unknowns;
    }
    if (unknowns != 1) continue;
    const double rate = pr.DiffPerByte() - known;
    more[Join({units_[pr.unit], pr.layout, pr.dtype, pr.chain[unknown]})].push_back(rate);
    more[Join({units_[pr.unit], "*", pr.dtype, pr.chain[unknown]})].push_back(rate);
  }
  for (const auto& [k, v] : more)
    if (!rates.count(k)) rates[k] = median(v);
  return rates;
}

std::optional<double> CostModel::MarginalFrom(const std::unordered_map<std::string, double>& rates,
                                              const std::string& unit, const std::string& layout,
                                              const std::string& dtype, const std::string& post_op,
                                              double out_bytes) const {
  auto it = rates.find(Join({unit, layout, dtype, post_op}));
  if (it == rates.end()) it = rates.find(Join({unit, "*", dtype, post_op}));
  if (const std::string pool = PoolOf(post_op); it == rates.end() && !pool.empty()) {
    it = rates.find(Join({unit, layout, dtype, pool}));
    if (it == rates.end()) it = rates.find(Join({unit, "*", dtype, pool}));
  }
  if (it == rates.end()) return std::nullopt;
  // A post-op costs something: a negative fitted rate (noise on a post-op cheaper than the spread of
  // the anchor's time) counts as free.
  return std::max(0.0, it->second) * out_bytes;
}

std::optional<double> CostModel::ChainMarginalFrom(const std::unordered_map<std::string, double>& rates,
                                                   const MarginalPair& pair) const {
  double sum = 0;
  for (const std::string& po : pair.chain) {
    const auto m = MarginalFrom(rates, units_[pair.unit], pair.layout, pair.dtype, po, pair.out_bytes);
    if (!m) return std::nullopt;
    sum += *m;
  }
  return sum;
}

std::optional<double> CostModel::MarginalUs(const std::string& unit, const std::string& layout,
                                            const std::string& dtype, const std::string& post_op,
                                            double out_bytes) const {
  return MarginalFrom(marginals_, unit, layout, dtype, post_op, out_bytes);
}

double CostModel::MarginalLogSd(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 || static_cast<size_t>(u) >= marginal_log_sd_.size() ? 0 : marginal_log_sd_[static_cast<size_t>(u)];
}

int CostModel::UnitIndex(const std::string& unit) const {
  for (size_t i = 0; i < units_.size(); ++i)
    if (units_[i] == unit) return static_cast<int>(i);
  return -1;
}

std::vector<std::string> CostModel::Layouts(const std::string& unit, const std::string& op,
                                            const std::string& dtype) const {
  auto it = layouts_.find(Join({unit, op, dtype}));
  return it == layouts_.end() ? std::vector<std::string>{} : it->second;
}

std::vector<std::string> CostModel::UnitLayouts(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 ? std::vector<std::string>{} : unit_layouts_[u];
}

std::string NodeList(const std::vector<int>& nodes) { return fmt::format("{}", fmt::join(nodes, ",")); }

std::optional<Estimate> CostModel::InNetwork(const std::string& model, const std::vector<int>& nodes,
                                             const std::string& unit, const std::string& layout,
                                             const std::string& dtype) const {
  if (model.empty() || network_.empty()) return std::nullopt;
  auto it = network_.find(model + "|" + NodeList(nodes) + "|" + unit + "|" + layout + "|" + dtype);
  if (it == network_.end()) return std::nullopt;
  return it->second;
}

double CostModel::PeakFlopsPerUs(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 ? 0 : stats_[u].peak_flops_per_us;
}
double CostModel::BytesPerUs(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 ? 0 : stats_[u].bytes_per_us;
}
double CostModel::WeightFlops(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 ? 0 : stats_[u].weight_flops;
}

double CostModel::StreamBytesPerUs(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 ? 0 : stats_[u].stream_bytes_per_us;
}

double CostModel::LaunchUs(const std::string& unit) const {
  const int u = UnitIndex(unit);
  return u < 0 ? 0 : stats_[u].launch_us;
}

const CostModel::Row* CostModel::FindRow(const std::string& key, int unit, const std::string& layout,
                                         const std::string& dtype) const {
  auto it = rows_.find(key);
  if (it == rows_.end()) return nullptr;
  for (const Row& r : it->second)
    if (r.unit == unit && r.layout == layout && r.dtype == dtype) return &r;
  return nullptr;
}

std::string CostModel::ChosenLayout(const std::string& key, const std::string& unit,
                                    const std::string& dtype) const {
  const int u = UnitIndex(unit);
  if (u < 0) return {};
  if (const Row* r = FindRow(key, u, "any", dtype); r && r->usable) return r->chosen;
  // Not measured: what oneDNN chose for the nearest measured problem of the same op and algorithm
  // (its choice depends on the shape class — e.g. nchw for a 3-channel input — more than on sizes).
  const Problem p = Problem::Parse(key);
  const Neighbour* best = Nearest(FamilyKey(unit, "any", dtype, p), p, "");
  if (!best) return {};
  if (const Row* r = FindRow(best->key, u, "any", dtype); r && r->usable) return r->chosen;
  return {};
}

std::optional<Estimate> CostModel::Op(const Problem& p, const std::string& key,
                                      const std::string& unit, const std::string& layout,
                                      const std::string& dtype, bool roofline,
                                      bool* excluded) const {
  if (excluded) *excluded = false;
  const int u = UnitIndex(unit);
  if (u < 0) return std::nullopt;
  if (const Row* r = FindRow(key, u, layout, dtype)) {
    if (!r->usable) {  // measured, and it is a reference kernel or unsupported: never recommend
      if (excluded) *excluded = true;
      return std::nullopt;
    }
    return Estimate{r->us, Confidence::kExact, r->spread_us, r->unstable};
  }
  // The nearest measured problem of its family has no usable kernel in this layout (a 3-channel
  // convolution has only oneDNN's reference loop in nChw8c, 1000x slower): neither interpolation
  // nor a roofline may recommend this layout for it.
  // Or this machine's library would run only its reference kernel for exactly this problem there,
  // which no neighbour can show (options_.refuse asks it).
  if (NearestIsUnusable(p, unit, layout, dtype) || Refused(key, unit, layout, dtype)) {
    if (excluded) *excluded = true;
    return std::nullopt;
  }
  // The learned models know plain problems only (a fused chain is not among their features).
  if (p.post_ops().empty() && ChosenEstimator(unit, p.op()) == Estimator::kLearned) {
    bool refused = false;
    if (auto e = Learned(p, unit, layout, dtype, &refused)) return e;
    // Too far from what the model was trained on, or its members disagree: no interpolation.
    if (refused) return roofline ? Roofline(p.Flops(), p.Bytes(DtypeSize(dtype)), unit) : std::nullopt;
  }
  if (ChosenEstimator(unit, p.op()) == Estimator::kLocal) {
    bool refused = false;
    if (auto e = Local(p, unit, layout, dtype, "", &refused)) return e;
    if (refused) return roofline ? Roofline(p.Flops(), p.Bytes(DtypeSize(dtype)), unit) : std::nullopt;
  }
  if (auto e = Interpolate(p, unit, layout, dtype)) return e;
  if (!roofline) return std::nullopt;
  return Roofline(p.Flops(), p.Bytes(DtypeSize(dtype)), unit);
}

bool CostModel::ReferenceOnly(const std::string& key, const std::string& unit, const std::string& layout,
                              const std::string& dtype) const {
  const int u = UnitIndex(unit);
  const Row* r = u < 0 ? nullptr : FindRow(key, u, layout, dtype);
  return r && r->reference;
}

bool CostModel::Refused(const std::string& key, const std::string& unit, const std::string& layout,
                        const std::string& dtype) const {
  if (!options_.refuse) return false;
  std::lock_guard<std::mutex> lock(*mutex_);
  auto [it, asked] = refusals_[key].try_emplace({unit, layout, dtype});
  if (asked) it->second = options_.refuse(key, unit, layout, dtype);
  return it->second.has_value();
}

bool CostModel::Measured(const std::string& key, const std::string& unit, const std::string& layout,
                         const std::string& dtype) const {
  const int u = UnitIndex(unit);
  return u >= 0 && FindRow(key, u, layout, dtype);
}

std::vector<std::pair<std::string, std::string>> CostModel::Refusals(const std::string& key,
                                                                     const std::string& dtype) const {
  std::vector<std::pair<std::string, std::string>> out;
  std::lock_guard<std::mutex> lock(*mutex_);
  auto it = refusals_.find(key);
  if (it == refusals_.end()) return out;
  for (const auto& [state, why] : it->second)  // ordered by unit, then layout
    if (why && std::get<2>(state) == dtype) out.emplace_back(std::get<0>(state) + "/" + std::get<1>(state), *why);
  return out;
}

bool CostModel::NearestIsUnusable(const Problem& p, const std::string& unit, const std::string& layout,
                                  const std::string& dtype) const {
  const std::string fk = FamilyKey(unit, layout, dtype, p);
  auto bad = unusable_.find(fk);
  if (bad == unusable_.end()) return false;
  const std::vector<double> f = ProblemFeatures(p);
  auto nearest = [&](const std::vector<std::vector<double>>& all) {
    double best = kInf;
    for (const auto& g : all)
      if (g.size() == f.size()) best = std::min(best, SquaredDistance(f, g));
    return best;
  };
  const Neighbour* usable = Nearest(fk, p, "");
  const double good = usable ? SquaredDistance(f, usable->features) : kInf;
  const double worst = nearest(bad->second);
  return worst < kInf && worst < good;
}

// Interpolation rule. Among the measured problems of the same op and algorithm on the same unit,
// layout and dtype, take the kNeighbours nearest in log-feature space (ProblemFeatures). Each
// neighbour n predicts
//     t_n' = L + (t_n - L) * s_p / s_n,     L = min(fixed overhead of the family, t_n)
// where s is the FLOPs for compute-bound ops (conv, matmul, ip) and the bytes moved for memory-bound
// ones (eltwise, binary, pool, softmax, norms): the fixed launch part does not scale with size, the
// rest scales linearly. The family's overhead is fitted at load time (intercept of a line through
// its measurements; the unit's smallest measured time when the family has fewer than 3). The estimate
// is the median of the neighbours' predictions: one neighbour whose median absorbed a scheduler stall
// (seen on a loaded 2-core machine: a 5 MFLOP conv at 24 ms) must not drag the estimate, which a
// weighted mean of 4 did (leave-one-out on a real sweep: median error 95% with an inverse-distance
// log-mean of 4, 72% with the median of 3; bench_select prints the figures).
std::optional<Estimate> CostModel::Interpolate(const Problem& p, const std::string& unit,
                                               const std::string& layout, const std::string& dtype,
                                               const std::string& exclude_key) const {
  auto it = families_.find(FamilyKey(unit, layout, dtype, p));
  if (it == families_.end()) return std::nullopt;
  const std::vector<double> f = ProblemFeatures(p);
  const bool memory = IsMemoryBound(p.op());
  const double launch = it->second.overhead_us >= 0 ? it->second.overhead_us : LaunchUs(unit);
  // Partial selection of the nearest few; families are small (tens to hundreds of problems).
  std::vector<std::pair<double, const Neighbour*>> near;
  near.reserve(it->second.members.size());
  for (const Neighbour& n : it->second.members) {
    if (!exclude_key.empty() && n.key == exclude_key) continue;
    if (n.features.size() != f.size()) continue;
    near.emplace_back(std::sqrt(SquaredDistance(f, n.features)), &n);
  }
  if (near.empty()) return std::nullopt;
  const size_t k = std::min(kNeighbours, near.size());
  std::partial_sort(near.begin(), near.begin() + k, near.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  // A near neighbour's time scales to `p` by FLOPs (bytes for memory-bound ops): it runs at the
  // same time per FLOP. One that differs by more than a factor of 4 (kMaxReach) in a shape parameter
  // (channels, image size; not a structural one such as the kernel size) may run in another regime,
  // and scales by the ratio of their roofline times (the larger of its work at the unit's peak, the
  // FLOPs with channels padded to the layout's block as for a near one, and bytes at its bandwidth):
  // what carries over is how close to its roofline the library runs it. With raw FLOPs in the
  // roofline, a Paddle detector's 96->24-channel 3x3 convolution on 160x160 pixels (oc 24 runs as 32)
  // came out 3.5 ms from 128-channel neighbours, where it ran 4.6; with the padded work 4.4 (held-out
  // points unchanged: conv2d 57.5% within 10% either way, deconv median error 41 -> 39%). Scaled by
  // FLOPs, a squeeze-excitation 1x1 convolution on a 1x1 image (weight-bound, 10 GFLOP/s) made
  // ResNet's 28x28 1x1 convolutions 6.3 ms instead of 0.85. Each example model validated on a file of
  // the other four's problems (one run, side by side, with depthwise families apart): selected over
  // oracle 1.008 / 3.011 / 0.994 / 1.013 and total error +7 / +201 / +75 / -40% by FLOPs; 1.041 /
  // 1.052 / 1.000 / 0.968 and +10 / -12 / +40 / -14% so (MobileNetV2, ResNet-50, YOLO, the Paddle
  // detector). Scaled by rooflines everywhere, held-out points fared worse (conv2d 38.9% within 10%
  // against 34.8%, one file of model problems).
  const UnitStats& st = stats_[UnitIndex(unit)];
  const bool roofline_known = !memory && st.peak_flops_per_us > 0 && st.bytes_per_us > 0;
  auto roof = [&](double flops, double bytes) {
    return std::max(flops / st.peak_flops_per_us, bytes / st.bytes_per_us);
  };
  std::vector<bool> shape(f.size(), false);
  {
    size_t c = 0;
    for (const auto& [name, v] : p.params())
      if (c < shape.size()) shape[c++] = !IsStructural(name);
  }
  const double size = memory && ScalesByRateCurve(unit, p.op())
                          ? st.MemoryWork(ScaledWork(p, dtype, layout))
                          : ScaledWork(p, dtype, layout) + st.weight_flops * WeightElems(p);
  const double p_roof = roofline_known ? roof(size, p.Bytes(DtypeSize(dtype))) : 0;
  std::vector<double> preds;
  double rel_ci = 0;
  for (size_t i = 0; i < k; ++i) {
    const Neighbour& n = *near[i].second;
    rel_ci = std::max(rel_ci, n.rel_ci);
    const double l = std::min(launch, n.us);
    double ratio = 0;
    bool far = false;
    for (size_t c = 0; c < f.size() && !far; ++c) far = shape[c] && std::abs(f[c] - n.features[c]) > kMaxReach;
    if (far && roofline_known) {
      ratio = p_roof / roof(n.work, n.bytes);
    } else {
      ratio = n.work > 0 ? size / n.work : 0;
    }
    preds.push_back(ratio > 0 ? l + (n.us - l) * ratio : n.us);
  }
  std::sort(preds.begin(), preds.end());
  // An even count (fewer neighbours than kNeighbours): the geometric mean of the middle two.
  const size_t m = preds.size() / 2;
  const double us = preds.size() % 2 ? preds[m] : std::sqrt(preds[m - 1] * preds[m]);
  // Its uncertainty: half the log spread of the neighbours' predictions, and at least a quarter of
  // the distance to the nearest (log units): one neighbour far away is no certainty.
  const double log_sd = std::max(
      preds.front() > 0 && preds.back() > 0 ? 0.5 * std::log(preds.back() / preds.front()) : 0,
      0.25 * near.front().first);
  return Estimate{us, Confidence::kInterpolated, rel_ci * us, false, Estimator::kKnn, log_sd};
}

namespace {
// Solves the symmetric positive definite system a x = b in place (Cholesky; n is a problem's
// parameter count, a dozen at most). False when a is not positive definite.
bool SolveSpd(std::vector<double>& a, std::vector<double>& b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    a[j * n + j] = std::sqrt(d);
    for (size_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (size_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / a[j * n + j];
    }
  }
  for (size_t i = 0; i < n; ++i) {  // L y = b
    for (size_t k = 0; k < i; ++k) b[i] -= a[i * n + k] * b[k];
    b[i] /= a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // L^T x = y
    for (size_t k = i + 1; k < n; ++k) b[i] -= a[k * n + i] * b[k];
    b[i] /= a[i * n + i];
  }
  return true;
}
}  // namespace

// Local linear rule (LOESS of degree 1 in kNN's feature space). kNN scales each neighbour by the
// size ratio alone, so the time per FLOP (per byte for memory-bound ops) it predicts is a
// neighbour's; between problems whose efficiency changes with a parameter (channels against
// spatial size, stride, groups) that is off by the change, and the median of 3 keeps one
// measurement's scatter. Here log((time - L) / size), L the family's fixed overhead as in kNN's rule,
// is fitted as a linear function of the features over the kLocalNeighbours nearest members,
// weighted by tricube of their distance (the nearest count most, the farthest almost nothing), with
// a ridge penalty of kLocalRidge on the slopes: parameters that do not vary among the neighbours get
// no slope, and with few neighbours the fit stays close to their weighted mean. Leave-one-out on
// four files of this 2-core EPYC (bench_select, stable points, all families): kNN 56.9 / 48.2 / 50.9
// / 52.3% within 10%, this rule 56.4 / 50.9 / 55.6 / 52.1% (k 6, ridge 1; k 10 with ridge 3 and k 4
// were worse on average). Whether it interpolates a family is decided per (unit, op) by
// leave-one-out at load time, as for the learned model.
constexpr double kLocalRidge = 1.0;

std::optional<Estimate> CostModel::Local(const Problem& p, const std::string& unit, const std::string& layout,
                                         const std::string& dtype, const std::string& exclude_key,
                                         bool* refused) const {
  if (refused) *refused = false;
  auto it = families_.find(FamilyKey(unit, layout, dtype, p));
  if (it == families_.end()) return std::nullopt;
  const std::vector<double> f = ProblemFeatures(p);
  const size_t dim = f.size();
  std::vector<std::pair<double, const Neighbour*>> near;
  for (const Neighbour& n : it->second.members) {
    if (n.key == exclude_key || n.features.size() != dim) continue;
    near.emplace_back(std::sqrt(SquaredDistance(f, n.features)), &n);
  }
  const size_t k = kLocalNeighbours;
  if (near.size() < k) return std::nullopt;
  std::partial_sort(near.begin(), near.begin() + k, near.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  near.resize(k);
  // A line reaches no further than its data: beyond kMaxReach (log units) outside the neighbours'
  // range in a feature they vary in, the fit extrapolates a slope and the answer is a roofline (as
  // the learned model's cap). A feature they share has no slope: the estimate scales by size there,
  // as kNN's does.
  for (size_t c = 0; c < dim; ++c) {
    double lo = kInf, hi = -kInf;
    for (const auto& [d, n] : near) lo = std::min(lo, n->features[c]), hi = std::max(hi, n->features[c]);
    if (hi > lo && (f[c] < lo - kMaxReach || f[c] > hi + kMaxReach)) {
      if (refused) *refused = true;
      return std::nullopt;
    }
  }
  const bool memory = IsMemoryBound(p.op());
  auto size_of = [&](const Neighbour& n) { return memory ? n.bytes : n.flops; };
  const double size = memory ? p.Bytes(DtypeSize(dtype)) : p.Flops();
  if (!(size > 0)) return std::nullopt;
  // The fixed part of a run does not scale (as in kNN's rule): the fit is of the rest, with the
  // family's fitted overhead kept below the neighbourhood's fastest run.
  double fastest = kInf;
  for (const auto& [d, n] : near) fastest = std::min(fastest, n->us);
  const double launch =
      std::min(it->second.overhead_us >= 0 ? it->second.overhead_us : LaunchUs(unit), 0.9 * fastest);
  // Tricube weights over a bandwidth just beyond the farthest neighbour, and the weighted means
  // (the fit is centred there, so the intercept carries no penalty).
  const double h = near.back().first * 1.01 + 1e-9;
  std::vector<double> w(k), y(k), mean(dim, 0.0);
  double sw = 0, ym = 0;
  for (size_t i = 0; i < k; ++i) {
    const Neighbour& n = *near[i].second;
    if (!(size_of(n) > 0) || !(n.us > 0)) return std::nullopt;
    const double r = near[i].first / h;
    w[i] = std::pow(1 - r * r * r, 3);
    y[i] = std::log((n.us - launch) / size_of(n));
    sw += w[i], ym += w[i] * y[i];
    for (size_t c = 0; c < dim; ++c) mean[c] += w[i] * n.features[c];
  }
  if (!(sw > 0)) return std::nullopt;
  ym /= sw;
  for (double& m : mean) m /= sw;
  std::vector<double> a(dim * dim, 0.0), b(dim, 0.0);
  for (size_t i = 0; i < k; ++i) {
    const std::vector<double>& x = near[i].second->features;
    for (size_t r = 0; r < dim; ++r) {
      b[r] += w[i] * (x[r] - mean[r]) * (y[i] - ym);
      for (size_t c = 0; c <= r; ++c) a[r * dim + c] += w[i] * (x[r] - mean[r]) * (x[c] - mean[c]);
    }
  }
  for (size_t r = 0; r < dim; ++r) {
    a[r * dim + r] += kLocalRidge;
    for (size_t c = r + 1; c < dim; ++c) a[r * dim + c] = a[c * dim + r];
  }
  if (!SolveSpd(a, b, dim)) return std::nullopt;
  auto fitted = [&](const std::vector<double>& x) {
    double v = ym;
    for (size_t c = 0; c < dim; ++c) v += b[c] * (x[c] - mean[c]);
    return v;
  };
  const double us = launch + std::exp(fitted(f)) * size;
  if (!std::isfinite(us) || us <= 0) return std::nullopt;
  double rss = 0, rel_ci = 0;
  for (size_t i = 0; i < k; ++i) {
    const double e = y[i] - fitted(near[i].second->features);
    rss += w[i] * e * e;
    rel_ci = std::max(rel_ci, near[i].second->rel_ci);
  }
  const double log_sd = std::max(std::sqrt(rss / sw), 0.25 * near.front().first);
  return Estimate{us, Confidence::kInterpolated, rel_ci * us, false, Estimator::kLocal, log_sd};
}

std::optional<Estimate> CostModel::Roofline(double flops, double bytes, const std::string& unit) const {
  const int u = UnitIndex(unit);
  if (u < 0) return std::nullopt;
  const UnitStats& s = stats_[u];
  double t = 0;
  bool any = false;
  if (s.peak_flops_per_us > 0 && flops > 0) t = std::max(t, flops / s.peak_flops_per_us), any = true;
  if (s.bytes_per_us > 0 && bytes > 0) t = std::max(t, bytes / s.bytes_per_us), any = true;
  if (!any && (flops > 0 || bytes > 0)) {
    // Nothing to scale by (e.g. a unit with only conv measured and an op moving bytes): fall back to
    // the other rate the unit has, through the op's own intensity of 1 flop per byte.
    const double rate = std::max(s.peak_flops_per_us, s.bytes_per_us);
    if (rate <= 0) return std::nullopt;
    t = std::max(flops, bytes) / rate;
  }
  return Estimate{t + s.launch_us, Confidence::kRoofline, 0, false, Estimator::kRoofline};
}

std::optional<double> CostModel::ReorderMeasured(int u, const std::string& src, const std::string& dst,
                                                 const std::string& dtype, int64_t bytes,
                                                 const std::vector<int64_t>& shape) const {
  if (shape.size() == 4) {
    auto exact = reorder_shapes_.find(Join({units_[u], src, dst, dtype,
                                            fmt::format("mb{}c{}h{}w{}", shape[0], shape[1], shape[2], shape[3])}));
    if (exact != reorder_shapes_.end()) return exact->second;
  }
  auto it = reorders_.find(Join({units_[u], src, dst, dtype}));
  if (it == reorders_.end() && dtype != "f32") it = reorders_.find(Join({units_[u], src, dst, "f32"}));
  if (it == reorders_.end()) return std::nullopt;
  return it->second.At(ReorderBytes(src, dst, static_cast<double>(bytes), shape));
}

double CostModel::Reorder(const std::string& unit, const std::string& src_in,
                          const std::string& dst_in, const std::string& dtype, int64_t bytes,
                          const std::vector<int64_t>& shape) const {
  const std::string src = Normal(src_in), dst = Normal(dst_in);
  if (src == dst || bytes <= 0) return 0;
  if (shape.size() != 4 && !IsBlocked(src) && !IsBlocked(dst)) return 0;
  const int u = UnitIndex(unit);
  if (u < 0) return kInf;
  if (auto t = ReorderMeasured(u, src, dst, dtype, bytes, shape)) return *t;
  // Not measured directly: through nchw, when both halves were measured.
  if (src != "nchw" && dst != "nchw") {
    auto a = ReorderMeasured(u, src, "nchw", dtype, bytes, shape);
    auto b = ReorderMeasured(u, "nchw", dst, dtype, bytes, shape);
    if (a && b) return *a + *b;
  }
  // Else the unit's measured bandwidth: read once, write once.
  if (stats_[u].bytes_per_us > 0) return 2.0 * static_cast<double>(bytes) / stats_[u].bytes_per_us +
                                         stats_[u].launch_us;
  return kInf;
}

double CostModel::Transfer(const std::string& src_unit, const std::string& dst_unit,
                           int64_t bytes) const {
  if (src_unit == dst_unit || bytes <= 0) return 0;
  auto leg = [&](const std::string& device, const char* method) {
    auto it = transfers_.find(Join({device, method}));
    return it == transfers_.end() ? kInf : it->second.At(static_cast<double>(bytes));
  };
  double t = 0;
  if (src_unit != "cpu") t += leg(src_unit, "read");
  if (dst_unit != "cpu") t += leg(dst_unit, "write");
  return t;
}

std::vector<CostModel::Sample> CostModel::Samples(const std::string& op) const {
  std::vector<Sample> out;
  for (const auto& [key, rows] : rows_) {
    if (!op.empty() && key.compare(0, op.size() + 1, op + ":") != 0) continue;
    for (const Row& r : rows)
      if (r.usable) out.push_back({key, units_[r.unit], r.layout, r.dtype, r.us});
  }
  std::sort(out.begin(), out.end(), [](const Sample& a, const Sample& b) {
    return std::tie(a.key, a.unit, a.layout, a.dtype) < std::tie(b.key, b.unit, b.layout, b.dtype);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The learned model.
//
// One gradient-boosted tree ensemble per (unit, op family) (or, with learned_per_layout, per kNN
// family). It predicts log time as kNN's log estimate plus a learned correction: the target is
// log(time / kNN's estimate), kNN's estimate of a training point being its leave-one-out one (made
// without the point, as for a new problem). Features of a (problem, layout, dtype, implementation):
// log(1 + v) of every parameter of the key (a column per parameter name the group has; missing =
// NaN), log FLOPs, log bytes, log arithmetic intensity, kNN's log(time / size), and the layout, dtype,
// algorithm and implementation as categories. The implementation of an unmeasured problem is that of
// the nearest measured problem of its family (oneDNN's choice depends on the shape class).
// Measured on a default sweep (bench_select), trees predicting log(time / size) directly were worse
// than kNN in every family with enough points (conv2d: 38% median error against kNN's 14%): the trees'
// piecewise-constant fit of a size law is coarser than kNN's scaling of the nearest problem; as a
// correction of kNN they win where kNN's linear scaling is wrong (binary, eltwise on some units).
//
// The ensemble has kFolds members, each trained without one fold of the problem keys (all rows of a
// key in one fold: an unmeasured problem is unmeasured in every layout); the held-out predictions
// are compared with kNN's and the local fit's leave-one-out on the same points, per (unit, op), and the
// best estimator (more points within 10%, then the smaller median error) interpolates that family.
namespace {
constexpr int kFolds = 5;
constexpr size_t kMinLearnedKeys = 8;  // fewer distinct problems in a group: no model
// log flops, log bytes, log intensity (the problem's size: the reach cap measures these and the
// parameters), then kNN's log(time / size), the log size ratio to the nearest measured problem and
// the feature distance to it (how far kNN's scaling reaches: a leave-one-out neighbour is farther
// than a new problem's between measured ones).
constexpr size_t kSizeCols = 3;
constexpr size_t kDerived = 6;
constexpr size_t kCategories = 4;      // layout, dtype, alg, impl

uint64_t Fnv(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

int Code(std::vector<std::string>& codes, const std::string& v) {
  auto it = std::find(codes.begin(), codes.end(), v);
  if (it != codes.end()) return static_cast<int>(it - codes.begin());
  codes.push_back(v);
  return static_cast<int>(codes.size() - 1);
}
int Find(const std::vector<std::string>& codes, const std::string& v) {
  auto it = std::find(codes.begin(), codes.end(), v);
  return it == codes.end() ? -1 : static_cast<int>(it - codes.begin());
}

double Size(const Problem& p, const std::string& dtype) {
  const double s = CostModel::IsMemoryBound(p.op()) ? p.Bytes(DtypeSize(dtype)) : p.Flops();
  if (s > 0) return s;
  return std::max(1.0, p.Bytes(DtypeSize(dtype)));
}

double MedianOf(std::vector<double> v) {
  if (v.empty()) return kInf;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

struct CostModel::LearnedGroup {
  std::string unit, op;
  std::vector<std::string> params;                     // parameter columns
  std::vector<std::string> layouts, dtypes, algs, impls;  // category codes
  std::vector<float> lo, hi;                           // training range of the continuous columns
  std::unique_ptr<TreeEnsemble> model;
  size_t Cols() const { return params.size() + kDerived + kCategories; }
};

const CostModel::Neighbour* CostModel::Nearest(const std::string& family, const Problem& p,
                                               const std::string& exclude) const {
  auto it = families_.find(family);
  if (it == families_.end()) return nullptr;
  const std::vector<double> f = ProblemFeatures(p);
  const Neighbour* best = nullptr;
  double best_d2 = 0;
  for (const Neighbour& n : it->second.members) {
    if (n.key == exclude || n.features.size() != f.size()) continue;
    const double d2 = SquaredDistance(f, n.features);
    if (!best || d2 < best_d2) best = &n, best_d2 = d2;
  }
  return best;
}

bool CostModel::LearnedRow(const LearnedGroup& g, const Problem& p, const std::string& layout,
                           const std::string& dtype, const Neighbour* near, double knn_us,
                           std::vector<float>* row) const {
  const std::string impl = near ? near->impl : std::string("\x01");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  row->assign(g.Cols(), nan);
  for (const auto& [name, v] : p.params()) {
    const int c = Find(g.params, name);
    if (c < 0) return false;  // a parameter the group never had
    (*row)[c] = static_cast<float>(std::log1p(static_cast<double>(v)));
  }
  const size_t d = g.params.size();
  const double flops = p.Flops(), bytes = p.Bytes(DtypeSize(dtype));
  (*row)[d] = static_cast<float>(std::log1p(flops));
  (*row)[d + 1] = static_cast<float>(std::log1p(bytes));
  (*row)[d + 2] = static_cast<float>(std::log1p(bytes > 0 ? flops / bytes : 0));
  if (knn_us > 0) (*row)[d + 3] = static_cast<float>(std::log(knn_us / Size(p, dtype)));
  if (near) {
    const double ns = IsMemoryBound(p.op()) ? near->bytes : near->flops;
    if (ns > 0) (*row)[d + 4] = static_cast<float>(std::log(Size(p, dtype) / ns));
    const std::vector<double> f = ProblemFeatures(p);
    if (f.size() == near->features.size()) (*row)[d + 5] = static_cast<float>(std::sqrt(SquaredDistance(f, near->features)));
  }
  const int codes[kCategories] = {Find(g.layouts, layout), Find(g.dtypes, dtype), Find(g.algs, p.alg()),
                                  Find(g.impls, impl)};
  if (codes[0] < 0 || codes[1] < 0 || codes[2] < 0) return false;  // never seen: nothing to learn from
  for (size_t i = 0; i < kCategories; ++i)
    if (codes[i] >= 0) (*row)[d + kDerived + i] = static_cast<float>(codes[i]);
  return true;
}

void CostModel::ChooseEstimators() {
  // kNN's and the local fit's leave-one-out for every usable point (what the learned model is
  // compared with).
  struct Point {
    const Family* fam;
    const Neighbour* n;
    size_t heldout;  // index into heldout_
  };
  std::map<std::string, std::vector<Point>> groups;  // learned group key -> its points
  for (const auto& [fkey, fam] : families_) {
    for (const Neighbour& n : fam.members) {
      const Problem p = Problem::Parse(n.key);
      HeldOut h{n.key, fam.unit, fam.layout, fam.dtype, fam.op, n.us, {}, {}, {}, {}, {}, {}};
      if (auto e = Interpolate(p, fam.unit, fam.layout, fam.dtype, n.key)) h.knn = e->us, h.knn_log_sd = e->log_sd;
      // The local fit as Op serves it: kNN where the family is too small for it, nothing (a
      // roofline) where it refuses to extrapolate.
      bool refused = false;
      if (auto e = Local(p, fam.unit, fam.layout, fam.dtype, n.key, &refused)) h.local = e->us;
      else if (!refused) h.local = h.knn;
      heldout_.push_back(std::move(h));
      // Mixed (src>dst) candidates are only ever used exactly (plan.cpp): not learned.
      if (!options_.learned || fam.fused || fam.layout.find('>') != std::string::npos) continue;
      const std::string gkey = options_.learned_per_layout ? fkey : Join({fam.unit, fam.op});
      groups[gkey].push_back({&fam, &n, heldout_.size() - 1});
    }
  }
  for (auto& [gkey, points] : groups) {
    std::set<std::string> keys;
    for (const Point& pt : points) keys.insert(pt.n->key);
    if (keys.size() < kMinLearnedKeys) continue;
    auto g = std::make_unique<LearnedGroup>();
    g->unit = points.front().fam->unit;
    g->op = points.front().fam->op;
    std::vector<Problem> problems;
    problems.reserve(points.size());
    for (const Point& pt : points) {
      problems.push_back(Problem::Parse(pt.n->key));
      for (const auto& [name, v] : problems.back().params()) Code(g->params, name);
      Code(g->layouts, pt.fam->layout);
      Code(g->dtypes, pt.fam->dtype);
      Code(g->algs, pt.fam->alg);
      Code(g->impls, pt.n->impl);
    }
    const size_t cols = g->Cols();
    std::vector<float> x, hx, y, row;
    std::vector<int> fold;
    std::vector<size_t> used;  // the points with a row, in row order
    std::vector<double> base;  // each row's offset (the target is log(time / base))
    for (size_t i = 0; i < points.size(); ++i) {
      const Point& pt = points[i];
      const Problem& p = problems[i];
      const HeldOut& h = heldout_[pt.heldout];
      const double knn = h.knn ? *h.knn : 0;  // kNN without the point itself, as for a new problem
      if (knn <= 0) continue;  // no kNN estimate to correct
      // The nearest other problem, as for a problem never measured: its implementation stands for
      // the point's own when held out (trained with the point's own).
      const Neighbour* near = Nearest(FamilyKey(pt.fam->unit, pt.fam->layout, pt.fam->dtype, p), p, pt.n->key);
      if (!LearnedRow(*g, p, pt.fam->layout, pt.fam->dtype, near, knn, &row)) continue;
      hx.insert(hx.end(), row.begin(), row.end());
      row[g->params.size() + kDerived + kCategories - 1] = static_cast<float>(Find(g->impls, pt.n->impl));
      x.insert(x.end(), row.begin(), row.end());
      base.push_back(knn);
      y.push_back(static_cast<float>(std::log(pt.n->us / base.back())));
      used.push_back(i);
      fold.push_back(static_cast<int>(Fnv(pt.n->key) % kFolds));
    }
    g->lo.assign(g->params.size() + kDerived, std::numeric_limits<float>::infinity());
    g->hi.assign(g->params.size() + kDerived, -std::numeric_limits<float>::infinity());
    for (size_t i = 0; i < y.size(); ++i)
      for (size_t c = 0; c < g->lo.size(); ++c) {
        const float v = x[i * cols + c];
        if (std::isnan(v)) continue;
        g->lo[c] = std::min(g->lo[c], v);
        g->hi[c] = std::max(g->hi[c], v);
      }
    std::vector<bool> categorical(cols, false);
    for (size_t c = cols - kCategories; c < cols; ++c) categorical[c] = true;
    std::vector<double> out;
    g->model = TreeEnsemble::Train(x, cols, categorical, y, fold, kFolds, {}, &out, &hx);
    if (!g->model) continue;
    for (size_t r = 0; r < used.size(); ++r)
      if (std::isfinite(out[r])) heldout_[points[used[r]].heldout].learned = std::exp(out[r]) * base[r];
    learned_[gkey] = std::move(g);
  }
  // The choice, per (unit, op): the estimator with more held-out points within 10%, then the smaller
  // median error, kNN (the baseline) on a tie; a point an estimator cannot predict counts as a miss
  // for it.
  constexpr Estimator kCandidates[] = {Estimator::kKnn, Estimator::kLearned, Estimator::kLocal};
  struct Score {
    int within[3] = {0, 0, 0};
    std::vector<double> err[3];
  };
  std::map<std::string, Score> scores;
  for (const HeldOut& h : heldout_) {
    Score& s = scores[Join({h.unit, h.op})];
    const std::optional<double> pred[3] = {h.knn, h.learned, h.local};
    for (int i = 0; i < 3; ++i) {
      const double e = pred[i] ? std::abs(*pred[i] / h.us - 1) : kInf;
      s.within[i] += e <= 0.10;
      s.err[i].push_back(e);
    }
  }
  for (auto& [key, s] : scores) {
    int best = 0;
    for (int i = 1; i < 3; ++i)
      if (s.within[i] > s.within[best] ||
          (s.within[i] == s.within[best] && MedianOf(s.err[i]) < MedianOf(s.err[best])))
        best = i;
    if (best != 0) chosen_[key] = kCandidates[best];
  }
}

Estimator CostModel::ChosenEstimator(const std::string& unit, const std::string& op) const {
  if (options_.use == CostModelOptions::Use::kKnn) return Estimator::kKnn;
  if (options_.use == CostModelOptions::Use::kLearned) return Estimator::kLearned;
  if (options_.use == CostModelOptions::Use::kLocal) return Estimator::kLocal;
  auto it = chosen_.find(Join({unit, op}));
  return it == chosen_.end() ? Estimator::kKnn : it->second;
}

std::optional<Estimate> CostModel::Learned(const Problem& p, const std::string& unit,
                                           const std::string& layout, const std::string& dtype,
                                           bool* refused) const {
  if (refused) *refused = false;
  const std::string family = FamilyKey(unit, layout, dtype, p);
  auto git = learned_.find(options_.learned_per_layout ? family : Join({unit, p.op()}));
  if (git == learned_.end() || !git->second->model) return std::nullopt;
  const LearnedGroup& g = *git->second;
  const std::string ckey = Join({family, p.Key()});
  std::lock_guard<std::mutex> lock(*mutex_);
  if (auto c = cache_.find(ckey); c != cache_.end()) {
    if (refused) *refused = cache_refused_[ckey];
    return c->second;
  }
  auto remember = [&](std::optional<Estimate> e, bool r) {
    cache_[ckey] = e;
    cache_refused_[ckey] = r;
    if (refused) *refused = r;
    return e;
  };
  const Neighbour* near = Nearest(family, p, p.Key());
  std::vector<float> row;
  const auto knn = Interpolate(p, unit, layout, dtype);
  if (!near || !LearnedRow(g, p, layout, dtype, near, knn ? knn->us : 0, &row))
    return remember(std::nullopt, false);
  // How far outside the training data the problem lies, in log units, in its worst feature.
  double reach = 0;
  for (size_t c = 0; c < g.params.size() + kSizeCols; ++c) {  // the parameters and sizes
    if (std::isnan(row[c]) || g.lo[c] > g.hi[c]) continue;
    reach = std::max({reach, static_cast<double>(g.lo[c] - row[c]), static_cast<double>(row[c] - g.hi[c])});
  }
  if (reach > kMaxReach) return remember(std::nullopt, true);
  const TreeEnsemble::Prediction pr = g.model->Predict(row.data());
  if (pr.sd > kMaxLogSd) return remember(std::nullopt, true);
  const double us = std::exp(pr.mean) * (knn ? knn->us : 0);
  if (!(us > 0)) return remember(std::nullopt, false);
  return remember(Estimate{us, Confidence::kInterpolated, us * (std::exp(pr.sd) - 1), false,
                           Estimator::kLearned, pr.sd},
                  false);
}

}  // namespace layoutdb::selector
