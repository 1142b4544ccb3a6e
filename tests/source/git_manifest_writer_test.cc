#include "controller/source/git_manifest_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/source/git_test_util.h"

namespace mlspace::source {
namespace {

using namespace mlspace::source::testing;  // NOLINT
using api::ManifestWriteRequest;
using api::WriteOp;
using ::testing::HasSubstr;

std::string Job(const std::string& name, const std::string& ns = "",
                const std::string& image = "img:1") {
  std::string s =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name + "\n";
  if (!ns.empty()) s += "  namespace: " + ns + "\n";
  s += "spec:\n  image: " + image + "\n";
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ObjectKey Key(const std::string& ns, const std::string& name) { return ObjectKey{ns, name}; }

class GitManifestWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HermeticGitEnv();
    repo_ = tmp_.path() / "repo";
    GitInit(repo_);
    dir_ = repo_ / "manifests";
  }

  std::unique_ptr<GitManifestWriter> Open(GitManifestWriter::Options o = {}) {
    if (o.manifests_dir.empty() && o.clone_dir.empty()) o.manifests_dir = dir_.string();
    o.on_commit = [this] { ++syncs_; };
    o.on_result = [this](std::string_view r) {
      std::lock_guard<std::mutex> lock(mu_);
      results_.emplace_back(r);
    };
    auto w = GitManifestWriter::Open(std::move(o));
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  ManifestWriteRequest Req(WriteOp op, ObjectKey key, std::string yaml = "") {
    ManifestWriteRequest r;
    r.op = op;
    r.key = std::move(key);
    r.yaml = std::move(yaml);
    r.verb = op == WriteOp::kCreate ? "create" : op == WriteOp::kDelete ? "delete" : "apply";
    r.user = "alice";
    return r;
  }

  std::string Head() { return Sh(repo_, "git rev-parse HEAD"); }
  std::string CommittedFile(const std::string& rel) {
    return Sh(repo_, "git show HEAD:manifests/" + rel);
  }
  std::string Status() { return Sh(repo_, "git status --porcelain"); }

  TempDir tmp_;
  fs::path repo_;
  fs::path dir_;
  std::atomic<int> syncs_{0};
  std::mutex mu_;
  std::vector<std::string> results_;
};

const char kMulti[] =
    "# team jobs: keep this header\n"
    "---\n"
    "apiVersion: mlspace.io/v1alpha1\n"
    "kind: MLSpaceJob\n"
    "metadata:\n"
    "  name: train-1\n"
    "spec:\n"
    "  image: a  # pinned\n"
    "  script: |\n"
    "    echo start\n"
    "    ---\n"
    "    echo end\n"
    "--- # the second job\n"
    "apiVersion: mlspace.io/v1alpha1\n"
    "kind: MLSpaceJob\n"
    "metadata: {name: train-2, namespace: team}\n"
    "spec:\n"
    "  image: b\n"
    "...\n"
    "# trailing comment after the end marker\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: ConfigMap\n"
    "metadata:\n"
    "  name: train-1\n";

TEST_F(GitManifestWriterTest, FindReturnsTheDocumentBytesWithOrWithoutHint) {
  WriteFile(dir_ / "jobs.yaml", kMulti);
  WriteFile(dir_ / "other/x.yaml", Job("x"));
  std::string head = CommitAll(repo_, "init");
  auto w = Open();
  ASSERT_NE(w, nullptr);
  for (std::string hint : {"", "jobs.yaml", "other/x.yaml", "missing.yaml", "../escape.yaml"}) {
    auto d = w->Find(Key("team", "train-2"), hint);
    ASSERT_TRUE(d.ok()) << hint << ": " << d.status().ToString();
    EXPECT_EQ(d->path, "jobs.yaml");
    EXPECT_EQ(d->yaml,
              "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\n"
              "metadata: {name: train-2, namespace: team}\nspec:\n  image: b\n");
    EXPECT_EQ(d->revision, head);
  }
  auto d1 = w->Find(Key("default", "train-1"), "");
  ASSERT_TRUE(d1.ok());
  EXPECT_THAT(d1->yaml, HasSubstr("    ---\n    echo end\n"));
  // Kind ConfigMap named train-1 in another namespace is not an MLSpaceJob.
  EXPECT_EQ(w->Find(Key("team", "train-1"), "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(w->Find(Key("default", "x"), "jobs.yaml")->path, "other/x.yaml");
}

TEST_F(GitManifestWriterTest, FindSeesOnlyCommittedDocuments) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  CommitAll(repo_, "init");
  WriteFile(dir_ / "b.yaml", Job("b"));  // not committed
  auto w = Open();
  EXPECT_TRUE(w->Find(Key("default", "a"), "").ok());
  EXPECT_EQ(w->Find(Key("default", "b"), "b.yaml").status().code(), StatusCode::kNotFound);
}

TEST_F(GitManifestWriterTest, UpdateSingleDocumentCommitsWithAuthorAndMessage) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  std::string before = CommitAll(repo_, "init");
  GitManifestWriter::Options o;
  o.author = {"Deploy Bot", "bot@example.com"};
  auto w = Open(o);
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "img:2")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->path, "a.yaml");
  EXPECT_EQ(r->commit, Head());
  EXPECT_FALSE(r->file_removed);
  EXPECT_EQ(Sh(repo_, "git rev-parse HEAD~1"), before);
  EXPECT_EQ(Sh(repo_, "git log -1 --format='%an <%ae>|%cn <%ce>|%s'"),
            "Deploy Bot <bot@example.com>|Deploy Bot <bot@example.com>|apply default/a by alice");
  EXPECT_EQ(Sh(repo_, "git symbolic-ref HEAD"), "refs/heads/main");
  EXPECT_EQ(CommittedFile("a.yaml") + "\n", Job("a", "", "img:2"));  // Sh trims the newline
  EXPECT_EQ(ReadAll(dir_ / "a.yaml"), Job("a", "", "img:2"));
  EXPECT_EQ(Status(), "");  // work tree and index follow the commit
  EXPECT_EQ(syncs_.load(), 1);
  EXPECT_EQ(results_, std::vector<std::string>{"committed"});
}

TEST_F(GitManifestWriterTest, UpdateInMultiDocumentFileKeepsEveryOtherByte) {
  WriteFile(dir_ / "jobs.yaml", kMulti);
  CommitAll(repo_, "init");
  auto w = Open();
  std::string new_doc = Job("train-2", "team", "c");
  auto r = w->Write(Req(WriteOp::kUpdate, Key("team", "train-2"), new_doc));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string expected(kMulti);
  std::string old_doc =
      "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\n"
      "metadata: {name: train-2, namespace: team}\nspec:\n  image: b\n";
  expected.replace(expected.find(old_doc), old_doc.size(), new_doc);
  EXPECT_EQ(ReadAll(dir_ / "jobs.yaml"), expected);
  EXPECT_EQ(Sh(repo_, "git show HEAD:manifests/jobs.yaml | md5sum"),
            Sh(repo_, "md5sum < manifests/jobs.yaml"));
  EXPECT_EQ(Status(), "");
  // The first document (block scalar with an indented ---) is untouched too.
  auto again = w->Write(Req(WriteOp::kUpdate, Key("default", "train-1"), Job("train-1", "", "z")));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::string t = ReadAll(dir_ / "jobs.yaml");
  EXPECT_EQ(t.substr(0, 34), "# team jobs: keep this header\n---\n");
  EXPECT_THAT(t, HasSubstr("--- # the second job\n" + new_doc +
                           "...\n# trailing comment after the end marker\n---\napiVersion: v1\n"));
  EXPECT_EQ(Sh(repo_, "git rev-list --count HEAD"), "3");
}

TEST_F(GitManifestWriterTest, UnchangedDocumentMakesNoCommit) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  std::string head = CommitAll(repo_, "init");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("a")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->commit, "");
  EXPECT_EQ(Head(), head);
  EXPECT_EQ(syncs_.load(), 0);
}

TEST_F(GitManifestWriterTest, DeleteRemovesTheDocumentAndItsSeparator) {
  WriteFile(dir_ / "jobs.yaml", "# header\n" + Job("a") + "---\n" + Job("b") + "---\n" + Job("c"));
  CommitAll(repo_, "init");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kDelete, Key("default", "b")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->file_removed);
  EXPECT_EQ(ReadAll(dir_ / "jobs.yaml"), "# header\n" + Job("a") + "---\n" + Job("c"));
  r = w->Write(Req(WriteOp::kDelete, Key("default", "a")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ReadAll(dir_ / "jobs.yaml"), "---\n" + Job("c"));
  EXPECT_EQ(Status(), "");
  EXPECT_EQ(Sh(repo_, "git log -1 --format=%s"), "delete default/a by alice");
}

TEST_F(GitManifestWriterTest, DeleteOfTheLastDocumentRemovesTheFile) {
  WriteFile(dir_ / "ns1/only.yaml", "# a comment\n---\n" + Job("only", "ns1"));
  WriteFile(dir_ / "keep.yaml", Job("keep"));
  CommitAll(repo_, "init");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kDelete, Key("ns1", "only")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->file_removed);
  EXPECT_EQ(r->path, "ns1/only.yaml");
  EXPECT_FALSE(fs::exists(dir_ / "ns1/only.yaml"));
  EXPECT_EQ(Sh(repo_, "git ls-files"), "manifests/keep.yaml");
  EXPECT_EQ(Status(), "");
  EXPECT_EQ(w->Find(Key("ns1", "only"), "").status().code(), StatusCode::kNotFound);
}

// The controller exempts API deletes from its prune guards: the writer
// reports each delete's key and commit, before the sync is woken, and only
// for deletes that committed.
TEST_F(GitManifestWriterTest, DeleteReportsTheRemovedKeyAndCommitBeforeWakingTheSync) {
  WriteFile(dir_ / "jobs.yaml", Job("a") + "---\n" + Job("b"));
  CommitAll(repo_, "init");
  std::vector<std::pair<std::string, std::string>> removed;
  int syncs_at_report = -1;
  GitManifestWriter::Options o;
  o.manifests_dir = dir_.string();
  o.on_removed = [&](const ObjectKey& key, const std::string& commit) {
    removed.emplace_back(key.ToString(), commit);
    syncs_at_report = syncs_.load();
  };
  auto w = Open(std::move(o));
  ASSERT_NE(w, nullptr);
  ASSERT_TRUE(w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "z"))).ok());
  EXPECT_TRUE(removed.empty()) << "an update removes nothing";
  const int syncs_before = syncs_.load();
  auto r = w->Write(Req(WriteOp::kDelete, Key("default", "b")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Once before the branch moves, once after the write succeeded.
  ASSERT_EQ(removed.size(), 2u);
  for (const auto& [key, commit] : removed) {
    EXPECT_EQ(key, "default/b");
    EXPECT_EQ(commit, Head());
    EXPECT_EQ(commit, r->commit);
  }
  EXPECT_EQ(syncs_at_report, syncs_before) << "reported before the sync is woken";
  EXPECT_EQ(w->Write(Req(WriteOp::kDelete, Key("default", "b"))).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(removed.size(), 2u) << "a refused delete reports nothing";
}

TEST_F(GitManifestWriterTest, CreateWritesNamespaceSlashNameAndAppendsToAnExistingFile) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  WriteFile(dir_ / "team/two.yaml", "# existing\n" + Job("other", "team"));
  CommitAll(repo_, "init");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kCreate, Key("team", "one"), Job("one", "team")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->path, "team/one.yaml");
  EXPECT_EQ(ReadAll(dir_ / "team/one.yaml"), Job("one", "team"));
  EXPECT_EQ(Sh(repo_, "git log -1 --format=%s"), "create team/one by alice");
  // team/two.yaml holds "other": a create of team/two appends a document.
  r = w->Write(Req(WriteOp::kCreate, Key("team", "two"), Job("two", "team")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(dir_ / "team/two.yaml"),
            "# existing\n" + Job("other", "team") + "---\n" + Job("two", "team"));
  EXPECT_EQ(Status(), "");
  auto dup = w->Write(Req(WriteOp::kCreate, Key("default", "a"), Job("a")));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(dup.status().message(), HasSubstr("a.yaml"));
  EXPECT_EQ(Sh(repo_, "git rev-list --count HEAD"), "3");
}

TEST_F(GitManifestWriterTest, UpdateOrDeleteOfAnUndeclaredObjectIsNotFound) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  std::string head = CommitAll(repo_, "init");
  auto w = Open();
  EXPECT_EQ(w->Write(Req(WriteOp::kUpdate, Key("default", "zz"), Job("zz"))).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(w->Write(Req(WriteOp::kDelete, Key("x", "a"))).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Head(), head);
}

TEST_F(GitManifestWriterTest, DocumentForAnotherObjectIsRefused) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  std::string head = CommitAll(repo_, "init");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("b")));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Head(), head);
}

TEST_F(GitManifestWriterTest, UncommittedEditsInTheFileAreNeverOverwritten) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  WriteFile(dir_ / "b.yaml", Job("b"));
  std::string head = CommitAll(repo_, "init");
  auto w = Open();
  const std::string hand = Job("a", "", "hand-edited");
  WriteFile(dir_ / "a.yaml", hand);
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "api")));
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), HasSubstr("a.yaml has uncommitted changes"));
  EXPECT_EQ(ReadAll(dir_ / "a.yaml"), hand);
  EXPECT_EQ(Head(), head);
  // Staged but not committed: refused as well.
  Sh(repo_, "git add manifests/a.yaml");
  EXPECT_EQ(w->Write(Req(WriteOp::kDelete, Key("default", "a"))).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(Head(), head);
  // An untracked file where a create would write.
  WriteFile(dir_ / "default/c.yaml", "# mine\n");
  EXPECT_EQ(w->Write(Req(WriteOp::kCreate, Key("default", "c"), Job("c"))).status().code(),
            StatusCode::kAborted);
  EXPECT_EQ(ReadAll(dir_ / "default/c.yaml"), "# mine\n");
  // Another file is fine, and the staged edit of a.yaml survives it.
  auto ok = w->Write(Req(WriteOp::kUpdate, Key("default", "b"), Job("b", "", "api")));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(Sh(repo_, "git show HEAD:manifests/a.yaml"), Job("a").substr(0, Job("a").size() - 1));
  EXPECT_EQ(Sh(repo_, "git diff --cached --name-only"), "manifests/a.yaml");
  EXPECT_EQ(syncs_.load(), 1);
  EXPECT_EQ(results_, (std::vector<std::string>{"refused", "refused", "refused", "committed"}));
}

TEST_F(GitManifestWriterTest, ExpectedYamlMismatchIsAborted) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  std::string head = CommitAll(repo_, "init");
  auto w = Open();
  auto read = w->Find(Key("default", "a"), "");
  ASSERT_TRUE(read.ok());
  // Someone changes it in git after the caller read it.
  WriteFile(dir_ / "a.yaml", Job("a", "", "pushed"));
  std::string theirs = CommitAll(repo_, "theirs");
  auto req = Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "api"));
  req.expected_yaml = read->yaml;
  auto r = w->Write(req);
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), HasSubstr("changed since it was read"));
  EXPECT_EQ(Head(), theirs);
  EXPECT_EQ(results_, std::vector<std::string>{"conflict"});
  // With the current text it goes through.
  req.expected_yaml = w->Find(Key("default", "a"), "a.yaml")->yaml;
  EXPECT_TRUE(w->Write(req).ok());
  (void)head;
}

TEST_F(GitManifestWriterTest, ManifestsInASubdirectoryAndObjectsMovedByOthers) {
  WriteFile(dir_ / "x/a.yaml", Job("a"));
  WriteFile(repo_ / "README.md", "docs\n");
  CommitAll(repo_, "init");
  auto w = Open();
  ASSERT_EQ(w->Find(Key("default", "a"), "")->path, "x/a.yaml");  // builds the index
  // A hand commit moves the object to another file.
  Sh(repo_, "git mv manifests/x/a.yaml manifests/y.yaml && git commit -q -m move");
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "2")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->path, "y.yaml");
  EXPECT_EQ(ReadAll(dir_ / "y.yaml"), Job("a", "", "2"));
  EXPECT_EQ(ReadAll(repo_ / "README.md"), "docs\n");
}

TEST_F(GitManifestWriterTest, IndexFollowsCommitsMadeByOthers) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  WriteFile(dir_ / "b.yaml", Job("b"));
  CommitAll(repo_, "init");
  auto w = Open();
  ASSERT_TRUE(w->Find(Key("default", "a"), "").ok());  // builds the index
  // Others add z (in a file whose name says nothing) and remove b.
  WriteFile(dir_ / "misc/team.yaml", "# mixed\n---\n" + Job("z"));
  fs::remove(dir_ / "b.yaml");
  CommitAll(repo_, "others");
  auto dup = w->Write(Req(WriteOp::kCreate, Key("default", "z"), Job("z")));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_THAT(dup.status().message(), HasSubstr("misc/team.yaml"));
  EXPECT_EQ(w->Write(Req(WriteOp::kDelete, Key("default", "b"))).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(w->Find(Key("default", "z"), "")->path, "misc/team.yaml");
  // A create of b (gone) goes through.
  EXPECT_TRUE(w->Write(Req(WriteOp::kCreate, Key("default", "b"), Job("b"))).ok());
  EXPECT_EQ(ReadAll(dir_ / "default/b.yaml"), Job("b"));
}

TEST_F(GitManifestWriterTest, JsonManifestStaysJson) {
  WriteFile(dir_ / "j.json", R"({"apiVersion": "mlspace.io/v1alpha1", "kind": "MLSpaceJob",)"
                             R"( "metadata": {"name": "j"}, "spec": {"image": "img:1"}})"
                             "\n");
  CommitAll(repo_, "init");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "j"), Job("j", "", "img:2")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(dir_ / "j.json"),
            "{\n  \"apiVersion\": \"mlspace.io/v1alpha1\",\n  \"kind\": \"MLSpaceJob\",\n"
            "  \"metadata\": {\n    \"name\": \"j\"\n  },\n  \"spec\": {\n"
            "    \"image\": \"img:2\"\n  }\n}\n");
}

TEST_F(GitManifestWriterTest, DetachedHeadIsRefused) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  CommitAll(repo_, "init");
  Sh(repo_, "git checkout -q --detach");
  auto w = Open();
  auto r = w->Write(Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "2")));
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("detached"));
}

TEST_F(GitManifestWriterTest, OffRefusesEveryWrite) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  std::string head = CommitAll(repo_, "init");
  GitManifestWriter::Options o;
  o.mode = ApiWriteMode::kOff;
  auto w = Open(o);
  EXPECT_EQ(w->Write(Req(WriteOp::kDelete, Key("default", "a"))).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(Head(), head);
}

TEST_F(GitManifestWriterTest, ConcurrentWritesAreSerializedAndNoneIsLost) {
  WriteFile(dir_ / "shared.yaml", Job("s0") + "---\n" + Job("s1") + "---\n" + Job("s2"));
  CommitAll(repo_, "init");
  auto w = Open();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 3;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        if (!w->Write(Req(WriteOp::kCreate, Key("load", name), Job(name, "load"))).ok()) {
          ++failures;
        }
        if (t < 3) {  // and updates of the documents of one shared file
          std::string s = "s" + std::to_string(t);
          auto r = w->Write(
              Req(WriteOp::kUpdate, Key("default", s), Job(s, "", "v" + std::to_string(i))));
          if (!r.ok() || r->commit.empty()) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const int writes = kThreads * kPerThread + 3 * kPerThread;
  EXPECT_EQ(Sh(repo_, "git rev-list --count HEAD"), std::to_string(writes + 1));
  EXPECT_EQ(Sh(repo_, "git ls-files manifests/load | wc -l"),
            std::to_string(kThreads * kPerThread));
  EXPECT_EQ(ReadAll(dir_ / "shared.yaml"),
            Job("s0", "", "v2") + "---\n" + Job("s1", "", "v2") + "---\n" + Job("s2", "", "v2"));
  EXPECT_EQ(Status(), "");
  EXPECT_EQ(syncs_.load(), writes);
}

TEST_F(GitManifestWriterTest, CallerNamesCannotForgeCommitMessageLines) {
  WriteFile(dir_ / "a.yaml", Job("a"));
  CommitAll(repo_, "init");
  auto w = Open();
  auto req = Req(WriteOp::kUpdate, Key("default", "a"), Job("a", "", "2"));
  req.user = "mallory\n\nSigned-off-by: alice";
  ASSERT_TRUE(w->Write(req).ok());
  EXPECT_EQ(Sh(repo_, "git log -1 --format=%s"),
            "apply default/a by mallory??Signed-off-by: alice");
  EXPECT_EQ(Sh(repo_, "git log -1 --format='%(trailers)'"), "");
}

TEST(ParseGitAuthorTest, NameAndEmail) {
  auto a = ParseGitAuthor("Deploy Bot <bot@example.com>");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "Deploy Bot");
  EXPECT_EQ(a->email, "bot@example.com");
  EXPECT_TRUE(ParseGitAuthor(kDefaultGitAuthor).ok());
  for (const char* bad : {"", "bot@example.com", "<bot@x>", "Bot <>", "Bot <a b>", "Bot <x> y"}) {
    auto r = ParseGitAuthor(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("--git-author"));
  }
}

TEST(ParseApiWriteModeTest, Values) {
  EXPECT_EQ(*ParseApiWriteMode("off"), ApiWriteMode::kOff);
  EXPECT_EQ(*ParseApiWriteMode("commit"), ApiWriteMode::kCommit);
  EXPECT_EQ(*ParseApiWriteMode("push"), ApiWriteMode::kPush);
  EXPECT_THAT(ParseApiWriteMode("yes").status().message(), HasSubstr("--api-write"));
  EXPECT_EQ(ApiWriteModeName(ApiWriteMode::kPush), "push");
}

}  // namespace
}  // namespace mlspace::source
