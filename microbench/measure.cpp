#include "layoutdb/microbench/measure.h"

#include "layoutdb/microbench/calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace layoutdb::microbench {

namespace {
constexpr int kFloorReps = 3;
constexpr int kFirstIntervalReps = 6;  // the fewest runs with a 95% interval of the median

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

// Two-sided standard normal quantile for the confidences used here (the normal approximation of the
// binomial, for very large n only).
double NormalZ(double confidence) {
  // Bisection on erfc: plenty for a handful of calls.
  const double tail = (1 - confidence) / 2;
  double lo = 0, hi = 10;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    if (0.5 * std::erfc(mid / std::sqrt(2.0)) > tail) lo = mid; else hi = mid;
  }
  return (lo + hi) / 2;
}
}  // namespace

double Percentile(std::vector<double> samples, double q) {
  std::sort(samples.begin(), samples.end());
  return Quantile(samples, q);
}

double PointBudgetS(const MeasureConfig& cfg, size_t candidates) {
  return std::max(cfg.budget_s, static_cast<double>(candidates) * cfg.candidate_budget_s);
}

std::optional<std::pair<size_t, size_t>> MedianCiRanks(size_t n, double confidence) {
  if (n == 0 || confidence <= 0 || confidence >= 1) return std::nullopt;
  const double tail = (1 - confidence) / 2;
  size_t j = 0;  // 1-based rank of the lower bound; 0: none
  if (n <= 20000) {
    // Exact: the largest j with P(Bin(n, 1/2) <= j - 1) <= tail.
    const double log_half_n = static_cast<double>(n) * std::log(0.5), log_n_fact = std::lgamma(n + 1.0);
    double cdf = 0;
    for (size_t k = 0; k <= n / 2; ++k) {
      cdf += std::exp(log_n_fact - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + log_half_n);
      if (cdf > tail * (1 + 1e-12)) break;
      j = k + 1;
    }
  } else {
    const double z = NormalZ(confidence);
    j = static_cast<size_t>(std::floor(n / 2.0 - z * std::sqrt(static_cast<double>(n)) / 2.0));
  }
  if (j == 0) return std::nullopt;
  return std::make_pair(j - 1, n - j);
}

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
  // Distribution-free CI of the median from order statistics; with too few samples for one, the
  // whole range stands in (and the point cannot be stable).
  const auto ranks = MedianCiRanks(n);
  const double lo = ranks ? s[ranks->first] : s.front(), hi = ranks ? s[ranks->second] : s.back();
  r.rel_ci = r.median_us > 0 ? std::max(r.median_us - lo, hi - r.median_us) / r.median_us : 0;
  r.stable = ranks.has_value() && r.rel_ci <= target_rel_ci;
  return r;
}

std::vector<Summary> MeasureInterleavedTimed(const std::vector<std::function<Sample()>>& runners,
                                             const MeasureConfig& cfg) {
  const auto steady = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  const std::function<double()> clock = cfg.clock_s ? cfg.clock_s : std::function<double()>(steady);
  const size_t k = runners.size();
  if (k == 0) return {};
  const double budget = PointBudgetS(cfg, k);
  const double start = clock();
  double excluded = 0;  // time spent in before_run (cache eviction): not the point's budget
  const auto elapsed_s = [&] { return clock() - start - excluded; };
  const auto run = [&](size_t i) {
    if (cfg.before_run) {
      const double t0 = clock();
      cfg.before_run(i);
      excluded += clock() - t0;
    }
    return runners[i]();
  };
  std::vector<std::vector<double>> samples(k), host(k);
  // Warm-up: at least one untimed run each; more only while they fit in the budget (a kernel that
  // takes seconds is warm after one run).
  for (int w = 0; w < cfg.warmup; ++w) {
    if (w > 0 && elapsed_s() > budget / 2) break;
    for (size_t i = 0; i < k; ++i) run(i);
  }
  std::vector<bool> stable(k, false);
  std::vector<int> apart(k, 0);
  for (int round = 0; round < cfg.max_reps; ++round) {
    bool near = true;
    if (cfg.gate) {
      const double t0 = clock();
      near = cfg.gate->WaitNear();
      excluded += clock() - t0;
    }
    for (size_t j = 0; j < k; ++j) {
      const size_t i = (j + round) % k;
      if (stable[i] && round >= cfg.min_reps) continue;  // stable ones stop spending the budget
      const Sample s = run(i);
      samples[i].push_back(s.us);
      host[i].push_back(s.host_us);
      if (!near) ++apart[i];
    }
    if (round + 1 >= cfg.min_reps) {
      // Re-check stability every few rounds (sorting is cheap next to a kernel, but not free).
      if ((round + 1) % 5 == 0 || round + 1 == cfg.min_reps || round + 1 == kFirstIntervalReps) {
        bool all = true;
        for (size_t i = 0; i < k; ++i) {
          stable[i] = Summarize(samples[i], cfg.target_rel_ci).stable;
          all = all && stable[i];
        }
        if (all) break;
      }
      if (elapsed_s() > budget) break;
    }
    // Slow kernels: min_reps is a floor only within 4x the budget; never fewer than kFloorReps.
    if (round + 1 >= kFloorReps && elapsed_s() > 4 * budget) break;
  }
  std::vector<Summary> out;
  for (size_t i = 0; i < k; ++i) {
    Summary s = Summarize(std::move(samples[i]), cfg.target_rel_ci);
    s.budget_s = budget;
    s.apart_reps = apart[i];
    const bool all_host = !host[i].empty() &&
                          std::all_of(host[i].begin(), host[i].end(), [](double h) { return h >= 0; });
    if (all_host) {
      const Summary h = Summarize(std::move(host[i]), cfg.target_rel_ci);
      s.has_host = true;
      s.host_median_us = h.median_us;
      s.host_p10_us = h.p10_us;
      s.host_p90_us = h.p90_us;
    }
    out.push_back(s);
  }
  return out;
}

std::vector<Summary> MeasureInterleaved(const std::vector<std::function<double()>>& runners,
                                        const MeasureConfig& cfg) {
  std::vector<std::function<Sample()>> timed;
  timed.reserve(runners.size());
  for (const auto& r : runners) timed.push_back([&r] { return Sample{r(), -1}; });
  return MeasureInterleavedTimed(timed, cfg);
}

namespace {
double MedianOf(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return Quantile(v, 0.5);
}
}  // namespace

MeasureConfig VisitConfig(const MeasureConfig& cfg, int visits) {
  if (visits <= 1) return cfg;
  MeasureConfig v = cfg;
  v.budget_s = cfg.budget_s / visits;
  v.candidate_budget_s = cfg.candidate_budget_s / visits;
  // Split too (slow kernels keep to 4x the visit's budget only above it); a quick, steady kernel still
  // stops early: stability is also checked at 6 runs, the fewest with an interval (MeasureInterleaved).
  v.min_reps = std::max(1, (cfg.min_reps + visits - 1) / visits);
  v.max_reps = std::max(v.min_reps, (cfg.max_reps + visits - 1) / visits);
  return v;
}

double VisitSpread(const std::vector<double>& visit_medians) {
  std::vector<double> m;
  for (double x : visit_medians)
    if (x > 0) m.push_back(x);
  if (m.size() < 2) return 0;
  std::sort(m.begin(), m.end());
  return (m.back() - m.front()) / Quantile(m, 0.5);
}

double VisitIntervalFactor(size_t visits) {
  // The 95% quantile of |lowest of n - another lowest of n| / range of the first n, for n normal
  // moments (Monte Carlo, 40000 pairs each; the ratio does not depend on the moments' spread).
  static constexpr double kFactor[] = {0, 0, 10.45, 2.42, 1.45, 1.11, 0.89, 0.77, 0.70};
  if (visits < 2) return 0;
  return kFactor[std::min<size_t>(visits, 8)];  // beyond 8 the factor of 8: wider than needed
}

double VisitLevelSpread(const std::vector<std::vector<double>>& medians) {
  size_t visits = 0;
  for (const auto& c : medians) visits = std::max(visits, c.size());
  if (visits < 2) return 0;
  std::vector<std::vector<double>> ratios(visits);  // per visit, every candidate's median / its own level
  for (const auto& c : medians) {
    std::vector<double> ok;
    for (double x : c)
      if (x > 0) ok.push_back(x);
    if (ok.size() < 2) continue;
    const double own = MedianOf(ok);
    for (size_t v = 0; v < c.size(); ++v)
      if (c[v] > 0) ratios[v].push_back(c[v] / own);
  }
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto& r : ratios) {
    if (r.empty()) continue;
    const double level = MedianOf(r);
    lo = any ? std::min(lo, level) : level;
    hi = any ? std::max(hi, level) : level;
    any = true;
  }
  return any && lo > 0 ? hi / lo - 1 : 0;
}

Summary CombineVisits(const std::vector<Summary>& visits, double target_rel_ci) {
  std::vector<const Summary*> v;
  for (const auto& s : visits)
    if (s.repetitions > 0) v.push_back(&s);
  if (v.empty()) return {};
  if (v.size() == 1) return *v.front();
  // The quietest visit: the lowest median (the first of equals).
  const Summary* quiet = *std::min_element(v.begin(), v.end(), [](const Summary* a, const Summary* b) {
    return a->median_us < b->median_us;
  });
  Summary r;
  r.median_us = quiet->median_us;
  r.p10_us = quiet->p10_us;
  r.p90_us = quiet->p90_us;
  r.min_us = v.front()->min_us;
  double n = 0, sum = 0, within_rel_ci = 0;
  std::vector<double> medians, cis;
  for (const Summary* s : v) {
    r.min_us = std::min(r.min_us, s->min_us);
    n += s->repetitions;
    sum += s->mean_us * s->repetitions;
    r.budget_s += s->budget_s;
    medians.push_back(s->median_us);
    cis.push_back(s->rel_ci);
  }
  r.repetitions = static_cast<int>(n);
  r.mean_us = sum / n;
  // Pooled variance: the visits' own sums of squares plus their means' distances to the pooled mean.
  double ss = 0;
  for (const Summary* s : v) {
    ss += (s->repetitions - 1) * s->stddev_us * s->stddev_us;
    ss += s->repetitions * (s->mean_us - r.mean_us) * (s->mean_us - r.mean_us);
  }
  r.stddev_us = n > 1 ? std::sqrt(ss / (n - 1)) : 0;
  within_rel_ci = MedianOf(cis);
  // The factor is of the visits' range in absolute terms; relative to the stored (quietest) median.
  const auto [lo, hi] = std::minmax_element(medians.begin(), medians.end());
  const double range_rel = r.median_us > 0 ? (*hi - *lo) / r.median_us : 0;
  r.rel_ci = std::max(within_rel_ci, VisitIntervalFactor(medians.size()) * range_rel);
  r.stable = r.rel_ci <= target_rel_ci;
  r.apart_reps = quiet->apart_reps;
  r.has_host = std::all_of(v.begin(), v.end(), [](const Summary* s) { return s->has_host; });
  if (r.has_host) {
    r.host_median_us = quiet->host_median_us;
    r.host_p10_us = quiet->host_p10_us;
    r.host_p90_us = quiet->host_p90_us;
  }
  return r;
}

db::Stats ToStats(const Summary& s, const std::string& timer, const std::string& cache_mode) {
  db::Stats d;
  d.median_us = s.median_us;
  d.p10_us = s.p10_us;
  d.p90_us = s.p90_us;
  d.mean_us = s.mean_us;
  d.stddev_us = s.stddev_us;
  d.min_us = s.min_us;
  d.repetitions = s.repetitions;
  d.rel_ci = s.rel_ci;
  d.stable = s.stable;
  d.timer = timer;
  d.cache_mode = cache_mode;
  if (s.has_host) {
    d.host_median_us = s.host_median_us;
    d.host_p10_us = s.host_p10_us;
    d.host_p90_us = s.host_p90_us;
  } else if (timer == "host") {  // the figures are the host's already
    d.host_median_us = s.median_us;
    d.host_p10_us = s.p10_us;
    d.host_p90_us = s.p90_us;
  }
  return d;
}

}  // namespace layoutdb::microbench
