// The sweep's timing harness: warm-up, then the candidates of one problem timed interleaved,
// round-robin, until every median is stable or the point's time budget runs out.
//
// Why not Google Benchmark here: its model runs one benchmark to completion before the next, i.e.
// back to back, and on this class of machine back-to-back timing drifted 20-40% between runs and
// flipped winners, while interleaved timing kept the ranking. Google Benchmark is used for the
// benchmarks of our own hot paths and for the harness-overhead check (bench/).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "layoutdb/db.h"

namespace layoutdb::microbench {

class PlacementGate;  // calibration.h

struct MeasureConfig {
  int warmup = 3;                    // untimed runs per candidate before timing starts
  int min_reps = 10;                 // at least this many timed runs per candidate, while the point
                                     // stays within 4x its budget (never fewer than 3)
  int max_reps = 2000;               // at most this many
  double target_rel_ci = 0.02;       // stop when the median's 95% CI half-width / median <= this
  double budget_s = 1.0;             // per point (all candidates together), warm-up included
  // Per candidate: a point of k candidates gets max(budget_s, k * candidate_budget_s) (PointBudgetS),
  // so that a convolution timed in 16 (layout, dtype) candidates gets as much time per candidate as an
  // element-wise op in 4. 0: no scaling (budget_s for any number of candidates).
  double candidate_budget_s = 0;
  // Called before every run (warm-up and timed) with the candidate's index, outside the timed interval
  // and outside the budget: the cold- and warm-cache modes evict the caches here. Empty: nothing (hot).
  std::function<void(size_t candidate)> before_run;
  // The clock the budget is kept on, in seconds. Empty: std::chrono::steady_clock. Tests give a
  // synthetic one that their runners advance.
  std::function<double()> clock_s;
  // Asked before every timed round-robin pass, outside the timed interval and the budget: waits
  // (within its allowance) for the kernels' threads to be near each other. Null: no gate.
  PlacementGate* gate = nullptr;
};

// The time budget of one point of `candidates` candidates: max(budget_s, candidates * candidate_budget_s).
double PointBudgetS(const MeasureConfig& cfg, size_t candidates);

// One timed run. `us` is the figure the statistics are kept on (the CPU's host clock around execute
// + wait; an OpenCL device's profiling events); `host_us`, when the runner has it (>= 0), is the
// host-side time of the same run from before the enqueue to after the wait.
struct Sample {
  double us = 0;
  double host_us = -1;
};

struct Summary {
  double median_us = 0, p10_us = 0, p90_us = 0, mean_us = 0, stddev_us = 0, min_us = 0;
  int repetitions = 0;
  double rel_ci = 0;    // half-width of the median's 95% confidence interval over the median
  bool stable = false;  // rel_ci <= target when measuring stopped (and the interval exists: n >= 6)
  // The host-side figures of the same runs (when every run reported one).
  bool has_host = false;
  double host_median_us = 0, host_p10_us = 0, host_p90_us = 0;
  double budget_s = 0;  // the point's budget (MeasureInterleaved*)
  // Timed runs taken while MeasureConfig::gate said the threads were apart (its allowance spent).
  int apart_reps = 0;
};

// The 0-based ranks (lo, hi) of the order statistics that bound the distribution-free confidence
// interval of the median of n samples: the widest symmetric pair x(j) .. x(n+1-j) (1-based) whose
// exact binomial coverage 1 - 2 P(Bin(n, 1/2) <= j-1) is at least `confidence`. nullopt when n is too
// small for any (n < 6 at 95%: even min .. max covers only 1 - 2^(1-n)).
std::optional<std::pair<size_t, size_t>> MedianCiRanks(size_t n, double confidence = 0.95);

// Statistics of a sample (not necessarily sorted). The median's confidence interval uses the order
// statistics of MedianCiRanks; with fewer than 6 samples it has none: rel_ci is then the whole range
// over the median and the summary is never stable.
Summary Summarize(std::vector<double> samples_us, double target_rel_ci = 0.02);

// A summary as the database stores it. `timer`: the clock of the summary's figures (host or event);
// `cache_mode`: how the runs were prepared (hot, warm, cold; network: timed inside a model's network).
// The host figures are the summary's own host ones, else (timer host) its figures.
db::Stats ToStats(const Summary& s, const std::string& timer, const std::string& cache_mode);

// The q-quantile (0..1) of samples, linear between order statistics: the rule Summarize's median,
// p10 and p90 use (0 for no samples).
double Percentile(std::vector<double> samples, double q);

// Times each runner (one call = one execution) interleaved: round r runs candidate 0, 1, ..., k-1,
// then round r+1 starts again at candidate 0 (rotating the starting candidate each round so none
// always runs first). Stopping rule: after min_reps rounds, a candidate whose median is stable stops
// being run; measuring ends when every candidate is stable, after max_reps rounds, once the point's
// budget (PointBudgetS) is spent, or — below min_reps, for slow kernels — once 4x the budget is
// spent with at least 3 runs each. Returns one Summary per runner.
std::vector<Summary> MeasureInterleaved(const std::vector<std::function<double()>>& runners,
                                        const MeasureConfig& cfg);
std::vector<Summary> MeasureInterleavedTimed(const std::vector<std::function<Sample()>>& runners,
                                             const MeasureConfig& cfg);

// ---- Visits: one point measured at several moments ----
//
// One visit (a few hundred milliseconds) cannot tell the truth from a moment when the machine was in
// another state (another tenant, the frequency, the OS): two sweeps of the same spec saw whole
// problems, every layout together, move by 7-100% while each visit's own interval said +-2%. The
// sweep therefore measures every point in `visits` visits spread over the sweep, each with 1/visits of
// the point's budget (VisitConfig), and stores their combination (CombineVisits).

// The timing configuration of one of `visits` visits of a point: the budgets (budget_s,
// candidate_budget_s), min_reps and max_reps split between the visits, so that all visits together
// spend what one visit spent before (a quick, steady kernel still stops early in each visit: stability
// is checked at 6 runs, the fewest with an interval); warm-up and the stability target stay (each
// visit prepares its kernels afresh). visits <= 1: `cfg` unchanged.
MeasureConfig VisitConfig(const MeasureConfig& cfg, int visits);

// The combination of one candidate's visits (each the Summary of one visit; empty ones, repetitions
// == 0, are left out):
//  - median_us, p10/p90 (and the host clock's): those of the quietest visit, the one with the lowest
//    median. Another tenant, the OS or a busy memory bus only ever slow a kernel down, so the
//    quietest moment is the one a sweep finds again (the minimum is the robust estimator of a time
//    under such noise: Chen & Revels, "Robust benchmarking in noisy environments", 2016, the rule of
//    Julia's BenchmarkTools). Measured on three pairs of quick sweeps (3 visits, 2 vCPUs): points of
//    two sweeps within 5% of each other 33-48% with the median of the visits, 60-62% with the
//    quietest; median difference 5.2-9.5% against 2.5-3.0%. Each moment counts once however many
//    runs fitted in it;
//  - min_us: the least run; mean_us, stddev_us: of all runs pooled (exact from the visits' means,
//    deviations and counts), so they keep the slow moments; repetitions: all runs of all visits;
//  - rel_ci: the larger of the visits' own median interval (their median) and the spread between the
//    visits, VisitIntervalFactor(n) * the range of their medians / median_us: an interval that says
//    how far another sweep's quietest of n visits may fall (95% when the moments' levels are normal;
//    wider than needed when they are one-sided), not only how well one moment was sampled. Honest
//    intervals from few moments are wide: with 3 visits 2.42x their range;
//  - stable: rel_ci <= target_rel_ci (so a point whose moments disagree is not stable).
// One visit: that visit unchanged. No visit with runs: an empty Summary.
Summary CombineVisits(const std::vector<Summary>& visits, double target_rel_ci);

// The spread between visits of one candidate: the range of the visits' medians over the median of
// them (figures <= 0 left out). 0 with fewer than 2 visits.
double VisitSpread(const std::vector<double>& visit_medians);

// The factor k(n) that makes k(n) * range of n visit medians a 95% prediction half-width for another
// quietest (lowest) of n visit medians, when the moments' levels are normal: 10.45 (2 visits),
// 2.42 (3), 1.45 (4), 1.11 (5), 0.89 (6), 0.77 (7), 0.70 (8 and more); 0 for fewer than 2. With
// one-sided (exponential) moments the same quantile is 9.45, 1.68, 0.75, 0.46, ...: these cover it.
double VisitIntervalFactor(size_t visits);

// How far the machine moved between the visits of one point, judged by all its candidates together:
// for every visit, the median over candidates of (candidate's median in that visit / the median of
// its visits' medians); returns the range of these levels over the visits (max / min - 1). The
// candidates of one problem are timed interleaved within a visit, so a moment when the machine was
// elsewhere moves them all together; one candidate's own noise moves only that candidate and barely
// moves the level. `medians[c][v]`: candidate c's median in visit v (<= 0: no figure, left out).
// 0 with fewer than 2 visits.
double VisitLevelSpread(const std::vector<std::vector<double>>& medians);

}  // namespace layoutdb::microbench
