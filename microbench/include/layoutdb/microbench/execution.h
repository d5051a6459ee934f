// How this process measures: the CPUs it may actually use (its affinity mask, its cgroup's CPU
// bandwidth limit, OMP_NUM_THREADS and the thread count oneDNN runs with), and the cache state of the
// timing (hot: repetitions back to back; warm: as in a network; cold: every cache evicted; CacheState).
//
// A sweep under a 2-CPU limit on a 64-core node measures another target than the whole node: the
// fingerprint of a target holds these (profiler::MakeTarget), not only the cores /proc/cpuinfo lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace layoutdb::microbench {

struct ExecutionLimits {
  int64_t online_cpus = 0;      // logical CPUs online (sysconf)
  int64_t affinity_cpus = 0;    // CPUs in this process's sched_getaffinity mask
  std::string affinity;         // that mask as a list, e.g. "0-1" or "0,2,4-7"
  double cgroup_cpus = 0;       // the cgroup's CPU bandwidth limit in CPUs (quota / period); 0: none
  std::string cgroup;           // where the limit was read and what it said, or "no cpu limit"
  std::string omp_num_threads;  // the environment's OMP_NUM_THREADS ("" when unset)
  int64_t onednn_threads = 0;   // the threads oneDNN's OpenMP runtime runs (omp_get_max_threads); 0: unknown
  // What the kernels actually run on: the fewest of the affinity CPUs, oneDNN's threads and the
  // cgroup limit (rounded up).
  int64_t threads = 0;

  nlohmann::json ToJson() const;
  // One line for people: "2 threads (affinity 0-1; no cpu limit; OMP_NUM_THREADS unset; oneDNN 2 threads)".
  std::string Describe() const;
};

// Reads the limits of this process. `root` prefixes every path read (/proc/self/status is not used;
// /proc/self/cgroup, /proc/self/mountinfo and the cgroup files are), so that tests can give a fake
// tree; the affinity mask, OMP_NUM_THREADS and oneDNN's threads are always this process's own.
ExecutionLimits ReadExecutionLimits(const std::string& root = "");

// The cgroup CPU limit under `root` (see ReadExecutionLimits): (CPUs, description); 0 CPUs when none.
// cgroup v2: the smallest cpu.max of the process's cgroup and its ancestors; v1: the same with
// cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller's hierarchy.
std::pair<double, std::string> ReadCgroupCpuLimit(const std::string& root);

// cgroup v2 cpu.max text ("200000 100000" -> 2.0; "max 100000" -> 0: unlimited). Negative for text
// that is not cpu.max.
double ParseCpuMax(const std::string& text);
// cgroup v1 quota and period ("-1": unlimited -> 0; "150000", "100000" -> 1.5). Negative when unreadable.
double ParseCfsQuota(const std::string& quota, const std::string& period);

// "0-3,8,10-11" from CPU numbers (any order, duplicates ignored).
std::string CpuList(std::vector<int> cpus);

// Cold-cache timing, in the spirit of benchdnn's --cold-cache: before each repetition, read and write
// every cache line of a buffer twice the size of the last-level cache, so that the kernel's data is
// evicted from the shared cache and this thread's private ones (other cores' private caches, a few MiB,
// may keep some of it; an OpenCL device's own caches are not touched).
class CacheFlusher {
 public:
  explicit CacheFlusher(size_t llc_bytes);
  void Evict();
  size_t bytes() const { return buf_.size(); }

 private:
  std::vector<unsigned char> buf_;
  unsigned sink_ = 0;
};

// Warm-cache timing: before each repetition, every thread of the kernels' OpenMP team (gomp.h) reads
// and writes every cache line of a buffer of its own twice the size of a core's private cache (its
// L2), so that the kernel's data leaves every core's private caches; flushes the kernel's weights
// (Kernel::Weights) from every cache level; then writes the kernel's input activations back, each
// thread its share (Kernel::Inputs). That is the state a network leaves a kernel in: its weights were
// last read a whole network ago, its inputs were just written by the kernel before it. Hot timing
// (back to back) finds the weights in cache instead; cold timing finds the inputs in memory too.
// A BERT block's matmuls on a Xeon VM (2 MiB L2, the host's 480 MiB L3; wexp.cpp of the closing note,
// medians of 30): matmul m128n768k768 580 us with L2 evicted and the inputs back, 641 us with the
// weights flushed too; m128n768k3072 1753 against 2119 us; m128n3072k768 3579 against 4150 us. In the
// network they ran 1.17-1.22x, 1.29x and 1.06x what a sweep without the weight flush stored. The
// destination is left as the previous repetition wrote it: flushed as well, validate's predictions
// went over (one run, side by side: MobileNetV2 +10.7% against -1.2%, 28 against 38 of 55 sub-graphs
// within 10%; a Paddle detector +4.3% against -6.8%, 30 against 33 of 74).
class PrivateCacheFlusher {
 public:
  // `private_bytes`: one core's private cache; each thread flushes twice that.
  explicit PrivateCacheFlusher(size_t private_bytes);
  using Buffers = std::vector<std::pair<void*, size_t>>;
  // Evicts; flushes every line of `drop` from every level; then writes every cache line of `keep`
  // back unchanged (thread t of n does the t-th n-th of each).
  void Evict(const Buffers& keep = {}, const Buffers& drop = {});
  size_t bytes_per_thread() const { return bytes_; }
  // Threads that flushed in the last Evict() (1 without an OpenMP runtime: this thread alone).
  int threads() const { return threads_; }

 private:
  static void Touch(void* self);
  void TouchAs(int me, int team);
  size_t bytes_;
  const Buffers *keep_ = nullptr, *drop_ = nullptr;
  std::vector<std::vector<unsigned char>> bufs_;  // one per thread of the team
  std::vector<unsigned> sinks_;
  int threads_ = 0;
};

class Unit;
class Kernel;
// The cache sizes the flushers are made for, from the cpu unit's `caches` (`layoutdb devices`): its
// largest (last level; 32 MiB unknown) and one core's private cache (its L2, else its L1d; 1 MiB
// unknown).
size_t LastLevelCacheBytes(const Unit& cpu);
size_t PrivateCacheBytes(const Unit& cpu);

// The cache state every timed run starts from, by the name a sweep stores: the one place the sweep
// and validate's drift check (which re-times kernels as the file's sweeps timed them) take it from.
//   hot:  nothing; repetitions back to back find their data in cache;
//   warm: PrivateCacheFlusher over each kernel's Inputs() and Weights();
//   cold: CacheFlusher, every level evicted.
class CacheState {
 public:
  // `cpu`: the unit whose cache sizes the flushers take. Throws std::invalid_argument for another name.
  CacheState(const std::string& mode, const Unit& cpu);
  const std::string& mode() const { return mode_; }
  // MeasureConfig::before_run for `kernels` timed interleaved (run j is kernels[j]'s): empty when hot.
  // It refers to this object, which must outlive it. Cold needs no kernels.
  std::function<void(size_t)> BeforeRun(const std::vector<const Kernel*>& kernels);

 private:
  std::string mode_;
  std::optional<CacheFlusher> cold_;
  std::optional<PrivateCacheFlusher> warm_;
};

}  // namespace layoutdb::microbench
