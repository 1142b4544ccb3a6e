#pragma once

// Ephemeral SSH keys for multi-worker jobs (spec.ssh.ephemeralKeys): one
// ed25519 pair per submitted attempt, so the workers of a job reach each
// other's userspace sshd. Generated at submit, kept only in the request
// (env_variables, like a secret): never in the durable intent, the state
// store or a log, so a resend after an ambiguous submit simply gets a fresh
// pair.

#include <string>

#include "controller/core/result.h"

namespace mlspace::reconciler {

struct SshKeyPair {
  // The private key in OpenSSH's own format ("-----BEGIN OPENSSH PRIVATE
  // KEY-----", unencrypted), as ssh-keygen writes it; ends with a newline.
  std::string private_key;
  // "ssh-ed25519 AAAA... <comment>\n": one authorized_keys line.
  std::string public_line;
};

// A fresh pair from OpenSSL's CSPRNG. The private key is registered with
// SecretRegistry, so a message that quotes it is masked. Errors (OpenSSL
// failures) never contain key material. Thread-safe.
Result<SshKeyPair> GenerateSshKeyPair(const std::string& comment);

}  // namespace mlspace::reconciler
