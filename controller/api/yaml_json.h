#pragma once

// YAML (and JSON, a subset of YAML 1.2) to nlohmann::json through yaml-cpp,
// remembering where each field came from so validation errors can name
// file:line:column. Internal to mlspace::api.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/core/result.h"

namespace mlspace::api::internal {

struct Mark {
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
};

struct YamlDocument {
  nlohmann::json value;
  Mark start;
  // Path ("spec.env[0].name", the validator's syntax) -> the mark of the
  // member's key, or of the item for array elements. "" is the document.
  std::map<std::string, Mark> marks;
};

struct YamlLimits {
  int max_depth = 64;
  // Aliases expand to copies; this bounds "billion laughs" documents.
  size_t max_nodes = 100'000;
  // Documents in one stream; also stops yaml-cpp 0.7, which on some
  // malformed input (a stray ',' at the top level) reports empty documents
  // forever.
  size_t max_documents = 10'000;
};

// Parses every document of a YAML stream. Scalars resolve by the YAML 1.2
// core schema (quoted scalars are strings; plain true/false, null/~, ints
// and floats are typed; yes/no/on/off stay strings). Errors carry
// "line:col: " of the problem: syntax errors, duplicate keys, non-scalar
// keys, nesting or size beyond `limits`. Empty documents are kept as null.
Result<std::vector<YamlDocument>> ParseYamlStream(std::string_view text,
                                                  const YamlLimits& limits = {});

// The mark of `path` or of its nearest ancestor that has one.
Mark FindMark(const std::map<std::string, Mark>& marks, std::string path);

// Converts YAML text to JSON without marks (the embedded CRD). One document.
Result<nlohmann::json> YamlToJson(std::string_view text);

// Messages are one line: control bytes (a newline in a field name, the
// character yaml-cpp quotes in "unknown escape character: ...") become \xNN.
std::string EscapeControlChars(const std::string& msg);

// The inverse, for documents the API server writes back to git: block
// style, 2-space indent, keys in nlohmann's (sorted) order, and every string
// that would read back as another type (true, "1", null, yes, 0755) quoted,
// so ParseYamlStream(JsonToYaml(v)) == v for any JSON value.
Result<std::string> JsonToYaml(const nlohmann::json& value);

}  // namespace mlspace::api::internal
