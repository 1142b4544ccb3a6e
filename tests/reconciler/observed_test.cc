// Markers, the desired-state builder, the observed cache and the poller.

#include <gtest/gtest.h>

#include "controller/reconciler/desired_state.h"
#include "controller/reconciler/marker.h"
#include "controller/reconciler/observed_cache.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_job_gateway.h"

namespace mlspace::reconciler {
namespace {

using mlspace::testing::FakeClock;
using mlspace::testing::FakeJobGateway;

TEST(MarkerTest, FormatAndParseRoundTrip) {
  ObjectKey k{"nlp", "llama-sft"};
  std::string m = MakeMarker("prod", k, "0123456789abcdef", 3);
  EXPECT_EQ(m, "mlsj:prod:nlp/llama-sft/01234567/3");
  auto p = ParseMarker(m);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->instance, "prod");
  EXPECT_FALSE(p->legacy());
  EXPECT_EQ(p->key, k);
  EXPECT_EQ(p->hash8, "01234567");
  EXPECT_EQ(p->attempt, 3);
  EXPECT_FALSE(ParseMarker("mlsj:prod:nlp/llama/0123/x").has_value());
  EXPECT_FALSE(ParseMarker("mlsj:prod:NLP/llama/0123/1").has_value());
  EXPECT_FALSE(ParseMarker("other:prod:nlp/llama/0123/1").has_value());
}

// Markers written before instances existed still parse, as legacy ones.
TEST(MarkerTest, LegacyMarkersParseWithoutInstance) {
  auto p = ParseMarker("mlsj:nlp/llama-sft/01234567/3");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->legacy());
  EXPECT_EQ(p->key, (ObjectKey{"nlp", "llama-sft"}));
  EXPECT_EQ(p->attempt, 3);
  EXPECT_EQ(MakeMarker("", ObjectKey{"nlp", "llama-sft"}, "0123456789abcdef", 3),
            "mlsj:nlp/llama-sft/01234567/3");
}

// The instance is a DNS-1123 label: a ':' after the prefix can only end it,
// so nothing parses two ways, and malformed instances are refused.
TEST(MarkerTest, InstanceSegmentIsUnambiguous) {
  EXPECT_FALSE(ParseMarker("mlsj:Prod:nlp/a/01234567/1").has_value()) << "uppercase";
  EXPECT_FALSE(ParseMarker("mlsj::nlp/a/01234567/1").has_value()) << "empty instance";
  EXPECT_FALSE(ParseMarker("mlsj:a:b:nlp/a/01234567/1").has_value()) << "two colons";
  EXPECT_FALSE(ParseMarker("mlsj:-a:nlp/a/01234567/1").has_value());
  EXPECT_FALSE(ParseMarker("mlsj:nlp/a:b/01234567/1").has_value()) << "colon in the name";
  EXPECT_FALSE(ParseMarker("mlsj:nlp/a/0123:567/1").has_value()) << "colon in the hash";
  EXPECT_FALSE(ParseMarker("mlsj:nlp/a/012345678/1").has_value()) << "hash longer than 8";
  EXPECT_FALSE(ParseMarker("mlsj:nlp/a/01234567/-0").has_value()) << "signed attempt";
  EXPECT_FALSE(ParseMarker("mlsj:nlp/a/01234567/01").has_value()) << "leading zero";
  EXPECT_FALSE(ParseMarker("mlsj:" + std::string(64, 'a') + ":nlp/a/01234567/1").has_value());
  auto p = ParseMarker("mlsj:" + std::string(63, 'a') + ":nlp/a/01234567/1");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->instance.size(), 63u);
  EXPECT_TRUE(IsValidInstance("staging-2"));
  EXPECT_FALSE(IsValidInstance("staging_2"));
  EXPECT_FALSE(IsValidInstance(""));
}

TEST(MarkerTest, FoundInsideFreeTextJobDesc) {
  EXPECT_EQ(FindMarker("train run mlsj:i:a/b/01234567/2 by team"), "mlsj:i:a/b/01234567/2");
  EXPECT_EQ(FindMarker("train run mlsj:a/b/01234567/2 by team"), "mlsj:a/b/01234567/2");
  EXPECT_EQ(FindMarker("xmlsj:i:a/b/01234567/2"), std::nullopt);
  EXPECT_EQ(FindMarker("no marker"), std::nullopt);
}

TEST(DesiredStateTest, DuplicateNamesAcrossFilesAreInvalidNamingEveryFile) {
  api::MLSpaceJob a;
  a.metadata.name = "x";
  a.spec_hash = "1";
  std::vector<ParsedObject> parsed = {{a.key(), "one.yaml", a, std::nullopt},
                                      {a.key(), "two.yaml", a, std::nullopt}};
  auto objs = BuildDesiredObjects(parsed);
  ASSERT_EQ(objs.size(), 1u);
  const DesiredObject& d = *objs.begin()->second;
  ASSERT_TRUE(d.invalid.has_value());
  EXPECT_FALSE(d.job.has_value());
  EXPECT_EQ(d.invalid->reason, "DuplicateName");
  EXPECT_NE(d.invalid->message.find("one.yaml"), std::string::npos);
  EXPECT_NE(d.invalid->message.find("two.yaml"), std::string::npos);
}

TEST(DesiredStateTest, PruneGuards) {
  EXPECT_FALSE(ComputePruneVerdict(false, 5, 5, 0, 0.5).allowed);
  EXPECT_EQ(ComputePruneVerdict(true, 0, 3, 3, 1.0).reason, "EmptyRevision");
  EXPECT_TRUE(ComputePruneVerdict(true, 0, 0, 0, 0.5).allowed) << "empty after empty is fine";
  EXPECT_EQ(ComputePruneVerdict(true, 4, 10, 6, 0.5).reason, "TooManyRemovals");
  EXPECT_TRUE(ComputePruneVerdict(true, 5, 10, 5, 0.5).allowed) << "exactly the fraction is ok";
  EXPECT_TRUE(ComputePruneVerdict(true, 1, 10, 9, 1.0).allowed);
}

gateway::RemoteJob Job(const std::string& region, const std::string& desc,
                       gateway::RemoteStatus st = gateway::RemoteStatus::kRunning) {
  gateway::RemoteJob j;
  j.region = region;
  j.job_desc = desc;
  j.status = st;
  return j;
}

TEST(RegionPollerTest, OneListPerRegionPerPollAndOnlyChangedKeysEnqueued) {
  FakeClock clock;
  FakeJobGateway gw(&clock);
  std::string a = gw.AddJob(Job("SR006", "mlsj:test:default/a/01234567/1"));
  gw.AddJob(Job("SR006", "mlsj:test:default/b/01234567/1"));
  gw.AddJob(Job("SR008", "mlsj:test:default/c/01234567/1"));
  gw.AddJob(Job("SR008", "someone else's job"));
  ObservedCache cache;
  std::vector<ObjectKey> enqueued;
  RegionPoller poller(
      gw, cache, clock,
      [] {
        return std::set<std::string>{"SR006", "SR008"};
      },
      [&](const ObjectKey& k) { enqueued.push_back(k); });
  EXPECT_EQ(poller.PollOnce(), 0);
  EXPECT_EQ(gw.CountCalls("List"), 2) << "one list per region, not per object";
  EXPECT_EQ(enqueued.size(), 3u) << "first sight of each marked job";
  enqueued.clear();
  clock.Advance(std::chrono::seconds(30));
  poller.PollOnce();
  EXPECT_EQ(gw.CountCalls("List"), 4);
  EXPECT_TRUE(enqueued.empty()) << "steady state enqueues nothing";
  gw.SetStatus(a, gateway::RemoteStatus::kCompleted);
  poller.PollOnce();
  EXPECT_EQ(enqueued, std::vector<ObjectKey>{(ObjectKey{"default", "a"})});
  auto snap = cache.Region("SR006");
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->generation, 3u);
  EXPECT_EQ(snap->WithMarker("mlsj:test:default/a/01234567/1").size(), 1u);
}

TEST(RegionPollerTest, FailedListKeepsPreviousSnapshotAndWatchersWait) {
  FakeClock clock;
  FakeJobGateway gw(&clock);
  ObservedCache cache;
  std::vector<ObjectKey> enqueued;
  RegionPoller poller(
      gw, cache, clock, [] { return std::set<std::string>{"SR006"}; },
      [&](const ObjectKey& k) { enqueued.push_back(k); });
  poller.PollOnce();
  cache.WatchNextList("SR006", ObjectKey{"default", "w"});
  gw.FailNextLists(1);
  EXPECT_EQ(poller.PollOnce(), 1);
  EXPECT_EQ(cache.Region("SR006")->generation, 1u);
  EXPECT_TRUE(enqueued.empty());
  poller.PollOnce();
  EXPECT_EQ(enqueued, std::vector<ObjectKey>{(ObjectKey{"default", "w"})});
}

TEST(RegionPollerTest, VanishedJobEnqueuesItsKey) {
  FakeClock clock;
  FakeJobGateway gw(&clock);
  std::string a = gw.AddJob(Job("SR006", "mlsj:test:default/a/01234567/1"));
  ObservedCache cache;
  std::vector<ObjectKey> enqueued;
  RegionPoller poller(
      gw, cache, clock, [] { return std::set<std::string>{"SR006"}; },
      [&](const ObjectKey& k) { enqueued.push_back(k); });
  poller.PollOnce();
  enqueued.clear();
  gw.Vanish(a);
  poller.PollOnce();
  EXPECT_EQ(enqueued, std::vector<ObjectKey>{(ObjectKey{"default", "a"})});
}

// A controller indexes and wakes keys only for its own markers (and legacy
// ones when its store predates instances); another instance's jobs are
// known by name only, so nothing can adopt them or take them for duplicates.
TEST(ObservedCacheTest, OnlyOwnMarkersAreIndexedAndWakeKeys) {
  auto jobs = [] {
    std::vector<gateway::RemoteJob> v = {Job("SR006", "mlsj:blue:default/a/01234567/1"),
                                         Job("SR006", "mlsj:green:default/b/01234567/1"),
                                         Job("SR006", "mlsj:default/c/01234567/1")};
    for (size_t i = 0; i < v.size(); ++i) v[i].name = "job-" + std::to_string(i);
    return v;
  };
  ObservedCache fresh;
  fresh.SetOwner("green", /*legacy_markers=*/false);
  auto keys = fresh.Update("SR006", jobs(), {}, {});
  EXPECT_EQ(keys, std::vector<ObjectKey>{(ObjectKey{"default", "b"})});
  auto snap = fresh.Region("SR006");
  EXPECT_TRUE(snap->WithMarker("mlsj:blue:default/a/01234567/1").empty());
  EXPECT_TRUE(snap->WithMarker("mlsj:default/c/01234567/1").empty());
  EXPECT_EQ(snap->WithMarker("mlsj:green:default/b/01234567/1").size(), 1u);
  EXPECT_NE(snap->Find("job-0"), nullptr) << "still known by name";

  ObservedCache upgraded;
  upgraded.SetOwner("green", /*legacy_markers=*/true);
  keys = upgraded.Update("SR006", jobs(), {}, {});
  EXPECT_EQ(keys, (std::vector<ObjectKey>{{"default", "b"}, {"default", "c"}}));
  EXPECT_EQ(upgraded.Region("SR006")->WithMarker("mlsj:default/c/01234567/1").size(), 1u);
  EXPECT_TRUE(upgraded.Region("SR006")->WithMarker("mlsj:blue:default/a/01234567/1").empty());
}

// ---- List visibility lag ---------------------------------------------

RegionSnapshot LagSnapshot(TimePoint started, std::vector<std::string> names) {
  RegionSnapshot s;
  s.region = "SR006";
  s.started_at = started;
  for (auto& n : names) {
    gateway::RemoteJob j;
    j.name = n;
    s.jobs.emplace(n, j);
  }
  return s;
}

TEST(ListLagTrackerTest, LagCountsOnceTheJobAppearsAndDrivesTheGrace) {
  ListLagTracker t;
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1000);
  t.RecordSubmit("SR006", "j1", t0);
  t.Observe(LagSnapshot(t0 - std::chrono::seconds(1), {}));  // sent before the answer
  t.Observe(LagSnapshot(t0 + std::chrono::seconds(30), {}));
  t.Observe(LagSnapshot(t0 + std::chrono::seconds(45), {}));
  EXPECT_EQ(t.WorstLag("SR006"), Duration::zero()) << "not counted before the job shows up";
  t.Observe(LagSnapshot(t0 + std::chrono::seconds(60), {"j1"}));
  EXPECT_EQ(t.WorstLag("SR006"), std::chrono::seconds(45));
  EXPECT_EQ(t.WorstLag("other"), Duration::zero());
  EXPECT_EQ(t.Grace("SR006", std::chrono::seconds(60)), std::chrono::seconds(135));
  EXPECT_EQ(t.Grace("SR006", std::chrono::seconds(200)), std::chrono::seconds(200));
  EXPECT_EQ(t.Grace("other", std::chrono::seconds(60)), std::chrono::seconds(60));
  // A quicker job later does not lower the worst lag.
  t.RecordSubmit("SR006", "j2", t0 + std::chrono::seconds(100));
  t.Observe(LagSnapshot(t0 + std::chrono::seconds(101), {"j1", "j2"}));
  EXPECT_EQ(t.WorstLag("SR006"), std::chrono::seconds(45));
}

TEST(ListLagTrackerTest, JobNeverListedIsForgottenAndGraceIsCapped) {
  ListLagTracker::Options o;
  o.forget_after = std::chrono::minutes(10);
  o.max_grace = std::chrono::minutes(5);
  ListLagTracker t(o);
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1000);
  t.RecordSubmit("SR006", "gone", t0);
  t.Observe(LagSnapshot(t0 + std::chrono::minutes(9), {}));
  t.Observe(LagSnapshot(t0 + std::chrono::minutes(11), {}));  // forgotten here
  t.Observe(LagSnapshot(t0 + std::chrono::minutes(12), {"gone"}));
  EXPECT_EQ(t.WorstLag("SR006"), Duration::zero());
  t.RecordSubmit("SR006", "slow", t0);
  t.Observe(LagSnapshot(t0 + std::chrono::minutes(4), {}));
  t.Observe(LagSnapshot(t0 + std::chrono::minutes(5), {"slow"}));
  EXPECT_EQ(t.WorstLag("SR006"), std::chrono::minutes(4));
  EXPECT_EQ(t.Grace("SR006", std::chrono::seconds(60)), std::chrono::minutes(5)) << "capped";
}

// The cache feeds every published list to its tracker.
TEST(ListLagTrackerTest, ObservedCacheUpdateFeedsTheTracker) {
  ObservedCache cache;
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1000);
  cache.lag().RecordSubmit("SR006", "j1", t0);
  cache.Update("SR006", {}, t0 + std::chrono::seconds(20), t0 + std::chrono::seconds(21));
  gateway::RemoteJob j;
  j.name = "j1";
  cache.Update("SR006", {j}, t0 + std::chrono::seconds(40), t0 + std::chrono::seconds(41));
  EXPECT_EQ(cache.lag().WorstLag("SR006"), std::chrono::seconds(20));
}

}  // namespace
}  // namespace mlspace::reconciler
