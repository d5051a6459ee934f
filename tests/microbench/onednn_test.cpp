// The `cpu` unit: real oneDNN primitives of every op family in every layout, each checked against the
// reference; wrong results caught; unsupported candidates stored with a reason; reorders round-trip.
#include <gtest/gtest.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "layoutdb/microbench/execution.h"
#include "layoutdb/microbench/unit.h"
#include "microbench/onednn/cpu_info.h"
#include "microbench/onednn/cpu_unit.h"
#include "microbench/reference.h"

namespace layoutdb::microbench {
namespace {

Unit& Cpu() {
  static std::unique_ptr<Unit> unit = onednn::MakeCpuUnit();
  return *unit;
}

// Small problems of every op family, with the awkward cases: 3 input channels, channel counts that
// are not multiples of 8 or 16, stride 2, padding, dilation, groups, depthwise.
const std::vector<std::string>& SmallProblems() {
  static const std::vector<std::string> kKeys = {
      "conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1",
      "conv2d:mb1ic3ih11iw11oc8kh3kw3sh2sw2ph1pw1g1",
      "conv2d:mb1ic8ih9iw9oc8kh3kw3sh1sw1ph2pw2dh2dw2g1",
      "conv2d:mb2ic8ih6iw6oc12kh3kw3sh1sw1ph1pw1g2",
      "conv2d:mb1ic16ih7iw7oc16kh3kw3sh2sw2ph1pw1g16",
      "conv2d:mb1ic24ih5iw5oc20kh1kw1sh1sw1ph0pw0g1",
      "matmul:mb2m5n7k9",
      "ip:mb3ic20oc10",
      "pool:max:mb1ic16ih9iw9kh3kw3sh2sw2ph1pw1",
      "pool:avg:mb1ic5ih8iw8kh3kw3sh2sw2ph1pw1",
      "eltwise:relu:mb1c5h4w6",
      "eltwise:clip:mb1c16h3w3",
      "eltwise:hardswish:mb1c5h4w6",
      "eltwise:hardsigmoid:mb1c5h4w6",
      "eltwise:sigmoid:mb1c5h4w6",
      "eltwise:gelu:mb1c5h4w6",
      "eltwise:tanh:mb1c5h4w6",
      "binary:add:mb1c20h3w5",
      "binary:mul:mb1c20h3w5",
      // A broadcast second operand: per channel (per image, mb 2) and a scalar; 20 channels are off
      // the 8/16 blocks.
      "binary:mul:mb2c20h3w5bc1",
      "binary:add:mb1c20h3w5bc2",
      "softmax:mb1c10h3w4",
      "softmax:mb2c8h2w5ax3",
      "bnorm:mb2c20h3w3",
      "lnorm:mb2t3c20",
      // Glue ops: channel counts off the 8/16 blocks, odd sizes, every algorithm.
      "eltwise:leakyrelu:mb1c5h4w6",
      "concat:mb1c24h5w3n3",
      "concat:mb1c16h6w3n2ax2",
      "resample:nearest:mb1c5ih4iw3oh8ow6",
      "resample:linear:mb1c5ih4iw3oh8ow6",
      "resample:linear:mb1c16ih6iw6oh3ow3",
      "transpose:p0231:mb2c5h4w3",
      "transpose:p0213:mb2c5h4w3",
      "transpose:p0132:mb1c3h7w5",
      "slice:mb1c20h6w5oc10oh6ow5",
      "slice:mb2c5h8w9oc5oh4ow3",
      "pad:mb1c5h4w6pt1pb2pl0pr3",
      "reduce:mean:mb1c20h5w3oc20oh1ow1",
      "reduce:sum:mb2c7h9w1oc7oh1ow1",
      "reduce:max:mb1c6h5w4oc1oh5ow4",
      "deconv:mb1ic16ih5iw5oc8kh4kw4sh2sw2ph1pw1g1",
      "deconv:mb2ic8ih4iw3oc12kh3kw3sh1sw1ph1pw1g2",
      "deconv:mb1ic5ih6iw6oc3kh2kw2sh2sw2ph0pw0g1",
      "prelu:mb1c20h3w5",
  };
  return kKeys;
}

bool Starts(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Prepares and checks every candidate of every small problem in `dtype`. Returns how many ran.
int CheckEveryCandidate(const std::string& dtype, bool require_ok) {
  int ran = 0;
  for (const auto& key : SmallProblems()) {
    const Problem p = Problem::Parse(key);
    for (const Candidate& c : Cpu().Candidates(p, {dtype})) {
      SCOPED_TRACE(key + " " + c.Layout() + " " + dtype);
      Prepared pr = Cpu().Prepare(p, c);
      // `any` on ops other than conv2d has no meaning in oneDNN (their layout follows the producer).
      const bool any_without_choice = c.src_layout == "any" && p.op() != "conv2d" && p.op() != "deconv";
      if (any_without_choice) {
        EXPECT_EQ(pr.status, Prepared::Status::kUnsupported);
        EXPECT_NE(pr.reason.find("follows the producer"), std::string::npos) << pr.reason;
        continue;
      }
      if (pr.status != Prepared::Status::kOk) {
        EXPECT_FALSE(require_ok) << pr.reason;
        EXPECT_FALSE(pr.reason.empty());
        EXPECT_EQ(pr.status, Prepared::Status::kUnsupported) << pr.reason;
        continue;
      }
      Kernel& k = *pr.kernel;
      EXPECT_EQ(k.Check(), "") << k.Impl();
      EXPECT_FALSE(k.Impl().empty());
      EXPECT_EQ(k.IsReference(), Starts(k.Impl(), "ref")) << k.Impl();
      if (c.dst_layout == "any") EXPECT_FALSE(k.ChosenLayout().empty());
      else EXPECT_EQ(k.ChosenLayout(), "");
      EXPECT_GT(k.RunUs(), 0.0);
      EXPECT_STREQ(k.Timer(), "host");  // the CPU's figure is the host's steady clock already
      EXPECT_LT(k.LastHostUs(), 0.0);
      ++ran;
    }
  }
  return ran;
}

// Fused problems: anchors with the post-op chains real networks form, in every layout; each one
// checked against the reference (which applies the chain), then timed.
const std::vector<std::string>& FusedProblems() {
  static const std::vector<std::string> kKeys = {
      "conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1+relu",
      "conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1+sum+relu",
      "conv2d:mb1ic16ih7iw7oc16kh3kw3sh2sw2ph1pw1g16+clip",
      "conv2d:mb1ic24ih5iw5oc20kh1kw1sh1sw1ph0pw0g1+hardswish",
      "conv2d:mb2ic8ih6iw6oc12kh3kw3sh1sw1ph1pw1g2+sigmoid+mulc",
      "conv2d:mb1ic3ih11iw11oc8kh3kw3sh2sw2ph1pw1g1+hardsigmoid+add+divc",
      "conv2d:mb1ic16ih8iw8oc16kh1kw1sh1sw1ph0pw0g1+sub+tanh+subc+gelu",
      "matmul:mb2m5n7k9+addc+gelu",
      "matmul:mb1m6n10k8+sum+mul+div",
      "ip:mb3ic20oc10+relu",
      "ip:mb3ic20oc10+mulc+sum+hardswish",
      // YOLO's LeakyRelu after a conv and a ConvTranspose (the deconv once ran without its chain).
      "conv2d:mb1ic8ih6iw6oc8kh3kw3sh1sw1ph1pw1g1+leakyrelu+sum",
      "deconv:mb1ic8ih5iw5oc8kh2kw2sh2sw2ph0pw0g1+leakyrelu",
  };
  return kKeys;
}

int CheckFused(const std::string& dtype) {
  int ran = 0;
  for (const auto& key : FusedProblems()) {
    const Problem p = Problem::Parse(key);
    for (const Candidate& c : Cpu().Candidates(p, {dtype})) {
      SCOPED_TRACE(key + " " + c.Layout() + " " + dtype);
      Prepared pr = Cpu().Prepare(p, c);
      EXPECT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
      if (pr.status != Prepared::Status::kOk) continue;
      Kernel& k = *pr.kernel;
      // A full-size binary operand is bound in dst's layout, as the runtime binds it (oneDNN 2.6's
      // gemm convolution in nhwc applied a plain one in the wrong order): every candidate must match.
      EXPECT_EQ(k.Check(), "") << k.Impl();
      EXPECT_GT(k.RunUs(), 0.0);
      // A sum post-op accumulates into dst on every run: a check after timing still starts from the
      // residual.
      EXPECT_EQ(k.Check(), "") << k.Impl();
      ++ran;
    }
  }
  return ran;
}

TEST(OnednnCpu, FusedPostOpChainsMatchTheReferenceInEveryLayout) {
  // 8 convolutions and 1 deconvolution x 5 candidates (4 layouts, any) + 3 mixed pairs of the
  // 3-channel one, 4 matmul / ip.
  EXPECT_EQ(CheckFused("f32"), 52);
}

TEST(OnednnCpu, FusedPostOpChainsBf16MatchTheReference) {
  if (!Cpu().Info().properties.at("bf16").get<bool>())
    GTEST_SKIP() << "this CPU's ISA (" << Cpu().Info().properties.at("isa") << ") has no native bf16";
  EXPECT_GE(CheckFused("bf16"), 40);
}

// The check sees the chain: the fused kernel's output is not the anchor's, and a wrong element fails.
TEST(OnednnCpu, FusedCheckCatchesAWrongResultAndTheChainChangesTheOutput) {
  for (const char* key : {"conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1+sum+relu", "matmul:mb2m5n7k9+addc+gelu",
                          "ip:mb3ic20oc10+mulc+sum+hardswish"}) {
    SCOPED_TRACE(key);
    const Problem p = Problem::Parse(key);
    RefTensors fused = MakeInputs(p), plain = MakeInputs(p.WithPostOps({}));
    ComputeReference(p, fused);
    ComputeReference(p.WithPostOps({}), plain);
    EXPECT_NE(CompareOutputs(fused.dst.data(), plain.dst.data(), static_cast<int64_t>(fused.dst.size()), 1e-3, 1e-3), "");
    Prepared pr = Cpu().Prepare(p, Cpu().Candidates(p, {"f32"}).front());
    ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
    ASSERT_EQ(pr.kernel->Check(), "");
    pr.kernel->InjectFaultForTest();
    EXPECT_NE(pr.kernel->Check().find("1 of "), std::string::npos);
  }
}

// The warm cache mode writes a kernel's input activations back after evicting the private caches:
// the sources, a binary operand and a sum's residual (dst), never the weights; and the kernel still
// computes the right result after it.
// ... and its weights are the constants: the warm mode flushes those from every cache level. A batched
// matmul's B is an activation (one per batch; import folds a shared weight's batch into m).
TEST(OnednnCpu, InputsAreTheActivationsAKernelReadsNotItsWeights) {
  const struct {
    const char* key;
    size_t buffers, bytes;
    size_t weight_bytes;  // at least: the weights' logical size (a blocked layout may pad them)
  } kCases[] = {
      {"conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1", 1, 16 * 8 * 8 * 4, 16 * 16 * 9 * 4},  // src
      {"conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1+sum+relu", 2, 2 * 16 * 8 * 8 * 4, 16 * 16 * 9 * 4},  // + residual
      {"matmul:mb1m5n7k9", 1, 5 * 9 * 4, 9 * 7 * 4},  // B shared: a weight
      {"matmul:mb2m5n7k9", 2, 2 * 5 * 9 * 4 + 2 * 9 * 7 * 4, 0},  // a B per batch: attention's K or V
      {"binary:add:mb1c5h4w6", 2, 2 * 5 * 4 * 6 * 4, 0},
  };
  PrivateCacheFlusher flusher(256 << 10);
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.key);
    const Problem p = Problem::Parse(c.key);
    Prepared pr = Cpu().Prepare(p, Cpu().Candidates(p, {"f32"}).front());
    ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
    const auto in = pr.kernel->Inputs();
    size_t bytes = 0;
    for (const auto& b : in) bytes += b.second;
    EXPECT_EQ(in.size(), c.buffers);
    EXPECT_EQ(bytes, c.bytes);
    const auto weights = pr.kernel->Weights();
    size_t weight_bytes = 0;
    for (const auto& w : weights) {
      weight_bytes += w.second;
      for (const auto& i : in) EXPECT_NE(w.first, i.first) << "a buffer is both an input and a weight";
    }
    EXPECT_GE(weight_bytes, c.weight_bytes);
    EXPECT_LT(weight_bytes, 2 * c.weight_bytes + 1024);
    EXPECT_EQ(weights.empty(), c.weight_bytes == 0);
    flusher.Evict(in, weights);  // flushed and written back, never changed: the kernel still checks
    EXPECT_EQ(pr.kernel->Check(), "");
  }
}

TEST(OnednnCpu, FusedInt8IsUnsupportedWithTheReason) {
  const Problem p = Problem::Parse("conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1+relu");
  Prepared pr = Cpu().Prepare(p, {"nhwc", "nhwc", "int8"});
  EXPECT_EQ(pr.status, Prepared::Status::kUnsupported);
  EXPECT_NE(pr.reason.find("int8"), std::string::npos) << pr.reason;
}

TEST(OnednnCpu, InfoDescribesThisMachine) {
  const UnitInfo& info = Cpu().Info();
  EXPECT_EQ(info.name, "cpu");
  EXPECT_EQ(info.kind, "cpu");
  EXPECT_TRUE(Starts(info.driver, "oneDNN 2.")) << info.driver;
  EXPECT_GT(info.compute_units, 0);
  EXPECT_GT(info.global_mem, 0);
  EXPECT_FALSE(info.device_name.empty());
  const auto& pr = info.properties;
  EXPECT_EQ(pr.at("isa"), onednn::IsaName(dnnl::get_effective_cpu_isa()));
  EXPECT_GE(pr.at("threads").get<int64_t>(), pr.at("cores").get<int64_t>());
  EXPECT_GT(pr.at("caches").at("l1d").get<int64_t>(), 0);
  EXPECT_GT(pr.at("caches").at("l2").get<int64_t>(), pr.at("caches").at("l1d").get<int64_t>());
  EXPECT_EQ(pr.at("onednn").at("version"), info.driver.substr(7));
  EXPECT_TRUE(pr.at("bf16").is_boolean());
  EXPECT_FALSE(pr.at("os").get<std::string>().empty());
  EXPECT_EQ(Cpu().Layouts(), (std::vector<std::string>{"nchw", "nhwc", "nChw8c", "nChw16c"}));
}

TEST(OnednnCpu, CandidatesCoverLayoutsMixedPairsAndEveryDtype) {
  auto names = [](const std::vector<Candidate>& cs) {
    std::vector<std::string> v;
    for (const auto& c : cs) v.push_back(c.Layout() + "/" + c.dtype);
    return v;
  };
  const Problem first = Problem::Parse("conv2d:mb1ic3ih224iw224oc32kh3kw3sh2sw2ph1pw1g1");
  EXPECT_EQ(names(Cpu().Candidates(first, {"f32"})),
            (std::vector<std::string>{"nchw/f32", "nhwc/f32", "nChw8c/f32", "nChw16c/f32", "nchw>nhwc/f32",
                                      "nchw>nChw8c/f32", "nchw>nChw16c/f32", "any/f32"}));
  const Problem wide = Problem::Parse("conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1");
  EXPECT_EQ(Cpu().Candidates(wide, {"f32", "bf16", "int8"}).size(), 15u);  // no mixed pairs
  EXPECT_EQ(names(Cpu().Candidates(Problem::Parse("matmul:mb1m8n8k8"), {"f32", "f16"})),
            (std::vector<std::string>{"plain/f32", "plain/f16"}));
}

TEST(OnednnCpu, EveryOpEveryLayoutF32MatchesTheReference) {
  EXPECT_GT(CheckEveryCandidate("f32", /*require_ok=*/true), 80);
}

TEST(OnednnCpu, EveryOpEveryLayoutBf16MatchesTheReference) {
  if (!Cpu().Info().properties.at("bf16").get<bool>())
    GTEST_SKIP() << "this CPU's ISA (" << Cpu().Info().properties.at("isa") << ") has no native bf16";
  EXPECT_GT(CheckEveryCandidate("bf16", /*require_ok=*/true), 80);
}

TEST(OnednnCpu, Int8KernelsMatchTheReferenceOrSayWhyNot) {
  if (!Cpu().Info().properties.at("int8").get<bool>())
    GTEST_SKIP() << "this CPU's ISA (" << Cpu().Info().properties.at("isa") << ") has no int8 kernels";
  CheckEveryCandidate("int8", /*require_ok=*/false);
  // The int8 workhorses must exist.
  for (const char* key : {"conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1", "matmul:mb2m5n7k9", "ip:mb3ic20oc10"}) {
    const Problem p = Problem::Parse(key);
    const Candidate c = p.IsSpatial() ? Candidate{"nhwc", "nhwc", "int8"} : Candidate{"plain", "plain", "int8"};
    Prepared pr = Cpu().Prepare(p, c);
    ASSERT_EQ(pr.status, Prepared::Status::kOk) << key << ": " << pr.reason;
    EXPECT_EQ(pr.kernel->Check(), "") << key;
  }
}

// The injected fault is the smallest error each check claims to catch (just over twice its tolerance;
// in int8 2 floor(atol) + 1 quantisation steps), in every dtype this CPU runs.
TEST(OnednnCpu, EveryOpFamilyCheckCatchesAWrongResult) {
  const bool bf16 = Cpu().Info().properties.at("bf16").get<bool>();
  for (const char* key : {"conv2d:mb1ic16ih7iw7oc16kh3kw3sh2sw2ph1pw1g16", "matmul:mb2m5n7k9", "ip:mb3ic20oc10",
                          "pool:avg:mb1ic5ih8iw8kh3kw3sh2sw2ph1pw1", "eltwise:gelu:mb1c5h4w6",
                          "eltwise:relu:mb1c5h4w6", "eltwise:hardsigmoid:mb1c5h4w6",
                          "binary:mul:mb1c20h3w5", "softmax:mb1c10h3w4", "bnorm:mb2c20h3w3", "lnorm:mb2t3c20",
                          "concat:mb1c24h5w3n3", "resample:linear:mb1c5ih4iw3oh8ow6", "transpose:p0231:mb2c5h4w3",
                          "slice:mb1c20h6w5oc10oh6ow5", "pad:mb1c5h4w6pt1pb2pl0pr3", "reduce:mean:mb1c20h5w3oc20oh1ow1",
                          "deconv:mb1ic16ih5iw5oc8kh4kw4sh2sw2ph1pw1g1", "prelu:mb1c20h3w5",
                          "eltwise:leakyrelu:mb1c5h4w6"}) {
    for (const char* dtype : {"f32", "bf16", "int8"}) {
      SCOPED_TRACE(std::string(key) + " " + dtype);
      if (std::string(dtype) == "bf16" && !bf16) continue;
      const Problem p = Problem::Parse(key);
      Prepared pr = Cpu().Prepare(p, Cpu().Candidates(p, {dtype}).front());
      if (pr.status == Prepared::Status::kUnsupported && std::string(dtype) == "int8") continue;
      ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
      ASSERT_EQ(pr.kernel->Check(), "");
      pr.kernel->InjectFaultForTest();
      const std::string msg = pr.kernel->Check();
      EXPECT_NE(msg.find("1 of "), std::string::npos) << msg;
      EXPECT_NE(msg.find("elements differ; first at index"), std::string::npos) << msg;
    }
  }
}

// int8 eltwise has an output scale and an exact check: hardsigmoid's results are not just 0 and 1
// (which a kernel writing zeros would half match within one step), and one quantisation step off in
// one element fails.
TEST(OnednnCpu, Int8EltwiseCheckCatchesOneQuantisationStep) {
  if (!Cpu().Info().properties.at("int8").get<bool>())
    GTEST_SKIP() << "this CPU's ISA (" << Cpu().Info().properties.at("isa") << ") has no int8 kernels";
  for (const char* key : {"eltwise:hardsigmoid:mb1c16h4w6", "eltwise:relu:mb1c16h4w6"}) {
    for (const char* layout : {"nchw", "nhwc", "nChw16c"}) {
      SCOPED_TRACE(std::string(key) + " " + layout);
      const Problem p = Problem::Parse(key);
      Prepared pr = Cpu().Prepare(p, {layout, layout, "int8"});
      ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
      ASSERT_EQ(pr.kernel->Check(), "") << pr.kernel->Impl();
      pr.kernel->InjectFaultForTest();
      const std::string msg = pr.kernel->Check();
      EXPECT_EQ(msg.rfind("1 of 384 elements differ; first at index 192: ", 0), 0u) << msg;
      EXPECT_NE(msg.find("(|diff| 1 > tol 0.5)"), std::string::npos) << msg;
    }
  }
}

TEST(OnednnCpu, BlockedLayoutOnThreeChannelsNamesItsImplementation) {
  const Problem p = Problem::Parse("conv2d:mb1ic3ih16iw16oc16kh3kw3sh1sw1ph1pw1g1");
  for (const char* layout : {"nChw8c", "nChw16c"}) {
    Prepared pr = Cpu().Prepare(p, {layout, layout, "f32"});
    ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
    const std::string impl = pr.kernel->Impl();
    EXPECT_FALSE(impl.empty());
    EXPECT_EQ(pr.kernel->IsReference(), Starts(impl, "ref")) << impl;
    EXPECT_EQ(pr.kernel->Check(), "");
  }
  // oneDNN's own choice for a first convolution writes a real layout, and records the source it
  // reads: a 3-channel source is never blocked, so a blocked destination comes as `nchw>nChw..c`.
  Prepared any = Cpu().Prepare(p, {"any", "any", "f32"});
  ASSERT_EQ(any.status, Prepared::Status::kOk) << any.reason;
  const std::string chosen = any.kernel->ChosenLayout();
  ASSERT_FALSE(chosen.empty());
  const auto arrow = chosen.find('>');
  const std::string src = chosen.substr(0, arrow);
  const std::string dst = arrow == std::string::npos ? chosen : chosen.substr(arrow + 1);
  if (dst == "nChw8c" || dst == "nChw16c") {
    EXPECT_EQ(src, "nchw") << chosen;
  }
  if (arrow != std::string::npos) {
    EXPECT_NE(src, dst) << chosen << ": a same-layout choice is named once";
  }
  EXPECT_EQ(chosen.find('>', arrow == std::string::npos ? 0 : arrow + 1), std::string::npos) << chosen;
}

// Choose() asks oneDNN's dispatcher alone (what the selector checks an unmeasured state against): it
// names the implementation Prepare() builds, and flags the same reference kernels, for every op family
// and candidate; where Prepare builds nothing, it names nothing (or, for a reference kernel too slow
// to time, that kernel).
TEST(OnednnCpu, ChooseNamesTheImplementationPrepareBuilds) {
  std::vector<std::string> keys = SmallProblems();
  keys.push_back("conv2d:mb1ic3ih64iw64oc16kh3kw3sh2sw2ph1pw1g1+clip");    // a stem conv with its chain
  keys.push_back("conv2d:mb1ic16ih16iw16oc16kh3kw3sh1sw1ph1pw1g1+sum+relu");
  keys.push_back("conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1");       // int8 nchw: too slow to time
  int named = 0, references = 0;
  for (const auto& key : keys) {
    const Problem p = Problem::Parse(key);
    const bool plain_glue = p.op() == "transpose" || p.op() == "slice" || p.op() == "pad" || p.op() == "reduce";
    for (const auto& c : Cpu().Candidates(p, {"f32", "int8"})) {
      SCOPED_TRACE(key + " " + c.Layout() + " " + c.dtype);
      const std::optional<Implementation> chosen = Cpu().Choose(p, c);
      const Prepared pr = Cpu().Prepare(p, c);
      if (plain_glue) {  // one layout, its kernel fixed by the data: not asked
        EXPECT_FALSE(chosen);
        continue;
      }
      if (pr.status == Prepared::Status::kOk) {
        ASSERT_TRUE(chosen);
        EXPECT_EQ(chosen->name, pr.kernel->Impl());
        EXPECT_EQ(chosen->reference, pr.kernel->IsReference());
        ++named;
        references += chosen->reference;
      } else if (!pr.reference_impl.empty()) {
        ASSERT_TRUE(chosen) << pr.reason;
        EXPECT_EQ(chosen->name, pr.reference_impl);
        EXPECT_TRUE(chosen->reference);
        ++references;
      } else {
        EXPECT_FALSE(chosen) << chosen->name << " for: " << pr.reason;
      }
    }
  }
  EXPECT_GT(named, 100);
  EXPECT_GT(references, 0) << "no candidate fell to a reference kernel: the flag went untested";
}

// The selector's question (MakeReferenceCheck): refused exactly where the kernel oneDNN would build is
// its reference loop, with that kernel named; other units are not asked.
TEST(OnednnCpu, ReferenceCheckRefusesWhereOneDnnRunsItsReferenceLoop) {
  const RefuseCheck check = MakeReferenceCheck();
  int refused = 0;
  for (const char* key : {"conv2d:mb1ic3ih64iw64oc16kh3kw3sh2sw2ph1pw1g1+clip", "binary:mul:mb1c64h14w14bc1",
                          "conv2d:mb1ic16ih16iw16oc16kh3kw3sh1sw1ph1pw1g1+sum+relu"}) {
    const Problem p = Problem::Parse(key);
    for (const auto& c : Cpu().Candidates(p, {"f32"})) {
      SCOPED_TRACE(std::string(key) + " " + c.Layout());
      EXPECT_EQ(Candidate::FromLayout(c.Layout(), c.dtype), c);  // the name the check is asked with
      const std::optional<std::string> why = check(key, "cpu", c.Layout(), "f32");
      const Prepared pr = Cpu().Prepare(p, c);
      const bool reference = pr.status == Prepared::Status::kOk ? pr.kernel->IsReference() : !pr.reference_impl.empty();
      EXPECT_EQ(why.has_value(), reference) << why.value_or("");
      if (why) {
        const std::string impl = pr.kernel ? pr.kernel->Impl() : pr.reference_impl;
        EXPECT_EQ(*why, "oneDNN would run its reference kernel " + impl + " here");
        ++refused;
      }
      EXPECT_FALSE(check(key, "ocl:0:0", c.Layout(), "f32"));
    }
  }
  // The per-channel Mul in nChw8c is oneDNN 2.6's reference loop (see the test above).
  EXPECT_GT(refused, 0);
  EXPECT_FALSE(check("conv2d:not a key", "cpu", "nchw", "f32"));
}

// The cache state the sweep and validate's drift check time from: one run per kernel, by index; hot
// leaves the caches alone; an unknown mode is refused by name.
TEST(CacheState, GivesEachTimedKernelItsOwnRunStateAndRefusesAnUnknownMode) {
  Prepared a = Cpu().Prepare(Problem::Parse("conv2d:mb1ic16ih8iw8oc16kh3kw3sh1sw1ph1pw1g1"), {"nhwc", "nhwc", "f32"});
  Prepared b = Cpu().Prepare(Problem::Parse("eltwise:relu:mb1c5h4w6"), {"nchw", "nchw", "f32"});
  ASSERT_EQ(a.status, Prepared::Status::kOk) << a.reason;
  ASSERT_EQ(b.status, Prepared::Status::kOk) << b.reason;
  const std::vector<const Kernel*> kernels = {a.kernel.get(), b.kernel.get()};
  CacheState hot("hot", Cpu());
  EXPECT_FALSE(hot.BeforeRun(kernels));
  for (const char* mode : {"warm", "cold"}) {
    CacheState state(mode, Cpu());
    EXPECT_EQ(state.mode(), mode);
    const auto before = state.BeforeRun(kernels);
    ASSERT_TRUE(before) << mode;
    before(0);
    before(1);
    if (std::string(mode) == "warm") {
      EXPECT_THROW(before(2), std::out_of_range);  // no third kernel
    }
    // The runs leave the kernels' inputs as they were: each still matches its reference.
    EXPECT_EQ(a.kernel->Check(), "") << mode;
    EXPECT_EQ(b.kernel->Check(), "") << mode;
  }
  try {
    CacheState tepid("tepid", Cpu());
    FAIL() << "an unknown mode was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "cache mode 'tepid' (known: hot, warm, cold)");
  }
}

// A squeeze-excitation Mul ([1,C,H,W] by a run-time [1,C,1,1] scale) is measured as the runtime runs
// it: the scale in src's layout. oneDNN 2.6 has no jit binary with a broadcast operand in nChw8c and
// runs its reference loop there, which must be flagged (never recommended); the other layouts have a
// jit kernel whose result matches the reference.
TEST(OnednnCpu, PerChannelBinaryRunsAsTheRuntimeRunsItAndNChw8cIsReference) {
  for (const char* key : {"binary:mul:mb1c64h14w14bc1", "binary:mul:mb1c24h7w9bc1"}) {
    const Problem p = Problem::Parse(key);
    for (const char* layout : {"nchw", "nhwc", "nChw8c", "nChw16c"}) {
      SCOPED_TRACE(std::string(key) + " " + layout);
      Prepared pr = Cpu().Prepare(p, {layout, layout, "f32"});
      ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
      const std::string impl = pr.kernel->Impl();
      EXPECT_EQ(pr.kernel->Check(), "") << impl;
      EXPECT_EQ(pr.kernel->IsReference(), Starts(impl, "ref")) << impl;
      if (std::string(layout) == "nChw8c")
        EXPECT_TRUE(pr.kernel->IsReference()) << impl;
      else
        EXPECT_FALSE(pr.kernel->IsReference()) << impl;
      // The check catches a wrong broadcast (one element moved by just over twice the tolerance).
      pr.kernel->InjectFaultForTest();
      EXPECT_NE(pr.kernel->Check(), "") << impl;
    }
  }
}

TEST(OnednnCpu, LargeProblemOnAReferenceKernelIsStoredAsUnsupported) {
  // A 0.23 GFLOP convolution in int8 with plain nchw: oneDNN 2.6 has only ref_int8 for it on x86.
  const Problem p = Problem::Parse("conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1");
  Prepared pr = Cpu().Prepare(p, {"nchw", "nchw", "int8"});
  if (pr.status == Prepared::Status::kOk) {
    EXPECT_FALSE(pr.kernel->IsReference()) << pr.kernel->Impl();
    GTEST_SKIP() << "this CPU has a JIT kernel for it: " << pr.kernel->Impl();
  }
  ASSERT_EQ(pr.status, Prepared::Status::kUnsupported);
  EXPECT_TRUE(Starts(pr.reason, "oneDNN 2.")) << pr.reason;
  EXPECT_NE(pr.reason.find("has only its reference kernel ref"), std::string::npos) << pr.reason;
  EXPECT_NE(pr.reason.find("0.231 GFLOP at reference speed is too slow to time (limit 0.05 GFLOP)"),
            std::string::npos)
      << pr.reason;
  // It names the kernel, so the sweep flags the row as a reference one (the selector then excludes a
  // fused chain there even without its anchor's own row).
  EXPECT_TRUE(Starts(pr.reference_impl, "ref")) << pr.reference_impl;
  // A 3-channel first convolution in a blocked layout (YOLO's, 0.15 GFLOP): the same.
  Prepared first = Cpu().Prepare(Problem::Parse("conv2d:mb1ic3ih416iw416oc16kh3kw3sh1sw1ph1pw1g1+leakyrelu"),
                                 {"nChw8c", "nChw8c", "f32"});
  if (first.status == Prepared::Status::kUnsupported) {
    EXPECT_TRUE(Starts(first.reference_impl, "ref")) << first.reason;
  } else if (first.status == Prepared::Status::kOk) {
    EXPECT_FALSE(first.kernel->IsReference());
  }
  // Impossible candidates name no kernel.
  const Prepared impossible = Cpu().Prepare(p, {"nc4hw4", "nc4hw4", "f32"});
  EXPECT_EQ(impossible.status, Prepared::Status::kUnsupported);
  EXPECT_TRUE(impossible.reference_impl.empty()) << impossible.reference_impl;
}

TEST(OnednnCpu, ImpossibleCandidatesAreUnsupportedWithTheReason) {
  const Problem conv = Problem::Parse("conv2d:mb1ic8ih8iw8oc8kh3kw3sh1sw1ph1pw1g1");
  Prepared bad_layout = Cpu().Prepare(conv, {"nc4hw4", "nc4hw4", "f32"});
  EXPECT_EQ(bad_layout.status, Prepared::Status::kUnsupported);
  EXPECT_EQ(bad_layout.reason, "layout 'nc4hw4' is not a cpu layout of conv2d (nchw, nhwc, nChw8c, nChw16c, any)");

  Prepared f16 = Cpu().Prepare(conv, {"nchw", "nchw", "f16"});
  EXPECT_EQ(f16.status, Prepared::Status::kUnsupported);
  EXPECT_TRUE(Starts(f16.reason, "f16 has no CPU kernels in oneDNN 2.")) << f16.reason;

  Prepared mixed_pool = Cpu().Prepare(Problem::Parse("pool:max:mb1ic8ih8iw8kh2kw2sh2sw2ph0pw0"), {"nchw", "nhwc", "f32"});
  EXPECT_EQ(mixed_pool.status, Prepared::Status::kUnsupported);
  EXPECT_EQ(mixed_pool.reason, "pool: mixed (src, dst) layouts are measured for conv2d only");

  Prepared plain_only = Cpu().Prepare(Problem::Parse("lnorm:mb1t4c8"), {"nhwc", "nhwc", "f32"});
  EXPECT_EQ(plain_only.status, Prepared::Status::kUnsupported);
  EXPECT_EQ(plain_only.reason, "lnorm has the single cpu layout 'plain', not 'nhwc'");
}

TEST(OnednnCpu, ReordersBetweenEveryPairOfLayoutsRoundTrip) {
  const Shape4 shape{2, 5, 3, 7};
  for (const char* dtype : {"f32", "bf16", "int8"}) {
    for (const auto& from : Cpu().Layouts())
      for (const auto& to : Cpu().Layouts()) {
        SCOPED_TRACE(from + ">" + to + " " + dtype);
        Prepared pr = Cpu().PrepareReorder(shape, from, to, dtype);
        if (pr.status == Prepared::Status::kUnsupported && std::string(dtype) != "f32") {
          EXPECT_FALSE(pr.reason.empty());
          continue;
        }
        ASSERT_EQ(pr.status, Prepared::Status::kOk) << pr.reason;
        EXPECT_FALSE(pr.kernel->Impl().empty());
        EXPECT_EQ(pr.kernel->Check(), "");
        EXPECT_GT(pr.kernel->RunUs(), 0.0);
        pr.kernel->InjectFaultForTest();
        EXPECT_NE(pr.kernel->Check(), "");
      }
  }
  EXPECT_EQ(Cpu().PrepareReorder(shape, "nchw", "plain", "f32").reason,
            "layout 'plain' is not a cpu layout (nchw, nhwc, nChw8c, nChw16c)");
}

}  // namespace
}  // namespace layoutdb::microbench
