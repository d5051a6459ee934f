// Private to reports/: a report as sections of paragraphs, tables and plots, rendered twice — as one
// self-contained HTML page (plots drawn by Vega, compiled in from Debian's libjs-vega; the page loads
// nothing) and as Markdown (the same text and tables, each plot as its one-line reading).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace layoutdb::reports {

struct Plot {
  std::string title;    // a short heading
  std::string reading;  // one line: what the plot shows, in words
  nlohmann::json spec;  // a Vega 5 specification with its data inline
};

struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

struct Block {
  std::string text;  // a paragraph (plain text)
  std::optional<Table> table;
  std::optional<Plot> plot;
  bool in_markdown = true;  // false: the HTML page only (long tables)
};

struct Section {
  std::string title;
  std::vector<Block> blocks;

  void Text(std::string text) { blocks.push_back({std::move(text), std::nullopt, std::nullopt, true}); }
  void Add(Table table, bool in_markdown = true) {
    blocks.push_back({"", std::move(table), std::nullopt, in_markdown});
  }
  void Add(Plot plot) { blocks.push_back({"", std::nullopt, std::move(plot), true}); }
};

struct Document {
  std::string title;
  std::vector<std::string> lead;  // lines under the title
  std::vector<Section> sections;

  int PlotCount() const;
};

// True when this build holds Vega (Debian's libjs-vega was installed when it was configured).
bool HaveVega();

// The page. Once every plot is drawn (or failed), the element `#report-status` holds JSON:
// {"state": "ok" | "error", "plots": N, "rendered": N, "empty": [ids], "errors": [messages]}; a plot
// counts as rendered when its SVG holds at least one mark item. Throws std::runtime_error when the
// document has plots and the build has no Vega.
std::string RenderHtml(const Document& doc);
std::string RenderMarkdown(const Document& doc);

// Writes a file whole; throws std::runtime_error "PATH: cannot write the file".
void WriteTextFile(const std::string& path, const std::string& text);

// Figures as the report prints them: 0.83 µs, 12.3 µs, 1.24 ms, 2.10 s; 1.34×; 12.5%.
std::string Us(double us);
std::string Times(double ratio);
std::string Percent(double fraction);

}  // namespace layoutdb::reports
