// Where the kernels' threads are: the core-to-core probe on oneDNN's own OpenMP threads, and the gate
// that lets a timed pass through only while they are near each other (within its allowance).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <optional>

#include "layoutdb/microbench/calibration.h"
#include "layoutdb/microbench/execution.h"
#include "layoutdb/microbench/measure.h"

namespace layoutdb::microbench {
namespace {

// omp_set_num_threads of the OpenMP runtime oneDNN loaded (nullptr when there is none).
using SetThreads = void (*)(int);
SetThreads OmpSetNumThreads() { return reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads")); }

TEST(CoreToCore, TheKernelsTwoThreadsPassALineAndOneThreadHasNothingToProbe) {
  const ExecutionLimits e = ReadExecutionLimits();
  const SetThreads set = OmpSetNumThreads();
  if (e.onednn_threads < 2 || !set) GTEST_SKIP() << "oneDNN runs " << e.onednn_threads << " thread(s) here";
  const std::optional<double> ns = CoreToCoreNs();
  ASSERT_TRUE(ns.has_value());
  EXPECT_TRUE(std::isfinite(*ns));
  EXPECT_GT(*ns, 1.0);  // a cache line between two cores is never faster than a nanosecond
  set(1);
  EXPECT_FALSE(CoreToCoreNs().has_value());
  set(static_cast<int>(e.onednn_threads));
  EXPECT_TRUE(CoreToCoreNs().has_value());
}

// A probe that answers from a script, then the last value forever.
PlacementGate::ProbeFn Script(std::deque<std::optional<double>> values) {
  return [v = std::move(values)]() mutable {
    const std::optional<double> x = v.front();
    if (v.size() > 1) v.pop_front();
    return x;
  };
}

TEST(PlacementGate, APassWaitsUntilTheThreadsAreNearAgain) {
  PlacementGate g(/*allowance_s=*/1.0, /*factor=*/2.0, std::nullopt, Script({30, 32, 170, 165, 160, 31, 29}),
                  /*poll_s=*/0.1, /*hold_s=*/0);
  EXPECT_TRUE(g.WaitNear());  // 30: the first probe is the fastest seen
  EXPECT_TRUE(g.WaitNear());  // 32
  EXPECT_TRUE(g.WaitNear());  // 170, 165, 160 apart: three polls, then 31
  EXPECT_EQ(g.waits(), 1);
  EXPECT_NEAR(g.waited_s(), 0.3, 0.05);
  EXPECT_TRUE(g.WaitNear());  // 29
  EXPECT_EQ(g.checks(), 4);
  EXPECT_EQ(g.apart(), 0);
  EXPECT_EQ(*g.lowest_ns(), 29);
  EXPECT_EQ(*g.median_ns(), 31);  // of 30, 32, 31, 29: the passes let through
}

TEST(PlacementGate, OnceTheAllowanceIsSpentPassesAreTimedApartAndCounted) {
  PlacementGate g(0.15, 2.0, std::nullopt, Script({30, 170}), 0.1, 0);
  EXPECT_TRUE(g.WaitNear());
  EXPECT_FALSE(g.WaitNear());  // waits 0.1, 0.2 > 0.15: apart
  EXPECT_FALSE(g.WaitNear());  // nothing left: apart at once
  EXPECT_EQ(g.apart(), 2);
  EXPECT_EQ(g.waits(), 1);
  // --no-settle: never waits, still counts.
  PlacementGate free(0, 2.0, std::nullopt, Script({30, 170}), 0.1, 0);
  EXPECT_TRUE(free.WaitNear());
  EXPECT_FALSE(free.WaitNear());
  EXPECT_EQ(free.waited_s(), 0);
  EXPECT_EQ(free.apart(), 1);
}

TEST(PlacementGate, TheDatabasesPlacementIsTheReferenceWhenThisRunNeverSawIt) {
  // All of this run apart (170 ns) while the file's sweeps were timed at 30: nothing lets a pass through.
  PlacementGate g(0, 2.0, 30.0, Script({170}), 0.1, 0);
  EXPECT_FALSE(g.WaitNear());
  EXPECT_EQ(*g.reference_ns(), 30);
  EXPECT_FALSE(g.median_ns().has_value());
  // Without the reference, 170 is all this run knows: near.
  PlacementGate alone(0, 2.0, std::nullopt, Script({170}), 0.1, 0);
  EXPECT_TRUE(alone.WaitNear());
  // One thread: nothing to be apart.
  PlacementGate one(0, 2.0, 30.0, Script({std::nullopt}), 0.1, 0);
  EXPECT_TRUE(one.WaitNear());
  EXPECT_FALSE(one.lowest_ns().has_value());
}

// With a reference, apart is on both sides of it: a file timed at ~100 ns (a Xeon VM's usual
// placement) lets 50-300 ns through and waits out a 35 ns spell (likely two hyperthreads of one core,
// where one plan ran 1.1-1.5x slower), which a gate anchored to the fastest probe would have waited for.
TEST(PlacementGate, WithAReferenceAFasterSpellIsApartToo) {
  PlacementGate g(/*allowance_s=*/1.0, PlacementGate::kApartFactor, 100.0, Script({35, 36, 110}), 0.1, 0);
  EXPECT_TRUE(g.WaitNear());
  EXPECT_EQ(g.waits(), 1);
  EXPECT_EQ(*g.median_ns(), 110);
  EXPECT_EQ(*g.lowest_ns(), 35);
  PlacementGate edges(0, PlacementGate::kApartFactor, 100.0, Script({50, 300, 49, 301}), 0.1, 0);
  EXPECT_TRUE(edges.WaitNear());
  EXPECT_TRUE(edges.WaitNear());
  EXPECT_FALSE(edges.WaitNear());
  EXPECT_FALSE(edges.WaitNear());
  EXPECT_EQ(edges.apart(), 2);
}

// Without a reference (a sweep) the centre is the median of the passes' first probes, once there are
// eight: a machine usually at ~100 ns times its passes there, and a 35 ns spell is apart as in validate
// (a sweep anchored to the fastest probe on that Xeon once waited 41 s for such a spell to return).
TEST(PlacementGate, WithoutAReferenceTheCentreIsTheMedianProbe) {
  std::deque<std::optional<double>> probes(8, 100.0);
  for (double ns : {35.0, 110.0, 301.0, 299.0}) probes.push_back(ns);
  PlacementGate g(0, PlacementGate::kApartFactor, std::nullopt, Script(probes), 0.1, 0);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(g.WaitNear());
  EXPECT_FALSE(g.WaitNear());  // 35: below half the median
  EXPECT_TRUE(g.WaitNear());   // 110
  EXPECT_FALSE(g.WaitNear());  // 301: above 3x
  EXPECT_TRUE(g.WaitNear());   // 299
  EXPECT_EQ(g.apart(), 2);
  EXPECT_EQ(*g.lowest_ns(), 35);
  // Before eight probes there is no median: apart is above 3x the fastest seen.
  PlacementGate early(0, PlacementGate::kApartFactor, std::nullopt, Script({30, 100, 90}), 0.1, 0);
  EXPECT_TRUE(early.WaitNear());
  EXPECT_FALSE(early.WaitNear());
  EXPECT_TRUE(early.WaitNear());
}

TEST(PlacementGate, AVerdictHoldsForAWhileSoQuickPassesDoNotEachPayAProbe) {
  int probes = 0;
  PlacementGate g(0, 3.0, std::nullopt, [&]() -> std::optional<double> { return ++probes == 1 ? 30 : 500; }, 0.1,
                  /*hold_s=*/3600);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(g.WaitNear());
  EXPECT_EQ(probes, 1);
  EXPECT_EQ(g.checks(), 100);
  EXPECT_EQ(g.probed(), 1);
  PlacementGate apart(0, 3.0, 30.0, [&] { return std::optional<double>(500); }, 0.1, 3600);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(apart.WaitNear());
  EXPECT_EQ(apart.apart(), 10);  // every pass under an apart verdict counts
}

TEST(PlacementGate, MeasureAsksBeforeEveryPassCountsApartRunsAndKeepsWaitingOutOfTheBudget) {
  double now = 0;
  MeasureConfig cfg;
  cfg.warmup = 1;
  cfg.min_reps = cfg.max_reps = 6;
  cfg.target_rel_ci = 0;
  cfg.budget_s = 1e-3;  // 1 ms: the 6 passes of 2 x 50 us fit; the gate's 0.2 s of polling would not
  cfg.clock_s = [&] { return now; };
  // Passes 1-2 near; pass 3 waits two polls and comes near; passes 4-6 apart (allowance spent).
  int probes = 0;
  PlacementGate gate(0.2, 2.0, std::nullopt,
                     [&]() -> std::optional<double> {
                       ++probes;
                       now += 0.1 * (probes == 4 || probes == 5);  // the polls advance the clock
                       static const double kSeq[] = {30, 31, 170, 160, 30, 200, 200, 200};
                       return kSeq[std::min(probes - 1, 7)];
                     },
                     0.1, 0);
  cfg.gate = &gate;
  auto runner = [&] { now += 50e-6; return 10.0; };
  const auto r = MeasureInterleaved({runner, runner}, cfg);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].repetitions, 6);  // the waiting did not spend the budget
  EXPECT_EQ(gate.checks(), 6);     // one question per timed pass, none for the warm-up
  EXPECT_EQ(r[0].apart_reps, 3);
  EXPECT_EQ(r[1].apart_reps, 3);
  // A visit's figure carries the apart runs of the visit it was taken from.
  Summary quiet = r[0], busy = r[0];
  quiet.apart_reps = 0;
  busy.median_us *= 2;
  EXPECT_EQ(CombineVisits({busy, quiet}, 0.02).apart_reps, 0);
}

}  // namespace
}  // namespace layoutdb::microbench
