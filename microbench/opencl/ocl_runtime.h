// Internal to microbench/opencl: the device context, the program cache (in memory and on disk), the
// tuner and the base of every OpenCL kernel. Not a public header.
#pragma once

// CL_HPP_MINIMUM_OPENCL_VERSION is 110 (set in microbench/CMakeLists.txt): Debian's opencl.hpp
// (2023.02.06) does not compile with 120 and a target >= 200 (getContextPlatformVersion is only
// defined below 120); 110 keeps the run-time choice between the 1.x and 2.x+ entry points.
#include <CL/opencl.hpp>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "layoutdb/microbench/unit.h"

namespace layoutdb::microbench::opencl {

// A program that did not build; what() is one line with the first lines of the compiler log.
struct BuildFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One device with its context and a profiling queue; owns built programs and tuning results.
struct DeviceCtx {
  std::string unit_name;  // ocl:P:D
  std::string device_name, driver;
  cl::Device device;
  cl::Context context;
  cl::CommandQueue queue;
  size_t max_wg = 1;
  // A CPU device (PoCL): it computes from host memory, through the caches the cpu's kernels use, so a
  // kernel's constants there can be flushed from them as a cpu kernel's are (OpKernel::Weights).
  bool host_memory = false;
  std::map<std::string, cl::Program> programs;  // by file + options
  struct Tuned {
    std::string variant;
    std::array<size_t, 3> lws{};  // all 0: the driver chooses
  };
  std::map<std::string, Tuned> tuned;  // by problem key | layout | dtype

  // Builds (or fetches) `file` (one of the embedded .cl files) with `options`. The shared prelude
  // common.cl is prepended. Throws BuildFailure.
  cl::Program GetProgram(const std::string& file, const std::string& options);
  // Builds arbitrary source, no caches. Throws BuildFailure.
  cl::Program BuildSource(const std::string& source, const std::string& options, bool use_disk_cache);
};

// The text of an embedded .cl file (ocl_sources.cpp); throws std::logic_error for an unknown name.
std::string_view EmbeddedSource(const std::string& name);

// "cl::Error clEnqueueNDRangeKernel -5 (CL_OUT_OF_RESOURCES)".
std::string DescribeClError(const cl::Error& e);

// One kernel launch: the kernel with its arguments set, and its ranges.
struct Launch {
  cl::Kernel kernel;
  cl::NDRange global, local;  // local may be cl::NullRange
};

// Enqueues, waits, and returns END - START of the event in microseconds.
double TimeLaunch(DeviceCtx& dev, const Launch& l);

// One way to run a problem: a program (file + options), a kernel in it, the work-items it needs, its
// arguments, and the work-group sizes worth trying.
struct Variant {
  std::string name;  // e.g. conv_nhwc_oc16_px8 (stored in Config() and Impl())
  std::string file, options, kernel;
  int dims = 1;
  std::array<size_t, 3> gws{1, 1, 1};  // work-items needed; padded up to a multiple of lws
  std::vector<std::array<size_t, 3>> lws;  // candidates; {0,0,0} lets the driver choose
  std::function<void(cl::Kernel&)> set_args;
};

// Work-group size candidates for a 3D range (first dimension contiguous), in the spirit of CLTuner's
// "normal" mode: a handful of shapes, always including the driver's own choice.
std::vector<std::array<size_t, 3>> LwsCandidates3(const DeviceCtx& dev, std::array<size_t, 3> gws);
std::vector<std::array<size_t, 3>> LwsCandidates1(const DeviceCtx& dev, size_t gws);

struct TuneResult {
  const Variant* variant = nullptr;
  Launch launch;
  std::string config;  // {"variant":...,"lws":[...]}
};

// The configuration tuning keeps: the first, in canonical order, whose time is within `margin` of the
// fastest. Near-ties resolve the same way in every sweep instead of by the moment's noise (two quick
// sweeps tuned a different configuration for 43-45 of 81 OpenCL points before this rule).
constexpr double kTuneMargin = 0.03;
size_t PickTuned(const std::vector<double>& times, double margin);

// Picks the fastest (variant, work-group size) by event timing (a first untimed launch each, then the
// best of 4 runs timed round-robin over the configurations, PickTuned), remembering the choice per
// `key` in dev.tuned; with tuning off
// (LAYOUTDB_OCL_TUNE=0) takes the first variant and work-group size. Builds programs on the way
// (BuildFailure) and leaves the chosen kernel launched once.
TuneResult Tune(DeviceCtx& dev, const std::string& key, const std::vector<Variant>& variants);

// The base of every OpenCL kernel: times its launches with profiling events.
class OclKernel : public Kernel {
 public:
  OclKernel(std::shared_ptr<DeviceCtx> dev, std::string impl, std::string config)
      : dev_(std::move(dev)), impl_(std::move(impl)), config_(std::move(config)) {}
  std::string Impl() const override { return impl_; }
  std::string Config() const override { return config_; }
  // Enqueues every launch, waits for the last (an in-order queue), and returns the sum of the
  // launches' event times (START..END); LastHostUs() is the steady clock around it all.
  double RunUs() override;
  double LastHostUs() const override { return host_us_; }
  const char* Timer() const override { return "event"; }
  void InjectFaultForTest() override { fault_ = true; }

 protected:
  std::shared_ptr<DeviceCtx> dev_;
  std::string impl_, config_;
  std::vector<Launch> launches_;
  bool fault_ = false;
  double host_us_ = -1;
};

// Host-side layout conversion of a 4D activation (plain = nchw).
size_t PhysElems(const Shape4& s, const std::string& layout);
std::vector<float> ToLayout(const std::vector<float>& nchw, const Shape4& s, const std::string& layout);
std::vector<float> FromLayout(const std::vector<float>& phys, const Shape4& s,
                              const std::string& layout);
// -DLAYOUT_NCHW and so on.
std::string LayoutDefine(const std::string& layout);

// The op kernels (ocl_ops.cpp).
Prepared PrepareOp(const std::shared_ptr<DeviceCtx>& dev, const Problem& p, const std::string& layout);
Prepared PrepareReorderKernel(const std::shared_ptr<DeviceCtx>& dev, const Shape4& s,
                              const std::string& src_layout, const std::string& dst_layout);
Prepared PrepareTransferKernel(const std::shared_ptr<DeviceCtx>& dev, const std::string& method,
                               int64_t bytes);

}  // namespace layoutdb::microbench::opencl
