// Instance identity: the default derived from the source, its recording in
// the state store (fake and real SQLite), and the rule that a controller
// never adopts, cancels or reports a job whose marker names another
// instance, while jobs submitted with legacy markers stay with their store.

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "controller/reconciler/instance.h"
#include "controller/store/sqlite/sqlite_state_store.h"
#include "tests/reconciler/harness.h"

namespace mlspace::reconciler::testing {
namespace {

using Fault = FakeJobGateway::SubmitFault;

bool EndsWithHash8(const std::string& s) {
  if (s.size() < 9 || s[s.size() - 9] != '-') return false;
  for (size_t i = s.size() - 8; i < s.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(s[i])) || std::isupper(s[i])) return false;
  }
  return true;
}

TEST(DefaultInstanceTest, ReadablePrefixAndShortHashOfTheSource) {
  std::string url = DefaultInstance("https://github.com/acme/ML_Jobs.git");
  EXPECT_EQ(url.substr(0, 8), "ml-jobs-") << url;
  EXPECT_TRUE(EndsWithHash8(url)) << url;
  EXPECT_TRUE(IsValidInstance(url)) << url;
  // Credentials, ".git" and a trailing slash do not change it (a rotated
  // token must not rename the controller).
  EXPECT_EQ(DefaultInstance("https://bot:s3cr3t@github.com/acme/ML_Jobs/"), url);
  EXPECT_EQ(DefaultInstance("https://github.com/acme/ML_Jobs"), url);
  EXPECT_EQ(DefaultInstance("https://github.com/acme/ML_Jobs.git"), url) << "stable";
  EXPECT_EQ(DefaultInstance("git@github.com:acme/ml-jobs.git").substr(0, 8), "ml-jobs-");
  // Same readable name, different sources: different identities.
  EXPECT_NE(DefaultInstance("/srv/team-a/jobs"), DefaultInstance("/srv/team-b/jobs"));
  EXPECT_EQ(DefaultInstance("/srv/team-a/jobs").substr(0, 5), "jobs-");
}

TEST(DefaultInstanceTest, OddAndLongSourcesGiveABoundedLabel) {
  std::mt19937 rng(7);
  std::vector<std::string> sources = {"",
                                      "/",
                                      "/srv/Überjobs!!/--x--",
                                      "/tmp/" + std::string(300, 'Z'),
                                      "file:///home/u/repo.git",
                                      "https://host/a b/c%20d?x=1#frag",
                                      "ssh://git@host:2222/org/repo"};
  for (int i = 0; i < 200; ++i) {
    std::string s;
    for (int n = static_cast<int>(rng() % 80); n > 0; --n) s += static_cast<char>(rng() % 256);
    sources.push_back(s);
  }
  for (const auto& s : sources) {
    std::string inst = DefaultInstance(s);
    EXPECT_TRUE(IsValidInstance(inst)) << "\"" << inst << "\" from \"" << s << "\"";
    EXPECT_LE(inst.size(), 39u) << inst;
    EXPECT_TRUE(EndsWithHash8(inst)) << inst;
  }
  EXPECT_EQ(DefaultInstance("/tmp/" + std::string(300, 'Z')).size(), 39u);
  EXPECT_EQ(DefaultInstance("").substr(0, 8), "mlspace-");
}

// Whatever parses is exactly what MakeMarker writes for the parsed fields,
// so no text parses as two different markers (or two instances).
TEST(MarkerPropertyTest, EveryParsedMarkerRoundTrips) {
  std::mt19937 rng(11);
  // Segments near the edges of each rule, joined by random separators.
  const std::vector<std::string> seg = {
      "a", "b0",  "-a",       "a-",        "x-y", "0",  "00", "01", "7",   "12",
      "",  "ab:", "0123abcd", "0123abcde", "A",   "-0", "ff", "p",  "q:r", std::string(64, 'a')};
  const std::string sep = ":/";
  int parsed = 0;
  for (int i = 0; i < 200000; ++i) {
    std::string s = "mlsj:";
    for (int n = 3 + static_cast<int>(rng() % 3); n > 0; --n) {
      s += seg[rng() % seg.size()];
      if (n > 1) s += sep[rng() % sep.size()];
    }
    auto p = ParseMarker(s);
    if (!p) continue;
    ++parsed;
    EXPECT_EQ(MakeMarker(p->instance, p->key, p->hash8, p->attempt), s)
        << "parsed as instance \"" << p->instance << "\" key " << p->key.ToString();
  }
  EXPECT_GT(parsed, 100) << "the generator reaches valid markers";
}

TEST(ResolveInstanceTest, DefaultIsRecordedAtFirstStartAndKeptWhenTheSourceMoves) {
  FakeStateStore store;
  auto first = ResolveInstance(store, "", "/work/repo/jobs", "/state");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->instance, DefaultInstance("/work/repo/jobs"));
  EXPECT_EQ(store.Identity()->instance, first->instance);
  // The work tree moved: the recorded identity wins over a new default.
  auto moved = ResolveInstance(store, "", "/elsewhere/repo/jobs", "/state");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->instance, first->instance);
  // Naming the recorded identity explicitly is fine.
  EXPECT_TRUE(ResolveInstance(store, first->instance, "/x", "/state").ok());
  EXPECT_EQ(store.calls().record_instance, 1) << "recorded once";
}

TEST(ResolveInstanceTest, FlagOnANewStoreIsRecorded) {
  FakeStateStore store;
  store.SetLegacyMarkers(true);
  auto id = ResolveInstance(store, "production", "/work/repo/jobs", "/state");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->instance, "production");
  EXPECT_TRUE(id->legacy_markers);
  EXPECT_EQ(store.Identity()->instance, "production");
}

TEST(ResolveInstanceTest, ContradictingFlagIsRefusedWithOneLineSayingHowToRename) {
  FakeStateStore store;
  ASSERT_TRUE(store.RecordInstance("staging").ok());
  auto r = ResolveInstance(store, "production", "/src", "/var/lib/mlspace");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  const std::string m = r.status().message();
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_NE(m.find("--instance \"production\" contradicts instance \"staging\""), std::string::npos)
      << m;
  EXPECT_NE(m.find("/var/lib/mlspace"), std::string::npos) << m;
  EXPECT_NE(m.find("new --state-dir"), std::string::npos) << m;
  EXPECT_EQ(store.Identity()->instance, "staging") << "left as it was";
}

TEST(ResolveInstanceTest, InvalidFlagAndStoreErrorsAreReported) {
  FakeStateStore store;
  auto bad = ResolveInstance(store, "Prod_1", "/src", "/state");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("--instance \"Prod_1\""), std::string::npos);
  EXPECT_EQ(store.calls().identity, 0) << "checked before touching the store";
  store.FailNextRead(UnavailableError("disk gone"));
  EXPECT_EQ(ResolveInstance(store, "", "/src", "/state").status().code(), StatusCode::kUnavailable);
  store.FailNextWrite(UnavailableError("disk full"));
  EXPECT_EQ(ResolveInstance(store, "", "/src", "/state").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store.Identity()->instance, "") << "nothing recorded by a failed write";
}

// The same rules on the real store, across reopening (a restart).
TEST(ResolveInstanceTest, RecordedInTheSqliteStoreAcrossRestarts) {
  namespace fs = std::filesystem;
  fs::path dir =
      fs::temp_directory_path() / ("mlspace-instance-" + std::to_string(std::random_device{}()));
  {
    auto store = store::SqliteStateStore::Open(dir.string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto id = ResolveInstance(**store, "", "/work/a/jobs", dir.string());
    ASSERT_TRUE(id.ok()) << id.status().ToString();
    EXPECT_EQ(id->instance, DefaultInstance("/work/a/jobs"));
    EXPECT_FALSE(id->legacy_markers);
  }
  {
    auto store = store::SqliteStateStore::Open(dir.string());
    ASSERT_TRUE(store.ok());
    auto id = ResolveInstance(**store, "", "/moved/b/jobs", dir.string());
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->instance, DefaultInstance("/work/a/jobs")) << "kept after the move";
    auto refused = ResolveInstance(**store, "other", "/moved/b/jobs", dir.string());
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  }
  fs::remove_all(dir);
}

// Two controllers (instances "blue" and "test") with their own stores run
// the same manifest against one gateway.
class TwoInstancesTest : public ReconcilerTest {
 protected:
  TwoInstancesTest() {
    ReconcilerOptions o = opts_;
    o.instance = "blue";
    blue_ = std::make_unique<Process>(blue_store_, gateway_, clock_, desired_, o, nullptr);
  }
  std::optional<store::ObjectRecord> BlueRecord() {
    auto r = blue_store_.Get(Key("a"));
    return r.ok() ? *r : std::nullopt;
  }
  // Both controllers poll and reconcile "a" once.
  void Round(Duration advance = 30s) {
    clock_.Advance(advance);
    blue_->poller->PollOnce();
    proc_->poller->PollOnce();
    blue_->reconciler->Reconcile(Key("a"));
    Reconcile();
  }

  FakeStateStore blue_store_;
  std::unique_ptr<Process> blue_;
};

// The bug of issue 10: the second controller found two jobs with "its"
// marker, kept the older (the first controller's), cancelled its own and
// reported the other's as its own.
TEST_F(TwoInstancesTest, EachSubmitsItsOwnJobAndNeitherCancelsNorReportsTheOther) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  blue_->reconciler->Reconcile(Key("a"));
  ASSERT_TRUE(BlueRecord().has_value());
  std::string blue_job = BlueRecord()->status.remote_job_name;
  gateway_.SetStatus(blue_job, gateway::RemoteStatus::kRunning);
  Round();
  Reconcile();
  std::string test_job = Record().status.remote_job_name;
  ASSERT_FALSE(test_job.empty());
  EXPECT_NE(test_job, blue_job);
  gateway_.SetStatus(test_job, gateway::RemoteStatus::kRunning);
  for (int i = 0; i < 4; ++i) Round();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 2) << "one job per controller";
  EXPECT_TRUE(gateway_.cancelled().empty()) << "nobody cancels anybody's job";
  EXPECT_EQ(BlueRecord()->status.remote_job_name, blue_job);
  EXPECT_EQ(Record().status.remote_job_name, test_job);
  EXPECT_EQ(Record().status.phase, api::Phase::kRunning);
  EXPECT_EQ(CountEvent("DuplicateCancelled"), 0);
  EXPECT_EQ(gateway_.JobsWithMarker(MakeMarker("blue", job.key(), job.spec_hash, 1)).size(), 1u);
  EXPECT_EQ(gateway_.JobsWithMarker(MarkerOf(job, 1)).size(), 1u);
  // Each sees the other's job finish without reacting to it.
  gateway_.SetStatus(blue_job, gateway::RemoteStatus::kCompleted);
  Round();
  EXPECT_EQ(BlueRecord()->status.phase, api::Phase::kSucceeded);
  EXPECT_EQ(Record().status.phase, api::Phase::kRunning);
}

// An ambiguous submit looks for its own marker only: the other instance's
// job for the same object is never adopted.
TEST_F(TwoInstancesTest, AmbiguousSubmitNeverAdoptsTheOtherInstancesJob) {
  auto job = MakeJob("a", "0123456789abcdef");
  SetDesired({job});
  blue_->reconciler->Reconcile(Key("a"));
  std::string blue_job = BlueRecord()->status.remote_job_name;
  gateway_.ScriptSubmit(Fault::kAmbiguousNotCreated);
  Reconcile();
  EXPECT_EQ(PhaseOf(), api::Phase::kPending);
  for (int i = 0; i < 4; ++i) Round(40s);
  EXPECT_EQ(CountEvent("Adopted"), 0);
  EXPECT_EQ(CountEvent("Resubmitting"), 1) << "absent from lists: sent again, same marker";
  auto rec = Record();
  EXPECT_EQ(rec.status.phase, api::Phase::kSubmitted);
  EXPECT_NE(rec.status.remote_job_name, blue_job);
  EXPECT_EQ(BlueRecord()->status.remote_job_name, blue_job);
  EXPECT_TRUE(gateway_.cancelled().empty());
}

// A job carrying a legacy marker that this store never submitted (another,
// older controller's) is left alone by a controller on a new store.
TEST_F(ReconcilerTest, LegacyMarkedJobOfAnotherControllerIsLeftAlone) {
  auto job = MakeJob("a", "0123456789abcdef");
  gateway::RemoteJob legacy;
  legacy.region = "SR006";
  legacy.job_desc = MakeMarker("", job.key(), job.spec_hash, 1);
  legacy.status = gateway::RemoteStatus::kRunning;
  std::string legacy_job = gateway_.AddJob(legacy);
  SetDesired({job});
  Poll();
  EXPECT_FALSE(proc_->enqueued.count(Key("a"))) << "not ours: no key woken";
  Reconcile();
  for (int i = 0; i < 3; ++i) {
    Poll();
    Reconcile();
  }
  EXPECT_EQ(gateway_.CountCalls("Submit"), 1);
  EXPECT_NE(Record().status.remote_job_name, legacy_job);
  EXPECT_TRUE(gateway_.cancelled().empty());
}

// Upgrade: an open intent with a legacy marker (the old version crashed or
// lost the answer after its POST) is settled by adoption, not a new POST.
TEST_F(ReconcilerTest, UpgradedStoreAdoptsItsLegacyOpenIntent) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string marker = MakeMarker("", job.key(), job.spec_hash, 1);
  store_.SetLegacyMarkers(true);
  store::SubmitIntent intent;
  intent.marker = marker;
  intent.key = job.key();
  intent.spec_hash = job.spec_hash;
  intent.attempt = 1;
  intent.region = "SR006";
  intent.created_at = intent.updated_at = clock_.Now();
  store::WriteBatch b;
  b.intents = {intent};
  ASSERT_TRUE(store_.Write(b).ok());
  gateway::RemoteJob remote;
  remote.region = "SR006";
  remote.job_desc = marker;
  remote.status = gateway::RemoteStatus::kRunning;
  std::string name = gateway_.AddJob(remote);
  Restart();  // the new version starts on the upgraded store
  SetDesired({job});
  Poll();
  EXPECT_TRUE(proc_->enqueued.count(Key("a")));
  Reconcile();
  Reconcile();
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
  auto rec = Record();
  EXPECT_EQ(rec.status.remote_job_name, name);
  EXPECT_EQ(rec.status.phase, api::Phase::kRunning);
  EXPECT_EQ(CountEvent("Adopted"), 1);
  EXPECT_EQ(store_.AllIntents().at(marker).state, store::IntentState::kSubmitted);
}

// Upgrade: a running legacy attempt is watched under the marker its intent
// recorded, so a duplicate carrying that marker is still found and
// cancelled (a recomputed, instance-qualified marker would find nothing).
TEST_F(ReconcilerTest, UpgradedStoreWatchesItsLegacyAttemptByTheRecordedMarker) {
  auto job = MakeJob("a", "0123456789abcdef");
  std::string marker = MakeMarker("", job.key(), job.spec_hash, 1);
  store_.SetLegacyMarkers(true);
  gateway::RemoteJob remote;
  remote.region = "SR006";
  remote.job_desc = marker;
  remote.status = gateway::RemoteStatus::kRunning;
  std::string first = gateway_.AddJob(remote);
  clock_.Advance(1s);
  std::string dup = gateway_.AddJob(remote);
  store::SubmitIntent intent;
  intent.marker = marker;
  intent.key = job.key();
  intent.spec_hash = job.spec_hash;
  intent.attempt = 1;
  intent.region = "SR006";
  intent.state = store::IntentState::kSubmitted;
  intent.remote_job_name = first;
  intent.created_at = intent.updated_at = clock_.Now();
  store::ObjectRecord rec;
  rec.key = job.key();
  rec.spec_hash = job.spec_hash;
  rec.generation = 1;
  rec.region = "SR006";
  rec.status.phase = api::Phase::kRunning;
  rec.status.remote_job_name = first;
  rec.status.attempt = 1;
  rec.status.observed_generation = 1;
  store::WriteBatch b;
  b.intents = {intent};
  b.upserts = {rec};
  ASSERT_TRUE(store_.Write(b).ok());
  Restart();
  SetDesired({job});
  Poll();
  Reconcile();
  EXPECT_EQ(gateway_.cancelled(), std::vector<std::string>{dup});
  EXPECT_EQ(Record().status.remote_job_name, first);
  EXPECT_EQ(gateway_.CountCalls("Submit"), 0);
  // The next attempt of this object carries the new format.
  gateway_.SetStatus(first, gateway::RemoteStatus::kFailed);
  Poll();
  Reconcile();
  clock_.Advance(1h);
  Reconcile();
  ASSERT_EQ(gateway_.submits().size(), 1u) << "a retry (backoffLimit 3 by default)";
  EXPECT_EQ(gateway_.submits()[0].job_desc.value_or(""), MarkerOf(job, 2));
}

}  // namespace
}  // namespace mlspace::reconciler::testing
