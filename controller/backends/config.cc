#include "controller/backends/config.h"

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "controller/backends/registry.h"

namespace mlspace::backends {
namespace {

const std::set<std::string> kCommonKeys = {"name",    "type",          "default",
                                           "regions", "instanceTypes", "maxWorkers"};

NameMap DefaultRegions(const BackendType& t) {
  NameMap m;
  if (t.default_regions.empty()) return m;
  m.any = false;
  for (const auto& r : t.default_regions) m.names[r] = r;
  return m;
}

bool IsDnsLabel(const std::string& s) {
  static const std::regex re("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$");
  return std::regex_match(s, re);
}

class Parser {
 public:
  Parser(const std::string& file, const TypeRegistry& types) : file_(file), types_(types) {}

  std::string Where(const YAML::Node& n) const {
    YAML::Mark m = n.Mark();
    if (m.is_null()) return file_;
    return file_ + ":" + std::to_string(m.line + 1);
  }
  void Error(const YAML::Node& n, const std::string& field, const std::string& message) {
    errors_.push_back(Where(n) + ": " + field + ": " + message);
  }

  // A list of names (each mapped to itself) or a mapping manifest name ->
  // backend name.
  NameMap Names(const YAML::Node& n, const std::string& field) {
    NameMap out;
    out.any = false;
    if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i) {
        const YAML::Node& v = n[i];
        std::string f = field + "[" + std::to_string(i) + "]";
        if (!v.IsScalar() || v.Scalar().empty()) {
          Error(v, f, "expected a non-empty string");
          continue;
        }
        out.names[v.Scalar()] = v.Scalar();
      }
    } else if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string key = it->first.Scalar();
        if (!it->second.IsScalar() || it->second.Scalar().empty()) {
          Error(it->second, field + "." + key, "expected the backend's name (a non-empty string)");
          continue;
        }
        out.names[key] = it->second.Scalar();
      }
    } else {
      Error(n, field, "expected a list of names or a mapping of manifest name to backend name");
    }
    if (out.names.empty() && n.IsDefined() && (n.IsSequence() || n.IsMap())) {
      Error(n, field, "empty: omit it to accept every name");
    }
    return out;
  }

  std::optional<BackendConfig> Entry(const YAML::Node& n, size_t index) {
    std::string f = "backends[" + std::to_string(index) + "]";
    if (!n.IsMap()) {
      Error(n, f, "expected a mapping with name and type");
      return std::nullopt;
    }
    BackendConfig b;
    b.node = n;
    b.where = Where(n);
    size_t before = errors_.size();
    const YAML::Node name = n["name"];
    if (!name) {
      Error(n, f + ".name", "required");
    } else if (!name.IsScalar() || !IsDnsLabel(name.Scalar())) {
      Error(name, f + ".name",
            "expected a DNS-1123 label (1-63 of a-z, 0-9 and '-', alphanumeric at both ends)");
    } else {
      b.name = name.Scalar();
      f = "backends[" + b.name + "]";
    }
    const BackendType* type = nullptr;
    const YAML::Node t = n["type"];
    if (!t) {
      Error(n, f + ".type", "required (one of " + Join(types_.Names()) + ")");
    } else if (!t.IsScalar() || !(type = types_.Find(t.Scalar()))) {
      Error(t, f + ".type",
            "unknown type \"" + (t.IsScalar() ? t.Scalar() : std::string("?")) + "\" (one of " +
                Join(types_.Names()) + ")");
    } else {
      b.type = t.Scalar();
    }
    if (const YAML::Node d = n["default"]) {
      bool v = false;
      if (!d.IsScalar() || !YAML::convert<bool>::decode(d, v)) {
        Error(d, f + ".default", "expected true or false");
      }
      b.is_default = v;
    }
    if (const YAML::Node r = n["regions"]) {
      b.regions = Names(r, f + ".regions");
    } else if (type) {
      b.regions = DefaultRegions(*type);
    }
    if (const YAML::Node r = n["instanceTypes"]) b.instance_types = Names(r, f + ".instanceTypes");
    if (const YAML::Node w = n["maxWorkers"]) {
      int v = 0;
      if (!w.IsScalar() || !YAML::convert<int>::decode(w, v) || v < 1) {
        Error(w, f + ".maxWorkers", "expected an integer >= 1");
      } else {
        b.max_workers = v;
      }
    }
    if (type && !type->keys.empty()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        std::string key = it->first.Scalar();
        if (kCommonKeys.count(key) == 0 && type->keys.count(key) == 0) {
          Error(it->first, f + "." + key,
                "unknown field for type " + b.type + " (known: " + Join(Keys(*type)) + ")");
        }
      }
    }
    if (type && type->check) {
      if (Status s = type->check(b); !s.ok()) {
        std::istringstream lines(s.message());
        for (std::string line; std::getline(lines, line);) errors_.push_back(line);
      }
    }
    if (errors_.size() != before) return std::nullopt;
    if (type && type->derive_tables) type->derive_tables(b);
    return b;
  }

  Result<BackendsConfig> Parse(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      std::string where = file_;
      if (!e.mark.is_null()) where += ":" + std::to_string(e.mark.line + 1);
      return InvalidArgumentError(where + ": " + e.msg);
    }
    BackendsConfig cfg;
    cfg.file = file_;
    cfg.qualified = true;
    if (!root.IsMap()) {
      return InvalidArgumentError(Where(root) + ": expected a mapping with \"backends\"");
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string key = it->first.Scalar();
      if (key != "backends" && key != "default") {
        Error(it->first, key, "unknown field (known: backends, default)");
      }
    }
    const YAML::Node list = root["backends"];
    if (!list) {
      Error(root, "backends", "required: a list of backends");
    } else if (!list.IsSequence() || list.size() == 0) {
      Error(list, "backends", "expected a non-empty list of backends");
    } else {
      std::map<std::string, YAML::Node> seen;
      for (size_t i = 0; i < list.size(); ++i) {
        auto b = Entry(list[i], i);
        if (!b) continue;
        if (auto s = seen.find(b->name); s != seen.end()) {
          Error(list[i]["name"], "backends[" + std::to_string(i) + "].name",
                "duplicate name \"" + b->name + "\" (first at " + Where(s->second) + ")");
          continue;
        }
        seen[b->name] = list[i];
        cfg.backends.push_back(std::move(*b));
      }
    }
    // The default: `default: NAME` at the top, or one entry's default: true;
    // a lone backend is the default without saying so.
    std::vector<std::string> flagged;
    for (const auto& b : cfg.backends) {
      if (b.is_default) flagged.push_back(b.name);
    }
    if (const YAML::Node d = root["default"]) {
      if (!d.IsScalar()) {
        Error(d, "default", "expected a backend name");
      } else if (!cfg.Find(d.Scalar())) {
        if (errors_.empty()) {
          Error(d, "default",
                "names no backend: \"" + d.Scalar() + "\" (backends: " + Join(cfg.Names()) + ")");
        }
      } else if (!flagged.empty() && (flagged.size() > 1 || flagged[0] != d.Scalar())) {
        Error(d, "default",
              "\"" + d.Scalar() + "\" but backend " + flagged[0] + " says default: true");
      } else {
        cfg.default_name = d.Scalar();
      }
    } else if (flagged.size() > 1) {
      Error(list, "backends", "more than one default: true (" + Join(flagged) + ")");
    } else if (flagged.size() == 1) {
      cfg.default_name = flagged[0];
    } else if (cfg.backends.size() == 1 && errors_.empty()) {
      cfg.default_name = cfg.backends[0].name;
    } else if (errors_.empty()) {
      Error(list, "default",
            "none: mark one backend default: true or set default: NAME at the top");
    }
    for (auto& b : cfg.backends) b.is_default = b.name == cfg.default_name;
    if (!errors_.empty()) {
      std::string all;
      for (const auto& e : errors_) all += (all.empty() ? "" : "\n") + e;
      return InvalidArgumentError(all);
    }
    return cfg;
  }

  static std::string Join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }
  static std::vector<std::string> Keys(const BackendType& t) {
    std::set<std::string> all(kCommonKeys);
    all.insert(t.keys.begin(), t.keys.end());
    return {all.begin(), all.end()};
  }

 private:
  std::string file_;
  const TypeRegistry& types_;
  std::vector<std::string> errors_;
};

}  // namespace

std::optional<std::string> NameMap::Map(const std::string& name) const {
  if (any) return name;
  auto it = names.find(name);
  if (it == names.end()) return std::nullopt;
  return it->second;
}

std::string NameMap::Known() const {
  std::string out;
  for (const auto& [k, v] : names) out += (out.empty() ? "" : ", ") + k;
  return out;
}

const BackendConfig* BackendsConfig::Find(std::string_view name) const {
  for (const auto& b : backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

const BackendConfig& BackendsConfig::Default() const { return *Find(default_name); }

std::vector<std::string> BackendsConfig::Names() const {
  std::vector<std::string> out;
  for (const auto& b : backends) out.push_back(b.name);
  return out;
}

Result<BackendsConfig> ParseBackends(std::string_view text, const std::string& file,
                                     const TypeRegistry& types) {
  return Parser(file, types).Parse(text);
}

Result<BackendsConfig> LoadBackendsFile(const std::string& path, const TypeRegistry& types) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgumentError("--backends \"" + path + "\": cannot be read");
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return InvalidArgumentError("--backends \"" + path + "\": read error");
  return ParseBackends(buf.str(), path, types);
}

BackendsConfig SingleBackend(const std::string& name, const std::string& type,
                             const TypeRegistry* types) {
  BackendsConfig cfg;
  BackendConfig b;
  b.name = name;
  b.type = type;
  b.is_default = true;
  b.where = "flags";
  if (const BackendType* t = types ? types->Find(type) : nullptr) b.regions = DefaultRegions(*t);
  cfg.backends.push_back(std::move(b));
  cfg.default_name = name;
  cfg.qualified = false;
  return cfg;
}

}  // namespace mlspace::backends
