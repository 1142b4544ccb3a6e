#include "launcher/launcher.h"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "controller/launchspec/launch_spec.h"

namespace mlspace::launcher {
namespace {

using launchspec::LaunchSpec;
using ::testing::HasSubstr;
using ::testing::Not;
using Strings = std::vector<std::string>;

constexpr char kBinary[] = MLSPACE_LAUNCH_BINARY;
constexpr char kSecret[] = "S3CR3T-env-value";

// --- running the real binary --------------------------------------------------

struct Child {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
};

struct Outcome {
  int exit_code = -1;  // -N when the launcher itself died of signal N
  std::string out;
  std::string err;
};

Strings BaseEnv() { return {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}; }

Child Start(const Strings& args, const Strings& env = BaseEnv()) {
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) std::abort();
  std::vector<char*> argv;
  std::string binary = kBinary;
  argv.push_back(binary.data());
  Strings args_copy = args;
  for (auto& a : args_copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  Strings env_copy = env;
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  return {pid, out[0], err[0]};
}

// Reads both pipes to EOF and waits for the launcher.
Outcome Finish(Child& child) {
  Outcome outcome;
  pollfd fds[2] = {{child.out, POLLIN, 0}, {child.err, POLLIN, 0}};
  std::string* sinks[2] = {&outcome.out, &outcome.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, 10000) <= 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[65536];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(child.pid, &status, 0);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  return outcome;
}

Outcome RunLauncher(const Strings& args, const Strings& env = BaseEnv()) {
  Child child = Start(args, env);
  return Finish(child);
}

Strings SpecArgs(const LaunchSpec& spec) {
  return launchspec::FlagsToArgv(launchspec::EncodeFlags(spec));
}

LaunchSpec Sh(const std::string& script, Strings args = {}) {
  LaunchSpec spec;
  spec.executable = "sh";
  spec.args = {"-c", script, "sh"};
  for (auto& a : args) spec.args.push_back(std::move(a));
  return spec;
}

// Reads from fd until `text` was seen (or 5 s passed); returns what was read.
std::string ReadUntil(int fd, const std::string& text) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/mlspace-launch-test-XXXXXX";
    const char* dir = mkdtemp(pattern);
    if (dir == nullptr) std::abort();
    char resolved[PATH_MAX];
    path_ = realpath(dir, resolved) != nullptr ? resolved : dir;
  }
  ~TempDir() { std::system(("rm -rf '" + path_ + "'").c_str()); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

  std::string WriteScript(const std::string& name, const std::string& body) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file) << body;
    chmod(file.c_str(), 0755);
    return file;
  }

 private:
  std::string path_;
};

// --- unit tests of the helpers ----------------------------------------------

TEST(LauncherUnitTest, ExitCodesAreDistinctAndReserved) {
  using launchspec::ErrorKind;
  EXPECT_EQ(ExitCodeFor(ErrorKind::kFlags), 201);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kBase64), 202);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kChecksum), 203);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kJson), 204);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kVersion), 205);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kSpec), 206);
  EXPECT_EQ(ExitCodeFor(ErrorKind::kNone), kExitSpawn);
}

TEST(LauncherUnitTest, MergeEnvOverridesAndAppendsInOrder) {
  const char* inherited[] = {"A=1", "B=2", "PATH=/bin", "EMPTY=", nullptr};
  const Strings merged = MergeEnv(inherited, {{"B", "x"}, {"C", "y=z"}, {"EMPTY", ""}});
  EXPECT_EQ(merged, (Strings{"A=1", "PATH=/bin", "B=x", "C=y=z", "EMPTY="}));
  EXPECT_STREQ(FindEnv(merged, "C"), "y=z");
  EXPECT_STREQ(FindEnv(merged, "EMPTY"), "");
  EXPECT_EQ(FindEnv(merged, "PAT"), nullptr);
  EXPECT_EQ(FindEnv(merged, "D"), nullptr);
}

TEST(LauncherUnitTest, ResolveExecutableSearchesPathInOrder) {
  TempDir a;
  TempDir b;
  const std::string tool_b = b.WriteScript("tool", "#!/bin/sh\n");
  a.WriteScript("tool", "#!/bin/sh\n");
  chmod((a.path() + "/tool").c_str(), 0644);  // not executable: skipped
  mkdir((a.path() + "/dir").c_str(), 0755);
  const std::string path = a.path() + ":" + b.path();
  auto resolved = ResolveExecutable("tool", path.c_str());
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(*resolved, tool_b);
  EXPECT_FALSE(ResolveExecutable("dir", path.c_str()).ok());
  auto missing = ResolveExecutable("no-such-tool", path.c_str());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("\"no-such-tool\" not found in PATH"));
  EXPECT_THAT(missing.status().message(), Not(HasSubstr(a.path())));
  EXPECT_TRUE(ResolveExecutable("sh", nullptr).ok());  // default /bin:/usr/bin
  EXPECT_EQ(*ResolveExecutable(tool_b, nullptr), tool_b);
  auto not_exec = ResolveExecutable(a.path() + "/tool", nullptr);
  ASSERT_FALSE(not_exec.ok());
  EXPECT_THAT(not_exec.status().message(), HasSubstr("not executable"));
}

// --- the real binary ----------------------------------------------------------

TEST(LauncherBinaryTest, IsStaticallyLinked) {
  if (!MLSPACE_LAUNCHER_STATIC) GTEST_SKIP() << "sanitizer/fuzz builds link dynamically";
  std::ifstream file(kBinary, std::ios::binary);
  ASSERT_TRUE(file) << kBinary;
  Elf64_Ehdr header{};
  file.read(reinterpret_cast<char*>(&header), sizeof header);
  ASSERT_TRUE(file);
  ASSERT_EQ(std::string(reinterpret_cast<char*>(header.e_ident), 4),
            "\x7f"
            "ELF");
  ASSERT_EQ(header.e_ident[EI_CLASS], ELFCLASS64);
  ASSERT_GT(header.e_phnum, 0);
  int loads = 0;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph{};
    file.seekg(static_cast<std::streamoff>(header.e_phoff + i * header.e_phentsize));
    file.read(reinterpret_cast<char*>(&ph), sizeof ph);
    ASSERT_TRUE(file);
    EXPECT_NE(ph.p_type, static_cast<Elf64_Word>(PT_INTERP)) << "has a dynamic loader";
    EXPECT_NE(ph.p_type, static_cast<Elf64_Word>(PT_DYNAMIC)) << "has dynamic sections";
    if (ph.p_type == PT_LOAD) ++loads;
  }
  EXPECT_GT(loads, 0);
}

TEST(LauncherBinaryTest, HelpListsTheReservedExitCodes) {
  Outcome o = RunLauncher({"--help"});
  EXPECT_EQ(o.exit_code, 0);
  for (int code = 200; code <= 211; ++code) {
    EXPECT_THAT(o.out, HasSubstr("\n  " + std::to_string(code) + "  ")) << code;
  }
  EXPECT_THAT(o.out, HasSubstr("--print-spec"));
  o = RunLauncher({"--version"});
  EXPECT_EQ(o.exit_code, 0);
  EXPECT_THAT(o.out, HasSubstr("mlspace-launch "));
}

TEST(LauncherBinaryTest, PassesArgsWithSpacesAndQuotesVerbatim) {
  LaunchSpec spec;
  spec.executable = "printf";
  spec.args = {"[%s]", "a b", "it's", "\"q\"", "", "$HOME", "*", "ü\\n", "--spec-version=9"};
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "[a b][it's][\"q\"][][$HOME][*][ü\\n][--spec-version=9]");
  EXPECT_EQ(o.err, "");
}

TEST(LauncherBinaryTest, MergesEnvOverTheInheritedOne) {
  LaunchSpec spec = Sh(R"(printf '%s|%s|%s|' "$KEEP" "$OVER" "$ADD"; env | grep -c '^OVER=')");
  spec.env = {{"OVER", "new"}, {"ADD", "a b=c"}};
  Strings env = BaseEnv();
  env.push_back("KEEP=kept");
  env.push_back("OVER=old");
  Outcome o = RunLauncher(SpecArgs(spec), env);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "kept|new|a b=c|1\n");
}

TEST(LauncherBinaryTest, ChangesToWorkDirAndResolvesRelativeExecutables) {
  TempDir dir;
  dir.WriteScript("hello.sh", "#!/bin/sh\necho \"hello from $(pwd -P)\"\n");
  LaunchSpec spec;
  spec.executable = "./hello.sh";
  spec.work_dir = dir.path();
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "hello from " + dir.path() + "\n");
}

TEST(LauncherBinaryTest, ResolvesTheExecutableThroughTheSpecsPath) {
  TempDir dir;
  dir.WriteScript("mytool", "#!/bin/sh\necho mytool \"$@\"\n");
  LaunchSpec spec;
  spec.executable = "mytool";
  spec.args = {"x"};
  spec.env = {{"PATH", dir.path() + ":/usr/bin:/bin"}};
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "mytool x\n");
}

TEST(LauncherBinaryTest, RunsShellSpecsThroughBinSh) {
  LaunchSpec spec;
  spec.executable = "echo \"$0-$1\" && exit 3";
  spec.args = {"a", "b c"};
  spec.shell = true;
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 3) << o.err;
  EXPECT_EQ(o.out, "a-b c\n");
}

TEST(LauncherBinaryTest, ExitsWithTheCommandsExitCode) {
  for (int code : {0, 1, 42, 255}) {
    Outcome o = RunLauncher(SpecArgs(Sh("exit " + std::to_string(code))));
    EXPECT_EQ(o.exit_code, code) << o.err;
    EXPECT_EQ(o.err, "");
  }
}

TEST(LauncherBinaryTest, ExitsWith128PlusSignalWhenTheCommandIsKilled) {
  for (int sig : {SIGKILL, SIGSEGV, SIGTERM}) {
    Outcome o = RunLauncher(SpecArgs(Sh("kill -" + std::to_string(sig) + " $$")));
    EXPECT_EQ(o.exit_code, 128 + sig) << o.err;
  }
}

class ForwardingTest : public ::testing::TestWithParam<int> {};

TEST_P(ForwardingTest, ForwardsTheSignalToTheCommand) {
  const int sig = GetParam();
  const std::string name = sigabbrev_np(sig);
  Child child =
      Start(SpecArgs(Sh("trap 'exit 7' " + name + "; echo ready; while :; do sleep 0.02; done")));
  ASSERT_THAT(ReadUntil(child.out, "ready\n"), HasSubstr("ready"));
  ASSERT_EQ(kill(child.pid, sig), 0);
  Outcome o = Finish(child);
  EXPECT_EQ(o.exit_code, 7) << name << ": " << o.err;
}

INSTANTIATE_TEST_SUITE_P(Signals, ForwardingTest,
                         ::testing::Values(SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2),
                         [](const auto& param_info) {
                           return std::string(sigabbrev_np(param_info.param));
                         });

TEST(LauncherBinaryTest, UntrappedSigtermEndsTheCommandWith143) {
  Child child = Start(SpecArgs(Sh("echo ready; while :; do sleep 0.02; done")));
  ASSERT_THAT(ReadUntil(child.out, "ready\n"), HasSubstr("ready"));
  ASSERT_EQ(kill(child.pid, SIGTERM), 0);
  EXPECT_EQ(Finish(child).exit_code, 128 + SIGTERM);
}

std::string ProcStat(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// "<pid> (<comm>) <state> <ppid> ..."
pid_t ParentOf(const std::string& stat) {
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(stat.substr(paren + 2));
  char state = 0;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

TEST(LauncherBinaryTest, ReapsOrphansAsChildSubreaper) {
  TempDir dir;
  const std::string pid_file = dir.path() + "/orphan.pid";
  const std::string done_file = dir.path() + "/done";
  // The subshell exits at once, so `sleep` is orphaned and re-parented to the
  // launcher; the command itself waits for the test to say it is done.
  Child child = Start(SpecArgs(Sh(
      R"(( sleep 0.3 & echo $! > "$1.tmp"; mv "$1.tmp" "$1" ); while [ ! -e "$2" ]; do sleep 0.02; done; exit 3)",
      {pid_file, done_file})));
  pid_t orphan = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (orphan < 0 && std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(pid_file);
    if (!(f >> orphan)) orphan = -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(orphan, 0) << "the command never wrote the orphan's pid";
  // Adopted by the launcher (not by init or our test process)...
  pid_t parent = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string stat = ProcStat(orphan);
    if (stat.empty()) break;  // already exited and reaped
    parent = ParentOf(stat);
    if (parent == child.pid) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(parent, child.pid);
  // ...and reaped once it exits, while the command still runs.
  bool reaped = false;
  while (std::chrono::steady_clock::now() < deadline + std::chrono::seconds(2)) {
    if (ProcStat(orphan).empty()) {
      reaped = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(reaped) << "orphan " << orphan << " left as " << ProcStat(orphan);
  std::ofstream(done_file) << "1";
  Outcome o = Finish(child);
  EXPECT_EQ(o.exit_code, 3) << o.err;
}

TEST(LauncherBinaryTest, RunsAOneMegabyteSpecSpreadOverManyParts) {
  LaunchSpec spec = Sh(R"(printf %s "$#:"; printf %s "$@" | sha256sum)");
  std::string all;
  for (int i = 0; i < 12; ++i) {
    std::string arg;
    for (int j = 0; arg.size() < 90000; ++j)
      arg += "arg " + std::to_string(i) + " ü '\"\\ " + std::to_string(j);
    all += arg;
    spec.args.push_back(std::move(arg));
  }
  const Strings args = SpecArgs(spec);
  ASSERT_GT(args.size(), 20u);  // > 1 MB of base64 in 64 KiB parts
  Outcome o = RunLauncher(args);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "12:" + launchspec::Sha256Hex(all) + "  -\n");
}

TEST(LauncherBinaryTest, AcceptsTheSeedSpellingAsSeparateValues) {
  const std::map<std::string, std::string> flags = launchspec::EncodeFlags(Sh("echo seed"));
  const std::string b64 = flags.at("spec-part-0");
  Outcome o = RunLauncher({"--spec-chunk-0", b64, "--spec-num-chunks", "1", "--spec-version", "0",
                           "--spec-sha256sum", flags.at("spec-sha256")});
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "seed\n");
}

TEST(LauncherBinaryTest, PrintSpecMasksEnvAndRunsNothing) {
  TempDir dir;
  LaunchSpec spec = Sh("touch ran");
  spec.work_dir = dir.path();
  spec.env = {{"TOKEN", kSecret}};
  Strings args = SpecArgs(spec);
  args.insert(args.begin() + 1, "--print-spec");
  Outcome o = RunLauncher(args);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("\"TOKEN\": \"***\""));
  EXPECT_THAT(o.out, HasSubstr("touch ran"));
  EXPECT_THAT(o.out, Not(HasSubstr(kSecret)));
  struct stat st;
  EXPECT_NE(stat((dir.path() + "/ran").c_str(), &st), 0);
}

struct BadRun {
  std::string name;
  Strings args;
  int exit_code;
  std::string message;
};

std::vector<BadRun> BadRuns() {
  LaunchSpec good = Sh("exit 0");
  good.env = {{"TOKEN", kSecret}};
  const Strings ok = SpecArgs(good);  // num-parts, part-0, sha256, version
  const std::string secret_b64 =
      launchspec::Base64Encode(std::string(R"({"executable":"sh","env":{"TOKEN":")") + kSecret);
  LaunchSpec bad_env = good;
  bad_env.env = {{"9LIVES", kSecret}};
  LaunchSpec missing = good;
  missing.executable = "/no/such/program";
  LaunchSpec not_found = good;
  not_found.executable = "no-such-program-anywhere";
  LaunchSpec bad_dir = good;
  bad_dir.work_dir = "/no/such/dir";
  return {
      {"Usage", {}, 200, "no spec flags given"},
      {"MissingPart",
       {"--spec-version=1", "--spec-num-parts=2", ok[1]},
       201,
       "missing part 1 of 2"},
      {"UnknownFlag", {ok[0], ok[1], ok[3], "--verbose"}, 201, "unknown flag --verbose"},
      {"BadBase64",
       {"--spec-version=1", "--spec-num-parts=1", "--spec-part-0=!!!!"},
       202,
       "invalid character '!' at offset 0 of part 0"},
      {"ChecksumMismatch",
       {ok[0], ok[1], ok[3], "--spec-sha256=" + std::string(64, 'a')},
       203,
       "expected sha256 aaaaaaaaaaaa..., got " + ok[2].substr(14, 12) + "..."},
      {"BadJson",
       {"--spec-version=1", "--spec-num-parts=1", "--spec-part-0=" + secret_b64},
       204,
       "bad JSON: "},
      {"UnknownVersion",
       {ok[0], ok[1], ok[2], "--spec-version=4"},
       205,
       "unknown spec version: \"4\""},
      {"InvalidEnvName", SpecArgs(bad_env), 206, "invalid env name \"9LIVES\""},
      {"ExecutableMissing", SpecArgs(missing), 207,
       "executable \"/no/such/program\": No such file or directory"},
      {"ExecutableNotInPath", SpecArgs(not_found), 207,
       "executable \"no-such-program-anywhere\" not found in PATH"},
      {"WorkDirMissing", SpecArgs(bad_dir), 208,
       "cannot chdir to \"/no/such/dir\": No such file or directory"},
  };
}

class BadRunTest : public ::testing::TestWithParam<BadRun> {};

TEST_P(BadRunTest, PrintsOneLineAndExitsWithTheReservedCode) {
  const BadRun& c = GetParam();
  Outcome o = RunLauncher(c.args);
  EXPECT_EQ(o.exit_code, c.exit_code) << o.err;
  EXPECT_TRUE(o.err.starts_with("mlspace-launch: ")) << o.err;
  EXPECT_THAT(o.err, HasSubstr(c.message));
  ASSERT_FALSE(o.err.empty());
  EXPECT_EQ(o.err.find('\n'), o.err.size() - 1) << "more than one line: " << o.err;
  // The controller reads the code back from the job's output.
  EXPECT_TRUE(o.err.ends_with(" (exit " + std::to_string(c.exit_code) + ")\n")) << o.err;
  EXPECT_THAT(o.err, Not(HasSubstr(kSecret)));
  EXPECT_EQ(o.out, "");
}

INSTANTIATE_TEST_SUITE_P(Table, BadRunTest, ::testing::ValuesIn(BadRuns()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(LauncherBinaryTest, ExecFailureAfterForkExitsWith209) {
  TempDir dir;
  const std::string script = dir.WriteScript("broken", "#!/no/such/interpreter\n");
  LaunchSpec spec;
  spec.executable = script;
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 209) << o.err;
  EXPECT_THAT(o.err, HasSubstr("cannot execute \"" + script + "\": No such file or directory"));
  EXPECT_TRUE(o.err.ends_with(" (exit 209)\n")) << o.err;
}

// --- version 2: env_from and files ------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return 07777;
  return st.st_mode & 07777;
}

launchspec::FileSpec File(std::string path, std::string content, unsigned mode = 0644) {
  launchspec::FileSpec f;
  f.path = std::move(path);
  f.content = std::move(content);
  f.mode = mode;
  return f;
}

launchspec::FileSpec SecretFile(std::string path, std::string env, unsigned mode = 0600) {
  launchspec::FileSpec f;
  f.path = std::move(path);
  f.content_env = std::move(env);
  f.mode = mode;
  return f;
}

TEST(LauncherV2Test, EnvFromSecretsReachTheCommandAndAreNeverInArgvOrSpec) {
  LaunchSpec spec = Sh(R"(printf '%s' "$WANDB_API_KEY")");
  spec.env_from = {"WANDB_API_KEY"};
  const Strings args = SpecArgs(spec);
  for (const auto& a : args) EXPECT_THAT(a, Not(HasSubstr(kSecret)));
  Strings env = BaseEnv();
  env.push_back(std::string("WANDB_API_KEY=") + kSecret);
  Outcome o = RunLauncher(args, env);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, kSecret);
}

TEST(LauncherV2Test, MissingEnvFromVariableExitsWith211) {
  LaunchSpec spec = Sh("echo ran");
  spec.env_from = {"WANDB_API_KEY"};
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 211) << o.err;
  EXPECT_THAT(o.err, HasSubstr("\"WANDB_API_KEY\" (env_from) is not set"));
  EXPECT_TRUE(o.err.ends_with(" (exit 211)\n")) << o.err;
  EXPECT_EQ(o.out, "");
}

TEST(LauncherV2Test, WritesFilesWithParentsAndModesBeforeTheCommand) {
  TempDir dir;
  TempDir home;
  LaunchSpec spec = Sh(R"(cat conf/deep/train.yaml; cat "$HOME/.config/app/token"; )"
                       R"(printf '[%s]' "${MLSPACE_FILE_0-unset}")");
  spec.work_dir = dir.path();
  spec.files = {File("conf/deep/train.yaml", "lr: 0.1\n", 0640),
                SecretFile("~/.config/app/token", "MLSPACE_FILE_0", 0600),
                File(home.path() + "/abs.txt", "abs", 0755), File("./empty", "", 0400)};
  Strings env = BaseEnv();
  env.push_back("HOME=" + home.path());
  env.push_back("MLSPACE_FILE_0=" + launchspec::Base64Encode(std::string(kSecret) + "\n"));
  Outcome o = RunLauncher(SpecArgs(spec), env);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  // The carrier variable of the secret is not in the command's environment.
  EXPECT_EQ(o.out, "lr: 0.1\n" + std::string(kSecret) + "\n[unset]");
  EXPECT_EQ(ModeOf(dir.path() + "/conf/deep/train.yaml"), 0640u);
  EXPECT_EQ(ModeOf(dir.path() + "/conf/deep"), 0755u);
  EXPECT_EQ(ModeOf(home.path() + "/.config/app/token"), 0600u);
  EXPECT_EQ(ReadFile(home.path() + "/abs.txt"), "abs");
  EXPECT_EQ(ModeOf(home.path() + "/abs.txt"), 0755u);
  EXPECT_EQ(ModeOf(dir.path() + "/empty"), 0400u);
  EXPECT_THAT(o.err, Not(HasSubstr(kSecret)));
}

TEST(LauncherV2Test, RefusesFilesOutsideWorkDirAndHome) {
  TempDir dir;
  TempDir home;
  TempDir elsewhere;
  // A symlink inside the working directory that leads elsewhere.
  ASSERT_EQ(symlink(elsewhere.path().c_str(), (dir.path() + "/out").c_str()), 0);
  struct Case {
    launchspec::FileSpec file;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {File(elsewhere.path() + "/x", "x"), 210, "outside the working directory and the home"},
      {File("/etc/mlspace-test-file", "x"), 210, "outside the working directory and the home"},
      {File("out/x", "x"), 210, "leads outside the working directory and the home"},
      {File("out/sub/x", "x"), 210, "leads outside the working directory and the home"},
      {File("a/../../x", "x"), 206, "has a \"..\""},
      {File("big", std::string(launchspec::kMaxFileBytes + 1, 'x')), 210, "over the limit"},
      {SecretFile("s", "NOT_SET"), 211, "its content variable NOT_SET is not set"},
      {File("~other/x", "x"), 210, "only \"~/...\" is supported"},
  };
  Strings env = BaseEnv();
  env.push_back("HOME=" + home.path());
  for (const auto& c : cases) {
    LaunchSpec spec = Sh("echo ran");
    spec.work_dir = dir.path();
    spec.files = {c.file};
    Outcome o = RunLauncher(SpecArgs(spec), env);
    EXPECT_EQ(o.exit_code, c.code) << c.file.path << ": " << o.err;
    EXPECT_THAT(o.err, HasSubstr(c.message)) << c.file.path;
    EXPECT_EQ(o.out, "") << c.file.path;
  }
  // Nothing was created through the symlink.
  EXPECT_FALSE(std::filesystem::exists(elsewhere.path() + "/x"));
  EXPECT_FALSE(std::filesystem::exists(elsewhere.path() + "/sub"));
}

TEST(LauncherV2Test, SymlinkInTheFilesPlaceIsReplacedNotFollowed) {
  TempDir dir;
  TempDir elsewhere;
  const std::string victim = elsewhere.path() + "/victim";
  std::ofstream(victim) << "keep";
  ASSERT_EQ(symlink(victim.c_str(), (dir.path() + "/f").c_str()), 0);
  LaunchSpec spec = Sh("cat f");
  spec.work_dir = dir.path();
  spec.files = {File("f", "new")};
  Outcome o = RunLauncher(SpecArgs(spec));
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "new");
  EXPECT_EQ(ReadFile(victim), "keep");
}

launchspec::FileSpec WithWrite(launchspec::FileSpec f, launchspec::FileWrite write) {
  f.write = write;
  return f;
}

TEST(LauncherV3Test, KeepWritesOnlyAMissingFileAndSaysWhatItKept) {
  TempDir home;
  std::filesystem::create_directories(home.path() + "/.ssh");
  std::ofstream(home.path() + "/.ssh/id_ed25519") << "the user's own key\n";
  LaunchSpec spec = Sh("cat ~/.ssh/id_ed25519 ~/.ssh/config");
  spec.work_dir = home.path();
  spec.files = {
      WithWrite(File("~/.ssh/id_ed25519", "ephemeral\n", 0600),
                launchspec::FileWrite::kKeepExisting),
      WithWrite(File("~/.ssh/config", "Host *\n", 0600), launchspec::FileWrite::kKeepExisting)};
  Strings env = BaseEnv();
  env.push_back("HOME=" + home.path());
  const Strings args = SpecArgs(spec);
  EXPECT_THAT(args, testing::Contains("--spec-version=3"));
  Outcome o = RunLauncher(args, env);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(o.out, "the user's own key\nHost *\n");
  EXPECT_THAT(o.err, HasSubstr("kept the existing \"~/.ssh/id_ed25519\""));
  EXPECT_EQ(ModeOf(home.path() + "/.ssh/config"), 0600u);
}

TEST(LauncherV3Test, AppendAddsOnlyMissingLinesAndKeepsTheFilesMode) {
  TempDir home;
  std::filesystem::create_directories(home.path() + "/.ssh");
  const std::string keys = home.path() + "/.ssh/authorized_keys";
  std::ofstream(keys) << "ssh-rsa AAAA user@laptop";  // no final newline
  ASSERT_EQ(chmod(keys.c_str(), 0640), 0);
  LaunchSpec spec = Sh("true");
  spec.work_dir = home.path();
  spec.files = {WithWrite(File("~/.ssh/authorized_keys", "ssh-ed25519 BBBB job\n", 0600),
                          launchspec::FileWrite::kAppendLines)};
  Strings env = BaseEnv();
  env.push_back("HOME=" + home.path());
  for (int run = 0; run < 2; ++run) {
    Outcome o = RunLauncher(SpecArgs(spec), env);
    ASSERT_EQ(o.exit_code, 0) << o.err;
  }
  // Twice run, once added; the user's line stays first.
  EXPECT_EQ(ReadFile(keys), "ssh-rsa AAAA user@laptop\nssh-ed25519 BBBB job\n");
  EXPECT_EQ(ModeOf(keys), 0640u);
  // A missing file is created with the spec's mode.
  TempDir fresh;
  env.back() = "HOME=" + fresh.path();
  spec.work_dir = fresh.path();
  Outcome o = RunLauncher(SpecArgs(spec), env);
  ASSERT_EQ(o.exit_code, 0) << o.err;
  EXPECT_EQ(ReadFile(fresh.path() + "/.ssh/authorized_keys"), "ssh-ed25519 BBBB job\n");
  EXPECT_EQ(ModeOf(fresh.path() + "/.ssh/authorized_keys"), 0600u);
}

TEST(LauncherV3Test, ConcurrentAppendsToOneFileKeepEveryLine) {
  TempDir home;
  Strings env = BaseEnv();
  env.push_back("HOME=" + home.path());
  constexpr int kJobs = 8;
  std::vector<std::thread> jobs;
  std::vector<int> codes(kJobs, -1);
  for (int i = 0; i < kJobs; ++i) {
    jobs.emplace_back([&, i] {
      LaunchSpec spec = Sh("true");
      spec.work_dir = home.path();
      spec.files = {WithWrite(File("~/.ssh/authorized_keys", "key-" + std::to_string(i) + "\n"),
                              launchspec::FileWrite::kAppendLines)};
      codes[static_cast<std::size_t>(i)] = RunLauncher(SpecArgs(spec), env).exit_code;
    });
  }
  for (auto& t : jobs) t.join();
  const std::string text = ReadFile(home.path() + "/.ssh/authorized_keys");
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(codes[static_cast<std::size_t>(i)], 0);
    EXPECT_THAT(text, HasSubstr("key-" + std::to_string(i) + "\n"));
  }
}

TEST(LauncherV3Test, AppendRefusesADirectoryInTheFilesPlace) {
  TempDir home;
  std::filesystem::create_directories(home.path() + "/.ssh/authorized_keys");
  LaunchSpec spec = Sh("echo ran");
  spec.work_dir = home.path();
  spec.files = {
      WithWrite(File("~/.ssh/authorized_keys", "k\n"), launchspec::FileWrite::kAppendLines)};
  Strings env = BaseEnv();
  env.push_back("HOME=" + home.path());
  Outcome o = RunLauncher(SpecArgs(spec), env);
  EXPECT_EQ(o.exit_code, 210) << o.err;
  EXPECT_THAT(o.err, HasSubstr("exists and is not a regular file"));
  EXPECT_EQ(o.out, "");
}

TEST(LauncherV2Test, PrintSpecMasksSecretFilesAndShowsEnvFromNames) {
  LaunchSpec spec = Sh("true");
  spec.env_from = {"WANDB_API_KEY"};
  spec.files = {SecretFile("~/.netrc", "MLSPACE_FILE_0"), File("a.txt", "plain")};
  Strings args = SpecArgs(spec);
  args.insert(args.begin(), "--print-spec");
  Strings env = BaseEnv();
  env.push_back(std::string("MLSPACE_FILE_0=") + launchspec::Base64Encode(kSecret));
  env.push_back(std::string("WANDB_API_KEY=") + kSecret);
  Outcome o = RunLauncher(args, env);
  EXPECT_EQ(o.exit_code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("\"env_from\""));
  EXPECT_THAT(o.out, HasSubstr("\"WANDB_API_KEY\""));
  EXPECT_THAT(o.out, HasSubstr("\"content\": \"***\""));
  EXPECT_THAT(o.out, Not(HasSubstr(kSecret)));
  EXPECT_THAT(o.out, Not(HasSubstr(launchspec::Base64Encode(kSecret))));
}

// Version 0 and 1 specs (and the seed client's spelling) still run.
TEST(LauncherV2Test, StillRunsVersion0And1SpecsInBothSpellings) {
  LaunchSpec spec = Sh("printf ok");
  for (const std::string version : {"0", "1"}) {
    auto flags = launchspec::EncodeFlags(spec);
    ASSERT_EQ(flags.at("spec-version"), "1");
    flags["spec-version"] = version;
    Outcome o = RunLauncher(launchspec::FlagsToArgv(flags));
    EXPECT_EQ(o.exit_code, 0) << version << o.err;
    EXPECT_EQ(o.out, "ok");
    Strings seed;
    for (const auto& [k, v] : flags) {
      std::string key = k;
      if (key == "spec-num-parts") key = "spec-num-chunks";
      if (key == "spec-sha256") key = "spec-sha256sum";
      if (key.starts_with("spec-part-")) key = "spec-chunk-" + key.substr(10);
      seed.push_back("--" + key);
      seed.push_back(v);
    }
    o = RunLauncher(seed);
    EXPECT_EQ(o.exit_code, 0) << version << o.err;
    EXPECT_EQ(o.out, "ok");
  }
}

}  // namespace
}  // namespace mlspace::launcher
