// The small JSON Schema validator: each keyword of the subset it supports, and refusal of the rest.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "layoutdb/json_schema.h"

namespace layoutdb {
namespace {

using nlohmann::json;
using Errors = std::vector<std::string>;

const json kSchema = json::parse(R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["name", "n"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "enum": ["a", "b"]},
    "n": {"type": "integer", "minimum": 0},
    "x": {"type": ["number", "null"]},
    "list": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "boolean"}}}
  }
})");

TEST(JsonSchema, AcceptsAValidDocument) {
  EXPECT_EQ(ValidateJson(kSchema, json::parse(R"({"name": "a", "n": 3, "x": null,
                                                  "list": [{"p": true}, {}]})")),
            Errors{});
  EXPECT_EQ(ValidateJson(kSchema, json::parse(R"({"name": "b", "n": 2.0, "x": 1.5})")), Errors{});
}

TEST(JsonSchema, ReportsEachViolationWithItsPath) {
  EXPECT_EQ(ValidateJson(kSchema, json::parse("[]")), (Errors{"/: expected object, got array"}));
  const Errors e = ValidateJson(kSchema, json::parse(R"({"name": "c", "n": -1, "y": 0})"));
  // In key order (nlohmann::json objects are sorted).
  EXPECT_EQ(e, (Errors{"/n: -1 is below the minimum 0", "/name: \"c\" is not one of [\"a\",\"b\"]",
                       "/: unexpected property 'y'"}));
  EXPECT_EQ(ValidateJson(kSchema, json::parse(R"({"n": 1.5, "x": "s", "list": [{"p": 1}]})")),
            (Errors{"/: missing required property 'name'", "/list/0/p: expected boolean, got integer",
                    "/n: expected integer, got number", "/x: expected number or null, got string"}));
}

TEST(JsonSchema, NamesInMessagesAreEscapedSoEachMessageIsOneLine) {
  const Errors e = ValidateJson(kSchema, json::parse(R"({"name": "a", "n": 1, "y\nz\"": 0})"));
  EXPECT_EQ(e, (Errors{"/: unexpected property 'y\\nz\\\"'"}));
}

TEST(JsonSchema, RefusesKeywordsOutsideItsSubset) {
  try {
    ValidateJson(json::parse(R"({"type": "string", "pattern": "^a"})"), json("a"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "schema: unsupported keyword 'pattern'");
  }
}

}  // namespace
}  // namespace layoutdb
