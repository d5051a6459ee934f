// Database::DumpTable: whole tables as text, for the CSV files of `layoutdb report`.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "layoutdb/db.h"
#include "sqlite.h"

namespace layoutdb::db {

const std::vector<std::string>& Database::TableNames() {
  static const std::vector<std::string> kTables = {
      "targets",   "units",       "sweeps",       "problems", "measurements", "transitions",
      "transfers", "validations", "calibrations", "visits",   "network_times"};
  return kTables;
}

Database::TableDump Database::DumpTable(const std::string& table) {
  const auto& names = TableNames();
  if (table != "measurement_view" && std::find(names.begin(), names.end(), table) == names.end()) {
    throw Error(fmt::format("{}: no table named '{}' (tables: {}, measurement_view)", path(), table,
                            fmt::join(names, ", ")));
  }
  // The name is one of ours (checked above), so it can be part of the SQL text. The raw API here:
  // a REAL must be told from TEXT to be written exactly.
  const std::string sql = "SELECT * FROM " + table + " ORDER BY id";
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(handle(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    internal::Fail(handle(), path(), "reading " + table);
  }
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
  TableDump out;
  const int n = sqlite3_column_count(raw);
  for (int c = 0; c < n; ++c) out.columns.push_back(sqlite3_column_name(raw, c));
  int rc;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    std::vector<std::optional<std::string>> row(n);
    for (int c = 0; c < n; ++c) {
      switch (sqlite3_column_type(raw, c)) {
        case SQLITE_NULL:
          break;
        case SQLITE_INTEGER:
          row[c] = std::to_string(sqlite3_column_int64(raw, c));
          break;
        case SQLITE_FLOAT:
          row[c] = fmt::format("{}", sqlite3_column_double(raw, c));  // shortest exact text
          break;
        default: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
          row[c] = std::string(p, static_cast<size_t>(sqlite3_column_bytes(raw, c)));
        }
      }
    }
    out.rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) internal::Fail(handle(), path(), "reading " + table);
  return out;
}

}  // namespace layoutdb::db
