// `layoutdb export`: the slim, self-contained copy of a database that a deployed application ships.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "layoutdb/db.h"
#include "sqlite.h"

namespace layoutdb::db {

using internal::Exec;
using internal::Stmt;
namespace fs = std::filesystem;

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

ExportSummary Export(const std::string& in, const std::string& out,
                     const std::vector<std::string>& units, const std::vector<std::string>& dtypes) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec))) {
    throw Error(fmt::format("{}: already exists; export writes a new file and overwrites none", out));
  }
  static const std::vector<std::string> kDtypes = {"f32", "bf16", "f16", "int8"};
  for (const auto& d : dtypes) {
    if (std::find(kDtypes.begin(), kDtypes.end(), d) == kDtypes.end()) {
      throw Error(fmt::format("unknown dtype '{}' (known: {})", d, Join(kDtypes)));
    }
  }
  {
    // Refuse what Open() refuses, name unknown units, and never ship a problem whose key was altered
    // (Problems() re-checks every key hash).
    Database src = Database::Open(in, Mode::kReadOnly);
    std::set<std::string> names;
    for (const auto& u : src.Units()) names.insert(u.name);
    for (const auto& u : units) {
      if (!names.count(u)) {
        throw Error(fmt::format("{}: no unit named '{}' (it has: {})", in, u,
                                Join({names.begin(), names.end()})));
      }
    }
    src.Problems();
  }

  // Written as OUT.partial, put in place once complete: an export killed midway leaves no OUT that
  // looks finished, and the next run starts again.
  const std::string partial = internal::PartialPath(out);
  internal::RemoveWithCompanions(partial);  // left by an export that was killed
  ExportSummary s;
  try {
    Database db = Database::Open(partial, Mode::kReadWrite);
    sqlite3* h = db.handle();
    {
      Stmt attach(h, out, "ATTACH DATABASE ?1 AS src");
      attach.Bind(1, internal::FileUri(in, "mode=ro"));
      attach.Run(fmt::format("attaching {}", in));
    }
    Exec(h, out, "CREATE TEMP TABLE export_units(name TEXT PRIMARY KEY); "
                 "CREATE TEMP TABLE export_dtypes(name TEXT PRIMARY KEY)");
    {
      Stmt q(h, out, "INSERT INTO temp.export_units(name) SELECT DISTINCT name FROM src.units "
                     "WHERE ?1 = 0 OR name = ?2");
      if (units.empty()) {
        q.Bind(1, int64_t{0}).Bind(2, "");
        q.Run("choosing units");
      }
      for (const auto& u : units) {
        q.Reset();
        q.Bind(1, int64_t{1}).Bind(2, u);
        q.Run("choosing units");
      }
      Stmt d(h, out, "INSERT OR IGNORE INTO temp.export_dtypes(name) VALUES (?1)");
      for (const auto& dt : dtypes.empty() ? kDtypes : dtypes) {
        d.Reset();
        d.Bind(1, dt);
        d.Run("choosing dtypes");
      }
    }
    // Ids are kept as they are: the file is new, and an id seen in a log of the source still means
    // the same row. Every measurement of the chosen units and dtypes is shipped, the ones that are not
    // `ok` too (they have no statistics, a few bytes each): the selector never recommends them, but it
    // reads them to exclude a layout — a point with only oneDNN's reference kernel there, and its
    // neighbours — which an app selecting from the export would otherwise plan (1000x slower).
    const std::string chosen_units = "(SELECT id FROM src.units WHERE name IN temp.export_units)";
    const std::string chosen_measurements = fmt::format(
        "FROM src.measurements m WHERE m.unit_id IN {} AND m.dtype IN temp.export_dtypes", chosen_units);
    const std::string stats =
        "median_us, p10_us, p90_us, mean_us, stddev_us, min_us, repetitions, rel_ci, measured_at, "
        "stable, timer, host_median_us, host_p10_us, host_p90_us, cache_mode";
    Database::Transaction tx(db);
    auto run = [&](const std::string& sql, const char* what) {
      Stmt q(h, out, sql);
      q.Run(fmt::format("exporting {} of {}", what, in));
    };
    run(fmt::format("INSERT INTO main.targets SELECT id, fingerprint, hostname, cpu_model, isa, cores, "
                    "threads, caches, os, libraries, created_at FROM src.targets WHERE id IN "
                    "(SELECT target_id FROM src.units WHERE id IN {})",
                    chosen_units),
        "targets");
    run(fmt::format("INSERT INTO main.units(id, target_id, name, kind, vendor, device_name, driver, "
                    "compute_units, clock_mhz, global_mem, local_mem, properties) SELECT id, "
                    "target_id, name, kind, vendor, device_name, driver, compute_units, clock_mhz, "
                    "global_mem, local_mem, properties FROM src.units WHERE id IN {}",
                    chosen_units),
        "units");
    run(fmt::format("INSERT INTO main.problems(id, key, key_hash, op, params, flops, bytes) SELECT "
                    "id, key, key_hash, op, params, flops, bytes FROM src.problems WHERE id IN "
                    "(SELECT m.problem_id {})",
                    chosen_measurements),
        "problems");
    run(fmt::format("INSERT INTO main.measurements(id, problem_id, unit_id, layout, src_layout, "
                    "dst_layout, dtype, sweep_id, status, reason, impl, is_reference, "
                    "chosen_layout, config, {0}) SELECT id, problem_id, unit_id, layout, "
                    "src_layout, dst_layout, dtype, NULL, status, reason, impl, is_reference, "
                    "chosen_layout, config, {0} {1}",
                    stats, chosen_measurements),
        "measurements");
    run(fmt::format("INSERT INTO main.transitions(id, unit_id, src_layout, dst_layout, dtype, shape, "
                    "bytes, sweep_id, status, reason, impl, {0}) SELECT id, unit_id, src_layout, "
                    "dst_layout, dtype, shape, bytes, NULL, status, reason, impl, {0} "
                    "FROM src.transitions WHERE unit_id IN {1} AND dtype IN temp.export_dtypes AND "
                    "status = 'ok'",
                    stats, chosen_units),
        "transitions");
    // A transfer is shipped when both of its ends are.
    run(fmt::format("INSERT INTO main.transfers(id, src_unit_id, dst_unit_id, method, bytes, "
                    "sweep_id, status, reason, {0}) SELECT id, src_unit_id, dst_unit_id, method, "
                    "bytes, NULL, status, reason, {0} FROM src.transfers WHERE src_unit_id IN {1} "
                    "AND dst_unit_id IN {1} AND status = 'ok'",
                    stats, chosen_units),
        "transfers");
    tx.Commit();
    Exec(h, out, "DETACH DATABASE src");
    Exec(h, out, "DROP TABLE temp.export_units; DROP TABLE temp.export_dtypes");
    // Statistics for the query planner of the app that opens the file read-only.
    Exec(h, out, "ANALYZE");
    const Database::Totals t = db.CountRows();
    s.units = t.units;
    s.problems = t.problems;
    s.measurements = t.measurements;
    s.transitions = t.transitions;
    s.transfers = t.transfers;
    db.Checkpoint();
  } catch (const Error& e) {
    internal::RemoveWithCompanions(partial);  // a half-written export is no export
    throw internal::NamingFinalPath(e, partial, out);
  } catch (...) {
    internal::RemoveWithCompanions(partial);
    throw;
  }
  try {
    internal::Publish(partial, out);
  } catch (...) {
    internal::RemoveWithCompanions(partial);
    throw;
  }
  s.bytes = static_cast<int64_t>(fs::file_size(out, ec));
  return s;
}

}  // namespace layoutdb::db
