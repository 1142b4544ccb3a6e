// The real mlspacectl against the real controller, served over https with a
// bearer token (a CA and certificate from the openssl CLI), and the real
// emulator running the job through mlspace-launch: the connection from a
// kubeconfig (certificate-authority-data, token), from MLSPACE_SERVER and
// flags; get, describe, logs, wait, reconcile, version; validate offline on
// good and bad trees; exit codes.

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "e2e/controller/controller_e2e_util.h"

namespace mlspace::e2e {
namespace {

using namespace std::chrono_literals;

constexpr char kToken[] = "e2e-mlspacectl-token-7f3a";

std::string Q(const std::string& s) { return "'" + s + "'"; }

class CliE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_EQ(Sh("cd " + Q(tmp_.path()) +
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
    WriteFile(tmp_ / "tokens.csv", std::string(kToken) + ",ci-user,uid-1\n");
    emulator_ = std::make_unique<Emulator>(
        tmp_, std::vector<std::string>{"--execute=local", "--launcher",
                                       BinaryPath("launcher/mlspace-launch"), "--state-dir",
                                       tmp_ / "emulator-state"});
    ASSERT_GT(emulator_->port(), 0) << ReadFile(tmp_ / "emulator.log");
  }
  void TearDown() override {
    if (HasFailure() && controller_) {
      std::fprintf(stderr, "---- controller.log ----\n%s\n",
                   ReadFile(controller_->process().log_path()).c_str());
    }
  }

  void StartController() {
    controller_ = std::make_unique<ControllerProcess>(
        tmp_, repo_.path(), tmp_ / "state", *emulator_,
        std::vector<std::string>{"--poll-interval", "200ms", "--source-poll-interval", "500ms",
                                 "--api-tls-cert-file", tmp_ / "tls.crt",
                                 "--api-tls-private-key-file", tmp_ / "tls.key", "--api-token-file",
                                 tmp_ / "tokens.csv"});
    ASSERT_TRUE(controller_->WaitReady()) << ReadFile(tmp_ / "controller.log");
    std::string ca_b64;
    ASSERT_EQ(Sh("base64 -w0 " + Q(tmp_ / "ca.crt"), &ca_b64), 0);
    WriteFile(tmp_ / "kubeconfig",
              "apiVersion: v1\nkind: Config\ncurrent-context: e2e\nclusters:\n- name: e2e\n"
              "  cluster:\n    server: https://127.0.0.1:" +
                  std::to_string(controller_->api_port()) + "\n    certificate-authority-data: " +
                  ca_b64 + "\nusers:\n- name: u\n  user: {token: " + kToken +
                  "}\ncontexts:\n- name: e2e\n  context: {cluster: e2e, user: u, namespace: "
                  "default}\n");
  }
  std::string Url() const { return "https://127.0.0.1:" + std::to_string(controller_->api_port()); }
  // Runs mlspacectl with a clean environment plus `env`; stdout+stderr in *out.
  int Ctl(const std::string& args, std::string* out, const std::string& env = "") {
    std::string e = "env -i PATH=/usr/bin:/bin HOME=" + Q(tmp_ / "home") + " " + env;
    return Sh(e + " " + Q(BinaryPath("controller/cli/mlspacectl")) + " " + args, out);
  }
  std::string Kc() const { return "KUBECONFIG=" + Q(tmp_ / "kubeconfig"); }
  std::string Ok(const std::string& args) {
    std::string out;
    EXPECT_EQ(Ctl(args, &out, Kc()), 0) << "mlspacectl " << args << "\n" << out;
    return out;
  }

  TempDir tmp_;
  GitRepo repo_{tmp_ / "repo"};
  std::unique_ptr<Emulator> emulator_;
  std::unique_ptr<ControllerProcess> controller_;
};

TEST_F(CliE2eTest, ReadSideOverHttpsWithAToken) {
  repo_.Write("jobs/train.yaml", JobManifest("train", "echo hello-from-train; echo second-line"));
  repo_.Commit("train");
  StartController();

  std::string version = Ok("version");
  EXPECT_NE(version.find("Client Version: mlspacectl "), std::string::npos) << version;
  EXPECT_NE(version.find("Server Version: "), std::string::npos) << version;

  // wait, like kubectl's, needs the object to exist: the first sync first.
  std::string out;
  ASSERT_TRUE(WaitFor([&] { return Ctl("get train -o name", &out, Kc()) == 0; }, 30s)) << out;
  // wait watches until the job completes on the emulator.
  std::string waited = Ok("wait train --for=condition=Complete --timeout 90s");
  EXPECT_EQ(waited, "mlspacejob.mlspace.io/train condition met\n");

  std::string table = Ok("get");
  for (const char* col : {"NAME", "REGION", "PHASE", "train", "Succeeded"}) {
    EXPECT_NE(table.find(col), std::string::npos) << col << "\n" << table;
  }
  EXPECT_EQ(table.find("IMAGE"), std::string::npos) << table;  // -o wide only
  EXPECT_NE(Ok("get -o wide").find("cr.ai.cloud.ru/base/py3.11:1"), std::string::npos);
  EXPECT_NE(Ok("get -A").find("NAMESPACE"), std::string::npos);
  EXPECT_EQ(Ok("get -o name"), "mlspacejob.mlspace.io/train\n");
  std::string yaml = Ok("get train -o yaml");
  EXPECT_NE(yaml.find("image: cr.ai.cloud.ru/base/py3.11:1"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("phase: Succeeded"), std::string::npos) << yaml;

  std::string described = Ok("describe train");
  for (const char* want :
       {"Name:         train", "Spec:", "instanceType: cpu.2C.8G", "Phase:", "Succeeded",
        "Conditions:", "Complete", "Events:", "Submitted", "mlspace-controller"}) {
    EXPECT_NE(described.find(want), std::string::npos) << want << "\n" << described;
  }

  std::string logs = Ok("logs train");
  EXPECT_NE(logs.find("hello-from-train\nsecond-line"), std::string::npos) << logs;
  // The job ended: a follow stream sends the output and ends.
  EXPECT_NE(Ok("logs train -f").find("second-line"), std::string::npos);
  std::string tail = Ok("logs train --tail 1");
  EXPECT_EQ(tail.find("hello-from-train"), std::string::npos) << tail;
  EXPECT_NE(tail.find("second-line"), std::string::npos) << tail;

  EXPECT_NE(Ok("reconcile").find("reconcile requested"), std::string::npos);

  // get -w prints a job committed while it watches, under the header.
  Process watch({"/bin/sh", "-c",
                 "exec env " + Kc() + " HOME=" + Q(tmp_ / "home") + " " +
                     Q(BinaryPath("controller/cli/mlspacectl")) + " get -w"},
                tmp_ / "watch.log");
  ASSERT_TRUE(
      WaitFor([&] { return ReadFile(tmp_ / "watch.log").find("train") != std::string::npos; }, 20s))
      << ReadFile(tmp_ / "watch.log");
  repo_.Write("jobs/later.yaml", JobManifest("later"));
  repo_.Commit("later");
  EXPECT_TRUE(WaitFor(
      [&] { return ReadFile(tmp_ / "watch.log").find("\nlater ") != std::string::npos; }, 30s))
      << ReadFile(tmp_ / "watch.log");
  EXPECT_TRUE(watch.Running());  // still watching

  EXPECT_EQ(Ctl("get nope", &out, Kc()), 1);
  EXPECT_NE(out.find("Error from server (NotFound)"), std::string::npos) << out;
  EXPECT_EQ(Ctl("get --bogus", &out, Kc()), 2);
  EXPECT_NE(out.find("unknown flag --bogus"), std::string::npos) << out;
}

TEST_F(CliE2eTest, ConnectionFromEnvironmentAndFlags) {
  repo_.Write("jobs/a.yaml", JobManifest("a"));
  repo_.Commit("a");
  StartController();
  std::string out;
  // MLSPACE_SERVER and MLSPACE_TOKEN, the CA from a flag.
  std::string env = "MLSPACE_SERVER=" + Url() + " MLSPACE_TOKEN=" + kToken;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Ctl("get -o name --certificate-authority " + Q(tmp_ / "ca.crt"), &out, env) == 0 &&
               out == "mlspacejob.mlspace.io/a\n";
      },
      30s))
      << out;
  // Without the CA the server's certificate is not trusted...
  EXPECT_EQ(Ctl("get", &out, env), 1);
  EXPECT_NE(out.find("error: GET " + Url()), std::string::npos) << out;
  // ...unless verification is skipped.
  EXPECT_EQ(Ctl("get -o name --insecure-skip-tls-verify", &out, env), 0) << out;
  // A wrong token: kubectl's 401 line, the token never printed.
  EXPECT_EQ(Ctl("get --token not-the-token", &out, Kc()), 1);
  EXPECT_EQ(out, "error: You must be logged in to the server (Unauthorized)\n");
  // No server anywhere.
  EXPECT_EQ(Ctl("get", &out), 1);
  EXPECT_NE(out.find("no API server"), std::string::npos) << out;
}

TEST_F(CliE2eTest, ValidateGoodAndBadTreesOffline) {
  repo_.Write("jobs/a.yaml", JobManifest("a"));
  repo_.Write("jobs/team/b.yaml", JobManifest("b") + "---\n" + JobManifest("c"));
  std::string out;
  // No server needed (none is running, none configured).
  EXPECT_EQ(Ctl("validate " + Q(repo_.path() + "/jobs"), &out), 0) << out;
  EXPECT_NE(out.find("validate: 2 files, 3 valid MLSpaceJobs, 0 invalid, 0 ignored, 0 errors"),
            std::string::npos)
      << out;
  std::string bad = repo_.path() + "/jobs/bad.yaml";
  repo_.Write("jobs/bad.yaml", JobManifest("bad") + "  workers: 0\n  bogus: 1\n");
  EXPECT_EQ(Ctl("validate " + Q(repo_.path() + "/jobs"), &out), 1) << out;
  // The lines after the job manifest's nine.
  EXPECT_NE(out.find(bad + ":10:3: spec.workers: "), std::string::npos) << out;
  EXPECT_NE(out.find(bad + ":11:3: unknown field \"spec.bogus\""), std::string::npos) << out;
  EXPECT_NE(out.find("1 invalid"), std::string::npos) << out;
  EXPECT_EQ(Ctl("validate " + Q(repo_.path() + "/missing"), &out), 1);
  EXPECT_EQ(Ctl("validate", &out), 2);
}

}  // namespace
}  // namespace mlspace::e2e
