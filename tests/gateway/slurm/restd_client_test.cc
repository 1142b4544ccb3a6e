// SlurmGateway in restd mode against recorded slurmrestd 22.05.8 answers
// (tests/testdata/slurm/README.md) served by a scripted HTTP peer: the
// requests it makes, how answers and lost answers map, and that the Slurm
// command-line tools are never run.

#include "controller/gateway/slurm/restd_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "controller/core/redact.h"
#include "controller/gateway/slurm/slurm_gateway.h"
#include "tests/fakes/fake_http_transport.h"
#include "tests/fakes/fake_slurm_runner.h"

namespace mlspace::gateway::slurm {
namespace {

using ::mlspace::testing::FakeHttpTransport;
using ::mlspace::testing::FakeSlurmRunner;

constexpr char kToken[] = "eyJhbGciOiJIUzI1NiJ9.eyJzdW4iOiJyb290In0.c2lnbmF0dXJlLXRlc3Q";

std::string Recorded(const std::string& name) {
  std::ifstream in(std::string(MLSPACE_SLURM_TESTDATA) + "/" + name);
  std::ostringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

SubmitRequest Request() {
  SubmitRequest r;
  r.script = "/opt/mlspace/mlspace-launch";
  r.base_image = "cr.example/pytorch:2";
  r.instance_type = "cpu.small";
  r.region = "SR006";
  r.n_workers = 2;
  r.job_desc = "mlsj:bench:default/sleeper/1a2b3c4d/1";
  r.flags = {{"spec-version", "1"}, {"spec-num-parts", "1"}, {"spec-part-0", "eyJ4Ijo'x"}};
  r.label = "default/sleeper";
  return r;
}

class RestdGatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("restd_gw_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "token") << "SLURM_JWT=" << kToken << "\n";
    Make([](SlurmOptions&) {});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  SlurmOptions Options() {
    SlurmOptions o;
    o.partitions = {{"SR006", "debug"}};
    o.instance_types["cpu.small"] = SlurmResources{1, "2G", ""};
    o.output_dir = dir_.string();
    o.worker_layout = WorkerLayout::kTask;
    o.slurm_conf = "/etc/slurm-test/slurm.conf";
    o.extra_sbatch_args = {"--qos=high"};
    RestdOptions r;
    r.url = "http://127.0.0.1:6820";
    r.token_file = (dir_ / "token").string();
    r.user_name = "root";
    r.environment = {{"LANG", "C.UTF-8"}};
    o.restd = r;
    return o;
  }
  template <class Edit>
  void Make(Edit edit) {
    SlurmOptions o = Options();
    edit(o);
    auto runner = std::make_unique<FakeSlurmRunner>();
    auto http = std::make_unique<FakeHttpTransport>();
    runner_ = runner.get();
    http_ = http.get();
    gw_ = std::make_unique<SlurmGateway>(o, std::move(runner), std::move(http));
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }

  std::filesystem::path dir_;
  FakeSlurmRunner* runner_ = nullptr;
  FakeHttpTransport* http_ = nullptr;
  std::unique_ptr<SlurmGateway> gw_;
};

TEST_F(RestdGatewayTest, SubmitPostsTheSbatchJobAndReturnsTheJobId) {
  http_->PushResponse(200, Recorded("restd-22.05.8-submit.json"));
  auto id = gw_->Submit(Request());
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, "3");
  EXPECT_EQ(runner_->calls().size(), 0u);  // no sbatch

  auto reqs = http_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/slurm/v0.0.38/job/submit");
  EXPECT_EQ(http::FindHeader(reqs[0].headers, "X-SLURM-USER-NAME"), "root");
  EXPECT_EQ(http::FindHeader(reqs[0].headers, "X-SLURM-USER-TOKEN"), kToken);  // prefix dropped
  auto body = nlohmann::json::parse(reqs[0].body);
  // The same job as sbatch's: name, comment (marker + tags), script.
  SlurmOptions o = Options();
  auto sbatch = BuildSbatch(o, Request());
  ASSERT_TRUE(sbatch.ok());
  EXPECT_EQ(body["script"], sbatch->script);
  const auto& job = body["job"];
  EXPECT_EQ(job["name"], "mlsj:bench:default/sleeper/1a2b3c4d/1");
  EXPECT_EQ(job["comment"],
            "mlsj:bench:default/sleeper/1a2b3c4d/1 mlspace-region=SR006 "
            "mlspace-instance-type=cpu.small");
  EXPECT_EQ(job["partition"], "debug");
  EXPECT_EQ(job["standard_output"], dir_.string() + "/slurm-%j.out");
  EXPECT_EQ(job["current_working_directory"], dir_.string());
  EXPECT_EQ(job["tasks"], 2);
  EXPECT_FALSE(job.contains("nodes"));
  EXPECT_EQ(job["cpus_per_task"], 1);
  EXPECT_EQ(job["memory_per_node"], 2048);
  EXPECT_EQ(job["qos"], "high");
  EXPECT_EQ(job["environment"]["SLURM_CONF"], "/etc/slurm-test/slurm.conf");
  EXPECT_EQ(job["environment"]["LANG"], "C.UTF-8");
  EXPECT_TRUE(job["environment"].contains("PATH"));
}

TEST_F(RestdGatewayTest, NodeLayoutAsksForOneTaskPerNode) {
  Make([](SlurmOptions& o) { o.worker_layout = WorkerLayout::kNode; });
  http_->PushResponse(200, Recorded("restd-22.05.8-submit.json"));
  ASSERT_TRUE(gw_->Submit(Request()).ok());
  auto job = nlohmann::json::parse(http_->requests()[0].body)["job"];
  EXPECT_EQ(job["nodes"], nlohmann::json::array({2, 2}));
  EXPECT_EQ(job["tasks_per_node"], 1);
}

TEST_F(RestdGatewayTest, RefusedSubmitIsInvalidInSlurmsWords) {
  http_->PushResponse(500, Recorded("restd-22.05.8-submit-invalid-partition.json"));
  auto r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kInvalid)) << r.error().message;
  EXPECT_NE(r.error().message.find("refused by Slurm: Invalid partition name specified"),
            std::string::npos)
      << r.error().message;
  ASSERT_EQ(r.error().field_errors.size(), 1u);
  EXPECT_EQ(r.error().field_errors[0], "slurm: Invalid partition name specified");
}

TEST_F(RestdGatewayTest, LostSubmitAnswersAreAmbiguousNeverResent) {
  http_->Push(FakeHttpTransport::NoAnswer("Timeout"));
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));
  EXPECT_EQ(http_->requests().size(), 1u);  // not re-sent

  http_->PushResponse(200, "{\"meta\": {}, \"errors\": []}");  // no job id
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));

  http_->PushResponse(502, "Bad Gateway");
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));

  // slurmctld's own transport words, as sbatch would print them.
  http_->PushResponse(
      500,
      R"({"errors": [{"error_code": 5004, "error": "Socket timed out on send/recv operation"}]})");
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kAmbiguous));
}

TEST_F(RestdGatewayTest, UnreachableOrUnauthorizedSubmitsHadNoEffect) {
  http_->Push(FakeHttpTransport::NotSent("connect to 127.0.0.1:6820: Connection refused"));
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kUnavailable));

  http_->PushResponse(500,
                      "{\"errors\": [{\"error_code\": 1007, \"error\": "
                      "\"Unable to contact slurm controller (connect failure)\"}]}");
  EXPECT_TRUE(gw_->Submit(Request()).Is(ErrorKind::kUnavailable));

  http_->PushResponse(401, "Authentication failure");
  auto r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(r.error().http_status, 401);

  http_->PushResponse(404, "Unable find requested URL. Please view /openapi/v3 for API reference.");
  r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kUnavailable));
  EXPECT_NE(r.error().message.find("apiVersion"), std::string::npos);
}

TEST_F(RestdGatewayTest, TheTokenIsReReadAndNeverInMessages) {
  std::filesystem::remove(dir_ / "token");
  auto r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kUnauthorized));
  EXPECT_NE(r.error().message.find("tokenFile"), std::string::npos);
  EXPECT_EQ(http_->requests().size(), 0u);  // nothing sent without a token

  Write("token", "rotated-token-value-1234\n");
  http_->PushResponse(401, std::string("Authentication failure for ") + "rotated-token-value-1234");
  r = gw_->Submit(Request());
  ASSERT_TRUE(r.Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(http::FindHeader(http_->requests().back().headers, "X-SLURM-USER-TOKEN"),
            "rotated-token-value-1234");
  EXPECT_EQ(r.error().message.find("rotated-token-value-1234"), std::string::npos)
      << r.error().message;
}

TEST_F(RestdGatewayTest, ListIsOneGetJobsFilteredLikeSqueue) {
  http_->PushResponse(200, Recorded("restd-22.05.8-jobs.json"));
  ListOptions lo;
  lo.region = "SR006";
  auto jobs = gw_->List(lo);
  ASSERT_TRUE(jobs.ok()) << jobs.error().message;
  auto reqs = http_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/slurm/v0.0.38/jobs");
  EXPECT_GT(reqs[0].max_answer_bytes, size_t{1} << 20);
  // Job 2 has no tags (not ours); 1 and 3 do.
  ASSERT_EQ(jobs->size(), 2u);
  std::map<std::string, RemoteJob> by;
  for (const auto& j : *jobs) by[j.name] = j;
  EXPECT_EQ(by["1"].status, RemoteStatus::kFailed);
  EXPECT_EQ(by["1"].exit_code, 3);  // wait status 768
  EXPECT_EQ(by["1"].job_desc, "marker-x");
  EXPECT_EQ(by["3"].status, RemoteStatus::kRunning);
  EXPECT_EQ(by["3"].job_desc, "mlsj:bench:default/sleeper/1a2b3c4d/1");
  EXPECT_EQ(by["3"].instance_type, "cpu.small");
  EXPECT_EQ(runner_->calls().size(), 0u);  // no squeue

  http_->Push(FakeHttpTransport::NoAnswer("reset"));
  EXPECT_TRUE(gw_->List(lo).Is(ErrorKind::kUnavailable));
  http_->PushResponse(500, R"({"errors": [{"error": "Unable to contact slurm controller"}]})");
  auto bad = gw_->List(lo);
  ASSERT_TRUE(bad.Is(ErrorKind::kUnavailable));
  EXPECT_NE(bad.error().message.find("Unable to contact slurm controller"), std::string::npos);
}

TEST_F(RestdGatewayTest, CancelMapsDeleteAnswers) {
  http_->PushResponse(200, Recorded("restd-22.05.8-delete.json"));
  auto c = gw_->Cancel("3", "SR006");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(*c, CancelResult::kDeleted);
  EXPECT_EQ(http_->requests()[0].method, "DELETE");
  EXPECT_EQ(http_->requests()[0].target, "/slurm/v0.0.38/job/3");

  http_->PushResponse(500, Recorded("restd-22.05.8-delete-invalid-job.json"));
  c = gw_->Cancel("9999", "SR006");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, CancelResult::kNotFound);

  http_->PushResponse(500,
                      R"({"errors": [{"error": "Job/step already completing or completed"}]})");
  c = gw_->Cancel("1", "SR006");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, CancelResult::kDeleted);

  http_->Push(FakeHttpTransport::NotSent());
  EXPECT_TRUE(gw_->Cancel("1", "SR006").Is(ErrorKind::kUnavailable));
  EXPECT_EQ(runner_->calls().size(), 0u);  // no scancel
}

TEST_F(RestdGatewayTest, ForgottenJobWithoutSlurmdbFallsBackToTheExitFile) {
  Write("slurm-77.exit", "exit 4\n");
  http_->PushResponse(200, Recorded("restd-22.05.8-jobs.json"));
  http_->PushResponse(404, "Unable find requested URL. Please view /openapi/v3 for API reference.");
  auto j = gw_->Get("77");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kFailed);
  EXPECT_EQ(j->exit_code, 4);
  auto reqs = http_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].target, "/slurmdb/v0.0.38/job/77");

  // No exit file either: outcome unknown, never resubmitted or "not found".
  Write("slurm-78.out", "step 1\n");
  http_->PushResponse(200, Recorded("restd-22.05.8-jobs.json"));
  http_->PushResponse(404, "Unable find requested URL.");
  j = gw_->Get("78");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kTerminated);
  auto logs = gw_->Logs("78", "SR006", 0);
  ASSERT_TRUE(logs.ok());
  EXPECT_NE(logs->find("outcome unknown"), std::string::npos);
}

TEST_F(RestdGatewayTest, AccountingOnRequiresSlurmdb) {
  Make([](SlurmOptions& o) { o.accounting = Accounting::kOn; });
  Write("slurm-77.exit", "exit 4\n");
  http_->PushResponse(200, Recorded("restd-22.05.8-jobs.json"));
  http_->PushResponse(404, "Unable find requested URL.");
  EXPECT_TRUE(gw_->Get("77").Is(ErrorKind::kUnavailable));

  Make([](SlurmOptions& o) { o.accounting = Accounting::kOff; });
  Write("slurm-77.exit", "exit 4\n");
  http_->PushResponse(200, Recorded("restd-22.05.8-jobs.json"));
  auto j = gw_->Get("77");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->exit_code, 4);
  EXPECT_EQ(http_->requests().size(), 1u);  // no slurmdb call
}

// Hand-written after the dbv0.0.38 schema: no slurmdbd was available to
// record a real answer (docs/slurm.md says so).
TEST_F(RestdGatewayTest, ForgottenJobFromSlurmdb) {
  http_->PushResponse(200, Recorded("restd-22.05.8-jobs.json"));
  http_->PushResponse(200,
                      R"({"errors": [], "jobs": [{"job_id": 77, "name": "mlsj:i:ns/a/12345678/1",
      "comment": {"job": "mlsj:i:ns/a/12345678/1 mlspace-region=SR006 mlspace-instance-type=cpu.small"},
      "state": {"current": "FAILED", "reason": "NonZeroExitCode"},
      "exit_code": {"status": "FAILED", "return_code": 2}}]})");
  auto j = gw_->Get("77");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->status, RemoteStatus::kFailed);
  EXPECT_EQ(j->exit_code, 2);
  EXPECT_EQ(j->region, "SR006");
  EXPECT_EQ(j->job_desc, "mlsj:i:ns/a/12345678/1");

  auto signaled = ParseSlurmdbJob(
      R"({"jobs": [{"job_id": 5, "state": {"current": "CANCELLED"},
          "exit_code": {"status": "SIGNALED", "return_code": 0, "signal": {"signal_id": 9}}}]})",
      "5");
  ASSERT_TRUE(signaled.ok());
  ASSERT_TRUE(signaled->has_value());
  EXPECT_EQ((*signaled)->status, RemoteStatus::kStopped);
  EXPECT_EQ((*signaled)->exit_code, 137);
  auto none = ParseSlurmdbJob(R"({"jobs": []})", "5");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(RestdOptionsTest, ParsesTheRestdBlock) {
  auto o = ParseSlurmOptions(YAML::Load(R"(
partitions: {SR006: debug}
outputDir: /shared/out
instanceTypes: {cpu: {mem: 512M}}
sbatchArgs: [--account=ml]
restd:
  url: http://127.0.0.1:6820
  tokenFile: /etc/mlspace/slurm.jwt
  userName: mlspace
  environment: {LANG: C.UTF-8}
)"),
                             "b.yaml:");
  ASSERT_TRUE(o.ok()) << o.status().message();
  ASSERT_TRUE(o->restd.has_value());
  EXPECT_EQ(o->restd->api_version, "v0.0.38");
  EXPECT_EQ(o->restd->auth, RestdOptions::Auth::kJwt);
  EXPECT_EQ(o->restd->token_file, "/etc/mlspace/slurm.jwt");
  EXPECT_EQ(o->restd->environment.at("LANG"), "C.UTF-8");

  auto local = ParseSlurmOptions(YAML::Load(R"(
partitions: {SR006: debug}
outputDir: /shared/out
restd: {url: "unix:/run/slurmrestd.socket", apiVersion: v0.0.37}
)"),
                                 "b.yaml:");
  ASSERT_TRUE(local.ok()) << local.status().message();
  EXPECT_EQ(local->restd->auth, RestdOptions::Auth::kLocal);
  EXPECT_EQ(local->restd->api_version, "v0.0.37");
}

TEST(RestdOptionsTest, BadRestdBlocksNameTheField) {
  const std::string base = "partitions: {SR006: debug}\noutputDir: /o\n";
  struct Case {
    std::string yaml, field;
  } cases[] = {
      {"restd: {tokenFile: /t, userName: u}", "restd.url"},
      {"restd: {url: ftp://x, tokenFile: /t, userName: u}", "restd.url"},
      {"restd: {url: 'unix:rel', auth: local}", "restd.url"},
      {"restd: {url: 'http://127.0.0.1:1', userName: u}", "restd.tokenFile"},
      {"restd: {url: 'http://127.0.0.1:1', tokenFile: /t}", "restd.userName"},
      {"restd: {url: 'http://127.0.0.1:1', auth: local}", "restd.auth"},
      {"restd: {url: 'http://127.0.0.1:1', auth: munge, tokenFile: /t, userName: u}", "restd.auth"},
      {"restd: {url: 'http://127.0.0.1:1', apiVersion: '38', tokenFile: /t, userName: u}",
       "restd.apiVersion"},
      {"restd: {url: 'http://127.0.0.1:1', tokenFile: /t, userName: u, token: x}", "restd.token"},
      {"sbatchArgs: [--exclusive]\nrestd: {url: 'http://127.0.0.1:1', tokenFile: /t, userName: u}",
       "sbatchArgs[0]"},
      {"instanceTypes: {big: {mem: 2X}}\nrestd: {url: 'http://127.0.0.1:1', tokenFile: /t, "
       "userName: u}",
       "instanceTypes.big.mem"},
  };
  for (const auto& c : cases) {
    auto o = ParseSlurmOptions(YAML::Load(base + c.yaml), "b.yaml:");
    ASSERT_FALSE(o.ok()) << c.yaml;
    EXPECT_NE(o.status().message().find("b.yaml: " + c.field + ":"), std::string::npos)
        << c.yaml << " -> " << o.status().message();
  }
}

TEST(RestdOptionsTest, MemToMegabytes) {
  EXPECT_EQ(MemToMegabytes("64G"), 65536);
  EXPECT_EQ(MemToMegabytes("512M"), 512);
  EXPECT_EQ(MemToMegabytes("2048"), 2048);
  EXPECT_EQ(MemToMegabytes("1T"), 1048576);
  EXPECT_EQ(MemToMegabytes("1500K"), 2);
  EXPECT_FALSE(MemToMegabytes("G").has_value());
  EXPECT_FALSE(MemToMegabytes("1.5G").has_value());
  EXPECT_FALSE(MemToMegabytes("").has_value());
}

}  // namespace
}  // namespace mlspace::gateway::slurm
