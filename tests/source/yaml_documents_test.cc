#include "controller/source/yaml_documents.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mlspace::source {
namespace {

std::vector<std::string> Contents(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& d : SplitYamlDocuments(text)) {
    out.push_back(text.substr(d.content_begin, d.content_end - d.content_begin));
  }
  return out;
}

// Regions tile the text: every byte belongs to exactly one document.
void ExpectTiles(const std::string& text) {
  auto docs = SplitYamlDocuments(text);
  size_t at = 0;
  for (const auto& d : docs) {
    EXPECT_EQ(d.begin, at) << text;
    EXPECT_LE(d.begin, d.content_begin);
    EXPECT_LE(d.content_begin, d.content_end);
    EXPECT_LE(d.content_end, d.end);
    at = d.end;
  }
  EXPECT_EQ(at, text.size()) << text;
}

TEST(SplitYamlDocumentsTest, SingleDocumentWithoutMarker) {
  std::string t = "kind: A\nx: 1\n";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{t}));
  EXPECT_FALSE(SplitYamlDocuments(t)[0].explicit_start);
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, EmptyTextHasNoDocument) {
  EXPECT_TRUE(SplitYamlDocuments("").empty());
}

TEST(SplitYamlDocumentsTest, LeadingMarkerIsNotAnEmptyDocumentBeforeIt) {
  std::string t = "---\na: 1\n---\nb: 2\n";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{"a: 1\n", "b: 2\n"}));
  auto docs = SplitYamlDocuments(t);
  EXPECT_TRUE(docs[0].explicit_start);
  EXPECT_EQ(docs[0].begin, 0u);
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, CommentsBeforeTheFirstMarkerAreTheirOwnRegion) {
  std::string t = "# header\n---\na: 1\n";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{"# header\n", "a: 1\n"}));
  EXPECT_FALSE(HasYamlContent(Contents(t)[0]));
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, MarkerWithCommentStartsContentOnTheNextLine) {
  std::string t = "a: 1\n--- # the second one\nb: 2\n---\t\nc: 3";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{"a: 1\n", "b: 2\n", "c: 3"}));
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, NodeOnTheMarkerLine) {
  std::string t = "--- |\n  text\n--- {a: 1}\n";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{"|\n  text\n", "{a: 1}\n"}));
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, IndentedMarkerInsideBlockScalarIsContent) {
  std::string t = "spec:\n  script: |\n    echo a\n    ---\n    echo b\n  x: 1\n---\nkind: B\n";
  auto c = Contents(t);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], "spec:\n  script: |\n    echo a\n    ---\n    echo b\n  x: 1\n");
  EXPECT_EQ(c[1], "kind: B\n");
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, DashesFollowedByTextAreNotAMarker) {
  std::string t = "a: |\n  x\n---b\n----\n";
  // "---b" and "----" at column 0 are (invalid) content, not separators.
  EXPECT_EQ(SplitYamlDocuments(t).size(), 1u);
}

TEST(SplitYamlDocumentsTest, DocumentEndMarkerAndTrailingComments) {
  std::string t = "a: 1\n...\n# after the end\n---\nb: 2\n...\n";
  auto docs = SplitYamlDocuments(t);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(t.substr(docs[0].content_begin, docs[0].content_end - docs[0].content_begin), "a: 1\n");
  EXPECT_EQ(t.substr(docs[0].content_end, docs[0].end - docs[0].content_end),
            "...\n# after the end\n");
  EXPECT_EQ(t.substr(docs[1].content_begin, docs[1].content_end - docs[1].content_begin), "b: 2\n");
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, BareDocumentAfterEndMarker) {
  std::string t = "a: 1\n...\nb: 2\n";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{"a: 1\n", "b: 2\n"}));
  ExpectTiles(t);
}

TEST(SplitYamlDocumentsTest, CrlfLineEndings) {
  std::string t = "a: 1\r\n---\r\nb: 2\r\n";
  EXPECT_EQ(Contents(t), (std::vector<std::string>{"a: 1\r\n", "b: 2\r\n"}));
}

TEST(SplitYamlDocumentsTest, TrailingEmptyDocument) {
  std::string t = "a: 1\n---\n";
  auto c = Contents(t);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[1], "");
  ExpectTiles(t);
}

TEST(ReplaceYamlDocumentTest, OnlyThatDocumentChanges) {
  std::string t = "# header\na: 1\n--- # two\nb: 2  # inline\n...\n# tail\n---\nc: 3\n";
  auto docs = SplitYamlDocuments(t);
  ASSERT_EQ(docs.size(), 3u);
  std::string out = ReplaceYamlDocument(t, docs[1], "b: 20\n");
  EXPECT_EQ(out, "# header\na: 1\n--- # two\nb: 20\n...\n# tail\n---\nc: 3\n");
}

TEST(ReplaceYamlDocumentTest, KeepsLeadingAndTrailingCommentLines) {
  std::string t = "---\n# the training job\nkind: A\nx: 1\n\n# next: eval\n---\nkind: B\n";
  auto docs = SplitYamlDocuments(t);
  std::string out = ReplaceYamlDocument(t, docs[0], "kind: A\nx: 2");
  EXPECT_EQ(out, "---\n# the training job\nkind: A\nx: 2\n\n# next: eval\n---\nkind: B\n");
}

TEST(ReplaceYamlDocumentTest, NodeStartingOnTheMarkerLineMovesToItsOwnLine) {
  std::string t = "--- {kind: A}\n---\nkind: B\n";
  auto docs = SplitYamlDocuments(t);
  EXPECT_EQ(ReplaceYamlDocument(t, docs[0], "kind: C\n"), "--- \nkind: C\n---\nkind: B\n");
}

TEST(ReplaceYamlDocumentTest, LastDocumentWithoutNewline) {
  std::string t = "a: 1\n---\nb: 2";
  auto docs = SplitYamlDocuments(t);
  EXPECT_EQ(ReplaceYamlDocument(t, docs[1], "b: 3\n"), "a: 1\n---\nb: 3\n");
}

TEST(RemoveYamlDocumentTest, FirstMiddleLast) {
  std::string t = "a: 1\n---\nb: 2\n--- # c\nc: 3\n";
  auto docs = SplitYamlDocuments(t);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(RemoveYamlDocument(t, docs[0]), "---\nb: 2\n--- # c\nc: 3\n");
  EXPECT_EQ(RemoveYamlDocument(t, docs[1]), "a: 1\n--- # c\nc: 3\n");
  EXPECT_EQ(RemoveYamlDocument(t, docs[2]), "a: 1\n---\nb: 2\n");
}

TEST(RemoveYamlDocumentTest, EndMarkerAndItsCommentsGoWithTheDocument) {
  std::string t = "# header\n---\na: 1\n...\n# about a\n---\nb: 2\n";
  auto docs = SplitYamlDocuments(t);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(RemoveYamlDocument(t, docs[1]), "# header\n---\nb: 2\n");
  std::string only = RemoveYamlDocument(RemoveYamlDocument(t, docs[2]), docs[1]);
  EXPECT_EQ(only, "# header\n");
  EXPECT_FALSE(HasYamlContent(only));
}

TEST(RemoveYamlDocumentTest, EndMarkerBeforeABareDocumentStays) {
  // Found by fuzz_yaml_documents: removing X with its "..." would have run
  // P on into the bare document "b: 2" (one mapping {kind: P, b: 2}).
  std::string t = "---\nkind: P\n---\nkind: X\n...\n# about b\nb: 2\n";
  auto docs = SplitYamlDocuments(t);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(RemoveYamlDocument(t, docs[1]), "---\nkind: P\n...\n# about b\nb: 2\n");
  // As the first region there is nothing before it to run on.
  std::string first = "kind: X\n...\nb: 2\n";
  EXPECT_EQ(RemoveYamlDocument(first, SplitYamlDocuments(first)[0]), "b: 2\n");
}

TEST(AppendYamlDocumentTest, SeparatesWhenNeeded) {
  EXPECT_EQ(AppendYamlDocument("", "a: 1\n"), "a: 1\n");
  EXPECT_EQ(AppendYamlDocument("# only a comment\n", "a: 1"), "# only a comment\na: 1\n");
  EXPECT_EQ(AppendYamlDocument("a: 1", "b: 2\n"), "a: 1\n---\nb: 2\n");
  EXPECT_EQ(AppendYamlDocument("a: 1\n---\n", "b: 2\n"), "a: 1\n---\nb: 2\n");
  EXPECT_EQ(AppendYamlDocument("a: 1\n...\n", "b: 2\n"), "a: 1\n...\n---\nb: 2\n");
}

TEST(HasYamlContentTest, TriviaOnly) {
  EXPECT_FALSE(HasYamlContent(""));
  EXPECT_FALSE(HasYamlContent("\n  \n# c\n  # d\n---\n...\n%YAML 1.2\n"));
  EXPECT_TRUE(HasYamlContent("# c\na: 1\n"));
}

}  // namespace
}  // namespace mlspace::source
