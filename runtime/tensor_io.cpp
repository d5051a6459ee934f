// Tensor: the host tensor of the runtime's public API, and its TensorProto files.
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "layoutdb/runtime.h"
#include "tensor_proto.h"

namespace layoutdb {

int64_t Tensor::Elems() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void Tensor::Allocate() {
  if (IsFloat()) {
    f32.assign(static_cast<size_t>(Elems()), 0.0f);
    i64.clear();
  } else {
    i64.assign(static_cast<size_t>(Elems()), 0);
    f32.clear();
  }
}

namespace {

// Element types the runtime holds, and their byte size in raw_data.
struct TypeInfo {
  const char* name;
  int size;
};

bool TypeOf(int32_t t, TypeInfo* info) {
  using TP = onnx::TensorProto;
  switch (t) {
    case TP::FLOAT: *info = {"f32", 4}; return true;
    case TP::INT64: *info = {"i64", 8}; return true;
    case TP::INT32: *info = {"i32", 4}; return true;
    case TP::INT8: *info = {"i8", 1}; return true;
    case TP::UINT8: *info = {"u8", 1}; return true;
    case TP::BOOL: *info = {"bool", 1}; return true;
    default: return false;
  }
}

int32_t ElemTypeOf(const std::string& dtype) {
  using TP = onnx::TensorProto;
  if (dtype == "f32") return TP::FLOAT;
  if (dtype == "i64") return TP::INT64;
  if (dtype == "i32") return TP::INT32;
  if (dtype == "i8") return TP::INT8;
  if (dtype == "u8") return TP::UINT8;
  if (dtype == "bool") return TP::BOOL;
  throw std::runtime_error(fmt::format("tensor dtype '{}' cannot be written", dtype));
}

}  // namespace

namespace runtime {
// Converts a TensorProto (initializer, Constant value, test data) into a Tensor. Throws with `where`.
Tensor FromProto(const onnx::TensorProto& p, const std::string& where) {
  TypeInfo info{};
  if (!TypeOf(p.data_type(), &info))
    throw std::runtime_error(fmt::format("{}: element type {} ({}) is not supported by the runtime "
                                         "(f32, i64, i32, i8, u8, bool)",
                                         where, p.data_type(),
                                         onnx::TensorProto::DataType_Name(
                                             static_cast<onnx::TensorProto::DataType>(p.data_type()))));
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    throw std::runtime_error(fmt::format("{}: data stored outside the model file (external data) is "
                                         "not supported",
                                         where));
  Tensor t;
  t.name = p.name();
  t.dtype = info.name;
  for (int64_t d : p.dims()) {
    if (d < 0) throw std::runtime_error(fmt::format("{}: negative dimension {}", where, d));
    t.shape.push_back(d);
  }
  // The value count must match the shape before anything is allocated: a file of another kind
  // (a SequenceProto parses as a TensorProto with absurd dims) must not allocate gigabytes.
  int64_t n = 1;
  for (int64_t d : t.shape) {
    if (d > 0 && n > (int64_t{1} << 40) / d)
      throw std::runtime_error(fmt::format("{}: shape [{}] is too large", where, fmt::join(t.shape, ",")));
    n *= d;
  }
  const int64_t held = p.has_raw_data() ? static_cast<int64_t>(p.raw_data().size()) / info.size
                       : p.data_type() == onnx::TensorProto::FLOAT ? p.float_data_size()
                       : p.data_type() == onnx::TensorProto::INT64 ? p.int64_data_size()
                                                                    : p.int32_data_size();
  if (held != n)
    throw std::runtime_error(
        fmt::format("{}: holds {} values for shape [{}] ({} elements)", where, held,
                    fmt::join(t.shape, ","), n));
  t.Allocate();
  auto check = [&](int64_t have) {
    if (have != n)
      throw std::runtime_error(
          fmt::format("{}: holds {} values for shape of {} elements", where, have, n));
  };
  if (p.has_raw_data()) {
    const std::string& raw = p.raw_data();
    if (static_cast<int64_t>(raw.size()) != n * info.size)
      throw std::runtime_error(fmt::format("{}: raw data of {} bytes for {} elements of {} bytes",
                                           where, raw.size(), n, info.size));
    const char* b = raw.data();
    for (int64_t k = 0; k < n; ++k) {
      const char* e = b + k * info.size;
      switch (p.data_type()) {
        case onnx::TensorProto::FLOAT: std::memcpy(&t.f32[k], e, 4); break;
        case onnx::TensorProto::INT64: std::memcpy(&t.i64[k], e, 8); break;
        case onnx::TensorProto::INT32: {
          int32_t v;
          std::memcpy(&v, e, 4);
          t.i64[k] = v;
          break;
        }
        case onnx::TensorProto::INT8: t.i64[k] = static_cast<int8_t>(*e); break;
        default: t.i64[k] = static_cast<uint8_t>(*e); break;  // u8, bool
      }
    }
    return t;
  }
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT:
      check(p.float_data_size());
      for (int64_t k = 0; k < n; ++k) t.f32[k] = p.float_data(k);
      break;
    case onnx::TensorProto::INT64:
      check(p.int64_data_size());
      for (int64_t k = 0; k < n; ++k) t.i64[k] = p.int64_data(k);
      break;
    default:  // i32, i8, u8, bool live in int32_data
      check(p.int32_data_size());
      for (int64_t k = 0; k < n; ++k) t.i64[k] = p.int32_data(k);
      break;
  }
  return t;
}

onnx::TensorProto ToProto(const Tensor& t) {
  onnx::TensorProto p;
  p.set_name(t.name);
  p.set_data_type(ElemTypeOf(t.dtype));
  for (int64_t d : t.shape) p.add_dims(d);
  std::string raw;
  const int64_t n = t.Elems();
  if (t.IsFloat()) {
    raw.resize(static_cast<size_t>(n) * 4);
    if (n) std::memcpy(raw.data(), t.f32.data(), raw.size());
  } else {
    TypeInfo info{};
    TypeOf(p.data_type(), &info);
    raw.resize(static_cast<size_t>(n) * info.size);
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = t.i64[k];
      char* e = raw.data() + k * info.size;
      if (info.size == 8) std::memcpy(e, &v, 8);
      else if (info.size == 4) {
        const int32_t w = static_cast<int32_t>(v);
        std::memcpy(e, &w, 4);
      } else {
        *e = static_cast<char>(v);
      }
    }
  }
  p.set_raw_data(raw);
  return p;
}
}  // namespace runtime

Tensor ReadTensorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot open (missing or unreadable)", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  onnx::TensorProto p;
  if (bytes.empty() || !p.ParseFromString(bytes))
    throw std::runtime_error(fmt::format("{}: not a serialized onnx.TensorProto ({} bytes)", path,
                                         bytes.size()));
  return runtime::FromProto(p, path);
}

void WriteTensorFile(const Tensor& t, const std::string& path) {
  const std::string bytes = runtime::ToProto(t).SerializeAsString();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write", path));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error(fmt::format("{}: write failed (disk full?)", path));
}

}  // namespace layoutdb
