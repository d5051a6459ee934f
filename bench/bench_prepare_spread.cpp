// Where does a point's spread between visits come from: the moment (the machine) or the preparation
// (where the kernel's buffers and JIT code landed in memory)?
//
// For each problem and layout of a unit (the cpu by default): K kernels of the same candidate are prepared side by side (each
// with its own buffers, as every visit of the sweep prepares afresh), then timed round-robin in B
// blocks of R runs each, so that every moment hits all K alike. Printed per candidate:
//   prep spread  (max - min) / median of the K kernels' medians over all blocks: what preparing again
//                changes, with the moments averaged out;
//   time spread  the median over kernels of (max - min) / median of one kernel's block medians: what
//                the moment changes, with the preparation fixed.
// A prep spread well above the time spread says that visits disagree because each prepares anew.
//
//   bench_prepare_spread [--unit cpu|ocl:P:D] [--kernels K] [--blocks B] [--reps R] [key ...]
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "layoutdb/microbench/unit.h"
#include "layoutdb/problem.h"

namespace {

using layoutdb::Problem;
using namespace layoutdb::microbench;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double RelRange(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return (*hi - *lo) / Median(v);
}

}  // namespace

int main(int argc, char** argv) {
  int kernels = 6, blocks = 8, reps = 15;
  std::string unit_name = "cpu";
  std::vector<std::string> keys;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--kernels" && i + 1 < argc) kernels = std::atoi(argv[++i]);
    else if (a == "--blocks" && i + 1 < argc) blocks = std::atoi(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--unit" && i + 1 < argc) unit_name = argv[++i];
    else keys.push_back(a);
  }
  if (keys.empty())
    keys = {"conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1", "conv2d:mb1ic144ih56iw56oc144kh3kw3sh1sw1ph1pw1g144",
            "conv2d:mb1ic256ih14iw14oc1024kh1kw1sh1sw1ph0pw0g1", "matmul:mb1m128n768k768",
            "pool:max:mb1ic64ih112iw112kh3kw3sh2sw2ph1pw1", "eltwise:relu:mb1c64h56w56",
            "binary:add:mb1c64h56w56", "binary:mul:mb1c96h56w56"};
  std::vector<std::string> warnings;
  auto units = DiscoverUnits(&warnings);
  Unit* unit = nullptr;
  for (auto& u : units)
    if (u->Name() == unit_name) unit = u.get();
  if (!unit) {
    fmt::print(stderr, "bench_prepare_spread: no unit '{}' on this machine\n", unit_name);
    return 1;
  }
  Unit& cpu = *unit;
  fmt::print("{} kernels a candidate, {} blocks of {} runs each, round-robin\n", kernels, blocks, reps);
  fmt::print("{:<58} {:<8} {:>10} {:>11} {:>11}\n", "problem", "layout", "median us", "prep spread",
             "time spread");
  std::vector<double> prep_all, time_all;
  for (const auto& key : keys) {
    const Problem p = Problem::Parse(key);
    for (const Candidate& c : cpu.Candidates(p, {"f32"})) {
      if (c.src_layout != c.dst_layout || c.src_layout == "any") continue;
      std::vector<std::unique_ptr<Kernel>> ks;
      for (int k = 0; k < kernels; ++k) {
        Prepared pr = cpu.Prepare(p, c);
        if (pr.status != Prepared::Status::kOk || pr.kernel->IsReference()) break;
        ks.push_back(std::move(pr.kernel));
      }
      if (static_cast<int>(ks.size()) != kernels) continue;
      for (auto& k : ks)
        for (int w = 0; w < 3; ++w) k->RunUs();
      std::vector<std::vector<double>> block_medians(ks.size());
      std::vector<std::vector<double>> all(ks.size());
      for (int b = 0; b < blocks; ++b)
        for (size_t k = 0; k < ks.size(); ++k) {
          std::vector<double> t;
          for (int r = 0; r < reps; ++r) t.push_back(ks[k]->RunUs());
          block_medians[k].push_back(Median(t));
          all[k].insert(all[k].end(), t.begin(), t.end());
        }
      std::vector<double> kernel_medians, time_spreads;
      for (size_t k = 0; k < ks.size(); ++k) {
        kernel_medians.push_back(Median(all[k]));
        time_spreads.push_back(RelRange(block_medians[k]));
      }
      const double prep = RelRange(kernel_medians), time = Median(time_spreads);
      prep_all.push_back(prep);
      time_all.push_back(time);
      fmt::print("{:<58} {:<8} {:>10.1f} {:>10.1f}% {:>10.1f}%\n", key, c.src_layout, Median(kernel_medians),
                 100 * prep, 100 * time);
    }
  }
  if (!prep_all.empty())
    fmt::print("median over {} candidates: prep spread {:.1f}%, time spread {:.1f}%\n", prep_all.size(),
               100 * Median(prep_all), 100 * Median(time_all));
  return 0;
}
