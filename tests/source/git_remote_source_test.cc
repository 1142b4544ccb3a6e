#include "controller/source/git_remote_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/source/git_test_util.h"

namespace mlspace::source {
namespace {

using namespace mlspace::source::testing;  // NOLINT
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Paths(const Snapshot& s) {
  std::vector<std::string> v;
  for (const auto& f : s.files) v.push_back(f.path);
  return v;
}

// upstream.git is a bare repository; work/ is a clone that pushes to it.
class GitRemoteSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HermeticGitEnv();
    upstream_ = tmp_.path() / "upstream.git";
    work_ = tmp_.path() / "work";
    state_ = tmp_.path() / "state";
    Sh(tmp_.path(), "git init -q --bare -b main upstream.git");
    GitInit(work_);
    Sh(work_, "git remote add origin '" + upstream_.string() + "'");
  }

  std::string CommitAndPush(const std::string& msg, bool force = false) {
    std::string rev = CommitAll(work_, msg);
    Sh(work_, std::string("git push -q ") + (force ? "--force " : "") + "origin HEAD:main");
    return rev;
  }

  GitRemoteSource::Options Opts() {
    GitRemoteSource::Options o;
    o.url = "file://" + upstream_.string();
    o.ref = "main";
    o.subdir = "jobs";
    o.state_dir = state_.string();
    return o;
  }

  std::unique_ptr<GitRemoteSource> OpenSource(GitRemoteSource::Options o) {
    auto src = GitRemoteSource::Open(std::move(o));
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    return src.ok() ? std::move(src).value() : nullptr;
  }

  TempDir tmp_;
  fs::path upstream_, work_, state_;
};

TEST_F(GitRemoteSourceTest, ReadBeforeFirstFetchIsAnError) {
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  auto s = src->Read();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.status().message(), HasSubstr("no revision fetched yet"));
}

TEST_F(GitRemoteSourceTest, ClonesAndReadsTheRefIntoTheStateDir) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  WriteFile(work_ / "jobs/sub/b.yml", "kind: B\n");
  WriteFile(work_ / "jobs/notes.md", "x\n");
  WriteFile(work_ / "src/other.yaml", "outside\n");
  std::string rev = CommitAndPush("one");
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->checkout_dir(), (state_ / "checkout").string());
  Status r = src->Refresh();
  ASSERT_TRUE(r.ok()) << r.ToString();
  EXPECT_TRUE(fs::exists(state_ / "checkout/HEAD"));
  auto s = src->Read();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->revision, rev);
  EXPECT_THAT(Paths(*s), ElementsAre("a.yaml", "sub/b.yml"));
  EXPECT_EQ(s->files[0].blob_id, Sh(work_, "git rev-parse HEAD:jobs/a.yaml"));
  EXPECT_EQ(*src->ReadBlob(s->files[1].blob_id), "kind: B\n");
}

TEST_F(GitRemoteSourceTest, FetchesNewCommitsAndSignalsTheChange) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  CommitAndPush("one");
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Refresh().ok());
  auto s1 = *src->Read();
  while (src->WaitForChange(milliseconds(0))) {
  }
  // A fetch that finds nothing new does not signal.
  ASSERT_TRUE(src->Refresh().ok());
  EXPECT_FALSE(src->WaitForChange(milliseconds(20)));

  WriteFile(work_ / "jobs/b.yaml", "kind: B\n");
  std::string rev2 = CommitAndPush("two");
  EXPECT_EQ(src->Read()->revision, s1.revision);  // not before a fetch
  ASSERT_TRUE(src->Refresh().ok());
  EXPECT_TRUE(src->WaitForChange(milliseconds(0)));
  auto s2 = *src->Read();
  EXPECT_EQ(s2.revision, rev2);
  EXPECT_THAT(Paths(s2), ElementsAre("a.yaml", "b.yaml"));
  EXPECT_EQ(s2.files[0].blob_id, s1.files[0].blob_id);
}

TEST_F(GitRemoteSourceTest, FollowsAForcePushThatRewritesHistory) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  CommitAndPush("one");
  WriteFile(work_ / "jobs/bad.yaml", "kind: Bad\n");
  std::string bad = CommitAndPush("bad");
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Refresh().ok());
  EXPECT_EQ(src->Read()->revision, bad);

  Sh(work_, "git reset -q --hard HEAD~1");
  WriteFile(work_ / "jobs/good.yaml", "kind: Good\n");
  std::string good = CommitAndPush("good", /*force=*/true);
  Status r = src->Refresh();
  ASSERT_TRUE(r.ok()) << r.ToString();
  auto s = src->Read();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->revision, good);
  EXPECT_THAT(Paths(*s), ElementsAre("a.yaml", "good.yaml"));
}

TEST_F(GitRemoteSourceTest, FailedFetchKeepsTheLastGoodRevision) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  std::string rev = CommitAndPush("one");
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Refresh().ok());
  fs::remove_all(upstream_);
  Status r = src->Refresh();
  EXPECT_FALSE(r.ok());
  auto s = src->Read();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->revision, rev);
  EXPECT_THAT(Paths(*s), ElementsAre("a.yaml"));
  EXPECT_EQ(*src->ReadBlob(s->files[0].blob_id), "kind: A\n");
}

TEST_F(GitRemoteSourceTest, UnknownRefFailsAndKeepsTheLastGoodRevision) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  std::string rev = CommitAndPush("one");
  auto good = OpenSource(Opts());
  ASSERT_NE(good, nullptr);
  ASSERT_TRUE(good->Refresh().ok());
  good.reset();
  auto opts = Opts();
  opts.ref = "no-such-branch";
  auto src = OpenSource(opts);
  ASSERT_NE(src, nullptr);
  Status r = src->Refresh();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.code(), StatusCode::kNotFound);
  EXPECT_THAT(r.message(), HasSubstr("no-such-branch"));
  EXPECT_EQ(src->Read()->revision, rev);
}

TEST_F(GitRemoteSourceTest, TagsFullRefsAndDefaultBranch) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  std::string v1 = CommitAndPush("one");
  Sh(work_, "git tag v1 && git push -q origin v1");
  WriteFile(work_ / "jobs/b.yaml", "kind: B\n");
  std::string head = CommitAndPush("two");

  for (const auto& [ref, want] : std::vector<std::pair<std::string, std::string>>{
           {"v1", v1}, {"refs/tags/v1", v1}, {"", head}, {"refs/heads/main", head}}) {
    TempDir state;
    auto opts = Opts();
    opts.ref = ref;
    opts.state_dir = state.path().string();
    auto src = OpenSource(opts);
    ASSERT_NE(src, nullptr);
    Status r = src->Refresh();
    ASSERT_TRUE(r.ok()) << ref << ": " << r.ToString();
    EXPECT_EQ(src->Read()->revision, want) << ref;
  }
}

TEST_F(GitRemoteSourceTest, RestartServesTheLastFetchWithoutNetwork) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  std::string rev = CommitAndPush("one");
  {
    auto src = OpenSource(Opts());
    ASSERT_NE(src, nullptr);
    ASSERT_TRUE(src->Refresh().ok());
  }
  fs::remove_all(upstream_);
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->Read()->revision, rev);
  EXPECT_FALSE(src->Refresh().ok());
  EXPECT_EQ(src->Read()->revision, rev);
}

TEST_F(GitRemoteSourceTest, UrlChangeRepointsTheClone) {
  WriteFile(work_ / "jobs/a.yaml", "kind: A\n");
  CommitAndPush("one");
  {
    auto src = OpenSource(Opts());
    ASSERT_NE(src, nullptr);
    ASSERT_TRUE(src->Refresh().ok());
  }
  Sh(tmp_.path(), "git clone -q --bare upstream.git moved.git");
  fs::remove_all(upstream_);
  upstream_ = tmp_.path() / "moved.git";
  Sh(work_, "git remote set-url origin '" + upstream_.string() + "'");
  WriteFile(work_ / "jobs/b.yaml", "kind: B\n");
  std::string rev2 = CommitAndPush("two");
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Refresh().ok());
  EXPECT_EQ(src->Read()->revision, rev2);
}

TEST_F(GitRemoteSourceTest, MissingSubdirAtTheFetchedRevisionIsAnError) {
  WriteFile(work_ / "other/a.yaml", "kind: A\n");
  std::string rev = CommitAndPush("one");
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Refresh().ok());
  auto s = src->Read();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "manifests path jobs not found at revision " + rev);
}

TEST_F(GitRemoteSourceTest, OpenValidatesOptions) {
  auto o = Opts();
  o.url.clear();
  EXPECT_FALSE(GitRemoteSource::Open(o).ok());
  o = Opts();
  o.state_dir.clear();
  EXPECT_FALSE(GitRemoteSource::Open(o).ok());
}

TEST_F(GitRemoteSourceTest, WakeInterruptsWait) {
  auto src = OpenSource(Opts());
  ASSERT_NE(src, nullptr);
  src->Wake();
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  EXPECT_FALSE(src->WaitForChange(milliseconds(10)));
}

}  // namespace
}  // namespace mlspace::source

namespace mlspace::source {
namespace {

// No network here: https and ssh are exercised as far as a refused
// connection on 127.0.0.1, which must fail promptly, keep credentials out of
// the error, and keep the source readable.
TEST(GitRemoteSourceNetworkTest, HttpsAndSshFailCleanlyWithoutLeakingSecrets) {
  testing::HermeticGitEnv();
  testing::TempDir state, secrets;
  testing::WriteFile(secrets.path() / "token", "s3cr3t-token-value\n");
  testing::WriteFile(secrets.path() / "identity", "not a real key\n");
  auto creds = LoadGitCredentials(secrets.path().string());
  ASSERT_TRUE(creds.ok());
  for (const std::string url :
       {"https://bot:s3cr3t-token-value@127.0.0.1:1/org/repo.git",
        "https://127.0.0.1:1/org/repo.git", "ssh://git@127.0.0.1:1/org/repo.git"}) {
    GitRemoteSource::Options o;
    o.url = url;
    o.ref = "main";
    o.state_dir = (state.path() / std::to_string(std::hash<std::string>()(url))).string();
    o.credentials = *creds;
    auto src = GitRemoteSource::Open(o);
    ASSERT_TRUE(src.ok()) << url << ": " << src.status().ToString();
    Status r = (*src)->Refresh();
    EXPECT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.message().find("s3cr3t-token-value"), std::string::npos) << r.message();
    EXPECT_EQ((*src)->Read().status().code(), StatusCode::kUnavailable);
  }
}

}  // namespace
}  // namespace mlspace::source
