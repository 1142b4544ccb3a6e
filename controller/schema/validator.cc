#include "controller/schema/validator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <utility>

namespace mlspace::schema {

using nlohmann::json;

namespace {

// A schema cycle that consumes no instance ({"$ref": "#"} at the root)
// would recurse forever; real schemas are far shallower than this.
constexpr int kMaxDepth = 200;

bool IsIntegral(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return true;
  if (v.is_number_float()) {
    double d = v.get<double>();
    return std::isfinite(d) && std::floor(d) == d;
  }
  return false;
}

bool HasType(const json& v, std::string_view type) {
  if (type == "null") return v.is_null();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") return IsIntegral(v);
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "array") return v.is_array();
  if (type == "object") return v.is_object();
  return false;
}

// JSON schema counts string length in code points, not bytes.
size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string Short(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string FormatNumber(const json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15) {
      return std::to_string(static_cast<int64_t>(d));
    }
  }
  return v.dump();
}

// Numbers compared exactly when both are integers (int64 limits matter for
// ids), otherwise as doubles.
int CompareNumbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    auto x = a.get<int64_t>(), y = b.get<int64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_number_unsigned() && b.is_number_unsigned()) {
    auto x = a.get<uint64_t>(), y = b.get<uint64_t>();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  double x = a.get<double>(), y = b.get<double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

// JSON equality where true != 1 (nlohmann already distinguishes booleans
// from numbers) and 1 == 1.0 (it compares numbers by value).
bool JsonEqual(const json& a, const json& b) { return a == b; }

std::string JoinPath(const std::string& base, const std::string& key) {
  if (base.empty()) return key;
  return base + "." + key;
}

std::string IndexPath(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}

std::string NormalizePointer(std::string_view p) {
  if (!p.empty() && p.front() == '#') p.remove_prefix(1);
  return std::string(p);
}

// Percent-decoding of a URI fragment ("#/definitions/a%20b").
std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

const json* ResolvePointer(const json& doc, const std::string& pointer) {
  if (pointer.empty()) return &doc;
  try {
    json::json_pointer jp(PercentDecode(pointer));
    if (!doc.contains(jp)) return nullptr;
    return &doc.at(jp);
  } catch (const json::exception&) {
    return nullptr;
  }
}

// Python's re accepts "{,n}" for "{0,n}"; ECMAScript does not.
std::string PythonToEcma(const std::string& p) {
  std::string out;
  for (size_t i = 0; i < p.size(); ++i) {
    out.push_back(p[i]);
    if (p[i] == '\\' && i + 1 < p.size()) {
      out.push_back(p[++i]);
    } else if (p[i] == '{' && i + 1 < p.size() && p[i + 1] == ',') {
      out.push_back('0');
    }
  }
  return out;
}

}  // namespace

std::string JsonTypeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "unknown";
  }
}

struct Validator::Impl {
  json document;
  std::map<std::string, const json*> refs;  // "$ref" string -> target
  std::map<std::string, std::regex> patterns;
  std::vector<std::string> unsupported_patterns;
};

namespace {

class Run {
 public:
  Run(const std::map<std::string, const json*>& refs,
      const std::map<std::string, std::regex>& patterns, const ValidateOptions& opts,
      std::vector<ValidationError>& out)
      : refs_(refs), patterns_(patterns), opts_(opts), out_(out) {}

  void Check(const json& schema, const json& inst, const std::string& path, int depth) {
    if (Full()) return;
    if (depth > kMaxDepth) {
      Add(ErrorKind::kSchema, path, "schema nesting too deep (recursive $ref?)");
      return;
    }
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) Add(ErrorKind::kComposite, path, "is not allowed");
      return;
    }
    if (!schema.is_object()) return;  // not a schema: nothing to check

    // OpenAPI 3.0: null is allowed on top of whatever else the schema says.
    if (inst.is_null()) {
      auto n = schema.find("nullable");
      if (n != schema.end() && n->is_boolean() && n->get<bool>()) return;
    }

    if (auto it = schema.find("$ref"); it != schema.end() && it->is_string()) {
      auto r = refs_.find(it->get<std::string>());
      if (r == refs_.end()) {
        Add(ErrorKind::kSchema, path, "unresolvable $ref " + it->get<std::string>());
      } else {
        Check(*r->second, inst, path, depth + 1);
      }
    }

    // A type mismatch makes the type-specific keywords meaningless (and
    // their messages noise), so they are skipped after one.
    if (!CheckType(schema, inst, path)) {
      CheckCombinators(schema, inst, path, depth);
      return;
    }
    bool enum_failed = false;
    if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
      bool found = false;
      for (const auto& e : *it) {
        if (JsonEqual(e, inst)) {
          found = true;
          break;
        }
      }
      if (!found) {
        enum_failed = true;
        std::string allowed;
        for (const auto& e : *it) allowed += (allowed.empty() ? "" : ", ") + Short(e);
        Add(ErrorKind::kEnum, path,
            "unsupported value " + Short(inst) + ": must be one of " + allowed);
      }
    }
    // pydantic writes enum and const for one-value enums; one message does.
    if (auto it = schema.find("const"); it != schema.end() && !enum_failed) {
      if (!JsonEqual(*it, inst)) Add(ErrorKind::kConst, path, "must be equal to " + Short(*it));
    }
    if (inst.is_number()) CheckNumber(schema, inst, path);
    if (inst.is_string()) CheckString(schema, inst, path);
    if (inst.is_array()) CheckArray(schema, inst, path, depth);
    if (inst.is_object()) CheckObject(schema, inst, path, depth);
    CheckCombinators(schema, inst, path, depth);
  }

  bool Full() const { return opts_.max_errors != 0 && out_.size() >= opts_.max_errors; }

 private:
  void Add(ErrorKind kind, const std::string& path, std::string message) {
    if (Full()) return;
    out_.push_back(ValidationError{kind, path, std::move(message)});
  }

  bool CheckType(const json& schema, const json& inst, const std::string& path) {
    auto it = schema.find("type");
    if (it == schema.end()) return true;
    std::vector<std::string> types;
    if (it->is_string()) {
      types.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& t : *it) {
        if (t.is_string()) types.push_back(t.get<std::string>());
      }
    } else {
      return true;
    }
    for (const auto& t : types) {
      if (HasType(inst, t)) return true;
    }
    std::string want;
    for (size_t i = 0; i < types.size(); ++i) {
      if (i > 0) want += i + 1 == types.size() ? " or " : ", ";
      want += types[i];
    }
    Add(ErrorKind::kType, path, "must be of type " + want + ", got " + JsonTypeName(inst));
    return false;
  }

  void CheckNumber(const json& schema, const json& inst, const std::string& path) {
    auto num = [&](const char* key) -> const json* {
      auto it = schema.find(key);
      return it != schema.end() && it->is_number() ? &*it : nullptr;
    };
    auto flag = [&](const char* key) {
      auto it = schema.find(key);
      return it != schema.end() && it->is_boolean() && it->get<bool>();
    };
    if (const json* m = num("minimum")) {
      // OpenAPI 3.0 / draft 4: exclusiveMinimum is a boolean modifier.
      if (flag("exclusiveMinimum")) {
        if (CompareNumbers(inst, *m) <= 0)
          Add(ErrorKind::kRange, path, "must be > " + FormatNumber(*m));
      } else if (CompareNumbers(inst, *m) < 0) {
        Add(ErrorKind::kRange, path, "must be >= " + FormatNumber(*m));
      }
    }
    if (const json* m = num("maximum")) {
      if (flag("exclusiveMaximum")) {
        if (CompareNumbers(inst, *m) >= 0)
          Add(ErrorKind::kRange, path, "must be < " + FormatNumber(*m));
      } else if (CompareNumbers(inst, *m) > 0) {
        Add(ErrorKind::kRange, path, "must be <= " + FormatNumber(*m));
      }
    }
    if (const json* m = num("exclusiveMinimum")) {
      if (CompareNumbers(inst, *m) <= 0)
        Add(ErrorKind::kRange, path, "must be > " + FormatNumber(*m));
    }
    if (const json* m = num("exclusiveMaximum")) {
      if (CompareNumbers(inst, *m) >= 0)
        Add(ErrorKind::kRange, path, "must be < " + FormatNumber(*m));
    }
    if (const json* m = num("multipleOf")) {
      double d = m->get<double>();
      if (d > 0) {
        double q = inst.get<double>() / d;
        if (!std::isfinite(q) || std::fabs(q - std::round(q)) > 1e-9)
          Add(ErrorKind::kRange, path, "must be a multiple of " + FormatNumber(*m));
      }
    }
  }

  void CheckString(const json& schema, const json& inst, const std::string& path) {
    const auto& s = inst.get_ref<const std::string&>();
    size_t len = 0;
    bool counted = false;
    auto length = [&] {
      if (!counted) len = CodePoints(s), counted = true;
      return len;
    };
    if (auto it = schema.find("minLength"); it != schema.end() && IsIntegral(*it)) {
      auto m = it->get<int64_t>();
      if (static_cast<int64_t>(length()) < m)
        Add(ErrorKind::kLength, path, "must be at least " + std::to_string(m) + " characters long");
    }
    if (auto it = schema.find("maxLength"); it != schema.end() && IsIntegral(*it)) {
      auto m = it->get<int64_t>();
      if (static_cast<int64_t>(length()) > m)
        Add(ErrorKind::kLength, path, "must be at most " + std::to_string(m) + " characters long");
    }
    if (auto it = schema.find("pattern"); it != schema.end() && it->is_string()) {
      const auto& p = it->get_ref<const std::string&>();
      auto r = patterns_.find(p);
      if (r != patterns_.end()) {
        bool match = false;
        try {
          match = std::regex_search(s, r->second);
        } catch (const std::regex_error&) {
          // Complexity or stack limits of std::regex on hostile input.
          Add(ErrorKind::kPattern, path, "cannot be matched against pattern \"" + p + "\"");
          return;
        }
        if (!match) Add(ErrorKind::kPattern, path, "must match pattern \"" + p + "\"");
      }
    }
  }

  void CheckArray(const json& schema, const json& inst, const std::string& path, int depth) {
    if (auto it = schema.find("minItems"); it != schema.end() && IsIntegral(*it)) {
      auto m = it->get<int64_t>();
      if (static_cast<int64_t>(inst.size()) < m)
        Add(ErrorKind::kLength, path, "must have at least " + std::to_string(m) + " items");
    }
    if (auto it = schema.find("maxItems"); it != schema.end() && IsIntegral(*it)) {
      auto m = it->get<int64_t>();
      if (static_cast<int64_t>(inst.size()) > m)
        Add(ErrorKind::kLength, path, "must have at most " + std::to_string(m) + " items");
    }
    if (auto it = schema.find("uniqueItems");
        it != schema.end() && it->is_boolean() && it->get<bool>()) {
      for (size_t i = 0; i < inst.size(); ++i) {
        for (size_t j = i + 1; j < inst.size(); ++j) {
          if (JsonEqual(inst[i], inst[j])) {
            Add(ErrorKind::kUnique, IndexPath(path, j), "duplicate of item " + std::to_string(i));
            i = inst.size();
            break;
          }
        }
      }
    }
    if (auto it = schema.find("items"); it != schema.end()) {
      if (it->is_object() || it->is_boolean()) {
        for (size_t i = 0; i < inst.size() && !Full(); ++i)
          Check(*it, inst[i], IndexPath(path, i), depth + 1);
      } else if (it->is_array()) {  // draft 4 tuple form
        for (size_t i = 0; i < inst.size() && i < it->size() && !Full(); ++i)
          Check((*it)[i], inst[i], IndexPath(path, i), depth + 1);
      }
    }
  }

  void CheckObject(const json& schema, const json& inst, const std::string& path, int depth) {
    if (auto it = schema.find("required"); it != schema.end() && it->is_array()) {
      for (const auto& r : *it) {
        if (r.is_string() && !inst.contains(r.get<std::string>()))
          Add(ErrorKind::kRequired, JoinPath(path, r.get<std::string>()), "is required");
      }
    }
    if (auto it = schema.find("minProperties"); it != schema.end() && IsIntegral(*it)) {
      auto m = it->get<int64_t>();
      if (static_cast<int64_t>(inst.size()) < m)
        Add(ErrorKind::kLength, path, "must have at least " + std::to_string(m) + " properties");
    }
    if (auto it = schema.find("maxProperties"); it != schema.end() && IsIntegral(*it)) {
      auto m = it->get<int64_t>();
      if (static_cast<int64_t>(inst.size()) > m)
        Add(ErrorKind::kLength, path, "must have at most " + std::to_string(m) + " properties");
    }
    auto props = schema.find("properties");
    bool has_props = props != schema.end() && props->is_object();
    auto addl = schema.find("additionalProperties");
    bool closed = false;
    const json* addl_schema = nullptr;
    if (addl != schema.end()) {
      if (addl->is_boolean()) {
        closed = !addl->get<bool>();
      } else if (addl->is_object()) {
        addl_schema = &*addl;
      }
    } else if (opts_.reject_unknown_fields && has_props) {
      auto keep = schema.find("x-kubernetes-preserve-unknown-fields");
      closed = !(keep != schema.end() && keep->is_boolean() && keep->get<bool>());
    }
    for (auto it = inst.begin(); it != inst.end() && !Full(); ++it) {
      std::string child = JoinPath(path, it.key());
      if (has_props) {
        auto p = props->find(it.key());
        if (p != props->end()) {
          Check(*p, it.value(), child, depth + 1);
          continue;
        }
      }
      if (closed) {
        Add(ErrorKind::kUnknownField, child, "unknown field \"" + child + "\"");
      } else if (addl_schema) {
        Check(*addl_schema, it.value(), child, depth + 1);
      }
    }
  }

  void CheckCombinators(const json& schema, const json& inst, const std::string& path, int depth) {
    if (auto it = schema.find("allOf"); it != schema.end() && it->is_array()) {
      for (const auto& s : *it) Check(s, inst, path, depth + 1);
    }
    auto branches = [&](const json& list, size_t& matched, std::string& first_errors) {
      matched = 0;
      for (const auto& s : list) {
        std::vector<ValidationError> sub;
        ValidateOptions o = opts_;
        o.max_errors = 1;
        Run r(refs_, patterns_, o, sub);
        r.Check(s, inst, path, depth + 1);
        if (sub.empty()) {
          ++matched;
        } else {
          if (!first_errors.empty()) first_errors += " | ";
          first_errors += sub.front().message;
        }
      }
    };
    if (auto it = schema.find("anyOf"); it != schema.end() && it->is_array()) {
      size_t matched = 0;
      std::string why;
      branches(*it, matched, why);
      if (matched == 0)
        Add(ErrorKind::kComposite, path, "must match one of the alternatives (" + why + ")");
    }
    if (auto it = schema.find("oneOf"); it != schema.end() && it->is_array()) {
      size_t matched = 0;
      std::string why;
      branches(*it, matched, why);
      if (matched == 0) {
        Add(ErrorKind::kComposite, path,
            "must match exactly one of the alternatives (" + why + ")");
      } else if (matched > 1) {
        Add(ErrorKind::kComposite, path,
            "must match exactly one of the alternatives, matches " + std::to_string(matched));
      }
    }
    if (auto it = schema.find("not"); it != schema.end()) {
      std::vector<ValidationError> sub;
      ValidateOptions o = opts_;
      o.max_errors = 1;
      Run r(refs_, patterns_, o, sub);
      r.Check(*it, inst, path, depth + 1);
      if (sub.empty()) Add(ErrorKind::kComposite, path, "must not match the excluded schema");
    }
  }

  const std::map<std::string, const json*>& refs_;
  const std::map<std::string, std::regex>& patterns_;
  const ValidateOptions& opts_;
  std::vector<ValidationError>& out_;
};

}  // namespace

std::string ValidationError::ToString() const {
  if (kind == ErrorKind::kUnknownField) return message;
  if (path.empty()) return message;
  return path + ": " + message;
}

std::string JoinErrors(const std::vector<ValidationError>& errors, std::string_view sep) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += sep;
    out += e.ToString();
  }
  return out;
}

Result<Validator> Validator::Create(json document) {
  auto impl = std::make_shared<Impl>();
  impl->document = std::move(document);
  if (!impl->document.is_object() && !impl->document.is_boolean()) {
    return InvalidArgumentError("schema document must be an object, got " +
                                JsonTypeName(impl->document));
  }
  // One walk over the whole document: resolve every $ref and compile every
  // pattern up front, so Validate is read-only (thread-safe) and broken
  // schemas fail here rather than on some later instance.
  std::vector<const json*> stack{&impl->document};
  while (!stack.empty()) {
    const json* node = stack.back();
    stack.pop_back();
    if (node->is_object()) {
      for (auto it = node->begin(); it != node->end(); ++it) {
        if (it.key() == "$ref" && it->is_string()) {
          const auto& ref = it->get_ref<const std::string&>();
          if (impl->refs.count(ref)) continue;
          if (ref.empty() || ref.front() != '#') {
            return InvalidArgumentError("unsupported $ref \"" + ref +
                                        "\": only references within the document (#/...)");
          }
          const json* target = ResolvePointer(impl->document, NormalizePointer(ref));
          if (target == nullptr) return InvalidArgumentError("unresolvable $ref \"" + ref + "\"");
          impl->refs.emplace(ref, target);
        } else if (it.key() == "pattern" && it->is_string()) {
          const auto& p = it->get_ref<const std::string&>();
          if (impl->patterns.count(p)) continue;
          try {
            impl->patterns.emplace(p, std::regex(PythonToEcma(p), std::regex::ECMAScript));
          } catch (const std::regex_error&) {
            if (std::find(impl->unsupported_patterns.begin(), impl->unsupported_patterns.end(),
                          p) == impl->unsupported_patterns.end()) {
              impl->unsupported_patterns.push_back(p);
            }
          }
        } else {
          stack.push_back(&it.value());
        }
      }
    } else if (node->is_array()) {
      for (const auto& v : *node) stack.push_back(&v);
    }
  }
  return Validator(std::move(impl));
}

const std::vector<std::string>& Validator::unsupported_patterns() const {
  return impl_->unsupported_patterns;
}

const json& Validator::document() const { return impl_->document; }

Result<const json*> Validator::Find(std::string_view schema_pointer) const {
  const json* s = ResolvePointer(impl_->document, NormalizePointer(schema_pointer));
  if (s == nullptr) {
    return NotFoundError("no schema at \"" + std::string(schema_pointer) + "\"");
  }
  return s;
}

std::vector<ValidationError> Validator::Validate(const json& instance,
                                                 std::string_view schema_pointer) const {
  return Validate(instance, schema_pointer, ValidateOptions{});
}

std::vector<ValidationError> Validator::Validate(const json& instance,
                                                 std::string_view schema_pointer,
                                                 const ValidateOptions& options) const {
  std::vector<ValidationError> out;
  auto schema = Find(schema_pointer);
  if (!schema.ok()) {
    out.push_back({ErrorKind::kSchema, options.root_path, schema.status().message()});
    return out;
  }
  Run run(impl_->refs, impl_->patterns, options, out);
  run.Check(**schema, instance, options.root_path, 0);
  return out;
}

namespace {

// The default of a property schema: its own, else one reached through $ref
// or allOf (pydantic writes {"allOf":[{"$ref":..}], "default":..}, and a
// referenced schema may carry the default itself).
std::optional<json> FindDefault(const json& schema, const std::map<std::string, const json*>& refs,
                                int depth) {
  if (depth > kMaxDepth || !schema.is_object()) return std::nullopt;
  if (auto it = schema.find("default"); it != schema.end()) return *it;
  if (auto it = schema.find("$ref"); it != schema.end() && it->is_string()) {
    auto r = refs.find(it->get<std::string>());
    if (r != refs.end()) {
      if (auto d = FindDefault(*r->second, refs, depth + 1)) return d;
    }
  }
  if (auto it = schema.find("allOf"); it != schema.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (auto d = FindDefault(s, refs, depth + 1)) return d;
    }
  }
  return std::nullopt;
}

void Default(const json& schema, json& inst, const std::map<std::string, const json*>& refs,
             int depth) {
  if (depth > kMaxDepth || !schema.is_object()) return;
  if (auto it = schema.find("$ref"); it != schema.end() && it->is_string()) {
    auto r = refs.find(it->get<std::string>());
    if (r != refs.end()) Default(*r->second, inst, refs, depth + 1);
  }
  if (auto it = schema.find("allOf"); it != schema.end() && it->is_array()) {
    for (const auto& s : *it) Default(s, inst, refs, depth + 1);
  }
  if (inst.is_object()) {
    auto props = schema.find("properties");
    if (props != schema.end() && props->is_object()) {
      for (auto p = props->begin(); p != props->end(); ++p) {
        if (!inst.contains(p.key())) {
          std::optional<json> def = FindDefault(p.value(), refs, depth + 1);
          if (!def) continue;
          inst[p.key()] = std::move(*def);
        }
        Default(p.value(), inst[p.key()], refs, depth + 1);
      }
    }
    auto addl = schema.find("additionalProperties");
    if (addl != schema.end() && addl->is_object()) {
      for (auto it = inst.begin(); it != inst.end(); ++it) {
        if (props != schema.end() && props->is_object() && props->contains(it.key())) continue;
        Default(*addl, it.value(), refs, depth + 1);
      }
    }
  } else if (inst.is_array()) {
    auto items = schema.find("items");
    if (items != schema.end() && items->is_object()) {
      for (auto& v : inst) Default(*items, v, refs, depth + 1);
    }
  }
}

}  // namespace

Status Validator::ApplyDefaults(json& instance, std::string_view schema_pointer) const {
  MLSPACE_ASSIGN_OR_RETURN(const json* schema, Find(schema_pointer));
  Default(*schema, instance, impl_->refs, 0);
  return OkStatus();
}

}  // namespace mlspace::schema
