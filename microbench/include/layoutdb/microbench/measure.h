// The sweep's timing harness: warm-up, then the candidates of one problem timed interleaved,
// round-robin, until every median is stable or the point's time budget runs out.
//
// Why not Google Benchmark here: its model runs one benchmark to completion before the next, i.e.
// back to back, and on this class of machine back-to-back timing drifted 20-40% between runs and
// flipped winners, while interleaved timing kept the ranking. Google Benchmark is used for the
// benchmarks of our own hot paths and for the harness-overhead check (bench/).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace layoutdb::microbench {

struct MeasureConfig {
  int warmup = 3;                    // untimed runs per candidate before timing starts
  int min_reps = 10;                 // at least this many timed runs per candidate, while the point
                                     // stays within 4x budget_s (never fewer than 3)
  int max_reps = 2000;               // at most this many
  double target_rel_ci = 0.02;       // stop when the median's 95% CI half-width / median <= this
  double budget_s = 1.0;             // per point (all candidates together), warm-up included
};

struct Summary {
  double median_us = 0, p10_us = 0, p90_us = 0, mean_us = 0, stddev_us = 0, min_us = 0;
  int repetitions = 0;
  double rel_ci = 0;    // half-width of the median's 95% confidence interval over the median
  bool stable = false;  // rel_ci <= target when measuring stopped
};

// Statistics of a sample (not necessarily sorted). The median's confidence interval uses the order
// statistics at n/2 -+ 1.96 sqrt(n)/2 (distribution-free).
Summary Summarize(std::vector<double> samples_us, double target_rel_ci = 0.02);

// Times each runner (one call = one execution, returning microseconds) interleaved: round r runs
// candidate 0, 1, ..., k-1, then round r+1 starts again at candidate 0 (rotating the starting
// candidate each round so none always runs first). Returns one Summary per runner.
std::vector<Summary> MeasureInterleaved(const std::vector<std::function<double()>>& runners,
                                        const MeasureConfig& cfg);

}  // namespace layoutdb::microbench
