// `layoutdb sweep` and `layoutdb devices`: profile this machine's units into a database.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/profiler/spec.h"

namespace layoutdb::profiler {

struct SweepOptions {
  std::string db_path;
  std::string spec = "quick";
  std::vector<std::string> units;   // unit names, or "cpu" / "ocl" for a kind; empty: all
  std::vector<std::string> ops;     // op names (conv2d, matmul, ...); empty: all
  std::vector<std::string> dtypes;  // restricts the spec's dtypes; empty: the spec's
  int shard_index = 0;              // --shard K/N, K zero-based
  int shard_count = 1;
  bool dry_run = false;
  bool quiet = false;
  bool add_target = false;          // allow a database that holds other machines' targets
  std::string cache;                // hot: repetitions back to back; warm: each thread's private caches
                                    // evicted and the weights flushed before each; cold: every cache
                                    // evicted before each; empty: the mode this machine's target in the
                                    // file was swept in (resuming it), warm for a new one (CacheModeFor)
  // Measure exactly these problem keys (canonical), with the spec's timing and dtypes, instead of the
  // spec's problems, reorders and transfers (`sweep --refine`: the selector picks them). Stored like
  // any sweep (spec name `<spec>+keys`); a key already measured is skipped, as on a resume.
  std::vector<std::string> keys;
  // With keys (`sweep --model`): also the conversions of these tensor shapes between every pair of a
  // unit's layouts (in the spec's conversion dtypes), and transfers of these sizes to and from every
  // OpenCL unit, so that a plan for the model needs no other sweep. Empty: none (`sweep --refine`).
  std::vector<microbench::Shape4> transition_shapes;
  std::vector<int64_t> transfer_bytes;
  int visits = 0;                   // visits per point (--visits); 0: the spec's (SweepSpec::visits)
  bool settle = true;               // wait for the CPU threads to be near each other before a timed pass
                                    // (--no-settle: never wait; passes timed apart are still counted)
};

// Exit codes of RunSweep.
constexpr int kSweepOk = 0;
constexpr int kSweepSomeFailed = 3;    // finished, but some points ended `failed` (stored, listed)
constexpr int kSweepInterrupted = 130; // SIGINT/SIGTERM: stopped after committing the point in flight

// Runs (or, with dry_run, lists) a sweep. Throws std::runtime_error / db::Error with one line for bad
// input (unknown spec, unit, op, dtype, cache mode; a database of another target without add_target;
// a file another sweep is writing: a sweep holds an advisory lock on its file for its whole life).
int RunSweep(const SweepOptions& options);

// The spec restricted to `keys` (see SweepOptions::keys): its problems replaced by the keys, its
// conversion shapes and transfer sizes by the given ones (none by default). Throws std::runtime_error
// naming a key that does not parse.
SweepSpec SpecOfKeys(const SweepSpec& spec, const std::vector<std::string>& keys,
                     const std::vector<microbench::Shape4>& transition_shapes = {},
                     const std::vector<int64_t>& transfer_bytes = {});

// Parses "K/N" (K in 0..N-1). Throws std::invalid_argument.
void ParseShard(const std::string& text, int* index, int* count);

// One unit of work: a problem on a unit (all its candidates timed interleaved), the reorders of one
// shape on a unit, or the transfers of one size to and from a device. Committed as one transaction.
struct WorkItem {
  enum class Kind { kProblem, kTransition, kTransfer };
  Kind kind = Kind::kProblem;
  size_t unit = 0;  // index into the units
  SpecProblem problem;
  microbench::Shape4 shape;
  std::string dtype;
  int64_t bytes = 0;
  std::string Label(const std::vector<std::unique_ptr<microbench::Unit>>& units) const;
};

// The sweep's work in a deterministic order, unit by unit; with shard_count > 1 only the items whose problem (or
// shape, or size) index modulo shard_count equals shard_index — every unit of one problem stays in one
// shard. Unknown unit/op/dtype names in the options throw.
std::vector<WorkItem> PlanWork(const SweepSpec& spec,
                               const std::vector<std::unique_ptr<microbench::Unit>>& units,
                               const SweepOptions& options);

// The target row (fingerprint and identity) of this machine, from its units: the hardware, the
// software, and how it measures (the threads the cpu unit's `execution` property says the kernels
// run on, when fewer than the machine's; the cache mode, when not hot).
db::TargetRow MakeTarget(const std::vector<std::unique_ptr<microbench::Unit>>& units,
                         const std::string& cache_mode = "hot");

// The cache mode a sweep into `database` takes when none is given: the mode of this machine's target
// there (the newest, where the file holds it in several modes), so that a sweep resumes as it began;
// `warm` for a file that holds no target of this machine. Warm is the default
// because it is the state a network leaves a kernel in (README, "Measuring"): plans priced from warm
// sweeps came closer to their runs than hot ones for five of six example models.
std::string CacheModeFor(db::Database& database, const std::vector<std::unique_ptr<microbench::Unit>>& units);

// What a point needs after a visit (or when a resumed sweep finds it with its visits open).
enum class VisitNext {
  kVisit,    // fewer than `visits` visits: the next pass visits it again
  kRevisit,  // all its visits, but its candidates moved together by more than the tolerance: one more
             // visit after the passes (a re-visit), within the point's and the sweep's re-visit budget
  kSettle,   // complete: write its rows from its visits
};
struct VisitPolicy {
  int visits = 3;               // visits a point (SweepSpec::visits or --visits)
  int max_revisits = 2;         // re-visits of one point at most
  double tolerance = 0.05;      // the level spread (microbench::VisitLevelSpread) that asks for one
  int64_t revisit_cap = 0;      // re-visits of the whole sweep at most
};
// `done`: the point's visits so far; `timed`: whether any candidate is still timed in later visits (no:
// all unsupported, failed or reference kernels, settled after the first visit); `level_spread`: over
// its visits; `revisits_reserved`: re-visits this sweep already granted.
VisitNext NextVisit(const VisitPolicy& policy, int done, bool timed, double level_spread, int64_t revisits_reserved);

struct DevicesOptions {
  bool json = false;
};
int RunDevices(const DevicesOptions& options);

}  // namespace layoutdb::profiler
