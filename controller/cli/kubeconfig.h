#pragma once

// Where mlspacectl connects and how it authenticates. Each setting comes
// from the first source that has it: the command-line flag, the
// environment (MLSPACE_SERVER, MLSPACE_TOKEN), then the kubeconfig context
// (--context, else current-context) of --kubeconfig, $KUBECONFIG (a
// colon-separated list, merged the way kubectl merges it: the first file
// that sets a value wins) or ~/.kube/config — kubectl's field-by-field
// override, so `--server` keeps the context's user and CA.

#include <functional>
#include <optional>
#include <string>

#include "controller/core/result.h"

namespace mlspace::cli {

struct ConnectionFlags {
  std::string server;
  std::string token;
  std::string certificate_authority;  // a file
  std::optional<bool> insecure_skip_tls_verify;
  std::string kubeconfig;
  std::string context;
  std::string namespace_;
};

struct Connection {
  std::string server;  // "https://127.0.0.1:8081" (no trailing slash)
  std::string token;   // secret: never printed
  std::string ca_file;
  std::string ca_pem;  // from certificate-authority-data, decoded
  bool insecure_skip_tls_verify = false;
  std::string namespace_ = "default";
  bool namespace_explicit = false;  // -n given (apply checks manifests against it)
};

using GetEnv = std::function<const char*(const char*)>;

// Resolves the connection. Errors are one line naming the file or setting:
// a kubeconfig that does not parse, an unknown --context, an explicitly
// named kubeconfig that does not exist, no server from any source, a server
// URL that is not http(s)://host[:port]. A missing default kubeconfig is
// not an error when the server comes from a flag or the environment.
Result<Connection> ResolveConnection(const ConnectionFlags& flags, const GetEnv& getenv_fn);

}  // namespace mlspace::cli
