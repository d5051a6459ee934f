// Plausible rows of the db layer's types, for tests and benchmarks that need a target, a unit or
// statistics without caring about their exact values.
#pragma once

#include <cstdint>
#include <string>

#include "layoutdb/db.h"

namespace layoutdb::testing {

inline db::TargetRow SampleTarget(const std::string& fingerprint) {
  db::TargetRow t;
  t.fingerprint = fingerprint;
  t.hostname = "host-" + fingerprint;
  t.cpu_model = "AMD EPYC 7B13";
  t.isa = "avx512_core_bf16";
  t.cores = 2;
  t.threads = 2;
  t.caches = R"({"l1d":32768,"l2":524288,"l3":33554432})";
  t.os = "Debian GNU/Linux 12";
  t.libraries = R"({"onednn":"2.6.0"})";
  return t;
}

// `cpu` is a oneDNN CPU unit; any other name an OpenCL device.
inline db::UnitRow SampleUnit(int64_t target_id, const std::string& name) {
  db::UnitRow u;
  u.target_id = target_id;
  u.name = name;
  u.kind = name == "cpu" ? "cpu" : "opencl";
  u.vendor = "AuthenticAMD";
  u.device_name = name == "cpu" ? "AMD EPYC 7B13" : "pthread-AMD EPYC 7B13";
  u.driver = name == "cpu" ? "oneDNN 2.6.0" : "PoCL 3.1";
  u.compute_units = 2;
  u.clock_mhz = 2450;
  u.global_mem = int64_t{24} << 30;
  u.local_mem = 524288;
  u.properties = R"({"fp16":false})";
  return u;
}

inline db::Stats SampleStats(double median) {
  db::Stats s;
  s.median_us = median;
  s.p10_us = median * 0.95;
  s.p90_us = median * 1.1;
  s.mean_us = median * 1.02;
  s.stddev_us = median * 0.03;
  s.min_us = median * 0.9;
  s.repetitions = 41;
  s.rel_ci = 0.012;
  return s;
}

}  // namespace layoutdb::testing
