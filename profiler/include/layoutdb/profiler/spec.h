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
  // Visits (see microbench::VisitConfig, CombineVisits): every point is measured in `visits` visits
  // at separate moments, each with 1/visits of its budget. After its last visit, a point whose visits
  // disagree as a whole (microbench::VisitLevelSpread above revisit_tolerance: the machine moved for
  // all its candidates together) is visited again later in the sweep, at most max_revisits times,
  // while the sweep's re-visits stay within revisit_share of its points (each re-visit costs
  // 1/visits of a point's budget: 0.3 is at most 10% more measuring time with 3 visits).
  int visits = 3;
  double revisit_tolerance = 0.05;
  double revisit_share = 0.3;
  int max_revisits = 2;
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
