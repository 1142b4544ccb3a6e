#include "launcher/launcher.h"

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
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
    "Usage: mlspace-launch --spec-version=2 --spec-num-parts=N --spec-part-0=B64...\n"
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
    "--k v, in any order, versions 0 to 3, and the spelling --spec-num-chunks,\n"
    "--spec-chunk-N, --spec-sha256sum. Version 2 adds \"env_from\" (names of\n"
    "variables, secrets, that must be in the launcher's environment) and\n"
    "\"files\" (written before the command starts, under the working directory\n"
    "or $HOME only).\n"
    "\n"
    "Options:\n"
    "  --print-spec  decode and print the spec as JSON (env values and secret file\n"
    "                contents masked), exit 0\n"
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
    "  210  cannot write spec files: path outside the working directory and home,\n"
    "       a symlink leading out of them, over the size limit, or an I/O error\n"
    "  211  a variable the spec takes from the environment (a secret) is not set\n"
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

// "/a/./b//c" -> "/a/b/c" for an absolute path without ".." (Validate
// refused those).
std::string Normalize(std::string_view path) {
  std::string out;
  std::size_t begin = 0;
  while (begin <= path.size()) {
    std::size_t end = path.find('/', begin);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(begin, end - begin);
    if (!part.empty() && part != ".") out.append("/").append(part);
    begin = end + 1;
  }
  return out.empty() ? "/" : out;
}

bool IsUnder(std::string_view path, std::string_view root) {
  if (root.empty()) return false;
  if (root == "/") return true;
  return path == root || (path.starts_with(root) && path[root.size()] == '/');
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

Status WriteAllTo(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return InternalError(ErrnoText(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return OkStatus();
}

// An "append" target larger than this is refused rather than read whole
// (an authorized_keys file is a few KiB).
constexpr std::size_t kMaxAppendTarget = 4 << 20;

// A file's text, refusing symlinks and anything over `limit` bytes.
Result<std::string> ReadSmallFile(const std::string& path, std::size_t limit) {
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return InternalError("cannot read it: " + ErrnoText(errno));
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      return InternalError("cannot read it: " + ErrnoText(err));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > limit) {
      close(fd);
      return InternalError("it is over " + std::to_string(limit) +
                           " bytes, too large to append to");
    }
  }
  close(fd);
  return text;
}

// `old` followed by each non-empty line of `add` that `old` does not hold
// as a whole line (compared without the line ending).
std::string AppendMissingLines(const std::string& old, std::string_view add) {
  std::unordered_set<std::string_view> present;
  for (std::string_view rest = old; !rest.empty();) {
    const std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    present.insert(line);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
  std::string out = old;
  for (std::string_view rest = add; !rest.empty();) {
    const std::size_t end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.empty() || present.contains(line)) continue;
    if (!out.empty() && out.back() != '\n') out += '\n';
    out.append(line).append("\n");
    present.insert(line);
  }
  return out;
}

// flock(2) on a directory for the rest of a scope; best effort (a file
// system without locks still gets its file written).
class DirLock {
 public:
  DirLock() = default;
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;
  ~DirLock() {
    if (fd_ >= 0) close(fd_);  // releases the lock
  }
  void Lock(const std::string& dir) {
    fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ >= 0) {
      while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }

 private:
  int fd_ = -1;
};

// A line on stderr about something the launcher chose not to do.
void Note(std::string_view message) {
  std::string line(kProgram);
  line.append(": ").append(message).append("\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

Status WriteSpecFiles(const std::vector<ls::FileSpec>& files, const std::vector<std::string>& env,
                      const std::string& work_dir, const std::string& home) {
  const std::string cwd_real = RealPath(work_dir);
  const std::string home_norm = home.empty() || home[0] != '/' ? "" : Normalize(home);
  const std::string home_real = home_norm.empty() ? "" : RealPath(home_norm);
  // The roots a file may be under, as given and as resolved.
  const std::vector<std::string> roots = {cwd_real, home_norm, home_real};
  auto inside = [&](const std::string& p) {
    for (const auto& r : roots) {
      if (IsUnder(p, r)) return true;
    }
    return false;
  };
  auto real_inside = [&](const std::string& p) {
    return IsUnder(p, cwd_real) || IsUnder(p, home_real);
  };
  std::size_t total = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const ls::FileSpec& f = files[i];
    const std::string what = "files[" + std::to_string(i) + "] " + ls::Quote(f.path, 200);
    auto fail = [&](const std::string& why) { return InternalError(what + ": " + why); };
    std::string content;
    if (!f.content_env.empty()) {
      const char* value = FindEnv(env, f.content_env);
      if (value == nullptr) {
        return NotFoundError(what + ": its content variable " + f.content_env + " is not set");
      }
      auto decoded = ls::Base64Decode(value);
      if (!decoded.ok()) return fail("the content in " + f.content_env + " is not base64");
      content = std::move(*decoded);
      if (content.size() > ls::kMaxSecretFileBytes) {
        return fail(std::to_string(content.size()) + " bytes, over the limit of " +
                    std::to_string(ls::kMaxSecretFileBytes) + " for a secret file");
      }
    } else {
      content = f.content;
      if (content.size() > ls::kMaxFileBytes) {
        return fail(std::to_string(content.size()) + " bytes, over the limit of " +
                    std::to_string(ls::kMaxFileBytes) + " per file");
      }
    }
    total += content.size();
    if (total > ls::kMaxFilesTotalBytes) {
      return fail("the files add up to more than " + std::to_string(ls::kMaxFilesTotalBytes) +
                  " bytes");
    }
    std::string target;
    if (f.path == "~" || (f.path[0] == '~' && f.path[1] != '/')) {
      return fail("only \"~/...\" is supported");
    } else if (f.path.starts_with("~/") || f.path[0] == '/') {
      if (home_norm.empty() && f.path[0] == '~') return fail("HOME is not set");
      target = Normalize(f.path[0] == '~' ? home_norm + f.path.substr(1) : f.path);
    } else {
      if (cwd_real.empty()) return fail("cannot resolve the working directory");
      target = Normalize(cwd_real + "/" + f.path);
    }
    if (!inside(target) || target == cwd_real || target == home_norm || target == home_real) {
      return fail("outside the working directory and the home directory");
    }
    const std::size_t slash = target.rfind('/');
    const std::string name = target.substr(slash + 1);
    // Parents one at a time: each must stay inside once it exists, before
    // anything is created beneath it.
    std::size_t at = 1;
    std::string dir_real;
    while (true) {
      const std::size_t next = target.find('/', at);
      std::string parent =
          target.substr(0, next == std::string::npos || next > slash ? slash : next);
      if (parent.empty()) parent = "/";
      // A root itself or a directory above one is not ours to create.
      if (!IsUnder(cwd_real, parent) && !IsUnder(home_norm, parent) &&
          !IsUnder(home_real, parent)) {
        if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
          return fail("cannot create " + ls::Quote(parent, 200) + ": " + ErrnoText(errno));
        }
        dir_real = RealPath(parent);
        if (dir_real.empty()) {
          return fail("cannot resolve " + ls::Quote(parent, 200) + ": " + ErrnoText(errno));
        }
        if (!real_inside(dir_real)) {
          return fail(ls::Quote(parent, 200) +
                      " leads outside the working directory and the home directory");
        }
      }
      if (next == std::string::npos || next >= slash) break;
      at = next + 1;
    }
    dir_real = RealPath(target.substr(0, slash).empty() ? "/" : target.substr(0, slash));
    if (dir_real.empty() || !real_inside(dir_real)) {
      return fail("its directory leads outside the working directory and the home directory");
    }
    const std::string final_path = dir_real + "/" + name;
    unsigned mode = f.mode;
    // "keep" and "append" read what is there and decide; the directory lock
    // serializes that with another launcher on the same (shared) home, so
    // two jobs appending at once both keep their line.
    DirLock lock;
    if (f.write != ls::FileWrite::kReplace) {
      lock.Lock(dir_real);
      struct stat existing;
      if (lstat(final_path.c_str(), &existing) == 0) {
        if (f.write == ls::FileWrite::kKeepExisting) {
          Note("kept the existing " + ls::Quote(f.path, 200) + " (files[" + std::to_string(i) +
               "] writes only a missing file)");
          continue;
        }
        if (!S_ISREG(existing.st_mode)) return fail("exists and is not a regular file");
        auto old_text = ReadSmallFile(final_path, kMaxAppendTarget);
        if (!old_text.ok()) return fail(old_text.status().message());
        const std::string merged = AppendMissingLines(*old_text, content);
        if (merged.size() == old_text->size()) continue;  // every line is there
        content = merged;
        mode = existing.st_mode & 0777;
      }
    }
    const std::string tmp = dir_real + "/." + name + ".mlspace-launch-" + std::to_string(getpid());
    const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return fail("cannot create " + ls::Quote(tmp, 200) + ": " + ErrnoText(errno));
    Status st = WriteAllTo(fd, content);
    if (st.ok() && fchmod(fd, static_cast<mode_t>(mode)) != 0) {
      st = InternalError(ErrnoText(errno));
    }
    if (close(fd) != 0 && st.ok()) st = InternalError(ErrnoText(errno));
    if (st.ok() && rename(tmp.c_str(), final_path.c_str()) != 0) {
      st = InternalError(ErrnoText(errno));
    }
    if (!st.ok()) {
      unlink(tmp.c_str());
      return fail("cannot write: " + st.message());
    }
  }
  return OkStatus();
}

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
      std::printf("%s; launch spec versions 0 to 3\n", VersionLine(kProgram).c_str());
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

  // Secrets arrive as the job's environment (the request's env_variables):
  // a missing one is a broken submission, not something to run without.
  for (const std::string& name : spec.env_from) {
    if (std::getenv(name.c_str()) == nullptr) {
      return Fail(kExitMissingEnv, "env " + ls::Quote(name, 200) +
                                       " (env_from) is not set in the launcher's environment");
    }
  }
  std::vector<std::string> env = MergeEnv(environ, spec.env);
  if (!spec.work_dir.empty() && chdir(spec.work_dir.c_str()) != 0) {
    return Fail(kExitChdir,
                "cannot chdir to " + ls::Quote(spec.work_dir, 200) + ": " + ErrnoText(errno));
  }
  if (!spec.files.empty()) {
    const char* home = FindEnv(env, "HOME");
    Status written = WriteSpecFiles(spec.files, env, ".", home != nullptr ? home : "");
    if (!written.ok()) {
      return Fail(written.code() == StatusCode::kNotFound ? kExitMissingEnv : kExitFiles,
                  written.message());
    }
    // The carriers of secret file contents are not the command's business.
    std::unordered_set<std::string_view> carriers;
    for (const auto& f : spec.files) {
      if (!f.content_env.empty()) carriers.insert(f.content_env);
    }
    std::erase_if(env, [&](const std::string& entry) {
      return carriers.contains(std::string_view(entry).substr(0, entry.find('=')));
    });
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
