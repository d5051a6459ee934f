#include "document.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string_view>
#include <utility>

// Debian's libjs-vega, compiled in by reports/CMakeLists.txt: {"vega-util.min.js", text}, ...
namespace layoutdb::reports::vega {
const std::vector<std::pair<std::string_view, std::string_view>>& Embedded();
}  // namespace layoutdb::reports::vega

namespace layoutdb::reports {
namespace {

// Debian ships Vega as one UMD build per module (no single-file bundle). Loaded as CommonJS modules by
// a small require() in the page, in dependency order, they give the same `vega` object the bundle
// would, less the modules no report uses (geo projections, voronoi, word clouds, ...).
constexpr const char* kVegaModules[] = {
    "vega-util",       "vega-canvas",     "vega-time",      "vega-format",          "vega-loader",
    "vega-dataflow",   "vega-scale",      "vega-scenegraph", "vega-expression",     "vega-event-selector",
    "vega-statistics", "vega-selection",  "vega-functions", "vega-parser",          "vega-runtime",
    "vega-view",       "vega-transforms", "vega-view-transforms", "vega-encode"};

constexpr const char* kLoader =
    "(function(){var F={},C={};"
    "window.__vegaModule=function(n,f){F[n]=f};"
    "window.__vegaRequire=function r(n){if(C[n])return C[n].exports;var f=F[n];"
    "if(!f)throw new Error('vega module missing: '+n);var m={exports:{}};C[n]=m;"
    "f.call(window,m.exports,m,r);return m.exports}})();\n";

// The `vega` object, as vega/index.js assembles it from the modules.
constexpr const char* kAssemble = R"JS(
var vega = (function (r) {
  var v = {};
  ['vega-statistics', 'vega-time', 'vega-util', 'vega-loader', 'vega-scenegraph'].forEach(function (n) {
    Object.assign(v, r(n));
  });
  var df = r('vega-dataflow');
  r('vega-util').extend(df.transforms, r('vega-transforms'), r('vega-view-transforms'), r('vega-encode'));
  v.Dataflow = df.Dataflow;
  v.transforms = df.transforms;
  v.View = r('vega-view').View;
  v.parse = r('vega-parser').parse;
  v.expressionFunction = r('vega-functions').expressionFunction;
  v.scale = r('vega-scale').scale;
  v.scheme = r('vega-scale').scheme;
  return v;
})(window.__vegaRequire);
)JS";

// Draws every plot, then writes #report-status (see RenderHtml in document.h).
constexpr const char* kDraw = R"JS(
(function () {
  var status = {state: 'pending', plots: 0, rendered: 0, empty: [], errors: []};
  var out = document.getElementById('report-status');
  function show() {
    out.textContent = JSON.stringify(status);
    out.setAttribute('data-state', status.state);
    var line = document.getElementById('report-status-line');
    if (line) {
      line.textContent = status.state === 'ok'
          ? 'All ' + status.plots + ' plots drawn.'
          : 'Plots drawn: ' + status.rendered + ' of ' + status.plots + '. ' + status.errors.join('; ');
    }
  }
  window.addEventListener('error', function (e) {
    status.errors.push(String(e.message));
    status.state = 'error';
    show();
  });
  // Items of data marks (not axes, legends or groups) anywhere in a scenegraph.
  function markItems(node) {
    var n = 0;
    if (!node || !node.items) return 0;
    if (node.marktype && node.role === 'mark' && node.marktype !== 'group') n += node.items.length;
    node.items.forEach(function (child) { n += markItems(child); });
    return n;
  }
  var specs = [];
  try {
    specs = JSON.parse(document.getElementById('plot-specs').textContent);
  } catch (e) {
    status.errors.push('plot specs: ' + e.message);
  }
  status.plots = specs.length;
  Promise.all(specs.map(function (p) {
    try {
      var view = new vega.View(vega.parse(p.spec), {renderer: 'svg', container: '#' + p.id, hover: true});
      return view.runAsync().then(function () {
        var svg = document.querySelector('#' + p.id + ' svg');
        if (svg && markItems(view.scenegraph().root) > 0) status.rendered++;
        else status.empty.push(p.id);
      }).catch(function (e) { status.errors.push(p.id + ': ' + e.message); });
    } catch (e) {
      status.errors.push(p.id + ': ' + e.message);
      return Promise.resolve();
    }
  })).then(function () {
    var ok = !status.errors.length && !status.empty.length && status.rendered === status.plots;
    status.state = ok ? 'ok' : 'error';
    show();
  });
})();
)JS";

constexpr const char* kStyle = R"CSS(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       margin: 0 auto; max-width: 1280px; padding: 0 24px 48px; }
h1 { font-size: 24px; margin: 24px 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.lead { color: #555; margin: 2px 0; }
nav { margin: 12px 0; font-size: 13px; }
nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
figure { margin: 18px 0 26px; }
figcaption { margin-bottom: 6px; }
figcaption b { display: block; font-size: 15px; }
figcaption span { color: #444; }
.vega { overflow-x: auto; }
.table { max-height: 420px; overflow: auto; margin: 8px 0 16px; border: 1px solid #eee; display: inline-block;
         max-width: 100%; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { padding: 3px 9px; text-align: left; border-bottom: 1px solid #eee; white-space: nowrap; }
th { background: #f6f6f6; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { margin-top: 40px; color: #666; font-size: 12px; }
#report-status { display: none; }
)CSS";

std::string EscapeHtml(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// JSON inside <script type="application/json">: '<' only occurs inside JSON strings, where \u003c
// reads back as the same character and can never close the element.
std::string ScriptJson(const nlohmann::json& j) {
  const std::string text = j.dump();
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '<')
      out += "\\u003c";
    else
      out += c;
  }
  return out;
}

// A module's source as a CommonJS factory, without its source-map comment (the page loads nothing).
std::string ModuleScript(std::string_view name, std::string_view source) {
  std::string src;
  size_t pos = 0;
  while (pos < source.size()) {
    size_t end = source.find('\n', pos);
    if (end == std::string_view::npos) end = source.size();
    const std::string_view line = source.substr(pos, end - pos);
    if (line.rfind("//# sourceMappingURL", 0) != 0) {
      src.append(line);
      src += '\n';
    }
    pos = end + 1;
  }
  for (size_t at = 0; (at = src.find("</script", at)) != std::string::npos; at += 2) src.insert(at + 1, "\\");
  // vega-functions asks for the package name, the file is vega-selection.
  const std::string module = name == "vega-selection" ? "vega-selections" : std::string(name);
  return fmt::format("__vegaModule('{}',function(exports,module,require){{{}}});\n", module, src);
}

std::string VegaScript() {
  std::string js = "/* Vega (Debian's libjs-vega), BSD-3-Clause, University of Washington Interactive "
                   "Data Lab */\n";
  js += kLoader;
  const auto& files = vega::Embedded();
  for (const char* name : kVegaModules) {
    const std::string file = std::string(name) + ".min.js";
    bool found = false;
    for (const auto& [n, text] : files) {
      if (n == file) {
        js += ModuleScript(name, text);
        found = true;
      }
    }
    if (!found) throw std::runtime_error(fmt::format("this build's Vega lacks {}", file));
  }
  js += kAssemble;
  return js;
}

// Cells that start like a number are right-aligned.
bool IsNumeric(const std::string& s) {
  const size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]));
}

std::string HtmlTable(const Table& t) {
  std::string s = "<div class=\"table\"><table><thead><tr>";
  for (const auto& h : t.header) s += "<th>" + EscapeHtml(h) + "</th>";
  s += "</tr></thead><tbody>\n";
  for (const auto& row : t.rows) {
    s += "<tr>";
    for (const auto& c : row) s += (IsNumeric(c) ? "<td class=\"num\">" : "<td>") + EscapeHtml(c) + "</td>";
    s += "</tr>\n";
  }
  return s + "</tbody></table></div>\n";
}

std::string MarkdownCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out.empty() ? " " : out;
}

std::string Anchor(size_t i) { return fmt::format("section-{}", i + 1); }

}  // namespace

int Document::PlotCount() const {
  int n = 0;
  for (const auto& s : sections)
    for (const auto& b : s.blocks) n += b.plot ? 1 : 0;
  return n;
}

bool HaveVega() { return !vega::Embedded().empty(); }

std::string RenderHtml(const Document& doc) {
  const int plots = doc.PlotCount();
  if (plots > 0 && !HaveVega()) {
    throw std::runtime_error(
        "this layoutdb was built without Vega (Debian's libjs-vega): install it, reconfigure, or ask "
        "for --format md,csv");
  }
  std::string h = "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + EscapeHtml(doc.title) + "</title>\n<style>" + kStyle + "</style>\n";
  if (plots > 0) h += "<script>\n" + VegaScript() + "</script>\n";
  h += "</head>\n<body>\n<h1>" + EscapeHtml(doc.title) + "</h1>\n";
  for (const auto& l : doc.lead) h += "<p class=\"lead\">" + EscapeHtml(l) + "</p>\n";
  h += "<nav>";
  for (size_t i = 0; i < doc.sections.size(); ++i)
    h += fmt::format("<a href=\"#{}\">{}</a>", Anchor(i), EscapeHtml(doc.sections[i].title));
  h += "</nav>\n";

  nlohmann::json specs = nlohmann::json::array();
  for (size_t i = 0; i < doc.sections.size(); ++i) {
    const Section& sec = doc.sections[i];
    h += fmt::format("<section id=\"{}\">\n<h2>{}</h2>\n", Anchor(i), EscapeHtml(sec.title));
    for (const Block& b : sec.blocks) {
      if (!b.text.empty()) h += "<p>" + EscapeHtml(b.text) + "</p>\n";
      if (b.table) h += HtmlTable(*b.table);
      if (b.plot) {
        const std::string id = fmt::format("plot-{}", specs.size());
        h += fmt::format("<figure><figcaption><b>{}</b><span>{}</span></figcaption>"
                         "<div class=\"vega\" id=\"{}\"></div></figure>\n",
                         EscapeHtml(b.plot->title), EscapeHtml(b.plot->reading), id);
        specs.push_back({{"id", id}, {"spec", b.plot->spec}});
      }
    }
    h += "</section>\n";
  }
  h += "<footer><p id=\"report-status-line\">";
  h += plots > 0 ? "Drawing the plots…" : "No plots.";
  h += "</p><p>Written by layoutdb; plots by Vega (Debian's libjs-vega), inlined: this page loads "
       "nothing.</p>\n";
  h += fmt::format("<pre id=\"report-status\" data-state=\"{}\">{}</pre></footer>\n",
                   plots > 0 ? "pending" : "ok",
                   plots > 0 ? "{\"state\":\"pending\"}"
                             : "{\"state\":\"ok\",\"plots\":0,\"rendered\":0,\"empty\":[],\"errors\":[]}");
  if (plots > 0) {
    h += "<script type=\"application/json\" id=\"plot-specs\">" + ScriptJson(specs) + "</script>\n";
    h += std::string("<script>") + kDraw + "</script>\n";
  }
  return h + "</body>\n</html>\n";
}

std::string RenderMarkdown(const Document& doc) {
  std::string m = "# " + doc.title + "\n\n";
  for (const auto& l : doc.lead) m += l + "  \n";
  for (const Section& sec : doc.sections) {
    m += "\n## " + sec.title + "\n";
    for (const Block& b : sec.blocks) {
      if (!b.in_markdown) continue;
      if (!b.text.empty()) m += "\n" + b.text + "\n";
      if (b.table) {
        m += "\n|";
        for (const auto& c : b.table->header) m += " " + MarkdownCell(c) + " |";
        m += "\n|";
        for (size_t i = 0; i < b.table->header.size(); ++i) m += " --- |";
        m += "\n";
        for (const auto& row : b.table->rows) {
          m += "|";
          for (const auto& c : row) m += " " + MarkdownCell(c) + " |";
          m += "\n";
        }
      }
      if (b.plot) m += "\n- **" + b.plot->title + "** (plot in index.html): " + b.plot->reading + "\n";
    }
  }
  return m;
}

void WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error(fmt::format("{}: cannot write the file", path));
  out << text;
  out.close();
  if (!out) throw std::runtime_error(fmt::format("{}: write failed", path));
}

std::string Us(double us) {
  if (!std::isfinite(us)) return "-";
  if (us < 10) return fmt::format("{:.2f} µs", us);
  if (us < 1000) return fmt::format("{:.1f} µs", us);
  if (us < 1e6) return fmt::format("{:.2f} ms", us / 1e3);
  return fmt::format("{:.2f} s", us / 1e6);
}

std::string Times(double ratio) {
  if (!std::isfinite(ratio)) return "-";
  return fmt::format(ratio < 10 ? "{:.2f}×" : "{:.1f}×", ratio);
}

std::string Percent(double fraction) {
  if (!std::isfinite(fraction)) return "-";
  return fmt::format("{:.1f}%", 100 * fraction);
}

}  // namespace layoutdb::reports
