// OpenCL discovery and the `ocl:P:D` unit.
#include "opencl/ocl_unit.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "opencl/ocl_runtime.h"

namespace layoutdb::microbench::opencl {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ' || s.back() == '\n')) s.pop_back();
  return s;
}

std::string DeviceTypeName(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "gpu";
  if (t & CL_DEVICE_TYPE_CPU) return "cpu";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
  if (t & CL_DEVICE_TYPE_CUSTOM) return "custom";
  return "other";
}

const std::vector<std::string> kLayouts = {"nchw", "nhwc", "nc4hw4"};

class OclUnit : public Unit {
 public:
  OclUnit(UnitInfo info, std::shared_ptr<DeviceCtx> dev, bool fp16)
      : info_(std::move(info)), dev_(std::move(dev)), fp16_(fp16) {}

  const UnitInfo& Info() const override { return info_; }
  std::vector<std::string> Layouts() const override { return kLayouts; }

  std::vector<Candidate> Candidates(const Problem& p,
                                    const std::vector<std::string>& dtypes) const override {
    std::vector<Candidate> out;
    if (p.IsSpatial()) {
      for (const auto& l : kLayouts)
        for (const auto& dt : dtypes) out.push_back({l, l, dt});
    } else {
      for (const auto& dt : dtypes) out.push_back({"plain", "plain", dt});
    }
    return out;
  }

  Prepared Prepare(const Problem& p, const Candidate& c) override {
    if (c.src_layout != c.dst_layout)
      return Prepared::Unsupported(
          fmt::format("{}: kernels read and write one layout, not {}", info_.name, c.Layout()));
    const bool known = p.IsSpatial() ? std::count(kLayouts.begin(), kLayouts.end(), c.src_layout) > 0
                                     : c.src_layout == "plain";
    if (!known)
      return Prepared::Unsupported(
          fmt::format("{}: layout '{}' is not one of this unit's for {}", info_.name, c.src_layout, p.op()));
    if (std::string why = DtypeUnsupported(c.dtype); !why.empty()) return Prepared::Unsupported(why);
    if (!p.post_ops().empty()) {
      // The runtime's kernels (runtime/ocl) fuse the bias, a folded batch norm and one activation
      // into a convolution or GEMM; these kernels do the same (common.cl's ACT). A residual sum, a
      // binary operand or a second activation is fused by neither.
      const auto& chain = p.post_ops();
      const auto& acts = KnownAlgs("eltwise");
      if (chain.size() != 1 || std::find(acts.begin(), acts.end(), chain.front()) == acts.end())
        return Prepared::Unsupported(fmt::format(
            "{}: fused post-ops +{}: the OpenCL kernels fuse one activation only (no sum or binary "
            "operand), as the runtime's do",
            info_.name, fmt::join(chain, "+")));
    }
    return Guard([&] { return PrepareOp(dev_, p, c.src_layout); });
  }

  Prepared PrepareReorder(const Shape4& s, const std::string& src_layout, const std::string& dst_layout,
                          const std::string& dtype) override {
    for (const auto* l : {&src_layout, &dst_layout})
      if (std::find(kLayouts.begin(), kLayouts.end(), *l) == kLayouts.end())
        return Prepared::Unsupported(fmt::format("{}: layout '{}' is not one of this unit's", info_.name, *l));
    if (std::string why = DtypeUnsupported(dtype); !why.empty()) return Prepared::Unsupported(why);
    return Guard([&] { return PrepareReorderKernel(dev_, s, src_layout, dst_layout); });
  }

  std::vector<std::string> TransferMethods() const override { return {"write", "read", "map", "unmap"}; }

  Prepared PrepareTransfer(const std::string& method, int64_t bytes) override {
    const auto m = TransferMethods();
    if (std::find(m.begin(), m.end(), method) == m.end())
      return Prepared::Unsupported(fmt::format("{}: no transfer method '{}'", info_.name, method));
    if (bytes <= 0) return Prepared::Unsupported(fmt::format("{}: transfer of {} bytes", info_.name, bytes));
    return Guard([&] { return PrepareTransferKernel(dev_, method, bytes); });
  }

  DeviceCtx& Ctx() { return *dev_; }

 private:
  std::string DtypeUnsupported(const std::string& dtype) const {
    if (dtype == "f32") return {};
    if (dtype == "f16")
      return fp16_ ? fmt::format("{}: f16 kernels are not implemented yet", info_.name)
                   : fmt::format("{}: device has no cl_khr_fp16", info_.name);
    return fmt::format("{}: dtype {} is not supported by the OpenCL kernels (f32 only)", info_.name, dtype);
  }

  // A device that cannot build or run a kernel gives Failed with the reason; the sweep goes on.
  template <typename F>
  Prepared Guard(F&& f) {
    try {
      return f();
    } catch (const BuildFailure& e) {
      return Prepared::Failed(e.what());
    } catch (const cl::Error& e) {
      return Prepared::Failed(fmt::format("{}: {}", info_.name, DescribeClError(e)));
    } catch (const std::exception& e) {
      return Prepared::Failed(fmt::format("{}: {}", info_.name, e.what()));
    }
  }

  UnitInfo info_;
  std::shared_ptr<DeviceCtx> dev_;
  bool fp16_;
};

// Runs a kernel built from arbitrary source on one work-item (test hook).
class SourceKernel : public OclKernel {
 public:
  using OclKernel::OclKernel;
  void Set(const Launch& l) { launches_ = {l}; }
  std::string Check() override { return {}; }
};

std::unique_ptr<Unit> MakeUnit(const cl::Platform& platform, const cl::Device& device, int pi, int di) {
  UnitInfo info;
  info.name = fmt::format("ocl:{}:{}", pi, di);
  info.kind = "opencl";
  info.vendor = Trim(device.getInfo<CL_DEVICE_VENDOR>());
  info.device_name = Trim(device.getInfo<CL_DEVICE_NAME>());
  info.driver = Trim(device.getInfo<CL_DRIVER_VERSION>());
  info.compute_units = device.getInfo<CL_DEVICE_MAX_COMPUTE_UNITS>();
  info.clock_mhz = device.getInfo<CL_DEVICE_MAX_CLOCK_FREQUENCY>();
  info.global_mem = static_cast<int64_t>(device.getInfo<CL_DEVICE_GLOBAL_MEM_SIZE>());
  info.local_mem = static_cast<int64_t>(device.getInfo<CL_DEVICE_LOCAL_MEM_SIZE>());
  const std::string ext = Trim(device.getInfo<CL_DEVICE_EXTENSIONS>());
  size_t ext_count = 0;
  for (size_t i = 0; i < ext.size();) {
    const size_t j = ext.find(' ', i);
    if (j != i) ++ext_count;
    if (j == std::string::npos) break;
    i = j + 1;
  }
  auto has = [&](const std::string& e) { return (" " + ext + " ").find(" " + e + " ") != std::string::npos; };
  const bool fp16 = has("cl_khr_fp16");
  nlohmann::json& pr = info.properties;
  pr["device_type"] = DeviceTypeName(device.getInfo<CL_DEVICE_TYPE>());
  pr["opencl_version"] = Trim(device.getInfo<CL_DEVICE_VERSION>());
  pr["opencl_c_version"] = Trim(device.getInfo<CL_DEVICE_OPENCL_C_VERSION>());
  pr["fp16"] = fp16;
  pr["fp64"] = has("cl_khr_fp64");
  pr["max_work_group_size"] = device.getInfo<CL_DEVICE_MAX_WORK_GROUP_SIZE>();
  pr["preferred_vector_width"] = {
      {"char", device.getInfo<CL_DEVICE_PREFERRED_VECTOR_WIDTH_CHAR>()},
      {"short", device.getInfo<CL_DEVICE_PREFERRED_VECTOR_WIDTH_SHORT>()},
      {"int", device.getInfo<CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT>()},
      {"float", device.getInfo<CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT>()},
      {"half", device.getInfo<CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF>()},
      {"double", device.getInfo<CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE>()}};
  pr["platform_name"] = Trim(platform.getInfo<CL_PLATFORM_NAME>());
  pr["platform_version"] = Trim(platform.getInfo<CL_PLATFORM_VERSION>());
  pr["extensions_count"] = ext_count;

  auto dev = std::make_shared<DeviceCtx>();
  dev->unit_name = info.name;
  dev->device_name = info.device_name;
  dev->driver = info.driver;
  dev->device = device;
  dev->context = cl::Context(device);
  dev->queue = cl::CommandQueue(dev->context, device, CL_QUEUE_PROFILING_ENABLE);
  dev->max_wg = device.getInfo<CL_DEVICE_MAX_WORK_GROUP_SIZE>();
  dev->host_memory = (device.getInfo<CL_DEVICE_TYPE>() & CL_DEVICE_TYPE_CPU) != 0;
  return std::make_unique<OclUnit>(std::move(info), std::move(dev), fp16);
}

}  // namespace

std::vector<std::unique_ptr<Unit>> DiscoverOpenClUnits(std::vector<std::string>* warnings) {
  std::vector<std::unique_ptr<Unit>> units;
  auto warn = [&](std::string w) {
    if (warnings) warnings->push_back(std::move(w));
  };
  std::vector<cl::Platform> platforms;
  try {
    cl::Platform::get(&platforms);
  } catch (const cl::Error& e) {
    warn(fmt::format("OpenCL: no platform found ({})", DescribeClError(e)));
    return units;
  }
  if (platforms.empty()) warn("OpenCL: no platform found (the ICD loader lists none)");
  for (size_t pi = 0; pi < platforms.size(); ++pi) {
    std::vector<cl::Device> devices;
    try {
      platforms[pi].getDevices(CL_DEVICE_TYPE_ALL, &devices);
    } catch (const cl::Error& e) {
      warn(fmt::format("OpenCL platform {}: cannot list devices ({})", pi, DescribeClError(e)));
      continue;
    }
    for (size_t di = 0; di < devices.size(); ++di) {
      try {
        units.push_back(MakeUnit(platforms[pi], devices[di], static_cast<int>(pi), static_cast<int>(di)));
      } catch (const cl::Error& e) {
        warn(fmt::format("OpenCL device ocl:{}:{}: cannot be used ({})", pi, di, DescribeClError(e)));
      }
    }
  }
  return units;
}

Prepared PrepareFromSourceForTest(Unit& unit, const std::string& source, const std::string& kernel_name) {
  auto* u = dynamic_cast<OclUnit*>(&unit);
  if (!u) return Prepared::Unsupported(fmt::format("{} is not an OpenCL unit", unit.Name()));
  DeviceCtx& dev = u->Ctx();
  try {
    cl::Program prog = dev.BuildSource(source, "", /*use_disk_cache=*/false);
    Launch l;
    l.kernel = cl::Kernel(prog, kernel_name.c_str());
    l.global = cl::NDRange(1);
    l.local = cl::NullRange;
    // The kernel shares the unit's context; a no-op deleter keeps the unit the owner.
    auto k = std::make_unique<SourceKernel>(std::shared_ptr<DeviceCtx>(&dev, [](DeviceCtx*) {}),
                                            "ocl:" + kernel_name, "");
    k->Set(l);
    return Prepared::Ok(std::move(k));
  } catch (const BuildFailure& e) {
    return Prepared::Failed(e.what());
  } catch (const cl::Error& e) {
    return Prepared::Failed(fmt::format("{}: {}", unit.Name(), DescribeClError(e)));
  }
}

}  // namespace layoutdb::microbench::opencl
