#include "controller/apiserver/patch.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "controller/api/yaml_json.h"

namespace mlspace::apiserver {

using nlohmann::json;

PatchType PatchTypeFromContentType(std::string_view content_type) {
  std::string ct(content_type.substr(0, content_type.find(';')));
  ct.erase(std::remove_if(ct.begin(), ct.end(), [](unsigned char c) { return std::isspace(c); }),
           ct.end());
  std::transform(ct.begin(), ct.end(), ct.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ct == "application/merge-patch+json") return PatchType::kMerge;
  if (ct == "application/json-patch+json") return PatchType::kJson;
  if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+json") {
    return PatchType::kApply;
  }
  if (ct == "application/strategic-merge-patch+json") return PatchType::kStrategic;
  return PatchType::kUnknown;
}

Result<json> ParseBody(std::string_view body, bool allow_yaml) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded()) return parsed;
  if (!allow_yaml) {
    // Name where the JSON breaks: nlohmann's exception text carries it.
    try {
      json again = json::parse(body);
      static_cast<void>(again);
    } catch (const json::exception& e) {
      return InvalidArgumentError(std::string("the request body is not valid JSON: ") + e.what());
    }
    return InvalidArgumentError("the request body is not valid JSON");
  }
  auto docs = api::internal::ParseYamlStream(body);
  if (!docs.ok()) {
    return InvalidArgumentError("the request body is not valid YAML: " + docs.status().message());
  }
  if (docs->size() != 1) {
    return InvalidArgumentError("the request body must hold exactly one YAML document, got " +
                                std::to_string(docs->size()));
  }
  return std::move((*docs)[0].value);
}

Result<json> ApplyPatch(PatchType type, const json& doc, const json& patch) {
  switch (type) {
    case PatchType::kMerge: {
      if (!patch.is_object()) {
        return InvalidArgumentError("a merge patch must be a JSON object");
      }
      json out = doc;
      out.merge_patch(patch);
      return out;
    }
    case PatchType::kJson: {
      if (!patch.is_array()) {
        return InvalidArgumentError("a JSON patch must be an array of operations");
      }
      try {
        return doc.patch(patch);
      } catch (const json::out_of_range& e) {
        // A path that does not exist, or a "test" whose value differs.
        return FailedPreconditionError(std::string("the JSON patch does not apply: ") + e.what());
      } catch (const json::other_error& e) {
        return FailedPreconditionError(std::string("the JSON patch does not apply: ") + e.what());
      } catch (const json::exception& e) {
        return InvalidArgumentError(std::string("invalid JSON patch: ") + e.what());
      }
    }
    default:
      return InvalidArgumentError("not a merge or JSON patch");
  }
}

}  // namespace mlspace::apiserver
