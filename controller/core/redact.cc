#include "controller/core/redact.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace mlspace {
namespace {

struct Registry {
  mutable std::shared_mutex mu;
  std::vector<std::string> values;  // longest first, so overlaps mask fully
};

Registry& State() {
  static Registry r;
  return r;
}

constexpr size_t kMinSecretLength = 4;

}  // namespace

SecretRegistry& SecretRegistry::Get() {
  static SecretRegistry registry;
  return registry;
}

void SecretRegistry::Add(std::string_view value) {
  if (value.size() < kMinSecretLength) return;
  auto& s = State();
  std::unique_lock lock(s.mu);
  if (std::find(s.values.begin(), s.values.end(), value) != s.values.end()) return;
  s.values.emplace_back(value);
  std::sort(s.values.begin(), s.values.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string SecretRegistry::Redact(std::string_view text) const {
  std::string out(text);
  auto& s = State();
  std::shared_lock lock(s.mu);
  for (const auto& secret : s.values) {
    size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return out;
}

void SecretRegistry::ClearForTesting() {
  auto& s = State();
  std::unique_lock lock(s.mu);
  s.values.clear();
}

}  // namespace mlspace
