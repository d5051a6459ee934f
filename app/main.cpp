// layoutdb: one program, git-style subcommands. This file only wires each folder's commands to the
// command line (CLI11 is included here and nowhere else: it is slow to compile).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/microbench/unit.h"
#include "layoutdb/profiler/sweep.h"
#include "layoutdb/reports/info.h"
#include "layoutdb/reports/report.h"
#include "layoutdb/selector.h"
#include "runtime/commands.h"
#include "selector/cost.h"
#include "selector/refine.h"
#include "selector/select_command.h"

namespace {

// The exit code a subcommand's callback sets (CLI11 runs the callback while parsing).
int g_exit = 0;

// LAYOUTDB_NO_SETTLE=1: sweep and validate default to --no-settle / --settle-s 0 (never wait for the
// CPU threads to come near each other; passes timed apart are still counted). For test suites that
// run many programs side by side on few cores, where a descheduled thread looks like one far away.
bool NoSettleFromEnvironment() {
  const char* v = std::getenv("LAYOUTDB_NO_SETTLE");
  return v && *v && std::string(v) != "0";
}

// `sweep --refine N`: the selector ranks the candidates on the database as it is, the profiler
// measures the top N (a sweep of those keys: same storage, resumable), the selector shows what changed.
int RunRefine(layoutdb::profiler::SweepOptions o, layoutdb::selector::RefineOptions r) {
  namespace sel = layoutdb::selector;
  if (!std::filesystem::exists(o.db_path))
    throw std::runtime_error(fmt::format("--refine: database '{}' does not exist (sweep it first)", o.db_path));
  if (o.dtypes.empty()) o.dtypes = {"f32"};
  r.db = o.db_path;
  r.units = o.units;
  r.dtypes = o.dtypes;
  std::vector<sel::RefineCandidate> picks;
  size_t candidates = 0;
  sel::CostModelOptions cost_options;
  cost_options.refuse = layoutdb::microbench::MakeReferenceCheck();
  {
    const sel::CostModel cost = sel::CostModel::Load(o.db_path, cost_options);
    auto ranked = r.model.empty() ? sel::RankRefine(cost, sel::RefineCandidateKeys(cost, r), r)
                                  : sel::RankRefineModel(cost, r);
    candidates = ranked.size();
    if (ranked.size() > static_cast<size_t>(r.count)) ranked.resize(static_cast<size_t>(r.count));
    picks = std::move(ranked);
  }
  fmt::print("refine: {} of {} uncertain candidate problems{}\n", picks.size(), candidates,
             r.model.empty() ? " (grid neighbourhood of the measured keys)" : " (what the plan of " + r.model + " prices)");
  if (picks.empty()) return 0;
  fmt::print("{}", sel::FormatRefinePicks(picks));
  for (const auto& c : picks)
    if (std::find(o.keys.begin(), o.keys.end(), c.key) == o.keys.end()) o.keys.push_back(c.key);
  const int rc = layoutdb::profiler::RunSweep(o);
  if (o.dry_run) return rc;
  fmt::print("\nrefine: estimates before and after\n{}",
             sel::FormatRefineChanges(picks, sel::CostModel::Load(o.db_path, cost_options), r));
  return rc;
}

// What `sweep --model` measures (the selector lists it): the fused key of every anchor sub-graph, every
// other node's problem, and the conversions and transfers of the tensors between sub-graphs.
void SetModelWork(const std::string& model, const std::vector<std::string>& input_texts,
                  layoutdb::profiler::SweepOptions* o) {
  std::map<std::string, std::vector<int64_t>> inputs;
  for (const auto& t : input_texts) inputs.insert(layoutdb::ParseInputShape(t));
  layoutdb::ModelProblemSet set = layoutdb::ModelProblems(model, inputs);
  if (set.keys.empty())
    throw std::runtime_error(fmt::format("--model {}: no node of the model has a database problem", model));
  o->keys = std::move(set.keys);
  o->transition_shapes.clear();
  for (const auto& s : set.conversion_shapes) o->transition_shapes.push_back({s[0], s[1], s[2], s[3]});
  o->transfer_bytes = std::move(set.transfer_bytes);
}

// profiler/: devices, sweep.
void AddProfilerCommands(CLI::App& app) {
  auto devices_opts = std::make_shared<layoutdb::profiler::DevicesOptions>();
  auto* devices = app.add_subcommand("devices", "List every computing unit of this machine and its properties");
  devices->add_flag("--json", devices_opts->json, "Print JSON");
  devices->callback([devices_opts] { g_exit = layoutdb::profiler::RunDevices(*devices_opts); });

  auto o = std::make_shared<layoutdb::profiler::SweepOptions>();
  auto shard = std::make_shared<std::string>("0/1");
  auto* sweep = app.add_subcommand("sweep", "Profile this machine's units into a database (resumable)");
  sweep->add_option("--db", o->db_path, "Database file (created if missing)")->required();
  sweep->add_option("--spec", o->spec, "Built-in spec (quick, default, full) or a JSON file")->capture_default_str();
  sweep->add_option("--units", o->units, "Comma-separated units: cpu, ocl:P:D, or ocl for all OpenCL")
      ->delimiter(',');
  sweep->add_option("--ops", o->ops, "Comma-separated op families (conv2d, matmul, ip, pool, ...)")
      ->delimiter(',');
  sweep->add_option("--dtypes", o->dtypes, "Comma-separated dtypes (f32, bf16, int8), within the spec's")
      ->delimiter(',');
  sweep->add_option("--shard", *shard, "Run shard K of N (K zero-based), e.g. 0/4")->capture_default_str();
  sweep->add_flag("--dry-run", o->dry_run, "List and validate the points without running them");
  sweep->add_flag("--quiet", o->quiet, "Print nothing but errors");
  sweep->add_flag("--add-target", o->add_target,
                  "Allow a database that already holds other machines' measurements (kept apart)");
  sweep->add_option("--visits", o->visits,
                    "Visits per point at separate moments, each with its share of the budget (default: the "
                    "spec's, 3); 1: one visit, as before")
      ->check(CLI::Range(1, 100));
  o->settle = !NoSettleFromEnvironment();
  sweep->add_flag("--settle,!--no-settle", o->settle,
                  "Before a timed pass, wait (up to 10 s plus a fifth of the sweep's time, in all) for two CPU "
                  "threads to pass a cache line in the sweep's usual time (half to 3x the median probe); --no-settle times every pass as "
                  "the machine is and only counts those taken apart")
      ->capture_default_str();
  sweep->add_option("--cache", o->cache,
                    "hot: repetitions back to back; warm: before each, each thread's private caches (L2) evicted, "
                    "the weights flushed to memory and the inputs written back, as a network leaves a kernel; "
                    "cold: every cache evicted before each (benchdnn's --cold-cache); network (with --model): "
                    "measured warm, then every state of every sub-graph timed inside the model's network, as "
                    "validate times its candidates, and written over the row of the kernel it runs as. Default: the "
                    "mode this machine's target in the file was swept in (a resumed sweep keeps it), warm for a new one")
      ->check(CLI::IsMember({"hot", "warm", "cold", "network"}));
  // --model: the model's own problems (the selector lists them), measured with the default spec's
  // settings; resumable like any sweep (done points are skipped by key). With --refine N: the
  // candidates of refinement come from this model's plan instead.
  auto refine = std::make_shared<layoutdb::selector::RefineOptions>();
  sweep->add_option("--refine", refine->count,
                    "Measure the N unmeasured problems where the cost model is least certain and the "
                    "unit/layout decision depends on it, then show how the estimates changed")
      ->check(CLI::PositiveNumber);
  auto* model_opt = sweep->add_option(
      "--model", refine->model,
      "Measure exactly this ONNX model's problems (the fused key of every anchor sub-graph, every other "
      "node's problem, the conversions and transfers of the tensors between sub-graphs) with the default "
      "spec's settings, instead of a spec; with --refine: take the candidates from this model's plan");
  sweep->add_option("--input", refine->inputs, "With --model: fix an input's shape, NAME:1,3,224,224 (repeatable)")
      ->needs(model_opt);
  model_opt->excludes(sweep->get_option("--spec"));
  auto network_budget_s = std::make_shared<double>(layoutdb::runtime::NetworkSweepOptions{}.budget_s);
  sweep->add_option("--network-budget-s", *network_budget_s,
                    "With --cache network: seconds for timing the model's states in the network, all rounds "
                    "together")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sweep->callback([o, shard, refine, network_budget_s] {
    layoutdb::profiler::ParseShard(*shard, &o->shard_index, &o->shard_count);
    if (refine->count > 0) {
      g_exit = RunRefine(*o, *refine);
      return;
    }
    const bool network = o->cache == "network";
    if (network && refine->model.empty())
      throw std::runtime_error("--cache network needs --model: the network to time the problems in");
    if (!refine->model.empty()) {  // the default spec's dtypes and settings, the model's keys
      SetModelWork(refine->model, refine->inputs, o.get());
      o->spec = "default";
    }
    if (network) o->cache = "warm";  // the first half: the model's problems alone, warm
    g_exit = layoutdb::profiler::RunSweep(*o);
    if (!network || g_exit != 0 || o->dry_run) return;
    layoutdb::runtime::NetworkSweepOptions n;  // the second half: the same problems in the network
    n.model = refine->model;
    n.db = o->db_path;
    n.inputs = refine->inputs;
    n.units = o->units;
    n.budget_s = *network_budget_s;
    n.settle_s = o->settle ? n.settle_s : 0;
    n.quiet = o->quiet;
    g_exit = layoutdb::runtime::RunNetworkSweep(n);
  });
}

}  // namespace

// db/ and reports/: info, merge, export.
namespace {
void AddDbCommands(CLI::App& app) {
  namespace db = layoutdb::db;
  struct InfoOptions {
    std::string db;
    bool json = false;
  };
  auto info_opts = std::make_shared<InfoOptions>();
  auto* info = app.add_subcommand(
      "info", "Show a database: targets, units, sweeps, counts per op, unit, layout (read-only)");
  info->add_option("--db", info_opts->db, "Database file")->required();
  info->add_flag("--json", info_opts->json, "Print JSON");
  info->callback([info_opts] {
    db::Database d = db::Database::Open(info_opts->db, db::Mode::kReadOnly);
    if (info_opts->json) {
      fmt::print("{}\n", layoutdb::reports::InfoJson(d).dump(2));
    } else {
      fmt::print("{}", layoutdb::reports::InfoText(d));
    }
  });

  struct MergeOptions {
    std::string out;
    std::vector<std::string> inputs;
  };
  auto merge_opts = std::make_shared<MergeOptions>();
  auto* merge = app.add_subcommand(
      "merge", "Fold shard files or other targets' files into one (targets kept apart); with no "
               "INPUT, migrates --out to this version's schema");
  merge->add_option("--out", merge_opts->out, "Database file to merge into (created if missing)")
      ->required();
  merge->add_option("INPUT", merge_opts->inputs, "Database files to fold in (opened read-only)");
  merge->callback([merge_opts] {
    const db::MergeSummary s = db::Merge(merge_opts->out, merge_opts->inputs);
    fmt::print("merged {} file{} into {}: {} target{}, {} measurements, {} transitions, {} transfers\n",
               s.files, s.files == 1 ? "" : "s", merge_opts->out, s.targets, s.targets == 1 ? "" : "s",
               s.measurements, s.transitions, s.transfers);
  });

  struct ExportOptions {
    std::string db, out;
    std::vector<std::string> units, dtypes;
  };
  auto export_opts = std::make_shared<ExportOptions>();
  auto* exp = app.add_subcommand(
      "export", "Write the slim, self-contained copy a deployed app ships (what the selector reads, no sweeps)");
  exp->add_option("--db", export_opts->db, "Database file to read")->required();
  exp->add_option("--out", export_opts->out, "New file to write (never overwritten)")->required();
  exp->add_option("--units", export_opts->units, "Comma-separated units to keep (default: all)")
      ->delimiter(',');
  exp->add_option("--dtypes", export_opts->dtypes, "Comma-separated dtypes to keep (default: all)")
      ->delimiter(',');
  exp->callback([export_opts] {
    const db::ExportSummary s =
        db::Export(export_opts->db, export_opts->out, export_opts->units, export_opts->dtypes);
    fmt::print("exported {} unit{}, {} problems, {} measurements, {} transitions, {} transfers to {} "
               "({} bytes)\n",
               s.units, s.units == 1 ? "" : "s", s.problems, s.measurements, s.transitions,
               s.transfers, export_opts->out, s.bytes);
  });
}
}  // namespace

// reports/: report.
namespace {
void AddReportCommand(CLI::App& app) {
  auto o = std::make_shared<layoutdb::reports::ReportOptions>();
  auto* report = app.add_subcommand(
      "report", "Write a self-contained HTML page with plots, a Markdown summary and a CSV file per table "
                "(read-only)");
  report->add_option("--db", o->db, "Database file")->required();
  report->add_option("--out", o->out, "Folder to write into (created if missing)")->required();
  report->add_option("--compare", o->compare, "A second database: its target beside --db's first one");
  report->add_option("--format", o->formats, "Comma-separated outputs")
      ->delimiter(',')
      ->check(CLI::IsMember({"html", "md", "csv"}))
      ->capture_default_str();
  report->callback([o] { g_exit = layoutdb::reports::RunReport(*o); });
}
}  // namespace

// selector/: select.
namespace {
void AddSelectCommand(CLI::App& app) {
  auto o = std::make_shared<layoutdb::selector::SelectCommandOptions>();
  auto* select = app.add_subcommand(
      "select", "Plan a model: the best unit and layout for every sub-graph, from a database (read-only)");
  select->add_option("MODEL", o->model, "ONNX model file")->required();
  select->add_option("--db", o->db, "Database file")->required();
  select->add_option("--input", o->inputs, "Fix an input's shape, NAME:1,3,224,224 (repeatable)");
  select->add_option("--units", o->units, "Comma-separated units to consider (default: all measured)")
      ->delimiter(',');
  select->add_option("--dtype", o->dtype, "Data type")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  select->add_option("--partition", o->partition, "A partition JSON {\"subgraphs\": [[0,1],[2],...]}");
  select->add_flag("--json", o->json, "Print the plan as JSON (schema/plan.schema.json)");
  select->add_option("--out", o->out, "Also write the plan JSON to this file");
  select->add_option("--report", o->report, "Also draw the plan: DIR/index.html and DIR/plan.md");
  o->write_report = [](const std::string& dir, const std::string& plan_json) {
    layoutdb::reports::WritePlanReport(dir, plan_json);
  };
  o->refuse = layoutdb::microbench::MakeReferenceCheck();
  select->callback([o] { g_exit = layoutdb::selector::RunSelect(*o); });
}
}  // namespace

// runtime/: run, validate.
namespace {
void AddRuntimeCommands(CLI::App& app) {
  auto o = std::make_shared<layoutdb::runtime::RunCommandOptions>();
  auto* run = app.add_subcommand(
      "run", "Execute a model under a plan on its units and layouts: median latency, per sub-graph");
  run->add_option("MODEL", o->model, "ONNX model file")->required();
  run->add_option("--db", o->db, "Database file (to select a plan when --plan is not given)");
  run->add_option("--plan", o->plan, "A plan JSON (layoutdb select --out); default: select one now");
  run->add_option("--input", o->inputs, "Fix an input's shape, NAME:1,3,224,224 (repeatable)");
  run->add_option("--input-data", o->input_data, "An input's values, NAME=FILE.pb (a TensorProto)");
  run->add_option("--units", o->units, "When selecting: comma-separated units to consider")
      ->delimiter(',');
  run->add_option("--save-outputs", o->save_outputs, "Write output_N.pb TensorProto files here");
  run->add_option("--save-inputs", o->save_inputs, "Write the inputs used as input_N.pb here");
  run->add_option("--repeat", o->repeat, "Timed repetitions")->capture_default_str();
  run->add_option("--warmup", o->warmup, "Untimed runs first")->capture_default_str();
  run->add_option("--seed", o->seed, "Seed of the random inputs")->capture_default_str();
  run->add_flag("--json", o->json, "Print JSON");
  run->callback([o] {
    if (o->plan.empty() && o->db.empty())
      throw std::runtime_error("run: give --db (to select a plan) or --plan");
    g_exit = layoutdb::runtime::RunRun(*o);
  });

  auto v = std::make_shared<layoutdb::runtime::ValidateCommandOptions>();
  auto* val = app.add_subcommand(
      "validate", "Measure a plan against its prediction, its oracle and its baselines, interleaved "
                  "in one run; store the result in the database");
  val->add_option("MODEL", v->model, "ONNX model file")->required();
  val->add_option("--db", v->db, "Database file")->required();
  val->add_option("--plan", v->plan, "A plan JSON (default: select one now)");
  val->add_option("--input", v->inputs, "Fix an input's shape, NAME:1,3,224,224 (repeatable)");
  val->add_option("--input-data", v->input_data, "An input's values, NAME=FILE.pb (a TensorProto)");
  val->add_option("--units", v->units, "Comma-separated units to consider")->delimiter(',');
  val->add_option("--budget-s", v->budget_s, "Seconds per measuring phase")->capture_default_str();
  val->add_option("--min-reps", v->min_reps, "Repetitions at least, per strategy")->capture_default_str();
  val->add_option("--rounds", v->rounds,
                  "Rounds at separate moments, each with its share of the budget; every figure is its "
                  "quietest round's median, as a sweep stores a point's quietest visit")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  if (NoSettleFromEnvironment()) v->settle_s = 0;
  val->add_option("--settle-s", v->settle_s,
                  "Seconds in all to wait for the CPU threads to be near each other (a cache line between "
                  "them in half to 3x the time the database's sweeps saw) before a timed pass; passes timed apart are counted")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  val->add_flag("--warm-run,!--no-warm-run", v->warm_run,
                "Time each run right after an untimed run of the same plan, as an application's inference "
                "loop keeps it (--no-warm-run: right after the other strategies' runs, which evict its "
                "weights)")
      ->capture_default_str();
  val->add_option("--tolerance", v->tolerance,
                  "Largest |difference| allowed between any plan's outputs and all-nchw's, relative "
                  "to the outputs' largest magnitude")
      ->capture_default_str();
  val->add_flag("--json", v->json, "Print JSON (schema/validation.schema.json)");
  val->add_flag("--no-store", v->no_store, "Do not store the validation in the database");
  val->add_flag("--partial", v->partial,
                "Leave out operators no unit can execute (listed; their outputs are zeros) and "
                "measure and predict the rest");
  val->add_option("--report", v->report, "Also draw the plan and its validation: DIR/index.html");
  v->write_report = [](const std::string& dir, const std::string& plan_json,
                       const std::string& validation_json) {
    layoutdb::reports::WritePlanReport(dir, plan_json, validation_json);
  };
  val->callback([v] { g_exit = layoutdb::runtime::RunValidate(*v); });
}
}  // namespace

int main(int argc, char** argv) noexcept {
  try {
    CLI::App app{"layoutdb: network- and hardware-aware computing layout selection for DNN inference"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "layoutdb 0.1.0");
    AddProfilerCommands(app);
    AddDbCommands(app);
    AddSelectCommand(app);
    AddRuntimeCommands(app);
    AddReportCommand(app);
    CLI11_PARSE(app, argc, argv);
    return g_exit;
  } catch (const std::exception& e) {
    fmt::print(stderr, "layoutdb: error: {}\n", e.what());
    return 1;
  }
}
