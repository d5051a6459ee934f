// The fingerprint says how a target was measured: the threads the kernels could actually use and the
// cache mode join the hardware and software identity (when they differ from the whole machine, hot).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "layoutdb/profiler/sweep.h"

namespace layoutdb::profiler {
namespace {

using microbench::Candidate;
using microbench::Prepared;
using microbench::Shape4;
using microbench::Unit;
using microbench::UnitInfo;

// A cpu unit that only describes itself.
class DescribedCpu : public Unit {
 public:
  explicit DescribedCpu(nlohmann::json execution) {
    info_.name = "cpu";
    info_.kind = "cpu";
    info_.vendor = "AuthenticAMD";
    info_.device_name = "AMD EPYC 9654 96-Core Processor";
    info_.driver = "oneDNN 2.6.0";
    info_.compute_units = 64;
    info_.properties = {{"isa", "avx512_core_bf16"},
                        {"cores", 64},
                        {"threads", 64},
                        {"caches", {{"l3", 33554432}}},
                        {"os", "Debian GNU/Linux 12 (bookworm); Linux 6.1.0 x86_64"},
                        {"hostname", "node17"}};
    if (!execution.is_null()) info_.properties["execution"] = execution;
  }
  const UnitInfo& Info() const override { return info_; }
  std::vector<std::string> Layouts() const override { return {"nchw"}; }
  std::vector<Candidate> Candidates(const Problem&, const std::vector<std::string>&) const override { return {}; }
  Prepared Prepare(const Problem&, const Candidate&) override { return Prepared::Unsupported("described only"); }
  Prepared PrepareReorder(const Shape4&, const std::string&, const std::string&, const std::string&) override {
    return Prepared::Unsupported("described only");
  }

 private:
  UnitInfo info_;
};

std::string Fingerprint(nlohmann::json execution, const std::string& cache = "hot") {
  std::vector<std::unique_ptr<Unit>> units;
  units.push_back(std::make_unique<DescribedCpu>(std::move(execution)));
  return MakeTarget(units, cache).fingerprint;
}

TEST(Fingerprint, ThreadsActuallyUsedAndTheCacheModeMakeAnotherTarget) {
  const std::string whole = Fingerprint({{"threads", 64}, {"affinity", "0-63"}});
  // Files made before the execution was recorded keep their target: the whole machine, hot.
  EXPECT_EQ(Fingerprint(nullptr), whole);
  // Where the threads came from does not matter, only how many the kernels ran on.
  EXPECT_EQ(Fingerprint({{"threads", 64}, {"affinity", "0-63"}, {"omp_num_threads", "64"}}), whole);
  // A 2-CPU cgroup limit (or affinity mask, or OMP_NUM_THREADS=2) on the 64-core node: another target.
  const std::string two = Fingerprint({{"threads", 2}, {"cgroup_cpus", 2.0}});
  EXPECT_NE(two, whole);
  EXPECT_EQ(Fingerprint({{"threads", 2}, {"affinity", "0-1"}}), two);
  EXPECT_NE(Fingerprint({{"threads", 8}}), two);
  // The cold-cache mode: another target again.
  EXPECT_NE(Fingerprint({{"threads", 64}}, "cold"), whole);
  EXPECT_NE(Fingerprint({{"threads", 2}}, "cold"), two);
  EXPECT_NE(Fingerprint({{"threads", 2}}, "cold"), Fingerprint({{"threads", 64}}, "cold"));
}

}  // namespace
}  // namespace layoutdb::profiler
