#pragma once

// Secret files: one value per file, laid out like a mounted Kubernetes
// Secret (<dir>/<name>/<key>). One reader for every secret the controller
// takes from disk (secretKeyRef values, gateway credentials, git
// credentials, the API token), so they all trim the same way.

#include <string>
#include <string_view>

#include "controller/core/result.h"

namespace mlspace {

// Returns `raw` without leading and trailing ASCII whitespace (space, tab,
// CR, LF). The one trimming rule for secret files: Kubernetes writes values
// exactly, people write them with `echo` (trailing LF) or on Windows (CRLF)
// or paste them with a stray space; none of the values read this way
// (tokens, keys, ids, passwords, env values) can carry edge whitespace.
std::string TrimSecretValue(std::string_view raw);

// Reads the secret file at `path` and returns its value trimmed as above.
// A non-empty value is registered with SecretRegistry before it is
// returned, so it is masked wherever it might leak.
// Failure: kNotFound when the file does not exist, kPermissionDenied when it
// cannot be opened or read otherwise; the message names the path and the
// reason, never any content. An empty (or all-whitespace) file is not an
// error: callers decide whether empty is allowed.
// Thread-safe.
Result<std::string> ReadSecretFile(const std::string& path);

// Where secretKeyRef values come from: the seam between the reconciler
// (which must not read files) and the mounted secrets.
class SecretResolver {
 public:
  virtual ~SecretResolver() = default;

  // The value of `key` in secret `name`, registered with SecretRegistry.
  // Errors name the secret, never a value. Thread-safe.
  virtual Result<std::string> Resolve(const std::string& name, const std::string& key) const = 0;
};

// The secrets under --secrets-dir that are the controller's own: the gateway
// credentials (<dir>/mlspace/...) and the git credentials (<dir>/git/...).
// A manifest's secretKeyRef may not name them: whoever can commit a manifest
// would otherwise copy the controller's API key into a job's environment.
inline constexpr std::string_view kControllerSecretNames[] = {"mlspace", "git"};

// Reads <dir>/<name>/<key> with ReadSecretFile. An empty `dir` fails every
// Resolve with kFailedPrecondition ("no --secrets-dir configured"); a name or
// key that is not a plain path part ([-._a-zA-Z0-9]+, not "." or "..") fails
// with kInvalidArgument, one of kControllerSecretNames with
// kPermissionDenied, before any file is touched.
class DirectorySecretResolver final : public SecretResolver {
 public:
  explicit DirectorySecretResolver(std::string dir) : dir_(std::move(dir)) {}
  Result<std::string> Resolve(const std::string& name, const std::string& key) const override;

 private:
  const std::string dir_;
};

}  // namespace mlspace
