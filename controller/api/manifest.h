#pragma once

// Reading MLSpaceJob manifests: YAML/JSON files with one or more documents,
// strict validation against the embedded CRD, defaulting, identity checks,
// and a parse cache keyed by content id so only changed files are parsed
// again on a new revision.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/api/types.h"
#include "controller/core/object_key.h"
#include "controller/core/result.h"

namespace mlspace::api {

// Why a manifest is Invalid (condition reasons).
inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";
inline constexpr char kReasonParseError[] = "ParseError";
inline constexpr char kReasonDuplicateName[] = "DuplicateName";

// One document of a manifest file.
struct ManifestDocument {
  enum class Kind {
    kJob,      // a valid MLSpaceJob: `job` is set
    kInvalid,  // `errors` say why; `key` is set when the name was readable
    kIgnored,  // another kind or apiVersion: `warning` says which
  };
  Kind kind = Kind::kInvalid;
  int index = 0;  // 0-based position in the file
  int line = 0;   // 1-based line where the document starts (0 = unknown)
  std::optional<MLSpaceJob> job;
  std::optional<ObjectKey> key;
  // One line each: "jobs/a.yaml:12:3: spec.workers: must be >= 1".
  std::vector<std::string> errors;
  std::string reason;  // kInvalid: kReasonParseError or kReasonInvalidSpec
  std::string warning;
  // kInvalid MLSpaceJob: the spec's scalar fields that could still be read
  // (region, image, ...), so the API shows what the object was meant to be.
  // Null when none.
  nlohmann::json readable_spec;

  // The errors joined with "; " (kInvalid), for a status message.
  std::string Message() const;
};

struct ParseResult {
  std::string path;
  // A YAML syntax error fails the whole file: `documents` is then one
  // kInvalid entry without a key. Empty documents are skipped.
  std::vector<ManifestDocument> documents;
};

// Parses one file's bytes; `path` is used in messages and as source_path.
// Never throws, whatever the bytes. Files whose extension is not .yaml,
// .yml or .json give one kIgnored document.
ParseResult ParseManifestFile(std::string_view path, std::string_view content);

// Validates, defaults and converts one object already in JSON form (the
// API server's request body). `source` names it in messages. Errors are
// joined into one InvalidArgument status.
Result<MLSpaceJob> ParseObject(const nlohmann::json& object, std::string_view source);

// ParseObject's document: the same checks, but each error kept apart
// ("<source>: <field>: <message>", or "<source>: unknown field \"f\""),
// so the API server can answer one cause per field.
ManifestDocument ParseObjectDocument(const nlohmann::json& object, std::string_view source);

struct InvalidManifest {
  std::optional<ObjectKey> key;  // unset when the name itself is unreadable
  std::string source_path;
  std::string reason;   // kReason*
  std::string message;  // one line, with file:line:column
};

// Every file of a revision, put together.
struct ManifestSet {
  std::vector<MLSpaceJob> jobs;  // valid and unique, sorted by key
  // Invalid documents and every document whose namespace/name is declared
  // more than once (all copies, reason DuplicateName), sorted by path.
  std::vector<InvalidManifest> invalid;
  std::vector<std::string> warnings;  // ignored documents, one line each
  size_t files = 0;
};

ManifestSet Assemble(const std::vector<std::shared_ptr<const ParseResult>>& files);

struct ManifestFile {
  std::string path;     // relative to the manifests directory
  std::string blob_id;  // equal ids, equal bytes (git blob sha)
};

// Parse cache across revisions: a file is parsed again only when its
// (path, blob id) was not in the previous Update. Thread-safe.
class ManifestCache {
 public:
  using Reader = std::function<Result<std::string>(const std::string& blob_id)>;

  // Parses the changed files of a revision (reading them through `reader`)
  // and assembles the set. A reader error fails the whole update and keeps
  // the previous cache: a source that cannot be read never looks like
  // "manifests removed". A ResourceExhausted error from the reader (a blob
  // refused by its size) is not a failure: that file is invalid
  // (ParseError) with the reader's message, e.g. "x.yaml: file is N bytes,
  // larger than the 8 MiB limit".
  Result<ManifestSet> Update(const std::vector<ManifestFile>& files, const Reader& reader);

  // Any range of objects with .path and .blob_id (source::Snapshot::files).
  template <typename Files>
  Result<ManifestSet> UpdateFrom(const Files& files, const Reader& reader) {
    std::vector<ManifestFile> list;
    for (const auto& f : files) list.push_back(ManifestFile{f.path, f.blob_id});
    return Update(list, reader);
  }

  // Files parsed since construction (tests and metrics).
  size_t parse_count() const;
  size_t size() const;

 private:
  struct Entry {
    std::string blob_id;
    std::shared_ptr<const ParseResult> result;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by path
  size_t parse_count_ = 0;
};

}  // namespace mlspace::api
