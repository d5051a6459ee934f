// Heavy tests take a sample of their cases under the sanitizers, so that scripts/sanitize.sh runs the
// whole suite within CI's time (the normal build keeps every case). The one switch: the suites of a build
// with LAYOUTDB_SANITIZE or LAYOUTDB_FUZZ are compiled with LAYOUTDB_SANITIZED (tests/CMakeLists.txt).
// A sample is every N-th case, starting at the seed modulo N; the seed is the day (days since 1970, so
// that CI covers another share each day) unless LAYOUTDB_SAMPLE_SEED gives one, and is printed:
// LAYOUTDB_SAMPLE_SEED=S repeats a run. LAYOUTDB_SAMPLE_ALL=1 takes every case under the sanitizers too.
// Each sampled test asserts what it asserts in the normal build, on fewer cases, and prints how many.
#pragma once

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace layoutdb::testing {

inline bool Sanitized() {
#ifdef LAYOUTDB_SANITIZED
  return true;
#else
  return false;
#endif
}

class Sample {
 public:
  // `what`: the cases, as the printed line names them; `every`: 1 in `every` under the sanitizers.
  Sample(std::string what, size_t every) : what_(std::move(what)) {
    const char* all = std::getenv("LAYOUTDB_SAMPLE_ALL");
    every_ = Sanitized() && !(all && std::string(all) == "1") && every > 1 ? every : 1;
    const char* s = std::getenv("LAYOUTDB_SAMPLE_SEED");
    seed_ = s && *s ? std::strtoull(s, nullptr, 10) : static_cast<unsigned long long>(std::time(nullptr) / 86400);
  }
  size_t every() const { return every_; }
  // Whether the i-th case (counting from 0) is in the sample.
  bool Take(size_t i) const { return every_ == 1 || i % every_ == seed_ % every_; }
  template <class T>
  std::vector<T> Of(const std::vector<T>& all) const {
    std::vector<T> taken;
    for (size_t i = 0; i < all.size(); ++i)
      if (Take(i)) taken.push_back(all[i]);
    Report(taken.size(), all.size());
    return taken;
  }
  // "[ sample ] 123 of 1234 WHAT (1 in 10 under the sanitizers, seed S: LAYOUTDB_SAMPLE_SEED=S repeats it)"
  void Report(size_t taken, size_t total) const {
    if (every_ == 1) {
      std::printf("[ sample ] all %zu %s\n", total, what_.c_str());
    } else {
      std::printf("[ sample ] %zu of %zu %s (1 in %zu under the sanitizers, seed %llu: "
                  "LAYOUTDB_SAMPLE_SEED=%llu repeats it, LAYOUTDB_SAMPLE_ALL=1 takes all)\n",
                  taken, total, what_.c_str(), every_, seed_, seed_);
    }
    std::fflush(stdout);
  }

 private:
  std::string what_;
  size_t every_ = 1;
  unsigned long long seed_ = 0;
};

}  // namespace layoutdb::testing
