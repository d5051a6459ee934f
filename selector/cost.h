// Cost lookup: what one operator, one reorder and one transfer cost on a unit, from the database.
// Internal to selector/. Everything is read once at construction into hash maps; a lookup touches no
// SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/problem.h"

namespace layoutdb::selector {

// How much an estimate is worth; ordered weakest first so std::min gives a sub-graph's confidence.
enum class Confidence { kRoofline = 0, kInterpolated = 1, kExact = 2 };
const char* ConfidenceName(Confidence c);

struct Estimate {
  double us = 0;
  Confidence confidence = Confidence::kExact;
  // Half-width of the estimate's interval in microseconds: the measurement's 95% CI of the median
  // (exact), the widest of the neighbours' scaled to the estimate (interpolated); 0 for a roofline.
  double spread_us = 0;
  // The measurement did not reach its stability target (or, measured before schema 4, its CI is wider
  // than 2%): `us` is the upper end of its interval rather than its median, so that a state whose time
  // is uncertain must win by more than its uncertainty.
  bool widened = false;
};

class CostModel {
 public:
  explicit CostModel(db::Database& db);
  // Opens the file read-only (db::Mode::kReadOnly) and loads it.
  static CostModel Load(const std::string& db_path);

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
  //    gives it (host time; widened when unstable);
  //  - nullopt when that key WAS measured there but is unusable (reference kernel, unsupported,
  //    failed, mistrusted): such a state must never be recommended;
  //  - else interpolated from the nearest measured problems of the same op and alg (see Interpolate);
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
  // The layouts oneDNN's `any` chose for this key (`dst`, or `src>dst` when it reads another layout
  // than it writes), else for the nearest measured problem of its op (empty when `any` was never
  // measured for the op).
  std::string ChosenLayout(const std::string& key, const std::string& unit,
                           const std::string& dtype) const;

  // Interpolation from the k nearest measured problems (never `exclude_key` itself: leave-one-out).
  std::optional<Estimate> Interpolate(const Problem& p, const std::string& unit,
                                      const std::string& layout, const std::string& dtype,
                                      const std::string& exclude_key = "") const;
  // max(flops / peak, bytes / bandwidth) + launch overhead, from the unit's own measurements.
  std::optional<Estimate> Roofline(double flops, double bytes, const std::string& unit) const;

  // Reorder of a `bytes`-sized activation from one layout to another on a unit (0 when the layouts
  // are the same memory order; `plain` is nchw). `rank4` false: 2D/3D tensors, where nchw, nhwc and
  // plain are all row-major and only blocked layouts need a reorder.
  double Reorder(const std::string& unit, const std::string& src, const std::string& dst,
                 const std::string& dtype, int64_t bytes, bool rank4 = true) const;
  // Moving `bytes` from one unit to another, plain layout, through the host (`cpu`): write to a
  // device, read from it, or read then write between two devices. Infinity when not measured.
  double Transfer(const std::string& src_unit, const std::string& dst_unit, int64_t bytes) const;

  // Roofline parameters, from the unit's measurements.
  double PeakFlopsPerUs(const std::string& unit) const;
  double BytesPerUs(const std::string& unit) const;
  double LaunchUs(const std::string& unit) const;

  // Every usable exact measurement of an op family (for leave-one-out accuracy): (key, unit, layout,
  // dtype, median_us).
  struct Sample {
    std::string key, unit, layout, dtype;
    double us = 0;
  };
  std::vector<Sample> Samples(const std::string& op = "") const;

  // True for ops whose time follows the bytes they move rather than their FLOPs.
  static bool IsMemoryBound(const std::string& op);

 private:
  struct Row {
    int unit = 0;
    std::string layout, dtype, chosen;
    double us = 0;
    bool usable = false;
    double spread_us = 0;  // half-width of the measurement's interval, in us
    bool widened = false;  // us is the upper end of the interval
  };
  struct Neighbour {
    std::string key;
    std::vector<double> features;
    double flops = 0, bytes = 0, us = 0;
    double rel_ci = 0;
  };
  struct Curve {  // (bytes, us) sorted by bytes
    std::vector<std::pair<double, double>> points;
    double At(double bytes) const;
  };
  struct UnitStats {
    double peak_flops_per_us = 0, bytes_per_us = 0, launch_us = 0;
  };

  int UnitIndex(const std::string& unit) const;
  std::optional<double> ReorderMeasured(int unit, const std::string& src, const std::string& dst,
                                        const std::string& dtype, int64_t bytes) const;

  std::vector<std::string> units_;                            // index -> name
  std::unordered_map<std::string, std::vector<Row>> rows_;    // problem key -> its measurements
  struct Family {
    std::vector<Neighbour> members;
    bool memory_bound = false;
    double overhead_us = -1;  // fitted fixed part of a run; < 0 when too few members to fit
  };
  std::unordered_map<std::string, Family> families_;  // unit|layout|dtype|op|alg
  std::unordered_map<std::string, std::vector<std::string>> layouts_;  // unit|op|dtype -> names
  std::unordered_map<std::string, Curve> reorders_;           // unit|src|dst|dtype
  std::unordered_map<std::string, Curve> transfers_;          // device|method
  std::vector<UnitStats> stats_;
  std::vector<std::vector<std::string>> unit_layouts_;
};

// The time the selector compares units by, from a measurement's statistics: what an application sees,
// i.e. the host's steady clock from enqueue to finish (host_median_us; equal to the median on the cpu
// unit, larger than an OpenCL device's event time by its enqueue, submission and wake-up), else — rows
// measured before schema 4 — the median. Widened to median * (1 + rel_ci) when the point did not reach
// its stability target (rows before schema 4: when rel_ci > kWideRelCi). Sets *widened accordingly.
constexpr double kWideRelCi = 0.02;
double ComparableUs(const db::Stats& s, bool widen, bool* widened = nullptr);

// Log-feature vector of a problem used for nearest-neighbour search (see cost.cpp).
std::vector<double> ProblemFeatures(const Problem& p);

}  // namespace layoutdb::selector
