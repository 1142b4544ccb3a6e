// The API's read side beyond plain GET: the change log, watch streams,
// Table options, field selectors, core events, discovery and OpenAPI.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "controller/api/crd.h"
#include "controller/api/yaml_json.h"
#include "controller/apiserver/change_log.h"
#include "controller/apiserver/handler.h"
#include "controller/apiserver/object_codec.h"
#include "controller/apiserver/openapi.h"
#include "controller/apiserver/table.h"
#include "controller/core/time_util.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

store::ObjectRecord Record(std::string ns, std::string name, api::Phase phase) {
  store::ObjectRecord r;
  r.key = ObjectKey{std::move(ns), std::move(name)};
  r.spec_hash = "abcdef0123";
  r.generation = 1;
  r.spec_json = R"({"region":"SR006","image":"img:1","instanceType":"a100.1gpu"})";
  r.region = "SR006";
  r.source_path = "jobs/" + r.key.name + ".yaml";
  r.status.phase = phase;
  r.status.attempt = 1;
  r.created_at = TimePoint(std::chrono::seconds(1'700'000'000 - 300));
  return r;
}

store::WriteBatch Upsert(store::ObjectRecord r) {
  store::WriteBatch b;
  b.upserts.push_back(std::move(r));
  return b;
}

// Collects what a watch writes; the test closes it to end the stream.
class RecordingStream {
 public:
  ChunkWriter Writer() {
    return [this](std::string_view chunk) { return chunk.empty() ? Alive() : Write(chunk); };
  }
  bool Write(std::string_view chunk) {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    size_t pos = 0;
    std::string text(chunk);
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      lines_.push_back(json::parse(text.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    cv_.notify_all();
    return true;
  }
  bool Alive() {
    std::lock_guard lock(mu_);
    return !closed_;
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  // Waits (bounded) until at least n events arrived; returns them.
  std::vector<json> WaitFor(size_t n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return lines_.size() >= n; });
    return lines_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<json> lines_;
  bool closed_ = false;
};

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(observed_.Write(Upsert(Record("nlp", "llama", api::Phase::kRunning))).ok());
    ASSERT_TRUE(observed_.Write(Upsert(Record("cv", "yolo", api::Phase::kPending))).ok());
  }

  ApiRequest Req(std::string path, std::multimap<std::string, std::string> query = {},
                 std::string accept = "application/json") {
    ApiRequest req;
    req.method = "GET";
    req.path = std::move(path);
    req.query = std::move(query);
    req.headers["accept"] = std::move(accept);
    return req;
  }

  // Runs a watch on a thread; the returned stream collects its events.
  struct Running {
    std::shared_ptr<RecordingStream> stream = std::make_shared<RecordingStream>();
    std::thread thread;
    ~Running() {
      stream->Close();
      if (thread.joinable()) thread.join();
    }
  };
  std::unique_ptr<Running> StartWatch(const ApiRequest& req) {
    ApiResponse r = handler_.Handle(req);
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(r.stream);
    auto run = std::make_unique<Running>();
    if (!r.stream) return run;
    run->thread = std::thread([fn = r.stream, s = run->stream] { fn(s->Writer()); });
    return run;
  }

  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  ChangeLog log_{8};
  ObservingStore observed_{store_, log_};
  ApiHandler handler_{
      store_, clock_, ControllerHooks{},
      HandlerOptions{"", "v0", nullptr, {}, &log_, std::chrono::milliseconds(50), 30s}};
};

TEST(ChangeLogTest, PublishesAddedModifiedDeletedInCommitOrder) {
  testing::FakeStateStore store;
  ChangeLog log(16);
  ObservingStore observed(store, log);
  ASSERT_TRUE(observed.Write(Upsert(Record("a", "x", api::Phase::kPending))).ok());
  ASSERT_TRUE(observed.Write(Upsert(Record("a", "x", api::Phase::kRunning))).ok());
  ASSERT_TRUE(observed.Write(Upsert(Record("a", "x", api::Phase::kRemoved))).ok());
  std::vector<Change> changes;
  ASSERT_EQ(log.WaitForChanges(0, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kChanges);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].type, ChangeType::kAdded);
  EXPECT_EQ(changes[1].type, ChangeType::kModified);
  EXPECT_EQ(changes[2].type, ChangeType::kDeleted);
  EXPECT_EQ(changes[2].object->record.status.phase, api::Phase::kRemoved);
  EXPECT_LT(changes[0].resource_version, changes[1].resource_version);
  EXPECT_LT(changes[1].resource_version, changes[2].resource_version);
  // Each object carries its change's rv, so a client resumes from it.
  EXPECT_EQ(changes[1].object->object["metadata"]["resourceVersion"],
            std::to_string(changes[1].resource_version));
  EXPECT_EQ(log.Get(ObjectKey{"a", "x"}), nullptr);  // Removed is not served
  int64_t rv = 0;
  EXPECT_TRUE(log.List(&rv).empty());
  EXPECT_EQ(rv, changes[2].resource_version);
  // The record stays in the store for --removed-retention (events, history).
  EXPECT_TRUE(store.Get(ObjectKey{"a", "x"})->has_value());
}

TEST(ChangeLogTest, FailedWritesPublishNothing) {
  testing::FakeStateStore store;
  ChangeLog log(16);
  ObservingStore observed(store, log);
  store.FailNextWrite(UnavailableError("disk full"));
  EXPECT_FALSE(observed.Write(Upsert(Record("a", "x", api::Phase::kPending))).ok());
  EXPECT_EQ(log.CurrentVersion(), 0);
  EXPECT_EQ(log.Get(ObjectKey{"a", "x"}), nullptr);
}

TEST(ChangeLogTest, BoundedHistoryAnswersGoneAndStoreDeleteIsDeleted) {
  testing::FakeStateStore store;
  ChangeLog log(2);
  ObservingStore observed(store, log);
  for (int i = 0; i < 5; ++i) {
    auto r = Record("a", "x", api::Phase::kRunning);
    r.status.attempt = i + 1;
    ASSERT_TRUE(observed.Write(Upsert(r)).ok());
  }
  std::vector<Change> changes;
  EXPECT_EQ(log.WaitForChanges(1, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kGone);
  EXPECT_EQ(log.WaitForChanges(3, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kChanges);
  EXPECT_EQ(changes.size(), 2u);
  store::WriteBatch del;
  del.deletes.push_back(ObjectKey{"a", "x"});
  ASSERT_TRUE(observed.Write(del).ok());
  changes.clear();
  ASSERT_EQ(log.WaitForChanges(5, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kChanges);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].type, ChangeType::kDeleted);
  EXPECT_EQ(changes[0].object->record.status.attempt, 5);  // the last served state
}

TEST(ChangeLogTest, WaitTimesOutAndShutdownWakesWaiters) {
  ChangeLog log(4);
  std::vector<Change> changes;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(log.WaitForChanges(0, start + 30ms, &changes), ChangeLog::WaitResult::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    log.Shutdown();
  });
  EXPECT_EQ(log.WaitForChanges(0, std::chrono::steady_clock::now() + 10s, &changes),
            ChangeLog::WaitResult::kShutdown);
  t.join();
}

TEST(ChangeLogTest, LoadServesStoredRecordsAndContinuesTheirSequence) {
  testing::FakeStateStore store;
  ASSERT_TRUE(store.Write(Upsert(Record("a", "x", api::Phase::kRunning))).ok());
  ASSERT_TRUE(store.Write(Upsert(Record("a", "gone", api::Phase::kRemoved))).ok());
  ChangeLog log(4);
  ASSERT_TRUE(log.Load(store).ok());
  int64_t rv = 0;
  auto items = log.List(&rv);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]->record.key.name, "x");
  EXPECT_GE(rv, items[0]->record.resource_version);
  store.FailNextRead(UnavailableError("locked"));
  EXPECT_FALSE(log.Load(store).ok());
}

TEST_F(WatchTest, FromZeroSendsCurrentObjectsThenChanges) {
  auto w = StartWatch(Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"watch", "true"}}));
  auto got = w->stream->WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["type"], "ADDED");
  EXPECT_EQ(got[0]["object"]["metadata"]["name"], "yolo");  // key order: cv/ before nlp/
  EXPECT_EQ(got[0]["object"]["spec"]["image"], "img:1");
  auto r = Record("nlp", "llama", api::Phase::kSucceeded);
  ASSERT_TRUE(observed_.Write(Upsert(r)).ok());
  got = w->stream->WaitFor(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2]["type"], "MODIFIED");
  EXPECT_EQ(got[2]["object"]["status"]["phase"], "Succeeded");
}

TEST_F(WatchTest, FromAVersionSendsOnlyLaterChangesMatchingTheSelectors) {
  int64_t rv = log_.CurrentVersion();
  auto w = StartWatch(Req("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs",
                          {{"watch", "1"},
                           {"resourceVersion", std::to_string(rv)},
                           {"fieldSelector", "metadata.name=llama"}}));
  ASSERT_TRUE(observed_.Write(Upsert(Record("cv", "yolo", api::Phase::kRunning))).ok());
  ASSERT_TRUE(observed_.Write(Upsert(Record("nlp", "bert", api::Phase::kRunning))).ok());
  ASSERT_TRUE(observed_.Write(Upsert(Record("nlp", "llama", api::Phase::kRemoved))).ok());
  auto got = w->stream->WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["type"], "DELETED");
  EXPECT_EQ(got[0]["object"]["metadata"]["name"], "llama");
  // A later event would have arrived by now if the filter let others pass.
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(w->stream->WaitFor(1).size(), 1u);
}

// Every list path watches with label and field selectors: across
// namespaces, a label selector and metadata.namespace narrow the stream.
TEST_F(WatchTest, AllNamespacesWatchHonoursLabelAndNamespaceSelectors) {
  auto labelled = [](std::string ns, std::string name, api::Phase phase, std::string team) {
    auto r = Record(std::move(ns), std::move(name), phase);
    r.labels = {{"team", std::move(team)}};
    return r;
  };
  int64_t rv = log_.CurrentVersion();
  auto w = StartWatch(
      Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"watch", "true"},
                                                    {"resourceVersion", std::to_string(rv)},
                                                    {"labelSelector", "team=nlp"},
                                                    {"fieldSelector", "metadata.namespace!=cv"}}));
  ASSERT_TRUE(observed_.Write(Upsert(labelled("cv", "yolo", api::Phase::kRunning, "nlp"))).ok());
  ASSERT_TRUE(observed_.Write(Upsert(labelled("nlp", "bert", api::Phase::kRunning, "cv"))).ok());
  ASSERT_TRUE(observed_.Write(Upsert(labelled("ml", "t5", api::Phase::kPending, "nlp"))).ok());
  ASSERT_TRUE(observed_.Write(Upsert(labelled("ml", "t5", api::Phase::kRunning, "nlp"))).ok());
  auto got = w->stream->WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["type"], "ADDED");
  EXPECT_EQ(got[0]["object"]["metadata"]["namespace"], "ml");
  EXPECT_EQ(got[1]["type"], "MODIFIED");
  EXPECT_EQ(got[1]["object"]["status"]["phase"], "Running");
  // Neither cv/yolo (namespace) nor nlp/bert (label) arrives later.
  EXPECT_EQ(w->stream->WaitFor(3, 200ms).size(), 2u);
}

TEST_F(WatchTest, TooOldOrUnknownVersionIsAnExpiredErrorEvent) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        observed_.Write(Upsert(Record("cv", "n" + std::to_string(i), api::Phase::kPending))).ok());
  }
  for (std::string rv : {"1", "999999"}) {
    auto w = StartWatch(
        Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"watch", "true"}, {"resourceVersion", rv}}));
    auto got = w->stream->WaitFor(1);
    ASSERT_EQ(got.size(), 1u) << rv;
    EXPECT_EQ(got[0]["type"], "ERROR");
    EXPECT_EQ(got[0]["object"]["code"], 410);
    EXPECT_EQ(got[0]["object"]["reason"], "Expired");
    w->thread.join();  // the stream ends after the error
  }
}

TEST_F(WatchTest, TimeoutSecondsEndsTheStreamAndBookmarksCarryTheVersion) {
  auto start = std::chrono::steady_clock::now();
  auto w = StartWatch(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                          {{"watch", "true"},
                           {"resourceVersion", std::to_string(log_.CurrentVersion())},
                           {"allowWatchBookmarks", "true"},
                           {"timeoutSeconds", "1"}}));
  w->thread.join();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 1s);
  EXPECT_LT(elapsed, 3s);
  auto got = w->stream->WaitFor(1, 0ms);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0]["type"], "BOOKMARK");
  EXPECT_EQ(got[0]["object"]["metadata"]["resourceVersion"], std::to_string(log_.CurrentVersion()));
}

TEST_F(WatchTest, ClosedClientEndsTheStream) {
  auto w = StartWatch(
      Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"watch", "true"}, {"resourceVersion", "0"}}));
  w->stream->WaitFor(2);
  w->stream->Close();
  auto start = std::chrono::steady_clock::now();
  w->thread.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(WatchTest, TableWatchEventsAreOneRowTables) {
  auto w = StartWatch(Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"watch", "true"}},
                          "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"));
  auto got = w->stream->WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["object"]["kind"], "Table");
  ASSERT_EQ(got[0]["object"]["rows"].size(), 1u);
  EXPECT_EQ(got[0]["object"]["rows"][0]["cells"][0], "yolo");
}

TEST_F(WatchTest, BadWatchParametersAreBadRequests) {
  EXPECT_EQ(handler_
                .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                            {{"watch", "true"}, {"resourceVersion", "x1"}}))
                .status,
            400);
  EXPECT_EQ(handler_
                .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                            {{"watch", "true"}, {"timeoutSeconds", "-3"}}))
                .status,
            400);
  auto r = handler_.Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                               {{"watch", "true"}, {"fieldSelector", "spec.image=x"}}));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("spec.image"), std::string::npos);
}

TEST_F(WatchTest, ListAndGetServeTheLogsVersionsAndHideRemovedObjects) {
  ASSERT_TRUE(observed_.Write(Upsert(Record("cv", "yolo", api::Phase::kRemoved))).ok());
  auto list = json::parse(handler_.Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs")).body);
  EXPECT_EQ(list["metadata"]["resourceVersion"], std::to_string(log_.CurrentVersion()));
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "llama");
  EXPECT_EQ(list["items"][0]["spec"]["region"], "SR006");
  EXPECT_EQ(list["items"][0]["status"]["sourcePath"], "jobs/llama.yaml");
  EXPECT_EQ(handler_.Handle(Req("/apis/mlspace.io/v1alpha1/namespaces/cv/mlspacejobs/yolo")).status,
            404);
  auto one = handler_.Handle(Req("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/llama"));
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["metadata"]["resourceVersion"],
            list["items"][0]["metadata"]["resourceVersion"]);
}

TEST_F(WatchTest, TableIncludeObjectAndStatusPhaseSelector) {
  const std::string table = "application/json;as=Table;v=v1;g=meta.k8s.io";
  auto full = json::parse(handler_
                              .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                                          {{"includeObject", "Object"}}, table))
                              .body);
  ASSERT_EQ(full["rows"].size(), 2u);
  EXPECT_EQ(full["rows"][0]["object"]["kind"], "MLSpaceJob");
  EXPECT_EQ(full["rows"][0]["object"]["spec"]["image"], "img:1");
  auto none = json::parse(
      handler_
          .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"includeObject", "None"}}, table))
          .body);
  EXPECT_FALSE(none["rows"][0].contains("object"));
  auto meta =
      json::parse(handler_.Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs", {}, table)).body);
  EXPECT_EQ(meta["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(handler_
                .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                            {{"includeObject", "Everything"}}, table))
                .status,
            400);

  auto running = json::parse(handler_
                                 .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                                             {{"fieldSelector", "status.phase=Running"}}))
                                 .body);
  ASSERT_EQ(running["items"].size(), 1u);
  EXPECT_EQ(running["items"][0]["metadata"]["name"], "llama");
  auto not_running = json::parse(handler_
                                     .Handle(Req("/apis/mlspace.io/v1alpha1/mlspacejobs",
                                                 {{"fieldSelector", "status.phase!=Running"}}))
                                     .body);
  ASSERT_EQ(not_running["items"].size(), 1u);
  EXPECT_EQ(not_running["items"][0]["metadata"]["name"], "yolo");
}

TEST(TableTest, ReasonAndMessageComeFromThePhasesCondition) {
  auto r = Record("a", "x", api::Phase::kFailed);
  r.status.remote_job_name = "lj-1";
  r.status.conditions.push_back(
      api::Condition{api::kCondFailed, "True", "ExitCode", "exit code 127: not found", {}});
  ObjectVersion v;
  v.record = r;
  v.object = json{{"metadata", {{"name", "x"}}}, {"spec", {{"image", "img:2"}}}};
  auto row = TableRow(v, r.created_at + 90s, IncludeObject::kMetadata);
  const auto& cells = row["cells"];
  ASSERT_EQ(cells.size(), TableColumns().size());
  EXPECT_EQ(cells[2], "Failed");
  EXPECT_EQ(cells[3], "ExitCode");
  EXPECT_EQ(cells[4], 1);
  EXPECT_EQ(cells[5], "90s");
  EXPECT_EQ(cells[6], "lj-1");
  EXPECT_EQ(cells[7], "img:2");
  EXPECT_EQ(cells[8], "exit code 127: not found");
  // Stalled=True explains more than the phase does.
  r.status.conditions.push_back(
      api::Condition{api::kCondStalled, "True", "PruneRefused", "too many removals", {}});
  EXPECT_EQ(PhaseReason(r.status).first, "PruneRefused");
}

TEST(FieldSelectorTest, FormsAndErrors) {
  auto fs = FieldSelector::Parse("metadata.name==a, status.phase!=Failed", JobSelectorFields());
  ASSERT_TRUE(fs.ok());
  EXPECT_EQ(fs->Equal("metadata.name"), "a");
  auto r = Record("ns", "a", api::Phase::kRunning);
  auto lookup = [&](std::string_view f) { return JobField(r, f); };
  EXPECT_TRUE(fs->Matches(lookup));
  r.status.phase = api::Phase::kFailed;
  EXPECT_FALSE(fs->Matches(lookup));
  EXPECT_FALSE(FieldSelector::Parse("metadata.name", JobSelectorFields()).ok());
  auto by_ns = FieldSelector::Parse("metadata.namespace=ns", JobSelectorFields());
  ASSERT_TRUE(by_ns.ok());
  EXPECT_TRUE(by_ns->Matches(lookup));
  r.key.namespace_name = "other";
  EXPECT_FALSE(by_ns->Matches(lookup));
  auto bad = FieldSelector::Parse("spec.region=SR006", JobSelectorFields());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("spec.region"), std::string::npos);
}

TEST_F(WatchTest, CoreEventsAcrossNamespacesFilteredAndAsTable) {
  store::Event e;
  e.key = ObjectKey{"nlp", "llama"};
  e.time = clock_.Now();
  e.type = "Warning";
  e.reason = "Retried";
  e.message = "attempt 2";
  store::WriteBatch b = Upsert(Record("nlp", "llama", api::Phase::kRunning));
  b.events = {e};
  e.key = ObjectKey{"cv", "yolo"};
  e.type = "Normal";
  e.reason = "Submitted";
  b.events.push_back(e);
  // A removed object's events stay reachable.
  e.key = ObjectKey{"cv", "old"};
  e.reason = "Removed";
  b.upserts.push_back(Record("cv", "old", api::Phase::kRemoved));
  b.events.push_back(e);
  ASSERT_TRUE(observed_.Write(b).ok());

  auto all = json::parse(handler_.Handle(Req("/api/v1/events")).body);
  EXPECT_EQ(all["kind"], "EventList");
  EXPECT_EQ(all["items"].size(), 3u);
  auto cv = json::parse(handler_.Handle(Req("/api/v1/namespaces/cv/events")).body);
  EXPECT_EQ(cv["items"].size(), 2u);
  auto one = json::parse(
      handler_
          .Handle(Req("/api/v1/namespaces/nlp/events",
                      {{"fieldSelector",
                        "involvedObject.kind=MLSpaceJob,involvedObject.name=llama,type=Warning"}}))
          .body);
  ASSERT_EQ(one["items"].size(), 1u);
  EXPECT_EQ(one["items"][0]["reason"], "Retried");
  EXPECT_EQ(one["items"][0]["involvedObject"]["kind"], "MLSpaceJob");
  EXPECT_FALSE(one["items"][0]["involvedObject"]["uid"].get<std::string>().empty());
  auto other_kind = json::parse(
      handler_.Handle(Req("/api/v1/events", {{"fieldSelector", "involvedObject.kind=Pod"}})).body);
  EXPECT_TRUE(other_kind["items"].empty());
  auto by_name = handler_.Handle(Req("/api/v1/namespaces/nlp/events/" +
                                     one["items"][0]["metadata"]["name"].get<std::string>()));
  ASSERT_EQ(by_name.status, 200) << by_name.body;
  EXPECT_EQ(json::parse(by_name.body)["reason"], "Retried");
  EXPECT_EQ(handler_.Handle(Req("/api/v1/namespaces/nlp/events/nope.1")).status, 404);
  auto table = json::parse(
      handler_.Handle(Req("/api/v1/events", {}, "application/json;as=Table;v=v1;g=meta.k8s.io"))
          .body);
  EXPECT_EQ(table["kind"], "Table");
  ASSERT_EQ(table["rows"].size(), 3u);
  EXPECT_EQ(table["rows"][0]["cells"][3], "mlspacejob/old");
  EXPECT_EQ(handler_.Handle(Req("/api/v1/events", {{"fieldSelector", "count=2"}})).status, 400);
}

TEST_F(WatchTest, DiscoveryListsWatchAndTheCrdsCategories) {
  auto agg = json::parse(AggregatedDiscovery());
  const auto& res = agg["items"][0]["versions"][0]["resources"][0];
  EXPECT_NE(std::find(res["verbs"].begin(), res["verbs"].end(), "watch"), res["verbs"].end());
  auto crd = api::internal::YamlToJson(api::CrdYaml());
  ASSERT_TRUE(crd.ok());
  EXPECT_EQ(res["categories"], (*crd)["spec"]["names"]["categories"]);
  auto legacy = json::parse(ApiResourceList());
  EXPECT_EQ(legacy["resources"][0]["categories"], (*crd)["spec"]["names"]["categories"]);
  auto core = json::parse(handler_.Handle(Req("/api/v1")).body);
  ASSERT_EQ(core["resources"].size(), 1u) << core.dump();  // events only
  EXPECT_EQ(core["resources"][0]["name"], "events");
  EXPECT_EQ(handler_.Handle(Req("/api/v1/namespaces/nlp/pods")).status, 404);
  EXPECT_EQ(handler_.Handle(Req("/api/v1/pods")).status, 404);
  EXPECT_EQ(core["resources"][0]["verbs"], json::array({"get", "list", "watch"}));
  auto core_agg = json::parse(
      handler_
          .Handle(Req("/api", {},
                      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"))
          .body);
  EXPECT_EQ(core_agg["items"][0]["versions"][0]["resources"][0]["verbs"],
            json::array({"get", "list", "watch"}));
  EXPECT_EQ(json::parse(handler_.Handle(Req("/api")).body)["versions"][0], "v1");
}

TEST(OpenApiTest, RootAndGroupVersionAsKubectlReadsThem) {
  auto root = json::parse(OpenApiRoot());
  ASSERT_TRUE(root["paths"].contains("apis/mlspace.io/v1alpha1"));  // no leading slash
  auto doc = OpenApiGroupVersion();
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  auto gv = json::parse(**doc);
  const auto& schema = gv["components"]["schemas"]["io.mlspace.v1alpha1.MLSpaceJob"];
  ASSERT_TRUE(schema["x-kubernetes-group-version-kind"].is_array());
  EXPECT_EQ(schema["x-kubernetes-group-version-kind"][0]["kind"], "MLSpaceJob");
  // Nested fields for `kubectl explain mlspacejob.spec.runPolicy`.
  const auto& run_policy = schema["properties"]["spec"]["properties"]["runPolicy"];
  EXPECT_TRUE(run_policy["properties"].contains("backoffLimit"));
  EXPECT_FALSE(run_policy["description"].get<std::string>().empty());
  const auto& patch =
      gv["paths"]["/apis/mlspace.io/v1alpha1/namespaces/{namespace}/mlspacejobs/{name}"]["patch"];
  EXPECT_TRUE(patch["x-kubernetes-group-version-kind"].is_object());
  bool field_validation = false;
  for (const auto& p : patch["parameters"]) {
    field_validation = field_validation || (p["name"] == "fieldValidation" && p["in"] == "query");
  }
  EXPECT_TRUE(field_validation);
  EXPECT_TRUE(
      gv["components"]["schemas"].contains("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
}

TEST_F(WatchTest, OpenApiIsServed) {
  EXPECT_EQ(handler_.Handle(Req("/openapi/v3")).status, 200);
  auto gv = handler_.Handle(Req("/openapi/v3/apis/mlspace.io/v1alpha1", {{"hash", "x"}}));
  ASSERT_EQ(gv.status, 200);
  EXPECT_TRUE(
      json::parse(gv.body)["components"]["schemas"].contains("io.mlspace.v1alpha1.MLSpaceJob"));
  EXPECT_EQ(handler_.Handle(Req("/openapi/v2")).status, 404);
}

}  // namespace
}  // namespace mlspace::apiserver

namespace mlspace::apiserver {
namespace {

// The spliced Table text is exactly the JSON tree's dump, for every
// includeObject form.
TEST(TableTest, TableBodyEqualsTheTreeDump) {
  std::vector<VersionPtr> versions;
  for (auto phase : {api::Phase::kRunning, api::Phase::kPending}) {
    auto v = std::make_shared<ObjectVersion>();
    v->record = Record("ns", phase == api::Phase::kRunning ? "a\"quoted" : "b", phase);
    v->record.labels = {{"team", "x"}};
    v->object = RecordToObject(v->record);
    v->Encode();
    versions.push_back(v);
  }
  TimePoint now = versions[0]->record.created_at + 42s;
  for (auto inc : {IncludeObject::kNone, IncludeObject::kMetadata, IncludeObject::kObject}) {
    EXPECT_EQ(json::parse(TableBody(versions, 7, now, inc)),
              VersionsToTable(versions, 7, now, inc));
    EXPECT_EQ(TableBody(versions, 7, now, inc), VersionsToTable(versions, 7, now, inc).dump());
  }
  EXPECT_EQ(TableBody({}, 3, now, IncludeObject::kMetadata),
            VersionsToTable({}, 3, now, IncludeObject::kMetadata).dump());
}

}  // namespace
}  // namespace mlspace::apiserver

namespace mlspace::apiserver {
namespace {

// Kubernetes aggregates repeats of one (object, type, reason, message): the
// store keeps one row with a count, and the Event shows it.
TEST_F(WatchTest, RepeatedEventsAreOneEventWithCountAndFirstLastTime) {
  store::Event e;
  e.key = ObjectKey{"nlp", "llama"};
  e.type = "Warning";
  e.reason = "SubmitRetrying";
  e.message = "gateway unavailable";
  const std::string first = FormatRfc3339(clock_.Now());
  for (int i = 0; i < 3; ++i) {
    e.time = clock_.Now();
    store::WriteBatch b = Upsert(Record("nlp", "llama", api::Phase::kPending));
    b.events = {e};
    ASSERT_TRUE(observed_.Write(b).ok());
    clock_.Advance(std::chrono::seconds(10));
  }
  auto list = json::parse(handler_.Handle(Req("/api/v1/namespaces/nlp/events")).body);
  ASSERT_EQ(list["items"].size(), 1u) << list.dump();
  const auto& ev = list["items"][0];
  EXPECT_EQ(ev["count"], 3);
  EXPECT_EQ(ev["firstTimestamp"], first);
  EXPECT_NE(ev["lastTimestamp"], ev["firstTimestamp"]);
}

store::WriteBatch EventBatch(std::string ns, std::string name, std::string reason, TimePoint time) {
  store::Event e;
  e.key = ObjectKey{std::move(ns), std::move(name)};
  e.type = "Warning";
  e.reason = std::move(reason);
  e.message = "gateway unavailable";
  e.time = time;
  store::WriteBatch b;
  b.events = {e};
  return b;
}

TEST(ChangeLogTest, EventsAreAddedThenModifiedAsTheirCountGrows) {
  testing::FakeStateStore store;
  ChangeLog log(16);
  ObservingStore observed(store, log);
  ASSERT_TRUE(observed.Write(Upsert(Record("a", "x", api::Phase::kPending))).ok());
  int64_t start = log.CurrentEventVersion();
  TimePoint t(std::chrono::seconds(1'700'000'000));
  ASSERT_TRUE(observed.Write(EventBatch("a", "x", "SubmitRetrying", t)).ok());
  ASSERT_TRUE(observed.Write(EventBatch("a", "x", "SubmitRetrying", t + 5s)).ok());
  ASSERT_TRUE(observed.Write(EventBatch("a", "x", "Other", t + 6s)).ok());
  EXPECT_EQ(log.CurrentVersion(), 1);  // events do not move the objects' sequence
  std::vector<EventChange> changes;
  ASSERT_EQ(log.WaitForEvents(start, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kChanges);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].type, ChangeType::kAdded);
  EXPECT_EQ((*changes[0].event)["count"], 1);
  EXPECT_EQ(changes[1].type, ChangeType::kModified);
  EXPECT_EQ((*changes[1].event)["count"], 2);
  // The aggregated event keeps its name; only its version moves.
  EXPECT_EQ((*changes[1].event)["metadata"]["name"], (*changes[0].event)["metadata"]["name"]);
  EXPECT_EQ((*changes[1].event)["metadata"]["resourceVersion"],
            std::to_string(changes[1].resource_version));
  EXPECT_EQ((*changes[1].event)["involvedObject"]["uid"],
            ObjectUid(store.Get(ObjectKey{"a", "x"})->value()));
  EXPECT_EQ(changes[2].type, ChangeType::kAdded);
  EXPECT_EQ((*changes[2].event)["reason"], "Other");
  EXPECT_LT(changes[0].resource_version, changes[1].resource_version);
  // A failed write publishes no event.
  store.FailNextWrite(UnavailableError("disk full"));
  EXPECT_FALSE(observed.Write(EventBatch("a", "x", "Lost", t + 7s)).ok());
  EXPECT_EQ(log.CurrentEventVersion(), changes[2].resource_version);
}

TEST(ChangeLogTest, EventHistoryIsBounded) {
  testing::FakeStateStore store;
  ChangeLog log(2);
  ObservingStore observed(store, log);
  int64_t start = log.CurrentEventVersion();
  TimePoint t(std::chrono::seconds(1'700'000'000));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(observed.Write(EventBatch("a", "x", "R" + std::to_string(i), t)).ok());
  }
  std::vector<EventChange> changes;
  EXPECT_EQ(log.WaitForEvents(start, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kGone);
  EXPECT_EQ(log.WaitForEvents(start + 2, std::chrono::steady_clock::now(), &changes),
            ChangeLog::WaitResult::kChanges);
  EXPECT_EQ(changes.size(), 2u);
}

TEST_F(WatchTest, EventsWatchFromTheListsVersionSeesNewAndRepeatedEvents) {
  ASSERT_TRUE(observed_.Write(EventBatch("nlp", "llama", "Old", clock_.Now())).ok());
  auto list = json::parse(handler_.Handle(Req("/api/v1/events")).body);
  ASSERT_EQ(list["items"].size(), 1u);
  std::string rv = list["metadata"]["resourceVersion"];
  EXPECT_EQ(rv, std::to_string(log_.CurrentEventVersion()));
  auto w = StartWatch(
      Req("/api/v1/namespaces/nlp/events", {{"watch", "true"}, {"resourceVersion", rv}}));
  ASSERT_TRUE(observed_.Write(EventBatch("cv", "yolo", "Elsewhere", clock_.Now())).ok());
  ASSERT_TRUE(observed_.Write(EventBatch("nlp", "llama", "SubmitRetrying", clock_.Now())).ok());
  ASSERT_TRUE(observed_.Write(EventBatch("nlp", "llama", "SubmitRetrying", clock_.Now())).ok());
  auto got = w->stream->WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["type"], "ADDED");
  EXPECT_EQ(got[0]["object"]["kind"], "Event");
  EXPECT_EQ(got[0]["object"]["reason"], "SubmitRetrying");
  EXPECT_EQ(got[1]["type"], "MODIFIED");
  EXPECT_EQ(got[1]["object"]["count"], 2);
  // Nothing else arrives (cv's event is another namespace; Old predates rv).
  EXPECT_EQ(w->stream->WaitFor(3, 200ms).size(), 2u);
}

TEST_F(WatchTest, EventsWatchFromZeroTableGoneAndBookmark) {
  ASSERT_TRUE(observed_.Write(EventBatch("nlp", "llama", "Old", clock_.Now())).ok());
  {
    auto w = StartWatch(
        Req("/api/v1/events", {{"watch", "true"}}, "application/json;as=Table;v=v1;g=meta.k8s.io"));
    auto got = w->stream->WaitFor(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0]["type"], "ADDED");
    EXPECT_EQ(got[0]["object"]["kind"], "Table");
    EXPECT_EQ(got[0]["object"]["rows"][0]["cells"][2], "Old");
  }
  int64_t start = log_.CurrentEventVersion();
  for (int i = 0; i < 10; ++i) {  // the log keeps 8
    ASSERT_TRUE(
        observed_.Write(EventBatch("nlp", "llama", "R" + std::to_string(i), clock_.Now())).ok());
  }
  for (int64_t rv : {start, log_.CurrentEventVersion() + 1}) {
    auto w = StartWatch(
        Req("/api/v1/events", {{"watch", "true"}, {"resourceVersion", std::to_string(rv)}}));
    auto got = w->stream->WaitFor(1);
    ASSERT_EQ(got.size(), 1u) << rv;
    EXPECT_EQ(got[0]["type"], "ERROR");
    EXPECT_EQ(got[0]["object"]["code"], 410);
    w->thread.join();
  }
  auto w = StartWatch(
      Req("/api/v1/events", {{"watch", "true"},
                             {"resourceVersion", std::to_string(log_.CurrentEventVersion())},
                             {"allowWatchBookmarks", "true"},
                             {"timeoutSeconds", "1"}}));
  w->thread.join();
  auto got = w->stream->WaitFor(1, 0ms);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got[0]["type"], "BOOKMARK");
  EXPECT_EQ(got[0]["object"]["kind"], "Event");
  EXPECT_EQ(got[0]["object"]["metadata"]["resourceVersion"],
            std::to_string(log_.CurrentEventVersion()));
}

}  // namespace
}  // namespace mlspace::apiserver
