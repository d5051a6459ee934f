#include "layoutdb/microbench/placement.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace layoutdb::microbench {

BufferPlacement::~BufferPlacement() {
  for (auto& [p, base] : base_of_) std::free(base);
}

void* BufferPlacement::Alloc(size_t bytes) {
  const size_t offset = (count_++ * kStaggerBytes) % kPage;
  const size_t total = (bytes + offset + kPage) / kPage * kPage;
  void* base = std::aligned_alloc(kPage, total);
  if (!base) throw std::bad_alloc();
  char* p = static_cast<char*>(base) + offset;
  std::memset(p, 0, bytes);
  base_of_.emplace(p, base);
  return p;
}

void BufferPlacement::Free(void* p) {
  if (!p) return;
  auto it = base_of_.find(p);
  if (it == base_of_.end()) return;
  std::free(it->second);
  base_of_.erase(it);
}

}  // namespace layoutdb::microbench
