#pragma once

// Credentials for --git-url, read from a directory laid out like a mounted
// Kubernetes Secret (one file per key). Recognised keys, all optional:
//   username            user for https (default "git") or ssh (default: the
//                       user in the URL, else "git")
//   password | token    https password or access token (token wins)
//   identity | ssh-privatekey   ssh private key file (Flux / kubernetes.io/
//                       ssh-auth names); identity.pub optional
//   passphrase          passphrase of the ssh key
// Values never reach logs: they are registered with the SecretRegistry and
// URLs are printed with their userinfo masked.

#include <optional>
#include <string>
#include <string_view>

#include "controller/core/result.h"

namespace mlspace::source {

struct GitCredentials {
  std::string username;
  std::string password;         // password or token, for https
  std::string ssh_key_path;     // private key file, for ssh
  std::string ssh_pubkey_path;  // may be empty
  std::string ssh_passphrase;

  bool empty() const { return password.empty() && ssh_key_path.empty(); }
};

// Reads the keys above from `dir`. A missing directory means anonymous
// access (empty credentials); an unreadable file is an error naming it.
Result<GitCredentials> LoadGitCredentials(const std::string& dir);

// The kinds of credential a server asks for (mirrors libgit2's
// GIT_CREDENTIAL_* bits that this project answers).
enum CredentialKindBit : unsigned {
  kCredUserPass = 1u << 0,
  kCredSshKey = 1u << 1,
  kCredUsername = 1u << 5,
};

struct CredentialChoice {
  enum class Kind { kUserPass, kSshKey, kUsername };
  Kind kind;
  std::string username;
  std::string secret;    // password/token, or the key passphrase
  std::string key_path;  // ssh only
  std::string pubkey_path;
};

// Picks the credential to answer a server that allows `allowed` kinds.
// `tried` holds the kinds already answered in this operation: a kind is
// offered once, so rejected credentials end in an error instead of the
// endless retry loop libgit2 would otherwise run. Pure.
std::optional<CredentialChoice> SelectCredential(const GitCredentials& creds, unsigned allowed,
                                                 std::string_view user_from_url, unsigned tried);

// "https://user:tok@host/x" → "https://***@host/x"; other URLs unchanged.
std::string RedactUrl(std::string_view url);

// Masks the userinfo of every scheme://user[:pass]@ found in `text`.
std::string RedactUrlsIn(std::string_view text);

}  // namespace mlspace::source
