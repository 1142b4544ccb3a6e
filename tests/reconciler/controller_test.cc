// The Controller's wiring with the real api parser and every seam faked:
// source sync, change detection, prune guards at sync time, start-up intent
// resolution, workers, TriggerReconcile, graceful stop.

#include "controller/reconciler/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "controller/core/log.h"
#include "controller/reconciler/marker.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_job_gateway.h"
#include "tests/fakes/fake_manifest_source.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::reconciler {
namespace {

using namespace std::chrono_literals;
using mlspace::testing::FakeClock;
using mlspace::testing::FakeJobGateway;
using mlspace::testing::FakeManifestSource;
using mlspace::testing::FakeStateStore;

std::string Manifest(const std::string& name, const std::string& cmd = "echo hi",
                     const std::string& extra_spec = "") {
  return "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
         "\nspec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
         "  instanceType: cpu.2C.8G\n  command: [/bin/sh, -c, \"" +
         cmd + "\"]\n" + extra_spec;
}

template <typename F>
bool Eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return f();
}

class ControllerTest : public ::testing::Test {
 protected:
  static constexpr char kInstance[] = "test";

  ControllerTest() : gateway_(&clock_) {}

  std::unique_ptr<Controller> Make(ControllerOptions o = {}) {
    ControllerDeps d;
    d.source = &source_;
    d.gateway = &gateway_;
    d.store = &store_;
    d.clock = &clock_;
    o.workers = 2;
    if (o.instance.empty()) o.instance = kInstance;
    return std::make_unique<Controller>(d, o);
  }
  // Takes every queued key (what workers would do), without reconciling.
  std::set<std::string> DrainQueue(Controller& c) {
    std::set<std::string> out;
    while (c.queue().Len() > 0) {
      auto k = c.queue().Get();
      out.insert(*k);
      c.queue().Done(*k);
    }
    return out;
  }
  std::optional<store::ObjectRecord> Rec(const std::string& name) {
    auto r = store_.Get(ObjectKey{"default", name});
    return r.ok() ? *r : std::nullopt;
  }

  FakeClock clock_;
  FakeManifestSource source_;
  FakeStateStore store_;
  FakeJobGateway gateway_;
};

TEST_F(ControllerTest, SyncEnqueuesOnlyChangedKeysAndParsesOnlyChangedBlobs) {
  auto c = Make();
  EXPECT_FALSE(c->Ready());
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_TRUE(c->Ready());
  EXPECT_EQ(c->desired()->objects.size(), 2u);
  EXPECT_EQ(DrainQueue(*c), (std::set<std::string>{"default/a", "default/b"}));
  size_t reads = source_.blob_reads().size();
  source_.SetFiles("rev2", {{"a.yaml", Manifest("a", "echo changed")}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired()->revision, "rev2");
  EXPECT_EQ(DrainQueue(*c), (std::set<std::string>{"default/a"}));
  EXPECT_EQ(source_.blob_reads().size() - reads, 1u) << "only the changed blob is read again";
}

TEST_F(ControllerTest, OneFileCommitListsNoStoreAndSharesUnchangedObjects) {
  auto c = Make();
  std::map<std::string, std::string> files;
  for (int i = 0; i < 50; ++i)
    files["j" + std::to_string(i) + ".yaml"] = Manifest("j" + std::to_string(i));
  source_.SetFiles("rev1", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(DrainQueue(*c).size(), 50u);
  const int lists = store_.calls().list;
  EXPECT_EQ(lists, 1) << "the live records are read from the store once";
  auto before = c->desired();
  size_t reads = source_.blob_reads().size();

  files["j7.yaml"] = Manifest("j7", "echo changed");
  source_.SetFiles("rev2", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(source_.blob_reads().size() - reads, 1u);
  EXPECT_EQ(DrainQueue(*c), (std::set<std::string>{"default/j7"}));
  EXPECT_EQ(store_.calls().list, lists) << "a sync never scans the store";
  auto after = c->desired();
  for (const auto& [k, d] : after->objects) {
    if (k.name == "j7") {
      EXPECT_NE(d, before->objects.at(k));
    } else {
      EXPECT_EQ(d, before->objects.at(k)) << k.ToString() << " shared, not copied";
    }
  }
  // The same revision again (a spurious wakeup) does nothing at all.
  reads = source_.blob_reads().size();
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired(), after);
  EXPECT_EQ(source_.blob_reads().size(), reads);
  EXPECT_TRUE(DrainQueue(*c).empty());
}

// "Live" = the previous good revision's objects plus every record not yet
// Removed, kept in memory from the reconciler's writes: removals that
// completed stop counting, refused ones keep counting (committing the same
// deletion twice does not get through), and a restart reads it back.
TEST_F(ControllerTest, PruneGuardBaselineFollowsWritesDeletionsAndRestarts) {
  ControllerOptions o;
  o.prune_max_fraction = 0.5;
  auto c = Make(o);
  auto reconcile = [&](Controller& ctl, const std::string& name) {
    for (int i = 0; i < 4; ++i) ctl.reconciler().Reconcile(ObjectKey{"default", name});
  };
  std::map<std::string, std::string> files;
  for (const char* n : {"a", "b", "c", "d"}) files[std::string(n) + ".yaml"] = Manifest(n);
  source_.SetFiles("rev1", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  for (const char* n : {"a", "b", "c", "d"}) reconcile(*c, n);
  ASSERT_EQ(Rec("a")->status.phase, api::Phase::kSubmitted);

  files.erase("a.yaml");  // 1 of 4: allowed
  source_.SetFiles("rev2", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_TRUE(c->desired()->prune.allowed);
  EXPECT_EQ(c->desired()->previous_count, 4u);
  EXPECT_EQ(c->desired()->removed_count, 1u);
  reconcile(*c, "a");
  ASSERT_EQ(Rec("a")->status.phase, api::Phase::kRemoved);

  source_.SetFiles("rev3", files);  // a is Removed: no longer live
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired()->previous_count, 3u);
  EXPECT_EQ(c->desired()->removed_count, 0u);

  files.erase("b.yaml");
  files.erase("c.yaml");  // 2 of 3: refused
  source_.SetFiles("rev4", files);
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired()->prune.reason, "TooManyRemovals");
  reconcile(*c, "b");
  reconcile(*c, "c");
  EXPECT_EQ(Rec("b")->status.phase, api::Phase::kSubmitted) << "refused: not cancelled";
  EXPECT_TRUE(gateway_.cancelled().size() == 1u);

  DrainQueue(*c);
  source_.SetFiles("rev5", files);  // the same deletion committed again
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->desired()->prune.reason, "TooManyRemovals");
  EXPECT_EQ(c->desired()->previous_count, 3u);
  EXPECT_EQ(c->desired()->removed_count, 2u);
  EXPECT_EQ(DrainQueue(*c), (std::set<std::string>{"default/b", "default/c"}))
      << "still-missing objects are enqueued again";

  // Restart: the baseline comes back from the store's records.
  c.reset();
  auto c2 = Make(o);
  const int lists = store_.calls().list;
  ASSERT_TRUE(c2->SyncOnce().ok());
  EXPECT_EQ(store_.calls().list, lists + 1);
  EXPECT_EQ(c2->desired()->prune.reason, "TooManyRemovals");
  EXPECT_EQ(c2->desired()->previous_count, 3u);
  EXPECT_EQ(c2->desired()->removed_count, 2u);

  files["b.yaml"] = Manifest("b");  // b restored: 1 of 3 goes
  source_.SetFiles("rev6", files);
  ASSERT_TRUE(c2->SyncOnce().ok());
  EXPECT_TRUE(c2->desired()->prune.allowed) << c2->desired()->prune.message;
  EXPECT_EQ(c2->desired()->removed_count, 1u);
  reconcile(*c2, "c");
  EXPECT_EQ(Rec("c")->status.phase, api::Phase::kRemoved);
  source_.SetFiles("rev7", files);
  ASSERT_TRUE(c2->SyncOnce().ok());
  EXPECT_EQ(c2->desired()->previous_count, 2u) << "b and d; c's removal completed";
  EXPECT_EQ(c2->desired()->removed_count, 0u);
  EXPECT_EQ(store_.calls().list, lists + 1);
}

// The first poll after a mass submit sees thousands of jobs appear; their
// status-only reconciles wait at low priority, so a commit's key is handed
// out before all of them.
TEST_F(ControllerTest, AMassOfListChangesWaitsBehindACommit) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  DrainQueue(*c);
  constexpr size_t kJobs = 500;
  for (size_t i = 0; i < kJobs; ++i) {
    gateway::RemoteJob r;
    r.region = "SR006";
    r.job_desc =
        MakeMarker(kInstance, ObjectKey{"default", "j" + std::to_string(i)}, "0123456789abcdef", 1);
    r.status = gateway::RemoteStatus::kPending;
    gateway_.AddJob(r);
  }
  c->PollOnce();
  EXPECT_EQ(c->queue().Len(), kJobs);
  EXPECT_EQ(c->queue().LowLen(), kJobs);
  source_.SetFiles("rev2", {{"a.yaml", Manifest("a", "echo 2")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_EQ(c->queue().LowLen(), kJobs);
  std::vector<std::string> order;
  while (c->queue().Len() > 0) {
    auto k = c->queue().Get();
    order.push_back(*k);
    c->queue().Done(*k);
  }
  ASSERT_EQ(order.size(), kJobs + 1) << "every observed key is still handed out";
  EXPECT_EQ(order.front(), "default/a") << "the commit's key comes before the observed ones";
}

TEST_F(ControllerTest, SourceReadFailureKeepsObjectsAndRefusesPrune) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  source_.FailRead(UnavailableError("git: cannot read HEAD"));
  EXPECT_FALSE(c->SyncOnce().ok());
  auto d = c->desired();
  EXPECT_FALSE(d->source_ok);
  EXPECT_EQ(d->objects.size(), 1u) << "a failed source never looks like 'all removed'";
  EXPECT_FALSE(d->prune.allowed);
  EXPECT_EQ(d->prune.reason, "SourceReadFailed");
}

TEST_F(ControllerTest, EmptyRevisionAfterNonEmptyRefusesPrune) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  source_.SetFiles("rev2", {});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_FALSE(c->desired()->prune.allowed);
  EXPECT_EQ(c->desired()->prune.reason, "EmptyRevision");
  EXPECT_EQ(DrainQueue(*c).count("default/a"), 1u) << "removed keys are enqueued";
}

TEST_F(ControllerTest, RemovingMoreThanMaxFractionRefusesPrune) {
  ControllerOptions o;
  o.prune_max_fraction = 0.5;
  auto c = Make(o);
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")},
                            {"b.yaml", Manifest("b")},
                            {"c.yaml", Manifest("c")},
                            {"d.yaml", Manifest("d")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  source_.SetFiles("rev2", {{"d.yaml", Manifest("d")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_FALSE(c->desired()->prune.allowed);
  EXPECT_EQ(c->desired()->prune.reason, "TooManyRemovals");
  source_.SetFiles(
      "rev3", {{"b.yaml", Manifest("b")}, {"c.yaml", Manifest("c")}, {"d.yaml", Manifest("d")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  EXPECT_TRUE(c->desired()->prune.allowed) << "1 of 4 removed is within 50%";
}

TEST_F(ControllerTest, YamlSyntaxErrorMakesTheFilesObjectInvalidNotRemoved) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  source_.SetFiles("rev2", {{"a.yaml", "apiVersion: [unclosed\n  : :"}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  auto desired = c->desired();
  const DesiredObject* a = desired->Find(ObjectKey{"default", "a"});
  ASSERT_NE(a, nullptr) << "a broken file must not look like a removal";
  ASSERT_TRUE(a->invalid.has_value());
  EXPECT_NE(a->invalid->message.find("a.yaml"), std::string::npos);
  EXPECT_TRUE(c->desired()->Find(ObjectKey{"default", "b"})->job.has_value());
}

struct RecordingSourceObserver : SourceObserver {
  void OnSourceStatus(const api::SourceStatus& s, bool fetch_failed) override {
    seen.push_back(s);
    failures += fetch_failed ? 1 : 0;
  }
  std::vector<api::SourceStatus> seen;
  int failures = 0;
};

// Captures WARN lines while alive.
struct WarnLines {
  WarnLines() {
    Logger::Get().SetSink([this](std::string_view l) {
      std::lock_guard lock(mu);
      if (l.find(" WARN ") != std::string_view::npos) lines.emplace_back(l);
    });
  }
  ~WarnLines() { Logger::Get().ResetSink(); }
  std::vector<std::string> Matching(const std::string& part) {
    std::lock_guard lock(mu);
    std::vector<std::string> out;
    for (const auto& l : lines) {
      if (l.find(part) != std::string::npos) out.push_back(l);
    }
    return out;
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

// The report: a NEW file with an unclosed '[' was ignored without a
// word. Now: one WARN with file:line:col, counted, listed in the status.
TEST_F(ControllerTest, NewBrokenFileIsWarnedCountedAndListedInTheSourceStatus) {
  WarnLines warns;
  RecordingSourceObserver observer;
  ControllerDeps d;
  d.source = &source_;
  d.gateway = &gateway_;
  d.store = &store_;
  d.clock = &clock_;
  d.source_observer = &observer;
  ControllerOptions o;
  o.source_name = "default";
  o.source_url = "/srv/manifests";
  Controller c(d, o);
  EXPECT_FALSE(c.source_status()->ready);
  EXPECT_EQ(c.source_status()->reason, "Progressing");

  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c.SyncOnce().ok());
  source_.SetFiles("rev2",
                   {{"a.yaml", Manifest("a")},
                    {"b.yaml", Manifest("b")},
                    {"new.yaml", Manifest("new") + "  env: [unclosed\n"},
                    {"kustomization.yaml",
                     "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"}});
  ASSERT_TRUE(c.SyncOnce().ok());
  EXPECT_EQ(c.desired()->objects.size(), 2u);
  auto lines = warns.Matching("new.yaml:");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], ::testing::ContainsRegex("invalid manifest: new\\.yaml:1[01]:[0-9]+: "));
  EXPECT_TRUE(warns.Matching("kustomization").empty()) << "ignored kinds are logged at debug";

  auto st = c.source_status();
  EXPECT_TRUE(st->ready);
  EXPECT_EQ(st->reason, "Synced");
  EXPECT_EQ(st->revision, "rev2");
  EXPECT_EQ(st->url, "/srv/manifests");
  EXPECT_EQ(st->valid, 2u);
  EXPECT_EQ(st->invalid, 1u);
  EXPECT_EQ(st->ignored, 1u);
  ASSERT_EQ(st->invalid_files.size(), 1u);
  EXPECT_EQ(st->invalid_files[0].path, "new.yaml");
  EXPECT_THAT(st->message, ::testing::HasSubstr("1 invalid file, first: new.yaml:"));
  ASSERT_TRUE(st->last_sync.has_value());
  EXPECT_EQ(*st->last_sync, clock_.Now());
  ASSERT_FALSE(observer.seen.empty());
  EXPECT_EQ(observer.seen.back().invalid, 1u);
  EXPECT_EQ(observer.failures, 0);

  // An unchanged revision parses nothing, warns nothing, but is a sync.
  clock_.Advance(30s);
  ASSERT_TRUE(c.SyncOnce().ok());
  EXPECT_EQ(warns.Matching("new.yaml:").size(), 1u);
  EXPECT_EQ(*c.source_status()->last_sync, clock_.Now());
  EXPECT_EQ(c.source_status()->invalid_files.size(), 1u);

  // A read failure: not Ready, the error shown, counted once.
  source_.FailRead(UnavailableError("git: object missing"));
  EXPECT_FALSE(c.SyncOnce().ok());
  st = c.source_status();
  EXPECT_FALSE(st->ready);
  EXPECT_EQ(st->reason, "ReadFailed");
  EXPECT_THAT(st->last_fetch_error, ::testing::HasSubstr("object missing"));
  EXPECT_EQ(st->fetch_errors, 1u);
  EXPECT_EQ(observer.failures, 1);
  EXPECT_EQ(st->revision, "rev2") << "the last good revision stays";
}

// --git-interval: with fetch_delay set, a sync fetches only when due; a
// failure backs off, keeps the revision, and is not Ready; TriggerReconcile
// fetches at once.
TEST_F(ControllerTest, RemoteFetchFollowsTheIntervalAndBacksOffOnFailure) {
  RecordingSourceObserver observer;
  std::vector<int> delays_asked;
  ControllerDeps d;
  d.source = &source_;
  d.gateway = &gateway_;
  d.store = &store_;
  d.clock = &clock_;
  d.source_observer = &observer;
  d.fetch_delay = [&](int failures) {
    delays_asked.push_back(failures);
    return Duration(std::chrono::minutes(1) * (1 << failures));
  };
  Controller c(d, ControllerOptions{});
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  ASSERT_TRUE(c.SyncOnce().ok());
  EXPECT_EQ(source_.refresh_calls(), 1);
  EXPECT_TRUE(c.source_status()->remote);
  ASSERT_TRUE(c.SyncOnce().ok());
  clock_.Advance(59s);
  ASSERT_TRUE(c.SyncOnce().ok());
  EXPECT_EQ(source_.refresh_calls(), 1) << "not due before --git-interval";
  clock_.Advance(1s);
  source_.FailRefresh(UnavailableError("fetch: connection refused"));
  ASSERT_TRUE(c.SyncOnce().ok()) << "the last good revision is still served";
  EXPECT_EQ(source_.refresh_calls(), 2);
  auto st = c.source_status();
  EXPECT_FALSE(st->ready);
  EXPECT_EQ(st->reason, "FetchFailed");
  EXPECT_THAT(st->message, ::testing::HasSubstr("connection refused"));
  EXPECT_EQ(st->revision, "rev1");
  EXPECT_EQ(st->fetch_errors, 1u);
  const TimePoint synced = *st->last_sync;
  EXPECT_LT(synced, clock_.Now()) << "a stale revision is not a sync";
  EXPECT_EQ(delays_asked, (std::vector<int>{0, 1}));
  clock_.Advance(119s);
  ASSERT_TRUE(c.SyncOnce().ok());
  EXPECT_EQ(source_.refresh_calls(), 2) << "backed off: 2 minutes after one failure";
  source_.ClearRefreshFailure();
  c.TriggerReconcile();  // not started: syncs inline, and fetches now
  EXPECT_EQ(source_.refresh_calls(), 3);
  st = c.source_status();
  EXPECT_TRUE(st->ready);
  EXPECT_TRUE(st->last_fetch_error.empty());
  EXPECT_EQ(*st->last_sync, clock_.Now());
  EXPECT_EQ(delays_asked, (std::vector<int>{0, 1, 0}));
  EXPECT_EQ(observer.failures, 1);
}

TEST_F(ControllerTest, DuplicateNamesInTwoFilesAreInvalid) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}, {"copy.yaml", Manifest("a", "echo 2")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  auto desired = c->desired();
  const DesiredObject* a = desired->Find(ObjectKey{"default", "a"});
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->invalid.has_value());
  EXPECT_EQ(a->invalid->reason, "DuplicateName");
}

TEST_F(ControllerTest, RunsWorkersSubmitsCancelsOnRemovalAndStopsGracefully) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}, {"b.yaml", Manifest("b")}});
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(Eventually([&] {
    auto a = Rec("a");
    auto b = Rec("b");
    return a && b && a->status.phase == api::Phase::kSubmitted &&
           b->status.phase == api::Phase::kSubmitted;
  }));
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2);
  auto subs = gateway_.submits();
  for (const auto& s : subs) {
    auto m = FindMarker(s.job_desc.value_or(""));
    ASSERT_TRUE(m.has_value()) << "the api's request builder carries the marker";
  }
  std::string a_job = Rec("a")->status.remote_job_name;
  source_.SetFiles("rev2", {{"b.yaml", Manifest("b")}, {"c.yaml", Manifest("c")}});
  c->TriggerReconcile();
  ASSERT_TRUE(Eventually([&] {
    auto a = Rec("a");
    return a && a->status.phase == api::Phase::kRemoved;
  }));
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{a_job});
  EXPECT_TRUE(c->Stop());
  EXPECT_EQ(c->ActiveWorkers(), 0);
}

// Issue 11: a typo in `kind:` of a running job's manifest is an invalid
// declaration (the job keeps running); emptying the file is a removal.
TEST_F(ControllerTest, KindTypoKeepsTheRunningJobEmptyingTheFileCancelsIt) {
  auto c = Make();
  source_.SetFiles(
      "rev1", {{"a.yaml", Manifest("a")}, {"b.yaml", Manifest("b")}, {"c.yaml", Manifest("c")}});
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(Eventually([&] {
    auto a = Rec("a");
    return a && a->status.phase == api::Phase::kSubmitted;
  }));
  std::string a_job = Rec("a")->status.remote_job_name;
  std::string typo = Manifest("a");
  typo.replace(typo.find("kind: MLSpaceJob"), 16, "kind: MLSpaceJb");
  source_.SetFiles("rev2",
                   {{"a.yaml", typo}, {"b.yaml", Manifest("b")}, {"c.yaml", Manifest("c")}});
  c->TriggerReconcile();
  // Hold the snapshot: the sync thread may replace the desired state at any
  // moment, and a bare Find() pointer would outlive the state it points into.
  std::shared_ptr<const DesiredState> desired;
  ASSERT_TRUE(Eventually([&] {
    desired = c->desired();
    const DesiredObject* a = desired->Find(ObjectKey{"default", "a"});
    return a && a->invalid.has_value();
  }));
  EXPECT_NE(desired->Find(ObjectKey{"default", "a"})->invalid->message.find("MLSpaceJb"),
            std::string::npos);
  // Let the workers reconcile the invalid revision before looking.
  ASSERT_TRUE(Eventually([&] { return c->queue().Len() == 0; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_NE(Rec("a")->status.phase, api::Phase::kRemoved);
  EXPECT_TRUE(gateway_.cancelled().empty()) << "a typo must not cancel a running job";

  source_.SetFiles("rev3", {{"a.yaml", ""}, {"b.yaml", Manifest("b")}, {"c.yaml", Manifest("c")}});
  c->TriggerReconcile();
  ASSERT_TRUE(Eventually([&] {
    auto a = Rec("a");
    return a && a->status.phase == api::Phase::kRemoved;
  }));
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{a_job});
  EXPECT_TRUE(c->Stop());
}

TEST_F(ControllerTest, StartUpResolvesOpenIntentsByAdoption) {
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  // A previous process committed an intent and POSTed, then died.
  auto probe = Make();
  ASSERT_TRUE(probe->SyncOnce().ok());
  const api::MLSpaceJob job = *probe->desired()->Find(ObjectKey{"default", "a"})->job;
  std::string marker = MakeMarker(kInstance, job.key(), job.spec_hash, 1);
  probe.reset();
  store::SubmitIntent intent;
  intent.marker = marker;
  intent.key = job.key();
  intent.spec_hash = job.spec_hash;
  intent.attempt = 1;
  intent.region = "SR006";
  intent.created_at = intent.updated_at = clock_.Now() - 5s;
  store::WriteBatch b;
  b.intents.push_back(intent);
  ASSERT_TRUE(store_.Write(b).ok());
  gateway::RemoteJob remote;
  remote.region = "SR006";
  remote.job_desc = marker;
  remote.status = gateway::RemoteStatus::kRunning;
  std::string name = gateway_.AddJob(remote);

  auto c = Make();
  ASSERT_TRUE(c->Start().ok());
  ASSERT_TRUE(Eventually([&] {
    auto a = Rec("a");
    return a && a->status.phase == api::Phase::kRunning;
  }));
  ASSERT_TRUE(Rec("a").has_value());
  EXPECT_EQ(Rec("a")->status.remote_job_name, name)
      << api::PhaseName(Rec("a")->status.phase) << " " << Rec("a")->status.last_error;
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0) << "adopted, never resubmitted";
  EXPECT_EQ(gateway_.CountCalls("List"), 1) << "one list per region at start-up";
  EXPECT_TRUE(c->Stop());
}

// A source that notes, when the controller reads it, how many List calls
// the gateway had seen: Start's order is observable.
class OrderNotingSource : public source::ManifestSource {
 public:
  OrderNotingSource(source::ManifestSource& inner, FakeJobGateway& gateway)
      : inner_(inner), gateway_(gateway) {}
  Result<source::Snapshot> Read() override {
    if (lists_at_first_read_ < 0) lists_at_first_read_ = gateway_.CountCalls("List");
    return inner_.Read();
  }
  Result<std::string> ReadBlob(const std::string& id) override { return inner_.ReadBlob(id); }
  Status Refresh() override { return inner_.Refresh(); }
  bool WaitForChange(std::chrono::milliseconds t) override { return inner_.WaitForChange(t); }
  void Wake() override { inner_.Wake(); }
  int lists_at_first_read() const { return lists_at_first_read_; }

 private:
  source::ManifestSource& inner_;
  FakeJobGateway& gateway_;
  int lists_at_first_read_ = -1;
};

TEST_F(ControllerTest, RestartPollsStoredRegionsBeforeTheSourceSync) {
  // A restart: the store holds a Submitted job in SR006 (its manifest is
  // still there). The first poll must not wait for the sync, which parses
  // every manifest.
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  store::ObjectRecord r;
  r.key = ObjectKey{"default", "a"};
  r.region = "SR006";
  r.status.phase = api::Phase::kSubmitted;
  r.status.remote_job_name = "gone-job";
  store::WriteBatch b;
  b.upserts.push_back(r);
  ASSERT_TRUE(store_.Write(b).ok());
  OrderNotingSource noting(source_, gateway_);
  ControllerDeps d;
  d.source = &noting;
  d.gateway = &gateway_;
  d.store = &store_;
  d.clock = &clock_;
  ControllerOptions o;
  o.workers = 1;
  Controller c(d, o);
  ASSERT_TRUE(c.Start().ok());
  EXPECT_EQ(noting.lists_at_first_read(), 1) << "SR006 listed before the source was read";
  EXPECT_EQ(gateway_.CountCalls("List"), 1) << "and not again after the sync";
  EXPECT_TRUE(c.Stop());
}

TEST_F(ControllerTest, ColdStartPollsTheManifestsRegionsAfterTheSync) {
  // Nothing stored: the regions are known only from the manifests.
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")}});
  OrderNotingSource noting(source_, gateway_);
  ControllerDeps d;
  d.source = &noting;
  d.gateway = &gateway_;
  d.store = &store_;
  d.clock = &clock_;
  ControllerOptions o;
  o.workers = 1;
  Controller c(d, o);
  ASSERT_TRUE(c.Start().ok());
  EXPECT_EQ(noting.lists_at_first_read(), 0);
  EXPECT_EQ(gateway_.CountCalls("List"), 1) << "SR006 listed once, right after the sync";
  EXPECT_TRUE(c.Stop());
}

}  // namespace
}  // namespace mlspace::reconciler

namespace mlspace::reconciler {
namespace {

// What the API serves comes from the record: the spec as written plus
// defaults for a valid object, the readable fields for one never valid.
TEST_F(ControllerTest, RecordsCarryTheSpecAndInvalidObjectsTheirReadableFields) {
  auto c = Make();
  source_.SetFiles("rev1", {{"a.yaml", Manifest("a")},
                            {"bad.yaml", Manifest("bad", "echo hi", "  workers: 0\n")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  for (const char* n : {"a", "bad"}) c->reconciler().Reconcile(ObjectKey{"default", n});
  auto a = Rec("a");
  ASSERT_TRUE(a.has_value());
  auto spec = nlohmann::json::parse(a->spec_json);
  EXPECT_EQ(spec["image"], "cr.ai.cloud.ru/base/py3.11:1");
  EXPECT_EQ(spec["workers"], 1);  // defaulted
  EXPECT_EQ(spec["runPolicy"]["backoffLimit"], 3);
  auto bad = Rec("bad");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status.phase, api::Phase::kInvalid);
  EXPECT_EQ(bad->region, "SR006");
  auto readable = nlohmann::json::parse(bad->spec_json);
  EXPECT_EQ(readable["region"], "SR006");
  EXPECT_EQ(readable["image"], "cr.ai.cloud.ru/base/py3.11:1");
  EXPECT_EQ(readable["workers"], 0);

  // Once valid, an object made Invalid keeps serving the spec it last ran
  // with, not the broken revision's fields.
  std::string broken = Manifest("a", "echo hi", "  workers: 0\n");
  broken.replace(broken.find("cr.ai.cloud.ru/base/py3.11:1"), 28, "cr.ai.cloud.ru/other/img:2");
  source_.SetFiles(
      "rev2", {{"a.yaml", broken}, {"bad.yaml", Manifest("bad", "echo hi", "  workers: 0\n")}});
  ASSERT_TRUE(c->SyncOnce().ok());
  c->reconciler().Reconcile(ObjectKey{"default", "a"});
  a = Rec("a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->status.phase, api::Phase::kInvalid);
  spec = nlohmann::json::parse(a->spec_json);
  EXPECT_EQ(spec["image"], "cr.ai.cloud.ru/base/py3.11:1");
  EXPECT_EQ(spec["workers"], 1);
}

// The API's log reads go through the controller's checked gateway: while the
// credentials are refused, a log read is answered locally, not sent.
TEST_F(ControllerTest, CheckedGatewayPausesLogReadsWhileCredentialsAreRefused) {
  auto c = Make();
  gateway_.SetUnauthorized(true);
  gateway::ListOptions lo;
  lo.region = "SR006";
  auto listed = c->checked_gateway().List(lo);
  ASSERT_FALSE(listed.ok());
  ASSERT_EQ(listed.error().kind, gateway::ErrorKind::kUnauthorized);
  auto logs = c->checked_gateway().Logs("lj-1", "SR006", 10);
  ASSERT_FALSE(logs.ok());
  EXPECT_EQ(logs.error().kind, gateway::ErrorKind::kUnauthorized);
  EXPECT_NE(logs.error().message.find("not sent"), std::string::npos) << logs.error().message;
  for (const auto& call : gateway_.calls()) EXPECT_NE(call.method, "Logs");
}

}  // namespace
}  // namespace mlspace::reconciler
