#include "layoutdb/reports/info.h"

#include "layoutdb/human.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <tuple>
#include <vector>

namespace layoutdb::reports {
namespace {

namespace fs = std::filesystem;

int64_t FileSize(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(size);
}

// Seconds since the epoch of an ISO-8601 UTC time as NowUtc() writes it; nullopt if it is not one.
std::optional<int64_t> ParseUtc(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::optional<int64_t> DurationS(const db::SweepRow& s) {
  const auto start = ParseUtc(s.started_at), end = ParseUtc(s.ended_at);
  if (!start || !end || *end < *start) return std::nullopt;
  return *end - *start;
}

// A JSON text column as JSON (a string if it does not parse: info shows what is there).
nlohmann::json JsonOrText(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

// "onednn 2.6.0, pocl 3.1" from {"onednn": "2.6.0", "pocl": "3.1"}.
std::string Flatten(const std::string& json_text) {
  const auto j = JsonOrText(json_text);
  if (!j.is_object()) return j.is_string() ? j.get<std::string>() : j.dump();
  std::string out;
  for (const auto& [k, v] : j.items()) {
    out += (out.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out.empty() ? "-" : out;
}

// Layout columns in the order a person expects: plain, then blocked, then the library's choice, then
// mixed (src>dst) pairs.
int LayoutRank(const std::string& layout) {
  static const std::vector<std::string> kOrder = {"plain", "nchw",   "nhwc", "nChw8c",
                                                  "nChw16c", "nc4hw4", "any"};
  const auto it = std::find(kOrder.begin(), kOrder.end(), layout);
  return it == kOrder.end() ? static_cast<int>(kOrder.size()) : static_cast<int>(it - kOrder.begin());
}

struct LayoutLess {
  bool operator()(const std::string& a, const std::string& b) const {
    return std::make_tuple(LayoutRank(a), a) < std::make_tuple(LayoutRank(b), b);
  }
};

// How many `ok` measurements reached their stability target: stable, not, and unknown (measured before
// schema 4 recorded it).
struct Stability {
  int64_t stable = 0, unstable = 0, unknown = 0;
};
Stability CountStability(db::Database& db) {
  Stability s;
  for (const auto& m : db.Measurements()) {
    if (m.status != "ok" || !m.stats) continue;
    if (!m.stats->stable) ++s.unknown;
    else if (*m.stats->stable) ++s.stable;
    else ++s.unstable;
  }
  return s;
}

// Schema 8's network times: sub-graph states, and the models (file and input shapes) they belong to.
struct NetworkTimesCount {
  size_t states = 0, models = 0;
};
NetworkTimesCount CountNetworkTimes(db::Database& db) {
  const auto rows = db.NetworkTimes();
  std::set<std::string> models;
  for (const auto& r : rows) models.insert(r.model);
  return {rows.size(), models.size()};
}

// Per calibration kernel of a sweep: its median over the sweep and its range (max - min) over it.
struct Drift {
  int64_t checks = 0;
  double median_us = 0, range = 0;  // range relative to the median
};
std::map<std::string, Drift> CalibrationDrift(db::Database& db, int64_t sweep_id) {
  std::map<std::string, std::vector<double>> by;
  for (const auto& c : db.Calibrations(sweep_id)) by[c.kernel].push_back(c.median_us);
  std::map<std::string, Drift> out;
  for (auto& [k, v] : by) {
    std::sort(v.begin(), v.end());
    Drift d;
    d.checks = static_cast<int64_t>(v.size());
    d.median_us = v[v.size() / 2];
    d.range = d.median_us > 0 ? (v.back() - v.front()) / d.median_us : 0;
    out[k] = d;
  }
  return out;
}

}  // namespace

nlohmann::json InfoJson(db::Database& db) {
  using nlohmann::json;
  json j;
  j["path"] = db.path();
  j["schema_version"] = db.SchemaVersion();
  j["file_bytes"] = FileSize(db.path());
  j["wal_bytes"] = FileSize(db.path() + "-wal");

  json targets = json::array();
  for (const auto& t : db.Targets()) {
    targets.push_back({{"id", t.id},
                       {"fingerprint", t.fingerprint},
                       {"hostname", t.hostname},
                       {"cpu_model", t.cpu_model},
                       {"isa", t.isa},
                       {"cores", t.cores},
                       {"threads", t.threads},
                       {"caches", JsonOrText(t.caches)},
                       {"os", t.os},
                       {"libraries", JsonOrText(t.libraries)},
                       {"created_at", t.created_at}});
  }
  j["targets"] = targets;

  json units = json::array();
  for (const auto& u : db.Units()) {
    units.push_back({{"id", u.id},
                     {"target_id", u.target_id},
                     {"name", u.name},
                     {"kind", u.kind},
                     {"vendor", u.vendor},
                     {"device_name", u.device_name},
                     {"driver", u.driver},
                     {"compute_units", u.compute_units},
                     {"clock_mhz", u.clock_mhz},
                     {"global_mem", u.global_mem},
                     {"local_mem", u.local_mem}});
  }
  j["units"] = units;

  json sweeps = json::array();
  for (const auto& s : db.Sweeps()) {
    const auto d = DurationS(s);
    sweeps.push_back({{"id", s.id},
                      {"target_id", s.target_id},
                      {"spec_name", s.spec_name},
                      {"spec_hash", s.spec_hash},
                      {"shard_index", s.shard_index},
                      {"shard_count", s.shard_count},
                      {"status", s.status},
                      {"started_at", s.started_at},
                      {"ended_at", s.ended_at.empty() ? json(nullptr) : json(s.ended_at)},
                      {"duration_s", d ? json(*d) : json(nullptr)},
                      {"points_done", s.points_done},
                      {"points_total", s.points_total},
                      {"tool_version", s.tool_version},
                      {"cache_mode", s.cache_mode.empty() ? json(nullptr) : json(s.cache_mode)},
                      {"execution", s.execution.empty() ? json(nullptr) : JsonOrText(s.execution)}});
    json cal = json::object();
    for (const auto& [kernel, d] : CalibrationDrift(db, s.id))
      cal[kernel] = {{"checks", d.checks}, {"median_us", d.median_us}, {"range", d.range}};
    sweeps.back()["calibration"] = cal;
  }
  j["sweeps"] = sweeps;

  json counts = json::array();
  json by_status = json::object();
  int64_t total = 0, references = 0;
  for (const auto& c : db.MeasurementCounts()) {
    counts.push_back({{"target_id", c.target_id},
                      {"unit", c.unit},
                      {"op", c.op},
                      {"layout", c.layout},
                      {"dtype", c.dtype},
                      {"status", c.status},
                      {"count", c.count},
                      {"reference", c.references}});
    by_status[c.status] = by_status.value(c.status, int64_t{0}) + c.count;
    total += c.count;
    references += c.references;
  }
  const Stability st = CountStability(db);
  j["measurements"] = {{"total", total},
                       {"reference", references},
                       {"by_status", by_status},
                       {"counts", counts},
                       {"stability", {{"stable", st.stable}, {"unstable", st.unstable}, {"unknown", st.unknown}}}};

  const auto totals = db.CountRows();
  j["problems"] = totals.problems;
  j["transitions"] = totals.transitions;
  j["transfers"] = totals.transfers;
  j["validations"] = totals.validations;
  const NetworkTimesCount nt = CountNetworkTimes(db);
  j["network_times"] = {{"states", nt.states}, {"models", nt.models}};
  return j;
}

std::string InfoText(db::Database& db) {
  std::string out;
  auto line = [&out](const std::string& s) { out += s + "\n"; };

  const int64_t bytes = FileSize(db.path()), wal = FileSize(db.path() + "-wal");
  line(fmt::format("{}: layoutdb schema version {}, {}{}", db.path(), db.SchemaVersion(),
                   HumanBytes(static_cast<double>(bytes)),
                   wal > 0 ? fmt::format(" (+ {} write-ahead log)", HumanBytes(static_cast<double>(wal)))
                           : ""));

  const auto targets = db.Targets();
  std::map<int64_t, std::string> target_label;
  line("");
  line(fmt::format("Targets ({})", targets.size()));
  for (const auto& t : targets) {
    target_label[t.id] = t.fingerprint.substr(0, 8);
    line(fmt::format("  #{} {}  {} · {} · {} cores / {} threads · {} · host {}", t.id, t.fingerprint,
                     t.cpu_model, t.isa, t.cores, t.threads, t.os, t.hostname));
    line(fmt::format("      libraries: {}", Flatten(t.libraries)));
    line(fmt::format("      caches: {}", Flatten(t.caches)));
  }

  const auto units = db.Units();
  line("");
  line(fmt::format("Units ({})", units.size()));
  size_t name_w = 4;
  for (const auto& u : units) name_w = std::max(name_w, u.name.size());
  for (const auto& u : units) {
    std::string extra;
    if (u.clock_mhz > 0) extra += fmt::format(" · {} MHz", u.clock_mhz);
    extra += u.global_mem > 0 ? fmt::format(" · {} memory", HumanBytes(static_cast<double>(u.global_mem)))
                              : "";
    if (u.local_mem > 0) extra += fmt::format(" · {} local", HumanBytes(static_cast<double>(u.local_mem)));
    line(fmt::format("  #{} {:<{}}  {:<6}  {} · {} · {} compute units{}{}", u.id, u.name, name_w, u.kind,
                     u.device_name, u.driver, u.compute_units, extra,
                     targets.size() > 1 ? fmt::format(" · target #{}", u.target_id) : ""));
  }

  const auto sweeps = db.Sweeps();
  line("");
  line(fmt::format("Sweeps ({})", sweeps.size()));
  for (const auto& s : sweeps) {
    const auto d = DurationS(s);
    line(fmt::format("  #{} {}  shard {}/{}  {:<11}  {} → {}{}  {}/{} points{}{}", s.id, s.spec_name,
                     s.shard_index, s.shard_count, s.status, s.started_at,
                     s.ended_at.empty() ? "…" : s.ended_at, d ? " (" + HumanDuration(*d) + ")" : "",
                     s.points_done, s.points_total,
                     s.cache_mode.empty() ? "" : fmt::format("  {} cache", s.cache_mode),
                     targets.size() > 1 ? fmt::format("  target #{}", s.target_id) : ""));
    const auto exec = JsonOrText(s.execution.empty() ? "{}" : s.execution);
    if (exec.is_object() && exec.contains("threads"))
      line(fmt::format("      threads: {} (affinity {}, {}, OMP_NUM_THREADS {}, oneDNN {})", exec.value("threads", 0),
                       exec.value("affinity", "?"), exec.value("cgroup", "?"),
                       exec["omp_num_threads"].is_string() ? exec["omp_num_threads"].get<std::string>() : "unset",
                       exec.value("onednn_threads", 0)));
    std::vector<std::string> drift;
    for (const auto& [kernel, dr] : CalibrationDrift(db, s.id))
      drift.push_back(fmt::format("{} {:.0f} us, range {:.1f}% over {} checks", kernel, dr.median_us,
                                  100 * dr.range, dr.checks));
    if (!drift.empty()) line(fmt::format("      calibration: {}", fmt::join(drift, "; ")));
    if (exec.is_object() && exec.contains("placement") && exec["placement"].is_object()) {
      const auto& p = exec["placement"];
      line(fmt::format("      threads' placement: a cache line between two threads in {:.0f} ns as the passes found "
                       "them (fastest {:.0f}); {} of {} passes waited ({:.1f} s), {} timed apart",
                       p.value("found_median_ns", 0.0), p.value("lowest_ns", 0.0), p.value("waits", 0),
                       p.value("checks", 0), p.value("waited_s", 0.0), p.value("apart_passes", 0)));
    }
  }

  // Measurements: one table per (target, unit, dtype); ops as rows, layouts as columns; a cell is the
  // number of points, "ok/all" when some of them did not end ok.
  const auto counts = db.MeasurementCounts();
  int64_t total = 0, refs = 0;
  std::map<std::string, int64_t> by_status;
  struct Cell {
    int64_t ok = 0, all = 0;
  };
  using Block = std::tuple<int64_t, std::string, std::string>;  // target, unit, dtype
  std::map<Block, std::map<std::string, std::map<std::string, Cell, LayoutLess>>> blocks;
  std::map<Block, std::set<std::string, LayoutLess>> columns;
  for (const auto& c : counts) {
    total += c.count;
    refs += c.references;
    by_status[c.status] += c.count;
    const Block b{c.target_id, c.unit, c.dtype};
    Cell& cell = blocks[b][c.op][c.layout];
    cell.all += c.count;
    if (c.status == "ok") cell.ok += c.count;
    columns[b].insert(c.layout);
  }
  std::string statuses;
  for (const char* s : {"ok", "unsupported", "failed", "mistrusted"}) {
    statuses += fmt::format("{}{} {}", statuses.empty() ? "" : ", ", s, by_status[s]);
  }
  line("");
  line(fmt::format("Measurements: {} ({}); {} on reference implementations (never recommended)", total,
                   statuses, refs));
  const Stability st = CountStability(db);
  if (st.stable + st.unstable + st.unknown > 0)
    line(fmt::format("  stability: {} of {} ok points reached their target, {} did not (their CI stayed wider){}",
                     st.stable, st.stable + st.unstable + st.unknown, st.unstable,
                     st.unknown ? fmt::format(", {} measured before it was recorded", st.unknown) : ""));
  for (const auto& [block, rows] : blocks) {
    const auto& [target_id, unit, dtype] = block;
    const std::string title =
        fmt::format("  {}{} {}", unit, targets.size() > 1 ? " @" + target_label[target_id] : "", dtype);
    std::vector<std::string> cols(columns[block].begin(), columns[block].end());
    size_t row_w = title.size();
    for (const auto& [op, cells] : rows) row_w = std::max(row_w, op.size() + 4);
    std::vector<size_t> widths;
    for (const auto& c : cols) {
      size_t w = c.size();
      for (const auto& [op, cells] : rows) {
        auto it = cells.find(c);
        if (it != cells.end()) w = std::max(w, fmt::format("{}/{}", it->second.ok, it->second.all).size());
      }
      widths.push_back(w);
    }
    std::string header = fmt::format("{:<{}}", title, row_w);
    for (size_t i = 0; i < cols.size(); ++i) header += fmt::format("  {:>{}}", cols[i], widths[i]);
    line(header);
    for (const auto& [op, cells] : rows) {
      std::string row = fmt::format("{:<{}}", "    " + op, row_w);
      for (size_t i = 0; i < cols.size(); ++i) {
        auto it = cells.find(cols[i]);
        std::string cell = "-";
        if (it != cells.end()) {
          cell = it->second.ok == it->second.all ? std::to_string(it->second.all)
                                                 : fmt::format("{}/{}", it->second.ok, it->second.all);
        }
        row += fmt::format("  {:>{}}", cell, widths[i]);
      }
      line(row);
    }
  }
  if (!blocks.empty()) line("  (a cell counts the points; ok/all where some did not end ok)");

  const auto totals = db.CountRows();
  line("");
  line(fmt::format("Transitions: {}   Transfers: {}   Problems: {}   Validations: {}",
                   totals.transitions, totals.transfers, totals.problems, totals.validations));
  const NetworkTimesCount nt = CountNetworkTimes(db);
  if (nt.states > 0)
    line(fmt::format("Network times: {} sub-graph states of {} model{} (sweep --model --cache network)", nt.states,
                     nt.models, nt.models == 1 ? "" : "s"));
  return out;
}

}  // namespace layoutdb::reports
