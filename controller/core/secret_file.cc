#include "controller/core/secret_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/core/redact.h"

namespace mlspace {
namespace {

bool IsEdgeSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Secret names are DNS-1123 subdomains and keys [-._a-zA-Z0-9]+ (the CRD
// checks both); checked again here because they become a path.
bool SafePathPart(const std::string& s) {
  if (s.empty() || s == "." || s == ".." || s.size() > 253) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string TrimSecretValue(std::string_view raw) {
  size_t b = 0;
  size_t e = raw.size();
  while (b < e && IsEdgeSpace(raw[b])) ++b;
  while (e > b && IsEdgeSpace(raw[e - 1])) --e;
  return std::string(raw.substr(b, e - b));
}

Result<std::string> ReadSecretFile(const std::string& path) {
  std::error_code ec;
  // A directory opens and reads as empty; say what it is instead.
  if (std::filesystem::is_directory(path, ec)) {
    return PermissionDeniedError("cannot read " + path + ": is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string msg = "cannot read " + path + ": " + std::strerror(err);
    if (err == ENOENT || err == ENOTDIR) return NotFoundError(msg);
    return PermissionDeniedError(msg);
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return PermissionDeniedError("cannot read " + path);
  std::string value = TrimSecretValue(buf.str());
  if (!value.empty()) SecretRegistry::Get().Add(value);
  return value;
}

Result<std::string> DirectorySecretResolver::Resolve(const std::string& name,
                                                     const std::string& key) const {
  if (!SafePathPart(name) || !SafePathPart(key)) {
    return InvalidArgumentError("invalid secret name or key");
  }
  for (std::string_view own : kControllerSecretNames) {
    if (name == own) {
      return PermissionDeniedError("secret \"" + name +
                                   "\" holds the controller's own credentials; a manifest "
                                   "cannot use it (put the job's secret under another name)");
    }
  }
  if (dir_.empty()) return FailedPreconditionError("no --secrets-dir configured");
  return ReadSecretFile(dir_ + "/" + name + "/" + key);
}

}  // namespace mlspace
