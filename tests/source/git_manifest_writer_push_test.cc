// --api-write=push against a bare repository served over file://, with
// pushes from another clone racing the writer (issue 13).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controller/source/git_manifest_writer.h"
#include "controller/source/git_remote_source.h"
#include "tests/source/git_test_util.h"

namespace mlspace::source {
namespace {

using namespace mlspace::source::testing;  // NOLINT
using api::ManifestWriteRequest;
using api::WriteOp;
using ::testing::HasSubstr;

std::string Job(const std::string& name, const std::string& image = "img:1") {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
         "\nspec:\n  image: " + image + "\n";
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ManifestWriteRequest Update(const std::string& name, const std::string& image) {
  ManifestWriteRequest r;
  r.op = WriteOp::kUpdate;
  r.key = ObjectKey{"default", name};
  r.yaml = Job(name, image);
  r.verb = "patch";
  r.user = "alice";
  return r;
}

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HermeticGitEnv();
    origin_ = tmp_.path() / "origin.git";
    fs::create_directories(origin_);
    Sh(origin_, "git init -q --bare -b main .");
    url_ = "file://" + origin_.string();
    seed_ = tmp_.path() / "seed";
    Sh(tmp_.path(), "git clone -q " + url_ + " seed");
    Sh(seed_, "git checkout -q -b main");
    WriteFile(seed_ / "jobs/a.yaml", Job("a"));
    WriteFile(seed_ / "jobs/b.yaml", Job("b"));
    CommitAll(seed_, "init");
    Sh(seed_, "git push -q origin main");
  }

  // Another clone pushing `content` to jobs/<file>.
  std::string PushFromElsewhere(const std::string& file, const std::string& content) {
    Sh(seed_, "git pull -q --rebase origin main");
    WriteFile(seed_ / "jobs" / file, content);
    CommitAll(seed_, "elsewhere: " + file);
    Sh(seed_, "git push -q origin main");
    return Sh(seed_, "git rev-parse HEAD");
  }

  std::string RemoteHead() { return Sh(origin_, "git rev-parse main"); }
  std::string RemoteFile(const std::string& rel) {
    return Sh(origin_, "git show main:jobs/" + rel) + "\n";
  }

  std::unique_ptr<GitManifestWriter> Open(GitManifestWriter::Options o) {
    o.mode = ApiWriteMode::kPush;
    o.on_commit = [this] { ++syncs_; };
    auto w = GitManifestWriter::Open(std::move(o));
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(w).value() : nullptr;
  }

  TempDir tmp_;
  fs::path origin_, seed_;
  std::string url_;
  std::atomic<int> syncs_{0};
};

// --manifests in a clone of the remote, --api-write=push.
class LocalPushTest : public PushTest {
 protected:
  void SetUp() override {
    PushTest::SetUp();
    work_ = tmp_.path() / "work";
    Sh(tmp_.path(), "git clone -q " + url_ + " work");
    GitManifestWriter::Options o;
    o.manifests_dir = (work_ / "jobs").string();
    writer_ = Open(o);
    ASSERT_NE(writer_, nullptr);
  }
  fs::path work_;
  std::unique_ptr<GitManifestWriter> writer_;
};

TEST_F(LocalPushTest, CommitIsPushedToTheSameBranch) {
  auto r = writer_->Write(Update("a", "api"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(RemoteHead(), r->commit);
  EXPECT_EQ(Sh(work_, "git rev-parse HEAD"), r->commit);
  EXPECT_EQ(RemoteFile("a.yaml"), Job("a", "api"));
  EXPECT_EQ(Sh(work_, "git status --porcelain"), "");
  EXPECT_EQ(syncs_.load(), 1);
}

TEST_F(LocalPushTest, RejectedPushIsRebasedWhenItAppliesCleanly) {
  std::string theirs = PushFromElsewhere("b.yaml", Job("b", "theirs"));
  auto r = writer_->Write(Update("a", "api"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(RemoteHead(), r->commit);
  EXPECT_EQ(Sh(origin_, "git rev-parse main~1"), theirs);  // nothing lost on the remote
  EXPECT_EQ(RemoteFile("a.yaml"), Job("a", "api"));
  EXPECT_EQ(RemoteFile("b.yaml"), Job("b", "theirs"));
  // The local branch and work tree moved to the rebased commit.
  EXPECT_EQ(Sh(work_, "git rev-parse HEAD"), r->commit);
  EXPECT_EQ(ReadAll(work_ / "jobs/b.yaml"), Job("b", "theirs"));
  EXPECT_EQ(ReadAll(work_ / "jobs/a.yaml"), Job("a", "api"));
  EXPECT_EQ(Sh(work_, "git status --porcelain"), "");
}

TEST_F(LocalPushTest, ConflictingPushIsAbortedAndNothingIsLost) {
  std::string local_head = Sh(work_, "git rev-parse HEAD");
  std::string theirs = PushFromElsewhere("a.yaml", Job("a", "theirs"));
  auto r = writer_->Write(Update("a", "api"));
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_THAT(r.status().message(), HasSubstr("changed on the remote"));
  EXPECT_EQ(RemoteHead(), theirs);
  EXPECT_EQ(RemoteFile("a.yaml"), Job("a", "theirs"));
  EXPECT_EQ(Sh(work_, "git rev-parse HEAD"), local_head);
  EXPECT_EQ(ReadAll(work_ / "jobs/a.yaml"), Job("a"));
  EXPECT_EQ(syncs_.load(), 0);
}

TEST_F(LocalPushTest, ConcurrentPushesFromAnotherCloneLoseNothing) {
  constexpr int kWrites = 8;
  constexpr int kTheirs = 4;
  std::thread other([&] {
    for (int i = 0; i < kTheirs; ++i) {
      // git's own retry loop: rebase onto whatever the writer pushed.
      Sh(seed_, "git pull -q --rebase origin main");
      WriteFile(seed_ / "jobs" / ("other-" + std::to_string(i) + ".yaml"),
                Job("other-" + std::to_string(i)));
      CommitAll(seed_, "theirs " + std::to_string(i));
      Sh(seed_,
         "for i in $(seq 30); do git push -q origin main 2>/dev/null && exit 0; "
         "git pull -q --rebase origin main; done; exit 1");
    }
  });
  int failed = 0;
  int writes = 0;
  for (int i = 0; i < kWrites; ++i, ++writes) {
    // Paced so that the other clone's fetch-rebase-push gets through too.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    auto r = writer_->Write(Update(i % 2 ? "a" : "b", "v" + std::to_string(i)));
    if (!r.ok()) {
      ++failed;
      // Only ever a clean refusal (the remote kept moving), never an error.
      EXPECT_EQ(r.status().code(), StatusCode::kAborted) << r.status().ToString();
    }
  }
  other.join();
  EXPECT_LE(failed, writes / 4);
  const std::string log = Sh(origin_, "git log --format=%s main");
  int ours = 0, theirs = 0;
  std::istringstream lines(log);
  for (std::string l; std::getline(lines, l);) {
    if (l.rfind("patch default/", 0) == 0) ++ours;
    if (l.rfind("theirs ", 0) == 0) ++theirs;
  }
  EXPECT_EQ(ours, writes - failed);  // each accepted write committed exactly once
  EXPECT_EQ(theirs, kTheirs);
}

// --git-url: the writer commits in the controller's bare clone.
TEST_F(PushTest, GitUrlClonePushesAndTheSourceSeesTheCommitWithoutAFetch) {
  GitRemoteSource::Options so;
  so.url = url_;
  so.state_dir = (tmp_.path() / "state").string();
  so.subdir = "jobs";
  auto src = GitRemoteSource::Open(so);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_TRUE((*src)->Refresh().ok());
  GitManifestWriter::Options o;
  o.clone_dir = (*src)->checkout_dir();
  o.subdir = "jobs";
  auto w = Open(o);
  ASSERT_NE(w, nullptr);

  auto r = w->Write(Update("a", "api"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(RemoteHead(), r->commit);
  EXPECT_EQ(RemoteFile("a.yaml"), Job("a", "api"));
  EXPECT_EQ((*src)->Read()->revision, r->commit);  // no Refresh in between

  // A clean concurrent push elsewhere: rebased.
  std::string theirs = PushFromElsewhere("b.yaml", Job("b", "theirs"));
  r = w->Write(Update("a", "api2"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Sh(origin_, "git rev-parse main~1"), theirs);
  EXPECT_EQ((*src)->Read()->revision, r->commit);

  // A conflicting one: 409, the clone reset to the remote, nothing lost.
  theirs = PushFromElsewhere("a.yaml", Job("a", "theirs"));
  r = w->Write(Update("a", "api3"));
  EXPECT_EQ(r.status().code(), StatusCode::kAborted);
  EXPECT_EQ(RemoteHead(), theirs);
  EXPECT_EQ((*src)->Read()->revision, theirs);
  auto found = w->Find(ObjectKey{"default", "a"}, "a.yaml");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->yaml, Job("a", "theirs"));
  EXPECT_EQ(syncs_.load(), 2);
}

TEST_F(PushTest, GitUrlFollowingATagCannotPush) {
  Sh(seed_, "git tag v1 && git push -q origin v1");
  GitRemoteSource::Options so;
  so.url = url_;
  so.ref = "v1";
  so.state_dir = (tmp_.path() / "state").string();
  auto src = GitRemoteSource::Open(so);
  ASSERT_TRUE(src.ok());
  ASSERT_TRUE((*src)->Refresh().ok());
  GitManifestWriter::Options o;
  o.clone_dir = (*src)->checkout_dir();
  o.subdir = "jobs";
  o.remote_branch = "v1";
  auto w = Open(o);
  std::string head = RemoteHead();
  auto r = w->Write(Update("a", "api"));
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("not a branch"));
  EXPECT_EQ(Sh(origin_, "git for-each-ref --format='%(refname)'"), "refs/heads/main\nrefs/tags/v1");
  EXPECT_EQ(RemoteHead(), head);
}

TEST_F(PushTest, UnreachableRemoteIsUnavailableAndNothingMoves) {
  Sh(tmp_.path(), "git clone -q " + url_ + " work");
  GitManifestWriter::Options o;
  o.manifests_dir = (tmp_.path() / "work/jobs").string();
  auto w = Open(o);
  ASSERT_NE(w, nullptr);
  std::string head = Sh(tmp_.path() / "work", "git rev-parse HEAD");
  fs::rename(origin_, tmp_.path() / "gone.git");
  auto r = w->Write(Update("a", "api"));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_EQ(Sh(tmp_.path() / "work", "git rev-parse HEAD"), head);
  EXPECT_EQ(ReadAll(tmp_.path() / "work/jobs/a.yaml"), Job("a"));
}

}  // namespace
}  // namespace mlspace::source
