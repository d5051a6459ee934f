// The runtime's view of a computing unit (MNN's Backend / Execution split): a Backend prepares one
// Execution per kernel — an anchor with the followers it fuses, a standalone op, a reorder — once,
// when the model is loaded (everything that depends on shapes: the kernel choice, packed weights);
// an Execution then only runs, on buffers the runtime allocated from the backend. Internal to
// runtime/.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "layoutdb/runtime.h"

namespace layoutdb::runtime {

// An activation as a kernel sees it: logical (ONNX) shape, element type, and memory order. Layouts:
// `nchw` (plain row-major, whatever the rank), `nhwc`, `nChw8c`, `nChw16c` (oneDNN's channel blocks,
// zero-padded to a multiple of the block) and `nc4hw4` (OpenCL, channel blocks of 4). Only rank-4
// tensors take a layout other than nchw.
struct Value {
  std::vector<int64_t> shape;
  std::string dtype = "f32";
  std::string layout = "nchw";
  int64_t Elems() const;
};

// Bytes a buffer holding `v` needs (with channel padding for blocked layouts).
size_t PhysicalBytes(const Value& v);
// True when `layout` is an explicit memory order a rank-`rank` tensor can take.
bool LayoutApplies(const std::string& layout, size_t rank);

// One ONNX node as a backend sees it when preparing.
struct NodeView {
  const onnx::NodeProto* proto = nullptr;
  int index = 0;        // in the model's top-level node list
  int64_t opset = 0;    // of the default domain
  std::vector<Value> inputs, outputs;   // an omitted optional input has dtype ""
  // Per input: its value when it is a constant (initializer, Constant, folded), else nullptr.
  std::vector<const Tensor*> constants;
  std::string Label() const;  // node 12 (Conv 'conv1')
};

// A prepared kernel. Buffers are the backend's handles: host pointers on the CPU, cl_mem on OpenCL.
class Execution {
 public:
  virtual ~Execution() = default;
  virtual void Run(const std::vector<void*>& inputs, const std::vector<void*>& outputs) = 0;
  // An input this kernel accumulates into output 0 (a residual sum post-op), or -1. Given the same
  // buffer as output 0, the kernel reads it in place; otherwise it copies the input there first.
  virtual int AccumulatesInput() const { return -1; }
};

// Which input of which node of a chain an Execution reads, and in which layout it needs it.
struct Operand {
  int node = 0;   // 0: the chain's first node; k: its k-th follower
  int input = 0;  // ONNX input index of that node
  std::string layout = "nchw";
};

struct Created {
  std::unique_ptr<Execution> exec;  // nullptr: this backend cannot run the chain's first node
  std::string why_not;              // when exec is nullptr: one line, why
  int fused = 0;                    // followers absorbed into the kernel (0 .. chain.size() - 1)
  std::vector<Operand> reads;       // the order of Run()'s inputs (non-constant values only)
  // Layouts of the outputs of the last node absorbed (chain[fused]), the order of Run()'s outputs.
  std::vector<std::string> out_layouts;
  std::string impl;                 // the implementation chosen (oneDNN impl_info_str, kernel name)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const std::string& Unit() const = 0;       // cpu, ocl:P:D
  virtual std::vector<std::string> Layouts() const = 0;
  // Prepares chain[0] and as many of its followers chain[1..] as its kernel can fuse (each follower
  // reads the previous node's output, and nothing else reads that output). Inputs of rank 4 are
  // computed in `in_layout`, outputs of the last fused node written in `out_layout` where the kernel
  // allows it (else in nchw, said by Created::out_layouts). Never throws for an unsupported op or
  // attribute: returns exec == nullptr with why_not; throws for a kernel that fails to build.
  virtual Created Create(const std::vector<NodeView>& chain, const std::string& in_layout,
                         const std::string& out_layout) = 0;
  // A layout change of one activation on this unit.
  virtual std::unique_ptr<Execution> CreateReorder(const Value& from, const std::string& to_layout) = 0;
  virtual void* Alloc(size_t bytes) = 0;
  virtual void Free(void* buffer) = 0;
  // Copies between host memory and a buffer of this unit (for the CPU: memcpy).
  virtual void Upload(const void* host, void* buffer, size_t bytes) = 0;
  virtual void Download(const void* buffer, void* host, size_t bytes) = 0;
  // Waits until every kernel enqueued so far has finished.
  virtual void Finish() = 0;
};

// The oneDNN CPU engine (cpu_backend.cpp).
std::unique_ptr<Backend> MakeCpuBackend();
// An OpenCL device, `ocl:P:D` (ocl_backend.cpp). Throws when the device does not exist.
std::unique_ptr<Backend> MakeOclBackend(const std::string& unit);

}  // namespace layoutdb::runtime
