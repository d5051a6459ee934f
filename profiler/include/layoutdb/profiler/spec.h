// Sweep specs: what to measure. A spec is a JSON file (schema/sweep.schema.json); the built-in ones
// (quick, default, full) are compiled in from schema/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layoutdb/microbench/measure.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/problem.h"

namespace layoutdb::profiler {

struct SpecProblem {
  Problem problem;
  std::vector<std::string> dtypes;  // the group's dtypes, else the spec's
  std::string group;                // the spec group it came from
};

struct SweepSpec {
  std::string name;
  std::string origin;  // "built-in quick" or the file's path
  std::string text;    // the JSON as read
  std::string hash;    // HashHex(text)
  std::vector<std::string> dtypes;
  microbench::MeasureConfig measure;
  std::vector<SpecProblem> problems;  // deduplicated by key, in spec order
  std::vector<microbench::Shape4> transition_shapes;
  std::vector<std::string> transition_dtypes;
  std::vector<int64_t> transfer_bytes;
};

// The names of the built-in specs.
std::vector<std::string> BuiltinSpecNames();

// `quick`, `default`, `full`, or a path to a JSON file. Throws std::runtime_error with one line naming
// the spec and what is wrong (JSON syntax with line/column, a schema violation with its JSON path, a
// problem the spec cannot build with its group and key).
SweepSpec LoadSpec(const std::string& name_or_path);
SweepSpec ParseSpec(const std::string& json_text, const std::string& origin);

// Parses `mb1c64h56w56`.
microbench::Shape4 ParseShape(const std::string& text);

}  // namespace layoutdb::profiler
