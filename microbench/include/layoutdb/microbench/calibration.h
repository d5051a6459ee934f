// Calibration kernels: two fixed loops whose work never changes, timed through a sweep so that the
// state of the machine (frequency, other load, memory bandwidth) is measured beside the operators.
// A later step can compare them across a sweep and between sweeps, and re-measure or normalise what
// was measured while the machine was off its usual state.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "layoutdb/microbench/measure.h"

namespace layoutdb::microbench {

struct CalibrationResult {
  std::string kernel;  // compute or memory
  double work = 0;     // FLOPs (compute) or bytes (memory) of one run
  Summary summary;
};

class Calibrator {
 public:
  // The memory kernel streams a buffer twice `llc_bytes` (at least 16 MiB).
  explicit Calibrator(size_t llc_bytes);
  // Times both kernels, interleaved, `reps` runs each after one warm-up run: `compute` (a chain of
  // FMAs on 16 accumulators, one thread, in registers) and `memory` (one thread summing the buffer).
  std::vector<CalibrationResult> Run(int reps = 7);

  // One run of each, for tests: microseconds.
  double RunCompute();
  double RunMemory();

 private:
  std::vector<float> buf_;
  float sink_ = 0;
};

}  // namespace layoutdb::microbench
