#include "controller/cli/validate.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "controller/api/manifest.h"

namespace mlspace::cli {
namespace {

namespace fs = std::filesystem;

bool IsManifestName(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The files of `root` to check, sorted; false when `root` is missing.
bool Collect(const std::string& root, std::vector<std::string>* files, std::ostream& out,
             int* errors) {
  std::error_code ec;
  auto st = fs::status(root, ec);
  if (ec || !fs::exists(st)) {
    out << root << ": no such file or directory\n";
    ++*errors;
    return false;
  }
  if (!fs::is_directory(st)) {
    files->push_back(root);
    return true;
  }
  std::vector<std::string> found;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename().string().starts_with(".")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && IsManifestName(p)) found.push_back(p.string());
  }
  if (ec) {
    out << root << ": " << ec.message() << "\n";
    ++*errors;
  }
  std::sort(found.begin(), found.end());
  files->insert(files->end(), found.begin(), found.end());
  return true;
}

// Assemble names a duplicate "path:line: ns/name is also declared in ...";
// this puts it in the file:line:col: field: message shape of the others.
std::string DuplicateLine(const api::InvalidManifest& inv) {
  std::string prefix = inv.source_path + ":";
  if (!inv.message.starts_with(prefix)) return inv.message;
  size_t p = prefix.size();
  size_t q = p;
  while (q < inv.message.size() && std::isdigit(static_cast<unsigned char>(inv.message[q]))) ++q;
  if (q == p || inv.message.compare(q, 2, ": ") != 0) return inv.message;
  return inv.message.substr(0, q) + ":1: metadata.name: " + inv.message.substr(q + 2);
}

}  // namespace

int RunValidate(const std::vector<std::string>& paths, std::ostream& out, std::ostream& err,
                ValidateSummary* summary) {
  ValidateSummary s;
  std::vector<std::string> files;
  for (const auto& p : paths) Collect(p, &files, out, &s.errors);

  std::vector<std::shared_ptr<const api::ParseResult>> parsed;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      out << f << ": cannot read\n";
      ++s.errors;
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    parsed.push_back(std::make_shared<const api::ParseResult>(api::ParseManifestFile(f, ss.str())));
    ++s.files;
  }
  // Per-document errors carry file:line:col and the field; Assemble adds
  // what only the whole set shows (the same name declared twice).
  for (const auto& r : parsed) {
    for (const auto& d : r->documents) {
      switch (d.kind) {
        case api::ManifestDocument::Kind::kJob:
          break;
        case api::ManifestDocument::Kind::kIgnored:
          ++s.ignored;
          err << "warning: " << d.warning << "\n";
          break;
        case api::ManifestDocument::Kind::kInvalid:
          ++s.invalid;
          for (const auto& e : d.errors) {
            out << e << "\n";
            ++s.errors;
          }
          if (d.errors.empty()) {
            out << r->path << ":" << d.line << ":1: " << d.reason << "\n";
            ++s.errors;
          }
          break;
      }
    }
  }
  api::ManifestSet set = api::Assemble(parsed);
  for (const auto& inv : set.invalid) {
    if (inv.reason != api::kReasonDuplicateName) continue;
    out << DuplicateLine(inv) << "\n";
    ++s.invalid;
    ++s.errors;
  }
  s.jobs = static_cast<int>(set.jobs.size());
  if (files.empty() && s.errors == 0) {
    out << "no manifests (.yaml, .yml, .json) found in";
    for (const auto& p : paths) out << " " << p;
    out << "\n";
    ++s.errors;
  }
  out << "validate: " << s.files << (s.files == 1 ? " file, " : " files, ") << s.jobs
      << " valid MLSpaceJob" << (s.jobs == 1 ? "" : "s") << ", " << s.invalid << " invalid, "
      << s.ignored << " ignored, " << s.errors << (s.errors == 1 ? " error" : " errors") << "\n";
  if (summary) *summary = s;
  return s.errors > 0 ? 1 : 0;
}

}  // namespace mlspace::cli
