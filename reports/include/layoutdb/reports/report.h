// `layoutdb report`: a database (or two targets side by side) as a self-contained HTML page with plots,
// a Markdown summary and one CSV file per table; and the picture of one plan (and its validation) that
// `select --report` and `validate --report` draw. The HTML page inlines Vega (Debian's libjs-vega) and
// loads nothing from the network.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace layoutdb::reports {

struct ReportOptions {
  std::string db;       // the database to report on (opened read-only)
  std::string out;      // the folder to write into (created if missing)
  std::string compare;  // a second database: its first target beside the first target of `db`
  std::vector<std::string> formats{"html", "md", "csv"};
};

struct ReportSummary {
  std::vector<std::string> files;  // written, in order
  int64_t bytes = 0;               // all of them together
  int plots = 0;                   // in the HTML page
};

// Writes OUT/index.html, OUT/report.md and OUT/csv/TABLE.csv (per `formats`). Throws
// std::runtime_error (or db::Error) with one line naming the file and what is wrong.
ReportSummary WriteReport(const ReportOptions& options);

// The command: writes the report and prints one line (files, size, plots, seconds).
int RunReport(const ReportOptions& options);

// The picture of a plan: DIR/index.html (a timeline of the sub-graphs coloured by unit and layout with
// the transitions marked, chains collapsed, cost per sub-graph) and DIR/plan.md. With a validation (the
// JSON of `validate --json`): measured beside predicted, the plan against its oracle and baselines, and
// DIR/validation.md instead of plan.md.
// `plan_json` follows schema/plan.schema.json, `validation_json` schema/validation.schema.json.
ReportSummary WritePlanReport(const std::string& dir, const std::string& plan_json,
                              const std::string& validation_json = "");

}  // namespace layoutdb::reports
