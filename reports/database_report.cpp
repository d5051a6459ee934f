// `layoutdb report`: what a database says about its machine, as plots (HTML), a summary (Markdown)
// and the tables themselves (CSV).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "charts.h"
#include "dataset.h"
#include "document.h"
#include "layoutdb/db.h"
#include "layoutdb/human.h"
#include "layoutdb/reports/report.h"

namespace layoutdb::reports {
namespace {

namespace fs = std::filesystem;
using charts::Field;
using nlohmann::json;

// At most this many rows in a bar chart or an HTML table of points: the worst ones.
constexpr size_t kMaxBars = 40;
constexpr size_t kMaxTableRows = 60;
// `any` counts as losing when it is this much slower than the best explicit layout.
constexpr double kAnyLosesAbove = 1.03;

// Three significant digits, without an exponent up to a million: 0.0123, 4.56, 789, 1234.
std::string Fmt(double v, int digits = 3) {
  const std::string g = fmt::format("{:.{}g}", v, digits);
  if (g.find('e') != std::string::npos && std::fabs(v) >= 1 && std::fabs(v) < 1e6) return fmt::format("{:.0f}", v);
  return g;
}

std::optional<int64_t> ParseUtc(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::optional<int64_t> SweepSeconds(const db::SweepRow& s) {
  const auto a = ParseUtc(s.started_at), b = ParseUtc(s.ended_at);
  if (!a || !b || *b < *a) return std::nullopt;
  return *b - *a;
}

// "conv2d:mb1ic64..." -> "mb1ic64..." (the op is in the plot's title).
std::string Shape(const std::string& key, const std::string& op) {
  return key.rfind(op + ":", 0) == 0 ? key.substr(op.size() + 1) : key;
}

std::string Flatten(const std::string& json_text) {
  const auto j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return json_text;
  std::string out;
  for (const auto& [k, v] : j.items())
    out += (out.empty() ? "" : ", ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
  return out.empty() ? "-" : out;
}

// Where a target's figures go: one set of sections per target; with several, each title says which.
struct Context {
  const Target& t;
  std::string suffix;  // "" or " — host (...)"
};

void AddFingerprint(Document& doc, const Context& c) {
  Section s{"Target" + c.suffix, {}};
  const auto& r = c.t.row;
  s.Text(fmt::format("{}: {} ({}), {} cores / {} threads, {}. Fingerprint {}.", r.hostname, r.cpu_model, r.isa,
                     r.cores, r.threads, r.os, r.fingerprint));
  s.Add(Table{{"field", "value"},
              {{"fingerprint", r.fingerprint},
               {"hostname", r.hostname},
               {"cpu", r.cpu_model},
               {"isa (oneDNN dispatch)", r.isa},
               {"cores / threads", fmt::format("{} / {}", r.cores, r.threads)},
               {"caches", Flatten(r.caches)},
               {"os", r.os},
               {"libraries", Flatten(r.libraries)},
               {"first profiled", r.created_at}}});
  Table units{{"unit", "kind", "device", "driver", "compute units", "clock", "memory", "local memory"}, {}};
  for (const auto& u : c.t.units)
    units.rows.push_back({u.name, u.kind, u.device_name, u.driver, std::to_string(u.compute_units),
                          u.clock_mhz > 0 ? fmt::format("{} MHz", u.clock_mhz) : "-",
                          u.global_mem > 0 ? HumanBytes(static_cast<double>(u.global_mem)) : "-",
                          u.local_mem > 0 ? HumanBytes(static_cast<double>(u.local_mem)) : "-"});
  s.Add(units);
  doc.sections.push_back(std::move(s));
}

// What state a point ended in, for coverage counts.
std::string Outcome(const Point& p) {
  if (p.status == "ok" && p.reference) return "ok, reference kernel";
  return p.status;
}

void AddSweeps(Document& doc, const Context& c) {
  Section s{"Sweeps: coverage and duration" + c.suffix, {}};
  Table table{{"sweep", "spec", "shard", "status", "started", "duration", "points"}, {}};
  json bars = json::array();
  std::vector<std::string> cats;
  int64_t total_s = 0;
  for (const auto& w : c.t.sweeps) {
    const auto d = SweepSeconds(w);
    const std::string cat = fmt::format("#{} {} {}/{}", w.id, w.spec_name, w.shard_index, w.shard_count);
    table.rows.push_back({fmt::format("#{}", w.id), w.spec_name, fmt::format("{}/{}", w.shard_index, w.shard_count),
                          w.status, w.started_at, d ? HumanDuration(static_cast<double>(*d)) : "-",
                          fmt::format("{}/{}", w.points_done, w.points_total)});
    if (d) {
      total_s += *d;
      cats.push_back(cat);
      bars.push_back({{"category", cat}, {"value", std::max<int64_t>(*d, 0)}, {"color", w.status},
                      {"text", fmt::format("{} of {} points, {}", w.points_done, w.points_total, w.status)},
                      {"points", w.points_done}});
    }
  }
  s.Text(fmt::format("{} sweep{} of this target, {} in all; {} points stored.", c.t.sweeps.size(),
                     c.t.sweeps.size() == 1 ? "" : "s", HumanDuration(static_cast<double>(total_s)),
                     c.t.points.size()));
  s.Add(table);
  if (!bars.empty()) {
    charts::BarOptions o;
    o.values = bars;
    o.categories = cats;
    o.value_title = "duration (s)";
    o.color_title = "status";
    o.tooltip = {{"sweep", "category", ""}, {"seconds", "value", ""}, {"points", "points", ""}};
    s.Add(Plot{"Sweep durations", fmt::format("{} sweep{} took {} in all; each bar says how many of its points it finished.",
                                              bars.size(), bars.size() == 1 ? "" : "s",
                                              HumanDuration(static_cast<double>(total_s))),
               charts::Bars(o)});
  }
  // Coverage: points per (unit, op, dtype) by how they ended.
  std::map<std::string, std::map<std::string, int>> counts;
  std::map<std::string, int> outcome_total;
  for (const Point& p : c.t.points) {
    ++counts[fmt::format("{} · {} · {}", p.unit, p.op, p.dtype)][Outcome(p)];
    ++outcome_total[Outcome(p)];
  }
  if (!counts.empty()) {
    charts::BarOptions o;
    o.stack = true;
    o.value_title = "points";
    o.color_title = "ended";
    o.color_domain = {"ok", "ok, reference kernel", "unsupported", "failed", "mistrusted"};
    o.color_range = {"#4c78a8", "#f58518", "#bab0ac", "#e45756", "#b279a2"};
    o.tooltip = {{"unit · op · dtype", "category", ""}, {"ended", "color", ""}, {"points", "value", ""}};
    for (const auto& [cat, by] : counts) {
      o.categories.push_back(cat);
      for (const auto& [outcome, n] : by) o.values.push_back({{"category", cat}, {"color", outcome}, {"value", n}});
    }
    std::string parts;
    for (const auto& [outcome, n] : outcome_total) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n, outcome);
    s.Add(Plot{"Coverage per unit, op family and dtype",
               fmt::format("{} points: {}; reference kernels are stored but never recommended.", c.t.points.size(), parts),
               charts::Bars(o)});
  }
  doc.sections.push_back(std::move(s));
}

void AddWinners(Document& doc, const Context& c, const std::vector<Family>& families) {
  Section s{"Winning layouts" + c.suffix, {}};
  s.Text("Per unit, op family and dtype: every measured shape (rows, smallest FLOPs first) in every layout "
         "(columns); a cell is that layout's time over the best explicit layout's (1 = the winner, outlined). "
         "`any` is oneDNN's own choice; grey cells could not be ranked (ref: a reference kernel, never "
         "recommended; or the status that ended the point).");
  Table summary{{"unit", "op", "dtype", "shapes", "wins per layout", "geomean slowdown vs best"}, {}};
  for (const Family& f : families) {
    std::string wins, slow;
    for (const auto& l : f.layouts) {
      auto w = f.wins.find(l);
      if (w != f.wins.end()) wins += fmt::format("{}{} {}", wins.empty() ? "" : ", ", l, w->second);
      auto g = f.geomean_slowdown.find(l);
      if (g != f.geomean_slowdown.end()) slow += fmt::format("{}{} {}", slow.empty() ? "" : ", ", l, Times(g->second));
    }
    summary.rows.push_back({f.unit, f.op, f.dtype, std::to_string(f.problems.size()), wins.empty() ? "-" : wins,
                            slow.empty() ? "-" : slow});
  }
  s.Add(summary);
  std::string unranked;  // families without a single usable time
  for (const Family& f : families) {
    int explicit_layouts = 0;
    for (const auto& l : f.layouts) explicit_layouts += l != "any";
    int ranked_problems = 0;
    for (const auto& [l, n] : f.wins) ranked_problems += n;
    if (explicit_layouts < 2) continue;
    if (ranked_problems == 0) {
      unranked += (unranked.empty() ? "" : ", ") + fmt::format("{} · {} · {}", f.unit, f.op, f.dtype);
      continue;
    }
    charts::HeatmapOptions o;
    o.columns = f.layouts;
    o.value_title = "time / best";
    o.tooltip = {{"shape", "key", ""}, {"layout", "col", ""}, {"median µs", "median_us", ".4~r"},
                 {"time / best", "value", ".3~f"}, {"implementation", "impl", ""}, {"any chose", "chosen", ""},
                 {"status", "status", ""}};
    double worst = 1;
    int order = 0;
    for (const Ranked& r : f.problems) {
      for (const auto& l : f.layouts) {
        auto it = r.by_layout.find(l);
        if (it == r.by_layout.end()) continue;
        const Point& p = *it->second;
        json cell = {{"row", Shape(r.key, f.op)}, {"col", l}, {"order", order}, {"key", r.key},
                     {"impl", p.impl}, {"chosen", p.chosen_layout}, {"status", Outcome(p)},
                     {"best", l == r.best}};
        if (p.median_us > 0) cell["median_us"] = p.median_us;
        if (p.Usable() && !r.best.empty()) {
          const double v = p.median_us / r.best_us;
          worst = std::max(worst, v);
          cell["value"] = v;
          cell["text"] = l == r.best ? "best" : Fmt(v, 3);
        } else {
          cell["value"] = nullptr;
          cell["text"] = p.reference ? "ref" : p.status == "ok" ? "-" : p.status.substr(0, 6);
        }
        o.values.push_back(cell);
      }
      ++order;
    }
    o.max_value = std::min(8.0, std::max(2.0, worst));
    // The reading: the most frequent winner, the slowest layout on average, and `any`.
    std::string top;
    int top_wins = 0, ranked = 0;
    for (const auto& [l, n] : f.wins) {
      ranked += n;
      if (n > top_wins) top = l, top_wins = n;
    }
    std::string slowest;
    double slowest_g = 0;
    int runnable = 0;  // explicit layouts with a usable time somewhere
    for (const auto& [l, g] : f.geomean_slowdown) {
      if (l == "any") continue;
      ++runnable;
      if (g > slowest_g) slowest = l, slowest_g = g;
    }
    std::string reading =
        runnable < 2 ? fmt::format("Only {} runs these {} shapes on a kernel of its own (the other layouts are "
                                   "unsupported or fall to reference kernels)",
                                   top, ranked)
                     : fmt::format("{} wins {} of {} shapes; {} is the slowest, {} the best on average (geometric "
                                   "mean)",
                                   top, top_wins, ranked, slowest, Times(slowest_g));
    auto any = f.geomean_slowdown.find("any");
    if (any != f.geomean_slowdown.end()) reading += fmt::format("; any is {} the best", Times(any->second));
    s.Add(Plot{fmt::format("{} · {} · {}", f.unit, f.op, f.dtype), reading + ".", charts::Heatmap(o)});
  }
  if (!unranked.empty()) s.Text("Not drawn, no usable time in any layout: " + unranked + ".");
  doc.sections.push_back(std::move(s));
}

void AddAny(Document& doc, const Context& c, const std::vector<AnyResult>& any) {
  Section s{"Where oneDNN's any loses" + c.suffix, {}};
  if (any.empty()) {
    s.Text("No problem has both `any` and an explicit layout measured.");
    doc.sections.push_back(std::move(s));
    return;
  }
  std::map<std::string, std::vector<const AnyResult*>> by_unit;
  for (const auto& a : any) by_unit[a.unit].push_back(&a);
  const double target = c.t.target_rel_ci;
  auto trusted = [target](const AnyResult* a) { return a->any_ci <= target + 1e-12 && a->best_ci <= target + 1e-12; };
  Table table{{"unit", "problem", "dtype", "any chose", "best", "any", "best time", "any / best", "both stable"}, {}};
  for (auto& [unit, v] : by_unit) {
    std::sort(v.begin(), v.end(), [](const AnyResult* a, const AnyResult* b) { return a->Ratio() > b->Ratio(); });
    // The chart shows the losses whose two medians can be trusted first, the largest of the rest after.
    std::vector<const AnyResult*> shown = v;
    std::stable_sort(shown.begin(), shown.end(),
                     [&](const AnyResult* a, const AnyResult* b) { return trusted(a) && !trusted(b); });
    int loses = 0, loses_trusted = 0;
    for (const AnyResult* a : v) {
      loses += a->Ratio() > kAnyLosesAbove;
      loses_trusted += a->Ratio() > kAnyLosesAbove && trusted(a);
    }
    charts::BarOptions o;
    o.log = true;
    o.from = 1;
    o.rule = 1;
    o.value_title = "any's time / the best explicit layout's";
    o.color_title = "both medians stable (CI within the target)";
    o.color_domain = {"yes", "no"};
    o.color_range = {"#4c78a8", "#bab0ac"};
    o.tooltip = {{"problem", "key", ""}, {"dtype", "dtype", ""}, {"any chose", "chosen", ""}, {"best", "best", ""},
                 {"any µs", "any_us", ".4~r"}, {"best µs", "best_us", ".4~r"}, {"any / best", "value", ".3~f"},
                 {"any's CI ±", "any_ci", ".1%"}, {"best's CI ±", "best_ci", ".1%"}};
    for (const AnyResult* a : shown) {
      if (a->Ratio() <= kAnyLosesAbove || o.categories.size() >= kMaxBars) continue;
      const std::string cat = fmt::format("{} {}", a->key, a->dtype);
      o.categories.push_back(cat);
      o.values.push_back({{"category", cat}, {"value", a->Ratio()}, {"color", trusted(a) ? "yes" : "no"},
                          {"any_ci", a->any_ci}, {"best_ci", a->best_ci}, {"key", a->key},
                          {"dtype", a->dtype}, {"chosen", a->chosen.empty() ? "?" : a->chosen}, {"best", a->best},
                          {"any_us", a->any_us}, {"best_us", a->best_us},
                          {"text", fmt::format("{} (chose {}, best {})", Times(a->Ratio()),
                                               a->chosen.empty() ? "?" : a->chosen, a->best)}});
      if (table.rows.size() < kMaxTableRows)
        table.rows.push_back({unit, a->key, a->dtype, a->chosen.empty() ? "?" : a->chosen, a->best, Us(a->any_us),
                              Us(a->best_us), Times(a->Ratio()),
                              trusted(a) ? "yes" : fmt::format("no (±{} / ±{})", Percent(a->any_ci), Percent(a->best_ci))});
    }
    std::vector<double> ratios;
    for (const AnyResult* a : v) ratios.push_back(a->Ratio());
    const std::string reading =
        loses == 0 ? fmt::format("On {}, any is within {:.0f}% of the best explicit layout on all {} problems.", unit,
                                 100 * (kAnyLosesAbove - 1), v.size())
                   : fmt::format("On {}, any loses by more than {:.0f}% on {} of {} problems ({} of them with both "
                                 "medians within their CI target), by up to {} ({} {}); geometric mean over all: {}.",
                                 unit, 100 * (kAnyLosesAbove - 1), loses, v.size(), loses_trusted,
                                 Times(v.front()->Ratio()), v.front()->key, v.front()->dtype, Times(GeoMean(ratios)));
    if (o.categories.empty()) {
      s.Text(reading);
    } else {
      s.Add(Plot{fmt::format("any against the best explicit layout · {}", unit), reading, charts::Bars(o)});
    }
  }
  if (!table.rows.empty()) s.Add(table);
  doc.sections.push_back(std::move(s));
}

void AddRoofline(Document& doc, const Context& c, const std::vector<Family>& families) {
  Section s{"Roofline" + c.suffix, {}};
  s.Text("Each problem's best layout per dtype: measured GFLOP/s against arithmetic intensity (FLOPs per byte "
         "read and written once). The roofs are the unit's own measured peaks: the best GFLOP/s of conv2d, "
         "matmul and ip, and the best GB/s of eltwise and binary — what the selector's roofline estimate uses.");
  const auto peaks = Peaks(c.t);
  Table table{{"unit", "dtype", "peak GFLOP/s", "at", "peak GB/s", "at"}, {}};
  for (const auto& p : peaks)
    table.rows.push_back({p.unit, p.dtype, p.gflops > 0 ? Fmt(p.gflops) : "-", p.gflops_key,
                          p.gbps > 0 ? Fmt(p.gbps) : "-", p.gbps_key});
  s.Add(table);
  std::set<std::string> units;
  for (const Family& f : families) units.insert(f.unit);
  for (const auto& unit : units) {
    charts::ScatterOptions o;
    o.x = "intensity";
    o.y = "gflops";
    o.x_title = "arithmetic intensity (FLOP / byte)";
    o.y_title = "GFLOP/s";
    o.color = "op";
    o.color_title = "op family";
    o.shape = "dtype";
    o.shape_title = "dtype";
    o.lines_title = "roof";
    o.tooltip = {{"problem", "key", ""}, {"layout", "layout", ""}, {"dtype", "dtype", ""},
                 {"GFLOP/s", "gflops", ".4~r"}, {"FLOP/byte", "intensity", ".3~r"}, {"median µs", "median_us", ".4~r"}};
    double lo = 1e300, hi = 0;
    for (const Family& f : families) {
      if (f.unit != unit) continue;
      for (const Ranked& r : f.problems) {
        if (r.best.empty()) continue;
        const Point& p = *r.by_layout.at(r.best);
        if (p.flops <= 0 || p.bytes <= 0) continue;
        const double intensity = p.flops / p.bytes, g = p.flops / (p.median_us * 1e3);
        lo = std::min(lo, intensity), hi = std::max(hi, intensity);
        o.values.push_back({{"intensity", intensity}, {"gflops", g}, {"op", p.op}, {"dtype", p.dtype},
                            {"key", p.key}, {"layout", p.layout}, {"median_us", p.median_us}});
      }
    }
    if (o.values.empty()) continue;
    double gbps = 0;
    for (const auto& p : peaks)
      if (p.unit == unit) gbps = std::max(gbps, p.gbps);
    std::string reading;
    for (const auto& p : peaks) {
      if (p.unit != unit || p.gflops <= 0) continue;
      reading += fmt::format("{}{} {} GFLOP/s", reading.empty() ? "" : ", ", p.dtype, Fmt(p.gflops));
      if (gbps <= 0) continue;
      // The roof: bandwidth-bound below the ridge, compute-bound above.
      const double x0 = std::min(lo, p.gflops / gbps) / 2, x1 = std::max(hi, p.gflops / gbps) * 2;
      const std::string series = fmt::format("{} ({} GFLOP/s, {} GB/s)", p.dtype, Fmt(p.gflops), Fmt(gbps));
      o.lines.push_back({{"x", x0}, {"y", x0 * gbps}, {"series", series}});
      o.lines.push_back({{"x", p.gflops / gbps}, {"y", p.gflops}, {"series", series}});
      o.lines.push_back({{"x", x1}, {"y", p.gflops}, {"series", series}});
    }
    reading = fmt::format("{}: measured peaks {}{}{}.", unit, reading.empty() ? "-" : reading,
                          gbps > 0 ? fmt::format("; bandwidth {} GB/s", Fmt(gbps)) : "",
                          "; points far below their roof leave the unit idle");
    s.Add(Plot{fmt::format("Roofline · {}", unit), reading, charts::Scatter(o)});
  }
  doc.sections.push_back(std::move(s));
}

void AddTransitions(Document& doc, const Context& c) {
  Section s{"Reorders and transfers" + c.suffix, {}};
  std::map<std::string, json> by_unit;
  std::map<std::string, double> fastest;  // unit -> best GB/s
  for (const auto& t : c.t.transitions) {
    if (t.status != "ok" || !t.stats || t.stats->median_us <= 0) continue;
    const std::string unit = c.t.unit_names.at(t.unit_id);
    const double gbps = static_cast<double>(t.bytes) / (t.stats->median_us * 1e3);
    fastest[unit] = std::max(fastest[unit], gbps);
    by_unit[unit].push_back({{"bytes", t.bytes}, {"us", t.stats->median_us},
                             {"pair", fmt::format("{}→{} {}", t.src_layout, t.dst_layout, t.dtype)},
                             {"shape", t.shape}, {"gbps", gbps}, {"impl", t.impl}});
  }
  if (by_unit.empty()) s.Text("No reorders measured.");
  for (auto& [unit, values] : by_unit) {
    charts::ScatterOptions o;
    o.values = values;
    o.x = "bytes";
    o.y = "us";
    o.x_title = "tensor size (bytes)";
    o.x_format = "~s";
    o.y_title = "median µs";
    o.color = "pair";
    o.color_title = "reorder";
    o.tooltip = {{"reorder", "pair", ""}, {"shape", "shape", ""}, {"bytes", "bytes", ".4~s"},
                 {"median µs", "us", ".4~r"}, {"GB/s", "gbps", ".3~r"}, {"implementation", "impl", ""}};
    s.Add(Plot{fmt::format("Reorder cost against size · {}", unit),
               fmt::format("{} reorders on {}; the fastest moves {} GB/s, small tensors pay a fixed overhead.",
                           values.size(), unit, Fmt(fastest[unit])),
               charts::Scatter(o)});
  }
  json transfers = json::array();
  double best = 0;
  for (const auto& t : c.t.transfers) {
    if (t.status != "ok" || !t.stats || t.stats->median_us <= 0) continue;
    const double gbps = static_cast<double>(t.bytes) / (t.stats->median_us * 1e3);
    if (t.method != "map" && t.method != "unmap") best = std::max(best, gbps);  // those move no bytes
    transfers.push_back({{"bytes", t.bytes}, {"us", t.stats->median_us}, {"gbps", gbps},
                         {"pair", fmt::format("{}→{} {}", c.t.unit_names.count(t.src_unit_id) ? c.t.unit_names.at(t.src_unit_id) : "?",
                                              c.t.unit_names.count(t.dst_unit_id) ? c.t.unit_names.at(t.dst_unit_id) : "?",
                                              t.method)}});
  }
  if (transfers.empty()) {
    s.Text("No transfers between units measured.");
  } else {
    charts::ScatterOptions o;
    o.values = transfers;
    o.x = "bytes";
    o.y = "us";
    o.x_title = "tensor size (bytes)";
    o.x_format = "~s";
    o.y_title = "median µs";
    o.color = "pair";
    o.color_title = "transfer";
    o.tooltip = {{"transfer", "pair", ""}, {"bytes", "bytes", ".4~s"}, {"median µs", "us", ".4~r"},
                 {"GB/s", "gbps", ".3~r"}};
    s.Add(Plot{"Transfer cost against size, per pair of units and method",
               fmt::format("{} transfers; the fastest copy (read, write or copy) moves {} GB/s; map and unmap move "
                           "no bytes and cost about the same at every size.",
                           transfers.size(), Fmt(best)),
               charts::Scatter(o)});
  }
  doc.sections.push_back(std::move(s));
}

void AddTrust(Document& doc, const Context& c) {
  Section s{"How far each point can be trusted" + c.suffix, {}};
  const double target = c.t.target_rel_ci;
  json values = json::array();
  std::vector<const Point*> unstable;
  std::vector<double> spreads;
  for (const Point& p : c.t.points) {
    if (p.status != "ok" || p.median_us <= 0) continue;
    const double spread = (p.p90_us - p.p10_us) / p.median_us;
    const bool stable = p.rel_ci <= target + 1e-12;
    if (!stable) unstable.push_back(&p);
    spreads.push_back(spread);
    values.push_back({{"median_us", p.median_us}, {"ci_pct", std::max(100 * p.rel_ci, 0.01)},
                      {"spread_pct", std::max(100 * spread, 0.01)}, {"key", p.key}, {"unit", p.unit},
                      {"layout", p.layout}, {"dtype", p.dtype}, {"reps", p.repetitions},
                      {"p10_us", p.p10_us}, {"p90_us", p.p90_us},
                      {"stable", stable ? "reached the target" : "never reached it"}});
  }
  if (values.empty()) {
    s.Text("No measured points.");
    doc.sections.push_back(std::move(s));
    return;
  }
  std::sort(spreads.begin(), spreads.end());
  const double median_spread = spreads[spreads.size() / 2];
  const std::vector<Field> tooltip = {{"problem", "key", ""},      {"unit", "unit", ""},
                                      {"layout", "layout", ""},    {"dtype", "dtype", ""},
                                      {"median µs", "median_us", ".4~r"}, {"p10 µs", "p10_us", ".4~r"},
                                      {"p90 µs", "p90_us", ".4~r"}, {"95% CI ±%", "ci_pct", ".3~r"},
                                      {"repetitions", "reps", ""}};
  {
    charts::ScatterOptions o;
    o.values = values;
    o.x = "median_us";
    o.y = "ci_pct";
    o.x_title = "median µs";
    o.y_title = "95% CI of the median, ± % of it";
    o.color = "stable";
    o.color_title = "stability target";
    o.shape = "unit";
    o.shape_title = "unit";
    o.y_rule = 100 * target;
    o.y_rule_label = fmt::format("target ±{:.3g}%", 100 * target);
    o.tooltip = tooltip;
    s.Add(Plot{"Confidence of each median",
               fmt::format("{} of {} points ({}) never reached the ±{:.3g}% target before their time budget ran out; "
                           "treat gaps smaller than their interval as ties.",
                           unstable.size(), values.size(),
                           Percent(static_cast<double>(unstable.size()) / static_cast<double>(values.size())),
                           100 * target),
               charts::Scatter(o)});
  }
  {
    charts::ScatterOptions o;
    o.values = values;
    o.x = "median_us";
    o.y = "spread_pct";
    o.x_title = "median µs";
    o.y_title = "p10–p90 spread, % of the median";
    o.color = "unit";
    o.color_title = "unit";
    o.tooltip = tooltip;
    s.Add(Plot{"Spread of the repetitions",
               fmt::format("Half the points have their p10–p90 repetitions within {:.3g}% of the median; short "
                           "kernels spread most.",
                           100 * median_spread),
               charts::Scatter(o)});
  }
  if (!unstable.empty()) {
    std::sort(unstable.begin(), unstable.end(), [](const Point* a, const Point* b) { return a->rel_ci > b->rel_ci; });
    Table t{{"unit", "problem", "layout", "dtype", "median", "p10", "p90", "95% CI ±", "repetitions"}, {}};
    for (const Point* p : unstable) {
      if (t.rows.size() >= kMaxTableRows) break;
      t.rows.push_back({p->unit, p->key, p->layout, p->dtype, Us(p->median_us), Us(p->p10_us), Us(p->p90_us),
                        Percent(p->rel_ci), std::to_string(p->repetitions)});
    }
    s.Text(fmt::format("Points that never reached the target (least certain first{}):",
                       unstable.size() > kMaxTableRows ? fmt::format(", {} of {}", kMaxTableRows, unstable.size()) : ""));
    s.Add(t, /*in_markdown=*/false);
  }
  doc.sections.push_back(std::move(s));
}

// Validations, grouped by run (the `validation` key; older rows by model and time).
void AddValidations(Document& doc, const std::vector<db::ValidationRow>& rows) {
  Section s{"Validations: predicted against measured", {}};
  if (rows.empty()) {
    s.Text("No validations stored: `layoutdb validate MODEL --db F` measures a plan and stores it here.");
    doc.sections.push_back(std::move(s));
    return;
  }
  std::map<std::string, std::vector<const db::ValidationRow*>> runs;
  std::vector<std::string> order;
  for (const auto& v : rows) {
    const std::string k = v.validation.empty() ? v.model_hash + "@" + v.measured_at : v.validation;
    if (!runs.count(k)) order.push_back(k);
    runs[k].push_back(&v);
  }
  json points = json::array();
  int within = 0, compared = 0;
  Table table{{"run", "model", "measured at", "plan measured", "predicted", "error", "selected / oracle",
               "best baseline", "it / plan"}, {}};
  std::vector<Plot> run_plots;
  for (size_t i = 0; i < order.size(); ++i) {
    const auto& run = runs[order[i]];
    const db::ValidationRow* plan = nullptr;
    for (const auto* v : run)
      if (v->strategy == "plan") plan = v;
    const std::string model = fs::path(run.front()->model).filename().string();
    const std::string label = fmt::format("run {} · {}", i + 1, model);
    for (const auto* v : run) {
      if (!v->measured_us || v->predicted_us <= 0) continue;
      points.push_back({{"predicted", v->predicted_us}, {"measured", *v->measured_us}, {"what", "whole model"},
                        {"run", label}, {"name", v->strategy}});
    }
    if (plan && !plan->details.empty()) {
      const auto d = json::parse(plan->details, nullptr, false);
      if (!d.is_discarded() && d.contains("subgraphs") && d["subgraphs"].is_array()) {
        for (const auto& sg : d["subgraphs"]) {
          const double m = sg.value("measured_us", 0.0), p = sg.value("predicted_us", 0.0);
          if (m <= 0 || p <= 0) continue;
          ++compared;
          within += std::fabs(p - m) <= 0.1 * m;
          points.push_back({{"predicted", p}, {"measured", m}, {"what", "sub-graph"}, {"run", label},
                            {"name", fmt::format("sg {} {}/{}", sg.value("index", 0), sg.value("unit", ""),
                                                 sg.value("layout", ""))}});
        }
      }
    }
    // The plan against its oracle and baselines.
    charts::BarOptions o;
    o.value_title = "measured µs (median)";
    o.tick_title = "predicted";
    o.color_title = "strategy";
    o.tooltip = {{"strategy", "category", ""}, {"measured µs", "value", ".4~r"}, {"predicted µs", "tick", ".4~r"},
                 {"p10 µs", "p10", ".4~r"}, {"p90 µs", "p90", ".4~r"}};
    std::vector<const db::ValidationRow*> sorted = run;
    std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
      return a->measured_us.value_or(1e300) < b->measured_us.value_or(1e300);
    });
    const db::ValidationRow* best_baseline = nullptr;
    for (const auto* v : sorted) {
      const std::string kind = v->strategy == "plan" ? "selected plan"
                               : v->strategy == "oracle" ? "oracle"
                               : v->strategy.find("onnxruntime") != std::string::npos ||
                                         v->strategy.rfind("ort", 0) == 0
                                   ? "ONNX Runtime"
                                   : "baseline";
      if (kind == "baseline" && v->measured_us && !best_baseline) best_baseline = v;
      if (!v->measured_us) continue;
      o.categories.push_back(v->strategy);
      json bar = {{"category", v->strategy}, {"value", *v->measured_us}, {"color", kind},
                  {"text", plan && plan->measured_us ? Times(*v->measured_us / *plan->measured_us) + " the plan" : ""}};
      if (v->predicted_us > 0) bar["tick"] = v->predicted_us;
      if (v->p10_us) bar["p10"] = *v->p10_us;
      if (v->p90_us) bar["p90"] = *v->p90_us;
      o.values.push_back(bar);
    }
    o.color_domain = {"selected plan", "oracle", "baseline", "ONNX Runtime"};
    o.color_range = {"#e45756", "#54a24b", "#9d9d9d", "#4c78a8"};
    std::string oracle_text = "-";
    for (const auto* v : run)
      if (v->strategy == "oracle" && v->measured_us && plan && plan->measured_us)
        oracle_text = Fmt(*plan->measured_us / *v->measured_us, 4);
    if (plan && plan->measured_us) {
      table.rows.push_back({std::to_string(i + 1), model, plan->measured_at, Us(*plan->measured_us), Us(plan->predicted_us),
                            fmt::format("{:+.1f}%", 100 * (plan->predicted_us - *plan->measured_us) / *plan->measured_us),
                            oracle_text, best_baseline ? best_baseline->strategy : "-",
                            best_baseline ? Times(*best_baseline->measured_us / *plan->measured_us) : "-"});
    }
    if (!o.values.empty() && run_plots.size() < 8) {
      std::string reading = plan && plan->measured_us
                                ? fmt::format("The selected plan ran in {} (predicted {}); selected / oracle {}", Us(*plan->measured_us),
                                              Us(plan->predicted_us), oracle_text)
                                : "The selected plan did not run";
      if (best_baseline && plan && plan->measured_us)
        reading += fmt::format("; the best baseline, {}, is {} the plan", best_baseline->strategy,
                               Times(*best_baseline->measured_us / *plan->measured_us));
      run_plots.push_back(Plot{fmt::format("The plan against its oracle and baselines · {} · {}", label, plan ? plan->measured_at : ""),
                               reading + ".", charts::Bars(o)});
    }
  }
  s.Add(table);
  if (!points.empty()) {
    charts::ScatterOptions o;
    o.values = points;
    o.x = "predicted";
    o.y = "measured";
    o.x_title = "predicted µs";
    o.y_title = "measured µs";
    o.color = "run";
    o.color_title = "run";
    o.shape = "what";
    o.shape_title = "point";
    o.diagonal_band = true;
    o.tooltip = {{"run", "run", ""}, {"what", "name", ""}, {"predicted µs", "predicted", ".4~r"},
                 {"measured µs", "measured", ".4~r"}};
    s.Add(Plot{"Predicted against measured",
               fmt::format("{} of {} sub-graphs are within ±10% of their measured time (the green band); whole-model "
                           "points show every strategy's total.",
                           within, compared),
               charts::Scatter(o)});
  }
  for (auto& p : run_plots) s.Add(std::move(p));
  doc.sections.push_back(std::move(s));
}

void AddComparison(Document& doc, const Target& a, const Target& b, const std::vector<Family>& fa,
                   const std::vector<Family>& fb, std::vector<Difference>* out) {
  Section s{"Two targets side by side", {}};
  s.Text(fmt::format("A: {} from {}. B: {} from {}.", a.Label(), a.source, b.Label(), b.source));
  const auto diffs = Compare(fa, fb);
  *out = diffs;
  if (diffs.empty()) {
    s.Text("The two targets share no measured (unit, problem, dtype).");
    doc.sections.push_back(std::move(s));
    return;
  }
  // Speed per (unit, op family, dtype): geometric mean of A's best time over B's.
  std::map<std::string, std::vector<double>> ratio;
  for (const auto& d : diffs) ratio[fmt::format("{} · {} · {}", d.unit, d.op, d.dtype)].push_back(d.best_a_us / d.best_b_us);
  charts::BarOptions speed;
  speed.log = true;
  speed.from = 1;
  speed.rule = 1;
  speed.value_title = "A's best time / B's best time (> 1: B is faster)";
  speed.tooltip = {{"family", "category", ""}, {"A / B", "value", ".3~f"}, {"problems", "n", ""}};
  std::string fastest, slowest;
  double fmax = 0, fmin = 1e300;
  Table speed_table{{"unit · op · dtype", "problems", "A / B (geometric mean)"}, {}};
  for (const auto& [cat, v] : ratio) {
    const double g = GeoMean(v);
    speed.categories.push_back(cat);
    speed.values.push_back({{"category", cat}, {"value", g}, {"n", v.size()},
                            {"text", g >= 1 ? fmt::format("B {} faster", Times(g)) : fmt::format("A {} faster", Times(1 / g))}});
    speed_table.rows.push_back({cat, std::to_string(v.size()), Times(g)});
    if (g > fmax) fmax = g, fastest = cat;
    if (g < fmin) fmin = g, slowest = cat;
  }
  s.Add(Plot{"How much each op family's speed differs",
             fmt::format("B against A: from {} on {} to {} on {} (geometric means over the problems both measured).",
                         Times(fmax), fastest, Times(fmin), slowest),
             charts::Bars(speed)});
  s.Add(speed_table);

  // Where the winning layout changes.
  int changed = 0;
  Table changes{{"unit", "problem", "dtype", "A wins", "B wins", "A's choice on B"}, {}};
  charts::BarOptions cost;
  cost.log = true;
  cost.from = 1;
  cost.rule = 1;
  cost.value_title = "B's time in A's winning layout / B's best";
  cost.color_title = "op";
  cost.tooltip = {{"problem", "category", ""}, {"A wins", "a", ""}, {"B wins", "b", ""}, {"cost", "value", ".3~f"}};
  std::vector<const Difference*> sorted;
  for (const auto& d : diffs)
    if (d.best_a != d.best_b) sorted.push_back(&d);
  changed = static_cast<int>(sorted.size());
  auto penalty = [](const Difference* d) { return d->a_choice_on_b_us > 0 ? d->a_choice_on_b_us / d->best_b_us : 0.0; };
  std::sort(sorted.begin(), sorted.end(), [&](const auto* x, const auto* y) { return penalty(x) > penalty(y); });
  for (const auto* d : sorted) {
    const double p = penalty(d);
    if (changes.rows.size() < kMaxTableRows)
      changes.rows.push_back({d->unit, d->key, d->dtype, d->best_a, d->best_b, p > 0 ? Times(p) + " slower" : "not measured"});
    if (p > 0 && cost.categories.size() < kMaxBars) {
      const std::string cat = fmt::format("{} {} {}", d->unit, d->key, d->dtype);
      cost.categories.push_back(cat);
      cost.values.push_back({{"category", cat}, {"value", p}, {"color", d->op}, {"a", d->best_a}, {"b", d->best_b},
                             {"text", fmt::format("{} → {}", d->best_a, d->best_b)}});
    }
  }
  const std::string layout_reading =
      fmt::format("The winning layout differs on {} of {} problems both measured{}.", changed, diffs.size(),
                  sorted.empty() || penalty(sorted.front()) <= 0
                      ? ""
                      : fmt::format("; shipping A's choice to B costs up to {} ({})", Times(penalty(sorted.front())),
                                    sorted.front()->key));
  if (cost.categories.empty()) {
    s.Text(layout_reading);
  } else {
    s.Add(Plot{"Where the winning layout changes, and what A's choice costs on B", layout_reading, charts::Bars(cost)});
  }
  if (!changes.rows.empty()) s.Add(changes);

  // Where the winning unit changes: per (problem, dtype), the fastest unit on each target.
  std::map<std::pair<std::string, std::string>, std::pair<std::string, double>> unit_a, unit_b;
  auto best_units = [](const std::vector<Family>& fams, auto* out_map) {
    for (const Family& f : fams)
      for (const Ranked& r : f.problems) {
        if (r.best.empty()) continue;
        auto& slot = (*out_map)[{r.key, f.dtype}];
        if (slot.first.empty() || r.best_us < slot.second) slot = {f.unit, r.best_us};
      }
  };
  best_units(fa, &unit_a);
  best_units(fb, &unit_b);
  Table units{{"problem", "dtype", "A's fastest unit", "B's fastest unit"}, {}};
  int both = 0;
  for (const auto& [k, va] : unit_a) {
    auto it = unit_b.find(k);
    if (it == unit_b.end()) continue;
    ++both;
    if (va.first != it->second.first && units.rows.size() < kMaxTableRows)
      units.rows.push_back({k.first, k.second, fmt::format("{} ({})", va.first, Us(va.second)),
                            fmt::format("{} ({})", it->second.first, Us(it->second.second))});
  }
  s.Text(fmt::format("The fastest unit differs on {} of {} problems both measured.", units.rows.size(), both));
  if (!units.rows.empty()) s.Add(units);

  json pts = json::array();
  for (const auto& d : diffs)
    pts.push_back({{"a", d.best_a_us}, {"b", d.best_b_us}, {"op", d.op}, {"key", d.key}, {"dtype", d.dtype},
                   {"unit", d.unit}, {"winner", d.best_a == d.best_b ? "same layout wins" : "winner changes"},
                   {"la", d.best_a}, {"lb", d.best_b}});
  charts::ScatterOptions o;
  o.values = pts;
  o.x = "a";
  o.y = "b";
  o.x_title = "A: best median µs";
  o.y_title = "B: best median µs";
  o.color = "op";
  o.color_title = "op family";
  o.shape = "winner";
  o.shape_title = "winning layout";
  o.diagonal_band = true;
  o.tooltip = {{"problem", "key", ""}, {"unit", "unit", ""}, {"dtype", "dtype", ""}, {"A µs", "a", ".4~r"},
               {"B µs", "b", ".4~r"}, {"A wins", "la", ""}, {"B wins", "lb", ""}};
  s.Add(Plot{"Every problem on both targets",
             fmt::format("Points below the diagonal are faster on B; the band is ±10%. {} of {} keep their winner.",
                         diffs.size() - changed, diffs.size()),
             charts::Scatter(o)});
  doc.sections.push_back(std::move(s));
}

std::string CsvField(const std::optional<std::string>& v) {
  if (!v) return "";
  const std::string& s = *v;
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string Csv(const std::vector<std::string>& header, const std::vector<std::vector<std::optional<std::string>>>& rows) {
  std::string out;
  for (size_t i = 0; i < header.size(); ++i) out += (i ? "," : "") + CsvField(header[i]);
  out += "\r\n";
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) out += (i ? "," : "") + CsvField(row[i]);
    out += "\r\n";
  }
  return out;
}

void CheckFormats(const std::vector<std::string>& formats) {
  if (formats.empty()) throw std::runtime_error("--format: give at least one of html, md, csv");
  for (const auto& f : formats)
    if (f != "html" && f != "md" && f != "csv")
      throw std::runtime_error(fmt::format("--format {}: not one of html, md, csv", f));
}

bool Wants(const std::vector<std::string>& formats, const std::string& f) {
  return std::find(formats.begin(), formats.end(), f) != formats.end();
}

void MakeDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw std::runtime_error(fmt::format("--out {}: cannot create the folder", dir));
}

void Record(ReportSummary* summary, const std::string& path) {
  summary->files.push_back(path);
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  if (!ec) summary->bytes += static_cast<int64_t>(n);
}

}  // namespace

ReportSummary WriteReport(const ReportOptions& o) {
  CheckFormats(o.formats);
  if (o.out.empty()) throw std::runtime_error("--out: give the folder to write the report into");
  db::Database d = db::Database::Open(o.db, db::Mode::kReadOnly);
  std::optional<db::Database> other;
  if (!o.compare.empty()) other.emplace(db::Database::Open(o.compare, db::Mode::kReadOnly));
  if (Wants(o.formats, "html") && !HaveVega())
    throw std::runtime_error("this layoutdb was built without Vega (Debian's libjs-vega): ask for --format md,csv");

  std::vector<Target> targets = LoadTargets(d);
  std::vector<Target> other_targets;
  if (other) {
    other_targets = LoadTargets(*other);
    if (other_targets.empty()) throw std::runtime_error(fmt::format("--compare {}: holds no target", o.compare));
  }
  if (!o.compare.empty() && targets.empty()) throw std::runtime_error(fmt::format("{}: holds no target", o.db));

  Document doc;
  doc.title = "layoutdb report: " + fs::path(o.db).filename().string();
  const auto totals = d.CountRows();
  doc.lead.push_back(fmt::format("{} · schema version {} · {} target{}, {} units, {} problems, {} measurements, "
                                 "{} transitions, {} transfers, {} validation rows.",
                                 o.db, d.SchemaVersion(), totals.targets, totals.targets == 1 ? "" : "s", totals.units,
                                 totals.problems, totals.measurements, totals.transitions, totals.transfers,
                                 totals.validations));
  if (other) doc.lead.push_back("Compared with " + o.compare + ".");
  doc.lead.push_back("Written " + db::NowUtc() + ". Hover a point or a cell for its figures.");

  std::vector<std::vector<Family>> families;
  for (const Target& t : targets) families.push_back(RankLayouts(t));
  for (size_t i = 0; i < targets.size(); ++i) {
    const Context c{targets[i], targets.size() > 1 ? " — " + targets[i].Label() : ""};
    AddFingerprint(doc, c);
    AddSweeps(doc, c);
    AddWinners(doc, c, families[i]);
    AddAny(doc, c, AnyAgainstBest(families[i]));
    AddRoofline(doc, c, families[i]);
    AddTransitions(doc, c);
    AddTrust(doc, c);
  }
  if (targets.empty()) {
    Section s{"Empty database", {}};
    s.Text("This database holds no target yet: `layoutdb sweep --db F` profiles this machine into it.");
    doc.sections.push_back(std::move(s));
  }
  AddValidations(doc, d.Validations());
  std::vector<Difference> diffs;
  if (other) {
    const auto fb = RankLayouts(other_targets.front());
    AddComparison(doc, targets.front(), other_targets.front(), families.front(), fb, &diffs);
  } else if (targets.size() >= 2) {
    AddComparison(doc, targets[0], targets[1], families[0], families[1], &diffs);
  }

  MakeDir(o.out);
  ReportSummary summary;
  summary.plots = doc.PlotCount();
  if (Wants(o.formats, "html")) {
    const std::string path = (fs::path(o.out) / "index.html").string();
    WriteTextFile(path, RenderHtml(doc));
    Record(&summary, path);
  }
  if (Wants(o.formats, "md")) {
    const std::string path = (fs::path(o.out) / "report.md").string();
    WriteTextFile(path, RenderMarkdown(doc));
    Record(&summary, path);
  }
  if (Wants(o.formats, "csv")) {
    const fs::path dir = fs::path(o.out) / "csv";
    MakeDir(dir.string());
    std::vector<std::string> tables = db::Database::TableNames();
    tables.push_back("measurement_view");
    for (const auto& name : tables) {
      const auto dump = d.DumpTable(name);
      const std::string path = (dir / (name + ".csv")).string();
      WriteTextFile(path, Csv(dump.columns, dump.rows));
      Record(&summary, path);
    }
    if (!diffs.empty()) {
      std::vector<std::vector<std::optional<std::string>>> rows;
      for (const auto& x : diffs)
        rows.push_back({x.unit, x.op, x.dtype, x.key, x.best_a, fmt::format("{}", x.best_a_us), x.best_b,
                        fmt::format("{}", x.best_b_us),
                        x.a_choice_on_b_us > 0 ? std::optional<std::string>(fmt::format("{}", x.a_choice_on_b_us))
                                               : std::nullopt});
      const std::string path = (dir / "compare.csv").string();
      WriteTextFile(path, Csv({"unit", "op", "dtype", "problem", "a_best_layout", "a_best_us", "b_best_layout",
                               "b_best_us", "b_us_in_a_layout"},
                              rows));
      Record(&summary, path);
    }
  }
  return summary;
}

int RunReport(const ReportOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const ReportSummary s = WriteReport(o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string what;
  int csv = 0;
  for (const auto& f : s.files) {
    if (fs::path(f).extension() == ".csv")
      ++csv;
    else
      what += (what.empty() ? "" : ", ") + fs::path(f).filename().string();
  }
  if (csv > 0) what += fmt::format("{}{} CSV files", what.empty() ? "" : ", ", csv);
  fmt::print("wrote {} into {} ({}, {} plots) in {:.2f} s\n", what, o.out, HumanBytes(static_cast<double>(s.bytes)),
             s.plots, seconds);
  return 0;
}

}  // namespace layoutdb::reports
