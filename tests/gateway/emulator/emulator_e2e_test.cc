// Slow suites (label e2e): the mlspace-gateway-emulator binary as a process,
// jobs run through the real launcher behind HTTP, and throughput figures
// with 10,000 simulated jobs.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include "controller/gateway/local/emulator_server.h"
#include "controller/gateway/local/sim_gateway.h"
#include "controller/launchspec/launch_spec.h"
#include "tests/gateway/emulator/emulator_test_util.h"

extern char** environ;

namespace mlspace::gateway::emulator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using testing::Answer;
using testing::Call;
using testing::Headers;

bool WaitFor(const std::function<bool()>& pred, milliseconds timeout = milliseconds(10000)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

// The emulator binary as a child process with its stdout on a pipe.
class EmulatorProcess {
 public:
  explicit EmulatorProcess(std::vector<std::string> args) {
    args.insert(args.begin(), MLSPACE_EMULATOR_PATH);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = 0;
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    stdout_ = ::fdopen(out[0], "r");
  }
  ~EmulatorProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdout_ != nullptr) std::fclose(stdout_);
  }
  std::string ReadLine() {
    char buf[512];
    if (stdout_ == nullptr || std::fgets(buf, sizeof buf, stdout_) == nullptr) return {};
    return buf;
  }
  // Exit code after SIGTERM, or -1 when it did not exit within `timeout`.
  int Terminate(milliseconds timeout) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const bool exited = WaitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return -1;
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
  FILE* stdout_ = nullptr;
};

class EmulatorE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("emu-e2e-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static uint16_t PortFromLine(const std::string& line) {
    const std::string prefix = "listening on 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) return 0;
    return static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
  }

  fs::path dir_;
};

const Headers kAuth{{"x-api-key", "k-e2e"}, {"x-workspace-id", "ws"}};

TEST_F(EmulatorE2eTest, BinaryPrintsItsPortServesAndStopsOnSigterm) {
  const std::string port_file = (dir_ / "port").string();
  EmulatorProcess p({"--execute=none", "--listen", "127.0.0.1:0", "--port-file", port_file,
                     "--api-key", "k-e2e", "--pending-duration", "100ms", "--run-duration", "200ms",
                     "--log-level", "warn"});
  ASSERT_GT(p.pid(), 0);
  const uint16_t port = PortFromLine(p.ReadLine());
  ASSERT_NE(port, 0);
  std::string from_file;
  std::ifstream(port_file) >> from_file;
  EXPECT_EQ(from_file, std::to_string(port));
  EXPECT_EQ(Call(port, "GET", "/ping").status, 200);
  const Answer sub =
      Call(port, "POST", "/public/v2/jobs",
           R"({"script":"/x","base_image":"i","instance_type":"cpu","region":"SR004"})", kAuth);
  ASSERT_EQ(sub.status, 200) << sub.body;
  const std::string name = sub.Json()["job_name"];
  EXPECT_TRUE(WaitFor([&] {
    return Call(port, "GET", "/public/v2/jobs/" + name, "", kAuth).Json()["status"] == "completed";
  }));
  EXPECT_EQ(p.Terminate(milliseconds(5000)), 0);
}

TEST_F(EmulatorE2eTest, BinaryRejectsBadFlagsWithOneLine) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--execute=maybe"},
                                               {"--fault-503=often"},
                                               {"--nope=1"},
                                               {"--run-duration", "soon", "--execute=none"}}) {
    EmulatorProcess p(args);
    ASSERT_GT(p.pid(), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(p.pid(), &status, 0), p.pid());
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << args[0];
    EXPECT_EQ(p.ReadLine(), "");  // errors go to stderr, nothing to stdout
  }
}

// --api-key-file and --client-secret-file follow the controller's secret
// file rule (core ReadSecretFile): edge whitespace and CRLF trimmed, so the
// key file that the controller reads as " k-e2e\r\n" is "k-e2e" here too;
// an unreadable file is one line naming the flag, the file and why.
TEST_F(EmulatorE2eTest, SecretFilesAreReadWithTheControllersRule) {
  const fs::path key = dir_ / "api-key";
  std::ofstream(key) << " \tk-e2e \r\n";  // the old reader kept " \tk-e2e "
  EmulatorProcess p({"--execute=none", "--listen", "127.0.0.1:0", "--api-key-file", key.string(),
                     "--log-level", "warn"});
  const uint16_t port = PortFromLine(p.ReadLine());
  ASSERT_NE(port, 0);
  const std::string list = "/public/v2/jobs?region=SR004";
  EXPECT_EQ(Call(port, "GET", list, "", kAuth).status, 200);
  EXPECT_EQ(
      Call(port, "GET", list, "", {{"x-api-key", "k-e2e-other"}, {"x-workspace-id", "ws"}}).status,
      401);
  EXPECT_EQ(p.Terminate(milliseconds(5000)), 0);

  const std::string missing = (dir_ / "absent").string();
  const std::string cmd = std::string(MLSPACE_EMULATOR_PATH) +
                          " --execute=none --listen 127.0.0.1:0 --api-key-file " + missing +
                          " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  ASSERT_NE(f, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, f) != nullptr) out += buf;
  const int status = ::pclose(f);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  EXPECT_EQ(out, "mlspace-gateway-emulator: --api-key-file: cannot read " + missing +
                     ": No such file or directory\n");
}

TEST_F(EmulatorE2eTest, BinaryRunsLocalJobsThroughTheLauncher) {
  EmulatorProcess p({"--execute=local", "--state-dir", (dir_ / "state").string(), "--api-key",
                     "k-e2e", "--log-level", "warn"});
  const uint16_t port = PortFromLine(p.ReadLine());
  ASSERT_NE(port, 0);
  launchspec::LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.args = {"-c", "echo line1; echo line2; echo \"job=$MLSPACE_JOB_NAME\""};
  json body = {{"script", "/home/jovyan/mlspace-launch"},
               {"base_image", "cr.ai.cloud.ru/aicloud-base-images/x:1"},
               {"instance_type", "cpu.2C.8G"},
               {"region", "SR006"},
               {"type", "binary"},
               {"job_desc", "e2e-marker"},
               {"flags", launchspec::EncodeFlags(spec)}};
  const Answer sub = Call(port, "POST", "/public/v2/jobs", body.dump(), kAuth);
  ASSERT_EQ(sub.status, 200) << sub.body;
  const std::string name = sub.Json()["job_name"];
  ASSERT_TRUE(WaitFor([&] {
    return Call(port, "GET", "/public/v2/jobs/" + name, "", kAuth).Json()["status"] == "completed";
  }));
  const Answer logs = Call(port, "GET", "/public/v2/jobs/" + name + "/logs?tail=2", "", kAuth);
  EXPECT_EQ(logs.body, "line2\njob=" + name + "\n");
  const Answer list = Call(port, "GET", "/public/v2/jobs?region=SR006&status=Completed", "", kAuth);
  ASSERT_EQ(list.Json()["jobs"].size(), 1u);
  EXPECT_EQ(list.Json()["jobs"][0]["job_desc"], "e2e-marker");
  EXPECT_EQ(p.Terminate(milliseconds(5000)), 0);
}

// Throughput with 10,000 simulated jobs; prints the figures (no asserted
// speed beyond generous sanity bounds: the machine is shared).
TEST_F(EmulatorE2eTest, TenThousandJobsAndSixThousandJobLists) {
  SimGatewayOptions so;
  so.pending_duration = milliseconds(200);
  so.run_duration = std::chrono::seconds(3600);
  SimulatedGateway sim(so);
  EmulatorOptions o;
  o.api_key = "k-e2e";
  o.rate_limit_per_minute = 0;
  EmulatorServer server(o, sim);
  ASSERT_TRUE(server.Start().ok());

  Poco::Net::HTTPClientSession session("127.0.0.1", server.port());
  session.setKeepAlive(true);
  auto call = [&](const std::string& method, const std::string& target, const std::string& body,
                  std::string& answer) {
    Poco::Net::HTTPRequest req(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    for (const auto& [k, v] : kAuth) req.set(k, v);
    if (!body.empty()) {
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session.receiveResponse(resp);
    answer.clear();
    Poco::StreamCopier::copyToString(in, answer);
    return static_cast<int>(resp.getStatus());
  };
  const std::string body =
      R"({"script":"/x","base_image":"i","instance_type":"a100.1gpu","region":"SR006","job_desc":"bench"})";
  std::string answer;
  std::string last;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(call("POST", "/public/v2/jobs", body, answer), 200) << answer;
    if (i == 9999) last = json::parse(answer)["job_name"];
  }
  const double submit_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(call("GET", "/public/v2/jobs/" + last, "", answer), 200);
  const double get_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  constexpr int kLists = 20;
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kLists; ++i) {
    ASSERT_EQ(call("GET",
                   "/public/v2/jobs?region=SR006&limit=6000&offset=" + std::to_string(i % 2 * 4000),
                   "", answer),
              200);
  }
  const double list_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const json page = json::parse(answer);
  EXPECT_EQ(page["count"], 10000);
  EXPECT_EQ(page["jobs"].size(), 6000u);
  std::printf("emulator: submit %.0f req/s, get %.0f req/s, 6000-job list %.1f ms (%zu bytes)\n",
              10000 / submit_s, 5000 / get_s, list_s * 1000 / kLists, answer.size());
  EXPECT_LT(list_s * 1000 / kLists, 1000.0);
  EXPECT_GT(5000 / get_s, 200.0);
}

}  // namespace
}  // namespace mlspace::gateway::emulator
