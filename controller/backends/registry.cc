#include "controller/backends/registry.h"

namespace mlspace::backends {

Status TypeRegistry::Register(const std::string& name, BackendType type) {
  if (name.empty()) return InvalidArgumentError("backend type: empty name");
  if (!type.make) return InvalidArgumentError("backend type " + name + ": no factory");
  if (!types_.emplace(name, std::move(type)).second) {
    return AlreadyExistsError("backend type " + name + ": registered twice");
  }
  return OkStatus();
}

const BackendType* TypeRegistry::Find(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> TypeRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& [n, t] : types_) out.push_back(n);
  return out;
}

std::string At(const BackendConfig& b, const YAML::Node& node, const std::string& field,
               const std::string& message) {
  std::string where = b.where;
  if (node && !node.Mark().is_null()) {
    // b.where is "file:line"; the node's own line is more precise.
    std::string file = where.substr(0, where.rfind(':'));
    where = file + ":" + std::to_string(node.Mark().line + 1);
  }
  return where + ": backends[" + b.name + "]." + field + ": " + message;
}

}  // namespace mlspace::backends
