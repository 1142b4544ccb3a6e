#include "controller/gateway/gateway_json.h"

#include <gtest/gtest.h>

#include "controller/core/redact.h"

namespace mlspace::gateway {
namespace {

using nlohmann::json;

TEST(GatewayJsonTest, OnlySetFieldsAreSerialised) {
  SubmitRequest r;
  r.script = "s";
  r.base_image = "b";
  r.instance_type = "i";
  r.label = "nlp/llama";
  EXPECT_EQ(SubmitRequestToJson(r),
            json({{"script", "s"}, {"base_image", "b"}, {"instance_type", "i"}}));

  r.region = "SR003";
  r.n_workers = 2;
  r.internet = false;
  r.health_params = HealthParams{30, "delete", {}};
  r.flags = {{"k", "v"}};
  json j = SubmitRequestToJson(r);
  EXPECT_EQ(j.size(), 8u) << j.dump();
  EXPECT_EQ(j["internet"], false);
  EXPECT_EQ(j["health_params"], json({{"log_period", 30}, {"action", "delete"}}));
  EXPECT_EQ(j["flags"], json({{"k", "v"}}));
  EXPECT_FALSE(j.contains("label"));
  EXPECT_FALSE(j.contains("env_variables"));
}

TEST(GatewayJsonTest, SubmitRoundTrip) {
  SubmitRequest r;
  r.script = "s";
  r.base_image = "b";
  r.instance_type = "i";
  r.type = "binary";
  r.processes_per_worker = 4;
  r.max_retry = 5;
  r.job_desc = "marker";
  r.env_variables = {{"A", "1"}};
  r.health_params = HealthParams{20, std::nullopt, {"notify"}};
  auto back = SubmitRequestFromJson(SubmitRequestToJson(r));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(SubmitRequestToJson(*back), SubmitRequestToJson(r));
  auto missing = SubmitRequestFromJson(json({{"script", "s"}}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "base_image: required");
  auto def = SubmitRequestFromJson(json({{"script", "s"},
                                         {"base_image", "b"},
                                         {"instance_type", "i"},
                                         {"processes_per_worker", "default"}}));
  ASSERT_TRUE(def.ok());
  EXPECT_FALSE(def->processes_per_worker.has_value());
}

TEST(GatewayJsonTest, ParsesListAnswer) {
  const char* body = R"({"count": 2, "status": "ok", "error_code": 0, "error_message": "",
    "jobs": [
     {"uid": "u1", "job_name": "lm-mpi-job-1", "status": "Running", "region": "SR003",
      "instance_type": "a100.1gpu", "job_desc": "m1", "job_author": "N/A",
      "created_dt": "2024-05-01T12:00:00.123456", "updated_dt": null, "completed_dt": null,
      "cost": "0", "gpu_count": 1, "namespace": "ns", "queue_name": "q", "queue_id": "q",
      "allocation_name": "a", "allocation_id": "a"},
     {"uid": "u2", "job_name": "lm-mpi-job-2", "status": "Completed", "region": "SR003",
      "created_dt": "2024-05-01T12:00:00+00:00", "completed_dt": "2024-05-01T13:00:00Z",
      "gpu_count": 1, "namespace": "ns", "queue_name": "q", "queue_id": "q",
      "allocation_name": "a", "allocation_id": "a"}]})";
  auto page = ParseListJobsResponse(body);
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ(page->count, 2);
  ASSERT_EQ(page->jobs.size(), 2u);
  EXPECT_EQ(page->jobs[0].name, "lm-mpi-job-1");
  EXPECT_EQ(page->jobs[0].status, RemoteStatus::kRunning);
  EXPECT_EQ(page->jobs[0].job_desc, "m1");
  ASSERT_TRUE(page->jobs[0].created.has_value());
  EXPECT_FALSE(page->jobs[0].completed.has_value());
  EXPECT_EQ(page->jobs[1].status, RemoteStatus::kCompleted);
  ASSERT_TRUE(page->jobs[1].completed.has_value());
  EXPECT_EQ(*page->jobs[1].completed - *page->jobs[1].created, std::chrono::hours(1));

  EXPECT_FALSE(ParseListJobsResponse("{\"jobs\": []}").ok());
  EXPECT_FALSE(ParseListJobsResponse("not json").ok());
  EXPECT_FALSE(ParseListJobsResponse(R"({"count":1,"jobs":[{"status":"Running"}]})").ok());
}

TEST(GatewayJsonTest, ListEncoderRoundTrips) {
  RemoteJob j;
  j.name = "job-a";
  j.status = RemoteStatus::kTerminating;
  j.region = "SR006";
  j.job_desc = "d";
  j.created = TimePoint(std::chrono::seconds(1'700'000'000));
  auto page = ParseListJobsResponse(ListJobsResponseToJson(7, {j}).dump());
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->count, 7);
  EXPECT_EQ(page->jobs[0].name, "job-a");
  EXPECT_EQ(page->jobs[0].status, RemoteStatus::kTerminating);
  EXPECT_EQ(page->jobs[0].created, j.created);
}

TEST(GatewayJsonTest, ListAndGetCarryTheSameUidForOneJob) {
  RemoteJob a;
  a.name = "sj-a";
  a.status = RemoteStatus::kRunning;
  a.instance_type = "a100.8gpu";
  a.created = TimePoint(std::chrono::seconds(1'700'000'000));
  a.started = TimePoint(std::chrono::seconds(1'700'000'010));
  RemoteJob b = a;
  b.name = "sj-b";
  const TimePoint now = TimePoint(std::chrono::seconds(1'700'000'070));
  const json list = json::parse(ListJobsResponseText(2, {a, b}, 0, 2, now));
  ASSERT_EQ(list["jobs"].size(), 2u);
  EXPECT_EQ(list["jobs"][0]["uid"], GetJobStatusResponseToJson(a)["uid"]);
  EXPECT_EQ(list["jobs"][1]["uid"], GetJobStatusResponseToJson(b)["uid"]);
  EXPECT_NE(JobUid("sj-a"), JobUid("sj-b"));
  EXPECT_EQ(list["jobs"][0]["gpu_count"], 8);
  EXPECT_EQ(list["jobs"][0]["duration"], "60s");
  // A page: jobs[from, to) under the total count; out-of-range bounds clamp.
  const json page = json::parse(ListJobsResponseText(2, {a, b}, 1, 5, now));
  EXPECT_EQ(page["count"], 2);
  ASSERT_EQ(page["jobs"].size(), 1u);
  EXPECT_EQ(page["jobs"][0]["job_name"], "sj-b");
  EXPECT_TRUE(json::parse(ListJobsResponseText(2, {a, b}, 3, 1, now))["jobs"].empty());
}

TEST(GatewayJsonTest, ListWriterEscapesLikeJson) {
  RemoteJob j;
  j.name = "sj-1";
  j.job_desc = "q\"b\\s\nt\t\x01\xc3\xa9";
  const json list = ListJobsResponseToJson(1, {j});
  EXPECT_EQ(list["jobs"][0]["job_desc"], j.job_desc);
}

TEST(GatewayJsonTest, ParsesGetFoundAndNotFound) {
  auto found = ParseGetJobStatusResponse(
      R"({"uid":"u","job_name":"j1","status":"succeeded","created_at":100,"pending_at":100,
          "running_at":160,"completed_at":0,"error_code":0,"error_message":""})");
  ASSERT_TRUE(found.ok()) << found.status().message();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->status, RemoteStatus::kSucceeded);
  EXPECT_EQ((*found)->started, TimePoint(std::chrono::seconds(160)));
  EXPECT_FALSE((*found)->completed.has_value());

  auto missing = ParseGetJobStatusResponse(
      R"({"job_name":"j1","status":"job not found","error_code":0,"error_message":"job not found"})");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  EXPECT_FALSE(ParseGetJobStatusResponse(R"({"job_name":"j","status":"exploded"})").ok());

  RemoteJob j;
  j.name = "x";
  j.status = RemoteStatus::kRunning;
  auto rt = ParseGetJobStatusResponse(GetJobStatusResponseToJson(j).dump());
  ASSERT_TRUE(rt.ok() && rt->has_value());
  EXPECT_EQ((*rt)->status, RemoteStatus::kRunning);
  EXPECT_EQ(GetJobStatusResponseToJson(j)["status"], "running");
  auto nf = ParseGetJobStatusResponse(GetJobStatusNotFoundToJson("x").dump());
  ASSERT_TRUE(nf.ok());
  EXPECT_FALSE(nf->has_value());
}

TEST(GatewayJsonTest, ParsesDeleteRunAndAuth) {
  auto del =
      ParseDeleteJobResponse(R"({"job_name":"j","deleted_at":"1586423784","status":"deleted"})");
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(*del, CancelResult::kDeleted);
  auto gone = ParseDeleteJobResponse(
      DeleteJobResponseToJson("j", CancelResult::kNotFound, TimePoint{}).dump());
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, CancelResult::kNotFound);
  EXPECT_FALSE(ParseDeleteJobResponse(R"({"job_name":"j","status":"maybe"})").ok());

  auto run =
      ParseJobNameResponse(R"({"job_name":"lm-mpi-job-7","status":"Pending","created_at":1})");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(*run, "lm-mpi-job-7");
  EXPECT_FALSE(ParseJobNameResponse(R"({"status":"Pending"})").ok());

  auto tok = ParseServiceAuthResponse(
      R"({"token":{"access_token":"abc.def","token_type":"Bearer","expires_in":3600},"status":"ok"})");
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(tok->access_token, "abc.def");
  EXPECT_EQ(tok->expires_in, std::chrono::seconds(3600));
  EXPECT_FALSE(ParseServiceAuthResponse(R"({"token":{"access_token":"x"}})").ok());
}

TEST(GatewayJsonTest, ErrorBodiesBecomeOneLine) {
  auto fastapi = ParseErrorBody(
      R"({"detail":[{"loc":["body","n_workers"],"msg":"ensure this value is greater than 0","type":"value_error.number.not_gt"}]})");
  ASSERT_EQ(fastapi.fields.size(), 1u);
  EXPECT_EQ(FormatGatewayError("submit nlp/llama-sft", 422, fastapi),
            "submit nlp/llama-sft: 422 from gateway: body.n_workers: ensure this value is greater "
            "than 0");

  auto two = ParseErrorBody(
      ValidationErrorToJson({{{"body", "flags", "x"}, "bad", "t"},
                             {{"body", "health_params", "sub_actions", "0"}, "bad2", "t"}})
          .dump());
  EXPECT_EQ(
      FormatGatewayError("submit a", 422, two),
      "submit a: 422 from gateway: body.flags.x: bad; body.health_params.sub_actions.0: bad2");

  auto coded = ParseErrorBody(R"({"error_code": 20, "error_message": "access_token expired"})");
  EXPECT_EQ(coded.error_code, 20);
  EXPECT_EQ(FormatGatewayError("get j", 401, coded),
            "get j: 401 from gateway: access_token expired (code 20)");
  auto same = ParseErrorBody(ErrorBodyToJson(429, "Rate limit exceeded: 1000 per 1 minute").dump());
  EXPECT_EQ(FormatGatewayError("list SR003", 429, same),
            "list SR003: 429 from gateway: Rate limit exceeded: 1000 per 1 minute");

  auto text = ParseErrorBody("\n  <html>Bad Gateway</html>  \nmore lines");
  EXPECT_EQ(FormatGatewayError("get j", 502, text),
            "get j: 502 from gateway: <html>Bad Gateway</html>");
  EXPECT_EQ(FormatGatewayError("get j", 500, ParseErrorBody("")), "get j: 500 from gateway");
  EXPECT_EQ(ParseErrorBody(std::string(500, 'x')).message.size(), 203u);
  EXPECT_EQ(ParseErrorBody(R"({"detail":"Not Found"})").message, "Not Found");
}

TEST(GatewayJsonTest, FormattedErrorsAreRedacted) {
  SecretRegistry::Get().Add("sekrit-token-value");
  auto body = ParseErrorBody(
      R"({"error_code":21,"error_message":"invalid access_token sekrit-token-value"})");
  std::string msg = FormatGatewayError("get j", 401, body);
  EXPECT_EQ(msg.find("sekrit-token-value"), std::string::npos) << msg;
  EXPECT_NE(msg.find("***"), std::string::npos);
}

}  // namespace
}  // namespace mlspace::gateway
