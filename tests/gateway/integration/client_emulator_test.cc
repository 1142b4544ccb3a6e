// GatewayClient against an in-process EmulatorServer over real loopback
// sockets: round trips, both auth modes, the emulator's rate limit and every
// fault it injects. The emulator and the simulated jobs run on a FakeClock
// that the client's sleep hook advances, so Retry-After waits, token expiry
// and job progress cost no real time.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controller/gateway/http/gateway_client.h"
#include "controller/gateway/local/emulator_server.h"
#include "controller/gateway/local/sim_gateway.h"
#include "tests/fakes/fake_clock.h"
#include "tests/gateway/integration/submit_corpus.h"

namespace mlspace::gateway::integration {
namespace {

using namespace std::chrono_literals;
using emulator::EmulatorOptions;
using emulator::EmulatorServer;
using emulator::FaultConfig;
using emulator::ParseFaultRule;
using http::ClientOptions;
using http::GatewayClient;
using http::MakeGatewayClient;

constexpr char kClientId[] = "sa-integration";
constexpr char kClientSecret[] = "s3cret-integration-Zq9";
constexpr char kApiKey[] = "ak-integration-Xy7";
constexpr char kWorkspace[] = "ws-integration";

emulator::FaultRule Rule(const char* text) {
  auto r = ParseFaultRule(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? *r : emulator::FaultRule{};
}

uint64_t StatU(const nlohmann::json& stats, const char* group, const std::string& key) {
  if (!stats.contains(group) || !stats[group].contains(key)) return 0;
  return stats[group][key].get<uint64_t>();
}

class ClientEmulatorTest : public ::testing::Test {
 protected:
  void StartEmulator(EmulatorOptions opts = {}) {
    SimGatewayOptions so;
    so.pending_duration = 10s;
    so.run_duration = 60s;
    sim_ = std::make_unique<SimulatedGateway>(so, emu_clock_);
    opts.listen = "127.0.0.1:0";
    if (opts.client_id.empty()) {
      opts.client_id = kClientId;
      opts.client_secret = kClientSecret;
    }
    if (opts.api_key.empty()) opts.api_key = kApiKey;
    opts.workspace_id = kWorkspace;
    if (!rate_limit_set_) opts.rate_limit_per_minute = 0;
    server_ = std::make_unique<EmulatorServer>(opts, *sim_, emu_clock_);
    ASSERT_TRUE(server_->Start().ok());
  }

  ClientOptions BaseClientOptions() {
    ClientOptions o;
    o.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
    o.credentials.client_id = kClientId;
    o.credentials.client_secret = kClientSecret;
    o.credentials.workspace_id = kWorkspace;
    o.rate_per_second = 1e6;  // the emulator's limit is under test, not ours
    o.burst = 1e6;
    o.request_timeout = 5s;
    o.connect_timeout = 2s;
    o.jitter_seed = 7;
    o.clock = &client_clock_;
    o.sleep = [this](Duration d) {
      std::lock_guard lock(mu_);
      sleeps_.push_back(d);
      emu_clock_.Advance(d);
      client_clock_.Advance(d);
    };
    return o;
  }

  std::unique_ptr<GatewayClient> Client(const ClientOptions& o) {
    auto c = MakeGatewayClient(o);
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  std::unique_ptr<GatewayClient> Client() { return Client(BaseClientOptions()); }

  std::vector<Duration> Sleeps() {
    std::lock_guard lock(mu_);
    return sleeps_;
  }

  void ClearSleeps() {
    std::lock_guard lock(mu_);
    sleeps_.clear();
  }

  void SetFaults(const FaultConfig& f) { server_->SetFaults(f); }

  std::optional<RemoteJob> FindByMarker(GatewayClient& c, const std::string& marker) {
    auto jobs = c.List(ListOptions{"DGX2-MT", {}, 6000});
    EXPECT_TRUE(jobs.ok()) << jobs.error().message;
    if (!jobs.ok()) return std::nullopt;
    for (const auto& j : *jobs) {
      if (j.job_desc == marker) return j;
    }
    return std::nullopt;
  }

  testing::FakeClock emu_clock_;
  testing::FakeClock client_clock_;
  bool rate_limit_set_ = false;
  std::unique_ptr<SimulatedGateway> sim_;
  std::unique_ptr<EmulatorServer> server_;
  std::mutex mu_;
  std::vector<Duration> sleeps_;
};

TEST_F(ClientEmulatorTest, SubmitGetListLogsCancelRestartRoundTrip) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);

  auto name = c->Submit(BaseRequest("mlspace:ns/a:gen=1"));
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(name->rfind("sj-", 0), 0u) << *name;

  auto got = c->Get(*name);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->name, *name);
  EXPECT_EQ(got->status, RemoteStatus::kPending);

  // The simulated job advances with the emulator's clock.
  emu_clock_.Advance(11s);
  got = c->Get(*name);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RemoteStatus::kRunning);

  auto listed = FindByMarker(*c, "mlspace:ns/a:gen=1");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->name, *name);
  EXPECT_EQ(listed->status, RemoteStatus::kRunning);
  EXPECT_EQ(listed->instance_type, "a100.1gpu");
  EXPECT_TRUE(listed->created.has_value());

  auto logs = c->Logs(*name, "DGX2-MT", 0);
  ASSERT_TRUE(logs.ok()) << logs.error().message;
  EXPECT_FALSE(logs->empty());

  auto restarted = c->Restart(*name);
  ASSERT_TRUE(restarted.ok()) << restarted.error().message;
  EXPECT_NE(*restarted, *name);
  EXPECT_TRUE(c->Get(*restarted).ok());

  auto cancelled = c->Cancel(*name, "DGX2-MT");
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
  EXPECT_EQ(*cancelled, CancelResult::kDeleted);
  got = c->Get(*name);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RemoteStatus::kStopped);

  emu_clock_.Advance(120s);
  got = c->Get(*restarted);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, RemoteStatus::kCompleted);
}

TEST_F(ClientEmulatorTest, UnknownJobsAreNotFound) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->Get("sj-doesnotexist").Is(ErrorKind::kNotFound));
  auto cancel = c->Cancel("sj-doesnotexist", "DGX2-MT");
  ASSERT_TRUE(cancel.ok()) << cancel.error().message;
  EXPECT_EQ(*cancel, CancelResult::kNotFound);
  EXPECT_TRUE(c->Restart("sj-doesnotexist").Is(ErrorKind::kNotFound));
  EXPECT_FALSE(c->Logs("sj-doesnotexist", "DGX2-MT", 10).ok());
}

TEST_F(ClientEmulatorTest, FailedSimulatedJobAndStatusFilter) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  auto ok_req = BaseRequest("mlspace:ns/ok");
  auto bad_req = BaseRequest("mlspace:ns/bad");
  bad_req.env_variables["MLSPACE_SIM_RESULT"] = "failed";
  auto ok_name = c->Submit(ok_req);
  auto bad_name = c->Submit(bad_req);
  ASSERT_TRUE(ok_name.ok() && bad_name.ok());
  emu_clock_.Advance(120s);
  auto failed = c->List(ListOptions{"DGX2-MT", {RemoteStatus::kFailed}, 6000});
  ASSERT_TRUE(failed.ok()) << failed.error().message;
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].name, *bad_name);
  auto done =
      c->List(ListOptions{"DGX2-MT", {RemoteStatus::kCompleted, RemoteStatus::kFailed}, 6000});
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->size(), 2u);
  auto pending = c->List(ListOptions{"DGX2-MT", {RemoteStatus::kPending}, 6000});
  ASSERT_TRUE(pending.ok());
  EXPECT_TRUE(pending->empty());
}

TEST_F(ClientEmulatorTest, ListPagesToTheEnd) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  std::vector<std::string> names;
  for (int i = 0; i < 25; ++i) {
    auto n = c->Submit(BaseRequest("mlspace:page/" + std::to_string(i)));
    ASSERT_TRUE(n.ok()) << n.error().message;
    names.push_back(*n);
  }
  const uint64_t lists_before = StatU(server_->Stats(), "by_op", "list");
  auto all = c->List(ListOptions{"DGX2-MT", {}, 10});
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 25u);
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ((*all)[i].name, names[i]);
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "list") - lists_before, 3u);  // 10 + 10 + 5
}

TEST_F(ClientEmulatorTest, EveryCorpusRequestIsAcceptedByTheEmulator) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  for (const auto& r : SubmitCorpus()) {
    auto n = c->Submit(r);
    EXPECT_TRUE(n.ok()) << r.job_desc.value_or("<bare>") << ": " << n.error().message;
  }
  EXPECT_EQ(sim_->size(), SubmitCorpus().size());
}

TEST_F(ClientEmulatorTest, InvalidRequestIsRefusedLocallyAndNeverSent) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  auto r = BaseRequest("mlspace:ns/x");
  r.n_workers = 0;
  auto res = c->Submit(r);
  ASSERT_TRUE(res.Is(ErrorKind::kInvalid));
  EXPECT_NE(res.error().message.find("n_workers"), std::string::npos) << res.error().message;
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "submit"), 0u);
}

// --- auth --------------------------------------------------------------------

TEST_F(ClientEmulatorTest, ServiceAuthTokenIsFetchedOnceAndReused) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c->Submit(BaseRequest("m")).ok());
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "auth"), 1u);
}

TEST_F(ClientEmulatorTest, TokenRenewedBeforeExpiry) {
  EmulatorOptions eo;
  eo.token_ttl = 100s;
  StartEmulator(eo);
  auto c = Client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-x").Is(ErrorKind::kNotFound));
  client_clock_.Advance(85s);  // past 80 % of expires_in
  emu_clock_.Advance(85s);
  ASSERT_TRUE(c->Get("sj-x").Is(ErrorKind::kNotFound));
  const auto stats = server_->Stats();
  EXPECT_EQ(StatU(stats, "by_op", "auth"), 2u);
  EXPECT_EQ(StatU(stats, "by_status", "401"), 0u);
}

TEST_F(ClientEmulatorTest, ExpiredTokenAnswered401IsRefreshedAndTheSubmitResentOnce) {
  EmulatorOptions eo;
  eo.token_ttl = 100s;
  StartEmulator(eo);
  auto c = Client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-x").Is(ErrorKind::kNotFound));
  // Only the service sees time pass: it expires the token the client
  // still believes in, answers 401, and processes nothing.
  emu_clock_.Advance(101s);
  auto n = c->Submit(BaseRequest("mlspace:after-401"));
  ASSERT_TRUE(n.ok()) << n.error().message;
  const auto stats = server_->Stats();
  EXPECT_EQ(StatU(stats, "by_op", "auth"), 2u);
  EXPECT_EQ(StatU(stats, "by_status", "401"), 1u);
  EXPECT_EQ(stats["jobs_created"].get<uint64_t>(), 1u);
}

TEST_F(ClientEmulatorTest, WrongClientSecretIsUnauthorizedAndNotLeaked) {
  StartEmulator();
  auto o = BaseClientOptions();
  o.credentials.client_secret = "wrong-secret-Qv3k";
  auto c = Client(o);
  ASSERT_TRUE(c);
  auto res = c->Submit(BaseRequest("m"));
  ASSERT_TRUE(res.Is(ErrorKind::kUnauthorized)) << (res.ok() ? "ok" : res.error().message);
  EXPECT_EQ(res.error().message.find("wrong-secret-Qv3k"), std::string::npos);
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "submit"), 0u);
}

TEST_F(ClientEmulatorTest, StaticTokenAndApiKey) {
  StartEmulator();
  // A token issued by the emulator's service_auth, used as a static token.
  auto issuer = Client();
  ASSERT_TRUE(issuer);
  ASSERT_TRUE(issuer->Get("sj-x").Is(ErrorKind::kNotFound));
  // Read the issued token back through a transport-level call.
  http::PocoTransportOptions to;
  to.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
  auto t = http::PocoHttpTransport::Create(to);
  ASSERT_TRUE(t.ok());
  http::HttpRequest auth;
  auth.method = "POST";
  auth.target = "/public/v2/service_auth";
  auth.headers = {{"Content-Type", "application/json"}};
  auth.body = ServiceAccountToJson(kClientId, kClientSecret).dump();
  auto ex = (*t)->Send(auth);
  ASSERT_EQ(ex.kind, http::ExchangeKind::kResponse);
  auto token = ParseServiceAuthResponse(ex.response.body);
  ASSERT_TRUE(token.ok()) << ex.response.body;

  auto o = BaseClientOptions();
  o.credentials.client_id.clear();
  o.credentials.client_secret.clear();
  o.credentials.access_token = token->access_token;
  o.credentials.api_key = kApiKey;
  auto with_token = Client(o);
  ASSERT_TRUE(with_token);
  auto n = with_token->Submit(BaseRequest("mlspace:static-token"));
  ASSERT_TRUE(n.ok()) << n.error().message;

  o.credentials.access_token.clear();
  auto key_only = Client(o);
  ASSERT_TRUE(key_only);
  auto got = key_only->Get(*n);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->name, *n);
  EXPECT_EQ(got->status, RemoteStatus::kPending);

  const uint64_t auth_calls = StatU(server_->Stats(), "by_op", "auth");
  o.credentials.access_token = "not-a-token-Jh5";
  auto bad_token = Client(o);
  ASSERT_TRUE(bad_token);
  auto denied = bad_token->Get(*n);
  ASSERT_TRUE(denied.Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(denied.error().message.find("not-a-token-Jh5"), std::string::npos);
  // A static token is final: no service_auth attempt.
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "auth"), auth_calls);

  o.credentials.access_token.clear();
  o.credentials.api_key = "wrong-key-Lp2";
  auto bad_key = Client(o);
  ASSERT_TRUE(bad_key);
  EXPECT_TRUE(bad_key->List(ListOptions{"DGX2-MT", {}, 100}).Is(ErrorKind::kUnauthorized));

  o.credentials.api_key = kApiKey;
  o.credentials.workspace_id = "other-workspace";
  auto bad_ws = Client(o);
  ASSERT_TRUE(bad_ws);
  EXPECT_TRUE(bad_ws->Get(*n).Is(ErrorKind::kUnauthorized));
}

// --- rate limit and faults -----------------------------------------------------

TEST_F(ClientEmulatorTest, EmulatorRateLimitIsWaitedOut) {
  EmulatorOptions eo;
  eo.rate_limit_per_minute = 60;  // burst 60, then one per second
  rate_limit_set_ = true;
  StartEmulator(eo);
  auto o = BaseClientOptions();
  o.credentials.client_id.clear();  // api key: no auth call in the count
  o.credentials.client_secret.clear();
  o.credentials.api_key = kApiKey;
  auto c = Client(o);
  ASSERT_TRUE(c);
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(c->Get("sj-x").Is(ErrorKind::kNotFound)) << i;
  EXPECT_TRUE(Sleeps().empty());
  auto n = c->Submit(BaseRequest("mlspace:rate-limited"));
  ASSERT_TRUE(n.ok()) << n.error().message;
  const auto stats = server_->Stats();
  EXPECT_EQ(StatU(stats, "faults", "rate-limit"), 1u);
  EXPECT_EQ(stats["jobs_created"].get<uint64_t>(), 1u);
  ASSERT_EQ(Sleeps().size(), 1u);
  EXPECT_EQ(Sleeps()[0], 1s);  // the emulator's Retry-After

  // A client that may not wait that long gets kThrottled with the hint.
  auto impatient_opts = o;
  impatient_opts.max_retry_after = 500ms;
  auto impatient = Client(impatient_opts);
  ASSERT_TRUE(impatient);
  auto throttled = impatient->Submit(BaseRequest("mlspace:rate-limited-2"));
  ASSERT_TRUE(throttled.Is(ErrorKind::kThrottled))
      << (throttled.ok() ? "ok" : throttled.error().message);
  EXPECT_EQ(throttled.error().retry_after, 1s);
  EXPECT_EQ(server_->Stats()["jobs_created"].get<uint64_t>(), 1u);
}

TEST_F(ClientEmulatorTest, Injected429WithRetryAfterIsWaitedAndSubmitNotDuplicated) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  FaultConfig f;
  f.status_429 = Rule("every:2@submit");
  f.retry_after_seconds = 3;
  SetFaults(f);
  ASSERT_TRUE(c->Submit(BaseRequest("mlspace:429/a")).ok());
  auto n = c->Submit(BaseRequest("mlspace:429/b"));  // 429 first, then accepted
  ASSERT_TRUE(n.ok()) << n.error().message;
  const auto stats = server_->Stats();
  EXPECT_EQ(StatU(stats, "faults", "429"), 1u);
  EXPECT_EQ(StatU(stats, "by_op", "submit"), 3u);
  EXPECT_EQ(stats["jobs_created"].get<uint64_t>(), 2u);
  ASSERT_EQ(Sleeps().size(), 1u);
  EXPECT_EQ(Sleeps()[0], 3s);

  f.status_429 = Rule("1@submit");
  SetFaults(f);
  auto o = BaseClientOptions();
  o.max_retry_after = 2s;  // shorter than the server's hint
  auto impatient = Client(o);
  ASSERT_TRUE(impatient);
  auto throttled = impatient->Submit(BaseRequest("mlspace:429/c"));
  ASSERT_TRUE(throttled.Is(ErrorKind::kThrottled));
  EXPECT_EQ(throttled.error().retry_after, 3s);
  EXPECT_EQ(throttled.error().http_status, 429);
}

TEST_F(ClientEmulatorTest, ServerErrorsOnReadsAreRetried) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  auto n = c->Submit(BaseRequest("mlspace:5xx"));
  ASSERT_TRUE(n.ok());
  for (const char* code : {"500", "502", "503"}) {
    SCOPED_TRACE(code);
    FaultConfig f;
    auto rule = Rule("every:2@get+list+logs");
    if (std::string(code) == "500") f.status_500 = rule;
    if (std::string(code) == "502") f.status_502 = rule;
    if (std::string(code) == "503") f.status_503 = rule;
    SetFaults(f);  // also resets the every-N counters
    ClearSleeps();
    auto got1 = c->Get(*n);                                   // 1st matching request: passes
    auto got2 = c->Get(*n);                                   // 2nd: fault, 3rd: retry passes
    auto listed = c->List(ListOptions{"DGX2-MT", {}, 6000});  // 4th: fault, 5th: passes
    auto logs = c->Logs(*n, "DGX2-MT", 5);                    // 6th: fault, 7th
    ASSERT_TRUE(got1.ok() && got2.ok());
    ASSERT_TRUE(listed.ok()) << listed.error().message;
    EXPECT_EQ(listed->size(), 1u);
    ASSERT_TRUE(logs.ok()) << logs.error().message;
    EXPECT_EQ(StatU(server_->Stats(), "faults", code), 3u);
    EXPECT_EQ(Sleeps().size(), 3u);
    if (std::string(code) == "503") {
      for (Duration d : Sleeps()) EXPECT_EQ(d, 1s);  // Retry-After
    }
  }
}

TEST_F(ClientEmulatorTest, PersistentServerErrorOnReadsGivesUpAfterMaxAttempts) {
  StartEmulator();
  auto o = BaseClientOptions();
  o.max_attempts = 4;
  auto c = Client(o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-warmup").Is(ErrorKind::kNotFound));  // token fetched
  FaultConfig f;
  f.status_502 = Rule("1@get");
  SetFaults(f);
  auto got = c->Get("sj-x");
  ASSERT_TRUE(got.Is(ErrorKind::kUnavailable)) << (got.ok() ? "ok" : got.error().message);
  EXPECT_EQ(got.error().http_status, 502);
  EXPECT_EQ(StatU(server_->Stats(), "faults", "502"), 4u);
  // Exponential backoff between the attempts (base 200 ms, equal jitter).
  const auto s = Sleeps();
  ASSERT_EQ(s.size(), 3u);
  for (size_t i = 0; i < s.size(); ++i) {
    const Duration full = 200ms * (1 << i);
    EXPECT_GE(s[i], full / 2) << i;
    EXPECT_LE(s[i], full) << i;
  }
}

TEST_F(ClientEmulatorTest, ServerErrorBeforeCreatingIsAmbiguousAndNotResent) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-warmup").Is(ErrorKind::kNotFound));
  for (const char* code : {"500", "502", "503"}) {
    SCOPED_TRACE(code);
    FaultConfig f;
    if (std::string(code) == "500") f.status_500 = Rule("1@submit+restart");
    if (std::string(code) == "502") f.status_502 = Rule("1@submit+restart");
    if (std::string(code) == "503") f.status_503 = Rule("1@submit+restart");
    SetFaults(f);
    const uint64_t before = StatU(server_->Stats(), "by_op", "submit");
    auto res = c->Submit(BaseRequest(std::string("mlspace:pre-") + code));
    ASSERT_TRUE(res.Is(ErrorKind::kAmbiguous)) << (res.ok() ? "ok" : res.error().message);
    EXPECT_EQ(res.error().http_status, std::stoi(code));
    EXPECT_EQ(StatU(server_->Stats(), "by_op", "submit") - before, 1u);
  }
  EXPECT_EQ(server_->Stats()["jobs_created"].get<uint64_t>(), 0u);
}

TEST_F(ClientEmulatorTest, ServerErrorAfterCreatingIsAmbiguousAndTheJobIsListedWithItsMarker) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  for (int code : {500, 502, 503, 504}) {
    SCOPED_TRACE(code);
    FaultConfig f;
    f.after_create = Rule("1@submit");
    f.after_create_code = code;
    SetFaults(f);
    const std::string marker = "mlspace:after-create:" + std::to_string(code);
    auto res = c->Submit(BaseRequest(marker));
    ASSERT_TRUE(res.Is(ErrorKind::kAmbiguous)) << (res.ok() ? "ok" : res.error().message);
    EXPECT_EQ(res.error().http_status, code);
    SetFaults(FaultConfig{});
    auto found = FindByMarker(*c, marker);
    ASSERT_TRUE(found.has_value()) << "the job the lost answer created is not listed";
    EXPECT_EQ(found->status, RemoteStatus::kPending);
  }
  const auto stats = server_->Stats();
  EXPECT_EQ(StatU(stats, "faults", "after-create"), 4u);
  EXPECT_EQ(StatU(stats, "by_op", "submit"), 4u);  // never re-sent
  EXPECT_EQ(stats["jobs_created"].get<uint64_t>(), 4u);
}

TEST_F(ClientEmulatorTest, RestartAfterCreateFaultIsAmbiguous) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  auto n = c->Submit(BaseRequest("mlspace:restart-me"));
  ASSERT_TRUE(n.ok());
  FaultConfig f;
  f.after_create = Rule("1@restart");
  SetFaults(f);
  auto res = c->Restart(*n);
  ASSERT_TRUE(res.Is(ErrorKind::kAmbiguous));
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "restart"), 1u);
  EXPECT_EQ(sim_->size(), 2u);  // the rerun exists anyway
}

TEST_F(ClientEmulatorTest, LatencyBeyondTheClientTimeoutIsAmbiguousForSubmit) {
  StartEmulator();
  auto o = BaseClientOptions();
  o.request_timeout = 300ms;
  auto c = Client(o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-warmup").Is(ErrorKind::kNotFound));
  FaultConfig f;
  f.latency = 800ms;
  f.latency_rule = Rule("1@submit");
  SetFaults(f);
  const auto t0 = std::chrono::steady_clock::now();
  auto res = c->Submit(BaseRequest("mlspace:slow"));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(res.Is(ErrorKind::kAmbiguous)) << (res.ok() ? "ok" : res.error().message);
  EXPECT_EQ(res.error().http_status, 0);
  EXPECT_LT(took, 750ms);  // gave up at its own timeout
  // The service finishes the request after the client gave up: the job
  // exists and carries the marker.
  SetFaults(FaultConfig{});
  std::optional<RemoteJob> found;
  for (int i = 0; i < 100 && !found; ++i) {
    found = FindByMarker(*c, "mlspace:slow");
    if (!found) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "submit"), 1u);
}

TEST_F(ClientEmulatorTest, LatencyBeyondTheClientTimeoutIsRetriedForReads) {
  StartEmulator();
  auto o = BaseClientOptions();
  o.request_timeout = 300ms;
  auto c = Client(o);
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-warmup").Is(ErrorKind::kNotFound));
  FaultConfig f;
  f.latency = 800ms;
  f.latency_rule = Rule("every:2@get");
  SetFaults(f);
  ASSERT_TRUE(c->Get("sj-a").Is(ErrorKind::kNotFound));  // 1st: fast
  auto got = c->Get("sj-b");                             // 2nd: slow -> timeout, 3rd: fast
  ASSERT_TRUE(got.Is(ErrorKind::kNotFound)) << (got.ok() ? "ok" : got.error().message);
  EXPECT_EQ(Sleeps().size(), 1u);
}

TEST_F(ClientEmulatorTest, DroppedConnections) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  auto n = c->Submit(BaseRequest("mlspace:drop/base"));
  ASSERT_TRUE(n.ok());

  FaultConfig f;
  f.drop = Rule("every:2@get+list");
  SetFaults(f);
  ASSERT_TRUE(c->Get(*n).ok());  // 1st passes
  auto got = c->Get(*n);         // dropped, retried
  ASSERT_TRUE(got.ok()) << got.error().message;
  auto listed = c->List(ListOptions{"DGX2-MT", {}, 6000});
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ(StatU(server_->Stats(), "faults", "drop"), 2u);

  // A dropped submit was not processed, but the client cannot know.
  f = FaultConfig{};
  f.drop = Rule("1@submit");
  SetFaults(f);
  auto res = c->Submit(BaseRequest("mlspace:drop/before"));
  ASSERT_TRUE(res.Is(ErrorKind::kAmbiguous)) << (res.ok() ? "ok" : res.error().message);
  EXPECT_EQ(sim_->size(), 1u);

  // Created, then dropped: ambiguous, and the job is there.
  f = FaultConfig{};
  f.drop_after_create = Rule("1@submit");
  SetFaults(f);
  res = c->Submit(BaseRequest("mlspace:drop/after"));
  ASSERT_TRUE(res.Is(ErrorKind::kAmbiguous)) << (res.ok() ? "ok" : res.error().message);
  SetFaults(FaultConfig{});
  EXPECT_TRUE(FindByMarker(*c, "mlspace:drop/after").has_value());
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "submit"), 3u);
}

TEST_F(ClientEmulatorTest, JobsHiddenFromListsForNPolls) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  FaultConfig f;
  f.hide_polls = 2;
  SetFaults(f);
  auto n = c->Submit(BaseRequest("mlspace:hidden"));
  ASSERT_TRUE(n.ok());
  EXPECT_FALSE(FindByMarker(*c, "mlspace:hidden").has_value());
  EXPECT_FALSE(FindByMarker(*c, "mlspace:hidden").has_value());
  EXPECT_TRUE(c->Get(*n).ok());  // a direct GET sees it all along
  auto third = FindByMarker(*c, "mlspace:hidden");
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(third->name, *n);
}

TEST_F(ClientEmulatorTest, ConcurrentCallersShareOneClient) {
  StartEmulator();
  auto c = Client();
  ASSERT_TRUE(c);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto n =
            c->Submit(BaseRequest("mlspace:conc/" + std::to_string(t) + "/" + std::to_string(i)));
        if (!n.ok() || !c->Get(*n).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto all = c->List(ListOptions{"DGX2-MT", {}, 6000});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 100u);
  EXPECT_EQ(StatU(server_->Stats(), "by_op", "auth"), 1u);
}

}  // namespace
}  // namespace mlspace::gateway::integration
