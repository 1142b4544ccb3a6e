#include "controller/apiserver/ssa.h"

#include <algorithm>
#include <map>
#include <utility>

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

bool IsServerMetadata(const std::string& key) {
  return key == "name" || key == "namespace" || key == "uid" || key == "resourceVersion" ||
         key == "generation" || key == "creationTimestamp" || key == "managedFields" ||
         key == "selfLink" || key == "deletionTimestamp" || key == "deletionGracePeriodSeconds";
}

void CollectLeaves(const json& v, FieldPath& path, FieldSet& out) {
  if (!v.is_object() || v.empty()) {
    out.insert(path);
    return;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.value().is_null()) continue;  // null: "not set" in an apply configuration
    path.push_back(it.key());
    CollectLeaves(it.value(), path, out);
    path.pop_back();
  }
}

const json* At(const json& root, const FieldPath& path) {
  const json* v = &root;
  for (const auto& seg : path) {
    if (!v->is_object()) return nullptr;
    auto it = v->find(seg);
    if (it == v->end()) return nullptr;
    v = &*it;
  }
  return v;
}

// Erases the field and then every ancestor it leaves empty (a map whose
// last applied key went, e.g. `labels: {}`), as apply does.
void EraseAt(json& root, const FieldPath& path) {
  if (path.empty()) return;
  std::vector<json*> chain{&root};
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    json* v = chain.back();
    if (!v->is_object()) return;
    auto it = v->find(path[i]);
    if (it == v->end()) return;
    chain.push_back(&*it);
  }
  if (!chain.back()->is_object()) return;
  chain.back()->erase(path.back());
  for (size_t i = chain.size() - 1; i > 0 && chain[i]->empty(); --i) {
    chain[i - 1]->erase(path[i - 1]);
  }
}

bool IsPrefix(const FieldPath& a, const FieldPath& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

bool Overlaps(const FieldPath& a, const FieldPath& b) { return IsPrefix(a, b) || IsPrefix(b, a); }

// Members of `config` replace or extend `target`; objects merge, lists and
// scalars replace, nulls are skipped (apply has no "delete" marker: a field
// goes when its manager stops applying it).
void MergeInto(json& target, const json& config) {
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (it.value().is_null()) continue;
    auto t = target.find(it.key());
    if (it.value().is_object() && t != target.end() && t->is_object()) {
      MergeInto(*t, it.value());
    } else {
      target[it.key()] = it.value();
    }
  }
}

std::string PrintManager(const ManagedEntry& e) {
  std::string s = json(e.manager).dump(-1, ' ', false, json::error_handler_t::replace);
  if (e.operation == "Update") s += " using " + e.api_version;
  return s;
}

bool Owned(const std::vector<ManagedEntry>& managed, const FieldPath& p, const std::string& skip) {
  for (const auto& e : managed) {
    if (e.manager == skip && e.operation == "Apply") continue;
    for (const auto& q : e.fields) {
      if (Overlaps(p, q)) return true;
    }
  }
  return false;
}

}  // namespace

std::string FieldPathString(const FieldPath& path) {
  std::string s;
  for (const auto& seg : path) s += "." + seg;
  return s;
}

FieldSet LeafFields(const json& object) {
  FieldSet out;
  if (!object.is_object()) return out;
  FieldPath path;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& k = it.key();
    if (k == "apiVersion" || k == "kind" || k == "status" || it.value().is_null()) continue;
    path.assign(1, k);
    if (k == "metadata" && it.value().is_object()) {
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (IsServerMetadata(m.key()) || m.value().is_null()) continue;
        path.push_back(m.key());
        CollectLeaves(m.value(), path, out);
        path.pop_back();
      }
      continue;
    }
    CollectLeaves(it.value(), path, out);
  }
  return out;
}

json ToFieldsV1(const FieldSet& fields) {
  json out = json::object();
  for (const auto& p : fields) {
    json* node = &out;
    for (const auto& seg : p) node = &(*node)["f:" + seg];
    if (node->is_null()) *node = json::object();
  }
  return out;
}

namespace {

void FromFieldsV1Node(const json& node, FieldPath& path, FieldSet& out) {
  bool has_child = false, atomic = false;
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string& k = it.key();
      if (k.rfind("f:", 0) == 0) {
        has_child = true;
      } else if (k.rfind("k:", 0) == 0 || k.rfind("v:", 0) == 0 || k.rfind("i:", 0) == 0) {
        atomic = true;
      }
    }
  }
  if (atomic || !has_child) {
    if (!path.empty()) out.insert(path);
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it.key().rfind("f:", 0) != 0) continue;
    path.push_back(it.key().substr(2));
    FromFieldsV1Node(it.value(), path, out);
    path.pop_back();
  }
}

}  // namespace

FieldSet FromFieldsV1(const json& fields_v1) {
  FieldSet out;
  FieldPath path;
  FromFieldsV1Node(fields_v1, path, out);
  return out;
}

Result<std::vector<ManagedEntry>> ParseManagedFields(const json& managed_fields) {
  std::vector<ManagedEntry> out;
  if (managed_fields.is_null()) return out;
  if (!managed_fields.is_array()) {
    return InvalidArgumentError("metadata.managedFields: must be a list");
  }
  for (size_t i = 0; i < managed_fields.size(); ++i) {
    const json& item = managed_fields[i];
    std::string where = "metadata.managedFields[" + std::to_string(i) + "]";
    if (!item.is_object()) return InvalidArgumentError(where + ": must be an object");
    ManagedEntry e;
    auto str = [&](const char* key, std::string& dst) -> Status {
      auto it = item.find(key);
      if (it == item.end() || it->is_null()) return Status();
      if (!it->is_string()) return InvalidArgumentError(where + "." + key + ": must be a string");
      dst = it->get<std::string>();
      return Status();
    };
    MLSPACE_RETURN_IF_ERROR(str("manager", e.manager));
    MLSPACE_RETURN_IF_ERROR(str("operation", e.operation));
    MLSPACE_RETURN_IF_ERROR(str("apiVersion", e.api_version));
    MLSPACE_RETURN_IF_ERROR(str("time", e.time));
    if (e.operation != "Apply" && e.operation != "Update") {
      return InvalidArgumentError(where + ".operation: must be Apply or Update");
    }
    std::string type;
    MLSPACE_RETURN_IF_ERROR(str("fieldsType", type));
    if (!type.empty() && type != "FieldsV1") {
      return InvalidArgumentError(where + ".fieldsType: must be FieldsV1");
    }
    if (auto f = item.find("fieldsV1"); f != item.end() && !f->is_null()) {
      if (!f->is_object()) return InvalidArgumentError(where + ".fieldsV1: must be an object");
      e.fields = FromFieldsV1(*f);
    }
    out.push_back(std::move(e));
  }
  return out;
}

json ManagedFieldsToJson(const std::vector<ManagedEntry>& entries) {
  json out = json::array();
  for (const auto& e : entries) {
    json item{{"manager", e.manager},
              {"operation", e.operation},
              {"apiVersion", e.api_version},
              {"fieldsType", "FieldsV1"},
              {"fieldsV1", ToFieldsV1(e.fields)}};
    if (!e.time.empty()) item["time"] = e.time;
    out.push_back(std::move(item));
  }
  return out;
}

ApplyOutcome ServerSideApply(const json* live, const std::vector<ManagedEntry>& managed,
                             const json& config, const std::string& manager, bool force,
                             const std::string& api_version, const std::string& now) {
  ApplyOutcome out;
  const FieldSet applied = LeafFields(config);
  std::vector<ManagedEntry> entries = managed;

  // Conflicts: a field another manager owns whose value would change.
  if (live) {
    for (auto& e : entries) {
      if (e.manager == manager) continue;
      std::vector<FieldPath> taken;
      for (const auto& q : e.fields) {
        for (const auto& p : applied) {
          if (!Overlaps(p, q)) continue;
          const FieldPath& at = p.size() <= q.size() ? p : q;
          const json* mine = At(config, at);
          const json* theirs = At(*live, at);
          if (mine && theirs && *mine == *theirs) continue;
          if (!mine && !theirs) continue;
          out.conflicts.push_back({PrintManager(e), q});
          taken.push_back(q);
          break;
        }
      }
      if (force) {
        for (const auto& q : taken) e.fields.erase(q);
      }
    }
    if (force) out.conflicts.clear();
    if (!out.conflicts.empty()) return out;
  }

  json object = live ? *live : json::object();
  // Fields this manager applied before and dropped now go, unless shared.
  for (const auto& e : entries) {
    if (e.manager != manager || e.operation != "Apply") continue;
    for (const auto& p : e.fields) {
      if (applied.count(p) || Owned(entries, p, manager)) continue;
      bool still_applied = false;
      for (const auto& a : applied) still_applied = still_applied || IsPrefix(p, a);
      if (!still_applied) EraseAt(object, p);
    }
  }
  json body = config;
  body.erase("status");
  MergeInto(object, body);

  bool found = false;
  for (auto& e : entries) {
    if (e.manager == manager && e.operation == "Apply") {
      e.fields = applied;
      e.time = now;
      e.api_version = api_version;
      found = true;
    }
  }
  if (!found) entries.push_back({manager, "Apply", api_version, now, applied});
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [](const ManagedEntry& e) { return e.fields.empty(); }),
                entries.end());
  out.object = std::move(object);
  out.managed = std::move(entries);
  return out;
}

std::string ConflictMessage(const std::vector<ApplyConflict>& conflicts) {
  if (conflicts.size() == 1) {
    return "Apply failed with 1 conflict: conflict with " + conflicts[0].manager + ": " +
           FieldPathString(conflicts[0].path);
  }
  std::map<std::string, std::vector<std::string>> by_manager;
  for (const auto& c : conflicts) by_manager[c.manager].push_back(FieldPathString(c.path));
  std::string msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
  bool first = true;
  for (const auto& [m, paths] : by_manager) {
    if (!first) msg += "\n";
    first = false;
    msg += "conflicts with " + m;
    for (const auto& p : paths) msg += "\n- " + p;
  }
  return msg;
}

void TrackUpdate(std::vector<ManagedEntry>& managed, const json& before, const json& after,
                 const std::string& manager, const std::string& api_version,
                 const std::string& now) {
  const FieldSet old_fields = LeafFields(before);
  const FieldSet new_fields = LeafFields(after);
  FieldSet touched, owned_now;
  for (const auto& p : new_fields) {
    const json* was = At(before, p);
    if (!was || *was != *At(after, p)) {
      touched.insert(p);
      owned_now.insert(p);
    }
  }
  for (const auto& p : old_fields) {
    if (!new_fields.count(p)) touched.insert(p);
  }
  if (touched.empty()) return;
  for (auto& e : managed) {
    if (e.manager == manager && e.operation == "Update") continue;
    for (auto it = e.fields.begin(); it != e.fields.end();) {
      bool hit = false;
      for (const auto& t : touched) hit = hit || Overlaps(*it, t);
      it = hit ? e.fields.erase(it) : std::next(it);
    }
  }
  bool found = false;
  for (auto& e : managed) {
    if (e.manager == manager && e.operation == "Update") {
      for (auto it = e.fields.begin(); it != e.fields.end();) {
        it = new_fields.count(*it) ? std::next(it) : e.fields.erase(it);
      }
      e.fields.insert(owned_now.begin(), owned_now.end());
      e.time = now;
      found = true;
    }
  }
  if (!found && !owned_now.empty()) {
    managed.push_back({manager, "Update", api_version, now, owned_now});
  }
  managed.erase(std::remove_if(managed.begin(), managed.end(),
                               [](const ManagedEntry& e) { return e.fields.empty(); }),
                managed.end());
}

}  // namespace mlspace::apiserver
