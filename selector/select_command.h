// `layoutdb select`: the command behind the library (app/main.cpp only wires its options).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "layoutdb/selector.h"

namespace layoutdb::selector {

struct SelectCommandOptions {
  std::string model, db;
  std::vector<std::string> inputs;  // NAME:D1,D2,... (repeatable --input)
  std::vector<std::string> units;   // empty: every unit the database measured
  std::string dtype = "f32";
  std::string partition;            // a partition JSON file, or empty for the default partition
  bool json = false;                // print JSON instead of the table
  std::string out;                  // also write the plan JSON here
  std::string report;               // also draw the plan into this folder (through write_report)
  // Draws a plan JSON into a folder (reports/, wired by app/main.cpp: the selector knows no reports).
  std::function<void(const std::string& dir, const std::string& plan_json)> write_report;
  // Refuses unmeasured states this machine's library would run with its reference kernel (wired by
  // app/main.cpp from microbench: the selector knows no kernels).
  RefuseCheck refuse;
};

// Prints the plan; throws std::runtime_error with one line for bad input.
int RunSelect(const SelectCommandOptions& options);

}  // namespace layoutdb::selector
