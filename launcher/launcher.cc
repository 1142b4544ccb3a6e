#include "launcher/launcher.h"

#include <malloc.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "controller/core/build_info.h"
#include "controller/launchspec/exit_codes.h"

extern char** environ;

namespace mlspace::launcher {

namespace {

namespace ls = ::mlspace::launchspec;

constexpr std::string_view kProgram = "mlspace-launch";
constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

constexpr char kHelp[] =
    "Usage: mlspace-launch --spec-version=1 --spec-num-parts=N --spec-part-0=B64...\n"
    "                      [--spec-sha256=HEX] [--print-spec]\n"
    "       mlspace-launch --help | --version\n"
    "\n"
    "Decodes a launch spec (base64 JSON {\"executable\",\"args\",\"env\",\"work_dir\",\n"
    "\"shell\"} split over --spec-part-N flags), verifies its SHA-256, changes to\n"
    "work_dir, sets env over the inherited environment and runs the executable\n"
    "(resolved through PATH unless it contains a '/'; with \"shell\": true, as\n"
    "/bin/sh -c EXECUTABLE ARGS...). SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and\n"
    "SIGUSR2 are forwarded to the command; orphaned processes are reaped (the\n"
    "launcher is a child subreaper, or PID 1). Flags are accepted as --k=v or\n"
    "--k v, in any order, versions 0 and 1, and the spelling --spec-num-chunks,\n"
    "--spec-chunk-N, --spec-sha256sum.\n"
    "\n"
    "Options:\n"
    "  --print-spec  decode and print the spec as JSON (env values masked), exit 0\n"
    "  --help        this text\n"
    "  --version     print the version, git commit and build date\n"
    "\n"
    "Exit status: the command's own exit status, or 128+N when it was killed by\n"
    "signal N. The launcher's own failures use a reserved range:\n"
    "  200  usage: no spec flags given\n"
    "  201  bad flags: unknown or duplicate flag, missing value, missing or extra part\n"
    "  202  bad base64 in the spec parts\n"
    "  203  checksum mismatch (--spec-sha256)\n"
    "  204  bad JSON in the decoded spec\n"
    "  205  unknown --spec-version\n"
    "  206  invalid spec: wrong field types, bad env name, NUL bytes, empty executable\n"
    "  207  executable not found or not executable\n"
    "  208  cannot change to work_dir\n"
    "  209  fork, exec or another system call failed\n"
    "Each failure prints one line on stderr; env values are never printed.\n";

// One line, ending with the exit code: the controller reads it back from
// the job's output to say why a job failed (Gateway v2 reports no exit
// codes).
int Fail(int code, std::string_view message) {
  std::string line(kProgram);
  line.append(": ").append(message);
  line.append(ls::kLauncherExitSuffix).append(std::to_string(code)).append(")\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  return code;
}

std::string ErrnoText(int err) { return std::strerror(err); }

int ExitStatusOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitSpawn;
}

// Forks and execs, forwards signals, reaps every child (the command and any
// orphan re-parented to us), returns the command's exit status.
int Supervise(const std::string& path, std::vector<std::string>& args,
              std::vector<std::string>& env) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  envp.reserve(env.size() + 1);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  sigset_t waited;
  sigemptyset(&waited);
  for (int sig : kForwardedSignals) sigaddset(&waited, sig);
  sigaddset(&waited, SIGCHLD);
  sigset_t original;
  // Blocked before fork: a signal arriving while the child starts is queued
  // and forwarded once it runs, never lost and never fatal to the launcher.
  if (sigprocmask(SIG_BLOCK, &waited, &original) != 0) {
    return Fail(kExitSpawn, "sigprocmask: " + ErrnoText(errno));
  }
  if (getpid() != 1) prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L);

  // vfork, not fork: the child borrows our memory until it execs, so the
  // megabytes a large spec left on the heap are neither copied into its page
  // tables nor copy-on-write faulted afterwards. We are suspended until the
  // child execs or exits; it reports a failed exec in shared memory. The
  // child only makes system calls (no allocation, no stdio) before exec.
  volatile int exec_errno = 0;
  const char* const file = path.c_str();
  char* const* const child_argv = argv.data();
  char* const* const child_envp = envp.data();
  const pid_t parent = getpid();
  const pid_t child = vfork();
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &original, nullptr);
    // If the launcher is killed outright, do not leave the command running.
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0L, 0L, 0L);
    if (getppid() != parent) _exit(kExitSpawn);
    execvpe(file, child_argv, child_envp);
    exec_errno = errno;
    _exit(kExitSpawn);
  }
  if (child < 0) return Fail(kExitSpawn, "fork: " + ErrnoText(errno));
  if (const int err = exec_errno; err != 0) {
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return Fail(kExitSpawn, "cannot execute " + ls::Quote(path, 200) + ": " + ErrnoText(err));
  }

  for (;;) {
    siginfo_t info;
    const int sig = sigwaitinfo(&waited, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      return Fail(kExitSpawn, "sigwaitinfo: " + ErrnoText(errno));
    }
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    bool done = false;
    int child_status = 0;
    for (;;) {
      int status = 0;
      const pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == child) {
        done = true;
        child_status = status;
      }
    }
    if (done) return ExitStatusOf(child_status);
  }
}

}  // namespace

int ExitCodeFor(launchspec::ErrorKind kind) {
  switch (kind) {
    case ls::ErrorKind::kFlags:
      return kExitBadFlags;
    case ls::ErrorKind::kBase64:
      return kExitBadBase64;
    case ls::ErrorKind::kChecksum:
      return kExitChecksum;
    case ls::ErrorKind::kJson:
      return kExitBadJson;
    case ls::ErrorKind::kVersion:
      return kExitUnknownVersion;
    case ls::ErrorKind::kSpec:
      return kExitInvalidSpec;
    case ls::ErrorKind::kNone:
      break;
  }
  return kExitSpawn;
}

Result<std::string> ResolveExecutable(const std::string& name, const char* path_env) {
  auto check = [](const std::string& path) -> Status {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return NotFoundError(ErrnoText(errno));
    if (S_ISDIR(st.st_mode)) return NotFoundError("is a directory");
    if (access(path.c_str(), X_OK) != 0) return NotFoundError("not executable");
    return OkStatus();
  };
  if (name.find('/') != std::string::npos) {
    if (Status s = check(name); !s.ok()) {
      return NotFoundError("executable " + ls::Quote(name, 200) + ": " + s.message());
    }
    return name;
  }
  const std::string_view path = path_env != nullptr ? path_env : "/bin:/usr/bin";
  std::size_t begin = 0;
  while (begin <= path.size()) {
    std::size_t end = path.find(':', begin);
    if (end == std::string_view::npos) end = path.size();
    // An empty PATH entry means the current directory.
    std::string candidate(end == begin ? "." : path.substr(begin, end - begin));
    candidate.append("/").append(name);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    begin = end + 1;
  }
  return NotFoundError("executable " + ls::Quote(name, 200) + " not found in PATH");
}

std::vector<std::string> MergeEnv(const char* const* inherited,
                                  const std::vector<std::pair<std::string, std::string>>& env) {
  std::unordered_set<std::string_view> overridden;
  for (const auto& entry : env) overridden.insert(entry.first);
  std::vector<std::string> merged;
  for (const char* const* p = inherited; p != nullptr && *p != nullptr; ++p) {
    const std::string_view entry = *p;
    const std::string_view name = entry.substr(0, entry.find('='));
    if (!overridden.contains(name)) merged.emplace_back(entry);
  }
  for (const auto& [name, value] : env) {
    std::string entry;
    entry.reserve(name.size() + value.size() + 1);
    merged.push_back(entry.append(name).append("=").append(value));
  }
  return merged;
}

const char* FindEnv(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& entry : env) {
    if (entry.size() > name.size() && entry[name.size()] == '=' && entry.starts_with(name)) {
      return entry.c_str() + name.size() + 1;
    }
  }
  return nullptr;
}

int Main(int argc, char** argv) {
  // A large spec allocates and frees several megabyte-sized buffers; keep
  // them on the heap instead of a fresh mmap (and page faults) for each.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  // Views of argv: a 1 MB spec is not copied before decoding.
  std::vector<std::string_view> spec_args;
  spec_args.reserve(static_cast<std::size_t>(argc));
  bool print_spec = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (arg == "--version") {
      std::printf("%s; launch spec versions 0 and 1\n", VersionLine(kProgram).c_str());
      return 0;
    }
    if (arg == "--print-spec") {
      print_spec = true;
      continue;
    }
    spec_args.emplace_back(arg);
  }
  if (spec_args.empty()) return Fail(kExitUsage, "no spec flags given (see --help)");

  auto decoded = ls::DecodeArgs(spec_args);
  if (!decoded.ok()) {
    return Fail(ExitCodeFor(ls::KindOf(decoded.status())), decoded.status().message());
  }
  spec_args = {};
  ls::LaunchSpec& spec = *decoded;
  if (print_spec) {
    std::string json = ls::ToMaskedJson(spec);
    json += '\n';
    std::fwrite(json.data(), 1, json.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : kExitSpawn;
  }

  std::vector<std::string> env = MergeEnv(environ, spec.env);
  if (!spec.work_dir.empty() && chdir(spec.work_dir.c_str()) != 0) {
    return Fail(kExitChdir,
                "cannot chdir to " + ls::Quote(spec.work_dir, 200) + ": " + ErrnoText(errno));
  }
  std::vector<std::string> args;
  std::string path;
  if (spec.shell) {
    path = "/bin/sh";
    args = {path, "-c", std::move(spec.executable)};
  } else {
    // The spec's PATH, if it sets one, is the one the command would see.
    auto resolved = ResolveExecutable(spec.executable, FindEnv(env, "PATH"));
    if (!resolved.ok()) return Fail(kExitNotFound, resolved.status().message());
    path = std::move(*resolved);
    args.push_back(std::move(spec.executable));
  }
  for (auto& a : spec.args) args.push_back(std::move(a));
  return Supervise(path, args, env);
}

}  // namespace mlspace::launcher
