#pragma once

// Output like kubectl's: the server's Table as aligned columns, objects as
// YAML or JSON, `-o name` lines.

#include <string>

#include <nlohmann/json.hpp>

namespace mlspace::cli {

struct TableOptions {
  bool wide = false;            // also columns with priority > 0
  bool with_namespace = false;  // a NAMESPACE column first (from rows[].object)
  bool headers = true;
};

// A meta.k8s.io/v1 Table as text: upper-case headers, cells left-aligned in
// columns padded like kubectl's tabwriter (width + 3, at least 6; the last
// column unpadded), null cells blank, numbers as numbers. "" for a Table
// without rows.
std::string FormatTable(const nlohmann::json& table, const TableOptions& options);

// JSON as block YAML, two-space indent, keys in the JSON's order. Strings that would read back as
// another type
// ("true", "123", "", "null") are quoted, so the YAML round-trips.
std::string ToYaml(const nlohmann::json& value);

// "mlspacejob.mlspace.io/NAME".
std::string ResourceName(const std::string& name);

}  // namespace mlspace::cli
