#include "controller/source/git_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "controller/core/log.h"
#include "tests/source/git_test_util.h"

namespace mlspace::source {
namespace {

using namespace mlspace::source::testing;  // NOLINT
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::map<std::string, std::string> ByPath(const Snapshot& s) {
  std::map<std::string, std::string> m;
  for (const auto& f : s.files) m[f.path] = f.blob_id;
  return m;
}

std::vector<std::string> Paths(const Snapshot& s) {
  std::vector<std::string> v;
  for (const auto& f : s.files) v.push_back(f.path);
  return v;
}

class GitSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HermeticGitEnv();
    repo_ = tmp_.path() / "repo";
    GitInit(repo_);
  }

  std::unique_ptr<GitSource> OpenSource(const fs::path& dir) {
    auto src = GitSource::Open({dir.string()});
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    return src.ok() ? std::move(src).value() : nullptr;
  }

  std::string BlobAt(const std::string& spec) { return Sh(repo_, "git rev-parse HEAD:" + spec); }

  TempDir tmp_;
  fs::path repo_;
};

TEST_F(GitSourceTest, ReadsCommittedManifestsRecursivelyWithBlobIds) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  WriteFile(repo_ / "jobs/team/b.yml", "kind: B\n");
  WriteFile(repo_ / "jobs/team/deep/c.json", "{}\n");
  WriteFile(repo_ / "jobs/README.md", "not a manifest\n");
  WriteFile(repo_ / "jobs/script.sh", "echo\n");
  WriteFile(repo_ / "jobs/.hidden.yaml", "kind: Hidden\n");
  WriteFile(repo_ / "jobs/.dot/x.yaml", "kind: X\n");
  WriteFile(repo_ / "jobs/yaml", "no extension\n");
  std::string rev = CommitAll(repo_, "one");

  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->relative_path(), "jobs");
  auto snap = src->Read();
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  EXPECT_EQ(snap->revision, rev);
  EXPECT_THAT(Paths(*snap), ElementsAre("a.yaml", "team/b.yml", "team/deep/c.json"));
  EXPECT_EQ(snap->files[0].blob_id, BlobAt("jobs/a.yaml"));
  EXPECT_EQ(snap->files[2].blob_id, BlobAt("jobs/team/deep/c.json"));
  auto bytes = src->ReadBlob(snap->files[1].blob_id);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "kind: B\n");
}

// Peak resident memory of this process in KiB since the last reset, or -1
// when the kernel does not allow resetting it (/proc/self/clear_refs "5").
long ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return clear.good() ? 0 : -1;
}
long PeakRssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}
long RssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Issue 11: a committed 300 MB .yaml was inflated whole before the 8 MiB
// limit applied. Now its size comes from the object header: refused with
// the size, and the peak RSS does not grow by the blob.
TEST_F(GitSourceTest, OversizedBlobIsRefusedBySizeWithoutBeingRead) {
  constexpr size_t kBig = size_t{96} << 20;
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  {
    std::ofstream out(repo_ / "jobs/data.yaml", std::ios::binary);
    std::string chunk(1 << 20, '#');
    for (size_t i = 0; i < kBig >> 20; ++i) out << chunk;
  }
  CommitAll(repo_, "big");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  auto snap = src->Read();
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_THAT(Paths(*snap), ElementsAre("a.yaml", "data.yaml"));
  ASSERT_TRUE(src->ReadBlob(snap->files[0].blob_id).ok());  // warm up libgit2's caches

  if (ResetPeakRss() != 0) GTEST_SKIP() << "/proc/self/clear_refs is not writable";
  long before = RssKib();
  auto big = src->ReadBlob(snap->files[1].blob_id);
  long peak = PeakRssKib();
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(big.status().message(), "file is 100663296 bytes, larger than the 8 MiB limit");
  ASSERT_GT(before, 0);
  EXPECT_LT(peak - before, 16 * 1024) << "the blob was read into memory";
  // Right at the limit the bytes are read.
  WriteFile(repo_ / "jobs/data.yaml", std::string(kMaxBlobBytes, '#'));
  CommitAll(repo_, "at the limit");
  snap = src->Read();
  ASSERT_TRUE(snap.ok());
  auto at = src->ReadBlob(snap->files[1].blob_id);
  ASSERT_TRUE(at.ok()) << at.status().ToString();
  EXPECT_EQ(at->size(), kMaxBlobBytes);
}

TEST_F(GitSourceTest, ChangeGivesNewBlobIdAndKeepsOthers) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  WriteFile(repo_ / "jobs/b.yaml", "kind: B\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  auto s1 = src->Read();
  ASSERT_TRUE(s1.ok());
  WriteFile(repo_ / "jobs/b.yaml", "kind: B2\n");
  std::string rev2 = CommitAll(repo_, "two");
  auto s2 = src->Read();
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->revision, rev2);
  EXPECT_EQ(ByPath(*s1)["a.yaml"], ByPath(*s2)["a.yaml"]);
  EXPECT_NE(ByPath(*s1)["b.yaml"], ByPath(*s2)["b.yaml"]);
  EXPECT_EQ(*src->ReadBlob(ByPath(*s2)["b.yaml"]), "kind: B2\n");
  // The old blob is still readable (callers may hold the old snapshot).
  EXPECT_EQ(*src->ReadBlob(ByPath(*s1)["b.yaml"]), "kind: B\n");
}

TEST_F(GitSourceTest, AddRemoveAndRename) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  WriteFile(repo_ / "jobs/b.yaml", "kind: B\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  auto s1 = *src->Read();

  WriteFile(repo_ / "jobs/c.yaml", "kind: C\n");
  CommitAll(repo_, "add");
  EXPECT_THAT(Paths(*src->Read()), ElementsAre("a.yaml", "b.yaml", "c.yaml"));

  Sh(repo_, "git rm -q jobs/b.yaml && git commit -q -m rm");
  EXPECT_THAT(Paths(*src->Read()), ElementsAre("a.yaml", "c.yaml"));

  Sh(repo_, "git mv jobs/a.yaml jobs/renamed.yaml && git commit -q -m mv");
  auto s4 = *src->Read();
  EXPECT_THAT(Paths(s4), ElementsAre("c.yaml", "renamed.yaml"));
  EXPECT_EQ(ByPath(s4)["renamed.yaml"], ByPath(s1)["a.yaml"]);
}

TEST_F(GitSourceTest, UncommittedEditsAreIgnoredAndLoggedOncePerRevision) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  std::string rev = CommitAll(repo_, "one");
  std::mutex mu;
  std::vector<std::string> lines;
  Logger::Get().SetSink([&](std::string_view l) {
    std::lock_guard<std::mutex> lock(mu);
    lines.emplace_back(l);
  });
  auto count_warnings = [&] {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (const auto& l : lines) n += l.find("uncommitted") != std::string::npos;
    return n;
  };
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  WriteFile(repo_ / "jobs/a.yaml", "kind: Edited\n");
  WriteFile(repo_ / "jobs/new.yaml", "kind: New\n");
  WriteFile(repo_ / "jobs/notes.txt", "not a manifest\n");
  WriteFile(repo_ / "elsewhere.yaml", "outside DIR\n");

  auto s = src->Read();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->revision, rev);
  EXPECT_THAT(Paths(*s), ElementsAre("a.yaml"));
  EXPECT_EQ(count_warnings(), 0);  // Read stays cheap: no work-tree scan
  src->WaitForChange(milliseconds(0));
  EXPECT_EQ(*src->ReadBlob(s->files[0].blob_id), "kind: A\n");
  EXPECT_THAT(src->uncommitted_files(), ElementsAre("a.yaml", "new.yaml"));
  EXPECT_EQ(count_warnings(), 1);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_THAT(lines.back(), HasSubstr("a.yaml, new.yaml"));
  }
  ASSERT_TRUE(src->Read().ok());
  src->WaitForChange(milliseconds(0));
  ASSERT_TRUE(src->Read().ok());
  src->WaitForChange(milliseconds(0));
  EXPECT_EQ(count_warnings(), 1);  // same revision, same edits: once

  CommitAll(repo_, "commit the edits");
  auto s2 = src->Read();
  ASSERT_TRUE(s2.ok());
  EXPECT_THAT(Paths(*s2), ElementsAre("a.yaml", "new.yaml"));
  src->WaitForChange(milliseconds(0));
  EXPECT_TRUE(src->uncommitted_files().empty());
  EXPECT_EQ(count_warnings(), 1);
  Logger::Get().ResetSink();
}

TEST_F(GitSourceTest, SubdirectoryOfABiggerRepository) {
  WriteFile(repo_ / "src/main.cc", "int main() {}\n");
  WriteFile(repo_ / "deploy/other.yaml", "kind: Other\n");
  WriteFile(repo_ / "deploy/ml/jobs/train.yaml", "kind: Train\n");
  WriteFile(repo_ / "top.yaml", "kind: Top\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_ / "deploy/ml/jobs");
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->relative_path(), "deploy/ml/jobs");
  EXPECT_EQ(src->work_tree(), repo_.string() + "/");
  EXPECT_THAT(Paths(*src->Read()), ElementsAre("train.yaml"));

  auto root = OpenSource(repo_);
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->relative_path(), "");
  EXPECT_THAT(Paths(*root->Read()),
              ElementsAre("deploy/ml/jobs/train.yaml", "deploy/other.yaml", "top.yaml"));
}

TEST_F(GitSourceTest, PathMissingAtHeadIsAnError) {
  WriteFile(repo_ / "other/a.yaml", "kind: A\n");
  std::string rev = CommitAll(repo_, "one");
  WriteFile(repo_ / "jobs/uncommitted.yaml", "kind: U\n");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  auto s = src->Read();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), "manifests path jobs not found at revision " + rev);
}

TEST_F(GitSourceTest, ManifestsRemovedFromHeadAfterwardsIsAnError) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  WriteFile(repo_ / "keep.txt", "x\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Read().ok());
  // Dropped from the commit but still present in the work tree.
  Sh(repo_, "git rm -q --cached jobs/a.yaml && git commit -q -m drop");
  auto s = src->Read();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("not found at revision"));
}

TEST_F(GitSourceTest, EmptyDirectoryIsAValidEmptySnapshot) {
  WriteFile(repo_ / "other.txt", "x\n");
  std::string rev = CommitAll(repo_, "one");
  fs::create_directories(repo_ / "jobs/sub");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  auto s = src->Read();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->revision, rev);
  EXPECT_TRUE(s->files.empty());

  // A committed directory holding only non-manifests reads the same.
  WriteFile(repo_ / "jobs/.gitkeep", "");
  WriteFile(repo_ / "jobs/README.md", "docs\n");
  std::string rev2 = CommitAll(repo_, "two");
  auto s2 = src->Read();
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->revision, rev2);
  EXPECT_TRUE(s2->files.empty());
}

TEST_F(GitSourceTest, RepositoryWithoutCommitsIsAnError) {
  fs::create_directories(repo_ / "jobs");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  auto s = src->Read();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("HEAD"));
}

TEST_F(GitSourceTest, OpenRejectsMissingDirectoryAndNonRepository) {
  auto missing = GitSource::Open({(tmp_.path() / "nope").string()});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("nope"));
  fs::create_directories(tmp_.path() / "plain");
  auto plain = GitSource::Open({(tmp_.path() / "plain").string()});
  ASSERT_FALSE(plain.ok());
  EXPECT_THAT(plain.status().message(), HasSubstr("not inside a git work tree"));
}

TEST_F(GitSourceTest, BadBlobIdIsAnError) {
  WriteFile(repo_ / "a.yaml", "x\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_);
  ASSERT_NE(src, nullptr);
  EXPECT_EQ(src->ReadBlob("zz").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(src->ReadBlob(std::string(40, '0')).status().code(), StatusCode::kNotFound);
}

TEST_F(GitSourceTest, CommitWakesWaitForChange) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Read().ok());
  EXPECT_FALSE(src->WaitForChange(milliseconds(50)));

  std::string rev2;
  std::thread committer([&] {
    std::this_thread::sleep_for(milliseconds(50));
    WriteFile(repo_ / "jobs/b.yaml", "kind: B\n");
    rev2 = CommitAll(repo_, "two");
  });
  auto start = std::chrono::steady_clock::now();
  bool fired = src->WaitForChange(milliseconds(10000));
  auto waited = std::chrono::steady_clock::now() - start;
  committer.join();
  EXPECT_TRUE(fired);
  EXPECT_LT(waited, std::chrono::seconds(5));
  // The commit may still be finishing when the first event lands: Read
  // until the new revision shows, bounded.
  std::string seen;
  for (int i = 0; i < 50 && seen != rev2; ++i) {
    auto s = src->Read();
    ASSERT_TRUE(s.ok());
    seen = s->revision;
    if (seen != rev2) src->WaitForChange(milliseconds(100));
  }
  EXPECT_EQ(seen, rev2);
}

TEST_F(GitSourceTest, BranchSwitchAndPackedRefsWake) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  CommitAll(repo_, "one");
  Sh(repo_, "git branch other");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  Sh(repo_, "git checkout -q other");
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  while (src->WaitForChange(milliseconds(50))) {
  }
  Sh(repo_, "git pack-refs --all");
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
}

TEST_F(GitSourceTest, UncommittedEditsDoNotWake) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_ / "jobs");
  ASSERT_NE(src, nullptr);
  ASSERT_TRUE(src->Read().ok());
  EXPECT_FALSE(src->WaitForChange(milliseconds(20)));
  EXPECT_TRUE(src->uncommitted_files().empty());
  WriteFile(repo_ / "jobs/a.yaml", "kind: Edited\n");
  WriteFile(repo_ / "jobs/new.yaml", "kind: New\n");
  EXPECT_FALSE(src->WaitForChange(milliseconds(200)));
  // ...but the edits seen by the watcher are reported on the next check,
  // still at the same revision.
  src->WaitForChange(milliseconds(0));
  EXPECT_THAT(src->uncommitted_files(), ElementsAre("a.yaml", "new.yaml"));
}

// The work-tree scan (~100 ms at 10,000 files) waits for a quiet spell, so
// a commit right after an edit or another commit is never queued behind it,
// and it runs on its own repository handle, so Read is never held up by it.
TEST_F(GitSourceTest, UncommittedScanWaitsUntilChangesAreQuiet) {
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  CommitAll(repo_, "one");
  GitSource::Options o;
  o.manifests_dir = (repo_ / "jobs").string();
  o.uncommitted_quiet = milliseconds(400);
  auto opened = GitSource::Open(o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  auto& src = *opened;
  ASSERT_TRUE(src->Read().ok());
  src->WaitForChange(milliseconds(0));
  EXPECT_TRUE(src->uncommitted_files().empty());

  WriteFile(repo_ / "jobs/a.yaml", "kind: Edited\n");
  Sh(repo_, "git commit -q --allow-empty -m two");
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  auto s = src->Read();
  ASSERT_TRUE(s.ok());
  // Within the quiet period: no scan yet.
  while (src->WaitForChange(milliseconds(50))) {
  }
  EXPECT_TRUE(src->uncommitted_files().empty());
  // A commit inside the quiet period is reported at once.
  Sh(repo_, "git commit -q --allow-empty -m three");
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(300));
  ASSERT_TRUE(src->Read().ok());
  EXPECT_TRUE(src->uncommitted_files().empty());
  // Quiet: the next wait scans (and still times out normally).
  while (src->WaitForChange(milliseconds(100))) {
  }
  std::this_thread::sleep_for(milliseconds(450));
  EXPECT_FALSE(src->WaitForChange(milliseconds(0)));
  EXPECT_THAT(src->uncommitted_files(), ElementsAre("a.yaml"));
}

TEST_F(GitSourceTest, WakeInterruptsWait) {
  WriteFile(repo_ / "a.yaml", "x\n");
  CommitAll(repo_, "one");
  auto src = OpenSource(repo_);
  ASSERT_NE(src, nullptr);
  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(30));
    src->Wake();
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(src->WaitForChange(milliseconds(10000)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  waker.join();
  // A Wake before the wait is not lost.
  src->Wake();
  EXPECT_TRUE(src->WaitForChange(milliseconds(0)));
  EXPECT_FALSE(src->WaitForChange(milliseconds(20)));
}

// git-sync style: DIR is reached through a symlink that is atomically
// re-pointed (new symlink + rename) at another checkout.
class SymlinkSwapTest : public GitSourceTest, public ::testing::WithParamInterface<bool> {};

TEST_P(SymlinkSwapTest, SwapWakesAndReadShowsTheNewCheckout) {
  const bool subdir = GetParam();
  WriteFile(repo_ / "jobs/a.yaml", "kind: A\n");
  CommitAll(repo_, "one");
  fs::path a = tmp_.path() / "wt-a", b = tmp_.path() / "wt-b";
  Sh(tmp_.path(), "git clone -q repo wt-a && git clone -q repo wt-b");
  WriteFile(b / "jobs/b.yaml", "kind: B\n");
  std::string rev_b = CommitAll(b, "two");
  std::string rev_a = Sh(a, "git rev-parse HEAD");
  ASSERT_NE(rev_a, rev_b);
  Sh(tmp_.path(), "ln -s wt-a current");
  fs::path dir = subdir ? tmp_.path() / "current/jobs" : tmp_.path() / "current";

  auto src = OpenSource(dir);
  ASSERT_NE(src, nullptr);
  auto s1 = src->Read();
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->revision, rev_a);

  Sh(tmp_.path(), "ln -sfn wt-b current.tmp && mv -T current.tmp current");
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  auto s2 = src->Read();
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  EXPECT_EQ(s2->revision, rev_b);
  EXPECT_EQ(s2->files.size(), 2u);  // a.yaml, b.yaml
  EXPECT_EQ(src->work_tree(), b.string() + "/");

  // The new checkout is watched: a commit there wakes too.
  while (src->WaitForChange(milliseconds(50))) {
  }
  WriteFile(b / "jobs/c.yaml", "kind: C\n");
  std::string rev_c = CommitAll(b, "three");
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  EXPECT_EQ(src->Read()->revision, rev_c);

  // And swapping back is seen as well.
  Sh(tmp_.path(), "ln -sfn wt-a current.tmp && mv -T current.tmp current");
  EXPECT_TRUE(src->WaitForChange(milliseconds(5000)));
  EXPECT_EQ(src->Read()->revision, rev_a);
}

INSTANTIATE_TEST_SUITE_P(RootOrSubdir, SymlinkSwapTest, ::testing::Bool());

}  // namespace
}  // namespace mlspace::source
