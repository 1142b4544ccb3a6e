#include "controller/gateway/http/gateway_client.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "controller/core/redact.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_http_transport.h"

namespace mlspace::gateway::http {
namespace {

using mlspace::testing::FakeClock;
using mlspace::testing::FakeHttpTransport;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "tok-SECRET-access-123";
constexpr char kApiKey[] = "key-SECRET-api-456";
constexpr char kWorkspace[] = "ws-SECRET-789";
constexpr char kClientSecret[] = "cs-SECRET-000";

class GatewayClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    transport_ = std::make_shared<FakeHttpTransport>();
    options_.base_url = "http://127.0.0.1:8080";
    options_.credentials.access_token = kToken;
    options_.credentials.api_key = kApiKey;
    options_.credentials.workspace_id = kWorkspace;
    options_.clock = &clock_;
    options_.sleep = [this](Duration d) {
      sleeps_.push_back(d);
      clock_.Advance(d);
    };
    options_.transport = transport_;
    options_.jitter_seed = 42;
    options_.observer = [this](const RequestRecord& r) { records_.push_back(r); };
  }

  std::unique_ptr<GatewayClient> Client() {
    auto c = MakeGatewayClient(options_);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return std::move(c).value();
  }

  static SubmitRequest Req() {
    SubmitRequest r;
    r.script = "/home/jovyan/train.py";
    r.base_image = "cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40";
    r.instance_type = "a100.1gpu";
    r.region = "SR003";
    r.label = "nlp/llama-sft";
    return r;
  }

  // Every message must be free of credentials.
  static void ExpectNoSecrets(const std::string& text) {
    for (const char* s : {kToken, kApiKey, kWorkspace, kClientSecret}) {
      EXPECT_EQ(text.find(s), std::string::npos) << "secret leaked: " << text;
    }
  }

  FakeClock clock_;
  std::vector<Duration> sleeps_;
  std::vector<RequestRecord> records_;
  std::shared_ptr<FakeHttpTransport> transport_;
  ClientOptions options_;
};

std::string JobItem(const std::string& name, const std::string& status = "Running") {
  return json({{"uid", "u-" + name},
               {"job_name", name},
               {"status", status},
               {"region", "SR003"},
               {"job_desc", "d"},
               {"created_dt", "2024-05-01T12:00:00Z"},
               {"gpu_count", 1},
               {"namespace", "n"},
               {"queue_name", "q"},
               {"queue_id", "q"},
               {"allocation_name", "a"},
               {"allocation_id", "a"}})
      .dump();
}

TEST_F(GatewayClientTest, SubmitSendsHeadersAndOnlySetFields) {
  transport_->PushResponse(200, R"({"job_name":"lm-mpi-job-1","status":"Pending","created_at":1})");
  auto c = Client();
  auto out = c->Submit(Req());
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "lm-mpi-job-1");
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/public/v2/jobs");
  EXPECT_EQ(FindHeader(reqs[0].headers, "authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(FindHeader(reqs[0].headers, "x-api-key"), kApiKey);
  EXPECT_EQ(FindHeader(reqs[0].headers, "x-workspace-id"), kWorkspace);
  EXPECT_EQ(FindHeader(reqs[0].headers, "content-type"), "application/json");
  EXPECT_EQ(json::parse(reqs[0].body), json({{"script", "/home/jovyan/train.py"},
                                             {"base_image", Req().base_image},
                                             {"instance_type", "a100.1gpu"},
                                             {"region", "SR003"}}));
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].endpoint, "POST /jobs");
  EXPECT_EQ(records_[0].code, 200);
  EXPECT_EQ(records_[0].host, "127.0.0.1");
}

TEST_F(GatewayClientTest, BasePathPrefixIsKept) {
  options_.base_url = "http://127.0.0.1:8080/gw/";
  transport_->PushResponse(200, R"({"job_name":"j","status":"job not found"})");
  auto c = Client();
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(transport_->requests().at(0).target, "/gw/public/v2/jobs/j");
}

TEST_F(GatewayClientTest, InvalidSubmitIsNeverSent) {
  auto r = Req();
  r.n_workers = 0;
  auto c = Client();
  auto out = c->Submit(r);
  ASSERT_TRUE(out.Is(ErrorKind::kInvalid));
  EXPECT_EQ(out.error().message, "submit nlp/llama-sft: n_workers: must be >= 1, got 0");
  EXPECT_TRUE(transport_->requests().empty());
}

// Issue 11: a string nlohmann cannot encode threw out of Submit after the
// reconciler had committed its intent (then SubmitAmbiguous forever).
TEST_F(GatewayClientTest, UnencodableSubmitIsInvalidAndNeverSent) {
  auto r = Req();
  r.job_desc = std::string("bad \xff byte");
  auto out = Client()->Submit(r);
  ASSERT_TRUE(out.Is(ErrorKind::kInvalid)) << out.error().message;
  EXPECT_NE(out.error().message.find("cannot be encoded as JSON"), std::string::npos);
  EXPECT_TRUE(transport_->requests().empty());
}

TEST_F(GatewayClientTest, SubmitErrorStatuses) {
  struct Case {
    int status;
    std::string body;
    ErrorKind kind;
    std::string message;
  };
  const std::vector<Case> cases = {
      {400, R"({"error_code":400,"error_message":"Bad request error reason"})", ErrorKind::kInvalid,
       "submit nlp/llama-sft: 400 from gateway: Bad request error reason"},
      {401, R"({"error_code":21,"error_message":"invalid access_token"})", ErrorKind::kUnauthorized,
       "submit nlp/llama-sft: 401 from gateway: invalid access_token (code 21)"},
      // 403 is the credentials' state too (a controller-wide pause, issue 10),
      // never a terminal 4xx for the object.
      {403, R"({"error_code":403,"error_message":"workspace access denied"})",
       ErrorKind::kUnauthorized, "submit nlp/llama-sft: 403 from gateway: workspace access denied"},
      {404, R"({"detail":"Not Found"})", ErrorKind::kNotFound,
       "submit nlp/llama-sft: 404 from gateway: Not Found"},
      {409, R"({"error_code":409,"error_message":"The image='x' does not exist."})",
       ErrorKind::kInvalid,
       "submit nlp/llama-sft: 409 from gateway: The image='x' does not exist."},
      {422,
       R"({"detail":[{"loc":["body","n_workers"],"msg":"ensure this value is greater than 0","type":"value_error"}]})",
       ErrorKind::kInvalid,
       "submit nlp/llama-sft: 422 from gateway: body.n_workers: ensure this value is greater than "
       "0"},
      {500, R"({"error_code":500,"error_message":"Oops, something went wrong"})",
       ErrorKind::kAmbiguous, "submit nlp/llama-sft: 500 from gateway: Oops, something went wrong"},
      {502, "<html>bad gateway</html>", ErrorKind::kAmbiguous,
       "submit nlp/llama-sft: 502 from gateway: <html>bad gateway</html>"},
  };
  for (const auto& tc : cases) {
    transport_ = std::make_shared<FakeHttpTransport>();
    options_.transport = transport_;
    transport_->PushResponse(tc.status, tc.body);
    auto c = Client();
    auto out = c->Submit(Req());
    ASSERT_FALSE(out.ok()) << tc.status;
    EXPECT_EQ(out.error().kind, tc.kind) << tc.status << " " << ErrorKindName(out.error().kind);
    EXPECT_EQ(out.error().message, tc.message);
    EXPECT_EQ(out.error().http_status, tc.status);
    EXPECT_EQ(transport_->requests().size(), 1u) << "submit re-sent on " << tc.status;
  }
}

TEST_F(GatewayClientTest, Submit422CarriesFieldErrors) {
  transport_->PushResponse(
      422,
      R"({"detail":[{"loc":["body","foo"],"msg":"extra fields not permitted","type":"x"},{"loc":["body","region"],"msg":"bad","type":"y"}]})");
  auto out = Client()->Submit(Req());
  ASSERT_TRUE(out.Is(ErrorKind::kInvalid));
  EXPECT_EQ(out.error().field_errors,
            (std::vector<std::string>{"body.foo: extra fields not permitted", "body.region: bad"}));
}

TEST_F(GatewayClientTest, SubmitTimeoutAfterSendIsAmbiguousAndNotResent) {
  transport_->Push(FakeHttpTransport::NoAnswer("Timeout"));
  transport_->PushResponse(200, R"({"job_name":"dup"})");  // must never be used
  auto out = Client()->Submit(Req());
  ASSERT_TRUE(out.Is(ErrorKind::kAmbiguous)) << out.error().message;
  EXPECT_EQ(transport_->requests().size(), 1u);
  EXPECT_EQ(transport_->pending(), 1u);
  EXPECT_EQ(out.error().http_status, 0);
}

TEST_F(GatewayClientTest, SubmitSuccessWithGarbageBodyIsAmbiguous) {
  transport_->PushResponse(200, "oops");
  auto out = Client()->Submit(Req());
  EXPECT_TRUE(out.Is(ErrorKind::kAmbiguous));
  EXPECT_EQ(transport_->requests().size(), 1u);
}

TEST_F(GatewayClientTest, SubmitRetriedWhenNotSentAnd429) {
  transport_->Push(FakeHttpTransport::NotSent());
  transport_->PushResponse(429, R"({"error_code":429,"error_message":"Rate limit exceeded"})",
                           {{"Retry-After", "3"}});
  transport_->PushResponse(200, R"({"job_name":"lm-1"})");
  auto out = Client()->Submit(Req());
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "lm-1");
  EXPECT_EQ(transport_->requests().size(), 3u);
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_GE(sleeps_[0], milliseconds(100));  // backoff after not-sent: [base/2, base]
  EXPECT_LE(sleeps_[0], milliseconds(200));
  EXPECT_EQ(sleeps_[1], seconds(3));  // Retry-After honoured exactly
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_TRUE(records_[0].transport_error);
  EXPECT_TRUE(records_[1].throttled);
  EXPECT_EQ(records_[1].code, 429);
}

TEST_F(GatewayClientTest, LongRetryAfterIsReturnedNotSlept) {
  transport_->PushResponse(429, "slow down", {{"Retry-After", "120"}});
  auto out = Client()->Submit(Req());
  ASSERT_TRUE(out.Is(ErrorKind::kThrottled));
  EXPECT_EQ(out.error().retry_after, seconds(120));
  EXPECT_TRUE(sleeps_.empty());
}

TEST_F(GatewayClientTest, RetryAfterHttpDate) {
  // FakeClock starts at 1'700'000'000 = Tue, 14 Nov 2023 22:13:20 GMT.
  transport_->PushResponse(503, "busy", {{"Retry-After", "Tue, 14 Nov 2023 22:13:25 GMT"}});
  transport_->PushResponse(200, R"({"job_name":"j","status":"job not found"})");
  auto out = Client()->Get("j");
  EXPECT_TRUE(out.Is(ErrorKind::kNotFound));
  ASSERT_EQ(sleeps_.size(), 1u);
  EXPECT_EQ(sleeps_[0], seconds(5));
}

TEST_F(GatewayClientTest, ReadsRetryWithExponentialBackoffThenGiveUp) {
  options_.max_attempts = 4;
  for (int i = 0; i < 4; ++i)
    transport_->PushResponse(500, R"({"error_code":500,"error_message":"Oops"})");
  auto out = Client()->Get("j1");
  ASSERT_TRUE(out.Is(ErrorKind::kUnavailable));
  EXPECT_EQ(out.error().message, "get j1: 500 from gateway: Oops");
  EXPECT_EQ(transport_->requests().size(), 4u);
  ASSERT_EQ(sleeps_.size(), 3u);
  for (size_t i = 0; i < sleeps_.size(); ++i) {
    Duration full = milliseconds(200) * (1 << i);
    EXPECT_GE(sleeps_[i], full / 2) << i;
    EXPECT_LE(sleeps_[i], full) << i;
  }
}

TEST_F(GatewayClientTest, ReadsRetryAfterNoAnswer) {
  transport_->Push(FakeHttpTransport::NoAnswer());
  transport_->PushResponse(200, R"({"uid":"u","job_name":"j1","status":"running","created_at":10,
      "pending_at":10,"running_at":20,"completed_at":0})");
  auto out = Client()->Get("j1");
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->status, RemoteStatus::kRunning);
  EXPECT_EQ(transport_->requests().size(), 2u);
}

TEST_F(GatewayClientTest, GetFoundNotFoundAnd404) {
  transport_->PushResponse(200, R"({"uid":"u","job_name":"j1","status":"completed","created_at":10,
      "pending_at":10,"running_at":20,"completed_at":30})");
  transport_->PushResponse(200, R"({"job_name":"j2","status":"job not found","error_code":0,
      "error_message":"job not found"})");
  transport_->PushResponse(404, R"({"detail":"Not Found"})");
  auto c = Client();
  auto found = c->Get("j1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->status, RemoteStatus::kCompleted);
  EXPECT_EQ(found->completed, TimePoint(seconds(30)));
  auto missing = c->Get("j2");
  ASSERT_TRUE(missing.Is(ErrorKind::kNotFound));
  EXPECT_EQ(missing.error().message, "get j2: job not found");
  EXPECT_TRUE(c->Get("j3").Is(ErrorKind::kNotFound));
  EXPECT_EQ(transport_->requests()[0].target, "/public/v2/jobs/j1");
  EXPECT_EQ(transport_->requests()[0].method, "GET");
}

TEST_F(GatewayClientTest, JobNamesAreEscapedInPaths) {
  transport_->PushResponse(200, R"({"job_name":"a b/c","status":"job not found"})");
  (void)Client()->Get("a b/c");
  EXPECT_EQ(transport_->requests()[0].target, "/public/v2/jobs/a%20b%2Fc");
}

TEST_F(GatewayClientTest, ListPagesUntilCount) {
  // 13 jobs, page size 5: offsets 0, 5, 10.
  transport_->SetHandler([](const FakeHttpTransport::Request& r) {
    auto off_pos = r.target.find("offset=");
    int offset = std::stoi(r.target.substr(off_pos + 7));
    std::string items;
    for (int i = offset; i < std::min(offset + 5, 13); ++i) {
      if (!items.empty()) items += ",";
      items += JobItem("job-" + std::to_string(i), i % 2 ? "Completed" : "Pending");
    }
    return FakeHttpTransport::Response(200, R"({"count":13,"jobs":[)" + items + "]}");
  });
  ListOptions opts;
  opts.region = "SR003";
  opts.statuses = {RemoteStatus::kRunning, RemoteStatus::kPending};
  opts.page_size = 5;
  auto out = Client()->List(opts);
  ASSERT_TRUE(out.ok()) << out.error().message;
  ASSERT_EQ(out->size(), 13u);
  EXPECT_EQ((*out)[12].name, "job-12");
  EXPECT_EQ((*out)[1].status, RemoteStatus::kCompleted);
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].target,
            "/public/v2/jobs?region=SR003&status=Running&status=Pending&limit=5&offset=0");
  EXPECT_EQ(reqs[2].target,
            "/public/v2/jobs?region=SR003&status=Running&status=Pending&limit=5&offset=10");
}

TEST_F(GatewayClientTest, ListStopsOnEmptyPageAndReportsBadBody) {
  transport_->PushResponse(200,
                           R"({"count":9,"jobs":[)" + JobItem("a") + "," + JobItem("b") + "]}");
  transport_->PushResponse(200, R"({"count":9,"jobs":[]})");
  ListOptions opts;
  opts.region = "SR003";
  opts.page_size = 2;
  auto c = Client();
  auto out = c->List(opts);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 2u);
  EXPECT_EQ(transport_->requests().size(), 2u);
  transport_->PushResponse(200, R"({"jobs":[]})");
  auto bad = c->List(opts);
  ASSERT_TRUE(bad.Is(ErrorKind::kInternal));
  EXPECT_EQ(bad.error().message, "list SR003: list answer: field count missing or not an integer");
}

TEST_F(GatewayClientTest, CancelDeletedNotFoundAndRetried) {
  transport_->PushResponse(200, R"({"job_name":"j","deleted_at":"1","status":"deleted"})");
  transport_->PushResponse(200, R"({"job_name":"j","deleted_at":"1","status":"job not found",
      "error_message":"job not found"})");
  transport_->Push(FakeHttpTransport::NoAnswer());  // DELETE is idempotent: retried
  transport_->PushResponse(200, R"({"job_name":"j","deleted_at":"1","status":"deleted"})");
  auto c = Client();
  auto a = c->Cancel("j", "SR003");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, CancelResult::kDeleted);
  auto b = c->Cancel("j", "SR003");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, CancelResult::kNotFound);
  auto d = c->Cancel("j", "SR003");
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(*d, CancelResult::kDeleted);
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].target, "/public/v2/jobs/j?region=SR003");
}

TEST_F(GatewayClientTest, RestartOutcomes) {
  transport_->PushResponse(200, R"({"job_name":"j-new","status":"Pending","created_at":5})");
  transport_->PushResponse(404, R"({"error_code":1,"error_message":"not found"})");
  transport_->Push(FakeHttpTransport::NoAnswer());
  auto c = Client();
  auto ok = c->Restart("j");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "j-new");
  EXPECT_EQ(json::parse(transport_->requests()[0].body), json({{"job_name", "j"}}));
  EXPECT_EQ(transport_->requests()[0].target, "/public/v2/jobs/restart");
  auto nf = c->Restart("gone");
  ASSERT_TRUE(nf.Is(ErrorKind::kNotFound));
  EXPECT_EQ(nf.error().message, "restart gone: 404 from gateway: not found (code 1)");
  EXPECT_TRUE(c->Restart("j").Is(ErrorKind::kAmbiguous));
  EXPECT_EQ(transport_->requests().size(), 3u);
}

TEST_F(GatewayClientTest, LogsTextAndErrors) {
  transport_->PushResponse(200, "Very\nlong\nstream\n", {{"Content-Type", "text/plain"}});
  transport_->PushResponse(400, R"({"error_code":400,"error_message":"Bad request error reason"})");
  auto c = Client();
  auto logs = c->Logs("j", "SR003", 50);
  ASSERT_TRUE(logs.ok());
  EXPECT_EQ(*logs, "Very\nlong\nstream\n");
  EXPECT_EQ(transport_->requests()[0].target, "/public/v2/jobs/j/logs?tail=50&region=SR003");
  EXPECT_TRUE(c->Logs("j", "", 0).Is(ErrorKind::kInvalid));
  EXPECT_EQ(transport_->requests()[1].target, "/public/v2/jobs/j/logs?tail=0");
}

// --- service_auth ------------------------------------------------------------

class ServiceAuthTest : public GatewayClientTest {
 protected:
  void SetUp() override {
    GatewayClientTest::SetUp();
    options_.credentials.access_token.clear();
    options_.credentials.client_id = "client-id-1";
    options_.credentials.client_secret = kClientSecret;
    transport_->SetHandler([this](const FakeHttpTransport::Request& r) {
      if (r.target == "/public/v2/service_auth") {
        ++auth_calls_;
        std::string tok = "bearer-SECRET-" + std::to_string(auth_calls_);
        return FakeHttpTransport::Response(
            200,
            json({{"token", {{"access_token", tok}, {"token_type", "Bearer"}, {"expires_in", 100}}},
                  {"status", "ok"}})
                .dump());
      }
      std::string auth = FindHeader(r.headers, "Authorization");
      if (auth != "Bearer bearer-SECRET-" + std::to_string(auth_calls_) || reject_next_) {
        reject_next_ = false;
        return FakeHttpTransport::Response(
            401, R"({"error_code":20,"error_message":"access_token expired"})");
      }
      return FakeHttpTransport::Response(200, R"({"job_name":"j","status":"job not found"})");
    });
  }
  int auth_calls_ = 0;
  bool reject_next_ = false;
};

TEST_F(ServiceAuthTest, TokenFetchedOnceAndRefreshedBeforeExpiry) {
  auto c = Client();
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(auth_calls_, 1);
  auto reqs = transport_->requests();
  EXPECT_EQ(json::parse(reqs[0].body),
            json({{"client_id", "client-id-1"}, {"client_secret", kClientSecret}}));
  EXPECT_EQ(FindHeader(reqs[0].headers, "x-workspace-id"), "");
  clock_.Advance(seconds(79));
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(auth_calls_, 1);
  clock_.Advance(seconds(2));  // past 80 % of expires_in=100s
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(auth_calls_, 2);
  EXPECT_EQ(FindHeader(transport_->requests().back().headers, "Authorization"),
            "Bearer bearer-SECRET-2");
}

TEST_F(ServiceAuthTest, RefreshedOnceOn401ThenResent) {
  auto c = Client();
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  reject_next_ = true;
  transport_->SetHandler([this](const FakeHttpTransport::Request& r) {
    if (r.target == "/public/v2/service_auth") {
      ++auth_calls_;
      return FakeHttpTransport::Response(
          200,
          json({{"token", {{"access_token", "bearer-SECRET-x"}, {"expires_in", 100}}}}).dump());
    }
    if (reject_next_) {
      reject_next_ = false;
      return FakeHttpTransport::Response(
          401, R"({"error_code":20,"error_message":"access_token expired"})");
    }
    return FakeHttpTransport::Response(200, R"({"job_name":"lm-2"})");
  });
  auto out = c->Submit(Req());  // 401 before processing: refresh + one re-send
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, "lm-2");
  EXPECT_EQ(auth_calls_, 2);
  auto reqs = transport_->requests();
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_EQ(FindHeader(reqs.back().headers, "Authorization"), "Bearer bearer-SECRET-x");
}

TEST_F(ServiceAuthTest, Persistent401IsUnauthorizedWithoutSecrets) {
  transport_->SetHandler([this](const FakeHttpTransport::Request& r) {
    if (r.target == "/public/v2/service_auth") {
      ++auth_calls_;
      return FakeHttpTransport::Response(
          200,
          json({{"token", {{"access_token", "bearer-SECRET-y"}, {"expires_in", 100}}}}).dump());
    }
    return FakeHttpTransport::Response(
        401, std::string(
                 R"({"error_code":21,"error_message":"invalid access_token bearer-SECRET-y for )") +
                 kWorkspace + "\"}");
  });
  auto out = Client()->Submit(Req());
  ASSERT_TRUE(out.Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(auth_calls_, 2);  // initial + one refresh, no more
  ExpectNoSecrets(out.error().message);
  EXPECT_EQ(out.error().message.find("bearer-SECRET-y"), std::string::npos) << out.error().message;
}

TEST_F(ServiceAuthTest, BadClientCredentials) {
  transport_->SetHandler([](const FakeHttpTransport::Request&) {
    return FakeHttpTransport::Response(
        401, R"({"error_code":1,"error_message":"invalid user credentials"})");
  });
  auto out = Client()->Get("j");
  ASSERT_TRUE(out.Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(out.error().message,
            "get j: service_auth: 401 from gateway: invalid user credentials (code 1)");
  EXPECT_EQ(transport_->requests().size(), 1u);
}

// Issue 11: a submit whose token could not be obtained never reached
// POST /jobs, so it must not be reported as possibly processed.
TEST_F(ServiceAuthTest, MalformedTokenAnswerMakesSubmitNotSentNeverAmbiguous) {
  for (const std::string& body : {std::string("<html>oops</html>"), std::string("{}"),
                                  std::string(R"({"token":{"access_token":""}})")}) {
    transport_->SetHandler([&body](const FakeHttpTransport::Request& r) {
      if (r.target == "/public/v2/service_auth") return FakeHttpTransport::Response(200, body);
      return FakeHttpTransport::Response(200, R"({"job_name":"must-not-be-sent"})");
    });
    auto before = transport_->requests().size();
    auto out = Client()->Submit(Req());
    ASSERT_FALSE(out.ok()) << body;
    EXPECT_EQ(out.error().kind, ErrorKind::kUnavailable) << body << ": " << out.error().message;
    EXPECT_NE(out.error().message.find("service_auth"), std::string::npos) << out.error().message;
    auto reqs = transport_->requests();
    for (size_t i = before; i < reqs.size(); ++i) {
      EXPECT_EQ(reqs[i].target, "/public/v2/service_auth") << "POST /jobs was sent";
    }
  }
}

TEST_F(ServiceAuthTest, TokenEndpointRefusalsAreNotSentKinds) {
  int code = 0;
  transport_->SetHandler([&code](const FakeHttpTransport::Request& r) {
    if (r.target == "/public/v2/service_auth") {
      return FakeHttpTransport::Response(code, R"({"error_code":1,"error_message":"no"})");
    }
    return FakeHttpTransport::Response(200, R"({"job_name":"must-not-be-sent"})");
  });
  // 422 from the token endpoint judges the credentials, not the job: never
  // a terminal kInvalid for the submit. 5xx: retried, then not-sent.
  for (auto [c, kind] :
       {std::pair{422, ErrorKind::kUnauthorized}, std::pair{500, ErrorKind::kUnavailable},
        std::pair{404, ErrorKind::kUnavailable}}) {
    code = c;
    auto out = Client()->Submit(Req());
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().kind, kind) << c << ": " << out.error().message;
  }
  for (const auto& r : transport_->requests()) EXPECT_EQ(r.target, "/public/v2/service_auth");
}

// --- answer size caps -----------------------------------------------------------

TEST_F(GatewayClientTest, AnswerCapsPerEndpoint) {
  transport_->SetHandler([](const FakeHttpTransport::Request& r) {
    if (r.target.rfind("/public/v2/jobs?", 0) == 0) {
      return FakeHttpTransport::Response(200, R"({"jobs":[],"count":0})");
    }
    return FakeHttpTransport::Response(200, R"({"job_name":"j","status":"Running"})");
  });
  auto c = Client();
  (void)c->List({"SR003", {}, 100});
  (void)c->Get("j");
  (void)c->Submit(Req());
  (void)c->Logs("j", "SR003", 10);
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 4u);
  EXPECT_EQ(reqs[0].max_answer_bytes, size_t{64} << 20);  // list page
  EXPECT_EQ(reqs[1].max_answer_bytes, size_t{1} << 20);
  EXPECT_EQ(reqs[2].max_answer_bytes, size_t{1} << 20);
  EXPECT_EQ(reqs[3].max_answer_bytes, size_t{64} << 20);  // a log tail
}

TEST_F(GatewayClientTest, OversizedAnswerIsAFailedCallNotRetried) {
  FakeHttpTransport::Exchange big = FakeHttpTransport::NoAnswer("answer exceeds the limit");
  big.too_large = true;
  transport_->Push(big);  // a retry would find no script and fail as not sent
  auto list = Client()->List({"SR003", {}, 100});
  ASSERT_TRUE(list.Is(ErrorKind::kInternal)) << (list.ok() ? "ok" : list.error().message);
  EXPECT_NE(list.error().message.find("too large"), std::string::npos) << list.error().message;
  EXPECT_EQ(transport_->requests().size(), 1u);

  // A submit whose request went out: the job may exist.
  transport_->Push(big);
  auto sub = Client()->Submit(Req());
  ASSERT_TRUE(sub.Is(ErrorKind::kAmbiguous)) << (sub.ok() ? "ok" : sub.error().message);
}

// --- misc ---------------------------------------------------------------------

TEST_F(GatewayClientTest, TokenBucketDelaysBeyondBurst) {
  options_.rate_per_second = 10;
  options_.burst = 2;
  transport_->SetHandler([](const FakeHttpTransport::Request&) {
    return FakeHttpTransport::Response(200, R"({"job_name":"j","status":"job not found"})");
  });
  auto c = Client();
  for (int i = 0; i < 4; ++i) (void)c->Get("j");
  // Two free, then each next one waits 1/rate (the fake sleep advances time).
  ASSERT_EQ(sleeps_.size(), 2u);
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(sleeps_[0]), milliseconds(100));
  EXPECT_EQ(std::chrono::duration_cast<milliseconds>(sleeps_[1]), milliseconds(100));
  EXPECT_EQ(records_[2].rate_limit_wait, sleeps_[0]);
}

TEST_F(GatewayClientTest, ErrorsNeverCarryCredentials) {
  transport_->Push(
      FakeHttpTransport::NotSent(std::string("refused, header x-api-key: ") + kApiKey));
  transport_->Push(FakeHttpTransport::NotSent(kToken));
  options_.max_attempts = 2;
  auto out = Client()->Get("j");
  ASSERT_TRUE(out.Is(ErrorKind::kUnavailable));
  ExpectNoSecrets(out.error().message);
  transport_->PushResponse(
      422, std::string(R"({"detail":[{"loc":["header","x-workspace-id"],"msg":")") + kWorkspace +
               R"( unknown","type":"x"}]})");
  auto bad = Client()->Submit(Req());
  ASSERT_TRUE(bad.Is(ErrorKind::kInvalid));
  ExpectNoSecrets(bad.error().message);
  for (const auto& f : bad.error().field_errors) ExpectNoSecrets(f);
}

TEST(MakeGatewayClientTest, RejectsInsecureAndMissingCredentials) {
  ClientOptions o;
  o.credentials.workspace_id = "ws";
  o.credentials.api_key = "k";
  o.base_url = "http://example.com";
  auto r = MakeGatewayClient(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("loopback"), std::string::npos);
  o.base_url = "ftp://127.0.0.1";
  EXPECT_FALSE(MakeGatewayClient(o).ok());
  o.base_url = "http://127.0.0.1:1";
  EXPECT_TRUE(MakeGatewayClient(o).ok());
  o.base_url = "http://[::1]:1";
  EXPECT_TRUE(MakeGatewayClient(o).ok());
  o.credentials.api_key.clear();
  EXPECT_FALSE(MakeGatewayClient(o).ok());
}

// --- credential files followed --------------------------------------------

// Fixing a wrong key file recovers without a restart: the client re-reads
// the files (checked at most once per recheck interval) and a service_auth
// token issued for the old secret is not reused.
TEST_F(GatewayClientTest, FollowsChangedCredentialFiles) {
  namespace fs = std::filesystem;
  fs::path dir =
      fs::temp_directory_path() /
      ("mlspace-credfiles-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(dir);
  fs::create_directories(dir / "mlspace");
  auto write = [&](const std::string& name, const std::string& text) {
    std::string tmp = (dir / "mlspace" / (name + ".tmp")).string();
    std::ofstream(tmp) << text;
    fs::rename(tmp, dir / "mlspace" / name);  // atomic, like a Secret update
  };
  write("workspace-id", "ws-files-1");
  write("api-key", "key-wrong-1");
  auto files = CredentialFiles::Load([](const std::string&) { return std::nullopt; }, dir.string(),
                                     clock_, seconds(1));
  ASSERT_TRUE(files.ok()) << files.status().message();
  options_.credentials = {};
  options_.credential_files = *files;
  transport_->SetHandler([](const FakeHttpTransport::Request& r) {
    if (FindHeader(r.headers, "x-api-key") != "key-right-2") {
      return FakeHttpTransport::Response(
          401, R"({"error_code":10,"error_message":"Invalid api-key for workspace"})");
    }
    return FakeHttpTransport::Response(200, R"({"job_name":"j","status":"job not found"})");
  });
  auto c = Client();
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kUnauthorized));
  write("api-key", "key-right-2\n");
  // Not re-checked within the interval: still the old key.
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kUnauthorized));
  clock_.Advance(seconds(1));
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  auto reqs = transport_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(FindHeader(reqs[2].headers, "x-api-key"), "key-right-2");
  EXPECT_EQ(FindHeader(reqs[2].headers, "x-workspace-id"), "ws-files-1");
  // The new value is a registered secret too.
  EXPECT_EQ(Redact("k=key-right-2"), "k=***");

  // A file caught half-written (empty) keeps the working credentials.
  write("api-key", "");
  clock_.Advance(seconds(1));
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(FindHeader(transport_->requests().back().headers, "x-api-key"), "key-right-2");
  fs::remove_all(dir);
}

TEST_F(ServiceAuthTest, ChangedClientSecretFileDropsTheCachedToken) {
  namespace fs = std::filesystem;
  fs::path dir =
      fs::temp_directory_path() /
      ("mlspace-credfiles-sa-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  fs::remove_all(dir);
  fs::create_directories(dir / "mlspace");
  std::ofstream(dir / "mlspace" / "workspace-id") << "ws-sa-1";
  std::ofstream(dir / "mlspace" / "client-id") << "client-id-1";
  std::ofstream(dir / "mlspace" / "client-secret") << "cs-file-SECRET-1";
  auto files = CredentialFiles::Load([](const std::string&) { return std::nullopt; }, dir.string(),
                                     clock_, seconds(1));
  ASSERT_TRUE(files.ok()) << files.status().message();
  options_.credentials = {};
  options_.credential_files = *files;
  auto c = Client();
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(auth_calls_, 1);
  {
    std::ofstream(dir / "mlspace" / "client-secret.tmp") << "cs-file-SECRET-2";
    fs::rename(dir / "mlspace" / "client-secret.tmp", dir / "mlspace" / "client-secret");
  }
  clock_.Advance(seconds(1));
  EXPECT_TRUE(c->Get("j").Is(ErrorKind::kNotFound));
  EXPECT_EQ(auth_calls_, 2);  // a token for the new secret, not the cached one
  std::string auth_body;
  for (const auto& r : transport_->requests()) {
    if (r.target == "/public/v2/service_auth") auth_body = r.body;
  }
  EXPECT_EQ(json::parse(auth_body)["client_secret"], "cs-file-SECRET-2");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace mlspace::gateway::http
