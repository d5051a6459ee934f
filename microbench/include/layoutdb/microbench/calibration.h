// Calibration kernels: two fixed loops whose work never changes, timed through a sweep so that the
// state of the machine (frequency, other load, memory bandwidth) is measured beside the operators.
// A later step can compare them across a sweep and between sweeps, and re-measure or normalise what
// was measured while the machine was off its usual state.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
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
  // The memory kernel's buffer is twice `llc_bytes`, within 16 MiB..256 MiB. Each run reads the next
  // window of it (32 MiB, or the whole buffer when smaller), so that a window is read again only after
  // the whole buffer has passed through the caches: the rate beyond the last level, without streaming
  // twice the LLC per run (960 MiB on a Xeon VM that reports the host's 480 MiB L3; the sweeps of the
  // sanitized test suite spent 96% of their time there). The cap: VMs report their host's whole L3
  // (480 MiB on a Xeon, 508 MiB on an EPYC), and writing a 1 GiB buffer once took 3 s of every sweep
  // there, most of a short one; read one window at a time, 64 MiB..1 GiB buffers gave rates within 10%
  // of each other on the EPYC (a 32 MiB window in 1.36-1.60 ms), 256 MiB within 5% of 1 GiB.
  explicit Calibrator(size_t llc_bytes);
  // Times both kernels, interleaved, `reps` runs each after one warm-up run: `compute` (a chain of
  // FMAs on 16 accumulators, one thread, in registers) and `memory` (one thread summing a window).
  std::vector<CalibrationResult> Run(int reps = 7);

  // One run of each, for tests: microseconds.
  double RunCompute();
  double RunMemory();
  size_t buffer_bytes() const { return floats_ * sizeof(float); }
  size_t window_bytes() const { return window_floats_ * sizeof(float); }  // one memory run's read

  static constexpr size_t kWindowBytes = size_t{32} << 20;
  static constexpr size_t kMinBufferBytes = size_t{16} << 20;
  static constexpr size_t kMaxBufferBytes = size_t{256} << 20;

 private:
  struct Unmap {
    size_t bytes;  // no initializer: a nested class's own one is not seen before this class ends
    void operator()(float* p) const;
  };
  size_t floats_, window_floats_, windows_, next_window_ = 0;
  std::unique_ptr<float[], Unmap> buf_;
  float sink_ = 0;
};

// The machine's placement of the kernels' threads: the one-way time, in nanoseconds, for a cache line
// written by one of oneDNN's CPU threads to reach another (two of them bouncing one line,
// `round_trips` round trips per block; the median block of `blocks`). nullopt with fewer than 2
// threads. On the 2-vCPU VMs of this project it took 25-40 ns while MobileNetV2 ran 3.3-3.6 ms under
// one plan, ~165 ns while the same plan ran 5.4-6.0 ms, and 300-500 ns at 7.5-9.8 ms, flipping every
// few seconds to minutes; one thread (OMP_NUM_THREADS=1) ran 6.3-7.4 ms throughout, and two threads
// each running FMAs alone lost nothing. The hypervisor moves the two vCPUs between cores that share a
// cache and cores that do not, and whatever hands data between the threads (oneDNN's barriers, a layer
// reading what the other thread wrote) pays for it; a kernel with little of that barely moves.
std::optional<double> CoreToCoreNs(int round_trips = 30, int blocks = 3);

// Times taken only while the kernels' threads are near each other (see CoreToCoreNs), within an
// allowance of waiting. MeasureInterleaved asks it before every round-robin pass
// (MeasureConfig::gate); the sweep and validate keep one each, so that what a database holds and what
// validate compares it with are both the machine in one placement, and say how much was not.
// A probe is "apart" outside centre / kBelowFactor .. factor x centre. The centre is the reference
// given (validate: the placement the file's sweeps were timed at, `reference_ns`), else (a sweep) the
// median of the passes' first probes once there are kCentreAfter of them, and before that a probe is
// apart only above factor x the lowest seen. The fastest placement is not always the fast one: on a
// 2-vCPU Xeon VM lines crossed in 62-130 ns most of the time and in 27-40 ns for spells (two vCPUs on
// one core's two hyperthreads, likely: they share its L2 and its FMA units); one plan of a BERT block
// took 23.8 ms in such a spell and 15.7 ms at 85 ns minutes later (ResNet-50: 44.2 against 39.1 ms),
// and a gate anchored to the fastest probe waited for those spells (a sweep once 41 s). On a machine
// whose placement does not move, every probe is near and the gate never waits.
class PlacementGate {
 public:
  using ProbeFn = std::function<std::optional<double>()>;
  // Near and apart on this project's VMs: 26-60 ns (a probe right after a kernel reaches 60) and
  // 160-500 ns. At 2x the fastest (~30 ns) a third of validate's time went to waiting out near probes.
  static constexpr double kApartFactor = 3.0;
  // Below the reference: the Xeon's shared-core spells (27-40 ns) against its usual 62-130 ns.
  static constexpr double kBelowFactor = 2.0;
  // A verdict holds for `hold_s` (passes of microsecond kernels do not each pay a probe; the
  // placement moves over seconds).
  explicit PlacementGate(double allowance_s, double factor = kApartFactor, std::optional<double> reference_ns = std::nullopt,
                         ProbeFn probe = {}, double poll_s = 0.05, double hold_s = 0.02);
  // Probes; while apart and allowance is left, sleeps poll_s and probes again. True when the last
  // probe was near (always with fewer than 2 threads: nothing to be apart).
  bool WaitNear();
  void set_allowance_s(double s) { allowance_s_ = s; }

  int checks() const { return checks_; }           // WaitNear calls
  int probed() const { return probed_; }           // ... that probed (the others within hold_s of one)
  int apart() const { return apart_; }             // ... that returned false (the allowance spent)
  int waits() const { return waits_; }             // ... that had to wait
  double waited_s() const { return waited_s_; }
  std::optional<double> lowest_ns() const { return lowest_; }
  std::optional<double> median_ns() const;         // of the probes that let a pass through
  std::optional<double> found_median_ns() const;   // of each check's first probe: as the passes found them
  std::optional<double> reference_ns() const { return reference_; }
  // What the sweep keeps in sweeps.execution.placement and validate prints (null where a figure has no
  // probe behind it): probe, checks, waits, waited_s, apart_passes, lowest_ns, median_ns,
  // found_median_ns, reference_ns.
  nlohmann::json ToJson() const;

 private:
  double allowance_s_, factor_;
  std::optional<double> reference_, lowest_;
  ProbeFn probe_;
  double poll_s_, hold_s_;
  int checks_ = 0, apart_ = 0, waits_ = 0, probed_ = 0;
  std::optional<bool> last_;  // the last verdict, and when
  std::chrono::steady_clock::time_point last_at_;
  double waited_s_ = 0;
  std::vector<double> passed_, found_;
  // Without a reference: the median of the first probes once there are kCentreAfter of them.
  static constexpr size_t kCentreAfter = 8;
  std::optional<double> Centre();
  std::optional<double> centre_;
  size_t centre_from_ = 0;
};

}  // namespace layoutdb::microbench
