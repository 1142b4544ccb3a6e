// GatewayClient against the real mlspace-gateway-emulator binary (spawned,
// --execute=none) over loopback: the user-facing path. Round trips with both
// auth modes and credentials read from a secrets directory, faults from the
// command line and from the control endpoint, and the request contract:
// every request the client sent during a representative session (recorded
// with --record) is checked by python3-jsonschema against the service's
// OpenAPI document, vendored as
// tests/testdata/gateway-v2/mlspace-public-v2-openapi.json (see its README).

#include <signal.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/gateway/gateway_json.h"
#include "controller/gateway/http/credentials.h"
#include "controller/gateway/http/gateway_client.h"
#include "e2e/harness/harness.h"
#include "tests/gateway/integration/submit_corpus.h"

namespace mlspace::gateway::integration {
namespace {

using namespace std::chrono_literals;
using http::ClientOptions;
using http::GatewayClient;
using nlohmann::json;

constexpr char kClientId[] = "sa-e2e";
constexpr char kClientSecret[] = "e2e-secret-Mw4r";
constexpr char kApiKey[] = "e2e-api-key-Tt8";
constexpr char kWorkspace[] = "ws-e2e";

// One emulator process; SIGTERM on destruction so the record file is closed.
class Emulator {
 public:
  Emulator(const e2e::TempDir& dir, std::vector<std::string> extra) {
    e2e::WriteFile(dir / "client-secret", kClientSecret);
    e2e::WriteFile(dir / "api-key", std::string(kApiKey) + "\n");
    const std::string port_file = dir / ("port-" + std::to_string(counter_++));
    std::vector<std::string> argv = {e2e::BinaryPath("controller/cmd/mlspace-gateway-emulator"),
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file,
                                     "--execute",
                                     "none",
                                     "--client-id",
                                     kClientId,
                                     "--client-secret-file",
                                     dir / "client-secret",
                                     "--api-key-file",
                                     dir / "api-key",
                                     "--workspace-id",
                                     kWorkspace,
                                     "--log-level",
                                     "warn"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    log_ = port_file + ".log";
    process_ = std::make_unique<e2e::Process>(argv, log_);
    port_ = e2e::WaitForPortFile(port_file, 10s).value_or(0);
  }
  ~Emulator() { Stop(); }

  void Stop() {
    if (!process_) return;
    process_->Signal(SIGTERM);
    exit_code_ = process_->Wait(5000ms);
    process_.reset();
  }
  int port() const { return port_; }
  std::optional<int> exit_code() const { return exit_code_; }
  std::string Log() const { return e2e::ReadFile(log_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  json Stats() const { return e2e::GetJson(port_, "/_emulator/stats"); }
  int SetFaults(const json& body) const {
    return e2e::HttpCall("POST", port_, "/_emulator/faults", body.dump(),
                         {{"Content-Type", "application/json"}})
        .status;
  }

 private:
  static inline int counter_ = 0;
  std::unique_ptr<e2e::Process> process_;
  std::string log_;
  int port_ = 0;
  std::optional<int> exit_code_;
};

uint64_t StatU(const json& stats, const char* group, const std::string& key) {
  if (!stats.is_object() || !stats.contains(group) || !stats[group].contains(key)) return 0;
  return stats[group][key].get<uint64_t>();
}

// Credentials the way the operator reads them: files in a secrets directory.
http::Credentials SecretsDirCredentials(const e2e::TempDir& dir, bool service_account) {
  const std::string secrets = dir / "secrets";
  std::filesystem::create_directories(secrets + "/mlspace");
  e2e::WriteFile(secrets + "/mlspace/workspace-id", kWorkspace);
  if (service_account) {
    e2e::WriteFile(secrets + "/mlspace/client-id", kClientId);
    e2e::WriteFile(secrets + "/mlspace/client-secret", std::string(kClientSecret) + "\n");
  } else {
    e2e::WriteFile(secrets + "/mlspace_api_key", kApiKey);
  }
  auto creds = http::LoadCredentials([](const std::string&) { return std::nullopt; }, secrets);
  EXPECT_TRUE(creds.ok()) << creds.status().message();
  std::filesystem::remove_all(secrets);
  return creds.ok() ? *creds : http::Credentials{};
}

std::unique_ptr<GatewayClient> MakeClient(const Emulator& emu, http::Credentials creds,
                                          const std::function<void(ClientOptions&)>& tweak = {}) {
  ClientOptions o;
  o.base_url = emu.url();
  o.credentials = std::move(creds);
  o.rate_per_second = 1000;
  o.burst = 1000;
  o.request_timeout = 5s;
  o.backoff_base = 10ms;  // real sleeps here: keep retries short
  o.backoff_max = 100ms;
  if (tweak) tweak(o);
  auto c = http::MakeGatewayClient(o);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(c).value() : nullptr;
}

std::optional<RemoteJob> FindByMarker(GatewayClient& c, const std::string& marker) {
  auto jobs = c.List(ListOptions{"DGX2-MT", {}, 6000});
  EXPECT_TRUE(jobs.ok()) << jobs.error().message;
  if (!jobs.ok()) return std::nullopt;
  for (const auto& j : *jobs) {
    if (j.job_desc == marker) return j;
  }
  return std::nullopt;
}

TEST(GatewayEmulatorE2E, RoundTripWithServiceAccountFromSecretsDir) {
  e2e::TempDir dir;
  Emulator emu(dir,
               {"--rate-limit", "0", "--pending-duration", "100ms", "--run-duration", "300ms"});
  ASSERT_GT(emu.port(), 0) << emu.Log();
  auto c = MakeClient(emu, SecretsDirCredentials(dir, /*service_account=*/true));
  ASSERT_TRUE(c);

  auto name = c->Submit(BaseRequest("mlspace:e2e/round-trip"));
  ASSERT_TRUE(name.ok()) << name.error().message;
  std::optional<RemoteJob> last;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        auto g = c->Get(*name);
        if (g.ok()) last = *g;
        return g.ok() && g->status == RemoteStatus::kCompleted;
      },
      5000ms))
      << "last status: " << (last ? RemoteStatusName(last->status) : "none");
  auto listed = FindByMarker(*c, "mlspace:e2e/round-trip");
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->name, *name);
  EXPECT_EQ(listed->status, RemoteStatus::kCompleted);
  EXPECT_TRUE(listed->completed.has_value());

  auto logs = c->Logs(*name, "DGX2-MT", 0);
  ASSERT_TRUE(logs.ok()) << logs.error().message;
  EXPECT_FALSE(logs->empty());

  auto rerun = c->Restart(*name);
  ASSERT_TRUE(rerun.ok()) << rerun.error().message;
  auto cancelled = c->Cancel(*rerun, "DGX2-MT");
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
  EXPECT_EQ(*cancelled, CancelResult::kDeleted);
  auto g = c->Get(*rerun);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->status, RemoteStatus::kStopped);
  EXPECT_TRUE(c->Get("sj-unknown").Is(ErrorKind::kNotFound));

  const json stats = emu.Stats();
  EXPECT_EQ(StatU(stats, "by_op", "auth"), 1u);
  EXPECT_EQ(stats["jobs_created"].get<uint64_t>(), 2u);
  // The secret never reaches the emulator's output.
  emu.Stop();
  EXPECT_EQ(emu.exit_code(), 0);
  EXPECT_EQ(emu.Log().find(kClientSecret), std::string::npos);
}

TEST(GatewayEmulatorE2E, ApiKeyAuthAndRejectedCredentials) {
  e2e::TempDir dir;
  Emulator emu(dir, {"--rate-limit", "0"});
  ASSERT_GT(emu.port(), 0) << emu.Log();
  auto c = MakeClient(emu, SecretsDirCredentials(dir, /*service_account=*/false));
  ASSERT_TRUE(c);
  auto name = c->Submit(BaseRequest("mlspace:e2e/api-key"));
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_TRUE(FindByMarker(*c, "mlspace:e2e/api-key").has_value());
  EXPECT_EQ(StatU(emu.Stats(), "by_op", "auth"), 0u);

  http::Credentials wrong;
  wrong.workspace_id = kWorkspace;
  wrong.api_key = "wrong-key-e2e-Pq1";
  auto bad = MakeClient(emu, wrong);
  ASSERT_TRUE(bad);
  auto denied = bad->Submit(BaseRequest("mlspace:e2e/denied"));
  ASSERT_TRUE(denied.Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(denied.error().message.find("wrong-key-e2e-Pq1"), std::string::npos);

  wrong.api_key.clear();
  wrong.client_id = kClientId;
  wrong.client_secret = "wrong-secret-e2e-Hh2";
  auto bad_sa = MakeClient(emu, wrong);
  ASSERT_TRUE(bad_sa);
  EXPECT_TRUE(bad_sa->Get(*name).Is(ErrorKind::kUnauthorized));
  EXPECT_EQ(emu.Stats()["jobs_created"].get<uint64_t>(), 1u);
}

TEST(GatewayEmulatorE2E, FaultsFromCommandLineFlags) {
  e2e::TempDir dir;
  Emulator emu(dir,
               {"--rate-limit", "0", "--fault-502", "every:2@get", "--fault-after-create",
                "every:2@submit", "--fault-after-create-code", "503", "--fault-hide-polls", "1"});
  ASSERT_GT(emu.port(), 0) << emu.Log();
  auto c = MakeClient(emu, SecretsDirCredentials(dir, true));
  ASSERT_TRUE(c);
  auto first = c->Submit(BaseRequest("mlspace:e2e/flags-1"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = c->Submit(BaseRequest("mlspace:e2e/flags-2"));
  ASSERT_TRUE(second.Is(ErrorKind::kAmbiguous)) << (second.ok() ? "ok" : second.error().message);
  EXPECT_EQ(second.error().http_status, 503);
  // Hidden from one list answer, then there: the ambiguity resolves.
  EXPECT_FALSE(FindByMarker(*c, "mlspace:e2e/flags-2").has_value());
  EXPECT_TRUE(FindByMarker(*c, "mlspace:e2e/flags-2").has_value());
  ASSERT_TRUE(c->Get(*first).ok());  // 1st get
  auto got = c->Get(*first);         // 2nd: 502, retried
  ASSERT_TRUE(got.ok()) << got.error().message;
  const json stats = emu.Stats();
  EXPECT_EQ(StatU(stats, "faults", "502"), 1u);
  EXPECT_EQ(StatU(stats, "faults", "after-create"), 1u);
  EXPECT_EQ(StatU(stats, "by_op", "submit"), 2u);
  EXPECT_EQ(stats["jobs_created"].get<uint64_t>(), 2u);
}

TEST(GatewayEmulatorE2E, FaultsFromTheControlEndpoint) {
  e2e::TempDir dir;
  Emulator emu(dir, {"--rate-limit", "0"});
  ASSERT_GT(emu.port(), 0) << emu.Log();
  auto c = MakeClient(emu, SecretsDirCredentials(dir, true),
                      [](ClientOptions& o) { o.max_retry_after = 500ms; });
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Get("sj-warmup").Is(ErrorKind::kNotFound));

  ASSERT_EQ(emu.SetFaults({{"429", "1@submit"}, {"retry-after", 2}}), 200);
  auto throttled = c->Submit(BaseRequest("mlspace:e2e/429"));
  ASSERT_TRUE(throttled.Is(ErrorKind::kThrottled))
      << (throttled.ok() ? "ok" : throttled.error().message);
  EXPECT_EQ(throttled.error().retry_after, 2s);

  ASSERT_EQ(emu.SetFaults({{"drop", "1@submit"}}), 200);
  auto dropped = c->Submit(BaseRequest("mlspace:e2e/drop"));
  ASSERT_TRUE(dropped.Is(ErrorKind::kAmbiguous)) << (dropped.ok() ? "ok" : dropped.error().message);

  ASSERT_EQ(emu.SetFaults({{"latency", "1s"}, {"latency-rule", "1@submit"}}), 200);
  auto slow_client = MakeClient(emu, SecretsDirCredentials(dir, true),
                                [](ClientOptions& o) { o.request_timeout = 300ms; });
  ASSERT_TRUE(slow_client);
  auto slow = slow_client->Submit(BaseRequest("mlspace:e2e/slow"));
  ASSERT_TRUE(slow.Is(ErrorKind::kAmbiguous)) << (slow.ok() ? "ok" : slow.error().message);

  ASSERT_EQ(e2e::HttpCall("DELETE", emu.port(), "/_emulator/faults").status, 200);
  EXPECT_TRUE(
      e2e::WaitFor([&] { return FindByMarker(*c, "mlspace:e2e/slow").has_value(); }, 3000ms));
  EXPECT_FALSE(FindByMarker(*c, "mlspace:e2e/429").has_value());
  EXPECT_FALSE(FindByMarker(*c, "mlspace:e2e/drop").has_value());
  auto ok = c->Submit(BaseRequest("mlspace:e2e/after-clear"));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
}

// --- request contract --------------------------------------------------------

// The vendored document; a missing file is a failure, never a skip.
std::string OpenApiPath() {
  const char* src = std::getenv("MLSPACE_SOURCE_DIR");
  const std::filesystem::path p =
      std::filesystem::path(src != nullptr ? src : MLSPACE_TEST_SOURCE_DIR) / "tests" / "testdata" /
      "gateway-v2" / "mlspace-public-v2-openapi.json";
  EXPECT_TRUE(std::filesystem::exists(p)) << "missing " << p;
  return p.string();
}

std::string Python() {
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

struct ValidatorRun {
  int exit_code = -1;
  std::string output;
  json summary;  // the last line
};

ValidatorRun RunValidator(const std::string& openapi, const std::string& record) {
  ValidatorRun r;
  const std::string script = e2e::SourcePath("tests/gateway/integration/validate_recorded.py");
  r.exit_code =
      e2e::Sh(Python() + " '" + script + "' '" + openapi + "' '" + record + "' 2>&1", &r.output);
  const size_t end = r.output.find_last_not_of('\n');
  const size_t start = end == std::string::npos ? 0 : r.output.rfind('\n', end);
  const std::string last = r.output.substr(
      start == std::string::npos ? 0 : start + 1,
      end == std::string::npos ? 0 : end - (start == std::string::npos ? 0 : start + 1) + 1);
  r.summary = json::parse(last, nullptr, /*allow_exceptions=*/false);
  return r;
}

// Every call of the seam with every option the client has, plus a service
// account and an API key client, with faults that make the client retry.
void RepresentativeSession(const Emulator& emu, const e2e::TempDir& dir) {
  auto sa = MakeClient(emu, SecretsDirCredentials(dir, true));
  auto key = MakeClient(emu, SecretsDirCredentials(dir, false));
  ASSERT_TRUE(sa && key);
  std::vector<std::string> names;
  size_t in_default_region = 1;  // the API-key client's job below
  for (const auto& r : SubmitCorpus()) {
    if (r.region.value_or("DGX2-MT") == "DGX2-MT") ++in_default_region;
    auto n = sa->Submit(r);
    ASSERT_TRUE(n.ok()) << r.job_desc.value_or("<bare>") << ": " << n.error().message;
    names.push_back(*n);
  }
  ASSERT_TRUE(key->Submit(BaseRequest("mlspace:contract/key")).ok());
  for (const auto& n : names) {
    ASSERT_TRUE(sa->Get(n).ok());
  }
  EXPECT_TRUE(key->Get("sj-unknown").Is(ErrorKind::kNotFound));
  for (const char* region : {"DGX2-MT", "A100-MT", "SR003", "SR004", "SR005", "SR006", "SR008"}) {
    ASSERT_TRUE(sa->List(ListOptions{region, {}, 6000}).ok()) << region;
  }
  std::vector<RemoteStatus> every = {
      RemoteStatus::kPending,     RemoteStatus::kRunning,   RemoteStatus::kCompleting,
      RemoteStatus::kCompleted,   RemoteStatus::kSucceeded, RemoteStatus::kFailed,
      RemoteStatus::kStopped,     RemoteStatus::kDeleted,   RemoteStatus::kTerminated,
      RemoteStatus::kTerminating, RemoteStatus::kRestarting};
  ASSERT_TRUE(sa->List(ListOptions{"DGX2-MT", every, 6000}).ok());
  for (RemoteStatus s : every) ASSERT_TRUE(key->List(ListOptions{"DGX2-MT", {s}, 6000}).ok());
  auto paged = sa->List(ListOptions{"DGX2-MT", {}, 7});
  ASSERT_TRUE(paged.ok());
  EXPECT_EQ(paged->size(), in_default_region);
  for (int tail : {0, 1, 100}) ASSERT_TRUE(sa->Logs(names[0], "DGX2-MT", tail).ok());
  ASSERT_TRUE(key->Logs(names[1], "", 10).ok());
  const std::string in_sr006 = names.back();  // the everything-set request
  ASSERT_TRUE(sa->Logs(in_sr006, "SR006", 5).ok());
  auto rerun = sa->Restart(names[0]);
  ASSERT_TRUE(rerun.ok()) << rerun.error().message;
  ASSERT_TRUE(key->Restart(names[1]).ok());
  ASSERT_TRUE(sa->Cancel(*rerun, "DGX2-MT").ok());
  auto cancelled = key->Cancel(in_sr006, "SR006");
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(*cancelled, CancelResult::kDeleted);
  auto gone = sa->Cancel("sj-unknown", "DGX2-MT");
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(*gone, CancelResult::kNotFound);
}

TEST(GatewayEmulatorContract, EveryRecordedClientRequestMatchesTheOpenApiDocument) {
  const std::string openapi = OpenApiPath();
  e2e::TempDir dir;
  const std::string record = dir / "record.jsonl";
  {
    // Retries under injected 429/502/503 are part of what the client sends.
    Emulator emu(dir, {"--rate-limit", "0", "--record", record, "--fault-429", "every:7@submit",
                       "--fault-502", "every:5@get+list", "--fault-503", "every:6@logs+delete",
                       "--fault-retry-after", "0"});
    ASSERT_GT(emu.port(), 0) << emu.Log();
    RepresentativeSession(emu, dir);
    if (HasFatalFailure()) return;
    const json stats = emu.Stats();
    EXPECT_GT(StatU(stats, "faults", "429"), 0u);
    EXPECT_GT(StatU(stats, "faults", "502"), 0u);
    emu.Stop();
  }
  std::ifstream in(record);
  int lines = 0;
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.find("\"/_emulator/") == std::string::npos) ++lines;
  }
  ASSERT_GT(lines, 100);

  const ValidatorRun run = RunValidator(openapi, record);
  ASSERT_TRUE(run.summary.is_object()) << run.output;
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.summary["failures"], 0) << run.output;
  EXPECT_EQ(run.summary["checked"].get<int>(), lines);
  for (const char* op :
       {"POST /public/v2/service_auth", "POST /public/v2/jobs", "GET /public/v2/jobs",
        "GET /public/v2/jobs/{job_name}", "DELETE /public/v2/jobs/{job_name}",
        "POST /public/v2/jobs/restart", "GET /public/v2/jobs/{job_name}/logs"}) {
    EXPECT_GT(run.summary["operations"].value(op, 0), 0) << op << " not exercised: " << run.output;
  }
}

TEST(GatewayEmulatorContract, ValidatorRejectsRequestsTheServiceWould) {
  // Guards the contract test against a validator that accepts everything.
  const std::string openapi = OpenApiPath();
  e2e::TempDir dir;
  const json headers = {{"x-workspace-id", "ws"}, {"authorization", "<redacted>"}};
  json good_body = SubmitRequestToJson(BaseRequest("m"));
  json extra = good_body;
  extra["label"] = "nlp/x";
  json zero = good_body;
  zero["n_workers"] = 0;
  json no_script = good_body;
  no_script.erase("script");
  std::vector<json> lines = {
      {{"method", "POST"},
       {"path", "/public/v2/jobs"},
       {"query", json::object()},
       {"headers", headers},
       {"body", good_body}},
      {{"method", "POST"},
       {"path", "/public/v2/jobs"},
       {"query", json::object()},
       {"headers", headers},
       {"body", extra}},
      {{"method", "POST"},
       {"path", "/public/v2/jobs"},
       {"query", json::object()},
       {"headers", headers},
       {"body", zero}},
      {{"method", "POST"},
       {"path", "/public/v2/jobs"},
       {"query", json::object()},
       {"headers", headers},
       {"body", no_script}},
      {{"method", "GET"},
       {"path", "/public/v2/jobs"},
       {"query", {{"region", {"MOON-1"}}, {"limit", {"0"}}}},
       {"headers", headers},
       {"body", nullptr}},
      {{"method", "GET"},
       {"path", "/public/v2/jobs"},
       {"query", {{"region", {"SR006"}}, {"page", {"2"}}}},
       {"headers", headers},
       {"body", nullptr}},
      {{"method", "DELETE"},
       {"path", "/public/v2/jobs/sj-1"},
       {"query", json::object()},
       {"headers", json::object()},
       {"body", nullptr}},
      {{"method", "PATCH"},
       {"path", "/public/v2/jobs/sj-1"},
       {"query", json::object()},
       {"headers", headers},
       {"body", nullptr}},
  };
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  e2e::WriteFile(dir / "bad.jsonl", text);
  const ValidatorRun run = RunValidator(openapi, dir / "bad.jsonl");
  ASSERT_TRUE(run.summary.is_object()) << run.output;
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(run.summary["checked"], 8) << run.output;
  for (const char* expected :
       {"line 2: POST /public/v2/jobs: body <root>: Additional properties",
        "line 3: POST /public/v2/jobs: body n_workers",
        "line 4: POST /public/v2/jobs: body <root>: 'script' is a required",
        "line 5: GET /public/v2/jobs: query region", "line 5: GET /public/v2/jobs: query limit",
        "line 6: GET /public/v2/jobs: query parameter page is not declared",
        "line 7: DELETE /public/v2/jobs/sj-1: required query parameter region missing",
        "line 7: DELETE /public/v2/jobs/sj-1: required header parameter x-workspace-id missing",
        "line 8: PATCH /public/v2/jobs/sj-1: no such operation"}) {
    EXPECT_NE(run.output.find(expected), std::string::npos) << expected << "\n" << run.output;
  }
  EXPECT_EQ(run.output.find("line 1:"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace mlspace::gateway::integration
