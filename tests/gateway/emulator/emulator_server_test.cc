#include "controller/gateway/local/emulator_server.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "controller/gateway/gateway_json.h"
#include "controller/gateway/local/sim_gateway.h"
#include "tests/fakes/fake_clock.h"
#include "tests/gateway/emulator/emulator_test_util.h"

namespace mlspace::gateway::emulator {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::Answer;
using testing::Call;
using testing::Headers;

const char kJobs[] = "/public/v2/jobs";

class EmulatorServerTest : public ::testing::Test {
 protected:
  void Start(EmulatorOptions opts = {}) {
    SimGatewayOptions so;
    so.pending_duration = seconds(10);
    so.run_duration = seconds(20);
    sim_ = std::make_unique<SimulatedGateway>(so, clock_);
    if (opts.api_key.empty()) opts.api_key = "key-123";
    if (opts.client_id.empty()) {
      opts.client_id = "sa-id";
      opts.client_secret = "sa-secret-xyz";
    }
    opts_ = opts;
    server_ = std::make_unique<EmulatorServer>(opts, *sim_, clock_);
    const Status s = server_->Start();
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  Headers Auth() const { return {{"x-api-key", opts_.api_key}, {"x-workspace-id", "ws-1"}}; }

  Answer Api(const std::string& method, const std::string& target, const std::string& body = "") {
    return Call(server_->port(), method, target, body, Auth());
  }

  static std::string JobBody(const std::string& extra = "") {
    return R"({"script":"/home/jovyan/run.sh","base_image":"cr.ai.cloud.ru/aicloud-base-images/x:1",)"
           R"("instance_type":"a100.2gpu","region":"SR006")" +
           extra + "}";
  }

  std::string SubmitOk(const std::string& extra = "") {
    const Answer a = Api("POST", kJobs, JobBody(extra));
    EXPECT_EQ(a.status, 200) << a.body;
    return a.Json().value("job_name", "");
  }

  std::vector<std::string> ListNames(const std::string& query = "region=SR006") {
    const Answer a = Api("GET", std::string(kJobs) + "?" + query);
    EXPECT_EQ(a.status, 200) << a.body;
    std::vector<std::string> names;
    const json body = a.Json();
    for (const auto& j : body["jobs"]) names.push_back(j["job_name"]);
    return names;
  }

  mlspace::testing::FakeClock clock_;
  std::unique_ptr<SimulatedGateway> sim_;
  std::unique_ptr<EmulatorServer> server_;
  EmulatorOptions opts_;
};

TEST_F(EmulatorServerTest, AuthIsRequiredWithTheServiceErrorShapes) {
  Start();
  const uint16_t port = server_->port();
  const std::string list = std::string(kJobs) + "?region=SR006";
  Answer a = Call(port, "GET", list, "", {{"x-workspace-id", "ws-1"}});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.Json(), json({{"error_code", 19},
                            {"error_message", "no authorization header, it is required"}}));
  a = Call(port, "GET", list, "", {{"x-workspace-id", "ws-1"}, {"x-api-key", "wrong"}});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.Json()["error_code"], 10);
  a = Call(port, "GET", list, "", {{"x-workspace-id", "ws-1"}, {"authorization", "Bearer forged"}});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.Json()["error_code"], 21);
  a = Call(port, "GET", list, "", {{"x-api-key", "key-123"}});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.Json()["error_code"], 2);
  // Only ping answers without credentials.
  EXPECT_EQ(Call(port, "GET", "/ping").status, 200);
  EXPECT_EQ(Call(port, "GET", "/public/v2/ping").status, 200);
  EXPECT_EQ(Api("GET", list).status, 200);
}

TEST_F(EmulatorServerTest, MetricsExposeItsOwnCountersWithoutCredentials) {
  Start();
  SubmitOk();
  SubmitOk();
  EXPECT_EQ(Call(server_->port(), "GET", std::string(kJobs) + "?region=SR006").status, 401);
  const Answer m = Call(server_->port(), "GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("# TYPE mlspace_emulator_requests_total counter"), std::string::npos);
  EXPECT_NE(m.body.find("mlspace_emulator_jobs_created_total 2\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("mlspace_emulator_requests_total{code=\"401\"} 1\n"), std::string::npos)
      << m.body;
}

TEST_F(EmulatorServerTest, ServiceAuthIssuesTokensThatExpire) {
  EmulatorOptions o;
  o.token_ttl = seconds(60);
  Start(o);
  const uint16_t port = server_->port();
  Answer bad = Call(port, "POST", "/public/v2/service_auth",
                    R"({"client_id":"sa-id","client_secret":"nope"})");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.Json(), json({{"error_code", 1}, {"error_message", "invalid user credentials"}}));
  Answer missing = Call(port, "POST", "/public/v2/service_auth", R"({"client_id":"sa-id"})");
  EXPECT_EQ(missing.status, 422);
  EXPECT_EQ(missing.Json()["detail"][0]["loc"], json({"body", "client_secret"}));
  Answer ok = Call(port, "POST", "/public/v2/service_auth",
                   R"({"client_id":"sa-id","client_secret":"sa-secret-xyz"})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  const json tok = ok.Json()["token"];
  EXPECT_EQ(tok["expires_in"], 60);
  EXPECT_EQ(tok["token_type"], "Bearer");
  const Headers h{{"authorization", "Bearer " + tok["access_token"].get<std::string>()},
                  {"x-workspace-id", "ws-1"}};
  EXPECT_EQ(Call(port, "GET", std::string(kJobs) + "?region=SR006", "", h).status, 200);
  clock_.Advance(seconds(61));
  Answer expired = Call(port, "GET", std::string(kJobs) + "?region=SR006", "", h);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(expired.Json()["error_code"], 20);
}

TEST_F(EmulatorServerTest, WorkspaceMustMatchWhenConfigured) {
  EmulatorOptions o;
  o.workspace_id = "ws-right";
  Start(o);
  Answer a = Call(server_->port(), "GET", std::string(kJobs), "",
                  {{"x-api-key", "key-123"}, {"x-workspace-id", "ws-wrong"}});
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.Json()["error_code"], 2);
  a = Call(server_->port(), "GET", std::string(kJobs), "",
           {{"x-api-key", "key-123"}, {"x-workspace-id", "ws-right"}});
  EXPECT_EQ(a.status, 200);
}

TEST_F(EmulatorServerTest, BodiesAreValidatedAgainstTheOpenApiSchema) {
  Start();
  Answer a = Api("POST", kJobs, JobBody(R"(,"bogus_key":1)"));
  ASSERT_EQ(a.status, 422) << a.body;
  json d = a.Json()["detail"];
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["loc"], json({"body", "bogus_key"}));
  EXPECT_EQ(d[0]["type"], "value_error.extra");

  a = Api("POST", kJobs, JobBody(R"(,"n_workers":0)"));
  ASSERT_EQ(a.status, 422);
  d = a.Json()["detail"];
  EXPECT_EQ(d[0]["loc"], json({"body", "n_workers"}));
  EXPECT_EQ(d[0]["msg"], "ensure this value is greater than 0");

  a = Api("POST", kJobs, R"({"base_image":"x","instance_type":"y"})");
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json({"body", "script"}));
  EXPECT_EQ(a.Json()["detail"][0]["msg"], "field required");

  a = Api("POST", kJobs, JobBody(R"(,"health_params":{"log_period":30,"extra":true})"));
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json({"body", "health_params", "extra"}));

  a = Api("POST", kJobs, JobBody(R"(,"type":"quantum")"));
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json({"body", "type"}));
  EXPECT_EQ(a.Json()["detail"][0]["type"], "type_error.enum");

  a = Api("POST", kJobs, "{not json");
  EXPECT_EQ(a.status, 422);
  a = Api("POST", "/public/v2/jobs/restart", R"({"job_name":"x","more":1})");
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json({"body", "more"}));
  // Nothing invalid was created.
  EXPECT_EQ(sim_->size(), 0u);
  EXPECT_FALSE(SubmitOk(R"(,"job_desc":"ok","flags":{"a":"1"},"env_variables":{"B":"2"})").empty());
  EXPECT_EQ(sim_->size(), 1u);
}

TEST_F(EmulatorServerTest, QueryParametersAreValidated) {
  Start();
  Answer a = Api("GET", std::string(kJobs) + "?region=SR006&limit=0");
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json({"query", "limit"}));
  a = Api("GET", std::string(kJobs) + "?region=SR006&status=Running&status=Bogus");
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json::parse(R"(["query","status",1])"));
  a = Api("DELETE", std::string(kJobs) + "/x");
  ASSERT_EQ(a.status, 422);
  EXPECT_EQ(a.Json()["detail"][0]["loc"], json({"query", "region"}));
  a = Api("GET", std::string(kJobs) + "/x/logs?tail=-1");
  EXPECT_EQ(a.status, 422);
  EXPECT_EQ(Api("GET", "/public/v2/nothing").status, 404);
  EXPECT_EQ(Api("PUT", kJobs).status, 405);
}

TEST_F(EmulatorServerTest, JobLifecycleAnswersInTheOpenApiShapes) {
  Start();
  const std::string name = SubmitOk(R"(,"job_desc":"marker-1")");
  ASSERT_EQ(name.rfind("sj-", 0), 0u);
  Answer got = Api("GET", std::string(kJobs) + "/" + name);
  ASSERT_EQ(got.status, 200);
  json j = got.Json();
  EXPECT_EQ(j["status"], "pending");
  for (const char* k :
       {"uid", "job_name", "created_at", "pending_at", "running_at", "completed_at"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  Answer list = Api("GET", std::string(kJobs) + "?region=SR006");
  json item = list.Json()["jobs"][0];
  for (const char* k :
       {"uid", "job_name", "status", "region", "created_dt", "gpu_count", "namespace", "queue_name",
        "queue_id", "allocation_name", "allocation_id"}) {
    EXPECT_TRUE(item.contains(k)) << k;
  }
  EXPECT_EQ(item["status"], "Pending");
  EXPECT_EQ(item["job_desc"], "marker-1");
  EXPECT_EQ(item["gpu_count"], 2);
  EXPECT_EQ(list.Json()["count"], 1);
  // One job, one uid: GET and list come from the same writer's JobUid.
  EXPECT_EQ(item["uid"], j["uid"]);
  EXPECT_EQ(item["uid"], gateway::JobUid(name));

  clock_.Advance(seconds(11));
  EXPECT_EQ(Api("GET", std::string(kJobs) + "/" + name).Json()["status"], "running");
  EXPECT_EQ(ListNames("region=SR006&status=Running"), std::vector<std::string>{name});
  EXPECT_TRUE(ListNames("region=SR006&status=Pending").empty());
  EXPECT_TRUE(ListNames("region=SR004").empty());
  clock_.Advance(seconds(20));
  j = Api("GET", std::string(kJobs) + "/" + name).Json();
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["completed_at"].get<int64_t>() - j["running_at"].get<int64_t>(), 20);

  Answer logs = Api("GET", std::string(kJobs) + "/" + name + "/logs?tail=1");
  EXPECT_EQ(logs.status, 200);
  EXPECT_EQ(logs.headers["Content-Type"].rfind("text/plain", 0), 0u);
  EXPECT_EQ(logs.body, "[sim] " + name + " completed\n");

  Answer restarted = Api("POST", "/public/v2/jobs/restart", json({{"job_name", name}}).dump());
  ASSERT_EQ(restarted.status, 200);
  const std::string second = restarted.Json()["job_name"];
  EXPECT_NE(second, name);
  EXPECT_EQ(restarted.Json()["status"], "Pending");
  Answer del = Api("DELETE", std::string(kJobs) + "/" + second + "?region=SR006");
  EXPECT_EQ(del.Json()["status"], "deleted");
  EXPECT_EQ(Api("GET", std::string(kJobs) + "/" + second).Json()["status"], "stopped");

  Answer missing = Api("GET", std::string(kJobs) + "/lj-nope");
  EXPECT_EQ(missing.status, 200);
  EXPECT_EQ(missing.Json()["status"], "job not found");
  Answer del_missing = Api("DELETE", std::string(kJobs) + "/lj-nope?region=SR006");
  EXPECT_EQ(del_missing.status, 200);
  EXPECT_EQ(del_missing.Json()["status"], "job not found");
  EXPECT_EQ(Api("POST", "/public/v2/jobs/restart", R"({"job_name":"lj-nope"})").status, 404);
}

TEST_F(EmulatorServerTest, ListPagesWithLimitAndOffset) {
  Start();
  std::vector<std::string> submitted;
  for (int i = 0; i < 25; ++i) submitted.push_back(SubmitOk());
  std::vector<std::string> seen;
  for (int offset = 0;; offset += 10) {
    const Answer a =
        Api("GET", std::string(kJobs) + "?region=SR006&limit=10&offset=" + std::to_string(offset));
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.Json()["count"], 25);
    const auto jobs = a.Json()["jobs"];
    for (const auto& j : jobs) seen.push_back(j["job_name"]);
    if (jobs.size() < 10) break;
  }
  EXPECT_EQ(seen, submitted);
  EXPECT_EQ(Api("GET", std::string(kJobs) + "?region=SR006&offset=100").Json()["jobs"].size(), 0u);
}

TEST_F(EmulatorServerTest, RateLimitAnswers429WithRetryAfter) {
  EmulatorOptions o;
  o.rate_limit_per_minute = 5;
  Start(o);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Api("GET", kJobs).status, 200) << i;
  Answer a = Api("GET", kJobs);
  ASSERT_EQ(a.status, 429);
  EXPECT_EQ(a.Json(),
            json({{"error_code", 429}, {"error_message", "Rate limit exceeded: 5 per 1 minute"}}));
  ASSERT_TRUE(a.headers.count("Retry-After"));
  EXPECT_EQ(a.headers["Retry-After"], "12");  // one token per 12 s
  clock_.Advance(seconds(12));
  EXPECT_EQ(Api("GET", kJobs).status, 200);
  EXPECT_EQ(Api("GET", kJobs).status, 429);
}

TEST_F(EmulatorServerTest, RateLimitZeroDisablesIt) {
  EmulatorOptions o;
  o.rate_limit_per_minute = 0;
  Start(o);
  for (int i = 0; i < 50; ++i) ASSERT_EQ(Api("GET", kJobs).status, 200) << i;
}

TEST_F(EmulatorServerTest, InjectedStatusFaultsFollowTheirRules) {
  EmulatorOptions o;
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "503", "every:2@submit").ok());
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "retry-after", "7").ok());
  Start(o);
  std::vector<int> codes;
  for (int i = 0; i < 4; ++i) codes.push_back(Api("POST", kJobs, JobBody()).status);
  EXPECT_EQ(codes, (std::vector<int>{200, 503, 200, 503}));
  EXPECT_EQ(sim_->size(), 2u);               // a 503 before processing creates nothing
  EXPECT_EQ(Api("GET", kJobs).status, 200);  // other operations untouched
  for (const char* code : {"429", "500", "502"}) {
    FaultConfig f;
    ASSERT_TRUE(ApplyFaultSetting(f, code, "1@list").ok());
    server_->SetFaults(f);
    Answer a = Api("GET", kJobs);
    EXPECT_EQ(a.status, std::stoi(code));
    EXPECT_EQ(a.Json()["error_code"], std::stoi(code));
    EXPECT_EQ(a.headers.count("Retry-After"), std::string(code) == "429" ? 1u : 0u);
  }
  EXPECT_EQ(server_->Stats()["faults"]["503"], 2);
}

TEST_F(EmulatorServerTest, FailureAfterCreateLeavesTheJobBehind) {
  EmulatorOptions o;
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "after-create", "1").ok());
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "after-create-code", "502").ok());
  Start(o);
  Answer a = Api("POST", kJobs, JobBody(R"(,"job_desc":"marker-ambiguous")"));
  EXPECT_EQ(a.status, 502);
  const Answer list = Api("GET", std::string(kJobs) + "?region=SR006");
  ASSERT_EQ(list.Json()["jobs"].size(), 1u);
  EXPECT_EQ(list.Json()["jobs"][0]["job_desc"], "marker-ambiguous");
}

TEST_F(EmulatorServerTest, DroppedConnectionsGetNoAnswer) {
  EmulatorOptions o;
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "drop", "1@get").ok());
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "drop-after-create", "every:2@submit").ok());
  Start(o);
  Answer a = Api("GET", std::string(kJobs) + "/x");
  EXPECT_EQ(a.status, -1) << a.body;
  EXPECT_EQ(Api("POST", kJobs, JobBody()).status, 200);
  Answer dropped = Api("POST", kJobs, JobBody());
  EXPECT_EQ(dropped.status, -1);
  EXPECT_EQ(sim_->size(), 2u);  // the dropped submit did create its job
  EXPECT_EQ(Api("GET", kJobs + std::string("?region=SR006")).status, 200);
  EXPECT_EQ(server_->Stats()["by_status"]["0"], 2);
}

TEST_F(EmulatorServerTest, LatencyDelaysAnswers) {
  EmulatorOptions o;
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "latency", "150ms").ok());
  Start(o);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Api("GET", kJobs).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(150));
  server_->SetFaults(FaultConfig{});
  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(Api("GET", kJobs).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - again, milliseconds(150));
}

TEST_F(EmulatorServerTest, NewJobsMissFromListsForNPolls) {
  EmulatorOptions o;
  ASSERT_TRUE(ApplyFaultSetting(o.faults, "hide-polls", "2").ok());
  Start(o);
  const std::string name = SubmitOk();
  EXPECT_TRUE(ListNames().empty());
  EXPECT_TRUE(ListNames().empty());
  EXPECT_EQ(ListNames(), std::vector<std::string>{name});
  // A single GET still finds it.
  EXPECT_EQ(Api("GET", std::string(kJobs) + "/" + name).Json()["status"], "pending");
}

TEST_F(EmulatorServerTest, ControlEndpointSetsAndClearsFaults) {
  Start();
  const uint16_t port = server_->port();
  Answer bad = Call(port, "POST", "/_emulator/faults", R"({"429":"often"})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.Json()["error_message"].get<std::string>().find("429"), std::string::npos);
  Answer set = Call(port, "POST", "/_emulator/faults", R"({"500":"every:1@list","hide-polls":1})");
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Call(port, "GET", "/_emulator/faults").Json()["500"], "every:1@list");
  EXPECT_EQ(Api("GET", kJobs).status, 500);
  EXPECT_EQ(Call(port, "DELETE", "/_emulator/faults").status, 200);
  EXPECT_EQ(Api("GET", kJobs).status, 200);
  const json stats = Call(port, "GET", "/_emulator/stats").Json();
  EXPECT_EQ(stats["by_op"]["list"], 2);
  EXPECT_EQ(stats["by_status"]["500"], 1);
  EXPECT_EQ(stats["faults"]["500"], 1);
}

TEST_F(EmulatorServerTest, RecordFileHasEveryExchangeWithoutSecrets) {
  const std::string path =
      ::testing::TempDir() + "emu-record-" + std::to_string(::getpid()) + ".jsonl";
  std::filesystem::remove(path);
  EmulatorOptions o;
  o.record_path = path;
  Start(o);
  ASSERT_EQ(Call(server_->port(), "POST", "/public/v2/service_auth",
                 R"({"client_id":"sa-id","client_secret":"sa-secret-xyz"})")
                .status,
            200);
  const std::string name = SubmitOk(
      R"(,"flags":{"spec-version":"1"},"env_variables":{"WANDB_API_KEY":"wandb-secret-123"})");
  Api("GET", std::string(kJobs) + "?region=SR006&status=Pending&status=Running");
  server_->Stop();
  std::ifstream in(path);
  std::string line, all;
  std::vector<json> lines;
  while (std::getline(in, line)) {
    all += line;
    lines.push_back(json::parse(line));
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(all.find("sa-secret-xyz"), std::string::npos);
  EXPECT_EQ(all.find("key-123"), std::string::npos);
  EXPECT_EQ(all.find("emu."), std::string::npos);              // no issued token either
  EXPECT_EQ(all.find("wandb-secret-123"), std::string::npos);  // env_variables values
  EXPECT_EQ(lines[1]["method"], "POST");
  EXPECT_EQ(lines[1]["path"], kJobs);
  EXPECT_EQ(lines[1]["status"], 200);
  EXPECT_EQ(lines[1]["body"]["flags"]["spec-version"], "1");
  EXPECT_EQ(lines[1]["body"]["env_variables"]["WANDB_API_KEY"], "<redacted>");
  EXPECT_EQ(lines[1]["answer"]["job_name"], name);
  EXPECT_EQ(lines[1]["headers"]["x-api-key"], "<redacted>");
  EXPECT_EQ(lines[2]["query"]["status"], json({"Pending", "Running"}));
  EXPECT_EQ(lines[2]["answer"]["count"], 1);
  std::filesystem::remove(path);
}

TEST_F(EmulatorServerTest, StartFailsOnBadAddressOrBusyPort) {
  Start();
  EmulatorOptions o;
  o.listen = "127.0.0.1:" + std::to_string(server_->port());
  EmulatorServer busy(o, *sim_, clock_);
  const Status in_use = busy.Start();
  EXPECT_EQ(in_use.message(),
            "--bind-address " + o.listen + ": cannot listen: address already in use");
  o.listen = "no-port";
  EmulatorServer bad(o, *sim_, clock_);
  const Status s = bad.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--bind-address"), std::string::npos) << s.message();
}

TEST(FaultRuleTest, ParsesAndRejects) {
  auto r = ParseFaultRule("0.25@submit+list");
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->probability, 0.25);
  EXPECT_EQ(r->ops, (std::set<std::string>{"submit", "list"}));
  EXPECT_TRUE(r->Matches("list"));
  EXPECT_FALSE(r->Matches("get"));
  auto e = ParseFaultRule("every:3");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->every, 3);
  EXPECT_TRUE(e->Matches("get"));
  EXPECT_FALSE(e->Matches("auth"));  // not by default
  EXPECT_FALSE(ParseFaultRule("1.5").ok());
  EXPECT_FALSE(ParseFaultRule("every:0").ok());
  EXPECT_FALSE(ParseFaultRule("0.1@fly").ok());
  FaultConfig c;
  EXPECT_FALSE(ApplyFaultSetting(c, "418", "1").ok());
  EXPECT_FALSE(ApplyFaultSetting(c, "latency", "fast").ok());
}

}  // namespace
}  // namespace mlspace::gateway::emulator
