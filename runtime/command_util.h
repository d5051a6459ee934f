// What `run` and `validate` share: inputs from --input / --input-data or seeded random values, the
// plan (given or selected now), the machine's thread count. Internal to runtime/.
#pragma once

#include <string>
#include <vector>

#include "layoutdb/microbench/measure.h"
#include "layoutdb/runtime.h"
#include "layoutdb/selector.h"

namespace layoutdb::runtime {

// --input NAME:D1,... as a map for the importer.
std::map<std::string, std::vector<int64_t>> ParseInputs(const std::vector<std::string>& specs);

// One tensor per model input: from NAME=FILE.pb where given (checked against the spec's shape and
// dtype, one line naming the file on a mismatch), else seeded uniform values in [-1, 1) (f32) or
// zeros (integer inputs: indices that are valid for any table).
std::vector<Tensor> MakeInputs(const std::vector<Tensor>& specs, const std::vector<std::string>& data,
                               unsigned seed);

// The plan from a JSON file, or selected now from the database.
Plan GetPlan(const std::string& model, const std::string& db, const std::string& plan_path,
             const std::map<std::string, std::vector<int64_t>>& inputs,
             const std::vector<std::string>& units);

// Threads the CPU kernels use: OMP_NUM_THREADS if set, else the CPUs this process may run on.
int Threads();

// Writes tensors as `<prefix>_<N>.pb` into dir (created).
void SaveTensors(const std::vector<Tensor>& ts, const std::string& dir, const std::string& prefix);

// 840.2 us, 12.41 ms.
std::string Micro(double us);

// Medians and percentiles of run times: microbench's rule, the one the database's figures use.
using microbench::Percentile;

// Largest |a - b| over two output lists of the same model, and whether shapes match.
double MaxAbsDiff(const std::vector<Tensor>& a, const std::vector<Tensor>& b);

}  // namespace layoutdb::runtime
