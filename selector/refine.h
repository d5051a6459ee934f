// `layoutdb sweep --refine N`, the selector's half: which unmeasured problems are worth measuring next
// (nn-Meter's adaptive sampling). The profiler measures them; app/main.cpp wires the two.
#pragma once

#include <string>
#include <vector>

#include "cost.h"

namespace layoutdb::selector {

struct RefineOptions {
  std::string db;                   // the database (read-only here)
  std::string model;                // an ONNX model: candidates are its plan's non-exact problems
  std::vector<std::string> inputs;  // NAME:D1,D2,... for the model's dynamic inputs
  std::vector<std::string> units;   // empty: every unit of the database
  std::vector<std::string> dtypes;  // empty: f32
  int count = 0;                    // how many to pick
};

// One state of a problem: (unit, layout) and its estimate.
struct RefineState {
  std::string unit, layout;
  Estimate estimate;
  double log_sd = 0;  // the estimate's uncertainty (roofline: kRooflineLogSd, exact: 0)
};

struct RefineCandidate {
  std::string key, dtype;
  std::vector<RefineState> states;  // cheapest first
  bool overlaps = false;  // the best state's interval (estimate x e^(+-2 sd)) overlaps the runner-up's
  double score = 0;       // uncertainty of the deciding states x how much the decision depends on them
};

// The uncertainty given to a roofline estimate (log units: a factor e).
constexpr double kRooflineLogSd = 1.0;

// Candidate problem keys: with a model, its nodes' problems that are not exact on some candidate
// state; else the grid neighbourhood of the measured keys (each size parameter doubled and halved,
// the spatial pair together), keys not measured. Throws std::runtime_error (bad model or input).
std::vector<std::string> RefineCandidateKeys(const CostModel& cost, const RefineOptions& options);

// Every candidate's states and score, highest score first; candidates without a non-exact state are
// dropped. The score of a problem: the largest log_sd of its best and runner-up states, times 1 when
// their intervals overlap (the decision depends on the estimates) and 0.1 when not.
std::vector<RefineCandidate> RankRefine(const CostModel& cost, const std::vector<std::string>& keys,
                                        const RefineOptions& options);

// A table of the picked candidates: key, dtype, score, best and runner-up with their estimates.
std::string FormatRefinePicks(const std::vector<RefineCandidate>& picks);
// After measuring: per pick, the estimate before and the value now (exact when measured), per state,
// and whether the best state changed.
std::string FormatRefineChanges(const std::vector<RefineCandidate>& before, const CostModel& after);

}  // namespace layoutdb::selector
