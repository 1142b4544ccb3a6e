#include "controller/apiserver/handler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "controller/apiserver/object_codec.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;

store::ObjectRecord Record(std::string ns, std::string name, api::Phase phase,
                           std::map<std::string, std::string> labels = {}) {
  store::ObjectRecord r;
  r.key = ObjectKey{std::move(ns), std::move(name)};
  r.spec_hash = "abcdef0123";
  r.generation = 2;
  r.spec_json = R"({"region":"SR006","image":"img","instanceType":"a100.1gpu"})";
  r.labels = std::move(labels);
  r.region = "SR006";
  r.status.phase = phase;
  r.status.attempt = 1;
  r.status.remote_job_name = phase == api::Phase::kPending ? "" : "lj-42";
  r.created_at = TimePoint(std::chrono::seconds(1'700'000'000 - 300));
  return r;
}

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::WriteBatch b;
    b.upserts = {Record("nlp", "llama", api::Phase::kRunning, {{"team", "nlp"}}),
                 Record("nlp", "bert", api::Phase::kSucceeded, {{"team", "nlp"}, {"size", "s"}}),
                 Record("cv", "yolo", api::Phase::kPending, {{"team", "cv"}})};
    store::Event e;
    e.key = ObjectKey{"nlp", "llama"};
    e.time = clock_.Now();
    e.reason = "Submitted";
    e.message = "submitted remote job lj-42";
    b.events = {e};
    ASSERT_TRUE(store_.Write(b).ok());
  }

  ApiResponse Get(const std::string& path, std::multimap<std::string, std::string> query = {},
                  std::string accept = "application/json", const ApiHandler* h = nullptr) {
    ApiRequest req;
    req.method = "GET";
    req.path = path;
    req.query = std::move(query);
    req.headers["accept"] = std::move(accept);
    return (h ? *h : handler_).Handle(req);
  }

  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  std::atomic<int> reconciles_{0};
  ApiHandler handler_{store_, clock_,
                      ControllerHooks{nullptr,
                                      [](std::string* why) {
                                        *why = "source not synced yet";
                                        return false;
                                      },
                                      [this] { ++reconciles_; }},
                      HandlerOptions{}};
};

TEST_F(HandlerTest, GetObjectIsKubernetesShaped) {
  auto r = Get("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/llama");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["apiVersion"], "mlspace.io/v1alpha1");
  EXPECT_EQ(j["kind"], "MLSpaceJob");
  EXPECT_EQ(j["metadata"]["name"], "llama");
  EXPECT_EQ(j["metadata"]["namespace"], "nlp");
  EXPECT_EQ(j["metadata"]["generation"], 2);
  EXPECT_FALSE(j["metadata"]["resourceVersion"].get<std::string>().empty());
  EXPECT_EQ(j["metadata"]["labels"]["team"], "nlp");
  EXPECT_EQ(j["spec"]["region"], "SR006");
  EXPECT_EQ(j["status"]["phase"], "Running");
  EXPECT_EQ(j["status"]["remoteJobName"], "lj-42");
  EXPECT_EQ(j["metadata"]["uid"].get<std::string>().size(), 36u);
  // The status subresource answers the same object.
  auto s = Get("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/llama/status");
  EXPECT_EQ(json::parse(s.body)["status"]["phase"], "Running");
}

TEST_F(HandlerTest, MissingObjectIsMetaV1NotFound) {
  auto r = Get("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/nope");
  EXPECT_EQ(r.status, 404);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["kind"], "Status");
  EXPECT_EQ(j["reason"], "NotFound");
  EXPECT_EQ(j["message"], "mlspacejobs.mlspace.io \"nope\" not found");
}

TEST_F(HandlerTest, ListsPerNamespaceAndAcrossWithSelectors) {
  auto ns = json::parse(Get("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs").body);
  EXPECT_EQ(ns["kind"], "MLSpaceJobList");
  EXPECT_EQ(ns["items"].size(), 2u);
  auto all = json::parse(Get("/apis/mlspace.io/v1alpha1/mlspacejobs").body);
  EXPECT_EQ(all["items"].size(), 3u);
  auto sel = json::parse(
      Get("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"labelSelector", "team=nlp,size!=s"}}).body);
  ASSERT_EQ(sel["items"].size(), 1u);
  EXPECT_EQ(sel["items"][0]["metadata"]["name"], "llama");
  auto by_name = json::parse(Get("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs",
                                 {{"fieldSelector", "metadata.name=bert"}})
                                 .body);
  ASSERT_EQ(by_name["items"].size(), 1u);
  EXPECT_EQ(by_name["items"][0]["metadata"]["name"], "bert");
  auto in_cv = json::parse(
      Get("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"fieldSelector", "metadata.namespace=cv"}})
          .body);
  ASSERT_EQ(in_cv["items"].size(), 1u);
  EXPECT_EQ(in_cv["items"][0]["metadata"]["name"], "yolo");
  auto bad = Get("/apis/mlspace.io/v1alpha1/mlspacejobs", {{"fieldSelector", "spec.x=1"}});
  EXPECT_EQ(bad.status, 400);
}

TEST_F(HandlerTest, TableHasPrinterColumnsAndPrintedAge) {
  auto r = Get("/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs", {},
               "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
  auto j = json::parse(r.body);
  ASSERT_EQ(j["kind"], "Table");
  std::vector<std::string> names;
  for (const auto& c : j["columnDefinitions"]) names.push_back(c["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"Name", "Region", "Phase", "Reason", "Attempts", "Age",
                                             "Remote Job", "Image", "Message"}));
  // REMOTE JOB, IMAGE and MESSAGE only with -o wide (priority > 0).
  for (const auto& c : j["columnDefinitions"]) {
    bool wide = c["name"] == "Remote Job" || c["name"] == "Image" || c["name"] == "Message";
    EXPECT_EQ(c.value("priority", 0), wide ? 1 : 0) << c.dump();
  }
  ASSERT_EQ(j["rows"].size(), 2u);
  const auto& cells = j["rows"][1]["cells"];  // llama sorts after bert
  EXPECT_EQ(cells[0], "llama");
  EXPECT_EQ(cells[2], "Running");
  EXPECT_EQ(cells[5], "5m");
  EXPECT_EQ(j["rows"][1]["object"]["metadata"]["namespace"], "nlp");
}

TEST_F(HandlerTest, DiscoveryAggregatedAndLegacy) {
  auto agg =
      Get("/apis", {}, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  EXPECT_EQ(agg.content_type,
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  auto j = json::parse(agg.body);
  const auto& res = j["items"][0]["versions"][0]["resources"][0];
  EXPECT_EQ(res["resource"], "mlspacejobs");
  EXPECT_EQ(res["scope"], "Namespaced");
  EXPECT_EQ(res["responseKind"]["kind"], "MLSpaceJob");
  auto legacy = json::parse(Get("/apis").body);
  EXPECT_EQ(legacy["kind"], "APIGroupList");
  auto rl = json::parse(Get("/apis/mlspace.io/v1alpha1").body);
  EXPECT_EQ(rl["resources"][0]["shortNames"][0], "msj");
  // The log subresource (logs.cc) is discoverable with verb get, both ways.
  const json* subresource_log = nullptr;
  for (const auto& s : res["subresources"]) {
    if (s["subresource"] == "log") subresource_log = &s;
  }
  ASSERT_NE(subresource_log, nullptr);
  EXPECT_EQ((*subresource_log)["verbs"], json::array({"get"}));
  const json* legacy_log = nullptr;
  for (const auto& r : rl["resources"]) {
    if (r["name"] == "mlspacejobs/log") legacy_log = &r;
  }
  ASSERT_NE(legacy_log, nullptr);
  EXPECT_EQ((*legacy_log)["verbs"], json::array({"get"}));
  EXPECT_EQ((*legacy_log)["kind"], "MLSpaceJob");
  // The core group lists events, never an empty v1 (kubectl would refetch
  // discovery on every command).
  auto core =
      Get("/api", {}, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  ASSERT_EQ(core.status, 200);
  EXPECT_EQ(json::parse(core.body)["items"][0]["versions"][0]["resources"][0]["resource"],
            "events");
}

TEST_F(HandlerTest, ProbesAndReconcileWebhook) {
  EXPECT_EQ(Get("/healthz").status, 200);
  auto ready = Get("/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "not ready: source not synced yet");
  ApiRequest post;
  post.method = "POST";
  post.path = "/reconcile";
  EXPECT_EQ(handler_.Handle(post).status, 202);
  EXPECT_EQ(reconciles_.load(), 1);
  post.method = "GET";
  EXPECT_EQ(handler_.Handle(post).status, 405);
  EXPECT_EQ(reconciles_.load(), 1);
}

// With the readyz hook, /readyz is the controller's probe report (so a
// failing "gateway" check shows on the API port too), ?verbose listing it.
TEST_F(HandlerTest, ReadyzHookServesTheProbeReportWithVerbose) {
  std::vector<bool> asked;
  ControllerHooks hooks;
  hooks.ready = [](std::string*) { return true; };
  ApiHandler h(store_, clock_, hooks, HandlerOptions{"", "v"});
  h.SetReadyReport([&asked](bool verbose) {
    asked.push_back(verbose);
    return std::make_pair(false, std::string("[+]controller ok\n[-]gateway failed: 401\n"
                                             "readyz check failed\n"));
  });
  auto r = Get("/readyz", {}, "application/json", &h);
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("[-]gateway failed: 401"), std::string::npos) << r.body;
  r = Get("/readyz", {{"verbose", ""}}, "application/json", &h);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(asked, (std::vector<bool>{false, true}));
}

TEST_F(HandlerTest, WritesAreRefusedUntilSupported) {
  ApiRequest req;
  req.method = "DELETE";
  req.path = "/apis/mlspace.io/v1alpha1/namespaces/nlp/mlspacejobs/llama";
  auto r = handler_.Handle(req);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(json::parse(r.body)["reason"], "MethodNotAllowed");
}

TEST_F(HandlerTest, EventsForDescribe) {
  auto r = Get("/api/v1/namespaces/nlp/events",
               {{"fieldSelector",
                 "involvedObject.name=llama,involvedObject.namespace=nlp,"
                 "involvedObject.kind=MLSpaceJob"}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_EQ(j["items"].size(), 1u);
  EXPECT_EQ(j["items"][0]["reason"], "Submitted");
  EXPECT_EQ(j["items"][0]["involvedObject"]["name"], "llama");
}

TEST_F(HandlerTest, TokenRequiredWhenConfigured) {
  ApiHandler secured(store_, clock_, ControllerHooks{}, HandlerOptions{"t0ken-123", "v"});
  auto r = Get("/apis/mlspace.io/v1alpha1/mlspacejobs", {}, "application/json", &secured);
  EXPECT_EQ(r.status, 401);
  ApiRequest req;
  req.method = "GET";
  req.path = "/apis/mlspace.io/v1alpha1/mlspacejobs";
  req.headers["authorization"] = "Bearer t0ken-123";
  EXPECT_EQ(secured.Handle(req).status, 200);
  req.headers["authorization"] = "Bearer t0ken-124";
  EXPECT_EQ(secured.Handle(req).status, 401);
  EXPECT_EQ(Get("/healthz", {}, "", &secured).status, 200);  // probes stay open
}

TEST(LabelSelectorTest, Forms) {
  auto s = LabelSelector::Parse("a=1,b==2,c!=3,d,!e");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->Matches({{"a", "1"}, {"b", "2"}, {"d", ""}}));
  EXPECT_FALSE(s->Matches({{"a", "1"}, {"b", "2"}, {"d", ""}, {"e", "x"}}));
  EXPECT_FALSE(s->Matches({{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", ""}}));
  EXPECT_FALSE(s->Matches({{"a", "1"}, {"b", "2"}}));
  EXPECT_FALSE(LabelSelector::Parse("env in (a,b)").ok());
}

// The uid comes from what the store keeps (key and creation time): the
// same after a restart, new for an object removed and created again.
TEST(ObjectCodecTest, UidIsStableAcrossReadsAndNewForARecreatedObject) {
  auto r = Record("nlp", "llama", api::Phase::kRunning);
  std::string uid = ObjectUid(r);
  auto later = r;
  later.status.phase = api::Phase::kSucceeded;
  later.resource_version = 99;
  later.generation = 3;
  EXPECT_EQ(ObjectUid(later), uid);
  EXPECT_EQ(RecordToObject(later)["metadata"]["uid"], uid);
  auto recreated = r;
  recreated.created_at += std::chrono::seconds(1);
  EXPECT_NE(ObjectUid(recreated), uid);
  EXPECT_NE(ObjectUid(Record("cv", "llama", api::Phase::kRunning)), uid);
}

TEST(ObjectCodecTest, AgeFormatLikeKubectl) {
  using std::chrono::hours;
  using std::chrono::minutes;
  using std::chrono::seconds;
  EXPECT_EQ(FormatAge(seconds(42)), "42s");
  EXPECT_EQ(FormatAge(minutes(5)), "5m");
  EXPECT_EQ(FormatAge(minutes(5) + seconds(3)), "5m3s");
  EXPECT_EQ(FormatAge(minutes(75)), "75m");
  EXPECT_EQ(FormatAge(hours(3) + minutes(12)), "3h12m");
  EXPECT_EQ(FormatAge(hours(30)), "30h");
  EXPECT_EQ(FormatAge(hours(52)), "2d4h");
  EXPECT_EQ(FormatAge(hours(24 * 400)), "400d");
}

}  // namespace
}  // namespace mlspace::apiserver
