#include "controller/apiserver/object_codec.h"

#include <openssl/evp.h>

#include <cstdio>

#include "controller/api/codec.h"
#include "controller/core/time_util.h"

namespace mlspace::apiserver {

using nlohmann::json;

std::string ObjectUid(const store::ObjectRecord& r) {
  std::string seed =
      r.key.ToString() + "@" + std::to_string(r.created_at.time_since_epoch().count());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(seed.data(), seed.size(), digest, &len, EVP_sha256(), nullptr);
  // RFC 4122 layout (version 5-style bits) so tools that parse uids accept it.
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(
      out, sizeof(out), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
      digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return out;
}

json RecordToObject(const store::ObjectRecord& r) {
  json meta{{"name", r.key.name},         {"namespace", r.key.namespace_name},
            {"uid", ObjectUid(r)},        {"resourceVersion", std::to_string(r.resource_version)},
            {"generation", r.generation}, {"creationTimestamp", FormatRfc3339(r.created_at)}};
  if (!r.labels.empty()) meta["labels"] = r.labels;
  if (!r.annotations.empty()) meta["annotations"] = r.annotations;
  json spec = json::object();
  if (!r.spec_json.empty()) {
    spec = json::parse(r.spec_json, nullptr, /*allow_exceptions=*/false);
    if (spec.is_discarded()) spec = json::object();
  }
  json status = api::StatusToJson(r.status);
  if (!r.source_path.empty()) status["sourcePath"] = r.source_path;
  return json{{"apiVersion", api::kApiVersion},
              {"kind", api::kKind},
              {"metadata", std::move(meta)},
              {"spec", std::move(spec)},
              {"status", std::move(status)}};
}

std::string FormatAge(Duration d) {
  using std::chrono::duration_cast;
  int64_t s = duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  if (s < 120) return std::to_string(s) + "s";
  int64_t m = s / 60;
  if (m < 10) return std::to_string(m) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
  if (m < 180) return std::to_string(m) + "m";
  int64_t h = m / 60;
  if (h < 8) return std::to_string(h) + "h" + (m % 60 ? std::to_string(m % 60) + "m" : "");
  if (h < 48) return std::to_string(h) + "h";
  int64_t days = h / 24;
  if (days < 8) return std::to_string(days) + "d" + (h % 24 ? std::to_string(h % 24) + "h" : "");
  return std::to_string(days) + "d";
}

json StatusFailure(int code, std::string_view reason, std::string_view message) {
  return json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}};
}

json NotFoundStatus(std::string_view name) {
  json s = StatusFailure(
      404, "NotFound",
      std::string(api::kPlural) + "." + api::kGroup + " \"" + std::string(name) + "\" not found");
  s["details"] = {{"name", name}, {"group", api::kGroup}, {"kind", api::kPlural}};
  return s;
}

}  // namespace mlspace::apiserver
