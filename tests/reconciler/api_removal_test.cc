// Issue 13 bug: deleting the last manifest through the API was committed,
// but the prune guard refused the now-empty revision (EmptyRevision) and the
// job kept running. The controller's own API removals are exempt from the
// guards; removals by other commits are not.

#include <gtest/gtest.h>

#include "controller/reconciler/controller.h"
#include "controller/reconciler/desired_state.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_job_gateway.h"
#include "tests/fakes/fake_manifest_source.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::reconciler {
namespace {

using mlspace::testing::FakeClock;
using mlspace::testing::FakeJobGateway;
using mlspace::testing::FakeManifestSource;
using mlspace::testing::FakeStateStore;

std::string Manifest(const std::string& name) {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
         "\nspec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
         "  instanceType: cpu.2C.8G\n  command: [/bin/sh, -c, \"echo hi\"]\n";
}

class ApiRemovalTest : public ::testing::Test {
 protected:
  ApiRemovalTest() : gateway_(&clock_) {}

  std::unique_ptr<Controller> Make(double max_fraction = 0.5) {
    ControllerDeps d;
    d.source = &source_;
    d.gateway = &gateway_;
    d.store = &store_;
    d.clock = &clock_;
    ControllerOptions o;
    o.workers = 1;
    o.instance = "test";
    o.prune_max_fraction = max_fraction;
    return std::make_unique<Controller>(d, o);
  }
  void Reconcile(Controller& c, const std::string& name) {
    for (int i = 0; i < 4; ++i) c.reconciler().Reconcile(ObjectKey{"default", name});
  }
  api::Phase Phase(const std::string& name) {
    auto r = store_.Get(ObjectKey{"default", name});
    return r.ok() && *r ? (*r)->status.phase : api::Phase::kPending;
  }
  std::set<std::string> DrainQueue(Controller& c) {
    std::set<std::string> out;
    while (c.queue().Len() > 0) {
      auto k = c.queue().Get();
      out.insert(*k);
      c.queue().Done(*k);
    }
    return out;
  }

  FakeClock clock_;
  FakeManifestSource source_;
  FakeStateStore store_;
  FakeJobGateway gateway_;
};

TEST_F(ApiRemovalTest, DeletingTheLastManifestThroughTheApiCancelsItsJob) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  Reconcile(*c, "a");
  ASSERT_EQ(Phase("a"), api::Phase::kSubmitted);

  // The writer commits the delete, tells the controller, then wakes the sync.
  c->NoteApiRemoval(ObjectKey{"default", "a"}, "rev2");
  source_.SetFiles("rev2", {});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_TRUE(c->desired()->prune.allowed) << c->desired()->prune.message;
  EXPECT_EQ(c->desired()->api_removed_count, 1u);
  EXPECT_EQ(DrainQueue(*c).count("default/a"), 1u);
  Reconcile(*c, "a");
  EXPECT_EQ(Phase("a"), api::Phase::kRemoved);
  EXPECT_EQ(gateway_.cancelled().size(), 1u) << "the job of the deleted manifest is cancelled";
}

TEST_F(ApiRemovalTest, EmptyingTheRevisionFromElsewhereIsStillRefused) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  Reconcile(*c, "a");
  source_.SetFiles("rev2", {});  // no API delete noted: a commit from elsewhere
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired()->prune.reason, "EmptyRevision");
  Reconcile(*c, "a");
  EXPECT_EQ(Phase("a"), api::Phase::kSubmitted);
  EXPECT_TRUE(gateway_.cancelled().empty());
}

TEST_F(ApiRemovalTest, ApiRemovalDoesNotExemptOtherRemovalsInTheSameRevision) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  Reconcile(*c, "a");
  Reconcile(*c, "b");
  // The API deletes a; someone else's commit (pulled in the same sync)
  // removes b: the revision is empty because of b.
  c->NoteApiRemoval(ObjectKey{"default", "a"}, "rev2");
  source_.SetFiles("rev3", {});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_FALSE(c->desired()->prune.allowed);
  EXPECT_EQ(c->desired()->prune.reason, "EmptyRevision");
  Reconcile(*c, "a");
  Reconcile(*c, "b");
  EXPECT_EQ(Phase("a"), api::Phase::kRemoved) << "the API delete is honoured";
  EXPECT_EQ(Phase("b"), api::Phase::kSubmitted) << "the foreign removal is still guarded";
  EXPECT_EQ(gateway_.cancelled().size(), 1u);
}

TEST_F(ApiRemovalTest, ApiRemovalsDoNotCountTowardsTheRemovalFraction) {
  auto c = Make(0.5);
  std::map<std::string, std::string> files;
  for (const char* n : {"a", "b", "c", "d"}) files[std::string(n) + ".yaml"] = Manifest(n);
  source_.SetFiles("rev1", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  for (const char* n : {"a", "b", "c", "d"}) Reconcile(*c, n);
  // deletecollection removes a, b, c (3 of 4 > 50%).
  for (const char* n : {"a", "b", "c"}) c->NoteApiRemoval(ObjectKey{"default", n}, "rev2");
  files = {{"d.yaml", Manifest("d")}};
  source_.SetFiles("rev2", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_TRUE(c->desired()->prune.allowed) << c->desired()->prune.message;
  EXPECT_EQ(c->desired()->removed_count, 3u);
  EXPECT_EQ(c->desired()->api_removed_count, 3u);
  for (const char* n : {"a", "b", "c"}) Reconcile(*c, n);
  EXPECT_EQ(gateway_.cancelled().size(), 3u);
}

// The sync can read the API's commit before the writer's note arrives: the
// removal is first refused, then the note re-enqueues the key and it goes.
TEST_F(ApiRemovalTest, NoteArrivingAfterTheSyncReadTheCommitStillCancels) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  Reconcile(*c, "a");
  source_.SetFiles("rev2", {});
  ASSERT_TRUE(c->SyncOnce().ok());
  DrainQueue(*c);
  Reconcile(*c, "a");
  ASSERT_EQ(Phase("a"), api::Phase::kSubmitted) << "refused before the note";

  c->NoteApiRemoval(ObjectKey{"default", "a"}, "rev2");
  EXPECT_EQ(DrainQueue(*c), (std::set<std::string>{"default/a"}));
  ASSERT_TRUE(c->SyncOnce().ok());  // same revision: nothing rebuilt
  Reconcile(*c, "a");
  EXPECT_EQ(Phase("a"), api::Phase::kRemoved);
  EXPECT_EQ(gateway_.cancelled().size(), 1u);
}

// A key re-created after its API delete loses the exemption: removing it
// later by another commit is guarded again.
TEST_F(ApiRemovalTest, RecreatedKeyIsGuardedAgain) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  c->NoteApiRemoval(ObjectKey{"default", "a"}, "rev2");
  source_.SetFiles("rev2", {});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_TRUE(c->desired()->prune.allowed);
  source_.SetFiles("rev3", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  Reconcile(*c, "a");
  ASSERT_EQ(Phase("a"), api::Phase::kSubmitted);
  source_.SetFiles("rev4", {});  // from elsewhere
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired()->prune.reason, "EmptyRevision");
  Reconcile(*c, "a");
  EXPECT_EQ(Phase("a"), api::Phase::kSubmitted);
}

TEST(ApiRemovalsTest, ForgetsOnlyEntriesNotedBeforeTheRead) {
  ApiRemovals r;
  ObjectKey a{"default", "a"};
  r.Add(a, "c1");
  uint64_t read_before_second_note = r.sequence();
  r.Add(a, "c2");  // deleted again after the read started
  r.ForgetIfNotedBy(a, read_before_second_note);
  EXPECT_TRUE(r.Contains(a)) << "a read older than the second delete cannot forget it";
  r.ForgetIfNotedBy(a, r.sequence());
  EXPECT_FALSE(r.Contains(a));
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace mlspace::reconciler
