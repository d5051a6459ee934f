// layoutdb: one program, git-style subcommands. This file only wires each folder's commands to the
// command line (CLI11 is included here and nowhere else: it is slow to compile).
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "layoutdb/profiler/sweep.h"
#include "layoutdb/reports/info.h"
#include "layoutdb/selector.h"

namespace {

// The exit code a subcommand's callback sets (CLI11 runs the callback while parsing).
int g_exit = 0;

// Splits "a,b,c" into its items.
std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

// profiler/: devices, sweep.
void AddProfilerCommands(CLI::App& app) {
  auto devices_opts = std::make_shared<layoutdb::profiler::DevicesOptions>();
  auto* devices = app.add_subcommand("devices", "List every computing unit of this machine and its properties");
  devices->add_flag("--json", devices_opts->json, "Print JSON");
  devices->callback([devices_opts] { g_exit = layoutdb::profiler::RunDevices(*devices_opts); });

  auto o = std::make_shared<layoutdb::profiler::SweepOptions>();
  auto lists = std::make_shared<std::vector<std::string>>(3);
  auto shard = std::make_shared<std::string>("0/1");
  auto* sweep = app.add_subcommand("sweep", "Profile this machine's units into a database (resumable)");
  sweep->add_option("--db", o->db_path, "Database file (created if missing)")->required();
  sweep->add_option("--spec", o->spec, "Built-in spec (quick, default, full) or a JSON file")->capture_default_str();
  sweep->add_option("--units", (*lists)[0], "Comma-separated units: cpu, ocl:P:D, or ocl for all OpenCL");
  sweep->add_option("--ops", (*lists)[1], "Comma-separated op families (conv2d, matmul, ip, pool, ...)");
  sweep->add_option("--dtypes", (*lists)[2], "Comma-separated dtypes (f32, bf16, int8), within the spec's");
  sweep->add_option("--shard", *shard, "Run shard K of N (K zero-based), e.g. 0/4")->capture_default_str();
  sweep->add_flag("--dry-run", o->dry_run, "List and validate the points without running them");
  sweep->add_flag("--quiet", o->quiet, "Print nothing but errors");
  sweep->add_flag("--add-target", o->add_target,
                  "Allow a database that already holds other machines' measurements (kept apart)");
  sweep->callback([o, lists, shard] {
    o->units = SplitList((*lists)[0]);
    o->ops = SplitList((*lists)[1]);
    o->dtypes = SplitList((*lists)[2]);
    layoutdb::profiler::ParseShard(*shard, &o->shard_index, &o->shard_count);
    g_exit = layoutdb::profiler::RunSweep(*o);
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
      "export", "Write the slim, self-contained copy a deployed app ships (ok points, no sweeps)");
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

// selector/: select.
namespace {
void AddSelectCommand(CLI::App& app) {
  struct SelectCommandOptions {
    std::string model, db, units, partition, out, dtype = "f32";
    std::vector<std::string> inputs;
    bool json = false;
  };
  auto o = std::make_shared<SelectCommandOptions>();
  auto* select = app.add_subcommand(
      "select", "Plan a model: the best unit and layout for every sub-graph, from a database (read-only)");
  select->add_option("MODEL", o->model, "ONNX model file")->required();
  select->add_option("--db", o->db, "Database file")->required();
  select->add_option("--input", o->inputs, "Fix an input's shape, NAME:1,3,224,224 (repeatable)");
  select->add_option("--units", o->units, "Comma-separated units to consider (default: all measured)");
  select->add_option("--dtype", o->dtype, "Data type")
      ->check(CLI::IsMember({"f32", "bf16", "int8"}))
      ->capture_default_str();
  select->add_option("--partition", o->partition, "A partition JSON {\"subgraphs\": [[0,1],[2],...]}");
  select->add_flag("--json", o->json, "Print the plan as JSON (schema/plan.schema.json)");
  select->add_option("--out", o->out, "Also write the plan JSON to this file");
  select->callback([o] {
    layoutdb::SelectOptions so;
    for (const auto& spec : o->inputs) {
      const auto colon = spec.rfind(':');
      if (colon == std::string::npos || colon == 0)
        throw std::runtime_error(fmt::format("--input '{}': expected NAME:D1,D2,... (e.g. x:1,3,224,224)", spec));
      std::vector<int64_t> dims;
      for (const auto& d : SplitList(spec.substr(colon + 1))) {
        size_t used = 0;
        int64_t v = -1;
        try {
          v = std::stoll(d, &used);
        } catch (const std::exception&) {
        }
        if (used != d.size() || v <= 0)
          throw std::runtime_error(fmt::format("--input '{}': '{}' is not a positive dimension", spec, d));
        dims.push_back(v);
      }
      so.inputs[spec.substr(0, colon)] = dims;
    }
    so.units = SplitList(o->units);
    so.dtype = o->dtype;
    so.partition_path = o->partition;
    const layoutdb::Plan plan = layoutdb::Selector::Open(o->db).Select(o->model, so);
    if (o->json) fmt::print("{}\n", plan.ToJson());
    else fmt::print("{}", plan.ToTable());
    if (!o->out.empty()) {
      std::FILE* f = std::fopen(o->out.c_str(), "w");
      if (!f) throw std::runtime_error(fmt::format("--out {}: cannot write the file", o->out));
      const std::string text = plan.ToJson() + "\n";
      const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
      if (std::fclose(f) != 0 || !ok)
        throw std::runtime_error(fmt::format("--out {}: write failed", o->out));
    }
  });
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
    CLI11_PARSE(app, argc, argv);
    return g_exit;
  } catch (const std::exception& e) {
    fmt::print(stderr, "layoutdb: error: {}\n", e.what());
    return 1;
  }
}
