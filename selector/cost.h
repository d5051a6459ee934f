// Cost lookup: what one operator, one reorder and one transfer cost on a unit, from the database.
// Internal to selector/. Everything is read once at construction into hash maps; a lookup touches no
// SQL.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/problem.h"
#include "layoutdb/selector.h"

namespace layoutdb::selector {

// How much an estimate is worth; ordered weakest first so std::min gives a sub-graph's confidence.
enum class Confidence { kRoofline = 0, kInterpolated = 1, kExact = 2 };
const char* ConfidenceName(Confidence c);

// Which estimator produced an Estimate.
enum class Estimator { kMeasured = 0, kKnn = 1, kLearned = 2, kRoofline = 3, kLocal = 4 };
const char* EstimatorName(Estimator e);  // measured, knn, learned, roofline, local

class TreeEnsemble;

struct CostModelOptions {
  // Which estimator interpolates an unmeasured problem: per (unit, op family) the one that predicted
  // the database's own held-out points better (kChosen), or always one of them (for comparisons).
  enum class Use { kChosen, kKnn, kLearned, kLocal } use = Use::kChosen;
  // Learned models per (unit, op family) with layout, dtype and algorithm as categorical features
  // (false), or one per (unit, layout, dtype, op, alg) like kNN's families (true).
  bool learned_per_layout = false;
  bool learned = true;  // false: no learned models (kNN and the local fit)
  // Also predict every held-out fused point from its measured anchor and marginals fitted without
  // it (HeldOut::anchored; bench_select): a refit per point, about 30 ms on a default sweep, that no
  // plan needs.
  bool anchored_held_out = false;
  // Asked (once per state) before an unmeasured state is estimated; a reason refuses it (see
  // RefuseCheck). Empty: nothing is asked.
  RefuseCheck refuse;
};

struct Estimate {
  double us = 0;
  Confidence confidence = Confidence::kExact;
  // Half-width of the estimate's interval in microseconds: the measurement's 95% CI of the median
  // (exact), the widest of the neighbours' scaled to the estimate (interpolated); 0 for a roofline.
  double spread_us = 0;
  // The measurement did not reach its stability target (or, measured before schema 4, its CI is wider
  // than 2%). `us` is still its median: the plan says how many of its estimates are unstable, and a
  // decision between states closer than their spreads is reported as a toss-up (see Plan::notes).
  bool unstable = false;
  Estimator estimator = Estimator::kMeasured;
  // The estimator's own uncertainty, as a standard deviation of log time: the learned ensemble's
  // members' spread; kNN: half the log ratio of its neighbours' largest to smallest prediction, at
  // least a quarter of the feature distance to the nearest neighbour; local: the fit's weighted
  // residual spread, with the same floor; 0 for exact and roofline. What `sweep --refine` ranks by.
  double log_sd = 0;
};

// The uncertainty `sweep --refine` gives a roofline estimate (log units: a factor e).
constexpr double kRooflineLogSd = 1.0;
// How far an estimate may be off, in microseconds: its time times (e^log_sd - 1); a roofline's with
// kRooflineLogSd; 0 when exact.
double UncertainUs(const Estimate& e);

class CostModel {
 public:
  explicit CostModel(db::Database& db, const CostModelOptions& options = {});
  // Opens the file read-only (db::Mode::kReadOnly) and loads it.
  static CostModel Load(const std::string& db_path, const CostModelOptions& options = {});
  CostModel(CostModel&&) noexcept;
  CostModel& operator=(CostModel&&) noexcept;
  ~CostModel();

  // Units with at least one usable measurement, `cpu` first, then by name.
  const std::vector<std::string>& Units() const { return units_; }

  // Candidate names (measurements.layout: nchw, nChw16c, any, nchw>nChw16c, plain, ...) with a usable
  // measurement of `op` on the unit in the dtype, sorted.
  std::vector<std::string> Layouts(const std::string& unit, const std::string& op,
                                   const std::string& dtype) const;
  // Every activation layout the unit has any usable measurement or transition in (no mixed, no any).
  std::vector<std::string> UnitLayouts(const std::string& unit) const;

  // The cost of problem `p` (canonical key `key`) as candidate `layout` on the unit:
  //  - exact: the measurement of that key, when it is ok and not a reference kernel, as ComparableUs
  //    gives it (host time; its median, flagged when unstable);
  //  - nullopt when that key WAS measured there but is unusable (reference kernel, unsupported,
  //    failed, mistrusted): such a state must never be recommended;
  //  - else interpolated: by kNN (Interpolate), the local linear fit (Local) or the learned model
  //    (Learned), whichever ChosenEstimator names for the unit and op; a learned estimate that
  //    reaches too far from its training data, or whose ensemble disagrees too much, is refused and
  //    the answer is roofline;
  //  - else roofline (see Roofline); nullopt when the unit has nothing measured to base one on.
  // `roofline` false: stop after interpolation (nullopt when neither exact nor interpolated), so a
  // caller may try another layout name first. `*excluded` (when given) is set when the nullopt is
  // because of an unusable measurement.
  std::optional<Estimate> Op(const Problem& p, const std::string& key, const std::string& unit,
                             const std::string& layout, const std::string& dtype,
                             bool roofline = true, bool* excluded = nullptr) const;
  std::optional<Estimate> Op(const Problem& p, const std::string& unit, const std::string& layout,
                             const std::string& dtype) const {
    return Op(p, p.Key(), unit, layout, dtype);
  }
  // True when `key` was measured on (unit, layout, dtype) and the library had only its reference
  // kernel there: an ok row on a reference implementation, or one left unsupported because timing
  // that kernel would take too long (rows written before such rows were flagged are known by their
  // reason). A runtime executing that state runs the reference kernel.
  bool ReferenceOnly(const std::string& key, const std::string& unit, const std::string& layout,
                     const std::string& dtype) const;
  // True when `key` was measured on (unit, layout, dtype), usable or not.
  bool Measured(const std::string& key, const std::string& unit, const std::string& layout,
                const std::string& dtype) const;
  // The states of `key` in `dtype` that options.refuse turned down so far (it is asked as Op meets
  // unmeasured states): (unit/layout, reason), sorted.
  std::vector<std::pair<std::string, std::string>> Refusals(const std::string& key, const std::string& dtype) const;
  // The layouts oneDNN's `any` chose for this key (`dst`, or `src>dst` when it reads another layout
  // than it writes), else for the nearest measured problem of its op (empty when `any` was never
  // measured for the op).
  std::string ChosenLayout(const std::string& key, const std::string& unit,
                           const std::string& dtype) const;

  // Interpolation from the k nearest measured problems (never `exclude_key` itself: leave-one-out).
  std::optional<Estimate> Interpolate(const Problem& p, const std::string& unit,
                                      const std::string& layout, const std::string& dtype,
                                      const std::string& exclude_key = "") const;
  // The local linear estimate (see cost.cpp): a weighted ridge regression of log(time / size) on the
  // log features of the kLocalNeighbours nearest measured problems of the family, evaluated at `p`
  // (LOESS of degree 1). nullopt when the family has fewer than kLocalNeighbours other members; also
  // when `p` lies more than kMaxReach (log units) outside the neighbours' range in a feature they
  // vary in: then *refused (when given) is set, and Op answers with a roofline.
  std::optional<Estimate> Local(const Problem& p, const std::string& unit, const std::string& layout,
                                const std::string& dtype, const std::string& exclude_key = "",
                                bool* refused = nullptr) const;
  // The learned model's estimate (gradient-boosted trees on the problem's features, its op family's
  // measurements on the unit; see cost.cpp). nullopt when there is no model for the family or it has
  // never seen the layout, dtype or algorithm; also when the problem lies more than kMaxReach (log
  // units) outside the training range of a feature, or the ensemble's log-spread exceeds kMaxLogSd:
  // then *refused (when given) is set.
  std::optional<Estimate> Learned(const Problem& p, const std::string& unit, const std::string& layout,
                                  const std::string& dtype, bool* refused = nullptr) const;
  // Which estimator interpolates the op family on the unit (kKnn when nothing was chosen).
  Estimator ChosenEstimator(const std::string& unit, const std::string& op) const;
  // Every usable measurement predicted without itself, by each estimator: kNN and the local fit
  // leave-one-out (Interpolate and Local with the key excluded) and the learned model's out-of-fold
  // prediction (the member trained without the key's fold). The choice per (unit, op) is made on
  // these at load time.
  // A fused point whose anchor is measured in the same state also has `anchored`: the anchor's
  // measured time plus the post-ops' marginal costs fitted without the point (what the plan prices
  // an unmeasured chain by when its anchor is measured), `anchor_estimated`: the anchor's own
  // held-out estimate (HeldOutChosen) plus those marginals, and `nearer`: that or the chain's other
  // shapes (HeldOutChosen of the point), whichever kNN is less uncertain of (knn_log_sd; what the
  // plan prices a chain by when neither it nor its anchor is measured).
  struct HeldOut {
    std::string key, unit, layout, dtype, op;
    double us = 0;
    std::optional<double> knn, learned, local, anchored, anchor_estimated, nearer;
    double knn_log_sd = 0;  // Estimate::log_sd of kNN's prediction
  };
  const std::vector<HeldOut>& HeldOutPredictions() const { return heldout_; }
  // What Op answers for a point held out: the chosen estimator's prediction; kNN's where the learned
  // model has none (the local fit's column already holds kNN's where the family is too small for it,
  // and nothing where it refused: Op's roofline, a miss).
  std::optional<double> HeldOutChosen(const HeldOut& h) const;

  // max(flops / peak, bytes / bandwidth) + launch overhead, from the unit's own measurements.
  std::optional<Estimate> Roofline(double flops, double bytes, const std::string& unit) const;

  // Reorder of a `bytes`-sized activation of `shape` from one layout to another on a unit (0 when the
  // layouts are the same memory order; `plain` is nchw). A shape that is not 4-D: 2D/3D tensors,
  // where nchw, nhwc and plain are all row-major and only blocked layouts need a reorder. A 4-D shape
  // measured in that dtype (`sweep --model` measures the model's own) is exact; else interpolated by
  // the bytes the reorder touches, a blocked layout's channels padded to its block.
  double Reorder(const std::string& unit, const std::string& src, const std::string& dst,
                 const std::string& dtype, int64_t bytes, const std::vector<int64_t>& shape) const;
  // Moving `bytes` from one unit to another, plain layout, through the host (`cpu`): write to a
  // device, read from it, or read then write between two devices. Infinity when not measured.
  double Transfer(const std::string& src_unit, const std::string& dst_unit, int64_t bytes) const;

  // True when the database holds at least one usable measurement of a fused problem (an anchor with a
  // post-op chain): the selector then costs anchor sub-graphs as fused kernels, never as separate
  // passes.
  bool HasFused() const { return has_fused_; }
  // The measured marginal cost of one post-op after an anchor whose output is `out_bytes`, on (unit,
  // layout, dtype): the median over measured (fused - anchor) pairs of the time per output byte
  // (see FitMarginals in cost.cpp), times out_bytes; the unit's rate over all its layouts when the
  // layout has none; for an activation never measured fused on the unit in that dtype, the rate of
  // the activations that were (pooled, per layout, then over the unit's layouts); nullopt for any
  // other post-op never measured fused there.
  std::optional<double> MarginalUs(const std::string& unit, const std::string& layout,
                                   const std::string& dtype, const std::string& post_op,
                                   double out_bytes) const;
  // How far a fused chain priced as its measured anchor plus MarginalUs lands from the chain measured,
  // as a standard deviation of log time: over the unit's measured (fused, anchor) pairs, the median
  // |log((anchor + marginals) / fused)| / 0.6745 (a normal's median absolute deviation; the rates
  // fitted on the pairs themselves). 0 with fewer than 5 pairs on the unit. What `sweep --refine` adds
  // to such an estimate's uncertainty: without it, a chain whose anchor was measured counts as exact.
  double MarginalLogSd(const std::string& unit) const;

  // The sub-graph of nodes `nodes` of model `model` (ModelInstance) in state `layout` on the unit, as
  // timed inside that model's network (sweep --model --cache network; schema 8's network_times):
  // exact, its spread the interval's half-width; nullopt when it was not timed so (at once when the
  // file holds no network time).
  std::optional<Estimate> InNetwork(const std::string& model, const std::vector<int>& nodes, const std::string& unit,
                                    const std::string& layout, const std::string& dtype) const;

  // Roofline parameters, from the unit's measurements.
  double PeakFlopsPerUs(const std::string& unit) const;
  double BytesPerUs(const std::string& unit) const;
  double LaunchUs(const std::string& unit) const;
  // True when kNN scales the memory-bound `op` on `unit` by the unit's rate at each size rather
  // than by bytes (chosen by leave-one-out at load).
  bool ScalesByRateCurve(const std::string& unit, const std::string& op) const;
  // What kNN adds per weight element of a convolution, inner product or matmul, in FLOPs (chosen
  // by leave-one-out at load).
  double WeightFlops(const std::string& unit) const;
  // Bytes per us one thread streams from memory beyond the last-level cache (the sweeps' memory
  // calibration), on units that read host memory (the cpu, OpenCL devices of type cpu): what constant
  // weights cost to read in a network, where they are not in cache as in a hot-cache measurement.
  // 0 for other units and when the database holds no calibration.
  double StreamBytesPerUs(const std::string& unit) const;
  // How the planned target's sweeps timed (sweeps.cache_mode; a target's sweeps share it): hot, warm
  // or cold; hot for a file whose sweeps do not say.
  const std::string& CacheMode() const { return cache_mode_; }

  // Every usable exact measurement of an op family (for leave-one-out accuracy): (key, unit, layout,
  // dtype, median_us).
  struct Sample {
    std::string key, unit, layout, dtype;
    double us = 0;
  };
  std::vector<Sample> Samples(const std::string& op = "") const;

  // True when the key has any measurement (usable or not) on some unit of the planned target.
  bool Measured(const std::string& key) const { return rows_.count(key) > 0; }

  // True for ops whose time follows the bytes they move rather than their FLOPs.
  static bool IsMemoryBound(const std::string& op);

 private:
  struct Row {
    int unit = 0;
    std::string layout, dtype, chosen, impl;
    double us = 0;
    bool usable = false;
    bool reference = false;  // the library had only its reference kernel there
    double spread_us = 0;  // half-width of the measurement's interval, in us
    bool unstable = false;  // did not reach its stability target
  };
  struct Neighbour {
    std::string key;
    std::vector<double> features;
    double flops = 0, bytes = 0, us = 0;
    double rel_ci = 0;
    std::string impl;  // the implementation oneDNN (or the OpenCL kernel) chose
    double work = 0;   // what kNN scales by: flops_work + the unit's weight_flops * weights
    double flops_work = 0;  // ScaledWork: FLOPs, padded for convolutions, or bytes
    double weights = 0;     // weight elements (WeightElems) of a convolution, inner product, matmul
  };
  struct Curve {  // (bytes, us) sorted by bytes
    std::vector<std::pair<double, double>> points;
    double At(double bytes) const;
  };
  struct UnitStats {
    double peak_flops_per_us = 0, bytes_per_us = 0, launch_us = 0, stream_bytes_per_us = 0;
    double weight_flops = 0;  // what one weight element costs, in FLOPs (ChooseWeightCost)
    // The unit's element-wise rate by bytes moved, (bytes, bytes per us) sorted by bytes, never
    // rising with size (ChooseRateCurve); empty when too few were measured.
    std::vector<std::pair<double, double>> rate_by_bytes;
    // `bytes` in bytes at the unit's best rate: what they take at the rate of their size.
    double MemoryWork(double bytes) const;
  };

  int UnitIndex(const std::string& unit) const;
  void FitMarginals();
  // One measured (fused, anchor) pair: the fused key, its chain, where, both times and the output's
  // bytes.
  struct MarginalPair {
    std::string key;
    std::vector<std::string> chain;
    int unit;
    std::string layout, dtype;
    double anchor_us, fused_us, out_bytes;
    double DiffPerByte() const { return (fused_us - anchor_us) / out_bytes; }  // (fused - anchor) per byte
  };
  // Post-op rates (unit|layout|dtype|post-op and unit|*|dtype|post-op -> us per output byte) fitted
  // from `pairs`, without those of `exclude_key`.
  std::unordered_map<std::string, double> FitMarginalRates(const std::vector<MarginalPair>& pairs,
                                                           const std::string& exclude_key) const;
  // A post-op's cost at `out_bytes` from `rates`; nullopt when it has no rate on the unit.
  std::optional<double> MarginalFrom(const std::unordered_map<std::string, double>& rates,
                                     const std::string& unit, const std::string& layout,
                                     const std::string& dtype, const std::string& post_op,
                                     double out_bytes) const;
  // The pair's chain at its output size from `rates`: the sum of its post-ops' costs; nullopt when one
  // has no rate.
  std::optional<double> ChainMarginalFrom(const std::unordered_map<std::string, double>& rates,
                                          const MarginalPair& pair) const;
  std::optional<double> ReorderMeasured(int unit, const std::string& src, const std::string& dst,
                                        const std::string& dtype, int64_t bytes,
                                        const std::vector<int64_t>& shape) const;

  std::vector<std::string> units_;                            // index -> name
  std::unordered_map<std::string, std::vector<Row>> rows_;    // problem key -> its measurements
  struct Family {
    std::string unit, layout, dtype, op, alg;
    bool fused = false;  // anchor + post-op chain: kNN only (the learned models see plain problems)
    std::vector<Neighbour> members;
    bool memory_bound = false;
    double overhead_us = -1;  // fitted fixed part of a run; < 0 when too few members to fit
  };
  std::unordered_map<std::string, Family> families_;  // unit|layout|dtype|op|alg|chain
  // Features of the problems measured without a usable kernel, per family key as families_.
  std::unordered_map<std::string, std::vector<std::vector<double>>> unusable_;
  // The row of `key` on (unit index, layout, dtype), one per point; nullptr when it was not measured.
  const Row* FindRow(const std::string& key, int unit, const std::string& layout, const std::string& dtype) const;
  bool NearestIsUnusable(const Problem& p, const std::string& unit, const std::string& layout,
                         const std::string& dtype) const;
  // options_.refuse's answer for an unmeasured state, asked once per state (refusals_).
  bool Refused(const std::string& key, const std::string& unit, const std::string& layout,
               const std::string& dtype) const;
  std::unordered_map<std::string, std::vector<std::string>> layouts_;  // unit|op|dtype -> names
  std::unordered_map<std::string, Curve> reorders_;           // unit|src|dst|dtype, by padded bytes
  std::unordered_map<std::string, double> reorder_shapes_;     // unit|src|dst|dtype|mbNcChHwW -> us
  std::unordered_map<std::string, Curve> transfers_;          // device|method
  std::vector<UnitStats> stats_;
  std::vector<std::vector<std::string>> unit_layouts_;

  // Leave-one-out of every estimator, the learned models trained (unless options_.learned is false),
  // and the choice per (unit, op) (cost.cpp, ChooseEstimators).
  struct LearnedGroup;
  void ChooseEstimators();
  // The least-squares fixed part of a family's runs (its overhead_us) from its members' work.
  static void FitOverhead(Family* fam);
  // Each unit's weight_flops, chosen by kNN's leave-one-out on its convolutions, matmuls and
  // inner products.
  void ChooseWeightCost();
  // Each unit's rate_by_bytes, and the memory-bound ops kNN scales by it (rate_curve_ops_), chosen
  // per (unit, op) by leave-one-out.
  void ChooseRateCurve();
  std::set<std::string> rate_curve_ops_;  // unit|op
  // Leave-one-out of kNN over families' members: how many it places within 10%.
  struct HeldPoint {
    const Family* fam;
    Problem p;
    std::string key;
    double us;
  };
  static std::vector<HeldPoint> HeldPoints(const std::vector<Family*>& fams);
  size_t KnnWithin(const std::vector<HeldPoint>& points) const;
  const Neighbour* Nearest(const std::string& family, const Problem& p, const std::string& exclude) const;
  bool LearnedRow(const LearnedGroup& g, const Problem& p, const std::string& layout,
                  const std::string& dtype, const Neighbour* near, double knn_us,
                  std::vector<float>* row) const;
  CostModelOptions options_;
  std::map<std::string, std::unique_ptr<LearnedGroup>> learned_;  // unit|op (or a family key)
  std::map<std::string, Estimator> chosen_;                       // unit|op -> estimator
  std::vector<HeldOut> heldout_;
  std::unique_ptr<std::mutex> mutex_;  // guards cache_, refusals_ and the boosters' predictions
  mutable std::unordered_map<std::string, std::optional<Estimate>> cache_;
  mutable std::unordered_map<std::string, bool> cache_refused_;
  // options_.refuse's answers: key -> (unit, layout, dtype) -> reason, or nullopt when not refused.
  mutable std::unordered_map<std::string, std::map<std::tuple<std::string, std::string, std::string>,
                                                   std::optional<std::string>>>
      refusals_;
  bool has_fused_ = false;
  std::string cache_mode_ = "hot";
  std::unordered_map<std::string, double> marginals_;  // unit|layout|dtype|post-op -> us per out byte
  std::vector<double> marginal_log_sd_;                // per unit index (MarginalLogSd)
  std::unordered_map<std::string, Estimate> network_;  // model|nodes|unit|layout|dtype -> InNetwork
};

// A sub-graph's nodes as network_times.nodes spells them: `3,4,5`.
std::string NodeList(const std::vector<int>& nodes);

// The time the selector compares units by, from a measurement's statistics: what an application sees,
// i.e. the host's steady clock from enqueue to finish (host_median_us; equal to the median on the cpu
// unit, larger than an OpenCL device's event time by its enqueue, submission and wake-up), else — rows
// measured before schema 4 — the median. Never the upper end of the interval: with several visits a
// point's interval spans the whole machine's drift (often +-10-20%), and pricing unstable points at
// their upper end made them look worse than their neighbours for no measured reason.
double ComparableUs(const db::Stats& s);
// Whether the point did not reach its stability target (rows before schema 4, which have no flag: its
// 95% interval is wider than kWideRelCi of the median).
constexpr double kWideRelCi = 0.02;
bool IsUnstable(const db::Stats& s);

// Caps of the learned model (see CostModel::Learned): a factor 4 beyond the training range of a
// feature, an ensemble standard deviation of a factor 2.
constexpr double kMaxReach = 1.3862943611198906;   // log(4)
constexpr double kMaxLogSd = 0.69314718055994531;  // log(2)
// The local linear fit's neighbourhood: the nearest this many measured problems of the family.
constexpr size_t kLocalNeighbours = 6;

// Log-feature vector of a problem used for nearest-neighbour search (see cost.cpp).
std::vector<double> ProblemFeatures(const Problem& p);

}  // namespace layoutdb::selector
