// The real controller serving its API over https with bearer tokens (a CA
// and certificate made by the openssl CLI, a kubeconfig holding the CA and
// a token), against the real emulator running jobs through the real
// mlspace-launch, with the real kubectl 1.32 (e2e::KubectlPath()). A job
// whose executable does not exist fails; the test reads why with kubectl
// and curl: the log subresource shows the launcher's message, status holds
// the exit code. Without a token: 401. A non-loopback bind without TLS is
// refused at start.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "e2e/harness/harness.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kApiKey[] = "e2e-api-key";
constexpr char kWorkspace[] = "e2e-workspace";
constexpr char kToken[] = "e2e-kubectl-token-0d9f";
constexpr char kJobPath[] = "/apis/mlspace.io/v1alpha1/namespaces/default/mlspacejobs/";

std::string Q(const std::string& s) { return "'" + s + "'"; }

class ApiSecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Sh(Q(KubectlPath()) + " version --client >/dev/null"), 0)
        << "no kubectl at " << KubectlPath() << " (scripts/tools.sh; set MLSPACE_KUBECTL)";
    ASSERT_EQ(Sh("openssl version >/dev/null && curl -V >/dev/null"), 0)
        << "the openssl and curl CLIs are needed (scripts/deps.sh installs them)";
  }
  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n---- emulator.log ----\n%s\n",
                   ReadFile(tmp_ / "controller.log").c_str(),
                   ReadFile(tmp_ / "emulator.log").c_str());
    }
  }

  // A CA, and a server certificate it signed for IP 127.0.0.1.
  void MakeCertificates() {
    std::string out;
    std::string d = tmp_.path();
    ASSERT_EQ(Sh("cd " + Q(d) +
                     " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                     " -keyout ca.key -out ca.crt -days 1 -subj /CN=e2e-ca"
                     " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                     " -keyout tls.key -out tls.csr -subj /CN=mlspace-api"
                     " && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext"
                     " && openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
                     " -out tls.crt -days 1 -extfile san.ext",
                 &out),
              0)
        << out;
  }

  void StartEmulator() {
    emulator_ = std::make_unique<Process>(
        std::vector<std::string>{
            BinaryPath("controller/cmd/mlspace-gateway-emulator"), "--execute=local", "--launcher",
            BinaryPath("launcher/mlspace-launch"), "--state-dir", tmp_ / "emulator-state",
            "--listen", "127.0.0.1:0", "--port-file", tmp_ / "emulator.port", "--api-key", kApiKey,
            "--workspace-id", kWorkspace, "--rate-limit", "0"},
        tmp_ / "emulator.log");
    auto port = WaitForPortFile(tmp_ / "emulator.port", 20s);
    ASSERT_TRUE(port.has_value()) << ReadFile(tmp_ / "emulator.log");
    emulator_port_ = *port;
  }

  std::vector<std::string> ControllerArgv(const std::string& bind) {
    return {BinaryPath("controller/cmd/mlspace-controller"),
            "--manifests",
            repo_.path(),
            "--state-dir",
            tmp_ / "state",
            "--gateway-url",
            "http://127.0.0.1:" + std::to_string(emulator_port_),
            "--api-bind-address",
            bind,
            "--metrics-bind-address",
            "127.0.0.1:0",
            "--ports-file",
            tmp_ / "ports.json",
            "--poll-interval",
            "200ms",
            "--source-poll-interval",
            "1s",
            "--api-token-file",
            tmp_ / "tokens.csv"};
  }
  std::map<std::string, std::string> ControllerEnv() {
    return {{"MLSPACE_API_KEY", kApiKey}, {"MLSPACE_WORKSPACE_ID", kWorkspace}};
  }

  // kubectl with the generated kubeconfig; returns the exit code.
  int Kubectl(const std::string& args, std::string* out, const std::string& kubeconfig = "") {
    return Sh(Q(KubectlPath()) + " --kubeconfig " +
                  Q(kubeconfig.empty() ? tmp_ / "kubeconfig" : kubeconfig) + " --cache-dir " +
                  Q(tmp_ / "kube-cache") + " --request-timeout 20s " + args,
              out);
  }
  void WriteKubeconfig(const std::string& path, const std::string& token) {
    std::string user = token.empty() ? "{}" : "{token: " + token + "}";
    WriteFile(path,
              "apiVersion: v1\nkind: Config\nclusters:\n- name: e2e\n  cluster:\n"
              "    server: https://127.0.0.1:" +
                  std::to_string(api_port_) + "\n    certificate-authority: " + (tmp_ / "ca.crt") +
                  "\nusers:\n- name: u\n  user: " + user +
                  "\ncontexts:\n- name: e2e\n  context: {cluster: e2e, user: u, namespace: "
                  "default}\ncurrent-context: e2e\n");
  }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  std::unique_ptr<Process> emulator_;
  int emulator_port_ = 0;
  int api_port_ = 0;
};

TEST_F(ApiSecurityE2eTest, FailedJobSaysWhyThroughKubectlOverTlsWithAToken) {
  MakeCertificates();
  WriteFile(tmp_ / "tokens.csv", std::string(kToken) + ",e2e-user,uid-1,\"ops,ml\"\n");
  StartEmulator();
  repo_.Write("jobs/broken.yaml",
              "apiVersion: mlspace.io/v1alpha1\nkind: MLSpaceJob\nmetadata:\n  name: broken\n"
              "spec:\n  region: SR006\n  image: cr.ai.cloud.ru/base/py3.11:1\n"
              "  instanceType: cpu.2C.8G\n  command: [trian-does-not-exist, --lr, \"3e-4\"]\n"
              "  runPolicy: {backoffLimit: 0}\n");
  repo_.Commit("a job whose executable does not exist");

  std::vector<std::string> argv = ControllerArgv("127.0.0.1:0");
  argv.insert(argv.end(), {"--api-tls-cert-file", tmp_ / "tls.crt", "--api-tls-private-key-file",
                           tmp_ / "tls.key"});
  Process controller(argv, tmp_ / "controller.log", ControllerEnv());
  const auto bound =
      WaitForControllerPorts(tmp_ / "ports.json", 30s, [&] { return !controller.Running(); });
  if (bound) api_port_ = bound->api;
  ASSERT_GT(api_port_, 0) << ReadFile(tmp_ / "controller.log");
  WriteKubeconfig(tmp_ / "kubeconfig", kToken);
  WriteKubeconfig(tmp_ / "kubeconfig-wrong", "not-the-token");

  // kubectl over https with the CA and the token: the job ends Failed.
  std::string out;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Kubectl("get mlspacejob broken -o jsonpath='{.status.phase}'", &out) == 0 &&
               out == "Failed";
      },
      60s))
      << out;
  ASSERT_EQ(Kubectl("get mlspacejob broken -o json", &out), 0) << out;
  json obj = json::parse(out, nullptr, false);
  ASSERT_TRUE(obj.is_object()) << out;
  EXPECT_EQ(obj["status"].value("exitCode", -1), 207) << out;
  std::string failed_message;
  for (const auto& c : obj["status"]["conditions"]) {
    if (c.value("type", "") == "Failed") failed_message = c.value("message", "");
  }
  EXPECT_THAT(failed_message,
              HasSubstr("exit code 207 (mlspace-launch: executable not found or not executable)"));
  EXPECT_THAT(failed_message, HasSubstr("\"trian-does-not-exist\" not found in PATH"));
  EXPECT_THAT(obj["status"].value("lastError", ""), HasSubstr("exit code 207"));

  // The log subresource, through kubectl and through curl.
  const std::string launcher_line =
      "mlspace-launch: executable \"trian-does-not-exist\" not found in PATH (exit 207)";
  ASSERT_EQ(Kubectl(std::string("get --raw ") + kJobPath + "broken/log", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(launcher_line));
  const std::string curl = "curl -sS --cacert " + Q(tmp_ / "ca.crt") +
                           " https://127.0.0.1:" + std::to_string(api_port_) + kJobPath;
  ASSERT_EQ(Sh(curl + "broken/log?tailLines=1 -H 'Authorization: Bearer " + kToken + "'", &out), 0);
  EXPECT_EQ(out, launcher_line + "\n");
  ASSERT_EQ(Sh(curl + "broken/log?attempt=9 -H 'Authorization: Bearer " + kToken + "'", &out), 0);
  EXPECT_THAT(out, HasSubstr("\"code\":404"));

  // Without a token: 401 (kubectl with no credentials would prompt for a
  // password on 401, so curl shows it). With a wrong token: 401 for both.
  ASSERT_EQ(Sh(curl + "broken/log -o /dev/null -w '%{http_code}'", &out), 0);
  EXPECT_EQ(out, "401");
  ASSERT_EQ(
      Sh(curl + "broken -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope'", &out), 0);
  EXPECT_EQ(out, "401");
  EXPECT_NE(Kubectl("get mlspacejobs </dev/null", &out, tmp_ / "kubeconfig-wrong"), 0);
  EXPECT_THAT(out, HasSubstr("You must be logged in to the server (Unauthorized)"));
  // follow=true on an ended job: the output, then the stream ends by itself.
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(
      Sh(curl + "broken/log?follow=true --max-time 15 -H 'Authorization: Bearer " + kToken + "'",
         &out),
      0)
      << out;
  EXPECT_EQ(out, launcher_line + "\n");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  // The controller's log never holds the token.
  std::string log = ReadFile(tmp_ / "controller.log");
  EXPECT_THAT(log, ::testing::Not(HasSubstr(kToken)));
}

TEST_F(ApiSecurityE2eTest, NonLoopbackBindWithoutTlsIsRefusedAtStart) {
  WriteFile(tmp_ / "tokens.csv", std::string(kToken) + ",u,1\n");
  emulator_port_ = 1;  // never contacted: the controller stops at its flags
  Process controller(ControllerArgv("0.0.0.0:0"), tmp_ / "controller.log", ControllerEnv());
  auto code = controller.Wait(20s);
  ASSERT_TRUE(code.has_value());
  EXPECT_NE(*code, 0);
  std::string log = ReadFile(tmp_ / "controller.log");
  EXPECT_THAT(log, HasSubstr("mlspace-controller: --api-bind-address 0.0.0.0:0: a non-loopback API "
                             "needs --api-token-file and --api-tls-cert-file"));
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

}  // namespace
}  // namespace mlspace::e2e
