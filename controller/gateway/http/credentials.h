#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "controller/core/clock.h"

#include "controller/core/result.h"
#include "controller/gateway/http/poco_http_transport.h"

namespace mlspace::gateway::http {

// What the client authenticates with. Either access_token (static bearer),
// or client_id + client_secret (exchanged at POST /public/v2/service_auth),
// and/or api_key; workspace_id is sent on every call.
struct Credentials {
  std::string access_token;
  std::string api_key;
  std::string workspace_id;
  std::string client_id;
  std::string client_secret;

  bool HasClientSecret() const { return !client_id.empty() && !client_secret.empty(); }
};

// Reads MLSPACE_ACCESS_TOKEN, MLSPACE_API_KEY, MLSPACE_WORKSPACE_ID,
// MLSPACE_CLIENT_ID, MLSPACE_CLIENT_SECRET (the names of the daskol/mlspace
// client). A name unset in `env` is read from a file when `secrets_dir` is
// not empty: first SECRETS_DIR/mlspace/<access-token|api-key|workspace-id|
// client-id|client-secret>, then SECRETS_DIR/<mlspace_access_token|...>
// (the lowercase variable name). Surrounding whitespace is trimmed. Every
// value found is registered with SecretRegistry, so it is redacted from all
// output. Fails, naming the file, on an unreadable or empty file; fails when
// no workspace id or no usable credential is found, or only one of client
// id / secret.
Result<Credentials> LoadCredentials(const EnvLookup& env, const std::string& secrets_dir);

// Credentials that follow their files, so fixing a wrong secret (or a
// Kubernetes Secret update, which swaps a symlink) takes effect without a
// restart. Current() re-reads with LoadCredentials when any candidate file
// of --secrets-dir changed (exists, mtime, size, inode) since the last read,
// checking at most once per `recheck`. A re-read that fails (a file being
// rewritten, now empty) keeps the previous credentials and is tried again
// at the next change. Environment variables are read once and win over
// files, as in LoadCredentials. Thread-safe.
class CredentialFiles {
 public:
  // Reads once; fails like LoadCredentials. `clock` must outlive the object.
  static Result<std::shared_ptr<CredentialFiles>> Load(EnvLookup env, std::string secrets_dir,
                                                       const Clock& clock,
                                                       Duration recheck = std::chrono::seconds(1));

  // The credentials, and a number that grows each time they changed.
  std::pair<Credentials, uint64_t> Current();

  CredentialFiles(EnvLookup env, std::string secrets_dir, const Clock& clock, Duration recheck);

 private:
  std::string Signature() const;

  const EnvLookup env_;
  const std::string secrets_dir_;
  const Clock& clock_;
  const Duration recheck_;
  std::mutex mu_;
  Credentials current_;
  uint64_t version_ = 0;
  std::string signature_;
  TimePoint checked_at_{};
};

}  // namespace mlspace::gateway::http
