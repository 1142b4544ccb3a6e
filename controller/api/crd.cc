#include "controller/api/crd.h"

#include <mutex>

#include "controller/api/yaml_json.h"

namespace mlspace::api {

namespace internal {
std::string EmbeddedCrdYaml();  // crd_embedded.cc, generated
}  // namespace internal

const std::string& CrdYaml() {
  static const std::string yaml = internal::EmbeddedCrdYaml();
  return yaml;
}

Result<const schema::Validator*> CrdValidator() {
  // Built once; a broken embedded CRD is a build defect, reported on every
  // call rather than crashing.
  static const Result<schema::Validator> validator = []() -> Result<schema::Validator> {
    MLSPACE_ASSIGN_OR_RETURN(nlohmann::json doc, internal::YamlToJson(CrdYaml()));
    return schema::Validator::Create(std::move(doc));
  }();
  if (!validator.ok()) return validator.status().WithContext("embedded CRD");
  return &validator.value();
}

}  // namespace mlspace::api
