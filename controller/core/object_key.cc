#include "controller/core/object_key.h"

namespace mlspace {

bool IsDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return alnum(s.front()) && alnum(s.back());
}

Result<ObjectKey> ObjectKey::Parse(std::string_view text) {
  ObjectKey key;
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    key.name = std::string(text);
  } else {
    key.namespace_name = std::string(text.substr(0, slash));
    key.name = std::string(text.substr(slash + 1));
  }
  if (!IsDns1123Label(key.namespace_name)) {
    return InvalidArgumentError("object key \"" + std::string(text) +
                                "\": namespace is not a DNS-1123 label");
  }
  if (!IsDns1123Label(key.name)) {
    return InvalidArgumentError("object key \"" + std::string(text) +
                                "\": name is not a DNS-1123 label");
  }
  return key;
}

}  // namespace mlspace
