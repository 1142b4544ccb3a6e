#include "controller/cli/printer.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <vector>

namespace mlspace::cli {
namespace {

using nlohmann::json;

std::string Cell(const json& v) {
  if (v.is_null()) return "";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// Whether a plain scalar with this text would be read back as something
// other than this string (YAML 1.1 and 1.2 core: kubectl's and ours).
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const std::regex special(
      "null|Null|NULL|~|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|"
      "OFF|y|Y|n|N|[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9]*"
      ")?)"
      "([eE][-+]?[0-9]+)?|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  if (std::regex_match(s, special)) return true;
  // Leading/trailing blanks and indicator characters are left to yaml-cpp,
  // which quotes what it cannot write plain.
  return false;
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key;
        if (NeedsQuotes(it.key())) {
          out << YAML::DoubleQuoted << it.key();
        } else {
          out << it.key();
        }
        out << YAML::Value;
        Emit(out, it.value());
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : v) Emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (NeedsQuotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else if (s.find('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else {
        out << s;
      }
      return;
    }
    case json::value_t::null:
      out << YAML::Null;
      return;
    default:
      out << v.dump();  // numbers and booleans as JSON spells them
      return;
  }
}

}  // namespace

std::string FormatTable(const json& table, const TableOptions& options) {
  const json& defs = table.contains("columnDefinitions") && table["columnDefinitions"].is_array()
                         ? table["columnDefinitions"]
                         : json::array();
  const json& rows =
      table.contains("rows") && table["rows"].is_array() ? table["rows"] : json::array();
  std::vector<size_t> shown;  // column indexes printed
  for (size_t i = 0; i < defs.size(); ++i) {
    if (options.wide || defs[i].value("priority", 0) == 0) shown.push_back(i);
  }
  std::vector<std::vector<std::string>> lines;
  if (options.headers) {
    std::vector<std::string> h;
    if (options.with_namespace) h.push_back("NAMESPACE");
    for (size_t i : shown) h.push_back(Upper(defs[i].value("name", "")));
    lines.push_back(std::move(h));
  }
  for (const auto& row : rows) {
    std::vector<std::string> line;
    if (options.with_namespace) {
      std::string ns;
      if (row.contains("object") && row["object"].is_object()) {
        ns = row["object"].value("/metadata/namespace"_json_pointer, std::string());
      }
      line.push_back(ns);
    }
    const json& cells = row.contains("cells") ? row["cells"] : json::array();
    for (size_t i : shown) line.push_back(i < cells.size() ? Cell(cells[i]) : "");
    lines.push_back(std::move(line));
  }
  if (lines.empty() || (options.headers && lines.size() == 1)) return "";
  size_t ncols = lines[0].size();
  std::vector<size_t> width(ncols, 0);
  for (const auto& l : lines) {
    for (size_t c = 0; c < l.size(); ++c) width[c] = std::max(width[c], l[c].size());
  }
  std::string out;
  for (const auto& l : lines) {
    std::string text;
    for (size_t c = 0; c < l.size(); ++c) {
      text += l[c];
      if (c + 1 < l.size()) text.append(std::max<size_t>(width[c] + 3, 6) - l[c].size(), ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  }
  return out;
}

std::string ToYaml(const json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  out.SetMapFormat(YAML::Block);
  Emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += "\n";
  return s;
}

std::string ResourceName(const std::string& name) { return "mlspacejob.mlspace.io/" + name; }

}  // namespace mlspace::cli
