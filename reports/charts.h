// Private to reports/: Vega 5 specifications of the few kinds of plot the reports draw, data inline.
// Each builder takes rows (JSON objects) and names the fields to read; nothing here knows a database.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace layoutdb::reports::charts {

// One line of a tooltip: `label: value`, the value through a d3-format (".3~s") when given.
struct Field {
  std::string label, field, format;
};

struct ScatterOptions {
  nlohmann::json values = nlohmann::json::array();
  std::string x, y, x_title, y_title;
  bool x_log = true, y_log = true;
  std::string x_format = "~g", y_format = "~g";  // d3-format of the axis labels ("~s" for bytes)
  std::string color, color_title;  // a field; empty: one colour
  std::vector<std::string> color_domain;  // optional fixed order of the colours (matching other plots)
  std::string shape, shape_title;  // a field; empty: circles
  std::vector<Field> tooltip;
  // Dashed reference lines, {x, y, series} rows (rooflines, fits), one legend entry per series.
  nlohmann::json lines = nlohmann::json::array();
  std::string lines_title;
  std::optional<double> y_rule;  // a horizontal reference (a target)
  std::string y_rule_label;
  bool diagonal_band = false;  // y = x and the ±10% band around it
  int width = 560, height = 360;
};
nlohmann::json Scatter(const ScatterOptions& o);

struct HeatmapOptions {
  // {row, col, value (>= 1, or null for a cell that cannot be ranked), text, best (bool), order}.
  nlohmann::json values = nlohmann::json::array();
  std::vector<std::string> columns;  // left to right
  std::vector<Field> tooltip;
  std::string value_title;
  double max_value = 4;  // the colour saturates here
};
nlohmann::json Heatmap(const HeatmapOptions& o);

struct BarOptions {
  // {category, value, [color], [tick], [text]}; with `stack`, several rows per category add up.
  nlohmann::json values = nlohmann::json::array();
  std::vector<std::string> categories;  // top to bottom
  std::string value_title;
  bool log = false;
  double from = 0;  // bars start here (1 for ratios on a log axis)
  std::string color_title;  // colour by the `color` field when set
  std::vector<std::string> color_domain, color_range;  // optional fixed colours
  std::string tick_title;  // a black tick at `tick` (e.g. the prediction beside a measurement)
  std::optional<double> rule;  // a vertical reference line
  std::vector<Field> tooltip;
  bool stack = false;
  int width = 520;
};
nlohmann::json Bars(const BarOptions& o);

struct TimelineOptions {
  // {lane, start, end, state, kind ("subgraph" | "transition"), text}: one bar per sub-graph or
  // transition, in execution order; transitions are drawn black, sub-graphs coloured by state.
  nlohmann::json values = nlohmann::json::array();
  std::vector<std::string> lanes;  // top to bottom
  std::vector<std::string> states;  // colour legend order
  std::vector<Field> tooltip;
  double extent = 1;  // µs of the longest lane
  int width = 1100;
};
nlohmann::json Timeline(const TimelineOptions& o);

}  // namespace layoutdb::reports::charts
