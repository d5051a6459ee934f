// Computing units and the kernels they run, as the profiler sees them.
//
// A Unit (the oneDNN CPU engine, an OpenCL device) lists the candidates it can run a problem with —
// (src layout, dst layout, dtype) — and prepares one Kernel per candidate. A Kernel owns everything
// one timed execution needs (memory filled with real values, the primitive or program), checks itself
// once against a reference, and then runs once per call to RunUs().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "layoutdb/problem.h"

namespace layoutdb::microbench {

// One way of running a problem on a unit.
struct Candidate {
  std::string src_layout;  // e.g. nchw, nhwc, nChw8c, nChw16c, nc4hw4, plain, any
  std::string dst_layout;
  std::string dtype;       // f32, bf16, f16, int8
  // The name stored in measurements.layout: src when src == dst, else "src>dst".
  std::string Layout() const { return src_layout == dst_layout ? src_layout : src_layout + ">" + dst_layout; }
  // The candidate a measurements.layout name stands for (Layout()'s inverse).
  static Candidate FromLayout(const std::string& layout, const std::string& dtype) {
    const size_t gt = layout.find('>');
    return {layout.substr(0, gt), gt == std::string::npos ? layout : layout.substr(gt + 1), dtype};
  }
  bool operator==(const Candidate& o) const {
    return src_layout == o.src_layout && dst_layout == o.dst_layout && dtype == o.dtype;
  }
};

// What `layoutdb devices` shows of a unit, and what the `units` table stores.
struct UnitInfo {
  std::string name;         // cpu, ocl:P:D
  std::string kind;         // cpu, opencl
  std::string vendor;
  std::string device_name;
  std::string driver;       // driver / library version
  int64_t compute_units = 0;
  int64_t clock_mhz = 0;
  int64_t global_mem = 0;   // bytes
  int64_t local_mem = 0;    // bytes
  nlohmann::json properties = nlohmann::json::object();  // everything else (ISA, caches, fp16, ...)
};

// A prepared, executable candidate.
class Kernel {
 public:
  virtual ~Kernel() = default;
  // The implementation the library chose (oneDNN impl_info_str, or the OpenCL kernel's name).
  virtual std::string Impl() const = 0;
  // True when the library fell back to a reference (slow, never to be recommended) implementation.
  virtual bool IsReference() const { return false; }
  // For the `any` candidate: the layouts the library chose, named as a candidate is: `dst` when it
  // reads and writes the same layout, else `src>dst` (else empty).
  virtual std::string ChosenLayout() const { return {}; }
  // JSON text of a tuned configuration (OpenCL work-group size, tile variant), else empty.
  virtual std::string Config() const { return {}; }
  // Executes once and compares the result with a reference implementation. Returns an empty string
  // when it agrees within the stated tolerance, else one line saying where and by how much it differs.
  virtual std::string Check() = 0;
  // Test hook: from now on, Check() sees a wrong element in the kernel's output.
  virtual void InjectFaultForTest() = 0;
  // Executes once; returns the elapsed time in microseconds (a steady clock around execute + wait on
  // the CPU, profiling events on OpenCL).
  virtual double RunUs() = 0;
  // The host-side time of the last RunUs(), in microseconds: the steady clock from before the first
  // enqueue to after the wait for the last command, i.e. what an application sees (on OpenCL it adds
  // enqueue, submission and waking the device's threads to the events' START..END). Negative when
  // RunUs() already is that time (the CPU).
  virtual double LastHostUs() const { return -1; }
  // Which clock RunUs() reads: "host" (steady clock around the call) or "event" (device profiling).
  virtual const char* Timer() const { return "host"; }
  // The host memory of the activations RunUs() reads (sources, a binary operand, a residual), not its
  // weights: in a network the kernel before it has just written them. The warm cache mode writes them
  // back, unchanged, after evicting the private caches (PrivateCacheFlusher). Empty: none in host
  // memory (an OpenCL device's buffers).
  virtual std::vector<std::pair<void*, size_t>> Inputs() const { return {}; }
  // The host memory of the constants RunUs() reads (weights, bias, scale and shift, statistics): in a
  // network they were last read a whole network ago. The warm cache mode flushes them from every cache
  // level before each run (PrivateCacheFlusher). Empty: none, or none in host memory (a GPU's; a CPU
  // OpenCL device such as PoCL keeps its kernels' constants in host memory and lists them).
  virtual std::vector<std::pair<void*, size_t>> Weights() const { return {}; }
};

// The result of preparing a kernel: a kernel, or why there is none.
struct Prepared {
  enum class Status { kOk, kUnsupported, kFailed };
  Status status = Status::kFailed;
  std::string reason;
  std::unique_ptr<Kernel> kernel;
  // Unsupported because the library offers only its reference kernel here, too slow to time: that
  // kernel's name. A runtime executing this candidate would get it (the selector never plans it).
  std::string reference_impl;

  static Prepared Ok(std::unique_ptr<Kernel> k) { return {Status::kOk, {}, std::move(k), {}}; }
  static Prepared Unsupported(std::string why) { return {Status::kUnsupported, std::move(why), nullptr, {}}; }
  static Prepared ReferenceOnly(std::string why, std::string impl) {
    return {Status::kUnsupported, std::move(why), nullptr, std::move(impl)};
  }
  static Prepared Failed(std::string why) { return {Status::kFailed, std::move(why), nullptr, {}}; }
};

// The implementation a unit's library would run a candidate with, asked without preparing a kernel.
struct Implementation {
  std::string name;        // oneDNN impl_info_str
  bool reference = false;  // the library's reference (slow, never recommended) implementation
};

// A 4D activation shape for reorders and transfers.
struct Shape4 {
  int64_t mb = 1, c = 1, h = 1, w = 1;
  int64_t Elems() const { return mb * c * h * w; }
  std::string Key() const;  // mb1c64h56w56
};

class Unit {
 public:
  virtual ~Unit() = default;
  virtual const UnitInfo& Info() const = 0;
  const std::string& Name() const { return Info().name; }
  // The activation layouts this unit computes in (its reorder matrix is over these).
  virtual std::vector<std::string> Layouts() const = 0;
  // Every candidate of a problem in the given dtypes, including ones the unit will report unsupported
  // (they are stored as such, never dropped).
  virtual std::vector<Candidate> Candidates(const Problem& p, const std::vector<std::string>& dtypes) const = 0;
  virtual Prepared Prepare(const Problem& p, const Candidate& c) = 0;
  // Which implementation the library would choose for the candidate, asked of its dispatcher alone:
  // no memory, no reference run, no timing (a primitive descriptor is microseconds, a kernel with
  // its reference can be seconds). nullopt when the unit cannot tell that cheaply, or the candidate
  // cannot be prepared at all (Prepare says why).
  virtual std::optional<Implementation> Choose(const Problem& p, const Candidate& c) { return std::nullopt; }
  // A layout change of an activation tensor on this unit.
  virtual Prepared PrepareReorder(const Shape4& s, const std::string& src_layout,
                                  const std::string& dst_layout, const std::string& dtype) = 0;
  // Moving `bytes` between the host (the `cpu` unit) and this unit; methods are write (host to device),
  // read (device to host), map, unmap. Units without their own memory have none.
  virtual std::vector<std::string> TransferMethods() const { return {}; }
  virtual Prepared PrepareTransfer(const std::string& method, int64_t bytes) {
    return Prepared::Unsupported("unit has no separate memory");
  }
};

// What the selector asks before it plans a state no sweep measured (Selector::Open's `refuse`; wired
// by app/ and runtime/, since the selector knows no kernels): for a problem key, unit, layout (as
// measurements.layout names it: nchw, nchw>nChw16c, any) and dtype, the reason this machine's library
// would run only its reference kernel there (one line), else nullopt. An interpolation from other
// problems cannot know that oneDNN falls back to a plain loop for this one shape: a 3-channel
// convolution in nChw16c runs 500x slower than its neighbours suggest. Asks the cpu unit (made on the
// first call); every other unit runs its own kernels, and gets nullopt. Safe to call from several
// threads.
using RefuseCheck = std::function<std::optional<std::string>(const std::string& key, const std::string& unit,
                                                              const std::string& layout, const std::string& dtype)>;
RefuseCheck MakeReferenceCheck();

// All units of this machine: `cpu` first, then every OpenCL device found through the ICD loader.
// OpenCL discovery problems are reported in `warnings` (one line each), never thrown.
std::vector<std::unique_ptr<Unit>> DiscoverUnits(std::vector<std::string>* warnings);

}  // namespace layoutdb::microbench
