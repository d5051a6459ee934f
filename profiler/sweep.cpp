#include "layoutdb/profiler/sweep.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_set>

#include "layoutdb/microbench/calibration.h"
#include "layoutdb/microbench/execution.h"
#include "layoutdb/microbench/measure.h"
#include "lock.h"
#include "progress.h"

namespace layoutdb::profiler {
namespace {

using microbench::Candidate;
using microbench::Kernel;
using microbench::Prepared;
using microbench::Unit;
using nlohmann::json;

constexpr const char* kToolVersion = "layoutdb 0.1.0";

std::atomic<bool> g_stop{false};
extern "C" void OnStopSignal(int) { g_stop = true; }

// Installs SIGINT/SIGTERM handlers for the sweep's lifetime. The first signal lets the point in flight
// finish and commit; the handler resets itself, so a second Ctrl-C kills at once (nothing is lost: every
// committed point is in the file).
class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop = false;
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignal() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

std::string StatusName(Prepared::Status s) {
  switch (s) {
    case Prepared::Status::kOk: return "ok";
    case Prepared::Status::kUnsupported: return "unsupported";
    case Prepared::Status::kFailed: return "failed";
  }
  return "failed";
}

using microbench::ToStats;

// The statistics of a stored visit, back as the harness's summary (to combine visits).
microbench::Summary FromStats(const db::Stats& d) {
  microbench::Summary s;
  s.median_us = d.median_us;
  s.p10_us = d.p10_us;
  s.p90_us = d.p90_us;
  s.mean_us = d.mean_us;
  s.stddev_us = d.stddev_us;
  s.min_us = d.min_us;
  s.repetitions = static_cast<int>(d.repetitions);
  s.rel_ci = d.rel_ci;
  s.stable = d.stable.value_or(false);
  s.has_host = d.host_median_us.has_value();
  s.host_median_us = d.host_median_us.value_or(0);
  s.host_p10_us = d.host_p10_us.value_or(0);
  s.host_p90_us = d.host_p90_us.value_or(0);
  return s;
}

// One timed run of a kernel: its own figure and, beside it, the host's (OpenCL).
microbench::Sample Run(Kernel* k) {
  const double us = k->RunUs();
  return {us, k->LastHostUs()};
}

// One candidate's outcome before it is written.
struct Outcome {
  std::string status = "failed", reason, impl, chosen_layout, config, timer = "host";
  bool is_reference = false;
  std::unique_ptr<Kernel> kernel;
  std::optional<db::Stats> stats;
};

// Prepares and checks every candidate, then times the healthy ones interleaved. Exceptions from a unit
// (a device that dies mid-sweep) end that candidate as `failed` with the message; the sweep goes on.
// `which`: the candidates this visit prepares (the others stay untouched); `check`: compare each
// result with the reference (the first visit; later visits time kernels that passed it); `cache`: the
// state each run starts from (it replaces `cfg.before_run`).
void PrepareCheckAndTime(std::vector<Outcome>& outs, const std::vector<std::function<Prepared()>>& prepare,
                         const std::vector<size_t>& which, bool check, const microbench::MeasureConfig& cfg_in,
                         microbench::CacheState& cache) {
  const std::string& cache_mode = cache.mode();
  std::vector<std::function<microbench::Sample()>> runners;
  std::vector<size_t> timed;
  std::vector<const Kernel*> kernels;  // of `timed`
  microbench::MeasureConfig cfg = cfg_in;
  for (size_t i : which) {
    Outcome& o = outs[i];
    try {
      Prepared p = prepare[i]();
      o.status = StatusName(p.status);
      o.reason = p.reason;
      if (!p.reference_impl.empty()) o.impl = p.reference_impl, o.is_reference = true;
      if (p.status != Prepared::Status::kOk) continue;
      o.kernel = std::move(p.kernel);
      o.impl = o.kernel->Impl();
      o.is_reference = o.kernel->IsReference();
      o.chosen_layout = o.kernel->ChosenLayout();
      o.config = o.kernel->Config();
      o.timer = o.kernel->Timer();
      const std::string wrong = check ? o.kernel->Check() : std::string();
      if (!wrong.empty()) {
        o.status = "failed";
        o.reason = "wrong result: " + wrong;
        o.kernel.reset();
        continue;
      }
      Kernel* k = o.kernel.get();
      if (o.is_reference) {
        // Flagged and never recommended: three runs say how slow it is, without spending the budget
        // of the candidates that matter (a reference bf16 conv can take seconds a run).
        o.reason = "reference implementation: never recommended";
        microbench::MeasureConfig quick = cfg;
        quick.warmup = 0;
        quick.min_reps = quick.max_reps = 3;
        quick.candidate_budget_s = 0;
        quick.before_run = cache.BeforeRun({k});
        o.stats = ToStats(microbench::MeasureInterleavedTimed({[k] { return Run(k); }}, quick).front(),
                          o.timer, cache_mode);
        continue;
      }
      runners.push_back([k] { return Run(k); });
      kernels.push_back(k);
      timed.push_back(i);
    } catch (const std::exception& e) {
      o.status = "failed";
      o.reason = e.what();
      o.kernel.reset();
    }
  }
  if (runners.empty()) return;
  cfg.before_run = cache.BeforeRun(kernels);
  try {
    const auto summaries = microbench::MeasureInterleavedTimed(runners, cfg);
    for (size_t j = 0; j < timed.size(); ++j)
      outs[timed[j]].stats = ToStats(summaries[j], outs[timed[j]].timer, cache_mode);
  } catch (const std::exception& e) {
    for (size_t i : timed) {
      outs[i].status = "failed";
      outs[i].reason = std::string("failed while timing: ") + e.what();
    }
  }
  for (auto& o : outs) o.kernel.reset();  // free memory before the next point
}

bool MatchesUnit(const std::string& want, const Unit& u) {
  if (want == u.Name()) return true;
  if (want == "ocl" || want == "opencl") return u.Info().kind == "opencl";
  return false;
}

std::string JoinNames(const std::vector<std::unique_ptr<Unit>>& units) {
  std::vector<std::string> n;
  for (const auto& u : units) n.push_back(u->Name());
  return fmt::format("{}", fmt::join(n, ", "));
}

// One line summing up a point, for the non-TTY progress lines.
std::string ResultLine(const std::string& label, const std::vector<std::string>& names,
                       const std::vector<Outcome>& outs) {
  int ok = 0, unsup = 0, failed = 0;
  double best = 0;
  std::string best_name;
  for (size_t i = 0; i < outs.size(); ++i) {
    const auto& o = outs[i];
    if (o.status == "ok") {
      ++ok;
      if (o.stats && !o.is_reference && (best == 0 || o.stats->median_us < best)) {
        best = o.stats->median_us;
        best_name = names[i];
      }
    } else if (o.status == "unsupported") {
      ++unsup;
    } else {
      ++failed;
    }
  }
  std::string s = fmt::format("{}: {} ok", label, ok);
  if (unsup) s += fmt::format(", {} unsupported", unsup);
  if (failed) s += fmt::format(", {} FAILED", failed);
  if (!best_name.empty()) s += fmt::format("; best {} {:.1f} us", best_name, best);
  return s;
}

}  // namespace

void ParseShard(const std::string& text, int* index, int* count) {
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("");
    size_t a = 0, b = 0;
    const int k = std::stoi(text.substr(0, slash), &a);
    const int n = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1 || n < 1 || k < 0 || k >= n)
      throw std::invalid_argument("");
    *index = k;
    *count = n;
  } catch (const std::exception&) {
    throw std::invalid_argument(
        fmt::format("bad --shard '{}': expected K/N with 0 <= K < N, e.g. 0/4", text));
  }
}

VisitNext NextVisit(const VisitPolicy& p, int done, bool timed, double level_spread, int64_t revisits_reserved) {
  if (!timed && done >= 1) return VisitNext::kSettle;
  if (done < p.visits) return VisitNext::kVisit;
  if (done - p.visits < p.max_revisits && revisits_reserved < p.revisit_cap && level_spread > p.tolerance)
    return VisitNext::kRevisit;
  return VisitNext::kSettle;
}

std::string WorkItem::Label(const std::vector<std::unique_ptr<Unit>>& units) const {
  const std::string& u = units[unit]->Name();
  switch (kind) {
    case Kind::kProblem: return fmt::format("{} {}", u, problem.problem.Key());
    case Kind::kTransition: return fmt::format("{} reorder {} {}", u, shape.Key(), dtype);
    case Kind::kTransfer: return fmt::format("cpu<->{} transfer {} bytes", u, bytes);
  }
  return u;
}

std::vector<WorkItem> PlanWork(const SweepSpec& spec, const std::vector<std::unique_ptr<Unit>>& units,
                               const SweepOptions& o) {
  for (const auto& want : o.units) {
    if (std::none_of(units.begin(), units.end(), [&](const auto& u) { return MatchesUnit(want, *u); }))
      throw std::runtime_error(
          fmt::format("unit '{}' not found; this machine has: {}", want, JoinNames(units)));
  }
  for (const auto& op : o.ops)
    if (std::find(KnownOps().begin(), KnownOps().end(), op) == KnownOps().end())
      throw std::runtime_error(
          fmt::format("unknown op '{}' in --ops (known: {})", op, fmt::join(KnownOps(), ", ")));
  for (const auto& d : o.dtypes) DtypeSize(d);  // throws for an unknown dtype
  auto unit_wanted = [&](const Unit& u) {
    return o.units.empty() ||
           std::any_of(o.units.begin(), o.units.end(), [&](const auto& w) { return MatchesUnit(w, u); });
  };
  auto dtypes_of = [&](const std::vector<std::string>& wanted) {
    if (o.dtypes.empty()) return wanted;
    std::vector<std::string> out;
    for (const auto& d : wanted)
      if (std::find(o.dtypes.begin(), o.dtypes.end(), d) != o.dtypes.end()) out.push_back(d);
    return out;
  };

  std::vector<WorkItem> work;
  size_t index = 0;  // shard index over problems, then shapes, then sizes
  auto in_shard = [&] { return static_cast<int>(index++ % o.shard_count) == o.shard_index; };
  for (const auto& sp : spec.problems) {
    if (!in_shard()) continue;
    if (!o.ops.empty() && std::find(o.ops.begin(), o.ops.end(), sp.problem.op()) == o.ops.end()) continue;
    SpecProblem p = sp;
    p.dtypes = dtypes_of(sp.dtypes);
    if (p.dtypes.empty()) continue;
    for (size_t u = 0; u < units.size(); ++u) {
      if (!unit_wanted(*units[u])) continue;
      WorkItem w;
      w.kind = WorkItem::Kind::kProblem;
      w.unit = u;
      w.problem = p;
      work.push_back(std::move(w));
    }
  }
  const bool reorders_wanted = o.ops.empty();  // --ops restricts to operator problems
  for (const auto& shape : spec.transition_shapes) {
    if (!in_shard() || !reorders_wanted) continue;
    for (const auto& dtype : dtypes_of(spec.transition_dtypes)) {
      for (size_t u = 0; u < units.size(); ++u) {
        if (!unit_wanted(*units[u]) || units[u]->Layouts().size() < 2) continue;
        WorkItem w;
        w.kind = WorkItem::Kind::kTransition;
        w.unit = u;
        w.shape = shape;
        w.dtype = dtype;
        work.push_back(std::move(w));
      }
    }
  }
  for (int64_t bytes : spec.transfer_bytes) {
    if (!in_shard() || !reorders_wanted) continue;
    for (size_t u = 0; u < units.size(); ++u) {
      if (!unit_wanted(*units[u]) || units[u]->TransferMethods().empty()) continue;
      WorkItem w;
      w.kind = WorkItem::Kind::kTransfer;
      w.unit = u;
      w.bytes = bytes;
      work.push_back(std::move(w));
    }
  }
  // One unit at a time: on a CPU-only OpenCL device (PoCL) its worker threads and oneDNN's OpenMP
  // threads share the cores, so a point timed right after the other unit's work can inherit its
  // threads' spinning; grouping by unit keeps that to one boundary per unit.
  std::stable_sort(work.begin(), work.end(), [](const WorkItem& a, const WorkItem& b) { return a.unit < b.unit; });
  return work;
}

db::TargetRow MakeTarget(const std::vector<std::unique_ptr<Unit>>& units, const std::string& cache_mode) {
  db::TargetRow t;
  const auto& cpu = units.front()->Info();
  const json& p = cpu.properties;
  t.cpu_model = cpu.device_name;
  t.isa = p.value("isa", "unknown");
  t.cores = std::max<int64_t>(1, p.value("cores", cpu.compute_units));
  t.threads = std::max<int64_t>(1, p.value("threads", t.cores));
  t.caches = p.value("caches", json::object()).dump();
  t.os = p.value("os", "unknown");
  t.hostname = p.value("hostname", "unknown");
  json libs = json::object();
  libs["onednn"] = cpu.driver;
  json ocl = json::array();
  for (size_t i = 1; i < units.size(); ++i) {
    const auto& u = units[i]->Info();
    ocl.push_back(fmt::format("{}: {} ({}; {})", u.name, u.device_name, u.vendor, u.driver));
  }
  libs["opencl"] = ocl;
  t.libraries = libs.dump();
  // The identity of the hardware and the software that measured it; hostname and kernel release stay
  // out, so the same machine keeps its target across reboots and renames.
  const std::string os_release = t.os.substr(0, t.os.find(';'));  // "Debian GNU/Linux 12 (bookworm)"
  json id = {{"cpu_model", t.cpu_model}, {"isa", t.isa}, {"cores", t.cores}, {"threads", t.threads},
             {"os", os_release}, {"libraries", libs}};
  // And how it measured: the threads the kernels actually ran on (an affinity mask, a cgroup CPU
  // limit, OMP_NUM_THREADS: 2 CPUs of a 64-core node are another target than the node) and the cache
  // mode. Each joins the identity only when it differs from the whole machine measured hot, so that
  // files made before these were recorded keep their target.
  const int64_t used = p.contains("execution") ? p.at("execution").value("threads", t.threads) : t.threads;
  if (used != t.threads) id["threads_used"] = used;
  if (cache_mode != "hot") id["cache"] = cache_mode;
  t.fingerprint = HashHex(id.dump());
  return t;
}

std::string CacheModeFor(db::Database& database, const std::vector<std::unique_ptr<Unit>>& units) {
  std::string mode = "warm";
  int64_t newest = -1;
  for (const char* m : {"hot", "warm", "cold"}) {
    const auto t = database.TargetByFingerprint(MakeTarget(units, m).fingerprint);
    if (t && t->id > newest) newest = t->id, mode = m;
  }
  return mode;
}

namespace {

// The status, reason and statistics every kind of row shares.
template <typename Row>
void SetOutcome(Row& row, const Outcome& r, int64_t sweep_id) {
  row.sweep_id = sweep_id;
  row.status = r.status;
  row.reason = r.reason;
  if (r.status == "ok") row.stats = r.stats;
}

// What one point runs and stores: per candidate, its name (for progress lines), how to prepare its
// kernel, how to write its row, and the row's done-key (empty when not yet computable).
struct Point {
  std::string kind;  // the visits' kind: measurement, transition, transfer
  std::vector<std::string> names;
  std::vector<std::function<Prepared()>> prepare;
  std::vector<std::function<void(const Outcome&, db::Database&, int64_t problem_id)>> store;
  std::vector<std::string> keys;
  std::vector<std::string> key_tails;  // measurements: the key after the problem id
  // The done-key (and visits' key) of candidate i, once the problem's row id is known.
  std::string Key(size_t i, int64_t problem_id) const {
    return kind == "measurement" ? std::to_string(problem_id) + key_tails[i] : keys[i];
  }
};

Point MakePoint(const WorkItem& w, Unit& unit, int64_t unit_id, int64_t cpu_unit_id, int64_t sweep_id,
                std::optional<int64_t> problem_id) {
  Point pt;
  pt.kind = w.kind == WorkItem::Kind::kProblem ? "measurement"
            : w.kind == WorkItem::Kind::kTransition ? "transition" : "transfer";
  if (w.kind == WorkItem::Kind::kProblem) {
    const Problem& p = w.problem.problem;
    for (const Candidate& c : unit.Candidates(p, w.problem.dtypes)) {
      pt.names.push_back(c.Layout() + "/" + c.dtype);
      pt.key_tails.push_back(fmt::format("|{}|{}|{}", unit_id, c.Layout(), c.dtype));
      pt.keys.push_back(problem_id ? std::to_string(*problem_id) + pt.key_tails.back() : "");
      pt.prepare.push_back([&unit, p, c] { return unit.Prepare(p, c); });
      pt.store.push_back([c, unit_id, sweep_id](const Outcome& r, db::Database& d, int64_t pid) {
        db::MeasurementRow m;
        m.problem_id = pid;
        m.unit_id = unit_id;
        m.layout = c.Layout();
        m.src_layout = c.src_layout;
        m.dst_layout = c.dst_layout;
        m.dtype = c.dtype;
        SetOutcome(m, r, sweep_id);
        m.impl = r.impl;
        m.is_reference = r.is_reference;
        m.chosen_layout = r.chosen_layout;
        m.config = r.config;
        d.PutMeasurement(m);
      });
    }
  } else if (w.kind == WorkItem::Kind::kTransition) {
    for (const auto& src : unit.Layouts()) {
      for (const auto& dst : unit.Layouts()) {
        if (src == dst) continue;
        const auto shape = w.shape;
        const auto dtype = w.dtype;
        pt.names.push_back(src + ">" + dst);
        pt.keys.push_back(fmt::format("{}|{}|{}|{}|{}", unit_id, src, dst, dtype, shape.Key()));
        pt.prepare.push_back([&unit, shape, src, dst, dtype] { return unit.PrepareReorder(shape, src, dst, dtype); });
        pt.store.push_back([=](const Outcome& r, db::Database& d, int64_t) {
          db::TransitionRow t;
          t.unit_id = unit_id;
          t.src_layout = src;
          t.dst_layout = dst;
          t.dtype = dtype;
          t.shape = shape.Key();
          t.bytes = shape.Elems() * DtypeSize(dtype);
          SetOutcome(t, r, sweep_id);
          t.impl = r.impl;
          d.PutTransition(t);
        });
      }
    }
  } else {
    for (const auto& method : unit.TransferMethods()) {
      // write and unmap move data host -> device; read and map device -> host.
      const bool to_device = method == "write" || method == "unmap";
      const int64_t src = to_device ? cpu_unit_id : unit_id, dst = to_device ? unit_id : cpu_unit_id;
      const int64_t bytes = w.bytes;
      pt.names.push_back(method);
      pt.keys.push_back(fmt::format("{}|{}|{}|{}", src, dst, method, bytes));
      pt.prepare.push_back([&unit, method, bytes] { return unit.PrepareTransfer(method, bytes); });
      pt.store.push_back([=](const Outcome& r, db::Database& d, int64_t) {
        db::TransferRow t;
        t.src_unit_id = src;
        t.dst_unit_id = dst;
        t.method = method;
        t.bytes = bytes;
        SetOutcome(t, r, sweep_id);
        d.PutTransfer(t);
      });
    }
  }
  return pt;
}

// --dry-run: every point and its candidates, validated, nothing run or written.
int DryRun(const SweepSpec& spec, const std::vector<std::unique_ptr<Unit>>& units,
           const std::vector<WorkItem>& work, const SweepOptions& o) {
  size_t candidates = 0;
  for (const auto& w : work) {
    const Point pt = MakePoint(w, *units[w.unit], 0, 0, 0, std::nullopt);
    candidates += pt.names.size();
    if (!o.quiet)
      fmt::print("{}  [{} candidates: {}]\n", w.Label(units), pt.names.size(), fmt::join(pt.names, " "));
  }
  fmt::print("dry run: spec {} ({}), shard {}/{}: {} points, {} candidates, {} visits a point, all valid\n",
             spec.name, spec.origin, o.shard_index, o.shard_count, work.size(), candidates,
             std::max(1, o.visits > 0 ? o.visits : spec.visits));
  return kSweepOk;
}

// Stores this machine's target (refusing a file of another machine unless asked) and its units;
// returns the units' row ids, in the order of `units`.
std::vector<int64_t> RegisterTargetAndUnits(db::Database& database,
                                            const std::vector<std::unique_ptr<Unit>>& units,
                                            const SweepOptions& o, int64_t* target_id) {
  const db::TargetRow target = MakeTarget(units, o.cache);
  const auto existing = database.Targets();
  const bool ours = std::any_of(existing.begin(), existing.end(),
                                [&](const auto& t) { return t.fingerprint == target.fingerprint; });
  if (!ours && !existing.empty() && !o.add_target)
    throw std::runtime_error(fmt::format(
        "{} holds measurements of another target ({}, {}, fingerprint {}); this machine is {} "
        "(fingerprint {}; {} threads, {} cache). Use another file, or pass --add-target to keep both "
        "targets apart in this one",
        o.db_path, existing.front().cpu_model, existing.front().isa, existing.front().fingerprint,
        target.cpu_model, target.fingerprint,
        units.front()->Info().properties.value("execution", json::object()).value("threads", target.threads),
        o.cache));
  db::Database::Transaction tx(database);
  *target_id = database.UpsertTarget(target);
  std::vector<int64_t> unit_ids;
  for (const auto& u : units) {
    const auto& i = u->Info();
    db::UnitRow r;
    r.target_id = *target_id;
    r.name = i.name;
    r.kind = i.kind;
    r.vendor = i.vendor;
    r.device_name = i.device_name;
    r.driver = i.driver;
    r.compute_units = std::max<int64_t>(1, i.compute_units);
    r.clock_mhz = i.clock_mhz;
    r.global_mem = i.global_mem;
    r.local_mem = i.local_mem;
    r.properties = i.properties.dump();
    unit_ids.push_back(database.UpsertUnit(r));
  }
  tx.Commit();
  return unit_ids;
}

}  // namespace

namespace {

// Seconds between calibrations (and one at the start and the end of every sweep).
constexpr double kCalibrationEveryS = 15;
// The most a sweep waits for its threads to come near each other: this, plus this share of its time.
constexpr double kSettleBaseS = 10;
constexpr double kSettleShare = 0.2;

void Calibrate(microbench::Calibrator& cal, db::Database& database, int64_t sweep_id, int64_t points_done) {
  const auto results = cal.Run();
  db::Database::Transaction tx(database);
  for (const auto& r : results) {
    db::CalibrationRow c;
    c.sweep_id = sweep_id;
    c.kernel = r.kernel;
    c.points_done = points_done;
    c.median_us = r.summary.median_us;
    c.p10_us = r.summary.p10_us;
    c.p90_us = r.summary.p90_us;
    c.repetitions = r.summary.repetitions;
    c.work = r.work;
    database.PutCalibration(c);
  }
  tx.Commit();
}

// "machine over the sweep (5 calibration checks): compute 412 us (range 1.3%), memory 3.1 ms (range
// 4.0%)": how much the machine itself moved during the sweep, for the summary. When the file holds
// earlier sweeps of the same target: "; against the file's earlier sweeps: compute x1.08, memory
// x1.02" (this sweep's median over theirs; > 1: slower now). A sweep that adds rows to a file (sweep
// --model, --refine, a resumed one) measures at the machine's speed of its moment, beside rows of
// another: on a 2-vCPU VM two sweeps three minutes apart timed BERT-base's largest matmul 9% apart.
// The calibration kernels follow such drift only loosely (one thread each; the memory one swings
// with a neighbour's load): a hint, not a correction.
std::string CalibrationLine(db::Database& database, int64_t sweep_id) {
  std::map<std::string, std::vector<double>> by_kernel, earlier;
  for (const auto& c : database.Calibrations(sweep_id)) by_kernel[c.kernel].push_back(c.median_us);
  int64_t target = -1;
  std::set<int64_t> same_target;
  const std::vector<db::SweepRow> sweeps = database.Sweeps();
  for (const auto& sw : sweeps)
    if (sw.id == sweep_id) target = sw.target_id;
  for (const auto& sw : sweeps)
    if (sw.id < sweep_id && sw.target_id == target) same_target.insert(sw.id);
  if (!same_target.empty())
    for (const auto& c : database.Calibrations())
      if (same_target.count(c.sweep_id)) earlier[c.kernel].push_back(c.median_us);
  std::vector<std::string> parts, against;
  size_t checks = 0;
  for (const auto& [kernel, v] : by_kernel) {
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    const double median = microbench::Percentile(v, 0.5);
    parts.push_back(fmt::format("{} {:.0f} us (range {:.1f}%)", kernel, median, 100.0 * (*hi - *lo) / median));
    checks = std::max(checks, v.size());
    auto e = earlier.find(kernel);
    if (e == earlier.end()) continue;
    const double ratio = median / microbench::Percentile(e->second, 0.5);
    against.push_back(fmt::format("{} x{:.2f}", kernel, ratio));
  }
  if (parts.empty()) return {};
  return fmt::format("machine over the sweep ({} calibration checks): {}{}", checks, fmt::join(parts, ", "),
                     against.empty() ? "" : fmt::format("; against the file's earlier sweeps: {}", fmt::join(against, ", ")));
}

}  // namespace

SweepSpec SpecOfKeys(const SweepSpec& spec, const std::vector<std::string>& keys,
                     const std::vector<microbench::Shape4>& transition_shapes,
                     const std::vector<int64_t>& transfer_bytes) {
  SweepSpec out = spec;
  out.name = spec.name + "+keys";
  out.problems.clear();
  out.transition_shapes = transition_shapes;
  if (transition_shapes.empty()) out.transition_dtypes.clear();
  else if (out.transition_dtypes.empty()) out.transition_dtypes = {"f32"};
  out.transfer_bytes = transfer_bytes;
  json j = json::parse(spec.text);
  j["name"] = out.name;
  j["problems"] = json::array({json{{"name", "keys"}, {"keys", keys}}});
  j.erase("transitions");
  j.erase("transfers");
  if (!transition_shapes.empty()) {
    json shapes = json::array();
    for (const auto& sh : transition_shapes) shapes.push_back(sh.Key());
    j["transitions"] = {{"shapes", shapes}, {"dtypes", out.transition_dtypes}};
  }
  if (!transfer_bytes.empty()) j["transfers"] = {{"bytes", transfer_bytes}};
  for (const auto& k : keys) {
    try {
      out.problems.push_back({Problem::Parse(k), spec.dtypes, "keys"});
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("problem key '{}': {}", k, e.what()));
    }
  }
  out.text = j.dump(1);
  out.hash = HashHex(out.text);
  return out;
}

int RunSweep(const SweepOptions& options) {
  if (!options.cache.empty() && options.cache != "hot" && options.cache != "warm" && options.cache != "cold")
    throw std::invalid_argument(fmt::format("bad --cache '{}': expected hot, warm or cold", options.cache));
  const SweepSpec spec = options.keys.empty()
                             ? LoadSpec(options.spec)
                             : SpecOfKeys(LoadSpec(options.spec), options.keys, options.transition_shapes,
                                          options.transfer_bytes);
  std::vector<std::string> warnings;
  auto units = microbench::DiscoverUnits(&warnings);
  for (const auto& w : warnings) fmt::print(stderr, "layoutdb: warning: {}\n", w);
  SweepOptions o = options;
  const auto work = PlanWork(spec, units, o);
  if (o.dry_run) return DryRun(spec, units, work, o);

  // One writer per file, for the sweep's whole life: declared before the connection, so that it is
  // released after it (see lock.cpp).
  const WriterLock lock(o.db_path);
  auto database = db::Database::Open(o.db_path, db::Mode::kReadWrite);
  if (o.cache.empty()) o.cache = CacheModeFor(database, units);
  int64_t target_id = 0;
  const std::vector<int64_t> unit_ids = RegisterTargetAndUnits(database, units, o, &target_id);
  const int64_t cpu_unit_id = unit_ids.front();

  // Sweeps left `running` by a killed process are marked interrupted (we hold the file's lock, so
  // their process is gone); this run resumes their work.
  for (const auto& s : database.Sweeps())
    if (s.status == "running" && s.target_id == target_id)
      database.FinishSweep(s.id, "interrupted", s.points_done);

  const auto done_list = database.DoneKeys(target_id);
  const std::unordered_set<std::string> done(done_list.begin(), done_list.end());

  db::SweepRow sweep;
  sweep.target_id = target_id;
  sweep.spec_name = spec.name;
  sweep.spec = spec.text;
  sweep.spec_hash = spec.hash;
  sweep.shard_index = o.shard_index;
  sweep.shard_count = o.shard_count;
  sweep.filters = json{{"units", o.units}, {"ops", o.ops}, {"dtypes", o.dtypes}}.dump();
  sweep.tool_version = kToolVersion;
  sweep.started_at = db::NowUtc();
  sweep.status = "running";
  sweep.points_total = static_cast<int64_t>(work.size());
  sweep.cache_mode = o.cache;
  sweep.execution = units.front()->Info().properties.value("execution", json::object()).dump();
  const int64_t sweep_id = database.InsertSweep(sweep);

  // How the points are timed: the spec's budget, per candidate where it says so; each run from the
  // cache state of o.cache (outside the timed interval and the budget). Transitions are timed cold in
  // the cold mode, and back to back otherwise: in a network a conversion reads what was just written.
  microbench::MeasureConfig measure = spec.measure;
  const size_t llc = microbench::LastLevelCacheBytes(*units.front());
  microbench::CacheState cache(o.cache, *units.front());
  if (o.cache == "cold") measure.before_run = cache.BeforeRun({});
  // Every timed pass waits for the kernels' threads to be near each other (microbench::PlacementGate),
  // within an allowance that grows with the sweep: kSettleBaseS plus kSettleShare of its time so far.
  // Where the machine's placement never moves, no pass waits.
  microbench::PlacementGate gate(o.settle ? kSettleBaseS : 0);
  measure.gate = &gate;
  microbench::Calibrator calibrator(llc);
  Calibrate(calibrator, database, sweep_id, 0);
  auto last_calibration = std::chrono::steady_clock::now();

  StopOnSignal stop_guard;
  const int visits = std::max(1, o.visits > 0 ? o.visits : spec.visits);
  const microbench::MeasureConfig visit_measure = microbench::VisitConfig(measure, visits);
  // Re-visits of points whose visits disagree as a whole, at most this many in this run.
  const int64_t revisit_cap = static_cast<int64_t>(std::ceil(spec.revisit_share * static_cast<double>(work.size())));
  const VisitPolicy policy{visits, spec.max_revisits, spec.revisit_tolerance, revisit_cap};
  const auto started = std::chrono::steady_clock::now();
  int64_t points_done = 0, resumed = 0, revisits = 0, revisits_reserved = 0, revisited_points = 0,
          still_disagreeing = 0;
  std::map<std::string, int64_t> by_status;
  int64_t flagged_reference = 0, stable = 0;
  std::vector<std::string> failures;

  // Every point's state: its candidates, its problem's row id once known, its open visits (from
  // this run, or stored by a killed one), and whether its rows are written (settled).
  std::map<std::string, std::vector<db::VisitRow>> open_by_key;
  for (auto& v : database.OpenVisits(target_id)) open_by_key[v.kind + " " + v.key].push_back(std::move(v));
  struct State {
    Point pt;
    std::optional<int64_t> pid;
    std::vector<std::vector<db::VisitRow>> visits;  // per candidate, in visit order
    int done = 0;                                    // visits done
    bool settled = false, revisited = false;
  };
  std::vector<State> states;
  states.reserve(work.size());
  for (const auto& w : work) {
    State st;
    if (w.kind == WorkItem::Kind::kProblem)
      if (auto row = database.ProblemByKey(w.problem.problem.Key())) st.pid = row->id;
    st.pt = MakePoint(w, *units[w.unit], unit_ids[w.unit], cpu_unit_id, sweep_id, st.pid);
    st.visits.resize(st.pt.names.size());
    const bool keyed = st.pid.has_value() || st.pt.kind != "measurement";
    st.settled = keyed && !st.pt.keys.empty() && std::all_of(st.pt.keys.begin(), st.pt.keys.end(), [&](const auto& k) {
      return done.count(k) > 0;
    });
    if (keyed && !st.settled) {
      for (size_t c = 0; c < st.pt.names.size(); ++c) {
        auto it = open_by_key.find(st.pt.kind + " " + st.pt.Key(c, st.pid.value_or(0)));
        if (it == open_by_key.end()) continue;
        st.visits[c] = it->second;
        for (const auto& v : it->second) st.done = std::max<int>(st.done, static_cast<int>(v.visit));
      }
    }
    states.push_back(std::move(st));
  }
  Progress progress(Progress::ModeFor(o.quiet), work.size() * static_cast<size_t>(visits));

  // The candidates a later visit times: those whose every visit so far was ok, reference kernels
  // aside (three runs of their first visit say how slow they are).
  auto to_time = [](const State& st) {
    std::vector<size_t> which;
    for (size_t c = 0; c < st.visits.size(); ++c) {
      const auto& v = st.visits[c];
      if (v.empty()) continue;
      if (v.front().is_reference) continue;
      if (std::all_of(v.begin(), v.end(), [](const db::VisitRow& r) { return r.status == "ok"; })) which.push_back(c);
    }
    return which;
  };
  auto level_spread = [&](const State& st) {
    std::vector<std::vector<double>> medians;
    for (size_t c : to_time(st)) {
      std::vector<double> m(static_cast<size_t>(st.done), 0.0);
      for (const auto& v : st.visits[c])
        if (v.stats && v.visit >= 1 && v.visit <= st.done) m[static_cast<size_t>(v.visit - 1)] = v.stats->median_us;
      medians.push_back(std::move(m));
    }
    return microbench::VisitLevelSpread(medians);
  };
  // Writes the rows of a point from its visits (inside the caller's transaction) and counts them.
  auto settle = [&](State& st, const std::string& label) {
    for (size_t c = 0; c < st.visits.size(); ++c) {
      const auto& v = st.visits[c];
      if (v.empty()) continue;
      Outcome r;
      const db::VisitRow& first = v.front();
      r.status = first.status;
      r.reason = first.reason;
      for (const auto& x : v)
        if (x.status == "failed") {  // a kernel that failed in any visit is not trusted
          r.status = "failed";
          r.reason = x.visit > 1 ? fmt::format("visit {}: {}", x.visit, x.reason) : x.reason;
        }
      r.impl = v.back().impl.empty() ? first.impl : v.back().impl;
      r.is_reference = first.is_reference;
      r.chosen_layout = first.chosen_layout;
      r.config = first.config;
      if (r.status == "ok") {
        std::vector<microbench::Summary> ok;
        for (const auto& x : v)
          if (x.stats) ok.push_back(FromStats(*x.stats));
        if (ok.size() == 1) {
          r.stats = first.stats;
        } else if (!ok.empty()) {
          const db::Stats& any = *first.stats;
          r.stats = ToStats(microbench::CombineVisits(ok, spec.measure.target_rel_ci), any.timer, any.cache_mode);
        }
        r.timer = r.stats ? r.stats->timer : "host";
      }
      st.pt.store[c](r, database, st.pid.value_or(0));
      database.SettleVisits(st.pt.kind, st.pt.Key(c, st.pid.value_or(0)));
      ++by_status[r.status];
      if (r.status == "ok" && r.stats && r.stats->stable.value_or(false)) ++stable;
      if (r.is_reference) ++flagged_reference;
      if (r.status == "failed") failures.push_back(fmt::format("{} {}: {}", label, st.pt.names[c], r.reason));
    }
    st.settled = true;
    database.SetSweepProgress(sweep_id, ++points_done);
  };
  // After a visit (or on resume), whether the point is complete: settle it, or queue a re-visit.
  std::vector<size_t> revisit_queue;
  auto decide = [&](State& st, size_t index, const std::string& label) {
    if (st.settled) return;
    const bool timed = !to_time(st).empty();
    const double spread = timed ? level_spread(st) : 0;
    switch (NextVisit(policy, st.done, timed, spread, revisits_reserved)) {
      case VisitNext::kVisit: return;
      case VisitNext::kRevisit:
        ++revisits_reserved;
        revisit_queue.push_back(index);
        return;
      case VisitNext::kSettle:
        if (spread > spec.revisit_tolerance) ++still_disagreeing;
        settle(st, label);
    }
  };
  auto maybe_calibrate = [&] {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_calibration).count() >
        kCalibrationEveryS) {
      Calibrate(calibrator, database, sweep_id, points_done);
      last_calibration = std::chrono::steady_clock::now();
    }
  };
  // One visit of a point: prepare, check (first visit), time, and commit the visit with, when it
  // completes the point, the point's rows. A kill loses at most this visit.
  auto visit = [&](State& st, size_t index, const WorkItem& w) {
    const int number = st.done + 1;
    const std::string label = w.Label(units);
    progress.Start(fmt::format("{} (visit {}/{})", label, number, visits));
    const auto point_start = std::chrono::steady_clock::now();
    gate.set_allowance_s(o.settle ? kSettleBaseS + kSettleShare *
                                                       std::chrono::duration<double>(point_start - started).count()
                                  : 0);
    std::vector<size_t> which;
    if (number == 1) {
      for (size_t c = 0; c < st.pt.names.size(); ++c) which.push_back(c);
    } else {
      which = to_time(st);
    }
    std::vector<Outcome> outs(st.pt.prepare.size());
    PrepareCheckAndTime(outs, st.pt.prepare, which, number == 1, visits > 1 ? visit_measure : measure, cache);
    {
      db::Database::Transaction tx(database);
      if (w.kind == WorkItem::Kind::kProblem) st.pid = database.UpsertProblem(w.problem.problem);
      for (size_t c : which) {
        const Outcome& r = outs[c];
        db::VisitRow v;
        v.sweep_id = sweep_id;
        v.kind = st.pt.kind;
        v.key = st.pt.Key(c, st.pid.value_or(0));
        v.visit = number;
        v.status = r.status;
        v.reason = r.reason;
        v.impl = r.impl;
        v.is_reference = r.is_reference;
        v.chosen_layout = r.chosen_layout;
        v.config = r.config;
        if (r.status == "ok") v.stats = r.stats;
        if (number == 1) st.visits[c].clear();  // a failed point measured afresh
        database.PutVisit(v);
        st.visits[c].push_back(std::move(v));
      }
      st.done = number;
      decide(st, index, label);
      tx.Commit();
    }
    const double point_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - point_start).count();
    std::vector<Outcome> shown;
    std::vector<std::string> names;
    for (size_t c : which) {
      names.push_back(st.pt.names[c]);
      shown.push_back(std::move(outs[c]));
    }
    progress.Finish(ResultLine(fmt::format("{} visit {}", label, number), names, shown) +
                    fmt::format(" ({:.1f}s)", point_s));
    maybe_calibrate();
  };

  // The visits: pass after pass over the whole list, so that the visits of one point are a pass
  // apart (seconds to minutes) and meet the machine in different moments.
  for (int pass = 1; pass <= visits && !g_stop; ++pass) {
    for (size_t i = 0; i < work.size() && !g_stop; ++i) {
      State& st = states[i];
      if (st.settled || st.done >= pass) {
        if (st.settled && pass == 1) ++resumed, ++points_done;
        progress.Skip();
        continue;
      }
      if (st.done > 0 && to_time(st).empty()) {  // nothing left to time (resumed): settle now
        progress.Skip();
        continue;
      }
      visit(st, i, work[i]);
    }
  }
  // Points resumed with all their visits but not settled (a run killed after their last visit).
  for (size_t i = 0; i < work.size() && !g_stop; ++i) {
    State& st = states[i];
    if (st.settled || std::find(revisit_queue.begin(), revisit_queue.end(), i) != revisit_queue.end()) continue;
    db::Database::Transaction tx(database);
    decide(st, i, work[i].Label(units));
    tx.Commit();
  }
  // Re-visits: points whose candidates all moved together between visits (the machine was elsewhere
  // for one of them), measured again after the passes, within the sweep's re-visit budget.
  while (!revisit_queue.empty() && !g_stop) {
    std::vector<size_t> queue;
    queue.swap(revisit_queue);
    std::sort(queue.begin(), queue.end());
    progress.AddTotal(queue.size());
    for (size_t i : queue) {
      if (g_stop) break;
      ++revisits;
      if (!states[i].revisited) ++revisited_points;
      states[i].revisited = true;
      visit(states[i], i, work[i]);
    }
  }
  progress.Done();

  const bool interrupted = g_stop;
  if (!interrupted) Calibrate(calibrator, database, sweep_id, points_done);
  json execution = json::parse(sweep.execution, nullptr, false);
  if (!execution.is_object()) execution = json::object();
  if (gate.lowest_ns()) execution["placement"] = gate.ToJson();
  database.FinishSweep(sweep_id, interrupted ? "interrupted" : "completed", points_done, execution.dump());
  const std::string calibration = CalibrationLine(database, sweep_id);
  // Readers may have the file open (a selector, `info`): then it stays in WAL, which loses nothing.
  const std::string wal = database.TryCheckpoint();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  for (const auto& f : failures) fmt::print(stderr, "layoutdb: failed: {}\n", f);
  if (!o.quiet || interrupted || !failures.empty()) {
    fmt::print(stderr,
               "sweep {} shard {}/{} {} after {:.0f}s: {}/{} points ({} resumed); candidates: {} ok ({} "
               "stable, {} not within their budget: CI above {:.3g}%), {} unsupported, {} failed, {} "
               "reference-kernel flagged; {} visits a point, {} re-visits of {} points whose candidates "
               "moved together by more than {:.3g}% ({} still so); {} cache -> {}\n",
               spec.name, o.shard_index, o.shard_count, interrupted ? "interrupted" : "completed", secs,
               points_done, work.size(), resumed, by_status["ok"], stable, by_status["ok"] - stable,
               100 * spec.measure.target_rel_ci, by_status["unsupported"], by_status["failed"],
               flagged_reference, visits, revisits, revisited_points, 100 * spec.revisit_tolerance,
               still_disagreeing, o.cache, o.db_path);
    if (!o.quiet && !calibration.empty()) fmt::print(stderr, "{}\n", calibration);
    if (!o.quiet && gate.lowest_ns())
      fmt::print(stderr,
                 "threads' placement: a cache line between two CPU threads in {:.0f} ns (median of {} timed "
                 "passes let through; {:.0f} ns as the passes found them; fastest {:.0f}); waited {:.1f} s for "
                 "them to come near; {} passes timed apart\n",
                 gate.median_ns().value_or(0), gate.checks() - gate.apart(), gate.found_median_ns().value_or(0),
                 *gate.lowest_ns(), gate.waited_s(), gate.apart());
  }
  if (!wal.empty()) fmt::print(stderr, "layoutdb: note: {}\n", wal);
  if (interrupted) {
    fmt::print(stderr, "layoutdb: interrupted; every finished point is stored; run the same command again to resume\n");
    return kSweepInterrupted;
  }
  return failures.empty() ? kSweepOk : kSweepSomeFailed;
}

}  // namespace layoutdb::profiler
