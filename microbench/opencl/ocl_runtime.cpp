#include "opencl/ocl_runtime.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <unistd.h>

#include "layoutdb/problem.h"
#include "opencl/ocl_unit.h"

namespace layoutdb::microbench::opencl {
namespace fs = std::filesystem;

namespace {

// The first lines of a compiler log, on one line.
std::string LogHead(const std::string& log, int max_lines = 8) {
  std::istringstream in(log);
  std::string line, out;
  int n = 0;
  while (n < max_lines && std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (!out.empty()) out += " | ";
    out += line;
    ++n;
  }
  return out.empty() ? "(empty build log)" : out;
}

const char* ClErrorName(cl_int e) {
  switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM_EXECUTABLE: return "CL_INVALID_PROGRAM_EXECUTABLE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "?";
  }
}

bool TuningEnabled() {
  const char* v = std::getenv("LAYOUTDB_OCL_TUNE");
  return !(v && std::string(v) == "0");
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes via a temporary file and a rename, so a concurrent reader never sees half a binary.
void WriteFileAtomic(const fs::path& p, const unsigned char* data, size_t n) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  const fs::path tmp = p.string() + fmt::format(".tmp{}", static_cast<long>(::getpid()));
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return;  // the cache is an optimisation: an unwritable directory only costs time
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(n));
    if (!out) return;
  }
  fs::rename(tmp, p, ec);
  if (ec) fs::remove(tmp, ec);
}

}  // namespace

std::string BinaryCacheDir() {
  fs::path base;
  if (const char* d = std::getenv("LAYOUTDB_CACHE_DIR"); d && *d) {
    base = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    base = fs::path(x) / "layoutdb";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    base = fs::path(h) / ".cache" / "layoutdb";
  } else {
    base = fs::temp_directory_path() / "layoutdb-cache";
  }
  return (base / "opencl").string();
}

std::string DescribeClError(const cl::Error& e) {
  return fmt::format("{} returned {} ({})", e.what() ? e.what() : "OpenCL call", e.err(),
                     ClErrorName(e.err()));
}

cl::Program DeviceCtx::BuildSource(const std::string& source, const std::string& options,
                                   bool use_disk_cache) {
  const std::string id = HashHex(device_name + "\n" + driver + "\n" + options + "\n" + source);
  const fs::path bin_path = fs::path(BinaryCacheDir()) / (id + ".bin");
  if (use_disk_cache) {
    const std::string bin = ReadFile(bin_path);
    if (!bin.empty()) {
      try {
        cl::Program::Binaries bins{std::vector<unsigned char>(bin.begin(), bin.end())};
        cl::Program prog(context, {device}, bins);
        prog.build({device}, options.c_str());
        return prog;
      } catch (const cl::Error&) {
        // A stale or foreign binary: rebuild from source (and overwrite it below).
      }
    }
  }
  cl::Program prog(context, source);
  try {
    prog.build({device}, options.c_str());
  } catch (const cl::Error& e) {
    std::string log;
    try {
      log = prog.getBuildInfo<CL_PROGRAM_BUILD_LOG>(device);
    } catch (const cl::Error&) {
      log = "(no build log)";
    }
    throw BuildFailure(fmt::format("{}: program build failed ({}): {}", unit_name,
                                   DescribeClError(e), LogHead(log)));
  }
  if (use_disk_cache) {
    try {
      const auto bins = prog.getInfo<CL_PROGRAM_BINARIES>();
      if (!bins.empty() && !bins[0].empty()) WriteFileAtomic(bin_path, bins[0].data(), bins[0].size());
    } catch (const cl::Error&) {
      // Some drivers cannot return binaries; the in-memory cache still works.
    }
  }
  return prog;
}

cl::Program DeviceCtx::GetProgram(const std::string& file, const std::string& options) {
  const std::string key = file + "|" + options;
  auto it = programs.find(key);
  if (it != programs.end()) return it->second;
  std::string source(EmbeddedSource("common.cl"));
  source += "\n";
  source += EmbeddedSource(file);
  cl::Program prog = BuildSource(source, options, /*use_disk_cache=*/true);
  programs.emplace(key, prog);
  return prog;
}

double TimeLaunch(DeviceCtx& dev, const Launch& l) {
  cl::Event ev;
  dev.queue.enqueueNDRangeKernel(l.kernel, cl::NullRange, l.global, l.local, nullptr, &ev);
  ev.wait();
  const cl_ulong t0 = ev.getProfilingInfo<CL_PROFILING_COMMAND_START>();
  const cl_ulong t1 = ev.getProfilingInfo<CL_PROFILING_COMMAND_END>();
  return static_cast<double>(t1 - t0) * 1e-3;
}

double OclKernel::RunUs() {
  using Clock = std::chrono::steady_clock;
  std::vector<cl::Event> events(launches_.size());
  const auto t0 = Clock::now();
  for (size_t i = 0; i < launches_.size(); ++i)
    dev_->queue.enqueueNDRangeKernel(launches_[i].kernel, cl::NullRange, launches_[i].global,
                                     launches_[i].local, nullptr, &events[i]);
  if (!events.empty()) events.back().wait();
  const auto t1 = Clock::now();
  host_us_ = std::chrono::duration<double, std::micro>(t1 - t0).count();
  double us = 0;
  for (auto& ev : events) {
    ev.wait();  // complete already (in-order queue); a no-op that keeps an out-of-order one honest
    us += static_cast<double>(ev.getProfilingInfo<CL_PROFILING_COMMAND_END>() -
                              ev.getProfilingInfo<CL_PROFILING_COMMAND_START>()) * 1e-3;
  }
  return us;
}

std::vector<std::array<size_t, 3>> LwsCandidates3(const DeviceCtx& dev, std::array<size_t, 3> gws) {
  std::vector<std::array<size_t, 3>> out{{0, 0, 0}};
  const size_t a = std::min<size_t>(gws[0], 8);
  for (size_t b : {size_t{1}, size_t{4}, size_t{16}}) {
    std::array<size_t, 3> l{a, std::min(b, gws[1]), 1};
    if (l[0] * l[1] * l[2] > dev.max_wg) continue;
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

std::vector<std::array<size_t, 3>> LwsCandidates1(const DeviceCtx& dev, size_t gws) {
  std::vector<std::array<size_t, 3>> out{{0, 0, 0}};
  for (size_t a : {size_t{64}, size_t{256}, size_t{1024}}) {
    std::array<size_t, 3> l{std::min(a, std::max<size_t>(gws, 1)), 1, 1};
    if (l[0] > dev.max_wg) continue;
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

namespace {

Launch MakeLaunch(const cl::Kernel& k, const Variant& v, const std::array<size_t, 3>& lws) {
  Launch l;
  l.kernel = k;
  const bool null_local = lws[0] == 0;
  std::array<size_t, 3> g = v.gws;
  if (!null_local)
    for (int i = 0; i < v.dims; ++i) g[i] = (g[i] + lws[i] - 1) / lws[i] * lws[i];
  if (v.dims == 1) {
    l.global = cl::NDRange(g[0]);
    l.local = null_local ? cl::NullRange : cl::NDRange(lws[0]);
  } else if (v.dims == 2) {
    l.global = cl::NDRange(g[0], g[1]);
    l.local = null_local ? cl::NullRange : cl::NDRange(lws[0], lws[1]);
  } else {
    l.global = cl::NDRange(g[0], g[1], g[2]);
    l.local = null_local ? cl::NullRange : cl::NDRange(lws[0], lws[1], lws[2]);
  }
  return l;
}

std::string ConfigJson(const Variant& v, const std::array<size_t, 3>& lws) {
  nlohmann::json j;
  j["variant"] = v.name;
  if (lws[0] == 0)
    j["lws"] = nullptr;  // the driver's choice
  else
    j["lws"] = std::vector<size_t>(lws.begin(), lws.begin() + v.dims);
  return j.dump();
}

}  // namespace

size_t PickTuned(const std::vector<double>& times, double margin) {
  if (times.empty()) return 0;
  const double best = *std::min_element(times.begin(), times.end());
  for (size_t i = 0; i < times.size(); ++i)
    if (times[i] <= best * (1 + margin)) return i;
  return 0;
}

TuneResult Tune(DeviceCtx& dev, const std::string& key, const std::vector<Variant>& variants) {
  auto finish = [&](const Variant& v, const std::array<size_t, 3>& lws) {
    cl::Kernel k(dev.GetProgram(v.file, v.options), v.kernel.c_str());
    v.set_args(k);
    TuneResult r{&v, MakeLaunch(k, v, lws), ConfigJson(v, lws)};
    TimeLaunch(dev, r.launch);  // first launch (PoCL compiles the work-group function here)
    return r;
  };
  if (auto it = dev.tuned.find(key); it != dev.tuned.end()) {
    for (const auto& v : variants)
      if (v.name == it->second.variant) return finish(v, it->second.lws);
  }
  if (const char* force = std::getenv("LAYOUTDB_OCL_VARIANT"); force && *force) {
    // Tests and benchmarks pin one variant (the first whose name contains the text).
    for (const auto& v : variants)
      if (v.name.find(force) != std::string::npos) {
        if (!TuningEnabled() || v.lws.size() <= 1) return finish(v, v.lws.empty() ? std::array<size_t, 3>{} : v.lws[0]);
        std::vector<Variant> one{v};
        TuneResult r = Tune(dev, key + "|" + force, one);
        for (const auto& w : variants)
          if (w.name == v.name) r.variant = &w;
        return r;
      }
  }
  if (!TuningEnabled() || (variants.size() == 1 && variants[0].lws.size() <= 1)) {
    const auto lws = variants[0].lws.empty() ? std::array<size_t, 3>{} : variants[0].lws[0];
    return finish(variants[0], lws);
  }
  // Every (variant, work-group size) that runs, in canonical order: a first launch each (PoCL compiles
  // the work-group function there), then timed round-robin, so that a moment of the machine hits all
  // of them alike, each keeping its best run.
  struct Config {
    const Variant* v;
    std::array<size_t, 3> lws;
    Launch launch;
    double best = 1e300;
  };
  std::vector<Config> configs;
  std::string first_error;
  for (const auto& v : variants) {
    cl::Kernel k(dev.GetProgram(v.file, v.options), v.kernel.c_str());
    v.set_args(k);
    for (const auto& lws : v.lws) {
      try {
        Config c{&v, lws, MakeLaunch(k, v, lws)};
        TimeLaunch(dev, c.launch);
        configs.push_back(std::move(c));
      } catch (const cl::Error& e) {
        // A work-group size the device rejects for this kernel: not a candidate.
        if (first_error.empty()) first_error = DescribeClError(e);
      }
    }
  }
  if (configs.empty())
    throw std::runtime_error(fmt::format("{}: no work-group size ran: {}", dev.unit_name, first_error));
  constexpr int kRounds = 4;
  for (int round = 0; round < kRounds; ++round)
    for (auto& c : configs) c.best = std::min(c.best, TimeLaunch(dev, c.launch));
  std::vector<double> times;
  for (const auto& c : configs) times.push_back(c.best);
  const Config& pick = configs[PickTuned(times, kTuneMargin)];
  dev.tuned[key] = {pick.v->name, pick.lws};
  // Already built and launched while tuning: no second kernel to make.
  return TuneResult{pick.v, pick.launch, ConfigJson(*pick.v, pick.lws)};
}

size_t PhysElems(const Shape4& s, const std::string& layout) {
  if (layout == "nc4hw4") return static_cast<size_t>(s.mb * ((s.c + 3) / 4) * 4 * s.h * s.w);
  return static_cast<size_t>(s.Elems());
}

namespace {
size_t PhysOff(const Shape4& s, const std::string& layout, int64_t n, int64_t c, int64_t h, int64_t w) {
  if (layout == "nhwc") return static_cast<size_t>(((n * s.h + h) * s.w + w) * s.c + c);
  if (layout == "nc4hw4")
    return static_cast<size_t>((((n * ((s.c + 3) / 4) + c / 4) * s.h + h) * s.w + w) * 4 + c % 4);
  return static_cast<size_t>(((n * s.c + c) * s.h + h) * s.w + w);
}
}  // namespace

std::vector<float> ToLayout(const std::vector<float>& nchw, const Shape4& s, const std::string& layout) {
  if (layout == "nchw" || layout == "plain") return nchw;
  std::vector<float> out(PhysElems(s, layout), 0.f);
  size_t i = 0;
  for (int64_t n = 0; n < s.mb; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t h = 0; h < s.h; ++h)
        for (int64_t w = 0; w < s.w; ++w) out[PhysOff(s, layout, n, c, h, w)] = nchw[i++];
  return out;
}

std::vector<float> FromLayout(const std::vector<float>& phys, const Shape4& s,
                              const std::string& layout) {
  if (layout == "nchw" || layout == "plain") return phys;
  std::vector<float> out(static_cast<size_t>(s.Elems()));
  size_t i = 0;
  for (int64_t n = 0; n < s.mb; ++n)
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t h = 0; h < s.h; ++h)
        for (int64_t w = 0; w < s.w; ++w) out[i++] = phys[PhysOff(s, layout, n, c, h, w)];
  return out;
}

std::string LayoutDefine(const std::string& layout) {
  if (layout == "nhwc") return "-DLAYOUT_NHWC";
  if (layout == "nc4hw4") return "-DLAYOUT_NC4HW4";
  return "-DLAYOUT_NCHW";
}

}  // namespace layoutdb::microbench::opencl
