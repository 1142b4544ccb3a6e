#include "controller/source/yaml_documents.h"

namespace mlspace::source {
namespace {

// The line starting at `pos`: [pos, returned end), the end past its '\n'.
size_t LineEnd(std::string_view text, size_t pos) {
  size_t nl = text.find('\n', pos);
  return nl == std::string_view::npos ? text.size() : nl + 1;
}

bool IsBlankOrSpace(char c) { return c == ' ' || c == '\t'; }

// "---" / "..." at column 0 followed by white space or the end of the line.
bool IsMarker(std::string_view line, std::string_view marker) {
  if (line.substr(0, 3) != marker) return false;
  if (line.size() == 3) return true;
  char c = line[3];
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A line that is not document content: blank, a comment or a directive.
bool IsTriviaLine(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && IsBlankOrSpace(line[i])) ++i;
  if (i == line.size() || line[i] == '\n' || line[i] == '\r' || line[i] == '#') return true;
  return i == 0 && line[0] == '%';
}

// Blank or column-0 comment line: in a block mapping at column 0 (every
// MLSpaceJob document) such a line is never part of a node.
bool IsOuterTrivia(std::string_view line) {
  if (!line.empty() && line[0] == '#') return true;
  for (char c : line) {
    if (!IsBlankOrSpace(c) && c != '\n' && c != '\r') return false;
  }
  return true;
}

}  // namespace

std::vector<YamlDocumentSpan> SplitYamlDocuments(std::string_view text) {
  std::vector<YamlDocumentSpan> docs;
  enum class State { kInDocument, kAfterEnd };
  State state = State::kInDocument;
  YamlDocumentSpan cur;  // implicit document at 0
  auto close = [&](size_t at) {
    if (state == State::kInDocument) cur.content_end = at;
    cur.end = at;
    // An implicit document with no bytes at all (the text starts with
    // "---") is not a region.
    if (cur.explicit_start || cur.end > cur.begin) docs.push_back(cur);
  };
  for (size_t pos = 0; pos < text.size();) {
    size_t end = LineEnd(text, pos);
    std::string_view line = text.substr(pos, end - pos);
    if (IsMarker(line, "---")) {
      close(pos);
      cur = YamlDocumentSpan{};
      cur.begin = pos;
      cur.explicit_start = true;
      size_t i = 3;
      while (i < line.size() && IsBlankOrSpace(line[i])) ++i;
      bool rest_is_trivia =
          i == line.size() || line[i] == '\n' || line[i] == '\r' || line[i] == '#';
      cur.content_begin = rest_is_trivia ? end : pos + i;
      state = State::kInDocument;
    } else if (IsMarker(line, "...")) {
      if (state == State::kInDocument) {
        cur.content_end = pos;
        state = State::kAfterEnd;
      }
    } else if (state == State::kAfterEnd && !IsTriviaLine(line)) {
      // A bare document after "...": starts without a marker.
      close(pos);
      cur = YamlDocumentSpan{};
      cur.begin = cur.content_begin = pos;
      state = State::kInDocument;
    }
    pos = end;
  }
  close(text.size());
  return docs;
}

bool HasYamlContent(std::string_view yaml) {
  for (size_t pos = 0; pos < yaml.size();) {
    size_t end = LineEnd(yaml, pos);
    std::string_view line = yaml.substr(pos, end - pos);
    if (!IsTriviaLine(line) && !IsMarker(line, "---") && !IsMarker(line, "...")) return true;
    pos = end;
  }
  return false;
}

std::string ReplaceYamlDocument(std::string_view text, const YamlDocumentSpan& doc,
                                std::string_view yaml) {
  std::string_view content = text.substr(doc.content_begin, doc.content_end - doc.content_begin);
  // Keep the leading and trailing comment/blank lines of the old content
  // (only complete, newline-terminated lines).
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < content.size();) {
    size_t end = LineEnd(content, pos);
    lines.push_back(content.substr(pos, end - pos));
    pos = end;
  }
  auto trivia = [](std::string_view l) { return l.back() == '\n' && IsOuterTrivia(l); };
  size_t first = 0;
  while (first < lines.size() && trivia(lines[first])) ++first;
  size_t last = lines.size();
  while (last > first && trivia(lines[last - 1])) --last;
  size_t head = 0;
  for (size_t i = 0; i < first; ++i) head += lines[i].size();
  size_t tail = content.size();
  for (size_t i = lines.size(); i > last; --i) tail -= lines[i - 1].size();
  std::string out;
  out.reserve(text.size() + yaml.size());
  out.append(text.substr(0, doc.content_begin));
  // A node that began on the "---" line: the new one starts on its own line.
  if (doc.content_begin > 0 && text[doc.content_begin - 1] != '\n' && head == 0) out += '\n';
  out.append(content.substr(0, head));
  out.append(yaml);
  if (!yaml.empty() && yaml.back() != '\n') out += '\n';
  out.append(content.substr(tail));
  out.append(text.substr(doc.content_end));
  return out;
}

std::string RemoveYamlDocument(std::string_view text, const YamlDocumentSpan& doc) {
  std::string out(text.substr(0, doc.begin));
  // A bare document (no "---") follows: it starts only because this one
  // ended with "...", so the "..." stays, or the document before would run
  // on into it.
  const bool next_is_bare =
      doc.end < text.size() &&
      !IsMarker(text.substr(doc.end, LineEnd(text, doc.end) - doc.end), "---");
  if (next_is_bare && doc.begin > 0)
    out.append(text.substr(doc.content_end, doc.end - doc.content_end));
  out.append(text.substr(doc.end));
  return out;
}

std::string AppendYamlDocument(std::string_view text, std::string_view yaml) {
  std::string out(text);
  if (!out.empty() && out.back() != '\n') out += '\n';
  if (HasYamlContent(text)) {
    // A trailing "---" with nothing after it already opens a document.
    std::vector<YamlDocumentSpan> docs = SplitYamlDocuments(text);
    const YamlDocumentSpan& last = docs.back();
    bool open_empty = last.explicit_start && last.content_end == last.end &&
                      !HasYamlContent(text.substr(last.content_begin)) &&
                      last.content_begin == text.size();
    if (!open_empty) out += "---\n";
  }
  out.append(yaml);
  if (!yaml.empty() && yaml.back() != '\n') out += '\n';
  return out;
}

}  // namespace mlspace::source
