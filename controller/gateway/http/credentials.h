#pragma once

#include <string>

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

}  // namespace mlspace::gateway::http
