// reconciler::Controller in-process with the REAL SqliteStateStore and a
// REAL git repository (GitSource on a work tree, GitRemoteSource over
// file://), the FakeJobGateway standing in for MLSpace. Real clock, real
// threads, real inotify: what changes in git must reach the gateway exactly
// as DESIGN.md section 4 says, and survive a restart on the same state dir.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "controller/core/clock.h"
#include "controller/reconciler/controller.h"
#include "controller/reconciler/marker.h"
#include "controller/source/git_remote_source.h"
#include "controller/source/git_source.h"
#include "controller/store/sqlite/sqlite_state_store.h"
#include "tests/fakes/fake_job_gateway.h"
#include "tests/source/git_test_util.h"

namespace mlspace {
namespace {

using namespace std::chrono_literals;
using api::Phase;
using mlspace::testing::FakeJobGateway;
using source::testing::CommitAll;
using source::testing::GitInit;
using source::testing::HermeticGitEnv;
using source::testing::Sh;
using source::testing::TempDir;
using source::testing::WriteFile;
namespace fs = std::filesystem;

std::string Manifest(const std::string& name, const std::string& cmd = "echo hi",
                     const std::string& run_policy = "") {
  std::string m = "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
                  "\nspec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
                  "  instanceType: cpu.2C.8G\n  command: [/bin/sh, -c, \"" +
                  cmd + "\"]\n";
  if (!run_policy.empty()) m += "  runPolicy:\n" + run_policy;
  return m;
}

template <typename F>
bool Eventually(F f, std::chrono::milliseconds limit = 15s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

class ControllerIntegrationTest : public ::testing::Test {
 protected:
  ControllerIntegrationTest() : gateway_(&SystemClock::Get()) { HermeticGitEnv(); }
  ~ControllerIntegrationTest() override { StopController(); }

  static reconciler::ControllerOptions Options() {
    reconciler::ControllerOptions o;
    o.workers = 2;
    o.reconciler.poll_interval = 100ms;
    o.poll_jitter = 0.1;
    o.source_poll_interval = 300ms;
    o.resync_interval = 2s;
    o.shutdown_grace = 5s;
    // Tests remove one of few objects; the fraction guard has its own tests.
    o.prune_max_fraction = 1.0;
    o.reconciler.retry_base = 100ms;
    return o;
  }

  fs::path state_dir() const { return tmp_.path() / "state"; }

  void OpenStore() {
    auto s = store::SqliteStateStore::Open(state_dir().string());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  void StartLocal(const fs::path& manifests) {
    auto s = source::GitSource::Open({manifests.string(), true});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    source_ = std::move(*s);
    StartController();
  }

  void StartRemote(const std::string& url) {
    source::GitRemoteSource::Options o;
    o.url = url;
    o.state_dir = state_dir().string();
    auto s = source::GitRemoteSource::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    source_ = std::move(*s);
    StartController();
  }

  void StartController() {
    if (!store_) OpenStore();
    ASSERT_NE(store_, nullptr);
    reconciler::ControllerDeps d;
    d.source = source_.get();
    d.gateway = &gateway_;
    d.store = store_.get();
    d.clock = &SystemClock::Get();
    controller_ = std::make_unique<reconciler::Controller>(d, Options());
    ASSERT_TRUE(controller_->Start().ok());
  }

  // Stops the controller and closes the store (releases the lock), as a
  // process exit would.
  void StopController() {
    if (controller_) {
      EXPECT_TRUE(controller_->Stop());
    }
    controller_.reset();
    store_.reset();
  }

  // The source sync is inotify-driven; Trigger only shortens the wait for
  // sources without notifications (the remote one).
  void Sync() {
    if (controller_) controller_->TriggerReconcile();
  }

  std::optional<store::ObjectRecord> Rec(const std::string& name) {
    auto r = store_->Get(ObjectKey{"default", name});
    return r.ok() ? *r : std::nullopt;
  }
  bool WaitPhase(const std::string& name, Phase phase, std::chrono::milliseconds limit = 15s) {
    return Eventually(
        [&] {
          auto r = Rec(name);
          return r && r->status.phase == phase;
        },
        limit);
  }
  std::string Describe(const std::string& name) {
    auto r = Rec(name);
    if (!r) return name + ": no record";
    std::string s = name + ": phase " + std::string(api::PhaseName(r->status.phase)) + " job " +
                    r->status.remote_job_name + " error " + r->status.last_error;
    for (const auto& c : r->status.conditions) {
      s += " | " + c.type + "=" + c.status + " " + c.reason + ": " + c.message;
    }
    return s;
  }
  // Submitted jobs whose marker names this object.
  int SubmitsFor(const std::string& name) {
    int n = 0;
    for (const auto& req : gateway_.submits()) {
      auto m = reconciler::FindMarker(req.job_desc.value_or(""));
      auto p = m ? reconciler::ParseMarker(*m) : std::nullopt;
      if (p && p->key == ObjectKey{"default", name}) ++n;
    }
    return n;
  }

  TempDir tmp_;
  FakeJobGateway gateway_;
  std::unique_ptr<store::SqliteStateStore> store_;
  std::unique_ptr<source::ManifestSource> source_;
  std::unique_ptr<reconciler::Controller> controller_;
};

TEST_F(ControllerIntegrationTest, AddChangeRemoveAndRestartOnTheSameStateDir) {
  fs::path repo = tmp_.path() / "repo";
  GitInit(repo);
  WriteFile(repo / "jobs/keep.yaml", Manifest("keep"));
  WriteFile(repo / "jobs/a.yaml", Manifest("a"));
  std::string rev1 = CommitAll(repo, "two jobs");
  StartLocal(repo / "jobs");

  // add
  ASSERT_TRUE(WaitPhase("a", Phase::kSubmitted)) << Describe("a");
  ASSERT_TRUE(WaitPhase("keep", Phase::kSubmitted)) << Describe("keep");
  EXPECT_EQ(Rec("a")->status.synced_revision, rev1);
  EXPECT_EQ(Rec("a")->source_path, "a.yaml");
  std::string a1 = Rec("a")->status.remote_job_name;
  auto intents = store_->Intents(ObjectKey{"default", "a"});
  ASSERT_TRUE(intents.ok());
  ASSERT_EQ(intents->size(), 1u);
  EXPECT_EQ(intents->front().state, store::IntentState::kSubmitted);
  EXPECT_EQ(intents->front().remote_job_name, a1);
  EXPECT_EQ(gateway_.JobsWithMarker(intents->front().marker).size(), 1u);

  // An uncommitted edit changes nothing.
  WriteFile(repo / "jobs/a.yaml", Manifest("a", "echo uncommitted"));
  std::this_thread::sleep_for(700ms);
  EXPECT_EQ(Rec("a")->status.remote_job_name, a1);
  EXPECT_EQ(SubmitsFor("a"), 1);

  // change (Replace is the default): the running job is cancelled, the new
  // generation submitted once.
  WriteFile(repo / "jobs/a.yaml", Manifest("a", "echo v2"));
  std::string rev2 = CommitAll(repo, "change a");
  ASSERT_TRUE(Eventually([&] {
    auto r = Rec("a");
    return r && r->generation == 2 && r->status.phase == Phase::kSubmitted &&
           r->status.remote_job_name != a1;
  })) << Describe("a");
  EXPECT_EQ(Rec("a")->status.synced_revision, rev2);
  std::string a2 = Rec("a")->status.remote_job_name;
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{a1});
  EXPECT_EQ(SubmitsFor("a"), 2);
  EXPECT_EQ(SubmitsFor("keep"), 1) << "an unrelated object is not resubmitted";

  // The job runs and completes remotely; the status follows the list.
  gateway_.SetStatus(a2, gateway::RemoteStatus::kRunning);
  ASSERT_TRUE(WaitPhase("a", Phase::kRunning)) << Describe("a");
  gateway_.SetStatus(a2, gateway::RemoteStatus::kCompleted);
  ASSERT_TRUE(WaitPhase("a", Phase::kSucceeded)) << Describe("a");

  // Restart on the same state dir: the records are read back, nothing is
  // submitted again.
  int submits_before = gateway_.CountCalls("Submit");
  StopController();
  StartLocal(repo / "jobs");
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(gateway_.CountCalls("Submit"), submits_before) << "a restart resubmits nothing";
  EXPECT_EQ(Rec("a")->status.phase, Phase::kSucceeded);
  EXPECT_EQ(Rec("keep")->status.phase, Phase::kSubmitted);

  // remove: the (still pending) job of keep is cancelled, the record kept as Removed.
  std::string keep_job = Rec("keep")->status.remote_job_name;
  fs::remove(repo / "jobs/keep.yaml");
  CommitAll(repo, "remove keep");
  ASSERT_TRUE(WaitPhase("keep", Phase::kRemoved)) << Describe("keep");
  auto cancelled = gateway_.cancelled();
  EXPECT_EQ(std::count(cancelled.begin(), cancelled.end(), keep_job), 1);
  EXPECT_EQ(Rec("a")->status.phase, Phase::kSucceeded) << "a finished job is not touched";
  EXPECT_EQ(std::count(cancelled.begin(), cancelled.end(), a2), 0);
}

TEST_F(ControllerIntegrationTest, RenamingAFileKeepsTheObjectAndItsJob) {
  fs::path repo = tmp_.path() / "repo";
  GitInit(repo);
  WriteFile(repo / "a.yaml", Manifest("a"));
  WriteFile(repo / "other.yaml", Manifest("other"));
  CommitAll(repo, "a");
  StartLocal(repo);
  ASSERT_TRUE(WaitPhase("a", Phase::kSubmitted)) << Describe("a");
  std::string job = Rec("a")->status.remote_job_name;

  Sh(repo, "git mv a.yaml renamed-a.yaml && mkdir -p sub && git mv other.yaml sub/other.yml");
  std::string rev2 = CommitAll(repo, "rename");
  ASSERT_TRUE(Eventually([&] {
    auto r = Rec("a");
    auto o = Rec("other");
    return r && r->source_path == "renamed-a.yaml" && o && o->source_path == "sub/other.yml";
  })) << Describe("a");
  EXPECT_EQ(Rec("a")->status.phase, Phase::kSubmitted) << Describe("a");
  EXPECT_EQ(Rec("a")->status.remote_job_name, job);
  EXPECT_EQ(Rec("a")->generation, 1) << "same spec, same generation";
  EXPECT_TRUE(gateway_.cancelled().empty()) << "a rename is neither a removal nor a change";
  EXPECT_EQ(SubmitsFor("a"), 1);
  EXPECT_EQ(SubmitsFor("other"), 1);
}

TEST_F(ControllerIntegrationTest, BrokenYamlNextToAGoodOneNeverCancelsAndDoesNotBlockOthers) {
  fs::path repo = tmp_.path() / "repo";
  GitInit(repo);
  WriteFile(repo / "a.yaml", Manifest("a"));
  WriteFile(repo / "b.yaml", Manifest("b"));
  CommitAll(repo, "a and b");
  StartLocal(repo);
  ASSERT_TRUE(WaitPhase("a", Phase::kSubmitted)) << Describe("a");
  std::string a_job = Rec("a")->status.remote_job_name;

  // a.yaml stops parsing at all; a new good file arrives in the same commit;
  // a brand-new broken file declares nothing.
  WriteFile(repo / "a.yaml", "apiVersion: [unclosed\n  : :\n");
  WriteFile(repo / "c.yaml", Manifest("c"));
  WriteFile(repo / "junk.yaml", "kind: MLSpaceJob\nmetadata: {name: [\n");
  CommitAll(repo, "break a, add c");
  ASSERT_TRUE(WaitPhase("c", Phase::kSubmitted)) << Describe("c");
  ASSERT_TRUE(WaitPhase("a", Phase::kInvalid)) << Describe("a");
  const auto a_rec = Rec("a");
  const api::Condition* accepted = api::FindCondition(a_rec->status.conditions, api::kCondAccepted);
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->status, "False");
  EXPECT_NE(accepted->message.find("a.yaml"), std::string::npos) << Describe("a");
  EXPECT_TRUE(gateway_.cancelled().empty()) << "a typo must never cancel a job";
  EXPECT_FALSE(gateway_.Job(a_job)->status == gateway::RemoteStatus::kStopped);
  EXPECT_EQ(Rec("b")->status.phase, Phase::kSubmitted);

  // Fixed with the same spec: back to the recorded phase, no new submit.
  WriteFile(repo / "a.yaml", Manifest("a"));
  CommitAll(repo, "fix a");
  ASSERT_TRUE(WaitPhase("a", Phase::kSubmitted)) << Describe("a");
  EXPECT_EQ(Rec("a")->status.remote_job_name, a_job);
  EXPECT_EQ(SubmitsFor("a"), 1);
}

TEST_F(ControllerIntegrationTest, TwoFilesWithOneNameAreInvalidAndNothingIsSubmitted) {
  fs::path repo = tmp_.path() / "repo";
  GitInit(repo);
  WriteFile(repo / "one.yaml", Manifest("twin", "echo one"));
  WriteFile(repo / "two.yaml", Manifest("twin", "echo two"));
  WriteFile(repo / "ok.yaml", Manifest("ok"));
  CommitAll(repo, "twins");
  StartLocal(repo);
  ASSERT_TRUE(WaitPhase("ok", Phase::kSubmitted)) << Describe("ok");
  ASSERT_TRUE(WaitPhase("twin", Phase::kInvalid)) << Describe("twin");
  const auto twin = Rec("twin");
  const api::Condition* accepted = api::FindCondition(twin->status.conditions, api::kCondAccepted);
  ASSERT_NE(accepted, nullptr);
  EXPECT_EQ(accepted->reason, "DuplicateName");
  EXPECT_EQ(SubmitsFor("twin"), 0) << "which of the two was meant is unknown";

  // Removing one copy resolves it: submitted once.
  fs::remove(repo / "two.yaml");
  CommitAll(repo, "one twin");
  ASSERT_TRUE(WaitPhase("twin", Phase::kSubmitted)) << Describe("twin");
  EXPECT_EQ(SubmitsFor("twin"), 1);
  auto marker = reconciler::ParseMarker(gateway_.submits().back().job_desc.value_or(""));
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->key, (ObjectKey{"default", "twin"}));
  EXPECT_FALSE(marker->instance.empty()) << "new markers name the instance";
}

TEST_F(ControllerIntegrationTest, SymlinkSwapLikeGitSyncIsFollowed) {
  // git-sync layout: a repository, one detached worktree per revision, and
  // a symlink "current" atomically re-pointed at the newest one.
  fs::path root = tmp_.path() / "sync";
  fs::path origin = root / "origin";
  GitInit(origin);
  WriteFile(origin / "jobs/a.yaml", Manifest("a"));
  WriteFile(origin / "jobs/b.yaml", Manifest("b"));
  std::string rev1 = CommitAll(origin, "rev1");
  Sh(origin, "git worktree add -q --detach ../wt-1 " + rev1);
  fs::create_directory_symlink("wt-1", root / "current");
  StartLocal(root / "current/jobs");
  ASSERT_TRUE(WaitPhase("a", Phase::kSubmitted)) << Describe("a");
  ASSERT_TRUE(WaitPhase("b", Phase::kSubmitted)) << Describe("b");
  std::string b_job = Rec("b")->status.remote_job_name;

  fs::remove(origin / "jobs/b.yaml");
  WriteFile(origin / "jobs/c.yaml", Manifest("c"));
  std::string rev2 = CommitAll(origin, "rev2");
  // Committing in origin moves its branch, not the detached worktree the
  // link points at: nothing changes until the swap.
  std::this_thread::sleep_for(600ms);
  EXPECT_FALSE(Rec("c").has_value());
  Sh(origin, "git worktree add -q --detach ../wt-2 " + rev2);
  Sh(root, "ln -s wt-2 current.tmp && mv -T current.tmp current");
  ASSERT_TRUE(WaitPhase("c", Phase::kSubmitted)) << Describe("c");
  ASSERT_TRUE(WaitPhase("b", Phase::kRemoved)) << Describe("b");
  EXPECT_EQ(Rec("c")->status.synced_revision, rev2);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{b_job});
  // git-sync then deletes the old worktree; nothing else changes.
  Sh(origin, "git worktree remove --force ../wt-1");
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(Rec("a")->status.phase, Phase::kSubmitted);
  EXPECT_EQ(SubmitsFor("a"), 1);
}

TEST_F(ControllerIntegrationTest, ForcePushRewritingHistoryIsFollowed) {
  fs::path origin = tmp_.path() / "origin.git";
  fs::path work = tmp_.path() / "work";
  fs::create_directories(origin);
  Sh(origin, "git init -q --bare -b main .");
  GitInit(work);
  Sh(work, "git remote add origin '" + origin.string() + "'");
  WriteFile(work / "a.yaml", Manifest("a"));
  WriteFile(work / "b.yaml", Manifest("b"));
  std::string base = CommitAll(work, "base");
  WriteFile(work / "c.yaml", Manifest("c"));
  std::string rev_c = CommitAll(work, "add c");
  Sh(work, "git push -q origin main");
  StartRemote("file://" + origin.string());
  ASSERT_TRUE(WaitPhase("c", Phase::kSubmitted)) << Describe("c");
  EXPECT_EQ(Rec("c")->status.synced_revision, rev_c);
  std::string c_job = Rec("c")->status.remote_job_name;

  // Rewrite history: drop "add c", commit d instead, force-push.
  Sh(work, "git reset -q --hard " + base);
  WriteFile(work / "d.yaml", Manifest("d"));
  std::string rev_d = CommitAll(work, "add d instead");
  Sh(work, "git push -q --force origin main");
  ASSERT_TRUE(Eventually([&] {
    Sync();
    auto d = Rec("d");
    auto c = Rec("c");
    return d && d->status.phase == Phase::kSubmitted && c && c->status.phase == Phase::kRemoved;
  })) << Describe("c")
      << "\n"
      << Describe("d");
  EXPECT_EQ(Rec("d")->status.synced_revision, rev_d);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{c_job});
  EXPECT_EQ(SubmitsFor("a"), 1);
  EXPECT_EQ(SubmitsFor("b"), 1);

  // After a restart the fetched ref in the state dir still serves rev_d.
  StopController();
  fs::remove_all(origin);  // the remote is gone: the last good revision stays
  StartRemote("file://" + origin.string());
  std::this_thread::sleep_for(800ms);
  EXPECT_EQ(Rec("d")->status.phase, Phase::kSubmitted);
  EXPECT_EQ(Rec("a")->status.phase, Phase::kSubmitted) << "a failed fetch is not 'all removed'";
  EXPECT_EQ(SubmitsFor("d"), 1);
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{c_job});
}

TEST_F(ControllerIntegrationTest, AmbiguousSubmitIsAdoptedAfterRestartNotResent) {
  fs::path repo = tmp_.path() / "repo";
  GitInit(repo);
  // A controller that has run before: its store is not empty, so it does
  // not wait for a first list before submitting (observe before acting is
  // for new or lost stores and has its own tests).
  WriteFile(repo / "z.yaml", Manifest("z"));
  CommitAll(repo, "z");
  StartLocal(repo);
  ASSERT_TRUE(WaitPhase("z", Phase::kSubmitted)) << Describe("z");
  StopController();
  WriteFile(repo / "a.yaml", Manifest("a"));
  CommitAll(repo, "a");
  // The POST creates the job but the answer is lost; the controller then
  // stops before any list settles it.
  gateway_.ScriptSubmit(FakeJobGateway::SubmitFault::kAmbiguousCreated);
  gateway_.FailNextLists(1 << 20);
  StartLocal(repo);
  ASSERT_TRUE(Eventually([&] {
    auto r = Rec("a");
    if (!r) return false;
    const api::Condition* c = api::FindCondition(r->status.conditions, api::kCondSubmitted);
    return c && c->reason == "SubmitAmbiguous";
  })) << Describe("a");
  auto open_before = store_->OpenIntents();
  ASSERT_TRUE(open_before.ok());
  EXPECT_EQ(open_before->size(), 1u);
  EXPECT_EQ(Rec("a")->status.remote_job_name, "");
  StopController();
  gateway_.FailNextLists(0);
  StartLocal(repo);
  ASSERT_TRUE(Eventually([&] {
    auto r = Rec("a");
    return r && r->status.phase == Phase::kSubmitted && !r->status.remote_job_name.empty();
  })) << Describe("a");
  auto open = store_->OpenIntents();
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->empty());
  EXPECT_EQ(SubmitsFor("a"), 1) << "adopted by its marker, never re-sent";
  EXPECT_EQ(gateway_.Jobs().size(), 2u);  // z's and a's
}

}  // namespace
}  // namespace mlspace
