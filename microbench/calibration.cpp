#include "layoutdb/microbench/calibration.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

namespace layoutdb::microbench {
namespace {

constexpr int kAccumulators = 16;
constexpr int kComputeIterations = 250000;
constexpr double kComputeFlops = 2.0 * kAccumulators * kComputeIterations;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void Calibrator::Unmap::operator()(float* p) const { munmap(p, bytes); }

Calibrator::Calibrator(size_t llc_bytes)
    : floats_(std::clamp<size_t>(2 * llc_bytes, kMinBufferBytes, kMaxBufferBytes) / sizeof(float)),
      window_floats_(std::min(floats_, kWindowBytes / sizeof(float)) / 4 * 4),
      windows_(floats_ / window_floats_) {
  const size_t bytes = floats_ * sizeof(float);
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  buf_ = std::unique_ptr<float[], Unmap>(static_cast<float*>(p), Unmap{bytes});
  // Transparent huge pages where the kernel offers them (a hint; refused is fine): 2 MiB pages fault in
  // 512 times fewer, and a VM's page faults are what writing the buffer costs (256 MiB: 0.8 s in 4 KiB
  // pages on a 2-vCPU EPYC VM, about half that in huge ones).
  madvise(p, bytes, MADV_HUGEPAGE);
  // Every page written once (an untouched page reads as the kernel's one shared zero page, from cache);
  // one memset: an element-wise loop took seconds under the sanitizers.
  std::memset(p, 0x3c, bytes);  // each float 0.0115
}

double Calibrator::RunCompute() {
  const auto t0 = std::chrono::steady_clock::now();
  float acc[kAccumulators];
  // Seeded from the previous run's result, so that no run can be folded away at compile time.
  for (int i = 0; i < kAccumulators; ++i) acc[i] = sink_ * 1e-30f + static_cast<float>(i) * 1e-3f;
  const float a = 0.999999f, b = 1e-7f;
  for (int it = 0; it < kComputeIterations; ++it)
    for (int i = 0; i < kAccumulators; ++i) acc[i] = acc[i] * a + b;
  float s = 0;
  for (float v : acc) s += v;
  sink_ = s;
  return Since(t0);
}

double Calibrator::RunMemory() {
  const float* p = buf_.get() + next_window_ * window_floats_;
  next_window_ = (next_window_ + 1) % windows_;
  const auto t0 = std::chrono::steady_clock::now();
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i < window_floats_; i += 4) {
    s0 += p[i];
    s1 += p[i + 1];
    s2 += p[i + 2];
    s3 += p[i + 3];
  }
  sink_ = s0 + s1 + s2 + s3;
  return Since(t0);
}

std::vector<CalibrationResult> Calibrator::Run(int reps) {
  MeasureConfig cfg;
  cfg.warmup = 1;
  cfg.min_reps = cfg.max_reps = std::max(1, reps);
  cfg.target_rel_ci = 0;  // never stops early: a fixed number of runs, comparable between calibrations
  cfg.budget_s = 1e9;
  const auto s = MeasureInterleaved({[this] { return RunCompute(); }, [this] { return RunMemory(); }}, cfg);
  return {{"compute", kComputeFlops, s[0]},
          {"memory", static_cast<double>(window_bytes()), s[1]}};
}

}  // namespace layoutdb::microbench
