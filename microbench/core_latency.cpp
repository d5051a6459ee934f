// The core-to-core probe (calibration.h): one cache line bounced between two of the OpenMP threads
// oneDNN's CPU kernels run on. A probe on threads of its own would share their CPUs with OpenMP
// workers still spinning after a kernel, and time that instead. The team is started through the
// OpenMP runtime oneDNN already loaded (gomp.h).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "layoutdb/microbench/calibration.h"
#include "gomp.h"

namespace layoutdb::microbench {

namespace {

// A probe gives up after this long: on a machine whose cores are shared with other programs the
// partner thread may be descheduled for a whole time slice (milliseconds) at every hand-over, and a
// probe must never cost more than the pass it is asked about. Threads far apart on these VMs take
// 3 x 30 round trips x 2 x 500 ns = 90 us.
constexpr double kProbeDeadlineNs = 250e3;

struct Probe {
  const Gomp* omp = nullptr;
  int round_trips = 0, blocks = 0;
  std::atomic<int> team{0};
  alignas(64) std::atomic<int> flag{0};
  alignas(64) std::atomic<bool> gave_up{false};
  std::chrono::steady_clock::time_point deadline;
  std::vector<double> ns;
};

void Bounce(void* data) {
  Probe& p = *static_cast<Probe*>(data);
  const int me = p.omp->thread_num();
  if (me == 0) p.team.store(p.omp->num_threads());
  p.omp->barrier();
  if (p.team.load() != 2) return;
  for (int b = 0; b < p.blocks; ++b) {
    p.omp->barrier();  // every thread passes every barrier, given up or not
    if (p.gave_up.load()) continue;
    const auto t0 = std::chrono::steady_clock::now();
    const int base = 2 * p.round_trips * b;
    for (int i = 0; i < p.round_trips && !p.gave_up.load(std::memory_order_relaxed); ++i) {
      const int mine = base + 2 * i + me;  // thread 0 moves on even counts, thread 1 on odd ones
      for (unsigned spins = 0; p.flag.load(std::memory_order_acquire) != mine; ++spins) {
        if ((spins & 1023) == 1023 && std::chrono::steady_clock::now() > p.deadline) {
          p.gave_up.store(true);
          break;
        }
        if (p.gave_up.load(std::memory_order_relaxed)) break;
      }
      if (p.gave_up.load(std::memory_order_relaxed)) break;
      p.flag.store(mine + 1, std::memory_order_release);
    }
    if (me == 0)
      p.ns[b] = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() /
                (2.0 * p.round_trips);
  }
}

}  // namespace

std::optional<double> CoreToCoreNs(int round_trips, int blocks) {
  const Gomp& omp = GompRuntime();
  if (!omp.ok() || omp.max_threads() < 2) return std::nullopt;
  Probe p;
  p.omp = &omp;
  p.round_trips = std::max(1, round_trips);
  p.blocks = std::max(1, blocks);
  p.ns.assign(p.blocks, 0);
  p.deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double, std::nano>(kProbeDeadlineNs));
  omp.parallel(&Bounce, &p, 2, 0);
  if (p.team.load() != 2) return std::nullopt;
  // Given up: the partner thread was not there (descheduled), farther than any placement measured.
  if (p.gave_up.load()) return kProbeDeadlineNs / 2;
  std::sort(p.ns.begin(), p.ns.end());
  return p.ns[p.ns.size() / 2];
}

PlacementGate::PlacementGate(double allowance_s, double factor, std::optional<double> reference_ns, ProbeFn probe,
                             double poll_s, double hold_s)
    : allowance_s_(allowance_s),
      factor_(factor),
      reference_(reference_ns),
      probe_(std::move(probe)),
      poll_s_(poll_s),
      hold_s_(hold_s) {
  if (!probe_) probe_ = [] { return CoreToCoreNs(); };
}

bool PlacementGate::WaitNear() {
  ++checks_;
  const auto now = std::chrono::steady_clock::now();
  if (last_ && std::chrono::duration<double>(now - last_at_).count() < hold_s_) {
    if (!*last_) ++apart_;
    return *last_;
  }
  ++probed_;
  const auto verdict = [&](bool near) {
    last_ = near;
    last_at_ = std::chrono::steady_clock::now();
    if (!near) ++apart_;
    return near;
  };
  bool waited = false;
  for (;;) {
    const std::optional<double> ns = probe_();
    if (!ns) return verdict(true);
    if (!waited) found_.push_back(*ns);
    lowest_ = lowest_ ? std::min(*lowest_, *ns) : *ns;
    const std::optional<double> centre = reference_ ? reference_ : Centre();
    const bool near = centre ? *ns >= *centre / kBelowFactor && *ns <= factor_ * *centre : *ns <= factor_ * *lowest_;
    if (near) {
      passed_.push_back(*ns);
      return verdict(true);
    }
    if (waited_s_ >= allowance_s_) return verdict(false);
    if (!waited) ++waits_;
    waited = true;
    const auto t0 = std::chrono::steady_clock::now();
    if (poll_s_ > 0) std::this_thread::sleep_for(std::chrono::duration<double>(poll_s_));
    waited_s_ += std::max(poll_s_, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

namespace {
std::optional<double> MedianOf(std::vector<double> v) {
  if (v.empty()) return std::nullopt;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}
}  // namespace

std::optional<double> PlacementGate::Centre() {
  if (found_.size() < kCentreAfter) return std::nullopt;
  // Recomputed as the sample grows by an eighth: a sweep probes thousands of times.
  if (!centre_ || found_.size() >= centre_from_ + std::max<size_t>(1, centre_from_ / 8)) {
    centre_ = MedianOf(found_);
    centre_from_ = found_.size();
  }
  return centre_;
}

std::optional<double> PlacementGate::median_ns() const { return MedianOf(passed_); }
std::optional<double> PlacementGate::found_median_ns() const { return MedianOf(found_); }

nlohmann::json PlacementGate::ToJson() const {
  const auto opt = [](std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"probe", "core_to_core_ns"},      {"checks", checks_},
          {"waits", waits_},                 {"waited_s", waited_s_},
          {"apart_passes", apart_},          {"lowest_ns", opt(lowest_)},
          {"median_ns", opt(median_ns())},   {"found_median_ns", opt(found_median_ns())},
          {"reference_ns", opt(reference_)}};
}

}  // namespace layoutdb::microbench
