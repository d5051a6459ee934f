// `layoutdb sweep --refine N`, the selector's half: which unmeasured problems are worth measuring next
// (nn-Meter's adaptive sampling). The profiler measures them; app/main.cpp wires the two.
#pragma once

#include <string>
#include <vector>

#include "cost.h"

namespace layoutdb::selector {

struct RefineOptions {
  std::string db;                   // the database (read-only here)
  std::string model;                // an ONNX model: candidates are what its plan prices
  std::vector<std::string> inputs;  // NAME:D1,D2,... for the model's dynamic inputs
  std::vector<std::string> units;   // empty: every unit of the database
  std::vector<std::string> dtypes;  // empty: f32
  int count = 0;                    // how many to pick
};

// One state of a problem (grid) or of a sub-graph (model): (unit, layout) and its estimate.
struct RefineState {
  std::string unit, layout;  // layout: a sub-graph's label (nchw>nChw16c) with a model
  Estimate estimate;
  double log_sd = 0;        // the estimate's uncertainty (roofline: kRooflineLogSd, exact: 0)
  double uncertain_us = 0;  // UncertainUs, summed over a sub-graph's nodes
};

struct RefineCandidate {
  std::string key, dtype;
  std::vector<RefineState> states;  // cheapest first
  bool overlaps = false;  // the best state's interval overlaps another's: the decision depends on them
  // Grid: the uncertainty (log_sd) of the deciding states x 1 when they overlap, 0.1 when not.
  // Model: the microseconds at stake, summed over the sub-graphs that run this key (see RankRefineModel).
  double score = 0;
  int subgraph = -1;  // model: the sub-graph whose states these are (the highest-scored that runs it)
  int instances = 0;  // model: how many of its sub-graphs run this key
};

// The grid neighbourhood of the measured keys (each size parameter doubled and halved, the spatial
// pair together): keys not measured.
std::vector<std::string> RefineCandidateKeys(const CostModel& cost, const RefineOptions& options);

// Every candidate's states and score, highest score first; candidates without a non-exact state are
// dropped. The score of a problem: the largest log_sd of its best and runner-up states, times 1 when
// their intervals (estimate x e^(+-2 sd)) overlap and 0.1 when not.
std::vector<RefineCandidate> RankRefine(const CostModel& cost, const std::vector<std::string>& keys,
                                        const RefineOptions& options);

// With options.model: what its plan prices, by what the plan stands to lose. Every sub-graph's states
// as the plan costs them (fused chains included); a sub-graph's stake is its best state's uncertainty
// in microseconds (the plan's total moves by that much) plus the largest of the other states' whose
// interval (us +- 2 x uncertain_us) overlaps the best's (the decision may flip). Its candidates are
// the keys the plan prices it by (the fused key of its anchor, its other nodes' problems) that some
// unit does not hold yet; a key run by several sub-graphs sums their stakes. A 1 us activation that
// fuses into its convolution is never a candidate; a 2 ms convolution 20% uncertain is worth 400 us.
// Throws std::runtime_error (bad model or input).
std::vector<RefineCandidate> RankRefineModel(const CostModel& cost, const RefineOptions& options);

// A table of the picked candidates: key, dtype, score, best and runner-up with their estimates.
std::string FormatRefinePicks(const std::vector<RefineCandidate>& picks);
// After measuring: per pick, the estimate before and the value now (exact when measured), per state,
// and whether the best state changed. With options.model, the states are the sub-graph's.
std::string FormatRefineChanges(const std::vector<RefineCandidate>& before, const CostModel& after,
                                const RefineOptions& options);

}  // namespace layoutdb::selector
