#pragma once

// Bearer-token authentication for the API, from a file in kube-apiserver's
// --token-auth-file format:
//
//   token,user,uid[,"group1,group2"]
//
// (CSV: fields may be quoted, "" is a quote inside a quoted field). A line
// holding a single bare token (no comma) is the older format of
// --api-token-file and keeps working: its user is "api-token". Blank lines
// and lines starting with '#' are skipped.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/core/result.h"

namespace mlspace::apiserver {

struct TokenUser {
  std::string name;
  std::string uid;
  std::vector<std::string> groups;
};

// Immutable after Parse/Load, so it is safe to share between HTTP threads.
class TokenAuthenticator {
 public:
  // Parses the file's text. `origin` names the file in errors, which say
  // which line is wrong and never contain a token. Fails on a line with
  // two fields, an empty token or user, or an unterminated quote; on no
  // token at all.
  static Result<TokenAuthenticator> Parse(std::string_view text, std::string_view origin);
  // Reads and parses `path`; every token is registered as a secret
  // (SecretRegistry) so it can never reach a log line.
  static Result<TokenAuthenticator> Load(const std::string& path);

  // The user of an "Authorization" header value ("Bearer <token>"), or
  // nullopt. Compares SHA-256 digests with CRYPTO_memcmp against every
  // entry without stopping early, so timing does not reveal how much of a
  // token matched or which entry did.
  std::optional<TokenUser> Authenticate(std::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<unsigned char, 32> digest;
    TokenUser user;
  };
  std::vector<Entry> entries_;
};

}  // namespace mlspace::apiserver
