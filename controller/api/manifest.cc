#include "controller/api/manifest.h"
#include "controller/schema/validator.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

#include "controller/api/codec.h"
#include "controller/api/crd.h"
#include "controller/api/yaml_json.h"

namespace mlspace::api {

using internal::Mark;
using nlohmann::json;

namespace {

// Kubernetes objects are limited to ~1.5 MB; a manifest far beyond that is
// a mistake (or an attack on the parser), not a job.
constexpr size_t kMaxFileBytes = 8 << 20;

// ObjectMeta fields a manifest may carry (kubectl get -o yaml output applied
// back). Only name, namespace, labels and annotations have meaning here.
const std::set<std::string>& KnownMetadataFields() {
  static const std::set<std::string> fields = {"name",
                                               "namespace",
                                               "labels",
                                               "annotations",
                                               "uid",
                                               "resourceVersion",
                                               "generation",
                                               "creationTimestamp",
                                               "deletionTimestamp",
                                               "deletionGracePeriodSeconds",
                                               "finalizers",
                                               "ownerReferences",
                                               "managedFields",
                                               "selfLink",
                                               "generateName"};
  return fields;
}

// Case-insensitive Levenshtein distance, stopping early past `limit`
// (the strings compared here are a few dozen bytes at most).
size_t EditDistance(std::string_view a, std::string_view b, size_t limit) {
  if (a.size() > b.size() + limit || b.size() > a.size() + limit) return limit + 1;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// A header a typo away from ours (`kind: MLSpaceJb`, `mlspce.io/v1alpha1`,
// `mlspace.io` without a version). Such a document, when it also names an
// object and has a spec, was meant for us: reading it as "not ours" would
// turn a one-character typo into the removal of a running job.
bool NearMissOfOurs(const std::string& api_version, const std::string& kind) {
  constexpr size_t kMaxEdits = 2;
  std::string_view group = api_version;
  if (auto slash = group.find('/'); slash != std::string_view::npos) {
    group = group.substr(0, slash);
  }
  return EditDistance(group, kGroup, kMaxEdits) <= kMaxEdits ||
         EditDistance(kind, kKind, kMaxEdits) <= kMaxEdits;
}

// What exec(2) takes (docs/resource.md, "Limits"). Linux refuses one
// argument or environment string over MAX_ARG_STRLEN (131,072 bytes with
// its NUL) and a whole argv+envp over ARG_MAX (typically 2 MiB). The
// command and env also travel to the launcher as base64 flags (4/3 of the
// size), so the total stays far below ARG_MAX.
constexpr size_t kMaxArgBytes = 128 << 10;      // one string, NUL included
constexpr size_t kMaxCommandBytes = 512 << 10;  // command + env, NULs included

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF included).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
  }
  if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
  if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogate
  if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
  if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // past U+10FFFF
  return n;
}

// Byte offset of the first invalid UTF-8 sequence, npos when none.
size_t FirstInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool HasExtension(std::string_view path) {
  auto dot = path.rfind('.');
  if (dot == std::string_view::npos) return false;
  std::string ext(path.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == "yaml" || ext == "yml" || ext == "json";
}

class DocumentParser {
 public:
  DocumentParser(std::string_view path, const std::map<std::string, Mark>* marks)
      : path_(path), marks_(marks) {}

  std::string Where(const std::string& field) const {
    Mark m = marks_ ? internal::FindMark(*marks_, field) : Mark{};
    std::string out(path_);
    if (m.line > 0) out += ":" + std::to_string(m.line) + ":" + std::to_string(m.column);
    return out + ": ";
  }

  void Error(const std::string& field, const std::string& message) {
    doc_.errors.push_back(Where(field) + (field.empty() ? "" : field + ": ") + message);
  }
  void UnknownField(const std::string& field) {
    doc_.errors.push_back(Where(field) + "unknown field \"" + field + "\"");
  }

  // Scalars of spec with the CRD's type, whatever else is wrong.
  static json ReadableSpec(const json& obj) {
    auto spec = obj.find("spec");
    if (spec == obj.end() || !spec->is_object()) return nullptr;
    static const char* const kStrings[] = {"region", "image",      "instanceType",  "type",
                                           "queue",  "allocation", "priorityClass", "workingDir"};
    json out = json::object();
    for (const char* k : kStrings) {
      if (auto it = spec->find(k); it != spec->end() && it->is_string()) out[k] = *it;
    }
    for (const char* k : {"workers", "processesPerWorker"}) {
      if (auto it = spec->find(k); it != spec->end() && it->is_number_integer()) out[k] = *it;
    }
    return out.empty() ? json(nullptr) : out;
  }

  ManifestDocument Parse(const json& obj) {
    doc_.kind = ManifestDocument::Kind::kInvalid;
    doc_.reason = kReasonInvalidSpec;
    if (!obj.is_object()) {
      Error("", "a manifest must be a mapping, got " + schema::JsonTypeName(obj));
      return std::move(doc_);
    }
    auto api_version = obj.find("apiVersion");
    auto kind = obj.find("kind");
    // A mapping with neither apiVersion nor kind is not a Kubernetes object
    // (a Helm values file, a config snippet): nothing here was meant for us.
    // One that has metadata or spec is a manifest missing its header.
    if (api_version == obj.end() && kind == obj.end() && !obj.contains("metadata") &&
        !obj.contains("spec")) {
      doc_.kind = ManifestDocument::Kind::kIgnored;
      doc_.warning = Where("") + "ignoring a document without apiVersion and kind: only " +
                     kApiVersion + " " + kKind + " is reconciled";
      return std::move(doc_);
    }
    if (api_version == obj.end() || !api_version->is_string() ||
        api_version->get_ref<const std::string&>().empty()) {
      Error("apiVersion", api_version == obj.end() ? "is required" : "must be a non-empty string");
    }
    if (kind == obj.end() || !kind->is_string() || kind->get_ref<const std::string&>().empty()) {
      Error("kind", kind == obj.end() ? "is required" : "must be a non-empty string");
    }
    if (!doc_.errors.empty()) return std::move(doc_);
    const auto& av = api_version->get_ref<const std::string&>();
    const auto& k = kind->get_ref<const std::string&>();
    if (av != kApiVersion || k != kKind) {
      // Our group with another version or kind was meant for us (a typo, a
      // version this controller does not serve): an invalid declaration
      // that keeps its object (never a removal), not an ignored document.
      const bool our_group = av.rfind(std::string(kGroup) + "/", 0) == 0;
      if (our_group || (obj.contains("spec") && HasMetadataName(obj) && NearMissOfOurs(av, k))) {
        if (av != kApiVersion) {
          Error("apiVersion", "\"" + av + "\" is not served; use " + kApiVersion);
        }
        if (k != kKind) {
          Error("kind", "\"" + k + "\" is not a kind of " + kGroup + "; expected " + kKind);
        }
        ObjectMeta meta;
        CheckMetadata(obj, meta);
        return std::move(doc_);
      }
      std::string name;
      if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
        if (auto n = md->find("name"); n != md->end() && n->is_string()) {
          name = " \"" + n->get<std::string>() + "\"";
        }
      }
      doc_.kind = ManifestDocument::Kind::kIgnored;
      doc_.warning = Where("") + "ignoring " + av + " " + k + name + ": only " + kApiVersion + " " +
                     kKind + " is reconciled";
      return std::move(doc_);
    }

    MLSpaceJob job;
    job.source_path = std::string(path_);
    CheckMetadata(obj, job.metadata);
    doc_.readable_spec = ReadableSpec(obj);

    auto validator = CrdValidator();
    if (!validator.ok()) {
      Error("", "embedded CRD: " + validator.status().message());
      return std::move(doc_);
    }
    schema::ValidateOptions opts;
    opts.reject_unknown_fields = true;
    opts.max_errors = 50;
    for (const auto& e : (*validator)->Validate(obj, kCrdSchemaPointer, opts)) {
      if (e.kind == schema::ErrorKind::kUnknownField) {
        UnknownField(e.path);
      } else {
        Error(e.path, e.message);
      }
    }
    if (!doc_.errors.empty()) return std::move(doc_);
    CheckRunnable(obj);
    if (!doc_.errors.empty()) return std::move(doc_);

    json spec = obj.at("spec");
    Status st = (*validator)->ApplyDefaults(spec, kCrdSpecSchemaPointer);
    if (!st.ok()) {
      Error("spec", st.message());
      return std::move(doc_);
    }
    auto parsed = SpecFromJson(spec);
    if (!parsed.ok()) {
      doc_.errors.push_back(Where("spec") + parsed.status().message());
      return std::move(doc_);
    }
    job.spec = std::move(parsed).value();
    job.spec_hash = SpecHash(job.spec);
    doc_.kind = ManifestDocument::Kind::kJob;
    doc_.reason.clear();
    doc_.readable_spec = nullptr;
    doc_.job = std::move(job);
    return std::move(doc_);
  }

 private:
  // Every string (keys too) must be UTF-8: the object is stored and sent
  // as JSON, which cannot carry anything else.
  void CheckUtf8(const json& v, const std::string& path) {
    if (v.is_string()) {
      size_t at = FirstInvalidUtf8(v.get_ref<const std::string&>());
      if (at != std::string_view::npos) {
        Error(path, "invalid UTF-8 at byte " + std::to_string(at));
      }
    } else if (v.is_object()) {
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string child = path.empty() ? it.key() : path + "." + it.key();
        if (FirstInvalidUtf8(it.key()) != std::string_view::npos) {
          Error(path, "a field name is not valid UTF-8");
        } else {
          CheckUtf8(*it, child);
        }
      }
    } else if (v.is_array()) {
      for (size_t i = 0; i < v.size(); ++i) CheckUtf8(v[i], path + "[" + std::to_string(i) + "]");
    }
  }

  // One string that becomes an exec(2) argument or environment entry:
  // NUL would cut it short (the launcher refuses it at run time, burning
  // backoffLimit), and one over MAX_ARG_STRLEN fails with E2BIG.
  size_t CheckExecString(const json& v, const std::string& path, size_t extra = 0) {
    if (!v.is_string()) return 0;
    const auto& s = v.get_ref<const std::string&>();
    if (auto nul = s.find('\0'); nul != std::string::npos) {
      Error(path,
            "contains a NUL byte at offset " + std::to_string(nul) + " (exec cannot pass it)");
    }
    size_t bytes = s.size() + extra + 1;
    if (bytes > kMaxArgBytes) {
      Error(path, "is " + std::to_string(s.size()) +
                      " bytes; one argument or environment entry "
                      "is limited to " +
                      std::to_string(kMaxArgBytes - 1) + " bytes");
    }
    return bytes;
  }

  // What can reach the launcher must be able to run there: caught here, at
  // the manifest, rather than after submission.
  void CheckRunnable(const json& obj) {
    CheckUtf8(obj, "");
    const json& spec = obj.at("spec");
    if (!spec.is_object()) return;
    size_t total = 0;
    for (const char* f : {"image", "workingDir", "launcherPath"}) {
      if (auto it = spec.find(f); it != spec.end()) CheckExecString(*it, "spec." + std::string(f));
    }
    if (auto cmd = spec.find("command"); cmd != spec.end() && cmd->is_array()) {
      for (size_t i = 0; i < cmd->size(); ++i) {
        total += CheckExecString((*cmd)[i], "spec.command[" + std::to_string(i) + "]");
      }
    }
    if (auto env = spec.find("env"); env != spec.end() && env->is_array()) {
      for (size_t i = 0; i < env->size(); ++i) {
        const json& e = (*env)[i];
        if (!e.is_object()) continue;
        std::string p = "spec.env[" + std::to_string(i) + "]";
        size_t name_bytes = 0;
        if (auto n = e.find("name"); n != e.end()) name_bytes = CheckExecString(*n, p + ".name");
        // "name=value": the value's entry counts the name and '='.
        if (auto v = e.find("value"); v != e.end()) {
          total += CheckExecString(*v, p + ".value", name_bytes);
        } else {
          total += name_bytes;
        }
      }
    }
    if (total > kMaxCommandBytes) {
      Error("spec.command", "command and env total " + std::to_string(total) + " bytes; at most " +
                                std::to_string(kMaxCommandBytes) +
                                " fit the launch flags and exec(2)");
    }
    CheckFiles(spec);
  }

  // spec.files: what the launcher would refuse (exit 210) is refused here,
  // naming the field. Where an absolute path leads is the launcher's call
  // (it knows the home directory).
  void CheckFiles(const json& spec) {
    // Secret file contents ride in MLSPACE_SECRET_FILE_<i>: not a job's own.
    if (auto env = spec.find("env"); env != spec.end() && env->is_array()) {
      for (size_t i = 0; i < env->size(); ++i) {
        const json& e = (*env)[i];
        if (!e.is_object()) continue;
        auto n = e.find("name");
        if (n != e.end() && n->is_string() &&
            n->get_ref<const std::string&>().starts_with(kSecretFileEnvPrefix)) {
          Error("spec.env[" + std::to_string(i) + "].name", std::string("names starting with ") +
                                                                kSecretFileEnvPrefix +
                                                                " are reserved for spec.files");
        }
      }
    }
    auto files = spec.find("files");
    if (files == spec.end() || !files->is_array()) return;
    size_t total = 0;
    std::set<std::string> paths;
    for (size_t i = 0; i < files->size(); ++i) {
      const json& f = (*files)[i];
      if (!f.is_object()) continue;
      const std::string p = "spec.files[" + std::to_string(i) + "]";
      if (auto path = f.find("path"); path != f.end() && path->is_string()) {
        const auto& text = path->get_ref<const std::string&>();
        if (text.find('\0') != std::string::npos) Error(p + ".path", "contains a NUL byte");
        bool dot_dot = false;
        for (size_t b = 0; b <= text.size();) {
          size_t e = text.find('/', b);
          if (e == std::string::npos) e = text.size();
          dot_dot |= text.compare(b, e - b, "..") == 0 && e - b == 2;
          b = e + 1;
        }
        if (dot_dot) Error(p + ".path", "must not contain a \"..\" component");
        if (!text.empty() && text.back() == '/') Error(p + ".path", "names a directory");
        if (text.starts_with("~") && text != "~" && !text.starts_with("~/")) {
          Error(p + ".path", "only \"~/...\" (the user's home) is supported");
        }
        if (text == "~" || text == "." || text == "/") Error(p + ".path", "names a directory");
        if (!paths.insert(text).second) Error(p + ".path", "\"" + text + "\" is given twice");
      }
      if (auto c = f.find("content"); c != f.end() && c->is_string()) {
        const size_t n = c->get_ref<const std::string&>().size();
        if (n > kMaxSpecFileBytes) {
          Error(p + ".content", "is " + std::to_string(n) + " bytes; a file holds at most " +
                                    std::to_string(kMaxSpecFileBytes));
        }
        total += n;
      }
    }
    if (total > kMaxSpecFilesTotalBytes) {
      Error("spec.files", "contents total " + std::to_string(total) + " bytes; at most " +
                              std::to_string(kMaxSpecFilesTotalBytes));
    }
  }

  static bool HasMetadataName(const json& obj) {
    auto md = obj.find("metadata");
    return md != obj.end() && md->is_object() && md->contains("name");
  }

  void StringMap(const json& md, const char* field, std::map<std::string, std::string>& out) {
    auto it = md.find(field);
    if (it == md.end() || it->is_null()) return;
    std::string path = std::string("metadata.") + field;
    if (!it->is_object()) {
      Error(path, "must be of type object, got " + schema::JsonTypeName(*it));
      return;
    }
    for (auto kv = it->begin(); kv != it->end(); ++kv) {
      if (kv.key().empty()) {
        Error(path, "keys must not be empty");
      } else if (!kv->is_string()) {
        // kubectl rejects `team: 1`; quoting is the fix.
        Error(path + "." + kv.key(), "must be of type string, got " + schema::JsonTypeName(*kv));
      } else {
        out[kv.key()] = kv->get<std::string>();
      }
    }
  }

  void CheckMetadata(const json& obj, ObjectMeta& meta) {
    auto md = obj.find("metadata");
    if (md == obj.end()) {
      Error("metadata", "is required");
      return;
    }
    if (!md->is_object()) {
      Error("metadata", "must be of type object, got " + schema::JsonTypeName(*md));
      return;
    }
    for (auto it = md->begin(); it != md->end(); ++it) {
      if (!KnownMetadataFields().count(it.key())) UnknownField("metadata." + it.key());
    }
    auto name = md->find("name");
    bool key_ok = true;
    if (name == md->end()) {
      key_ok = false;
      Error("metadata.name", md->contains("generateName")
                                 ? "is required (generateName is not supported in manifests)"
                                 : "is required");
    } else if (!name->is_string()) {
      key_ok = false;
      Error("metadata.name", "must be of type string, got " + schema::JsonTypeName(*name));
    } else if (!IsDns1123Label(name->get_ref<const std::string&>())) {
      key_ok = false;
      Error("metadata.name",
            "\"" + name->get<std::string>() +
                "\" is not a DNS-1123 label (at most 63 lowercase letters, digits or '-', "
                "starting and ending with a letter or digit)");
    } else {
      meta.name = name->get<std::string>();
    }
    if (auto ns = md->find("namespace"); ns != md->end() && !ns->is_null()) {
      if (!ns->is_string()) {
        key_ok = false;
        Error("metadata.namespace", "must be of type string, got " + schema::JsonTypeName(*ns));
      } else if (!IsDns1123Label(ns->get_ref<const std::string&>())) {
        key_ok = false;
        Error("metadata.namespace", "\"" + ns->get<std::string>() + "\" is not a DNS-1123 label");
      } else {
        meta.namespace_name = ns->get<std::string>();
      }
    }
    StringMap(*md, "labels", meta.labels);
    StringMap(*md, "annotations", meta.annotations);
    if (key_ok) doc_.key = ObjectKey{meta.namespace_name, meta.name};
  }

  std::string_view path_;
  const std::map<std::string, Mark>* marks_;
  ManifestDocument doc_;
};

}  // namespace

std::string ManifestDocument::Message() const {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e;
  }
  return out;
}

static ParseResult ParseManifestFileUnescaped(std::string_view path, std::string_view content) {
  ParseResult result;
  result.path = std::string(path);
  auto whole_file = [&](ManifestDocument::Kind kind, std::string text) {
    ManifestDocument d;
    d.kind = kind;
    if (kind == ManifestDocument::Kind::kIgnored) {
      d.warning = std::move(text);
    } else {
      d.reason = kReasonParseError;
      d.errors.push_back(std::move(text));
    }
    result.documents.push_back(std::move(d));
    return result;
  };
  if (!HasExtension(path)) {
    return whole_file(ManifestDocument::Kind::kIgnored,
                      std::string(path) + ": ignoring file: not .yaml, .yml or .json");
  }
  if (content.size() > kMaxFileBytes) {
    return whole_file(ManifestDocument::Kind::kInvalid,
                      std::string(path) + ": file is " + std::to_string(content.size()) +
                          " bytes, larger than the " + std::to_string(kMaxFileBytes >> 20) +
                          " MiB limit");
  }
  auto docs = internal::ParseYamlStream(content);
  if (!docs.ok()) {
    const std::string m = docs.status().message();
    // Messages with a position start "line:col: ".
    bool positioned = !m.empty() && std::isdigit(static_cast<unsigned char>(m[0]));
    return whole_file(ManifestDocument::Kind::kInvalid,
                      std::string(path) + (positioned ? ":" : ": ") + m);
  }
  int index = 0;
  for (const auto& d : *docs) {
    if (d.value.is_null()) {  // "---" with nothing after it, comments only
      ++index;
      continue;
    }
    DocumentParser p(path, &d.marks);
    ManifestDocument doc = p.Parse(d.value);
    doc.index = index++;
    doc.line = d.start.line;
    result.documents.push_back(std::move(doc));
  }
  return result;
}

ManifestDocument ParseObjectDocument(const json& object, std::string_view source) {
  DocumentParser p(source, nullptr);
  return p.Parse(object);
}

Result<MLSpaceJob> ParseObject(const json& object, std::string_view source) {
  ManifestDocument doc = ParseObjectDocument(object, source);
  switch (doc.kind) {
    case ManifestDocument::Kind::kJob:
      return std::move(*doc.job);
    case ManifestDocument::Kind::kIgnored:
      return InvalidArgumentError(doc.warning);
    case ManifestDocument::Kind::kInvalid:
      break;
  }
  return InvalidArgumentError(doc.Message());
}

ManifestSet Assemble(const std::vector<std::shared_ptr<const ParseResult>>& files) {
  ManifestSet set;
  struct Occurrence {
    const ParseResult* file;
    const ManifestDocument* doc;
  };
  std::vector<const ParseResult*> sorted;
  for (const auto& f : files) {
    if (f) sorted.push_back(f.get());
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const ParseResult* a, const ParseResult* b) { return a->path < b->path; });
  set.files = sorted.size();
  std::map<ObjectKey, std::vector<Occurrence>> by_key;
  for (const ParseResult* f : sorted) {
    for (const auto& d : f->documents) {
      switch (d.kind) {
        case ManifestDocument::Kind::kIgnored:
          set.warnings.push_back(d.warning);
          break;
        case ManifestDocument::Kind::kJob:
          by_key[d.job->key()].push_back({f, &d});
          break;
        case ManifestDocument::Kind::kInvalid:
          if (d.key) {
            by_key[*d.key].push_back({f, &d});
          } else {
            set.invalid.push_back({std::nullopt, f->path, d.reason, d.Message()});
          }
          break;
      }
    }
  }
  auto where = [](const Occurrence& o) {
    return o.file->path + (o.doc->line > 0 ? ":" + std::to_string(o.doc->line) : "");
  };
  for (auto& [key, occ] : by_key) {
    if (occ.size() == 1) {
      const auto& d = *occ.front().doc;
      if (d.kind == ManifestDocument::Kind::kJob) {
        set.jobs.push_back(*d.job);
      } else {
        set.invalid.push_back({key, occ.front().file->path, d.reason, d.Message()});
      }
      continue;
    }
    for (size_t i = 0; i < occ.size(); ++i) {
      std::string others;
      for (size_t j = 0; j < occ.size(); ++j) {
        if (j == i) continue;
        others += (others.empty() ? "" : ", ") + where(occ[j]);
      }
      set.invalid.push_back({key, occ[i].file->path, kReasonDuplicateName,
                             where(occ[i]) + ": " + key.ToString() + " is also declared in " +
                                 others + "; none of the copies is applied"});
    }
  }
  std::stable_sort(set.invalid.begin(), set.invalid.end(),
                   [](const InvalidManifest& a, const InvalidManifest& b) {
                     return a.source_path < b.source_path;
                   });
  return set;
}

Result<ManifestSet> ManifestCache::Update(const std::vector<ManifestFile>& files,
                                          const Reader& reader) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, Entry> next;
  std::vector<std::shared_ptr<const ParseResult>> results;
  results.reserve(files.size());
  size_t parsed = 0;
  for (const auto& f : files) {
    auto old = entries_.find(f.path);
    if (old != entries_.end() && old->second.blob_id == f.blob_id) {
      next[f.path] = old->second;
    } else {
      auto content = reader(f.blob_id);
      std::shared_ptr<const ParseResult> r;
      if (!content.ok() && content.status().code() == StatusCode::kResourceExhausted) {
        // Too large to read (the reader judged the size without loading it):
        // this file is invalid, the source is fine.
        ParseResult big;
        big.path = f.path;
        ManifestDocument d;
        d.kind = ManifestDocument::Kind::kInvalid;
        d.reason = kReasonParseError;
        d.errors.push_back(
            internal::EscapeControlChars(f.path + ": " + content.status().message()));
        big.documents.push_back(std::move(d));
        r = std::make_shared<const ParseResult>(std::move(big));
      } else if (!content.ok()) {
        return content.status().WithContext("read " + f.path);
      } else {
        r = std::make_shared<const ParseResult>(ParseManifestFile(f.path, *content));
      }
      ++parsed;
      next[f.path] = Entry{f.blob_id, std::move(r)};
    }
    results.push_back(next[f.path].result);
  }
  entries_ = std::move(next);
  parse_count_ += parsed;
  return Assemble(results);
}

size_t ManifestCache::parse_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return parse_count_;
}

size_t ManifestCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

ParseResult ParseManifestFile(std::string_view path, std::string_view content) {
  // Field names and yaml-cpp messages can carry any byte of the input; every
  // error and warning leaves here as one line.
  ParseResult result = ParseManifestFileUnescaped(path, content);
  for (auto& d : result.documents) {
    for (auto& e : d.errors) e = internal::EscapeControlChars(e);
    d.warning = internal::EscapeControlChars(d.warning);
  }
  return result;
}

}  // namespace mlspace::api
