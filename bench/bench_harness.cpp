// Harness overhead: does the sweep's timing of a oneDNN primitive equal a bare timed loop of the same
// primitive? (DESIGN.md, "Measuring": the harness adds nothing measurable; target within 2%.)
//
// The kernel: conv2d 3x3 mb1ic64ih56iw56oc64 in nChw16c, f32.
//   Google Benchmark part (manual time, so both report the same steady-clock interval):
//     BM_BareExecuteWait  the primitive built here directly, execute + wait
//     BM_KernelRunUs      the cpu unit's Kernel::RunUs() (what the sweep calls)
//   Then, in the same process, the figure itself: blocks of a bare loop alternating with blocks timed
//   through MeasureInterleaved (the sweep's harness, calling RunUs), so drift hits both alike; prints
//   both medians and their ratio.
//
// --layouts: also times a 3x3 conv and a depthwise conv in every cpu layout, interleaved in one
// MeasureInterleaved call per problem, and prints each median, its ratio to the best, and what
// oneDNN chose under `any`.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "layoutdb/microbench/measure.h"
#include "layoutdb/microbench/unit.h"
#include "microbench/onednn/cpu_unit.h"

namespace {

using layoutdb::Problem;
using namespace layoutdb::microbench;

const char* kConvKey = "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1";

// The same primitive the cpu unit builds for (nChw16c, f32), built here with nothing around it.
// oneDNN's primitive cache hands both the same kernel.
struct BareConv {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;

  BareConv() {
    using dnnl::memory;
    const memory::dims src = {1, 64, 56, 56}, wei = {64, 64, 3, 3}, dst = {1, 64, 56, 56};
    const dnnl::convolution_forward::desc d(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        {src, memory::data_type::f32, memory::format_tag::nChw16c},
        {wei, memory::data_type::f32, memory::format_tag::any}, {{64}, memory::data_type::f32, memory::format_tag::a},
        {dst, memory::data_type::f32, memory::format_tag::nChw16c}, {1, 1}, {0, 0}, {1, 1}, {1, 1});
    const dnnl::convolution_forward::primitive_desc pd(d, eng);
    prim = dnnl::convolution_forward(pd);
    for (auto [arg, md] : {std::pair{DNNL_ARG_SRC, pd.src_desc()}, {DNNL_ARG_WEIGHTS, pd.weights_desc()},
                           {DNNL_ARG_BIAS, pd.bias_desc()}, {DNNL_ARG_DST, pd.dst_desc()}}) {
      memory m(md, eng);
      // Real values, not zeros or garbage: a small repeating ramp.
      float* p = static_cast<float*>(m.get_data_handle());
      const size_t n = md.get_size() / sizeof(float);
      for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(static_cast<int>(i % 17) - 8) / 8.f;
      args[arg] = m;
    }
  }
  double RunUs() {
    const auto t0 = std::chrono::steady_clock::now();
    prim.execute(strm, args);
    strm.wait();
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count();
  }
};

Unit& Cpu() {
  static std::unique_ptr<Unit> unit = onednn::MakeCpuUnit();
  return *unit;
}

std::unique_ptr<Kernel> Prepare(const std::string& key, const Candidate& c) {
  Prepared pr = Cpu().Prepare(Problem::Parse(key), c);
  if (pr.status != Prepared::Status::kOk)
    throw std::runtime_error(fmt::format("{} {}: {}", key, c.Layout(), pr.reason));
  const std::string bad = pr.kernel->Check();
  if (!bad.empty()) throw std::runtime_error(fmt::format("{} {}: wrong result: {}", key, c.Layout(), bad));
  return std::move(pr.kernel);
}

void BM_BareExecuteWait(benchmark::State& state) {
  static BareConv conv;
  for (auto _ : state) state.SetIterationTime(conv.RunUs() * 1e-6);
}
BENCHMARK(BM_BareExecuteWait)->UseManualTime()->Unit(benchmark::kMicrosecond)->Repetitions(3);

void BM_KernelRunUs(benchmark::State& state) {
  static std::unique_ptr<Kernel> k = Prepare(kConvKey, {"nChw16c", "nChw16c", "f32"});
  for (auto _ : state) state.SetIterationTime(k->RunUs() * 1e-6);
  state.SetLabel(k->Impl());
}
BENCHMARK(BM_KernelRunUs)->UseManualTime()->Unit(benchmark::kMicrosecond)->Repetitions(3);

// Other processes on a 2-core machine distort oneDNN's OpenMP timing badly (its threads wait for each
// other at barriers): the figures below mean something only when this number is well under the core
// count.
std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one.empty() ? "unknown" : one;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void HarnessOverhead(int rounds, int block) {
  BareConv bare;
  std::unique_ptr<Kernel> k = Prepare(kConvKey, {"nChw16c", "nChw16c", "f32"});
  std::vector<double> bare_us, harness_us, block_ratios;
  MeasureConfig cfg;
  cfg.warmup = 0;
  cfg.min_reps = cfg.max_reps = block;
  cfg.target_rel_ci = 0;  // never "stable": exactly `block` repetitions
  cfg.budget_s = 1e9;
  for (int w = 0; w < 20; ++w) bare.RunUs(), k->RunUs();
  for (int r = 0; r < rounds; ++r) {
    std::vector<double> b;
    for (int i = 0; i < block; ++i) b.push_back(bare.RunUs());
    std::vector<double> h;
    // The harness's own samples: exactly the values MeasureInterleaved receives from RunUs().
    const Summary s = MeasureInterleaved({[&] { const double us = k->RunUs(); h.push_back(us); return us; }}, cfg)[0];
    block_ratios.push_back(s.median_us / Median(b));
    bare_us.insert(bare_us.end(), b.begin(), b.end());
    harness_us.insert(harness_us.end(), h.begin(), h.end());
  }
  const double mb = Median(bare_us), mh = Median(harness_us);
  fmt::print("\nHarness overhead, {} {} ({}), {} rounds x {} runs each, alternating (load average {}):\n",
             kConvKey, "nChw16c", k->Impl(), rounds, block, LoadAverage());
  fmt::print("  bare execute+wait loop     median {:9.1f} us\n", mb);
  fmt::print("  MeasureInterleaved/RunUs   median {:9.1f} us\n", mh);
  fmt::print("  ratio harness/bare         {:.4f}  (median of per-round ratios {:.4f}; target within 2%)\n",
             mh / mb, Median(block_ratios));
}

void LayoutStudy(const std::string& key, double budget_s) {
  const Problem p = Problem::Parse(key);
  std::vector<Candidate> cands;
  for (const auto& c : Cpu().Candidates(p, {"f32"}))
    if (c.src_layout == c.dst_layout) cands.push_back(c);
  std::vector<std::unique_ptr<Kernel>> kernels;
  std::vector<std::function<double()>> runners;
  for (const auto& c : cands) {
    kernels.push_back(Prepare(key, c));
    Kernel* kp = kernels.back().get();
    runners.push_back([kp] { return kp->RunUs(); });
  }
  MeasureConfig cfg;
  cfg.budget_s = budget_s;
  cfg.min_reps = 30;
  cfg.warmup = 5;
  const std::vector<Summary> s = MeasureInterleaved(runners, cfg);
  double best = 1e300;
  for (const auto& x : s) best = std::min(best, x.median_us);
  fmt::print("\n{} (f32, interleaved, budget {} s, load average {})\n", key, budget_s, LoadAverage());
  fmt::print("  {:8} {:>10} {:>8} {:>6} {:>7}  {}\n", "layout", "median_us", "x best", "reps", "rel_ci", "impl");
  for (size_t i = 0; i < cands.size(); ++i)
    fmt::print("  {:8} {:10.1f} {:8.2f} {:6} {:7.3f}  {}{}\n", cands[i].Layout(), s[i].median_us,
               s[i].median_us / best, s[i].repetitions, s[i].rel_ci, kernels[i]->Impl(),
               kernels[i]->ChosenLayout().empty() ? "" : " -> chose " + kernels[i]->ChosenLayout());
}

}  // namespace

int main(int argc, char** argv) {
  bool layouts = false, skip_gb = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--layouts") == 0) layouts = true;
    else if (std::strcmp(argv[i], "--skip_gb") == 0) skip_gb = true;
    else rest.push_back(argv[i]);
  }
  int n = static_cast<int>(rest.size());
  try {
    if (!skip_gb) {
      benchmark::Initialize(&n, rest.data());
      benchmark::RunSpecifiedBenchmarks();
      benchmark::Shutdown();
    }
    HarnessOverhead(/*rounds=*/40, /*block=*/25);
    if (layouts) {
      LayoutStudy(kConvKey, 6.0);
      LayoutStudy("conv2d:mb1ic144ih56iw56oc144kh3kw3sh1sw1ph1pw1g144", 6.0);
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_harness: {}\n", e.what());
    return 1;
  }
  return 0;
}
