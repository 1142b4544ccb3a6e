// Byte-exact YAML document splitting (write-back to git, issue 13): on any
// input the regions tile the text, and replacing or removing one document
// leaves every other document's bytes as they were.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "controller/source/yaml_documents.h"

namespace {

using mlspace::source::YamlDocumentSpan;

std::string_view Content(std::string_view text, const YamlDocumentSpan& d) {
  return text.substr(d.content_begin, d.content_end - d.content_begin);
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 1 << 16) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<YamlDocumentSpan> docs = mlspace::source::SplitYamlDocuments(text);
  size_t at = 0;
  for (const YamlDocumentSpan& d : docs) {
    Check(d.begin == at && d.begin <= d.content_begin && d.content_begin <= d.content_end &&
          d.content_end <= d.end);
    at = d.end;
  }
  Check(at == text.size());
  if (docs.empty()) return 0;

  const size_t i = text.size() % docs.size();
  const std::string replaced =
      mlspace::source::ReplaceYamlDocument(text, docs[i], "kind: MLSpaceJob\nmetadata: {}\n");
  const auto after = mlspace::source::SplitYamlDocuments(replaced);
  Check(after.size() == docs.size());
  for (size_t j = 0; j < docs.size(); ++j) {
    if (j != i) Check(Content(replaced, after[j]) == Content(text, docs[j]));
  }

  const std::string removed = mlspace::source::RemoveYamlDocument(text, docs[i]);
  const auto rest = mlspace::source::SplitYamlDocuments(removed);
  std::vector<std::string_view> want, got;
  for (size_t j = 0; j < docs.size(); ++j) {
    if (j != i) want.push_back(Content(text, docs[j]));
  }
  for (const auto& d : rest) got.push_back(Content(removed, d));
  // Removing a region may merge a following bare document's region only if
  // the text was not YAML to begin with; compare the documents with content.
  std::vector<std::string_view> want_c, got_c;
  for (auto v : want) {
    if (mlspace::source::HasYamlContent(v)) want_c.push_back(v);
  }
  for (auto v : got) {
    if (mlspace::source::HasYamlContent(v)) got_c.push_back(v);
  }
  Check(want_c == got_c);
  return 0;
}
