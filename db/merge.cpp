// `layoutdb merge`: folds shard files and other targets' files into one, inside SQLite (ATTACH +
// INSERT ... SELECT), remapping ids through what identifies a row across files: a target's
// fingerprint, a unit's (target, name), a problem's key, a sweep's (target, spec hash, shard, start).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "layoutdb/db.h"
#include "sqlite.h"

namespace layoutdb::db {

using internal::Exec;
using internal::Stmt;
namespace fs = std::filesystem;

namespace {

// The WHERE of an upsert that replaces `table`'s row by the incoming one (`excluded`): an `ok` row beats
// any other, a definite answer (unsupported, mistrusted) beats `failed`, and between equals the later
// measurement wins. A shard that failed a point never overwrites another shard's good measurement of it.
std::string Better(const std::string& table) {
  auto rank = [](const std::string& t) {
    return fmt::format("(CASE {}.status WHEN 'ok' THEN 2 WHEN 'failed' THEN 0 ELSE 1 END)", t);
  };
  return fmt::format("{0} > {1} OR ({0} = {1} AND excluded.measured_at > {2}.measured_at)",
                     rank("excluded"), rank(table), table);
}

// Same row identity as the unique keys of 001_init.sql; of two measurements of the same point,
// measurements, transitions and transfers keep the better (Better()), then the later.
void MergeOne(sqlite3* h, const std::string& out, const std::string& in, const std::string& a) {
  // Identity you can trust: a problem whose hash does not match its key is not copied anywhere.
  {
    Stmt q(h, in, fmt::format("SELECT id, key, key_hash FROM {}.problems", a));
    while (q.Step()) {
      if (HashHex(q.Text(1)) != q.Text(2)) {
        throw Error(fmt::format("{}: problem {} '{}': stored key_hash {} does not match its key ({}): "
                                "the row was altered",
                                in, q.Int(0), q.Text(1), q.Text(2), HashHex(q.Text(1))));
      }
    }
  }
  auto run = [&](const std::string& sql, const char* what) {
    Stmt q(h, out, sql);
    return q.Run(fmt::format("merging {} of {}", what, in));
  };
  run(fmt::format("INSERT INTO main.targets(fingerprint, hostname, cpu_model, isa, cores, threads, "
                  "caches, os, libraries, created_at) SELECT fingerprint, hostname, cpu_model, isa, "
                  "cores, threads, caches, os, libraries, created_at FROM {}.targets WHERE true "
                  "ON CONFLICT(fingerprint) DO NOTHING",
                  a),
      "targets");
  run(fmt::format("INSERT INTO main.units(target_id, name, kind, vendor, device_name, driver, "
                  "compute_units, clock_mhz, global_mem, local_mem, properties) SELECT mt.id, u.name, "
                  "u.kind, u.vendor, u.device_name, u.driver, u.compute_units, u.clock_mhz, "
                  "u.global_mem, u.local_mem, u.properties FROM {0}.units u "
                  "JOIN {0}.targets t ON t.id = u.target_id "
                  "JOIN main.targets mt ON mt.fingerprint = t.fingerprint WHERE true "
                  "ON CONFLICT(target_id, name) DO NOTHING",
                  a),
      "units");
  run(fmt::format("INSERT INTO main.problems(key, key_hash, op, params, flops, bytes) SELECT key, "
                  "key_hash, op, params, flops, bytes FROM {}.problems WHERE true "
                  "ON CONFLICT(key) DO NOTHING",
                  a),
      "problems");

  // Id maps of this input.
  Exec(h, out, "DELETE FROM temp.merge_units; DELETE FROM temp.merge_problems; "
               "DELETE FROM temp.merge_sweeps");
  run(fmt::format("INSERT INTO temp.merge_units(src, dst) SELECT u.id, mu.id FROM {0}.units u "
                  "JOIN {0}.targets t ON t.id = u.target_id "
                  "JOIN main.targets mt ON mt.fingerprint = t.fingerprint "
                  "JOIN main.units mu ON mu.target_id = mt.id AND mu.name = u.name",
                  a),
      "unit ids");
  run(fmt::format("INSERT INTO temp.merge_problems(src, dst) SELECT p.id, mp.id FROM {}.problems p "
                  "JOIN main.problems mp ON mp.key = p.key",
                  a),
      "problem ids");

  // Sweeps are appended, except the very same sweep merged again (e.g. one file given twice, or a
  // file merged into an earlier merge of itself): that one keeps its row and takes the later progress.
  const std::string same_sweep =
      "ms.target_id = mt.id AND ms.spec_hash = s.spec_hash AND ms.shard_index = s.shard_index AND "
      "ms.shard_count = s.shard_count AND ms.started_at = s.started_at";
  run(fmt::format("INSERT INTO main.sweeps(target_id, spec_name, spec, spec_hash, shard_index, "
                  "shard_count, filters, tool_version, started_at, ended_at, status, points_total, "
                  "points_done, cache_mode, execution) SELECT mt.id, s.spec_name, s.spec, s.spec_hash, "
                  "s.shard_index, s.shard_count, s.filters, s.tool_version, s.started_at, s.ended_at, "
                  "s.status, s.points_total, s.points_done, s.cache_mode, s.execution FROM {0}.sweeps s "
                  "JOIN {0}.targets t ON t.id = s.target_id "
                  "JOIN main.targets mt ON mt.fingerprint = t.fingerprint "
                  "WHERE NOT EXISTS (SELECT 1 FROM main.sweeps ms WHERE {1}) ORDER BY s.id",
                  a, same_sweep),
      "sweeps");
  run(fmt::format("INSERT INTO temp.merge_sweeps(src, dst) SELECT s.id, min(ms.id) FROM {0}.sweeps s "
                  "JOIN {0}.targets t ON t.id = s.target_id "
                  "JOIN main.targets mt ON mt.fingerprint = t.fingerprint "
                  "JOIN main.sweeps ms ON {1} GROUP BY s.id",
                  a, same_sweep),
      "sweep ids");
  run(fmt::format("UPDATE main.sweeps AS ms SET status = s.status, ended_at = s.ended_at, "
                  "points_total = s.points_total, points_done = s.points_done "
                  "FROM temp.merge_sweeps map JOIN {}.sweeps s ON s.id = map.src "
                  "WHERE ms.id = map.dst AND s.points_done > ms.points_done",
                  a),
      "sweep progress");

  const std::string stats =
      "median_us, p10_us, p90_us, mean_us, stddev_us, min_us, repetitions, rel_ci, measured_at, "
      "stable, timer, host_median_us, host_p10_us, host_p90_us, cache_mode";
  auto stats_of = [](const char* alias) {
    return fmt::format("{0}.median_us, {0}.p10_us, {0}.p90_us, {0}.mean_us, {0}.stddev_us, "
                       "{0}.min_us, {0}.repetitions, {0}.rel_ci, {0}.measured_at, {0}.stable, "
                       "{0}.timer, {0}.host_median_us, {0}.host_p10_us, {0}.host_p90_us, {0}.cache_mode",
                       alias);
  };
  const std::string update_stats =
      "median_us = excluded.median_us, p10_us = excluded.p10_us, p90_us = excluded.p90_us, "
      "mean_us = excluded.mean_us, stddev_us = excluded.stddev_us, min_us = excluded.min_us, "
      "repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, "
      "measured_at = excluded.measured_at, stable = excluded.stable, timer = excluded.timer, "
      "host_median_us = excluded.host_median_us, host_p10_us = excluded.host_p10_us, "
      "host_p90_us = excluded.host_p90_us, cache_mode = excluded.cache_mode";
  run(fmt::format(
          "INSERT INTO main.measurements(problem_id, unit_id, layout, src_layout, dst_layout, dtype, "
          "sweep_id, status, reason, impl, is_reference, chosen_layout, config, {1}) "
          "SELECT mp.dst, mu.dst, m.layout, m.src_layout, m.dst_layout, m.dtype, ms.dst, m.status, "
          "m.reason, m.impl, m.is_reference, m.chosen_layout, m.config, {2} FROM {0}.measurements m "
          "JOIN temp.merge_problems mp ON mp.src = m.problem_id "
          "JOIN temp.merge_units mu ON mu.src = m.unit_id "
          "LEFT JOIN temp.merge_sweeps ms ON ms.src = m.sweep_id WHERE true "
          "ON CONFLICT(problem_id, unit_id, layout, dtype) DO UPDATE SET "
          "src_layout = excluded.src_layout, dst_layout = excluded.dst_layout, "
          "sweep_id = excluded.sweep_id, status = excluded.status, reason = excluded.reason, "
          "impl = excluded.impl, is_reference = excluded.is_reference, "
          "chosen_layout = excluded.chosen_layout, config = excluded.config, {3} "
          "WHERE {4}",
          a, stats, stats_of("m"), update_stats, Better("measurements")),
      "measurements");
  run(fmt::format(
          "INSERT INTO main.transitions(unit_id, src_layout, dst_layout, dtype, shape, bytes, "
          "sweep_id, status, reason, impl, {1}) SELECT mu.dst, t.src_layout, t.dst_layout, t.dtype, "
          "t.shape, t.bytes, ms.dst, t.status, t.reason, t.impl, {2} FROM {0}.transitions t "
          "JOIN temp.merge_units mu ON mu.src = t.unit_id "
          "LEFT JOIN temp.merge_sweeps ms ON ms.src = t.sweep_id WHERE true "
          "ON CONFLICT(unit_id, src_layout, dst_layout, dtype, shape) DO UPDATE SET "
          "bytes = excluded.bytes, sweep_id = excluded.sweep_id, status = excluded.status, "
          "reason = excluded.reason, impl = excluded.impl, {3} "
          "WHERE {4}",
          a, stats, stats_of("t"), update_stats, Better("transitions")),
      "transitions");
  run(fmt::format(
          "INSERT INTO main.transfers(src_unit_id, dst_unit_id, method, bytes, sweep_id, status, "
          "reason, {1}) SELECT su.dst, du.dst, x.method, x.bytes, ms.dst, x.status, x.reason, {2} "
          "FROM {0}.transfers x JOIN temp.merge_units su ON su.src = x.src_unit_id "
          "JOIN temp.merge_units du ON du.src = x.dst_unit_id "
          "LEFT JOIN temp.merge_sweeps ms ON ms.src = x.sweep_id WHERE true "
          "ON CONFLICT(src_unit_id, dst_unit_id, method, bytes) DO UPDATE SET "
          "sweep_id = excluded.sweep_id, status = excluded.status, reason = excluded.reason, {3} "
          "WHERE {4}",
          a, stats, stats_of("x"), update_stats, Better("transfers")),
      "transfers");
  // Validations have no natural key: the same run (target, model, strategy, time) is taken once.
  run(fmt::format(
          "INSERT INTO main.validations(target_id, model, model_hash, plan, strategy, predicted_us, "
          "measured_us, p10_us, p90_us, repetitions, status, reason, measured_at, validation, inputs, "
          "details) SELECT mt.id, v.model, v.model_hash, v.plan, v.strategy, v.predicted_us, "
          "v.measured_us, v.p10_us, v.p90_us, v.repetitions, v.status, v.reason, v.measured_at, "
          "v.validation, v.inputs, v.details FROM {0}.validations v "
          "JOIN {0}.targets t ON t.id = v.target_id "
          "JOIN main.targets mt ON mt.fingerprint = t.fingerprint "
          "WHERE NOT EXISTS (SELECT 1 FROM main.validations w WHERE w.target_id = mt.id AND "
          "w.model_hash = v.model_hash AND w.strategy = v.strategy AND "
          "w.measured_at = v.measured_at) ORDER BY v.id",
          a),
      "validations");
  // Network times (schema 8): keyed like measurements; the later one wins.
  run(fmt::format(
          "INSERT INTO main.network_times(sweep_id, unit_id, model, nodes, layout, dtype, median_us, p10_us, "
          "p90_us, repetitions, rel_ci, measured_at) SELECT ms.dst, mu.dst, n.model, n.nodes, n.layout, n.dtype, "
          "n.median_us, n.p10_us, n.p90_us, n.repetitions, n.rel_ci, n.measured_at FROM {0}.network_times n "
          "JOIN temp.merge_units mu ON mu.src = n.unit_id JOIN temp.merge_sweeps ms ON ms.src = n.sweep_id "
          "WHERE true ON CONFLICT(unit_id, model, nodes, layout, dtype) DO UPDATE SET "
          "sweep_id = excluded.sweep_id, median_us = excluded.median_us, p10_us = excluded.p10_us, "
          "p90_us = excluded.p90_us, repetitions = excluded.repetitions, rel_ci = excluded.rel_ci, "
          "measured_at = excluded.measured_at WHERE excluded.measured_at > network_times.measured_at",
          a),
      "network times");
  // Calibrations belong to their sweep: taken with it once (a sweep merged again keeps its own).
  run(fmt::format(
          "INSERT INTO main.calibrations(sweep_id, kernel, points_done, median_us, p10_us, p90_us, "
          "repetitions, work, measured_at) SELECT ms.dst, c.kernel, c.points_done, c.median_us, "
          "c.p10_us, c.p90_us, c.repetitions, c.work, c.measured_at FROM {0}.calibrations c "
          "JOIN temp.merge_sweeps ms ON ms.src = c.sweep_id "
          "WHERE NOT EXISTS (SELECT 1 FROM main.calibrations k WHERE k.sweep_id = ms.dst AND "
          "k.kernel = c.kernel AND k.measured_at = c.measured_at AND k.points_done = c.points_done) "
          "ORDER BY c.id",
          a),
      "calibrations");
}

}  // namespace

namespace {
MergeSummary MergeInto(const std::string& path, const std::string& out,
                       const std::vector<std::string>& inputs, bool fresh);
}  // namespace

MergeSummary Merge(const std::string& out, const std::vector<std::string>& inputs) {
  // Check every input as Open() would (same refusals) before anything is written.
  std::error_code ec;
  for (const std::string& in : inputs) {
    Database::Open(in, Mode::kReadOnly);
    if (fs::exists(out, ec) && fs::equivalent(in, out, ec)) {
      throw Error(fmt::format("{}: is the output of this merge; give it as --out only", in));
    }
  }
  // Into a new file: written as OUT.partial and put in place once complete (a merge killed midway
  // leaves no OUT that looks finished; the next run starts again). Into an existing file: in place, one
  // transaction per batch of inputs (a killed merge leaves whole inputs merged or not; run it again).
  const bool fresh = !fs::exists(fs::symlink_status(out, ec));
  const std::string path = fresh ? internal::PartialPath(out) : out;
  if (fresh) internal::RemoveWithCompanions(path);  // left by a merge that was killed
  try {
    MergeSummary s = MergeInto(path, out, inputs, fresh);
    if (fresh) internal::Publish(path, out);
    return s;
  } catch (const Error& e) {
    if (!fresh) throw;
    internal::RemoveWithCompanions(path);
    throw internal::NamingFinalPath(e, path, out);
  } catch (...) {
    if (fresh) internal::RemoveWithCompanions(path);
    throw;
  }
}

namespace {

// Merges `inputs` into the file at `path` (`out` names it in messages); `fresh`: nobody else has it.
MergeSummary MergeInto(const std::string& path, const std::string& out,
                       const std::vector<std::string>& inputs, bool fresh) {
  Database db = Database::Open(path, Mode::kReadWrite);
  sqlite3* h = db.handle();
  Exec(h, out,
       "CREATE TEMP TABLE merge_units(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL); "
       "CREATE TEMP TABLE merge_problems(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL); "
       "CREATE TEMP TABLE merge_sweeps(src INTEGER PRIMARY KEY, dst INTEGER NOT NULL)");

  // ATTACH is not allowed inside a transaction, and SQLite attaches at most 10 files at once.
  const size_t batch = static_cast<size_t>(std::max(1, sqlite3_limit(h, SQLITE_LIMIT_ATTACHED, -1)));
  for (size_t first = 0; first < inputs.size(); first += batch) {
    const size_t last = std::min(inputs.size(), first + batch);
    for (size_t i = first; i < last; ++i) {
      Stmt attach(h, out, fmt::format("ATTACH DATABASE ?1 AS in{}", i - first));
      attach.Bind(1, internal::FileUri(inputs[i], "mode=ro"));
      attach.Run(fmt::format("attaching {}", inputs[i]));
    }
    {
      Database::Transaction tx(db);
      for (size_t i = first; i < last; ++i) MergeOne(h, out, inputs[i], fmt::format("in{}", i - first));
      tx.Commit();
    }
    for (size_t i = first; i < last; ++i) Exec(h, out, fmt::format("DETACH DATABASE in{}", i - first));
  }
  Exec(h, out, "DROP TABLE temp.merge_units; DROP TABLE temp.merge_problems; "
               "DROP TABLE temp.merge_sweeps");
  // Leave one self-contained file when nobody else has it open; the merge itself is committed either way
  // (a new file must stand alone before it is put in place).
  try {
    db.Checkpoint();
  } catch (const Error&) {
    if (fresh) throw;
  }
  const Database::Totals totals = db.CountRows();
  MergeSummary s;
  s.files = static_cast<int64_t>(inputs.size());
  s.targets = totals.targets;
  s.measurements = totals.measurements;
  s.transitions = totals.transitions;
  s.transfers = totals.transfers;
  return s;
}

}  // namespace

}  // namespace layoutdb::db
