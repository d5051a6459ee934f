// Private to reports/: one target's measurements with names joined in, and what the report reads off
// them — the winning layout per problem, how far `any` is from it, the unit's measured peaks, and the
// differences between two targets.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layoutdb/db.h"

namespace layoutdb::reports {

struct Point {
  std::string unit, op, key, layout, chosen_layout, dtype, status, impl, reason;
  bool reference = false;
  double median_us = 0, p10_us = 0, p90_us = 0, rel_ci = 0;
  int64_t repetitions = 0;
  double flops = 0, bytes = 0;  // bytes at the dtype's element size

  // Ranked and recommended only when true: measured ok, not on a reference implementation.
  bool Usable() const { return status == "ok" && !reference && median_us > 0; }
};

struct Target {
  std::string source;  // the database file it came from
  db::TargetRow row;
  std::vector<db::UnitRow> units;
  std::vector<db::SweepRow> sweeps;
  std::vector<Point> points;
  std::vector<db::TransitionRow> transitions;
  std::vector<db::TransferRow> transfers;
  std::map<int64_t, std::string> unit_names;  // unit id -> name
  double target_rel_ci = 0.02;  // the stability target of its sweeps' specs (the largest)

  // "host (cpu model, 1a2b3c4d)".
  std::string Label() const;
};

// Every target of a database, each with its own units, sweeps and points.
std::vector<Target> LoadTargets(db::Database& d);

// One problem of a family ranked across layouts; `best` is the fastest usable layout other than
// `any` (oneDNN's own choice is compared with it, never counted as a winner).
struct Ranked {
  std::string key;
  double flops = 0;
  std::map<std::string, const Point*> by_layout;
  std::string best;
  double best_us = 0;
};

struct Family {
  std::string unit, op, dtype;
  std::vector<std::string> layouts;  // in the order a person expects (plain, blocked, any, mixed)
  std::vector<Ranked> problems;      // smallest FLOPs first
  std::map<std::string, int> wins;   // layout -> problems it wins
  std::map<std::string, double> geomean_slowdown;  // layout -> geometric mean of its time / best
  std::map<std::string, int> ranked;               // layout -> problems where it has a usable time
};
std::vector<Family> RankLayouts(const Target& t);

struct AnyResult {
  std::string unit, op, dtype, key, chosen, best;
  double any_us = 0, best_us = 0;
  double any_ci = 0, best_ci = 0;  // their medians' relative 95% CI half-widths
  double Ratio() const { return any_us / best_us; }
};
// Every problem where both `any` and an explicit layout were measured usable.
std::vector<AnyResult> AnyAgainstBest(const std::vector<Family>& families);

struct Peak {
  std::string unit, dtype;
  double gflops = 0, gbps = 0;  // 0: nothing measured to derive it from
  std::string gflops_key, gbps_key;
};
// The selector's own peaks: the best GFLOP/s of conv2d, matmul and ip; the best GB/s of eltwise and
// binary (bytes read and written once).
std::vector<Peak> Peaks(const Target& t);

// The same (unit, problem, dtype) on two targets.
struct Difference {
  std::string unit, op, dtype, key;
  std::string best_a, best_b;
  double best_a_us = 0, best_b_us = 0;
  double a_choice_on_b_us = 0;  // B's time in A's winning layout (0 when B did not measure it)
};
std::vector<Difference> Compare(const std::vector<Family>& a, const std::vector<Family>& b);

// Layouts in the order a person expects: plain, then blocked, then the library's choice, then mixed.
int LayoutRank(const std::string& layout);

// Geometric mean (0 for none).
double GeoMean(const std::vector<double>& v);

}  // namespace layoutdb::reports
