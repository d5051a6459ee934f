// ONNX's own backend test data (libonnx-testdata: node/, pytorch-converted/, pytorch-operator/), run
// through the runtime in every layout of every unit: each test whose operators the runtime supports
// must match the expected outputs within |got - want| <= 1e-4 + 1e-3 * |want| (f32; integers exact).
// Weights in these tests are often graph inputs: they are given like any input. A test the runtime
// cannot load (an operator neither a unit nor the host implements, an element type it does not
// hold) counts as unsupported, with its reason; anything that loads and then disagrees fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"
#include "runtime/backend.h"
#include "selector/graph.h"
#include "tests/runtime/plans.h"
#include "tests/sample.h"

namespace fs = std::filesystem;

namespace layoutdb {
namespace {

constexpr const char* kData = "/usr/share/libonnx-testdata/data";
constexpr double kAtol = 1e-4, kRtol = 1e-3;

struct Counts {
  int passed = 0, failed = 0, unsupported = 0;
  std::vector<std::string> failures;
  std::map<std::string, int> reasons;  // unsupported, by the reason's first words
  std::map<std::string, std::string> example;  // reason -> one test that gave it
};

using testing::UniformPlan;

std::string ReasonKey(const std::string& what) {
  // "…: node 3 (Foo 'bar'): the runtime cannot execute this operator (…)" -> "cannot execute Foo"
  const auto op = what.find("node ");
  const auto paren = what.find('(', op == std::string::npos ? 0 : op);
  if (what.find("cannot execute") != std::string::npos && paren != std::string::npos) {
    const auto sp = what.find(' ', paren);
    return "cannot execute " + what.substr(paren + 1, sp - paren - 1);
  }
  if (what.find("element type") != std::string::npos) return "element type";
  if (what.find("computes f32") != std::string::npos) return "dtype (f16/f64)";
  return what.substr(what.rfind(": ") == std::string::npos ? 0 : what.rfind(": ") + 2, 60);
}

bool Close(const Tensor& got, const Tensor& want, std::string* why) {
  if (got.shape != want.shape) {
    *why = fmt::format("shape [{}] vs expected [{}]", fmt::join(got.shape, ","), fmt::join(want.shape, ","));
    return false;
  }
  if (want.IsFloat() != got.IsFloat()) {
    *why = fmt::format("dtype {} vs expected {}", got.dtype, want.dtype);
    return false;
  }
  for (size_t i = 0; i < want.f32.size(); ++i) {
    const float a = got.f32[i], b = want.f32[i];
    if (std::isnan(b) && std::isnan(a)) continue;
    if (!(std::fabs(a - b) <= kAtol + kRtol * std::fabs(b))) {
      *why = fmt::format("element {}: {} vs expected {}", i, a, b);
      return false;
    }
  }
  for (size_t i = 0; i < want.i64.size(); ++i)
    if (got.i64[i] != want.i64[i]) {
      *why = fmt::format("element {}: {} vs expected {}", i, got.i64[i], want.i64[i]);
      return false;
    }
  return true;
}

// Runs one test folder in one (unit, layout); adds to `c`.
void RunOne(const fs::path& dir, const std::string& unit, const std::string& layout, Counts& c) {
  const std::string model = (dir / "model.onnx").string();
  const std::string label = fmt::format("{} [{}/{}]", dir.filename().string(), unit, layout);
  std::unique_ptr<Runtime> rt;
  std::vector<Tensor> inputs;
  selector::Graph g;
  try {
    g = selector::ImportOnnx(model, {});
    rt = std::make_unique<Runtime>(Runtime::Load(model, UniformPlan(g, unit, layout), {}));
  } catch (const std::exception& e) {
    ++c.unsupported;
    ++c.reasons[ReasonKey(e.what())];
    c.example[ReasonKey(e.what())] = dir.filename().string();
    return;
  }
  // Every operator the runtime executes on the unit (not on the host) has a row in the operator
  // table, which the backends dispatch on.
  const std::set<int> host(rt->HostNodes().begin(), rt->HostNodes().end());
  for (const auto& n : g.nodes)
    if (!n.is_constant && !host.count(n.index) && !selector::FindOp(n.op_type, n.domain)) {
      ++c.failed;
      c.failures.push_back(fmt::format("{}: node {} ({}) runs on {} but has no operator table row", label,
                                       n.index, n.op_type, unit));
      return;
    }
  for (const auto& set : fs::directory_iterator(dir)) {
    if (!set.is_directory() || set.path().filename().string().rfind("test_data_set_", 0) != 0) continue;
    std::vector<Tensor> ins, want;
    const auto specs = rt->InputSpecs();
    try {
      for (size_t k = 0; fs::exists(set.path() / fmt::format("input_{}.pb", k)); ++k)
        ins.push_back(ReadTensorFile((set.path() / fmt::format("input_{}.pb", k)).string()));
      for (size_t k = 0; fs::exists(set.path() / fmt::format("output_{}.pb", k)); ++k)
        want.push_back(ReadTensorFile((set.path() / fmt::format("output_{}.pb", k)).string()));
    } catch (const std::exception& e) {
      ++c.unsupported;
      ++c.reasons[ReasonKey(e.what())];
      return;
    }
    // Test data lists the model's inputs in order; the runtime names them.
    if (ins.size() != specs.size()) {
      ++c.unsupported;
      ++c.reasons["input count differs from the model's non-constant inputs"];
      return;
    }
    for (size_t k = 0; k < ins.size(); ++k) {
      ins[k].name = specs[k].name;
      if (!ins[k].IsFloat()) ins[k].dtype = specs[k].dtype;
    }
    try {
      rt->Run(ins);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      if (what.find("unsupported") != std::string::npos ||
          what.find("not supported") != std::string::npos) {
        ++c.unsupported;
        ++c.reasons[ReasonKey(what)];
        c.example[ReasonKey(what)] = dir.filename().string();
      } else {
        ++c.failed;
        c.failures.push_back(fmt::format("{}: {}", label, what));
      }
      return;
    }
    const auto& got = rt->Outputs();
    if (got.size() < want.size()) {
      ++c.failed;
      c.failures.push_back(fmt::format("{}: {} outputs, expected {}", label, got.size(), want.size()));
      return;
    }
    for (size_t k = 0; k < want.size(); ++k) {
      std::string why;
      if (!Close(got[k], want[k], &why)) {
        ++c.failed;
        c.failures.push_back(fmt::format("{}: output {}: {}", label, k, why));
        return;
      }
    }
  }
  ++c.passed;
}

void RunSuite(const std::string& suite, const std::vector<std::pair<std::string, std::string>>& units) {
  const fs::path root = fs::path(kData) / suite;
  if (!fs::exists(root)) GTEST_SKIP() << "no ONNX backend test data at " << root << " (libonnx-testdata)";
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  // Under the sanitizers every 3rd model (tests/sample.h).
  dirs = testing::Sample(suite + " models", 3).Of(dirs);
  std::map<std::string, Counts> per_unit;
  Counts all;
  for (const auto& [unit, layout] : units) {
    Counts& c = per_unit[unit + "/" + layout];
    for (const auto& d : dirs) RunOne(d, unit, layout, c);
    all.passed += c.passed;
    all.failed += c.failed;
    all.unsupported += c.unsupported;
    all.failures.insert(all.failures.end(), c.failures.begin(), c.failures.end());
    for (const auto& [r, n] : c.reasons) all.reasons[r] += n;
    for (const auto& [r, e] : c.example) all.example[r] = e;
  }
  std::printf("%s: %zu models\n", suite.c_str(), dirs.size());
  for (const auto& [ul, c] : per_unit)
    std::printf("  %-14s passed %4d  failed %3d  unsupported %4d\n", ul.c_str(), c.passed, c.failed,
                c.unsupported);
  std::printf("  %-14s passed %4d  failed %3d  unsupported %4d  (tolerance |d| <= %g + %g |want|)\n",
              "all", all.passed, all.failed, all.unsupported, kAtol, kRtol);
  std::vector<std::pair<int, std::string>> top;
  for (const auto& [r, n] : all.reasons) top.push_back({n, r});
  std::sort(top.rbegin(), top.rend());
  for (size_t k = 0; k < std::min<size_t>(top.size(), 12); ++k)
    std::printf("  unsupported x%d: %s (e.g. %s)\n", top[k].first, top[k].second.c_str(),
                all.example[top[k].second].c_str());
  for (const auto& f : all.failures) ADD_FAILURE() << f;
  EXPECT_GT(all.passed, 0);
}

std::vector<std::pair<std::string, std::string>> CpuLayouts() {
  return {{"cpu", "nchw"}, {"cpu", "nhwc"}, {"cpu", "nChw8c"}, {"cpu", "nChw16c"}, {"cpu", "any"}};
}

std::vector<std::pair<std::string, std::string>> OclLayouts() {
  try {
    runtime::MakeOclBackend("ocl:0:0");
  } catch (const std::exception& e) {
    return {};
  }
  return {{"ocl:0:0", "nchw"}, {"ocl:0:0", "nhwc"}, {"ocl:0:0", "nc4hw4"}};
}

TEST(Conformance, NodeCpu) { RunSuite("node", CpuLayouts()); }
TEST(Conformance, PytorchConvertedCpu) { RunSuite("pytorch-converted", CpuLayouts()); }
TEST(Conformance, PytorchOperatorCpu) { RunSuite("pytorch-operator", CpuLayouts()); }

TEST(Conformance, NodeOpencl) {
  const auto units = OclLayouts();
  if (units.empty()) GTEST_SKIP() << "no OpenCL device found: ocl:0:0 does not exist";
  RunSuite("node", units);
}
TEST(Conformance, PytorchConvertedOpencl) {
  const auto units = OclLayouts();
  if (units.empty()) GTEST_SKIP() << "no OpenCL device found: ocl:0:0 does not exist";
  RunSuite("pytorch-converted", units);
}
TEST(Conformance, PytorchOperatorOpencl) {
  const auto units = OclLayouts();
  if (units.empty()) GTEST_SKIP() << "no OpenCL device found: ocl:0:0 does not exist";
  RunSuite("pytorch-operator", units);
}

}  // namespace
}  // namespace layoutdb
