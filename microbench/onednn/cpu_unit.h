// The `cpu` unit: oneDNN's CPU engine. Layouts nchw, nhwc, nChw8c, nChw16c (and `any`, oneDNN's own
// choice); dtypes f32, and bf16 / int8 where the CPU's ISA supports them.
#pragma once

#include <memory>

#include "layoutdb/microbench/unit.h"

namespace layoutdb::microbench::onednn {

std::unique_ptr<Unit> MakeCpuUnit();

}  // namespace layoutdb::microbench::onednn
