// Nothing fails silently: the real controller on a real git repository that
// gains a NEW file with a YAML syntax error, an alias bomb, a kustomization
// and a values file beside valid manifests. Each broken file gets one WARN
// line with file:line:col, gitops_manifests counts it, the MLSpaceSource
// status lists it (read through the API and through the real kubectl), and
// the valid manifests are still processed. The documents of other kinds are
// logged once at debug, and --log-level debug shows the reconcile decisions.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <regex>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Nine levels of nine aliases: 9^9 nodes if expanded.
std::string AliasBomb() {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) text += (k ? ", *a" : "*a") + std::to_string(i - 1);
    text += "]\n";
  }
  return text;
}

int CountLines(const std::string& text, const std::regex& re) {
  int n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (std::regex_search(text.substr(pos, end - pos), re)) ++n;
    pos = end + 1;
  }
  return n;
}

TEST(SourceStatusE2eTest, BrokenNewFilesAreWarnedCountedAndListed) {
  TempDir tmp;
  GitRepo repo(tmp / "repo");
  repo.Write("jobs/a.yaml", JobManifest("a"));
  std::string rev1 = repo.Commit("a");
  Emulator emulator(tmp, {"--pending-duration", "200ms", "--run-duration", "60s"});
  ASSERT_GT(emulator.port(), 0) << ReadFile(tmp / "emulator.log");
  ControllerProcess controller(
      tmp, repo.path() + "/jobs", tmp / "state", emulator,
      {"--poll-interval", "200ms", "--source-poll-interval", "1s", "--workers", "2",
       "--shutdown-grace", "5s", "--log-level", "debug"});
  ASSERT_TRUE(controller.WaitReady()) << ReadFile(tmp / "controller.log");
  const std::string source_path = "/apis/mlspace.io/v1alpha1/mlspacesources/default";
  ASSERT_TRUE(WaitFor(
      [&] {
        json s = GetJson(controller.api_port(), source_path);
        return s.is_object() && s.value("kind", "") == "MLSpaceSource" &&
               s["status"].value("revision", "") == rev1;
      },
      20s))
      << GetJson(controller.api_port(), source_path).dump();

  repo.Write("jobs/b.yaml", JobManifest("b"));
  repo.Write("jobs/broken.yaml", JobManifest("broken") + "  env: [unclosed\n");
  repo.Write("jobs/bomb.yaml", AliasBomb());
  repo.Write("jobs/kustomization.yaml",
             "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
             "resources: [a.yaml, b.yaml]\n");
  repo.Write("jobs/values.yaml", "replicas: 3\nimage: {tag: latest}\n");
  std::string rev2 = repo.Commit("broken ones");

  json s;
  ASSERT_TRUE(WaitFor(
      [&] {
        s = GetJson(controller.api_port(), source_path);
        return s.is_object() && s["status"].value("revision", "") == rev2;
      },
      20s))
      << s.dump() << ReadFile(tmp / "controller.log");
  const json& st = s["status"];
  EXPECT_EQ(st["manifests"]["valid"], 2) << s.dump();
  EXPECT_EQ(st["manifests"]["invalid"], 2) << s.dump();
  EXPECT_EQ(st["manifests"]["ignored"], 2) << s.dump();
  ASSERT_EQ(st["invalidFiles"].size(), 2u) << s.dump();
  EXPECT_EQ(st["invalidFiles"][0]["path"], "bomb.yaml");
  EXPECT_EQ(st["invalidFiles"][1]["path"], "broken.yaml");
  EXPECT_TRUE(std::regex_search(st["invalidFiles"][1]["message"].get<std::string>(),
                                std::regex("^broken\\.yaml:1[01]:[0-9]+: ")))
      << s.dump();
  EXPECT_EQ(st["conditions"][0]["type"], "Ready");
  EXPECT_EQ(st["conditions"][0]["status"], "True");
  EXPECT_NE(st["conditions"][0]["message"].get<std::string>().find("2 invalid files"),
            std::string::npos)
      << s.dump();

  // The valid manifests are still processed.
  EXPECT_TRUE(WaitFor(
      [&] {
        json o = GetJson(controller.api_port(),
                         "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/b");
        return o.is_object() && o.value("kind", "") == "MLSpaceJob";
      },
      20s));

  // One WARN line per broken file, with file:line:col.
  std::string log = ReadFile(tmp / "controller.log");
  EXPECT_EQ(CountLines(log, std::regex("WARN invalid manifest: broken\\.yaml:[0-9]+:[0-9]+: ")), 1)
      << log;
  EXPECT_EQ(CountLines(log, std::regex("WARN invalid manifest: bomb\\.yaml:[0-9]+:[0-9]+: ")), 1)
      << log;
  // (The files were written before their commit, so the note that
  // uncommitted changes wait for one may name them: that is not a warning
  // about the kustomization.)
  EXPECT_EQ(CountLines(log, std::regex("WARN (?!uncommitted manifest changes).*kustomization")), 0)
      << log;
  // The other kinds: once each, at debug, saying why nothing was done.
  EXPECT_EQ(CountLines(log, std::regex(" DEBUG kustomization\\.yaml:.*ignoring "
                                       "kustomize\\.config\\.k8s\\.io/v1beta1 Kustomization")),
            1)
      << log;
  EXPECT_EQ(CountLines(log, std::regex(" DEBUG values\\.yaml:.*ignoring a document without")), 1)
      << log;
  // --log-level debug shows the reconcile decisions: what was compared and
  // the request sent (tests/reconciler/gateway_health_test.cc has the rest).
  EXPECT_GE(CountLines(log, std::regex(" DEBUG desired vs recorded object=default/b "
                                       "specHash=[0-9a-f]+ recordedSpecHash=")),
            1)
      << log;
  EXPECT_EQ(CountLines(log, std::regex(" DEBUG sending submit object=default/b attempt=1 "
                                       "marker=mlsj:[a-z0-9-]+:default/b/")),
            1)
      << log;

  // Metrics from the real counts.
  HttpReply m = HttpCall("GET", controller.metrics_port(), "/metrics", "");
  ASSERT_EQ(m.status, 200);
  for (const std::string& line : std::vector<std::string>{
           "gitops_manifests{state=\"valid\"} 2", "gitops_manifests{state=\"invalid\"} 2",
           "gitops_manifests{state=\"ignored\"} 2", "gitops_source_invalid_files 2",
           "gitops_source_ready 1", "gitops_source_revision_info{revision=\"" + rev2 + "\"} 1"}) {
    EXPECT_NE(m.body.find(line + "\n"), std::string::npos) << line << "\n" << m.body;
  }

  // The real kubectl: discovery finds the cluster-scoped resource by its
  // plural and short name, and the Table has the documented columns.
  if (access(KubectlPath().c_str(), X_OK) == 0) {
    const std::string kubectl = KubectlPath() + " --cache-dir " + (tmp / "kube-cache") +
                                " --kubeconfig /dev/null --server http://127.0.0.1:" +
                                std::to_string(controller.api_port());
    std::string out;
    ASSERT_EQ(Sh(kubectl + " get mlspacesources 2>&1", &out), 0) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("NAME +SOURCE +REVISION +READY +MESSAGE +AGE")))
        << out;
    EXPECT_TRUE(std::regex_search(
        out, std::regex("\ndefault +\\S+/jobs +" + rev2.substr(0, 12) + " +True +revision ")))
        << out;
    ASSERT_EQ(
        Sh(kubectl + " get msrc default -o jsonpath='{.status.invalidFiles[*].path}' 2>&1", &out),
        0)
        << out;
    EXPECT_EQ(out, "bomb.yaml broken.yaml");
  } else {
    ADD_FAILURE() << "no kubectl at " << KubectlPath()
                  << " (scripts/tools.sh; set MLSPACE_KUBECTL): the kubectl part did not run";
  }

  controller.process().Signal(SIGTERM);
  EXPECT_EQ(controller.process().Wait(20s), std::optional<int>(0));
}

// --git-interval drives the remote fetch: with the fallback source poll at
// 30 s, a new upstream commit is seen within seconds only because the fetch
// runs every --git-interval. A fetch that fails keeps the revision but
// makes the source un-Ready and counts in gitops_source_fetch_errors_total.
TEST(SourceStatusE2eTest, GitIntervalDrivesTheFetchAndAFailingFetchIsNotReady) {
  TempDir tmp;
  GitRepo upstream(tmp / "upstream");
  upstream.Write("a.yaml", JobManifest("a"));
  std::string rev1 = upstream.Commit("a");
  Emulator emulator(tmp, {"--pending-duration", "200ms", "--run-duration", "60s"});
  ASSERT_GT(emulator.port(), 0) << ReadFile(tmp / "emulator.log");
  const std::string ports_file = tmp / "ports.json";
  Process controller({BinaryPath("controller/cmd/mlspace-controller"),
                      "--git-url",
                      "file://" + upstream.path(),
                      "--git-ref",
                      "main",
                      "--git-interval",
                      "1s",
                      "--source-poll-interval",
                      "30s",
                      "--state-dir",
                      tmp / "state",
                      "--gateway-url",
                      emulator.url(),
                      "--api-bind-address",
                      "127.0.0.1:0",
                      "--metrics-bind-address",
                      "127.0.0.1:0",
                      "--ports-file",
                      ports_file,
                      "--poll-interval",
                      "200ms",
                      "--shutdown-grace",
                      "5s"},
                     tmp / "controller.log",
                     {{"MLSPACE_API_KEY", kApiKey}, {"MLSPACE_WORKSPACE_ID", kWorkspace}});
  const auto bound = WaitForControllerPorts(ports_file, 30s);
  ASSERT_TRUE(bound) << ReadFile(tmp / "controller.log");
  const int api = bound->api, metrics = bound->metrics;
  const std::string path = "/apis/mlspace.io/v1alpha1/mlspacesources/default";
  json s;
  auto wait_status = [&](const std::function<bool(const json&)>& pred) {
    return WaitFor(
        [&] {
          s = GetJson(api, path);
          return s.is_object() && s.contains("status") && pred(s);
        },
        15s);
  };
  ASSERT_TRUE(wait_status([&](const json& o) { return o["status"]["revision"] == rev1; }))
      << s.dump() << ReadFile(tmp / "controller.log");
  EXPECT_EQ(s["spec"]["type"], "git-remote");
  EXPECT_EQ(s["spec"]["url"], "file://" + upstream.path());
  EXPECT_EQ(s["spec"]["ref"], "main");
  EXPECT_TRUE(s["status"]["lastFetchTime"].is_string());

  upstream.Write("b.yaml", JobManifest("b"));
  std::string rev2 = upstream.Commit("b");
  const auto committed = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_status([&](const json& o) { return o["status"]["revision"] == rev2; }))
      << s.dump() << ReadFile(tmp / "controller.log");
  EXPECT_LT(std::chrono::steady_clock::now() - committed, 10s);

  // The upstream goes away: the fetch fails, the revision stays.
  ASSERT_EQ(std::rename(upstream.path().c_str(), (tmp / "moved").c_str()), 0);
  ASSERT_TRUE(wait_status([&](const json& o) {
    return o["status"]["conditions"][0]["reason"] == "FetchFailed";
  })) << s.dump();
  EXPECT_EQ(s["status"]["conditions"][0]["status"], "False");
  EXPECT_EQ(s["status"]["revision"], rev2);
  EXPECT_TRUE(s["status"].contains("lastFetchError")) << s.dump();
  HttpReply m = HttpCall("GET", metrics, "/metrics", "");
  EXPECT_NE(m.body.find("gitops_source_ready 0\n"), std::string::npos) << m.body;
  EXPECT_EQ(m.body.find("gitops_source_fetch_errors_total 0\n"), std::string::npos) << m.body;

  // Back again: Ready at the next fetch.
  ASSERT_EQ(std::rename((tmp / "moved").c_str(), upstream.path().c_str()), 0);
  ASSERT_TRUE(wait_status([&](const json& o) {
    return o["status"]["conditions"][0]["status"] == "True";
  })) << s.dump();
  EXPECT_FALSE(s["status"].contains("lastFetchError")) << s.dump();

  controller.Signal(SIGTERM);
  EXPECT_EQ(controller.Wait(20s), std::optional<int>(0));
}

}  // namespace
}  // namespace mlspace::e2e
