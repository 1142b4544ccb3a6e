#include "controller/cli/merge_patch.h"

namespace mlspace::cli {
namespace {

using nlohmann::json;

// Fields of `original` missing from `modified`, as nulls (nested); a field
// `current` no longer has needs no null.
json Deletions(const json& original, const json& modified, const json& current) {
  json out = json::object();
  if (!original.is_object() || !modified.is_object() || !current.is_object()) return out;
  for (auto it = original.begin(); it != original.end(); ++it) {
    auto c = current.find(it.key());
    if (c == current.end()) continue;
    auto m = modified.find(it.key());
    if (m == modified.end()) {
      out[it.key()] = nullptr;
    } else if (it->is_object() && m->is_object()) {
      json sub = Deletions(*it, *m, *c);
      if (!sub.empty()) out[it.key()] = std::move(sub);
    }
  }
  return out;
}

// What of `modified` `current` does not already hold.
json Additions(const json& modified, const json& current) {
  json out = json::object();
  for (auto it = modified.begin(); it != modified.end(); ++it) {
    auto c = current.is_object() ? current.find(it.key()) : current.end();
    if (current.is_object() && c != current.end() && *c == *it) continue;
    if (it->is_object() && current.is_object() && c != current.end() && c->is_object()) {
      json sub = Additions(*it, *c);
      if (!sub.empty()) out[it.key()] = std::move(sub);
      continue;
    }
    if (it->is_null() && (!current.is_object() || c == current.end())) continue;
    out[it.key()] = *it;
  }
  return out;
}

void Merge(json* into, const json& from) {
  for (auto it = from.begin(); it != from.end(); ++it) {
    auto i = into->find(it.key());
    if (i != into->end() && i->is_object() && it->is_object()) {
      Merge(&*i, *it);
    } else {
      (*into)[it.key()] = *it;
    }
  }
}

}  // namespace

json ThreeWayMergePatch(const json& original, const json& modified, const json& current) {
  json patch = Deletions(original, modified, current);
  json adds = modified.is_object() ? Additions(modified, current) : json::object();
  Merge(&patch, adds);
  return patch;
}

json ApplyMergePatch(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it->is_null()) {
      target.erase(it.key());
    } else {
      target[it.key()] =
          ApplyMergePatch(target.contains(it.key()) ? target[it.key()] : json(), *it);
    }
  }
  return target;
}

}  // namespace mlspace::cli
