#include "onednn/cpu_info.h"

#include "layoutdb/microbench/execution.h"

#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

namespace layoutdb::microbench::onednn {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n\"";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string ReadLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return Trim(line);
}

// "32K" / "1024K" / "32M" -> bytes; 0 when unreadable.
int64_t ParseCacheSize(const std::string& s) {
  if (s.empty()) return 0;
  try {
    size_t pos = 0;
    int64_t v = std::stoll(s, &pos);
    const char unit = pos < s.size() ? s[pos] : ' ';
    if (unit == 'K') v <<= 10;
    if (unit == 'M') v <<= 20;
    if (unit == 'G') v <<= 30;
    return v;
  } catch (const std::exception&) {
    return 0;
  }
}

std::string OsName() {
  std::string pretty;
  std::ifstream f("/etc/os-release");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("PRETTY_NAME=", 0) == 0) pretty = Trim(line.substr(12));
  struct utsname u {};
  std::string kernel;
  if (uname(&u) == 0) kernel = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  if (pretty.empty()) return kernel;
  return kernel.empty() ? pretty : pretty + "; " + kernel;
}

}  // namespace

std::string IsaName(dnnl::cpu_isa isa) {
  using dnnl::cpu_isa;
  switch (isa) {
    case cpu_isa::all: return "all";
    case cpu_isa::sse41: return "sse41";
    case cpu_isa::avx: return "avx";
    case cpu_isa::avx2: return "avx2";
    case cpu_isa::avx2_vnni: return "avx2_vnni";
    case cpu_isa::avx512_mic: return "avx512_mic";
    case cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case cpu_isa::avx512_core: return "avx512_core";
    case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case cpu_isa::avx512_core_amx: return "avx512_core_amx";
  }
  return fmt::format("isa_0x{:x}", static_cast<unsigned>(isa));
}

// oneDNN's ISA values are bit sets in which a higher level contains the bits of the levels it extends
// (avx512_core_bf16 0xe7 contains avx512_core_vnni 0x67), so "at least X" is a subset test.
static bool AtLeast(dnnl::cpu_isa isa, dnnl::cpu_isa level) {
  const unsigned a = static_cast<unsigned>(isa), l = static_cast<unsigned>(level);
  return (a & l) == l;
}

bool IsaHasBf16(dnnl::cpu_isa isa) { return AtLeast(isa, dnnl::cpu_isa::avx512_core_bf16); }
bool IsaHasVnni(dnnl::cpu_isa isa) {
  return AtLeast(isa, dnnl::cpu_isa::avx512_core_vnni) || AtLeast(isa, dnnl::cpu_isa::avx2_vnni);
}
bool IsaHasInt8(dnnl::cpu_isa isa) { return AtLeast(isa, dnnl::cpu_isa::avx2); }

UnitInfo ReadCpuInfo() {
  UnitInfo info;
  info.name = "cpu";
  info.kind = "cpu";

  // /proc/cpuinfo: model, vendor, clock; cores as distinct (physical id, core id) pairs.
  std::set<std::pair<std::string, std::string>> cores;
  int64_t threads = 0;
  double mhz = 0;
  {
    std::ifstream f("/proc/cpuinfo");
    std::string phys;
    for (std::string line; std::getline(f, line);) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = Trim(line.substr(0, colon)), value = Trim(line.substr(colon + 1));
      if (key == "processor") ++threads;
      if (key == "model name" && info.device_name.empty()) info.device_name = value;
      if (key == "vendor_id" && info.vendor.empty()) info.vendor = value;
      if (key == "cpu MHz" && mhz == 0) mhz = std::atof(value.c_str());
      if (key == "physical id") phys = value;
      if (key == "core id") cores.emplace(phys, value);
    }
  }
  const int64_t hw_threads = threads > 0 ? threads : std::thread::hardware_concurrency();
  const int64_t n_cores = cores.empty() ? hw_threads : static_cast<int64_t>(cores.size());
  // The nominal maximum when cpufreq exposes it; else what /proc/cpuinfo shows now.
  const std::string max_khz = ReadLine("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
  info.clock_mhz = !max_khz.empty() ? std::atoll(max_khz.c_str()) / 1000 : std::lround(mhz);
  info.compute_units = n_cores;

  {
    std::ifstream f("/proc/meminfo");
    for (std::string line; std::getline(f, line);)
      if (line.rfind("MemTotal:", 0) == 0) info.global_mem = std::atoll(line.c_str() + 9) * 1024;
  }

  nlohmann::json caches = nlohmann::json::object();
  for (int i = 0; i < 8; ++i) {
    const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
    const std::string level = ReadLine(dir + "level"), type = ReadLine(dir + "type");
    if (level.empty()) continue;
    if (type == "Instruction") continue;
    const std::string name = level == "1" ? "l1d" : "l" + level;
    caches[name] = ParseCacheSize(ReadLine(dir + "size"));
  }
  // Some VMs expose no cache directory in sysfs; glibc reads the sizes from CPUID instead.
  if (caches.empty()) {
    const std::pair<const char*, int> levels[] = {
        {"l1d", _SC_LEVEL1_DCACHE_SIZE}, {"l2", _SC_LEVEL2_CACHE_SIZE}, {"l3", _SC_LEVEL3_CACHE_SIZE}};
    for (const auto& [name, key] : levels)
      if (const long bytes = sysconf(key); bytes > 0) caches[name] = static_cast<int64_t>(bytes);
  }
  if (caches.contains("l1d")) info.local_mem = caches["l1d"].get<int64_t>();

  const dnnl_version_t* v = dnnl_version();
  const std::string version = fmt::format("{}.{}.{}", v->major, v->minor, v->patch);
  const char* runtime = v->cpu_runtime == DNNL_RUNTIME_OMP        ? "OMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB      ? "TBB"
                        : v->cpu_runtime == DNNL_RUNTIME_SEQ      ? "SEQ"
                        : v->cpu_runtime == DNNL_RUNTIME_THREADPOOL ? "THREADPOOL"
                                                                  : "unknown";
  info.driver = "oneDNN " + version;
  const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();

  char host[256] = {};
  gethostname(host, sizeof(host) - 1);

  info.properties = {
      {"isa", IsaName(isa)},
      {"cores", n_cores},
      {"threads", hw_threads},
      {"caches", caches},
      {"onednn", {{"version", version}, {"hash", v->hash ? v->hash : ""}, {"cpu_runtime", runtime}}},
      {"bf16", IsaHasBf16(isa)},
      {"int8", IsaHasInt8(isa)},
      {"int8_vnni", IsaHasVnni(isa)},
      {"os", OsName()},
      {"hostname", std::string(host)},
      // The CPUs this process may actually use: affinity, cgroup limit, OpenMP / oneDNN threads.
      {"execution", ReadExecutionLimits().ToJson()},
  };
  return info;
}

}  // namespace layoutdb::microbench::onednn
