#include "layoutdb/microbench/calibration.h"

#include <algorithm>
#include <chrono>

namespace layoutdb::microbench {
namespace {

constexpr int kAccumulators = 16;
constexpr int kComputeIterations = 250000;
constexpr double kComputeFlops = 2.0 * kAccumulators * kComputeIterations;

double Since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Calibrator::Calibrator(size_t llc_bytes)
    : buf_(std::max<size_t>(2 * llc_bytes, size_t{16} << 20) / sizeof(float)) {
  for (size_t i = 0; i < buf_.size(); ++i) buf_[i] = static_cast<float>(i % 1024) * (1.f / 1024);
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
  const auto t0 = std::chrono::steady_clock::now();
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  const size_t n = buf_.size() / 4 * 4;
  for (size_t i = 0; i < n; i += 4) {
    s0 += buf_[i];
    s1 += buf_[i + 1];
    s2 += buf_[i + 2];
    s3 += buf_[i + 3];
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
          {"memory", static_cast<double>(buf_.size() / 4 * 4 * sizeof(float)), s[1]}};
}

}  // namespace layoutdb::microbench
