#pragma once

// Byte-exact splitting of a YAML stream into its documents, for write-back
// (git_manifest_writer): one document's text is replaced or removed while
// every other byte of the file (other documents, comments, separators,
// trailing text) stays as it was. Pure functions, no parsing of content.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mlspace::source {

// One document of a stream, as offsets into the text. Regions tile the text:
// documents[i].end == documents[i + 1].begin, the last ends at text.size().
// Text before the first "---" line is a document of its own (possibly only
// comments) when it is not empty.
struct YamlDocumentSpan {
  size_t begin = 0;          // its "---" line, or where an implicit document starts
  size_t content_begin = 0;  // its own text: after the "---" line (or after "--- " when
                             // the node starts on that line)
  size_t content_end = 0;    // the next "---" or "..." line, or the end of the text
  size_t end = 0;            // where the next document's region begins
  bool explicit_start = false;
};

// Splits as a YAML 1.2 parser does: a line that starts (column 0) with
// "---" or "..." followed by a space, a tab or the end of the line is a
// document marker, wherever it appears: such a line cannot be scalar
// content, so an indented "---" inside a block scalar is content while a
// column-0 one ends the document. After "...", comment, blank and directive
// lines belong to the ended document; any other line starts a new implicit
// one.
std::vector<YamlDocumentSpan> SplitYamlDocuments(std::string_view text);

// True when `yaml` holds anything but blank lines, comments and directives.
bool HasYamlContent(std::string_view yaml);

// `text` with the content of `doc` replaced by `yaml`. Comment and blank
// lines at the start and at the end of the old content are kept (they are
// not part of the object an API write produces); a newline is added to
// `yaml` when it lacks one.
std::string ReplaceYamlDocument(std::string_view text, const YamlDocumentSpan& doc,
                                std::string_view yaml);

// `text` without the region of `doc` (its "---" line, content, "..." line and
// the comments after it). When a bare document (one without "---") follows,
// the "..." line and what follows it stay, unless `doc` is the first region:
// the document before must still end there.
std::string RemoveYamlDocument(std::string_view text, const YamlDocumentSpan& doc);

// `text` with `yaml` appended as a new document ("---" separated when the
// text already holds a document).
std::string AppendYamlDocument(std::string_view text, std::string_view yaml);

}  // namespace mlspace::source
