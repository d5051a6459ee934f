// OpenCL units `ocl:P:D`, one per device of every platform the ICD loader finds. Layouts nchw, nhwc,
// nc4hw4 (channel blocks of 4, float4 access).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layoutdb/microbench/unit.h"

namespace layoutdb::microbench::opencl {

// Every OpenCL device; a platform or device that cannot be queried adds one line to `warnings`.
std::vector<std::unique_ptr<Unit>> DiscoverOpenClUnits(std::vector<std::string>* warnings);

}  // namespace layoutdb::microbench::opencl
