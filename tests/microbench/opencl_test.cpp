// The OpenCL unit on a real device (PoCL in CI): discovery, every op family in every layout against
// the reference, fault injection, reorders, transfers, build failures, the binary cache.
// Every test skips with "no OpenCL device found: <reason>" where the ICD loader finds no device.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "layoutdb/microbench/execution.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/problem.h"
#include "microbench/opencl/ocl_runtime.h"
#include "microbench/opencl/ocl_unit.h"

namespace layoutdb::microbench {
namespace {
namespace fs = std::filesystem;

// Sets an environment variable for the scope of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_.c_str(), old_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_, old_;
  bool had_ = false;
};

class OpenClTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Binaries cached under the build tree, never in the user's home (tests/test_env.cpp).
    const char* dir = std::getenv("LAYOUTDB_CACHE_DIR");
    cache_dir_ = new fs::path(dir ? dir : "");
    // Tuning compiles a kernel per work-group size on PoCL; the tests pin the first candidate except
    // where tuning itself is tested.
    setenv("LAYOUTDB_OCL_TUNE", "0", 1);
    warnings_ = new std::vector<std::string>;
    units_ = new std::vector<std::unique_ptr<Unit>>(opencl::DiscoverOpenClUnits(warnings_));
  }
  static void TearDownTestSuite() {
    delete units_;
    delete warnings_;
    delete cache_dir_;
  }
  void SetUp() override {
    if (units_->empty()) {
      std::string why;
      for (const auto& w : *warnings_) why += (why.empty() ? "" : "; ") + w;
      GTEST_SKIP() << "no OpenCL device found: " << (why.empty() ? "the ICD loader lists none" : why);
    }
  }
  Unit& U() { return *units_->front(); }

  // Prepares and checks one candidate; returns the kernel for further use.
  std::unique_ptr<Kernel> PrepareChecked(const std::string& key, const std::string& layout) {
    const Problem p = Problem::Parse(key);
    Prepared r = U().Prepare(p, {layout, layout, "f32"});
    EXPECT_EQ(r.status, Prepared::Status::kOk) << key << " " << layout << ": " << r.reason;
    if (!r.kernel) return nullptr;
    EXPECT_EQ(r.kernel->Check(), "") << key << " " << layout;
    EXPECT_EQ(r.kernel->Impl().rfind("ocl:", 0), 0u) << r.kernel->Impl();
    const auto cfg = nlohmann::json::parse(r.kernel->Config());
    EXPECT_TRUE(cfg.contains("variant") && cfg.contains("lws")) << r.kernel->Config();
    EXPECT_GE(r.kernel->RunUs(), 0.0);
    return std::move(r.kernel);
  }

  static std::vector<std::unique_ptr<Unit>>* units_;
  static std::vector<std::string>* warnings_;
  static fs::path* cache_dir_;
};
std::vector<std::unique_ptr<Unit>>* OpenClTest::units_ = nullptr;
std::vector<std::string>* OpenClTest::warnings_ = nullptr;
fs::path* OpenClTest::cache_dir_ = nullptr;

const std::vector<std::string> kLayouts = {"nchw", "nhwc", "nc4hw4"};

TEST_F(OpenClTest, DiscoveryDescribesEveryDevice) {
  for (const auto& u : *units_) {
    const UnitInfo& i = u->Info();
    EXPECT_TRUE(std::regex_match(i.name, std::regex("ocl:[0-9]+:[0-9]+"))) << i.name;
    EXPECT_EQ(i.kind, "opencl");
    EXPECT_FALSE(i.device_name.empty());
    EXPECT_FALSE(i.vendor.empty());
    EXPECT_FALSE(i.driver.empty());
    EXPECT_GT(i.compute_units, 0);
    EXPECT_GT(i.global_mem, 0);
    EXPECT_GT(i.local_mem, 0);
    for (const char* k : {"device_type", "opencl_version", "fp16", "fp64", "max_work_group_size",
                          "preferred_vector_width", "platform_name", "platform_version",
                          "extensions_count"})
      EXPECT_TRUE(i.properties.contains(k)) << i.name << " lacks " << k;
    EXPECT_EQ(i.properties["opencl_version"].get<std::string>().rfind("OpenCL ", 0), 0u);
    EXPECT_EQ(u->Layouts(), kLayouts);
  }
  // On a PoCL machine the CPU device is the first unit.
  const auto& first = U().Info();
  if (first.properties["platform_name"] == "Portable Computing Language") {
    EXPECT_EQ(first.name, "ocl:0:0");
    EXPECT_EQ(first.properties["device_type"], "cpu");
  }
}

TEST_F(OpenClTest, CandidatesCoverLayoutsAndDtypes) {
  const auto conv = U().Candidates(Problem::Parse("conv2d:mb1ic8ih5iw5oc8kh3kw3sh1sw1ph1pw1g1"),
                                   {"f32", "f16"});
  ASSERT_EQ(conv.size(), 6u);
  EXPECT_EQ(conv[0].Layout(), "nchw");
  EXPECT_EQ(conv[5].Layout(), "nc4hw4");
  EXPECT_EQ(conv[5].dtype, "f16");
  const auto mm = U().Candidates(Problem::Parse("matmul:mb1m4n4k4"), {"f32"});
  ASSERT_EQ(mm.size(), 1u);
  EXPECT_EQ(mm[0].Layout(), "plain");
}

// One activation fused into a convolution's or GEMM's epilogue (what the runtime's kernels fuse) is
// measured and checked against the reference, in every layout and every kernel family (dense,
// depthwise in both its vector shapes, GEMM for matmul and ip); a sum, a binary operand or a second
// activation is unsupported, with the reason.
TEST_F(OpenClTest, FusedActivationsMatchTheReferenceAndOtherChainsAreUnsupported) {
  for (const char* key : {"conv2d:mb1ic6ih9iw11oc20kh3kw3sh1sw1ph1pw1g1+relu",
                          "conv2d:mb1ic6ih9iw11oc20kh3kw3sh1sw1ph1pw1g1+sigmoid",
                          "conv2d:mb1ic10ih6iw21oc10kh3kw3sh1sw1ph1pw1g10+clip",
                          "conv2d:mb1ic10ih9iw9oc10kh3kw3sh2sw2ph1pw1g10+hardswish"})
    for (const auto& layout : kLayouts) PrepareChecked(key, layout);
  for (const char* key : {"matmul:mb2m5n20k7+gelu", "ip:mb3ic10oc17+hardsigmoid", "ip:mb1ic9oc5+tanh"})
    PrepareChecked(key, "plain");
  for (const char* key : {"conv2d:mb1ic8ih8iw8oc8kh3kw3sh1sw1ph1pw1g1+sum+relu", "matmul:mb1m4n4k4+relu+tanh",
                          "ip:mb1ic4oc4+mulc"}) {
    const Problem p = Problem::Parse(key);
    const Prepared pr = U().Prepare(p, U().Candidates(p, {"f32"}).front());
    EXPECT_EQ(pr.status, Prepared::Status::kUnsupported) << key;
    EXPECT_NE(pr.reason.find("one activation only"), std::string::npos) << pr.reason;
  }
}

TEST_F(OpenClTest, UnsupportedDtypesSayWhy) {
  const Problem p = Problem::Parse("eltwise:relu:mb1c4h2w2");
  const Prepared f16 = U().Prepare(p, {"nchw", "nchw", "f16"});
  EXPECT_EQ(f16.status, Prepared::Status::kUnsupported);
  if (!U().Info().properties["fp16"].get<bool>()) {
    EXPECT_EQ(f16.reason, U().Name() + ": device has no cl_khr_fp16");
  }
  const Prepared bf16 = U().Prepare(p, {"nchw", "nchw", "bf16"});
  EXPECT_EQ(bf16.status, Prepared::Status::kUnsupported);
  EXPECT_NE(bf16.reason.find("f32 only"), std::string::npos) << bf16.reason;
}

// Small shapes with odd sizes: channels that are not multiples of 4 (or of the 16-channel tile),
// padding, stride 2, groups that straddle nc4hw4 blocks, a 5x5 kernel.
const std::vector<std::string> kSpatialProblems = {
    "conv2d:mb1ic6ih9iw11oc20kh3kw3sh1sw1ph1pw1g1",   // 3x3, odd channels, 16-wide tile + tail
    "conv2d:mb2ic8ih10iw10oc12kh1kw1sh2sw2ph0pw0g1",  // 1x1 stride 2, 8-wide tile
    "conv2d:mb1ic12ih7iw9oc8kh3kw3sh2sw2ph1pw1g2",    // grouped: 6 in / 4 out channels per group
    "conv2d:mb1ic10ih6iw21oc10kh3kw3sh1sw1ph1pw1g10",  // depthwise, 10 channels, interior fast path
    "conv2d:mb1ic10ih9iw9oc10kh3kw3sh2sw2ph1pw1g10",  // depthwise, stride 2
    "pool:max:mb1ic6ih9iw9kh3kw3sh2sw2ph1pw1",
    "pool:avg:mb2ic5ih7iw8kh3kw3sh2sw2ph1pw1",
    "eltwise:gelu:mb1c5h3w7",
    "binary:mul:mb2c5h4w3",
    "binary:mul:mb2c5h4w3bc1",  // a per-channel operand, read plain; 5 channels straddle nc4hw4 blocks
    "binary:add:mb1c6h3w5bc2",  // a scalar operand
    "softmax:mb2c6h3w5",     // over channels: contiguous in nhwc
    "softmax:mb1c3h2w11ax3",  // over w: contiguous in nchw
    "bnorm:mb2c6h3w5",  // 15 pixels: a float4 tail in nchw
    "eltwise:leakyrelu:mb1c5h3w7",  // the one glue op the runtime's OpenCL backend runs
};

class OpenClOpTest : public OpenClTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(OpenClOpTest, EveryLayoutMatchesTheReference) {
  for (const auto& layout : kLayouts) PrepareChecked(GetParam(), layout);
}

INSTANTIATE_TEST_SUITE_P(Spatial, OpenClOpTest, ::testing::ValuesIn(kSpatialProblems),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST_F(OpenClTest, PlainOpsMatchTheReference) {
  for (const char* key : {"matmul:mb2m5n20k7", "ip:mb3ic10oc17", "ip:mb1ic9oc5", "lnorm:mb2t3c10"})
    PrepareChecked(key, "plain");
}

// The glue ops the runtime's OpenCL backend does not run are stored as unsupported, saying so.
TEST_F(OpenClTest, GlueOpsTheRuntimeDoesNotRunAreUnsupportedWithTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"concat:mb1c8h4w4n2", "Concat"},
      {"resample:nearest:mb1c4ih4iw4oh8ow8", "Resize"},
      {"transpose:p0231:mb1c4h4w4", "Transpose"},
      {"slice:mb1c8h4w4oc4oh4ow4", "Slice"},
      {"pad:mb1c4h4w4pt1pb1pl1pr1", "Pad"},
      {"reduce:mean:mb1c4h4w4oc4oh1ow1", "Reduce"},
      {"deconv:mb1ic4ih4iw4oc4kh2kw2sh2sw2ph0pw0g1", "ConvTranspose"},
      {"prelu:mb1c4h4w4", "PRelu"}};
  for (const auto& [key, onnx_op] : cases) {
    const Problem p = Problem::Parse(key);
    for (const Candidate& c : U().Candidates(p, {"f32"})) {
      Prepared r = U().Prepare(p, c);
      EXPECT_EQ(r.status, Prepared::Status::kUnsupported) << key << " " << c.Layout();
      EXPECT_NE(r.reason.find(std::string("has no kernel for ") + onnx_op), std::string::npos) << r.reason;
    }
  }
}

TEST_F(OpenClTest, OtherTileVariantsMatchTheReference) {
  // The tuner may pick any variant; those not first in line are checked here by pinning them.
  {
    ScopedEnv v("LAYOUTDB_OCL_VARIANT", "px4");
    PrepareChecked("conv2d:mb1ic6ih9iw11oc20kh3kw3sh1sw1ph1pw1g1", "nhwc");
  }
  {
    ScopedEnv v("LAYOUTDB_OCL_VARIANT", "_c8_");  // depthwise, 8 channels per work-item
    for (const char* layout : {"nhwc", "nc4hw4"})
      PrepareChecked("conv2d:mb1ic10ih6iw21oc10kh3kw3sh1sw1ph1pw1g10", layout);
  }
  {
    ScopedEnv v("LAYOUTDB_OCL_VARIANT", "_w16");  // depthwise nchw, 16 pixels per work-item
    PrepareChecked("conv2d:mb1ic10ih8iw21oc10kh3kw3sh1sw1ph1pw1g10", "nchw");
  }
  {
    ScopedEnv v("LAYOUTDB_OCL_VARIANT", "lmem");
    auto k = PrepareChecked("matmul:mb2m13n37k70", "plain");
    ASSERT_TRUE(k);
    EXPECT_NE(k->Config().find("lmem"), std::string::npos) << k->Config();
  }
}

TEST_F(OpenClTest, TuningStoresTheChosenConfiguration) {
  ScopedEnv tune("LAYOUTDB_OCL_TUNE", "1");
  auto k = PrepareChecked("eltwise:relu:mb1c3h10w10", "nhwc");
  ASSERT_TRUE(k);
  const auto cfg = nlohmann::json::parse(k->Config());
  EXPECT_EQ(cfg["variant"], "eltwise_relu");
  EXPECT_TRUE(cfg["lws"].is_null() || (cfg["lws"].is_array() && cfg["lws"].size() == 1u)) << cfg;
  // A second preparation of the same problem reuses the tuning result.
  auto again = PrepareChecked("eltwise:relu:mb1c3h10w10", "nhwc");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Config(), k->Config());
}

// No device needed: which configuration tuning keeps from the times it measured.
TEST(OpenClTuning, NearTiesKeepTheFirstConfigurationSoSweepsAgree) {
  using opencl::kTuneMargin;
  using opencl::PickTuned;
  // 2% apart is a tie: the canonical first wins, whichever the moment made faster.
  EXPECT_EQ(PickTuned({10.0, 9.8, 12.0}, kTuneMargin), 0u);
  EXPECT_EQ(PickTuned({9.8, 10.0, 12.0}, kTuneMargin), 0u);
  // A clear lead wins.
  EXPECT_EQ(PickTuned({10.0, 9.0, 12.0}, kTuneMargin), 1u);
  EXPECT_EQ(PickTuned({10.0, 12.0, 9.0}, kTuneMargin), 2u);
  // Among several near the best, the earliest of them, not the earliest overall.
  EXPECT_EQ(PickTuned({20.0, 10.2, 10.0}, kTuneMargin), 1u);
  EXPECT_EQ(PickTuned({}, kTuneMargin), 0u);
}

// A CPU device (PoCL) reads its kernels' constants from host memory: it lists them, as a cpu kernel
// does, so that the warm cache mode flushes them before each run, and the kernel computes from that
// storage (a flush leaves the results right). A GPU lists none: its memory is not the host's.
TEST_F(OpenClTest, ACpuDeviceListsItsKernelsConstantsForTheWarmFlush) {
  const bool cpu = U().Info().properties["device_type"] == "cpu";
  for (const auto& [key, layout, bytes] : std::vector<std::tuple<std::string, std::string, size_t>>{
           {"conv2d:mb1ic6ih9iw11oc20kh3kw3sh1sw1ph1pw1g1", "nc4hw4", 20 * 6 * 3 * 3 * 4},
           {"ip:mb1ic64oc10", "plain", 64 * 10 * 4}}) {
    auto k = PrepareChecked(key, layout);
    ASSERT_TRUE(k);
    const auto w = k->Weights();
    if (!cpu) {
      EXPECT_TRUE(w.empty()) << key;
      continue;
    }
    ASSERT_GE(w.size(), 2u) << key << ": weights and bias";
    size_t total = 0;
    for (const auto& [p, n] : w) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4096, 0u) << key;
      total += n;
    }
    EXPECT_GE(total, bytes) << key;
    PrivateCacheFlusher flusher(256 << 10);
    flusher.Evict({}, w);
    EXPECT_EQ(k->Check(), "") << key << " after its constants were flushed";
    EXPECT_GE(k->RunUs(), 0.0);
  }
}

TEST_F(OpenClTest, InjectedFaultIsCaught) {
  auto k = PrepareChecked("conv2d:mb1ic6ih9iw11oc20kh3kw3sh1sw1ph1pw1g1", "nc4hw4");
  ASSERT_TRUE(k);
  k->InjectFaultForTest();
  const std::string bad = k->Check();
  EXPECT_NE(bad.find("1 of 1980 elements differ"), std::string::npos) << bad;
  EXPECT_NE(bad.find(U().Name()), std::string::npos) << bad;
  EXPECT_EQ(k->Check(), "");  // the fault was seen once
}

TEST_F(OpenClTest, ReordersRoundTripBetweenEveryPairOfLayouts) {
  const Shape4 s{2, 6, 5, 7};  // edge tiles: 6 channels, 7 pixels a row
  for (const auto& a : kLayouts)
    for (const auto& b : kLayouts) {
      if (a == b) continue;
      Prepared whole = U().PrepareReorder({1, 8, 2, 8}, a, b, "f32");  // whole 4 x 4 tiles
      ASSERT_EQ(whole.status, Prepared::Status::kOk) << a << ">" << b << ": " << whole.reason;
      EXPECT_EQ(whole.kernel->Check(), "") << a << ">" << b;
      Prepared r = U().PrepareReorder(s, a, b, "f32");
      ASSERT_EQ(r.status, Prepared::Status::kOk) << a << ">" << b << ": " << r.reason;
      EXPECT_EQ(r.kernel->Check(), "") << a << ">" << b;
      EXPECT_GE(r.kernel->RunUs(), 0.0);
      r.kernel->InjectFaultForTest();
      EXPECT_NE(r.kernel->Check(), "") << a << ">" << b;
    }
  EXPECT_EQ(U().PrepareReorder(s, "nchw", "nChw16c", "f32").status, Prepared::Status::kUnsupported);
}

TEST_F(OpenClTest, TransfersMoveTheRightBytes) {
  EXPECT_EQ(U().TransferMethods(), (std::vector<std::string>{"write", "read", "map", "unmap"}));
  for (const auto& m : U().TransferMethods()) {
    Prepared r = U().PrepareTransfer(m, 4096 + 13);
    ASSERT_EQ(r.status, Prepared::Status::kOk) << m << ": " << r.reason;
    EXPECT_EQ(r.kernel->Check(), "") << m;
    EXPECT_GE(r.kernel->RunUs(), 0.0);
    r.kernel->InjectFaultForTest();
    const std::string bad = r.kernel->Check();
    EXPECT_NE(bad.find("transfer " + m + " of 4109 bytes: 1 bytes differ, first at offset 2054"),
              std::string::npos)
        << bad;
  }
  EXPECT_EQ(U().PrepareTransfer("copy", 64).status, Prepared::Status::kUnsupported);
}

// One clock across units: every OpenCL kernel says its figure is the device's event time and gives the
// host's enqueue-to-finish time of the same run beside it, which contains it.
TEST_F(OpenClTest, HostTimeOfEveryRunContainsItsEventTime) {
  std::vector<std::unique_ptr<Kernel>> kernels;
  kernels.push_back(PrepareChecked("conv2d:mb1ic8ih10iw10oc8kh3kw3sh1sw1ph1pw1g1", "nhwc"));
  kernels.push_back(PrepareChecked("eltwise:relu:mb1c8h10w10", "nchw"));
  Prepared reorder = U().PrepareReorder({1, 8, 4, 8}, "nchw", "nc4hw4", "f32");
  ASSERT_EQ(reorder.status, Prepared::Status::kOk) << reorder.reason;
  kernels.push_back(std::move(reorder.kernel));
  for (const char* m : {"write", "read", "map", "unmap"}) {
    Prepared t = U().PrepareTransfer(m, 1 << 16);
    ASSERT_EQ(t.status, Prepared::Status::kOk) << t.reason;
    kernels.push_back(std::move(t.kernel));
  }
  for (auto& k : kernels) {
    ASSERT_NE(k, nullptr);
    SCOPED_TRACE(k->Impl());
    EXPECT_STREQ(k->Timer(), "event");
    for (int i = 0; i < 3; ++i) {
      const double event_us = k->RunUs();
      EXPECT_GE(k->LastHostUs(), event_us);
      EXPECT_GT(k->LastHostUs(), 0.0);
    }
  }
}

TEST_F(OpenClTest, BrokenSourceFailsWithTheCompilerLog) {
  Prepared bad = opencl::PrepareFromSourceForTest(
      U(), "__kernel void broken(__global float* x) { x[0] = undeclared_thing; }", "broken");
  EXPECT_EQ(bad.status, Prepared::Status::kFailed);
  EXPECT_EQ(bad.reason.rfind(U().Name() + ": program build failed", 0), 0u) << bad.reason;
  EXPECT_NE(bad.reason.find("undeclared_thing"), std::string::npos) << bad.reason;
  EXPECT_EQ(bad.reason.find('\n'), std::string::npos) << "one line: " << bad.reason;

  Prepared good = opencl::PrepareFromSourceForTest(U(), "__kernel void fine() {}", "fine");
  ASSERT_EQ(good.status, Prepared::Status::kOk) << good.reason;
  EXPECT_GE(good.kernel->RunUs(), 0.0);
}

TEST_F(OpenClTest, ProgramBinariesAreCachedOnDisk) {
  EXPECT_EQ(opencl::BinaryCacheDir(), (*cache_dir_ / "opencl").string());
  PrepareChecked("binary:add:mb1c4h3w3", "nchw");
  size_t bins = 0;
  for (const auto& e : fs::directory_iterator(opencl::BinaryCacheDir()))
    bins += e.path().extension() == ".bin";
  EXPECT_GT(bins, 0u);
}

}  // namespace
}  // namespace layoutdb::microbench
