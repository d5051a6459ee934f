// The picture of one plan (`select --report DIR`) and of its validation (`validate --report DIR`).
// Drawn at the level of sub-graphs, in execution order: a zoomable timeline coloured by unit and layout
// with the transitions in black, the chains of sub-graphs that share a state collapsed into one bar, and
// the cost of every sub-graph — readable for models of hundreds of nodes.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>

#include "charts.h"
#include "document.h"
#include "layoutdb/reports/report.h"

namespace layoutdb::reports {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr size_t kMaxChainBars = 80;

json Parse(const std::string& text, const std::string& what) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw std::runtime_error(fmt::format("{}: not a JSON object", what));
  return j;
}

std::string State(const json& sg) { return sg.value("unit", "?") + "/" + sg.value("layout", "?"); }

std::string OpsText(const json& ops, size_t limit = 6) {
  std::string s;
  size_t n = 0;
  for (const auto& op : ops) {
    if (n == limit) return s + fmt::format("+{}", ops.size() - limit);
    s += (n++ ? "+" : "") + op.get<std::string>();
  }
  return s;
}

struct Chain {
  int first = 0, last = 0, nodes = 0;
  std::string state;
  double predicted = 0, measured = 0;
};

}  // namespace

ReportSummary WritePlanReport(const std::string& dir, const std::string& plan_json,
                              const std::string& validation_json) {
  const json plan = Parse(plan_json, "plan");
  const bool validated = !validation_json.empty();
  const json val = validated ? Parse(validation_json, "validation") : json::object();
  if (!plan.contains("subgraphs") || !plan["subgraphs"].is_array())
    throw std::runtime_error("plan: has no sub-graphs list");
  const json& sgs = plan["subgraphs"];
  const json transitions = plan.value("transitions", json::array());

  std::map<int, const json*> measured;  // sub-graph index -> validation figures
  if (validated && val.contains("subgraphs"))
    for (const auto& s : val["subgraphs"]) measured[s.value("index", -1)] = &s;

  std::vector<std::string> states;
  int nodes = 0;
  std::map<std::string, std::pair<int, double>> per_state;  // sub-graphs, predicted µs
  for (const auto& sg : sgs) {
    const std::string st = State(sg);
    if (std::find(states.begin(), states.end(), st) == states.end()) states.push_back(st);
    per_state[st].first += 1;
    per_state[st].second += sg.value("predicted_us", 0.0);
    nodes += static_cast<int>(sg.value("nodes", json::array()).size());
  }
  double transition_us = 0;
  for (const auto& t : transitions) transition_us += t.value("us", 0.0);
  const double total = plan.value("total_predicted_us", 0.0);

  Document doc;
  const std::string model = fs::path(plan.value("model", "model")).filename().string();
  doc.title = fmt::format("layoutdb {}: {}", validated ? "validation" : "plan", model);
  doc.lead.push_back(fmt::format("{} · database {} · {} · units {} · solver {}", plan.value("model", ""),
                                 plan.value("db", ""), plan.value("dtype", ""),
                                 fmt::format("{}", fmt::join(plan.value("units", std::vector<std::string>{}), ", ")),
                                 plan.value("solver", "")));
  doc.lead.push_back(fmt::format("{} nodes in {} sub-graphs; {} transitions; predicted total {} (transitions {}).",
                                 nodes, sgs.size(), transitions.size(), Us(total), Us(transition_us)));
  if (validated)
    doc.lead.push_back(fmt::format("Measured {} (p10 {}, p90 {}, {} repetitions): prediction error {:+.1f}%.",
                                   Us(val.value("measured_total_us", 0.0)), Us(val.value("p10_us", 0.0)),
                                   Us(val.value("p90_us", 0.0)), val.value("repetitions", 0),
                                   val.value("error_pct", 0.0)));

  // ---- the timeline ----
  Section overview{"The plan in execution order", {}};
  {
    charts::TimelineOptions o;
    o.states = states;
    o.lanes = {"predicted"};
    if (validated) o.lanes.push_back("measured");
    o.tooltip = {{"what", "what", ""}, {"ops", "ops", ""}, {"unit / layout", "state", ""}, {"µs", "us", ".4~r"},
                 {"confidence", "confidence", ""}, {"GFLOP", "gflop", ".3~r"}};
    std::map<int, std::vector<const json*>> into;  // sub-graph -> transitions into it
    std::vector<const json*> to_host;
    for (const auto& t : transitions) {
      const int to = t["edge"].value("to", -1);
      if (to < 0)
        to_host.push_back(&t);
      else
        into[to].push_back(&t);
    }
    double at_p = 0, at_m = 0;
    auto transition_bar = [&](const json& t, double* at, const std::string& lane) {
      const double us = t.value("us", 0.0);
      o.values.push_back({{"lane", lane}, {"start", *at}, {"end", *at + us}, {"kind", "transition"},
                          {"state", ""}, {"us", us}, {"text", ""},
                          {"what", fmt::format("{} sg {} → sg {}: {}", t.value("kind", ""), t["edge"].value("from", -1),
                                               t["edge"].value("to", -1), t["edge"].value("tensor", ""))},
                          {"ops", fmt::format("{}/{} → {}/{}, {} bytes", t["from"].value("unit", ""),
                                              t["from"].value("layout", ""), t["to"].value("unit", ""),
                                              t["to"].value("layout", ""), t.value("bytes", 0))}});
      *at += us;
    };
    for (const auto& sg : sgs) {
      const int i = sg.value("index", 0);
      for (const json* t : into[i]) transition_bar(*t, &at_p, "predicted");
      const double p = sg.value("predicted_us", 0.0);
      const json base = {{"kind", "subgraph"}, {"state", State(sg)}, {"text", fmt::format("sg {}", i)},
                         {"what", fmt::format("sub-graph {}", i)}, {"ops", OpsText(sg.value("ops", json::array()), 12)},
                         {"confidence", sg.value("confidence", "")},
                         {"gflop", sg.contains("complexity") ? sg["complexity"].value("flops", 0.0) / 1e9 : 0.0}};
      json bar = base;
      bar.update({{"lane", "predicted"}, {"start", at_p}, {"end", at_p + p}, {"us", p}});
      o.values.push_back(bar);
      at_p += p;
      auto m = measured.find(i);
      if (validated && m != measured.end()) {
        const double tr = m->second->value("transition_measured_us", 0.0);
        if (tr > 0) {
          o.values.push_back({{"lane", "measured"}, {"start", at_m}, {"end", at_m + tr}, {"kind", "transition"},
                              {"state", ""}, {"us", tr}, {"text", ""},
                              {"what", fmt::format("reorders and transfers into sub-graph {}", i)}, {"ops", ""}});
          at_m += tr;
        }
        const double mu = m->second->value("measured_us", 0.0);
        json mbar = base;
        mbar.update({{"lane", "measured"}, {"start", at_m}, {"end", at_m + mu}, {"us", mu}, {"confidence", "measured"}});
        o.values.push_back(mbar);
        at_m += mu;
      }
    }
    for (const json* t : to_host) transition_bar(*t, &at_p, "predicted");
    o.extent = std::max({at_p, at_m, 1e-3});
    std::string reading = fmt::format("{} sub-graphs in {} unit/layout states; transitions (black) take {} of the "
                                      "predicted {} ({}).",
                                      sgs.size(), states.size(), Us(transition_us), Us(total),
                                      Percent(total > 0 ? transition_us / total : 0));
    if (validated) reading += fmt::format(" The measured lane sums the sub-graphs' kernel and transition medians ({}).", Us(at_m));
    overview.Add(Plot{"Timeline of the sub-graphs", reading, charts::Timeline(o)});
  }
  {
    Table t{{"unit / layout", "sub-graphs", "predicted", "share"}, {}};
    for (const auto& st : states)
      t.rows.push_back({st, std::to_string(per_state[st].first), Us(per_state[st].second),
                        Percent(total > 0 ? per_state[st].second / total : 0)});
    overview.Add(t);
  }
  doc.sections.push_back(std::move(overview));

  // ---- chains collapsed ----
  Section chains_sec{"Chains of sub-graphs in one state, collapsed", {}};
  {
    std::set<int> has_transition_in;
    for (const auto& t : transitions) has_transition_in.insert(t["edge"].value("to", -1));
    std::vector<Chain> chains;
    for (const auto& sg : sgs) {
      const int i = sg.value("index", 0);
      const std::string st = State(sg);
      if (chains.empty() || chains.back().state != st || has_transition_in.count(i)) chains.push_back({i, i, 0, st});
      Chain& c = chains.back();
      c.last = i;
      c.nodes += static_cast<int>(sg.value("nodes", json::array()).size());
      c.predicted += sg.value("predicted_us", 0.0);
      auto m = measured.find(i);
      if (m != measured.end()) c.measured += m->second->value("measured_us", 0.0);
    }
    std::vector<size_t> shown(chains.size());
    for (size_t k = 0; k < chains.size(); ++k) shown[k] = k;
    if (shown.size() > kMaxChainBars) {  // the costliest, kept in execution order
      std::sort(shown.begin(), shown.end(), [&](size_t a, size_t b) { return chains[a].predicted > chains[b].predicted; });
      shown.resize(kMaxChainBars);
      std::sort(shown.begin(), shown.end());
    }
    charts::BarOptions o;
    o.value_title = "predicted µs";
    if (validated) o.tick_title = "measured";
    o.color_title = "unit / layout";
    o.color_domain = states;
    o.tooltip = {{"chain", "category", ""}, {"predicted µs", "value", ".4~r"}, {"measured µs", "tick", ".4~r"},
                 {"nodes", "nodes", ""}};
    for (size_t k : shown) {
      const Chain& c = chains[k];
      const std::string cat = c.first == c.last ? fmt::format("sg {} · {}", c.first, c.state)
                                                : fmt::format("sg {}–{} · {}", c.first, c.last, c.state);
      o.categories.push_back(cat);
      json bar = {{"category", cat}, {"value", c.predicted}, {"color", c.state}, {"nodes", c.nodes},
                  {"text", fmt::format("{} nodes, {}", c.nodes, Us(c.predicted))}};
      if (validated) bar["tick"] = c.measured;
      o.values.push_back(bar);
    }
    size_t longest = 0;
    for (size_t k = 1; k < chains.size(); ++k)
      if (chains[k].last - chains[k].first > chains[longest].last - chains[longest].first) longest = k;
    const std::string reading =
        chains.empty() ? "No sub-graphs."
                       : fmt::format("{} sub-graphs form {} chains (a chain ends where the state changes or a "
                                     "transition enters){}; the longest, sg {}–{}, runs {} nodes on {}.",
                                     sgs.size(), chains.size(),
                                     shown.size() < chains.size() ? fmt::format(", the {} costliest shown", shown.size()) : "",
                                     chains[longest].first, chains[longest].last, chains[longest].nodes,
                                     chains[longest].state);
    if (!o.values.empty()) chains_sec.Add(Plot{"Chains", reading, charts::Bars(o)});
  }
  doc.sections.push_back(std::move(chains_sec));

  // ---- cost per sub-graph ----
  Section cost{"Cost of every sub-graph", {}};
  {
    charts::ScatterOptions o;
    o.x = "index";
    o.y = "us";
    o.x_log = false;
    o.x_title = "sub-graph (execution order)";
    o.y_title = "µs";
    o.color = "state";
    o.color_title = "unit / layout";
    o.color_domain = states;
    o.shape = "figure";
    o.shape_title = "figure";
    o.width = 1000;
    o.tooltip = {{"sub-graph", "index", ""}, {"ops", "ops", ""}, {"unit / layout", "state", ""},
                 {"figure", "figure", ""}, {"µs", "us", ".4~r"}, {"confidence", "confidence", ""}};
    int roofline = 0;
    for (const auto& sg : sgs) {
      const int i = sg.value("index", 0);
      const double p = sg.value("predicted_us", 0.0);
      roofline += sg.value("confidence", "") == "roofline";
      if (p > 0)
        o.values.push_back({{"index", i}, {"us", p}, {"state", State(sg)}, {"figure", "predicted"},
                            {"ops", OpsText(sg.value("ops", json::array()), 12)}, {"confidence", sg.value("confidence", "")}});
      auto m = measured.find(i);
      if (m != measured.end() && m->second->value("measured_us", 0.0) > 0)
        o.values.push_back({{"index", i}, {"us", m->second->value("measured_us", 0.0)}, {"state", State(sg)},
                            {"figure", "measured"}, {"ops", OpsText(sg.value("ops", json::array()), 12)},
                            {"confidence", "measured"}});
    }
    if (!o.values.empty())
      cost.Add(Plot{"Predicted (and measured) µs per sub-graph",
                    fmt::format("{} of {} sub-graphs are priced from exact or interpolated measurements, {} from the "
                                "roofline alone.",
                                sgs.size() - roofline, sgs.size(), roofline),
                    charts::Scatter(o)});
  }
  doc.sections.push_back(std::move(cost));

  // ---- validation: predicted against measured, the plan against its oracle and baselines ----
  if (validated) {
    Section v{"Measured against predicted", {}};
    charts::ScatterOptions o;
    o.x = "predicted";
    o.y = "measured";
    o.x_title = "predicted µs";
    o.y_title = "measured µs";
    o.color = "state";
    o.color_title = "unit / layout";
    o.color_domain = states;
    o.diagonal_band = true;
    o.tooltip = {{"sub-graph", "index", ""}, {"ops", "ops", ""}, {"predicted µs", "predicted", ".4~r"},
                 {"measured µs", "measured", ".4~r"}, {"error %", "error", ".3~r"}, {"oracle", "oracle", ""}};
    Table differs{{"sub-graph", "ops", "selected", "oracle", "measured", "predicted"}, {}};
    for (const auto& s : val.value("subgraphs", json::array())) {
      const double m = s.value("measured_us", 0.0), p = s.value("predicted_us", 0.0);
      const std::string st = s.value("unit", "") + "/" + s.value("layout", "");
      if (m > 0 && p > 0)
        o.values.push_back({{"index", s.value("index", 0)}, {"predicted", p}, {"measured", m}, {"state", st},
                            {"error", s.value("error_pct", 0.0)}, {"oracle", s.value("oracle", "")},
                            {"ops", OpsText(s.value("ops", json::array()), 12)}});
      if (!s.value("oracle", "").empty() && s.value("oracle", "") != st)
        differs.rows.push_back({std::to_string(s.value("index", 0)), OpsText(s.value("ops", json::array())), st,
                                s.value("oracle", ""), Us(m), Us(p)});
    }
    if (!o.values.empty())
      v.Add(Plot{"Predicted against measured, per sub-graph",
                 fmt::format("{} of the sub-graphs are within ±10% of their measured time (the green band); the whole "
                             "model is off by {:+.1f}%.",
                             Percent(val.value("subgraphs_within_10pct", 0.0)), val.value("error_pct", 0.0)),
                 charts::Scatter(o)});
    charts::BarOptions b;
    b.value_title = "measured µs (median)";
    b.tick_title = "predicted";
    b.color_title = "strategy";
    b.color_domain = {"selected plan", "oracle", "baseline", "ONNX Runtime"};
    b.color_range = {"#e45756", "#54a24b", "#9d9d9d", "#4c78a8"};
    b.tooltip = {{"strategy", "category", ""}, {"measured µs", "value", ".4~r"}, {"predicted µs", "tick", ".4~r"}};
    const double plan_m = val.value("measured_total_us", 0.0);
    struct Row {
      std::string name, kind;
      double m, p;
    };
    std::vector<Row> rows{{"plan", "selected plan", plan_m, val.value("predicted_total_us", 0.0)}};
    std::string failed;
    for (const auto& bl : val.value("baselines", json::array())) {
      const std::string name = bl.value("name", "");
      if (!bl.contains("measured_us") || !bl["measured_us"].is_number()) {
        failed += (failed.empty() ? "" : ", ") + name;
        continue;
      }
      const std::string kind = name == "oracle"                                                      ? "oracle"
                               : name.find("onnxruntime") != std::string::npos || name.rfind("ort", 0) == 0 ? "ONNX Runtime"
                                                                                                      : "baseline";
      rows.push_back({name, kind, bl["measured_us"].get<double>(),
                      bl.contains("predicted_us") && bl["predicted_us"].is_number() ? bl["predicted_us"].get<double>() : 0});
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& c) { return a.m < c.m; });
    std::string best_baseline;
    double best_m = 0;
    for (const Row& r : rows) {
      b.categories.push_back(r.name);
      json bar = {{"category", r.name}, {"value", r.m}, {"color", r.kind},
                  {"text", plan_m > 0 ? Times(r.m / plan_m) + " the plan" : ""}};
      if (r.p > 0) bar["tick"] = r.p;
      b.values.push_back(bar);
      if (r.kind == "baseline" && best_baseline.empty()) best_baseline = r.name, best_m = r.m;
    }
    std::string reading = fmt::format("The plan ran in {}", Us(plan_m));
    if (val.contains("selected_over_oracle") && val["selected_over_oracle"].is_number())
      reading += fmt::format(", {} its oracle", Times(val["selected_over_oracle"].get<double>()));
    if (!best_baseline.empty()) reading += fmt::format("; the best baseline, {}, is {} the plan", best_baseline, Times(best_m / plan_m));
    if (!failed.empty()) reading += "; could not run: " + failed;
    v.Add(Plot{"The plan against its oracle and baselines", reading + ".", charts::Bars(b)});
    if (!differs.rows.empty()) {
      v.Text(fmt::format("Sub-graphs where the oracle (the same solve over measured costs) chose another state: {}.",
                         differs.rows.size()));
      v.Add(differs, /*in_markdown=*/false);
    }
    v.Text(fmt::format("Outputs {} the all-nchw execution's (max |diff| {:.3g}); {} of the FLOPs ran on the units' "
                       "own kernels.",
                       val.value("outputs_match", false) ? "match" : "DO NOT match", val.value("max_abs_diff", 0.0),
                       Percent(val.value("coverage_flops", 0.0))));
    doc.sections.push_back(std::move(v));
  } else if (plan.contains("baselines") && !plan["baselines"].empty()) {
    Section v{"The plan against its baselines (predicted)", {}};
    charts::BarOptions b;
    b.value_title = "predicted µs";
    b.color_title = "strategy";
    b.tooltip = {{"strategy", "category", ""}, {"predicted µs", "value", ".4~r"}};
    std::vector<std::pair<double, std::string>> rows{{total, "plan"}};
    for (const auto& bl : plan["baselines"]) rows.push_back({bl.value("total_us", 0.0), bl.value("name", "")});
    std::sort(rows.begin(), rows.end());
    for (const auto& [us, name] : rows) {
      if (us <= 0) continue;
      b.categories.push_back(name);
      b.values.push_back({{"category", name}, {"value", us}, {"color", name == "plan" ? "selected plan" : "baseline"},
                          {"text", total > 0 ? Times(us / total) + " the plan" : ""}});
    }
    v.Add(Plot{"Predicted totals", "Every baseline priced by the same database; run `layoutdb validate` to measure them.",
               charts::Bars(b)});
    doc.sections.push_back(std::move(v));
  }

  Section notes{"Notes", {}};
  for (const auto& n : plan.value("notes", json::array())) notes.Text(n.get<std::string>());
  if (validated)
    for (const auto& n : val.value("notes", json::array())) notes.Text(n.get<std::string>());
  if (!notes.blocks.empty()) doc.sections.push_back(std::move(notes));

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) throw std::runtime_error(fmt::format("--report {}: cannot create the folder", dir));
  ReportSummary summary;
  summary.plots = doc.PlotCount();
  const std::string html = (fs::path(dir) / "index.html").string();
  const std::string md = (fs::path(dir) / (validated ? "validation.md" : "plan.md")).string();
  WriteTextFile(html, RenderHtml(doc));
  WriteTextFile(md, RenderMarkdown(doc));
  for (const auto& f : {html, md}) {
    summary.files.push_back(f);
    summary.bytes += static_cast<int64_t>(fs::file_size(f, ec));
  }
  return summary;
}

}  // namespace layoutdb::reports
