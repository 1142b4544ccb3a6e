#include "controller/api/yaml_json.h"

#include <cstdio>

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <string_view>

namespace mlspace::api::internal {
namespace {

using nlohmann::json;

}  // namespace

std::string EscapeControlChars(const std::string& msg) {
  std::string out;
  for (unsigned char c : msg) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

std::string Loc(const YAML::Mark& m) {
  if (m.is_null()) return "";
  return std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) + ": ";
}

Mark ToMark(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return Mark{m.line + 1, m.column + 1};
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsOctal(char c) { return c >= '0' && c <= '7'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

std::string_view StripSign(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return s;
}

// [-+]?[0-9]+ (hand-written: this runs on every scalar of every manifest).
bool IsCoreInt(const std::string& s) { return AllOf(StripSign(s), IsDigit); }

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsCoreFloat(const std::string& str) {
  std::string_view s = StripSign(str);
  size_t i = 0, int_digits = 0, frac_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
    if (int_digits == 0 && frac_digits == 0) return false;
  } else if (int_digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

// YAML 1.2 core schema resolution of a plain scalar.
json ResolvePlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.size() > 64) return s;  // no number is that long; skip the regexes
  if (IsCoreInt(s)) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end && *end == '\0') return static_cast<int64_t>(v);
    return std::strtod(s.c_str(), nullptr);  // beyond int64: a float, like JSON
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    const bool hex = s[1] == 'x';
    std::string digits = s.substr(2);
    if (AllOf(digits, hex ? IsHex : IsOctal)) {
      errno = 0;
      long long v = std::strtoll(digits.c_str(), nullptr, hex ? 16 : 8);
      if (errno == 0) return static_cast<int64_t>(v);
    }
    return s;
  }
  if (IsCoreFloat(s)) {
    double d = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(d)) return d;
  }
  // .inf and .nan have no JSON form: left as strings, so a numeric field
  // holding one fails validation with a type error.
  return s;
}

class Converter {
 public:
  Converter(const YamlLimits& limits, std::map<std::string, Mark>* marks)
      : limits_(limits), marks_(marks) {}

  Result<json> Convert(const YAML::Node& node, const std::string& path, int depth) {
    if (depth > limits_.max_depth) {
      return InvalidArgumentError(Loc(node.Mark()) + "nesting deeper than " +
                                  std::to_string(limits_.max_depth) + " levels");
    }
    if (++nodes_ > limits_.max_nodes) {
      return InvalidArgumentError(Loc(node.Mark()) + "document has more than " +
                                  std::to_string(limits_.max_nodes) + " nodes (alias expansion?)");
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        const std::string& s = node.Scalar();
        if (tag == "!" || tag == "tag:yaml.org,2002:str") return json(s);
        if (tag == "tag:yaml.org,2002:binary") return json(s);
        return ResolvePlain(s);
      }
      case YAML::NodeType::Sequence: {
        json out = json::array();
        size_t i = 0;
        for (const auto& item : node) {
          std::string child = path + "[" + std::to_string(i++) + "]";
          if (marks_) (*marks_)[child] = ToMark(item.Mark());
          MLSPACE_ASSIGN_OR_RETURN(json v, Convert(item, child, depth + 1));
          out.push_back(std::move(v));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
          const YAML::Node& k = kv.first;
          if (!k.IsScalar()) {
            return InvalidArgumentError(Loc(k.Mark()) + "mapping keys must be scalars" +
                                        (path.empty() ? "" : " (in " + path + ")"));
          }
          std::string key = k.Scalar();
          std::string child = path;
          if (!child.empty()) child += '.';
          child += key;
          if (out.contains(key)) {
            return InvalidArgumentError(Loc(k.Mark()) + "duplicate field \"" + child + "\"");
          }
          if (marks_) (*marks_)[child] = ToMark(k.Mark());
          MLSPACE_ASSIGN_OR_RETURN(json v, Convert(kv.second, child, depth + 1));
          out[key] = std::move(v);
        }
        return out;
      }
    }
    return json(nullptr);
  }

 private:
  const YamlLimits& limits_;
  std::map<std::string, Mark>* marks_;
  size_t nodes_ = 0;
};

}  // namespace

namespace {

// Counts parser events without building nodes, and stops the parse once the
// stream is larger than the limits allow. Run before YAML::LoadAll, which
// has no limits of its own and never returns on some malformed input.
class EventBudget final : public YAML::EventHandler {
 public:
  explicit EventBudget(const YamlLimits& limits)
      : max_events_(limits.max_nodes * 2 + limits.max_documents * 2 + 16) {}

  void OnDocumentStart(const YAML::Mark& m) override { Spend(m); }
  void OnDocumentEnd() override { Spend(YAML::Mark()); }
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { Spend(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { Spend(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Spend(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Spend(m);
  }
  void OnSequenceEnd() override { Spend(YAML::Mark()); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Spend(m);
  }
  void OnMapEnd() override { Spend(YAML::Mark()); }

 private:
  void Spend(const YAML::Mark& m) {
    if (++events_ > max_events_) {
      throw YAML::Exception(m, "document stream too large or malformed (parser did not end)");
    }
  }
  size_t events_ = 0;
  const size_t max_events_;
};

// Nesting on the raw text, before yaml-cpp sees it: yaml-cpp builds (and
// recurses through) every level of "[[[[...", about 250 bytes of memory per
// input byte, before any of our limits can apply. Counts flow collections
// ('[', '{' outside quoted scalars and comments) and compact block
// sequences ("- - - x" on one line). Content of block scalars ('|', '>') is
// not told apart, so a literal with more than max_depth unclosed brackets
// is refused too (no real command needs that).
Status CheckRawNesting(std::string_view text, const YamlLimits& limits) {
  const size_t max_depth = static_cast<size_t>(limits.max_depth);
  size_t depth = 0, line = 1, col = 0;
  char quote = 0;
  char prev = '\n';  // the last significant (non-space) character
  bool line_start = true;
  size_t dashes = 0;
  auto too_deep = [&](const char* what) {
    return InvalidArgumentError(std::to_string(line) + ":" + std::to_string(col) + ": " + what +
                                " nested deeper than " + std::to_string(max_depth) + " levels");
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    ++col;
    if (c == '\n') {
      ++line;
      col = 0;
      line_start = true;
      dashes = 0;
      if (quote == 0) prev = '\n';
      continue;
    }
    if (quote != 0) {
      if (quote == '"' && c == '\\') {
        ++i, ++col;
      } else if (c == quote) {
        if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          ++i, ++col;  // '' inside a single-quoted scalar
        } else {
          quote = 0;
          prev = 'x';
        }
      }
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') continue;
    if (line_start && c == '-' && (i + 1 == text.size() || text[i + 1] == ' ')) {
      if (++dashes > max_depth) return too_deep("block sequences");
      prev = '-';
      continue;
    }
    line_start = false;
    if (c == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\n')) {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i, ++col;
      continue;
    }
    if ((c == '"' || c == '\'') &&
        std::string_view("\n[{,:-?").find(prev) != std::string_view::npos) {
      quote = c;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > max_depth) return too_deep("flow collections");
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
    prev = c;
  }
  return OkStatus();
}

Status CheckStreamBounds(const std::string& text, const YamlLimits& limits) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  EventBudget budget(limits);
  size_t documents = 0;
  while (parser.HandleNextDocument(budget)) {
    if (++documents > limits.max_documents) {
      return InvalidArgumentError("more than " + std::to_string(limits.max_documents) +
                                  " YAML documents in one file");
    }
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<YamlDocument>> ParseYamlStream(std::string_view text, const YamlLimits& limits) {
  std::vector<YAML::Node> nodes;
  try {
    MLSPACE_RETURN_IF_ERROR(CheckRawNesting(text, limits));
    std::string copy(text);
    MLSPACE_RETURN_IF_ERROR(CheckStreamBounds(copy, limits));
    nodes = YAML::LoadAll(copy);
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(Loc(e.mark) + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("YAML: ") + e.what());
  }
  std::vector<YamlDocument> docs;
  docs.reserve(nodes.size());
  for (const auto& n : nodes) {
    YamlDocument d;
    d.start = ToMark(n.Mark());
    d.marks[""] = d.start;
    Converter c(limits, &d.marks);
    try {
      MLSPACE_ASSIGN_OR_RETURN(d.value, c.Convert(n, "", 0));
    } catch (const std::exception& e) {
      return InvalidArgumentError(Loc(n.Mark()) + e.what());
    }
    docs.push_back(std::move(d));
  }
  return docs;
}

Mark FindMark(const std::map<std::string, Mark>& marks, std::string path) {
  while (true) {
    auto it = marks.find(path);
    if (it != marks.end() && it->second.line > 0) return it->second;
    if (path.empty()) return {};
    size_t cut = path.find_last_of(".[");
    path = cut == std::string::npos ? "" : path.substr(0, cut);
  }
}

Result<json> YamlToJson(std::string_view text) {
  MLSPACE_ASSIGN_OR_RETURN(auto docs, ParseYamlStream(text));
  if (docs.size() != 1) {
    return InvalidArgumentError("expected one YAML document, got " + std::to_string(docs.size()));
  }
  return std::move(docs.front().value);
}

namespace {

// A string that a YAML 1.2 (or 1.1: yes/no/on/off) reader would not read
// back as that string when written plain is written double-quoted.
bool NeedsQuotes(const std::string& s) {
  if (!ResolvePlain(s).is_string()) return true;
  static const char* const k11[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no", "No",
                                    "NO", "on", "On",  "ON",  "off", "Off", "OFF", "=",  "<<"};
  for (const char* w : k11) {
    if (s == w) return true;
  }
  if (s.size() > 1 && s[0] == '0' && IsDigit(s[1])) return true;  // 0755: octal in YAML 1.1
  if (s.size() >= 2 && s[0] == '.' &&
      (s == ".inf" || s == ".Inf" || s == ".nan" || s == ".NaN" || s == "-.inf" || s == "+.inf")) {
    return true;
  }
  return false;
}

void Emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key;
        Emit(out, json(it.key()));
        out << YAML::Value;
        Emit(out, it.value());
      }
      out << YAML::EndMap;
      break;
    case json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& item : v) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (NeedsQuotes(s)) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case json::value_t::null:
      out << YAML::Null;
      break;
    case json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      break;
    default:  // numbers: nlohmann's shortest round-trip text (1.0 stays a float)
      out << v.dump();
      break;
  }
}

}  // namespace

Result<std::string> JsonToYaml(const json& value) {
  try {
    YAML::Emitter out;
    out.SetIndent(2);
    out.SetSeqFormat(YAML::Block);
    out.SetMapFormat(YAML::Block);
    Emit(out, value);
    if (!out.good()) return InternalError("YAML emitter: " + out.GetLastError());
    std::string text = out.c_str();
    if (text.empty() || text.back() != '\n') text += '\n';
    return text;
  } catch (const std::exception& e) {
    return InternalError(std::string("YAML emitter: ") + e.what());
  }
}

}  // namespace mlspace::api::internal
