// OpenCL unit against oneDNN on the same machine: GFLOP/s per OpenCL layout for the quick spec's
// conv2d 3x3, depthwise, 1x1 and matmul shapes, oneDNN's best layout beside them, and host<->device
// transfer bandwidth and latency from 4 KiB to 64 MiB. OpenCL times are profiling-event times and CPU
// times the unit's own steady-clock times, both through manual time.
//
//   bench_opencl [--benchmark_min_time=0.5] [google benchmark flags]
// Env: LAYOUTDB_OCL_TUNE=0 skips tuning; LAYOUTDB_OCL_VARIANT pins a tile variant;
//      LAYOUTDB_BENCH_TABLE_S: seconds per shape of the closing interleaved table (default 4, 0: none).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layoutdb/microbench/measure.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/problem.h"
#include "microbench/onednn/cpu_unit.h"
#include "microbench/opencl/ocl_unit.h"

namespace {
using namespace layoutdb;
using namespace layoutdb::microbench;

const std::vector<std::string> kShapes = {
    "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1",
    "conv2d:mb1ic144ih56iw56oc144kh3kw3sh1sw1ph1pw1g144",
    "conv2d:mb1ic256ih14iw14oc1024kh1kw1sh1sw1ph0pw0g1",
    "matmul:mb1m128n768k768",
};

std::vector<std::unique_ptr<Kernel>>& Kernels() {
  static std::vector<std::unique_ptr<Kernel>> k;
  return k;
}

// shape -> unit -> layout -> GFLOP/s.
std::map<std::string, std::map<std::string, std::map<std::string, double>>> g_gflops;

// Every prepared op kernel, for the interleaved comparison after the Google Benchmark runs.
struct Entry {
  std::string key, unit, layout;
  Kernel* kernel;
  double flops;
};
std::vector<Entry> g_entries;

void RegisterKernel(const std::string& unit, const std::string& key, const std::string& layout,
                    std::unique_ptr<Kernel> k, double flops) {
  Kernel* kp = k.get();
  Kernels().push_back(std::move(k));
  g_entries.push_back({key, unit, layout, kp, flops});
  benchmark::RegisterBenchmark(fmt::format("{}/{}/{}", unit, key, layout).c_str(),
                               [kp, flops](benchmark::State& st) {
                                 for (auto _ : st) st.SetIterationTime(kp->RunUs() * 1e-6);
                                 st.counters["GFLOPs"] = benchmark::Counter(
                                     flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
                                 st.SetLabel(kp->Impl() + (kp->Config().empty() ? "" : " " + kp->Config()));
                               })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

void RegisterUnit(Unit& u, bool all_layouts) {
  for (const auto& key : kShapes) {
    const Problem p = Problem::Parse(key);
    for (const auto& c : u.Candidates(p, {"f32"})) {
      if (!all_layouts && c.src_layout != c.dst_layout) continue;
      Prepared r = u.Prepare(p, c);
      if (r.status != Prepared::Status::kOk) {
        fmt::print(stderr, "{} {} {}: {}\n", u.Name(), key, c.Layout(), r.reason);
        continue;
      }
      if (const std::string bad = r.kernel->Check(); !bad.empty()) {
        fmt::print(stderr, "{} {} {}: check failed: {}\n", u.Name(), key, c.Layout(), bad);
        continue;
      }
      if (r.kernel->IsReference()) continue;  // never the "best" layout
      RegisterKernel(u.Name(), key, c.Layout(), std::move(r.kernel), p.Flops());
    }
  }
}

void RegisterTransfers(Unit& u) {
  for (const auto& m : u.TransferMethods())
    for (int64_t bytes = 4 << 10; bytes <= (64 << 20); bytes *= 4) {
      Prepared r = u.PrepareTransfer(m, bytes);
      if (r.status != Prepared::Status::kOk || !r.kernel->Check().empty()) {
        fmt::print(stderr, "{} transfer {} {}: {}\n", u.Name(), m, bytes, r.reason);
        continue;
      }
      Kernel* kp = r.kernel.get();
      Kernels().push_back(std::move(r.kernel));
      benchmark::RegisterBenchmark(fmt::format("{}/transfer/{}/{}", u.Name(), m, bytes).c_str(),
                                   [kp, bytes](benchmark::State& st) {
                                     for (auto _ : st) st.SetIterationTime(kp->RunUs() * 1e-6);
                                     st.SetBytesProcessed(st.iterations() * bytes);
                                   })
          // Event times of small transfers are well under a microsecond while each iteration
          // costs ~10 us of host overhead: a fixed count keeps the run short.
          ->Iterations(std::clamp<int64_t>((int64_t{256} << 20) / bytes, 10, 2000))
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
}

// The closing table: the kernels of one shape (every OpenCL layout and every oneDNN layout) timed
// interleaved, round-robin, with the project's harness (measure.h), so that the machine's drift
// between back-to-back benchmarks does not decide the ratio.
void MeasureTable(double budget_s) {
  for (const auto& key : kShapes) {
    std::vector<const Entry*> es;
    std::vector<std::function<double()>> runners;
    for (const auto& e : g_entries)
      if (e.key == key) {
        es.push_back(&e);
        runners.push_back([k = e.kernel] { return k->RunUs(); });
      }
    if (runners.empty()) continue;
    MeasureConfig cfg;
    cfg.budget_s = budget_s;
    cfg.min_reps = 5;
    const auto sums = MeasureInterleaved(runners, cfg);
    for (size_t i = 0; i < es.size(); ++i)
      g_gflops[key][es[i]->unit][es[i]->layout] = es[i]->flops * 1e-3 / sums[i].median_us;
  }
}

void PrintTable(const std::vector<std::string>& ocl_layouts) {
  fmt::print("\n{:<52}", "problem");
  for (const auto& l : ocl_layouts) fmt::print(" {:>9}", "ocl " + l);
  fmt::print(" {:>10} {:>12} {:>8}\n", "ocl best", "oneDNN best", "ratio");
  std::vector<double> ratios;
  for (const auto& key : kShapes) {
    auto& units = g_gflops[key];
    fmt::print("{:<52}", key);
    double ocl_best = 0, cpu_best = 0;
    std::string cpu_layout;
    for (auto& [unit, layouts] : units) {
      if (unit.rfind("ocl:", 0) == 0) {
        for (const auto& [l, g] : layouts) ocl_best = std::max(ocl_best, g);
      } else {
        for (const auto& [l, g] : layouts)
          if (g > cpu_best) cpu_best = g, cpu_layout = l;
      }
    }
    std::string ocl_unit;
    for (auto& [unit, layouts] : units)
      if (unit.rfind("ocl:", 0) == 0 && ocl_unit.empty()) ocl_unit = unit;
    for (const auto& l : ocl_layouts) {
      const auto& m = units[ocl_unit];
      auto it = m.find(l);
      if (it == m.end() && l == ocl_layouts.front()) it = m.find("plain");  // matmul: one column
      if (it == m.end())
        fmt::print(" {:>9}", "-");
      else
        fmt::print(" {:>9.1f}", it->second);
    }
    const double ratio = cpu_best > 0 ? ocl_best / cpu_best : 0;
    fmt::print(" {:>10.1f} {:>12} {:>7.0f}%\n", ocl_best,
               fmt::format("{:.1f} {}", cpu_best, cpu_layout), ratio * 100);
    if (cpu_best > 0) ratios.push_back(ratio);
  }
  if (!ratios.empty()) {
    std::sort(ratios.begin(), ratios.end());
    const double med = ratios.size() % 2 ? ratios[ratios.size() / 2]
                                         : 0.5 * (ratios[ratios.size() / 2 - 1] + ratios[ratios.size() / 2]);
    fmt::print("median OpenCL / oneDNN ratio: {:.0f}%\n", med * 100);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<std::string> warnings;
  auto ocl = opencl::DiscoverOpenClUnits(&warnings);
  for (const auto& w : warnings) fmt::print(stderr, "warning: {}\n", w);
  if (ocl.empty()) fmt::print(stderr, "no OpenCL device found: OpenCL figures are absent\n");
  std::vector<std::string> ocl_layouts;
  for (auto& u : ocl) {
    RegisterUnit(*u, false);
    RegisterTransfers(*u);
    ocl_layouts = u->Layouts();
  }
  std::unique_ptr<Unit> cpu;
  try {
    cpu = onednn::MakeCpuUnit();
    RegisterUnit(*cpu, false);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cpu unit unavailable: {}\n", e.what());
  }
  benchmark::RunSpecifiedBenchmarks();
  const char* budget = std::getenv("LAYOUTDB_BENCH_TABLE_S");  // per shape; 0 skips the table
  const double table_s = budget ? std::atof(budget) : 4.0;
  if (table_s > 0) {
    MeasureTable(table_s);
    fmt::print("\nInterleaved medians ({:.0f} s per shape), GFLOP/s:", table_s);
    PrintTable(ocl_layouts);
  }
  benchmark::Shutdown();
  return 0;
}
