// `layoutdb report`, `select --report`'s picture: Markdown and CSV from databases with known contents,
// the HTML page self-contained and drawn by a real browser (headless Chromium, skipped when absent),
// two targets side by side, and bad input refused with one line.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "db/db_test_util.h"
#include "layoutdb/db.h"
#include "layoutdb/reports/report.h"
#include "tests/shell.h"

namespace layoutdb::reports {
namespace {

namespace fs = std::filesystem;
using db::testing::ReadBytes;
using db::testing::TempDir;
using layoutdb::testing::Shell;
using nlohmann::json;

constexpr const char* kConv64 = "conv2d:mb1ic64ih56iw56oc64kh3kw3sh1sw1ph1pw1g1";
constexpr const char* kConv3 = "conv2d:mb1ic3ih32iw32oc16kh3kw3sh1sw1ph1pw1g1";
constexpr const char* kMatmul = "matmul:mb1m64n64k64";
constexpr const char* kRelu = "eltwise:relu:mb1c64h56w56";

std::string Bin() {
  const char* b = std::getenv("LAYOUTDB_BIN");
  return b ? b : "layoutdb";
}

std::string ArtifactDir() {
  const char* b = std::getenv("LAYOUTDB_BINARY_DIR");
  const fs::path dir = fs::path(b ? b : ".") / "test-artifacts";
  fs::create_directories(dir);
  return dir.string();
}

struct Times {
  double conv64_nchw, conv64_nhwc, conv64_nchw8c, conv64_any;
  double ocl_conv64_nc4hw4;
};

// A database of one target: a cpu and an OpenCL unit, one sweep, conv2d (two shapes), matmul and
// eltwise in several layouts (one reference kernel, one unstable point), reorders, a transfer, and
// (for `with_validation`) one validation run.
void BuildDb(const std::string& path, const std::string& fingerprint, const Times& t, bool with_validation) {
  db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
  const int64_t target = d.UpsertTarget(db::testing::SampleTarget(fingerprint));
  const int64_t cpu = d.UpsertUnit(db::testing::SampleUnit(target, "cpu"));
  const int64_t ocl = d.UpsertUnit(db::testing::SampleUnit(target, "ocl:0:0"));
  db::SweepRow s;
  s.target_id = target;
  s.spec_name = "quick";
  s.spec = R"({"name": "quick", "measure": {"target_rel_ci": 0.02}})";
  s.started_at = "2026-11-24T10:00:00Z";
  s.status = "running";
  s.points_total = 14;
  const int64_t sweep = d.InsertSweep(s);
  const int64_t conv64 = d.UpsertProblem(Problem::Parse(kConv64));
  const int64_t conv3 = d.UpsertProblem(Problem::Parse(kConv3));
  const int64_t mm = d.UpsertProblem(Problem::Parse(kMatmul));
  const int64_t relu = d.UpsertProblem(Problem::Parse(kRelu));
  auto put = [&](int64_t problem, int64_t unit, const std::string& layout, double us) {
    db::MeasurementRow m = db::testing::SampleMeasurement(problem, unit, layout, "f32", us);
    m.sweep_id = sweep;
    if (layout == "any") m.chosen_layout = "nhwc";
    d.PutMeasurement(m);
    return m;
  };
  put(conv64, cpu, "nchw", t.conv64_nchw);
  put(conv64, cpu, "nhwc", t.conv64_nhwc);
  put(conv64, cpu, "nChw8c", t.conv64_nchw8c);
  put(conv64, cpu, "any", t.conv64_any);
  put(conv3, cpu, "nchw", 10);
  put(conv3, cpu, "nhwc", 12);
  db::MeasurementRow ref = db::testing::SampleMeasurement(conv3, cpu, "nChw16c", "f32", 900);
  ref.is_reference = true;
  ref.impl = "ref:any";
  d.PutMeasurement(ref);
  put(conv3, cpu, "any", 10.1);
  put(mm, cpu, "plain", 4);
  put(relu, cpu, "nchw", 5);
  db::MeasurementRow unstable = db::testing::SampleMeasurement(relu, cpu, "nhwc", "f32", 5.5);
  unstable.stats->rel_ci = 0.05;  // never reached the 2% target
  d.PutMeasurement(unstable);
  put(conv64, ocl, "nchw", 50);
  put(conv64, ocl, "nc4hw4", t.ocl_conv64_nc4hw4);
  for (int64_t bytes : {802816, 3211264}) {
    db::TransitionRow tr;
    tr.unit_id = cpu;
    tr.src_layout = "nchw";
    tr.dst_layout = "nhwc";
    tr.dtype = "f32";
    tr.shape = bytes == 802816 ? "mb1c64h56w56" : "mb1c256h56w56";
    tr.bytes = bytes;
    tr.status = "ok";
    tr.stats = db::testing::SampleStats(static_cast<double>(bytes) / 20000);
    d.PutTransition(tr);
  }
  db::TransferRow tf;
  tf.src_unit_id = cpu;
  tf.dst_unit_id = ocl;
  tf.method = "write";
  tf.bytes = 802816;
  tf.status = "ok";
  tf.stats = db::testing::SampleStats(100);
  d.PutTransfer(tf);
  d.FinishSweep(sweep, "completed", 14);
  db::testing::RawExec(d.path(), "UPDATE sweeps SET ended_at = '2026-11-24T10:02:31Z'");
  if (with_validation) {
    const json details = {{"subgraphs", json::array({{{"index", 0}, {"unit", "cpu"}, {"layout", "nhwc"},
                                                      {"ops", {"Conv", "Relu"}}, {"measured_us", 100.0},
                                                      {"predicted_us", 95.0}, {"error_pct", -5.0}},
                                                     {{"index", 1}, {"unit", "cpu"}, {"layout", "nhwc"},
                                                      {"ops", {"MatMul"}}, {"measured_us", 10.0},
                                                      {"predicted_us", 20.0}, {"error_pct", 100.0}}})}};
    for (const auto& [strategy, measured, predicted] :
         std::vector<std::tuple<std::string, double, double>>{{"plan", 110, 115}, {"oracle", 105, 112}, {"cpu:nchw", 150, 160}}) {
      db::ValidationRow v;
      v.target_id = target;
      v.model = "/models/tiny.onnx";
      v.model_hash = "abc";
      v.plan = "{}";
      v.strategy = strategy;
      v.predicted_us = predicted;
      v.measured_us = measured;
      v.p10_us = measured * 0.95;
      v.p90_us = measured * 1.05;
      v.repetitions = 20;
      v.status = "ok";
      v.measured_at = "2026-11-24T11:00:00Z";
      v.validation = "abc:2026-11-24T11:00:00Z";
      v.inputs = "[]";
      if (strategy == "plan") v.details = details.dump();
      d.PutValidation(v);
    }
  }
  d.Checkpoint();
}

const Times kTimesA{30, 20, 25, 40, 15};
// On B, nChw8c wins conv64 (A's nhwc is 22/18 = 1.22x slower there) and the cpu beats the OpenCL unit.
const Times kTimesB{28, 22, 18, 30, 25};

std::string ReadFile(const std::string& path) { return ReadBytes(path); }

// RFC 4180 CSV: rows of fields (quoted fields may hold commas, quotes and line breaks).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false, had_quotes = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = had_quotes = true;
    } else if (c == ',') {
      rows.back().push_back(field);
      field.clear();
    } else if (c == '\r') {
    } else if (c == '\n') {
      rows.back().push_back(field);
      field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  (void)had_quotes;
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

// The report's status element, as the page left it after drawing.
std::optional<json> PageStatus(const std::string& dom) {
  const std::string tag = "<pre id=\"report-status\"";
  const size_t at = dom.find(tag);
  if (at == std::string::npos) return std::nullopt;
  const size_t start = dom.find('>', at) + 1, end = dom.find("</pre>", start);
  std::string text = dom.substr(start, end - start);
  for (auto [from, to] : {std::pair<std::string, std::string>{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}}) {
    for (size_t p = 0; (p = text.find(from, p)) != std::string::npos; p += to.size()) text.replace(p, from.size(), to);
  }
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

class Report : public ::testing::Test {
 protected:
  void SetUp() override {
    BuildDb(dir_.File("a.db"), "aaaaaaaaaaaaaaaa", kTimesA, /*with_validation=*/true);
    BuildDb(dir_.File("b.db"), "bbbbbbbbbbbbbbbb", kTimesB, /*with_validation=*/false);
  }
  int Run(const std::string& args, std::string* out) { return Shell(Bin() + " " + args, out); }
  TempDir dir_;
};

TEST_F(Report, WritesEveryFormatAndSaysWhat) {
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("a.db") + " --out " + dir_.File("r"), &out), 0) << out;
  EXPECT_NE(out.find("wrote index.html, report.md, 12 CSV files into " + dir_.File("r")), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir_.File("r/index.html")));
  EXPECT_TRUE(fs::exists(dir_.File("r/report.md")));
  for (const auto& t : db::Database::TableNames()) EXPECT_TRUE(fs::exists(dir_.File("r/csv/" + t + ".csv"))) << t;
  EXPECT_TRUE(fs::exists(dir_.File("r/csv/measurement_view.csv")));
}

TEST_F(Report, MarkdownHoldsTheFiguresOfTheDatabase) {
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("a.db") + " --out " + dir_.File("r") + " --format md", &out), 0) << out;
  EXPECT_FALSE(fs::exists(dir_.File("r/index.html")));
  EXPECT_FALSE(fs::exists(dir_.File("r/csv")));
  const std::string md = ReadFile(dir_.File("r/report.md"));
  EXPECT_EQ(md.rfind("# layoutdb report: a.db\n", 0), 0u) << md.substr(0, 200);
  // conv64: nhwc 20 is best (nchw 1.5x, nChw8c 1.25x, any 2x); conv3: nchw 10 is best (nhwc 1.2x,
  // any 1.01x; nChw16c is a reference kernel, never ranked).
  EXPECT_NE(md.find("| cpu | conv2d | f32 | 2 | nchw 1, nhwc 1 | nchw 1.22×, nhwc 1.10×, nChw8c 1.25×, any 1.42× |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("On cpu, any loses by more than 3% on 1 of 2 problems (1 of them with both medians within their "
                    "CI target), by up to 2.00× (" + std::string(kConv64) + " f32)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| cpu | " + std::string(kConv64) + " | f32 | nhwc | nhwc | 40.0 µs | 20.0 µs | 2.00× | yes |"),
            std::string::npos)
      << md;
  // Peaks: conv64 is 2*56*56*64*64*9 = 231.2 MFLOP in 15 µs on ocl:0:0 = 15.4 TFLOP/s.
  EXPECT_NE(md.find("| ocl:0:0 | f32 | 15414 | " + std::string(kConv64) + " nc4hw4 |"), std::string::npos) << md;
  EXPECT_NE(md.find("1 of 13 points (7.7%) never reached the ±2% target"), std::string::npos) << md;
  EXPECT_NE(md.find("| 1 | tiny.onnx | 2026-11-24T11:00:00Z | 110.0 µs | 115.0 µs | +4.5% | 1.048 | cpu:nchw | 1.36× |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("1 of 2 sub-graphs are within ±10%"), std::string::npos) << md;
  EXPECT_NE(md.find("1 sweep of this target, 2m31s in all"), std::string::npos) << md;
  EXPECT_EQ(md.find("Two targets side by side"), std::string::npos);
}

TEST_F(Report, CsvPerTableWithItsHeaderAndTheDatabasesValues) {
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("a.db") + " --out " + dir_.File("r") + " --format csv", &out), 0) << out;
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open_v2(dir_.File("a.db").c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  std::vector<std::string> tables = db::Database::TableNames();
  tables.push_back("measurement_view");
  for (const auto& table : tables) {
    SCOPED_TRACE(table);
    const auto rows = ParseCsv(ReadFile(dir_.File("r/csv/" + table + ".csv")));
    sqlite3_stmt* q = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(h, ("SELECT * FROM " + table + " ORDER BY id").c_str(), -1, &q, nullptr), SQLITE_OK);
    const int n = sqlite3_column_count(q);
    ASSERT_FALSE(rows.empty());
    ASSERT_EQ(rows[0].size(), static_cast<size_t>(n));
    for (int c = 0; c < n; ++c) EXPECT_EQ(rows[0][c], sqlite3_column_name(q, c));
    size_t r = 1;
    for (; sqlite3_step(q) == SQLITE_ROW; ++r) {
      ASSERT_LT(r, rows.size());
      ASSERT_EQ(rows[r].size(), static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        const std::string& got = rows[r][c];
        switch (sqlite3_column_type(q, c)) {
          case SQLITE_NULL:
            EXPECT_EQ(got, "") << sqlite3_column_name(q, c);
            break;
          case SQLITE_INTEGER:
            EXPECT_EQ(got, std::to_string(sqlite3_column_int64(q, c))) << sqlite3_column_name(q, c);
            break;
          case SQLITE_FLOAT:  // written exactly: reads back to the same double
            EXPECT_EQ(std::stod(got), sqlite3_column_double(q, c)) << sqlite3_column_name(q, c);
            break;
          default:
            EXPECT_EQ(got, reinterpret_cast<const char*>(sqlite3_column_text(q, c))) << sqlite3_column_name(q, c);
        }
      }
    }
    EXPECT_EQ(r, rows.size());
    sqlite3_finalize(q);
  }
  sqlite3_close(h);
  // The validation details (JSON with commas and quotes) survive the quoting.
  const auto rows = ParseCsv(ReadFile(dir_.File("r/csv/validations.csv")));
  ASSERT_EQ(rows.size(), 4u);
  const auto& header = rows[0];
  const size_t col = std::find(header.begin(), header.end(), "details") - header.begin();
  ASSERT_LT(col, header.size());
  EXPECT_EQ(json::parse(rows[1][col]).at("subgraphs").size(), 2u);
}

TEST_F(Report, HtmlIsSelfContained) {
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("a.db") + " --out " + dir_.File("r") + " --format html", &out), 0) << out;
  const std::string html = ReadFile(dir_.File("r/index.html"));
  // Outside the scripts (Vega's code names SVG namespaces and clip paths), nothing that loads.
  std::string markup = html;
  for (size_t at; (at = markup.find("<script")) != std::string::npos;)
    markup.erase(at, markup.find("</script>", at) + 9 - at);
  for (const char* loads : {"src=", "<link", "<img", "<iframe", "@import", "url(", "http:", "https:"})
    EXPECT_EQ(markup.find(loads), std::string::npos) << loads;
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("sourceMappingURL"), std::string::npos);
  const std::string open = "<script type=\"application/json\" id=\"plot-specs\">";
  const size_t at = html.find(open);
  ASSERT_NE(at, std::string::npos);
  const size_t end = html.find("</script>", at);
  const json specs = json::parse(html.substr(at + open.size(), end - at - open.size()));
  ASSERT_GE(specs.size(), 10u);
  for (const auto& p : specs) {
    EXPECT_NE(html.find("id=\"" + p.at("id").get<std::string>() + "\""), std::string::npos);
    for (const auto& d : p.at("spec").at("data")) EXPECT_FALSE(d.contains("url")) << p.at("id");  // data inline
  }
}

// Opens a page in headless Chromium: the status the page wrote after drawing, and a screenshot.
struct Browser {
  std::string chromium;
  static Browser Find() {
    std::string out;
    Browser b;
    if (Shell("command -v chromium", &out) == 0) b.chromium = out.substr(0, out.find('\n'));
    return b;
  }
  std::string Flags(const std::string& profile) const {
    return chromium + " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                      "--disable-background-networking --disable-component-update --disable-sync "
                      "--host-resolver-rules='MAP * ~NOTFOUND' --hide-scrollbars "
                      "--virtual-time-budget=20000 --user-data-dir=" + profile;
  }
  // The page's status JSON, or why there is none.
  json Status(const std::string& page, const std::string& profile) const {
    std::string dom;
    Shell("timeout 50 " + Flags(profile) + " --dump-dom file://" + page + " 2>/dev/null", &dom);
    auto s = PageStatus(dom);
    return s ? *s : json{{"state", "no status element"}, {"dom_bytes", dom.size()}};
  }
  bool Screenshot(const std::string& page, const std::string& png, const std::string& profile, int height) const {
    std::string out;
    fs::remove(png);
    Shell("timeout 50 " + Flags(profile) + " --window-size=1300," + std::to_string(height) + " --screenshot=" + png +
              " file://" + page,
          &out);
    return fs::exists(png) && fs::file_size(png) > 10000;
  }
};

TEST_F(Report, EveryPlotRendersInARealBrowser) {
  const Browser browser = Browser::Find();
  if (browser.chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium): not drawn";
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("a.db") + " --compare " + dir_.File("b.db") + " --out " + dir_.File("r") +
                    " --format html",
                &out),
            0)
      << out;
  const std::string page = dir_.File("r/index.html");
  const json status = browser.Status(page, dir_.File("profile1"));
  EXPECT_EQ(status.value("state", ""), "ok") << status.dump();
  EXPECT_GE(status.value("plots", 0), 10) << status.dump();
  EXPECT_EQ(status.value("rendered", -1), status.value("plots", -2)) << status.dump();
  EXPECT_TRUE(status.value("errors", json::array()).empty()) << status.dump();
  const std::string png = ArtifactDir() + "/report_database.png";
  EXPECT_TRUE(browser.Screenshot(page, png, dir_.File("profile2"), 4000)) << png;
}

// A plan of a few sub-graphs with transitions, as Plan::ToJson writes it, and its validation.
json SamplePlan(int subgraphs) {
  json sgs = json::array(), transitions = json::array();
  double total = 0;
  for (int i = 0; i < subgraphs; ++i) {
    const bool blocked = (i / 3) % 2 == 1;
    const double us = 10 + i % 7;
    total += us;
    sgs.push_back({{"index", i}, {"nodes", {3 * i, 3 * i + 1, 3 * i + 2}}, {"ops", {"Conv", "BatchNormalization", "Relu"}},
                   {"unit", i % 11 == 5 ? "ocl:0:0" : "cpu"}, {"layout", blocked ? "nChw8c" : "nchw"},
                   {"predicted_us", us}, {"confidence", i % 5 == 0 ? "roofline" : "exact"},
                   {"complexity", {{"flops", 1e6}, {"bytes", 1e5}, {"intensity", 10}, {"node_count", 3}, {"candidates", json::array()}}}});
    if (i > 0 && (i % 3 == 0)) {
      transitions.push_back({{"edge", {{"from", i - 1}, {"to", i}, {"tensor", "t" + std::to_string(i)}}},
                             {"from", {{"unit", "cpu"}, {"layout", "nchw"}}}, {"to", {{"unit", "cpu"}, {"layout", "nChw8c"}}},
                             {"kind", "reorder"}, {"bytes", 802816}, {"us", 2.5}});
      total += 2.5;
    }
  }
  return {{"plan_schema_version", 1}, {"model", "/models/big.onnx"}, {"db", "layout.db"}, {"dtype", "f32"},
          {"units", {"cpu", "ocl:0:0"}}, {"solver", "dag-heuristic"}, {"subgraphs", sgs}, {"transitions", transitions},
          {"total_predicted_us", total},
          {"baselines", {{{"name", "cpu:nchw"}, {"total_us", total * 1.4}, {"ratio", 1.4}, {"fallbacks", 0}}}},
          {"notes", {"sub-graph 0 (Conv): roofline estimate, nothing close measured"}}};
}

json SampleValidation(const json& plan) {
  json sgs = json::array();
  for (const auto& s : plan["subgraphs"])
    sgs.push_back({{"index", s["index"]}, {"unit", s["unit"]}, {"layout", s["layout"]}, {"ops", s["ops"]},
                   {"measured_us", s["predicted_us"].get<double>() * 1.05}, {"transition_measured_us", 0.5},
                   {"predicted_us", s["predicted_us"]}, {"error_pct", -4.8}, {"oracle", "cpu/nhwc"}});
  return {{"validation_schema_version", 1}, {"model", "/models/big.onnx"}, {"measured_total_us", 1000.0},
          {"p10_us", 990.0}, {"p90_us", 1020.0}, {"repetitions", 30}, {"predicted_total_us", plan["total_predicted_us"]},
          {"error_pct", -3.0}, {"oracle_measured_us", 950.0}, {"selected_over_oracle", 1000.0 / 950},
          {"baselines", {{{"name", "oracle"}, {"measured_us", 950.0}, {"predicted_us", 900.0}},
                         {{"name", "cpu:nchw"}, {"measured_us", 1400.0}, {"predicted_us", nullptr}},
                         {{"name", "ocl:0:0"}, {"measured_us", nullptr}, {"predicted_us", 2000.0}, {"error", "cannot run"}}}},
          {"subgraphs", sgs}, {"subgraphs_within_10pct", 1.0}, {"coverage_flops", 1.0}, {"max_abs_diff", 1e-6},
          {"outputs_match", true}, {"notes", json::array()}};
}

TEST(PlanReport, WritesThePageAndTheSummary) {
  TempDir dir;
  const json plan = SamplePlan(250);  // 750 nodes
  const ReportSummary s = WritePlanReport(dir.File("p"), plan.dump());
  ASSERT_EQ(s.files.size(), 2u);
  EXPECT_EQ(s.plots, 4);
  const std::string md = ReadFile(dir.File("p/plan.md"));
  EXPECT_NE(md.find("750 nodes in 250 sub-graphs; 83 transitions"), std::string::npos) << md.substr(0, 600);
  // Chains end where the state changes or a transition enters: every 3 sub-graphs here, plus the
  // OpenCL ones cutting some in two.
  EXPECT_NE(md.find("sub-graphs form "), std::string::npos);
  EXPECT_NE(md.find("roofline estimate, nothing close measured"), std::string::npos);
}

TEST(PlanReport, ValidationAddsMeasuredFigures) {
  TempDir dir;
  const json plan = SamplePlan(12);
  const ReportSummary s = WritePlanReport(dir.File("v"), plan.dump(), SampleValidation(plan).dump());
  EXPECT_EQ(s.plots, 5);
  const std::string md = ReadFile(dir.File("v/validation.md"));
  EXPECT_NE(md.find("The plan ran in 1.00 ms, 1.05× its oracle; the best baseline, cpu:nchw, is 1.40× the plan; could "
                    "not run: ocl:0:0."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("100.0% of the sub-graphs are within ±10%"), std::string::npos) << md;
}

TEST(PlanReport, RefusesWhatIsNotAPlan) {
  TempDir dir;
  try {
    WritePlanReport(dir.File("p"), "[1, 2");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "plan: not a JSON object");
  }
  try {
    WritePlanReport(dir.File("p"), R"({"model": "m.onnx"})");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "plan: has no sub-graphs list");
  }
}

TEST(PlanReport, PagesRenderInARealBrowser) {
  const Browser browser = Browser::Find();
  if (browser.chromium.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium): not drawn";
  TempDir dir;
  const json big = SamplePlan(250);
  WritePlanReport(dir.File("p"), big.dump());
  const json small = SamplePlan(12);
  WritePlanReport(dir.File("v"), small.dump(), SampleValidation(small).dump());
  for (const auto& [page, png] : {std::pair<std::string, std::string>{"p", "report_plan.png"}, {"v", "report_validation.png"}}) {
    SCOPED_TRACE(page);
    const json status = browser.Status(dir.File(page + "/index.html"), dir.File(page + "-profile1"));
    EXPECT_EQ(status.value("state", ""), "ok") << status.dump();
    EXPECT_EQ(status.value("rendered", -1), status.value("plots", -2)) << status.dump();
    EXPECT_TRUE(browser.Screenshot(dir.File(page + "/index.html"), ArtifactDir() + "/" + png, dir.File(page + "-profile2"), 2600));
  }
}

TEST_F(Report, ComparesTwoTargets) {
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("a.db") + " --compare " + dir_.File("b.db") + " --out " + dir_.File("r") +
                    " --format md,csv",
                &out),
            0)
      << out;
  const std::string md = ReadFile(dir_.File("r/report.md"));
  EXPECT_NE(md.find("## Two targets side by side"), std::string::npos);
  EXPECT_NE(md.find("A: host-aaaaaaaaaaaaaaaa (AMD EPYC 7B13, aaaaaaaa) from " + dir_.File("a.db")), std::string::npos) << md;
  EXPECT_NE(md.find("The winning layout differs on 1 of 5 problems both measured; shipping A's choice to B costs up to "
                    "1.22× (" + std::string(kConv64) + ")"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| cpu | " + std::string(kConv64) + " | f32 | nhwc | nChw8c | 1.22× slower |"), std::string::npos) << md;
  // ocl:0:0 is the fastest unit for conv64 on A (15 µs), the cpu on B (18 µs).
  EXPECT_NE(md.find("The fastest unit differs on 1 of 4 problems both measured."), std::string::npos) << md;
  EXPECT_NE(md.find("| " + std::string(kConv64) + " | f32 | ocl:0:0 (15.0 µs) | cpu (18.0 µs) |"), std::string::npos) << md;
  const auto rows = ParseCsv(ReadFile(dir_.File("r/csv/compare.csv")));
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"unit", "op", "dtype", "problem", "a_best_layout", "a_best_us",
                                                "b_best_layout", "b_best_us", "b_us_in_a_layout"}));
  bool found = false;
  for (const auto& r : rows)
    if (r[0] == "cpu" && r[3] == kConv64) {
      found = true;
      EXPECT_EQ(r, (std::vector<std::string>{"cpu", "conv2d", "f32", kConv64, "nhwc", "20", "nChw8c", "18", "22"}));
    }
  EXPECT_TRUE(found);
}

TEST_F(Report, MergedFileComparesItsTwoTargets) {
  std::string out;
  ASSERT_EQ(Run("merge --out " + dir_.File("ab.db") + " " + dir_.File("a.db") + " " + dir_.File("b.db"), &out), 0) << out;
  ASSERT_EQ(Run("report --db " + dir_.File("ab.db") + " --out " + dir_.File("r") + " --format md", &out), 0) << out;
  const std::string md = ReadFile(dir_.File("r/report.md"));
  EXPECT_NE(md.find("## Target — host-aaaaaaaaaaaaaaaa"), std::string::npos);
  EXPECT_NE(md.find("## Target — host-bbbbbbbbbbbbbbbb"), std::string::npos);
  EXPECT_NE(md.find("The winning layout differs on 1 of 5 problems both measured"), std::string::npos) << md;
}

TEST_F(Report, RefusesBadInputWithOneLine) {
  std::string out;
  EXPECT_NE(Run("report --db " + dir_.File("missing.db") + " --out " + dir_.File("r"), &out), 0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find("layoutdb: error: " + dir_.File("missing.db")), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_.File("r")));

  db::testing::WriteBytes(dir_.File("junk.db"), "this is not a database, just some text\n");
  EXPECT_NE(Run("report --db " + dir_.File("a.db") + " --compare " + dir_.File("junk.db") + " --out " + dir_.File("r"),
                &out),
            0);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  EXPECT_NE(out.find(dir_.File("junk.db")), std::string::npos) << out;

  EXPECT_NE(Run("report --db " + dir_.File("a.db") + " --out " + dir_.File("r") + " --format pdf", &out), 0);
  EXPECT_NE(out.find("pdf"), std::string::npos) << out;

  db::testing::WriteBytes(dir_.File("file"), "x");
  EXPECT_NE(Run("report --db " + dir_.File("a.db") + " --out " + dir_.File("file"), &out), 0);
  EXPECT_EQ(out, "layoutdb: error: --out " + dir_.File("file") + ": cannot create the folder\n");
}

TEST_F(Report, AnEmptyDatabaseStillGetsAPage) {
  { db::Database::Open(dir_.File("empty.db"), db::Mode::kReadWrite).Checkpoint(); }
  std::string out;
  ASSERT_EQ(Run("report --db " + dir_.File("empty.db") + " --out " + dir_.File("r"), &out), 0) << out;
  const std::string md = ReadFile(dir_.File("r/report.md"));
  EXPECT_NE(md.find("This database holds no target yet"), std::string::npos) << md;
}

}  // namespace
}  // namespace layoutdb::reports
