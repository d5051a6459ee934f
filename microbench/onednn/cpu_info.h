// What the `cpu` unit reports about this machine: /proc/cpuinfo, sysfs caches, the ISA oneDNN
// dispatches, its version and threading runtime, the OS.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <string>

#include "layoutdb/microbench/unit.h"

namespace layoutdb::microbench::onednn {

// oneDNN's name of an ISA level (avx2, avx512_core_bf16, ...).
std::string IsaName(dnnl::cpu_isa isa);
// Whether the ISA has native bf16 (avx512_core_bf16 or above) / integer dot-product (VNNI)
// instructions, and whether oneDNN has int8 JIT kernels for it at all (avx2 and above).
bool IsaHasBf16(dnnl::cpu_isa isa);
bool IsaHasVnni(dnnl::cpu_isa isa);
bool IsaHasInt8(dnnl::cpu_isa isa);

// Everything `layoutdb devices` shows of the cpu unit.
UnitInfo ReadCpuInfo();

}  // namespace layoutdb::microbench::onednn
