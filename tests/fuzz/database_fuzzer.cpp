// libFuzzer target: the database opener (db/database.cpp Open: header checks, application_id, schema
// version) and every typed read after it, then what the selector library reads from a shipped file
// (Selector::Open), then a read-write open (migrations) of the same bytes.
#include <filesystem>

#include "fuzz_util.h"
#include "layoutdb/db.h"
#include "layoutdb/selector.h"

namespace {

void RemoveWithCompanions(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace db = layoutdb::db;
  static const std::string path = layoutdb::fuzz::InputPath(".db");
  RemoveWithCompanions(path);
  layoutdb::fuzz::WriteFile(path, data, size);
  layoutdb::fuzz::ExpectCleanRefusal([&] {
    db::Database d = db::Database::Open(path, db::Mode::kReadOnly);
    d.Targets();
    d.Units();
    d.Sweeps();
    d.Problems();
    d.Measurements();
    d.Transitions();
    d.Transfers();
    d.Validations();
    d.MeasurementCounts();
    d.CountRows();
  });
  layoutdb::fuzz::ExpectCleanRefusal([&] { layoutdb::Selector::Open(path).Units(); });
  layoutdb::fuzz::ExpectCleanRefusal([&] {
    db::Database d = db::Database::Open(path, db::Mode::kReadWrite);
    d.CountRows();
  });
  RemoveWithCompanions(path);
  return 0;
}
