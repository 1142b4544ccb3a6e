// base64 and SHA-256 through OpenSSL's libcrypto (no hand-written codecs).
#include <openssl/evp.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "controller/launchspec/internal.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::launchspec {

namespace {

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool IsBase64Char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

// Number of trailing '=' (0..2) that count as padding.
std::size_t PaddingOf(std::string_view text) {
  if (text.empty() || text.back() != '=') return 0;
  return text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
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
  for (std::size_t i = 0; i < text.size() - pad; ++i) {
    if (!IsBase64Char(text[i])) {
      return Base64Problem{i, text[i] == '=' ? std::string("padding '=' before the end")
                                             : "invalid character " + DescribeByte(text[i])};
    }
  }
  return std::nullopt;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (auto problem = FindBase64Problem(text)) {
    return KindError(ErrorKind::kBase64,
                     problem->reason + " at offset " + std::to_string(problem->offset));
  }
  if (text.size() > static_cast<std::size_t>(INT_MAX)) {
    return KindError(ErrorKind::kBase64,
                     "text of " + std::to_string(text.size()) + " characters is too long");
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), Bytes(text),
                                static_cast<int>(text.size()));
  if (n < 0) return KindError(ErrorKind::kBase64, "OpenSSL rejected the text");
  // EVP_DecodeBlock counts the zero bytes that padding stands for.
  out.resize(static_cast<std::size_t>(n) - PaddingOf(text));
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return std::string();  // only on allocation failure inside OpenSSL
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 0xf];
  }
  return hex;
}

}  // namespace mlspace::launchspec
