#include "controller/reconciler/marker.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace mlspace::reconciler {

bool IsValidInstance(std::string_view instance) { return IsDns1123Label(instance); }

std::string MakeMarker(std::string_view instance, const ObjectKey& key, std::string_view spec_hash,
                       int attempt) {
  std::string out(kMarkerPrefix);
  if (!instance.empty()) {
    out += instance;
    out += ':';
  }
  out += key.namespace_name + "/" + key.name + "/" + std::string(spec_hash.substr(0, 8)) + "/" +
         std::to_string(attempt);
  return out;
}

std::optional<ParsedMarker> ParseMarker(std::string_view m) {
  if (m.substr(0, kMarkerPrefix.size()) != kMarkerPrefix) return std::nullopt;
  m.remove_prefix(kMarkerPrefix.size());
  ParsedMarker out;
  // A ':' can only end the instance: labels never contain one, and the
  // legacy format has none before its first '/'.
  size_t colon = m.find(':');
  if (colon != std::string_view::npos && colon < m.find('/')) {
    std::string_view instance = m.substr(0, colon);
    if (!IsValidInstance(instance)) return std::nullopt;
    out.instance = std::string(instance);
    m.remove_prefix(colon + 1);
  }
  std::string_view parts[4];
  for (int i = 0; i < 3; ++i) {
    size_t slash = m.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    parts[i] = m.substr(0, slash);
    m.remove_prefix(slash + 1);
  }
  parts[3] = m;
  // Exactly what MakeMarker writes: up to 8 lowercase hex digits of the
  // spec hash and a canonical decimal attempt, so a text is one marker only.
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!IsDns1123Label(parts[0]) || !IsDns1123Label(parts[1]) || parts[2].empty() ||
      parts[2].size() > 8 || !std::all_of(parts[2].begin(), parts[2].end(), hex) ||
      parts[3].empty() || !std::all_of(parts[3].begin(), parts[3].end(), digit) ||
      (parts[3].size() > 1 && parts[3][0] == '0')) {
    return std::nullopt;
  }
  out.key = ObjectKey{std::string(parts[0]), std::string(parts[1])};
  out.hash8 = std::string(parts[2]);
  auto [ptr, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), out.attempt);
  if (ec != std::errc() || ptr != parts[3].data() + parts[3].size() || out.attempt < 0) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> FindMarker(std::string_view desc) {
  size_t pos = 0;
  while ((pos = desc.find(kMarkerPrefix, pos)) != std::string_view::npos) {
    if (pos == 0 || std::isspace(static_cast<unsigned char>(desc[pos - 1]))) {
      size_t end = pos;
      while (end < desc.size() && !std::isspace(static_cast<unsigned char>(desc[end]))) ++end;
      std::string_view token = desc.substr(pos, end - pos);
      if (ParseMarker(token)) return std::string(token);
    }
    pos += kMarkerPrefix.size();
  }
  return std::nullopt;
}

}  // namespace mlspace::reconciler
