// layoutdb's runtime: executes an ONNX model under a plan, each sub-graph on its unit in its layout.
//
//   auto plan = layoutdb::Selector::Open("layout.db").Select("model.onnx", opts);   // or LoadPlan()
//   auto rt = layoutdb::Runtime::Load("model.onnx", plan, {.inputs = opts.inputs});  // allocates once
//   rt.Run({x});                                   // many times; allocates nothing
//   const layoutdb::Tensor& y = rt.Outputs()[0];   // plain (row-major) order, the model's output order
//   rt.SubgraphUs();                               // the last run's time per sub-graph
//
// Every failure is a std::runtime_error whose what() is one line naming the file, node or input and
// what is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "layoutdb/selector.h"

namespace layoutdb {

// A host tensor in plain (row-major, ONNX) order. Floating point data lives in `f32`; integer and
// bool data (i64, i32, i8, u8, bool) in `i64`.
struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype = "f32";  // f32, i64, i32, i8, u8, bool
  std::vector<float> f32;
  std::vector<int64_t> i64;

  int64_t Elems() const;
  bool IsFloat() const { return dtype == "f32"; }
  // Sizes the data vector that dtype uses to Elems() (zero-filled).
  void Allocate();
};

// Reads a serialized onnx.TensorProto (`input_0.pb`, `output_0.pb`). Throws naming the file:
// missing, truncated, not a TensorProto, or an element type the runtime does not hold (f16, f64, ...).
Tensor ReadTensorFile(const std::string& path);
// Writes `t` as a serialized onnx.TensorProto with raw data.
void WriteTensorFile(const Tensor& t, const std::string& path);

// Reads a plan JSON written by `layoutdb select --out` (schema/plan.schema.json).
Plan LoadPlan(const std::string& path);

struct RuntimeOptions {
  std::map<std::string, std::vector<int64_t>> inputs;  // fixes dynamic input dims, as for Select
  // An operator neither its unit nor the host can execute: false refuses the model with one line
  // naming the node; true leaves the node out (its outputs are zeros, untimed) and lists it in
  // SkippedNodes() — for `validate --partial`, which then leaves it out of prediction and measurement.
  bool partial = false;
};

// Per sub-graph figures of the last Run().
struct SubgraphTiming {
  int index = 0;
  std::string unit, layout;
  double us = 0;             // kernel_us + transition_us (host clock, waited for)
  double kernel_us = 0;      // its operators
  double transition_us = 0;  // the reorders and transfers that bring its inputs
};

class Runtime {
 public:
  // Imports the model, checks that `plan` was made for it (same node count and hash when the plan
  // carries one) and that every unit it names exists here, prepares every kernel and allocates every
  // buffer. Throws naming the node and op the runtime cannot execute.
  static Runtime Load(const std::string& model_path, const Plan& plan, const RuntimeOptions& options);
  Runtime(Runtime&&) noexcept;
  Runtime& operator=(Runtime&&) noexcept;
  ~Runtime();

  // The model's inputs (not initializers), with their static shapes and dtypes, data empty.
  std::vector<Tensor> InputSpecs() const;
  // Runs once. Inputs are matched by name; each must have the shape and dtype of InputSpecs().
  void Run(const std::vector<Tensor>& inputs);
  // The model's outputs in its output order, plain, as of the last Run().
  const std::vector<Tensor>& Outputs() const;
  const std::vector<SubgraphTiming>& SubgraphUs() const;
  double LastRunUs() const;
  // Bytes of activation buffers allocated (after reuse by liveness), and the lower bound: the largest
  // sum of tensors alive at one step.
  int64_t PeakActivationBytes() const;
  int64_t LivenessLowerBoundBytes() const;
  // One line per decision worth knowing (ops run on the host, fusions, reorders inserted).
  const std::vector<std::string>& Notes() const;
  // The notes a person running the plan must see, because the plan will run far slower than predicted:
  // a sub-graph on oneDNN's reference kernel (100-1000x slower than the kernels the database timed).
  const std::vector<std::string>& Warnings() const;
  // Nodes (indices in the model's node list) that run on the host in plain order because their
  // unit's backend has no kernel for them.
  const std::vector<int>& HostNodes() const;
  // Nodes left out under RuntimeOptions::partial.
  const std::vector<int>& SkippedNodes() const;

  struct Impl;

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace layoutdb
