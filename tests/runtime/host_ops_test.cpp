// Conformance of the host's reference ops (runtime/host_ops.h) against ONNX's backend test data:
// every single-node model of the default domain whose op the host supports and whose tensors the
// runtime holds is run through RunHostOp and compared with the expected outputs.
#include "runtime/host_ops.h"

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"
#include "runtime/tensor_proto.h"

namespace layoutdb::runtime {
namespace {

namespace fs = std::filesystem;

constexpr char kDataDir[] = "/usr/share/libonnx-testdata/data";
// The suites of single-node (or mostly single-node) models; "real" holds whole networks.
const char* const kSuites[] = {"node", "pytorch-operator", "pytorch-converted", "simple"};

struct Counts {
  int passed = 0, failed = 0, unsupported = 0;
  std::map<std::string, int> skipped;          // not host cases, by reason
  std::vector<std::string> skipped_supported;  // cases of supported ops skipped for their dtypes
  std::vector<std::string> failures, unsupported_notes;
};

bool ReadModel(const fs::path& path, onnx::ModelProto* model) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return in && model->ParseFromString(ss.str());
}

int64_t DefaultOpset(const onnx::ModelProto& model) {
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return o.version();
  return 1;
}

std::vector<fs::path> SortedDirs(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind(prefix, 0) == 0)
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Empty when `got` matches `want`; otherwise what differs first.
std::string Compare(const Tensor& got, const Tensor& want) {
  if (got.shape != want.shape || got.dtype != want.dtype) return "shape or dtype differs";
  const int64_t n = want.Elems();
  for (int64_t k = 0; k < n; ++k) {
    bool ok;
    std::string g, w;
    if (want.IsFloat()) {
      const float a = got.f32[k], b = want.f32[k];
      ok = (std::isnan(a) && std::isnan(b)) || a == b ||
           std::fabs(a - b) <= 1e-4f + 1e-3f * std::fabs(b);
      g = std::to_string(a);
      w = std::to_string(b);
    } else {
      ok = got.i64[k] == want.i64[k];
      g = std::to_string(got.i64[k]);
      w = std::to_string(want.i64[k]);
    }
    if (!ok) return "element " + std::to_string(k) + ": got " + g + ", want " + w;
  }
  return "";
}

// Runs one model directory and counts it: passed, failed, unsupported or skipped (not a host case).
void RunCase(const fs::path& dir, Counts* counts) {
  const std::string name = dir.filename().string();
  onnx::ModelProto model;
  if (!ReadModel(dir / "model.onnx", &model)) {
    ++counts->skipped["unreadable model"];
    return;
  }
  if (model.graph().node_size() != 1) {
    ++counts->skipped["several nodes"];
    return;
  }
  const onnx::GraphProto& graph = model.graph();
  const onnx::NodeProto& node = graph.node(0);
  if ((!node.domain().empty() && node.domain() != "ai.onnx") || !HostSupports(node.op_type())) {
    ++counts->skipped["other ops"];
    return;
  }
  const int64_t opset = DefaultOpset(model);
  std::set<std::string> initializer_names;
  std::map<std::string, Tensor> values;
  try {
    for (const auto& init : graph.initializer()) {
      initializer_names.insert(init.name());
      values[init.name()] = FromProto(init, name + " initializer " + init.name());
    }
  } catch (const std::runtime_error&) {  // an initializer of a dtype the runtime does not hold
    ++counts->skipped["dtypes"];
    counts->skipped_supported.push_back(name);
    return;
  }
  // Sequences, optionals and element types the runtime does not hold are not host cases; their
  // files must not even be read as TensorProtos (a SequenceProto parses as one with absurd dims).
  auto holds = [](const onnx::ValueInfoProto& vi) {
    if (!vi.type().has_tensor_type()) return false;
    switch (vi.type().tensor_type().elem_type()) {
      case onnx::TensorProto::FLOAT:
      case onnx::TensorProto::INT64:
      case onnx::TensorProto::INT32:
      case onnx::TensorProto::INT8:
      case onnx::TensorProto::UINT8:
      case onnx::TensorProto::BOOL: return true;
      default: return false;
    }
  };
  std::vector<std::string> input_names, output_names;
  for (const auto& vi : graph.input()) {
    if (initializer_names.count(vi.name())) continue;
    if (!holds(vi)) {
      ++counts->skipped["dtypes"];
      counts->skipped_supported.push_back(name);
      return;
    }
    input_names.push_back(vi.name());
  }
  for (const auto& vi : graph.output()) {
    if (!holds(vi)) {
      ++counts->skipped["dtypes"];
      counts->skipped_supported.push_back(name);
      return;
    }
    output_names.push_back(vi.name());
  }

  const auto sets = SortedDirs(dir, "test_data_set_");
  if (sets.empty()) {
    ++counts->skipped["no data"];
    return;
  }
  std::string failure, unsupported;
  for (const fs::path& set : sets) {
    std::map<std::string, Tensor> inputs = values, expected;
    try {
      for (size_t k = 0; k < input_names.size(); ++k) {
        const fs::path file = set / ("input_" + std::to_string(k) + ".pb");
        if (fs::exists(file)) inputs[input_names[k]] = ReadTensorFile(file.string());
      }
      for (size_t k = 0; k < output_names.size(); ++k)
        expected[output_names[k]] =
            ReadTensorFile((set / ("output_" + std::to_string(k) + ".pb")).string());
    } catch (const std::exception&) {  // data the runtime cannot read
      ++counts->skipped["dtypes"];
      counts->skipped_supported.push_back(name);
      return;
    }
    std::vector<const Tensor*> in_ptrs;
    for (const auto& n : node.input()) {
      if (n.empty()) {
        in_ptrs.push_back(nullptr);
        continue;
      }
      const auto it = inputs.find(n);
      if (it == inputs.end()) {
        ++counts->skipped["no data"];
        return;
      }
      in_ptrs.push_back(&it->second);
    }
    // Outputs the graph exposes get the expected shape and dtype; others are not requested.
    std::vector<std::unique_ptr<Tensor>> outs;
    std::vector<Tensor*> out_ptrs;
    for (const auto& n : node.output()) {
      const auto it = expected.find(n);
      if (n.empty() || it == expected.end()) {
        out_ptrs.push_back(nullptr);
        continue;
      }
      auto t = std::make_unique<Tensor>();
      t->name = n;
      t->shape = it->second.shape;
      t->dtype = it->second.dtype;
      t->Allocate();
      out_ptrs.push_back(t.get());
      outs.push_back(std::move(t));
    }
    try {
      RunHostOp(node, opset, in_ptrs, out_ptrs);
    } catch (const std::exception& e) {
      unsupported = e.what();
      break;
    }
    for (size_t k = 0; k < out_ptrs.size() && failure.empty(); ++k) {
      if (!out_ptrs[k]) continue;
      const std::string diff = Compare(*out_ptrs[k], expected.at(node.output(k)));
      if (!diff.empty())
        failure = set.filename().string() + " output " + node.output(k) + ": " + diff;
    }
    if (!failure.empty()) break;
  }
  if (!unsupported.empty()) {
    ++counts->unsupported;
    counts->unsupported_notes.push_back(name + " (" + unsupported + ")");
  } else if (!failure.empty()) {
    ++counts->failed;
    counts->failures.push_back(name + " [" + node.op_type() + " opset " + std::to_string(opset) +
                               "]: " + failure);
  } else {
    ++counts->passed;
  }
}

TEST(HostOps, OnnxBackendNodeTests) {
  if (!fs::is_directory(fs::path(kDataDir) / "node"))
    GTEST_SKIP() << kDataDir << "/node is missing (install libonnx-testdata)";
  int total_failed = 0;
  for (const char* suite : kSuites) {
    const fs::path dir = fs::path(kDataDir) / suite;
    if (!fs::is_directory(dir)) continue;
    Counts counts;
    for (const fs::path& test : SortedDirs(dir, "test_")) RunCase(test, &counts);
    std::cout << suite << ": " << counts.passed << " passed / " << counts.failed << " failed / "
              << counts.unsupported << " unsupported; not host cases:";
    for (const auto& [why, n] : counts.skipped) std::cout << " " << n << " " << why << ",";
    std::cout << "\n";
    if (!counts.skipped_supported.empty()) {
      std::cout << "  supported ops skipped for dtypes:";
      for (const auto& n : counts.skipped_supported) std::cout << " " << n;
      std::cout << "\n";
    }
    for (const auto& f : counts.failures) std::cout << "  FAILED " << f << "\n";
    for (const auto& u : counts.unsupported_notes) std::cout << "  unsupported " << u << "\n";
    total_failed += counts.failed;
  }
  EXPECT_EQ(total_failed, 0) << "node tests failed (listed above)";
}

// The host rejects what it does not implement with one line naming op and node.
TEST(HostOps, UnsupportedOpIsOneLineError) {
  onnx::NodeProto node;
  node.set_op_type("Einsum");
  node.set_name("e0");
  EXPECT_FALSE(HostSupports("Einsum"));
  try {
    RunHostOp(node, 17, {}, {});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("Einsum 'e0': ", 0), 0u) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

// Outputs left unset by the caller are shaped by the op (load-time constant folding).
TEST(HostOps, ShapesUnsetOutputs) {
  onnx::NodeProto node;
  node.set_op_type("Reshape");
  Tensor x;
  x.dtype = "f32";
  x.shape = {2, 3};
  x.f32 = {1, 2, 3, 4, 5, 6};
  Tensor shape;
  shape.dtype = "i64";
  shape.shape = {2};
  shape.i64 = {3, -1};
  Tensor y;
  RunHostOp(node, 17, {&x, &shape}, {&y});
  EXPECT_EQ(y.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(y.f32, x.f32);
  // A preallocated output whose shape disagrees is an error, not an out-of-bounds write.
  Tensor z;
  z.shape = {4};
  z.Allocate();
  EXPECT_THROW(RunHostOp(node, 17, {&x, &shape}, {&z}), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
// Forms the ONNX 1.12 data does not exercise: attribute forms of older opsets, opset 18 inputs,
// ops without node tests there. Outputs are left unset, so the op shapes them.

using Shape = std::vector<int64_t>;

Tensor F32(Shape shape, std::vector<float> v) {
  Tensor t;
  t.dtype = "f32";
  t.shape = std::move(shape);
  t.f32 = std::move(v);
  return t;
}

Tensor Ints(Shape shape, std::vector<int64_t> v, const std::string& dtype = "i64") {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.i64 = std::move(v);
  return t;
}

// A node of `op` with attributes added by the With* helpers.
struct Node {
  onnx::NodeProto proto;
  explicit Node(const std::string& op) {
    proto.set_op_type(op);
    proto.set_name("n");
  }
  onnx::AttributeProto* Add(const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = proto.add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  }
  Node& Int(const std::string& name, int64_t v) {
    Add(name, onnx::AttributeProto::INT)->set_i(v);
    return *this;
  }
  Node& Float(const std::string& name, float v) {
    Add(name, onnx::AttributeProto::FLOAT)->set_f(v);
    return *this;
  }
  Node& Str(const std::string& name, const std::string& v) {
    Add(name, onnx::AttributeProto::STRING)->set_s(v);
    return *this;
  }
  Node& IntList(const std::string& name, const Shape& v) {
    auto* a = Add(name, onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
    return *this;
  }
  Node& FloatList(const std::string& name, const std::vector<float>& v) {
    auto* a = Add(name, onnx::AttributeProto::FLOATS);
    for (float x : v) a->add_floats(x);
    return *this;
  }
  // Runs with `n_out` unset outputs and returns them.
  std::vector<Tensor> Run(int64_t opset, const std::vector<const Tensor*>& in,
                          int n_out = 1) const {
    std::vector<Tensor> out(n_out);
    std::vector<Tensor*> ptrs;
    for (Tensor& t : out) ptrs.push_back(&t);
    RunHostOp(proto, opset, in, ptrs);
    return out;
  }
  Tensor Run1(int64_t opset, const std::vector<const Tensor*>& in) const {
    return Run(opset, in)[0];
  }
};

void ExpectFloats(const Tensor& t, const Shape& shape, const std::vector<float>& want) {
  EXPECT_EQ(t.dtype, "f32");
  EXPECT_EQ(t.shape, shape);
  ASSERT_EQ(t.f32.size(), want.size());
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(t.f32[k], want[k], 1e-5) << "element " << k;
}

void ExpectInts(const Tensor& t, const Shape& shape, const std::vector<int64_t>& want) {
  EXPECT_EQ(t.shape, shape);
  EXPECT_EQ(t.i64, want);
}

TEST(HostOps, SqueezeUnsqueezeAxesAttributeAndInput) {
  const Tensor x = F32({1, 3, 1, 2}, {1, 2, 3, 4, 5, 6});
  ExpectFloats(Node("Squeeze").IntList("axes", {0, -2}).Run1(11, {&x}), {3, 2}, x.f32);
  ExpectFloats(Node("Squeeze").Run1(13, {&x}), {3, 2}, x.f32);
  const Tensor v = F32({3}, {1, 2, 3});
  ExpectFloats(Node("Unsqueeze").IntList("axes", {0, -1}).Run1(11, {&v}), {1, 3, 1}, v.f32);
  const Tensor axes = Ints({1}, {1});
  ExpectFloats(Node("Unsqueeze").Run1(13, {&v, &axes}), {3, 1}, v.f32);
}

TEST(HostOps, SliceAttributeFormAndNegativeSteps) {
  const Tensor x = F32({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  const Tensor y = Node("Slice")
                       .IntList("starts", {1})
                       .IntList("ends", {1000})
                       .IntList("axes", {1})
                       .Run1(9, {&x});
  ExpectFloats(y, {2, 3}, {1, 2, 3, 5, 6, 7});
  const Tensor v = Ints({5}, {0, 1, 2, 3, 4});
  const Tensor starts = Ints({1}, {-1}), ends = Ints({1}, {INT64_MIN});
  const Tensor axes = Ints({1}, {0}), steps = Ints({1}, {-2});
  ExpectInts(Node("Slice").Run1(13, {&v, &starts, &ends, &axes, &steps}), {3}, {4, 2, 0});
}

TEST(HostOps, SplitAttributeAndNumOutputs) {
  const Tensor x = F32({5}, {0, 1, 2, 3, 4});
  auto parts = Node("Split").IntList("split", {2, 3}).Run(11, {&x}, 2);
  ExpectFloats(parts[0], {2}, {0, 1});
  ExpectFloats(parts[1], {3}, {2, 3, 4});
  parts = Node("Split").Int("num_outputs", 2).Run(18, {&x}, 2);  // uneven: the last is smaller
  ExpectFloats(parts[0], {3}, {0, 1, 2});
  ExpectFloats(parts[1], {2}, {3, 4});
  EXPECT_THROW(Node("Split").Run(13, {&x}, 2), std::runtime_error);  // uneven before opset 18
}

TEST(HostOps, ReduceAxesAttributeAndInput) {
  const Tensor x = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectFloats(Node("ReduceSum").IntList("axes", {1}).Run1(11, {&x}), {2, 1}, {6, 15});
  ExpectFloats(Node("ReduceMean").IntList("axes", {0}).Int("keepdims", 0).Run1(13, {&x}), {3},
               {2.5, 3.5, 4.5});
  const Tensor axes = Ints({1}, {-1});
  ExpectFloats(Node("ReduceMax").Int("keepdims", 0).Run1(18, {&x, &axes}), {2}, {3, 6});
  ExpectFloats(Node("ReduceSum").Int("noop_with_empty_axes", 1).Run1(13, {&x}), {2, 3}, x.f32);
  EXPECT_THROW(Node("ReduceMax").Run1(13, {&x, &axes}), std::runtime_error);  // input from 18
  ExpectFloats(Node("ReduceLogSumExp").Int("keepdims", 0).Run1(18, {&x, &axes}), {2},
               {std::log(std::exp(1.f) + std::exp(2.f) + std::exp(3.f)),
                std::log(std::exp(4.f) + std::exp(5.f) + std::exp(6.f))});
}

TEST(HostOps, PadForms) {
  const Tensor x = F32({1, 3}, {1, 2, 3});
  ExpectFloats(Node("Pad").IntList("pads", {0, 2, 0, 1}).Str("mode", "reflect").Run1(2, {&x}),
               {1, 6}, {3, 2, 1, 2, 3, 2});
  const Tensor crop = Ints({4}, {0, -1, 0, 2});
  ExpectFloats(Node("Pad").Str("mode", "edge").Run1(13, {&x, &crop}), {1, 4}, {2, 3, 3, 3});
  const Tensor pads = Ints({2}, {1, 1}), value = F32({}, {9}), axes = Ints({1}, {-1});
  ExpectFloats(Node("Pad").Run1(18, {&x, &pads, &value, &axes}), {1, 5}, {9, 1, 2, 3, 9});
}

TEST(HostOps, ClipForms) {
  const Tensor x = F32({4}, {-2, 0.5, 1.5, 3});
  ExpectFloats(Node("Clip").Float("min", 0).Float("max", 1).Run1(6, {&x}), {4}, {0, 0.5, 1, 1});
  const Tensor hi = F32({}, {2});
  ExpectFloats(Node("Clip").Run1(13, {&x, nullptr, &hi}), {4}, {-2, 0.5, 1.5, 2});
  const Tensor xi = Ints({3}, {-5, 0, 5}, "i32"), lo = Ints({}, {-1}, "i32");
  ExpectInts(Node("Clip").Run1(13, {&xi, &lo}), {3}, {-1, 0, 5});
}

// Erf (and Gelu's exact form) use a rational approximation rather than a libm call per element: it
// stays within 2e-7 of erf everywhere, the tails included (std::erf in f32: 5e-8).
TEST(HostOps, ErfAndGeluMatchLibmToAFewUlp) {
  std::vector<float> v;
  for (int i = -90000; i <= 90000; ++i) v.push_back(static_cast<float>(i) * 1e-4f);  // [-9, 9]
  const Tensor x = F32({static_cast<int64_t>(v.size())}, v);
  const Tensor erf = Node("Erf").Run1(13, {&x});
  const Tensor gelu = Node("Gelu").Run1(20, {&x});
  ASSERT_EQ(erf.f32.size(), v.size());
  ASSERT_EQ(gelu.f32.size(), v.size());
  double worst_erf = 0, worst_gelu = 0;
  for (size_t k = 0; k < v.size(); ++k) {
    const double x64 = v[k];
    worst_erf = std::max(worst_erf, std::fabs(erf.f32[k] - std::erf(x64)));
    const double g = 0.5 * x64 * (1 + std::erf(x64 / std::sqrt(2.0)));
    worst_gelu = std::max(worst_gelu, std::fabs(gelu.f32[k] - g) / std::max(1.0, std::fabs(g)));
  }
  EXPECT_LE(worst_erf, 2e-7);
  EXPECT_LE(worst_gelu, 4e-7);  // relative to max(1, |gelu|); std::erf in f32: 1.1e-7
  EXPECT_EQ(erf.f32.front(), -1.0f);
  EXPECT_EQ(erf.f32.back(), 1.0f);
  EXPECT_EQ(erf.f32[90000], 0.0f);  // erf(0)
}

TEST(HostOps, SoftmaxCoercionBeforeOpset13) {
  const Tensor x = F32({1, 2, 2}, {0, 1, 2, 3});
  const float s = 1 + std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  // Opset 11, axis 1: one softmax over the 4 trailing elements.
  ExpectFloats(Node("Softmax").Run1(11, {&x}), {1, 2, 2},
               {1 / s, std::exp(1.f) / s, std::exp(2.f) / s, std::exp(3.f) / s});
  // Opset 13: along the last axis only.
  const float a = 1 / (1 + std::exp(1.f)), b = 1 - a;
  ExpectFloats(Node("Softmax").Run1(13, {&x}), {1, 2, 2}, {a, b, a, b});
  ExpectFloats(Node("LogSoftmax").Run1(13, {&x}), {1, 2, 2},
               {std::log(a), std::log(b), std::log(a), std::log(b)});
}

TEST(HostOps, ResizeOpset10AndUpsample) {
  const Tensor x = F32({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor scales = F32({4}, {1, 1, 2, 2});
  const std::vector<float> nearest = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  ExpectFloats(Node("Resize").Run1(10, {&x, &scales}), {1, 1, 4, 4}, nearest);
  ExpectFloats(Node("Upsample").FloatList("scales", {1, 1, 2, 2}).Run1(7, {&x}), {1, 1, 4, 4},
               nearest);
  // Linear with asymmetric coordinates, clamped at the edge.
  const Tensor row = F32({1, 1, 1, 2}, {1, 2});
  const Tensor s2 = F32({4}, {1, 1, 1, 2});
  ExpectFloats(Node("Upsample").Str("mode", "linear").Run1(9, {&row, &s2}), {1, 1, 1, 4},
               {1, 1.5, 2, 2});
  EXPECT_THROW(Node("Resize").Str("mode", "cubic").Run1(13, {&x, nullptr, &scales}),
               std::runtime_error);
}

TEST(HostOps, GeluMishLpNormalization) {
  const Tensor x = F32({3}, {-1, 0, 1});
  ExpectFloats(Node("Gelu").Run1(20, {&x}), {3}, {-0.15865525f, 0, 0.84134475f});
  ExpectFloats(Node("Gelu").Str("approximate", "tanh").Run1(20, {&x}), {3},
               {-0.15880801f, 0, 0.84119199f});
  ExpectFloats(Node("Mish").Run1(18, {&x}), {3}, {-0.30340147f, 0, 0.86509839f});
  const Tensor v = F32({1, 2}, {3, 4});
  ExpectFloats(Node("LpNormalization").Run1(1, {&v}), {1, 2}, {0.6f, 0.8f});
  ExpectFloats(Node("LpNormalization").Int("p", 1).Run1(1, {&v}), {1, 2}, {3 / 7.f, 4 / 7.f});
}

TEST(HostOps, CastTruncatesAndWraps) {
  const Tensor x = F32({3}, {-1.7f, 200.0f, 2.9f});
  const Tensor i8 = Node("Cast").Int("to", onnx::TensorProto::INT8).Run1(13, {&x});
  EXPECT_EQ(i8.dtype, "i8");
  ExpectInts(i8, {3}, {-1, -56, 2});
  const Tensor b = F32({3}, {0.0f, -0.5f, NAN});
  ExpectInts(Node("Cast").Int("to", onnx::TensorProto::BOOL).Run1(13, {&b}), {3}, {0, 1, 1});
  const Tensor i = Ints({2}, {300, -1});
  ExpectInts(Node("Cast").Int("to", onnx::TensorProto::UINT8).Run1(13, {&i}), {2}, {44, 255});
  ExpectInts(Node("Cast").Str("to", "INT64").Run1(5, {&x}), {3}, {-1, 200, 2});
}

TEST(HostOps, IntegerDivAndMod) {
  const Tensor a = Ints({2}, {-7, 7}), b = Ints({2}, {2, -2}), m = Ints({2}, {3, -3});
  ExpectInts(Node("Div").Run1(14, {&a, &b}), {2}, {-3, -3});
  ExpectInts(Node("Mod").Run1(13, {&a, &m}), {2}, {2, -2});
  ExpectInts(Node("Mod").Int("fmod", 1).Run1(13, {&a, &m}), {2}, {-1, 1});
}

TEST(HostOps, MatMulNumpyForms) {
  const Tensor v = F32({2}, {1, 2});
  const Tensor m = F32({2, 3}, {1, 2, 3, 4, 5, 6});
  ExpectFloats(Node("MatMul").Run1(13, {&v, &v}), {}, {5});
  ExpectFloats(Node("MatMul").Run1(13, {&v, &m}), {3}, {9, 12, 15});
  const Tensor w = F32({3}, {1, 0, -1});
  ExpectFloats(Node("MatMul").Run1(13, {&m, &w}), {2}, {-2, -2});
  const Tensor batch = F32({2, 1, 1, 2}, {1, 2, 3, 4});
  ExpectFloats(Node("MatMul").Run1(13, {&batch, &m}), {2, 1, 1, 3}, {9, 12, 15, 19, 26, 33});
}

TEST(HostOps, ConstantForms) {
  ExpectInts(Node("Constant").IntList("value_ints", {3, 4}).Run1(13, {}), {2}, {3, 4});
  ExpectFloats(Node("Constant").Float("value_float", 2.5f).Run1(13, {}), {}, {2.5f});
}

}  // namespace
}  // namespace layoutdb::runtime
