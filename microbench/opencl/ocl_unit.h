// OpenCL units `ocl:P:D`, one per device of every platform the ICD loader finds. Layouts nchw, nhwc,
// nc4hw4 (channel blocks of 4, float4 access).
//
// Environment:
//   LAYOUTDB_CACHE_DIR   where built program binaries are kept between runs (else
//                        $XDG_CACHE_HOME/layoutdb, else ~/.cache/layoutdb); files go to <dir>/opencl/
//   LAYOUTDB_OCL_TUNE    0 turns work-group-size / tile-variant tuning off (first candidate is used)
//   LAYOUTDB_OCL_VARIANT pins the tile variant whose name contains this text (tests, benchmarks)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layoutdb/microbench/unit.h"

namespace layoutdb::microbench::opencl {

// Every OpenCL device; a platform or device that cannot be queried adds one line to `warnings`.
std::vector<std::unique_ptr<Unit>> DiscoverOpenClUnits(std::vector<std::string>* warnings);

// The directory program binaries are cached in (created on first use).
std::string BinaryCacheDir();

// Test hook: builds `source` (OpenCL C, without the shared prelude and without the binary cache) on
// `unit`'s device and prepares `kernel_name` to run on one work-item with no arguments. A program that
// does not build gives Failed with the first lines of the compiler log. `unit` must be an OpenCL unit.
Prepared PrepareFromSourceForTest(Unit& unit, const std::string& source,
                                  const std::string& kernel_name);

}  // namespace layoutdb::microbench::opencl
