#pragma once

// The backend configuration (--backends FILE): named backends, each of a
// registered type (mlspace, local, ...), one of them the default, each with
// the table that maps a manifest's region and instanceType to its own
// names. Parsed with yaml-cpp so every error names file:line and the field.
// Today's single-backend flags are described by the same structure
// (SingleBackend), so the rest of the controller sees one shape.

#include <yaml-cpp/yaml.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/result.h"
#include "controller/core/status.h"

namespace mlspace::backends {

class TypeRegistry;

// Manifest name -> the backend's name for a region or an instance type.
// Without a table (`any`), every name is accepted and passed unchanged.
struct NameMap {
  bool any = true;
  std::map<std::string, std::string> names;

  // The backend's name for `name`, or nullopt when the table does not map it.
  std::optional<std::string> Map(const std::string& name) const;
  // The manifest names the table knows, comma-separated (error messages).
  std::string Known() const;
};

struct BackendConfig {
  std::string name;  // DNS-1123 label, unique
  std::string type;  // a TypeRegistry name
  bool is_default = false;
  NameMap regions;
  NameMap instance_types;
  std::optional<int> max_workers;  // spec.workers above this is Invalid
  // The whole entry, for the type's own settings (TypeRegistry::Check/Make
  // read them with their marks). Null for a backend made from flags.
  YAML::Node node;
  // "file:line" of the entry (or "flags"), the prefix of its errors.
  std::string where;
};

struct BackendsConfig {
  std::string file;  // empty when made from flags
  std::vector<BackendConfig> backends;
  std::string default_name;
  // True with a --backends file: remote locations carry the backend's name
  // ("<backend>/<region>"). From flags they are the plain region, as before
  // backends existed, so an existing state store reads unchanged.
  bool qualified = false;

  const BackendConfig* Find(std::string_view name) const;
  const BackendConfig& Default() const;  // requires a valid config
  std::vector<std::string> Names() const;
};

// Parses and validates `text` (the contents of `file`). Every problem is
// reported, one per line, each "file:line: field: message" (the type's own
// settings are checked through `types`). Fails with InvalidArgument whose
// message holds all lines joined by '\n'.
Result<BackendsConfig> ParseBackends(std::string_view text, const std::string& file,
                                     const TypeRegistry& types);

// Reads `path` and parses it as above (a read error names the file).
Result<BackendsConfig> LoadBackendsFile(const std::string& path, const TypeRegistry& types);

// The single default backend today's flags describe: `name` of `type`,
// every region and instance type accepted, plain locations.
// `types` (may be null) supplies the type's default regions.
BackendsConfig SingleBackend(const std::string& name, const std::string& type,
                             const TypeRegistry* types = nullptr);

}  // namespace mlspace::backends
