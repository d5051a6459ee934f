// How the sweep measures: the CPUs this process may use (affinity, cgroup v1 and v2 CPU limits read
// from a fake tree), the calibration kernels and the cold-cache eviction buffer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "layoutdb/microbench/calibration.h"
#include "layoutdb/microbench/execution.h"
#include "tests/temp_dir.h"

namespace layoutdb::microbench {
namespace {

namespace fs = std::filesystem;
using layoutdb::testing::TempDir;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

TEST(Execution, ParsesCgroupLimits) {
  EXPECT_DOUBLE_EQ(ParseCpuMax("200000 100000"), 2.0);
  EXPECT_DOUBLE_EQ(ParseCpuMax("150000 100000\n"), 1.5);
  EXPECT_DOUBLE_EQ(ParseCpuMax("max 100000"), 0.0);
  EXPECT_LT(ParseCpuMax("garbage"), 0);
  EXPECT_DOUBLE_EQ(ParseCfsQuota("-1", "100000"), 0.0);
  EXPECT_DOUBLE_EQ(ParseCfsQuota("50000\n", "100000\n"), 0.5);
  EXPECT_LT(ParseCfsQuota("", "100000"), 0);
  EXPECT_EQ(CpuList({3, 0, 1, 2, 8, 10, 11, 1}), "0-3,8,10-11");
  EXPECT_EQ(CpuList({5}), "5");
}

TEST(Execution, CgroupV2LimitIsTheSmallestOnThePathUp) {
  TempDir dir;
  const fs::path root = dir.File("root");
  Write(root / "proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
  Write(root / "proc/self/mountinfo",
        "24 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
        "25 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
  Write(root / "sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
  Write(root / "sys/fs/cgroup/kubepods/pod1/cpu.max", "200000 100000\n");
  Write(root / "sys/fs/cgroup/kubepods/cpu.max", "6400000 100000\n");
  const auto [cpus, where] = ReadCgroupCpuLimit(root.string());
  EXPECT_DOUBLE_EQ(cpus, 2.0);
  EXPECT_EQ(where, "cgroup2 /sys/fs/cgroup/kubepods/pod1/cpu.max: 200000 100000");
}

TEST(Execution, CgroupV1QuotaOfTheCpuHierarchy) {
  TempDir dir;
  const fs::path root = dir.File("root");
  Write(root / "proc/self/cgroup", "5:memory:/slurm/job7\n4:cpu,cpuacct:/slurm/job7\n0::/\n");
  Write(root / "proc/self/mountinfo",
        "30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n");
  Write(root / "sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_quota_us", "300000\n");
  Write(root / "sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_period_us", "100000\n");
  Write(root / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
  Write(root / "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
  const auto [cpus, where] = ReadCgroupCpuLimit(root.string());
  EXPECT_DOUBLE_EQ(cpus, 3.0);
  EXPECT_EQ(where, "cgroup v1 /sys/fs/cgroup/cpu,cpuacct/slurm/job7/cpu.cfs_quota_us: 300000 per 100000 us");
}

TEST(Execution, NoLimitAnywhere) {
  TempDir dir;
  const fs::path root = dir.File("root");
  Write(root / "proc/self/cgroup", "0::/\n");
  Write(root / "proc/self/mountinfo", "24 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
  const auto [cpus, where] = ReadCgroupCpuLimit(root.string());
  EXPECT_EQ(cpus, 0);
  EXPECT_EQ(where, "no cpu limit");
}

TEST(Execution, ThisProcessThreadsAreTheFewestOfItsLimits) {
  const ExecutionLimits e = ReadExecutionLimits();
  EXPECT_GE(e.online_cpus, 1);
  EXPECT_GE(e.affinity_cpus, 1);
  EXPECT_LE(e.affinity_cpus, e.online_cpus);
  EXPECT_FALSE(e.affinity.empty());
  EXPECT_GE(e.threads, 1);
  EXPECT_LE(e.threads, e.affinity_cpus);
  if (e.onednn_threads > 0) {
    EXPECT_LE(e.threads, e.onednn_threads);
  }
  const auto j = e.ToJson();
  EXPECT_EQ(j.at("threads"), e.threads);
  EXPECT_EQ(j.at("affinity"), e.affinity);
  EXPECT_NE(e.Describe().find(std::to_string(e.threads) + " threads (affinity "), std::string::npos) << e.Describe();
}

TEST(Calibration, BothKernelsRunAndSayTheirWork) {
  Calibrator cal(1 << 20);  // a small LLC: the memory kernel streams its 16 MiB floor
  const auto r = cal.Run(3);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].kernel, "compute");
  EXPECT_EQ(r[1].kernel, "memory");
  EXPECT_GT(r[0].work, 1e6);
  EXPECT_EQ(r[1].work, 16.0 * (1 << 20));
  // A large LLC: a buffer twice it, read a 32 MiB window per run.
  Calibrator big(64 << 20);
  EXPECT_EQ(big.buffer_bytes(), size_t{128} << 20);
  EXPECT_EQ(big.window_bytes(), size_t{32} << 20);
  EXPECT_EQ(big.Run(1)[1].work, 32.0 * (1 << 20));
  // A VM's report of its host's whole L3 (508 MiB): the buffer stops at 256 MiB, still 8 windows.
  Calibrator host(size_t{508} << 20);
  EXPECT_EQ(host.buffer_bytes(), size_t{256} << 20);
  EXPECT_EQ(host.window_bytes(), size_t{32} << 20);
  for (const auto& c : r) {
    EXPECT_EQ(c.summary.repetitions, 3);
    EXPECT_GT(c.summary.median_us, 0);
  }
  CacheFlusher flusher(1 << 20);
  EXPECT_EQ(flusher.bytes(), size_t{8} << 20);  // at least 8 MiB
  EXPECT_EQ(CacheFlusher(32 << 20).bytes(), size_t{64} << 20);  // twice the LLC
  flusher.Evict();
}

// The warm mode's flush runs on the kernels' OpenMP threads, twice a core's private cache each, and
// hands the inputs back unchanged (it writes every line of them back as it read it).
TEST(PrivateCacheFlusher, EvictsOnTheKernelsThreadsAndKeepsTheInputs) {
  PrivateCacheFlusher flusher(1 << 20);
  EXPECT_EQ(flusher.bytes_per_thread(), size_t{2} << 20);
  EXPECT_EQ(PrivateCacheFlusher(4 << 10).bytes_per_thread(), size_t{512} << 10);  // at least 256 KiB each
  std::vector<float> a(100003), b(17);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) * 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = -static_cast<float>(i);
  const auto a0 = a, b0 = b;
  flusher.Evict({{a.data(), a.size() * sizeof(float)}, {b.data(), b.size() * sizeof(float)}});
  EXPECT_EQ(a, a0);
  EXPECT_EQ(b, b0);
  const ExecutionLimits limits = ReadExecutionLimits();
  if (limits.onednn_threads > 0) EXPECT_EQ(flusher.threads(), limits.onednn_threads);
  else EXPECT_EQ(flusher.threads(), 1);
  // Weights flushed from every level (clflush) come back from memory unchanged, the inputs too.
  std::vector<float> w(70001);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.25f;
  const auto w0 = w;
  flusher.Evict({{a.data(), a.size() * sizeof(float)}}, {{w.data(), w.size() * sizeof(float)}, {b.data(), 3}});
  EXPECT_EQ(w, w0);
  EXPECT_EQ(a, a0);
  EXPECT_EQ(b, b0);
  flusher.Evict();
  EXPECT_GE(flusher.threads(), 1);
}

}  // namespace
}  // namespace layoutdb::microbench
