#pragma once

#include <string>
#include <string_view>

namespace mlspace {

// Process-wide set of secret values (API keys, tokens, resolved
// secretKeyRefs). Every log line, event message, status message and error
// surfaced to a user passes through Redact(), so a secret that leaks into a
// message by accident is masked rather than published. Thread-safe.
class SecretRegistry {
 public:
  static SecretRegistry& Get();

  // Remembers `value` as secret. Values shorter than 4 bytes are ignored:
  // masking "1" or "ab" everywhere would garble ordinary text.
  void Add(std::string_view value);

  // Returns `text` with every registered secret replaced by "***".
  std::string Redact(std::string_view text) const;

  // For tests: forgets all values.
  void ClearForTesting();
};

inline std::string Redact(std::string_view text) { return SecretRegistry::Get().Redact(text); }

}  // namespace mlspace
