#include "controller/gateway/http/credentials.h"

#include <array>
#include <filesystem>

#include "controller/core/redact.h"
#include "controller/core/secret_file.h"

namespace mlspace::gateway::http {
namespace {

// Environment values get the secret-file trimming rule too, so a value
// means the same wherever it comes from.
std::string Trim(const std::string& s) { return TrimSecretValue(s); }

// Fills `out` from the first existing file of `paths`; leaves it empty when
// none exists.
Status ReadFirstFile(const std::array<std::filesystem::path, 2>& paths, std::string& out) {
  for (const auto& p : paths) {
    auto value = ReadSecretFile(p.string());
    if (!value.ok() && value.status().code() == StatusCode::kNotFound) continue;
    if (!value.ok()) return FailedPreconditionError(value.status().message());
    if (value->empty()) return FailedPreconditionError(p.string() + ": empty");
    out = std::move(*value);
    return OkStatus();
  }
  return OkStatus();
}

}  // namespace

Result<Credentials> LoadCredentials(const EnvLookup& env, const std::string& secrets_dir) {
  Credentials c;
  struct Item {
    const char* env_name;
    const char* file_name;
    std::string* value;
  };
  const std::array<Item, 5> items{{
      {"MLSPACE_ACCESS_TOKEN", "access-token", &c.access_token},
      {"MLSPACE_API_KEY", "api-key", &c.api_key},
      {"MLSPACE_WORKSPACE_ID", "workspace-id", &c.workspace_id},
      {"MLSPACE_CLIENT_ID", "client-id", &c.client_id},
      {"MLSPACE_CLIENT_SECRET", "client-secret", &c.client_secret},
  }};
  for (const auto& item : items) {
    if (auto v = env(item.env_name); v && !Trim(*v).empty()) {
      *item.value = Trim(*v);
    } else if (!secrets_dir.empty()) {
      std::string lower(item.env_name);
      for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::filesystem::path dir(secrets_dir);
      MLSPACE_RETURN_IF_ERROR(
          ReadFirstFile({dir / "mlspace" / item.file_name, dir / lower}, *item.value));
    }
    if (!item.value->empty()) SecretRegistry::Get().Add(*item.value);
  }
  std::string where =
      secrets_dir.empty() ? std::string("the environment") : "the environment or " + secrets_dir;
  if (c.workspace_id.empty()) {
    return FailedPreconditionError("gateway credentials: MLSPACE_WORKSPACE_ID not found in " +
                                   where);
  }
  if (c.client_id.empty() != c.client_secret.empty()) {
    return FailedPreconditionError(
        "gateway credentials: MLSPACE_CLIENT_ID and MLSPACE_CLIENT_SECRET must be set together");
  }
  if (c.access_token.empty() && c.api_key.empty() && !c.HasClientSecret()) {
    return FailedPreconditionError(
        "gateway credentials: none of MLSPACE_ACCESS_TOKEN, MLSPACE_API_KEY or "
        "MLSPACE_CLIENT_ID/MLSPACE_CLIENT_SECRET found in " +
        where);
  }
  return c;
}

}  // namespace mlspace::gateway::http
