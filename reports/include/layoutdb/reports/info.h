// `layoutdb info`: what a database holds — its targets, units and sweeps, and how many points of each
// op, unit, layout and status — as text for a person and as JSON for scripts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "layoutdb/db.h"

namespace layoutdb::reports {

// Several lines ending in a newline: header (file, schema version, size), targets, units, sweeps
// (status, shard, duration, progress), a table of measurement counts per unit and dtype (ops as rows,
// layouts as columns), then counts of transitions, transfers, problems and validations.
std::string InfoText(db::Database& db);

// The same facts as InfoText, keyed for scripts (see the keys in info.cpp's InfoJson()).
nlohmann::json InfoJson(db::Database& db);

}  // namespace layoutdb::reports
