#include "charts.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace layoutdb::reports::charts {
namespace {

using nlohmann::json;

// A text in a Vega expression: single-quoted.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// {"signal": "{'label': datum['field'], ...}"}: Vega's own tooltip handler shows it on hover.
json Tooltip(const std::vector<Field>& fields) {
  std::string s = "{";
  for (size_t i = 0; i < fields.size(); ++i) {
    const Field& f = fields[i];
    const std::string v = "datum[" + Quote(f.field) + "]";
    s += (i ? ", " : "") + Quote(f.label) + ": " +
         (f.format.empty() ? v : "isValid(" + v + ") ? format(" + v + ", " + Quote(f.format) + ") : '-'");
  }
  return {{"signal", s + "}"}};
}

json Base(int width, int height) {
  return {{"width", width},
          {"height", height},
          {"padding", 5},
          {"autosize", {{"type", "pad"}}},
          {"config",
           {{"axis", {{"labelFontSize", 11}, {"titleFontSize", 12}, {"gridColor", "#eee"}}},
            {"legend", {{"labelFontSize", 11}, {"titleFontSize", 12}, {"labelLimit", 260}}}}}};
}

json CategoryRange(size_t n) { return {{"scheme", n > 10 ? "tableau20" : "tableau10"}}; }

std::set<std::string> Distinct(const json& values, const std::string& field) {
  std::set<std::string> out;
  for (const auto& v : values)
    if (v.contains(field) && v[field].is_string()) out.insert(v[field].get<std::string>());
  return out;
}

// The smallest and largest positive value of some fields over some rows.
std::pair<double, double> Extent(const std::vector<const json*>& sets, const std::vector<std::string>& fields) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const json* set : sets)
    for (const auto& v : *set)
      for (const auto& f : fields)
        if (v.contains(f) && v[f].is_number()) {
          const double x = v[f].get<double>();
          if (x > 0) lo = std::min(lo, x), hi = std::max(hi, x);
        }
  if (!(hi > 0)) return {1, 10};
  return {lo, hi};
}

}  // namespace

json Scatter(const ScatterOptions& o) {
  json spec = Base(o.width, o.height);
  json data = json::array({{{"name", "points"}, {"values", o.values}}});
  json band = json::array();
  if (o.diagonal_band) {
    auto [lo, hi] = Extent({&o.values}, {o.x, o.y});
    lo /= 1.5, hi *= 1.5;
    band = json::array({{{"v", lo}, {"lo", lo * 0.9}, {"hi", lo * 1.1}},
                        {{"v", hi}, {"lo", hi * 0.9}, {"hi", hi * 1.1}}});
    data.push_back({{"name", "band"}, {"values", band}});
  }
  if (!o.lines.empty()) data.push_back({{"name", "lines"}, {"values", o.lines}});
  spec["data"] = data;

  auto axis_domain = [&](const std::string& field, bool is_x) {
    json fields = json::array({{{"data", "points"}, {"field", field}}});
    if (!o.lines.empty()) fields.push_back({{"data", "lines"}, {"field", is_x ? "x" : "y"}});
    if (o.diagonal_band) fields.push_back({{"data", "band"}, {"field", "v"}});
    return json{{"fields", fields}};
  };
  json scales = json::array();
  scales.push_back({{"name", "x"}, {"type", o.x_log ? "log" : "linear"}, {"domain", axis_domain(o.x, true)},
                    {"range", "width"}, {"nice", true}, {"zero", false}});
  json ydomain = axis_domain(o.y, false);
  if (o.y_rule) ydomain["fields"].push_back(json::array({*o.y_rule}));
  scales.push_back({{"name", "y"}, {"type", o.y_log ? "log" : "linear"}, {"domain", ydomain},
                    {"range", "height"}, {"nice", true}, {"zero", false}});
  json legends = json::array();
  if (!o.color.empty()) {
    const auto n = std::max(Distinct(o.values, o.color).size(), o.color_domain.size());
    scales.push_back({{"name", "color"}, {"type", "ordinal"},
                      {"domain", o.color_domain.empty() ? json{{"data", "points"}, {"field", o.color}, {"sort", true}}
                                                        : json(o.color_domain)},
                      {"range", CategoryRange(n)}});
    legends.push_back({{"fill", "color"}, {"title", o.color_title}, {"symbolType", "circle"}});
  }
  if (!o.shape.empty()) {
    scales.push_back({{"name", "shape"}, {"type", "ordinal"},
                      {"domain", {{"data", "points"}, {"field", o.shape}, {"sort", true}}},
                      {"range", "symbol"}});
    legends.push_back({{"shape", "shape"}, {"title", o.shape_title}});
  }
  if (!o.lines.empty()) {
    scales.push_back({{"name", "dash"}, {"type", "ordinal"},
                      {"domain", {{"data", "lines"}, {"field", "series"}, {"sort", true}}},
                      {"range", json::array({json::array({6, 3}), json::array({2, 2}), json::array({8, 3, 2, 3}),
                                             json::array({1, 0})})}});
    legends.push_back({{"strokeDash", "dash"}, {"title", o.lines_title}, {"symbolType", "stroke"},
                       {"symbolStrokeColor", "#444"}});
  }
  spec["scales"] = scales;
  // Log axes over values of 1 and more read best in SI units (10k, 200k); below 1 "m" would mean milli.
  auto format = [&](const std::string& given, bool log, const std::string& field) {
    return given == "~g" && log && Extent({&o.values}, {field}).first >= 1 ? std::string("~s") : given;
  };
  spec["axes"] = json::array({{{"orient", "bottom"}, {"scale", "x"}, {"title", o.x_title}, {"grid", true},
                               {"format", format(o.x_format, o.x_log, o.x)}},
                              {{"orient", "left"}, {"scale", "y"}, {"title", o.y_title}, {"grid", true},
                               {"format", format(o.y_format, o.y_log, o.y)}}});
  spec["legends"] = legends;

  json marks = json::array();
  if (o.diagonal_band) {
    marks.push_back({{"type", "area"}, {"from", {{"data", "band"}}},
                     {"encode", {{"enter", {{"x", {{"scale", "x"}, {"field", "v"}}},
                                            {"y", {{"scale", "y"}, {"field", "lo"}}},
                                            {"y2", {{"scale", "y"}, {"field", "hi"}}},
                                            {"fill", {{"value", "#2ca02c"}}},
                                            {"fillOpacity", {{"value", 0.15}}}}}}}});
    marks.push_back({{"type", "line"}, {"from", {{"data", "band"}}},
                     {"encode", {{"enter", {{"x", {{"scale", "x"}, {"field", "v"}}},
                                            {"y", {{"scale", "y"}, {"field", "v"}}},
                                            {"stroke", {{"value", "#2ca02c"}}},
                                            {"strokeWidth", {{"value", 1}}}}}}}});
  }
  if (!o.lines.empty()) {
    marks.push_back(
        {{"type", "group"},
         {"from", {{"facet", {{"name", "series"}, {"data", "lines"}, {"groupby", "series"}}}}},
         {"marks", json::array({{{"type", "line"}, {"from", {{"data", "series"}}},
                                 {"encode", {{"enter", {{"x", {{"scale", "x"}, {"field", "x"}}},
                                                        {"y", {{"scale", "y"}, {"field", "y"}}},
                                                        {"stroke", {{"value", "#444"}}},
                                                        {"strokeWidth", {{"value", 1.5}}},
                                                        {"strokeDash", {{"scale", "dash"}, {"field", "series"}}}}}}}}})}});
  }
  if (o.y_rule) {
    marks.push_back({{"type", "rule"},
                     {"encode", {{"enter", {{"x", {{"value", 0}}}, {"x2", {{"signal", "width"}}},
                                            {"y", {{"scale", "y"}, {"value", *o.y_rule}}},
                                            {"stroke", {{"value", "#d62728"}}},
                                            {"strokeDash", {{"value", json::array({5, 4})}}}}}}}});
    marks.push_back({{"type", "text"},
                     {"encode", {{"enter", {{"x", {{"signal", "width"}}}, {"y", {{"scale", "y"}, {"value", *o.y_rule}}},
                                            {"dy", {{"value", -4}}}, {"align", {{"value", "right"}}},
                                            {"text", {{"value", o.y_rule_label}}},
                                            {"fill", {{"value", "#d62728"}}}, {"fontSize", {{"value", 11}}}}}}}});
  }
  json enter = {{"x", {{"scale", "x"}, {"field", o.x}}},
                {"y", {{"scale", "y"}, {"field", o.y}}},
                {"size", {{"value", 36}}},
                {"fillOpacity", {{"value", 0.7}}},
                {"tooltip", Tooltip(o.tooltip)}};
  enter["fill"] = o.color.empty() ? json{{"value", "#1f77b4"}} : json{{"scale", "color"}, {"field", o.color}};
  if (!o.shape.empty()) enter["shape"] = {{"scale", "shape"}, {"field", o.shape}};
  marks.push_back({{"type", "symbol"}, {"from", {{"data", "points"}}},
                   {"encode", {{"enter", enter}, {"hover", {{"fillOpacity", {{"value", 1}}}}},
                               {"update", {{"fillOpacity", {{"value", 0.7}}}}}}}});
  spec["marks"] = marks;
  return spec;
}

json Heatmap(const HeatmapOptions& o) {
  size_t rows = 0;
  {
    std::set<std::string> r;
    for (const auto& v : o.values) r.insert(v.value("row", ""));
    rows = r.size();
  }
  size_t longest = 4;
  for (const auto& c : o.columns) longest = std::max(longest, c.size());
  const int cell_w = std::max(56, static_cast<int>(7 * longest + 12)), cell_h = 17;
  const int height = cell_h * static_cast<int>(std::max<size_t>(1, rows));
  json spec = Base(cell_w * static_cast<int>(std::max<size_t>(1, o.columns.size())),
                   height);
  spec["data"] = json::array({{{"name", "cells"}, {"values", o.values}}});
  spec["scales"] = json::array(
      {{{"name", "x"}, {"type", "band"}, {"domain", o.columns}, {"range", "width"}, {"paddingInner", 0.04}},
       {{"name", "y"}, {"type", "band"},
        {"domain", {{"data", "cells"}, {"field", "row"}, {"sort", {{"field", "order"}, {"op", "min"}}}}},
        {"range", "height"}, {"paddingInner", 0.06}},
       {{"name", "color"}, {"type", "log"}, {"domain", json::array({1, std::max(1.5, o.max_value)})},
        {"range", {{"scheme", "orangered"}}}, {"clamp", true}}});
  spec["axes"] = json::array({{{"orient", "top"}, {"scale", "x"}, {"labelAngle", 0}, {"domain", false}, {"ticks", false}},
                              {{"orient", "left"}, {"scale", "y"}, {"labelLimit", 420}, {"labelFontSize", 10},
                               {"labelFont", "monospace"}, {"domain", false}, {"ticks", false}}});
  spec["legends"] = json::array({{{"fill", "color"}, {"type", "gradient"}, {"title", o.value_title},
                                  {"format", ".2~f"}, {"direction", "vertical"}, {"gradientLength", std::clamp(height, 40, 160)}}});
  spec["marks"] = json::array(
      {{{"type", "rect"}, {"from", {{"data", "cells"}}},
        {"encode",
         {{"enter", {{"x", {{"scale", "x"}, {"field", "col"}}},
                     {"width", {{"scale", "x"}, {"band", 1}}},
                     {"y", {{"scale", "y"}, {"field", "row"}}},
                     {"height", {{"scale", "y"}, {"band", 1}}},
                     {"fill", json::array({{{"test", "!isValid(datum.value)"}, {"value", "#cfcfcf"}},
                                           {{"scale", "color"}, {"field", "value"}}})},
                     {"stroke", {{"value", "#111"}}},
                     {"strokeWidth", {{"signal", "datum.best ? 2 : 0"}}},
                     {"tooltip", Tooltip(o.tooltip)}}}}}},
       {{"type", "text"}, {"from", {{"data", "cells"}}}, {"interactive", false},
        {"encode",
         {{"enter", {{"x", {{"scale", "x"}, {"field", "col"}, {"band", 0.5}}},
                     {"y", {{"scale", "y"}, {"field", "row"}, {"band", 0.5}}},
                     {"align", {{"value", "center"}}},
                     {"baseline", {{"value", "middle"}}},
                     {"fontSize", {{"value", 10}}},
                     {"fontWeight", {{"signal", "datum.best ? 'bold' : 'normal'"}}},
                     {"text", {{"field", "text"}}},
                     {"fill", {{"signal", "isValid(datum.value) && datum.value > 2.2 ? 'white' : 'black'"}}}}}}}}});
  return spec;
}

json Bars(const BarOptions& o) {
  const int row_h = 20;
  json spec = Base(o.width, row_h * static_cast<int>(std::max<size_t>(1, o.categories.size())));
  json data = json::array({{{"name", "bars"}, {"values", o.values}}});
  std::string x0 = "x0", x1 = "x1";
  if (o.stack) {
    data[0]["transform"] = json::array({{{"type", "stack"}, {"groupby", json::array({"category"})},
                                         {"field", "value"}, {"sort", {{"field", "color"}}},
                                         {"as", json::array({"x0", "x1"})}}});
  } else {
    data[0]["transform"] = json::array({{{"type", "formula"}, {"as", "x0"}, {"expr", std::to_string(o.from)}},
                                        {{"type", "formula"}, {"as", "x1"}, {"expr", "datum.value"}}});
  }
  data.push_back({{"name", "ticks"}, {"source", "bars"},
                  {"transform", json::array({{{"type", "filter"}, {"expr", "isValid(datum.tick) && datum.tick > 0"}}})}});
  spec["data"] = data;
  json xdomain = {{"fields", json::array({{{"data", "bars"}, {"field", "x0"}}, {{"data", "bars"}, {"field", "x1"}},
                                          {{"data", "ticks"}, {"field", "tick"}}})}};
  if (o.rule) xdomain["fields"].push_back(json::array({*o.rule}));
  json scales = json::array(
      {{{"name", "y"}, {"type", "band"}, {"domain", o.categories}, {"range", "height"}, {"padding", 0.18}},
       {{"name", "x"}, {"type", o.log ? "log" : "linear"}, {"domain", xdomain}, {"range", "width"},
        {"nice", true}, {"zero", !o.log && o.from == 0}}});
  json legends = json::array();
  if (!o.color_title.empty()) {
    json c = {{"name", "color"}, {"type", "ordinal"}};
    if (!o.color_domain.empty()) {
      c["domain"] = o.color_domain;
    } else {
      c["domain"] = {{"data", "bars"}, {"field", "color"}, {"sort", true}};
    }
    c["range"] = o.color_range.empty() ? CategoryRange(Distinct(o.values, "color").size()) : json(o.color_range);
    scales.push_back(c);
    // Below the plot: the bars' labels reach past its right edge.
    legends.push_back({{"fill", "color"}, {"title", o.color_title}, {"symbolType", "square"},
                       {"orient", "bottom"}, {"direction", "horizontal"}, {"titleLimit", 400}});
  }
  spec["scales"] = scales;
  spec["axes"] = json::array({{{"orient", "bottom"}, {"scale", "x"}, {"title", o.value_title}, {"grid", true},
                               {"format", o.log ? "~g" : "~s"}},
                              {{"orient", "left"}, {"scale", "y"}, {"labelLimit", 380}, {"labelFontSize", 10.5}}});
  spec["legends"] = legends;
  json marks = json::array();
  json enter = {{"y", {{"scale", "y"}, {"field", "category"}}},
                {"height", {{"scale", "y"}, {"band", 1}}},
                {"x", {{"scale", "x"}, {"field", "x0"}}},
                {"x2", {{"scale", "x"}, {"field", "x1"}}},
                {"tooltip", Tooltip(o.tooltip)}};
  enter["fill"] = o.color_title.empty() ? json{{"value", "#4c78a8"}} : json{{"scale", "color"}, {"field", "color"}};
  marks.push_back({{"type", "rect"}, {"from", {{"data", "bars"}}},
                   {"encode", {{"enter", enter}, {"update", {{"fillOpacity", {{"value", 0.85}}}}},
                               {"hover", {{"fillOpacity", {{"value", 1}}}}}}}});
  marks.push_back({{"type", "rect"}, {"from", {{"data", "ticks"}}}, {"interactive", false},
                   {"encode", {{"enter", {{"y", {{"scale", "y"}, {"field", "category"}, {"offset", -2}}},
                                          {"height", {{"scale", "y"}, {"band", 1}, {"offset", 4}}},
                                          {"xc", {{"scale", "x"}, {"field", "tick"}}},
                                          {"width", {{"value", 3}}},
                                          {"fill", {{"value", "#111"}}}}}}}});
  if (!o.stack) {
    marks.push_back({{"type", "text"}, {"from", {{"data", "bars"}}}, {"interactive", false},
                     {"encode", {{"enter", {{"y", {{"scale", "y"}, {"field", "category"}, {"band", 0.5}}},
                                            {"x", {{"signal", "max(scale('x', datum.x1), "
                                                              "isValid(datum.tick) && datum.tick > 0 ? "
                                                              "scale('x', datum.tick) : 0)"}}},
                                            {"dx", {{"value", 5}}},
                                            {"baseline", {{"value", "middle"}}},
                                            {"fontSize", {{"value", 10}}},
                                            {"text", {{"signal", "isValid(datum.text) ? datum.text : ''"}}}}}}}});
  }
  if (o.rule) {
    marks.push_back({{"type", "rule"}, {"interactive", false},
                     {"encode", {{"enter", {{"x", {{"scale", "x"}, {"value", *o.rule}}}, {"y", {{"value", 0}}},
                                            {"y2", {{"signal", "height"}}}, {"stroke", {{"value", "#555"}}},
                                            {"strokeDash", {{"value", json::array({4, 3})}}}}}}}});
  }
  if (!o.tick_title.empty()) {
    marks.push_back({{"type", "text"}, {"interactive", false},
                     {"encode", {{"enter", {{"x", {{"signal", "width"}}}, {"y", {{"signal", "height + 30"}}},
                                            {"align", {{"value", "right"}}}, {"fontSize", {{"value", 10}}},
                                            {"fill", {{"value", "#333"}}},
                                            {"text", {{"value", "▮ black tick: " + o.tick_title}}}}}}}});
  }
  spec["marks"] = marks;
  return spec;
}

json Timeline(const TimelineOptions& o) {
  const int lane_h = 46;
  json spec = Base(o.width, lane_h * static_cast<int>(std::max<size_t>(1, o.lanes.size())));
  spec["data"] = json::array({{{"name", "bars"}, {"values", o.values}}});
  // Wheel zooms around the pointer, drag pans, double-click resets (Vega's zoom example, x only).
  spec["signals"] = json::array(
      {{{"name", "xext"}, {"value", json::array({0, o.extent})}},
       {{"name", "down"}, {"value", nullptr},
        {"on", json::array({{{"events", "touchend"}, {"update", "null"}},
                            {{"events", "mousedown, touchstart"}, {"update", "xy()"}}})}},
       {{"name", "xcur"}, {"value", nullptr},
        {"on", json::array({{{"events", "mousedown, touchstart, touchend"}, {"update", "slice(xdom)"}}})}},
       {{"name", "delta"}, {"value", 0},
        {"on", json::array({{{"events", json::array({{{"source", "window"}, {"type", "mousemove"}, {"consume", true},
                                                      {"between", json::array({{{"type", "mousedown"}},
                                                                               {{"source", "window"}, {"type", "mouseup"}}})}}})},
                             {"update", "down ? down[0] - x() : 0"}}})}},
       {{"name", "anchor"}, {"value", 0},
        {"on", json::array({{{"events", "wheel"}, {"update", "invert('x', x())"}}})}},
       {{"name", "zoom"}, {"value", 1},
        {"on", json::array({{{"events", "wheel!"}, {"force", true},
                             {"update", "pow(1.001, event.deltaY * pow(16, event.deltaMode))"}}})}},
       {{"name", "xdom"}, {"update", "slice(xext)"},
        {"on", json::array({{{"events", {{"signal", "delta"}}},
                             {"update", "[xcur[0] + span(xcur) * delta / width, xcur[1] + span(xcur) * delta / width]"}},
                            {{"events", {{"signal", "zoom"}}},
                             {"update", "[anchor + (xdom[0] - anchor) * zoom, anchor + (xdom[1] - anchor) * zoom]"}},
                            {{"events", "dblclick"}, {"update", "slice(xext)"}}})}}});
  spec["scales"] = json::array(
      {{{"name", "x"}, {"type", "linear"}, {"domain", {{"signal", "xdom"}}}, {"range", "width"}, {"zero", false}},
       {{"name", "y"}, {"type", "band"}, {"domain", o.lanes}, {"range", "height"}, {"padding", 0.12}},
       {{"name", "color"}, {"type", "ordinal"}, {"domain", o.states}, {"range", CategoryRange(o.states.size())}}});
  spec["axes"] = json::array({{{"orient", "bottom"}, {"scale", "x"}, {"format", "~s"},
                               {"title", "µs from the start (wheel: zoom, drag: pan, double-click: reset)"}},
                              {{"orient", "left"}, {"scale", "y"}, {"labelFontSize", 11}}});
  spec["legends"] = json::array({{{"fill", "color"}, {"title", "unit / layout (black: a transition)"}, {"titleLimit", 400},
                                  {"symbolType", "square"}, {"columns", 4}, {"orient", "bottom"}}});
  spec["marks"] = json::array(
      {{{"type", "group"},
        {"encode", {{"enter", {{"width", {{"signal", "width"}}}, {"height", {{"signal", "height"}}},
                               {"clip", {{"value", true}}}}}}},
        {"marks",
         json::array(
             {{{"type", "rect"}, {"from", {{"data", "bars"}}},
               {"encode",
                {{"enter", {{"tooltip", Tooltip(o.tooltip)},
                            {"fill", json::array({{{"test", "datum.kind === 'transition'"}, {"value", "#222222"}},
                                                  {{"scale", "color"}, {"field", "state"}}})},
                            {"stroke", {{"value", "white"}}}}},
                 {"update", {{"x", {{"scale", "x"}, {"field", "start"}}},
                             {"x2", {{"scale", "x"}, {"field", "end"}}},
                             {"y", {{"scale", "y"}, {"field", "lane"}, {"offset", {{"signal", "datum.kind === 'transition' ? 8 : 0"}}}}},
                             {"height", {{"scale", "y"}, {"band", 1},
                                         {"offset", {{"signal", "datum.kind === 'transition' ? -16 : 0"}}}}},
                             {"strokeWidth", {{"signal", "scale('x', datum.end) - scale('x', datum.start) > 3 ? 0.5 : 0"}}}}}}}},
              {{"type", "text"}, {"from", {{"data", "bars"}}}, {"interactive", false},
               {"encode",
                {{"enter", {{"baseline", {{"value", "middle"}}}, {"align", {{"value", "center"}}},
                            {"fontSize", {{"value", 10}}}, {"fill", {{"value", "white"}}}}},
                 {"update", {{"x", {{"signal", "(scale('x', datum.start) + scale('x', datum.end)) / 2"}}},
                             {"y", {{"scale", "y"}, {"field", "lane"}, {"band", 0.5}}},
                             {"text", {{"signal", "datum.kind === 'subgraph' && scale('x', datum.end) - "
                                                  "scale('x', datum.start) > 7 * length(datum.text) + 4 ? datum.text : ''"}}}}}}}}})}}});
  return spec;
}

}  // namespace layoutdb::reports::charts
