// base64 and SHA-256 through OpenSSL's libcrypto (no hand-written codecs).
//
// SHA-256 uses libcrypto's low-level SHA256_Init/Update/Final rather than
// EVP_Digest: with OpenSSL 3 the first EVP digest of a process initialises the
// provider machinery (~1 ms, and +4 MB in the static launcher), which alone
// would eat the launcher's start-up budget. The low-level functions are
// deprecated in 3.0 but present; the API level below keeps them warning-free.
#define OPENSSL_API_COMPAT 0x10101000L
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "controller/launchspec/internal.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::launchspec {

namespace {

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// The standard alphabet as a table: the check runs over megabytes.
constexpr std::array<bool, 256> kBase64Alphabet = [] {
  std::array<bool, 256> table{};
  for (char c :
       std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}();

bool IsBase64Char(char c) { return kBase64Alphabet[static_cast<unsigned char>(c)]; }

// Whether all 64 bytes at `p` are in the alphabet. Branch-free over a fixed
// count, so the compiler vectorises it (the check runs over megabytes; the
// table loop above costs a branch per byte).
bool BlockIsBase64(const char* p) {
  unsigned bad = 0;
  for (int i = 0; i < 64; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    const bool ok = static_cast<unsigned char>(c - 'A') < 26 ||
                    static_cast<unsigned char>(c - 'a') < 26 ||
                    static_cast<unsigned char>(c - '0') < 10 || c == '+' || c == '/';
    bad |= ok ? 0u : 1u;
  }
  return bad == 0;
}

// Number of trailing '=' (0..2) that count as padding.
std::size_t PaddingOf(std::string_view text) {
  if (text.empty() || text.back() != '=') return 0;
  return text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
}

// PaddingOf for the concatenation of the parts (any of them may be empty).
std::size_t PaddingOfParts(std::span<const std::string_view> parts) {
  char tail[2] = {0, 0};  // the last two characters, last first
  std::size_t found = 0;
  for (std::size_t k = parts.size(); k-- > 0 && found < 2;) {
    for (std::size_t i = parts[k].size(); i-- > 0 && found < 2;) tail[found++] = parts[k][i];
  }
  return tail[0] != '=' ? 0 : tail[1] == '=' ? 2 : 1;
}

}  // namespace

std::string Base64Encode(std::string_view data) {
  std::string out;
  // EVP_EncodeBlock takes an int length: encode in blocks (a multiple of 3
  // bytes) so any size works and no padding appears mid-text.
  constexpr std::size_t kBlock = 3 * (1u << 20);
  out.resize(4 * ((data.size() + 2) / 3) + 1);
  std::size_t written = 0;
  for (std::size_t pos = 0; pos < data.size(); pos += kBlock) {
    const std::size_t n = std::min(kBlock, data.size() - pos);
    written += static_cast<std::size_t>(
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()) + written,
                        Bytes(data.substr(pos)), static_cast<int>(n)));
  }
  out.resize(written);
  return out;
}

std::optional<Base64Problem> FindBase64Problem(std::string_view text) {
  if (text.size() % 4 != 0) {
    return Base64Problem{text.size(),
                         "length " + std::to_string(text.size()) + " is not a multiple of 4"};
  }
  const std::size_t pad = PaddingOf(text);
  const std::string_view body = text.substr(0, text.size() - pad);
  std::size_t clean = 0;  // a prefix known to be in the alphabet
  while (clean + 64 <= body.size() && BlockIsBase64(body.data() + clean)) clean += 64;
  const auto bad =
      std::find_if_not(body.begin() + static_cast<std::ptrdiff_t>(clean), body.end(), IsBase64Char);
  if (bad != body.end()) {
    const auto i = static_cast<std::size_t>(bad - body.begin());
    return Base64Problem{i, text[i] == '=' ? std::string("padding '=' before the end")
                                           : "invalid character " + DescribeByte(text[i])};
  }
  return std::nullopt;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (auto problem = FindBase64Problem(text)) {
    return KindError(ErrorKind::kBase64,
                     problem->reason + " at offset " + std::to_string(problem->offset));
  }
  return DecodeCheckedBase64(text);
}

std::optional<PartsBase64Problem> FindBase64ProblemInParts(
    std::span<const std::string_view> parts) {
  std::size_t total = 0;
  for (std::string_view part : parts) total += part.size();
  if (total % 4 != 0) {
    return PartsBase64Problem{parts.size(), total,
                              "length " + std::to_string(total) + " is not a multiple of 4"};
  }
  const std::size_t pad = PaddingOfParts(parts);
  const std::size_t body_end = total - pad;
  std::size_t start = 0;  // of the current part in the whole text
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const std::string_view body =
        parts[k].substr(0, body_end > start ? std::min(parts[k].size(), body_end - start) : 0);
    std::size_t clean = 0;
    while (clean + 64 <= body.size() && BlockIsBase64(body.data() + clean)) clean += 64;
    const auto bad = std::find_if_not(body.begin() + static_cast<std::ptrdiff_t>(clean), body.end(),
                                      IsBase64Char);
    if (bad != body.end()) {
      const auto i = static_cast<std::size_t>(bad - body.begin());
      return PartsBase64Problem{k, i,
                                body[i] == '=' ? std::string("padding '=' before the end")
                                               : "invalid character " + DescribeByte(body[i])};
    }
    start += parts[k].size();
  }
  return std::nullopt;
}

Result<std::string> DecodeCheckedBase64Parts(std::span<const std::string_view> parts) {
  std::size_t total = 0;
  for (std::string_view part : parts) total += part.size();
  if (total > static_cast<std::size_t>(INT_MAX)) {
    return KindError(ErrorKind::kBase64,
                     "text of " + std::to_string(total) + " characters is too long");
  }
  std::string out;
  out.reserve(total / 4 * 3 + 16);
  out.resize(total / 4 * 3);
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  std::size_t written = 0;
  auto decode = [&](const char* src, std::size_t n) {  // n: a multiple of 4
    const int got = EVP_DecodeBlock(dst + written, reinterpret_cast<const unsigned char*>(src),
                                    static_cast<int>(n));
    if (got < 0) return false;
    written += static_cast<std::size_t>(got);
    return true;
  };
  // Parts need not end on a 4-character boundary: a group that straddles
  // two parts is gathered in `carry`.
  char carry[4];
  std::size_t carried = 0;
  bool ok = true;
  for (std::string_view part : parts) {
    std::size_t pos = 0;
    if (carried > 0) {
      while (carried < 4 && pos < part.size()) carry[carried++] = part[pos++];
      if (carried < 4) continue;
      ok = ok && decode(carry, 4);
      carried = 0;
    }
    const std::size_t left = part.size() - pos;
    const std::size_t whole = left / 4 * 4;
    if (whole > 0) ok = ok && decode(part.data() + pos, whole);
    carried = left % 4;  // nothing is carried at this point
    std::memcpy(carry, part.data() + pos + whole, carried);
  }
  if (!ok || carried != 0) return KindError(ErrorKind::kBase64, "OpenSSL rejected the text");
  // EVP_DecodeBlock counts the zero bytes that padding stands for; padding
  // can only be in the last group.
  const std::size_t pad = PaddingOfParts(parts);
  out.resize(written - pad);
  return out;
}

Result<std::string> DecodeCheckedBase64(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(INT_MAX)) {
    return KindError(ErrorKind::kBase64,
                     "text of " + std::to_string(text.size()) + " characters is too long");
  }
  std::string out;
  out.reserve(text.size() / 4 * 3 + 16);
  out.resize(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), Bytes(text),
                                static_cast<int>(text.size()));
  if (n < 0) return KindError(ErrorKind::kBase64, "OpenSSL rejected the text");
  // EVP_DecodeBlock counts the zero bytes that padding stands for.
  out.resize(static_cast<std::size_t>(n) - PaddingOf(text));
  return out;
}

std::string Sha256Hex(std::string_view data) {
  const std::string_view parts[] = {data};
  return Sha256HexOfParts(parts);
}

std::string Sha256HexOfParts(std::span<const std::string_view> parts) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (std::string_view part : parts) SHA256_Update(&ctx, part.data(), part.size());
  SHA256_Final(md, &ctx);
  constexpr unsigned int len = SHA256_DIGEST_LENGTH;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return hex;
}

}  // namespace mlspace::launchspec
