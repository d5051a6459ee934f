#include "layoutdb/microbench/execution.h"
#include "layoutdb/microbench/unit.h"

#include "gomp.h"

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

namespace layoutdb::microbench {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string ReadFirstLine(const std::string& path, bool* ok = nullptr) {
  std::ifstream f(path);
  std::string line;
  const bool good = static_cast<bool>(f) && static_cast<bool>(std::getline(f, line));
  if (ok) *ok = good;
  return Trim(line);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  return out;
}

std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// One line of /proc/self/mountinfo: the root of the mount inside its filesystem, where it is mounted,
// the filesystem type and its super options.
struct Mount {
  std::string root, point, fstype, super_options;
};

std::vector<Mount> ReadMounts(const std::string& root) {
  std::vector<Mount> out;
  std::ifstream f(root + "/proc/self/mountinfo");
  for (std::string line; std::getline(f, line);) {
    const auto w = Words(line);
    const auto dash = std::find(w.begin(), w.end(), "-");
    if (w.size() < 5 || dash == w.end() || w.end() - dash < 3) continue;
    out.push_back({w[3], w[4], *(dash + 1), dash + 3 < w.end() ? *(dash + 3) : ""});
  }
  return out;
}

bool HasToken(const std::string& list, const std::string& token) {
  for (const auto& t : Split(list, ','))
    if (t == token) return true;
  return false;
}

// The directory of a cgroup `path` under a mount of its hierarchy.
std::string CgroupDir(const Mount& m, const std::string& path) {
  std::string rel = path;
  if (m.root != "/" && (path == m.root || path.rfind(m.root + "/", 0) == 0)) rel = path.substr(m.root.size());
  else if (m.root != "/") rel = "";  // the mount's root is the process's own cgroup (a container)
  std::string dir = m.point + rel;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// From `dir` up to the mount point, the smallest limit `read` finds (0: none at any level).
template <typename Read>
std::pair<double, std::string> WalkUp(const std::string& root, std::string dir, const std::string& point,
                                      Read read) {
  double best = 0;
  std::string where;
  while (true) {
    std::string text;
    const double cpus = read(root + dir, &text);
    if (cpus > 0 && (best == 0 || cpus < best)) best = cpus, where = text;
    if (dir.size() <= point.size() || dir == point) break;
    const auto slash = dir.find_last_of('/');
    if (slash == std::string::npos || slash < point.size()) break;
    dir = dir.substr(0, std::max<size_t>(slash, point.size()));
  }
  return {best, where};
}

}  // namespace

double ParseCpuMax(const std::string& text) {
  const auto w = Words(text);
  if (w.size() != 2) return -1;
  try {
    const double period = std::stod(w[1]);
    if (period <= 0) return -1;
    if (w[0] == "max") return 0;
    const double quota = std::stod(w[0]);
    return quota > 0 ? quota / period : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

double ParseCfsQuota(const std::string& quota, const std::string& period) {
  try {
    const double q = std::stod(Trim(quota)), p = std::stod(Trim(period));
    if (q < 0) return 0;  // -1: no limit
    return p > 0 && q > 0 ? q / p : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

std::string CpuList(std::vector<int> cpus) {
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? fmt::format("{}", cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

std::pair<double, std::string> ReadCgroupCpuLimit(const std::string& root) {
  const auto mounts = ReadMounts(root);
  std::ifstream f(root + "/proc/self/cgroup");
  double best = 0;
  std::string where;
  auto take = [&](const std::pair<double, std::string>& r) {
    if (r.first > 0 && (best == 0 || r.first < best)) best = r.first, where = r.second;
  };
  for (std::string line; std::getline(f, line);) {
    // hierarchy-id:controllers:path
    const auto c1 = line.find(':'), c2 = line.find(':', c1 == std::string::npos ? 0 : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string id = line.substr(0, c1), controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path = Trim(line.substr(c2 + 1));
    const bool v2 = id == "0" && controllers.empty();
    if (!v2 && !HasToken(controllers, "cpu")) continue;
    for (const Mount& m : mounts) {
      if (v2 && m.fstype != "cgroup2") continue;
      if (!v2 && (m.fstype != "cgroup" || !HasToken(m.super_options, "cpu"))) continue;
      const std::string dir = CgroupDir(m, path);
      if (v2) {
        take(WalkUp(root, dir, m.point, [&](const std::string& d, std::string* text) {
          bool ok = false;
          const std::string t = ReadFirstLine(d + "/cpu.max", &ok);
          if (!ok) return 0.0;
          *text = fmt::format("cgroup2 {}/cpu.max: {}", d.substr(root.size()), t);
          return ParseCpuMax(t);
        }));
      } else {
        take(WalkUp(root, dir, m.point, [&](const std::string& d, std::string* text) {
          bool ok_q = false, ok_p = false;
          const std::string q = ReadFirstLine(d + "/cpu.cfs_quota_us", &ok_q);
          const std::string p = ReadFirstLine(d + "/cpu.cfs_period_us", &ok_p);
          if (!ok_q || !ok_p) return 0.0;
          *text = fmt::format("cgroup v1 {}/cpu.cfs_quota_us: {} per {} us", d.substr(root.size()), q, p);
          return ParseCfsQuota(q, p);
        }));
      }
    }
  }
  if (best <= 0) return {0, "no cpu limit"};
  return {best, where};
}

ExecutionLimits ReadExecutionLimits(const std::string& root) {
  ExecutionLimits e;
  e.online_cpus = std::max<long>(1, sysconf(_SC_NPROCESSORS_ONLN));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    std::vector<int> cpus;
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) cpus.push_back(i);
    e.affinity_cpus = static_cast<int64_t>(cpus.size());
    e.affinity = CpuList(cpus);
  } else {
    e.affinity_cpus = e.online_cpus;
    e.affinity = "unknown";
  }
  std::tie(e.cgroup_cpus, e.cgroup) = ReadCgroupCpuLimit(root);
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) e.omp_num_threads = omp;
  // oneDNN here runs on OpenMP (libgomp, loaded with libdnnl): its thread count is OpenMP's, which
  // already follows OMP_NUM_THREADS and the affinity mask. Looked up at run time, so that nothing of
  // OpenMP is linked into layoutdb itself.
  if (const auto max_threads = GompRuntime().max_threads) e.onednn_threads = max_threads();
  e.threads = e.affinity_cpus > 0 ? e.affinity_cpus : e.online_cpus;
  if (e.onednn_threads > 0) e.threads = std::min(e.threads, e.onednn_threads);
  if (e.cgroup_cpus > 0) e.threads = std::min<int64_t>(e.threads, static_cast<int64_t>(std::ceil(e.cgroup_cpus - 1e-9)));
  e.threads = std::max<int64_t>(1, e.threads);
  return e;
}

nlohmann::json ExecutionLimits::ToJson() const {
  return {{"threads", threads},
          {"online_cpus", online_cpus},
          {"affinity_cpus", affinity_cpus},
          {"affinity", affinity},
          {"cgroup_cpus", cgroup_cpus},
          {"cgroup", cgroup},
          {"omp_num_threads", omp_num_threads.empty() ? nlohmann::json(nullptr) : nlohmann::json(omp_num_threads)},
          {"onednn_threads", onednn_threads}};
}

std::string ExecutionLimits::Describe() const {
  std::string cg = cgroup_cpus > 0 ? fmt::format("cgroup limit {:.3g} CPUs", cgroup_cpus) : "no cgroup cpu limit";
  return fmt::format("{} threads (affinity {} of {} CPUs: {}; {}; OMP_NUM_THREADS {}; oneDNN {})", threads,
                     affinity_cpus, online_cpus, affinity, cg,
                     omp_num_threads.empty() ? "unset" : omp_num_threads,
                     onednn_threads > 0 ? fmt::format("{} threads", onednn_threads) : "threads unknown");
}

namespace {
// Read and write every cache line of `buf`: the lines become its own, and dirty.
unsigned TouchLines(std::vector<unsigned char>& buf, unsigned s) {
  constexpr size_t kLine = 64;
  unsigned char* p = buf.data();  // not operator[]: unoptimised under the sanitizers, it was most of a cold sweep
  for (size_t i = 0, n = buf.size(); i < n; i += kLine) {
    s += p[i];
    p[i] = static_cast<unsigned char>(s);
  }
  return s;
}
}  // namespace

CacheFlusher::CacheFlusher(size_t llc_bytes)
    : buf_(std::max<size_t>(2 * llc_bytes, size_t{8} << 20), 1) {}

void CacheFlusher::Evict() {
  // The lines become this buffer's (and dirty, so that the next reader of the evicted data finds
  // nothing of it in any level).
  sink_ = TouchLines(buf_, sink_);
}

PrivateCacheFlusher::PrivateCacheFlusher(size_t private_bytes)
    : bytes_(2 * std::max<size_t>(private_bytes, size_t{256} << 10)) {
  const Gomp& omp = GompRuntime();
  const int n = omp.ok() ? std::max(1, omp.max_threads()) : 1;
  // One buffer per thread of the team (a thread keeps its index from one flush to the next).
  bufs_.assign(static_cast<size_t>(n), std::vector<unsigned char>(bytes_, 1));
  sinks_.assign(static_cast<size_t>(n), 0);
}

void PrivateCacheFlusher::TouchAs(int me, int team) {
  if (me < 0 || static_cast<size_t>(me) >= bufs_.size() || team < 1) return;
  const size_t i = static_cast<size_t>(me);
  unsigned s = TouchLines(bufs_[i], sinks_[i]);
  constexpr size_t kLine = 64;
  // Each thread its share of `drop`: out of every cache level (clflush is coherent: any core's copy).
  const auto share_of = [&](size_t bytes) {
    const size_t share = (bytes + static_cast<size_t>(team) - 1) / static_cast<size_t>(team);
    return std::make_pair(std::min(bytes, share * i), std::min(bytes, share * (i + 1)));
  };
#if defined(__x86_64__) || defined(__i386__)
  if (drop_) {
    for (const auto& [data, bytes] : *drop_) {
      const auto [begin, end] = share_of(bytes);
      for (size_t b = begin; b < end; b += kLine) _mm_clflush(static_cast<const unsigned char*>(data) + b);
    }
    _mm_mfence();
  }
#endif
  if (keep_) {
    for (const auto& [data, bytes] : *keep_) {
      // Written back unchanged: the lines become modified in this core's cache, as a producer
      // kernel's output is, and a consumer thread on another core must fetch them from it.
      auto* p = static_cast<volatile unsigned char*>(data);
      const auto [begin, end] = share_of(bytes);
      for (size_t b = begin; b < end; b += kLine) {
        const unsigned char v = p[b];
        p[b] = v;
        s += v;
      }
    }
  }
  sinks_[i] = s;
}

void PrivateCacheFlusher::Touch(void* self) {
  auto& f = *static_cast<PrivateCacheFlusher*>(self);
  const Gomp& omp = GompRuntime();
  const int me = omp.thread_num(), team = omp.num_threads();
  if (me == 0) f.threads_ = team;
  f.TouchAs(me, team);
}

void PrivateCacheFlusher::Evict(const Buffers& keep, const Buffers& drop) {
  keep_ = keep.empty() ? nullptr : &keep;
  drop_ = drop.empty() ? nullptr : &drop;
  const Gomp& omp = GompRuntime();
  if (!omp.ok()) {
    threads_ = 1;
    TouchAs(0, 1);
  } else {
    omp.parallel(&PrivateCacheFlusher::Touch, this, static_cast<unsigned>(bufs_.size()), 0);
  }
  keep_ = drop_ = nullptr;
}

size_t LastLevelCacheBytes(const Unit& cpu) {
  int64_t llc = 0;
  const nlohmann::json caches = cpu.Info().properties.value("caches", nlohmann::json::object());
  for (const auto& [name, bytes] : caches.items())
    if (bytes.is_number_integer()) llc = std::max<int64_t>(llc, bytes.get<int64_t>());
  return static_cast<size_t>(llc > 0 ? llc : int64_t{32} << 20);
}

size_t PrivateCacheBytes(const Unit& cpu) {
  const nlohmann::json caches = cpu.Info().properties.value("caches", nlohmann::json::object());
  for (const char* level : {"l2", "l1d"})
    if (caches.contains(level) && caches.at(level).is_number_integer() && caches.at(level).get<int64_t>() > 0)
      return static_cast<size_t>(caches.at(level).get<int64_t>());
  return size_t{1} << 20;
}

CacheState::CacheState(const std::string& mode, const Unit& cpu) : mode_(mode) {
  if (mode == "cold")
    cold_.emplace(LastLevelCacheBytes(cpu));
  else if (mode == "warm")
    warm_.emplace(PrivateCacheBytes(cpu));
  else if (mode != "hot")
    throw std::invalid_argument(fmt::format("cache mode '{}' (known: hot, warm, cold)", mode));
}

std::function<void(size_t)> CacheState::BeforeRun(const std::vector<const Kernel*>& kernels) {
  if (cold_) return [this](size_t) { cold_->Evict(); };
  if (!warm_) return {};
  std::vector<PrivateCacheFlusher::Buffers> inputs, weights;
  for (const Kernel* k : kernels) {
    inputs.push_back(k->Inputs());
    weights.push_back(k->Weights());
  }
  return [this, inputs = std::move(inputs), weights = std::move(weights)](size_t j) {
    warm_->Evict(inputs.at(j), weights.at(j));
  };
}

}  // namespace layoutdb::microbench
