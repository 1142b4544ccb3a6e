// The real mlspace-controller against the real mlspace-gateway-emulator
// (jobs run as local processes through mlspace-launch, throttled part of the
// time), scraped every second by a real Prometheus. A scenario with
// successes, a failure retried until Failed, a suspend and a prune (both
// cancel a running job), an invalid manifest and a throttled gateway; then
// every panel query of the Grafana dashboard must return data from
// Prometheus, the alert rules must load, `promtool check metrics` must accept
// a live /metrics answer, the probes must answer as documented, and a removed
// object's per-object series must disappear once its record is dropped.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "e2e/harness/harness.h"

namespace mlspace {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";

// --- manifests ----------------------------------------------------------------

std::string Job(const std::string& ns, const std::string& name, const std::string& region,
                const std::string& script, const std::string& run_policy = "") {
  std::string m = "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: " + name +
                  "\n  namespace: " + ns + "\nspec:\n  region: " + region +
                  "\n  image: cr.ai.cloud.ru/aicloud-base-images/py3.11-torch2.4.0:0.0.40\n"
                  "  instanceType: cpu.2C.8G\n  command: [/bin/sh, -c, \"" +
                  script + "\"]\n";
  if (!run_policy.empty()) m += "  runPolicy:\n" + run_policy;
  return m;
}

// --- /metrics text --------------------------------------------------------------

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Every sample of `family` (exact name) in a text exposition.
std::vector<Sample> Samples(const std::string& text, const std::string& family) {
  static const std::regex kLabel(R"re((\w+)="((?:[^"\\]|\\.)*)")re");
  std::vector<Sample> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.rfind(family, 0) != 0) continue;
    std::string rest = line.substr(family.size());
    if (rest.empty() || (rest[0] != '{' && rest[0] != ' ')) continue;  // a longer name
    Sample s;
    size_t close = rest[0] == '{' ? rest.find('}') : 0;
    if (close == std::string::npos) continue;
    std::string labels = rest[0] == '{' ? rest.substr(1, close - 1) : "";
    for (std::sregex_iterator it(labels.begin(), labels.end(), kLabel), e; it != e; ++it) {
      s.labels[(*it)[1]] = (*it)[2];
    }
    s.value = std::strtod(rest.c_str() + close + 1, nullptr);
    out.push_back(std::move(s));
  }
  return out;
}

double Sum(const std::vector<Sample>& samples, const std::string& label = "",
           const std::string& value = "") {
  double sum = 0;
  for (const auto& s : samples) {
    if (label.empty() || (s.labels.count(label) && s.labels.at(label) == value)) sum += s.value;
  }
  return sum;
}

// The current phase of ns/name ("" when it has no series), and how many
// phase series it has (the contract says at most one).
std::pair<std::string, int> PhaseOf(const std::string& text, const std::string& ns,
                                    const std::string& name) {
  std::string phase;
  int n = 0;
  for (const auto& s : Samples(text, "mlspacejob_status_phase")) {
    if (s.labels.at("namespace") == ns && s.labels.at("name") == name) {
      phase = s.labels.at("phase");
      ++n;
    }
  }
  return {phase, n};
}

// --- Prometheus HTTP API ----------------------------------------------------------

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The vector result of an instant query (an empty array on any failure,
// with the reason in *error).
json PromQuery(int port, const std::string& expr, std::string* error = nullptr) {
  json body = e2e::GetJson(port, "/api/v1/query?query=" + UrlEncode(expr));
  if (body.is_null() || body.value("status", "") != "success") {
    if (error) *error = body.is_null() ? "no answer" : body.dump();
    return json::array();
  }
  return body["data"].value("result", json::array());
}

std::optional<double> PromScalar(int port, const std::string& expr) {
  json r = PromQuery(port, expr);
  if (r.empty()) return std::nullopt;
  return std::strtod(r[0]["value"][1].get<std::string>().c_str(), nullptr);
}

std::map<std::string, std::string> ParseKeyValues(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
    pos = end + 1;
  }
  return out;
}

// A Prometheus started by e2e/metrics/start_prometheus.sh; SIGTERM on
// destruction.
class Prometheus {
 public:
  Prometheus(const std::string& dir, const std::vector<std::string>& targets,
             const std::string& rules) {
    std::string cmd = e2e::SourcePath("e2e/metrics/start_prometheus.sh") + " --dir " + dir;
    for (const auto& t : targets) cmd += " --target " + t;
    cmd += " --rules " + rules + " 2>&1";
    int rc = e2e::Sh(cmd, &out_);
    auto kv = ParseKeyValues(out_);
    if (rc != 0 || !kv.count("PROMETHEUS_URL") || !kv.count("PROMETHEUS_PID")) return;
    pid_ = std::atoi(kv["PROMETHEUS_PID"].c_str());
    port_ = std::atoi(kv["PROMETHEUS_URL"].substr(kv["PROMETHEUS_URL"].rfind(':') + 1).c_str());
    url_ = kv["PROMETHEUS_URL"];
  }
  ~Prometheus() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100 && kill(pid_, 0) == 0; ++i) usleep(100 * 1000);
    if (kill(pid_, 0) == 0) kill(pid_, SIGKILL);
  }
  bool ok() const { return pid_ > 0 && port_ > 0; }
  int port() const { return port_; }
  const std::string& url() const { return url_; }
  const std::string& output() const { return out_; }

 private:
  std::string out_;
  std::string url_;
  pid_t pid_ = -1;
  int port_ = 0;
};

class MetricsControllerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/deps.sh installs Debian's prometheus (Prometheus + promtool).
    // Not a skip: without it this suite would prove nothing.
    ASSERT_EQ(access(kPrometheus, X_OK), 0) << kPrometheus << " missing: run scripts/deps.sh";
    ASSERT_EQ(access(kPromtool, X_OK), 0) << kPromtool << " missing: run scripts/deps.sh";
  }

  std::string Metrics() { return e2e::HttpCall("GET", metrics_port_, "/metrics").body; }

  // Waits until `pred(/metrics text)` holds; the last text in *last.
  bool WaitMetrics(const std::function<bool(const std::string&)>& pred, seconds timeout,
                   std::string* last) {
    return e2e::WaitFor(
        [&] {
          *last = Metrics();
          return pred(*last);
        },
        timeout);
  }

  int metrics_port_ = 0;
};

TEST_F(MetricsControllerE2eTest, EveryDashboardPanelHasDataFromARealScenario) {
  auto started = std::chrono::steady_clock::now();
  e2e::TempDir dir;
  const std::string rules =
      e2e::SourcePath("charts/mlspace-operator/alerts/mlspace-operator.rules.yaml");

  // --- manifests: a first commit with jobs that are never submitted ------------
  e2e::GitRepo repo(dir / "repo");
  // Suspended from the start: never submitted, phase Suspended.
  repo.Write("jobs/held.yaml", Job("default", "held", "SR006", "echo held", "    suspend: true\n"));
  // Invalid (workers >= 1): gitops_manifests{state="invalid"} and phase Invalid.
  repo.Write("jobs/broken.yaml", Job("default", "broken", "SR006", "true") + "  workers: 0\n");
  // Its secret does not exist: every submit is blocked, so it stays Pending
  // without ever changing phase (it must still have its series: the
  // MLSpaceJobStuckPending alert reads them), and its reconciles fail
  // (controller_runtime_reconcile_errors_total, workqueue_retries_total).
  repo.Write("jobs/blocked.yaml", Job("team-a", "blocked", "SR006", "echo never") +
                                      "  env:\n    - name: TOKEN\n      valueFrom:\n"
                                      "        secretKeyRef: {name: missing, key: token}\n");
  repo.Commit("initial");

  // --- the emulator: real processes, throttling and latency at first -------------
  std::string emu_port_file = dir / "emulator.port";
  e2e::Process emulator(
      {e2e::BinaryPath("controller/cmd/mlspace-gateway-emulator"), "--listen", "127.0.0.1:0",
       "--port-file", emu_port_file, "--execute", "local", "--state-dir", dir / "emulator",
       "--launcher", e2e::BinaryPath("launcher/mlspace-launch"), "--max-running", "8",
       "--kill-grace", "1s", "--api-key", "e2e-key", "--workspace-id", "ws-e2e", "--rate-limit",
       "0",
       // Every 3rd jobs request answers 429 (Retry-After 1 s). Submits every
       // 2nd take 1.5 s, so a reconcile is in flight across the 1 s gauge
       // update and scrape (workqueue_unfinished_work_seconds and
       // workqueue_longest_running_processor_seconds become non-zero).
       "--fault-429", "every:3", "--fault-retry-after", "1", "--fault-latency", "1500ms",
       "--fault-latency-rule", "every:2@submit", "--log-level", "warn"},
      dir / "emulator.log");
  auto emu_port = e2e::WaitForPortFile(emu_port_file, seconds(20));
  ASSERT_TRUE(emu_port) << e2e::ReadFile(emulator.log_path());

  // --- the controller -------------------------------------------------------------
  std::string ports_file = dir / "controller.ports";
  e2e::Process controller(
      {e2e::BinaryPath("controller/cmd/mlspace-controller"), "--manifests", dir / "repo/jobs",
       "--state-dir", dir / "state", "--gateway-url",
       "http://127.0.0.1:" + std::to_string(*emu_port), "--metrics-bind-address", "127.0.0.1:0",
       "--api-bind-address", "127.0.0.1:0", "--ports-file", ports_file, "--poll-interval", "1s",
       "--source-poll-interval", "1s", "--resync-interval", "5s", "--removed-retention", "3s",
       "--workers", "4",
       // The failing job's retry comes after 1 s, not 10 s.
       "--retry-backoff-base", "1s", "--log-level", "info"},
      dir / "controller.log", {{"MLSPACE_API_KEY", "e2e-key"}, {"MLSPACE_WORKSPACE_ID", "ws-e2e"}});
  json ports;
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        std::string s = e2e::ReadFile(ports_file);
        if (s.empty()) return false;
        ports = json::parse(s, nullptr, false);
        return ports.is_object() && ports.value("metrics", 0) > 0;
      },
      seconds(30)))
      << e2e::ReadFile(controller.log_path());
  metrics_port_ = ports["metrics"].get<int>();

  // --- Prometheus, scraping the controller every second ---------------------------
  // The emulator is not a scrape target: it serves no /metrics (its 404
  // would only add an up == 0 series); its side is checked via
  // /_emulator/stats below.
  Prometheus prom(dir / "prometheus",
                  {"127.0.0.1:" + std::to_string(metrics_port_),
                   "emulator=127.0.0.1:" + std::to_string(*emu_port)},
                  rules);
  ASSERT_TRUE(prom.ok()) << prom.output();

  // --- probes on the metrics port, as docs/metrics.md documents -------------------
  {
    e2e::HttpReply ready;
    ASSERT_TRUE(e2e::WaitFor(
        [&] {
          ready = e2e::HttpCall("GET", metrics_port_, "/readyz");
          return ready.status == 200;
        },
        seconds(30)))
        << ready.status << " " << ready.body;
    EXPECT_EQ(ready.body, "ok");
    auto verbose = e2e::HttpCall("GET", metrics_port_, "/readyz?verbose");
    EXPECT_EQ(verbose.status, 200);
    EXPECT_NE(verbose.body.find("[+]controller ok"), std::string::npos) << verbose.body;
    auto health = e2e::HttpCall("GET", metrics_port_, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "ok");
    auto health_verbose = e2e::HttpCall("GET", metrics_port_, "/healthz?verbose");
    EXPECT_EQ(health_verbose.status, 200);
    EXPECT_NE(health_verbose.body.find("[+]workers ok"), std::string::npos) << health_verbose.body;
  }

  // --- build_info is what `mlspace-controller --version` prints (issue 14) ----------
  {
    std::string line;
    ASSERT_EQ(e2e::Sh(e2e::BinaryPath("controller/cmd/mlspace-controller") + " --version", &line),
              0);
    std::smatch v;
    ASSERT_TRUE(std::regex_search(
        line, v, std::regex(R"(^mlspace-controller (\S+) \(commit (\S+), built \S+\))")))
        << line;
    std::string text = Metrics();
    std::smatch b;
    ASSERT_TRUE(std::regex_search(text, b, std::regex(R"((^|\n)build_info\{([^}]*)\} 1\n)")))
        << text;
    const std::string labels = "," + b[2].str() + ",";
    EXPECT_NE(labels.find(",version=\"" + v[1].str() + "\","), std::string::npos) << labels;
    EXPECT_NE(labels.find(",revision=\"" + v[2].str() + "\","), std::string::npos) << labels;
  }

  // --- commit A, once Prometheus scrapes the controller, so it sees the
  // submits in flight --------------------------------------------------------------
  ASSERT_TRUE(e2e::WaitFor(
      [&] { return PromScalar(prom.port(), "up{job=\"mlspace-operator\"}").value_or(0) == 1; },
      seconds(30)))
      << "Prometheus does not scrape the controller";
  repo.Write("jobs/ok-a.yaml", Job("default", "ok-a", "SR006", "echo ok-a; sleep 2"));
  repo.Write("jobs/ok-b.yaml", Job("team-a", "ok-b", "SR004", "echo ok-b; sleep 3"));
  // Fails every attempt: one retry (backoffLimit 1), then Failed.
  repo.Write("jobs/fail.yaml",
             Job("team-a", "fail", "SR006", "echo boom >&2; exit 1", "    backoffLimit: 1\n"));
  // Run until suspended / pruned by commit B: both cancel a running job.
  repo.Write("jobs/long-suspend.yaml", Job("default", "long-suspend", "SR006", "sleep 100"));
  repo.Write("jobs/long-prune.yaml", Job("team-a", "long-prune", "SR004", "sleep 100"));
  repo.Commit("A");

  // --- phase 1: throttled, then clear the faults ----------------------------------
  std::string text;
  ASSERT_TRUE(WaitMetrics(
      [](const std::string& t) {
        return Sum(Samples(t, "mlspace_gateway_throttled_total")) >= 2 &&
               Sum(Samples(t, "rest_client_requests_total"), "code", "429") >= 2;
      },
      seconds(60), &text))
      << text << e2e::ReadFile(controller.log_path());
  // Latency faults must have delayed some submits (checked on the emulator's side).
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        json st = e2e::GetJson(*emu_port, "/_emulator/stats");
        return st.is_object() && st["faults"].value("latency", 0) >= 2;
      },
      seconds(60)))
      << e2e::GetJson(*emu_port, "/_emulator/stats").dump();
  ASSERT_EQ(e2e::HttpCall("DELETE", *emu_port, "/_emulator/faults").status, 200);

  // --- phase 2: everything reaches its phase ---------------------------------------
  auto phases_are = [](const std::map<std::pair<std::string, std::string>, std::string>& want) {
    return [want](const std::string& t) {
      for (const auto& [key, phase] : want) {
        auto [got, n] = PhaseOf(t, key.first, key.second);
        if (got != phase || n != 1) return false;
      }
      return true;
    };
  };
  ASSERT_TRUE(WaitMetrics(phases_are({{{"default", "ok-a"}, "Succeeded"},
                                      {{"team-a", "ok-b"}, "Succeeded"},
                                      {{"team-a", "fail"}, "Failed"},
                                      {{"default", "long-suspend"}, "Running"},
                                      {{"team-a", "long-prune"}, "Running"},
                                      {{"default", "held"}, "Suspended"},
                                      {{"default", "broken"}, "Invalid"},
                                      {{"team-a", "blocked"}, "Pending"}}),
                          seconds(120), &text))
      << text << e2e::ReadFile(controller.log_path());
  EXPECT_GE(Sum(Samples(text, "mlspacejob_retries_total")), 1) << text;
  // Every 429 the emulator sent (faults are off by now) was counted once.
  {
    json st = e2e::GetJson(*emu_port, "/_emulator/stats");
    ASSERT_TRUE(st.is_object());
    double sent = st["by_status"].value("429", 0);
    EXPECT_GE(sent, 2);
    EXPECT_EQ(Sum(Samples(text, "mlspace_gateway_throttled_total")), sent) << st.dump();
    EXPECT_EQ(Sum(Samples(text, "rest_client_requests_total"), "code", "429"), sent);
  }
  // The endpoint label holds the documented operation names only.
  {
    std::set<std::string> endpoints;
    for (const auto& s : Samples(text, "mlspace_gateway_requests_total")) {
      endpoints.insert(s.labels.at("endpoint"));
    }
    for (const auto& e : endpoints) {
      EXPECT_TRUE(e == "service_auth" || e == "jobs_create" || e == "jobs_list" ||
                  e == "jobs_get" || e == "jobs_delete" || e == "jobs_restart" || e == "jobs_logs")
          << e;
    }
    EXPECT_TRUE(endpoints.count("jobs_create") && endpoints.count("jobs_list")) << text;
  }

  // --- phase 3: commit B suspends one running job and removes another -------------
  repo.Write("jobs/long-suspend.yaml",
             Job("default", "long-suspend", "SR006", "sleep 100", "    suspend: true\n"));
  repo.Remove("jobs/long-prune.yaml");
  std::string rev_b = repo.Commit("B");
  ASSERT_TRUE(WaitMetrics(
      [](const std::string& t) {
        auto cancels = Samples(t, "mlspacejob_cancellations_total");
        return PhaseOf(t, "default", "long-suspend").first == "Suspended" &&
               Sum(cancels, "reason", "suspend") >= 1 && Sum(cancels, "reason", "prune") >= 1;
      },
      seconds(60), &text))
      << text << e2e::ReadFile(controller.log_path());

  // Bounded cardinality, live: the removed object's series go away once its
  // record is dropped (--removed-retention 3s); every other object keeps
  // exactly one phase series and one info series.
  ASSERT_TRUE(WaitMetrics(
      [](const std::string& t) {
        return t.find("name=\"long-prune\"") == std::string::npos &&
               t.find("long-prune") == std::string::npos;
      },
      seconds(30), &text))
      << text;
  {
    auto phase = Samples(text, "mlspacejob_status_phase");
    auto info = Samples(text, "mlspacejob_info");
    EXPECT_EQ(phase.size(), 7u) << text;
    EXPECT_EQ(info.size(), 7u) << text;
    for (const char* name : {"ok-a", "ok-b", "fail", "long-suspend", "held", "broken", "blocked"}) {
      int n = 0;
      for (const auto& s : phase) n += s.labels.at("name") == name;
      EXPECT_EQ(n, 1) << name;
    }
  }

  // --- Prometheus has it all --------------------------------------------------------
  // The final revision and the scenario's events, as Prometheus stored them.
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        return !PromQuery(prom.port(), "gitops_source_revision_info{revision=\"" + rev_b + "\"}")
                    .empty() &&
               PromQuery(prom.port(), "mlspacejob_status_phase{name=\"long-prune\"}").empty() &&
               PromScalar(prom.port(), "sum(mlspacejob_cancellations_total)").value_or(0) >= 2;
      },
      seconds(30)))
      << "Prometheus did not catch up";
  // The emulator is scraped too: its own counters agree that throttling and
  // job creation happened on its side of the wire.
  ASSERT_TRUE(e2e::WaitFor(
      [&] {
        return PromScalar(prom.port(), "up{job=\"emulator\"}").value_or(0) == 1 &&
               PromScalar(prom.port(), "sum(mlspace_emulator_requests_total{code=\"429\"})")
                       .value_or(0) >= 1 &&
               PromScalar(prom.port(), "mlspace_emulator_jobs_created_total").value_or(0) >= 5;
      },
      seconds(30)))
      << "the emulator's series did not reach Prometheus";
  struct Check {
    const char* what;
    std::string expr;
    double min;
  };
  const std::vector<Check> checks = {
      {"successful submits", "sum(mlspacejob_submissions_total{result=\"success\"})", 5},
      {"retries", "sum(mlspacejob_retries_total)", 1},
      {"blocked submits", "sum(mlspacejob_submissions_total{result=\"error\"})", 1},
      {"reconcile errors", "sum(controller_runtime_reconcile_errors_total)", 1},
      {"workqueue retries", "sum(workqueue_retries_total)", 1},
      {"pending job", "count(mlspacejob_status_phase{phase=\"Pending\"})", 1},
      {"suspend cancel", "sum(mlspacejob_cancellations_total{reason=\"suspend\"})", 1},
      {"prune cancel", "sum(mlspacejob_cancellations_total{reason=\"prune\"})", 1},
      {"throttled", "sum(mlspace_gateway_throttled_total)", 2},
      {"429 answers", "sum(rest_client_requests_total{code=\"429\"})", 2},
      {"gateway 2xx", "sum(mlspace_gateway_requests_total{code=~\"2..\"})", 10},
      {"pending durations", "sum(mlspacejob_pending_duration_seconds_count)", 3},
      {"run durations", "sum(mlspacejob_run_duration_seconds_count)", 2},
      {"reconciles", "sum(controller_runtime_reconcile_total{result=\"success\"})", 10},
      {"workqueue adds", "sum(workqueue_adds_total)", 10},
      {"in-flight work seen", "max(max_over_time(workqueue_unfinished_work_seconds[10m]))", 1e-9},
      {"longest processor seen",
       "max(max_over_time(workqueue_longest_running_processor_seconds[10m]))", 1e-9},
      {"invalid manifests", "sum(gitops_manifests{state=\"invalid\"})", 1},
      {"valid manifests", "sum(gitops_manifests{state=\"valid\"})", 5},
      {"failed jobs", "count(mlspacejob_status_phase{phase=\"Failed\"})", 1},
      {"succeeded jobs", "count(mlspacejob_status_phase{phase=\"Succeeded\"})", 2},
      // honor_labels kept the exported namespace label (no exported_namespace).
      {"namespace label", "count(mlspacejob_info{namespace=\"team-a\"})", 2},
      {"process cpu", "sum(process_cpu_seconds_total)", 1e-9},
  };
  for (const auto& c : checks) {
    std::optional<double> v;
    e2e::WaitFor(
        [&] {
          v = PromScalar(prom.port(), c.expr);
          return v && *v >= c.min;
        },
        seconds(15));
    EXPECT_TRUE(v && *v >= c.min) << c.what << ": " << c.expr << " = "
                                  << (v ? std::to_string(*v) : "no data");
  }
  // Exactly one phase series per object at every moment Prometheus saw.
  EXPECT_EQ(PromScalar(prom.port(),
                       "max(max_over_time(count by (namespace, name) "
                       "(mlspacejob_status_phase)[10m:1s]))")
                .value_or(-1),
            1);

  // Every panel and variable query of the dashboard returns data. No
  // --allow-empty: the scenario populates every family.
  std::string qout;
  int qrc = e2e::Sh("python3 " + e2e::SourcePath("e2e/metrics/dashboard_queries.py") +
                        " --prometheus " + prom.url() + " --timeout 60 2>&1",
                    &qout);
  EXPECT_EQ(qrc, 0) << qout;
  std::printf("%s", qout.c_str());

  // The alert rules loaded and evaluate without errors.
  json rules_answer = e2e::GetJson(prom.port(), "/api/v1/rules");
  ASSERT_TRUE(rules_answer.is_object()) << "no /api/v1/rules answer";
  std::vector<std::string> alerts;
  for (const auto& g : rules_answer["data"]["groups"]) {
    for (const auto& r : g["rules"]) {
      if (r.value("type", "") == "alerting") alerts.push_back(r.value("name", ""));
      EXPECT_EQ(r.value("health", ""), "ok") << r.dump();
    }
  }
  for (const char* name : {"MLSpaceControllerDown", "MLSpaceReconcileErrorsHigh",
                           "MLSpaceGatewayThrottled", "MLSpaceGatewayAuthFailing",
                           "MLSpaceGitSyncStale", "MLSpaceJobStuckPending", "MLSpaceJobFailed"}) {
    EXPECT_NE(std::find(alerts.begin(), alerts.end(), name), alerts.end()) << name;
  }

  // The alerts about objects match the real series: the failed job and the
  // blocked one are active (pending until their `for:` passes).
  auto active = [&](const std::string& alert, const std::string& name) {
    json a = e2e::GetJson(prom.port(), "/api/v1/alerts");
    if (!a.is_object()) return false;
    for (const auto& x : a["data"]["alerts"]) {
      const auto& l = x["labels"];
      if (l.value("alertname", "") == alert && l.value("name", "") == name &&
          l.value("namespace", "") == "team-a") {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(e2e::WaitFor([&] { return active("MLSpaceJobFailed", "fail"); }, seconds(15)))
      << e2e::GetJson(prom.port(), "/api/v1/alerts").dump();
  EXPECT_TRUE(
      e2e::WaitFor([&] { return active("MLSpaceJobStuckPending", "blocked"); }, seconds(15)))
      << e2e::GetJson(prom.port(), "/api/v1/alerts").dump();

  // promtool's linter on a live /metrics answer: no findings.
  std::string scrape = dir / "scrape.txt";
  e2e::WriteFile(scrape, Metrics());
  std::string lint;
  int lrc = e2e::Sh(std::string(kPromtool) + " check metrics < " + scrape + " 2>&1", &lint);
  EXPECT_EQ(lrc, 0) << lint;
  EXPECT_EQ(lint, "") << lint;

  // The controller stops cleanly.
  controller.Signal(SIGTERM);
  EXPECT_EQ(controller.Wait(seconds(30)), 0) << e2e::ReadFile(controller.log_path());
  emulator.Signal(SIGTERM);
  emulator.Wait(seconds(15));

  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("metrics_controller_e2e: %.1f s\n", took);
}

}  // namespace
}  // namespace mlspace
