// The MLSpaceSource resource through ApiHandler (routing, discovery, JSON,
// Table, read-only) and over a real loopback socket through ApiServer.

#include "controller/apiserver/source_resource.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "controller/apiserver/server.h"
#include "controller/core/redact.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_state_store.h"

namespace mlspace::apiserver {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kSources[] = "/apis/mlspace.io/v1alpha1/mlspacesources";
constexpr char kTableAccept[] =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s."
    "io,application/json";

class SourceResourceTest : public ::testing::Test {
 protected:
  SourceResourceTest() {
    auto s = std::make_shared<api::SourceStatus>();
    s->name = "default";
    s->url = "https://***@git.example.com/ml/jobs.git";
    s->ref = "main";
    s->remote = true;
    s->created = clock_.Now() - 5min;
    s->version = 7;
    s->revision = "0123456789abcdef0123456789abcdef01234567";
    s->last_sync = clock_.Now() - 10s;
    s->last_attempt = clock_.Now() - 10s;
    s->last_fetch = clock_.Now() - 10s;
    s->ready = true;
    s->reason = "Synced";
    s->message = "revision 0123456789ab: 2 valid, 1 invalid, 1 ignored";
    s->ready_transition = clock_.Now() - 4min;
    s->valid = 2;
    s->invalid = 1;
    s->ignored = 1;
    s->files = 4;
    s->invalid_files = {
        {"broken.yaml", "ParseError", "broken.yaml:11:9: end of sequence not found"}};
    s->invalid_files_total = 1;
    status_ = s;
  }

  ApiResponse Get(const std::string& path, const std::string& accept = "application/json",
                  const std::string& method = "GET") {
    ApiRequest r;
    r.method = method;
    r.path = path;
    auto q = path.find('?');
    if (q != std::string::npos) {
      std::string query = path.substr(q + 1);
      r.path = path.substr(0, q);
      auto eq = query.find('=');
      r.query.emplace(query.substr(0, eq), query.substr(eq + 1));
    }
    r.headers["accept"] = accept;
    return handler_.Handle(r);
  }

  testing::FakeClock clock_;
  testing::FakeStateStore store_;
  std::shared_ptr<const api::SourceStatus> status_;
  ApiHandler handler_{store_, clock_, ControllerHooks{{}, {}, {}, [this] { return status_; }},
                      HandlerOptions{}};
};

TEST_F(SourceResourceTest, GetIsAClusterScopedObjectWithTheFullStatus) {
  ApiResponse r = Get(std::string(kSources) + "/default");
  ASSERT_EQ(r.status, 200) << r.body;
  json o = json::parse(r.body);
  EXPECT_EQ(o["apiVersion"], "mlspace.io/v1alpha1");
  EXPECT_EQ(o["kind"], "MLSpaceSource");
  EXPECT_EQ(o["metadata"]["name"], "default");
  EXPECT_FALSE(o["metadata"].contains("namespace"));
  EXPECT_EQ(o["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(o["spec"]["url"], "https://***@git.example.com/ml/jobs.git");
  EXPECT_EQ(o["spec"]["ref"], "main");
  const json& st = o["status"];
  EXPECT_EQ(st["revision"], "0123456789abcdef0123456789abcdef01234567");
  EXPECT_TRUE(st["lastSyncTime"].is_string());
  EXPECT_TRUE(st["lastFetchTime"].is_string());
  EXPECT_FALSE(st.contains("lastFetchError"));
  EXPECT_EQ(st["conditions"][0]["type"], "Ready");
  EXPECT_EQ(st["conditions"][0]["status"], "True");
  EXPECT_EQ(st["conditions"][0]["reason"], "Synced");
  EXPECT_EQ(st["manifests"], (json{{"files", 4}, {"valid", 2}, {"invalid", 1}, {"ignored", 1}}));
  ASSERT_EQ(st["invalidFiles"].size(), 1u);
  EXPECT_EQ(st["invalidFiles"][0]["path"], "broken.yaml");
  EXPECT_EQ(st["invalidFiles"][0]["message"], "broken.yaml:11:9: end of sequence not found");
}

TEST_F(SourceResourceTest, ListAndTableHaveTheDocumentedColumns) {
  json list = json::parse(Get(kSources).body);
  EXPECT_EQ(list["kind"], "MLSpaceSourceList");
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "default");

  json t = json::parse(Get(kSources, kTableAccept).body);
  EXPECT_EQ(t["kind"], "Table");
  std::vector<std::string> names;
  for (const auto& c : t["columnDefinitions"]) names.push_back(c["name"]);
  EXPECT_EQ(names,
            (std::vector<std::string>{"Name", "Source", "Revision", "Ready", "Message", "Age"}));
  ASSERT_EQ(t["rows"].size(), 1u);
  EXPECT_EQ(t["rows"][0]["cells"],
            (json::array({"default", "https://***@git.example.com/ml/jobs.git@main", "0123456789ab",
                          "True", "revision 0123456789ab: 2 valid, 1 invalid, 1 ignored", "5m"})));
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["name"], "default");

  // kubectl get msrc NAME may list with a field selector.
  json by_field =
      json::parse(Get(std::string(kSources) + "?fieldSelector=metadata.name=other").body);
  EXPECT_TRUE(by_field["items"].empty());
}

TEST_F(SourceResourceTest, UnknownNameNamespacedPathAndWritesAreRefused) {
  ApiResponse missing = Get(std::string(kSources) + "/other");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["message"], "mlspacesources.mlspace.io \"other\" not found");
  EXPECT_EQ(Get("/apis/mlspace.io/v1alpha1/namespaces/default/mlspacesources").status, 404);
  EXPECT_EQ(Get(std::string(kSources) + "/default", "application/json", "DELETE").status, 405);
  EXPECT_EQ(Get(std::string(kSources) + "/default", "application/json", "PATCH").status, 405);
  status_ = nullptr;  // a controller without a source status
  EXPECT_TRUE(json::parse(Get(kSources).body)["items"].empty());
  EXPECT_EQ(Get(std::string(kSources) + "/default").status, 404);
}

TEST_F(SourceResourceTest, DiscoveryListsItAsClusterScoped) {
  ApiResponse agg =
      Get("/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  json doc = json::parse(agg.body);
  bool found = false;
  for (const auto& r : doc["items"][0]["versions"][0]["resources"]) {
    if (r["resource"] == "mlspacesources") {
      found = true;
      EXPECT_EQ(r["scope"], "Cluster");
      EXPECT_EQ(r["responseKind"]["kind"], "MLSpaceSource");
      EXPECT_EQ(r["shortNames"], json::array({"msrc"}));
      EXPECT_EQ(r["singularResource"], "mlspacesource");
    }
  }
  EXPECT_TRUE(found) << agg.body;
  json legacy = json::parse(Get("/apis/mlspace.io/v1alpha1").body);
  found = false;
  for (const auto& r : legacy["resources"]) {
    if (r["name"] == "mlspacesources") {
      found = true;
      EXPECT_EQ(r["namespaced"], false);
      EXPECT_EQ(r["kind"], "MLSpaceSource");
    }
  }
  EXPECT_TRUE(found) << legacy.dump();
}

TEST_F(SourceResourceTest, ErrorsAreRedacted) {
  SecretRegistry::Get().Add("s3cr3t-token-value");
  auto s = std::make_shared<api::SourceStatus>(*status_);
  s->ready = false;
  s->reason = "FetchFailed";
  s->last_fetch_error = "auth failed with s3cr3t-token-value";
  s->message = "fetch failed: auth failed with s3cr3t-token-value";
  status_ = s;
  ApiResponse r = Get(std::string(kSources) + "/default");
  EXPECT_EQ(r.body.find("s3cr3t-token-value"), std::string::npos) << r.body;
  json o = json::parse(r.body);
  EXPECT_EQ(o["status"]["conditions"][0]["status"], "False");
  EXPECT_TRUE(o["status"].contains("lastFetchError"));
}

TEST_F(SourceResourceTest, ServedOverLoopback) {
  auto server = ApiServer::Start(handler_, ServerOptions{HostPort{"127.0.0.1", 0}, 2, ""});
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  Poco::Net::HTTPClientSession session("127.0.0.1", (*server)->port());
  Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, std::string(kSources) + "/default",
                             Poco::Net::HTTPMessage::HTTP_1_1);
  session.sendRequest(req);
  Poco::Net::HTTPResponse resp;
  std::string body;
  Poco::StreamCopier::copyToString(session.receiveResponse(resp), body);
  EXPECT_EQ(resp.getStatus(), 200);
  json o = json::parse(body);
  EXPECT_EQ(o["kind"], "MLSpaceSource");
  EXPECT_EQ(o["status"]["invalidFiles"][0]["path"], "broken.yaml");
  (*server)->Stop();
}

}  // namespace
}  // namespace mlspace::apiserver
