#include "controller/source/git_credentials.h"

#include <filesystem>

#include "controller/core/redact.h"
#include "controller/core/secret_file.h"

namespace mlspace::source {
namespace {

namespace fs = std::filesystem;

// Reads one key's file (ReadSecretFile: edge whitespace trimmed); a
// missing file is an absent key.
Result<std::optional<std::string>> ReadValue(const fs::path& p) {
  auto v = ReadSecretFile(p.string());
  if (!v.ok() && v.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
  if (!v.ok()) return Status(v.status().code(), "git credentials: " + v.status().message());
  return std::optional<std::string>(std::move(*v));
}

}  // namespace

Result<GitCredentials> LoadGitCredentials(const std::string& dir) {
  GitCredentials c;
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) return c;
  const fs::path d(dir);
  MLSPACE_ASSIGN_OR_RETURN(auto user, ReadValue(d / "username"));
  MLSPACE_ASSIGN_OR_RETURN(auto password, ReadValue(d / "password"));
  MLSPACE_ASSIGN_OR_RETURN(auto token, ReadValue(d / "token"));
  MLSPACE_ASSIGN_OR_RETURN(auto passphrase, ReadValue(d / "passphrase"));
  if (user) c.username = *user;
  if (token && !token->empty()) {
    c.password = *token;
  } else if (password) {
    c.password = *password;
  }
  if (passphrase) c.ssh_passphrase = *passphrase;
  for (const char* name : {"identity", "ssh-privatekey"}) {
    if (fs::is_regular_file(d / name, ec)) {
      c.ssh_key_path = (d / name).string();
      break;
    }
  }
  if (!c.ssh_key_path.empty() && fs::is_regular_file(c.ssh_key_path + ".pub", ec)) {
    c.ssh_pubkey_path = c.ssh_key_path + ".pub";
  }
  SecretRegistry::Get().Add(c.password);
  SecretRegistry::Get().Add(c.ssh_passphrase);
  return c;
}

std::optional<CredentialChoice> SelectCredential(const GitCredentials& creds, unsigned allowed,
                                                 std::string_view user_from_url, unsigned tried) {
  auto can = [&](unsigned bit) { return (allowed & bit) != 0 && (tried & bit) == 0; };
  std::string ssh_user = !user_from_url.empty()    ? std::string(user_from_url)
                         : !creds.username.empty() ? creds.username
                                                   : "git";
  if (can(kCredSshKey) && !creds.ssh_key_path.empty()) {
    return CredentialChoice{CredentialChoice::Kind::kSshKey, ssh_user, creds.ssh_passphrase,
                            creds.ssh_key_path, creds.ssh_pubkey_path};
  }
  // ssh asks for the user name first when the URL carries none.
  if (can(kCredUsername) && !creds.ssh_key_path.empty()) {
    return CredentialChoice{CredentialChoice::Kind::kUsername, ssh_user, "", "", ""};
  }
  if (can(kCredUserPass) && !creds.password.empty()) {
    std::string user = !creds.username.empty()  ? creds.username
                       : !user_from_url.empty() ? std::string(user_from_url)
                                                : "git";
    return CredentialChoice{CredentialChoice::Kind::kUserPass, user, creds.password, "", ""};
  }
  return std::nullopt;
}

std::string RedactUrl(std::string_view url) { return RedactUrlsIn(url); }

std::string RedactUrlsIn(std::string_view text) {
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t scheme = text.find("://", pos);
    if (scheme == std::string_view::npos) break;
    size_t auth_start = scheme + 3;
    // The authority ends at the first '/', whitespace or quote.
    size_t auth_end = auth_start;
    while (auth_end < text.size() && text[auth_end] != '/' && text[auth_end] != ' ' &&
           text[auth_end] != '\'' && text[auth_end] != '"' && text[auth_end] != '\n') {
      ++auth_end;
    }
    std::string_view authority = text.substr(auth_start, auth_end - auth_start);
    size_t at = authority.rfind('@');
    out.append(text.substr(pos, auth_start - pos));
    if (at != std::string_view::npos) {
      out += "***@";
      out.append(authority.substr(at + 1));
    } else {
      out.append(authority);
    }
    pos = auth_end;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace mlspace::source
