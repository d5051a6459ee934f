// A small JSON Schema (draft-07) validator for the subset layoutdb's own schemas use: type (one or a
// list), required, properties, additionalProperties (bool or schema), items, enum, minimum, minItems,
// minLength. Debian ships no C++ JSON Schema validator; this is enough for the sweep specs we read and
// the plans we write.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace layoutdb {

// Returns one line per violation ("/subgraphs/0/unit: expected string, got number"); empty when valid.
// Throws std::invalid_argument for a schema keyword outside the subset (so a schema never silently
// checks less than it says).
std::vector<std::string> ValidateJson(const nlohmann::json& schema, const nlohmann::json& value);

}  // namespace layoutdb
