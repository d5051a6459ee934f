// `layoutdb run` and `layoutdb validate`: the commands behind the runtime (app/main.cpp only wires
// their options). Both throw std::runtime_error with one line for bad input.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace layoutdb::runtime {

struct RunCommandOptions {
  std::string model, db, plan;            // plan: a plan JSON; empty: select one now from db
  std::vector<std::string> inputs;        // NAME:D1,D2,... fixes input shapes
  std::vector<std::string> input_data;    // NAME=FILE.pb (else random inputs, seeded)
  std::vector<std::string> units;         // when selecting: the units to consider
  std::string save_outputs, save_inputs;  // folders for output_N.pb / input_N.pb
  int repeat = 20;
  int warmup = 3;
  unsigned seed = 1;
  bool json = false;
};

struct ValidateCommandOptions {
  std::string model, db, plan;
  std::vector<std::string> inputs, input_data, units;
  double budget_s = 4.0;  // per measuring phase (candidates, then plans), all rounds together
  int min_reps = 5;
  int rounds = 3;  // moments each phase is timed at; a figure is its quietest round's (as a sweep's visits)
  // The most seconds validate waits, in all, for the kernels' threads to be near each other before a
  // timed pass (microbench::PlacementGate); 0: never waits (every pass is timed as the machine is).
  double settle_s = 60;
  // Every timed run follows an untimed run of the same plan, as in an application's inference loop.
  // Without it, a run follows the other strategies' runs, whose weights evicted its own: MobileNetV2
  // (14 MB of weights, a 32 MB L3) then measured 3.79 ms in validate against 3.38 ms in `run`, whose
  // repetitions are back to back; the other example models moved by under 1%.
  bool warm_run = true;
  double tolerance = 1e-3;  // outputs under any plan vs the all-nchw execution (see validate.cpp)
  bool json = false;
  bool no_store = false;  // do not write the validation into the database
  bool partial = false;   // leave out (and list) operators nobody can execute
  std::string report;     // also draw the plan and its validation into this folder (write_report)
  // Draws a plan JSON and a validation JSON into a folder (reports/, wired by app/main.cpp).
  std::function<void(const std::string& dir, const std::string& plan_json,
                     const std::string& validation_json)>
      write_report;
};

// `sweep --model M --cache network`, after the sweep of the model's problems (runtime/network_sweep.cpp):
// every candidate state of every sub-graph timed in the model's network, as `validate` times its
// candidates, and written over the row of the kernel it runs as.
struct NetworkSweepOptions {
  std::string model, db;
  std::vector<std::string> inputs, units;
  double budget_s = 8.0;  // all rounds together
  int min_reps = 5;
  int rounds = 3;
  double settle_s = 60;   // as ValidateCommandOptions::settle_s
  bool quiet = false;
};

int RunRun(const RunCommandOptions& o);
int RunNetworkSweep(const NetworkSweepOptions& o);
int RunValidate(const ValidateCommandOptions& o);

}  // namespace layoutdb::runtime
