#pragma once

#include <compare>
#include <functional>
#include <string>
#include <string_view>

#include "controller/core/result.h"

namespace mlspace {

// namespace/name: the identity of an MLSpaceJob, and the workqueue key.
struct ObjectKey {
  std::string namespace_name = "default";
  std::string name;

  std::string ToString() const { return namespace_name + "/" + name; }

  // Parses "ns/name" or "name" (namespace "default"). Both parts must be
  // DNS-1123 labels.
  static Result<ObjectKey> Parse(std::string_view text);

  // clang-tidy 14 reports the synthesised comparison against literal 0 as
  // modernize-use-nullptr; a known false positive on defaulted <=>.
  auto operator<=>(const ObjectKey&) const = default;  // NOLINT(modernize-use-nullptr)
  bool operator==(const ObjectKey&) const = default;
};

// True for a DNS-1123 label: 1..63 chars of [a-z0-9-], alphanumeric at both
// ends. Kubernetes names of namespaces and of most objects follow it.
bool IsDns1123Label(std::string_view s);

}  // namespace mlspace

template <>
struct std::hash<mlspace::ObjectKey> {
  size_t operator()(const mlspace::ObjectKey& k) const noexcept {
    size_t h = std::hash<std::string>()(k.namespace_name);
    return h * 31 + std::hash<std::string>()(k.name);
  }
};
