#include "model_file.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <fstream>
#include <stdexcept>

#include "selector/onnx_patterns.h"

namespace layoutdb::runtime {

onnx::ModelProto ReadModelFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open (missing or unreadable)", path));
  google::protobuf::io::IstreamInputStream raw(&in);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT32_MAX);  // models over protobuf's 64 MB default
  onnx::ModelProto m;
  if (!m.ParseFromCodedStream(&coded) || !m.has_graph())
    throw std::runtime_error(fmt::format("{}: not an ONNX model (or truncated)", path));
  selector::RewriteDecomposedOps(m);
  return m;
}

}  // namespace layoutdb::runtime
