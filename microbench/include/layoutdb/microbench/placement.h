// Where host buffers land, made the same at every preparation.
//
// A streaming kernel whose destination lies a little after its source modulo 4 KiB runs slower: its
// loads wait on earlier stores to an address whose low 12 bits match (4K aliasing). Placed by malloc,
// that distance changes from one preparation to the next: relu on 64x56x56 ran 17.4 us or 22.3 us by
// that alone, and the visits of a sweep point, each preparing its kernels afresh, differed by 20-37%
// while each one's own timing agreed within 2% (bench/bench_prepare_spread.cpp). A BufferPlacement
// puts its n-th buffer kStaggerBytes * n (mod 4 KiB) after a page boundary, so that no two of a
// kernel's first 16 buffers lie within 256 bytes of each other modulo 4 KiB, and the kernel is timed
// (and, in the runtime, run) the same way every time.
#pragma once

#include <cstddef>
#include <unordered_map>

namespace layoutdb::microbench {

class BufferPlacement {
 public:
  static constexpr size_t kPage = 4096;
  static constexpr size_t kStaggerBytes = 1088;  // 17 cache lines: offsets 0, 1088, 2176, 3264, 256, ...

  BufferPlacement() = default;
  BufferPlacement(const BufferPlacement&) = delete;
  BufferPlacement& operator=(const BufferPlacement&) = delete;
  ~BufferPlacement();

  // `bytes` of zeroed memory, 64-byte aligned, at the next stagger; throws std::bad_alloc.
  void* Alloc(size_t bytes);
  // Frees a buffer Alloc returned (nullptr: nothing).
  void Free(void* p);

 private:
  size_t count_ = 0;
  std::unordered_map<void*, void*> base_of_;  // returned pointer -> what aligned_alloc returned
};

}  // namespace layoutdb::microbench
