#include "layoutdb/microbench/measure.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace layoutdb::microbench {

namespace {
constexpr int kFloorReps = 3;

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}
}  // namespace

Summary Summarize(std::vector<double> s, double target_rel_ci) {
  Summary r;
  if (s.empty()) return r;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  r.repetitions = static_cast<int>(n);
  r.median_us = Quantile(s, 0.5);
  r.p10_us = Quantile(s, 0.1);
  r.p90_us = Quantile(s, 0.9);
  r.min_us = s.front();
  r.mean_us = std::accumulate(s.begin(), s.end(), 0.0) / n;
  double var = 0;
  for (double x : s) var += (x - r.mean_us) * (x - r.mean_us);
  r.stddev_us = n > 1 ? std::sqrt(var / (n - 1)) : 0;
  // Distribution-free CI of the median from order statistics.
  const double half = 1.96 * std::sqrt(static_cast<double>(n)) / 2.0;
  const double lo_rank = std::max(0.0, std::floor(n / 2.0 - half));
  const double hi_rank = std::min(static_cast<double>(n - 1), std::ceil(n / 2.0 + half));
  const double lo = s[static_cast<size_t>(lo_rank)], hi = s[static_cast<size_t>(hi_rank)];
  r.rel_ci = r.median_us > 0 ? std::max(r.median_us - lo, hi - r.median_us) / r.median_us : 0;
  r.stable = n >= 5 && r.rel_ci <= target_rel_ci;
  return r;
}

std::vector<Summary> MeasureInterleaved(const std::vector<std::function<double()>>& runners,
                                        const MeasureConfig& cfg) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto elapsed_s = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  const size_t k = runners.size();
  std::vector<std::vector<double>> samples(k);
  if (k == 0) return {};
  // Warm-up: at least one untimed run each; more only while they fit in the budget (a kernel that
  // takes seconds is warm after one run).
  for (int w = 0; w < cfg.warmup; ++w) {
    if (w > 0 && elapsed_s() > cfg.budget_s / 2) break;
    for (size_t i = 0; i < k; ++i) runners[i]();
  }
  std::vector<bool> stable(k, false);
  for (int round = 0; round < cfg.max_reps; ++round) {
    for (size_t j = 0; j < k; ++j) {
      const size_t i = (j + round) % k;
      if (stable[i] && round >= cfg.min_reps) continue;  // stable ones stop spending the budget
      samples[i].push_back(runners[i]());
    }
    if (round + 1 >= cfg.min_reps) {
      // Re-check stability every few rounds (sorting is cheap next to a kernel, but not free).
      if ((round + 1) % 5 == 0 || round + 1 == cfg.min_reps) {
        bool all = true;
        for (size_t i = 0; i < k; ++i) {
          stable[i] = Summarize(samples[i], cfg.target_rel_ci).stable;
          all = all && stable[i];
        }
        if (all) break;
      }
      if (elapsed_s() > cfg.budget_s) break;
    }
    // Slow kernels: min_reps is a floor only within 4x the budget; never fewer than kFloorReps.
    if (round + 1 >= kFloorReps && elapsed_s() > 4 * cfg.budget_s) break;
  }
  std::vector<Summary> out;
  for (auto& s : samples) out.push_back(Summarize(std::move(s), cfg.target_rel_ci));
  return out;
}

}  // namespace layoutdb::microbench
