// The OpenMP entry points oneDNN's libgomp exports (gomp.h), looked up once.
#include "gomp.h"

#include <dlfcn.h>

namespace layoutdb::microbench {

const Gomp& GompRuntime() {
  static const Gomp g = [] {
    Gomp r;
    r.parallel = reinterpret_cast<decltype(r.parallel)>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
    r.barrier = reinterpret_cast<decltype(r.barrier)>(dlsym(RTLD_DEFAULT, "GOMP_barrier"));
    r.thread_num = reinterpret_cast<decltype(r.thread_num)>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
    r.num_threads = reinterpret_cast<decltype(r.num_threads)>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
    r.max_threads = reinterpret_cast<decltype(r.max_threads)>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
    return r;
  }();
  return g;
}

}  // namespace layoutdb::microbench
