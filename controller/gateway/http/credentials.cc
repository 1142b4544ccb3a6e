#include "controller/gateway/http/credentials.h"

#include <sys/stat.h>

#include <array>
#include <filesystem>

#include "controller/core/log.h"
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

struct Item {
  const char* env_name;
  const char* file_name;
};
constexpr std::array<Item, 5> kItems{{
    {"MLSPACE_ACCESS_TOKEN", "access-token"},
    {"MLSPACE_API_KEY", "api-key"},
    {"MLSPACE_WORKSPACE_ID", "workspace-id"},
    {"MLSPACE_CLIENT_ID", "client-id"},
    {"MLSPACE_CLIENT_SECRET", "client-secret"},
}};

// The two files an item may be read from, in order.
std::array<std::filesystem::path, 2> ItemFiles(const std::string& secrets_dir, const Item& item) {
  std::string lower(item.env_name);
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::filesystem::path dir(secrets_dir);
  return {dir / "mlspace" / item.file_name, dir / lower};
}

}  // namespace

Result<Credentials> LoadCredentials(const EnvLookup& env, const std::string& secrets_dir) {
  Credentials c;
  const std::array<std::string*, 5> values{&c.access_token, &c.api_key, &c.workspace_id,
                                           &c.client_id, &c.client_secret};
  for (size_t i = 0; i < kItems.size(); ++i) {
    const Item& item = kItems[i];
    std::string* value = values[i];
    if (auto v = env(item.env_name); v && !Trim(*v).empty()) {
      *value = Trim(*v);
    } else if (!secrets_dir.empty()) {
      MLSPACE_RETURN_IF_ERROR(ReadFirstFile(ItemFiles(secrets_dir, item), *value));
    }
    if (!value->empty()) SecretRegistry::Get().Add(*value);
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

CredentialFiles::CredentialFiles(EnvLookup env, std::string secrets_dir, const Clock& clock,
                                 Duration recheck)
    : env_(std::move(env)),
      secrets_dir_(std::move(secrets_dir)),
      clock_(clock),
      recheck_(recheck) {}

Result<std::shared_ptr<CredentialFiles>> CredentialFiles::Load(EnvLookup env,
                                                               std::string secrets_dir,
                                                               const Clock& clock,
                                                               Duration recheck) {
  auto files =
      std::make_shared<CredentialFiles>(std::move(env), std::move(secrets_dir), clock, recheck);
  files->signature_ = files->Signature();
  MLSPACE_ASSIGN_OR_RETURN(files->current_, LoadCredentials(files->env_, files->secrets_dir_));
  files->checked_at_ = clock.Now();
  return files;
}

std::string CredentialFiles::Signature() const {
  std::string sig;
  if (secrets_dir_.empty()) return sig;
  for (const Item& item : kItems) {
    for (const auto& p : ItemFiles(secrets_dir_, item)) {
      struct stat st {};
      // stat follows symlinks: a Secret update swaps ..data and the target
      // (inode, mtime) changes.
      if (::stat(p.c_str(), &st) != 0) {
        sig += "-;";
        continue;
      }
      sig += std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ";";
    }
  }
  return sig;
}

std::pair<Credentials, uint64_t> CredentialFiles::Current() {
  std::lock_guard lock(mu_);
  const TimePoint now = clock_.Now();
  if (!secrets_dir_.empty() && now - checked_at_ >= recheck_) {
    checked_at_ = now;
    std::string sig = Signature();
    if (sig != signature_) {
      signature_ = sig;
      auto fresh = LoadCredentials(env_, secrets_dir_);
      if (fresh.ok()) {
        const Credentials& f = *fresh;
        const Credentials& c = current_;
        if (f.access_token != c.access_token || f.api_key != c.api_key ||
            f.workspace_id != c.workspace_id || f.client_id != c.client_id ||
            f.client_secret != c.client_secret) {
          current_ = *fresh;
          ++version_;
          LogInfo("gateway credential files changed; using the new credentials",
                  {{"secretsDir", secrets_dir_}});
        }
      } else {
        LogWarn(
            "gateway credential files changed but cannot be read; keeping the previous "
            "credentials",
            {{"error", fresh.status().message()}});
      }
    }
  }
  return {current_, version_};
}

}  // namespace mlspace::gateway::http
