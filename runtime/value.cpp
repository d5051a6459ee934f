// Value and NodeView helpers shared by every backend.
#include <fmt/format.h>

#include "backend.h"
#include "layoutdb/problem.h"

namespace layoutdb::runtime {

int64_t Value::Elems() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

namespace {
size_t ElemSize(const std::string& dtype) { return dtype == "f32" || dtype.empty() ? 4 : 8; }
}  // namespace

bool LayoutApplies(const std::string& layout, size_t rank) {
  if (layout == "nchw" || layout == "plain") return true;
  return rank == 4 && (layout == "nhwc" || layout == "nChw8c" || layout == "nChw16c" ||
                       layout == "nc4hw4");
}

size_t PhysicalBytes(const Value& v) {
  const int64_t block = v.shape.size() == 4 ? LayoutChannelBlock(v.layout) : 1;
  int64_t n = 1;
  for (size_t k = 0; k < v.shape.size(); ++k) {
    int64_t d = v.shape[k];
    if (k == 1 && block > 1) d = (d + block - 1) / block * block;
    n *= d;
  }
  return static_cast<size_t>(n) * ElemSize(v.dtype);
}

std::string NodeView::Label() const {
  return fmt::format("node {} ({} '{}')", index, proto ? proto->op_type() : "?",
                     proto ? proto->name() : "");
}

}  // namespace layoutdb::runtime
