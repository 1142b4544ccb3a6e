#include "controller/reconciler/ssh_keys.h"

#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "controller/core/redact.h"
#include "controller/launchspec/launch_spec.h"

namespace mlspace::reconciler {

namespace {

// The SSH wire encoding (RFC 4251): uint32 big endian, string = length + bytes.
void PutU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

std::string PublicBlob(std::string_view pk) {
  std::string blob;
  PutString(blob, "ssh-ed25519");
  PutString(blob, pk);
  return blob;
}

}  // namespace

Result<SshKeyPair> GenerateSshKeyPair(const std::string& comment) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr), EVP_PKEY_CTX_free);
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0 || EVP_PKEY_keygen(ctx.get(), &raw) <= 0) {
    return InternalError("ssh key: OpenSSL could not generate an ed25519 key");
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);
  std::string seed(32, '\0');
  std::string pk(32, '\0');
  size_t seed_len = seed.size();
  size_t pk_len = pk.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(seed.data()),
                                   &seed_len) <= 0 ||
      EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pk.data()),
                                  &pk_len) <= 0 ||
      seed_len != 32 || pk_len != 32) {
    return InternalError("ssh key: OpenSSL could not export the ed25519 key");
  }
  const std::string blob = PublicBlob(pk);

  // openssh-key-v1 (OpenSSH's PROTOCOL.key), unencrypted: the check ints
  // only need to match each other.
  uint32_t check = 0;
  for (int i = 0; i < 4; ++i) check = (check << 8) | static_cast<unsigned char>(seed[i]);
  std::string section;
  PutU32(section, check);
  PutU32(section, check);
  PutString(section, "ssh-ed25519");
  PutString(section, pk);
  PutString(section, seed + pk);  // OpenSSH's 64-byte "private key"
  PutString(section, comment);
  for (char pad = 1; section.size() % 8 != 0; ++pad) section += pad;
  std::string body("openssh-key-v1\0", 15);
  PutString(body, "none");  // cipher
  PutString(body, "none");  // kdf
  PutString(body, "");      // kdf options
  PutU32(body, 1);          // number of keys
  PutString(body, blob);
  PutString(body, section);

  const std::string b64 = launchspec::Base64Encode(body);
  SshKeyPair pair;
  pair.private_key = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
  for (size_t at = 0; at < b64.size(); at += 70) pair.private_key += b64.substr(at, 70) + "\n";
  pair.private_key += "-----END OPENSSH PRIVATE KEY-----\n";
  pair.public_line = "ssh-ed25519 " + launchspec::Base64Encode(blob) + " " + comment + "\n";
  SecretRegistry::Get().Add(pair.private_key);
  SecretRegistry::Get().Add(b64);
  return pair;
}

}  // namespace mlspace::reconciler
