// Shared helpers of the db tests: a temporary directory, file bytes, and small databases with rows of
// every kind.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "layoutdb/db.h"
#include "tests/sample_rows.h"
#include "tests/temp_dir.h"

namespace layoutdb::db::testing {

using layoutdb::testing::SampleStats;
using layoutdb::testing::SampleTarget;
using layoutdb::testing::SampleUnit;
using layoutdb::testing::TempDir;

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Runs SQL on a file with SQLite directly (to build files layoutdb itself would never write).
inline void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  const std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

// One SQL value as text (first column of the first row), for checks against the file itself.
inline std::string RawScalar(sqlite3* h, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return "<" + sql + ">";
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  }
  sqlite3_finalize(s);
  return out;
}

inline MeasurementRow SampleMeasurement(int64_t problem_id, int64_t unit_id, const std::string& layout,
                                        const std::string& dtype, double median) {
  MeasurementRow m;
  m.problem_id = problem_id;
  m.unit_id = unit_id;
  m.layout = layout;
  const auto gt = layout.find('>');
  m.src_layout = gt == std::string::npos ? layout : layout.substr(0, gt);
  m.dst_layout = gt == std::string::npos ? layout : layout.substr(gt + 1);
  m.dtype = dtype;
  m.status = "ok";
  m.impl = "brgconv:avx512_core";
  m.stats = SampleStats(median);
  return m;
}

}  // namespace layoutdb::db::testing
