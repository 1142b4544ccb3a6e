// The shipped binaries' command lines, run for real: --version, usage
// errors (exit 2, "unknown flag --x"), --help placeholders, a busy port's
// message, and flag names shared by the controller and the emulator.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "controller/core/build_info.h"

namespace mlspace {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

std::string Binary(const std::string& rel) {
  const char* dir = std::getenv("MLSPACE_BINARY_DIR");
  return std::string(dir ? dir : ".") + "/" + rel;
}

const std::string kController = "controller/cmd/mlspace-controller";
const std::string kEmulator = "controller/cmd/mlspace-gateway-emulator";
const std::string kLauncher = "launcher/mlspace-launch";
const std::string kCli = "controller/cli/mlspacectl";

// Runs `rel args` through the shell (arguments are plain words here), with
// a fresh working directory and no MLSPACE_* environment.
// `env` is "NAME=value ..." set for the run.
Outcome RunBinary(const std::string& rel, const std::string& args, const std::string& env = "") {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/mlspace-binaries-test-XXXXXX";
    return std::string(mkdtemp(tmpl));
  }();
  std::string cmd = "cd " + dir + " && env -u MLSPACE_API_KEY -u MLSPACE_WORKSPACE_ID " + env +
                    " " + Binary(rel) + " " + args + " 2>&1";
  Outcome o;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return o;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) o.output.append(buf, n);
  int status = pclose(p);
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

// A TCP listener on 127.0.0.1 holding a port busy for the test's duration.
class BusyPort {
 public:
  BusyPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 1);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~BusyPort() { close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(BinariesTest, EveryBinaryAnswersVersion) {
  // "<program> <version> (commit <short hash>|unknown, built YYYY-MM-DD)";
  // the commit and date are generated at build time, so they are compared
  // between the binaries rather than with this test's own compiled copy
  // (a partial rebuild at another commit would differ legitimately).
  const std::regex line(std::string(GetBuildVersion().version) +
                        R"( \(commit ([0-9a-f]{4,40}|unknown), built \d{4}-\d{2}-\d{2}\))");
  std::string first_tail;
  for (const std::string& rel : {kController, kEmulator, kLauncher, kCli}) {
    Outcome o = RunBinary(rel, "--version");
    EXPECT_EQ(o.exit_code, 0) << rel << ": " << o.output;
    std::string program = std::filesystem::path(rel).filename();
    ASSERT_EQ(o.output.rfind(program + " ", 0), 0u) << o.output;
    std::string tail = o.output.substr(program.size() + 1);
    tail = tail.substr(0, tail.find(')') + 1);
    EXPECT_TRUE(std::regex_match(tail, line)) << o.output;
    if (first_tail.empty()) first_tail = tail;
    EXPECT_EQ(tail, first_tail) << rel;
  }
}

TEST(BinariesTest, UnknownFlagIsAUsageError) {
  for (const std::string& rel : {kController, kEmulator, kCli}) {
    Outcome o = RunBinary(rel, "--x");
    EXPECT_EQ(o.exit_code, 2) << rel;
    std::string program = std::filesystem::path(rel).filename();
    EXPECT_EQ(o.output, program + ": unknown flag --x (see --help)\n");
  }
  // mlspace-launch keeps its reserved exit codes (201 = bad flags; see
  // docs/launch-protocol.md): a job's own exit 2 must not look like it.
  Outcome o = RunBinary(kLauncher, "--x");
  EXPECT_EQ(o.exit_code, 201);
  EXPECT_EQ(o.output, "mlspace-launch: bad flags: unknown flag --x (exit 201)\n");
}

TEST(BinariesTest, BadValuesAndStrayArgumentsAreUsageErrors) {
  struct Case {
    std::string rel, args, message;
  } cases[] = {
      {kController, "--workers 0", "--workers \"0\": must be between 1 and 256"},
      {kController, "--poll-interval 5", "--poll-interval \"5\": missing unit"},
      {kController, "--log-level loud",
       "--log-level \"loud\": expected one of debug|info|warn|error"},
      {kController, "--metrics-bind-address 8080",
       "--metrics-bind-address \"8080\": missing port (expected host:port or :port)"},
      {kController, "--manifests", "flag --manifests needs a value"},
      {kController, "stray", "unexpected argument \"stray\" (see --help)"},
      {kController, "--state-dir /tmp/x", "give exactly one of --manifests DIR or --git-url URL"},
      {kEmulator, "--execute remote", "--execute \"remote\": expected one of local|none"},
      {kEmulator, "--fault-429 2", "--fault-429 \"2\": is not a rule"},
      {kEmulator, "--token-ttl 0s", "--token-ttl \"0s\": want a positive duration"},
      {kEmulator, "--listen nope", "--listen \"nope\": missing port"},
  };
  for (const Case& c : cases) {
    Outcome o = RunBinary(c.rel, c.args);
    EXPECT_EQ(o.exit_code, 2) << c.args << ": " << o.output;
    EXPECT_THAT(o.output, HasSubstr(c.message)) << c.args;
    EXPECT_EQ(std::count(o.output.begin(), o.output.end(), '\n'), 1) << o.output;
  }
}

TEST(BinariesTest, HelpPlaceholdersSayWhatTheyTake) {
  for (const std::string& rel : {kController, kEmulator}) {
    Outcome o = RunBinary(rel, "--help");
    EXPECT_EQ(o.exit_code, 0);
    // Every value flag names its kind; VALUE is the fallback of an
    // unannotated String flag and must not reach --help.
    EXPECT_THAT(o.output, Not(HasSubstr(" VALUE\n"))) << rel << "\n" << o.output;
    EXPECT_THAT(o.output, HasSubstr(" DURATION\n"));
    EXPECT_THAT(o.output, HasSubstr(" HOST:PORT\n"));
    EXPECT_THAT(o.output, HasSubstr(" DIR\n"));
    EXPECT_THAT(o.output, HasSubstr(" FILE\n"));
    EXPECT_THAT(o.output, HasSubstr(" N\n"));
    EXPECT_THAT(o.output, HasSubstr("--version"));
  }
}

TEST(BinariesTest, SharedThingsHaveSharedFlagNames) {
  Outcome controller = RunBinary(kController, "--help");
  Outcome emulator = RunBinary(kEmulator, "--help");
  for (const char* flag : {"--state-dir DIR", "--local-launcher FILE", "--local-max-running N",
                           "--log-level debug|info|warn|error", "--log-format text|json"}) {
    EXPECT_THAT(controller.output, HasSubstr(flag));
    EXPECT_THAT(emulator.output, HasSubstr(flag));
  }
  EXPECT_THAT(emulator.output, HasSubstr("--bind-address HOST:PORT"));
  // The emulator's old spellings still work, hidden from --help.
  EXPECT_THAT(emulator.output, Not(HasSubstr("--listen")));
  EXPECT_THAT(emulator.output, Not(HasSubstr("--max-running")));
  Outcome o = RunBinary(kEmulator, "--max-running 0");
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_THAT(o.output, HasSubstr("--max-running \"0\": must be between 1"));
}

TEST(BinariesTest, BusyPortSaysAddressAlreadyInUse) {
  BusyPort busy;
  const std::string dir = "/tmp/mlspace-binaries-test-busy-" + std::to_string(getpid());
  std::filesystem::create_directories(dir + "/m");
  ASSERT_EQ(std::system(("git -C " + dir + "/m init -q").c_str()), 0);
  const std::string common = "--manifests " + dir + "/m --state-dir " + dir + "/st ";
  struct Case {
    std::string rel, args, flag;
  } cases[] = {
      {kController, common + "--metrics-bind-address " + busy.address(), "--metrics-bind-address"},
      {kController,
       common + "--metrics-bind-address 127.0.0.1:0 --api-bind-address " + busy.address(),
       "--api-bind-address"},
      {kController,
       common + "--metrics-bind-address 127.0.0.1:0 --api-bind-address off " +
           "--health-probe-bind-address " + busy.address(),
       "--health-probe-bind-address"},
      {kEmulator, "--execute none --bind-address " + busy.address(), "--bind-address"},
  };
  for (const Case& c : cases) {
    Outcome o = RunBinary(c.rel, c.args);
    EXPECT_EQ(o.exit_code, 1) << c.args << "\n" << o.output;  // a failure, not a usage error
    EXPECT_THAT(o.output, HasSubstr(c.flag + " " + busy.address() +
                                    ": cannot listen: address already in use"))
        << o.output;
    EXPECT_THAT(o.output, Not(HasSubstr("null context")));
    EXPECT_THAT(o.output, Not(HasSubstr("terminate called")));
  }
  std::filesystem::remove_all(dir);
}

TEST(BinariesTest, ErrorsAreNotPrefixedTwice) {
  const std::string dir = "/tmp/mlspace-binaries-test-prefix-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  Outcome o = RunBinary(kController, "--manifests " + dir + " --state-dir " + dir + "/st");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.output.rfind("mlspace-controller: --manifests " + dir, 0), 0u) << o.output;
  EXPECT_THAT(o.output, Not(HasSubstr("--manifests: ")));
  std::filesystem::create_directories(dir + "/m");
  ASSERT_EQ(std::system(("git -C " + dir + "/m init -q").c_str()), 0);
  o = RunBinary(kController, "--manifests " + dir + "/m --state-dir " + dir +
                                 "/st --gateway-url http://127.0.0.1:1");
  EXPECT_EQ(o.exit_code, 1);
  EXPECT_EQ(o.output.rfind("mlspace-controller: gateway credentials: ", 0), 0u) << o.output;
  EXPECT_THAT(o.output, Not(HasSubstr("gateway credentials: gateway credentials")));
  // The flag is named even when the library names its subject differently.
  o = RunBinary(
      kController,
      "--manifests " + dir + "/m --state-dir " + dir + "/st2 --gateway-url ftp://127.0.0.1:1",
      "MLSPACE_API_KEY=k MLSPACE_WORKSPACE_ID=w");
  EXPECT_EQ(o.output.rfind("mlspace-controller: --gateway-url: gateway URL ", 0), 0u) << o.output;
  std::filesystem::remove_all(dir);
}

TEST(BinariesTest, StartupLogShowsTheAddressesActuallyBound) {
  const std::string dir = "/tmp/mlspace-binaries-test-log-" + std::to_string(getpid());
  std::filesystem::create_directories(dir + "/m");
  ASSERT_EQ(std::system(("git -C " + dir + "/m init -q && git -C " + dir +
                         "/m -c user.name=t -c user.email=t@t commit -q --allow-empty -m x")
                            .c_str()),
            0);
  const std::string log = dir + "/log", ports = dir + "/ports.json";
  pid_t pid = fork();
  if (pid == 0) {
    if (freopen(log.c_str(), "w", stdout) == nullptr) _exit(126);
    dup2(fileno(stdout), 2);
    const std::string bin = Binary(kController);
    const std::string m = dir + "/m", st = dir + "/st";
    execl(bin.c_str(), bin.c_str(), "--manifests", m.c_str(), "--state-dir", st.c_str(),
          "--metrics-bind-address", ":0", "--api-bind-address", "127.0.0.1:0", "--ports-file",
          ports.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  std::string text;
  for (int i = 0; i < 300 && text.find("api=") == std::string::npos; ++i) {
    usleep(20000);
    std::ifstream in(log);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ifstream in(ports);
  std::string ports_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  std::smatch api, metrics;
  ASSERT_TRUE(std::regex_search(ports_text, api, std::regex(R"("api":(\d+))"))) << ports_text;
  ASSERT_TRUE(std::regex_search(ports_text, metrics, std::regex(R"("metrics":(\d+))")));
  EXPECT_NE(api[1], "0");
  // Port 0 was asked for; the log names the ports the kernel chose, with
  // the host each listener is on (all interfaces for ":0").
  EXPECT_THAT(text, HasSubstr("api=127.0.0.1:" + api[1].str() + " "));
  EXPECT_THAT(text, HasSubstr("metrics=0.0.0.0:" + metrics[1].str()));
  EXPECT_THAT(text, HasSubstr("version=" + std::string(GetBuildVersion().version)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mlspace
