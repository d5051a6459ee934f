// The OpenMP runtime oneDNN's CPU kernels run on (libgomp, loaded with libdnnl), looked up at run time
// (dlsym), so that nothing of OpenMP is linked into layoutdb and a clang build does not bring a second
// runtime. Code that must run on the kernels' own threads (the core-to-core probe, the warm-cache
// flush) starts its team through GOMP_parallel, as `#pragma omp parallel` compiles to.
#pragma once

namespace layoutdb::microbench {

struct Gomp {
  void (*parallel)(void (*)(void*), void*, unsigned, unsigned) = nullptr;
  void (*barrier)() = nullptr;
  int (*thread_num)() = nullptr;
  int (*num_threads)() = nullptr;
  int (*max_threads)() = nullptr;
  bool ok() const { return parallel && barrier && thread_num && num_threads && max_threads; }
};

// The process's OpenMP entry points; ok() is false when no libgomp is loaded.
const Gomp& GompRuntime();

}  // namespace layoutdb::microbench
