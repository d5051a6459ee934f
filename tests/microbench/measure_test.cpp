// The statistics core of the sweep, on synthetic runners and a synthetic clock (no real timing): the
// ranks of the median's confidence interval, the stopping rule, the budget and how it scales with the
// number of candidates, host times beside device times, and the cold-cache hook.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "layoutdb/microbench/measure.h"

namespace layoutdb::microbench {
namespace {

// Binomial(n, 1/2) lower tail, P(X <= k), by summing the pmf (exact enough for n <= 200).
double Tail(size_t n, size_t k) {
  double p = 0;
  for (size_t i = 0; i <= k; ++i)
    p += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) + n * std::log(0.5));
  return p;
}

TEST(MedianCi, RanksAreTheWidestSymmetricPairWithExactCoverage) {
  // Too few samples for any 95% interval: min..max of 5 covers 1 - 2/32 = 93.75%.
  for (size_t n : {0, 1, 2, 5}) EXPECT_FALSE(MedianCiRanks(n).has_value()) << n;
  using R = std::pair<size_t, size_t>;
  EXPECT_EQ(MedianCiRanks(6), R(0, 5));     // 1 - 2/64 = 96.9%
  EXPECT_EQ(MedianCiRanks(10), R(1, 8));    // x(2)..x(9): 97.9% (x(3)..x(8) would be 89%)
  EXPECT_EQ(MedianCiRanks(20), R(5, 14));   // x(6)..x(15)
  EXPECT_EQ(MedianCiRanks(100), R(39, 60)); // x(40)..x(61), the textbook pair
  // For every n: symmetric, coverage >= 95%, and one step narrower would fall below it.
  for (size_t n = 6; n <= 200; ++n) {
    const auto r = MedianCiRanks(n);
    ASSERT_TRUE(r) << n;
    EXPECT_EQ(r->first + r->second, n - 1) << n;
    const size_t j = r->first + 1;  // 1-based lower rank
    EXPECT_GE(1 - 2 * Tail(n, j - 1), 0.95 - 1e-12) << n;
    EXPECT_LT(1 - 2 * Tail(n, j), 0.95) << n;
  }
  // Large n: the normal approximation, close to n/2 -+ 0.98 sqrt(n).
  const auto big = MedianCiRanks(40000);
  ASSERT_TRUE(big);
  EXPECT_NEAR(static_cast<double>(big->first), 20000 - 0.98 * 200, 2);
  EXPECT_EQ(big->first + big->second, 39999u);
}

TEST(Summarize, IntervalFromTheOrderStatisticsAndStabilityAgainstTheTarget) {
  // 10 samples 91..100 (unsorted): median 95.5; CI x(2)..x(9) = 92..99: half-width 3.5.
  std::vector<double> s = {100, 91, 99, 92, 98, 93, 97, 94, 96, 95};
  const Summary r = Summarize(s, 0.05);
  EXPECT_EQ(r.repetitions, 10);
  EXPECT_DOUBLE_EQ(r.median_us, 95.5);
  EXPECT_DOUBLE_EQ(r.min_us, 91);
  EXPECT_NEAR(r.rel_ci, 3.5 / 95.5, 1e-12);
  EXPECT_TRUE(r.stable);
  EXPECT_FALSE(Summarize(s, 0.03).stable);
  // Five identical samples: a zero spread, but no interval exists at 95%, so never stable.
  const Summary five = Summarize({10, 10, 10, 10, 10}, 0.02);
  EXPECT_EQ(five.rel_ci, 0);
  EXPECT_FALSE(five.stable);
  EXPECT_TRUE(Summarize({10, 10, 10, 10, 10, 10}, 0.02).stable);
}

// A synthetic machine: a clock the runners advance by the time they "take".
struct FakeClock {
  double now = 0;
  std::function<double()> Fn() {
    return [this] { return now; };
  }
};

TEST(MeasureInterleaved, StableCandidatesStopAtMinRepsAndTheRestAtTheBudget) {
  FakeClock clock;
  int quiet_runs = 0, noisy_runs = 0;
  // quiet: always 100 us; noisy: 100 or 200 us alternately (its median never settles within 2%).
  auto quiet = [&] { ++quiet_runs; clock.now += 100e-6; return 100.0; };
  auto noisy = [&] { const double us = (noisy_runs++ % 2) ? 200.0 : 100.0; clock.now += us * 1e-6; return us; };
  MeasureConfig cfg;
  cfg.warmup = 2;
  cfg.min_reps = 10;
  cfg.max_reps = 100000;
  cfg.target_rel_ci = 0.02;
  cfg.budget_s = 0.03;  // 30 ms: 200 noisy runs of 150 us on average
  cfg.clock_s = clock.Fn();
  const auto r = MeasureInterleaved({quiet, noisy}, cfg);
  ASSERT_EQ(r.size(), 2u);
  // The quiet one is stable at the first check (min_reps) and stops being run.
  EXPECT_TRUE(r[0].stable);
  EXPECT_EQ(r[0].repetitions, 10);
  EXPECT_EQ(quiet_runs, 2 + 10);
  EXPECT_DOUBLE_EQ(r[0].median_us, 100);
  // The noisy one runs until the budget is spent, and says it is not stable.
  EXPECT_FALSE(r[1].stable);
  EXPECT_GT(r[1].rel_ci, 0.02);
  const double spent = clock.now;
  EXPECT_GT(spent, cfg.budget_s);
  EXPECT_LT(spent, cfg.budget_s + 5 * 200e-6);  // stops within the round that crossed it
  EXPECT_EQ(r[1].budget_s, 0.03);
}

TEST(MeasureInterleaved, TheBudgetScalesWithTheNumberOfCandidates) {
  EXPECT_EQ(PointBudgetS({}, 16), 1.0);  // candidate_budget_s 0: no scaling
  MeasureConfig cfg;
  cfg.budget_s = 0.4;
  cfg.candidate_budget_s = 0.1;
  EXPECT_DOUBLE_EQ(PointBudgetS(cfg, 1), 0.4);
  EXPECT_DOUBLE_EQ(PointBudgetS(cfg, 4), 0.4);
  EXPECT_DOUBLE_EQ(PointBudgetS(cfg, 16), 1.6);

  // Never-stable candidates: the time spent (and so the runs each gets) follows the budget.
  auto spend = [&](size_t k) {
    FakeClock clock;
    std::vector<int> runs(k);
    std::vector<std::function<double()>> runners;
    for (size_t i = 0; i < k; ++i)
      runners.push_back([&, i] { const double us = (runs[i]++ % 2) ? 300.0 : 100.0; clock.now += us * 1e-6; return us; });
    MeasureConfig c = cfg;
    c.warmup = 0;
    c.min_reps = 5;
    c.max_reps = 1000000;
    c.budget_s = 0.02;
    c.candidate_budget_s = 0.01;
    c.clock_s = clock.Fn();
    const auto r = MeasureInterleaved(runners, c);
    EXPECT_DOUBLE_EQ(r[0].budget_s, std::max(0.02, 0.01 * k));
    return std::make_pair(clock.now, r[0].repetitions);
  };
  const auto [t2, reps2] = spend(2);
  const auto [t8, reps8] = spend(8);
  EXPECT_NEAR(t2, 0.02, 0.001);
  EXPECT_NEAR(t8, 0.08, 0.002);
  EXPECT_NEAR(reps2, reps8, 2);  // as many runs per candidate with 8 candidates as with 2
}

TEST(MeasureInterleaved, SlowKernelsStopAtFourTimesTheBudgetWithAtLeastThreeRuns) {
  FakeClock clock;
  int runs = 0;
  auto slow = [&] { ++runs; clock.now += 0.5; return 500000.0; };  // 0.5 s a run
  MeasureConfig cfg;
  cfg.warmup = 1;
  cfg.min_reps = 10;
  cfg.budget_s = 0.2;
  cfg.clock_s = clock.Fn();
  const auto r = MeasureInterleaved({slow}, cfg);
  EXPECT_EQ(r[0].repetitions, 3);
  EXPECT_EQ(runs, 1 + 3);
  EXPECT_FALSE(r[0].stable);
}

TEST(MeasureInterleaved, CandidatesAreInterleavedWithARotatingStart) {
  FakeClock clock;
  std::vector<int> order;
  std::vector<std::function<double()>> runners;
  for (int i = 0; i < 3; ++i)
    runners.push_back([&, i] { order.push_back(i); clock.now += 1e-4; return 10.0 + i; });
  MeasureConfig cfg;
  cfg.warmup = 0;
  cfg.min_reps = cfg.max_reps = 3;
  cfg.clock_s = clock.Fn();
  MeasureInterleaved(runners, cfg);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 1, 2, 0, 2, 0, 1}));
}

TEST(MeasureInterleaved, HostTimesAreSummarisedBesideTheRunnersOwnAndEvictionIsOutsideTheBudget) {
  FakeClock clock;
  int evictions = 0;
  MeasureConfig cfg;
  cfg.warmup = 1;
  cfg.min_reps = cfg.max_reps = 11;
  cfg.budget_s = 1e-3;  // 1 ms: 11 runs of 40 us fit, the 10 ms evictions would not
  cfg.clock_s = clock.Fn();
  cfg.before_run = [&](size_t) { ++evictions; clock.now += 10e-3; };
  int i = 0;
  auto device = [&] {
    clock.now += 40e-6;
    const double us = 30 + (i++ % 3);  // event time 30..32, host time 10 us more
    return Sample{us, us + 10};
  };
  const auto r = MeasureInterleavedTimed({device}, cfg);
  EXPECT_EQ(r[0].repetitions, 11);
  EXPECT_EQ(evictions, 12);  // before the warm-up run and before every timed one
  EXPECT_TRUE(r[0].has_host);
  EXPECT_DOUBLE_EQ(r[0].host_median_us, r[0].median_us + 10);
  EXPECT_DOUBLE_EQ(r[0].host_p90_us, r[0].p90_us + 10);
  // Runners without a host time report none.
  const auto plain = MeasureInterleaved({[&] { clock.now += 1e-6; return 5.0; }}, cfg);
  EXPECT_FALSE(plain[0].has_host);
}

// ---- visits: one point measured at several moments ----

TEST(Visits, EachVisitGetsItsShareOfTheBudgetAndAllTogetherSpendWhatOneDid) {
  MeasureConfig cfg;
  cfg.min_reps = 7;
  cfg.max_reps = 200;
  cfg.budget_s = 0.3;
  cfg.candidate_budget_s = 0.075;
  const MeasureConfig v = VisitConfig(cfg, 3);
  EXPECT_DOUBLE_EQ(v.budget_s, 0.1);
  EXPECT_DOUBLE_EQ(v.candidate_budget_s, 0.025);
  EXPECT_EQ(v.min_reps, 3);   // ceil(7 / 3)
  EXPECT_EQ(v.max_reps, 67);  // ceil(200 / 3)
  EXPECT_EQ(v.warmup, cfg.warmup);
  EXPECT_EQ(v.target_rel_ci, cfg.target_rel_ci);
  const MeasureConfig one = VisitConfig(cfg, 1);
  EXPECT_EQ(one.budget_s, cfg.budget_s);
  EXPECT_EQ(one.max_reps, cfg.max_reps);

  // A noisy kernel that never gets stable spends its budget: three visits together take about the
  // time one visit of the whole budget took, not three times it.
  auto spent = [](const MeasureConfig& c, int visits) {
    FakeClock clock;
    MeasureConfig m = VisitConfig(c, visits);
    m.clock_s = clock.Fn();
    int i = 0;
    auto noisy = [&] {
      clock.now += 1e-3;
      return 100.0 + 50 * std::fmod(0.618034 * i++, 1.0);  // never stable at 2%
    };
    for (int k = 0; k < visits; ++k) MeasureInterleaved({noisy, noisy}, m);
    return clock.now;
  };
  const double single = spent(cfg, 1), three = spent(cfg, 3);
  EXPECT_GT(three, 0.8 * single);
  EXPECT_LT(three, 1.2 * single);
}

TEST(Visits, AQuickSteadyKernelStillStopsEarlyInEveryVisit) {
  FakeClock clock;
  MeasureConfig cfg;
  cfg.min_reps = 7;
  cfg.max_reps = 300;
  cfg.budget_s = 0.5;
  MeasureConfig m = VisitConfig(cfg, 3);
  m.clock_s = clock.Fn();
  auto steady = [&] {
    clock.now += 1e-4;
    return 50.0;
  };
  for (int k = 0; k < 3; ++k) {
    const auto r = MeasureInterleaved({steady}, m);
    EXPECT_EQ(r[0].repetitions, 6);
    EXPECT_TRUE(r[0].stable);
  }
  EXPECT_LT(clock.now, 0.01);  // 3 x (3 warm-up + 6 runs) of 0.1 ms, not 3 x 0.5 / 3 s
}

Summary Visit(double median, double rel_ci = 0.01, int reps = 20) {
  Summary s;
  s.median_us = median;
  s.p10_us = 0.95 * median;
  s.p90_us = 1.1 * median;
  s.min_us = 0.9 * median;
  s.mean_us = median;
  s.stddev_us = 0.05 * median;
  s.repetitions = reps;
  s.rel_ci = rel_ci;
  s.stable = rel_ci <= 0.02;
  return s;
}

TEST(Visits, TheQuietestVisitIsStoredAndTheIntervalSaysHowFarTheMomentsWere) {
  // The measured case: a pool that took 37 us in two moments and 84 us in one (another tenant).
  const Summary r = CombineVisits({Visit(37.5), Visit(84), Visit(37)}, 0.02);
  EXPECT_DOUBLE_EQ(r.median_us, 37);
  EXPECT_DOUBLE_EQ(r.p10_us, 0.95 * 37);  // the quietest visit's own figures, not a mix of visits
  EXPECT_DOUBLE_EQ(r.p90_us, 1.1 * 37);
  EXPECT_EQ(r.repetitions, 60);
  EXPECT_DOUBLE_EQ(r.min_us, 0.9 * 37);
  // Each visit's own interval was 1%; the stored one covers the spread between the moments.
  EXPECT_NEAR(r.rel_ci, 2.42 * (84 - 37) / 37, 1e-12);
  EXPECT_FALSE(r.stable);
  // Visits that agree closely keep their own interval (1%), and stay stable.
  const Summary calm = CombineVisits({Visit(100), Visit(100.3), Visit(99.9)}, 0.02);
  EXPECT_DOUBLE_EQ(calm.median_us, 99.9);
  EXPECT_DOUBLE_EQ(calm.rel_ci, 0.01);
  EXPECT_TRUE(calm.stable);
  // Visits 1% apart: no longer 2% sure of where another sweep lands.
  const Summary apart = CombineVisits({Visit(100), Visit(101), Visit(100.2)}, 0.02);
  EXPECT_NEAR(apart.rel_ci, 2.42 * 1 / 100, 1e-12);
  EXPECT_FALSE(apart.stable);
  // A single visit is itself; an empty visit (nothing timed) is left out.
  const Summary one = CombineVisits({Visit(50, 0.03)}, 0.02);
  EXPECT_DOUBLE_EQ(one.rel_ci, 0.03);
  EXPECT_EQ(CombineVisits({Summary{}, Visit(50)}, 0.02).median_us, 50);
  EXPECT_EQ(CombineVisits({}, 0.02).repetitions, 0);
}

// Interference on a shared host only slows a kernel down. A machine whose moments are mostly quiet
// and sometimes slowed (by 0-60%, one moment in three): two sweeps' quietest visits agree far more
// often than their medians of visits do.
TEST(Visits, UnderOneSidedInterferenceTheQuietestVisitRepeatsBetterThanTheMedian) {
  std::mt19937_64 rng(7);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0; };
  auto visit = [&] {
    const double level = 100 * (1 + 0.01 * uniform()) * (uniform() < 1.0 / 3 ? 1 + 0.6 * uniform() : 1.0);
    return Visit(level);
  };
  int quiet_within = 0, median_within = 0;
  const int n = 2000;
  for (int i = 0; i < n; ++i) {
    std::vector<Summary> a, b;
    for (int k = 0; k < 3; ++k) a.push_back(visit()), b.push_back(visit());
    quiet_within += std::fabs(CombineVisits(b, 0.02).median_us / CombineVisits(a, 0.02).median_us - 1) <= 0.05;
    auto mid = [](std::vector<Summary> v) {
      std::sort(v.begin(), v.end(), [](const Summary& x, const Summary& y) { return x.median_us < y.median_us; });
      return v[1].median_us;
    };
    median_within += std::fabs(mid(b) / mid(a) - 1) <= 0.05;
  }
  // All three visits of a sweep slowed: 1 in 27; two of three (the median slowed): 7 in 27.
  EXPECT_GT(quiet_within, 0.9 * n) << median_within;
  EXPECT_LT(median_within, 0.75 * n) << quiet_within;
}

TEST(Visits, PooledMeanAndDeviationAreThoseOfAllRuns) {
  const std::vector<double> a = {10, 11, 12, 13, 14, 15}, b = {20, 21, 22, 23}, c = {11, 12, 13, 14, 15, 16, 17};
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  all.insert(all.end(), c.begin(), c.end());
  const Summary r = CombineVisits({Summarize(a), Summarize(b), Summarize(c)}, 0.02);
  const Summary pooled = Summarize(all);
  EXPECT_EQ(r.repetitions, 17);
  EXPECT_NEAR(r.mean_us, pooled.mean_us, 1e-9);
  EXPECT_NEAR(r.stddev_us, pooled.stddev_us, 1e-9);
  EXPECT_DOUBLE_EQ(r.min_us, 10);
  EXPECT_DOUBLE_EQ(r.median_us, Summarize(a).median_us);  // medians 12.5, 21.5, 14: the lowest
}

TEST(Visits, SpreadIsTheRangeOfTheVisitsMediansAndItsFactorFallsWithMoreVisits) {
  EXPECT_EQ(VisitSpread({}), 0);
  EXPECT_EQ(VisitSpread({10}), 0);
  EXPECT_NEAR(VisitSpread({10, 11}), 1 / 10.5, 1e-12);
  EXPECT_NEAR(VisitSpread({10, 20, 11}), 10 / 11.0, 1e-12);
  EXPECT_NEAR(VisitSpread({10, 20, 11, 10.5, 0}), 10 / 10.75, 1e-12);  // no figure (0) left out
  for (size_t n = 3; n < 12; ++n) EXPECT_LE(VisitIntervalFactor(n), VisitIntervalFactor(n - 1)) << n;
  EXPECT_EQ(VisitIntervalFactor(1), 0);
}

TEST(Visits, TheLevelMovesWhenAllLayoutsOfAProblemMoveTogetherNotWhenOneIsNoisy) {
  // Visit 2 found the machine elsewhere: every layout 2.2x (binary add 109 -> 205 us in every layout).
  const std::vector<std::vector<double>> together = {{109, 205, 110}, {150, 280, 149}, {95, 180, 96}};
  EXPECT_GT(VisitLevelSpread(together), 0.8);
  // One layout's own noise (30% in one visit) while the others hold: the level barely moves.
  const std::vector<std::vector<double>> one_noisy = {{109, 142, 110}, {150, 151, 149}, {95, 95.5, 96}};
  EXPECT_LT(VisitLevelSpread(one_noisy), 0.02);
  // A candidate without a figure in a visit (<= 0) is left out of that visit's level.
  const std::vector<std::vector<double>> gap = {{100, 0, 101}, {200, 201, 199}};
  EXPECT_LT(VisitLevelSpread(gap), 0.02);
  EXPECT_EQ(VisitLevelSpread({{100}, {200}}), 0);  // one visit: nothing to compare
}

// A synthetic machine whose level moves between moments (lognormal, sigma 6%) and whose runs are noisy
// within a moment (3%): the interval of one visit covers another sweep's median far less than 95% of
// the time; the combined interval of 3 visits covers it about as often as it claims.
TEST(Visits, TheCombinedIntervalIsHonestAboutMomentsWhereOneVisitsIsNot) {
  std::mt19937_64 rng(12345);
  auto uniform = [&] { return (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0; };
  auto normal = [&] { return std::sqrt(-2 * std::log(uniform())) * std::cos(2 * M_PI * uniform()); };
  auto visit = [&] {
    const double level = 100 * std::exp(0.06 * normal());
    std::vector<double> runs;
    for (int i = 0; i < 30; ++i) runs.push_back(level * (1 + 0.03 * std::fabs(normal())));
    return Summarize(runs, 0.02);
  };
  auto sweep = [&](int visits) {
    std::vector<Summary> v;
    for (int i = 0; i < visits; ++i) v.push_back(visit());
    return CombineVisits(v, 0.02);
  };
  auto coverage = [&](int visits) {
    int covered = 0;
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
      const Summary a = sweep(visits), b = sweep(visits);
      covered += std::fabs(b.median_us / a.median_us - 1) <= a.rel_ci;
    }
    return static_cast<double>(covered) / n;
  };
  EXPECT_LT(coverage(1), 0.5);
  const double three = coverage(3);
  EXPECT_GT(three, 0.9);
  EXPECT_LT(three, 0.995);  // honest, not vacuous
}

}  // namespace
}  // namespace layoutdb::microbench
