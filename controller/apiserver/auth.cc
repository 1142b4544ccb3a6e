#include "controller/apiserver/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "controller/core/log.h"
#include "controller/core/redact.h"

namespace mlspace::apiserver {
namespace {

std::array<unsigned char, 32> Digest(std::string_view text) {
  std::array<unsigned char, 32> d{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), d.data());
  return d;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// One CSV record (RFC 4180 quoting, as Go's encoding/csv reads the kube
// token file). Fails on an unterminated quote or text after a closing one.
Result<std::vector<std::string>> SplitCsv(std::string_view line) {
  std::vector<std::string> fields;
  std::string field;
  size_t i = 0;
  while (true) {
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field.push_back(line[i++]);
      }
      if (!closed) return InvalidArgumentError("unterminated quoted field");
      if (i < line.size() && line[i] != ',') {
        return InvalidArgumentError("text after a closing quote");
      }
    } else {
      size_t comma = line.find(',', i);
      if (comma == std::string_view::npos) comma = line.size();
      field.assign(line.substr(i, comma - i));
      i = comma;
    }
    fields.push_back(field);
    if (i >= line.size()) break;
    ++i;  // the comma
    if (i == line.size()) {
      fields.emplace_back();
      break;
    }
  }
  return fields;
}

}  // namespace

Result<TokenAuthenticator> TokenAuthenticator::Parse(std::string_view text,
                                                     std::string_view origin) {
  TokenAuthenticator auth;
  size_t pos = 0;
  int line_no = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = Trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    auto where = std::string(origin) + ":" + std::to_string(line_no) + ": ";
    auto fields = SplitCsv(line);
    if (!fields.ok()) return InvalidArgumentError(where + fields.status().message());
    Entry e;
    std::string token;
    if (fields->size() == 1) {
      token = std::string(Trim((*fields)[0]));
      e.user.name = "api-token";
    } else if (fields->size() == 2) {
      return InvalidArgumentError(where +
                                  "want token,user,uid[,\"group1,group2\"] (found 2 fields)");
    } else {
      token = std::string(Trim((*fields)[0]));
      e.user.name = std::string(Trim((*fields)[1]));
      e.user.uid = std::string(Trim((*fields)[2]));
      if (fields->size() >= 4) {
        std::string_view groups = (*fields)[3];
        size_t g = 0;
        while (g <= groups.size()) {
          size_t c = groups.find(',', g);
          if (c == std::string_view::npos) c = groups.size();
          std::string_view one = Trim(groups.substr(g, c - g));
          if (!one.empty()) e.user.groups.emplace_back(one);
          g = c + 1;
        }
      }
      if (e.user.name.empty()) return InvalidArgumentError(where + "empty user name");
    }
    if (token.empty()) return InvalidArgumentError(where + "empty token");
    e.digest = Digest(token);
    bool duplicate = false;
    for (auto& existing : auth.entries_) {
      if (existing.digest == e.digest) {
        // kube-apiserver keeps the later line and warns; so do we.
        LogWarn("API token file: a token appears twice, the later line wins",
                {{"file", std::string(origin)}, {"line", std::to_string(line_no)}});
        existing.user = e.user;
        duplicate = true;
      }
    }
    if (!duplicate) auth.entries_.push_back(std::move(e));
  }
  if (auth.entries_.empty()) {
    return InvalidArgumentError(std::string(origin) + ": empty (no token)");
  }
  return auth;
}

Result<TokenAuthenticator> TokenAuthenticator::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgumentError("--api-token-file: cannot read " + path + ": " +
                                std::strerror(errno));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto auth = Parse(text, "--api-token-file \"" + path + "\"");
  if (!auth.ok()) return auth.status();
  // Register every token as a secret (each is the first field of a line or
  // the whole line); re-split rather than keep plaintext in the object.
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view line = Trim(std::string_view(text).substr(pos, nl - pos));
    pos = nl + 1;
    if (line.empty() || line.front() == '#') continue;
    auto fields = SplitCsv(line);
    if (fields.ok() && !fields->empty()) SecretRegistry::Get().Add(Trim((*fields)[0]));
  }
  return auth;
}

std::optional<TokenUser> TokenAuthenticator::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.size() <= kBearer.size()) return std::nullopt;
  // The scheme is case-insensitive (RFC 7235); kubectl sends "Bearer".
  for (size_t i = 0; i < kBearer.size(); ++i) {
    char a = authorization[i];
    char b = kBearer[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return std::nullopt;
  }
  std::string_view token = Trim(authorization.substr(kBearer.size()));
  if (token.empty()) return std::nullopt;
  const auto digest = Digest(token);
  const Entry* match = nullptr;
  for (const auto& e : entries_) {
    // No early exit: every entry is compared whatever matched before.
    bool equal = CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0;
    if (equal && match == nullptr) match = &e;
  }
  if (match == nullptr) return std::nullopt;
  return match->user;
}

}  // namespace mlspace::apiserver
